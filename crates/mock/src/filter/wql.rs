// Over 800 lines because it is one grammar: the WQL lexer, parser and evaluator share the AST and are read together; the last ~30 lines are its unit tests.
//! WQL, the WMI Query Language, as WinRM accepts it in an enumeration filter
//! (dialect `http://schemas.microsoft.com/wbem/wsman/1/WQL`, MS-WSMV 3.1.4.1.13):
//! a hand-written lexer and recursive-descent parser for the data-query subset
//!
//! ```text
//! query      = SELECT ( "*" | name { "," name } ) FROM name [ WHERE condition ]
//! condition  = and { OR and }
//! and        = not { AND not }
//! not        = NOT not | "(" condition ")" | predicate
//! predicate  = name op constant | constant op name
//!            | name IS [ NOT ] NULL | name [ NOT ] LIKE string | name ISA string
//! op         = "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
//! constant   = string | integer | real | TRUE | FALSE | NULL
//! ```
//!
//! and its evaluation against [`Instance`]s. Keywords and property names are
//! case-insensitive (WMI's rule). Strings are quoted with `'` or `"`; inside them a
//! backslash escapes `\`, `'` or `"` (WQL's convention: `'C:\\Windows'`); a doubled
//! quote is *not* an escape. Integers are decimal or `0x` hex, optionally negative,
//! and must fit `sint64` or `uint64`; reals have a fraction and/or an exponent.
//!
//! Evaluation rules (WMI does the same where it documents anything):
//! - Numbers compare numerically across sint/uint/real, and with strings that parse
//!   as numbers (`Version = 5` matches `"5.0"`).
//! - Strings compare case-insensitively, for `=`/`<>` and for ordering alike.
//! - Date-times compare chronologically when both sides parse (xs:dateTime or the
//!   DMTF `yyyymmddHHMMSS.mmmmmm+UUU` form), else as strings.
//! - Booleans compare with `TRUE`/`FALSE`, `'true'`/`'false'` and `1`/`0`.
//! - A comparison involving NULL (either side) is false, whatever the operator;
//!   `IS [NOT] NULL` tests for it. Logic is two-valued: `NOT (p = 1)` is true when `p`
//!   is NULL.
//! - An array property satisfies a comparison, LIKE or ISA when any element does.
//! - A reference property compares (and LIKEs) as its WMI object path
//!   `Class.Key="value"`; `p ISA 'C'` tests the referenced class.
//! - Comparing values of unrelated types (a string that is not a number with a
//!   number) is false, not an error.
//! - A property that the instance does not have is an error ([`EvalError`]), as WMI
//!   answers "invalid query"; it is checked before evaluation so the outcome does not
//!   depend on short-circuiting. The system properties `__CLASS` (the class name) and
//!   `__THIS` (the instance itself, for `__THIS ISA 'C'`) are always known.
//! - The FROM class must be the enumerated class or a subclass of it (checked by the
//!   caller with [`Query::check_class`]); only instances of the FROM class or its
//!   subclasses are selected.
//! - `SELECT a, b` keeps `a`, `b` and the key properties (so that the EPR of each
//!   result is still complete), in the instance's own property order.

use std::fmt;

use machine::cim::{Instance, Value};

use super::value::{
    Num, fold_cmp, fold_eq, is_a, is_wildcard_class, object_path, parse_bool, parse_datetime,
    parse_number, project, property, scalar_text, value_number,
};

/// How deeply parentheses and NOTs may nest. Bounds the recursion of the parser, the
/// evaluator and `Display`, so that no input can exhaust the stack.
pub const MAX_DEPTH: usize = 64;

/// A parsed WQL query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The SELECT list.
    pub projection: Projection,
    /// The FROM class, as written.
    pub class: String,
    /// The WHERE condition, if any.
    pub condition: Option<Expr>,
}

/// The SELECT list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    /// `SELECT *`.
    All,
    /// `SELECT a, b, ...`, names as written.
    Properties(Vec<String>),
}

/// A WHERE condition. AND and OR are n-ary (two or more operands) so that a long
/// chain stays flat instead of nesting one level per operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All operands hold.
    And(Vec<Expr>),
    /// Some operand holds.
    Or(Vec<Expr>),
    /// The operand does not hold.
    Not(Box<Expr>),
    /// `property op value`; `value op property` is stored with the operator mirrored.
    Compare {
        /// The property name, as written.
        property: String,
        /// The operator.
        op: CompareOp,
        /// The constant.
        value: Literal,
    },
    /// `property IS NULL` (`negated`: `IS NOT NULL`).
    IsNull {
        /// The property name.
        property: String,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// `property LIKE 'pattern'` (`NOT LIKE` parses as `Not(Like)`).
    Like {
        /// The property name.
        property: String,
        /// The pattern: `%` any run, `_` one character, `[abc]`, `[a-z]` (WMI also
        /// writes `[a=z]`), `[^a]`; matched case-insensitively.
        pattern: String,
    },
    /// `property ISA 'Class'`.
    Isa {
        /// The property name (a reference, `__CLASS` or `__THIS`).
        property: String,
        /// The class.
        class: String,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`.
    Eq,
    /// `<>` or `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl CompareOp {
    /// The operator with its operands swapped (`5 < p` is `p > 5`).
    pub fn mirrored(self) -> CompareOp {
        match self {
            CompareOp::Lt => CompareOp::Gt,
            CompareOp::Le => CompareOp::Ge,
            CompareOp::Gt => CompareOp::Lt,
            CompareOp::Ge => CompareOp::Le,
            op => op,
        }
    }

    /// Whether an ordering satisfies the operator.
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CompareOp::Eq => ord == Equal,
            CompareOp::Ne => ord != Equal,
            CompareOp::Lt => ord == Less,
            CompareOp::Le => ord != Greater,
            CompareOp::Gt => ord == Greater,
            CompareOp::Ge => ord != Less,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "<>",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

/// A constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A string (escapes resolved).
    Str(String),
    /// An integer, within `i64::MIN..=u64::MAX`.
    Int(i128),
    /// A finite real.
    Real(f64),
    /// `TRUE` / `FALSE`.
    Bool(bool),
    /// `NULL`.
    Null,
}

/// A WQL syntax error: what went wrong and the byte offset in the query text where it
/// did. The message is what the client reads in the `wsen:CannotProcessFilter` fault,
/// so it names what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WqlError {
    /// The next token is not one the grammar allows here.
    #[error("expected {expected} at {position}, found {found}")]
    Expected {
        /// What the grammar allows (`FROM`, `a constant`...).
        expected: &'static str,
        /// What is there instead (`WHERE`, `'Name'`, `end of query`...).
        found: String,
        /// Byte offset of the token found.
        position: usize,
    },
    /// A string literal has no closing quote.
    #[error("unterminated string starting at {position}")]
    UnterminatedString {
        /// Byte offset of the opening quote.
        position: usize,
    },
    /// A backslash in a string is followed by something other than `\`, `'` or `"`.
    #[error(
        "invalid escape '\\{escape}' at {position} (WQL strings escape only \\\\, \\' and \\\")"
    )]
    InvalidEscape {
        /// The character after the backslash.
        escape: char,
        /// Byte offset of the backslash.
        position: usize,
    },
    /// A malformed number (`1.`, `0x`, `12abc`).
    #[error("invalid number '{text}' at {position}")]
    InvalidNumber {
        /// The text taken for the number.
        text: String,
        /// Byte offset where it starts.
        position: usize,
    },
    /// An integer outside sint64/uint64, or a real outside f64.
    #[error("number '{text}' at {position} is out of range")]
    NumberOutOfRange {
        /// The number as written.
        text: String,
        /// Byte offset where it starts.
        position: usize,
    },
    /// A character that starts no token.
    #[error("unexpected character '{ch}' at {position}")]
    UnexpectedCharacter {
        /// The character.
        ch: char,
        /// Its byte offset.
        position: usize,
    },
    /// A LIKE pattern that cannot be compiled.
    #[error("invalid LIKE pattern at {position}: {reason}")]
    InvalidPattern {
        /// What is wrong with it.
        reason: &'static str,
        /// Byte offset of the pattern's string literal.
        position: usize,
    },
    /// More than [`MAX_DEPTH`] nested parentheses or NOTs.
    #[error("condition nested deeper than {MAX_DEPTH} levels at {position}")]
    TooDeep {
        /// Byte offset of the token that went one level too deep.
        position: usize,
    },
}

impl WqlError {
    /// The byte offset the error refers to.
    pub fn position(&self) -> usize {
        match self {
            WqlError::Expected { position, .. }
            | WqlError::UnterminatedString { position }
            | WqlError::InvalidEscape { position, .. }
            | WqlError::InvalidNumber { position, .. }
            | WqlError::NumberOutOfRange { position, .. }
            | WqlError::UnexpectedCharacter { position, .. }
            | WqlError::InvalidPattern { position, .. }
            | WqlError::TooDeep { position } => *position,
        }
    }
}

/// A query that parsed but cannot be answered for an instance (WMI's "invalid query").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The query names a property the instance's class does not have.
    #[error("unknown property '{property}' in class {class}")]
    UnknownProperty {
        /// The name as written in the query.
        property: String,
        /// The instance's class.
        class: String,
    },
}

/// The FROM class does not fit the enumerated class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("FROM class {from} is not {enumerated} or one of its subclasses")]
pub struct ClassMismatch {
    /// The class in FROM.
    pub from: String,
    /// The class the request enumerates.
    pub enumerated: String,
}

impl Query {
    /// Parses a query.
    pub fn parse(text: &str) -> Result<Query, WqlError> {
        Parser::new(text).query()
    }

    /// Checks that the FROM class is `enumerated` or one of its subclasses. A
    /// wildcard (`*` or empty, from a resource URI such as `.../cimv2/*`) accepts any.
    pub fn check_class(
        &self,
        enumerated: &str,
        is_subclass: &dyn Fn(&str, &str) -> bool,
    ) -> Result<(), ClassMismatch> {
        if is_wildcard_class(enumerated) || is_a(is_subclass, &self.class, enumerated) {
            Ok(())
        } else {
            Err(ClassMismatch {
                from: self.class.clone(),
                enumerated: enumerated.to_owned(),
            })
        }
    }

    /// Whether the instance is of the FROM class (or a subclass) and satisfies WHERE.
    pub fn matches(
        &self,
        inst: &Instance,
        is_subclass: &dyn Fn(&str, &str) -> bool,
    ) -> Result<bool, EvalError> {
        if !is_a(is_subclass, &inst.class, &self.class) {
            return Ok(false);
        }
        let Some(cond) = &self.condition else {
            return Ok(true);
        };
        check_properties(cond, inst)?;
        Ok(eval(cond, inst, is_subclass))
    }

    /// The instance as the SELECT list shapes it (see the module doc for keys).
    pub fn project(&self, inst: &Instance) -> Result<Instance, EvalError> {
        match &self.projection {
            Projection::All => Ok(inst.clone()),
            Projection::Properties(names) => {
                for n in names {
                    known(inst, n)?;
                }
                Ok(project(inst, names))
            }
        }
    }

    /// [`matches`](Self::matches) then [`project`](Self::project): the instance as the
    /// query returns it, or `None` when it is not selected.
    pub fn select(
        &self,
        inst: &Instance,
        is_subclass: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Option<Instance>, EvalError> {
        if self.matches(inst, is_subclass)? {
            self.project(inst).map(Some)
        } else {
            Ok(None)
        }
    }
}

// ---------------------------------------------------------------------------------
// Evaluation

/// The WMI system properties the evaluator knows without the instance having them.
fn system_property(name: &str) -> bool {
    fold_eq(name, "__CLASS") || fold_eq(name, "__THIS")
}

fn known(inst: &Instance, name: &str) -> Result<(), EvalError> {
    if system_property(name) || property(inst, name).is_some() {
        Ok(())
    } else {
        Err(EvalError::UnknownProperty {
            property: name.to_owned(),
            class: inst.class.clone(),
        })
    }
}

/// Every property the condition names exists on the instance (first unknown, in
/// query order, is reported).
fn check_properties(e: &Expr, inst: &Instance) -> Result<(), EvalError> {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().try_for_each(|e| check_properties(e, inst)),
        Expr::Not(e) => check_properties(e, inst),
        Expr::Compare { property, .. }
        | Expr::IsNull { property, .. }
        | Expr::Like { property, .. }
        | Expr::Isa { property, .. } => known(inst, property),
    }
}

/// The value of a property, system properties included (`__THIS` has no value; it
/// only means something to ISA).
fn lookup(inst: &Instance, name: &str) -> Option<Value> {
    if fold_eq(name, "__CLASS") {
        return Some(Value::Str(inst.class.clone()));
    }
    property(inst, name).map(|p| p.value.clone())
}

fn eval(e: &Expr, inst: &Instance, is_subclass: &dyn Fn(&str, &str) -> bool) -> bool {
    match e {
        Expr::And(v) => v.iter().all(|e| eval(e, inst, is_subclass)),
        Expr::Or(v) => v.iter().any(|e| eval(e, inst, is_subclass)),
        Expr::Not(e) => !eval(e, inst, is_subclass),
        Expr::Compare {
            property,
            op,
            value,
        } => lookup(inst, property).is_some_and(|v| any_element(&v, &|x| compare(x, *op, value))),
        Expr::IsNull { property, negated } => {
            let is_null = if fold_eq(property, "__THIS") {
                false
            } else {
                matches!(lookup(inst, property), None | Some(Value::Null))
            };
            is_null != *negated
        }
        Expr::Like { property, pattern } => {
            // The pattern was validated by the parser; a failure here cannot happen,
            // and would only make the predicate false.
            let Ok(pat) = LikePattern::compile(pattern) else {
                return false;
            };
            lookup(inst, property).is_some_and(|v| any_element(&v, &|x| like_value(x, &pat)))
        }
        Expr::Isa { property, class } => {
            if fold_eq(property, "__THIS") {
                return is_a(is_subclass, &inst.class, class);
            }
            lookup(inst, property).is_some_and(|v| {
                any_element(&v, &|x| match x {
                    Value::Ref(r) => is_a(is_subclass, &r.class, class),
                    Value::Str(s) => is_a(is_subclass, s, class),
                    _ => false,
                })
            })
        }
    }
}

/// Applies a scalar predicate to a value, or to each element of an array value.
fn any_element(v: &Value, f: &dyn Fn(&Value) -> bool) -> bool {
    match v {
        Value::Array(items) => items.iter().any(|x| any_element(x, f)),
        x => f(x),
    }
}

fn compare(v: &Value, op: CompareOp, lit: &Literal) -> bool {
    ordering(v, lit).is_some_and(|o| op.holds(o))
}

/// How a scalar value orders against a constant; `None` when they do not compare
/// (NULL on either side, unrelated types, NaN).
fn ordering(v: &Value, lit: &Literal) -> Option<std::cmp::Ordering> {
    let lit_num = || match lit {
        Literal::Int(i) => Some(Num::Int(*i)),
        Literal::Real(r) => Some(Num::Real(*r)),
        Literal::Str(s) => parse_number(s),
        _ => None,
    };
    match (v, lit) {
        (Value::Null, _) | (_, Literal::Null) => None,
        (Value::Int(_) | Value::UInt(_) | Value::Real(_), _) => value_number(v)?.cmp(lit_num()?),
        (Value::Str(s), Literal::Str(l)) => Some(fold_cmp(s, l)),
        (Value::Str(s), Literal::Int(_) | Literal::Real(_)) => parse_number(s)?.cmp(lit_num()?),
        (Value::Str(s), Literal::Bool(b)) => Some(parse_bool(s)?.cmp(b)),
        (Value::Bool(b), Literal::Bool(l)) => Some(b.cmp(l)),
        (Value::Bool(b), Literal::Int(i)) => match i {
            0 => Some(b.cmp(&false)),
            1 => Some(b.cmp(&true)),
            _ => None,
        },
        (Value::Bool(b), Literal::Str(s)) => Some(b.cmp(&parse_bool(s)?)),
        (Value::DateTime(d), Literal::Str(s)) => match (parse_datetime(d), parse_datetime(s)) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => Some(fold_cmp(d, s)),
        },
        (Value::Ref(r), Literal::Str(s)) => Some(fold_cmp(&object_path(r), s)),
        _ => None,
    }
}

fn like_value(v: &Value, pat: &LikePattern) -> bool {
    match v {
        Value::Ref(r) => pat.matches(&object_path(r)),
        v => scalar_text(v).is_some_and(|t| pat.matches(&t)),
    }
}

// ---------------------------------------------------------------------------------
// LIKE patterns

#[derive(Debug, Clone, PartialEq)]
enum PatItem {
    /// `%`.
    Any,
    /// `_`.
    One,
    /// `[...]`: ranges (a single character is a one-character range), negated by `^`.
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// Any other character.
    Char(char),
}

/// A compiled LIKE pattern.
#[derive(Debug, Clone, PartialEq)]
struct LikePattern(Vec<PatItem>);

fn char_eq_fold(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

fn in_range(c: char, (lo, hi): (char, char)) -> bool {
    // Case-insensitive: the character or any of its case variants falls in the range.
    let inside = |x: char| lo <= x && x <= hi;
    inside(c) || c.to_lowercase().any(inside) || c.to_uppercase().any(inside)
}

impl LikePattern {
    fn compile(p: &str) -> Result<LikePattern, &'static str> {
        let mut items = Vec::new();
        let mut chars = p.chars().peekable();
        while let Some(c) = chars.next() {
            items.push(match c {
                '%' => {
                    // Consecutive % are one; keeps matching linear.
                    if items.last() == Some(&PatItem::Any) {
                        continue;
                    }
                    PatItem::Any
                }
                '_' => PatItem::One,
                '[' => {
                    let negated = chars.next_if_eq(&'^').is_some();
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(lo) = chars.next() else {
                            return Err("unterminated '[' set");
                        };
                        // A ']' right after '[' or '[^' is a literal, so "[]]" works.
                        if lo == ']' && !first {
                            break;
                        }
                        first = false;
                        let mut look = chars.clone();
                        match (look.next(), look.next()) {
                            (Some('-' | '='), Some(hi)) if hi != ']' => {
                                chars.next();
                                chars.next();
                                if hi < lo {
                                    return Err("reversed range in '[' set");
                                }
                                ranges.push((lo, hi));
                            }
                            _ => ranges.push((lo, lo)),
                        }
                    }
                    PatItem::Set { negated, ranges }
                }
                c => PatItem::Char(c),
            });
        }
        Ok(LikePattern(items))
    }

    fn one(item: &PatItem, c: char) -> bool {
        match item {
            PatItem::Any => true,
            PatItem::One => true,
            PatItem::Char(p) => char_eq_fold(*p, c),
            PatItem::Set { negated, ranges } => ranges.iter().any(|r| in_range(c, *r)) != *negated,
        }
    }

    /// Iterative wildcard matching with one backtrack point per `%` (the classic
    /// two-pointer algorithm): O(pattern × text) worst case, no recursion.
    fn matches(&self, text: &str) -> bool {
        let t: Vec<char> = text.chars().collect();
        let p = &self.0;
        let (mut pi, mut ti) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && p[pi] == PatItem::Any {
                star = Some((pi + 1, ti));
                pi += 1;
            } else if pi < p.len() && Self::one(&p[pi], t[ti]) {
                pi += 1;
                ti += 1;
            } else if let Some((sp, st)) = star {
                pi = sp;
                ti = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|i| *i == PatItem::Any)
    }
}

// ---------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kw {
    Select,
    From,
    Where,
    And,
    Or,
    Not,
    Is,
    Null,
    Like,
    Isa,
    True,
    False,
}

const KEYWORDS: &[(&str, Kw)] = &[
    ("SELECT", Kw::Select),
    ("FROM", Kw::From),
    ("WHERE", Kw::Where),
    ("AND", Kw::And),
    ("OR", Kw::Or),
    ("NOT", Kw::Not),
    ("IS", Kw::Is),
    ("NULL", Kw::Null),
    ("LIKE", Kw::Like),
    ("ISA", Kw::Isa),
    ("TRUE", Kw::True),
    ("FALSE", Kw::False),
];

/// Whether a word is a WQL keyword (and so cannot be a property or class name).
pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|(k, _)| k.eq_ignore_ascii_case(word))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Kw(Kw),
    Str(String),
    Int(i128),
    Real(f64),
    Star,
    Comma,
    LParen,
    RParen,
    Op(CompareOp),
    End,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    tok: Tok,
    pos: usize,
}

impl Token {
    /// How the token reads in an error message.
    fn describe(&self) -> String {
        match &self.tok {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Kw(k) => KEYWORDS
                .iter()
                .find(|(_, kw)| kw == k)
                .map_or_else(String::new, |(s, _)| (*s).to_owned()),
            Tok::Str(_) => "a string".to_owned(),
            Tok::Int(_) | Tok::Real(_) => "a number".to_owned(),
            Tok::Star => "'*'".to_owned(),
            Tok::Comma => "','".to_owned(),
            Tok::LParen => "'('".to_owned(),
            Tok::RParen => "')'".to_owned(),
            Tok::Op(op) => format!("'{}'", op.symbol()),
            Tok::End => "end of query".to_owned(),
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
}

impl<'s> Lexer<'s> {
    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.src[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn next_token(&mut self) -> Result<Token, WqlError> {
        while self.peek_char().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let pos = self.pos;
        let Some(c) = self.peek_char() else {
            return Ok(Token { tok: Tok::End, pos });
        };
        let tok = match c {
            '*' => self.single(Tok::Star),
            ',' => self.single(Tok::Comma),
            '(' => self.single(Tok::LParen),
            ')' => self.single(Tok::RParen),
            '=' => self.single(Tok::Op(CompareOp::Eq)),
            '<' => {
                self.bump();
                match self.peek_char() {
                    Some('=') => self.single(Tok::Op(CompareOp::Le)),
                    Some('>') => self.single(Tok::Op(CompareOp::Ne)),
                    _ => Tok::Op(CompareOp::Lt),
                }
            }
            '>' => {
                self.bump();
                match self.peek_char() {
                    Some('=') => self.single(Tok::Op(CompareOp::Ge)),
                    _ => Tok::Op(CompareOp::Gt),
                }
            }
            '!' if self.peek_second() == Some('=') => {
                self.bump();
                self.single(Tok::Op(CompareOp::Ne))
            }
            '\'' | '"' => self.string(c)?,
            '-' if self.peek_second().is_some_and(|d| d.is_ascii_digit()) => self.number()?,
            c if c.is_ascii_digit() => self.number()?,
            c if is_ident_start(c) => {
                while self.peek_char().is_some_and(is_ident_char) {
                    self.bump();
                }
                let word = &self.src[pos..self.pos];
                match KEYWORDS.iter().find(|(k, _)| k.eq_ignore_ascii_case(word)) {
                    Some((_, kw)) => Tok::Kw(*kw),
                    None => Tok::Ident(word.to_owned()),
                }
            }
            ch => return Err(WqlError::UnexpectedCharacter { ch, position: pos }),
        };
        Ok(Token { tok, pos })
    }

    fn single(&mut self, t: Tok) -> Tok {
        self.bump();
        t
    }

    fn string(&mut self, quote: char) -> Result<Tok, WqlError> {
        let start = self.pos;
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(WqlError::UnterminatedString { position: start }),
                Some(c) if c == quote => return Ok(Tok::Str(s)),
                Some('\\') => {
                    let at = self.pos - 1;
                    match self.bump() {
                        None => return Err(WqlError::UnterminatedString { position: start }),
                        Some(e @ ('\\' | '\'' | '"')) => s.push(e),
                        Some(escape) => {
                            return Err(WqlError::InvalidEscape {
                                escape,
                                position: at,
                            });
                        }
                    }
                }
                Some(c) => s.push(c),
            }
        }
    }

    fn number(&mut self) -> Result<Tok, WqlError> {
        let start = self.pos;
        // Take the whole run of characters that could belong to a number, so that
        // `12abc` is reported as one bad number rather than `12` then `abc`.
        if self.peek_char() == Some('-') {
            self.bump();
        }
        while let Some(c) = self.peek_char() {
            let exp_sign = (c == '+' || c == '-')
                && matches!(self.src[start..self.pos].chars().last(), Some('e' | 'E'))
                && !self.src[start..self.pos].contains(['x', 'X']);
            if is_ident_char(c) || c == '.' || exp_sign {
                self.bump();
            } else {
                break;
            }
        }
        let text = &self.src[start..self.pos];
        let invalid = || WqlError::InvalidNumber {
            text: text.to_owned(),
            position: start,
        };
        let out_of_range = || WqlError::NumberOutOfRange {
            text: text.to_owned(),
            position: start,
        };
        let Some(n) = parse_number(text) else {
            // Distinguish "too big" from "malformed": well-formed digits that do not
            // fit i128 or f64.
            let digits = text.trim_start_matches('-');
            let hex = digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0X"));
            let well_formed = match hex {
                Some(h) => !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()),
                None => {
                    digits.bytes().all(|b| b.is_ascii_digit())
                        || text.parse::<f64>().is_ok_and(|f| f.is_infinite())
                }
            };
            return Err(if well_formed && !digits.is_empty() {
                out_of_range()
            } else {
                invalid()
            });
        };
        match n {
            Num::Int(i) if i < i128::from(i64::MIN) || i > i128::from(u64::MAX) => {
                Err(out_of_range())
            }
            Num::Int(i) => Ok(Tok::Int(i)),
            Num::Real(r) => Ok(Tok::Real(r)),
        }
    }
}

// ---------------------------------------------------------------------------------
// Parser

struct Parser<'s> {
    lexer: Lexer<'s>,
    peeked: Option<Token>,
    depth: usize,
}

impl<'s> Parser<'s> {
    fn new(src: &'s str) -> Parser<'s> {
        Parser {
            lexer: Lexer { src, pos: 0 },
            peeked: None,
            depth: 0,
        }
    }

    fn peek(&mut self) -> Result<&Token, WqlError> {
        let t = match self.peeked.take() {
            Some(t) => t,
            None => self.lexer.next_token()?,
        };
        Ok(self.peeked.insert(t))
    }

    fn next(&mut self) -> Result<Token, WqlError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next_token(),
        }
    }

    fn expected<T>(&mut self, expected: &'static str) -> Result<T, WqlError> {
        let t = self.peek()?;
        Err(WqlError::Expected {
            expected,
            found: t.describe(),
            position: t.pos,
        })
    }

    fn eat_kw(&mut self, kw: Kw) -> Result<bool, WqlError> {
        if self.peek()?.tok == Tok::Kw(kw) {
            self.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn ident(&mut self, expected: &'static str) -> Result<String, WqlError> {
        if let Tok::Ident(s) = &self.peek()?.tok {
            let s = s.clone();
            self.next()?;
            return Ok(s);
        }
        self.expected(expected)
    }

    fn query(mut self) -> Result<Query, WqlError> {
        if !self.eat_kw(Kw::Select)? {
            return self.expected("SELECT");
        }
        let projection = if self.peek()?.tok == Tok::Star {
            self.next()?;
            Projection::All
        } else {
            let mut names = vec![self.ident("'*' or a property name")?];
            while self.peek()?.tok == Tok::Comma {
                self.next()?;
                let n = self.ident("a property name")?;
                // A name listed twice is one property.
                if !names.iter().any(|m| fold_eq(m, &n)) {
                    names.push(n);
                }
            }
            Projection::Properties(names)
        };
        if !self.eat_kw(Kw::From)? {
            return self.expected(match projection {
                Projection::All => "FROM",
                Projection::Properties(_) => "',' or FROM",
            });
        }
        let class = self.ident("a class name")?;
        let condition = if self.eat_kw(Kw::Where)? {
            Some(self.or()?)
        } else {
            None
        };
        if self.peek()?.tok != Tok::End {
            return self.expected(if condition.is_some() {
                "AND, OR or end of query"
            } else {
                "WHERE or end of query"
            });
        }
        Ok(Query {
            projection,
            class,
            condition,
        })
    }

    fn or(&mut self) -> Result<Expr, WqlError> {
        let mut items = vec![self.and()?];
        while self.eat_kw(Kw::Or)? {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, WqlError> {
        let mut items = vec![self.not()?];
        while self.eat_kw(Kw::And)? {
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn deeper(&mut self) -> Result<(), WqlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let position = self.peek()?.pos;
            return Err(WqlError::TooDeep { position });
        }
        Ok(())
    }

    fn not(&mut self) -> Result<Expr, WqlError> {
        let t = self.peek()?.clone();
        match t.tok {
            Tok::Kw(Kw::Not) => {
                self.deeper()?;
                self.next()?;
                let e = self.not()?;
                self.depth -= 1;
                Ok(Expr::Not(Box::new(e)))
            }
            Tok::LParen => {
                self.deeper()?;
                self.next()?;
                let e = self.or()?;
                if self.peek()?.tok != Tok::RParen {
                    return self.expected("')'");
                }
                self.next()?;
                self.depth -= 1;
                Ok(e)
            }
            _ => self.predicate(),
        }
    }

    fn literal(&mut self) -> Result<Option<Literal>, WqlError> {
        let lit = match &self.peek()?.tok {
            Tok::Str(s) => Literal::Str(s.clone()),
            Tok::Int(i) => Literal::Int(*i),
            Tok::Real(r) => Literal::Real(*r),
            Tok::Kw(Kw::True) => Literal::Bool(true),
            Tok::Kw(Kw::False) => Literal::Bool(false),
            Tok::Kw(Kw::Null) => Literal::Null,
            _ => return Ok(None),
        };
        self.next()?;
        Ok(Some(lit))
    }

    fn op(&mut self) -> Result<Option<CompareOp>, WqlError> {
        if let Tok::Op(op) = self.peek()?.tok {
            self.next()?;
            Ok(Some(op))
        } else {
            Ok(None)
        }
    }

    fn predicate(&mut self) -> Result<Expr, WqlError> {
        // `constant op property`: stored as `property mirrored-op constant`.
        if let Some(value) = self.literal()? {
            let Some(op) = self.op()? else {
                return self.expected("a comparison operator");
            };
            let property = self.ident("a property name")?;
            return Ok(Expr::Compare {
                property,
                op: op.mirrored(),
                value,
            });
        }
        let property = self.ident("a property name, a constant, NOT or '('")?;
        if let Some(op) = self.op()? {
            let Some(value) = self.literal()? else {
                return self.expected("a constant");
            };
            return Ok(Expr::Compare {
                property,
                op,
                value,
            });
        }
        let t = self.peek()?.clone();
        match t.tok {
            Tok::Kw(Kw::Is) => {
                self.next()?;
                let negated = self.eat_kw(Kw::Not)?;
                if !self.eat_kw(Kw::Null)? {
                    return self.expected(if negated { "NULL" } else { "NULL or NOT NULL" });
                }
                Ok(Expr::IsNull { property, negated })
            }
            Tok::Kw(Kw::Like) => {
                self.next()?;
                self.like(property)
            }
            Tok::Kw(Kw::Not) => {
                self.next()?;
                if !self.eat_kw(Kw::Like)? {
                    return self.expected("LIKE");
                }
                Ok(Expr::Not(Box::new(self.like(property)?)))
            }
            Tok::Kw(Kw::Isa) => {
                self.next()?;
                let t = self.peek()?.clone();
                match t.tok {
                    Tok::Str(class) => {
                        self.next()?;
                        Ok(Expr::Isa { property, class })
                    }
                    _ => self.expected("a class name string"),
                }
            }
            _ => self.expected("a comparison operator, IS, LIKE, NOT LIKE or ISA"),
        }
    }

    fn like(&mut self, property: String) -> Result<Expr, WqlError> {
        let t = self.peek()?.clone();
        let Tok::Str(pattern) = t.tok else {
            return self.expected("a pattern string");
        };
        self.next()?;
        LikePattern::compile(&pattern).map_err(|reason| WqlError::InvalidPattern {
            reason,
            position: t.pos,
        })?;
        Ok(Expr::Like { property, pattern })
    }
}

// ---------------------------------------------------------------------------------
// Display: prints a query that parses back to the same AST (see the proptest in
// tests/filter.rs), with the fewest parentheses precedence allows.

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        match &self.projection {
            Projection::All => f.write_str("*")?,
            Projection::Properties(names) => f.write_str(&names.join(", "))?,
        }
        write!(f, " FROM {}", self.class)?;
        if let Some(c) = &self.condition {
            write!(f, " WHERE {c}")?;
        }
        Ok(())
    }
}

fn write_str_literal(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("'")?;
    for c in s.chars() {
        if c == '\\' || c == '\'' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("'")
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write_str_literal(f, s),
            Literal::Int(i) => write!(f, "{i}"),
            // `{:?}` keeps a fraction or exponent (`1.0`, `1e-7`), so the text lexes
            // back as a real, and is the shortest that round-trips.
            Literal::Real(r) => write!(f, "{r:?}"),
            Literal::Bool(true) => f.write_str("TRUE"),
            Literal::Bool(false) => f.write_str("FALSE"),
            Literal::Null => f.write_str("NULL"),
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An operand is parenthesized when it binds no tighter than its parent:
        // OR inside AND or NOT, AND inside NOT, and a nested same-kind list (which
        // only parentheses can have produced).
        let operand = |f: &mut fmt::Formatter<'_>, e: &Expr, paren: bool| {
            if paren {
                write!(f, "({e})")
            } else {
                write!(f, "{e}")
            }
        };
        match self {
            Expr::Or(items) => {
                for (i, e) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" OR ")?;
                    }
                    operand(f, e, matches!(e, Expr::Or(_)))?;
                }
                Ok(())
            }
            Expr::And(items) => {
                for (i, e) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" AND ")?;
                    }
                    operand(f, e, matches!(e, Expr::Or(_) | Expr::And(_)))?;
                }
                Ok(())
            }
            Expr::Not(e) => {
                f.write_str("NOT ")?;
                operand(f, e, matches!(**e, Expr::Or(_) | Expr::And(_)))
            }
            Expr::Compare {
                property,
                op,
                value,
            } => write!(f, "{property} {op} {value}"),
            Expr::IsNull { property, negated } => {
                write!(
                    f,
                    "{property} IS {}NULL",
                    if *negated { "NOT " } else { "" }
                )
            }
            Expr::Like { property, pattern } => {
                write!(f, "{property} LIKE ")?;
                write_str_literal(f, pattern)
            }
            Expr::Isa { property, class } => {
                write!(f, "{property} ISA ")?;
                write_str_literal(f, class)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(p: &str, t: &str) -> bool {
        LikePattern::compile(p).is_ok_and(|c| c.matches(t))
    }

    #[test]
    fn like_patterns() {
        assert!(like("%", ""));
        assert!(like("a%", "ABC"));
        assert!(like("%b%", "abc"));
        assert!(!like("%d%", "abc"));
        assert!(like("a_c", "abc"));
        assert!(!like("a_c", "ac"));
        assert!(like("[abc]x", "Bx"));
        assert!(like("[a-c]x", "cx"));
        assert!(like("[a=c]x", "cx"));
        assert!(!like("[^a-c]x", "cx"));
        assert!(like("[^a-c]x", "dx"));
        assert!(like("[]]", "]"));
        assert!(like("[a-]", "-"));
        assert!(like("%%%a", "aaa"));
        assert!(LikePattern::compile("[abc").is_err());
        assert!(LikePattern::compile("[z-a]").is_err());
    }
}
