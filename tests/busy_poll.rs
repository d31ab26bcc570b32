//! Busy polling (`busy_poll`): a worker polls its sockets for a while after each command instead
//! of sleeping. It must change nothing a client sees, and it must stop: a proxy with no
//! traffic, or with clients that went quiet, does not burn a core.
mod common;

use std::time::Duration;

use common::{Bed, ProxyProcess, connect, one, server_id};
use mysql_async::prelude::*;

/// The proxy process's CPU time over `idle` with its client connected but silent.
fn cpu_while_quiet(proxy: &ProxyProcess, idle: Duration) -> Duration {
    let before = proxy.cpu_time();
    std::thread::sleep(idle);
    proxy.cpu_time().saturating_sub(before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_session_is_answered_as_before_and_a_quiet_proxy_stops_spinning() {
    let bed = Bed::shared();
    // One worker, so both sessions below share its spinner; a long budget, so that spinning is
    // easy to see if it did not stop.
    let proxy = ProxyProcess::start(&bed, "workers: 1\nbusy_poll: 5ms");
    let mut conn = connect(proxy.opts()).await;
    let stmt = conn.prep("SELECT ? + 0").await.expect("prepare");
    for i in 0..2_000u64 {
        let v: Option<u64> = if i % 2 == 0 {
            conn.exec_first(&stmt, (i,)).await.expect("execute")
        } else {
            conn.query_first(format!("SELECT {i}"))
                .await
                .expect("query")
        };
        assert_eq!(v, Some(i), "read {i}");
    }
    assert_eq!(
        server_id(&mut conn).await,
        bed.replica(0).server_id(),
        "reads still go to the replica"
    );

    // Two sessions at once: answers stay each session's own.
    let mut other = connect(proxy.opts()).await;
    tokio::join!(
        async {
            for i in 0..500u64 {
                let v: u64 = one(&mut conn, &format!("SELECT {i}")).await;
                assert_eq!(v, i);
            }
        },
        async {
            for i in 0..500u64 {
                let v: u64 = one(&mut other, &format!("SELECT {}", i + 1_000_000)).await;
                assert_eq!(v, i + 1_000_000);
            }
        }
    );

    // Quiet: the budget is 5 ms; a spinner that did not stop would use the whole second.
    let used = tokio::task::block_in_place(|| cpu_while_quiet(&proxy, Duration::from_secs(1)));
    assert!(
        used < Duration::from_millis(300),
        "the proxy used {used:?} of CPU in a quiet second"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_poll_zero_turns_it_off_and_a_reload_cannot_change_it() {
    let bed = Bed::shared();
    let proxy = ProxyProcess::start(&bed, "workers: 1\nbusy_poll: 0s");
    let mut conn = connect(proxy.opts()).await;
    let v: u64 = one(&mut conn, "SELECT 42").await;
    assert_eq!(v, 42);
    let path = proxy.config_path();
    let yaml = std::fs::read_to_string(&path).expect("reading proxy.yaml");
    std::fs::write(&path, yaml.replace("busy_poll: 0s", "busy_poll: 50us"))
        .expect("writing proxy.yaml");
    let answer = common::request(proxy.admin, "POST", "/reload", None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains("busy_poll"),
        "busy_poll is listed as needing a restart: {}",
        answer.body
    );
}
