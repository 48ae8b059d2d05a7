//! The methods of `tuple` and `list`.

use super::args::{Bound, no_attribute};
use super::eq::py_eq;
use super::sequence::{bounds, item_index, seq_index};
use crate::python::pickle::Value;
use crate::python::pyerr::PyErr;

pub(super) fn seq_method(
    v: &Value,
    items: &[Value],
    method: &str,
    a: &mut Bound,
) -> Result<Value, PyErr> {
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
