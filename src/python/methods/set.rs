//! The methods of `set` and `frozenset`.

use super::args::{Bound, no_attribute};
use super::eq::{Index, check_hashable};
use super::sequence::iterate;
use crate::python::pickle::Value;
use crate::python::pyerr::PyErr;

/// The elements of a set-algebra argument, each hashable.
pub(super) fn set_operand(v: Value) -> Result<Vec<Value>, PyErr> {
    let items = iterate(v)?;
    for item in &items {
        check_hashable(item)?;
    }
    Ok(items)
}

pub(super) fn set_method(
    v: &Value,
    items: &[Value],
    method: &str,
    a: &mut Bound,
) -> Result<Value, PyErr> {
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
