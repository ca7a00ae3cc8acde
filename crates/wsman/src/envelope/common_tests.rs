//! The common-request path ([`super::parse_common`]) against the general one: whenever
//! it answers, its envelope is the general path's, and it does answer for the requests
//! real clients send most.

use proptest::prelude::*;

use super::{parse_common, parse_general};
use crate::Limits;

fn documents() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/documents");
    let mut out = Vec::new();
    for sub in ["requests", "responses"] {
        let mut paths: Vec<_> = std::fs::read_dir(dir.join(sub))
            .expect("the corpus directory")
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        paths.sort();
        for p in paths {
            let bytes = std::fs::read(&p).expect("a corpus file");
            // Only documents that are text as they stand (the UTF-16 ones go through
            // `decode` first, and so reach the parser as the same text).
            if let Ok(text) = String::from_utf8(bytes) {
                out.push((p.display().to_string(), text));
            }
        }
    }
    out
}

/// The two paths agree: the common one answers only with the general one's envelope.
fn agree(text: &str, limits: &Limits) -> bool {
    match parse_common(text, limits) {
        None => false,
        Some(common) => {
            let general = parse_general(text, limits);
            assert_eq!(
                general.as_ref().ok(),
                Some(&common),
                "the common path answered for\n{text}\nwhere the general one says {general:?}"
            );
            true
        }
    }
}

#[test]
fn the_common_path_answers_as_the_general_one_on_the_corpus() {
    let limits = Limits::default();
    let mut taken = Vec::new();
    for (path, text) in documents() {
        if agree(&text, &limits) {
            taken.push(path);
        }
    }
    // The requests the throughput bench sends, and real clients' plain ones, take it.
    for name in [
        "requests/bench-get-request.xml",
        "requests/openwsman-identify.xml",
        "requests/openwsman-enumerate.xml",
        "requests/openwsman-pull.xml",
        "requests/openwsman-release.xml",
    ] {
        assert!(
            taken.iter().any(|p| p.ends_with(name)),
            "{name} did not take the common path (taken: {taken:#?})"
        );
    }
}

#[test]
fn every_corpus_request_under_tight_limits_agrees() {
    for (_, text) in documents() {
        for max_elements in [1, 3, 6, 9, 12, 20] {
            for max_depth in [1, 2, 3, 4] {
                for max_attributes in [0, 1, 4] {
                    let limits = Limits {
                        max_elements,
                        max_depth,
                        max_attributes,
                        ..Limits::default()
                    };
                    agree(&text, &limits);
                }
            }
        }
    }
}

/// Mostly one of `good`, sometimes one of `bad`: each piece of a generated envelope
/// leaves the common shape now and then, so that most envelopes stay near it.
fn mostly(good: &[&'static str], bad: &[&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        6 => prop::sample::select(good.to_vec()),
        1 => prop::sample::select(bad.to_vec()),
    ]
    .prop_map(str::to_owned)
    .boxed()
}

/// Pieces of an envelope, each either of the common shape or a way out of it.
fn header_piece() -> impl Strategy<Value = String> {
    let mu = mostly(
        &[
            "",
            " s:mustUnderstand=\"true\"",
            " s:mustUnderstand=\"false\"",
            " s:mustUnderstand=\" 1 \"",
        ],
        &[
            " s:mustUnderstand=\"yes\"",
            " s:mustUnderstand=\"true\" s:mustUnderstand=\"false\"",
            " mustUnderstand=\"true\"",
            " x:mustUnderstand=\"true\"",
            " a:other=\"1\"",
            " xmlns:q=\"urn:q\"",
            " s:mustUnderstand=\"tr&#117;e\"",
            " s:mustUnderstand=\"a<b\"",
            " s:mustUnderstand = \"true\"",
            " s:mustUnderstand=\"true\" ",
            " s:mustUnderstand='1'",
            " ",
        ],
    );
    let text = mostly(
        &[
            "http://127.0.0.1/wsman",
            "  uuid:1-2-3  ",
            "512000",
            " 153600 ",
            "PT60S",
            "P1Y2M3DT4H5M6.5S",
        ],
        &[
            "",
            "   ",
            "a &amp; b",
            "x<!-- c -->y",
            "<![CDATA[z]]>",
            "<a:Inner>t</a:Inner>",
            "-5",
            "-PT1S",
            "PTS",
        ],
    );
    // The end tag is the start's, now and then another's.
    let simple = (
        prop::sample::select(vec![
            "a:To",
            "a:Action",
            "a:MessageID",
            "a:RelatesTo",
            "w:ResourceURI",
            "w:MaxEnvelopeSize",
            "w:OperationTimeout",
            "w:Locale",
            "a:FaultTo",
            "w:Unknown",
            "u:Thing",
        ]),
        mu.clone(),
        text.clone(),
        mostly(&[""], &["a:Action", "w:To"]),
    )
        .prop_map(|(name, mu, text, end)| {
            let end = if end.is_empty() { name } else { &end };
            format!("<{name}{mu}>{text}</{end}>")
        });
    let address = prop_oneof![
        Just("<a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>".to_owned()),
        Just("<a:Address s:mustUnderstand=\"true\"> http://x/ </a:Address>".to_owned()),
        Just("<a:Address></a:Address>".to_owned()),
        Just("<a:Address/>".to_owned()),
        Just("<a:Address>a</a:Address><a:ReferenceParameters><w:ResourceURI>r</w:ResourceURI></a:ReferenceParameters>".to_owned()),
        Just("<a:Address>a</a:Address><a:Other/>".to_owned()),
        Just("<a:Other>o</a:Other>".to_owned()),
        Just(String::new()),
        Just("<a:Address>x</a:To>".to_owned()),
        Just("<a:Address>x</a:Address>text".to_owned()),
    ];
    let reply_end = mostly(&["a:ReplyTo"], &["a:FaultTo"]);
    let reply_to = (mu.clone(), address, reply_end)
        .prop_map(|(mu, a, end)| format!("<a:ReplyTo{mu}>{a}</{end}>"));
    let selector = prop_oneof![
        Just("<w:Selector Name=\"Name\">touchstone-sim</w:Selector>".to_owned()),
        Just("<w:Selector Name=\"CreationClassName\"> CIM_ComputerSystem </w:Selector>".to_owned()),
        Just("<w:Selector Name=\"N\">a &amp; b</w:Selector>".to_owned()),
        Just("<w:Selector Name=\"N\"></w:Selector>".to_owned()),
        Just("<w:Selector Name=\"N\">  </w:Selector>".to_owned()),
        Just("<w:Selector>noname</w:Selector>".to_owned()),
        Just("<w:Selector Name=\"N\" Other=\"o\">v</w:Selector>".to_owned()),
        Just("<w:Selector Name=\"N\"><a:EndpointReference><a:Address>x</a:Address></a:EndpointReference></w:Selector>".to_owned()),
        Just("<w:Other>o</w:Other>".to_owned()),
        Just("<w:Selector Name=\"a&amp;b\">v</w:Selector>".to_owned()),
        Just("<w:Selector Name = \"N\">v</w:Selector>".to_owned()),
        Just("<w:Selector Name=\"N\">v</w:Option>".to_owned()),
        Just("text".to_owned()),
    ];
    let set_end = mostly(&["w:SelectorSet"], &["w:OptionSet"]);
    let selector_set = (mu.clone(), prop::collection::vec(selector, 0..3), set_end)
        .prop_map(|(mu, s, end)| format!("<w:SelectorSet{mu}>{}</{end}>", s.concat()));
    prop_oneof![
        12 => simple,
        1 => reply_to,
        1 => selector_set,
        1 => Just("<w:OptionSet><w:Option Name=\"o\">v</w:Option></w:OptionSet>".to_owned()),
        1 => Just("<!-- a comment -->".to_owned()),
    ]
    .boxed()
}

fn envelope() -> impl Strategy<Value = String> {
    let space = mostly(&["", " ", "\n  ", "\r\n\t"], &["\u{a0}", "x", " x "]);
    let decl = mostly(
        &[
            "",
            "<?xml version=\"1.0\"?>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
        ],
        &[
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>",
            "<?xml version=\"1.0\" encoding=\"utf-16\"?>",
            " <?xml version=\"1.0\"?>",
            "x",
            "<!-- c -->",
        ],
    );
    let declarations = mostly(
        &[
            " xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" xmlns:u=\"urn:unknown\"",
            " xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"",
        ],
        &[
            " xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" xmlns:a=\"urn:again\"",
            " xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" xmlns=\"urn:default\"",
            " xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"",
            " xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:w=\"\"",
            " xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" s:encodingStyle=\"x\"",
            " xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" xmlns:1u=\"urn:digit\"",
            " xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" xmlns:xmlu=\"urn:reserved\"",
            " xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" xmlns:u=\"urn:a&amp;b\"",
            " xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" xmlns:a:b=\"urn:colon\"",
        ],
    );
    let body = mostly(
        &[
            "<s:Body/>",
            "<s:Body></s:Body>",
            "<s:Body> </s:Body>",
            "<s:Body><w:Identify xmlns:w=\"http://schemas.dmtf.org/wbem/wsmanidentity/1/wsmanidentity.xsd\"/></s:Body>",
            "<s:Body><n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>20</w:MaxElements></n:Enumerate></s:Body>",
            "<s:Body><n:Enumerate><w:MaxElements>x</w:MaxElements></n:Enumerate></s:Body>",
            "<s:Body><n:Pull><n:EnumerationContext>uuid:1</n:EnumerationContext></n:Pull></s:Body>",
            "<s:Body>\n <n:Enumerate> <w:OptimizeEnumeration></w:OptimizeEnumeration>\n<w:MaxElements> 7 </w:MaxElements> </n:Enumerate>\n</s:Body>",
            "<s:Body><n:Enumerate/></s:Body>",
            "<s:Body><n:Pull> <n:EnumerationContext> u </n:EnumerationContext><n:MaxElements>2</n:MaxElements></n:Pull></s:Body>",
            "<s:Body><n:Enumerate>x<w:MaxElements>1</w:MaxElements><w:MaxElements>+2</w:MaxElements></n:Enumerate></s:Body>",
        ],
        &[
            "<s:Body><u:Any a=\"1\">t</u:Any><u:Second/></s:Body>",
            "<s:Body>text</s:Body>",
            "<s:Body x=\"1\"></s:Body>",
            "<s:Body><u:Open></s:Body>",
            "<s:Body><n:Enumerate><w:MaxElements>-1</w:MaxElements></n:Enumerate></s:Body>",
            "<s:Body><n:Pull><n:EnumerationContext>u</n:EnumerationContext><n:MaxElements>0</n:MaxElements></n:Pull></s:Body>",
            "<s:Body><n:Pull><n:MaxElements>2</n:MaxElements></n:Pull></s:Body>",
            "<s:Body><n:Enumerate><w:MaxElements/></n:Enumerate></s:Body>",
            "<s:Body><n:Enumerate><w:OptimizeEnumeration/><u:Other/></n:Enumerate></s:Body>",
            "<s:Body><n:Enumerate></n:Enumerate><n:Enumerate/></s:Body>",
            "<s:Body><n:Enumerate><w:OptimizeEnumeration></n:Enumerate></s:Body>",
        ],
    );
    let after = mostly(&["", "\n", "<!-- c -->"], &["<s:Body/>", "x", "<s:Extra/>"]);
    let header = prop_oneof![
        8 => (prop::collection::vec(header_piece(), 0..7), space.clone()).prop_map(|(h, sp)| {
            format!("<s:Header>{sp}{}{sp}</s:Header>", h.join(&sp))
        }),
        1 => Just("<s:Header/>".to_owned()),
        1 => Just(String::new()),
        1 => Just("<s:Header x=\"1\"></s:Header>".to_owned()),
        1 => Just("<s:Header></s:Header><s:Header/>".to_owned()),
        1 => Just("<s:Header><a:To>t</a:To></s:Body>".to_owned()),
        1 => Just("<s:Header/><a:To>t</a:To>".to_owned()),
    ];
    (
        decl,
        declarations,
        space.clone(),
        header,
        space,
        body,
        after,
    )
        .prop_map(|(decl, decls, sp1, header, sp2, body, after)| {
            format!("{decl}<s:Envelope{decls}>{sp1}{header}{sp2}{body}</s:Envelope>{after}")
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_common_path_answers_as_the_general_one(text in envelope(), tight in any::<bool>()) {
        let limits = if tight {
            Limits { max_elements: 12, max_depth: 4, max_attributes: 5, ..Limits::default() }
        } else {
            Limits::default()
        };
        agree(&text, &limits);
    }
}

/// The generator reaches both paths, so the property above tests something.
#[test]
fn generated_envelopes_take_both_paths() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut common, mut general) = (0, 0);
    for _ in 0..500 {
        let text = envelope().new_tree(&mut runner).expect("a value").current();
        if agree(&text, &Limits::default()) {
            common += 1;
        } else {
            general += 1;
        }
    }
    assert!(
        common >= 25 && general >= 25,
        "common {common}, general {general}"
    );
}

/// A request made only of the headers the common path knows, in each of the forms it
/// reads, parses with no header handed to the general reader, and as the general path
/// reads it. (Handing a header over gives the same envelope, so only this count tells
/// that the common path does its own part.)
#[test]
fn the_common_headers_are_read_by_the_common_path_itself() {
    let request = |header: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <s:Envelope xmlns:s=\"{}\" xmlns:a=\"{}\" xmlns:w=\"{}\">\
             {header}<s:Body/></s:Envelope>",
            crate::ns::SOAP,
            crate::ns::WSA,
            crate::ns::WSMAN
        )
    };
    let full = request(
        "<s:Header>\n\
         <a:To s:mustUnderstand=\"true\">http://127.0.0.1/wsman</a:To>\n\
         <w:ResourceURI s:mustUnderstand='1'> http://r/CIM_ComputerSystem </w:ResourceURI>\n\
         <a:ReplyTo><a:Address s:mustUnderstand=\"true\">http://x/anonymous</a:Address></a:ReplyTo>\n\
         <a:Action s:mustUnderstand=\"true\" >http://a/Get</a:Action>\n\
         <w:MaxEnvelopeSize s:mustUnderstand=\"true\">512000</w:MaxEnvelopeSize>\n\
         <a:MessageID>uuid:1</a:MessageID>\n\
         <a:RelatesTo></a:RelatesTo>\n\
         <w:OperationTimeout>PT60S</w:OperationTimeout>\n\
         <w:SelectorSet>text<w:Selector Name=\"Name\">sim</w:Selector>\
         <w:Selector Name='CreationClassName'> CIM_ComputerSystem </w:Selector></w:SelectorSet>\n\
         </s:Header>",
    );
    let limits = Limits::default();
    for text in [full, request("<s:Header/>"), request("")] {
        crate::cursor::DELEGATED.with(|d| d.set(0));
        let common = parse_common(&text, &limits);
        let handed = crate::cursor::DELEGATED.with(|d| d.get());
        assert!(common.is_some(), "the common path declined\n{text}");
        assert_eq!(handed, 0, "headers handed to the general reader\n{text}");
        assert_eq!(common.as_ref(), parse_general(&text, &limits).ok().as_ref());
    }
    // And a header it does not know is handed over, once.
    let other = request("<s:Header><w:Locale xml:lang=\"en-US\"/><a:To>t</a:To></s:Header>");
    crate::cursor::DELEGATED.with(|d| d.set(0));
    assert!(agree(&other, &limits));
    assert_eq!(crate::cursor::DELEGATED.with(|d| d.get()), 1);
}

/// Envelopes near the common shape that the general path refuses or reads otherwise:
/// the common path declines each (or agrees).
#[test]
fn near_misses_are_left_to_the_general_path() {
    let envelope = |decls: &str, header: &str| {
        format!(
            "<s:Envelope xmlns:s=\"{}\" xmlns:a=\"{}\" xmlns:w=\"{}\"{decls}>\
             <s:Header>{header}</s:Header><s:Body/></s:Envelope>",
            crate::ns::SOAP,
            crate::ns::WSA,
            crate::ns::WSMAN
        )
    };
    let wsa = crate::ns::WSA;
    let cases = [
        envelope("", "<a:To></a:Action>"),
        envelope("", "<a:To>t</a:Action>"),
        envelope("", "<a:ReplyTo><a:Address>x</a:Address></a:To>"),
        envelope(
            "",
            "<w:SelectorSet><w:Selector Name=\"N\">v</w:Selector></a:To>",
        ),
        envelope(&format!(" xmlns:1u=\"{wsa}\""), "<1u:To>t</1u:To>"),
        envelope(&format!(" xmlns:u:v=\"{wsa}\""), "<u:v:To>t</u:v:To>"),
        envelope("", "<a:MessageID> </a:MessageID>"),
        envelope("", "<a:To>t</a:To><a:To>u</a:To>"),
    ];
    let limits = Limits::default();
    for text in &cases {
        if parse_general(text, &limits).is_err() {
            assert!(
                parse_common(text, &limits).is_none(),
                "the common path read what the general path refuses:\n{text}"
            );
        } else {
            agree(text, &limits);
        }
    }
}

/// The common path's lexer splits markup as quick-xml does: a `>` inside a quoted
/// attribute value does not end the tag (in either quote), an end tag may carry white
/// space after its name, and text may hold a `>`. Each of these the common path reads
/// itself, as the general path does; markup cut short, a reference, a comment or
/// CDATA in a header it declines, leaving the envelope to the general path.
#[test]
fn the_lexer_splits_markup_as_quick_xml_does() {
    let envelope = |header: &str| {
        format!(
            "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"{}\" xmlns:a=\"{}\" xmlns:w=\"{}\">\
             <s:Header>{header}</s:Header \n><s:Body><w:Thing a=\"x>y\">t</w:Thing></s:Body></s:Envelope>",
            crate::ns::SOAP,
            crate::ns::WSA,
            crate::ns::WSMAN
        )
    };
    let limits = Limits::default();
    let read = [
        "<a:To s:mustUnderstand=\"true\">http://x/a>b</a:To >",
        "<a:To s:mustUnderstand='t\">rue'>x</a:To\t>",
        "<w:SelectorSet><w:Selector Name=\"a>b\">v</w:Selector></w:SelectorSet>",
        "<w:SelectorSet><w:Selector Name='a\">b'>v</w:Selector ></w:SelectorSet >",
        "<a:ReplyTo><a:Address>x</a:Address\n></a:ReplyTo>",
        "<w:Locale xml:lang=\"en>US\" s:mustUnderstand=\"false\"/><a:To>t</a:To>",
        "<w:Unknown q=\"1>2\">t<w:Inner/></w:Unknown><a:Action>x</a:Action>",
    ];
    for header in read {
        let text = envelope(header);
        assert!(parse_general(&text, &limits).is_ok(), "{text}");
        assert!(agree(&text, &limits), "the common path declined\n{text}");
    }
    let declined = [
        "<a:To>a &amp; b</a:To>",
        "<a:To><!-- c -->t</a:To>",
        "<a:To><![CDATA[t]]></a:To>",
        "<a:To>t<?pi x?></a:To>",
        "<a:To s:mustUnderstand=\"true>t</a:To>",
    ];
    for header in declined {
        let text = envelope(header);
        assert!(parse_common(&text, &limits).is_none(), "{text}");
    }
    // Where quick-xml takes over (a header the general code reads, the body), text
    // starting with U+FEFF would be dropped as a byte order mark by a new reader: the
    // common path declines, and the general path keeps it (a header's text) or refuses
    // it (text in s:Body).
    let bom_header = envelope("<w:Unknown>\u{feff}x</w:Unknown>");
    assert!(parse_common(&bom_header, &limits).is_none());
    let other = parse_general(&bom_header, &limits).expect("a header's text");
    assert_eq!(other.header.other.len(), 1);
    let bom_body = envelope("").replace("<s:Body>", "<s:Body>\u{feff}");
    assert!(parse_common(&bom_body, &limits).is_none());
    assert!(parse_general(&bom_body, &limits).is_err());
    // Cut short anywhere, a request is the general path's to refuse.
    let whole = envelope(read[0]);
    for end in 0..whole.len() {
        let text = &whole[..end];
        assert!(parse_common(text, &limits).is_none(), "{text}");
    }
}

/// The common path's envelope for `text`, and how many bodies it read itself.
fn common_counting_bodies<'a>(
    text: &'a str,
    limits: &Limits,
) -> (Option<crate::Envelope<'a>>, usize) {
    crate::cursor::BODIES.with(|b| b.set(0));
    let common = parse_common(text, limits);
    (common, crate::cursor::BODIES.with(|b| b.get()))
}

/// The bodies the common path reads itself (none, Identify, a plain Enumerate), in
/// each form it takes, are read there to the end of the document and as the general
/// path reads them; a body of any other shape near them is handed to the general
/// code (or the envelope left to the general path), which decides.
#[test]
fn the_common_bodies_are_read_by_the_common_path_itself() {
    let request = |decls: &str, body: &str, after: &str| {
        format!(
            "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"{}\" xmlns:a=\"{}\" xmlns:w=\"{}\" \
             xmlns:n=\"{}\" xmlns:i=\"{}\"{decls}><s:Header><a:Action>x</a:Action></s:Header>\
             {body}</s:Envelope>{after}",
            crate::ns::SOAP,
            crate::ns::WSA,
            crate::ns::WSMAN,
            crate::ns::WSEN,
            crate::ns::WSMID,
        )
    };
    let limits = Limits::default();
    let read = [
        "<s:Body/>",
        "<s:Body></s:Body>",
        "<s:Body>\r\n\t </s:Body >",
        "<s:Body><i:Identify/></s:Body>\r\n ",
        "<s:Body> <i:Identify></i:Identify> </s:Body>",
        "<s:Body><i:Identify>\n</i:Identify ></s:Body>",
        "<s:Body><n:Enumerate/></s:Body>",
        "<s:Body><n:Enumerate></n:Enumerate></s:Body>",
        "<s:Body><n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>20</w:MaxElements></n:Enumerate></s:Body>",
        "<s:Body><n:Enumerate>\n<w:MaxElements> 5\n</w:MaxElements><w:OptimizeEnumeration></w:OptimizeEnumeration>\n</n:Enumerate></s:Body>",
        "<s:Body><n:Enumerate>t<w:MaxElements>1</w:MaxElements><w:MaxElements>4294967295</w:MaxElements></n:Enumerate></s:Body>",
        "<s:Body><n:Pull><n:EnumerationContext>uuid:1</n:EnumerationContext></n:Pull></s:Body>",
        "<s:Body><n:Pull>\n <n:EnumerationContext> uuid:2\n</n:EnumerationContext> <n:MaxElements>7</n:MaxElements></n:Pull></s:Body>",
        "<s:Body><n:Pull><n:MaxElements>3</n:MaxElements><n:EnumerationContext></n:EnumerationContext><n:EnumerationContext>c</n:EnumerationContext><n:MaxElements> 9 </n:MaxElements></n:Pull></s:Body>",
    ];
    let texts: Vec<String> = read
        .iter()
        .flat_map(|body| ["", "\n", " \r\n"].map(|after| request("", body, after)))
        .collect();
    let mut bodies = Vec::new();
    for text in &texts {
        let (common, read_itself) = common_counting_bodies(text, &limits);
        assert_eq!(
            read_itself, 1,
            "the common path did not read the body itself\n{text}"
        );
        let general = parse_general(text, &limits).expect("a valid request");
        assert_eq!(common.as_ref(), Some(&general), "{text}");
        bodies.push(general.body);
    }
    // What was read: nothing, Identify, and Enumerates with what they held.
    assert!(bodies[..9].iter().all(|b| *b == crate::Body::Empty));
    assert!(bodies[9..18].iter().all(|b| *b == crate::Body::Identify));
    let enumerate = |b: &crate::Body<'_>| match b {
        crate::Body::Enumerate(e) => (e.optimize, e.max_elements),
        other => panic!("not an Enumerate: {other:?}"),
    };
    assert_eq!(enumerate(&bodies[18]), (false, None));
    assert_eq!(enumerate(&bodies[24]), (true, Some(20)));
    assert_eq!(enumerate(&bodies[27]), (true, Some(5)));
    assert_eq!(enumerate(&bodies[30]), (false, Some(4_294_967_295)));
    let pull = |b: &crate::Body<'_>| match b {
        crate::Body::Pull(p) => (p.context.to_string(), p.max_elements),
        other => panic!("not a Pull: {other:?}"),
    };
    assert_eq!(pull(&bodies[33]), ("uuid:1".to_owned(), None));
    assert_eq!(pull(&bodies[36]), ("uuid:2".to_owned(), Some(7)));
    assert_eq!(pull(&bodies[39]), ("c".to_owned(), Some(9)));

    let handed = [
        ("", "<s:Body><i:Identify x=\"1\"/></s:Body>", ""),
        (
            "",
            "<s:Body><i:Identify xmlns:i=\"urn:other\"/></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><i:Identify><i:Child/></i:Identify></s:Body>",
            "",
        ),
        ("", "<s:Body><i:Identify>text</i:Identify></s:Body>", ""),
        ("", "<s:Body><w:Identify/></s:Body>", ""),
        ("", "<s:Body><Identify/></s:Body>", ""),
        ("", "<s:Body><n:Enumerate ></n:Enumerate></s:Body>", ""),
        (
            "",
            "<s:Body><n:Enumerate><w:MaxElements>x</w:MaxElements></n:Enumerate></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Enumerate><w:MaxElements>4294967296</w:MaxElements></n:Enumerate></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Enumerate><w:MaxElements>1 &amp; 2</w:MaxElements></n:Enumerate></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Enumerate><w:OptimizeEnumeration s:mustUnderstand=\"true\"/></n:Enumerate></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Enumerate><w:Filter>x</w:Filter></n:Enumerate></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Enumerate><w:EnumerationMode>EnumerateEPR</w:EnumerationMode></n:Enumerate></s:Body>",
            "",
        ),
        ("", "<s:Body><i:Identify/><i:Identify/></s:Body>", ""),
        ("", "<s:Body>\u{a0}</s:Body>", ""),
        ("", "<s:Body><!-- c --></s:Body>", ""),
        ("", "<s:Body/>", "<!-- c -->"),
        ("", "<s:Body/>", "\u{feff}"),
        ("", "<s:Body/>", "x"),
        ("", "<s:Body/><s:Body/>", ""),
        ("", "<s:Body></s:Envelope>", ""),
        ("", "<s:Body><i:Identify></s:Body>", ""),
        ("", "<s:Body><n:Pull/></s:Body>", ""),
        (
            "",
            "<s:Body><n:Pull><n:EnumerationContext/>c</n:EnumerationContext></n:Pull></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Pull><n:EnumerationContext>c</n:EnumerationContext><n:MaxElements/>5</n:MaxElements></n:Pull></s:Body>",
            "",
        ),
        // Markup that is not well formed (the general path refuses each).
        ("", "<s:Body/>x", ""),
        ("", "<s:Body></s:Body>\u{a0}", ""),
        ("", "<s:Body><i:Identify></i:Identifx></s:Body>", ""),
        (
            "",
            "<s:Body><n:Enumerate><w:OptimizeEnumeration></w:OptimizeEnumeratiox></n:Enumerate></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Enumerate><w:OptimizeEnumeration/></n:Enumeratx></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Enumerate><w:MaxElements/>5</w:MaxElements></n:Enumerate></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Pull><n:EnumerationContext>c</n:EnumerationContext></n:Pulx></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Pull/><n:EnumerationContext>c</n:EnumerationContext></n:Pull></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Pull><n:MaxElements>1</n:MaxElements></n:Pull></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Pull><n:EnumerationContext>c</n:EnumerationContext><n:MaxElements>0</n:MaxElements></n:Pull></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Pull><n:EnumerationContext>c</n:EnumerationContext><n:MaxTime>PT1S</n:MaxTime></n:Pull></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Pull><n:EnumerationContext>c</n:EnumerationContext><n:MaxCharacters>9</n:MaxCharacters></n:Pull></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Pull><n:EnumerationContext/></n:Pull></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Pull><n:EnumerationContext x=\"1\">c</n:EnumerationContext></n:Pull></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Pull><w:EnumerationContext>c</w:EnumerationContext></n:Pull></s:Body>",
            "",
        ),
        (
            "",
            "<s:Body><n:Pull><n:EnumerationContext>a &amp; b</n:EnumerationContext></n:Pull></s:Body>",
            "",
        ),
        (
            " xmlns:j=\"urn:other\"",
            "<s:Body><j:Identify/></s:Body>",
            "",
        ),
    ];
    for (decls, body, after) in handed {
        let text = request(decls, body, after);
        let (common, read_itself) = common_counting_bodies(&text, &limits);
        assert_eq!(
            read_itself, 0,
            "the common path read a body it should hand over\n{text}"
        );
        // Handed over, the body is read by the general code from where the common
        // path stopped, with the cursor as the general path leaves it there: the
        // envelope is the general path's whenever that one reads it (and refused
        // whenever it refuses it).
        assert_eq!(common, parse_general(&text, &limits).ok(), "{text}");
    }
    // The Envelope's end tag must be its own.
    let text = request("", "<s:Body/>", "").replace("</s:Envelope>", "</s:Envelopf>");
    assert!(parse_general(&text, &limits).is_err());
    assert_eq!(common_counting_bodies(&text, &limits), (None, 0));
    // Tight limits: the body's elements count and nest as the general path counts them.
    let text = request(
        "",
        "<s:Body><n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>2</w:MaxElements></n:Enumerate></s:Body>",
        "",
    );
    for max_elements in 3..9 {
        for max_depth in 2..6 {
            let limits = Limits {
                max_elements,
                max_depth,
                ..Limits::default()
            };
            match parse_general(&text, &limits) {
                Ok(general) => assert_eq!(parse_common(&text, &limits), Some(general)),
                Err(_) => assert_eq!(parse_common(&text, &limits), None),
            }
        }
    }
}
