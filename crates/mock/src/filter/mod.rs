//! Enumeration filters: what the mock does with the `wsen:Filter` / `wsman:Filter` of
//! an Enumerate request. [`compile`] turns the request's filter into an owned
//! [`Compiled`] value (it goes into the enumeration context and outlives the request);
//! [`Compiled::select`] and [`Compiled::apply`] then pick and shape instances.
//!
//! Dialects offered ([`OFFERED`]): the DSP0226 selector filter ([`selector`]), WQL
//! ([`wql`], as WinRM offers it) and the DSP0227 association filter
//! ([`association`]). XPath (WS-Enumeration's default when `Dialect` is absent) and
//! CQL (DSP0202) are not offered: a filter in either, or in any unknown dialect, is
//! [`FilterError::DialectUnavailable`] (`wsen:FilterDialectRequestedUnavailable`,
//! whose fault detail should list [`OFFERED`]). A filter in an offered dialect that
//! cannot be used is [`FilterError::CannotProcess`] (`wsen:CannotProcessFilter`),
//! with a reason written for the client to read.
//!
//! Architecture invariant: this module is pure (no IO, no clock, no access to the
//! machine). Class hierarchy and reference resolution come in through [`Env`], so the
//! same code can run against any instance set, including a test's fixtures.

pub mod association;
pub mod selector;
pub(crate) mod value;
pub mod wql;

use machine::cim::{Instance, Reference};
use wsman::body::{Filter, FilterContent};
use wsman::fault::FaultKind;
use wsman::ns::dialect;

pub use association::{AssociationError, AssociationQuery, Mode};
pub use selector::{Case, SelectorValueOwned};
pub use value::class_of_resource_uri;
pub use wql::{ClassMismatch, EvalError, Query, WqlError};

/// The filter dialects the mock offers, in the order a fault detail lists them.
pub const OFFERED: &[&str] = &[dialect::SELECTOR, dialect::WQL, dialect::ASSOCIATION];

/// A filter ready to run.
#[derive(Debug, Clone, PartialEq)]
pub enum Compiled {
    /// No filter: every instance, unchanged.
    All,
    /// A WQL query.
    Wql(Query),
    /// A selector filter: (name, value) pairs that must all hold.
    Selector(Vec<(String, SelectorValueOwned)>),
    /// An association filter.
    Association(AssociationQuery),
}

/// Why a filter cannot be used. Each variant maps to one enumeration fault
/// ([`FilterError::fault_kind`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// The dialect is not offered (XPath, CQL, anything unknown):
    /// `wsen:FilterDialectRequestedUnavailable`.
    #[error("filter dialect {dialect} is not supported; supported dialects: {}", OFFERED.join(", "))]
    DialectUnavailable {
        /// The dialect URI requested (XPath when the Dialect attribute was absent).
        dialect: String,
    },
    /// The filter is in an offered dialect but cannot be used:
    /// `wsen:CannotProcessFilter`.
    #[error("{reason}")]
    CannotProcess {
        /// What is wrong with it.
        reason: Unprocessable,
    },
}

/// What makes a filter in an offered dialect unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unprocessable {
    /// The WQL text does not parse.
    #[error("invalid WQL query: {0}")]
    Syntax(#[from] WqlError),
    /// The WQL query names something an instance does not have.
    #[error("invalid WQL query: {0}")]
    Evaluation(#[from] EvalError),
    /// The WQL FROM class does not fit the enumerated class.
    #[error("invalid WQL query: {0}")]
    Class(#[from] ClassMismatch),
    /// The filter element holds the wrong kind of content for its dialect (XML where
    /// WQL text belongs, and so on).
    #[error("a {dialect} filter must contain {expected}")]
    Content {
        /// The dialect's short name (`WQL`, `selector`, `association`).
        dialect: &'static str,
        /// What it must contain.
        expected: &'static str,
    },
    /// The association filter is unusable.
    #[error("invalid association filter: {0}")]
    Association(#[from] AssociationError),
    /// [`Compiled::select`] was asked to judge one instance against an association
    /// filter, which selects from association instances instead (a caller error,
    /// reported rather than panicking).
    #[error("an association filter cannot be applied instance by instance")]
    NotPerInstance,
}

impl From<Unprocessable> for FilterError {
    fn from(reason: Unprocessable) -> FilterError {
        FilterError::CannotProcess { reason }
    }
}

impl FilterError {
    /// The enumeration fault this error is answered with (the one place the mapping
    /// is made; a Subscribe answers the eventing counterparts instead).
    pub fn fault_kind(&self) -> FaultKind {
        match self {
            FilterError::DialectUnavailable { .. } => FaultKind::FilterDialectRequestedUnavailable,
            FilterError::CannotProcess { .. } => FaultKind::EnumerationCannotProcessFilter,
        }
    }
}

/// What evaluation needs to know about the world: the class hierarchy, how to find
/// the instance a reference names, and how selector values compare.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    is_subclass: &'a dyn Fn(&str, &str) -> bool,
    resolve: &'a dyn Fn(&Reference) -> Option<Instance>,
    selector_case: Case,
}

fn resolve_nothing(_: &Reference) -> Option<Instance> {
    None
}

impl<'a> Env<'a> {
    /// An environment with a class hierarchy (`is_subclass(child, parent)`; equality
    /// need not be included, it is always checked), no reference resolver and
    /// case-sensitive selector values.
    pub fn new(is_subclass: &'a dyn Fn(&str, &str) -> bool) -> Env<'a> {
        Env {
            is_subclass,
            resolve: &resolve_nothing,
            selector_case: Case::Sensitive,
        }
    }

    /// With a resolver from a reference to the instance it names (required by the
    /// association filter; it should find an instance through a base class too).
    pub fn with_resolver(mut self, resolve: &'a dyn Fn(&Reference) -> Option<Instance>) -> Env<'a> {
        self.resolve = resolve;
        self
    }

    /// With the given selector value comparison.
    pub fn with_selector_case(mut self, case: Case) -> Env<'a> {
        self.selector_case = case;
        self
    }
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("selector_case", &self.selector_case)
            .finish_non_exhaustive()
    }
}

/// Compiles a request's filter for an enumeration of `class` (the class the
/// ResourceURI names; `*` or empty for a wildcard ResourceURI), knowing no class
/// hierarchy: a WQL FROM class must then equal `class` (or `class` be a wildcard).
/// Use [`compile_with`] when the hierarchy is known, so that FROM may name a subclass.
pub fn compile(filter: Option<&Filter<'_>>, class: &str) -> Result<Compiled, FilterError> {
    compile_with(filter, class, &|_, _| false)
}

/// [`compile`] with the class hierarchy, for the WQL rule that FROM names the
/// enumerated class or one of its subclasses.
pub fn compile_with(
    filter: Option<&Filter<'_>>,
    class: &str,
    is_subclass: &dyn Fn(&str, &str) -> bool,
) -> Result<Compiled, FilterError> {
    let Some(filter) = filter else {
        return Ok(Compiled::All);
    };
    let d = filter.dialect();
    if d == dialect::WQL {
        let FilterContent::Text(text) = &filter.content else {
            return Err(Unprocessable::Content {
                dialect: "WQL",
                expected: "the query as text",
            }
            .into());
        };
        let q = Query::parse(text).map_err(Unprocessable::from)?;
        q.check_class(class, is_subclass)
            .map_err(Unprocessable::from)?;
        Ok(Compiled::Wql(q))
    } else if d == dialect::SELECTOR {
        let FilterContent::Selectors(s) = &filter.content else {
            return Err(Unprocessable::Content {
                dialect: "selector",
                expected: "a wsman:SelectorSet",
            }
            .into());
        };
        Ok(Compiled::Selector(selector::owned(s)))
    } else if d == dialect::ASSOCIATION {
        let FilterContent::Association(a) = &filter.content else {
            return Err(Unprocessable::Content {
                dialect: "association",
                expected: "wsmb:AssociatedInstances or wsmb:AssociationInstances",
            }
            .into());
        };
        Ok(Compiled::Association(
            AssociationQuery::from_filter(a).map_err(Unprocessable::from)?,
        ))
    } else {
        Err(FilterError::DialectUnavailable {
            dialect: d.to_owned(),
        })
    }
}

impl Compiled {
    /// The dialect URI of the filter (`None` for no filter).
    pub fn dialect(&self) -> Option<&'static str> {
        match self {
            Compiled::All => None,
            Compiled::Wql(_) => Some(dialect::WQL),
            Compiled::Selector(_) => Some(dialect::SELECTOR),
            Compiled::Association(_) => Some(dialect::ASSOCIATION),
        }
    }

    /// Whether this is an association filter, which runs over association instances
    /// ([`apply`](Self::apply)) rather than over the enumerated class's instances.
    pub fn is_association(&self) -> bool {
        matches!(self, Compiled::Association(_))
    }

    /// One instance of the enumerated class as the filter returns it (`None` when not
    /// selected). An association filter is not per-instance and answers
    /// [`Unprocessable::NotPerInstance`].
    pub fn select(&self, inst: &Instance, env: &Env<'_>) -> Result<Option<Instance>, FilterError> {
        match self {
            Compiled::All => Ok(Some(inst.clone())),
            Compiled::Wql(q) => q
                .select(inst, env.is_subclass)
                .map_err(|e| Unprocessable::from(e).into()),
            Compiled::Selector(s) => {
                Ok(
                    selector::matches(inst, s, env.selector_case, env.is_subclass)
                        .then(|| inst.clone()),
                )
            }
            Compiled::Association(_) => Err(Unprocessable::NotPerInstance.into()),
        }
    }

    /// [`Compiled::apply`] on shared instances the caller gives away: without a filter,
    /// or with one that only keeps or drops whole instances, they stay the same `Arc`s
    /// rather than copies; a filter that builds new instances (a WQL projection, an
    /// association) gives new ones.
    pub fn apply_shared(
        &self,
        candidates: Vec<std::sync::Arc<Instance>>,
        env: &Env<'_>,
    ) -> Result<Vec<std::sync::Arc<Instance>>, FilterError> {
        match self {
            Compiled::All => Ok(candidates),
            Compiled::Selector(s) => {
                let mut kept = candidates;
                kept.retain(|inst| selector::matches(inst, s, env.selector_case, env.is_subclass));
                Ok(kept)
            }
            _ => {
                let owned: Vec<Instance> = candidates.iter().map(|i| (**i).clone()).collect();
                Ok(self
                    .apply(&owned, env)?
                    .into_iter()
                    .map(std::sync::Arc::new)
                    .collect())
            }
        }
    }

    /// The whole result. `candidates` are the enumerated class's instances (with its
    /// subclasses') for every dialect but the association filter, for which they are
    /// the association instances to search (see [`association`]).
    pub fn apply(
        &self,
        candidates: &[Instance],
        env: &Env<'_>,
    ) -> Result<Vec<Instance>, FilterError> {
        match self {
            Compiled::Association(q) => q
                .run(candidates, env.is_subclass, env.resolve)
                .map_err(|e| Unprocessable::from(e).into()),
            _ => {
                let mut out = Vec::new();
                for inst in candidates {
                    if let Some(i) = self.select(inst, env)? {
                        out.push(i);
                    }
                }
                Ok(out)
            }
        }
    }
}
