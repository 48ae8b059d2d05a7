//! bincode 2's variable-length integer encoding (`config::standard()`).
//!
//! An unsigned value below 251 is one byte. Anything larger is a tag byte
//! followed by the value in little-endian order, in the narrowest of:
//!
//! | tag   | payload          |
//! |-------|------------------|
//! | `251` | `u16`, 2 bytes   |
//! | `252` | `u32`, 4 bytes   |
//! | `253` | `u64`, 8 bytes   |
//! | `254` | `u128`, 16 bytes |
//!
//! Tag `255` is reserved and always rejected. Signed integers are zigzag
//! mapped first (`0, -1, 1, -2, …` become `0, 1, 2, 3, …`).
//!
//! Decoding accepts what bincode 2 accepts: a value written with a wider tag
//! than needed (say `5` as `251, 5, 0`) is taken as is, but a tag wider than
//! the target type is an error even when the value would fit (`252, 5, 0, 0, 0`
//! is not a valid `u16`).

/// Largest value that is its own single byte.
pub(super) const SINGLE_BYTE_MAX: u8 = 250;
/// Tag: a `u16` follows.
pub(super) const U16_TAG: u8 = 251;
/// Tag: a `u32` follows.
pub(super) const U32_TAG: u8 = 252;
/// Tag: a `u64` follows.
pub(super) const U64_TAG: u8 = 253;
/// Tag: a `u128` follows.
pub(super) const U128_TAG: u8 = 254;

/// Appends `v` in bincode 2's variable-length encoding.
///
/// This is the encoding of every `u16`, `u32`, `u64` and `usize` (a `usize`
/// is written as a `u64`), of collection lengths and of enum variant indices.
/// `250` is written as `[250]`, `251` as `[251, 251, 0]`, `65536` as
/// `[252, 0, 0, 1, 0]`.
#[inline]
pub fn write_varint_u64(out: &mut Vec<u8>, v: u64) {
    if v <= u64::from(SINGLE_BYTE_MAX) {
        // Lossless: v <= 250.
        out.push(v as u8);
    } else if let Ok(v) = u16::try_from(v) {
        out.push(U16_TAG);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = u32::try_from(v) {
        out.push(U32_TAG);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        out.push(U64_TAG);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends `v` in bincode 2's variable-length encoding, using the 16-byte
/// form only when the value does not fit a `u64`.
pub(super) fn write_varint_u128(out: &mut Vec<u8>, v: u128) {
    match u64::try_from(v) {
        Ok(small) => write_varint_u64(out, small),
        Err(_) => {
            out.push(U128_TAG);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Zigzag-maps a signed value: `0, -1, 1, -2, 2, …` → `0, 1, 2, 3, 4, …`.
///
/// Every signed type is widened to `i128` first; the result fits the unsigned
/// type of the original width, so the narrowing at the call sites is lossless.
pub(super) fn zigzag_encode(v: i128) -> u128 {
    // (v << 1) ^ (v >> 127), written without shifting a sign bit out.
    if v < 0 {
        // !v == -v - 1 >= 0, so the cast is lossless; 2 * (-v - 1) + 1 cannot
        // overflow u128 for any i128.
        ((!v) as u128) * 2 + 1
    } else {
        (v as u128) * 2
    }
}

/// Inverts [`zigzag_encode`] on a value read at the width of the signed type.
pub(super) fn zigzag_decode(n: u128) -> i128 {
    let half = (n / 2) as i128;
    // n / 2 <= u128::MAX / 2 == i128::MAX, so the cast above is lossless.
    if n % 2 == 0 { half } else { !half }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_small_values_interleave() {
        let expect = [(0i128, 0u128), (-1, 1), (1, 2), (-2, 3), (2, 4)];
        for (signed, unsigned) in expect {
            assert_eq!(zigzag_encode(signed), unsigned);
            assert_eq!(zigzag_decode(unsigned), signed);
        }
        assert_eq!(zigzag_encode(i128::MIN), u128::MAX);
        assert_eq!(zigzag_encode(i128::MAX), u128::MAX - 1);
        assert_eq!(zigzag_decode(u128::MAX), i128::MIN);
        assert_eq!(zigzag_decode(u128::MAX - 1), i128::MAX);
    }
}
