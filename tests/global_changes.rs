//! `SET GLOBAL` through the proxy reaches new sessions, as on a server: pooled (and
//! pipelined) connections opened before the change are not lent again, so a new session
//! starts from the new defaults.
mod common;

use common::{Bed, OTHER_PASSWORD, OTHER_USER, connect, one, run};

/// A bed with one replica whose `other` user may change globals on the primary (`app` may
/// not: the test bed's proxy user has no SUPER).
fn bed() -> Bed {
    let bed = Bed::own(1, "");
    bed.create_other_user();
    bed.primary()
        .sql(&format!(
            "SET SESSION sql_log_bin = 0; GRANT SUPER ON *.* TO '{OTHER_USER}'@'%'"
        ))
        .unwrap_or_else(|e| panic!("granting SUPER: {e}"));
    bed
}

/// `@@wait_timeout` as `sessions` new concurrent sessions of `app` see it on the primary,
/// five reads each.
async fn new_sessions_see(bed: &Bed, sessions: usize) -> Vec<u64> {
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..sessions {
        let opts = bed.opts();
        reads.spawn(async move {
            let mut conn = connect(opts).await;
            let mut seen = Vec::new();
            for _ in 0..5 {
                seen.push(one::<u64>(&mut conn, PRIMARY_READ).await);
            }
            seen
        });
    }
    let mut all = Vec::new();
    while let Some(seen) = reads.join_next().await {
        all.extend(seen.expect("a reading session"));
    }
    all
}

/// The primary's answer (the replica's global is its own).
const PRIMARY_READ: &str = "SELECT /* splitrail:primary */ @@wait_timeout";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_global_through_the_proxy_reaches_new_sessions() {
    let bed = bed();
    // Pooled and pipelined connections with the old default.
    let before = new_sessions_see(&bed, 6).await;
    assert!(before.iter().all(|&t| t == 28800), "{before:?}");

    let mut admin = connect(bed.opts_as(OTHER_USER, OTHER_PASSWORD)).await;
    run(&mut admin, "SET GLOBAL wait_timeout = 3").await;
    let after = new_sessions_see(&bed, 6).await;
    assert!(after.iter().all(|&t| t == 3), "{after:?}");
    let mut fresh = bed.conn().await;
    assert_eq!(
        one::<u64>(
            &mut fresh,
            "SELECT /* splitrail:primary */ @@session.wait_timeout"
        )
        .await,
        3
    );
    // The replica's global was not changed: reads balanced there see the replica's default.
    let on_replica: u64 = one(&mut fresh, "SELECT /* splitrail:replica */ @@wait_timeout").await;
    assert_eq!(on_replica, 28800);

    run(&mut admin, "SET @@global.wait_timeout = 28800").await;
    let restored = new_sessions_see(&bed, 2).await;
    assert!(restored.iter().all(|&t| t == 28800), "{restored:?}");
}
