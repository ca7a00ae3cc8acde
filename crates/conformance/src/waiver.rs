//! Expected deviations of a target, as data (after rustls' BoGo `config.json`): a TOML
//! table of case-ID glob → reason.
//!
//! ```toml
//! # openwsman answers GET with 501 instead of 405: fine by us.
//! "wsman.http.get-refused" = "openwsman answers 501"
//! "wsman.cim-ipmi.*" = "no IPMI provider on this host"
//! ```
//!
//! A waived case keeps its outcome, but a waived fail, warn or error no longer fails
//! the run. A waived case that passes is reported as stale, so waivers cannot outlive
//! the deviation they excuse.

use serde::{Deserialize, Serialize};

/// Why a case was waived, as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverNote {
    /// The glob that matched.
    pub pattern: String,
    /// The reason given.
    pub reason: String,
    /// The case passed: the waiver is no longer needed.
    pub stale: bool,
}

/// A waiver file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waivers {
    entries: Vec<(String, String)>,
}

impl Waivers {
    /// Reads a waiver file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Waivers, crate::LoadError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| crate::LoadError {
            origin: match e.span() {
                Some(s) => {
                    let before = &text[..s.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.len() - before.rfind('\n').map_or(0, |n| n + 1) + 1;
                    format!("{origin}:{line}:{col}")
                }
                None => origin.to_owned(),
            },
            message: e.message().trim().to_owned(),
        })?;
        let mut entries = Vec::new();
        for (k, v) in table {
            match v {
                toml::Value::String(reason) if !reason.trim().is_empty() => {
                    entries.push((k, reason))
                }
                _ => {
                    return Err(crate::LoadError {
                        origin: origin.to_owned(),
                        message: format!("waiver `{k}`: expected a non-empty reason string"),
                    });
                }
            }
        }
        Ok(Waivers { entries })
    }

    /// Reads a waiver file.
    pub fn load(path: &std::path::Path) -> Result<Waivers, crate::LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::LoadError {
            origin: path.display().to_string(),
            message: format!("cannot read the waiver file: {e}"),
        })?;
        Waivers::parse(&text, &path.display().to_string())
    }

    /// The most specific (longest) waiver whose glob matches `id`: (pattern, reason).
    pub fn lookup(&self, id: &str) -> Option<(&str, &str)> {
        self.entries
            .iter()
            .filter(|(p, _)| glob(p, id))
            .max_by_key(|(p, _)| p.len())
            .map(|(p, r)| (p.as_str(), r.as_str()))
    }

    /// Whether there are no waivers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Glob match: `*` any run of characters, `?` one character, the rest literal.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A waiver file that does not parse is refused with `file:line:column` of the
    /// offending character, counted from 1, on whatever line it is.
    #[test]
    fn a_syntax_error_names_file_line_and_column() {
        for (text, line, col) in [
            ("a = @\n", 1, 5),
            ("a = \"x\"\n  b = @\n", 2, 7),
            ("a = \"x\"\nb = \"y\"\n\nccc =   @\n", 4, 9),
        ] {
            let e = Waivers::parse(text, "w.toml").unwrap_err();
            assert_eq!(e.origin, format!("w.toml:{line}:{col}"), "{text:?}: {e:?}");
            let at = text.lines().nth(line - 1).unwrap().chars().nth(col - 1);
            assert_eq!(at, Some('@'), "the position points at the culprit");
        }
    }

    /// Every waiver says why: an empty or blank reason, or a reason that is not a
    /// string, is refused naming the waiver.
    #[test]
    fn a_waiver_needs_a_reason() {
        for text in ["x = \"\"", "x = \"   \"", "x = 3"] {
            let e = Waivers::parse(text, "w.toml").unwrap_err();
            assert_eq!(e.origin, "w.toml");
            assert!(e.message.contains("waiver `x`"), "{e:?}");
        }
        let w = Waivers::parse("x = \" known \"", "w.toml").unwrap();
        assert_eq!(w.lookup("x"), Some(("x", " known ")));
        assert!(!w.is_empty());
        let none = Waivers::parse("# nothing waived\n", "w.toml").unwrap();
        assert!(none.is_empty() && none.lookup("x").is_none());
    }

    /// `load` reads the file it is given; a missing file is an error naming it.
    #[test]
    fn load_reads_the_file_or_says_why_not() {
        let path = std::env::temp_dir().join(format!("waivers-{}.toml", std::process::id()));
        std::fs::write(&path, "\"wsman.http.*\" = \"not offered here\"\n").unwrap();
        let w = Waivers::load(&path).unwrap();
        assert_eq!(
            w.lookup("wsman.http.keep-alive"),
            Some(("wsman.http.*", "not offered here"))
        );
        std::fs::remove_file(&path).unwrap();
        let e = Waivers::load(&path).unwrap_err();
        assert_eq!(e.origin, path.display().to_string());
        assert!(e.message.contains("cannot read"), "{e:?}");
    }

    #[test]
    fn globs() {
        assert!(glob("wsman.*", "wsman.core.to"));
        assert!(glob("*.to", "wsman.core.to"));
        assert!(glob("wsman.c?re.*", "wsman.core.to"));
        assert!(!glob("wsman.core", "wsman.core.to"));
        assert!(glob("*", ""));
        assert!(!glob("a*b", "ac"));
    }

    #[test]
    fn parses_and_prefers_the_longest_glob() {
        let w = Waivers::parse(
            "\"wsman.http.*\" = \"501\"\n\"wsman.*\" = \"all\"\n",
            "w.toml",
        )
        .unwrap();
        assert_eq!(w.lookup("wsman.http.get"), Some(("wsman.http.*", "501")));
        assert_eq!(w.lookup("wsman.core.to"), Some(("wsman.*", "all")));
        assert_eq!(w.lookup("ipmi.x"), None);
        let e = Waivers::parse("\"a\" = 1", "w.toml").unwrap_err();
        assert!(e.message.contains("reason"));
        let e = Waivers::parse("\"a\" = ", "w.toml").unwrap_err();
        assert!(e.origin.starts_with("w.toml:1:"), "{e}");
    }
}
