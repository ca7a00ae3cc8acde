//! Judging one answer against an [`Expect`]: every mismatch says what was expected
//! and what came.

use client::Exchange;

use crate::case::{Expect, FaultExpect};
use crate::path::{self, Path};

/// One expectation that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What was checked (`HTTP status`, `wsa:Action`, `s:Body/wsmid:IdentifyResponse`).
    pub what: String,
    /// What was expected.
    pub expected: String,
    /// What came.
    pub got: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.what, self.expected, self.got
        )
    }
}

/// The answer of an exchange, read once for all expectations.
pub struct Answer<'e> {
    /// The exchange.
    pub exchange: &'e Exchange,
    /// The body as text (decoded as its charset says).
    pub text: Option<String>,
}

impl<'e> Answer<'e> {
    /// Reads `exchange`'s answer.
    pub fn new(exchange: &'e Exchange) -> Answer<'e> {
        Answer {
            exchange,
            text: exchange.body_text(),
        }
    }

    /// The body as an XML document, if it is one.
    pub fn doc(&self) -> Option<roxmltree::Document<'_>> {
        let t = self.text.as_deref()?;
        roxmltree::Document::parse_with_options(
            t,
            roxmltree::ParsingOptions {
                allow_dtd: false,
                ..roxmltree::ParsingOptions::default()
            },
        )
        .ok()
    }

    /// The text of the first element `path` selects.
    pub fn value(&self, path: &str) -> Option<String> {
        let p = Path::parse(path).ok()?;
        let doc = self.doc()?;
        p.select(&doc).first().map(path::text)
    }

    /// How many elements `path` selects (0 when the body is not XML).
    pub fn count(&self, path: &str) -> usize {
        let Ok(p) = Path::parse(path) else { return 0 };
        self.doc().map_or(0, |d| p.select(&d).len())
    }
}

fn status_text(ex: &Exchange) -> String {
    match (&ex.response, &ex.error) {
        (Some(r), _) => r.status.to_string(),
        (None, Some(e)) => format!("no answer: {e}"),
        (None, None) => "no answer".into(),
    }
}

fn list<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(" or ")
}

fn fault_text(f: &client::FaultSummary) -> String {
    let mut s = format!("fault {}", f.subcode.as_deref().unwrap_or(&f.code));
    if let Some(d) = &f.detail {
        s.push_str(&format!(" (detail {d})"));
    }
    s
}

/// Checks `expect` against `answer`. `message_id` is the request's MessageID;
/// `expand` expands templates in expected values.
pub fn check(
    expect: &Expect,
    answer: &Answer<'_>,
    message_id: Option<&str>,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let ex = answer.exchange;
    let mut miss = |what: &str, expected: String, got: String| {
        out.push(Mismatch {
            what: what.to_owned(),
            expected,
            got,
        })
    };
    if let Some(st) = &expect.status {
        if !ex.status().is_some_and(|s| st.contains(&s)) {
            miss("HTTP status", list(st.as_slice()), status_text(ex));
        }
    }
    for class in &expect.status_class_not {
        if ex.status().is_none_or(|s| s / 100 == *class) {
            miss("HTTP status", format!("not {class}xx"), status_text(ex));
        }
    }
    for h in &expect.http_headers {
        if ex.header(h).is_none() {
            miss("HTTP header", format!("`{h}` present"), "absent".into());
        }
    }
    let env = ex.envelope();
    let env_err = match &env {
        None => Some("an empty body".to_owned()),
        Some(Err(e)) => Some(format!("unreadable envelope ({e})")),
        Some(Ok(_)) => None,
    };
    let header = env
        .as_ref()
        .and_then(|e| e.as_ref().ok())
        .map(|e| &e.header);
    if expect.envelope {
        if let Some(e) = &env_err {
            miss(
                "answer",
                "a well-formed SOAP 1.2 envelope".into(),
                e.clone(),
            );
        }
    }
    if let Some(action) = &expect.action {
        let got = header.and_then(|h| h.action.as_deref());
        if got != Some(action.as_str()) {
            let got = match (got, &env_err) {
                (Some(g), _) => g.to_owned(),
                (None, Some(e)) => e.clone(),
                (None, None) => "no wsa:Action".into(),
            };
            let got = match ex.fault() {
                Some(f) if !got.contains("fault") => format!("{got} ({})", fault_text(&f)),
                _ => got,
            };
            miss("wsa:Action", action.clone(), got);
        }
    }
    if expect.relates_to {
        let got = header.and_then(|h| h.relates_to.as_deref());
        match message_id {
            Some(mid) if got == Some(mid) => {}
            Some(mid) => miss(
                "wsa:RelatesTo",
                mid.to_owned(),
                got.map_or_else(|| env_err.clone().unwrap_or("absent".into()), str::to_owned),
            ),
            None => miss(
                "wsa:RelatesTo",
                "a request MessageID".into(),
                "none was sent".into(),
            ),
        }
    }
    let fault = ex.fault();
    if expect.no_fault {
        if let Some(f) = &fault {
            miss(
                "answer",
                "no fault".into(),
                format!("{}: {}", fault_text(f), f.reason),
            );
        }
    }
    if let Some(fe) = &expect.fault {
        match &fault {
            None => miss(
                "answer",
                describe_fault(fe),
                env_err
                    .clone()
                    .unwrap_or_else(|| format!("no fault (HTTP {})", status_text(ex))),
            ),
            Some(f) => {
                if let Some(c) = &fe.code {
                    if !c.contains(&f.code) {
                        miss("fault code", list(c.as_slice()), f.code.clone());
                    }
                }
                if let Some(sc) = &fe.subcode {
                    let got = f.subcode.clone().unwrap_or_default();
                    if !sc.contains(&got) {
                        let shown = if got.is_empty() {
                            "no subcode".into()
                        } else {
                            got
                        };
                        miss("fault subcode", list(sc.as_slice()), shown);
                    }
                }
                if let Some(d) = &fe.detail {
                    let got = f.detail.clone().unwrap_or_default();
                    if !d.contains(&got) {
                        let shown = if got.is_empty() {
                            "no detail".into()
                        } else {
                            got
                        };
                        miss("fault detail", list(d.as_slice()), shown);
                    }
                }
            }
        }
    }
    for p in &expect.present {
        let p = &match expand_path(p, expand) {
            Ok(p) => p,
            Err(e) => {
                miss(p, "a valid template".into(), e);
                continue;
            }
        };
        if answer.count(p) == 0 {
            let got = env_err.clone().unwrap_or_else(|| match &fault {
                Some(f) => fault_text(f),
                None => "absent".into(),
            });
            miss(p, "present".into(), got);
        }
    }
    for p in &expect.absent {
        let p = &match expand_path(p, expand) {
            Ok(p) => p,
            Err(e) => {
                miss(p, "a valid template".into(), e);
                continue;
            }
        };
        let n = answer.count(p);
        if n > 0 {
            miss(p, "absent".into(), format!("{n} element(s)"));
        }
    }
    for (p, want) in &expect.values {
        let p = &match expand_path(p, expand) {
            Ok(p) => p,
            Err(e) => {
                miss(p, "a valid template".into(), e);
                continue;
            }
        };
        let want = match expand(want) {
            Ok(w) => w,
            Err(e) => {
                miss(p, "a valid template".into(), e);
                continue;
            }
        };
        match answer.value(p) {
            Some(v) if v == want => {}
            Some(v) => miss(p, format!("`{want}`"), format!("`{v}`")),
            None => miss(p, format!("`{want}`"), "absent".into()),
        }
    }
    if !expect.any.is_empty() {
        let mut all = Vec::new();
        let mut ok = false;
        for alt in &expect.any {
            let m = check(alt, answer, message_id, expand);
            if m.is_empty() {
                ok = true;
                break;
            }
            all.push(
                m.iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
        if !ok {
            out.push(Mismatch {
                what: "any of".into(),
                expected: format!("one of {} alternatives", expect.any.len()),
                got: all.join(" | "),
            });
        }
    }
    out
}

/// A path with `{{...}}` in it (a discovered property name) expanded.
pub fn expand_path(
    p: &str,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<String, String> {
    if p.contains("{{") {
        expand(p)
    } else {
        Ok(p.to_owned())
    }
}

fn describe_fault(fe: &FaultExpect) -> String {
    let mut s = String::from("a fault");
    if let Some(c) = &fe.code {
        s.push_str(&format!(" with code {}", list(c.as_slice())));
    }
    if let Some(sc) = &fe.subcode {
        s.push_str(&format!(" with subcode {}", list(sc.as_slice())));
    }
    if let Some(d) = &fe.detail {
        s.push_str(&format!(" with detail {}", list(d.as_slice())));
    }
    s
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use client::exchange::{Exchange, ResponseTranscript, Transcript};

    use super::*;
    use crate::case::OneOrMany;

    const WSA_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";

    /// An exchange answered `status` with a SOAP envelope of `action` whose body is a
    /// fault (Sender, wsman:InvalidSelectors, detail AmbiguousSelectors) or empty.
    fn answered(status: u16, action: &str, fault: bool) -> Exchange {
        let body = if fault {
            "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode>\
             <s:Value>w:InvalidSelectors</s:Value></s:Subcode></s:Code>\
             <s:Reason><s:Text xml:lang=\"en\">which one?</s:Text></s:Reason>\
             <s:Detail><w:FaultDetail>http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/AmbiguousSelectors</w:FaultDetail></s:Detail></s:Fault>"
        } else {
            ""
        };
        let xml = format!(
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
             xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
             xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header>\
             <a:Action>{action}</a:Action><a:RelatesTo>uuid:1</a:RelatesTo>\
             <a:MessageID>uuid:2</a:MessageID></s:Header><s:Body>{body}</s:Body></s:Envelope>"
        );
        let request = Transcript {
            method: "POST".into(),
            url: "http://127.0.0.1:1/wsman".into(),
            target: "/wsman".into(),
            headers: Vec::new(),
            body: Bytes::new(),
            started: Duration::ZERO,
            connection: 1,
            reused: false,
        };
        let response = ResponseTranscript {
            status,
            reason: None,
            version: "HTTP/1.1".into(),
            headers: vec![(
                "content-type".into(),
                "application/soap+xml;charset=UTF-8".into(),
            )],
            body: Bytes::from(xml),
            elapsed: Duration::ZERO,
        };
        Exchange::new(request, Some(response), None, Vec::new(), Duration::ZERO)
    }

    fn mismatches(expect: &Expect, ex: &Exchange) -> Vec<Mismatch> {
        check(expect, &Answer::new(ex), Some("uuid:1"), &mut |s| {
            Ok(s.to_owned())
        })
    }

    fn one(m: Vec<Mismatch>, what: &str) -> Mismatch {
        let mut found: Vec<Mismatch> = m.into_iter().filter(|m| m.what == what).collect();
        assert_eq!(found.len(), 1, "one `{what}` mismatch: {found:?}");
        found.remove(0)
    }

    /// A fault where another action was expected says which fault it was, once: the
    /// fault's own action is shown as it came, an answer whose action hides the fault
    /// gets the fault named after it.
    #[test]
    fn a_fault_instead_of_the_expected_action_is_named() {
        let expect = Expect {
            action: Some("urn:GetResponse".into()),
            ..Expect::default()
        };
        let m = one(
            mismatches(&expect, &answered(500, WSA_FAULT, true)),
            "wsa:Action",
        );
        assert_eq!(m.expected, "urn:GetResponse");
        assert_eq!(m.got, WSA_FAULT, "the fault action alone, not named twice");

        let m = one(
            mismatches(&expect, &answered(500, "urn:Other", true)),
            "wsa:Action",
        );
        assert_eq!(
            m.got,
            "urn:Other (fault wsman:InvalidSelectors (detail AmbiguousSelectors))"
        );

        // Not a fault: the action as it came, nothing added.
        let m = one(
            mismatches(&expect, &answered(200, "urn:Other", false)),
            "wsa:Action",
        );
        assert_eq!(m.got, "urn:Other");
    }

    /// A fault where none was allowed shows its subcode, detail and reason.
    #[test]
    fn an_unwanted_fault_is_described() {
        let expect = Expect {
            no_fault: true,
            ..Expect::default()
        };
        let m = one(
            mismatches(&expect, &answered(400, WSA_FAULT, true)),
            "answer",
        );
        assert_eq!(m.expected, "no fault");
        assert_eq!(
            m.got,
            "fault wsman:InvalidSelectors (detail AmbiguousSelectors): which one?"
        );
    }

    /// A fault that was expected and did not come says every part that was expected.
    #[test]
    fn a_missing_fault_says_what_was_expected() {
        let expect = Expect {
            fault: Some(FaultExpect {
                code: Some(OneOrMany::One("Sender".into())),
                subcode: Some(OneOrMany::Many(vec![
                    "wsman:InvalidSelectors".into(),
                    "wsa:DestinationUnreachable".into(),
                ])),
                detail: Some(OneOrMany::One("AmbiguousSelectors".into())),
            }),
            ..Expect::default()
        };
        let m = one(
            mismatches(&expect, &answered(200, "urn:GetResponse", false)),
            "answer",
        );
        assert_eq!(
            m.expected,
            "a fault with code Sender with subcode wsman:InvalidSelectors or \
             wsa:DestinationUnreachable with detail AmbiguousSelectors"
        );
        assert_eq!(m.got, "no fault (HTTP 200)");
        // The same fault, present: no mismatch at all.
        assert!(mismatches(&expect, &answered(400, WSA_FAULT, true)).is_empty());
    }
}
