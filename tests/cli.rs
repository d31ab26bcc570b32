//! The `splitrail` command line: `check` on good and bad files, `explain`, `--version`.
use std::process::Command;

fn splitrail(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_splitrail"))
        .args(args)
        .output()
        .expect("running splitrail");
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
