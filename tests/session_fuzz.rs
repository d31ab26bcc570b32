//! The session-level fuzzer: mutated client packet streams (handshakes, commands, prepared
//! statements with random ids and parameters, LOAD DATA LOCAL replies, pipelined bursts of
//! several commands in one write) sent to a live in-process proxy on the test bed. Checks: no
//! panic anywhere in the process (a panic hook counts them: tokio would swallow a task's), no
//! hang (every mutated connection is answered and closed within a deadline once the client has
//! sent everything and closed its sending half), a well-behaved client is served after every
//! batch, no session or backend connection is left behind, and no write reaches the replica.
//!
//! The seed is printed; `SPLITRAIL_FUZZ_SEED=<seed>` replays a run and
//! `SPLITRAIL_FUZZ_ITERATIONS=<n>` sets the number of fuzzed sessions (default 8000, under a
//! minute). See docs/fuzzing.md.
mod common;
mod fuzzing;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

use common::{Bed, OTHER_PASSWORD, OTHER_USER, connect, get, one, run};
use fuzzing::answers;
use fuzzing::mutate::{chunks, mutate};
use fuzzing::raw::{End, client_caps, greet, login, response, send_and_drain};
use fuzzing::rng::Rng;
use fuzzing::streams::{Ctx, Packet, command_stream};
use mysql_async::prelude::Queryable;
use splitrail_protocol::CapabilityFlags;
use tokio::task::JoinSet;

/// Sessions fuzzed at the same time.
const BATCH: usize = 4;
/// How long a mutated connection may stay open, silent, after the client closed its side.
const DEADLINE: Duration = Duration::from_secs(20);

static PANICS: AtomicUsize = AtomicUsize::new(0);
static FIRST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Counts every panic in the process (the proxy's worker threads and tasks included) and keeps
/// the first one's message, then lets the default hook print it.
fn count_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut first) = FIRST_PANIC.lock() {
                first.get_or_insert_with(|| info.to_string());
            }
            previous(info);
        }));
    });
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("{name}={text}: {e}")))
}

/// The run's seed: `SPLITRAIL_FUZZ_SEED`, or a new one from the clock.
fn seed() -> u64 {
    env_number("SPLITRAIL_FUZZ_SEED").unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.map(|d| d.as_nanos() as u64).unwrap_or(1)
    })
}

/// GTIDs in `server`'s binlog that the server originated itself (`domain-server_id-seq` with
/// its own id): replicated writes from the primary carry the primary's id.
fn local_gtids(server: &splitrail_testbed::Server) -> Vec<String> {
    let pos = server.gtid_binlog_pos().expect("gtid_binlog_pos");
    let own = server.server_id().to_string();
    pos.split(',')
        .map(|g| g.trim().to_string())
        .filter(|g| g.split('-').nth(1) == Some(own.as_str()))
        .collect()
}

/// The transactions open on `server` on connections of the proxy's user, described, or `None`.
fn open_transactions(server: &splitrail_testbed::Server) -> Option<String> {
    let list = server
        .query_one(
            "SELECT GROUP_CONCAT(CONCAT('thread ', t.trx_mysql_thread_id, ' ', t.trx_state, \
             ', rows locked ', t.trx_rows_locked, ', running ', IFNULL(p.INFO, '-')) \
             SEPARATOR '; ') \
             FROM information_schema.INNODB_TRX t \
             JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
             WHERE p.USER = 'app'",
        )
        .expect("listing open transactions");
    (!list.is_empty() && list != "NULL").then_some(list)
}

/// What one fuzzed session did, for the summary.
struct Report {
    kind: &'static str,
    mutations: Vec<&'static str>,
    answered: bool,
    /// A valid stream whose answers were checked.
    checked: bool,
}

/// A connection ready for its fuzzed stream, and the stream still valid.
struct Opening {
    stream: tokio::net::TcpStream,
    packets: Vec<Packet>,
    ctx: Ctx,
    kind: &'static str,
    /// The capabilities of a session that logged in (the stream is then only commands).
    caps: Option<CapabilityFlags>,
}

/// A connection at the handshake: the HandshakeResponse41 (as `app`, with a wrong password,
/// or as nobody; now and then with a random capability bit) is part of the stream, with up to
/// 3 commands pipelined behind it.
async fn at_handshake(port: u16, rng: &mut Rng, table: String) -> Result<Opening, String> {
    let (stream, hs) = greet(port).await?;
    let mut caps = client_caps(rng, hs.capabilities);
    if rng.one_in(4) {
        caps |= CapabilityFlags::from_bits_retain(1 << rng.below(40));
    }
    let (user, password) = *rng.pick(&[("app", "app"), ("app", "wrong"), ("", "")]);
    let mut packets = vec![Packet {
        seq: 1,
        payload: response(&hs, caps, user, password),
    }];
    let ctx = Ctx {
        table,
        nonce: hs.auth_plugin_data,
    };
    packets.extend(command_stream(rng, &ctx, 3));
    Ok(Opening {
        stream,
        packets,
        ctx,
        kind: "handshake",
        caps: None,
    })
}

/// A connection logged in as `app`, with a stream of up to 8 commands.
async fn logged_in(port: u16, rng: &mut Rng, table: String) -> Result<Opening, String> {
    let (stream, hs, caps) = login(port, rng)
        .await
        .map_err(|e| format!("a valid login failed: {e}"))?;
    let ctx = Ctx {
        table,
        nonce: hs.auth_plugin_data,
    };
    let packets = command_stream(rng, &ctx, 8);
    Ok(Opening {
        stream,
        packets,
        ctx,
        kind: "commands",
        caps: Some(caps),
    })
}

/// One fuzzed session: number `n` of the run with `seed`. An error is a failure of the proxy
/// (a hang, a valid login refused, or a valid stream answered wrongly), with what was sent.
async fn fuzz_session(port: u16, seed: u64, n: u64, table: String) -> Result<Report, String> {
    let mut rng = Rng::derive(seed, n);
    let mut open = if rng.one_in(6) {
        at_handshake(port, &mut rng, table).await?
    } else {
        logged_in(port, &mut rng, table).await?
    };
    let donor = command_stream(&mut rng, &open.ctx, 4);
    // One stream in five stays valid: the pipelined templates themselves must be served.
    let count = if rng.one_in(5) { 0 } else { rng.range(1, 4) };
    let (wire, mutations) = mutate(&mut rng, open.packets.clone(), &donor, count);
    let writes = chunks(&mut rng, &wire);
    let kind = open.kind;
    let sent = || {
        format!(
            "sent {} bytes in {} writes: {}",
            wire.len(),
            writes.len(),
            hex(&wire)
        )
    };
    match send_and_drain(&mut open.stream, &writes, DEADLINE).await {
        End::Closed(got) => {
            if let (0, Some(caps)) = (count, open.caps) {
                answers::check(&open.packets, &got, caps)
                    .map_err(|e| format!("valid {kind} stream: {e}; {}", sent()))?;
            }
            Ok(Report {
                kind,
                mutations,
                answered: !got.is_empty(),
                checked: count == 0 && open.caps.is_some(),
            })
        }
        End::Hung(got) => Err(format!(
            "{kind} stream after {mutations:?}: neither answered in full nor closed within \
             {DEADLINE:?} ({got} bytes received); {}",
            sent()
        )),
    }
}

/// Sessions `batch * BATCH ..` of the run, at the same time; panics with the seed, the
/// session's number and what was sent when one fails.
async fn fuzz_batch(bed: &Bed, seed: u64, batch: usize, table: &str) -> Vec<Report> {
    let mut set = JoinSet::new();
    for k in 0..BATCH {
        let n = (batch * BATCH + k) as u64;
        let (port, table) = (bed.port(), table.to_string());
        set.spawn(async move { (n, fuzz_session(port, seed, n, table).await) });
    }
    let mut reports = Vec::new();
    while let Some(done) = set.join_next().await {
        match done.expect("a fuzzed session's task") {
            (_, Ok(report)) => reports.push(report),
            (n, Err(e)) => panic!("seed {seed:#x}, session {n}: {e}\n{}", situation(bed)),
        }
    }
    reports
}

/// What the proxy's sessions and the primary's connections are doing, for a failure message
/// (a hang is stuck somewhere in there).
fn situation(bed: &Bed) -> String {
    let sessions: Vec<String> = (bed.proxy.shared().sessions().iter())
        .map(|s| {
            let a = s.activity();
            let statement = a
                .statement
                .map(|t| String::from_utf8_lossy(&t).into_owned());
            format!(
                "{} command {:?} for {:?} {statement:?} pinned {:?} running {:?}",
                s.id,
                a.command,
                a.since.elapsed(),
                s.pinned(),
                s.running()
            )
        })
        .collect();
    let processlist = bed.primary().sql(
        "SELECT ID, COMMAND, TIME, STATE, LEFT(INFO, 100) FROM information_schema.PROCESSLIST \
         WHERE USER = 'app'",
    );
    format!("proxy sessions: {sessions:#?}\nprimary's app connections: {processlist:?}")
}

/// Counts of what the run did, printed at its end.
#[derive(Default)]
struct Tally {
    kinds: BTreeMap<&'static str, usize>,
    mutations: BTreeMap<&'static str, usize>,
    answered: usize,
    checked: usize,
}

impl Tally {
    fn add(&mut self, r: Report) {
        *self.kinds.entry(r.kind).or_default() += 1;
        for m in r.mutations {
            *self.mutations.entry(m).or_default() += 1;
        }
        self.answered += usize::from(r.answered);
        self.checked += usize::from(r.checked);
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}, {} answered, {} valid streams' answers checked; mutations {:?}",
            self.kinds, self.answered, self.checked, self.mutations
        )
    }
}

/// Backend connections lent out to sessions, over all servers (the admin API's `/status`).
fn pool_in_use(bed: &Bed) -> u64 {
    let status = get(bed.proxy.admin_addr(), "/status").json();
    let servers = status["servers"].as_array().cloned().unwrap_or_default();
    servers
        .iter()
        .map(|s| s["pool"]["in_use"].as_u64().unwrap_or(u64::MAX))
        .sum()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_client_streams_never_panic_hang_or_write_to_a_replica() {
    count_panics();
    let seed = seed();
    let sessions = env_number("SPLITRAIL_FUZZ_ITERATIONS").unwrap_or(8000) as usize;
    eprintln!(
        "session fuzz: seed {seed:#x}, {sessions} sessions (replay: SPLITRAIL_FUZZ_SEED={seed:#x})"
    );
    // Lock waits end fast, so a stream that left a row locked in a transaction the proxy has
    // not rolled back yet delays others by seconds at most, well within the deadline.
    let cluster = splitrail_testbed::shared_cluster(1);
    cluster
        .primary()
        .sql("SET GLOBAL innodb_lock_wait_timeout = 2; SET GLOBAL lock_wait_timeout = 5")
        .expect("setting lock wait timeouts");
    let bed = Bed::shared();
    let table = bed
        .new_table("fuzz", "id INT AUTO_INCREMENT PRIMARY KEY, v INT")
        .await;
    let replica = bed.replica(0);
    let before = local_gtids(replica);
    // The well-behaved clients log in as another user: a fuzzed COM_PROCESS_KILL (a flipped
    // bit turns COM_PING or COM_DEBUG into one) may kill any session of `app` by its small
    // connection id, as the server would, and the killed session's next read is then an ERR
    // it did not ask for.
    bed.create_other_user();
    let well_behaved = || bed.opts_as(OTHER_USER, OTHER_PASSWORD);
    let mut steady = connect(well_behaved()).await;
    run(&mut steady, &format!("INSERT INTO {table} (v) VALUES (0)")).await;

    let mut tally = Tally::default();
    for batch in 0..sessions.div_ceil(BATCH) {
        for report in fuzz_batch(&bed, seed, batch, &table).await {
            tally.add(report);
        }
        let panics = PANICS.load(Ordering::SeqCst);
        assert_eq!(
            panics,
            0,
            "seed {seed:#x}, batch {batch} (sessions {}..{}): the proxy panicked: {:?}",
            batch * BATCH,
            (batch + 1) * BATCH,
            FIRST_PANIC.lock().map(|p| p.clone()).unwrap_or_default()
        );
        // Well-behaved clients are served throughout: a long-lived session and a new one.
        let sessions = batch * BATCH..(batch + 1) * BATCH;
        let got = steady.query_first::<i64, _>("SELECT 1").await;
        assert!(
            matches!(got, Ok(Some(1))),
            "seed {seed:#x}, after sessions {sessions:?}: the long-lived session got {got:?}"
        );
        let mut fresh = connect(well_behaved()).await;
        let got = fresh.query_first::<i64, _>("SELECT 2").await;
        assert!(
            matches!(got, Ok(Some(2))),
            "seed {seed:#x}, after sessions {sessions:?}: a new session got {got:?}"
        );
    }

    // Writes did reach the primary (the streams are not all rejected), and none the replica.
    let rows: i64 = one(&mut steady, &format!("SELECT COUNT(*) FROM {table}")).await;
    assert!(
        rows > 1,
        "seed {seed:#x}: no fuzzed write reached the primary"
    );
    // Nothing leaks: once the long-lived session has gone too, no session is left and no
    // backend connection is lent out (a session keeps one, sticky, while it lives).
    steady
        .disconnect()
        .await
        .expect("closing the long-lived session");
    let left = || {
        let sessions: Vec<String> = (bed.proxy.shared().sessions().iter())
            .map(|s| {
                format!(
                    "{} {:?} {:?} {:?}",
                    s.id,
                    s.activity(),
                    s.pinned(),
                    s.running()
                )
            })
            .collect();
        (sessions, pool_in_use(&bed))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while left() != (Vec::new(), 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "seed {seed:#x}: sessions or backend connections left behind: {:?}",
            left()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nor is a pooled connection left in a transaction: it would keep its locks, and a
    // replica's SQL thread would wait on them.
    for server in [bed.primary(), replica] {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while let Some(open) = open_transactions(server) {
            assert!(
                std::time::Instant::now() < deadline,
                "seed {seed:#x}: transactions left open on {}: {open}",
                server.name()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    bed.caught_up();
    assert_eq!(
        local_gtids(replica),
        before,
        "seed {seed:#x}: a write ran on the replica ({})",
        replica.gtid_binlog_pos().unwrap_or_default()
    );
    eprintln!("session fuzz: seed {seed:#x}: {sessions} sessions, {rows} rows written, {tally}");
}

/// What the proxy answers to `wire` sent right after a valid login (without closing the
/// client's sending half): the first packet, or the read error.
async fn first_answer(bed: &Bed, wire: &[u8]) -> Result<(u8, Vec<u8>), String> {
    use tokio::io::AsyncWriteExt;
    let mut rng = Rng::new(1);
    let (mut stream, _, _) = login(bed.port(), &mut rng).await?;
    stream.write_all(wire).await.map_err(|e| e.to_string())?;
    fuzzing::raw::read_packet(&mut stream).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_with_a_wrong_sequence_id_gets_an_error_before_the_close() {
    let bed = Bed::shared();
    let mut wire = Vec::new();
    fuzzing::streams::push_frame(&mut wire, 5, b"\x03SELECT 1");
    let (_, err) = first_answer(&bed, &wire).await.expect("an answer");
    assert_eq!(err.first(), Some(&0xFF), "not an ERR: {err:02x?}");
    assert_eq!(
        err.get(1..3),
        Some(&1156u16.to_le_bytes()[..]),
        "{err:02x?}"
    );
}

/// COM_BINLOG_DUMP from `position` of `file`, as a client with server id 7.
fn binlog_dump(file: &[u8], position: u32) -> Vec<u8> {
    let mut dump = vec![0x12];
    dump.extend_from_slice(&position.to_le_bytes());
    dump.extend_from_slice(&0u16.to_le_bytes()); // flags
    dump.extend_from_slice(&7u32.to_le_bytes()); // server id
    dump.extend_from_slice(file);
    dump
}

/// Logs in on `port`, sends `dump` with a COM_PING behind it in the same write, and returns
/// the first answer (an ERR, or the test fails) once the session has closed without
/// answering the ping, as a server closes the connection of a dump that ended.
async fn dump_error_then_close(port: u16, dump: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    fuzzing::streams::push_frame(&mut wire, 0, dump);
    fuzzing::streams::push_frame(&mut wire, 0, &[0x0e]); // COM_PING
    let (mut stream, _, _) = login(port, &mut Rng::new(1)).await.expect("login");
    tokio::io::AsyncWriteExt::write_all(&mut stream, &wire)
        .await
        .expect("write");
    let (_, err) = fuzzing::raw::read_packet(&mut stream)
        .await
        .expect("the dump's answer");
    let text = String::from_utf8_lossy(&err).into_owned();
    assert_eq!(err.first(), Some(&0xFF), "port {port}: not an ERR: {text}");
    let next = fuzzing::raw::read_packet(&mut stream).await;
    assert!(
        matches!(&next, Err(e) if e.starts_with("reading a packet")),
        "port {port}: the session did not close after its dump ended: {next:02x?}"
    );
    err
}

/// Found by the session fuzzer: a server closes a connection whose dump ended (it treats that
/// as a COM_QUIT), but the proxy kept the client's session and left the next command
/// unanswered. A command sent behind the dump now gets no answer, directly or through the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binlog_dump_that_ends_ends_the_session_as_on_the_server() {
    let bed = Bed::shared();
    let dump = binlog_dump(b"no-such-binlog.000001", 4);
    for port in [bed.primary().port(), bed.port()] {
        let err = dump_error_then_close(port, &dump).await;
        assert_eq!(
            err.get(1..3),
            Some(&1236u16.to_le_bytes()[..]),
            "port {port}: {}",
            String::from_utf8_lossy(&err)
        );
    }
}

/// Found by the session fuzzer: a MariaDB server reads the fields of a COM_BINLOG_DUMP cut
/// short from what its buffer held before, and a server id read that way that matched the
/// test bed replica's disconnected the replica's own stream. The proxy answers such a dump as
/// malformed without passing it on, and ends the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binlog_dump_cut_short_is_refused_as_malformed() {
    let bed = Bed::shared();
    let full = binlog_dump(b"", 4);
    for cut in [1, 9] {
        let err = dump_error_then_close(bed.port(), &full[..cut]).await;
        let text = String::from_utf8_lossy(&err);
        assert!(text.contains("Malformed command"), "{cut} bytes: {text}");
    }
}

/// Found by the session fuzzer: a binlog dump with more commands behind it in the same write,
/// and the client's sending side closed. The proxy took the client's end of input for the
/// client gone and ended the session before the server's answer; the client gets the server's
/// error (1236: no such binlog file), as directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_binlog_dump_is_answered_after_the_client_half_closes() {
    use tokio::io::AsyncWriteExt;
    let bed = Bed::shared();
    let mut wire = Vec::new();
    fuzzing::streams::push_frame(&mut wire, 0, &binlog_dump(b"no-such-binlog.000001", 4));
    fuzzing::streams::push_frame(&mut wire, 0, b"\x01"); // COM_QUIT
    let mut rng = Rng::new(1);
    let (mut stream, _, _) = login(bed.port(), &mut rng).await.expect("login");
    stream.write_all(&wire).await.expect("write");
    stream.shutdown().await.expect("half-close");
    let (_, err) = fuzzing::raw::read_packet(&mut stream)
        .await
        .expect("the server's answer");
    assert_eq!(err.first(), Some(&0xFF), "not an ERR: {err:02x?}");
    assert_eq!(
        err.get(1..3),
        Some(&1236u16.to_le_bytes()[..]),
        "{}",
        String::from_utf8_lossy(&err)
    );
}
