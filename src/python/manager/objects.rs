//! [`Objects`]: the referents Python clients created, under opaque idents,
//! with their reference counts, as Python's manager server keeps them in
//! `id_to_obj` and `id_to_refcount`.

use std::collections::HashMap;
use std::fmt::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::python::methods;
use crate::python::pickle::Value;
use crate::python::pyerr::PyErr;
use crate::registry::Registry;

/// How many referents a server holds at most, by default: a client that
/// creates objects without ever releasing them gets a `MemoryError` beyond
/// this, instead of exhausting the server's memory.
pub(crate) const DEFAULT_MAX_OBJECTS: usize = 1_000_000;

/// How many characters of each referent `debug_info` shows (as Python).
const DEBUG_WIDTH: usize = 75;

/// A shared object: a value a handler returned, or an object type whose
/// methods are registered handlers (the fast path: `Counter.inc` and
/// `Counter.get` make a `Counter` a Python proxy can call).
#[derive(Debug)]
pub(crate) enum Referent {
    Value(Value),
    Object {
        typeid: String,
        methods: Arc<[String]>,
    },
}

impl Referent {
    /// The methods a proxy may call, sorted.
    pub(crate) fn exposed(&self) -> Vec<&str> {
        match self {
            Referent::Value(v) => methods::exposed(v).to_vec(),
            Referent::Object { methods, .. } => methods.iter().map(String::as_str).collect(),
        }
    }

    /// Python's `repr()` of the referent.
    pub(crate) fn repr(&self) -> String {
        match self {
            Referent::Value(v) => v.to_string(),
            Referent::Object { typeid, .. } => {
                format!("<stdrpc object {}>", super::server::py_repr(typeid))
            }
        }
    }

    /// Python's `repr()` of the referent if it is at most `max` bytes long;
    /// a longer one is not formatted past `max`.
    pub(crate) fn repr_capped(&self, max: usize) -> Option<String> {
        match self {
            Referent::Value(v) => repr_capped(v, max),
            Referent::Object { .. } => Some(self.repr()).filter(|t| t.len() <= max),
        }
    }

    /// Python's `str()` of the referent if it is at most `max` bytes long,
    /// formatted no further than that.
    pub(crate) fn str_capped(&self, max: usize) -> Option<String> {
        match self {
            Referent::Value(Value::Str(s)) => (s.len() <= max).then(|| s.clone()),
            // An exception's `str()` is made of its bounded arguments.
            Referent::Value(v @ Value::Object(_)) => {
                repr_capped(v, max)?;
                Some(v.python_str()).filter(|t| t.len() <= max)
            }
            _ => self.repr_capped(max),
        }
    }

    /// Python's `str()` of the referent.
    pub(crate) fn str(&self) -> String {
        match self {
            Referent::Value(v) => v.python_str(),
            Referent::Object { .. } => self.repr(),
        }
    }

    /// The first [`DEBUG_WIDTH`] characters of `str()`, without formatting
    /// the rest of a large value.
    fn str_prefix(&self) -> String {
        let mut out = Prefix {
            text: String::new(),
            left: DEBUG_WIDTH,
        };
        // An error only means the prefix is full.
        let _ = match self {
            Referent::Value(Value::Str(s)) => out.write_str(s),
            Referent::Value(Value::Object(_)) => out.write_str(&self.str()),
            Referent::Value(v) => write!(out, "{v}"),
            Referent::Object { .. } => out.write_str(&self.repr()),
        };
        out.text
    }
}

/// The first `width` characters of `repr(v)`, with `...` if cut; a large
/// value is not formatted past them.
pub(crate) fn repr_prefix(v: &Value, width: usize) -> String {
    let mut out = Prefix {
        text: String::new(),
        left: width,
    };
    if write!(out, "{v}").is_err() {
        out.text.push_str("...");
    }
    out.text
}

/// `repr(v)` if it is at most `max` bytes long; `None` otherwise, found
/// out without formatting more than `max` bytes of it.
pub(crate) fn repr_capped(v: &Value, max: usize) -> Option<String> {
    let mut out = Capped {
        text: String::new(),
        left: max,
    };
    write!(out, "{v}").ok()?;
    Some(out.text)
}

/// A writer that takes at most `left` bytes and then fails.
struct Capped {
    text: String,
    left: usize,
}

impl Write for Capped {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.left = self.left.checked_sub(s.len()).ok_or(fmt::Error)?;
        self.text.push_str(s);
        Ok(())
    }
}

/// A writer that keeps the first `left` characters and then fails.
struct Prefix {
    text: String,
    left: usize,
}

impl Write for Prefix {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.left == 0 {
                return Err(fmt::Error);
            }
            self.text.push(c);
            self.left -= 1;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Entry {
    referent: Arc<Referent>,
    refs: u64,
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<String, Entry>,
}

/// The random bytes of an ident: 128 bits, so that one client cannot guess
/// (and `decref`) another's objects. Python's idents are addresses, which
/// are not guessable in practice either; counting 1, 2, 3 would be.
const IDENT_BYTES: usize = 16;

/// A fresh, unpredictable ident: [`IDENT_BYTES`] bytes from the operating
/// system's generator, in hex (never `'0'`, which Python reserves).
fn random_ident() -> Result<String, PyErr> {
    let mut bytes = [0u8; IDENT_BYTES];
    crate::crypto::fill_random(&mut bytes).map_err(|e| {
        PyErr::new(
            "OSError",
            format!("stdrpc: no random bytes for a new object ident: {e}"),
        )
    })?;
    let mut ident = String::with_capacity(2 * IDENT_BYTES);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(ident, "{b:02x}");
    }
    Ok(ident)
}

/// The referents created by Python clients, with their reference counts,
/// shared by every Python connection of a server; and the counters of the
/// Python requests served.
#[derive(Debug)]
pub(crate) struct Objects {
    table: Mutex<Table>,
    limit: usize,
    /// Object types found in the registry (`typeid` to its methods).
    object_types: Mutex<HashMap<String, Arc<[String]>>>,
    calls: AtomicU64,
    errors: AtomicU64,
}

impl Default for Objects {
    fn default() -> Objects {
        Objects::with_limit(DEFAULT_MAX_OBJECTS)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Objects {
    /// A table holding at most `limit` referents.
    pub(crate) fn with_limit(limit: usize) -> Objects {
        Objects {
            table: Mutex::new(Table {
                entries: HashMap::new(),
            }),
            limit,
            object_types: Mutex::default(),
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// Stores a new referent with one reference (the creator's, as
    /// Python's `create` increfs) and returns its ident.
    pub(crate) fn insert(&self, referent: Referent) -> Result<String, PyErr> {
        // Drawn before taking the lock: reading the generator is a system
        // call. A collision of 128 random bits does not happen; it is still
        // checked, and refused rather than overwriting an entry.
        let ident = random_ident()?;
        let mut table = lock(&self.table);
        if table.entries.len() >= self.limit {
            return Err(PyErr::memory_error(format!(
                "stdrpc: the server already holds {} shared objects, its limit; \
                 release proxies you no longer need",
                self.limit
            )));
        }
        if table.entries.contains_key(&ident) {
            return Err(PyErr::new("RuntimeError", "stdrpc: object ident collision"));
        }
        table.entries.insert(
            ident.clone(),
            Entry {
                referent: Arc::new(referent),
                refs: 1,
            },
        );
        Ok(ident)
    }

    /// The referent under `ident`.
    pub(crate) fn get(&self, ident: &str) -> Option<Arc<Referent>> {
        lock(&self.table)
            .entries
            .get(ident)
            .map(|e| Arc::clone(&e.referent))
    }

    /// Adds a reference; a `KeyError` for an unknown ident, as in Python.
    pub(crate) fn incref(&self, ident: &str) -> Result<(), PyErr> {
        match lock(&self.table).entries.get_mut(ident) {
            Some(entry) => {
                entry.refs = entry.refs.saturating_add(1);
                Ok(())
            }
            None => Err(PyErr::key_error(ident.into())),
        }
    }

    /// Drops a reference, freeing the referent at zero; a `KeyError` for an
    /// unknown ident, as in Python.
    pub(crate) fn decref(&self, ident: &str) -> Result<(), PyErr> {
        let freed = {
            let mut table = lock(&self.table);
            let Some(entry) = table.entries.get_mut(ident) else {
                return Err(PyErr::key_error(ident.into()));
            };
            entry.refs -= 1;
            if entry.refs == 0 {
                table.entries.remove(ident)
            } else {
                None
            }
        };
        // A large value is dropped outside the lock.
        drop(freed);
        Ok(())
    }

    /// How many referents are held (Python's `number_of_objects`).
    pub(crate) fn len(&self) -> usize {
        lock(&self.table).entries.len()
    }

    /// Python's `debug_info`: one entry per referent, sorted by ident; `None`
    /// if the text would be longer than `max` bytes (it is not built
    /// further).
    pub(crate) fn debug_info(&self, max: usize) -> Option<String> {
        let mut entries: Vec<(String, u64, Arc<Referent>)> = lock(&self.table)
            .entries
            .iter()
            .map(|(k, e)| (k.clone(), e.refs, Arc::clone(&e.referent)))
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut text = String::new();
        for (i, (ident, refs, r)) in entries.iter().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            // Writing to a String cannot fail.
            let _ = write!(
                text,
                "  {ident}:       refcount={refs}\n    {}",
                r.str_prefix()
            );
            if text.len() > max {
                return None;
            }
        }
        Some(text)
    }

    /// The methods of the object type `typeid`: the registered handlers
    /// named `typeid.method` whose method part a Python proxy can call (an
    /// identifier, not a keyword). `None` if there are none.
    pub(crate) fn object_type(&self, registry: &Registry, typeid: &str) -> Option<Arc<[String]>> {
        if let Some(methods) = lock(&self.object_types).get(typeid) {
            return Some(Arc::clone(methods));
        }
        let prefix = format!("{typeid}.");
        let methods: Vec<String> = registry
            .names()
            .into_iter()
            .filter_map(|name| name.strip_prefix(prefix.as_str()))
            .filter(|m| is_identifier(m))
            .map(str::to_owned)
            .collect();
        if methods.is_empty() {
            return None;
        }
        let methods: Arc<[String]> = methods.into();
        // Only types that exist are cached, so the cache is bounded by the
        // registry.
        lock(&self.object_types).insert(typeid.to_owned(), Arc::clone(&methods));
        Some(methods)
    }

    /// Counts one request answered with `#RETURN` (`ok`) or with an error.
    pub(crate) fn count(&self, ok: bool) {
        let counter = if ok { &self.calls } else { &self.errors };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Python requests answered with a result since the server started.
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Python requests answered with an error since the server started.
    pub(crate) fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// Python's keywords: a method named like one could not be defined on a
/// proxy class (`def class(...)` is a syntax error in the client).
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Whether `name` can be a method of a Python proxy class: an ASCII
/// identifier that is not a keyword.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Handler;

    #[test]
    fn references_are_counted_and_released() {
        let objects = Objects::default();
        let a = objects.insert(Referent::Value(Value::Int(1))).unwrap();
        let b = objects.insert(Referent::Value(Value::from("x"))).unwrap();
        assert_ne!(a, b);
        assert_eq!(objects.len(), 2);
        objects.incref(&a).unwrap();
        objects.decref(&a).unwrap();
        assert_eq!(objects.len(), 2);
        objects.decref(&a).unwrap();
        assert_eq!(objects.len(), 1);
        assert!(objects.get(&a).is_none());
        assert_eq!(
            objects.decref(&a).unwrap_err().line(),
            format!("KeyError: '{a}'")
        );
        assert_eq!(objects.incref("zz").unwrap_err().line(), "KeyError: 'zz'");
        assert_eq!(
            objects.debug_info(usize::MAX).unwrap(),
            format!("  {b}:       refcount=1\n    x")
        );
        objects.decref(&b).unwrap();
        assert_eq!(objects.len(), 0);
        assert_eq!(objects.debug_info(usize::MAX).unwrap(), "");
        objects.insert(Referent::Value(Value::None)).unwrap();
        assert!(objects.debug_info(10).is_none());
    }

    #[test]
    fn idents_are_unpredictable() {
        let objects = Objects::default();
        let idents: Vec<String> = (0..100)
            .map(|_| objects.insert(Referent::Value(Value::None)).unwrap())
            .collect();
        let distinct: std::collections::HashSet<&String> = idents.iter().collect();
        assert_eq!(distinct.len(), idents.len());
        for ident in &idents {
            assert_eq!(ident.len(), 2 * IDENT_BYTES, "{ident}");
            assert!(ident.bytes().all(|b| b.is_ascii_hexdigit()), "{ident}");
        }
        // Neither small numbers nor consecutive values: no ident is a short
        // counter, and no two follow each other.
        for n in 0..1000u32 {
            assert!(objects.get(&format!("{n:x}")).is_none());
        }
        let numbers: Vec<u128> = idents
            .iter()
            .map(|i| u128::from_str_radix(i, 16).unwrap())
            .collect();
        assert!(numbers.windows(2).all(|w| w[0].abs_diff(w[1]) > 1));
    }

    #[test]
    fn the_table_is_bounded() {
        let objects = Objects::with_limit(2);
        objects.insert(Referent::Value(Value::None)).unwrap();
        objects.insert(Referent::Value(Value::None)).unwrap();
        let e = objects.insert(Referent::Value(Value::None)).unwrap_err();
        assert_eq!(e.class, "MemoryError");
    }

    #[test]
    fn debug_info_cuts_long_values() {
        let objects = Objects::default();
        let long = Value::List((0..1000).map(Value::from).collect());
        objects.insert(Referent::Value(long)).unwrap();
        let info = objects.debug_info(usize::MAX).unwrap();
        let shown = info.lines().nth(1).unwrap().trim_start();
        assert_eq!(shown.chars().count(), DEBUG_WIDTH);
        assert!(shown.starts_with("[0, 1, 2"));
    }

    #[test]
    fn reprs_are_cut() {
        let v = Value::List((0..100).map(Value::from).collect());
        assert_eq!(repr_prefix(&v, 10), "[0, 1, 2, ...");
        assert_eq!(repr_prefix(&Value::from("ab"), 10), "'ab'");
    }

    #[test]
    fn object_types_come_from_the_registry() {
        let mut r = Registry::default();
        r.insert("Counter.inc", Handler::into_erased(|| 1i64));
        r.insert("Counter.get", Handler::into_erased(|| 1i64));
        r.insert("Counter.class", Handler::into_erased(|| 1i64));
        r.insert("Counter.a.b", Handler::into_erased(|| 1i64));
        r.insert("Counterfeit.x", Handler::into_erased(|| 1i64));
        let objects = Objects::default();
        let methods = objects.object_type(&r, "Counter").unwrap();
        assert_eq!(&*methods, ["get".to_owned(), "inc".to_owned()]);
        assert!(objects.object_type(&r, "Count").is_none());
        assert!(objects.object_type(&r, "nothing").is_none());
    }

    #[test]
    fn identifiers() {
        for ok in ["get", "_x", "a1", "__len__", "match"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "1a", "a.b", "a-b", "class", "None", "é"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }
}
