//! The server-wide memory budget: 32 connections each send a maximal frame
//! at once, built to make decoding take as much memory as it can, and the
//! server's peak resident memory stays under the budget plus a fixed margin
//! while a real client goes on being served. Each request either runs, is
//! refused by the codec's memory bound (`BadArguments`), or is refused by
//! the budget (`Overloaded`); none closes a connection or the process.
//!
//! The server runs in a child process (this test binary re-executed), so its
//! peak RSS (`VmHWM`) is its own. Figures print with `-- --nocapture`.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use stdrpc::__private::write_varint_u64;
use stdrpc::{Client, Config, Server};
use support::child::{self, Proc};
use support::raw;
use support::sys;

const KEY: &[u8] = b"budget-key";
const MAX_FRAME: usize = 4 << 20;
const BUDGET: usize = 96 << 20;
const CONNECTIONS: usize = 32;
/// What the server may hold beyond the budget: per-connection read buffers
/// and thread stacks, the decoder's fixed 1 MiB slack per request being
/// decoded, the allocator's own overhead.
const MARGIN: usize = 24 << 20;
/// glibc's malloc raises its mmap threshold (up to 32 MiB) each time a
/// large block is freed, and then keeps freed blocks in per-thread arenas
/// instead of returning them: RSS then measures the allocator's retention,
/// not what the server holds (about 145 MiB here instead of 72). Pinning the
/// threshold at its initial 128 KiB makes every large block a mapping of
/// its own, returned on free, so the peak RSS tracks live memory.
const MALLOC_ENV: [(&str, &str); 1] = [("MALLOC_MMAP_THRESHOLD_", "131072")];
const TEST: &str = "the_memory_budget_bounds_what_32_maximal_requests_take";

/// The worst inputs: each a maximal frame of one-byte elements, decoded as
/// 8 (accepted: exactly the codec's factor), 24 and 520 bytes of memory per
/// input byte (refused by the codec's bound before anything is allocated).
const METHODS: [&str; 3] = ["sum", "strings", "nones"];

fn serve_as_child() {
    let config = Config::default()
        .max_frame(MAX_FRAME)
        .memory_budget(BUDGET)
        .budget_wait(Duration::from_secs(2));
    let mut server = Server::with_config(KEY, config);
    server.register("sum", |v: Vec<u64>| v.iter().sum::<u64>());
    server.register("strings", |v: Vec<String>| v.len() as u64);
    server.register("nones", |v: Vec<Option<[u64; 64]>>| v.len() as u64);
    server.register("ping", || 1u8);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let port = running.local_addr().as_tcp().unwrap().port();
    child::say(&format!(
        "ready {port} {}",
        sys::peak_rss_kib().unwrap_or(0)
    ));
    child::wait_for_parent();
    let stats = running.stats();
    child::say(&format!(
        "peak {} overloaded {}",
        sys::peak_rss_kib().unwrap_or(0),
        stats.overloaded
    ));
    running.shutdown().unwrap();
}

/// A call message of exactly `MAX_FRAME` bytes: `method` with a collection
/// of that many zero bytes' elements.
fn maximal_call(method: &str) -> Vec<u8> {
    let head = raw::call(1, method, &[]);
    // varint length (5 bytes for lengths of 2^16 and more) and the elements.
    let n = MAX_FRAME - head.len() - 5;
    let mut m = head;
    write_varint_u64(&mut m, n as u64);
    assert_eq!(m.len() + n, MAX_FRAME);
    m.resize(MAX_FRAME, 0);
    m
}

#[derive(Debug, Default)]
struct Outcomes {
    ran: AtomicU64,
    bad_arguments: AtomicU64,
    overloaded: AtomicU64,
}

#[test]
fn the_memory_budget_bounds_what_32_maximal_requests_take() {
    if child::role().as_deref() == Some("server") {
        return serve_as_child();
    }
    let _serial = sys::serial();
    let proc = Proc::reexec_env(TEST, "server", &[], &MALLOC_ENV);
    let ready = proc.expect_line("ready ", Duration::from_secs(60));
    let mut parts = ready.split_whitespace();
    let port: u16 = parts.next().unwrap().parse().unwrap();
    let rss_before: u64 = parts.next().unwrap().parse().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let calls: Vec<Arc<Vec<u8>>> = METHODS.iter().map(|m| Arc::new(maximal_call(m))).collect();
    let outcomes = Arc::new(Outcomes::default());
    let barrier = Arc::new(Barrier::new(CONNECTIONS));
    let storm: Vec<_> = (0..CONNECTIONS)
        .map(|i| {
            let (call, outcomes, barrier) = (
                Arc::clone(&calls[i % METHODS.len()]),
                Arc::clone(&outcomes),
                Arc::clone(&barrier),
            );
            std::thread::spawn(move || {
                let mut s = raw::authenticated(addr, KEY);
                s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                barrier.wait();
                s.write_all(&(call.len() as u32).to_be_bytes()).unwrap();
                s.write_all(&call).unwrap();
                let reply = raw::read_frame(&mut s).expect("a reply, not a closed connection");
                let counter = match raw::parse_reply(&reply) {
                    raw::Reply::Ok { result, .. } => {
                        assert_eq!(result, [0]);
                        &outcomes.ran
                    }
                    raw::Reply::Err { kind: 2, .. } => &outcomes.bad_arguments,
                    raw::Reply::Err { kind: 7, .. } => &outcomes.overloaded,
                    other => panic!("unexpected reply {other:?}"),
                };
                counter.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    // A real client calls every 20 ms throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let real = {
        let stop = Arc::clone(&stop);
        let client = Client::connect(addr, KEY).unwrap();
        std::thread::spawn(move || {
            let (mut calls, mut failures, mut worst) = (0u32, 0u32, Duration::ZERO);
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                match client.call_timeout::<_, u8>("ping", (), Duration::from_secs(5)) {
                    Ok(1) => calls += 1,
                    _ => failures += 1,
                }
                worst = worst.max(started.elapsed());
                // Pacing: a call every 20 ms.
                std::thread::sleep(Duration::from_millis(20));
            }
            (calls, failures, worst)
        })
    };
    let started = Instant::now();
    for t in storm {
        t.join().unwrap();
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (real_calls, real_failures, real_worst) = real.join().unwrap();
    let (lines, status) = proc.finish(Duration::from_secs(60));
    assert!(status.success(), "{lines:?}");
    let peak_line = lines
        .iter()
        .find_map(|l| l.strip_prefix("peak "))
        .expect("the child's peak line");
    let mut parts = peak_line.split_whitespace();
    let peak: u64 = parts.next().unwrap().parse().unwrap();
    let growth = (peak.saturating_sub(rss_before) * 1024) as usize;
    let (ran, bad, overloaded) = (
        outcomes.ran.load(Ordering::Relaxed),
        outcomes.bad_arguments.load(Ordering::Relaxed),
        outcomes.overloaded.load(Ordering::Relaxed),
    );
    println!(
        "{CONNECTIONS} maximal requests of {} MiB at once (worst decode inputs: 8x, 24x, 520x) \
         against a budget of {} MiB: {ran} ran, {bad} refused by the codec's memory bound, \
         {overloaded} overloaded, in {:.2} s; server peak RSS growth {:.1} MiB (budget + \
         margin {} MiB); a real client: {real_calls} calls, {real_failures} failed, worst \
         {:.1} ms",
        MAX_FRAME >> 20,
        BUDGET >> 20,
        took.as_secs_f64(),
        growth as f64 / (1 << 20) as f64,
        (BUDGET + MARGIN) >> 20,
        real_worst.as_secs_f64() * 1e3,
    );
    assert_eq!(ran + bad + overloaded, CONNECTIONS as u64);
    assert!(ran > 0, "no request ran");
    assert!(bad > 0, "the codec's bound refused nothing");
    assert!(
        growth <= BUDGET + MARGIN,
        "peak growth {growth} bytes exceeds the budget plus margin"
    );
    assert_eq!(real_failures, 0, "the real client saw errors");
    assert!(real_calls > 0);
}
