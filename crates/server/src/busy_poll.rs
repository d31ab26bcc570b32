//! Busy polling (`busy_poll`): a worker serving one statement at a time keeps polling its
//! sockets for a short while after each command starts or ends instead of going to sleep.
//!
//! At low concurrency a proxied statement costs two more sleeps and wake-ups than a direct one
//! (the proxy waits for the backend's answer, then for the client's next statement), and on a
//! virtual machine waking an idle CPU costs more than the proxy's work itself. A task that
//! yields in a loop makes the worker's runtime poll its sockets without blocking (tokio polls
//! the I/O driver with a zero timeout when a task yielded), so an answer or a statement that
//! arrives within the budget is picked up without a wake-up. Each round also yields the CPU to
//! any other runnable thread (`sched_yield`): on a loaded machine the spinner gives way.
//!
//! It pays only when one client keeps the worker busy and the worker would otherwise sleep
//! between its statements. When several sessions take turns their traffic keeps the worker
//! awake anyway, and on a machine shared with the clients and servers the CPU a spinner burns
//! is theirs: so the spinner runs only while every command of the last [`SHARED_FOR`] came from
//! one session, and it sleeps after `busy_poll` without a command starting or ending. An idle
//! proxy does not spin.
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::worker::Worker;

/// How long after two different sessions ran commands the worker counts as shared (no spinning).
pub const SHARED_FOR: Duration = Duration::from_millis(10);

/// A worker's busy-polling state: the events the spinner watches and the means to wake it.
#[derive(Debug)]
pub struct BusyPoll {
    /// Commands started and ended on this worker.
    events: Cell<u64>,
    /// The session that started the last command.
    owner: Cell<u32>,
    /// Until when the worker counts as shared by several sessions.
    shared_until: Cell<Instant>,
    /// Whether the spinner sleeps, waiting for `wake`.
    parked: Cell<bool>,
    wake: Notify,
}

impl Default for BusyPoll {
    fn default() -> Self {
        BusyPoll {
            events: Cell::new(0),
            owner: Cell::new(0),
            shared_until: Cell::new(Instant::now()),
            parked: Cell::new(false),
            wake: Notify::new(),
        }
    }
}

impl BusyPoll {
    /// Session `session` starts a command.
    pub fn started(&self, session: u32) {
        if session != self.owner.replace(session) {
            self.shared_until.set(Instant::now() + SHARED_FOR);
        }
        self.event();
    }

    /// A command ended.
    pub fn ended(&self) {
        self.event();
    }

    fn event(&self) {
        self.events.set(self.events.get().wrapping_add(1));
        if self.parked.get() && !self.shared() {
            self.parked.set(false);
            self.wake.notify_one();
        }
    }

    /// Whether several sessions ran commands lately.
    fn shared(&self) -> bool {
        Instant::now() < self.shared_until.get()
    }
}

/// The spinner of one worker, run for its whole life when `busy_poll` is not zero.
pub async fn spin(worker: Rc<Worker>, budget: Duration) {
    let state = &worker.busy_poll;
    loop {
        let mut seen = state.events.get();
        let mut since = Instant::now();
        loop {
            tokio::task::yield_now().await;
            // Polite: a thread of another process waiting for this CPU runs first, so the
            // spinner only burns time nobody else wants.
            std::thread::yield_now();
            let now = state.events.get();
            if now != seen {
                if state.shared() {
                    break;
                }
                seen = now;
                since = Instant::now();
            } else if since.elapsed() >= budget {
                break;
            }
        }
        state.parked.set(true);
        state.wake.notified().await;
    }
}
