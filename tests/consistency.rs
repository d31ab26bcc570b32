//! Read-your-writes against the real test bed: a stale-read probe — many concurrent
//! write-then-immediately-read pairs, on the same session and on a new connection — while the
//! replica's replication is paused on purpose, for each `routing.consistency` mode; the
//! consistency token across two proxy processes; and the share of reads replicas keep serving.
//!
//! The probe prints its figures (stale reads, share served by replicas, time per pair) so a
//! run with `--nocapture` reports them; the assertions are on correctness only.
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{
    Bed, BedBuilder, MONITOR_USER, ProxyProcess, connect, get, one, opts_for, run, server_id,
    wait_reads_on, wait_reads_through,
};
use mysql_async::OptsBuilder;
use mysql_async::prelude::*;
use splitrail_testbed::ClusterConfig;

/// Row keys, unique across probe runs on one table.
static NEXT_KEY: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);

/// Figures of one probe run.
#[derive(Debug, Default, Clone, Copy)]
struct Probe {
    pairs: usize,
    stale: usize,
    on_replica: usize,
    elapsed: Duration,
}

impl Probe {
    fn add(&mut self, other: Probe) {
        self.pairs += other.pairs;
        self.stale += other.stale;
        self.on_replica += other.on_replica;
        self.elapsed += other.elapsed;
    }

    fn report(&self, what: &str) {
        eprintln!(
            "probe {what}: {} pairs, {} stale, {:.0} % of reads on a replica, {:.2} ms per pair",
            self.pairs,
            self.stale,
            100.0 * self.on_replica as f64 / self.pairs.max(1) as f64,
            self.elapsed.as_secs_f64() * 1000.0 / self.pairs.max(1) as f64
        );
    }
}

/// `workers` clients each write `pairs` rows into `table` and read each back at once — on a
/// new connection when `new_connection`, else on the writing session — counting reads that
/// miss the row and reads answered by a server other than `primary_id`.
async fn probe(
    opts: &OptsBuilder,
    table: &str,
    primary_id: u32,
    workers: usize,
    pairs: usize,
    new_connection: bool,
) -> Probe {
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (opts, table) = (opts.clone(), table.to_string());
        tasks.push(tokio::spawn(async move {
            let mut writer = connect(opts.clone()).await;
            let mut probe = Probe::default();
            for i in 0..pairs {
                let k = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
                let _ = (w, i);
                let started = Instant::now();
                writer
                    .exec_drop(format!("INSERT INTO {table} (k) VALUES (?)"), (k,))
                    .await
                    .expect("insert");
                let read = format!("SELECT COUNT(*), @@server_id FROM {table} WHERE k = ?");
                let (count, server): (i64, u32) = if new_connection {
                    let mut reader = connect(opts.clone()).await;
                    let row = reader.exec_first(read, (k,)).await;
                    reader.disconnect().await.ok();
                    row.expect("read").expect("a row")
                } else {
                    writer
                        .exec_first(read, (k,))
                        .await
                        .expect("read")
                        .expect("a row")
                };
                probe.elapsed += started.elapsed();
                probe.pairs += 1;
                probe.stale += usize::from(count == 0);
                probe.on_replica += usize::from(server != primary_id);
            }
            writer.disconnect().await.ok();
            probe
        }));
    }
    let mut total = Probe::default();
    for task in tasks {
        total.add(task.await.expect("probe worker"));
    }
    total
}

/// Pauses and resumes the replica's replication in short turns until stopped: replication
/// is behind for most of a pause, so a read right after a write finds the replica stale.
struct Flapper {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Flapper {
    async fn start(bed: &Bed, paused: Duration, running: Duration) -> Flapper {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let mut root = connect(bed.replica_root(0)).await;
        let task = tokio::spawn(async move {
            while !flag.load(Ordering::Relaxed) {
                run(&mut root, "STOP SLAVE SQL_THREAD").await;
                tokio::time::sleep(paused).await;
                run(&mut root, "START SLAVE SQL_THREAD").await;
                tokio::time::sleep(running).await;
            }
        });
        Flapper { stop, task }
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("flapper");
    }
}

fn yaml(consistency: &str, extra_routing: &str) -> String {
    format!(
        "monitor: {{ user: {MONITOR_USER}, interval: 200ms }}\n\
         routing: {{ consistency: {consistency}{extra_routing} }}"
    )
}

/// Makes the replica apply events `seconds` late (`MASTER_DELAY`): it stays up and within the
/// lag limit, so reads keep going to it, but a row written now is not there yet.
fn delay(bed: &Bed, seconds: u32) {
    bed.cluster()
        .set_replication_delay(bed.replica(0), seconds)
        .expect("set MASTER_DELAY");
}

async fn create_table(bed: &Bed) -> String {
    bed.new_table(
        "probe",
        "k BIGINT PRIMARY KEY, at TIMESTAMP(6) DEFAULT NOW(6)",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_and_session_consistency_read_no_stale_rows_while_replication_lags() {
    let bed = Bed::own(1, &yaml("global", ""));
    let primary = bed.primary().server_id();
    let t = create_table(&bed).await;
    let session = bed.another_proxy(&yaml("session", ""));
    // The CREATE TABLE went through the proxy: reads that need it skip the replica until the
    // monitor sees it applied there (at most 2 × the causal timeout of 1 s). Past that, they
    // wait there as this test wants.
    wait_reads_on(&bed, bed.replica(0).server_id()).await;

    let flapper =
        Flapper::start(&bed, Duration::from_millis(300), Duration::from_millis(100)).await;
    let (mut global_new, mut global_same, mut session_same) =
        (Probe::default(), Probe::default(), Probe::default());
    // A loaded machine can put every read of a round in the paused spells (see below): up to
    // three rounds, until one read reached the replica, every one checked for staleness.
    for _ in 0..3 {
        global_new.add(probe(&bed.opts(), &t, primary, 6, 15, true).await);
        global_same.add(probe(&bed.opts(), &t, primary, 6, 15, false).await);
        session_same.add(probe(&opts_for(&session), &t, primary, 6, 15, false).await);
        if global_new.on_replica + global_same.on_replica + session_same.on_replica > 0 {
            break;
        }
    }
    flapper.stop().await;
    global_new.report("global, new connection, replication flapping");
    global_same.report("global, same session, replication flapping");
    session_same.report("session, same session, replication flapping");
    assert_eq!(
        global_new.stale, 0,
        "global: stale reads on new connections"
    );
    assert_eq!(global_same.stale, 0, "global: stale reads on the session");
    assert_eq!(session_same.stale, 0, "session: stale reads on the session");
    // The reads are still the replica's whenever it catches up within the wait — when the
    // monitor last saw its SQL thread running, that is: stopped, it counts as lagging. On a
    // loaded machine one proxy's checks can land in the paused spells for all of its probes,
    // so the sanity check (the probes did not pass by sending everything to the primary) counts
    // the reads of all three.
    assert!(
        global_new.on_replica + global_same.on_replica + session_same.on_replica > 0,
        "no read reached the replica"
    );
    let metrics = metrics_of(&bed);
    assert!(
        metric(&metrics, "splitrail_consistency_waits_total") > 0,
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventual_consistency_demonstrably_reads_stale_rows() {
    let bed = Bed::own(1, &yaml("eventual", ""));
    let primary = bed.primary().server_id();
    let t = create_table(&bed).await;
    delay(&bed, 5);
    let eventual = probe(&bed.opts(), &t, primary, 4, 10, true).await;
    let same = probe(&bed.opts(), &t, primary, 4, 10, false).await;
    delay(&bed, 0);
    eventual.report("eventual, new connection, replica 5 s behind");
    same.report("eventual, same session, replica 5 s behind");
    assert_eq!(same.stale, same.pairs);
    // The probe can fail: without read-your-writes every read missed its row.
    assert_eq!(eventual.stale, eventual.pairs);
    assert_eq!(eventual.on_replica, eventual.pairs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_serve_most_reads_when_caught_up_and_global_costs_little() {
    let bed = Bed::own(1, &yaml("global", ""));
    let primary = bed.primary().server_id();
    let t = create_table(&bed).await;
    let eventual = bed.another_proxy(&yaml("eventual", ""));
    // Reads that need the CREATE TABLE go to the primary until the monitor sees the replica
    // has it: the figures below are for the time after.
    wait_reads_on(&bed, bed.replica(0).server_id()).await;
    // Warm both proxies' pools so the figures compare statements, not logins.
    probe(&bed.opts(), &t, primary, 4, 3, false).await;
    probe(&opts_for(&eventual), &t, primary, 4, 3, false).await;

    let global = probe(&bed.opts(), &t, primary, 4, 40, false).await;
    let plain = probe(&opts_for(&eventual), &t, primary, 4, 40, false).await;
    global.report("global, same session, replication running");
    plain.report("eventual, same session, replication running");
    assert_eq!(global.stale, 0);
    assert!(
        global.on_replica * 2 > global.pairs,
        "replicas served only {} of {} reads",
        global.on_replica,
        global.pairs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_whose_replica_cannot_catch_up_in_time_goes_to_the_primary() {
    let bed = Bed::own(1, &yaml("global", ", causal_read_timeout: 200ms"));
    let primary = bed.primary().server_id();
    let t = create_table(&bed).await;
    delay(&bed, 5);
    let session = bed.another_proxy(&yaml("session", ", causal_read_timeout: 200ms"));
    let global_new = probe(&bed.opts(), &t, primary, 4, 5, true).await;
    let session_same = probe(&opts_for(&session), &t, primary, 4, 5, false).await;
    global_new.report("global, new connection, replica 5 s behind");
    session_same.report("session, same session, replica 5 s behind");
    assert_eq!(global_new.stale + session_same.stale, 0);
    let mut writer = bed.conn().await;
    run(&mut writer, &format!("INSERT INTO {t} (k) VALUES (-1)")).await;
    let mut reader = bed.conn().await;
    let (count, server): (i64, u32) = reader
        .query_first(format!(
            "SELECT COUNT(*), @@server_id FROM {t} WHERE k = -1"
        ))
        .await
        .expect("read")
        .expect("row");
    assert_eq!((count, server), (1, primary));
    // A read that needs nothing new still goes to the replica.
    let eventual = bed.another_proxy(&yaml("eventual", ""));
    let mut plain = connect(opts_for(&eventual)).await;
    let other: u32 = one(&mut plain, "SELECT @@server_id").await;
    assert_ne!(other, primary);
    delay(&bed, 0);
    let metrics = metrics_of(&bed);
    assert!(metric(&metrics, "splitrail_consistency_primary_fallbacks_total") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_needs_a_ddl_the_replica_has_not_replayed_goes_to_the_primary_at_once() {
    // A long causal timeout: had the read waited on the replica, it would show as a fallback.
    let bed = Bed::own(1, &yaml("global", ", causal_read_timeout: 5s"));
    let primary = bed.primary().server_id();
    let replica = bed.replica(0).server_id();
    let mut root = connect(bed.replica_root(0)).await;
    run(&mut root, "STOP SLAVE SQL_THREAD").await;
    let mut c = bed.conn().await;
    let t = format!("ddl_{}", std::process::id());
    run(&mut c, &format!("CREATE TABLE {t} (id INT PRIMARY KEY)")).await;
    run(&mut c, &format!("INSERT INTO {t} VALUES (1), (2)")).await;
    let (count, server): (i64, u32) = c
        .query_first(format!("SELECT COUNT(*), @@server_id FROM {t}"))
        .await
        .expect("read right after the DDL")
        .expect("row");
    assert_eq!((count, server), (2, primary));
    let metrics = metrics_of(&bed);
    assert!(metric(&metrics, "splitrail_consistency_slow_replay_reads_total") >= 1);
    assert_eq!(
        metric(&metrics, "splitrail_consistency_primary_fallbacks_total"),
        0,
        "no read waited for the replica to replay the DDL"
    );
    // Once the replica has replayed it (the monitor reads its position every 200 ms), reads
    // that need it wait there again.
    run(&mut root, "START SLAVE SQL_THREAD").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 2;
    loop {
        n += 1;
        run(&mut c, &format!("INSERT INTO {t} VALUES ({n})")).await;
        let (count, server): (i64, u32) = c
            .query_first(format!("SELECT COUNT(*), @@server_id FROM {t}"))
            .await
            .expect("read")
            .expect("row");
        assert_eq!(count, n, "read-your-writes");
        if server == replica {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reads never went back to the replica"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run(&mut c, &format!("DROP TABLE {t}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consistency_token_gives_read_your_writes_through_another_proxy_process() {
    let bed = Bed::own(1, &yaml("global", ""));
    let primary = bed.primary().server_id();
    let t = create_table(&bed).await;
    // The second proxy, a process of its own, knows nothing of the first one's writes.
    let other = ProxyProcess::start(&bed, &yaml("eventual", ", causal_read_timeout: 300ms"));
    let mut theirs = connect(other.opts()).await;

    let mut mine = bed.conn().await;
    let none: Option<String> = one(&mut mine, "SELECT splitrail_last_gtid()").await;
    assert_eq!(none, None, "a session without writes has no token");

    delay(&bed, 3);
    // Restarting replication with the delay stops the replica's SQL thread for a moment, and
    // a monitor that saw it stopped counts the replica as lagging until its next check: the
    // stale read below must find the other proxy reading on the replica again.
    wait_reads_through(other.opts(), bed.replica(0).server_id()).await;
    run(&mut mine, &format!("INSERT INTO {t} (k) VALUES (-7)")).await;
    let token: String = one(&mut mine, "select splitrail_last_gtid();").await;
    assert!(token.starts_with("0-"), "token {token:?}");

    let read = format!("SELECT COUNT(*), @@server_id FROM {t} WHERE k = -7");
    let (count, _): (i64, u32) = theirs.query_first(&read).await.unwrap().unwrap();
    assert_eq!(
        count, 0,
        "without the token the other proxy reads the stale replica"
    );
    let hinted = format!("/* splitrail:min_gtid={token} */ {read}");
    let (count, server): (i64, u32) = theirs.query_first(&hinted).await.unwrap().unwrap();
    assert_eq!(
        (count, server),
        (1, primary),
        "with the token, the primary answers"
    );

    // Once the replica has applied the write, it answers the hinted read.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (count, server): (i64, u32) = theirs.query_first(&hinted).await.unwrap().unwrap();
        assert_eq!(count, 1, "a hinted read missed the row");
        if server != primary {
            break;
        }
        assert!(Instant::now() < deadline, "the replica never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    delay(&bed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_gtids_reads_after_a_write_go_to_the_primary_for_the_window() {
    // No binary log: writes carry no GTID, and the "replica" shares nothing with the primary,
    // so any read it answers after a write is stale.
    let config = ClusterConfig {
        binlog: false,
        ..ClusterConfig::with_replicas(1)
    };
    let bed = BedBuilder::cluster(config)
        .yaml(&yaml("global", ", read_after_write_window: 3s"))
        .start();
    let (primary, replica) = (bed.primary().server_id(), bed.replica(0).server_id());
    for server in bed.cluster().servers() {
        server
            .sql("CREATE TABLE app.nogtid (k INT PRIMARY KEY)")
            .expect("creating the table");
    }
    let mut reader = bed.conn().await;
    assert_eq!(
        server_id(&mut reader).await,
        replica,
        "reads start on the replica"
    );
    let mut writer = bed.conn().await;
    run(&mut writer, "INSERT INTO app.nogtid VALUES (1)").await;
    // Right after the write, a read on another connection goes to the primary and sees it.
    let (count, server): (i64, u32) = reader
        .query_first("SELECT COUNT(*), @@server_id FROM app.nogtid")
        .await
        .expect("read")
        .expect("row");
    assert_eq!((count, server), (1, primary));
    // Once the window has passed, reads go back to the replica.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(server_id(&mut reader).await, replica);
}

/// The proxy's `/metrics` text.
fn metrics_of(bed: &Bed) -> String {
    get(bed.proxy.admin_addr(), "/metrics").body
}

/// The value of an unlabelled metric.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}
