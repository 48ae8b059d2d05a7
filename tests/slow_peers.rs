//! Slow peers cannot starve real clients or grow the server without bound:
//! connections that send nothing or trickle one byte per 100 ms leave a real
//! client served within 1 s and are closed at the handshake deadline; beyond
//! `max_connections` a peer is refused cleanly; a connection's calls in
//! flight are bounded (back-pressure), and so is the reply backlog of a
//! client that stops reading.
//!
//! `cargo test` opens [`PEERS`] slow peers (each costs two descriptors in
//! this process, which hosts both ends), fewer if the descriptor limit is
//! low; `cargo run --release --example soak -- --stress` opens 1000. The
//! figures are printed (`-- --nocapture`).

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use stdrpc::{Client, Config, Error, RunningServer, Server};
use support::raw;
use support::sys::{self, serial, wait_until};

const KEY: &[u8] = b"slow-peers-key";
const WAIT: Duration = Duration::from_secs(10);
/// Slow peers per test in `cargo test`.
const PEERS: usize = 200;
/// How often a trickling peer sends its next byte.
const TRICKLE: Duration = Duration::from_millis(100);
/// The functional bound on serving a real client among slow peers.
const SERVED_WITHIN: Duration = Duration::from_secs(1);

fn server(config: Config) -> RunningServer {
    let mut s = Server::with_config(KEY, config);
    s.register("ping", || 1u8);
    s.bind("127.0.0.1:0").unwrap().spawn().unwrap()
}

/// How many slow peers fit the descriptor limit (two descriptors each, plus
/// room for everything else).
fn peer_count() -> usize {
    let limit = sys::fd_limit().unwrap_or(1024) as usize;
    let n = PEERS.min(limit.saturating_sub(128) / 2);
    if n < PEERS {
        println!("descriptor limit {limit}: using {n} slow peers instead of {PEERS}");
    }
    n
}

/// One slow peer: a raw connection that never completes the handshake.
struct Peer {
    s: TcpStream,
    opened: Instant,
    trickles: bool,
    /// How many bytes of [`TRICKLED`] it has sent, and when it sends the next.
    sent: usize,
    next: Instant,
    received: usize,
    closed: Option<Instant>,
}

/// Opens `n` peers (every other one trickling) in batches, each accepted
/// before the next is opened: a faster burst overflows the listen backlog
/// (128 for std's listeners), and a dropped SYN is retried only after 1 s.
fn open_peers(running: &RunningServer, n: usize) -> Vec<Peer> {
    let addr = running.local_addr().as_tcp().unwrap();
    let base = running.stats().accepted;
    let mut peers = Vec::with_capacity(n);
    while peers.len() < n {
        for _ in 0..64.min(n - peers.len()) {
            let s = TcpStream::connect(addr).unwrap();
            s.set_nonblocking(true).unwrap();
            peers.push(Peer {
                s,
                opened: Instant::now(),
                trickles: peers.len() % 2 == 1,
                sent: 0,
                next: Instant::now(),
                received: 0,
                closed: None,
            });
        }
        let want = base + peers.len() as u64;
        let accepted = sweep_until(&mut peers, WAIT, |_| running.stats().accepted >= want);
        assert!(accepted, "the server did not accept {want} connections");
    }
    peers
}

/// The bytes a trickling peer sends, one at a time: the start of an answer
/// that never completes.
const TRICKLED: &[u8] = b"\x00\x00\x00\x28{sha256}0123456789abcdef0123456789abcdef";

/// Reads what has arrived on every open peer, notes the ones the server
/// closed, and lets trickling peers whose time has come send a byte.
fn sweep(peers: &mut [Peer]) {
    let mut buf = [0u8; 256];
    for p in peers.iter_mut().filter(|p| p.closed.is_none()) {
        loop {
            match p.s.read(&mut buf) {
                Ok(0) => p.closed = Some(Instant::now()),
                Ok(n) => {
                    p.received += n;
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => p.closed = Some(Instant::now()),
            }
            break;
        }
        let now = Instant::now();
        if p.trickles && p.closed.is_none() && p.sent < TRICKLED.len() && now >= p.next {
            let _ = p.s.write(&TRICKLED[p.sent..p.sent + 1]);
            p.sent += 1;
            p.next = now + TRICKLE;
        }
    }
}

/// Sweeps every 5 ms until `done` holds (true) or `timeout` passes (false).
fn sweep_until(
    peers: &mut [Peer],
    timeout: Duration,
    mut done: impl FnMut(&[Peer]) -> bool,
) -> bool {
    let started = Instant::now();
    loop {
        sweep(peers);
        if done(peers) {
            return true;
        }
        if started.elapsed() > timeout {
            return false;
        }
        // Pacing the slow peers is the scenario, not synchronisation.
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Connects a real client and makes one call; returns how long that took.
fn real_client(running: &RunningServer) -> Duration {
    let started = Instant::now();
    let client = Client::connect(running.local_addr(), KEY).unwrap();
    assert_eq!(client.call::<_, u8>("ping", ()).unwrap(), 1);
    let took = started.elapsed();
    drop(client);
    took
}

#[test]
fn slow_peers_do_not_delay_a_real_client() {
    let _serial = serial();
    let n = peer_count();
    // A long deadline and handshake slots for all: the peers hold their
    // slots throughout (tests/lockout.rs floods beyond the handshake limit).
    let running = server(
        Config::default()
            .handshake_timeout(Duration::from_secs(20))
            .max_handshakes(n + 1),
    );
    let mut peers = open_peers(&running, n);
    assert_eq!(running.stats().open_connections, n as u64);
    // Keep trickling while real clients connect and call, from this thread.
    let mut worst = Duration::ZERO;
    let mut total = Duration::ZERO;
    const CLIENTS: u32 = 10;
    let mut served = 0;
    sweep_until(&mut peers, WAIT, |_| {
        let took = real_client(&running);
        worst = worst.max(took);
        total += took;
        served += 1;
        served == CLIENTS
    });
    assert_eq!(served, CLIENTS);
    // The peers were held throughout: none was closed, each got its challenge.
    assert!(peers.iter().all(|p| p.closed.is_none()));
    assert!(peers.iter().all(|p| p.received == 4 + 59));
    println!(
        "{n} slow peers ({} silent, {} trickling 1 byte/{} ms): a real client connected and \
         was served in {:.2} ms on average, {:.2} ms at worst ({CLIENTS} clients)",
        n - n / 2,
        n / 2,
        TRICKLE.as_millis(),
        total.as_secs_f64() * 1e3 / f64::from(CLIENTS),
        worst.as_secs_f64() * 1e3
    );
    assert!(worst < SERVED_WITHIN, "a real client took {worst:?}");
    drop(peers);
    wait_until("the peers' connections are closed", WAIT, || {
        running.stats().open_connections == 0
    });
    assert_eq!(running.stats().auth_failures, n as u64);
    running.shutdown().unwrap();
}

#[test]
fn slow_peers_are_closed_at_the_handshake_deadline() {
    let _serial = serial();
    let n = peer_count();
    let deadline = Duration::from_millis(300);
    let running = server(
        Config::default()
            .handshake_timeout(deadline)
            .max_handshakes(n),
    );
    let mut peers = open_peers(&running, n);
    let slack = Duration::from_secs(2);
    let all_closed = sweep_until(&mut peers, deadline + slack + WAIT, |peers| {
        peers.iter().all(|p| p.closed.is_some())
    });
    assert!(all_closed, "some slow peers were never closed");
    let lifetimes: Vec<Duration> = peers.iter().map(|p| p.closed.unwrap() - p.opened).collect();
    let (first, last) = (
        lifetimes.iter().min().unwrap(),
        lifetimes.iter().max().unwrap(),
    );
    println!(
        "{n} slow peers, handshake deadline {} ms: closed after {:.0} to {:.0} ms",
        deadline.as_millis(),
        first.as_secs_f64() * 1e3,
        last.as_secs_f64() * 1e3
    );
    // Not before the deadline (it starts after we connect), not long after.
    assert!(*first >= deadline, "a peer was closed after {first:?}");
    assert!(
        *last < deadline + slack,
        "a peer was closed only after {last:?}"
    );
    // Each got the challenge and then a clean close, nothing else.
    assert!(peers.iter().all(|p| p.received == 4 + 59));
    wait_until("every slot is free", WAIT, || {
        running.stats().open_connections == 0
    });
    assert_eq!(running.stats().auth_failures, n as u64);
    let took = real_client(&running);
    assert!(took < SERVED_WITHIN);
    running.shutdown().unwrap();
}

#[test]
fn beyond_max_connections_a_peer_is_refused_cleanly_not_hung() {
    let _serial = serial();
    const MAX: usize = 50;
    const EXTRA: usize = 20;
    let config = Config::default()
        .max_connections(MAX)
        .handshake_timeout(Duration::from_secs(20));
    let running = server(config);
    let addr = running.local_addr().as_tcp().unwrap();
    // Silent peers do not take authenticated slots...
    let mut silent = open_peers(&running, MAX);
    assert!(real_client(&running) < SERVED_WITHIN);
    // ...authenticated clients do.
    let clients: Vec<Client> = (0..MAX)
        .map(|_| Client::connect(addr, KEY).unwrap())
        .collect();
    wait_until("the server is full", WAIT, || {
        running.stats().authenticated == MAX as u64
    });
    let mut worst = Duration::ZERO;
    for _ in 0..EXTRA {
        let started = Instant::now();
        let mut s = raw::connect(addr);
        let (rest, end) = raw::read_to_end(&mut s);
        let took = started.elapsed();
        assert_eq!(
            rest,
            raw::frame(b"#FAILURE# server at its connection limit"),
            "{end:?}"
        );
        worst = worst.max(took);
    }
    let started = Instant::now();
    let err = Client::connect(addr, KEY).unwrap_err();
    let client_took = started.elapsed();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == ErrorKind::ConnectionRefused),
        "{err}"
    );
    assert!(err.to_string().contains("connection limit"), "{err}");
    println!(
        "max_connections {MAX}, held by authenticated clients: {EXTRA} raw peers refused with \
         #FAILURE# and closed within {:.2} ms at worst; a client's connect failed in {:.2} ms",
        worst.as_secs_f64() * 1e3,
        client_took.as_secs_f64() * 1e3
    );
    assert!(worst < SERVED_WITHIN && client_took < SERVED_WITHIN);
    let stats = running.stats();
    assert_eq!(stats.refused, EXTRA as u64 + 1);
    assert_eq!(stats.authenticated, MAX as u64);
    assert_eq!(stats.handshaking, MAX as u64);
    // The authenticated clients were never disturbed.
    for c in &clients {
        assert_eq!(c.call::<_, u8>("ping", ()).unwrap(), 1);
    }
    sweep(&mut silent);
    assert!(silent.iter().all(|p| p.closed.is_none()));
    // Slots free up as clients leave.
    drop(clients);
    drop(silent);
    wait_until("the slots are released", WAIT, || {
        running.stats().open_connections == 0
    });
    assert!(real_client(&running) < SERVED_WITHIN);
    running.shutdown().unwrap();
}

/// A gate that handlers wait at until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self) {
        let deadline = Instant::now() + WAIT;
        let mut open = self.open.lock().unwrap();
        while !*open {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the gate was never opened");
            open = self.opened.wait_timeout(open, left).unwrap().0;
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

#[test]
fn calls_in_flight_per_connection_are_bounded() {
    let _serial = serial();
    const IN_FLIGHT: usize = 16;
    const CALLS: u64 = 10_000;
    const ARGS: usize = 4096;
    let gate = Arc::new(Gate::default());
    let (running_now, most, started) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut server = Server::with_config(KEY, Config::default().max_in_flight(IN_FLIGHT));
    {
        let (gate, running_now, most, started) = (
            Arc::clone(&gate),
            Arc::clone(&running_now),
            Arc::clone(&most),
            Arc::clone(&started),
        );
        server.register_raw("slow", move |args: &[u8]| {
            started.fetch_add(1, Ordering::SeqCst);
            let now = running_now.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            gate.wait();
            running_now.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, String>(stdrpc::to_vec(&(args.len() as u64)))
        });
    }
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().as_tcp().unwrap();
    let threads_before = sys::quiet_threads();
    let rss = sys::rss_kib();

    let mut s = raw::authenticated(addr, KEY);
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let mut s = s.try_clone().unwrap();
        let written = Arc::clone(&written);
        std::thread::spawn(move || {
            let args = vec![0x42u8; ARGS];
            for id in 1..=CALLS {
                let f = raw::frame(&raw::call(id, "slow", &args));
                if s.write_all(&f).is_err() {
                    return;
                }
                written.fetch_add(f.len() as u64, Ordering::SeqCst);
            }
        })
    };
    wait_until("the first calls run", WAIT, || {
        started.load(Ordering::SeqCst) >= IN_FLIGHT as u64
    });
    // An observation window: nothing more may start while the gate is shut.
    std::thread::sleep(Duration::from_millis(300));
    let started_while_shut = started.load(Ordering::SeqCst);
    let threads_during = sys::threads();
    let growth = sys::rss_growth_mib(rss);
    let written_while_shut = written.load(Ordering::SeqCst);
    let total = CALLS * (4 + raw::call(CALLS, "slow", &[0; ARGS]).len() as u64);
    gate.open();

    // Every call is answered exactly once.
    let drain = Instant::now();
    let mut seen = vec![false; CALLS as usize + 1];
    for _ in 0..CALLS {
        let reply = raw::parse_reply(&raw::read_frame(&mut s).unwrap());
        match reply {
            raw::Reply::Ok { id, result } => {
                assert_eq!(result, stdrpc::to_vec(&(ARGS as u64)));
                assert!(!seen[id as usize], "call {id} answered twice");
                seen[id as usize] = true;
            }
            other => panic!("{other:?}"),
        }
    }
    let drained = drain.elapsed();
    writer.join().unwrap();
    raw::close_write(&s);
    let (rest, _) = raw::read_to_end(&mut s);
    assert!(rest.is_empty());

    let (before, during) = (threads_before, threads_during.unwrap_or(0));
    println!(
        "{CALLS} calls of {ARGS} bytes to a blocked handler, max_in_flight {IN_FLIGHT}: \
         {started_while_shut} started, at most {} at once; {:.1} of {:.1} MB written before \
         back-pressure; threads {before} -> {during} (+{}); RSS growth {growth:.1} MiB; \
         all answered in {:.2} s once released",
        most.load(Ordering::SeqCst),
        written_while_shut as f64 / 1e6,
        total as f64 / 1e6,
        during.saturating_sub(before),
        drained.as_secs_f64()
    );
    assert_eq!(started_while_shut, IN_FLIGHT as u64);
    assert!(most.load(Ordering::SeqCst) <= IN_FLIGHT);
    // The blocked handlers' threads, the follower waiting for a slot, our
    // writer: nothing that grows with the number of calls sent.
    assert!(
        during <= before + IN_FLIGHT + 4,
        "threads {before} -> {during}"
    );
    assert!(growth < 64.0, "memory grew by {growth:.1} MiB");
    assert!(written_while_shut < total, "the server read everything");
    running.shutdown().unwrap();
}

#[test]
fn the_reply_backlog_of_a_client_that_stops_reading_is_bounded() {
    let _serial = serial();
    const CALLS: u64 = 4000;
    const REPLY: usize = 64 * 1024;
    let ran = Arc::new(AtomicU64::new(0));
    let write_timeout = Duration::from_secs(1);
    let mut server = Server::with_config(KEY, Config::default().write_timeout(Some(write_timeout)));
    server.register("ping", || 1u8);
    {
        let ran = Arc::clone(&ran);
        server.register_raw("blob", move |_: &[u8]| {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(vec![0x17u8; REPLY])
        });
    }
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().as_tcp().unwrap();
    let threads_before = sys::quiet_threads();
    let rss = sys::rss_kib();

    // Ask for 250 MiB of replies and read none of them.
    let mut s = raw::authenticated(addr, KEY);
    let requests: Vec<u8> = (1..=CALLS)
        .flat_map(|id| raw::frame(&raw::call(id, "blob", &[])))
        .collect();
    let stalled_at = Instant::now();
    raw::write_lossy(&mut s, &requests);
    // Wait until the server stops producing replies (nothing new for 300 ms).
    let mut last = (u64::MAX, Instant::now());
    wait_until("the server stops producing replies", WAIT, || {
        let now = ran.load(Ordering::SeqCst);
        if now != last.0 {
            last = (now, Instant::now());
        }
        last.1.elapsed() > Duration::from_millis(300)
    });
    let produced = ran.load(Ordering::SeqCst);
    let growth = sys::rss_growth_mib(rss);
    let threads_during = sys::threads().unwrap_or(0);
    let held = running.stats().open_connections;
    wait_until(
        "the stalled connection is dropped",
        WAIT + write_timeout,
        || running.stats().open_connections == 0,
    );
    let dropped_after = stalled_at.elapsed();
    println!(
        "a client asking for {CALLS} replies of {} KiB ({} MiB) and reading none: {produced} \
         replies produced before back-pressure; RSS growth {growth:.1} MiB; threads \
         {threads_before} -> {threads_during}; dropped {:.2} s after it stalled \
         (write_timeout {} s)",
        REPLY / 1024,
        (CALLS as usize * REPLY) >> 20,
        dropped_after.as_secs_f64(),
        write_timeout.as_secs()
    );
    assert_eq!(held, 1, "measured while the connection was still held");
    assert!(produced < CALLS / 2, "{produced} replies produced");
    assert!(growth < 64.0, "memory grew by {growth:.1} MiB");
    let workers = 64;
    assert!(threads_during <= threads_before + workers + 4);
    assert!(real_client(&running) < SERVED_WITHIN);
    drop(s);
    running.shutdown().unwrap();
}
