//! The pull parser every typed reader is built on: quick-xml's borrowing `Reader`
//! plus namespace resolution, text merging, the size, depth and element-count limits,
//! and the refusal of DOCTYPE. Strings borrow from the input wherever no reference
//! had to be expanded.

mod common;
#[cfg(test)]
pub(crate) use common::{BODIES, DELEGATED};

use std::borrow::Cow;
use std::collections::HashSet;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::Limits;
use crate::error::{Error, ErrorKind};
use crate::ns;
use crate::tree::{Attribute, Name, Tree, TreeBuilder};

/// A start tag with its name resolved and its attributes (namespace declarations are
/// applied, not kept).
#[derive(Debug)]
pub(crate) struct Start<'a> {
    pub name: Name<'a>,
    pub attrs: Vec<Attribute<'a>>,
    /// Byte offset of the `<`.
    pub pos: usize,
}

impl<'a> Start<'a> {
    pub fn attr(&self, ns: &str, local: &str) -> Option<&Cow<'a, str>> {
        self.attrs
            .iter()
            .find(|a| a.name.is(ns, local))
            .map(|a| &a.value)
    }
}

/// What the cursor yields.
#[derive(Debug)]
pub(crate) enum Ev<'a> {
    Start(Start<'a>),
    End,
    Text(Cow<'a, str>),
    Eof,
}

pub(crate) struct Cursor<'a> {
    input: &'a str,
    base: usize,
    reader: Reader<&'a [u8]>,
    /// In-scope namespace bindings, innermost last.
    bindings: Vec<(&'a str, Cow<'a, str>)>,
    /// Each open element: its name as written (to check its end tag) and
    /// `bindings.len()` before its declarations.
    open: Vec<(&'a str, u32)>,
    /// Pop the bindings of the element closed by the last End on the next call, so that
    /// a QName in its text can still be resolved after `read_text`.
    pending_pop: bool,
    /// The last Start was an empty-element tag: yield its End next.
    pending_end: bool,
    peeked: Option<(Event<'a>, usize)>,
    elements: usize,
    limits: Limits,
    /// Elements open around the slice this cursor reads (a body read after its header).
    base_depth: usize,
    /// Bumped whenever `bindings` changes, to invalidate `last_resolved`.
    generation: u32,
    /// The last two prefixes resolved (an element's and its attributes' alternate),
    /// the newer first.
    last_resolved: [Option<(&'a str, Cow<'a, str>, u32)>; 2],
    /// Scratch for one start tag's attributes (prefix, local, value), kept to reuse
    /// its allocation.
    raw_attrs: Vec<(&'a str, &'a str, Cow<'a, str>)>,
    /// Element names already checked as QNames, by a hash of their bytes: the same
    /// names recur (siblings, repeated instances), and comparing is cheaper than
    /// checking again. Each entry is the name and its colon's position (0: none).
    /// Empty until this cursor has read [`QNAME_CACHE_AFTER`] elements (up to
    /// `cache_from` in the element count): a small document (a request, an item)
    /// checks its few names directly rather than clear a cache first.
    qnames: Option<Box<[(&'a str, u32); QNAME_CACHE]>>,
    cache_from: usize,
    /// The MessageID, once read, for errors raised after it.
    pub message_id: Option<Cow<'a, str>>,
}

/// A quick-xml reader over `text` configured as every cursor reads.
fn reader_over(text: &str) -> Reader<&[u8]> {
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    // End tags are checked here against `open`, which is cheaper than quick-xml
    // copying every start name into a buffer of its own.
    config.check_end_names = false;
    config.check_comments = true;
    reader
}

impl<'a> Cursor<'a> {
    pub fn new(input: &'a str, limits: &Limits) -> Cursor<'a> {
        Cursor::at(input, 0, input.len(), Vec::with_capacity(8), limits)
    }

    /// A cursor over `input[start..end]` with `bindings` already in scope.
    pub fn at(
        input: &'a str,
        start: usize,
        end: usize,
        bindings: Vec<(&'a str, Cow<'a, str>)>,
        limits: &Limits,
    ) -> Cursor<'a> {
        Cursor {
            input,
            base: start,
            reader: reader_over(&input[start..end]),
            bindings,
            open: Vec::with_capacity(16),
            pending_pop: false,
            pending_end: false,
            peeked: None,
            elements: 0,
            limits: *limits,
            generation: 0,
            last_resolved: [None, None],
            raw_attrs: Vec::new(),
            qnames: None,
            cache_from: QNAME_CACHE_AFTER,
            base_depth: 0,
            message_id: None,
        }
    }

    /// Hands reading to a fresh quick-xml reader at `at` (an offset of the input), to
    /// the input's end: the common path (`common.rs`) reads a request's header with
    /// its own lexer and the general code goes on from there. That reader knows of no
    /// element opened before `at`, so it lets end tags through unmatched; `open`
    /// checks every end tag anyway ([`Cursor::check_end`]).
    ///
    /// `None` (and nothing changed) where the text at `at` starts with U+FEFF: a new
    /// reader takes that for a byte order mark and drops it, where it is text here.
    pub(crate) fn resync(&mut self, at: usize) -> Option<()> {
        let rest = self.input.get(at..)?;
        if rest.starts_with('\u{feff}') {
            return None;
        }
        let mut reader = reader_over(rest);
        reader.config_mut().allow_unmatched_ends = true;
        self.reader = reader;
        self.base = at;
        Some(())
    }

    /// Continues the limits of an enclosing read: `depth` elements are open around the
    /// slice and `elements` were already counted.
    pub fn continue_limits(&mut self, depth: usize, elements: usize) {
        self.base_depth = depth;
        self.elements = elements;
        self.cache_from = elements.saturating_add(QNAME_CACHE_AFTER);
    }

    /// Elements counted so far.
    pub fn elements(&self) -> usize {
        self.elements
    }

    pub fn depth(&self) -> usize {
        self.open.len()
    }

    pub fn bindings(&self) -> &[(&'a str, Cow<'a, str>)] {
        &self.bindings
    }

    /// Current byte offset in the whole input.
    pub fn pos(&self) -> usize {
        self.base + self.reader.buffer_position() as usize
    }

    pub fn err(&self, kind: ErrorKind, offset: usize) -> Error {
        Error {
            kind,
            offset,
            message_id: self.message_id.as_deref().map(str::to_owned),
        }
    }

    /// A sub-slice of the input as `&'a str`, found by address: every borrowed slice
    /// quick-xml hands out lies inside the input and on ASCII delimiters, so this is a
    /// bounds-checked re-slice rather than a second UTF-8 validation.
    fn sub(&self, bytes: &[u8]) -> Option<&'a str> {
        let start = (bytes.as_ptr() as usize).checked_sub(self.input.as_ptr() as usize)?;
        self.input.get(start..start.checked_add(bytes.len())?)
    }

    fn cow(&self, bytes: Cow<'_, [u8]>) -> Result<Cow<'a, str>, ErrorKind> {
        if let Some(s) = self.sub(&bytes) {
            return Ok(Cow::Borrowed(s));
        }
        String::from_utf8(bytes.into_owned())
            .map(Cow::Owned)
            .map_err(|_| ErrorKind::Encoding("invalid UTF-8".into()))
    }

    fn syntax(&self, e: quick_xml::Error) -> Error {
        let pos = self.base + self.reader.error_position() as usize;
        let kind = match e {
            quick_xml::Error::Encoding(e) => ErrorKind::Encoding(e.to_string()),
            e => ErrorKind::Syntax(e.to_string()),
        };
        self.err(kind, pos)
    }

    fn raw(&mut self) -> Result<(Event<'a>, usize), Error> {
        if let Some(p) = self.peeked.take() {
            return Ok(p);
        }
        let pos = self.pos();
        match self.reader.read_event() {
            Ok(ev) => Ok((ev, pos)),
            Err(e) => Err(self.syntax(e)),
        }
    }

    /// The next raw event for the tree-building loop: no peeked event can be pending
    /// there, and the error (large) is built out of line.
    #[inline(always)]
    fn raw_fast(&mut self) -> Result<(Event<'a>, usize), Box<Error>> {
        if self.peeked.is_some() {
            return self.raw().map_err(Box::new);
        }
        let pos = self.pos();
        match self.reader.read_event() {
            Ok(ev) => Ok((ev, pos)),
            Err(e) => Err(self.syntax_boxed(e)),
        }
    }

    #[cold]
    fn syntax_boxed(&self, e: quick_xml::Error) -> Box<Error> {
        Box::new(self.syntax(e))
    }

    /// The next event. Comments and processing instructions are skipped; adjacent text,
    /// references and CDATA are merged into one `Text`.
    pub fn next(&mut self) -> Result<Ev<'a>, Error> {
        if self.pending_pop {
            self.pending_pop = false;
            self.close();
        }
        if self.pending_end {
            self.pending_end = false;
            self.pending_pop = true;
            return Ok(Ev::End);
        }
        loop {
            let (ev, pos) = self.raw()?;
            match ev {
                Event::Start(e) => return self.start(&e, pos, false).map(Ev::Start),
                Event::Empty(e) => return self.start(&e, pos, true).map(Ev::Start),
                Event::End(e) => {
                    self.check_end(e.name().as_ref(), pos)?;
                    self.pending_pop = true;
                    return Ok(Ev::End);
                }
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    return self.text(ev, pos).map(Ev::Text);
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Decl(d) => {
                    if pos != self.base || self.base != 0 {
                        return Err(self.err(
                            ErrorKind::Syntax("XML declaration not at the start".into()),
                            pos,
                        ));
                    }
                    if let Some(enc) = d.encoding() {
                        let enc =
                            enc.map_err(|e| self.err(ErrorKind::Syntax(e.to_string()), pos))?;
                        let enc = String::from_utf8_lossy(&enc).to_ascii_lowercase();
                        if !matches!(
                            enc.as_str(),
                            "utf-8" | "utf8" | "utf-16" | "utf-16le" | "utf-16be" | "us-ascii"
                        ) {
                            return Err(self.err(
                                ErrorKind::Encoding(format!(
                                    "declared encoding `{enc}` is not supported (UTF-8 or UTF-16)"
                                )),
                                pos,
                            ));
                        }
                    }
                }
                Event::DocType(_) => return Err(self.err(ErrorKind::Doctype, pos)),
                Event::Eof => {
                    if !self.open.is_empty() {
                        return Err(self.err(
                            ErrorKind::Syntax(
                                "unexpected end of input: elements are still open".into(),
                            ),
                            pos,
                        ));
                    }
                    return Ok(Ev::Eof);
                }
            }
        }
    }

    fn text(&mut self, first: Event<'a>, pos: usize) -> Result<Cow<'a, str>, Error> {
        let mut acc = self.piece(first, pos)?;
        loop {
            let (ev, p) = self.raw()?;
            match ev {
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    let piece = self.piece(ev, p)?;
                    if acc.is_empty() {
                        acc = piece;
                    } else if !piece.is_empty() {
                        acc.to_mut().push_str(&piece);
                    }
                }
                Event::Comment(_) | Event::PI(_) => {}
                other => {
                    self.peeked = Some((other, p));
                    return Ok(acc);
                }
            }
        }
    }

    fn piece(&self, ev: Event<'a>, pos: usize) -> Result<Cow<'a, str>, Error> {
        match ev {
            Event::Text(t) => self.cow(t.into_inner()).map_err(|k| self.err(k, pos)),
            Event::CData(t) => self.cow(t.into_inner()).map_err(|k| self.err(k, pos)),
            Event::GeneralRef(r) => {
                if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => Ok(Cow::Owned(c.to_string())),
                        Ok(None) | Err(_) => Err(self.err(
                            ErrorKind::Syntax(format!(
                                "invalid character reference &{};",
                                String::from_utf8_lossy(&r)
                            )),
                            pos,
                        )),
                    }
                } else {
                    let s: &'static str = match &*r {
                        b"lt" => "<",
                        b"gt" => ">",
                        b"amp" => "&",
                        b"apos" => "'",
                        b"quot" => "\"",
                        other => {
                            return Err(self.err(
                                ErrorKind::Syntax(format!(
                                    "undefined entity &{};",
                                    String::from_utf8_lossy(other)
                                )),
                                pos,
                            ));
                        }
                    };
                    Ok(Cow::Borrowed(s))
                }
            }
            _ => Ok(Cow::Borrowed("")),
        }
    }

    fn start(&mut self, e: &BytesStart<'a>, pos: usize, empty: bool) -> Result<Start<'a>, Error> {
        let (name, attrs) = self.open(e, pos)?;
        if empty {
            self.pending_end = true;
        }
        Ok(Start { name, attrs, pos })
    }

    /// Enters an element named `qname` (as written): limits and the open stack.
    #[inline(always)]
    fn enter(&mut self, qname: &'a str, pos: usize) -> Result<(), Error> {
        if self.open.len() + self.base_depth >= self.limits.max_depth {
            return Err(self.err(
                ErrorKind::TooDeep {
                    limit: self.limits.max_depth,
                },
                pos,
            ));
        }
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(self.err(
                ErrorKind::TooManyElements {
                    limit: self.limits.max_elements,
                },
                pos,
            ));
        }
        self.open.push((qname, self.bindings.len() as u32));
        Ok(())
    }

    #[inline(always)]
    fn qname(&self, e: &BytesStart<'a>, pos: usize) -> Result<&'a str, Error> {
        self.sub(e.name().as_ref())
            .ok_or_else(|| self.err(ErrorKind::Syntax("element name".into()), pos))
    }

    /// `split_qname`, remembering names that passed.
    #[inline(always)]
    fn split_cached(&mut self, qname: &'a str) -> Option<(&'a str, &'a str)> {
        if self.qnames.is_none() {
            if self.elements < self.cache_from {
                return split_qname(qname);
            }
            self.qnames = Some(Box::new([("", 0); QNAME_CACHE]));
        }
        let qnames = self.qnames.as_mut()?;
        let b = qname.as_bytes();
        let (&first, &last) = (b.first()?, b.last()?);
        let slot = (b.len() ^ (usize::from(first) << 1) ^ (usize::from(last) << 3)) % QNAME_CACHE;
        let (known, colon) = qnames[slot];
        if same(known.as_bytes(), b) {
            let colon = colon as usize;
            return Some(if colon == 0 {
                ("", qname)
            } else {
                (&qname[..colon], &qname[colon + 1..])
            });
        }
        let (prefix, local) = split_qname(qname)?;
        qnames[slot] = (qname, prefix.len() as u32);
        Some((prefix, local))
    }

    /// The element's resolved name.
    #[inline(always)]
    fn plain_name(&mut self, qname: &'a str, pos: usize) -> Result<Name<'a>, Error> {
        let Some((prefix, local)) = self.split_cached(qname) else {
            return Err(self.err(
                ErrorKind::Syntax(format!("`{qname}` is not a valid element name")),
                pos,
            ));
        };
        match self.resolve_cached(prefix) {
            Some(ns) => Ok(Name {
                ns,
                local: Cow::Borrowed(local),
                prefix: Cow::Borrowed(prefix),
            }),
            None => Err(self.err(
                ErrorKind::UnboundPrefix {
                    prefix: prefix.to_owned(),
                },
                pos,
            )),
        }
    }

    /// Enters an element: limits, namespace declarations, name and attribute resolution.
    fn open(
        &mut self,
        e: &BytesStart<'a>,
        pos: usize,
    ) -> Result<(Name<'a>, Vec<Attribute<'a>>), Error> {
        let qname = self.qname(e, pos)?;
        self.enter(qname, pos)?;
        if e.len() == qname.len() {
            return Ok((self.plain_name(qname, pos)?, Vec::new()));
        }
        self.open_with_attributes(e, qname, pos)
    }

    fn open_with_attributes(
        &mut self,
        e: &BytesStart<'a>,
        qname: &'a str,
        pos: usize,
    ) -> Result<(Name<'a>, Vec<Attribute<'a>>), Error> {
        // Declarations first: they scope over the element's own name. The attributes
        // wait in a buffer the cursor keeps, so that no element allocates one.
        let mut raw_attrs = std::mem::take(&mut self.raw_attrs);
        raw_attrs.clear();
        let result = self.read_attributes(e, qname, pos, &mut raw_attrs);
        raw_attrs.clear();
        self.raw_attrs = raw_attrs;
        result
    }

    fn read_attributes(
        &mut self,
        e: &BytesStart<'a>,
        qname: &'a str,
        pos: usize,
        raw_attrs: &mut Vec<(&'a str, &'a str, Cow<'a, str>)>,
    ) -> Result<(Name<'a>, Vec<Attribute<'a>>), Error> {
        // quick-xml's duplicate check allocates per element; duplicates are caught below
        // on expanded names, and repeated declarations here. Both checks scan what came
        // before while an element has few attributes (no allocation, the usual case)
        // and switch to a hash set past `LINEAR_ATTRS`, so that a hostile element costs
        // time linear in its attributes, which `max_attributes` bounds anyway.
        let mark = self.bindings.len();
        let mut count = 0usize;
        let mut declared_set: Option<HashSet<&'a str>> = None;
        for a in e.attributes().with_checks(false) {
            count += 1;
            if count > self.limits.max_attributes {
                return Err(self.err(
                    ErrorKind::TooManyAttributes {
                        limit: self.limits.max_attributes,
                    },
                    pos,
                ));
            }
            let a =
                a.map_err(|err| self.err(ErrorKind::Syntax(format!("attribute: {err}")), pos))?;
            let key = self
                .sub(a.key.as_ref())
                .ok_or_else(|| self.err(ErrorKind::Syntax("attribute name".into()), pos))?;
            let value = self.attr_value(&a.value).map_err(|k| self.err(k, pos))?;
            let prefix = if key == "xmlns" {
                ""
            } else if let Some(prefix) = key.strip_prefix("xmlns:") {
                if value.is_empty() {
                    return Err(self.err(
                        ErrorKind::Syntax(format!("prefix `{prefix}` bound to an empty namespace")),
                        pos,
                    ));
                }
                prefix
            } else {
                let Some((prefix, local)) = split_qname(key) else {
                    return Err(self.err(
                        ErrorKind::Syntax(format!("`{key}` is not a valid attribute name")),
                        pos,
                    ));
                };
                raw_attrs.push((prefix, local, value));
                continue;
            };
            let mine = &self.bindings[mark..];
            let again = match &mut declared_set {
                Some(set) => !set.insert(prefix),
                None if mine.len() < LINEAR_ATTRS => mine.iter().any(|(p, _)| *p == prefix),
                None => {
                    let mut set: HashSet<&'a str> = mine.iter().map(|(p, _)| *p).collect();
                    let again = !set.insert(prefix);
                    declared_set = Some(set);
                    again
                }
            };
            if again {
                let what = if prefix.is_empty() {
                    "xmlns declared twice".to_owned()
                } else {
                    format!("xmlns:{prefix} declared twice")
                };
                return Err(self.err(ErrorKind::Syntax(what), pos));
            }
            self.bindings.push((prefix, value));
            self.generation = self.generation.wrapping_add(1);
        }
        let name = self.plain_name(qname, pos)?;
        let mut attrs = Vec::with_capacity(raw_attrs.len());
        let mut seen: Option<HashSet<(Cow<'a, str>, Cow<'a, str>)>> = None;
        for (prefix, local, value) in raw_attrs.drain(..) {
            let ns = if prefix.is_empty() {
                Cow::Borrowed("")
            } else {
                self.resolve_element(prefix).map_err(|k| self.err(k, pos))?
            };
            let again = match &mut seen {
                Some(set) => !set.insert((ns.clone(), Cow::Borrowed(local))),
                None if attrs.len() < LINEAR_ATTRS => attrs
                    .iter()
                    .any(|a: &Attribute<'a>| a.name.local == local && a.name.ns == ns),
                None => {
                    let mut set: HashSet<(Cow<'a, str>, Cow<'a, str>)> = attrs
                        .iter()
                        .map(|a: &Attribute<'a>| (a.name.ns.clone(), a.name.local.clone()))
                        .collect();
                    let again = !set.insert((ns.clone(), Cow::Borrowed(local)));
                    seen = Some(set);
                    again
                }
            };
            if again {
                return Err(self.err(
                    ErrorKind::Syntax(format!(
                        "attribute `{local}` appears twice in namespace `{ns}`"
                    )),
                    pos,
                ));
            }
            attrs.push(Attribute {
                name: Name {
                    ns,
                    local: Cow::Borrowed(local),
                    prefix: Cow::Borrowed(prefix),
                },
                value,
            });
        }
        Ok((name, attrs))
    }

    /// Checks that an end tag closes the innermost open element.
    #[inline(always)]
    fn check_end(&self, name: &[u8], pos: usize) -> Result<(), Error> {
        match self.open.last() {
            Some((open, _)) if same(open.as_bytes(), name) => Ok(()),
            Some((open, _)) => Err(self.err(
                ErrorKind::Syntax(format!(
                    "end tag </{}> does not match <{open}>",
                    String::from_utf8_lossy(name)
                )),
                pos,
            )),
            None => Err(self.err(
                ErrorKind::Syntax(format!(
                    "end tag </{}> with no open element",
                    String::from_utf8_lossy(name)
                )),
                pos,
            )),
        }
    }

    /// Leaves an element: its declarations go out of scope.
    #[inline]
    fn close(&mut self) {
        if let Some((_, mark)) = self.open.pop() {
            let mark = mark as usize;
            if mark != self.bindings.len() {
                self.bindings.truncate(mark);
                self.generation = self.generation.wrapping_add(1);
            }
        }
    }

    fn attr_value(&self, raw: &[u8]) -> Result<Cow<'a, str>, ErrorKind> {
        let s = match self.sub(raw) {
            Some(s) => s,
            None => {
                let owned = std::str::from_utf8(raw)
                    .map_err(|_| ErrorKind::Encoding("invalid UTF-8".into()))?;
                return quick_xml::escape::unescape(owned)
                    .map(|c| Cow::Owned(c.into_owned()))
                    .map_err(|e| ErrorKind::Syntax(format!("attribute value: {e}")));
            }
        };
        if s.contains('<') {
            return Err(ErrorKind::Syntax("`<` in an attribute value".into()));
        }
        if s.contains('&') {
            quick_xml::escape::unescape(s)
                .map(|c| Cow::Owned(c.into_owned()))
                .map_err(|e| ErrorKind::Syntax(format!("attribute value: {e}")))
        } else {
            Ok(Cow::Borrowed(s))
        }
    }

    /// The namespace bound to `prefix` in the current scope (`""`: the default
    /// namespace, empty if none is declared).
    pub fn resolve(&self, prefix: &str) -> Option<Cow<'a, str>> {
        if prefix == "xml" {
            return Some(Cow::Borrowed(ns::XML));
        }
        for (p, uri) in self.bindings.iter().rev() {
            if *p == prefix {
                return Some(uri.clone());
            }
        }
        if prefix.is_empty() {
            Some(Cow::Borrowed(""))
        } else {
            None
        }
    }

    #[inline(always)]
    fn resolve_element(&mut self, prefix: &'a str) -> Result<Cow<'a, str>, ErrorKind> {
        match self.resolve_cached(prefix) {
            Some(ns) => Ok(ns),
            None => Err(ErrorKind::UnboundPrefix {
                prefix: prefix.to_owned(),
            }),
        }
    }

    #[inline(always)]
    fn resolve_cached(&mut self, prefix: &'a str) -> Option<Cow<'a, str>> {
        // Siblings almost always share a prefix: remember the last answer until the
        // bindings change.
        for (p, ns, generation) in self.last_resolved.iter().flatten() {
            if *generation == self.generation && same(p.as_bytes(), prefix.as_bytes()) {
                return Some(ns.clone());
            }
        }
        let ns = self.resolve(prefix)?;
        self.last_resolved[1] = self.last_resolved[0].take();
        self.last_resolved[0] = Some((prefix, ns.clone(), self.generation));
        Some(ns)
    }

    /// Resolves a QName written in text (`w:InvalidSelectors`) in the current scope.
    pub fn resolve_qname(&self, text: &'a str) -> Option<Name<'a>> {
        let text = text.trim();
        let (prefix, local) = match text.split_once(':') {
            Some((p, l)) => (p, l),
            None => ("", text),
        };
        let ns = self.resolve(prefix)?;
        Some(Name {
            ns,
            local: Cow::Borrowed(local),
            prefix: Cow::Borrowed(prefix),
        })
    }

    /// After a Start: the next child element, or `None` at the parent's End. Text between
    /// children is skipped.
    pub fn next_child(&mut self) -> Result<Option<Start<'a>>, Error> {
        loop {
            match self.next()? {
                Ev::Start(s) => return Ok(Some(s)),
                Ev::End => return Ok(None),
                Ev::Text(_) => {}
                Ev::Eof => {
                    return Err(self.err(
                        ErrorKind::Syntax("unexpected end of input".into()),
                        self.pos(),
                    ));
                }
            }
        }
    }

    /// After a Start: its text content up to its End. A child element is an error.
    pub fn read_text(&mut self, element: &'static str) -> Result<Cow<'a, str>, Error> {
        let mut acc = Cow::Borrowed("");
        loop {
            match self.next()? {
                Ev::Text(t) => {
                    if acc.is_empty() {
                        acc = t;
                    } else {
                        acc.to_mut().push_str(&t);
                    }
                }
                Ev::End => return Ok(acc),
                Ev::Start(s) => {
                    return Err(self.err(
                        ErrorKind::InvalidBody {
                            element,
                            reason: format!("unexpected child element {}", s.name),
                        },
                        s.pos,
                    ));
                }
                Ev::Eof => {
                    return Err(self.err(
                        ErrorKind::Syntax("unexpected end of input".into()),
                        self.pos(),
                    ));
                }
            }
        }
    }

    /// After a Start: skips everything up to its End.
    pub fn skip(&mut self) -> Result<(), Error> {
        let target = self.depth() - 1;
        loop {
            match self.next()? {
                Ev::End if self.depth() - 1 == target => return Ok(()),
                Ev::Eof => {
                    return Err(self.err(
                        ErrorKind::Syntax("unexpected end of input".into()),
                        self.pos(),
                    ));
                }
                _ => {}
            }
        }
    }

    /// After a Start: reads the element and everything in it into a tree.
    pub fn read_tree(&mut self, start: Start<'a>) -> Result<Tree<'a>, Error> {
        let mut b = TreeBuilder::with_capacity(4);
        self.read_into(start, &mut b)?;
        Ok(b.finish())
    }

    /// After a Start: appends the element and everything in it to a builder.
    ///
    /// This is the hot path for resource instances, so it drives quick-xml directly
    /// instead of going through [`Cursor::next`]: no intermediate events, and text goes
    /// straight into the builder (which concatenates pieces split by references).
    pub fn read_into(&mut self, start: Start<'a>, b: &mut TreeBuilder<'a>) -> Result<(), Error> {
        let stop = b.depth();
        push_start(b, start);
        if self.pending_end {
            self.pending_end = false;
            self.pending_pop = true;
            b.end();
            return Ok(());
        }
        let mut depth = 1usize;
        loop {
            let (ev, pos) = self.raw_fast().map_err(|e| *e)?;
            match ev {
                Event::Start(e) => {
                    let qname = self.qname(&e, pos)?;
                    self.enter(qname, pos)?;
                    if e.len() == qname.len() {
                        b.start(self.plain_name(qname, pos)?);
                    } else {
                        let (name, attrs) = self.open_with_attributes(&e, qname, pos)?;
                        b.start(name);
                        for a in attrs {
                            b.attr(a.name, a.value);
                        }
                    }
                    depth += 1;
                }
                Event::Empty(e) => {
                    let (name, attrs) = self.open(&e, pos)?;
                    b.start(name);
                    for a in attrs {
                        b.attr(a.name, a.value);
                    }
                    b.end();
                    self.close();
                }
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    let piece = self.piece(ev, pos)?;
                    b.text(piece);
                }
                Event::End(e) => {
                    self.check_end(e.name().as_ref(), pos)?;
                    depth -= 1;
                    b.end();
                    if depth == 0 {
                        // The caller's element: its scope closes on the next call, as
                        // after any End from `next`.
                        self.pending_pop = true;
                        debug_assert_eq!(b.depth(), stop);
                        return Ok(());
                    }
                    self.close();
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Decl(_) => {
                    return Err(self.err(
                        ErrorKind::Syntax("XML declaration not at the start".into()),
                        pos,
                    ));
                }
                Event::DocType(_) => return Err(self.err(ErrorKind::Doctype, pos)),
                Event::Eof => {
                    return Err(self.err(ErrorKind::Syntax("unexpected end of input".into()), pos));
                }
            }
        }
    }

    /// After the root's End: only whitespace, comments and PIs may follow.
    pub fn finish(&mut self) -> Result<(), Error> {
        loop {
            let pos = self.pos();
            match self.next()? {
                Ev::Eof => return Ok(()),
                Ev::Text(t) if t.trim().is_empty() => {}
                _ => {
                    return Err(self.err(
                        ErrorKind::Syntax("content after the root element".into()),
                        pos,
                    ));
                }
            }
        }
    }

    /// After a Start: the raw inner XML up to the matching End, without parsing it (the
    /// tokenizer still checks that tags balance). `prefix`/`local` are the tag as written.
    pub fn raw_inner(&mut self, prefix: &str, local: &str) -> Result<(usize, usize), Error> {
        if self.pending_end {
            let at = self.pos();
            self.pending_end = false;
            self.pending_pop = true;
            return Ok((at, at));
        }
        let qname = if prefix.is_empty() {
            local.to_owned()
        } else {
            format!("{prefix}:{local}")
        };
        let span = self
            .reader
            .read_to_end(quick_xml::name::QName(qname.as_bytes()))
            .map_err(|e| self.syntax(e))?;
        self.pending_pop = true;
        Ok((
            self.base + span.start as usize,
            self.base + span.end as usize,
        ))
    }

    /// Like [`Cursor::resolve_qname`] for text that had to be copied.
    pub fn resolve_qname_owned(&self, text: &str) -> Option<Name<'a>> {
        let text = text.trim();
        let (prefix, local) = match text.split_once(':') {
            Some((p, l)) => (p, l),
            None => ("", text),
        };
        let ns = self.resolve(prefix)?;
        Some(Name {
            ns,
            local: Cow::Owned(local.to_owned()),
            prefix: Cow::Owned(prefix.to_owned()),
        })
    }
}

/// Up to this many attributes (or namespace declarations) on one element, duplicates
/// are found by scanning the earlier ones; past it, by a hash set.
const LINEAR_ATTRS: usize = 16;

/// Slots in the cursor's cache of checked element names.
const QNAME_CACHE: usize = 64;

/// Elements a cursor reads before it starts its cache of checked names.
const QNAME_CACHE_AFTER: usize = 8;

/// Byte classes for [`split_qname`]: 0 not allowed, 1 allowed anywhere in a part,
/// 2 allowed but not first in a part, 3 the colon. Non-ASCII bytes are let through: the
/// tokenizer has already delimited the name.
const NAME_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = match b as u8 {
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | 0x80..=0xFF => 1,
            b'0'..=b'9' | b'-' | b'.' => 2,
            b':' => 3,
            _ => 0,
        };
        b += 1;
    }
    t
};

/// Splits `prefix:local` (no colon: empty prefix), in one pass that also checks the
/// name is a QName: at most one colon, neither part empty, no character that cannot be
/// in an XML name.
#[inline]
fn split_qname(q: &str) -> Option<(&str, &str)> {
    let bytes = q.as_bytes();
    let mut colon = usize::MAX;
    let mut part_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match NAME_CLASS[b as usize] {
            1 => {}
            2 if i != part_start => {}
            3 if colon == usize::MAX && i != 0 => {
                colon = i;
                part_start = i + 1;
            }
            _ => return None,
        }
    }
    if bytes.is_empty() || part_start == bytes.len() {
        return None;
    }
    if colon == usize::MAX {
        Some(("", q))
    } else {
        Some((&q[..colon], &q[colon + 1..]))
    }
}

/// Byte equality for short names, eight bytes at a time, without a call into `memcmp`.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut ac = a.chunks_exact(8);
    let mut bc = b.chunks_exact(8);
    for (x, y) in (&mut ac).zip(&mut bc) {
        if u64::from_ne_bytes(x.try_into().unwrap_or([0; 8]))
            != u64::from_ne_bytes(y.try_into().unwrap_or([1; 8]))
        {
            return false;
        }
    }
    let (x, y) = (ac.remainder(), bc.remainder());
    let mut i = 0;
    while i < x.len() {
        if x[i] != y[i] {
            return false;
        }
        i += 1;
    }
    true
}

fn push_start<'a>(b: &mut TreeBuilder<'a>, s: Start<'a>) {
    b.start(s.name);
    for a in s.attrs {
        b.attr(a.name, a.value);
    }
}

#[cfg(test)]
mod tests {
    use super::{LINEAR_ATTRS, split_qname};
    use crate::{Body, ErrorKind, FaultKind, Limits, parse};

    fn syntax_error(xml: &str) -> bool {
        matches!(
            parse(xml, &Limits::default()).map_err(|e| e.kind),
            Err(ErrorKind::Syntax(_))
        )
    }

    /// Past the elements a cursor reads before it keeps checked names, the names are
    /// still checked: a repeated good name passes, a bad one (never kept) fails.
    #[test]
    fn names_are_checked_before_and_after_the_cache_starts() {
        let env = |items: &str| {
            format!(
                "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\">\
                 <s:Body><x:Big xmlns:x=\"urn:x\">{items}</x:Big></s:Body></s:Envelope>"
            )
        };
        let many = "<x:i>1</x:i>".repeat(super::QNAME_CACHE_AFTER * 2);
        assert!(parse(&env(&many), &Limits::default()).is_ok());
        for bad in ["<x:1i/>", "<x:i:j/>", "<1x:i/>"] {
            assert!(
                syntax_error(&env(&format!("{many}{bad}"))),
                "{bad} after the cache"
            );
            assert!(syntax_error(&env(bad)), "{bad} before the cache");
        }
    }

    #[test]
    fn qnames() {
        assert_eq!(split_qname("a:b"), Some(("a", "b")));
        assert_eq!(split_qname("b"), Some(("", "b")));
        assert_eq!(split_qname("_x.y-1"), Some(("", "_x.y-1")));
        for bad in [
            "", ":a", "a:", "a:b:c", "1a", "a:1b", "-a", "a=b", "a\"", "a:.b",
        ] {
            assert_eq!(split_qname(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn duplicate_attributes_and_declarations_are_refused() {
        let env = |inner: &str| {
            format!(
                r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>{inner}</s:Header><s:Body/></s:Envelope>"#
            )
        };
        assert!(syntax_error(&env(r#"<h a="1" a="2"/>"#)));
        assert!(syntax_error(&env(
            r#"<h xmlns:p="urn:a" xmlns:p="urn:b"/>"#
        )));
        assert!(syntax_error(&env(r#"<h xmlns="urn:a" xmlns="urn:b"/>"#)));
        assert!(syntax_error(&env(
            r#"<h p:x="1" q:x="2" xmlns:p="urn:n" xmlns:q="urn:n"/>"#
        )));
        assert!(!syntax_error(&env(r#"<h p:x="1" x="2" xmlns:p="urn:n"/>"#)));
    }

    /// A Get request whose body is one element `p:X` carrying `attrs` (written as is).
    fn get_with_body_attrs(attrs: &str) -> String {
        format!(
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:To>http://h/wsman</a:To><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:MessageID>uuid:1</a:MessageID><w:ResourceURI>urn:r</w:ResourceURI></s:Header><s:Body><p:X xmlns:p="urn:x"{attrs}/></s:Body></s:Envelope>"#
        )
    }

    /// ` a0="" a1="" …`: `n` distinct empty attributes.
    fn empty_attrs(n: usize) -> String {
        (0..n).map(|i| format!(r#" a{i}="""#)).collect()
    }

    fn body_attr_count(xml: &str, limits: &Limits) -> usize {
        match parse(xml, limits) {
            Ok(env) => match env.body {
                Body::Instance(t) => t.root().attributes().len(),
                other => panic!("expected an instance body, got {other:?}"),
            },
            Err(e) => panic!("expected the envelope to parse: {e}"),
        }
    }

    #[test]
    fn an_element_with_45000_attributes_is_refused_by_the_cap() {
        let xml = get_with_body_attrs(&empty_attrs(45_000));
        let limits = Limits::default();
        // Well under the size limit: the attribute cap is what refuses it.
        assert!(xml.len() < limits.max_bytes, "{} bytes", xml.len());
        let e = parse(&xml, &limits).expect_err("45,000 attributes must be refused");
        assert_eq!(e.kind, ErrorKind::TooManyAttributes { limit: 256 });
        assert_eq!(e.kind.name(), "too_many_attributes");
        // Related to the request: the MessageID was read before the body.
        assert_eq!(e.message_id.as_deref(), Some("uuid:1"));
        let fault = e.fault();
        assert_eq!(fault.kind, FaultKind::EncodingLimit);
        assert_eq!(fault.detail, Some("ServiceEnvelopeLimit"));
        // The same family as the element-count limit.
        assert_eq!(
            ErrorKind::TooManyElements { limit: 1 }.fault().kind,
            fault.kind
        );
    }

    #[test]
    fn the_cap_counts_declarations_and_is_inclusive() {
        let limits = Limits::default();
        // `xmlns:p` plus 255 attributes: exactly the cap.
        let at_cap = get_with_body_attrs(&empty_attrs(limits.max_attributes - 1));
        assert_eq!(body_attr_count(&at_cap, &limits), limits.max_attributes - 1);
        let over = get_with_body_attrs(&empty_attrs(limits.max_attributes));
        assert_eq!(
            parse(&over, &limits).map(|_| ()).map_err(|e| e.kind),
            Err(ErrorKind::TooManyAttributes {
                limit: limits.max_attributes
            })
        );
        // Declarations count too: 256 of them on one header element are over the cap.
        let decls: String = (0..limits.max_attributes)
            .map(|i| format!(r#" xmlns:q{i}="urn:q{i}""#))
            .collect();
        assert_eq!(
            parse(&get_with_body_attrs(&decls), &limits)
                .map(|_| ())
                .map_err(|e| e.kind),
            Err(ErrorKind::TooManyAttributes {
                limit: limits.max_attributes
            })
        );
    }

    #[test]
    fn duplicates_past_the_linear_scan_are_still_found() {
        let limits = Limits {
            max_attributes: 10_000,
            ..Limits::default()
        };
        let mut attrs = empty_attrs(6_000);
        assert_eq!(
            body_attr_count(&get_with_body_attrs(&attrs), &limits),
            6_000
        );
        // Attribute 5,000 repeats attribute 17's name.
        attrs = (0..6_000)
            .map(|i| format!(r#" a{}="""#, if i == 5_000 { 17 } else { i }))
            .collect();
        let e = parse(&get_with_body_attrs(&attrs), &limits).expect_err("a17 appears twice");
        assert!(
            matches!(&e.kind, ErrorKind::Syntax(m) if m.contains("`a17` appears twice")),
            "{e}"
        );
        // Duplicates are by expanded name: `p:a3` and `q:a3` with p and q bound to one
        // namespace, many attributes in.
        let mut attrs = empty_attrs(100);
        attrs.push_str(r#" xmlns:q="urn:x" p:a3="1" q:a3="2""#);
        let e = parse(&get_with_body_attrs(&attrs), &limits).expect_err("p:a3 = q:a3");
        assert!(
            matches!(&e.kind, ErrorKind::Syntax(m) if m.contains("`a3` appears twice in namespace `urn:x`")),
            "{e}"
        );
        // ... while a local name shared across namespaces is not a duplicate.
        let mut attrs = empty_attrs(100);
        attrs.push_str(r#" p:a3="1""#);
        assert_eq!(body_attr_count(&get_with_body_attrs(&attrs), &limits), 101);
    }

    #[test]
    fn repeated_declarations_past_the_linear_scan_are_still_found() {
        let limits = Limits::default();
        let n = 4 * LINEAR_ATTRS;
        let mut decls: String = (0..n).map(|i| format!(r#" xmlns:q{i}="urn:q""#)).collect();
        assert_eq!(body_attr_count(&get_with_body_attrs(&decls), &limits), 0);
        decls.push_str(r#" xmlns:q3="urn:other""#);
        let e = parse(&get_with_body_attrs(&decls), &limits).expect_err("q3 declared twice");
        assert_eq!(e.kind, ErrorKind::Syntax("xmlns:q3 declared twice".into()));
        // The default namespace, declared twice after many prefixes.
        let mut decls: String = (0..n).map(|i| format!(r#" xmlns:q{i}="urn:q""#)).collect();
        decls.push_str(r#" xmlns="urn:d" xmlns="urn:e""#);
        let e = parse(&get_with_body_attrs(&decls), &limits).expect_err("xmlns twice");
        assert_eq!(e.kind, ErrorKind::Syntax("xmlns declared twice".into()));
        // A prefix declared among many resolves the element's own attribute.
        let mut decls: String = (0..n).map(|i| format!(r#" xmlns:q{i}="urn:q""#)).collect();
        decls.push_str(r#" q7:b="1""#);
        assert_eq!(body_attr_count(&get_with_body_attrs(&decls), &limits), 1);
    }

    #[test]
    fn a_raised_cap_accepts_45000_attributes() {
        let limits = Limits {
            max_attributes: 50_000,
            ..Limits::default()
        };
        let xml = get_with_body_attrs(&empty_attrs(45_000));
        assert_eq!(body_attr_count(&xml, &limits), 45_000);
    }
}
