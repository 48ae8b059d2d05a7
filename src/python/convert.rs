//! Python values and the std codec's bytes, converted as a [`Shape`] says:
//! [`value_to_bytes`] writes a Python value as the bytes a handler's
//! argument of that shape decodes, [`bytes_to_value`] reads a handler's
//! result bytes back as a Python value. The codec itself knows nothing of
//! Python: this module is the whole bridge, guided by the shapes every
//! codec type and `message!` type describes itself with.
//!
//! The mapping (Python to bytes accepts the "also" column too):
//!
//! | shape (Rust) | Python | also accepted from Python |
//! |---|---|---|
//! | integers (`u8`…`u128`, `i8`…`i128`, `usize`, `isize`) | `int` (range-checked per Rust type) | `bool` |
//! | `f32`, `f64` | `float` | `int`, `bool` |
//! | `bool` | `bool` | |
//! | `char` | `str` of one character | |
//! | `String`, `&str`, … | `str` | |
//! | `Vec<u8>`, `[u8]`, `[u8; N]` | `bytes` | `bytearray`, a list or tuple of ints |
//! | other `Vec<T>`, `[T]`, `[T; N]`, `VecDeque<T>` | `list` | `tuple` |
//! | tuples | `tuple` | `list` of the right length |
//! | `()` | `None` | `()` |
//! | `Option<T>` | `None`, or the value | |
//! | `Result<T, E>` | `Ok(v)` as `v`; `Err(e)` as `Exception(e)` | any exception object is an `Err` |
//! | `HashMap`, `BTreeMap` | `dict` | |
//! | `HashSet`, `BTreeSet` | `set` | `frozenset`, `list`, `tuple` |
//! | `Duration` | `float` seconds | `int` |
//! | `message!` struct with named fields | `dict` keyed by field name (every field, no others) | |
//! | `message!` tuple struct | one field: the field's value; several: a `tuple` | `list` |
//! | `message!` unit struct | `{}` | `None` |
//! | `message!` enum, unit variant | the variant's name, a `str` | `{"Variant": None}` |
//! | `message!` enum, data variant | `{"Variant": payload}`: the payload as the struct of the same fields | |
//! | a type that does not describe itself (`Compat<T>`, a hand-written impl) | none: a conversion error | |
//!
//! `Option<Option<T>>` cannot tell `Some(None)` from `None` (both are Python
//! `None`), and a `Result` whose `Ok` value is itself an exception object
//! reads back as `Err`.
//!
//! # Bounds
//!
//! [`bytes_to_value`] reads with the codec's own [`Decoder`]: lengths are
//! checked against the remaining input before anything is reserved, nested
//! `message!` values count against [`MAX_DEPTH`](crate::codec::MAX_DEPTH),
//! and trailing bytes are an error. [`value_to_bytes`] walks a value that was itself decoded under the
//! pickle limits, and counts `message!` nesting the same way. Neither
//! panics.

use crate::Result;
use crate::codec::{Decoder, Shape};
use crate::python::pickle::{Object, Value};

mod to_bytes;
mod to_value;
mod type_name;

pub(crate) use type_name::python_type;

/// Why a Python value does not fit a shape: what was expected and what was
/// given, as `expected int, got str`. Never quotes a user's value, so its
/// length is bounded by the shape's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConvError {
    pub(crate) message: String,
}

impl ConvError {
    fn new(message: impl Into<String>) -> ConvError {
        ConvError {
            message: message.into(),
        }
    }

    fn expected(what: impl std::fmt::Display, got: &Value) -> ConvError {
        ConvError::new(format!("expected {what}, got {}", got.python_type()))
    }

    /// The same error inside `context` (a field, an element).
    fn within(self, context: impl std::fmt::Display) -> ConvError {
        ConvError::new(format!("{context}: {}", self.message))
    }
}

impl std::fmt::Display for ConvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Writes `value` as the std-codec bytes of `shape` (see the module docs).
///
/// # Errors
/// The value does not fit the shape, or the shape has no Python form.
pub(crate) fn value_to_bytes(
    shape: &Shape,
    value: &Value,
    out: &mut Vec<u8>,
) -> std::result::Result<(), ConvError> {
    Walk::default().put(shape, value, out)
}

/// Reads `bytes`, which hold exactly one value of `shape`, as a Python
/// value (see the module docs).
///
/// # Errors
/// [`Error::Decode`]: the bytes are not a value of the shape, or the shape
/// has no Python form.
pub(crate) fn bytes_to_value(shape: &Shape, bytes: &[u8]) -> Result<Value> {
    let mut d = Decoder::new(bytes);
    let value = Walk::default().get(shape, &mut d)?;
    d.finish()?;
    Ok(value)
}

/// The state of one conversion: the `message!` types being converted
/// (innermost last), where a [`Shape::Named`] finds its definition, and how
/// deeply they nest.
#[derive(Default)]
struct Walk<'s> {
    named: Vec<&'s Shape>,
}

impl<'s> Walk<'s> {
    /// The definition of the `message!` type `name` being converted.
    fn resolve(&self, name: &str) -> Option<&'s Shape> {
        self.named.iter().rev().copied().find(|s| match s {
            Shape::Struct { name: n, .. } | Shape::Enum { name: n, .. } => *n == name,
            _ => false,
        })
    }
}

/// At most 50 characters of a user's name, for error texts.
fn clip(s: &str) -> String {
    match s.char_indices().nth(50) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_owned(),
    }
}

/// `Err(e)` as Python sees it: `Exception(e)`.
pub(crate) fn error_object(e: Value) -> Value {
    Value::Object(Box::new(Object::call("builtins", "Exception", vec![e])))
}

/// If `v` is an exception object (any object but a `Token`), its payload:
/// the single argument, or the tuple of all of them.
pub(crate) fn error_payload(v: &Value) -> Option<Value> {
    match v {
        Value::Object(obj) if !obj.is("multiprocessing.managers", "Token") => {
            Some(match obj.args.as_slice() {
                [one] => one.clone(),
                all => Value::Tuple(all.to_vec()),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
