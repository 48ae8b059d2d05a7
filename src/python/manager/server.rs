//! The server side of the BaseManager protocol: one Python connection,
//! served request by request on the thread that accepted it.
//!
//! A connection starts in the server's dispatcher (Python's
//! `Server._handle_request`): every request names a server function
//! (`create`, `incref`, ...). `accept_connection` switches it to serving a
//! proxy's method calls on referents (Python's `Server.serve_client`) until
//! the client closes it. Python closes a connection after one server
//! function; we go on reading, which costs nothing and lets a client reuse it.

use std::sync::atomic::Ordering;

use super::Host;
use super::objects::{Referent, repr_prefix};
use super::shaped::{self, CallError};
use crate::error::{Error, RemoteKind, Result};
use crate::frame::{self, FrameReader};
use crate::python::methods;
use crate::python::pickle::{
    Value, WORKING_MEMORY_ALLOWANCE, WORKING_MEMORY_FACTOR, from_pickle, to_pickle,
    to_pickle_capped,
};
use crate::python::pyerr::{
    MESSAGE_CHARS, PyErr, QUOTE_CHARS, clip, clip_str, quote, traceback_text,
};
use crate::stop::StopRead;
use crate::stream::Stream;
use std::sync::Arc;

/// The pickle protocol of our replies: Python's default, which every
/// Python 3.8+ client reads.
const PROTOCOL: u8 = 4;

/// The server functions of Python's manager (`Server.public`).
const PUBLIC: &[&str] = &[
    "accept_connection",
    "create",
    "debug_info",
    "decref",
    "dummy",
    "get_methods",
    "incref",
    "number_of_objects",
    "shutdown",
];

/// The library's own function listing every method with its signature as
/// Python sees it, `[(name, "(key: str) -> Optional[int]"), ...]`: a server
/// function (`dispatch(conn, None, "stdrpc.methods", ())`) and a typeid
/// (`create("stdrpc.methods")`, a shared list).
const METHODS: &str = "stdrpc.methods";

/// A reply: `(kind, value)`.
struct Reply {
    kind: &'static str,
    value: Payload,
}

/// A reply's value: made for it, or a referent's own value (`#GETVALUE`),
/// which is pickled in place rather than cloned.
enum Payload {
    Owned(Value),
    Referent(Arc<Referent>),
}

impl Payload {
    fn value(&self) -> &Value {
        match self {
            Payload::Owned(v) => v,
            Payload::Referent(r) => match &**r {
                Referent::Value(v) => v,
                Referent::Object { .. } => &Value::None,
            },
        }
    }
}

impl Reply {
    fn ok(value: Value) -> Reply {
        Reply {
            kind: "#RETURN",
            value: Payload::Owned(value),
        }
    }

    /// `#ERROR`: the client raises the exception itself.
    fn error(e: &PyErr) -> Reply {
        Reply {
            kind: "#ERROR",
            value: Payload::Owned(e.to_value()),
        }
    }

    /// `#TRACEBACK`: the client raises `RemoteError(text)`.
    fn traceback(e: &PyErr, context: &str) -> Reply {
        Reply {
            kind: "#TRACEBACK",
            value: Payload::Owned(Value::Str(e.traceback(context))),
        }
    }

    /// `#UNSERIALIZABLE`: the client raises `RemoteError`, saying the
    /// result could not be sent.
    fn unserializable(line: &str) -> Reply {
        Reply {
            kind: "#UNSERIALIZABLE",
            value: Payload::Owned(Value::Str(traceback_text("sending the reply", line))),
        }
    }
}

/// What follows a reply.
#[derive(PartialEq)]
enum Next {
    Read,
    Close,
}

struct Session<'a, 'h> {
    host: &'a Host<'h>,
    stream: &'a Stream,
    /// `accept_connection` was called: requests are method calls.
    serving_proxies: bool,
}

/// Serves one Python connection whose first request is `first`, until the
/// client closes it (or an idle timeout passes).
pub(crate) fn serve(
    host: &Host<'_>,
    stream: &Stream,
    frames: &mut FrameReader,
    first: &[u8],
) -> Result<()> {
    // Pickles take more working memory per byte than std-codec messages:
    // the budget charges what the unpickler may use (its stated bound), and
    // the frame's own bytes.
    frames.set_charge(WORKING_MEMORY_FACTOR + 1, WORKING_MEMORY_ALLOWANCE);
    let mut session = Session {
        host,
        stream,
        serving_proxies: false,
    };
    session.received(first.len());
    let mut next = session.handle(first)?;
    while next == Next::Read {
        let stop = || host.stopping.load(Ordering::Acquire);
        let mut src = StopRead::new(stream, &stop, host.idle_timeout);
        let request = match frames.next(&mut src) {
            Ok(Some(request)) => request,
            Ok(None) | Err(Error::ConnectionClosed | Error::Timeout) => return Ok(()),
            // The budget had no room: the frame was skipped whole, so the
            // connection is still in step and the client gets a MemoryError.
            Err(Error::Remote {
                kind: RemoteKind::Overloaded,
                message,
            }) => {
                host.overloaded.fetch_add(1, Ordering::Relaxed);
                session.refuse(&message)?;
                continue;
            }
            Err(e) => return Err(e),
        };
        session.received(request.len());
        next = session.handle(request)?;
    }
    Ok(())
}

/// A request's four parts.
struct Request {
    ident: Value,
    method: String,
    args: Vec<Value>,
    kwds: Vec<(Value, Value)>,
}

fn parse(bytes: &[u8]) -> Result<Request, PyErr> {
    let value =
        from_pickle(bytes).map_err(|e| PyErr::new("_pickle.UnpicklingError", e.to_string()))?;
    let parts = match value {
        Value::Tuple(parts) | Value::List(parts) if parts.len() == 4 => parts,
        other => {
            return Err(PyErr::value_error(format!(
                "expected a request (ident, methodname, args, kwds), got {}",
                repr_prefix(&other, 200)
            )));
        }
    };
    let mut parts = parts.into_iter();
    let (ident, method, args, kwds) = (parts.next(), parts.next(), parts.next(), parts.next());
    let method = match method {
        Some(Value::Str(m)) => m,
        other => {
            return Err(PyErr::type_error(format!(
                "the method name must be str, not {}",
                other.as_ref().map_or("NoneType", Value::python_type)
            )));
        }
    };
    let args = match args {
        Some(Value::Tuple(a) | Value::List(a)) => a,
        other => {
            return Err(PyErr::type_error(format!(
                "{}() argument after * must be a tuple, not {}",
                clip_str(&method, QUOTE_CHARS),
                other.as_ref().map_or("NoneType", Value::python_type)
            )));
        }
    };
    let kwds = match kwds {
        Some(Value::Dict(k)) => k,
        other => {
            return Err(PyErr::type_error(format!(
                "{}() argument after ** must be a mapping, not {}",
                clip_str(&method, QUOTE_CHARS),
                other.as_ref().map_or("NoneType", Value::python_type)
            )));
        }
    };
    Ok(Request {
        ident: ident.unwrap_or(Value::None),
        method,
        args,
        kwds,
    })
}

impl Session<'_, '_> {
    /// Counts a request's frame in the server's traffic.
    fn received(&self, len: usize) {
        self.host
            .bytes_in
            .fetch_add(len as u64 + 4, Ordering::Relaxed);
    }

    /// Writes one reply frame and counts it.
    fn write(&self, bytes: &[u8]) -> Result<()> {
        frame::write(&mut &*self.stream, bytes).map_err(Error::from_io)?;
        let header = if bytes.len() > i32::MAX as usize {
            12
        } else {
            4
        };
        self.host
            .bytes_out
            .fetch_add((bytes.len() + header) as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Answers a request that is refused before it is decoded (too large
    /// for `Config::max_python_frame`, or for the server's memory budget)
    /// with `('#ERROR', MemoryError(message))`: the Python client raises
    /// `MemoryError(message)`, whether it was calling a server function or a
    /// proxy's method. Nothing of the request is looked at, so the
    /// connection stays in step if its frame was read (or skipped) whole.
    fn refuse(&self, message: &str) -> Result<()> {
        let e = PyErr::memory_error(message);
        let reply = Value::Tuple(vec!["#ERROR".into(), e.to_value()]);
        self.write(&to_pickle(&reply, PROTOCOL))
    }

    fn handle(&mut self, bytes: &[u8]) -> Result<Next> {
        if bytes.len() > self.host.max_request {
            self.host.objects.count(false);
            let message = format!(
                "stdrpc: the request of {} bytes exceeds the server's limit of {} bytes \
                 for Python requests (Config::max_python_frame); it was not decoded",
                bytes.len(),
                self.host.max_request
            );
            self.refuse(&message)?;
            return Ok(Next::Read);
        }
        let request = match parse(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.send(Reply::traceback(&e, "reading the request"))?;
                return Ok(Next::Read);
            }
        };
        if self.serving_proxies {
            let reply = self.method_call(request);
            self.send(reply)?;
            return Ok(Next::Read);
        }
        // Only a prefix: the name is the traceback's context at most.
        let method = clip_str(&request.method, QUOTE_CHARS);
        match self.server_function(request) {
            Ok(Some(value)) => {
                self.send(Reply::ok(value))?;
                Ok(Next::Read)
            }
            // `accept_connection`: answered, now serving proxies.
            Ok(None) if method == "accept_connection" => {
                self.send(Reply::ok(Value::None))?;
                self.serving_proxies = true;
                Ok(Next::Read)
            }
            // `shutdown`: answered, then the server stops.
            Ok(None) => {
                self.send(Reply::ok(Value::None))?;
                (self.host.shutdown)();
                Ok(Next::Close)
            }
            Err(e) => {
                self.send(Reply::traceback(&e, &method))?;
                Ok(Next::Read)
            }
        }
    }

    /// Writes a reply in one write. A reply larger than a frame becomes
    /// `#UNSERIALIZABLE`, so the client always gets an answer; it is found
    /// out while pickling, which stops at the frame limit, so the oversized
    /// pickle is never built.
    fn send(&self, reply: Reply) -> Result<()> {
        let max = self.host.max_frame;
        let value = reply.value.value();
        let (ok, bytes) = match to_pickle_capped(reply.kind, value, PROTOCOL, max) {
            Some(bytes) => (reply.kind == "#RETURN", bytes),
            None => (false, too_large(max)),
        };
        self.host.objects.count(ok);
        self.write(&bytes)
    }

    /// Runs a server function. `Ok(None)` for the two that reply in their
    /// own way: `accept_connection` and `shutdown`.
    fn server_function(&self, request: Request) -> Result<Option<Value>, PyErr> {
        let Request {
            method, args, kwds, ..
        } = request;
        let objects = self.host.objects;
        if method == METHODS {
            // Ours, not Python's: every method with its Python signature.
            exact_args(METHODS, &args, 0)?;
            return Ok(Some(shaped::signatures(self.host.registry)));
        }
        if !PUBLIC.contains(&method.as_str()) {
            return Err(PyErr::new(
                "AssertionError",
                format!("{} unrecognized", py_repr(&method)),
            ));
        }
        if method != "create" && !kwds.is_empty() {
            return Err(unexpected_keywords(&method, &kwds));
        }
        match method.as_str() {
            "dummy" => exact_args(&method, &args, 0).map(|()| Some(Value::None)),
            "create" => self.create(args, &kwds).map(Some),
            "incref" | "decref" => {
                exact_args(&method, &args, 1)?;
                let ident = ident_of(args.into_iter().next().unwrap_or(Value::None))?;
                if method == "incref" {
                    objects.incref(&ident)?;
                } else {
                    objects.decref(&ident)?;
                }
                Ok(Some(Value::None))
            }
            "accept_connection" => exact_args(&method, &args, 1).map(|()| None),
            "get_methods" => {
                exact_args(&method, &args, 1)?;
                let token = args.into_iter().next().unwrap_or(Value::None);
                let Some((_, _, id)) = token.as_token() else {
                    return Err(PyErr::new(
                        "AttributeError",
                        format!("'{}' object has no attribute 'id'", token.python_type()),
                    ));
                };
                let referent = objects.get(id).ok_or_else(|| PyErr::key_error(id.into()))?;
                Ok(Some(exposed_tuple(&referent)))
            }
            "number_of_objects" => {
                exact_args(&method, &args, 0)?;
                Ok(Some(Value::from(objects.len())))
            }
            "debug_info" => {
                exact_args(&method, &args, 0)?;
                // A table too large to list in one frame is refused before
                // the whole text is built.
                match objects.debug_info(self.host.max_frame) {
                    Some(text) => Ok(Some(Value::Str(text))),
                    None => Err(PyErr::value_error(
                        "stdrpc: the debug_info text would exceed the server's maximum frame",
                    )),
                }
            }
            "shutdown" if self.host.allow_shutdown => exact_args(&method, &args, 0).map(|()| None),
            _ => Err(PyErr::new(
                "PermissionError",
                "this stdrpc server does not let Python clients shut it down \
                 (the server can allow it with Config::allow_python_shutdown)",
            )),
        }
    }

    /// `create(typeid, *args)`: runs the handler named `typeid` and keeps
    /// its result, or makes an object of the object type `typeid` (handlers
    /// named `typeid.method`).
    fn create(&self, args: Vec<Value>, kwds: &[(Value, Value)]) -> Result<Value, PyErr> {
        let mut args = args.into_iter();
        let typeid = match args.next() {
            Some(Value::Str(t)) => t,
            Some(other) => return Err(PyErr::key_error(other)),
            None => {
                return Err(PyErr::type_error(
                    "create() missing 1 required positional argument: 'typeid'",
                ));
            }
        };
        if !kwds.is_empty() {
            return Err(unexpected_keywords(&typeid, kwds));
        }
        let args: Vec<Value> = args.collect();
        let n_args = args.len();
        let host = self.host;
        if typeid == METHODS {
            exact_args(METHODS, &args, 0)?;
            let referent = Referent::Value(shaped::signatures(host.registry));
            let exposed = exposed_tuple(&referent);
            let ident = host.objects.insert(referent)?;
            return Ok(Value::Tuple(vec![Value::Str(ident), exposed]));
        }
        let referent = match shaped::call(host.registry, host.context, &typeid, &typeid, &args) {
            Ok(value) => Referent::Value(value),
            Err(CallError::NoSuchMethod) => {
                let Some(methods) = host.objects.object_type(host.registry, &typeid) else {
                    return Err(PyErr::new(
                        "KeyError",
                        format!(
                            "{} is not registered on this stdrpc server \
                             (no handler of that name, no methods of that name followed by '.')",
                            quote(&typeid)
                        ),
                    ));
                };
                if n_args > 0 {
                    return Err(PyErr::type_error(format!(
                        "{typeid}() takes no arguments ({n_args} given): \
                         it is an object type of the stdrpc server"
                    )));
                }
                Referent::Object { typeid, methods }
            }
            // The text names the typeid already.
            Err(CallError::Arguments(e)) => return Err(e),
            Err(CallError::Failed(e)) => {
                let message = clip(e.line_text(), MESSAGE_CHARS);
                return Err(PyErr::new(
                    e.class,
                    format!("{}(): {message}", clip_str(&typeid, QUOTE_CHARS)),
                ));
            }
        };
        let exposed = exposed_tuple(&referent);
        let ident = host.objects.insert(referent)?;
        Ok(Value::Tuple(vec![Value::Str(ident), exposed]))
    }

    /// A proxy's method call on a referent (`serve_client`).
    fn method_call(&self, request: Request) -> Reply {
        let Request {
            ident,
            method,
            args,
            kwds,
        } = request;
        let referent = match &ident {
            Value::Str(id) => self.host.objects.get(id),
            _ => None,
        };
        let Some(referent) = referent else {
            return Reply::traceback(&PyErr::key_error(ident), &method);
        };
        if referent.exposed().contains(&method.as_str()) {
            return match &*referent {
                Referent::Value(v) => match methods::call(v, &method, args, kwds) {
                    Ok(result) => Reply::ok(result),
                    Err(e) => Reply::error(&e),
                },
                Referent::Object { typeid, .. } => self.object_call(typeid, &method, args, &kwds),
            };
        }
        match (method.as_str(), &*referent) {
            // Formatted only up to the frame limit: a larger text could not
            // be sent anyway.
            ("__repr__", r) => match r.repr_capped(self.host.max_frame) {
                Some(text) => Reply::ok(Value::Str(text)),
                None => Reply::too_large(self.host.max_frame),
            },
            ("__str__", r) => match r.str_capped(self.host.max_frame) {
                Some(text) => Reply::ok(Value::Str(text)),
                None => Reply::too_large(self.host.max_frame),
            },
            ("#GETVALUE", Referent::Value(_)) => Reply {
                kind: "#RETURN",
                value: Payload::Referent(Arc::clone(&referent)),
            },
            ("#GETVALUE", Referent::Object { typeid, .. }) => Reply::unserializable(&format!(
                "TypeError: the {} object lives in the stdrpc server and has no value to copy",
                py_repr(typeid)
            )),
            (_, r) => {
                let type_name = match r {
                    Referent::Value(v) => v.python_type().to_owned(),
                    Referent::Object { typeid, .. } => format!("stdrpc.{typeid}"),
                };
                let exposed: Vec<Value> = r.exposed().into_iter().map(Value::from).collect();
                let e = PyErr::new(
                    "AttributeError",
                    format!(
                        "method {} of <class '{type_name}'> object is not in exposed={}",
                        py_repr(&method),
                        Value::Tuple(exposed)
                    ),
                );
                Reply::traceback(&e, &method)
            }
        }
    }

    /// The fast path: a method of an object type runs the handler
    /// `typeid.method`.
    fn object_call(
        &self,
        typeid: &str,
        method: &str,
        args: Vec<Value>,
        kwds: &[(Value, Value)],
    ) -> Reply {
        let name = format!("{typeid}.{method}");
        if !kwds.is_empty() {
            return Reply::traceback(&unexpected_keywords(&name, kwds), &name);
        }
        match shaped::call(self.host.registry, self.host.context, &name, method, &args) {
            Ok(value) => Reply::ok(value),
            // Raised by the proxy as is, as a Python method's TypeError is.
            Err(CallError::Arguments(e)) => Reply::error(&e),
            Err(CallError::Failed(e)) => Reply::traceback(&e, &name),
            Err(CallError::NoSuchMethod) => Reply::traceback(
                &PyErr::new("KeyError", format!("no method named {}", quote(&name))),
                &name,
            ),
        }
    }
}

impl Reply {
    /// `#UNSERIALIZABLE`: the result is larger than a frame.
    fn too_large(max: usize) -> Reply {
        Reply::unserializable(&too_large_line(max))
    }
}

fn too_large_line(max: usize) -> String {
    format!("ValueError: the reply exceeds the server's maximum frame of {max} bytes")
}

/// The pickle of the short reply that replaces one larger than `max`.
fn too_large(max: usize) -> Vec<u8> {
    let Reply { kind, value } = Reply::too_large(max);
    to_pickle(
        &Value::Tuple(vec![kind.into(), value.value().clone()]),
        PROTOCOL,
    )
}

/// The exposed methods as the tuple of names `create` and `get_methods`
/// return.
fn exposed_tuple(referent: &Referent) -> Value {
    Value::Tuple(referent.exposed().into_iter().map(Value::from).collect())
}

fn exact_args(method: &str, args: &[Value], n: usize) -> Result<(), PyErr> {
    if args.len() == n {
        return Ok(());
    }
    Err(PyErr::type_error(format!(
        "{method}() takes {n} positional argument{} but {} {} given",
        if n == 1 { "" } else { "s" },
        args.len(),
        if args.len() == 1 { "was" } else { "were" }
    )))
}

fn ident_of(v: Value) -> Result<String, PyErr> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(PyErr::key_error(other)),
    }
}

/// How many keyword names an error quotes.
const QUOTED_KEYWORDS: usize = 3;

fn unexpected_keywords(name: &str, kwds: &[(Value, Value)]) -> PyErr {
    let mut names: Vec<String> = kwds
        .iter()
        .take(QUOTED_KEYWORDS)
        .map(|(k, _)| match k {
            Value::Str(s) => quote(s),
            other => repr_prefix(other, QUOTE_CHARS),
        })
        .collect();
    if kwds.len() > QUOTED_KEYWORDS {
        names.push(format!("and {} more", kwds.len() - QUOTED_KEYWORDS));
    }
    PyErr::type_error(format!(
        "{}() got keyword arguments {}: stdrpc handlers take positional arguments only",
        clip(name.to_owned(), QUOTE_CHARS),
        names.join(", ")
    ))
}

/// Python's `repr()` of a string, cut to [`QUOTE_CHARS`] characters: names
/// in error texts may come from the client.
pub(crate) fn py_repr(s: &str) -> String {
    quote(s)
}
