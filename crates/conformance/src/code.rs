//! Cases whose logic does not fit data: Rust functions registered under the case IDs
//! of the suite files (which still hold their title, clause, level and profiles; a
//! suite case says `code = true`). Every step goes through [`Ctx`], which records the
//! wire transcript and draws MessageIDs from the run's seed.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use client::{Client, ClientError, Exchange, RawRequest, build};
use rand::rngs::StdRng;
use wsman::ns;

use crate::eval::{Answer, Mismatch};
use crate::report::{WireLeg, wire};
use crate::template;
use crate::watch::{CONFIRM_AFTER, CaseWatch};

/// Why a case did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Expectations that did not hold (the level decides fail, warn or skip).
    Mismatch(Vec<Mismatch>),
    /// The case does not apply to this target.
    Skip(String),
    /// The harness could not run the case.
    Error(String),
}

impl Finding {
    /// One mismatch.
    pub fn mismatch(
        what: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Finding {
        Finding::Mismatch(vec![Mismatch {
            what: what.into(),
            expected: expected.into(),
            got: got.into(),
        }])
    }
}

/// What a case runs with: the client, its seeded generator, captured variables and
/// the transcript so far.
pub struct Ctx {
    /// The client for the subject.
    pub client: Client,
    /// The case's generator (seeded from the run's seed and the case ID).
    pub rng: StdRng,
    /// Variables captured by data steps.
    pub vars: BTreeMap<String, String>,
    /// Every round trip so far.
    pub transcript: Vec<WireLeg>,
    /// The IPMI target, when the run has one.
    pub ipmi: Option<std::sync::Arc<crate::ipmi::IpmiOptions>>,
    /// The IPMI sessions (sockets) the case opened; closed and transcribed at its end.
    pub ipmi_sessions: Vec<client::ipmi::IpmiSession>,
    /// Sessions of data steps by (framing, role, privilege).
    pub ipmi_keys: BTreeMap<String, crate::ipmi::Handle>,
    /// What discovery found (the resources of the roles).
    pub caps: std::sync::Arc<crate::discover::Capabilities>,
    /// The rules every answer is held to, and what this case's answers broke.
    pub judge: crate::rules::Judge,
    /// Enumerations the case opened and has not seen end or released: (resource URI,
    /// context). Released when the case ends, so a target with few contexts is not
    /// starved by the cases before.
    pub open_enumerations: Vec<(String, String)>,
    /// Whether the WS-Man target is still there (shared by the cases of a run).
    pub watch: CaseWatch,
    /// What the case changed on the target and how it put it back, in words
    /// ("deleted SEL entry 0x0012; added back as 0x0031"), for the report.
    pub changes: Vec<String>,
    /// What IPMI discovery learnt of the BMC (devices, payloads, optional commands).
    pub ipmi_caps: std::sync::Arc<crate::ipmi::IpmiCaps>,
    /// The run's event sink (started when a selected case needs eventing).
    pub sink: Option<std::sync::Arc<client::sink::EventSink>>,
    /// Subscriptions the case made and has not ended: (resource URI, the answer).
    /// Unsubscribed when the case ends, so a failed case leaves none behind.
    pub subscriptions: Vec<(String, client::eventing::Subscribed)>,
    /// The event sink paths (`/sink/TOKEN`) the case's subscriptions delivered to: what
    /// arrived there joins the case's transcript when it ends.
    pub sink_tokens: Vec<String>,
}

impl Ctx {
    /// Records a change the case made to the target (and whether it was undone).
    pub fn record_change(&mut self, what: impl Into<String>) {
        self.changes.push(what.into());
    }

    /// A fresh seeded MessageID.
    pub fn message_id(&mut self) -> String {
        template::seeded_uuid(&mut self.rng)
    }

    /// A request builder for `resource` (a CIM class name or a URI) with a seeded
    /// MessageID; returns the MessageID too.
    pub fn request(&mut self, resource: &str) -> (build::Request, String) {
        let mid = self.message_id();
        let r = self
            .client
            .request(template::resource_uri(resource))
            .message_id(mid.clone());
        (r, mid)
    }

    /// A request builder for the instance discovery found (its URI and selectors) with
    /// a seeded MessageID; returns the MessageID too.
    pub fn instance_request(&mut self, found: &crate::discover::Found) -> (build::Request, String) {
        let (r, mid) = self.request(&found.uri);
        let r = r.selectors(found.selectors.iter().cloned());
        (r, mid)
    }

    /// Sends a raw request and records it. An answer that never came is a mismatch
    /// (the target's doing); a request that cannot be made is a harness error.
    ///
    /// A target that no longer accepts connections is confirmed once (the same request
    /// again after [`CONFIRM_AFTER`]: a refused connection carried nothing) and then
    /// declared gone for the whole run ([`CaseWatch`]); from then on nothing is sent
    /// and the finding is the run's one "stopped answering" error.
    pub async fn send_raw(&mut self, req: RawRequest) -> Result<Exchange, Finding> {
        let body = req.body.clone();
        if let Some(lost) = self.watch.refuse() {
            return Err(Finding::Error(lost));
        }
        self.watch.sending();
        let mut sent = self.client.send_raw(req.clone()).await;
        if let Err(e) = &sent {
            // A connect that timed out already waited a whole deadline: no second one.
            if e.is_unreachable() && !e.is_timeout() {
                tokio::time::sleep(CONFIRM_AFTER).await;
                if let Some(lost) = self.watch.refuse() {
                    return Err(Finding::Error(lost));
                }
                sent = self.client.send_raw(req).await;
            }
        }
        self.watch.done(match &sent {
            Ok(ex) => Some(ex.response.is_some()),
            // The connection closed before the request could even be sent.
            Err(ClientError::Http(_)) => Some(false),
            Err(_) => None,
        });
        match sent {
            Ok(ex) => {
                self.transcript.extend(wire(&ex));
                self.judge.judge(&body, &ex);
                self.track_enumerations(&body, &ex);
                Ok(ex)
            }
            Err(ClientError::Timeout {
                after,
                phase: client::Phase::Exchange,
            }) => Err(Finding::mismatch(
                "answer",
                "an HTTP answer",
                format!(
                    "no answer within the request deadline of {}",
                    crate::run::seconds(after)
                ),
            )),
            Err(e) if e.is_unreachable() => Err(Finding::Error(self.watch.declare(&e))),
            Err(e @ ClientError::Http(_)) => {
                Err(Finding::mismatch("answer", "an HTTP answer", e.to_string()))
            }
            Err(e) => Err(Finding::Error(e.to_string())),
        }
    }

    /// Notes the enumeration contexts an answer opens and the ones a request ends.
    fn track_enumerations(&mut self, request: &[u8], ex: &Exchange) {
        let Some(text) = wsman::decode(request, None).ok() else {
            return;
        };
        let Ok(doc) = roxmltree::Document::parse(&text) else {
            return;
        };
        let find = |local: &str| {
            doc.descendants()
                .find(|n| n.tag_name().name() == local)
                .map(|n| crate::path::text(&n))
        };
        let action = find("Action").unwrap_or_default();
        let uri = find("ResourceURI").unwrap_or_default();
        let asked = find("EnumerationContext");
        let answer = Answer::new(ex);
        let opened = ["EnumerateResponse", "PullResponse"].iter().find_map(|r| {
            let ended = answer.count(&format!("s:Body/wsen:{r}/wsman:EndOfSequence")) > 0
                || answer.count(&format!("s:Body/wsen:{r}/wsen:EndOfSequence")) > 0;
            let ctx = answer.value(&format!("s:Body/wsen:{r}/wsen:EnumerationContext"));
            Some((ended, ctx)).filter(|_| answer.count(&format!("s:Body/wsen:{r}")) > 0)
        });
        let pulled_or_released = action == ns::action::PULL || action == ns::action::RELEASE;
        if let (true, Some(old)) = (pulled_or_released, &asked) {
            if ex.fault().is_none() || action == ns::action::RELEASE {
                self.open_enumerations.retain(|(_, c)| c != old);
            }
        }
        if let Some((false, Some(ctx))) = opened {
            if !uri.is_empty() && !self.open_enumerations.iter().any(|(_, c)| *c == ctx) {
                self.open_enumerations.push((uri, ctx));
            }
        }
    }

    /// Releases the enumerations the case left open (not recorded: housekeeping).
    pub async fn release_open_enumerations(&mut self) {
        for (uri, ctx) in std::mem::take(&mut self.open_enumerations) {
            if self.watch.lost().is_some() {
                return;
            }
            let _ = self
                .client
                .send(&self.client.request(uri).release(ctx))
                .await;
        }
    }

    /// Sends an envelope and records it.
    pub async fn send(&mut self, env: &wsman::Envelope<'_>) -> Result<Exchange, Finding> {
        self.send_raw(RawRequest::soap(env.to_xml())).await
    }
}

/// A boxed future borrowing the context.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Finding>> + Send + 'a>>;

/// A code case: its ID and its function.
#[derive(Clone, Copy)]
pub struct CodeFn {
    /// The case ID it is registered under.
    pub id: &'static str,
    /// The function.
    pub run: for<'a> fn(&'a mut Ctx) -> CaseFuture<'a>,
}

impl std::fmt::Debug for CodeFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CodeFn({})", self.id)
    }
}

impl PartialEq for CodeFn {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// A registry of code cases: `reg!["case.id" => function, ...]`.
macro_rules! reg {
    ($($id:literal => $f:ident),* $(,)?) => {
        &[$($crate::code::CodeFn { id: $id, run: |c| Box::pin($f(c)) }),*]
    };
}
pub(crate) use reg;

/// Every registered code case.
pub const REGISTRY: &[CodeFn] = &[
    CodeFn {
        id: "wsman.enumeration.pull.end-of-sequence",
        run: |c| Box::pin(pull_until_end(c)),
    },
    CodeFn {
        id: "wsman.enumeration.optimized.max-elements",
        run: |c| Box::pin(optimized_max_elements(c)),
    },
    CodeFn {
        id: "wsman.cim-ipmi.numeric-sensor.keys",
        run: |c| Box::pin(numeric_sensor_keys(c)),
    },
    CodeFn {
        id: "wsman.cim-ipmi.numeric-sensor.thresholds-ordered",
        run: |c| Box::pin(thresholds_ordered(c)),
    },
    CodeFn {
        id: "wsman.cim-ipmi.record-log.count",
        run: |c| Box::pin(record_log_count(c)),
    },
    CodeFn {
        id: "wsman.enumeration.expires.after-expiry",
        run: |c| Box::pin(expires_after_expiry(c)),
    },
    CodeFn {
        id: "wsman.enumeration.total-items-count-estimate",
        run: |c| Box::pin(total_items_count_estimate(c)),
    },
    CodeFn {
        id: "wsman.enumeration.pull.max-elements-exact",
        run: |c| Box::pin(pull_max_elements_exact(c)),
    },
    CodeFn {
        id: "wsman.filter.wql.where",
        run: |c| Box::pin(wql_where(c)),
    },
    CodeFn {
        id: "wsman.filter.wql.boolean",
        run: |c| Box::pin(wql_boolean(c)),
    },
    CodeFn {
        id: "wsman.filter.association.associated-instances",
        run: |c| Box::pin(associated_instances(c)),
    },
    CodeFn {
        id: "wsman.faults.max-envelope-size-respected",
        run: |c| Box::pin(max_envelope_size_respected(c)),
    },
    CodeFn {
        id: "wsman.http.utf16-request",
        run: |c| Box::pin(utf16_request(c)),
    },
    CodeFn {
        id: "wsman.http.chunked-request",
        run: |c| Box::pin(chunked_request(c)),
    },
    CodeFn {
        id: "wsman.http.keep-alive",
        run: |c| Box::pin(keep_alive(c)),
    },
    CodeFn {
        id: "wsman.http.content-type-soap",
        run: |c| Box::pin(content_type_soap(c)),
    },
    CodeFn {
        id: "wsman.cim-ipmi.numeric-sensor.type-and-units",
        run: |c| Box::pin(type_and_units(c)),
    },
    CodeFn {
        id: "wsman.cim-ipmi.numeric-sensor.reading-in-range",
        run: |c| Box::pin(reading_in_range(c)),
    },
    CodeFn {
        id: "wsman.cim-ipmi.log-record.keys",
        run: |c| Box::pin(log_record_keys(c)),
    },
    CodeFn {
        id: "wsman.cim-ipmi.system-device.every-sensor",
        run: |c| Box::pin(system_device_every_sensor(c)),
    },
    CodeFn {
        id: "wsman.cim-ipmi.numeric-sensor.system-name",
        run: |c| Box::pin(sensor_system_name(c)),
    },
    CodeFn {
        id: "wsman.transfer.get.body-is-class",
        run: |c| Box::pin(get_body_is_representation(c)),
    },
    CodeFn {
        id: "wsman.filter.selector",
        run: |c| Box::pin(selector_filter(c)),
    },
    CodeFn {
        id: "wsman.transfer.put.writable-property",
        run: |c| Box::pin(put_writable_property(c)),
    },
    CodeFn {
        id: "wsman.transfer.put.unchanged-accepted",
        run: |c| Box::pin(put_unchanged(c)),
    },
    CodeFn {
        id: "wsman.transfer.put.max-envelope-size-minimum",
        run: |c| Box::pin(put_max_envelope_size_minimum(c)),
    },
    CodeFn {
        id: "wsman.fragment.put.element-name",
        run: |c| Box::pin(fragment_put_property(c)),
    },
];

/// The code case registered under `id` (WS-Man, IPMI or cross-protocol).
pub fn lookup(id: &str) -> Option<CodeFn> {
    REGISTRY
        .iter()
        .chain(crate::ipmi_cases::REGISTRY)
        .chain(crate::cross::REGISTRY)
        .chain(crate::eventing::REGISTRY)
        .chain(crate::psrp::REGISTRY)
        .find(|c| c.id == id)
        .copied()
}

/// The resource discovery found for `role`; a case whose suite entry requires
/// `resource:ROLE` is skipped before it runs when there is none, so this is a guard.
fn role(ctx: &Ctx, role: &str) -> Result<crate::discover::Found, Finding> {
    ctx.caps.role(role).cloned().ok_or_else(|| {
        Finding::Skip(
            ctx.caps
                .why_missing(&format!("resource:{role}"))
                .map_or_else(
                    || format!("discovery found no `{role}` resource"),
                    str::to_owned,
                ),
        )
    })
}

/// The URI of the resource discovery found to enumerate.
fn enumerable(ctx: &Ctx) -> Result<String, Finding> {
    role(ctx, "enumerable").map(|f| f.uri)
}

/// An instance as property name → values (every element child, by local name; the
/// selectors of a reference property as `Prop.Selector`; the element name as
/// [`CLASS`]).
pub type Instance = BTreeMap<String, Vec<String>>;

/// The key of an [`Instance`] that holds the item's element name.
pub const CLASS: &str = "#class";

fn instances(answer: &Answer<'_>, items_path: &str) -> Vec<Instance> {
    let Some(doc) = answer.doc() else {
        return Vec::new();
    };
    let Ok(p) = crate::path::Path::parse(items_path) else {
        return Vec::new();
    };
    p.select(&doc)
        .iter()
        .map(|item| {
            let mut m = Instance::new();
            m.insert(CLASS.to_owned(), vec![item.tag_name().name().to_owned()]);
            for prop in item.children().filter(|c| c.is_element()) {
                let name = prop.tag_name().name();
                m.entry(name.to_owned())
                    .or_default()
                    .push(crate::path::text(&prop));
                // A reference property (an EPR): its selectors as `Prop.Selector`.
                for sel in prop
                    .descendants()
                    .filter(|d| d.is_element() && d.tag_name().name() == "Selector")
                {
                    if let Some(n) = sel.attribute("Name") {
                        m.entry(format!("{name}.{n}"))
                            .or_default()
                            .push(crate::path::text(&sel));
                    }
                }
            }
            m
        })
        .collect()
}

/// Checks that `ex` answers `mid` with `action`, not with a fault.
pub(crate) fn expect_response(
    ex: &Exchange,
    mid: &str,
    action: &str,
    step: &str,
) -> Result<(), Finding> {
    let expect = crate::case::Expect {
        action: Some(action.to_owned()),
        relates_to: true,
        no_fault: true,
        ..crate::case::Expect::default()
    };
    let m = crate::eval::check(&expect, &Answer::new(ex), Some(mid), &mut |s| {
        Ok(s.to_owned())
    });
    if m.is_empty() {
        Ok(())
    } else {
        Err(Finding::Mismatch(
            m.into_iter()
                .map(|mut x| {
                    x.what = format!("{step}: {}", x.what);
                    x
                })
                .collect(),
        ))
    }
}

/// Most Pulls one enumeration may take before the case gives up.
const MAX_PULLS: usize = 1000;

/// Enumerates `class` to the end with Pulls of `max` items, checking each answer.
/// Returns the instances and the number of Pulls.
pub(crate) async fn enumerate_all(
    ctx: &mut Ctx,
    class: &str,
    max: u32,
) -> Result<(Vec<Instance>, usize), Finding> {
    enumerate_full(ctx, class, wsman::body::Enumerate::default(), max).await
}

/// Sends `body` as the Enumerate of `resource` and pulls the rest with Pulls of `max`
/// items; items of an optimized EnumerateResponse count too.
async fn enumerate_full(
    ctx: &mut Ctx,
    resource: &str,
    body: wsman::body::Enumerate<'static>,
    max: u32,
) -> Result<(Vec<Instance>, usize), Finding> {
    let (r, mid) = ctx.request(resource);
    let ex = ctx.send(&r.enumerate(body)).await?;
    expect_response(&ex, &mid, ns::action::ENUMERATE_RESPONSE, "Enumerate")?;
    let answer = Answer::new(&ex);
    let mut context = answer.value("s:Body/wsen:EnumerateResponse/wsen:EnumerationContext");
    let mut all = instances(&answer, "s:Body/wsen:EnumerateResponse/wsman:Items/*");
    let mut pulls = 0;
    let mut ended = answer.count("s:Body/wsen:EnumerateResponse/wsman:EndOfSequence") > 0;
    while !ended {
        let Some(ctx_id) = context.clone() else {
            return Err(Finding::mismatch(
                "enumeration context",
                "an EnumerationContext until EndOfSequence",
                format!("none after {pulls} Pull(s)"),
            ));
        };
        if pulls == MAX_PULLS {
            return Err(Finding::mismatch(
                "wsen:EndOfSequence",
                format!("within {MAX_PULLS} Pulls"),
                "never came",
            ));
        }
        pulls += 1;
        let (r, mid) = ctx.request(resource);
        let ex = ctx
            .send(&r.pull(build::pull_body(ctx_id, Some(max))))
            .await?;
        expect_response(
            &ex,
            &mid,
            ns::action::PULL_RESPONSE,
            &format!("Pull {pulls}"),
        )?;
        let answer = Answer::new(&ex);
        let items = instances(&answer, "s:Body/wsen:PullResponse/wsen:Items/*");
        if items.len() > max as usize {
            return Err(Finding::mismatch(
                format!("Pull {pulls} items"),
                format!("at most MaxElements = {max}"),
                items.len().to_string(),
            ));
        }
        all.extend(items);
        ended = answer.count("s:Body/wsen:PullResponse/wsen:EndOfSequence") > 0;
        if let Some(c) = answer.value("s:Body/wsen:PullResponse/wsen:EnumerationContext") {
            context = Some(c);
        }
    }
    Ok((all, pulls))
}

async fn pull_until_end(ctx: &mut Ctx) -> Result<(), Finding> {
    let uri = enumerable(ctx)?;
    enumerate_all(ctx, &uri, 2).await.map(|_| ())
}

async fn optimized_max_elements(ctx: &mut Ctx) -> Result<(), Finding> {
    let uri = enumerable(ctx)?;
    let (total, _) = enumerate_all(ctx, &uri, 20).await?;
    let max = 2;
    let (r, mid) = ctx.request(&uri);
    let body = build::enumerate_body(None, true, Some(max), None, None);
    let ex = ctx.send(&r.enumerate(body)).await?;
    expect_response(
        &ex,
        &mid,
        ns::action::ENUMERATE_RESPONSE,
        "optimized Enumerate",
    )?;
    let answer = Answer::new(&ex);
    let n = answer.count("s:Body/wsen:EnumerateResponse/wsman:Items/*");
    if n > max as usize {
        return Err(Finding::mismatch(
            "wsman:Items in the EnumerateResponse",
            format!("at most MaxElements = {max}"),
            n.to_string(),
        ));
    }
    let ended = answer.count("s:Body/wsen:EnumerateResponse/wsman:EndOfSequence") > 0;
    let context = answer.value("s:Body/wsen:EnumerateResponse/wsen:EnumerationContext");
    if n < total.len() && (ended || context.is_none()) {
        return Err(Finding::mismatch(
            "optimized EnumerateResponse",
            format!(
                "an EnumerationContext and no EndOfSequence ({n} of {} items returned)",
                total.len()
            ),
            if ended {
                "EndOfSequence"
            } else {
                "no EnumerationContext"
            },
        ));
    }
    if let (false, Some(c)) = (ended, context) {
        let (r, _) = ctx.request(&uri);
        ctx.send(&r.release(c)).await?;
    }
    Ok(())
}

const SENSOR_KEYS: [&str; 4] = [
    "CreationClassName",
    "DeviceID",
    "SystemCreationClassName",
    "SystemName",
];

async fn numeric_sensor_keys(ctx: &mut Ctx) -> Result<(), Finding> {
    let (all, _) = enumerate_all(ctx, "CIM_NumericSensor", 20).await?;
    if all.is_empty() {
        return Err(Finding::Skip(
            "the target has no CIM_NumericSensor instances".into(),
        ));
    }
    let mut misses = Vec::new();
    for (i, inst) in all.iter().enumerate() {
        let name = inst
            .get("DeviceID")
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or(format!("#{}", i + 1));
        for key in SENSOR_KEYS {
            let ok = inst
                .get(key)
                .is_some_and(|v| v.len() == 1 && !v[0].is_empty());
            if !ok {
                misses.push(Mismatch {
                    what: format!("CIM_NumericSensor {name}"),
                    expected: format!("key property {key} with one non-empty value"),
                    got: values_text(inst.get(key)),
                });
            }
        }
    }
    if misses.is_empty() {
        Ok(())
    } else {
        Err(Finding::Mismatch(misses))
    }
}

/// Threshold properties from the lowest to the highest.
const THRESHOLDS: [&str; 6] = [
    "LowerThresholdFatal",
    "LowerThresholdCritical",
    "LowerThresholdNonCritical",
    "UpperThresholdNonCritical",
    "UpperThresholdCritical",
    "UpperThresholdFatal",
];

async fn thresholds_ordered(ctx: &mut Ctx) -> Result<(), Finding> {
    let (all, _) = enumerate_all(ctx, "CIM_NumericSensor", 20).await?;
    let mut misses = Vec::new();
    for inst in &all {
        let name = inst
            .get("DeviceID")
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default();
        let set: Vec<(&str, i64)> = THRESHOLDS
            .iter()
            .filter_map(|t| {
                let v = inst.get(*t)?.first()?;
                Some((*t, v.trim().parse::<i64>().ok()?))
            })
            .collect();
        for w in set.windows(2) {
            if w[0].1 > w[1].1 {
                misses.push(Mismatch {
                    what: format!("CIM_NumericSensor {name}"),
                    expected: format!("{} <= {}", w[0].0, w[1].0),
                    got: format!("{} > {}", w[0].1, w[1].1),
                });
            }
        }
    }
    if misses.is_empty() {
        Ok(())
    } else {
        Err(Finding::Mismatch(misses))
    }
}

async fn record_log_count(ctx: &mut Ctx) -> Result<(), Finding> {
    let (logs, _) = enumerate_all(ctx, "CIM_RecordLog", 20).await?;
    let (records, _) = enumerate_all(ctx, "CIM_LogRecord", 50).await?;
    let mut claimed = 0u64;
    for log in &logs {
        let v = log.get("CurrentNumberOfRecords").and_then(|v| v.first());
        match v.and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(n) => claimed += n,
            None => {
                return Err(Finding::mismatch(
                    "CIM_RecordLog.CurrentNumberOfRecords",
                    "an unsigned integer",
                    v.map_or_else(|| "no value".into(), |v| format!("`{v}`")),
                ));
            }
        }
    }
    if claimed != records.len() as u64 {
        return Err(Finding::mismatch(
            "CurrentNumberOfRecords (summed over CIM_RecordLog instances)",
            format!("{} (the number of CIM_LogRecord instances)", records.len()),
            claimed.to_string(),
        ));
    }
    Ok(())
}

/// The first value of `prop`, if any.
pub(crate) fn first<'i>(inst: &'i Instance, prop: &str) -> Option<&'i str> {
    inst.get(prop).and_then(|v| v.first()).map(String::as_str)
}

/// The DeviceID of a sensor, or its position.
fn device_name(inst: &Instance, i: usize) -> String {
    first(inst, "DeviceID").map_or_else(|| format!("#{}", i + 1), str::to_owned)
}

/// Collects mismatches; `Ok` when there are none.
pub(crate) fn verdict(misses: Vec<Mismatch>) -> Result<(), Finding> {
    if misses.is_empty() {
        Ok(())
    } else {
        Err(Finding::Mismatch(misses))
    }
}

/// Checks `ex` against a data expectation, prefixing mismatches with `step`.
pub(crate) fn expect_that(
    ex: &Exchange,
    expect: &crate::case::Expect,
    mid: Option<&str>,
    step: &str,
) -> Result<(), Finding> {
    let m = crate::eval::check(expect, &Answer::new(ex), mid, &mut |s| Ok(s.to_owned()));
    verdict(
        m.into_iter()
            .map(|mut x| {
                x.what = format!("{step}: {}", x.what);
                x
            })
            .collect(),
    )
}

/// A fault expectation with one of these subcodes.
pub(crate) fn fault_expect(subcodes: &[&str]) -> crate::case::Expect {
    crate::case::Expect {
        fault: Some(crate::case::FaultExpect {
            subcode: Some(crate::case::OneOrMany::Many(
                subcodes.iter().map(|s| (*s).to_owned()).collect(),
            )),
            ..crate::case::FaultExpect::default()
        }),
        ..crate::case::Expect::default()
    }
}

/// Releases `context` of `resource`, ignoring the answer (clean-up).
async fn release(ctx: &mut Ctx, resource: &str, context: Option<String>) {
    if let Some(c) = context {
        let (r, _) = ctx.request(resource);
        let _ = ctx.send(&r.release(c)).await;
    }
}

async fn expires_after_expiry(ctx: &mut Ctx) -> Result<(), Finding> {
    let uri = enumerable(ctx)?;
    let (r, mid) = ctx.request(&uri);
    let body = build::enumerate_body(None, false, None, None, Some("PT0.5S".into()));
    let ex = ctx.send(&r.enumerate(body)).await?;
    if let Some(f) = ex.fault() {
        return Err(Finding::Skip(format!(
            "the target does not accept a duration Expires (Enumerate answered {})",
            f.subcode.unwrap_or(f.code)
        )));
    }
    expect_response(&ex, &mid, ns::action::ENUMERATE_RESPONSE, "Enumerate")?;
    let Some(context) =
        Answer::new(&ex).value("s:Body/wsen:EnumerateResponse/wsen:EnumerationContext")
    else {
        return Err(Finding::mismatch(
            "Enumerate",
            "an EnumerationContext",
            "none",
        ));
    };
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (r, mid) = ctx.request(&uri);
    let ex = ctx
        .send(&r.pull(build::pull_body(context, Some(1))))
        .await?;
    expect_that(
        &ex,
        &fault_expect(&["wsen:InvalidEnumerationContext"]),
        Some(&mid),
        "Pull 1.5 s after an Expires of PT0.5S",
    )
}

async fn total_items_count_estimate(ctx: &mut Ctx) -> Result<(), Finding> {
    let uri = enumerable(ctx)?;
    let (all, _) = enumerate_all(ctx, &uri, 50).await?;
    let (r, mid) = ctx.request(&uri);
    let ex = ctx
        .send(
            &r.request_total_items_count_estimate()
                .enumerate(wsman::body::Enumerate::default()),
        )
        .await?;
    expect_response(&ex, &mid, ns::action::ENUMERATE_RESPONSE, "Enumerate")?;
    let answer = Answer::new(&ex);
    release(
        ctx,
        &uri,
        answer.value("s:Body/wsen:EnumerateResponse/wsen:EnumerationContext"),
    )
    .await;
    match answer.value("s:Header/wsman:TotalItemsCountEstimate") {
        Some(n) if n.trim() == all.len().to_string() => Ok(()),
        Some(n) => Err(Finding::mismatch(
            "wsman:TotalItemsCountEstimate",
            format!("{} (the items the enumeration returns)", all.len()),
            n,
        )),
        None => Err(Finding::mismatch(
            "wsman:TotalItemsCountEstimate",
            "present in the EnumerateResponse header",
            "absent",
        )),
    }
}

/// The MaxElements of the exactness case, when the resource has that many items.
const EXACT_MAX: usize = 3;

/// `wsman.enumeration.pull.max-elements-exact`: a Pull with MaxElements m returns
/// exactly m items when at least m remain. m is 3, or every item of a resource that
/// has fewer (a single-instance resource shows only that the one item comes); a
/// resource with none cannot show it at all.
async fn pull_max_elements_exact(ctx: &mut Ctx) -> Result<(), Finding> {
    let uri = enumerable(ctx)?;
    let (all, _) = enumerate_all(ctx, &uri, 50).await?;
    let max = all.len().min(EXACT_MAX);
    if max == 0 {
        return Err(Finding::Skip(format!(
            "{uri} has no items now; a Pull cannot show it returns MaxElements of them"
        )));
    }
    let (r, mid) = ctx.request(&uri);
    let ex = ctx
        .send(&r.enumerate(wsman::body::Enumerate::default()))
        .await?;
    expect_response(&ex, &mid, ns::action::ENUMERATE_RESPONSE, "Enumerate")?;
    let Some(context) =
        Answer::new(&ex).value("s:Body/wsen:EnumerateResponse/wsen:EnumerationContext")
    else {
        return Err(Finding::mismatch(
            "Enumerate",
            "an EnumerationContext",
            "none",
        ));
    };
    let (r, mid) = ctx.request(&uri);
    let ex = ctx
        .send(&r.pull(build::pull_body(context, Some(max as u32))))
        .await?;
    expect_response(&ex, &mid, ns::action::PULL_RESPONSE, "Pull")?;
    let answer = Answer::new(&ex);
    let n = answer.count("s:Body/wsen:PullResponse/wsen:Items/*");
    if answer.count("s:Body/wsen:PullResponse/wsen:EndOfSequence") == 0 {
        release(
            ctx,
            &uri,
            answer.value("s:Body/wsen:PullResponse/wsen:EnumerationContext"),
        )
        .await;
    }
    if n != max {
        return Err(Finding::mismatch(
            format!("items in the PullResponse (MaxElements = {max})"),
            format!("{max} (of {} available)", all.len()),
            n.to_string(),
        ));
    }
    Ok(())
}

/// A property's values for a message: `absent`, `empty`, `` `a` ``, `` `a`, `b` ``.
fn values_text(v: Option<&Vec<String>>) -> String {
    match v {
        None => "absent".into(),
        Some(v) if v.is_empty() => "no value".into(),
        Some(v) => list_text(v.iter()),
    }
}

/// Items for a message, each in backticks, comma-separated (`none` when empty).
fn list_text<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    let v: Vec<String> = items.map(|i| format!("`{i}`")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn device_ids(all: &[Instance]) -> std::collections::BTreeSet<String> {
    all.iter()
        .filter_map(|i| first(i, "DeviceID").map(str::to_owned))
        .collect()
}

/// Compares the DeviceIDs a filtered enumeration returned with the expected ones.
fn same_devices(
    what: &str,
    want: &std::collections::BTreeSet<String>,
    got: &[Instance],
) -> Result<(), Finding> {
    let got = device_ids(got);
    if &got == want {
        Ok(())
    } else {
        Err(Finding::mismatch(
            what,
            list_text(want.iter()),
            list_text(got.iter()),
        ))
    }
}

async fn wql_where(ctx: &mut Ctx) -> Result<(), Finding> {
    let (all, _) = enumerate_all(ctx, "CIM_NumericSensor", 50).await?;
    let want: std::collections::BTreeSet<String> = all
        .iter()
        .filter(|i| first(i, "SensorType") == Some("2"))
        .filter_map(|i| first(i, "DeviceID").map(str::to_owned))
        .collect();
    if want.is_empty() {
        return Err(Finding::Skip(
            "the target has no temperature sensor (SensorType 2)".into(),
        ));
    }
    let body = build::enumerate_body(
        Some(build::filter::wql(
            "SELECT * FROM CIM_NumericSensor WHERE SensorType = 2",
        )),
        true,
        Some(50),
        None,
        None,
    );
    let (got, _) = enumerate_full(ctx, "CIM_NumericSensor", body, 50).await?;
    same_devices("DeviceIDs returned by the WQL query", &want, &got)
}

async fn wql_boolean(ctx: &mut Ctx) -> Result<(), Finding> {
    let (all, _) = enumerate_all(ctx, "CIM_NumericSensor", 50).await?;
    let temp = |i: &&Instance| first(i, "SensorType") == Some("2");
    let (Some(a), Some(b)) = (
        all.iter().find(temp).and_then(|i| first(i, "DeviceID")),
        all.iter()
            .find(|i| !temp(i))
            .and_then(|i| first(i, "DeviceID")),
    ) else {
        return Err(Finding::Skip(
            "the target lacks a temperature sensor and another sensor".into(),
        ));
    };
    let want: std::collections::BTreeSet<String> = all
        .iter()
        .filter(|i| (temp(i) && first(i, "DeviceID") != Some(a)) || first(i, "DeviceID") == Some(b))
        .filter_map(|i| first(i, "DeviceID").map(str::to_owned))
        .collect();
    let query = format!(
        "SELECT * FROM CIM_NumericSensor WHERE (SensorType = 2 AND NOT DeviceID = '{a}') OR DeviceID = '{b}'"
    );
    let body = build::enumerate_body(Some(build::filter::wql(query)), true, Some(50), None, None);
    let (got, _) = enumerate_full(ctx, "CIM_NumericSensor", body, 50).await?;
    same_devices("DeviceIDs returned by the WQL query", &want, &got)
}

/// The first CIM_ComputerSystem as (CreationClassName, Name).
async fn the_system(ctx: &mut Ctx) -> Result<(String, String), Finding> {
    let (systems, _) = enumerate_all(ctx, "CIM_ComputerSystem", 10).await?;
    systems
        .first()
        .and_then(|s| Some((first(s, "CreationClassName")?, first(s, "Name")?)))
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .ok_or_else(|| Finding::Skip("the target has no CIM_ComputerSystem".into()))
}

async fn associated_instances(ctx: &mut Ctx) -> Result<(), Finding> {
    let (ccn, name) = the_system(ctx).await?;
    let (sensors, _) = enumerate_all(ctx, "CIM_NumericSensor", 50).await?;
    let want: std::collections::BTreeSet<String> = sensors
        .iter()
        .filter(|i| first(i, "SystemName") == Some(name.as_str()))
        .filter_map(|i| first(i, "DeviceID").map(str::to_owned))
        .collect();
    let object = wsman::Epr {
        resource_uri: Some(template::resource_uri("CIM_ComputerSystem").into()),
        selectors: vec![
            wsman::Selector::text("CreationClassName".to_owned(), ccn),
            wsman::Selector::text("Name".to_owned(), name),
        ],
        ..wsman::Epr::anonymous()
    };
    let filter = wsman::body::Filter {
        dialect: Some(ns::dialect::ASSOCIATION.into()),
        content: wsman::body::FilterContent::Association(wsman::body::AssociationFilter {
            association_instances: false,
            object,
            association_class_name: Some("CIM_SystemDevice".into()),
            role: None,
            result_class_name: Some("CIM_NumericSensor".into()),
            result_role: None,
            include_result_property: Vec::new(),
        }),
    };
    let body = build::enumerate_body(Some(filter), true, Some(50), None, None);
    let (got, _) = enumerate_full(ctx, "http://schemas.dmtf.org/wbem/wscim/1/*", body, 50).await?;
    same_devices(
        "DeviceIDs of the instances associated through CIM_SystemDevice",
        &want,
        &got,
    )
}

async fn max_envelope_size_respected(ctx: &mut Ctx) -> Result<(), Finding> {
    const LIMIT: u64 = 8192;
    let uri = enumerable(ctx)?;
    let (r, _) = ctx.request(&uri);
    let body = build::enumerate_body(None, true, Some(100), None, None);
    let ex = ctx
        .send(&r.max_envelope_size(Some(LIMIT)).enumerate(body))
        .await?;
    let answer = Answer::new(&ex);
    if let Some(f) = ex.fault() {
        return match f.subcode.as_deref() {
            Some("wsman:EncodingLimit") => Ok(()),
            _ => Err(Finding::mismatch(
                "answer",
                "fewer items, or a wsman:EncodingLimit fault",
                format!("fault {}", f.subcode.unwrap_or(f.code)),
            )),
        };
    }
    let size = ex.response.as_ref().map_or(0, |r| r.body.len()) as u64;
    if answer.count("s:Body/wsen:EnumerateResponse/wsman:EndOfSequence") == 0 {
        release(
            ctx,
            &uri,
            answer.value("s:Body/wsen:EnumerateResponse/wsen:EnumerationContext"),
        )
        .await;
    }
    if size > LIMIT {
        return Err(Finding::mismatch(
            "EnumerateResponse size",
            format!("at most MaxEnvelopeSize = {LIMIT} octets"),
            format!("{size} octets"),
        ));
    }
    Ok(())
}

async fn utf16_request(ctx: &mut Ctx) -> Result<(), Finding> {
    let uri = enumerable(ctx)?;
    let (r, mid) = ctx.request(&uri);
    let xml = r
        .enumerate(build::enumerate_body(None, true, Some(1), None, None))
        .to_xml();
    let mut bytes = vec![0xFF, 0xFE];
    for u in xml.encode_utf16() {
        bytes.extend_from_slice(&u.to_le_bytes());
    }
    let req = RawRequest::post(bytes).header("Content-Type", "application/soap+xml;charset=UTF-16");
    let ex = ctx.send_raw(req).await?;
    // R13.1-5: a service that does not take UTF-16 says so with EncodingLimit and the
    // CharacterSet detail (in UTF-8, which every client reads).
    if let Some(f) = ex.fault() {
        if f.subcode.as_deref() == Some("wsman:EncodingLimit")
            && f.detail.as_deref() == Some("CharacterSet")
        {
            return Ok(());
        }
    }
    expect_response(
        &ex,
        &mid,
        ns::action::ENUMERATE_RESPONSE,
        "UTF-16 Enumerate",
    )?;
    // Taken: then the answer is in the request's encoding.
    let Some(resp) = &ex.response else {
        return Err(Finding::mismatch("answer", "an HTTP answer", "none"));
    };
    let bom16 = resp.body.starts_with(&[0xFF, 0xFE]) || resp.body.starts_with(&[0xFE, 0xFF]);
    let declared = resp
        .header("Content-Type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let declared16 = declared.contains("utf-16");
    if !bom16 && !declared16 {
        return Err(Finding::mismatch(
            "the answer's encoding",
            "UTF-16, the request's encoding (or the EncodingLimit/CharacterSet fault)",
            format!(
                "{} (Content-Type `{declared}`)",
                if resp.body.starts_with(b"\xEF\xBB\xBF") || resp.body.first() == Some(&b'<') {
                    "UTF-8"
                } else {
                    "not UTF-16"
                }
            ),
        ));
    }
    Ok(())
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A plain-HTTP connection to the subject, for the cases the pooled client cannot
/// express (chunked bodies, two requests on one connection). It authenticates as the
/// target asks: Basic, or Digest from a challenge fetched first (each request then
/// counts up the nonce count), or not at all when the target asks for nothing.
struct RawConn {
    authority: String,
    path: String,
    auth: RawAuth,
}

enum RawAuth {
    None,
    Basic(String),
    Digest {
        challenge: client::auth::DigestChallenge,
        user: String,
        password: String,
        nc: std::sync::atomic::AtomicU32,
    },
}

impl RawConn {
    async fn new(ctx: &mut Ctx) -> Result<RawConn, Finding> {
        if let Some(lost) = ctx.watch.refuse() {
            return Err(Finding::Error(lost));
        }
        let url = ctx.client.url().to_owned();
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(Finding::Skip(
                "checked over plain HTTP only (the target URL is not http://)".into(),
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/wsman"),
        };
        let target = ctx.client.target();
        let (Some(user), Some(password)) = (target.user.clone(), target.password.clone()) else {
            return Err(Finding::Skip("no credentials for the target".into()));
        };
        // Which scheme: ask without credentials and read the challenge.
        let probe = RawRequest::soap(build::identify().to_xml()).without_auth();
        let ex = match ctx.client.send_raw(probe).await {
            Ok(ex) => ex,
            Err(e) => return Err(Finding::mismatch("answer", "an HTTP answer", e.to_string())),
        };
        ctx.transcript.extend(wire(&ex));
        let challenges = client::auth::parse_challenges(
            ex.response
                .as_ref()
                .map(|r| r.headers_named("WWW-Authenticate").collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        let auth = if ex.status() != Some(401) {
            RawAuth::None
        } else if challenges.iter().any(|c| c.is("Basic")) {
            RawAuth::Basic(base64(format!("{user}:{password}").as_bytes()))
        } else if let Some(challenge) = client::auth::DigestChallenge::best(&challenges) {
            RawAuth::Digest {
                challenge,
                user,
                password,
                nc: std::sync::atomic::AtomicU32::new(0),
            }
        } else {
            return Err(Finding::Skip(
                "the target offers no Basic or Digest challenge to answer on a raw connection"
                    .into(),
            ));
        };
        Ok(RawConn {
            authority: authority.to_owned(),
            path: path.to_owned(),
            auth,
        })
    }

    /// The `Authorization` line of the next request (empty without authentication).
    fn authorization(&self) -> String {
        match &self.auth {
            RawAuth::None => String::new(),
            RawAuth::Basic(b) => format!("Authorization: Basic {b}\r\n"),
            RawAuth::Digest {
                challenge,
                user,
                password,
                nc,
            } => {
                let n = nc.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                let value = challenge.authorization(
                    user,
                    password,
                    "POST",
                    &self.path,
                    n,
                    &client::auth::cnonce(),
                );
                format!("Authorization: {value}\r\n")
            }
        }
    }

    /// The head of a POST, ending with the blank line.
    fn head(&self, extra: &str) -> String {
        format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\n{}{extra}\r\n",
            self.path,
            self.authority,
            client::SOAP_CONTENT_TYPE,
            self.authorization()
        )
    }

    /// `request` with its credentials redacted, for the transcript.
    fn redacted(request: &str) -> String {
        request
            .lines()
            .map(|l| match l.strip_prefix("Authorization: ") {
                Some(v) => format!("Authorization: {}", client::auth::redact_authorization(v)),
                None => l.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn record(&self, ctx: &mut Ctx, request: &str, answer: Result<&str, String>) -> Option<u16> {
        let request = RawConn::redacted(request);
        match answer {
            Ok(a) => {
                let status = a.split_whitespace().nth(1).and_then(|s| s.parse().ok());
                ctx.transcript.push(WireLeg {
                    request,
                    response: Some(a.to_owned()),
                    status,
                    error: None,
                });
                status
            }
            Err(e) => {
                ctx.transcript.push(WireLeg {
                    request,
                    response: None,
                    status: None,
                    error: Some(e),
                });
                None
            }
        }
    }
}

/// The most of one raw answer the harness reads: enough for any answer a case judges,
/// and the harness's memory stays bounded whatever the target sends.
const MAX_RAW_ANSWER: usize = 16 << 20;

/// Reads one HTTP answer with a Content-Length (or to the end of the stream), at most
/// [`MAX_RAW_ANSWER`] bytes (an error beyond: the rest is not read).
async fn read_answer(s: &mut tokio::net::TcpStream) -> std::io::Result<String> {
    use tokio::io::AsyncReadExt as _;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    // Where the head ends and the answer's whole length, once the head is in.
    let mut whole: Option<Option<usize>> = None;
    let mut scanned: usize = 0;
    loop {
        if whole.is_none() {
            // Only the bytes not searched yet (and 3 before them): linear in the answer.
            let from = scanned.saturating_sub(3);
            if let Some(i) = buf[from..].windows(4).position(|w| w == b"\r\n\r\n") {
                let end = from + i;
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                whole = Some(len.map(|len| end + 4 + len));
            }
            scanned = buf.len();
        }
        if let Some(Some(total)) = whole {
            if buf.len() >= total {
                buf.truncate(total);
                return Ok(String::from_utf8_lossy(&buf).into_owned());
            }
        }
        if buf.len() > MAX_RAW_ANSWER {
            return Err(std::io::Error::other(format!(
                "the answer passed {} MiB; the rest was not read",
                MAX_RAW_ANSWER >> 20
            )));
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(String::from_utf8_lossy(&buf).into_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn check_raw_answer(
    status: Option<u16>,
    answer: &str,
    mid: &str,
    what: &str,
) -> Result<(), Finding> {
    if status == Some(401) {
        return Err(Finding::Skip(
            "the target refused the credentials on a raw connection".into(),
        ));
    }
    if status != Some(200) || !answer.contains("EnumerateResponse") || !answer.contains(mid) {
        return Err(Finding::mismatch(
            what,
            "200 with an EnumerateResponse relating to the request",
            format!("HTTP {}", status.map_or("none".into(), |s| s.to_string())),
        ));
    }
    Ok(())
}

async fn chunked_request(ctx: &mut Ctx) -> Result<(), Finding> {
    use tokio::io::AsyncWriteExt as _;
    let conn = RawConn::new(ctx).await?;
    let uri = enumerable(ctx)?;
    let (r, mid) = ctx.request(&uri);
    let xml = r
        .enumerate(build::enumerate_body(None, true, Some(1), None, None))
        .to_xml();
    let mut req = conn.head("Transfer-Encoding: chunked\r\nConnection: close\r\n");
    for piece in xml.as_bytes().chunks(100) {
        req.push_str(&format!("{:x}\r\n", piece.len()));
        req.push_str(&String::from_utf8_lossy(piece));
        req.push_str("\r\n");
    }
    req.push_str("0\r\n\r\n");
    let io = async {
        let mut s = tokio::net::TcpStream::connect(&conn.authority).await?;
        s.write_all(req.as_bytes()).await?;
        read_answer(&mut s).await
    };
    let answer = io.await.map_err(|e| e.to_string());
    let status = conn.record(ctx, &req, answer.as_deref().map_err(Clone::clone));
    let answer = answer.map_err(|e| Finding::mismatch("answer", "an HTTP answer", e))?;
    check_raw_answer(status, &answer, &mid, "answer to a chunked Enumerate")
}

async fn keep_alive(ctx: &mut Ctx) -> Result<(), Finding> {
    use tokio::io::AsyncWriteExt as _;
    let conn = RawConn::new(ctx).await?;
    let uri = enumerable(ctx)?;
    let mut s = match tokio::net::TcpStream::connect(&conn.authority).await {
        Ok(s) => s,
        Err(e) => {
            return Err(Finding::mismatch(
                "connection",
                "a TCP connection",
                e.to_string(),
            ));
        }
    };
    for n in 1..=2 {
        let (r, mid) = ctx.request(&uri);
        let xml = r
            .enumerate(build::enumerate_body(None, true, Some(1), None, None))
            .to_xml();
        let close = if n == 2 { "Connection: close\r\n" } else { "" };
        let req = conn.head(&format!("Content-Length: {}\r\n{close}", xml.len())) + &xml;
        let io = async {
            s.write_all(req.as_bytes()).await?;
            read_answer(&mut s).await
        };
        let answer = io.await.map_err(|e| e.to_string());
        let status = conn.record(ctx, &req, answer.as_deref().map_err(Clone::clone));
        let answer = answer.map_err(|e| {
            Finding::mismatch(
                format!("request {n} on the connection"),
                "an HTTP answer",
                e,
            )
        })?;
        check_raw_answer(
            status,
            &answer,
            &mid,
            &format!("answer {n} on one connection"),
        )?;
    }
    Ok(())
}

async fn content_type_soap(ctx: &mut Ctx) -> Result<(), Finding> {
    let uri = enumerable(ctx)?;
    let (r, mid) = ctx.request(&uri);
    let ex = ctx
        .send(&r.enumerate(build::enumerate_body(None, true, Some(1), None, None)))
        .await?;
    expect_response(&ex, &mid, ns::action::ENUMERATE_RESPONSE, "Enumerate")?;
    let ct = ex.header("Content-Type").unwrap_or_default().to_owned();
    if ct
        .trim()
        .to_ascii_lowercase()
        .starts_with("application/soap+xml")
    {
        Ok(())
    } else {
        Err(Finding::mismatch(
            "Content-Type",
            "application/soap+xml",
            if ct.is_empty() { "none".into() } else { ct },
        ))
    }
}

/// The text of `fault` in a few words, for a mismatch.
fn fault_words(f: &client::FaultSummary) -> String {
    format!(
        "fault {}",
        f.subcode.clone().unwrap_or_else(|| f.code.clone())
    )
}

/// `wsman.transfer.get.body-is-class`: the body of a GetResponse is one element, the
/// representation discovery saw (its name and namespace); for a class resource (a
/// resource URI ending in that name) the namespace is the resource URI; and a selector
/// that is also a property of it carries the selected value.
async fn get_body_is_representation(ctx: &mut Ctx) -> Result<(), Finding> {
    let found = role(ctx, "gettable")?;
    let (r, _) = ctx.instance_request(&found);
    let ex = ctx.send(&r.get()).await?;
    if let Some(f) = ex.fault() {
        return Err(Finding::mismatch(
            "answer to the Get",
            "a GetResponse",
            fault_words(&f),
        ));
    }
    let answer = Answer::new(&ex);
    let Some(doc) = answer.doc() else {
        return Err(Finding::mismatch(
            "answer to the Get",
            "a SOAP envelope",
            "no readable XML",
        ));
    };
    let children: Vec<roxmltree::Node<'_, '_>> = doc
        .root_element()
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == "Body")
        .map(|b| b.children().filter(|c| c.is_element()).collect())
        .unwrap_or_default();
    let name = |n: &roxmltree::Node<'_, '_>| {
        format!(
            "{{{}}}{}",
            n.tag_name().namespace().unwrap_or_default(),
            n.tag_name().name()
        )
    };
    let want = format!("{{{}}}{}", found.ns, found.element);
    let [el] = children.as_slice() else {
        return Err(Finding::mismatch(
            "elements in s:Body",
            format!("exactly one, {want}"),
            if children.is_empty() {
                "none".to_owned()
            } else {
                children.iter().map(name).collect::<Vec<_>>().join(", ")
            },
        ));
    };
    let mut misses = Vec::new();
    if name(el) != want {
        misses.push(Mismatch {
            what: "s:Body element".into(),
            expected: format!("{want} (the representation discovery got)"),
            got: name(el),
        });
    }
    let ns = el.tag_name().namespace().unwrap_or_default();
    let class_resource = found
        .uri
        .rsplit_once('/')
        .is_some_and(|(_, last)| last == el.tag_name().name());
    if class_resource && ns != found.uri {
        misses.push(Mismatch {
            what: format!("namespace of {}", el.tag_name().name()),
            expected: format!("the resource URI {}", found.uri),
            got: if ns.is_empty() {
                "none".into()
            } else {
                ns.into()
            },
        });
    }
    for (k, v) in &found.selectors {
        let prop = el.children().find(|c| {
            c.is_element() && c.tag_name().name() == k && !c.children().any(|g| g.is_element())
        });
        if let Some(p) = prop {
            let got = crate::path::text(&p);
            if got.trim() != v.trim() {
                misses.push(Mismatch {
                    what: format!("{} of the instance", k),
                    expected: format!("`{v}` (the selector's value)"),
                    got: format!("`{got}`"),
                });
            }
        }
    }
    verdict(misses)
}

/// Escapes text for XML content and attribute values.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The cases that write the `writable` resource of one target take turns: two of them
/// at once would see each other's change (both change the same property).
async fn write_turn(ctx: &Ctx, uri: &str) -> tokio::sync::OwnedMutexGuard<()> {
    type Locks = std::sync::Mutex<BTreeMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>;
    static LOCKS: std::sync::OnceLock<Locks> = std::sync::OnceLock::new();
    let lock = LOCKS
        .get_or_init(Locks::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(format!("{} {uri}", ctx.client.url()))
        .or_default()
        .clone();
    lock.lock_owned().await
}

/// The representation of `found`'s instance as it is now: its Put cases start from a
/// fresh Get rather than from what discovery saw, since other cases (a state change,
/// a power transition) may have changed its read-only properties since.
async fn current(
    ctx: &mut Ctx,
    found: &crate::discover::Found,
) -> Result<crate::discover::Element, Finding> {
    let (r, _) = ctx.instance_request(found);
    let ex = ctx.send(&r.get()).await?;
    if let Some(f) = ex.fault() {
        return Err(Finding::mismatch(
            "Get before the Put",
            "a GetResponse",
            fault_words(&f),
        ));
    }
    let answer = Answer::new(&ex);
    answer
        .doc()
        .and_then(|d| {
            d.root_element()
                .children()
                .find(|n| n.is_element() && n.tag_name().name() == "Body")?
                .children()
                .find(|n| n.is_element())
                .map(crate::discover::Element::from_node)
        })
        .ok_or_else(|| {
            Finding::mismatch("Get before the Put", "a representation in s:Body", "none")
        })
}

/// Sends a Put of `body` to `found`'s instance, with `extra` headers; returns the
/// answer and the MessageID.
async fn put(
    ctx: &mut Ctx,
    found: &crate::discover::Found,
    body: &str,
    extra: &str,
) -> Result<(Exchange, String), Finding> {
    let mid = ctx.message_id();
    let env = format!(
        "<s:Envelope xmlns:s=\"{soap}\" xmlns:wsa=\"{wsa}\" xmlns:wsman=\"{wsman}\">\
         <s:Header><wsa:To>{to}</wsa:To>\
         <wsa:Action s:mustUnderstand=\"true\">{action}</wsa:Action>\
         <wsa:MessageID>{mid}</wsa:MessageID>\
         <wsa:ReplyTo><wsa:Address>{anon}</wsa:Address></wsa:ReplyTo>\
         <wsman:ResourceURI s:mustUnderstand=\"true\">{uri}</wsman:ResourceURI>\
         {sel}{extra}</s:Header><s:Body>{body}</s:Body></s:Envelope>",
        soap = ns::SOAP,
        wsa = ns::WSA,
        wsman = ns::WSMAN,
        to = xml_escape(ctx.client.url()),
        action = ns::action::PUT,
        anon = ns::ANONYMOUS,
        uri = xml_escape(&found.uri),
        sel = crate::discover::selector_set(&found.selectors),
    );
    let ex = ctx.send_raw(RawRequest::soap(env.into_bytes())).await?;
    Ok((ex, mid))
}

/// `wsman.transfer.put.writable-property`: the property discovery changed is changed
/// again, seen in the PutResponse and a later Get, and put back whatever happened.
async fn put_writable_property(ctx: &mut Ctx) -> Result<(), Finding> {
    let w = role(ctx, "writable")?;
    let (Some((prop, _)), Some(new)) = (w.property.clone(), w.new_value.clone()) else {
        return Err(Finding::Skip(
            "discovery found no property it could change".into(),
        ));
    };
    let _turn = write_turn(ctx, &w.uri).await;
    let now = current(ctx, &w).await?;
    let outcome = put_and_see(ctx, &w, &now, &prop, &new).await;
    let (ex, mid) = put(ctx, &w, &now.to_xml(None), "").await?;
    let restored = expect_that(
        &ex,
        &crate::case::Expect {
            no_fault: true,
            ..crate::case::Expect::default()
        },
        Some(&mid),
        "restore",
    );
    outcome.and(restored)
}

async fn put_and_see(
    ctx: &mut Ctx,
    w: &crate::discover::Found,
    now: &crate::discover::Element,
    prop: &str,
    new: &str,
) -> Result<(), Finding> {
    let answer = put(ctx, w, &now.to_xml(Some((prop, new))), "").await?;
    let seen = Seen {
        path: format!("s:Body/*/*:{prop}"),
        put: format!("Put with {prop} changed"),
        fragment: None,
        get: "Get after the Put".into(),
    };
    put_applied(ctx, w, answer, new, seen).await
}

/// Where a Put's change must show, and how its steps are named.
struct Seen<'a> {
    /// The path of the changed property in the PutResponse and in the Get's answer.
    path: String,
    /// The Put step's name.
    put: String,
    /// Get this fragment after the Put (a whole Get when `None`).
    fragment: Option<&'a str>,
    /// The Get step's name.
    get: String,
}

/// The PutResponse `answer` shows `new` where `seen` says, and so does a Get after it.
async fn put_applied(
    ctx: &mut Ctx,
    w: &crate::discover::Found,
    answer: (Exchange, String),
    new: &str,
    seen: Seen<'_>,
) -> Result<(), Finding> {
    let changed = BTreeMap::from([(seen.path, new.to_owned())]);
    let (ex, mid) = answer;
    expect_that(
        &ex,
        &crate::case::Expect {
            no_fault: true,
            action: Some(ns::action::PUT_RESPONSE.into()),
            relates_to: true,
            values: changed.clone(),
            ..crate::case::Expect::default()
        },
        Some(&mid),
        &seen.put,
    )?;
    let (mut r, mid) = ctx.instance_request(w);
    if let Some(f) = seen.fragment {
        r = r.fragment(f.to_owned());
    }
    let ex = ctx.send(&r.get()).await?;
    expect_that(
        &ex,
        &crate::case::Expect {
            no_fault: true,
            values: changed,
            ..crate::case::Expect::default()
        },
        Some(&mid),
        &seen.get,
    )
}

/// `wsman.transfer.put.unchanged-accepted`: a Put of the representation as a Get
/// just returned it is a successful Put.
async fn put_unchanged(ctx: &mut Ctx) -> Result<(), Finding> {
    let w = role(ctx, "writable")?;
    let _turn = write_turn(ctx, &w.uri).await;
    let now = current(ctx, &w).await?;
    let (ex, mid) = put(ctx, &w, &now.to_xml(None), "").await?;
    expect_that(
        &ex,
        &crate::case::Expect {
            status: Some(crate::case::OneOrMany::One(200)),
            no_fault: true,
            action: Some(ns::action::PUT_RESPONSE.into()),
            relates_to: true,
            ..crate::case::Expect::default()
        },
        Some(&mid),
        "Put of the representation as got",
    )
}

/// `wsman.transfer.put.max-envelope-size-minimum`: a Put (of the representation as
/// got, so it changes nothing if applied) asking for a MaxEnvelopeSize under 8192.
async fn put_max_envelope_size_minimum(ctx: &mut Ctx) -> Result<(), Finding> {
    let w = role(ctx, "writable")?;
    let _turn = write_turn(ctx, &w.uri).await;
    let now = current(ctx, &w).await?;
    let (ex, mid) = put(
        ctx,
        &w,
        &now.to_xml(None),
        "<wsman:MaxEnvelopeSize s:mustUnderstand=\"true\">4096</wsman:MaxEnvelopeSize>",
    )
    .await?;
    let mut expect = fault_expect(&["wsman:EncodingLimit"]);
    if let Some(f) = expect.fault.as_mut() {
        f.code = Some(crate::case::OneOrMany::One("Sender".into()));
    }
    expect.relates_to = true;
    expect_that(&ex, &expect, Some(&mid), "Put with MaxEnvelopeSize 4096")
}

/// `wsman.fragment.put.element-name`: a fragment Put of the property discovery changed
/// sets it (the PutResponse and a later fragment Get show it), and it is put back.
async fn fragment_put_property(ctx: &mut Ctx) -> Result<(), Finding> {
    let w = role(ctx, "writable")?;
    let (Some((prop, at_discovery)), Some(new)) = (w.property.clone(), w.new_value.clone()) else {
        return Err(Finding::Skip(
            "discovery found no property it could change".into(),
        ));
    };
    let _turn = write_turn(ctx, &w.uri).await;
    let old = current(ctx, &w)
        .await?
        .leaves()
        .into_iter()
        .find(|(n, _)| *n == prop)
        .map_or(at_discovery, |(_, v)| v);
    let outcome = fragment_put_and_see(ctx, &w, &prop, &new).await;
    let (ex, mid) = fragment_put(ctx, &w, &prop, &old).await?;
    let restored = expect_that(
        &ex,
        &crate::case::Expect {
            no_fault: true,
            ..crate::case::Expect::default()
        },
        Some(&mid),
        "restore",
    );
    outcome.and(restored)
}

/// A fragment Put setting `prop` of `w`'s instance to `value`.
async fn fragment_put(
    ctx: &mut Ctx,
    w: &crate::discover::Found,
    prop: &str,
    value: &str,
) -> Result<(Exchange, String), Finding> {
    let header = format!(
        "<wsman:FragmentTransfer s:mustUnderstand=\"true\">{}</wsman:FragmentTransfer>",
        xml_escape(prop)
    );
    let body = format!(
        "<wsman:XmlFragment><{prop}>{}</{prop}></wsman:XmlFragment>",
        xml_escape(value)
    );
    put(ctx, w, &body, &header).await
}

async fn fragment_put_and_see(
    ctx: &mut Ctx,
    w: &crate::discover::Found,
    prop: &str,
    new: &str,
) -> Result<(), Finding> {
    let answer = fragment_put(ctx, w, prop, new).await?;
    let seen = Seen {
        path: format!("s:Body/wsman:XmlFragment/*:{prop}"),
        put: format!("fragment Put of {prop}"),
        fragment: Some(prop),
        get: format!("fragment Get of {prop}"),
    };
    put_applied(ctx, w, answer, new, seen).await
}

/// `wsman.filter.selector`: an Enumerate of the keyed resource filtered by the
/// selectors of its instance returns that instance and no other.
async fn selector_filter(ctx: &mut Ctx) -> Result<(), Finding> {
    let found = role(ctx, "keyed")?;
    let filter = build::filter::selectors(found.selectors.iter().cloned());
    let body = build::enumerate_body(Some(filter), true, Some(50), None, None);
    let (got, _) = enumerate_full(ctx, &found.uri, body, 50).await?;
    let keys = found
        .selectors
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    if got.len() != 1 {
        return Err(Finding::mismatch(
            format!("items of the filtered enumeration ({keys})"),
            "exactly one, the instance those selectors name",
            got.len().to_string(),
        ));
    }
    let mut misses = Vec::new();
    for (k, v) in &found.selectors {
        if let Some(vals) = got[0].get(k) {
            if vals.first().map(|s| s.trim()) != Some(v.trim()) {
                misses.push(Mismatch {
                    what: format!("{k} of the item"),
                    expected: format!("`{v}`"),
                    got: values_text(Some(vals)),
                });
            }
        }
    }
    verdict(misses)
}

async fn sensors(ctx: &mut Ctx) -> Result<Vec<Instance>, Finding> {
    let (all, _) = enumerate_all(ctx, "CIM_NumericSensor", 20).await?;
    if all.is_empty() {
        return Err(Finding::Skip(
            "the target has no CIM_NumericSensor instances".into(),
        ));
    }
    Ok(all)
}

async fn type_and_units(ctx: &mut Ctx) -> Result<(), Finding> {
    let all = sensors(ctx).await?;
    let mut misses = Vec::new();
    for (i, inst) in all.iter().enumerate() {
        for prop in ["SensorType", "BaseUnits"] {
            let v = first(inst, prop).unwrap_or_default();
            if v.parse::<u16>().is_err() {
                misses.push(Mismatch {
                    what: format!("CIM_NumericSensor {}", device_name(inst, i)),
                    expected: format!("{prop}: an integer value"),
                    got: values_text(inst.get(prop)),
                });
            }
        }
    }
    verdict(misses)
}

async fn reading_in_range(ctx: &mut Ctx) -> Result<(), Finding> {
    let all = sensors(ctx).await?;
    let num = |i: &Instance, p: &str| first(i, p).and_then(|v| v.trim().parse::<f64>().ok());
    let mut misses = Vec::new();
    for (i, inst) in all.iter().enumerate() {
        let (Some(cur), Some(min), Some(max)) = (
            num(inst, "CurrentReading"),
            num(inst, "MinReadable"),
            num(inst, "MaxReadable"),
        ) else {
            continue;
        };
        if cur < min || cur > max {
            misses.push(Mismatch {
                what: format!("CIM_NumericSensor {}", device_name(inst, i)),
                expected: format!("MinReadable {min} <= CurrentReading <= MaxReadable {max}"),
                got: cur.to_string(),
            });
        }
    }
    verdict(misses)
}

async fn log_record_keys(ctx: &mut Ctx) -> Result<(), Finding> {
    let (all, _) = enumerate_all(ctx, "CIM_LogRecord", 50).await?;
    if all.is_empty() {
        return Err(Finding::Skip("the log holds no records".into()));
    }
    let mut misses = Vec::new();
    for (i, inst) in all.iter().enumerate() {
        for key in [
            "LogCreationClassName",
            "LogName",
            "CreationClassName",
            "RecordID",
        ] {
            let ok = inst
                .get(key)
                .is_some_and(|v| v.len() == 1 && !v[0].is_empty());
            if !ok {
                misses.push(Mismatch {
                    what: format!(
                        "CIM_LogRecord {}",
                        first(inst, "RecordID")
                            .map_or_else(|| format!("#{}", i + 1), str::to_owned)
                    ),
                    expected: format!("key property {key} with one non-empty value"),
                    got: values_text(inst.get(key)),
                });
            }
        }
    }
    verdict(misses)
}

async fn system_device_every_sensor(ctx: &mut Ctx) -> Result<(), Finding> {
    let all = sensors(ctx).await?;
    let (links, _) = enumerate_all(ctx, "CIM_SystemDevice", 50).await?;
    let pairs: std::collections::BTreeSet<(String, String)> = links
        .iter()
        .filter_map(|l| {
            Some((
                first(l, "GroupComponent.Name")?.to_owned(),
                first(l, "PartComponent.DeviceID")?.to_owned(),
            ))
        })
        .collect();
    let mut misses = Vec::new();
    for (i, inst) in all.iter().enumerate() {
        let sys = first(inst, "SystemName").unwrap_or_default().to_owned();
        let dev = device_name(inst, i);
        if !pairs.contains(&(sys.clone(), dev.clone())) {
            misses.push(Mismatch {
                what: format!("CIM_NumericSensor {dev}"),
                expected: format!("a CIM_SystemDevice linking it to the system {sys}"),
                got: "none".into(),
            });
        }
    }
    verdict(misses)
}

async fn sensor_system_name(ctx: &mut Ctx) -> Result<(), Finding> {
    let all = sensors(ctx).await?;
    let (systems, _) = enumerate_all(ctx, "CIM_ComputerSystem", 10).await?;
    let known: std::collections::BTreeSet<(String, String)> = systems
        .iter()
        .filter_map(|s| {
            Some((
                first(s, "CreationClassName")?.to_owned(),
                first(s, "Name")?.to_owned(),
            ))
        })
        .collect();
    let mut misses = Vec::new();
    for (i, inst) in all.iter().enumerate() {
        let key = (
            first(inst, "SystemCreationClassName")
                .unwrap_or_default()
                .to_owned(),
            first(inst, "SystemName").unwrap_or_default().to_owned(),
        );
        if !known.contains(&key) {
            misses.push(Mismatch {
                what: format!("CIM_NumericSensor {}", device_name(inst, i)),
                expected: format!(
                    "the keys of one of the systems: {}",
                    list_text(known.iter().map(|(c, n)| format!("{c}/{n}")))
                ),
                got: format!("{}/{}", key.0, key.1),
            });
        }
    }
    verdict(misses)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_code_case_is_used_by_a_suite_file() {
        let suite = crate::Suite::embedded().unwrap();
        for f in super::REGISTRY
            .iter()
            .chain(crate::ipmi_cases::REGISTRY)
            .chain(crate::cross::REGISTRY)
        {
            let used = suite
                .cases
                .iter()
                .any(|c| c.id == f.id && matches!(c.body, crate::case::CaseBody::Code(_)));
            assert!(
                used,
                "code case {} has no `code = true` entry in suites/",
                f.id
            );
        }
    }

    /// A target that answers with a 200 MB body: the raw reader stops after
    /// `MAX_RAW_ANSWER` with an error saying so (memory stays bounded), and a normal
    /// answer split over many reads comes back whole.
    #[tokio::test]
    async fn raw_answers_are_bounded_and_whole() {
        use super::read_answer;
        use tokio::io::AsyncWriteExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            // First connection: 200 MB, written until the reader goes away.
            let (mut s, _) = listener.accept().await.unwrap();
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 209715200\r\n\r\n")
                .await;
            let block = vec![b'x'; 1 << 20];
            for _ in 0..200 {
                if s.write_all(&block).await.is_err() {
                    break;
                }
            }
            // Second: a small answer dribbled in pieces, the head split across reads.
            let (mut s, _) = listener.accept().await.unwrap();
            for piece in [
                "HTTP/1.1 200 OK\r\nContent-Le",
                "ngth: 5\r\n\r",
                "\nhel",
                "lo",
            ] {
                s.write_all(piece.as_bytes()).await.unwrap();
                s.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let e = read_answer(&mut c).await.expect_err("too large");
        assert!(e.to_string().contains("16 MiB"), "{e}");
        drop(c);
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let a = read_answer(&mut c).await.unwrap();
        assert!(a.ends_with("\r\n\r\nhello"), "{a:?}");
        server.await.unwrap();
    }
}
