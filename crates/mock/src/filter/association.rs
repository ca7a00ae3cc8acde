//! The CIM binding's association filter (dialect
//! `http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter`, DSP0227
//! clause 8.2 "Association queries", which MS-WSMV 3.1.4.1.13 cites for WinRM), as a
//! pure function over a set of association instances.
//!
//! DSP0227 models the two forms on the CIM operations of DSP0200 and DSP0004, and
//! openwsman implements them by calling exactly those operations
//! (`cim_enum_instances` in `src/plugins/cim/sfcc-interface.c`): AssociatedInstances
//! is `Associators(Object, AssocClass, ResultClass, Role, ResultRole)`,
//! AssociationInstances is `References(Object, ResultClass, Role)`. The rules below
//! are those operations' rules:
//!
//! **AssociatedInstances** (the instances at the other end):
//! - `AssociationClassName`: only association instances of that class or a subclass
//!   take part.
//! - `Role`: the association must refer to the Object through the reference property
//!   of that name; without Role, through any reference property.
//! - `ResultRole`: the result is what the reference property of that name refers to;
//!   without it, what any *other* reference property of the association refers to.
//! - `ResultClassName`: only results of that class or a subclass (the resolved
//!   instance's own class is tested, so a reference typed with a base class still
//!   finds a subclass instance).
//!
//! **AssociationInstances** (the association instances themselves):
//! - `ResultClassName` names the *association* class (DSP0227's AssociationInstances
//!   element has Object, ResultClassName, Role and IncludeResultProperty; Intel AMT
//!   clients send `ResultClassName=CIM_OrderedComponent` here; openwsman passes it as
//!   References' ResultClass).
//! - `Role`: as above.
//! - `AssociationClassName`, which the schema does not define for this form, is
//!   accepted with the same meaning as ResultClassName (both apply when both are
//!   given), because a client that sends it can only mean that.
//! - `ResultRole` has no meaning for References and is ignored, as openwsman ignores
//!   it.
//!
//! Both forms:
//! - `IncludeResultProperty` (repeatable) cuts each result down to the listed
//!   properties, plus the key properties so that its EPR stays complete. Names the
//!   class does not have are ignored, as DSP0200 says of PropertyList.
//! - Class and property names compare case-insensitively (DSP0004). The Object and a
//!   reference name the same instance when their classes are equal or related by
//!   inheritance (a client may address an instance through a base class's resource
//!   URI) and their key sets are equal.
//! - Elements that are present but empty (some clients send every element, empty when
//!   unset) count as absent.
//! - The Object must exist (the resolver finds it); otherwise the filter cannot be
//!   processed, rather than silently answering nothing, so that a mistyped selector
//!   shows up as a fault.
//! - Results are deduplicated (an instance reached through two associations is
//!   returned once) and come in the order of first appearance in the candidate
//!   associations, which the caller gives in a deterministic order.
//! - A reference that does not resolve (a dangling association end) is skipped.

use machine::cim::{Instance, Reference, Value};
use wsman::addressing::SelectorValue;
use wsman::body::AssociationFilter;

use super::value::{
    CIM_NAMESPACE_SELECTOR, class_of_resource_uri, fold_eq, identity, is_a, is_wildcard_class,
    object_path, project, same_instance,
};

/// Which objects the filter returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `wsmb:AssociatedInstances`: the instances at the other end of associations.
    AssociatedInstances,
    /// `wsmb:AssociationInstances`: the association instances themselves.
    AssociationInstances,
}

/// A compiled association filter, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociationQuery {
    /// Which form.
    pub mode: Mode,
    /// `wsmb:Object`, as a reference (class from its ResourceURI, keys from its
    /// selectors).
    pub object: Reference,
    /// `wsmb:AssociationClassName`.
    pub association_class: Option<String>,
    /// `wsmb:Role`.
    pub role: Option<String>,
    /// `wsmb:ResultClassName`.
    pub result_class: Option<String>,
    /// `wsmb:ResultRole`.
    pub result_role: Option<String>,
    /// `wsmb:IncludeResultProperty`, in order; empty means all properties.
    pub include_result_property: Vec<String>,
}

/// Why an association filter cannot be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssociationError {
    /// `wsmb:Object` has no ResourceURI, so its class is unknown.
    #[error("wsmb:Object has no wsman:ResourceURI")]
    ObjectWithoutResourceUri,
    /// `wsmb:Object`'s ResourceURI names no single class (`.../*`).
    #[error("wsmb:Object's ResourceURI {uri} does not name a class")]
    ObjectClassWildcard {
        /// The ResourceURI.
        uri: String,
    },
    /// A selector of `wsmb:Object` is itself an EPR; the instance model keys are
    /// plain values.
    #[error("wsmb:Object selector {name} is an endpoint reference, which is not supported")]
    ObjectSelectorIsEpr {
        /// The selector name.
        name: String,
    },
    /// No instance is named by `wsmb:Object`.
    #[error("wsmb:Object {object} does not exist")]
    ObjectNotFound {
        /// The object as a WMI-style path.
        object: String,
    },
}

/// Trimmed text, or `None` when empty.
fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl AssociationQuery {
    /// Copies an association filter out of a request.
    pub fn from_filter(f: &AssociationFilter<'_>) -> Result<AssociationQuery, AssociationError> {
        let uri = f
            .object
            .resource_uri
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .ok_or(AssociationError::ObjectWithoutResourceUri)?;
        let class = class_of_resource_uri(uri);
        if is_wildcard_class(class) {
            return Err(AssociationError::ObjectClassWildcard {
                uri: uri.to_owned(),
            });
        }
        let mut keys = Vec::new();
        for s in &f.object.selectors {
            if fold_eq(&s.name, CIM_NAMESPACE_SELECTOR) {
                continue;
            }
            match &s.value {
                // Trimmed: the text of a pretty-printed selector carries the
                // indentation around it, which is not part of the key value.
                SelectorValue::Text(t) => keys.push((s.name.to_string(), t.trim().to_owned())),
                SelectorValue::Epr(_) => {
                    return Err(AssociationError::ObjectSelectorIsEpr {
                        name: s.name.to_string(),
                    });
                }
            }
        }
        Ok(AssociationQuery {
            mode: if f.association_instances {
                Mode::AssociationInstances
            } else {
                Mode::AssociatedInstances
            },
            object: Reference {
                class: class.to_owned(),
                keys,
            },
            association_class: non_empty(f.association_class_name.as_deref()),
            role: non_empty(f.role.as_deref()),
            result_class: non_empty(f.result_class_name.as_deref()),
            result_role: non_empty(f.result_role.as_deref()),
            include_result_property: f
                .include_result_property
                .iter()
                .filter_map(|p| non_empty(Some(p)))
                .collect(),
        })
    }

    /// Runs the query over `associations` (the candidate association instances, in a
    /// deterministic order). `resolve` finds the instance a reference names (needed
    /// for the Object's existence and, for AssociatedInstances, the results);
    /// `is_subclass(child, parent)` answers class questions.
    pub fn run(
        &self,
        associations: &[Instance],
        is_subclass: &dyn Fn(&str, &str) -> bool,
        resolve: &dyn Fn(&Reference) -> Option<Instance>,
    ) -> Result<Vec<Instance>, AssociationError> {
        if resolve(&self.object).is_none() {
            return Err(AssociationError::ObjectNotFound {
                object: object_path(&self.object),
            });
        }
        let class_ok = |class: &str, wanted: &Option<String>| {
            wanted
                .as_deref()
                .is_none_or(|w| is_a(is_subclass, class, w))
        };
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for assoc in associations {
            let refs: Vec<(&str, &Reference)> = assoc
                .properties
                .iter()
                .filter_map(|p| match &p.value {
                    Value::Ref(r) => Some((p.name.as_ref(), r)),
                    _ => None,
                })
                .collect();
            // The reference properties through which this association refers to the
            // Object (in the Role, when one is given).
            let sources: Vec<usize> = refs
                .iter()
                .enumerate()
                .filter(|(_, (name, r))| {
                    self.role.as_deref().is_none_or(|role| fold_eq(name, role))
                        && same_instance(r, &self.object, is_subclass)
                })
                .map(|(i, _)| i)
                .collect();
            if sources.is_empty() {
                continue;
            }
            match self.mode {
                Mode::AssociationInstances => {
                    if !class_ok(&assoc.class, &self.result_class)
                        || !class_ok(&assoc.class, &self.association_class)
                    {
                        continue;
                    }
                    let id = identity(&assoc.reference());
                    if !seen.contains(&id) {
                        seen.push(id);
                        out.push(self.shape(assoc));
                    }
                }
                Mode::AssociatedInstances => {
                    if !class_ok(&assoc.class, &self.association_class) {
                        continue;
                    }
                    for (j, (name, r)) in refs.iter().enumerate() {
                        // The far end is any reference property other than the one
                        // (or, for a reflexive association, other than some one)
                        // through which the Object is reached.
                        if !sources.iter().any(|&i| i != j) {
                            continue;
                        }
                        if self
                            .result_role
                            .as_deref()
                            .is_some_and(|rr| !fold_eq(name, rr))
                        {
                            continue;
                        }
                        let Some(target) = resolve(r) else {
                            continue;
                        };
                        if !class_ok(&target.class, &self.result_class) {
                            continue;
                        }
                        let id = identity(&target.reference());
                        if !seen.contains(&id) {
                            seen.push(id);
                            out.push(self.shape(&target));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// A result as IncludeResultProperty shapes it.
    fn shape(&self, inst: &Instance) -> Instance {
        if self.include_result_property.is_empty() {
            inst.clone()
        } else {
            project(inst, &self.include_result_property)
        }
    }
}
