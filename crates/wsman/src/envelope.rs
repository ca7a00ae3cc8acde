//! The SOAP 1.2 envelope: typed WS-Management headers and the body, read in one pass.

use std::borrow::Cow;

use crate::Limits;
use crate::addressing::{Epr, OptionItem, Selector, trimmed};
use crate::body::{self, Body, EnumerateResponse, Item, PullResponse};
use crate::cursor::{Cursor, Ev, Start};
use crate::duration::XsDuration;
use crate::error::{Error, ErrorKind};
use crate::fault::{Fault, FaultCode, FaultDetail, WsmanFault};
use crate::ns;
use crate::tree::{Name, Tree, TreeBuilder};

/// The headers Touchstone understands, by name; used for mustUnderstand bookkeeping and
/// for error positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderName {
    /// `wsa:To`.
    To,
    /// `wsa:Action`.
    Action,
    /// `wsa:MessageID`.
    MessageId,
    /// `wsa:ReplyTo`.
    ReplyTo,
    /// `wsa:FaultTo`.
    FaultTo,
    /// `wsa:From`.
    From,
    /// `wsa:RelatesTo`.
    RelatesTo,
    /// `wsman:ResourceURI`.
    ResourceUri,
    /// `wsman:SelectorSet`.
    SelectorSet,
    /// `wsman:OptionSet`.
    OptionSet,
    /// `wsman:MaxEnvelopeSize`.
    MaxEnvelopeSize,
    /// `wsman:OperationTimeout`.
    OperationTimeout,
    /// `wsman:Locale`.
    Locale,
    /// `wsman:DataLocale` (or the Microsoft `p:DataLocale`).
    DataLocale,
    /// `wsman:FragmentTransfer`.
    FragmentTransfer,
    /// `wsman:RequestTotalItemsCountEstimate`.
    RequestTotalItemsCountEstimate,
    /// `wsman:TotalItemsCountEstimate`.
    TotalItemsCountEstimate,
    /// `s:NotUnderstood`.
    NotUnderstood,
}

impl HeaderName {
    /// `prefix:Local` with the conventional prefix.
    pub fn qname(self) -> &'static str {
        match self {
            HeaderName::To => "wsa:To",
            HeaderName::Action => "wsa:Action",
            HeaderName::MessageId => "wsa:MessageID",
            HeaderName::ReplyTo => "wsa:ReplyTo",
            HeaderName::FaultTo => "wsa:FaultTo",
            HeaderName::From => "wsa:From",
            HeaderName::RelatesTo => "wsa:RelatesTo",
            HeaderName::ResourceUri => "wsman:ResourceURI",
            HeaderName::SelectorSet => "wsman:SelectorSet",
            HeaderName::OptionSet => "wsman:OptionSet",
            HeaderName::MaxEnvelopeSize => "wsman:MaxEnvelopeSize",
            HeaderName::OperationTimeout => "wsman:OperationTimeout",
            HeaderName::Locale => "wsman:Locale",
            HeaderName::DataLocale => "wsman:DataLocale",
            HeaderName::FragmentTransfer => "wsman:FragmentTransfer",
            HeaderName::RequestTotalItemsCountEstimate => "wsman:RequestTotalItemsCountEstimate",
            HeaderName::TotalItemsCountEstimate => "wsman:TotalItemsCountEstimate",
            HeaderName::NotUnderstood => "s:NotUnderstood",
        }
    }

    fn from_name(name: &Name<'_>) -> Option<HeaderName> {
        let local = name.local.as_ref();
        Some(match name.ns.as_ref() {
            ns::WSA => match local {
                "To" => HeaderName::To,
                "Action" => HeaderName::Action,
                "MessageID" => HeaderName::MessageId,
                "ReplyTo" => HeaderName::ReplyTo,
                "FaultTo" => HeaderName::FaultTo,
                "From" => HeaderName::From,
                "RelatesTo" => HeaderName::RelatesTo,
                _ => return None,
            },
            ns::WSMAN => match local {
                "ResourceURI" => HeaderName::ResourceUri,
                "SelectorSet" => HeaderName::SelectorSet,
                "OptionSet" => HeaderName::OptionSet,
                "MaxEnvelopeSize" => HeaderName::MaxEnvelopeSize,
                "OperationTimeout" => HeaderName::OperationTimeout,
                "Locale" => HeaderName::Locale,
                "DataLocale" => HeaderName::DataLocale,
                "FragmentTransfer" => HeaderName::FragmentTransfer,
                "RequestTotalItemsCountEstimate" => HeaderName::RequestTotalItemsCountEstimate,
                "TotalItemsCountEstimate" => HeaderName::TotalItemsCountEstimate,
                _ => return None,
            },
            ns::MSWSMAN if local == "DataLocale" => HeaderName::DataLocale,
            ns::SOAP if local == "NotUnderstood" => HeaderName::NotUnderstood,
            _ => return None,
        })
    }
}

/// `wsman:FragmentTransfer`: the fragment expression and its dialect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FragmentTransfer<'a> {
    /// The expression (such as `CurrentReading` or an XPath).
    pub expression: Cow<'a, str>,
    /// The `Dialect` attribute.
    pub dialect: Option<Cow<'a, str>>,
}

/// An `s:Header` child that is not one of the typed headers, kept whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherHeader<'a> {
    /// `s:mustUnderstand="true"`.
    pub must_understand: bool,
    /// The element.
    pub element: Tree<'a>,
}

/// The typed headers of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header<'a> {
    /// `wsa:To`.
    pub to: Option<Cow<'a, str>>,
    /// `wsa:Action`.
    pub action: Option<Cow<'a, str>>,
    /// `wsa:MessageID`.
    pub message_id: Option<Cow<'a, str>>,
    /// `wsa:ReplyTo`.
    pub reply_to: Option<Epr<'a>>,
    /// `wsa:FaultTo`.
    pub fault_to: Option<Epr<'a>>,
    /// `wsa:From`.
    pub from: Option<Epr<'a>>,
    /// `wsa:RelatesTo`.
    pub relates_to: Option<Cow<'a, str>>,
    /// `wsman:ResourceURI`.
    pub resource_uri: Option<Cow<'a, str>>,
    /// `wsman:SelectorSet` (empty when absent).
    pub selectors: Vec<Selector<'a>>,
    /// `wsman:OptionSet` (empty when absent).
    pub options: Vec<OptionItem<'a>>,
    /// `wsman:MaxEnvelopeSize` in octets.
    pub max_envelope_size: Option<u64>,
    /// `wsman:OperationTimeout`.
    pub operation_timeout: Option<XsDuration>,
    /// `wsman:Locale/@xml:lang`.
    pub locale: Option<Cow<'a, str>>,
    /// `wsman:DataLocale/@xml:lang` (or `p:DataLocale`).
    pub data_locale: Option<Cow<'a, str>>,
    /// `wsman:FragmentTransfer`.
    pub fragment_transfer: Option<FragmentTransfer<'a>>,
    /// `wsman:RequestTotalItemsCountEstimate` was present.
    pub request_total_items_count_estimate: bool,
    /// `wsman:TotalItemsCountEstimate` (a response header; `xsi:nil` reads as `None`).
    pub total_items_count_estimate: Option<u64>,
    /// `s:NotUnderstood/@qname`, resolved (in MustUnderstand faults).
    pub not_understood: Option<Name<'a>>,
    /// Every other header, in order.
    pub other: Vec<OtherHeader<'a>>,
}

impl Header<'_> {
    /// The text value of selector `name`.
    pub fn selector(&self, name: &str) -> Option<&str> {
        crate::addressing::selector_value(&self.selectors, name)
    }

    /// The value of option `name`.
    pub fn option(&self, name: &str) -> Option<&str> {
        crate::addressing::option_value(&self.options, name)
    }
}

/// Where each typed header was found and whether it was marked mustUnderstand: what a
/// linter and a strict server need beyond the values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    /// (header, mustUnderstand, byte offset), in document order.
    pub headers: Vec<(HeaderName, bool, usize)>,
    /// Byte offset of the `s:Envelope` start tag.
    pub envelope_offset: usize,
    /// Byte offset of the `s:Body` start tag.
    pub body_offset: usize,
    /// Byte offset of the first body element, if any.
    pub body_element_offset: Option<usize>,
}

impl Meta {
    /// The mustUnderstand flag and offset of a typed header, if it was present.
    pub fn header(&self, name: HeaderName) -> Option<(bool, usize)> {
        self.headers
            .iter()
            .find(|h| h.0 == name)
            .map(|h| (h.1, h.2))
    }
}

/// A parsed envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The headers.
    pub header: Header<'a>,
    /// The body (its first element).
    pub body: Body<'a>,
    /// Further body elements, rare but real: Windows answers a shell Create with
    /// `x:ResourceCreated` followed by `rsp:Shell`.
    pub extra: Vec<Body<'a>>,
    /// Positions and flags of the headers.
    pub meta: Meta,
}

/// An envelope whose headers were read and whose body was only delimited.
#[derive(Debug, Clone)]
pub struct HeaderOnly<'a> {
    /// The headers.
    pub header: Header<'a>,
    /// Positions and flags.
    pub meta: Meta,
    /// The raw XML inside `s:Body`, borrowed from the input.
    pub body_xml: &'a str,
    input: &'a str,
    body_range: (usize, usize),
    bindings: Vec<(&'a str, Cow<'a, str>)>,
    /// Elements counted before the body, so that reading the body later applies the
    /// same element limit as [`parse`].
    elements_before: usize,
}

impl<'a> HeaderOnly<'a> {
    /// Reads the body that [`parse_header`] skipped: the first body element and any
    /// further ones (see [`Envelope::extra`]).
    pub fn parse_body(&self, limits: &Limits) -> Result<(Body<'a>, Vec<Body<'a>>), Error> {
        let mut c = self.body_cursor(limits);
        read_body_elements(&mut c, None, true)
    }
}

impl<'a> HeaderOnly<'a> {
    /// A cursor over the body that continues the limits of the header read: the
    /// Envelope and Body are open around it, and their elements were counted.
    fn body_cursor(&self, limits: &Limits) -> Cursor<'a> {
        let mut c = Cursor::at(
            self.input,
            self.body_range.0,
            self.body_range.1,
            self.bindings.clone(),
            limits,
        );
        c.continue_limits(2, self.elements_before);
        c.message_id = self.header.message_id.clone();
        c
    }

    /// The body elements as generic trees, whatever they are (for routing rules that
    /// look at the body without knowing its type).
    pub fn body_trees(&self, limits: &Limits) -> Result<Vec<Tree<'a>>, Error> {
        let mut c = self.body_cursor(limits);
        let mut out = Vec::new();
        loop {
            match c.next()? {
                Ev::Start(s) => out.push(c.read_tree(s)?),
                Ev::Text(_) => {}
                Ev::End | Ev::Eof => return Ok(out),
            }
        }
    }
}

/// Reads the elements of `s:Body` up to its End (or to the end of a sub-slice).
fn read_body_elements<'a>(
    c: &mut Cursor<'a>,
    mut first_offset: Option<&mut Option<usize>>,
    slice: bool,
) -> Result<(Body<'a>, Vec<Body<'a>>), Error> {
    let mut body = None;
    let mut extra = Vec::new();
    loop {
        match c.next()? {
            Ev::Start(s) => {
                if body.is_none() {
                    if let Some(slot) = first_offset.as_deref_mut() {
                        *slot = Some(s.pos);
                    }
                    body = Some(read_body_element(c, s)?);
                } else {
                    extra.push(read_body_element(c, s)?);
                }
            }
            Ev::Text(t) if t.trim().is_empty() => {}
            Ev::Text(_) => {
                return Err(c.err(ErrorKind::NotAnEnvelope("text in s:Body".into()), c.pos()));
            }
            Ev::End => return Ok((body.unwrap_or(Body::Empty), extra)),
            Ev::Eof if slice => return Ok((body.unwrap_or(Body::Empty), extra)),
            Ev::Eof => {
                return Err(c.err(ErrorKind::Syntax("unexpected end of input".into()), c.pos()));
            }
        }
    }
}

/// Reads an envelope from text (see [`crate::decode()`] for bytes).
pub fn parse<'a>(text: &'a str, limits: &Limits) -> Result<Envelope<'a>, Error> {
    match parse_common(text, limits) {
        Some(envelope) => Ok(envelope),
        None => parse_general(text, limits),
    }
}

/// The common request read by [`Cursor::common_header`], or `None` for the general
/// path to decide (this path never reports an error of its own).
fn parse_common<'a>(text: &'a str, limits: &Limits) -> Option<Envelope<'a>> {
    if text.len() > limits.max_bytes {
        return None;
    }
    let mut c = Cursor::new(text, limits);
    let (header, mut meta, body) = c.common_header(read_header)?;
    let (body, extra) = match body {
        // Read to the end of the document already.
        Some(body) => (body, Vec::new()),
        None => {
            let read =
                read_body_elements(&mut c, Some(&mut meta.body_element_offset), false).ok()?;
            close_envelope(&mut c).ok()?;
            read
        }
    };
    Some(Envelope {
        header,
        body,
        extra,
        meta,
    })
}

/// Every envelope, each rule checked and each refusal explained.
fn parse_general<'a>(text: &'a str, limits: &Limits) -> Result<Envelope<'a>, Error> {
    let mut c = Cursor::new(text, limits);
    let (header, mut meta) = read_to_body(&mut c, text, limits)?;
    let (body, extra) = read_body_elements(&mut c, Some(&mut meta.body_element_offset), false)?;
    close_envelope(&mut c)?;
    Ok(Envelope {
        header,
        body,
        extra,
        meta,
    })
}

/// Reads the headers and delimits the body without reading it: the cheap path for a
/// server that routes on Action and ResourceURI before it looks at the body.
pub fn parse_header<'a>(text: &'a str, limits: &Limits) -> Result<HeaderOnly<'a>, Error> {
    let mut c = Cursor::new(text, limits);
    let (header, meta) = read_to_body(&mut c, text, limits)?;
    let bindings = c.bindings().to_vec();
    let elements_before = c.elements();
    // raw_inner needs the tag as written.
    let (prefix, local) = body_tag(text, meta.body_offset);
    let (s, e) = c.raw_inner(prefix, local)?;
    close_envelope(&mut c)?;
    Ok(HeaderOnly {
        header,
        meta,
        body_xml: &text[s..e],
        input: text,
        body_range: (s, e),
        bindings,
        elements_before,
    })
}

/// The prefix and local name of the tag starting at `offset` (`<s:Body ...>`).
fn body_tag(text: &str, offset: usize) -> (&str, &str) {
    let rest = text.get(offset + 1..).unwrap_or("");
    let end = rest
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .unwrap_or(rest.len());
    let qname = &rest[..end];
    qname.split_once(':').unwrap_or(("", qname))
}

fn close_envelope(c: &mut Cursor<'_>) -> Result<(), Error> {
    // After the Body: only whitespace, then the Envelope's End.
    loop {
        match c.next()? {
            Ev::End => break,
            Ev::Text(t) if t.trim().is_empty() => {}
            Ev::Start(s) => {
                let what = if s.name.is(ns::SOAP, "Body") {
                    "two s:Body elements"
                } else {
                    "element after s:Body"
                };
                return Err(c.err(ErrorKind::NotAnEnvelope(what.into()), s.pos));
            }
            _ => {
                return Err(c.err(
                    ErrorKind::NotAnEnvelope("content after s:Body".into()),
                    c.pos(),
                ));
            }
        }
    }
    c.finish()
}

fn read_to_body<'a>(
    c: &mut Cursor<'a>,
    text: &'a str,
    limits: &Limits,
) -> Result<(Header<'a>, Meta), Error> {
    if text.len() > limits.max_bytes {
        return Err(Error::new(
            ErrorKind::TooLarge {
                size: text.len(),
                limit: limits.max_bytes,
            },
            0,
        ));
    }
    let root = loop {
        match c.next()? {
            Ev::Start(s) => break s,
            Ev::Text(t) if t.trim().is_empty() => {}
            Ev::Text(_) => {
                return Err(c.err(ErrorKind::Syntax("text before the root element".into()), 0));
            }
            Ev::End => {
                return Err(c.err(
                    ErrorKind::Syntax("end tag before the root element".into()),
                    0,
                ));
            }
            Ev::Eof => return Err(c.err(ErrorKind::Syntax("empty document".into()), 0)),
        }
    };
    if root.name.local != "Envelope" {
        return Err(c.err(
            ErrorKind::NotAnEnvelope(format!("the root element is {}, not s:Envelope", root.name)),
            root.pos,
        ));
    }
    if root.name.ns != ns::SOAP {
        return Err(c.err(
            ErrorKind::VersionMismatch {
                namespace: root.name.ns.to_string(),
            },
            root.pos,
        ));
    }
    let mut meta = Meta {
        envelope_offset: root.pos,
        ..Meta::default()
    };
    let mut header = Header::default();
    let mut seen_header = false;
    loop {
        let s = match c.next()? {
            Ev::Start(s) => s,
            Ev::Text(t) if t.trim().is_empty() => continue,
            Ev::Text(_) => {
                return Err(c.err(
                    ErrorKind::NotAnEnvelope("text in s:Envelope".into()),
                    c.pos(),
                ));
            }
            Ev::End => return Err(c.err(ErrorKind::NotAnEnvelope("no s:Body".into()), c.pos())),
            Ev::Eof => {
                return Err(c.err(ErrorKind::Syntax("unexpected end of input".into()), c.pos()));
            }
        };
        if s.name.is(ns::SOAP, "Header") && !seen_header {
            seen_header = true;
            read_headers(c, &mut header, &mut meta)?;
        } else if s.name.is(ns::SOAP, "Body") {
            meta.body_offset = s.pos;
            return Ok((header, meta));
        } else if s.name.is(ns::SOAP, "Header") {
            return Err(c.err(
                ErrorKind::NotAnEnvelope("two s:Header elements".into()),
                s.pos,
            ));
        } else {
            return Err(c.err(
                ErrorKind::NotAnEnvelope(format!("unexpected {} in s:Envelope", s.name)),
                s.pos,
            ));
        }
    }
}

fn must_understand(s: &Start<'_>) -> bool {
    crate::addressing::is_true(s.attr(ns::SOAP, "mustUnderstand").map(|v| v.as_ref()))
}

fn read_headers<'a>(c: &mut Cursor<'a>, h: &mut Header<'a>, meta: &mut Meta) -> Result<(), Error> {
    while let Some(s) = c.next_child()? {
        read_header(c, s, h, meta)?;
    }
    Ok(())
}

/// One header element, after its start tag: into `h`, with its place in `meta`.
pub(crate) fn read_header<'a>(
    c: &mut Cursor<'a>,
    s: Start<'a>,
    h: &mut Header<'a>,
    meta: &mut Meta,
) -> Result<(), Error> {
    let mu = must_understand(&s);
    let pos = s.pos;
    let Some(name) = HeaderName::from_name(&s.name) else {
        let element = c.read_tree(s)?;
        h.other.push(OtherHeader {
            must_understand: mu,
            element,
        });
        return Ok(());
    };
    if meta.headers.iter().any(|x| x.0 == name) {
        return Err(c.err(ErrorKind::DuplicateHeader { name: name.qname() }, pos));
    }
    meta.headers.push((name, mu, pos));
    let q = name.qname();
    let invalid = |reason: String| ErrorKind::InvalidHeader { name: q, reason };
    match name {
        HeaderName::To => h.to = Some(trimmed(&c.read_text(q)?)),
        HeaderName::Action => h.action = Some(trimmed(&c.read_text(q)?)),
        HeaderName::MessageId => {
            let id = trimmed(&c.read_text(q)?);
            if id.is_empty() {
                return Err(c.err(invalid("empty".into()), pos));
            }
            c.message_id = Some(id.clone());
            h.message_id = Some(id);
        }
        HeaderName::RelatesTo => h.relates_to = Some(trimmed(&c.read_text(q)?)),
        HeaderName::ResourceUri => h.resource_uri = Some(trimmed(&c.read_text(q)?)),
        HeaderName::ReplyTo | HeaderName::FaultTo | HeaderName::From => {
            let tree = c.read_tree(s)?;
            let epr = Epr::from_element(tree.root(), q).map_err(|_| {
                c.err(
                    invalid("endpoint reference without wsa:Address".into()),
                    pos,
                )
            })?;
            match name {
                HeaderName::ReplyTo => h.reply_to = Some(epr),
                HeaderName::FaultTo => h.fault_to = Some(epr),
                _ => h.from = Some(epr),
            }
        }
        HeaderName::SelectorSet => {
            let tree = c.read_tree(s)?;
            h.selectors = Selector::set_from_element(tree.root()).map_err(|k| c.err(k, pos))?;
        }
        HeaderName::OptionSet => {
            let tree = c.read_tree(s)?;
            h.options = OptionItem::set_from_element(tree.root()).map_err(|k| c.err(k, pos))?;
        }
        HeaderName::MaxEnvelopeSize => {
            let t = c.read_text(q)?;
            let v = t.trim().parse::<u64>().map_err(|_| {
                c.err(
                    invalid(format!("`{}` is not a positive integer", t.trim())),
                    pos,
                )
            })?;
            h.max_envelope_size = Some(v);
        }
        HeaderName::OperationTimeout => {
            let t = c.read_text(q)?;
            let d: XsDuration = t
                .parse()
                .map_err(|e: crate::duration::DurationError| c.err(invalid(e.to_string()), pos))?;
            if d.negative {
                return Err(c.err(invalid("negative timeout".into()), pos));
            }
            h.operation_timeout = Some(d);
        }
        HeaderName::Locale | HeaderName::DataLocale => {
            let lang = s.attr(ns::XML, "lang").map(trimmed);
            c.skip()?;
            let lang = lang.ok_or_else(|| c.err(invalid("no xml:lang attribute".into()), pos))?;
            if name == HeaderName::Locale {
                h.locale = Some(lang);
            } else {
                h.data_locale = Some(lang);
            }
        }
        HeaderName::FragmentTransfer => {
            let dialect = s.attr("", "Dialect").map(trimmed);
            let expression = trimmed(&c.read_text(q)?);
            h.fragment_transfer = Some(FragmentTransfer {
                expression,
                dialect,
            });
        }
        HeaderName::RequestTotalItemsCountEstimate => {
            c.skip()?;
            h.request_total_items_count_estimate = true;
        }
        HeaderName::TotalItemsCountEstimate => {
            let nil = s.attr(ns::XSI, "nil").is_some_and(|v| v.trim() == "true");
            let t = c.read_text(q)?;
            if !nil && !t.trim().is_empty() {
                h.total_items_count_estimate =
                    Some(t.trim().parse().map_err(|_| {
                        c.err(invalid(format!("`{}` is not a count", t.trim())), pos)
                    })?);
            }
        }
        HeaderName::NotUnderstood => {
            let q = s.attr("", "qname").cloned();
            // Resolve while the element's own declarations are still in scope.
            let resolved = match &q {
                Some(Cow::Borrowed(b)) => c.resolve_qname(b),
                Some(Cow::Owned(o)) => c.resolve_qname_owned(o),
                None => None,
            };
            c.skip()?;
            h.not_understood = resolved;
        }
    }
    Ok(())
}

fn read_body_element<'a>(c: &mut Cursor<'a>, s: Start<'a>) -> Result<Body<'a>, Error> {
    let pos = s.pos;
    let name = &s.name;
    if name.is(ns::WSEN, "PullResponse") {
        return read_pull_response(c).map(Body::PullResponse);
    }
    if name.is(ns::WSEN, "EnumerateResponse") {
        return read_enumerate_response(c).map(Body::EnumerateResponse);
    }
    if name.is(ns::SOAP, "Fault") {
        return read_fault(c).map(Body::Fault);
    }
    let tree = c.read_tree(s)?;
    body::from_tree(tree).map_err(|k| c.err(k, pos))
}

fn read_items<'a>(c: &mut Cursor<'a>) -> Result<Vec<Item<'a>>, Error> {
    let mut items = Vec::new();
    let mut size_hint = 32;
    while let Some(s) = c.next_child()? {
        let pos = s.pos;
        if s.name.is(ns::WSA, "EndpointReference") {
            let tree = c.read_tree(s)?;
            items.push(Item::Epr(
                Epr::from_element(tree.root(), "wsen:Items").map_err(|k| c.err(k, pos))?,
            ));
        } else if s.name.is(ns::WSMAN, "Item") {
            let mut object = None;
            let mut epr = None;
            while let Some(inner) = c.next_child()? {
                let ipos = inner.pos;
                if inner.name.is(ns::WSA, "EndpointReference") {
                    let tree = c.read_tree(inner)?;
                    epr = Some(
                        Epr::from_element(tree.root(), "wsman:Item").map_err(|k| c.err(k, ipos))?,
                    );
                } else if object.is_none() {
                    object = Some(c.read_tree(inner)?);
                } else {
                    c.skip()?;
                }
            }
            items.push(match (object, epr) {
                (Some(o), Some(e)) => Item::ObjectAndEpr(o, e),
                (Some(o), None) => Item::Object(o),
                (None, Some(e)) => Item::Epr(e),
                (None, None) => {
                    return Err(c.err(
                        ErrorKind::InvalidBody {
                            element: "wsman:Item",
                            reason: "empty item".into(),
                        },
                        pos,
                    ));
                }
            });
        } else {
            // Items of one enumeration are instances of one class: size each tree like
            // the one before, so that building it does not reallocate.
            let mut b = TreeBuilder::with_capacity(size_hint);
            c.read_into(s, &mut b)?;
            let tree = b.finish();
            size_hint = tree.len().max(8);
            items.push(Item::Object(tree));
        }
    }
    Ok(items)
}

fn read_pull_response<'a>(c: &mut Cursor<'a>) -> Result<PullResponse<'a>, Error> {
    let mut r = PullResponse::default();
    while let Some(s) = c.next_child()? {
        if s.name.ns != ns::WSEN {
            c.skip()?;
            continue;
        }
        match s.name.local.as_ref() {
            "EnumerationContext" => {
                r.context = Some(trimmed(&c.read_text("wsen:EnumerationContext")?))
            }
            "Items" => r.items = read_items(c)?,
            "EndOfSequence" => {
                c.skip()?;
                r.end_of_sequence = true;
            }
            _ => c.skip()?,
        }
    }
    Ok(r)
}

fn read_enumerate_response<'a>(c: &mut Cursor<'a>) -> Result<EnumerateResponse<'a>, Error> {
    let mut r = EnumerateResponse::default();
    while let Some(s) = c.next_child()? {
        let n = &s.name;
        if n.is(ns::WSEN, "EnumerationContext") {
            r.context = Some(trimmed(&c.read_text("wsen:EnumerationContext")?));
        } else if n.is(ns::WSEN, "Expires") {
            r.expires = Some(trimmed(&c.read_text("wsen:Expires")?));
        } else if n.is(ns::WSMAN, "Items") || n.is(ns::WSEN, "Items") {
            r.items = Some(read_items(c)?);
        } else if n.is(ns::WSMAN, "EndOfSequence") || n.is(ns::WSEN, "EndOfSequence") {
            c.skip()?;
            r.end_of_sequence = true;
        } else {
            c.skip()?;
        }
    }
    Ok(r)
}

fn read_fault<'a>(c: &mut Cursor<'a>) -> Result<Fault<'a>, Error> {
    const E: &str = "s:Fault";
    let invalid = |reason: &str| ErrorKind::InvalidBody {
        element: E,
        reason: reason.into(),
    };
    let mut code = None;
    let mut subcode = None;
    let mut reason = None;
    let mut detail = FaultDetail::default();
    let start = c.pos();
    while let Some(s) = c.next_child()? {
        if s.name.ns != ns::SOAP {
            c.skip()?;
            continue;
        }
        match s.name.local.as_ref() {
            "Code" => {
                while let Some(part) = c.next_child()? {
                    if part.name.is(ns::SOAP, "Value") {
                        let v = read_qname(c)?;
                        if v.ns != ns::SOAP {
                            return Err(c.err(
                                invalid("s:Code/s:Value is not a SOAP fault code"),
                                part.pos,
                            ));
                        }
                        code =
                            Some(FaultCode::from_local_name(&v.local).ok_or_else(|| {
                                c.err(invalid("unknown SOAP fault code"), part.pos)
                            })?);
                    } else if part.name.is(ns::SOAP, "Subcode") {
                        // The first Subcode level is the WS-Management subcode; deeper
                        // levels are kept no further.
                        while let Some(sub) = c.next_child()? {
                            if sub.name.is(ns::SOAP, "Value") && subcode.is_none() {
                                subcode = Some(read_qname(c)?);
                            } else {
                                c.skip()?;
                            }
                        }
                    } else {
                        c.skip()?;
                    }
                }
            }
            "Reason" => {
                while let Some(t) = c.next_child()? {
                    if t.name.is(ns::SOAP, "Text") && reason.is_none() {
                        let lang = t
                            .attr(ns::XML, "lang")
                            .cloned()
                            .unwrap_or(Cow::Borrowed(""));
                        reason = Some((trimmed(&c.read_text("s:Text")?), lang));
                    } else {
                        c.skip()?;
                    }
                }
            }
            "Detail" => {
                while let Some(d) = c.next_child()? {
                    if d.name.is(ns::WSMAN, "FaultDetail") && detail.fault_detail.is_none() {
                        detail.fault_detail = Some(trimmed(&c.read_text("wsman:FaultDetail")?));
                    } else if d.name.is(ns::WSMANFAULT, "WSManFault")
                        && detail.wsman_fault.is_none()
                    {
                        let code = d.attr("", "Code").cloned().unwrap_or_default();
                        let machine = d.attr("", "Machine").cloned();
                        let tree = c.read_tree(d)?;
                        let message = tree
                            .root()
                            .child(ns::WSMANFAULT, "Message")
                            .map(|m| flatten_text(m))
                            .unwrap_or_default();
                        detail.wsman_fault = Some(WsmanFault {
                            code,
                            machine,
                            message,
                        });
                    } else {
                        detail.other.push(c.read_tree(d)?);
                    }
                }
            }
            _ => c.skip()?,
        }
    }
    let code = code.ok_or_else(|| c.err(invalid("no s:Code/s:Value"), start))?;
    let (reason, reason_lang) = reason.unwrap_or((Cow::Borrowed(""), Cow::Borrowed("")));
    Ok(Fault {
        code,
        subcode,
        reason,
        reason_lang,
        detail,
    })
}

/// All text under an element, in order (WinRM nests provider faults in `f:Message`).
fn flatten_text<'a>(el: crate::tree::Element<'_, 'a>) -> Cow<'a, str> {
    if !el.has_children() {
        return trimmed(el.text_cow());
    }
    let mut out = String::from(el.text().trim());
    for c in el.children() {
        let t = flatten_text(c);
        if !t.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&t);
        }
    }
    Cow::Owned(out)
}

/// Reads the text of the current element as a QName, resolved in its scope.
fn read_qname<'a>(c: &mut Cursor<'a>) -> Result<Name<'a>, Error> {
    let pos = c.pos();
    let t = c.read_text("s:Value")?;
    let resolved = match &t {
        Cow::Borrowed(b) => c.resolve_qname(b),
        Cow::Owned(o) => c.resolve_qname_owned(o),
    };
    resolved.ok_or_else(|| {
        c.err(
            ErrorKind::UnboundPrefix {
                prefix: t.split(':').next().unwrap_or("").trim().to_owned(),
            },
            pos,
        )
    })
}

#[cfg(test)]
mod common_tests;
