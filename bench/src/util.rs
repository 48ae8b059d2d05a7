//! Measuring helpers: iteration and time budgets, process CPU time and
//! context switches (`getrusage`), file-descriptor limits.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// How much one measurement may do: it stops at whichever limit comes first.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub iters: u64,
    pub time: Duration,
}

impl Budget {
    pub fn new(iters: u64, time: Duration) -> Budget {
        Budget { iters, time }
    }

    /// A tenth of this budget (at least one iteration), for warming up.
    pub fn warmup(self) -> Budget {
        Budget {
            iters: (self.iters / 10).max(1),
            time: self.time / 10,
        }
    }
}

/// What one timed region cost.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub secs: f64,
    pub ops: u64,
    /// CPU time (user + system) of the whole bench process, all threads,
    /// plus that of the server child (tick-based: 10 ms resolution).
    pub cpu_secs: f64,
    /// Voluntary plus involuntary context switches of the whole process
    /// and of the server child's live threads.
    pub csw: u64,
}

impl Measured {
    /// Microseconds per operation.
    pub fn us_per_op(&self) -> f64 {
        self.secs * 1e6 / self.ops.max(1) as f64
    }

    /// Operations per second.
    pub fn per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    pub fn cpu_us_per_op(&self) -> f64 {
        self.cpu_secs * 1e6 / self.ops.max(1) as f64
    }

    pub fn csw_per_op(&self) -> f64 {
        self.csw as f64 / self.ops.max(1) as f64
    }
}

/// Process-wide resource usage at one instant.
#[derive(Debug, Clone, Copy)]
struct Usage {
    cpu_secs: f64,
    csw: u64,
}

fn usage() -> Usage {
    // SAFETY: `getrusage` only writes into the zeroed struct we pass it.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Usage {
        cpu_secs: tv(ru.ru_utime) + tv(ru.ru_stime),
        csw: (ru.ru_nvcsw + ru.ru_nivcsw) as u64,
    }
}

/// The server child processes alive now (registered by `serve.rs`), whose
/// CPU time and context switches a [`Meter`] adds to this process's.
static SERVERS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

pub fn register_server(pid: u32) {
    SERVERS.lock().expect("not poisoned").push(pid);
}

pub fn unregister_server(pid: u32) {
    SERVERS.lock().expect("not poisoned").retain(|&p| p != pid);
}

/// A live child's usage from /proc: CPU from `stat` (utime + stime, all
/// its threads, exited ones included), context switches summed over its
/// live threads' `status`.
fn child_usage(pid: u32) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut csw = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                csw += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Some(Usage {
        cpu_secs: ticks as f64 / hz,
        csw,
    })
}

/// A running stopwatch that also records CPU time and context switches,
/// of this process and of the server children alive when it started.
#[derive(Debug)]
pub struct Meter {
    start: Instant,
    usage: Usage,
    servers: Vec<(u32, Usage)>,
}

impl Meter {
    pub fn start() -> Meter {
        let servers = SERVERS
            .lock()
            .expect("not poisoned")
            .iter()
            .filter_map(|&pid| child_usage(pid).map(|u| (pid, u)))
            .collect();
        let usage = usage();
        Meter {
            start: Instant::now(),
            usage,
            servers,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn stop(self, ops: u64) -> Measured {
        let secs = self.start.elapsed().as_secs_f64();
        let end = usage();
        let (mut cpu_secs, mut csw) = (
            end.cpu_secs - self.usage.cpu_secs,
            end.csw.saturating_sub(self.usage.csw),
        );
        for (pid, before) in &self.servers {
            if let Some(after) = child_usage(*pid) {
                cpu_secs += (after.cpu_secs - before.cpu_secs).max(0.0);
                csw += after.csw.saturating_sub(before.csw);
            }
        }
        Measured {
            secs,
            ops,
            cpu_secs,
            csw,
        }
    }
}

/// Runs `op(i)` for i = 0, 1, ... until the budget is spent, checking the
/// clock every `batch` operations.
pub fn timed_loop(
    budget: Budget,
    batch: u64,
    mut op: impl FnMut(u64) -> Result<(), String>,
) -> Result<Measured, String> {
    let meter = Meter::start();
    let mut i = 0;
    while i < budget.iters {
        for _ in 0..batch.min(budget.iters - i) {
            op(i)?;
            i += 1;
        }
        if meter.elapsed() >= budget.time {
            break;
        }
    }
    Ok(meter.stop(i))
}

/// Turns any displayable error into the suite's error type.
pub fn err<E: Display>(context: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{context}: {e}")
}

/// Raises this process's open-file limit as far as it goes (the hard limit
/// too when running as root). Returns the soft limit now in force.
pub fn raise_nofile(want: u64) -> u64 {
    // SAFETY: get/setrlimit read and write the struct we pass them.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur as u64 >= want {
            return lim.rlim_cur as u64;
        }
        let raised = libc::rlimit {
            rlim_cur: want as libc::rlim_t,
            rlim_max: (lim.rlim_max as u64).max(want) as libc::rlim_t,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur as u64
    }
}

/// A fresh path for a Unix socket in the suite's temporary directory.
pub fn socket_path(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = temp_dir();
    dir.join(format!("{tag}-{}-{n}.sock", std::process::id()))
}

/// The suite's own temporary directory (created on first use).
///
/// Server children use their parent's (passed in `STDRPC_BENCH_TMP`), so
/// that the parent removes everything at the end.
pub fn temp_dir() -> std::path::PathBuf {
    let dir = match std::env::var_os("STDRPC_BENCH_TMP") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("stdrpc-bench-{}", std::process::id())),
    };
    let _ = std::fs::create_dir_all(&dir);
    dir
}
