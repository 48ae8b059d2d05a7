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
//! `message!` values count against [`MAX_DEPTH`], and trailing bytes are an
//! error. [`value_to_bytes`] walks a value that was itself decoded under the
//! pickle limits, and counts `message!` nesting the same way. Neither
//! panics.

use std::fmt::Write as _;
use std::time::Duration;

use super::value::{Object, Value};
use crate::codec::{Decode, Decoder, Encode, Fields, MAX_DEPTH, Shape, write_varint_u64};
use crate::{Error, Result};

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

/// The Python type a shape converts to, for signatures and error texts:
/// `int`, `list[str]`, `dict[str, int]`, `Optional[float]`, `Tick`.
pub(crate) fn python_type(shape: &Shape) -> String {
    let mut out = String::new();
    write_python_type(shape, &mut out);
    out
}

fn write_python_type(shape: &Shape, out: &mut String) {
    let list = |name: &str, items: &[&Shape], out: &mut String| {
        out.push_str(name);
        out.push('[');
        for (i, s) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_python_type(s, out);
        }
        out.push(']');
    };
    match shape {
        Shape::U8 | Shape::I8 | Shape::UInt(_) | Shape::Int(_) => out.push_str("int"),
        Shape::F32 | Shape::F64 | Shape::Duration => out.push_str("float"),
        Shape::Bool => out.push_str("bool"),
        Shape::Char | Shape::Str(_) => out.push_str("str"),
        Shape::Bytes(_) => out.push_str("bytes"),
        Shape::Array(elem, _) if **elem == Shape::U8 => out.push_str("bytes"),
        Shape::Seq { elem, .. } | Shape::Array(elem, _) => list("list", &[elem], out),
        Shape::Set { elem, .. } => list("set", &[elem], out),
        Shape::Map { key, value, .. } => list("dict", &[key, value], out),
        Shape::Option(inner) => list("Optional", &[inner], out),
        // The error travels as an exception.
        Shape::Result(ok, _) => write_python_type(ok, out),
        Shape::Tuple(fields) if fields.is_empty() => out.push_str("None"),
        Shape::Tuple(fields) => list("tuple", &fields.iter().collect::<Vec<_>>(), out),
        Shape::Struct { name, .. } | Shape::Enum { name, .. } | Shape::Named(name) => {
            out.push_str(name);
        }
        Shape::Opaque(_) => {
            let _ = write!(out, "{shape}");
        }
    }
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

    // ---- Python to bytes ---------------------------------------------------

    /// Each recursive kind of shape has a small function of its own, and
    /// the leaves one shared: in a debug build, a frame holds every local of
    /// every arm, so the frames of a deep value's chain are kept small.
    fn put(
        &mut self,
        shape: &'s Shape,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), ConvError> {
        match shape {
            Shape::Seq { elem, .. } => self.put_seq(elem, v, out),
            Shape::Array(elem, n) => self.put_array(shape, elem, *n, v, out),
            Shape::Map { key, value, .. } => self.put_map(key, value, v, out),
            Shape::Set { elem, .. } => self.put_set(elem, v, out),
            Shape::Option(inner) => self.put_option(inner, v, out),
            Shape::Result(ok, err) => self.put_result(ok, err, v, out),
            Shape::Tuple(fields) if !fields.is_empty() => {
                self.fields(&|| python_type(shape), fields, v, out)
            }
            Shape::Struct { .. } | Shape::Enum { .. } => self.put_message(shape, v, out),
            Shape::Named(name) => self.put_named(name, v, out),
            leaf => put_leaf(leaf, v, out),
        }
    }

    #[inline(never)]
    fn put_seq(
        &mut self,
        elem: &'s Shape,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), ConvError> {
        match v {
            Value::List(items) | Value::Tuple(items) => {
                write_varint_u64(out, items.len() as u64);
                self.each(elem, items, out)
            }
            other => Err(ConvError::expected("list", other)),
        }
    }

    #[inline(never)]
    fn put_array(
        &mut self,
        shape: &Shape,
        elem: &'s Shape,
        n: usize,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), ConvError> {
        match v {
            Value::Bytes(b) if *elem == Shape::U8 && b.len() == n => {
                out.extend_from_slice(b);
                Ok(())
            }
            Value::Bytes(b) if *elem == Shape::U8 => Err(ConvError::new(format!(
                "expected {n} bytes, got {}",
                b.len()
            ))),
            Value::List(items) | Value::Tuple(items) if items.len() == n => {
                self.each(elem, items, out)
            }
            Value::List(items) | Value::Tuple(items) => Err(ConvError::new(format!(
                "expected {n} elements, got {}",
                items.len()
            ))),
            other => Err(ConvError::expected(python_type(shape), other)),
        }
    }

    #[inline(never)]
    fn put_map(
        &mut self,
        key: &'s Shape,
        value: &'s Shape,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), ConvError> {
        let Value::Dict(entries) = v else {
            return Err(ConvError::expected("dict", v));
        };
        write_varint_u64(out, entries.len() as u64);
        for (k, x) in entries {
            self.put(key, k, out).map_err(|e| e.within("a key"))?;
            self.put(value, x, out).map_err(|e| e.within("a value"))?;
        }
        Ok(())
    }

    #[inline(never)]
    fn put_set(
        &mut self,
        elem: &'s Shape,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), ConvError> {
        match v {
            Value::Set(items)
            | Value::FrozenSet(items)
            | Value::List(items)
            | Value::Tuple(items) => {
                write_varint_u64(out, items.len() as u64);
                self.each(elem, items, out)
            }
            other => Err(ConvError::expected("set", other)),
        }
    }

    #[inline(never)]
    fn put_option(
        &mut self,
        inner: &'s Shape,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), ConvError> {
        if v.is_none() {
            out.push(0);
            return Ok(());
        }
        out.push(1);
        self.put(inner, v, out)
    }

    #[inline(never)]
    fn put_result(
        &mut self,
        ok: &'s Shape,
        err: &'s Shape,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), ConvError> {
        match error_payload(v) {
            Some(payload) => {
                write_varint_u64(out, 1);
                self.put(err, &payload, out)
                    .map_err(|e| e.within("the exception's argument"))
            }
            None => {
                write_varint_u64(out, 0);
                self.put(ok, v, out)
            }
        }
    }

    #[inline(never)]
    fn put_message(
        &mut self,
        shape: &'s Shape,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), ConvError> {
        self.enter(shape)?;
        let r = match shape {
            Shape::Struct { name, fields } => self.put_fields(name, fields, v, out),
            Shape::Enum { name, variants } => self.put_enum(name, variants, v, out),
            _ => Ok(()),
        };
        self.named.pop();
        r
    }

    #[inline(never)]
    fn put_named(
        &mut self,
        name: &str,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), ConvError> {
        match self.resolve(name) {
            Some(def) => self.put(def, v, out),
            None => Err(ConvError::new(format!("{name} is not defined"))),
        }
    }

    /// Starts converting the `message!` type `shape`, counting its depth.
    fn enter(&mut self, shape: &'s Shape) -> std::result::Result<(), ConvError> {
        if self.named.len() >= MAX_DEPTH as usize {
            return Err(ConvError::new(format!(
                "values nested more than {MAX_DEPTH} deep"
            )));
        }
        self.named.push(shape);
        Ok(())
    }

    fn each(
        &mut self,
        elem: &'s Shape,
        items: &[Value],
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), ConvError> {
        for (i, item) in items.iter().enumerate() {
            self.put(elem, item, out)
                .map_err(|e| e.within(format_args!("element {i}")))?;
        }
        Ok(())
    }

    /// Positional fields (a tuple, a tuple struct or variant): one is the
    /// value itself, several a tuple or list of as many.
    fn fields(
        &mut self,
        what: &dyn Fn() -> String,
        fields: &'s [Shape],
        v: &Value,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), ConvError> {
        if let [one] = fields {
            return self.put(one, v, out);
        }
        let items = match v {
            Value::Tuple(items) | Value::List(items) => items,
            other => return Err(ConvError::expected(what(), other)),
        };
        if items.len() != fields.len() {
            return Err(ConvError::new(format!(
                "expected a tuple of {}, got one of {}",
                fields.len(),
                items.len()
            )));
        }
        for (i, (shape, item)) in fields.iter().zip(items).enumerate() {
            self.put(shape, item, out)
                .map_err(|e| e.within(format_args!("field {i}")))?;
        }
        Ok(())
    }

    /// The fields of a struct or variant named `what`.
    fn put_fields(
        &mut self,
        what: &str,
        fields: &'s Fields,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), ConvError> {
        match fields {
            Fields::Unit => match v {
                Value::None => Ok(()),
                Value::Dict(entries) if entries.is_empty() => Ok(()),
                other => Err(ConvError::expected(format_args!("None for {what}"), other)),
            },
            Fields::Tuple(shapes) => self.fields(&|| what.to_owned(), shapes, v, out),
            Fields::Named(named) => {
                let entries = match v {
                    Value::Dict(entries) => entries,
                    other => {
                        return Err(ConvError::expected(
                            format_args!("a dict for {what}"),
                            other,
                        ));
                    }
                };
                // Every key must be a field: with as many entries as fields,
                // each field found once means no key is left over.
                for (key, _) in entries {
                    let known = matches!(key, Value::Str(k) if named.iter().any(|(f, _)| f == k));
                    if !known {
                        let key = match key {
                            Value::Str(k) => format!("'{}'", clip(k)),
                            other => format!("a key of type {}", other.python_type()),
                        };
                        return Err(ConvError::new(format!("{what} has no field {key}")));
                    }
                }
                for (field, shape) in named {
                    // A repeated key keeps its last value, as in Python.
                    let found = entries
                        .iter()
                        .rev()
                        .find(|(k, _)| matches!(k, Value::Str(k) if k == field));
                    let Some((_, value)) = found else {
                        return Err(ConvError::new(format!("{what} is missing field '{field}'")));
                    };
                    self.put(shape, value, out)
                        .map_err(|e| e.within(format_args!("field '{field}' of {what}")))?;
                }
                Ok(())
            }
        }
    }

    fn put_enum(
        &mut self,
        name: &str,
        variants: &'s [(&'static str, Fields)],
        v: &Value,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), ConvError> {
        let (variant, payload) = match v {
            Value::Str(s) => (s.as_str(), None),
            Value::Dict(entries) => match entries.as_slice() {
                [(Value::Str(s), payload)] => (s.as_str(), Some(payload)),
                _ => {
                    return Err(ConvError::new(format!(
                        "expected a variant of {name}: its name, or a dict of one entry {{name: fields}}"
                    )));
                }
            },
            other => {
                return Err(ConvError::expected(
                    format_args!("a variant of {name} (a str or a dict)"),
                    other,
                ));
            }
        };
        let Some(index) = variants.iter().position(|(n, _)| *n == variant) else {
            return Err(ConvError::new(format!(
                "{name} has no variant '{}'",
                clip(variant)
            )));
        };
        let fields = &variants[index].1;
        write_varint_u64(out, index as u64);
        let what = format!("{name}.{variant}");
        match (fields, payload) {
            (Fields::Unit, None) => Ok(()),
            (_, None) => Err(ConvError::new(format!(
                "{what} has fields: write it as {{'{variant}': fields}}"
            ))),
            (fields, Some(payload)) => self.put_fields(&what, fields, payload, out),
        }
    }

    // ---- bytes to Python ---------------------------------------------------

    /// As for `put`, each recursive kind has a small function of its own.
    fn get(&mut self, shape: &'s Shape, d: &mut Decoder<'_>) -> Result<Value> {
        match shape {
            Shape::Seq { elem, .. } | Shape::Set { elem, .. } => self.get_seq(shape, elem, d),
            Shape::Array(elem, n) if **elem != Shape::U8 => {
                Ok(Value::List(self.get_n(elem, *n, d)?))
            }
            Shape::Map { key, value, .. } => self.get_map(key, value, d),
            Shape::Option(inner) => self.get_option(inner, d),
            Shape::Result(ok, err) => self.get_result(ok, err, d),
            Shape::Tuple(fields) if !fields.is_empty() => {
                Ok(Value::Tuple(self.get_each(fields, d)?))
            }
            Shape::Struct { .. } | Shape::Enum { .. } => self.get_message(shape, d),
            Shape::Named(name) => self.get_named(name, d),
            leaf => get_leaf(leaf, d),
        }
    }

    #[inline(never)]
    fn get_seq(&mut self, shape: &Shape, elem: &'s Shape, d: &mut Decoder<'_>) -> Result<Value> {
        let len = d.read_len()?;
        let items = self.get_n(elem, len, d)?;
        Ok(match shape {
            Shape::Set { .. } => Value::Set(items),
            _ => Value::List(items),
        })
    }

    #[inline(never)]
    fn get_map(&mut self, key: &'s Shape, value: &'s Shape, d: &mut Decoder<'_>) -> Result<Value> {
        let len = d.read_len()?;
        let mut entries = Vec::with_capacity(capacity(len, d));
        for _ in 0..len {
            let k = self.get(key, d)?;
            entries.push((k, self.get(value, d)?));
        }
        Ok(Value::Dict(entries))
    }

    #[inline(never)]
    fn get_option(&mut self, inner: &'s Shape, d: &mut Decoder<'_>) -> Result<Value> {
        match d.read_u8()? {
            0 => Ok(Value::None),
            1 => self.get(inner, d),
            tag => Err(Error::decode(format!("invalid Option tag {tag}"))),
        }
    }

    #[inline(never)]
    fn get_result(&mut self, ok: &'s Shape, err: &'s Shape, d: &mut Decoder<'_>) -> Result<Value> {
        match u32::decode(d)? {
            0 => self.get(ok, d),
            1 => Ok(error_object(self.get(err, d)?)),
            tag => Err(Error::decode(format!("invalid Result tag {tag}"))),
        }
    }

    #[inline(never)]
    fn get_named(&mut self, name: &str, d: &mut Decoder<'_>) -> Result<Value> {
        match self.resolve(name) {
            Some(def) => self.get(def, d),
            None => Err(Error::decode(format!("{name} is not defined"))),
        }
    }

    /// A `message!` value, counted against the decoder's depth.
    #[inline(never)]
    fn get_message(&mut self, shape: &'s Shape, d: &mut Decoder<'_>) -> Result<Value> {
        d.enter()?;
        self.named.push(shape);
        let value = match shape {
            Shape::Struct { fields, .. } => self.get_fields(fields, true, d),
            Shape::Enum { name, variants } => self.get_variant(name, variants, d),
            _ => Ok(Value::None),
        };
        self.named.pop();
        d.leave();
        value
    }

    fn get_variant(
        &mut self,
        name: &str,
        variants: &'s [(&'static str, Fields)],
        d: &mut Decoder<'_>,
    ) -> Result<Value> {
        let index = u32::decode(d)?;
        let Some((variant, fields)) = variants.get(index as usize) else {
            return Err(Error::decode(format!(
                "unknown variant index {index} of {name}"
            )));
        };
        Ok(match fields {
            Fields::Unit => Value::from(*variant),
            fields => Value::Dict(vec![(
                Value::from(*variant),
                self.get_fields(fields, false, d)?,
            )]),
        })
    }

    /// A struct's or variant's fields: a dict by name, one value, a tuple;
    /// a struct without fields is `{}`, a variant's payload `None`.
    fn get_fields(
        &mut self,
        fields: &'s Fields,
        is_struct: bool,
        d: &mut Decoder<'_>,
    ) -> Result<Value> {
        Ok(match fields {
            Fields::Unit if is_struct => Value::Dict(Vec::new()),
            Fields::Unit => Value::None,
            Fields::Tuple(shapes) => match shapes.as_slice() {
                [one] => self.get(one, d)?,
                shapes => Value::Tuple(self.get_each(shapes, d)?),
            },
            Fields::Named(named) => {
                let mut entries = Vec::with_capacity(named.len());
                for (field, shape) in named {
                    entries.push((Value::from(*field), self.get(shape, d)?));
                }
                Value::Dict(entries)
            }
        })
    }

    fn get_each(&mut self, shapes: &'s [Shape], d: &mut Decoder<'_>) -> Result<Vec<Value>> {
        shapes.iter().map(|s| self.get(s, d)).collect()
    }

    fn get_n(&mut self, elem: &'s Shape, n: usize, d: &mut Decoder<'_>) -> Result<Vec<Value>> {
        let mut items = Vec::with_capacity(capacity(n, d));
        for _ in 0..n {
            items.push(self.get(elem, d)?);
        }
        Ok(items)
    }
}

/// A shape that holds no other: numbers, text, bytes, `()`, `Duration`,
/// and the opaque shape, which has no Python form.
#[inline(never)]
fn put_leaf(shape: &Shape, v: &Value, out: &mut Vec<u8>) -> std::result::Result<(), ConvError> {
    match shape {
        Shape::U8 => out.push(signed(v, "u8", 0, 255)? as u8),
        Shape::I8 => out.push(signed(v, "i8", -128, 127)? as i8 as u8),
        Shape::UInt(name) => {
            let max = match *name {
                "u16" => u128::from(u16::MAX),
                "u32" => u128::from(u32::MAX),
                "u128" => u128::MAX,
                _ => u128::from(u64::MAX),
            };
            unsigned(v, name, max)?.encode(out);
        }
        Shape::Int(name) => {
            let (min, max) = match *name {
                "i16" => (i128::from(i16::MIN), i128::from(i16::MAX)),
                "i32" => (i128::from(i32::MIN), i128::from(i32::MAX)),
                "i128" => (i128::MIN, i128::MAX),
                _ => (i128::from(i64::MIN), i128::from(i64::MAX)),
            };
            signed(v, name, min, max)?.encode(out);
        }
        Shape::F32 => {
            let x = float(v)?;
            let narrow = x as f32; // Rounds to nearest.
            if x.is_finite() && narrow.is_infinite() {
                return Err(ConvError::new("float out of range for f32"));
            }
            narrow.encode(out);
        }
        Shape::F64 => float(v)?.encode(out),
        Shape::Bool => match v {
            Value::Bool(b) => b.encode(out),
            other => return Err(ConvError::expected("bool", other)),
        },
        Shape::Char => {
            let mut chars = match v {
                Value::Str(s) => s.chars(),
                other => return Err(ConvError::expected("str", other)),
            };
            match (chars.next(), chars.next()) {
                (Some(c), None) => c.encode(out),
                _ => return Err(ConvError::new("expected a str of one character")),
            }
        }
        Shape::Str(_) => match v {
            Value::Str(s) => s.as_str().encode(out),
            other => return Err(ConvError::expected("str", other)),
        },
        Shape::Bytes(_) => match v {
            Value::Bytes(b) => b.as_slice().encode(out),
            Value::List(items) | Value::Tuple(items) => {
                write_varint_u64(out, items.len() as u64);
                for (i, item) in items.iter().enumerate() {
                    out.push(
                        signed(item, "u8", 0, 255)
                            .map_err(|e| e.within(format_args!("element {i}")))?
                            as u8,
                    );
                }
            }
            other => return Err(ConvError::expected("bytes", other)),
        },
        Shape::Tuple(_) => match v {
            Value::None => {}
            Value::Tuple(items) if items.is_empty() => {}
            other => return Err(ConvError::expected("None", other)),
        },
        Shape::Duration => {
            let secs = float(v)?;
            let d = Duration::try_from_secs_f64(secs).map_err(|_| {
                ConvError::new("expected a duration in seconds, finite and not negative")
            })?;
            d.encode(out);
        }
        other => return Err(ConvError::new(format!("{other} has no Python form"))),
    }
    Ok(())
}

/// A shape that holds no other (and a byte array), read with the codec's
/// own decoders; the opaque shape has no Python form.
#[inline(never)]
fn get_leaf(shape: &Shape, d: &mut Decoder<'_>) -> Result<Value> {
    Ok(match shape {
        Shape::U8 => Value::from(u8::decode(d)?),
        Shape::I8 => Value::from(i8::decode(d)?),
        Shape::UInt(name) => match *name {
            "u16" => Value::from(u16::decode(d)?),
            "u32" => Value::from(u32::decode(d)?),
            "u128" => Value::from(u128::decode(d)?),
            _ => Value::from(u64::decode(d)?),
        },
        Shape::Int(name) => match *name {
            "i16" => Value::from(i16::decode(d)?),
            "i32" => Value::from(i32::decode(d)?),
            "i128" => Value::from(i128::decode(d)?),
            _ => Value::from(i64::decode(d)?),
        },
        Shape::F32 => Value::Float(f64::from(f32::decode(d)?)),
        Shape::F64 => Value::Float(f64::decode(d)?),
        Shape::Bool => Value::Bool(bool::decode(d)?),
        Shape::Char => Value::Str(char::decode(d)?.to_string()),
        Shape::Str(_) => Value::Str(String::decode(d)?),
        Shape::Bytes(_) => Value::Bytes(Vec::<u8>::decode(d)?),
        Shape::Array(_, n) => Value::Bytes(d.read_bytes(*n)?.to_vec()),
        Shape::Tuple(_) => Value::None,
        Shape::Duration => Value::Float(Duration::decode(d)?.as_secs_f64()),
        other => return Err(Error::decode(format!("{other} has no Python form"))),
    })
}

/// How many values to reserve for `len` elements: no more than the input
/// left (a length was already checked against it) and a fixed cap.
fn capacity(len: usize, d: &Decoder<'_>) -> usize {
    len.min(d.remaining()).min(1 << 16)
}

/// At most 50 characters of a user's name, for error texts.
fn clip(s: &str) -> String {
    match s.char_indices().nth(50) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_owned(),
    }
}

/// A Python `int` (or `bool`) in `min..=max`, for the Rust type `name`.
fn signed(v: &Value, name: &str, min: i128, max: i128) -> std::result::Result<i128, ConvError> {
    let i = match v {
        Value::Int(i) => Some(i128::from(*i)),
        Value::Bool(b) => Some(i128::from(*b)),
        Value::BigInt(b) => b.to_i128(),
        other => return Err(ConvError::expected("int", other)),
    };
    match i {
        Some(i) if (min..=max).contains(&i) => Ok(i),
        _ => Err(ConvError::new(format!(
            "int out of range for {name} ({min}..={max})"
        ))),
    }
}

/// A Python `int` (or `bool`) in `0..=max`, for the Rust type `name`.
fn unsigned(v: &Value, name: &str, max: u128) -> std::result::Result<u128, ConvError> {
    let u = match v {
        Value::Int(i) => u128::try_from(*i).ok(),
        Value::Bool(b) => Some(u128::from(*b)),
        Value::BigInt(b) => b.to_u128(),
        other => return Err(ConvError::expected("int", other)),
    };
    match u {
        Some(u) if u <= max => Ok(u),
        _ => Err(ConvError::new(format!(
            "int out of range for {name} (0..={max})"
        ))),
    }
}

/// A Python `float`, `int` or `bool` as an `f64`, as Python's `float()`
/// converts them.
fn float(v: &Value) -> std::result::Result<f64, ConvError> {
    match v {
        Value::Float(x) => Ok(*x),
        Value::Int(i) => Ok(*i as f64), // Rounds to nearest, as Python does.
        Value::Bool(b) => Ok(f64::from(u8::from(*b))),
        Value::BigInt(b) => b
            .to_f64()
            .ok_or_else(|| ConvError::new("int too large to convert to float")),
        other => Err(ConvError::expected("float", other)),
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
mod tests {
    use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
    use std::fmt::Debug;

    use super::*;
    use crate::codec::{from_slice, to_vec};

    fn s(text: &str) -> Value {
        Value::Str(text.into())
    }

    /// Rust -> bytes -> Python -> bytes -> Rust, checking the Python form.
    fn round_trip<T: Encode + Decode + PartialEq + Debug>(v: T, python: Value) {
        let shape = <T as Decode>::shape();
        let bytes = to_vec(&v);
        let value = bytes_to_value(&shape, &bytes).unwrap();
        assert_eq!(value, python, "{v:?}");
        let mut back = Vec::new();
        value_to_bytes(&shape, &value, &mut back).unwrap();
        assert_eq!(from_slice::<T>(&back).unwrap(), v);
    }

    /// Python -> bytes -> Rust.
    fn from_python<T: Decode>(v: Value) -> std::result::Result<T, String> {
        let mut out = Vec::new();
        value_to_bytes(&<T as Decode>::shape(), &v, &mut out).map_err(|e| e.message)?;
        from_slice(&out).map_err(|e| e.to_string())
    }

    fn rejects<T: Decode + Debug>(v: Value) -> String {
        match from_python::<T>(v) {
            Ok(x) => panic!("accepted as {x:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn integers() {
        round_trip(5u8, Value::Int(5));
        round_trip(-5i8, Value::Int(-5));
        round_trip(u16::MAX, Value::Int(65535));
        round_trip(i16::MIN, Value::Int(-32768));
        round_trip(u32::MAX, Value::Int(4294967295));
        round_trip(i32::MIN, Value::Int(-2147483648));
        round_trip(i64::MIN, Value::Int(i64::MIN));
        round_trip(u64::MAX, Value::from(u64::MAX));
        round_trip(u128::MAX, Value::from(u128::MAX));
        round_trip(i128::MIN, Value::from(i128::MIN));
        round_trip(usize::MAX, Value::from(usize::MAX));
        round_trip(isize::MIN, Value::from(isize::MIN));
        assert_eq!(from_python::<u8>(Value::Bool(true)).unwrap(), 1);
        assert_eq!(
            rejects::<u8>(Value::Int(256)),
            "int out of range for u8 (0..=255)"
        );
        assert!(rejects::<u32>(Value::Int(-1)).contains("out of range for u32"));
        assert!(rejects::<u64>(Value::Int(-1)).contains("out of range for u64"));
        assert!(rejects::<u128>(Value::Int(-1)).contains("out of range for u128"));
        assert!(rejects::<u128>(Value::from(i128::MIN)).contains("out of range for u128"));
        assert!(rejects::<i64>(Value::from(u64::MAX)).contains("out of range for i64"));
        assert!(rejects::<i128>(Value::from(u128::MAX)).contains("out of range for i128"));
        assert!(rejects::<i16>(Value::Int(40000)).contains("out of range for i16"));
        assert_eq!(rejects::<i32>(s("1")), "expected int, got str");
        assert_eq!(
            rejects::<u128>(Value::Float(1.0)),
            "expected int, got float"
        );
    }

    #[test]
    fn floats_bools_chars_strings() {
        round_trip(1.5f64, Value::Float(1.5));
        round_trip(-0.25f32, Value::Float(-0.25));
        assert_eq!(from_python::<f64>(Value::Int(3)).unwrap(), 3.0);
        assert_eq!(from_python::<f64>(Value::Bool(true)).unwrap(), 1.0);
        assert_eq!(
            from_python::<f64>(Value::from(u128::MAX)).unwrap(),
            u128::MAX as f64
        );
        let huge = Value::from_signed_bytes_le(
            &[0xff; 200].iter().copied().chain([0]).collect::<Vec<_>>(),
        );
        assert!(rejects::<f64>(huge).contains("too large"));
        assert!(rejects::<f32>(Value::Float(1e300)).contains("out of range for f32"));
        assert!(
            from_python::<f32>(Value::Float(f64::INFINITY))
                .unwrap()
                .is_infinite()
        );
        assert_eq!(rejects::<f64>(s("x")), "expected float, got str");
        round_trip(true, Value::Bool(true));
        assert_eq!(rejects::<bool>(Value::Int(1)), "expected bool, got int");
        round_trip('é', s("é"));
        assert!(rejects::<char>(s("ab")).contains("one character"));
        assert!(rejects::<char>(s("")).contains("one character"));
        assert!(rejects::<char>(Value::Int(1)).contains("expected str"));
        round_trip(String::from("hi"), s("hi"));
        assert_eq!(from_python::<Box<str>>(s("a")).unwrap(), "a".into());
        assert!(rejects::<String>(Value::Bytes(vec![])).contains("expected str, got bytes"));
    }

    #[test]
    fn bytes_and_sequences() {
        round_trip(vec![1u8, 2], Value::Bytes(vec![1, 2]));
        round_trip([7u8; 3], Value::Bytes(vec![7; 3]));
        round_trip(VecDeque::from(vec![1u8, 2]), Value::Bytes(vec![1, 2]));
        assert_eq!(
            from_python::<Vec<u8>>(Value::List(vec![1.into()])).unwrap(),
            [1]
        );
        assert!(rejects::<Vec<u8>>(s("ab")).contains("expected bytes"));
        assert!(
            rejects::<Vec<u8>>(Value::List(vec![300.into()]))
                .contains("element 0: int out of range for u8")
        );
        round_trip(vec![1i64, -2], Value::List(vec![1.into(), (-2).into()]));
        round_trip(vec![vec![1u8]], Value::List(vec![Value::Bytes(vec![1])]));
        round_trip([1u16, 2], Value::List(vec![1.into(), 2.into()]));
        assert!(
            rejects::<[u16; 2]>(Value::List(vec![1.into()])).contains("expected 2 elements, got 1")
        );
        assert!(rejects::<[u8; 2]>(Value::Bytes(vec![1])).contains("expected 2 bytes, got 1"));
        round_trip(Vec::<String>::new(), Value::List(vec![]));
        round_trip(
            VecDeque::from(vec![1i32, 2, 3]),
            Value::List(vec![1.into(), 2.into(), 3.into()]),
        );
        assert_eq!(
            from_python::<Vec<i32>>(Value::Tuple(vec![1.into()])).unwrap(),
            [1]
        );
        assert!(rejects::<Vec<i32>>(Value::Set(vec![])).contains("expected list, got set"));
        assert_eq!(
            &*from_python::<Box<[i32]>>(Value::List(vec![1.into()])).unwrap(),
            [1]
        );
    }

    #[test]
    fn tuples_unit_and_options() {
        round_trip(
            (String::from("a"), 1i64),
            Value::Tuple(vec![s("a"), 1.into()]),
        );
        assert_eq!(
            from_python::<(u8, u8)>(Value::List(vec![1.into(), 2.into()])).unwrap(),
            (1, 2)
        );
        assert!(
            rejects::<(u8, u8)>(Value::Tuple(vec![1.into()])).contains("tuple of 2, got one of 1")
        );
        assert!(
            rejects::<(u8, u8)>(Value::None).contains("expected tuple[int, int], got NoneType")
        );
        round_trip((), Value::None);
        from_python::<()>(Value::Tuple(vec![])).unwrap();
        assert!(rejects::<()>(Value::Int(1)).contains("expected None"));
        round_trip(Some(3u8), Value::Int(3));
        round_trip(None::<u8>, Value::None);
        round_trip(Box::new(5u8), Value::Int(5));
    }

    #[test]
    fn results() {
        round_trip(Ok::<u8, String>(1), Value::Int(1));
        round_trip(Err::<u8, String>("bad".into()), error_object(s("bad")));
        let from_py = Value::exception("ValueError", vec![s("x"), 1.into()]);
        assert_eq!(
            from_python::<std::result::Result<u8, (String, u8)>>(from_py).unwrap(),
            Err(("x".into(), 1))
        );
        assert_eq!(
            from_python::<std::result::Result<u8, String>>(Value::remote_error("tb")).unwrap(),
            Err("tb".into())
        );
        let token = Value::token("t", Value::None, "1");
        assert!(from_python::<std::result::Result<u8, String>>(token).is_err());
    }

    #[test]
    fn maps_and_sets() {
        let map: BTreeMap<String, i32> = [("a".into(), 1), ("b".into(), 2)].into();
        round_trip(
            map,
            Value::Dict(vec![(s("a"), 1.into()), (s("b"), 2.into())]),
        );
        let map: HashMap<u8, Vec<u8>> = [(1, vec![2])].into();
        round_trip(map, Value::Dict(vec![(1.into(), Value::Bytes(vec![2]))]));
        assert!(rejects::<HashMap<u8, u8>>(Value::List(vec![])).contains("expected dict"));
        assert!(
            rejects::<HashMap<u8, u8>>(Value::Dict(vec![(s("k"), 1.into())]))
                .contains("a key: expected int")
        );
        let set: BTreeSet<i64> = [3, 1].into();
        round_trip(set, Value::Set(vec![1.into(), 3.into()]));
        let set: HashSet<String> = ["x".to_string()].into();
        round_trip(set, Value::Set(vec![s("x")]));
        for python in [
            Value::FrozenSet(vec![1.into()]),
            Value::List(vec![1.into(), 1.into()]),
            Value::Tuple(vec![1.into()]),
        ] {
            assert_eq!(from_python::<BTreeSet<u8>>(python).unwrap(), [1].into());
        }
        assert!(rejects::<BTreeSet<u8>>(Value::Dict(vec![])).contains("expected set"));
    }

    #[test]
    fn durations() {
        round_trip(Duration::from_millis(1500), Value::Float(1.5));
        assert_eq!(
            from_python::<Duration>(Value::Int(2)).unwrap(),
            Duration::from_secs(2)
        );
        assert!(rejects::<Duration>(Value::Float(-1.0)).contains("duration"));
        assert!(rejects::<Duration>(Value::Float(f64::NAN)).contains("duration"));
        assert!(rejects::<Duration>(s("1")).contains("expected float"));
    }

    #[test]
    fn opaque_shapes_have_no_python_form() {
        let shape = Shape::Tuple(vec![Shape::Bool, Shape::Opaque("my::Thing")]);
        let e = value_to_bytes(
            &shape,
            &Value::Tuple(vec![true.into(), Value::None]),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(e.message, "field 1: Thing has no Python form");
        let e = bytes_to_value(&shape, &[1]).unwrap_err();
        assert!(e.to_string().contains("Thing has no Python form"), "{e}");
    }

    #[test]
    fn bytes_are_read_under_the_codec_limits() {
        // A length larger than the input, trailing bytes, a bad tag.
        let seq = Shape::seq("Vec", Shape::Bool);
        assert!(bytes_to_value(&seq, &[200, 1]).is_err());
        assert!(bytes_to_value(&Shape::Bool, &[1, 0]).is_err());
        assert!(bytes_to_value(&Shape::Option(Box::new(Shape::Bool)), &[2]).is_err());
        assert!(bytes_to_value(&Shape::Str("String"), &[2, 0xff, 0xfe]).is_err());
        // Every truncation of a nested value fails, none panics.
        let v = vec![Some((1u16, "ab".to_string())), None];
        let bytes = to_vec(&v);
        let shape = <Vec<Option<(u16, String)>> as Decode>::shape();
        for cut in 0..bytes.len() {
            assert!(bytes_to_value(&shape, &bytes[..cut]).is_err(), "{cut}");
        }
        assert!(bytes_to_value(&shape, &bytes).is_ok());
    }

    crate::message! {
        #[derive(Debug, Clone, PartialEq)]
        enum Tree {
            Leaf(i64),
            Node(Vec<Tree>),
            Labelled { name: String, child: Box<Tree> },
            Empty,
        }
    }

    crate::message! {
        #[derive(Debug, Clone, PartialEq)]
        struct Pair(u8, String);
    }

    crate::message! {
        #[derive(Debug, Clone, PartialEq)]
        struct Nothing;
    }

    fn d(entries: Vec<(&str, Value)>) -> Value {
        Value::Dict(entries.into_iter().map(|(k, v)| (s(k), v)).collect())
    }

    #[test]
    fn message_types_and_recursion() {
        let tree = Tree::Node(vec![
            Tree::Leaf(1),
            Tree::Labelled {
                name: "x".into(),
                child: Box::new(Tree::Node(vec![Tree::Empty])),
            },
        ]);
        let python = d(vec![(
            "Node",
            Value::List(vec![
                d(vec![("Leaf", 1.into())]),
                d(vec![(
                    "Labelled",
                    d(vec![
                        ("name", s("x")),
                        ("child", d(vec![("Node", Value::List(vec![s("Empty")]))])),
                    ]),
                )]),
            ]),
        )]);
        round_trip(tree, python);
        round_trip(Pair(1, "a".into()), Value::Tuple(vec![1.into(), s("a")]));
        round_trip(Nothing, Value::Dict(vec![]));
        assert_eq!(from_python::<Nothing>(Value::None).unwrap(), Nothing);
        assert_eq!(
            from_python::<Tree>(d(vec![("Empty", Value::None)])).unwrap(),
            Tree::Empty
        );
        assert_eq!(
            rejects::<Tree>(s("Leaf")),
            "Tree.Leaf has fields: write it as {'Leaf': fields}"
        );
        assert_eq!(rejects::<Tree>(s("Oak")), "Tree has no variant 'Oak'");
        assert!(rejects::<Tree>(Value::Int(1)).contains("expected a variant of Tree"));
        // Nesting deeper than the codec allows is refused both ways, and
        // neither direction overflows the stack.
        let mut deep = s("Empty");
        let mut bytes = vec![3];
        for _ in 0..200 {
            deep = d(vec![("Node", Value::List(vec![deep]))]);
            let mut outer = vec![1, 1];
            outer.extend_from_slice(&bytes);
            bytes = outer;
        }
        assert!(rejects::<Tree>(deep).contains("nested more than"));
        let shape = <Tree as Decode>::shape();
        let e = bytes_to_value(&shape, &bytes).unwrap_err();
        assert!(e.to_string().contains("nested more than"), "{e}");
        assert!(from_slice::<Tree>(&bytes).is_err());
    }

    #[test]
    fn python_type_names() {
        assert_eq!(
            python_type(&<(String, u64) as Decode>::shape()),
            "tuple[str, int]"
        );
        assert_eq!(
            python_type(&<Option<Vec<f32>> as Decode>::shape()),
            "Optional[list[float]]"
        );
        assert_eq!(
            python_type(&<HashMap<String, Vec<u8>> as Decode>::shape()),
            "dict[str, bytes]"
        );
        assert_eq!(python_type(&<BTreeSet<i8> as Decode>::shape()), "set[int]");
        assert_eq!(python_type(&<[u8; 4] as Decode>::shape()), "bytes");
        assert_eq!(python_type(&<() as Decode>::shape()), "None");
        assert_eq!(
            python_type(&<std::result::Result<bool, String> as Decode>::shape()),
            "bool"
        );
    }
}
