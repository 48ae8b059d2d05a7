//! The binary codec: byte-identical to bincode 2 with `config::standard()`.
//!
//! The byte layout of each type is on [`Encode`]; the rules for untrusted
//! input are on [`Decode`]. `varint` holds the integer encoding, `primitives`
//! and `containers` the trait implementations.
//!
//! No recursion depth limit is needed for the types implemented here: how
//! deeply a decode nests is fixed by the type being decoded (`Vec<Vec<u8>>`
//! nests exactly twice), never by the input, since there are no trait objects
//! or self-referential types among them. A user type that contains itself
//! through a `Box` would be the exception: its depth is bounded only by the
//! input length (each level takes at least one byte), so the user-type macro
//! must keep that in mind.

mod containers;
mod primitives;
pub mod shape;
mod varint;

use std::fmt;

use crate::{Error, Result};

pub use shape::{Fields, Shape, Signature};
pub use varint::write_varint_u64;

/// A value that can be written in stdrpc's wire format.
///
/// The format is bincode 2's standard configuration (little-endian,
/// variable-length integers), so a peer that uses the `bincode` crate with
/// `config::standard()` reads and writes the same bytes:
///
/// * `u8`, `i8`: one byte (`i8` as its two's complement). `bool`: `0` or `1`.
/// * `u16`, `u32`, `u64`, `u128`, `usize`: a variable-length integer — one
///   byte below 251, else a tag byte (`251`, `252`, `253`, `254`) and the value
///   as 2, 4, 8 or 16 little-endian bytes, whichever is narrowest. `usize` is
///   written as a `u64`.
/// * `i16`, `i32`, `i64`, `i128`, `isize`: zigzag-mapped (`0, -1, 1, -2, …`
///   become `0, 1, 2, 3, …`), then as the unsigned type of the same width.
/// * `f32`, `f64`: the IEEE 754 bits, little-endian.
/// * `char`: its UTF-8 bytes (one to four, no length).
/// * `str`, `String`: the byte length, then the UTF-8 bytes.
/// * `[T]`, `Vec<T>`, `VecDeque<T>`, sets: the element count, then the
///   elements. Maps: the entry count, then key, value, key, value, …
/// * `[T; N]`: the `N` elements, with no length.
/// * `Option<T>`: a `0` byte, or a `1` byte and the value.
/// * `Result<T, E>`: the variant index as a variable-length `u32` (`0` for
///   `Ok`, `1` for `Err`), then the value.
/// * `Duration`: the whole seconds as a `u64`, then the nanoseconds as a `u32`.
/// * Tuples (up to 16 fields): the fields in order. `()`, `PhantomData`:
///   nothing.
/// * `Box`, `Rc`, `Arc`, `Cow` and references: as the value they point to.
///
/// ```
/// use stdrpc::to_vec;
/// assert_eq!(to_vec(&250u64), [250]);
/// assert_eq!(to_vec(&251u64), [251, 251, 0]);
/// assert_eq!(to_vec(&-1i32), [1]);
/// assert_eq!(to_vec("hi"), [2, b'h', b'i']);
/// assert_eq!(to_vec(&[1u8, 2]), [1, 2]);
/// assert_eq!(to_vec(&vec![1u8, 2]), [2, 1, 2]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent: it does not implement `stdrpc::Encode`",
    label = "not an stdrpc wire type",
    note = "arguments and results are the codec's types (integers, floats, `bool`, `char`, `String`, `&str`, `Vec`, maps, sets, `Option`, `Result`, tuples, arrays), `message!` types, or `Compat<T>` for serde types"
)]
pub trait Encode {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// The shape of this type's encoding, which typed calls compare with the
    /// peer's (see [`Shape`]).
    ///
    /// Every type of the codec and every `message!` type describes itself.
    /// The default is [`Shape::Opaque`]: a hand-written impl that does not
    /// override it is not checked. An override must agree with the type's
    /// [`Decode::shape`] and describe exactly the bytes `encode` writes.
    fn shape() -> Shape {
        Shape::opaque::<Self>()
    }

    /// Appends the encodings of `items`, one after the other, without a length.
    ///
    /// Not public API: a stand-in for specialization, so that `u8` can write a
    /// whole byte slice with one copy. Do not override it.
    #[doc(hidden)]
    fn encode_slice(items: &[Self], out: &mut Vec<u8>)
    where
        Self: Sized,
    {
        for item in items {
            item.encode(out);
        }
    }

    /// Encodes `self` as [`encode`](Encode::encode) does, except for a run
    /// of bytes at the very end of the encoding, which is returned instead
    /// of being copied into `head` (the bytes of a trailing `[u8]`,
    /// `Vec<u8>` or `str`): `head` followed by the returned bytes is the
    /// encoding. Lets a large byte buffer go to the socket straight from
    /// the caller's memory.
    ///
    /// Not public API: see [`Encode::encode_slice`]. Do not override it.
    #[doc(hidden)]
    fn encode_split<'a>(&'a self, head: &mut Vec<u8>) -> &'a [u8] {
        self.encode(head);
        &[]
    }

    /// [`Encode::encode_split`] for a slice of `Self` (its length is
    /// already written): `u8` returns the bytes themselves.
    ///
    /// Not public API: see [`Encode::encode_slice`]. Do not override it.
    #[doc(hidden)]
    fn encode_slice_split<'a>(items: &'a [Self], head: &mut Vec<u8>) -> &'a [u8]
    where
        Self: Sized,
    {
        Self::encode_slice(items, head);
        &[]
    }

    /// Encodes an owned value as [`encode_split`](Encode::encode_split)
    /// does, returning the trailing bytes as a buffer of their own, taken
    /// from the value where it owns one (a `Vec<u8>`, a `String`) instead
    /// of copied; empty otherwise.
    ///
    /// Not public API: see [`Encode::encode_slice`]. Do not override it.
    #[doc(hidden)]
    fn encode_owned_split(self, head: &mut Vec<u8>) -> Vec<u8>
    where
        Self: Sized,
    {
        self.encode(head);
        Vec::new()
    }

    /// [`Encode::encode_owned_split`] for a `Vec<Self>`: `u8` hands over
    /// the vector itself after its length.
    ///
    /// Not public API: see [`Encode::encode_slice`]. Do not override it.
    #[doc(hidden)]
    fn encode_vec_split(items: Vec<Self>, head: &mut Vec<u8>) -> Vec<u8>
    where
        Self: Sized,
    {
        items.encode(head);
        Vec::new()
    }
}

/// A value that can be read back from stdrpc's wire format (see [`Encode`]).
///
/// # Untrusted input
///
/// Decoding is meant for bytes that arrive from the network. It never panics,
/// whatever the input, and fails with [`Error::Decode`] on truncated input,
/// invalid values (a `bool` byte of `2`, invalid UTF-8, a surrogate `char`, an
/// integer too large for its type) and lengths larger than the remaining
/// input.
///
/// It never allocates more than the input can justify: a collection length
/// is rejected outright when it is larger than the number of bytes left
/// ([`Decoder::read_len`]), because every element of a real message takes at
/// least one byte. Collections of zero-sized values (a `Vec<()>`), whose
/// elements take no bytes, are bounded instead by
/// [`Decoder::MAX_ZERO_SIZED_ELEMENTS`] counted across the whole value; that cap is
/// the one deliberate difference from bincode. Space reserved up
/// front is also capped in bytes; a collection whose elements are much larger
/// in memory than on the wire grows as its elements arrive.
///
/// Integers are read the way bincode 2 reads them: a value written in a wider
/// form than necessary is accepted, a form wider than the target type is an
/// error even if the value would fit.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be received: it does not implement `stdrpc::Decode`",
    label = "not an owned stdrpc wire type",
    note = "handler arguments and call results must be owned codec types: `String`, not `&str`; `Vec<T>`, not `&[T]`",
    note = "other types: `message!` types, or `Compat<T>` for serde types"
)]
pub trait Decode: Sized {
    /// Whether `Self` is read as a byte string and nothing else (a length,
    /// then that many bytes): `Vec<u8>`, `String`. A client then copies a result's
    /// bytes once, without their length, straight from the reply it read
    /// ([`byte_string`]), and builds the value from them
    /// ([`Decode::from_byte_string`]).
    ///
    /// Not public API: see [`Decode::decode_vec`]. Do not override it.
    #[doc(hidden)]
    const BYTE_STRING: bool = false;

    /// Whether `Self` is `u8` (for `Vec<Self>`'s [`Decode::BYTE_STRING`]).
    ///
    /// Not public API: see [`Decode::decode_vec`]. Do not override it.
    #[doc(hidden)]
    const IS_U8: bool = false;

    /// Reads one value from the decoder, consuming exactly its bytes.
    fn decode(d: &mut Decoder<'_>) -> Result<Self>;

    /// The value of a [`Decode::BYTE_STRING`] type from its bytes, whose
    /// length has been checked and removed ([`byte_string`]).
    ///
    /// Not public API: see [`Decode::decode_vec`]. Do not override it.
    #[doc(hidden)]
    fn from_byte_string(bytes: Vec<u8>) -> Result<Self> {
        drop(bytes);
        Err(Error::decode("not a byte string"))
    }

    /// [`Decode::from_byte_string`] for a `Vec<Self>`: `u8` takes the bytes.
    ///
    /// Not public API: see [`Decode::decode_vec`]. Do not override it.
    #[doc(hidden)]
    fn vec_from_byte_string(bytes: Vec<u8>) -> Result<Vec<Self>> {
        drop(bytes);
        Err(Error::decode("not a byte string"))
    }

    /// The shape of the encoding this type reads (see [`Encode::shape`]).
    /// The default is [`Shape::Opaque`]: not checked.
    fn shape() -> Shape {
        Shape::opaque::<Self>()
    }

    /// Reads `len` consecutive values.
    ///
    /// Not public API: a stand-in for specialization, so that `u8` can read a
    /// whole byte buffer with one copy. Do not override it.
    #[doc(hidden)]
    fn decode_vec(len: usize, d: &mut Decoder<'_>) -> Result<Vec<Self>> {
        let mut items = Vec::with_capacity(prealloc::<Self>(len, d));
        for _ in 0..len {
            items.push(Self::decode(d)?);
        }
        Ok(items)
    }

    /// Decodes a whole owned buffer as one value (as [`from_slice`] does),
    /// reusing the buffer where the type can: a `Vec<u8>` takes it instead
    /// of copying its bytes out.
    ///
    /// Not public API: see [`Decode::decode_vec`].
    #[doc(hidden)]
    fn decode_owned(bytes: Vec<u8>) -> Result<Self> {
        from_slice(&bytes)
    }

    /// Decodes a whole owned buffer as a `Vec<Self>`; see
    /// [`Decode::decode_owned`].
    ///
    /// Not public API: see [`Decode::decode_vec`].
    #[doc(hidden)]
    fn decode_vec_owned(bytes: Vec<u8>) -> Result<Vec<Self>> {
        from_slice(&bytes)
    }

    /// Reads exactly `N` consecutive values into an array.
    ///
    /// Not public API: see [`Decode::decode_vec`].
    #[doc(hidden)]
    fn decode_array<const N: usize>(d: &mut Decoder<'_>) -> Result<[Self; N]> {
        // N is fixed by the type, not by the input, so reading N values into a
        // Vec first allocates no more than the array itself occupies; that is
        // still counted, as the array may be bigger than the input.
        d.charge(N.saturating_mul(std::mem::size_of::<Self>()))?;
        let items = Self::decode_vec(N, d)?;
        items
            .try_into()
            .map_err(|_| Error::decode("array length mismatch"))
    }
}

/// How many elements to reserve before decoding a collection of `len`.
///
/// `len` has already been checked against the remaining input. A decoder
/// with a memory bound ([`Decoder::with_memory_bound`]) has also counted the
/// collection's memory against it, so the whole collection is reserved at
/// once: no regrowth, whose doubling could hold up to three times the
/// elements' memory for a moment. Without a bound, an element can be much
/// larger in memory than its smallest encoding (a `None` of
/// `Option<[u64; 64]>` is one byte on the wire and 520 in memory), so the
/// reservation is capped at a fixed byte budget; past that the collection
/// grows as real elements arrive.
pub(crate) fn prealloc<T>(len: usize, d: &Decoder<'_>) -> usize {
    const BUDGET_BYTES: usize = 1 << 20;
    if std::mem::size_of::<T>() == 0 {
        return len;
    }
    let len = len.min(d.remaining());
    if d.memory_left != usize::MAX {
        return len;
    }
    len.min(BUDGET_BYTES / std::mem::size_of::<T>())
}

/// The bytes of an encoded byte string (a `Vec<u8>` or `[u8]`: a length,
/// then that many bytes), without the length; the error [`from_slice`]
/// would report for a `Vec<u8>` if `bytes` is not exactly one.
pub(crate) fn byte_string(bytes: &[u8]) -> Result<&[u8]> {
    let mut d = Decoder::new(bytes);
    match d.read_len_of::<u8>() {
        Ok(len) if len == d.remaining() => Ok(&bytes[bytes.len() - len..]),
        _ => match from_slice::<Vec<u8>>(bytes) {
            Err(e) => Err(e),
            // Unreachable: the length did not match the rest.
            Ok(_) => Err(Error::decode("malformed byte string")),
        },
    }
}

/// Reads values from a byte slice, front to back.
///
/// Every read checks the remaining length first and fails with
/// [`Error::Decode`] on short input; nothing here can panic. A failed
/// [`read_bytes`](Self::read_bytes) or [`read_u8`](Self::read_u8) consumes
/// nothing.
#[derive(Clone)]
pub struct Decoder<'a> {
    input: &'a [u8],
    /// How many user-defined values are being decoded inside each other.
    depth: u32,
    /// How many more elements of zero-sized types this decoder accepts.
    zero_sized_left: usize,
    /// How many more bytes the crate's decoders may allocate for this value.
    memory_left: usize,
}

/// What decoding a request's arguments on a server may allocate, as a
/// multiple of the input's length (plus [`DECODE_MEMORY_SLACK`]): the
/// codec's working-memory bound ([`Decoder::with_memory_bound`]; plain
/// [`from_slice`] is not bounded this way, so every value the codec writes,
/// it reads).
///
/// The crate's decoders count what they allocate (a collection's elements
/// at their size in memory, a hash container's twice that, a string's
/// bytes, a `Box`'s value) before allocating it, and fail with
/// [`Error::Decode`] beyond the bound. Most types stay far below it: a
/// `Vec<u64>` of small numbers takes 8 bytes a byte, strings and byte
/// buffers one. What reaches the limit is a type much larger in memory than
/// on the wire, such as a long `Vec<String>` of empty strings (24 bytes of
/// memory per byte), or a `Vec<Option<[u64; 64]>>` of `None`s (520).
/// `Decode` implementations of your own allocate outside this count.
pub(crate) const DECODE_MEMORY_FACTOR: usize = 8;

/// Memory every decoded value may take beyond [`DECODE_MEMORY_FACTOR`]
/// times its input: 1 MiB, so that small messages of any shape decode.
pub(crate) const DECODE_MEMORY_SLACK: usize = 1 << 20;

// The decoder's fixed limits; documented as `Decoder::MAX_ZERO_SIZED_ELEMENTS`
// and `Decoder::MAX_DEPTH`, which are the public names.
pub(crate) const MAX_ZERO_SIZED_ELEMENTS: usize = 1 << 20;
pub(crate) const MAX_DEPTH: u32 = 128;

impl fmt::Debug for Decoder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("remaining", &self.input.len())
            .field("depth", &self.depth)
            .finish()
    }
}

impl<'a> Decoder<'a> {
    /// The most elements of zero-sized types (`()`, unit structs, empty arrays)
    /// that the collections of one decoded value may hold in all: 2^20.
    ///
    /// Such an element takes no input bytes, so the usual check of a length
    /// against the remaining input cannot bound it; this fixed cap does, so that
    /// decoding a `Vec<()>` claiming 2^60 elements, or many nested ones, fails
    /// at once instead of spinning. Counting across the whole value (not per
    /// collection) keeps a `Vec<Vec<()>>` from multiplying it. Decoding 2^20
    /// zero-sized elements takes about a millisecond.
    pub const MAX_ZERO_SIZED_ELEMENTS: usize = MAX_ZERO_SIZED_ELEMENTS;

    /// How deeply user-defined types may nest inside each other while decoding
    /// (a recursive type such as a tree nests through `Box`). Deeper input is
    /// rejected instead of exhausting the stack.
    pub const MAX_DEPTH: u32 = MAX_DEPTH;

    /// A decoder over `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Decoder {
            input,
            depth: 0,
            zero_sized_left: MAX_ZERO_SIZED_ELEMENTS,
            memory_left: usize::MAX,
        }
    }

    /// A decoder over `input` whose allocations are bounded by
    /// [`DECODE_MEMORY_FACTOR`] times the input plus [`DECODE_MEMORY_SLACK`]:
    /// what a server uses for the arguments of requests, so that what a
    /// request may take is known when its frame header arrives.
    pub(crate) fn with_memory_bound(input: &'a [u8]) -> Self {
        Decoder {
            memory_left: input
                .len()
                .saturating_mul(DECODE_MEMORY_FACTOR)
                .saturating_add(DECODE_MEMORY_SLACK),
            ..Decoder::new(input)
        }
    }

    /// Marks the start of a nested user-defined value; fails beyond
    /// [`Decoder::MAX_DEPTH`]. Each successful call is paired with
    /// [`leave`](Decoder::leave). Implementations of [`Decode`] for types that
    /// can contain themselves (through `Box`, `Vec`, ...) call both; the
    /// crate's type macros do so automatically.
    pub fn enter(&mut self) -> Result<()> {
        if self.depth >= MAX_DEPTH {
            return Err(Error::decode(format!(
                "values nested more than {MAX_DEPTH} deep"
            )));
        }
        self.depth += 1;
        Ok(())
    }

    /// Marks the end of a nested value started with [`enter`](Decoder::enter).
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// The number of bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.input.len()
    }

    /// Consumes and returns the next `n` bytes; an error if fewer remain.
    #[inline]
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        match self.input.split_at_checked(n) {
            Some((head, tail)) => {
                self.input = tail;
                Ok(head)
            }
            None => Err(Error::decode(format!(
                "unexpected end of input: needed {n} bytes, {} remain",
                self.input.len()
            ))),
        }
    }

    /// Consumes and returns exactly `N` bytes as an array.
    pub(crate) fn read_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.read_bytes(N)?
            .try_into()
            .map_err(|_| Error::decode("array length mismatch"))
    }

    /// Consumes one byte.
    #[inline]
    pub fn read_u8(&mut self) -> Result<u8> {
        match self.input.split_first() {
            Some((&byte, tail)) => {
                self.input = tail;
                Ok(byte)
            }
            None => Err(Error::decode(
                "unexpected end of input: needed 1 byte, 0 remain",
            )),
        }
    }

    /// Reads a variable-length integer whose tag is at most `max_tag`.
    ///
    /// The tag byte is checked before any payload is read, as bincode does:
    /// a tag wider than the target type is an error even if the value would
    /// fit, while a value written wider than necessary is accepted.
    fn read_varint(&mut self, max_tag: u8, type_name: &str) -> Result<u128> {
        let tag = self.read_u8()?;
        if tag <= varint::SINGLE_BYTE_MAX {
            return Ok(u128::from(tag));
        }
        if tag > max_tag {
            return Err(Error::decode(if tag > varint::U128_TAG {
                format!("invalid variable-length integer tag {tag}")
            } else {
                format!("variable-length integer tag {tag} is too wide for {type_name}")
            }));
        }
        Ok(match tag {
            varint::U16_TAG => u128::from(u16::from_le_bytes(self.read_array()?)),
            varint::U32_TAG => u128::from(u32::from_le_bytes(self.read_array()?)),
            varint::U64_TAG => u128::from(u64::from_le_bytes(self.read_array()?)),
            _ => u128::from_le_bytes(self.read_array()?),
        })
    }

    /// The next byte, consumed, if it is a whole variable-length integer
    /// (a value below 251): the fast path of every integer read.
    #[inline]
    fn single_byte_varint(&mut self) -> Option<u8> {
        match self.input.split_first() {
            Some((&byte, tail)) if byte <= varint::SINGLE_BYTE_MAX => {
                self.input = tail;
                Some(byte)
            }
            _ => None,
        }
    }

    /// Reads a variable-length `u16`.
    #[inline]
    pub(crate) fn read_varint_u16(&mut self) -> Result<u16> {
        if let Some(byte) = self.single_byte_varint() {
            return Ok(u16::from(byte));
        }
        let v = self.read_varint(varint::U16_TAG, "u16")?;
        u16::try_from(v).map_err(|_| Error::decode("variable-length integer overflows u16"))
    }

    /// Reads a variable-length `u32` (also the encoding of enum variant indices).
    #[inline]
    pub(crate) fn read_varint_u32(&mut self) -> Result<u32> {
        if let Some(byte) = self.single_byte_varint() {
            return Ok(u32::from(byte));
        }
        let v = self.read_varint(varint::U32_TAG, "u32")?;
        u32::try_from(v).map_err(|_| Error::decode("variable-length integer overflows u32"))
    }

    /// Reads a variable-length `u64` (also the encoding of `usize` and of
    /// collection lengths).
    ///
    /// Accepts exactly what bincode 2 accepts: the 1-, 3-, 5- and 9-byte
    /// forms, including ones wider than necessary; the 17-byte `u128` form
    /// and the reserved tag `255` are errors.
    #[inline]
    pub fn read_varint_u64(&mut self) -> Result<u64> {
        if let Some(byte) = self.single_byte_varint() {
            return Ok(u64::from(byte));
        }
        let v = self.read_varint(varint::U64_TAG, "u64")?;
        u64::try_from(v).map_err(|_| Error::decode("variable-length integer overflows u64"))
    }

    /// Reads a variable-length `u128`: any of the 1-, 3-, 5-, 9- and 17-byte
    /// forms.
    pub fn read_varint_u128(&mut self) -> Result<u128> {
        self.read_varint(varint::U128_TAG, "u128")
    }

    /// Reads a collection length (a variable-length `u64`) and checks it.
    ///
    /// The length is rejected if it is larger than [`remaining`](Self::remaining):
    /// every element of a real message takes at least one byte, so a larger
    /// count can only come from a corrupt or hostile peer, and refusing it
    /// here means nothing is ever allocated for it. The crate's own
    /// collections of zero-sized values (say a `Vec<()>`), whose elements take
    /// no bytes, use a fixed cap instead ([`Decoder::MAX_ZERO_SIZED_ELEMENTS`]).
    #[inline]
    pub fn read_len(&mut self) -> Result<usize> {
        let len = self.read_varint_u64()?;
        let remaining = self.remaining();
        match usize::try_from(len) {
            Ok(len) if len <= remaining => Ok(len),
            _ => Err(Error::decode(format!(
                "length prefix {len} exceeds the {remaining} remaining bytes"
            ))),
        }
    }

    /// Reads the length of a collection of `T`s: checked against the
    /// remaining input ([`read_len`](Self::read_len)) when a `T` takes
    /// memory, and against [`Decoder::MAX_ZERO_SIZED_ELEMENTS`] (counted across the
    /// whole value) when `T` is zero-sized, since such elements take no
    /// input bytes either.
    ///
    /// The elements' memory is counted against the decoder's memory bound
    /// ([`DECODE_MEMORY_FACTOR`]).
    pub(crate) fn read_len_of<T>(&mut self) -> Result<usize> {
        if std::mem::size_of::<T>() != 0 {
            let len = self.read_len()?;
            self.charge(len.saturating_mul(std::mem::size_of::<T>()))?;
            return Ok(len);
        }
        let len = self.read_varint_u64()?;
        match usize::try_from(len) {
            Ok(len) if len <= self.zero_sized_left => {
                self.zero_sized_left -= len;
                Ok(len)
            }
            _ => Err(Error::decode(format!(
                "{len} zero-sized elements exceed the limit of {MAX_ZERO_SIZED_ELEMENTS} per value"
            ))),
        }
    }

    /// Counts `bytes` about to be allocated against the memory bound
    /// ([`DECODE_MEMORY_FACTOR`] times the input, plus
    /// [`DECODE_MEMORY_SLACK`]).
    pub(crate) fn charge(&mut self, bytes: usize) -> Result<()> {
        match self.memory_left.checked_sub(bytes) {
            Some(left) => {
                self.memory_left = left;
                Ok(())
            }
            None => Err(Error::decode(format!(
                "decoding needs more than {DECODE_MEMORY_FACTOR} bytes of memory per input byte \
                 (plus {DECODE_MEMORY_SLACK}); {bytes} more were asked for"
            ))),
        }
    }

    /// Ends decoding: an error if any input is left over.
    pub fn finish(self) -> Result<()> {
        match self.input.len() {
            0 => Ok(()),
            1 => Err(Error::decode("1 trailing byte")),
            n => Err(Error::decode(format!("{n} trailing bytes"))),
        }
    }
}

/// Encodes `value` into a new byte vector.
///
/// ```
/// let bytes = stdrpc::to_vec(&(7u32, "hi", Some(true)));
/// assert_eq!(bytes, [7, 2, b'h', b'i', 1, 1]);
/// let back: (u32, String, Option<bool>) = stdrpc::from_slice(&bytes)?;
/// assert_eq!(back, (7, "hi".to_string(), Some(true)));
/// # Ok::<(), stdrpc::Error>(())
/// ```
pub fn to_vec<T: Encode + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out);
    out
}

/// Decodes one `T` from `bytes`, which must hold exactly that value.
///
/// Fails with [`Error::Decode`] if the bytes are not a valid encoding of a
/// `T`, or if any bytes are left over.
///
/// ```
/// let v: Vec<u16> = stdrpc::from_slice(&[2, 1, 251, 0, 1])?;
/// assert_eq!(v, [1, 256]);
/// assert!(stdrpc::from_slice::<u8>(&[1, 2]).is_err()); // a trailing byte
/// # Ok::<(), stdrpc::Error>(())
/// ```
pub fn from_slice<T: Decode>(bytes: &[u8]) -> Result<T> {
    let mut d = Decoder::new(bytes);
    let value = T::decode(&mut d)?;
    d.finish()?;
    Ok(value)
}

#[cfg(test)]
mod tests;
