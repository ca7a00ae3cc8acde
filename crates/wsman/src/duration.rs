//! `xs:duration` values (`PT60S`, `P1DT2H`, `PT1M30.5S`), as WS-Management uses them
//! for OperationTimeout, MaxTime, Expires and shell timeouts.

use std::fmt;
use std::str::FromStr;

/// A parsed `xs:duration`. Fields keep what was written, so a value prints back as it
/// was parsed (apart from leading zeros and trailing fraction zeros).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct XsDuration {
    /// A leading `-`.
    pub negative: bool,
    /// Years.
    pub years: u32,
    /// Months.
    pub months: u32,
    /// Days.
    pub days: u32,
    /// Hours.
    pub hours: u32,
    /// Minutes.
    pub minutes: u32,
    /// Whole seconds.
    pub seconds: u32,
    /// Fraction of a second in nanoseconds.
    pub nanos: u32,
}

/// Why a string is not an `xs:duration`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an xs:duration (such as PT60S)")]
pub struct DurationError(pub String);

impl XsDuration {
    /// A duration of whole and fractional seconds (normalised to H/M/S).
    pub fn from_std(d: std::time::Duration) -> XsDuration {
        let secs = d.as_secs();
        let days = secs / 86_400;
        let rem = secs % 86_400;
        XsDuration {
            negative: false,
            years: 0,
            months: 0,
            days: u32::try_from(days).unwrap_or(u32::MAX),
            hours: (rem / 3600) as u32,
            minutes: ((rem % 3600) / 60) as u32,
            seconds: (rem % 60) as u32,
            nanos: d.subsec_nanos(),
        }
    }

    /// The length as a `std::time::Duration`, counting a year as 365 days and a month as
    /// 30 days. `None` if negative.
    pub fn to_std(&self) -> Option<std::time::Duration> {
        if self.negative {
            return None;
        }
        let secs = u64::from(self.years) * 365 * 86_400
            + u64::from(self.months) * 30 * 86_400
            + u64::from(self.days) * 86_400
            + u64::from(self.hours) * 3600
            + u64::from(self.minutes) * 60
            + u64::from(self.seconds);
        Some(std::time::Duration::new(secs, self.nanos))
    }
}

impl FromStr for XsDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<XsDuration, DurationError> {
        let err = || DurationError(s.to_owned());
        let t = s.trim();
        let (negative, t) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let t = t.strip_prefix('P').ok_or_else(err)?;
        let mut d = XsDuration {
            negative,
            ..XsDuration::default()
        };
        let (date, time) = match t.split_once('T') {
            Some((date, time)) => {
                if time.is_empty() {
                    return Err(err());
                }
                (date, Some(time))
            }
            None => (t, None),
        };
        if date.is_empty() && time.is_none() {
            return Err(err());
        }
        // Each designator may appear once, in order.
        let mut rest = date;
        let mut order = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits == rest.len() {
                return Err(err());
            }
            let value: u32 = rest[..digits].parse().map_err(|_| err())?;
            let (slot, rank) = match rest.as_bytes()[digits] {
                b'Y' => (&mut d.years, 1),
                b'M' => (&mut d.months, 2),
                b'D' => (&mut d.days, 3),
                _ => return Err(err()),
            };
            if rank <= order {
                return Err(err());
            }
            order = rank;
            *slot = value;
            rest = &rest[digits + 1..];
        }
        if let Some(time) = time {
            let mut rest = time;
            let mut order = 0;
            while !rest.is_empty() {
                let digits = rest
                    .bytes()
                    .take_while(|b| b.is_ascii_digit() || *b == b'.')
                    .count();
                if digits == 0 || digits == rest.len() {
                    return Err(err());
                }
                let number = &rest[..digits];
                let designator = rest.as_bytes()[digits];
                let rank = match designator {
                    b'H' => 1,
                    b'M' => 2,
                    b'S' => 3,
                    _ => return Err(err()),
                };
                if rank <= order {
                    return Err(err());
                }
                order = rank;
                if designator == b'S' {
                    let (whole, frac) = match number.split_once('.') {
                        Some((w, f)) => (w, f),
                        None => (number, ""),
                    };
                    if whole.is_empty()
                        || frac.contains('.')
                        || (number.contains('.') && frac.is_empty())
                    {
                        return Err(err());
                    }
                    d.seconds = whole.parse().map_err(|_| err())?;
                    let mut nanos: u64 = 0;
                    for (i, c) in frac.bytes().enumerate() {
                        if i < 9 {
                            nanos = nanos * 10 + u64::from(c - b'0');
                        }
                    }
                    for _ in frac.len()..9 {
                        nanos *= 10;
                    }
                    d.nanos = nanos as u32;
                } else {
                    if number.contains('.') {
                        return Err(err());
                    }
                    let v: u32 = number.parse().map_err(|_| err())?;
                    if designator == b'H' {
                        d.hours = v;
                    } else {
                        d.minutes = v;
                    }
                }
                rest = &rest[digits + 1..];
            }
        }
        Ok(d)
    }
}

impl fmt::Debug for XsDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "XsDuration({self})")
    }
}

impl fmt::Display for XsDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        f.write_str("P")?;
        if self.years > 0 {
            write!(f, "{}Y", self.years)?;
        }
        if self.months > 0 {
            write!(f, "{}M", self.months)?;
        }
        if self.days > 0 {
            write!(f, "{}D", self.days)?;
        }
        let has_time = self.hours > 0 || self.minutes > 0 || self.seconds > 0 || self.nanos > 0;
        let empty_date = self.years == 0 && self.months == 0 && self.days == 0;
        if has_time || empty_date {
            f.write_str("T")?;
            if self.hours > 0 {
                write!(f, "{}H", self.hours)?;
            }
            if self.minutes > 0 {
                write!(f, "{}M", self.minutes)?;
            }
            if self.seconds > 0 || self.nanos > 0 || (self.hours == 0 && self.minutes == 0) {
                write!(f, "{}", self.seconds)?;
                if self.nanos > 0 {
                    let frac = format!("{:09}", self.nanos);
                    write!(f, ".{}", frac.trim_end_matches('0'))?;
                }
                f.write_str("S")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_clients_send() {
        let d: XsDuration = "PT1M30.5S".parse().unwrap();
        assert_eq!((d.minutes, d.seconds, d.nanos), (1, 30, 500_000_000));
        assert_eq!(d.to_std(), Some(std::time::Duration::from_millis(90_500)));
        assert_eq!("PT60S".parse::<XsDuration>().unwrap().seconds, 60);
        assert_eq!(
            "PT20.000S"
                .parse::<XsDuration>()
                .unwrap()
                .to_std()
                .unwrap()
                .as_secs(),
            20
        );
        assert_eq!(
            "P1DT2H"
                .parse::<XsDuration>()
                .unwrap()
                .to_std()
                .unwrap()
                .as_secs(),
            93_600
        );
        assert!("-PT5S".parse::<XsDuration>().unwrap().negative);
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in [
            "",
            "P",
            "PT",
            "60",
            "PT60",
            "PTS",
            "PT1.S",
            "PT1..2S",
            "P1H",
            "PT1S1M",
            "P1D1D",
            "sixty seconds",
            "PT1.5M",
        ] {
            assert!(
                bad.parse::<XsDuration>().is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn prints_back() {
        for s in ["PT60S", "PT1M30.5S", "P1DT2H", "PT0S", "P1Y2M3DT4H5M6.007S"] {
            assert_eq!(s.parse::<XsDuration>().unwrap().to_string(), s);
        }
    }
}
