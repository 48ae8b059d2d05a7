//! The Python type a shape converts to, as signatures and error texts
//! name it.

use std::fmt::Write as _;

use crate::codec::Shape;

/// The Python type a shape converts to, for signatures and error texts:
/// `int`, `list[str]`, `dict[str, int]`, `Optional[float]`, `Tick`.
pub(crate) fn python_type(shape: &Shape) -> String {
    let mut out = String::new();
    write_python_type(shape, &mut out);
    out
}

fn write_python_type(shape: &Shape, out: &mut String) {
    let list = |name: &str, items: &[&Shape], out: &mut String| {
        out.push_str(name);
        out.push('[');
        for (i, s) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_python_type(s, out);
        }
        out.push(']');
    };
    match shape {
        Shape::U8 | Shape::I8 | Shape::UInt(_) | Shape::Int(_) => out.push_str("int"),
        Shape::F32 | Shape::F64 | Shape::Duration => out.push_str("float"),
        Shape::Bool => out.push_str("bool"),
        Shape::Char | Shape::Str(_) => out.push_str("str"),
        Shape::Bytes(_) => out.push_str("bytes"),
        Shape::Array(elem, _) if **elem == Shape::U8 => out.push_str("bytes"),
        Shape::Seq { elem, .. } | Shape::Array(elem, _) => list("list", &[elem], out),
        Shape::Set { elem, .. } => list("set", &[elem], out),
        Shape::Map { key, value, .. } => list("dict", &[key, value], out),
        Shape::Option(inner) => list("Optional", &[inner], out),
        // The error travels as an exception.
        Shape::Result(ok, _) => write_python_type(ok, out),
        Shape::Tuple(fields) if fields.is_empty() => out.push_str("None"),
        Shape::Tuple(fields) => list("tuple", &fields.iter().collect::<Vec<_>>(), out),
        Shape::Struct { name, .. } | Shape::Enum { name, .. } | Shape::Named(name) => {
            out.push_str(name);
        }
        Shape::Opaque(_) => {
            let _ = write!(out, "{shape}");
        }
    }
}
