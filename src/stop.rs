//! Getting a thread out of a blocking read when the server stops, on every
//! platform.
//!
//! A connection's thread spends most of its life blocked in `read`. To stop
//! it, the transport is asked to [`interrupt`](Interrupt::interrupt) the
//! read. Where the platform promises that this wakes a blocked read (Linux
//! and macOS: `shutdown(SHUT_RD)` makes a pending `recv` return 0), that is
//! all, and reads cost nothing extra. Where it does not (Windows: the
//! Winsock documentation makes no such promise for `shutdown(SD_RECEIVE)`,
//! Wine's does not wake the read, and a later arriving byte would reset the
//! connection and lose replies still unsent), the reader polls instead:
//! [`StopRead`] waits for data in slices of at most [`POLL`], asking its stop
//! condition between slices, and only reads once data is there.
//!
//! The wait does not consume anything: it is
//! [`wait_readable`](Interrupt::wait_readable), a peek under a receive
//! timeout. Winsock warns that after a receive times out (`SO_RCVTIMEO`) the
//! socket's state is indeterminate, because the timed-out operation may be
//! cancelled just as it completes and its data be lost; a cancelled *peek*
//! has removed nothing from the socket, so nothing can be lost, and the
//! read that follows finds its data already there and does not block.
//!
//! The [`Interrupt`] trait is the capability a transport offers: sockets
//! implement it in `stream.rs`; pipes and user-supplied streams can implement it the
//! same way (a real wake-up, or a bounded readiness wait).

use std::io::{self, Read};
use std::time::{Duration, Instant};

/// The longest a reader waits between two looks at its stop condition when the
/// transport cannot wake it: the bound on how long a stop waits for an idle
/// connection on such a platform.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// What a transport offers so that a thread blocked reading it can be stopped.
pub(crate) trait Interrupt {
    /// Whether [`interrupt`](Interrupt::interrupt) wakes a thread blocked
    /// reading the transport. If not, readers poll with
    /// [`wait_readable`](Interrupt::wait_readable).
    fn wakes_readers(&self) -> bool;

    /// Makes reads blocked now, and later ones, return (end of stream or an
    /// error), where [`wakes_readers`](Interrupt::wakes_readers) says it can;
    /// does nothing otherwise. Replies may still be written.
    fn interrupt(&self);

    /// Waits until a read would not block, or `timeout` (never zero) passes,
    /// without consuming anything: `Ok(false)` when the time ran out.
    ///
    /// # Errors
    /// The transport failed.
    fn wait_readable(&self, timeout: Duration) -> io::Result<bool>;
}

/// A reader over a transport that ends (as at the end of the stream) once
/// its stop condition holds, on every platform, and times out after `limit`
/// without data.
///
/// Where the transport wakes blocked readers, reads go straight through: the
/// stop takes effect through [`Interrupt::interrupt`], and the timeout is the
/// one set on the transport. Elsewhere each read first waits for data in
/// slices of at most [`POLL`], and the transport's own read timeout is this
/// reader's to set.
pub(crate) struct StopRead<'a, T: Interrupt + ?Sized> {
    inner: &'a T,
    stop: Option<&'a dyn Fn() -> bool>,
    limit: Option<Duration>,
}

impl<'a, T: Interrupt + ?Sized> StopRead<'a, T> {
    /// A reader of `inner` that ends once `stop` returns true (it is asked
    /// between waits, where readers poll); `limit` is how long one read may
    /// wait for data (`None`: no limit).
    pub(crate) fn new(inner: &'a T, stop: &'a dyn Fn() -> bool, limit: Option<Duration>) -> Self {
        StopRead {
            inner,
            stop: Some(stop),
            limit,
        }
    }

    /// A reader that nothing stops, whose reads time out after `limit`
    /// without losing data where the transport cannot promise that of a
    /// timed-out read (Winsock's `SO_RCVTIMEO`): the client's reads under a
    /// call's deadline.
    pub(crate) fn bounded(inner: &'a T, limit: Option<Duration>) -> Self {
        StopRead {
            inner,
            stop: None,
            limit,
        }
    }

    /// Waits until data is there; `Ok(false)` when the stop was requested.
    fn wait(&self) -> io::Result<bool> {
        // A limit too far off to represent is no limit.
        let until = self.limit.and_then(|t| Instant::now().checked_add(t));
        // Without a stop to look for, one slice is the whole limit.
        let most = if self.stop.is_some() {
            POLL
        } else {
            Duration::MAX
        };
        loop {
            if self.stop.is_some_and(|stop| stop()) {
                return Ok(false);
            }
            let slice = match until {
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no data within the read timeout",
                        ));
                    }
                    left.min(most)
                }
                None => POLL,
            };
            if self.inner.wait_readable(slice)? {
                return Ok(true);
            }
        }
    }
}

impl<T: Interrupt + ?Sized> Read for StopRead<'_, T>
where
    for<'b> &'b T: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Nothing to stop and no limit: a plain blocking read loses nothing.
        let plain = self.stop.is_none() && self.limit.is_none();
        if !self.inner.wakes_readers() && !plain && !self.wait()? {
            return Ok(0);
        }
        let mut inner = self.inner;
        inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::address::Address;
    use crate::stream::{Acceptor, Stream};

    /// A socket that pretends its platform cannot wake readers, so that the
    /// polling path runs (and is tested) on every platform.
    struct Polled(Stream);

    impl Interrupt for Polled {
        fn wakes_readers(&self) -> bool {
            false
        }
        fn interrupt(&self) {}
        fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
            self.0.wait_readable(timeout)
        }
    }

    impl Read for &Polled {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            (&self.0).read(buf)
        }
    }

    fn pair() -> (Stream, Stream) {
        let l = Acceptor::bind(&[Address::Tcp("127.0.0.1:0".parse().unwrap())]).unwrap();
        let c = Stream::connect(&[l.local_addr().unwrap()], None).unwrap();
        (c, l.accept().unwrap())
    }

    /// A thread reading from `source` until `stop` is set; returns once the
    /// thread has started.
    fn spawn_reader<S>(
        source: &Arc<S>,
        stop: &Arc<AtomicBool>,
    ) -> std::thread::JoinHandle<io::Result<usize>>
    where
        S: Interrupt + Send + Sync + 'static,
        for<'a> &'a S: Read,
    {
        let (s, st) = (Arc::clone(source), Arc::clone(stop));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            ready_tx.send(()).unwrap();
            let stop = || st.load(Ordering::Acquire);
            StopRead::new(&*s, &stop, None).read(&mut [0u8; 8])
        });
        ready_rx.recv().unwrap();
        reader
    }

    #[test]
    fn a_polled_reader_leaves_its_read_when_stopped() {
        let (_client, server) = pair();
        let server = Arc::new(Polled(server));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = spawn_reader(&server, &stop);
        stop.store(true, Ordering::Release);
        // Ends as at the end of the stream, although the peer is still there.
        assert_eq!(reader.join().unwrap().unwrap(), 0);
    }

    #[test]
    fn a_polled_reader_loses_nothing_across_slices() {
        let (client, server) = pair();
        let server = Polled(server);
        let stop = || false;
        let mut r = StopRead::new(&server, &stop, Some(POLL * 3));
        // Nothing there: the limit passes after several slices.
        let err = r.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        (&client).write_all(b"abc").unwrap();
        let mut got = Vec::new();
        while got.len() < 3 {
            let mut buf = [0u8; 8];
            let n = r.read(&mut buf).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"abc");
        // The same without a stop flag (a client's read under a deadline).
        let mut r = StopRead::bounded(&server, Some(POLL));
        let err = r.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        (&client).write_all(b"d").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], b'd');
        drop(client);
        assert_eq!(r.read(&mut [0u8; 8]).unwrap(), 0);
    }

    #[test]
    fn where_the_platform_wakes_readers_interrupt_ends_a_blocked_read() {
        let (_client, server) = pair();
        let server = Arc::new(server);
        if !server.wakes_readers() {
            // Covered by the polled test above.
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let reader = spawn_reader(&server, &stop);
        stop.store(true, Ordering::Release);
        server.interrupt();
        assert_eq!(reader.join().unwrap().unwrap(), 0);
    }
}
