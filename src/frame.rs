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
//! nothing costs nothing. (A large frame read split, whose bulk goes into a
//! buffer of its own, has that buffer allocated at once, within the maximum
//! and, on a server, within the memory budget already charged for the
//! frame; it is written, and so backed by physical memory, only as bytes
//! arrive. Where the system commits allocations, as Windows does, the
//! commit charge is the whole length.)

use std::io::{self, Read, Write};
use std::ops::Range;
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
    /// The connection's standing share, kept from a frame whose request
    /// has run (its reservation was not taken) for the next small frame:
    /// lending it anew and giving it back are atomic operations, on every
    /// notification otherwise.
    spare: Option<Reservation>,
    /// A refused frame whose payload is being read and dropped.
    discarding: Option<Discard>,
    /// The first bytes of the last refused frame.
    skipped: Vec<u8>,
    /// Where the frame last handed out lies in `buf`, and whether it was
    /// all the buffer held (so the buffer can be taken with it).
    last_frame: std::ops::Range<usize>,
    last_alone: bool,
    /// Where a large frame's bulk starts, if the reader's owner reads such
    /// frames split ([`split_bulk`](FrameReader::split_bulk)).
    split: Option<Split>,
    /// The bulk of the frame at the front, being read into a buffer of its own.
    bulk: Option<Bulk>,
    /// The frame at the front was looked at for a split and is read whole.
    whole: bool,
    /// The bulk of the frame last handed out, until taken.
    bulk_done: Option<Vec<u8>>,
}

/// Where a frame's bulk starts: given the first bytes of a payload (those
/// that came with its header) and the payload's whole length, the offset
/// from which its remaining bytes are one run that its reader wants in a
/// buffer of its own (a byte string that becomes a `Vec<u8>` as it is), or
/// `None` to read the frame whole. The offset is at most the prefix's length.
pub(crate) type Split = fn(&[u8], usize) -> Option<usize>;

/// Frames from this size on may be read split ([`FrameReader::split_bulk`]).
pub(crate) const BULK_MIN: usize = 64 * 1024;

/// How many of a large frame's first bytes its split is decided on, once:
/// enough for any message's head, and a bound on the work, however the
/// rest of the frame trickles in.
const SPLIT_PEEK: usize = 4096;

/// A large frame's bulk, read straight into its own buffer.
#[derive(Debug)]
struct Bulk {
    /// The frame's header length and where its bulk starts in the payload.
    head: usize,
    at: usize,
    /// The bytes so far; its length is how much of it is initialised (it
    /// grows ahead of the bytes by at most as much as has arrived, so
    /// memory follows the peer), `filled` how much has arrived.
    data: Vec<u8>,
    filled: usize,
    /// The bulk's whole length.
    want: usize,
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
            spare: None,
            discarding: None,
            skipped: Vec::new(),
            last_frame: 0..0,
            last_alone: false,
            split: None,
            bulk: None,
            whole: false,
            bulk_done: None,
        }
    }

    /// Reads large frames split from now on (`None`: whole again): a frame
    /// of at least [`BULK_MIN`] bytes that has not all arrived with its
    /// header, and for which `split` names where its bulk starts, has that
    /// bulk read straight from the stream into a buffer of its own, not
    /// through this reader's buffer; [`next_split`](FrameReader::next_split)
    /// hands out the payload's bytes before the bulk, and
    /// [`take_bulk`](FrameReader::take_bulk) the bulk. (A 1 MiB byte string
    /// then reaches the handler or the caller without being copied.)
    pub(crate) fn split_bulk(&mut self, split: Option<Split>) {
        self.split = split;
    }

    /// The bulk of the frame last handed out, if it was read split (see
    /// [`next_split`](FrameReader::next_split)); dropped at the next read
    /// if not taken.
    pub(crate) fn take_bulk(&mut self) -> Option<Vec<u8>> {
        self.bulk_done.take()
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
            if let Some(spare) = self.spare.take() {
                self.front.get_or_insert(spare);
                return true;
            }
            if charge.standing.is_none() {
                charge.standing = Standing::new(&charge.budget);
            }
            if let Some(lent) = charge.standing.as_ref().and_then(|s| s.lend(bytes)) {
                // `front` is empty (above): nothing to drop on the way.
                self.front.get_or_insert(lent);
                return true;
            }
        }
        // Not given the standing share: a kept one goes back.
        self.spare = None;
        match charge.budget.reserve(bytes, charge.wait) {
            Ok(r) => {
                self.front.get_or_insert(r);
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

    /// The next frame's payload (read split, its bytes before the bulk),
    /// reading from `r` as needed; `Ok(None)` at a clean end of stream
    /// between frames.
    ///
    /// # Errors
    /// A protocol error for a truncated frame or a negative length,
    /// [`Error::FrameTooLarge`], [`Error::Timeout`] when a read timeout
    /// expires (nothing is lost: call again), or the I/O error.
    pub(crate) fn next<R: Read + ?Sized>(&mut self, r: &mut R) -> Result<Option<&[u8]>> {
        Ok(self.advance(r)?.map(|at| &self.buf[at]))
    }

    /// [`next`](FrameReader::next), and the length of the frame's bulk if it
    /// was read split ([`split_bulk`](FrameReader::split_bulk); else 0): its
    /// payload is then the bytes returned followed by the bulk, which
    /// [`take_bulk`](FrameReader::take_bulk) hands over.
    ///
    /// # Errors
    /// As [`next`](FrameReader::next).
    pub(crate) fn next_split<R: Read + ?Sized>(
        &mut self,
        r: &mut R,
    ) -> Result<Option<(&[u8], usize)>> {
        let Some(at) = self.advance(r)? else {
            return Ok(None);
        };
        let bulk = self.bulk_done.as_ref().map_or(0, Vec::len);
        Ok(Some((&self.buf[at], bulk)))
    }

    /// Reads up to the next frame; where its payload (or, read split, the
    /// payload's bytes before the bulk) lies in the buffer.
    fn advance<R: Read + ?Sized>(&mut self, r: &mut R) -> Result<Option<Range<usize>>> {
        // The request of the frame last handed out has run, unless its
        // reservation was taken: a standing share is kept for the next small
        // frame, anything else given back. (Checked first: dropping a
        // reservation is a call, on every frame.)
        if let Some(last) = self.last.take() {
            if last.is_standing() {
                self.spare = Some(last);
            }
        }
        self.last_frame = 0..0;
        self.last_alone = false;
        self.bulk_done = None;
        loop {
            if let Some(bulk) = &mut self.bulk {
                if !fill_bulk(bulk, r)? {
                    let before = bulk.head + bulk.at;
                    return Err(truncated("frame", before + bulk.want, before + bulk.filled));
                }
                let Some(Bulk { head, at, data, .. }) = self.bulk.take() else {
                    continue;
                };
                // `last` is empty (above): swapped, nothing is dropped.
                std::mem::swap(&mut self.last, &mut self.front);
                let from = self.start + head;
                // The payload's bytes before the bulk were all that was
                // buffered: the next frame starts with a fresh read.
                self.start = 0;
                self.end = 0;
                self.last_frame = from..from + at;
                self.bulk_done = Some(data);
                return Ok(Some(from..from + at));
            }
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
                    std::mem::swap(&mut self.last, &mut self.front);
                    let from = self.start + head;
                    self.start = from + len;
                    self.last_frame = from..from + len;
                    self.whole = false;
                    if self.start == self.end {
                        // Everything consumed: start over at the front next
                        // time (and release an outsized buffer then).
                        self.start = 0;
                        self.end = 0;
                        self.last_alone = true;
                    }
                    return Ok(Some(from..from + len));
                }
                if self.start_bulk(head, len) {
                    continue;
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

    /// Starts reading the frame at the front split, if it is one to split:
    /// the bytes of its bulk already buffered move to the bulk's buffer.
    fn start_bulk(&mut self, head: usize, len: usize) -> bool {
        let Some(split) = self.split else {
            return false;
        };
        let arrived = &self.buf[self.start + head..self.end];
        // Decided once per frame, on its first bytes.
        if len < BULK_MIN || self.whole || arrived.len() < SPLIT_PEEK {
            return false;
        }
        let peek = &arrived[..SPLIT_PEEK];
        let Some(at) = split(peek, len).filter(|&at| at <= peek.len()) else {
            self.whole = true;
            return false;
        };
        // Its full length is allocated at once but written only as bytes
        // arrive (`fill_bulk`), so memory follows the bytes (where the
        // system commits allocations, as Windows does, the commit charge
        // does not).
        let want = len - at;
        let mut data = Vec::new();
        if data.try_reserve_exact(want).is_err() {
            return false;
        }
        data.extend_from_slice(&arrived[at..]);
        let filled = data.len();
        self.end = self.start + head + at;
        self.bulk = Some(Bulk {
            head,
            at,
            data,
            filled,
            want,
        });
        true
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
        let n = read_once(r, &mut self.buf[self.end..])?;
        self.end += n;
        Ok(n > 0)
    }
}

/// Reads a bulk until it is complete: `Ok(false)` if the stream ends first.
/// A timeout or an I/O error leaves what was read in place, to go on from.
fn fill_bulk<R: Read + ?Sized>(bulk: &mut Bulk, r: &mut R) -> Result<bool> {
    let want = bulk.want;
    while bulk.filled < want {
        if bulk.filled == bulk.data.len() {
            // Initialise ahead of the bytes by as much as has arrived (at
            // least one step): a peer that announces a large frame and sends
            // little gets little memory.
            let ahead = bulk.filled.max(GROWTH_STEP);
            bulk.data.resize(want.min(bulk.filled + ahead), 0);
        }
        match read_once(r, &mut bulk.data[bulk.filled..])? {
            0 => return Ok(false),
            n => bulk.filled += n,
        }
    }
    Ok(true)
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
        match read_once(r, &mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// One `read`, retried when interrupted; `Ok(0)` at the end of the stream.
fn read_once<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other.map_err(Error::from_io),
        }
    }
}

fn truncated(part: &str, expected: usize, got: usize) -> Error {
    Error::protocol(format!(
        "truncated frame: connection closed after {got} of {expected} {part} bytes"
    ))
}

#[cfg(test)]
mod tests;
