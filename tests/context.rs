//! The call context: what a handler learns about its call (peer, connection,
//! deadline) and when the call counts as cancelled (deadline passed,
//! caller gone, server shutting down); the caller's deadline on the wire.

mod support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use stdrpc::{Client, Context, Error, Server};
use support::sys::wait_until;

const KEY: &[u8] = b"context-key";
const WAIT: Duration = Duration::from_secs(20);

/// Waits (bounded) until the call is cancelled; returns how long after the
/// handler started that was, or `None` if it never was.
fn until_cancelled(ctx: &Context) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < WAIT {
        if ctx.is_cancelled() {
            return Some(started.elapsed());
        }
        std::thread::park_timeout(Duration::from_millis(2));
    }
    None
}

#[test]
fn a_handler_reads_its_peer_connection_and_deadline() {
    let mut server = Server::new(KEY);
    server.register("about", |ctx: &Context, tag: String| {
        let peer = ctx.peer_addr().map(|a| a.ip().to_string());
        let left = ctx
            .deadline()
            .map(|d| d.saturating_duration_since(Instant::now()).as_millis() as u64);
        (tag, ctx.connection_id(), peer, left, ctx.is_cancelled())
    });
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let a = Client::connect(running.local_addr(), KEY).unwrap();
    let b = Client::connect(running.local_addr(), KEY).unwrap();
    type About = (String, u64, Option<String>, Option<u64>, bool);
    let (tag, id_a, peer, left, cancelled): About = a.call("about", "x".to_string()).unwrap();
    assert_eq!(tag, "x");
    assert_eq!(peer.as_deref(), Some("127.0.0.1"));
    assert_eq!(left, None, "a call without a timeout has no deadline");
    assert!(!cancelled);
    let (_, id_b, _, left, _): About = b
        .call_timeout("about", "y".to_string(), Duration::from_secs(60))
        .unwrap();
    assert_ne!(id_a, id_b, "two connections, two ids");
    let left = left.expect("call_timeout sends its deadline");
    assert!(left > 30_000 && left <= 60_000, "{left} ms left of 60 s");
    // The context is not part of the signature.
    let methods = a.methods().unwrap();
    let about = methods.iter().find(|(n, _)| n == "about").unwrap();
    assert!(about.1.starts_with("(String) -> "), "{}", about.1);
    running.shutdown().unwrap();
}

#[test]
fn a_call_is_cancelled_when_its_deadline_passes() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let mut server = Server::new(KEY);
    server.register("wait", move |ctx: &Context| {
        let _ = tx.lock().unwrap().send(until_cancelled(ctx));
    });
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), KEY).unwrap();
    let at = Instant::now();
    let r = client.call_timeout::<_, ()>("wait", (), TIMEOUT);
    // The handler returns as it sees the deadline pass, so its reply may
    // race the caller's own timeout: either is right.
    assert!(matches!(r, Err(Error::Timeout) | Ok(())), "{r:?}");
    let seen = rx
        .recv_timeout(WAIT)
        .unwrap()
        .expect("the handler saw it cancelled");
    let total = at.elapsed();
    // The server measures the deadline from when it read the call, so it
    // passes no earlier than the caller's; generous upper bound for a
    // loaded machine.
    assert!(seen <= TIMEOUT + Duration::from_secs(5), "{seen:?}");
    assert!(total >= TIMEOUT, "{total:?}");
    println!(
        "a {TIMEOUT:?} deadline: the handler saw it cancelled after {:.1} ms of running",
        seen.as_secs_f64() * 1e3
    );
    running.shutdown().unwrap();
}

#[test]
fn a_call_is_cancelled_when_its_caller_disconnects() {
    let (started_tx, started_rx) = mpsc::channel();
    let started_tx = Mutex::new(started_tx);
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let mut server = Server::new(KEY);
    server.register("wait", move |ctx: &Context| {
        started_tx.lock().unwrap().send(()).unwrap();
        let _ = tx.lock().unwrap().send(until_cancelled(ctx));
    });
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), KEY).unwrap();
    let pending = client.start::<_, ()>("wait", ()).unwrap();
    started_rx.recv_timeout(WAIT).unwrap();
    let at = Instant::now();
    drop(pending);
    drop(client);
    let seen = rx.recv_timeout(WAIT).unwrap();
    assert!(seen.is_some(), "the handler never saw the caller leave");
    println!(
        "the caller left: the handler saw it cancelled {:.1} ms later",
        at.elapsed().as_secs_f64() * 1e3
    );
    running.shutdown().unwrap();
}

#[test]
fn a_call_is_cancelled_when_the_server_shuts_down() {
    let (started_tx, started_rx) = mpsc::channel();
    let started_tx = Mutex::new(started_tx);
    let mut server = Server::new(KEY);
    server.register("wait", move |ctx: &Context| {
        started_tx.lock().unwrap().send(()).unwrap();
        until_cancelled(ctx).is_some()
    });
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), KEY).unwrap();
    let pending = client.start::<_, bool>("wait", ()).unwrap();
    started_rx.recv_timeout(WAIT).unwrap();
    let at = Instant::now();
    // The handler stops early and its answer still goes out: nothing abandoned.
    assert_eq!(running.shutdown_timeout(Some(WAIT)).unwrap(), 0);
    assert!(
        pending.wait_timeout(WAIT).unwrap(),
        "the handler saw the shutdown"
    );
    println!(
        "shutdown with a handler watching its context took {:.1} ms",
        at.elapsed().as_secs_f64() * 1e3
    );
}

#[test]
fn a_call_whose_deadline_passed_before_it_started_is_not_run() {
    let runs = Arc::new(AtomicU64::new(0));
    let mut server = Server::new(KEY);
    let r = Arc::clone(&runs);
    server.register("count", move |n: u64| r.fetch_add(n, Ordering::SeqCst) + n);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), KEY).unwrap();
    // A zero timeout: its deadline has passed by the time the server reads
    // it. The caller stops waiting at once.
    let r = client.call_timeout::<_, u64>("count", 1u64, Duration::ZERO);
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    // The server answered it DeadlineExceeded (counted as an error) without
    // running it.
    wait_until("the expired call is answered", WAIT, || {
        running.stats().errors == 1
    });
    assert_eq!(client.call::<_, u64>("count", 10u64).unwrap(), 10);
    assert_eq!(runs.load(Ordering::SeqCst), 10, "the expired call ran");
    running.shutdown().unwrap();
}

/// The deadline as PROTOCOL.md §4.7 writes it, byte by byte: a zero timeout
/// is answered with kind `09` and not run; a long one runs.
#[test]
fn the_deadline_extension_on_the_wire() {
    use std::io::Write;
    let runs = Arc::new(AtomicU64::new(0));
    let mut server = Server::new(KEY);
    let r = Arc::clone(&runs);
    server.register("f", move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().as_tcp().unwrap();
    let mut s = support::raw::authenticated(addr, KEY);
    // Id 9, "f", opaque fingerprints, ext: tag 01, a deadline of 0 µs.
    let expired = [0x15, 9, 1, b'f', 0, 0, 0, 0, 0, 0, 0, 0, 3, 0x01, 1, 0];
    // Id 10, the same with 60 s (60_000_000 µs: fc then u32le).
    let mut alive = vec![0x15, 10, 1, b'f', 0, 0, 0, 0, 0, 0, 0, 0, 7, 0x01, 5, 0xfc];
    alive.extend_from_slice(&60_000_000u32.to_le_bytes());
    s.write_all(&support::raw::frame(&expired)).unwrap();
    s.write_all(&support::raw::frame(&alive)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let first = support::raw::parse_reply(&support::raw::read_frame(&mut s).unwrap());
    let second = support::raw::parse_reply(&support::raw::read_frame(&mut s).unwrap());
    match first {
        support::raw::Reply::Err {
            id: 9,
            kind: 0x09,
            message,
        } => {
            assert!(message.contains("deadline"), "{message}");
        }
        other => panic!("expected DeadlineExceeded for id 9, got {other:?}"),
    }
    assert_eq!(
        second,
        support::raw::Reply::Ok {
            id: 10,
            result: Vec::new()
        }
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1, "only the live call ran");
    drop(s);
    running.shutdown().unwrap();
}
