//! WinRM's message encryption over HTTP: a sealed SOAP body travels as
//! `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"`
//! with two parts (MS-WSMV 2.2.9.1.1):
//!
//! ```text
//! --Encrypted Boundary\r\n
//! \tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n
//! \tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=N\r\n
//! --Encrypted Boundary\r\n
//! \tContent-Type: application/octet-stream\r\n
//! <u32 LE signature length = 16><signature><N sealed bytes>--Encrypted Boundary--\r\n
//! ```
//!
//! pywinrm and pypsrp write exactly this (tab-indented part headers, no blank line
//! before the binary part). [`parse`] is strict about the structure but accepts the
//! variations a MIME-minded client might add: headers without the tab, a blank line
//! after the part headers, a line break before the closing delimiter.

use crate::{Error, Session};

/// The `protocol` parameter for NTLM (and SPNEGO) sealing.
pub const PROTOCOL: &str = "application/HTTP-SPNEGO-session-encrypted";
/// The boundary WinRM and its clients use.
pub const BOUNDARY: &str = "Encrypted Boundary";

/// Why an encrypted body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The Content-Type is not `multipart/encrypted`.
    #[error("not a multipart/encrypted body")]
    NotEncrypted,
    /// The `protocol` parameter is missing or not the SPNEGO one.
    #[error("unsupported encryption protocol {got:?} (expected {PROTOCOL})")]
    Protocol {
        /// The protocol given (empty if none).
        got: String,
    },
    /// The Content-Type has no `boundary`.
    #[error("multipart/encrypted without a boundary")]
    NoBoundary,
    /// The body does not have the expected structure.
    #[error("malformed encrypted body: {what}")]
    Malformed {
        /// What was wrong.
        what: &'static str,
    },
    /// The signature length prefix is not 16.
    #[error("signature length {got} (NTLM signatures are 16 bytes)")]
    SignatureLength {
        /// The length given.
        got: u32,
    },
    /// The sealed data is not as long as `OriginalContent` says.
    #[error("OriginalContent says {declared} bytes, {actual} sealed bytes follow")]
    Length {
        /// From `Length=`.
        declared: usize,
        /// Bytes available.
        actual: usize,
    },
    /// The signature did not verify.
    #[error("{0}")]
    Ntlm(#[from] Error),
}

/// The Content-Type of an encrypted body.
pub fn content_type() -> String {
    format!("multipart/encrypted;protocol=\"{PROTOCOL}\";boundary=\"{BOUNDARY}\"")
}

/// Whether a Content-Type is `multipart/encrypted` (any protocol).
pub fn is_encrypted(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("multipart/encrypted")
}

/// The parameters of a Content-Type value (lower-cased names, unquoted values).
fn params(content_type: &str) -> Vec<(String, String)> {
    content_type
        .split(';')
        .skip(1)
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Some((k.trim().to_ascii_lowercase(), v.to_owned()))
        })
        .collect()
}

/// A parsed encrypted body, still sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The original Content-Type (`application/soap+xml;charset=UTF-8`).
    pub original_type: String,
    /// The 16-byte signature.
    pub signature: [u8; 16],
    /// The sealed bytes (exactly `Length` of them).
    pub sealed: &'a [u8],
}

/// Takes one line (up to CRLF) off `rest`.
fn line<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], FrameError> {
    let at = rest
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or(FrameError::Malformed {
            what: "a header line without CRLF",
        })?;
    let l = &rest[..at];
    *rest = &rest[at + 2..];
    Ok(l)
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// A header line `Name: value`, trimmed; the name lower-cased.
fn header(l: &[u8]) -> Result<(String, String), FrameError> {
    let text = std::str::from_utf8(trim(l)).map_err(|_| FrameError::Malformed {
        what: "a part header that is not text",
    })?;
    let (n, v) = text.split_once(':').ok_or(FrameError::Malformed {
        what: "a part header without a colon",
    })?;
    Ok((n.trim().to_ascii_lowercase(), v.trim().to_owned()))
}

/// Parses an encrypted body given its Content-Type. Only one sealed part is accepted
/// (CredSSP's `multipart/x-multi-encrypted` chunking is not NTLM's).
pub fn parse<'a>(content_type: &str, body: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    if !is_encrypted(content_type) {
        return Err(FrameError::NotEncrypted);
    }
    let ps = params(content_type);
    let get = |k: &str| ps.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match get("protocol") {
        Some(p) if p.eq_ignore_ascii_case(PROTOCOL) => {}
        p => {
            return Err(FrameError::Protocol {
                got: p.unwrap_or("").to_owned(),
            });
        }
    }
    let boundary = get("boundary").ok_or(FrameError::NoBoundary)?;
    let delim = format!("--{boundary}");
    let mut rest = body;
    if line(&mut rest)? != delim.as_bytes() {
        return Err(FrameError::Malformed {
            what: "the body does not start with the boundary",
        });
    }
    // Part 1: the protocol and the original content.
    let (mut protocol_ok, mut original) = (false, None);
    loop {
        let l = line(&mut rest)?;
        if trim(l) == delim.as_bytes() {
            break;
        }
        if trim(l).is_empty() {
            continue;
        }
        let (name, value) = header(l)?;
        match name.as_str() {
            "content-type" => protocol_ok = value.eq_ignore_ascii_case(PROTOCOL),
            "originalcontent" => original = Some(value),
            _ => {}
        }
    }
    if !protocol_ok {
        return Err(FrameError::Malformed {
            what: "the first part is not application/HTTP-SPNEGO-session-encrypted",
        });
    }
    let original = original.ok_or(FrameError::Malformed {
        what: "no OriginalContent header",
    })?;
    let (original_type, length) = original_content(&original)?;
    // Part 2: one Content-Type line, an optional blank line, then the binary.
    let (name, value) = header(line(&mut rest)?)?;
    if name != "content-type" || !value.eq_ignore_ascii_case("application/octet-stream") {
        return Err(FrameError::Malformed {
            what: "the second part is not application/octet-stream",
        });
    }
    if rest.starts_with(b"\r\n") {
        rest = &rest[2..];
    }
    let len_bytes: [u8; 4] =
        rest.get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or(FrameError::Malformed {
                what: "no signature length",
            })?;
    let sig_len = u32::from_le_bytes(len_bytes);
    if sig_len != 16 {
        return Err(FrameError::SignatureLength { got: sig_len });
    }
    let signature: [u8; 16] =
        rest.get(4..20)
            .and_then(|b| b.try_into().ok())
            .ok_or(FrameError::Malformed {
                what: "the signature is cut short",
            })?;
    rest = &rest[20..];
    let closing = format!("{delim}--");
    // The sealed data runs to the closing delimiter, optionally preceded by CRLF.
    let end = rest
        .windows(closing.len())
        .rposition(|w| w == closing.as_bytes())
        .ok_or(FrameError::Malformed {
            what: "no closing boundary",
        })?;
    let after = &rest[end + closing.len()..];
    if !trim(after).is_empty() {
        return Err(FrameError::Malformed {
            what: "data after the closing boundary",
        });
    }
    let mut sealed = &rest[..end];
    if sealed.len() == length + 2 && sealed.ends_with(b"\r\n") {
        sealed = &sealed[..length];
    }
    if sealed.len() != length {
        return Err(FrameError::Length {
            declared: length,
            actual: sealed.len(),
        });
    }
    Ok(Frame {
        original_type,
        signature,
        sealed,
    })
}

/// Splits `type=application/soap+xml;charset=UTF-8;Length=N` into the content type
/// (`application/soap+xml;charset=UTF-8`) and N.
fn original_content(value: &str) -> Result<(String, usize), FrameError> {
    let mut media = None;
    let mut rest = Vec::new();
    let mut length = None;
    for p in value.split(';') {
        let p = p.trim();
        let (k, v) = p.split_once('=').ok_or(FrameError::Malformed {
            what: "OriginalContent has a parameter without '='",
        })?;
        match k.trim().to_ascii_lowercase().as_str() {
            "type" => media = Some(v.trim().to_owned()),
            "length" => {
                length = Some(
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| FrameError::Malformed {
                            what: "OriginalContent Length is not a number",
                        })?,
                )
            }
            _ => rest.push(p.to_owned()),
        }
    }
    let media = media.ok_or(FrameError::Malformed {
        what: "OriginalContent has no type",
    })?;
    let length = length.ok_or(FrameError::Malformed {
        what: "OriginalContent has no Length",
    })?;
    let mut ct = media;
    for p in rest {
        ct.push(';');
        ct.push_str(&p);
    }
    Ok((ct, length))
}

/// Writes an encrypted body (the layout pywinrm and pypsrp parse).
pub fn write(original_type: &str, signature: &[u8; 16], sealed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sealed.len() + 256);
    out.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\n\tContent-Type: {PROTOCOL}\r\n\tOriginalContent: type={};Length={}\r\n--{BOUNDARY}\r\n\tContent-Type: application/octet-stream\r\n",
            original_type.replace(' ', ""),
            sealed.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(signature);
    out.extend_from_slice(sealed);
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

/// Seals `plain` with `session` and frames it; returns the body (its Content-Type is
/// [`content_type`]).
pub fn seal(session: &mut Session, original_type: &str, plain: &[u8]) -> Vec<u8> {
    let (sig, sealed) = session.wrap(plain);
    write(original_type, &sig, &sealed)
}

/// Parses and opens an encrypted body; returns the original Content-Type and the plain
/// bytes.
pub fn open(
    session: &mut Session,
    content_type: &str,
    body: &[u8],
) -> Result<(String, Vec<u8>), FrameError> {
    let frame = parse(content_type, body)?;
    let plain = session.unwrap(&frame.signature, frame.sealed)?;
    Ok((frame.original_type, plain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    const SOAP: &str = "application/soap+xml;charset=UTF-8";

    #[test]
    fn seal_then_open() {
        let mut c = Session::new(&[1; 16], 0xe28a_8233, Role::Initiator);
        let mut s = Session::new(&[1; 16], 0xe28a_8233, Role::Acceptor);
        let body = seal(&mut c, SOAP, b"<s:Envelope/>");
        let (ct, plain) = open(&mut s, &content_type(), &body).unwrap();
        assert_eq!(
            (ct.as_str(), plain.as_slice()),
            (SOAP, &b"<s:Envelope/>"[..])
        );
    }

    #[test]
    fn pywinrm_layout_is_parsed() {
        // Byte for byte what pywinrm's _encrypt_message writes.
        let mut body = b"--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=3\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n".to_vec();
        body.extend_from_slice(&16u32.to_le_bytes());
        body.extend_from_slice(&[7; 16]);
        body.extend_from_slice(b"abc--Encrypted Boundary--\r\n");
        let ct = "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"";
        let f = parse(ct, &body).unwrap();
        assert_eq!(f.original_type, SOAP);
        assert_eq!((f.signature, f.sealed), ([7; 16], &b"abc"[..]));
    }

    #[test]
    fn structural_errors() {
        let ct = content_type();
        let good = write(SOAP, &[0; 16], b"abc");
        assert!(parse(&ct, &good).is_ok());
        assert_eq!(
            parse("application/soap+xml", &good),
            Err(FrameError::NotEncrypted)
        );
        assert!(matches!(
            parse(
                "multipart/encrypted;protocol=\"application/HTTP-Kerberos-session-encrypted\";boundary=\"Encrypted Boundary\"",
                &good
            ),
            Err(FrameError::Protocol { .. })
        ));
        let short = String::from_utf8_lossy(&good).replace("Length=3", "Length=4");
        assert!(matches!(
            parse(&ct, short.as_bytes()),
            Err(FrameError::Length {
                declared: 4,
                actual: 3
            })
        ));
        let mut bad_len = good.clone();
        let at = bad_len
            .windows(4)
            .position(|w| w == 16u32.to_le_bytes())
            .unwrap();
        bad_len[at] = 15;
        assert_eq!(
            parse(&ct, &bad_len),
            Err(FrameError::SignatureLength { got: 15 })
        );
        assert!(parse(&ct, &good[..good.len() - 10]).is_err());
    }
}
