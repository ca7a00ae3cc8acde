//! Identify (DSP0226 §11): the scenario's identity; SecurityProfiles only to an
//! authenticated client.

use std::borrow::Cow;

use wsman::body::{Body, IdentifyResponse};
use wsman::{Envelope, Header};

use crate::mock::Inner;
use crate::scenario::Scenario;

impl Inner {
    pub(super) fn identify(
        &mut self,
        authenticated: bool,
        scenario: &Scenario,
    ) -> Envelope<'static> {
        let id = &scenario.identify;
        Envelope {
            header: Header::default(),
            body: Body::IdentifyResponse(IdentifyResponse {
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
            }),
            extra: Vec::new(),
            meta: Default::default(),
        }
    }
}
