//! The in-memory key-value store from the blog post "Simplest Python RPC",
//! which served `get`, `put` and `get_uname` with Python's `BaseManager`.
//!
//! ```text
//! cargo run --example kv_store                  # a server and a client in one process
//! cargo run --example kv_store -- server        # serve on 127.0.0.1:4343 until killed
//! cargo run --example kv_store -- client        # call the running server
//! cargo run --example kv_store -- server --addr 0.0.0.0:4343 --authkey s3cret
//! cargo run --example kv_store -- client --addr 192.0.2.7:4343 --authkey s3cret
//! cargo run --example kv_store -- server --strict   # refuse legacy HMAC-MD5 clients
//! ```
//!
//! The methods are declared once with `stdrpc::service!`, which gives the
//! server a trait to implement (registered as `Kv.get`, `Kv.put` and
//! `Kv.get_uname`) and the client a typed stub, `KvClient`.
//!
//! The client prints what the post's Python client printed: the method name
//! and the result, with `None` for a missing value and for `put`'s unit result.
//!
//! ```text
//! get None
//! put None
//! get 10
//! get_uname posix.uname_result(sysname='Linux', nodename='box', release='6.8.0', ...)
//! ```
//!
//! `server` prints one line, `listening on HOST:PORT`, once it accepts
//! connections (with the real port when port 0 is asked for). The post's server
//! listened on every interface; this one defaults to loopback, so pass
//! `--addr 0.0.0.0:4343` to let other hosts in.

use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::process::ExitCode;
use std::sync::Mutex;

use stdrpc::{Config, Server};

const DEFAULT_ADDR: &str = "127.0.0.1:4343";
const DEFAULT_AUTHKEY: &str = "password";

const USAGE: &str = "\
usage: kv_store                    run a server and a client in this process
       kv_store server [OPTIONS]   serve until killed
       kv_store client [OPTIONS]   call a running server
options:
       --addr HOST:PORT            default 127.0.0.1:4343 (server and client)
       --authkey KEY               default 'password' (server and client)
       --strict                    refuse clients that answer with legacy HMAC-MD5,
                                   as Python 3.11 and older do (server)";

stdrpc::service! {
    /// The post's key-value store.
    trait Kv {
        /// The value stored under `key`, or `None`.
        fn get(&self, key: String) -> Option<i64>;
        /// Stores `value` under `key`.
        fn put(&self, key: String, value: i64);
        /// The server host's system, in the spirit of Python's `str(os.uname())`.
        fn get_uname(&self) -> String;
    }
    /// The typed client of `Kv`.
    struct KvClient;
}

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
            eprintln!("kv_store: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match options.mode {
        Mode::Demo => demo(&options.authkey),
        Mode::Server => serve(&options.addr, &options.authkey, options.strict),
        Mode::Client => KvClient::connect(options.addr.as_str(), options.authkey.as_bytes())
            .and_then(|kv| run_client(&kv)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(stdrpc::Error::Io(e)) if e.kind() == ErrorKind::ConnectionRefused => {
            eprintln!(
                "error: connection to {} refused; is `kv_store server` running there?",
                options.addr
            );
            ExitCode::FAILURE
        }
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
        // Accept both `--addr VALUE` and `--addr=VALUE`.
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_string(), Some(value.to_string()))
            }
            _ => (arg, None),
        };
        if name == "--strict" {
            if options.mode != Mode::Server || inline.is_some() {
                return Err("--strict is a flag of `server`".into());
            }
            options.strict = true;
            continue;
        }
        let slot = match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--addr" if options.mode != Mode::Demo => &mut options.addr,
            "--authkey" if options.mode != Mode::Demo => &mut options.authkey,
            "--addr" | "--authkey" => {
                return Err(format!("{name} needs `server` or `client` before it"));
            }
            _ if name.starts_with('-') => return Err(format!("unknown option {name}")),
            _ => return Err(format!("unknown command {name:?}")),
        };
        *slot = match inline.or_else(|| args.next()) {
            Some(value) => value,
            None => return Err(format!("{name} needs a value")),
        };
    }
    Ok(Some(options))
}

/// The server's methods over a shared map, as the post's `obj = {}`.
#[derive(Default)]
struct Store {
    map: Mutex<HashMap<String, i64>>,
}

impl Kv for Store {
    fn get(&self, key: String) -> Option<i64> {
        self.map.lock().unwrap().get(&key).copied()
    }

    fn put(&self, key: String, value: i64) {
        self.map.lock().unwrap().insert(key, value);
    }

    fn get_uname(&self) -> String {
        uname()
    }
}

/// A server with the store registered under `Kv`, and under the post's
/// plain names `get`, `put` and `get_uname`, which is what a stock Python
/// `BaseManager` client (the post's client, unchanged) asks for.
fn kv_server(authkey: &str, config: Config) -> Server {
    let mut server = Server::with_config(authkey.as_bytes(), config);
    let store = std::sync::Arc::new(Store::default());
    let s = std::sync::Arc::clone(&store);
    server.register("get", move |key: String| s.get(key));
    let s = std::sync::Arc::clone(&store);
    server.register("put", move |key: String, value: i64| s.put(key, value));
    server.register("get_uname", uname);
    ArcStore(store).register_on(&mut server);
    server
}

/// The shared store as the `Kv` service (the trait wants an owned value).
struct ArcStore(std::sync::Arc<Store>);

impl Kv for ArcStore {
    fn get(&self, key: String) -> Option<i64> {
        self.0.get(key)
    }

    fn put(&self, key: String, value: i64) {
        self.0.put(key, value);
    }

    fn get_uname(&self) -> String {
        self.0.get_uname()
    }
}

/// Serves until the process is killed.
fn serve(addr: &str, authkey: &str, strict: bool) -> stdrpc::Result<()> {
    let config = Config::default().strict_auth(strict);
    let bound = kv_server(authkey, config).bind(addr)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", bound.local_addr())?;
    stdout.flush()?;
    drop(stdout);
    bound.serve()
}

/// The post's client calls, printed the way Python's `print` shows them.
fn run_client(kv: &KvClient) -> stdrpc::Result<()> {
    let value = kv.get("a".into())?;
    println!("get {}", py(value));
    kv.put("a".into(), 10)?;
    println!("put None");
    let value = kv.get("a".into())?;
    println!("get {}", py(value));
    let uname = kv.get_uname()?;
    println!("get_uname {uname}");
    Ok(())
}

/// No arguments: a server on a background thread and a client against it.
fn demo(authkey: &str) -> stdrpc::Result<()> {
    let running = kv_server(authkey, Config::default())
        .bind("127.0.0.1:0")?
        .spawn()?;
    let kv = KvClient::connect(running.local_addr(), authkey.as_bytes())?;
    let result = run_client(&kv);
    kv.into_client().close();
    running.shutdown()?;
    result
}

/// A value as Python prints it: `None` or the value.
fn py(value: Option<i64>) -> String {
    value.map_or_else(|| "None".to_string(), |v| v.to_string())
}

/// The server host's system, in the spirit of Python's `str(os.uname())`:
/// one line, with the fields that std and `/proc` can tell.
fn uname() -> String {
    // Linux (and Android) describe the kernel under /proc; elsewhere these
    // reads fail and only what std knows remains.
    let kernel = |name: &str| {
        let text = std::fs::read_to_string(format!("/proc/sys/kernel/{name}")).ok()?;
        Some(text.trim().to_string()).filter(|t| !t.is_empty())
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let sysname = kernel("ostype").unwrap_or_else(|| {
        match std::env::consts::OS {
            "linux" => "Linux",
            "macos" => "Darwin",
            "windows" => "Windows",
            "freebsd" => "FreeBSD",
            "netbsd" => "NetBSD",
            "openbsd" => "OpenBSD",
            other => other,
        }
        .to_string()
    });
    let fields = [
        ("sysname", Some(sysname)),
        (
            "nodename",
            kernel("hostname")
                .or_else(|| env("HOSTNAME"))
                .or_else(|| env("COMPUTERNAME")),
        ),
        ("release", kernel("osrelease")),
        ("version", kernel("version")),
        ("machine", Some(std::env::consts::ARCH.to_string())),
    ];
    let fields: Vec<String> = fields
        .into_iter()
        .filter_map(|(name, value)| Some(format!("{name}='{}'", value?)))
        .collect();
    // Python's `str(os.uname())` names the type `posix.uname_result` on Unix
    // (`nt.uname_result` does not exist: Windows Python has no os.uname).
    format!("posix.uname_result({})", fields.join(", "))
}
