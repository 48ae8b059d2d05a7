//! A std-only subset of Python's pickle: [`Value`], [`from_pickle`] and
//! [`to_pickle`], for talking to Python's `multiprocessing.managers`.
//!
//! # Security: data only
//!
//! This is the opposite of Python's own model. Python's `pickle.loads`
//! imports and calls whatever a pickle names, so unpickling untrusted bytes
//! runs arbitrary code; Python's documentation warns never to do it, and
//! `multiprocessing` relies on the authkey handshake alone. Here a pickle is
//! data: [`from_pickle`] never imports, calls or executes anything. The only
//! globals a pickle may name are a short allow-list the manager protocol needs
//! (builtin exception classes, `multiprocessing.managers.Token` and
//! `RemoteError`, a few multiprocessing and queue exceptions, and the
//! `set`/`frozenset`/`bytes`/`bytearray`/`_codecs.encode` spellings protocol 2
//! uses for sets and bytes); even those are only recorded as data
//! ([`Object`]). Anything else, such as `os.system` or `subprocess.Popen`, is
//! refused with an error naming it.
//!
//! Decoding is bounded like the std codec: it never panics, rejects a length
//! prefix longer than the remaining input before allocating, and limits the
//! nesting depth, the memo and the size of the result ([`PickleLimits`]).
//!
//! # Layout
//!
//! `value` holds the types, `int` big integers, `repr` the Python-style
//! `Display`, `globals` the allow-list, `opcodes` the opcode table, `decode`
//! the unpickler (`decode/`: opcodes, tree building, protocol-0 text), and
//! `encode` the pickler. The bridge to the codec, a Python value to the
//! std-codec bytes of a [`Shape`](crate::Shape) and back, is the Python
//! layer's `convert` module.
mod decode;
mod encode;
mod globals;
mod int;
mod opcodes;
mod repr;
mod value;

pub use decode::{PickleLimits, from_pickle, from_pickle_with};
// For the server's memory budget, which charges pickle frames with them.
#[allow(unused_imports)]
pub(crate) use decode::{WORKING_MEMORY_ALLOWANCE, WORKING_MEMORY_FACTOR};
pub use encode::to_pickle;
pub(crate) use encode::to_pickle_capped;
pub use int::BigInt;
pub use value::{Object, Value};
