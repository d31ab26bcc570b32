//! Binlog clients through the proxy: the real `mariadb-binlog --read-from-remote-server` reads
//! the primary's events (a row written through the proxy among them) from a file position, a
//! GTID position, and as a `--stop-never` replica that registers itself; a failover ends such a
//! stream with a clear error; `routing.replication_clients: refuse` refuses them.
mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Bed, MONITOR_USER, field, run, wait_until};

const WAIT: Duration = Duration::from_secs(60);

/// `mariadb-binlog` reading from the proxy at `port` as `app`, with `args` after the common ones.
fn binlog_client(port: u16, args: &[&str]) -> Command {
    let mut cmd = Command::new("mariadb-binlog");
    cmd.args([
        "--no-defaults",
        "--read-from-remote-server",
        "--host=127.0.0.1",
        &format!("--port={port}"),
        "--user=app",
        "--password=app",
        "--verbose",
    ])
    .args(args)
    .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to its end: (success, stdout, stderr).
fn output(mut cmd: Command) -> (bool, String, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running mariadb-binlog (install mariadb-client): {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The primary's current binlog file, asked of it directly.
fn binlog_file(bed: &Bed) -> String {
    let rows = bed
        .primary()
        .query("SHOW MASTER STATUS")
        .unwrap_or_else(|e| panic!("SHOW MASTER STATUS: {e}"));
    rows.first()
        .and_then(|r| r.first())
        .cloned()
        .unwrap_or_else(|| panic!("no binlog on the primary"))
}

/// Writes a row carrying `marker` through the proxy into a new table; returns the table.
async fn write_marker(bed: &Bed, marker: &str) -> String {
    let t = bed
        .new_table("cdc", "id INT PRIMARY KEY, v VARCHAR(64)")
        .await;
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        &format!("INSERT INTO {t} VALUES (1, '{marker}')"),
    )
    .await;
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_binlog_reads_events_written_through_the_proxy() {
    let bed = Bed::shared();
    let marker = format!("cdc-marker-{}", std::process::id());
    let t = write_marker(&bed, &marker).await;
    let file = binlog_file(&bed);
    let (ok, out, err) = output(binlog_client(bed.port(), &["--to-last-log", &file]));
    assert!(ok, "mariadb-binlog failed: {err}");
    assert!(
        out.contains(&marker),
        "the row is not among the events:\n{out}"
    );
    let table = t.trim_start_matches("app.");
    assert!(
        out.contains(&format!("### INSERT INTO `app`.`{table}`")),
        "{out}"
    );

    // From a GTID position: only the events after it.
    let before = bed.primary().gtid_binlog_pos().expect("the GTID position");
    let later = format!("{marker}-later");
    let mut conn = bed.conn().await;
    run(&mut conn, &format!("INSERT INTO {t} VALUES (2, '{later}')")).await;
    let start = format!("--start-position={before}");
    let (ok, out, err) = output(binlog_client(bed.port(), &["--to-last-log", &start, &file]));
    assert!(ok, "mariadb-binlog from {before} failed: {err}");
    assert!(out.contains(&later), "the later row is missing:\n{out}");
    assert!(
        !out.contains(&format!("'{marker}'")),
        "an event before {before}:\n{out}"
    );

    // The proxy's session is usable by the next client as before.
    let n: i64 = common::one(&mut conn, &format!("SELECT COUNT(*) FROM {t}")).await;
    assert_eq!(n, 2);
}

/// A `--stop-never` client (it registers as a replica) whose output is read as it comes.
struct Follower {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Follower {
    fn start(port: u16, file: &str) -> Follower {
        let mut child = binlog_client(port, &["--stop-never", file])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting mariadb-binlog (install mariadb-client): {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines }
    }

    /// Waits until a line containing `text` was printed.
    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(e) => panic!("mariadb-binlog never printed {text:?}: {e}"),
            }
        }
    }

    /// Waits for the client to exit by itself: (success, stderr).
    fn wait_exit(mut self) -> (bool, String) {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for mariadb-binlog") {
                break status;
            }
            assert!(Instant::now() < deadline, "mariadb-binlog did not end");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        (status.success(), err)
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_following_client_sees_new_events_and_leaves_cleanly() {
    // A cluster of its own: the primary's processlist shows this test's stream alone.
    let bed = Bed::own(1, "");
    let t = write_marker(&bed, "first").await;
    let follower = Follower::start(bed.port(), &binlog_file(&bed));
    tokio::task::block_in_place(|| follower.wait_for("'first'"));
    // A row written while it follows reaches it.
    let mut conn = bed.conn().await;
    run(
        &mut conn,
        &format!("INSERT INTO {t} VALUES (2, 'while-following')"),
    )
    .await;
    tokio::task::block_in_place(|| follower.wait_for("'while-following'"));
    // The proxy listed it as a pinned session of its own; it goes when the client leaves.
    let shared = bed.proxy.shared();
    let pinned = || {
        shared
            .sessions()
            .iter()
            .any(|s| s.pinned().map(|r| r.as_str()) == Some("replication"))
    };
    assert!(pinned(), "no session is pinned for replication");
    // The stream comes from the primary (the replica has the same events in its own binlog).
    let dumps = |server: &splitrail_testbed::Server| {
        server
            .query_one(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                 WHERE USER = 'app' AND COMMAND LIKE 'Binlog Dump%'",
            )
            .unwrap_or_else(|e| panic!("reading the processlist: {e}"))
    };
    assert_eq!(dumps(bed.primary()), "1");
    assert_eq!(dumps(bed.replica(0)), "0");
    drop(follower);
    tokio::task::block_in_place(|| wait_until("the binlog session ends", WAIT, || !pinned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_ends_a_binlog_stream_with_a_clear_error() {
    let bed = Bed::own(
        1,
        &format!(
            "monitor: {{ user: {MONITOR_USER}, interval: 100ms, failure_threshold: 2, \
             success_threshold: 1 }}"
        ),
    );
    write_marker(&bed, "before-failover").await;
    let follower = Follower::start(bed.port(), &binlog_file(&bed));
    tokio::task::block_in_place(|| follower.wait_for("'before-failover'"));
    bed.cluster()
        .promote(bed.replica(0))
        .expect("promoting the replica");
    let (ok, err) = tokio::task::block_in_place(|| follower.wait_exit());
    assert!(!ok, "mariadb-binlog should fail");
    assert!(err.contains("1236") || err.contains("failover"), "{err}");
    assert!(err.contains("The primary changed (failover)"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binlog_clients_can_be_refused() {
    let bed = Bed::shared();
    let proxy = bed.another_proxy("routing: { replication_clients: refuse }");
    let file = binlog_file(&bed);
    let port = proxy.local_addr().port();
    let (ok, _, err) = output(binlog_client(port, &["--to-last-log", &file]));
    assert!(!ok, "mariadb-binlog should fail");
    assert!(
        err.contains("Replication commands are not served through Splitrail"),
        "{err}"
    );
}

/// A binlog client that announces the server id of one of the proxy's servers is refused: the
/// primary would take it for that server reconnecting and drop the server's own stream (the
/// replica logs error 4052), then the replica's reconnect would drop the client, and so on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binlog_client_with_a_replicas_server_id_is_refused() {
    let bed = Bed::shared();
    let replica = bed.replica(0);
    tokio::task::block_in_place(|| {
        wait_until("the monitor read every server id", WAIT, || {
            let topology = bed.proxy.shared().topology();
            topology.servers.iter().all(|s| s.server_id().is_some())
        })
    });
    let file = binlog_file(&bed);
    let taken = format!("--stop-never-slave-server-id={}", replica.server_id());
    let (ok, _, err) = output(binlog_client(bed.port(), &["--stop-never", &taken, &file]));
    assert!(!ok, "mariadb-binlog should fail");
    assert!(err.contains("a server behind Splitrail"), "{err}");
    let status = bed
        .cluster()
        .replication_status(replica)
        .expect("the replica's status");
    assert_eq!(field(&status, "Slave_IO_Running"), Some("Yes"));
    assert_eq!(field(&status, "Last_IO_Errno"), Some("0"), "{status:?}");
}
