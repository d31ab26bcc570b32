//! The dashboard (`GET /` on the admin port) in a real browser: Debian's Chromium, headless,
//! loads the page from a proxy on the test bed after some traffic, lets its script poll the
//! API for a few (virtual) seconds, and the DOM it leaves must show both servers, the
//! statement shape that ran, a pinned session with its reason, and no console message. A
//! second run writes the screenshot docs/operations.md shows (docs/images/dashboard.png).
//!
//! Without Chromium the test says so and passes, except under CI (`CI` set), where a missing
//! browser fails it: CI installs it (scripts/lib.sh).
mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BedBuilder, get, one, request, run};
use mysql_async::prelude::Queryable;

const TOKEN: &str = "dash-s3cret";

/// The Chromium binary: `SPLITRAIL_CHROMIUM`, else Debian's `/usr/bin/chromium`.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("SPLITRAIL_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} not found: CI must run the browser test (apt-get install chromium)",
        path.display()
    );
    eprintln!(
        "skipping the browser test: {} not found (apt-get install chromium)",
        path.display()
    );
    None
}

/// What a headless Chromium run left: stdout (the DOM for `--dump-dom`) and the console
/// lines of its log.
struct Run {
    stdout: String,
    console: Vec<String>,
}

/// Runs headless Chromium on `url` with `args` (after the common flags), in a fresh profile,
/// killing it if it has not finished within two minutes. `--virtual-time-budget` lets the
/// page's timers run that many milliseconds of virtual time (fetches pause it) before the DOM
/// is dumped or the screenshot taken.
fn headless(browser: &Path, url: &str, args: &[&str]) -> Run {
    let profile = tempfile::tempdir().expect("a profile directory");
    let out_dir = tempfile::tempdir().expect("an output directory");
    let (stdout_path, stderr_path) = (out_dir.path().join("out"), out_dir.path().join("err"));
    let file = |p: &Path| std::fs::File::create(p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(file(&stdout_path))
        .stderr(file(&stderr_path))
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", browser.display()));
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within two minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let stderr = read(&stderr_path);
    assert!(status.success(), "chromium failed ({status}):\n{stderr}");
    Run {
        stdout: read(&stdout_path),
        console: stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
            .map(str::to_string)
            .collect(),
    }
}

/// The hash `/digests` gives the shape whose text contains `needle`.
fn digest_of(admin: SocketAddr, needle: &str) -> String {
    let digests = request(admin, "GET", "/digests", Some(TOKEN)).json();
    digests["digests"]
        .as_array()
        .expect("a digest list")
        .iter()
        .find(|d| d["text"].as_str().is_some_and(|t| t.contains(needle)))
        .and_then(|d| d["digest"].as_str())
        .unwrap_or_else(|| panic!("no digest with {needle:?} in {digests}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_servers_sessions_and_digests_in_chromium() {
    let Some(browser) = chromium() else {
        return;
    };
    let bed = BedBuilder::shared(1)
        .yaml(&format!("admin: {{ listen: 127.0.0.1:0, token: {TOKEN} }}"))
        .start();
    let admin = bed.proxy.admin_addr();
    // The page, like the API, wants the token: as a parameter (a browser cannot send a header
    // when it navigates) or as the bearer header.
    assert_eq!(get(admin, "/").status, 401);
    assert_eq!(get(admin, "/?token=wrong").status, 401);
    let page = get(admin, &format!("/?token={TOKEN}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.headers.contains("content-type: text/html"));
    assert_eq!(get(admin, &format!("/status?token={TOKEN}")).status, 401);

    // Traffic: writes on the primary, reads on the replica, and a session that stays pinned.
    let t = bed
        .new_table("dash", "id INT PRIMARY KEY, v INT NOT NULL")
        .await;
    let mut conn = bed.conn().await;
    for i in 0..5 {
        run(&mut conn, &format!("INSERT INTO {t} VALUES ({i}, {i})")).await;
    }
    bed.caught_up();
    for i in 0..20 {
        let _: Option<i64> = conn
            .query_first(format!("SELECT v FROM {t} WHERE id = {}", i % 5))
            .await
            .expect("a read");
    }
    let mut pinned = bed.conn().await;
    run(&mut pinned, "SET @dashboard = 1").await;
    let pinned_id = pinned.id();
    let n: i64 = one(&mut pinned, "SELECT @dashboard").await;
    assert_eq!(n, 1);
    let digest = digest_of(admin, &format!("FROM {t} WHERE"));

    let url = format!("http://{admin}/?token={TOKEN}");
    let dom = tokio::task::block_in_place(|| {
        headless(
            &browser,
            &url,
            &["--virtual-time-budget=5000", "--dump-dom"],
        )
    });
    assert!(
        dom.console.is_empty(),
        "console messages:\n{}",
        dom.console.join("\n")
    );
    let html = dom.stdout;
    assert!(html.contains(r#"data-state="live""#), "not live:\n{html}");
    for server in [bed.primary().address(), bed.replica(0).address()] {
        assert!(
            html.contains(&format!(r#"data-server="{server}""#)),
            "{server} not shown:\n{html}"
        );
    }
    assert!(
        html.contains(&format!(r#"data-digest="{digest}""#)),
        "digest {digest} not shown:\n{html}"
    );
    assert!(
        html.contains(&format!(r#"data-session="{pinned_id}""#)),
        "session {pinned_id} not shown:\n{html}"
    );
    assert!(html.contains("yes (user_variables)"), "{html}");
    assert!(
        html.contains(r#"data-route="replica/plain_read""#),
        "{html}"
    );

    // The screenshot with statements going on, so the rate charts have something to draw.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let (stop, t) = (stop.clone(), t.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let sql = format!("SELECT v FROM {t} WHERE id = {}", i % 5);
                let _: Option<i64> = conn.query_first(sql).await.expect("a read");
                if i % 10 == 0 {
                    run(&mut conn, &format!("UPDATE {t} SET v = v + 1 WHERE id = 0")).await;
                }
                i += 1;
            }
            conn
        })
    };
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images/dashboard.png");
    std::fs::create_dir_all(shot.parent().expect("docs/images")).expect("docs/images");
    let screenshot = format!("--screenshot={}", shot.display());
    let run = tokio::task::block_in_place(|| {
        headless(
            &browser,
            &url,
            &[
                "--virtual-time-budget=15000",
                &screenshot,
                "--window-size=1400,1000",
            ],
        )
    });
    assert!(run.console.is_empty(), "{}", run.console.join("\n"));
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
    assert!(png.starts_with(b"\x89PNG"), "not a PNG: {}", shot.display());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let conn = traffic.await.expect("the traffic task");
    drop((conn, pinned));
}
