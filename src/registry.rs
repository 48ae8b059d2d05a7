//! Method names mapped to handlers. No I/O happens here.
//!
//! A handler is any closure of up to six arguments whose types implement
//! [`Decode`] and whose result implements [`Reply`]. The closure's arguments
//! travel as one value: nothing for zero arguments, the value itself for one,
//! a tuple for several (so `|a: String, b: i64|` and `|(a, b): (String, i64)|`
//! are called the same way, with `("a".to_string(), 1i64)`). This is how
//! Python's positional arguments map onto a handler.

use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt::Display;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::codec::shape::SigInfo;
use crate::codec::{Decode, Decoder, Encode, Shape, Signature};
use crate::context::Context;

mod arity;
pub(crate) use crate::envelope::Check;
use crate::error::{Error, RemoteKind};

/// The prefix of the library's own method names (`stdrpc.methods`); user
/// handlers cannot be registered under it.
pub(crate) const RESERVED_PREFIX: &str = "stdrpc.";

/// The reserved method that lists the registered methods with their
/// signatures: no arguments, a `Vec<(String, String)>` of (name, signature
/// text) sorted by name.
pub(crate) const METHODS: &str = "stdrpc.methods";

/// Why a handler produced no result: the kind and message sent to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) kind: RemoteKind,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(kind: RemoteKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

/// The type-erased form of every handler: decode `args`, run, append the
/// encoded result to `out`, except for trailing bytes the result owns (a
/// returned `Vec<u8>`'s bytes, a raw handler's whole result), which are
/// left in the third buffer instead of copied: the encoding is `out`
/// followed by them.
///
/// The arguments arrive as bytes of the std codec, from every caller: the
/// Python layer converts a Python call's arguments to these bytes first,
/// guided by the handler's [`Signature`].
pub(crate) type ErasedFn =
    dyn Fn(&Context, Args<'_>, &mut Vec<u8>, &mut Vec<u8>) -> Result<(), Failure> + Send + Sync;

/// A call's arguments as its handler receives them.
#[derive(Debug)]
pub(crate) enum Args<'a> {
    /// Their encoding, where it lies.
    Bytes(&'a [u8]),
    /// One byte string's bytes (their length checked against the frame and
    /// dropped), in a buffer of their own: a large call read split
    /// (`envelope::call_bulk`). A handler taking one `Vec<u8>` (or
    /// `String`) takes the buffer as it is; any other is given the
    /// encoding, rebuilt.
    ByteString(Vec<u8>),
}

/// The encoding of a byte string's bytes, for a handler that does not take
/// them as they are ([`Args::ByteString`]): the one copy of them.
#[cold]
#[inline(never)]
fn byte_string_encoding(bytes: &[u8]) -> Vec<u8> {
    let mut encoded = Vec::with_capacity(bytes.len() + 9);
    bytes.encode(&mut encoded);
    encoded
}

/// A handler with its types erased, ready for the method table: its entry
/// point over std-codec bytes and its signature. Opaque: made only by
/// [`Handler`] implementations.
#[doc(hidden)]
#[derive(Clone)]
pub struct Erased {
    bytes: Arc<ErasedFn>,
    /// The handler's signature, fingerprints and text, computed once here.
    sig: Arc<SigInfo>,
    /// The parameters' names, when known (`service!` methods), one per
    /// argument.
    params: Option<&'static [&'static str]>,
}

impl Erased {
    /// The same handler, with its parameters' names (ignored unless there is
    /// one per argument).
    pub(crate) fn with_params(mut self, params: &'static [&'static str]) -> Erased {
        self.params = Some(params);
        self
    }
}

impl std::fmt::Debug for Erased {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Erased")
    }
}

/// A handler's return value: a plain value (sent to the caller as is), or a
/// `Result` whose `Err` reaches the caller as a handler error carrying its
/// `Display` text.
///
/// Implemented for every type the codec encodes, and for
/// `Result<T, E: Display>` of those. For a type of your own that implements
/// [`Encode`], add the one-line implementation with [`plain_reply!`](crate::plain_reply).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler's result",
    label = "a handler must return a value stdrpc can send",
    note = "a handler returns a type that implements `stdrpc::Encode` (for your own `Encode` types, add `stdrpc::plain_reply!(Type)`), or `Result<T, E>` with `T: Encode` and `E: Display`"
)]
pub trait Reply {
    /// The value sent on success.
    type Value: Encode;
    /// Splits the handler's return into the value or the error text.
    ///
    /// # Errors
    /// The handler failed; the string is its message.
    fn into_reply(self) -> Result<Self::Value, String>;
}

impl<T: Encode, E: Display> Reply for Result<T, E> {
    type Value = T;
    fn into_reply(self) -> Result<T, String> {
        self.map_err(|e| bounded_display(&e))
    }
}

/// Implements [`Reply`] for types of your own that implement
/// [`Encode`](crate::Encode), so handlers can return them directly.
///
/// ```
/// struct Point(i32, i32);
/// impl stdrpc::Encode for Point {
///     fn encode(&self, out: &mut Vec<u8>) {
///         self.0.encode(out);
///         self.1.encode(out);
///     }
/// }
/// stdrpc::plain_reply!(Point);
/// let mut server = stdrpc::Server::new(b"key");
/// server.register("origin", || Point(0, 0));
/// ```
#[macro_export]
macro_rules! plain_reply {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::Reply for $t {
            type Value = Self;
            fn into_reply(self) -> ::std::result::Result<Self, ::std::string::String> {
                ::std::result::Result::Ok(self)
            }
        }
    )*};
}

macro_rules! plain_reply_generic {
    ($( [$($g:ident $(: $b:path)?),*] $t:ty ),* $(,)?) => {$(
        impl<$($g: Encode $(+ $b)?),*> Reply for $t {
            type Value = Self;
            fn into_reply(self) -> Result<Self, String> {
                Ok(self)
            }
        }
    )*};
}

plain_reply!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    &'static str,
);

plain_reply_generic!(
    [T] Vec<T>,
    [T] Option<T>,
    [T] Box<T>,
    [T] VecDeque<T>,
    [K: Ord, V] BTreeMap<K, V>,
    [T: Ord] BTreeSet<T>,
    [K: Eq, V] HashMap<K, V>,
    [T: Eq] HashSet<T>,
);

impl<T: Encode, const N: usize> Reply for [T; N] {
    type Value = Self;
    fn into_reply(self) -> Result<Self, String> {
        Ok(self)
    }
}

macro_rules! plain_reply_tuples {
    ($(($($t:ident),+))*) => {$(
        impl<$($t: Encode),+> Reply for ($($t,)+) {
            type Value = Self;
            fn into_reply(self) -> Result<Self, String> {
                Ok(self)
            }
        }
    )*};
}

plain_reply_tuples!((A)(A, B)(A, B, C)(A, B, C, D)(A, B, C, D, E)(
    A, B, C, D, E, F
)(A, B, C, D, E, F, G)(A, B, C, D, E, F, G, H)(
    A, B, C, D, E, F, G, H, I
)(A, B, C, D, E, F, G, H, I, J)(
    A, B, C, D, E, F, G, H, I, J, K
)(A, B, C, D, E, F, G, H, I, J, K, L));

/// A closure that can serve a method: `Fn(A, B, ...) -> R` for up to six
/// arguments. `Args` is a marker that keeps the arities apart; you never name it.
///
/// Each argument is an owned type implementing [`Decode`], the result a type
/// implementing [`Encode`] or a `Result<T: Encode, E: Display>`; the
/// arguments' and result's shapes become the method's signature, which typed
/// calls are checked against. The compiler explains, with one list of the
/// causes, a closure that is not a handler:
///
/// ```compile_fail
/// # let mut server = stdrpc::Server::new(b"k");
/// server.register("len", |s: &str| s.len() as u64); // borrowed: use `String`
/// ```
///
/// ```compile_fail
/// # let mut server = stdrpc::Server::new(b"k");
/// server.register("seven", |a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8| a); // at most six
/// ```
///
/// ```compile_fail
/// # let mut server = stdrpc::Server::new(b"k");
/// struct Point(i32, i32);
/// server.register("origin", || Point(0, 0)); // the result is not `Encode`
/// ```
///
/// ```compile_fail
/// # let mut server = stdrpc::Server::new(b"k");
/// struct NotDisplay;
/// server.register("fails", || Err::<u8, _>(NotDisplay)); // the error is not `Display`
/// ```
///
/// ```
/// # let mut server = stdrpc::Server::new(b"k");
/// server.register("len", |s: String| s.len() as u64); // fine
/// ```
#[diagnostic::on_unimplemented(
    message = "this closure cannot be registered as an stdrpc handler",
    label = "not a handler",
    note = "a handler is `Fn(A, B, ...) -> R + Send + Sync + 'static` with at most six arguments",
    note = "each argument must be an owned type implementing `stdrpc::Decode` (`String`, not `&str`; `Vec<T>`, not `&[T]`)",
    note = "the result must implement `stdrpc::Encode`, or be `Result<T, E>` with `T: Encode` and `E: Display`",
    note = "write the argument types out (`|a: i64, b: String|`): they decide how the arguments are decoded"
)]
pub trait Handler<Args>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_erased(self) -> Erased;
}

/// Decodes argument number `position` (from 1) of a handler of `count`
/// arguments; a failure names the position and the type: `argument 2 (i64):
/// unexpected end of input`. The method's name is added by
/// [`Registry::dispatch`]. A lone tuple argument (a `service!` method's
/// arguments arrive as one) is named as the arguments: `arguments (String,
/// i64): ...`.
fn decode_arg<A: Decode>(d: &mut Decoder<'_>, position: usize, count: usize) -> Result<A, Failure> {
    A::decode(d).map_err(|e| arg_failure::<A>(&e, position, count))
}

/// Why argument number `position` of `count`, an `A`, did not decode.
fn arg_failure<A: Decode>(e: &Error, position: usize, count: usize) -> Failure {
    let shape = <A as Decode>::shape();
    let what = match &shape {
        Shape::Tuple(_) if count == 1 => format!("arguments {shape}"),
        _ => format!("argument {position} ({shape})"),
    };
    Failure::new(
        RemoteKind::BadArguments,
        format!("{what}: {}", decode_text(e)),
    )
}

/// Checks that every argument byte was used.
fn finish_args(d: Decoder<'_>, count: usize) -> Result<(), Failure> {
    let extra = d.remaining();
    if extra == 0 {
        return Ok(());
    }
    let what = match count {
        0 => "the method takes no arguments".to_string(),
        1 => "after its one argument".to_string(),
        n => format!("after its {n} arguments"),
    };
    let bytes = if extra == 1 { "byte" } else { "bytes" };
    Err(Failure::new(
        RemoteKind::BadArguments,
        format!("{extra} trailing {bytes} ({what})"),
    ))
}

/// A decode error's own text, without the "decode error: " prefix.
fn decode_text(e: &Error) -> String {
    match e {
        Error::Decode(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

/// The shape of a handler's arguments: `()`, the one argument's, or the
/// tuple of them.
fn args_shape(shapes: Vec<Shape>) -> Shape {
    Shape::tuple(shapes)
}

fn signature<R: Reply>(args: Vec<Shape>) -> Arc<SigInfo> {
    Arc::new(SigInfo::new(Signature::new(
        args_shape(args),
        <R::Value as Encode>::shape(),
    )))
}

fn finish<R: Reply>(result: R, out: &mut Vec<u8>, tail: &mut Vec<u8>) -> Result<(), Failure> {
    match result.into_reply() {
        Ok(value) => {
            *tail = value.encode_owned_split(out);
            Ok(())
        }
        Err(message) => Err(Failure::new(RemoteKind::Handler, message)),
    }
}

/// A handler over raw bytes: it receives the argument bytes exactly as the
/// caller encoded them and returns the result bytes.
pub(crate) fn raw<F, E>(f: F) -> Erased
where
    F: Fn(&[u8]) -> Result<Vec<u8>, E> + Send + Sync + 'static,
    E: Display,
{
    Erased {
        bytes: Arc::new(
            move |_: &Context, args: Args<'_>, _: &mut Vec<u8>, tail: &mut Vec<u8>| {
                let result = match args {
                    Args::Bytes(args) => f(args),
                    Args::ByteString(bytes) => f(&byte_string_encoding(&bytes)),
                };
                match result {
                    Ok(bytes) => {
                        *tail = bytes;
                        Ok(())
                    }
                    Err(e) => Err(Failure::new(RemoteKind::Handler, bounded_display(&e))),
                }
            },
        ),
        sig: Arc::new(SigInfo::new(Signature::new(
            Shape::Opaque("raw bytes"),
            Shape::Opaque("raw bytes"),
        ))),
        params: None,
    }
}

/// The method table. Built before a server starts, read-only while it runs.
///
/// Names are looked up by their bytes ([`Registry::callee`]): a name read
/// off the wire that a handler has is valid UTF-8 without being checked;
/// only a name no handler has is checked, to be quoted in the error.
#[derive(Default, Clone)]
pub(crate) struct Registry {
    methods: Vec<(Box<str>, Erased)>,
    index: HashMap<Box<[u8]>, MethodId, BuildHasherDefault<Fnv>>,
}

/// A registered method, by its place in the table (from 1, so that an
/// `Option<MethodId>` takes four bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MethodId(std::num::NonZeroU32);

impl MethodId {
    fn at(self) -> usize {
        self.0.get() as usize - 1
    }
}

/// The method a request names: one the table has, or a name it does not
/// (the library's own methods, or none at all).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Callee<'a> {
    Found(MethodId),
    Named(&'a str),
}

/// FNV-1a: a method name is hashed on every request, and SipHash's
/// protection against chosen collisions buys nothing here. The table is
/// filled only by the server's own `register` calls, so a peer can choose
/// what it looks up but never what collides inside the table.
#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// A slice's length, hashed before its bytes: one step, not eight.
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(0x0100_0000_01b3);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("methods", &self.names())
            .finish()
    }
}

impl Registry {
    /// Adds or replaces a method; returns whether a handler was replaced.
    ///
    /// # Panics
    /// If `name` starts with the reserved prefix `stdrpc.`: those names
    /// belong to the library's own methods.
    pub(crate) fn insert(&mut self, name: &str, handler: Erased) -> bool {
        assert!(
            !name.starts_with(RESERVED_PREFIX),
            "cannot register {name:?}: method names starting with {RESERVED_PREFIX:?} are reserved for stdrpc's own methods"
        );
        if let Some(&id) = self.index.get(name.as_bytes()) {
            self.methods[id.at()].1 = handler;
            return true;
        }
        let id = u32::try_from(self.methods.len() + 1)
            .ok()
            .and_then(std::num::NonZeroU32::new)
            .map(MethodId)
            .expect("fewer than 2^32 methods");
        self.methods.push((name.into(), handler));
        self.index.insert(name.as_bytes().into(), id);
        false
    }

    /// The method a request names by `name`'s bytes; `None` if no handler
    /// has it and it is not UTF-8 (a malformed message).
    #[inline]
    pub(crate) fn callee<'a>(&self, name: &'a [u8]) -> Option<Callee<'a>> {
        match self.index.get(name) {
            Some(&id) => Some(Callee::Found(id)),
            None => std::str::from_utf8(name).ok().map(Callee::Named),
        }
    }

    /// [`callee`](Registry::callee), trying `last` first (a connection's
    /// previous method: requests tend to repeat one) and keeping the method
    /// found there.
    #[inline]
    pub(crate) fn callee_after<'a>(
        &self,
        name: &'a [u8],
        last: &mut Option<MethodId>,
    ) -> Option<Callee<'a>> {
        if let Some(id) = *last {
            if self.methods[id.at()].0.as_bytes() == name {
                return Some(Callee::Found(id));
            }
        }
        let callee = self.callee(name)?;
        if let Callee::Found(id) = callee {
            *last = Some(id);
        }
        Some(callee)
    }

    /// The name a request called a method by.
    pub(crate) fn name<'a>(&'a self, callee: Callee<'a>) -> &'a str {
        match callee {
            Callee::Found(id) => &self.methods[id.at()].0,
            Callee::Named(name) => name,
        }
    }

    /// A registered method's name and handler.
    fn entry(&self, name: &str) -> Option<&(Box<str>, Erased)> {
        let id = *self.index.get(name.as_bytes())?;
        Some(&self.methods[id.at()])
    }

    fn get(&self, name: &str) -> Option<&Erased> {
        self.entry(name).map(|(_, handler)| handler)
    }

    /// The signature of a registered method: its argument and result
    /// shapes. Raw-bytes handlers have opaque shapes.
    pub(crate) fn signature(&self, name: &str) -> Option<&Signature> {
        self.get(name).map(|h| &h.sig.signature)
    }

    /// The names of a registered method's parameters, when they are known
    /// (`service!` methods): one per argument.
    pub(crate) fn params(&self, name: &str) -> Option<&'static [&'static str]> {
        self.get(name).and_then(|h| h.params)
    }

    /// Every registered method with its signature text, sorted by name: the
    /// answer of the reserved method `stdrpc.methods`.
    pub(crate) fn methods(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = self
            .methods
            .iter()
            .map(|(name, h)| (name.to_string(), h.sig.text.to_string()))
            .collect();
        all.sort_unstable();
        all
    }

    /// Runs a method, catching a panic and turning every failure into the
    /// kind and message the caller will see.
    ///
    /// A typed call's fingerprints are compared with the handler's first:
    /// where both sides know a shape (non-zero) and they differ, the handler
    /// does not run and the failure is a [`RemoteKind::SignatureMismatch`]
    /// whose message is `<method> expects <handler's signature>`.
    pub(crate) fn dispatch(
        &self,
        name: Callee<'_>,
        check: Check,
        args: &[u8],
        out: &mut Vec<u8>,
        ctx: &Context,
    ) -> Result<(), Failure> {
        let mut tail = Vec::new();
        self.dispatch_split(name, check, Args::Bytes(args), out, &mut tail, ctx)?;
        out.extend_from_slice(&tail);
        Ok(())
    }

    /// [`dispatch`](Registry::dispatch), leaving trailing bytes the result
    /// owns in `tail` (cleared first) instead of copying them into `out`
    /// ([`ErasedFn`]): the result's encoding is `out` (from where it was)
    /// followed by `tail`.
    pub(crate) fn dispatch_split(
        &self,
        callee: Callee<'_>,
        check: Check,
        args: Args<'_>,
        out: &mut Vec<u8>,
        tail: &mut Vec<u8>,
        ctx: &Context,
    ) -> Result<(), Failure> {
        tail.clear();
        let found = match callee {
            Callee::Found(id) => Some(&self.methods[id.at()]),
            Callee::Named(name) => self.entry(name),
        };
        let Some((name, entry)) = found else {
            let name = self.name(callee);
            return match args {
                Args::Bytes(args) => self.builtin(name, args, out),
                Args::ByteString(bytes) => self.builtin(name, &byte_string_encoding(&bytes), out),
            };
        };
        let sig = &*entry.sig;
        if differ(check.args, sig.args_fp) || differ(check.result, sig.result_fp) {
            return Err(Failure::new(
                RemoteKind::SignatureMismatch,
                format!("{name} expects {}", sig.text),
            ));
        }
        let mark = out.len();
        let result = catch(name, || (entry.bytes)(ctx, args, out, tail));
        if let Err(failure) = &result {
            out.truncate(mark);
            tail.clear();
            if failure.kind == RemoteKind::BadArguments {
                return Err(Failure::new(
                    RemoteKind::BadArguments,
                    format!("{name}: {}", failure.message),
                ));
            }
        }
        result
    }

    /// The library's own methods (under [`RESERVED_PREFIX`]); any other
    /// unknown name is [`RemoteKind::NoSuchMethod`].
    fn builtin(&self, name: &str, args: &[u8], out: &mut Vec<u8>) -> Result<(), Failure> {
        if name == METHODS {
            finish_args(Decoder::new(args), 0)
                .map_err(|f| Failure::new(f.kind, format!("{name}: {}", f.message)))?;
            self.methods().encode(out);
            return Ok(());
        }
        Err(no_such_method(name))
    }

    /// The registered method names, sorted.
    pub(crate) fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.methods.iter().map(|(name, _)| &**name).collect();
        names.sort_unstable();
        names
    }
}

/// Whether two fingerprints are both known and differ.
fn differ(caller: u32, handler: u32) -> bool {
    caller != 0 && handler != 0 && caller != handler
}

fn no_such_method(name: &str) -> Failure {
    Failure::new(
        RemoteKind::NoSuchMethod,
        format!("no method named {name:?}"),
    )
}

/// Runs `f`, turning a panic into a [`RemoteKind::Panicked`] failure.
fn catch<T>(name: &str, f: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(Failure::new(
            RemoteKind::Panicked,
            format!(
                "handler for {:?} panicked: {}",
                truncate(name, 256),
                bounded(panic_message(&*payload))
            ),
        )),
    }
}

/// The most bytes of a handler's error or panic text that are kept: longer
/// texts are cut at a character boundary and marked with their full length,
/// so a handler failing with a 100 MB message costs 4 KiB, not a copy of it.
pub(crate) const MAX_MESSAGE: usize = 4096;

/// `text` cut to [`MAX_MESSAGE`] bytes at a character boundary, with a note
/// of its full length when cut.
pub(crate) fn bounded(text: &str) -> String {
    if text.len() <= MAX_MESSAGE {
        return text.to_owned();
    }
    format!("{}… ({} bytes)", truncate(text, MAX_MESSAGE), text.len())
}

/// The longest prefix of `text` of at most `max` bytes ending on a
/// character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A value's `Display` text, kept to [`MAX_MESSAGE`] bytes as [`bounded`]
/// does, without ever holding more than that of it.
pub(crate) fn bounded_display(value: &dyn Display) -> String {
    struct Capped {
        kept: String,
        total: usize,
    }
    impl std::fmt::Write for Capped {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.total = self.total.saturating_add(s.len());
            let room = MAX_MESSAGE.saturating_sub(self.kept.len());
            if room > 0 {
                let mut end = room.min(s.len());
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                self.kept.push_str(&s[..end]);
            }
            Ok(())
        }
    }
    let mut out = Capped {
        kept: String::new(),
        total: 0,
    };
    // A `Display` that fails leaves what it wrote so far; that is still text.
    let _ = std::fmt::write(&mut out, format_args!("{value}"));
    if out.total > out.kept.len() {
        let total = out.total;
        let _ = std::fmt::Write::write_fmt(&mut out.kept, format_args!("… ({total} bytes)"));
    }
    out.kept
}

/// The text of a panic payload, when it has one.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// The registry the unit tests here and in the Python layer share: a
/// handler of each arity, a tuple argument, a fallible, a panicking and a
/// raw handler.
#[cfg(test)]
pub(crate) fn test_registry() -> Registry {
    let mut r = Registry::default();
    r.insert("zero", Handler::into_erased(|| 42i64));
    r.insert("one", Handler::into_erased(|s: String| s.len() as u32));
    r.insert("two", Handler::into_erased(|a: i64, b: i64| a + b));
    r.insert("tuple", Handler::into_erased(|(a, b): (i64, i64)| a * b));
    r.insert(
        "fail",
        Handler::into_erased(|x: i64| if x > 0 { Ok(x) } else { Err("not positive") }),
    );
    r.insert("panic", Handler::into_erased(|| -> () { panic!("boom") }));
    r.insert(
        "raw",
        raw(|b: &[u8]| Ok::<_, String>(b.iter().rev().copied().collect())),
    );
    r
}

#[cfg(test)]
mod tests;
