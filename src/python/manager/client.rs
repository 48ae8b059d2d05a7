//! The client side: [`Manager`] and [`Proxy`], for a Rust program that
//! uses the shared objects of a stock Python `BaseManager` server.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::address::{Address, ToAddress};
use crate::auth;
use crate::codec::{Decode, Encode};
use crate::config::Config;
use crate::crypto::fill_random;
use crate::error::{Error, RemoteKind, Result};
use crate::frame::{self, FrameReader};
use crate::python::pickle::{Value, from_pickle, to_pickle};

use super::shaped::{from_value, to_args};
use crate::stream::{Deadline, Stream};

/// The pickle protocol of our requests: what Python's own clients send.
const PROTOCOL: u8 = 4;

/// How long dropping a [`Proxy`] may take to tell the server (connect,
/// handshake, `decref` and its reply together).
const DROP_BUDGET: Duration = Duration::from_secs(2);

/// Persistent method-call connections kept open for reuse.
const MAX_IDLE: usize = 8;

/// The name our method-call connections give the server (Python sends its
/// process and thread name; the server names its serving thread after it).
const CONNECTION_NAME: &str = "stdrpc";

/// A connection to a stock Python `BaseManager` server (Python's
/// `multiprocessing.managers`), for creating its registered objects and
/// calling their methods from Rust.
///
/// It speaks the protocol exactly as Python's own client does: each server
/// request (`create`, `incref`, `decref`, ...) on a short connection of its
/// own, method calls on persistent connections opened with
/// `accept_connection` and reused. Unlike Python's client it sends its final
/// `#WELCOME#` together with the first request, in one write, so it never
/// pays the ~40 ms Nagle/delayed-ACK stall a stock Python client pays per
/// connection.
///
/// A `Manager` is cheap to clone and can be shared by threads; proxies
/// keep what they need of it alive.
///
/// ```no_run
/// // Python, on the server:
/// //   BaseManager.register("get", get); BaseManager.register("put", put)
/// //   BaseManager(("", 4343), authkey=b"password").get_server().serve_forever()
/// let manager = stdrpc::python::Manager::connect("127.0.0.1:4343", b"password")?;
/// manager.create("put", ("a", 10))?;
/// let a = manager.create("get", "a")?; // a proxy of the int 10
/// assert_eq!(a.call_as::<i64>("conjugate", ())?, 10);
/// assert_eq!(a.repr()?, "10");
/// drop(a); // the server releases its object
/// # Ok::<(), stdrpc::Error>(())
/// ```
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

struct Inner {
    addrs: Vec<Address>,
    authkey: Vec<u8>,
    config: Config,
    call_timeout: Mutex<Option<Duration>>,
    /// Persistent method-call connections not in use.
    idle: Mutex<Vec<Link>>,
    /// `shutdown` was sent: proxies dropped later need not tell the server.
    shut_down: AtomicBool,
}

/// A persistent method-call connection.
struct Link {
    stream: Stream,
    frames: FrameReader,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("addrs", &self.inner.addrs)
            .finish_non_exhaustive()
    }
}

/// A reply, interpreted.
enum Answer {
    Value(Value),
    /// `#PROXY`: the method's result is itself shared, as a new referent
    /// the server holds one reference to on our behalf.
    Proxy {
        typeid: String,
        id: String,
        exposed: Vec<String>,
    },
}

impl Manager {
    /// Connects to a Python manager server and checks it with a `dummy`
    /// request, as Python's `BaseManager.connect()` does.
    ///
    /// # Errors
    /// The server cannot be reached ([`Error::Io`]), the authkeys differ
    /// ([`Error::Auth`]), or the server does not answer as a manager.
    pub fn connect(addr: impl ToAddress, authkey: &[u8]) -> Result<Manager> {
        Manager::connect_with(addr, authkey, Config::default())
    }

    /// Connects with the given limits: the connect, handshake and write
    /// timeouts, strict authentication and the largest frame apply.
    ///
    /// # Errors
    /// As [`connect`](Manager::connect).
    pub fn connect_with(addr: impl ToAddress, authkey: &[u8], config: Config) -> Result<Manager> {
        let manager = Manager {
            inner: Arc::new(Inner {
                addrs: addr.to_addresses()?,
                authkey: authkey.to_vec(),
                config,
                call_timeout: Mutex::new(None),
                idle: Mutex::new(Vec::new()),
                shut_down: AtomicBool::new(false),
            }),
        };
        manager.inner.server_call("dummy", Vec::new(), None)?;
        Ok(manager)
    }

    /// Bounds every later request: a reply that takes longer fails with
    /// [`Error::Timeout`] (the connection it was on is closed). Default
    /// `None`: wait as long as the server's method runs.
    pub fn set_call_timeout(&self, timeout: Option<Duration>) {
        *lock(&self.inner.call_timeout) = timeout;
    }

    /// Creates an object of the registered `typeid` with `args` (`()` for
    /// none, a tuple for several, anything else as the one argument):
    /// Python's `manager.typeid(*args)`.
    ///
    /// The proxy holds the reference the server's `create` took; dropping
    /// it releases the object (`decref`).
    ///
    /// # Errors
    /// The arguments have no Python form ([`Error::Decode`]); the server
    /// refuses the typeid or the callable raises ([`Error::Remote`], with
    /// Python's traceback as the message); an I/O or protocol error.
    pub fn create(&self, typeid: &str, args: impl Encode) -> Result<Proxy> {
        self.create_values(typeid, to_args(&args)?)
    }

    /// [`create`](Manager::create) with the arguments as Python values.
    ///
    /// # Errors
    /// As [`create`](Manager::create).
    pub fn create_values(&self, typeid: &str, args: Vec<Value>) -> Result<Proxy> {
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(Value::from(typeid));
        all.extend(args);
        let answer = self.inner.server_call("create", all, None)?;
        let bad = |v: &Value| Error::protocol(format!("unexpected answer to create: {v}"));
        let value = match answer {
            Answer::Value(v) => v,
            Answer::Proxy { .. } => return Err(Error::protocol("create answered with #PROXY")),
        };
        let Value::Tuple(parts) = &value else {
            return Err(bad(&value));
        };
        match parts.as_slice() {
            [Value::Str(id), exposed] => Ok(Proxy {
                manager: Arc::clone(&self.inner),
                typeid: typeid.to_owned(),
                id: id.clone(),
                exposed: names(exposed).ok_or_else(|| bad(&value))?,
                released: false,
            }),
            _ => Err(bad(&value)),
        }
    }

    /// How many shared objects the server holds (`number_of_objects`).
    ///
    /// # Errors
    /// An I/O, protocol or remote error.
    pub fn number_of_objects(&self) -> Result<usize> {
        match self
            .inner
            .server_call("number_of_objects", Vec::new(), None)?
        {
            Answer::Value(Value::Int(n)) => {
                usize::try_from(n).map_err(|_| Error::protocol("negative number of objects"))
            }
            _ => Err(Error::protocol("number_of_objects did not answer an int")),
        }
    }

    /// The server's `debug_info`: each shared object with its reference count.
    ///
    /// # Errors
    /// An I/O, protocol or remote error.
    pub fn debug_info(&self) -> Result<String> {
        match self.inner.server_call("debug_info", Vec::new(), None)? {
            Answer::Value(Value::Str(s)) => Ok(s),
            _ => Err(Error::protocol("debug_info did not answer a str")),
        }
    }

    /// Asks the server to shut down (`shutdown`), as Python's manager does
    /// from its finalizer. A server of ours refuses unless it allows it.
    ///
    /// # Errors
    /// The server refused ([`Error::Remote`]), or an I/O or protocol error.
    pub fn shutdown(&self) -> Result<()> {
        self.inner.server_call("shutdown", Vec::new(), None)?;
        self.inner.shut_down.store(true, Ordering::Relaxed);
        lock(&self.inner.idle).clear();
        Ok(())
    }
}

/// The names of an exposed list.
fn names(v: &Value) -> Option<Vec<String>> {
    v.as_seq()?
        .iter()
        .map(|n| n.as_str().map(str::to_owned))
        .collect()
}

/// `(ident, methodname, args, kwds)`.
fn request(ident: Value, method: &str, args: Vec<Value>) -> Value {
    Value::Tuple(vec![
        ident,
        Value::from(method),
        Value::Tuple(args),
        Value::Dict(Vec::new()),
    ])
}

impl Inner {
    fn call_timeout(&self) -> Option<Duration> {
        *lock(&self.call_timeout)
    }

    /// Opens and authenticates a connection. Returns it with the final
    /// `#WELCOME#` frame not yet sent: it goes out with the first request.
    fn open(&self, budget: Option<Duration>) -> Result<(Stream, Vec<u8>)> {
        let connect = match (self.config.connect_timeout, budget) {
            (Some(c), Some(b)) => Some(c.min(b)),
            (c, b) => c.or(b),
        };
        let stream = Stream::connect(&self.addrs, connect)?;
        let handshake = budget.map_or(self.config.handshake_timeout, |b| {
            b.min(self.config.handshake_timeout)
        });
        let welcome =
            handshake_deferred(&stream, &self.authkey, self.config.strict_auth, handshake)?;
        stream.set_write_timeout(budget.or(self.config.write_timeout))?;
        stream.set_read_timeout(budget.or(self.call_timeout()))?;
        Ok((stream, welcome))
    }

    /// One server function on a connection of its own, as Python's client
    /// does it (the Python server closes the connection after one request).
    fn server_call(
        &self,
        method: &str,
        args: Vec<Value>,
        budget: Option<Duration>,
    ) -> Result<Answer> {
        let (stream, welcome) = self.open(budget)?;
        send(
            &stream,
            welcome,
            &request(Value::None, method, args),
            self.config.max_frame,
        )?;
        let reply =
            frame::read(&mut &stream, self.config.max_frame)?.ok_or(Error::ConnectionClosed)?;
        interpret(&from_pickle(&reply)?)
    }

    /// A method call on referent `id`, over a persistent connection.
    fn method_call(&self, id: &str, method: &str, args: Vec<Value>) -> Result<Answer> {
        let request = request(Value::from(id), method, args);
        let pooled = lock(&self.idle).pop();
        let mut link = match pooled {
            Some(link) => {
                link.stream.set_read_timeout(self.call_timeout())?;
                link
            }
            None => self.open_link()?,
        };
        let reply = exchange(&mut link, Vec::new(), &request, self.config.max_frame)?;
        // The exchange completed: the connection is in step and reusable.
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE {
            idle.push(link);
        }
        drop(idle);
        interpret(&reply)
    }

    /// A new persistent method-call connection (`accept_connection`).
    fn open_link(&self) -> Result<Link> {
        let (stream, welcome) = self.open(None)?;
        let mut link = Link {
            stream,
            frames: FrameReader::new(self.config.max_frame),
        };
        let accept = request(
            Value::None,
            "accept_connection",
            vec![CONNECTION_NAME.into()],
        );
        let reply = exchange(&mut link, welcome, &accept, self.config.max_frame)?;
        interpret(&reply)?;
        Ok(link)
    }
}

/// Writes `prefix` (the pending `#WELCOME#`, if any) and the request in one
/// write.
fn send(stream: &Stream, mut prefix: Vec<u8>, request: &Value, max_frame: usize) -> Result<()> {
    let payload = to_pickle(request, PROTOCOL);
    if payload.len() > max_frame {
        return Err(Error::FrameTooLarge {
            len: payload.len() as u64,
            max: max_frame as u64,
        });
    }
    frame::append(&mut prefix, &payload);
    (&*stream).write_all(&prefix).map_err(Error::from_io)
}

/// Sends a request on a link and reads its reply.
fn exchange(link: &mut Link, prefix: Vec<u8>, request: &Value, max_frame: usize) -> Result<Value> {
    send(&link.stream, prefix, request, max_frame)?;
    match link.frames.next(&mut &link.stream)? {
        Some(reply) => from_pickle(reply),
        None => Err(Error::ConnectionClosed),
    }
}

/// A reply `(kind, result)` as an answer or an error.
fn interpret(reply: &Value) -> Result<Answer> {
    let bad = || Error::protocol(format!("unexpected reply from the manager: {reply}"));
    let [Value::Str(kind), result] = reply.as_seq().ok_or_else(bad)? else {
        return Err(bad());
    };
    match kind.as_str() {
        "#RETURN" => Ok(Answer::Value(result.clone())),
        // The method raised: the exception itself.
        "#ERROR" => Err(Error::remote(RemoteKind::Handler, result.to_string())),
        "#TRACEBACK" => {
            let text = result.python_str();
            Err(Error::remote(traceback_kind(&text), text.trim_end()))
        }
        "#UNSERIALIZABLE" => Err(Error::remote(
            RemoteKind::Handler,
            format!("unserializable result: {}", result.python_str().trim_end()),
        )),
        "#PROXY" => match result.as_seq() {
            Some([exposed, token]) => {
                let (typeid, _, id) = token.as_token().ok_or_else(bad)?;
                Ok(Answer::Proxy {
                    typeid: typeid.to_owned(),
                    id: id.to_owned(),
                    exposed: names(exposed).ok_or_else(bad)?,
                })
            }
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// The kind of failure a Python traceback reports, from its last line.
fn traceback_kind(text: &str) -> RemoteKind {
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    // Python's own server ends an unexposed method's traceback with the
    // `KeyError` of its fallback lookup; the `AttributeError` comes before.
    if text.contains("is not in exposed=") || last.ends_with("unrecognized") {
        RemoteKind::NoSuchMethod
    } else if last.starts_with("TypeError") {
        RemoteKind::BadArguments
    } else {
        RemoteKind::Handler
    }
}

/// The connecting side of the authkey handshake, with the final `#WELCOME#`
/// held back: it is returned as a frame for the caller to send together with
/// its first request, so that Nagle's algorithm never holds that request
/// behind an unacknowledged welcome.
fn handshake_deferred(
    stream: &Stream,
    authkey: &[u8],
    strict: bool,
    timeout: Duration,
) -> Result<Vec<u8>> {
    let mut d = Deadline::new(stream, timeout);
    auth::answer_challenge(&mut d, authkey, strict)?;
    let mut challenge = auth::CHALLENGE.to_vec();
    challenge.extend_from_slice(b"{sha256}");
    let mut nonce = [0u8; 40];
    fill_random(&mut nonce)?;
    challenge.extend_from_slice(&nonce);
    frame::write(&mut d, &challenge).map_err(Error::from_io)?;
    let answer = match frame::read(&mut d, auth::HANDSHAKE_MAX_FRAME) {
        Ok(Some(a)) => a,
        Ok(None) => return Err(Error::ConnectionClosed),
        Err(Error::FrameTooLarge { len, .. }) => {
            return Err(Error::protocol(format!(
                "handshake frame of {len} bytes exceeds the {}-byte limit",
                auth::HANDSHAKE_MAX_FRAME
            )));
        }
        Err(e) => return Err(e),
    };
    let message = challenge.get(auth::CHALLENGE.len()..).unwrap_or_default();
    if let Err(e) = auth::verify(authkey, message, &answer, strict) {
        // Best effort: the verification error is what we report.
        let _ = frame::write(&mut d, auth::FAILURE);
        return Err(e);
    }
    d.finish(None)?;
    let mut welcome = Vec::with_capacity(4 + auth::WELCOME.len());
    frame::append(&mut welcome, auth::WELCOME);
    Ok(welcome)
}

/// A proxy of an object a Python manager server holds: Python's
/// `AutoProxy`, in Rust.
///
/// The proxy owns one reference to the object on the server; dropping it
/// sends `decref` (bounded to two seconds, errors ignored — use
/// [`release`](Proxy::release) to see them), and
/// [`try_clone`](Proxy::try_clone) takes another (`incref`). Method calls
/// travel on persistent connections shared by every proxy of the manager.
///
/// ```no_run
/// # let manager = stdrpc::python::Manager::connect("127.0.0.1:4343", b"password")?;
/// let uname = manager.create("get_uname", ())?; // a proxy of a str
/// println!("get_uname {}", uname.repr()?); // as Python prints the proxy
/// let text: String = uname.value_as()?; // a copy of the value (#GETVALUE)
/// assert_eq!(uname.call_as::<String>("upper", ())?, text.to_uppercase());
/// # Ok::<(), stdrpc::Error>(())
/// ```
pub struct Proxy {
    manager: Arc<Inner>,
    typeid: String,
    id: String,
    exposed: Vec<String>,
    released: bool,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("typeid", &self.typeid)
            .field("id", &self.id)
            .field("exposed", &self.exposed)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// The typeid the object was created as.
    pub fn typeid(&self) -> &str {
        &self.typeid
    }

    /// The server's ident of the object.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The methods the server lets this proxy call. (`__repr__`,
    /// `__str__` and [`value`](Proxy::value) always work too.)
    pub fn exposed(&self) -> &[String] {
        &self.exposed
    }

    /// Calls `method` with `args` (`()` for none, a tuple for several,
    /// anything else as the one argument) and returns a copy of the result.
    ///
    /// A result the server shares as a proxy of its own (a typeid registered
    /// with `method_to_typeid`) is copied and released; use
    /// [`call_proxy`](Proxy::call_proxy) to keep it shared.
    ///
    /// # Errors
    /// The method raised ([`Error::Remote`] of kind
    /// [`RemoteKind::Handler`], with the exception's repr), is not exposed
    /// ([`RemoteKind::NoSuchMethod`]), or an I/O or protocol error.
    pub fn call(&self, method: &str, args: impl Encode) -> Result<Value> {
        self.call_values(method, to_args(&args)?)
    }

    /// [`call`](Proxy::call) with the arguments as Python values.
    ///
    /// # Errors
    /// As [`call`](Proxy::call).
    pub fn call_values(&self, method: &str, args: Vec<Value>) -> Result<Value> {
        match self.manager.method_call(&self.id, method, args)? {
            Answer::Value(v) => Ok(v),
            Answer::Proxy {
                typeid,
                id,
                exposed,
            } => {
                let proxy = self.adopt(typeid, id, exposed);
                proxy.value()
            }
        }
    }

    /// [`call`](Proxy::call), converting the result to a Rust type.
    ///
    /// # Errors
    /// As [`call`](Proxy::call), or [`Error::Decode`] if the result does
    /// not convert to `R`.
    pub fn call_as<R: Decode>(&self, method: &str, args: impl Encode) -> Result<R> {
        from_value(&self.call(method, args)?)
    }

    /// Calls a method whose result the server shares as a proxy
    /// (`method_to_typeid`) and returns that proxy; a plain result fails
    /// with [`Error::Protocol`].
    ///
    /// # Errors
    /// As [`call`](Proxy::call).
    pub fn call_proxy(&self, method: &str, args: impl Encode) -> Result<Proxy> {
        match self
            .manager
            .method_call(&self.id, method, to_args(&args)?)?
        {
            Answer::Proxy {
                typeid,
                id,
                exposed,
            } => Ok(self.adopt(typeid, id, exposed)),
            Answer::Value(v) => Err(Error::protocol(format!(
                "{method} returned a plain value, not a proxy: {v}"
            ))),
        }
    }

    /// A proxy for a referent the server created for us (`#PROXY`): it holds
    /// the reference the server took.
    fn adopt(&self, typeid: String, id: String, exposed: Vec<String>) -> Proxy {
        Proxy {
            manager: Arc::clone(&self.manager),
            typeid,
            id,
            exposed,
            released: false,
        }
    }

    /// A copy of the object's value (`#GETVALUE`, Python's `_getvalue()`).
    ///
    /// # Errors
    /// The value cannot be sent (an unpicklable object, or one a server of
    /// ours keeps to itself), or an I/O or protocol error.
    pub fn value(&self) -> Result<Value> {
        self.call_values("#GETVALUE", Vec::new())
    }

    /// [`value`](Proxy::value), converted to a Rust type.
    ///
    /// # Errors
    /// As [`value`](Proxy::value), or [`Error::Decode`].
    pub fn value_as<R: Decode>(&self) -> Result<R> {
        from_value(&self.value()?)
    }

    /// The object's `repr()`, computed by the server: what Python prints
    /// for a proxy.
    ///
    /// # Errors
    /// An I/O, protocol or remote error.
    pub fn repr(&self) -> Result<String> {
        match self.call_values("__repr__", Vec::new())? {
            Value::Str(s) => Ok(s),
            other => Err(Error::protocol(format!("__repr__ returned {other}"))),
        }
    }

    /// Another proxy of the same object, with a reference of its own
    /// (`incref`).
    ///
    /// # Errors
    /// The object is gone, or an I/O or protocol error.
    pub fn try_clone(&self) -> Result<Proxy> {
        self.manager
            .server_call("incref", vec![Value::from(self.id.as_str())], None)?;
        Ok(self.adopt(self.typeid.clone(), self.id.clone(), self.exposed.clone()))
    }

    /// Releases the object now (`decref`), reporting failure, instead of
    /// on drop.
    ///
    /// # Errors
    /// The server did not confirm the release.
    pub fn release(mut self) -> Result<()> {
        self.released = true;
        self.decref(None)
    }

    fn decref(&self, budget: Option<Duration>) -> Result<()> {
        self.manager
            .server_call("decref", vec![Value::from(self.id.as_str())], budget)
            .map(drop)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Best effort and bounded; skipped once the server was shut down,
        // as Python's finalizer does.
        if !self.released && !self.manager.shut_down.load(Ordering::Relaxed) {
            let _ = self.decref(Some(DROP_BUDGET));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_shareable() {
        fn assert_traits<T: Send + Sync + 'static>() {}
        assert_traits::<Manager>();
        assert_traits::<Proxy>();
    }

    #[test]
    fn replies_are_interpreted() {
        let ok = Value::Tuple(vec!["#RETURN".into(), 5.into()]);
        assert!(matches!(interpret(&ok), Ok(Answer::Value(Value::Int(5)))));
        let err = Value::Tuple(vec![
            "#ERROR".into(),
            Value::exception("KeyError", vec!["a".into()]),
        ]);
        let e = interpret(&err).err().unwrap();
        assert_eq!(e.remote_kind(), Some(RemoteKind::Handler));
        assert!(e.to_string().contains("KeyError('a')"), "{e}");
        let tb = |text: &str| {
            interpret(&Value::Tuple(vec!["#TRACEBACK".into(), text.into()]))
                .err()
                .unwrap()
        };
        let e = tb(
            "Traceback...\nAttributeError: method 'x' of <class 'int'> object is not in exposed={...}\n",
        );
        assert_eq!(e.remote_kind(), Some(RemoteKind::NoSuchMethod));
        assert_eq!(
            tb("x\nTypeError: f() takes 1\n").remote_kind(),
            Some(RemoteKind::BadArguments)
        );
        assert_eq!(
            tb("x\nKeyError: 'nope'\n").remote_kind(),
            Some(RemoteKind::Handler)
        );
        let addr = Value::Tuple(vec!["h".into(), 1.into()]);
        let proxy = Value::Tuple(vec![
            "#PROXY".into(),
            Value::Tuple(vec![
                Value::Tuple(vec!["f".into()]),
                Value::token("T", addr, "ab"),
            ]),
        ]);
        match interpret(&proxy) {
            Ok(Answer::Proxy {
                typeid,
                id,
                exposed,
            }) => {
                assert_eq!((typeid.as_str(), id.as_str()), ("T", "ab"));
                assert_eq!(exposed, ["f"]);
            }
            _ => panic!("not a proxy"),
        }
        assert!(interpret(&Value::None).is_err());
        assert!(interpret(&Value::Tuple(vec!["#WHAT".into(), Value::None])).is_err());
    }
}
