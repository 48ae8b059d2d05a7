//! The wire by hand: frames, the client's half of the handshake, and
//! messages, so a test can send bytes no `Client` would.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use stdrpc::__private::crypto::hmac_sha256;

/// How long a raw read waits before the test fails as hung.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub const CHALLENGE: &[u8] = b"#CHALLENGE#";
pub const WELCOME: &[u8] = b"#WELCOME#";
pub const FAILURE: &[u8] = b"#FAILURE#";

/// One frame: the 4-byte big-endian length and the payload.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

/// Reads one frame with a 4-byte header (servers never send the escape).
pub fn read_frame(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut head = [0u8; 4];
    s.read_exact(&mut head)?;
    let len = u32::from_be_bytes(head);
    assert!(len < 1 << 28, "the server announced a frame of {len} bytes");
    let mut body = vec![0u8; len as usize];
    s.read_exact(&mut body)?;
    Ok(body)
}

/// Connects with a read timeout of [`READ_TIMEOUT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// How the server ended a raw connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// A clean end of stream.
    Eof,
    /// A reset (the server closed with bytes of ours unread).
    Reset,
}

/// Reads until the server closes; panics if it has not within
/// [`READ_TIMEOUT`] (the read timeout set by [`connect`]).
pub fn read_to_end(s: &mut TcpStream) -> (Vec<u8>, End) {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, End::Eof),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server did not close the connection within {READ_TIMEOUT:?}")
            }
            Err(_) => return (out, End::Reset),
        }
    }
}

/// Writes, ignoring the errors of a server that has already hung up.
pub fn write_lossy(s: &mut TcpStream, bytes: &[u8]) {
    let _ = s.write_all(bytes);
}

/// Half-closes our sending side (the server then sees end of stream).
pub fn close_write(s: &TcpStream) {
    let _ = s.shutdown(Shutdown::Write);
}

/// The client's side of the handshake for one server challenge: what the
/// client sends (answer, its own challenge, the final welcome, each a
/// frame) and the answer it expects from the server.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub answer: Vec<u8>,
    pub challenge: Vec<u8>,
    pub welcome: Vec<u8>,
    pub expected_answer: Vec<u8>,
}

impl Transcript {
    /// `challenge_payload` is the server's first frame.
    pub fn new(challenge_payload: &[u8], key: &[u8]) -> Transcript {
        let message = challenge_payload
            .strip_prefix(CHALLENGE)
            .unwrap_or_else(|| panic!("not a challenge: {challenge_payload:?}"));
        let mut answer = b"{sha256}".to_vec();
        answer.extend_from_slice(&hmac_sha256(key, message));
        let mut ours = b"#CHALLENGE#{sha256}".to_vec();
        ours.extend_from_slice(&[42u8; 40]);
        let mut expected = b"{sha256}".to_vec();
        expected.extend_from_slice(&hmac_sha256(key, &ours[CHALLENGE.len()..]));
        Transcript {
            answer: frame(&answer),
            challenge: frame(&ours),
            welcome: frame(WELCOME),
            expected_answer: expected,
        }
    }

    /// Every byte the client sends, in order.
    pub fn bytes(&self) -> Vec<u8> {
        [&self.answer[..], &self.challenge, &self.welcome].concat()
    }
}

/// Opens a raw socket and performs the client's half of the handshake by
/// hand (one step at a time, checking each server frame).
pub fn authenticated(addr: SocketAddr, key: &[u8]) -> TcpStream {
    let mut s = connect(addr);
    let challenge = read_frame(&mut s).unwrap();
    let t = Transcript::new(&challenge, key);
    s.write_all(&t.answer).unwrap();
    assert_eq!(read_frame(&mut s).unwrap(), WELCOME);
    s.write_all(&t.challenge).unwrap();
    assert_eq!(read_frame(&mut s).unwrap(), t.expected_answer);
    s.write_all(&t.welcome).unwrap();
    s
}

fn string(out: &mut Vec<u8>, s: &str) {
    stdrpc::__private::write_varint_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A call message (the payload of its frame).
pub fn call(id: u64, method: &str, args: &[u8]) -> Vec<u8> {
    let mut m = vec![0x01];
    stdrpc::__private::write_varint_u64(&mut m, id);
    string(&mut m, method);
    m.extend_from_slice(args);
    m
}

/// A notification message (the payload of its frame).
pub fn notify(method: &str, args: &[u8]) -> Vec<u8> {
    let mut m = vec![0x02];
    string(&mut m, method);
    m.extend_from_slice(args);
    m
}

/// A reply as the server sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ok { id: u64, result: Vec<u8> },
    Err { id: u64, kind: u8, message: String },
}

impl Reply {
    pub fn id(&self) -> u64 {
        match self {
            Reply::Ok { id, .. } | Reply::Err { id, .. } => *id,
        }
    }
}

/// Parses a reply; panics on anything a server must never send.
pub fn parse_reply(payload: &[u8]) -> Reply {
    let mut d = stdrpc::Decoder::new(payload);
    let tag = d.read_u8().expect("reply tag");
    let id = d.read_varint_u64().expect("reply id");
    match tag {
        0x03 => Reply::Ok {
            id,
            result: d.read_bytes(d.remaining()).unwrap().to_vec(),
        },
        0x04 => {
            let kind = d.read_u8().expect("error kind");
            let len = d.read_len().expect("message length");
            let message = String::from_utf8(d.read_bytes(len).unwrap().to_vec())
                .expect("an error message is UTF-8");
            assert_eq!(d.remaining(), 0, "trailing bytes in {payload:?}");
            Reply::Err { id, kind, message }
        }
        other => panic!("the server sent a message of type {other:#04x}: {payload:?}"),
    }
}

/// Splits bytes received from the server into reply frames; panics on a
/// partial frame at the end or a malformed reply.
pub fn split_replies(mut bytes: &[u8]) -> Vec<Reply> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 4, "a partial frame header: {bytes:?}");
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert!(bytes.len() >= 4 + len, "a partial frame: {bytes:?}");
        out.push(parse_reply(&bytes[4..4 + len]));
        bytes = &bytes[4 + len..];
    }
    out
}
