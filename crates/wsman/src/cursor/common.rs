//! The common request's envelope and headers, read by a lexer of this path's own.
//!
//! Most requests have one shape: an `<?xml?>` declaration, an `s:Envelope` that
//! declares its prefixes, an `s:Header` of plain addressing headers (To, Action,
//! MessageID, RelatesTo, ResourceURI, MaxEnvelopeSize, OperationTimeout, a ReplyTo that
//! holds only its Address, a SelectorSet of text selectors) and then `s:Body`. Reading
//! those through [`Cursor::next`] builds a resolved [`Start`](super::Start) with its
//! attribute list for every element, and a tree for ReplyTo and SelectorSet;
//! [`Cursor::common_header`] reads them from the tags' bytes instead (quick-xml reads
//! only the XML declaration; [`Lex`] the rest). The bodies a client repeats most (none,
//! an Identify, an Enumerate of OptimizeEnumeration and MaxElements, a Pull of its
//! context and MaxElements) it reads too, to
//! the end of the document (`Cursor::common_body`). Any other body it leaves to the
//! general code, with the cursor inside `s:Body` as the general path leaves it (the
//! same bindings, open elements and element count, a quick-xml reader at the body).
//!
//! It answers only what it is sure of. A header it does not read itself goes to the
//! general reader in place (`envelope::read_header`). Anything else unusual (an entity
//! or a comment, an attribute it does not know, a limit reached, anything the general
//! path would refuse) makes it return `None`; the caller then reads the whole envelope
//! again with the general path, which decides. `envelope/common_tests.rs` holds the two
//! to the same result on the corpus and on generated envelopes; cargo-mutants on this
//! file (before the lexer) and on the lexer's functions found no mutant those tests
//! miss but one that only sizes a vector.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};

use super::{Cursor, Start, split_qname};
use crate::addressing::{Epr, Selector, SelectorValue, is_true};
use crate::body::{Body, Enumerate, Pull};
use crate::duration::XsDuration;
use crate::envelope::{Header, HeaderName, Meta};
use crate::error::Error;
use crate::ns;

// How many headers the general reader read for this path, on this thread: tests
// check that the common headers are read here, not handed over.
#[cfg(test)]
thread_local! {
    pub(crate) static DELEGATED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

// How many bodies this path read itself, on this thread: tests check that the common
// bodies are read here, not handed over.
#[cfg(test)]
thread_local! {
    pub(crate) static BODIES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The general reader of one header element after its start tag
/// (`envelope::read_header`), for the headers this path does not read itself.
pub(crate) type GeneralHeader<'a> =
    fn(&mut Cursor<'a>, Start<'a>, &mut Header<'a>, &mut Meta) -> Result<(), Error>;

/// XML white space only (what the general path treats as blank is a superset).
fn blank(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// A `<` or `&` anywhere in a start tag (in practice, in an attribute value): the
/// general path refuses or unescapes it. One pass over the whole tag.
fn markup(tag: &[u8]) -> bool {
    memchr::memchr2(b'<', b'&', tag).is_some()
}

/// The namespaces this path names elements in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Soap,
    Wsa,
    Wsman,
    Wsen,
    Wsmid,
    Other,
}

impl Known {
    fn of(uri: &str) -> Known {
        match uri {
            ns::SOAP => Known::Soap,
            ns::WSA => Known::Wsa,
            ns::WSMAN => Known::Wsman,
            ns::WSEN => Known::Wsen,
            ns::WSMID => Known::Wsmid,
            _ => Known::Other,
        }
    }
}

/// The prefixes the root declares, each with its namespace told apart once: the only
/// declarations in scope wherever this path reads (a header the general code reads
/// may declare its own, which end with it).
struct Prefixes<'a> {
    known: [(&'a str, Known); MAX_PREFIXES],
    len: usize,
}

/// More declarations on the root than this: the general path reads it.
const MAX_PREFIXES: usize = 8;

impl<'a> Prefixes<'a> {
    fn get(&self, prefix: &str) -> Option<Known> {
        self.get_bytes(prefix.as_bytes())
    }

    fn get_bytes(&self, prefix: &[u8]) -> Option<Known> {
        self.known[..self.len]
            .iter()
            .find(|(p, _)| p.as_bytes() == prefix)
            .map(|(_, k)| *k)
    }

    /// Whether an attribute's name, as written, is `mustUnderstand` in the SOAP
    /// namespace: compared as bytes, without reading the name as text first.
    fn is_must_understand(&self, key: &[u8]) -> bool {
        match memchr::memchr(b':', key) {
            Some(colon) => {
                &key[colon + 1..] == b"mustUnderstand"
                    && self.get_bytes(&key[..colon]) == Some(Known::Soap)
            }
            None => false,
        }
    }

    /// A name's namespace and local part; unprefixed names are not this path's.
    ///
    /// The name is not checked as a QName: its prefix is one the root declared (each
    /// checked there), and the caller compares the local part with a name of its own,
    /// which a malformed one (`a:b:c`, `a:1x`) never equals.
    fn name<'q>(&self, qname: &'q str) -> Option<(Known, &'q str)> {
        let (prefix, local) = qname.split_once(':')?;
        Some((self.get(prefix)?, local))
    }
}

impl<'a> Cursor<'a> {
    /// Reads a common request up to and including its `s:Body` start tag (see the
    /// module's text), or `None` when the envelope is not of that shape; the cursor is
    /// then spent. The cursor must be a fresh one over a whole document
    /// ([`Cursor::new`]): nothing read, nothing open, nothing bound.
    pub(crate) fn common_header(
        &mut self,
        general: GeneralHeader<'a>,
    ) -> Option<(Header<'a>, Meta, Option<Body<'a>>)> {
        debug_assert!(self.base == 0 && self.open.is_empty() && self.bindings.is_empty());
        // quick-xml reads the XML declaration, when the document starts with one (a
        // declaration anywhere else, or any other processing instruction, is left to
        // the general path); the lexer reads from there to the Body's start tag.
        if self.input.starts_with("<?") {
            let Event::Decl(d) = self.reader.read_event().ok()? else {
                return None;
            };
            match d.encoding() {
                None => {}
                Some(Ok(e)) if e.eq_ignore_ascii_case(b"utf-8") => {}
                Some(_) => return None,
            }
        }
        let mut lex = Lex { at: self.pos() };
        let (root, root_pos) = loop {
            let pos = lex.at;
            match self.lex(&mut lex)? {
                Tok::Text(t) if blank(t) => {}
                Tok::Start(e) => break (e, pos),
                _ => return None,
            }
        };
        let env_q = self.sub(root.name().as_ref())?;
        let (env_prefix, "Envelope") = env_q.split_once(':')? else {
            return None;
        };
        self.common_enter(env_q)?;
        let prefixes = self.common_declarations(&root)?;
        if prefixes.get(env_prefix)? != Known::Soap {
            return None;
        }
        let mut header = Header::default();
        let mut meta = Meta {
            envelope_offset: root_pos,
            // Room for every header clients send (pywinrm sends 11): one allocation
            // rather than one per doubling.
            headers: Vec::with_capacity(16),
            ..Meta::default()
        };
        let mut seen_header = false;
        loop {
            let pos = lex.at;
            let (e, empty) = match self.lex(&mut lex)? {
                Tok::Text(t) if blank(t) => continue,
                Tok::Start(e) => (e, false),
                Tok::Empty(e) => (e, true),
                _ => return None,
            };
            let q = self.sub(e.name().as_ref())?;
            if e.len() != q.len() {
                return None;
            }
            let (prefix, local) = q.split_once(':')?;
            if prefix != env_prefix {
                return None;
            }
            match local {
                "Header" if !seen_header => {
                    seen_header = true;
                    self.common_enter(q)?;
                    if !empty {
                        self.common_headers(
                            &mut lex,
                            &prefixes,
                            q,
                            &mut header,
                            &mut meta,
                            general,
                        )?;
                    }
                    self.open.pop();
                }
                "Body" => {
                    self.common_enter(q)?;
                    meta.body_offset = pos;
                    // A body of a shape this path knows is read to the end of the
                    // document here; any other is left to the general code, which
                    // reads it with quick-xml from just after the Body's start tag.
                    let (at, open, elements) = (lex.at, self.open.len(), self.elements);
                    if let Some(body) = self.common_body(&mut lex, &prefixes, env_q, q, empty) {
                        meta.body_element_offset = body.1;
                        return Some((header, meta, Some(body.0)));
                    }
                    self.open.truncate(open);
                    self.elements = elements;
                    self.pending_end = empty;
                    self.resync(at)?;
                    return Some((header, meta, None));
                }
                _ => return None,
            }
        }
    }

    /// `enter` without its errors: `None` where the general path would refuse (on a
    /// fresh cursor, which no enclosing read counts depth for).
    fn common_enter(&mut self, qname: &'a str) -> Option<()> {
        if self.open.len() >= self.limits.max_depth || self.elements >= self.limits.max_elements {
            return None;
        }
        self.elements += 1;
        self.open.push((qname, self.bindings.len() as u32));
        Some(())
    }

    /// The root's attributes: prefixed namespace declarations only, each new.
    fn common_declarations(&mut self, e: &BytesStart<'a>) -> Option<Prefixes<'a>> {
        let mut prefixes = Prefixes {
            known: [("", Known::Other); MAX_PREFIXES],
            len: 0,
        };
        if markup(e) {
            return None;
        }
        let mut declare = |cursor: &mut Self, key: &[u8], value: &[u8]| -> Option<()> {
            if prefixes.len == MAX_PREFIXES || prefixes.len >= cursor.limits.max_attributes {
                return None;
            }
            let prefix = cursor.sub(key)?.strip_prefix("xmlns:")?;
            let value = cursor.sub(value)?;
            // A prefix must be a name (`1u` is not), or `1u:To` would read here where
            // the general path refuses it.
            split_qname(prefix)?;
            if value.is_empty() || prefixes.get(prefix).is_some() {
                return None;
            }
            prefixes.known[prefixes.len] = (prefix, Known::of(value));
            prefixes.len += 1;
            cursor.bindings.push((prefix, Cow::Borrowed(value)));
            Some(())
        };
        let raw = e.attributes_raw();
        let mut plain = [(&[][..], &[][..]); MAX_PREFIXES];
        if let Some(n) = plain_attributes(raw, &mut plain) {
            for &(key, value) in &plain[..n] {
                declare(self, key, value)?;
            }
        } else {
            for a in e.attributes().with_checks(false) {
                let a = a.ok()?;
                declare(self, a.key.as_ref(), &a.value)?;
            }
        }
        self.generation = self.generation.wrapping_add(1);
        Some(prefixes)
    }

    /// An element's attributes, where the only one allowed is `s:mustUnderstand`
    /// (once): its truth. (The attribute limit allows one here: the root's
    /// declarations, at least one, were within it.)
    fn common_must_understand(&self, p: &Prefixes<'a>, e: &BytesStart<'a>) -> Option<bool> {
        let mut mu = None;
        if markup(e) {
            return None;
        }
        let raw = e.attributes_raw();
        if raw.is_empty() {
            return Some(false);
        }
        if let Some((key, value)) = lone_attribute(raw) {
            if !p.is_must_understand(key) {
                return None;
            }
            return Some(is_true(Some(self.sub(value)?)));
        }
        for a in e.attributes().with_checks(false) {
            let a = a.ok()?;
            if mu.is_some() {
                return None;
            }
            let key = self.sub(a.key.as_ref())?;
            if p.name(key)? != (Known::Soap, "mustUnderstand") {
                return None;
            }
            mu = Some(is_true(Some(self.sub(&a.value)?)));
        }
        Some(mu.unwrap_or(false))
    }

    /// After a start tag: one piece of plain text (or none) and the matching end tag.
    fn common_text(&mut self, lex: &mut Lex, qname: &str) -> Option<&'a str> {
        let text = match self.lex(lex)? {
            Tok::Text(t) => {
                let text = self.sub(t)?;
                match self.lex(lex)? {
                    Tok::End(name) if name == qname.as_bytes() => text,
                    _ => return None,
                }
            }
            Tok::End(name) if name == qname.as_bytes() => "",
            _ => return None,
        };
        self.open.pop();
        Some(text)
    }

    /// The next start tag inside an element, or `None` at its end tag (`Some(None)`);
    /// anything else is not the common shape. Text between the children is skipped,
    /// as the general path ignores it in `s:Header`, an EPR and a SelectorSet.
    fn common_child(
        &mut self,
        lex: &mut Lex,
        parent: &str,
    ) -> Option<Option<(BytesStart<'a>, usize)>> {
        loop {
            let pos = lex.at;
            match self.lex(lex)? {
                Tok::Text(_) => {}
                Tok::Start(e) => return Some(Some((e, pos))),
                Tok::End(name) if name == parent.as_bytes() => return Some(None),
                _ => return None,
            }
        }
    }

    /// The children of `s:Header`, up to its end tag. A header this path does not
    /// read itself (another name, an empty-element tag, attributes other than
    /// `s:mustUnderstand`) goes to `general` with the cursor as the general path would
    /// have it.
    fn common_headers(
        &mut self,
        lex: &mut Lex,
        p: &Prefixes<'a>,
        header_q: &str,
        h: &mut Header<'a>,
        meta: &mut Meta,
        general: GeneralHeader<'a>,
    ) -> Option<()> {
        loop {
            let pos = lex.at;
            let (e, empty) = match self.lex(lex)? {
                Tok::Text(_) => continue,
                Tok::Start(e) => (e, false),
                Tok::Empty(e) => (e, true),
                Tok::End(name) if name == header_q.as_bytes() => return Some(()),
                _ => return None,
            };
            let q = self.sub(e.name().as_ref())?;
            let common = if empty {
                None
            } else {
                header_name(p, q).zip(self.common_must_understand(p, &e))
            };
            let Some((name, mu)) = common else {
                // quick-xml reads this header for the general code, from after its
                // start tag; the lexer goes on where it ended.
                self.resync(lex.at)?;
                self.general_header(&e, pos, empty, h, meta, general)?;
                lex.at = self.pos();
                continue;
            };
            if meta.headers.iter().any(|x| x.0 == name) {
                return None;
            }
            self.common_enter(q)?;
            meta.headers.push((name, mu, pos));
            match name {
                HeaderName::ReplyTo => h.reply_to = Some(self.common_reply_to(lex, p, q)?),
                HeaderName::SelectorSet => h.selectors = self.common_selectors(lex, p, q)?,
                _ => {
                    let raw = self.common_text(lex, q)?;
                    let text = Cow::Borrowed(raw.trim());
                    match name {
                        HeaderName::To => h.to = Some(text),
                        HeaderName::Action => h.action = Some(text),
                        HeaderName::MessageId => {
                            if text.is_empty() {
                                return None;
                            }
                            self.message_id = Some(text.clone());
                            h.message_id = Some(text);
                        }
                        HeaderName::RelatesTo => h.relates_to = Some(text),
                        HeaderName::ResourceUri => h.resource_uri = Some(text),
                        HeaderName::MaxEnvelopeSize => {
                            h.max_envelope_size = Some(text.parse::<u64>().ok()?);
                        }
                        HeaderName::OperationTimeout => {
                            let d: XsDuration = raw.parse().ok()?;
                            if d.negative {
                                return None;
                            }
                            h.operation_timeout = Some(d);
                        }
                        _ => return None,
                    }
                }
            }
        }
    }

    /// One header read by the general code, from its start tag (already read) to its
    /// end; the cursor is then as this path keeps it.
    fn general_header(
        &mut self,
        e: &BytesStart<'a>,
        pos: usize,
        empty: bool,
        h: &mut Header<'a>,
        meta: &mut Meta,
        general: GeneralHeader<'a>,
    ) -> Option<()> {
        let start = self.start(e, pos, empty).ok()?;
        general(self, start, h, meta).ok()?;
        #[cfg(test)]
        DELEGATED.with(|d| d.set(d.get() + 1));
        // A whole element read leaves no event waiting: only its scope to close.
        debug_assert!(self.peeked.is_none() && !self.pending_end);
        if self.pending_pop {
            self.pending_pop = false;
            self.close();
        }
        Some(())
    }

    /// A ReplyTo that holds its Address and nothing else.
    fn common_reply_to(
        &mut self,
        lex: &mut Lex,
        p: &Prefixes<'a>,
        reply_q: &str,
    ) -> Option<Epr<'a>> {
        let (e, _) = self.common_child(lex, reply_q)??;
        let q = self.sub(e.name().as_ref())?;
        if p.name(q)? != (Known::Wsa, "Address") {
            return None;
        }
        self.common_enter(q)?;
        self.common_must_understand(p, &e)?;
        let address = self.common_text(lex, q)?;
        if blank(address.as_bytes()) || self.common_child(lex, reply_q)?.is_some() {
            return None;
        }
        self.open.pop();
        Some(Epr {
            address: Cow::Borrowed(address.trim()),
            ..Epr::default()
        })
    }

    /// A SelectorSet of `<w:Selector Name="...">text</w:Selector>` only.
    fn common_selectors(
        &mut self,
        lex: &mut Lex,
        p: &Prefixes<'a>,
        set_q: &str,
    ) -> Option<Vec<Selector<'a>>> {
        let mut out = Vec::new();
        while let Some((e, _)) = self.common_child(lex, set_q)? {
            let q = self.sub(e.name().as_ref())?;
            if p.name(q)? != (Known::Wsman, "Selector") {
                return None;
            }
            self.common_enter(q)?;
            let (b"Name", name) = lone_attribute(e.attributes_raw())? else {
                return None;
            };
            let name = self.sub(name)?;
            if markup(&e) {
                return None;
            }
            let text = self.common_text(lex, q)?;
            if blank(text.as_bytes()) {
                return None;
            }
            out.push(Selector {
                name: Cow::Borrowed(name),
                value: SelectorValue::Text(Cow::Borrowed(text)),
            });
        }
        self.open.pop();
        Some(out)
    }
}

impl<'a> Cursor<'a> {
    /// After the Body's start tag: a body of one of the shapes this path reads
    /// itself, the Body's and the Envelope's end tags and nothing but white space
    /// after them; the body and its first element's offset. The shapes are the
    /// requests a client repeats most: none (`<s:Body/>`, white space only), an
    /// Identify, an Enumerate of `wsman:OptimizeEnumeration` and `wsman:MaxElements`,
    /// and a Pull of `wsen:EnumerationContext` and `wsen:MaxElements`, every element
    /// without attributes. `None` for anything else, after which the caller hands the
    /// body to the general code.
    fn common_body(
        &mut self,
        lex: &mut Lex,
        p: &Prefixes<'a>,
        env_q: &str,
        body_q: &str,
        empty: bool,
    ) -> Option<(Body<'a>, Option<usize>)> {
        let mut first = None;
        let mut body = Body::Empty;
        if !empty {
            loop {
                let pos = lex.at;
                let (e, leaf) = match self.lex(lex)? {
                    Tok::Text(t) if blank(t) => continue,
                    Tok::End(name) if name == body_q.as_bytes() => break,
                    Tok::Start(e) => (e, false),
                    Tok::Empty(e) => (e, true),
                    _ => return None,
                };
                // One element, without attributes (its name is the whole tag).
                let q = self.sub(e.name().as_ref())?;
                if first.is_some() || e.len() != q.len() {
                    return None;
                }
                first = Some(pos);
                self.common_enter(q)?;
                body = match p.name(q)? {
                    (Known::Wsmid, "Identify") => {
                        if !leaf {
                            self.common_leaf(lex, q)?;
                        }
                        Body::Identify
                    }
                    (Known::Wsen, "Pull") if !leaf => Body::Pull(self.common_pull(lex, p, q)?),
                    (Known::Wsen, "Enumerate") => {
                        let mut r = Enumerate::default();
                        if !leaf {
                            self.common_enumerate(lex, p, q, &mut r)?;
                        }
                        Body::Enumerate(Box::new(r))
                    }
                    _ => return None,
                };
                self.open.pop();
            }
        }
        // The Envelope's end tag, and nothing after it but white space. (The Body and
        // the Envelope stay open until then: a caller that hands the body over after
        // all finds them open, as the general code expects.)
        loop {
            match self.lex(lex)? {
                Tok::Text(t) if blank(t) => {}
                Tok::End(name) if name == env_q.as_bytes() => break,
                _ => return None,
            }
        }
        if !blank(self.input.as_bytes().get(lex.at..)?) {
            return None;
        }
        self.open.pop();
        self.open.pop();
        #[cfg(test)]
        BODIES.with(|b| b.set(b.get() + 1));
        Some((body, first))
    }

    /// A Pull's children, after its start tag: `wsen:EnumerationContext` (required)
    /// and `wsen:MaxElements` (at least 1), as the general reader takes them (any
    /// number of each, the last kept), each without attributes, and text between them.
    fn common_pull(&mut self, lex: &mut Lex, p: &Prefixes<'a>, pull_q: &str) -> Option<Pull<'a>> {
        let mut context = None;
        let mut max_elements = None;
        while let Some((q, leaf)) = self.common_plain_child(lex, pull_q)? {
            // `common_text` closes each.
            match p.name(q)? {
                (Known::Wsen, "EnumerationContext") if !leaf => {
                    context = Some(Cow::Borrowed(self.common_text(lex, q)?.trim()));
                }
                (Known::Wsen, "MaxElements") if !leaf => {
                    let count: u32 = self.common_text(lex, q)?.trim().parse().ok()?;
                    max_elements = Some(count).filter(|n| *n > 0);
                    max_elements?;
                }
                _ => return None,
            }
        }
        Some(Pull {
            context: context?,
            max_elements,
            ..Pull::default()
        })
    }

    /// The next child element of `parent_q`, entered: its name and whether it is an
    /// empty-element tag; `Some(None)` at the parent's end tag. Text between children
    /// is skipped (the general readers of these bodies look at elements only); a
    /// child with attributes, or anything else, is not the common shape (`None`).
    fn common_plain_child(
        &mut self,
        lex: &mut Lex,
        parent_q: &str,
    ) -> Option<Option<(&'a str, bool)>> {
        let (e, leaf) = loop {
            match self.lex(lex)? {
                Tok::Text(_) => {}
                Tok::Start(e) => break (e, false),
                Tok::Empty(e) => break (e, true),
                Tok::End(name) if name == parent_q.as_bytes() => return Some(None),
                _ => return None,
            }
        };
        let q = self.sub(e.name().as_ref())?;
        if e.len() != q.len() {
            return None;
        }
        self.common_enter(q)?;
        Some(Some((q, leaf)))
    }

    /// After a start tag: white space at most, then the matching end tag.
    fn common_leaf(&mut self, lex: &mut Lex, qname: &str) -> Option<()> {
        loop {
            match self.lex(lex)? {
                Tok::Text(t) if blank(t) => {}
                Tok::End(name) if name == qname.as_bytes() => return Some(()),
                _ => return None,
            }
        }
    }

    /// An Enumerate's children, after its start tag: `wsman:OptimizeEnumeration` and
    /// `wsman:MaxElements` (as the general reader takes them: any number of each, the
    /// last count kept), each without attributes, and white space between them.
    fn common_enumerate(
        &mut self,
        lex: &mut Lex,
        p: &Prefixes<'a>,
        enumerate_q: &str,
        r: &mut Enumerate<'a>,
    ) -> Option<()> {
        while let Some((q, leaf)) = self.common_plain_child(lex, enumerate_q)? {
            match p.name(q)? {
                (Known::Wsman, "OptimizeEnumeration") => {
                    if !leaf {
                        self.common_leaf(lex, q)?;
                    }
                    r.optimize = true;
                }
                (Known::Wsman, "MaxElements") if !leaf => {
                    let count = self.common_text(lex, q)?;
                    r.max_elements = Some(count.trim().parse().ok()?);
                    // `common_text` closed it.
                    continue;
                }
                _ => return None,
            }
            self.open.pop();
        }
        Some(())
    }
}

/// Where the lexer is: a byte offset in the cursor's input.
///
/// From the root's start tag to the Body's, this path reads tags and text with
/// [`Cursor::lex`] rather than quick-xml, which costs about twice as much per event
/// for the plain markup a request's header is. It splits the input as quick-xml
/// does (a start tag ends at the first `>` outside quotes, an end tag's name loses
/// trailing white space, text runs to the next `<`) and gives up (`None`) on anything
/// else: comments, CDATA, processing instructions, references, the end of the input.
/// Giving up only ever sends the envelope to the general path, which decides.
struct Lex {
    at: usize,
}

/// What the lexer reads: the quick-xml events this path looks at.
enum Tok<'a> {
    Text(&'a [u8]),
    Start(BytesStart<'a>),
    Empty(BytesStart<'a>),
    /// The end tag's name.
    End(&'a [u8]),
}

impl<'a> Cursor<'a> {
    /// The next token at `lex`, which then moves past it (see [`Lex`]).
    fn lex(&self, lex: &mut Lex) -> Option<Tok<'a>> {
        let input: &'a [u8] = self.input.as_bytes();
        let rest = input.get(lex.at..)?;
        let (&first, _) = rest.split_first()?;
        if first != b'<' {
            let len = memchr::memchr(b'<', rest).unwrap_or(rest.len());
            let text = &rest[..len];
            if memchr::memchr(b'&', text).is_some() {
                return None;
            }
            lex.at += len;
            return Some(Tok::Text(text));
        }
        match *rest.get(1)? {
            b'/' => {
                let end = memchr::memchr(b'>', rest)?;
                let content = &rest[2..end];
                let name = match content.iter().rposition(|b| !is_space(*b)) {
                    Some(last) => &content[..=last],
                    None => content,
                };
                lex.at += end + 1;
                Some(Tok::End(name))
            }
            b'!' | b'?' => None,
            _ => {
                // The first `>` outside quoted attribute values.
                let mut from = 1;
                let end = loop {
                    let i = from + memchr::memchr3(b'>', b'"', b'\'', &rest[from..])?;
                    if rest[i] == b'>' {
                        break i;
                    }
                    from = i + 1 + memchr::memchr(rest[i], &rest[i + 1..])? + 1;
                };
                lex.at += end + 1;
                let (content, empty) = match rest[1..end].strip_suffix(b"/") {
                    Some(content) => (content, true),
                    None => (&rest[1..end], false),
                };
                let name_len = content
                    .iter()
                    .position(|b| is_space(*b))
                    .unwrap_or(content.len());
                let e = BytesStart::from_content(self.sub(content)?, name_len);
                Some(if empty { Tok::Empty(e) } else { Tok::Start(e) })
            }
        }
    }
}

/// XML white space (quick-xml's, for names and end tags).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The headers this path reads itself.
fn header_name(p: &Prefixes<'_>, qname: &str) -> Option<HeaderName> {
    Some(match p.name(qname)? {
        (Known::Wsa, "To") => HeaderName::To,
        (Known::Wsa, "Action") => HeaderName::Action,
        (Known::Wsa, "MessageID") => HeaderName::MessageId,
        (Known::Wsa, "RelatesTo") => HeaderName::RelatesTo,
        (Known::Wsa, "ReplyTo") => HeaderName::ReplyTo,
        (Known::Wsman, "ResourceURI") => HeaderName::ResourceUri,
        (Known::Wsman, "MaxEnvelopeSize") => HeaderName::MaxEnvelopeSize,
        (Known::Wsman, "OperationTimeout") => HeaderName::OperationTimeout,
        (Known::Wsman, "SelectorSet") => HeaderName::SelectorSet,
        _ => return None,
    })
}

/// A start tag's attributes when every one is written plainly (` key="value"`, as
/// [`lone_attribute`] reads one; white space may end the list), each as its key and
/// value bytes, into `out`; their number, or `None` when the text is of another shape
/// or there are more than `out` holds, which quick-xml's attribute reader then reads.
/// The root's namespace declarations are written so by every client seen, and one
/// pass with `memchr` costs a fraction of the general reader.
fn plain_attributes<'b>(raw: &'b [u8], out: &mut [(&'b [u8], &'b [u8])]) -> Option<usize> {
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let mut rest = raw;
    let mut n = 0;
    loop {
        let start = rest.iter().position(|b| !space(b)).unwrap_or(rest.len());
        if start == rest.len() {
            return Some(n);
        }
        if start == 0 {
            return None;
        }
        let attr = &rest[start..];
        let eq = memchr::memchr(b'=', attr)?;
        let key = &attr[..eq];
        if key.is_empty() || key.iter().any(|b| space(b) || matches!(b, b'"' | b'\'')) {
            return None;
        }
        let quote = *attr.get(eq + 1).filter(|q| matches!(q, b'"' | b'\''))?;
        let value_at = eq + 2;
        let len = memchr::memchr(quote, &attr[value_at..])?;
        *out.get_mut(n)? = (key, &attr[value_at..value_at + len]);
        n += 1;
        rest = &attr[value_at + len + 1..];
    }
}

/// The attribute of a start tag that has exactly one, written plainly
/// (` key="value"`: white space before it, none around `=` or after it), as its key and
/// value bytes; `None` for any other attribute text, which quick-xml's attribute
/// reader then reads. Headers carry one `s:mustUnderstand` and selectors one `Name`,
/// and recognising that one shape here costs a fraction of the general reader.
fn lone_attribute(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = raw
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))?;
    if start == 0 {
        return None;
    }
    let rest = &raw[start..];
    let eq = rest.iter().position(|&b| b == b'=')?;
    let key = &rest[..eq];
    if key.is_empty()
        || key
            .iter()
            .any(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'"' | b'\''))
    {
        return None;
    }
    let quoted = &rest[eq + 1..];
    let (&quote, inner) = quoted.split_first()?;
    if !matches!(quote, b'"' | b'\'') {
        return None;
    }
    let (&last, value) = inner.split_last()?;
    if last != quote || value.contains(&quote) {
        return None;
    }
    Some((key, value))
}

#[cfg(test)]
mod tests {
    use super::{lone_attribute, plain_attributes};

    #[test]
    fn plain_attribute_lists_are_read_and_any_other_shape_is_handed_on() {
        let got = |raw: &'static str| -> Option<Vec<(String, String)>> {
            let mut out = [(&[][..], &[][..]); 3];
            let n = plain_attributes(raw.as_bytes(), &mut out)?;
            Some(
                out[..n]
                    .iter()
                    .map(|(k, v)| {
                        (
                            String::from_utf8_lossy(k).into_owned(),
                            String::from_utf8_lossy(v).into_owned(),
                        )
                    })
                    .collect(),
            )
        };
        let kv = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(got(""), Some(vec![]));
        assert_eq!(got(" \n"), Some(vec![]));
        assert_eq!(
            got(" xmlns:s=\"a b\"\n\txmlns:a='c\"d' "),
            Some(vec![kv("xmlns:s", "a b"), kv("xmlns:a", "c\"d")])
        );
        assert_eq!(got(" a=\"\""), Some(vec![kv("a", "")]));
        assert_eq!(
            got(" a=\"1\" b=\"2\" c=\"3\""),
            Some(vec![kv("a", "1"), kv("b", "2"), kv("c", "3")])
        );
        for other in [
            " a=\"1\" b=\"2\" c=\"3\" d=\"4\"",
            "a=\"x\"",
            " a = \"x\"",
            " a=\"x\"b=\"y\"",
            " a=x",
            " a=\"x",
            " =\"x\"",
            " a\"=\"x\"",
            " a",
        ] {
            assert_eq!(got(other), None, "{other:?}");
        }
    }

    #[test]
    fn a_lone_plain_attribute_is_recognised_and_nothing_else() {
        let got = |raw: &'static str| {
            lone_attribute(raw.as_bytes()).map(|(k, v)| {
                (
                    std::str::from_utf8(k).unwrap_or("?"),
                    std::str::from_utf8(v).unwrap_or("?"),
                )
            })
        };
        assert_eq!(
            got(" s:mustUnderstand=\"true\""),
            Some(("s:mustUnderstand", "true"))
        );
        assert_eq!(got("\n\tName='a b'"), Some(("Name", "a b")));
        assert_eq!(got(" Name=\"\""), Some(("Name", "")));
        for other in [
            "",
            "Name=\"x\"",
            " Name = \"x\"",
            " Name=\"x\" ",
            " Name=\"x\" b=\"y\"",
            " Name=\"x'",
            " Name=x",
            " Name=\"",
            " =\"x\"",
            " N\"ame=\"x\"",
        ] {
            assert_eq!(got(other), None, "{other:?}");
        }
    }
}
