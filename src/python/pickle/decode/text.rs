//! Text in pickles: UTF-8 and ASCII checks, the text encodings of
//! `_codecs.encode`, and protocol 0's escaped string literals.

use super::Fail;

/// The first 100 characters of a text from the input, for an error message
/// (which must not grow with the input), with `...` if cut.
pub(crate) fn clipped(text: &str) -> String {
    const SHOWN: usize = 100;
    match text.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}...", text.get(..at).unwrap_or_default()),
        None => text.to_owned(),
    }
}

pub(super) fn utf8(bytes: &[u8]) -> std::result::Result<String, Fail> {
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
pub(super) fn ascii(bytes: Vec<u8>) -> std::result::Result<String, Fail> {
    if !bytes.is_ascii() {
        return Err("Python 2 string is not ASCII".into());
    }
    String::from_utf8(bytes).map_err(|_| "Python 2 string is not ASCII".into())
}

/// `bytes` for `text.encode(encoding)`, for the encodings pickle uses.
pub(super) fn encode_text(text: &str, encoding: &str) -> std::result::Result<Vec<u8>, Fail> {
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
pub(super) fn raw_unicode_escape(line: &[u8]) -> std::result::Result<String, Fail> {
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
pub(super) fn python2_string_literal(line: &[u8]) -> std::result::Result<Vec<u8>, Fail> {
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
