//! A deadline whose timer is set only when it can matter.
//!
//! Every WS-Man request is bounded twice (the whole request, and reading its body), and
//! `tokio::time::timeout` sets a timer as soon as the future it bounds is pending once:
//! a count on the runtime's handle and an entry in its timer wheel, put in and taken out
//! again, both shared by the workers. A request's future is pending once on every
//! request, though: hyper hands over the body only after the service has asked for it.
//! [`Deadline`] therefore lets the first pending poll pass without a timer (waking its
//! task, so that a second poll is certain to come) and sets the timer on the second. A
//! request read and answered in two polls, as nearly all are, sets none.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

/// The deadline passed before the future was ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

/// `fut`, bounded by `deadline` (see the module's text). The future must be `Unpin`:
/// pin it where it is made (`std::pin::pin!`) rather than in a box of its own.
pub(crate) fn deadline<F: Future + Unpin>(deadline: Instant, fut: F) -> Deadline<F> {
    Deadline {
        fut,
        deadline,
        state: State::Unarmed,
    }
}

pub(crate) struct Deadline<F> {
    fut: F,
    deadline: Instant,
    state: State,
}

enum State {
    /// Not pending yet.
    Unarmed,
    /// Pending once, no timer yet.
    Waited,
    /// Pending twice: the timer is set.
    Armed(Pin<Box<Sleep>>),
}

impl<F> Deadline<F> {
    /// Whether a timer was set (for tests).
    #[cfg(test)]
    fn armed(&self) -> bool {
        matches!(self.state, State::Armed(_))
    }
}

impl<F: Future + Unpin> Future for Deadline<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Poll::Ready(out) = Pin::new(&mut this.fut).poll(cx) {
            return Poll::Ready(Ok(out));
        }
        match &mut this.state {
            State::Unarmed => {
                // No clock read here either: a deadline already past is found by the
                // timer on the next poll.
                this.state = State::Waited;
                // The second poll must come even if nothing the future waits for ever
                // happens: that poll sets the timer.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            State::Waited => {
                let mut sleep = Box::pin(tokio::time::sleep_until(this.deadline));
                let elapsed = sleep.as_mut().poll(cx).is_ready();
                this.state = State::Armed(sleep);
                if elapsed {
                    Poll::Ready(Err(Elapsed))
                } else {
                    Poll::Pending
                }
            }
            State::Armed(sleep) => match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Pending `n` times (waking itself each time), then ready.
    struct PendingTimes(usize);

    impl Future for PendingTimes {
        type Output = &'static str;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
            if self.0 == 0 {
                return Poll::Ready("done");
            }
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        let waker = std::task::Waker::noop();
        Pin::new(f).poll(&mut Context::from_waker(waker))
    }

    #[tokio::test(start_paused = true)]
    async fn a_future_ready_within_two_polls_sets_no_timer() {
        let far = Instant::now() + Duration::from_secs(60);
        let mut now = deadline(far, PendingTimes(0));
        assert_eq!(poll_once(&mut now), Poll::Ready(Ok("done")));
        assert!(!now.armed());

        let mut second = deadline(far, PendingTimes(1));
        assert!(poll_once(&mut second).is_pending());
        assert!(!second.armed());
        assert_eq!(poll_once(&mut second), Poll::Ready(Ok("done")));
        assert!(!second.armed());

        let mut third = deadline(far, PendingTimes(2));
        assert!(poll_once(&mut third).is_pending());
        assert!(poll_once(&mut third).is_pending());
        assert!(third.armed(), "pending twice: the timer is set");
        assert_eq!(poll_once(&mut third), Poll::Ready(Ok("done")));
    }

    /// A future that never wakes anyone still ends at its deadline: the first pending
    /// poll wakes the task, the second sets the timer.
    #[tokio::test(start_paused = true)]
    async fn a_future_that_never_wakes_ends_at_its_deadline() {
        let start = Instant::now();
        let limit = Duration::from_secs(5);
        // Bounded again from outside, so that a deadline that never fires fails here
        // instead of hanging the test.
        let got = tokio::time::timeout(
            limit * 2,
            deadline(start + limit, std::future::pending::<()>()),
        )
        .await;
        assert_eq!(got.ok(), Some(Err(Elapsed)));
        assert_eq!(Instant::now() - start, limit);
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_already_past_ends_at_the_second_pending_poll() {
        let past = Instant::now();
        tokio::time::advance(Duration::from_millis(1)).await;
        let mut late = deadline(past, std::future::pending::<()>());
        assert!(poll_once(&mut late).is_pending());
        assert_eq!(poll_once(&mut late), Poll::Ready(Err(Elapsed)));
        // Ready now wins over a passed deadline, as with `tokio::time::timeout`.
        let mut ready = deadline(past, PendingTimes(0));
        assert_eq!(poll_once(&mut ready), Poll::Ready(Ok("done")));
    }

    /// A future that is still pending after the timer is set ends at the deadline, not
    /// before; one that becomes ready before it does is answered.
    #[tokio::test(start_paused = true)]
    async fn the_timer_decides_once_set() {
        let start = Instant::now();
        let got = deadline(
            start + Duration::from_secs(3),
            std::pin::pin!(async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                "slow but in time"
            }),
        )
        .await;
        assert_eq!(got, Ok("slow but in time"));
        assert_eq!(Instant::now() - start, Duration::from_secs(1));
        let got = deadline(
            Instant::now() + Duration::from_secs(1),
            std::pin::pin!(tokio::time::sleep(Duration::from_secs(2))),
        )
        .await;
        assert_eq!(got, Err(Elapsed));
        assert_eq!(Instant::now() - start, Duration::from_secs(2));
    }
}
