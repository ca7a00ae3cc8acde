//! Endpoint references, selectors and options: the addressing pieces shared by headers
//! (`wsa:ReplyTo`, `wsman:SelectorSet`, `wsman:OptionSet`) and bodies
//! (`ResourceCreated`, association filters, enumeration items).

use std::borrow::Cow;

use crate::error::ErrorKind;
use crate::ns;
use crate::tree::{Element, Tree};

/// A WS-Addressing endpoint reference as WS-Management uses it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Epr<'a> {
    /// `wsa:Address`.
    pub address: Cow<'a, str>,
    /// `wsa:ReferenceParameters/wsman:ResourceURI`.
    pub resource_uri: Option<Cow<'a, str>>,
    /// `wsa:ReferenceParameters/wsman:SelectorSet`.
    pub selectors: Vec<Selector<'a>>,
    /// Other reference parameters, kept as they came.
    pub other_parameters: Vec<Tree<'a>>,
}

impl<'a> Epr<'a> {
    /// An EPR to the anonymous address.
    pub fn anonymous() -> Epr<'static> {
        Epr {
            address: Cow::Borrowed(ns::ANONYMOUS),
            ..Epr::default()
        }
    }

    /// The value of the selector `name`, if it is a plain value.
    pub fn selector(&self, name: &str) -> Option<&str> {
        selector_value(&self.selectors, name)
    }

    /// The same EPR, owning its text (to keep it beyond the input it was read from).
    pub fn into_owned(self) -> Epr<'static> {
        Epr {
            address: Cow::Owned(self.address.into_owned()),
            resource_uri: self.resource_uri.map(|r| Cow::Owned(r.into_owned())),
            selectors: self
                .selectors
                .into_iter()
                .map(Selector::into_owned)
                .collect(),
            other_parameters: self
                .other_parameters
                .into_iter()
                .map(Tree::into_owned)
                .collect(),
        }
    }

    /// Reads an EPR from an element whose children are `wsa:Address` and
    /// `wsa:ReferenceParameters` (an `EndpointReference`, `ReplyTo`, `ResourceCreated`...).
    pub fn from_element(el: Element<'_, 'a>, element: &'static str) -> Result<Epr<'a>, ErrorKind> {
        let mut epr = Epr::default();
        let mut address = None;
        for c in el.children() {
            if c.is(ns::WSA, "Address") {
                address = Some(c.text_cow().clone());
            } else if c.is(ns::WSA, "ReferenceParameters") {
                for p in c.children() {
                    if p.is(ns::WSMAN, "ResourceURI") {
                        epr.resource_uri = Some(trimmed(p.text_cow()));
                    } else if p.is(ns::WSMAN, "SelectorSet") {
                        epr.selectors = Selector::set_from_element(p)?;
                    } else {
                        epr.other_parameters.push(p.to_tree());
                    }
                }
            }
        }
        epr.address = trimmed(&address.ok_or_else(|| ErrorKind::InvalidBody {
            element,
            reason: "endpoint reference without wsa:Address".into(),
        })?);
        Ok(epr)
    }
}

/// `Cow` with surrounding whitespace removed, still borrowed when it was.
pub(crate) fn trimmed<'a>(c: &Cow<'a, str>) -> Cow<'a, str> {
    match c {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
        Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
    }
}

/// One `wsman:Selector`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector<'a> {
    /// The `Name` attribute.
    pub name: Cow<'a, str>,
    /// Its value.
    pub value: SelectorValue<'a>,
}

/// A selector's value: text, or an endpoint reference (DSP0226 7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectorValue<'a> {
    /// A plain value.
    Text(Cow<'a, str>),
    /// A nested endpoint reference.
    Epr(Box<Epr<'a>>),
}

impl<'a> Selector<'a> {
    /// A selector with a text value.
    pub fn text(name: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) -> Selector<'a> {
        Selector {
            name: name.into(),
            value: SelectorValue::Text(value.into()),
        }
    }

    /// Reads the selectors of a `wsman:SelectorSet` element. Duplicates are kept: the
    /// validator reports them with the fault the specification names.
    pub fn set_from_element(el: Element<'_, 'a>) -> Result<Vec<Selector<'a>>, ErrorKind> {
        let mut out = Vec::new();
        for s in el.children().filter(|c| c.is(ns::WSMAN, "Selector")) {
            let name = s
                .attr_cow("", "Name")
                .cloned()
                .ok_or_else(|| ErrorKind::InvalidHeader {
                    name: "wsman:SelectorSet",
                    reason: "a Selector has no Name attribute".into(),
                })?;
            let value = match s.child(ns::WSA, "EndpointReference") {
                Some(epr) => {
                    SelectorValue::Epr(Box::new(Epr::from_element(epr, "wsman:Selector")?))
                }
                None => SelectorValue::Text(s.text_cow().clone()),
            };
            out.push(Selector { name, value });
        }
        Ok(out)
    }

    /// The same selector, owning its text.
    pub fn into_owned(self) -> Selector<'static> {
        Selector {
            name: Cow::Owned(self.name.into_owned()),
            value: match self.value {
                SelectorValue::Text(t) => SelectorValue::Text(Cow::Owned(t.into_owned())),
                SelectorValue::Epr(e) => SelectorValue::Epr(Box::new(e.into_owned())),
            },
        }
    }

    /// The text value, if it is one.
    pub fn as_text(&self) -> Option<&str> {
        match &self.value {
            SelectorValue::Text(t) => Some(t),
            SelectorValue::Epr(_) => None,
        }
    }
}

/// The text value of the first selector called `name`.
pub fn selector_value<'s>(selectors: &'s [Selector<'_>], name: &str) -> Option<&'s str> {
    selectors
        .iter()
        .find(|s| s.name == name)
        .and_then(Selector::as_text)
}

/// The first selector name that appears twice, if any.
pub fn duplicate_selector<'s>(selectors: &'s [Selector<'_>]) -> Option<&'s str> {
    selectors
        .iter()
        .enumerate()
        .find(|(i, s)| selectors[..*i].iter().any(|o| o.name == s.name))
        .map(|(_, s)| s.name.as_ref())
}

/// One `wsman:Option`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionItem<'a> {
    /// The `Name` attribute.
    pub name: Cow<'a, str>,
    /// The `Type` attribute (an xs type QName as written).
    pub type_: Option<Cow<'a, str>>,
    /// `MustComply="true"`.
    pub must_comply: bool,
    /// The value.
    pub value: Cow<'a, str>,
}

impl<'a> OptionItem<'a> {
    /// An option with a value.
    pub fn new(name: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) -> OptionItem<'a> {
        OptionItem {
            name: name.into(),
            type_: None,
            must_comply: false,
            value: value.into(),
        }
    }

    pub(crate) fn set_from_element(el: Element<'_, 'a>) -> Result<Vec<OptionItem<'a>>, ErrorKind> {
        let mut out = Vec::new();
        for o in el.children().filter(|c| c.is(ns::WSMAN, "Option")) {
            let name = o
                .attr_cow("", "Name")
                .cloned()
                .ok_or_else(|| ErrorKind::InvalidHeader {
                    name: "wsman:OptionSet",
                    reason: "an Option has no Name attribute".into(),
                })?;
            out.push(OptionItem {
                name,
                type_: o.attr_cow("", "Type").cloned(),
                must_comply: is_true(o.attr("", "MustComply")),
                value: o.text_cow().clone(),
            });
        }
        Ok(out)
    }
}

/// The value of the option called `name`.
pub fn option_value<'s>(options: &'s [OptionItem<'_>], name: &str) -> Option<&'s str> {
    options
        .iter()
        .find(|o| o.name == name)
        .map(|o| o.value.as_ref())
}

/// `xs:boolean` truth: `true` or `1`.
pub(crate) fn is_true(v: Option<&str>) -> bool {
    matches!(v.map(str::trim), Some("true" | "1"))
}
