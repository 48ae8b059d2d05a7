//! The message inside each frame once a connection is authenticated.
//!
//! ```text
//! call         = 0x01 id:varint method:str args:rest
//! notify       = 0x02 method:str args:rest
//! ok           = 0x03 id:varint result:rest
//! error        = 0x04 id:varint kind:u8 message:str
//! typed-call   = 0x05 id:varint method:str args_fp:u32le result_fp:u32le args:rest
//!              | 0x15 id:varint method:str args_fp:u32le result_fp:u32le ext args:rest
//! typed-notify = 0x06 method:str args_fp:u32le args:rest
//!              | 0x16 method:str args_fp:u32le ext args:rest
//! ext          = ext_len:varint (tag:u8 len:varint value)*   ; ext_len bytes in all
//! str          = len:varint utf8-bytes
//! ```
//!
//! A fingerprint is a shape's (see `codec::shape`); `0` is "unknown, do not
//! check". Extension tags below `0x80` that this version does not know are
//! skipped; an unknown tag from `0x80` up must be understood, and the
//! message is refused ([`Message::Unsupported`]). Tag `0x01` is a deadline:
//! a relative timeout in microseconds, as a varint.
//!
//! Varints are bincode 2's (see the codec). The first byte of a message is
//! never `0x80`, which starts a Python pickle: a connection whose first
//! message starts with `0x80` is a stock Python `BaseManager` client.

use std::time::Duration;

use crate::codec::{Decoder, write_varint_u64};
use crate::error::{Error, RemoteKind, Result};

pub(crate) const CALL: u8 = 0x01;
pub(crate) const NOTIFY: u8 = 0x02;
pub(crate) const OK: u8 = 0x03;
pub(crate) const ERROR: u8 = 0x04;
pub(crate) const TYPED_CALL: u8 = 0x05;
pub(crate) const TYPED_NOTIFY: u8 = 0x06;
/// Set on a typed call or notification: an extension block follows the
/// fingerprints.
pub(crate) const HAS_EXT: u8 = 0x10;
/// The extension tag of a deadline (a relative timeout in microseconds).
pub(crate) const EXT_DEADLINE: u8 = 0x01;

/// The fingerprints a typed call or notification carries; `0` means
/// "unknown" and is not checked. Untyped messages carry [`Check::NONE`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Check {
    /// The argument shape's fingerprint.
    pub(crate) args: u32,
    /// The expected result shape's fingerprint (`0` for a notification).
    pub(crate) result: u32,
}

impl Check {
    /// Nothing to check: an untyped call, or a typed one of opaque shapes.
    pub(crate) const NONE: Check = Check { args: 0, result: 0 };
}

/// A message as received, borrowing from the frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    /// A call, typed (`0x05`/`0x15`) or not (`0x01`, with [`Check::NONE`]).
    Call {
        id: u64,
        /// The method's name, not yet checked for UTF-8: a name a handler
        /// has needs no check, and `Registry::callee` checks any other.
        method: &'a [u8],
        check: Check,
        /// The caller's deadline extension, relative to the message's arrival.
        deadline: Option<Duration>,
        args: &'a [u8],
    },
    /// A notification, typed (`0x06`/`0x16`) or not (`0x02`).
    Notify {
        method: &'a [u8],
        check: Check,
        deadline: Option<Duration>,
        args: &'a [u8],
    },
    /// A typed call or notification carrying a must-understand extension
    /// this version does not know: it is refused, not run (a call gets an
    /// error reply; `id` is `None` for a notification).
    Unsupported {
        id: Option<u64>,
        tag: u8,
    },
    Ok {
        id: u64,
        result: &'a [u8],
    },
    Error {
        id: u64,
        kind: RemoteKind,
        message: &'a str,
    },
}

impl<'a> Message<'a> {
    /// Parses one frame's payload. Never panics; every malformation is a
    /// protocol error.
    pub(crate) fn parse(frame: &'a [u8]) -> Result<Message<'a>> {
        let Some((&tag, rest)) = frame.split_first() else {
            return Err(Error::protocol("empty message"));
        };
        match Self::parse_common(tag, Cursor(rest)) {
            Some(msg) => Ok(msg),
            None => Self::parse_careful(tag, rest),
        }
    }

    /// Parses any message, and says what is wrong with a malformed one.
    fn parse_careful(tag: u8, rest: &'a [u8]) -> Result<Message<'a>> {
        let mut d = Decoder::new(rest);
        let msg = match tag {
            CALL => {
                let id = d.read_varint_u64().map_err(malformed)?;
                let method = read_name(&mut d)?;
                Message::Call {
                    id,
                    method,
                    check: Check::NONE,
                    deadline: None,
                    args: rest_of(d),
                }
            }
            NOTIFY => {
                let method = read_name(&mut d)?;
                Message::Notify {
                    method,
                    check: Check::NONE,
                    deadline: None,
                    args: rest_of(d),
                }
            }
            TYPED_CALL | 0x15 => {
                let id = d.read_varint_u64().map_err(malformed)?;
                let method = read_name(&mut d)?;
                let check = Check {
                    args: read_u32(&mut d)?,
                    result: read_u32(&mut d)?,
                };
                let ext = if tag & HAS_EXT != 0 {
                    read_ext(&mut d)?
                } else {
                    Ext::default()
                };
                if let Some(tag) = ext.unsupported {
                    return Ok(Message::Unsupported { id: Some(id), tag });
                }
                Message::Call {
                    id,
                    method,
                    check,
                    deadline: ext.deadline,
                    args: rest_of(d),
                }
            }
            TYPED_NOTIFY | 0x16 => {
                let method = read_name(&mut d)?;
                let check = Check {
                    args: read_u32(&mut d)?,
                    result: 0,
                };
                let ext = if tag & HAS_EXT != 0 {
                    read_ext(&mut d)?
                } else {
                    Ext::default()
                };
                if let Some(tag) = ext.unsupported {
                    return Ok(Message::Unsupported { id: None, tag });
                }
                Message::Notify {
                    method,
                    check,
                    deadline: ext.deadline,
                    args: rest_of(d),
                }
            }
            OK => {
                let id = d.read_varint_u64().map_err(malformed)?;
                Message::Ok {
                    id,
                    result: rest_of(d),
                }
            }
            ERROR => {
                let id = d.read_varint_u64().map_err(malformed)?;
                let kind = RemoteKind::from_code(d.read_u8().map_err(malformed)?);
                let message = read_str(&mut d)?;
                if d.remaining() != 0 {
                    return Err(Error::protocol("trailing bytes after an error reply"));
                }
                Message::Error { id, kind, message }
            }
            0x80 => {
                return Err(Error::protocol(
                    "a Python pickle where an stdrpc message was expected",
                ));
            }
            other => {
                return Err(Error::protocol(format!(
                    "unknown message type 0x{other:02x}"
                )));
            }
        };
        Ok(msg)
    }
}

/// Appends the head of a call; the caller appends the encoded arguments.
#[inline]
pub(crate) fn call_head(out: &mut Vec<u8>, id: u64, method: &str) {
    out.push(CALL);
    write_varint_u64(out, id);
    write_str(out, method);
}

/// Appends the head of an untyped notification; the caller appends the
/// arguments. The client sends typed ones; this form is for other peers
/// (and tests).
#[cfg(test)]
#[inline]
pub(crate) fn notify_head(out: &mut Vec<u8>, method: &str) {
    out.push(NOTIFY);
    write_str(out, method);
}

/// Appends the head of a typed call (no extensions); the caller appends the
/// encoded arguments.
#[inline]
pub(crate) fn typed_call_head(out: &mut Vec<u8>, id: u64, method: &str, check: Check) {
    out.push(TYPED_CALL);
    write_varint_u64(out, id);
    write_str(out, method);
    out.extend_from_slice(&check.args.to_le_bytes());
    out.extend_from_slice(&check.result.to_le_bytes());
}

/// Appends the head of a typed call that carries the caller's deadline:
/// `0x15`, then an extension block with one field, tag `0x01`, the timeout
/// in microseconds as a varint (relative: clocks differ between machines).
pub(crate) fn typed_call_head_with_deadline(
    out: &mut Vec<u8>,
    id: u64,
    method: &str,
    check: Check,
    timeout: Duration,
) {
    out.push(TYPED_CALL | HAS_EXT);
    write_varint_u64(out, id);
    write_str(out, method);
    out.extend_from_slice(&check.args.to_le_bytes());
    out.extend_from_slice(&check.result.to_le_bytes());
    let micros = u64::try_from(timeout.as_micros()).unwrap_or(u64::MAX);
    let mut value = Vec::with_capacity(10);
    write_varint_u64(&mut value, micros);
    // A varint is at most 10 bytes: each length fits in one varint byte.
    out.push(2 + value.len() as u8);
    out.push(EXT_DEADLINE);
    out.push(value.len() as u8);
    out.extend_from_slice(&value);
}

/// Appends the head of a typed notification; the caller appends the
/// arguments.
#[inline]
pub(crate) fn typed_notify_head(out: &mut Vec<u8>, method: &str, args_fp: u32) {
    out.push(TYPED_NOTIFY);
    write_str(out, method);
    out.extend_from_slice(&args_fp.to_le_bytes());
}

/// Appends the head of a successful reply; the caller appends the result.
#[inline]
pub(crate) fn ok_head(out: &mut Vec<u8>, id: u64) {
    out.push(OK);
    write_varint_u64(out, id);
}

/// Appends a whole error reply.
pub(crate) fn error(out: &mut Vec<u8>, id: u64, kind: RemoteKind, message: &str) {
    out.push(ERROR);
    write_varint_u64(out, id);
    out.push(kind.code());
    write_str(out, message);
}

#[inline]
fn write_str(out: &mut Vec<u8>, s: &str) {
    write_varint_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn read_str<'a>(d: &mut Decoder<'a>) -> Result<&'a str> {
    let len = d.read_len().map_err(malformed)?;
    let bytes = d.read_bytes(len).map_err(malformed)?;
    std::str::from_utf8(bytes).map_err(|_| Error::protocol("method name or message is not UTF-8"))
}

/// A method name's bytes (checked for UTF-8 later: see [`Message::Call`]).
fn read_name<'a>(d: &mut Decoder<'a>) -> Result<&'a [u8]> {
    let len = d.read_len().map_err(malformed)?;
    d.read_bytes(len).map_err(malformed)
}

fn read_u32(d: &mut Decoder<'_>) -> Result<u32> {
    let bytes = d.read_bytes(4).map_err(malformed)?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

impl<'a> Message<'a> {
    /// The common, well-formed messages (calls, notifications and replies
    /// without an extension block) read straight off the slice, with no
    /// error built on the way; `None` sends the frame through the careful
    /// path of [`parse`](Message::parse), which says what is wrong.
    fn parse_common(tag: u8, mut c: Cursor<'a>) -> Option<Message<'a>> {
        let msg = match tag {
            CALL | TYPED_CALL => {
                let id = c.varint()?;
                let method = c.name()?;
                let check = if tag == TYPED_CALL {
                    Check {
                        args: c.u32()?,
                        result: c.u32()?,
                    }
                } else {
                    Check::NONE
                };
                Message::Call {
                    id,
                    method,
                    check,
                    deadline: None,
                    args: c.0,
                }
            }
            NOTIFY | TYPED_NOTIFY => {
                let method = c.name()?;
                let check = if tag == TYPED_NOTIFY {
                    Check {
                        args: c.u32()?,
                        result: 0,
                    }
                } else {
                    Check::NONE
                };
                Message::Notify {
                    method,
                    check,
                    deadline: None,
                    args: c.0,
                }
            }
            OK => Message::Ok {
                id: c.varint()?,
                result: c.0,
            },
            _ => return None,
        };
        Some(msg)
    }
}

/// Where a large call's bulk starts (a `frame::Split`): a call whose
/// arguments are one byte string (a length, then exactly the rest of the
/// frame; a handler taking one `Vec<u8>`) has that string's bytes read into
/// a buffer of their own. The bytes before them are the message with its
/// arguments cut to the length.
pub(crate) fn call_bulk(prefix: &[u8], len: usize) -> Option<usize> {
    match Message::parse(prefix).ok()? {
        Message::Call { args, .. } => byte_string_after(prefix, args, len),
        _ => None,
    }
}

/// Where a large reply's bulk starts, as [`call_bulk`] for a call: a
/// result that is one byte string.
pub(crate) fn reply_bulk(prefix: &[u8], len: usize) -> Option<usize> {
    match Message::parse(prefix).ok()? {
        Message::Ok { result, .. } => byte_string_after(prefix, result, len),
        _ => None,
    }
}

/// Where the bytes of the byte string at the front of `rest` (the tail of
/// `prefix`, a frame's first bytes) start, if it runs to the frame's end
/// and its length is written in its shortest form (as every encoder of the
/// codec writes it), so that the bytes before the string can be rebuilt
/// exactly for a handler that wants them (`registry::Args::ByteString`).
fn byte_string_after(prefix: &[u8], rest: &[u8], len: usize) -> Option<usize> {
    let mut c = Cursor(rest);
    let n = c.varint()?;
    let length = rest.len() - c.0.len();
    let mut shortest = Vec::with_capacity(9);
    write_varint_u64(&mut shortest, n);
    if shortest.len() != length {
        return None;
    }
    let at = prefix.len() - c.0.len();
    (at.checked_add(usize::try_from(n).ok()?)? == len).then_some(at)
}

/// The unread rest of a message, for [`Message::parse_common`].
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    /// A varint as the codec writes it (`codec/varint.rs`).
    fn varint(&mut self) -> Option<u64> {
        let [tag] = self.take::<1>()?;
        Some(match tag {
            0..=250 => u64::from(tag),
            251 => u64::from(u16::from_le_bytes(self.take()?)),
            252 => u64::from(u32::from_le_bytes(self.take()?)),
            253 => u64::from_le_bytes(self.take()?),
            _ => return None,
        })
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take()?))
    }

    /// A method name's bytes (see [`Message::Call`]).
    fn name(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let (bytes, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        Some(bytes)
    }
}

/// What an extension block says.
#[derive(Debug, Default, PartialEq, Eq)]
struct Ext {
    deadline: Option<Duration>,
    /// The first must-understand tag this version does not know.
    unsupported: Option<u8>,
}

/// Reads an extension block: `ext_len:varint` then fields of
/// `tag:u8 len:varint value`.
fn read_ext(d: &mut Decoder<'_>) -> Result<Ext> {
    let len = d.read_len().map_err(malformed)?;
    let mut block = Decoder::new(d.read_bytes(len).map_err(malformed)?);
    let mut ext = Ext::default();
    while block.remaining() > 0 {
        let tag = block.read_u8().map_err(malformed)?;
        let len = block.read_len().map_err(malformed)?;
        let value = block.read_bytes(len).map_err(malformed)?;
        match tag {
            EXT_DEADLINE => {
                let mut v = Decoder::new(value);
                let micros = v.read_varint_u64().map_err(malformed)?;
                v.finish().map_err(malformed)?;
                ext.deadline = Some(Duration::from_micros(micros));
            }
            0x80.. if ext.unsupported.is_none() => ext.unsupported = Some(tag),
            _ => {}
        }
    }
    Ok(ext)
}

fn rest_of<'a>(mut d: Decoder<'a>) -> &'a [u8] {
    let n = d.remaining();
    // Cannot fail: exactly the remaining bytes are requested.
    d.read_bytes(n).unwrap_or_default()
}

fn malformed(e: Error) -> Error {
    Error::protocol(format!("malformed message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_reads_what_the_careful_one_reads() {
        let mut m = Vec::new();
        typed_call_head(&mut m, 300, "méthode", Check { args: 7, result: 9 });
        m.extend_from_slice(&[1, 2, 3]);
        let mut seeds = vec![m];
        for head in [call_head as fn(&mut Vec<u8>, u64, &str), |o, id, _| {
            ok_head(o, id)
        }] {
            let mut m = Vec::new();
            head(&mut m, 70_000, "get");
            m.push(4);
            seeds.push(m);
        }
        let mut m = Vec::new();
        typed_notify_head(&mut m, "tick", 5);
        seeds.push(m);
        // Every prefix, and every single-byte change, of each seed.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut agree = 0;
        for seed in &seeds {
            let mut cases: Vec<Vec<u8>> = (0..=seed.len()).map(|n| seed[..n].to_vec()).collect();
            for i in 0..seed.len() {
                for _ in 0..16 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let mut m = seed.clone();
                    m[i] = state as u8;
                    cases.push(m);
                }
            }
            for case in cases {
                let Some((&tag, rest)) = case.split_first() else {
                    continue;
                };
                if let Some(fast) = Message::parse_common(tag, Cursor(rest)) {
                    assert_eq!(Message::parse_careful(tag, rest).unwrap(), fast, "{case:?}");
                    agree += 1;
                }
            }
        }
        assert!(agree > 100, "only {agree} messages took the fast path");
    }

    #[test]
    fn call_bytes_and_round_trip() {
        let mut out = Vec::new();
        call_head(&mut out, 7, "get");
        out.extend_from_slice(&[1, b'a']);
        assert_eq!(out, [0x01, 0x07, 0x03, b'g', b'e', b't', 0x01, b'a']);
        assert_eq!(
            Message::parse(&out).unwrap(),
            Message::Call {
                id: 7,
                method: b"get",
                check: Check::NONE,
                deadline: None,
                args: &[1, b'a']
            }
        );
    }

    #[test]
    fn the_bulk_of_a_call_or_reply_is_a_byte_string_running_to_the_end() {
        let string = |len: u64| {
            let mut out = Vec::new();
            write_varint_u64(&mut out, len);
            out
        };
        // A typed call with a deadline, then a length of 100,000 (252 and
        // four bytes): the bulk starts after the length.
        let mut call = Vec::new();
        typed_call_head_with_deadline(
            &mut call,
            9,
            "echo",
            Check { args: 1, result: 2 },
            Duration::from_millis(5),
        );
        let head = call.len();
        call.extend(string(100_000));
        assert_eq!(call.len(), head + 5);
        let len = call.len() + 100_000;
        // Given the prefix alone (the rest has not arrived).
        assert_eq!(call_bulk(&call, len), Some(head + 5));
        assert_eq!(call_bulk(&call, len + 1), None, "more after the string");
        assert_eq!(call_bulk(&call, len - 1), None, "a string cut short");
        assert_eq!(reply_bulk(&call, len), None, "not a reply");
        assert_eq!(
            call_bulk(&call[..head + 2], len),
            None,
            "length not all here"
        );
        // A length written wider than it needs (tag 253 and eight bytes) is
        // read whole: the bytes before the string could not be rebuilt.
        let mut wide = call[..head].to_vec();
        wide.push(253);
        wide.extend_from_slice(&100_000u64.to_le_bytes());
        assert_eq!(call_bulk(&wide, head + 9 + 100_000), None);
        wide.truncate(head);
        wide.extend(string(100_000));
        assert_eq!(call_bulk(&wide, head + 5 + 100_000), Some(head + 5));
        let mut untyped = Vec::new();
        call_head(&mut untyped, 9, "echo");
        let head = untyped.len();
        untyped.extend(string(70_000));
        assert_eq!(call_bulk(&untyped, untyped.len() + 70_000), Some(head + 5));
        let mut reply = Vec::new();
        ok_head(&mut reply, 300);
        let head = reply.len();
        reply.extend(string(1 << 20));
        reply.extend_from_slice(b"first bytes");
        let len = head + 5 + (1 << 20);
        assert_eq!(reply_bulk(&reply, len), Some(head + 5));
        assert_eq!(call_bulk(&reply, len), None, "not a call");
        // Notifications are never split, nor anything that is not a message.
        let mut notify = Vec::new();
        notify_head(&mut notify, "tick");
        notify.extend(string(70_000));
        assert_eq!(call_bulk(&notify, notify.len() + 70_000), None);
        assert_eq!(call_bulk(&[0x80, 0x04, 0x95], 100_000), None, "a pickle");
        assert_eq!(call_bulk(&[], 100_000), None);
    }

    #[test]
    fn every_kind_round_trips() {
        let mut out = Vec::new();
        notify_head(&mut out, "tick");
        assert_eq!(
            Message::parse(&out).unwrap(),
            Message::Notify {
                method: b"tick",
                check: Check::NONE,
                deadline: None,
                args: &[]
            }
        );
        out.clear();
        ok_head(&mut out, 300);
        out.push(9);
        assert_eq!(out, [0x03, 0xfb, 0x2c, 0x01, 0x09]);
        assert_eq!(
            Message::parse(&out).unwrap(),
            Message::Ok {
                id: 300,
                result: &[9]
            }
        );
        out.clear();
        error(&mut out, 1, RemoteKind::NoSuchMethod, "nope");
        assert_eq!(
            Message::parse(&out).unwrap(),
            Message::Error {
                id: 1,
                kind: RemoteKind::NoSuchMethod,
                message: "nope"
            }
        );
    }

    #[test]
    fn a_deadline_head_parses_back() {
        let mut m = Vec::new();
        let check = Check { args: 1, result: 2 };
        typed_call_head_with_deadline(&mut m, 9, "f", check, Duration::from_micros(1500));
        // ext_len 5: tag 0x01, len 3, 1500 as a varint (0xfb then u16le).
        assert_eq!(
            m,
            [
                0x15, 9, 1, b'f', 1, 0, 0, 0, 2, 0, 0, 0, 5, 0x01, 3, 0xfb, 0xdc, 0x05
            ]
        );
        m.push(0xaa);
        match Message::parse(&m).unwrap() {
            Message::Call {
                id, deadline, args, ..
            } => {
                assert_eq!(
                    (id, deadline, args),
                    (9, Some(Duration::from_micros(1500)), &[0xaa][..])
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn typed_messages_bytes_and_round_trip() {
        let mut out = Vec::new();
        let check = Check {
            args: 0x0403_0201,
            result: 0x0807_0605,
        };
        typed_call_head(&mut out, 7, "add", check);
        out.extend_from_slice(&[2, 4]);
        assert_eq!(
            out,
            [0x05, 7, 3, b'a', b'd', b'd', 1, 2, 3, 4, 5, 6, 7, 8, 2, 4]
        );
        assert_eq!(
            Message::parse(&out).unwrap(),
            Message::Call {
                id: 7,
                method: b"add",
                check,
                deadline: None,
                args: &[2, 4]
            }
        );
        out.clear();
        typed_notify_head(&mut out, "bump", 9);
        out.push(14);
        assert_eq!(out, [0x06, 4, b'b', b'u', b'm', b'p', 9, 0, 0, 0, 14]);
        assert_eq!(
            Message::parse(&out).unwrap(),
            Message::Notify {
                method: b"bump",
                check: Check { args: 9, result: 0 },
                deadline: None,
                args: &[14]
            }
        );
    }

    #[test]
    fn extension_block() {
        // 0x15: a deadline of 1500 µs (varint 251 220 5), an unknown
        // skippable tag 0x02 with two bytes, then the arguments.
        let mut m = vec![0x15, 1, 1, b'f', 0, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[9, 0x01, 3, 251, 0xdc, 0x05, 0x02, 2, 0xaa, 0xbb]);
        m.push(42);
        assert_eq!(
            Message::parse(&m).unwrap(),
            Message::Call {
                id: 1,
                method: b"f",
                check: Check::NONE,
                deadline: Some(Duration::from_micros(1500)),
                args: &[42]
            }
        );
        // A must-understand tag refuses the message, naming the tag.
        let m = [0x16, 1, b'f', 0, 0, 0, 0, 2, 0x90, 0, 42];
        assert_eq!(
            Message::parse(&m).unwrap(),
            Message::Unsupported {
                id: None,
                tag: 0x90
            }
        );
        let m = [0x15, 3, 1, b'f', 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x81, 0];
        assert_eq!(
            Message::parse(&m).unwrap(),
            Message::Unsupported {
                id: Some(3),
                tag: 0x81
            }
        );
        // Truncated blocks and fields are protocol errors.
        for bad in [
            &[0x16, 1, b'f', 0, 0, 0, 0, 3, 0x02, 5, 0][..],
            &[0x16, 1, b'f', 0, 0, 0, 0, 9][..],
            &[0x16, 1, b'f', 0, 0, 0, 0, 3, 0x01, 1, 251][..],
        ] {
            assert!(Message::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let mut valid = Vec::new();
        call_head(&mut valid, 1_000_000, "method");
        for cut in 0..valid.len() {
            assert!(Message::parse(&valid[..cut]).is_err(), "cut {cut}");
        }
        let mut typed = Vec::new();
        typed_call_head(&mut typed, 1_000_000, "method", Check::NONE);
        for cut in 0..typed.len() {
            assert!(Message::parse(&typed[..cut]).is_err(), "cut {cut}");
        }
        assert!(Message::parse(&[0x80, 4, 0x95]).is_err());
        assert!(Message::parse(&[0x09]).is_err());
        // A name is read as bytes; the method table checks UTF-8 when no
        // handler has it (`Registry::callee`).
        assert!(matches!(
            Message::parse(&[0x01, 0x00, 0x02, 0xff, 0xfe]),
            Ok(Message::Call {
                method: [0xff, 0xfe],
                ..
            })
        ));
        let mut e = Vec::new();
        error(&mut e, 1, RemoteKind::Handler, "x");
        e.push(0);
        assert!(Message::parse(&e).is_err());
    }
}
