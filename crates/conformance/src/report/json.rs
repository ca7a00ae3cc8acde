//! The JSON report: the [`Report`] as it is (per case: id, outcome, clause, level,
//! profiles, duration, message, transcript), pretty-printed.

use super::Report;

/// The report as JSON text.
pub fn to_string(report: &Report) -> String {
    // A Report holds only strings, numbers and lists: serialising cannot fail.
    serde_json::to_string_pretty(report).unwrap_or_default()
}

/// Reads a JSON report back.
pub fn from_str(text: &str) -> Result<Report, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips() {
        let r = super::super::sample::report();
        let text = super::to_string(&r);
        assert_eq!(super::from_str(&text).unwrap(), r);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let first = &v["results"][1];
        for key in [
            "id",
            "outcome",
            "clause",
            "level",
            "profiles",
            "duration_us",
            "message",
            "transcript",
        ] {
            assert!(first.get(key).is_some(), "missing {key}");
        }
        assert_eq!(first["outcome"], "fail");
        assert_eq!(first["level"], "MUST");
    }
}
