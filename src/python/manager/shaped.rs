//! Calls between Python values and handlers, through shapes: a Python
//! call's positional arguments become the handler's argument bytes as its
//! [`Signature`] says, the handler runs through the registry's one entry
//! point (bytes in, bytes out), and its result bytes become a Python value
//! as the result shape says. The conversions themselves are in
//! `src/pickle/convert.rs`; this module adds the call's rules (how many
//! arguments, the `TypeError` texts) and the Rust client's direction.
//!
//! # Arguments
//!
//! A handler's arguments are one value (`()` for none, the value for one, a
//! tuple for several), so its argument shape lists its parameters: a tuple
//! shape's fields, else the shape itself. A Python call passes one
//! positional argument per parameter; as before shapes, a call of a
//! several-parameter method may also pass them as one tuple (`f((1, 2))`).
//!
//! # `TypeError` texts
//!
//! One form, CPython's order of facts:
//!
//! * wrong count: `get() takes 1 argument (key: str), 2 given`,
//!   `size() takes no arguments, 1 given`;
//! * wrong type: `put() argument 2 (value: int): expected int, got str`.
//!
//! Parameter names appear where the registry knows them (`service!`
//! methods); otherwise only the types: `get() takes 1 argument (str), 2 given`.

use crate::codec::{Decode, Encode, Shape, Signature, from_slice, to_vec};
use crate::error::{Error, Result};
use crate::python::convert::{bytes_to_value, python_type, value_to_bytes};
use crate::python::pickle::Value;
use crate::python::pyerr::{PyErr, QUOTE_CHARS, clip_str};
use crate::registry::{Callee, Check, Registry};

/// Why a Python call of a handler produced no value.
#[derive(Debug)]
pub(crate) enum CallError {
    /// No handler has that name.
    NoSuchMethod,
    /// The arguments do not fit the handler's parameters: a `TypeError`
    /// the caller made; the handler did not run.
    Arguments(PyErr),
    /// The handler failed (its `Err`, a panic) or its result has no Python
    /// form.
    Failed(PyErr),
}

/// Calls the handler `name` with Python's positional `args`; `shown` is the
/// name error texts call it by (`get` for the method `Kv.get`).
pub(crate) fn call(
    registry: &Registry,
    context: &crate::context::Context,
    name: &str,
    shown: &str,
    args: &[Value],
) -> std::result::Result<Value, CallError> {
    let Some(sig) = registry.signature(name) else {
        return Err(CallError::NoSuchMethod);
    };
    let shown = clip_str(shown, QUOTE_CHARS);
    let mut bytes = Vec::new();
    args_to_bytes(&shown, sig, registry.params(name), args, &mut bytes)
        .map_err(CallError::Arguments)?;
    let mut out = Vec::new();
    registry
        .dispatch(Callee::Named(name), Check::NONE, &bytes, &mut out, context)
        .map_err(|f| CallError::Failed(PyErr::from_failure(&f)))?;
    bytes_to_value(&sig.result, &out).map_err(|e| {
        CallError::Failed(PyErr::new(
            "RuntimeError",
            format!(
                "{shown}() returned a {} that cannot be converted for Python: {}",
                sig.result,
                decode_text(&e)
            ),
        ))
    })
}

/// The parameters of an argument shape: a tuple's fields, else the one.
fn params(args: &Shape) -> &[Shape] {
    match args {
        Shape::Tuple(fields) => fields,
        one => std::slice::from_ref(one),
    }
}

/// `key: str` for each parameter, or `str` where names are unknown.
fn param_texts(args: &Shape, names: Option<&[&str]>) -> Vec<String> {
    let params = params(args);
    let names = names.filter(|n| n.len() == params.len());
    params
        .iter()
        .enumerate()
        .map(|(i, shape)| match names {
            Some(names) => format!("{}: {}", names[i], python_type(shape)),
            None => python_type(shape),
        })
        .collect()
}

/// A method's signature as Python sees it: `(key: str, value: int) -> None`.
pub(crate) fn python_signature(sig: &Signature, names: Option<&[&str]>) -> String {
    format!(
        "({}) -> {}",
        param_texts(&sig.args, names).join(", "),
        python_type(&sig.result)
    )
}

/// Every registered method with its Python signature, sorted by name: what
/// Python callers get from `stdrpc.methods`.
pub(crate) fn signatures(registry: &Registry) -> Value {
    let list = registry
        .names()
        .into_iter()
        .filter_map(|name| {
            let sig = registry.signature(name)?;
            let text = python_signature(sig, registry.params(name));
            Some(Value::Tuple(vec![Value::from(name), Value::Str(text)]))
        })
        .collect();
    Value::List(list)
}

/// Writes Python's positional `args` as the bytes of the handler's
/// arguments; a `TypeError` if they do not fit.
fn args_to_bytes(
    shown: &str,
    sig: &Signature,
    names: Option<&[&str]>,
    args: &[Value],
    out: &mut Vec<u8>,
) -> std::result::Result<(), PyErr> {
    if sig.args == Shape::Opaque("raw bytes") {
        return Err(PyErr::type_error(format!(
            "{shown}() takes raw bytes and cannot be called from Python"
        )));
    }
    if sig.args.is_opaque() {
        return Err(PyErr::type_error(format!(
            "{shown}() cannot be called from Python: its parameters {} have no Python form",
            sig.args
        )));
    }
    let params = params(&sig.args);
    let n = params.len();
    let spread = match args {
        args if args.len() == n => args,
        [Value::Tuple(items) | Value::List(items)] if n != 1 && items.len() == n => items,
        _ => {
            let texts = param_texts(&sig.args, names);
            let given = args.len();
            return Err(PyErr::type_error(match n {
                0 => format!("{shown}() takes no arguments, {given} given"),
                1 => format!("{shown}() takes 1 argument ({}), {given} given", texts[0]),
                n => format!(
                    "{shown}() takes {n} arguments ({}), {given} given",
                    texts.join(", ")
                ),
            }));
        }
    };
    for (i, (shape, value)) in params.iter().zip(spread).enumerate() {
        value_to_bytes(shape, value, out).map_err(|e| {
            let param = match names.filter(|n| n.len() == params.len()) {
                Some(names) => format!("{}: {}", names[i], python_type(shape)),
                None => python_type(shape),
            };
            PyErr::type_error(format!("{shown}() argument {} ({param}): {e}", i + 1))
        })?;
    }
    Ok(())
}

/// A decode error's own text, without the "decode error: " prefix.
fn decode_text(e: &Error) -> String {
    match e {
        Error::Decode(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

// ---- the Rust client's direction --------------------------------------------

/// A Rust value as the positional arguments of a call into Python: a
/// tuple's fields, none for `()`, anything else as the one argument. The
/// value is encoded and read back as its shape says.
///
/// # Errors
/// [`Error::Decode`]: the type has no Python form.
pub(crate) fn to_args<A: Encode + ?Sized>(args: &A) -> Result<Vec<Value>> {
    let shape = A::shape();
    let value = bytes_to_value(&shape, &to_vec(args))?;
    Ok(match (&shape, value) {
        (Shape::Tuple(fields), _) if fields.is_empty() => Vec::new(),
        (Shape::Tuple(_), Value::Tuple(items)) => items,
        (_, value) => vec![value],
    })
}

/// A Python value as a Rust `R`, through `R`'s shape.
///
/// # Errors
/// [`Error::Decode`]: the value does not fit `R` (or `R` has no Python form).
pub(crate) fn from_value<R: Decode>(value: &Value) -> Result<R> {
    let mut bytes = Vec::new();
    value_to_bytes(&R::shape(), value, &mut bytes).map_err(|e| Error::decode(e.message))?;
    from_slice(&bytes)
}

/// The kind a [`CallError`] stands for, for tests.
#[cfg(test)]
fn kind(e: &CallError) -> Option<crate::error::RemoteKind> {
    use crate::error::RemoteKind;
    match e {
        CallError::NoSuchMethod => Some(RemoteKind::NoSuchMethod),
        CallError::Arguments(_) => Some(RemoteKind::BadArguments),
        CallError::Failed(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Handler;

    /// The core's test registry, with a handler whose parameters are named.
    fn registry() -> Registry {
        let mut r = crate::registry::test_registry();
        r.insert(
            "put",
            Handler::into_erased(|_k: String, _v: i64| ()).with_params(&["key", "value"]),
        );
        r
    }

    fn text(e: CallError) -> String {
        match e {
            CallError::Arguments(e) | CallError::Failed(e) => e.line(),
            CallError::NoSuchMethod => "no such method".into(),
        }
    }

    #[test]
    fn python_values_reach_the_same_closures() {
        let r = registry();
        let call = |name: &str, args: &[Value]| call(&r, &Default::default(), name, name, args);
        assert_eq!(call("zero", &[]).unwrap(), Value::Int(42));
        assert_eq!(call("one", &[Value::from("abc")]).unwrap(), Value::Int(3));
        let two = [Value::Int(2), Value::Int(3)];
        assert_eq!(call("two", &two).unwrap(), Value::Int(5));
        assert_eq!(call("tuple", &two).unwrap(), Value::Int(6));
        // Several parameters may come as one tuple, as before.
        let one_tuple = [Value::Tuple(two.to_vec())];
        assert_eq!(call("two", &one_tuple).unwrap(), Value::Int(5));
        assert_eq!(
            call("put", &[Value::from("k"), 1.into()]).unwrap(),
            Value::None
        );
        let e = call("fail", &[Value::Int(-1)]).unwrap_err();
        assert_eq!(text(e), "RuntimeError: not positive");
        let e = call("panic", &[]).unwrap_err();
        assert!(text(e).contains("boom"));
        let e = call("nope", &[]).unwrap_err();
        assert_eq!(kind(&e), Some(crate::error::RemoteKind::NoSuchMethod));
    }

    #[test]
    fn type_errors_name_the_method_and_parameters() {
        let r = registry();
        let call = |name: &str, args: &[Value]| {
            text(call(&r, &Default::default(), name, name, args).unwrap_err())
        };
        assert_eq!(
            call("one", &[Value::from("a"), Value::from("b")]),
            "TypeError: one() takes 1 argument (str), 2 given"
        );
        assert_eq!(
            call("zero", &[Value::Int(1)]),
            "TypeError: zero() takes no arguments, 1 given"
        );
        assert_eq!(
            call("put", &[Value::from("k")]),
            "TypeError: put() takes 2 arguments (key: str, value: int), 1 given"
        );
        assert_eq!(
            call("put", &[Value::from("k"), Value::from("v")]),
            "TypeError: put() argument 2 (value: int): expected int, got str"
        );
        assert_eq!(
            call("one", &[Value::Int(1)]),
            "TypeError: one() argument 1 (str): expected str, got int"
        );
        assert_eq!(
            call("raw", &[]),
            "TypeError: raw() takes raw bytes and cannot be called from Python"
        );
    }

    #[test]
    fn signatures_for_python() {
        let r = registry();
        let Value::List(all) = signatures(&r) else {
            panic!("not a list")
        };
        let find = |name: &str| {
            all.iter()
                .find_map(|t| match t.as_seq() {
                    Some([Value::Str(n), Value::Str(s)]) if n == name => Some(s.clone()),
                    _ => None,
                })
                .unwrap()
        };
        assert_eq!(find("put"), "(key: str, value: int) -> None");
        assert_eq!(find("two"), "(int, int) -> int");
        assert_eq!(find("zero"), "() -> int");
    }

    #[test]
    fn rust_arguments_become_python_ones() {
        assert_eq!(to_args(&()).unwrap(), Vec::<Value>::new());
        assert_eq!(to_args(&5u8).unwrap(), [Value::Int(5)]);
        assert_eq!(to_args(&(5u8,)).unwrap(), [Value::Int(5)]);
        assert_eq!(to_args(&("a", 1u8)).unwrap(), [Value::from("a"), 1.into()]);
        assert_eq!(to_args(&vec![1u8]).unwrap(), [Value::Bytes(vec![1])]);
        assert_eq!(
            from_value::<(String, i64)>(&Value::Tuple(vec!["a".into(), 2.into()])).unwrap(),
            ("a".into(), 2)
        );
        assert!(from_value::<u8>(&Value::from("x")).is_err());
    }
}
