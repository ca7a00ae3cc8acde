//! Identify (DSP0226 §11): the scenario's identity; SecurityProfiles only to an
//! authenticated client. The answer depends on the scenario alone, so its body is
//! written once per scenario (for each of the two audiences) and copied afterwards.

use std::borrow::Cow;

use wsman::body::{Body, IdentifyResponse};
use wsman::write::{XmlWriter, write_body};
use wsman::{Envelope, Header};

use crate::mock::Inner;
use crate::scenario::Scenario;

impl Inner {
    pub(super) fn identify(
        &mut self,
        authenticated: bool,
        scenario: &Scenario,
    ) -> Envelope<'static> {
        let written = self.identify_answers[usize::from(authenticated)]
            .get_or_insert_with(|| {
                let mut w = XmlWriter::body_fragment();
                write_body(&mut w, &identify_body(authenticated, scenario));
                String::from_utf8(w.into_inner()).unwrap_or_default().into()
            })
            .clone();
        Envelope {
            header: Header::default(),
            body: Body::Xml(written),
            extra: Vec::new(),
            meta: Default::default(),
        }
    }
}

/// The IdentifyResponse of `scenario`, with its SecurityProfiles when `authenticated`.
pub(crate) fn identify_body(authenticated: bool, scenario: &Scenario) -> Body<'static> {
    let id = &scenario.identify;
    Body::IdentifyResponse(IdentifyResponse {
        protocol_versions: vec![Cow::Owned(id.protocol_version.clone())],
        product_vendor: Some(Cow::Owned(id.product_vendor.clone())),
        product_version: Some(Cow::Owned(id.product_version.clone())),
        security_profiles: authenticated.then(|| {
            id.security_profiles
                .iter()
                .map(|p| Cow::Owned(p.clone()))
                .collect()
        }),
        other: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The written-once answer is the IdentifyResponse written in place, for both
    /// audiences; a new scenario (as `Mock::load` clears the cache) is answered anew.
    #[test]
    fn identify_answers_are_written_once_as_in_place() {
        let mut scenario = Scenario::default_scenario();
        let mock = crate::mock::Mock::new(
            scenario.clone(),
            std::sync::Arc::new(crate::journal::Journal::default()),
        )
        .unwrap();
        let in_place = |authenticated: bool, scenario: &Scenario| {
            Envelope {
                header: Header::default(),
                body: identify_body(authenticated, scenario),
                extra: Vec::new(),
                meta: Default::default(),
            }
            .to_xml()
        };
        for round in 0..2 {
            for authenticated in [false, true] {
                let answer = mock.lock().identify(authenticated, &scenario).to_xml();
                assert_eq!(
                    answer,
                    in_place(authenticated, &scenario),
                    "{round} {authenticated}"
                );
                assert_eq!(answer.contains("SecurityProfiles"), authenticated);
            }
        }
        scenario.identify.product_vendor = "Another Vendor".into();
        mock.load(scenario.clone()).unwrap();
        let answer = mock.lock().identify(true, &scenario).to_xml();
        assert!(answer.contains("Another Vendor"), "{answer}");
    }
}
