//! A connection that cannot be opened says where and what to try, for TCP
//! and Unix sockets, on connect and on reconnect; an address without a port
//! says so. The I/O error's kind stays the operating system's.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use stdrpc::python::Manager;
use stdrpc::{Client, Config, Error, Server};

/// A loopback address nothing listens on: a port the OS just handed out and
/// that was closed again.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    addr
}

fn refused(addr: &str) -> String {
    format!("connecting to {addr}: connection refused — is the server running?")
}

fn assert_refused(err: &Error, addr: &str) {
    assert_eq!(err.to_string(), refused(addr));
    assert!(
        matches!(err, Error::Io(e) if e.kind() == ErrorKind::ConnectionRefused),
        "{err:?}"
    );
    // The cause is the operating system's own error, not the message again.
    let source = std::error::Error::source(err).expect("a source");
    assert!(!source.to_string().contains("connecting to"), "{source}");
}

#[test]
fn a_closed_tcp_port_is_named_with_a_hint() {
    let addr = closed_port();
    let err = Client::connect(addr.as_str(), b"k").unwrap_err();
    assert_refused(&err, &addr);
    // The Python-manager client connects through the same code.
    let err = Manager::connect(addr.as_str(), b"k").unwrap_err();
    assert_refused(&err, &addr);
}

#[test]
fn reconnecting_to_a_gone_server_names_the_address() {
    let mut server = Server::new(b"k");
    server.register("one", || 1u8);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = running.local_addr().to_string();
    let config = Config::default().reconnect(Some(Duration::from_millis(100)));
    let client = Client::connect_with(addr.as_str(), b"k", config).unwrap();
    assert_eq!(client.call::<_, u8>("one", ()).unwrap(), 1);
    running.shutdown().unwrap();

    // The call that meets the dead connection may fail as closed; the next
    // ones try to reconnect, are refused, and say where.
    let give_up = Instant::now() + Duration::from_secs(30);
    let err = loop {
        match client.call::<_, u8>("one", ()) {
            Err(Error::ConnectionClosed) if Instant::now() < give_up => continue,
            other => break other.unwrap_err(),
        }
    };
    assert_refused(&err, &addr);
}

#[cfg(unix)]
#[test]
fn a_missing_unix_socket_is_named_with_a_hint() {
    let path = std::env::temp_dir().join(format!(
        "stdrpc-connect-errors-{}-missing.sock",
        std::process::id()
    ));
    assert!(!path.exists());
    let err = Client::connect(path.as_path(), b"k").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "connecting to unix:{}: no such socket file — is the server running, and is the \
             path right?",
            path.display()
        )
    );
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == ErrorKind::NotFound),
        "{err:?}"
    );
    // The same through a `unix:` string.
    let err = Client::connect(format!("unix:{}", path.display()), b"k").unwrap_err();
    assert!(err.to_string().starts_with("connecting to unix:"), "{err}");
}

#[test]
fn an_address_without_a_port_says_so() {
    let err = Client::connect("localhost", b"k").unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("invalid address \"localhost\": missing port (expected HOST:PORT"),
        "{message}"
    );
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == ErrorKind::InvalidInput),
        "{err:?}"
    );
    let err = Server::new(b"k").bind("localhost").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid address \"localhost\": missing port"),
        "{err}"
    );
}

#[test]
fn a_port_in_use_is_named_when_binding() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = Server::new(b"k").bind(addr.as_str()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("binding {addr}: address in use — ")),
        "{err}"
    );
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == ErrorKind::AddrInUse),
        "{err:?}"
    );
}
