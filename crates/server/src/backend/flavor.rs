//! The two flavours of server the proxy talks to, MariaDB and MySQL 8, and every statement
//! whose text differs between them: session tracking, replication status, GTID positions and
//! waits. A connection learns its flavour once, from the server's version string.
use std::time::Duration;

use crate::gtid::{GtidFlavor, GtidSet};

/// The database flavour, from the version string: it decides the statements a check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// MariaDB: domain-based GTIDs, `SHOW ALL SLAVES STATUS`.
    MariaDb,
    /// MySQL 8: UUID-based GTID sets, `SHOW REPLICA STATUS`.
    MySql,
}

impl Flavor {
    /// `…-MariaDB…` is MariaDB; anything else is taken for MySQL.
    pub fn of(version: &str) -> Self {
        if version.to_ascii_lowercase().contains("mariadb") {
            Flavor::MariaDb
        } else {
            Flavor::MySql
        }
    }

    pub(crate) fn variables_sql(self) -> &'static str {
        match self {
            Flavor::MariaDb => {
                "SELECT @@global.read_only, @@global.gtid_binlog_pos, @@global.gtid_current_pos, \
                 @@global.server_id"
            }
            Flavor::MySql => {
                "SELECT @@global.read_only, @@global.gtid_executed, @@global.gtid_executed, \
                 @@global.server_id"
            }
        }
    }

    /// Turns on the tracking that tells the proxy what a statement changed in the session:
    /// variables, schema, and each write's GTID, which read-your-writes waits for (MariaDB
    /// tracks `last_gtid` as a variable; MySQL has a tracker of its own).
    pub(crate) fn tracking_sql(self) -> &'static [u8] {
        match self {
            Flavor::MariaDb => {
                b"SET SESSION session_track_system_variables = '*', \
                  session_track_schema = ON, session_track_state_change = ON"
            }
            Flavor::MySql => {
                b"SET SESSION session_track_system_variables = '*', \
                  session_track_schema = ON, session_track_state_change = ON, \
                  session_track_gtids = OWN_GTID"
            }
        }
    }

    /// The SQL that waits up to `timeout` for this server to apply `position`, or `None` when
    /// it cannot wait for it (a MySQL set on MariaDB or the reverse). The answer is one row,
    /// one column: 0 when applied.
    pub fn wait_sql(self, position: &GtidSet, timeout: Duration) -> Option<String> {
        // Milliseconds (rounded up, so a wait is never cut short) written as integers:
        // formatting a float on every causal read showed in profiles.
        let ms = timeout.as_micros().div_ceil(1000);
        let (s, ms) = (ms / 1000, ms % 1000);
        match (self, position.flavor()) {
            (Flavor::MariaDb, GtidFlavor::MariaDb) => Some(format!(
                "SELECT MASTER_GTID_WAIT('{position}', {s}.{ms:03})"
            )),
            (Flavor::MySql, GtidFlavor::MySql) => Some(format!(
                "SELECT WAIT_FOR_EXECUTED_GTID_SET('{position}', {s}.{ms:03})"
            )),
            _ => None,
        }
    }

    /// The GTID a write just committed on a connection is within: MariaDB's session
    /// `last_gtid`; MySQL has no per-session variable, so everything the server executed.
    pub(crate) fn last_write_gtid_sql(self) -> &'static str {
        match self {
            Flavor::MariaDb => "SELECT @@last_gtid",
            Flavor::MySql => "SELECT @@GLOBAL.gtid_executed",
        }
    }

    /// The primary's current position: every transaction it committed (what a read under
    /// `consistency: cluster` must see). One row, one column.
    pub(crate) fn position_sql(self) -> &'static str {
        match self {
            Flavor::MariaDb => "SELECT @@gtid_binlog_pos",
            Flavor::MySql => "SELECT @@GLOBAL.gtid_executed",
        }
    }

    pub(crate) fn status_sql(self) -> &'static str {
        match self {
            Flavor::MariaDb => "SHOW ALL SLAVES STATUS",
            Flavor::MySql => "SHOW REPLICA STATUS",
        }
    }

    pub(crate) fn replicas_sql(self) -> &'static str {
        match self {
            Flavor::MariaDb => "SHOW SLAVE HOSTS",
            Flavor::MySql => "SHOW REPLICAS",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavors_from_version_strings() {
        assert_eq!(Flavor::of("10.11.6-MariaDB-log"), Flavor::MariaDb);
        assert_eq!(Flavor::of("5.5.5-10.6.12-MariaDB"), Flavor::MariaDb);
        assert_eq!(Flavor::of("8.0.36"), Flavor::MySql);
        assert_eq!(Flavor::of("8.4.0-commercial"), Flavor::MySql);
    }

    #[test]
    fn the_primary_position_is_asked_in_each_flavours_words() {
        assert_eq!(Flavor::MariaDb.position_sql(), "SELECT @@gtid_binlog_pos");
        assert_eq!(
            Flavor::MySql.position_sql(),
            "SELECT @@GLOBAL.gtid_executed"
        );
    }

    #[test]
    fn waits_match_the_server_flavour() {
        let maria = GtidSet::parse("0-1-5").unwrap();
        let t = Duration::from_millis(1500);
        assert_eq!(
            Flavor::MariaDb.wait_sql(&maria, t).as_deref(),
            Some("SELECT MASTER_GTID_WAIT('0-1-5', 1.500)")
        );
        assert_eq!(Flavor::MySql.wait_sql(&maria, t), None);
        assert_eq!(
            Flavor::MariaDb
                .wait_sql(&maria, Duration::from_micros(2_000_400))
                .as_deref(),
            Some("SELECT MASTER_GTID_WAIT('0-1-5', 2.001)"),
            "a fraction of a millisecond rounds up"
        );
        let mysql = GtidSet::parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-7").unwrap();
        assert_eq!(
            Flavor::MySql.wait_sql(&mysql, t).as_deref(),
            Some(
                "SELECT WAIT_FOR_EXECUTED_GTID_SET('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-7', 1.500)"
            )
        );
    }
}
