//! The methods of Python's `int`, `bool` and `float` that a manager exposes,
//! computed exactly as Python computes them, on integers of any size.
//!
//! Integers are handled as a sign and a little-endian magnitude; nothing
//! here needs more than shifting, negating and counting bits.

use crate::python::pickle::Value;
use crate::python::pyerr::PyErr;

/// The longest `bytes` that `int.to_bytes` builds (Python has no limit; a
/// request must not make the server allocate without bound).
const MAX_TO_BYTES: usize = 16 * 1024 * 1024;

/// The exposed methods of `int` and `bool`, as Python 3.12 and 3.13 list
/// them (3.11 lacks `is_integer`, which works for its clients all the same).
pub(crate) const INT_METHODS: &[&str] = &[
    "as_integer_ratio",
    "bit_count",
    "bit_length",
    "conjugate",
    "from_bytes",
    "is_integer",
    "to_bytes",
];

/// The exposed methods of `float`, as Python 3.11 to 3.13 list them.
pub(crate) const FLOAT_METHODS: &[&str] = &[
    "as_integer_ratio",
    "conjugate",
    "fromhex",
    "hex",
    "is_integer",
];

/// The sign and little-endian magnitude of an integer (`bool` included).
pub(crate) fn int_parts(v: &Value) -> Option<(bool, Vec<u8>)> {
    match v {
        Value::Bool(b) => Some((false, vec![u8::from(*b)])),
        Value::Int(i) => Some((*i < 0, i.unsigned_abs().to_le_bytes().to_vec())),
        Value::BigInt(b) => {
            let mut bytes = b.as_signed_bytes_le().to_vec();
            let negative = b.is_negative();
            if negative {
                negate(&mut bytes);
            }
            Some((negative, bytes))
        }
        _ => None,
    }
}

/// The integer with this sign and little-endian magnitude.
pub(crate) fn int_from_parts(negative: bool, mut magnitude: Vec<u8>) -> Value {
    magnitude.push(0);
    if negative {
        negate(&mut magnitude);
    }
    Value::from_signed_bytes_le(&magnitude)
}

/// Two's complement negation in place.
fn negate(bytes: &mut [u8]) {
    let mut carry = true;
    for b in bytes.iter_mut() {
        let (v, c) = (!*b).overflowing_add(u8::from(carry));
        *b = v;
        carry = c;
    }
}

/// The number of significant bits of a magnitude.
fn bit_length(magnitude: &[u8]) -> u64 {
    match magnitude.iter().rposition(|&b| b != 0) {
        Some(top) => top as u64 * 8 + u64::from(8 - magnitude[top].leading_zeros()),
        None => 0,
    }
}

/// `m << shift` as a little-endian magnitude.
fn shifted(m: u64, shift: u32) -> Vec<u8> {
    let offset = (shift / 8) as usize;
    let wide = u128::from(m) << (shift % 8);
    let mut out = vec![0u8; offset + 16];
    for (slot, byte) in out[offset..].iter_mut().zip(wide.to_le_bytes()) {
        *slot = byte;
    }
    out
}

/// The exact integer value of a finite float with no fractional part.
pub(crate) fn float_to_int(x: f64) -> Option<Value> {
    if !x.is_finite() || x.fract() != 0.0 {
        return None;
    }
    if x.abs() < 9.2e18 {
        return Some(Value::Int(x as i64));
    }
    let (mantissa, exp) = decompose(x.abs());
    let shift = u32::try_from(exp).ok()?;
    Some(int_from_parts(x < 0.0, shifted(mantissa, shift)))
}

/// `(m, e)` with `x == m * 2**e` for a finite non-negative float.
fn decompose(x: f64) -> (u64, i32) {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), exp - 1075)
    }
}

/// Runs one of [`INT_METHODS`] on an `int` or `bool`.
pub(crate) fn int_method(
    v: &Value,
    method: &str,
    a: &mut super::args::Bound,
) -> Result<Value, PyErr> {
    let (negative, magnitude) = int_parts(v).ok_or_else(|| PyErr::type_error("not an integer"))?;
    let as_int = || int_from_parts(negative, magnitude.clone());
    Ok(match method {
        "as_integer_ratio" => Value::Tuple(vec![as_int(), Value::Int(1)]),
        "bit_count" => Value::from(
            magnitude
                .iter()
                .map(|b| u64::from(b.count_ones()))
                .sum::<u64>(),
        ),
        "bit_length" => Value::from(bit_length(&magnitude)),
        "conjugate" => as_int(),
        "is_integer" => Value::Bool(true),
        "to_bytes" => {
            let length = match a.take(0) {
                None => 1,
                Some(l) => a.index_arg(l, "length")?,
            };
            let big = byteorder(a.take(1))?;
            let signed = a.take(2).is_some_and(|s| truthy(&s));
            Value::Bytes(to_bytes(negative, &magnitude, length, big, signed)?)
        }
        "from_bytes" => {
            let bytes = match a.take(0) {
                Some(Value::Bytes(b)) => b,
                Some(Value::List(items) | Value::Tuple(items)) => items
                    .iter()
                    .map(|i| match i {
                        Value::Int(n) => u8::try_from(*n)
                            .map_err(|_| PyErr::value_error("bytes must be in range(0, 256)")),
                        other => Err(PyErr::type_error(format!(
                            "'{}' object cannot be interpreted as an integer",
                            other.python_type()
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
                Some(other) => {
                    return Err(PyErr::type_error(format!(
                        "cannot convert '{}' object to bytes",
                        other.python_type()
                    )));
                }
                None => {
                    return Err(PyErr::type_error(
                        "from_bytes() missing required argument 'bytes'",
                    ));
                }
            };
            let big = byteorder(a.take(1))?;
            let signed = a.take(2).is_some_and(|s| truthy(&s));
            let n = from_bytes(bytes, big, signed);
            // `bool.from_bytes` returns a bool, as `cls(...)` would.
            match v {
                Value::Bool(_) => Value::Bool(n != Value::Int(0)),
                _ => n,
            }
        }
        _ => return Err(not_supported(v, method)),
    })
}

/// Python's truth value of a simple argument (flags such as `signed=`).
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::None => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Bytes(b) => !b.is_empty(),
        Value::Tuple(x) | Value::List(x) | Value::Set(x) | Value::FrozenSet(x) => !x.is_empty(),
        Value::Dict(d) => !d.is_empty(),
        _ => true,
    }
}

fn byteorder(v: Option<Value>) -> Result<bool, PyErr> {
    match v {
        None => Ok(true),
        Some(Value::Str(s)) if s == "big" => Ok(true),
        Some(Value::Str(s)) if s == "little" => Ok(false),
        Some(Value::Str(_)) => Err(PyErr::value_error(
            "byteorder must be either 'little' or 'big'",
        )),
        Some(other) => Err(PyErr::type_error(format!(
            "to_bytes() argument 'byteorder' must be str, not {}",
            other.python_type()
        ))),
    }
}

fn to_bytes(
    negative: bool,
    magnitude: &[u8],
    length: i64,
    big: bool,
    signed: bool,
) -> Result<Vec<u8>, PyErr> {
    let length = usize::try_from(length)
        .map_err(|_| PyErr::value_error("length argument must be non-negative"))?;
    if length > MAX_TO_BYTES {
        return Err(PyErr::overflow_error(format!(
            "stdrpc: to_bytes() length {length} exceeds the limit of {MAX_TO_BYTES}"
        )));
    }
    if negative && !signed {
        return Err(PyErr::overflow_error(
            "can't convert negative int to unsigned",
        ));
    }
    let too_big = || PyErr::overflow_error("int too big to convert");
    let mut out = magnitude.to_vec();
    let bits = bit_length(magnitude);
    if signed {
        // A negative value -2**(8n-1) fits n bytes; other values need a
        // spare sign bit.
        let power_of_two = bits > 0 && magnitude.iter().map(|b| b.count_ones()).sum::<u32>() == 1;
        let needed = if negative && power_of_two {
            bits
        } else {
            bits + 1
        };
        if needed > length as u64 * 8 {
            return Err(too_big());
        }
        out.resize(length.max(out.len()), 0);
        if negative {
            negate(&mut out);
        }
    } else {
        if bits > length as u64 * 8 {
            return Err(too_big());
        }
        out.resize(length.max(out.len()), 0);
    }
    out.truncate(length);
    if big {
        out.reverse();
    }
    Ok(out)
}

fn from_bytes(mut bytes: Vec<u8>, big: bool, signed: bool) -> Value {
    if big {
        bytes.reverse();
    }
    if !signed {
        bytes.push(0);
    }
    Value::from_signed_bytes_le(&bytes)
}

/// Runs one of [`FLOAT_METHODS`] on a `float`.
pub(crate) fn float_method(
    x: f64,
    method: &str,
    a: &mut super::args::Bound,
) -> Result<Value, PyErr> {
    Ok(match method {
        "as_integer_ratio" => {
            let (n, d) = integer_ratio(x)?;
            Value::Tuple(vec![n, d])
        }
        "conjugate" => Value::Float(x),
        "is_integer" => Value::Bool(x.is_finite() && x.fract() == 0.0),
        "hex" => Value::Str(float_hex(x)),
        "fromhex" => match a.take(0) {
            Some(Value::Str(s)) => Value::Float(float_fromhex(&s)?),
            Some(other) => {
                return Err(PyErr::type_error(format!(
                    "must be str, not {}",
                    other.python_type()
                )));
            }
            None => {
                return Err(PyErr::type_error(
                    "fromhex() takes exactly one argument (0 given)",
                ));
            }
        },
        _ => return Err(not_supported(&Value::Float(x), method)),
    })
}

fn not_supported(v: &Value, method: &str) -> PyErr {
    PyErr::new(
        "AttributeError",
        format!("'{}' object has no attribute '{method}'", v.python_type()),
    )
}

/// `float.as_integer_ratio()`: the lowest terms, denominator positive.
fn integer_ratio(x: f64) -> Result<(Value, Value), PyErr> {
    if x.is_nan() {
        return Err(PyErr::value_error("cannot convert NaN to integer ratio"));
    }
    if x.is_infinite() {
        return Err(PyErr::overflow_error(
            "cannot convert Infinity to integer ratio",
        ));
    }
    let (mut m, mut e) = decompose(x.abs());
    if m == 0 {
        return Ok((Value::Int(0), Value::Int(1)));
    }
    while m % 2 == 0 && e < 0 {
        m /= 2;
        e += 1;
    }
    let negative = x < 0.0;
    Ok(if e >= 0 {
        (
            int_from_parts(negative, shifted(m, e.unsigned_abs())),
            Value::Int(1),
        )
    } else {
        (
            int_from_parts(negative, m.to_le_bytes().to_vec()),
            int_from_parts(false, shifted(1, e.unsigned_abs())),
        )
    })
}

/// `float.hex()`: `0x1.8000000000000p+0`, `-0x0.0p+0`, `inf`, `nan`.
pub(crate) fn float_hex(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x.is_infinite() {
        return format!("{sign}inf");
    }
    if x == 0.0 {
        return format!("{sign}0x0.0p+0");
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    if exp == 0 {
        format!("{sign}0x0.{frac:013x}p-1022")
    } else {
        format!("{sign}0x1.{frac:013x}p{:+}", exp - 1023)
    }
}

/// `float.fromhex(s)`, correctly rounded (half to even), as CPython does.
pub(crate) fn float_fromhex(s: &str) -> Result<f64, PyErr> {
    let invalid = || PyErr::value_error("invalid hexadecimal floating-point string");
    let t = s.trim_matches(is_py_space);
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let sign = if negative { -1.0 } else { 1.0 };
    let lower = t.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Ok(sign * f64::INFINITY);
    }
    if lower == "nan" {
        return Ok(f64::NAN);
    }
    let body = lower.strip_prefix("0x").unwrap_or(&lower);
    let (mantissa, exponent) = match body.split_once('p') {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(invalid());
    }
    let mut digits = Vec::with_capacity(int_part.len() + frac_part.len());
    for c in int_part.chars().chain(frac_part.chars()) {
        digits.push(c.to_digit(16).ok_or_else(invalid)? as u8);
    }
    let mut exp: i64 = match exponent {
        None => 0,
        Some(e) => {
            let digits_part = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits_part.is_empty() || !digits_part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            // Saturate: anything this large over- or underflows anyway.
            let value = digits_part
                .bytes()
                .fold(0i64, |acc, b| {
                    acc.saturating_mul(10).saturating_add(i64::from(b - b'0'))
                })
                .min(1 << 40);
            if e.starts_with('-') { -value } else { value }
        }
    };
    exp -= 4 * frac_part.len() as i64;
    let first = digits.iter().position(|&d| d != 0);
    let Some(first) = first else {
        return Ok(sign * 0.0);
    };
    let digits = &digits[first..];
    // The value is D * 2**exp, D the hex integer of `digits`, with `total`
    // significant bits.
    let total = 4 * (digits.len() as i64 - 1) + i64::from(8 - (digits[0]).leading_zeros() as u8);
    let bit = |i: i64| -> bool {
        // Bit i of D, counted from the least significant.
        if i < 0 || i >= 4 * digits.len() as i64 {
            return false;
        }
        let d = digits[digits.len() - 1 - (i / 4) as usize];
        (d >> (i % 4)) & 1 == 1
    };
    let top = total + exp; // value < 2**top
    if top > 1024 {
        return Err(PyErr::overflow_error(
            "hexadecimal value too large to represent as a float",
        ));
    }
    // Bits to keep: 53, fewer for subnormals (the last kept bit weighs 2**-1074).
    let keep = (top + 1074).min(53);
    if keep < 0 {
        return Ok(sign * 0.0);
    }
    let low = total - keep; // the first dropped bit is low - 1
    let mut m: u64 = 0;
    for i in (low..total).rev() {
        m = (m << 1) | u64::from(bit(i));
    }
    let round_bit = bit(low - 1);
    let sticky = (0..(low - 1).max(0)).any(bit);
    if round_bit && (sticky || m & 1 == 1) {
        m += 1;
    }
    let scale = exp + low;
    let value = ldexp(m as f64, scale);
    if value.is_infinite() {
        return Err(PyErr::overflow_error(
            "hexadecimal value too large to represent as a float",
        ));
    }
    Ok(sign * value)
}

/// `m * 2**e`, exact whenever the result is representable.
fn ldexp(mut x: f64, mut e: i64) -> f64 {
    while e > 1000 {
        x *= 2f64.powi(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= 2f64.powi(-1000);
        e += 1000;
    }
    x * 2f64.powi(e as i32)
}

/// Python's `str.isspace` for one character.
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip() {
        for v in [
            0i128,
            1,
            -1,
            255,
            -256,
            i64::MAX as i128,
            i64::MIN as i128,
            -(1 << 100),
            1 << 100,
        ] {
            let value = Value::from(v);
            let (neg, mag) = int_parts(&value).unwrap();
            assert_eq!(int_from_parts(neg, mag), value, "{v}");
        }
    }

    #[test]
    fn bits() {
        assert_eq!(bit_length(&[0, 1]), 9);
        assert_eq!(bit_length(&[]), 0);
        let (_, mag) = int_parts(&Value::from(-(1i128 << 70))).unwrap();
        assert_eq!(bit_length(&mag), 71);
    }

    #[test]
    fn to_and_from_bytes_match_python() {
        let b = |v: i128, len, big, signed| {
            let (n, m) = int_parts(&Value::from(v)).unwrap();
            to_bytes(n, &m, len, big, signed)
        };
        assert_eq!(b(1024, 2, true, false).unwrap(), [4, 0]);
        assert_eq!(b(1024, 4, false, false).unwrap(), [0, 4, 0, 0]);
        assert_eq!(b(-1024, 2, true, true).unwrap(), [0xfc, 0]);
        assert_eq!(b(-128, 1, true, true).unwrap(), [0x80]);
        assert_eq!(b(-129, 1, true, true).unwrap_err().class, "OverflowError");
        assert_eq!(b(128, 1, true, true).unwrap_err().class, "OverflowError");
        assert_eq!(b(255, 1, true, false).unwrap(), [255]);
        assert_eq!(b(256, 1, true, false).unwrap_err().class, "OverflowError");
        assert_eq!(b(-1, 1, true, false).unwrap_err().class, "OverflowError");
        assert_eq!(b(0, 0, true, false).unwrap(), [] as [u8; 0]);
        assert_eq!(b(1, -1, true, false).unwrap_err().class, "ValueError");
        assert_eq!(from_bytes(vec![0xfc, 0], true, true), Value::Int(-1024));
        assert_eq!(from_bytes(vec![0xff], true, false), Value::Int(255));
        assert_eq!(from_bytes(vec![], true, true), Value::Int(0));
        assert_eq!(
            from_bytes(vec![0xff; 9], true, false).to_string(),
            "4722366482869645213695"
        );
    }

    #[test]
    fn float_ratios_and_ints() {
        let r = |x| {
            let (n, d) = integer_ratio(x).unwrap();
            format!("{n}/{d}")
        };
        assert_eq!(r(0.5), "1/2");
        assert_eq!(r(-1.5), "-3/2");
        assert_eq!(r(0.0), "0/1");
        assert_eq!(r(1e20), "100000000000000000000/1");
        assert_eq!(r(0.1), "3602879701896397/36028797018963968");
        assert_eq!(r(5e-324), format!("1/{}", two_pow(1074)));
        assert_eq!(integer_ratio(f64::NAN).unwrap_err().class, "ValueError");
        assert_eq!(
            integer_ratio(f64::INFINITY).unwrap_err().class,
            "OverflowError"
        );
        assert_eq!(
            float_to_int(1e20).unwrap().to_string(),
            "100000000000000000000"
        );
        assert_eq!(float_to_int(-3.0), Some(Value::Int(-3)));
        assert_eq!(float_to_int(0.5), None);
    }

    fn two_pow(n: u32) -> String {
        int_from_parts(false, shifted(1, n)).to_string()
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(float_hex(1.0), "0x1.0000000000000p+0");
        assert_eq!(float_hex(-0.0), "-0x0.0p+0");
        assert_eq!(float_hex(5e-324), "0x0.0000000000001p-1022");
        assert_eq!(float_hex(f64::MAX), "0x1.fffffffffffffp+1023");
        assert_eq!(float_hex(0.1), "0x1.999999999999ap-4");
        for x in [1.0, 0.1, 5e-324, f64::MAX, 1e-310, -2.5, 123456.789] {
            assert_eq!(float_fromhex(&float_hex(x)).unwrap(), x, "{x}");
        }
        assert_eq!(float_fromhex(" 0x1p-1074 ").unwrap(), 5e-324);
        assert_eq!(float_fromhex("0x1p-1075").unwrap(), 0.0);
        assert_eq!(float_fromhex("0x1.8p-1075").unwrap(), 5e-324);
        assert_eq!(float_fromhex("0x3p-1076").unwrap(), 5e-324);
        assert_eq!(float_fromhex("ff").unwrap(), 255.0);
        assert_eq!(float_fromhex("-.8").unwrap(), -0.5);
        assert_eq!(float_fromhex("0x1.00000000000008p0").unwrap(), 1.0);
        assert_eq!(
            float_fromhex("0x1.00000000000018p0").unwrap(),
            1.0 + 2.0 * f64::EPSILON
        );
        assert_eq!(
            float_fromhex("0x1.000000000000081p0").unwrap(),
            1.0 + f64::EPSILON
        );
        assert_eq!(float_fromhex("Infinity").unwrap(), f64::INFINITY);
        assert!(float_fromhex("nan").unwrap().is_nan());
        assert_eq!(
            float_fromhex("0x1p1024").unwrap_err().class,
            "OverflowError"
        );
        assert_eq!(
            float_fromhex("0x1.fffffffffffff8p1023").unwrap_err().class,
            "OverflowError"
        );
        assert_eq!(
            float_fromhex("0x1p+99999999999999999999")
                .unwrap_err()
                .class,
            "OverflowError"
        );
        assert_eq!(float_fromhex("0x1p-99999999999999999999").unwrap(), 0.0);
        for bad in ["", "0x", "x1", "1p", "1.2.3", "0xg", "1p+", "--1"] {
            assert_eq!(
                float_fromhex(bad).unwrap_err().class,
                "ValueError",
                "{bad:?}"
            );
        }
    }
}
