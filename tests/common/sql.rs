//! SQL helpers: reaching a proxy as a MySQL client (options, connections, `root` on a
//! replica past the proxy) and running statements on a connection, panicking with the
//! statement and its error.

use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder, Pool};
use splitrail_server::ProxyHandle;

use super::Bed;

impl Bed {
    /// `mysql://app:app@127.0.0.1:PORT/app`.
    pub fn url(&self) -> String {
        format!("mysql://app:app@127.0.0.1:{}/app", self.port())
    }

    /// Options for a client of the proxy as `app`, ready for more settings.
    pub fn opts(&self) -> OptsBuilder {
        opts_for(&self.proxy)
    }

    /// Options as `user` / `password`.
    pub fn opts_as(&self, user: &str, password: &str) -> OptsBuilder {
        self.opts().user(Some(user)).pass(Some(password))
    }

    /// A `mysql_async` pool of connections to the proxy.
    pub fn pool(&self) -> Pool {
        Pool::new(self.opts())
    }

    /// One connection to the proxy, i.e. one client session.
    pub async fn conn(&self) -> Conn {
        connect(self.opts()).await
    }

    /// Options for `app` straight to the primary, past the proxy: what a direct session sees,
    /// to compare the proxy's answers with.
    pub fn direct_to_primary(&self) -> OptsBuilder {
        OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.primary().port())
            .user(Some("app"))
            .pass(Some("app"))
            .db_name(Some("app"))
            .prefer_socket(false)
    }

    /// Options for `root` straight to replica `i`, past the proxy (whose user may not stop
    /// replication).
    pub fn replica_root(&self, i: usize) -> OptsBuilder {
        OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.replica(i).port())
            .user(Some("root"))
            .prefer_socket(false)
    }
}

/// Options for a client of the proxy `proxy` as `app`.
pub fn opts_for(proxy: &ProxyHandle) -> OptsBuilder {
    let url = format!(
        "mysql://app:app@127.0.0.1:{}/app",
        proxy.local_addr().port()
    );
    let opts = Opts::from_url(&url).unwrap_or_else(|e| panic!("bad URL: {e}"));
    OptsBuilder::from_opts(opts).prefer_socket(false)
}

/// Options for a client as `app` of a proxy (or anything that forwards to one) on `port`.
pub fn opts_on(port: u16) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some("app"))
        .pass(Some("app"))
        .db_name(Some("app"))
        .prefer_socket(false)
}

/// Connects with `opts`, panicking with the error.
pub async fn connect(opts: impl Into<Opts>) -> Conn {
    let opts = opts.into();
    match Conn::new(opts.clone()).await {
        Ok(conn) => conn,
        Err(e) => panic!(
            "cannot connect to {}:{}: {e}",
            opts.ip_or_hostname(),
            opts.tcp_port()
        ),
    }
}

/// `@@server_id` of the backend that answers a plain read on `conn`.
pub async fn server_id(conn: &mut Conn) -> u32 {
    one(conn, "SELECT @@server_id").await
}

/// Reads on fresh sessions until one is answered by the server with `server_id` `want` (the
/// balancer may need a round, the monitor a check), for up to 30 s.
pub async fn wait_reads_on(bed: &Bed, want: u32) {
    wait_reads_through(bed.opts(), want).await;
}

/// [`wait_reads_on`] through the proxy `opts` reach (another proxy process, say).
pub async fn wait_reads_through(opts: OptsBuilder, want: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut conn = connect(opts.clone()).await;
        if server_id(&mut conn).await == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "reads never reached server {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first column of the first row of `sql`, panicking on an error or no row.
pub async fn one<T: FromValue + Send + 'static>(conn: &mut Conn, sql: &str) -> T {
    match conn.query_first::<T, _>(sql).await {
        Ok(Some(v)) => v,
        Ok(None) => panic!("{sql}: no row"),
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// Runs `sql`, discarding any result, panicking on an error.
pub async fn run(conn: &mut Conn, sql: &str) {
    if let Err(e) = conn.query_drop(sql).await {
        panic!("{sql}: {e}");
    }
}

/// The MySQL error number of a server error (also what the proxy sends for a lost backend).
pub fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// A table name unique to this test process and call, so tests sharing a cluster never meet.
pub fn table(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "app.{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The value of column `name` in a row of (column name, value) pairs, such as
/// [`splitrail_testbed::Cluster::replication_status`] returns.
pub fn field<'a>(row: &'a [(String, String)], name: &str) -> Option<&'a str> {
    row.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}
