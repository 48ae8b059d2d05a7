//! [`PyErr`]: a Python exception raised while serving a request, and the two
//! forms it reaches a Python client in: the exception object itself (a
//! `#ERROR` reply, which the client raises as is) or the text of a traceback
//! (a `#TRACEBACK` reply, which the client raises as `RemoteError`).

//!
//! # Every error text is bounded
//!
//! A request of a few megabytes must not make the server build (and
//! pickle) an error of hundreds: a user's value reaches an error text only
//! as a prefix. User values quoted inside a message are cut to
//! [`QUOTE_CHARS`] characters of their `repr()` (without formatting the rest:
//! [`quote`], [`repr_prefix`]); a message, and each argument of an exception,
//! to [`MESSAGE_CHARS`]; an exception keeps at most [`MAX_ARGS`] arguments;
//! and the last line of a traceback is cut to [`MESSAGE_CHARS`] too. So a
//! `#TRACEBACK` reply is at most [`MAX_TRACEBACK_BYTES`] long whatever the
//! request held, and is built from parts whose size is known first.

use crate::error::RemoteKind;
use crate::python::manager::objects::repr_prefix;
use crate::python::pickle::Value;
use crate::registry::Failure;

/// The most characters of a user's value (its `repr()`) quoted in an error
/// text: a typeid, an ident, a method or keyword name, a key.
pub(crate) const QUOTE_CHARS: usize = 200;

/// The most characters of an exception's message, of each of its string
/// arguments (bytes arguments: bytes), and of a traceback's last line.
pub(crate) const MESSAGE_CHARS: usize = 1000;

/// The most arguments an exception keeps (Python's builtin exceptions take
/// at most five).
pub(crate) const MAX_ARGS: usize = 8;

/// The largest a `#TRACEBACK` text can be, in bytes: the fixed lines, a
/// context of [`QUOTE_CHARS`] characters and a last line of
/// [`MESSAGE_CHARS`] plus the class name, at 4 bytes per character.
#[cfg(test)]
pub(crate) const MAX_TRACEBACK_BYTES: usize = 128 + 4 * (QUOTE_CHARS + MESSAGE_CHARS + 64);

/// `text` cut to its first `chars` characters, with `...` if cut. Looks at
/// no more than `chars` characters of it.
pub(crate) fn clip(mut text: String, chars: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(chars) {
        text.truncate(at);
        text.push_str("...");
    }
    text
}

/// The first `chars` characters of `s`, copied, with `...` if cut.
pub(crate) fn clip_str(s: &str, chars: usize) -> String {
    match s.char_indices().nth(chars) {
        Some((at, _)) => format!("{}...", s.get(..at).unwrap_or_default()),
        None => s.to_owned(),
    }
}

/// Python's `repr()` of a user's string, cut to [`QUOTE_CHARS`] characters:
/// what error texts quote a typeid, ident, method or keyword name as.
pub(crate) fn quote(s: &str) -> String {
    // The repr of a character is at most 10 characters (`\U0001f600`), so
    // the first QUOTE_CHARS characters are enough for the prefix.
    match s.char_indices().nth(QUOTE_CHARS) {
        Some((at, _)) => repr_prefix(&Value::from(s.get(..at).unwrap_or_default()), QUOTE_CHARS),
        None => repr_prefix(&Value::from(s), QUOTE_CHARS),
    }
}

/// An exception argument, bounded: strings and bytes are cut (keeping their
/// type, which the client's constructor may check), small scalars kept,
/// and anything whose `repr()` is longer than [`QUOTE_CHARS`] replaced by
/// the cut `repr()`, as a string.
fn bound_arg(v: Value) -> Value {
    match v {
        Value::Str(s) => Value::Str(clip(s, MESSAGE_CHARS)),
        Value::Bytes(mut b) => {
            b.truncate(MESSAGE_CHARS);
            Value::Bytes(b)
        }
        Value::None | Value::Bool(_) | Value::Int(_) | Value::Float(_) => v,
        other => {
            let text = repr_prefix(&other, QUOTE_CHARS);
            if text.ends_with("...") && text.chars().count() > QUOTE_CHARS {
                Value::Str(text)
            } else {
                other
            }
        }
    }
}

/// A builtin Python exception: its class name and constructor arguments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PyErr {
    pub(crate) class: &'static str,
    pub(crate) args: Vec<Value>,
    /// The one argument is a message of ours, shown as is even for a
    /// `KeyError` (whose text Python shows as the key's repr).
    message: bool,
}

impl PyErr {
    /// `class(message)`.
    /// The message is cut to [`MESSAGE_CHARS`] characters.
    pub(crate) fn new(class: &'static str, message: impl Into<String>) -> PyErr {
        PyErr {
            class,
            args: vec![Value::Str(clip(message.into(), MESSAGE_CHARS))],
            message: true,
        }
    }

    pub(crate) fn type_error(message: impl Into<String>) -> PyErr {
        PyErr::new("TypeError", message)
    }

    pub(crate) fn value_error(message: impl Into<String>) -> PyErr {
        PyErr::new("ValueError", message)
    }

    pub(crate) fn index_error(message: impl Into<String>) -> PyErr {
        PyErr::new("IndexError", message)
    }

    pub(crate) fn overflow_error(message: impl Into<String>) -> PyErr {
        PyErr::new("OverflowError", message)
    }

    pub(crate) fn memory_error(message: impl Into<String>) -> PyErr {
        PyErr::new("MemoryError", message)
    }

    /// `KeyError(key)`: its text is the key's `repr()`, as in Python. A key
    /// whose `repr()` is longer than [`QUOTE_CHARS`] is not sent back: the
    /// exception carries its cut `repr()` as the message instead.
    pub(crate) fn key_error(key: Value) -> PyErr {
        let text = match &key {
            Value::Str(s) => quote(s),
            other => repr_prefix(other, QUOTE_CHARS),
        };
        if text.ends_with("...") && text.chars().count() > QUOTE_CHARS {
            return PyErr::new("KeyError", text);
        }
        PyErr::with_args("KeyError", vec![key])
    }

    /// `class(*args)`, shown as Python shows it; the arguments are bounded
    /// (at most [`MAX_ARGS`] of them, each cut as the module documentation
    /// says).
    pub(crate) fn with_args(class: &'static str, args: Vec<Value>) -> PyErr {
        PyErr {
            class,
            args: args.into_iter().take(MAX_ARGS).map(bound_arg).collect(),
            message: false,
        }
    }

    /// The exception a handler failure stands for: a missing handler is a
    /// `KeyError` (as a missing typeid is in Python's manager), bad
    /// arguments a `TypeError`, anything else a `RuntimeError`; the text is
    /// the failure's message.
    pub(crate) fn from_failure(f: &Failure) -> PyErr {
        let class = match f.kind {
            RemoteKind::NoSuchMethod => "KeyError",
            RemoteKind::BadArguments => "TypeError",
            _ => "RuntimeError",
        };
        PyErr::new(class, f.message.clone())
    }

    /// The exception object, for a `#ERROR` reply.
    pub(crate) fn to_value(&self) -> Value {
        Value::exception(self.class, self.args.clone())
    }

    /// The exception's text, as `str()` shows it, cut to
    /// [`MESSAGE_CHARS`] characters.
    pub(crate) fn line_text(&self) -> String {
        match self.args.as_slice() {
            [Value::Str(s)] if self.message => s.clone(),
            _ => clip(self.to_value().python_str(), MESSAGE_CHARS),
        }
    }

    /// The last line of Python's traceback: `KeyError: 'a'`, cut to
    /// [`MESSAGE_CHARS`] characters after the class name.
    pub(crate) fn line(&self) -> String {
        let text = self.line_text();
        if text.is_empty() {
            self.class.to_owned()
        } else {
            format!("{}: {text}", self.class)
        }
    }

    /// The text of a `#TRACEBACK` reply: shaped like the output of Python's
    /// `traceback.format_exc()`, ending with the exception line and a newline.
    ///
    /// At most [`MAX_TRACEBACK_BYTES`] long.
    pub(crate) fn traceback(&self, context: &str) -> String {
        traceback_text(context, &self.line())
    }
}

/// Traceback text for `context` (what was being done, which may be a user's
/// method name: cut to [`QUOTE_CHARS`]) and the exception line (cut to
/// [`MESSAGE_CHARS`] here too, for lines not made by [`PyErr::line`]).
pub(crate) fn traceback_text(context: &str, line: &str) -> String {
    let context = clip_str(context, QUOTE_CHARS);
    let line = clip_str(line, MESSAGE_CHARS + 64);
    format!("Traceback (most recent call last):\n  stdrpc server (Rust), in {context}\n{line}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_like_python() {
        assert_eq!(PyErr::key_error("k".into()).line(), "KeyError: 'k'");
        assert_eq!(PyErr::key_error(Value::Int(3)).line(), "KeyError: 3");
        assert_eq!(PyErr::type_error("bad").line(), "TypeError: bad");
        let empty = PyErr::with_args("StopIteration", vec![]);
        assert_eq!(empty.line(), "StopIteration");
        let t = PyErr::value_error("x").traceback("create");
        assert!(t.starts_with("Traceback (most recent call last):\n"));
        assert!(t.ends_with("\nValueError: x\n"), "{t}");
        assert_eq!(
            PyErr::value_error("x").to_value().to_string(),
            "ValueError('x')"
        );
    }

    #[test]
    fn user_values_are_cut() {
        let long = "é".repeat(5000);
        // A key: its repr is cut, and the key itself is not sent back.
        let e = PyErr::key_error(Value::from(long.as_str()));
        assert!(e.line().len() < 4 * QUOTE_CHARS, "{}", e.line().len());
        assert!(e.line().starts_with("KeyError: 'éé"), "{}", e.line());
        let shared = Value::List(vec![Value::from(long.as_str()); 16]);
        let e = PyErr::key_error(shared.clone());
        assert!(e.line().len() < 4 * QUOTE_CHARS);
        assert!(e.to_value().to_string().len() < 8 * QUOTE_CHARS);
        // Exception arguments: strings and bytes cut, keeping their type;
        // containers replaced by their cut repr; at most MAX_ARGS.
        let e = PyErr::with_args(
            "UnicodeDecodeError",
            vec![
                "utf-8".into(),
                Value::Bytes(vec![0xff; 5000]),
                0.into(),
                1.into(),
                long.as_str().into(),
                shared.clone(),
            ],
        );
        assert!(matches!(&e.args[1], Value::Bytes(b) if b.len() == MESSAGE_CHARS));
        assert!(matches!(&e.args[4], Value::Str(s) if s.chars().count() == MESSAGE_CHARS + 3));
        assert!(matches!(&e.args[5], Value::Str(s) if s.starts_with("['éé")));
        let many = PyErr::with_args("ValueError", vec![Value::None; 100]);
        assert_eq!(many.args.len(), MAX_ARGS);
        // Messages, and the traceback around them.
        let e = PyErr::new("RuntimeError", long.clone());
        let t = e.traceback(&long);
        assert!(t.len() <= MAX_TRACEBACK_BYTES, "{}", t.len());
        for e in [
            PyErr::with_args("ValueError", vec![shared.clone(); 10]),
            PyErr::with_args("ValueError", vec![Value::from("\u{e0000}".repeat(5000)); 1]),
            PyErr::key_error(shared),
        ] {
            let t = e.traceback(&"\u{e0000}".repeat(5000));
            assert!(t.len() <= MAX_TRACEBACK_BYTES, "{}", t.len());
        }
        assert_eq!(quote("ab"), "'ab'");
        assert!(quote(&long).ends_with("..."));
        assert_eq!(clip("abc".into(), 2), "ab...");
        assert_eq!(clip_str("abc", 3), "abc");
    }

    #[test]
    fn failures_map_to_python_classes() {
        let f = Failure::new(RemoteKind::NoSuchMethod, "no method named \"x\"");
        assert_eq!(
            PyErr::from_failure(&f).line(),
            "KeyError: no method named \"x\""
        );
        let f = Failure::new(RemoteKind::BadArguments, "wrong");
        assert_eq!(PyErr::from_failure(&f).class, "TypeError");
        let f = Failure::new(RemoteKind::Panicked, "boom");
        assert_eq!(PyErr::from_failure(&f).class, "RuntimeError");
    }
}
