//! `Display` for [`Value`]: the text Python's `repr()` gives.
//!
//! Floats use Python's `repr` rules: the shortest digits that round-trip
//! (Rust finds the same digits), written in scientific notation when the
//! decimal exponent is below -4 or at least 16 (`1e-05`, `1e+16`), else in
//! positional notation with at least one fractional digit (`1.0`). Strings
//! and bytes pick their quote and escape exactly as Python does; a character
//! counts as printable by the same Unicode categories as Python's
//! `str.isprintable` (Rust's `escape_debug` uses that definition too).

use std::fmt::{self, Display, Formatter, Write};

use super::value::{Object, Value};

impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::Int(i) => write!(f, "{i}"),
            Value::BigInt(i) => write!(f, "{i}"),
            Value::Float(x) => write_float(f, *x),
            Value::Str(s) => write_str(f, s),
            Value::Bytes(b) => write_bytes(f, b),
            Value::Tuple(items) => {
                f.write_char('(')?;
                write_items(f, items)?;
                if items.len() == 1 {
                    f.write_char(',')?;
                }
                f.write_char(')')
            }
            Value::List(items) => {
                f.write_char('[')?;
                write_items(f, items)?;
                f.write_char(']')
            }
            Value::Dict(entries) => {
                f.write_char('{')?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_char('}')
            }
            Value::Set(items) if items.is_empty() => f.write_str("set()"),
            Value::Set(items) => {
                f.write_char('{')?;
                write_items(f, items)?;
                f.write_char('}')
            }
            Value::FrozenSet(items) if items.is_empty() => f.write_str("frozenset()"),
            Value::FrozenSet(items) => {
                f.write_str("frozenset({")?;
                write_items(f, items)?;
                f.write_str("})")
            }
            Value::Object(obj) => write_object(f, obj),
        }
    }
}

impl Value {
    /// The text Python's `str()` gives for this value (`Display` gives
    /// `repr()`): a string is itself, an exception its message, anything
    /// else its `repr()`.
    ///
    /// ```
    /// use stdrpc::python::Value;
    /// assert_eq!(Value::from("a'b").python_str(), "a'b");
    /// assert_eq!(Value::from("a'b").to_string(), "\"a'b\"");
    /// assert_eq!(Value::exception("KeyError", vec!["k".into()]).python_str(), "'k'");
    /// assert_eq!(Value::List(vec!["x".into()]).python_str(), "['x']");
    /// ```
    pub fn python_str(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Object(obj) if obj.token_parts().is_none() => exception_str(obj),
            other => other.to_string(),
        }
    }
}

/// `OSError` and its builtin subclasses, whose constructor keeps only
/// `(errno, strerror)` in `args` when given three to five arguments with a
/// file name (the file names are shown by `str()` only).
const OS_ERRORS: &[&str] = &[
    "OSError",
    "BlockingIOError",
    "ChildProcessError",
    "ConnectionError",
    "BrokenPipeError",
    "ConnectionAbortedError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "FileExistsError",
    "FileNotFoundError",
    "InterruptedError",
    "IsADirectoryError",
    "NotADirectoryError",
    "PermissionError",
    "ProcessLookupError",
    "TimeoutError",
];

/// The arguments Python's `args` attribute holds: all of them, except for an
/// `OSError` given a file name (not `None`).
fn visible_args(obj: &Object) -> &[Value] {
    let args = obj.args.as_slice();
    let has_filename = args.get(2).is_some_and(|f| !f.is_none());
    if obj.module == "builtins"
        && OS_ERRORS.contains(&obj.name.as_str())
        && (3..=5).contains(&args.len())
        && has_filename
    {
        return args.get(..2).unwrap_or(args);
    }
    args
}

/// `str()` of an exception, as `BaseException.__str__` and the overrides of
/// `KeyError`, `OSError` and the manager's `RemoteError` write it.
fn exception_str(obj: &Object) -> String {
    let args = obj.args.as_slice();
    if obj.is("multiprocessing.managers", "RemoteError") {
        let dashes = "-".repeat(75);
        let message = args.first().map(Value::python_str).unwrap_or_default();
        return format!("\n{dashes}\n{message}{dashes}");
    }
    if obj.module == "builtins" {
        match (obj.name.as_str(), args) {
            ("KeyError", [key]) => return key.to_string(),
            (name, [errno, strerror, files @ ..])
                if OS_ERRORS.contains(&name) && files.len() <= 3 =>
            {
                // files: filename, winerror (ignored off Windows), filename2.
                let prefix = format!("[Errno {}] {}", errno.python_str(), strerror.python_str());
                let filename = files.first().filter(|v| !v.is_none());
                let filename2 = files.get(2).filter(|v| !v.is_none());
                return match (filename, filename2) {
                    (Some(f), Some(f2)) => format!("{prefix}: {f} -> {f2}"),
                    (Some(f), None) => format!("{prefix}: {f}"),
                    (None, _) => prefix,
                };
            }
            _ => {}
        }
    }
    match args {
        [] => String::new(),
        [one] => one.python_str(),
        many => Value::Tuple(many.to_vec()).to_string(),
    }
}

fn write_items(f: &mut Formatter<'_>, items: &[Value]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// A `Token` as its own `__repr__` writes it; anything else the way
/// `BaseException.__repr__` does: `Name('x')` for one argument, `Name(1, 2)`
/// for several, `Name()` for none.
fn write_object(f: &mut Formatter<'_>, obj: &Object) -> fmt::Result {
    if let Some((typeid, address, id)) = obj.token_parts() {
        f.write_str("Token(typeid=")?;
        write_str(f, typeid)?;
        write!(f, ", address={address}, id=")?;
        write_str(f, id)?;
        return f.write_char(')');
    }
    write!(f, "{}(", obj.name)?;
    write_items(f, visible_args(obj))?;
    f.write_char(')')
}

/// Writes `x` as Python's `repr(float)` does.
fn write_float(f: &mut Formatter<'_>, x: f64) -> fmt::Result {
    if x.is_nan() {
        return f.write_str("nan");
    }
    if x.is_infinite() {
        return f.write_str(if x > 0.0 { "inf" } else { "-inf" });
    }
    // `{:e}` gives the shortest round-trip digits as `d.ddde±x`.
    let (digits, exp) = shortest_digits(x.abs());
    if x.is_sign_negative() {
        f.write_char('-')?;
    }
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        f.write_str(first)?;
        if !rest.is_empty() {
            write!(f, ".{rest}")?;
        }
        let sign = if exp < 0 { '-' } else { '+' };
        return write!(f, "e{sign}{:02}", exp.unsigned_abs());
    }
    // The decimal point sits `point` digits into `digits`.
    let point = exp + 1;
    let len = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if point <= 0 {
        f.write_str("0.")?;
        for _ in 0..-point {
            f.write_char('0')?;
        }
        f.write_str(&digits)
    } else if point >= len {
        f.write_str(&digits)?;
        for _ in 0..point - len {
            f.write_char('0')?;
        }
        f.write_str(".0")
    } else {
        let (int_part, frac) = digits.split_at(usize::try_from(point).unwrap_or(0));
        write!(f, "{int_part}.{frac}")
    }
}

/// The shortest decimal digits that read back as `x` (positive, finite),
/// and the decimal exponent of the first one, chosen as Python chooses.
///
/// Rust's `{:e}` finds the same shortest length as Python's `repr`, and the
/// same digits except in one case: when `x` lies exactly halfway between two
/// shortest candidates, Rust rounds the last digit up and Python (David Gay's
/// `dtoa`) to even. `1149636667324797.25` is `…797.3` in Rust's `{:?}` and
/// `…797.2` in Python.
fn shortest_digits(x: f64) -> (String, i32) {
    let split = |text: &str| -> (String, i32) {
        let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
        let digits = mantissa.chars().filter(char::is_ascii_digit).collect();
        (digits, exp.parse().unwrap_or(0))
    };
    let (digits, exp) = split(&format!("{x:e}"));
    // A tie needs x to be exactly a decimal of one more digit, ending in 5.
    let n = digits.len();
    let (longer, longer_exp) = split(&format!("{x:.n$e}"));
    if longer_exp != exp || !longer.ends_with('5') {
        return (digits, exp);
    }
    // A double's exact decimal expansion has at most 767 significant digits.
    let (exact, _) = split(&format!("{x:.800e}"));
    if exact
        .get(n + 1..)
        .is_none_or(|rest| rest.bytes().any(|b| b != b'0'))
    {
        return (digits, exp);
    }
    let down = longer.get(..n).unwrap_or_default();
    if down.bytes().last().is_some_and(|d| (d - b'0') % 2 == 0) {
        return (down.to_owned(), exp);
    }
    // Round up: the last digit of `down` is odd, so no carry runs past it
    // unless it is a 9.
    let mut up = down.as_bytes().to_vec();
    let mut carry_exp = exp;
    let mut i = up.len();
    loop {
        if i == 0 {
            up.insert(0, b'1');
            up.pop();
            carry_exp += 1;
            break;
        }
        i -= 1;
        if up[i] == b'9' {
            up[i] = b'0';
        } else {
            up[i] += 1;
            break;
        }
    }
    while up.len() > 1 && up.last() == Some(&b'0') {
        up.pop();
    }
    (String::from_utf8(up).unwrap_or(digits), carry_exp)
}

/// The quote Python's `repr` picks: `"` if the text holds `'` but no `"`.
fn quote_for(has_single: bool, has_double: bool) -> char {
    if has_single && !has_double { '"' } else { '\'' }
}

fn write_str(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    let quote = quote_for(s.contains('\''), s.contains('"'));
    f.write_char(quote)?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\t' => f.write_str("\\t")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            c if c == quote => write!(f, "\\{c}")?,
            c if is_printable(c) => f.write_char(c)?,
            c if u32::from(c) <= 0xff => write!(f, "\\x{:02x}", u32::from(c))?,
            c if u32::from(c) <= 0xffff => write!(f, "\\u{:04x}", u32::from(c))?,
            c => write!(f, "\\U{:08x}", u32::from(c))?,
        }
    }
    f.write_char(quote)
}

fn write_bytes(f: &mut Formatter<'_>, b: &[u8]) -> fmt::Result {
    let quote = quote_for(b.contains(&b'\''), b.contains(&b'"'));
    f.write_char('b')?;
    f.write_char(quote)?;
    for &byte in b {
        match byte {
            b'\\' => f.write_str("\\\\")?,
            b'\t' => f.write_str("\\t")?,
            b'\n' => f.write_str("\\n")?,
            b'\r' => f.write_str("\\r")?,
            _ if char::from(byte) == quote => write!(f, "\\{quote}")?,
            0x20..0x7f => f.write_char(char::from(byte))?,
            _ => write!(f, "\\x{byte:02x}")?,
        }
    }
    f.write_char(quote)
}

/// Python's `str.isprintable` for one character: false for the categories
/// Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs other than the space.
///
/// Rust's `escape_debug` leaves a character alone exactly when it is
/// printable by that same definition, except that it also escapes
/// grapheme extenders (combining marks) at the start of a string; so the
/// character is checked after an `a`.
fn is_printable(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    let mut buf = [0u8; 5];
    buf[0] = b'a';
    let len = 1 + c.encode_utf8(&mut buf[1..]).len();
    let Ok(s) = std::str::from_utf8(&buf[..len]) else {
        return false;
    };
    let mut escaped = s.escape_debug().skip(1);
    escaped.next() == Some(c) && escaped.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(v: impl Into<Value>) -> String {
        v.into().to_string()
    }

    #[test]
    fn scalars() {
        assert_eq!(repr(Value::None), "None");
        assert_eq!(repr(true), "True");
        assert_eq!(repr(false), "False");
        assert_eq!(repr(-7), "-7");
        assert_eq!(repr(i64::MIN), "-9223372036854775808");
    }

    #[test]
    fn floats_like_python() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (100.0, "100.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e22, "1e+22"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e300, "1e+300"),
            (-1.5e-300, "-1.5e-300"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (123.456, "123.456"),
            // Exact ties between two shortest candidates go to the even digit.
            // (x.25 and x.75 are exact here; clippy objects to the literals.)
            (1_149_636_667_324_797.0 + 0.25, "1149636667324797.2"),
            (1_149_636_667_324_797.0 + 0.75, "1149636667324797.8"),
            (-1_125_899_906_842_625.0 - 0.25, "-1125899906842625.2"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (-f64::NAN, "nan"),
        ];
        for &(x, expected) in cases {
            assert_eq!(repr(x), expected, "{x:?}");
        }
    }

    #[test]
    fn strings_like_python() {
        let cases: &[(&str, &str)] = &[
            ("", "''"),
            ("abc", "'abc'"),
            ("it's", "\"it's\""),
            ("say \"hi\"", "'say \"hi\"'"),
            ("both ' and \"", "'both \\' and \"'"),
            ("tab\tnl\ncr\r", "'tab\\tnl\\ncr\\r'"),
            ("back\\slash", "'back\\\\slash'"),
            ("\0\x01\x1f\x7f", "'\\x00\\x01\\x1f\\x7f'"),
            ("é€😀", "'é€😀'"),
            ("\u{80}\u{a0}\u{ad}", "'\\x80\\xa0\\xad'"),
            ("\u{200b}\u{2028}\u{feff}", "'\\u200b\\u2028\\ufeff'"),
            ("\u{e000}", "'\\ue000'"),
            ("\u{10ffff}", "'\\U0010ffff'"),
            ("\u{301}a\u{301}", "'\u{301}a\u{301}'"),
            (" ", "' '"),
            ("\u{3000}", "'\\u3000'"),
        ];
        for &(s, expected) in cases {
            assert_eq!(repr(s), expected, "{s:?}");
        }
    }

    #[test]
    fn bytes_like_python() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "b''"),
            (b"abc", "b'abc'"),
            (b"it's", "b\"it's\""),
            (b"'\"", "b'\\'\"'"),
            (
                b"\x00\t\n\r\\\x7f\x80\xff",
                "b'\\x00\\t\\n\\r\\\\\\x7f\\x80\\xff'",
            ),
        ];
        for &(b, expected) in cases {
            assert_eq!(repr(b), expected);
        }
    }

    #[test]
    fn containers_like_python() {
        let one = Value::Int(1);
        let two = Value::Int(2);
        assert_eq!(repr(Value::Tuple(vec![])), "()");
        assert_eq!(repr(Value::Tuple(vec![one.clone()])), "(1,)");
        assert_eq!(repr(Value::Tuple(vec![one.clone(), two.clone()])), "(1, 2)");
        assert_eq!(repr(Value::List(vec![])), "[]");
        assert_eq!(repr(Value::List(vec![one.clone(), two.clone()])), "[1, 2]");
        assert_eq!(repr(Value::Dict(vec![])), "{}");
        assert_eq!(
            repr(Value::Dict(vec![
                ("a".into(), one.clone()),
                (two.clone(), Value::None)
            ])),
            "{'a': 1, 2: None}"
        );
        assert_eq!(repr(Value::Set(vec![])), "set()");
        assert_eq!(repr(Value::Set(vec![one.clone(), two.clone()])), "{1, 2}");
        assert_eq!(repr(Value::FrozenSet(vec![])), "frozenset()");
        assert_eq!(repr(Value::FrozenSet(vec![one.clone()])), "frozenset({1})");
        let nested = Value::List(vec![
            Value::Tuple(vec![Value::from("x")]),
            Value::Dict(vec![(Value::from(b"k".as_slice()), Value::Float(0.5))]),
        ]);
        assert_eq!(repr(nested), "[('x',), {b'k': 0.5}]");
    }

    #[test]
    fn objects_like_python() {
        assert_eq!(
            repr(Value::exception("ValueError", vec!["x".into()])),
            "ValueError('x')"
        );
        assert_eq!(repr(Value::exception("ValueError", vec![])), "ValueError()");
        assert_eq!(
            repr(Value::exception(
                "OSError",
                vec![2.into(), "no such".into()]
            )),
            "OSError(2, 'no such')"
        );
        assert_eq!(repr(Value::remote_error("boom")), "RemoteError('boom')");
        let addr = Value::Tuple(vec!["127.0.0.1".into(), 5000.into()]);
        assert_eq!(
            repr(Value::token("dict", addr, "7f")),
            "Token(typeid='dict', address=('127.0.0.1', 5000), id='7f')"
        );
    }

    #[test]
    fn str_like_python() {
        let e = |name: &str, args: Vec<Value>| Value::exception(name, args).python_str();
        assert_eq!(e("ValueError", vec![]), "");
        assert_eq!(e("ValueError", vec!["x".into()]), "x");
        assert_eq!(e("ValueError", vec!["x".into(), 1.into()]), "('x', 1)");
        assert_eq!(e("KeyError", vec!["k".into()]), "'k'");
        assert_eq!(e("KeyError", vec![]), "");
        assert_eq!(
            e("FileNotFoundError", vec![2.into(), "gone".into()]),
            "[Errno 2] gone"
        );
        let os = |args: Vec<Value>| e("OSError", args);
        assert_eq!(
            os(vec![2.into(), "gone".into(), "f".into()]),
            "[Errno 2] gone: 'f'"
        );
        assert_eq!(
            os(vec![2.into(), "gone".into(), Value::None]),
            "[Errno 2] gone"
        );
        assert_eq!(
            os(vec![
                2.into(),
                "x".into(),
                "a".into(),
                Value::None,
                "b".into()
            ]),
            "[Errno 2] x: 'a' -> 'b'"
        );
        assert_eq!(os(vec!["only".into()]), "only");
        let with_file = Value::exception("OSError", vec![2.into(), "gone".into(), "f".into()]);
        assert_eq!(with_file.to_string(), "OSError(2, 'gone')");
        let no_file = Value::exception("OSError", vec![5.into(), "x".into(), Value::None]);
        assert_eq!(no_file.to_string(), "OSError(5, 'x', None)");
        assert_eq!(
            Value::remote_error("tb\n").python_str(),
            format!("\n{0}\ntb\n{0}", "-".repeat(75))
        );
        let addr = Value::Tuple(vec!["h".into(), 1.into()]);
        let token = Value::token("dict", addr, "7f");
        assert_eq!(token.python_str(), token.to_string());
        assert_eq!(Value::from(1.5).python_str(), "1.5");
        assert_eq!(Value::None.python_str(), "None");
    }

    #[test]
    fn printable_matches_python_categories() {
        // Letters, marks, symbols, punctuation: printable.
        for c in ['a', 'é', 'ß', '\u{301}', '€', '中', '😀', '\u{a9}'] {
            assert!(is_printable(c), "{c:?}");
        }
        // Cc, Cf, Zs (but the space), Zl, Zp, Co, Cn: not printable.
        for c in [
            '\0',
            '\u{7f}',
            '\u{85}',
            '\u{ad}',
            '\u{200b}',
            '\u{a0}',
            '\u{2028}',
            '\u{2029}',
            '\u{e000}',
            '\u{fdd0}',
            '\u{10ffff}',
        ] {
            assert!(!is_printable(c), "{c:?}");
        }
        assert!(is_printable(' '));
    }
}
