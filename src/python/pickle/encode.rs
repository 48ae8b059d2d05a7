//! The pickler: [`Value`] to bytes that Python's `pickle.loads` reads.
//!
//! The output follows CPython's own pickler opcode for opcode (without the
//! memo, which only matters for shared or recursive objects, and a tree has
//! neither): the same integer and string forms, lists, dicts and sets filled
//! in batches of 1000, and, for protocol 4 and 5, frames of about 64 KiB.
//! Recursion follows the value's nesting, which for a decoded value is bounded
//! by [`PickleLimits::max_depth`](super::PickleLimits).

use super::globals;
use super::int;
use super::opcodes as op;
use super::value::{Object, Value};

/// CPython's `_BATCHSIZE`: the most items one `APPENDS`/`SETITEMS`/`ADDITEMS`
/// carries.
const BATCH: usize = 1000;

/// CPython's `_FRAME_SIZE_TARGET`: a frame is closed once it holds this much.
const FRAME_TARGET: usize = 64 * 1024;

/// A frame shorter than this gets no `FRAME` header (CPython's
/// `_FRAME_SIZE_MIN`).
const FRAME_MIN: usize = 4;

/// The `FRAME` opcode and its 8-byte length.
const FRAME_HEADER: usize = 9;

/// Encodes `value` as a pickle that Python's `pickle.loads` reads back as the
/// equal Python value.
///
/// `protocol` is 2 (what Python 2 and 3 both read, and what
/// `multiprocessing` accepts from any peer), 3, 4 (CPython's default since
/// 3.8, and what its managers send) or 5; below 2 counts as 2 and above 5
/// as 5. Protocols 2 and 3 have no opcodes for sets, so sets are written as
/// calls of `builtins.set`/`frozenset` on a list, as CPython does; protocol 2
/// also writes bytes as `_codecs.encode(text, 'latin1')`.
///
/// [`Value::Object`]s are written as their class (`GLOBAL`/`STACK_GLOBAL`),
/// their arguments, `REDUCE` or `NEWOBJ`, and their state with `BUILD`:
/// exactly the form CPython writes for exceptions and manager `Token`s.
///
/// ```
/// use stdrpc::python::{Value, from_pickle, to_pickle};
/// let reply = Value::Tuple(vec!["#RETURN".into(), Value::None]);
/// let bytes = to_pickle(&reply, 4);
/// assert_eq!(bytes[..2], [0x80, 4]);
/// assert_eq!(from_pickle(&bytes)?, reply);
/// # Ok::<(), stdrpc::Error>(())
/// ```
pub fn to_pickle(value: &Value, protocol: u8) -> Vec<u8> {
    let mut p = Pickler::new(protocol, usize::MAX);
    p.save(value);
    p.finish().unwrap_or_default()
}

/// Encodes the 2-tuple `(kind, value)` (a manager reply) as [`to_pickle`]
/// would, or `None` if the pickle would be longer than `max` bytes.
///
/// The output never grows much past `max` (by at most one opcode's header):
/// encoding stops writing once it is over, and a string or bytes object
/// that would not fit is never copied. So a reply too large to send is
/// never materialised, and `value` is not cloned.
pub(crate) fn to_pickle_capped(
    kind: &str,
    value: &Value,
    protocol: u8,
    max: usize,
) -> Option<Vec<u8>> {
    let mut p = Pickler::new(protocol, max);
    p.save_str(kind);
    p.save(value);
    p.out.push(op::TUPLE2);
    p.finish().filter(|out| out.len() <= max)
}

struct Pickler {
    out: Vec<u8>,
    proto: u8,
    /// Where the open frame's header is reserved, if one is open.
    frame_start: Option<usize>,
    /// The output may not grow past this many bytes.
    limit: usize,
    /// The output went past `limit`: what is written is incomplete.
    over: bool,
}

impl Pickler {
    fn new(protocol: u8, limit: usize) -> Pickler {
        let mut p = Pickler {
            out: Vec::new(),
            proto: protocol.clamp(2, 5),
            frame_start: None,
            limit,
            over: false,
        };
        p.out.extend_from_slice(&[op::PROTO, p.proto]);
        if p.proto >= 4 {
            p.start_frame();
        }
        p
    }

    /// Ends the pickle; `None` if it went over the limit.
    fn finish(mut self) -> Option<Vec<u8>> {
        self.out.push(op::STOP);
        self.end_frame();
        (!self.over).then_some(self.out)
    }

    /// Whether `more` bytes still fit under the limit; if not, the pickle is
    /// marked as over and nothing more is written.
    fn fits(&mut self, more: usize) -> bool {
        if self.over || self.out.len().saturating_add(more) > self.limit {
            self.over = true;
            return false;
        }
        true
    }

    fn start_frame(&mut self) {
        self.frame_start = Some(self.out.len());
        self.out.extend_from_slice(&[0; FRAME_HEADER]);
    }

    /// Closes the open frame: fills in its header, or drops the header if the
    /// frame is too short to be worth one.
    fn end_frame(&mut self) {
        let Some(start) = self.frame_start.take() else {
            return;
        };
        let len = self.out.len() - start - FRAME_HEADER;
        if len >= FRAME_MIN {
            let mut header = [0; FRAME_HEADER];
            header[0] = op::FRAME;
            header[1..].copy_from_slice(&(len as u64).to_le_bytes());
            if let Some(slot) = self.out.get_mut(start..start + FRAME_HEADER) {
                slot.copy_from_slice(&header);
            }
        } else {
            self.out.drain(start..start + FRAME_HEADER);
        }
    }

    /// Called between opcodes: starts a new frame once the open one is full.
    fn boundary(&mut self) {
        let full = self
            .frame_start
            .is_some_and(|start| self.out.len() - start >= FRAME_TARGET);
        if full {
            self.end_frame();
            self.start_frame();
        }
    }

    fn save(&mut self, v: &Value) {
        if !self.fits(0) {
            return;
        }
        match v {
            Value::None => self.out.push(op::NONE),
            Value::Bool(true) => self.out.push(op::NEWTRUE),
            Value::Bool(false) => self.out.push(op::NEWFALSE),
            Value::Int(i) => self.save_int(*i),
            Value::BigInt(b) => self.save_long(b.as_signed_bytes_le()),
            Value::Float(x) => {
                self.out.push(op::BINFLOAT);
                self.out.extend_from_slice(&x.to_be_bytes());
            }
            Value::Str(s) => self.save_str(s),
            Value::Bytes(b) => self.save_bytes(b),
            Value::Tuple(items) => self.save_tuple(items),
            Value::List(items) => {
                self.out.push(op::EMPTY_LIST);
                self.save_batches(items, op::APPEND, op::APPENDS, true);
            }
            Value::Dict(entries) => {
                self.out.push(op::EMPTY_DICT);
                for batch in entries.chunks(BATCH) {
                    if let [(k, v)] = batch {
                        self.save(k);
                        self.save(v);
                        self.out.push(op::SETITEM);
                    } else {
                        self.out.push(op::MARK);
                        for (k, v) in batch {
                            self.save(k);
                            self.save(v);
                        }
                        self.out.push(op::SETITEMS);
                    }
                }
            }
            Value::Set(items) if self.proto >= 4 => {
                self.out.push(op::EMPTY_SET);
                self.save_batches(items, op::ADDITEMS, op::ADDITEMS, false);
            }
            Value::FrozenSet(items) if self.proto >= 4 => {
                self.out.push(op::MARK);
                for item in items {
                    self.save(item);
                }
                self.out.push(op::FROZENSET);
            }
            Value::Set(items) | Value::FrozenSet(items) => {
                let name = if matches!(v, Value::Set(_)) {
                    "set"
                } else {
                    "frozenset"
                };
                self.save_global("builtins", name);
                self.out.push(op::EMPTY_LIST);
                self.save_batches(items, op::APPEND, op::APPENDS, true);
                self.out.extend_from_slice(&[op::TUPLE1, op::REDUCE]);
            }
            Value::Object(obj) => self.save_object(obj),
        }
        self.boundary();
    }

    /// CPython's `save_long`: the shortest of `BININT1`, `BININT2`, `BININT`,
    /// else `LONG1`.
    fn save_int(&mut self, i: i64) {
        if let Ok(b) = u8::try_from(i) {
            self.out.extend_from_slice(&[op::BININT1, b]);
        } else if let Ok(h) = u16::try_from(i) {
            self.out.push(op::BININT2);
            self.out.extend_from_slice(&h.to_le_bytes());
        } else if let Ok(w) = i32::try_from(i) {
            self.out.push(op::BININT);
            self.out.extend_from_slice(&w.to_le_bytes());
        } else {
            self.save_long(&int::i64_to_signed_bytes_le(i));
        }
    }

    fn save_long(&mut self, bytes: &[u8]) {
        if !self.fits(bytes.len()) {
            return;
        }
        match u8::try_from(bytes.len()) {
            Ok(n) => self.out.extend_from_slice(&[op::LONG1, n]),
            Err(_) => {
                self.out.push(op::LONG4);
                // A Python int longer than 2 GiB cannot exist; saturate.
                let n = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
                self.out.extend_from_slice(&n.to_le_bytes());
            }
        }
        self.out.extend_from_slice(bytes);
    }

    fn save_str(&mut self, s: &str) {
        let bytes = s.as_bytes();
        if !self.fits(bytes.len()) {
            return;
        }
        match (u8::try_from(bytes.len()), u32::try_from(bytes.len())) {
            (Ok(n), _) if self.proto >= 4 => self.out.extend_from_slice(&[op::SHORT_BINUNICODE, n]),
            (_, Ok(n)) => {
                self.out.push(op::BINUNICODE);
                self.out.extend_from_slice(&n.to_le_bytes());
            }
            _ => {
                self.out.push(op::BINUNICODE8);
                self.out
                    .extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            }
        }
        self.out.extend_from_slice(bytes);
    }

    fn save_bytes(&mut self, b: &[u8]) {
        // Protocol 2 writes bytes as latin-1 text: up to twice as long.
        if !self.fits(if self.proto < 3 { 2 * b.len() } else { b.len() }) {
            return;
        }
        if self.proto < 3 {
            // Protocol 2 has no bytes opcodes: CPython writes `bytes()` or
            // `_codecs.encode(b.decode('latin1'), 'latin1')`.
            if b.is_empty() {
                self.save_global("builtins", "bytes");
                self.out.extend_from_slice(&[op::EMPTY_TUPLE, op::REDUCE]);
            } else {
                self.save_global("_codecs", "encode");
                let text: String = b.iter().map(|&byte| char::from(byte)).collect();
                self.save_str(&text);
                self.save_str("latin1");
                self.out.extend_from_slice(&[op::TUPLE2, op::REDUCE]);
            }
            return;
        }
        match (u8::try_from(b.len()), u32::try_from(b.len())) {
            (Ok(n), _) => self.out.extend_from_slice(&[op::SHORT_BINBYTES, n]),
            (_, Ok(n)) => {
                self.out.push(op::BINBYTES);
                self.out.extend_from_slice(&n.to_le_bytes());
            }
            _ => {
                self.out.push(op::BINBYTES8);
                self.out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            }
        }
        self.out.extend_from_slice(b);
    }

    fn save_tuple(&mut self, items: &[Value]) {
        if items.is_empty() {
            self.out.push(op::EMPTY_TUPLE);
            return;
        }
        let small = match items.len() {
            1 => Some(op::TUPLE1),
            2 => Some(op::TUPLE2),
            3 => Some(op::TUPLE3),
            _ => None,
        };
        if small.is_none() {
            self.out.push(op::MARK);
        }
        for item in items {
            self.save(item);
        }
        self.out.push(small.unwrap_or(op::TUPLE));
    }

    /// Items added to the container on the stack in batches; a batch of one
    /// uses `single` without a mark when `single_unmarked` (lists), as CPython
    /// does.
    fn save_batches(&mut self, items: &[Value], single: u8, many: u8, single_unmarked: bool) {
        for batch in items.chunks(BATCH) {
            if let ([item], true) = (batch, single_unmarked) {
                self.save(item);
                self.out.push(single);
            } else {
                self.out.push(op::MARK);
                for item in batch {
                    self.save(item);
                }
                self.out.push(many);
            }
        }
    }

    fn save_global(&mut self, module: &str, name: &str) {
        if self.proto >= 4 {
            self.save_str(module);
            self.save_str(name);
            self.out.push(op::STACK_GLOBAL);
        } else {
            let module = if self.proto < 3 {
                globals::protocol2_module(module)
            } else {
                module
            };
            self.out.push(op::GLOBAL);
            self.out.extend_from_slice(module.as_bytes());
            self.out.push(b'\n');
            self.out.extend_from_slice(name.as_bytes());
            self.out.push(b'\n');
        }
    }

    fn save_object(&mut self, obj: &Object) {
        self.save_global(&obj.module, &obj.name);
        self.save_tuple(&obj.args);
        self.out
            .push(if obj.newobj { op::NEWOBJ } else { op::REDUCE });
        if let Some(state) = &obj.state {
            self.save(state);
            self.out.push(op::BUILD);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::pickle::from_pickle;

    fn s(text: &str) -> Value {
        Value::Str(text.into())
    }

    #[test]
    fn matches_cpython_bytes() {
        // The bytes CPython 3.13 writes for the same values, minus MEMOIZE.
        assert_eq!(to_pickle(&Value::None, 4), b"\x80\x04N.");
        assert_eq!(
            to_pickle(&Value::Tuple(vec![1.into(), 2.into()]), 4),
            b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00K\x01K\x02\x86."
        );
        assert_eq!(to_pickle(&Value::Int(-1), 2), b"\x80\x02J\xff\xff\xff\xff.");
        assert_eq!(
            to_pickle(&Value::Int(1 << 31), 2),
            b"\x80\x02\x8a\x05\x00\x00\x00\x80\x00."
        );
        assert_eq!(to_pickle(&Value::Int(5000), 2), b"\x80\x02M\x88\x13.");
        assert_eq!(
            to_pickle(&Value::Bytes(b"ab".to_vec()), 2),
            b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00abX\x06\x00\x00\x00latin1\x86R."
        );
        assert_eq!(
            to_pickle(&Value::Bytes(vec![]), 2),
            b"\x80\x02c__builtin__\nbytes\n)R."
        );
        assert_eq!(
            to_pickle(&Value::Bytes(b"ab".to_vec()), 3),
            b"\x80\x03C\x02ab."
        );
        assert_eq!(
            to_pickle(&Value::Set(vec![1.into(), 2.into()]), 2),
            b"\x80\x02c__builtin__\nset\n](K\x01K\x02e\x85R."
        );
        assert_eq!(
            to_pickle(&Value::FrozenSet(vec![1.into()]), 2),
            b"\x80\x02c__builtin__\nfrozenset\n]K\x01a\x85R."
        );
        assert_eq!(
            to_pickle(&Value::Set(vec![1.into(), 2.into()]), 4),
            b"\x80\x04\x95\x08\x00\x00\x00\x00\x00\x00\x00\x8f(K\x01K\x02\x90."
        );
        assert_eq!(to_pickle(&Value::FrozenSet(vec![]), 4), b"\x80\x04(\x91.");
        let token = Value::token(
            "dict",
            Value::Tuple(vec![s("127.0.0.1"), 5000.into()]),
            "7f",
        );
        assert_eq!(
            to_pickle(&token, 2),
            b"\x80\x02cmultiprocessing.managers\nToken\n)\x81X\x04\x00\x00\x00dictX\t\x00\x00\x00127.0.0.1M\x88\x13\x86X\x02\x00\x00\x007f\x87b."
        );
        let e = Value::exception("ValueError", vec![s("x")]);
        assert_eq!(
            to_pickle(&e, 4),
            b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x8c\nValueError\x93\x8c\x01x\x85R."
        );
        assert_eq!(
            to_pickle(&e, 2),
            b"\x80\x02c__builtin__\nValueError\nX\x01\x00\x00\x00x\x85R."
        );
    }

    #[test]
    fn capped_pickles_stop_at_the_limit() {
        let value = Value::List(vec![s(&"x".repeat(1000)); 100]);
        let whole = to_pickle(&Value::Tuple(vec![s("#RETURN"), value.clone()]), 4);
        for proto in 2..=5 {
            let tuple = Value::Tuple(vec![s("#RETURN"), value.clone()]);
            let expected = to_pickle(&tuple, proto);
            let got = to_pickle_capped("#RETURN", &value, proto, expected.len());
            assert_eq!(got.as_ref(), Some(&expected), "protocol {proto}");
            assert_eq!(
                to_pickle_capped("#RETURN", &value, proto, expected.len() - 1),
                None
            );
        }
        assert!(to_pickle_capped("#RETURN", &value, 4, 5000).is_none());
        // Refused without writing past the limit: a huge string is never
        // copied, and no more than one opcode's header is written beyond.
        let mut p = Pickler::new(4, 100);
        p.save(&Value::List(vec![s(&"y".repeat(1 << 20))]));
        assert!(p.over && p.out.len() <= 100 + 16, "{}", p.out.len());
        let bytes = Value::Bytes(vec![0; 60]);
        assert!(to_pickle_capped("#RETURN", &bytes, 2, 100).is_none());
        assert!(to_pickle_capped("#RETURN", &bytes, 4, 100).is_some());
        assert_eq!(
            whole.len(),
            to_pickle_capped("#RETURN", &value, 4, usize::MAX)
                .unwrap()
                .len()
        );
    }

    #[test]
    fn protocol_is_clamped() {
        assert_eq!(to_pickle(&Value::None, 0), b"\x80\x02N.");
        assert_eq!(to_pickle(&Value::None, 9), b"\x80\x05N.");
    }

    #[test]
    fn round_trips_through_our_decoder() {
        let mut big = vec![0u8; 300];
        big[299] = 0x40;
        let value = Value::List(vec![
            Value::None,
            true.into(),
            false.into(),
            0.into(),
            255.into(),
            256.into(),
            65535.into(),
            65536.into(),
            (-1).into(),
            i64::MIN.into(),
            i64::MAX.into(),
            Value::from(u128::MAX),
            Value::from_signed_bytes_le(&big),
            Value::Float(-0.0),
            s(""),
            s(&"é".repeat(200)),
            Value::Bytes(vec![0; 300]),
            Value::Tuple((0..5).map(Value::from).collect()),
            Value::Dict(vec![
                (s("a"), Value::List(vec![])),
                (1.into(), Value::Set(vec![])),
            ]),
            Value::FrozenSet(vec![s("x")]),
            Value::token("dict", s("/tmp/sock"), "1"),
            Value::remote_error("boom"),
            Value::Object(Box::new(
                crate::python::Object::call("builtins", "KeyError", vec![s("k")])
                    .with_state(Value::Dict(vec![(s("a"), 1.into())])),
            )),
        ]);
        for proto in 2..=5 {
            let bytes = to_pickle(&value, proto);
            assert_eq!(from_pickle(&bytes).unwrap(), value, "protocol {proto}");
        }
    }

    #[test]
    fn batches_and_frames() {
        // Three batches: 1000, 1000 and 500 items, each MARK ... APPENDS.
        let bytes = to_pickle(&Value::List(vec![Value::None; 2500]), 4);
        assert_eq!(bytes.iter().filter(|&&b| b == op::APPENDS).count(), 3);
        assert_eq!(bytes.iter().filter(|&&b| b == op::MARK).count(), 3);
        let items: Vec<Value> = (0..2500).map(Value::from).collect();
        let list = Value::List(items.clone());
        assert_eq!(from_pickle(&to_pickle(&list, 4)).unwrap(), list);
        let dict = Value::Dict(items.iter().map(|v| (v.clone(), Value::None)).collect());
        assert_eq!(from_pickle(&to_pickle(&dict, 4)).unwrap(), dict);
        let set = Value::Set(items);
        assert_eq!(from_pickle(&to_pickle(&set, 4)).unwrap(), set);
        assert_eq!(from_pickle(&to_pickle(&set, 2)).unwrap(), set);
        // A list of 1001 items: a full batch, then one APPEND.
        let bytes = to_pickle(&Value::List(vec![Value::None; 1001]), 2);
        assert!(bytes.ends_with(b"eNa."));
        // Large pickles are cut into frames of about 64 KiB at opcode
        // boundaries; each frame's length matches what follows it.
        let big = Value::List((0..40_000).map(|i| s(&format!("item {i}"))).collect());
        let bytes = to_pickle(&big, 4);
        let mut at = 2;
        let mut frames = 0;
        while at < bytes.len() {
            assert_eq!(bytes[at], op::FRAME, "no frame at {at}");
            let len = u64::from_le_bytes(bytes[at + 1..at + 9].try_into().unwrap()) as usize;
            assert!(len < FRAME_TARGET + 300, "{len}");
            at += 9 + len;
            frames += 1;
        }
        assert_eq!(at, bytes.len());
        assert!(frames > 3, "{frames}");
        assert_eq!(from_pickle(&bytes).unwrap(), big);
    }
}
