//! The client: one authenticated connection shared by any number of threads,
//! with replies matched to calls by request id.

mod replies;
mod signatures;

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::address::{Address, ToAddress};
use crate::auth;
use crate::codec::shape::SigInfo;
use crate::codec::{self, Decode, Encode};
use crate::config::Config;
use crate::envelope::{self, Check};
use crate::error::{Error, RemoteKind, Result};
use crate::outbox::Outbox;
use crate::stream::{Deadline, Stream};
use crate::sync::lock;
use crate::transport::Transport;

use replies::{Replies, ReplyBytes, Slot};

/// A connection to a server, shared by every clone and every thread.
///
/// Calls from many threads travel on the one connection and their replies
/// are matched by request id, in whatever order the server finishes them.
/// Dropping the last clone sends whatever is queued, then closes the
/// connection; [`close`](Client::close) does the same and waits for the
/// server to finish.
///
/// ```
/// let mut server = stdrpc::Server::new(b"key");
/// server.register("add", |a: i64, b: i64| a + b);
/// let running = server.bind("127.0.0.1:0")?.spawn()?;
///
/// let client = stdrpc::Client::connect(running.local_addr(), b"key")?;
/// let sum: i64 = client.call("add", (2i64, 3i64))?;
/// assert_eq!(sum, 5);
///
/// // Pipelining from one thread: start many calls, then collect them.
/// let pending: Vec<_> = (0..100i64).map(|i| client.start::<_, i64>("add", (i, i))).collect();
/// for (i, p) in pending.into_iter().enumerate() {
///     assert_eq!(p?.wait()?, 2 * i as i64);
/// }
/// running.shutdown()?;
/// # Ok::<(), stdrpc::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    link: Arc<Link>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peer = match &*self.link {
            Link::Fixed(inner) => inner.peer.clone(),
            Link::Reconnecting { current, .. } => lock(current).peer.clone(),
        };
        f.debug_struct("Client")
            .field("peer", &peer)
            .finish_non_exhaustive()
    }
}

/// The connection behind a client: fixed for its lifetime, or replaced by a
/// new one when it drops (with [`Config::reconnect`]).
enum Link {
    Fixed(Arc<Inner>),
    Reconnecting {
        current: Mutex<Arc<Inner>>,
        addrs: Vec<Address>,
        authkey: Vec<u8>,
        config: Box<Config>,
        budget: Duration,
    },
}

/// The connection a call uses: borrowed from a fixed link, or a counted
/// reference to a reconnecting link's current one.
enum InnerRef<'a> {
    Borrowed(&'a Inner),
    Counted(Arc<Inner>),
}

impl std::ops::Deref for InnerRef<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        match self {
            InnerRef::Borrowed(inner) => inner,
            InnerRef::Counted(inner) => inner,
        }
    }
}

struct Inner {
    outbox: Outbox,
    replies: Arc<Replies>,
    max_frame: usize,
    peer: String,
}

impl Client {
    /// Connects to a server and authenticates with `authkey`, with default
    /// limits.
    ///
    /// # Errors
    /// The connection cannot be opened ([`Error::Io`]), the keys differ
    /// ([`Error::Auth`]), or the handshake deadline passes ([`Error::Timeout`]).
    pub fn connect(addr: impl ToAddress, authkey: &[u8]) -> Result<Client> {
        Client::connect_with(addr, authkey, Config::default())
    }

    /// Connects with the given limits.
    ///
    /// # Errors
    /// As [`connect`](Client::connect).
    pub fn connect_with(addr: impl ToAddress, authkey: &[u8], config: Config) -> Result<Client> {
        let addrs = addr.to_addresses()?;
        let inner = Arc::new(Inner::connect(&addrs, authkey, &config)?);
        let link = match config.reconnect {
            None => Link::Fixed(inner),
            Some(budget) => Link::Reconnecting {
                current: Mutex::new(inner),
                addrs,
                authkey: authkey.to_vec(),
                config: Box::new(config),
                budget,
            },
        };
        Ok(Client {
            link: Arc::new(link),
        })
    }

    /// Runs a connection over `transport` (a worker's pipes, a TLS stream,
    /// an in-memory [`pair`](crate::transport::pair)) and authenticates
    /// with `authkey`, with default limits.
    ///
    /// The client does not reconnect: a transport cannot be opened again.
    /// What the transport cannot do is lost (see
    /// [`Transport`](crate::Transport)): without read timeouts neither the
    /// handshake deadline nor [`call_timeout`](Client::call_timeout) holds.
    ///
    /// # Errors
    /// The keys differ ([`Error::Auth`]), the handshake deadline passes
    /// ([`Error::Timeout`]), or the transport fails ([`Error::Io`]).
    pub fn over(transport: Transport, authkey: &[u8]) -> Result<Client> {
        Client::over_with(transport, authkey, Config::default())
    }

    /// Runs a connection over `transport` with the given limits
    /// ([`Config::reconnect`] does not apply).
    ///
    /// # Errors
    /// As [`over`](Client::over).
    pub fn over_with(transport: Transport, authkey: &[u8], config: Config) -> Result<Client> {
        let inner = Inner::over(transport.0, authkey, &config)?;
        Ok(Client {
            link: Arc::new(Link::Fixed(Arc::new(inner))),
        })
    }

    /// The connection to use now. A reconnecting client whose connection
    /// has dropped opens a new one first, retrying with exponential backoff
    /// (10 ms doubling to 1 s) for at most the configured budget.
    fn inner(&self) -> Result<InnerRef<'_>> {
        match &*self.link {
            Link::Fixed(inner) => Ok(InnerRef::Borrowed(inner)),
            Link::Reconnecting {
                current,
                addrs,
                authkey,
                config,
                budget,
            } => {
                let mut cur = lock(current);
                if cur.replies.is_closed() {
                    let give_up = Instant::now() + *budget;
                    let mut pause = Duration::from_millis(10);
                    *cur = loop {
                        match Inner::connect(addrs, authkey, config) {
                            Ok(inner) => break Arc::new(inner),
                            // A key the server refuses will not change by retrying.
                            Err(e @ (Error::Auth(_) | Error::UnsupportedDigest(_))) => {
                                return Err(e);
                            }
                            Err(e) if Instant::now() + pause > give_up => return Err(e),
                            Err(_) => {
                                std::thread::sleep(pause);
                                pause = (pause * 2).min(Duration::from_secs(1));
                            }
                        }
                    };
                }
                Ok(InnerRef::Counted(Arc::clone(&cur)))
            }
        }
    }
}

impl Inner {
    /// Opens and authenticates one connection.
    fn connect(addrs: &[Address], authkey: &[u8], config: &Config) -> Result<Inner> {
        let stream = Stream::connect(addrs, config.connect_timeout)?;
        Inner::over(stream, authkey, config)
    }

    /// Authenticates over an open stream.
    fn over(stream: Stream, authkey: &[u8], config: &Config) -> Result<Inner> {
        let mut deadline = Deadline::new(&stream, config.handshake_timeout);
        auth::client(&mut deadline, authkey, config.strict_auth)?;
        deadline.finish(None)?;
        // One socket shared by the reading and the writing side: a clone
        // would cost a second descriptor per connection.
        let stream = Arc::new(stream);
        let replies = Arc::new(Replies::new(Arc::clone(&stream), config.max_frame));
        let peer = stream.peer();
        let outbox = Outbox::new(
            stream,
            config.max_frame,
            config.max_write_backlog,
            Arc::new(AtomicU64::new(0)),
        );
        Ok(Inner {
            outbox,
            replies,
            max_frame: config.max_frame,
            peer,
        })
    }
}

impl Client {
    /// Calls `method` with `args` and waits for the result.
    ///
    /// Several arguments go as a tuple: `client.call("put", ("a".to_string(), 1i64))`;
    /// none as `()`.
    ///
    /// **Write the result type**, as `call::<_, R>(...)` or with a typed
    /// `let x: R = client.call(...)?`: the result's bytes carry no type, so
    /// `R` decides how they are read, and Rust cannot infer it from the
    /// method name. The call is *typed*: it carries the fingerprints of the
    /// shapes of `A` and `R` (see [`Shape`](crate::Shape)), and the server
    /// refuses it without running the handler when they differ from the
    /// handler's signature. Integer types of one encoding family match
    /// (`i32` arguments reach an `i64` handler; a value too large fails
    /// loudly), `u64` does not match `i64`, and a type whose shape is opaque
    /// (a hand-written `Encode`, [`Compat`](crate::Compat)) is not checked.
    ///
    /// ```no_run
    /// # let client = stdrpc::Client::connect("127.0.0.1:4343", b"key")?;
    /// let sum = client.call::<_, i64>("add", (1i64, 2i64))?;
    /// let sum: i64 = client.call("add", (1i64, 2i64))?;
    /// # Ok::<(), stdrpc::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Remote`] when the server reports a failure (its kind says
    /// which; [`RemoteKind::SignatureMismatch`] names the method and both
    /// signatures: `add expects (i64, i64) -> i64, called with (u64, u64) ->
    /// i64`), [`Error::Decode`] when the result is not an `R`,
    /// [`Error::ConnectionClosed`], [`Error::FrameTooLarge`].
    pub fn call<A: Encode, R: Decode>(&self, method: &str, args: A) -> Result<R> {
        self.call_until(method, args, None)
    }

    /// The server's methods with their signatures, sorted by name:
    /// `("add", "(i64, i64) -> i64")`. Raw-bytes handlers and types that
    /// do not describe themselves show as opaque names.
    ///
    /// This calls the library's reserved method `stdrpc.methods` (names
    /// starting with `stdrpc.` cannot be registered).
    ///
    /// # Errors
    /// As [`call`](Client::call).
    pub fn methods(&self) -> Result<Vec<(String, String)>> {
        self.call(crate::registry::METHODS, ())
    }

    /// Like [`call`](Client::call), giving up after `timeout`.
    ///
    /// A reply that arrives as the timeout passes may still be returned: the
    /// timeout bounds the wait, it does not discard a result already here.
    ///
    /// The server learns the timeout (sent as a relative deadline in the
    /// typed call's extension block, since clocks differ between machines):
    /// it does not start the call once the deadline has passed (the caller
    /// then gets [`RemoteKind::DeadlineExceeded`], or [`Error::Timeout`] if
    /// that reply comes too late), and a running handler sees it through
    /// its [`Context`](crate::Context).
    ///
    /// # Errors
    /// [`Error::Timeout`] when no reply came in time (the call may still run
    /// on the server), or as [`call`](Client::call).
    pub fn call_timeout<A: Encode, R: Decode>(
        &self,
        method: &str,
        args: A,
        timeout: Duration,
    ) -> Result<R> {
        self.call_until(method, args, Some(Instant::now() + timeout))
    }

    /// Sends a call and returns at once with a handle to its result, for
    /// pipelining many calls from one thread or awaiting in async code.
    ///
    /// Calls started this way leave in batches: many `start`s cost one
    /// system call, written by a background thread while this one goes on
    /// (or by this one, once 8 KiB are queued). The reply is read by
    /// whoever waits for it, or for a later call; one nobody waits for (a
    /// future, a handle checked with [`Pending::is_ready`] or dropped) is
    /// read by a background thread.
    ///
    /// # Errors
    /// The call could not be queued (connection closed, frame too large).
    pub fn start<A: Encode, R: Decode>(&self, method: &str, args: A) -> Result<Pending<R>> {
        self.send_typed(method, args, true, None)
    }

    /// Calls `method` with argument bytes encoded by the caller and returns
    /// the reply's bytes undecoded (see
    /// [`Server::register_raw`](crate::Server::register_raw)).
    ///
    /// The call is untyped (message `0x01`): its shapes are unknown, so no
    /// signature is checked.
    ///
    /// # Errors
    /// As [`call`](Client::call).
    pub fn call_raw(&self, method: &str, args: &[u8]) -> Result<Vec<u8>> {
        let inner = self.inner()?;
        let (id, slot) = self.send_call(&inner, method, None, |_| args, false, false)?;
        inner
            .replies
            .wait(id, &slot, None)
            .map(ReplyBytes::into_vec)
    }

    /// Sends a one-way notification: no reply, no waiting for the server.
    ///
    /// The notifications of one connection run on the server one after the
    /// other, in the order they were sent. Errors in the handler are counted
    /// on the server and not reported back. Notifications leave in batches,
    /// written by a background thread (or by the sending one, once 8 KiB
    /// are queued); a call, [`flush`](Client::flush),
    /// [`close`](Client::close) or dropping the client sends them at once.
    ///
    /// Like [`call`](Client::call), a notification carries the fingerprint
    /// of its argument shape; the server does not run it when the handler's
    /// arguments have another shape, and counts it in
    /// [`Stats::signature_mismatches`](crate::Stats::signature_mismatches).
    ///
    /// # Errors
    /// The notification could not be queued (connection closed, frame too large).
    pub fn notify<A: Encode>(&self, method: &str, args: A) -> Result<()> {
        let inner = self.inner()?;
        if inner.replies.is_closed() {
            return Err(Error::ConnectionClosed);
        }
        let args_fp = signatures::of::<A, ()>().args_fp;
        inner.outbox.send_soon(
            |buf| {
                envelope::typed_notify_head(buf, method, args_fp);
                args.encode(buf);
            },
            || inner.replies.keep_reading(),
        )
    }

    /// Writes everything queued (notifications, started calls) before returning.
    ///
    /// # Errors
    /// The connection failed.
    pub fn flush(&self) -> Result<()> {
        let inner = self.inner()?;
        inner.outbox.flush()?;
        inner.outbox.wait_drained();
        Ok(())
    }

    /// Sends everything queued, closes the sending half, and waits until the
    /// server has answered every call in flight and closed the connection.
    ///
    /// Every notification sent before `close` has then run on the server.
    /// Other clones of this client can no longer send. Closing cannot fail:
    /// a connection that broke is already closed, and the calls in flight on
    /// it have their own errors.
    pub fn close(self) {
        let inner = match &*self.link {
            Link::Fixed(inner) => Arc::clone(inner),
            Link::Reconnecting { current, .. } => Arc::clone(&lock(current)),
        };
        inner.shutdown_write();
        inner.replies.drain_to_end();
    }

    /// The largest frame this client sends or accepts.
    pub fn frame_limit(&self) -> usize {
        match &*self.link {
            Link::Fixed(inner) => inner.max_frame,
            Link::Reconnecting { config, .. } => config.max_frame,
        }
    }

    /// A typed call, waiting for its reply until `deadline` (or for ever).
    fn call_until<A: Encode, R: Decode>(
        &self,
        method: &str,
        args: A,
        deadline: Option<Instant>,
    ) -> Result<R> {
        // The server learns the deadline as a relative timeout.
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        self.send_typed::<A, R>(method, args, false, timeout)?
            .wait_until(deadline, Some(method))
    }

    /// Queues a typed call (`batched`: see [`send_call`](Client::send_call)).
    fn send_typed<A: Encode, R: Decode>(
        &self,
        method: &str,
        args: A,
        batched: bool,
        timeout: Option<Duration>,
    ) -> Result<Pending<R>> {
        let sig = signatures::of::<A, R>();
        let inner = self.inner()?;
        let (id, slot) = self.send_call(
            &inner,
            method,
            Some((sig.check(), timeout)),
            |buf| args.encode_split(buf),
            batched,
            R::BYTE_STRING,
        )?;
        Ok(Pending {
            slot,
            id,
            replies: Arc::clone(&inner.replies),
            sig,
            _result: PhantomData,
        })
    }

    /// Registers and queues a call. A caller alone on the connection writes
    /// it at once (no thread hop on the sequential path); when other calls
    /// are outstanding, or the call is `batched` (started, not waited for
    /// yet), it is queued for the background flusher, which writes it
    /// together with whatever else is queued (one system call for many
    /// requests), unless 8 KiB are queued or its large trailing bytes go
    /// vectored: this thread then writes (`Outbox::send_split`).
    ///
    /// `args` encodes the arguments and may return their last bytes
    /// instead of copying them (`Encode::encode_split`): a large byte
    /// buffer then goes to the socket from the caller's memory
    /// (`Outbox::send_split`). `bytes_result`: the result is read as a
    /// byte string (`Decode::BYTE_STRING`), delivered without its length.
    fn send_call<'t>(
        &self,
        inner: &Inner,
        method: &str,
        check: Option<(Check, Option<Duration>)>,
        args: impl FnOnce(&mut Vec<u8>) -> &'t [u8],
        batched: bool,
        bytes_result: bool,
    ) -> Result<(u64, Arc<Slot>)> {
        let (id, slot, busy) = inner.replies.register(batched, bytes_result)?;
        let encode = |buf: &mut Vec<u8>| {
            match check {
                Some((check, None)) => envelope::typed_call_head(buf, id, method, check),
                Some((check, Some(timeout))) => {
                    envelope::typed_call_head_with_deadline(buf, id, method, check, timeout);
                }
                None => envelope::call_head(buf, id, method),
            }
            args(buf)
        };
        // Should sending block, the server may be waiting for us to read
        // replies that nobody reads yet (started calls nobody waits for).
        let on_full = || inner.replies.keep_reading();
        let sent = inner.outbox.send_split(encode, !(batched || busy), on_full);
        if let Err(e) = sent {
            inner.replies.forget(id);
            // A failed write leaves the connection unusable. Windows fails a
            // send to a peer that has closed at once, where Linux fails only
            // the read after it: either way the connection counts as closed
            // from here, so waiting calls fail and reconnecting starts over.
            if !matches!(e, Error::FrameTooLarge { .. }) {
                inner.replies.close();
            }
            return Err(e);
        }
        Ok((id, slot))
    }
}

impl Inner {
    /// Lets the server see the end of our requests once it has read them all.
    fn shutdown_write(&self) {
        self.outbox.wait_drained();
        let _ = self.outbox.stream().shutdown(Shutdown::Write);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Everything queued goes out first: dropping a client loses nothing.
        self.shutdown_write();
        self.replies.client_gone();
    }
}

/// A call in flight: [`wait`](Pending::wait) for its result, or `.await` it
/// (it implements [`Future`], on any executor, with no runtime dependency).
///
/// Dropping it abandons the result, not the call.
#[must_use = "a pending call does nothing useful unless waited for"]
pub struct Pending<R> {
    slot: Arc<Slot>,
    id: u64,
    replies: Arc<Replies>,
    sig: &'static SigInfo,
    _result: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for Pending<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<R: Decode> Pending<R> {
    /// Blocks until the reply arrives.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub fn wait(self) -> Result<R> {
        self.wait_until(None, None)
    }

    /// Blocks until the reply arrives or `timeout` passes.
    ///
    /// # Errors
    /// [`Error::Timeout`], or as [`Client::call`].
    pub fn wait_timeout(self, timeout: Duration) -> Result<R> {
        self.wait_until(Some(Instant::now() + timeout), None)
    }

    /// Whether the reply has arrived (so `wait` would not block).
    pub fn is_ready(&self) -> bool {
        let ready = self.slot.is_ready();
        if !ready {
            // Somebody has to read the reply for this check to turn true.
            self.replies.detach(self.id, &self.slot);
        }
        ready
    }

    /// Waits until `deadline` (or for ever); a result that does not decode
    /// names `method` when given.
    fn wait_until(self, deadline: Option<Instant>, method: Option<&str>) -> Result<R> {
        let reply = self.replies.wait(self.id, &self.slot, deadline);
        decode_reply(reply, self.sig, method)
    }
}

/// Decodes a reply as `R`. A signature mismatch gets the caller's side of
/// the story (`, called with <signature>`); a result that does not decode
/// names its type, and the method when known.
fn decode_reply<R: Decode>(
    reply: Result<ReplyBytes>,
    sig: &SigInfo,
    method: Option<&str>,
) -> Result<R> {
    let decoded = match reply {
        // A byte string arrives as its bytes (or the error decoding it):
        // they become the value as they are (`Replies::read_one`).
        Ok(bytes) if R::BYTE_STRING => R::from_byte_string(bytes.into_vec()),
        Ok(ReplyBytes::Inline { len, bytes }) => codec::from_slice(&bytes[..usize::from(len)]),
        // `decode_owned`: a `Vec<u8>` result takes the reply's buffer.
        Ok(ReplyBytes::Heap(bytes)) => R::decode_owned(bytes),
        Err(e) => Err(e),
    };
    match decoded {
        Ok(value) => Ok(value),
        Err(Error::Decode(inner)) => Err(Error::decode(match method {
            Some(m) => format!("{m}: result ({}): {inner}", sig.signature.result),
            None => format!("result ({}): {inner}", sig.signature.result),
        })),
        Err(Error::Remote {
            kind: RemoteKind::SignatureMismatch,
            message,
        }) => Err(Error::remote(
            RemoteKind::SignatureMismatch,
            format!("{message}, called with {}", sig.text),
        )),
        Err(e) => Err(e),
    }
}

impl<R: Decode> Future for Pending<R> {
    type Output = Result<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<R>> {
        match self.slot.poll(cx.waker()) {
            Some(reply) => Poll::Ready(decode_reply(reply, self.sig, None)),
            None => {
                // Nobody blocks on a future: the background reader reads for it.
                self.replies.detach(self.id, &self.slot);
                Poll::Pending
            }
        }
    }
}

impl<R> Drop for Pending<R> {
    fn drop(&mut self) {
        // Abandoned before its reply arrived: the reply is still read (and
        // dropped), so that the server is never left waiting to send it.
        self.replies.detach(self.id, &self.slot);
    }
}

impl<R> Unpin for Pending<R> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_pending_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Client>();
        assert_send_sync::<Pending<String>>();
    }
}
