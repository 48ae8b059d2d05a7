//! The methods a referent exposes to Python proxies, per Python type, and
//! their implementations.
//!
//! Python's manager exposes every public method of a referent (`dir()`
//! minus names starting with `_`). We expose what we implement, with
//! Python's semantics and error types:
//!
//! * `int`/`bool`: Python 3.12's full list (`as_integer_ratio`, `bit_count`,
//!   `bit_length`, `conjugate`, `from_bytes`, `is_integer`, `to_bytes`);
//! * `float`: the full list (`as_integer_ratio`, `conjugate`, `fromhex`,
//!   `hex`, `is_integer`);
//! * `str`, `bytes`, `tuple`, `list`, `dict`, `set`, `frozenset`: the
//!   non-mutating methods listed in [`STR_METHODS`] and its siblings, plus
//!   `__contains__`, `__getitem__` (by index or key) and `__len__`, so that
//!   `x in proxy`, `proxy[i]` and `len(proxy)` work on the proxy;
//! * `None`: nothing.
//!
//! Referents never change after `create`: mutating methods (`list.append`,
//! `dict.update`) are not exposed. Every result is bounded: a method that
//! would build more than 16 Mi elements raises `MemoryError`.

mod args;
mod bytes;
mod dict;
mod eq;
mod list;
mod numbers;
mod sequence;
mod set;
mod string;

use crate::python::pickle::Value;
use crate::python::pyerr::PyErr;
use args::{bind, no_attribute, sig};
use bytes::bytes_method;
use dict::dict_method;
use list::seq_method;
use numbers::{FLOAT_METHODS, INT_METHODS};
use set::set_method;
use string::str_method;

/// The exposed methods of `str`.
pub(crate) const STR_METHODS: &[&str] = &[
    "__contains__",
    "__getitem__",
    "__len__",
    "count",
    "encode",
    "endswith",
    "find",
    "index",
    "isascii",
    "join",
    "lower",
    "lstrip",
    "removeprefix",
    "removesuffix",
    "replace",
    "rfind",
    "rindex",
    "rstrip",
    "split",
    "startswith",
    "strip",
    "upper",
];

/// The exposed methods of `bytes`.
pub(crate) const BYTES_METHODS: &[&str] = &[
    "__contains__",
    "__getitem__",
    "__len__",
    "count",
    "decode",
    "endswith",
    "find",
    "hex",
    "index",
    "isascii",
    "lower",
    "rfind",
    "rindex",
    "startswith",
    "upper",
];

/// The exposed methods of `tuple`.
pub(crate) const TUPLE_METHODS: &[&str] =
    &["__contains__", "__getitem__", "__len__", "count", "index"];

/// The exposed methods of `list`.
pub(crate) const LIST_METHODS: &[&str] = &[
    "__contains__",
    "__getitem__",
    "__len__",
    "copy",
    "count",
    "index",
];

/// The exposed methods of `dict`.
pub(crate) const DICT_METHODS: &[&str] = &[
    "__contains__",
    "__getitem__",
    "__len__",
    "copy",
    "get",
    "items",
    "keys",
    "values",
];

/// The exposed methods of `set` and `frozenset`.
pub(crate) const SET_METHODS: &[&str] = &[
    "__contains__",
    "__len__",
    "copy",
    "difference",
    "intersection",
    "isdisjoint",
    "issubset",
    "issuperset",
    "symmetric_difference",
    "union",
];

/// The methods a proxy of `v` may call, sorted as Python's `dir()` sorts.
pub(crate) fn exposed(v: &Value) -> &'static [&'static str] {
    match v {
        Value::Bool(_) | Value::Int(_) | Value::BigInt(_) => INT_METHODS,
        Value::Float(_) => FLOAT_METHODS,
        Value::Str(_) => STR_METHODS,
        Value::Bytes(_) => BYTES_METHODS,
        Value::Tuple(_) => TUPLE_METHODS,
        Value::List(_) => LIST_METHODS,
        Value::Dict(_) => DICT_METHODS,
        Value::Set(_) | Value::FrozenSet(_) => SET_METHODS,
        Value::None | Value::Object(_) => &[],
    }
}

/// Runs `method` (one of [`exposed`]`(v)`) on `v`.
pub(crate) fn call(
    v: &Value,
    method: &str,
    args: Vec<Value>,
    kwds: Vec<(Value, Value)>,
) -> Result<Value, PyErr> {
    let mut a = bind(method, &sig(v, method), args, kwds)?;
    match v {
        Value::Bool(_) | Value::Int(_) | Value::BigInt(_) => numbers::int_method(v, method, &mut a),
        Value::Float(x) => numbers::float_method(*x, method, &mut a),
        Value::Str(s) => str_method(s, method, &mut a),
        Value::Bytes(b) => bytes_method(b, method, &mut a),
        Value::Tuple(items) | Value::List(items) => seq_method(v, items, method, &mut a),
        Value::Dict(entries) => dict_method(entries, method, &mut a),
        Value::Set(items) | Value::FrozenSet(items) => set_method(v, items, method, &mut a),
        Value::None | Value::Object(_) => Err(no_attribute(v, method)),
    }
}

#[cfg(test)]
mod tests;
