//! pypsrp's own bytes, decoded: the fragment streams `tests/fixtures/gen_pypsrp.py`
//! wrote with pypsrp's `Fragmenter`, `Serializer` and message classes (offline, no
//! server). Each stream is reassembled, framed and read as records, and the fields are
//! checked against the inputs the script passed to pypsrp.

use std::path::Path;

use psrp::clixml::{self, Limits, Value};
use psrp::fragment::{self, Defragmenter, Fragment};
use psrp::records::{CreatePipeline, InitRunspacePool, SessionCapability};
use psrp::{Destination, Guid, Message, MessageType};

const RPID: &str = "5a4e8e8b-1c2d-4e3f-8a9b-0c1d2e3f4a5b";
const PID: &str = "11223344-5566-4788-99aa-bbccddeeff00";

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = text.trim();
    assert!(text.len() % 2 == 0, "{name}: odd number of hex digits");
    (0..text.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&text[i..i + 2], 16)
                .unwrap_or_else(|e| panic!("{name}: byte {}: {e}", i / 2))
        })
        .collect()
}

/// Reassembles every message of a stream, checking that fragments never pass `max`.
fn messages(name: &str, max: usize) -> Vec<Message> {
    let bytes = fixture(name);
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        let (f, r) = Fragment::decode_prefix(rest).unwrap();
        assert!(
            fragment::HEADER_LEN + f.blob.len() <= max,
            "{name}: a {}-byte fragment passes the {max}-byte maximum",
            fragment::HEADER_LEN + f.blob.len()
        );
        rest = r;
    }
    let mut out = Vec::new();
    let mut d = Defragmenter::default();
    d.push_stream(&bytes, &mut out).unwrap();
    assert_eq!(d.in_flight(), 0, "{name}: an object was left unfinished");
    out.iter().map(|m| Message::decode(m).unwrap()).collect()
}

fn check_open_pool(name: &str, max: usize) {
    let msgs = messages(name, max);
    assert_eq!(msgs.len(), 2, "{name}");
    let rpid: Guid = RPID.parse().unwrap();
    for m in &msgs {
        assert_eq!(m.destination, Destination::Server);
        assert_eq!(m.rpid, rpid);
        assert!(m.pid.is_nil());
    }
    assert_eq!(msgs[0].kind, MessageType::SESSION_CAPABILITY);
    let sc = SessionCapability::from_value(&msgs[0].value(&Limits::default()).unwrap()).unwrap();
    assert_eq!(
        sc,
        SessionCapability::default(),
        "pypsrp sends 2.3 / 2.0 / 1.1.0.1"
    );

    assert_eq!(msgs[1].kind, MessageType::INIT_RUNSPACEPOOL);
    let v = msgs[1].value(&Limits::default()).unwrap();
    let init = InitRunspacePool::from_value(&v).unwrap();
    assert_eq!((init.min_runspaces, init.max_runspaces), (1, 3));
    assert_eq!(init.thread_options, Some(0), "PSThreadOptions.DEFAULT");
    assert_eq!(init.apartment_state, Some(2), "ApartmentState.UNKNOWN");
    assert_eq!(
        init.application_arguments,
        [(Value::string("greeting"), Value::string("hi_x"))],
        "the `_x` in the value survives pypsrp's escaping and ours"
    );
    let host = v.prop("HostInfo").unwrap();
    assert_eq!(host.prop("_isHostNull"), Some(&Value::Bool(true)));
    // The client side (`psrp::client`) writes the message pypsrp wrote.
    assert_eq!(
        init.to_value(),
        v,
        "InitRunspacePool::to_value differs from pypsrp's"
    );
    assert_eq!(sc.to_value(), msgs[0].value(&Limits::default()).unwrap());
}

fn check_create_pipeline(name: &str, max: usize) {
    let msgs = messages(name, max);
    assert_eq!(msgs.len(), 1, "{name}");
    let m = &msgs[0];
    assert_eq!(m.kind, MessageType::CREATE_PIPELINE);
    assert_eq!(m.rpid, RPID.parse().unwrap());
    assert_eq!(m.pid, PID.parse().unwrap());
    let v = m.value(&Limits::default()).unwrap();
    let cp = CreatePipeline::from_value(&v).unwrap();
    assert!(cp.no_input);
    assert!(!cp.add_to_history);
    assert!(!cp.is_nested);
    assert_eq!(cp.statements.len(), 2, "two statements come as ExtraCmds");
    let first = &cp.statements[0];
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].command, "Get-Service");
    assert!(!first[0].is_script);
    assert_eq!(first[0].use_local_scope, None);
    let params: Vec<(Option<&str>, &Value)> = first[0]
        .parameters
        .iter()
        .map(|p| (p.name.as_deref(), &p.value))
        .collect();
    assert_eq!(
        params,
        [
            (Some("Name"), &Value::string("win\nrm")),
            (Some("Verbose"), &Value::Null)
        ]
    );
    let second = &cp.statements[1];
    assert_eq!(second[0].command, "Write-Output 'caf\u{e9} \u{1F600}' <&>");
    assert!(second[0].is_script);
    assert_eq!(second[0].use_local_scope, Some(true));
    assert_eq!(second[0].parameters.len(), 1);
    assert_eq!(second[0].parameters[0].name, None, "a positional argument");
    assert_eq!(second[0].parameters[0].value, Value::I32(42));

    // Our writer's form of the same value reads back to the same value.
    let again = clixml::from_str(&clixml::to_string(&v), &Limits::default()).unwrap();
    assert_eq!(again, v);
    // The client side (`psrp::client`) writes the message pypsrp wrote, property for
    // property and type name for type name.
    assert_eq!(
        cp.to_value(),
        v,
        "CreatePipeline::to_value differs from pypsrp's"
    );
}

#[test]
fn pypsrp_open_runspace_pool() {
    check_open_pool("pypsrp-open-runspace-pool.hex", 153_600);
}

#[test]
fn pypsrp_open_runspace_pool_in_small_fragments() {
    check_open_pool("pypsrp-open-runspace-pool-small-fragments.hex", 120);
}

#[test]
fn pypsrp_create_pipeline() {
    check_create_pipeline("pypsrp-create-pipeline.hex", 153_600);
}

#[test]
fn pypsrp_create_pipeline_in_small_fragments() {
    check_create_pipeline("pypsrp-create-pipeline-small-fragments.hex", 120);
}

/// Our fragmenter cuts pypsrp's message the way pypsrp does at the same size: the
/// same fragment boundaries and flags (object ids aside).
#[test]
fn split_matches_pypsrp_fragment_boundaries() {
    let bytes = fixture("pypsrp-create-pipeline-small-fragments.hex");
    let mut theirs = Vec::new();
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        let (f, r) = Fragment::decode_prefix(rest).unwrap();
        theirs.push(f);
        rest = r;
    }
    let message: Vec<u8> = theirs.iter().flat_map(|f| f.blob.clone()).collect();
    let ours = fragment::split(theirs[0].object_id, &message, 120).unwrap();
    assert_eq!(ours, theirs);
}
