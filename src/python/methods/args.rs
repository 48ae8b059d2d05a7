//! Binding a call's arguments to a builtin method's parameters, as
//! CPython does: positional-only or keyword parameters, required ones,
//! `*args`, and Python's `TypeError` texts.

use crate::python::pickle::Value;
use crate::python::pyerr::PyErr;

/// A method's parameters.
pub(super) struct Sig {
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

pub(super) const fn no_args() -> Sig {
    positional(&[], 0)
}

pub(super) const fn positional(params: &'static [&'static str], required: usize) -> Sig {
    Sig {
        params,
        required,
        positional: params.len(),
        keywords: false,
        varargs: false,
    }
}

pub(super) const fn keywords(
    params: &'static [&'static str],
    required: usize,
    positional: usize,
) -> Sig {
    Sig {
        params,
        required,
        positional,
        keywords: true,
        varargs: false,
    }
}

pub(super) const fn varargs() -> Sig {
    Sig {
        varargs: true,
        ..no_args()
    }
}

pub(super) fn sig(v: &Value, method: &str) -> Sig {
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
    pub(super) fn rest(&mut self) -> Vec<Value> {
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
    pub(super) fn slice_index(&mut self, i: usize) -> Result<Option<i64>, PyErr> {
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

pub(super) fn bind(
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

/// The `AttributeError` for a method `v`'s type does not have.
pub(super) fn no_attribute(v: &Value, method: &str) -> PyErr {
    PyErr::new(
        "AttributeError",
        format!("'{}' object has no attribute '{method}'", v.python_type()),
    )
}
