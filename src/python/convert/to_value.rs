//! Bytes to Python: the std-codec bytes of a shape read as a Python value.

use std::time::Duration;

use super::{Walk, error_object};
use crate::codec::{Decode, Decoder, Fields, Shape};
use crate::python::pickle::Value;
use crate::{Error, Result};

impl<'s> Walk<'s> {
    /// As for `put`, each recursive kind has a small function of its own.
    pub(super) fn get(&mut self, shape: &'s Shape, d: &mut Decoder<'_>) -> Result<Value> {
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
    pub(super) fn get_seq(
        &mut self,
        shape: &Shape,
        elem: &'s Shape,
        d: &mut Decoder<'_>,
    ) -> Result<Value> {
        let len = d.read_len()?;
        let items = self.get_n(elem, len, d)?;
        Ok(match shape {
            Shape::Set { .. } => Value::Set(items),
            _ => Value::List(items),
        })
    }

    #[inline(never)]
    pub(super) fn get_map(
        &mut self,
        key: &'s Shape,
        value: &'s Shape,
        d: &mut Decoder<'_>,
    ) -> Result<Value> {
        let len = d.read_len()?;
        let mut entries = Vec::with_capacity(capacity(len, d));
        for _ in 0..len {
            let k = self.get(key, d)?;
            entries.push((k, self.get(value, d)?));
        }
        Ok(Value::Dict(entries))
    }

    #[inline(never)]
    pub(super) fn get_option(&mut self, inner: &'s Shape, d: &mut Decoder<'_>) -> Result<Value> {
        match d.read_u8()? {
            0 => Ok(Value::None),
            1 => self.get(inner, d),
            tag => Err(Error::decode(format!("invalid Option tag {tag}"))),
        }
    }

    #[inline(never)]
    pub(super) fn get_result(
        &mut self,
        ok: &'s Shape,
        err: &'s Shape,
        d: &mut Decoder<'_>,
    ) -> Result<Value> {
        match u32::decode(d)? {
            0 => self.get(ok, d),
            1 => Ok(error_object(self.get(err, d)?)),
            tag => Err(Error::decode(format!("invalid Result tag {tag}"))),
        }
    }

    #[inline(never)]
    pub(super) fn get_named(&mut self, name: &str, d: &mut Decoder<'_>) -> Result<Value> {
        match self.resolve(name) {
            Some(def) => self.get(def, d),
            None => Err(Error::decode(format!("{name} is not defined"))),
        }
    }

    /// A `message!` value, counted against the decoder's depth.
    #[inline(never)]
    pub(super) fn get_message(&mut self, shape: &'s Shape, d: &mut Decoder<'_>) -> Result<Value> {
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

    pub(super) fn get_variant(
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
    pub(super) fn get_fields(
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

    pub(super) fn get_each(
        &mut self,
        shapes: &'s [Shape],
        d: &mut Decoder<'_>,
    ) -> Result<Vec<Value>> {
        shapes.iter().map(|s| self.get(s, d)).collect()
    }

    pub(super) fn get_n(
        &mut self,
        elem: &'s Shape,
        n: usize,
        d: &mut Decoder<'_>,
    ) -> Result<Vec<Value>> {
        let mut items = Vec::with_capacity(capacity(n, d));
        for _ in 0..n {
            items.push(self.get(elem, d)?);
        }
        Ok(items)
    }
}

/// A shape that holds no other (and a byte array), read with the codec's
/// own decoders; the opaque shape has no Python form.
#[inline(never)]
pub(super) fn get_leaf(shape: &Shape, d: &mut Decoder<'_>) -> Result<Value> {
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
pub(super) fn capacity(len: usize, d: &Decoder<'_>) -> usize {
    len.min(d.remaining()).min(1 << 16)
}
