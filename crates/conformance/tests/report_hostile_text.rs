//! Reports stay valid and small whatever a target sends (issue 13, items 2 and 4):
//! arbitrary text in messages and transcripts yields JUnit that an independent XML
//! parser (roxmltree) reads, with the text intact where XML allows it and visibly
//! escaped where it does not; a 50 MB answer yields reports well under 1 MB that say
//! what was cut.

use conformance::report::text::{is_forbidden, replaced_note};
use conformance::report::{WireLeg, html, json, junit, transcript_text};
use conformance::{CaseResult, Clause, Level, Outcome, Report};
use proptest::prelude::*;

fn case(message: &str, request: &str, response: &str) -> CaseResult {
    CaseResult {
        id: "wsman.robustness.after-binary-garbage".into(),
        name: "wsman::robustness::after_binary_garbage".into(),
        title: "answers after binary garbage".into(),
        clause: Clause {
            spec: "DSP0226 1.3".into(),
            section: "5 Robustness".into(),
            requirement: "keeps answering".into(),
            id: None,
            keyword: None,
            verified: None,
        },
        level: Level::Must,
        profiles: vec!["core".into()],
        outcome: Outcome::Fail,
        message: Some(message.into()),
        expected: Some("an answer".into()),
        got: Some(message.into()),
        duration_us: 10,
        transcript: vec![WireLeg {
            request: request.into(),
            response: Some(response.into()),
            status: Some(200),
            error: None,
        }],
        waiver: None,
        rerun: "touchstone check --filter wsman.robustness.after-binary-garbage".into(),
        findings: Vec::new(),
        changes: Vec::new(),
    }
}

fn report(results: Vec<CaseResult>) -> Report {
    Report {
        tool: "touchstone test".into(),
        target: "http://127.0.0.1:5985/wsman".into(),
        product: None,
        discovery: Vec::new(),
        seed: 1,
        jobs: 1,
        duration_us: 10,
        results,
        target_lost: None,
    }
}

fn escaped(c: char) -> String {
    format!("\\u{{{:X}}}", c as u32)
}

/// What the HTML shows of `s` (before HTML escaping).
fn html_view(s: &str) -> String {
    s.chars()
        .map(|c| {
            if is_forbidden(c) {
                escaped(c)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// What JUnit text content shows of `s`: CRLF read as LF, tab and lone CR escaped
/// (quick-junit would drop them), forbidden characters escaped.
fn junit_view(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .map(|c| {
            if is_forbidden(c) || c == '\t' || c == '\r' {
                escaped(c)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Like [`junit_view`], as an XML parser reads an attribute value: a line feed is
/// normalized to a space (XML 1.0 section 3.3.3).
fn junit_attribute_view(s: &str) -> String {
    junit_view(s).replace('\n', " ")
}

fn replaced_count(s: &str) -> usize {
    s.replace("\r\n", "\n")
        .chars()
        .filter(|&c| is_forbidden(c) || c == '\t' || c == '\r')
        .count()
}

/// Characters weighted toward the troublesome ones.
fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        2 => prop::sample::select(vec![
            '\u{0}', '\u{1}', '\u{8}', '\t', '\n', '\u{B}', '\u{C}', '\r', '\u{1B}', '\u{1F}',
            '\u{7F}', '\u{85}', '\u{9F}', '\u{FDD0}', '\u{FFFD}', '\u{FFFE}', '\u{FFFF}',
            '\u{1FFFF}', '\u{10FFFF}', '<', '>', '&', '"', '\'', ']', '[', '\\', 'a', ' ',
        ]),
    ]
}

fn hostile_string() -> impl Strategy<Value = String> {
    prop::collection::vec(hostile_char(), 0..200).prop_map(|v| v.into_iter().collect())
}

fn allowed_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        any::<char>().prop_filter("allowed in XML 1.0 text", |c| !is_forbidden(*c)),
        0..200,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn check(message: &str, request: &str, response: &str) -> Result<(), TestCaseError> {
    let r = report(vec![case(message, request, response)]);

    // JUnit: well-formed for an independent parser, nothing forbidden, text intact.
    let xml = junit::to_string(&r);
    prop_assert!(
        !xml.chars().any(is_forbidden),
        "a forbidden character got through"
    );
    let doc = match roxmltree::Document::parse(&xml) {
        Ok(doc) => doc,
        Err(e) => return Err(TestCaseError::fail(format!("JUnit is not XML: {e}\n{xml}"))),
    };
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure");
    let attribute = junit_attribute_view(message);
    prop_assert_eq!(failure.attribute("message"), Some(attribute.as_str()));
    let out: String = doc
        .descendants()
        .find(|n| n.has_tag_name("system-out"))
        .and_then(|n| n.text())
        .unwrap_or_default()
        .to_owned();
    // A CR just before the line feed that follows a field reads as CRLF.
    prop_assert!(
        out.contains(&junit_view(&format!("{request}\n"))),
        "request lost: {out:?}"
    );
    prop_assert!(
        out.contains(&junit_view(&format!("{response}\n"))),
        "response lost: {out:?}"
    );
    let got = format!("got: {message}\n");
    let description = failure.text().unwrap_or_default();
    prop_assert!(description.contains(&junit_view(&got)));
    // The count covers the message (attribute and `got`), request and response.
    let legs = &r.results[0].transcript;
    let n = replaced_count(message) + replaced_count(&got) + replaced_count(&transcript_text(legs));
    let noted = doc
        .descendants()
        .filter(|n| {
            n.has_tag_name("property")
                && n.attribute("name") == Some("touchstone.replaced_characters")
        })
        .map(|n| n.attribute("value").unwrap_or_default().to_owned())
        .collect::<Vec<_>>();
    if n == 0 {
        prop_assert!(noted.is_empty(), "{noted:?}");
    } else {
        // Once on the case, once on its suite.
        prop_assert_eq!(noted, vec![replaced_note(n), replaced_note(n)]);
    }

    // HTML: nothing forbidden, text intact (escaped for HTML), the count said.
    let page = html::to_string(&r);
    prop_assert!(!page.chars().any(is_forbidden));
    for s in [message, request, response] {
        let shown = html::escape(&html_view(s));
        prop_assert!(page.contains(&shown), "lost in HTML: {shown:?}");
    }
    let forbidden: usize = [message, request, response]
        .iter()
        .map(|s| s.chars().filter(|&c| is_forbidden(c)).count())
        .sum();
    if forbidden == 0 {
        prop_assert!(!page.contains("id=\"replaced\""));
    } else {
        prop_assert!(page.contains("id=\"replaced\""));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hostile_text_makes_valid_reports(
        message in hostile_string(),
        request in hostile_string(),
        response in hostile_string(),
    ) {
        check(&message, &request, &response)?;
    }

    /// Text of characters XML allows comes back exactly (save for what XML parsing
    /// itself normalizes and the JUnit writer's tab and CR, see [`junit_view`]).
    #[test]
    fn allowed_text_round_trips(
        message in allowed_string(),
        request in allowed_string(),
        response in allowed_string(),
    ) {
        check(&message, &request, &response)?;
        let plain = |s: &str| s.chars().all(|c| c != '\t' && c != '\r');
        if plain(&message) && plain(&request) && plain(&response) {
            prop_assert_eq!(junit_view(&response), response.clone());
            prop_assert_eq!(html_view(&response), response);
        }
    }
}

#[test]
fn the_escape_of_the_issue_case_is_visible() {
    let r = report(vec![case(
        "garbage \u{FFFF} answered",
        "POST /wsman HTTP/1.1\n\n\u{0}\u{FFFE}",
        "HTTP/1.1 400 Bad Request\n\n\u{FFFF}",
    )]);
    let xml = junit::to_string(&r);
    roxmltree::Document::parse(&xml).expect("JUnit parses");
    assert!(xml.contains("garbage \\u{FFFF} answered"));
    assert!(xml.contains("\\u{0}\\u{FFFE}"));
    assert!(xml.contains(&replaced_note(5)), "{xml}");
    let page = html::to_string(&r);
    assert!(page.contains("HTTP/1.1 400 Bad Request\n\n\\u{FFFF}"));
    assert!(page.contains(&html::escape(&replaced_note(4))), "{page}");
}

#[test]
fn a_50_mb_answer_makes_small_reports_that_say_what_was_cut() {
    let body_len = 50 * 1024 * 1024;
    let mut response = String::with_capacity(body_len + 64);
    response.push_str("HTTP/1.1 200 OK\n\nHEAD-MARKER");
    while response.len() < body_len {
        response.push_str("0123456789abcdef");
    }
    response.push_str("TAIL-MARKER");
    let total = response.len();
    let cut = format!("[... {} bytes cut ...]", total - 2 * 16 * 1024);
    let mut big = case("no answer after garbage", "POST /wsman HTTP/1.1\n\n", "");
    big.transcript[0].response = Some(response);
    // Twenty more 1 MiB answers: the case's budget holds.
    let mib = 1024 * 1024;
    big.transcript.extend((0..20).map(|_| WireLeg {
        request: "POST /wsman HTTP/1.1\n\n".into(),
        response: Some("x".repeat(mib)),
        status: Some(200),
        error: None,
    }));
    let r = report(vec![big]);

    let xml = junit::to_string(&r);
    let page = html::to_string(&r);
    let js = json::to_string(&r);
    for (what, text) in [("JUnit", &xml), ("HTML", &page), ("JSON", &js)] {
        assert!(text.len() < 1024 * 1024, "{what}: {} bytes", text.len());
        assert!(text.contains(&cut), "{what} does not say what was cut");
        assert!(
            text.contains("HEAD-MARKER") && text.contains("TAIL-MARKER"),
            "{what}"
        );
        assert!(
            text.contains(&format!(
                "all {mib} bytes cut: the transcript passed its bound"
            )),
            "{what} does not say which legs were cut whole"
        );
    }
    roxmltree::Document::parse(&xml).expect("JUnit parses");
    let back = json::from_str(&js).expect("JSON reads back");
    assert_eq!(back.results[0].transcript.len(), 21, "every leg is listed");
}
