//! What a request addresses: the class a resource URI names (DMTF, vendor, WMI or a
//! `[wsman.resources]` URI), its selectors, and how answers name classes.

use machine::cim::Instance;
use wsman::{Envelope, ns};

use super::faults::{self, Fail};
use crate::cimxml::{self, UriStyle};
use crate::scenario::Scenario;

/// What a resource URI and its selectors address.
pub(super) struct Target<'e> {
    pub(super) class: String,
    /// Borrowed from the request (`__cimnamespace` left out).
    pub(super) selectors: Vec<(&'e str, &'e str)>,
    pub(super) style: UriStyle,
}

impl Target<'_> {
    /// The selectors as the owned pairs `machine::cim`'s writing operations take.
    pub(super) fn owned_selectors(&self) -> Vec<(String, String)> {
        self.selectors
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }
}

pub(super) fn resolve<'e>(
    uri: &str,
    env: &'e Envelope<'_>,
    scenario: &Scenario,
) -> Result<Target<'e>, Fail> {
    if uri.is_empty() {
        return Err(faults::no_resource("no wsman:ResourceURI"));
    }
    let class = class_of(uri, scenario)
        .ok_or_else(|| faults::no_resource(format!("no resource at `{uri}`")))?;
    let style = if uri.starts_with(ns::WMI) {
        wmi_style(scenario)
    } else {
        dmtf_style(scenario)
    };
    if let Some(d) = wsman::addressing::duplicate_selector(&env.header.selectors) {
        return Err(faults::duplicate_selector(format!(
            "selector `{d}` appears twice"
        )));
    }
    let mut selectors = Vec::new();
    for s in &env.header.selectors {
        let Some(v) = s.as_text() else {
            return Err(faults::selector_not_text(format!(
                "selector `{}` is an endpoint reference; this class takes text keys",
                s.name
            )));
        };
        if s.name == "__cimnamespace" {
            let wanted = v.trim().replace('\\', "/").to_ascii_lowercase();
            if !scenario
                .wsman
                .cim_namespaces
                .iter()
                .any(|n| n.to_ascii_lowercase() == wanted)
            {
                return Err(faults::unknown_cim_namespace(format!(
                    "CIM namespace `{v}` does not exist here"
                )));
            }
            continue;
        }
        selectors.push((&*s.name, v));
    }
    Ok(Target {
        class,
        selectors,
        style,
    })
}

/// The class a resource URI addresses: a `[wsman.resources]` entry's, or a CIM class
/// under the DMTF, a vendor or the WMI URI that the service serves.
pub(super) fn class_of(uri: &str, scenario: &Scenario) -> Option<String> {
    if let Some(class) = scenario.wsman.resource_class(uri) {
        return Some(class.to_owned());
    }
    let class = cim_class_of(uri, scenario)?;
    // A resource's class is served at the resource's URI only.
    (scenario.wsman.offers_class(&class) && !scenario.wsman.is_resource_class(&class))
        .then_some(class)
}

pub(super) fn cim_class_of(uri: &str, scenario: &Scenario) -> Option<String> {
    let plain = |class: &str| !class.is_empty() && !class.contains('/');
    for (class_prefix, uri_prefix) in &scenario.wsman.vendor_schemas {
        if let Some(class) = uri.strip_prefix(uri_prefix.as_str()) {
            // A vendor schema serves its own classes only.
            return (plain(class) && cimxml::starts_with_ignore_case(class, class_prefix))
                .then(|| class.to_owned());
        }
    }
    if let Some(class) = uri.strip_prefix(ns::CIM_SCHEMA) {
        // A class a vendor schema claims is not served under the DMTF URI.
        let vendor = scenario
            .wsman
            .vendor_schemas
            .keys()
            .any(|p| cimxml::starts_with_ignore_case(class, p));
        return (plain(class) && !vendor).then(|| class.to_owned());
    }
    if let Some(rest) = uri.strip_prefix(ns::WMI) {
        let (namespace, class) = rest.rsplit_once('/')?;
        let wanted = scenario
            .wsman
            .wmi_namespace
            .trim_matches('/')
            .replace('\\', "/");
        return (namespace.eq_ignore_ascii_case(&wanted) && !class.is_empty())
            .then(|| class.to_owned());
    }
    None
}

/// How answers name classes for a request that used a DMTF, vendor or resource URI.
pub(super) fn dmtf_style(scenario: &Scenario) -> UriStyle {
    UriStyle {
        vendor_schemas: scenario
            .wsman
            .vendor_schemas
            .iter()
            .map(|(c, u)| (c.clone(), u.clone()))
            .collect(),
        resources: resource_uris(scenario),
        ..UriStyle::dmtf()
    }
}

/// How answers name classes for a request that used a WMI URI.
pub(super) fn wmi_style(scenario: &Scenario) -> UriStyle {
    UriStyle {
        resources: resource_uris(scenario),
        ..UriStyle::wmi(scenario.wsman.wmi_namespace.clone())
    }
}

/// `[wsman.resources]` as (class, URI).
pub(super) fn resource_uris(scenario: &Scenario) -> Vec<(String, String)> {
    scenario
        .wsman
        .resources
        .iter()
        .map(|(u, c)| (c.clone(), u.clone()))
        .collect()
}

/// The instances the service shows: those of classes it serves (`[wsman] classes`
/// and the classes of `[wsman.resources]`).
pub(super) fn visible<I: std::borrow::Borrow<Instance>>(
    instances: Vec<I>,
    scenario: &Scenario,
) -> Vec<I> {
    let w = &scenario.wsman;
    if w.classes.is_none() {
        return instances;
    }
    instances
        .into_iter()
        .filter(|i| {
            let class = &i.borrow().class;
            w.offers_class(class) || w.is_resource_class(class)
        })
        .collect()
}
