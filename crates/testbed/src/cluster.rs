//! A primary and its replicas with GTID replication: starting them, the users the proxy logs in
//! as, lag control (pausing the SQL thread, `MASTER_DELAY`), promotion for failover tests, and
//! waiting until a replica has applied the primary's GTID position.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::binaries::Binaries;
use crate::error::{Error, Result};
use crate::server::{Role, Server, ServerSpec};

/// How long a replica may take to catch up before a wait is an error.
const CATCH_UP_TIMEOUT_SECS: u64 = 60;

/// What cluster to start. [`ClusterConfig::with_replicas`] gives a throw-away test cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// How many replicas besides the primary.
    pub replicas: usize,
    /// The user the proxy (and tests) log in as; no SUPER, no READ_ONLY ADMIN.
    pub user: String,
    /// That user's password.
    pub password: String,
    /// A database created on the primary at start (and so replicated) for tests to use.
    pub database: String,
    /// A persistent base directory (the dev cluster); `None` = a temporary one, removed on drop.
    pub dir: Option<PathBuf>,
    /// Fixed ports, primary first; `None` = free ports chosen at start.
    pub ports: Option<Vec<u16>>,
    /// Servers outlive the process that started them (the dev cluster).
    pub detached: bool,
    /// Serve TLS with these files (every server the same certificate); `None`: no TLS.
    pub tls: Option<ServerTls>,
    /// Binary log, GTIDs and replication (the default). Without: standalone servers that share
    /// nothing — a primary whose writes carry no GTID, and "replicas" that never get them.
    pub binlog: bool,
    /// Semi-synchronous replication: the primary answers a commit only once a replica has the
    /// transaction in its relay log (wait point `AFTER_SYNC`), so a primary that crashes loses
    /// no write it acknowledged. Off by default, as in most deployments: with asynchronous
    /// replication a crash may lose the last acknowledged writes the primary had not sent yet.
    pub semi_sync: bool,
}

/// The files a server needs for TLS, passed as `--ssl-cert`, `--ssl-key` and `--ssl-ca`.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The server's certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA that signed client certificates (PEM).
    pub ca: PathBuf,
}

impl ClusterConfig {
    /// A test cluster: a primary plus `replicas` replicas on free ports in a temporary directory,
    /// user `app` / `app`, database `app`, all killed when the [`Cluster`] drops.
    pub fn with_replicas(replicas: usize) -> Self {
        ClusterConfig {
            replicas,
            user: "app".into(),
            password: "app".into(),
            database: "app".into(),
            dir: None,
            ports: None,
            detached: false,
            tls: None,
            binlog: true,
            semi_sync: false,
        }
    }

    /// The people-facing dev cluster: primary 127.0.0.1:13306, replica 127.0.0.1:13307, data in
    /// `dir`, processes left running.
    pub fn dev(dir: PathBuf) -> Self {
        ClusterConfig {
            dir: Some(dir),
            ports: Some(vec![13306, 13307]),
            detached: true,
            ..ClusterConfig::with_replicas(1)
        }
    }
}

/// A running cluster. Servers keep their index for life; which one is the primary can change
/// through [`Cluster::promote`].
#[derive(Debug)]
pub struct Cluster {
    config: ClusterConfig,
    servers: Vec<Server>,
    /// For servers added later ([`Cluster::add_replica`]).
    bins: Arc<Binaries>,
    /// The base directory the servers' directories are in.
    base: PathBuf,
    primary: Mutex<usize>,
    /// Keeps a temporary base directory alive; declared last so servers are killed before it goes.
    _tempdir: Option<tempfile::TempDir>,
}

impl Cluster {
    /// Starts (or, for a persistent directory that already holds data, restarts) the cluster and
    /// waits until every replica has applied the primary's position.
    pub fn start(config: ClusterConfig) -> Result<Self> {
        let bins = Arc::new(Binaries::locate()?);
        let (base, tempdir) = match &config.dir {
            // mariadbd resolves relative paths against its base directory, not ours.
            Some(dir) => (
                std::path::absolute(dir)
                    .map_err(|e| Error::io(format!("resolving {}", dir.display()), e))?,
                None,
            ),
            None => {
                sweep_abandoned_tempdirs();
                let tmp = tempfile::Builder::new()
                    .prefix("splitrail-testbed-")
                    .tempdir()
                    .map_err(|e| Error::io("creating a temporary directory", e))?;
                std::fs::write(tmp.path().join(OWNER_FILE), std::process::id().to_string())
                    .map_err(|e| Error::io("writing the owner file", e))?;
                (tmp.path().to_path_buf(), Some(tmp))
            }
        };
        if let Some(ports) = &config.ports
            && ports.len() != config.replicas + 1
        {
            return Err(Error::Invalid(format!(
                "{} fixed ports given for {} servers",
                ports.len(),
                config.replicas + 1
            )));
        }
        let fresh = !base.join("primary").join("data").join("mysql").is_dir();

        // Initialise and start every server at once: each spends most of its start-up waiting.
        let results: Vec<Result<Server>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..=config.replicas)
                .map(|index| {
                    let (bins, base, config) = (bins.clone(), &base, &config);
                    scope.spawn(move || start_server(index, bins, base, config))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::Invalid("start-up thread panicked".into())))
                })
                .collect()
        });
        let servers = results.into_iter().collect::<Result<Vec<_>>>()?;
        let cluster = Cluster {
            config,
            servers,
            bins,
            base,
            primary: Mutex::new(0),
            _tempdir: tempdir,
        };
        if fresh {
            cluster.set_up_users_and_replication()?;
        }
        cluster.wait_replicas_caught_up()?;
        Ok(cluster)
    }

    fn set_up_users_and_replication(&self) -> Result<()> {
        let users = self.users_sql();
        for server in &self.servers {
            server.sql(&users)?;
        }
        let primary = self.primary();
        let database = format!("CREATE DATABASE IF NOT EXISTS `{}`", self.config.database);
        if !self.config.binlog {
            for server in &self.servers {
                server.sql(&database)?;
            }
            return Ok(());
        }
        // Semi-sync is agreed when a replica's I/O thread connects: both sides must have it on
        // by then, or that connection stays asynchronous.
        if self.config.semi_sync {
            // Only the first primary waits: a promoted one, with no replica left to answer,
            // would hold every commit for the whole timeout.
            primary.sql(
                "SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC; \
                 SET GLOBAL rpl_semi_sync_master_timeout = 30000; \
                 SET GLOBAL rpl_semi_sync_master_enabled = ON;",
            )?;
        }
        let acknowledges = if self.config.semi_sync {
            "SET GLOBAL rpl_semi_sync_slave_enabled = ON; "
        } else {
            ""
        };
        for replica in self.replicas() {
            replica.sql(&format!(
                "{acknowledges}{}; START SLAVE;",
                change_master_to(primary.port())
            ))?;
        }
        if self.config.semi_sync {
            self.wait_semi_sync_on()?;
        }
        primary.sql(&database)?;
        Ok(())
    }

    /// Waits until the primary waits for a semi-sync replica on commit.
    fn wait_semi_sync_on(&self) -> Result<()> {
        crate::process::wait_for(
            "semi-sync replication to come on",
            std::time::Duration::from_secs(CATCH_UP_TIMEOUT_SECS),
            std::time::Duration::from_millis(20),
            || self.semi_sync_on(),
        )
    }

    /// Whether the primary now answers commits only once a replica has them
    /// (`Rpl_semi_sync_master_status` ON with a semi-sync replica connected): after a timeout
    /// without an answer it falls back to asynchronous until a replica catches up.
    pub fn semi_sync_on(&self) -> Result<bool> {
        let status = |name: &str| {
            self.primary().query_one(&format!(
                "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
                 WHERE VARIABLE_NAME = '{name}'"
            ))
        };
        Ok(status("RPL_SEMI_SYNC_MASTER_STATUS")? == "ON"
            && status("RPL_SEMI_SYNC_MASTER_CLIENTS")? != "0")
    }

    /// Starts one more replica of the current primary (a fresh server on a free port, with the
    /// cluster's users, replicating from the start of the primary's binlog) and waits until it
    /// has caught up. It is the last of [`Cluster::servers`] and of [`Cluster::replicas`].
    pub fn add_replica(&mut self) -> Result<&Server> {
        if self.config.ports.is_some() || self.config.detached {
            return Err(Error::Invalid(
                "replicas can be added to temporary test clusters only".into(),
            ));
        }
        let index = self.servers.len();
        let server = start_server(index, self.bins.clone(), &self.base, &self.config)?;
        server.sql(&self.users_sql())?;
        server.sql(&format!(
            "{}; START SLAVE;",
            change_master_to(self.primary().port())
        ))?;
        self.servers.push(server);
        let added = &self.servers[index];
        self.wait_caught_up(added)?;
        Ok(added)
    }

    /// Creates the cluster's users on a server, outside the binlog, so a promoted replica has
    /// them too and no replica starts with GTIDs of its own.
    fn users_sql(&self) -> String {
        let c = &self.config;
        format!(
            "SET SESSION sql_log_bin = 0;
             CREATE USER '{user}'@'%' IDENTIFIED BY '{password}';
             GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, REFERENCES,
                   CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW,
                   CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER, PROCESS,
                   SLAVE MONITOR, BINLOG MONITOR, REPLICATION SLAVE
                 ON *.* TO '{user}'@'%';
             CREATE USER 'repl'@'%' IDENTIFIED BY 'repl';
             GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';",
            user = c.user,
            password = c.password,
        )
    }

    /// The configuration the cluster was started with.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The user the proxy logs in as.
    pub fn user(&self) -> &str {
        &self.config.user
    }

    /// That user's password.
    pub fn password(&self) -> &str {
        &self.config.password
    }

    /// The database created at start.
    pub fn database(&self) -> &str {
        &self.config.database
    }

    /// Every server, primary first as started (promotion does not reorder them).
    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// The current primary.
    pub fn primary(&self) -> &Server {
        let index = *self.primary.lock().unwrap_or_else(|p| p.into_inner());
        &self.servers[index]
    }

    /// The current replicas, in start order.
    pub fn replicas(&self) -> Vec<&Server> {
        let primary = self.primary().port();
        self.servers
            .iter()
            .filter(|s| s.port() != primary)
            .collect()
    }

    /// The `index`-th current replica. Panics when there is no such replica (a test bug).
    pub fn replica(&self, index: usize) -> &Server {
        self.replicas()
            .get(index)
            .copied()
            .unwrap_or_else(|| panic!("the cluster has no replica #{index}"))
    }

    /// Waits until `replica` has applied everything in the primary's binlog.
    pub fn wait_caught_up(&self, replica: &Server) -> Result<()> {
        let target = self.primary().gtid_binlog_pos()?;
        if target.is_empty() {
            return Ok(());
        }
        let answer = replica.query_one(&format!(
            "SELECT MASTER_GTID_WAIT('{target}', {CATCH_UP_TIMEOUT_SECS})"
        ))?;
        if answer == "0" {
            return Ok(());
        }
        // Why not, so that a failure says whether replication broke or was only slow.
        let wanted = [
            "Slave_IO_Running",
            "Slave_SQL_Running",
            "Last_IO_Error",
            "Last_SQL_Error",
            "Gtid_IO_Pos",
            "Slave_SQL_Running_State",
        ];
        let status = match self.replication_status(replica) {
            Ok(rows) => rows
                .into_iter()
                .filter(|(name, _)| wanted.contains(&name.as_str()))
                .map(|(name, value)| format!("{name}: {value}"))
                .collect::<Vec<_>>()
                .join("; "),
            Err(e) => format!("replication status unknown: {e}"),
        };
        let applied = replica.gtid_slave_pos().unwrap_or_default();
        Err(Error::Timeout {
            what: format!(
                "{} to apply GTID position {target} (applied {applied}; {status})",
                replica.name()
            ),
            seconds: CATCH_UP_TIMEOUT_SECS,
        })
    }

    /// Waits until every running replica has caught up with the primary.
    pub fn wait_replicas_caught_up(&self) -> Result<()> {
        for replica in self.replicas() {
            if replica.is_running() || self.config.detached {
                self.wait_caught_up(replica)?;
            }
        }
        Ok(())
    }

    /// Stops applying replicated events on `replica` (`STOP SLAVE SQL_THREAD`): it keeps
    /// receiving them, so it lags until [`Cluster::resume_replication`].
    pub fn pause_replication(&self, replica: &Server) -> Result<()> {
        replica.sql("STOP SLAVE SQL_THREAD").map(drop)
    }

    /// Starts applying replicated events again.
    pub fn resume_replication(&self, replica: &Server) -> Result<()> {
        replica.sql("START SLAVE SQL_THREAD").map(drop)
    }

    /// Makes `replica` apply each event `seconds` after it was written on the primary
    /// (`MASTER_DELAY`); 0 removes the delay.
    pub fn set_replication_delay(&self, replica: &Server, seconds: u32) -> Result<()> {
        replica
            .sql(&format!(
                "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = {seconds}; START SLAVE;"
            ))
            .map(drop)
    }

    /// `SHOW SLAVE STATUS` of `replica` as (column name, value) pairs.
    pub fn replication_status(&self, replica: &Server) -> Result<Vec<(String, String)>> {
        Ok(replica
            .query_named("SHOW SLAVE STATUS")?
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    /// Makes `new_primary` the primary, as a failover would: it stops replicating and becomes
    /// writable; every other running server (the old primary too, if it still runs) becomes a
    /// read-only replica of it.
    pub fn promote(&self, new_primary: &Server) -> Result<()> {
        let index = self
            .servers
            .iter()
            .position(|s| s.port() == new_primary.port())
            .ok_or_else(|| {
                Error::Invalid(format!("{} is not in this cluster", new_primary.name()))
            })?;
        let old = self.primary();
        if old.port() == new_primary.port() {
            return Ok(());
        }
        new_primary.sql("STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0;")?;
        new_primary.set_role(Role::Primary);
        for server in &self.servers {
            if server.port() == new_primary.port() || !server.is_running() {
                if server.port() != new_primary.port() {
                    server.set_role(Role::Replica);
                }
                continue;
            }
            let was_primary = server.port() == old.port();
            let mut sql = String::from("SET GLOBAL read_only = 1; STOP SLAVE; ");
            if was_primary {
                // Its own writes are in its binlog, not in its slave position: start from there.
                sql.push_str("SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_binlog_pos; ");
            }
            sql.push_str(&change_master_to(new_primary.port()));
            sql.push_str("; START SLAVE;");
            server.sql(&sql)?;
            server.set_role(Role::Replica);
        }
        *self.primary.lock().unwrap_or_else(|p| p.into_inner()) = index;
        Ok(())
    }
}

/// Names the process that owns a temporary cluster directory.
const OWNER_FILE: &str = "owner.pid";

/// Removes temporary cluster directories whose owning process is gone: a shared cluster lives in
/// a `static` that is never dropped, and a killed test process cleans up nothing.
fn sweep_abandoned_tempdirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("splitrail-testbed-"));
        let Ok(owner) = std::fs::read_to_string(path.join(OWNER_FILE)) else {
            continue;
        };
        let Ok(pid) = owner.trim().parse::<i32>() else {
            continue;
        };
        if is_ours && !crate::process::pid_alive(nix::unistd::Pid::from_raw(pid)) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// The `CHANGE MASTER TO` that points a replica at the primary on `port` by GTID.
fn change_master_to(port: u16) -> String {
    format!(
        "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {port}, MASTER_USER = 'repl', \
         MASTER_PASSWORD = 'repl', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1"
    )
}

/// Creates (if needed) and starts server `index` (0 = primary), retrying on a fresh port when a
/// port chosen by us was taken by someone else in the meantime.
fn start_server(
    index: usize,
    bins: Arc<Binaries>,
    base: &std::path::Path,
    config: &ClusterConfig,
) -> Result<Server> {
    let (name, role) = if index == 0 {
        ("primary".to_string(), Role::Primary)
    } else {
        (format!("replica{index}"), Role::Replica)
    };
    let dir = base.join(&name);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let port = match &config.ports {
            Some(ports) => ports[index],
            None => crate::free_port().map_err(|e| Error::io("finding a free port", e))?,
        };
        // Temporary clusters keep the socket in their own short-named directory; persistent ones
        // may live under a long path, so theirs goes to the temp dir, named by port.
        let socket = if config.dir.is_some() {
            std::env::temp_dir().join(format!("splitrail-dev-{port}.sock"))
        } else {
            base.join(format!("{index}.sock"))
        };
        let spec = ServerSpec {
            name: name.clone(),
            port,
            server_id: u32::try_from(index + 1).unwrap_or(u32::MAX),
            dir: dir.clone(),
            socket,
            detached: config.detached,
            tls: config.tls.clone(),
            binlog: config.binlog,
        };
        let server = Server::new(spec, bins.clone(), role);
        if !server.is_initialised() {
            server.initialise()?;
        }
        match server.start() {
            Ok(()) => return Ok(server),
            Err(err) if config.ports.is_none() && attempts < 4 && server.port_was_taken() => {
                drop(err);
                let _ = std::fs::remove_file(server.error_log());
            }
            Err(err) => return Err(err),
        }
    }
}
