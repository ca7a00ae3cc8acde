//! The JSON report: the [`Report`] as it is (per case: id, outcome, clause, level,
//! profiles, duration, message, transcript; `target_lost`, the message of a target
//! that stopped answering mid-run, or `null`), pretty-printed, with transcripts and
//! messages bounded as [`super::text::bounded`] says.

use super::Report;

/// The report as JSON text.
pub fn to_string(report: &Report) -> String {
    // A Report holds only strings, numbers and lists: serialising cannot fail.
    serde_json::to_string_pretty(&super::text::bounded(report)).unwrap_or_default()
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
        assert!(v["target_lost"].is_null());
    }

    #[test]
    fn a_lost_target_round_trips_and_older_reports_still_read() {
        let mut r = super::super::sample::report();
        r.target_lost = Some("the target stopped answering after case a".into());
        let text = super::to_string(&r);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["target_lost"],
            "the target stopped answering after case a"
        );
        assert_eq!(super::from_str(&text).unwrap(), r);
        // A report written before the field existed.
        let mut old: serde_json::Value = v.clone();
        old.as_object_mut().unwrap().remove("target_lost");
        let back = super::from_str(&old.to_string()).unwrap();
        assert_eq!(back.target_lost, None);
    }
}
