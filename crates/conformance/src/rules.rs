//! Rules that hold for every WS-Management answer, whatever the case expected.
//!
//! A case checks what its clause says; these rules judge every answer a case gets, as
//! separate findings attributed to that case: a fault delivered with a 2xx status, a
//! fault whose HTTP status class does not match its SOAP code (SOAP 1.2 Part 2's HTTP
//! binding: `env:Sender` is a 4xx, every other fault a 5xx), a response without the
//! headers `wsman::validate` requires (the same rules the mock and `touchstone lint`
//! apply), a successful Get or Put whose body is not the representation itself, and a
//! MessageID the service used twice in one run.
//!
//! A finding has its own rule ID (`wsman.rule.fault-status-class`), level and clause;
//! it fails (MUST) or warns (SHOULD) without changing the case's own outcome, and is
//! waived like a case, by its rule ID or by `CASE-ID#RULE-ID`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::case::{Clause, Level, Outcome};
use crate::waiver::{WaiverNote, Waivers};

/// A rule every answer is judged by.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable ID (`wsman.rule.fault-not-2xx`).
    pub id: &'static str,
    /// One line saying what is checked.
    pub title: &'static str,
    /// The specification.
    pub spec: &'static str,
    /// The requirement's own identifier (section or R-number).
    pub req: &'static str,
    /// The keyword of its wording.
    pub keyword: &'static str,
    /// Whether that keyword was read in the text; `false`: the identifier is the
    /// section that holds the rule, and the level is our judgement until it is read.
    pub verified: bool,
    /// The requirement, in our own words.
    pub requirement: &'static str,
}

impl Rule {
    /// The level its keyword gives.
    pub fn level(&self) -> Level {
        Level::from_keyword(self.keyword).unwrap_or(Level::Should)
    }

    /// The clause, as cases carry it.
    pub fn clause(&self) -> Clause {
        Clause {
            spec: self.spec.into(),
            section: self.req.into(),
            requirement: self.requirement.into(),
            id: Some(self.req.into()),
            keyword: Some(self.keyword.into()),
            verified: (!self.verified).then_some(false),
        }
    }
}

/// A fault is never delivered with a 2xx status.
pub const FAULT_NOT_2XX: Rule = Rule {
    id: "wsman.rule.fault-not-2xx",
    title: "A SOAP fault is never delivered with a 2xx HTTP status",
    spec: "SOAP 1.2 Part 2",
    req: "7.5.2.2",
    keyword: "must",
    verified: false,
    requirement: "A responding SOAP node that answers with a fault uses the fault's HTTP \
                  status (400 for env:Sender, 500 otherwise), never a success status.",
};

/// The HTTP status class follows the fault code.
pub const FAULT_STATUS_CLASS: Rule = Rule {
    id: "wsman.rule.fault-status-class",
    title: "A fault's HTTP status follows its SOAP code: env:Sender 4xx, others 5xx",
    spec: "SOAP 1.2 Part 2",
    req: "7.5.2.2",
    keyword: "should",
    verified: false,
    requirement: "In the SOAP HTTP binding an env:Sender fault is a client error (400 Bad \
                  Request) and every other fault code (Receiver, MustUnderstand, \
                  VersionMismatch, DataEncodingUnknown) a server error (500).",
};

/// A response carries the headers responses need.
pub const RESPONSE_HEADERS: Rule = Rule {
    id: "wsman.rule.response-headers",
    title: "A response to a well-formed request carries wsa:Action and wsa:RelatesTo",
    spec: "WS-Addressing 2004/08",
    req: "3.1",
    keyword: "must",
    verified: true,
    requirement: "A reply carries wsa:RelatesTo with the MessageID of the request it \
                  answers, and every message names its wsa:Action (the checks of the \
                  wsman crate's response validation).",
};

/// A successful Get or Put answers the representation itself.
pub const TRANSFER_BODY: Rule = Rule {
    id: "wsman.rule.transfer-body-representation",
    title: "The body of a GetResponse or PutResponse is the representation itself",
    spec: "WS-Transfer 2004/09",
    req: "3.1 Get",
    keyword: "must",
    verified: false,
    requirement: "A successful Get (and a Put that returns the resource) answers with the \
                  resource's representation as the one child of the SOAP Body, not wrapped \
                  in another element.",
};

/// A MessageID is never used twice.
pub const MESSAGE_ID_UNIQUE: Rule = Rule {
    id: "wsman.rule.message-id-unique",
    title: "The service never uses the same MessageID twice",
    spec: "DSP0226 1.1",
    req: "R5.4.4-2",
    keyword: "shall",
    verified: true,
    requirement: "Every message the service sends has a MessageID of its own: a value it \
                  sent once is never sent again.",
};

/// Every rule, in report order.
pub const ALL: [Rule; 5] = [
    FAULT_NOT_2XX,
    FAULT_STATUS_CLASS,
    RESPONSE_HEADERS,
    TRANSFER_BODY,
    MESSAGE_ID_UNIQUE,
];

/// A rule broken by answers of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleFinding {
    /// The rule ID.
    pub rule: String,
    /// What the rule checks.
    pub title: String,
    /// The requirement.
    pub clause: Clause,
    /// MUST or SHOULD.
    pub level: Level,
    /// `fail` (MUST) or `warn` (SHOULD).
    pub outcome: Outcome,
    /// What was seen, for the first answer that broke it.
    pub message: String,
    /// How many answers of the case broke it.
    pub count: usize,
    /// The waiver that applies, if any.
    pub waiver: Option<WaiverNote>,
}

impl RuleFinding {
    /// A MUST finding no waiver excuses.
    pub fn is_required_failure(&self) -> bool {
        self.waiver.is_none() && self.level == Level::Must
    }

    /// Applies the waiver of `CASE#RULE` or `RULE`, if any.
    pub fn apply_waiver(&mut self, case: &str, waivers: &Waivers) {
        let scoped = format!("{case}#{}", self.rule);
        if let Some((pattern, reason)) = waivers
            .lookup(&scoped)
            .or_else(|| waivers.lookup(&self.rule))
        {
            self.waiver = Some(WaiverNote {
                pattern: pattern.to_owned(),
                reason: reason.to_owned(),
                stale: false,
            });
        }
    }
}

/// MessageIDs seen in one run: id → the case that saw it first.
#[derive(Debug, Clone, Default)]
pub struct SeenIds(Arc<Mutex<HashMap<String, String>>>);

impl SeenIds {
    /// Records `id` for `case`; returns the case that saw it before, if any.
    fn first_seen(&self, id: &str, case: &str) -> Option<String> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match m.get(id) {
            Some(first) => Some(first.clone()),
            None => {
                m.insert(id.to_owned(), case.to_owned());
                None
            }
        }
    }
}

/// Collects the findings of one case.
#[derive(Debug, Default)]
pub struct Judge {
    /// The case being judged.
    pub case: String,
    /// The run's MessageIDs.
    pub seen: SeenIds,
    findings: Vec<RuleFinding>,
}

/// What the judge needs of the request: whether it was a well-formed envelope with a
/// MessageID, its action, and whether it asked for a fragment.
#[derive(Debug, Default)]
struct Asked {
    well_formed: bool,
    message_id: bool,
    action: Option<String>,
    fragment: bool,
}

fn asked(body: &[u8]) -> Asked {
    let Ok(text) = wsman::decode(body, None) else {
        return Asked::default();
    };
    // The whole envelope: a service that could not read all of it cannot be held to
    // relating its fault to the MessageID.
    match wsman::parse(&text, &wsman::Limits::default()) {
        Ok(env) => Asked {
            well_formed: true,
            message_id: env.header.message_id.is_some(),
            action: env.header.action.as_deref().map(str::to_owned),
            fragment: env.header.fragment_transfer.is_some(),
        },
        Err(_) => Asked::default(),
    }
}

impl Judge {
    /// A judge for `case`, sharing the run's MessageIDs.
    pub fn new(case: &str, seen: SeenIds) -> Judge {
        Judge {
            case: case.to_owned(),
            seen,
            findings: Vec::new(),
        }
    }

    fn found(&mut self, rule: Rule, message: String) {
        if let Some(f) = self.findings.iter_mut().find(|f| f.rule == rule.id) {
            f.count += 1;
            return;
        }
        let level = rule.level();
        self.findings.push(RuleFinding {
            rule: rule.id.into(),
            title: rule.title.into(),
            clause: rule.clause(),
            level,
            outcome: if level == Level::Must {
                Outcome::Fail
            } else {
                Outcome::Warn
            },
            message,
            count: 1,
            waiver: None,
        });
    }

    /// Judges one answer to the request whose body was `request`.
    pub fn judge(&mut self, request: &[u8], ex: &client::Exchange) {
        if let (Some(status), Some(text)) = (ex.status(), ex.body_text()) {
            self.judge_text(request, status, &text);
        }
    }

    /// Judges an answer given as its HTTP status and body text.
    pub fn judge_text(&mut self, request: &[u8], status: u16, text: &str) {
        let Ok(env) = wsman::parse(text, &wsman::Limits::default()) else {
            return;
        };
        let asked = asked(request);
        if let wsman::Body::Fault(f) = &env.body {
            let code = f.code.local_name();
            let sub = f
                .subcode
                .as_ref()
                .map(|s| format!(" ({})", s.local))
                .unwrap_or_default();
            if (200..300).contains(&status) {
                self.found(
                    FAULT_NOT_2XX,
                    format!("a {code}{sub} fault came with HTTP {status}"),
                );
            } else {
                let want = if code == "Sender" { 4 } else { 5 };
                if status / 100 != want {
                    self.found(
                        FAULT_STATUS_CLASS,
                        format!("a {code}{sub} fault came with HTTP {status}, expected {want}xx"),
                    );
                }
            }
        }
        // The answer to a well-formed request with a MessageID must relate to it.
        if asked.well_formed && asked.message_id {
            let problems: Vec<String> = wsman::validate::check_response(&env)
                .into_iter()
                .filter_map(|f| match f {
                    wsman::validate::Finding::Error(kind, _) => Some(kind.to_string()),
                    wsman::validate::Finding::Warning(..) => None,
                })
                .collect();
            if !problems.is_empty() {
                self.found(RESPONSE_HEADERS, problems.join("; "));
            }
        }
        if let Some(id) = env.header.message_id.as_deref() {
            if let Some(first) = self.seen.first_seen(id, &self.case) {
                let case = self.case.clone();
                self.found(
                    MESSAGE_ID_UNIQUE,
                    if first == case {
                        format!("the MessageID {id} came twice in this case")
                    } else {
                        format!("the MessageID {id} came before, in {first}")
                    },
                );
            }
        }
        let is_transfer = matches!(
            asked.action.as_deref(),
            Some(wsman::ns::action::GET | wsman::ns::action::PUT)
        );
        if is_transfer
            && !asked.fragment
            && status == 200
            && !matches!(env.body, wsman::Body::Fault(_))
        {
            self.transfer_body(text);
        }
    }

    /// The Body of a successful Get/Put holds exactly one element, not in one of the
    /// protocol namespaces (a wrapper such as `wxf:GetResponse` or `wsman:Items`).
    fn transfer_body(&mut self, text: &str) {
        let Ok(doc) = roxmltree::Document::parse(text) else {
            return;
        };
        let Some(body) = doc
            .root_element()
            .children()
            .find(|n| n.is_element() && n.tag_name().name() == "Body")
        else {
            return;
        };
        let children: Vec<_> = body.children().filter(|n| n.is_element()).collect();
        let protocol = [
            wsman::ns::SOAP,
            wsman::ns::WSA,
            wsman::ns::WSMAN,
            wsman::ns::WXF,
            wsman::ns::WSEN,
        ];
        let problem = match children.as_slice() {
            // An empty body is a Put that returns nothing, which WS-Transfer allows.
            [] => None,
            [one] if protocol.contains(&one.tag_name().namespace().unwrap_or_default()) => {
                Some(format!(
                    "the body is a {} element around the representation",
                    one.tag_name().name()
                ))
            }
            [_] => None,
            more => Some(format!("the body holds {} elements", more.len())),
        };
        if let Some(p) = problem {
            self.found(TRANSFER_BODY, p);
        }
    }

    /// The findings, waivers applied.
    pub fn finish(self, waivers: &Waivers) -> Vec<RuleFinding> {
        let case = self.case;
        self.findings
            .into_iter()
            .map(|mut f| {
                f.apply_waiver(&case, waivers);
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule whose identifier was read against the specification's wording carries no
    /// "not yet read" flag in the clause reports show; one that was not read carries
    /// it. Both kinds exist, and every clause names the rule's spec, identifier and
    /// keyword.
    #[test]
    fn clauses_flag_exactly_the_rules_not_read_against_the_wording() {
        assert!(ALL.iter().any(|r| r.verified) && ALL.iter().any(|r| !r.verified));
        for r in ALL {
            let c = r.clause();
            assert_eq!(c.verified.is_none(), r.verified, "{}: {c:?}", r.id);
            assert_eq!(c.verified, (!r.verified).then_some(false), "{}", r.id);
            assert_eq!(c.id.as_deref(), Some(r.req));
            assert_eq!(c.keyword.as_deref(), Some(r.keyword));
            assert_eq!(c.spec, r.spec);
        }
    }

    const ANON: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

    /// A Get request (optionally a fragment Get, optionally without a MessageID).
    fn get(mid: Option<&str>, fragment: bool) -> Vec<u8> {
        let mut r = client::build::Request::new("http://h/wsman", "urn:x/Thing");
        if let Some(m) = mid {
            r = r.message_id(m);
        }
        if fragment {
            r = r.fragment("Name");
        }
        let mut env = r.get();
        if mid.is_none() {
            env.header.message_id = None;
        }
        env.to_xml().into_bytes()
    }

    /// An answer with these headers and body.
    fn answer(action: &str, relates: Option<&str>, mid: &str, body: &str) -> String {
        format!(
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
             xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\">\
             <s:Header><a:To>{ANON}</a:To><a:Action>{action}</a:Action>\
             <a:MessageID>{mid}</a:MessageID>{}</s:Header><s:Body>{body}</s:Body></s:Envelope>",
            relates.map_or(String::new(), |r| format!("<a:RelatesTo>{r}</a:RelatesTo>"))
        )
    }

    fn fault(code: &str, sub: &str, relates: &str, mid: &str) -> String {
        answer(
            "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault",
            Some(relates),
            mid,
            &format!(
                "<s:Fault><s:Code><s:Value>s:{code}</s:Value><s:Subcode><s:Value \
                 xmlns:w=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\">w:{sub}</s:Value>\
                 </s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en\">no</s:Text></s:Reason></s:Fault>"
            ),
        )
    }

    fn thing() -> &'static str {
        "<p:Thing xmlns:p=\"urn:x/Thing\"><p:Name>a</p:Name></p:Thing>"
    }

    fn rules_of(j: Judge) -> Vec<(String, Outcome, usize)> {
        j.finish(&Waivers::default())
            .into_iter()
            .map(|f| (f.rule, f.outcome, f.count))
            .collect()
    }

    #[test]
    fn fault_statuses_follow_the_soap_binding() {
        let req = get(Some("uuid:1"), false);
        let seen = SeenIds::default();
        let mut j = Judge::new("c", seen.clone());
        j.judge_text(
            &req,
            400,
            &fault("Sender", "DestinationUnreachable", "uuid:1", "uuid:a"),
        );
        j.judge_text(
            &req,
            500,
            &fault("Receiver", "EndpointUnavailable", "uuid:1", "uuid:b"),
        );
        assert!(
            rules_of(j).is_empty(),
            "a Sender 400 and a Receiver 500 are right"
        );

        let mut j = Judge::new("c", seen.clone());
        j.judge_text(
            &req,
            200,
            &fault("Sender", "DestinationUnreachable", "uuid:1", "uuid:c"),
        );
        assert_eq!(
            rules_of(j),
            [(FAULT_NOT_2XX.id.to_owned(), Outcome::Fail, 1)]
        );

        let mut j = Judge::new("c", seen.clone());
        j.judge_text(
            &req,
            503,
            &fault("Sender", "DestinationUnreachable", "uuid:1", "uuid:d"),
        );
        j.judge_text(
            &req,
            400,
            &fault("Receiver", "EndpointUnavailable", "uuid:1", "uuid:e"),
        );
        j.judge_text(&req, 401, &fault("MustUnderstand", "X", "uuid:1", "uuid:f"));
        assert_eq!(
            rules_of(j),
            [(FAULT_STATUS_CLASS.id.to_owned(), Outcome::Warn, 3)],
            "a Sender 5xx, a Receiver 4xx and a MustUnderstand 4xx, counted in one finding"
        );
    }

    #[test]
    fn responses_relate_to_requests_that_could_be_read() {
        let body = thing();
        let mut j = Judge::new("c", SeenIds::default());
        j.judge_text(
            &get(Some("uuid:1"), false),
            200,
            &answer(wsman::ns::action::GET_RESPONSE, None, "uuid:a", body),
        );
        let found = j.finish(&Waivers::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, RESPONSE_HEADERS.id);
        assert!(found[0].message.contains("RelatesTo"), "{found:?}");
        // No MessageID to relate to, or a request the service could not read: nothing.
        let mut j = Judge::new("c", SeenIds::default());
        j.judge_text(
            &get(None, false),
            200,
            &answer(wsman::ns::action::GET_RESPONSE, None, "uuid:b", body),
        );
        j.judge_text(
            b"<s:Envelope><unclosed>",
            400,
            &answer(wsman::ns::action::GET_RESPONSE, None, "uuid:c", body),
        );
        assert!(rules_of(j).is_empty());
    }

    #[test]
    fn message_ids_are_never_reused_across_the_run() {
        let seen = SeenIds::default();
        let req = get(Some("uuid:1"), false);
        let ok = |mid: &str| {
            answer(
                wsman::ns::action::GET_RESPONSE,
                Some("uuid:1"),
                mid,
                thing(),
            )
        };
        let mut first = Judge::new("case.one", seen.clone());
        first.judge_text(&req, 200, &ok("uuid:same"));
        first.judge_text(&req, 200, &ok("uuid:other"));
        assert!(rules_of(first).is_empty());
        let mut second = Judge::new("case.two", seen.clone());
        second.judge_text(&req, 200, &ok("uuid:same"));
        second.judge_text(&req, 200, &ok("uuid:fresh"));
        second.judge_text(&req, 200, &ok("uuid:fresh"));
        let found = second.finish(&Waivers::default());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, MESSAGE_ID_UNIQUE.id);
        assert_eq!(found[0].outcome, Outcome::Fail);
        assert_eq!(found[0].count, 2);
        assert!(
            found[0].message.contains("in case.one"),
            "{}",
            found[0].message
        );
        let mut third = Judge::new("case.three", seen);
        third.judge_text(&req, 200, &ok("uuid:again"));
        third.judge_text(&req, 200, &ok("uuid:again"));
        let found = third.finish(&Waivers::default());
        assert!(found[0].message.contains("twice in this case"), "{found:?}");
    }

    #[test]
    fn a_get_body_is_the_representation_itself() {
        let req = get(Some("uuid:1"), false);
        let get_answer = |body: &str, mid: &str| {
            answer(wsman::ns::action::GET_RESPONSE, Some("uuid:1"), mid, body)
        };
        let mut j = Judge::new("c", SeenIds::default());
        j.judge_text(&req, 200, &get_answer(thing(), "uuid:a"));
        j.judge_text(&req, 200, &get_answer("", "uuid:b"));
        // A fragment Get answers wsman:XmlFragment, which is right.
        j.judge_text(
            &get(Some("uuid:1"), true),
            200,
            &get_answer(
                "<w:XmlFragment xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><Name>a</Name></w:XmlFragment>",
                "uuid:c",
            ),
        );
        assert!(rules_of(j).is_empty());
        let mut j = Judge::new("c", SeenIds::default());
        j.judge_text(
            &req,
            200,
            &get_answer(
                &format!(
                    "<t:GetResponse xmlns:t=\"http://schemas.xmlsoap.org/ws/2004/09/transfer\">{}</t:GetResponse>",
                    thing()
                ),
                "uuid:d",
            ),
        );
        j.judge_text(
            &req,
            200,
            &get_answer(&format!("{0}{0}", thing()), "uuid:e"),
        );
        let found = j.finish(&Waivers::default());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, TRANSFER_BODY.id);
        assert_eq!(found[0].count, 2);
        assert!(
            found[0].message.contains("GetResponse element"),
            "{found:?}"
        );
    }

    #[test]
    fn findings_are_waived_by_rule_or_by_case_and_rule() {
        let req = get(Some("uuid:1"), false);
        let judge = |case: &str| {
            let mut j = Judge::new(case, SeenIds::default());
            j.judge_text(&req, 200, &fault("Sender", "X", "uuid:1", "uuid:z"));
            j
        };
        let none = judge("a.b").finish(&Waivers::default());
        assert!(none[0].is_required_failure());
        let by_rule =
            Waivers::parse(&format!("\"{}\" = \"known\"", FAULT_NOT_2XX.id), "w").unwrap();
        let f = judge("a.b").finish(&by_rule);
        assert_eq!(
            f[0].waiver.as_ref().map(|w| w.reason.as_str()),
            Some("known")
        );
        assert!(!f[0].is_required_failure());
        let scoped = Waivers::parse(
            &format!("\"a.*#{}\" = \"this case\"", FAULT_NOT_2XX.id),
            "w",
        )
        .unwrap();
        assert!(judge("a.b").finish(&scoped)[0].waiver.is_some());
        assert!(judge("x.y").finish(&scoped)[0].waiver.is_none());
    }

    #[test]
    fn rule_levels_and_clauses_come_from_their_keywords() {
        assert_eq!(FAULT_NOT_2XX.level(), Level::Must);
        assert_eq!(FAULT_STATUS_CLASS.level(), Level::Should);
        let c = MESSAGE_ID_UNIQUE.clause();
        assert_eq!(c.id.as_deref(), Some("R5.4.4-2"));
        assert_eq!(c.keyword.as_deref(), Some("shall"));
        assert_eq!(c.spec, "DSP0226 1.1");
    }
}
