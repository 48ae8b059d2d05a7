//! What a wire type looks like, described at run time: [`Shape`].
//!
//! Every [`Encode`](crate::Encode) and [`Decode`](crate::Decode) type of the
//! codec describes itself with `T::shape()`. Two shapes are compared through
//! their *canonical* text, which names only what decides how bytes decode
//! (integer encoding families, element shapes, `message!` names and field
//! names); the *display* text keeps the Rust names for error messages.
//! A typed call carries the fingerprints of its argument and result shapes,
//! so a server refuses a call whose bytes would decode to other values.
//!
//! The canonical grammar and the fingerprint are specified byte by byte in
//! docs/PROTOCOL.md ("Shapes and fingerprints").

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use crate::crypto::sha256;

/// The shape of a wire type: what its bytes mean, as a tree.
///
/// `T::shape()` (on [`Encode`](crate::Encode) and [`Decode`](crate::Decode))
/// returns it. Two types whose shapes have the same
/// [`canonical`](Shape::canonical) text read each other's bytes as the same
/// values: `i32` and `i64` (both zigzag varints), `String` and `&str`,
/// `Vec<T>` and `&[T]`. Types whose bytes happen to agree but whose values
/// differ do not match: `u64` and `i64`, a struct and a tuple.
///
/// The variants holding a `&'static str` keep the Rust name of the type for
/// [`display`](Shape::display); it does not take part in the canonical form.
///
/// ```
/// use stdrpc::{Decode, Encode, Shape};
/// let s = <(String, Vec<i32>) as Decode>::shape();
/// assert_eq!(s.display(), "(String, Vec<i32>)");
/// assert_eq!(s.canonical(), "(str,[int])");
/// // What a caller sends with borrowed types has the same shape.
/// let sent = <(&str, &[i64]) as Encode>::shape();
/// assert_eq!(sent.display(), "(&str, &[i64])");
/// assert_eq!(sent.fingerprint(), s.fingerprint());
/// assert_ne!(<u64 as Decode>::shape().canonical(), <i64 as Decode>::shape().canonical());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Shape {
    /// `u8`: one raw byte.
    U8,
    /// `i8`: one raw byte, two's complement.
    I8,
    /// `u16` … `u128`, `usize`: an unsigned varint. Holds the Rust name.
    UInt(&'static str),
    /// `i16` … `i128`, `isize`: a zigzag varint. Holds the Rust name.
    Int(&'static str),
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `bool`.
    Bool,
    /// `char`.
    Char,
    /// A string: `String`, `&str`, `Box<str>`, `Cow<str>`, …
    Str(&'static str),
    /// A byte sequence: a sequence of `u8` (`Vec<u8>`, `&[u8]`, …). Holds the
    /// container's name as in [`Seq`](Shape::Seq).
    Bytes(&'static str),
    /// A sequence of one element shape (`Vec<T>`, `&[T]`, `VecDeque<T>`).
    Seq {
        /// The container's name: `"Vec"`, `"VecDeque"`, or a name where `[]`
        /// stands for the slice (`"&[]"`, `"Box<[]>"`).
        name: &'static str,
        /// The elements' shape.
        elem: Box<Shape>,
    },
    /// A map (`HashMap`, `BTreeMap`).
    Map {
        /// `"HashMap"` or `"BTreeMap"`.
        name: &'static str,
        /// The keys' shape.
        key: Box<Shape>,
        /// The values' shape.
        value: Box<Shape>,
    },
    /// A set (`HashSet`, `BTreeSet`).
    Set {
        /// `"HashSet"` or `"BTreeSet"`.
        name: &'static str,
        /// The elements' shape.
        elem: Box<Shape>,
    },
    /// `Option<T>`.
    Option(Box<Shape>),
    /// `Result<T, E>`.
    Result(Box<Shape>, Box<Shape>),
    /// A tuple of zero or at least two fields (`()` is the empty tuple). A
    /// one-field tuple `(T,)` has `T`'s bytes, and `T`'s shape.
    Tuple(Vec<Shape>),
    /// A fixed-size array `[T; N]`.
    Array(Box<Shape>, usize),
    /// `std::time::Duration`: canonically `(uint,uint)`, its bytes.
    Duration,
    /// A `message!` struct.
    Struct {
        /// The struct's name (without its module path or generics).
        name: &'static str,
        /// Its fields.
        fields: Fields,
    },
    /// A `message!` enum.
    Enum {
        /// The enum's name (without its module path or generics).
        name: &'static str,
        /// The variants, in order: name and fields.
        variants: Vec<(&'static str, Fields)>,
    },
    /// A `message!` type already being described further up: the point where
    /// a recursive type refers to itself.
    Named(&'static str),
    /// A type that does not describe itself (a hand-written `Encode` or
    /// `Decode` impl, [`Compat`](crate::Compat)): nothing can be checked.
    /// Holds the Rust type name, for messages.
    Opaque(&'static str),
}

/// The fields of a `message!` struct or enum variant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Fields {
    /// No fields: `struct Unit;`, `Variant`.
    Unit,
    /// Named fields, in declaration order.
    Named(Vec<(&'static str, Shape)>),
    /// Positional fields: `struct P(i64, i64);`, `Variant(String)`.
    Tuple(Vec<Shape>),
}

impl Shape {
    /// The shape of a sequence of `elem` in the container `name`: a
    /// [`Bytes`](Shape::Bytes) when the elements are `u8`.
    pub fn seq(name: &'static str, elem: Shape) -> Shape {
        if elem == Shape::U8 {
            Shape::Bytes(name)
        } else {
            Shape::Seq {
                name,
                elem: Box::new(elem),
            }
        }
    }

    /// The shape of a tuple: a one-field tuple is its field.
    pub fn tuple(mut fields: Vec<Shape>) -> Shape {
        if fields.len() == 1 {
            fields.pop().unwrap_or(Shape::Tuple(Vec::new()))
        } else {
            Shape::Tuple(fields)
        }
    }

    /// The opaque shape of `T`, for types that do not describe themselves.
    pub fn opaque<T: ?Sized>() -> Shape {
        Shape::Opaque(std::any::type_name::<T>())
    }

    /// Whether nothing can be checked: the shape is or contains
    /// [`Opaque`](Shape::Opaque).
    pub fn is_opaque(&self) -> bool {
        match self {
            Shape::Opaque(_) => true,
            Shape::Seq { elem, .. } | Shape::Set { elem, .. } | Shape::Option(elem) => {
                elem.is_opaque()
            }
            Shape::Array(elem, _) => elem.is_opaque(),
            Shape::Map { key, value, .. } => key.is_opaque() || value.is_opaque(),
            Shape::Result(ok, err) => ok.is_opaque() || err.is_opaque(),
            Shape::Tuple(fields) => fields.iter().any(Shape::is_opaque),
            Shape::Struct { fields, .. } => fields.is_opaque(),
            Shape::Enum { variants, .. } => variants.iter().any(|(_, f)| f.is_opaque()),
            _ => false,
        }
    }

    /// The canonical text: the form that is hashed, with integers by encoding
    /// family (`uint`, `int`) and containers by kind (`[T]`, `{K:V}`, `{T}`).
    /// Its grammar is in docs/PROTOCOL.md.
    ///
    /// ```
    /// use stdrpc::{Decode, Shape};
    /// use std::collections::HashMap;
    /// assert_eq!(<HashMap<String, Vec<u8>>>::shape().canonical(), "{str:bytes}");
    /// assert_eq!(<Option<(u16, i8)>>::shape().canonical(), "Option<(uint,i8)>");
    /// ```
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        self.write_canonical(&mut out);
        out
    }

    fn write_canonical(&self, out: &mut String) {
        match self {
            Shape::U8 => out.push_str("u8"),
            Shape::I8 => out.push_str("i8"),
            Shape::UInt(_) => out.push_str("uint"),
            Shape::Int(_) => out.push_str("int"),
            Shape::F32 => out.push_str("f32"),
            Shape::F64 => out.push_str("f64"),
            Shape::Bool => out.push_str("bool"),
            Shape::Char => out.push_str("char"),
            Shape::Str(_) => out.push_str("str"),
            Shape::Bytes(_) => out.push_str("bytes"),
            Shape::Seq { elem, .. } => {
                out.push('[');
                elem.write_canonical(out);
                out.push(']');
            }
            Shape::Map { key, value, .. } => {
                out.push('{');
                key.write_canonical(out);
                out.push(':');
                value.write_canonical(out);
                out.push('}');
            }
            Shape::Set { elem, .. } => {
                out.push('{');
                elem.write_canonical(out);
                out.push('}');
            }
            Shape::Option(inner) => {
                out.push_str("Option<");
                inner.write_canonical(out);
                out.push('>');
            }
            Shape::Result(ok, err) => {
                out.push_str("Result<");
                ok.write_canonical(out);
                out.push(',');
                err.write_canonical(out);
                out.push('>');
            }
            Shape::Tuple(fields) => write_list(out, '(', fields, ')', Shape::write_canonical),
            Shape::Array(elem, n) => {
                out.push('[');
                elem.write_canonical(out);
                let _ = write!(out, ";{n}]");
            }
            Shape::Duration => out.push_str("(uint,uint)"),
            Shape::Struct { name, fields } => {
                out.push_str("struct ");
                out.push_str(name);
                fields.write_canonical(out);
            }
            Shape::Enum { name, variants } => {
                out.push_str("enum ");
                out.push_str(name);
                out.push('{');
                for (i, (v, fields)) in variants.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(v);
                    fields.write_canonical(out);
                }
                out.push('}');
            }
            Shape::Named(name) => {
                out.push('@');
                out.push_str(name);
            }
            Shape::Opaque(_) => out.push('?'),
        }
    }

    /// The Rust-like text for messages, with the real type names:
    /// `(u64, u64)`, `Vec<String>`, `Option<i64>`, `Tick`.
    ///
    /// ```
    /// use stdrpc::{Decode, Shape};
    /// assert_eq!(<(u64, Vec<String>)>::shape().display(), "(u64, Vec<String>)");
    /// assert_eq!(<Option<[u8; 4]>>::shape().display(), "Option<[u8; 4]>");
    /// ```
    pub fn display(&self) -> String {
        self.to_string()
    }

    /// The fingerprint of this shape: the first four bytes of the SHA-256 of
    /// the canonical text, read little-endian; `0` for an opaque shape, and a
    /// real hash of `0` becomes `1`.
    pub fn fingerprint(&self) -> u32 {
        if self.is_opaque() {
            return 0;
        }
        fingerprint_of(&self.canonical())
    }
}

/// The fingerprint of a canonical text (see [`Shape::fingerprint`]).
pub(crate) fn fingerprint_of(canonical: &str) -> u32 {
    let digest = sha256(canonical.as_bytes());
    match u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]]) {
        0 => 1,
        fp => fp,
    }
}

fn write_list<T>(
    out: &mut String,
    open: char,
    items: &[T],
    close: char,
    mut each: impl FnMut(&T, &mut String),
) {
    out.push(open);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(item, out);
    }
    out.push(close);
}

impl Fields {
    fn is_opaque(&self) -> bool {
        match self {
            Fields::Unit => false,
            Fields::Named(fields) => fields.iter().any(|(_, s)| s.is_opaque()),
            Fields::Tuple(fields) => fields.iter().any(Shape::is_opaque),
        }
    }

    fn write_canonical(&self, out: &mut String) {
        match self {
            Fields::Unit => {}
            Fields::Named(fields) => write_list(out, '{', fields, '}', |(name, shape), out| {
                out.push_str(name);
                out.push(':');
                shape.write_canonical(out);
            }),
            Fields::Tuple(fields) => write_list(out, '(', fields, ')', Shape::write_canonical),
        }
    }
}

impl fmt::Display for Shape {
    /// The same text as [`Shape::display`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::U8 => f.write_str("u8"),
            Shape::I8 => f.write_str("i8"),
            Shape::UInt(name) | Shape::Int(name) | Shape::Str(name) => f.write_str(name),
            Shape::F32 => f.write_str("f32"),
            Shape::F64 => f.write_str("f64"),
            Shape::Bool => f.write_str("bool"),
            Shape::Char => f.write_str("char"),
            Shape::Bytes(name) if name.contains("[]") => f.write_str(&name.replace("[]", "[u8]")),
            Shape::Bytes(name) => write!(f, "{name}<u8>"),
            Shape::Seq { name, elem } if name.contains("[]") => {
                f.write_str(&name.replace("[]", &format!("[{elem}]")))
            }
            Shape::Seq { name, elem } | Shape::Set { name, elem } => write!(f, "{name}<{elem}>"),
            Shape::Map { name, key, value } => write!(f, "{name}<{key}, {value}>"),
            Shape::Option(inner) => write!(f, "Option<{inner}>"),
            Shape::Result(ok, err) => write!(f, "Result<{ok}, {err}>"),
            Shape::Tuple(fields) => {
                f.write_str("(")?;
                for (i, s) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{s}")?;
                }
                f.write_str(")")
            }
            Shape::Array(elem, n) => write!(f, "[{elem}; {n}]"),
            Shape::Duration => f.write_str("Duration"),
            Shape::Struct { name, .. } | Shape::Enum { name, .. } | Shape::Named(name) => {
                f.write_str(name)
            }
            Shape::Opaque(name) => f.write_str(&short_type_name(name)),
        }
    }
}

/// A type name without module paths: `alloc::vec::Vec<my::Tick>` becomes
/// `Vec<Tick>`.
pub(crate) fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    // Where the path being written started in `out`.
    let mut segment_start = 0;
    let mut rest = full;
    while let Some(c) = rest.chars().next() {
        if let Some(tail) = rest.strip_prefix("::") {
            out.truncate(segment_start);
            rest = tail;
            continue;
        }
        out.push(c);
        if !(c.is_alphanumeric() || c == '_') {
            segment_start = out.len();
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The signature of a method: the shape of its arguments (as one value:
/// `()` for none, the value for one, a tuple for several) and of its result.
///
/// Displayed as `(String, i64) -> Option<i64>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Signature {
    /// The arguments' shape.
    pub args: Shape,
    /// The result's shape (for a handler returning `Result<T, E>`, `T`'s).
    pub result: Shape,
}

impl Signature {
    /// The signature of a call with argument type `A` and result type `R`.
    pub fn new(args: Shape, result: Shape) -> Signature {
        Signature { args, result }
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.args {
            Shape::Tuple(_) => write!(f, "{}", self.args)?,
            one => write!(f, "({one})")?,
        }
        write!(f, " -> {}", self.result)
    }
}

/// A signature computed once: its fingerprints and its display text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SigInfo {
    pub(crate) args_fp: u32,
    pub(crate) result_fp: u32,
    pub(crate) text: Box<str>,
    pub(crate) signature: Signature,
}

impl SigInfo {
    pub(crate) fn new(signature: Signature) -> SigInfo {
        SigInfo {
            args_fp: signature.args.fingerprint(),
            result_fp: signature.result.fingerprint(),
            text: signature.to_string().into(),
            signature,
        }
    }
}

thread_local! {
    /// The `message!` types being described on this thread, innermost last:
    /// a type met again inside itself is written as [`Shape::Named`].
    static DESCRIBING: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

/// Describes a `message!` type whose full type name is `key`, breaking
/// recursion: inside its own description it becomes `Shape::Named(name)`.
/// Not public API: used by the `message!` macro.
#[doc(hidden)]
pub fn describe_named(
    key: &'static str,
    name: &'static str,
    build: impl FnOnce() -> Shape,
) -> Shape {
    let recursive = DESCRIBING.with(|d| {
        let mut d = d.borrow_mut();
        if d.contains(&key) {
            true
        } else {
            d.push(key);
            false
        }
    });
    if recursive {
        return Shape::Named(name);
    }
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            DESCRIBING.with(|d| {
                d.borrow_mut().pop();
            });
        }
    }
    let _pop = Pop;
    build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(short_type_name("alloc::vec::Vec<my::Tick>"), "Vec<Tick>");
        assert_eq!(
            short_type_name("stdrpc::Compat<(a::B, c::d::E)>"),
            "Compat<(B, E)>"
        );
        assert_eq!(short_type_name("u8"), "u8");
    }

    #[test]
    fn fingerprint_zero_and_opaque() {
        assert_eq!(Shape::Opaque("x").fingerprint(), 0);
        assert_eq!(
            Shape::Tuple(vec![Shape::Bool, Shape::Opaque("x")]).fingerprint(),
            0
        );
        assert_ne!(Shape::Bool.fingerprint(), 0);
        // The hash is SHA-256("bool")'s first four bytes, little-endian.
        let d = sha256(b"bool");
        assert_eq!(
            Shape::Bool.fingerprint(),
            u32::from_le_bytes([d[0], d[1], d[2], d[3]])
        );
    }
}
