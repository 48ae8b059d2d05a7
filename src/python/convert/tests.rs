//! Unit tests of the conversions, against the codec's own encoding.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Debug;
use std::time::Duration;

use super::*;
use crate::codec::{Decode, Encode, from_slice, to_vec};

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
    let huge =
        Value::from_signed_bytes_le(&[0xff; 200].iter().copied().chain([0]).collect::<Vec<_>>());
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
    assert!(rejects::<(u8, u8)>(Value::Tuple(vec![1.into()])).contains("tuple of 2, got one of 1"));
    assert!(rejects::<(u8, u8)>(Value::None).contains("expected tuple[int, int], got NoneType"));
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
