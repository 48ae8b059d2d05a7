//! The methods of `str`, with the codecs of `str.encode` and `bytes.decode`.

use super::args::{Bound, no_attribute};
use super::numbers::is_py_space;
use super::sequence::{MAX_RESULT, bounds, item_index, iterate, seq_index, too_large};
use crate::python::pickle::Value;
use crate::python::pyerr::PyErr;

pub(super) fn expect_str(v: Value, what: &str) -> Result<String, PyErr> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(PyErr::type_error(format!(
            "{what} must be str, not {}",
            other.python_type()
        ))),
    }
}

/// The `str` candidates of `startswith`/`endswith`: one, or a tuple of them.
pub(super) fn str_affixes(v: Value, method: &str) -> Result<Vec<String>, PyErr> {
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
pub(super) fn str_window(s: &str, start: Option<i64>, end: Option<i64>) -> Option<(usize, &str)> {
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

pub(super) fn str_method(s: &str, method: &str, a: &mut Bound) -> Result<Value, PyErr> {
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
        "count" | "find" | "rfind" | "index" | "rindex" => str_find(s, method, a)?,
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
        "join" => join(s, a)?,
        "lower" => Value::Str(s.to_lowercase()),
        "upper" => Value::Str(s.to_uppercase()),
        "strip" | "lstrip" | "rstrip" => strip(s, method, a)?,
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
        "replace" => replace(s, a)?,
        "split" => split(s, a)?,
        _ => return Err(no_attribute(&Value::Str(String::new()), method)),
    })
}

/// `count`, `find`, `rfind`, `index`, `rindex`: a substring in a window of `s`.
fn str_find(s: &str, method: &str, a: &mut Bound) -> Result<Value, PyErr> {
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
    Ok(Value::Int(n))
}

/// `join`: the strings of an iterable with `s` between them, bounded.
fn join(s: &str, a: &mut Bound) -> Result<Value, PyErr> {
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
        return Err(too_large("join"));
    }
    Ok(Value::Str(parts.join(s)))
}

/// `strip`, `lstrip`, `rstrip`: whitespace or the given characters.
fn strip(s: &str, method: &str, a: &mut Bound) -> Result<Value, PyErr> {
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
    Ok(Value::Str(
        match method {
            "strip" => s.trim_matches(strip),
            "lstrip" => s.trim_start_matches(strip),
            _ => s.trim_end_matches(strip),
        }
        .to_owned(),
    ))
}

/// `replace`, bounded before the result is built.
fn replace(s: &str, a: &mut Bound) -> Result<Value, PyErr> {
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
        return Err(too_large("replace"));
    }
    Ok(Value::Str(s.replacen(old.as_str(), &new, limit)))
}

/// `split`: on whitespace or on a separator, at most `maxsplit` times.
fn split(s: &str, a: &mut Bound) -> Result<Value, PyErr> {
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
    Ok(Value::List(parts))
}

/// `str.split()` without a separator: runs of whitespace, at most `limit`
/// splits, the remainder kept with its trailing whitespace.
pub(super) fn split_whitespace(s: &str, limit: usize) -> Vec<Value> {
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
pub(super) fn codec(name: Option<Value>) -> Result<&'static str, PyErr> {
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
pub(super) enum Errors {
    Strict,
    Ignore,
    Replace,
}

pub(super) fn error_handler(v: Option<Value>) -> Result<Errors, PyErr> {
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

pub(super) fn encode(s: &str, a: &mut Bound) -> Result<Vec<u8>, PyErr> {
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

pub(super) fn decode(b: &[u8], a: &mut Bound) -> Result<String, PyErr> {
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
