//! Length-prefixed frames, exactly as CPython's `multiprocessing.connection`
//! writes them.
//!
//! A frame is a 4-byte signed big-endian length followed by the payload. A
//! payload longer than `0x7fff_ffff` bytes is announced by the length `-1`
//! followed by an 8-byte unsigned big-endian length. Readers accept the `-1`
//! escape for any length, as Python does; every other negative length is a
//! protocol error (Python would read it as an empty message and lose sync).
//!
//! Memory is bounded: the announced length is checked against a maximum
//! before anything is allocated, and the payload buffer then grows only as
//! bytes actually arrive, so a peer that announces a large frame and sends
//! nothing costs nothing.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use crate::budget::{self, Budget, Refused, Reservation, Standing};
use crate::error::{Error, RemoteKind, Result};

/// The default maximum payload of one frame: 16 MiB.
///
/// Large enough for bulk transfers of a few megabytes in one call, small
/// enough that one message cannot take a meaningful share of a machine's
/// memory. (gRPC's default is 4 MiB; CPython has no limit at all.) Memory is
/// only committed as bytes arrive, so the limit bounds what a peer can make
/// us hold, not what every connection holds.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Payloads up to this size are copied next to their header so that header
/// and payload leave in one `write`; larger ones are written in two calls.
const COALESCE_LIMIT: usize = 64 * 1024;

/// The read buffer grows by at most this much before bytes arrive to fill it.
const GROWTH_STEP: usize = 64 * 1024;

/// The largest length that fits the 4-byte header; longer ones use the escape.
const SHORT_MAX: usize = 0x7fff_ffff;

/// The header for a payload of `len` bytes, and how many of its bytes are
/// used (4, or 12 with the `-1` escape).
pub(crate) fn header(len: usize) -> ([u8; 12], usize) {
    let mut buf = [0u8; 12];
    if len <= SHORT_MAX {
        buf[..4].copy_from_slice(&(len as u32).to_be_bytes());
        (buf, 4)
    } else {
        buf[..4].copy_from_slice(&(-1i32).to_be_bytes());
        buf[4..].copy_from_slice(&(len as u64).to_be_bytes());
        (buf, 12)
    }
}

/// Appends one whole frame (header and payload) to `out`, for writers that
/// batch several frames into one system call.
pub(crate) fn append(out: &mut Vec<u8>, payload: &[u8]) {
    let (head, n) = header(payload.len());
    out.reserve(n + payload.len());
    out.extend_from_slice(&head[..n]);
    out.extend_from_slice(payload);
}

/// Writes one frame. A small payload leaves in the same `write` as its header.
///
/// Nothing is flushed: callers writing to a buffered writer flush it themselves.
pub(crate) fn write<W: Write + ?Sized>(w: &mut W, payload: &[u8]) -> io::Result<()> {
    if payload.len() <= COALESCE_LIMIT {
        let mut buf = Vec::with_capacity(4 + payload.len());
        append(&mut buf, payload);
        w.write_all(&buf)
    } else {
        let (head, n) = header(payload.len());
        w.write_all(&head[..n])?;
        w.write_all(payload)
    }
}

/// Reads one frame into `buf` (cleared first), rejecting payloads over `max`.
///
/// Returns `Ok(false)` on a clean end of stream before the first header byte,
/// `Ok(true)` when a frame was read. End of stream inside a frame is a
/// protocol error naming how much was missing.
pub(crate) fn read_into<R: Read + ?Sized>(
    r: &mut R,
    max: usize,
    buf: &mut Vec<u8>,
) -> Result<bool> {
    buf.clear();
    let mut head = [0u8; 12];
    match read_full(r, &mut head[..4])? {
        0 => return Ok(false),
        4 => {}
        got => return Err(truncated("header", 4, got)),
    }
    if head[..4] == (-1i32).to_be_bytes() {
        let got = read_full(r, &mut head[4..])?;
        if got != 8 {
            return Err(truncated("extended length", 8, got));
        }
    }
    // The header's bytes are all here, so it is never incomplete.
    let (_, len) = parse_header(&head, max)?.unwrap_or((4, 0));
    // Grow in steps as data arrives: the length is bounded by `max`, but the
    // peer has not proved it will send that much.
    let mut filled = 0;
    while filled < len {
        let want = (len - filled).min(GROWTH_STEP);
        buf.resize(filled + want, 0);
        let got = read_full(r, &mut buf[filled..filled + want])?;
        filled += got;
        if got < want {
            buf.truncate(filled);
            return Err(truncated("payload", len, filled));
        }
    }
    Ok(true)
}

/// Reads one frame, rejecting payloads over `max`; `Ok(None)` on a clean end
/// of stream between frames.
pub(crate) fn read<R: Read + ?Sized>(r: &mut R, max: usize) -> Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    Ok(read_into(r, max, &mut buf)?.then_some(buf))
}

/// The initial size of a [`FrameReader`]'s buffer; it grows for larger frames.
const READ_BUF: usize = 32 * 1024;

/// Buffers above this size are released once the frame that needed them has
/// been consumed; smaller ones are kept for the next frame.
///
/// A buffer is grown (and its new part zeroed) only as bytes arrive, so a
/// connection that keeps sending frames of a MiB would otherwise pay the
/// allocation, the zeroing and the page faults of a fresh buffer for every
/// one of them (most of the cost of a 1 MiB echo). Keeping buffers up to
/// 2 MiB pays that once per connection; the price is that an idle
/// connection that once received a frame of 1-2 MiB holds that much until
/// it closes or receives a larger frame.
pub(crate) const KEEP_BUF: usize = 2 * 1024 * 1024;

/// Reads frames through its own buffer: one `read` system call brings in as
/// many frames as have arrived, and frames already buffered are handed out
/// without touching the socket.
///
/// State survives errors: a read that times out mid-frame can be retried
/// and continues where it stopped.
///
/// With a [`Budget`] attached ([`charge`](FrameReader::charge)), every frame
/// reserves `payload length × factor` bytes of it as soon as its header has
/// been read, before its payload is; the reservation is held until the
/// caller takes it ([`take_reservation`](FrameReader::take_reservation)) or
/// asks for the next frame. A frame that gets no reservation within the
/// wait is read and thrown away without being buffered, and reported as
/// [`RemoteKind::Overloaded`]; its first bytes stay available
/// ([`skipped_head`](FrameReader::skipped_head)) so that the caller can say
/// which request it refused.
#[derive(Debug)]
pub(crate) struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max: usize,
    charge: Option<Charge>,
    /// The reservation for the frame at the front, once its header is read.
    front: Option<Reservation>,
    /// The reservation for the frame last handed out.
    last: Option<Reservation>,
    /// A refused frame whose payload is being read and dropped.
    discarding: Option<Discard>,
    /// The first bytes of the last refused frame.
    skipped: Vec<u8>,
    /// Where the frame last handed out lies in `buf`, and whether it was
    /// all the buffer held (so the buffer can be taken with it).
    last_frame: std::ops::Range<usize>,
    last_alone: bool,
}

#[derive(Debug)]
struct Charge {
    budget: Arc<Budget>,
    factor: usize,
    /// Bytes charged per frame on top of `len × factor`.
    allowance: usize,
    wait: Duration,
    /// This reader's standing share, lent to small frames (`budget.rs`);
    /// taken at the first small frame the budget has room for.
    standing: Option<Arc<Standing>>,
}

#[derive(Debug)]
struct Discard {
    len: usize,
    left: usize,
    refused: Refused,
    charge: usize,
}

/// How many of a refused frame's first bytes are kept.
const SKIPPED_HEAD: usize = 16;

impl FrameReader {
    pub(crate) fn new(max: usize) -> FrameReader {
        FrameReader {
            buf: Vec::new(),
            start: 0,
            end: 0,
            max,
            charge: None,
            front: None,
            last: None,
            discarding: None,
            skipped: Vec::new(),
            last_frame: 0..0,
            last_alone: false,
        }
    }

    /// The payload of the frame last handed out by [`next`](FrameReader::next),
    /// while no other call has been made since (else empty).
    pub(crate) fn last_frame(&self) -> &[u8] {
        self.buf.get(self.last_frame.clone()).unwrap_or_default()
    }

    /// Takes the buffer holding the frame last handed out, if that frame
    /// was all it held, with where the payload lies in it: a large request
    /// then goes to its handler without being copied out. The reader goes
    /// on with an empty buffer, or with this one once it is given back
    /// ([`give_back`](FrameReader::give_back)).
    pub(crate) fn take_last(&mut self) -> Option<(Vec<u8>, std::ops::Range<usize>)> {
        if !self.last_alone || self.start != self.end {
            return None;
        }
        self.last_alone = false;
        let range = std::mem::replace(&mut self.last_frame, 0..0);
        self.start = 0;
        self.end = 0;
        Some((std::mem::take(&mut self.buf), range))
    }

    /// Returns a buffer taken with [`take_last`](FrameReader::take_last):
    /// kept for the next frames if nothing is buffered now, it is larger
    /// than the current buffer and not larger than [`KEEP_BUF`] (so a
    /// stream of large frames does not allocate and fault in a buffer for
    /// each); dropped otherwise.
    pub(crate) fn give_back(&mut self, buf: Vec<u8>) {
        if self.start == self.end && buf.len() > self.buf.len() && buf.len() <= KEEP_BUF {
            self.buf = buf;
            self.start = 0;
            self.end = 0;
            self.last_frame = 0..0;
            self.last_alone = false;
        }
    }

    /// Charges every frame read from now on `payload length × factor` bytes
    /// of `budget`, waiting up to `wait` for room.
    pub(crate) fn charge(&mut self, budget: Arc<Budget>, factor: usize, wait: Duration) {
        self.charge = Some(Charge {
            budget,
            factor: factor.max(1),
            allowance: 0,
            wait,
            standing: None,
        });
    }

    /// Changes what frames are charged from now on, `len × factor +
    /// allowance` bytes (for a connection that turns out to speak a
    /// protocol with another working-memory bound).
    pub(crate) fn set_charge(&mut self, factor: usize, allowance: usize) {
        if let Some(charge) = &mut self.charge {
            charge.factor = factor.max(1);
            charge.allowance = allowance;
        }
    }

    /// Takes the reservation of the frame last handed out, so that it lives
    /// on until the request is handed to its handler.
    pub(crate) fn take_reservation(&mut self) -> Option<Reservation> {
        self.last.take()
    }

    /// The first bytes (at most 16) of the payload of the last frame
    /// refused for lack of budget.
    pub(crate) fn skipped_head(&self) -> &[u8] {
        &self.skipped
    }

    /// Reserves budget for the frame at the front; `false` if refused (the
    /// frame is then being discarded).
    fn reserve_front(&mut self, head: usize, len: usize) -> bool {
        let Some(charge) = &mut self.charge else {
            return true;
        };
        if self.front.is_some() {
            return true;
        }
        let bytes = len
            .saturating_mul(charge.factor)
            .saturating_add(charge.allowance);
        if bytes <= budget::STANDING {
            if charge.standing.is_none() {
                charge.standing = Standing::new(&charge.budget);
            }
            if let Some(lent) = charge.standing.as_ref().and_then(|s| s.lend(bytes)) {
                self.front = Some(lent);
                return true;
            }
        }
        match charge.budget.reserve(bytes, charge.wait) {
            Ok(r) => {
                self.front = Some(r);
                true
            }
            Err(refused) => {
                self.start += head;
                self.skipped.clear();
                self.discarding = Some(Discard {
                    len,
                    left: len,
                    refused,
                    charge: bytes,
                });
                false
            }
        }
    }

    /// Drops buffered bytes of a refused frame; `Some(error)` once all of
    /// it has gone.
    fn discard_buffered(&mut self) -> Option<Error> {
        let d = self.discarding.as_mut()?;
        let take = (self.end - self.start).min(d.left);
        let keep = take.min(SKIPPED_HEAD.saturating_sub(self.skipped.len()));
        self.skipped
            .extend_from_slice(&self.buf[self.start..self.start + keep]);
        self.start += take;
        d.left -= take;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if d.left > 0 {
            return None;
        }
        let d = self.discarding.take()?;
        let limit = self.charge.as_ref().map_or(0, |c| c.budget.limit());
        let why = match d.refused {
            Refused::Never => "more than the whole budget",
            Refused::Busy => "more than is free",
        };
        Some(Error::remote(
            RemoteKind::Overloaded,
            format!(
                "a request of {} bytes needs {} bytes of the server's memory budget of {limit} \
                 bytes, {why}; it was not run",
                d.len, d.charge
            ),
        ))
    }

    /// Whether a whole frame is already buffered (so `next` will not read).
    pub(crate) fn has_frame(&self) -> bool {
        matches!(self.peek(), Ok(Some(_)))
    }

    /// The next frame's payload, reading from `r` as needed; `Ok(None)` at a
    /// clean end of stream between frames.
    ///
    /// # Errors
    /// A protocol error for a truncated frame or a negative length,
    /// [`Error::FrameTooLarge`], [`Error::Timeout`] when a read timeout
    /// expires (nothing is lost: call again), or the I/O error.
    pub(crate) fn next<R: Read + ?Sized>(&mut self, r: &mut R) -> Result<Option<&[u8]>> {
        self.last = None;
        self.last_frame = 0..0;
        self.last_alone = false;
        loop {
            if self.discarding.is_some() {
                if let Some(refused) = self.discard_buffered() {
                    return Err(refused);
                }
                if !self.fill(r)? {
                    let (len, left) = self.discarding.as_ref().map_or((0, 0), |d| (d.len, d.left));
                    return Err(truncated("payload", len, len - left));
                }
                continue;
            }
            if let Some((head, len)) = parse_header(&self.buf[self.start..self.end], self.max)? {
                // Charged as soon as the header is in, before the payload.
                if self.charge.is_some() && !self.reserve_front(head, len) {
                    continue;
                }
                if self.end - self.start >= head + len {
                    self.last = self.front.take();
                    let from = self.start + head;
                    self.start = from + len;
                    self.last_frame = from..from + len;
                    if self.start == self.end {
                        // Everything consumed: start over at the front next
                        // time (and release an outsized buffer then).
                        self.start = 0;
                        self.end = 0;
                        self.last_alone = true;
                    }
                    return Ok(Some(&self.buf[from..from + len]));
                }
            }
            if !self.fill(r)? {
                return if self.end == self.start {
                    Ok(None)
                } else {
                    Err(truncated("frame", self.wanted(), self.end - self.start))
                };
            }
        }
    }

    /// The header length and payload length of a whole buffered frame.
    fn peek(&self) -> Result<Option<(usize, usize)>> {
        let avail = &self.buf[self.start..self.end];
        let Some((head, len)) = parse_header(avail, self.max)? else {
            return Ok(None);
        };
        Ok((avail.len() >= head + len).then_some((head, len)))
    }

    /// How many bytes the frame at the front needs in all (at least a header).
    fn wanted(&self) -> usize {
        match parse_header(&self.buf[self.start..self.end], self.max) {
            Ok(Some((head, len))) => head + len,
            _ => 12,
        }
    }

    /// Reads once into free space; `Ok(false)` at end of stream.
    fn fill<R: Read + ?Sized>(&mut self, r: &mut R) -> Result<bool> {
        if self.start == self.end && self.buf.len() > KEEP_BUF {
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
        }
        if self.buf.is_empty() {
            self.buf = vec![0; READ_BUF];
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                // The frame is larger than the buffer: grow, doubling at most,
                // so memory follows the bytes that actually arrive.
                let want = self.wanted().max(self.end + 1);
                let grown = want.min(self.buf.len().saturating_mul(2));
                self.buf.resize(grown, 0);
            }
        }
        loop {
            match r.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::from_io(e)),
            }
        }
    }
}

/// Parses a frame header at the front of `bytes`: `Ok(None)` if incomplete,
/// otherwise the header's length and the payload's length.
fn parse_header(bytes: &[u8], max: usize) -> Result<Option<(usize, usize)>> {
    let Some(short) = bytes.first_chunk::<4>().map(|h| i32::from_be_bytes(*h)) else {
        return Ok(None);
    };
    let (head, len) = if short >= 0 {
        (4, short as u64)
    } else if short == -1 {
        match bytes.get(4..12) {
            Some(long) => (12, u64::from_be_bytes(long.try_into().unwrap_or_default())),
            None => return Ok(None),
        }
    } else {
        return Err(Error::protocol(format!("negative frame length {short}")));
    };
    if len > max as u64 {
        return Err(Error::FrameTooLarge {
            len,
            max: max as u64,
        });
    }
    Ok(Some((head, len as usize)))
}

/// Fills `buf` unless the stream ends first; returns how many bytes were read.
fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::from_io(e)),
        }
    }
    Ok(filled)
}

fn truncated(part: &str, expected: usize, got: usize) -> Error {
    Error::protocol(format!(
        "truncated frame: connection closed after {got} of {expected} {part} bytes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn encode(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn short_frame_matches_python_bytes() {
        // multiprocessing.connection: send_bytes(b"#WELCOME#")
        assert_eq!(encode(b"#WELCOME#"), b"\x00\x00\x00\x09#WELCOME#");
        assert_eq!(encode(b""), b"\x00\x00\x00\x00");
    }

    #[test]
    fn round_trips_several_frames_and_reports_clean_eof() {
        let mut wire = Vec::new();
        for p in [&b"a"[..], b"", b"hello world", &[0u8; 70_000]] {
            write(&mut wire, p).unwrap();
        }
        let mut r = Cursor::new(wire);
        assert_eq!(read(&mut r, 1 << 20).unwrap().unwrap(), b"a");
        assert_eq!(read(&mut r, 1 << 20).unwrap().unwrap(), b"");
        assert_eq!(read(&mut r, 1 << 20).unwrap().unwrap(), b"hello world");
        assert_eq!(read(&mut r, 1 << 20).unwrap().unwrap(), vec![0u8; 70_000]);
        assert!(read(&mut r, 1 << 20).unwrap().is_none());
    }

    #[test]
    fn escape_header_for_long_payloads() {
        let (h, n) = header(0x8000_0000);
        assert_eq!(&h[..n], b"\xff\xff\xff\xff\x00\x00\x00\x00\x80\x00\x00\x00");
        let (h, n) = header(0x7fff_ffff);
        assert_eq!(&h[..n], b"\x7f\xff\xff\xff");
    }

    #[test]
    fn accepts_escape_for_small_lengths_like_python() {
        let wire = b"\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x03abc";
        assert_eq!(read(&mut &wire[..], 16).unwrap().unwrap(), b"abc");
    }

    #[test]
    fn rejects_other_negative_lengths() {
        for head in [[0xff, 0xff, 0xff, 0xfe], [0x80, 0, 0, 0]] {
            let err = read(&mut &head[..], 16).unwrap_err();
            assert!(matches!(err, Error::Protocol(_)), "{err}");
        }
    }

    #[test]
    fn rejects_oversize_before_allocating() {
        let err = read(&mut &b"\x7f\xff\xff\xff"[..], 1024).unwrap_err();
        assert!(matches!(
            err,
            Error::FrameTooLarge {
                len: 0x7fff_ffff,
                max: 1024
            }
        ));
        let huge = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
        let err = read(&mut &huge[..], 1024).unwrap_err();
        assert!(matches!(err, Error::FrameTooLarge { len: u64::MAX, .. }));
        // Exactly the maximum is fine.
        assert_eq!(
            read(&mut &b"\x00\x00\x00\x02hi"[..], 2).unwrap().unwrap(),
            b"hi"
        );
    }

    #[test]
    fn truncation_at_every_offset_is_an_error() {
        let mut wire = encode(b"0123456789");
        wire.extend_from_slice(b"\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x02xy");
        // Cut inside the first frame: always an error.
        for cut in 1..14 {
            let err = read(&mut &wire[..cut], 64).unwrap_err();
            assert!(matches!(err, Error::Protocol(_)), "cut {cut}: {err}");
        }
        // Cut inside the second (escaped) frame.
        for cut in 15..wire.len() {
            let mut r = &wire[..cut];
            assert_eq!(read(&mut r, 64).unwrap().unwrap(), b"0123456789");
            let err = read(&mut r, 64).unwrap_err();
            assert!(matches!(err, Error::Protocol(_)), "cut {cut}: {err}");
        }
    }

    #[test]
    fn announced_but_unsent_payload_allocates_little() {
        let mut buf = Vec::new();
        let err = read_into(&mut &b"\x00\xff\xff\xffab"[..], 1 << 30, &mut buf).unwrap_err();
        assert!(matches!(err, Error::Protocol(_)));
        assert!(buf.capacity() <= 2 * GROWTH_STEP, "{}", buf.capacity());
    }

    #[test]
    fn frame_reader_reads_many_frames_per_read_and_resumes_after_errors() {
        let mut wire = Vec::new();
        for i in 0..100u32 {
            append(&mut wire, &i.to_le_bytes());
        }
        append(&mut wire, &vec![9u8; 100_000]);
        wire.extend_from_slice(b"\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x01z");
        // Feed the bytes in awkward pieces, with a timeout between pieces.
        struct Pieces {
            data: Vec<u8>,
            at: usize,
            reads: usize,
        }
        impl Read for Pieces {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.reads += 1;
                if self.reads % 3 == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let n = buf
                    .len()
                    .min(7 + self.reads % 5000)
                    .min(self.data.len() - self.at);
                buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
                self.at += n;
                Ok(n)
            }
        }
        let mut src = Pieces {
            data: wire,
            at: 0,
            reads: 0,
        };
        let mut fr = FrameReader::new(1 << 20);
        let mut frames = Vec::new();
        loop {
            match fr.next(&mut src) {
                Ok(Some(f)) => frames.push(f.to_vec()),
                Ok(None) => break,
                Err(Error::Timeout) => continue,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(frames.len(), 102);
        for (i, f) in frames.iter().take(100).enumerate() {
            assert_eq!(f, &(i as u32).to_le_bytes());
        }
        assert_eq!(frames[100], vec![9u8; 100_000]);
        assert_eq!(frames[101], b"z");
    }

    #[test]
    fn frame_reader_reports_truncation_limits_and_negative_lengths() {
        let mut fr = FrameReader::new(16);
        assert!(matches!(
            fr.next(&mut &b"\x00\x00\x00\x05ab"[..]),
            Err(Error::Protocol(_))
        ));
        let mut fr = FrameReader::new(16);
        assert!(matches!(
            fr.next(&mut &b"\x00\x00\x00\x11"[..]),
            Err(Error::FrameTooLarge { len: 17, .. })
        ));
        let mut fr = FrameReader::new(16);
        assert!(matches!(
            fr.next(&mut &b"\xff\xff\xff\xf0"[..]),
            Err(Error::Protocol(_))
        ));
        let mut fr = FrameReader::new(16);
        assert!(fr.next(&mut &b""[..]).unwrap().is_none());
        let mut fr = FrameReader::new(16);
        let mut two = &b"\x00\x00\x00\x01a\x00\x00\x00\x01b"[..];
        assert_eq!(fr.next(&mut two).unwrap().unwrap(), b"a");
        assert!(fr.has_frame());
        assert_eq!(fr.next(&mut two).unwrap().unwrap(), b"b");
        assert!(!fr.has_frame());
    }

    #[test]
    fn frame_reader_charges_the_budget_and_skips_what_does_not_fit() {
        let budget = Arc::new(Budget::new(1000));
        let mut fr = FrameReader::new(1 << 20);
        fr.charge(Arc::clone(&budget), 10, Duration::ZERO);
        let mut wire = Vec::new();
        append(&mut wire, &[1u8; 50]); // 500 bytes: fits
        append(&mut wire, &[2u8; 300]); // 3000: never fits, skipped
        append(&mut wire, &[3u8; 60]); // 600: fits once the first is released
        let mut r = &wire[..];
        assert_eq!(fr.next(&mut r).unwrap().unwrap(), &[1u8; 50][..]);
        assert_eq!(budget.in_use(), 500);
        let held = fr.take_reservation().unwrap();
        let err = fr.next(&mut r).unwrap_err();
        assert!(matches!(
            err,
            Error::Remote {
                kind: RemoteKind::Overloaded,
                ..
            }
        ));
        assert!(err.to_string().contains("300 bytes"), "{err}");
        assert_eq!(fr.skipped_head(), &[2u8; SKIPPED_HEAD][..]);
        // The third does not fit beside the first; it is skipped too...
        let err = fr.next(&mut r).unwrap_err();
        assert!(matches!(err, Error::Remote { .. }), "{err}");
        assert_eq!(fr.skipped_head(), &[3u8; SKIPPED_HEAD][..]);
        drop(held);
        assert_eq!(budget.in_use(), 0);
        assert!(fr.next(&mut r).unwrap().is_none());
        // ...and fits once it is released; the reservation ends with the next read.
        let mut r = &wire[wire.len() - 64..];
        assert_eq!(fr.next(&mut r).unwrap().unwrap(), &[3u8; 60][..]);
        assert_eq!(budget.in_use(), 600);
        assert!(fr.next(&mut r).unwrap().is_none());
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn a_frame_alone_in_the_buffer_can_be_taken_and_given_back() {
        let mut wire = Vec::new();
        append(&mut wire, &[5u8; 10_000]);
        append(&mut wire, b"ab");
        append(&mut wire, &[6u8; 200_000]);
        let mut r = &wire[..];
        let mut fr = FrameReader::new(1 << 20);
        // The first read brings in the first two frames: the first cannot
        // be taken, as the second's bytes share its buffer.
        assert_eq!(fr.next(&mut r).unwrap().unwrap(), &[5u8; 10_000][..]);
        assert_eq!(fr.last_frame(), &[5u8; 10_000][..]);
        assert!(fr.take_last().is_none());
        assert_eq!(fr.next(&mut r).unwrap().unwrap(), b"ab");
        let third = fr.next(&mut r).unwrap().unwrap().to_vec();
        assert_eq!(third, vec![6u8; 200_000]);
        let (buf, range) = fr.take_last().unwrap();
        assert_eq!(&buf[range], &third[..]);
        assert!(fr.take_last().is_none(), "taken once");
        assert!(!fr.has_frame());
        // Given back, it is used for the next frames: no growing again.
        let len = buf.len();
        fr.give_back(buf);
        let mut again = Vec::new();
        append(&mut again, &[7u8; 150_000]);
        let mut r = &again[..];
        assert_eq!(fr.next(&mut r).unwrap().unwrap(), &[7u8; 150_000][..]);
        assert_eq!(fr.buf.len(), len);
        assert!(fr.next(&mut r).unwrap().is_none());
        // A buffer over the size readers keep is not taken back.
        let mut fr = FrameReader::new(1 << 30);
        fr.give_back(vec![0; KEEP_BUF + 1]);
        assert!(fr.buf.is_empty());
    }

    #[test]
    fn an_announced_frame_costs_only_the_bytes_that_arrive() {
        // 16 MiB announced, 100 KiB sent, then the peer goes quiet (a timeout).
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.1 == self.0.len() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let n = buf.len().min(self.0.len() - self.1).min(4096);
                buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let mut wire = (16u32 << 20).to_be_bytes().to_vec();
        wire.extend_from_slice(&[1u8; 100_000]);
        let mut src = Trickle(wire, 0);
        let mut fr = FrameReader::new(DEFAULT_MAX_FRAME);
        assert!(matches!(fr.next(&mut src), Err(Error::Timeout)));
        assert!(fr.buf.len() <= 2 * 100_004, "{}", fr.buf.len());
        assert!(fr.take_last().is_none());
    }

    #[test]
    fn small_frame_is_one_write() {
        struct CountWrites(usize);
        impl Write for CountWrites {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0 += 1;
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = CountWrites(0);
        write(&mut w, &[7u8; 1000]).unwrap();
        assert_eq!(w.0, 1);
    }
}
