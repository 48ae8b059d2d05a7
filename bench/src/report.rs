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

pub fn median(mut xs: Vec<f64>) -> Option<f64> {
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

/// (max - min) / median, percent: the spread across rounds.
pub fn spread(xs: &[f64]) -> Option<f64> {
    let m = median(xs.to_vec())?;
    let max = xs.iter().copied().reduce(f64::max)?;
    let min = xs.iter().copied().reduce(f64::min)?;
    (m != 0.0).then(|| (max - min) / m * 100.0)
}

fn row_spread(row: &RowResult) -> Option<f64> {
    let xs: Vec<f64> = ok_samples(row)
        .map(|s| s.value)
        .filter(|v| v.is_finite())
        .collect();
    (xs.len() > 1).then(|| spread(&xs)).flatten()
}

/// The worst interference of a row's kept rounds: "others% / steal%",
/// with a mark if any round stayed noisy.
fn row_interference(row: &RowResult) -> String {
    if row.quiet.is_empty() {
        return "—".into();
    }
    let others = row
        .quiet
        .iter()
        .map(|q| q.interference.others)
        .fold(0.0, f64::max);
    let steal = row
        .quiet
        .iter()
        .map(|q| q.interference.steal)
        .fold(0.0, f64::max);
    let noisy = row.quiet.iter().filter(|q| q.noisy).count();
    let mut cell = format!("{others:.1}% / {steal:.1}%");
    if noisy > 0 {
        cell.push_str(&format!(" ⚠ {noisy} noisy"));
    }
    cell
}

/// How many kept row-rounds were noisy, of how many.
pub fn noisy_count(rows: &[RowResult]) -> (usize, usize) {
    let all = rows.iter().map(|r| r.quiet.len()).sum();
    let noisy = rows
        .iter()
        .map(|r| r.quiet.iter().filter(|q| q.noisy).count())
        .sum();
    (noisy, all)
}

/// Appends one line for one row and round: scenario, system, round, value,
/// unit, others %, steal %, noisy (0/1). A failed round has value `NaN`.
pub fn append_tsv(
    path: &std::path::Path,
    scenario: &Scenario,
    system: &str,
    round: usize,
    result: &Result<Sample, String>,
    interference: &crate::quiet::Interference,
    noisy: bool,
) {
    use std::io::Write as _;
    let value = result.as_ref().map(|s| s.value).unwrap_or(f64::NAN);
    let line = format!(
        "{}\t{}\t{}\t{}\t{}\t{:.2}\t{:.2}\t{}\n",
        scenario.key,
        system.replace('\t', " "),
        round,
        value,
        scenario.unit,
        interference.others,
        interference.steal,
        u8::from(noisy)
    );
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path);
    if let Err(e) = file.and_then(|mut f| f.write_all(line.as_bytes())) {
        eprintln!("stdrpc-bench: cannot append to {}: {e}", path.display());
    }
}

/// One row of a TSV file, grouped.
struct TsvRow {
    scenario: String,
    system: String,
    unit: String,
    values: Vec<f64>,
    noisy: usize,
}

fn read_tsv(path: &str) -> Result<Vec<TsvRow>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut rows: Vec<TsvRow> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 8 {
            return Err(format!("{path}: bad line {line:?}"));
        }
        let value: f64 = f[3].parse().unwrap_or(f64::NAN);
        let i = match rows
            .iter()
            .position(|r| r.scenario == f[0] && r.system == f[1])
        {
            Some(i) => i,
            None => {
                rows.push(TsvRow {
                    scenario: f[0].into(),
                    system: f[1].into(),
                    unit: f[4].into(),
                    values: Vec::new(),
                    noisy: 0,
                });
                rows.len() - 1
            }
        };
        if value.is_finite() {
            rows[i].values.push(value);
        }
        rows[i].noisy += usize::from(f[7] == "1");
    }
    Ok(rows)
}

/// `compare-report A.tsv B.tsv`: per row, each build's median and spread
/// across its rounds, and B / A.
pub fn compare(args: &[String]) -> Result<(), String> {
    let [a, b] = args else {
        return Err("usage: stdrpc-bench compare-report A.tsv B.tsv".into());
    };
    let (a, b) = (read_tsv(a)?, read_tsv(b)?);
    let mut out = String::new();
    out.push_str("| scenario | system | unit | A median | A spread | B median | B spread | B/A | noisy A/B |\n");
    out.push_str("|---|---|---|---:|---:|---:|---:|---:|---|\n");
    for ra in &a {
        let rb = b
            .iter()
            .find(|r| r.scenario == ra.scenario && r.system == ra.system);
        let ma = median(ra.values.clone());
        let mb = rb.and_then(|r| median(r.values.clone()));
        let cell = |m: Option<f64>| m.map_or("—".into(), |v| fmt_value(v, &ra.unit));
        let sp = |xs: &[f64]| {
            if xs.len() > 1 {
                spread(xs).map_or("—".into(), |s| format!("{s:.1}%"))
            } else {
                "—".into()
            }
        };
        let ratio = match (ma, mb) {
            (Some(x), Some(y)) if x != 0.0 => format!("{:.3}", y / x),
            _ => "—".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {}/{} |",
            ra.scenario,
            ra.system,
            ra.unit,
            cell(ma),
            sp(&ra.values),
            cell(mb),
            rb.map_or("—".into(), |r| sp(&r.values)),
            ratio,
            ra.noisy,
            rb.map_or(0, |r| r.noisy),
        );
    }
    out.push_str(
        "\nA = base build, B = working tree, same bench sources; rounds alternate A, B, A, B. \
         Spread = (max - min) / median over the rounds. For µs/call and KiB/conn a B/A above 1 \
         is slower; for calls/s, ticks/s and MB/s below 1 is slower.\n",
    );
    print!("{out}");
    Ok(())
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
    out.push_str("| scenario | system (setup) | median | spread | unit | ratio to floor | ratio to best peer | target | met | others / steal |\n");
    out.push_str("|---|---|---:|---:|---|---:|---:|---|---|---|\n");
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
                (Some(v), Some(f), Role::Reference) => Some(v / f),
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
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                if i == 0 { scenario.title } else { "" },
                system,
                median,
                row_spread(row).map_or("—".into(), |s| format!("{s:.1}%")),
                scenario.unit,
                floor_cell,
                fmt_ratio(to_peer),
                target,
                met,
                row_interference(row),
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

fn quiet_line(options: &Options, rows: &[RowResult]) -> String {
    use crate::quiet::{FLOOR_SPREAD, OTHERS_LIMIT, RETRIES, STEAL_LIMIT};
    let (noisy, all) = noisy_count(rows);
    let rule = format!(
        "a measurement counts as quiet if other processes used at most {OTHERS_LIMIT}% of all CPU time \
         while it ran and steal was at most {STEAL_LIMIT}% (from /proc/stat, minus the bench process \
         tree's own CPU time), and, for a floor row, if it is within {FLOOR_SPREAD}% of its earlier \
         rounds' median; the last column shows the worst others% / steal% of each row's rounds"
    );
    let retry = if options.allow_noisy {
        "this run used `--allow-noisy`: nothing was repeated".to_string()
    } else {
        format!("a noisy measurement was repeated up to {RETRIES} times, then kept")
    };
    if noisy == 0 {
        format!("**Quiet**: {rule}; {retry}; every one of the {all} measurements was quiet.")
    } else {
        format!(
            "**NOISY**: {noisy} of {all} measurements were taken on a machine that was not quiet \
             ({retry}); {rule}. Treat this table as a smoke run, not as data."
        )
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
         - machine: {cpu}, {cpus} vCPUs, {mem:.1} GiB RAM, Linux {kernel}. Compare rows of the same run \
         (the ratios), not runs; whether this run had the machine to itself is measured (below).\n\
         - {rustc}; {date}; load average {load0} at the start, {load1} at the end.\n\
         - {rounds} rounds{quick}; every figure is the median over the rounds, and each round runs every row \
         once, scenario by scenario, so the rows of a scenario share the machine's conditions (their \
         order rotating by one place per round). \
         The whole run took {secs:.0} s.\n\
         - Every server runs in a process of its own, as users run them (the bench binary re-executed as \
         `serve KIND`, a fresh one per row and round; CPython's in its interpreter); the memory \
         scenario runs after all other rows. All traffic is on 127.0.0.1 (port 0) or Unix sockets in a \
         temporary directory.\n\
         - {quiet}\n\n",
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
        quiet = quiet_line(options, rows),
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
        "CPU µs/op is the user + system CPU time of the client (the bench process, getrusage) and \
         of the server (its child process, /proc/PID/stat, 10 ms ticks) divided by the operations, \
         and ctx sw/op their voluntary + involuntary context switches per operation (the server's \
         summed over its live threads), medians over the rounds. A round kept \
         noisy is marked ⚠ with the others% / steal% measured beside it.\n\n",
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
                    let mark = match row.quiet.get(i) {
                        Some(q) if q.noisy => format!(
                            " ⚠ {:.0}%/{:.0}%",
                            q.interference.others, q.interference.steal
                        ),
                        _ => String::new(),
                    };
                    let _ = write!(out, " {}{mark} |", fmt_value(s.value, scenario.unit));
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
