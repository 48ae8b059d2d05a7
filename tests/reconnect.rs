//! A client with `Config::reconnect` survives the server going away.

use std::time::{Duration, Instant};

use stdrpc::{Client, Config, Error, Server};

fn server_on(addr: &str, answer: u32) -> stdrpc::RunningServer {
    let mut server = Server::new(b"k");
    server.register("who", move || answer);
    server.bind(addr).unwrap().spawn().unwrap()
}

#[test]
fn calls_go_through_a_new_connection_after_the_old_one_drops() {
    let first = server_on("127.0.0.1:0", 1);
    let addr = first.local_addr().to_string();
    let config = Config::default().reconnect(Some(Duration::from_secs(10)));
    let client = Client::connect_with(&addr, b"k", config).unwrap();
    assert_eq!(client.call::<_, u32>("who", ()).unwrap(), 1);

    first.shutdown().unwrap();
    // The call that meets the dead connection fails clearly...
    let err = client.call::<_, u32>("who", ()).unwrap_err();
    assert!(
        matches!(err, Error::ConnectionClosed | Error::Io(_)),
        "{err}"
    );
    // ...and once a server is back at the address, the next call reconnects.
    let second = server_on(&addr, 2);
    assert_eq!(client.call::<_, u32>("who", ()).unwrap(), 2);
    assert_eq!(second.stats().accepted, 1);
    second.shutdown().unwrap();
}

#[test]
fn reconnecting_gives_up_after_its_budget() {
    let first = server_on("127.0.0.1:0", 1);
    let addr = first.local_addr().to_string();
    let config = Config::default().reconnect(Some(Duration::from_millis(200)));
    let client = Client::connect_with(&addr, b"k", config).unwrap();
    first.shutdown().unwrap();
    let _ = client.call::<_, u32>("who", ());
    let started = Instant::now();
    let err = client.call::<_, u32>("who", ()).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err}");
    // Bounded by the budget (plus the last attempt), not forever.
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn without_reconnect_a_dropped_connection_stays_dropped() {
    let first = server_on("127.0.0.1:0", 1);
    let addr = first.local_addr().to_string();
    let client = Client::connect(&addr, b"k").unwrap();
    first.shutdown().unwrap();
    let _ = client.call::<_, u32>("who", ());
    let second = server_on(&addr, 2);
    assert!(matches!(
        client.call::<_, u32>("who", ()),
        Err(Error::ConnectionClosed)
    ));
    assert_eq!(second.stats().accepted, 0);
    second.shutdown().unwrap();
}
