//! The FX tick feed of a blog post on sending price data between Python
//! processes over sockets: producers stream quotes
//! `Tick { symbol, datetime, bid, ask }` to a server as one-way calls, and the
//! server proves that nothing was lost, duplicated or reordered.
//!
//! ```text
//! cargo run --release --example tick_stream                 # server + 4 producers in one process
//! cargo run --release --example tick_stream -- --producers 2 --ticks 100000
//! cargo run --release --example tick_stream -- server       # serve on 127.0.0.1:4343 until killed
//! cargo run --release --example tick_stream -- client --producer 7 --ticks 50000
//! ```
//!
//! Each producer sends `(run, producer, seq, tick)` with `Client::notify`: no
//! reply, and many notifications per system call. `run` is drawn at random
//! once per process, so two `client` runs against one server, both producer
//! 0, are told apart. The server keeps, per run and producer, the number of
//! ticks, the next expected `seq` (any other is counted as
//! out of order, which catches losses, duplicates and reordering) and a
//! checksum of every field. After `Client::close`, which returns once the
//! server has run every notification, the producer asks for its report on a
//! new connection and compares it with the checksum it computed itself.
//!
//! `server` prints one line, `listening on HOST:PORT`, once it accepts
//! connections, as the other examples do.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use stdrpc::{Client, Server};

const DEFAULT_ADDR: &str = "127.0.0.1:4343";
const DEFAULT_AUTHKEY: &str = "password";

const USAGE: &str = "\
usage: tick_stream [--producers N] [--ticks N]   a server and N producers in this process
       tick_stream server [OPTIONS]              serve until killed
       tick_stream client [OPTIONS]              stream ticks to a running server
options:
       --addr HOST:PORT     default 127.0.0.1:4343 (server and client)
       --authkey KEY        default 'password' (server and client)
       --producers N        producers in one-process mode (default 4)
       --ticks N            ticks per producer (default 250000)
       --producer ID        this client's producer id (default 0); each run also
                            draws a random run id, so runs never collide
       -h, --help           this text";

stdrpc::message! {
    /// One FX quote, as the blog post streamed them.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Tick {
        /// The currency pair, e.g. `EURUSD`.
        pub symbol: String,
        /// When the quote was taken.
        pub datetime: String,
        /// The bid price.
        pub bid: f64,
        /// The ask price.
        pub ask: f64,
    }
}

/// A producer of one run: `(run, producer)`.
type Key = (u64, u32);

/// A run id for this process: random, from the seed std draws for each
/// `RandomState` (std has no public random number generator), mixed with the
/// process id and the time.
fn run_id() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(now.as_nanos());
    h.finish()
}

/// What the server saw from one producer.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Seen {
    ticks: u64,
    next_seq: u64,
    out_of_order: u64,
    checksum: u64,
}

/// The `seq`-th tick of a producer: deterministic, so both ends agree.
fn tick(seq: u64) -> Tick {
    const SYMBOLS: [&str; 4] = ["EURUSD", "USDJPY", "GBPUSD", "AUDUSD"];
    let mid = 1.08 + (seq % 1000) as f64 * 1e-5;
    Tick {
        symbol: SYMBOLS[(seq % 4) as usize].to_string(),
        datetime: format!(
            "2024-01-01T00:{:02}:{:02}.{:03}",
            seq / 60_000 % 60,
            seq / 1000 % 60,
            seq % 1000
        ),
        bid: mid,
        ask: mid + 2e-4,
    }
}

/// Folds one tick into a running checksum (FNV-1a over its fields).
fn fold(sum: u64, seq: u64, t: &Tick) -> u64 {
    let mut h = sum ^ 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(&seq.to_le_bytes());
    eat(t.symbol.as_bytes());
    eat(t.datetime.as_bytes());
    eat(&t.bid.to_bits().to_le_bytes());
    eat(&t.ask.to_bits().to_le_bytes());
    h
}

fn server(authkey: &str) -> Server {
    let seen: Arc<Mutex<HashMap<Key, Seen>>> = Arc::default();
    let mut server = Server::new(authkey.as_bytes());
    let s = Arc::clone(&seen);
    server.register("tick", move |run: u64, producer: u32, seq: u64, t: Tick| {
        let mut all = s.lock().unwrap();
        let p = all.entry((run, producer)).or_default();
        if seq != p.next_seq {
            p.out_of_order += 1;
        }
        p.next_seq = seq + 1;
        p.ticks += 1;
        p.checksum = fold(p.checksum, seq, &t);
    });
    // (ticks, out of order, checksum) for one producer of one run. The
    // report is the run's last word: its entry is dropped, so a long-lived
    // server does not keep every run it ever saw.
    server.register("report", move |run: u64, producer: u32| {
        let p = seen
            .lock()
            .unwrap()
            .remove(&(run, producer))
            .unwrap_or_default();
        (p.ticks, p.out_of_order, p.checksum)
    });
    server
}

/// Streams `ticks` ticks as `producer` of `run`, then checks the server's
/// report. Returns the seconds spent streaming.
fn produce(addr: &str, authkey: &str, run: u64, producer: u32, ticks: u64) -> Result<f64, String> {
    let client = Client::connect(addr, authkey.as_bytes()).map_err(|e| e.to_string())?;
    let mut expected = 0;
    let started = Instant::now();
    for seq in 0..ticks {
        let t = tick(seq);
        expected = fold(expected, seq, &t);
        client
            .notify("tick", (run, producer, seq, t))
            .map_err(|e| e.to_string())?;
    }
    // Returns once the server has run every notification sent before it.
    client.close();
    let secs = started.elapsed().as_secs_f64();
    let check = Client::connect(addr, authkey.as_bytes()).map_err(|e| e.to_string())?;
    let (seen, out_of_order, checksum): (u64, u64, u64) = check
        .call("report", (run, producer))
        .map_err(|e| e.to_string())?;
    let ok = seen == ticks && out_of_order == 0 && checksum == expected;
    println!(
        "producer {producer}: {seen} of {ticks} ticks, {out_of_order} out of order, checksum {}",
        if checksum == expected {
            "matches"
        } else {
            "DIFFERS"
        }
    );
    if ok {
        Ok(secs)
    } else {
        Err(format!(
            "producer {producer}: ticks lost, duplicated or reordered"
        ))
    }
}

struct Options {
    addr: String,
    authkey: String,
    producers: u32,
    ticks: u64,
    producer: u32,
}

/// `Ok(None)` asks for the usage text; `Err` is a message for a bad command line.
fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        addr: DEFAULT_ADDR.into(),
        authkey: DEFAULT_AUTHKEY.into(),
        producers: 4,
        ticks: 250_000,
        producer: 0,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--addr" => o.addr = value()?,
            "--authkey" => o.authkey = value()?,
            "--producers" => o.producers = number(value()?)?.clamp(1, 64) as u32,
            "--ticks" => o.ticks = number(value()?)?,
            "--producer" => o.producer = number(value()?)? as u32,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Some(o))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, rest) = match args.first().map(String::as_str) {
        Some("server") => ("server", &args[1..]),
        Some("client") => ("client", &args[1..]),
        _ => ("both", &args[..]),
    };
    let o = match parse(rest) {
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
    let outcome = match mode {
        "server" => serve(&o),
        "client" => {
            let run = run_id();
            println!("run {run:016x}, producer {}", o.producer);
            produce(&o.addr, &o.authkey, run, o.producer, o.ticks)
        }
        .map(|secs| {
            println!(
                "{} ticks in {secs:.2} s ({:.0} ticks/s)",
                o.ticks,
                o.ticks as f64 / secs
            );
        }),
        _ => both(&o),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(o: &Options) -> Result<(), String> {
    let bound = server(&o.authkey)
        .bind(o.addr.as_str())
        .map_err(|e| e.to_string())?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", bound.local_addr()).map_err(|e| e.to_string())?;
    stdout.flush().map_err(|e| e.to_string())?;
    drop(stdout);
    bound.serve().map_err(|e| e.to_string())
}

/// A server on a background thread and `producers` producer threads.
fn both(o: &Options) -> Result<(), String> {
    let running = server(&o.authkey)
        .bind("127.0.0.1:0")
        .and_then(|b| b.spawn())
        .map_err(|e| e.to_string())?;
    let addr = running.local_addr().to_string();
    println!(
        "tick stream on {addr}: {} producers x {} ticks",
        o.producers, o.ticks
    );
    let started = Instant::now();
    let run = run_id();
    let results: Vec<Result<f64, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..o.producers)
            .map(|p| {
                let (addr, key) = (&addr, &o.authkey);
                s.spawn(move || produce(addr, key, run, p, o.ticks))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a producer panicked".into()))
            })
            .collect()
    });
    let secs = started.elapsed().as_secs_f64();
    running.shutdown().map_err(|e| e.to_string())?;
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    let total = u64::from(o.producers) * o.ticks;
    println!(
        "{total} ticks in {secs:.2} s ({:.0} ticks/s), every one delivered once and in order",
        total as f64 / secs
    );
    Ok(())
}
