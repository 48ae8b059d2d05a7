//! Python's `==` and hashing on [`Value`]s, for the container methods a
//! referent exposes (`in`, `dict.get`, set algebra).
//!
//! [`Value`]'s own `PartialEq` is structural; Python's is not: `1 == 1.0 ==
//! True`, a `set` equals a `frozenset` with the same elements, and dicts and
//! sets ignore order. [`py_eq`] follows Python, and [`Index`] is a hash index
//! consistent with it, so lookups over large containers stay linear.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};

use super::numbers::float_to_int;
use crate::python::pickle::Value;
use crate::python::pyerr::PyErr;

/// A number, for comparing across `bool`, `int` and `float`.
enum Num<'a> {
    Int(i64),
    Big(&'a Value),
    Float(f64),
}

fn num(v: &Value) -> Option<Num<'_>> {
    match v {
        Value::Bool(b) => Some(Num::Int(i64::from(*b))),
        Value::Int(i) => Some(Num::Int(*i)),
        Value::BigInt(_) => Some(Num::Big(v)),
        Value::Float(f) => Some(Num::Float(*f)),
        _ => None,
    }
}

fn num_eq(a: Num<'_>, b: Num<'_>) -> bool {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x == y,
        (Num::Float(x), Num::Float(y)) => x == y,
        (Num::Big(x), Num::Big(y)) => x == y,
        (Num::Int(_), Num::Big(_)) | (Num::Big(_), Num::Int(_)) => false,
        (Num::Int(i), Num::Float(f)) | (Num::Float(f), Num::Int(i)) => {
            float_to_int(f) == Some(Value::Int(i))
        }
        (Num::Big(b), Num::Float(f)) | (Num::Float(f), Num::Big(b)) => {
            float_to_int(f).as_ref() == Some(b)
        }
    }
}

/// Python's `a == b`.
pub(crate) fn py_eq(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return num_eq(x, y);
    }
    match (a, b) {
        (Value::None, Value::None) => true,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::Tuple(x), Value::Tuple(y)) | (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len() && {
                let index = Index::of(y.iter().map(|(k, _)| k));
                x.iter().all(|(k, v)| {
                    index
                        .position(k)
                        .and_then(|i| y.get(i))
                        .is_some_and(|(_, w)| py_eq(v, w))
                })
            }
        }
        (Value::Set(x) | Value::FrozenSet(x), Value::Set(y) | Value::FrozenSet(y)) => {
            x.len() == y.len() && {
                let index = Index::of(y);
                x.iter().all(|v| index.contains(v))
            }
        }
        (Value::Object(x), Value::Object(y)) => x == y,
        _ => false,
    }
}

/// `Err(TypeError)` if Python could not hash `v` (a list, dict or set, or a
/// tuple holding one).
pub(crate) fn check_hashable(v: &Value) -> Result<(), PyErr> {
    match v {
        Value::List(_) | Value::Dict(_) | Value::Set(_) => Err(PyErr::type_error(format!(
            "unhashable type: '{}'",
            v.python_type()
        ))),
        Value::Tuple(items) => items.iter().try_for_each(check_hashable),
        _ => Ok(()),
    }
}

/// A hash index over values, consistent with [`py_eq`]: equal values hash
/// alike. The hash keys are random per index, so crafted collisions cannot
/// slow it down.
pub(crate) struct Index<'a> {
    state: RandomState,
    items: Vec<&'a Value>,
    buckets: HashMap<u64, Vec<usize>>,
}

impl<'a> Index<'a> {
    /// An empty index.
    pub(crate) fn new() -> Index<'a> {
        Index {
            state: RandomState::new(),
            items: Vec::new(),
            buckets: HashMap::new(),
        }
    }

    /// An index of every item, duplicates included (positions are kept).
    pub(crate) fn of(items: impl IntoIterator<Item = &'a Value>) -> Index<'a> {
        let mut index = Index::new();
        for item in items {
            index.push(item);
        }
        index
    }

    /// Adds `v` at the next position, whether or not an equal item is present.
    pub(crate) fn push(&mut self, v: &'a Value) {
        let h = hash_value(&self.state, v);
        self.buckets.entry(h).or_default().push(self.items.len());
        self.items.push(v);
    }

    /// Adds `v` unless an equal item is present; returns whether it was added.
    pub(crate) fn insert(&mut self, v: &'a Value) -> bool {
        if self.contains(v) {
            return false;
        }
        self.push(v);
        true
    }

    /// The position of the first item equal to `v`.
    pub(crate) fn position(&self, v: &Value) -> Option<usize> {
        self.buckets
            .get(&hash_value(&self.state, v))?
            .iter()
            .copied()
            .find(|&i| self.items.get(i).is_some_and(|x| py_eq(x, v)))
    }

    pub(crate) fn contains(&self, v: &Value) -> bool {
        self.position(v).is_some()
    }

    /// The items, in the order they were added.
    pub(crate) fn items(&self) -> &[&'a Value] {
        &self.items
    }
}

fn hash_value(state: &RandomState, v: &Value) -> u64 {
    let mut h = state.build_hasher();
    feed(state, v, &mut h);
    h.finish()
}

/// Hashes `v` in a canonical form: numbers that compare equal feed the
/// same bytes, and unordered containers combine their items' hashes in an
/// order-independent way.
fn feed(state: &RandomState, v: &Value, h: &mut impl Hasher) {
    match v {
        Value::None => 0u8.hash(h),
        Value::Bool(b) => feed_int(i64::from(*b), h),
        Value::Int(i) => feed_int(*i, h),
        Value::BigInt(b) => {
            2u8.hash(h);
            b.as_signed_bytes_le().hash(h);
        }
        Value::Float(f) => match float_to_int(*f) {
            Some(Value::Int(i)) => feed_int(i, h),
            Some(big) => feed(state, &big, h),
            None if f.is_nan() => 3u8.hash(h),
            None => {
                4u8.hash(h);
                f.to_bits().hash(h);
            }
        },
        Value::Str(s) => {
            5u8.hash(h);
            s.hash(h);
        }
        Value::Bytes(b) => {
            6u8.hash(h);
            b.hash(h);
        }
        Value::Tuple(items) | Value::List(items) => {
            7u8.hash(h);
            items.len().hash(h);
            for item in items {
                feed(state, item, h);
            }
        }
        Value::Set(items) | Value::FrozenSet(items) => {
            8u8.hash(h);
            let sum = items
                .iter()
                .fold(0u64, |acc, x| acc.wrapping_add(hash_value(state, x)));
            sum.hash(h);
        }
        Value::Dict(entries) => {
            9u8.hash(h);
            let sum = entries.iter().fold(0u64, |acc, (k, x)| {
                acc.wrapping_add(hash_value(state, k) ^ hash_value(state, x).rotate_left(17))
            });
            sum.hash(h);
        }
        Value::Object(obj) => {
            10u8.hash(h);
            obj.module.hash(h);
            obj.name.hash(h);
        }
    }
}

fn feed_int(i: i64, h: &mut impl Hasher) {
    1u8.hash(h);
    i.hash(h);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_across_types() {
        assert!(py_eq(&Value::Int(1), &Value::Float(1.0)));
        assert!(py_eq(&Value::Bool(true), &Value::Int(1)));
        assert!(!py_eq(&Value::Int(1), &Value::Float(1.5)));
        assert!(!py_eq(&Value::Float(f64::NAN), &Value::Float(f64::NAN)));
        let big = Value::from(1u128 << 80);
        assert!(py_eq(&big, &Value::Float(2f64.powi(80))));
        assert!(!py_eq(&big, &Value::Int(0)));
        assert!(!py_eq(&Value::from("1"), &Value::Int(1)));
        assert!(!py_eq(
            &Value::Tuple(vec![Value::Int(1)]),
            &Value::List(vec![Value::Int(1)])
        ));
    }

    #[test]
    fn containers_ignore_order_where_python_does() {
        let a = Value::Dict(vec![(1.into(), "a".into()), (2.into(), "b".into())]);
        let b = Value::Dict(vec![
            (Value::Float(2.0), "b".into()),
            (1.into(), "a".into()),
        ]);
        assert!(py_eq(&a, &b));
        let s = Value::Set(vec![1.into(), 2.into()]);
        let f = Value::FrozenSet(vec![2.into(), Value::Bool(true)]);
        assert!(py_eq(&s, &f));
        assert!(!py_eq(&s, &Value::Set(vec![1.into(), 3.into()])));
    }

    #[test]
    fn index_agrees_with_eq() {
        let values: Vec<Value> = (0..100)
            .map(|i| {
                if i % 2 == 0 {
                    Value::Int(i)
                } else {
                    Value::from(format!("s{i}"))
                }
            })
            .collect();
        let mut index = Index::of(&values);
        assert_eq!(index.position(&Value::Float(42.0)), Some(42));
        assert_eq!(index.position(&Value::from("s41")), Some(41));
        assert_eq!(index.position(&Value::from("s42")), None);
        assert_eq!(index.position(&Value::Bool(false)), Some(0));
        let one = Value::Float(1.0);
        assert!(!index.insert(&one) || index.items().len() == 101);
        let new = Value::from("new");
        assert!(index.insert(&new));
        assert!(!index.insert(&new));
    }

    #[test]
    fn hashability() {
        assert!(check_hashable(&Value::Tuple(vec![1.into(), "a".into()])).is_ok());
        let e = check_hashable(&Value::Tuple(vec![Value::List(vec![])])).unwrap_err();
        assert_eq!(e.line(), "TypeError: unhashable type: 'list'");
        assert!(check_hashable(&Value::FrozenSet(vec![])).is_ok());
    }
}
