//! Faults: a client process killed mid-call leaves the server unaffected
//! and leaks no thread or descriptor; a server process killed mid-call fails
//! every pending call on every client promptly; a peer that stops answering
//! (a relay that stops forwarding) triggers call timeouts; handler panics
//! stay isolated.
//!
//! Child processes are this test binary re-executed in a child role (see
//! [`child_process`]); each is killed and reaped when its test ends, and
//! exits by itself when its parent goes away.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use stdrpc::{Client, Config, Error, RemoteKind, RunningServer, Server};
use support::child::{self, Proc};
use support::sys::{self, serial, wait_until, wait_until_or_not};

const KEY: &[u8] = b"faults-key";
const WAIT: Duration = Duration::from_secs(10);
/// How soon every pending call must fail once its server is killed.
const PROMPT: Duration = Duration::from_secs(5);
/// Marks the panics this file causes on purpose, which are not printed.
const DELIBERATE: &str = "deliberate panic";

/// The entry point of the child processes this file starts; a no-op in a
/// normal run.
#[test]
fn child_process() {
    let Some(role) = child::role() else {
        return;
    };
    match role.as_str() {
        "client" => child_client(),
        "server" => child_server(),
        other => panic!("unknown child role {other:?}"),
    }
}

/// Connects to `ADDR` and starts `CALLS` slow calls, then waits to be killed.
fn child_client() {
    let addr = child::param("ADDR");
    let calls: u64 = child::param("CALLS").parse().unwrap();
    let client = Client::connect(addr.as_str(), KEY).unwrap();
    let mut pending = Vec::new();
    for i in 0..calls {
        if i % 2 == 0 {
            pending.push(client.start::<_, u64>("slow", i).unwrap());
        } else {
            let client = client.clone();
            std::thread::spawn(move || client.call::<_, u64>("slow", i));
        }
    }
    child::say("calling");
    child::wait_for_parent();
}

/// Serves `slow` (which never returns in time) and `ping`; prints its
/// address, then `started` as each slow call begins.
fn child_server() {
    let mut server = Server::new(KEY);
    server.register("slow", |i: u64| {
        child::say("started");
        child::wait_for_parent();
        i
    });
    server.register("ping", || 1u8);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    child::say(&format!("listening {}", running.local_addr()));
    child::wait_for_parent();
}

/// Releases every handler waiting at it, as many times as needed.
#[derive(Default)]
struct Gate {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Gate {
    /// The current generation: a handler takes it before saying it has
    /// started, then waits for the next one.
    fn ticket(&self) -> u64 {
        *self.generation.lock().unwrap()
    }

    fn wait(&self, ticket: u64) {
        let deadline = Instant::now() + WAIT;
        let mut g = self.generation.lock().unwrap();
        while *g == ticket {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the gate was never opened");
            g = self.changed.wait_timeout(g, left).unwrap().0;
        }
    }

    fn release(&self) {
        *self.generation.lock().unwrap() += 1;
        self.changed.notify_all();
    }
}

/// A server whose `slow` calls wait at `gate`, reporting each start.
fn gated_server(config: Config, gate: &Arc<Gate>) -> (RunningServer, mpsc::Receiver<u64>) {
    let (started_tx, started) = mpsc::channel();
    let started_tx = Mutex::new(started_tx);
    let mut server = Server::with_config(KEY, config);
    let g = Arc::clone(gate);
    server.register("slow", move |i: u64| {
        let ticket = g.ticket();
        let _ = started_tx.lock().unwrap().send(i);
        g.wait(ticket);
        i
    });
    server.register("ping", || 1u8);
    (
        server.bind("127.0.0.1:0").unwrap().spawn().unwrap(),
        started,
    )
}

fn expect_started(started: &mpsc::Receiver<u64>, n: usize) {
    for _ in 0..n {
        started
            .recv_timeout(WAIT)
            .expect("a slow call should have started");
    }
}

#[test]
fn a_client_killed_mid_call_leaves_the_server_unaffected_and_leaks_nothing() {
    let _serial = serial();
    const WORKERS: usize = 4;
    const CALLS: usize = 4;
    let gate = Arc::new(Gate::default());
    let (running, started) = gated_server(Config::default().workers(WORKERS), &gate);
    let addr = running.local_addr().to_string();

    // Warm up: run a round with an in-process client so the handler pool
    // has grown to its maximum before the baseline is taken.
    {
        let client = Client::connect(addr.as_str(), KEY).unwrap();
        let pending: Vec<_> = (0..CALLS as u64)
            .map(|i| client.start::<_, u64>("slow", i).unwrap())
            .collect();
        expect_started(&started, CALLS);
        gate.release();
        for p in pending {
            p.wait_timeout(WAIT).unwrap();
        }
        client.close();
    }
    wait_until("the warm-up connection is closed", WAIT, || {
        running.stats().open_connections == 0
    });
    // Pooled threads (handlers, at most WORKERS; connection threads, at most
    // one per connection open at once) idle for 30 s for reuse; every other
    // thread and every descriptor must be released.
    sys::quiet_threads();
    let threads_before = sys::thread_counts().other;
    let fds_before = sys::fds().unwrap_or(0);

    const ROUNDS: usize = 3;
    for round in 0..ROUNDS {
        let mut client_proc = Proc::reexec(
            "child_process",
            "client",
            &[("ADDR", addr.clone()), ("CALLS", CALLS.to_string())],
        );
        client_proc.expect_line("calling", WAIT);
        expect_started(&started, CALLS);
        // Mid-call: every call is running on the server. Kill the process.
        client_proc.kill();
        drop(client_proc);
        let killed = Instant::now();
        // The server is unaffected: a real client is served meanwhile.
        let client = Client::connect(addr.as_str(), KEY).unwrap();
        assert_eq!(client.call::<_, u8>("ping", ()).unwrap(), 1);
        client.close();
        // The killed client's handlers finish; their replies go nowhere.
        gate.release();
        wait_until("the dead client's connection is closed", WAIT, || {
            running.stats().open_connections == 0
        });
        let mut now = (sys::thread_counts(), 0);
        let back = wait_until_or_not(WAIT, || {
            now = (sys::thread_counts(), sys::fds().unwrap_or(0));
            now.0.other <= threads_before && now.1 <= fds_before
        });
        assert!(
            back,
            "round {round}: threads {:?} and {} descriptors; {threads_before} other threads \
             and {fds_before} descriptors before ({:?})",
            now.0,
            now.1,
            sys::thread_names()
        );
        // At most two connections were open at once: the killed client's
        // and the real client's.
        assert!(
            now.0.handlers <= WORKERS && now.0.connections <= 2,
            "{:?}",
            now.0
        );
        println!(
            "client process killed mid-call (round {}): {CALLS} calls in flight; back to \
             {threads_before} threads (+{} handler and {} connection threads idle in their \
             pools) and {fds_before} descriptors {:.1} ms after the kill",
            round + 1,
            now.0.handlers,
            now.0.connections,
            killed.elapsed().as_secs_f64() * 1e3
        );
    }
    let stats = running.stats();
    println!("after {ROUNDS} killed clients: {stats:?}");
    assert_eq!(stats.accepted, 1 + 2 * ROUNDS as u64);
    running.shutdown().unwrap();
}

#[test]
fn a_server_killed_mid_call_fails_every_pending_call_promptly() {
    let _serial = serial();
    const CLIENTS: usize = 4;
    const PER_CLIENT: usize = 3;
    let mut server = Proc::reexec("child_process", "server", &[]);
    let addr = server.expect_line("listening ", WAIT);
    let clients: Vec<Client> = (0..CLIENTS)
        .map(|_| Client::connect(addr.as_str(), KEY).unwrap())
        .collect();
    for c in &clients {
        assert_eq!(c.call::<_, u8>("ping", ()).unwrap(), 1);
    }
    // Each client: two pipelined calls and one blocking call in a thread.
    let (done_tx, done) = mpsc::channel::<(Result<u64, Error>, Instant)>();
    let mut pending = Vec::new();
    let mut threads = Vec::new();
    for c in &clients {
        for i in 0..PER_CLIENT as u64 {
            if i < 2 {
                pending.push(c.start::<_, u64>("slow", i).unwrap());
            } else {
                let (c, tx) = (c.clone(), done_tx.clone());
                threads.push(std::thread::spawn(move || {
                    let r = c.call::<_, u64>("slow", i);
                    let _ = tx.send((r, Instant::now()));
                }));
            }
        }
    }
    for p in pending {
        let tx = done_tx.clone();
        threads.push(std::thread::spawn(move || {
            let r = p.wait();
            let _ = tx.send((r, Instant::now()));
        }));
    }
    drop(done_tx);
    for _ in 0..CLIENTS * PER_CLIENT {
        server.expect_line("started", WAIT);
    }
    // Every call is running in the server process. Kill it.
    let killed = Instant::now();
    server.kill();
    let mut worst = Duration::ZERO;
    for _ in 0..CLIENTS * PER_CLIENT {
        let (result, at) = done
            .recv_timeout(PROMPT + WAIT)
            .expect("a pending call hung after its server was killed");
        assert!(matches!(result, Err(Error::ConnectionClosed)), "{result:?}");
        worst = worst.max(at.saturating_duration_since(killed));
    }
    for t in threads {
        t.join().unwrap();
    }
    println!(
        "server process killed with {} calls pending on {CLIENTS} clients: every call failed \
         with ConnectionClosed within {:.2} ms",
        CLIENTS * PER_CLIENT,
        worst.as_secs_f64() * 1e3
    );
    assert!(
        worst < PROMPT,
        "the last pending call failed after {worst:?}"
    );
    // Later calls fail at once too.
    for c in &clients {
        let started = Instant::now();
        assert!(matches!(
            c.call::<_, u8>("ping", ()),
            Err(Error::ConnectionClosed)
        ));
        assert!(started.elapsed() < PROMPT);
    }
}

/// A TCP relay in front of a server that forwards both ways until frozen,
/// then holds whatever it reads: a peer that stops answering without
/// closing anything.
struct Relay {
    addr: SocketAddr,
    frozen: Arc<(Mutex<bool>, Condvar)>,
    stop: Arc<AtomicBool>,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    fn new(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let frozen = Arc::new((Mutex::new(false), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let sockets = Arc::new(Mutex::new(Vec::new()));
        let (f, st, socks) = (Arc::clone(&frozen), Arc::clone(&stop), Arc::clone(&sockets));
        let acceptor = std::thread::spawn(move || {
            let mut pumps = Vec::new();
            for down in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(down) = down else { break };
                let up = TcpStream::connect(upstream).unwrap();
                let _ = (down.set_nodelay(true), up.set_nodelay(true));
                {
                    let mut socks = socks.lock().unwrap();
                    socks.push(down.try_clone().unwrap());
                    socks.push(up.try_clone().unwrap());
                }
                for (from, to) in [
                    (down.try_clone().unwrap(), up.try_clone().unwrap()),
                    (up, down),
                ] {
                    let (f, st) = (Arc::clone(&f), Arc::clone(&st));
                    pumps.push(std::thread::spawn(move || pump(from, to, &f, &st)));
                }
            }
            for p in pumps {
                let _ = p.join();
            }
        });
        Relay {
            addr,
            frozen,
            stop,
            sockets,
            threads: vec![acceptor],
        }
    }

    fn set_frozen(&self, frozen: bool) {
        *self.frozen.0.lock().unwrap() = frozen;
        self.frozen.1.notify_all();
    }
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    frozen: &(Mutex<bool>, Condvar),
    stop: &AtomicBool,
) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Frozen: hold the bytes, read nothing more, close nothing.
        let mut f = frozen.0.lock().unwrap();
        while *f && !stop.load(Ordering::SeqCst) {
            f = frozen.1.wait(f).unwrap();
        }
        drop(f);
        if stop.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.set_frozen(false);
        for s in self.sockets.lock().unwrap().iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
        // Wake the acceptor.
        let _ = TcpStream::connect(self.addr);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn a_peer_that_stops_answering_triggers_call_timeouts() {
    let _serial = serial();
    let mut server = Server::new(KEY);
    server.register("echo", |s: String| s);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let relay = Relay::new(running.local_addr().as_tcp().unwrap());
    let client = Client::connect(relay.addr, KEY).unwrap();
    assert_eq!(
        client
            .call::<_, String>("echo", "through".to_string())
            .unwrap(),
        "through"
    );

    relay.set_frozen(true);
    const TIMEOUT: Duration = Duration::from_millis(300);
    let outcomes: Vec<(Result<String, Error>, Duration)> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for i in 0..4 {
            let client = &client;
            handles.push(scope.spawn(move || {
                let started = Instant::now();
                let r = client.call_timeout::<_, String>("echo", format!("lost {i}"), TIMEOUT);
                (r, started.elapsed())
            }));
        }
        let pending = client
            .start::<_, String>("echo", "pending".to_string())
            .unwrap();
        let started = Instant::now();
        let r = pending.wait_timeout(TIMEOUT);
        let mut all = vec![(r, started.elapsed())];
        all.extend(handles.into_iter().map(|h| h.join().unwrap()));
        all
    });
    let mut worst = Duration::ZERO;
    for (r, took) in &outcomes {
        assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
        assert!(*took >= TIMEOUT, "timed out early, after {took:?}");
        assert!(*took < TIMEOUT + Duration::from_secs(1), "took {took:?}");
        worst = worst.max(*took);
    }
    println!(
        "relay frozen: {} calls failed with Timeout after at most {:.1} ms (call_timeout {} ms)",
        outcomes.len(),
        worst.as_secs_f64() * 1e3,
        TIMEOUT.as_millis()
    );
    // Once the relay forwards again, the late replies are dropped and the
    // connection goes on serving.
    relay.set_frozen(false);
    assert_eq!(
        client
            .call_timeout::<_, String>("echo", "after".to_string(), WAIT)
            .unwrap(),
        "after"
    );
    drop(client);
    drop(relay);
    running.shutdown().unwrap();
}

/// Keeps the deliberate panics of handlers out of the test output.
fn quiet_deliberate_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !text.contains(DELIBERATE) {
                previous(info);
            }
        }));
    });
}

#[test]
fn handler_panics_stay_isolated() {
    let _serial = serial();
    quiet_deliberate_panics();
    let gate = Arc::new(Gate::default());
    let (started_tx, started) = mpsc::channel();
    let started_tx = Mutex::new(started_tx);
    let mut server = Server::new(KEY);
    let g = Arc::clone(&gate);
    server.register("slow", move || {
        let ticket = g.ticket();
        let _ = started_tx.lock().unwrap().send(());
        g.wait(ticket);
        7u8
    });
    server.register("boom", |i: u64| -> u64 { panic!("{DELIBERATE} {i}") });
    server.register("double", |i: u64| i * 2);
    server.register("boom_quietly", |_: u64| -> () {
        panic!("{DELIBERATE} in a notification")
    });
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), KEY).unwrap();

    // A slow call in flight the whole time, on the same connection.
    let slow = client.start::<_, u8>("slow", ()).unwrap();
    started.recv_timeout(WAIT).unwrap();
    const THREADS: u64 = 8;
    const EACH: u64 = 10;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let client = &client;
            scope.spawn(move || {
                for i in 0..EACH {
                    let n = t * 100 + i;
                    let err = client.call::<_, u64>("boom", n).unwrap_err();
                    assert_eq!(err.remote_kind(), Some(RemoteKind::Panicked), "{err}");
                    assert!(
                        err.to_string().contains(&format!("{DELIBERATE} {n}")),
                        "{err}"
                    );
                    assert_eq!(client.call::<_, u64>("double", n).unwrap(), 2 * n);
                }
            });
        }
    });
    for i in 0..5u64 {
        client.notify("boom_quietly", i).unwrap();
    }
    assert!(!slow.is_ready(), "the slow call is still running");
    gate.release();
    assert_eq!(slow.wait_timeout(WAIT).unwrap(), 7);
    client.close();
    wait_until("the connection is closed", WAIT, || {
        running.stats().open_connections == 0
    });
    let stats = running.stats();
    println!(
        "{} handler panics and 5 panicking notifications beside {} good calls on one \
         connection: {stats:?}",
        THREADS * EACH,
        THREADS * EACH + 1
    );
    assert_eq!(stats.errors, THREADS * EACH + 5);
    assert_eq!(stats.calls, THREADS * EACH + 1);
    // A new connection is served as usual.
    let again = Client::connect(running.local_addr(), KEY).unwrap();
    assert_eq!(again.call::<_, u64>("double", 21u64).unwrap(), 42);
    drop(again);
    running.shutdown().unwrap();
}
