//! [`Encode`] and [`Decode`] for scalars: integers, floats, `bool`, `char`,
//! `()`, `PhantomData` and `Duration`.

use std::marker::PhantomData;
use std::time::Duration;

use super::varint::{write_varint_u128, zigzag_decode, zigzag_encode};
use super::write_varint_u64;
use super::{Decode, Decoder, Encode, Shape};
use crate::{Error, Result};

impl Encode for u8 {
    fn shape() -> Shape {
        Shape::U8
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }

    fn encode_slice(items: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(items);
    }

    fn encode_slice_split<'a>(items: &'a [u8], _head: &mut Vec<u8>) -> &'a [u8] {
        items
    }

    fn encode_vec_split(items: Vec<u8>, head: &mut Vec<u8>) -> Vec<u8> {
        super::write_varint_u64(head, items.len() as u64);
        items
    }
}

impl Decode for u8 {
    const IS_U8: bool = true;

    fn shape() -> Shape {
        Shape::U8
    }

    fn vec_from_byte_string(bytes: Vec<u8>) -> Result<Vec<u8>> {
        Ok(bytes)
    }

    fn decode(d: &mut Decoder<'_>) -> Result<u8> {
        d.read_u8()
    }

    fn decode_vec(len: usize, d: &mut Decoder<'_>) -> Result<Vec<u8>> {
        Ok(d.read_bytes(len)?.to_vec())
    }

    /// Takes the buffer: the length prefix is removed in place (a move of
    /// the bytes within the buffer, no allocation); anything but exactly
    /// one length and its bytes decodes as [`from_slice`] would, errors
    /// included.
    fn decode_vec_owned(mut bytes: Vec<u8>) -> Result<Vec<u8>> {
        let mut d = Decoder::new(&bytes);
        let prefix = match d.read_len_of::<u8>() {
            Ok(len) if len == d.remaining() => bytes.len() - len,
            _ => return crate::codec::from_slice(&bytes),
        };
        bytes.drain(..prefix);
        Ok(bytes)
    }

    fn decode_array<const N: usize>(d: &mut Decoder<'_>) -> Result<[u8; N]> {
        d.read_array()
    }
}

impl Encode for i8 {
    fn shape() -> Shape {
        Shape::I8
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Decode for i8 {
    fn shape() -> Shape {
        Shape::I8
    }

    fn decode(d: &mut Decoder<'_>) -> Result<i8> {
        Ok(i8::from_le_bytes(d.read_array()?))
    }
}

impl Encode for bool {
    fn shape() -> Shape {
        Shape::Bool
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl Decode for bool {
    fn shape() -> Shape {
        Shape::Bool
    }

    fn decode(d: &mut Decoder<'_>) -> Result<bool> {
        match d.read_u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(Error::decode(format!("invalid bool byte {b}"))),
        }
    }
}

macro_rules! unsigned_varint {
    ($($ty:ty => $read:ident),* $(,)?) => {$(
        impl Encode for $ty {
            fn shape() -> Shape {
                Shape::UInt(stringify!($ty))
            }

            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                write_varint_u64(out, u64::from(*self));
            }
        }

        impl Decode for $ty {
            fn shape() -> Shape {
                Shape::UInt(stringify!($ty))
            }

            #[inline]
            fn decode(d: &mut Decoder<'_>) -> Result<$ty> {
                d.$read()
            }
        }
    )*};
}

unsigned_varint!(u16 => read_varint_u16, u32 => read_varint_u32, u64 => read_varint_u64);

impl Encode for u128 {
    fn shape() -> Shape {
        Shape::UInt("u128")
    }

    fn encode(&self, out: &mut Vec<u8>) {
        write_varint_u128(out, *self);
    }
}

impl Decode for u128 {
    fn shape() -> Shape {
        Shape::UInt("u128")
    }

    fn decode(d: &mut Decoder<'_>) -> Result<u128> {
        d.read_varint_u128()
    }
}

/// `usize` is written as a `u64`, so the bytes are the same on every platform.
impl Encode for usize {
    fn shape() -> Shape {
        Shape::UInt("usize")
    }

    fn encode(&self, out: &mut Vec<u8>) {
        // usize is at most 64 bits on every platform Rust supports; a wider
        // one would be saturated rather than panic.
        write_varint_u64(out, u64::try_from(*self).unwrap_or(u64::MAX));
    }
}

/// A `usize` is read as a `u64`; a value that does not fit this platform's
/// `usize` is an error.
impl Decode for usize {
    fn shape() -> Shape {
        Shape::UInt("usize")
    }

    fn decode(d: &mut Decoder<'_>) -> Result<usize> {
        let v = d.read_varint_u64()?;
        usize::try_from(v).map_err(|_| Error::decode(format!("{v} does not fit a usize")))
    }
}

macro_rules! signed_varint {
    ($($ty:ty => $unsigned:ty),* $(,)?) => {$(
        impl Encode for $ty {
            fn shape() -> Shape {
                Shape::Int(stringify!($ty))
            }

            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                // Zigzag (`0, -1, 1, -2, …` → `0, 1, 2, 3, …`) in the unsigned
                // type of the same width, then the varint: the form bincode's
                // fixed-width zigzag picks.
                let v = *self;
                let z = ((v << 1) ^ (v >> (<$ty>::BITS - 1))) as $unsigned;
                write_varint_u64(out, u64::from(z));
            }
        }

        impl Decode for $ty {
            fn shape() -> Shape {
                Shape::Int(stringify!($ty))
            }

            #[inline]
            fn decode(d: &mut Decoder<'_>) -> Result<$ty> {
                let n = <$unsigned as Decode>::decode(d)?;
                // The inverse zigzag of any value of the unsigned type is in
                // range.
                Ok(((n >> 1) as $ty) ^ -((n & 1) as $ty))
            }
        }
    )*};
}

signed_varint!(i16 => u16, i32 => u32, i64 => u64);

impl Encode for i128 {
    fn shape() -> Shape {
        Shape::Int("i128")
    }

    fn encode(&self, out: &mut Vec<u8>) {
        write_varint_u128(out, zigzag_encode(*self));
    }
}

impl Decode for i128 {
    fn shape() -> Shape {
        Shape::Int("i128")
    }

    fn decode(d: &mut Decoder<'_>) -> Result<i128> {
        Ok(zigzag_decode(d.read_varint_u128()?))
    }
}

/// `isize` is written as an `i64`.
impl Encode for isize {
    fn shape() -> Shape {
        Shape::Int("isize")
    }

    fn encode(&self, out: &mut Vec<u8>) {
        // isize is at most 64 bits on every platform Rust supports.
        let v = i64::try_from(*self).unwrap_or(if *self < 0 { i64::MIN } else { i64::MAX });
        v.encode(out);
    }
}

/// An `isize` is read as an `i64`; a value that does not fit this platform's
/// `isize` is an error.
impl Decode for isize {
    fn shape() -> Shape {
        Shape::Int("isize")
    }

    fn decode(d: &mut Decoder<'_>) -> Result<isize> {
        let v = i64::decode(d)?;
        isize::try_from(v).map_err(|_| Error::decode(format!("{v} does not fit an isize")))
    }
}

macro_rules! float {
    ($($ty:ty => $shape:expr),* $(,)?) => {$(
        impl Encode for $ty {
            fn shape() -> Shape {
                $shape
            }

            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }

        impl Decode for $ty {
            fn shape() -> Shape {
                $shape
            }

            fn decode(d: &mut Decoder<'_>) -> Result<$ty> {
                Ok(<$ty>::from_le_bytes(d.read_array()?))
            }
        }
    )*};
}

float!(f32 => Shape::F32, f64 => Shape::F64);

/// A `char` is its UTF-8 encoding, one to four bytes, with no length prefix.
impl Encode for char {
    fn shape() -> Shape {
        Shape::Char
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let mut buf = [0; 4];
        out.extend_from_slice(self.encode_utf8(&mut buf).as_bytes());
    }
}

impl Decode for char {
    fn shape() -> Shape {
        Shape::Char
    }

    fn decode(d: &mut Decoder<'_>) -> Result<char> {
        let lead = d.read_u8()?;
        // The sequence length follows from the lead byte (the same table
        // bincode 2 and core::str use); 0x80..=0xC1 and 0xF5..=0xFF cannot
        // start a sequence.
        let width = match lead {
            0x00..=0x7F => return Ok(char::from(lead)),
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => {
                return Err(Error::decode(format!(
                    "invalid UTF-8 lead byte {lead:#04x} in char"
                )));
            }
        };
        let mut buf = [0; 4];
        buf[0] = lead;
        let rest = d.read_bytes(width - 1)?;
        let tail = buf
            .get_mut(1..width)
            .ok_or_else(|| Error::decode("invalid char width"))?;
        tail.copy_from_slice(rest);
        let seq = buf
            .get(..width)
            .ok_or_else(|| Error::decode("invalid char width"))?;
        // from_utf8 rejects overlong forms, surrogates and values past U+10FFFF.
        std::str::from_utf8(seq)
            .ok()
            .and_then(|s| s.chars().next())
            .ok_or_else(|| Error::decode(format!("invalid UTF-8 sequence {seq:02x?} in char")))
    }
}

/// Nothing: no bytes. As a handler's arguments, no arguments at all.
impl Encode for () {
    fn shape() -> Shape {
        Shape::Tuple(Vec::new())
    }

    fn encode(&self, _out: &mut Vec<u8>) {}
}

/// Nothing to read.
impl Decode for () {
    fn shape() -> Shape {
        Shape::Tuple(Vec::new())
    }

    fn decode(_d: &mut Decoder<'_>) -> Result<()> {
        Ok(())
    }
}

impl<T: ?Sized> Encode for PhantomData<T> {
    fn shape() -> Shape {
        Shape::Tuple(Vec::new())
    }

    fn encode(&self, _out: &mut Vec<u8>) {}
}

impl<T: ?Sized> Decode for PhantomData<T> {
    fn shape() -> Shape {
        Shape::Tuple(Vec::new())
    }

    fn decode(_d: &mut Decoder<'_>) -> Result<PhantomData<T>> {
        Ok(PhantomData)
    }
}

/// A `Duration` is its whole seconds (`u64`) then its nanoseconds (`u32`).
impl Encode for Duration {
    fn shape() -> Shape {
        Shape::Duration
    }

    fn encode(&self, out: &mut Vec<u8>) {
        self.as_secs().encode(out);
        self.subsec_nanos().encode(out);
    }
}

/// Like bincode 2, nanoseconds of a second or more are carried into the
/// seconds; a total that overflows `u64` seconds is an error.
impl Decode for Duration {
    fn shape() -> Shape {
        Shape::Duration
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Duration> {
        const NANOS_PER_SEC: u32 = 1_000_000_000;
        let secs = u64::decode(d)?;
        let nanos = u32::decode(d)?;
        let secs = secs
            .checked_add(u64::from(nanos / NANOS_PER_SEC))
            .ok_or_else(|| Error::decode("duration overflows u64 seconds"))?;
        Ok(Duration::new(secs, nanos % NANOS_PER_SEC))
    }
}

#[cfg(test)]
mod tests {
    use crate::codec::{Decode, from_slice};

    #[test]
    fn decode_owned_agrees_with_from_slice() {
        // A Vec<u8> takes the buffer; whatever it is given, it must decode
        // (or fail) exactly as from_slice does.
        let good = crate::codec::to_vec(&vec![7u8; 300]);
        let mut trailing = good.clone();
        trailing.push(0);
        let truncated = good[..good.len() - 1].to_vec();
        for bytes in [good, trailing, truncated, vec![], vec![0xff]] {
            let owned = Vec::<u8>::decode_owned(bytes.clone());
            let sliced = from_slice::<Vec<u8>>(&bytes);
            match (owned, sliced) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                (a, b) => panic!("{bytes:?}: {a:?} vs {b:?}"),
            }
        }
        assert_eq!(
            Vec::<u16>::decode_owned(crate::codec::to_vec(&vec![1u16, 2])).unwrap(),
            vec![1, 2]
        );
        assert_eq!(
            String::decode_owned(crate::codec::to_vec("hi")).unwrap(),
            "hi"
        );
    }
}
