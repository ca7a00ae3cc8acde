//! WS-Enumeration: Enumerate (with filters: selector, WQL/CQL, association), Pull,
//! Release, Renew and GetStatus of the open enumerations, which live in the mock's
//! locked state until they end, are released or expire.
//!
//! `enumerate`, `take_fitting` and `item_size` are on the hot path and are kept as
//! they were moved (their few faults still built inline with `fault`/`fault_d`) so
//! that performance work on them applies as is.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use machine::cim::{self, Instance, Reference};
use wsman::body::{
    Body, EnumerateResponse, EnumerationContextBody, EnumerationMode, Item, PullResponse,
};
use wsman::decode::Charset;
use wsman::{Envelope, FaultKind, ns};

use super::faults::{self, Fail, OpResult, cim_fault, fault, fault_d, filter_fault};
use super::resource::{class_of, dmtf_style, resolve, visible, wmi_style};
use super::write::{new_uuid, respond};
use crate::cimxml::{self, UriStyle};
use crate::filter;
use crate::mock::Inner;
use crate::scenario::{Flavour, Scenario};

/// An open enumeration: the items not pulled yet (a snapshot taken at Enumerate).
pub(crate) struct Enumeration {
    /// Who opened it (the per-user quota counts by it).
    pub(crate) owner: String,
    pub(crate) items: VecDeque<Item<'static>>,
    /// How many items the enumeration had at the start (TotalItemsCountEstimate).
    pub(crate) total: u64,
    pub(crate) expires_at: u64,
    pub(crate) lifetime_ms: u64,
}

impl Inner {
    pub(super) fn enumerate(
        &mut self,
        env: &Envelope<'_>,
        uri: &str,
        owner: &str,
        scenario: &Scenario,
        charset: Charset,
        now: u64,
    ) -> OpResult {
        let Body::Enumerate(e) = &env.body else {
            return Err(fault(
                FaultKind::SchemaValidationError,
                "an Enumerate needs a wsen:Enumerate body",
            ));
        };
        let mode = match &e.mode {
            None => None,
            Some(EnumerationMode::Epr) => Some(EnumerationMode::Epr),
            Some(EnumerationMode::ObjectAndEpr) => Some(EnumerationMode::ObjectAndEpr),
            Some(EnumerationMode::Other(m)) => {
                return Err(fault_d(
                    FaultKind::UnsupportedFeature,
                    "EnumerationMode",
                    format!("enumeration mode `{m}` is not supported"),
                ));
            }
        };
        let lifetime_ms = match &e.expires {
            None => scenario.wsman.enumeration_expiry_s * 1000,
            Some(x) => match x.parse::<wsman::XsDuration>().ok().and_then(|d| d.to_std()) {
                Some(d) if !d.is_zero() => d.as_millis() as u64,
                _ => {
                    return Err(fault(
                        FaultKind::UnsupportedExpirationType,
                        format!(
                            "Expires `{x}` is not a positive duration (dateTime expiry is not supported)"
                        ),
                    ));
                }
            },
        };
        if self.enumerations.len() >= scenario.wsman.max_enumerations {
            return Err(fault(
                FaultKind::QuotaLimit,
                "too many open enumerations; Release some",
            ));
        }
        // One user cannot take the whole service's contexts and lock the others out.
        let mine = self
            .enumerations
            .values()
            .filter(|e| e.owner == owner)
            .count();
        if mine >= scenario.wsman.max_enumerations_per_user {
            return Err(fault(
                FaultKind::QuotaLimit,
                format!(
                    "`{owner}` has {mine} open enumerations, the most one user may have; \
                     Release some"
                ),
            ));
        }
        check_dialect(e.filter.as_ref(), scenario)?;
        let items: VecDeque<Item<'static>> =
            match self.collect(env, uri, e.filter.as_ref(), scenario, now) {
                Ok((instances, style)) => {
                    // Each item is written once, here: its length is its size in
                    // take_fitting, and a later Pull copies the text.
                    let shape = match &mode {
                        None => cimxml::ItemShape::Object,
                        Some(EnumerationMode::Epr) => cimxml::ItemShape::Epr,
                        Some(_) => cimxml::ItemShape::ObjectAndEpr,
                    };
                    instances
                        .iter()
                        .enumerate()
                        .map(|(slot, i)| self.xml_memo.item(slot, i, &style, shape))
                        .collect()
                }
                // The shell resource (runspace pools) only where no CIM resource is.
                Err(f) => match self.psrp_shell_items(uri, e.filter.as_ref(), owner) {
                    Some(items) => items.into_iter().map(|x| Item::Xml(x.into())).collect(),
                    None => return Err(f),
                },
            };
        let total = items.len() as u64;
        let context = new_uuid();
        let mut enumeration = Enumeration {
            owner: owner.to_owned(),
            items,
            total,
            expires_at: now + lifetime_ms,
            lifetime_ms,
        };
        let mut header = self.response_header(env, ns::action::ENUMERATE_RESPONSE);
        if env.header.request_total_items_count_estimate {
            header.total_items_count_estimate = Some(total);
        }
        let mut response = EnumerateResponse {
            context: Some(Cow::Owned(context.clone())),
            ..Default::default()
        };
        if e.optimize {
            let max = e.max_elements.unwrap_or(1).max(1) as usize;
            let budget = env.header.max_envelope_size;
            let probe = Envelope {
                header: header.clone(),
                body: Body::Empty,
                extra: Vec::new(),
                meta: Default::default(),
            };
            let items = take_fitting(
                &mut enumeration.items,
                max,
                budget,
                probe.to_xml_bytes().len() + 600,
                charset,
            )?;
            response.items = Some(items);
            if enumeration.items.is_empty() {
                response.end_of_sequence = true;
            }
        }
        // An enumeration that ended in its first answer is over: clients do not
        // Release it (WinRM does not keep it either), and keeping it would let such
        // clients exhaust the context quota.
        if !response.end_of_sequence {
            self.enumerations.insert(context, enumeration);
        }
        Ok(respond(header, Body::EnumerateResponse(response)))
    }

    /// The instances an Enumerate covers, after the filter.
    #[allow(clippy::type_complexity)]
    pub(super) fn collect(
        &mut self,
        env: &Envelope<'_>,
        uri: &str,
        filter: Option<&wsman::body::Filter<'_>>,
        scenario: &Scenario,
        now: u64,
    ) -> Result<(Vec<Arc<Instance>>, UriStyle), Fail> {
        if let Some(base) = uri.strip_suffix('*').filter(|b| b.ends_with('/')) {
            // All classes: DMTF's `wscim/1/*` (DSP0227), and the same under the CIM
            // schema, WMI (`.../wmi/root/hardware/*`, as WinRM clients write it) and
            // vendor prefixes. Answers name classes the way the request did.
            let wmi_all = format!(
                "{}{}/",
                ns::WMI,
                scenario
                    .wsman
                    .wmi_namespace
                    .trim_matches('/')
                    .replace('\\', "/")
            );
            let no_classes = scenario.wsman.classes.as_ref().is_some_and(Vec::is_empty);
            let style = if no_classes {
                // A service that serves no CIM class has no all-classes resource.
                return Err(faults::no_resource(format!("no resource at `{uri}`")));
            } else if base == "http://schemas.dmtf.org/wbem/wscim/1/"
                || base == ns::CIM_SCHEMA
                || scenario.wsman.vendor_schemas.values().any(|v| v == base)
            {
                dmtf_style(scenario)
            } else if base.eq_ignore_ascii_case(&wmi_all) {
                wmi_style(scenario)
            } else {
                return Err(faults::no_resource(format!("no resource at `{uri}`")));
            };
            let Some(f) = filter else {
                return Err(faults::filtering_required(
                    "enumerating all classes needs an association filter",
                ));
            };
            return self
                .associated(f, scenario, now)
                .map(|v| (shared(visible(v, scenario)), style));
        }
        let target = resolve(uri, env, scenario)?;
        if let Some(f) = filter {
            if f.dialect() == ns::dialect::ASSOCIATION {
                // Under a class URI (rather than `wscim/1/*`), only instances of that
                // class or its subclasses are answered (DSP0227 §8.2).
                let found = self.associated(f, scenario, now)?;
                let kept = found
                    .into_iter()
                    .filter(|i| cim::is_subclass(&i.class, &target.class))
                    .collect();
                return Ok((shared(visible(kept, scenario)), target.style));
            }
        }
        let is_subclass = |a: &str, b: &str| cim::is_subclass(a, b);
        let compiled =
            filter::compile_with(filter, &target.class, &is_subclass).map_err(filter_fault)?;
        // Shared instances: a numeric sensor's unchanged since the last answer is the
        // same `Arc`, which the XML memo recognises without comparing it.
        let instances = cim::enumerate_shared(&mut self.machine, &target.class, now, true)
            .map_err(cim_fault)?;
        let case = match scenario.wsman.flavour {
            Flavour::Windows => filter::selector::Case::Insensitive,
            Flavour::Dmtf => filter::selector::Case::Sensitive,
        };
        let env = filter::Env::new(&is_subclass).with_selector_case(case);
        let out = compiled
            .apply_shared(instances, &env)
            .map_err(filter_fault)?;
        // A polymorphic enumeration does not show subclasses the service does not serve.
        Ok((visible(out, scenario), target.style))
    }

    pub(super) fn associated(
        &mut self,
        f: &wsman::body::Filter<'_>,
        scenario: &Scenario,
        now: u64,
    ) -> Result<Vec<Instance>, Fail> {
        let wsman::body::FilterContent::Association(a) = &f.content else {
            return Err(faults::bad_association_filter(
                "the association filter has no AssociatedInstances or AssociationInstances",
            ));
        };
        let object_uri = a.object.resource_uri.as_deref().unwrap_or("");
        let object_class = class_of(object_uri, scenario).ok_or_else(|| {
            faults::bad_association_filter(format!(
                "the association object's resource URI `{object_uri}` is not a known class"
            ))
        })?;
        let keys: Vec<(String, String)> = a
            .object
            .selectors
            .iter()
            .filter(|s| s.name != "__cimnamespace")
            .filter_map(|s| s.as_text().map(|v| (s.name.to_string(), v.to_owned())))
            .collect();
        let object = Reference {
            class: object_class,
            keys,
        };
        // In AssociationInstances (DSP0227's References), openwsman and Intel AMT
        // clients name the association class in ResultClassName. When no
        // AssociationClassName is given and ResultClassName is an association class,
        // read it that way; otherwise ResultClassName filters the far end.
        let names_association = |c: &str| cim::class(c).is_some_and(|info| info.is_association);
        let (assoc_class, result_class) = match (&a.association_class_name, &a.result_class_name) {
            (None, Some(r)) if a.association_instances && names_association(r) => {
                (Some(r.as_ref()), None)
            }
            (ac, rc) => (ac.as_deref(), rc.as_deref()),
        };
        let result_role = a.result_role.as_deref();
        let (assocs, ends) = cim::associations(
            &mut self.machine,
            &object,
            assoc_class,
            a.role.as_deref(),
            result_class,
            result_role,
            now,
        )
        .map_err(cim_fault)?;
        Ok(if a.association_instances {
            assocs
        } else {
            ends
        })
    }

    pub(super) fn context_of<'e>(&self, env: &'e Envelope<'_>) -> Result<&'e str, Fail> {
        let ctx = match &env.body {
            Body::Pull(p) => Some(p.context.as_ref()),
            Body::Release(c) | Body::EnumerationRenew(c) | Body::EnumerationGetStatus(c) => {
                c.context.as_deref()
            }
            _ => None,
        };
        ctx.map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| faults::malformed_body("the request has no wsen:EnumerationContext"))
    }

    pub(super) fn pull(&mut self, env: &Envelope<'_>, charset: Charset, now: u64) -> OpResult {
        let Body::Pull(p) = &env.body else {
            return Err(faults::malformed_body("a Pull needs a wsen:Pull body"));
        };
        let ctx = self.context_of(env)?.to_owned();
        let mut header = self.response_header(env, ns::action::PULL_RESPONSE);
        let Some(mut enumeration) = self.enumerations.remove(&ctx) else {
            return Err(faults::unknown_context(&ctx));
        };
        let max = p.max_elements.unwrap_or(1).max(1) as usize;
        let mut budget = env.header.max_envelope_size;
        if let Some(chars) = p.max_characters {
            budget = Some(budget.map_or(chars, |b| b.min(chars)));
        }
        if env.header.request_total_items_count_estimate {
            // DSP0226 §8.2.2: a Pull may ask for the estimate too.
            header.total_items_count_estimate = Some(enumeration.total);
        }
        let probe = Envelope {
            header: header.clone(),
            body: Body::Empty,
            extra: Vec::new(),
            meta: Default::default(),
        };
        let items = match take_fitting(
            &mut enumeration.items,
            max,
            budget,
            probe.to_xml_bytes().len() + 400,
            charset,
        ) {
            Ok(items) => items,
            Err(f) => {
                // The context survives an item too large to send, as the client may
                // retry with a larger MaxEnvelopeSize.
                enumeration.expires_at = now + enumeration.lifetime_ms;
                self.enumerations.insert(ctx, enumeration);
                return Err(f);
            }
        };
        let end = enumeration.items.is_empty();
        let response = PullResponse {
            context: (!end).then(|| Cow::Owned(ctx.clone())),
            items,
            end_of_sequence: end,
        };
        if !end {
            enumeration.expires_at = now + enumeration.lifetime_ms;
            self.enumerations.insert(ctx, enumeration);
        }
        Ok(respond(header, Body::PullResponse(response)))
    }

    pub(super) fn release(&mut self, env: &Envelope<'_>) -> OpResult {
        let ctx = self.context_of(env)?.to_owned();
        if self.enumerations.remove(&ctx).is_none() {
            return Err(faults::unknown_context(&ctx));
        }
        let header = self.response_header(env, ns::action::RELEASE_RESPONSE);
        Ok(respond(header, Body::Empty))
    }

    pub(super) fn renew(&mut self, env: &Envelope<'_>, now: u64) -> OpResult {
        let ctx = self.context_of(env)?.to_owned();
        let requested = match &env.body {
            Body::EnumerationRenew(c) => c.expires.as_deref().map(|x| {
                x.parse::<wsman::XsDuration>()
                    .ok()
                    .and_then(|d| d.to_std())
                    .map(|d| d.as_millis() as u64)
            }),
            _ => None,
        };
        let lifetime = match requested {
            Some(Some(ms)) if ms > 0 => Some(ms),
            Some(_) => {
                return Err(faults::bad_expiry("Expires must be a positive duration"));
            }
            None => None,
        };
        let Some(e) = self.enumerations.get_mut(&ctx) else {
            return Err(faults::unknown_context(&ctx));
        };
        if let Some(ms) = lifetime {
            e.lifetime_ms = ms;
        }
        e.expires_at = now + e.lifetime_ms;
        let expires = wsman::XsDuration::from_std(Duration::from_millis(e.lifetime_ms)).to_string();
        let header = self.response_header(env, ns::action::ENUM_RENEW_RESPONSE);
        Ok(respond(
            header,
            Body::EnumerationRenewResponse(EnumerationContextBody {
                context: Some(Cow::Owned(ctx)),
                expires: Some(Cow::Owned(expires)),
            }),
        ))
    }

    pub(super) fn get_status(&mut self, env: &Envelope<'_>, now: u64) -> OpResult {
        let ctx = self.context_of(env)?.to_owned();
        let Some(e) = self.enumerations.get(&ctx) else {
            return Err(faults::unknown_context(&ctx));
        };
        let left =
            wsman::XsDuration::from_std(Duration::from_millis(e.expires_at.saturating_sub(now)))
                .to_string();
        let header = self.response_header(env, ns::action::ENUM_GET_STATUS_RESPONSE);
        Ok(respond(
            header,
            Body::EnumerationGetStatusResponse(EnumerationContextBody {
                context: None,
                expires: Some(Cow::Owned(left)),
            }),
        ))
    }
}

/// Checks an Enumerate filter's dialect against `[wsman] filter_dialects`.
pub(super) fn check_dialect(
    filter: Option<&wsman::body::Filter<'_>>,
    scenario: &Scenario,
) -> Result<(), Fail> {
    let Some(f) = filter else { return Ok(()) };
    let w = &scenario.wsman;
    if w.filter_dialects.is_empty() {
        return Err(faults::filtering_not_supported());
    }
    let dialect = f.dialect();
    if !w.offers_dialect(dialect) {
        return Err(faults::dialect_unavailable(format!(
            "filter dialect {dialect} is not supported; supported dialects: {}",
            crate::scenario::FILTER_DIALECTS
                .iter()
                .filter(|(_, uri)| w.offers_dialect(uri))
                .map(|(_, uri)| *uri)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// Takes up to `max` items whose written size keeps the answer within `budget`.
pub(super) fn take_fitting(
    items: &mut VecDeque<Item<'static>>,
    max: usize,
    budget: Option<u64>,
    overhead: usize,
    charset: Charset,
) -> Result<Vec<Item<'static>>, Fail> {
    // Sizes are measured in UTF-8; a UTF-16 answer takes at most twice as many octets
    // (every character of one to three UTF-8 octets is one 2-octet unit, and a 4-octet
    // one is two units), plus its BOM.
    let wire = |utf8: u64| match charset {
        Charset::Utf8 => utf8,
        _ => 2 * utf8,
    };
    let mut out = Vec::new();
    let mut used = wire(overhead as u64) + u64::from(charset != Charset::Utf8) * 2;
    while out.len() < max {
        let Some(item) = items.front() else { break };
        if let Some(b) = budget {
            let size = wire(item_size(item) as u64);
            if used + size > b {
                if out.is_empty() {
                    return Err(fault_d(
                        FaultKind::EncodingLimit,
                        "MaxEnvelopeSize",
                        format!(
                            "the next item alone ({size} bytes) does not fit in MaxEnvelopeSize {b}"
                        ),
                    ));
                }
                break;
            }
            used += size;
        }
        if let Some(item) = items.pop_front() {
            out.push(item);
        }
    }
    Ok(out)
}

pub(super) fn item_size(item: &Item<'_>) -> usize {
    match item {
        Item::Object(t) => wsman::write::write_tree(t).len(),
        Item::Epr(_) => 700,
        Item::ObjectAndEpr(t, _) => wsman::write::write_tree(t).len() + 750,
        Item::Xml(x) => x.len(),
    }
}

/// Instances built for one answer, behind the `Arc`s the memo takes.
fn shared(instances: Vec<Instance>) -> Vec<Arc<Instance>> {
    instances.into_iter().map(Arc::new).collect()
}
