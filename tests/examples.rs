//! The examples run as the programs they are: `kv_store` and `view_counter`
//! in their demo, server and client modes, as separate processes.
//!
//! The example binaries are built once per test run with `cargo build
//! --examples`, in this test's profile and target directory, so a test never
//! runs a stale binary. Every child process is killed when its test ends,
//! whether it passes or fails, and every wait gives up after [`TIMEOUT`].

mod common;

use common::process::read_in_background;
mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn kv_store_demo_prints_the_posts_lines() {
    let out = run("kv_store", &[]);
    assert!(out.status.success(), "{out:#?}");
    assert_kv_store_lines(&out);
}

#[test]
fn kv_store_client_talks_to_a_server_process() {
    let (server, addr) = start_server("kv_store");

    let out = run("kv_store", &["client", "--addr", &addr]);
    assert!(out.status.success(), "{out:#?}");
    assert_kv_store_lines(&out);

    let out = run(
        "kv_store",
        &["client", "--addr", &addr, "--authkey", "wrong"],
    );
    assert!(!out.status.success(), "{out:#?}");
    assert!(out.stdout.is_empty(), "{out:#?}");
    assert!(
        out.stderr.starts_with("error: authentication failed"),
        "{out:#?}"
    );
    assert_eq!(out.stderr.lines().count(), 1, "{out:#?}");

    drop(server);
    let out = run("kv_store", &["client", "--addr", &addr]);
    assert!(!out.status.success(), "{out:#?}");
    assert!(
        out.stderr.starts_with("error: ") && out.stderr.contains("refused"),
        "{out:#?}"
    );
}

#[test]
fn bad_command_lines_exit_with_usage_and_code_2() {
    for (name, args) in [
        ("kv_store", &["serve"][..]),
        ("kv_store", &["client", "--port", "1"]),
        ("kv_store", &["server", "--addr"]),
        ("view_counter", &["--clients", "many"]),
        ("view_counter", &["server", "--iterations", "3"]),
        ("kv_store", &["client", "--strict"]),
        ("kv_store", &["--strict"]),
        ("view_counter", &["client", "--strict"]),
        ("view_counter", &["server", "--strict=yes"]),
    ] {
        let out = run(name, args);
        assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {out:#?}");
        assert!(out.stderr.contains("usage:"), "{name} {args:?}: {out:#?}");
    }
}

#[test]
fn view_counter_demo_counts_every_view() {
    let out = run("view_counter", &["--clients", "3", "--iterations", "50"]);
    assert!(out.status.success(), "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.contains(&"final count: 150"), "{out:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("300 calls in ") && l.ends_with(" from 3 processes")),
        "{out:#?}"
    );
}

#[test]
fn view_counter_clients_share_a_server_process() {
    let (server, addr) = start_server("view_counter");
    let clients: Vec<Proc> = (0..2)
        .map(|_| {
            start(
                "view_counter",
                &["client", "--addr", &addr, "--iterations", "100"],
            )
        })
        .collect();
    for client in clients {
        let out = finish(client);
        assert!(out.status.success(), "{out:#?}");
        let seen: i64 = out
            .stdout
            .trim()
            .strip_prefix("last count seen: ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{out:#?}"));
        assert!(
            (99..200).contains(&seen),
            "the last get of 100 sees 99..=199: {out:#?}"
        );
    }

    let out = run(
        "view_counter",
        &["client", "--addr", &addr, "--iterations", "0"],
    );
    assert!(out.status.success(), "{out:#?}");
    assert_eq!(out.stdout, "last count seen: 200\n", "{out:#?}");
    drop(server);
}

#[test]
fn tick_stream_delivers_every_tick_once_and_in_order() {
    let out = run("tick_stream", &["--producers", "2", "--ticks", "2000"]);
    assert!(out.status.success(), "{out:#?}");
    assert!(
        out.stdout.contains("4000 ticks in ")
            && out.stdout.contains("every one delivered once and in order"),
        "{out:#?}"
    );
    let (server, addr) = start_server("tick_stream");
    for producer in ["3", "4"] {
        let out = run(
            "tick_stream",
            &[
                "client",
                "--addr",
                &addr,
                "--producer",
                producer,
                "--ticks",
                "1500",
            ],
        );
        assert!(out.status.success(), "{out:#?}");
        let expected =
            format!("producer {producer}: 1500 of 1500 ticks, 0 out of order, checksum matches");
        assert!(out.stdout.contains(&expected), "{out:#?}");
    }
    drop(server);
}

/// Issue 3's acceptance: stock CPython 3.11, 3.12 and 3.13
/// `multiprocessing.connection.Client`s authenticate to `kv_store server`,
/// and `kv_store client` authenticates to stock `Listener`s.
#[test]
fn kv_store_and_stock_python_authenticate_to_each_other() {
    let (server, addr) = start_server("kv_store");
    let (host, port) = addr.rsplit_once(':').expect("HOST:PORT");
    for (version, python) in common::python::interpreters() {
        let script = format!(
            "import multiprocessing.connection as c, signal\n\
             signal.alarm(20)\n\
             conn = c.Client(('{host}', {port}), authkey=b'password')\n\
             print('AUTH-OK')\n\
             conn.close()\n\
             try:\n    c.Client(('{host}', {port}), authkey=b'wrong')\n\
             except c.AuthenticationError:\n    print('AUTH-FAIL')\n"
        );
        let out = python_output(&python, &["-c", &script]);
        assert_eq!(out.stdout, "AUTH-OK\nAUTH-FAIL\n", "{version}: {out:#?}");
    }
    drop(server);

    // The listener accepts one connection (the handshake is all it checks),
    // prints ACCEPTED and closes; kv_store client then fails at its first call.
    let listener = "import multiprocessing.connection as c, signal, sys\n\
                    signal.alarm(20)\n\
                    l = c.Listener(('127.0.0.1', 0), authkey=b'password')\n\
                    print(l.address[1], flush=True)\n\
                    conn = l.accept()\n\
                    print('ACCEPTED', flush=True)\n\
                    conn.close()\n";
    for (version, python) in common::python::interpreters() {
        let mut py = Command::new(&python)
            .args(["-c", listener])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start python");
        let mut lines = BufReader::new(py.stdout.take().expect("stdout is piped")).lines();
        let port = lines.next().and_then(|l| l.ok()).expect("listener port");
        let py = Proc {
            child: py,
            command: format!("{version} listener"),
        };
        let client = run(
            "kv_store",
            &["client", "--addr", &format!("127.0.0.1:{port}")],
        );
        let accepted = lines.next().and_then(|l| l.ok());
        assert_eq!(
            accepted.as_deref(),
            Some("ACCEPTED"),
            "{version}: {client:#?}"
        );
        // The listener closed after the handshake, so the first call fails cleanly.
        assert!(!client.status.success(), "{client:#?}");
        assert!(client.stderr.starts_with("error: "), "{client:#?}");
        drop(py);
    }
}

/// Issue 10: `server --strict` refuses the legacy HMAC-MD5 answer of
/// CPython 3.11 and older, and lets 3.12+ (HMAC-SHA256) in.
#[test]
fn example_servers_in_strict_mode_refuse_legacy_md5() {
    for name in ["kv_store", "view_counter"] {
        let (server, addr) = start_server_with(name, &["--strict"]);
        let (host, port) = addr.rsplit_once(':').expect("HOST:PORT");
        for (version, python) in common::python::interpreters() {
            let script = format!(
                "import multiprocessing.connection as c, signal\n\
                 signal.alarm(20)\n\
                 try:\n    c.Client(('{host}', {port}), authkey=b'password').close()\n\
                 except c.AuthenticationError:\n    print('REFUSED')\n\
                 else:\n    print('AUTH-OK')\n"
            );
            let out = python_output(&python, &["-c", &script]);
            let expected = if version.starts_with("3.11") {
                "REFUSED\n"
            } else {
                "AUTH-OK\n"
            };
            assert_eq!(out.stdout, expected, "{name} {version}: {out:#?}");
        }
        drop(server);
    }
}

/// Issue 7's acceptance: the post's stock Python clients, changed only in
/// their address, against the example servers, on every interpreter: the
/// output a Python server would give, and an exact count.
#[test]
fn the_posts_python_clients_run_against_the_example_servers() {
    use common::seeds::{SEED_KV_CLIENT, SEED_VIEW_CLIENT, seed_client};
    for (version, python) in common::python::interpreters() {
        // A fresh store each time: the post expects `get None` first.
        let (kv, addr) = start_server("kv_store");
        let port: u16 = addr.rsplit_once(':').unwrap().1.parse().unwrap();
        let script = seed_client(SEED_KV_CLIENT, port);
        let out = python_output(&python, &["-c", &script]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 4, "{version}: {out:#?}");
        assert_eq!(
            lines[..3],
            ["get None", "put None", "get 10"],
            "{version}: {out:#?}"
        );
        // Python prints the proxy through repr(): the string in quotes.
        assert!(
            lines[3].starts_with("get_uname \"posix.uname_result(sysname='"),
            "{version}: {out:#?}"
        );
        assert!(out.stderr.is_empty(), "{version}: {out:#?}");
        drop(kv);
    }
    let (views, addr) = start_server("view_counter");
    let port: u16 = addr.rsplit_once(':').unwrap().1.parse().unwrap();
    let mut expected = 0;
    for (version, python) in common::python::interpreters() {
        // Shortened: 2 processes x 20 iterations of get + inc.
        let script = seed_client(SEED_VIEW_CLIENT, port)
            .replace("range(1000)", "range(20)")
            .replace("list(range(5))", "list(range(2))");
        expected += 40;
        let out = python_output(&python, &["-c", &script]);
        let last = out.stdout.lines().last().unwrap_or_default();
        assert_eq!(last, expected.to_string(), "{version}: {out:#?}");
        assert!(out.stderr.is_empty(), "{version}: {out:#?}");
    }
    drop(views);
}

/// Runs a Python command to completion, at most [`TIMEOUT`].
fn python_output(python: &Path, args: &[&str]) -> Output {
    let child = Command::new(python)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    finish(Proc {
        child,
        command: format!("{} {}", python.display(), args.join(" ")),
    })
}

fn assert_kv_store_lines(out: &Output) {
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{out:#?}");
    assert_eq!(lines[..3], ["get None", "put None", "get 10"], "{out:#?}");
    assert!(
        lines[3].starts_with("get_uname posix.uname_result(sysname='"),
        "{out:#?}"
    );
}

/// A child process, killed (if still running) and reaped when dropped.
#[derive(Debug)]
struct Proc {
    child: Child,
    command: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished process left behind.
#[derive(Debug)]
#[allow(dead_code)] // `command` is read through `Debug`, in assertion messages.
struct Output {
    command: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Starts an example with piped stdout and stderr.
fn start(name: &str, args: &[&str]) -> Proc {
    let path = support::examples::example(name);
    let command = format!("{name} {}", args.join(" "));
    let child = Command::new(&path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    Proc { child, command }
}

/// Waits for a process to close its output and exit, at most [`TIMEOUT`].
fn finish(mut proc: Proc) -> Output {
    let (tx, rx) = mpsc::channel();
    read_in_background(
        proc.child.stdout.take().expect("stdout is piped"),
        0,
        tx.clone(),
    );
    read_in_background(proc.child.stderr.take().expect("stderr is piped"), 1, tx);
    let deadline = Instant::now() + TIMEOUT;
    let mut texts = [String::new(), String::new()];
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let (which, text) = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("`{}` did not finish in {TIMEOUT:?}", proc.command));
        texts[which] = text;
    }
    // Both pipes are closed, so the process has exited or is exiting.
    let status = proc.child.wait().expect("wait for the example");
    let [stdout, stderr] = texts;
    Output {
        command: proc.command.clone(),
        status,
        stdout,
        stderr,
    }
}

fn run(name: &str, args: &[&str]) -> Output {
    finish(start(name, args))
}

/// Starts `NAME server --addr 127.0.0.1:0` and returns it with the address
/// from its `listening on` line, which it prints once it accepts connections.
fn start_server(name: &str) -> (Proc, String) {
    start_server_with(name, &[])
}

/// As [`start_server`], with more options after `server`.
fn start_server_with(name: &str, options: &[&str]) -> (Proc, String) {
    let mut args = vec!["server", "--addr", "127.0.0.1:0"];
    args.extend_from_slice(options);
    let mut server = start(name, &args);
    let stdout = server.child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next());
        // Go on reading so that the server can never block on a full pipe.
        lines.for_each(drop);
    });
    let line = match rx.recv_timeout(TIMEOUT) {
        Ok(Some(Ok(line))) => line,
        other => panic!("`{}` printed no address: {other:?}", server.command),
    };
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"));
    let port: Option<u16> = addr.strip_prefix("127.0.0.1:").and_then(|p| p.parse().ok());
    assert!(
        port.is_some_and(|p| p != 0),
        "unexpected address in {line:?}"
    );
    let addr = addr.to_string();
    (server, addr)
}
