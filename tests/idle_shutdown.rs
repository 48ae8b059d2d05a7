//! A graceful shutdown ends connections that sit idle, on every platform:
//! a stdrpc client, a peer speaking Python's protocol that never closes on
//! its own (as a stock `BaseManager` proxy does), and a peer stalled in the
//! handshake. Windows does not wake a thread blocked in `recv` when the
//! socket is shut down from another thread; see `src/stop.rs` for how the
//! server gets out of those reads instead.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use stdrpc::{Client, Config, Error, RunningServer, Server};
use support::raw::{self, End};

/// Far more than a shutdown of idle connections takes, and far less than
/// the handshake deadline below: a shutdown that waits for the peer, or for
/// that deadline, fails here instead of hanging.
const BOUND: Duration = Duration::from_secs(15);

fn server(config: Config) -> RunningServer {
    let mut server = Server::with_config(b"k", config);
    server.register("ping", || 1u8);
    server.bind("127.0.0.1:0").unwrap().spawn().unwrap()
}

fn addr(running: &RunningServer) -> SocketAddr {
    running.local_addr().to_string().parse().unwrap()
}

/// Shuts `running` down on another thread; panics unless it is done within
/// [`BOUND`]. Returns how long it took.
fn shutdown_within_bound(running: RunningServer) -> Duration {
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(running.shutdown()));
    match rx.recv_timeout(BOUND) {
        Ok(result) => result.unwrap(),
        Err(_) => panic!("shutdown still waits after {BOUND:?} for an idle connection"),
    }
    started.elapsed()
}

#[test]
fn shutdown_closes_a_connected_idle_client() {
    let running = server(Config::default());
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    assert_eq!(client.call::<_, u8>("ping", ()).unwrap(), 1);
    let took = shutdown_within_bound(running);
    println!("shutdown with an idle stdrpc client took {took:?}");
    // The client stays open on our side, and sees the connection closed.
    assert!(matches!(
        client.call_timeout::<_, u8>("ping", (), BOUND),
        Err(Error::ConnectionClosed)
    ));
}

#[test]
fn shutdown_closes_an_idle_python_protocol_peer() {
    let running = server(Config::default());
    let mut peer = raw::authenticated(addr(&running), b"k");
    // A stock Python client's first request: `(None, 'dummy', (), {})`,
    // pickled (protocol 2). The connection is served as Python's from here.
    let dummy = b"\x80\x02(NX\x05\x00\x00\x00dummy)}t.";
    peer.write_all(&raw::frame(dummy)).unwrap();
    let reply = raw::read_frame(&mut peer).unwrap();
    assert_eq!(reply.first(), Some(&0x80), "a pickled reply: {reply:?}");
    // Now idle, and it would never close on its own.
    let took = shutdown_within_bound(running);
    println!("shutdown with an idle Python-protocol peer took {took:?}");
    let (rest, end) = raw::read_to_end(&mut peer);
    assert!(rest.is_empty(), "nothing more was asked for: {rest:?}");
    assert!(matches!(end, End::Eof | End::Reset));
}

/// The case with a real interpreter: a stock `BaseManager` proxy
/// keeps its connection open, idle, until its process ends. (Not run for
/// Windows: it needs CPython; the test above is the same on the wire.)
#[test]
fn shutdown_closes_an_idle_stock_python_proxy() {
    let (_, python) = support::python::interpreters().remove(0);
    let running = server(Config::default());
    let port = addr(&running).port().to_string();
    // `print(p)` asks the server for `str()` of the object over the proxy's
    // own connection, which then stays open; stdin keeps the process alive.
    let script = "import sys, signal\n\
signal.alarm(120)\n\
from multiprocessing.managers import BaseManager\n\
BaseManager.register('ping')\n\
m = BaseManager(address=('127.0.0.1', int(sys.argv[1])), authkey=b'k')\n\
m.connect()\n\
p = m.ping()\n\
print(p, flush=True)\n\
sys.stdin.read()\n";
    let mut cmd = Command::new(&python);
    cmd.args(["-c", script, &port]);
    let mut child = support::child::Proc::spawn(cmd, "a stock Python proxy");
    let line = child.next_line(BOUND * 4);
    assert_eq!(line.trim(), "1");
    // Python closes the connections of `connect` and `create`; the proxy's
    // stays.
    support::sys::wait_until("only the proxy's connection is open", BOUND, || {
        running.stats().open_connections == 1
    });
    let took = shutdown_within_bound(running);
    println!("shutdown with an idle stock Python proxy took {took:?}");
    // Closing stdin ends the script.
    drop(child.take_stdin());
    support::sys::wait_until("python exits", BOUND, || child.has_exited());
}

#[test]
fn shutdown_does_not_wait_for_the_handshake_deadline() {
    let running = server(Config::default().handshake_timeout(BOUND * 8));
    let mut peer = raw::connect(addr(&running));
    // The server's challenge arrives, and the peer never answers.
    let challenge = raw::read_frame(&mut peer).unwrap();
    assert!(challenge.starts_with(b"#CHALLENGE#"));
    let took = shutdown_within_bound(running);
    println!("shutdown with a peer stalled in the handshake took {took:?}");
    let (_, end) = raw::read_to_end(&mut peer);
    assert!(matches!(end, End::Eof | End::Reset));
}

#[test]
fn the_idle_timeout_closes_a_silent_peer() {
    let idle = Duration::from_millis(300);
    let running = server(Config::default().idle_timeout(Some(idle)));
    let mut peer = raw::authenticated(addr(&running), b"k");
    let started = Instant::now();
    let (rest, end) = raw::read_to_end(&mut peer);
    let took = started.elapsed();
    assert!(rest.is_empty() && matches!(end, End::Eof | End::Reset));
    // Not before the idle timeout: the peer was silent for all of it.
    assert!(took >= idle - Duration::from_millis(50), "{took:?}");
    running.shutdown().unwrap();
}
