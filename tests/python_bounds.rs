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
use std::net::SocketAddr;
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

// ---- the server in a child ---------------------------------------------------

/// The child: a server with one handler, warmed up by one request of its
/// own, then its peak RSS; then, when the parent is done, the peak again.
fn serve_in_child() {
    let config = Config::default().max_python_frame(16 << 20);
    let mut server = Server::with_config(KEY, config);
    server.register("echo", |s: String| s);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().as_tcp().unwrap();
    let dummy = request(b"N", &short_str("dummy"), &[], &[]);
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
    if sys::peak_rss_kib().is_none() {
        println!("{test}: no VmHWM here; skipped");
        return;
    }
    let server = Proc::reexec(test, "server", &[]);
    let addr: SocketAddr = server.expect_line("addr ", WAIT).parse().unwrap();
    let base: u64 = server.expect_line("base ", WAIT).parse().unwrap();
    let mut bound = 0;
    let mut largest = 0;
    for (label, pickle, factor) in requests {
        let reply = exchange(addr, pickle);
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
        bound = bound.max((factor + ERROR_FACTOR) * n + WORKING_MEMORY_ALLOWANCE + SLACK);
        largest = largest.max(n);
    }
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
    if child::role().as_deref() == Some("server") {
        serve_in_child();
        return true;
    }
    false
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
            (
                "incref(str)",
                request(b"N", &short_str("incref"), &[&big], &[]),
                PLAIN,
            ),
            (
                "decref(shared list)",
                request(b"N", &short_str("decref"), &[&shared], &[]),
                WORKING_MEMORY_FACTOR,
            ),
            (
                "get_methods(shared list)",
                request(b"N", &short_str("get_methods"), &[&shared], &[]),
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
                request(b"N", &short_str("dummy"), &[], &[(&big, b"N")]),
                PLAIN,
            ),
            (
                "dummy(**{shared list: None})",
                request(b"N", &short_str("dummy"), &[], &[(&shared, b"N")]),
                WORKING_MEMORY_FACTOR,
            ),
            (
                "create('echo', **{str: None})",
                request(
                    b"N",
                    &short_str("create"),
                    &[&short_str("echo")],
                    &[(&big, b"N")],
                ),
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
                request(b"N", &short_str("create"), &[&exc], &[]),
                WORKING_MEMORY_FACTOR,
            ),
            (
                "incref(ValueError(shared list))",
                request(b"N", &short_str("incref"), &[&exc], &[]),
                WORKING_MEMORY_FACTOR,
            ),
        ],
    );
}
