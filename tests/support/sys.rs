//! What the process holds: resident memory, threads, descriptors (Linux
//! `/proc/self`; elsewhere the readings are `None` and the checks that use
//! them are skipped with a message), and bounded waiting.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// `Some` on Linux only. Under Wine a Windows build can read the host's
/// `/proc/self`, but that is the Wine process (its own descriptors and
/// threads included), not the figures these checks are about.
fn linux_only() -> Option<()> {
    cfg!(target_os = "linux").then_some(())
}

/// Resident set size in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kib() -> Option<u64> {
    linux_only()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Threads of this process (entries of `/proc/self/task`).
pub fn threads() -> Option<usize> {
    linux_only()?;
    Some(std::fs::read_dir("/proc/self/task").ok()?.count())
}

/// Open descriptors of this process (entries of `/proc/self/fd`, less the
/// one `read_dir` itself holds while listing).
pub fn fds() -> Option<usize> {
    linux_only()?;
    Some(
        std::fs::read_dir("/proc/self/fd")
            .ok()?
            .count()
            .saturating_sub(1),
    )
}

/// The soft limit on open descriptors (`Max open files` of `/proc/self/limits`).
pub fn fd_limit() -> Option<u64> {
    linux_only()?;
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Memory growth since `before`, in MiB (0 when RSS cannot be read).
pub fn rss_growth_mib(before: Option<u64>) -> f64 {
    match (before, rss_kib()) {
        (Some(b), Some(a)) => (a as f64 - b as f64) / 1024.0,
        _ => 0.0,
    }
}

/// Polls `cond` until it holds; panics naming `what` after `timeout`.
/// Returns how long it took.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    let mut pause = Duration::from_micros(50);
    while !cond() {
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting until {what}"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
    started.elapsed()
}

/// Polls `cond` until it holds (true) or `timeout` passes (false).
pub fn wait_until_or_not(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    let mut pause = Duration::from_micros(50);
    loop {
        if cond() {
            return true;
        }
        if started.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// Serialises the tests of one test binary that measure process-wide
/// figures (memory, threads, descriptors), so that no other test's server
/// runs at the same time. A failed test does not poison it for the others.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `p` in 0..=100 of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The thread count once it has stopped changing for 100 ms (threads of a
/// server just shut down may still be exiting), waiting at most 5 s.
pub fn quiet_threads() -> usize {
    let Some(mut last) = threads() else {
        return 0;
    };
    let started = Instant::now();
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_millis(100) && started.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(5));
        let now = threads().unwrap_or(last);
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    last
}

/// The names of this process's threads (`/proc/self/task/*/comm`, at most
/// 15 bytes each).
pub fn thread_names() -> Vec<String> {
    if linux_only().is_none() {
        return Vec::new();
    }
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|n| n.trim_end().to_owned())
        .collect()
}

/// Threads of the server's pools, which idle for a while (30 s) before they
/// end so that later work can reuse them, and all other threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadCounts {
    /// Handler threads ("stdrpc-handler"), at most `Config::workers`.
    pub handlers: usize,
    /// Connection threads ("stdrpc-conn"), at most one per connection open
    /// at once.
    pub connections: usize,
    /// Every other thread.
    pub other: usize,
}

pub fn thread_counts() -> ThreadCounts {
    let names = thread_names();
    let handlers = names.iter().filter(|n| *n == "stdrpc-handler").count();
    let connections = names.iter().filter(|n| *n == "stdrpc-conn").count();
    ThreadCounts {
        handlers,
        connections,
        other: names.len() - handlers - connections,
    }
}

/// The kernel's count of connections dropped because a listen queue was
/// full (`ListenOverflows` of `TcpExt` in `/proc/net/netstat`), system-wide.
/// A client whose SYN was dropped retries it after 1 s, so a slow connect
/// with this count rising is the accept backlog, not the server's policy.
pub fn listen_overflows() -> Option<u64> {
    let netstat = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names
        .split_whitespace()
        .position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// Peak resident set size in KiB (`VmHWM` of `/proc/self/status`).
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
