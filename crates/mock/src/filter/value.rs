//! Comparison helpers the three dialects share: CIM name matching, number and
//! date-time parsing, reference equality and property projection. Kept in one place so
//! that WQL, the selector filter and the association filter agree on what "the same
//! value" and "the same instance" mean.

use std::cmp::Ordering;

use machine::cim::{Instance, Property, Reference, Value};

/// The selector that openwsman adds to name the CIM namespace; it addresses the
/// namespace, not a key property, so matching skips it.
pub(crate) const CIM_NAMESPACE_SELECTOR: &str = "__cimnamespace";

/// CIM names (classes, properties, roles) compare case-insensitively (DSP0004 names
/// are case-insensitive); full Unicode lowercase folding, no allocation.
pub(crate) fn fold_eq(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// Case-insensitive ordering of two strings (WQL string comparisons).
pub(crate) fn fold_cmp(a: &str, b: &str) -> Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

/// Whether `child` is `parent` or one of its subclasses. Equality is checked here so
/// that callers' `is_subclass` may be strict or reflexive, as they like.
pub(crate) fn is_a(is_subclass: &dyn Fn(&str, &str) -> bool, child: &str, parent: &str) -> bool {
    fold_eq(child, parent) || is_subclass(child, parent)
}

/// The class a resource URI names: its last path segment (`.../CIM_Fan` → `CIM_Fan`),
/// as openwsman's `cim_epr_to_objectpath` takes it. `*` (all classes) stays `*`.
pub fn class_of_resource_uri(uri: &str) -> &str {
    let uri = uri.trim();
    let uri = uri.split(['?', '#']).next().unwrap_or(uri);
    uri.rsplit('/').next().unwrap_or(uri)
}

/// Whether a class name stands for "every class" (a wildcard resource URI such as
/// `http://schemas.dmtf.org/wbem/wscim/1/*`, or no class at all).
pub(crate) fn is_wildcard_class(class: &str) -> bool {
    let c = class.trim();
    c.is_empty() || c == "*"
}

/// The property called `name` (case-insensitively).
pub(crate) fn property<'i>(inst: &'i Instance, name: &str) -> Option<&'i Property> {
    inst.properties.iter().find(|p| fold_eq(&p.name, name))
}

/// Whether two references name the same instance: related classes (equal, or one a
/// subclass of the other, because an EPR may address an instance through a base
/// class's resource URI) and the same key set (names case-insensitive, values exact).
pub(crate) fn same_instance(
    a: &Reference,
    b: &Reference,
    is_subclass: &dyn Fn(&str, &str) -> bool,
) -> bool {
    let related = is_a(is_subclass, &a.class, &b.class) || is_a(is_subclass, &b.class, &a.class);
    related && same_keys(&a.keys, &b.keys)
}

/// Key sets equal regardless of order; names case-insensitive, values exact.
pub(crate) fn same_keys(a: &[(String, String)], b: &[(String, String)]) -> bool {
    let a: Vec<_> = a
        .iter()
        .filter(|(n, _)| !fold_eq(n, CIM_NAMESPACE_SELECTOR))
        .collect();
    let b: Vec<_> = b
        .iter()
        .filter(|(n, _)| !fold_eq(n, CIM_NAMESPACE_SELECTOR))
        .collect();
    a.len() == b.len()
        && a.iter()
            .all(|(n, v)| b.iter().any(|(m, w)| fold_eq(n, m) && v == w))
}

/// An identity for deduplication: the lowercased class and the sorted, lowercased key
/// names with their values. Two references with the same identity name the same
/// instance as far as a result set is concerned.
pub(crate) fn identity(r: &Reference) -> (String, Vec<(String, String)>) {
    let mut keys: Vec<(String, String)> = r
        .keys
        .iter()
        .filter(|(n, _)| !fold_eq(n, CIM_NAMESPACE_SELECTOR))
        .map(|(n, v)| (n.to_lowercase(), v.clone()))
        .collect();
    keys.sort();
    (r.class.to_lowercase(), keys)
}

/// A WMI-style object path, `Class.Key1="v1",Key2="v2"`, used when a WQL query
/// compares a reference property with a string or matches it with LIKE.
pub(crate) fn object_path(r: &Reference) -> String {
    let mut s = r.class.clone();
    for (i, (n, v)) in r.keys.iter().enumerate() {
        s.push(if i == 0 { '.' } else { ',' });
        s.push_str(n);
        s.push_str("=\"");
        for c in v.chars() {
            if c == '"' || c == '\\' {
                s.push('\\');
            }
            s.push(c);
        }
        s.push('"');
    }
    s
}

/// The instance cut down to the named properties plus its keys. Keys stay so that an
/// EPR can still be built for each result (WMI likewise always returns key properties
/// of a projected instance, so that its path stays valid). Names not present are
/// ignored here; callers that must reject them check first.
pub(crate) fn project(inst: &Instance, names: &[String]) -> Instance {
    let keep = |p: &Property| {
        inst.keys.iter().any(|(k, _)| fold_eq(k, &p.name))
            || names.iter().any(|n| fold_eq(n, &p.name))
    };
    Instance {
        class: inst.class.clone(),
        keys: inst.keys.clone(),
        properties: inst
            .properties
            .iter()
            .filter(|p| keep(p))
            .cloned()
            .collect(),
    }
}

/// A number, exact for integers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    /// Integers of both signs (i64 and u64 both fit).
    Int(i128),
    /// Reals.
    Real(f64),
}

impl Num {
    /// Numeric ordering; `None` when a NaN is involved. Integer against real goes
    /// through f64, which is exact up to 2^53 and close enough beyond.
    pub(crate) fn cmp(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (Num::Real(a), Num::Real(b)) => a.partial_cmp(&b),
            (Num::Int(a), Num::Real(b)) => (a as f64).partial_cmp(&b),
            (Num::Real(a), Num::Int(b)) => a.partial_cmp(&(b as f64)),
        }
    }
}

/// The number a CIM numeric value holds.
pub(crate) fn value_number(v: &Value) -> Option<Num> {
    match v {
        Value::Int(i) => Some(Num::Int(i128::from(*i))),
        Value::UInt(u) => Some(Num::Int(i128::from(*u))),
        Value::Real(r) => Some(Num::Real(*r)),
        _ => None,
    }
}

/// Parses a numeric string in WQL's literal syntax (decimal or `0x` hex integers with
/// an optional `-`, reals with an optional fraction and exponent), after trimming
/// whitespace; a leading `+` is accepted too, as xs:integer allows it. Anything else,
/// including `inf` and `NaN` which Rust's own parser would take, is not a number.
pub(crate) fn parse_number(s: &str) -> Option<Num> {
    let s = s.trim();
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let v = i128::from_str_radix(hex, 16).ok()?;
        return Some(Num::Int(if neg { -v } else { v }));
    }
    let b = body.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return None;
    }
    let mut real = false;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        real = true;
        if !digits(&mut i) {
            return None;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        real = true;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    if real {
        let v: f64 = s.trim_start_matches('+').parse().ok()?;
        v.is_finite().then_some(Num::Real(v))
    } else {
        let v: i128 = body.parse().ok()?;
        Some(Num::Int(if neg { -v } else { v }))
    }
}

/// A boolean written as `true`/`false` (any case) or `1`/`0` (xs:boolean's lexical
/// space, made case-insensitive to match WMI's leniency).
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") || s == "1" {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") || s == "0" {
        Some(false)
    } else {
        None
    }
}

/// A point in time as (seconds since 1970-01-01T00:00:00Z, nanoseconds), parsed from
/// either `xs:dateTime` (`2026-11-24T08:00:00Z`, offset optional and then taken as
/// UTC) or the CIM/DMTF datetime format (`20261124080000.000000+000`, offset in
/// minutes) that WMI users write in WQL. Intervals and malformed text give `None`.
pub(crate) fn parse_datetime(s: &str) -> Option<(i64, u32)> {
    let s = s.trim();
    if s.len() == 25 && s.as_bytes()[14] == b'.' {
        parse_dmtf(s)
    } else {
        parse_xs(s)
    }
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn nanos(frac: &str) -> Option<u32> {
    if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    digits.parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), after checking the fields are in range.
pub(crate) fn days(y: i64, m: i64, d: i64) -> Option<i64> {
    // A year past a million either way is no date (and would overflow the count).
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(-1_000_000..=1_000_000).contains(&y) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn instant(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, offset_min: i64) -> Option<i64> {
    if h > 24 || mi > 59 || s > 60 || offset_min.abs() > 24 * 60 {
        return None;
    }
    Some(days(y, mo, d)? * 86_400 + h * 3600 + mi * 60 + s - offset_min * 60)
}

fn parse_dmtf(s: &str) -> Option<(i64, u32)> {
    let g = |a: usize, b: usize| s.get(a..b).and_then(num);
    let offset = g(22, 25)?;
    let offset = match s.as_bytes()[21] {
        b'+' => offset,
        b'-' => -offset,
        _ => return None,
    };
    let secs = instant(
        g(0, 4)?,
        g(4, 6)?,
        g(6, 8)?,
        g(8, 10)?,
        g(10, 12)?,
        g(12, 14)?,
        offset,
    )?;
    Some((secs, nanos(s.get(15..21)?)?))
}

fn parse_xs(s: &str) -> Option<(i64, u32)> {
    let (date, time) = s.split_once(['T', 't'])?;
    let (neg, date) = match date.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, date),
    };
    let mut parts = date.splitn(3, '-');
    let y = num(parts.next()?)?;
    let y = if neg { -y } else { y };
    let mo = num(parts.next()?)?;
    let d = num(parts.next()?)?;
    // Split the zone designator off the time.
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, z) = time.split_at(i);
        let (zh, zm) = z[1..].split_once(':')?;
        let (zh, zm) = (num(zh)?, num(zm)?);
        if zh > 24 || zm > 59 {
            return None;
        }
        let off = zh * 60 + zm;
        (c, if z.starts_with('-') { -off } else { off })
    } else {
        (time, 0)
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((hms, f)) => (hms, nanos(f)?),
        None => (clock, 0),
    };
    let mut t = hms.splitn(3, ':');
    let h = num(t.next()?)?;
    let mi = num(t.next()?)?;
    let sec = num(t.next()?)?;
    Some((instant(y, mo, d, h, mi, sec, offset)?, frac))
}

/// The text form of a scalar value, as it appears in XML (what a selector value or a
/// LIKE pattern is matched against). `None` for NULL, arrays and references.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Str(s) | Value::DateTime(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Array(_) | Value::Ref(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A filter literal is request input: dates no calendar holds are not dates, and
    /// never overflow the arithmetic.
    #[test]
    fn absurd_datetimes_are_no_dates() {
        for s in [
            "99999999999999999-01-01T00:00:00Z",
            "-99999999999999999-01-01T00:00:00Z",
            "2026-01-01T00:00:00+999999999999999:00",
            "2026-01-01T00:00:00+25:00",
            "2026-01-01T99999999999999:00:00Z",
        ] {
            assert_eq!(parse_datetime(s), None, "{s}");
        }
        assert!(parse_datetime("1000000-12-31T23:59:59+14:00").is_some());
    }

    #[test]
    fn datetime_formats_agree() {
        let xs = parse_datetime("2026-11-24T08:00:00Z");
        assert_eq!(xs, parse_datetime("20261124080000.000000+000"));
        assert_eq!(xs, parse_datetime("2026-11-24T09:00:00+01:00"));
        assert_eq!(xs, parse_datetime("20261124090000.000000+060"));
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_datetime("1970-01-01T00:00:01.5Z"),
            Some((1, 500_000_000))
        );
        assert_eq!(parse_datetime("00000001000000.000000:000"), None);
        assert_eq!(parse_datetime("not a date"), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number(" 42 "), Some(Num::Int(42)));
        assert_eq!(parse_number("-0x10"), Some(Num::Int(-16)));
        assert_eq!(parse_number("+7"), Some(Num::Int(7)));
        assert_eq!(parse_number("1.5e2"), Some(Num::Real(150.0)));
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("1."), None);
        assert_eq!(parse_number("0x"), None);
    }

    #[test]
    fn resource_uri_class() {
        assert_eq!(
            class_of_resource_uri("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Fan"),
            "CIM_Fan"
        );
        assert_eq!(
            class_of_resource_uri("http://schemas.dmtf.org/wbem/wscim/1/*"),
            "*"
        );
        assert_eq!(class_of_resource_uri("CIM_Fan"), "CIM_Fan");
    }
}
