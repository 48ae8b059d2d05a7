//! The codec against bincode 2 (`config::standard()`): byte-for-byte equal
//! encodings, each side decoding the other's bytes, round trips for every
//! covered type, and random input that must never panic.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Debug;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stdrpc::{Decode, Decoder, Encode, Error, from_slice, to_vec};

// ---- helpers -----------------------------------------------------------------

/// SplitMix64: small, deterministic, good enough to spread test values.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }

    /// A value in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    /// Random bits with a random bit length, so every varint width shows up.
    fn wide(&mut self) -> u128 {
        let bits = self.below(129) as u32;
        match bits {
            0 => 0,
            b => self.next_u128() >> (128 - b),
        }
    }

    fn char(&mut self) -> char {
        const POOL: &[char] = &[
            'a',
            'Z',
            '0',
            ' ',
            '\0',
            '\u{7f}',
            '\u{80}',
            'é',
            '\u{7ff}',
            '\u{800}',
            '€',
            '中',
            '\u{d7ff}',
            '\u{e000}',
            '\u{fffd}',
            '\u{ffff}',
            '\u{10000}',
            '😀',
            char::MAX,
        ];
        match self.below(3) {
            0 => POOL[self.below(POOL.len() as u64) as usize],
            1 => char::from(b' ' + self.below(95) as u8),
            _ => loop {
                if let Some(c) = char::from_u32(self.below(0x11_0000) as u32) {
                    break c;
                }
            },
        }
    }

    fn string(&mut self) -> String {
        let len = match self.below(10) {
            0 => 240 + self.below(40), // around the one-byte length limit
            _ => self.below(12),
        };
        (0..len).map(|_| self.char()).collect()
    }

    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

fn standard() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// What bincode 2 makes of `bytes`, if it decodes them to a `T` using all of
/// them. A limit keeps bincode from reserving memory for absurd lengths.
fn bincode_decode<T: bincode::Decode<()>>(bytes: &[u8]) -> Option<T> {
    let config = standard().with_limit::<{ 1 << 20 }>();
    match bincode::decode_from_slice::<T, _>(bytes, config) {
        Ok((v, used)) if used == bytes.len() => Some(v),
        _ => None,
    }
}

/// Encodes `v` with both codecs, requires identical bytes, and decodes those
/// bytes with both codecs back to `v`.
#[track_caller]
fn same_as_bincode<T>(v: &T)
where
    T: Encode + Decode + bincode::Encode + bincode::Decode<()> + PartialEq + Debug,
{
    let ours = to_vec(v);
    let theirs = bincode::encode_to_vec(v, standard()).expect("bincode encodes");
    assert_eq!(ours, theirs, "encoding of {v:?}");
    assert_eq!(
        &from_slice::<T>(&theirs).expect("we decode bincode's bytes"),
        v
    );
    assert_eq!(
        bincode_decode::<T>(&ours).as_ref(),
        Some(v),
        "bincode decodes our bytes for {v:?}"
    );
    // Through a reference, the same bytes.
    assert_eq!(to_vec(&v), ours);
}

/// Round trip only (for values bincode's traits do not cover or whose
/// comparison needs care).
#[track_caller]
fn round_trip<T: Encode + Decode + PartialEq + Debug>(v: &T) -> Vec<u8> {
    let bytes = to_vec(v);
    assert_eq!(&from_slice::<T>(&bytes).expect("round trip"), v);
    bytes
}

fn is_decode_err<T: Debug>(r: stdrpc::Result<T>) -> bool {
    matches!(r, Err(Error::Decode(_)))
}

// ---- documented encodings ----------------------------------------------------

#[test]
fn documented_bincode_encodings() {
    assert_eq!(to_vec(&0u64), [0]);
    assert_eq!(to_vec(&250u64), [250]);
    assert_eq!(to_vec(&251u64), [251, 251, 0]);
    assert_eq!(to_vec(&65535u32), [251, 255, 255]);
    assert_eq!(to_vec(&65536u32), [252, 0, 0, 1, 0]);
    assert_eq!(to_vec(&(1u64 << 32)), [253, 0, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(to_vec(&(1u128 << 64)), {
        let mut v = vec![254];
        v.extend_from_slice(&(1u128 << 64).to_le_bytes());
        v
    });
    assert_eq!(to_vec(&0i32), [0]);
    assert_eq!(to_vec(&-1i32), [1]);
    assert_eq!(to_vec(&1i32), [2]);
    assert_eq!(to_vec(&-2i64), [3]);
    assert_eq!(
        to_vec(&i64::MIN),
        [253, 255, 255, 255, 255, 255, 255, 255, 255]
    );
    assert_eq!(to_vec(&-1i8), [255]);
    assert_eq!(to_vec(&7u8), [7]);
    assert_eq!(to_vec(&true), [1]);
    assert_eq!(to_vec(&false), [0]);
    assert_eq!(to_vec(&1.0f32), 1.0f32.to_le_bytes());
    assert_eq!(to_vec(&-2.5f64), (-2.5f64).to_le_bytes());
    assert_eq!(to_vec(&'a'), [b'a']);
    assert_eq!(to_vec(&'é'), [0xC3, 0xA9]);
    assert_eq!(to_vec(&'😀'), [0xF0, 0x9F, 0x98, 0x80]);
    assert_eq!(to_vec("hi"), [2, b'h', b'i']);
    assert_eq!(to_vec(&String::from("hi")), [2, b'h', b'i']);
    assert_eq!(to_vec(&vec![1u32, 300]), [2, 1, 251, 44, 1]);
    assert_eq!(to_vec(&[1u32, 300]), [1, 251, 44, 1]);
    assert_eq!(to_vec(&[1u32, 300][..]), [2, 1, 251, 44, 1]);
    assert_eq!(to_vec(&None::<u32>), [0]);
    assert_eq!(to_vec(&Some(5u32)), [1, 5]);
    assert_eq!(to_vec(&Ok::<u8, u8>(5)), [0, 5]);
    assert_eq!(to_vec(&Err::<u8, u8>(5)), [1, 5]);
    assert_eq!(to_vec(&()), [0u8; 0]);
    assert_eq!(to_vec(&(1u8, 2u16, "x")), [1, 2, 1, b'x']);
    assert_eq!(to_vec(&Duration::new(3, 7)), [3, 7]);
    assert_eq!(to_vec(&BTreeMap::from([(1u8, 'a')])), [1, 1, b'a']);
    // The same literals, checked against bincode itself.
    for (ours, theirs) in [
        (
            to_vec(&251u64),
            bincode::encode_to_vec(251u64, standard()).unwrap(),
        ),
        (
            to_vec(&-1i32),
            bincode::encode_to_vec(-1i32, standard()).unwrap(),
        ),
        (
            to_vec("hi"),
            bincode::encode_to_vec("hi", standard()).unwrap(),
        ),
        (
            to_vec(&-1i8),
            bincode::encode_to_vec(-1i8, standard()).unwrap(),
        ),
        (
            to_vec(&'😀'),
            bincode::encode_to_vec('😀', standard()).unwrap(),
        ),
        (
            to_vec(&[1u32, 300]),
            bincode::encode_to_vec([1u32, 300], standard()).unwrap(),
        ),
        (
            to_vec(&Err::<u8, u8>(5)),
            bincode::encode_to_vec(Err::<u8, u8>(5), standard()).unwrap(),
        ),
        (
            to_vec(&Duration::new(3, 7)),
            bincode::encode_to_vec(Duration::new(3, 7), standard()).unwrap(),
        ),
    ] {
        assert_eq!(ours, theirs);
    }
}

// ---- every type against bincode -------------------------------------------------

/// `e` as a `T`, if it fits.
fn fits<T: TryFrom<i128>>(e: i128) -> Option<T> {
    T::try_from(e).ok()
}

macro_rules! ints_against_bincode {
    ($rng:expr, $($ty:ty),*) => {$({
        let edges: [i128; 16] = [
            0, 1, -1, 127, 128, -128, 250, 251, 252, 255, 256, 65535, 65536,
            i128::from(u32::MAX), i128::from(u32::MAX) + 1, i128::from(i64::MIN),
        ];
        for e in edges {
            if let Some(v) = fits::<$ty>(e) {
                same_as_bincode(&v);
            }
        }
        same_as_bincode(&<$ty>::MIN);
        same_as_bincode(&<$ty>::MAX);
        same_as_bincode(&(<$ty>::MAX - 1));
        same_as_bincode(&(<$ty>::MIN + 1));
        for _ in 0..500 {
            let v = $rng.wide() as $ty;
            same_as_bincode(&v);
        }
    })*};
}

#[test]
fn integers_match_bincode() {
    let mut rng = Rng::new(1);
    ints_against_bincode!(
        rng, u8, i8, u16, i16, u32, i32, u64, i64, u128, i128, usize, isize
    );
}

#[test]
fn floats_match_bincode() {
    let mut rng = Rng::new(2);
    let mut f32s = vec![
        0.0f32,
        -0.0,
        1.5,
        f32::MIN,
        f32::MAX,
        f32::INFINITY,
        f32::NAN,
        f32::EPSILON,
    ];
    let mut f64s = vec![
        0.0f64,
        -0.0,
        1.5,
        f64::MIN,
        f64::MAX,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    for _ in 0..500 {
        f32s.push(f32::from_bits(rng.next_u64() as u32));
        f64s.push(f64::from_bits(rng.next_u64()));
    }
    // NaN != NaN, so compare bit patterns.
    for v in f32s {
        let ours = to_vec(&v);
        assert_eq!(ours, bincode::encode_to_vec(v, standard()).unwrap());
        assert_eq!(from_slice::<f32>(&ours).unwrap().to_bits(), v.to_bits());
    }
    for v in f64s {
        let ours = to_vec(&v);
        assert_eq!(ours, bincode::encode_to_vec(v, standard()).unwrap());
        assert_eq!(from_slice::<f64>(&ours).unwrap().to_bits(), v.to_bits());
    }
}

#[test]
fn bool_char_unit_match_bincode() {
    same_as_bincode(&true);
    same_as_bincode(&false);
    same_as_bincode(&());
    same_as_bincode(&PhantomData::<String>);
    let mut rng = Rng::new(3);
    for _ in 0..2000 {
        same_as_bincode(&rng.char());
    }
    for c in [
        '\0',
        '\u{7f}',
        '\u{80}',
        '\u{7ff}',
        '\u{800}',
        '\u{ffff}',
        '\u{10000}',
        char::MAX,
    ] {
        same_as_bincode(&c);
    }
}

#[test]
fn strings_match_bincode() {
    let mut rng = Rng::new(4);
    same_as_bincode(&String::new());
    same_as_bincode(&"x".repeat(250));
    same_as_bincode(&"x".repeat(251));
    same_as_bincode(&"é".repeat(40_000));
    for _ in 0..500 {
        let s = rng.string();
        same_as_bincode(&s);
        // str, Box<str>, Rc<str>, Arc<str> and Cow<str> all encode the same.
        let bytes = to_vec(s.as_str());
        assert_eq!(
            bytes,
            bincode::encode_to_vec(s.as_str(), standard()).unwrap()
        );
        let boxed: Box<str> = s.clone().into_boxed_str();
        same_as_bincode(&boxed);
        assert_eq!(to_vec(&Rc::<str>::from(s.as_str())), bytes);
        assert_eq!(from_slice::<Rc<str>>(&bytes).unwrap().as_ref(), s);
        assert_eq!(from_slice::<Arc<str>>(&bytes).unwrap().as_ref(), s);
        let cow: Cow<'_, str> = Cow::Borrowed(s.as_str());
        assert_eq!(to_vec(&cow), bytes);
        assert_eq!(bincode::encode_to_vec(&cow, standard()).unwrap(), bytes);
        assert_eq!(from_slice::<Cow<'_, str>>(&bytes).unwrap(), s);
    }
}

#[test]
fn sequences_match_bincode() {
    let mut rng = Rng::new(5);
    same_as_bincode(&Vec::<u8>::new());
    same_as_bincode(&vec![0xABu8; 251]);
    same_as_bincode(&vec![0u8; 70_000]);
    for _ in 0..300 {
        let bytes = rng.bytes(300);
        same_as_bincode(&bytes);
        assert_eq!(to_vec(bytes.as_slice()), to_vec(&bytes));
        assert_eq!(
            to_vec(bytes.as_slice()),
            bincode::encode_to_vec(bytes.as_slice(), standard()).unwrap()
        );
        let cow: Cow<'_, [u8]> = Cow::Borrowed(&bytes);
        assert_eq!(to_vec(&cow), to_vec(&bytes));
        assert_eq!(from_slice::<Cow<'_, [u8]>>(&to_vec(&bytes)).unwrap(), bytes);
        same_as_bincode(&bytes.clone().into_boxed_slice());
        same_as_bincode(&VecDeque::from(bytes.clone()));

        let n = rng.below(20);
        let words: Vec<u64> = (0..n).map(|_| rng.wide() as u64).collect();
        same_as_bincode(&words);
        same_as_bincode(&VecDeque::from(words.clone()));
        let signed: Vec<i32> = (0..n).map(|_| rng.wide() as i32).collect();
        same_as_bincode(&signed);
        let strings: Vec<String> = (0..rng.below(6)).map(|_| rng.string()).collect();
        same_as_bincode(&strings);
        let nested: Vec<Option<(u8, String)>> = (0..rng.below(8))
            .map(|_| rng.coin().then(|| (rng.next_u64() as u8, rng.string())))
            .collect();
        same_as_bincode(&nested);
        let deep: Vec<Vec<Option<u16>>> = (0..rng.below(4))
            .map(|_| {
                (0..rng.below(4))
                    .map(|_| rng.coin().then(|| rng.wide() as u16))
                    .collect()
            })
            .collect();
        same_as_bincode(&deep);
    }
    // A VecDeque whose contents wrap around its buffer.
    let mut dq: VecDeque<u8> = VecDeque::with_capacity(4);
    dq.extend([1, 2, 3]);
    dq.pop_front();
    dq.extend([4, 5]);
    assert_eq!(
        to_vec(&dq),
        bincode::encode_to_vec(&dq, standard()).unwrap()
    );
    assert_eq!(to_vec(&dq), [4, 2, 3, 4, 5]);
}

#[test]
fn arrays_match_bincode() {
    let mut rng = Rng::new(6);
    same_as_bincode(&[0u8; 0]);
    same_as_bincode(&[0u32; 0]);
    for _ in 0..200 {
        let bytes: [u8; 7] = std::array::from_fn(|_| rng.next_u64() as u8);
        same_as_bincode(&bytes);
        let big: [u8; 300] = std::array::from_fn(|_| rng.next_u64() as u8);
        same_as_bincode(&big);
        let words: [u32; 3] = std::array::from_fn(|_| rng.wide() as u32);
        same_as_bincode(&words);
        let strings: [String; 2] = std::array::from_fn(|_| rng.string());
        same_as_bincode(&strings);
        let opts: [Option<i64>; 4] = std::array::from_fn(|_| rng.coin().then(|| rng.wide() as i64));
        same_as_bincode(&opts);
    }
}

#[test]
fn option_result_box_match_bincode() {
    let mut rng = Rng::new(7);
    same_as_bincode(&None::<u8>);
    same_as_bincode(&Some(None::<u8>));
    same_as_bincode(&Some(Some(3u8)));
    for _ in 0..300 {
        same_as_bincode(&rng.coin().then(|| rng.wide() as u32));
        same_as_bincode(&rng.coin().then(|| rng.string()));
        let r: Result<u64, String> = if rng.coin() {
            Ok(rng.wide() as u64)
        } else {
            Err(rng.string())
        };
        same_as_bincode(&r);
        let r: Result<(), Option<i16>> = if rng.coin() {
            Ok(())
        } else {
            Err(rng.coin().then(|| rng.wide() as i16))
        };
        same_as_bincode(&r);
        same_as_bincode(&Box::new(rng.wide() as u64));
        same_as_bincode(&Box::new(rng.string()));
        same_as_bincode(&Rc::new(rng.wide() as u16));
        same_as_bincode(&Arc::new(rng.string()));
        let words: Vec<u32> = (0..rng.below(5)).map(|_| rng.wide() as u32).collect();
        assert_eq!(to_vec(&Rc::<[u32]>::from(words.clone())), to_vec(&words));
        assert_eq!(
            *from_slice::<Arc<[u32]>>(&to_vec(&words)).unwrap(),
            words[..]
        );
        assert_eq!(
            *from_slice::<Rc<[u32]>>(&to_vec(&words)).unwrap(),
            words[..]
        );
    }
}

#[test]
fn duration_matches_bincode() {
    let mut rng = Rng::new(8);
    same_as_bincode(&Duration::ZERO);
    same_as_bincode(&Duration::MAX);
    same_as_bincode(&Duration::from_nanos(1));
    for _ in 0..500 {
        let d = Duration::new(rng.wide() as u64, rng.below(1_000_000_000) as u32);
        same_as_bincode(&d);
    }
}

/// The widest tuple both codecs implement.
type T16 = (
    u8,
    u16,
    u32,
    u64,
    i8,
    i16,
    i32,
    i64,
    u128,
    i128,
    usize,
    isize,
    char,
    bool,
    (),
    u8,
);

#[test]
fn tuples_match_bincode() {
    let mut rng = Rng::new(9);
    for _ in 0..200 {
        same_as_bincode(&(rng.wide() as u8,));
        same_as_bincode(&(rng.wide() as u16, rng.string()));
        same_as_bincode(&(rng.coin(), rng.char(), rng.wide() as i128));
        same_as_bincode(&(
            rng.wide() as u8,
            rng.wide() as i8,
            rng.wide() as u16,
            rng.wide() as i16,
            rng.wide() as u32,
            rng.wide() as i32,
            rng.wide() as u64,
            rng.wide() as i64,
            rng.wide(),
            rng.wide() as i128,
            rng.string(),
            rng.coin(),
        ));
    }
    // Past 12 fields std has no PartialEq/Debug, so compare bytes only.
    let t16 = (
        1u8,
        2u16,
        3u32,
        4u64,
        5i8,
        6i16,
        7i32,
        8i64,
        9u128,
        10i128,
        11usize,
        12isize,
        'x',
        true,
        (),
        16u8,
    );
    let ours = to_vec(&t16);
    assert_eq!(ours, bincode::encode_to_vec(t16, standard()).unwrap());
    let back: T16 = from_slice(&ours).unwrap();
    assert_eq!(to_vec(&back), ours);
}

#[test]
fn maps_and_sets_match_bincode() {
    let mut rng = Rng::new(10);
    same_as_bincode(&BTreeMap::<u8, u8>::new());
    for _ in 0..200 {
        let map: BTreeMap<String, Vec<u32>> = (0..rng.below(8))
            .map(|_| {
                let v = (0..rng.below(4)).map(|_| rng.wide() as u32).collect();
                (rng.string(), v)
            })
            .collect();
        same_as_bincode(&map);
        let set: BTreeSet<i64> = (0..rng.below(20)).map(|_| rng.wide() as i64).collect();
        same_as_bincode(&set);

        // Hash containers: iteration order is unspecified, so decode each
        // side's bytes with the other side instead of comparing bytes.
        let hmap: HashMap<u64, String> = (0..rng.below(10))
            .map(|_| (rng.wide() as u64, rng.string()))
            .collect();
        let ours = to_vec(&hmap);
        let theirs = bincode::encode_to_vec(&hmap, standard()).unwrap();
        assert_eq!(ours.len(), theirs.len());
        assert_eq!(from_slice::<HashMap<u64, String>>(&theirs).unwrap(), hmap);
        assert_eq!(
            bincode_decode::<HashMap<u64, String>>(&ours),
            Some(hmap.clone())
        );
        // A map of one entry has only one order.
        let one: HashMap<u8, char> = HashMap::from([(rng.next_u64() as u8, rng.char())]);
        same_as_bincode(&one);

        let hset: HashSet<String> = (0..rng.below(10)).map(|_| rng.string()).collect();
        let ours = to_vec(&hset);
        let theirs = bincode::encode_to_vec(&hset, standard()).unwrap();
        assert_eq!(from_slice::<HashSet<String>>(&theirs).unwrap(), hset);
        assert_eq!(bincode_decode::<HashSet<String>>(&ours), Some(hset.clone()));
    }
    // Duplicate keys: the last value wins, as in bincode.
    let dup = [2u8, 1, 10, 1, 20];
    assert_eq!(
        from_slice::<BTreeMap<u8, u8>>(&dup).unwrap(),
        BTreeMap::from([(1, 20)])
    );
    assert_eq!(
        bincode_decode::<BTreeMap<u8, u8>>(&dup),
        Some(BTreeMap::from([(1, 20)]))
    );
    assert_eq!(
        from_slice::<HashMap<u8, u8>>(&dup).unwrap(),
        HashMap::from([(1, 20)])
    );
    assert_eq!(
        from_slice::<BTreeSet<u8>>(&[2, 1, 1]).unwrap(),
        BTreeSet::from([1])
    );
}

// ---- round trips of every covered type -------------------------------------------

#[test]
fn every_covered_type_round_trips() {
    round_trip(&0u8);
    round_trip(&i8::MIN);
    round_trip(&u16::MAX);
    round_trip(&i16::MIN);
    round_trip(&u32::MAX);
    round_trip(&i32::MIN);
    round_trip(&u64::MAX);
    round_trip(&i64::MIN);
    round_trip(&u128::MAX);
    round_trip(&i128::MIN);
    round_trip(&usize::MAX);
    round_trip(&isize::MIN);
    round_trip(&1.25f32);
    round_trip(&-1.25f64);
    round_trip(&true);
    round_trip(&'\u{10ffff}');
    round_trip(&());
    round_trip(&PhantomData::<Vec<String>>);
    round_trip(&String::from("héllo"));
    round_trip(&Box::<str>::from("boxed"));
    round_trip(&Rc::<str>::from("rc"));
    round_trip(&Arc::<str>::from("arc"));
    round_trip(&Cow::<str>::Owned("cow".into()));
    round_trip(&Cow::<[u16]>::Owned(vec![1, 2]));
    round_trip(&vec![1u8, 2, 3]);
    round_trip(&vec![vec![1u16], vec![], vec![2, 3]]);
    round_trip(&Box::<[u32]>::from([4, 5]));
    round_trip(&Rc::<[u32]>::from([4, 5]));
    round_trip(&Arc::<[u32]>::from([4, 5]));
    round_trip(&VecDeque::from([1i64, -1]));
    round_trip(&[7u8; 3]);
    round_trip(&[7u64; 3]);
    round_trip(&[[1u8; 2]; 2]);
    round_trip(&Some(1u8));
    round_trip(&None::<String>);
    round_trip(&Ok::<u8, String>(1));
    round_trip(&Err::<u8, String>("e".into()));
    round_trip(&Box::new(5u8));
    round_trip(&Rc::new(5u8));
    round_trip(&Arc::new(5u8));
    round_trip(&Duration::new(5, 6));
    round_trip(&(1u8,));
    round_trip(&(
        1u8, 2u16, 3u32, 4u64, 5u128, 6i8, 7i16, 8i32, 9i64, 10i128, 11.0f32, 12.0f64,
    ));
    round_trip(&HashMap::from([(1u8, "a".to_string()), (2, "b".into())]));
    round_trip(&BTreeMap::from([("a".to_string(), vec![1u8])]));
    round_trip(&HashSet::from([1u32, 2, 3]));
    round_trip(&BTreeSet::from(['a', 'b']));
    round_trip(&vec![(); 0]);
    // Encode-only impls: references, slices, str.
    assert_eq!(to_vec(&&5u8), [5]);
    assert_eq!(to_vec(&&mut 5u8), [5]);
    assert_eq!(to_vec(&[1u16, 2][..]), [2, 1, 2]);
    assert_eq!(to_vec("s"), [1, b's']);
    let v: Vec<&str> = vec!["a", "bc"];
    assert_eq!(from_slice::<Vec<String>>(&to_vec(&v)).unwrap(), ["a", "bc"]);
}

#[test]
fn decoder_api_reads_field_by_field() {
    let mut bytes = to_vec(&300u64);
    bytes.extend_from_slice(&to_vec("ab"));
    bytes.push(9);
    let mut d = Decoder::new(&bytes);
    assert_eq!(d.remaining(), bytes.len());
    assert_eq!(d.read_varint_u64().unwrap(), 300);
    let len = d.read_len().unwrap();
    assert_eq!(d.read_bytes(len).unwrap(), b"ab");
    assert!(d.clone().finish().is_err());
    assert_eq!(d.read_u8().unwrap(), 9);
    assert!(is_decode_err(d.read_u8()));
    d.finish().unwrap();
    // A value encoded with encode() and decoded with decode() in a stream.
    let mut out = Vec::new();
    (1u8, "x").encode(&mut out);
    Some(2u32).encode(&mut out);
    let mut d = Decoder::new(&out);
    assert_eq!(<(u8, String)>::decode(&mut d).unwrap(), (1, "x".into()));
    assert_eq!(Option::<u32>::decode(&mut d).unwrap(), Some(2));
    d.finish().unwrap();
}

// ---- hostile input -----------------------------------------------------------------

/// Decodes `bytes` as `T` with both codecs; neither may panic, and where both
/// accept the input they must agree. Where only one accepts it, the two
/// disagree about validity, which must not happen either.
fn differential<T>(bytes: &[u8]) -> bool
where
    T: Decode + bincode::Decode<()> + PartialEq + Debug,
{
    let ours = from_slice::<T>(bytes);
    let theirs = bincode_decode::<T>(bytes);
    match (&ours, &theirs) {
        (Ok(a), Some(b)) => assert_eq!(a, b, "{bytes:?}"),
        (Err(e), None) => assert!(matches!(e, Error::Decode(_)), "{e:?}"),
        _ => panic!("codecs disagree on {bytes:?}: ours {ours:?}, bincode {theirs:?}"),
    }
    ours.is_ok()
}

#[test]
fn random_garbage_never_panics_and_agrees_with_bincode() {
    let started = Instant::now();
    let mut rng = Rng::new(11);
    let mut accepted = 0usize;
    for i in 0..6000u32 {
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
        // Mostly short inputs (which often decode), some longer ones, and some
        // that begin with a valid-looking long length.
        let mut bytes = rng.bytes(if i % 4 == 0 { 64 } else { 8 });
        if i % 7 == 0 {
            let mut prefix = to_vec(&(rng.wide() as u64));
            prefix.append(&mut bytes);
            bytes = prefix;
        }
        accepted += usize::from(differential::<u64>(&bytes));
        accepted += usize::from(differential::<i32>(&bytes));
        accepted += usize::from(differential::<u16>(&bytes));
        accepted += usize::from(differential::<u128>(&bytes));
        accepted += usize::from(differential::<bool>(&bytes));
        accepted += usize::from(differential::<char>(&bytes));
        accepted += usize::from(differential::<String>(&bytes));
        accepted += usize::from(differential::<Vec<u8>>(&bytes));
        accepted += usize::from(differential::<Vec<u64>>(&bytes));
        accepted += usize::from(differential::<[u16; 3]>(&bytes));
        accepted += usize::from(differential::<Vec<Option<(u8, String)>>>(&bytes));
        accepted += usize::from(differential::<BTreeMap<String, Vec<u32>>>(&bytes));
        accepted += usize::from(differential::<HashMap<u16, char>>(&bytes));
        accepted += usize::from(differential::<(bool, char, i128)>(&bytes));
        accepted += usize::from(differential::<Result<Duration, Vec<u8>>>(&bytes));
        accepted += usize::from(differential::<Option<Box<(u32, i8)>>>(&bytes));
        // Types bincode 2 does not share with us the same way: just no panic.
        let _ = from_slice::<Vec<()>>(&bytes);
        let _ = from_slice::<Vec<[u64; 64]>>(&bytes);
        let _ = from_slice::<Vec<Option<[u64; 512]>>>(&bytes);
        let _ = from_slice::<HashSet<Vec<u8>>>(&bytes);
        let _ = from_slice::<VecDeque<String>>(&bytes);
    }
    assert!(accepted > 1000, "only {accepted} random inputs decoded");
}

#[test]
fn huge_length_prefixes_are_rejected() {
    for len in [1u64 << 20, 1 << 32, 1 << 60, u64::MAX] {
        let mut bytes = to_vec(&len);
        bytes.extend_from_slice(&[0; 16]);
        assert!(is_decode_err(from_slice::<Vec<u64>>(&bytes)));
        assert!(is_decode_err(from_slice::<Vec<u8>>(&bytes)));
        assert!(is_decode_err(from_slice::<String>(&bytes)));
        assert!(is_decode_err(from_slice::<Vec<()>>(&bytes)));
        assert!(is_decode_err(from_slice::<BTreeSet<u8>>(&bytes)));
        assert!(is_decode_err(from_slice::<HashMap<u8, u8>>(&bytes)));
    }
}

#[test]
fn zero_sized_elements_are_the_one_deviation_from_bincode() {
    // bincode 2 accepts a Vec<()> of any length from a single length prefix;
    // we accept one up to a fixed cap (counted across the value), so every
    // such value we write, we read, and 2^60 of them cannot spin.
    let bytes = to_vec(&vec![(); 3]);
    assert_eq!(
        bytes,
        bincode::encode_to_vec(vec![(); 3], standard()).unwrap()
    );
    assert_eq!(bincode_decode::<Vec<()>>(&bytes), Some(vec![(); 3]));
    assert_eq!(from_slice::<Vec<()>>(&bytes).unwrap(), vec![(); 3]);
    let cap = stdrpc::Decoder::MAX_ZERO_SIZED_ELEMENTS;
    assert_eq!(
        from_slice::<Vec<()>>(&to_vec(&vec![(); cap]))
            .unwrap()
            .len(),
        cap
    );
    let over = to_vec(&vec![(); cap + 1]);
    assert_eq!(
        bincode_decode::<Vec<()>>(&over).map(|v| v.len()),
        Some(cap + 1)
    );
    assert!(is_decode_err(from_slice::<Vec<()>>(&over)));
    // The length consumes its bytes and nothing more.
    let mut d = Decoder::new(&[2, 0xAA, 0xBB]);
    assert_eq!(Vec::<()>::decode(&mut d).unwrap(), [(), ()]);
    assert_eq!(d.remaining(), 2);
}

#[test]
fn one_byte_elements_of_a_large_type_decode() {
    // 10 000 `None`s of a 4 KiB type: one byte each on the wire, 40 MB in
    // memory. The up-front reservation is capped; the Vec grows as needed.
    let mut bytes = to_vec(&10_000u64);
    bytes.extend(std::iter::repeat_n(0u8, 10_000));
    let v = from_slice::<Vec<Option<[u64; 512]>>>(&bytes).unwrap();
    assert_eq!(v.len(), 10_000);
    assert!(v.iter().all(Option::is_none));
}
