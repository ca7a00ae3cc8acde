//! What the property tests of this crate share.

use proptest::prelude::ProptestConfig;
use proptest::test_runner::FileFailurePersistence;

/// `cases` cases (or `PROPTEST_CASES`, for a longer search), failures persisted to
/// `file` (`proptest-regressions/NAME.txt`: the default location finder looks for
/// `lib.rs` beside the test and finds none).
pub fn proptest_config(cases: u32, file: &'static str) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(file))),
        ..ProptestConfig::default()
    }
}
