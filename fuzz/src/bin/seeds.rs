//! Writes the seed corpus: a few valid inputs per fuzz target, produced by
//! the crate's own encoders, into `corpus/<target>/`.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --bin seeds
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use stdrpc::__private::write_varint_u64;
use stdrpc::python::{Value, to_pickle};
use stdrpc::to_vec;

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

fn string(out: &mut Vec<u8>, s: &str) {
    write_varint_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn call(id: u64, method: &str, args: &[u8]) -> Vec<u8> {
    let mut m = vec![0x01];
    write_varint_u64(&mut m, id);
    string(&mut m, method);
    m.extend_from_slice(args);
    m
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut written = 0;
    let mut put = |target: &str, name: &str, bytes: Vec<u8>| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
        written += 1;
    };

    // frame_reader: limit (u16 LE), read-size count and sizes, then frames.
    let limit = 1024u16.to_le_bytes();
    let with = |sizes: &[u8], stream: &[u8]| {
        let mut v = limit.to_vec();
        v.push(sizes.len() as u8);
        v.extend_from_slice(sizes);
        v.extend_from_slice(stream);
        v
    };
    put("frame_reader", "welcome", with(&[], &frame(b"#WELCOME#")));
    put("frame_reader", "empty-frame", with(&[], &frame(b"")));
    put(
        "frame_reader",
        "escaped-length",
        with(&[], b"\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x03abc"),
    );
    put(
        "frame_reader",
        "three-frames-in-small-reads",
        with(
            &[0, 2, 6],
            &[frame(b"a"), frame(&[7; 300]), frame(b"xyz")].concat(),
        ),
    );
    put(
        "frame_reader",
        "negative-length",
        with(&[], b"\xff\xff\xff\xfe"),
    );
    put(
        "frame_reader",
        "truncated",
        with(&[1], &frame(b"hello")[..6]),
    );

    // envelope: messages as a live server reads them.
    put("envelope", "call", call(1, "get", &to_vec("a")));
    put(
        "envelope",
        "call-two-args",
        call(300, "add", &to_vec(&(2i64, 3i64))),
    );
    let mut notify = vec![0x02];
    string(&mut notify, "tick");
    notify.extend(to_vec(&1u32));
    put("envelope", "notify", notify);
    put(
        "envelope",
        "ok",
        [&[0x03, 0x01][..], &to_vec(&Some(10i64))].concat(),
    );
    let mut error = vec![0x04, 0x04, 0x01];
    string(&mut error, "no method named \"nope\"");
    put("envelope", "error", error);

    // codec: a selector byte (see fuzz_targets/codec.rs), then the value.
    let map: BTreeMap<String, Vec<i64>> =
        [("a".to_string(), vec![1, -2]), ("b".to_string(), vec![])].into();
    for (selector, name, bytes) in [
        (3u8, "u64", to_vec(&300u64)),
        (7, "i128", to_vec(&i128::MIN)),
        (8, "bool-char-i8", to_vec(&(true, 'é', -1i8))),
        (9, "string", to_vec("héllo")),
        (11, "vec-string", to_vec(&vec!["a", "bc"])),
        (12, "option-tuple", to_vec(&Some((7u32, true, '😀')))),
        (13, "result", to_vec(&Err::<u64, String>("no".into()))),
        (14, "btreemap", to_vec(&map)),
        (19, "duration", to_vec(&Duration::from_millis(1500))),
        (20, "array", to_vec(&[1u16, 256, 65535])),
        (27, "floats", to_vec(&(1.5f32, -0.1f64))),
    ] {
        put("codec", name, [vec![selector], bytes].concat());
    }

    // pickle: values a BaseManager peer sends, in every protocol we write.
    let request = Value::Tuple(vec![
        Value::None,
        Value::from("create"),
        Value::Tuple(vec![Value::from("Counter"), Value::from(1i64)]),
        Value::Dict(vec![(Value::from("k"), Value::from(2.5f64))]),
    ]);
    let reply = Value::Tuple(vec![
        Value::from("#RETURN"),
        Value::List(vec![Value::from(b"x".as_slice()), Value::from(u128::MAX)]),
    ]);
    for protocol in 2..=5u8 {
        put(
            "pickle",
            &format!("request-p{protocol}"),
            to_pickle(&request, protocol),
        );
        put(
            "pickle",
            &format!("reply-p{protocol}"),
            to_pickle(&reply, protocol),
        );
    }

    // handshake: a flags byte (bit 0 client role, bit 1 strict), then the
    // peer's script (see fuzz_targets/handshake.rs for the operations).
    let nonce = [0x5a; 40];
    let legacy = [0x3c; 20];
    let script = |flags: u8, ops: &[&[u8]]| [&[flags][..], &ops.concat()].concat();
    put(
        "handshake",
        "server-sha256",
        script(0, &[&[2, 7], &nonce, &[5]]),
    );
    put(
        "handshake",
        "server-legacy-md5",
        script(0, &[&[3, 8], &legacy, &[5]]),
    );
    put("handshake", "server-strict-md5", script(2, &[&[3]]));
    put(
        "handshake",
        "server-wrong-answer",
        script(0, &[&[1, 16], &[9; 32]]),
    );
    put(
        "handshake",
        "client-sha256",
        script(1, &[&[7], &nonce, &[5, 2, 5]]),
    );
    put(
        "handshake",
        "client-legacy",
        script(1, &[&[8], &legacy, &[5, 3]]),
    );
    put(
        "handshake",
        "client-strict",
        script(3, &[&[7], &nonce, &[5, 2]]),
    );
    put("handshake", "client-refused", script(1, &[&[6]]));
    put(
        "handshake",
        "client-other-digest",
        script(1, &[&[10, 6], b"sha384", &nonce]),
    );
    println!("wrote {written} seed files under {}", root.display());
}
