//! The WS-Management selector filter (dialect
//! `http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter`, DSP0226 1.1 "Selector
//! filter dialect"): the filter carries a `wsman:SelectorSet`, and an instance of the
//! enumerated class is selected when every selector names one of its properties and
//! the property's value equals the selector's value. It is the enumeration twin of
//! addressing one instance with a SelectorSet, so it follows the same rules.
//!
//! Case: DSP0226 R5.1.2.2-1 leaves it to the service whether selector names and
//! values are compared case-sensitively (as MS-WSMV 3.1.4.1.2 summarises it, adding
//! that WinRM treats both as case-insensitive); openwsman compares values with
//! `strcmp` (`cim_verify_keys` in `src/plugins/cim/sfcc-interface.c`). Here names are
//! always case-insensitive (CIM property names are, DSP0004) and values follow
//! [`Case`], case-sensitive by default like openwsman; a WinRM persona passes
//! [`Case::Insensitive`].
//!
//! Values are compared by the property's type, not as raw text, so that the lexical
//! variants XML allows mean the same value: integers numerically (`007` = 7), reals
//! numerically, booleans as xs:boolean (`true`/`1`), date-times chronologically.
//! String values match either exactly or after trimming the surrounding whitespace a
//! pretty-printed request leaves around the selector text. An array property matches
//! when any element does; NULL never matches.
//!
//! A selector whose value is a nested endpoint reference matches a reference property
//! that names the same instance: the EPR's resource URI names the referenced class or
//! one related to it by inheritance, and its selectors equal the reference's keys (as
//! a set; DSP0226 7.1 and openwsman's `cim_opcmp`, which compares key by key).
//!
//! The `__cimnamespace` selector, which openwsman uses to name the CIM namespace
//! (`filter_create_selector` in `src/lib/wsman-filter.c`), is not a property and is
//! skipped. An empty SelectorSet selects every instance (every one of no selectors
//! holds).

use machine::cim::{Instance, Reference, Value};
use wsman::addressing::{Selector, SelectorValue};

use super::value::{
    CIM_NAMESPACE_SELECTOR, class_of_resource_uri, fold_eq, is_a, parse_bool, parse_datetime,
    parse_number, property, value_number,
};

/// A selector value owned, so that a compiled filter outlives the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectorValueOwned {
    /// A plain value.
    Text(String),
    /// A nested endpoint reference.
    Epr {
        /// Its `wsman:ResourceURI`, if any.
        resource_uri: Option<String>,
        /// Its selectors.
        selectors: Vec<(String, SelectorValueOwned)>,
    },
}

impl SelectorValueOwned {
    /// Copies a value out of a request.
    pub fn from_wsman(v: &SelectorValue<'_>) -> SelectorValueOwned {
        match v {
            SelectorValue::Text(t) => SelectorValueOwned::Text(t.to_string()),
            SelectorValue::Epr(epr) => SelectorValueOwned::Epr {
                resource_uri: epr.resource_uri.as_ref().map(|u| u.to_string()),
                selectors: owned(&epr.selectors),
            },
        }
    }
}

/// Copies a SelectorSet out of a request.
pub fn owned(selectors: &[Selector<'_>]) -> Vec<(String, SelectorValueOwned)> {
    selectors
        .iter()
        .map(|s| (s.name.to_string(), SelectorValueOwned::from_wsman(&s.value)))
        .collect()
}

/// How selector *values* compare (names are always case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Case {
    /// Exact comparison (openwsman).
    #[default]
    Sensitive,
    /// Case-insensitive comparison (WinRM, MS-WSMV 3.1.4.1.2).
    Insensitive,
}

impl Case {
    fn eq(self, a: &str, b: &str) -> bool {
        match self {
            Case::Sensitive => a == b,
            Case::Insensitive => fold_eq(a, b),
        }
    }
}

/// Whether the instance satisfies every selector.
pub fn matches(
    inst: &Instance,
    selectors: &[(String, SelectorValueOwned)],
    case: Case,
    is_subclass: &dyn Fn(&str, &str) -> bool,
) -> bool {
    selectors.iter().all(|(name, want)| {
        if fold_eq(name, CIM_NAMESPACE_SELECTOR) {
            return true;
        }
        property(inst, name).is_some_and(|p| value_matches(&p.value, want, case, is_subclass))
    })
}

fn value_matches(
    v: &Value,
    want: &SelectorValueOwned,
    case: Case,
    is_subclass: &dyn Fn(&str, &str) -> bool,
) -> bool {
    match (v, want) {
        (Value::Array(items), _) => items
            .iter()
            .any(|x| value_matches(x, want, case, is_subclass)),
        (
            Value::Ref(r),
            SelectorValueOwned::Epr {
                resource_uri,
                selectors,
            },
        ) => epr_names(r, resource_uri.as_deref(), selectors, case, is_subclass),
        (_, SelectorValueOwned::Text(t)) => text_matches(v, t, case),
        _ => false,
    }
}

/// Whether a text selector value denotes the property's value.
fn text_matches(v: &Value, t: &str, case: Case) -> bool {
    match v {
        Value::Null | Value::Array(_) | Value::Ref(_) => false,
        Value::Str(s) => case.eq(s, t) || case.eq(s, t.trim()),
        Value::Int(_) | Value::UInt(_) | Value::Real(_) => {
            match (value_number(v), parse_number(t)) {
                (Some(a), Some(b)) => a.cmp(b) == Some(std::cmp::Ordering::Equal),
                _ => false,
            }
        }
        Value::Bool(b) => parse_bool(t) == Some(*b),
        Value::DateTime(d) => match (parse_datetime(d), parse_datetime(t)) {
            (Some(a), Some(b)) => a == b,
            _ => case.eq(d, t.trim()),
        },
    }
}

/// Whether a nested EPR (resource URI and selectors) names the referenced instance.
fn epr_names(
    r: &Reference,
    resource_uri: Option<&str>,
    selectors: &[(String, SelectorValueOwned)],
    case: Case,
    is_subclass: &dyn Fn(&str, &str) -> bool,
) -> bool {
    if let Some(uri) = resource_uri {
        let class = class_of_resource_uri(uri);
        if !(is_a(is_subclass, class, &r.class) || is_a(is_subclass, &r.class, class)) {
            return false;
        }
    }
    let sel: Vec<_> = selectors
        .iter()
        .filter(|(n, _)| !fold_eq(n, CIM_NAMESPACE_SELECTOR))
        .collect();
    // Same key set: as many selectors as keys, each selector matching a key.
    sel.len() == r.keys.len()
        && sel.iter().all(|(n, v)| match v {
            SelectorValueOwned::Text(t) => r
                .keys
                .iter()
                .any(|(k, kv)| fold_eq(k, n) && (case.eq(kv, t) || case.eq(kv, t.trim()))),
            // A reference's keys are plain strings; an EPR-valued key inside a nested
            // EPR cannot name one of them.
            SelectorValueOwned::Epr { .. } => false,
        })
}
