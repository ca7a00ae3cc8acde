//! Capability discovery: what the subject offers, asked once per run, so that cases
//! that do not apply are skipped with the reason rather than failed.
//!
//! Requirements are strings in the suite files: `class:NAME` (an Enumerate of the
//! class is not answered with `wsa:DestinationUnreachable` or another fault),
//! `identify:unauthenticated` (Identify with `WSMANIDENTIFY: unauthenticated` and no
//! credentials is answered with an IdentifyResponse) and `shell:cmd` (a Create of a
//! WinRM cmd shell succeeds; the probe deletes the shell it made).

use std::collections::{BTreeMap, BTreeSet};

use client::{Client, ClientError, build};

use crate::eval::Answer;

/// What the subject offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Vendor and version from the IdentifyResponse.
    pub product: Option<String>,
    /// Requirements the subject does not meet, with the reason.
    pub missing: BTreeMap<String, String>,
}

impl Capabilities {
    /// Why `requirement` is not met, if it is not.
    pub fn why_missing(&self, requirement: &str) -> Option<&str> {
        self.missing.get(requirement).map(String::as_str)
    }
}

/// Identifies the subject and probes every requirement in `needed`. Fails only when
/// the first Identify gets no answer at all.
pub async fn discover(
    client: &Client,
    needed: &BTreeSet<String>,
) -> Result<Capabilities, ClientError> {
    // A connection closed without any answer is no answer: the target is not usable.
    let ex = client.identify(false).await?.answered()?;
    let mut caps = Capabilities {
        product: crate::product::product(&Answer::new(&ex)),
        missing: BTreeMap::new(),
    };
    for req in needed {
        if let Some(reason) = probe(client, req).await {
            caps.missing.insert(req.clone(), reason);
        }
    }
    Ok(caps)
}

async fn probe(client: &Client, req: &str) -> Option<String> {
    match req.split_once(':') {
        Some(("class", class)) => {
            let uri = crate::template::resource_uri(class);
            let env = client.request(uri).enumerate(build::enumerate_body(
                None,
                true,
                Some(1),
                None,
                None,
            ));
            let ex = match client.send(&env).await {
                Ok(ex) => ex,
                Err(e) => return Some(format!("Enumerate of {class} got no answer: {e}")),
            };
            if let Some(f) = ex.fault() {
                return Some(format!(
                    "the target does not offer {class} (Enumerate answered {})",
                    f.subcode.unwrap_or(f.code)
                ));
            }
            let answer = Answer::new(&ex);
            let ended = answer.count("s:Body/wsen:EnumerateResponse/wsman:EndOfSequence") > 0;
            if let (false, Some(c)) = (
                ended,
                answer.value("s:Body/wsen:EnumerateResponse/wsen:EnumerationContext"),
            ) {
                let _ = client.send(&client.request(class).release(c)).await;
            }
            None
        }
        Some(("identify", "unauthenticated")) => match client.identify(true).await {
            Ok(ex)
                if ex.status() == Some(200)
                    && Answer::new(&ex).count("s:Body/wsmid:IdentifyResponse") > 0 =>
            {
                None
            }
            Ok(ex) => Some(format!(
                "the target does not answer an unauthenticated Identify (HTTP {})",
                ex.status().map_or("none".into(), |s| s.to_string())
            )),
            Err(e) => Some(format!("unauthenticated Identify got no answer: {e}")),
        },
        Some(("shell", "cmd")) => probe_shell(client).await,
        _ => Some(format!("unknown requirement `{req}`")),
    }
}

const SHELL_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";

/// A shell message for the probe: `action` with `selector` (the ShellId) and `body`.
fn shell_envelope(to: &str, action: &str, shell_id: Option<&str>, body: &str) -> Vec<u8> {
    let selectors = shell_id.map_or(String::new(), |id| {
        format!(
            "<w:SelectorSet><w:Selector Name=\"ShellId\">{}</w:Selector></w:SelectorSet>",
            esc(id)
        )
    });
    format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
         xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\">\
         <s:Header><a:To>{to}</a:To><a:Action s:mustUnderstand=\"true\">{action}</a:Action>\
         <a:MessageID>{mid}</a:MessageID><a:ReplyTo><a:Address s:mustUnderstand=\"true\">\
         http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>\
         <w:ResourceURI s:mustUnderstand=\"true\">{SHELL_URI}</w:ResourceURI>\
         <w:MaxEnvelopeSize s:mustUnderstand=\"true\">153600</w:MaxEnvelopeSize>\
         <w:OperationTimeout>PT20S</w:OperationTimeout>{selectors}</s:Header>\
         <s:Body>{body}</s:Body></s:Envelope>",
        to = esc(to),
        mid = build::message_id(),
    )
    .into_bytes()
}

async fn probe_shell(client: &Client) -> Option<String> {
    let to = client.url().to_owned();
    let create = shell_envelope(
        &to,
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
        None,
        "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>\
         <rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>",
    );
    let ex = match client.send_raw(client::RawRequest::soap(create)).await {
        Ok(ex) => ex,
        Err(e) => return Some(format!("a shell Create got no answer: {e}")),
    };
    if let Some(f) = ex.fault() {
        return Some(format!(
            "the target offers no cmd shell (Create answered {})",
            f.subcode.unwrap_or(f.code)
        ));
    }
    let answer = Answer::new(&ex);
    let Some(id) = answer
        .value("s:Body/*:ResourceCreated/wsa:ReferenceParameters/wsman:SelectorSet/wsman:Selector")
    else {
        return Some(format!(
            "a shell Create was answered (HTTP {}) without a ShellId selector",
            ex.status().map_or("none".into(), |s| s.to_string())
        ));
    };
    let delete = shell_envelope(
        &to,
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete",
        Some(&id),
        "",
    );
    let _ = client.send_raw(client::RawRequest::soap(delete)).await;
    None
}

/// `s` as XML character data.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
