//! Spawning a server so that it cannot outlive the test that started it, and signalling it.
//!
//! A test-owned server runs under a small `sh` wrapper that puts it in a process group of its own
//! and keeps a watchdog in that group: the watchdog reads the wrapper's stdin, a pipe whose
//! writing end only the test process holds. When the handle drops — or the test process dies in
//! any way, even by SIGKILL, so the kernel closes the pipe — the watchdog kills the whole group.
//! This is what lets tests share one cluster from a `static` (whose destructor never runs) and
//! still leave no `mariadbd` behind.
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// The wrapper script: start the program, print its pid, arm the watchdog, wait for the program.
///
/// Background jobs of a non-interactive shell read /dev/null unless redirected explicitly, hence
/// the copy of stdin on fd 3 for the watchdog.
const WRAPPER: &str = r#"exec 3<&0
"$@" </dev/null >/dev/null 2>&1 &
child=$!
echo "$child"
{ cat >/dev/null; kill -KILL 0; } <&3 >/dev/null 2>&1 &
exec 3<&-
wait "$child"
"#;

/// A running program and, for test-owned ones, the wrapper that ties it to the test's life.
#[derive(Debug)]
pub struct Supervised {
    /// The program's own pid (what signals go to).
    pid: Pid,
    /// The wrapper `sh`, leader of the process group; `None` for a detached program.
    wrapper: Option<Child>,
    /// The watchdog's pipe: dropping it kills the group.
    watchdog: Option<ChildStdin>,
}

impl Supervised {
    /// Starts `program args…` in a new process group, killed when this value drops or when this
    /// process exits.
    pub fn spawn_owned(program: &Path, args: &[String]) -> Result<Self> {
        let mut wrapper = Command::new("/bin/sh")
            .arg("-c")
            .arg(WRAPPER)
            .arg("splitrail-testbed")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| Error::io(format!("spawning {}", program.display()), e))?;
        let watchdog = wrapper.stdin.take();
        let stdout = wrapper
            .stdout
            .take()
            .ok_or_else(|| Error::Invalid("wrapper has no stdout".into()))?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| Error::io("reading the server's pid from its wrapper", e))?;
        let pid: i32 = line
            .trim()
            .parse()
            .map_err(|_| Error::Invalid(format!("wrapper printed {line:?} instead of a pid")))?;
        Ok(Supervised {
            pid: Pid::from_raw(pid),
            wrapper: Some(wrapper),
            watchdog,
        })
    }

    /// Starts `program args…` detached: in its own process group, surviving this process.
    pub fn spawn_detached(program: &Path, args: &[String]) -> Result<Self> {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| Error::io(format!("spawning {}", program.display()), e))?;
        let pid = i32::try_from(child.id())
            .map_err(|_| Error::Invalid(format!("pid {} out of range", child.id())))?;
        Ok(Supervised {
            pid: Pid::from_raw(pid),
            wrapper: None,
            watchdog: None,
        })
    }

    /// The program's pid.
    pub fn pid(&self) -> u32 {
        self.pid.as_raw().unsigned_abs()
    }

    /// Whether the program is still running (not exited, not a zombie).
    pub fn is_running(&mut self) -> bool {
        match &mut self.wrapper {
            // The wrapper exits exactly when the program does.
            Some(wrapper) => matches!(wrapper.try_wait(), Ok(None)),
            None => pid_alive(self.pid),
        }
    }

    /// Sends `signal` to the program and waits up to `timeout` for it to exit.
    pub fn signal_and_wait(&mut self, signal: Signal, timeout: Duration) -> Result<()> {
        if !self.is_running() {
            return Ok(());
        }
        // ESRCH: it exited in the meantime, which is what we want.
        let _ = kill(self.pid, signal);
        let what = format!("pid {} to exit after {signal}", self.pid);
        wait_for(&what, timeout, Duration::from_millis(10), || {
            Ok(!self.is_running())
        })
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if let Some(mut wrapper) = self.wrapper.take() {
            if let Ok(pgid) = i32::try_from(wrapper.id()) {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            }
            let _ = wrapper.wait();
            // The program was in the group; closing the pipe ends a watchdog that outlived it.
            self.watchdog.take();
        }
    }
}

/// Whether `pid` names a live process (a zombie counts as gone).
pub fn pid_alive(pid: Pid) -> bool {
    if kill(pid, None).is_err() {
        return false;
    }
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw())).unwrap_or_default();
    // Field 3 is the state; it follows the parenthesised command name.
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().next());
    !matches!(state, Some("Z") | Some("X") | None)
}

/// Sends `signal` to a pid read from a pid file, then waits up to `timeout` for it to be gone.
/// Returns `false` when no live process was found.
pub fn stop_pid(pid: u32, signal: Signal, timeout: Duration) -> Result<bool> {
    let pid = Pid::from_raw(
        i32::try_from(pid).map_err(|_| Error::Invalid(format!("pid {pid} out of range")))?,
    );
    if !pid_alive(pid) {
        return Ok(false);
    }
    let _ = kill(pid, signal);
    let what = format!("pid {pid} to exit after {signal}");
    wait_for(&what, timeout, Duration::from_millis(20), || {
        Ok(!pid_alive(pid))
    })?;
    Ok(true)
}

/// Asks `done` every `every` until it says yes; after `timeout`, [`Error::Timeout`] waiting
/// for `what`. An error from `done` ends the wait with it.
pub(crate) fn wait_for(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut done: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !done()? {
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: what.to_string(),
                seconds: timeout.as_secs(),
            });
        }
        std::thread::sleep(every);
    }
    Ok(())
}
