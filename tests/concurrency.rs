//! Many callers on one connection, and slow calls beside fast ones.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stdrpc::{Client, Server};

const TIMEOUT: Duration = Duration::from_secs(20);

#[test]
fn client_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Client>();
}

#[test]
fn sixty_four_threads_share_one_client_and_get_their_own_replies() {
    let mut server = Server::new(b"k");
    // Replies come back out of order: odd requests are slowed by a yield loop.
    server.register("tag", |thread: u32, i: u32| {
        if i % 2 == 1 {
            for _ in 0..100 {
                std::thread::yield_now();
            }
        }
        (thread, i, format!("{thread}-{i}"))
    });
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    let threads: Vec<_> = (0..64u32)
        .map(|t| {
            let c = client.clone();
            std::thread::spawn(move || {
                for i in 0..200u32 {
                    let (rt, ri, s): (u32, u32, String) =
                        c.call_timeout("tag", (t, i), TIMEOUT).unwrap();
                    assert_eq!((rt, ri, s), (t, i, format!("{t}-{i}")));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(running.stats().calls, 64 * 200);
    running.shutdown().unwrap();
}

#[test]
fn a_slow_call_does_not_block_a_fast_one_on_the_same_client() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(Mutex::new(release_rx));
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let mut server = Server::new(b"k");
    server.register("slow", move || {
        started_tx.lock().unwrap().send(()).unwrap();
        release_rx.lock().unwrap().recv_timeout(TIMEOUT).unwrap();
        "slow"
    });
    server.register("fast", || "fast");
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();

    let slow = client.start::<_, String>("slow", ()).unwrap();
    started_rx.recv_timeout(TIMEOUT).unwrap();
    assert!(!slow.is_ready());
    // While the slow handler holds its thread, the fast call completes.
    assert_eq!(
        client
            .call_timeout::<_, String>("fast", (), TIMEOUT)
            .unwrap(),
        "fast"
    );
    // And another connection is served too.
    let other = Client::connect(running.local_addr(), b"k").unwrap();
    assert_eq!(
        other
            .call_timeout::<_, String>("fast", (), TIMEOUT)
            .unwrap(),
        "fast"
    );
    release_tx.send(()).unwrap();
    assert_eq!(slow.wait_timeout(TIMEOUT).unwrap(), "slow");
    running.shutdown().unwrap();
}

#[test]
fn a_call_timeout_fires_and_the_late_reply_is_ignored() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let mut server = Server::new(b"k");
    server.register("wait", move || {
        release_rx.lock().unwrap().recv_timeout(TIMEOUT).unwrap();
        1u8
    });
    server.register("ping", || 2u8);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    let err = client
        .call_timeout::<_, u8>("wait", (), Duration::from_millis(50))
        .unwrap_err();
    assert!(matches!(err, stdrpc::Error::Timeout), "{err}");
    release_tx.send(()).unwrap();
    // The connection stays usable, and the stale reply is not mistaken for this one.
    assert_eq!(
        client.call_timeout::<_, u8>("ping", (), TIMEOUT).unwrap(),
        2
    );
    running.shutdown().unwrap();
}

#[test]
fn bursts_of_callers_and_lone_calls_take_turns_reading() {
    // Under fan-in the background reader takes over reading until no call
    // is outstanding; between bursts a lone caller reads its own replies
    // again. Every call must get its own reply, in every phase.
    let mut server = Server::new(b"k");
    server.register("twice", |x: u64| x * 2);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    for round in 0..3u64 {
        let threads: Vec<_> = (0..16u64)
            .map(|t| {
                let c = client.clone();
                std::thread::spawn(move || {
                    for i in 0..100u64 {
                        let x = round * 1_000_000 + t * 1_000 + i;
                        let y: u64 = c.call_timeout("twice", x, TIMEOUT).unwrap();
                        assert_eq!(y, 2 * x);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for i in 0..50u64 {
            let y: u64 = client.call_timeout("twice", i, TIMEOUT).unwrap();
            assert_eq!(y, 2 * i);
        }
    }
    assert_eq!(running.stats().calls, 3 * (16 * 100 + 50));
    running.shutdown().unwrap();
}
