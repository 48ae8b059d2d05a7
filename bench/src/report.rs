//! The report: the machine, the command, the table of medians with ratios
//! and targets, and the per-round numbers.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use crate::{Better, Options, Role, RowResult, Sample, Scenario, Target};

#[derive(Debug)]
pub struct Machine {
    cpu: String,
    cpus: usize,
    memory_gib: f64,
    kernel: String,
    rustc: String,
    date: String,
    load_start: String,
}

fn command_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
            .unwrap_or_else(|| "unknown CPU".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpu,
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            memory_gib: mem_kib / (1024.0 * 1024.0),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            rustc: command_line("rustc", &["-V"]),
            date: command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            load_start: load_average(),
        }
    }
}

/// A value in its unit, rounded for reading.
pub fn fmt_value(v: f64, unit: &str) -> String {
    if unit.ends_with("/s") && unit != "MB/s" {
        if v >= 1e6 {
            format!("{:.2} M", v / 1e6)
        } else if v >= 1e3 {
            format!("{:.0} k", v / 1e3)
        } else {
            format!("{v:.0}")
        }
    } else if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

fn ok_samples(row: &RowResult) -> impl Iterator<Item = &Sample> {
    row.rounds.iter().filter_map(|r| r.as_ref().ok())
}

fn row_median(row: &RowResult) -> Option<f64> {
    median(
        ok_samples(row)
            .map(|s| s.value)
            .filter(|v| v.is_finite())
            .collect(),
    )
}

fn scenario_of<'a>(scenarios: &'a [Scenario], row: &RowResult) -> &'a Scenario {
    scenarios
        .iter()
        .find(|s| s.key == row.case.scenario)
        .expect("known scenario")
}

/// The floor value for a scenario (from the scenario it borrows it from).
fn floor_value(scenario: &Scenario, rows: &[RowResult]) -> Option<f64> {
    let key = scenario.floor_of?;
    rows.iter()
        .find(|r| r.case.scenario == key && r.case.role == Role::Floor)
        .and_then(row_median)
}

fn best_peer(scenario: &Scenario, rows: &[RowResult]) -> Option<f64> {
    let peers = rows
        .iter()
        .filter(|r| r.case.scenario == scenario.key && r.case.role == Role::Peer)
        .filter_map(row_median);
    match scenario.better {
        Better::Lower => peers.reduce(f64::min),
        Better::Higher => peers.reduce(f64::max),
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 10.0 => format!("{r:.0}x"),
        Some(r) => format!("{r:.2}x"),
        None => "—".into(),
    }
}

/// The target's text and, if it could be checked, whether it is met and by
/// what factor it is missed.
fn check(
    target: Target,
    unit: &str,
    value: Option<f64>,
    to_floor: Option<f64>,
    to_peer: Option<f64>,
) -> (String, String) {
    let (text, outcome) = match target {
        Target::FloorAtMost(x) => (format!("≤ {x}x floor"), to_floor.map(|r| (r <= x, r / x))),
        Target::FloorAtLeast(x) => (
            format!("≥ {:.0}% of floor", x * 100.0),
            to_floor.map(|r| (r >= x, x / r)),
        ),
        Target::PeerAtLeast(x) => (
            format!("≥ {x}x best tarpc"),
            to_peer.map(|r| (r >= x, x / r)),
        ),
        Target::AtLeast(v) => (
            format!("≥ {} {unit}", fmt_value(v, unit)),
            value.map(|x| (x >= v, v / x)),
        ),
        Target::AtMost(v) => (
            format!("≤ {} {unit}", fmt_value(v, unit)),
            value.map(|x| (x <= v, x / v)),
        ),
    };
    let met = match outcome {
        Some((true, _)) => "✓".to_string(),
        Some((false, gap)) => format!("✗ gap {gap:.2}x"),
        None => "? (no data)".to_string(),
    };
    (text, met)
}

/// The main table, markdown.
pub fn table(scenarios: &[Scenario], rows: &[RowResult]) -> String {
    let mut out = String::new();
    out.push_str("| scenario | system (setup) | median | unit | ratio to floor | ratio to best peer | target | met |\n");
    out.push_str("|---|---|---:|---|---:|---:|---|---|\n");
    for scenario in scenarios {
        let group: Vec<&RowResult> = rows
            .iter()
            .filter(|r| r.case.scenario == scenario.key)
            .collect();
        if group.is_empty() {
            continue;
        }
        let floor = floor_value(scenario, rows);
        let peer = best_peer(scenario, rows);
        for (i, row) in group.iter().enumerate() {
            let value = row_median(row);
            let to_floor = match (value, floor, row.case.role) {
                (Some(v), Some(f), Role::Floor | Role::Peer | Role::Subject) => Some(v / f),
                (Some(v), Some(f), Role::Reference) if scenario.key == "python" => Some(v / f),
                _ => None,
            };
            let to_peer = match (value, peer, row.case.role) {
                (Some(v), Some(p), Role::Peer | Role::Subject) => Some(v / p),
                _ => None,
            };
            let floor_cell = if scenario.floor_of.is_none() {
                "n/a".to_string()
            } else {
                fmt_ratio(to_floor)
            };
            let (target, met) = match (row.case.has_target, scenario.target) {
                (true, Some(t)) => check(t, scenario.unit, value, to_floor, to_peer),
                _ => (String::new(), String::new()),
            };
            let median = match value {
                Some(v) => {
                    let ok = ok_samples(row).count();
                    let mut cell = fmt_value(v, scenario.unit);
                    if ok < row.rounds.len() {
                        cell.push_str(&format!(" ({ok}/{} rounds)", row.rounds.len()));
                    }
                    if let Some(short) = ok_samples(row).filter_map(|s| s.short.clone()).last() {
                        cell.push_str(&format!(" ({short})"));
                    }
                    cell
                }
                None => "error".into(),
            };
            let system = match row.case.role {
                Role::Subject => format!("**{}**", row.case.system),
                Role::Floor => format!("floor: {}", row.case.system),
                _ => row.case.system.clone(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                if i == 0 { scenario.title } else { "" },
                system,
                median,
                scenario.unit,
                floor_cell,
                fmt_ratio(to_peer),
                target,
                met
            );
        }
    }
    out
}

fn fmt_opt(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
        None => "—".into(),
    }
}

/// The whole BENCHMARKS.md.
pub fn render(
    options: &Options,
    machine: &Machine,
    scenarios: &[Scenario],
    rows: &[RowResult],
    elapsed: Duration,
) -> String {
    let mut out = String::new();
    let command = if options.args.is_empty() {
        "cargo run --release -p stdrpc-bench".to_string()
    } else {
        format!(
            "cargo run --release -p stdrpc-bench -- {}",
            options.args.join(" ")
        )
    };
    let _ = write!(
        out,
        "# Benchmarks\n\n\
         Written by the benchmark suite (`bench/`); do not edit by hand. Regenerate with:\n\n\
         ```sh\n{command}\n```\n\n\
         (`-- --quick` for a smoke run, `-- --only SCENARIO` for one scenario, `-- --rounds N`.)\n\n\
         - machine: {cpu}, {cpus} vCPUs, {mem:.1} GiB RAM, Linux {kernel}. **A shared, noisy 2-core VM**: \
         other work runs beside the suite, so run-to-run differences of 10-30% are common; compare rows of \
         the same run (the ratios), not runs.\n\
         - {rustc}; {date}; load average {load0} at the start, {load1} at the end.\n\
         - {rounds} rounds{quick}; every figure is the median over the rounds, and each round runs every row \
         once, scenario by scenario, so the rows of a scenario share the machine's conditions. \
         The whole run took {secs:.0} s.\n\
         - Servers run on threads of the bench process, except for the memory scenario (child processes) \
         and CPython (its own processes). All traffic is on 127.0.0.1 (port 0) or Unix sockets in a \
         temporary directory.\n\n",
        cpu = machine.cpu,
        cpus = machine.cpus,
        mem = machine.memory_gib,
        kernel = machine.kernel,
        rustc = machine.rustc,
        date = machine.date,
        load0 = machine.load_start,
        load1 = load_average(),
        rounds = options.rounds,
        quick = if options.quick {
            " of the `--quick` mode (fewer iterations; 1,000 connections for memory)"
        } else {
            ""
        },
        secs = elapsed.as_secs_f64(),
    );
    out.push_str(&table(scenarios, rows));
    out.push_str(
        "\nRatios are this row's median divided by the floor's (or the best tarpc row's) median from the \
         same run, whatever the unit: for µs a ratio above 1 is slower, for calls/s, ticks/s and MB/s a \
         ratio below 1 is slower. \"gap\" is the factor by which a missed target is missed. Targets are \
         those of the performance issue and are checked on the **bold** stdrpc row.\n\n",
    );
    out.push_str("## What each scenario measures\n\n");
    for s in scenarios
        .iter()
        .filter(|s| rows.iter().any(|r| r.case.scenario == s.key))
    {
        let _ = writeln!(out, "- **{}**: {}.", s.title, s.about);
    }
    out.push_str(
        "\nSystems: the raw std floor is written in the suite (`bench/src/floor.rs`); tarpc 0.38 runs \
         as its README and examples set it up (tokio, `serde_transport` with bincode over \
         length-delimited frames, `BaseChannel::with_defaults`, each request spawned as a task, \
         `client::Config::default()`, `context::current()`, no TCP_NODELAY), with the server's and \
         the client's runtimes of the kind the row names; stdrpc is used through its public API with \
         default `Config` (except `max_connections` for the memory scenario); CPython is the stock \
         interpreter from pyenv running `bench/src/bench.py`.\n\n",
    );
    out.push_str(
        "## Per round\n\n<details><summary>raw numbers, CPU and context switches</summary>\n\n",
    );
    out.push_str(
        "CPU µs/op is the user + system CPU time of the whole bench process (client and server \
         threads alike) divided by the operations, and ctx sw/op its voluntary + involuntary context \
         switches per operation (getrusage), medians over the rounds; they are not available for rows \
         measured in other processes.\n\n",
    );
    let rounds = rows.iter().map(|r| r.rounds.len()).max().unwrap_or(0);
    out.push_str("| scenario | system |");
    for i in 1..=rounds {
        let _ = write!(out, " round {i} |");
    }
    out.push_str(" CPU µs/op | ctx sw/op | note |\n|---|---|");
    for _ in 0..rounds {
        out.push_str("---:|");
    }
    out.push_str("---:|---:|---|\n");
    let mut errors = Vec::new();
    for row in rows {
        let scenario = scenario_of(scenarios, row);
        let _ = write!(out, "| {} | {} |", scenario.key, row.case.system);
        for (i, r) in row.rounds.iter().enumerate() {
            match r {
                Ok(s) => {
                    let _ = write!(out, " {} |", fmt_value(s.value, scenario.unit));
                }
                Err(e) => {
                    errors.push(format!(
                        "{} / {} / round {}: {e}",
                        scenario.key,
                        row.case.system,
                        i + 1
                    ));
                    out.push_str(" error |");
                }
            }
        }
        let cpu = median(ok_samples(row).filter_map(|s| s.cpu_us_per_op).collect());
        let csw = median(ok_samples(row).filter_map(|s| s.csw_per_op).collect());
        let note = ok_samples(row)
            .filter_map(|s| s.note.clone())
            .last()
            .unwrap_or_default();
        let _ = writeln!(out, " {} | {} | {} |", fmt_opt(cpu), fmt_opt(csw), note);
    }
    out.push_str("\n</details>\n");
    if !errors.is_empty() {
        out.push_str("\n## Errors\n\n");
        for e in errors {
            let _ = writeln!(out, "- {e}");
        }
    }
    out
}
