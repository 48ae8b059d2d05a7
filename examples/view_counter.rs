//! The view counter from the blog post "Simplest Python RPC": a server counts
//! views per key, and five client processes each watch "hikakin" a thousand
//! times (`get`, then `inc`). The increments are atomic on the server, so the
//! count ends at exactly 5000.
//!
//! ```text
//! cargo run --release --example view_counter    # one server, 5 client processes of itself
//! cargo run --release --example view_counter -- --clients 8 --iterations 10000
//! cargo run --example view_counter -- server    # serve on 127.0.0.1:4343 until killed
//! cargo run --example view_counter -- server --strict   # refuse legacy HMAC-MD5 clients
//! cargo run --example view_counter -- client    # 1000 views against the running server
//! ```
//!
//! Without a command, the example runs the server on a background thread and
//! re-executes itself as `view_counter client ...` for each client process,
//! then prints the final count and the aggregate calls per second (the
//! figures depend on the machine; this run was on a 2-vCPU VM):
//!
//! ```text
//! view counter on 127.0.0.1:34763: 5 client processes x 1000 views (get + inc)
//! final count: 5000
//! 10000 calls in 0.08 s (128589 calls/s) from 5 processes
//! ```
//!
//! The two methods are declared once with `stdrpc::service!`: the server
//! implements the generated trait (registered as `Views.get` and
//! `Views.inc`), the clients call through the typed stub `ViewsClient`.
//!
//! `server` prints one line, `listening on HOST:PORT`, once it accepts
//! connections. `client` prints the last count it saw (`--iterations 0` just
//! reads the counter).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use stdrpc::{Config, Server};

stdrpc::service! {
    /// The post's view counter.
    trait Views {
        /// The views counted for `key` (a key never seen counts 0).
        fn get(&self, key: String) -> i64;
        /// Counts one view of `key`.
        fn inc(&self, key: String);
    }
    /// The typed client of `Views`.
    struct ViewsClient;
}

/// The key every client watches, as in the post.
const KEY: &str = "hikakin";
const DEFAULT_ADDR: &str = "127.0.0.1:4343";
const DEFAULT_AUTHKEY: &str = "password";
/// How long the client processes together may take before they are killed.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

const USAGE: &str = "\
usage: view_counter [--clients N] [--iterations N] [--authkey KEY]
                        run a server and N client processes (default 5 x 1000)
       view_counter server [--addr HOST:PORT] [--authkey KEY] [--strict]
                        serve until killed; --strict refuses clients that
                        answer with legacy HMAC-MD5 (Python 3.11 and older)
       view_counter client [--addr HOST:PORT] [--authkey KEY] [--iterations N]
                        watch a running server's counter N times (default 1000)
defaults: --addr 127.0.0.1:4343 --authkey password";

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Demo,
    Server,
    Client,
}

#[derive(Debug)]
struct Options {
    mode: Mode,
    addr: String,
    authkey: String,
    clients: u64,
    iterations: u64,
    /// Refuse legacy HMAC-MD5 answers (`Config::strict_auth`).
    strict: bool,
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("view_counter: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match options.mode {
        Mode::Demo => demo(&options),
        Mode::Server => serve(&options.addr, &options.authkey, options.strict),
        Mode::Client => watch(&options.addr, &options.authkey, options.iterations),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` asks for the usage text; `Err` is a message for a bad command line.
fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        mode: Mode::Demo,
        addr: DEFAULT_ADDR.to_string(),
        authkey: DEFAULT_AUTHKEY.to_string(),
        clients: 5,
        iterations: 1000,
        strict: false,
    };
    let mut args = args.peekable();
    match args.peek().map(String::as_str) {
        Some("server") => options.mode = Mode::Server,
        Some("client") => options.mode = Mode::Client,
        _ => {}
    }
    if options.mode != Mode::Demo {
        args.next();
    }
    while let Some(arg) = args.next() {
        // Accept both `--name VALUE` and `--name=VALUE`.
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_string(), Some(value.to_string()))
            }
            _ => (arg, None),
        };
        if name == "--strict" && options.mode == Mode::Server && inline.is_none() {
            options.strict = true;
            continue;
        }
        let allowed = match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--strict" => false,
            "--authkey" => true,
            "--addr" => options.mode != Mode::Demo,
            "--clients" => options.mode == Mode::Demo,
            "--iterations" => options.mode != Mode::Server,
            _ if name.starts_with('-') => return Err(format!("unknown option {name}")),
            _ => return Err(format!("unknown command {name:?}")),
        };
        if !allowed {
            let mode = match options.mode {
                Mode::Demo => "the demo (no command)",
                Mode::Server => "`server`",
                Mode::Client => "`client`",
            };
            return Err(format!("{name} is not an option of {mode}"));
        }
        let Some(value) = inline.or_else(|| args.next()) else {
            return Err(format!("{name} needs a value"));
        };
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{name} needs a whole number, not {value:?}"))
        };
        match name.as_str() {
            "--authkey" => options.authkey = value,
            "--addr" => options.addr = value,
            "--clients" => options.clients = number()?,
            _ => options.iterations = number()?,
        }
    }
    Ok(Some(options))
}

/// The counts per key.
#[derive(Default)]
struct Counter {
    views: Mutex<HashMap<String, i64>>,
}

impl Views for Counter {
    fn get(&self, key: String) -> i64 {
        self.views.lock().unwrap().get(&key).copied().unwrap_or(0)
    }

    // One call increments under the lock, so concurrent clients lose no view.
    fn inc(&self, key: String) {
        *self.views.lock().unwrap().entry(key).or_insert(0) += 1;
    }
}

/// A server with the post's `get` and `inc`, under `Views` and under their
/// plain names, which the post's Python client (unchanged) asks for.
fn counter_server(authkey: &str, config: Config) -> Server {
    let mut server = Server::with_config(authkey.as_bytes(), config);
    let counter = std::sync::Arc::new(Counter::default());
    let c = std::sync::Arc::clone(&counter);
    server.register("get", move |key: String| c.get(key));
    let c = std::sync::Arc::clone(&counter);
    server.register("inc", move |key: String| c.inc(key));
    Shared(counter).register_on(&mut server);
    server
}

/// The shared counter as the `Views` service.
struct Shared(std::sync::Arc<Counter>);

impl Views for Shared {
    fn get(&self, key: String) -> i64 {
        self.0.get(key)
    }

    fn inc(&self, key: String) {
        self.0.inc(key);
    }
}

/// Serves until the process is killed.
fn serve(addr: &str, authkey: &str, strict: bool) -> Result<()> {
    let config = Config::default().strict_auth(strict);
    let bound = counter_server(authkey, config).bind(addr)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", bound.local_addr())?;
    stdout.flush()?;
    drop(stdout);
    Ok(bound.serve()?)
}

/// One client: `iterations` times `get` then `inc`, as the post's
/// `hikakin_watch`; prints the last count it saw.
fn watch(addr: &str, authkey: &str, iterations: u64) -> Result<()> {
    let views = ViewsClient::connect(addr, authkey.as_bytes()).map_err(|e| match e {
        stdrpc::Error::Io(e) if e.kind() == ErrorKind::ConnectionRefused => {
            format!("connection to {addr} refused; is `view_counter server` running there?").into()
        }
        e => Box::<dyn std::error::Error>::from(e),
    })?;
    let mut seen = None;
    for _ in 0..iterations {
        seen = Some(views.get(KEY.into())?);
        views.inc(KEY.into())?;
    }
    let seen = match seen {
        Some(count) => count,
        None => views.get(KEY.into())?,
    };
    views.into_client().close();
    println!("last count seen: {seen}");
    Ok(())
}

/// No command: the server on a background thread, client processes against it.
fn demo(options: &Options) -> Result<()> {
    let running = counter_server(&options.authkey, Config::default())
        .bind("127.0.0.1:0")?
        .spawn()?;
    let addr = running.local_addr().to_string();
    let (clients, iterations) = (options.clients, options.iterations);
    let plural = if clients == 1 { "" } else { "es" };
    println!(
        "view counter on {addr}: {clients} client process{plural} x {iterations} views (get + inc)"
    );

    let started = Instant::now();
    let outcome = run_clients(&addr, &options.authkey, clients, iterations);
    let elapsed = started.elapsed();
    let count = outcome.and_then(|()| {
        let views = ViewsClient::connect(running.local_addr(), options.authkey.as_bytes())?;
        let count = views.get(KEY.into())?;
        views.into_client().close();
        Ok(count)
    });
    running.shutdown()?;
    let count = count?;

    println!("final count: {count}");
    let calls = clients.saturating_mul(iterations).saturating_mul(2);
    let seconds = elapsed.as_secs_f64();
    let rate = calls as f64 / seconds.max(1e-9);
    println!("{calls} calls in {seconds:.2} s ({rate:.0} calls/s) from {clients} process{plural}");
    let expected = clients.saturating_mul(iterations);
    if u64::try_from(count) != Ok(expected) {
        return Err(format!("expected a count of {expected}, the server counted {count}").into());
    }
    Ok(())
}

/// Starts `clients` processes of this executable in `client` mode and waits
/// for all of them, at most [`CLIENT_TIMEOUT`].
fn run_clients(addr: &str, authkey: &str, clients: u64, iterations: u64) -> Result<()> {
    let exe = std::env::current_exe()?;
    let iterations = iterations.to_string();
    let mut children = Children(Vec::new());
    // A child has exited when its stdout reaches end of file; a thread per
    // child reports that here, so the wait below can have a deadline.
    let (exited, exits) = mpsc::channel();
    for _ in 0..clients {
        let index = children.0.len();
        let mut child = Command::new(&exe)
            .args([
                "client",
                "--addr",
                addr,
                "--authkey",
                authkey,
                "--iterations",
                &iterations,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start client process: {e}"))?;
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let exited = exited.clone();
        std::thread::spawn(move || {
            let _ = stdout.read_to_end(&mut Vec::new());
            let _ = exited.send(index);
        });
        children.0.push(child);
    }
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    for _ in 0..clients {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let Ok(index) = exits.recv_timeout(timeout) else {
            return Err(format!(
                "the client processes did not finish in {} s",
                CLIENT_TIMEOUT.as_secs()
            )
            .into());
        };
        let status = children.0[index].wait()?;
        if !status.success() {
            return Err(format!("client process {} failed ({status})", index + 1).into());
        }
    }
    Ok(())
}

/// Child processes, killed when dropped unless they have already exited.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
