//! Unit tests of the builtin methods, through [`super::call`].

use super::*;

fn s(x: &str) -> Value {
    Value::from(x)
}

fn ok(v: &Value, method: &str, args: Vec<Value>) -> Value {
    call(v, method, args, vec![]).unwrap_or_else(|e| panic!("{method}: {}", e.line()))
}

fn err(v: &Value, method: &str, args: Vec<Value>) -> String {
    call(v, method, args, vec![]).unwrap_err().line()
}

#[test]
fn exposed_lists_are_sorted_and_complete() {
    for list in [
        INT_METHODS,
        FLOAT_METHODS,
        STR_METHODS,
        BYTES_METHODS,
        TUPLE_METHODS,
        LIST_METHODS,
        DICT_METHODS,
        SET_METHODS,
    ] {
        assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
    }
    // Every exposed method is implemented: calling it never reports a
    // missing attribute.
    let samples = [
        Value::Int(5),
        Value::Bool(true),
        Value::from(1u128 << 90),
        Value::Float(2.5),
        s("abc"),
        Value::Bytes(b"abc".to_vec()),
        Value::Tuple(vec![1.into()]),
        Value::List(vec![1.into()]),
        Value::Dict(vec![(1.into(), 2.into())]),
        Value::Set(vec![1.into()]),
        Value::FrozenSet(vec![1.into()]),
    ];
    for v in &samples {
        for m in exposed(v) {
            if let Err(e) = call(v, m, vec![], vec![]) {
                assert_ne!(e.class, "AttributeError", "{v} {m}: {}", e.line());
            }
        }
    }
    assert!(exposed(&Value::None).is_empty());
}

#[test]
fn int_methods() {
    let ten = Value::Int(10);
    assert_eq!(ok(&ten, "conjugate", vec![]), Value::Int(10));
    assert_eq!(ok(&Value::Bool(true), "conjugate", vec![]), Value::Int(1));
    assert_eq!(ok(&ten, "bit_length", vec![]), Value::Int(4));
    assert_eq!(ok(&Value::Int(-7), "bit_count", vec![]), Value::Int(3));
    assert_eq!(ok(&ten, "as_integer_ratio", vec![]).to_string(), "(10, 1)");
    assert_eq!(ok(&ten, "is_integer", vec![]), Value::Bool(true));
    assert_eq!(ok(&ten, "to_bytes", vec![]), Value::Bytes(vec![10]));
    let kw = vec![(s("signed"), Value::Bool(true))];
    let r = call(&Value::Int(-2), "to_bytes", vec![2.into(), s("little")], kw).unwrap();
    assert_eq!(r, Value::Bytes(vec![0xfe, 0xff]));
    let r = ok(
        &ten,
        "from_bytes",
        vec![Value::Bytes(vec![1, 0]), s("little")],
    );
    assert_eq!(r, Value::Int(1));
    assert_eq!(
        ok(
            &Value::Bool(false),
            "from_bytes",
            vec![Value::Bytes(vec![1])]
        ),
        Value::Bool(true)
    );
    assert_eq!(
        err(&ten, "to_bytes", vec![1.into(), s("middle")]),
        "ValueError: byteorder must be either 'little' or 'big'"
    );
    assert_eq!(
        err(&ten, "bit_length", vec![1.into()]),
        "TypeError: bit_length() takes no arguments (1 given)"
    );
    assert!(err(&ten, "from_bytes", vec![]).contains("missing required argument 'bytes'"));
    let big = Value::from(1u128 << 90);
    assert_eq!(ok(&big, "bit_length", vec![]), Value::Int(91));
}

#[test]
fn float_methods() {
    let x = Value::Float(0.5);
    assert_eq!(ok(&x, "as_integer_ratio", vec![]).to_string(), "(1, 2)");
    assert_eq!(ok(&x, "hex", vec![]), s("0x1.0000000000000p-1"));
    assert_eq!(ok(&x, "fromhex", vec![s("0x1p3")]), Value::Float(8.0));
    assert_eq!(ok(&x, "is_integer", vec![]), Value::Bool(false));
    assert_eq!(ok(&x, "conjugate", vec![]), x);
    assert!(err(&Value::Float(f64::NAN), "as_integer_ratio", vec![]).starts_with("ValueError"));
}

#[test]
fn str_methods() {
    let v = s("Hello, héllo");
    assert_eq!(ok(&v, "__len__", vec![]), Value::Int(12));
    assert_eq!(ok(&v, "__getitem__", vec![(-4).into()]), s("é"));
    assert_eq!(
        err(&v, "__getitem__", vec![12.into()]),
        "IndexError: string index out of range"
    );
    assert_eq!(ok(&v, "__contains__", vec![s("llo")]), Value::Bool(true));
    assert_eq!(ok(&v, "find", vec![s("llo")]), Value::Int(2));
    assert_eq!(ok(&v, "rfind", vec![s("llo")]), Value::Int(9));
    assert_eq!(ok(&v, "find", vec![s("llo"), 3.into()]), Value::Int(9));
    assert_eq!(ok(&v, "find", vec![s("x")]), Value::Int(-1));
    assert_eq!(ok(&v, "count", vec![s("l")]), Value::Int(4));
    assert_eq!(ok(&s("aaaa"), "count", vec![s("aa")]), Value::Int(2));
    assert_eq!(ok(&s("aaa"), "rfind", vec![s("aa")]), Value::Int(1));
    assert_eq!(ok(&s("abc"), "count", vec![s("")]), Value::Int(4));
    assert_eq!(ok(&s("abc"), "find", vec![s(""), 3.into()]), Value::Int(3));
    assert_eq!(ok(&s("abc"), "find", vec![s(""), 4.into()]), Value::Int(-1));
    assert_eq!(
        err(&v, "index", vec![s("x")]),
        "ValueError: substring not found"
    );
    let w = s("héllo wörld");
    assert_eq!(ok(&w, "find", vec![s("ö"), (-5).into()]), Value::Int(7));
    assert_eq!(
        ok(&w, "rfind", vec![s("l"), 0.into(), 4.into()]),
        Value::Int(3)
    );
    assert_eq!(ok(&w, "count", vec![s("l"), 3.into()]), Value::Int(2));
    assert_eq!(ok(&w, "count", vec![s(""), 9.into()]), Value::Int(3));
    assert_eq!(
        ok(&w, "startswith", vec![s("wö"), 6.into()]),
        Value::Bool(true)
    );
    assert_eq!(
        ok(&w, "endswith", vec![s("llo"), 0.into(), 5.into()]),
        Value::Bool(true)
    );
    assert_eq!(
        ok(&w, "startswith", vec![s(""), 12.into()]),
        Value::Bool(false)
    );
    assert_eq!(ok(&w, "rindex", vec![s("")]), Value::Int(11));
    assert_eq!(ok(&v, "upper", vec![]), s("HELLO, HÉLLO"));
    assert_eq!(ok(&v, "lower", vec![]), s("hello, héllo"));
    let tuple = Value::Tuple(vec![s("x"), s("He")]);
    assert_eq!(ok(&v, "startswith", vec![tuple]), Value::Bool(true));
    assert_eq!(
        ok(&v, "endswith", vec![s("llo"), 0.into(), 5.into()]),
        Value::Bool(true)
    );
    assert_eq!(
        ok(&s("  a b  c "), "split", vec![]).to_string(),
        "['a', 'b', 'c']"
    );
    assert_eq!(
        ok(&s("  a b  c "), "split", vec![Value::None, 1.into()]).to_string(),
        "['a', 'b  c ']"
    );
    assert_eq!(
        ok(&s("a,b,,c"), "split", vec![s(",")]).to_string(),
        "['a', 'b', '', 'c']"
    );
    assert_eq!(
        ok(&s("a,b,c"), "split", vec![s(","), 1.into()]).to_string(),
        "['a', 'b,c']"
    );
    assert_eq!(
        err(&s("a"), "split", vec![s("")]),
        "ValueError: empty separator"
    );
    assert_eq!(ok(&s(" \tx\x1c "), "strip", vec![]), s("x"));
    assert_eq!(ok(&s("xxaxx"), "lstrip", vec![s("x")]), s("axx"));
    assert_eq!(ok(&s("xxaxx"), "rstrip", vec![s("x")]), s("xxa"));
    assert_eq!(
        ok(&s("aXbXc"), "replace", vec![s("X"), s("--")]),
        s("a--b--c")
    );
    assert_eq!(
        ok(&s("aXbXc"), "replace", vec![s("X"), s(""), 1.into()]),
        s("abXc")
    );
    assert_eq!(ok(&s("ab"), "replace", vec![s(""), s("-")]), s("-a-b-"));
    assert_eq!(
        ok(&s(", "), "join", vec![Value::List(vec![s("a"), s("b")])]),
        s("a, b")
    );
    assert_eq!(
        err(&s(","), "join", vec![Value::List(vec![1.into()])]),
        "TypeError: sequence item 0: expected str instance, int found"
    );
    assert_eq!(ok(&s("prefix"), "removeprefix", vec![s("pre")]), s("fix"));
    assert_eq!(ok(&s("prefix"), "removesuffix", vec![s("fix")]), s("pre"));
    assert_eq!(
        ok(&s("é"), "encode", vec![]),
        Value::Bytes(vec![0xc3, 0xa9])
    );
    assert_eq!(
        ok(&s("é"), "encode", vec![s("latin-1")]),
        Value::Bytes(vec![0xe9])
    );
    let e = call(&s("aé"), "encode", vec![s("ascii")], vec![]).unwrap_err();
    assert_eq!(
        e.to_value().to_string(),
        "UnicodeEncodeError('ascii', 'aé', 1, 2, 'ordinal not in range(128)')"
    );
    assert_eq!(
        ok(&s("aé"), "encode", vec![s("ascii"), s("replace")]),
        Value::Bytes(b"a?".to_vec())
    );
    assert_eq!(ok(&s("abc"), "isascii", vec![]), Value::Bool(true));
}

#[test]
fn bytes_methods() {
    let b = Value::Bytes(b"abcabc".to_vec());
    assert_eq!(ok(&b, "__getitem__", vec![(-1).into()]), Value::Int(99));
    assert_eq!(ok(&b, "__contains__", vec![98.into()]), Value::Bool(true));
    assert_eq!(
        ok(&b, "count", vec![Value::Bytes(b"bc".to_vec())]),
        Value::Int(2)
    );
    assert_eq!(ok(&b, "rindex", vec![97.into()]), Value::Int(3));
    assert_eq!(ok(&b, "hex", vec![]), s("616263616263"));
    assert_eq!(ok(&b, "upper", vec![]), Value::Bytes(b"ABCABC".to_vec()));
    assert_eq!(ok(&b, "decode", vec![]), s("abcabc"));
    let e = call(&Value::Bytes(vec![0x61, 0xff]), "decode", vec![], vec![]).unwrap_err();
    assert_eq!(
        e.to_value().to_string(),
        "UnicodeDecodeError('utf-8', b'a\\xff', 1, 2, 'invalid start byte')"
    );
    assert_eq!(
        ok(
            &Value::Bytes(vec![0x61, 0xff, 0x62]),
            "decode",
            vec![s("utf-8"), s("replace")]
        ),
        s("a\u{fffd}b")
    );
    assert_eq!(
        ok(
            &Value::Bytes(vec![0x61, 0xff]),
            "decode",
            vec![s("utf-8"), s("ignore")]
        ),
        s("a")
    );
    assert_eq!(
        err(&b, "index", vec![300.into()]),
        "ValueError: byte must be in range(0, 256)"
    );
}

#[test]
fn sequence_and_mapping_methods() {
    let t = Value::Tuple(vec![1.into(), s("a"), 1.into()]);
    assert_eq!(ok(&t, "count", vec![Value::Float(1.0)]), Value::Int(2));
    assert_eq!(ok(&t, "index", vec![s("a")]), Value::Int(1));
    assert_eq!(ok(&t, "index", vec![1.into(), 1.into()]), Value::Int(2));
    assert_eq!(
        err(&t, "index", vec![s("b")]),
        "ValueError: tuple.index(x): x not in tuple"
    );
    let l = Value::List(vec![1.into()]);
    assert_eq!(
        err(&l, "index", vec![2.into()]),
        "ValueError: 2 is not in list"
    );
    assert_eq!(
        err(&l, "__getitem__", vec![s("x")]),
        "TypeError: list indices must be integers or slices, not str"
    );
    assert_eq!(
        err(&l, "__getitem__", vec![1.into()]),
        "IndexError: list index out of range"
    );
    let d = Value::Dict(vec![(s("a"), 1.into()), (2.into(), s("b"))]);
    assert_eq!(ok(&d, "get", vec![Value::Float(2.0)]), s("b"));
    assert_eq!(ok(&d, "get", vec![s("z"), 0.into()]), Value::Int(0));
    assert_eq!(err(&d, "__getitem__", vec![s("z")]), "KeyError: 'z'");
    assert_eq!(
        err(&d, "__contains__", vec![Value::List(vec![])]),
        "TypeError: unhashable type: 'list'"
    );
    assert_eq!(ok(&d, "keys", vec![]).to_string(), "['a', 2]");
    assert_eq!(ok(&d, "items", vec![]).to_string(), "[('a', 1), (2, 'b')]");
    assert_eq!(ok(&d, "__len__", vec![]), Value::Int(2));
}

#[test]
fn set_methods() {
    let st = Value::Set(vec![1.into(), 2.into(), 3.into()]);
    let other = Value::List(vec![3.into(), 4.into(), 4.into()]);
    assert_eq!(
        ok(&st, "union", vec![other.clone()]).to_string(),
        "{1, 2, 3, 4}"
    );
    assert_eq!(
        ok(&st, "intersection", vec![other.clone()]).to_string(),
        "{3}"
    );
    assert_eq!(
        ok(&st, "difference", vec![other.clone()]).to_string(),
        "{1, 2}"
    );
    assert_eq!(
        ok(&st, "symmetric_difference", vec![other.clone()]).to_string(),
        "{1, 2, 4}"
    );
    assert_eq!(ok(&st, "issubset", vec![other.clone()]), Value::Bool(false));
    assert_eq!(
        ok(&st, "issuperset", vec![Value::List(vec![1.into()])]),
        Value::Bool(true)
    );
    assert_eq!(
        ok(&st, "isdisjoint", vec![Value::List(vec![9.into()])]),
        Value::Bool(true)
    );
    let fs = Value::FrozenSet(vec![1.into()]);
    assert_eq!(ok(&fs, "union", vec![]).to_string(), "frozenset({1})");
    assert_eq!(
        ok(&fs, "__contains__", vec![Value::Float(1.0)]),
        Value::Bool(true)
    );
    assert_eq!(
        err(&fs, "union", vec![Value::List(vec![Value::List(vec![])])]),
        "TypeError: unhashable type: 'list'"
    );
    assert_eq!(
        err(&fs, "union", vec![1.into()]),
        "TypeError: 'int' object is not iterable"
    );
}

#[test]
fn binding_rejects_bad_calls() {
    let v = s("abc");
    assert_eq!(
        call(&v, "find", vec![s("a")], vec![(s("start"), 1.into())])
            .unwrap_err()
            .line(),
        "TypeError: find() takes no keyword arguments"
    );
    assert_eq!(
        err(&v, "find", vec![s("a"), 1.into(), 2.into(), 3.into()]),
        "TypeError: find() takes at most 3 arguments (4 given)"
    );
    let e = call(&v, "split", vec![], vec![(s("nope"), 1.into())]).unwrap_err();
    assert_eq!(
        e.line(),
        "TypeError: split() got an unexpected keyword argument 'nope'"
    );
    let e = call(&v, "split", vec![s(",")], vec![(s("sep"), s(","))]).unwrap_err();
    assert!(e.line().contains("given by name ('sep') and position (1)"));
    let r = call(&v, "split", vec![], vec![(s("sep"), s("b"))]).unwrap();
    assert_eq!(r.to_string(), "['a', 'c']");
}

#[test]
fn results_are_bounded() {
    let v = Value::Str("a".repeat(10_000));
    let r = call(
        &v,
        "replace",
        vec![s(""), Value::Str("b".repeat(10_000))],
        vec![],
    );
    assert_eq!(r.map_err(|e| e.class).err(), Some("MemoryError"));
    let e = err(&Value::Int(1), "to_bytes", vec![Value::Int(1 << 40)]);
    assert!(e.starts_with("OverflowError"), "{e}");
}
