//! The PSRP messages a journaled WS-Man exchange carried, by name: `> NAME` for each
//! message the client started in the request (in `creationXml`, `rsp:Arguments` or a
//! Send's `rsp:Stream`), `< NAME` for each the answer started (a ReceiveResponse's
//! streams). Read from the journaled bodies after the fact, so the request pipeline
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

/// The PSRP messages of one exchange (empty when it is not PowerShell Remoting).
pub fn messages(request: &[u8], response: Option<&[u8]>) -> Vec<String> {
    const MARK: &[u8] = b"schemas.microsoft.com/powershell/";
    if !request.windows(MARK.len()).any(|w| w == MARK) {
        return Vec::new();
    }
    let mut out = Vec::new();
    names(request, ">", &mut out);
    if let Some(r) = response {
        names(r, "<", &mut out);
    }
    out
}
