//! The unpickler: bytes in, [`Value`] out, nothing executed.
//!
//! It runs pickle's stack machine over an arena: every object the pickle
//! creates is a node, the stack and the memo hold node ids, and containers
//! hold the ids of their elements. That keeps Python's reference semantics
//! (a list memoized while empty and filled later is the filled list wherever
//! the memo hands it out) without reference counting. When `STOP` is reached
//! the root node is turned into a [`Value`] tree, iteratively, with the depth
//! limit, a check for self-containing structures (which a tree cannot hold),
//! and the size budget (one node referenced many times is copied each time,
//! so sharing is what could make the tree much larger than its pickle).
//!
//! Working memory while decoding is linear in the input: each opcode adds
//! at most one node and one id. The only copies an opcode can make (`set(x)`
//! and the bytes constructors, applied to a memoized argument) are charged to
//! the same budget as the tree.

use std::collections::HashMap;
use std::mem::size_of;

use super::globals::Global;
use super::opcodes::name as op_name;
use super::value::Value;
use crate::{Error, Result};

mod step;
mod text;
mod tree;

pub(crate) use text::clipped;

/// The most memory, per byte of input, that decoding a pickle with the
/// default [`PickleLimits`] may take at its peak, everything included (the
/// node arena, the stack, the memo and the finished [`Value`] tree), on top
/// of [`WORKING_MEMORY_ALLOWANCE`]. A server-wide memory budget charges a
/// pickle frame `len * WORKING_MEMORY_FACTOR + WORKING_MEMORY_ALLOWANCE`.
///
/// Why it holds: every allocation the decoder makes is charged, as it is
/// made, against one budget of `max_expansion` (64) bytes per input byte
/// plus 1 MiB: each node (its slot and its flag), each id pushed on the
/// stack, moved by a `MARK` or added to a container (at least a 32-byte
/// block per vector), each memo entry, each copy `set()` or `bytes()` make,
/// and each value of the tree with its payload. The tree is built without
/// holding any value twice, and the stack and memo are freed first. The 8
/// bytes per input byte above 64 cover what the charges round down
/// (allocator headers, vectors grown by doubling). `tests/python_bounds.rs`
/// measures the peak RSS of the worst inputs found (a string memoized and
/// referred to over and over, bare `EMPTY_LIST`s, `DUP`s, one-byte ints and
/// strings, long ints, `TUPLE1` chains, `set()` copies): the highest is
/// about 62 bytes per input byte.
#[allow(dead_code)] // Until the server's memory budget charges it.
pub(crate) const WORKING_MEMORY_FACTOR: usize = 72;

/// The fixed part of the decoder's working memory bound, in bytes: the
/// 1 MiB the budget allows any pickle, and room for rounding.
#[allow(dead_code)] // Until the server's memory budget charges it.
pub(crate) const WORKING_MEMORY_ALLOWANCE: usize = 2 << 20;

/// Limits on what [`from_pickle_with`] accepts. The defaults suit messages
/// from any well-behaved Python peer.
///
/// ```
/// let mut limits = stdrpc::python::PickleLimits::default();
/// limits.max_depth = 2;
/// // [[[]]] nests three lists deep.
/// let pickle = b"\x80\x04]]]aa.";
/// assert!(stdrpc::python::from_pickle(pickle).is_ok());
/// assert!(stdrpc::python::from_pickle_with(pickle, &limits).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PickleLimits {
    /// How deeply containers and objects may nest. Default 1000, about what
    /// Python's own pickler can write at its default recursion limit.
    pub max_depth: usize,
    /// The most entries the memo may hold. Default 2^22.
    pub max_memo: usize,
    /// How many times its own length decoding may occupy in memory, on top
    /// of a fixed allowance of 1 MiB: the decoder's own working memory (a
    /// node per object, the stack, the memo) and the decoded value (counted
    /// as `size_of::<Value>()` per value plus string, bytes and integer
    /// payloads) together. Default 64. What Python's pickler writes stays
    /// below about 50 times its length even for a list of a million empty
    /// lists; only a pickle that refers to one object many times (through the
    /// memo or `DUP`), or that spells objects in ways Python does not, can
    /// reach the limit.
    pub max_expansion: usize,
}

impl Default for PickleLimits {
    fn default() -> PickleLimits {
        PickleLimits {
            max_depth: 1000,
            max_memo: 1 << 22,
            max_expansion: 64,
        }
    }
}

/// Decodes a pickle (protocols 0 to 5) into a [`Value`], with the default
/// [`PickleLimits`].
///
/// # Security
///
/// This is the opposite of Python's own security model. Python's
/// `pickle.loads` imports and calls whatever a pickle names, so unpickling
/// untrusted bytes runs arbitrary code. This function loads data only: it
/// never imports, calls or executes anything. A pickle may name only the
/// globals the manager protocol needs (builtin exception classes,
/// `multiprocessing.managers.Token` and `RemoteError`, a few multiprocessing
/// and queue exceptions, and the `set`, `frozenset`, `bytes`, `bytearray`
/// and `_codecs.encode` that protocol 2 spells sets and bytes with), and even
/// those become plain data ([`Object`](crate::python::Object),
/// [`Value::Set`], [`Value::Bytes`]).
/// Any other global, such as `os.system` or `subprocess.Popen`, is refused
/// with an error naming it. Decoding never panics and its memory is bounded
/// by the input and [`PickleLimits`].
///
/// # Errors
///
/// [`Error::Decode`] if the bytes are not a complete pickle (one value, `STOP`,
/// nothing after it), use an opcode this decoder does not support (persistent
/// ids, the extension registry, out-of-band buffers), name a global outside
/// the allow-list, hold a structure that contains itself, or exceed a limit.
/// The message names the problem, the opcode and its byte offset.
///
/// ```
/// use stdrpc::python::{Value, from_pickle};
/// // pickle.dumps((None, 'dummy', (), {}), protocol=4): a manager request.
/// let v = from_pickle(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00(N\x8c\x05dummy\x94)}\x94t\x94.")?;
/// assert_eq!(v.to_string(), "(None, 'dummy', (), {})");
/// let err = from_pickle(b"\x80\x02cposix\nsystem\nq\x00.").unwrap_err();
/// assert!(err.to_string().contains("refusing to load global posix.system"));
/// # Ok::<(), stdrpc::Error>(())
/// ```
pub fn from_pickle(bytes: &[u8]) -> Result<Value> {
    from_pickle_with(bytes, &PickleLimits::default())
}

/// Decodes a pickle like [`from_pickle`], with the given limits.
///
/// # Errors
///
/// As [`from_pickle`].
pub fn from_pickle_with(bytes: &[u8], limits: &PickleLimits) -> Result<Value> {
    let mut machine = Machine::new(bytes, limits);
    let root = machine.run().map_err(Error::decode)?;
    machine
        .materialize(root)
        .map_err(|m| Error::decode(format!("invalid pickle: {m}")))
}

/// A node's index in the arena.
type Id = u32;

// Nodes made once and shared: immutable values with no identity of their own.
const NONE_ID: Id = 0;
const TRUE_ID: Id = 1;
const FALSE_ID: Id = 2;
const EMPTY_TUPLE_ID: Id = 3;

/// One object the pickle created.
#[derive(Debug)]
enum Node {
    /// A scalar: None, bool, int, float, str or bytes.
    Leaf(Value),
    Tuple(Vec<Id>),
    List(Vec<Id>),
    /// Keys and values alternating.
    Dict(Vec<Id>),
    Set(Vec<Id>),
    FrozenSet(Vec<Id>),
    /// A reference to an allow-listed class or function.
    Global(Global),
    /// An instance of an allow-listed class. `args` is a tuple node.
    Object {
        class: u16,
        args: Id,
        state: Option<Id>,
        newobj: bool,
    },
}

impl Node {
    /// What the node is, in Python's words, for messages.
    fn kind(&self) -> &'static str {
        match self {
            Node::Leaf(v) => match v {
                Value::None => "None",
                Value::Bool(_) => "bool",
                Value::Int(_) | Value::BigInt(_) => "int",
                Value::Float(_) => "float",
                Value::Str(_) => "str",
                Value::Bytes(_) => "bytes",
                _ => "value",
            },
            Node::Tuple(_) => "tuple",
            Node::List(_) => "list",
            Node::Dict(_) => "dict",
            Node::Set(_) => "set",
            Node::FrozenSet(_) => "frozenset",
            Node::Global(_) => "class or function",
            Node::Object { .. } => "object",
        }
    }
}

/// The stack machine's state.
struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    /// The protocol the `PROTO` opcode declared (0 without one).
    proto: u8,
    nodes: Vec<Node>,
    stack: Vec<Id>,
    /// Stack lengths at each open `MARK`.
    marks: Vec<usize>,
    memo: HashMap<u32, Id>,
    limits: &'a PickleLimits,
    /// Bytes that copies and the final tree may still take.
    budget: usize,
}

type Fail = String;

impl<'a> Machine<'a> {
    fn new(input: &'a [u8], limits: &'a PickleLimits) -> Machine<'a> {
        let budget = limits
            .max_expansion
            .saturating_mul(input.len())
            .saturating_add(1 << 20);
        Machine {
            input,
            pos: 0,
            proto: 0,
            nodes: vec![
                Node::Leaf(Value::None),
                Node::Leaf(Value::Bool(true)),
                Node::Leaf(Value::Bool(false)),
                Node::Tuple(Vec::new()),
            ],
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            limits,
            budget,
        }
    }

    /// Runs opcodes up to `STOP`; returns the root node.
    fn run(&mut self) -> std::result::Result<Id, Fail> {
        loop {
            let at = self.pos;
            let Some(&code) = self.input.get(at) else {
                return Err(format!("invalid pickle: ends at byte {at} without STOP"));
            };
            self.pos += 1;
            match self.step(code) {
                Ok(Some(root)) => return Ok(root),
                Ok(None) => {}
                Err(m) => {
                    return Err(format!(
                        "invalid pickle: {m} (opcode {} at byte {at})",
                        op_name(code)
                    ));
                }
            }
        }
    }

    // ---- reading the input --------------------------------------------------

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], Fail> {
        let remaining = self.input.len() - self.pos;
        if n > remaining {
            return Err(format!(
                "truncated: needs {n} more bytes, {remaining} remain"
            ));
        }
        let bytes = self.input.get(self.pos..self.pos + n).unwrap_or_default();
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> std::result::Result<[u8; N], Fail> {
        let mut buf = [0; N];
        buf.copy_from_slice(self.take(N)?);
        Ok(buf)
    }

    fn byte(&mut self) -> std::result::Result<u8, Fail> {
        Ok(self.array::<1>()?[0])
    }

    /// A length given as `u64`, checked against the remaining input.
    fn len_u64(&mut self, raw: u64) -> std::result::Result<usize, Fail> {
        let remaining = self.input.len() - self.pos;
        match usize::try_from(raw) {
            Ok(n) if n <= remaining => Ok(n),
            _ => Err(format!(
                "length {raw} exceeds the {remaining} remaining bytes"
            )),
        }
    }

    fn sized(&mut self, raw: u64) -> std::result::Result<&'a [u8], Fail> {
        let n = self.len_u64(raw)?;
        self.take(n)
    }

    /// A text argument: the bytes up to the next newline, which is consumed.
    fn line(&mut self) -> std::result::Result<&'a [u8], Fail> {
        let rest = self.input.get(self.pos..).unwrap_or_default();
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return Err("truncated: argument line has no newline".into());
        };
        self.pos += end + 1;
        Ok(rest.get(..end).unwrap_or_default())
    }

    fn line_str(&mut self) -> std::result::Result<&'a str, Fail> {
        let line = self.line()?;
        std::str::from_utf8(line).map_err(|_| "argument line is not valid UTF-8".to_string())
    }

    // ---- the stack ------------------------------------------------------------

    fn add(&mut self, node: Node) -> std::result::Result<Id, Fail> {
        let id = Id::try_from(self.nodes.len()).map_err(|_| "too many objects".to_string())?;
        // The node's slot, and the flag `materialize` keeps for it.
        self.charge(size_of::<Node>() + 1)?;
        self.nodes.push(node);
        Ok(id)
    }

    fn push_new(&mut self, node: Node) -> std::result::Result<(), Fail> {
        let id = self.add(node)?;
        self.push(id)
    }

    /// Pushes an id, charging its slot.
    fn push(&mut self, id: Id) -> std::result::Result<(), Fail> {
        self.charge(size_of::<Id>())?;
        self.stack.push(id);
        Ok(())
    }

    fn leaf(&mut self, v: Value) -> std::result::Result<(), Fail> {
        self.push_new(Node::Leaf(v))
    }

    /// The stack length below which the current `MARK` protects the stack.
    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> std::result::Result<Id, Fail> {
        if self.stack.len() <= self.fence() {
            return Err("stack underflow".into());
        }
        self.stack.pop().ok_or_else(|| "stack underflow".into())
    }

    fn top(&self) -> std::result::Result<Id, Fail> {
        if self.stack.len() <= self.fence() {
            return Err("stack underflow".into());
        }
        self.stack
            .last()
            .copied()
            .ok_or_else(|| "stack underflow".into())
    }

    /// Pops everything down to the last `MARK`, and the mark.
    fn pop_mark(&mut self) -> std::result::Result<Vec<Id>, Fail> {
        let Some(mark) = self.marks.pop() else {
            return Err("no MARK to pop to".into());
        };
        // The popped ids move to a new vector.
        let n = self.stack.len().saturating_sub(mark);
        self.charge(ids_cost(n))?;
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn node(&self, id: Id) -> &Node {
        // Ids only come from `add`, so they are always in range; the
        // fallback keeps this total anyway.
        static EMPTY: Node = Node::Tuple(Vec::new());
        self.nodes.get(id as usize).unwrap_or(&EMPTY)
    }

    fn node_mut(&mut self, id: Id) -> std::result::Result<&mut Node, Fail> {
        self.nodes
            .get_mut(id as usize)
            .ok_or_else(|| "internal: bad node id".to_string())
    }

    fn charge(&mut self, bytes: usize) -> std::result::Result<(), Fail> {
        match self.budget.checked_sub(bytes) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => Err(format!(
                "decoding would exceed the size limit ({}x the pickle's length plus \
                 1 MiB); the pickle holds too many objects or refers to the same \
                 object too many times",
                self.limits.max_expansion
            )),
        }
    }

    fn memo_put(&mut self, index: u32) -> std::result::Result<(), Fail> {
        let top = self.top()?;
        if self.memo.len() >= self.limits.max_memo && !self.memo.contains_key(&index) {
            return Err(format!("more than {} memo entries", self.limits.max_memo));
        }
        if !self.memo.contains_key(&index) {
            self.charge(MEMO_ENTRY)?;
        }
        self.memo.insert(index, top);
        Ok(())
    }

    fn memo_get(&mut self, index: u32) -> std::result::Result<(), Fail> {
        let id = *self
            .memo
            .get(&index)
            .ok_or_else(|| format!("memo entry {index} was never stored"))?;
        self.push(id)
    }
}

/// What a vector of `n` ids costs: at least the smallest block the
/// allocator hands out.
fn ids_cost(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (n * size_of::<Id>()).max(32)
    }
}

/// What a memo entry costs in the hash map, with its share of spare slots.
const MEMO_ENTRY: usize = 24;

#[cfg(test)]
mod tests;
