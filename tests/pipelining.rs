//! Started calls (`Client::start`) are read by whoever waits for them. These
//! tests cover the calls nobody waits for: their replies must still be read,
//! or a server sending a large reply would wait for ever for the client to
//! make room, and stop serving the connection meanwhile.

use std::time::{Duration, Instant};

use stdrpc::{Client, RunningServer, Server};

const TIMEOUT: Duration = Duration::from_secs(20);

/// More reply than the two sockets buffer between them: the server can
/// only finish writing it once the client reads.
const BIG: usize = 15 << 20;

fn server() -> RunningServer {
    let mut server = Server::new(b"k");
    server.register("big", |n: u64| vec![7u8; n as usize]);
    server.register("echo", |data: Vec<u8>| data);
    server.bind("127.0.0.1:0").unwrap().spawn().unwrap()
}

/// Waits until the server has written `bytes` in all (a reply's bytes count
/// once the whole reply is written), or fails after [`TIMEOUT`].
fn wait_written(running: &RunningServer, bytes: u64) {
    let deadline = Instant::now() + TIMEOUT;
    while running.stats().bytes_out < bytes {
        assert!(
            Instant::now() < deadline,
            "the server never finished writing a reply nobody waited for ({} of {bytes} bytes)",
            running.stats().bytes_out
        );
        std::thread::yield_now();
    }
}

#[test]
fn a_started_call_nobody_waits_for_yet_is_read_anyway() {
    let running = server();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    // Several rounds on one client: between them nothing is outstanding,
    // and the watch must start again for the next started call.
    for round in 1..=3u64 {
        let pending = client.start::<_, Vec<u8>>("big", BIG as u64).unwrap();
        // Nobody waits: the background reader notices that no reply is read
        // and nobody reads, and reads it, so the server's write completes.
        wait_written(&running, round * BIG as u64);
        assert_eq!(pending.wait_timeout(TIMEOUT).unwrap().len(), BIG);
    }
    running.shutdown().unwrap();
}

#[test]
fn a_dropped_pending_call_is_read_and_dropped() {
    let running = server();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    drop(client.start::<_, Vec<u8>>("big", BIG as u64).unwrap());
    wait_written(&running, BIG as u64);
    // The connection goes on.
    let small: Vec<u8> = client.call_timeout("big", 3u64, TIMEOUT).unwrap();
    assert_eq!(small, [7, 7, 7]);
    running.shutdown().unwrap();
}

#[test]
fn is_ready_turns_true_without_waiting() {
    let running = server();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    let pending = client.start::<_, Vec<u8>>("big", BIG as u64).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while !pending.is_ready() {
        assert!(Instant::now() < deadline, "the reply was never read");
        std::thread::yield_now();
    }
    assert_eq!(pending.wait().unwrap().len(), BIG);
    running.shutdown().unwrap();
}

#[test]
fn many_large_calls_started_before_any_wait_do_not_deadlock() {
    // 32 x 1 MiB each way, all started before the first wait: the server
    // blocks sending replies nobody reads yet, stops reading requests, and
    // the client's sends back up; the client must then read.
    let running = server();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    let data = vec![0x5au8; 1 << 20];
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        // Twice on one client: the second burst starts with the background
        // reader idle.
        for _ in 0..2 {
            let pending: Vec<_> = (0..32)
                .map(|_| client.start::<_, Vec<u8>>("echo", &data).unwrap())
                .collect();
            for p in pending {
                assert_eq!(p.wait().unwrap(), data);
            }
        }
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(TIMEOUT)
        .expect("started calls deadlocked on a full connection");
    worker.join().unwrap();
    running.shutdown().unwrap();
}
