//! Tests of the test bed itself, against real `mariadbd` processes: replication by GTID, the
//! proxy user's lack of write rights on replicas, lag control, promotion, killing and restarting
//! servers, and cleanup of every process — also when the test process is SIGKILLed.
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use splitrail_testbed::{Cluster, ClusterConfig, Role, shared_cluster};

fn start(replicas: usize) -> Cluster {
    Cluster::start(ClusterConfig::with_replicas(replicas)).unwrap_or_else(|e| panic!("{e}"))
}

fn pid_gone(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Gone, or a zombie waiting for init to reap it.
    stat.is_empty()
        || stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'))
}

fn wait_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pids.iter().all(|&p| pid_gone(p)) {
        assert!(Instant::now() < deadline, "processes {pids:?} still alive");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_row_written_on_the_primary_reaches_every_replica() {
    let cluster = shared_cluster(2);
    let p = cluster.primary();
    p.sql_as(
        cluster.user(),
        cluster.password(),
        "CREATE TABLE app.reach (id INT PRIMARY KEY, v VARCHAR(20));
         INSERT INTO app.reach VALUES (1, 'from primary');",
    )
    .unwrap();
    assert_eq!(cluster.replicas().len(), 2);
    for replica in cluster.replicas() {
        cluster.wait_caught_up(replica).unwrap();
        assert_eq!(
            replica
                .query_one("SELECT v FROM app.reach WHERE id = 1")
                .unwrap(),
            "from primary"
        );
        assert_eq!(
            replica.gtid_slave_pos().unwrap(),
            p.gtid_binlog_pos().unwrap()
        );
    }
}

#[test]
fn the_proxy_user_cannot_write_on_a_replica() {
    let cluster = shared_cluster(2);
    let replica = cluster.replica(0);
    assert!(replica.is_read_only().unwrap());
    assert!(!cluster.primary().is_read_only().unwrap());
    let before = replica.gtid_binlog_pos().unwrap();
    let err = replica
        .sql_as(
            cluster.user(),
            cluster.password(),
            "CREATE TABLE app.misrouted (id INT)",
        )
        .unwrap_err();
    assert_eq!(err.mysql_code(), Some(1290), "{err}");
    // The proof the proxy's tests rely on: a write that reached a replica moves this.
    assert_eq!(replica.gtid_binlog_pos().unwrap(), before);
    // The user has no SUPER / READ_ONLY ADMIN.
    let grants = replica.sql("SHOW GRANTS FOR 'app'@'%'").unwrap();
    assert!(
        !grants.contains("SUPER") && !grants.contains("READ_ONLY ADMIN"),
        "{grants}"
    );
    // Statements over 16 MiB are allowed.
    let max: u64 = replica
        .query_one("SELECT @@max_allowed_packet")
        .unwrap()
        .parse()
        .unwrap();
    assert!(max > 32 << 20, "{max}");
}

#[test]
fn pausing_the_sql_thread_makes_a_replica_lag() {
    let cluster = start(1);
    let (p, r) = (cluster.primary(), cluster.replica(0));
    p.sql("CREATE TABLE app.lag (id INT PRIMARY KEY)").unwrap();
    cluster.wait_caught_up(r).unwrap();
    cluster.pause_replication(r).unwrap();
    p.sql("INSERT INTO app.lag VALUES (1)").unwrap();
    // Received but not applied: deterministic while the SQL thread is stopped.
    assert_eq!(r.query_one("SELECT COUNT(*) FROM app.lag").unwrap(), "0");
    assert_ne!(r.gtid_slave_pos().unwrap(), p.gtid_binlog_pos().unwrap());
    let status = cluster.replication_status(r).unwrap();
    let field = |name: &str| {
        status
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("Slave_SQL_Running").as_deref(), Some("No"));
    assert_eq!(field("Slave_IO_Running").as_deref(), Some("Yes"));
    cluster.resume_replication(r).unwrap();
    cluster.wait_caught_up(r).unwrap();
    assert_eq!(r.query_one("SELECT COUNT(*) FROM app.lag").unwrap(), "1");

    // MASTER_DELAY holds every event back for that long.
    cluster.set_replication_delay(r, 3).unwrap();
    p.sql("INSERT INTO app.lag VALUES (2)").unwrap();
    assert_eq!(r.query_one("SELECT COUNT(*) FROM app.lag").unwrap(), "1");
    cluster.wait_caught_up(r).unwrap();
    assert_eq!(r.query_one("SELECT COUNT(*) FROM app.lag").unwrap(), "2");
    cluster.set_replication_delay(r, 0).unwrap();
}

#[test]
fn promotion_makes_a_replica_the_writable_primary_of_the_others() {
    let cluster = start(2);
    let old = cluster.primary();
    old.sql("CREATE TABLE app.failover (id INT PRIMARY KEY)")
        .unwrap();
    cluster.wait_replicas_caught_up().unwrap();
    let (new, other) = (cluster.replica(0), cluster.replica(1));
    let (new_port, other_port) = (new.port(), other.port());

    // The primary dies; the first replica takes over.
    old.kill().unwrap();
    assert!(!old.is_running());
    cluster.promote(new).unwrap();
    assert_eq!(cluster.primary().port(), new_port);
    assert_eq!(new.role(), Role::Primary);
    assert!(!new.is_read_only().unwrap());
    new.sql_as(
        cluster.user(),
        cluster.password(),
        "INSERT INTO app.failover VALUES (1)",
    )
    .unwrap();
    cluster.wait_caught_up(other).unwrap();
    assert_eq!(
        other
            .query_one("SELECT COUNT(*) FROM app.failover")
            .unwrap(),
        "1"
    );
    let status = cluster.replication_status(other).unwrap();
    assert!(status.contains(&("Master_Port".to_string(), new_port.to_string())));

    // The old primary comes back and is turned into a read-only replica of the new one.
    old.start().unwrap();
    cluster.promote(new).unwrap(); // idempotent for the current primary
    assert_eq!(cluster.replicas().len(), 2);
    assert!(cluster.replicas().iter().any(|r| r.port() == other_port));
}

#[test]
fn a_killed_server_is_observed_and_can_restart() {
    let cluster = start(1);
    let (p, r) = (cluster.primary(), cluster.replica(0));
    let pid = r.pid().unwrap();
    r.kill().unwrap();
    assert!(!r.is_running());
    wait_gone(&[pid]);
    assert!(r.sql("SELECT 1").is_err());
    p.sql("CREATE TABLE app.after_kill (id INT)").unwrap();
    r.start().unwrap();
    assert!(
        r.is_read_only().unwrap(),
        "a restarted replica stays read-only"
    );
    cluster.wait_caught_up(r).unwrap();
    assert_eq!(
        r.query_one("SHOW TABLES FROM app LIKE 'after_kill'")
            .unwrap(),
        "after_kill"
    );
    // A clean stop works too.
    r.stop().unwrap();
    assert!(!r.is_running());
}

#[test]
fn dropping_a_cluster_leaves_no_process() {
    let cluster = start(1);
    let pids: Vec<u32> = cluster.servers().iter().filter_map(|s| s.pid()).collect();
    assert_eq!(pids.len(), 2);
    drop(cluster);
    wait_gone(&pids);
}

/// Runs this test binary again as a child that starts a cluster, prints its pids and waits to be
/// killed; the servers must die with it although nothing in the child gets to clean up.
#[test]
fn servers_die_with_a_killed_test_process() {
    const CHILD: &str = "SPLITRAIL_TESTBED_HOLD_CLUSTER";
    if std::env::var_os(CHILD).is_some() {
        let cluster = start(1);
        for server in cluster.servers() {
            println!("PID {}", server.pid().unwrap());
        }
        println!("READY");
        std::thread::sleep(Duration::from_secs(600));
        unreachable!("the parent kills this process");
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "servers_die_with_a_killed_test_process",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pids = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(pid) = line.strip_prefix("PID ") {
            pids.push(pid.parse::<u32>().unwrap());
        }
        if line == "READY" {
            break;
        }
    }
    assert_eq!(pids.len(), 2, "the child did not start its cluster");
    assert!(pids.iter().all(|&p| !pid_gone(p)));
    child.kill().unwrap(); // SIGKILL: no destructor runs in the child
    child.wait().unwrap();
    wait_gone(&pids);
}
