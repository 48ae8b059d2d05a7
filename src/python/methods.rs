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

mod eq;
mod numbers;

use crate::python::pickle::Value;
use crate::python::pyerr::PyErr;
use eq::{Index, check_hashable, py_eq};
use numbers::{FLOAT_METHODS, INT_METHODS, is_py_space};

/// The most elements (characters, bytes, items) a method result may hold.
const MAX_RESULT: usize = 16 * 1024 * 1024;

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

/// A method's parameters.
struct Sig {
    /// Parameter names in order.
    params: &'static [&'static str],
    /// How many leading parameters are required.
    required: usize,
    /// How many leading parameters may be passed by position.
    positional: usize,
    /// Whether keyword arguments are accepted (builtin methods with
    /// positional-only parameters refuse them).
    keywords: bool,
    /// Any number of further positional arguments (`set.union(*others)`).
    varargs: bool,
}

const fn no_args() -> Sig {
    positional(&[], 0)
}

const fn positional(params: &'static [&'static str], required: usize) -> Sig {
    Sig {
        params,
        required,
        positional: params.len(),
        keywords: false,
        varargs: false,
    }
}

const fn keywords(params: &'static [&'static str], required: usize, positional: usize) -> Sig {
    Sig {
        params,
        required,
        positional,
        keywords: true,
        varargs: false,
    }
}

const fn varargs() -> Sig {
    Sig {
        varargs: true,
        ..no_args()
    }
}

fn sig(v: &Value, method: &str) -> Sig {
    match (v, method) {
        (_, "__contains__" | "__getitem__") => positional(&["key"], 1),
        (Value::Bool(_) | Value::Int(_) | Value::BigInt(_), "to_bytes") => {
            keywords(&["length", "byteorder", "signed"], 0, 2)
        }
        (Value::Bool(_) | Value::Int(_) | Value::BigInt(_), "from_bytes") => {
            keywords(&["bytes", "byteorder", "signed"], 1, 2)
        }
        (Value::Float(_), "fromhex") => positional(&["string"], 1),
        (Value::Str(_) | Value::Bytes(_), "count" | "find" | "index" | "rfind" | "rindex") => {
            positional(&["sub", "start", "end"], 1)
        }
        (Value::Str(_) | Value::Bytes(_), "startswith") => {
            positional(&["prefix", "start", "end"], 1)
        }
        (Value::Str(_) | Value::Bytes(_), "endswith") => positional(&["suffix", "start", "end"], 1),
        (Value::Str(_), "encode") | (Value::Bytes(_), "decode") => {
            keywords(&["encoding", "errors"], 0, 2)
        }
        (Value::Str(_), "join") => positional(&["iterable"], 1),
        (Value::Str(_), "strip" | "lstrip" | "rstrip") => positional(&["chars"], 0),
        (Value::Str(_), "removeprefix") => positional(&["prefix"], 1),
        (Value::Str(_), "removesuffix") => positional(&["suffix"], 1),
        (Value::Str(_), "replace") => keywords(&["old", "new", "count"], 2, 3),
        (Value::Str(_), "split") => keywords(&["sep", "maxsplit"], 0, 2),
        (Value::Tuple(_) | Value::List(_), "count") => positional(&["value"], 1),
        (Value::Tuple(_) | Value::List(_), "index") => positional(&["value", "start", "stop"], 1),
        (Value::Dict(_), "get") => positional(&["key", "default"], 1),
        (Value::Set(_) | Value::FrozenSet(_), "difference" | "intersection" | "union") => varargs(),
        (
            Value::Set(_) | Value::FrozenSet(_),
            "symmetric_difference" | "isdisjoint" | "issubset" | "issuperset",
        ) => positional(&["other"], 1),
        _ => no_args(),
    }
}

/// A call's arguments, bound to a method's parameters.
pub(crate) struct Bound {
    method: String,
    slots: Vec<Option<Value>>,
    rest: Vec<Value>,
}

impl Bound {
    /// The argument for parameter `i`, if given.
    pub(crate) fn take(&mut self, i: usize) -> Option<Value> {
        self.slots.get_mut(i).and_then(Option::take)
    }

    /// The further positional arguments of a `*args` method.
    fn rest(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.rest)
    }

    /// An integer argument (Python's `__index__`: `int` or `bool`).
    pub(crate) fn index_arg(&self, v: Value, what: &str) -> Result<i64, PyErr> {
        match v {
            Value::Int(i) => Ok(i),
            Value::Bool(b) => Ok(i64::from(b)),
            Value::BigInt(_) => Err(PyErr::overflow_error(format!(
                "{}() argument '{what}': Python int too large to convert to C ssize_t",
                self.method
            ))),
            other => Err(PyErr::type_error(format!(
                "'{}' object cannot be interpreted as an integer",
                other.python_type()
            ))),
        }
    }

    /// An optional slice index: `None` or an integer (saturating, as
    /// Python clamps slice indices).
    fn slice_index(&mut self, i: usize) -> Result<Option<i64>, PyErr> {
        match self.take(i) {
            None | Some(Value::None) => Ok(None),
            Some(Value::Int(n)) => Ok(Some(n)),
            Some(Value::Bool(b)) => Ok(Some(i64::from(b))),
            Some(Value::BigInt(b)) => Ok(Some(if b.is_negative() { i64::MIN } else { i64::MAX })),
            Some(_) => Err(PyErr::type_error(
                "slice indices must be integers or None or have an __index__ method",
            )),
        }
    }
}

fn bind(
    method: &str,
    sig: &Sig,
    args: Vec<Value>,
    kwds: Vec<(Value, Value)>,
) -> Result<Bound, PyErr> {
    let mut bound = Bound {
        method: method.to_owned(),
        slots: vec![None; sig.params.len()],
        rest: Vec::new(),
    };
    let given = args.len();
    if !sig.keywords && !kwds.is_empty() {
        return Err(PyErr::type_error(format!(
            "{method}() takes no keyword arguments"
        )));
    }
    for (i, arg) in args.into_iter().enumerate() {
        if i < sig.positional {
            if let Some(slot) = bound.slots.get_mut(i) {
                *slot = Some(arg);
            }
        } else if sig.varargs {
            bound.rest.push(arg);
        } else if sig.positional == 0 {
            return Err(PyErr::type_error(format!(
                "{method}() takes no arguments ({given} given)"
            )));
        } else {
            return Err(PyErr::type_error(format!(
                "{method}() takes at most {} arguments ({given} given)",
                sig.positional
            )));
        }
    }
    for (key, value) in kwds {
        let Value::Str(key) = key else {
            return Err(PyErr::type_error("keywords must be strings"));
        };
        let Some(i) = sig.params.iter().position(|p| *p == key) else {
            return Err(PyErr::type_error(format!(
                "{method}() got an unexpected keyword argument '{}'",
                crate::python::pyerr::clip_str(&key, crate::python::pyerr::QUOTE_CHARS)
            )));
        };
        match bound.slots.get_mut(i) {
            Some(slot @ None) => *slot = Some(value),
            _ => {
                return Err(PyErr::type_error(format!(
                    "argument for {method}() given by name ('{}') and position ({})",
                    crate::python::pyerr::clip_str(&key, crate::python::pyerr::QUOTE_CHARS),
                    i + 1
                )));
            }
        }
    }
    for (i, name) in sig.params.iter().enumerate().take(sig.required) {
        if bound.slots.get(i).is_none_or(Option::is_none) {
            return Err(PyErr::type_error(format!(
                "{method}() missing required argument '{name}' (pos {})",
                i + 1
            )));
        }
    }
    Ok(bound)
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

fn no_attribute(v: &Value, method: &str) -> PyErr {
    PyErr::new(
        "AttributeError",
        format!("'{}' object has no attribute '{method}'", v.python_type()),
    )
}

fn too_large(what: &str) -> PyErr {
    PyErr::memory_error(format!(
        "stdrpc: the result of {what}() would exceed {MAX_RESULT} elements"
    ))
}

// ---------------------------------------------------------------------------
// Searching, shared by str (over chars) and bytes.

/// Calls `found` with the start of each occurrence of `needle` in `hay`,
/// left to right, until it returns `false`. Knuth-Morris-Pratt: linear in
/// both lengths, whatever the input. An empty needle occurs at every
/// position, the end included.
fn search<T: PartialEq>(
    hay: &[T],
    needle: &[T],
    overlapping: bool,
    mut found: impl FnMut(usize) -> bool,
) {
    if needle.is_empty() {
        for i in 0..=hay.len() {
            if !found(i) {
                return;
            }
        }
        return;
    }
    let mut fail = vec![0usize; needle.len()];
    let mut k = 0;
    for i in 1..needle.len() {
        while k > 0 && needle[i] != needle[k] {
            k = fail[k - 1];
        }
        if needle[i] == needle[k] {
            k += 1;
        }
        fail[i] = k;
    }
    let mut q = 0;
    for (i, c) in hay.iter().enumerate() {
        while q > 0 && *c != needle[q] {
            q = fail[q - 1];
        }
        if *c == needle[q] {
            q += 1;
        }
        if q == needle.len() {
            if !found(i + 1 - q) {
                return;
            }
            q = if overlapping { fail[q - 1] } else { 0 };
        }
    }
}

/// Python's clamping of `start`/`end` for `find`, `count`, `startswith`...:
/// negative values count from the end; `start` may end up past `end`.
fn bounds(len: usize, start: Option<i64>, end: Option<i64>) -> (usize, usize) {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let adjust = |x: i64| {
        if x < 0 {
            x.saturating_add(len_i).max(0)
        } else {
            x
        }
    };
    let s = start.map_or(0, adjust);
    let e = end.map_or(len_i, adjust).min(len_i);
    (
        usize::try_from(s).unwrap_or(usize::MAX),
        usize::try_from(e).unwrap_or(0),
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Find {
    First,
    Last,
    Count,
}

/// `find`/`rfind` (position or -1) and `count` over `hay[start..end]`.
fn find<T: PartialEq>(
    hay: &[T],
    needle: &[T],
    start: Option<i64>,
    end: Option<i64>,
    mode: Find,
) -> i64 {
    let (s, e) = bounds(hay.len(), start, end);
    let Some(window) = hay.get(s..e) else {
        return if mode == Find::Count { 0 } else { -1 };
    };
    let mut hit: Option<usize> = None;
    let mut count = 0i64;
    search(window, needle, mode == Find::Last, |i| {
        count += 1;
        hit = Some(i);
        mode == Find::Last || mode == Find::Count
    });
    match (mode, hit) {
        (Find::Count, _) => count,
        (_, Some(i)) => (i + s) as i64,
        (_, None) => -1,
    }
}

/// `startswith`/`endswith` of one candidate over `hay[start..end]`.
fn affix<T: PartialEq>(
    hay: &[T],
    affix: &[T],
    start: Option<i64>,
    end: Option<i64>,
    at_end: bool,
) -> bool {
    let (s, e) = bounds(hay.len(), start, end);
    let Some(window) = hay.get(s..e) else {
        return false;
    };
    if at_end {
        window.ends_with(affix)
    } else {
        window.starts_with(affix)
    }
}

/// A sequence index (negative counts from the end), or `None` if out of range.
fn seq_index(i: i64, len: usize) -> Option<usize> {
    let len_i = i64::try_from(len).ok()?;
    let i = if i < 0 { i.checked_add(len_i)? } else { i };
    usize::try_from(i).ok().filter(|&i| i < len)
}

/// The integer index of `__getitem__`, or Python's `TypeError`.
fn item_index(key: Value, what: &str) -> Result<i64, PyErr> {
    match key {
        Value::Int(i) => Ok(i),
        Value::Bool(b) => Ok(i64::from(b)),
        Value::BigInt(b) => Ok(if b.is_negative() { i64::MIN } else { i64::MAX }),
        other => Err(PyErr::type_error(format!(
            "{what} indices must be integers or slices, not {}",
            other.python_type()
        ))),
    }
}

/// The elements of an iterable argument.
fn iterate(v: Value) -> Result<Vec<Value>, PyErr> {
    Ok(match v {
        Value::List(items) | Value::Tuple(items) | Value::Set(items) | Value::FrozenSet(items) => {
            items
        }
        Value::Dict(entries) => entries.into_iter().map(|(k, _)| k).collect(),
        Value::Str(s) => s.chars().map(|c| Value::Str(c.to_string())).collect(),
        Value::Bytes(b) => b.into_iter().map(Value::from).collect(),
        other => {
            return Err(PyErr::type_error(format!(
                "'{}' object is not iterable",
                other.python_type()
            )));
        }
    })
}

// ---------------------------------------------------------------------------
// str

fn expect_str(v: Value, what: &str) -> Result<String, PyErr> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(PyErr::type_error(format!(
            "{what} must be str, not {}",
            other.python_type()
        ))),
    }
}

/// The `str` candidates of `startswith`/`endswith`: one, or a tuple of them.
fn str_affixes(v: Value, method: &str) -> Result<Vec<String>, PyErr> {
    let bad = |t: &Value| {
        PyErr::type_error(format!(
            "{method} first arg must be str or a tuple of str, not {}",
            t.python_type()
        ))
    };
    match v {
        Value::Str(s) => Ok(vec![s]),
        Value::Tuple(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Str(s) => Ok(s),
                other => Err(PyErr::type_error(format!(
                    "tuple for {method} must only contain str, not {}",
                    other.python_type()
                ))),
            })
            .collect(),
        other => Err(bad(&other)),
    }
}

/// `s[start:end]` with Python's clamping of `find`'s indices (which count
/// characters): the window's first character index and its text; `None`
/// when `start` lies past `end`. Works on the UTF-8 bytes, without copying.
fn str_window(s: &str, start: Option<i64>, end: Option<i64>) -> Option<(usize, &str)> {
    if start.is_none() && end.is_none() {
        return Some((0, s));
    }
    let (a, b) = bounds(s.chars().count(), start, end);
    if a > b {
        return None;
    }
    let byte = |i: usize| s.char_indices().nth(i).map_or(s.len(), |(p, _)| p);
    Some((a, s.get(byte(a)..byte(b))?))
}

fn str_method(s: &str, method: &str, a: &mut Bound) -> Result<Value, PyErr> {
    Ok(match method {
        "__len__" => Value::from(s.chars().count()),
        "__contains__" => match a.take(0) {
            Some(Value::Str(sub)) => Value::Bool(s.contains(sub.as_str())),
            other => {
                return Err(PyErr::type_error(format!(
                    "'in <string>' requires string as left operand, not {}",
                    other.as_ref().map_or("NoneType", Value::python_type)
                )));
            }
        },
        "__getitem__" => {
            let i = item_index(a.take(0).unwrap_or(Value::None), "string")?;
            match seq_index(i, s.chars().count()).and_then(|i| s.chars().nth(i)) {
                Some(c) => Value::Str(c.to_string()),
                None => return Err(PyErr::index_error("string index out of range")),
            }
        }
        "count" | "find" | "rfind" | "index" | "rindex" => {
            let sub = expect_str(a.take(0).unwrap_or(Value::None), "substring")
                .map_err(|_| PyErr::type_error(format!("{method}() argument 1 must be str")))?;
            let (start, end) = (a.slice_index(1)?, a.slice_index(2)?);
            let window = str_window(s, start, end);
            let at = |(first, w): (usize, &str), byte: Option<usize>| {
                byte.and_then(|b| w.get(..b)).map_or(-1, |before| {
                    i64::try_from(first + before.chars().count()).unwrap_or(i64::MAX)
                })
            };
            let n = match (method, window) {
                ("count", None) => 0,
                ("count", Some((_, w))) => {
                    i64::try_from(w.matches(sub.as_str()).count()).unwrap_or(i64::MAX)
                }
                (_, None) => -1,
                ("find" | "index", Some(w)) => at(w, w.1.find(sub.as_str())),
                (_, Some(w)) => at(w, w.1.rfind(sub.as_str())),
            };
            if n < 0 && (method == "index" || method == "rindex") {
                return Err(PyErr::value_error("substring not found"));
            }
            Value::Int(n)
        }
        "startswith" | "endswith" => {
            let candidates = str_affixes(a.take(0).unwrap_or(Value::None), method)?;
            let (start, end) = (a.slice_index(1)?, a.slice_index(2)?);
            Value::Bool(str_window(s, start, end).is_some_and(|(_, w)| {
                candidates.iter().any(|c| {
                    if method == "endswith" {
                        w.ends_with(c.as_str())
                    } else {
                        w.starts_with(c.as_str())
                    }
                })
            }))
        }
        "encode" => Value::Bytes(encode(s, a)?),
        "isascii" => Value::Bool(s.is_ascii()),
        "join" => {
            let items = iterate(a.take(0).unwrap_or(Value::None))?;
            let mut total = 0usize;
            let mut parts = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::Str(p) => {
                        total = total.saturating_add(p.len()).saturating_add(s.len());
                        parts.push(p);
                    }
                    other => {
                        return Err(PyErr::type_error(format!(
                            "sequence item {i}: expected str instance, {} found",
                            other.python_type()
                        )));
                    }
                }
            }
            if total > MAX_RESULT * 4 {
                return Err(too_large(method));
            }
            Value::Str(parts.join(s))
        }
        "lower" => Value::Str(s.to_lowercase()),
        "upper" => Value::Str(s.to_uppercase()),
        "strip" | "lstrip" | "rstrip" => {
            let set: Option<Vec<char>> = match a.take(0) {
                None | Some(Value::None) => None,
                Some(Value::Str(c)) => Some(c.chars().collect()),
                Some(other) => {
                    return Err(PyErr::type_error(format!(
                        "{method} arg must be None or str, not {}",
                        other.python_type()
                    )));
                }
            };
            let strip = |c: char| match &set {
                None => is_py_space(c),
                Some(set) => set.contains(&c),
            };
            Value::Str(
                match method {
                    "strip" => s.trim_matches(strip),
                    "lstrip" => s.trim_start_matches(strip),
                    _ => s.trim_end_matches(strip),
                }
                .to_owned(),
            )
        }
        "removeprefix" | "removesuffix" => {
            let what = expect_str(
                a.take(0).unwrap_or(Value::None),
                &format!("{method}() argument"),
            )?;
            let out = if method == "removeprefix" {
                s.strip_prefix(what.as_str())
            } else {
                s.strip_suffix(what.as_str())
            };
            Value::Str(out.unwrap_or(s).to_owned())
        }
        "replace" => {
            let old = expect_str(a.take(0).unwrap_or(Value::None), "replace() argument 1")?;
            let new = expect_str(a.take(1).unwrap_or(Value::None), "replace() argument 2")?;
            let count = match a.take(2) {
                None => -1,
                Some(c) => a.index_arg(c, "count")?,
            };
            let limit = usize::try_from(count).unwrap_or(usize::MAX);
            let hits = s.matches(old.as_str()).take(limit).count();
            let len = s
                .len()
                .saturating_sub(hits.saturating_mul(old.len()))
                .saturating_add(hits.saturating_mul(new.len()));
            if len > MAX_RESULT * 4 {
                return Err(too_large(method));
            }
            Value::Str(s.replacen(old.as_str(), &new, limit))
        }
        "split" => {
            let sep = match a.take(0) {
                None | Some(Value::None) => None,
                Some(Value::Str(sep)) if sep.is_empty() => {
                    return Err(PyErr::value_error("empty separator"));
                }
                Some(Value::Str(sep)) => Some(sep),
                Some(other) => {
                    return Err(PyErr::type_error(format!(
                        "must be str or None, not {}",
                        other.python_type()
                    )));
                }
            };
            let maxsplit = match a.take(1) {
                None => -1,
                Some(m) => a.index_arg(m, "maxsplit")?,
            };
            let limit = usize::try_from(maxsplit).unwrap_or(usize::MAX);
            let parts: Vec<Value> = match sep {
                None => split_whitespace(s, limit),
                Some(sep) => s
                    .splitn(limit.saturating_add(1), sep.as_str())
                    .map(|p| Value::Str(p.to_owned()))
                    .collect(),
            };
            Value::List(parts)
        }
        _ => return Err(no_attribute(&Value::Str(String::new()), method)),
    })
}

/// `str.split()` without a separator: runs of whitespace, at most `limit`
/// splits, the remainder kept with its trailing whitespace.
fn split_whitespace(s: &str, limit: usize) -> Vec<Value> {
    let mut parts = Vec::new();
    let mut rest = s.trim_start_matches(is_py_space);
    while !rest.is_empty() {
        if parts.len() == limit {
            parts.push(Value::Str(rest.to_owned()));
            break;
        }
        let end = rest.find(is_py_space).unwrap_or(rest.len());
        parts.push(Value::Str(rest[..end].to_owned()));
        rest = rest[end..].trim_start_matches(is_py_space);
    }
    parts
}

/// Normalises an encoding name as Python's codec lookup does, for the
/// ones supported here.
fn codec(name: Option<Value>) -> Result<&'static str, PyErr> {
    let name = match name {
        None => return Ok("utf-8"),
        Some(v) => expect_str(v, "encoding")?,
    };
    let norm = name.to_ascii_lowercase().replace('_', "-");
    match norm.as_str() {
        "utf-8" | "utf8" | "u8" => Ok("utf-8"),
        "ascii" | "us-ascii" => Ok("ascii"),
        "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "l1" => Ok("latin-1"),
        _ => Err(PyErr::new(
            "LookupError",
            format!(
                "unknown encoding (stdrpc supports utf-8, ascii and latin-1): {}",
                crate::python::pyerr::clip_str(&name, crate::python::pyerr::QUOTE_CHARS)
            ),
        )),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Errors {
    Strict,
    Ignore,
    Replace,
}

fn error_handler(v: Option<Value>) -> Result<Errors, PyErr> {
    match v {
        None => Ok(Errors::Strict),
        Some(v) => match expect_str(v, "errors")?.as_str() {
            "strict" => Ok(Errors::Strict),
            "ignore" => Ok(Errors::Ignore),
            "replace" => Ok(Errors::Replace),
            other => Err(PyErr::new(
                "LookupError",
                format!(
                    "unknown error handler name '{}'",
                    crate::python::pyerr::clip_str(other, crate::python::pyerr::QUOTE_CHARS)
                ),
            )),
        },
    }
}

fn encode(s: &str, a: &mut Bound) -> Result<Vec<u8>, PyErr> {
    let codec = codec(a.take(0))?;
    let errors = error_handler(a.take(1))?;
    let limit: u32 = match codec {
        "utf-8" => return Ok(s.as_bytes().to_vec()),
        "ascii" => 0x80,
        _ => 0x100,
    };
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    for (i, &c) in chars.iter().enumerate() {
        match u8::try_from(u32::from(c)) {
            Ok(b) if u32::from(c) < limit => out.push(b),
            _ => match errors {
                Errors::Ignore => {}
                Errors::Replace => out.push(b'?'),
                Errors::Strict => {
                    let end = chars[i..]
                        .iter()
                        .position(|&c| u32::from(c) < limit)
                        .map_or(chars.len(), |n| i + n);
                    return Err(PyErr::with_args(
                        "UnicodeEncodeError",
                        vec![
                            codec.into(),
                            s.into(),
                            Value::from(i),
                            Value::from(end),
                            format!("ordinal not in range({limit})").into(),
                        ],
                    ));
                }
            },
        }
    }
    Ok(out)
}

fn decode(b: &[u8], a: &mut Bound) -> Result<String, PyErr> {
    let codec = codec(a.take(0))?;
    let errors = error_handler(a.take(1))?;
    let fail = |start: usize, end: usize, reason: &str| {
        PyErr::with_args(
            "UnicodeDecodeError",
            vec![
                codec.into(),
                Value::Bytes(b.to_vec()),
                Value::from(start),
                Value::from(end),
                reason.into(),
            ],
        )
    };
    match codec {
        "utf-8" => match (std::str::from_utf8(b), errors) {
            (Ok(s), _) => Ok(s.to_owned()),
            (Err(_), Errors::Replace | Errors::Ignore) => {
                let mut out = String::with_capacity(b.len());
                for chunk in b.utf8_chunks() {
                    out.push_str(chunk.valid());
                    if !chunk.invalid().is_empty() && errors == Errors::Replace {
                        out.push('\u{fffd}');
                    }
                }
                Ok(out)
            }
            (Err(e), Errors::Strict) => {
                let start = e.valid_up_to();
                let (end, reason) = match e.error_len() {
                    None => (b.len(), "unexpected end of data"),
                    Some(n) => {
                        let first = b.get(start).copied().unwrap_or(0);
                        let reason = if (0x80..0xc2).contains(&first) || first > 0xf4 {
                            "invalid start byte"
                        } else {
                            "invalid continuation byte"
                        };
                        (start + n, reason)
                    }
                };
                Err(fail(start, end, reason))
            }
        },
        "ascii" => {
            let mut out = String::with_capacity(b.len());
            for (i, &byte) in b.iter().enumerate() {
                if byte < 0x80 {
                    out.push(char::from(byte));
                } else {
                    match errors {
                        Errors::Ignore => {}
                        Errors::Replace => out.push('\u{fffd}'),
                        Errors::Strict => return Err(fail(i, i + 1, "ordinal not in range(128)")),
                    }
                }
            }
            Ok(out)
        }
        _ => Ok(b.iter().map(|&c| char::from(c)).collect()),
    }
}

// ---------------------------------------------------------------------------
// bytes

/// A `bytes` argument that may also be a single byte value (`find(10)`).
fn byte_needle(v: Value, method: &str) -> Result<Vec<u8>, PyErr> {
    match v {
        Value::Bytes(b) => Ok(b),
        Value::Int(i) => u8::try_from(i)
            .map(|b| vec![b])
            .map_err(|_| PyErr::value_error("byte must be in range(0, 256)")),
        Value::Bool(b) => Ok(vec![u8::from(b)]),
        other => Err(PyErr::type_error(format!(
            "argument should be integer or bytes-like object, not '{}' ({method})",
            other.python_type()
        ))),
    }
}

fn bytes_affixes(v: Value, method: &str) -> Result<Vec<Vec<u8>>, PyErr> {
    match v {
        Value::Bytes(b) => Ok(vec![b]),
        Value::Tuple(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Bytes(b) => Ok(b),
                other => Err(PyErr::type_error(format!(
                    "a bytes-like object is required, not '{}'",
                    other.python_type()
                ))),
            })
            .collect(),
        other => Err(PyErr::type_error(format!(
            "{method} first arg must be bytes or a tuple of bytes, not {}",
            other.python_type()
        ))),
    }
}

fn bytes_method(b: &[u8], method: &str, a: &mut Bound) -> Result<Value, PyErr> {
    Ok(match method {
        "__len__" => Value::from(b.len()),
        "__contains__" => {
            let needle = byte_needle(a.take(0).unwrap_or(Value::None), method)?;
            Value::Bool(find(b, &needle, None, None, Find::First) >= 0)
        }
        "__getitem__" => {
            let i = item_index(a.take(0).unwrap_or(Value::None), "byte")?;
            match seq_index(i, b.len()).and_then(|i| b.get(i)) {
                Some(&byte) => Value::from(byte),
                None => return Err(PyErr::index_error("index out of range")),
            }
        }
        "count" | "find" | "rfind" | "index" | "rindex" => {
            let needle = byte_needle(a.take(0).unwrap_or(Value::None), method)?;
            let (start, end) = (a.slice_index(1)?, a.slice_index(2)?);
            let mode = match method {
                "count" => Find::Count,
                "find" | "index" => Find::First,
                _ => Find::Last,
            };
            let n = find(b, &needle, start, end, mode);
            if n < 0 && (method == "index" || method == "rindex") {
                return Err(PyErr::value_error("subsection not found"));
            }
            Value::Int(n)
        }
        "startswith" | "endswith" => {
            let candidates = bytes_affixes(a.take(0).unwrap_or(Value::None), method)?;
            let (start, end) = (a.slice_index(1)?, a.slice_index(2)?);
            Value::Bool(
                candidates
                    .iter()
                    .any(|c| affix(b, c, start, end, method == "endswith")),
            )
        }
        "decode" => Value::Str(decode(b, a)?),
        "hex" => Value::Str(b.iter().map(|x| format!("{x:02x}")).collect()),
        "isascii" => Value::Bool(b.is_ascii()),
        "lower" => Value::Bytes(b.to_ascii_lowercase()),
        "upper" => Value::Bytes(b.to_ascii_uppercase()),
        _ => return Err(no_attribute(&Value::Bytes(Vec::new()), method)),
    })
}

// ---------------------------------------------------------------------------
// tuple and list

fn seq_method(v: &Value, items: &[Value], method: &str, a: &mut Bound) -> Result<Value, PyErr> {
    let kind = v.python_type();
    Ok(match method {
        "__len__" => Value::from(items.len()),
        "__contains__" => {
            let x = a.take(0).unwrap_or(Value::None);
            Value::Bool(items.iter().any(|i| py_eq(i, &x)))
        }
        "__getitem__" => {
            let i = item_index(a.take(0).unwrap_or(Value::None), kind)?;
            match seq_index(i, items.len()).and_then(|i| items.get(i)) {
                Some(item) => item.clone(),
                None => return Err(PyErr::index_error(format!("{kind} index out of range"))),
            }
        }
        "count" => {
            let x = a.take(0).unwrap_or(Value::None);
            Value::from(items.iter().filter(|i| py_eq(i, &x)).count())
        }
        "index" => {
            let x = a.take(0).unwrap_or(Value::None);
            let (start, stop) = (a.slice_index(1)?, a.slice_index(2)?);
            let (s, e) = bounds(items.len(), start, stop);
            let found = items
                .get(s..e)
                .and_then(|w| w.iter().position(|i| py_eq(i, &x)));
            match found {
                Some(i) => Value::from(i + s),
                None if kind == "list" => {
                    return Err(PyErr::value_error(format!(
                        "{} is not in list",
                        crate::python::manager::objects::repr_prefix(
                            &x,
                            crate::python::pyerr::QUOTE_CHARS
                        )
                    )));
                }
                None => return Err(PyErr::value_error("tuple.index(x): x not in tuple")),
            }
        }
        "copy" => v.clone(),
        _ => return Err(no_attribute(v, method)),
    })
}

// ---------------------------------------------------------------------------
// dict

fn dict_method(entries: &[(Value, Value)], method: &str, a: &mut Bound) -> Result<Value, PyErr> {
    let lookup = |key: &Value| -> Result<Option<&Value>, PyErr> {
        check_hashable(key)?;
        Ok(entries.iter().find(|(k, _)| py_eq(k, key)).map(|(_, v)| v))
    };
    Ok(match method {
        "__len__" => Value::from(entries.len()),
        "__contains__" => Value::Bool(lookup(&a.take(0).unwrap_or(Value::None))?.is_some()),
        "__getitem__" => {
            let key = a.take(0).unwrap_or(Value::None);
            match lookup(&key)? {
                Some(v) => v.clone(),
                None => return Err(PyErr::key_error(key)),
            }
        }
        "get" => {
            let key = a.take(0).unwrap_or(Value::None);
            match lookup(&key)? {
                Some(v) => v.clone(),
                None => a.take(1).unwrap_or(Value::None),
            }
        }
        "copy" => Value::Dict(entries.to_vec()),
        // Python's manager sends dict views as lists.
        "keys" => Value::List(entries.iter().map(|(k, _)| k.clone()).collect()),
        "values" => Value::List(entries.iter().map(|(_, v)| v.clone()).collect()),
        "items" => Value::List(
            entries
                .iter()
                .map(|(k, v)| Value::Tuple(vec![k.clone(), v.clone()]))
                .collect(),
        ),
        _ => return Err(no_attribute(&Value::Dict(Vec::new()), method)),
    })
}

// ---------------------------------------------------------------------------
// set and frozenset

/// The elements of a set-algebra argument, each hashable.
fn set_operand(v: Value) -> Result<Vec<Value>, PyErr> {
    let items = iterate(v)?;
    for item in &items {
        check_hashable(item)?;
    }
    Ok(items)
}

fn set_method(v: &Value, items: &[Value], method: &str, a: &mut Bound) -> Result<Value, PyErr> {
    let same_kind = |out: Vec<Value>| match v {
        Value::FrozenSet(_) => Value::FrozenSet(out),
        _ => Value::Set(out),
    };
    let mine = Index::of(items);
    let collect = |index: &Index<'_>| {
        index
            .items()
            .iter()
            .map(|x| (*x).clone())
            .collect::<Vec<_>>()
    };
    Ok(match method {
        "__len__" => Value::from(items.len()),
        "__contains__" => {
            let x = a.take(0).unwrap_or(Value::None);
            // Python looks a set up as the equal frozenset.
            if !matches!(x, Value::Set(_)) {
                check_hashable(&x)?;
            }
            Value::Bool(mine.contains(&x))
        }
        "copy" => v.clone(),
        "union" => {
            let others = a
                .rest()
                .into_iter()
                .map(set_operand)
                .collect::<Result<Vec<_>, _>>()?;
            let mut out = Index::of(items);
            for other in &others {
                for x in other {
                    out.insert(x);
                }
            }
            same_kind(collect(&out))
        }
        "intersection" | "difference" => {
            let others = a
                .rest()
                .into_iter()
                .map(set_operand)
                .collect::<Result<Vec<_>, _>>()?;
            let indexes: Vec<Index<'_>> = others.iter().map(Index::of).collect();
            let keep = |x: &Value| {
                if method == "intersection" {
                    indexes.iter().all(|i| i.contains(x))
                } else {
                    !indexes.iter().any(|i| i.contains(x))
                }
            };
            same_kind(items.iter().filter(|x| keep(x)).cloned().collect())
        }
        "symmetric_difference" => {
            let other = set_operand(a.take(0).unwrap_or(Value::None))?;
            let theirs = Index::of(&other);
            let mut out = Index::new();
            for x in items.iter().filter(|x| !theirs.contains(x)) {
                out.insert(x);
            }
            for x in other.iter().filter(|x| !mine.contains(x)) {
                out.insert(x);
            }
            same_kind(collect(&out))
        }
        "isdisjoint" | "issubset" | "issuperset" => {
            let other = set_operand(a.take(0).unwrap_or(Value::None))?;
            let theirs = Index::of(&other);
            Value::Bool(match method {
                "isdisjoint" => !items.iter().any(|x| theirs.contains(x)),
                "issubset" => items.iter().all(|x| theirs.contains(x)),
                _ => other.iter().all(|x| mine.contains(x)),
            })
        }
        _ => return Err(no_attribute(v, method)),
    })
}

#[cfg(test)]
mod tests {
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
}
