//! WS-Transfer on CIM resources: Get, Put (whole or fragment), Create, Delete.

use std::sync::Arc;

use machine::cim::{self, Instance};
use wsman::body::Body;
use wsman::{Envelope, Tree, ns};

use super::faults::{self, Fail, OpResult, cim_fault};
use super::resource::{Target, resolve};
use super::write::respond;
use crate::cimxml::{self, UriStyle};
use crate::mock::Inner;
use crate::scenario::Scenario;

impl Inner {
    pub(super) fn get(
        &mut self,
        env: &Envelope<'_>,
        uri: &str,
        scenario: &Scenario,
        now: u64,
    ) -> OpResult {
        let target = resolve(uri, env, scenario)?;
        let inst =
            cim::get_shared_borrowed(&mut self.machine, &target.class, &target.selectors, now)
                .map_err(cim_fault)?;
        let body = if scenario.defect("ignore_fragment_transfer") {
            // The seeded defect: the FragmentTransfer header is not acted on.
            let mut whole = env.clone();
            whole.header.fragment_transfer = None;
            representation(&whole, &inst, &target, &mut self.xml_memo)?
        } else {
            representation(env, &inst, &target, &mut self.xml_memo)?
        };
        let header = self.response_header(env, ns::action::GET_RESPONSE);
        Ok(respond(header, body))
    }

    pub(super) fn put(
        &mut self,
        env: &Envelope<'_>,
        uri: &str,
        scenario: &Scenario,
        now: u64,
    ) -> OpResult {
        let target = resolve(uri, env, scenario)?;
        let current = cim::get(
            &mut self.machine,
            &target.class,
            &target.owned_selectors(),
            now,
        )
        .map_err(cim_fault)?;
        let changes: Vec<(String, String)> = match (&env.header.fragment_transfer, &env.body) {
            (Some(fragment), Body::Fragment(tree)) => {
                let prop = fragment_property(&fragment.expression, fragment.dialect.as_deref())?;
                let root = tree.root();
                let value = match root.children().find(|c| c.name().local == prop) {
                    Some(c) => c.text().to_owned(),
                    None => root.text().to_owned(),
                };
                vec![(prop, value)]
            }
            (Some(_), _) => {
                return Err(faults::invalid_fragment(
                    "a fragment Put needs a wsman:XmlFragment body",
                ));
            }
            (None, Body::Instance(tree)) => {
                let root = tree.root();
                if root.name().local != target.class {
                    return Err(faults::wrong_class(format!(
                        "the body is a {}, not a {}",
                        root.name().local,
                        target.class
                    )));
                }
                // Only what differs from the current instance is a change; resending
                // read-only properties unchanged is how every client does a Put.
                cimxml::property_groups(root)
                    .into_iter()
                    .filter(|(name, sent)| {
                        current
                            .get(name)
                            .is_none_or(|cur| !cimxml::same_value(cur, sent))
                    })
                    .map(|(name, mut sent)| {
                        // A changed array is refused by the machine whatever its value.
                        let first = sent.drain(..).next().flatten().unwrap_or_default();
                        (name, first)
                    })
                    .collect()
            }
            _ => {
                return Err(faults::resource_missing(
                    "a Put needs the resource in the body",
                ));
            }
        };
        let updated = cim::put(
            &mut self.machine,
            &target.class,
            &target.owned_selectors(),
            &changes,
            now,
        )
        .map_err(cim_fault)?;
        let body = representation(env, &Arc::new(updated), &target, &mut self.xml_memo)?;
        let header = self.response_header(env, ns::action::PUT_RESPONSE);
        Ok(respond(header, body))
    }

    pub(super) fn create(
        &mut self,
        env: &Envelope<'_>,
        uri: &str,
        scenario: &Scenario,
        now: u64,
    ) -> OpResult {
        let target = resolve(uri, env, scenario)?;
        let Body::Instance(tree) = &env.body else {
            return Err(faults::resource_missing(
                "a Create needs the new resource in the body",
            ));
        };
        let props: Vec<(String, String)> = cimxml::properties_of(tree.root())
            .into_iter()
            .map(|(n, v)| (n, v.unwrap_or_default()))
            .collect();
        let _ = now;
        let reference = cim::create(&mut self.machine, &target.class, &props).map_err(cim_fault)?;
        let header = self.response_header(env, ns::action::CREATE_RESPONSE);
        Ok(respond(
            header,
            Body::ResourceCreated(cimxml::epr(&reference, &target.style)),
        ))
    }

    pub(super) fn delete(
        &mut self,
        env: &Envelope<'_>,
        uri: &str,
        scenario: &Scenario,
        _now: u64,
    ) -> OpResult {
        let target = resolve(uri, env, scenario)?;
        cim::delete(&mut self.machine, &target.class, &target.owned_selectors())
            .map_err(cim_fault)?;
        let header = self.response_header(env, ns::action::DELETE_RESPONSE);
        Ok(respond(header, Body::Empty))
    }
}

/// The instance as a Get or Put answers it: whole, or the fragment the request named.
pub(super) fn representation(
    env: &Envelope<'_>,
    inst: &Arc<Instance>,
    target: &Target,
    memo: &mut crate::xml_memo::XmlMemo,
) -> Result<Body<'static>, Fail> {
    Ok(match &env.header.fragment_transfer {
        Some(fragment) => Body::Fragment(fragment_tree(
            inst,
            &fragment.expression,
            fragment.dialect.as_deref(),
            &target.style,
        )?),
        None => memo.instance_body(inst, &target.style),
    })
}

/// The property a fragment expression names: `Prop`, `Prop/text()`, `/Class/Prop`.
pub(super) fn fragment_property(expression: &str, dialect: Option<&str>) -> Result<String, Fail> {
    if let Some(d) = dialect {
        if d != ns::dialect::XPATH && d != "http://www.w3.org/TR/1999/REC-xpath-19991116" {
            return Err(faults::fragment_dialect(format!(
                "fragment dialect `{d}` is not supported (XPath is)"
            )));
        }
    }
    let e = expression.trim().trim_end_matches("/text()");
    let last = e.rsplit('/').next().unwrap_or(e);
    let last = last.rsplit(':').next().unwrap_or(last);
    if last.is_empty() || !last.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(faults::invalid_fragment(format!(
            "fragment `{expression}` is not a property path this service understands"
        )));
    }
    Ok(last.to_owned())
}

pub(super) fn fragment_tree(
    inst: &Instance,
    expression: &str,
    dialect: Option<&str>,
    style: &UriStyle,
) -> Result<Tree<'static>, Fail> {
    let prop = fragment_property(expression, dialect)?;
    let Some(value) = inst.get(&prop) else {
        return Err(faults::invalid_fragment(format!(
            "{} has no property `{prop}`",
            inst.class
        )));
    };
    let text_only = expression.trim().ends_with("/text()");
    let mut b = wsman::TreeBuilder::with_capacity(4);
    b.start(wsman::Name::new(ns::WSMAN, "XmlFragment").with_prefix("w"));
    let single = Instance {
        class: inst.class.clone(),
        keys: Vec::new(),
        properties: vec![machine::cim::Property {
            name: prop.clone().into(),
            value: value.clone(),
        }],
    };
    if text_only {
        b.text(cimxml::value_text(value).unwrap_or_default());
    } else {
        let tree = cimxml::instance_tree(&single, style);
        for c in tree.root().children() {
            c.copy_into(&mut b);
        }
    }
    b.end();
    Ok(b.finish())
}
