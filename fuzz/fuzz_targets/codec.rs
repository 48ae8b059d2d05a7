//! The std codec's decoders, for many types: any bytes. Decoding must never
//! panic or allocate beyond its input, and every value it accepts must
//! encode to bytes that decode to the same value.
//!
//! Input: a type selector byte, then the bytes to decode.

#![no_main]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Debug;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use stdrpc::{Decode, Encode, from_slice, to_vec};

stdrpc::message! {
    /// A recursive type: decoding must stop at `Decoder::MAX_DEPTH`, not overflow the stack.
    #[derive(Debug, PartialEq)]
    pub enum Tree {
        Leaf(u8),
        Node(Vec<Tree>),
        Named { name: String, child: Option<Box<Tree>> },
    }
}

stdrpc::message! {
    /// A struct of every kind of field.
    #[derive(Debug, PartialEq)]
    pub struct Record {
        pub id: u64,
        pub tags: BTreeSet<String>,
        pub scores: BTreeMap<i32, (bool, char)>,
        pub blob: Vec<u8>,
        pub when: Duration,
        pub result: Result<u16, String>,
    }
}

/// Decodes `data` as a `T`; if that works, the value's own encoding must
/// decode to an equal value.
fn round_trip<T: Decode + Encode + PartialEq + Debug>(data: &[u8]) {
    if let Ok(value) = from_slice::<T>(data) {
        let bytes = to_vec(&value);
        match from_slice::<T>(&bytes) {
            Ok(again) => assert_eq!(again, value, "from {data:?} via {bytes:?}"),
            Err(e) => panic!("our own encoding {bytes:?} of {value:?} fails: {e}"),
        }
    }
}

/// Floats compare by their bits (NaN is not equal to itself).
fn floats(data: &[u8]) {
    if let Ok((a, b)) = from_slice::<(f32, f64)>(data) {
        let bytes = to_vec(&(a, b));
        let (c, d) = from_slice::<(f32, f64)>(&bytes).unwrap();
        assert_eq!((a.to_bits(), b.to_bits()), (c.to_bits(), d.to_bits()));
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    match selector % 28 {
        0 => round_trip::<u8>(data),
        1 => round_trip::<u16>(data),
        2 => round_trip::<u32>(data),
        3 => round_trip::<u64>(data),
        4 => round_trip::<u128>(data),
        5 => round_trip::<i16>(data),
        6 => round_trip::<i64>(data),
        7 => round_trip::<i128>(data),
        8 => round_trip::<(bool, char, i8)>(data),
        9 => round_trip::<String>(data),
        10 => round_trip::<Vec<u8>>(data),
        11 => round_trip::<Vec<String>>(data),
        12 => round_trip::<Option<(u32, bool, char)>>(data),
        13 => round_trip::<Result<u64, String>>(data),
        14 => round_trip::<BTreeMap<String, Vec<i64>>>(data),
        15 => round_trip::<HashMap<u16, String>>(data),
        16 => round_trip::<BTreeSet<i32>>(data),
        17 => round_trip::<HashSet<String>>(data),
        18 => round_trip::<VecDeque<Option<u8>>>(data),
        19 => round_trip::<Duration>(data),
        20 => round_trip::<[u16; 3]>(data),
        21 => round_trip::<Vec<Vec<()>>>(data),
        22 => round_trip::<Box<str>>(data),
        23 => round_trip::<(usize, isize, std::sync::Arc<[u32]>)>(data),
        24 => round_trip::<Tree>(data),
        25 => round_trip::<Record>(data),
        26 => round_trip::<Vec<Tree>>(data),
        _ => floats(data),
    }
});
