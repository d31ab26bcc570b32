//! The client's own session counters and `SHOW [SESSION | LOCAL] STATUS [LIKE … | WHERE …]`:
//! the statement runs on a backend as any diagnostics statement does, and in its rows the
//! counters the proxy keeps for this client ([`COUNTED`], `Questions`, `Bytes_received`,
//! `Bytes_sent`) carry the client's values instead of the backend connection's (which count
//! whichever sessions used that connection, and the proxy's own statements). Every other row
//! is the backend's. A read of `information_schema.SESSION_STATUS` (and nothing else) is
//! answered the same way.
use bytes::Bytes;
use splitrail_protocol::command::code as cmd;
use splitrail_protocol::response::{ColumnDefinition, TextResultSet, TextRow};
use splitrail_protocol::{CapabilityFlags, Command};
use splitrail_router::{Classification, Kind, ReadKind, TxStatement, WriteKind};

use super::Session;
use super::lease::Reuse;
use super::query::Choice;
use crate::backend::Outcome;
use crate::backend::conn::protocol;
use crate::error::Result;

/// The `Com_*` counters the proxy keeps per client session, as the server names them (sorted).
pub(crate) const COUNTED: [&str; 18] = [
    "Com_begin",
    "Com_change_db",
    "Com_commit",
    "Com_insert",
    "Com_insert_select",
    "Com_replace",
    "Com_replace_select",
    "Com_rollback",
    "Com_select",
    "Com_set_option",
    "Com_show_processlist",
    "Com_show_status",
    "Com_stmt_close",
    "Com_stmt_execute",
    "Com_stmt_fetch",
    "Com_stmt_prepare",
    "Com_stmt_reset",
    "Com_stmt_send_long_data",
];

/// One client session's counters.
#[derive(Debug, Default)]
pub(crate) struct SessionCounters {
    /// Commands and statements the client sent, as the server's `Questions` counts them.
    questions: u64,
    /// By [`COUNTED`] index.
    com: [u64; COUNTED.len()],
}

impl SessionCounters {
    fn add(&mut self, name: &str) {
        if let Ok(i) = COUNTED.binary_search(&name) {
            self.com[i] += 1;
        }
    }

    /// A command arrived (its first byte `code`), before it runs, as the server counts it.
    pub(crate) fn command(&mut self, command: &Command<'_>) {
        let (question, com) = match command {
            Command::Ping | Command::Statistics | Command::Quit => (false, None),
            Command::StmtPrepare { .. } => (false, Some("Com_stmt_prepare")),
            Command::StmtClose { .. } => (false, Some("Com_stmt_close")),
            Command::StmtReset { .. } => (false, Some("Com_stmt_reset")),
            Command::StmtExecute(_) => (true, Some("Com_stmt_execute")),
            Command::StmtFetch { .. } => (true, Some("Com_stmt_fetch")),
            Command::StmtSendLongData { .. } => (true, Some("Com_stmt_send_long_data")),
            Command::InitDb { .. } => (true, Some("Com_change_db")),
            _ => (true, None),
        };
        self.questions += u64::from(question);
        if let Some(com) = com {
            self.add(com);
        }
    }

    /// A COM_QUERY text was classified: each of its statements, by kind.
    pub(crate) fn statements(&mut self, c: &Classification) {
        let first_text = &c.analysis.digest.text;
        for (i, kind) in c.analysis.kinds().enumerate() {
            // Only the first statement's text is at hand (the digest's).
            // (Scanned only for an INSERT or REPLACE: it walks the whole text.)
            let from_select = i == 0
                && matches!(kind, Kind::Write(WriteKind::Insert | WriteKind::Replace))
                && inserts_a_select(first_text);
            if let Some(name) = com_of(kind, from_select) {
                self.add(name);
            }
        }
    }

    /// A `SELECT` the proxy answers itself (`CONNECTION_ID()`, `splitrail_last_gtid()`).
    pub(crate) fn local_select(&mut self) {
        self.add("Com_select");
    }

    /// The client's value of the status variable `name`, if the proxy keeps it.
    fn value(&self, name: &str, received: u64, sent: u64) -> Option<u64> {
        if name.eq_ignore_ascii_case("Questions") {
            return Some(self.questions);
        }
        if name.eq_ignore_ascii_case("Bytes_received") {
            return Some(received);
        }
        if name.eq_ignore_ascii_case("Bytes_sent") {
            return Some(sent);
        }
        COUNTED
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .map(|i| self.com[i])
    }
}

/// The `Com_*` counter a statement of `kind` moves, among [`COUNTED`]; `from_select`: an
/// INSERT or REPLACE whose rows come from a query.
fn com_of(kind: &Kind, from_select: bool) -> Option<&'static str> {
    Some(match kind {
        Kind::Read(ReadKind::Select | ReadKind::With) => "Com_select",
        Kind::Read(ReadKind::SessionStatus) => "Com_show_status",
        Kind::Read(ReadKind::ProcessList { .. }) => "Com_show_processlist",
        Kind::Write(WriteKind::Insert) if from_select => "Com_insert_select",
        Kind::Write(WriteKind::Insert) => "Com_insert",
        Kind::Write(WriteKind::Replace) if from_select => "Com_replace_select",
        Kind::Write(WriteKind::Replace) => "Com_replace",
        Kind::Transaction(TxStatement::Begin { .. }) => "Com_begin",
        Kind::Transaction(TxStatement::Commit { .. }) => "Com_commit",
        Kind::Transaction(TxStatement::Rollback { .. }) => "Com_rollback",
        Kind::Set(_) => "Com_set_option",
        Kind::Use(_) => "Com_change_db",
        _ => return None,
    })
}

/// Whether a normalised `INSERT` / `REPLACE` text takes its rows from a query: `SELECT`,
/// `WITH` or `TABLE` outside any parentheses (a subquery inside `VALUES (…)` does not count).
fn inserts_a_select(text: &str) -> bool {
    let mut depth = 0usize;
    let mut word = String::new();
    let mut found = false;
    let mut end_word = |word: &mut String, depth: usize| {
        if depth == 0
            && ["SELECT", "WITH", "TABLE"]
                .iter()
                .any(|k| word.eq_ignore_ascii_case(k))
        {
            found = true;
        }
        word.clear();
    };
    for ch in text.chars() {
        match ch {
            '(' => {
                end_word(&mut word, depth);
                depth += 1;
            }
            ')' => {
                end_word(&mut word, depth);
                depth = depth.saturating_sub(1);
            }
            c if c.is_alphanumeric() || c == '_' => word.push(c),
            _ => end_word(&mut word, depth),
        }
    }
    end_word(&mut word, depth);
    found
}

/// Whether `c` reads `information_schema.SESSION_STATUS` and nothing else:
/// its one table is `session_status`, qualified with `information_schema` or read unqualified
/// with `information_schema` as the default schema (`in_schema`). (A user table of that name
/// in another schema is not the view, whatever the text's literals say.)
pub(crate) fn reads_session_status(c: &Classification, in_schema: bool) -> bool {
    let a = &c.analysis;
    let schema_is_information = match &a.schemas[..] {
        [] => in_schema,
        [s] => &**s == "information_schema",
        _ => false,
    };
    a.is_read()
        && a.rest.is_empty()
        && a.tables_known
        && matches!(&a.tables[..], [t] if &**t == "session_status")
        && schema_is_information
}

impl Session {
    /// `SHOW [SESSION] STATUS …` or a read of `information_schema.SESSION_STATUS` alone in its
    /// text: run where diagnostics run, the client's own counters put in (the rows' name and
    /// value columns found by their names, so a query that renames them gets the backend's).
    pub(crate) async fn show_session_status(
        &mut self,
        payload: &Bytes,
        c: &Classification,
    ) -> Result<()> {
        let mut lease = self.lease_for(Choice::Pinned, Reuse::Checked).await?;
        if let Some(err) = self.sync(&mut lease, Some(c)).await? {
            self.put_back(lease);
            return self.send_backend_err(&err).await;
        }
        lease.conn.send_command(payload).await?;
        let mut packets = Vec::new();
        let outcome = lease
            .conn
            .read_outcome(cmd::QUERY, |_, packet| {
                packets.push(packet.clone());
                Ok(())
            })
            .await?;
        let (caps, address) = (lease.conn.caps, lease.conn.address.clone());
        self.put_back(lease);
        let done = match outcome {
            Outcome::Err(err) => return self.send_backend_err(&err).await,
            Outcome::Ok(done, _) => done,
        };
        self.status = done.status;
        let mut result = decode_result(&packets, caps).map_err(|e| protocol(&address, e))?;
        let (received, sent) = (self.client.received, self.client.sent);
        // `SHOW STATUS` answers (Variable_name, Value), information_schema.SESSION_STATUS
        // (VARIABLE_NAME, VARIABLE_VALUE) in the columns the query selects.
        let column = |names: &[&str]| {
            result.columns.iter().position(|c| {
                names
                    .iter()
                    .any(|n| c.name.eq_ignore_ascii_case(n.as_bytes()))
            })
        };
        if let (Some(at_name), Some(at_value)) = (
            column(&["Variable_name"]),
            column(&["Value", "VARIABLE_VALUE"]),
        ) {
            for row in &mut result.rows {
                let ours = match row.get(at_name) {
                    Some(Some(name)) => self.counters.value(name, received, sent),
                    _ => None,
                };
                if let (Some(value), Some(cell)) = (ours, row.get_mut(at_value)) {
                    *cell = Some(value.to_string());
                }
            }
        }
        self.send_result_set(&result).await
    }
}

/// A text result set read whole (every packet but the final EOF / OK) as rows of text.
fn decode_result(
    packets: &[Bytes],
    caps: CapabilityFlags,
) -> std::result::Result<TextResultSet, splitrail_protocol::Error> {
    let count = match packets.first() {
        Some(first) => splitrail_protocol::response::decode_column_count(first)?,
        None => return Ok(TextResultSet::default()),
    };
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let columns = packets
        .iter()
        .skip(1)
        .take(count)
        .map(|p| ColumnDefinition::decode(p, caps))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    // The EOF after the definitions, unless CLIENT_DEPRECATE_EOF.
    let eof = usize::from(!caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF));
    let rows = packets
        .iter()
        .skip(1 + count + eof)
        .map(|p| {
            let row = TextRow::new(p.clone());
            let values = row.decode_all()?;
            Ok(values
                .into_iter()
                .map(|v| v.map(|b| String::from_utf8_lossy(b).into_owned()))
                .collect())
        })
        .collect::<std::result::Result<Vec<_>, splitrail_protocol::Error>>()?;
    Ok(TextResultSet { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_names_are_sorted_for_the_search() {
        assert!(COUNTED.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn inserts_from_a_query_are_told_apart() {
        assert!(inserts_a_select("INSERT INTO t SELECT ? FROM u"));
        assert!(inserts_a_select("INSERT INTO t (a, b) SELECT a, b FROM u"));
        assert!(inserts_a_select(
            "REPLACE INTO t WITH c AS (SELECT ?) SELECT * FROM c"
        ));
        assert!(!inserts_a_select("INSERT INTO t VALUES (?, ?)"));
        assert!(!inserts_a_select(
            "INSERT INTO t VALUES ((SELECT MAX(a) FROM u))"
        ));
        assert!(!inserts_a_select("INSERT INTO selections (a) VALUES (?)"));
    }

    #[test]
    fn only_the_information_schema_view_is_session_status() {
        let rows = [
            // (text, default schema is information_schema, is the view)
            (
                "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS",
                false,
                true,
            ),
            (
                "SELECT * FROM `INFORMATION_SCHEMA`.`session_status`",
                false,
                true,
            ),
            ("SELECT * FROM session_status", true, true),
            ("SELECT * FROM session_status", false, false),
            // The schema's name in a literal does not make a user table the view.
            (
                "SELECT * FROM session_status WHERE note = 'information_schema'",
                false,
                false,
            ),
            (
                "SELECT * FROM app.session_status WHERE note = 'information_schema'",
                false,
                false,
            ),
            ("SELECT * FROM app.session_status", true, false),
            (
                "SELECT * FROM information_schema.session_status JOIN app.t",
                false,
                false,
            ),
        ];
        for (sql, in_schema, view) in rows {
            let c = splitrail_router::classify(sql);
            assert_eq!(reads_session_status(&c, in_schema), view, "{sql}");
        }
    }

    #[test]
    fn counted_statements_scan_inserts_only() {
        let mut c = SessionCounters::default();
        c.statements(&splitrail_router::classify("INSERT INTO t SELECT 1"));
        c.statements(&splitrail_router::classify("SELECT 1 FROM (SELECT 2) x"));
        assert_eq!(c.value("Com_insert_select", 0, 0), Some(1));
        assert_eq!(c.value("Com_select", 0, 0), Some(1));
        assert_eq!(c.value("Com_insert", 0, 0), Some(0));
    }

    #[test]
    fn commands_count_as_the_server_counts_them() {
        let mut c = SessionCounters::default();
        c.command(&Command::Ping);
        c.command(&Command::StmtPrepare { query: b"SELECT 1" });
        c.command(&Command::StmtClose { statement_id: 1 });
        assert_eq!(c.value("Questions", 0, 0), Some(0));
        c.command(&Command::InitDb { schema: b"app" });
        assert_eq!(c.value("questions", 0, 0), Some(1));
        assert_eq!(c.value("Com_change_db", 0, 0), Some(1));
        assert_eq!(c.value("Com_stmt_close", 0, 0), Some(1));
        assert_eq!(c.value("Com_stmt_prepare", 0, 0), Some(1));
        assert_eq!(c.value("Bytes_sent", 3, 7), Some(7));
        assert_eq!(c.value("Uptime", 0, 0), None);
    }
}
