//! Typed SOAP bodies: Identify, transfer, enumeration, eventing, the WinRM shell,
//! Invoke, faults, and resource representations as generic trees.
//!
//! A body is recognised by its first element's qualified name; transfer bodies that
//! are bare resource representations (Get response, Put, Create) become
//! [`Body::Instance`], whose meaning the Action header gives.

use std::borrow::Cow;

use base64::Engine as _;

use crate::addressing::{Epr, Selector, trimmed};
use crate::duration::XsDuration;
use crate::error::ErrorKind;
use crate::fault::Fault;
use crate::ns;
use crate::tree::{Element, Tree};

/// The content of `s:Body`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body<'a> {
    /// No body element (Get, Delete, their responses, Release response...).
    Empty,
    /// `wsmid:Identify`.
    Identify,
    /// `wsmid:IdentifyResponse`.
    IdentifyResponse(IdentifyResponse<'a>),
    /// A resource representation (Get response, Put request and response, Create request).
    Instance(Tree<'a>),
    /// A body's content already written as XML, copied into the answer as it is: a
    /// server writes a representation straight from its own data instead of building a
    /// tree first. Write it with [`crate::write::XmlWriter::body_fragment`], so that it
    /// uses the prefixes the envelope has in scope. The parser never produces it.
    /// Shared, so that a server can keep the text and answer with it without copying.
    Xml(std::sync::Arc<str>),
    /// `wsman:XmlFragment` (fragment-level Get/Put).
    Fragment(Tree<'a>),
    /// `wxf:ResourceCreated` (Create response).
    ResourceCreated(Epr<'a>),
    /// `wsen:Enumerate`.
    Enumerate(Box<Enumerate<'a>>),
    /// `wsen:EnumerateResponse`.
    EnumerateResponse(EnumerateResponse<'a>),
    /// `wsen:Pull`.
    Pull(Pull<'a>),
    /// `wsen:PullResponse`.
    PullResponse(PullResponse<'a>),
    /// `wsen:Release`.
    Release(EnumerationContextBody<'a>),
    /// `wsen:Renew`.
    EnumerationRenew(EnumerationContextBody<'a>),
    /// `wsen:RenewResponse`.
    EnumerationRenewResponse(EnumerationContextBody<'a>),
    /// `wsen:GetStatus`.
    EnumerationGetStatus(EnumerationContextBody<'a>),
    /// `wsen:GetStatusResponse`.
    EnumerationGetStatusResponse(EnumerationContextBody<'a>),
    /// `wse:Subscribe`.
    Subscribe(Box<Subscribe<'a>>),
    /// `wse:SubscribeResponse`.
    SubscribeResponse(SubscribeResponse<'a>),
    /// `wse:Renew`.
    Renew(Expiry<'a>),
    /// `wse:RenewResponse`.
    RenewResponse(Expiry<'a>),
    /// `wse:GetStatus`.
    GetStatus,
    /// `wse:GetStatusResponse`.
    GetStatusResponse(Expiry<'a>),
    /// `wse:Unsubscribe`.
    Unsubscribe,
    /// `wse:SubscriptionEnd`.
    SubscriptionEnd(SubscriptionEnd<'a>),
    /// `rsp:Shell` (Create request, and the Create response some servers send).
    Shell(Shell<'a>),
    /// `rsp:CommandLine`.
    CommandLine(CommandLine<'a>),
    /// `rsp:CommandResponse`.
    CommandResponse(CommandResponse<'a>),
    /// `rsp:Send`.
    Send(Send<'a>),
    /// `rsp:SendResponse`.
    SendResponse,
    /// `rsp:Receive`.
    Receive(Receive<'a>),
    /// `rsp:ReceiveResponse`.
    ReceiveResponse(ReceiveResponse<'a>),
    /// `rsp:Signal`.
    Signal(Signal<'a>),
    /// `rsp:SignalResponse`.
    SignalResponse,
    /// `<Method>_INPUT` (Invoke request).
    MethodInput(Method<'a>),
    /// `<Method>_OUTPUT` (Invoke response).
    MethodOutput(Method<'a>),
    /// `s:Fault`.
    Fault(Fault<'a>),
}

/// `wsmid:IdentifyResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdentifyResponse<'a> {
    /// `wsmid:ProtocolVersion` (one per supported version).
    pub protocol_versions: Vec<Cow<'a, str>>,
    /// `wsmid:ProductVendor`.
    pub product_vendor: Option<Cow<'a, str>>,
    /// `wsmid:ProductVersion`.
    pub product_version: Option<Cow<'a, str>>,
    /// `wsmid:SecurityProfiles/wsmid:SecurityProfileName`; `None` when absent (as it must
    /// be for an unauthenticated Identify).
    pub security_profiles: Option<Vec<Cow<'a, str>>>,
    /// Other elements (vendor extensions such as `wsmid:InitiatedConnection`).
    pub other: Vec<Tree<'a>>,
}

/// `wsman:EnumerationMode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnumerationMode<'a> {
    /// `EnumerateEPR`: items are endpoint references.
    Epr,
    /// `EnumerateObjectAndEPR`: items are `wsman:Item` with the object and its EPR.
    ObjectAndEpr,
    /// Anything else (a service faults `wsman:UnsupportedFeature`/`EnumerationMode`).
    Other(Cow<'a, str>),
}

impl EnumerationMode<'_> {
    /// The value as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            EnumerationMode::Epr => "EnumerateEPR",
            EnumerationMode::ObjectAndEpr => "EnumerateObjectAndEPR",
            EnumerationMode::Other(s) => s,
        }
    }
}

/// A filter (`wsman:Filter` or `wsen:Filter`, equivalent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter<'a> {
    /// The `Dialect` attribute (XPath when absent, per WS-Enumeration).
    pub dialect: Option<Cow<'a, str>>,
    /// The content, read according to the dialect.
    pub content: FilterContent<'a>,
}

impl Filter<'_> {
    /// The dialect URI, with WS-Enumeration's XPath default.
    pub fn dialect(&self) -> &str {
        self.dialect.as_deref().unwrap_or(ns::dialect::XPATH)
    }
}

/// What a filter holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterContent<'a> {
    /// A textual query (WQL, CQL, XPath).
    Text(Cow<'a, str>),
    /// The selector filter's `wsman:SelectorSet`.
    Selectors(Vec<Selector<'a>>),
    /// The CIM binding association filter.
    Association(AssociationFilter<'a>),
    /// Any other XML content.
    Xml(Vec<Tree<'a>>),
}

/// `wsmb:AssociatedInstances` / `wsmb:AssociationInstances`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AssociationFilter<'a> {
    /// `true` for AssociationInstances (the association objects themselves), `false`
    /// for AssociatedInstances (the objects at the other end).
    pub association_instances: bool,
    /// `wsmb:Object`: the source instance.
    pub object: Epr<'a>,
    /// `wsmb:AssociationClassName`.
    pub association_class_name: Option<Cow<'a, str>>,
    /// `wsmb:Role`.
    pub role: Option<Cow<'a, str>>,
    /// `wsmb:ResultClassName`.
    pub result_class_name: Option<Cow<'a, str>>,
    /// `wsmb:ResultRole`.
    pub result_role: Option<Cow<'a, str>>,
    /// `wsmb:IncludeResultProperty`.
    pub include_result_property: Vec<Cow<'a, str>>,
}

/// `wsen:Enumerate`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Enumerate<'a> {
    /// `wsen:Expires` (duration or dateTime, as written).
    pub expires: Option<Cow<'a, str>>,
    /// The filter.
    pub filter: Option<Filter<'a>>,
    /// `wsman:OptimizeEnumeration`.
    pub optimize: bool,
    /// `wsman:MaxElements` (with optimized enumeration).
    pub max_elements: Option<u32>,
    /// `wsman:EnumerationMode`.
    pub mode: Option<EnumerationMode<'a>>,
    /// Other elements (`wsmb:PolymorphismMode`, `wsen:EndTo`, extensions).
    pub other: Vec<Tree<'a>>,
}

/// An enumeration item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<'a> {
    /// The object itself.
    Object(Tree<'a>),
    /// Its endpoint reference (EnumerateEPR).
    Epr(Epr<'a>),
    /// `wsman:Item` with both (EnumerateObjectAndEPR).
    ObjectAndEpr(Tree<'a>, Epr<'a>),
    /// An item (of any shape above) already written as XML, copied into the answer as
    /// it is. A server writes each item once, sizes it by its length and keeps the
    /// text for later Pulls, instead of holding a tree and writing it twice. Write it
    /// with [`crate::write::XmlWriter::item_fragment`], so that it uses the prefixes the
    /// envelope has in scope where items go and comes out as the tree would have. The
    /// parser never produces it. Shared, so that a server can keep the text and hand
    /// it to every answer without copying it.
    Xml(std::sync::Arc<str>),
}

/// `wsen:EnumerateResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnumerateResponse<'a> {
    /// `wsen:Expires`.
    pub expires: Option<Cow<'a, str>>,
    /// `wsen:EnumerationContext` (absent when an optimized enumeration ended at once).
    pub context: Option<Cow<'a, str>>,
    /// `wsman:Items` of an optimized enumeration (`None` when not optimized).
    pub items: Option<Vec<Item<'a>>>,
    /// `wsman:EndOfSequence`.
    pub end_of_sequence: bool,
}

/// `wsen:Pull`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pull<'a> {
    /// `wsen:EnumerationContext`.
    pub context: Cow<'a, str>,
    /// `wsen:MaxTime`.
    pub max_time: Option<XsDuration>,
    /// `wsen:MaxElements`.
    pub max_elements: Option<u32>,
    /// `wsen:MaxCharacters`.
    pub max_characters: Option<u64>,
}

/// `wsen:PullResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PullResponse<'a> {
    /// `wsen:EnumerationContext` (absent at the end).
    pub context: Option<Cow<'a, str>>,
    /// `wsen:Items`.
    pub items: Vec<Item<'a>>,
    /// `wsen:EndOfSequence`.
    pub end_of_sequence: bool,
}

/// Release, enumeration Renew and GetStatus and their responses: a context and an expiry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnumerationContextBody<'a> {
    /// `wsen:EnumerationContext`.
    pub context: Option<Cow<'a, str>>,
    /// `wsen:Expires`.
    pub expires: Option<Cow<'a, str>>,
}

/// A body that carries only `wse:Expires`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expiry<'a> {
    /// `wse:Expires` (duration or dateTime, as written).
    pub expires: Option<Cow<'a, str>>,
}

/// `wse:Subscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscribe<'a> {
    /// `wse:EndTo`.
    pub end_to: Option<Epr<'a>>,
    /// `wse:Delivery/@Mode`.
    pub delivery_mode: Option<Cow<'a, str>>,
    /// `wse:Delivery/wse:NotifyTo`.
    pub notify_to: Option<Epr<'a>>,
    /// `wse:Delivery/wsman:Heartbeats`.
    pub heartbeats: Option<XsDuration>,
    /// `wse:Delivery/wsman:MaxElements` (Events mode: most events in one batch).
    pub max_elements: Option<u32>,
    /// `wse:Delivery/wsman:MaxTime` (Events mode: longest a batch is held back).
    pub max_time: Option<XsDuration>,
    /// `wse:Delivery/wsman:MaxEnvelopeSize` in octets (the largest delivery).
    pub max_envelope_size: Option<u64>,
    /// `wse:Delivery/wsman:ConnectionRetry`.
    pub connection_retry: Option<ConnectionRetry>,
    /// `wse:Expires`.
    pub expires: Option<Cow<'a, str>>,
    /// The filter.
    pub filter: Option<Filter<'a>>,
    /// `wsman:SendBookmarks`.
    pub send_bookmarks: bool,
    /// `wsman:Bookmark` content (text, such as `http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest`, or XML).
    pub bookmark: Option<Tree<'a>>,
    /// Other elements.
    pub other: Vec<Tree<'a>>,
}

/// `wsman:ConnectionRetry`: how often and how far apart a failed delivery is retried.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionRetry {
    /// The `Total` attribute: how many retries.
    pub total: u32,
    /// The interval between retries (the element's text).
    pub interval: XsDuration,
}

/// `wse:SubscribeResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscribeResponse<'a> {
    /// `wse:SubscriptionManager`.
    pub subscription_manager: Epr<'a>,
    /// `wse:Expires`.
    pub expires: Option<Cow<'a, str>>,
    /// `wsen:EnumerationContext`: a Pull-mode subscription's context, which the
    /// subscriber pulls its events with (DSP0226, Pull delivery).
    pub enumeration_context: Option<Cow<'a, str>>,
}

/// `wse:SubscriptionEnd`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscriptionEnd<'a> {
    /// `wse:SubscriptionManager`.
    pub subscription_manager: Option<Epr<'a>>,
    /// `wse:Status` (a URI).
    pub status: Cow<'a, str>,
    /// `wse:Reason`.
    pub reason: Option<Cow<'a, str>>,
}

/// `rsp:Shell`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shell<'a> {
    /// `rsp:ShellId` (in a Create response).
    pub shell_id: Option<Cow<'a, str>>,
    /// `rsp:InputStreams` (space-separated names).
    pub input_streams: Option<Cow<'a, str>>,
    /// `rsp:OutputStreams` (space-separated names).
    pub output_streams: Option<Cow<'a, str>>,
    /// `rsp:WorkingDirectory`.
    pub working_directory: Option<Cow<'a, str>>,
    /// `rsp:Environment/rsp:Variable` (name, value).
    pub environment: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// `rsp:Lifetime`.
    pub lifetime: Option<XsDuration>,
    /// `rsp:IdleTimeOut`.
    pub idle_timeout: Option<XsDuration>,
    /// Other elements (`rsp:Name`, `rsp:Owner`, `rsp:ClientIP`, ...).
    pub other: Vec<Tree<'a>>,
}

/// `rsp:CommandLine`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandLine<'a> {
    /// `rsp:Command`.
    pub command: Cow<'a, str>,
    /// `rsp:Arguments`, in order.
    pub arguments: Vec<Cow<'a, str>>,
}

/// `rsp:CommandResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandResponse<'a> {
    /// `rsp:CommandId`.
    pub command_id: Cow<'a, str>,
}

/// An `rsp:Stream` of Send or ReceiveResponse.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stream<'a> {
    /// `Name` (stdin, stdout, stderr).
    pub name: Cow<'a, str>,
    /// `CommandId`.
    pub command_id: Option<Cow<'a, str>>,
    /// `End="true"`: the last chunk of this stream.
    pub end: bool,
    /// The base64 text as it came (decoded on demand by [`Stream::decode`]).
    pub data: Cow<'a, str>,
}

impl<'a> Stream<'a> {
    /// A stream chunk carrying `bytes`.
    pub fn with_bytes(
        name: impl Into<Cow<'a, str>>,
        command_id: Option<Cow<'a, str>>,
        bytes: &[u8],
        end: bool,
    ) -> Stream<'a> {
        Stream {
            name: name.into(),
            command_id,
            end,
            data: Cow::Owned(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
    }

    /// The bytes the stream carries.
    pub fn decode(&self) -> Result<Vec<u8>, base64::DecodeError> {
        let data = self.data.trim();
        if data.bytes().any(|b| b.is_ascii_whitespace()) {
            let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            base64::engine::general_purpose::STANDARD.decode(compact)
        } else {
            base64::engine::general_purpose::STANDARD.decode(data)
        }
    }
}

/// `rsp:Send`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Send<'a> {
    /// The stdin chunks.
    pub streams: Vec<Stream<'a>>,
}

/// `rsp:Receive`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receive<'a> {
    /// `rsp:DesiredStream` (space-separated names).
    pub desired_streams: Cow<'a, str>,
    /// `rsp:DesiredStream/@CommandId`.
    pub command_id: Option<Cow<'a, str>>,
}

/// `rsp:CommandState`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandState<'a> {
    /// `CommandId`.
    pub command_id: Option<Cow<'a, str>>,
    /// `State` (a URI under [`ns::shell::STATE_PREFIX`]).
    pub state: Cow<'a, str>,
    /// `rsp:ExitCode` (when Done).
    pub exit_code: Option<i64>,
}

impl CommandState<'_> {
    /// Whether the state is `.../CommandState/Done`.
    pub fn is_done(&self) -> bool {
        self.state == ns::shell::STATE_DONE
    }
}

/// `rsp:ReceiveResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiveResponse<'a> {
    /// The output chunks, in order.
    pub streams: Vec<Stream<'a>>,
    /// `rsp:CommandState`.
    pub command_state: Option<CommandState<'a>>,
}

/// `rsp:Signal`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Signal<'a> {
    /// `CommandId`.
    pub command_id: Option<Cow<'a, str>>,
    /// `rsp:Code` (a URI under [`ns::shell::SIGNAL_PREFIX`]).
    pub code: Cow<'a, str>,
}

/// An Invoke input or output: `<p:Method_INPUT>` / `<p:Method_OUTPUT>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method<'a> {
    /// The method name (the element's local name without `_INPUT`/`_OUTPUT`).
    pub method: Cow<'a, str>,
    /// The whole element (its namespace is the class resource URI).
    pub element: Tree<'a>,
}

impl Method<'_> {
    /// `ReturnValue` of an output, if present and numeric.
    pub fn return_value(&self) -> Option<i64> {
        let root = self.element.root();
        root.children()
            .find(|c| c.name().local == "ReturnValue")
            .and_then(|c| c.text().trim().parse().ok())
    }
}

// ---- reading ----

fn invalid(element: &'static str, reason: impl Into<String>) -> ErrorKind {
    ErrorKind::InvalidBody {
        element,
        reason: reason.into(),
    }
}

fn number<T: std::str::FromStr>(
    el: Element<'_, '_>,
    element: &'static str,
) -> Result<T, ErrorKind> {
    let t = el.text().trim();
    t.parse().map_err(|_| {
        invalid(
            element,
            format!("{} `{t}` is not a valid number", el.name().local),
        )
    })
}

fn duration(el: Element<'_, '_>, element: &'static str) -> Result<XsDuration, ErrorKind> {
    el.text()
        .parse()
        .map_err(|e: crate::duration::DurationError| invalid(element, e.to_string()))
}

fn text<'a>(el: Element<'_, 'a>) -> Cow<'a, str> {
    trimmed(el.text_cow())
}

pub(crate) fn filter_from<'a>(
    el: Element<'_, 'a>,
    element: &'static str,
) -> Result<Filter<'a>, ErrorKind> {
    let dialect = el.attr_cow("", "Dialect").map(trimmed);
    let d = dialect.as_deref().unwrap_or(ns::dialect::XPATH);
    let content = if d == ns::dialect::SELECTOR {
        match el.child(ns::WSMAN, "SelectorSet") {
            Some(set) => FilterContent::Selectors(Selector::set_from_element(set)?),
            None => {
                return Err(invalid(
                    element,
                    "selector filter without wsman:SelectorSet",
                ));
            }
        }
    } else if d == ns::dialect::ASSOCIATION {
        let inner = el
            .children()
            .find(|c| {
                c.is(ns::WSMB, "AssociatedInstances") || c.is(ns::WSMB, "AssociationInstances")
            })
            .ok_or_else(|| {
                invalid(
                    element,
                    "association filter without AssociatedInstances/AssociationInstances",
                )
            })?;
        let mut a = AssociationFilter {
            association_instances: inner.name().local == "AssociationInstances",
            ..AssociationFilter::default()
        };
        let mut object = None;
        for c in inner.children() {
            match c.name().local.as_ref() {
                "Object" if c.name().ns == ns::WSMB => {
                    object = Some(Epr::from_element(c, element)?)
                }
                "AssociationClassName" => a.association_class_name = Some(text(c)),
                "Role" => a.role = Some(text(c)),
                "ResultClassName" => a.result_class_name = Some(text(c)),
                "ResultRole" => a.result_role = Some(text(c)),
                "IncludeResultProperty" => a.include_result_property.push(text(c)),
                _ => {}
            }
        }
        a.object =
            object.ok_or_else(|| invalid(element, "association filter without wsmb:Object"))?;
        FilterContent::Association(a)
    } else if el.has_children() {
        FilterContent::Xml(el.children().map(|c| c.to_tree()).collect())
    } else {
        FilterContent::Text(text(el))
    };
    Ok(Filter { dialect, content })
}

fn is_filter(c: Element<'_, '_>) -> bool {
    c.is(ns::WSMAN, "Filter") || c.is(ns::WSEN, "Filter") || c.is(ns::WSE, "Filter")
}

pub(crate) fn identify_response<'a>(
    el: Element<'_, 'a>,
) -> Result<IdentifyResponse<'a>, ErrorKind> {
    let mut r = IdentifyResponse::default();
    for c in el.children() {
        if c.name().ns != ns::WSMID {
            r.other.push(c.to_tree());
            continue;
        }
        match c.name().local.as_ref() {
            "ProtocolVersion" => r.protocol_versions.push(text(c)),
            "ProductVendor" => r.product_vendor = Some(text(c)),
            "ProductVersion" => r.product_version = Some(text(c)),
            "SecurityProfiles" => {
                r.security_profiles = Some(
                    c.children()
                        .filter(|p| p.is(ns::WSMID, "SecurityProfileName"))
                        .map(text)
                        .collect(),
                );
            }
            _ => r.other.push(c.to_tree()),
        }
    }
    Ok(r)
}

pub(crate) fn enumerate<'a>(el: Element<'_, 'a>) -> Result<Enumerate<'a>, ErrorKind> {
    const E: &str = "wsen:Enumerate";
    let mut r = Enumerate::default();
    for c in el.children() {
        let n = c.name();
        if n.is(ns::WSEN, "Expires") {
            r.expires = Some(text(c));
        } else if is_filter(c) {
            r.filter = Some(filter_from(c, E)?);
        } else if n.is(ns::WSMAN, "OptimizeEnumeration") {
            r.optimize = true;
        } else if n.is(ns::WSMAN, "MaxElements") {
            r.max_elements = Some(number(c, E)?);
        } else if n.is(ns::WSMAN, "EnumerationMode") {
            r.mode = Some(match c.text().trim() {
                "EnumerateEPR" => EnumerationMode::Epr,
                "EnumerateObjectAndEPR" => EnumerationMode::ObjectAndEpr,
                _ => EnumerationMode::Other(text(c)),
            });
        } else {
            r.other.push(c.to_tree());
        }
    }
    Ok(r)
}

fn context_body<'a>(el: Element<'_, 'a>) -> EnumerationContextBody<'a> {
    EnumerationContextBody {
        context: el.child(ns::WSEN, "EnumerationContext").map(text),
        expires: el.child(ns::WSEN, "Expires").map(text),
    }
}

pub(crate) fn pull<'a>(el: Element<'_, 'a>) -> Result<Pull<'a>, ErrorKind> {
    const E: &str = "wsen:Pull";
    let mut r = Pull::default();
    let mut context = None;
    for c in el.children().filter(|c| c.name().ns == ns::WSEN) {
        match c.name().local.as_ref() {
            "EnumerationContext" => context = Some(text(c)),
            "MaxTime" => r.max_time = Some(duration(c, E)?),
            "MaxElements" => {
                let v: u32 = number(c, E)?;
                if v == 0 {
                    return Err(invalid(E, "MaxElements must be at least 1"));
                }
                r.max_elements = Some(v);
            }
            "MaxCharacters" => r.max_characters = Some(number(c, E)?),
            _ => {}
        }
    }
    r.context = context.ok_or_else(|| invalid(E, "no wsen:EnumerationContext"))?;
    Ok(r)
}

pub(crate) fn subscribe<'a>(el: Element<'_, 'a>) -> Result<Subscribe<'a>, ErrorKind> {
    const E: &str = "wse:Subscribe";
    let mut r = Subscribe::default();
    for c in el.children() {
        let n = c.name();
        if n.is(ns::WSE, "EndTo") {
            r.end_to = Some(Epr::from_element(c, E)?);
        } else if n.is(ns::WSE, "Delivery") {
            r.delivery_mode = c.attr_cow("", "Mode").map(trimmed);
            for d in c.children() {
                if d.is(ns::WSE, "NotifyTo") {
                    r.notify_to = Some(Epr::from_element(d, E)?);
                } else if d.is(ns::WSMAN, "Heartbeats") {
                    r.heartbeats = Some(duration(d, E)?);
                } else if d.is(ns::WSMAN, "MaxElements") {
                    let v: u32 = number(d, E)?;
                    if v == 0 {
                        return Err(invalid(E, "MaxElements must be at least 1"));
                    }
                    r.max_elements = Some(v);
                } else if d.is(ns::WSMAN, "MaxTime") {
                    r.max_time = Some(duration(d, E)?);
                } else if d.is(ns::WSMAN, "MaxEnvelopeSize") {
                    r.max_envelope_size = Some(number(d, E)?);
                } else if d.is(ns::WSMAN, "ConnectionRetry") {
                    let total = match d.attr("", "Total") {
                        Some(t) => t
                            .trim()
                            .parse()
                            .map_err(|_| invalid(E, "ConnectionRetry Total is not a count"))?,
                        None => 1,
                    };
                    r.connection_retry = Some(ConnectionRetry {
                        total,
                        interval: duration(d, E)?,
                    });
                }
            }
        } else if n.is(ns::WSE, "Expires") {
            r.expires = Some(text(c));
        } else if is_filter(c) {
            r.filter = Some(filter_from(c, E)?);
        } else if n.is(ns::WSMAN, "SendBookmarks") {
            r.send_bookmarks = true;
        } else if n.is(ns::WSMAN, "Bookmark") {
            r.bookmark = Some(c.to_tree());
        } else {
            r.other.push(c.to_tree());
        }
    }
    Ok(r)
}

pub(crate) fn subscribe_response<'a>(
    el: Element<'_, 'a>,
) -> Result<SubscribeResponse<'a>, ErrorKind> {
    const E: &str = "wse:SubscribeResponse";
    let manager = el
        .child(ns::WSE, "SubscriptionManager")
        .ok_or_else(|| invalid(E, "no wse:SubscriptionManager"))?;
    Ok(SubscribeResponse {
        subscription_manager: Epr::from_element(manager, E)?,
        expires: el.child(ns::WSE, "Expires").map(text),
        enumeration_context: el.child(ns::WSEN, "EnumerationContext").map(text),
    })
}

pub(crate) fn subscription_end<'a>(el: Element<'_, 'a>) -> Result<SubscriptionEnd<'a>, ErrorKind> {
    const E: &str = "wse:SubscriptionEnd";
    Ok(SubscriptionEnd {
        subscription_manager: el
            .child(ns::WSE, "SubscriptionManager")
            .map(|m| Epr::from_element(m, E))
            .transpose()?,
        status: el
            .child(ns::WSE, "Status")
            .map(text)
            .ok_or_else(|| invalid(E, "no wse:Status"))?,
        reason: el.child(ns::WSE, "Reason").map(text),
    })
}

fn expiry<'a>(el: Element<'_, 'a>) -> Expiry<'a> {
    Expiry {
        expires: el.child(ns::WSE, "Expires").map(text),
    }
}

pub(crate) fn shell<'a>(el: Element<'_, 'a>) -> Result<Shell<'a>, ErrorKind> {
    const E: &str = "rsp:Shell";
    let mut r = Shell::default();
    for c in el.children() {
        if c.name().ns != ns::RSP {
            r.other.push(c.to_tree());
            continue;
        }
        match c.name().local.as_ref() {
            "ShellId" => r.shell_id = Some(text(c)),
            "InputStreams" => r.input_streams = Some(text(c)),
            "OutputStreams" => r.output_streams = Some(text(c)),
            "WorkingDirectory" => r.working_directory = Some(c.text_cow().clone()),
            "Environment" => {
                for v in c.children().filter(|v| v.is(ns::RSP, "Variable")) {
                    let name = v
                        .attr_cow("", "Name")
                        .cloned()
                        .ok_or_else(|| invalid(E, "environment variable without Name"))?;
                    r.environment.push((name, v.text_cow().clone()));
                }
            }
            "Lifetime" => r.lifetime = Some(duration(c, E)?),
            "IdleTimeOut" => r.idle_timeout = Some(duration(c, E)?),
            _ => r.other.push(c.to_tree()),
        }
    }
    Ok(r)
}

pub(crate) fn command_line<'a>(el: Element<'_, 'a>) -> Result<CommandLine<'a>, ErrorKind> {
    const E: &str = "rsp:CommandLine";
    let command = el
        .child(ns::RSP, "Command")
        .ok_or_else(|| invalid(E, "no rsp:Command"))?;
    Ok(CommandLine {
        command: command.text_cow().clone(),
        arguments: el
            .children()
            .filter(|c| c.is(ns::RSP, "Arguments"))
            .map(|c| c.text_cow().clone())
            .collect(),
    })
}

fn stream<'a>(el: Element<'_, 'a>, element: &'static str) -> Result<Stream<'a>, ErrorKind> {
    Ok(Stream {
        name: el
            .attr_cow("", "Name")
            .map(trimmed)
            .ok_or_else(|| invalid(element, "rsp:Stream without Name"))?,
        command_id: el.attr_cow("", "CommandId").map(trimmed),
        // pypsrp writes End="True" (Python's str(True)); WinRM takes it, so do we.
        end: el
            .attr("", "End")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1"),
        data: el.text_cow().clone(),
    })
}

pub(crate) fn send<'a>(el: Element<'_, 'a>) -> Result<Send<'a>, ErrorKind> {
    const E: &str = "rsp:Send";
    let mut r = Send::default();
    for c in el.children().filter(|c| c.is(ns::RSP, "Stream")) {
        let s = stream(c, E)?;
        // A service must refuse stdin it cannot decode rather than feed garbage on.
        s.decode()
            .map_err(|e| invalid(E, format!("stream {} is not valid base64: {e}", s.name)))?;
        r.streams.push(s);
    }
    Ok(r)
}

pub(crate) fn receive<'a>(el: Element<'_, 'a>) -> Result<Receive<'a>, ErrorKind> {
    const E: &str = "rsp:Receive";
    let d = el
        .child(ns::RSP, "DesiredStream")
        .ok_or_else(|| invalid(E, "no rsp:DesiredStream"))?;
    Ok(Receive {
        desired_streams: text(d),
        command_id: d.attr_cow("", "CommandId").map(trimmed),
    })
}

pub(crate) fn receive_response<'a>(el: Element<'_, 'a>) -> Result<ReceiveResponse<'a>, ErrorKind> {
    const E: &str = "rsp:ReceiveResponse";
    let mut r = ReceiveResponse::default();
    for c in el.children() {
        if c.is(ns::RSP, "Stream") {
            r.streams.push(stream(c, E)?);
        } else if c.is(ns::RSP, "CommandState") {
            r.command_state = Some(CommandState {
                command_id: c.attr_cow("", "CommandId").map(trimmed),
                state: c
                    .attr_cow("", "State")
                    .map(trimmed)
                    .ok_or_else(|| invalid(E, "rsp:CommandState without State"))?,
                exit_code: c
                    .child(ns::RSP, "ExitCode")
                    .map(|x| number(x, E))
                    .transpose()?,
            });
        }
    }
    Ok(r)
}

pub(crate) fn signal<'a>(el: Element<'_, 'a>) -> Result<Signal<'a>, ErrorKind> {
    const E: &str = "rsp:Signal";
    Ok(Signal {
        command_id: el.attr_cow("", "CommandId").map(trimmed),
        code: el
            .child(ns::RSP, "Code")
            .map(text)
            .ok_or_else(|| invalid(E, "no rsp:Code"))?,
    })
}

pub(crate) fn command_response<'a>(el: Element<'_, 'a>) -> Result<CommandResponse<'a>, ErrorKind> {
    Ok(CommandResponse {
        command_id: el
            .child(ns::RSP, "CommandId")
            .map(text)
            .ok_or_else(|| invalid("rsp:CommandResponse", "no rsp:CommandId"))?,
    })
}

/// Reads a small body element that was read whole into a tree.
pub(crate) fn from_tree<'a>(tree: Tree<'a>) -> Result<Body<'a>, ErrorKind> {
    let root = tree.root();
    let name = root.name();
    let local = name.local.as_ref();
    let body = match name.ns.as_ref() {
        ns::WSMID => match local {
            "Identify" => Body::Identify,
            "IdentifyResponse" => Body::IdentifyResponse(identify_response(root)?),
            _ => Body::Instance(tree),
        },
        ns::WXF if local == "ResourceCreated" => {
            Body::ResourceCreated(Epr::from_element(root, "wxf:ResourceCreated")?)
        }
        ns::WSMAN if local == "XmlFragment" => Body::Fragment(tree),
        ns::WSEN => match local {
            "Enumerate" => Body::Enumerate(Box::new(enumerate(root)?)),
            "Pull" => Body::Pull(pull(root)?),
            "Release" => Body::Release(context_body(root)),
            "Renew" => Body::EnumerationRenew(context_body(root)),
            "RenewResponse" => Body::EnumerationRenewResponse(context_body(root)),
            "GetStatus" => Body::EnumerationGetStatus(context_body(root)),
            "GetStatusResponse" => Body::EnumerationGetStatusResponse(context_body(root)),
            _ => Body::Instance(tree),
        },
        ns::WSE => match local {
            "Subscribe" => Body::Subscribe(Box::new(subscribe(root)?)),
            "SubscribeResponse" => Body::SubscribeResponse(subscribe_response(root)?),
            "Renew" => Body::Renew(expiry(root)),
            "RenewResponse" => Body::RenewResponse(expiry(root)),
            "GetStatus" => Body::GetStatus,
            "GetStatusResponse" => Body::GetStatusResponse(expiry(root)),
            "Unsubscribe" => Body::Unsubscribe,
            "SubscriptionEnd" => Body::SubscriptionEnd(subscription_end(root)?),
            _ => Body::Instance(tree),
        },
        ns::RSP => match local {
            "Shell" => Body::Shell(shell(root)?),
            "CommandLine" => Body::CommandLine(command_line(root)?),
            "CommandResponse" => Body::CommandResponse(command_response(root)?),
            "Send" => Body::Send(send(root)?),
            "SendResponse" => Body::SendResponse,
            "Receive" => Body::Receive(receive(root)?),
            "ReceiveResponse" => Body::ReceiveResponse(receive_response(root)?),
            "Signal" => Body::Signal(signal(root)?),
            "SignalResponse" => Body::SignalResponse,
            _ => Body::Instance(tree),
        },
        _ => {
            if let Some(m) = local.strip_suffix("_INPUT") {
                let method = Cow::Owned(m.to_owned());
                Body::MethodInput(Method {
                    method,
                    element: tree,
                })
            } else if let Some(m) = local.strip_suffix("_OUTPUT") {
                let method = Cow::Owned(m.to_owned());
                Body::MethodOutput(Method {
                    method,
                    element: tree,
                })
            } else {
                Body::Instance(tree)
            }
        }
    };
    Ok(body)
}
