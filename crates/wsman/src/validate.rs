//! Semantic checks of a parsed envelope: what a conforming service must fault (errors)
//! and what a lenient one accepts but a strict linter reports (warnings).

use crate::addressing::duplicate_selector;
use crate::body::Body;
use crate::envelope::{Envelope, HeaderName};
use crate::error::ErrorKind;
use crate::ns;

/// A warning: a deviation that lenient servers (Intel AMT's among them) accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Warning {
    /// To, Action or ResourceURI without `s:mustUnderstand="true"`.
    MissingMustUnderstand(HeaderName),
    /// `wsa:To` is not an absolute URI (AMT tooling sends `/wsman`).
    RelativeTo,
    /// `wsa:MessageID` is not a `uuid:` URI (AMT tooling sends integers).
    NonUuidMessageId,
}

impl Warning {
    /// The stable snake_case name used in corpus expectations and `lint --json`.
    pub fn name(&self) -> &'static str {
        match self {
            Warning::MissingMustUnderstand(_) => "missing_must_understand",
            Warning::RelativeTo => "relative_to",
            Warning::NonUuidMessageId => "non_uuid_message_id",
        }
    }

    /// A sentence for people.
    pub fn message(&self) -> String {
        match self {
            Warning::MissingMustUnderstand(h) => {
                format!("{} should carry s:mustUnderstand=\"true\"", h.qname())
            }
            Warning::RelativeTo => "wsa:To is not an absolute URI".into(),
            Warning::NonUuidMessageId => "wsa:MessageID is not a uuid: URI".into(),
        }
    }
}

/// One finding about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A conforming service must fault this.
    Error(ErrorKind, usize),
    /// A lenient service accepts this.
    Warning(Warning, usize),
}

/// Whether a message is a request or a response, as far as the body and headers tell.
pub fn is_response(env: &Envelope<'_>) -> bool {
    if matches!(env.body, Body::Fault(_) | Body::IdentifyResponse(_)) {
        return true;
    }
    if env.header.relates_to.is_some() {
        return true;
    }
    env.header
        .action
        .as_deref()
        .is_some_and(|a| a.ends_with("Response") || a.ends_with("/fault"))
        || matches!(
            env.body,
            Body::EnumerateResponse(_)
                | Body::PullResponse(_)
                | Body::ReceiveResponse(_)
                | Body::CommandResponse(_)
                | Body::SubscribeResponse(_)
                | Body::ResourceCreated(_)
                | Body::MethodOutput(_)
                | Body::SubscriptionEnd(_)
        )
}

fn is_uuid_uri(id: &str) -> bool {
    let rest = id
        .strip_prefix("uuid:")
        .or_else(|| id.strip_prefix("urn:uuid:"));
    rest.is_some_and(|r| {
        r.len() == 36
            && r.char_indices().all(|(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    })
}

fn is_absolute_uri(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// Checks a request. `understood` lists extra (namespace, local) headers the caller
/// understands beyond the typed ones, for the mustUnderstand rule.
pub fn check_request(env: &Envelope<'_>, understood: &[(&str, &str)]) -> Vec<Finding> {
    let mut out = Vec::new();
    let h = &env.header;
    let m = &env.meta;
    let at = |name: HeaderName| m.header(name).map_or(m.envelope_offset, |x| x.1);
    let header_start = m.envelope_offset;

    for o in &h.other {
        let name = o.element.root().name();
        if o.must_understand && !understood.iter().any(|(ns, l)| name.is(ns, l)) {
            out.push(Finding::Error(
                ErrorKind::MustUnderstand {
                    name: name.to_string(),
                    namespace: name.ns.to_string(),
                },
                header_start,
            ));
        }
    }
    let identify = matches!(env.body, Body::Identify);
    if !identify {
        for (name, value) in [
            (HeaderName::To, h.to.is_some()),
            (HeaderName::Action, h.action.is_some()),
            (HeaderName::MessageId, h.message_id.is_some()),
        ] {
            if !value {
                out.push(Finding::Error(
                    ErrorKind::MissingHeader { name: name.qname() },
                    header_start,
                ));
            }
        }
        // Request/response operations answer on the connection: ReplyTo and FaultTo
        // must be the anonymous address.
        for (epr, name) in [
            (&h.reply_to, HeaderName::ReplyTo),
            (&h.fault_to, HeaderName::FaultTo),
        ] {
            if let Some(e) = epr {
                if e.address != ns::ANONYMOUS {
                    out.push(Finding::Error(
                        ErrorKind::UnsupportedAddressing {
                            address: e.address.to_string(),
                        },
                        at(name),
                    ));
                }
            }
        }
        let needs_resource = matches!(
            env.body,
            Body::Enumerate(_)
                | Body::Shell(_)
                | Body::CommandLine(_)
                | Body::Receive(_)
                | Body::Send(_)
                | Body::Signal(_)
                | Body::MethodInput(_)
        ) || h.action.as_deref().is_some_and(|a| {
            [
                ns::action::GET,
                ns::action::PUT,
                ns::action::CREATE,
                ns::action::DELETE,
            ]
            .contains(&a)
        });
        if needs_resource && h.resource_uri.is_none() {
            out.push(Finding::Error(ErrorKind::MissingResourceUri, header_start));
        }
    }
    if let Some(v) = h.max_envelope_size {
        if v < 8192 {
            out.push(Finding::Error(
                ErrorKind::EnvelopeTooSmall { value: v },
                at(HeaderName::MaxEnvelopeSize),
            ));
        }
    }
    if let Some(dup) = duplicate_selector(&h.selectors) {
        out.push(Finding::Error(
            ErrorKind::DuplicateSelector {
                name: dup.to_owned(),
            },
            at(HeaderName::SelectorSet),
        ));
    }
    if identify {
        return out;
    }
    for name in [HeaderName::To, HeaderName::Action, HeaderName::ResourceUri] {
        if let Some((mu, pos)) = m.header(name) {
            if !mu {
                out.push(Finding::Warning(Warning::MissingMustUnderstand(name), pos));
            }
        }
    }
    if let Some(to) = &h.to {
        if !is_absolute_uri(to) {
            out.push(Finding::Warning(Warning::RelativeTo, at(HeaderName::To)));
        }
    }
    if let Some(id) = &h.message_id {
        if !is_uuid_uri(id) {
            out.push(Finding::Warning(
                Warning::NonUuidMessageId,
                at(HeaderName::MessageId),
            ));
        }
    }
    out
}

/// Checks a response: it must carry Action and RelatesTo (Identify responses excepted).
pub fn check_response(env: &Envelope<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    // Identify answers and one-way notifications relate to no request.
    if matches!(
        env.body,
        Body::IdentifyResponse(_) | Body::SubscriptionEnd(_)
    ) {
        return out;
    }
    let h = &env.header;
    let start = env.meta.envelope_offset;
    if h.action.is_none() {
        out.push(Finding::Error(
            ErrorKind::MissingHeader {
                name: HeaderName::Action.qname(),
            },
            start,
        ));
    }
    if h.relates_to.is_none() {
        out.push(Finding::Error(
            ErrorKind::MissingHeader {
                name: HeaderName::RelatesTo.qname(),
            },
            start,
        ));
    }
    out
}

/// Checks a message as a request or a response, whichever it is.
pub fn check(env: &Envelope<'_>) -> Vec<Finding> {
    if is_response(env) {
        check_response(env)
    } else {
        check_request(env, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_and_uri_shapes() {
        assert!(is_uuid_uri("uuid:3D5F4F5E-1234-4000-8000-00AABBCCDDEE"));
        assert!(is_uuid_uri("urn:uuid:3d5f4f5e-1234-4000-8000-00aabbccddee"));
        assert!(!is_uuid_uri("42"));
        assert!(!is_uuid_uri("uuid:xyz"));
        assert!(is_absolute_uri("http://127.0.0.1:5985/wsman"));
        assert!(!is_absolute_uri("/wsman"));
        // Exactly 36 characters, and the 8-4-4-4-12 hex shape: both are needed.
        assert!(!is_uuid_uri("uuid:zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"));
        assert!(!is_uuid_uri("uuid:3D5F4F5E-1234-4000-8000-00AABBCCDDEE00"));
        assert!(!is_uuid_uri("uuid:3D5F4F5E-1234-4000-8000-00AABBCCDD"));
        // A scheme: not empty, a letter first, then letters, digits, + - . only.
        assert!(!is_absolute_uri(":x"));
        assert!(!is_absolute_uri("1http://x"));
        assert!(!is_absolute_uri("ht tp://x"));
        assert!(is_absolute_uri("urn:x-y.z+1:a"));
    }

    #[test]
    fn warnings_say_what_is_wrong() {
        assert_eq!(
            Warning::MissingMustUnderstand(HeaderName::To).message(),
            "wsa:To should carry s:mustUnderstand=\"true\""
        );
        assert_eq!(
            Warning::RelativeTo.message(),
            "wsa:To is not an absolute URI"
        );
        assert_eq!(
            Warning::NonUuidMessageId.message(),
            "wsa:MessageID is not a uuid: URI"
        );
    }

    #[test]
    fn max_envelope_size_8192_is_the_smallest_allowed() {
        let with = |n: u32| {
            let xml = format!(
                r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:To s:mustUnderstand="true">http://127.0.0.1/wsman</a:To><a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:MessageID>uuid:11111111-2222-4333-8444-555555555555</a:MessageID><w:ResourceURI s:mustUnderstand="true">urn:x</w:ResourceURI><w:MaxEnvelopeSize s:mustUnderstand="true">{n}</w:MaxEnvelopeSize></s:Header><s:Body/></s:Envelope>"#
            );
            let env = crate::parse(&xml, &crate::Limits::default()).unwrap();
            check_request(&env, &[])
                .into_iter()
                .filter(|f| matches!(f, Finding::Error(..)))
                .count()
        };
        assert_eq!(with(8192), 0);
        assert_eq!(with(8191), 1);
    }
}

#[cfg(test)]
mod fault_to_tests {
    use super::*;

    /// A non-anonymous FaultTo is refused like a non-anonymous ReplyTo.
    #[test]
    fn fault_to_must_be_anonymous() {
        let xml = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:To>http://127.0.0.1/wsman</a:To><a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:MessageID>uuid:11111111-2222-4333-8444-555555555555</a:MessageID><w:ResourceURI s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Fan</w:ResourceURI><a:FaultTo><a:Address>http://client.example/x</a:Address></a:FaultTo></s:Header><s:Body/></s:Envelope>"#;
        let env = crate::parse(xml, &crate::Limits::default()).unwrap();
        let errors: Vec<_> = check_request(&env, &[])
            .into_iter()
            .filter_map(|f| match f {
                Finding::Error(k, _) => Some(k.name()),
                Finding::Warning(..) => None,
            })
            .collect();
        assert_eq!(errors, ["unsupported_addressing"]);
    }
}

#[cfg(test)]
mod response_tests {
    use super::*;

    const RESPONSE: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</a:Action><a:MessageID>uuid:11111111-2222-4333-8444-555555555556</a:MessageID><a:RelatesTo>uuid:11111111-2222-4333-8444-555555555555</a:RelatesTo></s:Header><s:Body><p:X xmlns:p="urn:x"/></s:Body></s:Envelope>"#;

    fn errors(xml: &str) -> Vec<String> {
        let env = crate::parse(xml, &crate::Limits::default()).unwrap();
        check(&env)
            .into_iter()
            .filter_map(|f| match f {
                Finding::Error(ErrorKind::MissingHeader { name }, _) => Some(name.to_string()),
                Finding::Error(k, _) => Some(k.name().to_owned()),
                Finding::Warning(..) => None,
            })
            .collect()
    }

    /// A response is held to Action and RelatesTo, each on its own; a complete one has
    /// no finding.
    #[test]
    fn a_response_needs_action_and_relates_to() {
        assert!(errors(RESPONSE).is_empty(), "{:?}", errors(RESPONSE));
        let no_relates = RESPONSE.replace(
            "<a:RelatesTo>uuid:11111111-2222-4333-8444-555555555555</a:RelatesTo>",
            "",
        );
        let e = errors(&no_relates);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("RelatesTo"), "{e:?}");
        let no_action = RESPONSE.replace(
            "<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</a:Action>",
            "",
        );
        let e = errors(&no_action);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("Action"), "{e:?}");
    }

    /// A request without ResourceURI where its operation needs one is reported (and
    /// only that).
    #[test]
    fn a_get_without_resource_uri_is_reported() {
        let xml = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><a:To s:mustUnderstand="true">http://127.0.0.1/wsman</a:To><a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:MessageID>uuid:11111111-2222-4333-8444-555555555555</a:MessageID></s:Header><s:Body/></s:Envelope>"#;
        assert_eq!(errors(xml), ["missing_resource_uri"]);
    }
}
