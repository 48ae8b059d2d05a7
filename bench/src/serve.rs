//! Servers in processes of their own, as users run them.
//!
//! Every row of the suite (floors, tarpc, stdrpc) talks to a server that
//! this binary runs as a child process: `stdrpc-bench serve KIND`. The
//! child binds port 0 (or a Unix socket in the suite's temporary
//! directory), prints one line `listening on ADDR` on stdout and serves
//! until its stdin reaches end of file; then it prints `stats errors=N
//! ticks=N` and exits. The parent reads the first line (no sleeps, no
//! polling for the port) and closes the child's stdin to stop it.
//!
//! `ADDR` is written as stdrpc's `Address` displays it: `HOST:PORT` for TCP,
//! `unix:PATH` for a Unix socket.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::floor::{self, Duplex};
use crate::peer::{self, Runtime};
use crate::rpc;
use crate::util::{err, socket_path};

/// What a child serves. The string forms are the `serve` subcommand's
/// argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A raw std floor server of the given mode.
    Floor(floor::Mode, Tp),
    /// tarpc with the given runtime.
    Tarpc(Runtime, Tp),
    /// stdrpc with default `Config` and the suite's methods.
    Stdrpc(Tp),
}

/// The transport a server listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tp {
    Tcp,
    Unix,
}

impl From<floor::Transport> for Tp {
    fn from(t: floor::Transport) -> Tp {
        match t {
            floor::Transport::Tcp => Tp::Tcp,
            floor::Transport::Unix => Tp::Unix,
        }
    }
}

impl Kind {
    pub fn name(self) -> String {
        let tp = |t: Tp| match t {
            Tp::Tcp => "tcp",
            Tp::Unix => "unix",
        };
        match self {
            Kind::Floor(m, t) => format!("floor-{}-{}", m.name(), tp(t)),
            Kind::Tarpc(Runtime::MultiThread, t) => format!("tarpc-mt-{}", tp(t)),
            Kind::Tarpc(Runtime::CurrentThread, t) => format!("tarpc-ct-{}", tp(t)),
            Kind::Stdrpc(t) => format!("stdrpc-{}", tp(t)),
        }
    }

    fn parse(s: &str) -> Result<Kind, String> {
        let (rest, tp) = if let Some(r) = s.strip_suffix("-tcp") {
            (r, Tp::Tcp)
        } else if let Some(r) = s.strip_suffix("-unix") {
            (r, Tp::Unix)
        } else {
            return Err(format!("unknown server kind {s}"));
        };
        match rest {
            "tarpc-mt" => Ok(Kind::Tarpc(Runtime::MultiThread, tp)),
            "tarpc-ct" => Ok(Kind::Tarpc(Runtime::CurrentThread, tp)),
            "stdrpc" => Ok(Kind::Stdrpc(tp)),
            _ => match rest.strip_prefix("floor-").and_then(floor::Mode::parse) {
                Some(m) => Ok(Kind::Floor(m, tp)),
                None => Err(format!("unknown server kind {s}")),
            },
        }
    }
}

/// A connectable address, as the child printed it.
#[derive(Debug, Clone)]
pub enum Addr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Addr {
    fn parse(s: &str) -> Result<Addr, String> {
        match s.strip_prefix("unix:") {
            Some(p) => Ok(Addr::Unix(PathBuf::from(p))),
            None => s
                .parse()
                .map(Addr::Tcp)
                .map_err(|_| format!("bad address {s:?}")),
        }
    }

    /// The form stdrpc's `Client::connect` accepts.
    pub fn text(&self) -> String {
        match self {
            Addr::Tcp(a) => a.to_string(),
            Addr::Unix(p) => format!("unix:{}", p.display()),
        }
    }

    /// A raw std connection; TCP gets TCP_NODELAY (and the floor's other
    /// socket options, see `floor::tune`).
    pub fn connect(&self) -> io::Result<Box<dyn Duplex>> {
        match self {
            Addr::Tcp(a) => {
                let s = TcpStream::connect(a)?;
                floor::tune(&s)?;
                Ok(Box::new(s))
            }
            Addr::Unix(p) => Ok(Box::new(UnixStream::connect(p)?)),
        }
    }

    pub fn tarpc(&self) -> peer::Addr {
        match self {
            Addr::Tcp(a) => peer::Addr::Tcp(*a),
            Addr::Unix(p) => peer::Addr::Unix(p.clone()),
        }
    }
}

/// What the child reported when it stopped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub errors: u64,
    pub ticks: u64,
}

/// A server child process; dropping it stops it (kills it if it does not
/// exit within 5 s of its stdin closing).
#[derive(Debug)]
pub struct ServerProc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub addr: Addr,
}

/// How long a child may take to print its address, or to exit once told.
const CHILD_LIMIT: Duration = Duration::from_secs(10);

impl ServerProc {
    pub fn spawn(kind: Kind) -> Result<ServerProc, String> {
        let exe = std::env::current_exe().map_err(err("current_exe"))?;
        let mut child = Command::new(exe)
            .arg("serve")
            .arg(kind.name())
            .env("STDRPC_BENCH_TMP", crate::util::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(err("spawn server"))?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        // A child that dies closes its stdout: the read returns, bounded.
        let read = stdout.read_line(&mut line);
        let addr = match read {
            Ok(n) if n > 0 => line
                .trim()
                .strip_prefix("listening on ")
                .ok_or_else(|| format!("server said {:?}", line.trim()))
                .and_then(Addr::parse),
            Ok(_) => Err(format!("server {} exited before listening", kind.name())),
            Err(e) => Err(format!("server {}: {e}", kind.name())),
        };
        match addr {
            Ok(addr) => {
                crate::util::register_server(child.id());
                Ok(ServerProc {
                    child,
                    stdin,
                    stdout,
                    addr,
                })
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// Stops the child and returns what it reported.
    pub fn finish(mut self) -> Result<Stats, String> {
        drop(self.stdin.take());
        let mut rest = String::new();
        // The child prints its stats and exits; its stdout then closes.
        let _ = self.stdout.read_to_string(&mut rest);
        self.reap();
        let mut stats = Stats::default();
        for word in rest.split_whitespace() {
            if let Some(v) = word.strip_prefix("errors=") {
                stats.errors = v.parse().unwrap_or(0);
            } else if let Some(v) = word.strip_prefix("ticks=") {
                stats.ticks = v.parse().unwrap_or(0);
            }
        }
        if stats.errors > 0 {
            return Err(format!("server counted {} errors", stats.errors));
        }
        Ok(stats)
    }

    fn reap(&mut self) {
        crate::util::unregister_server(self.child.id());
        drop(self.stdin.take());
        let deadline = Instant::now() + CHILD_LIMIT;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                // Bounded wait for a process exit: std has no timed wait.
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.reap();
    }
}

/// The `serve KIND` subcommand.
pub fn serve_main(args: &[String]) -> Result<(), String> {
    let kind = Kind::parse(args.first().map(String::as_str).unwrap_or(""))?;
    crate::util::raise_nofile(65_536);
    let ticks = Arc::new(AtomicU64::new(0));
    let announce = |addr: String| -> Result<(), String> {
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {addr}").map_err(err("stdout"))?;
        out.flush().map_err(err("stdout"))
    };
    let wait_stdin = || {
        let mut sink = Vec::new();
        let _ = io::stdin().lock().read_to_end(&mut sink);
    };
    let report = |errors: u64, ticks: u64| {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "stats errors={errors} ticks={ticks}");
        let _ = out.flush();
    };
    match kind {
        Kind::Floor(mode, tp) => {
            match tp {
                Tp::Tcp => {
                    let l = TcpListener::bind("127.0.0.1:0").map_err(err("bind"))?;
                    announce(l.local_addr().map_err(err("bind"))?.to_string())?;
                    std::thread::spawn(move || {
                        for s in l.incoming() {
                            let Ok(s) = s else { continue };
                            if floor::tune(&s).is_err() {
                                continue;
                            }
                            floor::serve_conn(mode, Box::new(s));
                        }
                    });
                }
                Tp::Unix => {
                    let path = socket_path("floor");
                    let l = UnixListener::bind(&path).map_err(err("bind"))?;
                    announce(format!("unix:{}", path.display()))?;
                    std::thread::spawn(move || {
                        for s in l.incoming() {
                            let Ok(s) = s else { continue };
                            floor::serve_conn(mode, Box::new(s));
                        }
                    });
                }
            }
            wait_stdin();
            report(0, 0);
        }
        Kind::Tarpc(rt, tp) => {
            let t = match tp {
                Tp::Tcp => floor::Transport::Tcp,
                Tp::Unix => floor::Transport::Unix,
            };
            let server = peer::TarpcServer::start(rt, t)?;
            announce(match &server.addr {
                peer::Addr::Tcp(a) => a.to_string(),
                peer::Addr::Unix(p) => format!("unix:{}", p.display()),
            })?;
            wait_stdin();
            drop(server);
            report(0, 0);
        }
        Kind::Stdrpc(tp) => {
            let server = rpc::server(stdrpc::Config::default(), Arc::clone(&ticks));
            let bound = match tp {
                Tp::Tcp => server.bind("127.0.0.1:0"),
                Tp::Unix => server.bind(socket_path("stdrpc").as_path()),
            };
            let running = bound.map_err(err("bind"))?.spawn().map_err(err("spawn"))?;
            announce(running.local_addr().to_string())?;
            wait_stdin();
            let stats = running.stats();
            let _ = running.shutdown();
            report(stats.errors, ticks.load(Ordering::Relaxed));
        }
    }
    Ok(())
}
