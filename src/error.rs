//! The crate's one error type.

use std::fmt;
use std::io;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in stdrpc.
///
/// The variants are the same whatever features are enabled. `Display` is a
/// lowercase, single-line description; `source()` returns the underlying
/// error where there is one.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The operating system reported an I/O error.
    Io(io::Error),
    /// A frame announced a payload longer than the configured maximum. Nothing
    /// was allocated for it.
    FrameTooLarge {
        /// The length the frame header announced.
        len: u64,
        /// The maximum that was in force.
        max: u64,
    },
    /// The peer broke the protocol: an invalid length prefix, a malformed
    /// envelope, an unexpected handshake message.
    Protocol(Box<str>),
    /// The authkey handshake failed: the peer holds a different key, or
    /// answered in a way we do not accept.
    Auth(Box<str>),
    /// The peer's challenge asked for a digest this library does not implement.
    UnsupportedDigest(Box<str>),
    /// The remote side received the call but could not complete it.
    Remote {
        /// What went wrong.
        kind: RemoteKind,
        /// The server's message (for a handler error, the handler's own text).
        message: Box<str>,
    },
    /// Bytes could not be decoded into the expected type.
    Decode(Box<dyn std::error::Error + Send + Sync>),
    /// A deadline passed: a call timeout or the handshake deadline.
    Timeout,
    /// The connection is closed; the call's outcome is unknown if it was sent.
    ConnectionClosed,
}

/// Why a remote call failed, as reported by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemoteKind {
    /// No handler is registered under the method name.
    NoSuchMethod,
    /// The arguments could not be decoded into the handler's argument type.
    BadArguments,
    /// The handler returned an error; the message is its `Display` text.
    Handler,
    /// The handler panicked; the server caught it and goes on serving.
    Panicked,
    /// The server is shutting down and did not run the call.
    ShuttingDown,
    /// A typed call's argument or result shape differs from the handler's
    /// signature; the handler did not run. The message names the method and
    /// both signatures.
    SignatureMismatch,
    /// The server's memory budget for requests was exhausted for longer
    /// than it waits; the call was not run. Retrying later may succeed.
    Overloaded,
    /// The handler ran, but its result would exceed the frame limit; this
    /// short error was sent in its place.
    ReplyTooLarge,
    /// The server's shutdown deadline cut the handler off before it
    /// answered: the outcome is unknown (the call may have run, wholly or in
    /// part).
    Abandoned,
    /// The caller's deadline had passed before the handler started; the call
    /// was not run.
    DeadlineExceeded,
    /// An error kind this version does not know (sent by a newer peer).
    Other,
}

impl RemoteKind {
    /// The kind's byte on the wire (see docs/PROTOCOL.md).
    pub(crate) fn code(self) -> u8 {
        match self {
            RemoteKind::NoSuchMethod => 1,
            RemoteKind::BadArguments => 2,
            RemoteKind::Handler => 3,
            RemoteKind::Panicked => 4,
            RemoteKind::ShuttingDown => 5,
            RemoteKind::SignatureMismatch => 6,
            RemoteKind::Overloaded => 7,
            RemoteKind::Abandoned => 8,
            RemoteKind::DeadlineExceeded => 9,
            RemoteKind::ReplyTooLarge => 10,
            RemoteKind::Other => 255,
        }
    }

    /// The kind a wire byte stands for; unknown codes become [`RemoteKind::Other`].
    pub(crate) fn from_code(code: u8) -> RemoteKind {
        match code {
            1 => RemoteKind::NoSuchMethod,
            2 => RemoteKind::BadArguments,
            3 => RemoteKind::Handler,
            4 => RemoteKind::Panicked,
            5 => RemoteKind::ShuttingDown,
            6 => RemoteKind::SignatureMismatch,
            7 => RemoteKind::Overloaded,
            8 => RemoteKind::Abandoned,
            9 => RemoteKind::DeadlineExceeded,
            10 => RemoteKind::ReplyTooLarge,
            _ => RemoteKind::Other,
        }
    }
}

impl fmt::Display for RemoteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RemoteKind::NoSuchMethod => "no such method",
            RemoteKind::BadArguments => "bad arguments",
            RemoteKind::Handler => "handler error",
            RemoteKind::Panicked => "handler panicked",
            RemoteKind::ShuttingDown => "server shutting down",
            RemoteKind::SignatureMismatch => "signature mismatch",
            RemoteKind::Overloaded => "server overloaded",
            RemoteKind::ReplyTooLarge => "reply too large",
            RemoteKind::Abandoned => "handler abandoned, outcome unknown",
            RemoteKind::DeadlineExceeded => "deadline exceeded",
            RemoteKind::Other => "remote error",
        })
    }
}

impl Error {
    pub(crate) fn protocol(message: impl Into<Box<str>>) -> Error {
        Error::Protocol(message.into())
    }

    pub(crate) fn auth(message: impl Into<Box<str>>) -> Error {
        Error::Auth(message.into())
    }

    pub(crate) fn decode(message: impl Into<String>) -> Error {
        Error::Decode(message.into().into())
    }

    pub(crate) fn remote(kind: RemoteKind, message: impl Into<Box<str>>) -> Error {
        Error::Remote {
            kind,
            message: message.into(),
        }
    }

    /// The remote error kind, if this is a [`Error::Remote`].
    pub fn remote_kind(&self) -> Option<RemoteKind> {
        match self {
            Error::Remote { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Maps the I/O errors that mean "the peer went away" or "the deadline
    /// passed" to [`Error::ConnectionClosed`] and [`Error::Timeout`].
    pub(crate) fn from_io(err: io::Error) -> Error {
        match err.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Error::ConnectionClosed,
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout,
            _ => Error::Io(err),
        }
    }
}

/// An I/O error together with what the library was doing and what to try,
/// e.g. `connecting to 127.0.0.1:1: connection refused — is the server
/// running?`.
///
/// It travels inside the [`io::Error`] of [`Error::Io`], with the original
/// error's kind, so callers still match on `e.kind()`; [`Error`]'s `Display`
/// prints the message alone and its `source()` is the original error.
#[derive(Debug)]
pub(crate) struct Context {
    message: Box<str>,
    source: io::Error,
}

impl Context {
    /// `err` with `message` in front of it; the kind stays `err`'s.
    pub(crate) fn wrap(err: io::Error, message: impl Into<Box<str>>) -> io::Error {
        io::Error::new(
            err.kind(),
            Context {
                message: message.into(),
                source: err,
            },
        )
    }

    /// The context inside `err`, if it carries one.
    fn of(err: &io::Error) -> Option<&Context> {
        err.get_ref().and_then(|e| e.downcast_ref::<Context>())
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Context {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The context already says what failed, in this layer's words.
            Error::Io(e) if Context::of(e).is_some() => write!(f, "{e}"),
            Error::Io(e) => write!(f, "i/o error: {e}"),
            Error::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the maximum of {max} bytes")
            }
            Error::Protocol(m) => write!(f, "protocol error: {m}"),
            Error::Auth(m) => write!(f, "authentication failed: {m}"),
            Error::UnsupportedDigest(d) => write!(f, "unsupported digest {d:?} in challenge"),
            Error::Remote { kind, message } => write!(f, "{kind}: {message}"),
            Error::Decode(e) => write!(f, "decode error: {e}"),
            Error::Timeout => f.write_str("deadline passed"),
            Error::ConnectionClosed => f.write_str("connection closed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => match Context::of(e) {
                // The message already is the context's: skip to its cause.
                Some(c) => Some(&c.source),
                None => Some(e),
            },
            Error::Decode(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        Error::Io(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_small_send_sync_static() {
        fn assert_traits<T: Send + Sync + 'static>() {}
        assert_traits::<Error>();
        assert!(
            std::mem::size_of::<Error>() <= 24,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn remote_kind_codes_round_trip() {
        for kind in [
            RemoteKind::NoSuchMethod,
            RemoteKind::BadArguments,
            RemoteKind::Handler,
            RemoteKind::Panicked,
            RemoteKind::ShuttingDown,
            RemoteKind::SignatureMismatch,
            RemoteKind::Overloaded,
            RemoteKind::ReplyTooLarge,
            RemoteKind::Abandoned,
            RemoteKind::DeadlineExceeded,
            RemoteKind::Other,
        ] {
            assert_eq!(RemoteKind::from_code(kind.code()), kind);
        }
        assert_eq!(RemoteKind::from_code(77), RemoteKind::Other);
    }

    #[test]
    fn display_is_lowercase_and_chains_source() {
        let e = Error::from(io::Error::other("boom"));
        assert_eq!(e.to_string(), "i/o error: boom");
        assert!(std::error::Error::source(&e).is_some());
        let e = Error::remote(RemoteKind::NoSuchMethod, "\"nope\"");
        assert_eq!(e.to_string(), "no such method: \"nope\"");
        assert_eq!(e.remote_kind(), Some(RemoteKind::NoSuchMethod));
        assert_eq!(
            Error::from_io(io::ErrorKind::UnexpectedEof.into()).to_string(),
            "connection closed"
        );
    }

    #[test]
    fn context_replaces_the_io_prefix_and_keeps_the_kind() {
        let os = io::Error::from(io::ErrorKind::ConnectionRefused);
        let e = Error::from(Context::wrap(os, "connecting to x: refused"));
        assert_eq!(e.to_string(), "connecting to x: refused");
        assert!(matches!(&e, Error::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused));
        let source = std::error::Error::source(&e).expect("a source");
        assert_eq!(
            source.to_string(),
            io::Error::from(io::ErrorKind::ConnectionRefused).to_string()
        );
    }
}
