//! Unix domain sockets.
#![cfg(unix)]

use stdrpc::{Address, Client, Server};

#[test]
fn round_trip_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("stdrpc-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rpc.sock");
    let mut server = Server::new(b"k");
    server.register("upper", |s: String| s.to_uppercase());
    let running = server.bind(path.as_path()).unwrap().spawn().unwrap();
    assert_eq!(running.local_addr(), &Address::Unix(path.clone()));
    let client = Client::connect(path.as_path(), b"k").unwrap();
    assert_eq!(
        client
            .call::<_, String>("upper", "abc".to_string())
            .unwrap(),
        "ABC"
    );
    let by_string = Client::connect(format!("unix:{}", path.display()), b"k").unwrap();
    assert_eq!(
        by_string
            .call::<_, String>("upper", "x".to_string())
            .unwrap(),
        "X"
    );
    drop((client, by_string));
    running.shutdown().unwrap();
    assert!(!path.exists(), "the socket file is removed at shutdown");
    std::fs::remove_dir_all(&dir).unwrap();
}
