//! WS-Eventing as DSP0226 profiles it (its eventing clause, on WS-Eventing 2004/08):
//! Subscribe in every delivery mode, Renew, GetStatus, Unsubscribe, and Pull of a
//! pull-mode subscription's events.
//!
//! [`Subscription`] holds what a Subscribe asks for and [`Subscription::envelope`]
//! builds the request on a [`build::Request`] (so the usual headers, MessageID and
//! ResourceURI come from the builder). [`Subscribed::read`] reads the answer: the
//! subscription manager's EPR with its `wse:Identifier`, the expiry and, in pull mode,
//! the enumeration context. [`Subscribed::request`] is the builder for every later
//! message to the manager (Renew, GetStatus, Unsubscribe, Pull), carrying the manager's
//! reference parameters as headers (the Identifier among them).
//!
//! ```
//! use client::{build, eventing::{self, Subscription}};
//! let sub = Subscription::push("http://127.0.0.1:8080/sink/1")
//!     .heartbeats(std::time::Duration::from_secs(5))
//!     .expires("PT60S");
//! let env = sub.envelope(build::Request::new("http://127.0.0.1:5985/wsman", "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_AlertIndication"));
//! assert_eq!(env.header.action.as_deref(), Some(wsman::ns::action::SUBSCRIBE));
//! assert!(env.to_xml().contains("PT5S"));
//! ```

use std::borrow::Cow;
use std::time::Duration;

use wsman::tree::{Name, Tree};
use wsman::write::{XmlWriter, write_endpoint_reference};
use wsman::{Body, Envelope, Epr, XsDuration, ns};

use crate::Exchange;
use crate::build;

/// The delivery modes of DSP0226's eventing clause.
pub mod mode {
    /// WS-Eventing's Push: one event per message, no acknowledgement.
    pub const PUSH: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryModes/Push";
    /// One event per message, each acknowledged by the sink (`wsman:AckRequested`).
    pub const PUSH_WITH_ACK: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/PushWithAck";
    /// Batched: `wsman:Events` bodies of several events.
    pub const EVENTS: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events";
    /// The subscriber pulls events through an enumeration context.
    pub const PULL: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull";
    /// The four, in the order discovery probes them.
    pub const ALL: [&str; 4] = [PUSH, PUSH_WITH_ACK, EVENTS, PULL];

    /// The short name of a mode (`push`, `push-with-ack`, `events`, `pull`): the
    /// suffix of its `eventing:` requirement.
    pub fn short(mode: &str) -> &'static str {
        match mode {
            PUSH => "push",
            PUSH_WITH_ACK => "push-with-ack",
            EVENTS => "events",
            PULL => "pull",
            _ => "unknown",
        }
    }
}

/// Actions of the messages an event source sends.
pub mod action {
    /// A heartbeat (DSP0226's eventing clause, Heartbeats).
    pub const HEARTBEAT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat";
    /// A batch (`wsman:Events` body).
    pub const EVENTS: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events";
    /// The sink's acknowledgement of a PushWithAck or batched delivery.
    pub const ACK: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack";
    /// The generic event action of a CIM indication.
    pub const EVENT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Event";
    /// `wse:SubscriptionEnd`.
    pub const SUBSCRIPTION_END: &str = wsman::ns::action::SUBSCRIPTION_END;
    /// A Pull of a pull-mode subscription (WS-Enumeration's).
    pub const PULL: &str = wsman::ns::action::PULL;
}

/// The bookmark that asks for every event the source still holds.
pub const BOOKMARK_EARLIEST: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest";

/// A reference parameter: one element with text content, sent in an EPR and expected
/// back as a header of every message to that EPR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefParam {
    /// Its namespace.
    pub ns: String,
    /// Its local name.
    pub name: String,
    /// Its text.
    pub value: String,
}

impl RefParam {
    /// A parameter `{ns}name` = `value`.
    pub fn new(ns: impl Into<String>, name: impl Into<String>, value: impl Into<String>) -> Self {
        RefParam {
            ns: ns.into(),
            name: name.into(),
            value: value.into(),
        }
    }

    fn tree(&self) -> Tree<'static> {
        Tree::leaf(
            Name::new(self.ns.clone(), self.name.clone()),
            self.value.clone(),
        )
    }
}

/// An endpoint reference the source is to send to (NotifyTo, EndTo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `wsa:Address`.
    pub address: String,
    /// `wsa:ReferenceParameters`.
    pub reference_parameters: Vec<RefParam>,
}

impl Endpoint {
    /// An endpoint at `address` with no reference parameters.
    pub fn new(address: impl Into<String>) -> Endpoint {
        Endpoint {
            address: address.into(),
            reference_parameters: Vec::new(),
        }
    }

    /// The same endpoint with one more reference parameter.
    pub fn param(mut self, p: RefParam) -> Endpoint {
        self.reference_parameters.push(p);
        self
    }

    fn epr(&self) -> Epr<'static> {
        Epr {
            address: Cow::Owned(self.address.clone()),
            other_parameters: self
                .reference_parameters
                .iter()
                .map(RefParam::tree)
                .collect(),
            ..Epr::default()
        }
    }
}

/// What a Subscribe asks for. Every field is optional on the wire; the constructors
/// set the delivery mode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// `wse:Delivery/@Mode`; `None` writes no Mode (WS-Eventing's default, Push).
    pub mode: Option<String>,
    /// `wse:Delivery/wse:NotifyTo` (absent in pull mode).
    pub notify_to: Option<Endpoint>,
    /// `wse:EndTo`.
    pub end_to: Option<Endpoint>,
    /// `wse:Expires`, as written (`PT60S` or a dateTime).
    pub expires: Option<String>,
    /// `wsman:Heartbeats`.
    pub heartbeats: Option<Duration>,
    /// `wsman:SendBookmarks`.
    pub send_bookmarks: bool,
    /// `wsman:Bookmark`: the XML content of a bookmark received earlier, or the text
    /// of a well-known one ([`BOOKMARK_EARLIEST`]).
    pub bookmark: Option<String>,
    /// `wsman:ConnectionRetry` (count, interval).
    pub connection_retry: Option<(u32, Duration)>,
    /// `wsman:MaxElements` (batched mode).
    pub max_elements: Option<u32>,
    /// `wsman:MaxTime` (batched mode).
    pub max_time: Option<Duration>,
    /// `wsman:MaxEnvelopeSize` inside `wse:Delivery` (batched mode).
    pub max_envelope_size: Option<u64>,
    /// `wsman:Filter` with its dialect: (dialect URI, text).
    pub filter: Option<(String, String)>,
}

impl Subscription {
    /// Push delivery to `notify_to`.
    pub fn push(notify_to: impl Into<String>) -> Subscription {
        Subscription::with_mode(mode::PUSH, Some(Endpoint::new(notify_to)))
    }

    /// Delivery in `mode` (a URI) to `notify_to` (`None` for pull mode).
    pub fn with_mode(mode: impl Into<String>, notify_to: Option<Endpoint>) -> Subscription {
        Subscription {
            mode: Some(mode.into()),
            notify_to,
            ..Subscription::default()
        }
    }

    /// Pull delivery.
    pub fn pull() -> Subscription {
        Subscription::with_mode(mode::PULL, None)
    }

    /// The same subscription with an expiry (`PT60S`, a dateTime).
    pub fn expires(mut self, expires: impl Into<String>) -> Subscription {
        self.expires = Some(expires.into());
        self
    }

    /// The same subscription with heartbeats every `every`.
    pub fn heartbeats(mut self, every: Duration) -> Subscription {
        self.heartbeats = Some(every);
        self
    }

    /// The same subscription with an EndTo.
    pub fn end_to(mut self, end_to: Endpoint) -> Subscription {
        self.end_to = Some(end_to);
        self
    }

    /// The same subscription with a filter.
    pub fn filter(mut self, dialect: impl Into<String>, text: impl Into<String>) -> Subscription {
        self.filter = Some((dialect.into(), text.into()));
        self
    }

    /// The `wse:Subscribe` body, written with the prefixes an envelope binds.
    pub fn body_xml(&self) -> String {
        let mut w = XmlWriter::body_fragment();
        let n = |ns: &'static str, l: &'static str| Name::new(ns, l);
        w.start(&n(ns::WSE, "Subscribe"), &[]);
        if let Some(e) = &self.end_to {
            write_endpoint_reference(&mut w, &n(ns::WSE, "EndTo"), &e.epr());
        }
        let mode_attr = Name::new("", "Mode");
        let mut attrs: Vec<(&Name<'_>, &str)> = Vec::new();
        if let Some(m) = &self.mode {
            attrs.push((&mode_attr, m));
        }
        w.start(&n(ns::WSE, "Delivery"), &attrs);
        if let Some(e) = &self.notify_to {
            write_endpoint_reference(&mut w, &n(ns::WSE, "NotifyTo"), &e.epr());
        }
        if let Some(h) = self.heartbeats {
            w.leaf(&n(ns::WSMAN, "Heartbeats"), &[], &xs(h));
        }
        if let Some((count, interval)) = self.connection_retry {
            let total = Name::new("", "Total");
            let count = count.to_string();
            w.leaf(
                &n(ns::WSMAN, "ConnectionRetry"),
                &[(&total, &count)],
                &xs(interval),
            );
        }
        if let Some(m) = self.max_elements {
            w.leaf(&n(ns::WSMAN, "MaxElements"), &[], &m.to_string());
        }
        if let Some(t) = self.max_time {
            w.leaf(&n(ns::WSMAN, "MaxTime"), &[], &xs(t));
        }
        if let Some(s) = self.max_envelope_size {
            w.leaf(&n(ns::WSMAN, "MaxEnvelopeSize"), &[], &s.to_string());
        }
        w.end();
        if let Some(e) = &self.expires {
            w.leaf(&n(ns::WSE, "Expires"), &[], e);
        }
        if let Some((dialect, text)) = &self.filter {
            let d = Name::new("", "Dialect");
            w.leaf(&n(ns::WSMAN, "Filter"), &[(&d, dialect)], text);
        }
        if self.send_bookmarks {
            w.leaf(&n(ns::WSMAN, "SendBookmarks"), &[], "");
        }
        if let Some(b) = &self.bookmark {
            if b.trim_start().starts_with('<') {
                w.start(&n(ns::WSMAN, "Bookmark"), &[]);
                w.raw(b);
                w.end();
            } else {
                w.leaf(&n(ns::WSMAN, "Bookmark"), &[], b);
            }
        }
        w.end();
        String::from_utf8(w.into_inner()).unwrap_or_default()
    }

    /// The Subscribe request: `req`'s headers, action `wse/Subscribe`, this body.
    pub fn envelope(&self, req: build::Request) -> Envelope<'static> {
        req.envelope(ns::action::SUBSCRIBE, Body::Xml(self.body_xml().into()))
    }
}

/// A duration as `xs:duration` in seconds (`PT5S`, `PT0.5S`).
pub fn xs(d: Duration) -> String {
    match u32::try_from(d.as_secs()) {
        Ok(s) => XsDuration {
            seconds: s,
            nanos: d.subsec_nanos(),
            ..XsDuration::default()
        }
        .to_string(),
        Err(_) => XsDuration::from_std(d).to_string(),
    }
}

/// What a SubscribeResponse granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    /// The subscription manager's `wsa:Address`.
    pub manager: String,
    /// The manager's `wsman:ResourceURI` reference parameter, if any.
    pub manager_resource_uri: Option<String>,
    /// The manager's `wsman:SelectorSet` reference parameter (a source may name the
    /// subscription by selectors): sent back as the request's selectors.
    pub manager_selectors: Vec<wsman::addressing::Selector<'static>>,
    /// Every other reference parameter of the manager, `wse:Identifier` included, as
    /// owned trees: they are sent back as headers.
    pub reference_parameters: Vec<Tree<'static>>,
    /// The `wse:Identifier` among them (trimmed text).
    pub identifier: Option<String>,
    /// `wse:Expires`, as written.
    pub expires: Option<String>,
    /// `wsen:EnumerationContext` (pull mode).
    pub enumeration_context: Option<String>,
}

impl Subscribed {
    /// Reads a SubscribeResponse; the error says what is wrong with the answer (a
    /// fault, another body, no answer).
    pub fn read(ex: &Exchange) -> Result<Subscribed, String> {
        if let Some(f) = ex.fault() {
            return Err(format!(
                "a fault ({}{})",
                f.subcode.as_deref().unwrap_or(&f.code),
                f.detail.map(|d| format!(", {d}")).unwrap_or_default()
            ));
        }
        let env = match ex.envelope() {
            None => return Err(format!("no envelope (HTTP {:?})", ex.status())),
            Some(Err(e)) => return Err(format!("an unreadable answer: {e}")),
            Some(Ok(env)) => env,
        };
        let Body::SubscribeResponse(r) = &env.body else {
            return Err("an answer without wse:SubscribeResponse".into());
        };
        let epr = &r.subscription_manager;
        let identifier = epr
            .other_parameters
            .iter()
            .find(|t| t.root().is(ns::WSE, "Identifier"))
            .map(|t| t.root().text().trim().to_owned());
        Ok(Subscribed {
            manager: epr.address.to_string(),
            manager_resource_uri: epr.resource_uri.as_deref().map(str::to_owned),
            manager_selectors: epr
                .selectors
                .iter()
                .map(|sel| sel.clone().into_owned())
                .collect(),
            reference_parameters: epr
                .other_parameters
                .iter()
                .map(|t| t.clone().into_owned())
                .collect(),
            identifier,
            expires: r.expires.as_deref().map(str::to_owned),
            enumeration_context: r
                .enumeration_context
                .as_deref()
                .map(|c| c.trim().to_owned()),
        })
    }

    /// A request to the subscription manager: its address (the anonymous address or an
    /// empty one means the endpoint the Subscribe went to, `fallback`), its ResourceURI
    /// (or `resource_uri`) and every reference parameter as a header.
    pub fn request(&self, fallback: &str, resource_uri: &str) -> build::Request {
        let to = if self.manager.trim().is_empty() || self.manager == ns::ANONYMOUS {
            fallback
        } else {
            self.manager.as_str()
        };
        let uri = self.manager_resource_uri.as_deref().unwrap_or(resource_uri);
        let mut req = build::Request::new(to, uri);
        for sel in &self.manager_selectors {
            req = req.with_selector(sel.clone());
        }
        for p in &self.reference_parameters {
            req = req.header(p.clone(), false);
        }
        req
    }
}

/// `wse:Renew`, optionally asking for a new expiry.
pub fn renew(req: build::Request, expires: Option<String>) -> Envelope<'static> {
    req.envelope(
        ns::action::RENEW,
        Body::Renew(wsman::body::Expiry {
            expires: expires.map(Cow::Owned),
        }),
    )
}

/// `wse:GetStatus`.
pub fn get_status(req: build::Request) -> Envelope<'static> {
    req.envelope(ns::action::GET_STATUS, Body::GetStatus)
}

/// `wse:Unsubscribe`.
pub fn unsubscribe(req: build::Request) -> Envelope<'static> {
    req.envelope(ns::action::UNSUBSCRIBE, Body::Unsubscribe)
}

/// `wsen:Pull` of a pull-mode subscription's events.
pub fn pull(
    req: build::Request,
    context: impl Into<String>,
    max_elements: Option<u32>,
) -> Envelope<'static> {
    req.pull(build::pull_body(context, max_elements))
}

/// `wse:Expires` of a RenewResponse or GetStatusResponse (as written); `None` when
/// the answer is not one or has none.
pub fn expires_of(ex: &Exchange) -> Option<String> {
    match &ex.envelope()?.ok()?.body {
        Body::RenewResponse(e) | Body::GetStatusResponse(e) => {
            e.expires.as_deref().map(|s| s.trim().to_owned())
        }
        _ => None,
    }
}

/// What a Pull of events answered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pulled {
    /// Each event (the items' XML, in order).
    pub events: Vec<String>,
    /// The next context, if the answer gave one.
    pub context: Option<String>,
    /// `wsman:DroppedEvents` headers: (action, count).
    pub dropped: Vec<(String, u64)>,
    /// `wsen:EndOfSequence` or `wsman:EndOfSequence` was present.
    pub end_of_sequence: bool,
}

impl Pulled {
    /// Reads a PullResponse of events; the error says what the answer is instead.
    pub fn read(ex: &Exchange) -> Result<Pulled, String> {
        if let Some(f) = ex.fault() {
            return Err(format!(
                "a fault ({})",
                f.subcode.as_deref().unwrap_or(&f.code)
            ));
        }
        let text = ex.body_text().unwrap_or_default();
        let doc = roxmltree::Document::parse(&text).map_err(|e| format!("not XML: {e}"))?;
        let body = doc
            .root_element()
            .children()
            .find(|n| n.is_element() && n.tag_name().name() == "Body")
            .ok_or("no s:Body")?;
        let resp = body
            .children()
            .find(|n| n.has_tag_name((ns::WSEN, "PullResponse")))
            .ok_or("an answer without wsen:PullResponse")?;
        let mut out = Pulled::default();
        for c in resp.children().filter(|n| n.is_element()) {
            match c.tag_name().name() {
                "EnumerationContext" => out.context = Some(text_of(&c)),
                "EndOfSequence" => out.end_of_sequence = true,
                "Items" => {
                    for item in c.children().filter(|n| n.is_element()) {
                        out.events.push(text[item.range()].to_owned());
                    }
                }
                _ => {}
            }
        }
        if let Some(h) = doc
            .root_element()
            .children()
            .find(|n| n.is_element() && n.tag_name().name() == "Header")
        {
            for d in h
                .children()
                .filter(|n| n.has_tag_name((ns::WSMAN, "DroppedEvents")))
            {
                out.dropped.push((
                    d.attribute("Action").unwrap_or_default().to_owned(),
                    text_of(&d).parse().unwrap_or(0),
                ));
            }
        }
        Ok(out)
    }
}

use crate::sink::text_of;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_body(xml: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(xml).unwrap()
    }

    /// A manager that names its subscription by a selector gets the selector back on
    /// every request to it, with the other reference parameters as headers.
    #[test]
    fn manager_selectors_and_reference_parameters_go_back_on_each_request() {
        let sub = Subscribed {
            manager: ns::ANONYMOUS.into(),
            manager_resource_uri: Some("urn:manager".into()),
            manager_selectors: vec![wsman::addressing::Selector::text("Id", "7").into_owned()],
            reference_parameters: Vec::new(),
            identifier: None,
            expires: None,
            enumeration_context: None,
        };
        let env = unsubscribe(sub.request("http://127.0.0.1:9/wsman", "urn:fallback"));
        let xml = env.to_xml();
        let doc = parse_body(&xml);
        let selector = doc
            .descendants()
            .find(|n| n.has_tag_name((ns::WSMAN, "Selector")))
            .expect("the selector goes back");
        assert_eq!(
            (selector.attribute("Name"), selector.text()),
            (Some("Id"), Some("7"))
        );
        let uri = doc
            .descendants()
            .find(|n| n.has_tag_name((ns::WSMAN, "ResourceURI")))
            .unwrap();
        assert_eq!(uri.text(), Some("urn:manager"));
        let to = doc
            .descendants()
            .find(|n| n.has_tag_name((ns::WSA, "To")))
            .unwrap();
        assert_eq!(
            to.text(),
            Some("http://127.0.0.1:9/wsman"),
            "the anonymous manager is the endpoint"
        );
    }

    #[test]
    fn batched_subscribe_writes_every_delivery_field_inside_delivery() {
        let mut s = Subscription::with_mode(
            mode::EVENTS,
            Some(
                Endpoint::new("http://127.0.0.1:9/sink/a")
                    .param(RefParam::new("urn:t", "Sub", "a-1")),
            ),
        )
        .expires("PT30S")
        .heartbeats(Duration::from_millis(1500))
        .end_to(Endpoint::new("http://127.0.0.1:9/end/a"))
        .filter(ns::dialect::WQL, "SELECT * FROM CIM_AlertIndication");
        s.max_elements = Some(3);
        s.max_time = Some(Duration::from_secs(2));
        s.max_envelope_size = Some(65536);
        s.connection_retry = Some((2, Duration::from_secs(1)));
        s.send_bookmarks = true;
        s.bookmark = Some(BOOKMARK_EARLIEST.into());
        let env = s.envelope(build::Request::new("http://127.0.0.1:9/wsman", "urn:r"));
        let xml = env.to_xml();
        let doc = parse_body(&xml);
        let delivery = doc
            .descendants()
            .find(|n| n.has_tag_name((ns::WSE, "Delivery")))
            .unwrap();
        assert_eq!(delivery.attribute("Mode"), Some(mode::EVENTS));
        let child = |l: &str| {
            delivery
                .children()
                .find(|n| n.has_tag_name((ns::WSMAN, l)))
                .map(|n| text_of(&n))
        };
        assert_eq!(child("MaxElements").as_deref(), Some("3"));
        assert_eq!(child("MaxTime").as_deref(), Some("PT2S"));
        assert_eq!(child("Heartbeats").as_deref(), Some("PT1.5S"));
        assert_eq!(child("MaxEnvelopeSize").as_deref(), Some("65536"));
        assert_eq!(child("ConnectionRetry").as_deref(), Some("PT1S"));
        let sub = doc
            .descendants()
            .find(|n| n.has_tag_name(("urn:t", "Sub")))
            .unwrap();
        assert_eq!(sub.text(), Some("a-1"));
        assert!(
            sub.ancestors()
                .any(|a| a.has_tag_name((ns::WSE, "NotifyTo")))
        );
        // What the wsman parser reads back agrees.
        let parsed = wsman::parse(&xml, &wsman::Limits::default()).unwrap();
        let Body::Subscribe(p) = parsed.body else {
            panic!("not a Subscribe: {xml}")
        };
        assert_eq!(p.delivery_mode.as_deref(), Some(mode::EVENTS));
        assert_eq!(p.expires.as_deref(), Some("PT30S"));
        assert!(p.send_bookmarks);
        assert_eq!(
            p.end_to.as_ref().map(|e| e.address.as_ref()),
            Some("http://127.0.0.1:9/end/a")
        );
        assert_eq!(
            p.filter.and_then(|f| f.dialect).as_deref(),
            Some(ns::dialect::WQL)
        );
    }

    #[test]
    fn an_xml_bookmark_is_copied_as_xml() {
        let mut s = Subscription::pull();
        s.bookmark = Some("<b:Mark xmlns:b=\"urn:b\">42</b:Mark>".into());
        let xml = s
            .envelope(build::Request::new("http://h/wsman", "urn:r"))
            .to_xml();
        let doc = parse_body(&xml);
        let mark = doc
            .descendants()
            .find(|n| n.has_tag_name(("urn:b", "Mark")))
            .unwrap();
        assert!(mark.parent().unwrap().has_tag_name((ns::WSMAN, "Bookmark")));
        assert!(
            doc.descendants()
                .all(|n| !n.has_tag_name((ns::WSE, "NotifyTo"))),
            "pull mode has no NotifyTo"
        );
    }

    fn exchange(body: &str) -> Exchange {
        let t = crate::Transcript {
            method: "POST".into(),
            url: "http://h/wsman".into(),
            target: "/wsman".into(),
            headers: Vec::new(),
            body: bytes::Bytes::new(),
            started: Duration::ZERO,
            connection: 1,
            reused: false,
        };
        let r = crate::ResponseTranscript {
            status: 200,
            reason: None,
            version: "HTTP/1.1".into(),
            headers: vec![(
                "Content-Type".into(),
                "application/soap+xml;charset=UTF-8".into(),
            )],
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            elapsed: Duration::ZERO,
        };
        Exchange::new(t, Some(r), None, Vec::new(), Duration::ZERO)
    }

    const ENV: &str = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
        xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
        xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\" \
        xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
        xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\">";

    #[test]
    fn subscribe_response_gives_manager_identifier_and_context() {
        let body = format!(
            "{ENV}<s:Header><a:Action>{}</a:Action></s:Header><s:Body><e:SubscribeResponse>\
             <e:SubscriptionManager><a:Address>http://h/wsman</a:Address><a:ReferenceParameters>\
             <w:ResourceURI>urn:r</w:ResourceURI><e:Identifier> uuid:1 </e:Identifier>\
             </a:ReferenceParameters></e:SubscriptionManager><e:Expires>PT60S</e:Expires>\
             <n:EnumerationContext>ctx-1</n:EnumerationContext></e:SubscribeResponse></s:Body></s:Envelope>",
            ns::action::SUBSCRIBE_RESPONSE
        );
        let s = Subscribed::read(&exchange(&body)).unwrap();
        assert_eq!(s.identifier.as_deref(), Some("uuid:1"));
        assert_eq!(s.expires.as_deref(), Some("PT60S"));
        assert_eq!(s.enumeration_context.as_deref(), Some("ctx-1"));
        assert_eq!(s.manager_resource_uri.as_deref(), Some("urn:r"));
        let env = unsubscribe(s.request("http://fallback/wsman", "urn:other"));
        assert_eq!(env.header.to.as_deref(), Some("http://h/wsman"));
        assert_eq!(env.header.resource_uri.as_deref(), Some("urn:r"));
        let xml = env.to_xml();
        let back = wsman::parse(&xml, &wsman::Limits::default()).unwrap();
        assert!(
            back.header
                .other
                .iter()
                .any(|o| o.element.root().is(ns::WSE, "Identifier")),
            "{xml}"
        );
    }

    #[test]
    fn a_fault_or_another_body_is_an_error_that_says_so() {
        let other = format!("{ENV}<s:Header/><s:Body><e:RenewResponse/></s:Body></s:Envelope>");
        assert!(
            Subscribed::read(&exchange(&other))
                .unwrap_err()
                .contains("without wse:SubscribeResponse")
        );
        assert!(
            Subscribed::read(&exchange(""))
                .unwrap_err()
                .contains("no envelope")
        );
    }

    #[test]
    fn pulled_events_keep_their_xml_and_dropped_counts() {
        let body = format!(
            "{ENV}<s:Header><w:DroppedEvents Action=\"urn:ev\">3</w:DroppedEvents></s:Header>\
             <s:Body><n:PullResponse><n:EnumerationContext>c2</n:EnumerationContext><n:Items>\
             <p:A xmlns:p=\"urn:p\">1</p:A><p:A xmlns:p=\"urn:p\">2</p:A></n:Items></n:PullResponse></s:Body></s:Envelope>"
        );
        let p = Pulled::read(&exchange(&body)).unwrap();
        assert_eq!(p.events.len(), 2);
        assert!(p.events[1].contains(">2<"));
        assert_eq!(p.context.as_deref(), Some("c2"));
        assert_eq!(p.dropped, vec![("urn:ev".to_owned(), 3)]);
        assert!(!p.end_of_sequence);
    }
}
