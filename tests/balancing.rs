//! Read balancing against real servers: weights split reads in every mode, the primary's
//! `read_weight` takes its share, and hash balancing keeps a user (or a hint key) on one
//! replica. Every test uses the binary's shared cluster of a primary and two replicas, behind a
//! proxy of its own.
mod common;

use std::collections::HashMap;

use common::{Bed, BedBuilder, OTHER_PASSWORD, OTHER_USER, connect, one, server_id};

/// Reads `@@server_id` `n` times on one connection: how many each server answered.
async fn spread(bed: &Bed, n: usize) -> HashMap<u32, usize> {
    let mut conn = bed.conn().await;
    let mut seen = HashMap::new();
    for _ in 0..n {
        *seen.entry(server_id(&mut conn).await).or_default() += 1;
    }
    seen
}

/// The server ids in [`splitrail_testbed::Cluster::servers`] order (primary first).
fn ids(bed: &Bed) -> Vec<u32> {
    bed.cluster()
        .servers()
        .iter()
        .map(|s| s.server_id())
        .collect()
}

/// Whether `got` is within `slack` reads of `want` for every server.
fn about(got: &HashMap<u32, usize>, want: &[(u32, usize)], slack: usize) -> bool {
    let total: usize = got.values().sum();
    total == want.iter().map(|w| w.1).sum::<usize>()
        && want
            .iter()
            .all(|&(id, n)| got.get(&id).copied().unwrap_or(0).abs_diff(n) <= slack)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_weights_split_reads_in_every_mode() {
    for (mode, slack) in [
        ("round_robin", 0),
        ("least_outstanding", 0),
        // Binomial spread of 400 reads at p = 1/4: σ ≈ 8.7; 60 is about seven σ.
        ("random", 60),
    ] {
        let bed = BedBuilder::shared(2)
            .server_yaml(&["read_weight: 0", "weight: 1", "weight: 3"])
            .yaml(&format!("routing: {{ balance: {mode} }}"))
            .start();
        let id = ids(&bed);
        assert_eq!(
            id[0],
            bed.primary().server_id(),
            "servers()[0] is the primary"
        );
        let got = spread(&bed, 400).await;
        assert!(
            about(&got, &[(id[1], 100), (id[2], 300)], slack),
            "{mode}: reads by server id {got:?} (replicas {}:1 and {}:3)",
            id[1],
            id[2]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primarys_read_weight_takes_its_share() {
    let bed = BedBuilder::shared(2)
        .server_yaml(&["read_weight: 2", "weight: 1", "weight: 1"])
        .yaml("routing: { balance: round_robin }")
        .start();
    let id = ids(&bed);
    let got = spread(&bed, 400).await;
    assert!(
        about(&got, &[(id[0], 200), (id[1], 100), (id[2], 100)], 0),
        "reads by server id {got:?}; primary {}",
        id[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_by_user_keeps_each_user_on_one_replica() {
    let bed = BedBuilder::shared(2)
        .yaml("routing: { balance: hash, hash_key: user }")
        .start();
    bed.create_other_user();
    for (user, password) in [("app", "app"), (OTHER_USER, OTHER_PASSWORD)] {
        let mut seen = HashMap::new();
        // Several connections: the key is the user, not the connection.
        for _ in 0..4 {
            let mut conn = connect(bed.opts_as(user, password)).await;
            for _ in 0..10 {
                *seen.entry(server_id(&mut conn).await).or_insert(0) += 1;
            }
        }
        assert_eq!(seen.len(), 1, "{user}'s reads went to {seen:?}");
        let replica = *seen.keys().next().expect("a server");
        assert_ne!(
            replica,
            bed.primary().server_id(),
            "{user} read on the primary"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_by_hint_keeps_a_key_on_one_replica_and_spreads_keys() {
    let bed = BedBuilder::shared(2)
        .yaml("routing: { balance: hash, hash_key: hint }")
        .start();
    let mut conn = bed.conn().await;
    let mut servers_of_keys = HashMap::new();
    for key in 0..24 {
        let sql = format!("/* splitrail:hash_key=tenant-{key} */ SELECT @@server_id");
        let first: u32 = one(&mut conn, &sql).await;
        for _ in 0..3 {
            let again: u32 = one(&mut conn, &sql).await;
            assert_eq!(again, first, "key tenant-{key} moved");
        }
        *servers_of_keys.entry(first).or_insert(0) += 1;
    }
    // 24 keys over two replicas of equal weight: both take some (all on one: 2^-23).
    assert_eq!(
        servers_of_keys.len(),
        2,
        "keys by server {servers_of_keys:?}"
    );
    assert!(!servers_of_keys.contains_key(&bed.primary().server_id()));
}
