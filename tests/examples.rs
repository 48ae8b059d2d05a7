//! The examples run as the programs they are: `kv_store`, `view_counter` and
//! `tick_stream` in their demo, server and client modes, as separate
//! processes; every example answers `--help`.
//!
//! The example binaries are built once per test run with `cargo build
//! --examples`, in this test's profile and target directory, so a test never
//! runs a stale binary. Every child process is killed when its test ends,
//! whether it passes or fails, and every wait gives up after [`TIMEOUT`].

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::child::{self, Output, Proc};

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

/// Issue 14: `tick_stream client` run again, or twice at once, against one
/// server, each as producer 0, is not mistaken for lost or duplicated
/// ticks: every run draws its own run id.
#[test]
fn tick_stream_runs_against_one_server_are_told_apart() {
    let (server, addr) = start_server("tick_stream");
    let args = ["client", "--addr", &addr, "--ticks", "1000"];
    let mut outs = vec![run("tick_stream", &args), run("tick_stream", &args)];
    let at_once: Vec<Proc> = (0..2).map(|_| start("tick_stream", &args)).collect();
    outs.extend(at_once.into_iter().map(finish));
    let mut runs = Vec::new();
    for out in &outs {
        assert!(out.status.success(), "{out:#?}");
        assert!(
            out.stdout
                .contains("producer 0: 1000 of 1000 ticks, 0 out of order, checksum matches"),
            "{out:#?}"
        );
        let run_line = out
            .stdout
            .lines()
            .find(|l| l.starts_with("run ") && l.ends_with(", producer 0"))
            .unwrap_or_else(|| panic!("no run id: {out:#?}"));
        runs.push(run_line.to_owned());
    }
    runs.sort();
    runs.dedup();
    assert_eq!(runs.len(), 4, "run ids repeat: {runs:?}");
    drop(server);
}

/// Issue 14: every example (every file in `examples/`) answers `--help` and
/// `-h` with its usage on stdout and exit status 0, as do the subcommands.
#[test]
fn every_example_answers_help() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 6, "{names:?}");
    let mut commands: Vec<(&str, Vec<&str>)> = Vec::new();
    for name in &names {
        commands.push((name, vec!["--help"]));
        commands.push((name, vec!["-h"]));
    }
    for name in ["kv_store", "view_counter", "tick_stream"] {
        commands.push((name, vec!["server", "--help"]));
        commands.push((name, vec!["client", "--help"]));
    }
    for (name, args) in commands {
        let out = run(name, &args);
        assert_eq!(out.status.code(), Some(0), "{out:#?}");
        assert!(
            out.stdout.starts_with(&format!("usage: {name}")),
            "{out:#?}"
        );
        assert!(out.stderr.is_empty(), "{out:#?}");
    }
}

/// Issue 3's acceptance: stock CPython 3.11, 3.12 and 3.13
/// `multiprocessing.connection.Client`s authenticate to `kv_store server`,
/// and `kv_store client` authenticates to stock `Listener`s.
#[test]
fn kv_store_and_stock_python_authenticate_to_each_other() {
    let (server, addr) = start_server("kv_store");
    let (host, port) = addr.rsplit_once(':').expect("HOST:PORT");
    for (version, python) in support::python::interpreters() {
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
    for (version, python) in support::python::interpreters() {
        let mut cmd = Command::new(&python);
        cmd.args(["-c", listener]);
        let py = Proc::spawn(cmd, format!("{version} listener"));
        let port = py.next_line(TIMEOUT);
        let client = run(
            "kv_store",
            &["client", "--addr", &format!("127.0.0.1:{port}")],
        );
        let accepted = py.next_line(TIMEOUT);
        assert_eq!(accepted, "ACCEPTED", "{version}: {client:#?}");
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
        for (version, python) in support::python::interpreters() {
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
    use support::basemanager_example::{KV_CLIENT, VIEW_CLIENT, client_for_port};
    for (version, python) in support::python::interpreters() {
        // A fresh store each time: the post expects `get None` first.
        let (kv, addr) = start_server("kv_store");
        let port: u16 = addr.rsplit_once(':').unwrap().1.parse().unwrap();
        let script = client_for_port(KV_CLIENT, port);
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
    for (version, python) in support::python::interpreters() {
        // Shortened: 2 processes x 20 iterations of get + inc.
        let script = client_for_port(VIEW_CLIENT, port)
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
    let mut cmd = Command::new(python);
    cmd.args(args);
    child::run(
        cmd,
        format!("{} {}", python.display(), args.join(" ")),
        TIMEOUT,
    )
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

/// Starts an example with piped stdout and stderr.
fn start(name: &str, args: &[&str]) -> Proc {
    let mut cmd = Command::new(support::examples::example(name));
    cmd.args(args);
    Proc::spawn(cmd, format!("{name} {}", args.join(" ")))
}

/// Waits for a process to close its output and exit, at most [`TIMEOUT`].
fn finish(proc: Proc) -> Output {
    proc.output(TIMEOUT)
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
    let server = start(name, &args);
    let line = server.next_line(TIMEOUT);
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

/// Issue 14 item 4: `rpc`, the command-line client, lists a server's methods
/// with their signatures and calls one with literal arguments.
#[test]
fn rpc_lists_and_calls_the_methods_of_a_server_process() {
    let (server, addr) = start_server("kv_store");
    let out = run("rpc", &["--addr", &addr, "--authkey", "password", "list"]);
    assert!(out.status.success(), "{out:#?}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l == "Kv.get (String) -> Option<i64>"),
        "{out:#?}"
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l == "Kv.put (String, i64) -> ()"),
        "{out:#?}"
    );
    let call = |args: &[&str]| {
        let mut all = vec!["--addr", &addr, "call"];
        all.extend_from_slice(args);
        run("rpc", &all)
    };
    let out = call(&["Kv.get", "\"a\""]);
    assert_eq!(out.stdout.trim(), "null", "{out:#?}");
    let out = call(&["Kv.put", "\"a\"", "-7"]);
    assert_eq!(out.stdout.trim(), "null", "{out:#?}");
    let out = call(&["Kv.get", "\"a\""]);
    assert_eq!(out.stdout.trim(), "-7", "{out:#?}");
    // A literal that does not fit the signature is a usage error.
    let out = call(&["Kv.get", "5"]);
    assert_eq!(out.status.code(), Some(2), "{out:#?}");
    let out = call(&["Kv.nope"]);
    assert!(!out.status.success(), "{out:#?}");
    assert!(out.stderr.contains("no method named"), "{out:#?}");
    drop(server);
}

/// Issue 16: `child_worker` spreads calls over worker processes of itself
/// on their stdin and stdout, gets every result right, and a worker that
/// dies mid-call is an error in the parent, not a hang.
#[test]
fn child_worker_calls_workers_over_pipes_and_survives_a_crash() {
    let out = run("child_worker", &["--workers", "3", "--calls", "3000"]);
    assert!(out.status.success(), "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0], "3 workers, 3000 calls: sum of squares 8995500500 (expected 8995500500)",
        "{out:#?}"
    );
    assert!(lines[1].starts_with("3000 calls in "), "{out:#?}");
    assert_eq!(
        lines[2], "a worker that crashed mid-call: connection closed",
        "{out:#?}"
    );
    // Run by hand, a worker refuses a stdin without the preamble.
    let mut worker = start("child_worker", &["worker"]);
    drop(worker.take_stdin());
    let out = finish(worker);
    assert!(!out.status.success(), "{out:#?}");
    assert!(
        out.stderr.contains("does not start with a worker preamble"),
        "{out:#?}"
    );
}
