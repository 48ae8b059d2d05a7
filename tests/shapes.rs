//! The shape rules of issue 11: types whose bytes decode to the same values
//! have the same canonical shape (and fingerprint); others do not.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use stdrpc::{Decode, Encode, Shape};
use support::ticks::{Tick, renamed, reordered, same_layout};

mod support;

fn es<T: Encode + ?Sized>() -> Shape {
    T::shape()
}

fn canon<T: Encode + ?Sized>() -> String {
    T::shape().canonical()
}

fn dcanon<T: Decode>() -> String {
    <T as Decode>::shape().canonical()
}

fn same<A: Encode + ?Sized, B: Decode>() {
    assert_eq!(
        canon::<A>(),
        dcanon::<B>(),
        "{} vs {}",
        A::shape(),
        <B as Decode>::shape()
    );
    assert_eq!(
        A::shape().fingerprint(),
        <B as Decode>::shape().fingerprint()
    );
    assert_ne!(A::shape().fingerprint(), 0);
}

fn differ<A: Encode + ?Sized, B: Decode>() {
    assert_ne!(
        canon::<A>(),
        dcanon::<B>(),
        "{} vs {}",
        A::shape(),
        <B as Decode>::shape()
    );
    assert_ne!(
        A::shape().fingerprint(),
        <B as Decode>::shape().fingerprint()
    );
}

#[test]
fn integers_by_encoding_family() {
    same::<u8, u8>();
    same::<i8, i8>();
    same::<u16, u64>();
    same::<u32, u128>();
    same::<usize, u64>();
    same::<i16, i64>();
    same::<i32, i64>();
    same::<isize, i128>();
    differ::<u64, i64>();
    differ::<u8, u16>();
    differ::<i8, i16>();
    differ::<u8, i8>();
    differ::<f32, f64>();
    differ::<bool, u8>();
    differ::<char, u32>();
    assert_eq!(canon::<u64>(), "uint");
    assert_eq!(canon::<i32>(), "int");
}

#[test]
fn strings_and_sequences() {
    same::<String, String>();
    same::<str, String>();
    same::<&str, Box<str>>();
    same::<Cow<'static, str>, String>();
    same::<Vec<i64>, Vec<i32>>();
    same::<[i64], VecDeque<i64>>();
    same::<&[String], Box<[String]>>();
    same::<Vec<u8>, Vec<u8>>();
    same::<[u8], Vec<u8>>();
    assert_eq!(canon::<Vec<u8>>(), "bytes");
    assert_eq!(canon::<Vec<u16>>(), "[uint]");
    differ::<Vec<u8>, Vec<u16>>();
    differ::<String, Vec<u8>>();
    differ::<Vec<i64>, HashSet<i64>>();
}

#[test]
fn maps_sets_options_results_tuples_arrays() {
    same::<HashMap<String, i64>, BTreeMap<String, i32>>();
    same::<BTreeSet<u32>, HashSet<u64>>();
    differ::<HashMap<String, i64>, BTreeMap<String, u64>>();
    same::<Option<i32>, Option<i64>>();
    differ::<Option<i64>, i64>();
    same::<Result<u8, String>, Result<u8, String>>();
    differ::<Result<u8, String>, Result<String, u8>>();
    same::<(i32, &str), (i64, String)>();
    differ::<(i64, String), (String, i64)>();
    differ::<(i64, i64), (i64, i64, i64)>();
    // A one-field tuple has its field's bytes and shape.
    same::<(i64,), i64>();
    same::<[u8; 4], [u8; 4]>();
    differ::<[u8; 4], [u8; 5]>();
    differ::<[u8; 2], (u8, u8)>();
    same::<Duration, Duration>();
    same::<Duration, (u64, u32)>();
    same::<(), ()>();
    assert_eq!(canon::<()>(), "()");
    assert_eq!(canon::<[i8; 3]>(), "[i8;3]");
    assert_eq!(canon::<Result<(), String>>(), "Result<(),str>");
}

#[test]
fn pointers_are_transparent() {
    same::<Box<i64>, i64>();
    same::<Rc<String>, String>();
    same::<Arc<Vec<i64>>, Vec<i64>>();
    same::<&&i64, Arc<i64>>();
    assert_eq!(es::<Box<i64>>().display(), "i64");
}

#[test]
fn display_keeps_rust_names() {
    assert_eq!(es::<(u64, u64)>().display(), "(u64, u64)");
    assert_eq!(es::<Vec<String>>().display(), "Vec<String>");
    assert_eq!(<Option<i64> as Decode>::shape().display(), "Option<i64>");
    assert_eq!(<&[u8]>::shape().display(), "&[u8]");
    assert_eq!(<&[i8]>::shape().display(), "&[i8]");
    assert_eq!(
        <Box<[String]> as Decode>::shape().display(),
        "Box<[String]>"
    );
    assert_eq!(<&str>::shape().display(), "&str");
    assert_eq!(<Vec<u8> as Decode>::shape().display(), "Vec<u8>");
    assert_eq!(
        <HashMap<String, Vec<i32>> as Decode>::shape().display(),
        "HashMap<String, Vec<i32>>"
    );
    assert_eq!(
        <Result<u8, String> as Decode>::shape().display(),
        "Result<u8, String>"
    );
    assert_eq!(
        stdrpc::Signature::new(es::<(String, i64)>(), es::<Option<i64>>()).to_string(),
        "(String, i64) -> Option<i64>"
    );
    assert_eq!(
        stdrpc::Signature::new(es::<String>(), es::<()>()).to_string(),
        "(String) -> ()"
    );
}

#[test]
fn opaque_types_are_never_checked() {
    struct Hand;
    impl Encode for Hand {
        fn encode(&self, _: &mut Vec<u8>) {}
    }
    assert!(matches!(Hand::shape(), Shape::Opaque(_)));
    assert_eq!(Hand::shape().fingerprint(), 0);
    assert_eq!(<(i64, Hand)>::shape().fingerprint(), 0);
    assert_eq!(<Vec<Option<Hand>>>::shape().fingerprint(), 0);
    assert_eq!(<(i64, Hand)>::shape().display(), "(i64, Hand)");
}

#[cfg(feature = "bincode")]
#[test]
fn compat_is_opaque() {
    assert_eq!(
        <stdrpc::Compat<(i64, String)> as Decode>::shape().fingerprint(),
        0
    );
}

stdrpc::message! {
    struct Point(i64, i64);
}

stdrpc::message! {
    struct Marker;
}

stdrpc::message! {
    enum Order {
        Market,
        Limit { price: f64, qty: u32 },
        Stop(f64),
    }
}

stdrpc::message! {
    struct Tree {
        value: i64,
        children: Vec<Tree>,
    }
}

stdrpc::message! {
    struct Wrap<T> {
        inner: T,
    }
}

#[test]
fn message_types_by_name_and_fields() {
    assert_eq!(canon::<Tick>(), "struct Tick{symbol:str,price:f64}");
    assert_eq!(es::<Tick>().display(), "Tick");
    same::<Tick, Tick>();
    same::<same_layout::Tick, Tick>();
    differ::<renamed::Tick, Tick>();
    differ::<reordered::Tick, Tick>();
    // A struct is not a tuple, even where the bytes agree.
    differ::<Tick, (String, f64)>();
    differ::<Point, (i64, i64)>();
    assert_eq!(canon::<Point>(), "struct Point(int,int)");
    assert_eq!(canon::<Marker>(), "struct Marker");
    assert_eq!(
        canon::<Order>(),
        "enum Order{Market,Limit{price:f64,qty:uint},Stop(f64)}"
    );
    assert_eq!(canon::<Wrap<i32>>(), "struct Wrap{inner:int}");
    assert_eq!(
        canon::<Wrap<Wrap<u8>>>(),
        "struct Wrap{inner:struct Wrap{inner:u8}}"
    );
}

#[test]
fn recursive_message_types_terminate() {
    assert_eq!(canon::<Tree>(), "struct Tree{value:int,children:[@Tree]}");
    assert_eq!(dcanon::<Tree>(), canon::<Tree>());
    assert_eq!(
        canon::<Vec<Tree>>(),
        "[struct Tree{value:int,children:[@Tree]}]"
    );
}
