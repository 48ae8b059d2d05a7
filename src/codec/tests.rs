//! Unit tests of the codec (moved out of codec.rs to keep it short).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::*;

fn enc<T: Encode + ?Sized>(v: &T) -> Vec<u8> {
    to_vec(v)
}

fn is_decode_err<T: std::fmt::Debug>(r: Result<T>) -> bool {
    matches!(r, Err(Error::Decode(_)))
}

#[test]
fn varint_edges_u64() {
    let cases: &[(u64, &[u8])] = &[
        (0, &[0]),
        (250, &[250]),
        (251, &[251, 251, 0]),
        (65535, &[251, 255, 255]),
        (65536, &[252, 0, 0, 1, 0]),
        (u64::from(u32::MAX), &[252, 255, 255, 255, 255]),
        (u64::from(u32::MAX) + 1, &[253, 0, 0, 0, 0, 1, 0, 0, 0]),
        (u64::MAX, &[253, 255, 255, 255, 255, 255, 255, 255, 255]),
    ];
    for &(v, bytes) in cases {
        assert_eq!(enc(&v), bytes, "{v}");
        let mut raw = Vec::new();
        write_varint_u64(&mut raw, v);
        assert_eq!(raw, bytes, "{v}");
        assert_eq!(from_slice::<u64>(bytes).unwrap(), v);
        assert_eq!(Decoder::new(bytes).read_varint_u64().unwrap(), v);
        assert_eq!(from_slice::<u128>(bytes).unwrap(), u128::from(v));
    }
}

#[test]
fn varint_edges_u128() {
    let mut max = vec![254];
    max.extend_from_slice(&[255; 16]);
    assert_eq!(enc(&u128::MAX), max);
    assert_eq!(from_slice::<u128>(&max).unwrap(), u128::MAX);
    let mut just_over = vec![254];
    just_over.extend_from_slice(&(u128::from(u64::MAX) + 1).to_le_bytes());
    assert_eq!(enc(&(u128::from(u64::MAX) + 1)), just_over);
    // u128 values that fit a u64 use the short forms.
    assert_eq!(enc(&250u128), [250]);
    assert_eq!(enc(&u128::from(u64::MAX)), enc(&u64::MAX));
    // ...and the 17-byte form is never a u64.
    assert!(is_decode_err(from_slice::<u64>(&max)));
    assert!(is_decode_err(Decoder::new(&max).read_varint_u64()));
}

#[test]
fn varint_narrow_types() {
    assert_eq!(enc(&250u16), [250]);
    assert_eq!(enc(&u16::MAX), [251, 255, 255]);
    assert_eq!(enc(&u32::MAX), [252, 255, 255, 255, 255]);
    assert_eq!(from_slice::<u16>(&[251, 255, 255]).unwrap(), u16::MAX);
    // A tag wider than the type is rejected, even when the value fits.
    assert!(is_decode_err(from_slice::<u16>(&[252, 5, 0, 0, 0])));
    assert!(is_decode_err(from_slice::<u16>(&[252, 0, 0, 1, 0])));
    assert!(is_decode_err(from_slice::<u32>(&[
        253, 5, 0, 0, 0, 0, 0, 0, 0
    ])));
    assert!(is_decode_err(from_slice::<i16>(&[252, 5, 0, 0, 0])));
    assert!(is_decode_err(from_slice::<i32>(&[
        253, 1, 0, 0, 0, 0, 0, 0, 0
    ])));
    // The reserved tag is never valid.
    assert!(is_decode_err(from_slice::<u16>(&[255])));
    assert!(is_decode_err(from_slice::<u64>(&[255])));
    assert!(is_decode_err(from_slice::<u128>(&[255])));
    // A needlessly wide form is accepted, like bincode 2 does.
    assert_eq!(from_slice::<u16>(&[251, 5, 0]).unwrap(), 5);
    assert_eq!(from_slice::<u64>(&[252, 5, 0, 0, 0]).unwrap(), 5);
    let mut wide = vec![254];
    wide.extend_from_slice(&7u128.to_le_bytes());
    assert_eq!(from_slice::<u128>(&wide).unwrap(), 7);
}

#[test]
fn zigzag_edges() {
    let cases: &[(i64, &[u8])] = &[
        (0, &[0]),
        (-1, &[1]),
        (1, &[2]),
        (-126, &[251, 251, 0]),
        (125, &[250]),
        (i64::MIN, &[253, 255, 255, 255, 255, 255, 255, 255, 255]),
        (i64::MAX, &[253, 254, 255, 255, 255, 255, 255, 255, 255]),
    ];
    for &(v, bytes) in cases {
        assert_eq!(enc(&v), bytes, "{v}");
        assert_eq!(from_slice::<i64>(bytes).unwrap(), v);
    }
    for v in [i16::MIN, -1, 0, 1, i16::MAX] {
        assert_eq!(from_slice::<i16>(&enc(&v)).unwrap(), v);
    }
    for v in [i32::MIN, -1, 0, 1, i32::MAX] {
        assert_eq!(from_slice::<i32>(&enc(&v)).unwrap(), v);
    }
    for v in [i128::MIN, -1, 0, 1, i128::MAX] {
        assert_eq!(from_slice::<i128>(&enc(&v)).unwrap(), v);
    }
    for v in [isize::MIN, -1, 0, 1, isize::MAX] {
        assert_eq!(from_slice::<isize>(&enc(&v)).unwrap(), v);
    }
    assert_eq!(enc(&i16::MIN), [251, 255, 255]);
    assert_eq!(enc(&i8::MIN), [0x80]);
    assert_eq!(enc(&-1i8), [0xff]);
}

fn assert_every_truncation_fails<T: Decode + std::fmt::Debug>(bytes: &[u8]) {
    for cut in 0..bytes.len() {
        let r = from_slice::<T>(&bytes[..cut]);
        assert!(is_decode_err(r), "prefix of {cut} of {bytes:?} decoded");
    }
    from_slice::<T>(bytes).unwrap();
}

#[test]
fn truncated_input_is_an_error_at_every_offset() {
    assert_every_truncation_fails::<u64>(&enc(&u64::MAX));
    assert_every_truncation_fails::<u128>(&enc(&u128::MAX));
    assert_every_truncation_fails::<i32>(&enc(&i32::MIN));
    assert_every_truncation_fails::<f64>(&enc(&1.5f64));
    assert_every_truncation_fails::<char>(&enc(&'😀'));
    assert_every_truncation_fails::<String>(&enc("héllo wörld"));
    assert_every_truncation_fails::<Vec<u8>>(&enc(&vec![1u8; 300]));
    assert_every_truncation_fails::<[u32; 3]>(&enc(&[1u32, 70000, 3]));
    let nested = vec![Some((1u8, "a".to_string())), None, Some((2, "bc".into()))];
    assert_every_truncation_fails::<Vec<Option<(u8, String)>>>(&enc(&nested));
    let map: BTreeMap<String, Vec<u64>> =
        [("k".to_string(), vec![1, 1 << 40]), ("z".into(), vec![])].into();
    assert_every_truncation_fails::<BTreeMap<String, Vec<u64>>>(&enc(&map));
    let r: std::result::Result<u32, String> = Err("no".into());
    assert_every_truncation_fails::<std::result::Result<u32, String>>(&enc(&r));
    let d = std::time::Duration::new(1 << 40, 999_999_999);
    assert_every_truncation_fails::<std::time::Duration>(&enc(&d));
}

#[test]
fn oversized_length_is_rejected_without_allocating() {
    // A Vec<u64> claiming 2^60 elements, followed by a few bytes.
    let mut bytes = Vec::new();
    write_varint_u64(&mut bytes, 1 << 60);
    bytes.extend_from_slice(&[1, 2, 3]);
    assert!(is_decode_err(from_slice::<Vec<u64>>(&bytes)));
    assert!(is_decode_err(from_slice::<Vec<u8>>(&bytes)));
    assert!(is_decode_err(from_slice::<String>(&bytes)));
    assert!(is_decode_err(from_slice::<HashMap<u8, u8>>(&bytes)));
    assert!(is_decode_err(from_slice::<BTreeMap<u8, u8>>(&bytes)));
    // u64::MAX as a length, too.
    let mut bytes = Vec::new();
    write_varint_u64(&mut bytes, u64::MAX);
    assert!(is_decode_err(from_slice::<Vec<()>>(&bytes)));
    // A length one more than the remaining bytes is rejected by read_len...
    let mut d = Decoder::new(&[3, 1, 2]);
    assert!(is_decode_err(d.read_len()));
    // ...and one equal to it is accepted.
    let mut d = Decoder::new(&[2, 1, 2]);
    assert_eq!(d.read_len().unwrap(), 2);
    // Zero-sized elements take no input: a fixed cap bounds them instead,
    // so every such value the codec writes up to the cap, it reads.
    assert_eq!(from_slice::<Vec<()>>(&[0]).unwrap(), Vec::<()>::new());
    assert_eq!(from_slice::<Vec<()>>(&[3]).unwrap(), vec![(); 3]);
}

#[test]
fn zero_sized_collections_round_trip_up_to_a_fixed_cap() {
    for n in [0, 1, 5, 1000, MAX_ZERO_SIZED_ELEMENTS] {
        let v = vec![(); n];
        assert_eq!(from_slice::<Vec<()>>(&to_vec(&v)).unwrap(), v);
    }
    let set: BTreeSet<()> = [()].into();
    assert_eq!(from_slice::<BTreeSet<()>>(&to_vec(&set)).unwrap(), set);
    // One more than the cap, 2^60 and u64::MAX fail at once, without spinning.
    for n in [MAX_ZERO_SIZED_ELEMENTS as u64 + 1, 1 << 60, u64::MAX] {
        let mut bytes = Vec::new();
        write_varint_u64(&mut bytes, n);
        assert!(is_decode_err(from_slice::<Vec<()>>(&bytes)));
        assert!(is_decode_err(from_slice::<BTreeMap<(), ()>>(&bytes)));
        assert!(is_decode_err(from_slice::<HashSet<()>>(&bytes)));
    }
    // The cap counts across the value: nested collections cannot multiply it.
    let nested = vec![vec![(); MAX_ZERO_SIZED_ELEMENTS / 2]; 3];
    assert!(is_decode_err(from_slice::<Vec<Vec<()>>>(&to_vec(&nested))));
    let nested = vec![vec![(); MAX_ZERO_SIZED_ELEMENTS / 4]; 4];
    assert_eq!(
        from_slice::<Vec<Vec<()>>>(&to_vec(&nested)).unwrap(),
        nested
    );
}

#[test]
fn preallocation_is_capped_and_memory_is_bounded() {
    let d = Decoder::new(&[0; 10]);
    assert_eq!(prealloc::<u8>(5, &d), 5);
    assert_eq!(prealloc::<u8>(50, &d), 10);
    assert_eq!(prealloc::<[u64; 1 << 16]>(10, &d), 2);
    assert_eq!(prealloc::<[u8; 1 << 21]>(10, &d), 0);
    assert_eq!(prealloc::<()>(10, &d), 10);
    // A bounded decoder has counted the memory already: all at once.
    let d = Decoder::with_memory_bound(&[0; 10]);
    assert_eq!(prealloc::<[u64; 1 << 16]>(10, &d), 10);
    // A type much larger in memory than on the wire: 520 bytes per input
    // byte, refused beyond the factor (plus the slack).
    let n = DECODE_MEMORY_SLACK;
    let mut bytes = Vec::new();
    write_varint_u64(&mut bytes, n as u64);
    bytes.resize(bytes.len() + n, 0);
    fn bounded<T: Decode>(bytes: &[u8]) -> Result<T> {
        let mut d = Decoder::with_memory_bound(bytes);
        T::decode(&mut d).and_then(|v| d.finish().map(|()| v))
    }
    assert!(is_decode_err(bounded::<Vec<Option<[u64; 64]>>>(&bytes)));
    assert!(is_decode_err(bounded::<Vec<String>>(&bytes)));
    assert!(is_decode_err(bounded::<BTreeMap<u8, [u64; 8]>>(&bytes)));
    // The same count of elements small in memory decodes...
    assert_eq!(bounded::<Vec<u64>>(&bytes).unwrap().len(), n);
    assert_eq!(bounded::<Vec<Option<u8>>>(&bytes).unwrap().len(), n);
    // ...and without the bound, everything the codec writes, it reads.
    assert_eq!(from_slice::<Vec<String>>(&bytes).unwrap().len(), n);
}

#[test]
fn invalid_bool() {
    assert!(!from_slice::<bool>(&[0]).unwrap());
    assert!(from_slice::<bool>(&[1]).unwrap());
    for b in 2..=255u8 {
        assert!(is_decode_err(from_slice::<bool>(&[b])));
    }
}

#[test]
fn invalid_option_and_result_tags() {
    assert!(is_decode_err(from_slice::<Option<u8>>(&[2, 0])));
    assert!(is_decode_err(from_slice::<std::result::Result<u8, u8>>(&[
        2, 0
    ])));
    // The Result tag is a u32 varint: a wide-but-valid form is accepted.
    assert_eq!(
        from_slice::<std::result::Result<u8, u8>>(&[251, 1, 0, 9]).unwrap(),
        Err(9)
    );
}

#[test]
fn invalid_char() {
    // A lone continuation byte, an overlong encoding, a surrogate, a
    // code point past U+10FFFF, a truncated sequence and bad lead bytes.
    let bad: &[&[u8]] = &[
        &[0x80],
        &[0xC0, 0x80],
        &[0xC1, 0xBF],
        &[0xED, 0xA0, 0x80],
        &[0xF4, 0x90, 0x80, 0x80],
        &[0xE2, 0x82],
        &[0xE2, 0x41, 0x41],
        &[0xF5, 0x80, 0x80, 0x80],
        &[0xFF],
    ];
    for bytes in bad {
        assert!(is_decode_err(from_slice::<char>(bytes)), "{bytes:?}");
    }
    for c in [
        '\0',
        'a',
        '\u{7f}',
        'é',
        '\u{7ff}',
        '€',
        '\u{ffff}',
        '😀',
        char::MAX,
    ] {
        let bytes = enc(&c);
        assert_eq!(bytes, c.to_string().as_bytes());
        assert_eq!(from_slice::<char>(&bytes).unwrap(), c);
    }
}

#[test]
fn invalid_utf8_string() {
    assert!(is_decode_err(from_slice::<String>(&[2, 0xC3, 0x28])));
    assert!(is_decode_err(from_slice::<String>(&[3, 0xED, 0xA0, 0x80])));
    assert!(is_decode_err(from_slice::<Box<str>>(&[1, 0xFF])));
    assert_eq!(from_slice::<String>(&[2, 0xC3, 0xA9]).unwrap(), "é");
}

#[test]
fn nesting_is_bounded() {
    let mut d = Decoder::new(&[]);
    for _ in 0..MAX_DEPTH {
        d.enter().unwrap();
    }
    assert!(d.enter().is_err());
    d.leave();
    d.enter().unwrap();
}

#[test]
fn trailing_bytes_are_rejected() {
    let err = from_slice::<u8>(&[1, 2, 3]).unwrap_err();
    assert_eq!(err.to_string(), "decode error: 2 trailing bytes");
    let err = from_slice::<()>(&[0]).unwrap_err();
    assert_eq!(err.to_string(), "decode error: 1 trailing byte");
    assert!(Decoder::new(&[]).finish().is_ok());
    // The Decoder itself leaves the rest for the caller.
    let mut d = Decoder::new(&[5, 6, 7]);
    assert_eq!(u8::decode(&mut d).unwrap(), 5);
    assert_eq!(d.remaining(), 2);
    assert_eq!(d.read_bytes(2).unwrap(), [6, 7]);
    assert!(d.finish().is_ok());
}

#[test]
fn decoder_reads_are_bounds_checked() {
    let mut d = Decoder::new(&[1, 2, 3]);
    assert!(is_decode_err(d.read_bytes(4)));
    assert!(is_decode_err(d.read_bytes(usize::MAX)));
    assert_eq!(d.remaining(), 3, "a failed read consumes nothing");
    assert_eq!(d.read_bytes(0).unwrap(), [0u8; 0]);
    assert_eq!(d.read_u8().unwrap(), 1);
    assert_eq!(d.read_bytes(2).unwrap(), [2, 3]);
    assert!(is_decode_err(d.read_u8()));
    assert!(is_decode_err(d.read_varint_u64()));
    assert!(is_decode_err(d.read_len()));
    assert_eq!(format!("{d:?}"), "Decoder { remaining: 0, depth: 0 }");
}

#[test]
fn duration_rejects_overflow() {
    // u64::MAX seconds plus a whole second of nanoseconds overflows.
    let mut bytes = enc(&u64::MAX);
    bytes.extend_from_slice(&enc(&1_000_000_000u32));
    assert!(is_decode_err(from_slice::<std::time::Duration>(&bytes)));
    // Excess nanoseconds are carried into the seconds, as bincode does.
    let mut bytes = enc(&1u64);
    bytes.extend_from_slice(&enc(&1_500_000_000u32));
    assert_eq!(
        from_slice::<std::time::Duration>(&bytes).unwrap(),
        std::time::Duration::new(2, 500_000_000)
    );
}

#[test]
fn byte_buffers_round_trip() {
    let data: Vec<u8> = (0..=255).collect();
    let bytes = enc(&data);
    assert_eq!(&bytes[..3], [251, 0, 1]);
    assert_eq!(&bytes[3..], &data[..]);
    assert_eq!(from_slice::<Vec<u8>>(&bytes).unwrap(), data);
    assert_eq!(enc(&data[..]), bytes);
    assert_eq!(enc(&&data[..]), bytes);
    let arr = [9u8; 4];
    assert_eq!(enc(&arr), [9, 9, 9, 9]);
    assert_eq!(from_slice::<[u8; 4]>(&[9, 9, 9, 9]).unwrap(), arr);
    assert!(is_decode_err(from_slice::<[u8; 4]>(&[9, 9, 9])));
    assert_eq!(from_slice::<[u8; 0]>(&[]).unwrap(), [0u8; 0]);
}

/// `head` followed by the split-off bytes, for the borrowed split.
fn split<T: Encode + ?Sized>(v: &T) -> (Vec<u8>, Vec<u8>) {
    let mut head = vec![0xAA]; // whatever the buffer held before stays
    let tail = v.encode_split(&mut head).to_vec();
    assert_eq!(head[0], 0xAA);
    head.remove(0);
    (head, tail)
}

/// The same for the owned split.
fn split_owned<T: Encode + Clone>(v: &T) -> (Vec<u8>, Vec<u8>) {
    let mut head = Vec::new();
    let tail = v.clone().encode_owned_split(&mut head);
    (head, tail)
}

#[test]
fn split_encodings_are_the_encoding() {
    let data: Vec<u8> = (0..=255).cycle().take(1000).collect();
    let text = "héllo".repeat(50);
    fn check<T: Encode + ?Sized>(v: &T, tail_len: usize) {
        let (mut head, tail) = split(v);
        assert_eq!(tail.len(), tail_len);
        head.extend_from_slice(&tail);
        assert_eq!(head, enc(v));
    }
    // Trailing bytes are split off, behind every kind of pointer...
    check(&data, 1000);
    check(&data[..], 1000);
    check(&&data, 1000);
    check(&Box::new(data.clone()), 1000);
    check(&std::borrow::Cow::Borrowed(&data[..]), 1000);
    check(&std::sync::Arc::new(data.clone()), 1000);
    check(text.as_str(), text.len());
    check(&text, text.len());
    // ...and in a tuple's last field only.
    check(&(1i64, "x".to_string(), &data), 1000);
    check(&(&data, 5u8), 0);
    check(&(&data,), 1000);
    // Nothing else is split.
    check(&vec![1u16, 2, 3], 0);
    check(&vec![data.clone()], 0);
    check(&Some(data.clone()), 0);
    check(&[7u8; 4], 0);
    check(&42u64, 0);
    check(&Vec::<u8>::new(), 0);

    fn check_owned<T: Encode + Clone>(v: &T, tail_len: usize) {
        let (mut head, tail) = split_owned(v);
        assert_eq!(tail.len(), tail_len);
        head.extend_from_slice(&tail);
        assert_eq!(head, enc(v));
    }
    check_owned(&data, 1000);
    check_owned(&text, text.len());
    check_owned(&vec![1u16, 2, 3], 0);
    check_owned(&(data.clone(), 1u8), 0);
    check_owned(&7i32, 0);
    // The owned split hands over the very buffer.
    let owned = data.clone();
    let at = owned.as_ptr();
    let tail = owned.encode_owned_split(&mut Vec::new());
    assert_eq!(tail.as_ptr(), at);
}
