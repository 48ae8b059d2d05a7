//! The allow-list of globals a pickle may name, and what each one means.
//!
//! A pickle refers to a class or function by `module` and `name` (opcodes
//! `GLOBAL`, `STACK_GLOBAL`, `INST`). Python imports whatever is named and
//! calls it; the decoder here never does either. It accepts only the names
//! below and turns each into data:
//!
//! * `builtins.set`, `frozenset`, `bytes`, `bytearray` and `_codecs.encode`
//!   are how protocol 2 spells sets and bytes; applying them to their
//!   arguments is done here, on data, with the argument shapes CPython writes;
//! * the classes (builtin exceptions, the manager's `Token` and `RemoteError`,
//!   a few multiprocessing and queue exceptions) become [`Object`](super::Object)
//!   values holding the class name, arguments and state.
//!
//! Everything else is refused with an error naming the global.

/// An allow-listed global, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Global {
    /// `builtins.set`: `set()` or `set(iterable)`.
    Set,
    /// `builtins.frozenset`.
    FrozenSet,
    /// `builtins.bytes`: `bytes()` or `bytes(b)`.
    Bytes,
    /// `builtins.bytearray`: `bytearray()`, `bytearray(b)` or
    /// `bytearray(text, 'latin-1')`.
    ByteArray,
    /// `_codecs.encode(text, encoding)`: protocol 2's form of `bytes`.
    CodecsEncode,
    /// A class whose instances are kept as objects; the index into [`CLASSES`].
    Class(u16),
}

impl Global {
    /// `module.name` of the global, for messages.
    pub(crate) fn describe(self) -> String {
        let (module, name) = match self {
            Global::Set => ("builtins", "set"),
            Global::FrozenSet => ("builtins", "frozenset"),
            Global::Bytes => ("builtins", "bytes"),
            Global::ByteArray => ("builtins", "bytearray"),
            Global::CodecsEncode => ("_codecs", "encode"),
            Global::Class(i) => class_name(i),
        };
        format!("{module}.{name}")
    }
}

/// `(module, name)` of an allow-listed class.
pub(crate) fn class_name(index: u16) -> (&'static str, &'static str) {
    CLASSES
        .get(usize::from(index))
        .copied()
        .unwrap_or(("builtins", "object"))
}

/// The classes kept as objects: builtin exceptions (as of Python 3.13), the
/// manager's own classes, and the exceptions a stock manager's proxies for
/// queues and connections raise.
const CLASSES: &[(&str, &str)] = &[
    ("multiprocessing.managers", "Token"),
    ("multiprocessing.managers", "RemoteError"),
    ("multiprocessing.context", "AuthenticationError"),
    ("multiprocessing.context", "BufferTooShort"),
    ("multiprocessing.context", "ProcessError"),
    ("multiprocessing.context", "TimeoutError"),
    ("_queue", "Empty"),
    ("queue", "Empty"),
    ("queue", "Full"),
    ("builtins", "ArithmeticError"),
    ("builtins", "AssertionError"),
    ("builtins", "AttributeError"),
    ("builtins", "BaseException"),
    ("builtins", "BaseExceptionGroup"),
    ("builtins", "BlockingIOError"),
    ("builtins", "BrokenPipeError"),
    ("builtins", "BufferError"),
    ("builtins", "BytesWarning"),
    ("builtins", "ChildProcessError"),
    ("builtins", "ConnectionAbortedError"),
    ("builtins", "ConnectionError"),
    ("builtins", "ConnectionRefusedError"),
    ("builtins", "ConnectionResetError"),
    ("builtins", "DeprecationWarning"),
    ("builtins", "EOFError"),
    ("builtins", "EncodingWarning"),
    ("builtins", "Exception"),
    ("builtins", "ExceptionGroup"),
    ("builtins", "FileExistsError"),
    ("builtins", "FileNotFoundError"),
    ("builtins", "FloatingPointError"),
    ("builtins", "FutureWarning"),
    ("builtins", "GeneratorExit"),
    ("builtins", "ImportError"),
    ("builtins", "ImportWarning"),
    ("builtins", "IndentationError"),
    ("builtins", "IndexError"),
    ("builtins", "InterruptedError"),
    ("builtins", "IsADirectoryError"),
    ("builtins", "KeyError"),
    ("builtins", "KeyboardInterrupt"),
    ("builtins", "LookupError"),
    ("builtins", "MemoryError"),
    ("builtins", "ModuleNotFoundError"),
    ("builtins", "NameError"),
    ("builtins", "NotADirectoryError"),
    ("builtins", "NotImplementedError"),
    ("builtins", "OSError"),
    ("builtins", "OverflowError"),
    ("builtins", "PendingDeprecationWarning"),
    ("builtins", "PermissionError"),
    ("builtins", "ProcessLookupError"),
    ("builtins", "PythonFinalizationError"),
    ("builtins", "RecursionError"),
    ("builtins", "ReferenceError"),
    ("builtins", "ResourceWarning"),
    ("builtins", "RuntimeError"),
    ("builtins", "RuntimeWarning"),
    ("builtins", "StopAsyncIteration"),
    ("builtins", "StopIteration"),
    ("builtins", "SyntaxError"),
    ("builtins", "SyntaxWarning"),
    ("builtins", "SystemError"),
    ("builtins", "SystemExit"),
    ("builtins", "TabError"),
    ("builtins", "TimeoutError"),
    ("builtins", "TypeError"),
    ("builtins", "UnboundLocalError"),
    ("builtins", "UnicodeDecodeError"),
    ("builtins", "UnicodeEncodeError"),
    ("builtins", "UnicodeError"),
    ("builtins", "UnicodeTranslateError"),
    ("builtins", "UnicodeWarning"),
    ("builtins", "UserWarning"),
    ("builtins", "ValueError"),
    ("builtins", "Warning"),
    ("builtins", "ZeroDivisionError"),
];

/// The exception names Python 2 kept in its `exceptions` module; a protocol
/// 0–2 pickle names them `exceptions.X` (`_compat_pickle.PYTHON2_EXCEPTIONS`).
const PYTHON2_EXCEPTIONS: &[&str] = &[
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "BufferError",
    "BytesWarning",
    "DeprecationWarning",
    "EOFError",
    "EnvironmentError",
    "Exception",
    "FloatingPointError",
    "FutureWarning",
    "GeneratorExit",
    "IOError",
    "ImportError",
    "ImportWarning",
    "IndentationError",
    "IndexError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "NameError",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PendingDeprecationWarning",
    "ReferenceError",
    "RuntimeError",
    "RuntimeWarning",
    "StopIteration",
    "SyntaxError",
    "SyntaxWarning",
    "SystemError",
    "SystemExit",
    "TabError",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ValueError",
    "Warning",
    "ZeroDivisionError",
];

/// Python 3's name for a global named by a protocol 0–2 pickle: the part of
/// `_compat_pickle`'s `fix_imports` mapping that can reach the allow-list.
fn fix_import<'a>(module: &'a str, name: &'a str) -> (&'a str, &'a str) {
    match (module, name) {
        ("exceptions", "StandardError") => ("builtins", "Exception"),
        // IOError and EnvironmentError are aliases of OSError in Python 3.
        ("exceptions", "IOError" | "EnvironmentError") => ("builtins", "OSError"),
        ("exceptions", n) if PYTHON2_EXCEPTIONS.contains(&n) => ("builtins", n),
        ("__builtin__", n) => ("builtins", n),
        ("multiprocessing", n)
            if [
                "AuthenticationError",
                "BufferTooShort",
                "ProcessError",
                "TimeoutError",
            ]
            .contains(&n) =>
        {
            ("multiprocessing.context", n)
        }
        other => other,
    }
}

/// Resolves `module.name` against the allow-list. `protocol` is the pickle's
/// declared protocol: below 3, Python 2 names are translated first, as
/// Python's own unpickler does.
pub(crate) fn resolve(module: &str, name: &str, protocol: u8) -> Result<Global, String> {
    let (m, n) = if protocol < 3 {
        fix_import(module, name)
    } else {
        (module, name)
    };
    let global = match (m, n) {
        ("builtins", "set") => Some(Global::Set),
        ("builtins", "frozenset") => Some(Global::FrozenSet),
        ("builtins", "bytes") => Some(Global::Bytes),
        ("builtins", "bytearray") => Some(Global::ByteArray),
        ("_codecs", "encode") => Some(Global::CodecsEncode),
        // Python 3 spells the alias classes by their real name, but a
        // hand-written pickle might not.
        ("builtins", "IOError" | "EnvironmentError") => {
            return resolve("builtins", "OSError", 3);
        }
        _ => CLASSES
            .iter()
            .position(|&(cm, cn)| cm == m && cn == n)
            .and_then(|i| u16::try_from(i).ok())
            .map(Global::Class),
    };
    global.ok_or_else(|| {
        format!(
            "refusing to load global {}.{}: only data, builtin exceptions and \
             multiprocessing.managers.Token/RemoteError can be unpickled",
            super::decode::clipped(module),
            super::decode::clipped(name)
        )
    })
}

/// The name a protocol 2 pickle should use for `module`: Python 2's
/// `__builtin__` for `builtins` (which Python 3 maps back), else unchanged.
pub(crate) fn protocol2_module(module: &str) -> &str {
    if module == "builtins" {
        "__builtin__"
    } else {
        module
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list() {
        assert_eq!(resolve("builtins", "set", 4), Ok(Global::Set));
        assert_eq!(resolve("__builtin__", "set", 2), Ok(Global::Set));
        assert_eq!(resolve("_codecs", "encode", 2), Ok(Global::CodecsEncode));
        let Ok(Global::Class(i)) = resolve("exceptions", "ValueError", 2) else {
            panic!("ValueError not resolved");
        };
        assert_eq!(class_name(i), ("builtins", "ValueError"));
        assert_eq!(Global::Class(i).describe(), "builtins.ValueError");
        let Ok(Global::Class(i)) = resolve("exceptions", "StandardError", 2) else {
            panic!("StandardError not resolved");
        };
        assert_eq!(class_name(i), ("builtins", "Exception"));
        let Ok(Global::Class(i)) = resolve("exceptions", "IOError", 1) else {
            panic!("IOError not resolved");
        };
        assert_eq!(class_name(i), ("builtins", "OSError"));
        let Ok(Global::Class(i)) = resolve("multiprocessing.managers", "Token", 4) else {
            panic!("Token not resolved");
        };
        assert_eq!(class_name(i), ("multiprocessing.managers", "Token"));
        let Ok(Global::Class(i)) = resolve("multiprocessing", "TimeoutError", 2) else {
            panic!("TimeoutError not resolved");
        };
        assert_eq!(class_name(i), ("multiprocessing.context", "TimeoutError"));
        for g in [
            Global::Set,
            Global::FrozenSet,
            Global::Bytes,
            Global::ByteArray,
        ] {
            assert!(g.describe().starts_with("builtins."));
        }
        assert_eq!(Global::CodecsEncode.describe(), "_codecs.encode");
        assert_eq!(class_name(u16::MAX), ("builtins", "object"));
        // Every class name is unique.
        for (i, a) in CLASSES.iter().enumerate() {
            assert!(!CLASSES[i + 1..].contains(a), "{a:?} listed twice");
        }
    }

    #[test]
    fn refusals_name_the_global() {
        for (m, n, p) in [
            ("os", "system", 4),
            ("posix", "system", 2),
            ("subprocess", "Popen", 4),
            ("builtins", "eval", 4),
            ("__builtin__", "eval", 2),
            ("builtins", "getattr", 4),
            ("copyreg", "_reconstructor", 2),
            // Python 2 names are only translated below protocol 3.
            ("exceptions", "ValueError", 4),
            ("__builtin__", "set", 3),
            ("exceptions", "os", 2),
        ] {
            let err = resolve(m, n, p).unwrap_err();
            assert!(
                err.starts_with(&format!("refusing to load global {m}.{n}:")),
                "{err}"
            );
        }
    }

    #[test]
    fn protocol2_names() {
        assert_eq!(protocol2_module("builtins"), "__builtin__");
        assert_eq!(protocol2_module("_codecs"), "_codecs");
    }
}
