//! Worker processes over pipes, the pattern of Python's
//! `multiprocessing.Process` with a `Pipe`: the parent spawns N workers of
//! itself (`child_worker worker`), spreads calls across them, shows a worker
//! that crashes mid-call surfacing as an error in the parent, and prints
//! the result and the rate.
//!
//! ```text
//! cargo run --release --example child_worker
//! cargo run --release --example child_worker -- --workers 4 --calls 100000
//! ```
//!
//! The authkey reaches each worker in a preamble on its stdin (see
//! docs/PROTOCOL.md, "Worker processes"), never on its command line or in
//! its environment. A worker's stdout *is* the connection: it prints only to
//! stderr. Dropping a `Worker` closes its stdin; the worker's `serve`
//! returns, it exits, and the parent reaps it.
//!
//! A run on a 2-vCPU VM (the figures depend on the machine):
//!
//! ```text
//! 4 workers, 20000 calls: sum of squares 2666466670000 (expected 2666466670000)
//! 20000 calls in 0.13 s (154704 calls/s), 1 thread per worker
//! a worker that crashed mid-call: connection closed
//! ```

use std::process::{Command, ExitCode};
use std::time::Instant;

use stdrpc::{Error, Server, Worker};

const USAGE: &str = "\
usage: child_worker [--workers N] [--calls N]
                        spawn N worker processes of this program (default 4)
                        and spread the calls across them (default 20000)
       child_worker worker
                        serve over stdin/stdout (what the parent runs)";

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// The parent's options.
#[derive(Debug)]
struct Options {
    workers: usize,
    calls: i64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        if args.len() > 1 {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        return match worker() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("worker error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let options = match parse_args(&args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match parent(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut options = Options {
        workers: 4,
        calls: 20_000,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value"))?
                .parse::<u64>()
                .map_err(|_| format!("{name} needs a number"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--workers" => options.workers = value("--workers")?.clamp(1, 64) as usize,
            "--calls" => options.calls = value("--calls")?.min(1 << 30) as i64,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(options))
}

/// The child's side: the methods, served over stdin and stdout.
fn worker() -> stdrpc::Result<()> {
    // The key comes from the parent's preamble, not from here.
    let mut server = Server::new(b"");
    server.register("square", |x: i64| x * x);
    // A handler that takes its time (the tests drop a worker stuck in it).
    server.register("nap", |ms: u64| {
        std::thread::sleep(std::time::Duration::from_millis(ms.min(600_000)));
    });
    server.register("crash", |code: i32| -> i32 {
        // Dies mid-call, before any reply: the parent's call fails.
        eprintln!("worker {}: crashing on purpose", std::process::id());
        std::process::exit(code)
    });
    Worker::serve(server)
}

/// The parent's side.
fn parent(o: &Options) -> Result<()> {
    let exe = std::env::current_exe()?;
    // A fresh random key per run would do as well: it never leaves the pipes.
    let authkey = b"child_worker example key";
    let workers = (0..o.workers)
        .map(|_| Worker::spawn(Command::new(&exe).arg("worker"), authkey))
        .collect::<stdrpc::Result<Vec<Worker>>>()?;

    // Worker i squares the numbers i, i + N, i + 2N, ... on its own thread.
    let started = Instant::now();
    let n = workers.len() as i64;
    let sum: i64 = std::thread::scope(|s| {
        let parts: Vec<_> = workers
            .iter()
            .enumerate()
            .map(|(i, w)| {
                s.spawn(move || -> stdrpc::Result<i64> {
                    let mut sum = 0;
                    for x in (i as i64..o.calls).step_by(n as usize) {
                        sum += w.call::<_, i64>("square", x)?;
                    }
                    Ok(sum)
                })
            })
            .collect();
        parts
            .into_iter()
            .map(|p| p.join().expect("a calling thread panicked"))
            .sum::<stdrpc::Result<i64>>()
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let m = o.calls - 1;
    let expected = if o.calls > 0 {
        m * (m + 1) * (2 * m + 1) / 6
    } else {
        0
    };
    println!(
        "{} workers, {} calls: sum of squares {sum} (expected {expected})",
        o.workers, o.calls
    );
    println!(
        "{} calls in {elapsed:.2} s ({:.0} calls/s), 1 thread per worker",
        o.calls,
        o.calls as f64 / elapsed.max(1e-9)
    );
    if sum != expected {
        return Err("the sum is wrong".into());
    }
    drop(workers);

    // A worker that dies mid-call: the call fails, nothing hangs.
    let doomed = Worker::spawn(Command::new(&exe).arg("worker"), authkey)?;
    match doomed.call::<_, i32>("crash", 3i32) {
        Err(e @ Error::ConnectionClosed) => println!("a worker that crashed mid-call: {e}"),
        Err(e) => return Err(format!("unexpected error from the crash: {e}").into()),
        Ok(_) => return Err("the crashing worker replied".into()),
    }
    Ok(())
}
