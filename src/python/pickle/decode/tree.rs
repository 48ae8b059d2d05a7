//! Building the tree: the root node turned into a [`Value`], iteratively,
//! with the depth limit, the self-reference check and the size budget.

use std::collections::HashMap;
use std::mem::size_of;

use super::{Fail, Id, Machine, Node};
use crate::python::pickle::globals;
use crate::python::pickle::value::{Object, Value};

impl Machine<'_> {
    /// The `i`-th child of a node, in the order the tree needs them.
    pub(super) fn child(&self, id: Id, i: usize) -> Option<Id> {
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
    pub(super) fn materialize(&mut self, root: Id) -> std::result::Result<Value, Fail> {
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
    pub(super) fn child_count(&self, id: Id) -> usize {
        match self.node(id) {
            Node::Tuple(v) | Node::List(v) | Node::Dict(v) | Node::Set(v) | Node::FrozenSet(v) => {
                v.len()
            }
            Node::Object { state, .. } => 1 + usize::from(state.is_some()),
            Node::Leaf(_) | Node::Global(_) => 0,
        }
    }

    /// One container or object from its already built children.
    pub(super) fn build(&self, id: Id, children: Vec<Value>) -> std::result::Result<Value, Fail> {
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

/// Approximately the memory a value adds to the tree (its slot plus its own
/// heap payload; children are counted on their own).
pub(super) fn weight(v: &Value) -> usize {
    size_of::<Value>()
        + match v {
            Value::Str(s) => s.len(),
            Value::Bytes(b) => b.len(),
            Value::BigInt(i) => i.as_signed_bytes_le().len(),
            Value::Object(obj) => size_of::<Object>() + obj.module.len() + obj.name.len(),
            _ => 0,
        }
}
