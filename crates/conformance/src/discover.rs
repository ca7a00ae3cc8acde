//! Capability discovery: what the subject offers, asked once per run, so that cases
//! that do not apply are skipped with the reason rather than failed.
//!
//! Requirements are strings in the suite files: `class:NAME` (an Enumerate of the
//! class is not answered with `wsa:DestinationUnreachable` or another fault) and
//! `identify:unauthenticated` (Identify with `WSMANIDENTIFY: unauthenticated` and no
//! credentials is answered with an IdentifyResponse).

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
    let ex = client.identify(false).await?;
    let answer = Answer::new(&ex);
    let vendor = answer.value("s:Body/wsmid:IdentifyResponse/wsmid:ProductVendor");
    let version = answer.value("s:Body/wsmid:IdentifyResponse/wsmid:ProductVersion");
    let product = match (vendor, version) {
        (Some(a), Some(b)) => Some(format!("{a} {b}")),
        (a, b) => a.or(b),
    };
    let mut caps = Capabilities {
        product,
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
        _ => Some(format!("unknown requirement `{req}`")),
    }
}
