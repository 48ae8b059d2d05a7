//! Conversions between the codec's Rust types and [`Value`]: the helpers
//! behind the hidden `Encode::to_value` and `Decode::from_value` methods,
//! which `codec/primitives.rs` and `codec/containers.rs` implement for every
//! std type the codec covers.
//!
//! The mapping, Rust to Python and back:
//!
//! | Rust | Python | also accepted from Python |
//! |---|---|---|
//! | integers (`i8`…`u128`, `isize`, `usize`) | `int` (range-checked) | `bool` |
//! | `f32`, `f64` | `float` | `int`, `bool` |
//! | `bool` | `bool` | |
//! | `char` | `str` of one character | |
//! | `String`, `str`, `Box<str>`… | `str` | |
//! | `Vec<u8>`, `[u8]`, `[u8; N]`, `VecDeque<u8>` | `bytes` | list or tuple of ints |
//! | other `Vec<T>`, `[T]`, `[T; N]`, `VecDeque<T>` | `list` | `tuple` |
//! | tuples | `tuple` | `list` of the right length |
//! | `()`, `PhantomData` | `None` | `()` (for `()`) |
//! | `Option<T>` | `None`, or the value | |
//! | `Result<T, E>` | `Ok(v)` as `v`; `Err(e)` as `Exception(e)` | any exception object is an `Err` |
//! | `HashMap`, `BTreeMap` | `dict` | |
//! | `HashSet`, `BTreeSet` | `set` | `frozenset`, `list`, `tuple` |
//! | `Duration` | `float` seconds | `int` |
//! | `Box`, `Rc`, `Arc`, `Cow`, references | the value they hold | |
//!
//! `Option<Option<T>>` cannot tell `Some(None)` from `None` (both are Python
//! `None`), and a `Result` whose `Ok` value is itself an exception object reads
//! back as `Err`. A type without a mapping (a user type whose `Encode` impl
//! does not provide one) fails with [`Error::Decode`].
//!
//! # Call arguments
//!
//! Python's positional arguments arrive as a tuple; a handler's arguments are
//! one Rust value (nothing, the argument itself, or a tuple of several). The
//! hidden `Decode::from_args` bridges the two: no arguments convert from `()`,
//! one argument converts from that value alone, several from their tuple
//! ([`args_value`]). A handler taking one tuple (`|t: (i64, i64)|`) accepts
//! `f(1, 2)` and `f((1, 2))` alike, just as Rust callers can write either.
//! `Encode::to_args` is the reverse, for calling Python: a tuple is spread
//! into positional arguments, `()` is none, anything else is one argument.

use std::any::type_name;

use super::value::{Object, Value};
use crate::codec::{Decode, Encode};
use crate::{Error, Result};

/// The error for a Rust type with no Python form.
pub(crate) fn unsupported<T: ?Sized>() -> Error {
    Error::decode(format!(
        "{} cannot be converted to a Python value",
        type_name::<T>()
    ))
}

/// The error for a Python value a Rust type has no conversion from.
pub(crate) fn cannot_decode<T>(v: &Value) -> Error {
    Error::decode(format!(
        "a Python {} cannot be converted to {}",
        v.python_type(),
        type_name::<T>()
    ))
}

/// The error for a Python value of the wrong type.
pub(crate) fn mismatch(expected: &str, got: &Value) -> Error {
    Error::decode(format!(
        "expected {expected}, got a Python {}",
        got.python_type()
    ))
}

/// A Python `int` (or `bool`) as an `i128`, for a Rust integer type `target`.
pub(crate) fn to_i128(v: Value, target: &str) -> Result<i128> {
    match v {
        Value::Int(i) => Ok(i128::from(i)),
        Value::Bool(b) => Ok(i128::from(b)),
        Value::BigInt(ref b) => b
            .to_i128()
            .ok_or_else(|| Error::decode(format!("Python int {v} does not fit {target}"))),
        other => Err(mismatch(&format!("an int for {target}"), &other)),
    }
}

/// A Python `int` (or `bool`) as a `u128`, for a Rust integer type `target`.
pub(crate) fn to_u128(v: Value, target: &str) -> Result<u128> {
    match v {
        Value::BigInt(ref b) => b
            .to_u128()
            .ok_or_else(|| Error::decode(format!("Python int {v} does not fit {target}"))),
        other => {
            let i = to_i128(other, target)?;
            u128::try_from(i)
                .map_err(|_| Error::decode(format!("Python int {i} does not fit {target}")))
        }
    }
}

/// Converts to a Rust integer type through `i128`, with the range check.
pub(crate) fn to_int<T: TryFrom<i128>>(v: Value) -> Result<T> {
    let target = type_name::<T>();
    let i = to_i128(v, target)?;
    T::try_from(i).map_err(|_| Error::decode(format!("Python int {i} does not fit {target}")))
}

/// A Python `float`, `int` or `bool` as an `f64`, as Python's `float()`
/// converts them.
pub(crate) fn to_f64(v: Value) -> Result<f64> {
    match v {
        Value::Float(x) => Ok(x),
        Value::Int(i) => Ok(i as f64), // Rounds to nearest, as Python does.
        Value::Bool(b) => Ok(f64::from(u8::from(b))),
        Value::BigInt(ref b) => b
            .to_f64()
            .ok_or_else(|| Error::decode("Python int too large to convert to float")),
        other => Err(mismatch("a float", &other)),
    }
}

/// A Python number as an `f32`; a finite value too large for one is an error.
pub(crate) fn to_f32(v: Value) -> Result<f32> {
    let x = to_f64(v)?;
    let narrow = x as f32; // Rounds to nearest.
    if x.is_finite() && narrow.is_infinite() {
        return Err(Error::decode(format!("Python float {x} does not fit f32")));
    }
    Ok(narrow)
}

/// The elements of a Python list or tuple, converted.
pub(crate) fn seq<T: Decode>(v: Value) -> Result<Vec<T>> {
    match v {
        Value::List(items) | Value::Tuple(items) => items.into_iter().map(T::from_value).collect(),
        other => Err(mismatch(
            &format!("a list or tuple for Vec<{}>", type_name::<T>()),
            &other,
        )),
    }
}

/// `bytes`, or a list or tuple of ints, as bytes.
pub(crate) fn bytes(v: Value) -> Result<Vec<u8>> {
    match v {
        Value::Bytes(b) => Ok(b),
        Value::List(_) | Value::Tuple(_) => seq::<u8>(v),
        other => Err(mismatch("bytes", &other)),
    }
}

/// The elements of a Python set, frozenset, list or tuple.
pub(crate) fn set_items(v: Value) -> Result<Vec<Value>> {
    match v {
        Value::Set(items) | Value::FrozenSet(items) | Value::List(items) | Value::Tuple(items) => {
            Ok(items)
        }
        other => Err(mismatch("a set", &other)),
    }
}

/// The entries of a Python dict.
pub(crate) fn dict_entries(v: Value) -> Result<Vec<(Value, Value)>> {
    match v {
        Value::Dict(entries) => Ok(entries),
        other => Err(mismatch("a dict", &other)),
    }
}

/// The fields of a tuple (or list) of exactly `n` elements.
pub(crate) fn tuple_fields(v: Value, n: usize) -> Result<Vec<Value>> {
    match v {
        Value::Tuple(items) | Value::List(items) if items.len() == n => Ok(items),
        Value::Tuple(items) | Value::List(items) => Err(Error::decode(format!(
            "expected a tuple of {n}, got one of {}",
            items.len()
        ))),
        other => Err(mismatch(&format!("a tuple of {n}"), &other)),
    }
}

/// A Rust slice as a Python list.
pub(crate) fn list<T: Encode>(items: &[T]) -> Result<Value> {
    items
        .iter()
        .map(Encode::to_value)
        .collect::<Result<Vec<_>>>()
        .map(Value::List)
}

/// Joins the two halves of a `VecDeque`, each converted on its own (both
/// `List` or both `Bytes`, since they have the same element type).
pub(crate) fn concat(front: Value, back: Value) -> Value {
    match (front, back) {
        (Value::List(mut a), Value::List(b)) | (Value::Tuple(mut a), Value::Tuple(b)) => {
            a.extend(b);
            Value::List(a)
        }
        (Value::Bytes(mut a), Value::Bytes(b)) => {
            a.extend(b);
            Value::Bytes(a)
        }
        (a, b) => Value::List(vec![a, b]),
    }
}

/// `Err(e)` as Python sees it: `Exception(e)`.
pub(crate) fn error_object(e: Value) -> Value {
    Value::Object(Box::new(Object::call("builtins", "Exception", vec![e])))
}

/// If `v` is an exception object (any object but a `Token`), its payload:
/// the single argument, or the tuple of all of them.
pub(crate) fn error_payload(v: Value) -> std::result::Result<Value, Value> {
    match v {
        Value::Object(obj) if !obj.is("multiprocessing.managers", "Token") => {
            let mut args = obj.args;
            Ok(if args.len() == 1 {
                args.pop().unwrap_or(Value::None)
            } else {
                Value::Tuple(args)
            })
        }
        other => Err(other),
    }
}

/// The one value a handler's arguments convert from: `()` for none, the
/// argument itself for one, the tuple for several (see the module docs).
pub(crate) fn args_value(mut args: Vec<Value>) -> Value {
    if args.len() == 1 {
        args.pop().unwrap_or(Value::None)
    } else {
        Value::Tuple(args)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
    use std::fmt::Debug;
    use std::marker::PhantomData;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn s(text: &str) -> Value {
        Value::Str(text.into())
    }

    /// Rust -> Value -> Rust, checking the Python form on the way.
    fn round_trip<T: Encode + Decode + PartialEq + Debug>(v: T, python: Value) {
        let value = v.to_value().unwrap();
        assert_eq!(value, python, "{v:?}");
        assert_eq!(T::from_value(value).unwrap(), v);
    }

    fn rejects<T: Decode + Debug>(v: Value) -> String {
        match T::from_value(v) {
            Ok(x) => panic!("accepted as {x:?}"),
            Err(e @ Error::Decode(_)) => e.to_string(),
            Err(e) => panic!("not a decode error: {e}"),
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
        assert!(matches!(u64::MAX.to_value().unwrap(), Value::BigInt(_)));
        assert_eq!(u8::from_value(Value::Bool(true)).unwrap(), 1);
        let e = rejects::<u8>(Value::Int(256));
        assert_eq!(e, "decode error: Python int 256 does not fit u8");
        assert!(rejects::<u32>(Value::Int(-1)).contains("does not fit u32"));
        assert!(rejects::<u64>(Value::Int(-1)).contains("does not fit u64"));
        assert!(rejects::<u128>(Value::Int(-1)).contains("does not fit u128"));
        assert!(rejects::<u128>(Value::from(i128::MIN)).contains("does not fit u128"));
        assert!(rejects::<i64>(Value::from(u64::MAX)).contains("does not fit i64"));
        assert!(rejects::<i128>(Value::from(u128::MAX)).contains("does not fit i128"));
        assert_eq!(
            rejects::<i32>(s("1")),
            "decode error: expected an int for i32, got a Python str"
        );
        assert!(rejects::<u128>(Value::Float(1.0)).contains("expected an int for u128"));
    }

    #[test]
    fn floats_bools_chars_strings() {
        round_trip(1.5f64, Value::Float(1.5));
        round_trip(-0.25f32, Value::Float(-0.25));
        assert_eq!(f64::from_value(Value::Int(3)).unwrap(), 3.0);
        assert_eq!(f64::from_value(Value::Bool(true)).unwrap(), 1.0);
        assert_eq!(
            f64::from_value(Value::from(u128::MAX)).unwrap(),
            u128::MAX as f64
        );
        let huge = Value::from_signed_bytes_le(
            &[0xff; 200].iter().copied().chain([0]).collect::<Vec<_>>(),
        );
        assert!(rejects::<f64>(huge).contains("too large"));
        assert!(rejects::<f32>(Value::Float(1e300)).contains("does not fit f32"));
        assert!(
            f32::from_value(Value::Float(f64::INFINITY))
                .unwrap()
                .is_infinite()
        );
        assert!(rejects::<f64>(s("x")).contains("expected a float"));
        round_trip(true, Value::Bool(true));
        assert!(rejects::<bool>(Value::Int(1)).contains("expected a bool"));
        round_trip('é', s("é"));
        assert!(rejects::<char>(s("ab")).contains("one character"));
        assert!(rejects::<char>(s("")).contains("one character"));
        assert!(rejects::<char>(Value::Int(1)).contains("expected a str"));
        round_trip(String::from("hi"), s("hi"));
        assert_eq!("hi".to_value().unwrap(), s("hi"));
        assert_eq!(Box::<str>::from_value(s("a")).unwrap(), "a".into());
        assert_eq!(Rc::<str>::from_value(s("a")).unwrap(), "a".into());
        assert_eq!(Arc::<str>::from_value(s("a")).unwrap(), "a".into());
        assert!(rejects::<String>(Value::Bytes(vec![])).contains("expected a str"));
    }

    #[test]
    fn bytes_and_sequences() {
        round_trip(vec![1u8, 2], Value::Bytes(vec![1, 2]));
        round_trip([7u8; 3], Value::Bytes(vec![7; 3]));
        round_trip(VecDeque::from(vec![1u8, 2]), Value::Bytes(vec![1, 2]));
        assert_eq!(b"ab"[..].to_value().unwrap(), Value::Bytes(b"ab".to_vec()));
        assert_eq!(
            Vec::<u8>::from_value(Value::List(vec![1.into()])).unwrap(),
            [1]
        );
        assert!(rejects::<Vec<u8>>(s("ab")).contains("expected bytes"));
        assert!(rejects::<Vec<u8>>(Value::List(vec![300.into()])).contains("does not fit u8"));
        round_trip(vec![1i64, -2], Value::List(vec![1.into(), (-2).into()]));
        round_trip(vec![vec![1u8]], Value::List(vec![Value::Bytes(vec![1])]));
        round_trip([1u16, 2], Value::List(vec![1.into(), 2.into()]));
        assert!(
            rejects::<[u16; 2]>(Value::List(vec![1.into()])).contains("expected 2 elements, got 1")
        );
        assert!(rejects::<[u8; 2]>(Value::Bytes(vec![1])).contains("expected 2 elements, got 1"));
        round_trip(Vec::<String>::new(), Value::List(vec![]));
        let mut dq = VecDeque::from(vec![2i32, 3]);
        dq.push_front(1);
        round_trip(dq, Value::List(vec![1.into(), 2.into(), 3.into()]));
        assert_eq!(
            Vec::<i32>::from_value(Value::Tuple(vec![1.into()])).unwrap(),
            [1]
        );
        assert!(rejects::<Vec<i32>>(Value::Set(vec![])).contains("expected a list or tuple"));
        assert_eq!(
            &*Box::<[i32]>::from_value(Value::List(vec![1.into()])).unwrap(),
            [1]
        );
        assert_eq!(
            &*Rc::<[i32]>::from_value(Value::List(vec![1.into()])).unwrap(),
            [1]
        );
        assert_eq!(
            &*Arc::<[i32]>::from_value(Value::List(vec![1.into()])).unwrap(),
            [1]
        );
        let boxed: Box<[u8]> = Box::new([1, 2]);
        assert_eq!(boxed.to_value().unwrap(), Value::Bytes(vec![1, 2]));
    }

    #[test]
    fn tuples_unit_and_options() {
        round_trip((1u8,), Value::Tuple(vec![1.into()]));
        round_trip(
            (String::from("a"), 1i64),
            Value::Tuple(vec![s("a"), 1.into()]),
        );
        round_trip(
            (
                1u8, 2u16, 3u32, 4u64, 5i8, 6i16, 7i32, 8i64, 9u8, 10u8, 11u8, 12u8,
            ),
            Value::Tuple((1..=12).map(Value::from).collect()),
        );
        // Sixteen fields, the most the codec covers (std's traits stop at 12).
        let sixteen = (
            1u8, 2u8, 3u8, 4u8, 5u8, 6u8, 7u8, 8u8, 9u8, 10u8, 11u8, 12u8, 13u8, 14u8, 15u8, 16u8,
        );
        let python = Value::Tuple((1..=16).map(Value::from).collect());
        assert_eq!(sixteen.to_value().unwrap(), python);
        let back = <(
            u8,
            u8,
            u8,
            u8,
            u8,
            u8,
            u8,
            u8,
            u8,
            u8,
            u8,
            u8,
            u8,
            u8,
            u8,
            u8,
        )>::from_value(python)
        .unwrap();
        assert_eq!((back.0, back.15), (1, 16));
        assert_eq!(
            <(u8, u8)>::from_value(Value::List(vec![1.into(), 2.into()])).unwrap(),
            (1, 2)
        );
        assert!(
            rejects::<(u8, u8)>(Value::Tuple(vec![1.into()])).contains("tuple of 2, got one of 1")
        );
        assert!(rejects::<(u8, u8)>(Value::None).contains("expected a tuple of 2"));
        round_trip((), Value::None);
        assert_eq!(<()>::from_value(Value::Tuple(vec![])).unwrap(), ());
        assert!(rejects::<()>(Value::Int(1)).contains("expected None"));
        round_trip(PhantomData::<String>, Value::None);
        assert!(rejects::<PhantomData<u8>>(Value::Int(1)).contains("expected None"));
        round_trip(Some(3u8), Value::Int(3));
        round_trip(None::<u8>, Value::None);
        // Some(None) cannot be told from None.
        assert_eq!(Some(None::<u8>).to_value().unwrap(), Value::None);
        round_trip(Box::new(5u8), Value::Int(5));
        round_trip(Rc::new(5u8), Value::Int(5));
        round_trip(Arc::new(5u8), Value::Int(5));
        round_trip(Cow::<str>::Owned("c".into()), s("c"));
        assert_eq!(<&u8 as Encode>::to_value(&&5).unwrap(), Value::Int(5));
        assert_eq!(
            <&mut u8 as Encode>::to_value(&&mut 5).unwrap(),
            Value::Int(5)
        );
    }

    #[test]
    fn results() {
        round_trip(Ok::<u8, String>(1), Value::Int(1));
        round_trip(
            Err::<u8, String>("bad".into()),
            Value::Object(Box::new(Object::call(
                "builtins",
                "Exception",
                vec![s("bad")],
            ))),
        );
        let from_python = Value::exception("ValueError", vec![s("x"), 1.into()]);
        assert_eq!(
            std::result::Result::<u8, (String, u8)>::from_value(from_python).unwrap(),
            Err(("x".into(), 1))
        );
        assert_eq!(
            std::result::Result::<u8, String>::from_value(Value::remote_error("tb")).unwrap(),
            Err("tb".into())
        );
        let token = Value::token("t", Value::None, "1");
        assert!(std::result::Result::<u8, String>::from_value(token).is_err());
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
        // A repeated key keeps the last value, as Python does.
        let dup = Value::Dict(vec![(1.into(), 1.into()), (1.into(), 2.into())]);
        assert_eq!(HashMap::<u8, u8>::from_value(dup.clone()).unwrap()[&1], 2);
        assert_eq!(BTreeMap::<u8, u8>::from_value(dup).unwrap()[&1], 2);
        assert!(rejects::<HashMap<u8, u8>>(Value::List(vec![])).contains("expected a dict"));
        assert!(rejects::<BTreeMap<u8, u8>>(Value::None).contains("expected a dict"));
        let set: BTreeSet<i64> = [3, 1].into();
        round_trip(set, Value::Set(vec![1.into(), 3.into()]));
        let set: HashSet<String> = ["x".to_string()].into();
        round_trip(set, Value::Set(vec![s("x")]));
        for python in [
            Value::FrozenSet(vec![1.into()]),
            Value::List(vec![1.into(), 1.into()]),
            Value::Tuple(vec![1.into()]),
        ] {
            assert_eq!(
                BTreeSet::<u8>::from_value(python.clone()).unwrap(),
                [1].into()
            );
            assert_eq!(HashSet::<u8>::from_value(python).unwrap(), [1].into());
        }
        assert!(rejects::<BTreeSet<u8>>(Value::Dict(vec![])).contains("expected a set"));
    }

    #[test]
    fn durations() {
        round_trip(Duration::from_millis(1500), Value::Float(1.5));
        assert_eq!(
            Duration::from_value(Value::Int(2)).unwrap(),
            Duration::from_secs(2)
        );
        assert!(rejects::<Duration>(Value::Float(-1.0)).contains("duration"));
        assert!(rejects::<Duration>(Value::Float(f64::NAN)).contains("duration"));
        assert!(rejects::<Duration>(s("1")).contains("expected a float"));
    }

    #[test]
    fn unsupported_types() {
        struct Opaque;
        impl Encode for Opaque {
            fn encode(&self, _out: &mut Vec<u8>) {}
        }
        impl Decode for Opaque {
            fn decode(_d: &mut crate::Decoder<'_>) -> Result<Opaque> {
                Ok(Opaque)
            }
        }
        let e = Opaque.to_value().unwrap_err().to_string();
        assert!(
            e.contains("Opaque cannot be converted to a Python value"),
            "{e}"
        );
        let e = Opaque::from_value(Value::None)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a Python NoneType cannot be converted to"),
            "{e}"
        );
        assert!(e.contains("Opaque"), "{e}");
        assert!(vec![Opaque].to_value().is_err());
        assert!(Opaque.to_args().is_err());
    }

    #[test]
    fn call_arguments() {
        let args = |v: Vec<Value>| v;
        // Zero-argument handlers.
        assert_eq!(<()>::from_args(args(vec![])).unwrap(), ());
        // One argument: the handler's single value.
        assert_eq!(
            <(String,)>::from_args(args(vec![s("a")])).unwrap(),
            ("a".into(),)
        );
        assert_eq!(
            <(Vec<u8>,)>::from_args(args(vec![Value::List(vec![1.into()])])).unwrap(),
            (vec![1],)
        );
        // Several: the tuple, whether the handler spells its arguments out or
        // takes one tuple.
        let two = args(vec![s("a"), 1.into()]);
        assert_eq!(
            <(String, i64)>::from_args(two.clone()).unwrap(),
            ("a".into(), 1)
        );
        assert_eq!(
            <((String, i64),)>::from_args(two).unwrap(),
            (("a".into(), 1),)
        );
        let one_tuple = args(vec![Value::Tuple(vec![s("a"), 1.into()])]);
        assert_eq!(
            <((String, i64),)>::from_args(one_tuple.clone()).unwrap(),
            (("a".into(), 1),)
        );
        assert_eq!(
            <(String, i64)>::from_args(one_tuple).unwrap(),
            ("a".into(), 1)
        );
        // Wrong counts are errors.
        assert!(<(String, i64)>::from_args(args(vec![s("a")])).is_err());
        assert!(<(String,)>::from_args(args(vec![])).is_err());
        assert!(<()>::from_args(args(vec![1.into(), 2.into()])).is_err());
        // And back, for calling Python.
        assert_eq!(().to_args().unwrap(), Vec::<Value>::new());
        assert_eq!(5u8.to_args().unwrap(), [Value::Int(5)]);
        assert_eq!((5u8,).to_args().unwrap(), [Value::Int(5)]);
        assert_eq!(("a", 1u8).to_args().unwrap(), [s("a"), 1.into()]);
        assert_eq!(vec![1u8].to_args().unwrap(), [Value::Bytes(vec![1])]);
        assert_eq!(args_value(vec![]), Value::Tuple(vec![]));
        assert_eq!(args_value(vec![Value::None]), Value::None);
        assert_eq!(
            args_value(vec![1.into(), 2.into()]),
            Value::Tuple(vec![1.into(), 2.into()])
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(
            concat(Value::Tuple(vec![1.into()]), Value::Tuple(vec![2.into()])),
            Value::List(vec![1.into(), 2.into()])
        );
        assert_eq!(
            concat(Value::None, Value::None),
            Value::List(vec![Value::None, Value::None])
        );
        assert_eq!(
            error_payload(Value::exception("E", vec![])),
            Ok(Value::Tuple(vec![]))
        );
        assert_eq!(error_payload(Value::None), Err(Value::None));
        assert!(set_items(Value::None).is_err());
        assert!(dict_entries(Value::None).is_err());
        assert!(tuple_fields(Value::None, 1).is_err());
        assert_eq!(bytes(Value::Tuple(vec![1.into()])).unwrap(), [1]);
        assert!(to_u128(s("x"), "u128").is_err());
    }
}
