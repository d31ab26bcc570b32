//! Capability flags (negotiated in the handshake) and server status flags
//! (carried by OK and EOF packets).

use bitflags::bitflags;

bitflags! {
    /// Capabilities a client and server announce in the handshake; the session
    /// uses their intersection.
    ///
    /// Bits 0–31 are MySQL's; bits 32–63 are MariaDB's extended capabilities,
    /// which travel in otherwise reserved bytes of the handshake packets when
    /// the MariaDB server clears [`CapabilityFlags::CLIENT_MYSQL`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct CapabilityFlags: u64 {
        /// Old "long password" flag; MariaDB servers clear it to say "I am MariaDB"
        /// (then called `CLIENT_MYSQL`).
        const CLIENT_LONG_PASSWORD = 1;
        /// Alias of [`Self::CLIENT_LONG_PASSWORD`] under its MariaDB name.
        const CLIENT_MYSQL = 1;
        /// Report rows found instead of rows changed in the affected-rows count.
        const CLIENT_FOUND_ROWS = 1 << 1;
        /// Column definitions carry the full 2-byte flags.
        const CLIENT_LONG_FLAG = 1 << 2;
        /// A database name may be given in the handshake response.
        const CLIENT_CONNECT_WITH_DB = 1 << 3;
        /// `db.table.column` is not allowed (deprecated).
        const CLIENT_NO_SCHEMA = 1 << 4;
        /// Use the compressed protocol.
        const CLIENT_COMPRESS = 1 << 5;
        /// ODBC behaviour (unused).
        const CLIENT_ODBC = 1 << 6;
        /// The client can answer `LOAD DATA LOCAL INFILE` requests.
        const CLIENT_LOCAL_FILES = 1 << 7;
        /// The parser ignores spaces before `(`.
        const CLIENT_IGNORE_SPACE = 1 << 8;
        /// The 4.1 protocol: SQL states in ERR, status and warnings in OK/EOF.
        const CLIENT_PROTOCOL_41 = 1 << 9;
        /// `wait_timeout` is `interactive_timeout` for this session.
        const CLIENT_INTERACTIVE = 1 << 10;
        /// The client will switch to TLS after an SSLRequest.
        const CLIENT_SSL = 1 << 11;
        /// Do not raise SIGPIPE (client library only).
        const CLIENT_IGNORE_SIGPIPE = 1 << 12;
        /// The client knows about transactions: status flags in OK packets.
        const CLIENT_TRANSACTIONS = 1 << 13;
        /// Reserved (old 4.1 protocol flag).
        const CLIENT_RESERVED = 1 << 14;
        /// 4.1 authentication: the auth response is length-prefixed.
        const CLIENT_SECURE_CONNECTION = 1 << 15;
        /// COM_QUERY may contain several `;`-separated statements.
        const CLIENT_MULTI_STATEMENTS = 1 << 16;
        /// The client can handle several result sets for one COM_QUERY.
        const CLIENT_MULTI_RESULTS = 1 << 17;
        /// The client can handle several result sets for one COM_STMT_EXECUTE.
        const CLIENT_PS_MULTI_RESULTS = 1 << 18;
        /// Pluggable authentication: plugin names in the handshake packets.
        const CLIENT_PLUGIN_AUTH = 1 << 19;
        /// Connection attributes in the handshake response.
        const CLIENT_CONNECT_ATTRS = 1 << 20;
        /// The auth response is a length-encoded string (may exceed 255 bytes).
        const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21;
        /// The client can handle the "password expired" sandbox mode.
        const CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS = 1 << 22;
        /// OK packets carry human-readable info and session state changes.
        const CLIENT_SESSION_TRACK = 1 << 23;
        /// Result sets end with an OK packet (header 0xFE) instead of EOF, and
        /// the EOF after column definitions is dropped.
        const CLIENT_DEPRECATE_EOF = 1 << 24;
        /// The server may omit result set metadata (MySQL 8).
        const CLIENT_OPTIONAL_RESULTSET_METADATA = 1 << 25;
        /// zstd compression (MySQL 8).
        const CLIENT_ZSTD_COMPRESSION_ALGORITHM = 1 << 26;
        /// COM_QUERY and COM_STMT_EXECUTE carry query attributes (MySQL 8).
        const CLIENT_QUERY_ATTRIBUTES = 1 << 27;
        /// Multi-factor authentication (MySQL 8).
        const MULTI_FACTOR_AUTHENTICATION = 1 << 28;
        /// Reserved for a capability extension.
        const CLIENT_CAPABILITY_EXTENSION = 1 << 29;
        /// Verify the server certificate (client library only).
        const CLIENT_SSL_VERIFY_SERVER_CERT = 1 << 30;
        /// Keep options after a failed connect (client library only).
        const CLIENT_REMEMBER_OPTIONS = 1 << 31;
        /// MariaDB: the client accepts progress-report packets (ERR with code 0xFFFF).
        const MARIADB_CLIENT_PROGRESS = 1 << 32;
        /// MariaDB: COM_MULTI (removed in 10.6).
        const MARIADB_CLIENT_COM_MULTI = 1 << 33;
        /// MariaDB: COM_STMT_BULK_EXECUTE.
        const MARIADB_CLIENT_STMT_BULK_OPERATIONS = 1 << 34;
        /// MariaDB: column definitions carry extended type info (e.g. `json`).
        const MARIADB_CLIENT_EXTENDED_TYPE_INFO = 1 << 35;
        /// MariaDB: COM_STMT_EXECUTE may skip column definitions already sent.
        const MARIADB_CLIENT_CACHE_METADATA = 1 << 36;
        /// MariaDB 11.5: bulk operations return one result per row.
        const MARIADB_CLIENT_BULK_UNIT_RESULTS = 1 << 37;
    }
}

impl CapabilityFlags {
    /// The lower 32 bits, as sent in the capability fields.
    pub fn mysql_bits(self) -> u32 {
        self.bits() as u32
    }

    /// The MariaDB extended bits (32–63) shifted down, as sent in the
    /// extended-capability field.
    pub fn mariadb_bits(self) -> u32 {
        (self.bits() >> 32) as u32
    }

    /// Builds flags from the MySQL and MariaDB 32-bit halves, keeping unknown bits.
    pub fn from_halves(mysql: u32, mariadb: u32) -> Self {
        Self::from_bits_retain(u64::from(mysql) | u64::from(mariadb) << 32)
    }

    /// True when the peer is a MariaDB server/client that uses extended capabilities.
    pub fn uses_mariadb_extensions(self) -> bool {
        !self.contains(Self::CLIENT_MYSQL)
    }
}

bitflags! {
    /// Server status, as sent in OK and EOF packets.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct StatusFlags: u16 {
        /// A transaction is open.
        const SERVER_STATUS_IN_TRANS = 1;
        /// Autocommit is on.
        const SERVER_STATUS_AUTOCOMMIT = 1 << 1;
        /// Another result set follows this one.
        const SERVER_MORE_RESULTS_EXISTS = 1 << 3;
        /// The query used a bad index.
        const SERVER_QUERY_NO_GOOD_INDEX_USED = 1 << 4;
        /// The query used no index.
        const SERVER_QUERY_NO_INDEX_USED = 1 << 5;
        /// COM_STMT_EXECUTE opened a read-only cursor; fetch rows with COM_STMT_FETCH.
        const SERVER_STATUS_CURSOR_EXISTS = 1 << 6;
        /// The last row of an open cursor has been sent.
        const SERVER_STATUS_LAST_ROW_SENT = 1 << 7;
        /// The current database was dropped.
        const SERVER_STATUS_DB_DROPPED = 1 << 8;
        /// `NO_BACKSLASH_ESCAPES` is in the SQL mode.
        const SERVER_STATUS_NO_BACKSLASH_ESCAPES = 1 << 9;
        /// A prepared statement's metadata changed since it was prepared.
        const SERVER_STATUS_METADATA_CHANGED = 1 << 10;
        /// The query was logged as slow.
        const SERVER_QUERY_WAS_SLOW = 1 << 11;
        /// The result set holds OUT parameters of a stored procedure.
        const SERVER_PS_OUT_PARAMS = 1 << 12;
        /// The open transaction is read-only.
        const SERVER_STATUS_IN_TRANS_READONLY = 1 << 13;
        /// Session state changed; the OK packet carries a session-state block.
        const SERVER_SESSION_STATE_CHANGED = 1 << 14;
    }
}

/// The client capabilities this crate fully supports; a proxy can offer these
/// (intersected with the backend's) to its clients.
pub const SUPPORTED_CAPABILITIES: CapabilityFlags = CapabilityFlags::CLIENT_LONG_PASSWORD
    .union(CapabilityFlags::CLIENT_FOUND_ROWS)
    .union(CapabilityFlags::CLIENT_LONG_FLAG)
    .union(CapabilityFlags::CLIENT_CONNECT_WITH_DB)
    .union(CapabilityFlags::CLIENT_LOCAL_FILES)
    .union(CapabilityFlags::CLIENT_IGNORE_SPACE)
    .union(CapabilityFlags::CLIENT_PROTOCOL_41)
    .union(CapabilityFlags::CLIENT_INTERACTIVE)
    .union(CapabilityFlags::CLIENT_SSL)
    .union(CapabilityFlags::CLIENT_TRANSACTIONS)
    .union(CapabilityFlags::CLIENT_SECURE_CONNECTION)
    .union(CapabilityFlags::CLIENT_MULTI_STATEMENTS)
    .union(CapabilityFlags::CLIENT_MULTI_RESULTS)
    .union(CapabilityFlags::CLIENT_PS_MULTI_RESULTS)
    .union(CapabilityFlags::CLIENT_PLUGIN_AUTH)
    .union(CapabilityFlags::CLIENT_CONNECT_ATTRS)
    .union(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
    .union(CapabilityFlags::CLIENT_SESSION_TRACK)
    .union(CapabilityFlags::CLIENT_DEPRECATE_EOF)
    .union(CapabilityFlags::CLIENT_QUERY_ATTRIBUTES);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_round_trip() {
        let f = CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::MARIADB_CLIENT_PROGRESS;
        assert_eq!(f.mysql_bits(), 1 << 9);
        assert_eq!(f.mariadb_bits(), 1);
        assert_eq!(
            CapabilityFlags::from_halves(f.mysql_bits(), f.mariadb_bits()),
            f
        );
        assert!(f.uses_mariadb_extensions());
    }
}
