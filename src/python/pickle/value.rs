//! [`Value`]: the dynamic value a pickle holds, and [`Object`], an instance
//! of an allow-listed Python class.

use super::int::{self, BigInt};

/// A Python value, as read from or written to a pickle.
///
/// The variants cover the data types Python's `multiprocessing.managers`
/// exchange, plus [`Value::Object`] for the few class instances the manager
/// protocol needs (exceptions, `Token`, `RemoteError`). `Display` writes the
/// value the way Python's `repr()` does.
///
/// Containers keep their order: a dict's entries and a set's elements appear
/// in the order the pickle listed them (insertion order, for a dict built in
/// Python). The decoder does not merge repeated dict keys or set elements,
/// which Python never writes; converting to a Rust map or set does (the last
/// value of a repeated key wins, as in Python).
///
/// Equality is structural: `Int(1)` and `Float(1.0)` differ (Python says they
/// are equal), a NaN float is unequal to itself (as in Python), and `Set`s
/// compare in order.
///
/// ```
/// use stdrpc::python::Value;
/// let v = Value::Tuple(vec![Value::None, "create".into(), Value::from(1.5)]);
/// assert_eq!(v.to_string(), "(None, 'create', 1.5)");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An `int` that fits an `i64`.
    Int(i64),
    /// An `int` outside the `i64` range. Values inside it are always
    /// [`Value::Int`], so each integer has exactly one form.
    BigInt(BigInt),
    /// A `float`.
    Float(f64),
    /// A `str`. (A Python string holding a lone surrogate cannot be decoded,
    /// since a Rust `String` cannot hold one.)
    Str(String),
    /// `bytes`; a `bytearray` decodes to this too.
    Bytes(Vec<u8>),
    /// A `tuple`.
    Tuple(Vec<Value>),
    /// A `list`.
    List(Vec<Value>),
    /// A `dict`, as its entries in order.
    Dict(Vec<(Value, Value)>),
    /// A `set`, as its elements in order.
    Set(Vec<Value>),
    /// A `frozenset`, as its elements in order.
    FrozenSet(Vec<Value>),
    /// An instance of a class: see [`Object`].
    Object(Box<Object>),
}

/// An instance of a Python class, described by how pickle rebuilds it: the
/// class (`module.name`), the positional arguments it is created with, and
/// the state applied afterwards (pickle's `BUILD`), if any.
///
/// Only a short allow-list of classes is ever decoded (see
/// [`from_pickle`](crate::python::from_pickle)); nothing is instantiated or executed:
/// the object stays data. Encoding writes back whatever an `Object` holds.
///
/// What CPython writes, and so what the decoder returns:
///
/// * an exception such as `ValueError('x')`: class `builtins.ValueError`,
///   `args` `['x']`, created by calling the class (`newobj` false), `state`
///   `None` unless the exception carries attributes or notes (then a dict
///   such as `{'__notes__': [...]}`);
/// * `multiprocessing.managers.RemoteError('msg')`: the same shape;
/// * `multiprocessing.managers.Token`: created with `cls.__new__(cls)`
///   (`newobj` true, no `args`), then `state` is the tuple
///   `(typeid, address, id)`.
///
/// ```
/// use stdrpc::python::{Object, Value};
/// let e = Value::exception("KeyError", vec!["k".into()]);
/// assert_eq!(e.to_string(), "KeyError('k')");
/// let Value::Object(obj) = &e else { unreachable!() };
/// assert!(obj.is("builtins", "KeyError"));
/// assert_eq!(obj.args, [Value::from("k")]);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Object {
    /// The class's module, e.g. `builtins` or `multiprocessing.managers`.
    pub module: String,
    /// The class's (qualified) name within its module, e.g. `ValueError`.
    pub name: String,
    /// The positional arguments the instance is created with.
    pub args: Vec<Value>,
    /// The state set after creation (pickle's `BUILD`), if any: for an
    /// exception, a dict of its attributes; for a `Token`, its
    /// `(typeid, address, id)` tuple.
    pub state: Option<Value>,
    /// Whether the instance is created with `cls.__new__(cls, *args)` (pickle's
    /// `NEWOBJ`) rather than by calling `cls(*args)` (pickle's `REDUCE`).
    pub newobj: bool,
}

impl Object {
    /// An instance created by calling the class: `module.name(*args)`.
    pub fn call(module: impl Into<String>, name: impl Into<String>, args: Vec<Value>) -> Object {
        Object {
            module: module.into(),
            name: name.into(),
            args,
            state: None,
            newobj: false,
        }
    }

    /// An instance created without calling `__init__`:
    /// `cls.__new__(cls, *args)`, as pickle does for most plain classes.
    pub fn new_instance(
        module: impl Into<String>,
        name: impl Into<String>,
        args: Vec<Value>,
    ) -> Object {
        Object {
            newobj: true,
            ..Object::call(module, name, args)
        }
    }

    /// The same object with `state` applied after creation.
    pub fn with_state(mut self, state: Value) -> Object {
        self.state = Some(state);
        self
    }

    /// Whether this is an instance of exactly `module.name`.
    pub fn is(&self, module: &str, name: &str) -> bool {
        self.module == module && self.name == name
    }

    /// `(typeid, address, id)` if this is a manager `Token` as CPython
    /// pickles one.
    pub(crate) fn token_parts(&self) -> Option<(&str, &Value, &str)> {
        if !self.is("multiprocessing.managers", "Token") || !self.args.is_empty() {
            return None;
        }
        match self.state.as_ref()? {
            Value::Tuple(fields) => match fields.as_slice() {
                [Value::Str(typeid), address, Value::Str(id)] => Some((typeid, address, id)),
                _ => None,
            },
            _ => None,
        }
    }
}

impl Value {
    /// An instance of the builtin exception class `name` (e.g. `"ValueError"`)
    /// with the given arguments, pickled as CPython pickles exceptions.
    pub fn exception(name: &str, args: Vec<Value>) -> Value {
        Value::Object(Box::new(Object::call("builtins", name, args)))
    }

    /// `multiprocessing.managers.RemoteError(message)`, the exception a
    /// manager client raises for a `#TRACEBACK` reply.
    pub fn remote_error(message: impl Into<String>) -> Value {
        Value::Object(Box::new(Object::call(
            "multiprocessing.managers",
            "RemoteError",
            vec![Value::Str(message.into())],
        )))
    }

    /// `multiprocessing.managers.Token(typeid, address, id)`: how a manager
    /// names a shared object. `address` is the server's address as Python
    /// holds it: a `(host, port)` tuple, or a path string for a Unix socket.
    ///
    /// ```
    /// use stdrpc::python::Value;
    /// let addr = Value::Tuple(vec!["127.0.0.1".into(), 5000.into()]);
    /// let token = Value::token("dict", addr.clone(), "7f");
    /// assert_eq!(
    ///     token.to_string(),
    ///     "Token(typeid='dict', address=('127.0.0.1', 5000), id='7f')"
    /// );
    /// assert_eq!(token.as_token(), Some(("dict", &addr, "7f")));
    /// ```
    pub fn token(typeid: &str, address: Value, id: &str) -> Value {
        let state = Value::Tuple(vec![typeid.into(), address, id.into()]);
        Value::Object(Box::new(
            Object::new_instance("multiprocessing.managers", "Token", Vec::new()).with_state(state),
        ))
    }

    /// The `(typeid, address, id)` of a `multiprocessing.managers.Token`, as
    /// CPython pickles one (see [`Value::token`]); `None` for anything else.
    pub fn as_token(&self) -> Option<(&str, &Value, &str)> {
        match self {
            Value::Object(obj) => obj.token_parts(),
            _ => None,
        }
    }

    /// An `int` from its little-endian two's complement bytes (the form
    /// pickle's `LONG1`/`LONG4` use); the empty slice is `0`. The result is
    /// [`Value::Int`] whenever the value fits an `i64`.
    ///
    /// ```
    /// use stdrpc::python::Value;
    /// assert_eq!(Value::from_signed_bytes_le(&[0xff]), Value::Int(-1));
    /// let big = Value::from_signed_bytes_le(&[0, 0, 0, 0, 0, 0, 0, 0, 1]);
    /// assert_eq!(big.to_string(), "18446744073709551616");
    /// ```
    pub fn from_signed_bytes_le(bytes: &[u8]) -> Value {
        int::from_signed_bytes_le(bytes)
    }

    /// The name of the Python type this value has: `NoneType`, `bool`,
    /// `int`, `float`, `str`, `bytes`, `tuple`, `list`, `dict`, `set`,
    /// `frozenset`, or an object's class name.
    pub fn python_type(&self) -> &str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::FrozenSet(_) => "frozenset",
            Value::Object(obj) => &obj.name,
        }
    }

    /// Whether this is `None`.
    pub fn is_none(&self) -> bool {
        matches!(self, Value::None)
    }

    /// The string, if this is a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is a [`Value::Int`].
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The bytes, if this is a [`Value::Bytes`].
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, if this is a [`Value::Tuple`] or a [`Value::List`].
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::Tuple(items) | Value::List(items) => Some(items),
            _ => None,
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

macro_rules! from_small_int {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Value {
            fn from(i: $ty) -> Value {
                Value::Int(i64::from(i))
            }
        }
    )*};
}

from_small_int!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! from_wide_int {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Value {
            fn from(i: $ty) -> Value {
                match i64::try_from(i) {
                    Ok(small) => Value::Int(small),
                    Err(_) => Value::from(i128::try_from(i).unwrap_or(i128::MAX)),
                }
            }
        }
    )*};
}

// u64, isize and usize always fit an i128 on every platform Rust supports.
from_wide_int!(u64, isize, usize);

impl From<i128> for Value {
    fn from(i: i128) -> Value {
        int::from_signed_bytes_le(&i.to_le_bytes())
    }
}

impl From<u128> for Value {
    fn from(u: u128) -> Value {
        let mut bytes = [0; 17];
        if let Some(low) = bytes.get_mut(..16) {
            low.copy_from_slice(&u.to_le_bytes());
        }
        int::from_signed_bytes_le(&bytes)
    }
}

impl From<BigInt> for Value {
    fn from(i: BigInt) -> Value {
        Value::BigInt(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

impl From<f32> for Value {
    fn from(f: f32) -> Value {
        Value::Float(f64::from(f))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Value {
        Value::Bytes(b.to_vec())
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Value {
        Value::Bytes(b)
    }
}

/// A `list`.
impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::List(items)
    }
}

impl From<Object> for Value {
    fn from(obj: Object) -> Value {
        Value::Object(Box::new(obj))
    }
}

/// `None` for `None`, else the value.
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::None, Into::into)
    }
}

/// `None`, as Python's functions without a result return.
impl From<()> for Value {
    fn from((): ()) -> Value {
        Value::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_stays_small() {
        assert!(
            std::mem::size_of::<Value>() <= 32,
            "{}",
            std::mem::size_of::<Value>()
        );
        fn assert_traits<T: Send + Sync + 'static>() {}
        assert_traits::<Value>();
    }

    #[test]
    fn integers_have_one_form() {
        assert_eq!(Value::from(5u64), Value::Int(5));
        assert_eq!(Value::from(i64::MAX as u64), Value::Int(i64::MAX));
        assert!(matches!(Value::from(u64::MAX), Value::BigInt(_)));
        assert_eq!(Value::from(-1i128), Value::Int(-1));
        assert_eq!(Value::from(i128::from(i64::MIN)), Value::Int(i64::MIN));
        assert!(matches!(
            Value::from(i128::from(i64::MIN) - 1),
            Value::BigInt(_)
        ));
        assert_eq!(Value::from(7u128), Value::Int(7));
        assert_eq!(Value::from(u128::MAX).to_string(), u128::MAX.to_string());
        assert_eq!(Value::from(i128::MIN).to_string(), i128::MIN.to_string());
        assert_eq!(Value::from(usize::MAX).to_string(), usize::MAX.to_string());
        assert_eq!(Value::from(isize::MIN), Value::Int(isize::MIN as i64));
    }

    #[test]
    fn conversions_and_accessors() {
        assert_eq!(Value::from("a").as_str(), Some("a"));
        assert_eq!(Value::from(String::from("b")), Value::Str("b".into()));
        assert_eq!(Value::from(&b"x"[..]).as_bytes(), Some(&b"x"[..]));
        assert_eq!(Value::from(vec![1u8]), Value::Bytes(vec![1]));
        assert_eq!(
            Value::from(vec![Value::None]),
            Value::List(vec![Value::None])
        );
        assert_eq!(Value::from(None::<i32>), Value::None);
        assert_eq!(Value::from(Some(3)), Value::Int(3));
        assert_eq!(Value::from(()), Value::None);
        assert_eq!(Value::from(true), Value::Bool(true));
        assert_eq!(Value::from(1.5f32), Value::Float(1.5));
        assert_eq!(Value::from(-3i8).as_i64(), Some(-3));
        assert!(Value::None.is_none());
        assert_eq!(Value::Tuple(vec![]).as_seq(), Some(&[][..]));
        assert_eq!(Value::None.as_seq(), None);
        assert_eq!(Value::None.as_str(), None);
        assert_eq!(Value::None.as_i64(), None);
        assert_eq!(Value::None.as_bytes(), None);
    }

    #[test]
    fn python_type_names() {
        let cases = [
            (Value::None, "NoneType"),
            (Value::Bool(true), "bool"),
            (Value::Int(1), "int"),
            (Value::from(u128::MAX), "int"),
            (Value::Float(1.0), "float"),
            (Value::from("s"), "str"),
            (Value::Bytes(vec![]), "bytes"),
            (Value::Tuple(vec![]), "tuple"),
            (Value::List(vec![]), "list"),
            (Value::Dict(vec![]), "dict"),
            (Value::Set(vec![]), "set"),
            (Value::FrozenSet(vec![]), "frozenset"),
            (Value::exception("ValueError", vec![]), "ValueError"),
        ];
        for (v, name) in cases {
            assert_eq!(v.python_type(), name);
        }
    }

    #[test]
    fn tokens_and_objects() {
        let addr = Value::Tuple(vec!["h".into(), 1.into()]);
        let t = Value::token("dict", addr.clone(), "7f");
        assert_eq!(t.as_token(), Some(("dict", &addr, "7f")));
        assert_eq!(Value::remote_error("m").as_token(), None);
        assert_eq!(Value::None.as_token(), None);
        let odd = Object::new_instance("multiprocessing.managers", "Token", vec![])
            .with_state(Value::Tuple(vec![1.into()]));
        assert_eq!(Value::from(odd).as_token(), None);
        let Value::Object(obj) = Value::remote_error("m") else {
            panic!("not an object");
        };
        assert!(obj.is("multiprocessing.managers", "RemoteError"));
        assert!(!obj.newobj);
        assert_eq!(obj.state, None);
    }
}
