//! Busy polling (`busy_poll`): after each command starts or ends, a worker keeps polling its
//! sockets for a short while instead of going to sleep.
//!
//! A proxied statement adds two sleeps and wake-ups to a direct one (the proxy waits for the
//! backend's answer, then for the client's next statement), and on a virtual machine waking an
//! idle CPU costs more than the proxy's work itself. A task that yields in a loop makes the
//! worker's runtime poll its sockets without blocking (tokio polls the I/O driver with a zero
//! timeout when a task yielded), so an answer or a statement that arrives within the budget is
//! picked up without a wake-up, and whoever sent it need not wake the proxy's thread either.
//!
//! Spinning pays only with CPU time nobody else wants and while the worker would otherwise
//! sleep. So each round yields the CPU to any other runnable thread (`sched_yield`), and the
//! spinner stands aside for [`BACK_OFF`] when, over a window of rounds, most yields gave the
//! CPU away (the machine is loaded) or most rounds found new commands (the worker is saturated
//! and never sleeps anyway; spinning would only add system calls), and whenever more than
//! [`MAX_IN_FLIGHT`] commands are running on the worker (a wake-up then usually finds several
//! answers, so sleeping costs little per statement, while the gaps between answers to slow
//! statements are long enough to burn a core in). It sleeps after `busy_poll` with no command
//! starting or ending, so an idle proxy does not spin.
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::Worker;

/// A `sched_yield` that took longer than this gave the CPU to another thread.
const CONTENDED: Duration = Duration::from_micros(20);

/// Rounds per verdict on whether spinning pays.
const WINDOW: u32 = 16;

/// How long the spinner stands aside when it does not.
pub const BACK_OFF: Duration = Duration::from_millis(10);

/// Commands running on the worker above which the spinner stands aside. 16 sessions of slow
/// reads (DISTINCT ranges) cost the proxy 154 µs of CPU per query spinning and 68 µs with
/// this limit, at the same throughput; 1–8 sessions of point selects, where spinning pays,
/// are not affected (`docs/benchmarks.md`).
pub const MAX_IN_FLIGHT: u32 = 8;

/// A worker's busy-polling state: the events the spinner watches and the means to wake it.
#[derive(Debug, Default)]
pub struct BusyPoll {
    /// Commands started and ended on this worker.
    events: Cell<u64>,
    /// Whether the spinner sleeps, waiting for `wake`.
    parked: Cell<bool>,
    wake: Notify,
}

impl BusyPoll {
    /// A command started or ended: the spinner, if it sleeps, spins again.
    pub fn event(&self) {
        self.events.set(self.events.get().wrapping_add(1));
        if self.parked.replace(false) {
            self.wake.notify_one();
        }
    }
}

/// How a spell of spinning ended.
enum Spell {
    /// `busy_poll` passed without a command starting or ending.
    Quiet,
    /// Spinning did not pay: the CPU was wanted elsewhere or the worker never idled.
    Unprofitable,
}

/// The spinner of one worker, run for its whole life when `busy_poll` is not zero.
pub async fn spin(worker: Rc<Worker>, budget: Duration) {
    let state = &worker.busy_poll;
    loop {
        match spell(state, budget, &worker.busy).await {
            Spell::Quiet => {
                state.parked.set(true);
                state.wake.notified().await;
            }
            Spell::Unprofitable => tokio::time::sleep(BACK_OFF).await,
        }
    }
}

/// One spell of spinning; `in_flight`: the worker's count of sessions running a command.
async fn spell(state: &BusyPoll, budget: Duration, in_flight: &Cell<u32>) -> Spell {
    let mut seen = state.events.get();
    let mut since = Instant::now();
    let (mut rounds, mut given_away, mut window_start) = (0u32, 0u32, seen);
    loop {
        tokio::task::yield_now().await;
        // Checked before the round's system call, which would be spent for nothing.
        if in_flight.get() > MAX_IN_FLIGHT {
            return Spell::Unprofitable;
        }
        let before = Instant::now();
        std::thread::yield_now();
        let now = Instant::now();
        let events = state.events.get();
        rounds += 1;
        if now.duration_since(before) > CONTENDED {
            given_away += 1;
        }
        if rounds == WINDOW {
            // Each statement is two events: more than 3 per 4 rounds is a worker that finds
            // work nearly every time it looks.
            let found = u32::try_from(events.wrapping_sub(window_start)).unwrap_or(u32::MAX);
            if given_away * 2 > WINDOW || found.saturating_mul(4) > WINDOW * 3 {
                return Spell::Unprofitable;
            }
            (rounds, given_away, window_start) = (0, 0, events);
        }
        if events != seen {
            seen = events;
            since = now;
        } else if now.duration_since(since) >= budget {
            return Spell::Quiet;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_commands_in_flight_stand_the_spinner_aside() {
        let state = BusyPoll::default();
        // A budget no test waits out, and no command starting or ending: without the
        // in-flight rule the spell would run until the timeout.
        let budget = Duration::from_secs(3600);
        let in_flight = Cell::new(MAX_IN_FLIGHT + 1);
        let spelled = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(10), spell(&state, budget, &in_flight))
                    .await
            });
        assert!(matches!(spelled, Ok(Spell::Unprofitable)));
    }
}
