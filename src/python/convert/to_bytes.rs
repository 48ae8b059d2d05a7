//! Python to bytes: a Python value written as the std-codec bytes of a
//! shape.

use std::time::Duration;

use super::{ConvError, Walk, clip, error_payload, python_type};
use crate::codec::{Encode, Fields, MAX_DEPTH, Shape, write_varint_u64};
use crate::python::pickle::Value;

/// What writing a value (or reading a number from one) gives: `T`, or why
/// the value does not fit.
type Put<T = ()> = std::result::Result<T, ConvError>;

impl<'s> Walk<'s> {
    /// Each recursive kind of shape has a small function of its own, and
    /// the leaves one shared: in a debug build, a frame holds every local of
    /// every arm, so the frames of a deep value's chain are kept small.
    pub(super) fn put(&mut self, shape: &'s Shape, v: &Value, out: &mut Vec<u8>) -> Put {
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
    pub(super) fn put_seq(&mut self, elem: &'s Shape, v: &Value, out: &mut Vec<u8>) -> Put {
        match v {
            Value::List(items) | Value::Tuple(items) => self.counted(elem, items, out),
            other => Err(ConvError::expected("list", other)),
        }
    }

    #[inline(never)]
    pub(super) fn put_array(
        &mut self,
        shape: &Shape,
        elem: &'s Shape,
        n: usize,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> Put {
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
    pub(super) fn put_map(
        &mut self,
        key: &'s Shape,
        value: &'s Shape,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> Put {
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
    pub(super) fn put_set(&mut self, elem: &'s Shape, v: &Value, out: &mut Vec<u8>) -> Put {
        match v {
            Value::Set(items)
            | Value::FrozenSet(items)
            | Value::List(items)
            | Value::Tuple(items) => self.counted(elem, items, out),
            other => Err(ConvError::expected("set", other)),
        }
    }

    #[inline(never)]
    pub(super) fn put_option(&mut self, inner: &'s Shape, v: &Value, out: &mut Vec<u8>) -> Put {
        if v.is_none() {
            out.push(0);
            return Ok(());
        }
        out.push(1);
        self.put(inner, v, out)
    }

    #[inline(never)]
    pub(super) fn put_result(
        &mut self,
        ok: &'s Shape,
        err: &'s Shape,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> Put {
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
    pub(super) fn put_message(&mut self, shape: &'s Shape, v: &Value, out: &mut Vec<u8>) -> Put {
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
    pub(super) fn put_named(&mut self, name: &str, v: &Value, out: &mut Vec<u8>) -> Put {
        match self.resolve(name) {
            Some(def) => self.put(def, v, out),
            None => Err(ConvError::new(format!("{name} is not defined"))),
        }
    }

    /// Starts converting the `message!` type `shape`, counting its depth.
    pub(super) fn enter(&mut self, shape: &'s Shape) -> Put {
        if self.named.len() >= MAX_DEPTH as usize {
            return Err(ConvError::new(format!(
                "values nested more than {MAX_DEPTH} deep"
            )));
        }
        self.named.push(shape);
        Ok(())
    }

    /// A sequence's or set's items: their count, then each.
    pub(super) fn counted(&mut self, elem: &'s Shape, items: &[Value], out: &mut Vec<u8>) -> Put {
        write_varint_u64(out, items.len() as u64);
        self.each(elem, items, out)
    }

    pub(super) fn each(&mut self, elem: &'s Shape, items: &[Value], out: &mut Vec<u8>) -> Put {
        for (i, item) in items.iter().enumerate() {
            self.put(elem, item, out)
                .map_err(|e| e.within(format_args!("element {i}")))?;
        }
        Ok(())
    }

    /// Positional fields (a tuple, a tuple struct or variant): one is the
    /// value itself, several a tuple or list of as many.
    pub(super) fn fields(
        &mut self,
        what: &dyn Fn() -> String,
        fields: &'s [Shape],
        v: &Value,
        out: &mut Vec<u8>,
    ) -> Put {
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
    pub(super) fn put_fields(
        &mut self,
        what: &str,
        fields: &'s Fields,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> Put {
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

    pub(super) fn put_enum(
        &mut self,
        name: &str,
        variants: &'s [(&'static str, Fields)],
        v: &Value,
        out: &mut Vec<u8>,
    ) -> Put {
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
}

/// A shape that holds no other: numbers, text, bytes, `()`, `Duration`,
/// and the opaque shape, which has no Python form.
#[inline(never)]
pub(super) fn put_leaf(shape: &Shape, v: &Value, out: &mut Vec<u8>) -> Put {
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

/// A Python `int` (or `bool`) in `min..=max`, for the Rust type `name`.
pub(super) fn signed(v: &Value, name: &str, min: i128, max: i128) -> Put<i128> {
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
pub(super) fn unsigned(v: &Value, name: &str, max: u128) -> Put<u128> {
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
pub(super) fn float(v: &Value) -> Put<f64> {
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
