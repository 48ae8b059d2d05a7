//! The methods of `bytes`.

use super::args::{Bound, no_attribute};
use super::sequence::{Find, affix, find, item_index, seq_index};
use super::string::decode;
use crate::python::pickle::Value;
use crate::python::pyerr::PyErr;

/// A `bytes` argument that may also be a single byte value (`find(10)`).
pub(super) fn byte_needle(v: Value, method: &str) -> Result<Vec<u8>, PyErr> {
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

pub(super) fn bytes_affixes(v: Value, method: &str) -> Result<Vec<Vec<u8>>, PyErr> {
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

pub(super) fn bytes_method(b: &[u8], method: &str, a: &mut Bound) -> Result<Value, PyErr> {
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
