//! The message inside each frame once a connection is authenticated.
//!
//! ```text
//! call   = 0x01 id:varint method:str args:rest
//! notify = 0x02 method:str args:rest
//! ok     = 0x03 id:varint result:rest
//! error  = 0x04 id:varint kind:u8 message:str
//! str    = len:varint utf8-bytes
//! ```
//!
//! Varints are bincode 2's (see the codec). The first byte of a message is
//! never `0x80`, which starts a Python pickle: a connection whose first
//! message starts with `0x80` is a stock Python `BaseManager` client.

use crate::codec::{Decoder, write_varint_u64};
use crate::error::{Error, RemoteKind, Result};

pub(crate) const CALL: u8 = 0x01;
pub(crate) const NOTIFY: u8 = 0x02;
pub(crate) const OK: u8 = 0x03;
pub(crate) const ERROR: u8 = 0x04;

/// A message as received, borrowing from the frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    Call {
        id: u64,
        method: &'a str,
        args: &'a [u8],
    },
    Notify {
        method: &'a str,
        args: &'a [u8],
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
        let mut d = Decoder::new(rest);
        let msg = match tag {
            CALL => {
                let id = d.read_varint_u64().map_err(malformed)?;
                let method = read_str(&mut d)?;
                Message::Call {
                    id,
                    method,
                    args: rest_of(d),
                }
            }
            NOTIFY => {
                let method = read_str(&mut d)?;
                Message::Notify {
                    method,
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
pub(crate) fn call_head(out: &mut Vec<u8>, id: u64, method: &str) {
    out.push(CALL);
    write_varint_u64(out, id);
    write_str(out, method);
}

/// Appends the head of a notification; the caller appends the arguments.
pub(crate) fn notify_head(out: &mut Vec<u8>, method: &str) {
    out.push(NOTIFY);
    write_str(out, method);
}

/// Appends the head of a successful reply; the caller appends the result.
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

fn write_str(out: &mut Vec<u8>, s: &str) {
    write_varint_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn read_str<'a>(d: &mut Decoder<'a>) -> Result<&'a str> {
    let len = d.read_len().map_err(malformed)?;
    let bytes = d.read_bytes(len).map_err(malformed)?;
    std::str::from_utf8(bytes).map_err(|_| Error::protocol("method name or message is not UTF-8"))
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
    fn call_bytes_and_round_trip() {
        let mut out = Vec::new();
        call_head(&mut out, 7, "get");
        out.extend_from_slice(&[1, b'a']);
        assert_eq!(out, [0x01, 0x07, 0x03, b'g', b'e', b't', 0x01, b'a']);
        assert_eq!(
            Message::parse(&out).unwrap(),
            Message::Call {
                id: 7,
                method: "get",
                args: &[1, b'a']
            }
        );
    }

    #[test]
    fn every_kind_round_trips() {
        let mut out = Vec::new();
        notify_head(&mut out, "tick");
        assert_eq!(
            Message::parse(&out).unwrap(),
            Message::Notify {
                method: "tick",
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
    fn malformed_messages_are_errors_not_panics() {
        let mut valid = Vec::new();
        call_head(&mut valid, 1_000_000, "method");
        for cut in 0..valid.len() {
            assert!(Message::parse(&valid[..cut]).is_err(), "cut {cut}");
        }
        assert!(Message::parse(&[0x80, 4, 0x95]).is_err());
        assert!(Message::parse(&[0x09]).is_err());
        assert!(Message::parse(&[0x01, 0x00, 0x02, 0xff, 0xfe]).is_err());
        let mut e = Vec::new();
        error(&mut e, 1, RemoteKind::Handler, "x");
        e.push(0);
        assert!(Message::parse(&e).is_err());
    }
}
