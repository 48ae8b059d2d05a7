//! The opcode machine: what each pickle opcode does to the stack, the memo
//! and the node arena, and the calls of allow-listed globals.

use super::text::{ascii, clipped, encode_text, python2_string_literal, raw_unicode_escape, utf8};
use super::{EMPTY_TUPLE_ID, FALSE_ID, Fail, Id, Machine, NONE_ID, Node, TRUE_ID, ids_cost};
use crate::python::pickle::globals::{self, Global};
use crate::python::pickle::int;
use crate::python::pickle::opcodes as op;
use crate::python::pickle::value::Value;

impl Machine<'_> {
    /// Runs one opcode; returns the root at `STOP`. Each family of opcodes
    /// has a function of its own, which says whether the opcode was one of
    /// its own.
    pub(super) fn step(&mut self, code: u8) -> std::result::Result<Option<Id>, Fail> {
        if code == op::STOP {
            return self.stop().map(Some);
        }
        if self.stack_op(code)?
            || self.number(code)?
            || self.text(code)?
            || self.container(code)?
            || self.object_op(code)?
            || self.memo_op(code)?
        {
            return Ok(None);
        }
        Err(match code {
            op::PERSID | op::BINPERSID => "persistent ids are not supported".into(),
            op::EXT1 | op::EXT2 | op::EXT4 => "extension registry codes are not supported".into(),
            op::NEXT_BUFFER | op::READONLY_BUFFER => "out-of-band buffers are not supported".into(),
            other => format!("invalid opcode 0x{other:02x}"),
        })
    }

    /// The stack and the framing: `PROTO`, `FRAME`, `MARK`, `POP`,
    /// `POP_MARK`, `DUP`.
    fn stack_op(&mut self, code: u8) -> std::result::Result<bool, Fail> {
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
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `None`, booleans, ints and floats.
    fn number(&mut self, code: u8) -> std::result::Result<bool, Fail> {
        match code {
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
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Strings and bytes.
    fn text(&mut self, code: u8) -> std::result::Result<bool, Fail> {
        match code {
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
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Containers: tuples, lists, dicts and sets, and the opcodes that fill them.
    fn container(&mut self, code: u8) -> std::result::Result<bool, Fail> {
        match code {
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
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Globals and objects: allow-listed globals, their calls and their state.
    fn object_op(&mut self, code: u8) -> std::result::Result<bool, Fail> {
        match code {
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
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The memo: storing and fetching the stack's top.
    fn memo_op(&mut self, code: u8) -> std::result::Result<bool, Fail> {
        match code {
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
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub(super) fn stop(&mut self) -> std::result::Result<Id, Fail> {
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
    pub(super) fn line_index(&mut self) -> std::result::Result<u32, Fail> {
        let text = self.line_str()?;
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("invalid memo index {:?}", clipped(text)));
        }
        text.parse()
            .map_err(|_| format!("memo index {} out of range", clipped(text)))
    }

    /// Adds items to the container on top of the stack.
    pub(super) fn extend(&mut self, items: &[Id], target: Target) -> std::result::Result<(), Fail> {
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

    pub(super) fn tuple(&mut self, items: Vec<Id>) -> std::result::Result<Id, Fail> {
        if items.is_empty() {
            Ok(EMPTY_TUPLE_ID)
        } else {
            self.add(Node::Tuple(items))
        }
    }

    /// `callable(*args)`, for the allow-listed callables: classes become
    /// objects, the builtin constructors are applied to the data.
    pub(super) fn call(&mut self, callable: Id, args: Id) -> std::result::Result<Id, Fail> {
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
    pub(super) fn newobj(&mut self, class: Id, args: Id) -> std::result::Result<(), Fail> {
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
}

/// Which container an `APPEND`-like opcode fills.
#[derive(Clone, Copy)]
pub(super) enum Target {
    List,
    Dict,
    Set,
}

impl Target {
    pub(super) fn name(self) -> &'static str {
        match self {
            Target::List => "list",
            Target::Dict => "dict",
            Target::Set => "set",
        }
    }
}

pub(super) fn set_node(g: Global, items: Vec<Id>) -> Node {
    if g == Global::FrozenSet {
        Node::FrozenSet(items)
    } else {
        Node::Set(items)
    }
}
