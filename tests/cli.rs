//! The `splitrail` command line: `check` on good and bad files, `explain`, `--version`, and
//! the admin commands (`status`, `sessions`, `digests`, `drain`, `enable`, `reload`) against a
//! proxy on the test bed, with their tables, `--json` documents and one-line errors.
mod common;

use std::process::Command;

use common::{BedBuilder, one, run};
use splitrail_server::admin::api;

fn splitrail(args: &[&str]) -> (i32, String, String) {
    splitrail_with_token(args, None)
}

/// Runs `splitrail args` with `SPLITRAIL_ADMIN_TOKEN` set to `token` (unset for `None`).
fn splitrail_with_token(args: &[&str], token: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_splitrail"));
    cmd.args(args);
    match token {
        Some(t) => cmd.env("SPLITRAIL_ADMIN_TOKEN", t),
        None => cmd.env_remove("SPLITRAIL_ADMIN_TOKEN"),
    };
    let out = cmd.output().expect("running splitrail");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn repo_file(name: &str) -> String {
    format!("{}/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_accepts_the_dev_config() {
    let (code, stdout, stderr) = splitrail(&["check", "--config", &repo_file("proxy.yaml")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("ok"), "{stdout}");
}

#[test]
fn check_reports_every_problem_with_its_line_and_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "users: [{ user: app, password: app }]\n\
         servers:\n  \
           - { address: 127.0.0.1:13306, role: primary, wieght: 2 }\n  \
           - { address: 127.0.0.1:13307, role: replica, weight: 0 }\n",
    )
    .expect("writing the file");
    let (code, _, stderr) = splitrail(&["check", "--config", file.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("bad.yaml:3:"), "{stderr}");
    assert!(stderr.contains("servers[0].wieght"), "{stderr}");
    assert!(stderr.contains("bad.yaml:4:"), "{stderr}");
    assert!(stderr.contains("servers[1].weight"), "{stderr}");
}

#[test]
fn check_names_a_missing_file() {
    let (code, _, stderr) = splitrail(&["check", "--config", "/nonexistent/proxy.yaml"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("/nonexistent/proxy.yaml"), "{stderr}");
}

#[test]
fn explain_gives_target_and_reason() {
    let config = repo_file("proxy.yaml");
    let (code, stdout, stderr) = splitrail(&[
        "explain",
        "--config",
        &config,
        "SELECT * FROM t WHERE id = 1",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("target: replica"), "{stdout}");
    assert!(stdout.contains("reason: plain_read"), "{stdout}");
    let (_, stdout, _) = splitrail(&["explain", "--config", &config, "SELECT 1 FOR UPDATE"]);
    assert!(stdout.contains("target: primary"), "{stdout}");
    // Text that is not SQL is not an error: it routes to the primary as unknown.
    let (code, stdout, _) = splitrail(&["explain", "--config", &config, "this is ) not sql"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("target: primary"), "{stdout}");
}

#[test]
fn version_is_printed() {
    let (code, stdout, _) = splitrail(&["--version"]);
    assert_eq!(code, 0);
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
}

const TOKEN: &str = "cli-s3cret";

/// `splitrail args --admin ADMIN` with the right token: its stdout, asserting exit code 0.
fn admin_ok(admin: &str, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--admin", admin]);
    let (code, stdout, stderr) = splitrail_with_token(&all, Some(TOKEN));
    assert_eq!(code, 0, "splitrail {all:?}: {stderr}");
    stdout
}

/// `splitrail args --admin ADMIN` expected to fail: its one-line stderr.
fn admin_err(admin: &str, args: &[&str], token: Option<&str>) -> String {
    let mut all = args.to_vec();
    all.extend(["--admin", admin]);
    let (code, stdout, stderr) = splitrail_with_token(&all, token);
    assert_eq!(code, 1, "splitrail {all:?} should fail: {stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_print_tables_and_json() {
    let bed = BedBuilder::shared(1)
        .yaml(&format!("admin: {{ listen: 127.0.0.1:0, token: {TOKEN} }}"))
        .start();
    let admin = bed.proxy.admin_addr().to_string();
    let (primary, replica) = (
        bed.primary().address().to_string(),
        bed.replica(0).address().to_string(),
    );
    let mut conn = bed.conn().await;
    run(&mut conn, "SET @cli = 1").await;
    let n: i64 = one(&mut conn, "SELECT @cli + 41").await;
    assert_eq!(n, 42);
    let id = conn.id();
    tokio::task::block_in_place(|| {
        // status: both servers with their roles, and the same document as JSON.
        let table = admin_ok(&admin, &["status"]);
        for (address, role) in [(&primary, "primary"), (&replica, "replica")] {
            assert!(
                table
                    .lines()
                    .any(|l| l.starts_with(address.as_str()) && l.contains(role)),
                "{address} {role}:\n{table}"
            );
        }
        assert!(
            table.contains("SERVER") && table.contains("WAITING"),
            "{table}"
        );
        let status: api::Status =
            serde_json::from_str(&admin_ok(&admin, &["status", "--json"])).expect("a status");
        assert_eq!(status.servers.len(), 2);
        assert_eq!(status.admin_listen, admin);

        // sessions: the pinned session, and why.
        let table = admin_ok(&admin, &["sessions"]);
        assert!(
            table.lines().any(
                |l| l.trim_start().starts_with(&id.to_string()) && l.contains("user_variables")
            ),
            "session {id}:\n{table}"
        );
        let sessions: api::Sessions =
            serde_json::from_str(&admin_ok(&admin, &["sessions", "--json"])).expect("sessions");
        assert!(sessions.sessions.iter().any(|s| s.id == id));

        // digests: the statement that ran.
        let table = admin_ok(&admin, &["digests", "--limit", "50"]);
        assert!(table.contains("SELECT @cli + ?"), "{table}");
        let digests: api::Digests =
            serde_json::from_str(&admin_ok(&admin, &["digests", "--json"])).expect("digests");
        assert!(digests.digests.iter().any(|d| d.text == "SELECT @cli + ?"));

        // drain and enable the replica.
        let drained = admin_ok(&admin, &["drain", &replica]);
        assert_eq!(drained, format!("{replica}: draining\n"));
        let enabled: api::Admitted =
            serde_json::from_str(&admin_ok(&admin, &["enable", &replica, "--json"]))
                .expect("an answer");
        assert_eq!(enabled.address, replica);
        assert_ne!(enabled.state, "draining");

        // Errors: one line each, exit code 1.
        let unknown = admin_err(&admin, &["drain", "10.9.9.9:3306"], Some(TOKEN));
        assert!(unknown.contains("no server 10.9.9.9:3306"), "{unknown}");
        let missing = admin_err(&admin, &["status"], None);
        assert!(missing.contains("SPLITRAIL_ADMIN_TOKEN"), "{missing}");
        assert!(missing.contains("wants a token"), "{missing}");
        let wrong = admin_err(&admin, &["status"], Some("nope"));
        assert!(wrong.contains("refused the token"), "{wrong}");
        let no_file = admin_err(&admin, &["reload"], Some(TOKEN));
        assert!(
            no_file.contains("without a configuration file"),
            "{no_file}"
        );
    });
    drop(conn);
}

#[test]
fn admin_commands_say_when_nothing_answers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let admin = format!("127.0.0.1:{port}");
    let err = admin_err(&admin, &["status"], None);
    assert!(
        err.contains(&format!("cannot reach the admin API at {admin}")),
        "{err}"
    );
}

#[test]
fn reload_applies_the_file_and_the_address_comes_from_it() {
    let bed = BedBuilder::shared(1).config_file(2).start();
    let admin = bed.proxy.admin_addr();
    // The proxy's file listens on port 0; a copy naming the port it got is what an operator's
    // file says, and what -c reads the admin address from.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("proxy.yaml");
    let text = std::fs::read_to_string(bed.config_path()).expect("the proxy's file");
    let text = text.replace(
        "admin: { listen: 127.0.0.1:0 }",
        &format!("admin: {{ listen: '{admin}' }}"),
    );
    std::fs::write(&file, text).expect("writing the copy");
    let file = file.to_str().expect("a UTF-8 path");
    let (code, stdout, stderr) = splitrail(&["reload", "-c", file]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("reloaded\n"), "{stdout}");
    assert!(stdout.contains("servers added: none"), "{stdout}");
    let (code, stdout, stderr) = splitrail(&["reload", "--json", "-c", file]);
    assert_eq!(code, 0, "{stderr}");
    let reloaded: api::Reloaded = serde_json::from_str(&stdout).expect("a reload answer");
    assert!(reloaded.reloaded);
    // A file the proxy refuses: the API's reason, then each problem on a line of its own.
    let good = std::fs::read_to_string(bed.config_path()).expect("the proxy's file");
    bed.write_config_text(&format!("{good}routing: {{ consistancy: global }}\n"));
    let (code, stdout, stderr) = splitrail(&["reload", "-c", file]);
    assert_eq!(code, 1, "{stdout}");
    let mut lines = stderr.lines();
    assert_eq!(
        lines.next(),
        Some("splitrail: the configuration was not reloaded; the running one stays"),
        "{stderr}"
    );
    assert!(
        lines.any(|l| l.starts_with("  ") && l.contains("routing.consistancy")),
        "{stderr}"
    );
    bed.write_config_text(&good);
    // A file that does not load is the file's problem, not a request.
    let (code, _, stderr) = splitrail(&["status", "-c", "/nonexistent/proxy.yaml"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("/nonexistent/proxy.yaml"), "{stderr}");
}
