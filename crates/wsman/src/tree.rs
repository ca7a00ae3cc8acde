//! A generic element tree for content whose shape the envelope layer does not know:
//! resource instances (CIM properties, arrays, `xsi:nil`, embedded EPRs), unknown
//! headers, fault details.
//!
//! The tree is an arena: every element of one tree lives in one `Vec`, in document
//! order, so building it from the parser costs one amortised push per element and
//! text borrows from the input wherever no reference had to be expanded.

use std::borrow::Cow;
use std::fmt;

use crate::ns;

/// A namespace-qualified name. Equality ignores the prefix: `a:To` and `wsa:To` are
/// the same name when both prefixes are bound to the same namespace.
#[derive(Clone, Default)]
pub struct Name<'a> {
    /// Namespace URI; empty when the name is in no namespace.
    pub ns: Cow<'a, str>,
    /// Local part.
    pub local: Cow<'a, str>,
    /// The prefix it was written with (a hint for writers; not part of equality).
    pub prefix: Cow<'a, str>,
}

impl<'a> Name<'a> {
    /// A name in namespace `ns` with no prefix hint.
    pub fn new(ns: impl Into<Cow<'a, str>>, local: impl Into<Cow<'a, str>>) -> Name<'a> {
        Name {
            ns: ns.into(),
            local: local.into(),
            prefix: Cow::Borrowed(""),
        }
    }

    /// The same name with a prefix hint.
    pub fn with_prefix(mut self, prefix: impl Into<Cow<'a, str>>) -> Name<'a> {
        self.prefix = prefix.into();
        self
    }

    /// Whether this is `local` in namespace `ns`.
    #[inline]
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns == ns
    }

    /// A copy that owns its strings.
    pub fn into_owned(self) -> Name<'static> {
        Name {
            ns: Cow::Owned(self.ns.into_owned()),
            local: Cow::Owned(self.local.into_owned()),
            prefix: Cow::Owned(self.prefix.into_owned()),
        }
    }
}

impl PartialEq for Name<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.local == other.local && self.ns == other.ns
    }
}
impl Eq for Name<'_> {}

impl fmt::Debug for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ns.is_empty() {
            write!(f, "{}", self.local)
        } else {
            write!(f, "{{{}}}{}", self.ns, self.local)
        }
    }
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            fmt::Debug::fmt(self, f)
        } else {
            write!(f, "{}:{}", self.prefix, self.local)
        }
    }
}

/// An attribute (namespace declarations are not kept as attributes).
#[derive(Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Its name; unprefixed attributes are in no namespace.
    pub name: Name<'a>,
    /// Its value with references expanded.
    pub value: Cow<'a, str>,
}

impl fmt::Debug for Attribute<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}={:?}", self.name, self.value)
    }
}

const NONE: u32 = u32::MAX;

fn is_blank(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_whitespace())
}

#[derive(Clone, PartialEq, Eq)]
struct Node<'a> {
    name: Name<'a>,
    text: Cow<'a, str>,
    attrs_start: u32,
    attrs_end: u32,
    parent: u32,
    first_child: u32,
    last_child: u32,
    next_sibling: u32,
}

/// An element and everything inside it. Text directly inside an element is kept as one
/// string (mixed content is concatenated; whitespace-only text beside child elements is
/// dropped, as SOAP and CIM have no mixed content).
#[derive(Clone, PartialEq, Eq)]
pub struct Tree<'a> {
    nodes: Vec<Node<'a>>,
    attrs: Vec<Attribute<'a>>,
}

impl<'a> Tree<'a> {
    /// A tree whose root is an empty element named `name`.
    pub fn new(name: Name<'a>) -> Tree<'a> {
        let mut b = TreeBuilder::with_capacity(1);
        b.start(name);
        b.end();
        b.finish()
    }

    /// A tree whose root element holds only text.
    pub fn leaf(name: Name<'a>, text: impl Into<Cow<'a, str>>) -> Tree<'a> {
        let mut b = TreeBuilder::with_capacity(1);
        b.start(name);
        b.text(text);
        b.end();
        b.finish()
    }

    /// The root element.
    pub fn root(&self) -> Element<'_, 'a> {
        Element { tree: self, id: 0 }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a tree has a root.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A copy that owns all its strings.
    pub fn into_owned(self) -> Tree<'static> {
        Tree {
            nodes: self
                .nodes
                .into_iter()
                .map(|n| Node {
                    name: n.name.into_owned(),
                    text: Cow::Owned(n.text.into_owned()),
                    attrs_start: n.attrs_start,
                    attrs_end: n.attrs_end,
                    parent: n.parent,
                    first_child: n.first_child,
                    last_child: n.last_child,
                    next_sibling: n.next_sibling,
                })
                .collect(),
            attrs: self
                .attrs
                .into_iter()
                .map(|a| Attribute {
                    name: a.name.into_owned(),
                    value: Cow::Owned(a.value.into_owned()),
                })
                .collect(),
        }
    }
}

impl fmt::Debug for Tree<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.root(), f)
    }
}

/// A borrowed view of one element of a [`Tree`].
#[derive(Clone, Copy)]
pub struct Element<'t, 'a> {
    tree: &'t Tree<'a>,
    id: u32,
}

impl<'t, 'a> Element<'t, 'a> {
    fn node(&self) -> &'t Node<'a> {
        &self.tree.nodes[self.id as usize]
    }

    /// The element's name.
    pub fn name(&self) -> &'t Name<'a> {
        &self.node().name
    }

    /// Whether the element is `local` in namespace `ns`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.node().name.is(ns, local)
    }

    /// The text directly inside the element.
    pub fn text(&self) -> &'t str {
        &self.node().text
    }

    /// The text as the `Cow` the tree holds (borrowed from the input when possible).
    pub fn text_cow(&self) -> &'t Cow<'a, str> {
        &self.node().text
    }

    /// The attributes, in document order.
    pub fn attributes(&self) -> &'t [Attribute<'a>] {
        let n = self.node();
        &self.tree.attrs[n.attrs_start as usize..n.attrs_end as usize]
    }

    /// The value of attribute `local` in namespace `ns` (`""` for unprefixed).
    pub fn attr(&self, ns: &str, local: &str) -> Option<&'t str> {
        self.attributes()
            .iter()
            .find(|a| a.name.is(ns, local))
            .map(|a| a.value.as_ref())
    }

    /// The attribute's value as the `Cow` the tree holds.
    pub fn attr_cow(&self, ns: &str, local: &str) -> Option<&'t Cow<'a, str>> {
        self.attributes()
            .iter()
            .find(|a| a.name.is(ns, local))
            .map(|a| &a.value)
    }

    /// Whether the element carries `xsi:nil="true"`.
    pub fn is_nil(&self) -> bool {
        matches!(self.attr(ns::XSI, "nil").map(str::trim), Some("true" | "1"))
    }

    /// The child elements.
    pub fn children(&self) -> Children<'t, 'a> {
        Children {
            tree: self.tree,
            next: self.node().first_child,
        }
    }

    /// The first child element named `local` in `ns`.
    pub fn child(&self, ns: &str, local: &str) -> Option<Element<'t, 'a>> {
        self.children().find(|c| c.is(ns, local))
    }

    /// The CIM property `local`: the first child with that local name, whatever its
    /// namespace (properties are in the class namespace, which varies).
    pub fn property(&self, local: &str) -> Option<Element<'t, 'a>> {
        self.children().find(|c| c.name().local == local)
    }

    /// All values of an array property (repeated elements), in order; `xsi:nil` entries
    /// are skipped.
    pub fn property_values(&self, local: &str) -> Vec<&'t str> {
        self.children()
            .filter(|c| c.name().local == local && !c.is_nil())
            .map(|c| c.text())
            .collect()
    }

    /// The element read as an endpoint reference (an embedded EPR property, a selector
    /// value), if it has a `wsa:Address` child.
    pub fn as_epr(&self) -> Option<crate::Epr<'a>> {
        self.child(ns::WSA, "Address")?;
        crate::Epr::from_element(*self, "EndpointReference").ok()
    }

    /// Whether the element has child elements.
    pub fn has_children(&self) -> bool {
        self.node().first_child != NONE
    }

    /// The parent element, if this is not the root.
    pub fn parent(&self) -> Option<Element<'t, 'a>> {
        let p = self.node().parent;
        (p != NONE).then_some(Element {
            tree: self.tree,
            id: p,
        })
    }

    /// This element and everything under it as a tree of its own.
    pub fn to_tree(&self) -> Tree<'a> {
        let mut b = TreeBuilder::with_capacity(8);
        self.copy_into(&mut b);
        b.finish()
    }

    /// Appends this element (recursively) to a builder.
    pub fn copy_into(&self, b: &mut TreeBuilder<'a>) {
        b.start(self.name().clone());
        for a in self.attributes() {
            b.attr(a.name.clone(), a.value.clone());
        }
        if !self.text().is_empty() {
            b.text(self.node().text.clone());
        }
        for c in self.children() {
            c.copy_into(b);
        }
        b.end();
    }
}

impl fmt::Debug for Element<'_, '_> {
    /// Compact: a child in its parent's namespace is named by its local name, and a
    /// leaf with only text prints as that text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_element(*self, None, f)
    }
}

fn debug_element(
    el: Element<'_, '_>,
    parent_ns: Option<&str>,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    let name = el.name();
    // Below the root the field key already names the element.
    let label = if parent_ns.is_some() {
        name.local.to_string()
    } else {
        format!("{name:?}")
    };
    if el.attributes().is_empty() && !el.has_children() && parent_ns.is_some() {
        return fmt::Debug::fmt(el.text(), f);
    }
    let mut s = f.debug_struct(&label);
    for a in el.attributes() {
        let key = if a.name.prefix.is_empty() {
            format!("@{:?}", a.name)
        } else {
            format!("@{}", a.name)
        };
        s.field(&key, &a.value);
    }
    if !el.text().is_empty() {
        s.field("#text", &el.text());
    }
    struct Child<'t, 'a>(Element<'t, 'a>, &'t str);
    impl fmt::Debug for Child<'_, '_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            debug_element(self.0, Some(self.1), f)
        }
    }
    for c in el.children() {
        let key = if c.name().ns == name.ns {
            c.name().local.to_string()
        } else {
            format!("{:?}", c.name())
        };
        s.field(&key, &Child(c, &name.ns));
    }
    s.finish()
}

/// Iterator over the child elements of an [`Element`].
pub struct Children<'t, 'a> {
    tree: &'t Tree<'a>,
    next: u32,
}

impl<'t, 'a> Iterator for Children<'t, 'a> {
    type Item = Element<'t, 'a>;
    fn next(&mut self) -> Option<Element<'t, 'a>> {
        if self.next == NONE {
            return None;
        }
        let e = Element {
            tree: self.tree,
            id: self.next,
        };
        self.next = self.tree.nodes[self.next as usize].next_sibling;
        Some(e)
    }
}

/// Builds a [`Tree`] in document order: `start`, then attributes, text and children,
/// then `end`. The parser uses it; so can anyone who writes a resource instance.
pub struct TreeBuilder<'a> {
    tree: Tree<'a>,
    open: Vec<u32>,
}

impl<'a> TreeBuilder<'a> {
    /// A builder that expects about `elements` elements.
    pub fn with_capacity(elements: usize) -> TreeBuilder<'a> {
        TreeBuilder {
            tree: Tree {
                nodes: Vec::with_capacity(elements),
                attrs: Vec::new(),
            },
            open: Vec::with_capacity(8),
        }
    }

    /// Opens an element inside the current one (or the root, first).
    pub fn start(&mut self, name: Name<'a>) -> &mut Self {
        let id = self.tree.nodes.len() as u32;
        let parent = self.open.last().copied().unwrap_or(NONE);
        let nattrs = self.tree.attrs.len() as u32;
        self.tree.nodes.push(Node {
            name,
            text: Cow::Borrowed(""),
            attrs_start: nattrs,
            attrs_end: nattrs,
            parent,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
        });
        if parent != NONE {
            let p = &mut self.tree.nodes[parent as usize];
            if p.first_child == NONE && !p.text.is_empty() && is_blank(&p.text) {
                p.text = Cow::Borrowed("");
            }
            let last = p.last_child;
            p.last_child = id;
            if last == NONE {
                p.first_child = id;
            } else {
                self.tree.nodes[last as usize].next_sibling = id;
            }
        }
        self.open.push(id);
        self
    }

    /// Adds an attribute to the element just opened (before its children).
    pub fn attr(&mut self, name: Name<'a>, value: impl Into<Cow<'a, str>>) -> &mut Self {
        self.tree.attrs.push(Attribute {
            name,
            value: value.into(),
        });
        if let Some(&id) = self.open.last() {
            self.tree.nodes[id as usize].attrs_end = self.tree.attrs.len() as u32;
        }
        self
    }

    /// Adds text to the current element. Whitespace-only text beside child elements is
    /// indentation, not content, and is dropped here rather than concatenated.
    pub fn text(&mut self, text: impl Into<Cow<'a, str>>) -> &mut Self {
        if let Some(&id) = self.open.last() {
            let node = &mut self.tree.nodes[id as usize];
            let text = text.into();
            if node.first_child != NONE && is_blank(&text) {
                return self;
            }
            if node.text.is_empty() {
                node.text = text;
            } else {
                node.text.to_mut().push_str(&text);
            }
        }
        self
    }

    /// Adds an element that holds only text.
    pub fn leaf(&mut self, name: Name<'a>, text: impl Into<Cow<'a, str>>) -> &mut Self {
        self.start(name).text(text).end()
    }

    /// Closes the current element.
    pub fn end(&mut self) -> &mut Self {
        if let Some(id) = self.open.pop() {
            let node = &mut self.tree.nodes[id as usize];
            if node.first_child != NONE && is_blank(&node.text) {
                node.text = Cow::Borrowed("");
            }
        }
        self
    }

    /// Number of elements still open.
    pub fn depth(&self) -> usize {
        self.open.len()
    }

    /// The finished tree. Elements still open are closed.
    ///
    /// # Panics
    /// If no element was started (a tree has a root).
    pub fn finish(mut self) -> Tree<'a> {
        while !self.open.is_empty() {
            self.end();
        }
        assert!(!self.tree.nodes.is_empty(), "a tree needs a root element");
        self.tree
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cim_instance_accessors() {
        let xml = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body>
          <p:CIM_Fan xmlns:p="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Fan"
                     xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                     xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing">
            <p:DeviceID>Fan.1</p:DeviceID>
            <p:OperationalStatus>2</p:OperationalStatus><p:OperationalStatus>5</p:OperationalStatus>
            <p:OperationalStatus xsi:nil="true"/>
            <p:VariableSpeed xsi:nil="true"/>
            <p:System><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></p:System>
          </p:CIM_Fan></s:Body></s:Envelope>"#;
        let env = crate::parse(xml, &crate::Limits::default()).unwrap();
        let crate::Body::Instance(tree) = &env.body else {
            panic!("{:?}", env.body)
        };
        let fan = tree.root();
        assert_eq!(fan.property("DeviceID").unwrap().text(), "Fan.1");
        assert_eq!(fan.property_values("OperationalStatus"), ["2", "5"]);
        assert!(fan.property("VariableSpeed").unwrap().is_nil());
        assert_eq!(
            fan.property("System").unwrap().as_epr().unwrap().address,
            crate::ns::ANONYMOUS
        );
        assert!(fan.property("DeviceID").unwrap().as_epr().is_none());
        let round = crate::write::write_tree(tree);
        assert!(round.contains("xsi:nil=\"true\""), "{round}");
    }
}
