//! Connections over transports the user supplies: in-memory pairs, a user
//! acceptor, and the guarantees that hold on every transport (the authkey
//! handshake, a shutdown that reaches an idle peer).

use std::io;
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use stdrpc::transport::{self, Accept};
use stdrpc::{Address, Client, Error, Server, Transport};

/// Long enough for a loaded machine; only a hang reaches it.
const BOUND: Duration = Duration::from_secs(60);

fn squares() -> Server {
    let mut server = Server::new(b"key");
    server.register("square", |x: i64| x * x);
    server.register("echo", |b: Vec<u8>| b);
    server
}

/// Runs `serve_one` on a thread; its result arrives on the channel.
fn serve_one(server: Server, t: Transport) -> Receiver<stdrpc::Result<()>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(server.serve_one(t));
    });
    rx
}

#[test]
fn a_client_over_an_in_memory_pair_calls_a_server_serving_one_connection() {
    let (a, b) = transport::pair();
    let done = serve_one(squares(), b);
    let client = Client::over(a, b"key").unwrap();
    assert_eq!(client.call::<_, i64>("square", 7i64).unwrap(), 49);
    // Frames larger than the pipe's buffer cross in pieces.
    let big = vec![7u8; 1 << 20];
    assert_eq!(client.call::<_, Vec<u8>>("echo", big.clone()).unwrap(), big);
    let pending: Vec<_> = (0..200i64)
        .map(|i| client.start::<_, i64>("square", i).unwrap())
        .collect();
    for (i, p) in pending.into_iter().enumerate() {
        assert_eq!(p.wait().unwrap(), (i * i) as i64);
    }
    // Closing the client ends the one connection, and `serve_one` with it.
    drop(client);
    done.recv_timeout(BOUND).unwrap().unwrap();
}

#[test]
fn the_authkey_handshake_runs_on_every_transport() {
    let (a, b) = transport::pair();
    let done = serve_one(squares(), b);
    let err = Client::over(a, b"wrong key").unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err}");
    let served = done.recv_timeout(BOUND).unwrap();
    assert!(matches!(served, Err(Error::Auth(_))), "{served:?}");
}

/// An acceptor handing over in-memory transports sent to it.
struct Memory {
    incoming: Mutex<Receiver<Option<Transport>>>,
    waker: Mutex<Sender<Option<Transport>>>,
}

impl Accept for Memory {
    fn accept(&self) -> io::Result<Transport> {
        match recv(&self.incoming) {
            Some(Some(t)) => Ok(t),
            // Woken, or every sender gone.
            _ => Err(io::Error::new(io::ErrorKind::WouldBlock, "woken")),
        }
    }

    fn wake(&self) {
        let _ = self.waker.lock().unwrap().send(None);
    }

    fn local_addr(&self) -> io::Result<Address> {
        Ok(Address::Tcp(([127, 0, 0, 1], 0).into()))
    }
}

fn recv(rx: &Mutex<Receiver<Option<Transport>>>) -> Option<Option<Transport>> {
    rx.lock().unwrap().recv_timeout(BOUND).ok()
}

#[test]
fn a_user_acceptor_serves_many_peers_and_its_shutdown_reaches_idle_ones() {
    let (tx, rx) = mpsc::channel();
    let acceptor = Memory {
        incoming: Mutex::new(rx),
        waker: Mutex::new(tx.clone()),
    };
    let running = squares().accept_from(acceptor).unwrap().spawn().unwrap();
    let clients: Vec<Client> = (0..3)
        .map(|_| {
            let (a, b) = transport::pair();
            tx.send(Some(b)).unwrap();
            Client::over(a, b"key").unwrap()
        })
        .collect();
    for (i, c) in clients.iter().enumerate() {
        let i = i as i64;
        assert_eq!(c.call::<_, i64>("square", i).unwrap(), i * i);
    }
    assert_eq!(running.stats().authenticated, 3);
    // The clients stay connected and silent: the shutdown interrupts their
    // connections' reads, and `wake` ends the accept loop.
    let (done_tx, done_rx) = mpsc::channel();
    let stopper = std::thread::spawn(move || {
        let _ = done_tx.send(running.shutdown());
    });
    done_rx.recv_timeout(BOUND).unwrap().unwrap();
    stopper.join().unwrap();
    for c in &clients {
        assert!(c.call::<_, i64>("square", 2i64).is_err());
    }
}

#[test]
fn a_socket_is_a_transport_too() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client_side = std::net::TcpStream::connect(addr).unwrap();
    let (server_side, _) = listener.accept().unwrap();
    let done = serve_one(squares(), Transport::from(server_side));
    let client = Client::over(Transport::from(client_side), b"key").unwrap();
    assert_eq!(client.call::<_, i64>("square", 9i64).unwrap(), 81);
    drop(client);
    done.recv_timeout(BOUND).unwrap().unwrap();
}
