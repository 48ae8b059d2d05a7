//! The methods of `dict`.

use super::args::{Bound, no_attribute};
use super::eq::{check_hashable, py_eq};
use crate::python::pickle::Value;
use crate::python::pyerr::PyErr;

pub(super) fn dict_method(
    entries: &[(Value, Value)],
    method: &str,
    a: &mut Bound,
) -> Result<Value, PyErr> {
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
