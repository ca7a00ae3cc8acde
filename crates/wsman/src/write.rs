//! Writing envelopes: every typed header and body back to XML, correct escaping, and
//! stable prefixes (`s`, `a`, `w`, `n`, `x`, `e`, `rsp`, `p`, `f`, `b`, `wsmid`; a
//! tree's own prefixes where they do not clash).
//!
//! The writer appends bytes straight to its output: a start tag is resolved (prefixes
//! found or declared) into scratch buffers the writer keeps, so writing an element
//! allocates nothing unless it declares a namespace.

use std::borrow::Cow;

use crate::addressing::{Epr, OptionItem, Selector, SelectorValue};
use crate::body::*;
use crate::envelope::{Envelope, Header};
use crate::fault::{Fault, FaultSpec};
use crate::ns;
use crate::tree::{Attribute, Element, Name, Tree};

const KNOWN: &[(&str, &str)] = &[
    (ns::SOAP, "s"),
    (ns::WSA, "a"),
    (ns::WSMAN, "w"),
    (ns::WSMID, "wsmid"),
    (ns::WXF, "x"),
    (ns::WSEN, "n"),
    (ns::WSE, "e"),
    (ns::WSMB, "b"),
    (ns::RSP, "rsp"),
    (ns::WSMANFAULT, "f"),
    (ns::MSWSMAN, "p"),
    (ns::XSI, "xsi"),
];

/// Where a resolved prefix lives: `xml`, a binding in scope, or a declaration the tag
/// being written adds.
#[derive(Clone, Copy)]
enum Pfx {
    /// No prefix (the name is in no namespace).
    None,
    Xml,
    Bound(usize),
    Decl(usize),
}

/// The attributes of a start tag, from either of the two shapes callers hold.
#[derive(Clone, Copy)]
enum Attrs<'s, 'n> {
    Pairs(&'s [(&'s Name<'n>, &'s str)]),
    Tree(&'s [Attribute<'n>]),
}

impl<'s> Attrs<'s, '_> {
    fn len(&self) -> usize {
        match self {
            Attrs::Pairs(p) => p.len(),
            Attrs::Tree(t) => t.len(),
        }
    }

    fn get(&self, i: usize) -> (&'s Name<'_>, &'s str) {
        match self {
            Attrs::Pairs(p) => (p[i].0, p[i].1),
            Attrs::Tree(t) => (&t[i].name, t[i].value.as_ref()),
        }
    }
}

/// The start of every envelope [`write_envelope`] writes (see
/// [`XmlWriter::envelope_and_header`]).
const ENVELOPE_AND_HEADER: &str = concat!(
    "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"",
    " xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"",
    " xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">",
    "<s:Header>"
);

/// An XML writer that declares namespaces where they are first needed.
pub struct XmlWriter {
    out: Vec<u8>,
    /// (prefix, namespace) in scope, innermost last. The well-known ones borrow the
    /// static names, so binding them (every envelope does) allocates nothing.
    bindings: Vec<Binding>,
    /// `bindings.len()` before each open element's declarations.
    marks: Vec<usize>,
    /// The open elements' tags as written, concatenated; `open` holds where each starts.
    tags: String,
    open: Vec<usize>,
    generated: usize,
    /// Scratch for the tag being written: its new declarations and attribute prefixes.
    decls: Vec<Binding>,
    attr_pfx: Vec<Pfx>,
    /// Bumped whenever `bindings` changes, to invalidate `last`.
    generation: u32,
    /// The last namespace found bound (siblings and children mostly share it): its
    /// binding and the generation it was found in.
    last: Option<(usize, u32)>,
}

/// The bookkeeping vectors of a writer, kept for the next writer on the same thread
/// when one is dropped: every answer, item and fault is written by a new writer, and
/// allocating these six anew each time was six allocations per answer.
struct Scratch {
    bindings: Vec<Binding>,
    marks: Vec<usize>,
    tags: String,
    open: Vec<usize>,
    decls: Vec<Binding>,
    attr_pfx: Vec<Pfx>,
}

thread_local! {
    static SCRATCH: std::cell::Cell<Option<Scratch>> = const { std::cell::Cell::new(None) };
}

/// Larger vectors than this (a deeply nested document, an element with many
/// attributes) are not kept.
const SCRATCH_KEPT: usize = 64;

impl Scratch {
    /// The kept vectors, empty, or new ones with room for an envelope's usual depth
    /// (a writer made while another is alive on this thread gets new ones).
    fn take() -> Scratch {
        SCRATCH
            .try_with(std::cell::Cell::take)
            .ok()
            .flatten()
            .unwrap_or_else(|| Scratch {
                bindings: Vec::with_capacity(8),
                marks: Vec::with_capacity(16),
                tags: String::with_capacity(128),
                open: Vec::with_capacity(16),
                decls: Vec::with_capacity(4),
                attr_pfx: Vec::with_capacity(4),
            })
    }

    /// Keeps `self`, emptied, for the next writer on this thread.
    fn keep(mut self) {
        if self.bindings.capacity() > SCRATCH_KEPT
            || self.marks.capacity() > SCRATCH_KEPT
            || self.open.capacity() > SCRATCH_KEPT
            // Only ever wide together with `bindings` or `attr_pfx`: a guard.
            || self.decls.capacity() > SCRATCH_KEPT
            || self.attr_pfx.capacity() > SCRATCH_KEPT
            || self.tags.capacity() > SCRATCH_KEPT * 32
        {
            return;
        }
        self.bindings.clear();
        self.marks.clear();
        self.tags.clear();
        self.open.clear();
        self.decls.clear();
        self.attr_pfx.clear();
        // During thread teardown the slot may be gone: then the vectors are freed.
        let _ = SCRATCH.try_with(|slot| slot.set(Some(self)));
    }
}

impl Drop for XmlWriter {
    fn drop(&mut self) {
        Scratch {
            bindings: std::mem::take(&mut self.bindings),
            marks: std::mem::take(&mut self.marks),
            tags: std::mem::take(&mut self.tags),
            open: std::mem::take(&mut self.open),
            decls: std::mem::take(&mut self.decls),
            attr_pfx: std::mem::take(&mut self.attr_pfx),
        }
        .keep();
    }
}

/// A (prefix, namespace) pair in scope or being declared.
type Binding = (Cow<'static, str>, Cow<'static, str>);

/// `text` borrowed when it is one of the `statics` (the well-known prefixes or
/// namespaces), else copied.
fn known_or_owned(
    text: &str,
    statics: impl IntoIterator<Item = &'static str>,
) -> Cow<'static, str> {
    statics
        .into_iter()
        .find(|s| *s == text)
        .map_or_else(|| Cow::Owned(text.to_owned()), Cow::Borrowed)
}

impl Default for XmlWriter {
    fn default() -> Self {
        XmlWriter::new(Vec::with_capacity(2048))
    }
}

impl XmlWriter {
    /// A writer appending to `out`.
    pub fn new(out: Vec<u8>) -> XmlWriter {
        let Scratch {
            bindings,
            marks,
            tags,
            open,
            decls,
            attr_pfx,
        } = Scratch::take();
        XmlWriter {
            out,
            bindings,
            marks,
            tags,
            open,
            generated: 0,
            decls,
            attr_pfx,
            generation: 0,
            last: None,
        }
    }

    /// A writer for an enumeration item written apart from its answer (see
    /// [`Item::Xml`]): the prefixes bound where [`write_envelope`] writes items (`s`,
    /// `a`, `w` on the envelope, `n` on the enumerate or pull response) are taken as
    /// bound, so the item comes out byte for byte as it would inside the answer.
    pub fn item_fragment() -> XmlWriter {
        XmlWriter::in_scope(&[
            (ns::SOAP, "s"),
            (ns::WSA, "a"),
            (ns::WSMAN, "w"),
            (ns::WSEN, "n"),
        ])
    }

    /// A writer for a body's content written apart from its answer (see
    /// [`Body::Xml`]): the prefixes [`write_envelope`] binds on the envelope (`s`, `a`,
    /// `w`) are taken as bound, so the content comes out as it would in place.
    pub fn body_fragment() -> XmlWriter {
        XmlWriter::in_scope(&[(ns::SOAP, "s"), (ns::WSA, "a"), (ns::WSMAN, "w")])
    }

    fn in_scope(bound: &[(&str, &str)]) -> XmlWriter {
        // A CIM instance is a few kilobytes: start there rather than double up to it.
        let mut w = XmlWriter::new(Vec::with_capacity(4096));
        for (ns, prefix) in bound {
            w.bindings.push((
                known_or_owned(prefix, KNOWN.iter().map(|k| k.1)),
                known_or_owned(ns, KNOWN.iter().map(|k| k.0)),
            ));
        }
        w.generation = 1;
        w
    }

    /// Opens `<s:Envelope>` binding `s`, `a` and `w`, then `<s:Header>`, on an empty
    /// writer: byte for byte what `start_with(Envelope, &[], &[(WSA, "a"), (WSMAN,
    /// "w")])` and `start(Header)` write there (a test holds the two together), without
    /// resolving a prefix. Every answer starts this way.
    fn envelope_and_header(&mut self) {
        debug_assert!(self.open.is_empty() && self.bindings.is_empty());
        self.out.extend_from_slice(ENVELOPE_AND_HEADER.as_bytes());
        self.open.push(0);
        self.tags.push_str("s:Envelope");
        self.marks.push(0);
        for (p, n) in [("s", ns::SOAP), ("a", ns::WSA), ("w", ns::WSMAN)] {
            self.bindings.push((Cow::Borrowed(p), Cow::Borrowed(n)));
        }
        self.generation = self.generation.wrapping_add(1);
        self.open.push(self.tags.len());
        self.tags.push_str("s:Header");
        self.marks.push(self.bindings.len());
    }

    /// Opens `<qname>` whose prefix is bound right here (checked in debug builds), as
    /// [`XmlWriter::start`] would with no attributes, without resolving it.
    fn bound_start(&mut self, ns: &str, qname: &str) {
        debug_assert!(
            qname
                .split_once(':')
                .is_some_and(|(p, _)| self.binds(p, ns)),
            "{qname} is not bound here"
        );
        self.out.push(b'<');
        self.out.extend_from_slice(qname.as_bytes());
        self.out.push(b'>');
        self.open.push(self.tags.len());
        self.tags.push_str(qname);
        self.marks.push(self.bindings.len());
    }

    /// Whether `prefix` is bound to `ns` right here.
    fn binds(&self, prefix: &str, ns: &str) -> bool {
        self.bound(prefix) == Some(ns)
    }

    /// A leaf `<qname>text</qname>` (with `s:mustUnderstand="true"` when `mu`) whose
    /// prefix is bound as the envelope binds it: what [`XmlWriter::leaf`] writes for
    /// that name, without resolving its prefix. Only for names in `s`, `a` or `w`
    /// inside the envelope's header (checked in debug builds).
    fn bound_leaf(&mut self, ns: &str, qname: &str, mu: bool, text: &str) {
        debug_assert!(
            qname
                .split_once(':')
                .is_some_and(|(p, _)| self.binds(p, ns))
                && (!mu || self.binds("s", ns::SOAP)),
            "{qname} is not bound here"
        );
        self.out.push(b'<');
        self.out.extend_from_slice(qname.as_bytes());
        if mu {
            self.out.extend_from_slice(b" s:mustUnderstand=\"true\"");
        }
        if text.is_empty() {
            self.out.extend_from_slice(b"/>");
            return;
        }
        self.out.push(b'>');
        write_escaped(&mut self.out, text, false);
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(qname.as_bytes());
        self.out.push(b'>');
    }

    /// Copies already written XML (an [`Item::Xml`]) into the output as it is.
    pub fn raw(&mut self, xml: &str) {
        self.out.extend_from_slice(xml.as_bytes());
    }

    /// The bytes written.
    pub fn into_inner(mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    fn bound(&self, prefix: &str) -> Option<&str> {
        self.bindings
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, n)| n.as_ref())
    }

    fn pfx_str(&self, p: Pfx) -> &str {
        match p {
            Pfx::None => "",
            Pfx::Xml => "xml",
            Pfx::Bound(i) => &self.bindings[i].0,
            Pfx::Decl(i) => &self.decls[i].0,
        }
    }

    /// The prefix to use for `ns`, declaring it (into `self.decls`) if it is not in
    /// scope.
    fn prefix_for(&mut self, ns: &str, hint: &str) -> Pfx {
        if ns.is_empty() {
            return Pfx::None;
        }
        if let Some((i, generation)) = self.last {
            // Only while nothing is being declared: a declaration could shadow it.
            if generation == self.generation && self.decls.is_empty() && self.bindings[i].1 == ns {
                return Pfx::Bound(i);
            }
        }
        if ns == crate::ns::XML {
            return Pfx::Xml;
        }
        let usable = |me: &Self, p: &str| {
            me.bound(p).is_none_or(|b| b == ns)
                && !me.decls.iter().any(|(dp, dn)| dp == p && dn != ns)
        };
        for i in (0..self.bindings.len()).rev() {
            let (p, n) = &self.bindings[i];
            if n == ns && usable(self, p) {
                if self.decls.is_empty() {
                    self.last = Some((i, self.generation));
                }
                return Pfx::Bound(i);
            }
        }
        for i in (0..self.decls.len()).rev() {
            let (p, n) = &self.decls[i];
            if n == ns && usable(self, p) {
                return Pfx::Decl(i);
            }
        }
        let free = |me: &Self, p: &str| {
            !p.is_empty()
                && p != "xml"
                && p != "xmlns"
                && me.bound(p).is_none()
                && !me.decls.iter().any(|(dp, _)| dp == p)
        };
        let known = KNOWN.iter().find(|(n, _)| *n == ns);
        let prefix = match known {
            Some((_, p)) if free(self, p) => Cow::Borrowed(*p),
            _ if free(self, hint) && !hint.starts_with("xml") => Cow::Owned(hint.to_owned()),
            _ => loop {
                let p = format!("ns{}", self.generated);
                self.generated += 1;
                if free(self, &p) {
                    break Cow::Owned(p);
                }
            },
        };
        let ns = match known {
            Some((n, _)) => Cow::Borrowed(*n),
            None => Cow::Owned(ns.to_owned()),
        };
        self.decls.push((prefix, ns));
        Pfx::Decl(self.decls.len() - 1)
    }

    /// Resolves a start tag's prefixes (the element's, then `extra`, then the
    /// attributes', as declarations are made in that order) into `decls`/`attr_pfx`.
    fn resolve(&mut self, name: &Name<'_>, attrs: Attrs<'_, '_>, extra: &[(&str, &str)]) -> Pfx {
        debug_assert!(self.decls.is_empty());
        let tag = self.prefix_for(&name.ns, &name.prefix);
        for (ns, hint) in extra {
            self.prefix_for(ns, hint);
        }
        self.attr_pfx.clear();
        for i in 0..attrs.len() {
            let (n, _) = attrs.get(i);
            let p = self.prefix_for(&n.ns, &n.prefix);
            self.attr_pfx.push(p);
        }
        tag
    }

    fn push_qname(out: &mut Vec<u8>, prefix: &str, local: &str) {
        if !prefix.is_empty() {
            out.extend_from_slice(prefix.as_bytes());
            out.push(b':');
        }
        out.extend_from_slice(local.as_bytes());
    }

    /// Writes `<tag decls attrs` (no closing `>`) for a resolved start tag.
    fn write_start(&mut self, tag: Pfx, local: &str, attrs: Attrs<'_, '_>) {
        let mut out = std::mem::take(&mut self.out);
        out.push(b'<');
        Self::push_qname(&mut out, self.pfx_str(tag), local);
        for (p, n) in &self.decls {
            out.extend_from_slice(b" xmlns:");
            out.extend_from_slice(p.as_bytes());
            out.extend_from_slice(b"=\"");
            out.extend_from_slice(quick_xml::escape::escape(n.as_ref()).as_bytes());
            out.push(b'"');
        }
        for i in 0..attrs.len() {
            let (n, v) = attrs.get(i);
            out.push(b' ');
            Self::push_qname(&mut out, self.pfx_str(self.attr_pfx[i]), &n.local);
            out.extend_from_slice(b"=\"");
            write_escaped(&mut out, v, true);
            out.push(b'"');
        }
        self.out = out;
    }

    fn open_element(
        &mut self,
        name: &Name<'_>,
        attrs: Attrs<'_, '_>,
        extra: &[(&str, &str)],
        empty: bool,
    ) {
        let tag = self.resolve(name, attrs, extra);
        self.write_start(tag, &name.local, attrs);
        if empty {
            self.out.extend_from_slice(b"/>");
            self.decls.clear();
            return;
        }
        self.out.push(b'>');
        let at = self.tags.len();
        self.open.push(at);
        let prefix = match tag {
            Pfx::None => "",
            Pfx::Xml => "xml",
            Pfx::Bound(i) => &self.bindings[i].0,
            Pfx::Decl(i) => &self.decls[i].0,
        };
        if !prefix.is_empty() {
            self.tags.push_str(prefix);
            self.tags.push(':');
        }
        self.tags.push_str(&name.local);
        self.marks.push(self.bindings.len());
        if !self.decls.is_empty() {
            self.bindings.append(&mut self.decls);
            self.generation = self.generation.wrapping_add(1);
        }
    }

    /// Opens an element. `attrs` are (name, value); values are escaped.
    pub fn start(&mut self, name: &Name<'_>, attrs: &[(&Name<'_>, &str)]) {
        self.open_element(name, Attrs::Pairs(attrs), &[], false);
    }

    /// Opens an element and also makes sure the namespaces in `extra` are declared
    /// (for QName-valued text such as a fault subcode).
    pub fn start_with(
        &mut self,
        name: &Name<'_>,
        attrs: &[(&Name<'_>, &str)],
        extra: &[(&str, &str)],
    ) {
        self.open_element(name, Attrs::Pairs(attrs), extra, false);
    }

    /// An empty element with one unprefixed attribute whose value is the QName `q`
    /// (`<s:NotUnderstood qname="x:Frobnicate" xmlns:x="..."/>`).
    pub fn qname_attr_leaf(&mut self, name: &Name<'_>, attr: &str, q: &Name<'_>) {
        let hint: &str = if q.prefix.is_empty() { "q" } else { &q.prefix };
        let extra: &[(&str, &str)] = if q.ns.is_empty() {
            &[]
        } else {
            &[(&q.ns, hint)]
        };
        let tag = self.resolve(name, Attrs::Pairs(&[]), extra);
        let prefix = self
            .decls
            .iter()
            .rev()
            .find(|(_, n)| *n == q.ns)
            .map(|(p, _)| p.to_string())
            .or_else(|| {
                if q.ns.is_empty() {
                    None
                } else {
                    self.prefix_of(&q.ns).map(str::to_owned)
                }
            })
            .unwrap_or_default();
        let value = if prefix.is_empty() {
            q.local.to_string()
        } else {
            format!("{prefix}:{}", q.local)
        };
        self.write_start(tag, &name.local, Attrs::Pairs(&[]));
        self.out.push(b' ');
        self.out.extend_from_slice(attr.as_bytes());
        self.out.extend_from_slice(b"=\"");
        write_escaped(&mut self.out, &value, true);
        self.out.extend_from_slice(b"\"/>");
        self.decls.clear();
    }

    /// The prefix currently bound to `ns` (after `start_with` declared it).
    pub fn prefix_of(&self, ns: &str) -> Option<&str> {
        self.bindings
            .iter()
            .rev()
            .find(|(p, n)| n == ns && self.bound(p) == Some(ns))
            .map(|(p, _)| p.as_ref())
    }

    /// Writes escaped text. CR is written as a reference: a conforming reader would
    /// otherwise turn CRLF into LF.
    pub fn text(&mut self, text: &str) {
        write_escaped(&mut self.out, text, false);
    }

    /// Closes the innermost element.
    pub fn end(&mut self) {
        if let Some(at) = self.open.pop() {
            self.out.extend_from_slice(b"</");
            self.out.extend_from_slice(&self.tags.as_bytes()[at..]);
            self.out.push(b'>');
            self.tags.truncate(at);
        }
        if let Some(m) = self.marks.pop() {
            if m != self.bindings.len() {
                self.bindings.truncate(m);
                self.generation = self.generation.wrapping_add(1);
            }
        }
    }

    /// An element with only text (or `<x/>` when the text is empty).
    pub fn leaf(&mut self, name: &Name<'_>, attrs: &[(&Name<'_>, &str)], text: &str) {
        self.leaf_with(name, Attrs::Pairs(attrs), text);
    }

    fn leaf_with(&mut self, name: &Name<'_>, attrs: Attrs<'_, '_>, text: &str) {
        if text.is_empty() {
            self.open_element(name, attrs, &[], true);
        } else {
            self.open_element(name, attrs, &[], false);
            self.text(text);
            self.end();
        }
    }

    /// A leaf without attributes in the namespace of the innermost open element, with
    /// its prefix: what [`XmlWriter::leaf`] writes for such a name, without resolving
    /// anything (the way [`XmlWriter::tree`] writes a parent's plain children). Only
    /// call it inside an element whose namespace the leaf shares.
    pub fn leaf_in_parent_namespace(&mut self, local: &str, text: &str) {
        let prefix = &self.tags.as_bytes()[self.parent_prefix()];
        write_prefixed_leaf(&mut self.out, prefix, local, text);
    }

    /// Where the innermost open element's prefix and colon (if any) are in `tags`.
    fn parent_prefix(&self) -> std::ops::Range<usize> {
        let at = self.open.last().copied().unwrap_or(0);
        let tag = &self.tags.as_bytes()[at..];
        at..at + tag.iter().position(|&b| b == b':').map_or(0, |i| i + 1)
    }

    /// `<p:local xmlns:xsi="..." xsi:nil="true"/>` in the namespace of the innermost
    /// open element: what [`XmlWriter::leaf`] writes for a nil child `name` (which must
    /// be in that namespace), without resolving anything when neither the `xsi` prefix
    /// nor the XSI namespace is in scope (the usual case inside an instance).
    pub fn nil_leaf_in_parent_namespace(&mut self, name: &Name<'_>) {
        if self
            .bindings
            .iter()
            .any(|(p, n)| p == "xsi" || n == ns::XSI)
        {
            let nil = Name::new(ns::XSI, "nil");
            self.leaf(name, &[(&nil, "true")], "");
            return;
        }
        let prefix = &self.tags.as_bytes()[self.parent_prefix()];
        let out = &mut self.out;
        out.push(b'<');
        out.extend_from_slice(prefix);
        out.extend_from_slice(name.local.as_bytes());
        out.extend_from_slice(b" xmlns:xsi=\"");
        out.extend_from_slice(ns::XSI.as_bytes());
        out.extend_from_slice(b"\" xsi:nil=\"true\"/>");
    }

    /// Writes an element tree.
    pub fn tree(&mut self, el: Element<'_, '_>) {
        let attrs = Attrs::Tree(el.attributes());
        if !el.has_children() {
            self.leaf_with(el.name(), attrs, el.text());
            return;
        }
        let name = el.name();
        self.open_element(name, attrs, &[], false);
        self.text(el.text());
        // The open tag just written is `prefix:local` (or `local`) at the end of `tags`.
        let at = self.open.last().copied().unwrap_or(0);
        let prefix_end = self.tags.len() - name.local.len();
        for c in el.children() {
            let cn = c.name();
            // A leaf without attributes in its parent's namespace (the same string: the
            // tree cannot change while it is borrowed here) gets its parent's prefix,
            // as the general path would find: write it without resolving anything.
            if !c.has_children()
                && c.attributes().is_empty()
                && std::ptr::eq(cn.ns.as_ref(), name.ns.as_ref())
            {
                let prefix = &self.tags.as_bytes()[at..prefix_end];
                write_prefixed_leaf(&mut self.out, prefix, &cn.local, c.text());
                continue;
            }
            self.tree(c);
        }
        self.end();
    }
}

/// `<{prefix}{local}>text</{prefix}{local}>`, or `<{prefix}{local}/>` without text;
/// `prefix` is empty or ends with its colon.
fn write_prefixed_leaf(out: &mut Vec<u8>, prefix: &[u8], local: &str, text: &str) {
    out.push(b'<');
    out.extend_from_slice(prefix);
    out.extend_from_slice(local.as_bytes());
    if text.is_empty() {
        out.extend_from_slice(b"/>");
    } else {
        out.push(b'>');
        write_escaped(out, text, false);
        out.extend_from_slice(b"</");
        out.extend_from_slice(prefix);
        out.extend_from_slice(local.as_bytes());
        out.push(b'>');
    }
}

/// Appends `s` with XML escaping that survives any conforming reader: markup
/// characters always, CR in text, and TAB, LF, CR in attribute values (which readers
/// normalise to spaces). Every special character is ASCII, so runs between them are
/// copied as bytes.
fn write_escaped(out: &mut Vec<u8>, s: &str, attribute: bool) {
    let bytes = s.as_bytes();
    let special = |b: u8| {
        (b == b'<')
            | (b == b'>')
            | (b == b'&')
            | (b == b'"')
            | (b == b'\'')
            | (b == b'\r')
            | (attribute & ((b == b'\t') | (b == b'\n')))
    };
    // Clean 16-byte blocks are skipped with a branch-free test the compiler turns
    // into vector compares: most text (URIs, identifiers, base64) has nothing to
    // escape, and the byte loop below costs several instructions a byte.
    let mut clean = 0;
    for block in bytes.chunks_exact(16) {
        if block.iter().fold(false, |acc, &b| acc | special(b)) {
            break;
        }
        clean += 16;
    }
    out.extend_from_slice(&bytes[..clean]);
    let bytes = &bytes[clean..];
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let rep: &[u8] = match b {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'"' => b"&quot;",
            b'\'' => b"&apos;",
            b'\r' => b"&#13;",
            b'\t' if attribute => b"&#9;",
            b'\n' if attribute => b"&#10;",
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        out.extend_from_slice(rep);
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
}

fn n<'a>(ns: &'a str, local: &'a str) -> Name<'a> {
    Name::new(ns, local)
}

fn mu_attr() -> Name<'static> {
    Name::new(ns::SOAP, "mustUnderstand")
}

/// Writes `env` as XML.
pub fn write_envelope(env: &Envelope<'_>, out: Vec<u8>) -> Vec<u8> {
    let mut w = XmlWriter::new(out);
    w.envelope_and_header();
    write_header(&mut w, &env.header);
    w.end();
    w.bound_start(ns::SOAP, "s:Body");
    write_body(&mut w, &env.body);
    for b in &env.extra {
        write_body(&mut w, b);
    }
    w.end();
    w.end();
    w.into_inner()
}

impl Envelope<'_> {
    /// The envelope as an XML string.
    pub fn to_xml(&self) -> String {
        String::from_utf8(self.to_xml_bytes()).unwrap_or_default()
    }

    /// The envelope as UTF-8 bytes, for a caller that sends them: the same text as
    /// [`Envelope::to_xml`] without checking again, byte by byte, that what the
    /// writer made of `&str` pieces is UTF-8 (debug builds still check).
    pub fn to_xml_bytes(&self) -> Vec<u8> {
        // Room for what is already written (items, a written body) up front, so that
        // a large answer is not copied each time the buffer doubles.
        let written: usize = match &self.body {
            Body::Xml(x) => x.len(),
            Body::EnumerateResponse(r) => r.items.as_deref().map_or(0, written_len),
            Body::PullResponse(r) => written_len(&r.items),
            _ => 0,
        };
        let bytes = write_envelope(self, Vec::with_capacity(2048 + written));
        debug_assert!(
            std::str::from_utf8(&bytes).is_ok(),
            "the writer wrote UTF-8"
        );
        bytes
    }
}

/// The length of the items already written as XML.
fn written_len(items: &[Item<'_>]) -> usize {
    items
        .iter()
        .map(|i| match i {
            Item::Xml(x) => x.len(),
            _ => 0,
        })
        .sum()
}

/// The header's fields inside the envelope [`XmlWriter::envelope_and_header`] opened:
/// the fixed ones as [`XmlWriter::bound_leaf`]s (`s`, `a` and `w` are bound there), the
/// rest through the general writer.
fn write_header(w: &mut XmlWriter, h: &Header<'_>) {
    let mu = mu_attr();
    let t: &[(&Name<'_>, &str)] = &[(&mu, "true")];
    if let Some(v) = &h.to {
        w.bound_leaf(ns::WSA, "a:To", false, v);
    }
    if let Some(v) = &h.resource_uri {
        w.bound_leaf(ns::WSMAN, "w:ResourceURI", true, v);
    }
    if let Some(e) = &h.reply_to {
        write_epr(w, &n(ns::WSA, "ReplyTo"), e);
    }
    if let Some(e) = &h.fault_to {
        write_epr(w, &n(ns::WSA, "FaultTo"), e);
    }
    if let Some(e) = &h.from {
        write_epr(w, &n(ns::WSA, "From"), e);
    }
    if let Some(v) = &h.action {
        w.bound_leaf(ns::WSA, "a:Action", true, v);
    }
    if let Some(v) = h.max_envelope_size {
        w.bound_leaf(ns::WSMAN, "w:MaxEnvelopeSize", true, &v.to_string());
    }
    if let Some(v) = &h.message_id {
        w.bound_leaf(ns::WSA, "a:MessageID", false, v);
    }
    if let Some(v) = &h.relates_to {
        w.bound_leaf(ns::WSA, "a:RelatesTo", false, v);
    }
    let lang = Name::new(ns::XML, "lang");
    if let Some(v) = &h.locale {
        w.leaf(&n(ns::WSMAN, "Locale"), &[(&lang, v), (&mu, "false")], "");
    }
    if let Some(v) = &h.data_locale {
        w.leaf(
            &n(ns::MSWSMAN, "DataLocale"),
            &[(&lang, v), (&mu, "false")],
            "",
        );
    }
    if !h.selectors.is_empty() {
        write_selectors(w, &h.selectors);
    }
    if !h.options.is_empty() {
        write_options(w, &h.options);
    }
    if let Some(v) = &h.operation_timeout {
        w.bound_leaf(ns::WSMAN, "w:OperationTimeout", false, &v.to_string());
    }
    if let Some(f) = &h.fragment_transfer {
        let d = Name::new("", "Dialect");
        match &f.dialect {
            Some(dialect) => w.leaf(
                &n(ns::WSMAN, "FragmentTransfer"),
                &[(&mu, "true"), (&d, dialect)],
                &f.expression,
            ),
            None => w.leaf(&n(ns::WSMAN, "FragmentTransfer"), t, &f.expression),
        }
    }
    if h.request_total_items_count_estimate {
        w.bound_leaf(ns::WSMAN, "w:RequestTotalItemsCountEstimate", false, "");
    }
    if let Some(v) = h.total_items_count_estimate {
        w.bound_leaf(
            ns::WSMAN,
            "w:TotalItemsCountEstimate",
            false,
            &v.to_string(),
        );
    }
    if let Some(q) = &h.not_understood {
        w.qname_attr_leaf(&n(ns::SOAP, "NotUnderstood"), "qname", q);
    }
    for o in &h.other {
        let root = o.element.root();
        if o.must_understand && root.attr(ns::SOAP, "mustUnderstand").is_none() {
            // The flag is part of the header's meaning; write it even when the tree a
            // caller built does not carry the attribute.
            let mut b = crate::tree::TreeBuilder::with_capacity(o.element.len());
            b.start(root.name().clone());
            b.attr(mu_attr(), "true");
            for a in root.attributes() {
                b.attr(a.name.clone(), a.value.clone());
            }
            if !root.text().is_empty() {
                b.text(root.text_cow().clone());
            }
            for c in root.children() {
                c.copy_into(&mut b);
            }
            b.end();
            w.tree(b.finish().root());
        } else {
            w.tree(root);
        }
    }
}

fn write_epr(w: &mut XmlWriter, name: &Name<'_>, e: &Epr<'_>) {
    w.start(name, &[]);
    write_epr_content(w, e);
    w.end();
}

fn write_epr_content(w: &mut XmlWriter, e: &Epr<'_>) {
    w.leaf(&n(ns::WSA, "Address"), &[], &e.address);
    if e.resource_uri.is_some() || !e.selectors.is_empty() || !e.other_parameters.is_empty() {
        w.start(&n(ns::WSA, "ReferenceParameters"), &[]);
        if let Some(r) = &e.resource_uri {
            w.leaf(&n(ns::WSMAN, "ResourceURI"), &[], r);
        }
        if !e.selectors.is_empty() {
            write_selectors(w, &e.selectors);
        }
        for p in &e.other_parameters {
            w.tree(p.root());
        }
        w.end();
    }
}

fn write_selectors(w: &mut XmlWriter, selectors: &[Selector<'_>]) {
    let name = Name::new("", "Name");
    w.start(&n(ns::WSMAN, "SelectorSet"), &[]);
    for s in selectors {
        match &s.value {
            SelectorValue::Text(t) => w.leaf(&n(ns::WSMAN, "Selector"), &[(&name, &s.name)], t),
            SelectorValue::Epr(e) => {
                w.start(&n(ns::WSMAN, "Selector"), &[(&name, &s.name)]);
                write_epr(w, &n(ns::WSA, "EndpointReference"), e);
                w.end();
            }
        }
    }
    w.end();
}

fn write_options(w: &mut XmlWriter, options: &[OptionItem<'_>]) {
    let name = Name::new("", "Name");
    let ty = Name::new("", "Type");
    let mc = Name::new("", "MustComply");
    w.start(&n(ns::WSMAN, "OptionSet"), &[]);
    for o in options {
        let mut attrs: Vec<(&Name<'_>, &str)> = vec![(&name, &o.name)];
        if o.must_comply {
            attrs.push((&mc, "true"));
        }
        if let Some(t) = &o.type_ {
            attrs.push((&ty, t));
        }
        w.leaf(&n(ns::WSMAN, "Option"), &attrs, &o.value);
    }
    w.end();
}

fn write_filter(w: &mut XmlWriter, f: &Filter<'_>) {
    let d = Name::new("", "Dialect");
    let mut attrs: Vec<(&Name<'_>, &str)> = Vec::new();
    if let Some(dialect) = &f.dialect {
        attrs.push((&d, dialect));
    }
    let fname = n(ns::WSMAN, "Filter");
    match &f.content {
        FilterContent::Text(t) => w.leaf(&fname, &attrs, t),
        FilterContent::Selectors(s) => {
            w.start(&fname, &attrs);
            write_selectors(w, s);
            w.end();
        }
        FilterContent::Association(a) => {
            w.start(&fname, &attrs);
            let inner = if a.association_instances {
                "AssociationInstances"
            } else {
                "AssociatedInstances"
            };
            w.start(&n(ns::WSMB, inner), &[]);
            write_epr(w, &n(ns::WSMB, "Object"), &a.object);
            let opt = |w: &mut XmlWriter, local: &str, v: &Option<Cow<'_, str>>| {
                if let Some(v) = v {
                    w.leaf(&n(ns::WSMB, local), &[], v);
                }
            };
            opt(w, "AssociationClassName", &a.association_class_name);
            opt(w, "Role", &a.role);
            opt(w, "ResultClassName", &a.result_class_name);
            opt(w, "ResultRole", &a.result_role);
            for p in &a.include_result_property {
                w.leaf(&n(ns::WSMB, "IncludeResultProperty"), &[], p);
            }
            w.end();
            w.end();
        }
        FilterContent::Xml(trees) => {
            w.start(&fname, &attrs);
            for t in trees {
                w.tree(t.root());
            }
            w.end();
        }
    }
}

fn write_items(w: &mut XmlWriter, name: &Name<'_>, items: &[Item<'_>]) {
    w.start(name, &[]);
    for i in items {
        write_item(w, i);
    }
    w.end();
}

/// Writes one enumeration item as [`XmlWriter::item_fragment`] expects: the object, its
/// EPR, or `wsman:Item` with both.
pub fn write_item(w: &mut XmlWriter, item: &Item<'_>) {
    match item {
        Item::Object(t) => w.tree(t.root()),
        Item::Epr(e) => write_epr(w, &n(ns::WSA, "EndpointReference"), e),
        Item::ObjectAndEpr(t, e) => {
            w.start(&n(ns::WSMAN, "Item"), &[]);
            w.tree(t.root());
            write_epr(w, &n(ns::WSA, "EndpointReference"), e);
            w.end();
        }
        Item::Xml(x) => w.raw(x),
    }
}

/// Writes an endpoint reference as the element `name` (`wsa:EndpointReference` for an
/// enumeration item).
pub fn write_endpoint_reference(w: &mut XmlWriter, name: &Name<'_>, e: &Epr<'_>) {
    write_epr(w, name, e);
}

fn opt_leaf(w: &mut XmlWriter, name: Name<'_>, v: &Option<Cow<'_, str>>) {
    if let Some(v) = v {
        w.leaf(&name, &[], v);
    }
}

fn write_stream(w: &mut XmlWriter, s: &Stream<'_>) {
    let name = Name::new("", "Name");
    let cid = Name::new("", "CommandId");
    let end = Name::new("", "End");
    let mut attrs: Vec<(&Name<'_>, &str)> = vec![(&name, &s.name)];
    if let Some(c) = &s.command_id {
        attrs.push((&cid, c));
    }
    if s.end {
        attrs.push((&end, "true"));
    }
    w.leaf(&n(ns::RSP, "Stream"), &attrs, &s.data);
}

/// Writes a body's content (the children of `s:Body`).
pub fn write_body(w: &mut XmlWriter, body: &Body<'_>) {
    match body {
        Body::Empty => {}
        Body::Identify => w.leaf(&n(ns::WSMID, "Identify"), &[], ""),
        Body::IdentifyResponse(r) => {
            w.start(&n(ns::WSMID, "IdentifyResponse"), &[]);
            for v in &r.protocol_versions {
                w.leaf(&n(ns::WSMID, "ProtocolVersion"), &[], v);
            }
            opt_leaf(w, n(ns::WSMID, "ProductVendor"), &r.product_vendor);
            opt_leaf(w, n(ns::WSMID, "ProductVersion"), &r.product_version);
            if let Some(p) = &r.security_profiles {
                w.start(&n(ns::WSMID, "SecurityProfiles"), &[]);
                for v in p {
                    w.leaf(&n(ns::WSMID, "SecurityProfileName"), &[], v);
                }
                w.end();
            }
            for o in &r.other {
                w.tree(o.root());
            }
            w.end();
        }
        Body::Instance(t) | Body::Fragment(t) => w.tree(t.root()),
        Body::Xml(x) => w.raw(x),
        Body::ResourceCreated(e) => write_epr(w, &n(ns::WXF, "ResourceCreated"), e),
        Body::Enumerate(e) => {
            w.start(&n(ns::WSEN, "Enumerate"), &[]);
            opt_leaf(w, n(ns::WSEN, "Expires"), &e.expires);
            if e.optimize {
                w.leaf(&n(ns::WSMAN, "OptimizeEnumeration"), &[], "");
            }
            if let Some(m) = e.max_elements {
                w.leaf(&n(ns::WSMAN, "MaxElements"), &[], &m.to_string());
            }
            if let Some(m) = &e.mode {
                w.leaf(&n(ns::WSMAN, "EnumerationMode"), &[], m.as_str());
            }
            if let Some(f) = &e.filter {
                write_filter(w, f);
            }
            for o in &e.other {
                w.tree(o.root());
            }
            w.end();
        }
        Body::EnumerateResponse(r) => {
            w.start(&n(ns::WSEN, "EnumerateResponse"), &[]);
            opt_leaf(w, n(ns::WSEN, "Expires"), &r.expires);
            opt_leaf(w, n(ns::WSEN, "EnumerationContext"), &r.context);
            if let Some(items) = &r.items {
                write_items(w, &n(ns::WSMAN, "Items"), items);
            }
            if r.end_of_sequence {
                w.leaf(&n(ns::WSMAN, "EndOfSequence"), &[], "");
            }
            w.end();
        }
        Body::Pull(p) => {
            w.start(&n(ns::WSEN, "Pull"), &[]);
            w.leaf(&n(ns::WSEN, "EnumerationContext"), &[], &p.context);
            if let Some(t) = &p.max_time {
                w.leaf(&n(ns::WSEN, "MaxTime"), &[], &t.to_string());
            }
            if let Some(m) = p.max_elements {
                w.leaf(&n(ns::WSEN, "MaxElements"), &[], &m.to_string());
            }
            if let Some(m) = p.max_characters {
                w.leaf(&n(ns::WSEN, "MaxCharacters"), &[], &m.to_string());
            }
            w.end();
        }
        Body::PullResponse(r) => {
            w.start(&n(ns::WSEN, "PullResponse"), &[]);
            opt_leaf(w, n(ns::WSEN, "EnumerationContext"), &r.context);
            write_items(w, &n(ns::WSEN, "Items"), &r.items);
            if r.end_of_sequence {
                w.leaf(&n(ns::WSEN, "EndOfSequence"), &[], "");
            }
            w.end();
        }
        Body::Release(c) => context_body(w, "Release", c),
        Body::EnumerationRenew(c) => context_body(w, "Renew", c),
        Body::EnumerationRenewResponse(c) => context_body(w, "RenewResponse", c),
        Body::EnumerationGetStatus(c) => context_body(w, "GetStatus", c),
        Body::EnumerationGetStatusResponse(c) => context_body(w, "GetStatusResponse", c),
        Body::Subscribe(s) => {
            w.start(&n(ns::WSE, "Subscribe"), &[]);
            if let Some(e) = &s.end_to {
                write_epr(w, &n(ns::WSE, "EndTo"), e);
            }
            let mode = Name::new("", "Mode");
            let mut attrs: Vec<(&Name<'_>, &str)> = Vec::new();
            if let Some(m) = &s.delivery_mode {
                attrs.push((&mode, m));
            }
            w.start(&n(ns::WSE, "Delivery"), &attrs);
            if let Some(e) = &s.notify_to {
                write_epr(w, &n(ns::WSE, "NotifyTo"), e);
            }
            if let Some(m) = s.max_elements {
                w.leaf(&n(ns::WSMAN, "MaxElements"), &[], &m.to_string());
            }
            if let Some(t) = &s.max_time {
                w.leaf(&n(ns::WSMAN, "MaxTime"), &[], &t.to_string());
            }
            if let Some(m) = s.max_envelope_size {
                w.leaf(&n(ns::WSMAN, "MaxEnvelopeSize"), &[], &m.to_string());
            }
            if let Some(h) = &s.heartbeats {
                w.leaf(&n(ns::WSMAN, "Heartbeats"), &[], &h.to_string());
            }
            if let Some(r) = &s.connection_retry {
                let total = Name::new("", "Total");
                w.leaf(
                    &n(ns::WSMAN, "ConnectionRetry"),
                    &[(&total, &r.total.to_string())],
                    &r.interval.to_string(),
                );
            }
            w.end();
            opt_leaf(w, n(ns::WSE, "Expires"), &s.expires);
            if let Some(f) = &s.filter {
                write_filter(w, f);
            }
            if s.send_bookmarks {
                w.leaf(&n(ns::WSMAN, "SendBookmarks"), &[], "");
            }
            if let Some(b) = &s.bookmark {
                w.tree(b.root());
            }
            for o in &s.other {
                w.tree(o.root());
            }
            w.end();
        }
        Body::SubscribeResponse(r) => {
            w.start(&n(ns::WSE, "SubscribeResponse"), &[]);
            write_epr(
                w,
                &n(ns::WSE, "SubscriptionManager"),
                &r.subscription_manager,
            );
            opt_leaf(w, n(ns::WSE, "Expires"), &r.expires);
            opt_leaf(w, n(ns::WSEN, "EnumerationContext"), &r.enumeration_context);
            w.end();
        }
        Body::Renew(e) => expiry(w, "Renew", e),
        Body::RenewResponse(e) => expiry(w, "RenewResponse", e),
        Body::GetStatus => w.leaf(&n(ns::WSE, "GetStatus"), &[], ""),
        Body::GetStatusResponse(e) => expiry(w, "GetStatusResponse", e),
        Body::Unsubscribe => w.leaf(&n(ns::WSE, "Unsubscribe"), &[], ""),
        Body::SubscriptionEnd(s) => {
            w.start(&n(ns::WSE, "SubscriptionEnd"), &[]);
            if let Some(m) = &s.subscription_manager {
                write_epr(w, &n(ns::WSE, "SubscriptionManager"), m);
            }
            w.leaf(&n(ns::WSE, "Status"), &[], &s.status);
            opt_leaf(w, n(ns::WSE, "Reason"), &s.reason);
            w.end();
        }
        Body::Shell(s) => {
            w.start(&n(ns::RSP, "Shell"), &[]);
            opt_leaf(w, n(ns::RSP, "ShellId"), &s.shell_id);
            opt_leaf(w, n(ns::RSP, "InputStreams"), &s.input_streams);
            opt_leaf(w, n(ns::RSP, "OutputStreams"), &s.output_streams);
            opt_leaf(w, n(ns::RSP, "WorkingDirectory"), &s.working_directory);
            if !s.environment.is_empty() {
                let name = Name::new("", "Name");
                w.start(&n(ns::RSP, "Environment"), &[]);
                for (k, v) in &s.environment {
                    w.leaf(&n(ns::RSP, "Variable"), &[(&name, k)], v);
                }
                w.end();
            }
            if let Some(l) = &s.lifetime {
                w.leaf(&n(ns::RSP, "Lifetime"), &[], &l.to_string());
            }
            if let Some(l) = &s.idle_timeout {
                w.leaf(&n(ns::RSP, "IdleTimeOut"), &[], &l.to_string());
            }
            for o in &s.other {
                w.tree(o.root());
            }
            w.end();
        }
        Body::CommandLine(c) => {
            w.start(&n(ns::RSP, "CommandLine"), &[]);
            w.leaf(&n(ns::RSP, "Command"), &[], &c.command);
            for a in &c.arguments {
                w.leaf(&n(ns::RSP, "Arguments"), &[], a);
            }
            w.end();
        }
        Body::CommandResponse(c) => {
            w.start(&n(ns::RSP, "CommandResponse"), &[]);
            w.leaf(&n(ns::RSP, "CommandId"), &[], &c.command_id);
            w.end();
        }
        Body::Send(s) => {
            w.start(&n(ns::RSP, "Send"), &[]);
            for st in &s.streams {
                write_stream(w, st);
            }
            w.end();
        }
        Body::SendResponse => w.leaf(&n(ns::RSP, "SendResponse"), &[], ""),
        Body::Receive(r) => {
            w.start(&n(ns::RSP, "Receive"), &[]);
            let cid = Name::new("", "CommandId");
            let mut attrs: Vec<(&Name<'_>, &str)> = Vec::new();
            if let Some(c) = &r.command_id {
                attrs.push((&cid, c));
            }
            w.leaf(&n(ns::RSP, "DesiredStream"), &attrs, &r.desired_streams);
            w.end();
        }
        Body::ReceiveResponse(r) => {
            w.start(&n(ns::RSP, "ReceiveResponse"), &[]);
            for st in &r.streams {
                write_stream(w, st);
            }
            if let Some(cs) = &r.command_state {
                let cid = Name::new("", "CommandId");
                let state = Name::new("", "State");
                let mut attrs: Vec<(&Name<'_>, &str)> = Vec::new();
                if let Some(c) = &cs.command_id {
                    attrs.push((&cid, c));
                }
                attrs.push((&state, &cs.state));
                match cs.exit_code {
                    Some(code) => {
                        w.start(&n(ns::RSP, "CommandState"), &attrs);
                        w.leaf(&n(ns::RSP, "ExitCode"), &[], &code.to_string());
                        w.end();
                    }
                    None => w.leaf(&n(ns::RSP, "CommandState"), &attrs, ""),
                }
            }
            w.end();
        }
        Body::Signal(s) => {
            let cid = Name::new("", "CommandId");
            let mut attrs: Vec<(&Name<'_>, &str)> = Vec::new();
            if let Some(c) = &s.command_id {
                attrs.push((&cid, c));
            }
            w.start(&n(ns::RSP, "Signal"), &attrs);
            w.leaf(&n(ns::RSP, "Code"), &[], &s.code);
            w.end();
        }
        Body::SignalResponse => w.leaf(&n(ns::RSP, "SignalResponse"), &[], ""),
        Body::MethodInput(m) | Body::MethodOutput(m) => w.tree(m.element.root()),
        Body::Fault(f) => write_fault(w, f),
    }
}

fn context_body(w: &mut XmlWriter, local: &str, c: &EnumerationContextBody<'_>) {
    w.start(&n(ns::WSEN, local), &[]);
    // WS-Enumeration: requests carry the context first; responses the expiry first.
    if local.ends_with("Response") {
        opt_leaf(w, n(ns::WSEN, "Expires"), &c.expires);
        opt_leaf(w, n(ns::WSEN, "EnumerationContext"), &c.context);
    } else {
        opt_leaf(w, n(ns::WSEN, "EnumerationContext"), &c.context);
        opt_leaf(w, n(ns::WSEN, "Expires"), &c.expires);
    }
    w.end();
}

fn expiry(w: &mut XmlWriter, local: &str, e: &Expiry<'_>) {
    w.start(&n(ns::WSE, local), &[]);
    opt_leaf(w, n(ns::WSE, "Expires"), &e.expires);
    w.end();
}

fn write_qname_value(w: &mut XmlWriter, q: &Name<'_>) {
    if q.ns.is_empty() {
        // No namespace: the bare local name (this writer never declares a default
        // namespace, so it resolves to none).
        w.leaf(&n(ns::SOAP, "Value"), &[], &q.local);
        return;
    }
    let hint: &str = if q.prefix.is_empty() { "q" } else { &q.prefix };
    w.start_with(&n(ns::SOAP, "Value"), &[], &[(&q.ns, hint)]);
    let prefix = w.prefix_of(&q.ns).unwrap_or("").to_owned();
    w.text(&format!("{prefix}:{}", q.local));
    w.end();
}

fn write_fault(w: &mut XmlWriter, f: &Fault<'_>) {
    w.start(&n(ns::SOAP, "Fault"), &[]);
    w.start(&n(ns::SOAP, "Code"), &[]);
    write_qname_value(w, &Name::new(ns::SOAP, f.code.local_name()));
    if let Some(sub) = &f.subcode {
        w.start(&n(ns::SOAP, "Subcode"), &[]);
        write_qname_value(w, sub);
        w.end();
    }
    w.end();
    w.start(&n(ns::SOAP, "Reason"), &[]);
    let lang = Name::new(ns::XML, "lang");
    w.leaf(&n(ns::SOAP, "Text"), &[(&lang, &f.reason_lang)], &f.reason);
    w.end();
    let d = &f.detail;
    if d.fault_detail.is_some() || d.wsman_fault.is_some() || !d.other.is_empty() {
        w.start(&n(ns::SOAP, "Detail"), &[]);
        if let Some(wf) = &d.wsman_fault {
            let code = Name::new("", "Code");
            let machine = Name::new("", "Machine");
            let mut attrs: Vec<(&Name<'_>, &str)> = vec![(&code, &wf.code)];
            if let Some(m) = &wf.machine {
                attrs.push((&machine, m));
            }
            w.start(&n(ns::WSMANFAULT, "WSManFault"), &attrs);
            w.leaf(&n(ns::WSMANFAULT, "Message"), &[], &wf.message);
            w.end();
        }
        opt_leaf(w, n(ns::WSMAN, "FaultDetail"), &d.fault_detail);
        for o in &d.other {
            w.tree(o.root());
        }
        w.end();
    }
    w.end();
}

impl FaultSpec {
    /// A complete fault envelope for this fault, relating to `relates_to` (the request's
    /// MessageID) and carrying `message_id`.
    pub fn to_envelope(&self, relates_to: Option<&str>, message_id: &str) -> Envelope<'static> {
        let header = Header {
            to: Some(Cow::Borrowed(ns::ANONYMOUS)),
            action: Some(Cow::Borrowed(self.kind.action())),
            message_id: Some(Cow::Owned(message_id.to_owned())),
            relates_to: relates_to.map(|r| Cow::Owned(r.to_owned())),
            ..Header::default()
        };
        Envelope {
            header,
            body: Body::Fault(self.to_fault()),
            extra: Vec::new(),
            meta: Default::default(),
        }
    }
}

/// Writes a standalone tree (for resource instances and tests).
pub fn write_tree(tree: &Tree<'_>) -> String {
    let mut w = XmlWriter::default();
    w.tree(tree.root());
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer reuses the vectors of the last one dropped on its thread, emptied: what
    /// the earlier writer had bound or left open never shows in a later document, and a
    /// writer made while another is alive writes on its own.
    #[test]
    fn a_writer_starts_empty_whatever_the_one_before_left() {
        let doc = |w: &mut XmlWriter| {
            w.leaf(&Name::new(ns::WSMAN, "Locale"), &[], "en");
        };
        let mut first = XmlWriter::default();
        doc(&mut first);
        let alone = first.into_inner();
        // Left with the envelope's three bindings in scope and two elements open.
        let mut left_open = XmlWriter::default();
        left_open.envelope_and_header();
        left_open.start(&Name::new(ns::WSEN, "Enumerate"), &[]);
        drop(left_open);
        let kept = Scratch::take();
        assert!(kept.bindings.capacity() > 0, "the vectors are kept");
        assert!(
            kept.bindings.is_empty()
                && kept.marks.is_empty()
                && kept.tags.is_empty()
                && kept.open.is_empty()
                && kept.decls.is_empty()
                && kept.attr_pfx.is_empty(),
            "kept vectors are emptied"
        );
        kept.keep();
        // More declarations on one element than are kept (no attributes), then more
        // attributes (in one namespace): either writer's vectors are freed, and the
        // next writer starts with new, small ones.
        let namespaces: Vec<String> = (0..=SCRATCH_KEPT).map(|i| format!("urn:x:{i}")).collect();
        let declared: Vec<(&str, &str)> = namespaces.iter().map(|n| (n.as_str(), "x")).collect();
        let locals: Vec<String> = (0..=SCRATCH_KEPT).map(|i| format!("a{i}")).collect();
        let names: Vec<Name<'_>> = locals
            .iter()
            .map(|l| Name::new("urn:y", l.as_str()))
            .collect();
        let attrs: Vec<(&Name<'_>, &str)> = names.iter().map(|n| (n, "v")).collect();
        let kept_is_small = || {
            SCRATCH.with(|slot| {
                let kept = slot.take();
                let small = kept.as_ref().is_none_or(|k| {
                    k.decls.capacity() <= SCRATCH_KEPT && k.attr_pfx.capacity() <= SCRATCH_KEPT
                });
                slot.set(kept);
                small
            })
        };
        let mut many_decls = XmlWriter::default();
        many_decls.start_with(&Name::new(ns::WSMAN, "Wide"), &[], &declared);
        drop(many_decls);
        assert!(kept_is_small(), "oversized declarations are not kept");
        let mut many_attrs = XmlWriter::default();
        many_attrs.leaf(&Name::new(ns::WSMAN, "Wide"), &attrs, "");
        drop(many_attrs);
        assert!(kept_is_small(), "oversized attribute prefixes are not kept");
        for _ in 0..2 {
            let mut w = XmlWriter::default();
            doc(&mut w);
            // Another writer while this one is alive.
            let mut inner = XmlWriter::default();
            doc(&mut inner);
            assert_eq!(inner.into_inner(), alone);
            // Nothing is open: an element left open before would be closed here.
            w.end();
            assert_eq!(w.into_inner(), alone);
        }
        assert!(
            String::from_utf8(alone)
                .unwrap()
                .contains(&format!("xmlns:w=\"{}\"", ns::WSMAN)),
            "the first document declares its prefix"
        );
    }
    use crate::envelope::OtherHeader;

    /// The envelope's start and the header fields written without resolving prefixes
    /// are byte for byte what the general writer writes for them, text to escape and
    /// empty text included.
    #[test]
    fn the_bound_fast_path_writes_what_the_general_writer_writes() {
        for text in ["", "uuid:1 <&> \"'\r\n\t end", "http://x/y"] {
            let h = Header {
                to: Some(text.into()),
                resource_uri: Some(text.into()),
                action: Some(text.into()),
                max_envelope_size: Some(512000),
                message_id: Some(text.into()),
                relates_to: Some(text.into()),
                operation_timeout: Some("PT60.500S".parse().unwrap()),
                request_total_items_count_estimate: true,
                total_items_count_estimate: Some(7),
                ..Header::default()
            };
            let env = Envelope {
                header: h.clone(),
                body: Body::Identify,
                extra: Vec::new(),
                meta: Default::default(),
            };
            let fast = String::from_utf8(write_envelope(&env, Vec::new())).unwrap();

            let mu = mu_attr();
            let t: &[(&Name<'_>, &str)] = &[(&mu, "true")];
            let mut w = XmlWriter::new(Vec::new());
            w.start_with(
                &n(ns::SOAP, "Envelope"),
                &[],
                &[(ns::WSA, "a"), (ns::WSMAN, "w")],
            );
            w.start(&n(ns::SOAP, "Header"), &[]);
            w.leaf(&n(ns::WSA, "To"), &[], text);
            w.leaf(&n(ns::WSMAN, "ResourceURI"), t, text);
            w.leaf(&n(ns::WSA, "Action"), t, text);
            w.leaf(&n(ns::WSMAN, "MaxEnvelopeSize"), t, "512000");
            w.leaf(&n(ns::WSA, "MessageID"), &[], text);
            w.leaf(&n(ns::WSA, "RelatesTo"), &[], text);
            let timeout = h.operation_timeout.as_ref().unwrap().to_string();
            w.leaf(&n(ns::WSMAN, "OperationTimeout"), &[], &timeout);
            w.leaf(&n(ns::WSMAN, "RequestTotalItemsCountEstimate"), &[], "");
            w.leaf(&n(ns::WSMAN, "TotalItemsCountEstimate"), &[], "7");
            w.end();
            w.start(&n(ns::SOAP, "Body"), &[]);
            write_body(&mut w, &Body::Identify);
            w.end();
            w.end();
            let general = String::from_utf8(w.into_inner()).unwrap();
            assert_eq!(fast, general);
            assert!(fast.starts_with(ENVELOPE_AND_HEADER), "{fast}");
        }
    }

    /// Children sharing their parent's namespace string (the shortcut in `tree`) are
    /// written exactly as children holding an equal but separate string (the general
    /// path), including empty leaves, attributes and nested elements.
    #[test]
    fn shared_namespace_shortcut_writes_what_resolution_would() {
        let ns = "urn:example:class";
        let build = |shared: bool| {
            let n = |local: &'static str| {
                let uri: Cow<'static, str> = if shared {
                    Cow::Borrowed(ns)
                } else {
                    Cow::Owned(ns.to_owned())
                };
                Name::new(uri, local).with_prefix("p")
            };
            let mut b = crate::TreeBuilder::with_capacity(8);
            b.start(n("Root"));
            b.leaf(n("A"), "1 < 2");
            b.leaf(n("Empty"), "");
            b.start(n("Nil"));
            b.attr(Name::new(ns::XSI, "nil").with_prefix("xsi"), "true");
            b.end();
            b.start(n("Nested"));
            b.leaf(n("Inner"), "x");
            b.end();
            b.leaf(Name::new("urn:other", "Foreign").with_prefix("o"), "y");
            b.end();
            b.finish()
        };
        let shared = write_tree(&build(true));
        assert_eq!(shared, write_tree(&build(false)));
        assert!(shared.contains("<p:A>1 &lt; 2</p:A><p:Empty/>"), "{shared}");
    }

    /// `leaf_in_parent_namespace` and `nil_leaf_in_parent_namespace` write what
    /// `leaf` writes for the same child: under a prefixed parent, an unprefixed one,
    /// with XSI already bound, and with the `xsi` prefix taken by another namespace.
    #[test]
    fn parent_namespace_shortcuts_write_what_leaf_writes() {
        let nil = Name::new(ns::XSI, "nil");
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
        let cases: [Case<'_>; 4] = [
            ("urn:c", "p", &[]),
            ("urn:c", "", &[]),
            ("urn:c", "p", &[(ns::XSI, "i")]),
            ("urn:c", "p", &[("urn:other", "xsi")]),
        ];
        for (uri, prefix, extra) in cases {
            let parent = Name::new(uri, "Root").with_prefix(prefix);
            let child = Name::new(uri, "Child").with_prefix(prefix);
            let write = |shortcut: bool| {
                let mut w = XmlWriter::default();
                w.start_with(&parent, &[], extra);
                for text in ["a < b & c\r", ""] {
                    if shortcut {
                        w.leaf_in_parent_namespace("Child", text);
                    } else {
                        w.leaf(&child, &[], text);
                    }
                }
                if shortcut {
                    w.nil_leaf_in_parent_namespace(&child);
                } else {
                    w.leaf(&child, &[(&nil, "true")], "");
                }
                w.end();
                String::from_utf8(w.into_inner()).unwrap()
            };
            assert_eq!(write(true), write(false), "{prefix:?} {extra:?}");
        }
    }

    /// The block-skipping escaper agrees with a plain character-by-character one,
    /// wherever the special characters fall (inside, between and after clean blocks).
    #[test]
    fn escaping_matches_a_plain_escaper() {
        fn plain(s: &str, attribute: bool) -> String {
            s.chars()
                .map(|c| match c {
                    '<' => "&lt;".into(),
                    '>' => "&gt;".into(),
                    '&' => "&amp;".into(),
                    '"' => "&quot;".into(),
                    '\'' => "&apos;".into(),
                    '\r' => "&#13;".into(),
                    '\t' if attribute => "&#9;".into(),
                    '\n' if attribute => "&#10;".into(),
                    c => c.to_string(),
                })
                .collect()
        }
        let specials = ['<', '>', '&', '"', '\'', '\r', '\t', '\n', 'é', 'x'];
        for len in [0, 1, 31, 32, 63, 64, 65, 96, 130] {
            for at in [0, 1, 31, 32, 33, 63, 64, 100] {
                for c in specials {
                    let mut s: String = "AbC+/=09".chars().cycle().take(len).collect();
                    if at <= s.len() {
                        s.insert(at, c);
                    }
                    for attribute in [false, true] {
                        let mut out = Vec::new();
                        write_escaped(&mut out, &s, attribute);
                        assert_eq!(
                            String::from_utf8(out).unwrap(),
                            plain(&s, attribute),
                            "{s:?} attribute={attribute}"
                        );
                    }
                }
            }
        }
    }

    /// A caller-built header marked mustUnderstand keeps the flag on the wire.
    #[test]
    fn other_header_must_understand_is_written() {
        let env = Envelope {
            header: Header {
                other: vec![OtherHeader {
                    must_understand: true,
                    element: Tree::leaf(
                        Name::new("urn:example", "Frobnicate").with_prefix("x"),
                        "1",
                    ),
                }],
                ..Header::default()
            },
            body: Body::Empty,
            extra: Vec::new(),
            meta: Default::default(),
        };
        let xml = env.to_xml();
        let back = crate::parse(&xml, &crate::Limits::default()).unwrap();
        assert!(back.header.other[0].must_understand, "{xml}");
    }
}
