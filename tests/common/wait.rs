//! Waiting for a condition: polled, with a deadline, never a sleep standing in for an assertion.

use std::time::{Duration, Instant};

/// Polls `check` until it is true, panicking with `what` after `within`.
pub fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
