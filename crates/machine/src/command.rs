//! The remote-shell command table (`[[machine.commands]]`): how a command line is
//! matched to a canned answer. Running a command (chunks, delays, handler scripts) is
//! the shell's business, not this module's.
//!
//! A pattern always matches the whole command line (after trimming surrounding
//! whitespace), whatever its kind:
//! - `exact`: string equality.
//! - `glob`: `*` (any run of characters, spaces included), `?` (one character),
//!   `[abc]`, `[a-z]`, `[!a-z]` / `[^a-z]` (one character in / not in the set), `\x`
//!   (a literal x).
//! - `regex`: a small subset, written here and run as a Thompson NFA (linear time, so
//!   no pattern can hang the mock): literals, `.`, classes `[...]` with ranges and
//!   negation, `\d \w \s \D \W \S`, escaped metacharacters, groups `(...)` and
//!   `(?:...)`, alternation `|`, quantifiers `* + ?`, `{n}`, `{n,}`, `{n,m}` (lazy forms
//!   are accepted and mean the same, as only whether the whole line matches counts),
//!   and `^`/`$` at the ends (redundant: the match is anchored anyway). No captures,
//!   backreferences or lookaround.
//!
//! `ignore_case` folds both sides to lowercase (Windows commands are case-insensitive).

use serde::{Deserialize, Serialize};

/// How a command's `match` pattern is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The whole command line equals the pattern.
    #[default]
    Exact,
    /// A glob pattern.
    Glob,
    /// A regular expression (the subset described in the module docs).
    Regex,
}

/// One entry of the command table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// The pattern (`match = "ipconfig /all"`).
    #[serde(rename = "match")]
    pub pattern: String,
    /// How to read the pattern.
    #[serde(default)]
    pub match_kind: MatchKind,
    /// Compare case-insensitively.
    #[serde(default)]
    pub ignore_case: bool,
    /// Standard output, in chunks (one Receive each).
    #[serde(default)]
    pub stdout: Vec<String>,
    /// Standard error, in chunks.
    #[serde(default)]
    pub stderr: Vec<String>,
    /// Delay before each chunk.
    #[serde(default)]
    pub delay_ms: u64,
    /// The exit code.
    #[serde(default)]
    pub exit_code: i32,
    /// Copy standard input to standard output; the command ends when stdin ends. With
    /// a `handler`, the handler runs when stdin ends and sees all of it.
    #[serde(default)]
    pub echo_stdin: bool,
    /// Cycle through the chunks, `delay_ms` apart, until a signal stops the command
    /// (`ping -t`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repeat: bool,
    /// A Rhai script that produces the output instead (run by the shell; see
    /// [`crate::shell`]). It sees `cmdline`, `command`, `args`, `stdin`, `user`,
    /// `hostname` and `env`, and returns a string (stdout), `()` or a map with
    /// `stdout`/`stderr` (string or array of chunks), `exit_code` and `delay_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
}

impl CommandSpec {
    /// A command answering `stdout` with exit code 0 for exactly `pattern`.
    pub fn exact(pattern: impl Into<String>, stdout: impl Into<String>) -> CommandSpec {
        CommandSpec {
            pattern: pattern.into(),
            match_kind: MatchKind::Exact,
            ignore_case: false,
            stdout: vec![stdout.into()],
            stderr: Vec::new(),
            delay_ms: 0,
            exit_code: 0,
            echo_stdin: false,
            repeat: false,
            handler: None,
        }
    }

    /// The same entry, matched case-insensitively.
    pub fn ignoring_case(mut self) -> CommandSpec {
        self.ignore_case = true;
        self
    }

    /// The same entry, with the output from a handler.
    pub fn with_handler(mut self, handler: impl Into<String>) -> CommandSpec {
        self.stdout.clear();
        self.handler = Some(handler.into());
        self
    }

    /// Whether the command line matches (an invalid pattern matches nothing).
    pub fn matches(&self, cmdline: &str) -> bool {
        let line = cmdline.trim();
        let (pat, line) = if self.ignore_case {
            (self.pattern.to_lowercase(), line.to_lowercase())
        } else {
            (self.pattern.clone(), line.to_owned())
        };
        match self.match_kind {
            MatchKind::Exact => pat.trim() == line,
            MatchKind::Glob => Glob::new(&pat).is_ok_and(|g| g.matches(&line)),
            MatchKind::Regex => Regex::new(&pat).is_ok_and(|r| r.matches(&line)),
        }
    }

    /// Checks the pattern (for spec validation).
    pub(crate) fn check_pattern(&self) -> Result<(), String> {
        match self.match_kind {
            MatchKind::Exact => Ok(()),
            MatchKind::Glob => Glob::new(&self.pattern).map(|_| ()),
            MatchKind::Regex => Regex::new(&self.pattern).map(|_| ()),
        }
    }
}

/// The default server's command table (`[[machine.commands]]` of `mocks/default.toml`):
/// what a Windows Server 2022 answers to a few everyday commands. cmd.exe's own
/// built-ins (`echo`, `exit`, "not recognized") and PowerShell are not in the table;
/// see [`crate::shell`].
pub fn default_commands() -> Vec<CommandSpec> {
    let reply = "Reply from 127.0.0.1: bytes=32 time<1ms TTL=128\r\n";
    vec![
        CommandSpec::exact("hostname", "")
            .ignoring_case()
            .with_handler("hostname + \"\\r\\n\""),
        CommandSpec::exact("whoami", "")
            .ignoring_case()
            .with_handler("hostname.to_lower() + \"\\\\\" + user.to_lower() + \"\\r\\n\""),
        CommandSpec::exact(
            "ipconfig",
            "\r\nWindows IP Configuration\r\n\r\n\r\nEthernet adapter Ethernet:\r\n\r\n   Connection-specific DNS Suffix  . : \r\n   Link-local IPv6 Address . . . . . : fe80::1%4\r\n   IPv4 Address. . . . . . . . . . . : 127.0.0.1\r\n   Subnet Mask . . . . . . . . . . . : 255.0.0.0\r\n   Default Gateway . . . . . . . . . : \r\n",
        )
        .ignoring_case(),
        CommandSpec::exact("ipconfig /all", "")
            .ignoring_case()
            .with_handler(
                "\"\\r\\nWindows IP Configuration\\r\\n\\r\\n   Host Name . . . . . . . . . . . . : \" + hostname + \"\\r\\n   Primary Dns Suffix  . . . . . . . : \\r\\n   Node Type . . . . . . . . . . . . : Hybrid\\r\\n   IP Routing Enabled. . . . . . . . : No\\r\\n\\r\\nEthernet adapter Ethernet:\\r\\n\\r\\n   Physical Address. . . . . . . . . : 00-15-5D-00-10-00\\r\\n   DHCP Enabled. . . . . . . . . . . : No\\r\\n   IPv4 Address. . . . . . . . . . . : 127.0.0.1(Preferred)\\r\\n   Subnet Mask . . . . . . . . . . . : 255.0.0.0\\r\\n\"",
            ),
        CommandSpec::exact("ver", "\r\nMicrosoft Windows [Version 10.0.20348.2582]\r\n").ignoring_case(),
        CommandSpec {
            match_kind: MatchKind::Glob,
            ..CommandSpec::exact(
                "dir*",
                " Volume in drive C has no label.\r\n Volume Serial Number is 5A1D-0C6E\r\n\r\n Directory of C:\\Users\\admin\r\n\r\n0 File(s)              0 bytes\r\n",
            )
            .ignoring_case()
        },
        CommandSpec {
            echo_stdin: true,
            stdout: Vec::new(),
            ..CommandSpec::exact("more", "").ignoring_case()
        },
        CommandSpec {
            stdout: vec![
                "\r\nPinging 127.0.0.1 with 32 bytes of data:\r\n".into(),
                reply.into(),
                reply.into(),
                reply.into(),
                reply.into(),
                "\r\nPing statistics for 127.0.0.1:\r\n    Packets: Sent = 4, Received = 4, Lost = 0 (0% loss),\r\nApproximate round trip times in milli-seconds:\r\n    Minimum = 0ms, Maximum = 0ms, Average = 0ms\r\n".into(),
            ],
            delay_ms: 250,
            ..CommandSpec::exact("ping 127.0.0.1", "").ignoring_case()
        },
        CommandSpec {
            repeat: true,
            delay_ms: 500,
            ..CommandSpec::exact("ping -t 127.0.0.1", reply).ignoring_case()
        },
        CommandSpec {
            match_kind: MatchKind::Regex,
            ..CommandSpec::exact("waitfor /t \\d+ \\w+", "")
                .ignoring_case()
                .with_handler(
                    "#{ stderr: \"ERROR: Timed out waiting for '\" + args[2] + \"'.\\r\\n\", exit_code: 1, delay_ms: parse_int(args[1]) * 1000 }",
                )
        },
    ]
}

/// The default server's PowerShell script table (`[[machine.scripts]]`), matched
/// against the script a `powershell -EncodedCommand` line carries.
pub fn default_scripts() -> Vec<CommandSpec> {
    vec![
        CommandSpec::exact(
            "Get-Service WinRM",
            "\r\nStatus   Name               DisplayName\r\n------   ----               -----------\r\nRunning  WinRM              Windows Remote Management (WS-Manag...\r\n\r\n\r\n",
        )
        .ignoring_case(),
        CommandSpec::exact(
            "$PSVersionTable.PSVersion",
            "\r\nMajor  Minor  Build  Revision\r\n-----  -----  -----  --------\r\n5      1      20348  2582\r\n\r\n\r\n",
        )
        .ignoring_case(),
    ]
}

/// A set of characters (for `?`/`.`, classes and escapes).
#[derive(Debug, Clone, PartialEq, Eq)]
enum CharSet {
    Any,
    One(char),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl CharSet {
    fn contains(&self, c: char) -> bool {
        match self {
            CharSet::Any => true,
            CharSet::One(x) => *x == c,
            CharSet::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
            }
        }
    }
}

/// The ranges of `\d`, `\w`, `\s`.
fn perl_class(c: char) -> Option<Vec<(char, char)>> {
    Some(match c.to_ascii_lowercase() {
        'd' => vec![('0', '9')],
        'w' => vec![('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')],
        's' => vec![(' ', ' '), ('\t', '\r')],
        _ => return None,
    })
}

/// Parses a bracket class after its `[`; returns the set and the index after `]`.
fn parse_class(p: &[char], mut i: usize, negators: &[char]) -> Result<(CharSet, usize), String> {
    let mut negated = false;
    if i < p.len() && negators.contains(&p[i]) {
        negated = true;
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let Some(&c) = p.get(i) else {
            return Err("unclosed `[`".into());
        };
        if c == ']' && !first {
            return Ok((CharSet::Class { negated, ranges }, i + 1));
        }
        first = false;
        let lo = if c == '\\' {
            let Some(&e) = p.get(i + 1) else {
                return Err("trailing `\\`".into());
            };
            i += 2;
            if let Some(mut r) = perl_class(e).filter(|_| e.is_ascii_alphabetic()) {
                if e.is_ascii_uppercase() {
                    return Err(format!("`\\{e}` is not supported inside a class"));
                }
                ranges.append(&mut r);
                continue;
            }
            e
        } else {
            i += 1;
            c
        };
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|c| *c != ']') {
            let mut hi = p[i + 1];
            i += 2;
            if hi == '\\' {
                hi = *p.get(i).ok_or("trailing `\\`")?;
                i += 1;
            }
            if hi < lo {
                return Err(format!("range `{lo}-{hi}` is reversed"));
            }
            ranges.push((lo, hi));
        } else {
            ranges.push((lo, lo));
        }
    }
}

/// A parsed glob pattern.
#[derive(Debug, Clone)]
struct Glob(Vec<GlobTok>);

#[derive(Debug, Clone)]
enum GlobTok {
    Set(CharSet),
    Star,
}

impl Glob {
    fn new(pattern: &str) -> Result<Glob, String> {
        let p: Vec<char> = pattern.trim().chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < p.len() {
            match p[i] {
                '*' => {
                    if !matches!(toks.last(), Some(GlobTok::Star)) {
                        toks.push(GlobTok::Star);
                    }
                    i += 1;
                }
                '?' => {
                    toks.push(GlobTok::Set(CharSet::Any));
                    i += 1;
                }
                '[' => {
                    let (set, next) = parse_class(&p, i + 1, &['!', '^'])?;
                    toks.push(GlobTok::Set(set));
                    i = next;
                }
                '\\' => {
                    let c = *p.get(i + 1).ok_or("trailing `\\`")?;
                    toks.push(GlobTok::Set(CharSet::One(c)));
                    i += 2;
                }
                c => {
                    toks.push(GlobTok::Set(CharSet::One(c)));
                    i += 1;
                }
            }
        }
        Ok(Glob(toks))
    }

    /// Classic star backtracking: O(pattern x text) at worst.
    fn matches(&self, text: &str) -> bool {
        let t: Vec<char> = text.chars().collect();
        let p = &self.0;
        let (mut pi, mut ti) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            match p.get(pi) {
                Some(GlobTok::Set(s)) if s.contains(t[ti]) => {
                    pi += 1;
                    ti += 1;
                }
                Some(GlobTok::Star) => {
                    star = Some((pi, ti));
                    pi += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        pi = sp + 1;
                        ti = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi.min(p.len())..]
            .iter()
            .all(|t| matches!(t, GlobTok::Star))
    }
}

/// The regex subset's syntax tree.
#[derive(Debug, Clone)]
enum Node {
    Empty,
    Set(CharSet),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
}

/// The largest compiled program accepted (bounds `{n,m}` expansion).
const MAX_PROGRAM: usize = 10_000;
/// The largest repetition count.
const MAX_REPEAT: u32 = 1000;
/// The deepest group nesting.
const MAX_DEPTH: usize = 64;

struct RegexParser {
    p: Vec<char>,
    i: usize,
    depth: usize,
}

impl RegexParser {
    fn alt(&mut self) -> Result<Node, String> {
        let mut branches = vec![self.concat()?];
        while self.p.get(self.i) == Some(&'|') {
            self.i += 1;
            branches.push(self.concat()?);
        }
        Ok(if branches.len() == 1 {
            branches.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(branches)
        })
    }

    fn concat(&mut self) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(&c) = self.p.get(self.i) {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            let atom = self.quantifier(atom)?;
            items.push(atom);
        }
        Ok(Node::Concat(items))
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.i;
        while self.p.get(self.i).is_some_and(char::is_ascii_digit) {
            self.i += 1;
        }
        let s: String = self.p[start..self.i].iter().collect();
        s.parse().ok()
    }

    fn quantifier(&mut self, mut atom: Node) -> Result<Node, String> {
        loop {
            let (min, max) = match self.p.get(self.i) {
                Some('*') => (0, None),
                Some('+') => (1, None),
                Some('?') => (0, Some(1)),
                Some('{') => {
                    self.i += 1;
                    let min = self.number().ok_or("`{` must be followed by a count")?;
                    let max = if self.p.get(self.i) == Some(&',') {
                        self.i += 1;
                        if self.p.get(self.i) == Some(&'}') {
                            None
                        } else {
                            Some(self.number().ok_or("bad `{n,m}`")?)
                        }
                    } else {
                        Some(min)
                    };
                    if self.p.get(self.i) != Some(&'}') {
                        return Err("unclosed `{`".into());
                    }
                    if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT || m < min) {
                        return Err(format!("bad repetition {{{min},{max:?}}}"));
                    }
                    (min, max)
                }
                _ => return Ok(atom),
            };
            self.i += 1;
            if self.p.get(self.i) == Some(&'?') {
                self.i += 1;
            }
            atom = Node::Repeat {
                node: Box::new(atom),
                min,
                max,
            };
        }
    }

    fn atom(&mut self) -> Result<Node, String> {
        let c = self.p[self.i];
        self.i += 1;
        match c {
            '.' => Ok(Node::Set(CharSet::Any)),
            '(' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err("groups nest too deep".into());
                }
                if self.p.get(self.i) == Some(&'?') {
                    if self.p.get(self.i + 1) == Some(&':') {
                        self.i += 2;
                    } else {
                        return Err("only `(?:` groups are supported".into());
                    }
                }
                let inner = self.alt()?;
                if self.p.get(self.i) != Some(&')') {
                    return Err("unclosed `(`".into());
                }
                self.i += 1;
                self.depth -= 1;
                Ok(inner)
            }
            '[' => {
                let (set, next) = parse_class(&self.p, self.i, &['^'])?;
                self.i = next;
                Ok(Node::Set(set))
            }
            '\\' => {
                let e = *self.p.get(self.i).ok_or("trailing `\\`")?;
                self.i += 1;
                if e.is_ascii_alphanumeric() {
                    let ranges =
                        perl_class(e).ok_or_else(|| format!("`\\{e}` is not supported"))?;
                    return Ok(Node::Set(CharSet::Class {
                        negated: e.is_ascii_uppercase(),
                        ranges,
                    }));
                }
                Ok(Node::Set(CharSet::One(e)))
            }
            '*' | '+' | '?' | '{' => Err(format!("`{c}` has nothing to repeat")),
            '^' if self.i == 1 => Ok(Node::Empty),
            '$' if self.i == self.p.len() => Ok(Node::Empty),
            '^' | '$' => Err(format!(
                "`{c}` is only supported at the ends of the pattern"
            )),
            c => Ok(Node::Set(CharSet::One(c))),
        }
    }
}

#[derive(Debug, Clone)]
enum Inst {
    Set(CharSet),
    Split(usize, usize),
    Jmp(usize),
    Match,
}

/// A compiled regex of the subset: a program for a Pike VM.
#[derive(Debug, Clone)]
struct Regex(Vec<Inst>);

impl Regex {
    fn new(pattern: &str) -> Result<Regex, String> {
        let mut parser = RegexParser {
            p: pattern.chars().collect(),
            i: 0,
            depth: 0,
        };
        let node = parser.alt()?;
        if parser.i != parser.p.len() {
            return Err("unmatched `)`".into());
        }
        let mut prog = Vec::new();
        emit(&node, &mut prog)?;
        prog.push(Inst::Match);
        Ok(Regex(prog))
    }

    fn matches(&self, text: &str) -> bool {
        let n = self.0.len();
        let mut current: Vec<usize> = Vec::new();
        let mut next: Vec<usize> = Vec::new();
        let mut seen = vec![usize::MAX; n];
        let mut generation = 0usize;
        add(&self.0, &mut current, &mut seen, generation, 0);
        for c in text.chars() {
            generation += 1;
            next.clear();
            for &pc in &current {
                if let Some(Inst::Set(s)) = self.0.get(pc) {
                    if s.contains(c) {
                        add(&self.0, &mut next, &mut seen, generation, pc + 1);
                    }
                }
            }
            std::mem::swap(&mut current, &mut next);
            if current.is_empty() {
                return false;
            }
        }
        current
            .iter()
            .any(|pc| matches!(self.0.get(*pc), Some(Inst::Match)))
    }
}

/// Adds a thread and its epsilon closure (iteratively, so deep programs cannot overflow
/// the stack; `seen` stops loops through empty repetitions).
fn add(prog: &[Inst], list: &mut Vec<usize>, seen: &mut [usize], generation: usize, pc: usize) {
    let mut stack = vec![pc];
    while let Some(pc) = stack.pop() {
        let Some(slot) = seen.get_mut(pc) else {
            continue;
        };
        if *slot == generation {
            continue;
        }
        *slot = generation;
        match prog.get(pc) {
            Some(Inst::Jmp(t)) => stack.push(*t),
            Some(Inst::Split(a, b)) => {
                stack.push(*b);
                stack.push(*a);
            }
            Some(_) => list.push(pc),
            None => {}
        }
    }
}

fn emit(node: &Node, prog: &mut Vec<Inst>) -> Result<(), String> {
    if prog.len() > MAX_PROGRAM {
        return Err("the pattern is too large".into());
    }
    match node {
        Node::Empty => {}
        Node::Set(s) => prog.push(Inst::Set(s.clone())),
        Node::Concat(items) => {
            for n in items {
                emit(n, prog)?;
            }
        }
        Node::Alt(branches) => {
            // split L1, next; L1: a; jmp end; next: split L2, ...; last branch.
            let mut jumps = Vec::new();
            for (i, b) in branches.iter().enumerate() {
                if i + 1 < branches.len() {
                    let split = prog.len();
                    prog.push(Inst::Split(split + 1, 0));
                    emit(b, prog)?;
                    jumps.push(prog.len());
                    prog.push(Inst::Jmp(0));
                    let after = prog.len();
                    prog[split] = Inst::Split(split + 1, after);
                } else {
                    emit(b, prog)?;
                }
            }
            let end = prog.len();
            for j in jumps {
                prog[j] = Inst::Jmp(end);
            }
        }
        Node::Repeat { node, min, max } => {
            for _ in 0..*min {
                emit(node, prog)?;
            }
            match max {
                None => {
                    let split = prog.len();
                    prog.push(Inst::Split(split + 1, 0));
                    emit(node, prog)?;
                    prog.push(Inst::Jmp(split));
                    let end = prog.len();
                    prog[split] = Inst::Split(split + 1, end);
                }
                Some(max) => {
                    let mut splits = Vec::new();
                    for _ in *min..*max {
                        splits.push(prog.len());
                        prog.push(Inst::Split(0, 0));
                        emit(node, prog)?;
                    }
                    let end = prog.len();
                    for s in splits {
                        prog[s] = Inst::Split(s + 1, end);
                    }
                }
            }
        }
    }
    if prog.len() > MAX_PROGRAM {
        return Err("the pattern is too large".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str, t: &str) -> bool {
        Glob::new(p).unwrap().matches(t)
    }

    fn re(p: &str, t: &str) -> bool {
        Regex::new(p).unwrap().matches(t)
    }

    #[test]
    fn globs() {
        assert!(glob("dir *", "dir C:\\Windows"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("file?.txt", "file1.txt"));
        assert!(!glob("file?.txt", "file.txt"));
        assert!(glob("[a-c]x", "bx"));
        assert!(!glob("[!a-c]x", "bx"));
        assert!(glob("\\*", "*"));
        assert!(Glob::new("[abc").is_err());
    }

    #[test]
    fn regexes() {
        assert!(re("ipconfig( /all)?", "ipconfig"));
        assert!(re("ipconfig( /all)?", "ipconfig /all"));
        assert!(!re("ipconfig( /all)?", "ipconfig /renew"));
        assert!(re("^Get-(Service|Process) \\w+$", "Get-Service WinRM"));
        assert!(re("echo .*", "echo hello world"));
        assert!(re("a{2,3}", "aaa"));
        assert!(!re("a{2,3}", "aaaa"));
        assert!(re("[^0-9]+\\d", "abc7"));
        assert!(re("(a*)*b", "aaab"));
        assert!(!re("(a*)*b", &"a".repeat(5000)), "linear time, no blow-up");
        for bad in ["(", ")", "a{2", "*a", "(?=x)", "\\q", "a{5,2}"] {
            assert!(Regex::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn command_matching() {
        let mut c = CommandSpec::exact("hostname", "sim\r\n");
        assert!(c.matches("  hostname "));
        assert!(!c.matches("HOSTNAME"));
        c.ignore_case = true;
        assert!(c.matches("HOSTNAME"));
    }
}
