//! Unit tests of the method table (moved out of registry.rs to keep it short).

use super::*;

#[test]
fn long_messages_are_cut_at_a_character_boundary_with_their_length() {
    let long = "é".repeat(10_000);
    for text in [bounded(&long), bounded_display(&long)] {
        assert!(text.len() <= MAX_MESSAGE + 32, "{}", text.len());
        assert!(
            text.ends_with("… (20000 bytes)"),
            "{}",
            &text[text.len() - 40..]
        );
    }
    assert_eq!(bounded("short"), "short");
    assert_eq!(bounded_display(&"short"), "short");
    let mut r = Registry::default();
    r.insert(
        "huge_panic",
        Handler::into_erased(|| -> () { std::panic::panic_any("x".repeat(1 << 20)) }),
    );
    r.insert(
        "huge_err",
        Handler::into_erased(|| -> Result<(), String> { Err("y".repeat(1 << 20)) }),
    );
    for (name, kind) in [
        ("huge_panic", RemoteKind::Panicked),
        ("huge_err", RemoteKind::Handler),
    ] {
        let f = call(&r, name, &[]).unwrap_err();
        assert_eq!(f.kind, kind);
        assert!(f.message.len() < MAX_MESSAGE + 100, "{}", f.message.len());
        assert!(f.message.ends_with("(1048576 bytes)"), "{name}");
    }
}
use crate::codec::to_vec;

fn call(r: &Registry, name: &str, args: &[u8]) -> Result<Vec<u8>, Failure> {
    let mut out = vec![0xAA];
    r.dispatch(
        Callee::Named(name),
        Check::NONE,
        args,
        &mut out,
        &Default::default(),
    )
    .map(|()| out[1..].to_vec())
    .inspect_err(|_| {
        assert_eq!(out, [0xAA], "a failed call leaves the buffer as it was");
    })
}

#[test]
fn arities_and_tuples_share_one_encoding() {
    let r = test_registry();
    assert_eq!(call(&r, "zero", &[]).unwrap(), to_vec(&42i64));
    assert_eq!(call(&r, "one", &to_vec("abc")).unwrap(), to_vec(&3u32));
    assert_eq!(
        call(&r, "two", &to_vec(&(2i64, 3i64))).unwrap(),
        to_vec(&5i64)
    );
    assert_eq!(
        call(&r, "tuple", &to_vec(&(2i64, 3i64))).unwrap(),
        to_vec(&6i64)
    );
    assert_eq!(call(&r, "raw", &[1, 2, 3]).unwrap(), [3, 2, 1]);
}

#[test]
fn failures_carry_kind_and_message() {
    let r = test_registry();
    let f = call(&r, "missing", &[]).unwrap_err();
    assert_eq!(f.kind, RemoteKind::NoSuchMethod);
    assert!(f.message.contains("\"missing\""));
    assert_eq!(
        call(&r, "zero", &[0]).unwrap_err().kind,
        RemoteKind::BadArguments
    );
    assert_eq!(
        call(&r, "two", &[0]).unwrap_err().kind,
        RemoteKind::BadArguments
    );
    assert_eq!(
        call(&r, "fail", &to_vec(&-1i64)).unwrap_err(),
        Failure::new(RemoteKind::Handler, "not positive")
    );
    assert_eq!(call(&r, "fail", &to_vec(&5i64)).unwrap(), to_vec(&5i64));
    let p = call(&r, "panic", &[]).unwrap_err();
    assert_eq!(p.kind, RemoteKind::Panicked);
    assert!(p.message.contains("boom"), "{}", p.message);
}

fn typed(r: &Registry, name: &str, check: Check, args: &[u8]) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    r.dispatch(
        Callee::Named(name),
        check,
        args,
        &mut out,
        &Default::default(),
    )
    .map(|()| out)
}

#[test]
fn signatures_are_computed_at_registration() {
    let r = test_registry();
    let two = r.signature("two").unwrap();
    assert_eq!(two.to_string(), "(i64, i64) -> i64");
    assert_eq!(two.args.canonical(), "(int,int)");
    assert_eq!(
        r.signature("tuple").unwrap().to_string(),
        "(i64, i64) -> i64"
    );
    assert_eq!(r.signature("zero").unwrap().to_string(), "() -> i64");
    assert_eq!(r.signature("one").unwrap().to_string(), "(String) -> u32");
    // The result of a fallible handler is its `Ok` type.
    assert_eq!(r.signature("fail").unwrap().to_string(), "(i64) -> i64");
    assert_eq!(r.signature("raw").unwrap().args.fingerprint(), 0);
    let listed = r.methods();
    assert_eq!(listed.len(), 7);
    assert_eq!(listed[0].0, "fail");
    assert!(listed.contains(&("two".into(), "(i64, i64) -> i64".into())));
}

#[test]
fn fingerprints_are_checked_before_decoding() {
    let r = test_registry();
    let sig = r.signature("two").unwrap().clone();
    let good = Check {
        args: sig.args.fingerprint(),
        result: sig.result.fingerprint(),
    };
    let args = to_vec(&(2i64, 3i64));
    assert_eq!(typed(&r, "two", good, &args).unwrap(), to_vec(&5i64));
    // Unknown (zero) fingerprints are not checked.
    let half = Check { args: 0, ..good };
    assert_eq!(typed(&r, "two", half, &args).unwrap(), to_vec(&5i64));
    let bad_args = Check { args: 1, ..good };
    let f = typed(&r, "two", bad_args, &args).unwrap_err();
    assert_eq!(f.kind, RemoteKind::SignatureMismatch);
    assert_eq!(f.message, "two expects (i64, i64) -> i64");
    let bad_result = Check { result: 1, ..good };
    let f = typed(&r, "two", bad_result, &args).unwrap_err();
    assert_eq!(f.kind, RemoteKind::SignatureMismatch);
    // A raw handler is never checked.
    assert!(typed(&r, "raw", Check { args: 5, result: 6 }, &[1]).is_ok());
}

#[test]
fn decode_errors_name_method_position_and_type() {
    let mut r = Registry::default();
    r.insert("put", Handler::into_erased(|_k: String, _v: i64| ()));
    let f = call(&r, "put", &to_vec("k")).unwrap_err();
    assert_eq!(f.kind, RemoteKind::BadArguments);
    assert!(
        f.message
            .starts_with("put: argument 2 (i64): unexpected end of input"),
        "{}",
        f.message
    );
    let f = call(&r, "put", &[1, 0xff]).unwrap_err();
    assert!(
        f.message.starts_with("put: argument 1 (String): "),
        "{}",
        f.message
    );
    let mut args = to_vec(&("k", 1i64));
    args.push(0);
    let f = call(&r, "put", &args).unwrap_err();
    assert_eq!(f.message, "put: 1 trailing byte (after its 2 arguments)");
    let f = call(&test_registry(), "tuple", &[2]).unwrap_err();
    assert!(
        f.message
            .starts_with("tuple: arguments (i64, i64): unexpected end of input"),
        "{}",
        f.message
    );
    let f = call(&test_registry(), "zero", &[0, 0]).unwrap_err();
    assert_eq!(
        f.message,
        "zero: 2 trailing bytes (the method takes no arguments)"
    );
}

#[test]
fn methods_lists_names_and_signatures() {
    let r = test_registry();
    let out = call(&r, METHODS, &[]).unwrap();
    let listed: Vec<(String, String)> = crate::codec::from_slice(&out).unwrap();
    assert_eq!(listed, r.methods());
    assert_eq!(
        call(&r, "stdrpc.nope", &[]).unwrap_err().kind,
        RemoteKind::NoSuchMethod
    );
}

#[test]
#[should_panic(expected = "reserved")]
fn reserved_prefix_is_refused() {
    let mut r = Registry::default();
    r.insert("stdrpc.mine", Handler::into_erased(|| ()));
}

#[test]
fn registering_twice_replaces() {
    let mut r = test_registry();
    assert!(r.insert("zero", Handler::into_erased(|| 7i64)));
    assert_eq!(call(&r, "zero", &[]).unwrap(), to_vec(&7i64));
    assert!(!r.insert("new", Handler::into_erased(|| ())));
}

#[test]
fn methods_are_found_by_the_bytes_of_their_names() {
    let mut r = test_registry();
    let Some(Callee::Found(two)) = r.callee(b"two") else {
        panic!("two is registered");
    };
    assert_eq!(r.name(Callee::Found(two)), "two");
    // A name no handler has is checked for UTF-8, to be quoted.
    assert!(matches!(r.callee(b"three"), Some(Callee::Named("three"))));
    assert!(matches!(
        r.callee(METHODS.as_bytes()),
        Some(Callee::Named(METHODS))
    ));
    assert!(r.callee(&[0xff, 0xfe]).is_none());
    assert!(r.callee(&[b't', b'w', 0xc3]).is_none());
    // Replacing a handler keeps its place; the new one answers.
    assert!(r.insert("two", Handler::into_erased(|a: i64, b: i64| a * b)));
    assert!(matches!(r.callee(b"two"), Some(Callee::Found(id)) if id == two));
    let mut out = Vec::new();
    let args = to_vec(&(2i64, 3i64));
    r.dispatch(
        Callee::Found(two),
        Check::NONE,
        &args,
        &mut out,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(out, to_vec(&6i64));
    // Found or named, the same handler runs.
    let mut by_name = Vec::new();
    r.dispatch(
        Callee::Named("two"),
        Check::NONE,
        &args,
        &mut by_name,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(by_name, out);
    assert!(!r.insert("new", Handler::into_erased(|| 1u8)));
    assert_eq!(r.names().len(), 8);
}
