//! Writing answers: the response header, the envelope as text held to the client's
//! MaxEnvelopeSize, the seeded defects that change what is written, the request's
//! character encoding, and delays bounded by the OperationTimeout.

use std::borrow::Cow;
use std::time::Duration;

use wsman::body::Body;
use wsman::decode::Charset;
use wsman::{Envelope, FaultKind, Header, ns};

use super::faults::{self, fault_answer, fault_d};
use super::{SOAP_CT, SOAP_CT_UTF16};
use crate::http::{Outcome, Reply};
use crate::mock::Inner;
use crate::scenario::Scenario;

impl Inner {
    pub(super) fn response_header(
        &mut self,
        env: &Envelope<'_>,
        action: impl Into<Cow<'static, str>>,
    ) -> Header<'static> {
        Header {
            to: Some(Cow::Borrowed(ns::ANONYMOUS)),
            // The catalogue's actions are borrowed: no copy for nearly every answer.
            action: Some(action.into()),
            message_id: Some(Cow::Owned(new_uuid())),
            relates_to: env
                .header
                .message_id
                .as_deref()
                .map(|m| Cow::Owned(m.to_owned())),
            ..Header::default()
        }
    }
}

/// A response envelope with the usual empty extras.
pub(super) fn respond(header: Header<'static>, body: Body<'static>) -> Envelope<'static> {
    Envelope {
        header,
        body,
        extra: Vec::new(),
        meta: Default::default(),
    }
}

/// Writes an answer and holds it to the client's MaxEnvelopeSize.
pub(super) fn finish_answer(
    answer: Envelope<'static>,
    req: &Envelope<'_>,
    charset: Charset,
    relates: Option<&str>,
    scenario: &Scenario,
) -> Outcome {
    let mut answer = answer;
    if scenario.defect("reused_message_id") {
        answer.header.message_id = Some(Cow::Borrowed("uuid:00000000-0000-4000-8000-00000000beef"));
    }
    let mut xml = answer.to_xml_bytes();
    if scenario.defect("wrapped_get_body")
        && req.header.action.as_deref() == Some(ns::action::GET)
        && req.header.fragment_transfer.is_none()
        && !matches!(answer.body, Body::Fault(_))
    {
        xml = wrap_body(&String::from_utf8_lossy(&xml)).into_bytes();
    }
    if let Some(max) = req.header.max_envelope_size {
        // MaxEnvelopeSize counts octets on the wire, in the answer's encoding.
        let size = match charset {
            Charset::Utf8 => xml.len() as u64,
            _ => 2 + 2 * String::from_utf8_lossy(&xml).encode_utf16().count() as u64,
        };
        if size > max {
            return fault_answer(
                fault_d(
                    FaultKind::EncodingLimit,
                    "MaxEnvelopeSize",
                    format!("the answer is {size} bytes, more than the MaxEnvelopeSize of {max}"),
                ),
                relates,
                scenario,
            );
        }
    }
    reply(200, xml, SOAP_CT)
}

/// The seeded `wrapped_get_body` defect: the Body's content inside a
/// `wxf:GetResponse` element, as some services wrongly answer a Get.
pub(super) fn wrap_body(xml: &str) -> String {
    let Some(start) = xml.find(":Body>").map(|i| i + ":Body>".len()) else {
        return xml.to_owned();
    };
    let Some(end) = xml.rfind("</").filter(|e| *e >= start).and_then(|_| {
        let close = xml.rfind(":Body>")?;
        xml[..close].rfind("</")
    }) else {
        return xml.to_owned();
    };
    format!(
        "{}<wxf:GetResponse xmlns:wxf=\"{}\">{}</wxf:GetResponse>{}",
        &xml[..start],
        ns::WXF,
        &xml[start..end],
        &xml[end..]
    )
}

/// An answer in the request's encoding (DSP0226 R13.1-5): the mock's own SOAP answers
/// (content type [`SOAP_CT`]) are re-encoded as UTF-16 with a byte order mark when the
/// request was UTF-16. Answers a rule gives with a content type of its own, and
/// transport failures, are sent as the scenario wrote them.
pub(super) fn in_charset(outcome: Outcome, charset: Charset) -> Outcome {
    let little_endian = match charset {
        Charset::Utf8 => return outcome,
        Charset::Utf16Le => true,
        _ => false,
    };
    match outcome {
        Outcome::Reply(mut r) => {
            let ours = r
                .headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && v == SOAP_CT);
            if ours && !r.body.is_empty() {
                if let Ok(text) = std::str::from_utf8(&r.body) {
                    r.body = bytes::Bytes::from(wsman::decode::encode_utf16(text, little_endian));
                    for (n, v) in &mut r.headers {
                        if n.eq_ignore_ascii_case("content-type") {
                            *v = SOAP_CT_UTF16.into();
                        }
                    }
                }
            }
            Outcome::Reply(r)
        }
        Outcome::Delayed(d, inner) => Outcome::Delayed(d, Box::new(in_charset(*inner, charset))),
        other => other,
    }
}

/// A delay bounded by the request's OperationTimeout: a server that cannot answer in
/// time answers `wsman:TimedOut` when the timeout runs out instead.
pub(super) fn timed(
    d: Duration,
    env: &Envelope<'_>,
    outcome: Outcome,
    relates: Option<&str>,
    scenario: &Scenario,
) -> Outcome {
    match env.header.operation_timeout.and_then(|t| t.to_std()) {
        Some(limit) if d > limit => {
            let f = fault_answer(faults::operation_timed_out(), relates, scenario);
            Outcome::Delayed(limit, Box::new(f))
        }
        _ => Outcome::Delayed(d, Box::new(outcome)),
    }
}

pub(super) fn reply(
    status: u16,
    body: Vec<u8>,
    content_type: impl Into<Cow<'static, str>>,
) -> Outcome {
    Outcome::Reply(Reply {
        status,
        // Room for the Content-Length the journal adds to its copy.
        headers: {
            let mut headers = Vec::with_capacity(2);
            headers.push(("content-type".into(), content_type.into()));
            headers
        },
        body: bytes::Bytes::from(body),
    })
}

pub(crate) fn new_uuid() -> String {
    // Unique per process (a counter) and across runs (random bits); the format is what
    // clients expect.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let r: u64 = rand::random();
    // uuid:RRRRRRRR-RRRR-4RRR-8NNN-NNNNNNNNNNNN, hex digits by hand: `format!` with
    // widths cost more than the rest of an Identify's answer.
    fn hex(out: &mut String, value: u64, digits: u32) {
        for i in (0..digits).rev() {
            let d = ((value >> (4 * i)) & 0xF) as u8;
            out.push(char::from(if d < 10 { b'0' + d } else { b'A' + d - 10 }));
        }
    }
    let mut out = String::with_capacity(41);
    out.push_str("uuid:");
    hex(&mut out, r >> 32, 8);
    out.push('-');
    hex(&mut out, (r >> 16) & 0xFFFF, 4);
    out.push('-');
    hex(&mut out, 0x4000 | (r & 0xFFF), 4);
    out.push('-');
    hex(&mut out, 0x8000 | ((n >> 48) & 0xFFF), 4);
    out.push('-');
    hex(&mut out, n & 0xFFFF_FFFF_FFFF, 12);
    out
}

#[cfg(test)]
mod tests {
    /// `uuid:` and a version 4, variant 1 UUID in upper-case hex (as WinRM writes
    /// them), different each time, with the process counter in its last 48 bits.
    #[test]
    fn new_uuids_are_well_formed_and_distinct() {
        let a = super::new_uuid();
        let b = super::new_uuid();
        assert_ne!(a, b);
        for id in [&a, &b] {
            let hex = id.strip_prefix("uuid:").expect(id);
            let groups: Vec<&str> = hex.split('-').collect();
            let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            assert_eq!(lengths, [8, 4, 4, 4, 12], "{id}");
            assert!(
                groups
                    .iter()
                    .all(|g| g.bytes().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F'))),
                "{id}"
            );
            assert!(
                groups[2].starts_with('4') && groups[3].starts_with('8'),
                "{id}"
            );
        }
        let counter = |id: &str| u64::from_str_radix(&id[id.len() - 12..], 16).unwrap();
        // (Other tests may take numbers in between.)
        assert!(counter(&b) > counter(&a), "{a} {b}");
    }
}
