//! Is the machine quiet enough to measure? The CPU time that other
//! processes used while a row ran, and the CPU steal, from /proc.
//!
//! For one measurement (one row, one round):
//!
//! - **others' CPU** = (busy jiffies of all CPUs, `/proc/stat` line `cpu`:
//!   user + nice + system + irq + softirq) minus (the CPU time of the bench
//!   process tree: `/proc/self/stat` utime + stime + cutime + cstime, the
//!   last two holding every server child, which each row reaps before it
//!   ends), as a percentage of all CPU time that passed (the sum of every
//!   column of the `cpu` line, i.e. wall time x cores). The load average
//!   is no use here: the suite's own idle threads inflate it.
//! - **steal** = the `steal` column's share of the same total.
//!
//! A measurement is *noisy* if others' CPU is above [`OTHERS_LIMIT`]% or
//! steal above [`STEAL_LIMIT`]%, or if it is a floor row whose value moved
//! more than [`FLOOR_SPREAD`]% from the median of its earlier rounds. A
//! noisy measurement is repeated, at most [`RETRIES`] times; after that it
//! is kept and marked noisy, with its interference beside it.
//!
//! Accounting is tick-based on kernels without `CONFIG_IRQ_TIME_ACCOUNTING`
//! (the task's system time then includes the softirq ticks taken in its
//! context, such as loopback TCP, so they are not counted as others'); a
//! row of 80 ms on 2 CPUs spans about 16 jiffies, so short rows resolve
//! others' CPU only to a few percent: quick runs are smoke runs.

use std::time::Instant;

/// Others' CPU, percent of all CPU time, above which a measurement is noisy.
pub const OTHERS_LIMIT: f64 = 3.0;
/// Steal, percent of all CPU time, above which a measurement is noisy.
pub const STEAL_LIMIT: f64 = 2.0;
/// How far (percent) a floor row may move from its earlier rounds' median.
pub const FLOOR_SPREAD: f64 = 10.0;
/// How many times a noisy measurement is repeated before it is kept.
pub const RETRIES: usize = 3;

#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    at: Instant,
    busy: u64,
    steal: u64,
    total: u64,
    own: u64,
}

/// What happened beside one measurement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Interference {
    /// Others' CPU, percent of all CPU time in the interval.
    pub others: f64,
    /// Steal, percent of all CPU time in the interval.
    pub steal: f64,
    /// Wall seconds of the interval.
    pub secs: f64,
}

impl Interference {
    pub fn quiet(&self) -> bool {
        self.others <= OTHERS_LIMIT && self.steal <= STEAL_LIMIT
    }
}

fn cpu_line() -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest, guest_nice are
    // already inside user and nice).
    let busy = get(0) + get(1) + get(2) + get(5) + get(6);
    let total = (0..8).map(get).sum();
    Some((busy, get(7), total))
}

fn own_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // Fields after the command name (which may contain spaces) in parens:
    // state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    (11..15)
        .map(|i| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0))
        .sum()
}

impl Snapshot {
    pub fn take() -> Snapshot {
        let (busy, steal, total) = cpu_line().unwrap_or((0, 0, 0));
        Snapshot {
            at: Instant::now(),
            busy,
            steal,
            total,
            own: own_ticks(),
        }
    }

    /// The interference from `self` to `later`.
    pub fn until(&self, later: &Snapshot) -> Interference {
        let total = later.total.saturating_sub(self.total).max(1) as f64;
        let busy = later.busy.saturating_sub(self.busy) as f64;
        let own = later.own.saturating_sub(self.own) as f64;
        Interference {
            others: ((busy - own).max(0.0) / total) * 100.0,
            steal: later.steal.saturating_sub(self.steal) as f64 / total * 100.0,
            secs: later.at.duration_since(self.at).as_secs_f64(),
        }
    }
}
