//! In-memory transports: two connected ends, each a pair of bounded
//! one-way pipes, with every [`Control`] capability (interrupt, read and
//! write timeouts, close). For tests and examples where a socket is not the
//! point, and as a model of a complete user transport.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Control, StopBy, Transport};

/// Bytes a pipe holds before its writer blocks, like a socket's buffers.
const CAPACITY: usize = 256 * 1024;

/// Two connected in-memory transports: what one writes, the other reads.
///
/// Each direction buffers up to 256 KiB, then the writer blocks (like a
/// socket's send buffer); both ends offer everything a [`Control`] can:
/// [`StopBy::Interrupt`], read and write timeouts, and close. Dropping an
/// end's write half (a client's close, a server's end of connection) is
/// the end of the stream for the other end.
///
/// ```
/// let (a, b) = stdrpc::transport::pair();
/// # drop((a, b));
/// ```
pub fn pair() -> (Transport, Transport) {
    let (ab, ba) = (Arc::new(Pipe::default()), Arc::new(Pipe::default()));
    (end(&ba, &ab, "memory:a"), end(&ab, &ba, "memory:b"))
}

fn end(incoming: &Arc<Pipe>, outgoing: &Arc<Pipe>, name: &str) -> Transport {
    Transport::new(Reader(Arc::clone(incoming)), Writer(Arc::clone(outgoing)))
        .with_control(End {
            incoming: Arc::clone(incoming),
            outgoing: Arc::clone(outgoing),
        })
        .with_peer(name)
}

#[derive(Debug, Default)]
struct Pipe {
    state: Mutex<State>,
    /// Signalled when bytes arrive or the pipe ends.
    readable: Condvar,
    /// Signalled when room frees up or the reader goes.
    writable: Condvar,
}

#[derive(Debug, Default)]
struct State {
    buf: VecDeque<u8>,
    /// The writer is gone: reads drain the buffer, then see the end.
    writer_gone: bool,
    /// The reader is gone or closed: writes fail.
    reader_gone: bool,
    /// Reads end at once (`interrupt`).
    interrupted: bool,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl Pipe {
    fn state(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// Waits on `cv` while `blocked` holds, at most until `until`;
    /// `Ok(None)` once that passed.
    fn wait_while<'a>(
        &self,
        cv: &Condvar,
        mut st: MutexGuard<'a, State>,
        until: Option<Instant>,
        blocked: impl Fn(&State) -> bool,
    ) -> Option<MutexGuard<'a, State>> {
        while blocked(&st) {
            st = match until {
                None => crate::sync::wait(cv, st),
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    crate::sync::wait_timeout(cv, st, left).0
                }
            };
        }
        Some(st)
    }
}

fn empty(st: &State) -> bool {
    st.buf.is_empty() && !st.writer_gone && !st.interrupted
}

fn full(st: &State) -> bool {
    st.buf.len() >= CAPACITY && !st.reader_gone
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no {what} within the timeout"),
    )
}

struct Reader(Arc<Pipe>);

impl Read for Reader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let pipe = &*self.0;
        let st = pipe.state();
        let until = st.read_timeout.and_then(|t| Instant::now().checked_add(t));
        let Some(mut st) = pipe.wait_while(&pipe.readable, st, until, empty) else {
            return Err(timed_out("data"));
        };
        if st.interrupted {
            return Ok(0);
        }
        let n = out.len().min(st.buf.len());
        for (o, b) in out.iter_mut().zip(st.buf.drain(..n)) {
            *o = b;
        }
        pipe.writable.notify_all();
        Ok(n)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.state().reader_gone = true;
        self.0.writable.notify_all();
    }
}

struct Writer(Arc<Pipe>);

impl Write for Writer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let pipe = &*self.0;
        let st = pipe.state();
        let until = st.write_timeout.and_then(|t| Instant::now().checked_add(t));
        let Some(mut st) = pipe.wait_while(&pipe.writable, st, until, full) else {
            return Err(timed_out("room"));
        };
        if st.reader_gone {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the other end is closed",
            ));
        }
        let n = data.len().min(CAPACITY - st.buf.len());
        st.buf.extend(&data[..n]);
        pipe.readable.notify_all();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.0.state().writer_gone = true;
        self.0.readable.notify_all();
    }
}

/// One end's control: it reads `incoming` and writes `outgoing`.
struct End {
    incoming: Arc<Pipe>,
    outgoing: Arc<Pipe>,
}

impl Control for End {
    fn stop_by(&self) -> StopBy {
        StopBy::Interrupt
    }

    fn interrupt(&self) {
        self.incoming.state().interrupted = true;
        self.incoming.readable.notify_all();
    }

    fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let pipe = &*self.incoming;
        let until = Instant::now().checked_add(timeout);
        Ok(pipe
            .wait_while(&pipe.readable, pipe.state(), until, empty)
            .is_some())
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.incoming.state().read_timeout = timeout;
        Ok(())
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.outgoing.state().write_timeout = timeout;
        Ok(())
    }

    fn close(&self) {
        {
            let mut st = self.incoming.state();
            st.interrupted = true;
            st.reader_gone = true;
        }
        self.incoming.readable.notify_all();
        self.incoming.writable.notify_all();
        self.outgoing.state().writer_gone = true;
        self.outgoing.readable.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stop::Interrupt;

    #[test]
    fn bytes_cross_and_the_end_is_seen() {
        let (a, b) = pair();
        (&a.0).write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        (&b.0).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        a.0.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!((&b.0).read(&mut got).unwrap(), 0);
    }

    #[test]
    fn timeouts_and_interrupt_end_blocked_reads() {
        let (_a, b) = pair();
        b.0.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let err = (&b.0).read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        b.0.set_read_timeout(None).unwrap();
        let b = Arc::new(b);
        let reader = {
            let b = Arc::clone(&b);
            std::thread::spawn(move || (&b.0).read(&mut [0u8; 4]))
        };
        assert!(b.0.wakes_readers());
        b.0.interrupt();
        assert_eq!(reader.join().unwrap().unwrap(), 0);
    }

    /// An end whose control says to poll, so the `StopBy::Poll` path of a
    /// user's transport runs on every platform.
    struct Polled(End);

    impl Control for Polled {
        fn stop_by(&self) -> StopBy {
            StopBy::Poll
        }
        fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
            self.0.wait_readable(timeout)
        }
    }

    #[test]
    fn a_polled_user_transport_leaves_its_read_when_stopped() {
        let (ab, ba) = (Arc::new(Pipe::default()), Arc::new(Pipe::default()));
        let polled = Transport::new(Reader(Arc::clone(&ba)), Writer(Arc::clone(&ab))).with_control(
            Polled(End {
                incoming: Arc::clone(&ba),
                outgoing: Arc::clone(&ab),
            }),
        );
        let other = end(&ab, &ba, "other");
        assert!(!polled.0.wakes_readers());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let polled = Arc::new(polled);
        // Nothing there: the reader polls until the stop, then ends as at
        // the end of the stream although the other end is still open.
        let reader = {
            let (p, s) = (Arc::clone(&polled), Arc::clone(&stop));
            std::thread::spawn(move || {
                let stop = || s.load(std::sync::atomic::Ordering::Acquire);
                crate::stop::StopRead::new(&p.0, &stop, None).read(&mut [0u8; 4])
            })
        };
        stop.store(true, std::sync::atomic::Ordering::Release);
        assert_eq!(reader.join().unwrap().unwrap(), 0);
        // Data there: a polled read returns it, within its time limit.
        (&other.0).write_all(b"x").unwrap();
        let go_on = || false;
        let mut r = crate::stop::StopRead::new(&polled.0, &go_on, Some(Duration::from_secs(60)));
        let mut got = [0u8; 4];
        assert_eq!(r.read(&mut got).unwrap(), 1);
        assert_eq!(got[0], b'x');
    }

    #[test]
    fn a_full_pipe_blocks_its_writer_until_the_write_timeout() {
        let (a, _b) = pair();
        a.0.set_write_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let err = (&a.0).write_all(&vec![0u8; CAPACITY + 1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
