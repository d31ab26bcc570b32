//! Zero-loss restarts against the real test bed: two `splitrail` processes behind a small
//! in-test TCP balancer (round robin over the proxies that accept a connection), clients
//! running autocommit writes, reads and short transactions through it, one proxy SIGTERMed
//! and started again, then the other. No acknowledged write is lost, no statement that had
//! started fails, and every failure is a clean disconnect between statements, after which the
//! client reconnects through the balancer and goes on. Also: a draining proxy reports
//! not-ready, refuses new clients and lets an open transaction commit before it exits.
mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Bed, ProxyProcess, connect, get, run};
use mysql_async::prelude::*;
use mysql_async::{Conn, OptsBuilder};
use tokio::net::{TcpListener, TcpStream};

/// The proxies' configuration: a drain long enough for every transaction here.
const YAML: &str = "shutdown_timeout: 20s";

/// `ER_SERVER_SHUTDOWN`, what a proxy says to a client it closes between statements.
const SERVER_SHUTDOWN: u16 = 1053;

/// A TCP balancer: each client connection goes to the next proxy, in turn, that accepts it.
struct Balancer {
    port: u16,
    backends: Arc<Mutex<Vec<u16>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    async fn start(backends: Vec<u16>) -> Balancer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let backends = Arc::new(Mutex::new(backends));
        let list = backends.clone();
        let task = tokio::spawn(async move {
            let next = AtomicUsize::new(0);
            while let Ok((client, _)) = listener.accept().await {
                let ports = list.lock().expect("backends").clone();
                let first = next.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    for i in 0..ports.len() {
                        let port = ports[(first + i) % ports.len()];
                        if let Ok(backend) = TcpStream::connect(("127.0.0.1", port)).await {
                            let (mut client, mut backend) = (client, backend);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
                            return;
                        }
                    }
                    // No proxy accepts: the client's connection closes.
                });
            }
        });
        Balancer {
            port,
            backends,
            task,
        }
    }

    /// Replaces proxy port `old` by `new`.
    fn replace(&self, old: u16, new: u16) {
        let mut list = self.backends.lock().expect("backends");
        for port in list.iter_mut().filter(|p| **p == old) {
            *port = new;
        }
    }

    fn opts(&self) -> OptsBuilder {
        common::sql::opts_on(self.port)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Outcome {
    /// Rows whose write (or transaction) was acknowledged.
    acked: BTreeSet<i64>,
    /// Rows whose write failed (the statement must not have run).
    failed_writes: BTreeSet<i64>,
    /// Failures that were no clean disconnect between statements.
    unclean: Vec<String>,
    /// Clean disconnects (each followed by a reconnect).
    disconnects: usize,
    /// Statements acknowledged.
    statements: usize,
}

/// Whether `error` is a proxy closing the connection between statements: its shutdown error,
/// or the connection found closed.
fn clean_disconnect(error: &mysql_async::Error) -> bool {
    match error {
        mysql_async::Error::Server(e) => e.code == SERVER_SHUTDOWN,
        mysql_async::Error::Io(_) => true,
        mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed) => true,
        _ => false,
    }
}

/// Connects through the balancer, trying again while no proxy accepts (a few seconds at most).
async fn reconnect(opts: &OptsBuilder) -> Conn {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Conn::new(opts.clone()).await {
            Ok(conn) => return conn,
            Err(e) => {
                assert!(Instant::now() < deadline, "no proxy accepted: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// One client: autocommit writes, reads and two-row transactions, in turn, until `stop`.
async fn client(
    opts: OptsBuilder,
    table: String,
    keys: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
) -> Outcome {
    let mut out = Outcome::default();
    let mut conn = reconnect(&opts).await;
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let k = keys.fetch_add(2, Ordering::Relaxed);
        let result = match round % 3 {
            0 => {
                let sql = format!("INSERT INTO {table} (k) VALUES ({k})");
                match conn.query_drop(sql).await {
                    Ok(()) => {
                        out.acked.insert(k);
                        Ok(())
                    }
                    Err(e) => {
                        out.failed_writes.insert(k);
                        Err((e, "autocommit insert"))
                    }
                }
            }
            1 => match conn
                .query_first::<i64, _>(format!("SELECT COUNT(*) FROM {table}"))
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => Err((e, "read")),
            },
            _ => transaction(&mut conn, &table, k, &mut out).await,
        };
        match result {
            Ok(()) => out.statements += 1,
            Err((e, what)) if clean_disconnect(&e) => {
                out.disconnects += 1;
                let _ = what;
                conn = reconnect(&opts).await;
            }
            Err((e, what)) => {
                out.unclean.push(format!("{what}: {e}"));
                conn = reconnect(&opts).await;
            }
        }
    }
    let _ = conn.disconnect().await;
    out
}

/// `BEGIN`, two inserts, `COMMIT`. A failure at `BEGIN` is between statements; a failure
/// after it means an open transaction was cut (not clean, whatever the error).
async fn transaction(
    conn: &mut Conn,
    table: &str,
    k: i64,
    out: &mut Outcome,
) -> Result<(), (mysql_async::Error, &'static str)> {
    if let Err(e) = conn.query_drop("BEGIN").await {
        out.failed_writes.extend([k, k + 1]);
        return Err((e, "begin"));
    }
    let statements = [
        format!("INSERT INTO {table} (k) VALUES ({k})"),
        format!("INSERT INTO {table} (k) VALUES ({})", k + 1),
        "COMMIT".to_string(),
    ];
    for sql in statements {
        if let Err(e) = conn.query_drop(&sql).await {
            out.failed_writes.extend([k, k + 1]);
            out.unclean
                .push(format!("inside a transaction, {sql}: {e}"));
            return Ok(());
        }
    }
    out.acked.extend([k, k + 1]);
    Ok(())
}

/// SIGTERMs `proxy`, waits for it to exit (cleanly), and starts its successor; the balancer
/// sends to the successor from then on.
fn restart(bed: &Bed, balancer: &Balancer, mut proxy: ProxyProcess) -> ProxyProcess {
    let old = proxy.port;
    proxy.signal("TERM");
    let status = proxy
        .wait_exit(Duration::from_secs(30))
        .expect("the proxy did not exit after SIGTERM");
    assert!(status.success(), "the proxy exited with {status}");
    let next = ProxyProcess::start(bed, YAML);
    balancer.replace(old, next.port);
    next
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restarts_behind_a_balancer_lose_no_acknowledged_write() {
    let bed = Bed::own(1, "");
    let table = bed.new_table("restarts", "k BIGINT PRIMARY KEY").await;
    let first = ProxyProcess::start(&bed, YAML);
    let second = ProxyProcess::start(&bed, YAML);
    let balancer = Balancer::start(vec![first.port, second.port]).await;
    let keys = Arc::new(AtomicI64::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..6)
        .map(|_| {
            tokio::spawn(client(
                balancer.opts(),
                table.clone(),
                keys.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let settle = Duration::from_millis(1500);
    tokio::time::sleep(settle).await;
    let first = tokio::task::block_in_place(|| restart(&bed, &balancer, first));
    tokio::time::sleep(settle).await;
    let second = tokio::task::block_in_place(|| restart(&bed, &balancer, second));
    tokio::time::sleep(settle).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Outcome::default();
    for c in clients {
        let out = c.await.expect("a client");
        total.acked.extend(out.acked);
        total.failed_writes.extend(out.failed_writes);
        total.unclean.extend(out.unclean);
        total.disconnects += out.disconnects;
        total.statements += out.statements;
    }

    let mut check = connect(first.opts()).await;
    let rows: Vec<i64> = check
        .query(format!("SELECT k FROM {table}"))
        .await
        .expect("reading the rows");
    let rows: BTreeSet<i64> = rows.into_iter().collect();
    let lost: Vec<_> = total.acked.difference(&rows).collect();
    let ran_anyway: Vec<_> = total.failed_writes.intersection(&rows).collect();
    eprintln!(
        "restarts: {} statements acknowledged, {} rows acknowledged, {} clean disconnects, \
         {} unclean failures, {} lost, {} failed writes that ran",
        total.statements,
        total.acked.len(),
        total.disconnects,
        total.unclean.len(),
        lost.len(),
        ran_anyway.len()
    );
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert!(
        total.unclean.is_empty(),
        "failures other than a disconnect between statements: {:?}",
        total.unclean
    );
    assert!(
        ran_anyway.is_empty(),
        "writes reported failed had run (they had started): {ran_anyway:?}"
    );
    assert!(
        total.disconnects > 0,
        "no client was ever moved: the restarts proved nothing"
    );
    assert!(total.acked.len() > 10, "too little work to judge");
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_proxy_is_not_ready_refuses_clients_and_lets_a_transaction_commit() {
    let bed = Bed::own(1, "");
    let table = bed.new_table("drain", "k BIGINT PRIMARY KEY").await;
    let mut proxy = ProxyProcess::start(&bed, YAML);
    let admin = proxy.admin;
    tokio::task::block_in_place(|| {
        common::wait_until("the proxy to be ready", Duration::from_secs(10), || {
            get(admin, "/ready").status == 200
        })
    });
    assert_eq!(get(proxy.admin, "/live").status, 200);

    let mut open = connect(proxy.opts()).await;
    let mut idle = connect(proxy.opts()).await;
    run(&mut open, "BEGIN").await;
    run(&mut open, &format!("INSERT INTO {table} (k) VALUES (1)")).await;
    proxy.signal("TERM");
    // Draining: not ready, no new clients, the idle client closed, the transaction still on.
    tokio::task::block_in_place(|| {
        common::wait_until("the proxy to be unready", Duration::from_secs(10), || {
            get(admin, "/ready").status == 503
        })
    });
    assert_eq!(get(proxy.admin, "/live").status, 200);
    assert!(
        Conn::new(proxy.opts()).await.is_err(),
        "a draining proxy accepted a client"
    );
    let closed = idle.query_drop("SELECT 1").await;
    assert!(
        matches!(&closed, Err(e) if clean_disconnect(e)),
        "the idle client was not closed cleanly: {closed:?}"
    );
    run(&mut open, &format!("INSERT INTO {table} (k) VALUES (2)")).await;
    run(&mut open, "COMMIT").await;
    // Out of its transaction, the session is closed between statements (a statement sent
    // before the proxy looked may still run first); the proxy exits.
    let mut after = Ok(());
    for _ in 0..3 {
        after = open.query_drop("SELECT 1").await;
        if after.is_err() {
            break;
        }
    }
    assert!(
        matches!(&after, Err(e) if clean_disconnect(e)),
        "the session outlived its transaction: {after:?}"
    );
    let status = tokio::task::block_in_place(|| proxy.wait_exit(Duration::from_secs(30)));
    assert!(status.is_some_and(|s| s.success()), "exit: {status:?}");
    let count: i64 = bed
        .primary()
        .query_one(&format!("SELECT COUNT(*) FROM {table}"))
        .expect("counting")
        .parse()
        .expect("a number");
    assert_eq!(count, 2, "the committed transaction's rows");
}
