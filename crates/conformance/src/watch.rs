//! Whether the WS-Management target is still there.
//!
//! A target that answered discovery and then stops accepting connections (it crashed,
//! or someone stopped it) is reported once for the whole run: the case whose request
//! found it gone and every case that could not run after it end as errors with one
//! message, and nothing more is sent to it. Without this the rest of the run is a pile
//! of "connection refused" failures that hides the one fact that matters.
//!
//! One [`TargetWatch`] is shared by the cases of a run; each case holds a
//! [`CaseWatch`] (in its [`crate::code::Ctx`]) that knows the case's ID. A refused
//! connection is confirmed once, after [`CONFIRM_AFTER`], before the target is
//! declared gone, so that one transient refusal does not end the run.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use client::ClientError;

/// How long to wait before the one confirming attempt after a refused connection.
pub const CONFIRM_AFTER: Duration = Duration::from_millis(250);

/// The last thing the target did for a case.
#[derive(Debug, Clone)]
enum Last {
    /// The case got an answer.
    Answered(String),
    /// A request of the case got none: the connection closed or was reset.
    Closed(String),
}

/// A run's view of its WS-Man target, shared by every case.
#[derive(Debug, Default)]
pub struct TargetWatch {
    last: Mutex<Option<Last>>,
    lost: OnceLock<String>,
}

impl TargetWatch {
    /// A watch for a new run: the target has answered (discovery) and is not lost.
    pub fn new() -> Arc<TargetWatch> {
        Arc::new(TargetWatch::default())
    }

    /// Why the target is gone, once it is: the one message of the run.
    pub fn lost(&self) -> Option<&str> {
        self.lost.get().map(String::as_str)
    }

    fn note(&self, last: Last) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(last);
    }

    /// Declares the target gone, as a request of `case` found it (`error`: the
    /// connection refused after one confirmation). The first declaration of a run
    /// wins; every caller gets its message.
    pub fn declare(&self, case: &str, error: &ClientError) -> &str {
        self.lost.get_or_init(|| {
            let last = self.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
            match last {
                Some(Last::Answered(c)) => {
                    format!("the target stopped answering after case {c} (then: {error})")
                }
                Some(Last::Closed(c)) => format!(
                    "the target stopped answering during case {c} (the connection closed \
                     without an answer, then: {error})"
                ),
                None => format!(
                    "the target stopped answering during case {case}, before any case got \
                     an answer (then: {error})"
                ),
            }
        })
    }
}

/// One case's link to its run's [`TargetWatch`].
#[derive(Debug, Clone)]
pub struct CaseWatch {
    watch: Arc<TargetWatch>,
    case: String,
    met_lost: bool,
    in_flight: bool,
}

impl CaseWatch {
    /// `case`'s link to `watch`.
    pub fn new(watch: Arc<TargetWatch>, case: impl Into<String>) -> CaseWatch {
        CaseWatch {
            watch,
            case: case.into(),
            met_lost: false,
            in_flight: false,
        }
    }

    /// A watch of its own, for a case run outside a run (tests, tools).
    pub fn alone(case: impl Into<String>) -> CaseWatch {
        CaseWatch::new(TargetWatch::new(), case)
    }

    /// Why the target is gone, once it is.
    pub fn lost(&self) -> Option<&str> {
        self.watch.lost()
    }

    /// Whether this case met the lost target: a request of it found the target gone,
    /// or was not sent because it was. Such a case could not be run.
    pub fn met_lost(&self) -> bool {
        self.met_lost
    }

    /// Whether a request of this case is waiting for its answer (read after a case
    /// deadline: it passed while the target was silent).
    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// The run's message when the target is gone, marking this case as having met it.
    pub fn refuse(&mut self) -> Option<String> {
        let lost = self.watch.lost()?.to_owned();
        self.met_lost = true;
        Some(lost)
    }

    /// Declares the target gone (see [`TargetWatch::declare`]); returns the message.
    pub fn declare(&mut self, error: &ClientError) -> String {
        self.met_lost = true;
        self.watch.declare(&self.case, error).to_owned()
    }

    pub(crate) fn sending(&mut self) {
        self.in_flight = true;
    }

    /// Notes how a request ended: answered (`true`) or closed without an answer.
    pub(crate) fn done(&mut self, answered: Option<bool>) {
        self.in_flight = false;
        match answered {
            Some(true) => self.watch.note(Last::Answered(self.case.clone())),
            Some(false) => self.watch.note(Last::Closed(self.case.clone())),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> ClientError {
        ClientError::Connect {
            addr: "127.0.0.1:9".parse().unwrap(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        }
    }

    #[test]
    fn the_first_declaration_names_the_last_case_answered_and_wins() {
        let watch = TargetWatch::new();
        let mut a = CaseWatch::new(watch.clone(), "case.a");
        let mut b = CaseWatch::new(watch.clone(), "case.b");
        let mut c = CaseWatch::new(watch.clone(), "case.c");
        a.sending();
        assert!(a.in_flight());
        a.done(Some(true));
        assert!(!a.in_flight());
        assert_eq!(c.refuse(), None, "nothing is lost yet");
        let first = b.declare(&refused());
        assert!(
            first.starts_with("the target stopped answering after case case.a (then: cannot connect to 127.0.0.1:9"),
            "{first}"
        );
        // A second finder (a parallel case) gets the same message.
        a.done(Some(true));
        assert_eq!(c.declare(&refused()), first);
        assert_eq!(watch.lost(), Some(first.as_str()));
        assert!(b.met_lost() && c.met_lost() && !a.met_lost());
        assert_eq!(a.refuse().as_deref(), Some(first.as_str()));
        assert!(a.met_lost());
    }

    #[test]
    fn a_case_whose_request_closed_unanswered_is_named_as_the_one_during_which_it_died() {
        let watch = TargetWatch::new();
        let mut a = CaseWatch::new(watch.clone(), "case.a");
        let mut b = CaseWatch::new(watch.clone(), "case.b");
        a.done(Some(true));
        b.done(Some(false));
        let m = a.declare(&refused());
        assert!(
            m.starts_with(
                "the target stopped answering during case case.b (the connection closed without an answer, then: cannot connect"
            ),
            "{m}"
        );
    }

    #[test]
    fn before_any_answer_the_finder_is_named() {
        let mut a = CaseWatch::alone("case.a");
        let m = a.declare(&refused());
        assert!(
            m.starts_with(
                "the target stopped answering during case case.a, before any case got an answer"
            ),
            "{m}"
        );
    }
}
