//! Shards: a deterministic share of a fleet's targets (or of one target's cases) for
//! one of N machines running `touchstone check --shard I/N` side by side.
//!
//! Targets: sorted by id, the k-th goes to shard `k % N`: balanced (sizes differ by at
//! most one), stable for a given inventory whatever its file order, and every target
//! in exactly one shard. Cases of a single target: the same round robin over the case
//! IDs in suite order, except that the cases that must run alone (destructive and
//! IPMI cases, those that take turns within a run) all go to shard 0, so shards
//! running at once against the same target never run two of them together.
//!
//! `--shard auto` reads the shard from the environment ([`Shard::from_env`]), given as
//! a lookup function so that tests pass a map instead of changing the process's
//! environment.

use std::fmt;
use std::str::FromStr;

use crate::case::Case;

/// One share: `index` of `count` (0 <= index < count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shard {
    /// Which share (0-based).
    pub index: usize,
    /// How many shares.
    pub count: usize,
}

/// What `--shard` says: a share, or read it from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSpec {
    /// `I/N`.
    Fixed(Shard),
    /// `auto`.
    Auto,
}

/// Why a shard could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// The text is not `I/N` with 0 <= I < N.
    #[error("`{text}`: expected I/N with 0 <= I < N (e.g. 0/4), or auto")]
    Syntax {
        /// What was given.
        text: String,
    },
    /// An environment variable holds something unusable.
    #[error("{var}=`{value}`: {why}")]
    Variable {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        why: String,
    },
    /// `auto` found no variable it knows.
    #[error(
        "--shard auto: none of TOUCHSTONE_SHARD (I/N), JOB_COMPLETION_INDEX with \
         TOUCHSTONE_SHARD_COUNT (Kubernetes Indexed Job) or CI_NODE_INDEX with CI_NODE_TOTAL \
         (GitLab parallel) is set"
    )]
    NoEnvironment,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError::Syntax { text: s.to_owned() };
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.parse::<usize>().map_err(|_| bad())?,
            n.parse::<usize>().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl FromStr for ShardSpec {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<ShardSpec, ShardError> {
        if s.trim().eq_ignore_ascii_case("auto") {
            Ok(ShardSpec::Auto)
        } else {
            s.parse().map(ShardSpec::Fixed)
        }
    }
}

impl ShardSpec {
    /// The share: as given, or from the environment for `auto`.
    pub fn resolve(self, env: impl Fn(&str) -> Option<String>) -> Result<Shard, ShardError> {
        match self {
            ShardSpec::Fixed(s) => Ok(s),
            ShardSpec::Auto => Shard::from_env(env),
        }
    }
}

impl Shard {
    /// The whole: one shard of one.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// The shard the CI system or orchestrator says, read with `env` in this order:
    /// `TOUCHSTONE_SHARD` (`I/N`, what a GitHub Actions matrix sets), Kubernetes
    /// Indexed Job's `JOB_COMPLETION_INDEX` (0-based) with `TOUCHSTONE_SHARD_COUNT`,
    /// GitLab's `CI_NODE_INDEX` (1-based) with `CI_NODE_TOTAL`. Empty values count as
    /// unset.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Shard, ShardError> {
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let number = |var: &'static str, v: &str| {
            v.trim().parse::<usize>().map_err(|_| ShardError::Variable {
                var,
                value: v.to_owned(),
                why: "not a whole number".into(),
            })
        };
        if let Some(v) = get("TOUCHSTONE_SHARD") {
            return v.parse().map_err(|_| ShardError::Variable {
                var: "TOUCHSTONE_SHARD",
                value: v.clone(),
                why: "expected I/N with 0 <= I < N".into(),
            });
        }
        if let Some(i) = get("JOB_COMPLETION_INDEX") {
            let index = number("JOB_COMPLETION_INDEX", &i)?;
            let Some(n) = get("TOUCHSTONE_SHARD_COUNT") else {
                return Err(ShardError::Variable {
                    var: "JOB_COMPLETION_INDEX",
                    value: i,
                    why: "TOUCHSTONE_SHARD_COUNT (the Job's completions) is not set".into(),
                });
            };
            let count = number("TOUCHSTONE_SHARD_COUNT", &n)?;
            if index >= count {
                return Err(ShardError::Variable {
                    var: "JOB_COMPLETION_INDEX",
                    value: i,
                    why: format!("not below TOUCHSTONE_SHARD_COUNT={count}"),
                });
            }
            return Ok(Shard { index, count });
        }
        if let Some(i) = get("CI_NODE_INDEX") {
            let index = number("CI_NODE_INDEX", &i)?;
            let Some(n) = get("CI_NODE_TOTAL") else {
                return Err(ShardError::Variable {
                    var: "CI_NODE_INDEX",
                    value: i,
                    why: "CI_NODE_TOTAL is not set".into(),
                });
            };
            let count = number("CI_NODE_TOTAL", &n)?;
            if index == 0 || index > count {
                return Err(ShardError::Variable {
                    var: "CI_NODE_INDEX",
                    value: i,
                    why: format!("expected 1 to CI_NODE_TOTAL={count} (GitLab counts from 1)"),
                });
            }
            return Ok(Shard {
                index: index - 1,
                count,
            });
        }
        Err(ShardError::NoEnvironment)
    }

    /// This shard's ids among `ids`: sorted, the k-th to shard `k % count`. Returned
    /// in id order.
    pub fn targets<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let mut sorted: Vec<&str> = ids.into_iter().collect();
        sorted.sort_unstable();
        sorted
            .into_iter()
            .enumerate()
            .filter(|(k, _)| k % self.count == self.index)
            .map(|(_, id)| id)
            .collect()
    }

    /// This shard's cases among `cases` (in suite order), in that order.
    pub fn cases(&self, cases: &[Case]) -> Vec<Case> {
        let alone: Vec<bool> = cases.iter().map(crate::run::takes_turns).collect();
        self.positions(&alone)
            .into_iter()
            .map(|i| cases[i].clone())
            .collect()
    }

    /// The positions this shard takes of a list whose `alone` entries must all go to
    /// shard 0; the others go round robin in order.
    pub fn positions(&self, alone: &[bool]) -> Vec<usize> {
        let mut k = 0;
        let mut out = Vec::new();
        for (i, a) in alone.iter().enumerate() {
            let shard = if *a {
                0
            } else {
                k += 1;
                (k - 1) % self.count
            };
            if shard == self.index {
                out.push(i);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn parses_i_of_n() {
        assert_eq!(
            "2/5".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 5 }
        );
        assert_eq!(
            "0/1".parse::<ShardSpec>().unwrap(),
            ShardSpec::Fixed(Shard::ALL)
        );
        assert_eq!("AUTO".parse::<ShardSpec>().unwrap(), ShardSpec::Auto);
        for bad in ["", "1", "5/5", "1/0", "-1/3", "a/b", "1/2/3", "0/ "] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!(Shard { index: 3, count: 7 }.to_string(), "3/7");
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn auto_reads_the_ci_variables_in_order() {
        let s = |i, n| Ok(Shard { index: i, count: n });
        assert_eq!(
            Shard::from_env(env(&[("TOUCHSTONE_SHARD", "1/3")])),
            s(1, 3)
        );
        assert_eq!(
            Shard::from_env(env(&[
                ("JOB_COMPLETION_INDEX", "4"),
                ("TOUCHSTONE_SHARD_COUNT", "8")
            ])),
            s(4, 8)
        );
        assert_eq!(
            Shard::from_env(env(&[("CI_NODE_INDEX", "1"), ("CI_NODE_TOTAL", "2")])),
            s(0, 2),
            "GitLab counts from 1"
        );
        // TOUCHSTONE_SHARD first of all, then Kubernetes, then GitLab.
        assert_eq!(
            Shard::from_env(env(&[
                ("TOUCHSTONE_SHARD", "0/2"),
                ("JOB_COMPLETION_INDEX", "1"),
                ("TOUCHSTONE_SHARD_COUNT", "2"),
                ("CI_NODE_INDEX", "2"),
                ("CI_NODE_TOTAL", "2"),
            ])),
            s(0, 2)
        );
        assert_eq!(
            Shard::from_env(env(&[
                ("JOB_COMPLETION_INDEX", "1"),
                ("TOUCHSTONE_SHARD_COUNT", "2"),
                ("CI_NODE_INDEX", "1"),
                ("CI_NODE_TOTAL", "2"),
            ])),
            s(1, 2)
        );
        assert_eq!(
            ShardSpec::Auto.resolve(env(&[
                ("TOUCHSTONE_SHARD", "",),
                ("CI_NODE_INDEX", "3"),
                ("CI_NODE_TOTAL", "3")
            ])),
            s(2, 3),
            "an empty variable is unset"
        );
    }

    #[test]
    fn auto_errors_name_the_variable() {
        let e = |pairs: &[(&str, &str)]| Shard::from_env(env(pairs)).unwrap_err().to_string();
        let none = e(&[]);
        for var in [
            "TOUCHSTONE_SHARD",
            "JOB_COMPLETION_INDEX",
            "TOUCHSTONE_SHARD_COUNT",
            "CI_NODE_INDEX",
            "CI_NODE_TOTAL",
        ] {
            assert!(none.contains(var), "{none}");
        }
        assert!(e(&[("JOB_COMPLETION_INDEX", "0")]).contains("TOUCHSTONE_SHARD_COUNT"));
        assert!(
            e(&[
                ("JOB_COMPLETION_INDEX", "x"),
                ("TOUCHSTONE_SHARD_COUNT", "2")
            ])
            .starts_with("JOB_COMPLETION_INDEX=`x`")
        );
        assert!(
            e(&[
                ("JOB_COMPLETION_INDEX", "2"),
                ("TOUCHSTONE_SHARD_COUNT", "2")
            ])
            .contains("not below")
        );
        assert!(e(&[("CI_NODE_INDEX", "0"), ("CI_NODE_TOTAL", "2")]).contains("counts from 1"));
        assert!(e(&[("CI_NODE_INDEX", "1")]).contains("CI_NODE_TOTAL"));
        assert!(e(&[("TOUCHSTONE_SHARD", "3/3")]).starts_with("TOUCHSTONE_SHARD=`3/3`"));
        // A fixed shard never looks at the environment.
        let fixed = ShardSpec::Fixed(Shard { index: 1, count: 2 });
        assert_eq!(
            fixed
                .resolve(env(&[("TOUCHSTONE_SHARD", "0/9")]))
                .unwrap()
                .count,
            2
        );
    }

    #[test]
    fn alone_cases_go_to_shard_zero() {
        let alone = [false, true, false, false, true, false];
        let of = |i| Shard { index: i, count: 2 }.positions(&alone);
        assert_eq!(of(0), vec![0, 1, 3, 4]);
        assert_eq!(of(1), vec![2, 5]);
    }

    proptest! {
        /// The shards of any id set are disjoint, their union is the set, their sizes
        /// differ by at most one, and a shard does not depend on the input order.
        #[test]
        fn target_shards_partition_the_set(
            ids in proptest::collection::btree_set("[a-z0-9]{1,6}", 0..60),
            count in 1usize..9,
            rotate in 0usize..60,
        ) {
            let ids: Vec<String> = ids.into_iter().collect();
            let mut shuffled = ids.clone();
            if !shuffled.is_empty() {
                let r = rotate % shuffled.len();
                shuffled.rotate_left(r);
                shuffled.reverse();
            }
            let mut union = BTreeSet::new();
            let mut sizes = Vec::new();
            for index in 0..count {
                let shard = Shard { index, count };
                let got = shard.targets(ids.iter().map(String::as_str));
                let again = shard.targets(shuffled.iter().map(String::as_str));
                prop_assert_eq!(&got, &again);
                sizes.push(got.len());
                for id in got {
                    prop_assert!(union.insert(id.to_owned()), "{} in two shards", id);
                }
            }
            prop_assert_eq!(union, ids.iter().cloned().collect::<BTreeSet<_>>());
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            prop_assert!(max - min <= 1, "sizes {:?}", sizes);
        }

        /// Case shards cover every case once, keep suite order, and every case that
        /// must run alone is in shard 0; the others are balanced to within one.
        #[test]
        fn case_shards_partition_and_keep_alone_cases_together(
            alone in proptest::collection::vec(any::<bool>(), 0..80),
            count in 1usize..7,
        ) {
            let mut seen = vec![0; alone.len()];
            let mut others = Vec::new();
            for index in 0..count {
                let got = Shard { index, count }.positions(&alone);
                prop_assert!(got.windows(2).all(|w| w[0] < w[1]), "suite order");
                for &i in &got {
                    seen[i] += 1;
                    prop_assert!(!alone[i] || index == 0);
                }
                others.push(got.iter().filter(|&&i| !alone[i]).count());
            }
            prop_assert!(seen.iter().all(|&n| n == 1));
            let (min, max) = (others.iter().min().unwrap(), others.iter().max().unwrap());
            prop_assert!(max - min <= 1);
        }
    }
}
