//! `service!`: the generated trait, its registration under a namespace, and
//! the typed client stub in each of its modes, through a real server.

#![deny(missing_docs)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use stdrpc::{Client, Error, RemoteKind, Server};

stdrpc::service! {
    /// A key-value store, declared at module scope.
    pub trait Kv {
        /// The value stored under `key`.
        fn get(&self, key: String) -> Option<i64>;
        /// Stores `value` under `key`.
        fn put(&self, key: String, value: i64);
        /// How many keys are stored: no arguments.
        fn len(&self) -> u64;
        /// Removes everything: no arguments, no result.
        fn clear(&self,);
        /// Fails for a missing key, with the key in the message.
        fn must_get(&self, key: String) -> Result<i64, String>;
        /// Fails or succeeds with nothing.
        fn check(&self, ok: bool) -> Result<(), String>;
        /// Panics on the server.
        fn explode(&self, message: String) -> ();
        /// Several arguments of several types, with a trailing comma.
        fn describe(&self, key: String, width: usize, pad: char, upper: bool,) -> String;
        /// An old name, kept for compatibility.
        #[deprecated = "use `get`"]
        fn fetch(&self, key: String) -> Option<i64>;
        /// Present only when the `never` cfg is set, which it is not.
        #[cfg(any())]
        fn absent(&self) -> i64;
    }
    /// The typed client of [`Kv`].
    pub struct KvClient;
}

stdrpc::service! {
    /// A second service, to share a server with `Kv`.
    pub(crate) trait Counter {
        /// Adds one and returns the new count.
        fn inc(&self) -> u64;
        /// Adds `n` without waiting for a reply (used as a notification).
        fn add(&self, n: u64);
        /// The current count.
        fn get(&self) -> u64;
        /// Waits on the server until `release` is called, then returns `x`.
        fn slow(&self, x: u64) -> u64;
    }
    /// The counter's client.
    pub(crate) struct CounterClient;
}

/// A service with no doc comments at all: the generated ones satisfy
/// `missing_docs` on every public item.
pub mod undocumented {
    stdrpc::service! {
        pub trait Bare {
            fn ping(&self) -> u8;
            fn poke(&self, times: u32);
        }
        pub struct BareClient;
    }
}

#[derive(Default)]
struct Store(Mutex<HashMap<String, i64>>);

impl Kv for Store {
    fn get(&self, key: String) -> Option<i64> {
        self.0.lock().unwrap().get(&key).copied()
    }
    fn put(&self, key: String, value: i64) {
        self.0.lock().unwrap().insert(key, value);
    }
    fn len(&self) -> u64 {
        self.0.lock().unwrap().len() as u64
    }
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
    fn must_get(&self, key: String) -> Result<i64, String> {
        self.get(key.clone())
            .ok_or_else(|| format!("no key {key:?}"))
    }
    fn check(&self, ok: bool) -> Result<(), String> {
        if ok { Ok(()) } else { Err("not ok".into()) }
    }
    fn explode(&self, message: String) {
        panic!("{message}");
    }
    fn describe(&self, key: String, width: usize, pad: char, upper: bool) -> String {
        let key = if upper { key.to_uppercase() } else { key };
        format!("{key:>width$}").replace(' ', &pad.to_string())
    }
    fn fetch(&self, key: String) -> Option<i64> {
        self.get(key)
    }
}

struct Count {
    n: AtomicU64,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Counter for Count {
    fn inc(&self) -> u64 {
        self.n.fetch_add(1, Ordering::SeqCst) + 1
    }
    fn add(&self, n: u64) {
        self.n.fetch_add(n, Ordering::SeqCst);
    }
    fn get(&self) -> u64 {
        self.n.load(Ordering::SeqCst)
    }
    fn slow(&self, x: u64) -> u64 {
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(20));
        x
    }
}

/// Both services on one server; the sender releases `slow` calls.
fn serve_both() -> (stdrpc::RunningServer, mpsc::Sender<()>) {
    let (release, rx) = mpsc::channel();
    let mut server = Server::new(b"key");
    Store::default().register_on(&mut server);
    Count {
        n: AtomicU64::new(0),
        release: Mutex::new(rx),
    }
    .register_on(&mut server)
    .register("plain", || "not a service");
    (
        server.bind("127.0.0.1:0").unwrap().spawn().unwrap(),
        release,
    )
}

#[test]
fn typed_calls_through_the_stub() {
    let (running, _release) = serve_both();
    let kv = KvClient::connect(running.local_addr(), b"key").unwrap();
    assert_eq!(kv.get("a".into()).unwrap(), None);
    kv.put("a".into(), 10).unwrap();
    kv.put("b".into(), -3).unwrap();
    assert_eq!(kv.get("a".into()).unwrap(), Some(10));
    assert_eq!(kv.len().unwrap(), 2);
    assert_eq!(kv.must_get("b".into()).unwrap(), -3);
    kv.check(true).unwrap();
    assert_eq!(kv.describe("ab".into(), 5, '.', true).unwrap(), "...AB");
    #[allow(deprecated)]
    let old = kv.fetch("a".into()).unwrap();
    assert_eq!(old, Some(10));
    kv.clear().unwrap();
    assert_eq!(kv.len().unwrap(), 0);
    running.shutdown().unwrap();
}

#[test]
fn remote_failures_surface_as_remote_errors() {
    let (running, _release) = serve_both();
    let kv = KvClient::connect(running.local_addr(), b"key").unwrap();
    match kv.must_get("nope".into()) {
        Err(Error::Remote { kind, message }) => {
            assert_eq!(kind, RemoteKind::Handler);
            assert_eq!(&*message, "no key \"nope\"");
        }
        other => panic!("{other:?}"),
    }
    let err = kv.check(false).unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteKind::Handler));
    let err = kv.explode("boom".into()).unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteKind::Panicked));
    assert!(err.to_string().contains("boom"), "{err}");
    // The connection survives all of it.
    assert_eq!(kv.len().unwrap(), 0);

    // A stub against a server without the service.
    let mut bare = Server::new(b"key");
    bare.register("Kv.len", || "a string, not a u64");
    let bare = bare.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let kv = KvClient::connect(bare.local_addr(), b"key").unwrap();
    assert_eq!(
        kv.get("a".into()).unwrap_err().remote_kind(),
        Some(RemoteKind::NoSuchMethod)
    );
    // A handler of another result type is refused by its signature...
    let err = kv.len().unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteKind::SignatureMismatch));
    assert_eq!(
        err.to_string(),
        "signature mismatch: Kv.len expects () -> &str, called with () -> u64"
    );
    bare.shutdown().unwrap();
    // ...and one that cannot be checked (raw bytes) gives a decode error,
    // not a panic.
    let mut bare = Server::new(b"key");
    bare.register_raw("Kv.len", |_: &[u8]| Ok::<_, String>(vec![255]));
    let bare = bare.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let kv = KvClient::connect(bare.local_addr(), b"key").unwrap();
    assert!(
        matches!(kv.len(), Err(Error::Decode(_))),
        "a reply of the wrong type is an error, not a panic"
    );
    bare.shutdown().unwrap();
    running.shutdown().unwrap();
}

#[test]
fn services_share_a_server_under_their_namespaces() {
    let (running, _release) = serve_both();
    let client = Client::connect(running.local_addr(), b"key").unwrap();
    let kv = KvClient::new(client.clone());
    let counter = CounterClient::from(client.clone());
    kv.put("x".into(), 1).unwrap();
    assert_eq!(counter.inc().unwrap(), 1);
    assert_eq!(counter.inc().unwrap(), 2);
    // `get` exists in both services; the namespace keeps them apart.
    assert_eq!(kv.get("x".into()).unwrap(), Some(1));
    assert_eq!(counter.get().unwrap(), 2);

    // The stub and a call by name reach the same handlers, with the same
    // argument encoding: one value as itself, several as a tuple, none as ().
    client.call::<_, ()>("Kv.put", ("y", 7i64)).unwrap();
    assert_eq!(kv.get("y".into()).unwrap(), Some(7));
    assert_eq!(
        client.call::<_, Option<i64>>("Kv.get", "y").unwrap(),
        Some(7)
    );
    assert_eq!(client.call::<_, u64>("Counter.get", ()).unwrap(), 2);
    assert_eq!(
        kv.client().call::<_, String>("plain", ()).unwrap(),
        "not a service"
    );
    assert_eq!(
        client.call::<_, u64>("get", ()).unwrap_err().remote_kind(),
        Some(RemoteKind::NoSuchMethod),
        "nothing is registered without its namespace"
    );
    // A method cut by `#[cfg]` is not registered either.
    assert_eq!(
        client
            .call::<_, i64>("Kv.absent", ())
            .unwrap_err()
            .remote_kind(),
        Some(RemoteKind::NoSuchMethod)
    );
    drop((kv, counter));
    client.close();
    running.shutdown().unwrap();
}

#[test]
fn pending_and_one_way_modes() {
    let (running, release) = serve_both();
    let counter = CounterClient::connect(running.local_addr(), b"key").unwrap();

    // Pipelined: many calls in flight from one thread.
    let start = counter.start();
    let pending: Vec<_> = (0..50).map(|_| start.inc().unwrap()).collect();
    let mut seen: Vec<u64> = pending.into_iter().map(|p| p.wait().unwrap()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=50).collect::<Vec<_>>());

    // One-way: `add` returns nothing, so it has a notification form. No reply
    // says when the notifications have run, so poll the count.
    let notify = counter.notify();
    for _ in 0..10 {
        notify.add(5).unwrap();
    }
    counter.client().flush().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while counter.get().unwrap() != 100 {
        assert!(std::time::Instant::now() < deadline, "notifications lost");
        std::thread::yield_now();
    }

    // A deadline: a call that waits on the server times out, then completes.
    let slow = counter.with_timeout(Duration::from_millis(50)).slow(9);
    assert!(matches!(slow, Err(Error::Timeout)), "{slow:?}");
    let pending = counter.start().slow(4).unwrap();
    release.send(()).unwrap();
    release.send(()).unwrap();
    assert_eq!(pending.wait().unwrap(), 4);
    assert_eq!(
        counter.with_timeout(Duration::from_secs(10)).get().unwrap(),
        100
    );
    counter.into_client().close();
    running.shutdown().unwrap();
}

#[test]
fn the_kv_stub_has_one_way_forms_for_unit_methods() {
    let (running, _release) = serve_both();
    let kv = KvClient::connect(running.local_addr(), b"key").unwrap();
    let one_way = kv.notify();
    one_way.put("n".into(), 1).unwrap();
    one_way.check(false).unwrap(); // the failure is counted on the server only
    one_way.clear().unwrap();
    one_way.put("m".into(), 2).unwrap();
    // The notifications run in the order sent; poll until the last has run.
    kv.client().flush().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while kv.get("m".into()).unwrap() != Some(2) {
        assert!(std::time::Instant::now() < deadline, "notification lost");
        std::thread::yield_now();
    }
    assert_eq!(kv.get("n".into()).unwrap(), None, "clear ran after put");
    running.shutdown().unwrap();
}

#[test]
fn a_service_declared_inside_a_function() {
    stdrpc::service! {
        trait Greeter {
            fn greet(&self, name: String) -> String;
            fn nothing(&self);
        }
        struct GreeterClient;
    }

    struct Hello(String);
    impl Greeter for Hello {
        fn greet(&self, name: String) -> String {
            format!("{}, {name}!", self.0)
        }
        fn nothing(&self) {}
    }

    let mut server = Server::new(b"k");
    Hello("Hello".into()).register_on(&mut server);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let greeter = GreeterClient::connect(running.local_addr(), b"k").unwrap();
    assert_eq!(greeter.greet("Ada".into()).unwrap(), "Hello, Ada!");
    greeter.nothing().unwrap();
    greeter.notify().nothing().unwrap();
    let pending = greeter.start().greet("Bob".into()).unwrap();
    assert_eq!(pending.wait().unwrap(), "Hello, Bob!");
    running.shutdown().unwrap();
}

#[test]
fn message_types_in_a_service() {
    stdrpc::message! {
        #[derive(Debug, Clone, PartialEq)]
        struct Point {
            x: i32,
            y: i32,
        }
    }
    stdrpc::service! {
        trait Geometry {
            fn mirror(&self, p: Point) -> Point;
            fn bounds(&self, ps: Vec<Point>) -> Result<(Point, Point), String>;
        }
        struct GeometryClient;
    }
    struct G;
    impl Geometry for G {
        fn mirror(&self, p: Point) -> Point {
            Point { x: -p.x, y: -p.y }
        }
        fn bounds(&self, ps: Vec<Point>) -> Result<(Point, Point), String> {
            let first = ps.first().ok_or("no points")?;
            let (mut lo, mut hi) = (first.clone(), first.clone());
            for p in &ps {
                lo = Point {
                    x: lo.x.min(p.x),
                    y: lo.y.min(p.y),
                };
                hi = Point {
                    x: hi.x.max(p.x),
                    y: hi.y.max(p.y),
                };
            }
            Ok((lo, hi))
        }
    }
    let mut server = Server::new(b"k");
    G.register_on(&mut server);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let g = GeometryClient::connect(running.local_addr(), b"k").unwrap();
    assert_eq!(
        g.mirror(Point { x: 1, y: -2 }).unwrap(),
        Point { x: -1, y: 2 }
    );
    let ps = vec![Point { x: 3, y: 1 }, Point { x: -1, y: 5 }];
    assert_eq!(
        g.bounds(ps).unwrap(),
        (Point { x: -1, y: 1 }, Point { x: 3, y: 5 })
    );
    assert_eq!(
        g.bounds(vec![]).unwrap_err().remote_kind(),
        Some(RemoteKind::Handler)
    );
    running.shutdown().unwrap();
}

#[test]
fn stubs_are_send_sync_clone_and_debug() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_traits::<KvClient>();
    assert_traits::<KvClient<stdrpc::stub::Start>>();
    assert_traits::<KvClient<stdrpc::stub::Notify>>();
    assert_traits::<KvClient<stdrpc::stub::Timeout>>();
    assert_traits::<CounterClient>();

    let (running, _release) = serve_both();
    let kv = KvClient::connect(running.local_addr(), b"key").unwrap();
    let shown = format!("{:?}", kv.with_timeout(Duration::from_secs(1)));
    assert!(shown.starts_with("KvClient { client: Client"), "{shown}");
    assert!(shown.contains("Timeout(1s)"), "{shown}");
    // Clones share the connection; a thread each.
    let threads: Vec<_> = (0..4i64)
        .map(|i| {
            let kv = kv.clone();
            std::thread::spawn(move || kv.put(format!("t{i}"), i).unwrap())
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(kv.len().unwrap(), 4);
    running.shutdown().unwrap();
}

/// The trait is object safe apart from registration, and an implementation
/// can be driven directly, with no server at all.
#[test]
fn the_trait_is_a_plain_trait() {
    let store: Arc<dyn Kv> = Arc::new(Store::default());
    store.put("k".into(), 3);
    assert_eq!(store.get("k".into()), Some(3));
    assert_eq!(store.must_get("z".into()), Err("no key \"z\"".to_string()));
}
