//! Waiting with deadlines instead of sleeping: a bound on every test, [`wait_for`] a condition,
//! and [`holds_for`] to prove something does not happen within a window.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// Every test finishes within this or fails.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs a test body with a deadline.
pub async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .expect("test exceeded its time bound");
}

/// How often the wait helpers look again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Waits until `done` holds for what `observe` sees and returns that observation. After
/// `timeout` it panics naming what was awaited and showing the last observation, so a failure
/// says what the test saw instead. Phrase `what` to follow "waited 10s for": "the survivors to
/// own every partition".
pub async fn wait_for<S: Debug>(
    what: &str,
    timeout: Duration,
    mut observe: impl FnMut() -> S,
    done: impl FnMut(&S) -> bool,
) -> S {
    wait_for_async(what, timeout, || std::future::ready(observe()), done).await
}

/// [`wait_for`] for observations that need `.await` (a request to the cluster). A look still
/// under way at the deadline counts as a timeout.
pub async fn wait_for_async<S: Debug, F: Future<Output = S>>(
    what: &str,
    timeout: Duration,
    mut observe: impl FnMut() -> F,
    mut done: impl FnMut(&S) -> bool,
) -> S {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // `timeout_at` polls the look before its deadline, so a ready one always counts.
        let Ok(seen) = tokio::time::timeout_at(deadline, observe()).await else {
            panic!("waited {timeout:?} for {what}; the last look did not finish in time");
        };
        if done(&seen) {
            return seen;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            panic!("waited {timeout:?} for {what}; last saw: {seen:?}");
        }
        // The last look is taken at the deadline, not a poll interval after it.
        tokio::time::sleep_until((now + POLL_INTERVAL).min(deadline)).await;
    }
}

/// Checks that `holds` stays true for what `observe` sees throughout `window` and returns the
/// last observation; panics at the first observation that breaks it. This is the one honest
/// use of waiting out a fixed time: proving something does *not* happen within a window. Phrase
/// `what` to follow "expected": "a to keep its partitions".
pub async fn holds_for<S: Debug>(
    what: &str,
    window: Duration,
    mut observe: impl FnMut() -> S,
    mut holds: impl FnMut(&S) -> bool,
) -> S {
    let started = tokio::time::Instant::now();
    let end = started + window;
    loop {
        let seen = observe();
        if !holds(&seen) {
            panic!(
                "expected {what} for {window:?}, but after {:?} saw: {seen:?}",
                started.elapsed()
            );
        }
        let now = tokio::time::Instant::now();
        if now >= end {
            return seen;
        }
        // The last look is taken at the end of the window.
        tokio::time::sleep_until((now + POLL_INTERVAL).min(end)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message of the panic `body` ends with.
    async fn panic_message(body: impl Future<Output = ()> + Send + 'static) -> String {
        let panic = tokio::spawn(body)
            .await
            .expect_err("it panics")
            .into_panic();
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .expect("a message")
    }

    #[tokio::test]
    async fn wait_for_returns_the_first_observation_that_satisfies() {
        let mut looks = 0;
        let seen = wait_for(
            "the third look",
            Duration::from_secs(1),
            || {
                looks += 1;
                looks
            },
            |n| *n == 3,
        )
        .await;
        assert_eq!(seen, 3);
    }

    #[tokio::test]
    async fn wait_for_names_what_it_awaited_and_the_last_observation() {
        let started = Instant::now();
        let message = panic_message(async {
            wait_for(
                "the ISR to shrink",
                Duration::from_millis(200),
                || vec![1, 2, 3],
                |isr| isr.len() == 1,
            )
            .await;
        })
        .await;
        assert_eq!(
            message,
            "waited 200ms for the ISR to shrink; last saw: [1, 2, 3]"
        );
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn wait_for_async_gives_up_on_a_look_that_hangs() {
        let message = panic_message(async {
            wait_for_async(
                "an answer",
                Duration::from_millis(100),
                std::future::pending::<()>,
                |_| true,
            )
            .await;
        })
        .await;
        assert_eq!(
            message,
            "waited 100ms for an answer; the last look did not finish in time"
        );
    }

    #[tokio::test]
    async fn holds_for_looks_until_the_end_of_the_window() {
        let started = Instant::now();
        let last_look = holds_for(
            "the condition to keep holding",
            Duration::from_millis(200),
            Instant::now,
            |_| true,
        )
        .await;
        assert!(last_look - started >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn holds_for_fails_at_the_first_observation_that_breaks_it() {
        let message = panic_message(async {
            let mut looks = 0;
            holds_for(
                "the count to stay below 5",
                Duration::from_secs(10),
                || {
                    looks += 1;
                    looks
                },
                |n| *n < 5,
            )
            .await;
        })
        .await;
        assert!(
            message.starts_with("expected the count to stay below 5 for 10s, but after ")
                && message.ends_with("saw: 5"),
            "{message}"
        );
    }
}
