//! Calls through a real server: values of many types, and every kind of
//! failure a caller can see.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use stdrpc::{Client, Error, RemoteKind, Server};

fn echo_server() -> stdrpc::RunningServer {
    let mut server = Server::new(b"secret");
    server
        .register("echo_str", |s: String| s)
        .register("echo_vec", |v: Vec<Option<(u8, String)>>| v)
        .register("echo_map", |m: BTreeMap<String, Vec<i64>>| m)
        .register("echo_hash", |m: HashMap<u32, bool>| m)
        .register("echo_f64", |x: f64| x)
        .register("echo_bytes", |b: Vec<u8>| b)
        .register("add", |a: i64, b: i64| a + b)
        .register("add_tuple", |(a, b): (i64, i64)| a + b)
        .register("nothing", || ())
        .register("checked_div", |a: i64, b: i64| {
            if b == 0 {
                Err("division by zero")
            } else {
                Ok(a / b)
            }
        })
        .register("explode", |msg: String| -> () { panic!("{msg}") })
        .register_raw("reverse", |b: &[u8]| {
            Ok::<_, String>(b.iter().rev().copied().collect())
        });
    server.bind("127.0.0.1:0").unwrap().spawn().unwrap()
}

#[test]
fn values_of_many_types_round_trip() {
    let running = echo_server();
    let c = Client::connect(running.local_addr(), b"secret").unwrap();
    let s: String = c.call("echo_str", "héllo wörld ✓".to_string()).unwrap();
    assert_eq!(s, "héllo wörld ✓");
    let v = vec![
        Some((1u8, "a".to_string())),
        None,
        Some((255, String::new())),
    ];
    assert_eq!(
        c.call::<_, Vec<Option<(u8, String)>>>("echo_vec", v.clone())
            .unwrap(),
        v
    );
    let m: BTreeMap<String, Vec<i64>> = [("x".to_string(), vec![i64::MIN, 0, i64::MAX])].into();
    assert_eq!(
        c.call::<_, BTreeMap<String, Vec<i64>>>("echo_map", m.clone())
            .unwrap(),
        m
    );
    let h: HashMap<u32, bool> = (0..100).map(|i| (i, i % 3 == 0)).collect();
    assert_eq!(
        c.call::<_, HashMap<u32, bool>>("echo_hash", h.clone())
            .unwrap(),
        h
    );
    assert_eq!(c.call::<_, f64>("echo_f64", -0.125f64).unwrap(), -0.125);
    let big = vec![7u8; 300_000];
    assert_eq!(
        c.call::<_, Vec<u8>>("echo_bytes", big.clone()).unwrap(),
        big
    );
    assert_eq!(c.call::<_, i64>("add", (2i64, 40i64)).unwrap(), 42);
    assert_eq!(c.call::<_, i64>("add_tuple", (2i64, 40i64)).unwrap(), 42);
    c.call::<_, ()>("nothing", ()).unwrap();
    assert_eq!(c.call_raw("reverse", &[1, 2, 3]).unwrap(), [3, 2, 1]);
    running.shutdown().unwrap();
}

#[test]
fn failures_reach_the_caller_with_kind_and_message() {
    let running = echo_server();
    let c = Client::connect(running.local_addr(), b"secret").unwrap();

    let err = c.call::<_, ()>("no_such", ()).unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteKind::NoSuchMethod), "{err}");
    assert!(err.to_string().contains("no_such"), "{err}");

    // Arguments of another shape are refused before decoding...
    let err = c
        .call::<_, i64>("add", "not numbers".to_string())
        .unwrap_err();
    assert_eq!(
        err.remote_kind(),
        Some(RemoteKind::SignatureMismatch),
        "{err}"
    );
    // ...and bytes that do not decode (an untyped call) name the method,
    // the argument's position and its type.
    let err = c.call_raw("add", &[2]).unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteKind::BadArguments), "{err}");
    assert!(
        err.to_string()
            .contains("add: argument 2 (i64): unexpected end of input"),
        "{err}"
    );

    let err = c.call::<_, i64>("checked_div", (1i64, 0i64)).unwrap_err();
    assert!(
        matches!(&err, Error::Remote { kind: RemoteKind::Handler, message } if &**message == "division by zero")
    );
    assert_eq!(c.call::<_, i64>("checked_div", (9i64, 3i64)).unwrap(), 3);

    // Asking for the wrong result type is a signature mismatch.
    let err = c.call::<_, String>("add", (1i64, 2i64)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "signature mismatch: add expects (i64, i64) -> i64, called with (i64, i64) -> String"
    );

    // A panic is answered as an error and the server goes on serving, on the
    // same connection and on new ones.
    let err = c
        .call::<_, ()>("explode", "kaboom".to_string())
        .unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteKind::Panicked), "{err}");
    assert!(err.to_string().contains("kaboom"), "{err}");
    assert_eq!(c.call::<_, i64>("add", (1i64, 1i64)).unwrap(), 2);
    let c2 = Client::connect(running.local_addr(), b"secret").unwrap();
    assert_eq!(c2.call::<_, i64>("add", (2i64, 2i64)).unwrap(), 4);

    let stats = running.stats();
    assert!(stats.errors >= 4, "{stats:?}");
    assert!(stats.calls >= 3, "{stats:?}");
    assert!(stats.bytes_in > 0 && stats.bytes_out > 0, "{stats:?}");
    running.shutdown().unwrap();
}

#[test]
fn wrong_key_is_an_auth_error_and_counted() {
    let running = echo_server();
    let err = Client::connect(running.local_addr(), b"not the secret").unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err}");
    assert!(
        err.to_string().starts_with("authentication failed"),
        "{err}"
    );
    // The server may still be finishing its side of the failed handshake.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running.stats().auth_failures == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "auth failure not counted"
        );
        std::thread::yield_now();
    }
    running.shutdown().unwrap();
}

#[test]
fn notifications_run_in_order_and_close_waits_for_them() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&log);
    let mut server = Server::new(b"k");
    server.register("push", move |i: u32| seen.lock().unwrap().push(i));
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let c = Client::connect(running.local_addr(), b"k").unwrap();
    for i in 0..10_000u32 {
        c.notify("push", i).unwrap();
    }
    c.close();
    assert_eq!(*log.lock().unwrap(), (0..10_000).collect::<Vec<_>>());
    running.shutdown().unwrap();
}

#[test]
fn dropping_the_client_loses_no_notification() {
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    let mut server = Server::new(b"k");
    server.register("tick", move |_: u64| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let c = Client::connect(running.local_addr(), b"k").unwrap();
    for i in 0..5_000u64 {
        c.notify("tick", i).unwrap();
    }
    drop(c);
    // Shutdown only stops reading once the connection has been read to its
    // end; the connection ends when the client's last notification is read.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while running.stats().open_connections > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "connection never closed"
        );
        std::thread::yield_now();
    }
    assert_eq!(count.load(Ordering::SeqCst), 5_000);
    running.shutdown().unwrap();
}

#[test]
fn pending_calls_pipeline_and_can_be_awaited() {
    let running = echo_server();
    let c = Client::connect(running.local_addr(), b"secret").unwrap();
    let pending: Vec<_> = (0..1000i64)
        .map(|i| c.start::<_, i64>("add", (i, 1i64)).unwrap())
        .collect();
    for (i, p) in pending.into_iter().enumerate() {
        assert_eq!(p.wait().unwrap(), i as i64 + 1);
    }
    // The pending handle is a Future: drive it with a minimal executor.
    let fut = c.start::<_, i64>("add", (20i64, 22i64)).unwrap();
    assert_eq!(block_on(fut).unwrap(), 42);
    running.shutdown().unwrap();
}

/// The smallest executor: poll, and park until woken.
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "future never completed"
        );
        std::thread::park_timeout(std::time::Duration::from_millis(100));
    }
}
