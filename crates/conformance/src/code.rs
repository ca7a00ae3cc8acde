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
}

impl Ctx {
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

    /// Sends a raw request and records it. An answer that never came is a mismatch
    /// (the target's doing); a request that cannot be made is a harness error.
    pub async fn send_raw(&mut self, req: RawRequest) -> Result<Exchange, Finding> {
        match self.client.send_raw(req).await {
            Ok(ex) => {
                self.transcript.extend(wire(&ex));
                Ok(ex)
            }
            Err(e @ (ClientError::Timeout { .. } | ClientError::Http(_))) => {
                Err(Finding::mismatch("answer", "an HTTP answer", e.to_string()))
            }
            Err(e) if e.is_unreachable() => Err(Finding::mismatch(
                "answer",
                "a reachable target",
                e.to_string(),
            )),
            Err(e) => Err(Finding::Error(e.to_string())),
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
];

/// The code case registered under `id`.
pub fn lookup(id: &str) -> Option<CodeFn> {
    REGISTRY.iter().find(|c| c.id == id).copied()
}

/// An instance as property name → values (every element child, by local name).
pub type Instance = BTreeMap<String, Vec<String>>;

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
            for prop in item.children().filter(|c| c.is_element()) {
                m.entry(prop.tag_name().name().to_owned())
                    .or_default()
                    .push(crate::path::text(&prop));
            }
            m
        })
        .collect()
}

/// Checks that `ex` answers `mid` with `action`, not with a fault.
fn expect_response(ex: &Exchange, mid: &str, action: &str, step: &str) -> Result<(), Finding> {
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
async fn enumerate_all(
    ctx: &mut Ctx,
    class: &str,
    max: u32,
) -> Result<(Vec<Instance>, usize), Finding> {
    let (r, mid) = ctx.request(class);
    let ex = ctx
        .send(&r.enumerate(wsman::body::Enumerate::default()))
        .await?;
    expect_response(&ex, &mid, ns::action::ENUMERATE_RESPONSE, "Enumerate")?;
    let answer = Answer::new(&ex);
    let mut context = answer.value("s:Body/wsen:EnumerateResponse/wsen:EnumerationContext");
    let mut all = Vec::new();
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
        let (r, mid) = ctx.request(class);
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
    enumerate_all(ctx, "CIM_NumericSensor", 2).await.map(|_| ())
}

async fn optimized_max_elements(ctx: &mut Ctx) -> Result<(), Finding> {
    let (total, _) = enumerate_all(ctx, "CIM_NumericSensor", 20).await?;
    let max = 2;
    let (r, mid) = ctx.request("CIM_NumericSensor");
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
        let (r, _) = ctx.request("CIM_NumericSensor");
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
                    got: format!("{:?}", inst.get(key)),
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
                    format!("{v:?}"),
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

#[cfg(test)]
mod tests {
    #[test]
    fn every_code_case_is_used_by_a_suite_file() {
        let suite = crate::Suite::embedded().unwrap();
        for f in super::REGISTRY {
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
}
