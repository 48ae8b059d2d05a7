//! Limits and protocol edges, exercised with raw bytes where a well-behaved
//! client could not reach them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use stdrpc::{Client, Config, Error, RemoteKind, Server};

const TIMEOUT: Duration = Duration::from_secs(20);

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::yield_now();
    }
}

fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 4];
    s.read_exact(&mut head)?;
    let mut body = vec![0u8; u32::from_be_bytes(head) as usize];
    s.read_exact(&mut body)?;
    Ok(body)
}

#[test]
fn max_frame_is_enforced_when_sending() {
    let mut server = Server::new(b"k");
    server.register("len", |b: Vec<u8>| b.len() as u64);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect_with(
        running.local_addr(),
        b"k",
        Config::default().max_frame(1024),
    )
    .unwrap();
    let err = client.call::<_, u64>("len", vec![0u8; 2000]).unwrap_err();
    assert!(
        matches!(err, Error::FrameTooLarge { max: 1024, .. }),
        "{err}"
    );
    // Nothing was sent, so the connection is still good.
    assert_eq!(client.call::<_, u64>("len", vec![0u8; 500]).unwrap(), 500);
    running.shutdown().unwrap();
}

#[test]
fn max_frame_is_enforced_when_receiving() {
    let mut server = Server::with_config(b"k", Config::default().max_frame(1024));
    server.register("len", |b: Vec<u8>| b.len() as u64);
    server.register("make", |n: u64| vec![1u8; n as usize]);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();

    // A request over the server's limit closes that connection.
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    let err = client
        .call_timeout::<_, u64>("len", vec![0u8; 4000], TIMEOUT)
        .unwrap_err();
    assert!(matches!(err, Error::ConnectionClosed), "{err}");

    // A reply over the server's limit is replaced by a short error reply.
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    let err = client
        .call_timeout::<_, Vec<u8>>("make", 4000u64, TIMEOUT)
        .unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteKind::ReplyTooLarge), "{err}");
    assert!(err.to_string().contains("exceeds"), "{err}");

    // A reply over the client's limit ends the client's connection.
    let running2 = {
        let mut server = Server::new(b"k");
        server.register("make", |n: u64| vec![1u8; n as usize]);
        server.bind("127.0.0.1:0").unwrap().spawn().unwrap()
    };
    let client = Client::connect_with(
        running2.local_addr(),
        b"k",
        Config::default().max_frame(1024),
    )
    .unwrap();
    let err = client
        .call_timeout::<_, Vec<u8>>("make", 4000u64, TIMEOUT)
        .unwrap_err();
    assert!(matches!(err, Error::ConnectionClosed), "{err}");
    running.shutdown().unwrap();
    running2.shutdown().unwrap();
}

#[test]
fn connections_beyond_the_limit_are_refused_cleanly() {
    let mut server = Server::with_config(b"k", Config::default().max_connections(2));
    server.register("ping", || 1u8);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let a = Client::connect(running.local_addr(), b"k").unwrap();
    let b = Client::connect(running.local_addr(), b"k").unwrap();
    let err = Client::connect(running.local_addr(), b"k").unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{err}"
    );
    assert!(err.to_string().contains("connection limit"), "{err}");
    assert_eq!(running.stats().refused, 1);
    assert_eq!(a.call::<_, u8>("ping", ()).unwrap(), 1);
    a.close();
    wait_until("the closed connection is released", || {
        running.stats().open_connections < 2
    });
    let c = Client::connect(running.local_addr(), b"k").unwrap();
    assert_eq!(c.call::<_, u8>("ping", ()).unwrap(), 1);
    drop(b);
    running.shutdown().unwrap();
}

#[test]
fn a_silent_peer_is_closed_at_the_handshake_deadline() {
    let config = Config::default().handshake_timeout(Duration::from_millis(200));
    let running = Server::with_config(b"k", config)
        .bind("127.0.0.1:0")
        .unwrap()
        .spawn()
        .unwrap();
    let addr = running.local_addr().as_tcp().unwrap();
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(TIMEOUT)).unwrap();
    let challenge = read_frame(&mut raw).unwrap();
    assert!(challenge.starts_with(b"#CHALLENGE#{sha256}"));
    assert_eq!(challenge.len(), 11 + 8 + 40);
    // Say nothing: the server hangs up at its deadline (EOF, not our timeout).
    let mut rest = Vec::new();
    let n = raw.read_to_end(&mut rest).unwrap();
    assert_eq!(n, 0);
    wait_until("the failed handshake is counted", || {
        running.stats().auth_failures == 1
    });
    // A real client is still served.
    Client::connect(running.local_addr(), b"k").unwrap();
    running.shutdown().unwrap();
}

#[test]
fn bytes_before_authentication_never_reach_a_handler() {
    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let mut server = Server::new(b"k");
    server.register("ping", move || flag.store(true, Ordering::SeqCst));
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().as_tcp().unwrap();

    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(TIMEOUT)).unwrap();
    // A well-formed call to "ping", sent instead of the challenge answer.
    raw.write_all(b"\x00\x00\x00\x06\x01\x01\x04ping").unwrap();
    let _challenge = read_frame(&mut raw).unwrap();
    assert_eq!(read_frame(&mut raw).unwrap(), b"#FAILURE#");
    let mut rest = Vec::new();
    raw.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());

    // An oversize handshake frame is refused without being read.
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(TIMEOUT)).unwrap();
    raw.write_all(b"\x7f\xff\xff\xff").unwrap();
    let _challenge = read_frame(&mut raw).unwrap();
    let mut rest = Vec::new();
    // The server closes; depending on timing the close may surface as a reset.
    let _ = raw.read_to_end(&mut rest);

    wait_until("both failures are counted", || {
        running.stats().auth_failures == 2
    });
    assert!(!ran.load(Ordering::SeqCst));
    running.shutdown().unwrap();
}

/// Opens a raw socket and performs the client's half of the handshake by
/// hand, so the test can send bytes no `Client` would.
fn raw_authenticated(addr: std::net::SocketAddr, key: &[u8]) -> TcpStream {
    use stdrpc::__private::crypto::hmac_sha256;
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let send = |s: &mut TcpStream, payload: &[u8]| {
        let mut f = (payload.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(payload);
        s.write_all(&f).unwrap();
    };
    // Answer the server's challenge.
    let challenge = read_frame(&mut s).unwrap();
    let message = &challenge[b"#CHALLENGE#".len()..];
    let mut answer = b"{sha256}".to_vec();
    answer.extend_from_slice(&hmac_sha256(key, message));
    send(&mut s, &answer);
    assert_eq!(read_frame(&mut s).unwrap(), b"#WELCOME#");
    // Challenge the server and check its answer.
    let mut ours = b"#CHALLENGE#{sha256}".to_vec();
    ours.extend_from_slice(&[42u8; 40]);
    send(&mut s, &ours);
    let reply = read_frame(&mut s).unwrap();
    let mut expected = b"{sha256}".to_vec();
    expected.extend_from_slice(&hmac_sha256(key, &ours[b"#CHALLENGE#".len()..]));
    assert_eq!(reply, expected);
    send(&mut s, b"#WELCOME#");
    s
}

#[test]
fn garbage_after_authentication_closes_only_that_connection() {
    let mut server = Server::new(b"k");
    server.register("ping", || 1u8);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().as_tcp().unwrap();
    let good = Client::connect(addr, b"k").unwrap();
    for garbage in [
        &b"\x00\x00\x00\x01\x09"[..],
        b"\x00\x00\x00\x03\x01\xff\xff",
        b"\xff\xff\xff\xfe",
    ] {
        let mut raw = raw_authenticated(addr, b"k");
        raw.write_all(garbage).unwrap();
        let mut rest = Vec::new();
        // The server hangs up: EOF (or a reset if it closed with bytes unread).
        let _ = raw.read_to_end(&mut rest);
        assert!(rest.is_empty(), "no reply to garbage: {rest:?}");
    }
    assert_eq!(good.call::<_, u8>("ping", ()).unwrap(), 1);
    wait_until("the protocol errors are counted", || {
        running.stats().errors >= 3
    });
    running.shutdown().unwrap();
}

#[test]
fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let config = Config::default().idle_timeout(Some(Duration::from_millis(100)));
    let mut server = Server::with_config(b"k", config);
    server.register("ping", || 1u8);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    assert_eq!(client.call::<_, u8>("ping", ()).unwrap(), 1);
    wait_until("the idle connection is closed", || {
        running.stats().open_connections == 0
    });
    assert!(client.call::<_, u8>("ping", ()).is_err());
    running.shutdown().unwrap();
}

#[test]
fn a_peer_that_stops_reading_is_dropped_and_cannot_hang_shutdown() {
    let config = Config::default().write_timeout(Some(Duration::from_millis(200)));
    let mut server = Server::with_config(b"k", config);
    server.register("blob", || vec![0u8; 1 << 20]);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().as_tcp().unwrap();
    let mut raw = raw_authenticated(addr, b"k");
    // Ask for 64 MiB of replies and read none of them.
    for id in 1..=64u8 {
        raw.write_all(&[0, 0, 0, 7, 0x01, id, 0x04, b'b', b'l', b'o', b'b'])
            .unwrap();
    }
    wait_until("the stalled connection is dropped", || {
        running.stats().open_connections == 0
    });
    running.shutdown().unwrap();
    drop(raw);
}

#[test]
fn huge_error_and_panic_texts_are_cut_before_they_are_copied_or_sent() {
    const HUGE: usize = 100 << 20;
    let mut server = Server::new(b"k");
    server.register("panics", || -> () {
        std::panic::panic_any("p".repeat(HUGE))
    });
    server.register("fails", || -> Result<(), String> {
        Err("é".repeat(HUGE / 2))
    });
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    // The default panic hook would print all 100 MB to stderr.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let panicked = client.call_timeout::<_, ()>("panics", (), TIMEOUT);
    std::panic::set_hook(hook);
    let failed = client.call_timeout::<_, ()>("fails", (), TIMEOUT);
    for (err, kind) in [
        (panicked.unwrap_err(), RemoteKind::Panicked),
        (failed.unwrap_err(), RemoteKind::Handler),
    ] {
        assert_eq!(err.remote_kind(), Some(kind), "{err}");
        let text = err.to_string();
        assert!(text.len() < 4096 + 200, "{} bytes", text.len());
        assert!(
            text.ends_with(&format!("… ({HUGE} bytes)")),
            "{}",
            &text[text.len() - 40..]
        );
    }
    running.shutdown().unwrap();
}

#[test]
fn a_request_beyond_the_memory_budget_is_answered_overloaded_and_the_connection_goes_on() {
    let config = Config::default()
        .max_frame(1 << 20)
        .memory_budget(256 << 10)
        .budget_wait(Duration::from_millis(10));
    let mut server = Server::with_config(b"k", config);
    server.register("len", |b: Vec<u8>| b.len() as u64);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    // 100 KiB of arguments, charged 10x: more than the whole budget.
    let err = client
        .call_timeout::<_, u64>("len", vec![0u8; 100 << 10], TIMEOUT)
        .unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteKind::Overloaded), "{err}");
    assert!(err.to_string().contains("memory budget"), "{err}");
    // The refused payload was skipped, not taken for the next request.
    assert_eq!(client.call::<_, u64>("len", vec![0u8; 1000]).unwrap(), 1000);
    let stats = running.stats();
    assert_eq!(stats.overloaded, 1);
    // Nothing is held for the refused request; the connection keeps its
    // standing share of 64 KiB, lent to its small requests (`budget.rs`).
    assert_eq!(stats.budget_in_use, 64 << 10);
    client.close();
    wait_until("the connection's share is released", || {
        running.stats().budget_in_use == 0
    });
    running.shutdown().unwrap();
}

#[test]
fn a_running_handler_holds_only_its_own_request_bytes_of_the_budget() {
    use std::sync::Mutex;
    use std::sync::mpsc;
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (started_tx, go_rx) = (Mutex::new(started_tx), Mutex::new(go_rx));
    let mut server = Server::new(b"k");
    server.register("hold", move |b: Vec<u8>| {
        started_tx.lock().unwrap().send(()).unwrap();
        let _ = go_rx.lock().unwrap().recv_timeout(TIMEOUT);
        b.len() as u64
    });
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Arc::new(Client::connect(running.local_addr(), b"k").unwrap());
    const N: usize = 100_000;
    let caller = {
        let client = Arc::clone(&client);
        std::thread::spawn(move || client.call_timeout::<_, u64>("hold", vec![7u8; N], TIMEOUT))
    };
    started_rx.recv_timeout(TIMEOUT).unwrap();
    // Charged 10x the frame when its header arrived; once the arguments are
    // decoded, only the request's own bytes (which the handler reads) stay.
    let in_use = running.stats().budget_in_use as usize;
    assert!((N..N + 64).contains(&in_use), "{in_use} bytes held");
    go_tx.send(()).unwrap();
    assert_eq!(caller.join().unwrap().unwrap(), N as u64);
    wait_until("the budget is released", || {
        running.stats().budget_in_use == 0
    });
    running.shutdown().unwrap();
}

#[test]
fn collections_of_zero_sized_values_travel_both_ways() {
    let mut server = Server::new(b"k");
    server.register("units", |n: u64| vec![(); n as usize]);
    server.register("count", |v: Vec<()>| v.len() as u64);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    assert_eq!(
        client.call::<_, Vec<()>>("units", 3u64).unwrap(),
        vec![(); 3]
    );
    assert_eq!(
        client.call::<_, u64>("count", vec![(); 1000]).unwrap(),
        1000
    );
    // Beyond the fixed cap: refused as arguments, not spun on.
    let cap = stdrpc::Decoder::MAX_ZERO_SIZED_ELEMENTS;
    let err = client
        .call::<_, u64>("count", vec![(); cap + 1])
        .unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteKind::BadArguments), "{err}");
    running.shutdown().unwrap();
}
