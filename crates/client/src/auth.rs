//! HTTP authentication, sans IO: reading `WWW-Authenticate` challenges (RFC 7235),
//! answering Basic (RFC 7617) and Digest (RFC 7616) ones, and redacting the
//! `Authorization` header for transcripts.
//!
//! The client keeps the state (the last Digest challenge and its nonce count) and
//! decides when to retry; this module only computes.

use std::fmt::Write as _;

use base64::Engine as _;
use md5::Md5;
use sha2::{Digest as _, Sha256, Sha512_256};

use crate::error::AuthError;

/// One challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme as written (`Digest`, `Basic`, `Negotiate`...).
    pub scheme: String,
    /// The auth-params, names as written, values unquoted.
    pub params: Vec<(String, String)>,
    /// A token68 (as `Negotiate` sends), when there is one instead of params.
    pub token68: Option<String>,
}

impl Challenge {
    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the scheme is `scheme` (case-insensitive).
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

/// Reads every challenge of one or more `WWW-Authenticate` header values. The parser
/// is lenient: what it cannot read it skips, so a malformed challenge does not hide
/// the well-formed ones beside it.
pub fn parse_challenges<'v>(values: impl IntoIterator<Item = &'v str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for v in values {
        parse_one_header(v, &mut out);
    }
    out
}

fn parse_one_header(input: &str, out: &mut Vec<Challenge>) {
    let b = input.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    // Index in `out` of the challenge that params belong to.
    let mut current: Option<usize> = None;
    while i < b.len() {
        while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && is_tchar(b[i]) {
            i += 1;
        }
        if i == start {
            // Not a token: skip one character and go on.
            i += 1;
            continue;
        }
        let name = &input[start..i];
        let mut j = i;
        skip_ws(&mut j);
        if j < b.len() && b[j] == b'=' && current.is_some() {
            // name = value, a parameter of the current challenge.
            j += 1;
            skip_ws(&mut j);
            let (value, next) = read_value(input, j);
            if let Some(c) = current {
                out[c].params.push((name.to_owned(), value));
            }
            i = next;
            continue;
        }
        // A new challenge.
        out.push(Challenge {
            scheme: name.to_owned(),
            params: Vec::new(),
            token68: None,
        });
        current = Some(out.len() - 1);
        i = j;
        // token68 (`Negotiate abc==`): a run of token68 characters and `=` padding that
        // ends the challenge. `Basic realm=x` is not one: a value follows the `=`.
        let mut k = i;
        while k < b.len() && is_token68_char(b[k]) {
            k += 1;
        }
        let run_end = k;
        while k < b.len() && b[k] == b'=' {
            k += 1;
        }
        let mut after = k;
        skip_ws(&mut after);
        if run_end > i && (after >= b.len() || b[after] == b',') {
            if let Some(last) = out.last_mut() {
                last.token68 = Some(input[i..k].to_owned());
            }
            i = after;
        }
    }
}

/// Reads a token or quoted-string value at `i`; returns it and the index after it.
fn read_value(input: &str, mut i: usize) -> (String, usize) {
    let b = input.as_bytes();
    let mut value = String::new();
    if i < b.len() && b[i] == b'"' {
        i += 1;
        let mut chars = input[i..].char_indices();
        while let Some((off, c)) = chars.next() {
            match c {
                '"' => return (value, i + off + 1),
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        value.push(e);
                    }
                }
                c => value.push(c),
            }
        }
        (value, b.len())
    } else {
        let start = i;
        while i < b.len() && b[i] != b',' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        value.push_str(&input[start..i]);
        (value, i)
    }
}

/// The `Authorization` value for Basic: `Basic base64(user ":" password)` in UTF-8.
pub fn basic_authorization(user: &str, password: &str) -> Result<String, AuthError> {
    if user.contains(':') {
        return Err(AuthError::ColonInUser {
            user: user.to_owned(),
        });
    }
    Ok(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    ))
}

/// A Digest hash algorithm (RFC 7616 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `MD5` (also when the challenge names none).
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// `SHA-512-256`.
    Sha512_256,
    /// `SHA-512-256-sess`.
    Sha512_256Sess,
}

impl DigestAlgorithm {
    /// Reads the `algorithm` parameter; `None` for an algorithm this client lacks.
    pub fn from_param(v: Option<&str>) -> Option<DigestAlgorithm> {
        let Some(v) = v else {
            return Some(DigestAlgorithm::Md5);
        };
        let v = v.trim();
        Some(if v.eq_ignore_ascii_case("MD5") {
            DigestAlgorithm::Md5
        } else if v.eq_ignore_ascii_case("MD5-sess") {
            DigestAlgorithm::Md5Sess
        } else if v.eq_ignore_ascii_case("SHA-256") {
            DigestAlgorithm::Sha256
        } else if v.eq_ignore_ascii_case("SHA-256-sess") {
            DigestAlgorithm::Sha256Sess
        } else if v.eq_ignore_ascii_case("SHA-512-256") {
            DigestAlgorithm::Sha512_256
        } else if v.eq_ignore_ascii_case("SHA-512-256-sess") {
            DigestAlgorithm::Sha512_256Sess
        } else {
            return None;
        })
    }

    /// The name as written in the `algorithm` parameter.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Md5Sess => "MD5-sess",
            DigestAlgorithm::Sha256 => "SHA-256",
            DigestAlgorithm::Sha256Sess => "SHA-256-sess",
            DigestAlgorithm::Sha512_256 => "SHA-512-256",
            DigestAlgorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// Preference: higher is better. SHA-256 is what RFC 7616 §3.7 says to prefer
    /// over MD5; SHA-512/256 is stronger still; plain beats `-sess` of the same hash.
    fn rank(self) -> u8 {
        match self {
            DigestAlgorithm::Sha512_256 => 6,
            DigestAlgorithm::Sha512_256Sess => 5,
            DigestAlgorithm::Sha256 => 4,
            DigestAlgorithm::Sha256Sess => 3,
            DigestAlgorithm::Md5 => 2,
            DigestAlgorithm::Md5Sess => 1,
        }
    }

    fn is_sess(self) -> bool {
        matches!(
            self,
            DigestAlgorithm::Md5Sess
                | DigestAlgorithm::Sha256Sess
                | DigestAlgorithm::Sha512_256Sess
        )
    }

    /// `H(data)` as lower-case hex.
    pub fn hash_hex(self, data: &str) -> String {
        match self {
            DigestAlgorithm::Md5 | DigestAlgorithm::Md5Sess => hex(&Md5::digest(data.as_bytes())),
            DigestAlgorithm::Sha256 | DigestAlgorithm::Sha256Sess => {
                hex(&Sha256::digest(data.as_bytes()))
            }
            DigestAlgorithm::Sha512_256 | DigestAlgorithm::Sha512_256Sess => {
                hex(&Sha512_256::digest(data.as_bytes()))
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A Digest challenge this client can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `opaque`, echoed back.
    pub opaque: Option<String>,
    /// `algorithm`.
    pub algorithm: DigestAlgorithm,
    /// Whether `qop` offers `auth` (else the challenge has no qop: RFC 2069 style).
    pub qop_auth: bool,
    /// `stale=true`: the nonce expired but the credentials were right.
    pub stale: bool,
    /// `userhash=true`: send `H(user:realm)` instead of the user name.
    pub userhash: bool,
}

impl DigestChallenge {
    /// Reads a `Digest` challenge; `None` if it is not one this client can answer (not
    /// Digest, no nonce, an unknown algorithm, or only `qop=auth-int`).
    pub fn from_challenge(c: &Challenge) -> Option<DigestChallenge> {
        if !c.is("Digest") {
            return None;
        }
        let algorithm = DigestAlgorithm::from_param(c.param("algorithm"))?;
        let qop_auth = match c.param("qop") {
            None => false,
            Some(q) => {
                if q.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth")) {
                    true
                } else {
                    return None;
                }
            }
        };
        Some(DigestChallenge {
            realm: c.param("realm").unwrap_or_default().to_owned(),
            nonce: c.param("nonce")?.to_owned(),
            opaque: c.param("opaque").map(str::to_owned),
            algorithm,
            qop_auth,
            stale: c
                .param("stale")
                .is_some_and(|s| s.trim().eq_ignore_ascii_case("true")),
            userhash: c
                .param("userhash")
                .is_some_and(|s| s.trim().eq_ignore_ascii_case("true")),
        })
    }

    /// The best Digest challenge among `challenges` (RFC 7616 §3.7: the strongest
    /// algorithm the client supports).
    pub fn best(challenges: &[Challenge]) -> Option<DigestChallenge> {
        challenges
            .iter()
            .filter_map(DigestChallenge::from_challenge)
            .max_by_key(|d| d.algorithm.rank())
    }

    /// The `response` value of RFC 7616 §3.4.1 for this request, and the
    /// `Authorization` header that carries it.
    #[allow(clippy::too_many_arguments)]
    pub fn authorization(
        &self,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> String {
        let alg = self.algorithm;
        let mut ha1 = alg.hash_hex(&format!("{user}:{}:{password}", self.realm));
        if alg.is_sess() {
            ha1 = alg.hash_hex(&format!("{ha1}:{}:{cnonce}", self.nonce));
        }
        let ha2 = alg.hash_hex(&format!("{method}:{uri}"));
        let nc_text = format!("{nc:08x}");
        let response = if self.qop_auth {
            alg.hash_hex(&format!(
                "{ha1}:{}:{nc_text}:{cnonce}:auth:{ha2}",
                self.nonce
            ))
        } else {
            alg.hash_hex(&format!("{ha1}:{}:{ha2}", self.nonce))
        };
        let mut h = String::from("Digest ");
        if self.userhash {
            let hashed = alg.hash_hex(&format!("{user}:{}", self.realm));
            let _ = write!(h, "username=\"{hashed}\"");
        } else if user.is_ascii() {
            let _ = write!(h, "username=\"{}\"", quote(user));
        } else {
            // RFC 7616 §3.4.4: a name that is not ASCII goes in username* (RFC 8187).
            let _ = write!(h, "username*=UTF-8''{}", percent_encode(user));
        }
        let _ = write!(
            h,
            ", realm=\"{}\", uri=\"{}\", algorithm={}, nonce=\"{}\"",
            quote(&self.realm),
            quote(uri),
            alg.name(),
            quote(&self.nonce)
        );
        if self.qop_auth || alg.is_sess() {
            let _ = write!(h, ", nc={nc_text}, cnonce=\"{}\"", quote(cnonce));
        }
        if self.qop_auth {
            h.push_str(", qop=auth");
        }
        let _ = write!(h, ", response=\"{response}\"");
        if let Some(o) = &self.opaque {
            let _ = write!(h, ", opaque=\"{}\"", quote(o));
        }
        if self.userhash {
            h.push_str(", userhash=true");
        }
        h
    }
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A fresh client nonce: 128 random bits as hex.
pub fn cnonce() -> String {
    hex(&rand::random::<[u8; 16]>())
}

/// The `Authorization` (or `Proxy-Authorization`) value as a transcript may show it:
/// `Basic <redacted>`; Digest with every parameter but `response` (which allows an
/// offline guess of the password); any other scheme with its credentials redacted.
pub fn redact_authorization(value: &str) -> String {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("digest") {
        return format!("{scheme} <redacted>");
    }
    let parsed = parse_challenges([value]);
    let Some(c) = parsed.first() else {
        return format!("{scheme} <redacted>");
    };
    if rest.trim().is_empty() {
        return scheme.to_owned();
    }
    let mut out = format!("{scheme} ");
    for (i, (k, v)) in c.params.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if k.eq_ignore_ascii_case("response") {
            let _ = write!(out, "{k}=<redacted>");
        } else if matches!(
            k.to_ascii_lowercase().as_str(),
            "algorithm" | "nc" | "qop" | "userhash"
        ) {
            let _ = write!(out, "{k}={v}");
        } else {
            let _ = write!(out, "{k}=\"{}\"", quote(v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    const OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";

    fn example(alg: &str) -> Challenge {
        parse_challenges([format!(
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm={alg}, nonce=\"{NONCE}\", opaque=\"{OPAQUE}\""
        )
        .as_str()])
        .remove(0)
    }

    fn response_of(header: &str) -> String {
        parse_challenges([header])[0]
            .param("response")
            .unwrap()
            .to_owned()
    }

    #[test]
    fn rfc7616_section_3_9_1_md5_and_sha256() {
        for (alg, expected) in [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            (
                "SHA-256",
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let d = DigestChallenge::from_challenge(&example(alg)).unwrap();
            let h = d.authorization(
                "Mufasa",
                "Circle of Life",
                "GET",
                "/dir/index.html",
                1,
                CNONCE,
            );
            assert_eq!(response_of(&h), expected, "{alg}");
            assert!(h.contains("nc=00000001"), "{h}");
            assert!(h.contains(&format!("opaque=\"{OPAQUE}\"")), "{h}");
            assert!(h.contains("qop=auth,"), "{h}");
        }
    }

    #[test]
    fn sha256_is_preferred_over_md5_whatever_the_order() {
        let cs = parse_challenges([
            "Digest realm=\"r\", nonce=\"n\", algorithm=MD5, qop=\"auth\"",
            "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256, qop=\"auth\", Basic realm=\"r\"",
        ]);
        assert_eq!(cs.len(), 3);
        assert_eq!(
            DigestChallenge::best(&cs).unwrap().algorithm,
            DigestAlgorithm::Sha256
        );
    }

    #[test]
    fn several_challenges_in_one_header() {
        let cs = parse_challenges([
            r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple", Negotiate abc+/==, NTLM"#,
        ]);
        let schemes: Vec<_> = cs.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Newauth", "Basic", "Negotiate", "NTLM"]);
        assert_eq!(cs[0].param("title"), Some("Login to \"apps\""));
        assert_eq!(cs[0].param("type"), Some("1"));
        assert_eq!(cs[1].param("realm"), Some("simple"));
        assert_eq!(cs[2].token68.as_deref(), Some("abc+/=="));
        assert!(cs[3].params.is_empty() && cs[3].token68.is_none());
    }

    #[test]
    fn auth_int_only_and_unknown_algorithms_are_not_answered() {
        let cs = parse_challenges([
            "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"",
            "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-1024, qop=auth",
        ]);
        assert!(DigestChallenge::best(&cs).is_none());
    }

    #[test]
    fn no_qop_is_rfc2069_style() {
        let c = &parse_challenges(["Digest realm=\"r\", nonce=\"abc\""])[0];
        let d = DigestChallenge::from_challenge(c).unwrap();
        let h = d.authorization("u", "p", "POST", "/wsman", 1, "c");
        let ha1 = DigestAlgorithm::Md5.hash_hex("u:r:p");
        let ha2 = DigestAlgorithm::Md5.hash_hex("POST:/wsman");
        assert_eq!(
            response_of(&h),
            DigestAlgorithm::Md5.hash_hex(&format!("{ha1}:abc:{ha2}"))
        );
        assert!(!h.contains("nc="), "{h}");
    }

    #[test]
    fn non_ascii_user_goes_in_username_star() {
        let d = DigestChallenge::from_challenge(&example("SHA-256")).unwrap();
        let h = d.authorization("Jäsøn Doe", "Secret, or not?", "GET", "/doe.json", 1, "c");
        assert!(
            h.starts_with("Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe,"),
            "{h}"
        );
    }

    #[test]
    fn basic_refuses_a_colon_in_the_user() {
        assert_eq!(
            basic_authorization("Aladdin", "open sesame").unwrap(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert!(basic_authorization("a:b", "p").is_err());
    }

    #[test]
    fn redaction_hides_secrets_and_keeps_the_rest() {
        assert_eq!(
            redact_authorization("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            "Basic <redacted>"
        );
        let d = DigestChallenge::from_challenge(&example("SHA-256")).unwrap();
        let h = d.authorization("Mufasa", "Circle of Life", "GET", "/x", 7, "cn");
        let r = redact_authorization(&h);
        assert!(r.starts_with("Digest username=\"Mufasa\", realm="), "{r}");
        assert!(r.contains("response=<redacted>"), "{r}");
        assert!(r.contains("nc=00000007"), "{r}");
        assert!(!r.contains(&response_of(&h)), "{r}");
        assert_eq!(
            redact_authorization("Negotiate YIIabc=="),
            "Negotiate <redacted>"
        );
    }
}
