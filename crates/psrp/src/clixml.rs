//! CLIXML ([MS-PSRP] 2.2.5): the XML form of PowerShell objects that PSRP messages carry.
//!
//! [`Value`] models the subset PSRP messages use: every primitive type of 2.2.5.1 and
//! complex objects (2.2.5.2) with type names, `ToString`, adapted (`<Props>`) and
//! extended (`<MS>`) properties, lists and dictionaries. [`from_str`] reads one value
//! (the root element of a message's data), resolving `<Ref>` and `<TNRef>` within the
//! caller's [`Limits`]: references are expanded into copies, so the limits count the
//! expanded nodes and depth, and a small document cannot make a huge value. [`to_string`]
//! writes a value with fresh `RefId`s and reuses type-name lists through `<TNRef>`.
//!
//! Strings are encoded as PowerShell encodes them: control characters, characters outside
//! the Basic Multilingual Plane (as two UTF-16 surrogates) and characters XML cannot
//! carry become `_xHHHH_`, and an `_` before `x` or `X` becomes `_x005F_` so text that
//! merely looks like an escape survives. [`encode_string`] and [`decode_string`] do
//! this; the reader and writer apply it to strings, property names, type names and
//! `ToString`.
//!
//! Canonical forms, so that writing then reading gives the same value: a
//! [`Value::List`] is written as an `Object[]` and a [`Value::Dict`] as a `Hashtable`,
//! and an object that is nothing but a list or dictionary with exactly those type names
//! (or none) reads back as the plain [`Value::List`] / [`Value::Dict`]. `<IE>`, `<QUE>`
//! and `<STK>` read as lists.

use std::collections::HashMap;

use base64::Engine as _;
use quick_xml::events::{BytesStart, Event};

use crate::guid::Guid;

/// Type names written for a plain [`Value::List`].
pub const LIST_TYPE_NAMES: [&str; 3] = ["System.Object[]", "System.Array", "System.Object"];
/// Type names written for a plain [`Value::Dict`].
pub const DICT_TYPE_NAMES: [&str; 2] = ["System.Collections.Hashtable", "System.Object"];

/// A PowerShell value as CLIXML carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<Nil/>`.
    Null,
    /// `<B>`.
    Bool(bool),
    /// `<C>`: a UTF-16 code unit, as a number.
    Char(u16),
    /// `<SB>`: signed byte.
    I8(i8),
    /// `<By>`: unsigned byte.
    U8(u8),
    /// `<I16>`.
    I16(i16),
    /// `<U16>`.
    U16(u16),
    /// `<I32>`.
    I32(i32),
    /// `<U32>`.
    U32(u32),
    /// `<I64>`.
    I64(i64),
    /// `<U64>`.
    U64(u64),
    /// `<Sg>`: single precision.
    Float(f32),
    /// `<Db>`: double precision.
    Double(f64),
    /// `<D>`: decimal, kept as its text.
    Decimal(String),
    /// `<S>`.
    String(String),
    /// `<DT>`: an XML Schema dateTime, kept as its text.
    DateTime(String),
    /// `<TS>`: an XML Schema duration, kept as its text.
    TimeSpan(String),
    /// `<G>`.
    Guid(Guid),
    /// `<BA>`: bytes, base64 on the wire.
    Bytes(Vec<u8>),
    /// `<Version>`: `major.minor[.build[.revision]]`, kept as its text.
    Version(String),
    /// `<URI>`.
    Uri(String),
    /// `<XD>`: an XML document, as a string.
    Xml(String),
    /// `<SBK>`: a script block's text.
    ScriptBlock(String),
    /// `<SS>`: a secure string's encrypted bytes (base64 on the wire); decrypting them
    /// needs the session key, which is not this module's business.
    SecureString(Vec<u8>),
    /// A list (`<LST>`; see the module doc for its canonical form).
    List(Vec<Value>),
    /// A dictionary (`<DCT>`), entries in document order.
    Dict(Vec<(Value, Value)>),
    /// A complex object.
    Obj(Box<Obj>),
}

/// A complex object ([MS-PSRP] 2.2.5.2).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Obj {
    /// `<TN>`: the type names, most derived first (empty when the object has none).
    pub type_names: Vec<String>,
    /// `<ToString>`.
    pub to_string: Option<String>,
    /// The object's own content, an unnamed child: a primitive (an enum's value, a
    /// string with added properties) or a container ([`Value::List`] for `<LST>`,
    /// [`Value::Dict`] for `<DCT>`).
    pub base: Option<Value>,
    /// `<Props>`: adapted properties, in order.
    pub adapted: Vec<(String, Value)>,
    /// `<MS>`: extended (member set) properties, in order.
    pub extended: Vec<(String, Value)>,
}

impl Obj {
    /// An object with these type names and nothing else yet.
    pub fn new<S: Into<String>>(type_names: impl IntoIterator<Item = S>) -> Obj {
        Obj {
            type_names: type_names.into_iter().map(Into::into).collect(),
            ..Obj::default()
        }
    }

    /// Adds an extended (`<MS>`) property.
    pub fn ext(mut self, name: &str, value: Value) -> Obj {
        self.extended.push((name.to_owned(), value));
        self
    }

    /// Adds an adapted (`<Props>`) property.
    pub fn adapted(mut self, name: &str, value: Value) -> Obj {
        self.adapted.push((name.to_owned(), value));
        self
    }

    /// Sets `<ToString>`.
    pub fn with_to_string(mut self, s: &str) -> Obj {
        self.to_string = Some(s.to_owned());
        self
    }

    /// Sets the object's own content.
    pub fn with_base(mut self, base: Value) -> Obj {
        self.base = Some(base);
        self
    }

    /// A property by name: extended first, then adapted (first match).
    pub fn prop(&self, name: &str) -> Option<&Value> {
        self.extended
            .iter()
            .chain(self.adapted.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// An enum value as PowerShell serializes one: its type names (the enum's, then
    /// `System.Enum`, `System.ValueType`, `System.Object`), its name as `ToString` and
    /// its number as an `<I32>`.
    pub fn enumeration(type_name: &str, name: &str, value: i32) -> Obj {
        Obj::new([
            type_name,
            "System.Enum",
            "System.ValueType",
            "System.Object",
        ])
        .with_to_string(name)
        .with_base(Value::I32(value))
    }
}

impl From<Obj> for Value {
    fn from(o: Obj) -> Value {
        Value::Obj(Box::new(o))
    }
}

impl Value {
    /// A string value.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// The object, if this is one.
    pub fn as_obj(&self) -> Option<&Obj> {
        match self {
            Value::Obj(o) => Some(o),
            _ => None,
        }
    }

    /// A property of the object this is (see [`Obj::prop`]).
    pub fn prop(&self, name: &str) -> Option<&Value> {
        self.as_obj().and_then(|o| o.prop(name))
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number, if this is an `<I32>` or an enum object whose content is one.
    pub fn as_i32(&self) -> Option<i32> {
        match self {
            Value::I32(i) => Some(*i),
            Value::Obj(o) => match &o.base {
                Some(Value::I32(i)) => Some(*i),
                _ => None,
            },
            _ => None,
        }
    }

    /// The items, if this is a list or an object whose content is one.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            Value::Obj(o) => match &o.base {
                Some(Value::List(l)) => Some(l),
                _ => None,
            },
            _ => None,
        }
    }

    /// The entries, if this is a dictionary or an object whose content is one.
    pub fn as_dict(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(d) => Some(d),
            Value::Obj(o) => match &o.base {
                Some(Value::Dict(d)) => Some(d),
                _ => None,
            },
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// String encoding

/// Whether XML 1.0 can carry `c` as a character (and PowerShell leaves it unescaped).
fn plain_char(c: char) -> bool {
    let u = c as u32;
    !(u < 0x20 || (0x7F..=0x9F).contains(&u) || u == 0xFFFE || u == 0xFFFF || u > 0xFFFF)
}

/// Encodes a string as PowerShell does before it goes into CLIXML (see the module doc).
/// The result still needs XML escaping of `&`, `<`, `>` and quotes.
pub fn encode_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '_' && matches!(chars.peek(), Some('x' | 'X')) {
            out.push_str("_x005F_");
        } else if plain_char(c) {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("_x{u:04X}_"));
            }
        }
    }
    out
}

/// Decodes `_xHHHH_` escapes (either case of `x` and of the hex digits). Escapes are
/// UTF-16 code units: a surrogate pair becomes one character, a lone surrogate becomes
/// U+FFFD. Text that is not a complete escape is kept as it is.
pub fn decode_string(s: &str) -> String {
    if !s.contains('_') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut units: Vec<u16> = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    let mut plain_from = 0;
    while i < b.len() {
        let unit = if b[i] == b'_'
            && b.len() >= i + 7
            && matches!(b[i + 1], b'x' | b'X')
            && b[i + 6] == b'_'
        {
            std::str::from_utf8(&b[i + 2..i + 6])
                .ok()
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u16::from_str_radix(h, 16).ok())
        } else {
            None
        };
        match unit {
            Some(u) => {
                out.push_str(&s[plain_from..i]);
                units.push(u);
                i += 7;
                plain_from = i;
                // Flush the run of escapes once the next byte does not continue it.
                if b.get(i) != Some(&b'_') {
                    flush_units(&mut units, &mut out);
                }
            }
            None => {
                if !units.is_empty() {
                    flush_units(&mut units, &mut out);
                }
                i += 1;
            }
        }
    }
    flush_units(&mut units, &mut out);
    out.push_str(&s[plain_from..]);
    out
}

fn flush_units(units: &mut Vec<u16>, out: &mut String) {
    out.extend(char::decode_utf16(units.drain(..)).map(|r| r.unwrap_or('\u{FFFD}')));
}

// ---------------------------------------------------------------------------------------
// Errors and limits

/// Bounds on what [`from_str`] builds. Every `<Ref>` counts as a copy of what it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The deepest element nesting (and value nesting after references are expanded).
    pub max_depth: usize,
    /// The most elements, counting each expanded reference's elements again.
    pub max_nodes: usize,
}

impl Default for Limits {
    /// Depth 64 (PowerShell serializes to depth 1 or 2 by default, host data a little
    /// deeper) and 200 000 nodes.
    fn default() -> Limits {
        Limits {
            max_depth: 64,
            max_nodes: 200_000,
        }
    }
}

/// Why CLIXML cannot be read, and where: `offset` is the byte offset in the text of the
/// element (or event) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CLIXML at byte {offset}: {kind}")]
pub struct Error {
    /// The byte offset.
    pub offset: usize,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// What is wrong with a CLIXML document. `Syntax`, `Doctype`, `Empty` and
/// `TrailingContent` are XML-level (the text is not one XML element); the rest are
/// CLIXML-level (well-formed XML, not a value this reader understands).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The XML is not well-formed.
    #[error("malformed XML: {message}")]
    Syntax {
        /// The XML parser's message.
        message: String,
    },
    /// A DOCTYPE (refused: entity definitions have no place in PSRP).
    #[error("a DOCTYPE is not allowed")]
    Doctype,
    /// No element at all.
    #[error("no element")]
    Empty,
    /// Something after the root element other than whitespace, comments or PIs.
    #[error("content after the root element")]
    TrailingContent,
    /// An element CLIXML does not define.
    #[error("unknown element <{name}>")]
    UnknownElement {
        /// Its name.
        name: String,
    },
    /// A known element where it cannot be.
    #[error("<{name}> cannot appear in <{parent}>")]
    Misplaced {
        /// Its name.
        name: String,
        /// Its parent's name.
        parent: String,
    },
    /// Text where only elements belong.
    #[error("text in <{element}>")]
    UnexpectedText {
        /// The element holding the text.
        element: String,
    },
    /// Child elements inside a primitive.
    #[error("<{element}> holds elements; it takes text only")]
    ChildOfPrimitive {
        /// The primitive element.
        element: String,
    },
    /// A primitive's text is not of its type.
    #[error("<{element}> holds `{text}`, which is not a valid {element}")]
    BadValue {
        /// The element.
        element: String,
        /// The text, cut to 64 characters.
        text: String,
    },
    /// A required attribute is missing.
    #[error("<{element}> needs a {attribute} attribute")]
    MissingAttribute {
        /// The element.
        element: String,
        /// The attribute.
        attribute: &'static str,
    },
    /// A dictionary entry without its `Key` or `Value` child.
    #[error("a dictionary entry has no {part}")]
    MissingEntryPart {
        /// `Key` or `Value`.
        part: &'static str,
    },
    /// A `<Ref>` to an object not (yet) defined.
    #[error("<Ref RefId=\"{ref_id}\"> names no object defined before it")]
    UnknownRef {
        /// The RefId.
        ref_id: String,
    },
    /// A `<TNRef>` to a type-name list not defined before it.
    #[error("<TNRef RefId=\"{ref_id}\"> names no type list defined before it")]
    UnknownTypeRef {
        /// The RefId.
        ref_id: String,
    },
    /// Nesting past [`Limits::max_depth`].
    #[error("nesting deeper than {limit}")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// More nodes than [`Limits::max_nodes`].
    #[error("more than {limit} nodes")]
    TooManyNodes {
        /// The limit.
        limit: usize,
    },
}

// ---------------------------------------------------------------------------------------
// Reader

/// A parsed element: the XML tree the reader builds first (bounded by the limits), then
/// turns into a [`Value`].
#[derive(Debug)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
    offset: usize,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn err(&self, kind: ErrorKind) -> Error {
        Error {
            offset: self.offset,
            kind,
        }
    }

    fn no_text(&self) -> Result<(), Error> {
        if self.text.trim().is_empty() {
            Ok(())
        } else {
            Err(self.err(ErrorKind::UnexpectedText {
                element: self.name.clone(),
            }))
        }
    }
}

fn syntax(offset: usize, e: impl std::fmt::Display) -> Error {
    Error {
        offset,
        kind: ErrorKind::Syntax {
            message: e.to_string(),
        },
    }
}

fn start_node(e: &BytesStart<'_>, offset: usize) -> Result<Node, Error> {
    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| syntax(offset, e))?;
        let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        let value = a
            .unescape_value()
            .map_err(|e| syntax(offset, e))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Node {
        name,
        attrs,
        text: String::new(),
        children: Vec::new(),
        offset,
    })
}

/// The element tree of `text`; offsets are counted from `base` (what precedes `text`).
fn parse_tree(text: &str, base: usize, limits: &Limits) -> Result<Node, Error> {
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut nodes = 0usize;
    loop {
        let offset = usize::try_from(reader.buffer_position())
            .unwrap_or(usize::MAX)
            .saturating_add(base);
        let ev = reader.read_event().map_err(|e| syntax(offset, e))?;
        let mut count_node = |stack_len: usize| -> Result<(), Error> {
            nodes += 1;
            if nodes > limits.max_nodes {
                return Err(Error {
                    offset,
                    kind: ErrorKind::TooManyNodes {
                        limit: limits.max_nodes,
                    },
                });
            }
            if stack_len + 1 > limits.max_depth {
                return Err(Error {
                    offset,
                    kind: ErrorKind::TooDeep {
                        limit: limits.max_depth,
                    },
                });
            }
            Ok(())
        };
        match ev {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(Error {
                    offset,
                    kind: ErrorKind::TrailingContent,
                });
            }
            Event::Start(e) => {
                count_node(stack.len())?;
                stack.push(start_node(&e, offset)?);
            }
            Event::Empty(e) => {
                count_node(stack.len())?;
                let node = start_node(&e, offset)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::End(_) => {
                // quick-xml checks that the end name matches the start.
                let Some(node) = stack.pop() else {
                    return Err(syntax(offset, "end tag without a start"));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                let s = std::str::from_utf8(t.as_ref()).map_err(|e| syntax(offset, e))?;
                push_text(&mut stack, s, offset, root.is_some())?;
            }
            Event::CData(t) => {
                let s = std::str::from_utf8(t.as_ref()).map_err(|e| syntax(offset, e))?;
                push_text(&mut stack, s, offset, root.is_some())?;
            }
            Event::GeneralRef(r) => {
                let resolved: String = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => {
                            return Err(syntax(
                                offset,
                                format!(
                                    "invalid character reference &{};",
                                    String::from_utf8_lossy(&r)
                                ),
                            ));
                        }
                    }
                } else {
                    match &*r {
                        b"lt" => "<",
                        b"gt" => ">",
                        b"amp" => "&",
                        b"apos" => "'",
                        b"quot" => "\"",
                        other => {
                            return Err(syntax(
                                offset,
                                format!("undefined entity &{};", String::from_utf8_lossy(other)),
                            ));
                        }
                    }
                    .to_owned()
                };
                push_text(&mut stack, &resolved, offset, root.is_some())?;
            }
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
            Event::DocType(_) => {
                return Err(Error {
                    offset,
                    kind: ErrorKind::Doctype,
                });
            }
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(syntax(
                        offset,
                        "unexpected end of input: elements are still open",
                    ));
                }
                return root.ok_or(Error {
                    offset,
                    kind: ErrorKind::Empty,
                });
            }
        }
    }
}

/// Text goes to the open element; outside every element only whitespace may stand.
fn push_text(stack: &mut [Node], s: &str, offset: usize, after_root: bool) -> Result<(), Error> {
    match stack.last_mut() {
        Some(node) => {
            node.text.push_str(s);
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None => Err(Error {
            offset,
            kind: if after_root {
                ErrorKind::TrailingContent
            } else {
                ErrorKind::UnexpectedText {
                    element: "(document)".into(),
                }
            },
        }),
    }
}

/// Reads one CLIXML value: `text` is a single root element (a message's data without
/// its BOM), optionally after an XML declaration.
///
/// # Errors
/// [`Error`], with the byte offset of the fault.
pub fn from_str(text: &str, limits: &Limits) -> Result<Value, Error> {
    // A byte order mark the caller left on is not content. Offsets stay those of `text`.
    let bom = if text.starts_with('\u{FEFF}') {
        '\u{FEFF}'.len_utf8()
    } else {
        0
    };
    let root = parse_tree(&text[bom..], bom, limits)?;
    let mut cx = Resolver {
        limits: *limits,
        objects: HashMap::new(),
        type_lists: HashMap::new(),
        nodes: 0,
    };
    cx.value(&root, 0)
}

/// Turns the element tree into a value. Objects with a `RefId` are remembered by their
/// element, and a `<Ref>` reads that element again where it stands: the copy counts
/// against the node budget and the depth limit like any other element, so references
/// cannot expand past the limits (nor loop: every expansion goes one level deeper).
struct Resolver<'a> {
    limits: Limits,
    objects: HashMap<&'a str, &'a Node>,
    type_lists: HashMap<&'a str, Vec<String>>,
    nodes: usize,
}

fn bad(node: &Node, text: &str) -> Error {
    node.err(ErrorKind::BadValue {
        element: node.name.clone(),
        text: text.chars().take(64).collect(),
    })
}

fn parse_num<T: std::str::FromStr>(node: &Node) -> Result<T, Error> {
    let t = node.text.trim();
    t.parse().map_err(|_| bad(node, t))
}

/// A floating-point number in XML Schema's spelling (`INF`, `-INF`, `NaN`; .NET also
/// writes `Infinity`), parsed straight to its own width so an `<Sg>` is not rounded twice.
fn parse_float<F: std::str::FromStr>(node: &Node, inf: F, neg_inf: F, nan: F) -> Result<F, Error> {
    let t = node.text.trim();
    match t {
        "INF" | "Infinity" => Ok(inf),
        "-INF" | "-Infinity" => Ok(neg_inf),
        "NaN" => Ok(nan),
        // Rust would also take `inf` and `nan`; XML Schema does not.
        _ if t
            .chars()
            .any(|c| c.is_ascii_alphabetic() && !matches!(c, 'e' | 'E')) =>
        {
            Err(bad(node, t))
        }
        _ => t.parse().map_err(|_| bad(node, t)),
    }
}

fn parse_base64(node: &Node) -> Result<Vec<u8>, Error> {
    let compact: String = node
        .text
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| bad(node, &node.text))
}

impl<'a> Resolver<'a> {
    fn count(&mut self, node: &Node, n: usize) -> Result<(), Error> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.limits.max_nodes {
            return Err(node.err(ErrorKind::TooManyNodes {
                limit: self.limits.max_nodes,
            }));
        }
        Ok(())
    }

    fn primitive_only(node: &Node) -> Result<(), Error> {
        if node.children.is_empty() {
            Ok(())
        } else {
            Err(node.err(ErrorKind::ChildOfPrimitive {
                element: node.name.clone(),
            }))
        }
    }

    /// The value an element denotes; `depth` is its nesting below the root.
    fn value(&mut self, node: &'a Node, depth: usize) -> Result<Value, Error> {
        if depth >= self.limits.max_depth {
            return Err(node.err(ErrorKind::TooDeep {
                limit: self.limits.max_depth,
            }));
        }
        self.count(node, 1)?;
        let name = node.name.as_str();
        if matches!(name, "Obj") {
            return self.object(node, depth);
        }
        if name == "Ref" {
            let id = node.attr("RefId").ok_or_else(|| {
                node.err(ErrorKind::MissingAttribute {
                    element: "Ref".into(),
                    attribute: "RefId",
                })
            })?;
            let Some(&target) = self.objects.get(id) else {
                return Err(node.err(ErrorKind::UnknownRef {
                    ref_id: id.to_owned(),
                }));
            };
            // The copy stands where the <Ref> stands. A <Ref> always sits inside an
            // object's member or list, so each expansion goes deeper and the depth
            // limit ends any loop a reused RefId could make.
            return self.object(target, depth);
        }
        Self::primitive_only(node)?;
        let t = node.text.as_str();
        Ok(match name {
            "Nil" => {
                node.no_text()?;
                Value::Null
            }
            "S" => Value::String(decode_string(t)),
            "B" => match t.trim() {
                "true" | "1" => Value::Bool(true),
                "false" | "0" => Value::Bool(false),
                other => return Err(bad(node, other)),
            },
            "C" => Value::Char(parse_num(node)?),
            "SB" => Value::I8(parse_num(node)?),
            "By" => Value::U8(parse_num(node)?),
            "I16" => Value::I16(parse_num(node)?),
            "U16" => Value::U16(parse_num(node)?),
            "I32" => Value::I32(parse_num(node)?),
            "U32" => Value::U32(parse_num(node)?),
            "I64" => Value::I64(parse_num(node)?),
            "U64" => Value::U64(parse_num(node)?),
            "Sg" => Value::Float(parse_float(
                node,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NAN,
            )?),
            "Db" => Value::Double(parse_float(
                node,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
            )?),
            "D" => Value::Decimal(t.trim().to_owned()),
            "DT" => Value::DateTime(t.trim().to_owned()),
            "TS" => Value::TimeSpan(t.trim().to_owned()),
            "G" => Value::Guid(t.trim().parse().map_err(|_| bad(node, t))?),
            "BA" => Value::Bytes(parse_base64(node)?),
            "SS" => Value::SecureString(parse_base64(node)?),
            "Version" => Value::Version(t.trim().to_owned()),
            "URI" => Value::Uri(decode_string(t)),
            "XD" => Value::Xml(decode_string(t)),
            "SBK" => Value::ScriptBlock(decode_string(t)),
            "TN" | "TNRef" | "ToString" | "Props" | "MS" | "LST" | "IE" | "QUE" | "STK" | "DCT"
            | "En" | "T" => {
                return Err(node.err(ErrorKind::Misplaced {
                    name: name.to_owned(),
                    parent: "(value)".into(),
                }));
            }
            other => {
                return Err(node.err(ErrorKind::UnknownElement {
                    name: other.to_owned(),
                }));
            }
        })
    }

    fn named(&mut self, parent: &'a Node, depth: usize) -> Result<Vec<(String, Value)>, Error> {
        parent.no_text()?;
        let mut out = Vec::with_capacity(parent.children.len());
        for c in &parent.children {
            let name = c.attr("N").ok_or_else(|| {
                c.err(ErrorKind::MissingAttribute {
                    element: c.name.clone(),
                    attribute: "N",
                })
            })?;
            out.push((decode_string(name), self.value(c, depth + 1)?));
        }
        Ok(out)
    }

    fn type_names(&mut self, tn: &'a Node) -> Result<Vec<String>, Error> {
        tn.no_text()?;
        let mut names = Vec::with_capacity(tn.children.len());
        for t in &tn.children {
            if t.name != "T" {
                return Err(t.err(ErrorKind::Misplaced {
                    name: t.name.clone(),
                    parent: "TN".into(),
                }));
            }
            Self::primitive_only(t)?;
            self.count(t, 1)?;
            names.push(decode_string(&t.text));
        }
        if let Some(id) = tn.attr("RefId") {
            self.type_lists.insert(id, names.clone());
        }
        Ok(names)
    }

    fn object(&mut self, node: &'a Node, depth: usize) -> Result<Value, Error> {
        node.no_text()?;
        let mut obj = Obj::default();
        for c in &node.children {
            match c.name.as_str() {
                "TN" => obj.type_names = self.type_names(c)?,
                "TNRef" => {
                    let id = c.attr("RefId").ok_or_else(|| {
                        c.err(ErrorKind::MissingAttribute {
                            element: "TNRef".into(),
                            attribute: "RefId",
                        })
                    })?;
                    let names = self.type_lists.get(id).cloned().ok_or_else(|| {
                        c.err(ErrorKind::UnknownTypeRef {
                            ref_id: id.to_owned(),
                        })
                    })?;
                    self.count(c, names.len())?;
                    obj.type_names = names;
                }
                "ToString" => {
                    Self::primitive_only(c)?;
                    obj.to_string = Some(decode_string(&c.text));
                }
                "Props" => {
                    let mut p = self.named(c, depth)?;
                    obj.adapted.append(&mut p);
                }
                "MS" => {
                    let mut p = self.named(c, depth)?;
                    obj.extended.append(&mut p);
                }
                "LST" | "IE" | "QUE" | "STK" => {
                    c.no_text()?;
                    let mut items = Vec::with_capacity(c.children.len());
                    for item in &c.children {
                        items.push(self.value(item, depth + 2)?);
                    }
                    obj.base = Some(Value::List(items));
                }
                "DCT" => {
                    c.no_text()?;
                    let mut entries = Vec::with_capacity(c.children.len());
                    for en in &c.children {
                        if en.name != "En" {
                            return Err(en.err(ErrorKind::Misplaced {
                                name: en.name.clone(),
                                parent: "DCT".into(),
                            }));
                        }
                        en.no_text()?;
                        self.count(en, 1)?;
                        let mut key = None;
                        let mut value = None;
                        for part in &en.children {
                            match part.attr("N") {
                                Some("Key") if key.is_none() => {
                                    key = Some(self.value(part, depth + 3)?)
                                }
                                Some("Value") if value.is_none() => {
                                    value = Some(self.value(part, depth + 3)?)
                                }
                                _ => {
                                    return Err(part.err(ErrorKind::Misplaced {
                                        name: part.name.clone(),
                                        parent: "En".into(),
                                    }));
                                }
                            }
                        }
                        let key =
                            key.ok_or_else(|| en.err(ErrorKind::MissingEntryPart { part: "Key" }))?;
                        let value = value
                            .ok_or_else(|| en.err(ErrorKind::MissingEntryPart { part: "Value" }))?;
                        entries.push((key, value));
                    }
                    obj.base = Some(Value::Dict(entries));
                }
                "T" | "En" => {
                    return Err(c.err(ErrorKind::Misplaced {
                        name: c.name.clone(),
                        parent: "Obj".into(),
                    }));
                }
                // Any other child is the object's own content (an enum's number, a
                // string with added members).
                _ => obj.base = Some(self.value(c, depth + 1)?),
            }
        }
        if let Some(id) = node.attr("RefId") {
            self.objects.insert(id, node);
        }
        Ok(canonical(obj))
    }
}

/// The plain list or dictionary an object stands for, if it is nothing else.
fn canonical(obj: Obj) -> Value {
    let plain = obj.to_string.is_none() && obj.adapted.is_empty() && obj.extended.is_empty();
    let names_are = |want: &[&str]| {
        obj.type_names.is_empty()
            || (obj.type_names.len() == want.len()
                && obj.type_names.iter().zip(want).all(|(a, b)| a == b))
    };
    match &obj.base {
        Some(Value::List(_)) if plain && names_are(&LIST_TYPE_NAMES) => {
            obj.base.unwrap_or(Value::Null)
        }
        Some(Value::Dict(_)) if plain && names_are(&DICT_TYPE_NAMES) => {
            obj.base.unwrap_or(Value::Null)
        }
        _ => Value::Obj(Box::new(obj)),
    }
}

// ---------------------------------------------------------------------------------------
// Writer

/// Writes `value` as one CLIXML element (no declaration, no BOM, no whitespace).
pub fn to_string(value: &Value) -> String {
    let mut w = Writer {
        out: String::new(),
        next_obj: 0,
        type_lists: HashMap::new(),
    };
    w.value(value, None);
    w.out
}

struct Writer {
    out: String,
    next_obj: u64,
    type_lists: HashMap<Vec<String>, u64>,
}

fn xml_escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

impl Writer {
    fn open(&mut self, tag: &str, name: Option<&str>) {
        self.out.push('<');
        self.out.push_str(tag);
        if let Some(n) = name {
            self.out.push_str(" N=\"");
            self.out.push_str(&xml_escape(&encode_string(n)));
            self.out.push('"');
        }
    }

    fn leaf(&mut self, tag: &str, name: Option<&str>, text: &str) {
        self.open(tag, name);
        if text.is_empty() {
            self.out.push_str(" />");
        } else {
            self.out.push('>');
            self.out.push_str(&xml_escape(text));
            self.out.push_str("</");
            self.out.push_str(tag);
            self.out.push('>');
        }
    }

    fn value(&mut self, v: &Value, name: Option<&str>) {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        match v {
            Value::Null => self.leaf("Nil", name, ""),
            Value::Bool(b) => self.leaf("B", name, if *b { "true" } else { "false" }),
            Value::Char(c) => self.leaf("C", name, &c.to_string()),
            Value::I8(i) => self.leaf("SB", name, &i.to_string()),
            Value::U8(i) => self.leaf("By", name, &i.to_string()),
            Value::I16(i) => self.leaf("I16", name, &i.to_string()),
            Value::U16(i) => self.leaf("U16", name, &i.to_string()),
            Value::I32(i) => self.leaf("I32", name, &i.to_string()),
            Value::U32(i) => self.leaf("U32", name, &i.to_string()),
            Value::I64(i) => self.leaf("I64", name, &i.to_string()),
            Value::U64(i) => self.leaf("U64", name, &i.to_string()),
            Value::Float(f) => self.leaf("Sg", name, &float_text(f64::from(*f), f.to_string())),
            Value::Double(f) => self.leaf("Db", name, &float_text(*f, f.to_string())),
            Value::Decimal(s) => self.leaf("D", name, s),
            Value::String(s) => self.leaf("S", name, &encode_string(s)),
            Value::DateTime(s) => self.leaf("DT", name, s),
            Value::TimeSpan(s) => self.leaf("TS", name, s),
            Value::Guid(g) => self.leaf("G", name, &g.to_string()),
            Value::Bytes(b) => self.leaf("BA", name, &b64(b)),
            Value::Version(s) => self.leaf("Version", name, s),
            Value::Uri(s) => self.leaf("URI", name, &encode_string(s)),
            Value::Xml(s) => self.leaf("XD", name, &encode_string(s)),
            Value::ScriptBlock(s) => self.leaf("SBK", name, &encode_string(s)),
            Value::SecureString(b) => self.leaf("SS", name, &b64(b)),
            Value::List(_) => {
                self.object_open(name, &LIST_TYPE_NAMES.map(String::from));
                self.content(v);
                self.out.push_str("</Obj>");
            }
            Value::Dict(_) => {
                self.object_open(name, &DICT_TYPE_NAMES.map(String::from));
                self.content(v);
                self.out.push_str("</Obj>");
            }
            Value::Obj(o) => {
                self.object_open(name, &o.type_names);
                if let Some(s) = &o.to_string {
                    self.leaf("ToString", None, &encode_string(s));
                }
                if let Some(b) = &o.base {
                    self.content(b);
                }
                for (tag, props) in [("Props", &o.adapted), ("MS", &o.extended)] {
                    if props.is_empty() {
                        continue;
                    }
                    self.out.push('<');
                    self.out.push_str(tag);
                    self.out.push('>');
                    for (n, pv) in props {
                        self.value(pv, Some(n));
                    }
                    self.out.push_str("</");
                    self.out.push_str(tag);
                    self.out.push('>');
                }
                self.out.push_str("</Obj>");
            }
        }
    }

    /// An object's own content: a container element, or an unnamed value.
    fn content(&mut self, v: &Value) {
        match v {
            Value::List(items) => {
                self.out.push_str("<LST>");
                for i in items {
                    self.value(i, None);
                }
                self.out.push_str("</LST>");
            }
            Value::Dict(entries) => {
                self.out.push_str("<DCT>");
                for (k, val) in entries {
                    self.out.push_str("<En>");
                    self.value(k, Some("Key"));
                    self.value(val, Some("Value"));
                    self.out.push_str("</En>");
                }
                self.out.push_str("</DCT>");
            }
            other => self.value(other, None),
        }
    }

    fn object_open(&mut self, name: Option<&str>, type_names: &[String]) {
        let id = self.next_obj;
        self.next_obj += 1;
        self.open("Obj", name);
        self.out.push_str(&format!(" RefId=\"{id}\">"));
        if type_names.is_empty() {
            return;
        }
        if let Some(tn) = self.type_lists.get(type_names) {
            self.out.push_str(&format!("<TNRef RefId=\"{tn}\" />"));
            return;
        }
        let tn = self.type_lists.len() as u64;
        self.type_lists.insert(type_names.to_vec(), tn);
        self.out.push_str(&format!("<TN RefId=\"{tn}\">"));
        for t in type_names {
            self.out.push_str("<T>");
            self.out.push_str(&xml_escape(&encode_string(t)));
            self.out.push_str("</T>");
        }
        self.out.push_str("</TN>");
    }
}

/// XML Schema's spelling of the non-finite values; Rust's shortest round-trip digits
/// otherwise.
fn float_text(f: f64, finite: String) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "INF".into()
    } else if f == f64::NEG_INFINITY {
        "-INF".into()
    } else {
        finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> Result<Value, Error> {
        from_str(s, &Limits::default())
    }

    #[test]
    fn strings_escape_controls_surrogates_and_underscore_x() {
        assert_eq!(encode_string("a\r\nb"), "a_x000D__x000A_b");
        assert_eq!(encode_string("_x0041_"), "_x005F_x0041_");
        assert_eq!(encode_string("_X"), "_x005F_X");
        assert_eq!(encode_string("_y"), "_y");
        assert_eq!(encode_string("😀"), "_xD83D__xDE00_");
        assert_eq!(decode_string("_xD83D__xDE00_"), "😀");
        assert_eq!(decode_string("a_x000D__x000A_b"), "a\r\nb");
        assert_eq!(decode_string("_x005F_x0041_"), "_x0041_");
        assert_eq!(decode_string("_xD83D_"), "\u{FFFD}");
        assert_eq!(decode_string("_x12_"), "_x12_");
        assert_eq!(decode_string("_x004g_"), "_x004g_");
        assert_eq!(decode_string("é_x0041_é"), "éAé");
    }

    #[test]
    fn primitives_read_as_their_types() {
        assert_eq!(read("<I32>-5</I32>").unwrap(), Value::I32(-5));
        assert_eq!(read("<By>254</By>").unwrap(), Value::U8(254));
        assert_eq!(read("<B>true</B>").unwrap(), Value::Bool(true));
        assert_eq!(read("<S />").unwrap(), Value::string(""));
        assert_eq!(
            read("<S>a &amp; b&#x41;</S>").unwrap(),
            Value::string("a & bA")
        );
        assert_eq!(
            read("<Db>-INF</Db>").unwrap(),
            Value::Double(f64::NEG_INFINITY)
        );
        assert_eq!(read("<BA>AQID</BA>").unwrap(), Value::Bytes(vec![1, 2, 3]));
        assert_eq!(
            read("<Version>2.3</Version>").unwrap(),
            Value::Version("2.3".into())
        );
        assert_eq!(
            read("<G>792e5b37-4505-47ef-b7d2-8711bb7affa8</G>").unwrap(),
            Value::Guid("792e5b37-4505-47ef-b7d2-8711bb7affa8".parse().unwrap())
        );
    }

    #[test]
    fn bad_input_gets_a_precise_error() {
        let kind = |s: &str| read(s).unwrap_err().kind;
        assert!(matches!(kind("<I32>x</I32>"), ErrorKind::BadValue { .. }));
        assert!(matches!(kind("<By>256</By>"), ErrorKind::BadValue { .. }));
        assert!(matches!(kind("<Db>inf</Db>"), ErrorKind::BadValue { .. }));
        assert!(matches!(kind("<Q/>"), ErrorKind::UnknownElement { .. }));
        assert!(matches!(kind("<S>a</S><S/>"), ErrorKind::TrailingContent));
        assert!(matches!(kind("<S>a</S>x"), ErrorKind::TrailingContent));
        assert!(matches!(
            kind("x<S>a</S>"),
            ErrorKind::UnexpectedText { .. }
        ));
        assert!(matches!(kind("<S>a</S>&amp;"), ErrorKind::TrailingContent));
        assert_eq!(read("\u{FEFF}<S>a</S>").unwrap(), Value::string("a"));
        assert_eq!(read("\u{FEFF}<I32>a</I32>").unwrap_err().offset, 3);
        assert!(matches!(kind(""), ErrorKind::Empty));
        assert!(matches!(kind("<S>a</B>"), ErrorKind::Syntax { .. }));
        assert!(matches!(
            kind("<Obj RefId=\"0\">x</Obj>"),
            ErrorKind::UnexpectedText { .. }
        ));
        assert!(matches!(
            kind("<S><I32>1</I32></S>"),
            ErrorKind::ChildOfPrimitive { .. }
        ));
        assert!(matches!(
            kind("<Ref RefId=\"3\"/>"),
            ErrorKind::UnknownRef { .. }
        ));
        assert!(matches!(
            kind("<Obj RefId=\"0\"><TNRef RefId=\"0\"/></Obj>"),
            ErrorKind::UnknownTypeRef { .. }
        ));
        assert!(matches!(
            kind("<Obj RefId=\"0\"><MS><S>x</S></MS></Obj>"),
            ErrorKind::MissingAttribute { attribute: "N", .. }
        ));
        assert!(matches!(
            kind("<Obj RefId=\"0\"><DCT><En><S N=\"Key\">k</S></En></DCT></Obj>"),
            ErrorKind::MissingEntryPart { part: "Value" }
        ));
        assert!(matches!(kind("<!DOCTYPE x><S/>"), ErrorKind::Doctype));
        let e = read("<Obj RefId=\"0\"><MS><I32 N=\"a\">z</I32></MS></Obj>").unwrap_err();
        assert_eq!(e.offset, 19, "the offset points at the bad element");
    }

    #[test]
    fn refs_resolve_and_type_names_are_shared() {
        let doc = r#"<Obj RefId="0"><MS>
            <Obj N="a" RefId="1"><TN RefId="0"><T>Foo</T><T>System.Object</T></TN><ToString>f</ToString></Obj>
            <Obj N="b" RefId="2"><TNRef RefId="0" /><I32>7</I32></Obj>
            <Ref N="c" RefId="1" />
        </MS></Obj>"#;
        let v = read(doc).unwrap();
        let a = v.prop("a").unwrap();
        assert_eq!(a.as_obj().unwrap().type_names, ["Foo", "System.Object"]);
        assert_eq!(
            v.prop("b").unwrap().as_obj().unwrap().type_names,
            ["Foo", "System.Object"]
        );
        assert_eq!(v.prop("b").unwrap().as_i32(), Some(7));
        assert_eq!(v.prop("c").unwrap(), a);
    }

    #[test]
    fn references_cannot_blow_up_past_the_node_limit() {
        // Each level refers to the previous one twice: 2^20 nodes from a short text.
        let mut doc = String::from("<Obj RefId=\"r\"><MS>");
        doc.push_str("<Obj N=\"x0\" RefId=\"0\"><MS><S N=\"s\">x</S></MS></Obj>");
        for i in 1..20 {
            doc.push_str(&format!(
                "<Obj N=\"x{i}\" RefId=\"{i}\"><MS><Ref N=\"a\" RefId=\"{p}\"/><Ref N=\"b\" RefId=\"{p}\"/></MS></Obj>",
                p = i - 1
            ));
        }
        doc.push_str("</MS></Obj>");
        let e = from_str(
            &doc,
            &Limits {
                max_depth: 64,
                max_nodes: 10_000,
            },
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooManyNodes { limit: 10_000 });
        let deep = "<Obj RefId=\"0\"><LST>".repeat(40);
        assert!(matches!(
            read(&deep).unwrap_err().kind,
            ErrorKind::TooDeep { limit: 64 }
        ));
    }

    #[test]
    fn a_reused_ref_id_cannot_make_references_loop() {
        // "a" is redefined to refer to "b", which refers to "a": expanding either
        // goes round until the depth limit stops it.
        let doc = r#"<Obj RefId="r"><MS>
            <Obj N="a" RefId="a" />
            <Obj N="b" RefId="b"><MS><Ref N="x" RefId="a" /></MS></Obj>
            <Obj N="a2" RefId="a"><MS><Ref N="y" RefId="b" /></MS></Obj>
            <Ref N="z" RefId="a" />
        </MS></Obj>"#;
        assert_eq!(
            read(doc).unwrap_err().kind,
            ErrorKind::TooDeep { limit: 64 }
        );
    }

    #[test]
    fn writer_reuses_type_names_and_numbers_objects() {
        let v = Value::from(
            Obj::new(["A", "System.Object"])
                .ext("x", Obj::new(["A", "System.Object"]).into())
                .ext("l", Value::List(vec![Value::I32(1)])),
        );
        let s = to_string(&v);
        assert_eq!(
            s,
            "<Obj RefId=\"0\"><TN RefId=\"0\"><T>A</T><T>System.Object</T></TN><MS>\
             <Obj N=\"x\" RefId=\"1\"><TNRef RefId=\"0\" /></Obj>\
             <Obj N=\"l\" RefId=\"2\"><TN RefId=\"1\"><T>System.Object[]</T><T>System.Array</T><T>System.Object</T></TN><LST><I32>1</I32></LST></Obj>\
             </MS></Obj>"
        );
        assert_eq!(read(&s).unwrap(), v);
    }
}
