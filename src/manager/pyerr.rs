//! [`PyErr`]: a Python exception raised while serving a request, and the two
//! forms it reaches a Python client in: the exception object itself (a
//! `#ERROR` reply, which the client raises as is) or the text of a traceback
//! (a `#TRACEBACK` reply, which the client raises as `RemoteError`).

use crate::error::RemoteKind;
use crate::pickle::Value;
use crate::registry::Failure;

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
    pub(crate) fn new(class: &'static str, message: impl Into<String>) -> PyErr {
        PyErr {
            class,
            args: vec![Value::Str(message.into())],
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

    /// `KeyError(key)`: its text is the key's `repr()`, as in Python.
    pub(crate) fn key_error(key: Value) -> PyErr {
        PyErr::with_args("KeyError", vec![key])
    }

    /// `class(*args)`, shown as Python shows it.
    pub(crate) fn with_args(class: &'static str, args: Vec<Value>) -> PyErr {
        PyErr {
            class,
            args,
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

    /// The last line of Python's traceback: `KeyError: 'a'`.
    pub(crate) fn line(&self) -> String {
        let text = match self.args.as_slice() {
            [Value::Str(s)] if self.message => s.clone(),
            _ => self.to_value().python_str(),
        };
        if text.is_empty() {
            self.class.to_owned()
        } else {
            format!("{}: {text}", self.class)
        }
    }

    /// The text of a `#TRACEBACK` reply: shaped like the output of Python's
    /// `traceback.format_exc()`, ending with the exception line and a newline.
    pub(crate) fn traceback(&self, context: &str) -> String {
        traceback_text(context, &self.line())
    }
}

/// Traceback text for `context` (what was being done) and the exception line.
pub(crate) fn traceback_text(context: &str, line: &str) -> String {
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
