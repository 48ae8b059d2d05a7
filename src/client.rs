//! The client: one authenticated connection shared by any number of threads,
//! with replies matched to calls by request id.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::address::ToAddress;
use crate::auth;
use crate::codec::{Decode, Encode, from_slice};
use crate::config::Config;
use crate::envelope::{self, Message};
use crate::error::{Error, Result};
use crate::frame;
use crate::outbox::Outbox;
use crate::stream::{Deadline, Stream};

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
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.inner.peer)
            .finish_non_exhaustive()
    }
}

struct Inner {
    outbox: Outbox,
    table: Arc<Table>,
    max_frame: usize,
    peer: String,
    reader: Mutex<Option<JoinHandle<()>>>,
}

/// Calls waiting for their replies.
struct Table {
    state: Mutex<TableState>,
}

struct TableState {
    next_id: u64,
    waiting: HashMap<u64, Arc<Slot>>,
    /// Set when the connection has ended; new calls fail at once.
    closed: bool,
}

/// Where a reply is delivered, for a blocked thread or an async task.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    ready: Condvar,
}

#[derive(Default)]
struct SlotState {
    reply: Option<Result<Vec<u8>>>,
    waker: Option<Waker>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fill(&self, reply: Result<Vec<u8>>) {
        let waker = {
            let mut st = self.lock();
            st.reply = Some(reply);
            st.waker.take()
        };
        self.ready.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Table {
    fn lock(&self) -> MutexGuard<'_, TableState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails every waiting call; later calls fail at once.
    fn close(&self) {
        let waiting = {
            let mut st = self.lock();
            st.closed = true;
            std::mem::take(&mut st.waiting)
        };
        for slot in waiting.into_values() {
            slot.fill(Err(Error::ConnectionClosed));
        }
    }
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
        let stream = Stream::connect(&addr.to_addresses()?, config.connect_timeout)?;
        let mut deadline = Deadline::new(&stream, config.handshake_timeout);
        auth::client(&mut deadline, authkey, config.strict_auth)?;
        deadline.finish()?;
        let table = Arc::new(Table {
            state: Mutex::new(TableState {
                next_id: 1,
                waiting: HashMap::new(),
                closed: false,
            }),
        });
        let read_half = stream.try_clone()?;
        let reader_table = Arc::clone(&table);
        let max_frame = config.max_frame;
        let reader = std::thread::Builder::new()
            .name("stdrpc-client".into())
            .spawn(move || read_replies(&read_half, &reader_table, max_frame))?;
        let peer = stream.peer();
        let outbox = Outbox::new(
            stream,
            config.max_frame,
            config.max_write_backlog,
            Arc::new(AtomicU64::new(0)),
        );
        Ok(Client {
            inner: Arc::new(Inner {
                outbox,
                table,
                max_frame,
                peer,
                reader: Mutex::new(Some(reader)),
            }),
        })
    }

    /// Calls `method` with `args` and waits for the result.
    ///
    /// Several arguments go as a tuple: `client.call("put", ("a".to_string(), 1i64))`;
    /// none as `()`.
    ///
    /// # Errors
    /// [`Error::Remote`] when the server reports a failure (its kind says
    /// which), [`Error::Decode`] when the result is not an `R`,
    /// [`Error::ConnectionClosed`], [`Error::FrameTooLarge`].
    pub fn call<A: Encode, R: Decode>(&self, method: &str, args: A) -> Result<R> {
        self.start(method, args)?.wait()
    }

    /// Like [`call`](Client::call), giving up after `timeout`.
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
        self.start(method, args)?.wait_timeout(timeout)
    }

    /// Sends a call and returns at once with a handle to its result, for
    /// pipelining many calls from one thread or awaiting in async code.
    ///
    /// # Errors
    /// The call could not be sent.
    pub fn start<A: Encode, R: Decode>(&self, method: &str, args: A) -> Result<Pending<R>> {
        let mut payload = Vec::with_capacity(32 + method.len());
        let (id, slot) = self.register()?;
        envelope::call_head(&mut payload, id, method);
        args.encode(&mut payload);
        self.send_call(id, slot, &payload)
    }

    /// Calls `method` with argument bytes encoded by the caller and returns
    /// the reply's bytes undecoded (see
    /// [`Server::register_raw`](crate::Server::register_raw)).
    ///
    /// # Errors
    /// As [`call`](Client::call).
    pub fn call_raw(&self, method: &str, args: &[u8]) -> Result<Vec<u8>> {
        let mut payload = Vec::with_capacity(16 + method.len() + args.len());
        let (id, slot) = self.register()?;
        envelope::call_head(&mut payload, id, method);
        payload.extend_from_slice(args);
        let pending: Pending<()> = self.send_call(id, slot, &payload)?;
        pending.wait_bytes(None)
    }

    /// Sends a one-way notification: no reply, no waiting for the server.
    ///
    /// The notifications of one connection run on the server one after the
    /// other, in the order they were sent. Errors in the handler are counted
    /// on the server and not reported back.
    ///
    /// # Errors
    /// The notification could not be queued (connection closed, frame too large).
    pub fn notify<A: Encode>(&self, method: &str, args: A) -> Result<()> {
        let mut payload = Vec::with_capacity(32 + method.len());
        envelope::notify_head(&mut payload, method);
        args.encode(&mut payload);
        if self.inner.table.lock().closed {
            return Err(Error::ConnectionClosed);
        }
        self.inner.outbox.send(&payload)
    }

    /// Sends everything queued, closes the sending half, and waits until the
    /// server has answered every call in flight and closed the connection.
    ///
    /// Every notification sent before `close` has then run on the server.
    /// Other clones of this client can no longer send.
    ///
    /// # Errors
    /// None at present; the `Result` leaves room for reporting a failed flush.
    pub fn close(self) -> Result<()> {
        self.inner.shutdown_write();
        let reader = self
            .inner
            .reader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(reader) = reader {
            let _ = reader.join();
        }
        Ok(())
    }

    /// The largest frame this client sends or accepts.
    pub fn max_frame(&self) -> usize {
        self.inner.max_frame
    }

    fn register(&self) -> Result<(u64, Arc<Slot>)> {
        let mut table = self.inner.table.lock();
        if table.closed {
            return Err(Error::ConnectionClosed);
        }
        let id = table.next_id;
        table.next_id += 1;
        let slot = Arc::new(Slot::default());
        table.waiting.insert(id, Arc::clone(&slot));
        Ok((id, slot))
    }

    fn send_call<R>(&self, id: u64, slot: Arc<Slot>, payload: &[u8]) -> Result<Pending<R>> {
        if let Err(e) = self.inner.outbox.send(payload) {
            self.inner.table.lock().waiting.remove(&id);
            return Err(e);
        }
        Ok(Pending {
            slot,
            id,
            table: Arc::clone(&self.inner.table),
            _result: PhantomData,
        })
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
        // Everything queued has been handed to a writer by now (sends return
        // only then), so this only waits for a write already under way.
        self.shutdown_write();
    }
}

/// Reads replies until the connection ends, handing each to its caller.
fn read_replies(stream: &Stream, table: &Table, max_frame: usize) {
    let mut buf = Vec::new();
    let mut reader = stream;
    while let Ok(true) = frame::read_into(&mut reader, max_frame, &mut buf) {
        let (id, reply) = match Message::parse(&buf) {
            Ok(Message::Ok { id, result }) => (id, Ok(result.to_vec())),
            Ok(Message::Error { id, kind, message }) => (id, Err(Error::remote(kind, message))),
            // A server never sends calls to a client; anything else breaks
            // the protocol and ends the connection.
            _ => break,
        };
        let slot = table.lock().waiting.remove(&id);
        // A reply nobody waits for any more (its call timed out) is dropped.
        if let Some(slot) = slot {
            slot.fill(reply);
        }
    }
    table.close();
    let _ = stream.shutdown(Shutdown::Both);
}

/// A call in flight: [`wait`](Pending::wait) for its result, or `.await` it
/// (it implements [`Future`], on any executor, with no runtime dependency).
///
/// Dropping it abandons the result, not the call.
#[must_use = "a pending call does nothing useful unless waited for"]
pub struct Pending<R> {
    slot: Arc<Slot>,
    id: u64,
    table: Arc<Table>,
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
        decode_reply(self.wait_bytes(None))
    }

    /// Blocks until the reply arrives or `timeout` passes.
    ///
    /// # Errors
    /// [`Error::Timeout`], or as [`Client::call`].
    pub fn wait_timeout(self, timeout: Duration) -> Result<R> {
        decode_reply(self.wait_bytes(Some(timeout)))
    }

    /// Whether the reply has arrived (so `wait` would not block).
    pub fn is_ready(&self) -> bool {
        self.slot.lock().reply.is_some()
    }
}

impl<R> Pending<R> {
    fn wait_bytes(self, timeout: Option<Duration>) -> Result<Vec<u8>> {
        let until = timeout.map(|t| Instant::now() + t);
        let mut st = self.slot.lock();
        loop {
            if let Some(reply) = st.reply.take() {
                return reply;
            }
            st = match until {
                None => self.slot.ready.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        drop(st);
                        self.table.lock().waiting.remove(&self.id);
                        // The reply may have arrived between the check and the removal.
                        return self.slot.lock().reply.take().unwrap_or(Err(Error::Timeout));
                    }
                    self.slot
                        .ready
                        .wait_timeout(st, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

fn decode_reply<R: Decode>(bytes: Result<Vec<u8>>) -> Result<R> {
    from_slice(&bytes?)
}

impl<R: Decode> Future for Pending<R> {
    type Output = Result<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<R>> {
        let mut st = self.slot.lock();
        match st.reply.take() {
            Some(reply) => Poll::Ready(decode_reply(reply)),
            None => {
                match &mut st.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    w => *w = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
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
