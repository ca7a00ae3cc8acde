//! Capability discovery: what the subject offers, learnt once per run before any case,
//! so that cases that do not apply are skipped with the reason rather than failed, and
//! protocol cases run on whatever resource the subject has.
//!
//! Discovery asks, in order:
//! 1. Identify, authenticated (the product in every report) and unauthenticated;
//! 2. resources: the user's `--resource` URIs first, then a well-known list (the DMTF
//!    CIM classes the suite knows, WinRM's `config` and `wmicimv2` URIs, AMT-style
//!    vendor classes) and every class a selected case names. Each is enumerated (in
//!    `EnumerateObjectAndEPR` mode when offered, so the first item's selectors are
//!    known), then got with those selectors, and a few are put back unchanged and with
//!    one property changed and restored;
//! 3. features on the resources found: fragment-level Get, filter dialects, the WinRM
//!    cmd shell, and eventing: a Subscribe in each delivery mode (`eventing:push`,
//!    `eventing:push-with-ack`, `eventing:events`, `eventing:pull`; push modes to the
//!    run's event sink), unsubscribed at once, on `CIM_AlertIndication` or else the
//!    enumerable resource (`feature:eventing` when any mode is accepted).
//!
//! The results are roles (the resource a protocol case uses: `enumerable`,
//! `gettable`, `keyed`, `writable`) and the requirements that are not met, each with
//! its reason. Requirements are strings in the suite files: `resource:ROLE`,
//! `class:NAME` (an Enumerate of the class is not a fault), `feature:fragment`,
//! `filter:selector`, `filter:wql`, `identify:unauthenticated` (Identify with
//! `WSMANIDENTIFY: unauthenticated` and no credentials is answered) and `shell:cmd` (a
//! Create of a WinRM cmd shell succeeds; the probe deletes the shell it made).
//! Everything discovery saw is kept as [`Probe`] lines for the reports.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use client::{Client, ClientError, RawRequest, build, eventing};
use serde::{Deserialize, Serialize};

use crate::eval::Answer;

/// The roles a discovered resource can play, in the order discovery fills them.
pub const ROLES: [&str; 4] = ["enumerable", "gettable", "keyed", "writable"];

/// Requirements that are neither roles nor classes.
pub const FEATURES: [&str; 11] = [
    "eventing:events",
    "eventing:pull",
    "eventing:push",
    "eventing:push-with-ack",
    "feature:eventing",
    "feature:fragment",
    "filter:selector",
    "filter:wql",
    "identify:unauthenticated",
    "shell:cmd",
    "shell:psrp",
];

/// Resources every run tries after the user's: class names get the DMTF CIM prefix.
pub const WELL_KNOWN: &[&str] = &[
    "CIM_ComputerSystem",
    "CIM_NumericSensor",
    "CIM_Sensor",
    "CIM_Fan",
    "CIM_PowerSupply",
    "CIM_RecordLog",
    "CIM_LogRecord",
    "CIM_SoftwareIdentity",
    "CIM_RegisteredProfile",
    "CIM_SystemDevice",
    "CIM_Processor",
    "CIM_Chassis",
    "http://schemas.microsoft.com/wbem/wsman/1/config",
    "http://schemas.microsoft.com/wbem/wsman/1/config/service",
    "http://schemas.microsoft.com/wbem/wsman/1/config/client",
    "http://schemas.microsoft.com/wbem/wsman/1/config/winrs",
    "http://schemas.microsoft.com/wbem/wsman/1/config/listener",
    "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem",
    "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_ComputerSystem",
    "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service",
    "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings",
    "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService",
    "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_EthernetPortSettings",
    "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService",
];

/// How long discovery may take in all before it stops probing further resources.
const DISCOVERY_BUDGET: Duration = Duration::from_secs(60);

/// How many gettable resources discovery tries a Put on before giving up on
/// `writable`.
const PUT_ATTEMPTS: usize = 4;

/// The text a writable string property is set to (and then restored from).
pub const PUT_MARKER: &str = "Touchstone conformance Put";

/// A resource the user asked to have checked first (`--resource URI[?Sel=V&...]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserResource {
    /// The resource URI (or a CIM class name).
    pub uri: String,
    /// Selectors of the instance to use (none: the first enumerated, or a singleton).
    pub selectors: Vec<(String, String)>,
}

impl std::str::FromStr for UserResource {
    type Err = String;

    /// `URI` or `URI?Name=Value&Other=Value`.
    fn from_str(s: &str) -> Result<UserResource, String> {
        let (uri, query) = match s.split_once('?') {
            Some((u, q)) => (u, Some(q)),
            None => (s, None),
        };
        if uri.trim().is_empty() {
            return Err(format!("`{s}`: expected a resource URI or class name"));
        }
        let mut selectors = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some((k, v)) if !k.is_empty() => selectors.push((k.to_owned(), v.to_owned())),
                _ => {
                    return Err(format!(
                        "`{s}`: selector `{pair}` is not NAME=VALUE (URI?Name=Value&Other=Value)"
                    ));
                }
            }
        }
        Ok(UserResource {
            uri: uri.trim().to_owned(),
            selectors,
        })
    }
}

/// An instance discovery found, as protocol cases use it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Found {
    /// The resource URI.
    pub uri: String,
    /// The selectors that address the instance (empty for a singleton).
    pub selectors: Vec<(String, String)>,
    /// Namespace of the representation's root element.
    pub ns: String,
    /// Local name of the representation's root element.
    pub element: String,
    /// The representation as got, written with its own namespace declarations.
    pub representation: String,
    /// The leaf properties of the representation: (local name, text), in order.
    pub properties: Vec<(String, String)>,
    /// `writable`: the property a Put changed (and discovery restored) and its value.
    pub property: Option<(String, String)>,
    /// `writable`: the value a changed Put set (the marker, or a number).
    pub new_value: Option<String>,
}

/// One thing discovery asked and what came, for the reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// What was asked (`Identify (authenticated)`, `Enumerate CIM_Fan`, ...).
    pub what: String,
    /// Whether the subject offers it.
    pub offered: bool,
    /// What came, in a few words.
    pub detail: String,
}

/// What the subject offers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Vendor and version from the IdentifyResponse.
    pub product: Option<String>,
    /// Requirements the subject does not meet, with the reason.
    pub missing: BTreeMap<String, String>,
    /// The resource of each role discovery filled.
    pub roles: BTreeMap<String, Found>,
    /// Everything discovery asked, in order.
    pub probes: Vec<Probe>,
    /// The HTTP status when the target refused the credentials (401/403 to an
    /// authenticated Identify); discovery stops there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<u16>,
    /// The authentication schemes the target's challenge offered, when it refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub challenges: Vec<String>,
    /// The resource a Subscribe was accepted on (the eventing cases subscribe there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_resource: Option<String>,
    /// The PowerShell session configuration's resource URI the `psrp` cases open pools
    /// on (Windows' default unless the run names another).
    pub psrp_uri: String,
}

impl Capabilities {
    /// Why `requirement` is not met, if it is not.
    pub fn why_missing(&self, requirement: &str) -> Option<&str> {
        self.missing.get(requirement).map(String::as_str)
    }

    /// The resource playing `role`, if discovery found one.
    pub fn role(&self, role: &str) -> Option<&Found> {
        self.roles.get(role)
    }
}

/// What to discover beyond the fixed list.
#[derive(Debug, Clone, Default)]
pub struct DiscoverOptions {
    /// The user's resources, tried first.
    pub resources: Vec<UserResource>,
    /// Requirements the selected cases name (classes not in the well-known list are
    /// probed too; the shell is probed only when a case needs it).
    pub needed: BTreeSet<String>,
    /// The event sink's URL prefix (`http://ADDR/sink/`) push-mode Subscribes name as
    /// NotifyTo; without one only pull delivery is probed.
    pub notify_to: Option<String>,
    /// The resource URI of the PowerShell session configuration the `psrp` cases use
    /// (probed for `shell:psrp`).
    pub psrp_uri: String,
}

/// The requirement that a delivery mode is accepted: `eventing:push`,
/// `eventing:push-with-ack`, `eventing:events`, `eventing:pull`.
pub fn mode_requirement(mode: &str) -> String {
    format!("eventing:{}", eventing::mode::short(mode))
}

/// Identifies the subject and learns what it offers. Fails only when the first
/// Identify gets no answer at all.
pub async fn discover(
    client: &Client,
    opts: &DiscoverOptions,
) -> Result<Capabilities, ClientError> {
    let started = Instant::now();
    let mut caps = Capabilities::default();
    // A connection closed without any answer is no answer: the target is not usable.
    let ex = client.identify(false).await?.answered()?;
    let answer = Answer::new(&ex);
    caps.product = crate::product::product(&answer);
    let identified = answer.count("s:Body/*:IdentifyResponse") > 0;
    caps.probes.push(Probe {
        what: "Identify (authenticated)".into(),
        offered: identified,
        detail: match (&caps.product, identified) {
            (Some(p), true) => format!("{p}{}", protocol(&answer)),
            (None, true) => format!("answered without a product name{}", protocol(&answer)),
            _ => describe(&ex),
        },
    });
    if let Some(status @ (401 | 403)) = ex.status() {
        caps.refused = Some(status);
        caps.challenges = offered_schemes(&ex);
        return Ok(caps);
    }
    // A target may answer Identify without asking for credentials and refuse them on
    // everything else: one authenticated request that is not an Identify says so now,
    // before every case meets the same 401.
    if ex.auth_scheme.is_none() && client.target().user.is_some() {
        // Only a refusal of the credentials counts (401 after they were offered): a 403
        // is this user not being allowed this class, which says nothing about the
        // credentials; any other answer, or none (a huge body, a timeout), is for
        // discovery and the cases to judge.
        let probe = client.send(&auth_probe(client)).await;
        if let Some((probe, status @ 401)) = probe.ok().and_then(|p| p.status().map(|s| (p, s))) {
            caps.probes.push(Probe {
                what: "Authenticated Get".into(),
                offered: false,
                detail: describe(&probe),
            });
            caps.refused = Some(status);
            caps.challenges = offered_schemes(&probe);
            return Ok(caps);
        }
    }
    let unauth = probe_unauthenticated(client).await;
    caps.probes.push(Probe {
        what: "Identify (unauthenticated)".into(),
        offered: unauth.is_none(),
        detail: unauth.clone().unwrap_or_else(|| "answered".into()),
    });
    if let Some(why) = unauth {
        caps.missing.insert("identify:unauthenticated".into(), why);
    }

    let mut d = Discovery {
        client,
        started,
        tried: Vec::new(),
        gettable: Vec::new(),
    };
    let mut candidates: Vec<UserResource> = opts.resources.clone();
    for uri in WELL_KNOWN {
        candidates.push(UserResource {
            uri: (*uri).into(),
            selectors: Vec::new(),
        });
    }
    for req in &opts.needed {
        if let Some(class) = req.strip_prefix("class:") {
            if !candidates.iter().any(|c| c.uri == class) {
                candidates.push(UserResource {
                    uri: class.into(),
                    selectors: Vec::new(),
                });
            }
        }
    }
    let mut enumerated: BTreeMap<String, Result<(), String>> = BTreeMap::new();
    for cand in &candidates {
        let uri = crate::template::resource_uri(&cand.uri);
        if enumerated.contains_key(&uri) {
            continue;
        }
        if d.out_of_time() {
            enumerated.insert(
                uri.clone(),
                Err("not probed: discovery ran out of its 60 s budget".into()),
            );
            continue;
        }
        let outcome = d.resource(&mut caps, cand, &uri).await;
        enumerated.insert(uri, outcome);
    }
    for req in &opts.needed {
        if let Some(class) = req.strip_prefix("class:") {
            let uri = crate::template::resource_uri(class);
            if let Some(Err(why)) = enumerated.get(&uri) {
                caps.missing.insert(req.clone(), why.clone());
            }
        }
    }
    d.writable(&mut caps).await;
    for role in ROLES {
        if !caps.roles.contains_key(role) {
            caps.missing
                .insert(format!("resource:{role}"), d.why_no(role, &candidates));
        }
    }
    d.fragment(&mut caps).await;
    d.filters(&mut caps).await;
    // Eight Subscribes (four modes, two resources) are probed only for a run whose cases
    // need them: a run of other profiles sends none.
    if opts
        .needed
        .iter()
        .any(|r| r == "feature:eventing" || r.starts_with("eventing:"))
    {
        d.eventing(&mut caps, opts.notify_to.as_deref()).await;
    }
    d.profiles(&mut caps).await;
    if opts.needed.contains("shell:cmd") && !d.over_budget(&mut caps, &["shell:cmd"]) {
        let why = probe_shell(client).await;
        caps.probes.push(Probe {
            what: "WinRM cmd shell (Create, then Delete)".into(),
            offered: why.is_none(),
            detail: why.clone().unwrap_or_else(|| "created and deleted".into()),
        });
        if let Some(why) = why {
            caps.missing.insert("shell:cmd".into(), why);
        }
    }
    if opts.needed.contains("shell:psrp") && !d.over_budget(&mut caps, &["shell:psrp"]) {
        caps.psrp_uri = opts.psrp_uri.clone();
        let why = probe_psrp(client, &opts.psrp_uri).await;
        caps.probes.push(Probe {
            what: "PowerShell remoting (Create of a runspace pool shell, then Delete)".into(),
            offered: why.is_none(),
            detail: why.clone().unwrap_or_else(|| "created and deleted".into()),
        });
        if let Some(why) = why {
            caps.missing.insert("shell:psrp".into(), why);
        }
    }
    Ok(caps)
}

fn protocol(answer: &Answer<'_>) -> String {
    answer
        .value("s:Body/*:IdentifyResponse/*:ProtocolVersion")
        .map(|p| format!(", protocol {}", p.trim()))
        .unwrap_or_default()
}

/// What an answer was, in a few words: the fault subcode, or the HTTP status.
fn describe(ex: &client::Exchange) -> String {
    if let Some(f) = ex.fault() {
        let mut s = format!("fault {}", f.subcode.unwrap_or(f.code));
        if let Some(d) = f.detail {
            s.push_str(&format!(" ({d})"));
        }
        return s;
    }
    match ex.status() {
        Some(s) => format!("HTTP {s} without a fault"),
        None => format!(
            "no answer ({})",
            ex.error.as_deref().unwrap_or("the connection closed")
        ),
    }
}

/// The schemes a 401's `WWW-Authenticate` headers offer, as the target spells them,
/// each once.
fn offered_schemes(ex: &client::Exchange) -> Vec<String> {
    let Some(r) = ex.response.as_ref() else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for c in client::auth::parse_challenges(r.headers_named("WWW-Authenticate")) {
        if !out.iter().any(|s| s.eq_ignore_ascii_case(&c.scheme)) {
            out.push(c.scheme);
        }
    }
    out
}

/// The authenticated request of the preflight: a Get of `CIM_ComputerSystem` without
/// selectors. Whatever the target thinks of it (an instance, a fault, a 403 for a class
/// this user may not read), anything but a 401 means the credentials were taken.
fn auth_probe(client: &Client) -> wsman::Envelope<'static> {
    client
        .request(format!("{}CIM_ComputerSystem", wsman::ns::CIM_SCHEMA))
        .get()
}

/// The schemes the client answers, as targets name them, and how to ask for each.
const SPOKEN: [(&str, client::AuthScheme); 2] = [
    ("Basic", client::AuthScheme::Basic),
    ("Digest", client::AuthScheme::Digest),
];

/// What the authentication preflight saw when the target would not take the
/// credentials: the schemes it offered and what each one the client speaks got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    /// The user name sent, if any.
    pub user: Option<String>,
    /// Whether the URL is plain HTTP (WinRM's AllowUnencrypted hint).
    pub plain_http: bool,
    /// The schemes the target's challenge offered, as it spells them.
    pub offered: Vec<String>,
    /// Each offered scheme the client speaks, tried alone, with the status it got
    /// (`None`: no answer).
    pub tried: Vec<(String, Option<u16>)>,
    /// The status of the request that was refused first.
    pub status: u16,
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

impl std::fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let offered = if self.offered.is_empty() {
            format!("HTTP {} without a WWW-Authenticate challenge", self.status)
        } else {
            format!("{} offered", and_list(&self.offered))
        };
        let Some(user) = &self.user else {
            return write!(
                f,
                "authentication failed: no credentials were given ({offered}); give --user \
                 and the password (TOUCHSTONE_PASSWORD or --password-file)"
            );
        };
        write!(f, "authentication failed for user `{user}` ({offered}")?;
        let unspoken: Vec<String> = self
            .offered
            .iter()
            .filter(|o| !self.tried.iter().any(|(t, _)| t.eq_ignore_ascii_case(o)))
            .cloned()
            .collect();
        let status = |s: Option<u16>| match s {
            None => "no answer".to_owned(),
            Some(s @ (401 | 403)) => s.to_string(),
            Some(s) => format!("accepted (HTTP {s})"),
        };
        let same = self.tried.first().map(|(_, s)| *s);
        if self.tried.is_empty() {
            if !self.offered.is_empty() {
                f.write_str("; none of them is Basic or Digest, the schemes touchstone speaks")?;
            }
        } else if self.tried.iter().all(|(_, s)| Some(*s) == same) {
            let tried: Vec<String> = self.tried.iter().map(|(t, _)| t.clone()).collect();
            match unspoken.is_empty() {
                true if tried.len() > 1 => write!(f, "; {} for all", status(same.flatten()))?,
                _ => write!(f, "; {} for {}", status(same.flatten()), and_list(&tried))?,
            }
        } else {
            let each: Vec<String> = self
                .tried
                .iter()
                .map(|(t, s)| format!("{} for {t}", status(*s)))
                .collect();
            write!(f, "; {}", each.join(", "))?;
        }
        if !unspoken.is_empty() && !self.tried.is_empty() {
            write!(
                f,
                "; {} not tried: touchstone speaks Basic and Digest",
                and_list(&unspoken)
            )?;
        }
        f.write_str(")")?;
        if self.plain_http && self.offered.iter().any(|o| o.eq_ignore_ascii_case("basic")) {
            f.write_str(
                "; check --user and the password (WinRM over plain HTTP refuses Basic \
                 unless AllowUnencrypted is set)",
            )
        } else {
            f.write_str("; check --user and the password")
        }
    }
}

/// The authentication preflight, once the target refused the credentials (`status`
/// to an authenticated request; `offered`: the schemes its challenge named): every
/// offered scheme the client speaks is tried on its own with the authenticated Get, so
/// the verdict can say what each got.
pub async fn auth_preflight(client: &Client, status: u16, offered: &[String]) -> AuthFailure {
    let target = client.target();
    let mut tried = Vec::new();
    if target.user.is_some() {
        for (name, scheme) in SPOKEN {
            if !offered.iter().any(|o| o.eq_ignore_ascii_case(name)) {
                continue;
            }
            let got = match Client::new(target.clone().auth(scheme)) {
                Ok(c) => c
                    .send(&auth_probe(&c))
                    .await
                    .ok()
                    .and_then(|ex| ex.status()),
                Err(_) => None,
            };
            tried.push((name.to_owned(), got));
        }
    }
    AuthFailure {
        user: target.user.clone(),
        plain_http: client.url().starts_with("http:"),
        offered: offered.to_vec(),
        tried,
        status,
    }
}

async fn probe_unauthenticated(client: &Client) -> Option<String> {
    match client.identify(true).await {
        Ok(ex)
            if ex.status() == Some(200)
                && Answer::new(&ex).count("s:Body/*:IdentifyResponse") > 0 =>
        {
            None
        }
        Ok(ex) => Some(format!(
            "the target does not answer an unauthenticated Identify (HTTP {})",
            ex.status().map_or("none".into(), |s| s.to_string())
        )),
        Err(e) => Some(format!("unauthenticated Identify got no answer: {e}")),
    }
}

/// The first item of an enumeration: its element and, when the answer carried an
/// EPR, its selectors.
struct Item {
    xml: Element,
    selectors: Option<Vec<(String, String)>>,
}

/// An element as plain values, detached from the document it came in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Namespace URI.
    pub ns: String,
    /// Local name.
    pub local: String,
    /// Attributes: (namespace, local name, value).
    pub attrs: Vec<(String, String, String)>,
    /// Text of a leaf.
    pub text: String,
    /// Child elements.
    pub children: Vec<Element>,
}

impl Element {
    /// Copies `node` and everything under it.
    pub fn from_node(node: roxmltree::Node<'_, '_>) -> Element {
        let children: Vec<Element> = node
            .children()
            .filter(|c| c.is_element())
            .map(Element::from_node)
            .collect();
        Element {
            ns: node.tag_name().namespace().unwrap_or_default().to_owned(),
            local: node.tag_name().name().to_owned(),
            attrs: node
                .attributes()
                .map(|a| {
                    (
                        a.namespace().unwrap_or_default().to_owned(),
                        a.name().to_owned(),
                        a.value().to_owned(),
                    )
                })
                .collect(),
            text: if children.is_empty() {
                crate::path::text(&node)
            } else {
                String::new()
            },
            children,
        }
    }

    /// Leaf children as (local name, text).
    pub fn leaves(&self) -> Vec<(String, String)> {
        self.children
            .iter()
            .filter(|c| c.children.is_empty())
            .map(|c| (c.local.clone(), c.text.clone()))
            .collect()
    }

    /// The element as XML, each namespace declared where it is first used; with
    /// `set`, the leaf child of that local name gets that text instead.
    pub fn to_xml(&self, set: Option<(&str, &str)>) -> String {
        let mut out = String::new();
        let mut n = 0usize;
        self.write(&mut out, &mut Vec::new(), &mut n, set, true);
        out
    }

    fn write(
        &self,
        out: &mut String,
        scope: &mut Vec<(String, String)>,
        n: &mut usize,
        set: Option<(&str, &str)>,
        root: bool,
    ) {
        let depth = scope.len();
        let mut decls = String::new();
        let mut prefix_of = |ns: &str, scope: &mut Vec<(String, String)>, decls: &mut String| {
            if ns.is_empty() {
                return String::new();
            }
            if let Some((p, _)) = scope.iter().rev().find(|(_, u)| u == ns) {
                return format!("{p}:");
            }
            let p = if scope.is_empty() {
                "p".to_owned()
            } else {
                *n += 1;
                format!("n{n}")
            };
            decls.push_str(&format!(" xmlns:{p}=\"{}\"", attr_escape(ns)));
            scope.push((p.clone(), ns.to_owned()));
            format!("{p}:")
        };
        let name = format!("{}{}", prefix_of(&self.ns, scope, &mut decls), self.local);
        let mut attrs = String::new();
        for (ns, local, value) in &self.attrs {
            let p = prefix_of(ns, scope, &mut decls);
            attrs.push_str(&format!(" {p}{local}=\"{}\"", attr_escape(value)));
        }
        out.push_str(&format!("<{name}{decls}{attrs}>"));
        if self.children.is_empty() {
            out.push_str(&text_escape(&self.text));
        }
        for c in &self.children {
            match set {
                Some((prop, value)) if root && c.children.is_empty() && c.local == prop => {
                    let mut changed = c.clone();
                    changed.text = value.to_owned();
                    // A nil property that gets a value is no longer nil.
                    changed.attrs.retain(|(_, l, _)| l != "nil");
                    changed.write(out, scope, n, None, false);
                }
                _ => c.write(out, scope, n, None, false),
            }
        }
        out.push_str(&format!("</{name}>"));
        scope.truncate(depth);
    }
}

fn attr_escape(s: &str) -> String {
    text_escape(s).replace('"', "&quot;")
}

fn text_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The `wsman:SelectorSet` of `selectors` (empty text when there are none); the
/// `wsman` prefix must be bound where it is used.
pub fn selector_set(selectors: &[(String, String)]) -> String {
    if selectors.is_empty() {
        return String::new();
    }
    format!(
        "<wsman:SelectorSet>{}</wsman:SelectorSet>",
        selector_list(selectors)
    )
}

/// The `wsman:Selector` elements of `selectors`, without the set around them.
pub fn selector_list(selectors: &[(String, String)]) -> String {
    selectors
        .iter()
        .map(|(k, v)| {
            format!(
                "<wsman:Selector Name=\"{}\">{}</wsman:Selector>",
                attr_escape(k),
                text_escape(v)
            )
        })
        .collect()
}

/// A request envelope as text, for what the builder does not write (a Put of a
/// representation as got, the shell probe).
fn envelope(
    to: &str,
    action: &str,
    uri: &str,
    selectors: &[(String, String)],
    extra_headers: &str,
    body: &str,
) -> Vec<u8> {
    format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:wsman=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
         xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\">\
         <s:Header><wsa:To>{to}</wsa:To><wsa:Action s:mustUnderstand=\"true\">{action}</wsa:Action>\
         <wsa:MessageID>{mid}</wsa:MessageID><wsa:ReplyTo><wsa:Address s:mustUnderstand=\"true\">\
         http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>\
         <wsman:ResourceURI s:mustUnderstand=\"true\">{uri}</wsman:ResourceURI>\
         <wsman:MaxEnvelopeSize s:mustUnderstand=\"true\">153600</wsman:MaxEnvelopeSize>\
         <wsman:OperationTimeout>PT20S</wsman:OperationTimeout>{sel}{extra_headers}</s:Header>\
         <s:Body>{body}</s:Body></s:Envelope>",
        to = text_escape(to),
        uri = text_escape(uri),
        sel = selector_set(selectors),
        mid = build::message_id(),
    )
    .into_bytes()
}

/// The state of one discovery.
struct Discovery<'c> {
    client: &'c Client,
    started: Instant,
    /// (uri, why it plays no role) for every resource tried.
    tried: Vec<(String, String)>,
    /// Instances a Get answered, in discovery order.
    gettable: Vec<Found>,
}

impl Discovery<'_> {
    fn out_of_time(&self) -> bool {
        self.started.elapsed() > DISCOVERY_BUDGET
    }

    /// Past the budget (a slow target): `requirements` are marked not probed, so their
    /// cases skip with that reason instead of discovery waiting on more deadlines.
    fn over_budget(&self, caps: &mut Capabilities, requirements: &[&str]) -> bool {
        if !self.out_of_time() {
            return false;
        }
        for r in requirements {
            caps.missing.insert(
                (*r).to_owned(),
                "not probed: discovery ran out of its 60 s budget (a slow target)".into(),
            );
        }
        true
    }

    /// Sends `env`, or says why nothing came.
    async fn send(&self, env: &wsman::Envelope<'_>) -> Result<client::Exchange, String> {
        self.client
            .send(env)
            .await
            .map_err(|e| format!("no answer: {e}"))
    }

    async fn send_raw(&self, body: Vec<u8>) -> Result<client::Exchange, String> {
        self.client
            .send_raw(RawRequest::soap(body))
            .await
            .map_err(|e| format!("no answer: {e}"))
    }

    /// Releases an enumeration that did not end.
    async fn release(&self, uri: &str, answer: &Answer<'_>, response: &str) {
        let ended = answer.count(&format!("s:Body/wsen:{response}/wsman:EndOfSequence")) > 0
            || answer.count(&format!("s:Body/wsen:{response}/wsen:EndOfSequence")) > 0;
        if let (false, Some(c)) = (
            ended,
            answer.value(&format!("s:Body/wsen:{response}/wsen:EnumerationContext")),
        ) {
            let _ = self.client.send(&self.client.request(uri).release(c)).await;
        }
    }

    /// The first item of `uri`: optimized `EnumerateObjectAndEPR`, else optimized
    /// plain, else Enumerate then Pull.
    async fn first_item(&self, uri: &str) -> Result<Option<Item>, String> {
        let attempts = [
            (true, Some(wsman::body::EnumerationMode::ObjectAndEpr)),
            (true, None),
            (false, None),
        ];
        let mut last = String::new();
        for (optimize, mode) in attempts {
            let with_epr = mode.is_some();
            let body = build::enumerate_body(None, optimize, optimize.then_some(1), mode, None);
            let ex = self.send(&self.client.request(uri).enumerate(body)).await?;
            if ex.fault().is_some() || ex.status() != Some(200) {
                last = describe(&ex);
                // An unknown resource is unknown whatever the mode.
                if let Some(f) = ex.fault() {
                    if f.subcode.as_deref().is_some_and(|s| {
                        matches!(
                            s,
                            "wsa:DestinationUnreachable"
                                | "wsa:ActionNotSupported"
                                | "wsman:AccessDenied"
                        )
                    }) {
                        return Err(last);
                    }
                }
                continue;
            }
            let answer = Answer::new(&ex);
            let Some(doc) = answer.doc() else {
                return Err("the EnumerateResponse is not XML".into());
            };
            let items = if optimize {
                first_in(&doc, "EnumerateResponse", with_epr)
            } else {
                None
            };
            if let Some(item) = items {
                self.release(uri, &answer, "EnumerateResponse").await;
                return Ok(Some(item));
            }
            if optimize && answer.count("s:Body/wsen:EnumerateResponse/*:EndOfSequence") > 0 {
                return Ok(None);
            }
            // Not optimized (or the service ignored it): pull one.
            let Some(ctx) = answer.value("s:Body/wsen:EnumerateResponse/wsen:EnumerationContext")
            else {
                return Err("the EnumerateResponse has no EnumerationContext".into());
            };
            let pull = self
                .send(
                    &self
                        .client
                        .request(uri)
                        .pull(build::pull_body(ctx.clone(), Some(1))),
                )
                .await?;
            let pa = Answer::new(&pull);
            let item = pa.doc().and_then(|d| first_in(&d, "PullResponse", false));
            if item.is_some() {
                self.release(uri, &pa, "PullResponse").await;
            }
            return Ok(item);
        }
        Err(last)
    }

    /// Enumerates, gets and records one candidate; `Err` says why it is not offered.
    async fn resource(
        &mut self,
        caps: &mut Capabilities,
        cand: &UserResource,
        uri: &str,
    ) -> Result<(), String> {
        let item = self.first_item(uri).await;
        let (enumerable, item, why) = match item {
            Ok(Some(i)) => (true, Some(i), None),
            Ok(None) => (true, None, None),
            Err(why) => (false, None, Some(why)),
        };
        caps.probes.push(Probe {
            what: format!("Enumerate {uri}"),
            offered: enumerable,
            detail: match (&item, &why) {
                (Some(i), _) => format!(
                    "items ({}{})",
                    i.xml.local,
                    if i.selectors.is_some() {
                        ", with EPRs"
                    } else {
                        ""
                    }
                ),
                (None, None) => "no items".into(),
                (None, Some(w)) => w.clone(),
            },
        });
        if enumerable && item.is_some() && !caps.roles.contains_key("enumerable") {
            caps.roles.insert(
                "enumerable".into(),
                Found {
                    uri: uri.to_owned(),
                    ..Found::default()
                },
            );
        }
        // The instance to get: the user's selectors, the EPR's, or none (a singleton).
        let selectors = if !cand.selectors.is_empty() {
            Some(cand.selectors.clone())
        } else {
            item.as_ref().and_then(|i| i.selectors.clone())
        };
        let user = !cand.selectors.is_empty();
        if !enumerable && !user && !uri_is_singleton_candidate(uri) {
            self.tried
                .push((uri.to_owned(), why.clone().unwrap_or_default()));
            return Err(why.unwrap_or_default());
        }
        let sels = selectors.unwrap_or_default();
        let mut req = self.client.request(uri);
        for (k, v) in &sels {
            req = req.selector(k.clone(), v.clone());
        }
        let ex = match self.send(&req.get()).await {
            Ok(ex) => ex,
            Err(e) => {
                self.tried.push((uri.to_owned(), e.clone()));
                return if enumerable { Ok(()) } else { Err(e) };
            }
        };
        let answer = Answer::new(&ex);
        let rep = (ex.fault().is_none() && ex.status() == Some(200))
            .then(|| {
                answer.doc().and_then(|d| {
                    let body = d
                        .root_element()
                        .children()
                        .find(|n| n.is_element() && n.tag_name().name() == "Body")?;
                    let first = body.children().find(|n| n.is_element())?;
                    // A representation wrapped in a protocol element (a deviation the
                    // rules report) is unwrapped, so the cases still find the resource.
                    let wrapped = matches!(
                        first.tag_name().namespace(),
                        Some(wsman::ns::WXF | wsman::ns::WSMAN | wsman::ns::WSEN)
                    ) && first.children().filter(|n| n.is_element()).count() == 1;
                    let rep = if wrapped {
                        first.children().find(|n| n.is_element())?
                    } else {
                        first
                    };
                    Some(Element::from_node(rep))
                })
            })
            .flatten();
        caps.probes.push(Probe {
            what: format!(
                "Get {uri}{}",
                if sels.is_empty() {
                    " (no selectors)".to_owned()
                } else {
                    format!(
                        " ({})",
                        sels.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ),
            offered: rep.is_some(),
            detail: match &rep {
                Some(r) => format!("{} with {} properties", r.local, r.leaves().len()),
                None => describe(&ex),
            },
        });
        match rep {
            Some(r) => {
                let found = Found {
                    uri: uri.to_owned(),
                    selectors: sels.clone(),
                    ns: r.ns.clone(),
                    element: r.local.clone(),
                    representation: r.to_xml(None),
                    properties: r.leaves(),
                    property: None,
                    new_value: None,
                };
                caps.roles
                    .entry("gettable".into())
                    .or_insert_with(|| found.clone());
                if !sels.is_empty() {
                    caps.roles
                        .entry("keyed".into())
                        .or_insert_with(|| found.clone());
                }
                if !caps.roles.contains_key("enumerable") && enumerable {
                    caps.roles.insert(
                        "enumerable".into(),
                        Found {
                            uri: uri.to_owned(),
                            ..Found::default()
                        },
                    );
                }
                self.gettable.push(found);
                Ok(())
            }
            None => {
                let why_get = describe(&ex);
                self.tried.push((uri.to_owned(), format!("Get: {why_get}")));
                if enumerable {
                    Ok(())
                } else {
                    Err(why.unwrap_or(why_get))
                }
            }
        }
    }

    /// Finds a resource whose Put works: the representation put back unchanged, then
    /// one property changed (and seen changed by a Get), then restored.
    async fn writable(&mut self, caps: &mut Capabilities) {
        let to = self.client.url().to_owned();
        let candidates: Vec<Found> = self.gettable.iter().take(PUT_ATTEMPTS).cloned().collect();
        for f in candidates {
            if self.out_of_time() {
                break;
            }
            let put = |body: String| {
                envelope(&to, wsman::ns::action::PUT, &f.uri, &f.selectors, "", &body)
            };
            let unchanged = match self.send_raw(put(f.representation.clone())).await {
                Ok(ex) if ex.fault().is_none() && ex.status() == Some(200) => None,
                Ok(ex) => Some(describe(&ex)),
                Err(e) => Some(e),
            };
            caps.probes.push(Probe {
                what: format!("Put {} unchanged", f.uri),
                offered: unchanged.is_none(),
                detail: unchanged.clone().unwrap_or_else(|| "PutResponse".into()),
            });
            if let Some(why) = unchanged {
                self.tried.push((f.uri.clone(), format!("Put: {why}")));
                continue;
            }
            let keys: BTreeSet<String> = f
                .selectors
                .iter()
                .map(|(k, _)| k.to_ascii_lowercase())
                .collect();
            let mut order: Vec<&(String, String)> = f
                .properties
                .iter()
                .filter(|(n, _)| !keys.contains(&n.to_ascii_lowercase()))
                .collect();
            // ElementName first (CIM's writable label), then strings, then numbers.
            order.sort_by_key(|(n, v)| {
                if n == "ElementName" {
                    0
                } else if v.parse::<f64>().is_err() && !matches!(v.as_str(), "true" | "false") {
                    1
                } else if v.parse::<u32>().is_ok() {
                    2
                } else {
                    3
                }
            });
            for (name, old) in order.into_iter().take(3) {
                let new = match old.parse::<u32>() {
                    Ok(n) if n > 0 => (n - 1).to_string(),
                    Ok(n) => (n + 1).to_string(),
                    Err(_) if matches!(old.as_str(), "true" | "false") => continue,
                    Err(_) => PUT_MARKER.to_owned(),
                };
                let changed = self
                    .send_raw(put(element_of(&f).to_xml(Some((name, &new)))))
                    .await;
                let ok =
                    matches!(&changed, Ok(ex) if ex.fault().is_none() && ex.status() == Some(200));
                if !ok {
                    continue;
                }
                // Put it back whatever the Get says.
                let mut req = self.client.request(&f.uri);
                for (k, v) in &f.selectors {
                    req = req.selector(k.clone(), v.clone());
                }
                let seen = self.send(&req.get()).await.ok().is_some_and(|ex| {
                    let a = Answer::new(&ex);
                    // Unwrapped, or inside a wrapper the rules report.
                    [format!("s:Body/*/*:{name}"), format!("s:Body/*/*/*:{name}")]
                        .iter()
                        .any(|p| a.value(p).as_deref() == Some(new.as_str()))
                });
                let restored = self
                    .send_raw(put(f.representation.clone()))
                    .await
                    .is_ok_and(|ex| ex.fault().is_none());
                caps.probes.push(Probe {
                    what: format!("Put {} with {name} changed", f.uri),
                    offered: seen && restored,
                    detail: match (seen, restored) {
                        (true, true) => format!("applied and restored to `{old}`"),
                        (false, _) => "accepted, but a Get did not show the change".into(),
                        (true, false) => format!("applied; restoring `{old}` failed"),
                    },
                });
                if seen && restored {
                    let mut w = f.clone();
                    w.property = Some((name.clone(), old.clone()));
                    w.new_value = Some(new);
                    caps.roles.insert("writable".into(), w);
                    return;
                }
            }
        }
    }

    fn why_no(&self, role: &str, candidates: &[UserResource]) -> String {
        let what = match role {
            "enumerable" => "answers an Enumerate with at least one item",
            "gettable" => "answers a Get",
            "keyed" => "answers a Get of an instance addressed by selectors",
            _ => "accepts a Put (unchanged, then with one property changed)",
        };
        let tried: Vec<String> = self
            .tried
            .iter()
            .take(3)
            .map(|(u, w)| format!("{}: {w}", short(u)))
            .collect();
        format!(
            "no resource the target offers {what} ({} tried{}{}; add yours with --resource URI)",
            candidates.len(),
            if tried.is_empty() { "" } else { ", e.g. " },
            tried.join("; ")
        )
    }

    /// Which delivery modes the target accepts, and on which resource: each mode is
    /// subscribed (10-second expiry; push modes to the run's event sink) and
    /// unsubscribed at once when it is accepted. The resources tried are
    /// `CIM_AlertIndication`, then the enumerable resource; the first on which any mode
    /// is accepted is the event source of the eventing cases. Eventing is optional in
    /// DSP0226: what is refused is missing, with the target's answer as the reason.
    async fn eventing(&mut self, caps: &mut Capabilities, notify_to: Option<&str>) {
        let all: Vec<String> = std::iter::once("feature:eventing".to_owned())
            .chain(eventing::mode::ALL.iter().map(|m| mode_requirement(m)))
            .collect();
        let all_refs: Vec<&str> = all.iter().map(String::as_str).collect();
        if self.over_budget(caps, &all_refs) {
            return;
        }
        let mut candidates = vec![crate::template::resource_uri("CIM_AlertIndication")];
        if let Some(e) = caps.role("enumerable") {
            if !candidates.contains(&e.uri) {
                candidates.push(e.uri.clone());
            }
        }
        let mut first_refusal: Option<String> = None;
        for uri in &candidates {
            let mut accepted = Vec::new();
            let mut refused = Vec::new();
            for mode in eventing::mode::ALL {
                let why = self.subscribe_probe(uri, mode, notify_to).await;
                caps.probes.push(Probe {
                    what: format!(
                        "Subscribe ({} delivery) to {}",
                        eventing::mode::short(mode),
                        short(uri)
                    ),
                    offered: why.is_none(),
                    detail: why
                        .clone()
                        .unwrap_or_else(|| "SubscribeResponse (unsubscribed)".into()),
                });
                match why {
                    None => accepted.push(mode),
                    Some(w) => refused.push((mode, w)),
                }
            }
            if accepted.is_empty() {
                if first_refusal.is_none() {
                    first_refusal = refused.first().map(|(_, w)| w.clone());
                }
                continue;
            }
            caps.event_resource = Some(uri.clone());
            for (mode, why) in refused {
                caps.missing.insert(mode_requirement(mode), why);
            }
            return;
        }
        let why = first_refusal.unwrap_or_else(|| "no resource to subscribe to".into());
        for r in all {
            caps.missing.insert(r, why.clone());
        }
    }

    /// Subscribes to `uri` in `mode` and unsubscribes at once; `None` when accepted,
    /// else why not.
    async fn subscribe_probe(
        &self,
        uri: &str,
        mode: &str,
        notify_to: Option<&str>,
    ) -> Option<String> {
        let push = mode != eventing::mode::PULL;
        let sub = match (push, notify_to) {
            (false, _) => eventing::Subscription::pull(),
            (true, Some(base)) => eventing::Subscription::with_mode(
                mode,
                Some(eventing::Endpoint::new(format!("{base}probe"))),
            ),
            (true, None) => return Some("no event sink to deliver to".into()),
        }
        .expires("PT10S");
        let env = sub.envelope(self.client.request(uri));
        let ex = match self.send(&env).await {
            Ok(ex) => ex,
            Err(e) => return Some(e),
        };
        if ex.fault().is_some() || ex.status() != Some(200) {
            return Some(format!("a Subscribe was answered {}", describe(&ex)));
        }
        match eventing::Subscribed::read(&ex) {
            Ok(s) => {
                let req = s.request(self.client.url(), uri);
                let _ = self.client.send(&eventing::unsubscribe(req)).await;
                None
            }
            Err(why) => Some(format!("a Subscribe was answered with {why}")),
        }
    }

    /// The profiles `CIM_RegisteredProfile` advertises (name and version), for the
    /// reports: what the target claims to implement.
    async fn profiles(&mut self, caps: &mut Capabilities) {
        if self.out_of_time() {
            return;
        }
        let uri = crate::template::resource_uri("CIM_RegisteredProfile");
        let offered = caps
            .probes
            .iter()
            .any(|p| p.offered && p.what == format!("Enumerate {uri}"));
        if !offered {
            return;
        }
        let body = build::enumerate_body(None, true, Some(100), None, None);
        let Ok(ex) = self.send(&self.client.request(&uri).enumerate(body)).await else {
            return;
        };
        let answer = Answer::new(&ex);
        self.release(&uri, &answer, "EnumerateResponse").await;
        let Some(doc) = answer.doc() else { return };
        let mut names: Vec<String> = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "CIM_RegisteredProfile")
            .filter_map(|p| {
                let field = |f: &str| {
                    p.children()
                        .find(|c| c.tag_name().name() == f)
                        .map(|c| crate::path::text(&c))
                };
                let name = field("RegisteredName")?;
                Some(match field("RegisteredVersion") {
                    Some(v) if !v.is_empty() => format!("{name} {v}"),
                    _ => name,
                })
            })
            .collect();
        names.dedup();
        caps.probes.push(Probe {
            what: "Registered profiles (CIM_RegisteredProfile)".into(),
            offered: !names.is_empty(),
            detail: if names.is_empty() {
                "none listed in the first 100 instances".into()
            } else {
                names.join(", ")
            },
        });
    }

    /// Fragment-level Get of one property of the gettable resource.
    async fn fragment(&mut self, caps: &mut Capabilities) {
        if self.over_budget(caps, &["feature:fragment"]) {
            return;
        }
        let Some(f) = caps.role("gettable").cloned() else {
            caps.missing.insert(
                "feature:fragment".into(),
                "no gettable resource to try a fragment Get on".into(),
            );
            return;
        };
        let keys: Vec<String> = f
            .selectors
            .iter()
            .map(|(k, _)| k.to_ascii_lowercase())
            .collect();
        let Some((prop, _)) = f
            .properties
            .iter()
            .find(|(n, _)| !keys.contains(&n.to_ascii_lowercase()))
            .or_else(|| f.properties.first())
        else {
            caps.missing.insert(
                "feature:fragment".into(),
                format!("{} has no property to get as a fragment", short(&f.uri)),
            );
            return;
        };
        let mut req = self.client.request(&f.uri).fragment(prop.clone());
        for (k, v) in &f.selectors {
            req = req.selector(k.clone(), v.clone());
        }
        let why = match self.send(&req.get()).await {
            Ok(ex) if ex.fault().is_none() && ex.status() == Some(200) => {
                if Answer::new(&ex).count("s:Body/wsman:XmlFragment") > 0 {
                    None
                } else {
                    Some("a fragment Get was answered without wsman:XmlFragment".into())
                }
            }
            Ok(ex) => Some(format!("a fragment Get was answered {}", describe(&ex))),
            Err(e) => Some(e),
        };
        caps.probes.push(Probe {
            what: format!("Get {} fragment {prop}", f.uri),
            offered: why.is_none(),
            detail: why.clone().unwrap_or_else(|| "wsman:XmlFragment".into()),
        });
        if let Some(why) = why {
            caps.missing.insert("feature:fragment".into(), why);
        }
    }

    /// The selector filter (on the keyed resource) and WQL (on the enumerable one).
    async fn filters(&mut self, caps: &mut Capabilities) {
        if self.over_budget(caps, &["filter:selector", "filter:wql"]) {
            return;
        }
        let keyed = caps.role("keyed").cloned();
        let enumerable = caps.role("enumerable").cloned();
        let probes = [
            (
                "filter:selector",
                "Selector filter",
                keyed.as_ref().map(|k| {
                    (
                        k.uri.clone(),
                        build::filter::selectors(k.selectors.iter().cloned()),
                    )
                }),
            ),
            (
                "filter:wql",
                "WQL filter",
                enumerable.as_ref().and_then(|e| {
                    let class = e.uri.rsplit('/').next().filter(|c| !c.is_empty())?;
                    Some((
                        e.uri.clone(),
                        build::filter::wql(format!("SELECT * FROM {class}")),
                    ))
                }),
            ),
        ];
        for (req, what, target) in probes {
            let Some((uri, filter)) = target else {
                caps.missing
                    .insert(req.into(), "no resource to try the filter on".into());
                continue;
            };
            let body = build::enumerate_body(Some(filter), true, Some(1), None, None);
            let why = match self.send(&self.client.request(&uri).enumerate(body)).await {
                Ok(ex) if ex.fault().is_none() && ex.status() == Some(200) => {
                    self.release(&uri, &Answer::new(&ex), "EnumerateResponse")
                        .await;
                    None
                }
                Ok(ex) => Some(format!(
                    "an Enumerate with a {what} was answered {}",
                    describe(&ex)
                )),
                Err(e) => Some(e),
            };
            caps.probes.push(Probe {
                what: format!("{what} ({})", short(&uri)),
                offered: why.is_none(),
                detail: why.clone().unwrap_or_else(|| "answered".into()),
            });
            if let Some(why) = why {
                caps.missing.insert(req.into(), why);
            }
        }
    }
}

/// URIs worth a Get without selectors even when Enumerate failed: WinRM's config
/// singletons and every user resource.
fn uri_is_singleton_candidate(uri: &str) -> bool {
    uri.starts_with("http://schemas.microsoft.com/wbem/wsman/1/config")
}

fn element_of(f: &Found) -> Element {
    roxmltree::Document::parse(&f.representation)
        .map(|d| Element::from_node(d.root_element()))
        .unwrap_or_default()
}

/// A URI shortened to its last segment for messages.
fn short(uri: &str) -> &str {
    uri.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(uri)
}

/// The first item under `s:Body/wsen:{response}/(wsman:Items|wsen:Items)`.
fn first_in(doc: &roxmltree::Document<'_>, response: &str, with_epr: bool) -> Option<Item> {
    let body = doc
        .root_element()
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == "Body")?;
    let resp = body
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == response)?;
    let items = resp
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == "Items")?;
    let first = items.children().find(|n| n.is_element())?;
    let is_wrapper =
        first.tag_name().name() == "Item" && first.tag_name().namespace() == Some(wsman::ns::WSMAN);
    if !is_wrapper {
        return Some(Item {
            xml: Element::from_node(first),
            selectors: None,
        });
    }
    // wsman:Item holds the object, then its EPR.
    let mut object = None;
    let mut selectors = None;
    for c in first.children().filter(|n| n.is_element()) {
        if c.tag_name().name() == "EndpointReference" {
            let set = c
                .descendants()
                .find(|n| n.tag_name().name() == "SelectorSet");
            selectors = Some(
                set.map(|s| {
                    s.children()
                        .filter(|n| n.is_element() && n.tag_name().name() == "Selector")
                        .filter_map(|n| {
                            Some((n.attribute("Name")?.to_owned(), crate::path::text(&n)))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            );
        } else if object.is_none() {
            object = Some(Element::from_node(c));
        }
    }
    Some(Item {
        xml: object?,
        selectors: if with_epr { selectors } else { None },
    })
}

const SHELL_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";

async fn probe_shell(client: &Client) -> Option<String> {
    let to = client.url().to_owned();
    let create = envelope(
        &to,
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
        SHELL_URI,
        &[],
        "",
        "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>\
         <rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>",
    );
    let ex = match client.send_raw(RawRequest::soap(create)).await {
        Ok(ex) => ex,
        Err(e) => return Some(format!("a shell Create got no answer: {e}")),
    };
    if let Some(f) = ex.fault() {
        return Some(format!(
            "the target offers no cmd shell (Create answered {})",
            f.subcode.unwrap_or(f.code)
        ));
    }
    let answer = Answer::new(&ex);
    let Some(id) = answer
        .value("s:Body/*:ResourceCreated/wsa:ReferenceParameters/wsman:SelectorSet/wsman:Selector")
    else {
        return Some(format!(
            "a shell Create was answered (HTTP {}) without a ShellId selector",
            ex.status().map_or("none".into(), |s| s.to_string())
        ));
    };
    let delete = envelope(
        &to,
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete",
        SHELL_URI,
        &[("ShellId".to_owned(), id)],
        "",
        "",
    );
    let _ = client.send_raw(RawRequest::soap(delete)).await;
    None
}

/// Whether the target offers PowerShell remoting: a Create of a runspace pool shell at
/// the default session configuration, with SESSION_CAPABILITY and INIT_RUNSPACEPOOL in
/// `creationXml`, is answered ResourceCreated; the shell is deleted again. Whether the
/// pool then opens is for the cases to judge, not for discovery.
async fn probe_psrp(client: &Client, uri: &str) -> Option<String> {
    use client::psrp::Pool;
    let mut pool = Pool::new(psrp::Guid([0x5a; 16]), uri);
    let init = psrp::records::InitRunspacePool {
        min_runspaces: 1,
        max_runspaces: 1,
        thread_options: None,
        apartment_state: None,
        application_arguments: Vec::new(),
    };
    let create = pool.create(client.request(uri), &init);
    let ex = match client.send(&create).await {
        Ok(ex) => ex,
        Err(e) => return Some(format!("a runspace pool Create got no answer: {e}")),
    };
    if let Some(f) = ex.fault() {
        return Some(format!(
            "the target offers no PowerShell remoting at {uri} (Create answered {})",
            f.subcode.unwrap_or(f.code)
        ));
    }
    if let Err(e) = pool.created(&ex) {
        return Some(format!(
            "a runspace pool Create was answered (HTTP {}) but {e}",
            ex.status().map_or("none".into(), |s| s.to_string())
        ));
    }
    let _ = client.send(&pool.delete(client.request(uri))).await;
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_authentication_failure_is_one_sentence_naming_what_was_tried() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let mut f = AuthFailure {
            user: Some("admin".into()),
            plain_http: false,
            offered: v(&["Basic", "Digest"]),
            tried: vec![("Basic".into(), Some(401)), ("Digest".into(), Some(401))],
            status: 401,
        };
        assert_eq!(
            f.to_string(),
            "authentication failed for user `admin` (Basic and Digest offered; 401 for all); \
             check --user and the password"
        );
        f.offered.push("Negotiate".into());
        f.plain_http = true;
        assert_eq!(
            f.to_string(),
            "authentication failed for user `admin` (Basic, Digest and Negotiate offered; \
             401 for Basic and Digest; Negotiate not tried: touchstone speaks Basic and \
             Digest); check --user and the password (WinRM over plain HTTP refuses Basic \
             unless AllowUnencrypted is set)"
        );
        f.tried[1].1 = Some(500);
        assert!(
            f.to_string()
                .contains("offered; 401 for Basic, accepted (HTTP 500) for Digest; Negotiate"),
            "{f}"
        );
        let only_negotiate = AuthFailure {
            offered: v(&["Negotiate"]),
            tried: Vec::new(),
            ..f.clone()
        };
        assert!(
            only_negotiate.to_string().starts_with(
                "authentication failed for user `admin` (Negotiate offered; none of them is \
                 Basic or Digest, the schemes touchstone speaks)"
            ),
            "{only_negotiate}"
        );
        let anonymous = AuthFailure {
            user: None,
            offered: Vec::new(),
            tried: Vec::new(),
            ..f
        };
        assert_eq!(
            anonymous.to_string(),
            "authentication failed: no credentials were given (HTTP 401 without a \
             WWW-Authenticate challenge); give --user and the password (TOUCHSTONE_PASSWORD \
             or --password-file)"
        );
    }

    #[test]
    fn user_resources_parse_with_and_without_selectors() {
        let r: UserResource = "http://x/y/Widget?Name=a&Id=2".parse().unwrap();
        assert_eq!(r.uri, "http://x/y/Widget");
        assert_eq!(
            r.selectors,
            vec![("Name".into(), "a".into()), ("Id".into(), "2".into())]
        );
        let r: UserResource = "AMT_GeneralSettings".parse().unwrap();
        assert!(r.selectors.is_empty());
        assert!("http://x?Name".parse::<UserResource>().is_err());
        assert!("".parse::<UserResource>().is_err());
    }

    #[test]
    fn representations_round_trip_with_their_namespaces_and_a_change() {
        let xml = r#"<s:Body xmlns:s="urn:s"><p:Thing xmlns:p="urn:t" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><p:Name>a &amp; b</p:Name><p:Label xsi:nil="true"/><p:Ref><q:Address xmlns:q="urn:q">x</q:Address></p:Ref></p:Thing></s:Body>"#;
        let d = roxmltree::Document::parse(xml).unwrap();
        let thing = d.root_element().first_element_child().unwrap();
        let e = Element::from_node(thing);
        assert_eq!(
            e.leaves(),
            vec![
                ("Name".into(), "a & b".into()),
                ("Label".into(), String::new())
            ]
        );
        let out = e.to_xml(None);
        let back = roxmltree::Document::parse(&out).unwrap();
        assert_eq!(Element::from_node(back.root_element()), e, "{out}");
        let changed = e.to_xml(Some(("Label", "new <one>")));
        let back = roxmltree::Document::parse(&changed).unwrap();
        let c = Element::from_node(back.root_element());
        assert_eq!(c.leaves()[1], ("Label".into(), "new <one>".into()));
        assert!(c.children[1].attrs.is_empty(), "nil dropped: {changed}");
        assert_eq!(c.children[0], e.children[0]);
    }

    #[test]
    fn selector_sets_escape_and_vanish_when_empty() {
        assert_eq!(selector_set(&[]), "");
        assert_eq!(
            selector_set(&[("N\"".into(), "<v>".into())]),
            "<wsman:SelectorSet><wsman:Selector Name=\"N&quot;\">&lt;v&gt;</wsman:Selector></wsman:SelectorSet>"
        );
    }
}
