//! Turning the bytes of an HTTP body into text: UTF-8 (with or without BOM) and
//! UTF-16 LE/BE (with BOM, or named by the HTTP charset), nothing else.
//!
//! UTF-8 input is borrowed as it is; UTF-16 is transcoded once so that the parser
//! always works on `&str`.

use std::borrow::Cow;

use crate::error::{Error, ErrorKind};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Utf16 {
    Le,
    Be,
}

/// The character encoding an input was read in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Charset {
    /// UTF-8 (the default).
    Utf8,
    /// UTF-16 little-endian.
    Utf16Le,
    /// UTF-16 big-endian.
    Utf16Be,
}

/// Decodes `bytes` to text. On error, [`Error::offset`] is a byte offset in `bytes`
/// (there is no text yet to point into). `charset` is the `charset` parameter of the HTTP
/// Content-Type, if any; a byte order mark wins over it, as XML 1.0 appendix F says.
pub fn decode<'b>(bytes: &'b [u8], charset: Option<&str>) -> Result<Cow<'b, str>, Error> {
    decode_with_charset(bytes, charset).map(|(text, _)| text)
}

/// Like [`decode`], and also says which encoding was used.
pub fn decode_with_charset<'b>(
    bytes: &'b [u8],
    charset: Option<&str>,
) -> Result<(Cow<'b, str>, Charset), Error> {
    // Compared without case, in place: no lower-case copy on every request.
    let is = |c: &str, name: &str| c.eq_ignore_ascii_case(name);
    let declared = match charset.map(|c| c.trim().trim_matches('"')) {
        None => None,
        Some(c) if c.is_empty() || is(c, "utf-8") || is(c, "utf8") || is(c, "us-ascii") => None,
        Some(c) if is(c, "utf-16") => Some(None),
        Some(c) if is(c, "utf-16le") => Some(Some(Utf16::Le)),
        Some(c) if is(c, "utf-16be") => Some(Some(Utf16::Be)),
        Some(c) => {
            let c = c.to_ascii_lowercase();
            return Err(Error::new(
                ErrorKind::Encoding(format!("charset `{c}` is not supported (UTF-8 or UTF-16)")),
                0,
            ));
        }
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => utf8(rest, 3).map(|t| (t, Charset::Utf8)),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, Utf16::Le, 2),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, Utf16::Be, 2),
        _ => match declared {
            None => utf8(bytes, 0).map(|t| (t, Charset::Utf8)),
            Some(Some(order)) => utf16(bytes, order, 0),
            // UTF-16 without BOM: XML starts with '<', so the zero byte tells the order.
            Some(None) => match bytes {
                [0, b'<', ..] => utf16(bytes, Utf16::Be, 0),
                _ => utf16(bytes, Utf16::Le, 0),
            },
        },
    }
}

fn utf8(bytes: &[u8], base: usize) -> Result<Cow<'_, str>, Error> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(Cow::Borrowed(s)),
        Err(e) => Err(Error::new(
            ErrorKind::Encoding(format!("invalid UTF-8 at byte {}", base + e.valid_up_to())),
            base + e.valid_up_to(),
        )),
    }
}

fn utf16(bytes: &[u8], order: Utf16, base: usize) -> Result<(Cow<'static, str>, Charset), Error> {
    if bytes.len() % 2 != 0 {
        return Err(Error::new(
            ErrorKind::Encoding(format!(
                "UTF-16 input has an odd length of {} bytes",
                bytes.len() + base
            )),
            base + bytes.len() - 1,
        ));
    }
    let units = bytes.chunks_exact(2).map(|c| match order {
        Utf16::Le => u16::from_le_bytes([c[0], c[1]]),
        Utf16::Be => u16::from_be_bytes([c[0], c[1]]),
    });
    let mut out = String::with_capacity(bytes.len() / 2);
    for (i, r) in char::decode_utf16(units).enumerate() {
        match r {
            Ok(c) => out.push(c),
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Encoding(format!(
                        "unpaired UTF-16 surrogate at byte {}",
                        base + 2 * i
                    )),
                    base + 2 * i,
                ));
            }
        }
    }
    let charset = match order {
        Utf16::Le => Charset::Utf16Le,
        Utf16::Be => Charset::Utf16Be,
    };
    Ok((Cow::Owned(out), charset))
}

/// Encodes text as UTF-16 with a BOM (for clients and tests that send UTF-16).
pub fn encode_utf16(text: &str, little_endian: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + text.len() * 2);
    out.extend_from_slice(if little_endian {
        &[0xFF, 0xFE]
    } else {
        &[0xFE, 0xFF]
    });
    for u in text.encode_utf16() {
        out.extend_from_slice(&if little_endian {
            u.to_le_bytes()
        } else {
            u.to_be_bytes()
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The HTTP charset is named in any case, quoted or not, with white space around.
    #[test]
    fn charsets_are_named_without_regard_to_case() {
        let text = b"<a/>";
        for utf8 in ["UTF-8", "Utf8", "us-ASCII", "\"utf-8\"", " utf-8 ", ""] {
            let (t, used) = decode_with_charset(text, Some(utf8)).expect(utf8);
            assert_eq!((t.as_ref(), used), ("<a/>", Charset::Utf8), "{utf8:?}");
        }
        let le = encode_utf16("<a/>", true);
        let be = encode_utf16("<a/>", false);
        // Without their byte order marks, so that the charset decides.
        let (le, be) = (&le[2..], &be[2..]);
        for (bytes, name, want) in [
            (le, "UTF-16LE", Charset::Utf16Le),
            (be, "utf-16BE", Charset::Utf16Be),
            (be, " \"UTF-16\" ", Charset::Utf16Be),
            (le, "utf-16", Charset::Utf16Le),
        ] {
            let (t, used) = decode_with_charset(bytes, Some(name)).expect(name);
            assert_eq!((t.as_ref(), used), ("<a/>", want), "{name:?}");
        }
        let refused = decode_with_charset(text, Some("ISO-8859-1")).unwrap_err();
        assert_eq!(
            refused.kind,
            ErrorKind::Encoding("charset `iso-8859-1` is not supported (UTF-8 or UTF-16)".into())
        );
    }
}
