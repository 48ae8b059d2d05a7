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

use super::globals::{self, Global};
use super::int;
use super::opcodes::{self as op, name as op_name};
use super::value::{Object, Value};
use crate::{Error, Result};

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
/// those become plain data ([`Object`], [`Value::Set`], [`Value::Bytes`]).
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
/// use stdrpc::{Value, from_pickle};
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

    // ---- opcodes ----------------------------------------------------------------

    /// Runs one opcode; returns the root at `STOP`.
    fn step(&mut self, code: u8) -> std::result::Result<Option<Id>, Fail> {
        match code {
            op::PROTO => {
                let p = self.byte()?;
                if p > 5 {
                    return Err(format!("unsupported pickle protocol {p}"));
                }
                self.proto = p;
            }
            op::FRAME => {
                // Frames only group opcodes for buffered reading; the length
                // must fit what is left, and is otherwise ignored.
                let n = u64::from_le_bytes(self.array()?);
                self.len_u64(n)?;
            }
            op::STOP => return self.stop().map(Some),
            op::MARK => {
                self.charge(size_of::<usize>())?;
                self.marks.push(self.stack.len());
            }
            op::POP => {
                if self.stack.len() > self.fence() {
                    self.stack.pop();
                } else {
                    self.pop_mark()?;
                }
            }
            op::POP_MARK => {
                self.pop_mark()?;
            }
            op::DUP => {
                let top = self.top()?;
                self.push(top)?;
            }

            op::NONE => self.push(NONE_ID)?,
            op::NEWTRUE => self.push(TRUE_ID)?,
            op::NEWFALSE => self.push(FALSE_ID)?,
            op::BININT => {
                let v = i32::from_le_bytes(self.array()?);
                self.leaf(Value::Int(i64::from(v)))?;
            }
            op::BININT1 => {
                let v = self.byte()?;
                self.leaf(Value::Int(i64::from(v)))?;
            }
            op::BININT2 => {
                let v = u16::from_le_bytes(self.array()?);
                self.leaf(Value::Int(i64::from(v)))?;
            }
            op::LONG1 => {
                let n = self.byte()?;
                let bytes = self.take(usize::from(n))?;
                self.leaf(int::from_signed_bytes_le(bytes))?;
            }
            op::LONG4 => {
                let n = i32::from_le_bytes(self.array()?);
                let n = u64::try_from(n).map_err(|_| format!("negative length {n}"))?;
                let bytes = self.sized(n)?;
                self.leaf(int::from_signed_bytes_le(bytes))?;
            }
            op::INT => {
                let text = self.line_str()?;
                match text {
                    // Protocol 0's booleans.
                    "00" => self.push(FALSE_ID)?,
                    "01" => self.push(TRUE_ID)?,
                    _ => {
                        let v = int::parse_decimal(text)?;
                        self.leaf(v)?;
                    }
                }
            }
            op::LONG => {
                let text = self.line_str()?;
                let digits = text.strip_suffix('L').unwrap_or(text);
                let v = int::parse_decimal(digits)?;
                self.leaf(v)?;
            }
            op::BINFLOAT => {
                let v = f64::from_be_bytes(self.array()?);
                self.leaf(Value::Float(v))?;
            }
            op::FLOAT => {
                let text = self.line_str()?;
                let v: f64 = text
                    .parse()
                    .map_err(|_| format!("invalid float literal {:?}", clipped(text)))?;
                self.leaf(Value::Float(v))?;
            }

            op::SHORT_BINUNICODE => {
                let n = self.byte()?;
                let bytes = self.take(usize::from(n))?;
                self.leaf(Value::Str(utf8(bytes)?))?;
            }
            op::BINUNICODE => {
                let n = u32::from_le_bytes(self.array()?);
                let bytes = self.sized(u64::from(n))?;
                self.leaf(Value::Str(utf8(bytes)?))?;
            }
            op::BINUNICODE8 => {
                let n = u64::from_le_bytes(self.array()?);
                let bytes = self.sized(n)?;
                self.leaf(Value::Str(utf8(bytes)?))?;
            }
            op::UNICODE => {
                let line = self.line()?;
                self.leaf(Value::Str(raw_unicode_escape(line)?))?;
            }
            op::STRING => {
                let line = self.line()?;
                let bytes = python2_string_literal(line)?;
                self.leaf(Value::Str(ascii(bytes)?))?;
            }
            op::BINSTRING => {
                let n = i32::from_le_bytes(self.array()?);
                let n = u64::try_from(n).map_err(|_| format!("negative length {n}"))?;
                let bytes = self.sized(n)?.to_vec();
                self.leaf(Value::Str(ascii(bytes)?))?;
            }
            op::SHORT_BINSTRING => {
                let n = self.byte()?;
                let bytes = self.take(usize::from(n))?.to_vec();
                self.leaf(Value::Str(ascii(bytes)?))?;
            }
            op::SHORT_BINBYTES => {
                let n = self.byte()?;
                let bytes = self.take(usize::from(n))?;
                self.leaf(Value::Bytes(bytes.to_vec()))?;
            }
            op::BINBYTES => {
                let n = u32::from_le_bytes(self.array()?);
                let bytes = self.sized(u64::from(n))?;
                self.leaf(Value::Bytes(bytes.to_vec()))?;
            }
            op::BINBYTES8 | op::BYTEARRAY8 => {
                let n = u64::from_le_bytes(self.array()?);
                let bytes = self.sized(n)?;
                self.leaf(Value::Bytes(bytes.to_vec()))?;
            }

            op::EMPTY_TUPLE => self.push(EMPTY_TUPLE_ID)?,
            op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                let n = usize::from(code - op::TUPLE1) + 1;
                if self.stack.len() < self.fence() + n {
                    return Err("stack underflow".into());
                }
                self.charge(ids_cost(n))?;
                let items = self.stack.split_off(self.stack.len() - n);
                self.push_new(Node::Tuple(items))?;
            }
            op::TUPLE => {
                let items = self.pop_mark()?;
                if items.is_empty() {
                    self.push(EMPTY_TUPLE_ID)?;
                } else {
                    self.push_new(Node::Tuple(items))?;
                }
            }
            op::EMPTY_LIST => self.push_new(Node::List(Vec::new()))?,
            op::LIST => {
                let items = self.pop_mark()?;
                self.push_new(Node::List(items))?;
            }
            op::EMPTY_DICT => self.push_new(Node::Dict(Vec::new()))?,
            op::DICT => {
                let items = self.pop_mark()?;
                if items.len() % 2 != 0 {
                    return Err("odd number of items for a dict".into());
                }
                self.push_new(Node::Dict(items))?;
            }
            op::EMPTY_SET => self.push_new(Node::Set(Vec::new()))?,
            op::FROZENSET => {
                let items = self.pop_mark()?;
                self.push_new(Node::FrozenSet(items))?;
            }
            op::APPEND => {
                let item = self.pop()?;
                self.extend(&[item], Target::List)?;
            }
            op::APPENDS => {
                let items = self.pop_mark()?;
                self.extend(&items, Target::List)?;
            }
            op::SETITEM => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.extend(&[key, value], Target::Dict)?;
            }
            op::SETITEMS => {
                let items = self.pop_mark()?;
                if items.len() % 2 != 0 {
                    return Err("odd number of items for a dict".into());
                }
                self.extend(&items, Target::Dict)?;
            }
            op::ADDITEMS => {
                let items = self.pop_mark()?;
                self.extend(&items, Target::Set)?;
            }

            op::GLOBAL => {
                let module = self.line_str()?;
                let name = self.line_str()?;
                let g = globals::resolve(module, name, self.proto)?;
                self.push_new(Node::Global(g))?;
            }
            op::STACK_GLOBAL => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Node::Leaf(Value::Str(module)), Node::Leaf(Value::Str(name))) =
                    (self.node(module), self.node(name))
                else {
                    return Err("module and name must be strings".into());
                };
                let g = globals::resolve(module, name, self.proto)?;
                self.push_new(Node::Global(g))?;
            }
            op::INST => {
                let module = self.line_str()?;
                let name = self.line_str()?;
                let g = globals::resolve(module, name, self.proto)?;
                let args = self.pop_mark()?;
                let callable = self.add(Node::Global(g))?;
                let args = self.tuple(args)?;
                let result = self.call(callable, args)?;
                self.push(result)?;
            }
            op::OBJ => {
                let mut items = self.pop_mark()?;
                if items.is_empty() {
                    return Err("stack underflow".into());
                }
                let callable = items.remove(0);
                let args = self.tuple(items)?;
                let result = self.call(callable, args)?;
                self.push(result)?;
            }
            op::REDUCE => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let result = self.call(callable, args)?;
                self.push(result)?;
            }
            op::NEWOBJ => {
                let args = self.pop()?;
                let class = self.pop()?;
                self.newobj(class, args)?;
            }
            op::NEWOBJ_EX => {
                let kwargs = self.pop()?;
                let args = self.pop()?;
                let class = self.pop()?;
                match self.node(kwargs) {
                    Node::Dict(items) if items.is_empty() => {}
                    _ => return Err("keyword arguments to __new__ are not supported".into()),
                }
                self.newobj(class, args)?;
            }
            op::BUILD => {
                let state = self.pop()?;
                let target = self.top()?;
                match self.node_mut(target)? {
                    Node::Object {
                        state: s @ None, ..
                    } => *s = Some(state),
                    Node::Object { .. } => {
                        return Err("state set twice on the same object".into());
                    }
                    other => return Err(format!("cannot set state on a {}", other.kind())),
                }
            }

            op::MEMOIZE => {
                let index =
                    u32::try_from(self.memo.len()).map_err(|_| "memo overflow".to_string())?;
                self.memo_put(index)?;
            }
            op::BINPUT => {
                let index = self.byte()?;
                self.memo_put(u32::from(index))?;
            }
            op::LONG_BINPUT => {
                let index = u32::from_le_bytes(self.array()?);
                self.memo_put(index)?;
            }
            op::PUT => {
                let index = self.line_index()?;
                self.memo_put(index)?;
            }
            op::BINGET => {
                let index = self.byte()?;
                self.memo_get(u32::from(index))?;
            }
            op::LONG_BINGET => {
                let index = u32::from_le_bytes(self.array()?);
                self.memo_get(index)?;
            }
            op::GET => {
                let index = self.line_index()?;
                self.memo_get(index)?;
            }

            op::PERSID | op::BINPERSID => {
                return Err("persistent ids are not supported".into());
            }
            op::EXT1 | op::EXT2 | op::EXT4 => {
                return Err("extension registry codes are not supported".into());
            }
            op::NEXT_BUFFER | op::READONLY_BUFFER => {
                return Err("out-of-band buffers are not supported".into());
            }
            other => return Err(format!("invalid opcode 0x{other:02x}")),
        }
        Ok(None)
    }

    fn stop(&mut self) -> std::result::Result<Id, Fail> {
        let root = self.pop()?;
        if !self.marks.is_empty() {
            return Err("MARK left open".into());
        }
        if !self.stack.is_empty() {
            return Err(format!("{} values left on the stack", self.stack.len()));
        }
        let trailing = self.input.len() - self.pos;
        if trailing > 0 {
            return Err(format!("{trailing} bytes after STOP"));
        }
        Ok(root)
    }

    /// A decimal memo index on its own line (protocol 0's `PUT` and `GET`).
    fn line_index(&mut self) -> std::result::Result<u32, Fail> {
        let text = self.line_str()?;
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("invalid memo index {:?}", clipped(text)));
        }
        text.parse()
            .map_err(|_| format!("memo index {} out of range", clipped(text)))
    }

    /// Adds items to the container on top of the stack.
    fn extend(&mut self, items: &[Id], target: Target) -> std::result::Result<(), Fail> {
        let top = self.top()?;
        self.charge(ids_cost(items.len()))?;
        match (self.node_mut(top)?, target) {
            (Node::List(v), Target::List)
            | (Node::Dict(v), Target::Dict)
            | (Node::Set(v), Target::Set) => {
                v.extend_from_slice(items);
                Ok(())
            }
            (other, target) => Err(format!(
                "cannot add items to a {} (expected a {})",
                other.kind(),
                target.name()
            )),
        }
    }

    fn tuple(&mut self, items: Vec<Id>) -> std::result::Result<Id, Fail> {
        if items.is_empty() {
            Ok(EMPTY_TUPLE_ID)
        } else {
            self.add(Node::Tuple(items))
        }
    }

    /// `callable(*args)`, for the allow-listed callables: classes become
    /// objects, the builtin constructors are applied to the data.
    fn call(&mut self, callable: Id, args: Id) -> std::result::Result<Id, Fail> {
        let Node::Global(g) = *self.node(callable) else {
            return Err(format!(
                "cannot call a {} (only allow-listed classes and functions)",
                self.node(callable).kind()
            ));
        };
        let Node::Tuple(arg_ids) = self.node(args) else {
            return Err(format!(
                "arguments must be a tuple, not a {}",
                self.node(args).kind()
            ));
        };
        let arg_ids = arg_ids.clone();
        let arg = |i: usize| arg_ids.get(i).map(|&id| self.node(id));
        let node = match (g, arg_ids.len()) {
            (Global::Class(class), _) => Node::Object {
                class,
                args,
                state: None,
                newobj: false,
            },
            (Global::Set | Global::FrozenSet, 0) => set_node(g, Vec::new()),
            (Global::Set | Global::FrozenSet, 1) => {
                let items = match arg(0) {
                    Some(Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v)) => {
                        v.clone()
                    }
                    other => {
                        return Err(format!(
                            "{}() needs a list, tuple or set, not a {}",
                            g.describe(),
                            other.map_or("nothing", Node::kind)
                        ));
                    }
                };
                self.charge(items.len() * size_of::<Id>())?;
                set_node(g, items)
            }
            (Global::Bytes | Global::ByteArray, 0) => Node::Leaf(Value::Bytes(Vec::new())),
            (Global::Bytes | Global::ByteArray, 1) => match arg(0) {
                Some(Node::Leaf(Value::Bytes(b))) => {
                    let b = b.clone();
                    self.charge(b.len())?;
                    Node::Leaf(Value::Bytes(b))
                }
                other => {
                    return Err(format!(
                        "{}() needs bytes, not a {}",
                        g.describe(),
                        other.map_or("nothing", Node::kind)
                    ));
                }
            },
            (Global::ByteArray | Global::CodecsEncode, 1 | 2) => {
                let encoding = match arg(1) {
                    None if g == Global::CodecsEncode => "utf-8",
                    Some(Node::Leaf(Value::Str(e))) => e.as_str(),
                    _ => return Err(format!("{}(): invalid encoding argument", g.describe())),
                };
                let Some(Node::Leaf(Value::Str(text))) = arg(0) else {
                    return Err(format!(
                        "{}(): the first argument must be a str",
                        g.describe()
                    ));
                };
                let bytes = encode_text(text, encoding)?;
                self.charge(bytes.len())?;
                Node::Leaf(Value::Bytes(bytes))
            }
            (g, n) => {
                return Err(format!("{}() does not take {n} arguments", g.describe()));
            }
        };
        self.add(node)
    }

    /// `cls.__new__(cls, *args)`, for allow-listed classes.
    fn newobj(&mut self, class: Id, args: Id) -> std::result::Result<(), Fail> {
        let class = match self.node(class) {
            Node::Global(Global::Class(c)) => *c,
            Node::Global(g) => return Err(format!("cannot create {} with __new__", g.describe())),
            other => return Err(format!("cannot instantiate a {}", other.kind())),
        };
        if !matches!(self.node(args), Node::Tuple(_)) {
            return Err(format!(
                "arguments must be a tuple, not a {}",
                self.node(args).kind()
            ));
        }
        self.push_new(Node::Object {
            class,
            args,
            state: None,
            newobj: true,
        })
    }

    // ---- building the tree ------------------------------------------------------

    /// The `i`-th child of a node, in the order the tree needs them.
    fn child(&self, id: Id, i: usize) -> Option<Id> {
        match self.node(id) {
            Node::Tuple(v) | Node::List(v) | Node::Dict(v) | Node::Set(v) | Node::FrozenSet(v) => {
                v.get(i).copied()
            }
            Node::Object { args, state, .. } => match i {
                0 => Some(*args),
                1 => *state,
                _ => None,
            },
            Node::Leaf(_) | Node::Global(_) => None,
        }
    }

    /// Turns the node graph under `root` into a tree, without recursion.
    ///
    /// Each container's children are collected straight into a vector of
    /// their exact number, which becomes the container: no value is held
    /// twice, so the tree's memory is what the budget charged for it.
    fn materialize(&mut self, root: Id) -> std::result::Result<Value, Fail> {
        struct Frame {
            id: Id,
            next: usize,
            children: Vec<Value>,
        }
        // The stack and the memo are not needed any more.
        self.stack = Vec::new();
        self.memo = HashMap::new();
        self.marks = Vec::new();
        if let Node::Leaf(v) = self.node(root) {
            let v = v.clone();
            self.charge(weight(&v))?;
            return Ok(v);
        }
        if self.limits.max_depth == 0 {
            return Err("values nested more than 0 deep".into());
        }
        let mut on_path = vec![false; self.nodes.len()];
        let mut work = vec![Frame {
            id: root,
            next: 0,
            children: Vec::with_capacity(self.child_count(root)),
        }];
        if let Some(flag) = on_path.get_mut(root as usize) {
            *flag = true;
        }
        while let Some(frame) = work.last_mut() {
            let id = frame.id;
            if let Some(child) = self.child(id, frame.next) {
                frame.next += 1;
                if let Node::Leaf(v) = self.node(child) {
                    let v = v.clone();
                    self.charge(weight(&v))?;
                    frame.children.push(v);
                    continue;
                }
                if on_path.get(child as usize).copied().unwrap_or(false) {
                    return Err("a container holds itself; recursive structures cannot be \
                                represented"
                        .into());
                }
                if work.len() >= self.limits.max_depth {
                    return Err(format!(
                        "values nested more than {} deep",
                        self.limits.max_depth
                    ));
                }
                if let Some(flag) = on_path.get_mut(child as usize) {
                    *flag = true;
                }
                work.push(Frame {
                    id: child,
                    next: 0,
                    children: Vec::with_capacity(self.child_count(child)),
                });
            } else {
                let Some(frame) = work.pop() else {
                    break;
                };
                if let Some(flag) = on_path.get_mut(id as usize) {
                    *flag = false;
                }
                let v = self.build(id, frame.children)?;
                self.charge(weight(&v))?;
                match work.last_mut() {
                    Some(parent) => parent.children.push(v),
                    None => return Ok(v),
                }
            }
        }
        Err("internal: empty result".to_string())
    }

    /// How many children `child` yields for a node.
    fn child_count(&self, id: Id) -> usize {
        match self.node(id) {
            Node::Tuple(v) | Node::List(v) | Node::Dict(v) | Node::Set(v) | Node::FrozenSet(v) => {
                v.len()
            }
            Node::Object { state, .. } => 1 + usize::from(state.is_some()),
            Node::Leaf(_) | Node::Global(_) => 0,
        }
    }

    /// One container or object from its already built children.
    fn build(&self, id: Id, children: Vec<Value>) -> std::result::Result<Value, Fail> {
        Ok(match self.node(id) {
            Node::Leaf(v) => v.clone(),
            Node::Tuple(_) => Value::Tuple(children),
            Node::List(_) => Value::List(children),
            Node::Set(_) => Value::Set(children),
            Node::FrozenSet(_) => Value::FrozenSet(children),
            Node::Dict(_) => {
                let mut entries = Vec::with_capacity(children.len() / 2);
                let mut it = children.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    entries.push((k, v));
                }
                Value::Dict(entries)
            }
            Node::Object { class, newobj, .. } => {
                let mut it = children.into_iter();
                let Some(Value::Tuple(args)) = it.next() else {
                    return Err("internal: object arguments are not a tuple".into());
                };
                let (module, name) = globals::class_name(*class);
                let mut obj = if *newobj {
                    Object::new_instance(module, name, args)
                } else {
                    Object::call(module, name, args)
                };
                obj.state = it.next();
                Value::Object(Box::new(obj))
            }
            Node::Global(g) => {
                return Err(format!(
                    "{} is a class or function, which can only be called, not returned as data",
                    g.describe()
                ));
            }
        })
    }
}

/// Which container an `APPEND`-like opcode fills.
#[derive(Clone, Copy)]
enum Target {
    List,
    Dict,
    Set,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::List => "list",
            Target::Dict => "dict",
            Target::Set => "set",
        }
    }
}

fn set_node(g: Global, items: Vec<Id>) -> Node {
    if g == Global::FrozenSet {
        Node::FrozenSet(items)
    } else {
        Node::Set(items)
    }
}

/// The first 100 characters of a text from the input, for an error message
/// (which must not grow with the input), with `...` if cut.
pub(super) fn clipped(text: &str) -> String {
    const SHOWN: usize = 100;
    match text.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}...", text.get(..at).unwrap_or_default()),
        None => text.to_owned(),
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

/// Approximately the memory a value adds to the tree (its slot plus its own
/// heap payload; children are counted on their own).
fn weight(v: &Value) -> usize {
    size_of::<Value>()
        + match v {
            Value::Str(s) => s.len(),
            Value::Bytes(b) => b.len(),
            Value::BigInt(i) => i.as_signed_bytes_le().len(),
            Value::Object(obj) => size_of::<Object>() + obj.module.len() + obj.name.len(),
            _ => 0,
        }
}

fn utf8(bytes: &[u8]) -> std::result::Result<String, Fail> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        // Python writes lone surrogates with "surrogatepass": ED A0..BF xx.
        Err(_) if bytes.windows(2).any(|w| w[0] == 0xED && w[1] >= 0xA0) => {
            Err("str holds a lone surrogate, which a Rust String cannot".into())
        }
        Err(e) => Err(format!("invalid UTF-8 in str: {e}")),
    }
}

/// Protocol 0–2 `str` of Python 2, decoded as Python 3 does by default: ASCII.
fn ascii(bytes: Vec<u8>) -> std::result::Result<String, Fail> {
    if !bytes.is_ascii() {
        return Err("Python 2 string is not ASCII".into());
    }
    String::from_utf8(bytes).map_err(|_| "Python 2 string is not ASCII".into())
}

/// `bytes` for `text.encode(encoding)`, for the encodings pickle uses.
fn encode_text(text: &str, encoding: &str) -> std::result::Result<Vec<u8>, Fail> {
    let normalized = encoding.to_ascii_lowercase().replace(['-', ' '], "_");
    match normalized.as_str() {
        "latin1" | "latin_1" | "iso8859_1" | "iso_8859_1" | "l1" | "latin" => text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).map_err(|_| "character outside latin-1".into()))
            .collect(),
        "utf8" | "utf_8" | "u8" | "utf" => Ok(text.as_bytes().to_vec()),
        _ => Err(format!("unsupported encoding {:?}", clipped(encoding))),
    }
}

/// Decodes protocol 0's `UNICODE` argument ("raw-unicode-escape"): bytes are
/// Latin-1 characters, except that `\uXXXX` and `\UXXXXXXXX` after an odd
/// run of backslashes are escapes.
fn raw_unicode_escape(line: &[u8]) -> std::result::Result<String, Fail> {
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while let Some(&b) = line.get(i) {
        i += 1;
        if b != b'\\' {
            out.push(char::from(b));
            continue;
        }
        let mut run = 1;
        while line.get(i) == Some(&b'\\') {
            run += 1;
            i += 1;
        }
        let width = match line.get(i) {
            Some(b'u') if run % 2 == 1 => 4,
            Some(b'U') if run % 2 == 1 => 8,
            _ => {
                out.extend(std::iter::repeat_n('\\', run));
                continue;
            }
        };
        out.extend(std::iter::repeat_n('\\', run - 1));
        let hex = line
            .get(i + 1..i + 1 + width)
            .ok_or_else(|| "truncated \\u escape".to_string())?;
        let code = std::str::from_utf8(hex)
            .ok()
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| "invalid \\u escape".to_string())?;
        let c = char::from_u32(code)
            .ok_or_else(|| format!("\\u escape {code:#x} is not a character Rust can hold"))?;
        out.push(c);
        i += 1 + width;
    }
    Ok(out)
}

/// Decodes protocol 0's `STRING` argument: a quoted Python 2 string literal
/// with backslash escapes (`codecs.escape_decode`).
fn python2_string_literal(line: &[u8]) -> std::result::Result<Vec<u8>, Fail> {
    let inner = match line {
        [q, inner @ .., last] if (*q == b'\'' || *q == b'"') && last == q => inner,
        _ => return Err("the STRING argument must be quoted".into()),
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while let Some(&b) = inner.get(i) {
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some(&e) = inner.get(i) else {
            return Err("trailing backslash in STRING".into());
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'x' => {
                let hex = inner
                    .get(i..i + 2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or_else(|| "invalid \\x escape in STRING".to_string())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
                i += 2;
            }
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match inner.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(bytes: &[u8]) -> Value {
        from_pickle(bytes).unwrap_or_else(|e| panic!("{e}: {bytes:?}"))
    }

    fn err(bytes: &[u8]) -> String {
        match from_pickle(bytes) {
            Ok(v) => panic!("decoded {v:?} from {bytes:?}"),
            Err(e @ Error::Decode(_)) => e.to_string(),
            Err(e) => panic!("not a decode error: {e}"),
        }
    }

    fn s(text: &str) -> Value {
        Value::Str(text.into())
    }

    fn i(v: i64) -> Value {
        Value::Int(v)
    }

    #[test]
    fn scalars() {
        assert_eq!(load(b"\x80\x04N."), Value::None);
        assert_eq!(load(b"\x80\x02\x88."), Value::Bool(true));
        assert_eq!(load(b"\x80\x02\x89."), Value::Bool(false));
        assert_eq!(load(b"\x80\x02K\xff."), i(255));
        assert_eq!(load(b"\x80\x02M\x88\x13."), i(5000));
        assert_eq!(load(b"\x80\x02J\xff\xff\xff\xff."), i(-1));
        assert_eq!(load(b"\x80\x02J\x00\x00\x00\x80."), i(-(1 << 31)));
        assert_eq!(load(b"\x80\x02\x8a\x05\x00\x00\x00\x80\x00."), i(1 << 31));
        assert_eq!(load(b"\x80\x02\x8a\x00."), i(0));
        assert_eq!(load(b"\x80\x02\x8b\x01\x00\x00\x00\xfe."), i(-2));
        let mut two_200 = b"\x80\x02\x8a\x1a".to_vec();
        two_200.extend_from_slice(&[0; 25]);
        two_200.extend_from_slice(b"\x01.");
        assert_eq!(
            load(&two_200).to_string(),
            "1606938044258990275541962092341162602522202993782792835301376"
        );
        assert_eq!(
            load(b"\x80\x02G?\xf8\x00\x00\x00\x00\x00\x00."),
            Value::Float(1.5)
        );
    }

    #[test]
    fn strings_and_bytes() {
        assert_eq!(load(b"\x80\x04\x8c\x03h\xc3\xa9."), s("hé"));
        assert_eq!(load(b"\x80\x02X\x02\x00\x00\x00hi."), s("hi"));
        assert_eq!(
            load(b"\x80\x04\x8d\x01\x00\x00\x00\x00\x00\x00\x00x."),
            s("x")
        );
        assert_eq!(load(b"\x80\x03C\x02ab."), Value::Bytes(b"ab".to_vec()));
        assert_eq!(
            load(b"\x80\x03B\x01\x00\x00\x00z."),
            Value::Bytes(b"z".to_vec())
        );
        assert_eq!(
            load(b"\x80\x04\x8e\x01\x00\x00\x00\x00\x00\x00\x00z."),
            Value::Bytes(b"z".to_vec())
        );
        assert_eq!(
            load(b"\x80\x05\x96\x02\x00\x00\x00\x00\x00\x00\x00ab."),
            Value::Bytes(b"ab".to_vec())
        );
        // Python 2 strings: ASCII only.
        assert_eq!(load(b"\x80\x02U\x02ab."), s("ab"));
        assert_eq!(load(b"\x80\x02T\x01\x00\x00\x00a."), s("a"));
        assert!(err(b"\x80\x02U\x01\xff.").contains("not ASCII"));
        assert!(err(b"\x80\x02T\xff\xff\xff\xff.").contains("negative length"));
        // Invalid UTF-8 and lone surrogates.
        assert!(err(b"\x80\x04\x8c\x01\xff.").contains("invalid UTF-8"));
        assert!(err(b"\x80\x04\x8c\x03\xed\xb2\x80.").contains("lone surrogate"));
    }

    #[test]
    fn protocol2_bytes_and_sets() {
        // pickle.dumps(b'ab', 2)
        let p = b"\x80\x02c_codecs\nencode\nq\x00X\x02\x00\x00\x00abq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.";
        assert_eq!(load(p), Value::Bytes(b"ab".to_vec()));
        // Latin-1 text above U+007F comes back as the single bytes.
        let p =
            b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xbfX\x07\x00\x00\x00latin-1\x86R.";
        assert_eq!(load(p), Value::Bytes(vec![0xff]));
        let p = b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00\xc4\x80X\x06\x00\x00\x00latin1\x86R.";
        assert!(err(p).contains("outside latin-1"));
        let p = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x03\x00\x00\x00rot\x86R.";
        assert!(err(p).contains("unsupported encoding"));
        let p = b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xbf\x85R.";
        assert_eq!(load(p), Value::Bytes(vec![0xc3, 0xbf]));
        // pickle.dumps(b'', 2)
        assert_eq!(
            load(b"\x80\x02c__builtin__\nbytes\nq\x00)Rq\x01."),
            Value::Bytes(vec![])
        );
        // pickle.dumps(bytearray(b'x'), 2)
        let p = b"\x80\x02c__builtin__\nbytearray\nq\x00c_codecs\nencode\nq\x01X\x01\x00\x00\x00xq\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05\x85q\x06Rq\x07.";
        assert_eq!(load(p), Value::Bytes(b"x".to_vec()));
        let p =
            b"\x80\x02c__builtin__\nbytearray\nX\x01\x00\x00\x00xX\x07\x00\x00\x00latin-1\x86R.";
        assert_eq!(load(p), Value::Bytes(b"x".to_vec()));
        assert!(err(b"\x80\x02c__builtin__\nbytes\nK\x01\x85R.").contains("needs bytes"));
        assert!(
            err(b"\x80\x02c__builtin__\nbytes\nK\x01K\x01K\x01\x87R.").contains("does not take 3")
        );
        // pickle.dumps({1, 2}, 2), pickle.dumps(frozenset({1}), 2), set()
        let p = b"\x80\x02c__builtin__\nset\nq\x00]q\x01(K\x01K\x02e\x85q\x02Rq\x03.";
        assert_eq!(load(p), Value::Set(vec![i(1), i(2)]));
        let p = b"\x80\x02c__builtin__\nfrozenset\nq\x00]q\x01K\x01a\x85q\x02Rq\x03.";
        assert_eq!(load(p), Value::FrozenSet(vec![i(1)]));
        assert_eq!(load(b"\x80\x02c__builtin__\nset\n)R."), Value::Set(vec![]));
        assert!(err(b"\x80\x02c__builtin__\nset\nK\x01\x85R.").contains("needs a list"));
        // Protocol 3 names builtins as builtins.
        assert_eq!(load(b"\x80\x03cbuiltins\nset\n)R."), Value::Set(vec![]));
    }

    #[test]
    fn containers() {
        // pickle.dumps((1, [2, 3], {'a': (4,)}, (), {5}, frozenset()), 4)
        let p = b"\x80\x04\x95\x21\x00\x00\x00\x00\x00\x00\x00(K\x01]\x94(K\x02K\x03e}\x94\x8c\x01a\x94K\x04\x85\x94s)\x8f\x94(K\x05\x90(\x91\x94t\x94.";
        assert_eq!(
            load(p),
            Value::Tuple(vec![
                i(1),
                Value::List(vec![i(2), i(3)]),
                Value::Dict(vec![(s("a"), Value::Tuple(vec![i(4)]))]),
                Value::Tuple(vec![]),
                Value::Set(vec![i(5)]),
                Value::FrozenSet(vec![]),
            ])
        );
        assert_eq!(load(b"\x80\x02K\x01\x85."), Value::Tuple(vec![i(1)]));
        assert_eq!(
            load(b"\x80\x02K\x01K\x02\x86."),
            Value::Tuple(vec![i(1), i(2)])
        );
        assert_eq!(
            load(b"\x80\x02K\x01K\x02K\x03\x87."),
            Value::Tuple(vec![i(1), i(2), i(3)])
        );
        assert_eq!(load(b"\x80\x02(t."), Value::Tuple(vec![]));
        assert_eq!(
            load(b"\x80\x02}K\x01K\x02s."),
            Value::Dict(vec![(i(1), i(2))])
        );
        assert_eq!(
            load(b"\x80\x02}(K\x01K\x02K\x03K\x04u."),
            Value::Dict(vec![(i(1), i(2)), (i(3), i(4))])
        );
        assert!(err(b"\x80\x02}(K\x01u.").contains("odd number"));
        assert!(err(b"\x80\x02(K\x01d.").contains("odd number"));
        assert!(err(b"\x80\x02]K\x01s.").contains("stack underflow"));
        assert!(err(b"\x80\x02)K\x01a.").contains("cannot add items to a tuple"));
        assert!(err(b"\x80\x04(\x91(K\x01\x90.").contains("cannot add items to a frozenset"));
    }

    #[test]
    fn protocol0_forms() {
        // pickle.dumps([1, (2,)], 0) and friends, as Python 3.13 writes them.
        assert_eq!(
            load(b"(lp0\nI1\na(I2\ntp1\na."),
            Value::List(vec![i(1), Value::Tuple(vec![i(2)])])
        );
        assert_eq!(load(b"I01\n."), Value::Bool(true));
        assert_eq!(load(b"I00\n."), Value::Bool(false));
        assert_eq!(load(b"I-5\n."), i(-5));
        assert_eq!(
            load(b"L1180591620717411303424L\n.").to_string(),
            "1180591620717411303424"
        );
        assert_eq!(load(b"L-7\n."), i(-7));
        assert_eq!(load(b"F1.5\n."), Value::Float(1.5));
        assert_eq!(load(b"F-inf\n."), Value::Float(f64::NEG_INFINITY));
        assert_eq!(
            load(b"Va\xe9\\u1234\\u000a\\u005c\np0\n."),
            s("aé\u{1234}\n\\")
        );
        assert_eq!(load(b"V\\\\u0041\n."), s("\\\\u0041"));
        assert_eq!(load(b"V\\\\\\u0041\n."), s("\\\\A"));
        assert_eq!(load(b"V\\U0001f600x\\\n."), s("😀x\\"));
        assert!(err(b"V\\u12\n.").contains("truncated \\u escape"));
        assert!(err(b"V\\uzzzz\n.").contains("invalid \\u escape"));
        assert!(err(b"V\\ud800\n.").contains("not a character"));
        assert_eq!(load(b"S'ab\\'\\n\\x41\\101\\q'\n."), s("ab'\nAA\\q"));
        assert_eq!(load(b"S\"a\"\n."), s("a"));
        assert!(err(b"Sab\n.").contains("must be quoted"));
        assert!(err(b"S'\\x4'\n.").contains("invalid \\x"));
        assert!(err(b"S'\\xff'\n.").contains("not ASCII"));
        assert_eq!(load(b"(dp0\nVa\nI1\ns."), Value::Dict(vec![(s("a"), i(1))]));
        assert_eq!(load(b"(I1\nI2\nd."), Value::Dict(vec![(i(1), i(2))]));
        assert_eq!(load(b"(I1\nl."), Value::List(vec![i(1)]));
        assert_eq!(load(b"I1\np0\n0g0\n."), i(1));
        assert!(err(b"I1\nI2\n.").contains("1 values left"));
        assert!(err(b"Ix\n.").contains("invalid integer"));
        assert!(err(b"Fx\n.").contains("invalid float"));
        assert!(err(b"I1").contains("no newline"));
        assert!(err(b"I1\np-1\n.").contains("invalid memo index"));
        assert!(err(b"I1\np99999999999\n.").contains("out of range"));
    }

    #[test]
    fn stack_opcodes() {
        // POP, POP_MARK and DUP.
        assert_eq!(load(b"\x80\x02K\x01K\x020."), i(1));
        assert_eq!(load(b"\x80\x02K\x01(K\x02K\x031."), i(1));
        // POP with nothing above the mark pops the mark, as in Python.
        assert_eq!(load(b"\x80\x02K\x01(0."), i(1));
        assert_eq!(load(b"\x80\x02K\x012\x86."), Value::Tuple(vec![i(1), i(1)]));
        assert!(err(b"\x80\x020.").contains("no MARK"));
        assert!(err(b"\x80\x02(2.").contains("stack underflow"));
        assert!(err(b"\x80\x02K\x01(.").contains("stack underflow"));
        assert!(err(b"\x80\x02(K\x01.").contains("MARK left open"));
        assert!(err(b"\x80\x02.").contains("stack underflow"));
        assert!(err(b"\x80\x02K\x01(\x85.").contains("stack underflow"));
        assert!(err(b"\x80\x021.").contains("no MARK"));
    }

    #[test]
    fn memo_keeps_python_reference_semantics() {
        // a = []; (a, a) with the list filled after being memoized:
        // EMPTY_LIST MEMOIZE BININT1 1 APPEND BINGET 0 TUPLE2
        let p = b"\x80\x04]\x94K\x01ah\x00\x86.";
        let one = Value::List(vec![i(1)]);
        assert_eq!(load(p), Value::Tuple(vec![one.clone(), one]));
        // The same through BINPUT/LONG_BINGET, and PUT/GET.
        let p = b"\x80\x02]q\x05K\x01aj\x05\x00\x00\x00\x86.";
        assert_eq!(load(p), Value::Tuple(vec![Value::List(vec![i(1)]); 2]));
        let p = b"\x80\x02]r\x00\x00\x01\x00K\x01aj\x00\x00\x01\x00\x86.";
        assert_eq!(load(p), Value::Tuple(vec![Value::List(vec![i(1)]); 2]));
        assert!(err(b"\x80\x02h\x00.").contains("memo entry 0 was never stored"));
        assert!(err(b"\x80\x02\x94.").contains("stack underflow"));
    }

    #[test]
    fn exceptions_tokens_and_remote_errors() {
        // pickle.dumps(ValueError('x'), 4)
        let p = b"\x80\x04\x95#\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\nValueError\x94\x93\x94\x8c\x01x\x94\x85\x94R\x94.";
        assert_eq!(load(p), Value::exception("ValueError", vec![s("x")]));
        // pickle.dumps(KeyError('k'), 2)
        let p = b"\x80\x02cexceptions\nKeyError\nq\x00X\x01\x00\x00\x00kq\x01\x85q\x02Rq\x03.";
        assert_eq!(load(p), Value::exception("KeyError", vec![s("k")]));
        // pickle.dumps(Token('dict', ('127.0.0.1', 5000), '7f'), 2)
        let p = b"\x80\x02cmultiprocessing.managers\nToken\nq\x00)\x81q\x01X\x04\x00\x00\x00dictq\x02X\t\x00\x00\x00127.0.0.1q\x03M\x88\x13\x86q\x04X\x02\x00\x00\x007fq\x05\x87q\x06b.";
        let addr = Value::Tuple(vec![s("127.0.0.1"), i(5000)]);
        assert_eq!(load(p), Value::token("dict", addr, "7f"));
        // pickle.dumps(RemoteError('x'), 4)
        let p = b"\x80\x04\x954\x00\x00\x00\x00\x00\x00\x00\x8c\x18multiprocessing.managers\x94\x8c\x0bRemoteError\x94\x93\x94\x8c\x01x\x94\x85\x94R\x94.";
        assert_eq!(load(p), Value::remote_error("x"));
        // An exception with notes: REDUCE then BUILD with a dict.
        let p = b"\x80\x04\x8c\x08builtins\x8c\nValueError\x93\x8c\x01x\x85R}\x8c\t__notes__]\x8c\x01nasb.";
        let Value::Object(obj) = load(p) else {
            panic!("not an object")
        };
        assert_eq!(
            obj.state,
            Some(Value::Dict(vec![(
                s("__notes__"),
                Value::List(vec![s("n")])
            )]))
        );
        // NEWOBJ_EX with no keyword arguments; INST and OBJ.
        let p = b"\x80\x04\x8c\x08builtins\x8c\nValueError\x93)}\x92.";
        let Value::Object(obj) = load(p) else {
            panic!("not an object")
        };
        assert!(obj.newobj && obj.args.is_empty());
        let p = b"\x80\x04\x8c\x08builtins\x8c\nValueError\x93)}K\x01K\x02s\x92.";
        assert!(err(p).contains("keyword arguments"));
        assert_eq!(
            load(b"(S'x'\niexceptions\nValueError\n."),
            Value::exception("ValueError", vec![s("x")])
        );
        assert_eq!(
            load(b"(cexceptions\nValueError\nS'x'\no."),
            Value::exception("ValueError", vec![s("x")])
        );
        assert!(err(b"(o.").contains("stack underflow"));
        // BUILD twice, BUILD on a list, NEWOBJ on set, a call of a non-class.
        let p = b"\x80\x04\x8c\x08builtins\x8c\nValueError\x93)RNbNb.";
        assert!(err(p).contains("state set twice"));
        assert!(err(b"\x80\x04]Nb.").contains("cannot set state on a list"));
        assert!(err(b"\x80\x04\x8c\x08builtins\x8c\x03set\x93)\x81.").contains("with __new__"));
        assert!(err(b"\x80\x04K\x01)\x81.").contains("cannot instantiate a int"));
        assert!(err(b"\x80\x04K\x01)R.").contains("cannot call a int"));
        assert!(
            err(b"\x80\x04\x8c\x08builtins\x8c\nValueError\x93NR.").contains("must be a tuple")
        );
        assert!(
            err(b"\x80\x04\x8c\x08builtins\x8c\nValueError\x93N\x81.").contains("must be a tuple")
        );
        assert!(err(b"\x80\x04K\x01\x8c\x01x\x93.").contains("must be strings"));
        // A class as a value rather than called.
        assert!(
            err(b"\x80\x04\x8c\x08builtins\x8c\nValueError\x93.").contains("can only be called")
        );
    }

    #[test]
    fn refused_globals() {
        for p in [
            &b"\x80\x04\x95\x14\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94."[..],
            b"\x80\x02cposix\nsystem\nq\x00.",
            b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.",
            b"cos\nsystem\n(S'ls'\ntR.",
            b"(S'ls'\nios\nsystem\n.",
        ] {
            let e = err(p);
            assert!(e.contains("refusing to load global "), "{e}");
            assert!(e.contains("system"), "{e}");
        }
        let e = err(b"\x80\x02csubprocess\nPopen\n.");
        assert!(
            e.contains("refusing to load global subprocess.Popen"),
            "{e}"
        );
        let e = err(b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.");
        assert_eq!(
            e,
            "decode error: invalid pickle: refusing to load global builtins.eval: only data, \
             builtin exceptions and multiprocessing.managers.Token/RemoteError can be \
             unpickled (opcode STACK_GLOBAL at byte 18)"
        );
        assert!(err(b"\x80\x02c\xff\nx\n.").contains("not valid UTF-8"));
    }

    #[test]
    fn unsupported_opcodes() {
        assert!(err(b"\x80\x02Pid\n.").contains("persistent ids"));
        assert!(err(b"\x80\x02N\x51.").contains("persistent ids"));
        assert!(err(b"\x80\x02\x82\x01.").contains("extension registry"));
        assert!(err(b"\x80\x05\x97.").contains("out-of-band"));
        assert!(err(b"\x80\x05N\x98.").contains("out-of-band"));
        assert!(err(b"\x80\x02\xff.").contains("invalid opcode 0xff"));
        assert!(err(b"\x80\x06N.").contains("unsupported pickle protocol 6"));
    }

    #[test]
    fn framing_and_trailing_bytes() {
        assert_eq!(
            load(b"\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N."),
            Value::None
        );
        assert!(err(b"\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00N.").contains("exceeds"));
        assert!(err(b"\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\xffN.").contains("exceeds"));
        let e = err(b"\x80\x04N.x");
        assert!(e.contains("1 bytes after STOP"), "{e}");
        assert!(err(b"").contains("without STOP"));
        assert!(err(b"\x80\x04N").contains("ends at byte 3 without STOP"));
    }

    #[test]
    fn lengths_are_checked_before_allocating() {
        for p in [
            &b"\x80\x04X\xff\xff\xff\xffab."[..],
            b"\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\xffab.",
            b"\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x80ab.",
            b"\x80\x04B\xff\xff\xff\x7fab.",
            b"\x80\x04\x96\xff\xff\xff\xff\xff\xff\xff\x7fab.",
            b"\x80\x04\x8b\xff\xff\xff\x7fab.",
            b"\x80\x04T\xff\xff\xff\x7fab.",
        ] {
            let e = err(p);
            assert!(e.contains("exceeds the"), "{e}");
        }
        assert!(err(b"\x80\x04\x8b\xff\xff\xff\xffab.").contains("negative length"));
        assert!(err(b"\x80\x04\x8c\x05ab.").contains("truncated"));
    }

    #[test]
    fn self_reference_is_an_error() {
        // l = []; l.append(l)
        let e = err(b"\x80\x04]\x94h\x00a.");
        assert!(e.contains("holds itself"), "{e}");
        // DUP then APPEND does the same.
        assert!(err(b"\x80\x04]2a.").contains("holds itself"));
        // A dict inside a list inside the dict.
        assert!(err(b"\x80\x04}\x94K\x01]h\x00as.").contains("holds itself"));
    }

    #[test]
    fn depth_is_bounded() {
        let nest = |n: usize| {
            let mut p = b"\x80\x04".to_vec();
            p.extend(std::iter::repeat_n(b']', n));
            p.extend(std::iter::repeat_n(b'a', n - 1));
            p.push(b'.');
            p
        };
        let deep = load(&nest(1000));
        let mut depth = 0;
        let mut cur = &deep;
        while let Value::List(items) = cur {
            depth += 1;
            match items.first() {
                Some(next) => cur = next,
                None => break,
            }
        }
        assert_eq!(depth, 1000);
        // Display, Debug, Clone, PartialEq, Drop and encoding recurse: fine
        // at this depth.
        assert_eq!(deep.clone(), deep);
        assert!(deep.to_string().starts_with("[[[["));
        assert!(format!("{deep:?}").starts_with("List([List(["));
        assert_eq!(
            from_pickle(&crate::python::pickle::to_pickle(&deep, 4)).unwrap(),
            deep
        );
        drop(deep);
        assert!(err(&nest(1001)).contains("nested more than 1000 deep"));
        assert!(err(&nest(100_000)).contains("nested more than 1000 deep"));
        let limits = PickleLimits {
            max_depth: 3,
            ..PickleLimits::default()
        };
        assert!(from_pickle_with(&nest(3), &limits).is_ok());
        assert!(from_pickle_with(&nest(4), &limits).is_err());
        let flat = PickleLimits {
            max_depth: 0,
            ..PickleLimits::default()
        };
        assert!(from_pickle_with(&nest(1), &flat).is_err());
        assert!(from_pickle_with(b"\x80\x04N.", &flat).is_ok());
    }

    #[test]
    fn sharing_is_bounded() {
        // Each level is a list holding the previous level twice: 2^40 leaves
        // from a few hundred bytes.
        let mut p = b"\x80\x04\x8c\x04abcd\x940".to_vec();
        for level in 0..40u32 {
            p.extend_from_slice(b"](j");
            p.extend_from_slice(&level.to_le_bytes());
            p.push(b'j');
            p.extend_from_slice(&level.to_le_bytes());
            p.extend_from_slice(b"e\x940");
        }
        p.push(b'j');
        p.extend_from_slice(&40u32.to_le_bytes());
        p.push(b'.');
        let e = err(&p);
        assert!(e.contains("size limit"), "{e}");
        // Copies made by set() on a shared list are charged too.
        let mut p = b"\x80\x02c__builtin__\nset\nq\x00]q\x01(".to_vec();
        p.extend(std::iter::repeat_n(b'N', 10_000));
        p.extend_from_slice(b"e0");
        for _ in 0..100_000 {
            p.extend_from_slice(b"h\x00h\x01\x85R0");
        }
        p.extend_from_slice(b"N.");
        let e = err(&p);
        assert!(e.contains("size limit"), "{e}");
        // A big string referenced a few times is fine.
        let mut p = b"\x80\x04\x8c\xff".to_vec();
        p.extend(std::iter::repeat_n(b'x', 255));
        p.extend_from_slice(b"\x940(h\x00h\x00h\x00h\x00t.");
        assert!(from_pickle(&p).is_ok());
    }

    #[test]
    fn error_messages_do_not_grow_with_the_input() {
        let long = "x".repeat(100_000);
        for body in [
            format!("F{long}\n."),
            format!("g{long}\n."),
            format!("c{long}\n{long}\n."),
            format!("N(c{long}\n{long}\n."),
        ] {
            let mut p = b"\x80\x02".to_vec();
            p.extend_from_slice(body.as_bytes());
            let e = err(&p);
            assert!(e.len() < 600, "{}: {}", e.len(), &e[..200]);
        }
    }

    #[test]
    fn memo_is_bounded() {
        let limits = PickleLimits {
            max_memo: 2,
            ..PickleLimits::default()
        };
        assert!(from_pickle_with(b"\x80\x04N\x94\x94\x94.", &limits).is_err());
        assert!(from_pickle_with(b"\x80\x04N\x94\x940.", &limits).is_err());
        // Overwriting an existing entry is not growth.
        assert!(from_pickle_with(b"\x80\x02Nq\x00q\x00q\x01q\x01.", &limits).is_ok());
    }

    /// A small deterministic generator for the fuzz tests.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn corpus() -> Vec<Vec<u8>> {
        let mut pickles: Vec<Vec<u8>> = vec![
            b"\x80\x04\x95#\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\nValueError\x94\x93\x94\x8c\x01x\x94\x85\x94R\x94.".to_vec(),
            b"\x80\x02cmultiprocessing.managers\nToken\nq\x00)\x81q\x01X\x04\x00\x00\x00dictq\x02X\t\x00\x00\x00127.0.0.1q\x03M\x88\x13\x86q\x04X\x02\x00\x00\x007fq\x05\x87q\x06b.".to_vec(),
            b"\x80\x02c__builtin__\nset\nq\x00]q\x01(K\x01K\x02e\x85q\x02Rq\x03.".to_vec(),
            b"\x80\x02c_codecs\nencode\nq\x00X\x02\x00\x00\x00abq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.".to_vec(),
            b"(lp0\nI1\na(I2\ntp1\naVa\\u1234\naF1.5\naL12L\naS'x'\na.".to_vec(),
        ];
        let value = Value::Tuple(vec![
            Value::None,
            s("create"),
            Value::Tuple(vec![
                s("get"),
                s("a"),
                Value::from(u128::MAX),
                Value::Float(-0.0),
            ]),
            Value::Dict(vec![(
                s("k"),
                Value::List(vec![Value::Bool(true), Value::Bytes(vec![1, 2])]),
            )]),
            Value::Set(vec![i(1)]),
            Value::FrozenSet(vec![i(-70000)]),
            Value::token("dict", Value::Tuple(vec![s("h"), i(1)]), "7f"),
            Value::exception("KeyError", vec![s("k")]),
        ]);
        for proto in [2, 3, 4, 5] {
            pickles.push(crate::python::pickle::to_pickle(&value, proto));
        }
        pickles
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        for p in corpus() {
            load(&p);
            for cut in 0..p.len() {
                assert!(from_pickle(&p[..cut]).is_err(), "prefix {cut} of {p:?}");
            }
        }
    }

    #[test]
    fn random_mutations_never_panic() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let corpus = corpus();
        let interesting = [
            0x00, 0xff, 0x7f, 0x80, b'(', b'.', b'a', b'h', 0x94, 0x93, b'R', b'b',
        ];
        let mut decoded = 0;
        for round in 0..6000 {
            let mut p = corpus[round % corpus.len()].clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(p.len());
                match rng.below(4) {
                    0 => p[at] = rng.next() as u8,
                    1 => p[at] = interesting[rng.below(interesting.len())],
                    2 => {
                        p.remove(at);
                        if p.is_empty() {
                            p.push(b'.');
                        }
                    }
                    _ => p.insert(at, rng.next() as u8),
                }
            }
            match from_pickle(&p) {
                Ok(v) => {
                    decoded += 1;
                    // Whatever decodes can be shown and written back.
                    let _ = v.to_string();
                    let _ = crate::python::pickle::to_pickle(&v, 4);
                }
                Err(Error::Decode(_)) => {}
                Err(e) => panic!("unexpected error kind: {e}"),
            }
        }
        assert!(decoded > 0);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = XorShift(12345);
        let alphabet: Vec<u8> = (0u8..=0x98).chain([b'\n', b'0', b'1']).collect();
        for _ in 0..3000 {
            let len = rng.below(40);
            let mut p = vec![0x80, 4];
            p.extend((0..len).map(|_| alphabet[rng.below(alphabet.len())]));
            let _ = from_pickle(&p);
        }
    }
}
