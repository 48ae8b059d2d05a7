//! The server-design benchmark of a blog post on Python network
//! programming (Python Advent Calendar 2016: blocking, select, epoll, prefork,
//! prethread, asyncio and goroutine echo servers against one echo client),
//! redone on stdrpc: N concurrent
//! clients each do A actions, an action being a new connection (with
//! stdrpc's authkey handshake) followed by S echo calls on it. It prints the
//! mean connect time, the mean echo round trip and the mean time per action,
//! as the post's table does, plus the wall-clock total and the failures
//! (which must be zero: every client is served, none refused).
//!
//! ```text
//! cargo run --release --example echo_bench                        # 100 clients x 10 actions x 10 echoes
//! cargo run --release --example echo_bench -- --clients 1000 --actions 2 --echoes 5
//! cargo run --release --example echo_bench -- --clients 100 --actions 100 --echoes 50   # the post's size
//! cargo run --release --example echo_bench -- --clients 1000 --actions 100 --echoes 50  # its large run (slow)
//! cargo run --release --example echo_bench -- server [--addr HOST:PORT]   # serve only, until killed
//! cargo run --release --example echo_bench -- --addr HOST:PORT            # clients only, against it
//! ```
//!
//! Without `--addr` the server runs on a background thread of this process
//! and the clients on N threads beside it. The server keeps a thread per
//! connection (and handler threads from a pool), so 1000 concurrent clients
//! mean about 1000 server threads; `Config::max_connections` (default 1024)
//! is set to twice the client count so that connections still closing never
//! push a new one over the limit.
//!
//! At most `--connect-gate` clients (default 100) are connecting at any one
//! time; the others wait for a turn, and that wait is reported apart from the
//! connect time. The gate exists because std listens with a backlog of 128:
//! when a thousand clients connect at once the kernel's accept queue
//! overflows, and with SYN cookies a client can end up with a connection the
//! server never saw. The server speaks first in this protocol (its
//! challenge), so such a client waits in silence until its handshake deadline
//! (5 s) passes. `--connect-gate 0` removes the gate and shows it; the example
//! prints, on Linux, how often the accept queue overflowed during the run.

use std::process::ExitCode;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::time::{Duration, Instant};

use stdrpc::{Client, Config, Error, Server};

const AUTHKEY: &[u8] = b"password";
const DEFAULT_SERVER_ADDR: &str = "127.0.0.1:4343";

const USAGE: &str = "\
usage: echo_bench [--clients N] [--actions A] [--echoes S] [--connect-gate G] [--addr HOST:PORT]
                        N concurrent clients, each doing A x (connect + S echo calls)
                        (default 100 x 10 x 10; the post used 100 x 50 with 50..1000 clients),
                        at most G connecting at once (default 100; 0: no limit);
                        without --addr a server runs in this process
       echo_bench server [--addr HOST:PORT]
                        serve until killed (default 127.0.0.1:4343; port 0 picks one)";

#[derive(Debug)]
struct Options {
    server: bool,
    addr: Option<String>,
    clients: usize,
    actions: usize,
    echoes: usize,
    gate: usize,
}

fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        server: false,
        addr: None,
        clients: 100,
        actions: 10,
        echoes: 10,
        gate: 100,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        let mut number = |name: &str| -> Result<usize, String> {
            value()?
                .parse()
                .map_err(|_| format!("{name} needs a whole number"))
        };
        match arg.as_str() {
            "server" => o.server = true,
            "--addr" => o.addr = Some(value()?.clone()),
            "--clients" => o.clients = number("--clients")?.max(1),
            "--actions" => o.actions = number("--actions")?.max(1),
            "--echoes" => o.echoes = number("--echoes")?,
            "--connect-gate" => o.gate = number("--connect-gate")?,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Some(o))
}

fn server(max_connections: usize) -> Server {
    let config = Config::default().max_connections(max_connections);
    let mut server = Server::with_config(AUTHKEY, config);
    server.register("echo", |message: String| message);
    server
}

/// What one client thread measured.
#[derive(Debug, Default)]
struct Tally {
    connect: Duration,
    connect_max: Duration,
    gate_wait: Duration,
    connects: u64,
    echo: Duration,
    echoes: u64,
    action: Duration,
    actions: u64,
    refused: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.connect += other.connect;
        self.connect_max = self.connect_max.max(other.connect_max);
        self.gate_wait += other.gate_wait;
        self.connects += other.connects;
        self.echo += other.echo;
        self.echoes += other.echoes;
        self.action += other.action;
        self.actions += other.actions;
        self.refused += other.refused;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn fail(&mut self, e: &Error, connecting: bool) {
        // A server at its connection limit answers the handshake with
        // `#FAILURE#` and a reason, which the client reports as a refused
        // connection (as it does a TCP refusal).
        let refused =
            matches!(e, Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused);
        if connecting && refused {
            self.refused += 1;
        } else {
            self.errors += 1;
        }
        if self.first_error.is_none() {
            self.first_error = Some(e.to_string());
        }
    }
}

/// A counting semaphore: at most `limit` holders at once (0: no limit).
struct Gate {
    limit: usize,
    inside: Mutex<usize>,
    turn: Condvar,
}

impl Gate {
    fn new(limit: usize) -> Gate {
        Gate {
            limit,
            inside: Mutex::new(0),
            turn: Condvar::new(),
        }
    }

    fn enter(&self) {
        if self.limit == 0 {
            return;
        }
        let mut inside = self.inside.lock().unwrap();
        while *inside >= self.limit {
            inside = self.turn.wait(inside).unwrap();
        }
        *inside += 1;
    }

    fn leave(&self) {
        if self.limit == 0 {
            return;
        }
        *self.inside.lock().unwrap() -= 1;
        self.turn.notify_one();
    }
}

/// One client: `actions` times, connect and echo `echoes` messages.
fn client(addr: &str, id: usize, o: (usize, usize), gate: &Gate, start: &Barrier) -> Tally {
    let (actions, echoes) = o;
    let mut t = Tally::default();
    // Start together, once every client thread exists.
    start.wait();
    for action in 0..actions {
        let began = Instant::now();
        gate.enter();
        let entered = Instant::now();
        let connecting = Client::connect(addr, AUTHKEY);
        gate.leave();
        let c = match connecting {
            Ok(c) => c,
            Err(e) => {
                t.fail(&e, true);
                continue;
            }
        };
        let connected = Instant::now();
        t.gate_wait += entered - began;
        t.connect += connected - entered;
        t.connect_max = t.connect_max.max(connected - entered);
        t.connects += 1;
        for echo in 0..echoes {
            let message = format!("client-{id}:{action}:{echo}");
            match c.call::<_, String>("echo", &message) {
                Ok(back) if back == message => t.echoes += 1,
                Ok(_) => {
                    t.errors += 1;
                    t.first_error.get_or_insert_with(|| "echo mismatch".into());
                }
                Err(e) => t.fail(&e, false),
            }
        }
        t.echo += connected.elapsed();
        drop(c);
        t.action += began.elapsed();
        t.actions += 1;
    }
    t
}

fn run(o: &Options) -> Result<bool, Box<dyn std::error::Error>> {
    let running = match &o.addr {
        Some(_) => None,
        None => Some(server(2 * o.clients + 64).bind("127.0.0.1:0")?.spawn()?),
    };
    let addr = match (&o.addr, &running) {
        (Some(a), _) => a.clone(),
        (None, Some(r)) => r.local_addr().to_string(),
        (None, None) => unreachable!("a server runs when no address is given"),
    };
    println!(
        "echo bench: {} concurrent clients x {} actions (connect + {} echo calls) against {addr}{}",
        o.clients,
        o.actions,
        o.echoes,
        if running.is_some() {
            " (stdrpc server in this process: a thread per connection)"
        } else {
            ""
        }
    );
    let overflows_before = listen_overflows();
    let start = Arc::new(Barrier::new(o.clients + 1));
    let gate = Arc::new(Gate::new(o.gate));
    let mut threads = Vec::with_capacity(o.clients);
    for id in 0..o.clients {
        let (addr, start, gate) = (addr.clone(), Arc::clone(&start), Arc::clone(&gate));
        let work = (o.actions, o.echoes);
        threads.push(
            std::thread::Builder::new()
                .name(format!("client-{id}"))
                .stack_size(256 * 1024)
                .spawn(move || client(&addr, id, work, &gate, &start))?,
        );
    }
    start.wait();
    let began = Instant::now();
    let mut total = Tally::default();
    for t in threads {
        total.add(t.join().map_err(|_| "a client thread panicked")?);
    }
    let wall = began.elapsed();
    let mean = |d: Duration, n: u64| d.as_secs_f64() / n.max(1) as f64;
    let connect = mean(total.connect, total.connects);
    let per_action_echoes = mean(total.echo, total.connects);
    let round_trip = mean(total.echo, total.echoes);
    println!();
    println!(
        "  connect (s)   echoes per action (s)   connect + echoes (s)   echo round trip (s)   total (s)"
    );
    println!(
        "  {connect:<13.5} {per_action_echoes:<23.5} {:<22.5} {round_trip:<21.6} {:.3}",
        connect + per_action_echoes,
        wall.as_secs_f64()
    );
    println!();
    println!(
        "{} connections, {} echo calls in {:.2} s ({:.0} calls/s); means are per action, as in the post",
        total.connects,
        total.echoes,
        wall.as_secs_f64(),
        total.echoes as f64 / wall.as_secs_f64()
    );
    let mut refused = total.refused;
    if let Some(r) = running {
        let stats = r.stats();
        refused = refused.max(stats.refused);
        println!(
            "server: {} connections accepted, {} refused, {} calls, {} errors",
            stats.accepted, stats.refused, stats.calls, stats.errors
        );
        r.shutdown()?;
    }
    println!("slowest connect: {:.3} s", total.connect_max.as_secs_f64());
    if o.gate > 0 {
        println!(
            "mean wait for a turn to connect (at most {} connecting at once): {:.5} s",
            o.gate,
            mean(total.gate_wait, total.connects)
        );
    }
    if let (Some(before), Some(after)) = (overflows_before, listen_overflows()) {
        println!(
            "kernel accept-queue overflows during the run (TcpExt ListenOverflows, whole machine): {}",
            after.saturating_sub(before)
        );
    }
    println!("errors: {}, refused: {refused}", total.errors);
    if let Some(e) = &total.first_error {
        println!("first error: {e}");
    }
    Ok(total.errors == 0 && refused == 0)
}

/// The machine's count of connections dropped because a listener's accept
/// queue was full (Linux: TcpExt ListenOverflows in /proc/net/netstat).
fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let i = names
        .split_whitespace()
        .position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

fn serve(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let bound = server(4096).bind(addr)?;
    println!("listening on {}", bound.local_addr());
    bound.serve()?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse_args(&args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("echo_bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = if o.server {
        serve(o.addr.as_deref().unwrap_or(DEFAULT_SERVER_ADDR)).map(|()| true)
    } else {
        run(&o)
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("echo_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
