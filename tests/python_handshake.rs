//! The authkey handshake against stock CPython `multiprocessing.connection`,
//! in both roles, on every interpreter in `support::python::VERSIONS`.
//!
//! Each scenario is a function taking one interpreter; `per_interpreter!`
//! turns it into one `#[test]` per interpreter (`scenario::py3_11`, ...), so a
//! failure names the version and the three run in parallel. A missing
//! interpreter fails every test with `support::python`'s explanation.
//!
//! Every Python child is a `support::child::Proc`, killed and reaped on drop; its
//! stdout is read on a thread and every read is bounded by a deadline, and the
//! script arms `signal.alarm` so that it dies on its own too. Ports are all
//! chosen by the kernel (port 0): a Python listener prints its port first.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;
use std::sync::mpsc::RecvTimeoutError;
use std::thread;
use std::time::{Duration, Instant};

use stdrpc::{Client, Config, Error, RunningServer, Server, Stats};

/// The key both sides use when they are meant to agree.
const KEY: &str = "password";
/// A key that differs from [`KEY`].
const WRONG_KEY: &str = "not-the-password";
/// The longest a Python child may live before the test gives up on it.
const CHILD_DEADLINE: Duration = Duration::from_secs(20);
/// The longest we wait for a server counter to reach a value.
const STATS_DEADLINE: Duration = Duration::from_secs(10);

/// `Client(('127.0.0.1', port), authkey=key)`, then close; argv: port, key.
const PY_CLIENT: &str = r#"
import multiprocessing, signal, sys
from multiprocessing.connection import Client
signal.alarm(20)
port, key = int(sys.argv[1]), sys.argv[2].encode()
try:
    conn = Client(('127.0.0.1', port), authkey=key)
except multiprocessing.AuthenticationError as e:
    print('AUTH-FAIL')
    print('reason:', e)
else:
    conn.close()
    print('AUTH-OK')
"#;

/// `Listener(('127.0.0.1', 0), authkey=key)`: prints its port, accepts one
/// connection, then waits for the peer to close it; argv: key.
const PY_LISTENER: &str = r#"
import multiprocessing, signal, sys
from multiprocessing.connection import Listener
signal.alarm(20)
key = sys.argv[1].encode()
with Listener(('127.0.0.1', 0), authkey=key) as listener:
    print(listener.address[1])
    try:
        conn = listener.accept()
    except multiprocessing.AuthenticationError as e:
        print('AUTH-FAIL')
        print('reason:', e)
        sys.exit(0)
    except EOFError:
        print('PEER-CLOSED')
        sys.exit(0)
    print('ACCEPTED')
    try:
        data = conn.recv_bytes()
    except EOFError:
        print('DONE')
    else:
        print('UNEXPECTED', data)
    conn.close()
"#;

/// A bare socket server that challenges each connection with the digest named
/// by the next argument (`deliver_challenge(..., digest_name=...)`, Python
/// 3.12+), then answers the peer's challenge as `Listener.accept` would.
const PY_DIGEST_SERVER: &str = r#"
import multiprocessing, signal, socket, sys
from multiprocessing.connection import Connection, answer_challenge, deliver_challenge
signal.alarm(20)
KEY = b'password'
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(('127.0.0.1', 0))
srv.listen(1)
print(srv.getsockname()[1])
for digest in sys.argv[1:]:
    s, _ = srv.accept()
    conn = Connection(s.detach())
    try:
        deliver_challenge(conn, KEY, digest_name=digest)
        answer_challenge(conn, KEY)
    except EOFError:
        print(digest, 'EOF')
    except multiprocessing.AuthenticationError as e:
        print(digest, 'AUTH-FAIL', e)
    else:
        print(digest, 'ACCEPTED')
        try:
            conn.recv_bytes()
        except EOFError:
            print(digest, 'DONE')
    conn.close()
srv.close()
"#;

// ---------------------------------------------------------------------------
// Scenarios

/// A stock Python client authenticates to our server.
fn python_client_authenticates(py: &Python) {
    let server = TestServer::start(Config::default());
    let child = PyProcess::spawn(py, "client", PY_CLIENT, &[&server.port().to_string(), KEY]);
    let out = child.finish();
    out.assert_success();
    out.assert_lines(&["AUTH-OK"]);
    let stats = server.wait_for("the connection to be accepted and closed", |s| {
        s.accepted >= 1 && s.open_connections == 0
    });
    assert_eq!(
        stats.auth_failures, 0,
        "{py}: server counted an auth failure: {stats:?}"
    );
    assert!(stats.accepted >= 1, "{py}: {stats:?}");
    server.stop();
}

/// A stock Python client with the wrong key is refused by our server.
fn python_client_wrong_key_is_refused(py: &Python) {
    let server = TestServer::start(Config::default());
    let child = PyProcess::spawn(
        py,
        "client",
        PY_CLIENT,
        &[&server.port().to_string(), WRONG_KEY],
    );
    let out = child.finish();
    out.assert_success();
    out.assert_lines(&["AUTH-FAIL", "reason: digest sent was rejected"]);
    let stats = server.wait_for("one auth failure on a closed connection", |s| {
        s.auth_failures >= 1 && s.open_connections == 0
    });
    assert_eq!(stats.auth_failures, 1, "{py}: {stats:?}");
    assert_eq!(stats.accepted, 1, "{py}: {stats:?}");
    server.stop();
}

/// Our client authenticates to a stock Python `Listener`, then closes.
fn client_authenticates_to_python_listener(py: &Python) {
    let mut child = PyProcess::spawn(py, "listener", PY_LISTENER, &[KEY]);
    let addr = child.port_line();
    match Client::connect(addr, KEY.as_bytes()) {
        Ok(client) => drop(client),
        Err(e) => child.fail(format!("Client::connect({addr}) failed: {e:?}")),
    }
    let out = child.finish();
    out.assert_success();
    out.assert_lines(&["ACCEPTED", "DONE"]);
}

/// Our client with the wrong key against a stock Python `Listener`.
fn client_wrong_key_against_python_listener(py: &Python) {
    let mut child = PyProcess::spawn(py, "listener", PY_LISTENER, &[KEY]);
    let addr = child.port_line();
    match Client::connect(addr, WRONG_KEY.as_bytes()) {
        Err(Error::Auth(_)) => {}
        other => child.fail(format!(
            "Client::connect with the wrong key returned {other:?}, expected Err(Auth)"
        )),
    }
    let out = child.finish();
    out.assert_success();
    out.assert_lines(&["AUTH-FAIL", "reason: digest received was wrong"]);
}

/// A strict server refuses the legacy HMAC-MD5 answer of a 3.11 client and
/// admits 3.12+ clients, which answer with `{sha256}`.
fn strict_server_vs_python_client(py: &Python) {
    let server = TestServer::start(Config::default().strict_auth(true));
    let child = PyProcess::spawn(py, "client", PY_CLIENT, &[&server.port().to_string(), KEY]);
    let out = child.finish();
    out.assert_success();
    let stats = if py.is_legacy() {
        out.assert_lines(&["AUTH-FAIL", "reason: digest sent was rejected"]);
        server.wait_for("one auth failure on a closed connection", |s| {
            s.auth_failures >= 1 && s.open_connections == 0
        })
    } else {
        out.assert_lines(&["AUTH-OK"]);
        server.wait_for("the connection to be accepted and closed", |s| {
            s.accepted >= 1 && s.open_connections == 0
        })
    };
    let expected_failures = u64::from(py.is_legacy());
    assert_eq!(stats.auth_failures, expected_failures, "{py}: {stats:?}");
    assert_eq!(stats.accepted, 1, "{py}: {stats:?}");
    server.stop();
}

/// A strict client refuses a 3.11 `Listener` (its answer to our challenge is a
/// raw HMAC-MD5) and authenticates to 3.12+ listeners.
fn strict_client_vs_python_listener(py: &Python) {
    let mut child = PyProcess::spawn(py, "listener", PY_LISTENER, &[KEY]);
    let addr = child.port_line();
    let strict = Config::default().strict_auth(true);
    let result = Client::connect_with(addr, KEY.as_bytes(), strict);
    if py.is_legacy() {
        match result {
            Err(Error::Auth(message)) => {
                assert!(
                    message.contains("MD5"),
                    "{py}: the refusal should name the legacy digest: {message}"
                );
            }
            other => child.fail(format!(
                "strict connect to a 3.11 listener returned {other:?}, expected Err(Auth)"
            )),
        }
        // A strict client refuses to answer 3.11's MD5 challenge at all and
        // hangs up, so the listener sees the connection close.
        let out = child.finish();
        out.assert_success();
        out.assert_lines(&["PEER-CLOSED"]);
    } else {
        match result {
            Ok(client) => drop(client),
            Err(e) => child.fail(format!("strict Client::connect_with({addr}) failed: {e:?}")),
        }
        let out = child.finish();
        out.assert_success();
        out.assert_lines(&["ACCEPTED", "DONE"]);
    }
}

/// A Python 3.12+ server can challenge with any digest in its
/// `_ALLOWED_DIGESTS`; we answer `{md5}` and name the ones we do not implement.
/// (Python 3.11's `deliver_challenge` has no `digest_name`, so this scenario
/// does not exist there and has no 3.11 test.)
fn python_challenge_digests(py: &Python) {
    const UNSUPPORTED: [&str; 3] = ["sha384", "sha3_256", "sha3_384"];
    let mut args: Vec<&str> = UNSUPPORTED.to_vec();
    args.push("md5");
    let mut child = PyProcess::spawn(py, "digest server", PY_DIGEST_SERVER, &args);
    let addr = child.port_line();
    for digest in UNSUPPORTED {
        match Client::connect(addr, KEY.as_bytes()) {
            Err(Error::UnsupportedDigest(name)) if &*name == digest => {}
            other => child.fail(format!(
                "a {{{digest}}} challenge: Client::connect returned {other:?}, expected Err(UnsupportedDigest({digest:?}))"
            )),
        }
        // We hang up without answering; Python's recv_bytes sees the end.
        child.expect_line(&format!("{digest} EOF"));
    }
    match Client::connect(addr, KEY.as_bytes()) {
        Ok(client) => {
            child.expect_line("md5 ACCEPTED");
            drop(client);
        }
        Err(e) => child.fail(format!(
            "a {{md5}} challenge: Client::connect failed: {e:?}"
        )),
    }
    let out = child.finish();
    out.assert_success();
    out.assert_lines(&["md5 DONE"]);
}

// ---------------------------------------------------------------------------
// One test per scenario and interpreter.

/// `per_interpreter!(scenario: test => "version", ...)` defines a module named
/// after the scenario with one `#[test]` per listed interpreter.
macro_rules! per_interpreter {
    ($($scenario:ident: $($test:ident => $version:literal),+;)+) => {$(
        mod $scenario {
            $(
                #[test]
                fn $test() {
                    super::$scenario(&super::python($version));
                }
            )+
        }
    )+};
}

per_interpreter! {
    python_client_authenticates: py3_11 => "3.11", py3_12 => "3.12", py3_13 => "3.13";
    python_client_wrong_key_is_refused: py3_11 => "3.11", py3_12 => "3.12", py3_13 => "3.13";
    client_authenticates_to_python_listener: py3_11 => "3.11", py3_12 => "3.12", py3_13 => "3.13";
    client_wrong_key_against_python_listener: py3_11 => "3.11", py3_12 => "3.12", py3_13 => "3.13";
    strict_server_vs_python_client: py3_11 => "3.11", py3_12 => "3.12", py3_13 => "3.13";
    strict_client_vs_python_listener: py3_11 => "3.11", py3_12 => "3.12", py3_13 => "3.13";
    // 3.11 omitted: its deliver_challenge has no digest_name parameter.
    python_challenge_digests: py3_12 => "3.12", py3_13 => "3.13";
}

/// The versions spelled out above are exactly the ones `support::python` lists,
/// so a change there cannot silently leave an interpreter untested.
#[test]
fn tests_cover_every_common_version() {
    assert_eq!(support::python::VERSIONS, ["3.11", "3.12", "3.13"]);
}

// ---------------------------------------------------------------------------
// Helpers

/// One CPython interpreter.
#[derive(Debug)]
struct Python {
    version: String,
    path: PathBuf,
}

impl Python {
    /// Python 3.11 and older: challenges with 20 bare bytes and answers every
    /// challenge with a bare HMAC-MD5.
    fn is_legacy(&self) -> bool {
        self.version.starts_with("3.11.")
    }
}

impl std::fmt::Display for Python {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CPython {}", self.version)
    }
}

/// The interpreter of minor version `version` (`3.12`), looked up once per test binary. Panics (fails
/// the test) when pyenv or any interpreter is missing.
fn python(version: &str) -> Python {
    static ALL: OnceLock<Vec<(String, PathBuf)>> = OnceLock::new();
    let all = ALL.get_or_init(support::python::interpreters);
    let (version, path) = all
        .iter()
        .find(|(v, _)| support::python::minor_of(v) == version)
        .unwrap_or_else(|| panic!("CPython {version} is not among support::python::VERSIONS"));
    Python {
        version: version.clone(),
        path: path.clone(),
    }
}

/// A running server that is shut down when dropped, even by a failing test.
struct TestServer {
    running: Option<RunningServer>,
}

impl TestServer {
    fn start(config: Config) -> TestServer {
        let mut server = Server::with_config(KEY.as_bytes(), config);
        server.register("ping", || "pong".to_string());
        let running = server
            .bind("127.0.0.1:0")
            .expect("bind")
            .spawn()
            .expect("spawn");
        TestServer {
            running: Some(running),
        }
    }

    fn running(&self) -> &RunningServer {
        self.running.as_ref().expect("server already stopped")
    }

    fn port(&self) -> u16 {
        self.running()
            .local_addr()
            .as_tcp()
            .expect("a TCP address")
            .port()
    }

    /// Polls the counters until `ready` holds, failing after [`STATS_DEADLINE`].
    fn wait_for(&self, what: &str, ready: impl Fn(&Stats) -> bool) -> Stats {
        let until = Instant::now() + STATS_DEADLINE;
        loop {
            let stats = self.running().stats();
            if ready(&stats) {
                return stats;
            }
            if Instant::now() >= until {
                panic!("waited {STATS_DEADLINE:?} for {what}; the server's counters are {stats:?}");
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Shuts the server down and checks that it stopped cleanly.
    fn stop(mut self) {
        let running = self.running.take().expect("server already stopped");
        running.shutdown().expect("server shutdown");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.shutdown();
        }
    }
}

/// A Python child process (a `support::child::Proc`, killed and reaped when
/// dropped), with every stdout line it printed kept for failure messages.
struct PyProcess {
    proc: Option<support::child::Proc>,
    /// Every stdout line read so far.
    seen: Vec<String>,
    deadline: Instant,
}

/// What a Python child printed, and how it ended.
struct Finished {
    what: String,
    status: ExitStatus,
    /// Stdout lines not consumed before [`PyProcess::finish`].
    rest: Vec<String>,
    all: Vec<String>,
    stderr: String,
}

impl PyProcess {
    /// Runs `python -u -c script args...` with stdout and stderr piped.
    fn spawn(py: &Python, role: &str, script: &str, args: &[&str]) -> PyProcess {
        let mut cmd = Command::new(&py.path);
        cmd.arg("-u").arg("-c").arg(script).args(args);
        PyProcess {
            proc: Some(support::child::Proc::spawn(cmd, format!("{py} {role}"))),
            seen: Vec::new(),
            deadline: Instant::now() + CHILD_DEADLINE,
        }
    }

    fn proc(&self) -> &support::child::Proc {
        self.proc.as_ref().expect("the process is running")
    }

    /// The next stdout line; fails the test if none comes before the deadline.
    fn next_line(&mut self) -> String {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.proc().try_next_line(left) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => {
                self.fail("timed out waiting for a line of output".into())
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.fail("stdout closed while a line was expected".into())
            }
        }
    }

    fn expect_line(&mut self, expected: &str) {
        let line = self.next_line();
        if line != expected {
            self.fail(format!("expected the line {expected:?}, got {line:?}"));
        }
    }

    /// Reads the port a Python listener prints first.
    fn port_line(&mut self) -> SocketAddr {
        let line = self.next_line();
        match line.trim().parse::<u16>() {
            Ok(port) if port != 0 => SocketAddr::from(([127, 0, 0, 1], port)),
            _ => self.fail(format!(
                "expected a port number as the first line, got {line:?}"
            )),
        }
    }

    /// Kills the child and fails the test with everything it printed.
    fn fail(&mut self, message: String) -> ! {
        let out = self.proc.take().expect("the process is running").abort();
        self.seen.extend(out.stdout.lines().map(str::to_owned));
        panic!(
            "{}: {message}\n  exit: {:?}\n  stdout: {:?}\n  stderr:\n{}",
            out.what, out.status, self.seen, out.stderr
        );
    }

    /// Reads stdout to its end and reaps the child, all within the deadline.
    fn finish(mut self) -> Finished {
        let mut rest = Vec::new();
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.proc().try_next_line(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    rest.push(line);
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    self.fail("did not exit before the deadline".into())
                }
            }
        }
        // Stdout is closed: the process is exiting. Reap it, still bounded.
        let left = self.deadline.saturating_duration_since(Instant::now());
        let out = self
            .proc
            .take()
            .expect("the process is running")
            .output(left);
        Finished {
            what: out.what,
            status: out.status,
            rest,
            all: std::mem::take(&mut self.seen),
            stderr: out.stderr,
        }
    }
}

impl Finished {
    fn assert_success(&self) {
        assert!(
            self.status.success(),
            "{} exited with {}\n  stdout: {:?}\n  stderr:\n{}",
            self.what,
            self.status,
            self.all,
            self.stderr
        );
    }

    /// The lines printed after those already consumed are exactly `expected`.
    fn assert_lines(&self, expected: &[&str]) {
        assert_eq!(
            self.rest, expected,
            "{} printed unexpected output\n  stdout: {:?}\n  stderr:\n{}",
            self.what, self.all, self.stderr
        );
    }
}
