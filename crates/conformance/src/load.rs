//! Loading suite files: TOML to [`Case`]s, with every error naming
//! file:line:column and what was expected.
//!
//! The suite files of the repository are compiled in ([`Suite::embedded`]), so the
//! binary checks a target from anywhere; [`Suite::load_dir`] reads a directory instead
//! (a user's own cases).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::case::{Case, CaseBody, Clause, Level, Step};
use crate::path::Path as ElemPath;

/// The suite files of this repository, compiled in: (path, text).
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "suites/wsman/core.toml",
        include_str!("../../../suites/wsman/core.toml"),
    ),
    (
        "suites/wsman/identify.toml",
        include_str!("../../../suites/wsman/identify.toml"),
    ),
    (
        "suites/wsman/transfer.toml",
        include_str!("../../../suites/wsman/transfer.toml"),
    ),
    (
        "suites/wsman/enumeration.toml",
        include_str!("../../../suites/wsman/enumeration.toml"),
    ),
    (
        "suites/wsman/faults.toml",
        include_str!("../../../suites/wsman/faults.toml"),
    ),
    (
        "suites/wsman/shell.toml",
        include_str!("../../../suites/wsman/shell.toml"),
    ),
    (
        "suites/wsman/psrp.toml",
        include_str!("../../../suites/wsman/psrp.toml"),
    ),
    (
        "suites/wsman/http.toml",
        include_str!("../../../suites/wsman/http.toml"),
    ),
    (
        "suites/wsman/robustness.toml",
        include_str!("../../../suites/wsman/robustness.toml"),
    ),
    (
        "suites/wsman/cim-ipmi.toml",
        include_str!("../../../suites/wsman/cim-ipmi.toml"),
    ),
    (
        "suites/wsman/fragment.toml",
        include_str!("../../../suites/wsman/fragment.toml"),
    ),
    (
        "suites/wsman/filter.toml",
        include_str!("../../../suites/wsman/filter.toml"),
    ),
    (
        "suites/wsman/invoke.toml",
        include_str!("../../../suites/wsman/invoke.toml"),
    ),
    (
        "suites/wsman/headers.toml",
        include_str!("../../../suites/wsman/headers.toml"),
    ),
    (
        "suites/wsman/eventing.toml",
        include_str!("../../../suites/wsman/eventing.toml"),
    ),
    (
        "suites/ipmi/discovery.toml",
        include_str!("../../../suites/ipmi/discovery.toml"),
    ),
    (
        "suites/ipmi/session.toml",
        include_str!("../../../suites/ipmi/session.toml"),
    ),
    (
        "suites/ipmi/commands.toml",
        include_str!("../../../suites/ipmi/commands.toml"),
    ),
    (
        "suites/ipmi/privilege.toml",
        include_str!("../../../suites/ipmi/privilege.toml"),
    ),
    (
        "suites/ipmi/operator.toml",
        include_str!("../../../suites/ipmi/operator.toml"),
    ),
    (
        "suites/ipmi/sdr.toml",
        include_str!("../../../suites/ipmi/sdr.toml"),
    ),
    (
        "suites/ipmi/sel.toml",
        include_str!("../../../suites/ipmi/sel.toml"),
    ),
    (
        "suites/ipmi/fru.toml",
        include_str!("../../../suites/ipmi/fru.toml"),
    ),
    (
        "suites/ipmi/chassis.toml",
        include_str!("../../../suites/ipmi/chassis.toml"),
    ),
    (
        "suites/ipmi/cross.toml",
        include_str!("../../../suites/ipmi/cross.toml"),
    ),
];

/// A suite file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct LoadError {
    /// `file:line:column` (or just the file when there is no position).
    pub origin: String,
    /// What is wrong, and what was expected.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    case: Vec<Spanned<CaseDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseDoc {
    id: Spanned<String>,
    title: String,
    clause: Clause,
    level: Level,
    profiles: Vec<String>,
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    preserve: Vec<String>,
    #[serde(default)]
    code: bool,
    #[serde(default)]
    step: Vec<Step>,
}

/// Loaded cases, in file order (files in the order given).
#[derive(Debug, Clone, Default)]
pub struct Suite {
    /// The cases.
    pub cases: Vec<Case>,
}

/// `line:column` (1-based) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |n| before.len() - n - 1)
        + 1;
    (line, col)
}

fn at(file: &str, text: &str, offset: usize) -> String {
    let (l, c) = line_col(text, offset);
    format!("{file}:{l}:{c}")
}

fn valid_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn valid_requirement(r: &str) -> bool {
    match r.split_once(':') {
        Some(("class", c)) => !c.is_empty(),
        Some(("resource", role)) => crate::discover::ROLES.contains(&role),
        _ => crate::discover::FEATURES.contains(&r) || crate::ipmi::valid_requirement(r),
    }
}

/// Class-name prefixes whose names in a request make the case depend on the class.
const CLASS_PREFIXES: [&str; 5] = ["CIM_", "AMT_", "IPS_", "Win32_", "TS_"];

/// Classes a case asks for on purpose knowing no target has them.
const ABSENT_ON_PURPOSE: [&str; 2] = ["CIM_TouchstoneNoSuch", "TS_ConformanceItem"];

/// Every class name (`CIM_Fan`, `AMT_GeneralSettings`) in `text`.
fn class_names(text: &str, out: &mut BTreeSet<String>) {
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !word(bytes[i - 1]);
        if starts_word {
            // Bytes, not `text[i..]`: `i` may fall inside a multi-byte character (the
            // prefixes are ASCII, so a match starts and ends on character boundaries).
            if let Some(p) = CLASS_PREFIXES
                .iter()
                .find(|p| bytes[i..].starts_with(p.as_bytes()))
            {
                let mut j = i + p.len();
                while j < bytes.len() && word(bytes[j]) {
                    j += 1;
                }
                let name = &text[i..j];
                if j > i + p.len() && !ABSENT_ON_PURPOSE.iter().any(|a| name.starts_with(a)) {
                    out.insert(name.to_owned());
                }
                i = j;
                continue;
            }
        }
        i += 1;
    }
}

/// Every role a request uses: `@ROLE` resources and `{{f:ROLE}}` templates.
fn roles_used(text: &str, out: &mut BTreeSet<String>) {
    if let Some(role) = text.strip_prefix('@') {
        out.insert(role.to_owned());
    }
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        if let Some((f, role)) = after[..end].trim().split_once(':') {
            if crate::template::ROLE_FUNCTIONS.contains(&f) {
                out.insert(role.trim().to_owned());
            }
        }
        rest = &after[end + 2..];
    }
}

/// The classes and roles the requests of `steps` name (and the paths they check).
fn step_subjects(steps: &[Step]) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut classes, mut roles) = (BTreeSet::new(), BTreeSet::new());
    fn expect_texts<'a>(e: &'a crate::case::Expect, out: &mut Vec<&'a str>) {
        out.extend(e.present.iter().map(String::as_str));
        out.extend(e.absent.iter().map(String::as_str));
        for (k, v) in &e.values {
            out.push(k);
            out.push(v);
        }
        for a in &e.any {
            expect_texts(a, out);
        }
    }
    for s in steps {
        let r = &s.request;
        let mut texts: Vec<&str> = Vec::new();
        texts.extend(r.resource.as_deref());
        texts.extend(r.body.as_deref());
        texts.extend(r.context.as_deref());
        for (k, v) in &r.selectors {
            texts.push(k);
            texts.push(v);
        }
        texts.extend(s.capture.values().map(String::as_str));
        expect_texts(&s.expect, &mut texts);
        for t in texts {
            class_names(t, &mut classes);
            roles_used(t, &mut roles);
        }
    }
    (classes, roles)
}

/// A path with each `{{...}}` (a discovered property name) replaced by `Name`, so that
/// its shape can be checked before discovery.
fn path_shape(p: &str) -> Result<String, String> {
    let mut checked = String::with_capacity(p.len());
    let mut rest = p;
    while let Some(start) = rest.find("{{") {
        checked.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            return Err(format!("unclosed `{{{{` in path `{p}`"));
        };
        checked.push_str("Name");
        rest = &rest[start + end + 2..];
    }
    checked.push_str(rest);
    Ok(checked)
}

fn check_step(step: &Step) -> Result<(), String> {
    if step.request.op == crate::case::Op::Ipmi {
        return crate::ipmi::check_step(step);
    }
    let e = &step.expect;
    let mut paths: Vec<&String> = Vec::new();
    fn collect<'a>(e: &'a crate::case::Expect, out: &mut Vec<&'a String>) {
        out.extend(e.present.iter());
        out.extend(e.absent.iter());
        out.extend(e.values.keys());
        for a in &e.any {
            collect(a, out);
        }
    }
    collect(e, &mut paths);
    paths.extend(step.capture.values());
    for p in paths {
        ElemPath::parse(&path_shape(p)?).map_err(|e| e.to_string())?;
    }
    let r = &step.request;
    if r.op == crate::case::Op::Raw && r.body.is_none() {
        return Err("a `raw` request needs a `body`".into());
    }
    if matches!(r.op, crate::case::Op::Get | crate::case::Op::Enumerate) && r.resource.is_none() {
        return Err("a `get` or `enumerate` request needs a `resource`".into());
    }
    if matches!(r.op, crate::case::Op::Pull | crate::case::Op::Release) && r.context.is_none() {
        return Err("a `pull` or `release` request needs a `context`".into());
    }
    Ok(())
}

impl Suite {
    /// The repository's suite files, compiled in.
    pub fn embedded() -> Result<Suite, LoadError> {
        Suite::from_texts(EMBEDDED.iter().map(|(f, t)| (f.to_string(), t.to_string())))
    }

    /// Every `*.toml` under `dir`, recursively, in path order.
    pub fn load_dir(dir: &Path) -> Result<Suite, LoadError> {
        fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
            for entry in std::fs::read_dir(dir)? {
                let p = entry?.path();
                if p.is_dir() {
                    walk(&p, out)?;
                } else if p.extension().is_some_and(|e| e == "toml") {
                    out.push(p);
                }
            }
            Ok(())
        }
        let mut files = Vec::new();
        walk(dir, &mut files).map_err(|e| LoadError {
            origin: dir.display().to_string(),
            message: format!("cannot read the suite directory: {e}"),
        })?;
        files.sort();
        let mut texts = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| LoadError {
                origin: f.display().to_string(),
                message: format!("cannot read: {e}"),
            })?;
            texts.push((f.display().to_string(), text));
        }
        Suite::from_texts(texts)
    }

    /// Cases from (file name, TOML text) pairs.
    pub fn from_texts(
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Suite, LoadError> {
        let mut cases = Vec::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (file, text) in files {
            let doc: FileDoc = toml::from_str(&text).map_err(|e| LoadError {
                origin: e
                    .span()
                    .map_or_else(|| file.clone(), |s| at(&file, &text, s.start)),
                message: e.message().trim().to_owned(),
            })?;
            for spanned in doc.case {
                let origin = at(&file, &text, spanned.span().start);
                let c = spanned.into_inner();
                let id_at = at(&file, &text, c.id.span().start);
                let id = c.id.into_inner();
                let err = |message: String| LoadError {
                    origin: id_at.clone(),
                    message,
                };
                if !valid_id(&id) {
                    return Err(err(format!(
                        "case ID `{id}`: expected dot-separated lowercase words \
                         (`wsman.transfer.get.relates-to`)"
                    )));
                }
                if let Some(first) = seen.insert(id.clone(), id_at.clone()) {
                    return Err(err(format!(
                        "duplicate case ID `{id}` (first defined at {first})"
                    )));
                }
                if c.profiles.is_empty() {
                    return Err(err(format!("case `{id}` has no profiles")));
                }
                if let Some(k) = &c.clause.keyword {
                    match Level::from_keyword(k) {
                        None => {
                            return Err(err(format!(
                                "case `{id}`: clause keyword `{k}` is not a normative keyword \
                                 (shall, must, should, may, and their negations)"
                            )));
                        }
                        Some(l) if l != c.level => {
                            return Err(err(format!(
                                "case `{id}` is {} but its requirement says `{k}`, which is {}: \
                                 the level follows the requirement's wording",
                                c.level.as_str(),
                                l.as_str()
                            )));
                        }
                        Some(_) => {}
                    }
                }
                if c.clause.id.as_deref().is_some_and(|i| i.trim().is_empty()) {
                    return Err(err(format!(
                        "case `{id}`: an empty clause id (leave it out when the text has none)"
                    )));
                }
                if let Some(r) = c.requires.iter().find(|r| !valid_requirement(r)) {
                    return Err(err(format!(
                        "case `{id}`: unknown requirement `{r}` (expected `class:NAME`, \
                         `resource:ROLE` with ROLE one of {}, one of {}, or an IPMI one)",
                        crate::discover::ROLES.join(", "),
                        crate::discover::FEATURES.join(", ")
                    )));
                }
                if let Some(p) = c.preserve.iter().find(|p| p.as_str() != "sel") {
                    return Err(err(format!(
                        "case `{id}`: cannot preserve `{p}` (expected `sel`)"
                    )));
                }
                let body = if c.code {
                    if !c.step.is_empty() {
                        return Err(err(format!("case `{id}` is `code = true` and has steps")));
                    }
                    match crate::code::lookup(&id) {
                        Some(f) => CaseBody::Code(f),
                        None => {
                            return Err(err(format!(
                                "case `{id}` is `code = true` but no code case is registered \
                                 under that ID (see crates/conformance/src/code.rs)"
                            )));
                        }
                    }
                } else {
                    if c.step.is_empty() {
                        return Err(err(format!(
                            "case `{id}` has no `[[case.step]]` (and is not `code = true`)"
                        )));
                    }
                    for (i, s) in c.step.iter().enumerate() {
                        check_step(s)
                            .map_err(|m| err(format!("case `{id}`, step {}: {m}", i + 1)))?;
                    }
                    let (classes, roles) = step_subjects(&c.step);
                    if let Some(class) = classes
                        .iter()
                        .find(|k| !c.requires.contains(&format!("class:{k}")))
                    {
                        return Err(err(format!(
                            "case `{id}` names the class {class} in a request but does not \
                             require it: add `class:{class}` to `requires` (so a target \
                             without it skips the case), or use a discovered resource \
                             (`resource = \"@gettable\"`, `{{{{uri:gettable}}}}`)"
                        )));
                    }
                    if let Some(role) = roles
                        .iter()
                        .find(|r| !c.requires.contains(&format!("resource:{r}")))
                    {
                        if !crate::discover::ROLES.contains(&role.as_str()) {
                            return Err(err(format!(
                                "case `{id}`: unknown role `{role}` (expected one of {})",
                                crate::discover::ROLES.join(", ")
                            )));
                        }
                        return Err(err(format!(
                            "case `{id}` uses the discovered `{role}` resource but does not \
                             require it: add `resource:{role}` to `requires`"
                        )));
                    }
                    CaseBody::Steps(c.step)
                };
                cases.push(Case {
                    id,
                    title: c.title,
                    clause: c.clause,
                    level: c.level,
                    profiles: c.profiles,
                    requires: c.requires,
                    timeout_ms: c.timeout_ms,
                    preserve: c.preserve,
                    body,
                    origin,
                });
            }
        }
        Ok(Suite { cases })
    }

    /// Every profile some case belongs to.
    pub fn profiles(&self) -> BTreeSet<String> {
        self.cases
            .iter()
            .flat_map(|c| c.profiles.iter().cloned())
            .collect()
    }

    /// The cases in any of `profiles` (all when empty) that match `filter`: a case ID or
    /// test name matched exactly selects only the exact matches; otherwise a pattern
    /// with `*`/`?` is a glob on the ID, and anything else a substring of the ID or the
    /// test name.
    pub fn select(&self, profiles: &[String], filter: Option<&str>) -> Vec<Case> {
        let in_profile =
            |c: &&Case| profiles.is_empty() || c.profiles.iter().any(|p| profiles.contains(p));
        let pool: Vec<&Case> = self.cases.iter().filter(in_profile).collect();
        let Some(pat) = filter else {
            return pool.into_iter().cloned().collect();
        };
        let exact: Vec<Case> = pool
            .iter()
            .filter(|c| c.id == pat || c.test_name() == pat)
            .map(|c| (*c).clone())
            .collect();
        if !exact.is_empty() {
            return exact;
        }
        pool.into_iter()
            .filter(|c| {
                if pat.contains(['*', '?']) {
                    crate::waiver::glob(pat, &c.id)
                } else {
                    c.id.contains(pat) || c.test_name().contains(pat)
                }
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Suite, LoadError> {
        Suite::from_texts([("t.toml".to_owned(), text.to_owned())])
    }

    const GOOD: &str = r#"
[[case]]
id = "wsman.x.one"
title = "t"
level = "MUST"
profiles = ["core"]
clause = { spec = "DSP0226", section = "7", requirement = "r" }
[[case.step]]
request = { op = "identify" }
expect = { status = 200, present = ["s:Body/wsmid:IdentifyResponse"] }
"#;

    #[test]
    fn loads_a_case() {
        let s = load(GOOD).unwrap();
        assert_eq!(s.cases.len(), 1);
        assert_eq!(s.cases[0].test_name(), "wsman::x::one");
        assert_eq!(s.cases[0].origin, "t.toml:2:1");
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let e = load(&GOOD.replace("level = \"MUST\"", "level = \"MUSTY\"")).unwrap_err();
        assert_eq!(e.origin, "t.toml:5:9", "{e}");
        assert!(e.message.contains("MUST"), "{e}");
        let e = load(&GOOD.replace("title = \"t\"", "title = \"t\"\ncolour = 1")).unwrap_err();
        assert!(e.origin.starts_with("t.toml:5:"), "{e}");
        assert!(e.message.contains("colour"), "{e}");
    }

    #[test]
    fn semantic_errors_point_at_the_id() {
        let e = load(&format!("{GOOD}{}", GOOD.replace("[[case]]", "\n[[case]]"))).unwrap_err();
        assert!(e.message.contains("duplicate"), "{e}");
        assert_eq!(e.origin, "t.toml:14:6", "{e}");
        let e = load(&GOOD.replace("wsmid:IdentifyResponse", "IdentifyResponse")).unwrap_err();
        assert!(e.message.contains("needs a prefix"), "{e}");
        assert_eq!(e.origin, "t.toml:3:6");
        let e = load(&GOOD.replace("wsman.x.one", "Wsman.X")).unwrap_err();
        assert!(e.message.contains("lowercase"), "{e}");
        let e = load(&GOOD.replace(
            "profiles = [\"core\"]",
            "profiles = [\"core\"]\ncode = true",
        ))
        .unwrap_err();
        assert!(e.message.contains("has steps"), "{e}");
    }

    #[test]
    fn the_embedded_suite_loads_and_lists_every_file() {
        let s = Suite::embedded().unwrap();
        assert!(s.cases.len() >= 30);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites");
        let from_disk = Suite::load_dir(&dir).unwrap();
        assert_eq!(
            from_disk.cases.len(),
            s.cases.len(),
            "a suite file is not in EMBEDDED"
        );
    }

    #[test]
    fn the_level_follows_the_keyword_and_classes_need_requires() {
        let with = |clause: &str| {
            load(&GOOD.replace(
                "clause = { spec = \"DSP0226\", section = \"7\", requirement = \"r\" }",
                clause,
            ))
        };
        let ok = with(
            "clause = { spec = \"DSP0226\", section = \"6.2\", id = \"R6.2-4\", keyword = \"shall\", requirement = \"r\" }",
        )
        .unwrap();
        assert_eq!(ok.cases[0].clause.id.as_deref(), Some("R6.2-4"));
        let e = with(
            "clause = { spec = \"DSP0226\", section = \"6.2\", id = \"R6.2-4\", keyword = \"should\", requirement = \"r\" }",
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("is MUST but its requirement says `should`"),
            "{e}"
        );
        let e = with(
            "clause = { spec = \"D\", section = \"1\", keyword = \"ought\", requirement = \"r\" }",
        )
        .unwrap_err();
        assert!(e.message.contains("not a normative keyword"), "{e}");
        let e = load(&GOOD.replace(
            "request = { op = \"identify\" }",
            "request = { op = \"get\", resource = \"CIM_Fan\" }",
        ))
        .unwrap_err();
        assert!(e.message.contains("class:CIM_Fan"), "{e}");
        let e = load(&GOOD.replace(
            "request = { op = \"identify\" }",
            "request = { op = \"get\", resource = \"@gettable\" }",
        ))
        .unwrap_err();
        assert!(e.message.contains("resource:gettable"), "{e}");
        let ok = load(
            &GOOD
                .replace(
                    "request = { op = \"identify\" }",
                    "request = { op = \"get\", resource = \"CIM_Fan\" }",
                )
                .replace(
                    "profiles = [\"core\"]",
                    "profiles = [\"core\"]\nrequires = [\"class:CIM_Fan\"]",
                ),
        );
        assert!(ok.is_ok(), "{ok:?}");
        let ok = load(&GOOD.replace(
            "request = { op = \"identify\" }",
            "request = { op = \"get\", resource = \"CIM_TouchstoneNoSuchClass\" }",
        ));
        assert!(
            ok.is_ok(),
            "a class absent on purpose needs no requirement: {ok:?}"
        );
    }

    #[test]
    fn class_names_are_found_beside_non_ascii_text() {
        let mut out = BTreeSet::new();
        // Robustness cases send bytes like these; the scan must not slice inside them.
        class_names("\u{ff}\u{fe}<\u{0}é CIM_Fan ÿAMT_X garbage", &mut out);
        assert_eq!(
            out.into_iter().collect::<Vec<_>>(),
            vec!["AMT_X".to_owned(), "CIM_Fan".to_owned()]
        );
    }

    #[test]
    fn requirements_are_checked_by_kind() {
        for ok in [
            "class:CIM_Fan",
            "resource:enumerable",
            "resource:writable",
            "feature:fragment",
            "filter:wql",
            "identify:unauthenticated",
            "shell:cmd",
            "shell:psrp",
        ] {
            assert!(valid_requirement(ok), "{ok}");
        }
        for bad in [
            "class:",
            "resource:nosuch",
            "feature:teleport",
            "filter:sql",
            "nonsense",
        ] {
            assert!(!valid_requirement(bad), "{bad}");
        }
        let e = load(&GOOD.replace(
            "profiles = [\"core\"]",
            "profiles = [\"core\"]\nrequires = [\"resource:nosuch\"]",
        ))
        .unwrap_err();
        assert!(
            e.message.contains("unknown requirement `resource:nosuch`"),
            "{e}"
        );
    }

    #[test]
    fn roles_are_found_in_resources_and_templates() {
        let mut out = BTreeSet::new();
        roles_used("@keyed", &mut out);
        roles_used(
            "{{}}{{to}} {{uri:gettable}}{{prop: writable }}{{cim:CIM_Fan}}{{uri:enumerable",
            &mut out,
        );
        assert_eq!(
            out.into_iter().collect::<Vec<_>>(),
            vec!["gettable".to_owned(), "keyed".into(), "writable".into()]
        );
    }

    #[test]
    fn classes_and_roles_in_expectations_count_and_paths_with_templates_are_checked() {
        // A class named only in what the answer must hold still needs its requirement.
        let e = load(&GOOD.replace(
            "present = [\"s:Body/wsmid:IdentifyResponse\"]",
            "present = [\"s:Body/cim:CIM_Fan\"]",
        ))
        .unwrap_err();
        assert!(e.message.contains("class:CIM_Fan"), "{e}");
        let e = load(&GOOD.replace(
            "present = [\"s:Body/wsmid:IdentifyResponse\"]",
            "values = { \"s:Body/*/*:{{prop:writable}}\" = \"{{new:writable}}\" }",
        ))
        .unwrap_err();
        assert!(e.message.contains("resource:writable"), "{e}");
        let with_role = |path: &str| {
            load(
                &GOOD
                    .replace(
                        "present = [\"s:Body/wsmid:IdentifyResponse\"]",
                        &format!("present = [\"{path}\"]"),
                    )
                    .replace(
                        "profiles = [\"core\"]",
                        "profiles = [\"core\"]\nrequires = [\"resource:writable\"]",
                    ),
            )
        };
        assert!(with_role("s:Body/*/*:{{prop:writable}}").is_ok());
        assert!(with_role("s:Body/*:{{element:writable}}/*:{{prop:writable}}").is_ok());
        let e = with_role("s:Body/*:{{element:writable}}/Bad").unwrap_err();
        assert!(e.message.contains("prefix"), "{e}");
        let e = with_role("s:Body/*:{{element:writable").unwrap_err();
        assert!(e.message.contains("unclosed"), "{e}");
    }

    #[test]
    fn templates_in_paths_are_checked_as_names() {
        assert_eq!(
            path_shape("s:Body/*:{{element:writable}}/*:{{prop:writable}}").unwrap(),
            "s:Body/*:Name/*:Name"
        );
        assert_eq!(path_shape("s:Body/p:X").unwrap(), "s:Body/p:X");
        assert!(path_shape("s:Body/*:{{prop").is_err());
    }

    #[test]
    fn a_class_prefix_alone_names_no_class() {
        let mut out = BTreeSet::new();
        class_names("CIM_ and AMT_, x_CIM_Fan and CIM_Fan_2", &mut out);
        assert_eq!(
            out.into_iter().collect::<Vec<_>>(),
            vec!["CIM_Fan_2".to_owned()]
        );
    }

    #[test]
    fn filters_prefer_exact_ids() {
        let two = format!("{GOOD}{}", GOOD.replace("wsman.x.one", "wsman.x.one-more"));
        let s = load(&two).unwrap();
        assert_eq!(s.select(&[], Some("wsman.x.one")).len(), 1);
        assert_eq!(s.select(&[], Some("wsman::x::one_more")).len(), 1);
        assert_eq!(s.select(&[], Some("x.one")).len(), 2);
        assert_eq!(s.select(&[], Some("wsman.*.one*")).len(), 2);
        assert_eq!(s.select(&["nope".into()], None).len(), 0);
    }
}
