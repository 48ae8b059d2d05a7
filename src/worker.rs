//! Worker processes: a parent spawns a child with std's `Command` and calls
//! into it over the child's stdin and stdout, the pattern of Python's
//! `multiprocessing.Process` with a `Pipe`.
//!
//! The parent writes a short preamble carrying the authkey on the child's
//! stdin (docs/PROTOCOL.md, "Worker processes"), so the key appears neither
//! on the command line nor in the environment, where other local users may
//! read them; then the ordinary handshake and frames follow on the two
//! pipes, the child serving and the parent calling.

use std::io::{self, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::codec::{Decode, Encode};
use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::server::Server;
use crate::transport::Transport;

/// The first bytes on a worker's stdin: `stdrpcW1`.
const MAGIC: &[u8; 8] = b"stdrpcW1";

/// The longest authkey a preamble may carry.
const MAX_KEY: usize = 64 * 1024;

/// How long dropping a [`Worker`] waits for the child to exit by itself
/// after its stdin closed, before killing it.
const GRACE: Duration = Duration::from_secs(2);

/// A child process serving calls over its stdin and stdout, and the
/// connection to it.
///
/// The parent side runs [`Worker::spawn`]; the child, started from the
/// same or another executable, registers its methods and runs
/// [`Worker::serve`]:
///
/// ```no_run
/// use std::process::Command;
///
/// if std::env::args().nth(1).as_deref() == Some("worker") {
///     let mut server = stdrpc::Server::new(b"");
///     server.register("square", |x: i64| x * x);
///     return stdrpc::Worker::serve(server); // the key comes from the parent
/// }
/// let exe = std::env::current_exe()?;
/// let worker = stdrpc::Worker::spawn(Command::new(exe).arg("worker"), b"secret")?;
/// assert_eq!(worker.call::<_, i64>("square", 7i64)?, 49);
/// drop(worker); // Closes the child's stdin; it exits and is reaped.
/// # Ok::<(), stdrpc::Error>(())
/// ```
///
/// **The child's stdout is the connection.** Anything else printed there
/// (`println!`, a library that logs to stdout) corrupts it and the
/// connection fails; print to stderr (`eprintln!`), which `spawn` leaves as
/// the command set it (inherited by default). The library itself writes
/// nothing to stdout, and a panic's message goes to stderr; it cannot
/// redirect the process's stdout without `unsafe` code, which the crate
/// forbids.
///
/// Pipes have no timeouts: the handshake deadline does not hold, and
/// [`Client::call_timeout`] waits as long as the reply takes. A child that
/// exits or crashes mid-call closes its stdout, and every call waiting on
/// it fails with [`Error::ConnectionClosed`].
#[derive(Debug)]
pub struct Worker {
    client: Option<Client>,
    child: Child,
}

impl Worker {
    /// Starts `command` with piped stdin and stdout, sends it `authkey` in
    /// the preamble, and connects to it with default limits.
    ///
    /// # Errors
    /// The process cannot be started, or the handshake fails (the child
    /// exited, printed to stdout, or does not run [`Worker::serve`]); the
    /// child is then killed and reaped.
    pub fn spawn(command: &mut Command, authkey: &[u8]) -> Result<Worker> {
        Worker::spawn_with(command, authkey, Config::default())
    }

    /// Starts `command` as [`spawn`](Worker::spawn) does, connecting with
    /// the given limits.
    ///
    /// # Errors
    /// As [`spawn`](Worker::spawn).
    pub fn spawn_with(command: &mut Command, authkey: &[u8], config: Config) -> Result<Worker> {
        if authkey.len() > MAX_KEY {
            return Err(Error::auth("the authkey is longer than 64 KiB"));
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| Context::wrap(e, "starting the worker process"))?;
        match connect(&mut child, authkey, config) {
            Ok(client) => Ok(Worker {
                client: Some(client),
                child,
            }),
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().ok();
                Err(explain(e, status))
            }
        }
    }

    /// Calls `method` in the worker, as [`Client::call`] does.
    ///
    /// # Errors
    /// As [`Client::call`]; [`Error::ConnectionClosed`] when the worker
    /// exited or crashed before replying.
    pub fn call<A: Encode, R: Decode>(&self, method: &str, args: A) -> Result<R> {
        self.client().call(method, args)
    }

    /// The connection to the worker, for everything else a [`Client`] does
    /// (pipelined calls, notifications).
    pub fn client(&self) -> &Client {
        // Only `Drop` takes it.
        self.client
            .as_ref()
            .expect("the client lives as long as the worker")
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child's side: reads the preamble from stdin, then serves the
    /// parent's one connection over stdin and stdout with `server`'s
    /// methods and limits, and returns when the parent closes it (when its
    /// [`Worker`] is dropped). The authkey is the parent's, from the
    /// preamble; the one `server` was made with is not used.
    ///
    /// # Errors
    /// Stdin does not start with a preamble (the program was not started by
    /// [`Worker::spawn`]), or the handshake fails.
    pub fn serve(server: Server) -> Result<()> {
        let key = read_preamble(&mut io::stdin().lock())?;
        let transport = Transport::new(io::stdin(), io::stdout()).with_peer("parent");
        server.with_authkey(key).serve_one(transport)
    }
}

impl Drop for Worker {
    /// Closes the connection (the child reads the end of its stdin), waits
    /// up to two seconds for the child to exit, kills it if it has not, and
    /// reaps it.
    fn drop(&mut self) {
        // Dropping the client sends what is queued first, which blocks while
        // a busy child does not read its stdin: on a thread of its own, so
        // the kill below bounds it (the write then fails). The child's stdin
        // is closed only when no clone of the client is left; a clone still
        // held elsewhere ends with the kill too.
        let client = self.client.take();
        let closing = std::thread::Builder::new()
            .name("stdrpc-worker-close".into())
            .spawn(move || drop(client))
            .ok();
        self.reap();
        if let Some(closing) = closing {
            let _ = closing.join();
        }
    }
}

impl Worker {
    /// Waits for the child to exit, at most [`GRACE`], then kills it if
    /// needed, and reaps it.
    fn reap(&mut self) {
        let until = Instant::now() + GRACE;
        let mut pause = Duration::from_millis(1);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < until => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                _ => break,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends the preamble and runs the handshake over the child's pipes.
fn connect(child: &mut Child, authkey: &[u8], config: Config) -> Result<Client> {
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(Error::protocol("the worker's pipes were not opened"));
    };
    // A child that has already exited (or printed and exited) fails this
    // write; the handshake below then reads what it left on stdout, which
    // says more than a broken pipe.
    let _ = stdin.write_all(&preamble(authkey));
    let transport = Transport::new(stdout, stdin).with_peer(format!("worker {}", child.id()));
    Client::over_with(transport, authkey, config)
}

/// A failed start, with what the child's end says about it.
fn explain(e: Error, status: Option<ExitStatus>) -> Error {
    match e {
        Error::Protocol(m) => Error::protocol(format!(
            "{m} (does the worker print to stdout? stdout carries the connection)"
        )),
        Error::ConnectionClosed => match status {
            Some(s) if s.code().is_some() => Error::protocol(format!(
                "the worker exited ({s}) before the handshake: does it run Worker::serve, \
                 printing nothing to stdout?"
            )),
            _ => Error::ConnectionClosed,
        },
        e => e,
    }
}

/// The preamble: `stdrpcW1`, the key's length (u32, big-endian), the key.
fn preamble(authkey: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + authkey.len());
    out.extend_from_slice(MAGIC);
    // The length was checked against MAX_KEY.
    out.extend_from_slice(&(authkey.len() as u32).to_be_bytes());
    out.extend_from_slice(authkey);
    out
}

/// Reads a preamble, returning the key.
fn read_preamble(r: &mut impl Read) -> Result<Vec<u8>> {
    let not_a_worker = || {
        Error::protocol(
            "stdin does not start with a worker preamble: \
             this program expects to be started by stdrpc::Worker::spawn",
        )
    };
    let mut head = [0u8; 12];
    r.read_exact(&mut head).map_err(|_| not_a_worker())?;
    if &head[..8] != MAGIC {
        return Err(not_a_worker());
    }
    let len = u32::from_be_bytes([head[8], head[9], head[10], head[11]]) as usize;
    if len > MAX_KEY {
        return Err(Error::protocol("the worker preamble's key is over 64 KiB"));
    }
    let mut key = vec![0u8; len];
    r.read_exact(&mut key).map_err(|_| not_a_worker())?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preamble_is_laid_out_as_protocol_md_says() {
        assert_eq!(
            preamble(b"key"),
            b"stdrpcW1\x00\x00\x00\x03key".to_vec(),
            "docs/PROTOCOL.md, Worker processes"
        );
        assert_eq!(read_preamble(&mut &preamble(b"k2")[..]).unwrap(), b"k2");
    }

    #[test]
    fn a_bad_preamble_is_refused_before_reading_a_key() {
        for bad in [
            &b"hello world\n"[..],
            b"stdrpcW1",
            b"stdrpcW1\x00\x01\x00\x01",
            b"stdrpcW1\xff\xff\xff\xff",
        ] {
            assert!(matches!(
                read_preamble(&mut &bad[..]),
                Err(Error::Protocol(_))
            ));
        }
    }
}
