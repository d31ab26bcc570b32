//! `SHOW [FULL] PROCESSLIST`, answered by the proxy: one row per client session of the asking
//! user, with the proxy's connection ids — the ids `CONNECTION_ID()` answers and `KILL` takes.
//! A backend would list its own threads instead: the proxy's pooled connections, shared by
//! sessions and named by ids no client knows.
//!
//! The rows come from the session registry ([`crate::worker::Shared::sessions`]); each session
//! records its command and its statement there when it starts one ([`Session::begin_activity`])
//! and goes back to "Sleep" when it ends. The columns are MariaDB's, with its types, lengths and
//! flags, in the character set the session gets results in.
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use splitrail_protocol::Command;
use splitrail_protocol::collation::{self, Collation};
use splitrail_protocol::command::{self, code as cmd};
use splitrail_protocol::response::{ColumnDefinition, ColumnFlags, TextResultSet};
use splitrail_protocol::value::ColumnType;
use splitrail_router::SessionVariables;

use super::Session;
use crate::error::Result;
use crate::worker::sessions::{Activity, SessionInfo};

/// How much of a statement `SHOW PROCESSLIST` (without FULL) shows, in bytes: MariaDB's and
/// MySQL's `PROCESS_LIST_WIDTH`.
const INFO_WIDTH: usize = 100;

/// What a server shows in `State` for the session running `SHOW PROCESSLIST` itself.
const OWN_STATE: &str = "starting";

/// `NOT_FIXED_DEC`: the decimals a server announces for text columns.
const TEXT_DECIMALS: u8 = 39;

/// The collation backend connections start with, and results come in until the session
/// changes it.
static BACKEND_DEFAULT: Collation = Collation {
    id: collation::UTF8MB4_GENERAL_CI,
    name: "utf8mb4_general_ci",
    charset: "utf8mb4",
    is_default: true,
};

impl Session {
    /// Records in the registry that `command` (the decoded `payload`) starts, with its
    /// statement text: the query, the statement being prepared, or the prepared statement
    /// being executed.
    pub(crate) fn begin_activity(&self, payload: &Bytes, command: &Command<'_>) {
        let statement = match command {
            Command::Query(q) => Some(part_of(payload, q.sql)),
            Command::StmtPrepare { query } => Some(part_of(payload, query)),
            Command::StmtExecute(e) => self.stmts.get(&e.statement_id).map(|s| s.sql.clone()),
            _ => None,
        };
        let code = payload.first().copied().unwrap_or(cmd::QUERY);
        self.info.begin_command(code, statement);
    }

    /// Answers `SHOW [FULL] PROCESSLIST` from the registry.
    pub(crate) async fn show_processlist(&mut self, full: bool) -> Result<()> {
        let sessions = self.worker.shared.sessions();
        let result = TextResultSet {
            columns: columns(results_collation(self.state.variables()), full),
            rows: rows(&sessions, &self.user, self.id, full, Instant::now()),
        };
        self.send_result_set(&result).await
    }
}

/// `part` (a slice of `payload`) as a `Bytes` sharing `payload`'s buffer; a copy if it is not
/// a slice of it.
fn part_of(payload: &Bytes, part: &[u8]) -> Bytes {
    let start = (part.as_ptr() as usize).wrapping_sub(payload.as_ptr() as usize);
    let range = start..start.saturating_add(part.len());
    match payload.get(range.clone()) {
        Some(inside) if inside.as_ptr() == part.as_ptr() => payload.slice(range),
        _ => Bytes::copy_from_slice(part),
    }
}

/// The collation a server tags result text with in this session: `character_set_results`,
/// as the last `SET NAMES`, `SET CHARACTER SET` or `SET character_set_results` left it (the
/// handshake's collation is recorded as a `SET NAMES`); `NULL` means no conversion, i.e. the
/// server's own `utf8mb3`. Backend connections start with `utf8mb4_general_ci`.
fn results_collation(vars: &SessionVariables) -> &'static Collation {
    let mut found = &BACKEND_DEFAULT;
    for (key, fragment) in vars.iter() {
        let words: Vec<&str> = fragment
            .split(|c: char| c.is_whitespace() || c == '=')
            .filter(|w| !w.is_empty())
            .map(|w| w.trim_matches(|c| c == '\'' || c == '"' || c == '`'))
            .collect();
        let named = match (key, words.as_slice()) {
            ("names", ["NAMES", _, "COLLATE", name, ..]) => collation::by_name(name),
            ("names", ["NAMES", charset, ..] | ["CHARACTER", "SET", charset, ..]) => {
                collation::default_for_charset(charset)
            }
            ("character_set_results", [.., value]) if value.eq_ignore_ascii_case("null") => {
                collation::by_id(collation::UTF8MB3_GENERAL_CI)
            }
            ("character_set_results", [.., value]) => collation::default_for_charset(value),
            _ => continue,
        };
        found = named.unwrap_or(&BACKEND_DEFAULT);
    }
    found
}

/// MariaDB's `SHOW PROCESSLIST` columns, text in `results`' character set.
fn columns(results: &Collation, full: bool) -> Vec<ColumnDefinition> {
    let text = |name: &str, chars: u32, not_null: bool| ColumnDefinition {
        decimals: TEXT_DECIMALS,
        flags: if not_null {
            ColumnFlags::NOT_NULL
        } else {
            ColumnFlags::empty()
        },
        ..ColumnDefinition::varchar(
            name,
            results.id,
            chars.saturating_mul(results.max_bytes_per_char()),
        )
    };
    let number = |name: &str, column_type, column_length, decimals| ColumnDefinition {
        name: name.as_bytes().to_vec(),
        charset: collation::BINARY,
        column_length,
        column_type,
        flags: ColumnFlags::NOT_NULL | ColumnFlags::BINARY | ColumnFlags::NUM,
        decimals,
        ..ColumnDefinition::default()
    };
    let info = if full {
        // As long as `max_allowed_packet` characters: a LONGTEXT, its length capped.
        ColumnDefinition {
            column_type: ColumnType::LongBlob,
            column_length: u32::MAX,
            ..text("Info", 0, false)
        }
    } else {
        text("Info", INFO_WIDTH as u32, false)
    };
    vec![
        number("Id", ColumnType::LongLong, 11, 0),
        text("User", 128, true),
        text("Host", 64, true),
        text("db", 64, false),
        text("Command", 16, true),
        number("Time", ColumnType::Long, 7, 0),
        text("State", 30, false),
        info,
        number("Progress", ColumnType::Double, 7, 3),
    ]
}

/// One row per live session of `user`, by id; `own` is the asking session's id.
fn rows(
    sessions: &[Arc<SessionInfo>],
    user: &str,
    own: u32,
    full: bool,
    now: Instant,
) -> Vec<Vec<Option<String>>> {
    let mut mine: Vec<&Arc<SessionInfo>> = sessions
        .iter()
        // A killed session is on its way out: listing it would show an id `KILL` just ended.
        .filter(|s| !s.is_killed() && s.user() == user)
        .collect();
    mine.sort_by_key(|s| s.id);
    mine.into_iter()
        .map(|s| row(s, &s.activity(), s.id == own, full, now))
        .collect()
}

/// A session's row.
fn row(s: &SessionInfo, a: &Activity, own: bool, full: bool, now: Instant) -> Vec<Option<String>> {
    let command = a.command.unwrap_or(cmd::SLEEP);
    let state = match (a.command, own) {
        (None, _) => Some(""),
        (Some(_), true) => Some(OWN_STATE),
        // What the backend is doing for it is the backend's to say.
        (Some(_), false) => None,
    };
    vec![
        Some(s.id.to_string()),
        Some(s.user()),
        Some(format!("{}:{}", s.peer.ip(), s.peer.port())),
        a.schema.as_deref().map(str::to_owned),
        Some(command::name(command).unwrap_or("Query").to_owned()),
        Some(now.saturating_duration_since(a.since).as_secs().to_string()),
        state.map(str::to_owned),
        a.statement.as_deref().map(|sql| info_text(sql, full)),
        Some("0.000".to_owned()),
    ]
}

/// The statement as `Info` shows it: the first [`INFO_WIDTH`] bytes unless `full`, a character
/// cut in two at the end left out, bytes that are not UTF-8 replaced.
fn info_text(statement: &[u8], full: bool) -> String {
    let cut = if full {
        statement
    } else {
        statement.get(..INFO_WIDTH).unwrap_or(statement)
    };
    match std::str::from_utf8(cut) {
        Ok(text) => text.to_owned(),
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(cut.get(..e.valid_up_to()).unwrap_or_default()).into_owned()
        }
        Err(_) => String::from_utf8_lossy(cut).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use splitrail_router::{SessionState, classify};

    use super::*;

    fn session(id: u32, user: &str, schema: Option<&str>) -> Arc<SessionInfo> {
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40000 + id as u16));
        Arc::new(SessionInfo::new(id, peer, user, schema))
    }

    #[test]
    fn a_row_per_session_of_the_user_with_what_it_runs() {
        let asking = session(7, "app", Some("shop"));
        let idle = session(3, "app", None);
        let busy = session(5, "app", Some("shop"));
        let other_user = session(4, "root", None);
        let killed = session(6, "app", None);
        asking.begin_command(cmd::QUERY, Some(Bytes::from_static(b"SHOW PROCESSLIST")));
        busy.begin_command(cmd::QUERY, Some(Bytes::from_static(b"SELECT SLEEP(10)")));
        killed.kill();
        let all = [asking, idle, busy, other_user, killed];
        let later = Instant::now() + Duration::from_secs(2);
        let got = rows(&all, "app", 7, false, later);
        let some = |v: &str| Some(v.to_owned());
        assert_eq!(
            got,
            vec![
                vec![
                    some("3"),
                    some("app"),
                    some("127.0.0.1:40003"),
                    None,
                    some("Sleep"),
                    some("2"),
                    some(""),
                    None,
                    some("0.000"),
                ],
                vec![
                    some("5"),
                    some("app"),
                    some("127.0.0.1:40005"),
                    some("shop"),
                    some("Query"),
                    some("2"),
                    None,
                    some("SELECT SLEEP(10)"),
                    some("0.000"),
                ],
                vec![
                    some("7"),
                    some("app"),
                    some("127.0.0.1:40007"),
                    some("shop"),
                    some("Query"),
                    some("2"),
                    some("starting"),
                    some("SHOW PROCESSLIST"),
                    some("0.000"),
                ],
            ]
        );
    }

    #[test]
    fn a_finished_command_leaves_the_session_asleep_in_its_new_schema() {
        let s = session(1, "app", None);
        s.begin_command(cmd::INIT_DB, None);
        s.end_command(Some("shop"));
        let got = rows(&[s], "app", 9, false, Instant::now());
        let row = got.first().expect("one row");
        assert_eq!(row.get(3), Some(&Some("shop".to_owned())));
        assert_eq!(row.get(4), Some(&Some("Sleep".to_owned())));
        assert_eq!(row.get(7), Some(&None));
    }

    #[test]
    fn info_is_cut_to_100_bytes_unless_full() {
        let long = "x".repeat(150);
        assert_eq!(info_text(long.as_bytes(), false).len(), 100);
        assert_eq!(info_text(long.as_bytes(), true).len(), 150);
        // A two-byte character across the cut is left out whole.
        let text = format!("{}é", "x".repeat(99));
        assert_eq!(info_text(text.as_bytes(), false), "x".repeat(99));
        assert_eq!(info_text(b"SELECT '\xff'", false), "SELECT '\u{fffd}'");
    }

    #[test]
    fn columns_are_mariadbs() {
        let utf8mb4 = collation::by_id(collation::UTF8MB4_GENERAL_CI).expect("known");
        let cols = columns(utf8mb4, false);
        let names: Vec<&[u8]> = cols.iter().map(|c| c.name.as_slice()).collect();
        let expected: [&[u8]; 9] = [
            b"Id",
            b"User",
            b"Host",
            b"db",
            b"Command",
            b"Time",
            b"State",
            b"Info",
            b"Progress",
        ];
        assert_eq!(names, expected);
        let shape = |i: usize| {
            let c = &cols[i];
            (
                c.column_type,
                c.charset,
                c.column_length,
                c.decimals,
                c.flags,
            )
        };
        let numeric = ColumnFlags::NOT_NULL | ColumnFlags::BINARY | ColumnFlags::NUM;
        assert_eq!(shape(0), (ColumnType::LongLong, 63, 11, 0, numeric));
        assert_eq!(
            shape(1),
            (ColumnType::VarString, 45, 512, 39, ColumnFlags::NOT_NULL)
        );
        assert_eq!(
            shape(3),
            (ColumnType::VarString, 45, 256, 39, ColumnFlags::empty())
        );
        assert_eq!(shape(5), (ColumnType::Long, 63, 7, 0, numeric));
        assert_eq!(
            shape(7),
            (ColumnType::VarString, 45, 400, 39, ColumnFlags::empty())
        );
        assert_eq!(shape(8), (ColumnType::Double, 63, 7, 3, numeric));
        let full = columns(utf8mb4, true);
        assert_eq!(full[7].column_type, ColumnType::LongBlob);
        assert_eq!(full[7].column_length, u32::MAX);
    }

    #[test]
    fn text_columns_follow_the_session_character_set() {
        let after = |statements: &[&str]| {
            let mut state = SessionState::new("app");
            for sql in statements {
                state.apply_statement(&classify(sql));
            }
            results_collation(state.variables()).id
        };
        assert_eq!(after(&[]), 45);
        assert_eq!(after(&["SET NAMES latin1"]), 8);
        assert_eq!(
            after(&["SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci"]),
            224
        );
        assert_eq!(after(&["SET CHARACTER SET utf8mb3"]), 33);
        assert_eq!(
            after(&["SET NAMES latin1", "SET character_set_results = NULL"]),
            33
        );
        assert_eq!(
            after(&["SET NAMES latin1", "SET character_set_results = utf8mb4"]),
            45
        );
        let mut state = SessionState::new("app");
        state.apply_tracked_variable("character_set_results", "latin1");
        assert_eq!(results_collation(state.variables()).id, 8);
    }

    #[test]
    fn a_statement_shares_the_packets_buffer() {
        let payload = Bytes::from_static(b"\x03SELECT 1");
        let sql = payload.get(1..).unwrap_or_default();
        let part = part_of(&payload, sql);
        assert_eq!(&part[..], b"SELECT 1");
        assert_eq!(part.as_ptr(), sql.as_ptr());
        let elsewhere = b"SELECT 2".to_vec();
        assert_eq!(&part_of(&payload, &elsewhere)[..], b"SELECT 2");
    }
}
