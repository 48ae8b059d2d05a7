//! Typed calls (issue 11): a call whose argument or result shape differs
//! from the handler's signature is refused before the handler runs, with an
//! error naming the method and both signatures.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stdrpc::{Client, Error, RemoteKind, Server};
use support::ticks::{Tick, renamed};

mod support;

const KEY: &[u8] = b"typed";

/// How often each handler ran, and the counter `bump` adds to.
#[derive(Default)]
struct Seen {
    add: AtomicUsize,
    bump: AtomicUsize,
    counter: AtomicI64,
}

fn server(seen: &Arc<Seen>, done: mpsc::Sender<()>) -> stdrpc::RunningServer {
    let mut server = Server::new(KEY);
    let s = Arc::clone(seen);
    server.register("add", move |a: i64, b: i64| {
        s.add.fetch_add(1, Ordering::SeqCst);
        a + b
    });
    let s = Arc::clone(seen);
    server.register("bump", move |n: i64| {
        s.bump.fetch_add(1, Ordering::SeqCst);
        s.counter.fetch_add(n, Ordering::SeqCst);
    });
    let done = Mutex::new(done);
    server.register("done", move || {
        let _ = done.lock().unwrap().send(());
    });
    server.register("price", |t: Tick| t.price);
    server.register_raw("raw_len", |b: &[u8]| {
        Ok::<_, String>(stdrpc::to_vec(&(b.len() as u64)))
    });
    server.bind("127.0.0.1:0").unwrap().spawn().unwrap()
}

fn setup() -> (Arc<Seen>, mpsc::Receiver<()>, stdrpc::RunningServer, Client) {
    let seen = Arc::new(Seen::default());
    let (tx, rx) = mpsc::channel();
    let running = server(&seen, tx);
    let client = Client::connect(running.local_addr(), KEY).unwrap();
    (seen, rx, running, client)
}

fn mismatch(e: &Error) -> &str {
    match e {
        Error::Remote {
            kind: RemoteKind::SignatureMismatch,
            message,
        } => message,
        other => panic!("expected a signature mismatch, got {other}"),
    }
}

#[test]
fn same_family_integers_are_accepted() {
    let (seen, _rx, running, c) = setup();
    assert_eq!(c.call::<_, i64>("add", (1i32, 2i32)).unwrap(), 3);
    assert_eq!(c.call::<_, i64>("add", (1i16, 2i64)).unwrap(), 3);
    // The result may be read as another type of the family.
    assert_eq!(c.call::<_, i32>("add", (40i64, 2i64)).unwrap(), 42);
    let p: f64 = c
        .call(
            "price",
            Tick {
                symbol: "X".into(),
                price: 2.5,
            },
        )
        .unwrap();
    assert_eq!(p, 2.5);
    assert_eq!(seen.add.load(Ordering::SeqCst), 3);
    running.shutdown().unwrap();
}

#[test]
fn argument_mismatch_does_not_run_the_handler() {
    let (seen, _rx, running, c) = setup();
    let err = c.call::<_, i64>("add", (1u64, 2u64)).unwrap_err();
    assert_eq!(
        mismatch(&err),
        "add expects (i64, i64) -> i64, called with (u64, u64) -> i64"
    );
    assert_eq!(
        err.to_string(),
        "signature mismatch: add expects (i64, i64) -> i64, called with (u64, u64) -> i64"
    );
    let err = c.call::<_, i64>("add", "x".to_string()).unwrap_err();
    assert_eq!(
        mismatch(&err),
        "add expects (i64, i64) -> i64, called with (String) -> i64"
    );
    let err = c.call::<_, ()>("bump", 5u64).unwrap_err();
    assert_eq!(
        mismatch(&err),
        "bump expects (i64) -> (), called with (u64) -> ()"
    );
    // A message! struct with a renamed field is another shape.
    let err = c
        .call::<_, f64>(
            "price",
            renamed::Tick {
                name: "X".into(),
                price: 1.0,
            },
        )
        .unwrap_err();
    assert_eq!(
        mismatch(&err),
        "price expects (Tick) -> f64, called with (Tick) -> f64"
    );
    assert_eq!(seen.add.load(Ordering::SeqCst), 0);
    assert_eq!(seen.bump.load(Ordering::SeqCst), 0);
    assert_eq!(seen.counter.load(Ordering::SeqCst), 0);
    assert_eq!(running.stats().signature_mismatches, 4);
    running.shutdown().unwrap();
}

#[test]
fn result_mismatch_does_not_run_the_handler() {
    let (seen, _rx, running, c) = setup();
    let err = c.call::<_, String>("add", (1i64, 2i64)).unwrap_err();
    assert_eq!(
        mismatch(&err),
        "add expects (i64, i64) -> i64, called with (i64, i64) -> String"
    );
    let err = c.call::<_, u64>("add", (1i64, 2i64)).unwrap_err();
    assert_eq!(
        mismatch(&err),
        "add expects (i64, i64) -> i64, called with (i64, i64) -> u64"
    );
    // Through start() and call_timeout() too.
    let pending = c.start::<_, Vec<i64>>("add", (1i64, 2i64)).unwrap();
    mismatch(&pending.wait().unwrap_err());
    let err = c
        .call_timeout::<_, bool>("add", (1i64, 2i64), Duration::from_secs(10))
        .unwrap_err();
    mismatch(&err);
    assert_eq!(seen.add.load(Ordering::SeqCst), 0);
    running.shutdown().unwrap();
}

#[test]
fn arity_mismatch_does_not_run_the_handler() {
    let (seen, _rx, running, c) = setup();
    let err = c.call::<_, i64>("add", (1i64, 2i64, 3i64)).unwrap_err();
    assert_eq!(
        mismatch(&err),
        "add expects (i64, i64) -> i64, called with (i64, i64, i64) -> i64"
    );
    let err = c.call::<_, i64>("add", 1i64).unwrap_err();
    assert_eq!(
        mismatch(&err),
        "add expects (i64, i64) -> i64, called with (i64) -> i64"
    );
    let err = c.call::<_, i64>("add", ()).unwrap_err();
    assert_eq!(
        mismatch(&err),
        "add expects (i64, i64) -> i64, called with () -> i64"
    );
    assert_eq!(seen.add.load(Ordering::SeqCst), 0);
    running.shutdown().unwrap();
}

#[test]
fn mismatched_notification_is_not_run_and_is_counted() {
    let (seen, rx, running, c) = setup();
    c.notify("bump", 7u64).unwrap();
    c.notify("bump", 2i64).unwrap();
    c.notify("bump", 3i32).unwrap();
    // Notifications run in order: once `done` ran, the bumps have too.
    c.notify("done", ()).unwrap();
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(seen.bump.load(Ordering::SeqCst), 2);
    assert_eq!(seen.counter.load(Ordering::SeqCst), 5);
    let stats = running.stats();
    assert_eq!(stats.signature_mismatches, 1);
    assert!(stats.errors >= 1);
    running.shutdown().unwrap();
}

#[test]
fn opaque_shapes_are_not_checked() {
    let (seen, _rx, running, c) = setup();
    // An untyped call (0x01) carries no fingerprints: not checked, exactly
    // as a hand-written peer's call is. Bytes that decode still run.
    let sum = c.call_raw("add", &stdrpc::to_vec(&(1u64, 2u64))).unwrap();
    // (1u64, 2u64) read as zigzag i64s is (-1, 1).
    assert_eq!(stdrpc::from_slice::<i64>(&sum).unwrap(), 0);
    assert_eq!(seen.add.load(Ordering::SeqCst), 1);
    // A raw handler's shape is opaque: any typed call reaches it.
    assert_eq!(c.call::<_, u64>("raw_len", (1u8, 2u8)).unwrap(), 2);
    assert_eq!(c.call::<_, u64>("raw_len", "abc").unwrap(), 4);
    // A result that cannot be checked and does not decode names the method
    // and the type the caller asked for.
    let err = c.call::<_, String>("raw_len", (1u8, 2u8)).unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "decode error: raw_len: result (String): length prefix 2 exceeds the 0 remaining bytes"
    );
    // A hand-written Encode without a shape is opaque too.
    struct Pair(i64, i64);
    impl stdrpc::Encode for Pair {
        fn encode(&self, out: &mut Vec<u8>) {
            self.0.encode(out);
            self.1.encode(out);
        }
    }
    assert_eq!(c.call::<_, i64>("add", Pair(2, 3)).unwrap(), 5);
    running.shutdown().unwrap();
}

#[cfg(feature = "bincode")]
#[test]
fn compat_values_interoperate_with_plain_types() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Args(i64, i64);
    let (_seen, _rx, running, c) = setup();
    let sum: i64 = c.call("add", stdrpc::Compat(Args(20, 22))).unwrap();
    assert_eq!(sum, 42);
    running.shutdown().unwrap();
}

#[test]
fn methods_lists_signatures() {
    let (_seen, _rx, running, c) = setup();
    let methods = c.methods().unwrap();
    let names: Vec<&str> = methods.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["add", "bump", "done", "price", "raw_len"]);
    assert_eq!(methods[0].1, "(i64, i64) -> i64");
    assert_eq!(methods[1].1, "(i64) -> ()");
    assert_eq!(methods[2].1, "() -> ()");
    assert_eq!(methods[3].1, "(Tick) -> f64");
    assert_eq!(methods[4].1, "(raw bytes) -> raw bytes");
    running.shutdown().unwrap();
}

#[test]
#[should_panic(expected = "reserved for stdrpc's own methods")]
fn the_library_prefix_cannot_be_registered() {
    let mut server = Server::new(KEY);
    server.register("stdrpc.methods", || 1u8);
}

#[test]
fn decode_errors_name_method_position_and_type() {
    let mut server = Server::new(KEY);
    server.register("put", |_k: String, _v: i64| ());
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let c = Client::connect(running.local_addr(), KEY).unwrap();
    let err = c.call_raw("put", &stdrpc::to_vec("key")).unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteKind::BadArguments));
    assert!(
        err.to_string()
            .starts_with("bad arguments: put: argument 2 (i64): unexpected end of input"),
        "{err}"
    );
    running.shutdown().unwrap();
}

#[test]
fn extension_block_on_the_wire() {
    use std::io::Write;
    use support::raw::{self, Reply};

    let (seen, _rx, running, _c) = setup();
    let addr = match running.local_addr() {
        stdrpc::Address::Tcp(a) => *a,
        other => panic!("not TCP: {other}"),
    };
    let mut s = raw::authenticated(addr, KEY);
    let add = <(i64, i64) as stdrpc::Decode>::shape().fingerprint();
    let int = <i64 as stdrpc::Decode>::shape().fingerprint();
    let head = |tag: u8, id: u8| {
        let mut m = vec![tag, id, 3, b'a', b'd', b'd'];
        m.extend_from_slice(&add.to_le_bytes());
        m.extend_from_slice(&int.to_le_bytes());
        m
    };
    // 0x15 with a deadline (1500 µs) and an unknown skippable tag: runs.
    let mut m = head(0x15, 1);
    m.extend_from_slice(&[9, 0x01, 3, 251, 0xdc, 0x05, 0x02, 2, 0xaa, 0xbb]);
    m.extend_from_slice(&[4, 6]);
    // 0x15 with a must-understand tag this version lacks: refused, not run.
    let mut refused = head(0x15, 2);
    refused.extend_from_slice(&[2, 0x90, 0, 4, 6]);
    s.write_all(&[raw::frame(&m), raw::frame(&refused)].concat())
        .unwrap();
    let mut replies = [
        raw::parse_reply(&raw::read_frame(&mut s).unwrap()),
        raw::parse_reply(&raw::read_frame(&mut s).unwrap()),
    ];
    replies.sort_by_key(Reply::id);
    assert_eq!(
        replies[0],
        Reply::Ok {
            id: 1,
            result: vec![10]
        }
    );
    match &replies[1] {
        Reply::Err {
            id: 2,
            kind: 255,
            message,
        } => {
            assert!(message.contains("0x90"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(seen.add.load(Ordering::SeqCst), 1);
    // The connection goes on.
    s.write_all(&raw::frame(&head(0x05, 3))).unwrap();
    // (no argument bytes: a decode error naming the first argument)
    match raw::parse_reply(&raw::read_frame(&mut s).unwrap()) {
        Reply::Err {
            id: 3,
            kind: 2,
            message,
        } => {
            assert!(message.starts_with("add: argument 1 (i64): "), "{message}")
        }
        other => panic!("{other:?}"),
    }
    drop(s);
    running.shutdown().unwrap();
}
