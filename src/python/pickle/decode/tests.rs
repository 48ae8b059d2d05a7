//! Unit tests of the unpickler.

use super::*;

fn load(bytes: &[u8]) -> Value {
    from_pickle(bytes).unwrap_or_else(|e| panic!("{e}: {bytes:?}"))
}

fn err(bytes: &[u8]) -> String {
    match from_pickle(bytes) {
        Ok(v) => panic!("decoded {v:?} from {bytes:?}"),
        Err(e @ Error::Decode(_)) => e.to_string(),
        Err(e) => panic!("not a decode error: {e}"),
    }
}

fn s(text: &str) -> Value {
    Value::Str(text.into())
}

fn i(v: i64) -> Value {
    Value::Int(v)
}

#[test]
fn scalars() {
    assert_eq!(load(b"\x80\x04N."), Value::None);
    assert_eq!(load(b"\x80\x02\x88."), Value::Bool(true));
    assert_eq!(load(b"\x80\x02\x89."), Value::Bool(false));
    assert_eq!(load(b"\x80\x02K\xff."), i(255));
    assert_eq!(load(b"\x80\x02M\x88\x13."), i(5000));
    assert_eq!(load(b"\x80\x02J\xff\xff\xff\xff."), i(-1));
    assert_eq!(load(b"\x80\x02J\x00\x00\x00\x80."), i(-(1 << 31)));
    assert_eq!(load(b"\x80\x02\x8a\x05\x00\x00\x00\x80\x00."), i(1 << 31));
    assert_eq!(load(b"\x80\x02\x8a\x00."), i(0));
    assert_eq!(load(b"\x80\x02\x8b\x01\x00\x00\x00\xfe."), i(-2));
    let mut two_200 = b"\x80\x02\x8a\x1a".to_vec();
    two_200.extend_from_slice(&[0; 25]);
    two_200.extend_from_slice(b"\x01.");
    assert_eq!(
        load(&two_200).to_string(),
        "1606938044258990275541962092341162602522202993782792835301376"
    );
    assert_eq!(
        load(b"\x80\x02G?\xf8\x00\x00\x00\x00\x00\x00."),
        Value::Float(1.5)
    );
}

#[test]
fn strings_and_bytes() {
    assert_eq!(load(b"\x80\x04\x8c\x03h\xc3\xa9."), s("hé"));
    assert_eq!(load(b"\x80\x02X\x02\x00\x00\x00hi."), s("hi"));
    assert_eq!(
        load(b"\x80\x04\x8d\x01\x00\x00\x00\x00\x00\x00\x00x."),
        s("x")
    );
    assert_eq!(load(b"\x80\x03C\x02ab."), Value::Bytes(b"ab".to_vec()));
    assert_eq!(
        load(b"\x80\x03B\x01\x00\x00\x00z."),
        Value::Bytes(b"z".to_vec())
    );
    assert_eq!(
        load(b"\x80\x04\x8e\x01\x00\x00\x00\x00\x00\x00\x00z."),
        Value::Bytes(b"z".to_vec())
    );
    assert_eq!(
        load(b"\x80\x05\x96\x02\x00\x00\x00\x00\x00\x00\x00ab."),
        Value::Bytes(b"ab".to_vec())
    );
    // Python 2 strings: ASCII only.
    assert_eq!(load(b"\x80\x02U\x02ab."), s("ab"));
    assert_eq!(load(b"\x80\x02T\x01\x00\x00\x00a."), s("a"));
    assert!(err(b"\x80\x02U\x01\xff.").contains("not ASCII"));
    assert!(err(b"\x80\x02T\xff\xff\xff\xff.").contains("negative length"));
    // Invalid UTF-8 and lone surrogates.
    assert!(err(b"\x80\x04\x8c\x01\xff.").contains("invalid UTF-8"));
    assert!(err(b"\x80\x04\x8c\x03\xed\xb2\x80.").contains("lone surrogate"));
}

#[test]
fn protocol2_bytes_and_sets() {
    // pickle.dumps(b'ab', 2)
    let p = b"\x80\x02c_codecs\nencode\nq\x00X\x02\x00\x00\x00abq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.";
    assert_eq!(load(p), Value::Bytes(b"ab".to_vec()));
    // Latin-1 text above U+007F comes back as the single bytes.
    let p = b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xbfX\x07\x00\x00\x00latin-1\x86R.";
    assert_eq!(load(p), Value::Bytes(vec![0xff]));
    let p = b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00\xc4\x80X\x06\x00\x00\x00latin1\x86R.";
    assert!(err(p).contains("outside latin-1"));
    let p = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x03\x00\x00\x00rot\x86R.";
    assert!(err(p).contains("unsupported encoding"));
    let p = b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xbf\x85R.";
    assert_eq!(load(p), Value::Bytes(vec![0xc3, 0xbf]));
    // pickle.dumps(b'', 2)
    assert_eq!(
        load(b"\x80\x02c__builtin__\nbytes\nq\x00)Rq\x01."),
        Value::Bytes(vec![])
    );
    // pickle.dumps(bytearray(b'x'), 2)
    let p = b"\x80\x02c__builtin__\nbytearray\nq\x00c_codecs\nencode\nq\x01X\x01\x00\x00\x00xq\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05\x85q\x06Rq\x07.";
    assert_eq!(load(p), Value::Bytes(b"x".to_vec()));
    let p = b"\x80\x02c__builtin__\nbytearray\nX\x01\x00\x00\x00xX\x07\x00\x00\x00latin-1\x86R.";
    assert_eq!(load(p), Value::Bytes(b"x".to_vec()));
    assert!(err(b"\x80\x02c__builtin__\nbytes\nK\x01\x85R.").contains("needs bytes"));
    assert!(err(b"\x80\x02c__builtin__\nbytes\nK\x01K\x01K\x01\x87R.").contains("does not take 3"));
    // pickle.dumps({1, 2}, 2), pickle.dumps(frozenset({1}), 2), set()
    let p = b"\x80\x02c__builtin__\nset\nq\x00]q\x01(K\x01K\x02e\x85q\x02Rq\x03.";
    assert_eq!(load(p), Value::Set(vec![i(1), i(2)]));
    let p = b"\x80\x02c__builtin__\nfrozenset\nq\x00]q\x01K\x01a\x85q\x02Rq\x03.";
    assert_eq!(load(p), Value::FrozenSet(vec![i(1)]));
    assert_eq!(load(b"\x80\x02c__builtin__\nset\n)R."), Value::Set(vec![]));
    assert!(err(b"\x80\x02c__builtin__\nset\nK\x01\x85R.").contains("needs a list"));
    // Protocol 3 names builtins as builtins.
    assert_eq!(load(b"\x80\x03cbuiltins\nset\n)R."), Value::Set(vec![]));
}

#[test]
fn containers() {
    // pickle.dumps((1, [2, 3], {'a': (4,)}, (), {5}, frozenset()), 4)
    let p = b"\x80\x04\x95\x21\x00\x00\x00\x00\x00\x00\x00(K\x01]\x94(K\x02K\x03e}\x94\x8c\x01a\x94K\x04\x85\x94s)\x8f\x94(K\x05\x90(\x91\x94t\x94.";
    assert_eq!(
        load(p),
        Value::Tuple(vec![
            i(1),
            Value::List(vec![i(2), i(3)]),
            Value::Dict(vec![(s("a"), Value::Tuple(vec![i(4)]))]),
            Value::Tuple(vec![]),
            Value::Set(vec![i(5)]),
            Value::FrozenSet(vec![]),
        ])
    );
    assert_eq!(load(b"\x80\x02K\x01\x85."), Value::Tuple(vec![i(1)]));
    assert_eq!(
        load(b"\x80\x02K\x01K\x02\x86."),
        Value::Tuple(vec![i(1), i(2)])
    );
    assert_eq!(
        load(b"\x80\x02K\x01K\x02K\x03\x87."),
        Value::Tuple(vec![i(1), i(2), i(3)])
    );
    assert_eq!(load(b"\x80\x02(t."), Value::Tuple(vec![]));
    assert_eq!(
        load(b"\x80\x02}K\x01K\x02s."),
        Value::Dict(vec![(i(1), i(2))])
    );
    assert_eq!(
        load(b"\x80\x02}(K\x01K\x02K\x03K\x04u."),
        Value::Dict(vec![(i(1), i(2)), (i(3), i(4))])
    );
    assert!(err(b"\x80\x02}(K\x01u.").contains("odd number"));
    assert!(err(b"\x80\x02(K\x01d.").contains("odd number"));
    assert!(err(b"\x80\x02]K\x01s.").contains("stack underflow"));
    assert!(err(b"\x80\x02)K\x01a.").contains("cannot add items to a tuple"));
    assert!(err(b"\x80\x04(\x91(K\x01\x90.").contains("cannot add items to a frozenset"));
}

#[test]
fn protocol0_forms() {
    // pickle.dumps([1, (2,)], 0) and friends, as Python 3.13 writes them.
    assert_eq!(
        load(b"(lp0\nI1\na(I2\ntp1\na."),
        Value::List(vec![i(1), Value::Tuple(vec![i(2)])])
    );
    assert_eq!(load(b"I01\n."), Value::Bool(true));
    assert_eq!(load(b"I00\n."), Value::Bool(false));
    assert_eq!(load(b"I-5\n."), i(-5));
    assert_eq!(
        load(b"L1180591620717411303424L\n.").to_string(),
        "1180591620717411303424"
    );
    assert_eq!(load(b"L-7\n."), i(-7));
    assert_eq!(load(b"F1.5\n."), Value::Float(1.5));
    assert_eq!(load(b"F-inf\n."), Value::Float(f64::NEG_INFINITY));
    assert_eq!(
        load(b"Va\xe9\\u1234\\u000a\\u005c\np0\n."),
        s("aé\u{1234}\n\\")
    );
    assert_eq!(load(b"V\\\\u0041\n."), s("\\\\u0041"));
    assert_eq!(load(b"V\\\\\\u0041\n."), s("\\\\A"));
    assert_eq!(load(b"V\\U0001f600x\\\n."), s("😀x\\"));
    assert!(err(b"V\\u12\n.").contains("truncated \\u escape"));
    assert!(err(b"V\\uzzzz\n.").contains("invalid \\u escape"));
    assert!(err(b"V\\ud800\n.").contains("not a character"));
    assert_eq!(load(b"S'ab\\'\\n\\x41\\101\\q'\n."), s("ab'\nAA\\q"));
    assert_eq!(load(b"S\"a\"\n."), s("a"));
    assert!(err(b"Sab\n.").contains("must be quoted"));
    assert!(err(b"S'\\x4'\n.").contains("invalid \\x"));
    assert!(err(b"S'\\xff'\n.").contains("not ASCII"));
    assert_eq!(load(b"(dp0\nVa\nI1\ns."), Value::Dict(vec![(s("a"), i(1))]));
    assert_eq!(load(b"(I1\nI2\nd."), Value::Dict(vec![(i(1), i(2))]));
    assert_eq!(load(b"(I1\nl."), Value::List(vec![i(1)]));
    assert_eq!(load(b"I1\np0\n0g0\n."), i(1));
    assert!(err(b"I1\nI2\n.").contains("1 values left"));
    assert!(err(b"Ix\n.").contains("invalid integer"));
    assert!(err(b"Fx\n.").contains("invalid float"));
    assert!(err(b"I1").contains("no newline"));
    assert!(err(b"I1\np-1\n.").contains("invalid memo index"));
    assert!(err(b"I1\np99999999999\n.").contains("out of range"));
}

#[test]
fn stack_opcodes() {
    // POP, POP_MARK and DUP.
    assert_eq!(load(b"\x80\x02K\x01K\x020."), i(1));
    assert_eq!(load(b"\x80\x02K\x01(K\x02K\x031."), i(1));
    // POP with nothing above the mark pops the mark, as in Python.
    assert_eq!(load(b"\x80\x02K\x01(0."), i(1));
    assert_eq!(load(b"\x80\x02K\x012\x86."), Value::Tuple(vec![i(1), i(1)]));
    assert!(err(b"\x80\x020.").contains("no MARK"));
    assert!(err(b"\x80\x02(2.").contains("stack underflow"));
    assert!(err(b"\x80\x02K\x01(.").contains("stack underflow"));
    assert!(err(b"\x80\x02(K\x01.").contains("MARK left open"));
    assert!(err(b"\x80\x02.").contains("stack underflow"));
    assert!(err(b"\x80\x02K\x01(\x85.").contains("stack underflow"));
    assert!(err(b"\x80\x021.").contains("no MARK"));
}

#[test]
fn memo_keeps_python_reference_semantics() {
    // a = []; (a, a) with the list filled after being memoized:
    // EMPTY_LIST MEMOIZE BININT1 1 APPEND BINGET 0 TUPLE2
    let p = b"\x80\x04]\x94K\x01ah\x00\x86.";
    let one = Value::List(vec![i(1)]);
    assert_eq!(load(p), Value::Tuple(vec![one.clone(), one]));
    // The same through BINPUT/LONG_BINGET, and PUT/GET.
    let p = b"\x80\x02]q\x05K\x01aj\x05\x00\x00\x00\x86.";
    assert_eq!(load(p), Value::Tuple(vec![Value::List(vec![i(1)]); 2]));
    let p = b"\x80\x02]r\x00\x00\x01\x00K\x01aj\x00\x00\x01\x00\x86.";
    assert_eq!(load(p), Value::Tuple(vec![Value::List(vec![i(1)]); 2]));
    assert!(err(b"\x80\x02h\x00.").contains("memo entry 0 was never stored"));
    assert!(err(b"\x80\x02\x94.").contains("stack underflow"));
}

#[test]
fn exceptions_tokens_and_remote_errors() {
    // pickle.dumps(ValueError('x'), 4)
    let p = b"\x80\x04\x95#\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\nValueError\x94\x93\x94\x8c\x01x\x94\x85\x94R\x94.";
    assert_eq!(load(p), Value::exception("ValueError", vec![s("x")]));
    // pickle.dumps(KeyError('k'), 2)
    let p = b"\x80\x02cexceptions\nKeyError\nq\x00X\x01\x00\x00\x00kq\x01\x85q\x02Rq\x03.";
    assert_eq!(load(p), Value::exception("KeyError", vec![s("k")]));
    // pickle.dumps(Token('dict', ('127.0.0.1', 5000), '7f'), 2)
    let p = b"\x80\x02cmultiprocessing.managers\nToken\nq\x00)\x81q\x01X\x04\x00\x00\x00dictq\x02X\t\x00\x00\x00127.0.0.1q\x03M\x88\x13\x86q\x04X\x02\x00\x00\x007fq\x05\x87q\x06b.";
    let addr = Value::Tuple(vec![s("127.0.0.1"), i(5000)]);
    assert_eq!(load(p), Value::token("dict", addr, "7f"));
    // pickle.dumps(RemoteError('x'), 4)
    let p = b"\x80\x04\x954\x00\x00\x00\x00\x00\x00\x00\x8c\x18multiprocessing.managers\x94\x8c\x0bRemoteError\x94\x93\x94\x8c\x01x\x94\x85\x94R\x94.";
    assert_eq!(load(p), Value::remote_error("x"));
    // An exception with notes: REDUCE then BUILD with a dict.
    let p =
        b"\x80\x04\x8c\x08builtins\x8c\nValueError\x93\x8c\x01x\x85R}\x8c\t__notes__]\x8c\x01nasb.";
    let Value::Object(obj) = load(p) else {
        panic!("not an object")
    };
    assert_eq!(
        obj.state,
        Some(Value::Dict(vec![(
            s("__notes__"),
            Value::List(vec![s("n")])
        )]))
    );
    // NEWOBJ_EX with no keyword arguments; INST and OBJ.
    let p = b"\x80\x04\x8c\x08builtins\x8c\nValueError\x93)}\x92.";
    let Value::Object(obj) = load(p) else {
        panic!("not an object")
    };
    assert!(obj.newobj && obj.args.is_empty());
    let p = b"\x80\x04\x8c\x08builtins\x8c\nValueError\x93)}K\x01K\x02s\x92.";
    assert!(err(p).contains("keyword arguments"));
    assert_eq!(
        load(b"(S'x'\niexceptions\nValueError\n."),
        Value::exception("ValueError", vec![s("x")])
    );
    assert_eq!(
        load(b"(cexceptions\nValueError\nS'x'\no."),
        Value::exception("ValueError", vec![s("x")])
    );
    assert!(err(b"(o.").contains("stack underflow"));
    // BUILD twice, BUILD on a list, NEWOBJ on set, a call of a non-class.
    let p = b"\x80\x04\x8c\x08builtins\x8c\nValueError\x93)RNbNb.";
    assert!(err(p).contains("state set twice"));
    assert!(err(b"\x80\x04]Nb.").contains("cannot set state on a list"));
    assert!(err(b"\x80\x04\x8c\x08builtins\x8c\x03set\x93)\x81.").contains("with __new__"));
    assert!(err(b"\x80\x04K\x01)\x81.").contains("cannot instantiate a int"));
    assert!(err(b"\x80\x04K\x01)R.").contains("cannot call a int"));
    assert!(err(b"\x80\x04\x8c\x08builtins\x8c\nValueError\x93NR.").contains("must be a tuple"));
    assert!(err(b"\x80\x04\x8c\x08builtins\x8c\nValueError\x93N\x81.").contains("must be a tuple"));
    assert!(err(b"\x80\x04K\x01\x8c\x01x\x93.").contains("must be strings"));
    // A class as a value rather than called.
    assert!(err(b"\x80\x04\x8c\x08builtins\x8c\nValueError\x93.").contains("can only be called"));
}

#[test]
fn refused_globals() {
    for p in [
        &b"\x80\x04\x95\x14\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94."[..],
        b"\x80\x02cposix\nsystem\nq\x00.",
        b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.",
        b"cos\nsystem\n(S'ls'\ntR.",
        b"(S'ls'\nios\nsystem\n.",
    ] {
        let e = err(p);
        assert!(e.contains("refusing to load global "), "{e}");
        assert!(e.contains("system"), "{e}");
    }
    let e = err(b"\x80\x02csubprocess\nPopen\n.");
    assert!(
        e.contains("refusing to load global subprocess.Popen"),
        "{e}"
    );
    let e = err(b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.");
    assert_eq!(
        e,
        "decode error: invalid pickle: refusing to load global builtins.eval: only data, \
         builtin exceptions and multiprocessing.managers.Token/RemoteError can be \
         unpickled (opcode STACK_GLOBAL at byte 18)"
    );
    assert!(err(b"\x80\x02c\xff\nx\n.").contains("not valid UTF-8"));
}

#[test]
fn unsupported_opcodes() {
    assert!(err(b"\x80\x02Pid\n.").contains("persistent ids"));
    assert!(err(b"\x80\x02N\x51.").contains("persistent ids"));
    assert!(err(b"\x80\x02\x82\x01.").contains("extension registry"));
    assert!(err(b"\x80\x05\x97.").contains("out-of-band"));
    assert!(err(b"\x80\x05N\x98.").contains("out-of-band"));
    assert!(err(b"\x80\x02\xff.").contains("invalid opcode 0xff"));
    assert!(err(b"\x80\x06N.").contains("unsupported pickle protocol 6"));
}

#[test]
fn framing_and_trailing_bytes() {
    assert_eq!(
        load(b"\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N."),
        Value::None
    );
    assert!(err(b"\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00N.").contains("exceeds"));
    assert!(err(b"\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\xffN.").contains("exceeds"));
    let e = err(b"\x80\x04N.x");
    assert!(e.contains("1 bytes after STOP"), "{e}");
    assert!(err(b"").contains("without STOP"));
    assert!(err(b"\x80\x04N").contains("ends at byte 3 without STOP"));
}

#[test]
fn lengths_are_checked_before_allocating() {
    for p in [
        &b"\x80\x04X\xff\xff\xff\xffab."[..],
        b"\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\xffab.",
        b"\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x80ab.",
        b"\x80\x04B\xff\xff\xff\x7fab.",
        b"\x80\x04\x96\xff\xff\xff\xff\xff\xff\xff\x7fab.",
        b"\x80\x04\x8b\xff\xff\xff\x7fab.",
        b"\x80\x04T\xff\xff\xff\x7fab.",
    ] {
        let e = err(p);
        assert!(e.contains("exceeds the"), "{e}");
    }
    assert!(err(b"\x80\x04\x8b\xff\xff\xff\xffab.").contains("negative length"));
    assert!(err(b"\x80\x04\x8c\x05ab.").contains("truncated"));
}

#[test]
fn self_reference_is_an_error() {
    // l = []; l.append(l)
    let e = err(b"\x80\x04]\x94h\x00a.");
    assert!(e.contains("holds itself"), "{e}");
    // DUP then APPEND does the same.
    assert!(err(b"\x80\x04]2a.").contains("holds itself"));
    // A dict inside a list inside the dict.
    assert!(err(b"\x80\x04}\x94K\x01]h\x00as.").contains("holds itself"));
}

#[test]
fn depth_is_bounded() {
    let nest = |n: usize| {
        let mut p = b"\x80\x04".to_vec();
        p.extend(std::iter::repeat_n(b']', n));
        p.extend(std::iter::repeat_n(b'a', n - 1));
        p.push(b'.');
        p
    };
    let deep = load(&nest(1000));
    let mut depth = 0;
    let mut cur = &deep;
    while let Value::List(items) = cur {
        depth += 1;
        match items.first() {
            Some(next) => cur = next,
            None => break,
        }
    }
    assert_eq!(depth, 1000);
    // Display, Debug, Clone, PartialEq, Drop and encoding recurse: fine
    // at this depth.
    assert_eq!(deep.clone(), deep);
    assert!(deep.to_string().starts_with("[[[["));
    assert!(format!("{deep:?}").starts_with("List([List(["));
    assert_eq!(
        from_pickle(&crate::python::pickle::to_pickle(&deep, 4)).unwrap(),
        deep
    );
    drop(deep);
    assert!(err(&nest(1001)).contains("nested more than 1000 deep"));
    assert!(err(&nest(100_000)).contains("nested more than 1000 deep"));
    let limits = PickleLimits {
        max_depth: 3,
        ..PickleLimits::default()
    };
    assert!(from_pickle_with(&nest(3), &limits).is_ok());
    assert!(from_pickle_with(&nest(4), &limits).is_err());
    let flat = PickleLimits {
        max_depth: 0,
        ..PickleLimits::default()
    };
    assert!(from_pickle_with(&nest(1), &flat).is_err());
    assert!(from_pickle_with(b"\x80\x04N.", &flat).is_ok());
}

#[test]
fn sharing_is_bounded() {
    // Each level is a list holding the previous level twice: 2^40 leaves
    // from a few hundred bytes.
    let mut p = b"\x80\x04\x8c\x04abcd\x940".to_vec();
    for level in 0..40u32 {
        p.extend_from_slice(b"](j");
        p.extend_from_slice(&level.to_le_bytes());
        p.push(b'j');
        p.extend_from_slice(&level.to_le_bytes());
        p.extend_from_slice(b"e\x940");
    }
    p.push(b'j');
    p.extend_from_slice(&40u32.to_le_bytes());
    p.push(b'.');
    let e = err(&p);
    assert!(e.contains("size limit"), "{e}");
    // Copies made by set() on a shared list are charged too.
    let mut p = b"\x80\x02c__builtin__\nset\nq\x00]q\x01(".to_vec();
    p.extend(std::iter::repeat_n(b'N', 10_000));
    p.extend_from_slice(b"e0");
    for _ in 0..100_000 {
        p.extend_from_slice(b"h\x00h\x01\x85R0");
    }
    p.extend_from_slice(b"N.");
    let e = err(&p);
    assert!(e.contains("size limit"), "{e}");
    // A big string referenced a few times is fine.
    let mut p = b"\x80\x04\x8c\xff".to_vec();
    p.extend(std::iter::repeat_n(b'x', 255));
    p.extend_from_slice(b"\x940(h\x00h\x00h\x00h\x00t.");
    assert!(from_pickle(&p).is_ok());
}

#[test]
fn error_messages_do_not_grow_with_the_input() {
    let long = "x".repeat(100_000);
    for body in [
        format!("F{long}\n."),
        format!("g{long}\n."),
        format!("c{long}\n{long}\n."),
        format!("N(c{long}\n{long}\n."),
    ] {
        let mut p = b"\x80\x02".to_vec();
        p.extend_from_slice(body.as_bytes());
        let e = err(&p);
        assert!(e.len() < 600, "{}: {}", e.len(), &e[..200]);
    }
}

#[test]
fn memo_is_bounded() {
    let limits = PickleLimits {
        max_memo: 2,
        ..PickleLimits::default()
    };
    assert!(from_pickle_with(b"\x80\x04N\x94\x94\x94.", &limits).is_err());
    assert!(from_pickle_with(b"\x80\x04N\x94\x940.", &limits).is_err());
    // Overwriting an existing entry is not growth.
    assert!(from_pickle_with(b"\x80\x02Nq\x00q\x00q\x01q\x01.", &limits).is_ok());
}

/// A small deterministic generator for the fuzz tests.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let mut pickles: Vec<Vec<u8>> = vec![
        b"\x80\x04\x95#\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\nValueError\x94\x93\x94\x8c\x01x\x94\x85\x94R\x94.".to_vec(),
        b"\x80\x02cmultiprocessing.managers\nToken\nq\x00)\x81q\x01X\x04\x00\x00\x00dictq\x02X\t\x00\x00\x00127.0.0.1q\x03M\x88\x13\x86q\x04X\x02\x00\x00\x007fq\x05\x87q\x06b.".to_vec(),
        b"\x80\x02c__builtin__\nset\nq\x00]q\x01(K\x01K\x02e\x85q\x02Rq\x03.".to_vec(),
        b"\x80\x02c_codecs\nencode\nq\x00X\x02\x00\x00\x00abq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.".to_vec(),
        b"(lp0\nI1\na(I2\ntp1\naVa\\u1234\naF1.5\naL12L\naS'x'\na.".to_vec(),
    ];
    let value = Value::Tuple(vec![
        Value::None,
        s("create"),
        Value::Tuple(vec![
            s("get"),
            s("a"),
            Value::from(u128::MAX),
            Value::Float(-0.0),
        ]),
        Value::Dict(vec![(
            s("k"),
            Value::List(vec![Value::Bool(true), Value::Bytes(vec![1, 2])]),
        )]),
        Value::Set(vec![i(1)]),
        Value::FrozenSet(vec![i(-70000)]),
        Value::token("dict", Value::Tuple(vec![s("h"), i(1)]), "7f"),
        Value::exception("KeyError", vec![s("k")]),
    ]);
    for proto in [2, 3, 4, 5] {
        pickles.push(crate::python::pickle::to_pickle(&value, proto));
    }
    pickles
}

#[test]
fn every_truncation_fails_cleanly() {
    for p in corpus() {
        load(&p);
        for cut in 0..p.len() {
            assert!(from_pickle(&p[..cut]).is_err(), "prefix {cut} of {p:?}");
        }
    }
}

#[test]
fn random_mutations_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let corpus = corpus();
    let interesting = [
        0x00, 0xff, 0x7f, 0x80, b'(', b'.', b'a', b'h', 0x94, 0x93, b'R', b'b',
    ];
    let mut decoded = 0;
    for round in 0..6000 {
        let mut p = corpus[round % corpus.len()].clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(p.len());
            match rng.below(4) {
                0 => p[at] = rng.next() as u8,
                1 => p[at] = interesting[rng.below(interesting.len())],
                2 => {
                    p.remove(at);
                    if p.is_empty() {
                        p.push(b'.');
                    }
                }
                _ => p.insert(at, rng.next() as u8),
            }
        }
        match from_pickle(&p) {
            Ok(v) => {
                decoded += 1;
                // Whatever decodes can be shown and written back.
                let _ = v.to_string();
                let _ = crate::python::pickle::to_pickle(&v, 4);
            }
            Err(Error::Decode(_)) => {}
            Err(e) => panic!("unexpected error kind: {e}"),
        }
    }
    assert!(decoded > 0);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(12345);
    let alphabet: Vec<u8> = (0u8..=0x98).chain([b'\n', b'0', b'1']).collect();
    for _ in 0..3000 {
        let len = rng.below(40);
        let mut p = vec![0x80, 4];
        p.extend((0..len).map(|_| alphabet[rng.below(alphabet.len())]));
        let _ = from_pickle(&p);
    }
}
