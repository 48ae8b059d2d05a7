//! The stdrpc benchmark suite: every scenario of the performance issue,
//! measured for a raw std floor, tarpc, stock CPython and stdrpc, in one run.
//!
//! ```text
//! cargo run --release -p stdrpc-bench                      # everything, 5 rounds (~2-4 min), writes BENCHMARKS.md
//! cargo run --release -p stdrpc-bench -- --quick           # smoke run: fewer iterations, 3 rounds (< 1 min)
//! cargo run --release -p stdrpc-bench -- --only pipelined  # scenarios whose key or title contains the text
//! cargo run --release -p stdrpc-bench -- --rounds 7 --out /tmp/BENCHMARKS.md
//! cargo run --release -p stdrpc-bench -- --quick --allow-noisy --out /tmp/b.md  # on a busy machine
//! bench/compare.sh BASE_REV 7 -- --only seq-tcp --row stdrpc  # same-run before/after
//! ```
//!
//! Every server runs in a process of its own (this binary as `serve KIND`,
//! see `serve.rs`); every measurement is checked for interference from
//! other processes (`quiet.rs`) and repeated, a bounded number of times, if
//! the machine was not quiet. `bench/README.md` has the details.
//!
//! The table (medians over the rounds, each with its ratio to the same run's
//! floor and best tarpc setup, and the issue's target) goes to stdout and to
//! `BENCHMARKS.md` at the workspace root; progress goes to stderr. All
//! traffic stays on 127.0.0.1 (port 0) and Unix sockets in a temporary
//! directory. Every measurement is bounded in iterations and in time.

mod floor;
mod memory;
mod peer;
mod python;
mod quiet;
mod report;
mod rpc;
mod serve;
mod util;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use floor::Transport;
use peer::Runtime;
use util::{Budget, Measured};

const USAGE: &str = "\
usage: cargo run --release -p stdrpc-bench -- [--rounds N] [--quick] [--only SCENARIO] [--out PATH]
                   [--row TEXT] [--allow-noisy] [--tsv PATH]
       stdrpc-bench compare-report A.tsv B.tsv   (see bench/compare.sh)
  --rounds N       rounds per measurement, median reported (default 5, 3 with --quick)
  --quick          fewer iterations and 1,000 instead of 10,000 connections: a smoke run
  --only SCENARIO  only scenarios whose key or title contains SCENARIO (e.g. seq, fan-in,
                   pipelined, notify, 1mib, memory, connect, python)
  --row TEXT       only rows whose system (setup) text contains TEXT (e.g. stdrpc, floor, tarpc)
  --out PATH       where to write the report (default BENCHMARKS.md at the workspace root)
  --allow-noisy    keep every measurement even if the machine was not quiet (no retries): smoke runs
  --tsv PATH       also append one tab-separated line per row and round to PATH (for compare.sh)";

#[derive(Debug, Clone)]
pub struct Options {
    pub rounds: usize,
    pub quick: bool,
    pub only: Option<String>,
    pub out: PathBuf,
    pub allow_noisy: bool,
    pub row: Option<String>,
    pub tsv: Option<PathBuf>,
    pub args: Vec<String>,
}

fn parse_args(args: Vec<String>) -> Result<Option<Options>, String> {
    let mut rounds = None;
    let mut quick = false;
    let mut only = None;
    let mut allow_noisy = false;
    let mut row = None;
    let mut tsv = None;
    let mut out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--rounds" => {
                let n: usize = value()?.parse().map_err(|_| "--rounds needs a number")?;
                if n < 1 {
                    return Err("--rounds must be at least 1".into());
                }
                rounds = Some(n);
            }
            "--quick" => quick = true,
            "--only" => only = Some(value()?.to_lowercase()),
            "--out" => out = PathBuf::from(value()?),
            "--allow-noisy" => allow_noisy = true,
            "--row" => row = Some(value()?.to_lowercase()),
            "--tsv" => tsv = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if let Ok(canonical) = out.parent().map(std::fs::canonicalize).transpose() {
        if let (Some(dir), Some(name)) = (canonical, out.file_name()) {
            out = dir.join(name);
        }
    }
    Ok(Some(Options {
        rounds: rounds.unwrap_or(if quick { 3 } else { 5 }),
        quick,
        only,
        out,
        allow_noisy,
        row,
        tsv,
        args,
    }))
}

/// Which way is better for a scenario's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// What a row is to its scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The raw std floor: the "ratio to floor" denominator.
    Floor,
    /// tarpc: the "ratio to best peer" denominator is the best of these.
    Peer,
    /// stdrpc.
    Subject,
    /// Shown for context, compared with nothing (CPython, raw threads).
    Reference,
}

/// The issue's target for a scenario, checked on its stdrpc row.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    FloorAtMost(f64),
    FloorAtLeast(f64),
    PeerAtLeast(f64),
    AtLeast(f64),
    AtMost(f64),
}

#[derive(Debug)]
pub struct Scenario {
    pub key: &'static str,
    pub title: &'static str,
    pub unit: &'static str,
    pub better: Better,
    pub target: Option<Target>,
    /// The scenario whose floor row this one's ratios use (itself if it has one).
    pub floor_of: Option<&'static str>,
    /// What the scenario measures, for the notes.
    pub about: &'static str,
}

/// One round's result for one row.
#[derive(Debug, Clone)]
pub struct Sample {
    pub value: f64,
    /// Shown beside the median in the main table (from the last round).
    pub short: Option<String>,
    pub cpu_us_per_op: Option<f64>,
    pub csw_per_op: Option<f64>,
    pub note: Option<String>,
}

impl Sample {
    fn plain(value: f64) -> Sample {
        Sample {
            value,
            short: None,
            cpu_us_per_op: None,
            csw_per_op: None,
            note: None,
        }
    }

    fn profiled(value: f64, m: &Measured) -> Sample {
        Sample {
            value,
            short: None,
            cpu_us_per_op: Some(m.cpu_us_per_op()),
            csw_per_op: Some(m.csw_per_op()),
            note: None,
        }
    }

    fn us_per_op(m: Measured) -> Sample {
        Sample::profiled(m.us_per_op(), &m)
    }

    fn per_sec(m: Measured) -> Sample {
        Sample::profiled(m.per_sec(), &m)
    }

    fn mb_per_sec(m: Measured, bytes_per_op: f64) -> Sample {
        Sample::profiled(m.per_sec() * bytes_per_op / 1e6, &m)
    }
}

type Run = Box<dyn Fn() -> Result<Sample, String>>;

pub struct Case {
    pub scenario: &'static str,
    pub system: String,
    pub role: Role,
    /// The row the scenario's target is checked on.
    pub has_target: bool,
    run: Run,
}

pub struct RowResult {
    pub case: Case,
    pub rounds: Vec<Result<Sample, String>>,
    /// Beside each round: the interference measured and whether it was
    /// still noisy after the retries.
    pub quiet: Vec<RoundQuiet>,
}

#[derive(Debug, Clone, Copy)]
pub struct RoundQuiet {
    pub interference: quiet::Interference,
    /// Measurements taken for this round (1 + retries).
    pub attempts: usize,
    pub noisy: bool,
}

const ONE_MIB: usize = 1 << 20;
const WINDOW: usize = 1024;
const FAN_IN: usize = 64;
const PYTHONS: [&str; 3] = ["3.11.7", "3.12.1", "3.13.0"];
/// The memory scenario opens 10,000 connections per row and round and its
/// figures agree to 0.5% between rounds: it runs in the first three rounds.
const MEMORY_ROUNDS: usize = 3;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            key: "seq-tcp",
            title: "1. sequential call, small args, TCP",
            unit: "µs/call",
            better: Better::Lower,
            target: Some(Target::FloorAtMost(1.25)),
            floor_of: Some("seq-tcp"),
            about: "one thread, one connection, one call at a time (round trip): `add(i64, i64) -> i64`; floor: a 12-byte frame echoed by a server thread (in a server process, as every server here), TCP_NODELAY, the best of three TCP_QUICKACK variants measured in the same round (off, once after connecting as stdrpc's server sets it, before every read; the per-round note gives all three); reference: the same ping-pong with both reads busy-polling for up to 200 µs before blocking",
        },
        Scenario {
            key: "seq-unix",
            title: "1b. sequential call, small args, Unix socket",
            unit: "µs/call",
            better: Better::Lower,
            target: None,
            floor_of: Some("seq-unix"),
            about: "as 1, over a Unix socket in a temporary directory (no target in the issue)",
        },
        Scenario {
            key: "seq-pipe",
            title: "1c. sequential call, small args, worker process over pipes",
            unit: "µs/call",
            better: Better::Lower,
            target: None,
            floor_of: None,
            about: "as 1, to a worker child process over its stdin and stdout (`Worker::spawn` of this binary, `Worker::serve` in the child), to compare with rows 1 and 1b: what Python's `multiprocessing.Process` with a `Pipe` does (no target in the issue)",
        },
        Scenario {
            key: "fan-in",
            title: "2. 64 threads sharing one client (1 connection)",
            unit: "calls/s",
            better: Better::Higher,
            // The performance issue's item 5, on the threads row: within
            // 1.5x of the hand-off floor (and at least tarpc's default
            // runtime: read it off the peer rows). Its async-row target,
            // 1.25x tarpc's best, is in the `about` text.
            target: Some(Target::FloorAtLeast(1.0 / 1.5)),
            floor_of: Some("fan-in"),
            about: "64 threads (tarpc, and stdrpc's async row: 64 tasks) share one client and one connection, each calling `add` in a loop; the target compares with tarpc's best 1 connection x 64 in flight. The floor is the physical limit of a thread-per-caller design on this machine: 64 threads handing an `i64` to one serving thread and waiting for the answer, no socket, the faster of two std implementations measured in the same round (an `mpsc` channel there and a `sync_channel` back; a `Mutex<Vec>` queue drained whole, callers parked and woken with `unpark`) (in the bench process: there is nothing to serve). The async row runs 64 tasks on a current-thread tokio runtime in the client process (a bench-only executor; stdrpc's `Pending` is a plain `Future`). Targets (the performance issue): the threads row within 1.5x of the hand-off floor and at least tarpc's default-runtime row; the async row 1.25x tarpc's best row",
        },
        Scenario {
            key: "pipelined",
            title: "3. pipelined from one thread, 1 connection",
            unit: "calls/s",
            better: Better::Higher,
            // The performance issue's target: 0.20x the raw pipelined echo.
            target: Some(Target::FloorAtLeast(0.20)),
            floor_of: Some("pipelined"),
            about: "one thread keeps up to 1024 calls in flight on one connection (stdrpc: `start()`, then `wait()` on the oldest once 1024 are pending; tarpc: a FuturesUnordered window of 1024); floor: 36-byte frames through an 8 KiB BufWriter, echoed by a buffered server, counted by a reader thread",
        },
        Scenario {
            key: "notify",
            title: "4. one-way notifications (FX tick)",
            unit: "ticks/s",
            better: Better::Higher,
            // The issue's target: 0.30x the raw *pipelined echo* (scenario
            // 3's floor, same run); this scenario's own floor rows (the raw
            // one-way stream, and it plus the codec work) show beside it.
            target: Some(Target::FloorAtLeast(0.30)),
            floor_of: Some("pipelined"),
            about: "`notify(\"tick\", (\"EURUSD\", \"2024-01-01T00:00:00.000\", 1.0812, 1.0814))` in a loop, timed until `close()` returns (the server has run every one; its handler counts them and the count is checked); floor: the same frame bytes streamed one way through an 8 KiB BufWriter, parsed and counted by the server, which acknowledges the count; tarpc has no one-way messages. Ratios are to scenario 3's raw pipelined echo, as the performance issue states its target (run both scenarios together for them). `close()` is given 5 s (3 s with `--quick`): if it has not returned by then, the figure is the number the server had run divided by the time, and the per-round note says so",
        },
        Scenario {
            key: "1mib",
            title: "5. 1 MiB argument echoed",
            unit: "MB/s",
            better: Better::Higher,
            target: Some(Target::FloorAtLeast(0.75)),
            floor_of: Some("1mib"),
            about: "one call at a time whose argument is 1 MiB of bytes, returned unchanged; MB/s counts request plus response payload (2 x 1,048,576 bytes per echo, MB = 10^6 bytes); floor: a 1 MiB frame (header and payload in one buffer, one `write_all`) written, read whole by the server and written back the same way",
        },
        Scenario {
            key: "memory",
            title: "6. memory per idle connection",
            unit: "KiB/conn",
            better: Better::Lower,
            target: Some(Target::AtMost(64.0)),
            floor_of: None,
            about: "server RSS (VmRSS of a child process running only the server) before and after 10,000 clients (a second child process) connect, authenticate (stdrpc) and make one call each, then sit idle; (after - before) / connections; measured in the first 3 rounds only (it is slow and its figures agree to 0.5%). Kernel memory (socket buffers, each thread's kernel stack) is not in RSS. This machine allows a process at most 20,000 open files (a hard limit that even root cannot raise here), so a server holding 3 descriptors per connection, as stdrpc's does, stops near 6,660 connections; the table then says how many were held",
        },
        Scenario {
            key: "connect",
            title: "7. connect + handshake",
            unit: "µs/conn",
            better: Better::Lower,
            target: Some(Target::FloorAtMost(3.0)),
            floor_of: Some("connect"),
            about: "open a new connection and drop it, in a loop; stdrpc: `Client::connect` (TCP, TCP_NODELAY, the mutual HMAC-SHA256 handshake: three round trips); tarpc has no handshake, so its row is connect + its first call; floor: TCP connect + one 12-byte round trip, accepted and answered inline",
        },
        Scenario {
            key: "python",
            title: "8. CPython reference rows",
            unit: "µs/call",
            better: Better::Lower,
            target: None,
            floor_of: Some("seq-tcp"),
            about: "stock CPython through pyenv, client and server in two processes on 127.0.0.1 (Python sets no TCP_NODELAY); ratios are to the TCP ping-pong floor of scenario 1. One row runs the BaseManager example's client (CPython 3.11) against a stdrpc server instead of Python's, for the same per-call pattern",
        },
    ]
}

struct Budgets {
    seq: Budget,
    fan_in: Budget,
    pipelined: Budget,
    notify: Budget,
    /// How long `close()` may take after the notifications were sent.
    close_limit: Duration,
    big: Budget,
    connect: Budget,
    memory_conns: usize,
    py_rtt: u64,
    py_proxy: u64,
    py_percall: u64,
}

impl Budgets {
    fn new(quick: bool) -> Budgets {
        let ms = Duration::from_millis;
        if quick {
            Budgets {
                seq: Budget::new(3_000, ms(80)),
                fan_in: Budget::new(10_000, ms(100)),
                pipelined: Budget::new(300_000, ms(100)),
                notify: Budget::new(500_000, ms(100)),
                close_limit: ms(3_000),
                big: Budget::new(40, ms(80)),
                connect: Budget::new(300, ms(80)),
                memory_conns: 1_000,
                py_rtt: 300,
                py_proxy: 300,
                py_percall: 3,
            }
        } else {
            Budgets {
                seq: Budget::new(20_000, ms(400)),
                fan_in: Budget::new(64_000, ms(500)),
                pipelined: Budget::new(3_000_000, ms(500)),
                notify: Budget::new(5_000_000, ms(500)),
                close_limit: ms(5_000),
                big: Budget::new(400, ms(400)),
                connect: Budget::new(2_000, ms(400)),
                memory_conns: 10_000,
                py_rtt: 2_000,
                py_proxy: 2_000,
                py_percall: 5,
            }
        }
    }
}

/// The bytes of one stdrpc notification frame of the tick, for the floor.
fn tick_frame() -> Vec<u8> {
    let args = stdrpc::to_vec(&rpc::TICK);
    let mut payload = vec![0x02, 4];
    payload.extend_from_slice(b"tick");
    payload.extend_from_slice(&args);
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&payload);
    frame
}

fn cases(b: &Budgets) -> Vec<Case> {
    let mut v: Vec<Case> = Vec::new();
    let mut add =
        |scenario: &'static str, system: String, role: Role, has_target: bool, run: Run| {
            v.push(Case {
                scenario,
                system,
                role,
                has_target,
                run,
            })
        };
    let runtimes = [
        (
            Runtime::MultiThread,
            "default multi-thread runtimes (2 workers each side)",
        ),
        (Runtime::CurrentThread, "current-thread runtimes both sides"),
    ];

    // 1 and 1b: sequential.
    for (key, t, floor_label) in [
        (
            "seq-tcp",
            Transport::Tcp,
            "raw std TCP ping-pong, 12-byte frame, TCP_NODELAY, echo thread, best of QUICKACK off / once / every read",
        ),
        (
            "seq-unix",
            Transport::Unix,
            "raw std Unix-socket ping-pong, 12-byte frame, echo thread",
        ),
    ] {
        let budget = b.seq;
        add(
            key,
            floor_label.into(),
            Role::Floor,
            false,
            Box::new(move || {
                floor::ping_pong(t, budget).map(|(m, note)| Sample {
                    note: (!note.is_empty()).then_some(note),
                    ..Sample::us_per_op(m)
                })
            }),
        );
        if t == Transport::Tcp {
            add(
                key,
                "raw std TCP ping-pong, both ends busy-poll each read for up to 200 µs before blocking (burns a core per side)".into(),
                Role::Reference,
                false,
                Box::new(move || floor::ping_pong_spin(budget).map(Sample::us_per_op)),
            );
        }
        for (rt, label) in runtimes {
            add(
                key,
                format!("tarpc 0.38 add(), {label}"),
                Role::Peer,
                false,
                Box::new(move || peer::sequential(rt, t, budget).map(Sample::us_per_op)),
            );
        }
        add(
            key,
            "stdrpc `call(\"add\", (i64, i64))`".into(),
            Role::Subject,
            key == "seq-tcp",
            Box::new(move || rpc::sequential(t, budget).map(Sample::us_per_op)),
        );
    }

    // 1c: sequential, to a worker over pipes.
    #[cfg(feature = "transport-rows")]
    add(
        "seq-pipe",
        "stdrpc `Worker::call(\"add\", (i64, i64))` over the child's stdin/stdout".into(),
        Role::Subject,
        false,
        {
            let budget = b.seq;
            Box::new(move || rpc::sequential_worker(budget).map(Sample::us_per_op))
        },
    );

    // 2: fan-in.
    let budget = b.fan_in;
    add(
        "fan-in",
        "64 threads handing a request to 1 thread and waiting for the answer (std only, no socket; best of mpsc, park/unpark)"
            .into(),
        Role::Floor,
        false,
        Box::new(move || {
            floor::hand_off(FAN_IN, budget).map(|(m, note)| Sample {
                note: Some(note),
                ..Sample::per_sec(m)
            })
        }),
    );
    for (rt, label) in runtimes {
        add(
            "fan-in",
            format!("tarpc 0.38, 64 tasks on 1 client, {label}"),
            Role::Peer,
            false,
            Box::new(move || peer::fan_in(rt, FAN_IN, budget).map(Sample::per_sec)),
        );
    }
    add(
        "fan-in",
        "stdrpc, 64 threads calling through 1 shared `Client`".into(),
        Role::Subject,
        true,
        Box::new(move || rpc::fan_in(FAN_IN, budget).map(Sample::per_sec)),
    );
    add(
        "fan-in",
        "stdrpc, 64 async tasks awaiting `start()` on 1 shared `Client` (current-thread tokio)"
            .into(),
        Role::Subject,
        false,
        Box::new(move || rpc::fan_in_async(FAN_IN, budget).map(Sample::per_sec)),
    );

    // 3: pipelined.
    let budget = b.pipelined;
    add(
        "pipelined",
        "raw std pipelined echo, 36-byte frames, 8 KiB BufWriter, reader thread".into(),
        Role::Floor,
        false,
        Box::new(move || floor::pipelined(budget).map(Sample::per_sec)),
    );
    for (rt, label) in runtimes {
        add(
            "pipelined",
            format!("tarpc 0.38, 1 task, 1024 in flight, {label}"),
            Role::Peer,
            false,
            Box::new(move || peer::pipelined(rt, WINDOW, budget).map(Sample::per_sec)),
        );
    }
    add(
        "pipelined",
        "codec floor: the raw pipelined echo plus stdrpc's codec work per call \
         (encode `(i64, i64)`, decode, add, encode and decode the `i64`), no framework"
            .into(),
        Role::Reference,
        false,
        Box::new(move || floor::codec_pipelined(budget).map(Sample::per_sec)),
    );
    add(
        "pipelined",
        "stdrpc `start()`, 1024 pending (sliding window), `wait()`".into(),
        Role::Subject,
        true,
        Box::new(move || rpc::pipelined(WINDOW, budget).map(Sample::per_sec)),
    );

    // 4: notifications.
    let budget = b.notify;
    let close_limit = b.close_limit;
    let frame = tick_frame();
    let frame_label = format!(
        "raw std one-way stream of the same {}-byte frames, 8 KiB BufWriter",
        frame.len()
    );
    add(
        "notify",
        frame_label,
        Role::Floor,
        false,
        Box::new(move || floor::one_way(&frame, budget).map(Sample::per_sec)),
    );
    add(
        "notify",
        "codec floor: the raw one-way stream plus stdrpc's codec work per tick \
         (encode it, decode two `String`s and two `f64`s, run a counting closure), no framework"
            .into(),
        Role::Reference,
        false,
        Box::new(move || floor::codec_one_way(rpc::TICK, budget).map(Sample::per_sec)),
    );
    add(
        "notify",
        "stdrpc `notify(\"tick\", tick)` x N, then `close()`".into(),
        Role::Subject,
        true,
        Box::new(move || {
            rpc::notify(budget, close_limit).map(|(m, note)| Sample {
                note,
                ..Sample::per_sec(m)
            })
        }),
    );

    // 5: 1 MiB echo.
    let budget = b.big;
    let bytes = 2.0 * ONE_MIB as f64;
    add(
        "1mib",
        "raw std: 1 MiB frame, then 1 MiB echo".into(),
        Role::Floor,
        false,
        Box::new(move || floor::big_echo(ONE_MIB, budget).map(|m| Sample::mb_per_sec(m, bytes))),
    );
    for (rt, label) in runtimes {
        add(
            "1mib",
            format!("tarpc 0.38 echo(serde_bytes::ByteBuf), {label}"),
            Role::Peer,
            false,
            Box::new(move || {
                peer::big_echo(rt, ONE_MIB, budget).map(|m| Sample::mb_per_sec(m, bytes))
            }),
        );
    }
    add(
        "1mib",
        "stdrpc `call::<_, Vec<u8>>(\"echo\", &data)`".into(),
        Role::Subject,
        true,
        Box::new(move || {
            rpc::big_echo(ONE_MIB, false, budget).map(|m| Sample::mb_per_sec(m, bytes))
        }),
    );
    add(
        "1mib",
        "stdrpc `call_raw` / `register_raw` (bytes, no codec)".into(),
        Role::Subject,
        false,
        Box::new(move || {
            rpc::big_echo(ONE_MIB, true, budget).map(|m| Sample::mb_per_sec(m, bytes))
        }),
    );

    // 6: memory.
    let conns = b.memory_conns;
    for (system, role, target, label) in [
        (
            memory::System::RawThreads,
            Role::Reference,
            false,
            "raw std: a thread per connection (default 2 MiB stack) blocked in read",
        ),
        (
            memory::System::Tarpc,
            Role::Peer,
            false,
            "tarpc 0.38, default multi-thread runtime (no handshake)",
        ),
        (
            memory::System::Stdrpc,
            Role::Subject,
            true,
            "stdrpc server, authenticated connections",
        ),
    ] {
        add(
            "memory",
            label.into(),
            role,
            target,
            Box::new(move || {
                memory::measure(system, conns).map(|r| Sample {
                    short: (r.connected < r.asked)
                        .then(|| format!("with {} connections", r.connected)),
                    note: Some(r.note),
                    ..Sample::plain(r.kib_per_conn)
                })
            }),
        );
    }

    // 7: connect.
    let budget = b.connect;
    add(
        "connect",
        "raw std TCP connect + one 12-byte round trip".into(),
        Role::Floor,
        false,
        Box::new(move || floor::connect(budget).map(Sample::us_per_op)),
    );
    for (rt, label) in runtimes {
        add(
            "connect",
            format!("tarpc 0.38 connect + first add() (no handshake), {label}"),
            Role::Peer,
            false,
            Box::new(move || peer::connect_first_call(rt, budget).map(Sample::us_per_op)),
        );
    }
    add(
        "connect",
        "stdrpc `Client::connect` (TCP + mutual HMAC-SHA256 handshake)".into(),
        Role::Subject,
        true,
        Box::new(move || rpc::connect(budget).map(Sample::us_per_op)),
    );

    // 8: CPython.
    for version in PYTHONS {
        let runs: Vec<(&str, u64, String)> = {
            let mut r = vec![
                (
                    "rtt",
                    b.py_rtt,
                    format!(
                        "CPython {version} `multiprocessing.connection` Client <-> Listener, 15-byte round trip"
                    ),
                ),
                (
                    "proxy",
                    b.py_proxy,
                    format!(
                        "CPython {version} BaseManager, method of a shared object over a persistent proxy connection"
                    ),
                ),
            ];
            if version.starts_with("3.11") {
                r.push(("percall", b.py_percall, format!("CPython {version} BaseManager, the BaseManager example's per-call pattern `m.add(i, 1).conjugate()`")));
            }
            r
        };
        for (mode, n, label) in runs {
            add(
                "python",
                label,
                Role::Reference,
                false,
                Box::new(move || {
                    let python = python::interpreter(version)?;
                    python::run(&python, mode, n).map(|secs| Sample::plain(secs * 1e6))
                }),
            );
        }
        if version.starts_with("3.11") {
            // The same stock client and pattern against a stdrpc server
            // registering the same function: issue 7's benchmark row.
            let n = b.py_percall * 50;
            add(
                "python",
                format!(
                    "CPython {version} BaseManager client, the BaseManager example's per-call pattern, against a **stdrpc server**"
                ),
                Role::Reference,
                false,
                Box::new(move || {
                    let python = python::interpreter(version)?;
                    let server = serve::ServerProc::spawn(serve::Kind::Stdrpc(serve::Tp::Tcp))?;
                    let port = match &server.addr {
                        serve::Addr::Tcp(a) => a.port(),
                        serve::Addr::Unix(_) => 0,
                    };
                    let result = python::run_with(&python, "percall", n, &[port.to_string()]);
                    server.finish()?;
                    result.map(|secs| Sample::plain(secs * 1e6))
                }),
            );
        }
    }
    v
}

fn fmt_progress(unit: &str, s: &Result<Sample, String>) -> String {
    match s {
        Ok(Sample {
            value,
            note: Some(note),
            ..
        }) => format!("{} {unit} [{note}]", report::fmt_value(*value, unit)),
        Ok(s) => format!("{} {unit}", report::fmt_value(s.value, unit)),
        Err(e) => format!("error: {e}"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => return child(serve::serve_main(&args[1..])),
        #[cfg(feature = "transport-rows")]
        Some("__worker") => return child(rpc::worker_main()),
        Some("compare-report") => return child(report::compare(&args[1..])),
        Some("__mem-server") => return child(memory::server_main(&args[1..])),
        Some("__mem-clients") => return child(memory::clients_main(&args[1..])),
        _ => {}
    }
    let options = match parse_args(args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stdrpc-bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let machine = report::Machine::read();
    let scenarios = scenarios();
    let budgets = Budgets::new(options.quick);
    // `--only` matches scenario keys; if no key matches, titles.
    let by_key = |f: &str| scenarios.iter().any(|s| s.key.contains(f));
    let selected = |s: &Scenario| match &options.only {
        None => true,
        Some(f) if by_key(f) => s.key.contains(f.as_str()),
        Some(f) => s.title.to_lowercase().contains(f.as_str()),
    };
    let mut rows: Vec<RowResult> = cases(&budgets)
        .into_iter()
        .filter(|c| scenarios.iter().any(|s| s.key == c.scenario && selected(s)))
        .filter(|c| {
            let system = format!("{:?} {}", c.role, c.system).to_lowercase();
            options
                .row
                .as_ref()
                .is_none_or(|r| system.contains(r.as_str()))
        })
        .map(|case| RowResult {
            case,
            rounds: Vec::new(),
            quiet: Vec::new(),
        })
        .collect();
    if rows.is_empty() {
        eprintln!("stdrpc-bench: no scenario matches {:?}", options.only);
        return ExitCode::from(2);
    }
    // Measurements that open many connections need descriptors.
    util::raise_nofile(65_536);
    // The memory scenario (thousands of connections) runs after every
    // other row has finished all its rounds, so it cannot disturb them.
    for late in [false, true] {
        for round in 0..options.rounds {
            if late && round >= MEMORY_ROUNDS {
                continue;
            }
            for i in round_order(&rows, round) {
                let row = &mut rows[i];
                if (row.case.scenario == "memory") != late {
                    continue;
                }
                let scenario = scenarios
                    .iter()
                    .find(|s| s.key == row.case.scenario)
                    .expect("known scenario");
                measure(&options, scenario, row, round);
            }
        }
    }
    let _ = std::fs::remove_dir_all(util::temp_dir());
    let elapsed = started.elapsed();
    let text = report::render(&options, &machine, &scenarios, &rows, elapsed);
    println!("{}", report::table(&scenarios, &rows));
    match std::fs::write(&options.out, &text) {
        Ok(()) => eprintln!(
            "wrote {} ({:.0} s in all)",
            options.out.display(),
            elapsed.as_secs_f64()
        ),
        Err(e) => {
            eprintln!("stdrpc-bench: cannot write {}: {e}", options.out.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// The order of the rows in one round: scenario by scenario, so that the
/// rows of a scenario share the machine's conditions, and within each
/// scenario rotated by one place per round, so that no row is always the
/// first (or the last) of its scenario.
fn round_order(rows: &[RowResult], round: usize) -> Vec<usize> {
    let mut order = Vec::with_capacity(rows.len());
    let mut i = 0;
    while i < rows.len() {
        let key = rows[i].case.scenario;
        let end = (i..rows.len())
            .find(|&j| rows[j].case.scenario != key)
            .unwrap_or(rows.len());
        let n = end - i;
        order.extend((0..n).map(|k| i + (k + round) % n));
        i = end;
    }
    order
}

/// One round of one row: repeated while the machine was not quiet (at most
/// `quiet::RETRIES` times, none with `--allow-noisy`), then kept.
fn measure(options: &Options, scenario: &Scenario, row: &mut RowResult, round: usize) {
    let retries = if options.allow_noisy {
        0
    } else {
        quiet::RETRIES
    };
    let earlier: Vec<f64> = row
        .rounds
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|s| s.value))
        .collect();
    let earlier = report::median(earlier);
    let mut attempts = 0;
    loop {
        attempts += 1;
        eprint!(
            "[round {}/{}{}] {} | {} ... ",
            round + 1,
            options.rounds,
            if attempts > 1 {
                format!(", retry {}", attempts - 1)
            } else {
                String::new()
            },
            scenario.key,
            row.case.system
        );
        let before = quiet::Snapshot::take();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| (row.case.run)()))
            .unwrap_or_else(|_| Err("panicked".to_string()));
        let interference = before.until(&quiet::Snapshot::take());
        let moved = match (&result, earlier, row.case.role) {
            (Ok(s), Some(e), Role::Floor) => ((s.value / e - 1.0).abs() * 100.0
                > quiet::FLOOR_SPREAD)
                .then(|| format!(", floor moved {:+.0}%", (s.value / e - 1.0) * 100.0)),
            _ => None,
        };
        let quiet = interference.quiet() && moved.is_none();
        eprintln!(
            "{} ({:.2} s; others {:.1}%, steal {:.1}%{}{})",
            fmt_progress(scenario.unit, &result),
            interference.secs,
            interference.others,
            interference.steal,
            moved.unwrap_or_default(),
            if quiet { "" } else { " — NOISY" }
        );
        if quiet || result.is_err() || attempts > retries {
            if let Some(path) = &options.tsv {
                report::append_tsv(
                    path,
                    scenario,
                    &row.case.system,
                    round,
                    &result,
                    &interference,
                    !quiet,
                );
            }
            row.rounds.push(result);
            row.quiet.push(RoundQuiet {
                interference,
                attempts,
                noisy: !quiet,
            });
            return;
        }
    }
}

fn child(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stdrpc-bench child: {e}");
            ExitCode::FAILURE
        }
    }
}
