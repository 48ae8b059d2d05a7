//! Python's `multiprocessing.managers` against stdrpc, with real CPython
//! 3.11, 3.12 and 3.13, both ways:
//!
//! * the seed programs' stock Python clients (the blog post "Simplest Python
//!   RPC", `../shared/seeds/004_*.txt`), changed only in their address,
//!   against an in-process `stdrpc::Server` registering the same functions;
//! * errors, reference counts and the object-type fast path, from Python;
//! * `stdrpc::python::Manager` against a stock Python `BaseManager` server running
//!   the seed's server code.
//!
//! Every Python process runs under `signal.alarm` and in its own process
//! group, killed with its children if the test ends first; every wait has a
//! deadline. Everything listens on 127.0.0.1, port 0.

#![cfg(unix)]

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::basemanager_example::{KV_CLIENT, VIEW_CLIENT, client_for_port};
use support::child::{Output, Proc};
use support::python::SERVER_CALL;

/// The longest any Python process may run (its alarm fires a little later,
/// as a second line of defence).
const TIMEOUT: Duration = Duration::from_secs(120);

use stdrpc::python::{Manager, Value};
use stdrpc::{Config, Error, RemoteKind, RunningServer, Server};

/// The seed's KV store server, verbatim.
const SEED_KV_SERVER: &str = r#"from multiprocessing.managers import BaseManager as Manager
import os

# インメモリのKVSを想定
obj = {}
def get(k):
    print('get', k)
    return obj.get(k)

def put(k, v):
    obj[k] = v
    print('put', k,v)

# serverのunameを取得(LinuxとかMacOSとかわかる関数)
def get_uname():
    print('get_uname')
    return str(os.uname())

if __name__ == "__main__":
    port_num = 4343
    Manager.register("get", get) # 待受に使う関数を登録
    Manager.register("put", put)
    Manager.register("get_uname", get_uname)
    manager = Manager(("", port_num), authkey=b"password") # ホスト名を空白にすることで任意の箇所から命令を受け入れられる。パスワードが設定できる
    manager.start()
    input("Press any key to kill server".center(50, "-")) # なにか入力したら終了
    manager.shutdown()
"#;

/// Runs a script as `__main__` under an alarm: the script itself stays
/// exactly as written.
const RUNNER: &str = "import runpy, signal, sys\n\
signal.alarm(int(sys.argv[1]))\n\
sys.argv = sys.argv[2:]\n\
runpy.run_path(sys.argv[0], run_name='__main__')\n";

/// The seed's view counter, shortened to `procs` processes of `loops`
/// iterations.
fn short_view_client(port: u16, procs: usize, loops: usize) -> String {
    client_for_port(VIEW_CLIENT, port)
        .replace("range(1000)", &format!("range({loops})"))
        .replace("list(range(5))", &format!("list(range({procs}))"))
}

fn port_of(running: &RunningServer) -> u16 {
    running.local_addr().as_tcp().expect("a TCP address").port()
}

/// Starts `server` on 127.0.0.1, port 0; returns it running, with its port.
fn start(server: Server) -> (RunningServer, u16) {
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let port = port_of(&running);
    (running, port)
}

// ---------------------------------------------------------------------------
// Python processes

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stdrpc-python-manager-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// Writes `source` to a file and starts it with `python` under [`RUNNER`],
/// in a process group of its own (killed whole if the test ends first).
fn start_script(python: &Path, name: &str, source: &str, args: &[&str]) -> Proc {
    static N: AtomicU64 = AtomicU64::new(0);
    let path = scratch_dir().join(format!("{name}_{}.py", N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, source).expect("write the script");
    let alarm = (TIMEOUT.as_secs() + 10).to_string();
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(RUNNER).arg(&alarm).arg(&path).args(args);
    Proc::spawn_group(cmd, format!("{name} with {}", python.display()))
}

fn run_script(python: &Path, name: &str, source: &str, args: &[&str]) -> Output {
    start_script(python, name, source, args).output(TIMEOUT)
}

/// Asserts a clean exit with nothing on stderr.
fn assert_clean(out: &Output) {
    assert!(out.status.success(), "{out:#?}");
    assert!(out.stderr.trim().is_empty(), "{out:#?}");
}

/// `number_of_objects` and `debug_info` of a manager server, asked by a
/// stock Python client.
fn python_object_count(python: &Path, port: u16) -> (usize, String) {
    let script = "import sys\n\
from multiprocessing.managers import BaseManager\n\
m = BaseManager(address=('127.0.0.1', int(sys.argv[1])), authkey=b'password')\n\
m.connect()\n\
print(m._number_of_objects())\n\
print(repr(m._debug_info()))\n";
    let out = run_script(python, "count", script, &[&port.to_string()]);
    assert_clean(&out);
    let mut lines = out.stdout.lines();
    let n = lines
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("{out:#?}"));
    (n, lines.next().unwrap_or_default().to_owned())
}

// ---------------------------------------------------------------------------
// Servers of ours

/// The seed's KV store as closures: `get`, `put`, `get_uname`.
fn kv_server(config: Config) -> Server {
    let store = Arc::new(Mutex::new(HashMap::<String, i64>::new()));
    let mut server = Server::with_config(b"password", config);
    let s = Arc::clone(&store);
    server.register("get", move |k: String| s.lock().unwrap().get(&k).copied());
    let s = Arc::clone(&store);
    server.register("put", move |k: String, v: i64| {
        s.lock().unwrap().insert(k, v);
    });
    server.register("get_uname", || {
        "posix.uname_result(sysname='Linux', nodename='stdrpc', release='test')".to_string()
    });
    server
}

/// The seed's view counter as closures: `get` (creating the key at 0) and `inc`.
fn view_server() -> Server {
    let views = Arc::new(Mutex::new(HashMap::<String, i64>::new()));
    let mut server = Server::new(b"password");
    let v = Arc::clone(&views);
    server.register("get", move |k: String| {
        *v.lock().unwrap().entry(k).or_insert(0)
    });
    let v = Arc::clone(&views);
    server.register("inc", move |k: String| {
        match v.lock().unwrap().get_mut(&k) {
            Some(n) => {
                *n += 1;
                Ok(())
            }
            None => Err(format!("KeyError: {k:?}")),
        }
    });
    server
}

fn interpreters() -> Vec<(String, PathBuf)> {
    support::python::interpreters()
}

// ---------------------------------------------------------------------------
// Stock Python clients against our server

#[test]
fn seed_kv_client_gets_the_posts_output() {
    let (running, port) = start(kv_server(Config::default()));
    for (version, python) in interpreters() {
        let out = run_script(&python, "kv_client", &client_for_port(KV_CLIENT, port), &[]);
        assert_clean(&out);
        let lines: Vec<&str> = out.stdout.lines().collect();
        // `put` stored 10 the first time; later interpreters find it there.
        let first = if version.starts_with("3.11.") {
            "get None"
        } else {
            "get 10"
        };
        assert_eq!(lines.len(), 4, "{version}: {out:#?}");
        assert_eq!(
            lines[..3],
            [first, "put None", "get 10"],
            "{version}: {out:#?}"
        );
        assert_eq!(
            lines[3],
            "get_uname \"posix.uname_result(sysname='Linux', nodename='stdrpc', release='test')\"",
            "{version}"
        );
        // Every proxy was released when the client exited.
        assert_eq!(
            python_object_count(&python, port),
            (0, "''".to_owned()),
            "{version}"
        );
    }
    running.shutdown().unwrap();
}

#[test]
fn seed_view_counter_counts_exactly_and_leaks_nothing() {
    for (version, python) in interpreters() {
        let (running, port) = start(view_server());
        let out = run_script(&python, "view_client", &short_view_client(port, 2, 50), &[]);
        assert_clean(&out);
        // The workers print the counts they see, unbuffered, into one pipe
        // (their lines may interleave): digits only, no exception message.
        let clean = out.stdout.chars().all(|c| c.is_ascii_digit() || c == '\n');
        assert!(clean, "{version}: {out:#?}");
        assert_eq!(
            out.stdout.lines().last(),
            Some("100"),
            "{version}: {out:#?}"
        );
        assert_eq!(python_object_count(&python, port).0, 0, "{version}");
        // And our own client agrees.
        let manager = Manager::connect(running.local_addr(), b"password").unwrap();
        assert_eq!(manager.number_of_objects().unwrap(), 0);
        running.shutdown().unwrap();
    }
}

/// Failures reach Python as `RemoteError` (or, for a builtin method that
/// raises, the exception itself) with a message that says what happened.
#[test]
fn errors_reach_python_with_useful_messages() {
    let mut server = kv_server(Config::default());
    server.register("fail", || -> Result<i64, String> {
        Err("the handler said no".into())
    });
    server.register("explode", || -> i64 { panic!("kaboom") });
    server.register("text", || "abc".to_string());
    server.register("table", || HashMap::from([("a".to_string(), 1i64)]));
    let (running, port) = start(server);
    let head = r#"import sys
from multiprocessing.managers import BaseManager, RemoteError, dispatch
for name in ("get", "nope", "fail", "explode", "text", "table"):
    BaseManager.register(name)
m = BaseManager(address=("127.0.0.1", int(sys.argv[1])), authkey=b"password")
m.connect()

def attempt(label, f):
    try:
        result = f()
    except RemoteError as e:
        text = str(e).replace("\n", " | ")
        print(f"{label}: RemoteError: {text}")
    except Exception as e:
        print(f"{label}: {type(e).__name__}: {e}")
    else:
        print(f"{label}: ok {result!r}")

"#;
    let tail = r#"
attempt("unknown-typeid", lambda: m.nope())
attempt("wrong-arg-count", lambda: m.get("a", "b"))
attempt("wrong-arg-type", lambda: m.get(1))
attempt("handler-error", lambda: m.fail())
attempt("handler-panic", lambda: m.explode())
attempt("keywords", lambda: m.get(k="a"))
t = m.text()
attempt("unexposed", lambda: t._callmethod("nope"))
attempt("builtin-raises", lambda: t.index("z"))
attempt("builtin-ok", lambda: (t.upper(), t.find("c"), len(t), t[1], "b" in t))
d = m.table()
attempt("dict", lambda: (d.get("a"), d["a"], d.keys(), len(d)))
attempt("dict-missing", lambda: d["zz"])
attempt("getvalue", lambda: d._getvalue())
attempt("shutdown", lambda: server_call("shutdown"))
attempt("unknown-function", lambda: server_call("frobnicate"))
attempt("decref-unknown", lambda: server_call("decref", "ffff"))
attempt("count", lambda: server_call("number_of_objects"))
attempt("get-methods", lambda: server_call("get_methods", d._token))
attempt("debug-info", lambda: server_call("debug_info").replace("\n", " | "))
del t, d
import gc; gc.collect()  # a raised exception's traceback cycle held a proxy
attempt("count-after", lambda: server_call("number_of_objects"))
"#;
    let script = [head, SERVER_CALL, tail].concat();
    for (version, python) in interpreters() {
        let out = run_script(&python, "errors", &script, &[&port.to_string()]);
        assert!(out.status.success(), "{version}: {out:#?}");
        let lines: HashMap<&str, &str> = out
            .stdout
            .lines()
            .filter_map(|l| l.split_once(": "))
            .collect();
        let expect = |label: &str, parts: &[&str]| {
            let line = lines
                .get(label)
                .unwrap_or_else(|| panic!("{version}: no {label}: {out:#?}"));
            for part in parts {
                assert!(
                    line.contains(part),
                    "{version}: {label}: {line:?} lacks {part:?}"
                );
            }
        };
        expect(
            "unknown-typeid",
            &["RemoteError", "KeyError", "'nope' is not registered"],
        );
        expect("wrong-arg-count", &["RemoteError", "TypeError", "get()"]);
        expect("wrong-arg-type", &["RemoteError", "TypeError", "get()"]);
        expect(
            "handler-error",
            &["RemoteError", "RuntimeError", "the handler said no"],
        );
        expect("handler-panic", &["RemoteError", "panicked", "kaboom"]);
        expect("keywords", &["RemoteError", "TypeError", "keyword"]);
        expect(
            "unexposed",
            &["RemoteError", "AttributeError", "'nope'", "not in exposed"],
        );
        expect("builtin-raises", &["ValueError: substring not found"]);
        expect("builtin-ok", &["ok ('ABC', 2, 3, 'b', True)"]);
        expect("dict", &["ok (1, 1, ['a'], 1)"]);
        expect("dict-missing", &["KeyError: 'zz'"]);
        expect("getvalue", &["ok {'a': 1}"]);
        expect(
            "shutdown",
            &["RemoteError", "does not let Python clients shut it down"],
        );
        expect(
            "unknown-function",
            &["RemoteError", "AssertionError", "'frobnicate' unrecognized"],
        );
        expect("decref-unknown", &["RemoteError", "KeyError: 'ffff'"]);
        expect("count", &["ok 2"]);
        expect(
            "get-methods",
            &["ok ('__contains__', '__getitem__', '__len__', 'copy', 'get',"],
        );
        expect(
            "debug-info",
            // In the idents' order, which is random.
            &["refcount=1 |     abc", "refcount=1 |     {'a': 1}"],
        );
        expect("count-after", &["ok 0"]);
    }
    // The refused shutdown left the server running.
    assert!(Manager::connect(running.local_addr(), b"password").is_ok());
    running.shutdown().unwrap();
}

/// The methods our referents expose give what Python's own methods give:
/// each call through a proxy is compared with the same call on a local copy
/// of the value (result and type, or the exception's type).
#[test]
fn referent_methods_match_python() {
    use std::collections::{BTreeMap, BTreeSet};
    let mut server = Server::new(b"password");
    server.register("text", || "Hello, héllo wörld  ".to_string());
    server.register("blob", || b"abc\x00abc\xff".to_vec());
    server.register("num", || 10i64);
    server.register("neg", || -1234567i64);
    server.register("big", || u128::MAX);
    server.register("flag", || true);
    server.register("flt", || 0.1f64);
    server.register("whole", || -2.0f64);
    server.register("tup", || (1i64, "a".to_string(), 1.0f64));
    server.register("lst", || vec![3i64, 1, 3, 2]);
    server.register("dct", || {
        BTreeMap::from([("a".to_string(), 1i64), ("b".to_string(), 2)])
    });
    server.register("st", || BTreeSet::from([1i64, 2, 3]));
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let script = r#"import sys
from multiprocessing.managers import BaseManager
names = ["text", "blob", "num", "neg", "big", "flag", "flt", "whole", "tup", "lst", "dct", "st"]
for n in names:
    BaseManager.register(n)
m = BaseManager(address=("127.0.0.1", int(sys.argv[1])), authkey=b"password")
m.connect()
S = "Hello, héllo wörld  "
cases = {
    "text": [("__len__",), ("__getitem__", 8), ("__getitem__", -1), ("__getitem__", 99), ("__getitem__", "x"),
             ("__contains__", "llo"), ("__contains__", 1), ("count", "l"), ("count", "l", 4, -3), ("count", ""),
             ("find", "wö"), ("find", "l", -9), ("find", "", 99), ("rfind", "l"), ("rfind", "l", 0, 5),
             ("index", "zz"), ("rindex", "o"), ("startswith", ("x", "He")), ("startswith", "llo", 2),
             ("endswith", "  "), ("endswith", 3), ("encode",), ("encode", "latin-1"), ("encode", "ascii"),
             ("encode", "ascii", "replace"), ("encode", "ascii", "ignore"), ("isascii",), ("join", ["a", "b"]),
             ("join", "xyz"), ("join", [1]), ("lower",), ("upper",), ("strip",), ("strip", "H "),
             ("lstrip", "Hel"), ("rstrip",), ("removeprefix", "Hello"), ("removesuffix", "x"),
             ("replace", "l", "L"), ("replace", "l", "L", 2), ("replace", "", "-", 3), ("split",),
             ("split", "l"), ("split", None, 1), ("split", "l", 2), ("split", ""), ("find",), ("find", "a", "b")],
    "blob": [("__len__",), ("__getitem__", 3), ("__getitem__", -1), ("__contains__", 0), ("__contains__", b"ca"),
             ("__contains__", 256), ("count", b"abc"), ("count", 97), ("decode", "latin-1"), ("decode",),
             ("decode", "utf-8", "replace"), ("decode", "utf-8", "ignore"), ("decode", "ascii"),
             ("endswith", b"\xff"), ("find", b"c"), ("find", 99, 3), ("hex",), ("index", b"q"), ("isascii",),
             ("lower",), ("upper",), ("rfind", b"abc"), ("rindex", 0), ("startswith", (b"x", b"ab"))],
    "num": [("as_integer_ratio",), ("bit_count",), ("bit_length",), ("conjugate",), ("is_integer",),
            ("to_bytes",), ("to_bytes", 2, "little"), ("to_bytes", 1, "big"), ("to_bytes", -1, "big"),
            ("from_bytes", b"\x01\x00"), ("from_bytes", b"\x01\x00", "little"), ("from_bytes", [255, 1]),
            ("from_bytes", b"\xff", "middle")],
    "neg": [("as_integer_ratio",), ("bit_count",), ("bit_length",), ("conjugate",), ("to_bytes", 4, "big"),
            ("to_bytes", 3, "little"), ("from_bytes", b"\\x80", "big"), ("is_integer",)],
    "big": [("bit_length",), ("bit_count",), ("conjugate",), ("as_integer_ratio",), ("to_bytes", 16, "big"),
            ("to_bytes", 15, "big"), ("from_bytes", b"\\x01" * 20), ("is_integer",)],
    "flag": [("conjugate",), ("bit_length",), ("bit_count",), ("is_integer",), ("as_integer_ratio",), ("to_bytes",), ("from_bytes", b"\x00")],
    "flt": [("as_integer_ratio",), ("conjugate",), ("hex",), ("is_integer",), ("fromhex", "0x1.8p1"),
            ("fromhex", " -0X.1P-3 "), ("fromhex", "1e"), ("fromhex", "inf")],
    "whole": [("as_integer_ratio",), ("is_integer",), ("hex",), ("conjugate",), ("fromhex", "-0x1p-1074")],
    "tup": [("__len__",), ("__getitem__", 1), ("__getitem__", 3), ("__contains__", 1.0), ("count", 1),
            ("index", "a"), ("index", 1, 1), ("index", "zz")],
    "lst": [("__len__",), ("__getitem__", -1), ("__contains__", 2), ("copy",), ("count", 3), ("index", 3, 1),
            ("index", 9), ("__getitem__", "a")],
    "dct": [("__len__",), ("__getitem__", "a"), ("__getitem__", "z"), ("__contains__", "b"),
            ("__contains__", []), ("copy",), ("get", "a"), ("get", "z"), ("get", "z", 5), ("items",),
            ("keys",), ("values",)],
    "st": [("__len__",), ("__contains__", 2), ("__contains__", 2.0), ("__contains__", []), ("copy",),
           ("difference", [1]), ("difference", [1], (2,)), ("intersection", [2, 3, 4]), ("isdisjoint", [7]),
           ("issubset", [0, 1, 2, 3, 4]), ("issuperset", [1, 1]), ("symmetric_difference", [3, 4]),
           ("union", [4], {5}), ("union", 1)],
}
kw_cases = {
    "num": [("to_bytes", (2,), {"byteorder": "little", "signed": True}), ("from_bytes", (b"\xff",), {"signed": True})],
    "neg": [("to_bytes", (4, "little"), {"signed": True})],
    "text": [("split", (), {"sep": "l", "maxsplit": 1}), ("encode", (), {"encoding": "ascii", "errors": "replace"})],
}

def outcome(f):
    try:
        r = f()
    except Exception as e:
        return ("raises", type(e).__name__)
    if isinstance(r, (dict.__class__,)):
        pass
    if type(r).__name__ in ("dict_keys", "dict_values", "dict_items"):
        r = list(r)
    return ("returns", type(r).__name__, r)

bad = 0
total = 0
for name in names:
    proxy = getattr(m, name)()
    local = proxy._getvalue()
    calls = [(c[0], tuple(c[1:]), {}) for c in cases[name]] + kw_cases.get(name, [])
    for meth, args, kw in calls:
        if not hasattr(local, meth):
            continue  # int.is_integer, new in 3.12, answered for 3.11 clients too
        total += 1
        want = outcome(lambda: getattr(local, meth)(*args, **kw))
        got = outcome(lambda: proxy._callmethod(meth, args, kw))
        if want != got:
            bad += 1
            print(f"MISMATCH {name}.{meth}{args}{kw}: python {want!r}, stdrpc {got!r}")
    missing = [x for x in proxy._exposed_ if x not in [c[0] for c in calls]]
    if missing:
        print(f"UNTESTED {name}: {missing}")
print(f"{total} calls, {bad} mismatches")
"#;
    for (version, python) in interpreters() {
        let out = run_script(
            &python,
            "methods",
            script,
            &[&port_of(&running).to_string()],
        );
        assert_clean(&out);
        assert!(
            out.stdout.trim_end().ends_with(" 0 mismatches"),
            "{version}: {}",
            out.stdout
        );
    }
    running.shutdown().unwrap();
}

#[test]
fn python_may_shut_the_server_down_when_allowed() {
    for (version, python) in interpreters() {
        let config = Config::default().allow_python_shutdown(true);
        let (running, port) = start(kv_server(config));
        let script = r#"import sys
from multiprocessing.managers import BaseManager, dispatch
m = BaseManager(address=("127.0.0.1", int(sys.argv[1])), authkey=b"password")
m.connect()
conn = m._Client(m.address, authkey=m._authkey)
print(dispatch(conn, None, "shutdown"))
"#;
        let out = run_script(&python, "shutdown", script, &[&port.to_string()]);
        assert_clean(&out);
        assert_eq!(out.stdout.trim(), "None", "{version}");
        // The server stops by itself.
        running.join().unwrap();
    }
}

/// The fast path: handlers registered as `Counter.get` and `Counter.inc`
/// make `Counter` an object type; a proxy calls them on one persistent
/// connection, however many calls it makes.
#[test]
fn object_types_serve_proxies_on_one_connection() {
    let views = Arc::new(Mutex::new(HashMap::<String, i64>::new()));
    let mut server = Server::new(b"password");
    let v = Arc::clone(&views);
    server.register("Counter.get", move |k: String| {
        *v.lock().unwrap().entry(k).or_insert(0)
    });
    let v = Arc::clone(&views);
    server.register("Counter.inc", move |k: String| {
        *v.lock().unwrap().entry(k).or_insert(0) += 1;
    });
    server.register("Counter.fail", || -> Result<(), String> {
        Err("no such luck".into())
    });
    let (running, port) = start(server);
    let script = r#"import sys
from multiprocessing.managers import BaseManager, RemoteError
BaseManager.register("Counter")
m = BaseManager(address=("127.0.0.1", int(sys.argv[1])), authkey=b"password")
m.connect()
counter = m.Counter()
print(type(counter).__name__, counter._exposed_)
for _ in range(500):
    counter.inc("hikakin")
print(counter.get("hikakin"))
print(counter)
try:
    counter.fail()
except RemoteError as e:
    print("fail:", str(e).strip().splitlines()[-2])
try:
    counter._getvalue()
except RemoteError as e:
    print("getvalue: RemoteError")
"#;
    let mut expected_total = 0;
    for (version, python) in interpreters() {
        let accepted_before = running.stats().accepted;
        let out = run_script(&python, "counter", script, &[&port.to_string()]);
        assert_clean(&out);
        expected_total += 500;
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            lines,
            [
                "AutoProxy[Counter] ('fail', 'get', 'inc')",
                &expected_total.to_string(),
                "<stdrpc object 'Counter'>",
                "fail: RuntimeError: no such luck",
                "getvalue: RemoteError",
            ],
            "{version}: {out:#?}"
        );
        // connect, create, incref, decref, accept_connection, final decref:
        // a handful of connections for 500 calls.
        let connections = running.stats().accepted - accepted_before;
        assert!(connections <= 8, "{version}: {connections} connections");
        assert_eq!(python_object_count(&python, port).0, 0, "{version}");
    }
    running.shutdown().unwrap();
}

// ---------------------------------------------------------------------------
// Our client against a stock Python server

/// The seed's KV server on 127.0.0.1, port 0, printing its port once
/// started; the rest is as written.
fn seed_server_source() -> String {
    SEED_KV_SERVER
        .replace("port_num = 4343", "port_num = 0")
        .replace(
            "Manager((\"\", port_num)",
            "Manager((\"127.0.0.1\", port_num)",
        )
        .replace(
            "    manager.start()\n",
            "    manager.start()\n    print(manager.address[1], flush=True)\n",
        )
}

/// A stock Python manager server, with its port and the pipe that stops it.
struct PyServer {
    py: Option<Proc>,
    stdin: Option<ChildStdin>,
    port: u16,
}

impl PyServer {
    fn start(python: &Path, source: &str) -> PyServer {
        let mut py = start_script(python, "server", source, &[]);
        let stdin = py.take_stdin();
        let first = py.next_line(TIMEOUT);
        let port = first
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("not a port: {first:?}"));
        PyServer {
            py: Some(py),
            stdin,
            port,
        }
    }

    /// Presses the key the server waits for, and returns the rest of its
    /// output once it has exited.
    fn stop(mut self) -> String {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let py = self.py.take().expect("running");
        py.output(TIMEOUT).stdout
    }
}

#[test]
fn rust_client_uses_a_stock_python_server() {
    for (version, python) in interpreters() {
        let server = PyServer::start(&python, &seed_server_source());
        let manager = Manager::connect(("127.0.0.1", server.port), b"password").unwrap();

        let missing = manager.create("get", "a").unwrap();
        assert_eq!(missing.exposed(), [] as [String; 0], "{version}");
        assert_eq!(missing.repr().unwrap(), "None");
        assert_eq!(missing.value().unwrap(), Value::None);
        let put = manager.create("put", ("a", 10)).unwrap();
        assert_eq!(put.repr().unwrap(), "None");
        let ten = manager.create("get", "a").unwrap();
        assert!(ten.exposed().iter().any(|m| m == "conjugate"), "{version}");
        assert_eq!(ten.call_as::<i64>("conjugate", ()).unwrap(), 10);
        assert_eq!(ten.call("bit_length", ()).unwrap(), Value::Int(4));
        assert_eq!(
            ten.call("to_bytes", (2, "big")).unwrap(),
            Value::Bytes(vec![0, 10])
        );
        assert_eq!(ten.value_as::<i64>().unwrap(), 10);
        let uname = manager.create("get_uname", ()).unwrap();
        let text: String = uname.value_as().unwrap();
        assert!(text.starts_with("posix.uname_result(sysname="), "{text}");
        assert_eq!(
            uname.call_as::<String>("upper", ()).unwrap(),
            text.to_uppercase()
        );

        // A method that raises, and one that is not exposed.
        let e = uname.call("index", "no such text").unwrap_err();
        assert_eq!(e.remote_kind(), Some(RemoteKind::Handler), "{e}");
        assert!(
            e.to_string().contains("ValueError('substring not found')"),
            "{e}"
        );
        let e = ten.call("nope", ()).unwrap_err();
        assert_eq!(e.remote_kind(), Some(RemoteKind::NoSuchMethod), "{e}");
        let e = manager.create("nope", ()).unwrap_err();
        assert!(e.to_string().contains("KeyError"), "{e}");

        // References: one per proxy, two after a clone, none after drops.
        // (Python's idents are `id(obj)`: both `None` results are one object,
        // with two references.)
        assert_eq!(manager.number_of_objects().unwrap(), 3);
        let again = ten.try_clone().unwrap();
        assert!(manager.debug_info().unwrap().contains("refcount=2"));
        drop(ten);
        assert_eq!(again.call_as::<i64>("conjugate", ()).unwrap(), 10);
        drop((missing, put, uname));
        assert_eq!(manager.number_of_objects().unwrap(), 1);
        again.release().unwrap();
        assert_eq!(manager.number_of_objects().unwrap(), 0, "{version}");
        assert_eq!(manager.debug_info().unwrap(), "");

        let printed = server.stop();
        assert!(printed.contains("put a 10"), "{version}: {printed:?}");
    }
}

/// A result too large for a frame is refused with `#UNSERIALIZABLE`, and
/// the connection goes on.
#[test]
fn oversized_results_are_refused_not_sent() {
    let mut server = Server::with_config(b"password", Config::default().max_frame(4096));
    server.register("big", || "x".repeat(10_000));
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let manager = Manager::connect(running.local_addr(), b"password").unwrap();
    let big = manager.create("big", ()).unwrap();
    let e = big.value().unwrap_err();
    assert!(e.to_string().contains("unserializable result"), "{e}");
    assert!(
        e.to_string()
            .contains("exceeds the server's maximum frame of 4096"),
        "{e}"
    );
    assert_eq!(big.call_as::<usize>("__len__", ()).unwrap(), 10_000);
    drop(big);
    assert_eq!(manager.number_of_objects().unwrap(), 0);
    running.shutdown().unwrap();
}

/// A method registered with `method_to_typeid` answers `#PROXY`: the
/// client adopts the reference the server took for it.
#[test]
fn rust_client_adopts_the_proxies_python_returns() {
    let source = r#"from multiprocessing.managers import BaseManager

class Shelf:
    def __init__(self):
        self.items = {"a": 1}
    def child(self):
        return self.items
    def size(self):
        return len(self.items)

class Manager(BaseManager):
    pass

Manager.register("Shelf", Shelf, method_to_typeid={"child": "dict"})
Manager.register("dict", dict)

if __name__ == "__main__":
    manager = Manager(("127.0.0.1", 0), authkey=b"password")
    manager.start()
    print(manager.address[1], flush=True)
    input()
    manager.shutdown()
"#;
    for (version, python) in interpreters() {
        let server = PyServer::start(&python, source);
        let manager = Manager::connect(("127.0.0.1", server.port), b"password").unwrap();
        let shelf = manager.create("Shelf", ()).unwrap();
        // (Python lists a `method_to_typeid` method twice.)
        assert_eq!(shelf.exposed(), ["child", "size", "child"], "{version}");
        assert_eq!(shelf.call_as::<i64>("size", ()).unwrap(), 1);
        let child = shelf.call_proxy("child", ()).unwrap();
        assert_eq!(child.typeid(), "dict");
        assert_eq!(child.call_as::<i64>("get", "a").unwrap(), 1);
        assert_eq!(manager.number_of_objects().unwrap(), 2, "{version}");
        // `call` copies a shared result and releases it at once.
        let copy = shelf.call("child", ()).unwrap();
        assert_eq!(copy.to_string(), "{'a': 1}");
        assert_eq!(manager.number_of_objects().unwrap(), 2, "{version}");
        let e = shelf.call_proxy("size", ()).unwrap_err();
        assert!(e.to_string().contains("not a proxy"), "{e}");
        drop(child);
        assert_eq!(manager.number_of_objects().unwrap(), 1, "{version}");
        drop(shelf);
        assert_eq!(manager.number_of_objects().unwrap(), 0, "{version}");
        server.stop();
    }
}

#[test]
fn rust_client_shuts_a_stock_python_server_down() {
    let (_, python) = interpreters().remove(0);
    let server = PyServer::start(&python, &seed_server_source());
    let manager = Manager::connect(("127.0.0.1", server.port), b"password").unwrap();
    manager.shutdown().unwrap();
    // The server process is gone: new connections are refused.
    let deadline = Instant::now() + TIMEOUT;
    while Manager::connect(("127.0.0.1", server.port), b"password").is_ok() {
        assert!(Instant::now() < deadline, "the server is still up");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stop();
}

#[test]
fn rust_client_and_server_talk_the_python_protocol() {
    let mut server = kv_server(Config::default());
    server.register("Counter.inc", |n: i64| n + 1);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let manager = Manager::connect(running.local_addr(), b"password").unwrap();
    manager.create("put", ("k", 41)).unwrap();
    let v = manager.create("get", "k").unwrap();
    assert_eq!(v.call_as::<i64>("conjugate", ()).unwrap(), 41);
    assert_eq!(
        v.call("as_integer_ratio", ()).unwrap().to_string(),
        "(41, 1)"
    );
    let counter = manager.create("Counter", ()).unwrap();
    assert_eq!(counter.exposed(), ["inc"]);
    assert_eq!(counter.call_as::<i64>("inc", 1).unwrap(), 2);
    let e = counter.value().unwrap_err();
    assert!(e.to_string().contains("no value to copy"), "{e}");
    // `put`'s proxy was dropped at once: two objects remain.
    assert_eq!(manager.number_of_objects().unwrap(), 2);
    drop((v, counter));
    assert_eq!(manager.number_of_objects().unwrap(), 0);
    // A longer run: every object is freed with its last reference.
    let counter = manager.create("Counter", ()).unwrap();
    for i in 0..300i64 {
        let v = manager.create("get", "k").unwrap();
        let copy = v.try_clone().unwrap();
        assert_eq!(copy.value_as::<i64>().unwrap(), 41);
        assert_eq!(counter.call_as::<i64>("inc", i).unwrap(), i + 1);
    }
    drop(counter);
    assert_eq!(manager.number_of_objects().unwrap(), 0);
    assert_eq!(manager.debug_info().unwrap(), "");
    let e = manager.shutdown().unwrap_err();
    assert_eq!(e.remote_kind(), Some(RemoteKind::Handler), "{e}");
    assert!(matches!(
        Manager::connect(running.local_addr(), b"wrong key"),
        Err(Error::Auth(_))
    ));
    running.shutdown().unwrap();
}

// Timing lives in the benchmark suite (`cargo run --release -p stdrpc-bench
// -- --only python`): the seed's per-call pattern against this server and
// against the stock Python server, in the same run.

// ---------------------------------------------------------------------------
// Python values through shapes: `message!` types, TypeError texts,
// signatures

stdrpc::message! {
    /// A struct with named fields: a dict keyed by field name in Python.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Tick {
        /// What was traded.
        pub symbol: String,
        /// At what price.
        pub price: f64,
        /// How many.
        pub qty: u32,
        /// Labels.
        pub tags: Vec<String>,
        /// Which way.
        pub side: Side,
    }
}

stdrpc::message! {
    /// Every kind of variant: a name, a one-entry dict of a dict, a tuple
    /// or a single value.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Side {
        /// A unit variant.
        Buy,
        /// Another.
        Sell,
        /// Named fields.
        Limit {
            /// The limit.
            price: f64,
            /// Until when, if ever.
            until: Option<u64>,
        },
        /// Two positional fields.
        Pair(i64, i64),
        /// One positional field.
        Note(String),
    }
}

stdrpc::message! {
    /// A tuple struct of one field: the field itself in Python.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Id(
        /// The number.
        pub u64,
    );
}

stdrpc::service! {
    /// Typed methods, reached from Python as an object type.
    pub trait Market {
        /// A price, if known.
        fn quote(&self, symbol: String) -> Option<f64>;
        /// The tick back, one more in quantity.
        fn record(&self, tick: Tick) -> Tick;
        /// The sides, reversed.
        fn sides(&self, sides: Vec<Side>) -> Vec<Side>;
        /// The id, doubled.
        fn lookup(&self, id: Id) -> Id;
    }
    /// Its client.
    pub struct MarketClient;
}

struct Exchange;

impl Market for Exchange {
    fn quote(&self, symbol: String) -> Option<f64> {
        (symbol == "X").then_some(1.5)
    }
    fn record(&self, mut tick: Tick) -> Tick {
        tick.qty += 1;
        tick
    }
    fn sides(&self, sides: Vec<Side>) -> Vec<Side> {
        sides.into_iter().rev().collect()
    }
    fn lookup(&self, id: Id) -> Id {
        Id(id.0 * 2)
    }
}

fn market_server() -> Server {
    let mut server = Server::new(b"password");
    Exchange.register_on(&mut server);
    // The same types through plain handlers, created as referents.
    server.register("echo_tick", |t: Tick| t);
    server.register("get", |k: String| k.len() as i64);
    server
}

const MARKET_PREAMBLE: &str = r#"import sys
from multiprocessing.managers import BaseManager, RemoteError, dispatch
BaseManager.register("Market")
BaseManager.register("echo_tick")
BaseManager.register("get")
m = BaseManager(address=("127.0.0.1", int(sys.argv[1])), authkey=b"password")
m.connect()

def attempt(label, f):
    try:
        result = f()
    except RemoteError as e:
        last = [l for l in str(e).splitlines() if l.strip() and not l.startswith("---")][-1]
        print(f"{label}: RemoteError: {last}")
    except Exception as e:
        print(f"{label}: {type(e).__name__}: {e}")
    else:
        print(f"{label}: ok {result!r}")
"#;

/// Runs `body` after [`MARKET_PREAMBLE`] under each interpreter against a
/// fresh market server, and checks that it prints `expected`, line by line,
/// and (if `leaves_no_objects`) that the server holds no objects after it.
fn check_market_script(name: &str, body: &str, expected: &[&str], leaves_no_objects: bool) {
    let (running, port) = start(market_server());
    let script = format!("{MARKET_PREAMBLE}{body}");
    for (version, python) in interpreters() {
        let out = run_script(&python, name, &script, &[&port.to_string()]);
        assert_clean(&out);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines, expected, "{version}: {out:#?}");
        if leaves_no_objects {
            assert_eq!(python_object_count(&python, port).0, 0, "{version}");
        }
    }
    running.shutdown().unwrap();
}

/// `message!` structs and enums cross to CPython and back as dicts, strings
/// and one-entry dicts, through both the object-type fast path and
/// `create`.
#[test]
fn message_types_round_trip_through_python() {
    let body = r#"market = m.Market()
tick = {"symbol": "X", "price": 2.5, "qty": 7, "tags": ["a", "b"], "side": "Buy"}
attempt("record", lambda: market.record(tick))
limit = dict(tick, side={"Limit": {"price": 1.25, "until": None}})
attempt("limit", lambda: market.record(limit)["side"])
attempt("sides", lambda: market.sides(["Sell", {"Pair": (1, -2)}, {"Note": "hi"}]))
attempt("lookup", lambda: market.lookup(21))
attempt("quote", lambda: (market.quote("X"), market.quote("Y")))
attempt("create", lambda: m.echo_tick(tick)._getvalue())
attempt("missing-field", lambda: market.record({"symbol": "X"}))
attempt("extra-field", lambda: market.record(dict(tick, colour=1)))
attempt("bad-variant", lambda: market.sides(["Hold"]))
attempt("bad-field-type", lambda: market.record(dict(tick, qty=-1)))
"#;
    let expected = [
        "record: ok {'symbol': 'X', 'price': 2.5, 'qty': 8, 'tags': ['a', 'b'], 'side': 'Buy'}",
        "limit: ok {'Limit': {'price': 1.25, 'until': None}}",
        "sides: ok [{'Note': 'hi'}, {'Pair': (1, -2)}, 'Sell']",
        "lookup: ok 42",
        "quote: ok (1.5, None)",
        "create: ok {'symbol': 'X', 'price': 2.5, 'qty': 7, 'tags': ['a', 'b'], 'side': 'Buy'}",
        "missing-field: TypeError: record() argument 1 (tick: Tick): Tick is missing field 'price'",
        "extra-field: TypeError: record() argument 1 (tick: Tick): Tick has no field 'colour'",
        "bad-variant: TypeError: sides() argument 1 (sides: list[Side]): element 0: Side has no variant 'Hold'",
        "bad-field-type: TypeError: record() argument 1 (tick: Tick): field 'qty' of Tick: int out of range for u32 (0..=4294967295)",
    ];
    check_market_script("messages", body, &expected, true);
}

/// Wrong arguments raise `TypeError` naming the method, the parameters
/// (with their names for `service!` methods) and what was given: raised
/// as is by a proxy's method, inside `RemoteError` for `create` (as a stock
/// Python server reports a failing callable).
#[test]
fn wrong_arguments_raise_type_errors_that_say_what_was_expected() {
    let body = r#"market = m.Market()
attempt("arity", lambda: market.quote("X", "Y"))
attempt("none", lambda: market.quote())
attempt("type", lambda: market.quote(1))
attempt("create-arity", lambda: m.get("a", "b"))
attempt("create-type", lambda: m.get(b"a"))
"#;
    let expected = [
        "arity: TypeError: quote() takes 1 argument (symbol: str), 2 given",
        "none: TypeError: quote() takes 1 argument (symbol: str), 0 given",
        "type: TypeError: quote() argument 1 (symbol: str): expected str, got int",
        "create-arity: RemoteError: TypeError: get() takes 1 argument (str), 2 given",
        "create-type: RemoteError: TypeError: get() argument 1 (str): expected str, got bytes",
    ];
    check_market_script("type_errors", body, &expected, false);
}

/// Signatures reach Python through `stdrpc.methods`, as a server function
/// and as a typeid; `get_methods` keeps answering bare names.
#[test]
fn python_reads_signatures_from_stdrpc_methods() {
    let body = r#"
for name, signature in server_call("stdrpc.methods"):
    print(f"{name} {signature}")
conn = m._Client(m.address, authkey=m._authkey)
ident, exposed = dispatch(conn, None, "create", ("stdrpc.methods",))
conn.close()
print("as typeid:", "len" if "__len__" in exposed else exposed)
server_call("decref", ident)
market = m.Market()
print("get_methods:", server_call("get_methods", market._token))
"#;
    let expected = [
        "Market.lookup (id: Id) -> Id",
        "Market.quote (symbol: str) -> Optional[float]",
        "Market.record (tick: Tick) -> Tick",
        "Market.sides (sides: list[Side]) -> list[Side]",
        "echo_tick (Tick) -> Tick",
        "get (str) -> int",
        "as typeid: len",
        "get_methods: ('lookup', 'quote', 'record', 'sides')",
    ];
    check_market_script("signatures", &[SERVER_CALL, body].concat(), &expected, true);
}

/// `Manager` sends `message!` values to a stock Python server as dicts
/// and variant names, and reads them back through the expected type's shape.
#[test]
fn rust_client_sends_message_types_to_a_stock_python_server() {
    let tick = Tick {
        symbol: "X".into(),
        price: 2.5,
        qty: 3,
        tags: vec!["a".into()],
        side: Side::Limit {
            price: 1.0,
            until: Some(9),
        },
    };
    for (version, python) in interpreters() {
        let server = PyServer::start(&python, &seed_server_source());
        let manager = Manager::connect(("127.0.0.1", server.port), b"password").unwrap();
        drop(manager.create("put", ("t", tick.clone())).unwrap());
        drop(manager.create("put", ("s", Side::Pair(1, -2))).unwrap());
        let stored = manager.create("get", "t").unwrap();
        assert_eq!(stored.value_as::<Tick>().unwrap(), tick, "{version}");
        assert_eq!(
            stored.repr().unwrap(),
            "{'symbol': 'X', 'price': 2.5, 'qty': 3, 'tags': ['a'], \
             'side': {'Limit': {'price': 1.0, 'until': 9}}}",
            "{version}"
        );
        let side = manager.create("get", "s").unwrap();
        assert_eq!(side.value_as::<Side>().unwrap(), Side::Pair(1, -2));
        // A value of another shape is a decode error naming what differs.
        let e = stored.value_as::<Side>().unwrap_err();
        assert!(
            e.to_string().contains("expected a variant of Side"),
            "{version}: {e}"
        );
        drop((stored, side));
        assert_eq!(manager.number_of_objects().unwrap(), 0, "{version}");
        let printed = server.stop();
        assert!(
            printed.contains("put t {'symbol': 'X'"),
            "{version}: {printed:?}"
        );
    }
}
