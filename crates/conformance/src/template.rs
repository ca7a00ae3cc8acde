//! Template expansion in request bodies, selector values and expected values.
//!
//! `{{name}}` is replaced by a value; unknown names are an error, so a typo in a
//! suite file is reported rather than sent. Names:
//! - `to`: the target URL; `message_id`: the MessageID of this step (seeded);
//! - `uuid`: a fresh seeded `uuid:`; `cim:Class`: the CIM resource URI of `Class`;
//! - `pad:N`: `N` bytes of `x` (for size limits); `nest:N`: `N` nested `<n>` elements;
//! - any variable captured by an earlier step (`capture = { ctx = "..." }`);
//! - the resource discovery found for a role (`enumerable`, `gettable`, `keyed`,
//!   `writable`): `uri:ROLE`, `selectors:ROLE` (its `wsman:SelectorSet`, empty for a
//!   singleton), `selector_list:ROLE` (the `wsman:Selector` elements alone),
//!   `key:ROLE` / `keyval:ROLE` (its first selector's name and value), `element:ROLE`
//!   / `ns:ROLE` (the representation's root element), `repr:ROLE` (the representation
//!   as got), `first_prop:ROLE` (the name of its first leaf property that is not a
//!   selector, the one discovery's fragment probe got), `selector_rest:ROLE` (the `wsman:Selector`
//!   elements after the first, to address another instance with `key:ROLE` changed),
//!   and for `writable`: `prop:writable` (the property discovery changed),
//!   `old:writable` (its value), `new:writable` (a value the target accepts) and
//!   `repr_changed:writable` (the representation with the property set to `new`).

use std::collections::BTreeMap;

use rand::Rng as _;
use rand::rngs::StdRng;

use crate::discover::Found;

/// What templates can refer to.
#[derive(Debug)]
pub struct Scope<'a> {
    /// The target URL.
    pub to: &'a str,
    /// The current step's MessageID.
    pub message_id: &'a str,
    /// Captured variables.
    pub vars: &'a BTreeMap<String, String>,
    /// The resources discovery found, by role.
    pub roles: &'a BTreeMap<String, Found>,
}

/// The names of the role functions (`{{uri:gettable}}`).
pub const ROLE_FUNCTIONS: [&str; 14] = [
    "uri",
    "first_prop",
    "selectors",
    "selector_list",
    "selector_rest",
    "key",
    "keyval",
    "element",
    "ns",
    "repr",
    "repr_changed",
    "prop",
    "old",
    "new",
];

/// The value of a role function for `role`.
fn role_value(scope: &Scope<'_>, f: &str, role: &str) -> Result<String, String> {
    let Some(r) = scope.roles.get(role) else {
        return Err(format!(
            "discovery found no `{role}` resource (the case must require `resource:{role}`)"
        ));
    };
    let missing = |what: &str| format!("the `{role}` resource has no {what}");
    Ok(match f {
        "uri" => r.uri.clone(),
        "selectors" => crate::discover::selector_set(&r.selectors),
        "selector_list" => crate::discover::selector_list(&r.selectors),
        "selector_rest" => {
            if r.selectors.is_empty() {
                return Err(missing("selector"));
            }
            crate::discover::selector_list(&r.selectors[1..])
        }
        "key" => r
            .selectors
            .first()
            .ok_or_else(|| missing("selector"))?
            .0
            .clone(),
        "keyval" => r
            .selectors
            .first()
            .ok_or_else(|| missing("selector"))?
            .1
            .clone(),
        "first_prop" => {
            let keys: Vec<String> = r
                .selectors
                .iter()
                .map(|(k, _)| k.to_ascii_lowercase())
                .collect();
            r.properties
                .iter()
                .map(|(n, _)| n)
                .find(|n| !keys.contains(&n.to_ascii_lowercase()))
                .or_else(|| r.properties.first().map(|(n, _)| n))
                .ok_or_else(|| missing("property"))?
                .clone()
        }
        "element" => r.element.clone(),
        "ns" => r.ns.clone(),
        "repr" => r.representation.clone(),
        "repr_changed" => {
            let (Some((prop, _)), Some(new)) = (&r.property, &r.new_value) else {
                return Err(missing("writable property"));
            };
            roxmltree::Document::parse(&r.representation)
                .map(|d| {
                    crate::discover::Element::from_node(d.root_element()).to_xml(Some((prop, new)))
                })
                .map_err(|e| format!("the `{role}` representation: {e}"))?
        }
        "prop" => r
            .property
            .as_ref()
            .ok_or_else(|| missing("writable property"))?
            .0
            .clone(),
        "old" => r
            .property
            .as_ref()
            .ok_or_else(|| missing("writable property"))?
            .1
            .clone(),
        "new" => r
            .new_value
            .clone()
            .ok_or_else(|| missing("writable property"))?,
        other => return Err(format!("unknown template function `{other}:`")),
    })
}

/// A `uuid:` with a random version 4 UUID drawn from `rng`.
pub fn seeded_uuid(rng: &mut StdRng) -> String {
    let mut b: [u8; 16] = rng.random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "uuid:{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    )
}

/// The resource URI of `resource`: a class name gets the DMTF CIM prefix.
pub fn resource_uri(resource: &str) -> String {
    if resource.contains("://") {
        resource.to_owned()
    } else {
        format!("{}{resource}", wsman::ns::CIM_SCHEMA)
    }
}

/// Expands every `{{...}}` in `text`.
pub fn expand(text: &str, scope: &Scope<'_>, rng: &mut StdRng) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!("unclosed `{{{{` in template: `{}`", &rest[start..]));
        };
        let name = after[..end].trim();
        match name.split_once(':') {
            None => match name {
                "to" => out.push_str(scope.to),
                "message_id" => out.push_str(scope.message_id),
                "uuid" => out.push_str(&seeded_uuid(rng)),
                var => match scope.vars.get(var) {
                    Some(v) => out.push_str(v),
                    None => return Err(format!("unknown template variable `{var}`")),
                },
            },
            Some(("cim", class)) => out.push_str(&resource_uri(class.trim())),
            Some(("pad", n)) => {
                let n: usize = n
                    .trim()
                    .parse()
                    .map_err(|_| format!("`pad:` needs a byte count, got `{n}`"))?;
                out.extend(std::iter::repeat_n('x', n));
            }
            Some(("nest", n)) => {
                let n: usize = n
                    .trim()
                    .parse()
                    .map_err(|_| format!("`nest:` needs a depth, got `{n}`"))?;
                out.push_str(&"<n>".repeat(n));
                out.push_str(&"</n>".repeat(n));
            }
            Some((f, role)) if ROLE_FUNCTIONS.contains(&f) => {
                out.push_str(&role_value(scope, f, role.trim())?);
            }
            Some((f, _)) => return Err(format!("unknown template function `{f}:`")),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    #[test]
    fn expands_names_functions_and_variables() {
        let vars = BTreeMap::from([("ctx".to_owned(), "abc".to_owned())]);
        let scope = Scope {
            to: "http://h/wsman",
            message_id: "uuid:1",
            vars: &vars,
            roles: &BTreeMap::new(),
        };
        let mut rng = StdRng::seed_from_u64(1);
        let s = expand(
            "{{to}} {{ message_id }} {{ctx}} {{cim:CIM_Fan}} {{pad:3}}",
            &scope,
            &mut rng,
        )
        .unwrap();
        assert_eq!(
            s,
            "http://h/wsman uuid:1 abc http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Fan xxx"
        );
        assert!(
            expand("{{nope}}", &scope, &mut rng)
                .unwrap_err()
                .contains("nope")
        );
        assert!(expand("{{to", &scope, &mut rng).is_err());
    }

    #[test]
    fn role_functions_name_the_first_property_and_the_other_selectors() {
        let found = Found {
            uri: "http://x/Widget".into(),
            selectors: vec![("Id".into(), "1".into()), ("Bay".into(), "a&b".into())],
            properties: vec![("Id".into(), "1".into()), ("Label".into(), "w".into())],
            ..Found::default()
        };
        let single = Found {
            uri: "http://x/Config".into(),
            ..Found::default()
        };
        let roles = BTreeMap::from([("keyed".to_owned(), found), ("gettable".to_owned(), single)]);
        let vars = BTreeMap::new();
        let scope = Scope {
            to: "http://h/wsman",
            message_id: "uuid:1",
            vars: &vars,
            roles: &roles,
        };
        let mut rng = StdRng::seed_from_u64(1);
        let mut x = |t: &str| expand(t, &scope, &mut rng);
        // The first property that is not a selector.
        assert_eq!(x("{{first_prop:keyed}}").unwrap(), "Label");
        assert_eq!(
            x("<wsman:Selector Name=\"{{key:keyed}}\">none</wsman:Selector>{{selector_rest:keyed}}")
                .unwrap(),
            "<wsman:Selector Name=\"Id\">none</wsman:Selector>\
             <wsman:Selector Name=\"Bay\">a&amp;b</wsman:Selector>"
        );
        // A singleton has neither selectors nor, here, properties: an error, not "".
        assert!(
            x("{{selector_rest:gettable}}")
                .unwrap_err()
                .contains("selector")
        );
        assert!(
            x("{{first_prop:gettable}}")
                .unwrap_err()
                .contains("property")
        );
        assert!(
            x("{{first_prop:writable}}")
                .unwrap_err()
                .contains("resource:writable")
        );
    }

    #[test]
    fn uuids_follow_the_seed() {
        let a = seeded_uuid(&mut StdRng::seed_from_u64(7));
        let b = seeded_uuid(&mut StdRng::seed_from_u64(7));
        assert_eq!(a, b);
        assert_eq!(a.len(), "uuid:".len() + 36);
    }
}
