//! Processes: the `splitrail` binary started as a child process ([`ProxyProcess`]: its CPU time
//! read from `/proc`, signals sent with `kill`), and the `mariadb` command-line client run
//! against a proxy.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ChildStderr, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mysql_async::OptsBuilder;

use super::Bed;
use super::config::ProxyYaml;

impl Bed {
    /// Runs the `mariadb` client against the proxy as `app` with `args` (e.g.
    /// `["-e", "select 1"]`), feeding `stdin` to it.
    pub fn mariadb_cli(&self, args: &[&str], stdin: &str) -> Output {
        mariadb_cli(self.port(), args, stdin)
    }

    /// Runs the `mariadb` client as [`Bed::mariadb_cli`] does and returns what it printed,
    /// panicking with its error output when it fails.
    pub fn mariadb_ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.mariadb_cli(args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "mariadb {args:?} failed: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the `mariadb` client, expecting it to fail; returns its error output.
    pub fn mariadb_err(&self, args: &[&str], stdin: &str) -> String {
        let out = self.mariadb_cli(args, stdin);
        assert!(!out.status.success(), "mariadb {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

/// Runs the `mariadb` client against a proxy on `port` as `app`.
pub fn mariadb_cli(port: u16, args: &[&str], stdin: &str) -> Output {
    let client = splitrail_testbed::binaries::Binaries::locate()
        .unwrap_or_else(|e| panic!("no mariadb client: {e}"))
        .client;
    let mut child = Command::new(client)
        .arg("--no-defaults")
        .arg("--protocol=tcp")
        .arg("-h127.0.0.1")
        .arg(format!("-P{port}"))
        .arg("-uapp")
        .arg("--connect-timeout=10")
        .arg("--batch")
        .arg("--skip-column-names")
        .args(args)
        .env("MYSQL_PWD", "app")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run the mariadb client: {e}"));
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.as_bytes())
            .unwrap_or_else(|e| panic!("writing to the mariadb client: {e}"));
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for the mariadb client: {e}"))
}

/// The `splitrail` binary running as a process of its own in front of a bed's cluster, from a
/// `proxy.yaml` in a temporary directory; stopped with SIGTERM when dropped.
pub struct ProxyProcess {
    child: std::process::Child,
    dir: tempfile::TempDir,
    /// Where MySQL clients connect.
    pub port: u16,
    /// The admin API.
    pub admin: SocketAddr,
}

impl ProxyProcess {
    /// Starts the binary with the harness's configuration for `bed`'s servers plus
    /// `extra_yaml`, and waits until it has started. It listens on ports the kernel picks,
    /// read back from its log: no port is chosen here for another process to take first.
    pub fn start(bed: &Bed, extra_yaml: &str) -> ProxyProcess {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
        let file = ProxyYaml::new(bed.cluster())
            .extra(extra_yaml)
            .write_to(dir.path());
        let mut child = Command::new(env!("CARGO_BIN_EXE_splitrail"))
            .arg("--config")
            .arg(&file)
            // The line with the addresses is logged at info, whatever the tests' RUST_LOG.
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting splitrail: {e}"));
        let started = match child.stderr.take() {
            Some(log) => started(log),
            None => Err("its log is not piped".to_string()),
        };
        match started {
            Ok(Started { listen, admin }) => ProxyProcess {
                child,
                dir,
                port: listen.port(),
                admin,
            },
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the proxy process did not start: {why}");
            }
        }
    }

    /// Its `proxy.yaml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("proxy.yaml")
    }

    /// Options for a client of this proxy as `app`.
    pub fn opts(&self) -> OptsBuilder {
        super::sql::opts_on(self.port)
    }

    /// The CPU time (user and system) the process has used so far.
    pub fn cpu_time(&self) -> Duration {
        let path = format!("/proc/{}/stat", self.child.id());
        let stat = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        let ticks = cpu_ticks(&stat).unwrap_or_else(|| panic!("no CPU times in {path}: {stat}"));
        // Linux reports these in USER_HZ, 100 per second on every architecture it exports.
        Duration::from_millis(ticks * 10)
    }

    /// Sends it a signal (`kill -<signal>`).
    pub fn signal(&self, signal: &str) {
        assert!(self.send(signal), "kill -{signal} failed");
    }

    /// Whether the process still runs (`Some(status)`: it exited so).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for the process to exit; its exit status, `None` if it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends it a signal; whether `kill` succeeded.
    fn send(&self, signal: &str) -> bool {
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .is_ok_and(|status| status.success())
    }
}

/// User plus system CPU time, in ticks, from the text of `/proc/<pid>/stat`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    // After the command name in parentheses: state, ppid, … utime (14th), stime (15th).
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(11);
    let mut next = || fields.next()?.parse::<u64>().ok();
    Some(next()? + next()?)
}

impl Drop for ProxyProcess {
    /// SIGTERM, then SIGKILL after 10 s. No panic when it is gone already: a drop may run
    /// while a test unwinds.
    fn drop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let _ = self.send("TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long the proxy process may take to say it has started.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a started proxy process listens, as its log says.
struct Started {
    /// For MySQL clients.
    listen: SocketAddr,
    /// The admin API.
    admin: SocketAddr,
}

/// Reads the proxy's log `log` (on a thread of its own, which reads it to the end so that the
/// process never blocks on a full pipe) until the line saying it has started, and returns
/// the addresses in it; or, when the log ends first or the line is late, why not.
fn started(log: ChildStderr) -> Result<Started, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("splitrail-log".to_string())
        .spawn(move || read_log(log, &tx))
        .map_err(|e| format!("cannot read its log: {e}"))?;
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(result) => result,
        Err(_) => Err(format!("no start in its log within {START_TIMEOUT:?}")),
    }
}

/// Sends `found` the addresses of the line saying the proxy has started, or the whole log
/// when it ends first; then reads on, discarding, to the end of the log.
fn read_log(log: ChildStderr, found: &mpsc::Sender<Result<Started, String>>) {
    let mut log = BufReader::new(log);
    let mut seen = String::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match log.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => {
                let _ = found.send(Err(format!("its log ended:\n{seen}")));
                return;
            }
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        if let Some(started) = started_line(&text) {
            let _ = found.send(Ok(started));
            break;
        }
        seen.push_str(&text);
    }
    let _ = std::io::copy(&mut log, &mut std::io::sink());
}

/// The addresses in the binary's start line (src/main.rs), e.g. `… INFO splitrail: splitrail
/// 0.1.0 started listen=127.0.0.1:40001 admin=127.0.0.1:40002 servers=…`; `None` for
/// another line.
fn started_line(line: &str) -> Option<Started> {
    let message = concat!("splitrail ", env!("CARGO_PKG_VERSION"), " started ");
    let (_, fields) = line.split_once(message)?;
    let field = |key: &str| {
        fields
            .split_whitespace()
            .find_map(|f| f.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
    };
    Some(Started {
        listen: field("listen")?,
        admin: field("admin")?,
    })
}
