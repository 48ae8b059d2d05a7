//! Graceful shutdown: calls already received finish and are answered.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stdrpc::{Client, Error, RemoteKind, Server};

const TIMEOUT: Duration = Duration::from_secs(20);

#[test]
fn shutdown_completes_in_flight_calls() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(Mutex::new(release_rx));
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let mut server = Server::new(b"k");
    server.register("work", move |x: u64| {
        started_tx.lock().unwrap().send(()).unwrap();
        release_rx.lock().unwrap().recv_timeout(TIMEOUT).unwrap();
        x * 2
    });
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().clone();
    let client = Client::connect(&addr, b"k").unwrap();
    let pending = client.start::<_, u64>("work", 21u64).unwrap();
    started_rx.recv_timeout(TIMEOUT).unwrap();

    running.shutdown_handle().shutdown();
    // The server no longer takes new work: a call sent now fails, either at
    // once (shutting down) or when the connection closes after the call in
    // flight has been answered.
    let late = {
        let client = client.clone();
        std::thread::spawn(move || client.call_timeout::<_, u64>("work", 1u64, TIMEOUT))
    };
    // The call the server had already received runs to completion and is answered.
    release_tx.send(()).unwrap();
    assert_eq!(pending.wait_timeout(TIMEOUT).unwrap(), 42);
    match late.join().unwrap() {
        Err(Error::ConnectionClosed) => {}
        Err(e) if e.remote_kind() == Some(RemoteKind::ShuttingDown) => {}
        other => panic!("a call after shutdown began must fail, got {other:?}"),
    }
    running.join().unwrap();
    // Once shut down, nothing listens any more.
    assert!(Client::connect(&addr, b"k").is_err());
}

#[test]
fn shutdown_with_idle_connections_returns() {
    let mut server = Server::new(b"k");
    server.register("ping", || ());
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().clone();
    let clients: Vec<Client> = (0..10)
        .map(|_| Client::connect(&addr, b"k").unwrap())
        .collect();
    clients[0].call::<_, ()>("ping", ()).unwrap();
    running.shutdown().unwrap();
    // Every client notices the closed connection.
    for c in &clients {
        assert!(matches!(
            c.call_timeout::<_, ()>("ping", (), TIMEOUT),
            Err(Error::ConnectionClosed)
        ));
    }
    assert!(Client::connect(&addr, b"k").is_err());
}

#[test]
fn serve_returns_after_a_shutdown_handle_fires() {
    let mut server = Server::new(b"k");
    server.register("ping", || 1u8);
    let bound = server.bind("127.0.0.1:0").unwrap();
    let addr = bound.local_addr().clone();
    let handle = bound.shutdown_handle();
    let serving = std::thread::spawn(move || bound.serve());
    let c = Client::connect(&addr, b"k").unwrap();
    assert_eq!(c.call::<_, u8>("ping", ()).unwrap(), 1);
    handle.shutdown();
    serving.join().unwrap().unwrap();
}

#[test]
fn a_shutdown_deadline_abandons_a_stuck_handler_and_says_the_outcome_is_unknown() {
    const DEADLINE: Duration = Duration::from_millis(300);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let mut server = Server::new(b"k");
    server.register("stuck", move || {
        started_tx.lock().unwrap().send(()).unwrap();
        // Held past the shutdown deadline; released once the test has seen
        // the shutdown return.
        let _ = release_rx.lock().unwrap().recv_timeout(TIMEOUT);
    });
    server.register("quick", || 7u8);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    let other = Client::connect(running.local_addr(), b"k").unwrap();
    assert_eq!(other.call::<_, u8>("quick", ()).unwrap(), 7);
    let pending = client.start::<_, ()>("stuck", ()).unwrap();
    started_rx.recv_timeout(TIMEOUT).unwrap();

    let at = std::time::Instant::now();
    let abandoned = running.shutdown_timeout(Some(DEADLINE)).unwrap();
    let took = at.elapsed();
    assert_eq!(abandoned, 1, "one handler was running at the deadline");
    assert!(took >= DEADLINE, "returned before the deadline: {took:?}");
    // Generous: a loaded 2-core machine may be slow to schedule us.
    assert!(
        took < DEADLINE + Duration::from_secs(10),
        "the deadline did not bound the shutdown: {took:?}"
    );
    // The caller learns the outcome is unknown, distinct from "not run".
    let err = pending.wait_timeout(TIMEOUT).unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteKind::Abandoned), "{err:?}");
    println!(
        "shutdown with a {DEADLINE:?} deadline and a stuck handler returned after {:.1} ms",
        took.as_secs_f64() * 1e3
    );
    release_tx.send(()).unwrap();
}

#[test]
fn shutdown_within_its_deadline_abandons_nothing() {
    let mut server = Server::new(b"k");
    server.register("ping", || 1u8);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    assert_eq!(client.call::<_, u8>("ping", ()).unwrap(), 1);
    assert_eq!(running.shutdown_timeout(Some(TIMEOUT)).unwrap(), 0);
}

#[test]
fn dropping_the_handle_stops_the_server() {
    let mut server = Server::new(b"k");
    server.register("ping", || 1u8);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().clone();
    let client = Client::connect(&addr, b"k").unwrap();
    assert_eq!(client.call::<_, u8>("ping", ()).unwrap(), 1);
    drop(running);
    // It stopped accepting as the handle went: a new peer is not served.
    assert!(Client::connect(&addr, b"k").is_err());
    // And the open connection winds down.
    match client.call_timeout::<_, u8>("ping", (), TIMEOUT) {
        Err(Error::ConnectionClosed) => {}
        Err(e) if e.remote_kind() == Some(RemoteKind::ShuttingDown) => {}
        other => panic!("a call after the handle was dropped must fail, got {other:?}"),
    }
}

#[test]
fn a_detached_server_runs_until_its_shutdown_handle_fires() {
    let mut server = Server::new(b"k");
    server.register("ping", || 1u8);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().clone();
    let handle = running.shutdown_handle();
    running.detach();
    let client = Client::connect(&addr, b"k").unwrap();
    assert_eq!(client.call::<_, u8>("ping", ()).unwrap(), 1);
    handle.shutdown();
    match client.call_timeout::<_, u8>("ping", (), TIMEOUT) {
        Err(Error::ConnectionClosed) => {}
        Err(e) if e.remote_kind() == Some(RemoteKind::ShuttingDown) => {}
        other => panic!("a call after shutdown must fail, got {other:?}"),
    }
}
