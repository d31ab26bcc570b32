//! The Django example (`examples/django/check.sh`, see `docs/django.md`) through the proxy, in
//! front of a MariaDB primary and replica of its own: every post Django writes must be in the
//! list it reads right after, on a new connection (the default `routing.consistency: global`).
//!
//! Ignored by default, because `check.sh` installs Django and mysqlclient from PyPI into a
//! virtualenv (and, on Debian, the packages mysqlclient builds with): `scripts/test.sh` runs it
//! with `cargo test --test django -- --ignored` after the rest of the suite.
mod common;

use std::process::Command;

use common::Bed;

#[test]
#[ignore = "needs Django and mysqlclient from PyPI; scripts/test.sh runs it"]
fn the_django_example_reads_its_writes_through_the_proxy() {
    let bed = Bed::own(1, "");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/django/check.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("DB_HOST", "127.0.0.1")
        .env("DB_PORT", bed.port().to_string())
        .env("ITERATIONS", "200")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    // `N write-then-read pairs, M stale`: the check ran to its end (migrate, 400 requests each
    // on a connection of its own, through the proxy).
    let stale: u32 = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("200 write-then-read pairs, ")?
                .strip_suffix(" stale")
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "check.sh did not finish ({}):\n{stdout}\n{stderr}",
                out.status
            )
        });
    // `routing.consistency: global` (the default): not one stale read.
    eprintln!("django: 200 write-then-read pairs on new connections, {stale} stale");
    assert!(out.status.success() && stale == 0, "{stdout}\n{stderr}");
}
