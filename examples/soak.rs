//! Stress and soak runs for stdrpc: the long checks that do not belong in
//! `cargo test`, with the figures they measure.
//!
//! ```text
//! cargo run --release --example soak -- --stress        # the stress suite only (about a minute)
//! cargo run --release --example soak -- --minutes 10    # the soak only, 10 minutes
//! cargo run --release --example soak                    # both (stress, then a 10-minute soak)
//! cargo run --release --example soak -- --stress --minutes 2
//! ```
//!
//! **Stress** (`--stress`), each part against a fresh in-process server:
//!
//! 1. 1000 concurrent clients (one connection and one thread each) x 100
//!    calls: zero errors; p50, p99 and max latency, calls per second (the
//!    connections are opened one after the other; for information, 1000
//!    threads connecting at once are measured too);
//! 2. 1000 slow peers (half silent, half sending one byte per 100 ms), then
//!    a real client: connected and served within 1 s while they hold their
//!    slots; one peer more than `max_connections` gets `#FAILURE#` and a
//!    close; every slow peer is closed at the handshake deadline;
//! 3. the view counter, 20 times: a server and 5 client processes (this
//!    program re-executed as `soak counter-client ADDR N`) x 1000 `get` +
//!    `inc`, exactly 5000 each time;
//! 4. a one-way stream of 2 x 200,000 notifications: every one delivered
//!    once and in order;
//! 5. notifications under CPU contention: 5 streams of 100,000
//!    notifications on one connection beside one busy thread per core; the
//!    handler threads used stay few (at most 16; a hand-off cascade, seen
//!    before commit 7ef031b, used all 64 and ran 100 times slower).
//!
//! **Soak** (`--minutes N`, default 10): N minutes of mixed load against one
//! server (8 steady clients making calls of every kind, pipelined batches,
//! notifications, handler errors and panics, call timeouts; a client
//! connecting and leaving in a loop; a hostile peer sending wrong keys,
//! garbage and silence), printing memory (`VmRSS`), threads and descriptors
//! every 30 s (the average and maximum of one sample a second). The first
//! 30 s are the warm-up baseline; the run fails if the last 30 s average more
//! than 16 MiB + 25 % of memory, 16 threads or 32 descriptors above it, or
//! if any call fails unexpectedly.
//!
//! The exit status is 0 only if every check passed. Memory, thread and
//! descriptor figures come from `/proc/self` (Linux); elsewhere they print
//! as 0 and the flatness check is skipped. The stress part needs about 2200
//! descriptors (`ulimit -n 4096`).

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use stdrpc::{Client, Config, Error, RemoteKind, RunningServer, Server};

const KEY: &[u8] = b"soak-key";
const USAGE: &str = "usage: soak [--stress] [--minutes N]
       soak counter-client ADDR ITERATIONS   (used by the stress run)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("counter-client") {
        return counter_client(&args[1..]);
    }
    let (mut stress, mut minutes) = (false, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--stress" => stress = true,
            "--minutes" => match it.next().and_then(|v| v.parse::<u64>().ok()) {
                Some(m) if m > 0 => minutes = Some(m),
                _ => return usage("--minutes needs a whole number of minutes"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let (run_stress, soak_minutes) = match (stress, minutes) {
        (false, None) => (true, Some(10)),
        (true, m) => (true, m),
        (false, m) => (false, m),
    };
    quiet_deliberate_panics();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "soak: {cores} cores; descriptor limit {}; pid {}",
        fd_limit().map_or("unknown".into(), |l| l.to_string()),
        std::process::id()
    );
    let mut failures = Vec::new();
    if run_stress {
        stress_suite(&mut failures);
    }
    if let Some(m) = soak_minutes {
        soak(Duration::from_secs(m * 60), &mut failures);
    }
    if failures.is_empty() {
        println!("soak: every check passed");
        ExitCode::SUCCESS
    } else {
        for f in &failures {
            eprintln!("FAILED: {f}");
        }
        ExitCode::FAILURE
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("soak: {message}\n{USAGE}");
    ExitCode::from(2)
}

/// Records a failed check (and prints it at once).
fn check(failures: &mut Vec<String>, ok: bool, what: String) {
    if ok {
        println!("  ok: {what}");
    } else {
        println!("  FAILED: {what}");
        failures.push(what);
    }
}

// ---------------------------------------------------------------- /proc

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn count_dir(path: &str) -> usize {
    std::fs::read_dir(path).map_or(0, |d| d.count())
}

fn threads() -> usize {
    count_dir("/proc/self/task")
}

fn fds() -> usize {
    count_dir("/proc/self/fd").saturating_sub(1)
}

fn handler_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| {
        d.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
            .filter(|n| n.trim_end() == "stdrpc-handler")
            .count()
    })
}

fn fd_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Polls `cond` until it holds (true) or `timeout` passes (false).
fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while !cond() {
        if started.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

const DELIBERATE: &str = "deliberate panic";

/// Keeps the panics the soak causes on purpose out of the output.
fn quiet_deliberate_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if !text.contains(DELIBERATE) {
            previous(info);
        }
    }));
}

// ---------------------------------------------------------------- stress

fn stress_suite(failures: &mut Vec<String>) {
    let started = Instant::now();
    println!("== stress");
    if fd_limit().is_some_and(|l| l < 2300) {
        let message = "the descriptor limit is below 2300: raise it (ulimit -n 4096)";
        check(failures, false, message.to_string());
        return;
    }
    many_clients(failures);
    connect_burst();
    slow_peers(failures);
    view_counter(failures);
    one_way_stream(failures);
    notifications_under_contention(failures);
    println!("== stress done in {:.1} s", started.elapsed().as_secs_f64());
}

fn many_clients(failures: &mut Vec<String>) {
    const CLIENTS: usize = 1000;
    const CALLS: usize = 100;
    println!("-- {CLIENTS} concurrent clients x {CALLS} calls");
    let mut server = Server::new(KEY);
    server.register("add", |a: i64, b: i64| a.wrapping_add(b));
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().clone();

    // The connections are opened one after the other: 1000 threads of this
    // process connecting at once would mostly measure how they starve the
    // server's accept thread of CPU (see `connect_burst`).
    let connecting = Instant::now();
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        match Client::connect(&addr, KEY) {
            Ok(c) => clients.push(c),
            Err(e) => {
                check(
                    failures,
                    false,
                    format!("connecting client {}: {e}", clients.len() + 1),
                );
                return;
            }
        }
    }
    let connected = connecting.elapsed();
    let errors = AtomicU64::new(0);
    let first_error = Mutex::new(None::<String>);
    let latencies = Mutex::new(Vec::with_capacity(CLIENTS * CALLS));
    let barrier = Barrier::new(CLIENTS + 1);
    let mut calls_started = Instant::now();
    std::thread::scope(|scope| {
        for (c, client) in clients.into_iter().enumerate() {
            let (errors, first_error, latencies, barrier) =
                (&errors, &first_error, &latencies, &barrier);
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn_scoped(scope, move || {
                    barrier.wait();
                    let fail = |e: String| {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first_error.lock().unwrap().get_or_insert(e);
                    };
                    let mut mine = Vec::with_capacity(CALLS);
                    for i in 0..CALLS as i64 {
                        let t = Instant::now();
                        match client.call::<_, i64>("add", (c as i64, i)) {
                            Ok(v) if v == c as i64 + i => mine.push(t.elapsed()),
                            Ok(v) => fail(format!("add({c}, {i}) = {v}")),
                            Err(e) => fail(format!("call: {e}")),
                        }
                    }
                    latencies.lock().unwrap().extend(mine);
                    client.close();
                })
                .unwrap();
        }
        barrier.wait();
        calls_started = Instant::now();
    });
    let elapsed = calls_started.elapsed();
    let mut lat = latencies.into_inner().unwrap();
    lat.sort();
    let n = lat.len();
    println!(
        "  {CLIENTS} clients connected in {:.2} s; {n} calls in {:.2} s ({:.0} calls/s); \
         latency p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        connected.as_secs_f64(),
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 99.0)),
        ms(lat.last().copied().unwrap_or_default())
    );
    let errors = errors.load(Ordering::Relaxed);
    check(
        failures,
        errors == 0 && n == CLIENTS * CALLS,
        format!(
            "{CLIENTS} x {CALLS} calls, {errors} errors (first: {:?})",
            first_error.into_inner().unwrap()
        ),
    );
    running.shutdown().unwrap();
}

/// Information, not a check: 1000 threads of this process connecting at
/// once. std's listeners have a backlog of 128; connections beyond it wait
/// for the kernel to retransmit, and the accept thread competes for the CPU
/// with every client thread, so some clients may pass their 5 s handshake
/// deadline.
fn connect_burst() {
    const CLIENTS: usize = 1000;
    println!("-- information: {CLIENTS} threads connecting at once");
    let mut server = Server::new(KEY);
    server.register("ping", || 1u8);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().clone();
    let (ok, failed) = (
        AtomicU64::new(0),
        Mutex::new(BTreeMap::<String, u64>::new()),
    );
    let barrier = Barrier::new(CLIENTS);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..CLIENTS {
            let (addr, ok, failed, barrier) = (&addr, &ok, &failed, &barrier);
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn_scoped(scope, move || {
                    barrier.wait();
                    match Client::connect(addr, KEY).and_then(|c| c.call::<_, u8>("ping", ())) {
                        Ok(_) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => *failed.lock().unwrap().entry(e.to_string()).or_default() += 1,
                    }
                })
                .unwrap();
        }
    });
    println!(
        "  {} connected and served, failures {:?}, in {:.2} s",
        ok.load(Ordering::Relaxed),
        failed.into_inner().unwrap(),
        started.elapsed().as_secs_f64()
    );
    running.shutdown().unwrap();
}

/// One slow peer of the stress run.
struct Peer {
    s: TcpStream,
    opened: Instant,
    trickles: bool,
    sent: usize,
    next: Instant,
    closed: Option<Instant>,
}

const TRICKLED: &[u8] = b"\x00\x00\x00\x28{sha256}0123456789abcdef0123456789abcdef";
const TRICKLE: Duration = Duration::from_millis(100);

fn sweep(peers: &mut [Peer]) {
    let mut buf = [0u8; 256];
    for p in peers.iter_mut().filter(|p| p.closed.is_none()) {
        loop {
            match p.s.read(&mut buf) {
                Ok(0) => p.closed = Some(Instant::now()),
                Ok(_) => continue,
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
        // Pacing the slow peers is the scenario.
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn slow_peers(failures: &mut Vec<String>) {
    const PEERS: usize = 1000;
    let deadline = Duration::from_secs(3);
    println!(
        "-- {PEERS} slow peers (half silent, half 1 byte per {} ms), handshake deadline {} s",
        TRICKLE.as_millis(),
        deadline.as_secs()
    );
    let config = Config::default()
        .handshake_timeout(deadline)
        .max_connections(PEERS + 1);
    let mut server = Server::with_config(KEY, config);
    server.register("ping", || 1u8);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr: SocketAddr = running.local_addr().as_tcp().unwrap();
    // Opened in batches, each accepted before the next: a faster burst
    // overflows the listen backlog and costs a 1 s SYN retransmission.
    let mut peers: Vec<Peer> = Vec::with_capacity(PEERS);
    let opening = Instant::now();
    while peers.len() < PEERS {
        for _ in 0..64.min(PEERS - peers.len()) {
            let s = TcpStream::connect(addr).unwrap();
            s.set_nonblocking(true).unwrap();
            peers.push(Peer {
                s,
                opened: Instant::now(),
                trickles: peers.len() % 2 == 1,
                sent: 0,
                next: Instant::now(),
                closed: None,
            });
        }
        let want = peers.len() as u64;
        sweep_until(&mut peers, Duration::from_secs(10), |_| {
            running.stats().accepted >= want
        });
    }
    let held = running.stats().open_connections;
    println!(
        "  {PEERS} peers opened in {:.2} s; {held} held by the server",
        opening.elapsed().as_secs_f64()
    );
    // A real client among them, ten times, while the peers keep trickling.
    let mut worst = Duration::ZERO;
    let mut refused = None;
    let mut served = 0;
    sweep_until(&mut peers, Duration::from_secs(10), |_| {
        let t = Instant::now();
        let client =
            Client::connect(addr, KEY).and_then(|c| c.call::<_, u8>("ping", ()).map(|_| c));
        let took = t.elapsed();
        worst = worst.max(took);
        if let Ok(client) = client {
            served += 1;
            if refused.is_none() {
                // The server is now full: one more peer is refused.
                let t = Instant::now();
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut got = Vec::new();
                let ok = s.read_to_end(&mut got).is_ok();
                let expected = b"#FAILURE# server at its connection limit";
                refused = Some((
                    ok && got.len() == 4 + expected.len() && got.ends_with(expected),
                    t.elapsed(),
                ));
            }
            drop(client);
        }
        served == 10
    });
    let still_held = peers.iter().filter(|p| p.closed.is_none()).count();
    check(
        failures,
        served == 10 && worst < Duration::from_secs(1) && still_held == PEERS,
        format!(
            "a real client served among {still_held} held slow peers: {served}/10 served, worst {:.2} ms",
            ms(worst)
        ),
    );
    let (refused_ok, refused_in) = refused.unwrap_or((false, Duration::ZERO));
    check(
        failures,
        refused_ok && refused_in < Duration::from_secs(1),
        format!(
            "the peer beyond max_connections ({}) got #FAILURE# and a close in {:.2} ms",
            PEERS + 1,
            ms(refused_in)
        ),
    );
    // Everyone is closed at the deadline.
    let all = sweep_until(&mut peers, deadline + Duration::from_secs(10), |p| {
        p.iter().all(|p| p.closed.is_some())
    });
    let lifetimes: Vec<Duration> = peers
        .iter()
        .filter_map(|p| Some(p.closed? - p.opened))
        .collect();
    let (first, last) = (
        lifetimes.iter().min().copied().unwrap_or_default(),
        lifetimes.iter().max().copied().unwrap_or_default(),
    );
    check(
        failures,
        all && first >= deadline && last < deadline + Duration::from_secs(2),
        format!(
            "{} of {PEERS} slow peers closed {:.0} to {:.0} ms after connecting (deadline {} ms)",
            lifetimes.len(),
            ms(first),
            ms(last),
            deadline.as_millis()
        ),
    );
    running.shutdown().unwrap();
}

/// `soak counter-client ADDR N`: N views (`get` then `inc`) of the counter.
fn counter_client(args: &[String]) -> ExitCode {
    let (Some(addr), Some(n)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<u64>().ok()),
    ) else {
        return usage("counter-client needs ADDR and ITERATIONS");
    };
    let run = || -> stdrpc::Result<()> {
        let client = Client::connect(addr.as_str(), KEY)?;
        for _ in 0..n {
            client.call::<_, i64>("get", "hikakin")?;
            client.call::<_, ()>("inc", "hikakin")?;
        }
        client.close();
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("counter-client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Child processes, killed and reaped when dropped.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn view_counter(failures: &mut Vec<String>) {
    const REPS: usize = 20;
    const PROCESSES: usize = 5;
    const ITERATIONS: u64 = 1000;
    println!("-- the view counter, {REPS} times: {PROCESSES} processes x {ITERATIONS} views");
    let exe = std::env::current_exe().unwrap();
    let mut counts = Vec::new();
    let mut times = Vec::new();
    for _ in 0..REPS {
        let views = Arc::new(Mutex::new(BTreeMap::<String, i64>::new()));
        let mut server = Server::new(KEY);
        let v = Arc::clone(&views);
        server.register("get", move |k: String| {
            v.lock().unwrap().get(&k).copied().unwrap_or(0)
        });
        let v = Arc::clone(&views);
        server.register("inc", move |k: String| {
            *v.lock().unwrap().entry(k).or_insert(0) += 1
        });
        let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
        let addr = running.local_addr().to_string();
        let started = Instant::now();
        let mut children = Children(Vec::new());
        for _ in 0..PROCESSES {
            children.0.push(
                Command::new(&exe)
                    .args(["counter-client", &addr, &ITERATIONS.to_string()])
                    .stdin(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
        }
        // Wait (bounded) for every child.
        let mut ok = true;
        let give_up = Instant::now() + Duration::from_secs(60);
        for c in &mut children.0 {
            loop {
                match c.try_wait() {
                    Ok(Some(status)) => {
                        ok &= status.success();
                        break;
                    }
                    Ok(None) if Instant::now() < give_up => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    _ => {
                        ok = false;
                        break;
                    }
                }
            }
        }
        drop(children);
        times.push(started.elapsed());
        let count = views.lock().unwrap().get("hikakin").copied().unwrap_or(0);
        counts.push(if ok { count } else { -1 });
        running.shutdown().unwrap();
    }
    let total: Duration = times.iter().sum();
    check(
        failures,
        counts
            .iter()
            .all(|&c| c == PROCESSES as i64 * ITERATIONS as i64),
        format!(
            "counts {counts:?} (each should be {}); {:.2} s per repetition on average",
            PROCESSES as u64 * ITERATIONS,
            total.as_secs_f64() / REPS as f64
        ),
    );
}

fn one_way_stream(failures: &mut Vec<String>) {
    const STREAMS: u64 = 2;
    const PER_STREAM: u64 = 200_000;
    println!("-- a one-way stream: {STREAMS} x {PER_STREAM} notifications");
    let next = Arc::new(Mutex::new((vec![0u64; STREAMS as usize], 0u64)));
    let mut server = Server::new(KEY);
    let n2 = Arc::clone(&next);
    server.register("seq", move |stream: u64, n: u64| {
        let mut st = n2.lock().unwrap();
        if st.0[stream as usize] != n {
            st.1 += 1;
        }
        st.0[stream as usize] = n + 1;
    });
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().clone();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for stream in 0..STREAMS {
            let addr = &addr;
            scope.spawn(move || {
                let client = Client::connect(addr, KEY).unwrap();
                for n in 0..PER_STREAM {
                    client.notify("seq", (stream, n)).unwrap();
                }
                client.close();
            });
        }
    });
    let elapsed = started.elapsed();
    let st = next.lock().unwrap();
    let calls = running.stats().calls;
    check(
        failures,
        st.1 == 0 && st.0.iter().all(|&n| n == PER_STREAM) && calls == STREAMS * PER_STREAM,
        format!(
            "{} notifications in {:.2} s ({:.0}/s): {} out of order, {calls} run",
            STREAMS * PER_STREAM,
            elapsed.as_secs_f64(),
            (STREAMS * PER_STREAM) as f64 / elapsed.as_secs_f64(),
            st.1
        ),
    );
    drop(st);
    running.shutdown().unwrap();
}

fn notifications_under_contention(failures: &mut Vec<String>) {
    const RUNS: usize = 5;
    const N: u64 = 100_000;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!(
        "-- notifications under CPU contention: {RUNS} x {N} on one connection beside {cores} busy threads"
    );
    let mut worst_threads = 0;
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let count = Arc::new(AtomicU64::new(0));
        let mut server = Server::new(KEY);
        let c = Arc::clone(&count);
        server.register("tick", move |_: u64| {
            c.fetch_add(1, Ordering::Relaxed);
        });
        let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let hogs: Vec<_> = (0..cores)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        let client = Client::connect(running.local_addr(), KEY).unwrap();
        let started = Instant::now();
        for n in 0..N {
            client.notify("tick", n).unwrap();
        }
        let mut most = 0;
        let finished = wait_for(Duration::from_secs(120), || {
            most = most.max(handler_threads());
            count.load(Ordering::Relaxed) == N
        });
        times.push(started.elapsed());
        stop.store(true, Ordering::Relaxed);
        for h in hogs {
            h.join().unwrap();
        }
        client.close();
        running.shutdown().unwrap();
        worst_threads = worst_threads.max(if finished { most } else { usize::MAX });
    }
    check(
        failures,
        worst_threads <= 16,
        format!(
            "handler threads used by one connection's notifications: at most {worst_threads}; \
             times {:?} s",
            times
                .iter()
                .map(|t| (t.as_secs_f64() * 100.0).round() / 100.0)
                .collect::<Vec<_>>()
        ),
    );
}

// ---------------------------------------------------------------- soak

#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    /// Calls with a 5 ms timeout answered (after 50 ms) rather than timed out.
    late: AtomicU64,
    unexpected: AtomicU64,
    first_unexpected: Mutex<Option<String>>,
}

impl Tally {
    fn ok(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    fn bad(&self, what: String) {
        self.unexpected.fetch_add(1, Ordering::Relaxed);
        self.first_unexpected.lock().unwrap().get_or_insert(what);
    }
}

fn soak_server() -> RunningServer {
    let config = Config::default().handshake_timeout(Duration::from_secs(1));
    let mut server = Server::with_config(KEY, config);
    server.register("add", |a: i64, b: i64| a.wrapping_add(b));
    server.register("echo", |s: String| s);
    server.register("blob", |n: u32| vec![7u8; n.min(1 << 20) as usize]);
    server.register("sleep", |ms: u64| {
        std::thread::sleep(Duration::from_millis(ms.min(100)))
    });
    server.register("fail", |x: i64| -> Result<i64, String> {
        Err(format!("{x} refused"))
    });
    server.register("boom", |_: u64| -> u64 { panic!("{DELIBERATE}") });
    let ticks = AtomicU64::new(0);
    server.register("tick", move |_: u64| {
        ticks.fetch_add(1, Ordering::Relaxed);
    });
    server.bind("127.0.0.1:0").unwrap().spawn().unwrap()
}

/// One steady client's mixed load, until `stop`.
fn steady_client(addr: &SocketAddr, seed: u64, stop: &AtomicBool, tally: &Tally) {
    let client = match Client::connect(*addr, KEY) {
        Ok(c) => c,
        Err(e) => return tally.bad(format!("connect: {e}")),
    };
    let mut x = seed.max(1);
    let echo = "x".repeat(1024);
    while !stop.load(Ordering::Relaxed) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let r = x % 100;
        let i = (x >> 32) as i64;
        let outcome: Result<(), String> = match r {
            0..=59 => match client.call::<_, i64>("add", (i, 1i64)) {
                Ok(v) if v == i.wrapping_add(1) => Ok(()),
                other => Err(format!("add: {other:?}")),
            },
            60..=74 => match client.call::<_, String>("echo", echo.as_str()) {
                Ok(v) if v.len() == 1024 => Ok(()),
                other => Err(format!("echo: {other:?}")),
            },
            75..=79 => match client.call::<_, Vec<u8>>("blob", 65_536u32) {
                Ok(v) if v.len() == 65_536 => Ok(()),
                other => Err(format!("blob: {:?}", other.map(|v| v.len()))),
            },
            80..=84 => match client.call::<_, i64>("fail", i) {
                Err(e) if e.remote_kind() == Some(RemoteKind::Handler) => Ok(()),
                other => Err(format!("fail: {other:?}")),
            },
            85 => match client.call::<_, u64>("boom", 1u64) {
                Err(e) if e.remote_kind() == Some(RemoteKind::Panicked) => Ok(()),
                other => Err(format!("boom: {other:?}")),
            },
            86..=88 => match client.call::<_, ()>("sleep", 5u64) {
                Ok(()) => Ok(()),
                other => Err(format!("sleep: {other:?}")),
            },
            89 => {
                // The reply comes after 50 ms; the caller gives up after 5 ms.
                // A caller descheduled past the reply's arrival may still get
                // it (counted apart); it must never wait much longer.
                let t = Instant::now();
                let r = client.call_timeout::<_, ()>("sleep", 50u64, Duration::from_millis(5));
                let took = t.elapsed();
                match r {
                    _ if took > Duration::from_secs(1) => {
                        Err(format!("a 5 ms timeout took {took:?}"))
                    }
                    Err(Error::Timeout) => Ok(()),
                    Ok(()) => {
                        tally.late.fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    }
                    other => Err(format!("timeout: {other:?}")),
                }
            }
            90..=94 => {
                let pending: Vec<_> = (0..16i64)
                    .map(|k| client.start::<_, i64>("add", (k, k)))
                    .collect();
                pending.into_iter().enumerate().try_for_each(|(k, p)| {
                    match p.and_then(|p| p.wait()) {
                        Ok(v) if v == 2 * k as i64 => Ok(()),
                        other => Err(format!("pipelined: {other:?}")),
                    }
                })
            }
            _ => client.notify("tick", x).map_err(|e| format!("notify: {e}")),
        };
        match outcome {
            Ok(()) => tally.ok(),
            Err(e) => tally.bad(e),
        }
    }
    client.close();
}

/// Connects, makes a few calls, leaves; again and again.
fn churning_client(addr: &SocketAddr, stop: &AtomicBool, tally: &Tally) {
    while !stop.load(Ordering::Relaxed) {
        match Client::connect(*addr, KEY) {
            Ok(client) => {
                for i in 0..10i64 {
                    match client.call::<_, i64>("add", (i, i)) {
                        Ok(v) if v == 2 * i => tally.ok(),
                        other => tally.bad(format!("churn: {other:?}")),
                    }
                }
                client.close();
            }
            Err(e) => tally.bad(format!("churn connect: {e}")),
        }
    }
}

/// Wrong keys, garbage after a good handshake, and silence, paced.
fn hostile_peer(addr: &SocketAddr, stop: &AtomicBool, tally: &Tally) {
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        match Client::connect(*addr, b"wrong key") {
            Err(Error::Auth(_)) => {}
            other => tally.bad(format!("a wrong key was not refused: {other:?}")),
        }
        // A silent peer, left to the handshake deadline.
        if let Ok(s) = TcpStream::connect(addr) {
            std::thread::spawn(move || {
                let mut s = s;
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = s.read_to_end(&mut Vec::new());
            });
        }
        // Garbage where the answer to the challenge belongs.
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.write_all(&[0xff; 64]);
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.read_to_end(&mut Vec::new());
        }
        if round % 10 == 0 {
            let _ = TcpStream::connect(addr).map(|mut s| s.write_all(b"GET / HTTP/1.1\r\n\r\n"));
        }
        // Pacing the hostile peer is the scenario.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the process held during one 30 s window, sampled every second.
struct Window {
    end: Duration,
    rss: Vec<f64>,
    threads: Vec<usize>,
    fds: Vec<usize>,
}

fn mean<T: Copy + Into<f64>>(v: &[T]) -> f64 {
    v.iter().map(|&x| x.into()).sum::<f64>() / v.len().max(1) as f64
}

fn max_of<T: Copy + PartialOrd + Default>(v: &[T]) -> T {
    v.iter()
        .copied()
        .fold(T::default(), |a, b| if b > a { b } else { a })
}

fn soak(length: Duration, failures: &mut Vec<String>) {
    const STEADY: u64 = 8;
    const EVERY: Duration = Duration::from_secs(30);
    println!(
        "== soak: {} min of mixed load ({STEADY} steady clients, a churning client, a hostile peer); \
         a sample every {} s",
        length.as_secs() / 60,
        EVERY.as_secs()
    );
    let running = soak_server();
    let addr = running.local_addr().as_tcp().unwrap();
    let stop = AtomicBool::new(false);
    let tally = Tally::default();
    let started = Instant::now();
    let mut windows: Vec<Window> = Vec::new();
    std::thread::scope(|scope| {
        for i in 0..STEADY {
            let (stop, tally, addr) = (&stop, &tally, &addr);
            scope.spawn(move || steady_client(addr, 0x9e37_79b9_7f4a_7c15 ^ (i + 1), stop, tally));
        }
        scope.spawn(|| churning_client(&addr, &stop, &tally));
        scope.spawn(|| hostile_peer(&addr, &stop, &tally));
        println!(
            "  {:>6} {:>10} {:>7} {:>15} {:>11} {:>9}   server",
            "time", "operations", "failed", "RSS MiB avg/max", "threads", "fds"
        );
        let end = started + length;
        let mut window = Window {
            end: EVERY,
            rss: Vec::new(),
            threads: Vec::new(),
            fds: Vec::new(),
        };
        loop {
            // One sample a second; a line every 30 s.
            std::thread::sleep(
                Duration::from_secs(1).min(end.saturating_duration_since(Instant::now())),
            );
            window.rss.push(rss_mib());
            window.threads.push(threads());
            window.fds.push(fds());
            let now = started.elapsed();
            let done = Instant::now() >= end;
            if now < window.end && !done {
                continue;
            }
            let stats = running.stats();
            println!(
                "  {:>5.0}s {:>10} {:>7} {:>7.1}/{:<7.1} {:>5.1}/{:<5} {:>4.1}/{:<4}   open {} accepted {} auth failures {} errors {}",
                now.as_secs_f64(),
                tally.calls.load(Ordering::Relaxed),
                tally.unexpected.load(Ordering::Relaxed),
                mean(&window.rss),
                max_of(&window.rss),
                mean(&window.threads.iter().map(|&t| t as u32).collect::<Vec<_>>()),
                max_of(&window.threads),
                mean(&window.fds.iter().map(|&t| t as u32).collect::<Vec<_>>()),
                max_of(&window.fds),
                stats.open_connections,
                stats.accepted,
                stats.auth_failures,
                stats.errors
            );
            let next = Window {
                end: window.end + EVERY,
                rss: Vec::new(),
                threads: Vec::new(),
                fds: Vec::new(),
            };
            windows.push(std::mem::replace(&mut window, next));
            if done {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    running.shutdown().unwrap();
    let calls = tally.calls.load(Ordering::Relaxed);
    let bad = tally.unexpected.load(Ordering::Relaxed);
    check(
        failures,
        bad == 0,
        format!(
            "{calls} operations in {:.0} s ({:.0}/s), {bad} unexpected outcomes (first: {:?})",
            started.elapsed().as_secs_f64(),
            calls as f64 / started.elapsed().as_secs_f64(),
            tally.first_unexpected.lock().unwrap()
        ),
    );
    println!(
        "  calls with a 5 ms timeout answered late (the caller was descheduled past the reply): {}",
        tally.late.load(Ordering::Relaxed)
    );
    // The first window is the warm-up baseline; the last must not exceed it.
    let (Some(first), Some(last)) = (windows.first(), windows.last()) else {
        return;
    };
    if windows.len() < 2 || first.threads.iter().all(|&t| t == 0) {
        println!("  (too few windows, or no /proc: flatness not checked)");
        return;
    }
    let as_f64 = |v: &[usize]| mean(&v.iter().map(|&x| x as u32).collect::<Vec<_>>());
    let (rss0, rss1) = (mean(&first.rss), mean(&last.rss));
    let rss_room = 16.0 + rss0 * 0.25;
    check(
        failures,
        rss1 <= rss0 + rss_room,
        format!(
            "memory flat: {rss0:.1} MiB on average in the first 30 s, {rss1:.1} MiB in the last \
             (to {:.0} s; peak {:.1}; allowed +{rss_room:.1})",
            last.end.as_secs_f64().min(started.elapsed().as_secs_f64()),
            windows.iter().map(|w| max_of(&w.rss)).fold(0.0, f64::max)
        ),
    );
    let (t0, t1) = (as_f64(&first.threads), as_f64(&last.threads));
    check(
        failures,
        t1 <= t0 + 16.0,
        format!("threads flat: {t0:.1} on average first, {t1:.1} last (allowed +16)"),
    );
    let (f0, f1) = (as_f64(&first.fds), as_f64(&last.fds));
    check(
        failures,
        f1 <= f0 + 32.0,
        format!("descriptors flat: {f0:.1} on average first, {f1:.1} last (allowed +32)"),
    );
}
