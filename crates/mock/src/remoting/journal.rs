//! The PSRP messages a journaled WS-Man exchange carried, by name: `> NAME` for each
//! message the client started in the request (in `creationXml`, `connectXml`,
//! `rsp:Arguments` or a Send's `rsp:Stream`), `< NAME` for each the answer started (a
//! ReceiveResponse's streams, `connectResponseXml`). Read from the journaled bodies after the fact, so the request pipeline
//! does no extra work for it; a message is named by its first fragment (its header
//! is there), so one cut over several Receives is named once.

use base64::Engine as _;
use psrp::{Fragment, MessageType};
use wsman::body::Body;

/// The base64 payloads of a shell body that carry PSRP fragments.
fn payloads(body: &Body<'_>) -> Vec<String> {
    match body {
        Body::Shell(s) => s
            .other
            .iter()
            .map(|t| t.root())
            .filter(|e| e.name().local == "creationXml")
            .map(|e| e.text().to_owned())
            .collect(),
        Body::CommandLine(c) => c.arguments.iter().map(|a| a.to_string()).collect(),
        Body::Send(s) => s.streams.iter().map(|s| s.data.to_string()).collect(),
        Body::ReceiveResponse(r) => r.streams.iter().map(|s| s.data.to_string()).collect(),
        // A Connect's `connectXml` and its answer's `connectResponseXml`.
        Body::Instance(t)
            if matches!(
                t.root().name().local.as_ref(),
                "Connect" | "ConnectResponse"
            ) =>
        {
            t.root()
                .children()
                .filter(|e| matches!(e.name().local.as_ref(), "connectXml" | "connectResponseXml"))
                .map(|e| e.text().to_owned())
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The names of the messages started in one envelope's body, each after `mark`.
fn names(envelope: &[u8], mark: &str, out: &mut Vec<String>) {
    let Ok(text) = std::str::from_utf8(envelope) else {
        return;
    };
    let Ok(env) = wsman::parse(text, &wsman::Limits::default()) else {
        return;
    };
    let bodies = std::iter::once(&env.body).chain(env.extra.iter());
    for body in bodies {
        for p in payloads(body) {
            let clean: String = p.chars().filter(|c| !c.is_whitespace()).collect();
            let Ok(mut bytes) = base64::engine::general_purpose::STANDARD.decode(clean) else {
                continue;
            };
            let mut rest: &[u8] = &bytes;
            while let Ok((f, after)) = Fragment::decode_prefix(rest) {
                rest = after;
                if let (true, Some(kind)) = (f.start, f.blob.get(4..8)) {
                    let kind = MessageType::from_u32(u32::from_le_bytes([
                        kind[0], kind[1], kind[2], kind[3],
                    ]));
                    match kind.name() {
                        Some(n) => out.push(format!("{mark} {n}")),
                        None => out.push(format!("{mark} {:#010x}", kind.as_u32())),
                    }
                }
            }
            bytes.clear();
        }
    }
}

/// Whether a request body is for a PowerShell session configuration: the one test
/// every journaled exchange pays (a substring search), so that the rest of the work
/// here is done only for PowerShell Remoting.
pub fn is_psrp(request: &[u8]) -> bool {
    // Built once: `memmem::find` builds its searcher on every call, which cost more
    // than the search itself on every journaled request.
    static MARK: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| {
            memchr::memmem::Finder::new(b"schemas.microsoft.com/powershell/")
        });
    MARK.find(request).is_some()
}

/// The PSRP messages of one exchange (empty when it is not PowerShell Remoting). The
/// response is asked for only then.
pub fn messages(request: &[u8], response: impl FnOnce() -> Option<Vec<u8>>) -> Vec<String> {
    if !is_psrp(request) {
        return Vec::new();
    }
    let mut out = Vec::new();
    names(request, ">", &mut out);
    if let Some(r) = response() {
        names(&r, "<", &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exchange that is not PowerShell Remoting costs one substring search: its
    /// response is never asked for, let alone parsed.
    #[test]
    fn other_exchanges_are_not_read() {
        let get = b"<s:Envelope><w:ResourceURI>http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Fan</w:ResourceURI></s:Envelope>";
        assert!(!is_psrp(get));
        let names = messages(get, || panic!("the response of a Get was read"));
        assert!(names.is_empty());
        assert!(is_psrp(
            b"<w:ResourceURI>http://schemas.microsoft.com/powershell/Microsoft.PowerShell</w:ResourceURI>"
        ));
    }
}
