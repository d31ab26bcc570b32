//! `splitrail-devcluster up|down|status [--dir DIR] [--port P]`: the dev cluster for people — a
//! MariaDB primary on 127.0.0.1:13306 (or P) and a replica on 127.0.0.1:13307 (P + 1) with GTID
//! replication, user `app` / `app`, database `app`, data under `.dev/cluster` (git-ignored). `up` leaves the servers
//! running in the background; `down` stops them; the data stays for the next `up`.
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use splitrail_testbed::{Cluster, ClusterConfig, Error};

const USAGE: &str = "usage: splitrail-devcluster up|down|status [--dir DIR] [--port P]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = PathBuf::from(".dev/cluster");
    let mut port: u16 = 13306;
    let mut command = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--dir" => match iter.next() {
                Some(d) => dir = PathBuf::from(d),
                None => return usage(),
            },
            "--port" => match iter.next().and_then(|p| p.parse().ok()) {
                Some(p) if p < u16::MAX => port = p,
                _ => return usage(),
            },
            "up" | "down" | "status" if command.is_none() => command = Some(arg.clone()),
            _ => return usage(),
        }
    }
    let result = match command.as_deref() {
        Some("up") => up(&dir, port),
        Some("down") => down(&dir),
        Some("status") => status(&dir, port),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("splitrail-devcluster: {err}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn up(dir: &Path, port: u16) -> Result<(), Error> {
    if running_pids(dir).len() == 2 {
        println!("dev cluster already running");
        return status(dir, port);
    }
    // A half-running cluster (one server crashed) is restarted whole.
    down(dir)?;
    let config = ClusterConfig {
        ports: Some(vec![port, port + 1]),
        ..ClusterConfig::dev(dir.to_path_buf())
    };
    let cluster = Cluster::start(config)?;
    println!(
        "dev cluster up: primary 127.0.0.1:{} and replica 127.0.0.1:{} (user {} / {}, database {}); \
         data in {}",
        cluster.primary().port(),
        cluster.replica(0).port(),
        cluster.user(),
        cluster.password(),
        cluster.database(),
        dir.display()
    );
    Ok(())
}

fn down(dir: &Path) -> Result<(), Error> {
    for (name, pid) in running_pids(dir) {
        splitrail_testbed::process::stop_pid(
            pid,
            nix::sys::signal::Signal::SIGTERM,
            Duration::from_secs(60),
        )?;
        println!("stopped {name} (pid {pid})");
    }
    Ok(())
}

fn status(dir: &Path, port: u16) -> Result<(), Error> {
    let running = running_pids(dir);
    for (name, port) in [("primary", port), ("replica1", port + 1)] {
        match running.iter().find(|(n, _)| n == name) {
            Some((_, pid)) => println!("{name}: running, pid {pid}, 127.0.0.1:{port}"),
            None => println!("{name}: stopped"),
        }
    }
    Ok(())
}

/// The dev servers whose pid file names a live process.
fn running_pids(dir: &Path) -> Vec<(String, u32)> {
    ["primary", "replica1"]
        .into_iter()
        .filter_map(|name| {
            let text = std::fs::read_to_string(dir.join(name).join("mariadbd.pid")).ok()?;
            let pid: i32 = text.trim().parse().ok()?;
            splitrail_testbed::process::pid_alive(nix::unistd::Pid::from_raw(pid))
                .then(|| (name.to_string(), pid.unsigned_abs()))
        })
        .collect()
}
