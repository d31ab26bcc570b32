//! Error codes and SQL states of the errors a proxy reports itself.

/// A MySQL error number with its SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode {
    /// The error number, e.g. 1045.
    pub code: u16,
    /// The five-character SQLSTATE, e.g. `28000`.
    pub sql_state: &'static str,
}

const fn e(code: u16, sql_state: &'static str) -> ErrorCode {
    ErrorCode { code, sql_state }
}

/// The error codes a proxy needs, named as in MySQL's `mysqld_error.h` / `errmsg.h`.
pub mod code {
    use super::{ErrorCode, e};

    /// 1040: too many connections.
    pub const ER_CON_COUNT_ERROR: ErrorCode = e(1040, "08004");
    /// 1043: bad handshake.
    pub const ER_HANDSHAKE_ERROR: ErrorCode = e(1043, "08S01");
    /// 1044: access denied to a database.
    pub const ER_DBACCESS_DENIED_ERROR: ErrorCode = e(1044, "42000");
    /// 1045: access denied (wrong user or password).
    pub const ER_ACCESS_DENIED_ERROR: ErrorCode = e(1045, "28000");
    /// 1046: no database selected.
    pub const ER_NO_DB_ERROR: ErrorCode = e(1046, "3D000");
    /// 1047: unknown command.
    pub const ER_UNKNOWN_COM_ERROR: ErrorCode = e(1047, "08S01");
    /// 1049: unknown database.
    pub const ER_BAD_DB_ERROR: ErrorCode = e(1049, "42000");
    /// 1064: SQL syntax error.
    pub const ER_PARSE_ERROR: ErrorCode = e(1064, "42000");
    /// 1105: unknown error.
    pub const ER_UNKNOWN_ERROR: ErrorCode = e(1105, "HY000");
    /// 1153: packet bigger than `max_allowed_packet`.
    pub const ER_NET_PACKET_TOO_LARGE: ErrorCode = e(1153, "08S01");
    /// 1156: packets out of order.
    pub const ER_NET_PACKETS_OUT_OF_ORDER: ErrorCode = e(1156, "08S01");
    /// 1158: error reading communication packets.
    pub const ER_NET_READ_ERROR: ErrorCode = e(1158, "08S01");
    /// 1159: timeout reading communication packets.
    pub const ER_NET_READ_INTERRUPTED: ErrorCode = e(1159, "08S01");
    /// 1160: error writing communication packets.
    pub const ER_NET_ERROR_ON_WRITE: ErrorCode = e(1160, "08S01");
    /// 1161: timeout writing communication packets.
    pub const ER_NET_WRITE_INTERRUPTED: ErrorCode = e(1161, "08S01");
    /// 1184: aborted connection.
    pub const ER_NEW_ABORTING_CONNECTION: ErrorCode = e(1184, "08S01");
    /// 1203: user has too many connections.
    pub const ER_TOO_MANY_USER_CONNECTIONS: ErrorCode = e(1203, "42000");
    /// 1205: lock wait timeout.
    pub const ER_LOCK_WAIT_TIMEOUT: ErrorCode = e(1205, "HY000");
    /// 1213: deadlock.
    pub const ER_LOCK_DEADLOCK: ErrorCode = e(1213, "40001");
    /// 1243: unknown prepared statement handler.
    pub const ER_UNKNOWN_STMT_HANDLER: ErrorCode = e(1243, "HY000");
    /// 1251: client does not support the authentication protocol.
    pub const ER_NOT_SUPPORTED_AUTH_MODE: ErrorCode = e(1251, "08004");
    /// 1290: server running with an option that prevents the statement (e.g. `--read-only`).
    pub const ER_OPTION_PREVENTS_STATEMENT: ErrorCode = e(1290, "HY000");
    /// 1295: command not supported in the prepared statement protocol.
    pub const ER_UNSUPPORTED_PS: ErrorCode = e(1295, "HY000");
    /// 1317: query execution was interrupted.
    pub const ER_QUERY_INTERRUPTED: ErrorCode = e(1317, "70100");
    /// 1792: statement not allowed in a read-only transaction.
    pub const ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: ErrorCode = e(1792, "25006");
    /// 1835: malformed communication packet.
    pub const ER_MALFORMED_PACKET: ErrorCode = e(1835, "HY000");
    /// 1927: connection was killed (MariaDB).
    pub const ER_CONNECTION_KILLED: ErrorCode = e(1927, "70100");
    /// 1969: statement timeout (MariaDB `max_statement_time`).
    pub const ER_STATEMENT_TIMEOUT: ErrorCode = e(1969, "70100");
    /// 2013: lost connection to server during query (client-side error).
    pub const CR_SERVER_LOST: ErrorCode = e(2013, "HY000");
}
