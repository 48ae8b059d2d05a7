//! The authkey handshake of CPython's `multiprocessing.connection`, both roles.
//!
//! The handshake is mutual and the accepting side challenges first:
//!
//! 1. server → client: `#CHALLENGE#` + `{sha256}` + 40 random bytes;
//! 2. client → server: `{sha256}` + HMAC-SHA256(authkey, `{sha256}` + random);
//! 3. server → client: `#WELCOME#` or `#FAILURE#`;
//! 4. to 6.: the same with the roles swapped.
//!
//! Python 3.11 and older challenge with 20 bare random bytes and answer every
//! challenge with a bare 16-byte HMAC-MD5. We answer such challenges the same
//! way, and accept such answers unless `strict` is set.
//!
//! The functions here are pure protocol over any `Read + Write`: the caller
//! bounds the whole exchange in time (see `stream::Deadline`). Every frame
//! read here is limited to [`HANDSHAKE_MAX_FRAME`] bytes.

use std::io::{Read, Write};

use crate::crypto::{constant_time_eq, fill_random, hmac_md5, hmac_sha256};
use crate::error::{Error, Result};
use crate::frame;

/// The largest handshake frame either side reads, as in CPython.
pub(crate) const HANDSHAKE_MAX_FRAME: usize = 256;

pub(crate) const CHALLENGE: &[u8] = b"#CHALLENGE#";
pub(crate) const WELCOME: &[u8] = b"#WELCOME#";
pub(crate) const FAILURE: &[u8] = b"#FAILURE#";

/// The number of random bytes in a challenge we send (CPython's `MESSAGE_LENGTH`).
const NONCE_LEN: usize = 40;
const SHA256_PREFIX: &[u8] = b"{sha256}";
const MD5_PREFIX: &[u8] = b"{md5}";
/// A challenge payload of this length is legacy (Python <= 3.11): answered
/// with a bare HMAC-MD5. Shorter challenges are refused, as CPython does.
const LEGACY_CHALLENGE: usize = 20;

/// The accepting side's half: challenge the peer, then answer its challenge.
pub(crate) fn server<S: Read + Write + ?Sized>(
    s: &mut S,
    authkey: &[u8],
    strict: bool,
) -> Result<()> {
    server_then(s, authkey, strict, || Ok(()))
}

/// [`server`], calling `proved` as soon as the peer has proved it holds the
/// key (its answer verified, `#WELCOME#` sent) and before the peer's own
/// challenge; an error from `proved` ends the handshake there.
pub(crate) fn server_then<S: Read + Write + ?Sized>(
    s: &mut S,
    authkey: &[u8],
    strict: bool,
    proved: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    deliver_challenge(s, authkey, strict, &nonce)?;
    proved()?;
    answer_challenge(s, authkey, strict)
}

/// The connecting side's half: answer the peer's challenge, then challenge it.
///
/// The final `#WELCOME#` is written before this returns; on a socket with
/// `TCP_NODELAY` it leaves at once and cannot delay the first request.
pub(crate) fn client<S: Read + Write + ?Sized>(
    s: &mut S,
    authkey: &[u8],
    strict: bool,
) -> Result<()> {
    answer_challenge(s, authkey, strict)?;
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    deliver_challenge(s, authkey, strict, &nonce)
}

/// Sends `#CHALLENGE#{sha256}<nonce>`, verifies the answer, and replies
/// `#WELCOME#` or `#FAILURE#`.
pub(crate) fn deliver_challenge<S: Read + Write + ?Sized>(
    s: &mut S,
    authkey: &[u8],
    strict: bool,
    nonce: &[u8],
) -> Result<()> {
    let mut challenge = Vec::with_capacity(CHALLENGE.len() + SHA256_PREFIX.len() + nonce.len());
    challenge.extend_from_slice(CHALLENGE);
    challenge.extend_from_slice(SHA256_PREFIX);
    challenge.extend_from_slice(nonce);
    frame::write(s, &challenge)?;
    s.flush()?;
    // The MAC covers the digest prefix as well as the random bytes.
    let message = &challenge[CHALLENGE.len()..];
    let answer = read_handshake_frame(s)?;
    match verify(authkey, message, &answer, strict) {
        Ok(()) => {
            frame::write(s, WELCOME)?;
            s.flush()?;
            Ok(())
        }
        Err(e) => {
            // Best effort: the peer may already be gone, and the failure we
            // report is the verification error, not this write's.
            let _ = frame::write(s, FAILURE).and_then(|()| s.flush());
            Err(e)
        }
    }
}

/// Reads the peer's challenge, answers it, and expects `#WELCOME#`.
///
/// With `strict`, a challenge that asks for HMAC-MD5 is refused rather than
/// answered: a strict peer uses no MD5 in either direction.
pub(crate) fn answer_challenge<S: Read + Write + ?Sized>(
    s: &mut S,
    authkey: &[u8],
    strict: bool,
) -> Result<()> {
    let challenge = read_handshake_frame(s)?;
    let Some(message) = challenge.strip_prefix(CHALLENGE) else {
        if let Some(reason) = challenge.strip_prefix(FAILURE) {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                format!(
                    "server refused the connection: {}",
                    String::from_utf8_lossy(reason).trim()
                ),
            )));
        }
        return Err(Error::protocol(format!(
            "expected a challenge, got {}",
            escape(&challenge)
        )));
    };
    let response = respond(authkey, message, strict)?;
    frame::write(s, &response)?;
    s.flush()?;
    let verdict = read_handshake_frame(s)?;
    if verdict == WELCOME {
        Ok(())
    } else if verdict == FAILURE {
        Err(Error::auth(
            "the peer rejected our answer (the authkeys differ)",
        ))
    } else {
        Err(Error::protocol(format!(
            "expected #WELCOME# or #FAILURE#, got {}",
            escape(&verdict)
        )))
    }
}

/// The answer to a challenge payload (the bytes after `#CHALLENGE#`).
pub(crate) fn respond(authkey: &[u8], message: &[u8], strict: bool) -> Result<Vec<u8>> {
    if message.len() < LEGACY_CHALLENGE {
        return Err(Error::protocol(format!(
            "challenge of {} bytes is too short (at least 20 expected)",
            message.len()
        )));
    }
    let refuse_md5 =
        || Error::auth("the peer asked for legacy HMAC-MD5, which strict authentication refuses");
    if message.len() == LEGACY_CHALLENGE {
        if strict {
            return Err(refuse_md5());
        }
        return Ok(hmac_md5(authkey, message).to_vec());
    }
    match digest_prefix(message)? {
        Digest::Sha256 => {
            let mut out = SHA256_PREFIX.to_vec();
            out.extend_from_slice(&hmac_sha256(authkey, message));
            Ok(out)
        }
        Digest::Md5 if strict => Err(refuse_md5()),
        Digest::Md5 => {
            let mut out = MD5_PREFIX.to_vec();
            out.extend_from_slice(&hmac_md5(authkey, message));
            Ok(out)
        }
    }
}

/// Checks an answer to our challenge `message` (prefix included).
pub(crate) fn verify(authkey: &[u8], message: &[u8], answer: &[u8], strict: bool) -> Result<()> {
    let (digest, mac) = if answer.len() == 16 {
        (Digest::Md5, answer)
    } else {
        match digest_prefix(answer) {
            Ok(Digest::Sha256) => (Digest::Sha256, &answer[SHA256_PREFIX.len()..]),
            Ok(Digest::Md5) => (Digest::Md5, &answer[MD5_PREFIX.len()..]),
            Err(_) => {
                return Err(Error::auth(format!(
                    "unsupported answer to our challenge: {}",
                    escape(answer)
                )));
            }
        }
    };
    let ok = match digest {
        Digest::Md5 if strict => {
            return Err(Error::auth(
                "the peer answered with legacy HMAC-MD5, which strict authentication refuses",
            ));
        }
        Digest::Md5 => constant_time_eq(&hmac_md5(authkey, message), mac),
        Digest::Sha256 => constant_time_eq(&hmac_sha256(authkey, message), mac),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::auth(
            "the peer's answer does not match (the authkeys differ)",
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Digest {
    Sha256,
    Md5,
}

/// Parses a `{name}` prefix; names CPython allows but we do not implement are
/// reported as [`Error::UnsupportedDigest`].
fn digest_prefix(message: &[u8]) -> Result<Digest> {
    if message.starts_with(SHA256_PREFIX) {
        return Ok(Digest::Sha256);
    }
    if message.starts_with(MD5_PREFIX) {
        return Ok(Digest::Md5);
    }
    if message.first() == Some(&b'{') {
        // CPython's longest digest name is "sha3_384" (8 bytes).
        if let Some(end) = message.iter().take(10).position(|&b| b == b'}') {
            let name = String::from_utf8_lossy(&message[1..end]).into_owned();
            return Err(Error::UnsupportedDigest(name.into()));
        }
    }
    Err(Error::protocol(format!(
        "challenge has neither a legacy length nor a {{digest}} prefix: {}",
        escape(message)
    )))
}

fn read_handshake_frame<S: Read + ?Sized>(s: &mut S) -> Result<Vec<u8>> {
    match frame::read(s, HANDSHAKE_MAX_FRAME) {
        Ok(Some(f)) => Ok(f),
        Ok(None) => Err(Error::ConnectionClosed),
        Err(Error::FrameTooLarge { len, .. }) => Err(Error::protocol(format!(
            "handshake frame of {len} bytes exceeds the {HANDSHAKE_MAX_FRAME}-byte limit"
        ))),
        Err(e) => Err(e),
    }
}

/// Renders bytes for an error message, shortened to keep messages readable.
fn escape(bytes: &[u8]) -> String {
    let shown: String = bytes
        .iter()
        .take(48)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if bytes.len() > 48 {
        format!("b\"{shown}\"... ({} bytes)", bytes.len())
    } else {
        format!("b\"{shown}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{self, Cursor};

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// A scripted peer: reads come from `input`, writes are collected.
    struct Script {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Script {
        fn new(input: Vec<u8>) -> Script {
            Script {
                input: Cursor::new(input),
                output: Vec::new(),
            }
        }
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    // The captured vectors of ../shared/notes/python-wire.md (key b"password").
    const KEY: &[u8] = b"password";
    const R313_LEG1: &str =
        "8c6e4e13812a70aac2ee6256ccfd224b42dd778e837c24f9e1d272d29b928c72a8e3c50f4afd8c74";
    const A313_LEG1: &str = "5cf4b87ac2b9ac7d9e54eb5e566fe7118aeea44ef5b76953167fb0a5567e93e6";
    const R313_LEG2: &str =
        "a569a8ee0b8c750106dd857559a507978c3a00ab9ce76c897ed3781c2b04c810638dadd6140b9d87";
    const A313_LEG2: &str = "feded35e835d303f0e16e5b17ee889c111e761dd8895431b9d87b60906466cbd";

    #[test]
    fn server_leg_reproduces_python_313_bytes() {
        let mut input = hex("00000028 7b7368613235367d");
        input.extend(hex(A313_LEG1));
        let mut s = Script::new(input);
        deliver_challenge(&mut s, KEY, true, &hex(R313_LEG1)).unwrap();
        let mut expected = hex("0000003b 234348414c4c454e474523 7b7368613235367d");
        expected.extend(hex(R313_LEG1));
        expected.extend(hex("00000009 2357454c434f4d4523"));
        assert_eq!(s.output, expected);
    }

    #[test]
    fn answer_reproduces_python_313_bytes() {
        let mut input = hex("0000003b 234348414c4c454e474523 7b7368613235367d");
        input.extend(hex(R313_LEG2));
        input.extend(hex("00000009 2357454c434f4d4523"));
        let mut s = Script::new(input);
        answer_challenge(&mut s, KEY, false).unwrap();
        let mut expected = hex("00000028 7b7368613235367d");
        expected.extend(hex(A313_LEG2));
        assert_eq!(s.output, expected);
    }

    #[test]
    fn python_311_client_answers_are_accepted_unless_strict() {
        // 3.12 server <-> 3.11 client, first leg: raw HMAC-MD5 over {sha256}+R.
        let r =
            hex("c347a0ae423b70d942a505010ef800c701e50a7d0c4d28fa0c08705d0fbaa3cd20400ee2bfe9ea3a");
        let mut message = SHA256_PREFIX.to_vec();
        message.extend_from_slice(&r);
        let answer = hex("9710d58ab66eb00568e090e0ee231765");
        verify(KEY, &message, &answer, false).unwrap();
        let err = verify(KEY, &message, &answer, true).unwrap_err();
        assert!(matches!(err, Error::Auth(_)), "{err}");
        // Second leg: the 3.11 client's 20-byte challenge gets a raw MD5.
        let r = hex("aa56de6a1837cf304cc1ad530cc855f96954c4ea");
        assert_eq!(
            respond(KEY, &r, false).unwrap(),
            hex("ed8a0b798c11b4e9f3b59ac80ac379ce")
        );
        assert!(matches!(respond(KEY, &r, true), Err(Error::Auth(_))));
        // CPython refuses challenges shorter than 20 bytes, 16 included.
        assert!(matches!(
            respond(KEY, &r[..16], false),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn wrong_key_sends_failure_and_errors() {
        let mut input = hex("00000028 7b7368613235367d");
        input.extend(hex(A313_LEG1));
        let mut s = Script::new(input);
        let err = deliver_challenge(&mut s, b"wrong", false, &hex(R313_LEG1)).unwrap_err();
        assert!(matches!(err, Error::Auth(_)), "{err}");
        assert!(s.output.ends_with(b"\x00\x00\x00\x09#FAILURE#"));

        let mut input = hex("0000003b 234348414c4c454e474523 7b7368613235367d");
        input.extend(hex(R313_LEG2));
        input.extend(hex("00000009 234641494c55524523"));
        let err = answer_challenge(&mut Script::new(input), KEY, false).unwrap_err();
        assert!(matches!(err, Error::Auth(_)), "{err}");
    }

    #[test]
    fn unsupported_digest_is_named() {
        let mut message = b"{sha3_384}".to_vec();
        message.extend_from_slice(&[1u8; 40]);
        match respond(KEY, &message, false) {
            Err(Error::UnsupportedDigest(name)) => assert_eq!(&*name, "sha3_384"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            respond(KEY, b"short", false),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn md5_prefixed_challenge_and_answer() {
        let mut message = MD5_PREFIX.to_vec();
        message.extend_from_slice(&[9u8; 40]);
        let answer = respond(KEY, &message, false).unwrap();
        assert!(answer.starts_with(MD5_PREFIX));
        assert!(matches!(respond(KEY, &message, true), Err(Error::Auth(_))));
        verify(KEY, &message, &answer, false).unwrap();
        assert!(verify(KEY, &message, &answer, true).is_err());
    }

    #[test]
    fn oversize_handshake_frame_is_refused_without_reading_it() {
        let err = answer_challenge(&mut Script::new(hex("00000101")), KEY, false).unwrap_err();
        assert!(matches!(err, Error::Protocol(_)), "{err}");
    }

    #[test]
    fn failure_instead_of_challenge_means_refused() {
        let mut input = Vec::new();
        frame::append(&mut input, b"#FAILURE# too many connections");
        let err = answer_challenge(&mut Script::new(input), KEY, false).unwrap_err();
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused),
            "{err}"
        );
    }

    #[test]
    fn both_roles_agree_through_a_loop() {
        // Run the server role against our client role over real sockets.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            server(&mut s, KEY, true)
        });
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        client(&mut c, KEY, true).unwrap();
        t.join().unwrap().unwrap();
    }
}
