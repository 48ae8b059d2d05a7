//! A stock Python client's request costs the server memory in proportion to
//! its size, and is answered in a few KiB, whatever user value it carries
//! into an error: a typeid, an ident, a keyword name, a method name, or an
//! exception's arguments (issue 10, "reply amplification").
//!
//! Each test runs the server in a child process (this test binary,
//! re-executed), sends it hand-made pickles of a few MiB over a raw socket,
//! and reads the child's peak RSS (`VmHWM`) before and after. The worst
//! requests are those the issue describes: a list of many references to one
//! memoized string of a few MiB, whose full `repr()` once went into the
//! error text, the traceback and the pickled reply. The decoder itself may
//! use up to `WORKING_MEMORY_FACTOR` (72) bytes per input byte for such a
//! pickle (the list really holds that many strings once decoded); the error
//! reply may add only a little on top.
//!
//! The figures are printed; see them with
//! `cargo test --test python_bounds -- --nocapture`.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use stdrpc::{Config, Server};
use support::child::{self, Proc};
use support::raw;
use support::sys;

const KEY: &[u8] = b"python-bounds-key";
const WAIT: Duration = Duration::from_secs(60);

/// The decoder's stated bound, in bytes per input byte (the crate's
/// `pickle::WORKING_MEMORY_FACTOR`), and its fixed part.
const WORKING_MEMORY_FACTOR: u64 = 72;
const WORKING_MEMORY_ALLOWANCE: u64 = 2 << 20;
/// What error handling may add, per request byte, on top of decoding.
const ERROR_FACTOR: u64 = 8;
/// Noise in the peak: thread stacks, allocator arenas, the reply buffers.
const SLACK: u64 = 16 << 20;
/// The most an error reply may be.
const MAX_REPLY: usize = 8 * 1024;

/// The length of the big string in each request.
const BIG: usize = 2 << 20;
/// How many times the memoized string is referred to.
const REFS: usize = 40;

// ---- pickles by hand ---------------------------------------------------------

/// `BINUNICODE` of `n` bytes of `a`, then `MEMOIZE` (memo entry 0).
fn big_str(n: usize) -> Vec<u8> {
    let mut p = vec![b'X'];
    p.extend_from_slice(&(n as u32).to_le_bytes());
    p.resize(p.len() + n, b'a');
    p.push(0x94);
    p
}

/// A list holding the big string `refs` times: one copy, then `BINGET 0`s.
fn shared_list(n: usize, refs: usize) -> Vec<u8> {
    let mut p = vec![b'('];
    p.extend(big_str(n));
    for _ in 1..refs {
        p.extend_from_slice(b"h\x00");
    }
    p.push(b'l');
    p
}

/// `builtins.ValueError(list)`: an exception whose argument is the list.
fn exception_of(list: Vec<u8>) -> Vec<u8> {
    let mut p = b"\x8c\x08builtins\x8c\x0aValueError\x93".to_vec();
    p.extend(list);
    p.extend_from_slice(b"\x85R");
    p
}

fn short_str(s: &str) -> Vec<u8> {
    let mut p = vec![0x8c, s.len() as u8];
    p.extend_from_slice(s.as_bytes());
    p
}

/// `pickle.dumps((ident, method, args, kwds), protocol=4)` from pieces that
/// are each one pickled value; `args` holds values, `kwds` key/value pairs.
fn request(ident: &[u8], method: &[u8], args: &[&[u8]], kwds: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut p = b"\x80\x04(".to_vec();
    p.extend_from_slice(ident);
    p.extend_from_slice(method);
    p.push(b'(');
    for a in args {
        p.extend_from_slice(a);
    }
    p.extend_from_slice(b"t}(");
    for (k, v) in kwds {
        p.extend_from_slice(k);
        p.extend_from_slice(v);
    }
    p.extend_from_slice(b"ut.");
    p
}

/// A call of the server function `name` (`create`, `incref`, ...): a
/// request without an ident.
fn server_fn(name: &str, args: &[&[u8]], kwds: &[(&[u8], &[u8])]) -> Vec<u8> {
    request(b"N", &short_str(name), args, kwds)
}

/// Sends `pickle` on `s` and decodes the reply.
fn roundtrip(s: &mut TcpStream, pickle: &[u8]) -> stdrpc::python::Value {
    s.write_all(&raw::frame(pickle)).unwrap();
    stdrpc::python::from_pickle(&raw::read_frame(s).unwrap()).unwrap()
}

// ---- the server in a child ---------------------------------------------------

/// The child: a server with one handler, warmed up by one request of its
/// own, then its peak RSS; then, when the parent is done, the peak again.
fn serve_in_child() {
    let config = Config::default().max_python_frame(16 << 20);
    let mut server = Server::with_config(KEY, config);
    server.register("echo", |s: String| s);
    server.register("items", || vec![1i64, 2, 3]);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().as_tcp().unwrap();
    let dummy = server_fn("dummy", &[], &[]);
    let reply = exchange(addr, &dummy);
    assert!(reply.windows(7).any(|w| w == b"#RETURN"), "{reply:?}");
    child::say(&format!("addr {addr}"));
    child::say(&format!("base {}", sys::peak_rss_kib().unwrap_or(0)));
    child::wait_for_parent();
    child::say(&format!("peak {}", sys::peak_rss_kib().unwrap_or(0)));
    running.shutdown().unwrap();
}

/// Sends one request on a fresh connection; returns the reply's payload.
fn exchange(addr: SocketAddr, pickle: &[u8]) -> Vec<u8> {
    let mut s = raw::authenticated(addr, KEY);
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&raw::frame(pickle)).unwrap();
    raw::read_frame(&mut s).expect("a reply")
}

/// Runs `requests` (label, pickle, what the decoded request may hold per
/// byte) against a fresh child server; checks every reply's size and the
/// child's peak.
fn check(test: &str, requests: &[(&str, Vec<u8>, u64)]) {
    measure(test, |addr, record| {
        for (label, pickle, factor) in requests {
            let mut s = raw::authenticated(addr, KEY);
            record(label, &mut s, pickle, *factor);
        }
    });
}

/// Sends `pickle` on `s`, checks that the reply is a short error, and
/// returns the request's bound and its length.
fn error_exchange(
    test: &str,
    label: &str,
    s: &mut TcpStream,
    pickle: &[u8],
    factor: u64,
) -> (u64, u64) {
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&raw::frame(pickle)).unwrap();
    let reply = raw::read_frame(s).expect("a reply");
    println!(
        "{test}: {label}: {} bytes in, {} bytes back",
        pickle.len(),
        reply.len()
    );
    assert!(
        reply.len() <= MAX_REPLY,
        "{label}: a reply of {} bytes",
        reply.len()
    );
    assert_eq!(reply.first(), Some(&0x80), "{label}: a pickle");
    let is_error = [&b"#TRACEBACK"[..], b"#ERROR", b"#UNSERIALIZABLE"]
        .iter()
        .any(|k| reply.windows(k.len()).any(|w| w == *k));
    assert!(is_error, "{label}: an error reply: {reply:?}");
    let n = pickle.len() as u64;
    (
        (factor + ERROR_FACTOR) * n + WORKING_MEMORY_ALLOWANCE + SLACK,
        n,
    )
}

/// A request recorder: label, connection, pickle, decoding factor.
type Record<'a> = dyn FnMut(&str, &mut TcpStream, &[u8], u64) + 'a;

/// Runs `send` against a fresh child server; `send` hands each request to
/// the `record` it is given, which sends it and checks the reply. Then
/// checks the child's peak RSS against the largest bound of the requests.
fn measure(test: &str, send: impl FnOnce(SocketAddr, &mut Record<'_>)) {
    if sys::peak_rss_kib().is_none() {
        println!("{test}: no VmHWM here; skipped");
        return;
    }
    let server = Proc::reexec(test, "server", &[]);
    let addr: SocketAddr = server.expect_line("addr ", WAIT).parse().unwrap();
    let base: u64 = server.expect_line("base ", WAIT).parse().unwrap();
    let mut bound = 0;
    let mut largest = 0;
    send(addr, &mut |label, s, pickle, factor| {
        let (b, n) = error_exchange(test, label, s, pickle, factor);
        bound = bound.max(b);
        largest = largest.max(n);
    });
    let (lines, status) = server.finish(WAIT);
    assert!(status.success(), "{lines:?}");
    let peak: u64 = lines
        .iter()
        .find_map(|l| l.strip_prefix("peak "))
        .expect("the child's peak")
        .parse()
        .unwrap();
    let growth = (peak.saturating_sub(base)) * 1024;
    println!(
        "{test}: peak RSS grew {:.1} MiB for requests of at most {:.1} MiB \
         ({:.1} bytes per request byte; bound {:.1} MiB)",
        growth as f64 / 1048576.0,
        largest as f64 / 1048576.0,
        growth as f64 / largest as f64,
        bound as f64 / 1048576.0
    );
    assert!(
        growth <= bound,
        "{test}: peak RSS grew by {growth} bytes, over {bound}"
    );
}

/// What decoding a plain request may take per byte: a string is held in
/// the arena and in the tree.
const PLAIN: u64 = 4;

fn child_role() -> bool {
    match child::role().as_deref() {
        Some("server") => serve_in_child(),
        Some("decode") => decode_in_child(),
        _ => return false,
    }
    true
}

#[test]
fn typeids_in_errors_are_bounded() {
    if child_role() {
        return;
    }
    let create = short_str("create");
    let big = big_str(BIG);
    let shared = shared_list(BIG, REFS);
    check(
        "typeids_in_errors_are_bounded",
        &[
            ("create(str)", request(b"N", &create, &[&big], &[]), PLAIN),
            (
                "create(shared list)",
                request(b"N", &create, &[&shared], &[]),
                WORKING_MEMORY_FACTOR,
            ),
        ],
    );
}

#[test]
fn idents_in_errors_are_bounded() {
    if child_role() {
        return;
    }
    let big = big_str(BIG);
    let shared = shared_list(BIG, REFS);
    check(
        "idents_in_errors_are_bounded",
        &[
            ("incref(str)", server_fn("incref", &[&big], &[]), PLAIN),
            (
                "decref(shared list)",
                server_fn("decref", &[&shared], &[]),
                WORKING_MEMORY_FACTOR,
            ),
            (
                "get_methods(shared list)",
                server_fn("get_methods", &[&shared], &[]),
                WORKING_MEMORY_FACTOR,
            ),
        ],
    );
}

#[test]
fn keyword_names_in_errors_are_bounded() {
    if child_role() {
        return;
    }
    let big = big_str(BIG);
    let shared = shared_list(BIG, REFS);
    check(
        "keyword_names_in_errors_are_bounded",
        &[
            (
                "dummy(**{str: None})",
                server_fn("dummy", &[], &[(&big, b"N")]),
                PLAIN,
            ),
            (
                "dummy(**{shared list: None})",
                server_fn("dummy", &[], &[(&shared, b"N")]),
                WORKING_MEMORY_FACTOR,
            ),
            (
                "create('echo', **{str: None})",
                server_fn("create", &[&short_str("echo")], &[(&big, b"N")]),
                PLAIN,
            ),
        ],
    );
}

#[test]
fn method_names_in_errors_are_bounded() {
    if child_role() {
        return;
    }
    let mut big = big_str(BIG);
    big.pop(); // no MEMOIZE needed
    check(
        "method_names_in_errors_are_bounded",
        &[(
            "an unknown server function",
            request(b"N", &big, &[], &[]),
            PLAIN,
        )],
    );
}

#[test]
fn exception_arguments_in_errors_are_bounded() {
    if child_role() {
        return;
    }
    let exc = exception_of(shared_list(BIG, REFS));
    check(
        "exception_arguments_in_errors_are_bounded",
        &[
            (
                "create(ValueError(shared list))",
                server_fn("create", &[&exc], &[]),
                WORKING_MEMORY_FACTOR,
            ),
            (
                "incref(ValueError(shared list))",
                server_fn("incref", &[&exc], &[]),
                WORKING_MEMORY_FACTOR,
            ),
        ],
    );
}

/// The same values reach errors of a proxy's method calls: an unknown
/// ident, an unknown method name, keyword names and arguments of a
/// referent's methods.
#[test]
fn method_calls_in_errors_are_bounded() {
    if child_role() {
        return;
    }
    let big = big_str(BIG);
    let shared = shared_list(BIG, REFS);
    let test = "method_calls_in_errors_are_bounded";
    measure(test, |addr, record| {
        // A list referent, created over its own connection.
        let create = server_fn("create", &[&short_str("items")], &[]);
        let reply = stdrpc::python::from_pickle(&exchange(addr, &create)).unwrap();
        let ident = match &reply {
            stdrpc::python::Value::Tuple(parts) => match parts.get(1) {
                Some(stdrpc::python::Value::Tuple(token)) => token.first().cloned(),
                _ => None,
            },
            _ => None,
        };
        let Some(stdrpc::python::Value::Str(ident)) = ident else {
            panic!("a create reply: {reply}")
        };
        let ident = short_str(&ident);
        let mut s = raw::authenticated(addr, KEY);
        let accept = server_fn("accept_connection", &[&short_str("x")], &[]);
        s.write_all(&raw::frame(&accept)).unwrap();
        raw::read_frame(&mut s).unwrap();
        let mut big_method = big.clone();
        big_method.pop();
        let repr = short_str("__repr__");
        let index = short_str("index");
        let requests = [
            (
                "an unknown ident (str)",
                request(&big, &repr, &[], &[]),
                PLAIN,
            ),
            (
                "an unknown ident (shared list)",
                request(&shared, &repr, &[], &[]),
                WORKING_MEMORY_FACTOR,
            ),
            (
                "an unknown method",
                request(&ident, &big_method, &[], &[]),
                PLAIN,
            ),
            (
                "list.index(**{str: 1})",
                request(&ident, &index, &[], &[(&big, b"K\x01")]),
                PLAIN,
            ),
            (
                "list.index(shared list)",
                request(&ident, &index, &[&shared], &[]),
                WORKING_MEMORY_FACTOR,
            ),
        ];
        for (label, pickle, factor) in &requests {
            record(label, &mut s, pickle, *factor);
        }
    });
}

// ---- the decoder's working memory ------------------------------------------

/// The decoder's worst inputs, each about `n` bytes: what costs it the most
/// memory per input byte.
fn worst_input(kind: &str, n: usize) -> Vec<u8> {
    let mut p = b"\x80\x04(".to_vec();
    match kind {
        // One node and one stack slot per byte; refused at the budget.
        "empty lists" => p.resize(p.len() + n, b']'),
        "empty dicts" => p.resize(p.len() + n, b'}'),
        // As Python writes `[[] for _ in range(n)]`: each list memoized.
        "memoized empty lists" => {
            for _ in 0..n / 2 {
                p.extend_from_slice(b"]\x94");
            }
        }
        // One list, referred to from the stack once per byte.
        "DUP" => {
            p.push(b']');
            p.resize(p.len() + n, b'2');
        }
        // A string memoized, then referred to once per two bytes: the tree
        // copies it each time, up to the budget.
        "memo references" => {
            p.extend(big_str(1 << 16));
            for _ in 0..n / 2 {
                p.extend_from_slice(b"h\x00");
            }
        }
        // A shared list of a thousand empty lists, copied by `DUP`s.
        "DUP of a wide list" => {
            p.extend_from_slice(b"](");
            for _ in 0..1000 {
                p.extend_from_slice(b")");
            }
            p.push(b'e');
            p.resize(p.len() + n, b'2');
        }
        // Long ints of 9 bytes, one heap block each.
        "long ints" => {
            for _ in 0..n / 11 {
                p.extend_from_slice(b"\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09");
            }
        }
        "one-byte strings" => {
            for _ in 0..n / 3 {
                p.extend_from_slice(b"\x8c\x01a");
            }
        }
        "small ints" => {
            for _ in 0..n / 2 {
                p.extend_from_slice(b"K\x01");
            }
        }
        // Tuples nested one inside the next, a node and a block each.
        "TUPLE1 chain" => {
            p.push(b')');
            p.resize(p.len() + n, 0x85);
        }
        // set() applied to a shared list, over and over: each call copies.
        "set() copies" => {
            p = b"\x80\x02c__builtin__\nset\nq\x00]q\x01(".to_vec();
            p.resize(p.len() + 1000, b'N');
            p.extend_from_slice(b"e(");
            for _ in 0..n / 7 {
                p.extend_from_slice(b"h\x00h\x01\x85R");
            }
        }
        other => panic!("no input {other:?}"),
    }
    p.extend_from_slice(b"l.");
    p
}

const WORST_INPUTS: &[&str] = &[
    "empty lists",
    "empty dicts",
    "memoized empty lists",
    "DUP",
    "memo references",
    "DUP of a wide list",
    "long ints",
    "one-byte strings",
    "small ints",
    "TUPLE1 chain",
    "set() copies",
];

/// The child: decodes one worst input and prints its peak RSS before and
/// after.
fn decode_in_child() {
    let kind = child::param("KIND");
    let n: usize = child::param("LEN").parse().unwrap();
    let input = worst_input(&kind, n);
    let before = sys::peak_rss_kib().unwrap_or(0);
    let result = stdrpc::python::from_pickle(&input);
    let after = sys::peak_rss_kib().unwrap_or(0);
    let outcome = match &result {
        Ok(_) => "decoded".to_string(),
        Err(e) => e.to_string().chars().take(80).collect(),
    };
    drop(result);
    child::say(&format!("len {}", input.len()));
    child::say(&format!("grew {}", (after - before) * 1024));
    child::say(&format!("outcome {outcome}"));
}

/// The decoder never takes more than `WORKING_MEMORY_FACTOR` bytes per input
/// byte (plus the fixed allowance), measured as the peak RSS of a child
/// process decoding each of the worst inputs found.
#[test]
fn decoder_working_memory_stays_within_the_stated_factor() {
    if child_role() {
        return;
    }
    if sys::peak_rss_kib().is_none() {
        println!("no VmHWM here; skipped");
        return;
    }
    const LEN: usize = 1 << 20;
    let mut worst = (0.0, "");
    for kind in WORST_INPUTS {
        let child = Proc::reexec(
            "decoder_working_memory_stays_within_the_stated_factor",
            "decode",
            &[("KIND", kind.to_string()), ("LEN", LEN.to_string())],
        );
        let (lines, status) = child.finish(WAIT);
        assert!(status.success(), "{kind}: {lines:?}");
        let get = |prefix: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("{kind}: no {prefix:?} in {lines:?}"))
                .to_owned()
        };
        let len: u64 = get("len ").parse().unwrap();
        let grew: u64 = get("grew ").parse().unwrap();
        let per_byte = grew as f64 / len as f64;
        println!(
            "{kind:>22}: {len} bytes, peak RSS +{:.1} MiB, {per_byte:.1} bytes per input byte ({})",
            grew as f64 / 1048576.0,
            get("outcome ")
        );
        assert!(
            grew <= WORKING_MEMORY_FACTOR * len + WORKING_MEMORY_ALLOWANCE,
            "{kind}: decoding {len} bytes took {grew} bytes"
        );
        if per_byte > worst.0 {
            worst = (per_byte, kind);
        }
    }
    println!("worst: {} at {:.1} bytes per input byte", worst.1, worst.0);
}

// ---- the Python frame limit ------------------------------------------------

/// A request over `Config::max_python_frame` is answered with a
/// `MemoryError` without being decoded, and the connection goes on.
#[test]
fn python_requests_over_the_limit_get_a_memory_error() {
    if child_role() {
        return;
    }
    let config = Config::default().max_python_frame(4096);
    let mut server = Server::with_config(KEY, config);
    server.register("echo", |s: String| s);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().as_tcp().unwrap();
    let mut s = raw::authenticated(addr, KEY);
    // Garbage after a valid start: decoding it would fail differently.
    let mut big = server_fn("create", &[&big_str(8000)], &[]);
    big.insert(big.len() - 1, 0xff);
    let reply = roundtrip(&mut s, &big).to_string();
    assert!(reply.starts_with("('#ERROR', MemoryError("), "{reply}");
    assert!(reply.contains("stdrpc: the request of"), "{reply}");
    assert!(reply.contains("max_python_frame"), "{reply}");
    let echo = server_fn("create", &[&short_str("echo"), &short_str("hi")], &[]);
    let reply = roundtrip(&mut s, &echo);
    assert!(reply.to_string().starts_with("('#RETURN', ('"), "{reply}");
    // A first request over the limit is refused the same way.
    let mut s = raw::authenticated(addr, KEY);
    let reply = roundtrip(&mut s, &big);
    assert!(reply.to_string().contains("MemoryError"), "{reply}");
    drop(s);
    running.shutdown().unwrap();
}

// ---- what stock Python clients see ----------------------------------------

/// A stock CPython client gets a `MemoryError` for a request over the
/// limit, and short `RemoteError`s for megabyte typeids and idents; the
/// connection and the server go on.
#[test]
fn stock_python_clients_see_bounded_errors() {
    if child_role() {
        return;
    }
    let config = Config::default().max_python_frame(256 * 1024);
    let mut server = Server::with_config(KEY, config);
    server.register("echo", |s: String| s);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let port = running.local_addr().as_tcp().unwrap().port();
    let head = r#"import sys, signal
from multiprocessing.managers import BaseManager, RemoteError, dispatch
signal.alarm(30)
BaseManager.register("echo")
m = BaseManager(address=("127.0.0.1", int(sys.argv[1])), authkey=b"python-bounds-key")
m.connect()
try:
    m.echo("x" * 300_000)
except MemoryError as e:
    print("too-large: MemoryError", "max_python_frame" in str(e))
print("small:", m.echo("hi")._getvalue())
"#;
    let tail = r#"for name, arg in [("create", "t" * 200_000), ("decref", "i" * 200_000), ("create", ["s" * 1000] * 200)]:
    try:
        server_call(name, arg)
    except RemoteError as e:
        text = str(e)
        print(name + ":", "RemoteError", len(text) < 4096, "..." in text)
"#;
    let script = [head, support::python::SERVER_CALL, tail].concat();
    let dir = std::env::temp_dir().join(format!("stdrpc-python-bounds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bounded_errors.py");
    std::fs::write(&path, script).unwrap();
    for (version, python) in support::python::interpreters() {
        let mut cmd = std::process::Command::new(&python);
        cmd.arg(&path).arg(port.to_string());
        let out = child::run(cmd, format!("CPython {version}"), WAIT);
        assert!(out.status.success(), "{version}: {out:?}");
        assert_eq!(
            out.stdout,
            "too-large: MemoryError True\n\
             small: hi\n\
             create: RemoteError True True\n\
             decref: RemoteError True True\n\
             create: RemoteError True True\n",
            "{version}: {out:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    running.shutdown().unwrap();
}

/// A Python request the server-wide memory budget cannot hold is answered
/// with a `MemoryError` (its frame skipped unbuffered), the connection goes
/// on, and `Stats` counts it and the connection's traffic both ways.
#[test]
fn python_requests_over_the_budget_get_a_memory_error() {
    if child_role() {
        return;
    }
    // A pickle is charged 73 bytes per byte plus 2 MiB: 64 KiB needs about
    // 6.6 MiB, more than the whole budget, so it is refused at once; a
    // short request needs a little over 2 MiB and fits.
    let config = Config::default()
        .memory_budget(4 << 20)
        .budget_wait(Duration::ZERO);
    let mut server = Server::with_config(KEY, config);
    server.register("echo", |s: String| s);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().as_tcp().unwrap();
    let mut s = raw::authenticated(addr, KEY);
    let echo = server_fn("create", &[&short_str("echo"), &short_str("hi")], &[]);
    let reply = roundtrip(&mut s, &echo);
    assert!(reply.to_string().starts_with("('#RETURN', ('"), "{reply}");
    let big = server_fn("create", &[&big_str(64 * 1024)], &[]);
    let reply = roundtrip(&mut s, &big);
    let text = reply.to_string();
    assert!(text.starts_with("('#ERROR', MemoryError("), "{text}");
    assert!(text.contains("memory budget"), "{text}");
    // The connection is still in step.
    let reply = roundtrip(&mut s, &echo);
    assert!(reply.to_string().starts_with("('#RETURN', ('"), "{reply}");
    let stats = running.stats();
    assert_eq!(stats.overloaded, 1, "{stats:?}");
    // The two requests read whole, headers included; a frame skipped for
    // the budget is not counted.
    let read_in = 2 * (4 + echo.len());
    assert!(
        stats.bytes_in >= read_in as u64,
        "{stats:?}, read {read_in}"
    );
    assert!(stats.bytes_out > 0, "{stats:?}");
    drop(s);
    running.shutdown().unwrap();
}
