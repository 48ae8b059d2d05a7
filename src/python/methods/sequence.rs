//! What the sequence methods share: searching (over the chars of a `str`,
//! the bytes of a `bytes`, the items of a list), slice bounds, indices,
//! iteration, and the bound on every result.

use crate::python::pickle::Value;
use crate::python::pyerr::PyErr;

/// The most elements (characters, bytes, items) a method result may hold.
pub(super) const MAX_RESULT: usize = 16 * 1024 * 1024;

/// Calls `found` with the start of each occurrence of `needle` in `hay`,
/// left to right, until it returns `false`. Knuth-Morris-Pratt: linear in
/// both lengths, whatever the input. An empty needle occurs at every
/// position, the end included.
pub(super) fn search<T: PartialEq>(
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
pub(super) fn bounds(len: usize, start: Option<i64>, end: Option<i64>) -> (usize, usize) {
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
pub(super) enum Find {
    First,
    Last,
    Count,
}

/// `find`/`rfind` (position or -1) and `count` over `hay[start..end]`.
pub(super) fn find<T: PartialEq>(
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
pub(super) fn affix<T: PartialEq>(
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
pub(super) fn seq_index(i: i64, len: usize) -> Option<usize> {
    let len_i = i64::try_from(len).ok()?;
    let i = if i < 0 { i.checked_add(len_i)? } else { i };
    usize::try_from(i).ok().filter(|&i| i < len)
}

/// The integer index of `__getitem__`, or Python's `TypeError`.
pub(super) fn item_index(key: Value, what: &str) -> Result<i64, PyErr> {
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
pub(super) fn iterate(v: Value) -> Result<Vec<Value>, PyErr> {
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

pub(super) fn too_large(what: &str) -> PyErr {
    PyErr::memory_error(format!(
        "stdrpc: the result of {what}() would exceed {MAX_RESULT} elements"
    ))
}
