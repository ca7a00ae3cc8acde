//! Element paths into an answer: `s:Body/wsen:PullResponse/wsen:Items/*`.
//!
//! A path is a list of steps separated by `/`, evaluated from the `s:Envelope`
//! element down. A step is `prefix:Local`, `*:Local` (any namespace), `prefix:*` or
//! `*` (any element). Prefixes are the conventional ones of the specifications (`s`,
//! `wsa`, `wsman`, `wsmid`, `wxf`, `wsen`, `wse`, `wsmb`, `rsp`), plus `cim`, which
//! stands for the namespace of the CIM class named by the local part
//! (`cim:CIM_ComputerSystem` is `CIM_ComputerSystem` in
//! `http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem`).

use wsman::ns;

/// The namespace of a conventional prefix.
pub fn prefix_ns(prefix: &str) -> Option<&'static str> {
    Some(match prefix {
        "s" => ns::SOAP,
        "wsa" => ns::WSA,
        "wsman" => ns::WSMAN,
        "wsmid" => ns::WSMID,
        "wxf" => ns::WXF,
        "wsen" => ns::WSEN,
        "wse" => ns::WSE,
        "wsmb" => ns::WSMB,
        "rsp" => ns::RSP,
        _ => return None,
    })
}

/// A path that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad path `{path}`: {why}")]
pub struct PathError {
    /// The path.
    pub path: String,
    /// What is wrong.
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NsTest {
    Any,
    Is(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct StepTest {
    ns: NsTest,
    local: Option<String>,
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    steps: Vec<StepTest>,
}

impl Path {
    /// Parses `path`.
    pub fn parse(path: &str) -> Result<Path, PathError> {
        let err = |why: String| PathError {
            path: path.to_owned(),
            why,
        };
        let mut steps = Vec::new();
        for step in path.split('/') {
            let step = step.trim();
            if step.is_empty() {
                return Err(err("empty step".into()));
            }
            if step == "*" {
                steps.push(StepTest {
                    ns: NsTest::Any,
                    local: None,
                });
                continue;
            }
            let Some((prefix, local)) = step.split_once(':') else {
                return Err(err(format!(
                    "step `{step}` needs a prefix (`wsman:{step}` or `*:{step}`)"
                )));
            };
            let local = (local != "*").then(|| local.to_owned());
            let ns = match prefix {
                "*" => NsTest::Any,
                "cim" => match &local {
                    Some(l) => NsTest::Is(format!("{}{l}", ns::CIM_SCHEMA)),
                    None => return Err(err("`cim:` needs a class name".into())),
                },
                p => match prefix_ns(p) {
                    Some(uri) => NsTest::Is(uri.to_owned()),
                    None => return Err(err(format!("unknown prefix `{p}`"))),
                },
            };
            steps.push(StepTest { ns, local });
        }
        Ok(Path { steps })
    }

    /// Every element the path selects in `doc`, in document order.
    pub fn select<'a, 'i>(&self, doc: &'a roxmltree::Document<'i>) -> Vec<roxmltree::Node<'a, 'i>> {
        let root = doc.root_element();
        let is_env = root.tag_name().name() == "Envelope";
        if !is_env {
            return Vec::new();
        }
        let mut current = vec![root];
        for step in &self.steps {
            let mut next = Vec::new();
            for node in &current {
                next.extend(
                    node.children()
                        .filter(|c| c.is_element() && step.matches(c)),
                );
            }
            current = next;
        }
        current
    }
}

impl StepTest {
    fn matches(&self, n: &roxmltree::Node<'_, '_>) -> bool {
        let name = n.tag_name();
        let ns_ok = match &self.ns {
            NsTest::Any => true,
            NsTest::Is(uri) => name.namespace() == Some(uri.as_str()),
        };
        ns_ok && self.local.as_deref().is_none_or(|l| l == name.name())
    }
}

/// The trimmed text of an element (its direct text children).
pub fn text(n: &roxmltree::Node<'_, '_>) -> String {
    n.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
        xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing">
      <s:Header><a:RelatesTo> uuid:1 </a:RelatesTo></s:Header>
      <s:Body><p:CIM_Fan xmlns:p="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Fan">
        <p:DeviceID>f1</p:DeviceID><p:DeviceID>f2</p:DeviceID></p:CIM_Fan></s:Body>
    </s:Envelope>"#;

    #[test]
    fn selects_by_prefix_wildcard_and_cim_class() {
        let doc = roxmltree::Document::parse(XML).unwrap();
        let p = Path::parse("s:Header/wsa:RelatesTo").unwrap();
        assert_eq!(text(&p.select(&doc)[0]), "uuid:1");
        let p = Path::parse("s:Body/cim:CIM_Fan/*:DeviceID").unwrap();
        assert_eq!(p.select(&doc).len(), 2);
        let p = Path::parse("s:Body/*").unwrap();
        assert_eq!(p.select(&doc).len(), 1);
        assert!(
            Path::parse("s:Body/wsen:Items")
                .unwrap()
                .select(&doc)
                .is_empty()
        );
    }

    #[test]
    fn refuses_unknown_prefixes_and_bare_names() {
        assert!(
            Path::parse("x:Body")
                .unwrap_err()
                .why
                .contains("unknown prefix")
        );
        assert!(
            Path::parse("s:Body/Items")
                .unwrap_err()
                .why
                .contains("needs a prefix")
        );
        assert!(Path::parse("s:Body//x").is_err());
    }
}
