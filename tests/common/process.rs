//! Processes: the `splitrail` binary started as a child process ([`ProxyProcess`]: its CPU time
//! read from `/proc`, signals sent with `kill`), and the `mariadb` command-line client run
//! against a proxy.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mysql_async::OptsBuilder;

use super::Bed;
use super::config::ProxyYaml;
use super::wait::wait_until;

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
    /// `extra_yaml`, and waits until it accepts clients.
    pub fn start(bed: &Bed, extra_yaml: &str) -> ProxyProcess {
        let free = || splitrail_testbed::free_port().expect("a free port");
        let (port, admin_port) = (free(), free());
        let yaml = ProxyYaml::new(bed.cluster())
            .extra(extra_yaml)
            .text()
            .replace(
                "listen: 127.0.0.1:0\n",
                &format!("listen: 127.0.0.1:{port}\n"),
            )
            .replace(
                "admin: { listen: 127.0.0.1:0 }",
                &format!("admin: {{ listen: 127.0.0.1:{admin_port} }}"),
            );
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("proxy.yaml");
        std::fs::write(&file, yaml).expect("writing proxy.yaml");
        let child = Command::new(env!("CARGO_BIN_EXE_splitrail"))
            .arg("--config")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting splitrail");
        let proxy = ProxyProcess {
            child,
            dir,
            port,
            admin: SocketAddr::from(([127, 0, 0, 1], admin_port)),
        };
        wait_until(
            "the proxy process accepts clients",
            Duration::from_secs(30),
            || TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        proxy
    }

    /// Its `proxy.yaml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("proxy.yaml")
    }

    /// Options for a client of this proxy as `app`.
    pub fn opts(&self) -> OptsBuilder {
        OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some("app"))
            .pass(Some("app"))
            .db_name(Some("app"))
            .prefer_socket(false)
    }

    /// The CPU time (user and system) the process has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("reading the proxy's /proc stat");
        // After the command name in parentheses: state, ppid, … utime (14th), stime (15th).
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<u64> = after_name
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|f| f.parse().expect("a tick count"))
            .collect();
        // Linux reports these in USER_HZ, 100 per second on every architecture it exports.
        Duration::from_millis(fields.iter().sum::<u64>() * 10)
    }

    /// Sends it a signal (`kill -<signal>`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{signal} failed");
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        self.signal("TERM");
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
