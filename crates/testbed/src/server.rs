//! One `mariadbd`: its options, its data directory, starting/stopping/killing it, and running SQL
//! on it through the `mariadb` command-line client as the `root` user (no password, loopback only).
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::binaries::Binaries;
use crate::error::{Error, Result};
use crate::process::Supervised;

/// How long a server may take to accept connections after being started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a graceful shutdown (SIGTERM) may take before it is an error.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);

/// What a server is in its cluster; decides `read_only` when it (re)starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts writes (`read_only=0`).
    Primary,
    /// Replicates from the primary with `read_only=1`.
    Replica,
}

/// Where a server lives and how it is reached: fixed for its whole life, restarts included.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// A short name for messages and directories: `primary`, `replica1`, ...
    pub name: String,
    /// The 127.0.0.1 port it listens on.
    pub port: u16,
    /// Its `server_id`, unique in the cluster (replication needs that).
    pub server_id: u32,
    /// Its directory: `data/` plus the error log and pid file.
    pub dir: PathBuf,
    /// Its unix socket; kept short because socket paths are limited to 107 bytes.
    pub socket: PathBuf,
    /// Whether it outlives the process that started it (the dev cluster) instead of being killed
    /// with its handle (tests).
    pub detached: bool,
    /// TLS files; `None`: the server offers no TLS.
    pub tls: Option<crate::cluster::ServerTls>,
    /// Binary log and GTIDs on (see [`crate::ClusterConfig::binlog`]).
    pub binlog: bool,
}

/// A handle to one `mariadbd`. All methods take `&self` so a cluster can be shared between tests.
#[derive(Debug)]
pub struct Server {
    spec: ServerSpec,
    bins: Arc<Binaries>,
    role: Mutex<Role>,
    /// The running process, if this handle started it.
    process: Mutex<Option<Supervised>>,
}

impl Server {
    pub(crate) fn new(spec: ServerSpec, bins: Arc<Binaries>, role: Role) -> Self {
        Server {
            spec,
            bins,
            role: Mutex::new(role),
            process: Mutex::new(None),
        }
    }

    /// The server's name (`primary`, `replica1`, ...).
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Its TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.spec.port
    }

    /// Its address, `127.0.0.1:port`.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.spec.port))
    }

    /// Its `server_id`.
    pub fn server_id(&self) -> u32 {
        self.spec.server_id
    }

    /// Its current role in the cluster.
    pub fn role(&self) -> Role {
        *lock(&self.role)
    }

    pub(crate) fn set_role(&self, role: Role) {
        *lock(&self.role) = role;
    }

    /// The data directory.
    pub fn datadir(&self) -> PathBuf {
        self.spec.dir.join("data")
    }

    /// A temporary directory of its own: servers bootstrapping side by side in a shared `/tmp`
    /// remove each other's temporary tables.
    pub fn tmpdir(&self) -> PathBuf {
        self.spec.dir.join("tmp")
    }

    /// The error log, where `mariadbd` explains why it did not start.
    pub fn error_log(&self) -> PathBuf {
        self.spec.dir.join("error.log")
    }

    /// The pid file `mariadbd` writes.
    pub fn pid_file(&self) -> PathBuf {
        self.spec.dir.join("mariadbd.pid")
    }

    /// Whether the data directory has been initialised already (a restarted dev cluster).
    pub fn is_initialised(&self) -> bool {
        self.datadir().join("mysql").is_dir()
    }

    /// Creates the data directory with `mariadb-install-db` (system tables, `root` without a
    /// password, no test database).
    pub fn initialise(&self) -> Result<()> {
        let datadir = self.datadir();
        for dir in [&datadir, &self.tmpdir()] {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        let mut cmd = Command::new(&self.bins.install_db);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--tmpdir={}", self.tmpdir().display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .arg("--innodb-log-file-size=16M");
        if is_root() {
            cmd.arg("--user=root");
        }
        let output = cmd
            .output()
            .map_err(|e| Error::io("running mariadb-install-db", e))?;
        if !output.status.success() {
            return Err(Error::InstallDb {
                datadir,
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            });
        }
        Ok(())
    }

    /// The `mariadbd` command line for the server's current role.
    pub fn args(&self) -> Vec<String> {
        let s = &self.spec;
        let mut args = vec![
            "--no-defaults".to_string(),
            format!("--datadir={}", self.datadir().display()),
            format!("--tmpdir={}", self.tmpdir().display()),
            format!("--port={}", s.port),
            "--bind-address=127.0.0.1".to_string(),
            format!("--socket={}", s.socket.display()),
            format!("--pid-file={}", self.pid_file().display()),
            format!("--log-error={}", self.error_log().display()),
            format!("--server-id={}", s.server_id),
            "--relay-log=relay-bin".to_string(),
            // So the primary can list its replicas (`SHOW SLAVE HOSTS`) for discovery.
            "--report-host=127.0.0.1".to_string(),
            format!("--report-port={}", s.port),
            // A replica notices a dead primary within seconds, not minutes.
            "--slave-net-timeout=10".to_string(),
            // Statements over 16 MiB must go through (the client side is set in `sql`).
            "--max-allowed-packet=1G".to_string(),
            "--max-connections=1000".to_string(),
            "--character-set-server=utf8mb4".to_string(),
            "--collation-server=utf8mb4_general_ci".to_string(),
            "--local-infile=1".to_string(),
            "--skip-name-resolve".to_string(),
            // Small and fast: these servers hold test data only.
            "--performance-schema=OFF".to_string(),
            "--innodb-buffer-pool-size=64M".to_string(),
            "--innodb-log-file-size=16M".to_string(),
            "--innodb-flush-log-at-trx-commit=2".to_string(),
            "--sync-binlog=0".to_string(),
        ];
        if s.binlog {
            // Replication: row-based binlog on every server (a replica may be promoted), GTIDs.
            args.extend(
                [
                    "--log-bin=mariadb-bin",
                    "--binlog-format=ROW",
                    "--log-slave-updates",
                ]
                .map(String::from),
            );
        }
        if let Some(tls) = &s.tls {
            args.push(format!("--ssl-cert={}", tls.cert.display()));
            args.push(format!("--ssl-key={}", tls.key.display()));
            args.push(format!("--ssl-ca={}", tls.ca.display()));
        }
        if self.role() == Role::Replica {
            args.push("--read-only=1".to_string());
        }
        if is_root() {
            args.push("--user=root".to_string());
        }
        args
    }

    /// Starts the server and waits until it answers SQL. A no-op when this handle's server runs.
    pub fn start(&self) -> Result<()> {
        let mut process = lock(&self.process);
        if let Some(p) = process.as_mut()
            && p.is_running()
        {
            return Ok(());
        }
        // A stale socket from a killed run makes mariadbd refuse to start.
        let _ = std::fs::remove_file(&self.spec.socket);
        std::fs::create_dir_all(self.tmpdir())
            .map_err(|e| Error::io(format!("creating {}", self.tmpdir().display()), e))?;
        let args = self.args();
        let spawned = if self.spec.detached {
            Supervised::spawn_detached(&self.bins.mariadbd, &args)?
        } else {
            Supervised::spawn_owned(&self.bins.mariadbd, &args)?
        };
        *process = Some(spawned);
        let Some(spawned) = process.as_mut() else {
            return Err(Error::Invalid("process slot empty after spawn".into()));
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if !spawned.is_running() {
                return Err(self.startup_error("mariadbd exited"));
            }
            // The port may answer for another process's server that won the race for it (ours
            // then fails to bind and exits): only our own pid file proves it is us.
            if TcpStream::connect_timeout(&self.address(), Duration::from_millis(200)).is_ok()
                && self
                    .query_one("SELECT @@GLOBAL.pid_file")
                    .is_ok_and(|f| Path::new(&f) == self.pid_file())
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.startup_error("no answer within the startup timeout"));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn startup_error(&self, reason: &str) -> Error {
        Error::Startup {
            server: self.spec.name.clone(),
            reason: reason.to_string(),
            log_tail: tail(&self.error_log(), 15),
        }
    }

    /// Whether the error log says the port was taken (another process won the race for it).
    pub(crate) fn port_was_taken(&self) -> bool {
        let log = tail(&self.error_log(), 30);
        log.contains("Address already in use") || log.contains("Bind on TCP/IP port")
    }

    /// Whether the server this handle started is running.
    pub fn is_running(&self) -> bool {
        lock(&self.process).as_mut().is_some_and(|p| p.is_running())
    }

    /// The server's pid, if this handle started it.
    pub fn pid(&self) -> Option<u32> {
        lock(&self.process).as_ref().map(Supervised::pid)
    }

    /// Shuts the server down cleanly (SIGTERM) and waits for it to exit.
    pub fn stop(&self) -> Result<()> {
        self.signal(Signal::SIGTERM)
    }

    /// Kills the server abruptly (SIGKILL), as a crash would, and waits for it to be gone.
    pub fn kill(&self) -> Result<()> {
        self.signal(Signal::SIGKILL)
    }

    fn signal(&self, signal: Signal) -> Result<()> {
        let mut process = lock(&self.process);
        match process.as_mut() {
            Some(p) => p.signal_and_wait(signal, SHUTDOWN_TIMEOUT),
            None => Err(Error::Invalid(format!(
                "server `{}` was not started by this handle",
                self.spec.name
            ))),
        }
    }

    /// Runs SQL (one or more `;`-separated statements) as `root`; returns what the client printed
    /// in batch mode: rows as tab-separated lines, no column names.
    pub fn sql(&self, sql: &str) -> Result<String> {
        self.sql_as("root", "", sql)
    }

    /// Runs SQL as `user` with `password`, over TCP like an application would.
    pub fn sql_as(&self, user: &str, password: &str, sql: &str) -> Result<String> {
        self.run_client(user, password, sql, false)
    }

    /// Runs the client; `column_names` keeps the header line batch mode prints first.
    fn run_client(
        &self,
        user: &str,
        password: &str,
        sql: &str,
        column_names: bool,
    ) -> Result<String> {
        let mut cmd = Command::new(&self.bins.client);
        cmd.arg("--no-defaults")
            .arg("--protocol=tcp")
            .arg("-h127.0.0.1")
            .arg(format!("-P{}", self.spec.port))
            .arg(format!("-u{user}"))
            .arg("--batch")
            .arg("--connect-timeout=10")
            .arg("--max-allowed-packet=1G")
            .arg("--local-infile=1")
            .arg(if column_names {
                "--column-names"
            } else {
                "--skip-column-names"
            })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !password.is_empty() {
            // Through the environment rather than argv, where `ps` would show it.
            cmd.env("MYSQL_PWD", password);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::io("running the mariadb client", e))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(sql.as_bytes())
                .map_err(|e| Error::io("sending SQL to the mariadb client", e))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| Error::io("waiting for the mariadb client", e))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(Error::Sql {
                server: self.spec.name.clone(),
                sql: sql.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            })
        }
    }

    /// Runs a query and splits its output into rows of columns. `NULL` comes back as the text
    /// `NULL`; tabs, newlines and backslashes inside values are unescaped.
    pub fn query(&self, sql: &str) -> Result<Vec<Vec<String>>> {
        Ok(self
            .sql(sql)?
            .lines()
            .map(|line| line.split('\t').map(unescape).collect())
            .collect())
    }

    /// Runs a query and returns its rows as (column name, value) pairs, e.g. for
    /// `SHOW SLAVE STATUS`.
    pub fn query_named(&self, sql: &str) -> Result<Vec<Vec<(String, String)>>> {
        let text = self.run_client("root", "", sql, true)?;
        let mut lines = text.lines();
        let names: Vec<String> = lines
            .next()
            .map(|header| header.split('\t').map(unescape).collect())
            .unwrap_or_default();
        Ok(lines
            .map(|line| {
                names
                    .iter()
                    .cloned()
                    .zip(line.split('\t').map(unescape))
                    .collect()
            })
            .collect())
    }

    /// Runs a query that returns one value (first column of the first row; empty if no row).
    pub fn query_one(&self, sql: &str) -> Result<String> {
        Ok(self
            .query(sql)?
            .into_iter()
            .next()
            .and_then(|row| row.into_iter().next())
            .unwrap_or_default())
    }

    /// The GTIDs in this server's binary log (`@@gtid_binlog_pos`): moves when a write reaches it.
    pub fn gtid_binlog_pos(&self) -> Result<String> {
        self.query_one("SELECT @@GLOBAL.gtid_binlog_pos")
    }

    /// The GTIDs this server has applied as a replica (`@@gtid_slave_pos`).
    pub fn gtid_slave_pos(&self) -> Result<String> {
        self.query_one("SELECT @@GLOBAL.gtid_slave_pos")
    }

    /// `@@read_only` as a bool.
    pub fn is_read_only(&self) -> Result<bool> {
        Ok(self.query_one("SELECT @@GLOBAL.read_only")? == "1")
    }
}

fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_string();
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The last `lines` lines of a text file, or a note that it could not be read.
fn tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    match std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text)) {
        Ok(_) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Locks a mutex, recovering the data if a panicking test poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn unescapes_batch_output() {
        assert_eq!(unescape(r"a\tb\nc\\d"), "a\tb\nc\\d");
        assert_eq!(unescape("plain"), "plain");
        assert_eq!(unescape(r"trailing\"), "trailing\\");
    }
}
