//! Invoke: a CIM method of a resource (`<resource URI>/<Method>` actions).

use std::borrow::Cow;

use machine::cim;
use wsman::Envelope;
use wsman::body::{Body, Method};

use super::faults::{self, OpResult, cim_fault};
use super::resource::resolve;
use super::write::respond;
use crate::cimxml;
use crate::mock::Inner;
use crate::scenario::Scenario;

impl Inner {
    pub(super) fn invoke(
        &mut self,
        env: &Envelope<'_>,
        uri: &str,
        method: &str,
        scenario: &Scenario,
        now: u64,
    ) -> OpResult {
        let target = resolve(uri, env, scenario)?;
        let params: Vec<(String, String)> = match &env.body {
            Body::MethodInput(m) if m.method == method => cimxml::properties_of(m.element.root())
                .into_iter()
                .map(|(n, v)| (n, v.unwrap_or_default()))
                .collect(),
            Body::MethodInput(m) => {
                return Err(faults::action_mismatch(format!(
                    "the body is {}_INPUT but the action names {method}",
                    m.method
                )));
            }
            Body::Empty => Vec::new(),
            _ => {
                return Err(faults::malformed_body(format!(
                    "Invoke of {method} needs a {method}_INPUT body"
                )));
            }
        };
        let out = cim::invoke(
            &mut self.machine,
            &target.class,
            &target.owned_selectors(),
            method,
            &params,
            now,
        )
        .map_err(cim_fault)?;
        let class_uri = target.style.uri(&target.class);
        let mut b = wsman::TreeBuilder::with_capacity(out.len() + 1);
        b.start(wsman::Name::new(class_uri.clone(), format!("{method}_OUTPUT")).with_prefix("p"));
        for (name, value) in &out {
            let text = cimxml::value_text(value).unwrap_or_default();
            b.leaf(
                wsman::Name::new(class_uri.clone(), name.clone()).with_prefix("p"),
                text,
            );
        }
        let header = self.response_header(
            env,
            format!("{}Response", env.header.action.as_deref().unwrap_or("")),
        );
        Ok(respond(
            header,
            Body::MethodOutput(Method {
                method: Cow::Owned(method.to_owned()),
                element: b.finish(),
            }),
        ))
    }
}
