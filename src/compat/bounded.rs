//! A serde `Deserializer` adapter that keeps bincode's decoding of untrusted
//! input bounded by the input itself.
//!
//! bincode 2 reads an owned `String` or byte buffer by allocating the length
//! the input announces and then reading into it, so ten hostile bytes could
//! ask for gigabytes; its `with_limit` is a compile-time constant, too small
//! for some messages or too large for others. This adapter wraps every
//! deserializer, visitor and access object on the way down and changes three
//! things, nothing else:
//!
//! - owned strings and byte buffers are read as borrowed slices of the input
//!   (bounds-checked before anything is allocated) and copied once, at their
//!   real size;
//! - a sequence or map whose length prefix exceeds the input length is
//!   rejected before serde's visitor loops over it (the std codec's rule,
//!   which also stops a `Vec<()>` of 2^60 elements from spinning);
//! - nesting deeper than [`MAX_NESTING`] is rejected, so a recursive serde
//!   type cannot exhaust the stack.
//!
//! The bytes accepted are exactly those bincode accepts, apart from these
//! hostile cases.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess};
use serde::de::{SeqAccess, VariantAccess, Visitor};

/// How deeply serde values may nest (containers, options, enums, newtypes,
/// each counted); deeper input is rejected.
pub(crate) const MAX_NESTING: u32 = 4 * crate::codec::MAX_DEPTH;

/// What every wrapper carries down: the input length (the bound for length
/// prefixes) and the nesting depth so far.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) input_len: usize,
    pub(crate) depth: u32,
}

impl Bounds {
    /// The bounds one level down, or an error past [`MAX_NESTING`].
    fn nested<E: de::Error>(self) -> Result<Bounds, E> {
        if self.depth >= MAX_NESTING {
            return Err(E::custom(format_args!(
                "values nested more than {MAX_NESTING} deep"
            )));
        }
        Ok(Bounds {
            depth: self.depth + 1,
            ..self
        })
    }

    /// Rejects a length prefix larger than the whole input.
    fn check_len<E: de::Error>(self, len: Option<usize>) -> Result<(), E> {
        match len {
            Some(n) if n > self.input_len => Err(E::custom(format_args!(
                "length prefix {n} exceeds the {} bytes of input",
                self.input_len
            ))),
            _ => Ok(()),
        }
    }
}

/// A `DeserializeSeed` that deserializes through [`Bounded`].
pub(crate) struct Seed<S> {
    pub(crate) inner: S,
    pub(crate) bounds: Bounds,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        let bounds = self.bounds.nested()?;
        self.inner.deserialize(Bounded {
            inner: deserializer,
            bounds,
        })
    }
}

/// The deserializer wrapper.
struct Bounded<D> {
    inner: D,
    bounds: Bounds,
}

/// The visitor wrapper; `check_len` is set where the length comes from the
/// input (sequences and maps), not from the type (tuples, structs).
struct Visit<V> {
    inner: V,
    bounds: Bounds,
    check_len: bool,
}

impl<V> Visit<V> {
    fn new(inner: V, bounds: Bounds) -> Visit<V> {
        Visit {
            inner,
            bounds,
            check_len: false,
        }
    }
}

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self $(, $arg: $ty)*, visitor: V) -> Result<V::Value, D::Error> {
            self.inner.$method($($arg,)* Visit::new(visitor, self.bounds))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Bounded<D> {
    type Error = D::Error;

    forward_deserialize!(
        deserialize_any(),
        deserialize_bool(),
        deserialize_i8(),
        deserialize_i16(),
        deserialize_i32(),
        deserialize_i64(),
        deserialize_i128(),
        deserialize_u8(),
        deserialize_u16(),
        deserialize_u32(),
        deserialize_u64(),
        deserialize_u128(),
        deserialize_f32(),
        deserialize_f64(),
        deserialize_char(),
        deserialize_str(),
        deserialize_bytes(),
        deserialize_option(),
        deserialize_unit(),
        deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_struct(name: &'static str, fields: &'static [&'static str]),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
        deserialize_identifier(),
        deserialize_ignored_any(),
    );

    /// Borrowed from the input, so the length is checked before copying.
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_str(Visit::new(visitor, self.bounds))
    }

    /// Borrowed from the input, so the length is checked before copying.
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner
            .deserialize_bytes(Visit::new(visitor, self.bounds))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_seq(Visit {
            check_len: true,
            ..Visit::new(visitor, self.bounds)
        })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(Visit {
            check_len: true,
            ..Visit::new(visitor, self.bounds)
        })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Visit<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        let bounds = self.bounds.nested()?;
        self.inner.visit_some(Bounded {
            inner: deserializer,
            bounds,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        let bounds = self.bounds.nested()?;
        self.inner.visit_newtype_struct(Bounded {
            inner: deserializer,
            bounds,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        if self.check_len {
            self.bounds.check_len(seq.size_hint())?;
        }
        self.inner.visit_seq(Seq {
            inner: seq,
            bounds: self.bounds,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        if self.check_len {
            self.bounds.check_len(map.size_hint())?;
        }
        self.inner.visit_map(Map {
            inner: map,
            bounds: self.bounds,
        })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(Enum {
            inner: data,
            bounds: self.bounds,
        })
    }
}

struct Seq<A> {
    inner: A,
    bounds: Bounds,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Seq<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.inner.next_element_seed(Seed {
            inner: seed,
            bounds: self.bounds,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

struct Map<A> {
    inner: A,
    bounds: Bounds,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Map<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.inner.next_key_seed(Seed {
            inner: seed,
            bounds: self.bounds,
        })
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.next_value_seed(Seed {
            inner: seed,
            bounds: self.bounds,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

struct Enum<A> {
    inner: A,
    bounds: Bounds,
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Enum<A> {
    type Error = A::Error;
    type Variant = Variant<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Variant<A::Variant>), A::Error> {
        let bounds = self.bounds.nested()?;
        let (value, variant) = self.inner.variant_seed(Seed {
            inner: seed,
            bounds: self.bounds,
        })?;
        Ok((
            value,
            Variant {
                inner: variant,
                bounds,
            },
        ))
    }
}

struct Variant<A> {
    inner: A,
    bounds: Bounds,
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Variant<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.newtype_variant_seed(Seed {
            inner: seed,
            bounds: self.bounds,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner
            .tuple_variant(len, Visit::new(visitor, self.bounds))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.inner
            .struct_variant(fields, Visit::new(visitor, self.bounds))
    }
}
