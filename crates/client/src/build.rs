//! Request envelopes, built the way real clients build them: `wsa:To` the target URL,
//! `wsa:ReplyTo` anonymous, the operation's `wsa:Action`, a fresh `uuid:` MessageID,
//! `wsman:MaxEnvelopeSize` 512000 and `wsman:OperationTimeout` PT60S unless overridden.
//!
//! [`Request`] is the builder: headers first, then one method per operation that
//! returns a [`wsman::Envelope<'static>`]. The free functions are shortcuts for the
//! common case of selectors and options given as pairs.
//!
//! ```
//! use client::build;
//! let env = build::Request::new("http://127.0.0.1:5985/wsman", "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_NumericSensor")
//!     .selector("DeviceID", "cpu.temp")
//!     .operation_timeout(Some(std::time::Duration::from_secs(20)))
//!     .get();
//! assert_eq!(env.header.action.as_deref(), Some(wsman::ns::action::GET));
//! assert_eq!(env.header.selector("DeviceID"), Some("cpu.temp"));
//! ```

use std::borrow::Cow;
use std::time::Duration;

use wsman::body::{Enumerate, EnumerationContextBody, Filter, FilterContent, Method, Pull};
use wsman::envelope::{FragmentTransfer, OtherHeader};
use wsman::tree::{Name, Tree, TreeBuilder};
use wsman::{Body, Envelope, Epr, Header, OptionItem, Selector, SelectorValue, XsDuration, ns};

/// The `wsman:MaxEnvelopeSize` sent unless overridden (WinRM's default of 500 KB).
pub const DEFAULT_MAX_ENVELOPE_SIZE: u64 = 512_000;

/// The `wsman:OperationTimeout` sent unless overridden.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// A fresh `uuid:` message ID (a random version 4 UUID).
pub fn message_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h =
        |r: std::ops::Range<usize>| -> String { b[r].iter().map(|x| format!("{x:02X}")).collect() };
    format!(
        "uuid:{}-{}-{}-{}-{}",
        h(0..4),
        h(4..6),
        h(6..8),
        h(8..10),
        h(10..16)
    )
}

/// An Identify request: `wsmid:Identify` and no headers at all (DSP0226 §11).
pub fn identify() -> Envelope<'static> {
    envelope(Header::default(), Body::Identify)
}

fn envelope(header: Header<'static>, body: Body<'static>) -> Envelope<'static> {
    Envelope {
        header,
        body,
        extra: Vec::new(),
        meta: wsman::Meta::default(),
    }
}

/// The headers of a request to one resource, and the operations to make of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    to: String,
    resource_uri: Option<String>,
    selectors: Vec<Selector<'static>>,
    options: Vec<OptionItem<'static>>,
    max_envelope_size: Option<u64>,
    operation_timeout: Option<XsDuration>,
    message_id: Option<String>,
    reply_to: Option<String>,
    locale: Option<String>,
    fragment: Option<FragmentTransfer<'static>>,
    total_items_estimate: bool,
    other: Vec<OtherHeader<'static>>,
}

impl Request {
    /// A request to `resource_uri` at `to` (the target URL) with the default headers.
    pub fn new(to: impl Into<String>, resource_uri: impl Into<String>) -> Request {
        Request {
            to: to.into(),
            resource_uri: Some(resource_uri.into()),
            selectors: Vec::new(),
            options: Vec::new(),
            max_envelope_size: Some(DEFAULT_MAX_ENVELOPE_SIZE),
            operation_timeout: Some(seconds(DEFAULT_OPERATION_TIMEOUT)),
            message_id: None,
            reply_to: Some(ns::ANONYMOUS.to_owned()),
            locale: None,
            fragment: None,
            total_items_estimate: false,
            other: Vec::new(),
        }
    }

    /// Adds a selector with a text value.
    pub fn selector(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.selectors
            .push(Selector::text(name.into(), value.into()));
        self
    }

    /// Adds a selector as read from an endpoint reference (text or EPR value).
    pub fn with_selector(mut self, selector: Selector<'static>) -> Request {
        self.selectors.push(selector);
        self
    }

    /// Adds selectors with text values.
    pub fn selectors<K: Into<String>, V: Into<String>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Request {
        for (k, v) in pairs {
            self = self.selector(k, v);
        }
        self
    }

    /// Adds a selector whose value is an endpoint reference (DSP0226 §7.1).
    pub fn selector_epr(mut self, name: impl Into<String>, epr: Epr<'static>) -> Request {
        self.selectors.push(Selector {
            name: Cow::Owned(name.into()),
            value: SelectorValue::Epr(Box::new(epr)),
        });
        self
    }

    /// Adds an option.
    pub fn option(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.options
            .push(OptionItem::new(name.into(), value.into()));
        self
    }

    /// Adds options given as pairs.
    pub fn options<K: Into<String>, V: Into<String>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Request {
        for (k, v) in pairs {
            self = self.option(k, v);
        }
        self
    }

    /// Adds an option with its `Type` and `MustComply` attributes.
    pub fn option_item(mut self, item: OptionItem<'static>) -> Request {
        self.options.push(item);
        self
    }

    /// Sets or (with `None`) omits `wsman:MaxEnvelopeSize`.
    pub fn max_envelope_size(mut self, octets: Option<u64>) -> Request {
        self.max_envelope_size = octets;
        self
    }

    /// Sets or (with `None`) omits `wsman:OperationTimeout`.
    pub fn operation_timeout(mut self, timeout: Option<Duration>) -> Request {
        self.operation_timeout = timeout.map(seconds);
        self
    }

    /// Sets `wsman:OperationTimeout` as an `xs:duration` written as given.
    pub fn operation_timeout_xs(mut self, timeout: XsDuration) -> Request {
        self.operation_timeout = Some(timeout);
        self
    }

    /// Uses this `wsa:MessageID` instead of a fresh `uuid:`.
    pub fn message_id(mut self, id: impl Into<String>) -> Request {
        self.message_id = Some(id.into());
        self
    }

    /// Sets `wsa:To` (the target URL by default; AMT tooling sends `/wsman`), or omits
    /// it with an empty string.
    pub fn to(mut self, to: impl Into<String>) -> Request {
        self.to = to.into();
        self
    }

    /// Sets the `wsa:ReplyTo` address, or (with `None`) omits ReplyTo.
    pub fn reply_to(mut self, address: Option<String>) -> Request {
        self.reply_to = address;
        self
    }

    /// Omits `wsman:ResourceURI`.
    pub fn without_resource_uri(mut self) -> Request {
        self.resource_uri = None;
        self
    }

    /// Sets `wsman:Locale` (`xml:lang`, mustUnderstand false).
    pub fn locale(mut self, lang: impl Into<String>) -> Request {
        self.locale = Some(lang.into());
        self
    }

    /// Sets `wsman:FragmentTransfer` (with the default dialect).
    pub fn fragment(mut self, expression: impl Into<String>) -> Request {
        self.fragment = Some(FragmentTransfer {
            expression: Cow::Owned(expression.into()),
            dialect: None,
        });
        self
    }

    /// Adds `wsman:RequestTotalItemsCountEstimate`.
    pub fn request_total_items_count_estimate(mut self) -> Request {
        self.total_items_estimate = true;
        self
    }

    /// Adds any other header element (for mustUnderstand tests and vendor headers).
    pub fn header(mut self, element: Tree<'static>, must_understand: bool) -> Request {
        self.other.push(OtherHeader {
            must_understand,
            element,
        });
        self
    }

    /// The envelope with `action` and `body`: what every operation method below uses.
    pub fn envelope(self, action: impl Into<String>, body: Body<'static>) -> Envelope<'static> {
        let owned = |s: String| (!s.is_empty()).then_some(Cow::Owned(s));
        let header = Header {
            to: owned(self.to),
            action: Some(Cow::Owned(action.into())),
            message_id: Some(Cow::Owned(self.message_id.unwrap_or_else(message_id))),
            reply_to: self.reply_to.map(|a| Epr {
                address: Cow::Owned(a),
                ..Epr::default()
            }),
            resource_uri: self.resource_uri.map(Cow::Owned),
            selectors: self.selectors,
            options: self.options,
            max_envelope_size: self.max_envelope_size,
            operation_timeout: self.operation_timeout,
            locale: self.locale.map(Cow::Owned),
            fragment_transfer: self.fragment,
            request_total_items_count_estimate: self.total_items_estimate,
            other: self.other,
            ..Header::default()
        };
        envelope(header, body)
    }

    /// WS-Transfer Get.
    pub fn get(self) -> Envelope<'static> {
        self.envelope(ns::action::GET, Body::Empty)
    }

    /// WS-Transfer Put of a whole instance (or, with [`Request::fragment`], of a
    /// fragment: pass the `wsman:XmlFragment` element).
    pub fn put(self, instance: Tree<'static>) -> Envelope<'static> {
        let body = if self.fragment.is_some() {
            Body::Fragment(instance)
        } else {
            Body::Instance(instance)
        };
        self.envelope(ns::action::PUT, body)
    }

    /// WS-Transfer Create of an instance.
    pub fn create(self, instance: Tree<'static>) -> Envelope<'static> {
        self.envelope(ns::action::CREATE, Body::Instance(instance))
    }

    /// WS-Transfer Delete.
    pub fn delete(self) -> Envelope<'static> {
        self.envelope(ns::action::DELETE, Body::Empty)
    }

    /// WS-Enumeration Enumerate (filter, optimization, MaxElements, mode, Expires are
    /// the fields of `e`; `Enumerate::default()` enumerates everything).
    pub fn enumerate(self, e: Enumerate<'static>) -> Envelope<'static> {
        self.envelope(ns::action::ENUMERATE, Body::Enumerate(Box::new(e)))
    }

    /// WS-Enumeration Pull.
    pub fn pull(self, p: Pull<'static>) -> Envelope<'static> {
        self.envelope(ns::action::PULL, Body::Pull(p))
    }

    /// WS-Enumeration Release of `context`.
    pub fn release(self, context: impl Into<String>) -> Envelope<'static> {
        self.envelope(
            ns::action::RELEASE,
            Body::Release(context_body(context.into(), None)),
        )
    }

    /// WS-Enumeration Renew of `context`, optionally asking for a new expiry.
    pub fn renew(self, context: impl Into<String>, expires: Option<String>) -> Envelope<'static> {
        self.envelope(
            ns::action::ENUM_RENEW,
            Body::EnumerationRenew(context_body(context.into(), expires)),
        )
    }

    /// WS-Enumeration GetStatus of `context`.
    pub fn get_status(self, context: impl Into<String>) -> Envelope<'static> {
        self.envelope(
            ns::action::ENUM_GET_STATUS,
            Body::EnumerationGetStatus(context_body(context.into(), None)),
        )
    }

    /// Invoke of `method` with text parameters: action `<resource URI>/<method>`, body
    /// `<p:method_INPUT xmlns:p="<resource URI>">` with one `<p:name>` per parameter.
    pub fn invoke<K: Into<String>, V: Into<String>>(
        self,
        method: &str,
        params: impl IntoIterator<Item = (K, V)>,
    ) -> Envelope<'static> {
        let uri = self.resource_uri.clone().unwrap_or_default();
        let mut b = TreeBuilder::with_capacity(8);
        b.start(Name::new(uri.clone(), format!("{method}_INPUT")).with_prefix("p"));
        for (k, v) in params {
            b.leaf(Name::new(uri.clone(), k.into()).with_prefix("p"), v.into());
        }
        let input = b.finish();
        self.invoke_with(method, input)
    }

    /// Invoke of `method` with an input element built by the caller.
    pub fn invoke_with(self, method: &str, input: Tree<'static>) -> Envelope<'static> {
        let action = format!(
            "{}/{method}",
            self.resource_uri.as_deref().unwrap_or_default()
        );
        self.envelope(
            action,
            Body::MethodInput(Method {
                method: Cow::Owned(method.to_owned()),
                element: input,
            }),
        )
    }
}

/// A duration written in seconds only (`PT60S`, `PT0.5S`), as real clients write
/// OperationTimeout, rather than normalised to minutes (`PT1M`).
fn seconds(d: Duration) -> XsDuration {
    match u32::try_from(d.as_secs()) {
        Ok(s) => XsDuration {
            seconds: s,
            nanos: d.subsec_nanos(),
            ..XsDuration::default()
        },
        Err(_) => XsDuration::from_std(d),
    }
}

fn context_body(context: String, expires: Option<String>) -> EnumerationContextBody<'static> {
    EnumerationContextBody {
        context: Some(Cow::Owned(context)),
        expires: expires.map(Cow::Owned),
    }
}

/// Filters for [`Enumerate::filter`].
pub mod filter {
    use super::*;

    fn text(dialect: &str, query: String) -> Filter<'static> {
        Filter {
            dialect: Some(Cow::Owned(dialect.to_owned())),
            content: FilterContent::Text(Cow::Owned(query)),
        }
    }

    /// A WQL query (`SELECT * FROM Win32_Service WHERE State="Running"`).
    pub fn wql(query: impl Into<String>) -> Filter<'static> {
        text(ns::dialect::WQL, query.into())
    }

    /// A CQL query.
    pub fn cql(query: impl Into<String>) -> Filter<'static> {
        text(ns::dialect::CQL, query.into())
    }

    /// An XPath expression.
    pub fn xpath(expr: impl Into<String>) -> Filter<'static> {
        text(ns::dialect::XPATH, expr.into())
    }

    /// The selector filter: instances whose keys have these values.
    pub fn selectors<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Filter<'static> {
        Filter {
            dialect: Some(Cow::Borrowed(ns::dialect::SELECTOR)),
            content: FilterContent::Selectors(
                pairs
                    .into_iter()
                    .map(|(k, v)| Selector::text(k.into(), v.into()))
                    .collect(),
            ),
        }
    }
}

/// `wsen:Enumerate` with the commonly set fields.
pub fn enumerate_body(
    filter: Option<Filter<'static>>,
    optimize: bool,
    max_elements: Option<u32>,
    mode: Option<wsman::body::EnumerationMode<'static>>,
    expires: Option<String>,
) -> Enumerate<'static> {
    Enumerate {
        expires: expires.map(Cow::Owned),
        filter,
        optimize,
        max_elements,
        mode,
        other: Vec::new(),
    }
}

/// `wsen:Pull` of `context` with an optional MaxElements.
pub fn pull_body(context: impl Into<String>, max_elements: Option<u32>) -> Pull<'static> {
    Pull {
        context: Cow::Owned(context.into()),
        max_elements,
        ..Pull::default()
    }
}

type Pairs<'p> = &'p [(&'p str, &'p str)];

fn base(to: &str, resource_uri: &str, selectors: Pairs<'_>, options: Pairs<'_>) -> Request {
    Request::new(to, resource_uri)
        .selectors(selectors.iter().copied())
        .options(options.iter().copied())
}

/// Get of the instance `selectors` name.
pub fn get(
    to: &str,
    resource_uri: &str,
    selectors: Pairs<'_>,
    options: Pairs<'_>,
) -> Envelope<'static> {
    base(to, resource_uri, selectors, options).get()
}

/// Put of `instance`.
pub fn put(
    to: &str,
    resource_uri: &str,
    selectors: Pairs<'_>,
    options: Pairs<'_>,
    instance: Tree<'static>,
) -> Envelope<'static> {
    base(to, resource_uri, selectors, options).put(instance)
}

/// Create of `instance`.
pub fn create(
    to: &str,
    resource_uri: &str,
    selectors: Pairs<'_>,
    options: Pairs<'_>,
    instance: Tree<'static>,
) -> Envelope<'static> {
    base(to, resource_uri, selectors, options).create(instance)
}

/// Delete of the instance `selectors` name.
pub fn delete(
    to: &str,
    resource_uri: &str,
    selectors: Pairs<'_>,
    options: Pairs<'_>,
) -> Envelope<'static> {
    base(to, resource_uri, selectors, options).delete()
}

/// Enumerate (see [`enumerate_body`]).
pub fn enumerate(
    to: &str,
    resource_uri: &str,
    selectors: Pairs<'_>,
    options: Pairs<'_>,
    e: Enumerate<'static>,
) -> Envelope<'static> {
    base(to, resource_uri, selectors, options).enumerate(e)
}

/// Pull (see [`pull_body`]).
pub fn pull(
    to: &str,
    resource_uri: &str,
    selectors: Pairs<'_>,
    options: Pairs<'_>,
    p: Pull<'static>,
) -> Envelope<'static> {
    base(to, resource_uri, selectors, options).pull(p)
}

/// Release of `context`.
pub fn release(
    to: &str,
    resource_uri: &str,
    selectors: Pairs<'_>,
    options: Pairs<'_>,
    context: &str,
) -> Envelope<'static> {
    base(to, resource_uri, selectors, options).release(context)
}

/// Renew of `context`.
pub fn renew(
    to: &str,
    resource_uri: &str,
    selectors: Pairs<'_>,
    options: Pairs<'_>,
    context: &str,
    expires: Option<String>,
) -> Envelope<'static> {
    base(to, resource_uri, selectors, options).renew(context, expires)
}

/// GetStatus of `context`.
pub fn get_status(
    to: &str,
    resource_uri: &str,
    selectors: Pairs<'_>,
    options: Pairs<'_>,
    context: &str,
) -> Envelope<'static> {
    base(to, resource_uri, selectors, options).get_status(context)
}

/// Invoke of `method` with text parameters.
pub fn invoke(
    to: &str,
    resource_uri: &str,
    selectors: Pairs<'_>,
    options: Pairs<'_>,
    method: &str,
    params: Pairs<'_>,
) -> Envelope<'static> {
    base(to, resource_uri, selectors, options).invoke(method, params.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://127.0.0.1:5985/wsman";
    const CS: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem";

    fn reparse(env: &Envelope<'_>) -> String {
        env.to_xml()
    }

    #[test]
    fn message_ids_are_fresh_v4_uuids() {
        let a = message_id();
        let b = message_id();
        assert_ne!(a, b);
        let u = a.strip_prefix("uuid:").unwrap();
        let parts: Vec<_> = u.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "A" | "B"));
    }

    #[test]
    fn identify_has_no_headers() {
        let xml = reparse(&identify());
        let env = wsman::parse(&xml, &wsman::Limits::default()).unwrap();
        assert_eq!(env.header, Header::default());
        assert!(matches!(env.body, Body::Identify));
    }

    #[test]
    fn enumerate_pull_release_and_invoke_round_trip() {
        let e = Request::new(URL, CS).enumerate(enumerate_body(
            Some(filter::wql("SELECT * FROM CIM_ComputerSystem")),
            true,
            Some(5),
            Some(wsman::body::EnumerationMode::ObjectAndEpr),
            Some("PT5M".into()),
        ));
        let xml = reparse(&e);
        let p = wsman::parse(&xml, &wsman::Limits::default()).unwrap();
        let Body::Enumerate(b) = p.body else {
            panic!("{xml}")
        };
        assert!(b.optimize);
        assert_eq!(b.max_elements, Some(5));
        assert_eq!(b.expires.as_deref(), Some("PT5M"));
        assert_eq!(b.filter.unwrap().dialect(), ns::dialect::WQL);

        let xml = reparse(&pull(URL, CS, &[], &[], pull_body("ctx-1", Some(3))));
        let p = wsman::parse(&xml, &wsman::Limits::default()).unwrap();
        assert!(
            matches!(&p.body, Body::Pull(p) if p.context == "ctx-1" && p.max_elements == Some(3))
        );

        for (env, action) in [
            (Request::new(URL, CS).release("c"), ns::action::RELEASE),
            (
                Request::new(URL, CS).renew("c", None),
                ns::action::ENUM_RENEW,
            ),
            (
                Request::new(URL, CS).get_status("c"),
                ns::action::ENUM_GET_STATUS,
            ),
        ] {
            let xml = reparse(&env);
            let p = wsman::parse(&xml, &wsman::Limits::default()).unwrap();
            assert_eq!(p.header.action.as_deref(), Some(action));
        }

        let xml = reparse(&invoke(
            URL,
            CS,
            &[("Name", "host")],
            &[],
            "RequestStateChange",
            &[("RequestedState", "2")],
        ));
        let p = wsman::parse(&xml, &wsman::Limits::default()).unwrap();
        assert_eq!(
            p.header.action.as_deref(),
            Some(format!("{CS}/RequestStateChange").as_str())
        );
        let Body::MethodInput(m) = &p.body else {
            panic!("{xml}")
        };
        assert_eq!(m.method, "RequestStateChange");
        assert_eq!(m.element.root().name().ns, CS);
        assert_eq!(
            m.element
                .root()
                .property("RequestedState")
                .map(|e| e.text()),
            Some("2")
        );
    }

    #[test]
    fn overrides_remove_defaults() {
        let env = Request::new(URL, CS)
            .max_envelope_size(None)
            .operation_timeout(None)
            .message_id("uuid:fixed")
            .to("/wsman")
            .get();
        assert_eq!(env.header.max_envelope_size, None);
        assert_eq!(env.header.operation_timeout, None);
        assert_eq!(env.header.message_id.as_deref(), Some("uuid:fixed"));
        assert_eq!(env.header.to.as_deref(), Some("/wsman"));
    }
}
