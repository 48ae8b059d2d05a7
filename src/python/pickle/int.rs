//! Python integers of any size: [`BigInt`] and the arithmetic the pickle
//! layer needs (normalising, decimal text both ways, conversion to `f64`).
//!
//! A `BigInt` is stored the way pickle's `LONG1`/`LONG4` store it: little-endian
//! two's complement, in the fewest bytes. Nothing here is a general bignum;
//! the only loops over the digits are the decimal conversions, which are
//! quadratic and therefore bounded to Python's own limit of 4300 digits.

use std::fmt;

use super::value::Value;

/// Python's default limit on the decimal digits of an `int` converted from or
/// to text (`sys.get_int_max_str_digits()`), which exists for the same reason:
/// the conversion is quadratic.
pub(crate) const MAX_DECIMAL_DIGITS: usize = 4300;

/// A Python `int` outside the `i64` range, as little-endian two's complement
/// bytes in minimal form (the form pickle's `LONG1` and `LONG4` use).
///
/// Made only through [`Value`] (`Value::from(u128::MAX)`,
/// [`Value::from_signed_bytes_le`]), which keeps every integer that fits an
/// `i64` in [`Value::Int`]. `Display` writes it in decimal, as Python does;
/// past Python's limit of 4300 decimal digits (where Python's own `repr`
/// raises `ValueError`) it writes hexadecimal (`0x…`), which takes linear
/// time.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BigInt {
    /// Minimal little-endian two's complement, always more than 8 bytes.
    bytes: Vec<u8>,
}

impl BigInt {
    /// The little-endian two's complement bytes, in the fewest bytes that
    /// hold the value with its sign.
    pub fn as_signed_bytes_le(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.bytes.last().is_some_and(|b| b & 0x80 != 0)
    }

    /// The value, if it fits an `i128`.
    pub(crate) fn to_i128(&self) -> Option<i128> {
        if self.bytes.len() > 16 {
            return None;
        }
        let fill = if self.is_negative() { 0xff } else { 0 };
        let mut buf = [fill; 16];
        buf.get_mut(..self.bytes.len())?
            .copy_from_slice(&self.bytes);
        Some(i128::from_le_bytes(buf))
    }

    /// The value, if it fits a `u128`.
    pub(crate) fn to_u128(&self) -> Option<u128> {
        if self.is_negative() {
            return None;
        }
        // A non-negative value needs at most 17 bytes for 128 bits plus a
        // zero sign byte.
        let (low, high) = self
            .bytes
            .split_at_checked(16)
            .unwrap_or((&self.bytes, &[]));
        if high.iter().any(|&b| b != 0) {
            return None;
        }
        let mut buf = [0; 16];
        buf.get_mut(..low.len())?.copy_from_slice(low);
        Some(u128::from_le_bytes(buf))
    }

    /// The nearest `f64` (ties to even, as Python's `float(int)`), or `None`
    /// if the value is too large for a float.
    pub(crate) fn to_f64(&self) -> Option<f64> {
        let (negative, mag) = magnitude(&self.bytes);
        let bits = bit_length(&mag);
        let result = if bits <= 64 {
            let mut buf = [0; 8];
            buf.get_mut(..mag.len().min(8))?
                .copy_from_slice(mag.get(..mag.len().min(8))?);
            u64::from_le_bytes(buf) as f64
        } else {
            // The top 64 bits, with every lower bit folded into the lowest
            // one ("sticky"): converting those 64 bits rounds exactly as
            // converting the whole number would, since a double keeps 53.
            let shift = bits - 64;
            let mut top = 0u64;
            for i in 0..64 {
                if bit(&mag, shift + i) {
                    top |= 1 << i;
                }
            }
            if (0..shift).any(|i| bit(&mag, i)) {
                top |= 1;
            }
            let exp = i32::try_from(shift).ok()?;
            (top as f64) * 2f64.powi(exp.min(2000))
        };
        if result.is_finite() {
            Some(if negative { -result } else { result })
        } else {
            None
        }
    }
}

impl fmt::Debug for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BigInt({self})")
    }
}

impl fmt::Display for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (negative, mag) = magnitude(&self.bytes);
        let sign = if negative { "-" } else { "" };
        // 2^14285 > 10^4300: anything shorter has at most 4300 digits, so
        // the quadratic conversion below stays small.
        if bit_length(&mag) <= 14_285 {
            let digits = to_decimal(&mag);
            if digits.len() <= MAX_DECIMAL_DIGITS {
                return write!(f, "{sign}{digits}");
            }
        }
        write!(f, "{sign}0x")?;
        let mut started = false;
        for &b in mag.iter().rev() {
            if started {
                write!(f, "{b:02x}")?;
            } else if b != 0 {
                write!(f, "{b:x}")?;
                started = true;
            }
        }
        Ok(())
    }
}

/// The integer that `bytes` (little-endian two's complement) hold, in its one
/// canonical form: [`Value::Int`] if it fits an `i64`, else [`Value::BigInt`].
pub(crate) fn from_signed_bytes_le(bytes: &[u8]) -> Value {
    let len = minimal_len(bytes);
    let bytes = bytes.get(..len).unwrap_or(bytes);
    if len <= 8 {
        let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
        let mut buf = [if negative { 0xff } else { 0 }; 8];
        if let Some(low) = buf.get_mut(..len) {
            low.copy_from_slice(bytes);
        }
        Value::Int(i64::from_le_bytes(buf))
    } else {
        Value::BigInt(BigInt {
            bytes: bytes.to_vec(),
        })
    }
}

/// The minimal little-endian two's complement bytes of `v` (empty for 0, as
/// Python's `pickle.encode_long` writes it).
pub(crate) fn i64_to_signed_bytes_le(v: i64) -> Vec<u8> {
    let bytes = v.to_le_bytes();
    let len = minimal_len(&bytes);
    bytes.get(..len).unwrap_or(&bytes).to_vec()
}

/// How many of `bytes` are needed: trailing sign-extension bytes dropped.
fn minimal_len(bytes: &[u8]) -> usize {
    let mut len = bytes.len();
    while len > 1 {
        let (Some(&last), Some(&prev)) = (bytes.get(len - 1), bytes.get(len - 2)) else {
            break;
        };
        let redundant = (last == 0 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0);
        if !redundant {
            break;
        }
        len -= 1;
    }
    // A lone zero byte is the value 0, which pickle writes with no bytes.
    if len == 1 && bytes.first() == Some(&0) {
        0
    } else {
        len
    }
}

/// Splits two's complement into sign and magnitude (little-endian).
fn magnitude(bytes: &[u8]) -> (bool, Vec<u8>) {
    let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
    let mut mag = bytes.to_vec();
    if negative {
        negate(&mut mag);
    }
    (negative, mag)
}

/// Two's complement negation in place: invert, add one.
fn negate(bytes: &mut [u8]) {
    let mut carry = true;
    for b in bytes {
        let (v, c) = (!*b).overflowing_add(u8::from(carry));
        *b = v;
        carry = c;
    }
}

fn bit_length(mag: &[u8]) -> usize {
    match mag.iter().rposition(|&b| b != 0) {
        Some(i) => i * 8 + (8 - mag.get(i).map_or(0, |b| b.leading_zeros() as usize)),
        None => 0,
    }
}

fn bit(mag: &[u8], i: usize) -> bool {
    mag.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1)
}

/// The decimal digits of a magnitude (quadratic: callers bound the size).
fn to_decimal(mag: &[u8]) -> String {
    const CHUNK: u64 = 10_000_000_000_000_000_000; // 10^19
    let mut limbs: Vec<u64> = mag
        .chunks(8)
        .map(|c| {
            let mut buf = [0; 8];
            if let Some(dst) = buf.get_mut(..c.len()) {
                dst.copy_from_slice(c);
            }
            u64::from_le_bytes(buf)
        })
        .collect();
    let mut chunks = Vec::new();
    while limbs.iter().any(|&l| l != 0) {
        let mut rem: u128 = 0;
        for limb in limbs.iter_mut().rev() {
            let cur = (rem << 64) | u128::from(*limb);
            // cur < CHUNK * 2^64, so the quotient fits a u64.
            *limb = u64::try_from(cur / u128::from(CHUNK)).unwrap_or(u64::MAX);
            rem = cur % u128::from(CHUNK);
        }
        chunks.push(u64::try_from(rem).unwrap_or(0));
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
    }
    let mut out = String::new();
    match chunks.split_last() {
        None => out.push('0'),
        Some((first, rest)) => {
            out.push_str(&first.to_string());
            for chunk in rest.iter().rev() {
                out.push_str(&format!("{chunk:019}"));
            }
        }
    }
    out
}

/// Parses an optionally signed run of decimal digits (at most
/// [`MAX_DECIMAL_DIGITS`]) into an integer value.
pub(crate) fn parse_decimal(text: &str) -> Result<Value, String> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..).unwrap_or("")),
        Some(b'+') => (false, text.get(1..).unwrap_or("")),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid integer literal {text:?}"));
    }
    if digits.len() > MAX_DECIMAL_DIGITS {
        return Err(format!(
            "integer literal of {} digits exceeds the limit of {MAX_DECIMAL_DIGITS}",
            digits.len()
        ));
    }
    // Little-endian u64 limbs; each step multiplies by 10^k and adds.
    let mut limbs: Vec<u64> = Vec::new();
    for chunk in digits.as_bytes().chunks(19) {
        let mut value = 0u64;
        let mut scale = 1u128;
        for &d in chunk {
            value = value * 10 + u64::from(d - b'0');
            scale *= 10;
        }
        let mut carry = u128::from(value);
        for limb in &mut limbs {
            let cur = u128::from(*limb) * scale + carry;
            *limb = cur as u64; // The low 64 bits; the rest carries.
            carry = cur >> 64;
        }
        if carry != 0 {
            limbs.push(carry as u64); // carry < 2^64 here.
        }
    }
    let mut bytes: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    bytes.push(0); // The sign byte of a non-negative number.
    if negative {
        negate(&mut bytes);
    }
    Ok(from_signed_bytes_le(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(v: &Value) -> &BigInt {
        match v {
            Value::BigInt(b) => b,
            other => panic!("not a BigInt: {other:?}"),
        }
    }

    #[test]
    fn minimal_forms() {
        assert_eq!(from_signed_bytes_le(&[]), Value::Int(0));
        assert_eq!(from_signed_bytes_le(&[0]), Value::Int(0));
        assert_eq!(from_signed_bytes_le(&[0xff, 0xff, 0xff]), Value::Int(-1));
        assert_eq!(from_signed_bytes_le(&[0x80, 0x00]), Value::Int(128));
        assert_eq!(from_signed_bytes_le(&[0x80]), Value::Int(-128));
        assert_eq!(i64_to_signed_bytes_le(0), Vec::<u8>::new());
        assert_eq!(i64_to_signed_bytes_le(255), [0xff, 0]);
        assert_eq!(i64_to_signed_bytes_le(-1), [0xff]);
        assert_eq!(i64_to_signed_bytes_le(-129), [0x7f, 0xff]);
        assert_eq!(i64_to_signed_bytes_le(1 << 31), [0, 0, 0, 0x80, 0]);
        // 2^63 needs nine bytes; i64 values never do.
        let v = from_signed_bytes_le(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0]);
        assert_eq!(big(&v).as_signed_bytes_le(), [0, 0, 0, 0, 0, 0, 0, 0x80, 0]);
        assert!(!big(&v).is_negative());
        assert_eq!(v.to_string(), "9223372036854775808");
        let v = from_signed_bytes_le(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff]);
        assert!(big(&v).is_negative());
        assert_eq!(v.to_string(), "-9223372036854775809");
        for i in [i64::MIN, -1, 0, 1, i64::MAX] {
            assert_eq!(
                from_signed_bytes_le(&i64_to_signed_bytes_le(i)),
                Value::Int(i)
            );
        }
    }

    #[test]
    fn i128_and_u128() {
        for v in [
            i128::MIN,
            i128::from(i64::MIN) - 1,
            i128::from(i64::MAX) + 1,
            i128::MAX,
        ] {
            let value = Value::from(v);
            assert_eq!(big(&value).to_i128(), Some(v));
            assert_eq!(value.to_string(), v.to_string());
        }
        let max = Value::from(u128::MAX);
        assert_eq!(big(&max).to_u128(), Some(u128::MAX));
        assert_eq!(big(&max).to_i128(), None);
        assert_eq!(big(&Value::from(i128::MIN)).to_u128(), None);
        let too_big = parse_decimal(&format!("{}0", u128::MAX)).unwrap();
        assert_eq!(big(&too_big).to_u128(), None);
    }

    #[test]
    fn decimal_both_ways() {
        for text in [
            "0",
            "-1",
            "18446744073709551616",
            "-340282366920938463463374607431768211456",
            "1606938044258990275541962092341162602522202993782792835301376",
            "-1606938044258990275541962092341162602522202993782792835301376",
            "10000000000000000000000000000000000000000",
        ] {
            assert_eq!(parse_decimal(text).unwrap().to_string(), text);
        }
        assert_eq!(parse_decimal("+12").unwrap(), Value::Int(12));
        assert_eq!(parse_decimal("007").unwrap(), Value::Int(7));
        for bad in ["", "-", "1_000", "0x10", "1.5", " 1"] {
            assert!(parse_decimal(bad).is_err(), "{bad:?}");
        }
        let long = "9".repeat(MAX_DECIMAL_DIGITS);
        assert_eq!(parse_decimal(&long).unwrap().to_string(), long);
        assert!(parse_decimal(&"9".repeat(MAX_DECIMAL_DIGITS + 1)).is_err());
    }

    #[test]
    fn huge_ints_display_in_hex() {
        // 2^20000 has 6021 digits: past Python's limit.
        let mut bytes = vec![0u8; 2501];
        bytes[2500] = 1;
        let v = from_signed_bytes_le(&bytes);
        let s = v.to_string();
        assert!(s.starts_with("0x1000"), "{}", &s[..10]);
        assert_eq!(s.len(), 2 + 1 + 5000);
        let mut neg = bytes.clone();
        negate(&mut neg);
        assert!(
            from_signed_bytes_le(&neg)
                .to_string()
                .starts_with("-0x1000")
        );
        assert_eq!(format!("{:?}", big(&v)).len(), s.len() + 8);
    }

    #[test]
    fn to_f64_rounds_like_python() {
        let cases: &[(&str, f64)] = &[
            ("9223372036854775808", 9223372036854775808.0),
            ("18446744073709551617", 18446744073709551616.0),
            // 2^64 + 2^11: halfway between two doubles, ties to even (down).
            ("18446744073709553664", 18446744073709551616.0),
            // 2^64 + 2^11 + 1: just above halfway, rounds up.
            ("18446744073709553665", 18446744073709555712.0),
            (
                "-1606938044258990275541962092341162602522202993782792835301376",
                -2f64.powi(200),
            ),
        ];
        for &(text, expected) in cases {
            let v = parse_decimal(text).unwrap();
            assert_eq!(big(&v).to_f64(), Some(expected), "{text}");
        }
        let huge = parse_decimal(&format!("1{}", "0".repeat(400))).unwrap();
        assert_eq!(big(&huge).to_f64(), None);
    }
}
