//! CIM instances as WS-Man XML (DSP0227 / DSP0230): one element per property in the
//! class namespace, arrays as repeated elements, `xsi:nil` for null, references as
//! embedded EPRs, datetimes wrapped in `cim:Datetime`; and back, for Put and Create.

use std::borrow::Cow;

use machine::cim::{Instance, Reference, Value};
use wsman::body::{Body, Item};
use wsman::write::{XmlWriter, write_endpoint_reference};
use wsman::{Element, Epr, Name, Selector, Tree, TreeBuilder, ns};

/// The DSP0230 common namespace (`cim:Datetime`).
pub const CIM_COMMON: &str = "http://schemas.dmtf.org/wbem/wscim/1/common";

/// How class names become resource URIs (and representation namespaces) in answers:
/// a class of `resources` is its resource URI; a class with a vendor prefix is under
/// that vendor's URI prefix; any other class is under the base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriStyle {
    /// Where classes not named otherwise live.
    pub base: BaseUri,
    /// Vendor schemas: (class-name prefix, resource URI prefix), such as Intel AMT's
    /// `AMT_*` classes under `http://intel.com/wbem/wscim/1/amt-schema/1/`.
    pub vendor_schemas: Vec<(String, String)>,
    /// Non-CIM resources: (class, full resource URI), such as WinRM's `Service` at
    /// `http://schemas.microsoft.com/wbem/wsman/1/config/service`.
    pub resources: Vec<(String, String)>,
}

/// The URI prefix of classes that are neither vendor classes nor resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseUri {
    /// `http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/<Class>`.
    Dmtf,
    /// `http://schemas.microsoft.com/wbem/wsman/1/wmi/<namespace>/<Class>`.
    Wmi(String),
}

impl UriStyle {
    /// DMTF URIs for every class.
    pub fn dmtf() -> UriStyle {
        UriStyle {
            base: BaseUri::Dmtf,
            vendor_schemas: Vec::new(),
            resources: Vec::new(),
        }
    }

    /// WMI URIs in `namespace` for every class.
    pub fn wmi(namespace: impl Into<String>) -> UriStyle {
        UriStyle {
            base: BaseUri::Wmi(namespace.into()),
            ..UriStyle::dmtf()
        }
    }

    /// The resource URI of a class.
    pub fn uri(&self, class: &str) -> String {
        if let Some((_, uri)) = self
            .resources
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(class))
        {
            return uri.clone();
        }
        if let Some((_, prefix)) = self
            .vendor_schemas
            .iter()
            .find(|(class_prefix, _)| starts_with_ignore_case(class, class_prefix))
        {
            return format!("{prefix}{class}");
        }
        match &self.base {
            BaseUri::Dmtf => format!("{}{class}", ns::CIM_SCHEMA),
            BaseUri::Wmi(namespace) => {
                format!("{}{}/{class}", ns::WMI, namespace.trim_matches('/'))
            }
        }
    }
}

/// Whether `s` starts with `prefix`, ASCII case-insensitively (CIM class names are).
pub fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Most distinct resource URIs [`static_uri`] keeps; past it, names own their URI.
const MAX_STATIC_URIS: usize = 4096;

/// `uri` as a `'static` string, kept once per distinct URI for the process's lifetime,
/// so that the many elements of the instances of one class share it instead of each
/// owning a copy. URIs come from class names (built-in, the scenario's, created ones)
/// and the scenario's URI style, so they are few; past [`MAX_STATIC_URIS`] (a client
/// creating classes without end) the URI is returned owned.
fn static_uri(uri: String) -> Cow<'static, str> {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static URIS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = URIS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(s) = set.get(uri.as_str()) {
        return Cow::Borrowed(s);
    }
    if set.len() >= MAX_STATIC_URIS {
        return Cow::Owned(uri);
    }
    let s: &'static str = Box::leak(uri.into_boxed_str());
    set.insert(s);
    Cow::Borrowed(s)
}

/// An instance as the element a Get or Pull answers with.
pub fn instance_tree(inst: &Instance, style: &UriStyle) -> Tree<'static> {
    let uri = static_uri(style.uri(&inst.class));
    // A built-in class's name can be borrowed from the schema rather than copied.
    let class = machine::cim::class(&inst.class);
    let class_name: Cow<'static, str> = match class {
        Some(c) if c.name == inst.class => Cow::Borrowed(c.name),
        _ => Cow::Owned(inst.class.clone()),
    };
    let mut b = TreeBuilder::with_capacity(inst.properties.len() * 2 + 1);
    b.start(Name::new(uri.clone(), class_name).with_prefix("p"));
    for p in &inst.properties {
        // Built-in classes' property names are borrowed from the schema already.
        let name = Name::new(uri.clone(), p.name.clone()).with_prefix("p");
        match &p.value {
            Value::Array(items) => {
                for v in items {
                    value(&mut b, name.clone(), v, style);
                }
            }
            v => value(&mut b, name, v, style),
        }
    }
    b.end();
    b.finish()
}

/// How an enumeration answers with each instance (`wsman:EnumerationMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemShape {
    /// The instance (no mode).
    Object,
    /// Its endpoint reference (EnumerateEPR).
    Epr,
    /// `wsman:Item` with both (EnumerateObjectAndEPR).
    ObjectAndEpr,
}

/// An instance as an enumeration item, written once as XML ([`Item::Xml`]): its length
/// is its size against MaxEnvelopeSize, and later Pulls copy it. The text is what
/// writing [`instance_tree`] (and [`epr`]) in the answer would give, byte for byte.
pub fn item(inst: &Instance, style: &UriStyle, shape: ItemShape) -> Item<'static> {
    let mut w = XmlWriter::item_fragment();
    match shape {
        ItemShape::Object => write_instance(&mut w, inst, style),
        ItemShape::Epr => write_endpoint_reference(
            &mut w,
            &Name::new(ns::WSA, "EndpointReference"),
            &epr(&inst.reference(), style),
        ),
        ItemShape::ObjectAndEpr => {
            w.start(&Name::new(ns::WSMAN, "Item"), &[]);
            write_instance(&mut w, inst, style);
            write_endpoint_reference(
                &mut w,
                &Name::new(ns::WSA, "EndpointReference"),
                &epr(&inst.reference(), style),
            );
            w.end();
        }
    }
    // The writer only ever appends whole `&str`s. Items may wait in an enumeration
    // context for a Pull: the shared text is allocated at its exact length.
    let text = String::from_utf8(w.into_inner()).unwrap_or_default();
    Item::Xml(text.into())
}

/// An instance as the body of a Get (or Put) answer, written once as XML
/// ([`Body::Xml`]): byte for byte what writing [`instance_tree`] in the answer gives.
pub fn instance_body(inst: &Instance, style: &UriStyle) -> Body<'static> {
    let mut w = XmlWriter::body_fragment();
    write_instance(&mut w, inst, style);
    // The writer only ever appends whole `&str`s.
    Body::Xml(String::from_utf8(w.into_inner()).unwrap_or_default().into())
}

/// Writes an instance as [`instance_tree`] would be written, without building the tree.
pub fn write_instance(w: &mut XmlWriter, inst: &Instance, style: &UriStyle) {
    let uri = static_uri(style.uri(&inst.class));
    let root = Name::new(uri.clone(), inst.class.as_str()).with_prefix("p");
    if inst
        .properties
        .iter()
        .all(|p| matches!(&p.value, Value::Array(a) if a.is_empty()))
    {
        // No child at all: the tree writer writes an empty element.
        w.leaf(&root, &[], "");
        return;
    }
    w.start(&root, &[]);
    let mut text = String::new();
    for p in &inst.properties {
        let name = Name::new(uri.as_ref(), p.name.as_ref()).with_prefix("p");
        match &p.value {
            Value::Array(items) => {
                for v in items {
                    write_value(w, &name, v, style, &mut text);
                }
            }
            v => write_value(w, &name, v, style, &mut text),
        }
    }
    w.end();
}

/// Writes one property value as the element `name`, a child of the instance element
/// (and so in its namespace: plain values go through the writer's shortcut).
fn write_value(w: &mut XmlWriter, name: &Name<'_>, v: &Value, style: &UriStyle, text: &mut String) {
    text.clear();
    let plain: Option<&str> = match v {
        Value::Str(s) => Some(s),
        Value::Int(i) => {
            if *i < 0 {
                text.push('-');
            }
            push_decimal(text, i.unsigned_abs());
            Some(text)
        }
        Value::UInt(u) => {
            push_decimal(text, *u);
            Some(text)
        }
        Value::Bool(x) => Some(if *x { "true" } else { "false" }),
        _ => None,
    };
    if let Some(t) = plain {
        w.leaf_in_parent_namespace(&name.local, t);
        return;
    }
    match v {
        // Written above.
        Value::Str(_) | Value::Int(_) | Value::UInt(_) | Value::Bool(_) => {}
        Value::Null => w.nil_leaf_in_parent_namespace(name),
        Value::Real(r) => w.leaf_in_parent_namespace(&name.local, &real(*r)),
        Value::DateTime(t) => {
            w.start(name, &[]);
            w.leaf(
                &Name::new(CIM_COMMON, "Datetime").with_prefix("cim"),
                &[],
                t,
            );
            w.end();
        }
        Value::Array(items) => {
            for item in items {
                write_value(w, name, item, style, text);
            }
        }
        Value::Ref(r) => {
            w.start(name, &[]);
            w.leaf(
                &Name::new(ns::WSA, "Address").with_prefix("a"),
                &[],
                ns::ANONYMOUS,
            );
            w.start(
                &Name::new(ns::WSA, "ReferenceParameters").with_prefix("a"),
                &[],
            );
            w.leaf(
                &Name::new(ns::WSMAN, "ResourceURI").with_prefix("w"),
                &[],
                &style.uri(&r.class),
            );
            let set = Name::new(ns::WSMAN, "SelectorSet").with_prefix("w");
            let selector = Name::new(ns::WSMAN, "Selector").with_prefix("w");
            let attr = Name::new("", "Name");
            if r.keys.is_empty() {
                w.leaf(&set, &[], "");
            } else {
                w.start(&set, &[]);
                for (k, v) in &r.keys {
                    w.leaf(&selector, &[(&attr, k)], v);
                }
                w.end();
            }
            w.end();
            w.end();
        }
    }
}

fn value(b: &mut TreeBuilder<'static>, name: Name<'static>, v: &Value, style: &UriStyle) {
    match v {
        Value::Null => {
            b.start(name);
            b.attr(Name::new(ns::XSI, "nil").with_prefix("xsi"), "true");
            b.end();
        }
        Value::Str(s) => {
            b.leaf(name, s.clone());
        }
        Value::Int(i) => {
            b.leaf(name, i.to_string());
        }
        Value::UInt(u) => {
            b.leaf(name, u.to_string());
        }
        Value::Real(r) => {
            b.leaf(name, real(*r));
        }
        Value::Bool(x) => {
            b.leaf(name, if *x { "true" } else { "false" });
        }
        Value::DateTime(t) => {
            b.start(name);
            b.leaf(
                Name::new(CIM_COMMON, "Datetime").with_prefix("cim"),
                t.clone(),
            );
            b.end();
        }
        Value::Array(items) => {
            // Nested arrays do not exist in CIM; flatten rather than lose data.
            for item in items {
                value(b, name.clone(), item, style);
            }
        }
        Value::Ref(r) => {
            b.start(name);
            epr_children(b, r, style);
            b.end();
        }
    }
}

/// Appends `n` in decimal, as `{n}` would (without the formatting machinery: an
/// enumeration writes a few hundred numbers).
fn push_decimal(text: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits only.
    text.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

fn real(r: f64) -> String {
    if r.is_finite() {
        format!("{r}")
    } else if r.is_nan() {
        "NaN".into()
    } else if r > 0.0 {
        "INF".into()
    } else {
        "-INF".into()
    }
}

fn epr_children(b: &mut TreeBuilder<'static>, r: &Reference, style: &UriStyle) {
    b.leaf(
        Name::new(ns::WSA, "Address").with_prefix("a"),
        ns::ANONYMOUS,
    );
    b.start(Name::new(ns::WSA, "ReferenceParameters").with_prefix("a"));
    b.leaf(
        Name::new(ns::WSMAN, "ResourceURI").with_prefix("w"),
        style.uri(&r.class),
    );
    b.start(Name::new(ns::WSMAN, "SelectorSet").with_prefix("w"));
    for (k, v) in &r.keys {
        b.start(Name::new(ns::WSMAN, "Selector").with_prefix("w"));
        b.attr(Name::new("", "Name"), k.clone());
        b.text(v.clone());
        b.end();
    }
    b.end();
    b.end();
}

/// The endpoint reference of an instance.
pub fn epr(r: &Reference, style: &UriStyle) -> Epr<'static> {
    Epr {
        address: Cow::Borrowed(ns::ANONYMOUS),
        resource_uri: Some(Cow::Owned(style.uri(&r.class))),
        selectors: r
            .keys
            .iter()
            .map(|(k, v)| Selector::text(k.clone(), v.clone()))
            .collect(),
        other_parameters: Vec::new(),
    }
}

/// The properties a client sent (Put, Create, fragment Put) as (name, text); `None`
/// for `xsi:nil`. Array properties repeat their name.
pub fn properties_of(el: Element<'_, '_>) -> Vec<(String, Option<String>)> {
    el.children()
        .map(|c| {
            let v = if c.is_nil() {
                None
            } else if let Some(dt) = c.child(CIM_COMMON, "Datetime") {
                Some(dt.text().trim().to_owned())
            } else {
                Some(c.text().to_owned())
            };
            (c.name().local.to_string(), v)
        })
        .collect()
}

/// The properties a client sent, grouped by name in document order: repeated elements
/// (arrays) become one entry with several values; `None` stands for `xsi:nil`.
pub fn property_groups(el: Element<'_, '_>) -> Vec<(String, Vec<Option<String>>)> {
    let mut out: Vec<(String, Vec<Option<String>>)> = Vec::new();
    for (name, value) in properties_of(el) {
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => out.push((name, vec![value])),
        }
    }
    out
}

/// Whether what a client sent for a property (see [`property_groups`]) is the value
/// the instance has, as a Put compares them: clients resend the whole instance, and
/// only what differs is a change. An array compares element by element, a null with
/// `xsi:nil` (or an empty element), a reference is never taken for a change (the
/// mock does not parse EPR-valued properties back).
pub fn same_value(current: &Value, sent: &[Option<String>]) -> bool {
    match current {
        Value::Array(items) => {
            items.len() == sent.len()
                && items
                    .iter()
                    .zip(sent)
                    .all(|(v, s)| same_value(v, std::slice::from_ref(s)))
        }
        Value::Ref(_) => true,
        Value::Null => matches!(sent, [None]) || matches!(sent, [Some(s)] if s.is_empty()),
        scalar => match (value_text(scalar), sent) {
            (Some(cur), [Some(s)]) => cur == *s || cur == s.trim(),
            _ => false,
        },
    }
}

/// The text form of a value, as a selector or a fragment compares it.
pub fn value_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null | Value::Array(_) | Value::Ref(_) => return None,
        Value::Str(s) | Value::DateTime(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Real(r) => real(*r),
        Value::Bool(b) => b.to_string(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use machine::cim::Property;
    use proptest::prelude::*;

    /// The item as the answer used to carry it: a tree (and an EPR) written in place.
    fn written_from_tree(inst: &Instance, style: &UriStyle, shape: ItemShape) -> String {
        let item = match shape {
            ItemShape::Object => Item::Object(instance_tree(inst, style)),
            ItemShape::Epr => Item::Epr(epr(&inst.reference(), style)),
            ItemShape::ObjectAndEpr => {
                Item::ObjectAndEpr(instance_tree(inst, style), epr(&inst.reference(), style))
            }
        };
        let mut w = XmlWriter::item_fragment();
        wsman::write::write_item(&mut w, &item);
        String::from_utf8(w.into_inner()).unwrap()
    }

    pub(crate) fn text(item: Item<'static>) -> String {
        match item {
            Item::Xml(x) => x.to_string(),
            other => panic!("not written once: {other:?}"),
        }
    }

    pub(crate) fn instance(class: &str, properties: Vec<(&str, Value)>) -> Instance {
        Instance {
            class: class.into(),
            keys: vec![("DeviceID".into(), "d & <1>".into())],
            properties: properties
                .into_iter()
                .map(|(n, value)| Property {
                    name: n.to_owned().into(),
                    value,
                })
                .collect(),
        }
    }

    pub(crate) fn every_value() -> Vec<(&'static str, Value)> {
        let with_keys = Reference {
            class: "CIM_ComputerSystem".into(),
            keys: vec![
                ("CreationClassName".into(), "CIM_ComputerSystem".into()),
                ("Name".into(), "a \"b\" & <c>".into()),
            ],
        };
        let keyless = Reference {
            class: "CIM_Thing".into(),
            keys: Vec::new(),
        };
        vec![
            ("Null", Value::Null),
            ("Str", Value::Str("x < y & \"z\"\r\n".into())),
            ("Empty", Value::Str(String::new())),
            ("Int", Value::Int(-42)),
            ("UInt", Value::UInt(u64::MAX)),
            ("Real", Value::Real(1.5)),
            ("Nan", Value::Real(f64::NAN)),
            ("Inf", Value::Real(f64::NEG_INFINITY)),
            ("Bool", Value::Bool(false)),
            ("When", Value::DateTime("2026-12-05T16:00:00Z".into())),
            (
                "List",
                Value::Array(vec![Value::UInt(1), Value::Null, Value::Str("s".into())]),
            ),
            ("None", Value::Array(Vec::new())),
            (
                "Nested",
                Value::Array(vec![Value::Array(vec![Value::Int(7)])]),
            ),
            ("System", Value::Ref(with_keys)),
            ("Keyless", Value::Ref(keyless)),
        ]
    }

    /// An item written once is, byte for byte, the tree written in place, for every
    /// kind of value, every shape, a schema class and a class the schema does not know,
    /// an instance with no element at all, and both URI styles.
    #[test]
    fn items_written_once_are_what_the_tree_gives() {
        let mut vendor = UriStyle::dmtf();
        vendor.vendor_schemas.push((
            "AMT_".into(),
            "http://intel.com/wbem/wscim/1/amt-schema/1/".into(),
        ));
        let instances = [
            instance("CIM_NumericSensor", every_value()),
            instance("Vendor_Unknown", every_value()),
            instance("AMT_Thing", every_value()),
            instance("CIM_Empty", Vec::new()),
            instance("CIM_OnlyEmptyArrays", vec![("A", Value::Array(Vec::new()))]),
        ];
        for style in [UriStyle::dmtf(), UriStyle::wmi("root/cimv2"), vendor] {
            for inst in &instances {
                for shape in [ItemShape::Object, ItemShape::Epr, ItemShape::ObjectAndEpr] {
                    assert_eq!(
                        text(item(inst, &style, shape)),
                        written_from_tree(inst, &style, shape),
                        "{} {shape:?} {style:?}",
                        inst.class
                    );
                }
            }
        }
    }

    /// A Get answer's body written once is the tree written in place.
    #[test]
    fn bodies_written_once_are_what_the_tree_gives() {
        let answer = |body: Body<'static>| {
            wsman::Envelope {
                header: wsman::Header::default(),
                body,
                extra: Vec::new(),
                meta: Default::default(),
            }
            .to_xml()
        };
        for inst in [
            instance("CIM_NumericSensor", every_value()),
            instance("Vendor_Unknown", every_value()),
            instance("CIM_Empty", Vec::new()),
        ] {
            for style in [UriStyle::dmtf(), UriStyle::wmi("root/cimv2")] {
                assert_eq!(
                    answer(instance_body(&inst, &style)),
                    answer(Body::Instance(instance_tree(&inst, &style))),
                    "{} {style:?}",
                    inst.class
                );
            }
        }
    }

    proptest! {
        /// Numbers are written as `{n}` writes them, at both ends of each range.
        #[test]
        fn numbers_are_written_as_display_writes_them(i in any::<i64>(), u in any::<u64>()) {
            for (value, want) in [
                (Value::Int(i), i.to_string()),
                (Value::UInt(u), u.to_string()),
                (Value::Int(i64::MIN), i64::MIN.to_string()),
                (Value::Int(0), "0".to_string()),
                (Value::UInt(u64::MAX), u64::MAX.to_string()),
            ] {
                let mut w = XmlWriter::item_fragment();
                let root = Name::new("urn:c", "C").with_prefix("p");
                w.start(&root, &[]);
                write_value(&mut w, &Name::new("urn:c", "N").with_prefix("p"), &value, &UriStyle::dmtf(), &mut String::new());
                w.end();
                let xml = String::from_utf8(w.into_inner()).unwrap();
                prop_assert!(xml.contains(&format!("<p:N>{want}</p:N>")), "{}", xml);
            }
        }

        /// Any string and integer values are written once as the tree writes them.
        #[test]
        fn any_text_is_written_once_as_the_tree_writes_it(
            strings in proptest::collection::vec(any::<String>(), 0..4),
            ints in proptest::collection::vec(any::<i64>(), 0..3),
        ) {
            let mut props: Vec<(&str, Value)> = Vec::new();
            for s in &strings {
                props.push(("S", Value::Str(s.clone())));
            }
            for i in &ints {
                props.push(("I", Value::Int(*i)));
            }
            let inst = instance("CIM_X", props);
            let style = UriStyle::dmtf();
            prop_assert_eq!(
                text(item(&inst, &style, ItemShape::ObjectAndEpr)),
                written_from_tree(&inst, &style, ItemShape::ObjectAndEpr)
            );
        }
    }
}
