//! `routing.consistency: cluster`: the primary's current GTID position, asked for once per
//! batch of reads.
//!
//! A read that starts needs a position fetched *after* it started (a write committed before the
//! read started is then in it, whoever made it: another proxy, a direct client). Fetches are
//! numbered and run one at a time. A read that starts while fetch `n` is out must not take
//! fetch `n`'s answer (it may have been read on the primary before the read started), so it
//! asks for fetch `n + 1`; every read that arrives while `n` is out asks for the same `n + 1`,
//! and that single primary round trip then serves the whole batch. The fetcher (a task on the
//! monitor's thread, see `crate::monitor::fetch_positions`) starts the next fetch as soon as
//! one is wanted and the previous one is done.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::gtid::GtidSet;

/// How long one fetch may take before it counts as failed (connecting included).
pub fn fetch_limit(config: &Config) -> Duration {
    config
        .monitor
        .connect_timeout
        .max(config.routing.causal_read_timeout)
        .max(Duration::from_millis(100))
}

/// How long a read waits for its fetch: the one out before it, then its own.
pub fn read_limit(config: &Config) -> Duration {
    fetch_limit(config).saturating_mul(2)
}

/// The batch coordinator between reads and the fetcher.
#[derive(Debug)]
pub struct ClusterPosition {
    state: Mutex<Fetches>,
    /// Wakes the fetcher when a fetch is wanted.
    wanted: Notify,
    /// The number of the last finished fetch (readers wait on it).
    done: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Fetches {
    /// The number of the last fetch started (it is out while `started > done`).
    started: u64,
    /// The highest fetch number a read waits for.
    wanted: u64,
    /// The number of the last finished fetch.
    done: u64,
    /// What the last finished fetch read (`None`: it failed).
    outcome: Option<Arc<GtidSet>>,
}

impl Default for ClusterPosition {
    fn default() -> Self {
        ClusterPosition {
            state: Mutex::new(Fetches::default()),
            wanted: Notify::new(),
            done: watch::Sender::new(0),
        }
    }
}

impl ClusterPosition {
    /// The primary's position read by a fetch that started after this call, waiting up to
    /// `timeout` for it. `None`: the fetch failed or did not finish in time (the caller sends
    /// the read to the primary).
    pub async fn current(&self, timeout: Duration) -> Option<Arc<GtidSet>> {
        let need = self.want();
        let mut done = self.done.subscribe();
        let finished = tokio::time::timeout(timeout, done.wait_for(|&d| d >= need)).await;
        if !matches!(finished, Ok(Ok(_))) {
            return None;
        }
        let state = self.state.lock().ok()?;
        // A later fetch may have finished meanwhile: it started later still, so it is as good.
        state.outcome.clone()
    }

    /// Registers a read: the number of the fetch whose answer it may take (the next one to
    /// start), and wakes the fetcher.
    fn want(&self) -> u64 {
        let need = match self.state.lock() {
            Ok(mut state) => {
                let need = state.started + 1;
                state.wanted = state.wanted.max(need);
                need
            }
            // A poisoned lock: no fetch can be trusted; `current` times out to the primary.
            Err(_) => u64::MAX,
        };
        self.wanted.notify_one();
        need
    }

    /// For the fetcher: waits until a fetch is wanted, marks it started and returns its number.
    pub async fn next_fetch(&self) -> u64 {
        loop {
            let notified = self.wanted.notified();
            if let Ok(mut state) = self.state.lock()
                && state.wanted > state.started
            {
                state.started += 1;
                return state.started;
            }
            notified.await;
        }
    }

    /// For the fetcher: fetch `number` read `outcome` (`None`: it failed); wakes its readers.
    pub fn finish(&self, number: u64, outcome: Option<GtidSet>) {
        if let Ok(mut state) = self.state.lock() {
            state.done = number;
            state.outcome = outcome.map(Arc::new);
        }
        self.done.send_replace(number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> GtidSet {
        GtidSet::parse(text).expect("a GTID set")
    }

    #[tokio::test]
    async fn a_read_during_a_fetch_joins_the_next_one_and_one_fetch_serves_a_batch() {
        let cluster = Arc::new(ClusterPosition::default());
        let long = Duration::from_secs(5);
        // A first read starts fetch 1.
        let first = tokio::spawn({
            let c = cluster.clone();
            async move { c.current(long).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(cluster.next_fetch().await, 1);
        // Three reads start while fetch 1 is out: they must not take its answer.
        let batch: Vec<_> = (0..3)
            .map(|_| {
                let c = cluster.clone();
                tokio::spawn(async move { c.current(long).await })
            })
            .collect();
        tokio::task::yield_now().await;
        cluster.finish(1, Some(set("0-1-5")));
        let got = first.await.expect("the first read").expect("a position");
        assert_eq!(got.to_string(), "0-1-5");
        for read in &batch {
            assert!(
                !read.is_finished(),
                "a read took a fetch from before it started"
            );
        }
        // One fetch, number 2, serves all three.
        assert_eq!(cluster.next_fetch().await, 2);
        cluster.finish(2, Some(set("0-1-9")));
        for read in batch {
            let got = read.await.expect("a read").expect("a position");
            assert_eq!(got.to_string(), "0-1-9");
        }
        // Nothing else is wanted: no third fetch starts.
        let state = cluster.state.lock().expect("the state");
        assert_eq!((state.started, state.wanted, state.done), (2, 2, 2));
    }

    #[tokio::test]
    async fn a_failed_or_missing_fetch_gives_no_position() {
        let cluster = Arc::new(ClusterPosition::default());
        let read = tokio::spawn({
            let c = cluster.clone();
            async move { c.current(Duration::from_secs(5)).await }
        });
        tokio::task::yield_now().await;
        let n = cluster.next_fetch().await;
        cluster.finish(n, None);
        assert_eq!(read.await.expect("the read"), None);
        // No fetcher answers: the read gives up after its timeout.
        assert_eq!(cluster.current(Duration::from_millis(10)).await, None);
    }
}
