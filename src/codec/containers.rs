//! [`Encode`] and [`Decode`] for types that hold other values: strings,
//! slices, arrays, `Vec`, `VecDeque`, maps, sets, `Option`, `Result`, tuples,
//! smart pointers, `Cow` and references.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::rc::Rc;
use std::sync::Arc;

use super::write_varint_u64;
use super::{Decode, Decoder, Encode, Shape, prealloc};
use crate::{Error, Result};

/// Writes a collection length (a `usize`, written as a `u64`).
fn write_len(out: &mut Vec<u8>, len: usize) {
    // usize is at most 64 bits on every platform Rust supports.
    write_varint_u64(out, u64::try_from(len).unwrap_or(u64::MAX));
}

fn map_shape(name: &'static str, key: Shape, value: Shape) -> Shape {
    Shape::Map {
        name,
        key: Box::new(key),
        value: Box::new(value),
    }
}

fn set_shape(name: &'static str, elem: Shape) -> Shape {
    Shape::Set {
        name,
        elem: Box::new(elem),
    }
}

// ---- strings ---------------------------------------------------------------

impl Encode for str {
    fn shape() -> Shape {
        Shape::Str("&str")
    }

    fn encode(&self, out: &mut Vec<u8>) {
        self.as_bytes().encode(out);
    }

    fn encode_split<'a>(&'a self, head: &mut Vec<u8>) -> &'a [u8] {
        self.as_bytes().encode_split(head)
    }
}

impl Encode for String {
    fn shape() -> Shape {
        Shape::Str("String")
    }

    fn encode(&self, out: &mut Vec<u8>) {
        self.as_str().encode(out);
    }

    fn encode_split<'a>(&'a self, head: &mut Vec<u8>) -> &'a [u8] {
        self.as_str().encode_split(head)
    }

    fn encode_owned_split(self, head: &mut Vec<u8>) -> Vec<u8> {
        self.into_bytes().encode_owned_split(head)
    }
}

impl Decode for String {
    const BYTE_STRING: bool = true;

    fn shape() -> Shape {
        Shape::Str("String")
    }

    /// Takes the bytes once they prove to be UTF-8 (the error is
    /// [`decode`](Decode::decode)'s).
    fn from_byte_string(bytes: Vec<u8>) -> Result<String> {
        String::from_utf8(bytes)
            .map_err(|e| Error::decode(format!("invalid UTF-8 in string: {}", e.utf8_error())))
    }

    fn decode(d: &mut Decoder<'_>) -> Result<String> {
        let len = d.read_len_of::<u8>()?;
        let bytes = d.read_bytes(len)?;
        // Validate in place, then copy once.
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(Error::decode(format!("invalid UTF-8 in string: {e}"))),
        }
    }
}

impl Decode for Box<str> {
    fn shape() -> Shape {
        Shape::Str("Box<str>")
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Box<str>> {
        String::decode(d).map(String::into_boxed_str)
    }
}

impl Decode for Rc<str> {
    fn shape() -> Shape {
        Shape::Str("Rc<str>")
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Rc<str>> {
        String::decode(d).map(Rc::from)
    }
}

impl Decode for Arc<str> {
    fn shape() -> Shape {
        Shape::Str("Arc<str>")
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Arc<str>> {
        String::decode(d).map(Arc::from)
    }
}

// ---- sequences -------------------------------------------------------------

/// The element count, then the elements (a `[u8]` is one copy).
impl<T: Encode> Encode for [T] {
    fn shape() -> Shape {
        Shape::seq("&[]", T::shape())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        write_len(out, self.len());
        T::encode_slice(self, out);
    }

    fn encode_split<'a>(&'a self, head: &mut Vec<u8>) -> &'a [u8] {
        write_len(head, self.len());
        T::encode_slice_split(self, head)
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn shape() -> Shape {
        Shape::seq("Vec", T::shape())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        self.as_slice().encode(out);
    }

    fn encode_split<'a>(&'a self, head: &mut Vec<u8>) -> &'a [u8] {
        self.as_slice().encode_split(head)
    }

    fn encode_owned_split(self, head: &mut Vec<u8>) -> Vec<u8> {
        T::encode_vec_split(self, head)
    }
}

impl<T: Decode> Decode for Vec<T> {
    const BYTE_STRING: bool = T::IS_U8;

    fn shape() -> Shape {
        Shape::seq("Vec", T::shape())
    }

    fn from_byte_string(bytes: Vec<u8>) -> Result<Vec<T>> {
        T::vec_from_byte_string(bytes)
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Vec<T>> {
        let len = d.read_len_of::<T>()?;
        T::decode_vec(len, d)
    }

    fn decode_owned(bytes: Vec<u8>) -> Result<Vec<T>> {
        T::decode_vec_owned(bytes)
    }
}

impl<T: Decode> Decode for Box<[T]> {
    fn shape() -> Shape {
        Shape::seq("Box<[]>", T::shape())
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Box<[T]>> {
        Vec::decode(d).map(Vec::into_boxed_slice)
    }
}

impl<T: Decode> Decode for Rc<[T]> {
    fn shape() -> Shape {
        Shape::seq("Rc<[]>", T::shape())
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Rc<[T]>> {
        Vec::decode(d).map(Rc::from)
    }
}

impl<T: Decode> Decode for Arc<[T]> {
    fn shape() -> Shape {
        Shape::seq("Arc<[]>", T::shape())
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Arc<[T]>> {
        Vec::decode(d).map(Arc::from)
    }
}

impl<T: Encode> Encode for VecDeque<T> {
    fn shape() -> Shape {
        Shape::seq("VecDeque", T::shape())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        write_len(out, self.len());
        let (front, back) = self.as_slices();
        T::encode_slice(front, out);
        T::encode_slice(back, out);
    }
}

impl<T: Decode> Decode for VecDeque<T> {
    fn shape() -> Shape {
        Shape::seq("VecDeque", T::shape())
    }

    fn decode(d: &mut Decoder<'_>) -> Result<VecDeque<T>> {
        Vec::decode(d).map(VecDeque::from)
    }
}

/// The `N` elements, with no length: the length is part of the type.
impl<T: Encode, const N: usize> Encode for [T; N] {
    fn shape() -> Shape {
        Shape::Array(Box::new(T::shape()), N)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        T::encode_slice(self, out);
    }
}

impl<T: Decode, const N: usize> Decode for [T; N] {
    fn shape() -> Shape {
        Shape::Array(Box::new(T::shape()), N)
    }

    fn decode(d: &mut Decoder<'_>) -> Result<[T; N]> {
        T::decode_array(d)
    }
}

// ---- maps and sets -----------------------------------------------------------

impl<K: Encode, V: Encode> Encode for BTreeMap<K, V> {
    fn shape() -> Shape {
        map_shape("BTreeMap", K::shape(), V::shape())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        write_len(out, self.len());
        for (k, v) in self {
            k.encode(out);
            v.encode(out);
        }
    }
}

/// A repeated key keeps the last value, as bincode 2 does.
impl<K: Decode + Ord, V: Decode> Decode for BTreeMap<K, V> {
    fn shape() -> Shape {
        map_shape("BTreeMap", K::shape(), V::shape())
    }

    fn decode(d: &mut Decoder<'_>) -> Result<BTreeMap<K, V>> {
        let len = d.read_len_of::<(K, V)>()?;
        // Tree nodes and hash tables take up to about twice their elements.
        d.charge(len.saturating_mul(std::mem::size_of::<(K, V)>()))?;
        let mut map = BTreeMap::new();
        decode_entries(d, len, |k, v| {
            map.insert(k, v);
        })?;
        Ok(map)
    }
}

/// Entries are written in the map's iteration order, which for a `HashMap`
/// is unspecified: equal maps can encode to different bytes.
impl<K: Encode, V: Encode, S> Encode for HashMap<K, V, S> {
    fn shape() -> Shape {
        map_shape("HashMap", K::shape(), V::shape())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        write_len(out, self.len());
        for (k, v) in self {
            k.encode(out);
            v.encode(out);
        }
    }
}

/// Decodes `len` key-value pairs, handing each to `insert` (a repeated key
/// keeps the last value, as bincode 2 does).
fn decode_entries<K: Decode, V: Decode>(
    d: &mut Decoder<'_>,
    len: usize,
    mut insert: impl FnMut(K, V),
) -> Result<()> {
    for _ in 0..len {
        let k = K::decode(d)?;
        let v = V::decode(d)?;
        insert(k, v);
    }
    Ok(())
}

/// A repeated key keeps the last value, as bincode 2 does.
impl<K, V, S> Decode for HashMap<K, V, S>
where
    K: Decode + Eq + Hash,
    V: Decode,
    S: BuildHasher + Default,
{
    fn shape() -> Shape {
        map_shape("HashMap", K::shape(), V::shape())
    }

    fn decode(d: &mut Decoder<'_>) -> Result<HashMap<K, V, S>> {
        let len = d.read_len_of::<(K, V)>()?;
        // Tree nodes and hash tables take up to about twice their elements.
        d.charge(len.saturating_mul(std::mem::size_of::<(K, V)>()))?;
        let mut map = HashMap::with_capacity_and_hasher(prealloc::<(K, V)>(len, d), S::default());
        decode_entries(d, len, |k, v| {
            map.insert(k, v);
        })?;
        Ok(map)
    }
}

impl<T: Encode> Encode for BTreeSet<T> {
    fn shape() -> Shape {
        set_shape("BTreeSet", T::shape())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        write_len(out, self.len());
        for item in self {
            item.encode(out);
        }
    }
}

/// Repeated elements are merged, as bincode 2 does.
impl<T: Decode + Ord> Decode for BTreeSet<T> {
    fn shape() -> Shape {
        set_shape("BTreeSet", T::shape())
    }

    fn decode(d: &mut Decoder<'_>) -> Result<BTreeSet<T>> {
        let len = d.read_len_of::<T>()?;
        // Tree nodes and hash tables take up to about twice their elements.
        d.charge(len.saturating_mul(std::mem::size_of::<T>()))?;
        let mut set = BTreeSet::new();
        for _ in 0..len {
            set.insert(T::decode(d)?);
        }
        Ok(set)
    }
}

/// Elements are written in the set's iteration order, which for a `HashSet`
/// is unspecified: equal sets can encode to different bytes.
impl<T: Encode, S> Encode for HashSet<T, S> {
    fn shape() -> Shape {
        set_shape("HashSet", T::shape())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        write_len(out, self.len());
        for item in self {
            item.encode(out);
        }
    }
}

/// Repeated elements are merged, as bincode 2 does.
impl<T, S> Decode for HashSet<T, S>
where
    T: Decode + Eq + Hash,
    S: BuildHasher + Default,
{
    fn shape() -> Shape {
        set_shape("HashSet", T::shape())
    }

    fn decode(d: &mut Decoder<'_>) -> Result<HashSet<T, S>> {
        let len = d.read_len_of::<T>()?;
        // Tree nodes and hash tables take up to about twice their elements.
        d.charge(len.saturating_mul(std::mem::size_of::<T>()))?;
        let mut set = HashSet::with_capacity_and_hasher(prealloc::<T>(len, d), S::default());
        for _ in 0..len {
            set.insert(T::decode(d)?);
        }
        Ok(set)
    }
}

// ---- Option and Result -------------------------------------------------------

/// A `0` byte for `None`; a `1` byte then the value for `Some`.
impl<T: Encode> Encode for Option<T> {
    fn shape() -> Shape {
        Shape::Option(Box::new(T::shape()))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.encode(out);
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn shape() -> Shape {
        Shape::Option(Box::new(T::shape()))
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Option<T>> {
        match d.read_u8()? {
            0 => Ok(None),
            1 => T::decode(d).map(Some),
            b => Err(Error::decode(format!("invalid Option tag {b}"))),
        }
    }
}

/// The variant index as a variable-length `u32` (`0` for `Ok`, `1` for
/// `Err`), then the value.
impl<T: Encode, E: Encode> Encode for std::result::Result<T, E> {
    fn shape() -> Shape {
        Shape::Result(Box::new(T::shape()), Box::new(E::shape()))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Ok(v) => {
                out.push(0);
                v.encode(out);
            }
            Err(e) => {
                out.push(1);
                e.encode(out);
            }
        }
    }
}

impl<T: Decode, E: Decode> Decode for std::result::Result<T, E> {
    fn shape() -> Shape {
        Shape::Result(Box::new(T::shape()), Box::new(E::shape()))
    }

    fn decode(d: &mut Decoder<'_>) -> Result<std::result::Result<T, E>> {
        match d.read_varint_u32()? {
            0 => T::decode(d).map(Ok),
            1 => E::decode(d).map(Err),
            n => Err(Error::decode(format!("invalid Result variant {n}"))),
        }
    }
}

// ---- pointers and references -------------------------------------------------

// References and smart pointers are encoded as the value they point to.
macro_rules! pointer_encode {
    ($($ptr:ty),* $(,)?) => {$(
        impl<T: Encode + ?Sized> Encode for $ptr {
            fn shape() -> Shape {
                T::shape()
            }

            fn encode(&self, out: &mut Vec<u8>) {
                (**self).encode(out);
            }

            fn encode_split<'a>(&'a self, head: &mut Vec<u8>) -> &'a [u8] {
                (**self).encode_split(head)
            }
        }
    )*};
}

pointer_encode!(&T, &mut T, Box<T>, Rc<T>, Arc<T>);

// Owning pointers decode the value and wrap it.
macro_rules! pointer_decode {
    ($($ptr:ident),* $(,)?) => {$(
        impl<T: Decode> Decode for $ptr<T> {
            fn shape() -> Shape {
                T::shape()
            }

            fn decode(d: &mut Decoder<'_>) -> Result<$ptr<T>> {
                d.charge(std::mem::size_of::<T>())?;
                T::decode(d).map($ptr::new)
            }
        }
    )*};
}

pointer_decode!(Box, Rc, Arc);

/// A `Cow` is encoded as the value it points to (`Cow<str>` as a `str`,
/// `Cow<[T]>` as a `[T]`).
impl<T: Encode + ToOwned + ?Sized> Encode for Cow<'_, T> {
    fn shape() -> Shape {
        T::shape()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out);
    }

    fn encode_split<'a>(&'a self, head: &mut Vec<u8>) -> &'a [u8] {
        (**self).encode_split(head)
    }
}

/// Always decodes to [`Cow::Owned`].
impl<T: ToOwned + ?Sized> Decode for Cow<'_, T>
where
    T::Owned: Decode,
{
    fn shape() -> Shape {
        T::Owned::shape()
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Self> {
        T::Owned::decode(d).map(Cow::Owned)
    }
}

// ---- tuples ----------------------------------------------------------------

/// A tuple's `encode_split`: every field but the last encoded into `head`,
/// the last one split.
macro_rules! tuple_split {
    ($self:ident, $head:ident; $($name:ident)+) => {{
        #[allow(non_snake_case)]
        let ($($name,)+) = $self;
        tuple_split!(@fields $head; $($name)+)
    }};
    (@fields $head:ident; $last:ident) => {
        $last.encode_split($head)
    };
    (@fields $head:ident; $first:ident $($rest:ident)+) => {{
        $first.encode($head);
        tuple_split!(@fields $head; $($rest)+)
    }};
}

macro_rules! tuple {
    ($($name:ident)+) => {
        /// The fields in order, with nothing between them.
        impl<$($name: Encode),+> Encode for ($($name,)+) {
            fn shape() -> Shape {
                Shape::tuple(vec![$($name::shape()),+])
            }

            fn encode(&self, out: &mut Vec<u8>) {
                #[allow(non_snake_case)]
                let ($($name,)+) = self;
                $($name.encode(out);)+
            }

            // Only the last field's trailing bytes can end the encoding.
            fn encode_split<'a>(&'a self, head: &mut Vec<u8>) -> &'a [u8] {
                tuple_split!(self, head; $($name)+)
            }
        }

        impl<$($name: Decode),+> Decode for ($($name,)+) {
            fn shape() -> Shape {
                Shape::tuple(vec![$($name::shape()),+])
            }

            fn decode(d: &mut Decoder<'_>) -> Result<Self> {
                Ok(($($name::decode(d)?,)+))
            }
        }
    };
}

tuple!(A);
tuple!(A B);
tuple!(A B C);
tuple!(A B C D);
tuple!(A B C D E);
tuple!(A B C D E F);
tuple!(A B C D E F G);
tuple!(A B C D E F G H);
tuple!(A B C D E F G H I);
tuple!(A B C D E F G H I J);
tuple!(A B C D E F G H I J K);
tuple!(A B C D E F G H I J K L);
tuple!(A B C D E F G H I J K L M);
tuple!(A B C D E F G H I J K L M N);
tuple!(A B C D E F G H I J K L M N O);
tuple!(A B C D E F G H I J K L M N O P);
