//! The command phase: what a client asks for, as a typed [`Command`] that
//! borrows the packet payload.
//!
//! Every command byte decodes: the ones a proxy needs have their own variant,
//! replication commands are recognised so the server can refuse them clearly,
//! and anything else becomes [`Command::Unknown`]. Decoding never panics.

mod query;

pub use query::{Query, QueryAttribute};

use bytes::{BufMut, BytesMut};

use crate::error::{Error, Result};
use crate::flags::CapabilityFlags;
use crate::handshake::ChangeUser;
use crate::prepared::StmtExecute;
use crate::wire::{Reader, WriteExt};

/// Command bytes (`enum_server_command`).
pub mod code {
    /// COM_SLEEP (internal).
    pub const SLEEP: u8 = 0x00;
    /// COM_QUIT.
    pub const QUIT: u8 = 0x01;
    /// COM_INIT_DB.
    pub const INIT_DB: u8 = 0x02;
    /// COM_QUERY.
    pub const QUERY: u8 = 0x03;
    /// COM_FIELD_LIST.
    pub const FIELD_LIST: u8 = 0x04;
    /// COM_STATISTICS.
    pub const STATISTICS: u8 = 0x09;
    /// COM_PROCESS_KILL.
    pub const PROCESS_KILL: u8 = 0x0C;
    /// COM_DEBUG.
    pub const DEBUG: u8 = 0x0D;
    /// COM_PING.
    pub const PING: u8 = 0x0E;
    /// COM_CHANGE_USER.
    pub const CHANGE_USER: u8 = 0x11;
    /// COM_BINLOG_DUMP.
    pub const BINLOG_DUMP: u8 = 0x12;
    /// COM_REGISTER_SLAVE.
    pub const REGISTER_SLAVE: u8 = 0x15;
    /// COM_STMT_PREPARE.
    pub const STMT_PREPARE: u8 = 0x16;
    /// COM_STMT_EXECUTE.
    pub const STMT_EXECUTE: u8 = 0x17;
    /// COM_STMT_SEND_LONG_DATA.
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    /// COM_STMT_CLOSE.
    pub const STMT_CLOSE: u8 = 0x19;
    /// COM_STMT_RESET.
    pub const STMT_RESET: u8 = 0x1A;
    /// COM_SET_OPTION.
    pub const SET_OPTION: u8 = 0x1B;
    /// COM_STMT_FETCH.
    pub const STMT_FETCH: u8 = 0x1C;
    /// COM_BINLOG_DUMP_GTID (MySQL).
    pub const BINLOG_DUMP_GTID: u8 = 0x1E;
    /// COM_RESET_CONNECTION.
    pub const RESET_CONNECTION: u8 = 0x1F;
}

/// The name a server gives a command in its process list (`SHOW PROCESSLIST`'s `Command`
/// column), by command byte: MariaDB's and MySQL's `command_name` table for 0x00..=0x1F
/// (`Sleep` is the state between commands); `None` past it.
pub fn name(command: u8) -> Option<&'static str> {
    const NAMES: [&str; 32] = [
        "Sleep",
        "Quit",
        "Init DB",
        "Query",
        "Field List",
        "Create DB",
        "Drop DB",
        "Refresh",
        "Shutdown",
        "Statistics",
        "Processlist",
        "Connect",
        "Kill",
        "Debug",
        "Ping",
        "Time",
        "Delayed insert",
        "Change user",
        "Binlog Dump",
        "Table Dump",
        "Connect Out",
        "Register Slave",
        "Prepare",
        "Execute",
        "Long Data",
        "Close stmt",
        "Reset stmt",
        "Set option",
        "Fetch",
        "Daemon",
        "Unimpl get tid",
        "Reset connection",
    ];
    NAMES.get(usize::from(command)).copied()
}

/// The argument of COM_SET_OPTION.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOption {
    /// `MYSQL_OPTION_MULTI_STATEMENTS_ON` (0).
    MultiStatementsOn,
    /// `MYSQL_OPTION_MULTI_STATEMENTS_OFF` (1).
    MultiStatementsOff,
    /// Any other value; the server answers with an error.
    Other(u16),
}

impl SetOption {
    fn from_u16(v: u16) -> Self {
        match v {
            0 => Self::MultiStatementsOn,
            1 => Self::MultiStatementsOff,
            o => Self::Other(o),
        }
    }

    fn as_u16(self) -> u16 {
        match self {
            Self::MultiStatementsOn => 0,
            Self::MultiStatementsOff => 1,
            Self::Other(o) => o,
        }
    }
}

/// A client command, borrowing the packet payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Command<'a> {
    /// COM_QUIT: close the connection; no response.
    Quit,
    /// COM_INIT_DB: `USE schema`.
    InitDb {
        /// The schema name.
        schema: &'a [u8],
    },
    /// COM_QUERY.
    Query(Query<'a>),
    /// COM_FIELD_LIST (deprecated): column definitions of a table.
    FieldList {
        /// Table name.
        table: &'a [u8],
        /// Column-name wildcard (may be empty).
        wildcard: &'a [u8],
    },
    /// COM_STATISTICS: a human-readable status string.
    Statistics,
    /// COM_PROCESS_KILL: kill a connection (deprecated for `KILL`).
    ProcessKill {
        /// Server thread id to kill.
        connection_id: u32,
    },
    /// COM_DEBUG: dump debug info into the server log.
    Debug,
    /// COM_PING.
    Ping,
    /// COM_CHANGE_USER.
    ChangeUser(ChangeUser<'a>),
    /// COM_RESET_CONNECTION: reset session state without re-authenticating.
    ResetConnection,
    /// COM_SET_OPTION.
    SetOption(SetOption),
    /// COM_STMT_PREPARE.
    StmtPrepare {
        /// The statement text.
        query: &'a [u8],
    },
    /// COM_STMT_EXECUTE; parameters are decoded lazily because that needs the
    /// statement's parameter count ([`StmtExecute::params`]).
    StmtExecute(StmtExecute<'a>),
    /// COM_STMT_SEND_LONG_DATA: a chunk of one parameter; no response.
    StmtSendLongData {
        /// Statement id.
        statement_id: u32,
        /// Parameter index.
        param_id: u16,
        /// The data chunk.
        data: &'a [u8],
    },
    /// COM_STMT_CLOSE; no response.
    StmtClose {
        /// Statement id.
        statement_id: u32,
    },
    /// COM_STMT_RESET.
    StmtReset {
        /// Statement id.
        statement_id: u32,
    },
    /// COM_STMT_FETCH: rows from an open cursor.
    StmtFetch {
        /// Statement id.
        statement_id: u32,
        /// Maximum rows to return.
        num_rows: u32,
    },
    /// COM_BINLOG_DUMP: a binlog stream from a file and position. Its fixed part is required: a
    /// MariaDB server reads a shorter one's fields from whatever its buffer held before, and a
    /// server id read that way that matches a real replica's disconnects that replica.
    BinlogDump {
        /// Where in the file the stream starts.
        position: u32,
        /// `BINLOG_DUMP_NON_BLOCK` (1), `BINLOG_SEND_ANNOTATE_ROWS_EVENT` (2).
        flags: u16,
        /// The client's server id (0: a one-off reader such as `mariadb-binlog`).
        server_id: u32,
        /// The binlog file name; empty for "the first one" or with GTIDs.
        file: &'a [u8],
    },
    /// COM_BINLOG_DUMP_GTID (MySQL): checked to hold flags, server id, file name and position
    /// (the GTID set that may follow is not looked at).
    BinlogDumpGtid {
        /// The client's server id.
        server_id: u32,
        /// The whole body, server id included.
        body: &'a [u8],
    },
    /// COM_REGISTER_SLAVE (replication; recognised so it can be refused).
    RegisterSlave {
        /// The undecoded body.
        body: &'a [u8],
    },
    /// Any other command byte.
    Unknown {
        /// The command byte.
        code: u8,
        /// The rest of the payload.
        body: &'a [u8],
    },
}

impl<'a> Command<'a> {
    /// Decodes a command payload. `caps` are the session's negotiated
    /// capabilities (query attributes and COM_CHANGE_USER depend on them).
    pub fn decode(payload: &'a [u8], caps: CapabilityFlags) -> Result<Self> {
        let Some((&c, body)) = payload.split_first() else {
            return Err(Error::Truncated { need: 1, have: 0 });
        };
        let mut r = Reader::new(body);
        let cmd = match c {
            code::QUIT => Self::Quit,
            code::INIT_DB => Self::InitDb { schema: body },
            code::QUERY => Self::Query(Query::decode_body(body, caps)?),
            code::FIELD_LIST => Self::FieldList {
                table: r.nul_bytes_or_rest(),
                wildcard: r.rest(),
            },
            code::STATISTICS => Self::Statistics,
            code::PROCESS_KILL => Self::ProcessKill {
                connection_id: r.u32()?,
            },
            code::DEBUG => Self::Debug,
            code::PING => Self::Ping,
            code::CHANGE_USER => Self::ChangeUser(ChangeUser::decode_body(body, caps)?),
            code::RESET_CONNECTION => Self::ResetConnection,
            code::SET_OPTION => Self::SetOption(SetOption::from_u16(r.u16()?)),
            code::STMT_PREPARE => Self::StmtPrepare { query: body },
            code::STMT_EXECUTE => Self::StmtExecute(StmtExecute::decode_body(body)?),
            code::STMT_SEND_LONG_DATA => Self::StmtSendLongData {
                statement_id: r.u32()?,
                param_id: r.u16()?,
                data: r.rest(),
            },
            code::STMT_CLOSE => Self::StmtClose {
                statement_id: r.u32()?,
            },
            code::STMT_RESET => Self::StmtReset {
                statement_id: r.u32()?,
            },
            code::STMT_FETCH => Self::StmtFetch {
                statement_id: r.u32()?,
                num_rows: r.u32()?,
            },
            code::BINLOG_DUMP => Self::BinlogDump {
                position: r.u32()?,
                flags: r.u16()?,
                server_id: r.u32()?,
                file: r.rest(),
            },
            code::BINLOG_DUMP_GTID => {
                let _flags = r.u16()?;
                let server_id = r.u32()?;
                let name_len = r.u32()?;
                r.bytes(usize::try_from(name_len).unwrap_or(usize::MAX))?;
                let _position = r.u64()?;
                Self::BinlogDumpGtid { server_id, body }
            }
            code::REGISTER_SLAVE => Self::RegisterSlave { body },
            code => Self::Unknown { code, body },
        };
        Ok(cmd)
    }

    /// The command byte.
    pub fn code(&self) -> u8 {
        match self {
            Self::Quit => code::QUIT,
            Self::InitDb { .. } => code::INIT_DB,
            Self::Query(_) => code::QUERY,
            Self::FieldList { .. } => code::FIELD_LIST,
            Self::Statistics => code::STATISTICS,
            Self::ProcessKill { .. } => code::PROCESS_KILL,
            Self::Debug => code::DEBUG,
            Self::Ping => code::PING,
            Self::ChangeUser(_) => code::CHANGE_USER,
            Self::ResetConnection => code::RESET_CONNECTION,
            Self::SetOption(_) => code::SET_OPTION,
            Self::StmtPrepare { .. } => code::STMT_PREPARE,
            Self::StmtExecute(_) => code::STMT_EXECUTE,
            Self::StmtSendLongData { .. } => code::STMT_SEND_LONG_DATA,
            Self::StmtClose { .. } => code::STMT_CLOSE,
            Self::StmtReset { .. } => code::STMT_RESET,
            Self::StmtFetch { .. } => code::STMT_FETCH,
            Self::BinlogDump { .. } => code::BINLOG_DUMP,
            Self::BinlogDumpGtid { .. } => code::BINLOG_DUMP_GTID,
            Self::RegisterSlave { .. } => code::REGISTER_SLAVE,
            Self::Unknown { code, .. } => *code,
        }
    }

    /// Appends the whole payload (command byte included) to `dst`.
    pub fn encode(&self, caps: CapabilityFlags, dst: &mut BytesMut) {
        if let Self::ChangeUser(cu) = self {
            cu.encode(caps, dst);
            return;
        }
        dst.put_u8(self.code());
        match self {
            Self::Quit
            | Self::Statistics
            | Self::Debug
            | Self::Ping
            | Self::ResetConnection
            | Self::ChangeUser(_) => {}
            Self::InitDb { schema: b }
            | Self::StmtPrepare { query: b }
            | Self::BinlogDumpGtid { body: b, .. }
            | Self::RegisterSlave { body: b }
            | Self::Unknown { body: b, .. } => dst.put_slice(b),
            Self::Query(q) => q.encode_body(caps, dst),
            Self::FieldList { table, wildcard } => {
                dst.put_nul_bytes(table);
                dst.put_slice(wildcard);
            }
            Self::ProcessKill { connection_id } => dst.put_u32_le(*connection_id),
            Self::BinlogDump {
                position,
                flags,
                server_id,
                file,
            } => {
                dst.put_u32_le(*position);
                dst.put_u16_le(*flags);
                dst.put_u32_le(*server_id);
                dst.put_slice(file);
            }
            Self::SetOption(o) => dst.put_u16_le(o.as_u16()),
            Self::StmtExecute(e) => e.encode_body(dst),
            Self::StmtSendLongData {
                statement_id,
                param_id,
                data,
            } => {
                dst.put_u32_le(*statement_id);
                dst.put_u16_le(*param_id);
                dst.put_slice(data);
            }
            Self::StmtClose { statement_id } | Self::StmtReset { statement_id } => {
                dst.put_u32_le(*statement_id);
            }
            Self::StmtFetch {
                statement_id,
                num_rows,
            } => {
                dst.put_u32_le(*statement_id);
                dst.put_u32_le(*num_rows);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_names_follow_the_codes() {
        assert_eq!(name(code::SLEEP), Some("Sleep"));
        assert_eq!(name(code::QUERY), Some("Query"));
        assert_eq!(name(code::INIT_DB), Some("Init DB"));
        assert_eq!(name(code::STMT_PREPARE), Some("Prepare"));
        assert_eq!(name(code::STMT_EXECUTE), Some("Execute"));
        assert_eq!(name(code::STMT_FETCH), Some("Fetch"));
        assert_eq!(name(code::RESET_CONNECTION), Some("Reset connection"));
        assert_eq!(name(0x20), None);
        assert_eq!(name(0xFF), None);
    }

    #[test]
    fn decodes_simple_commands() {
        let caps = CapabilityFlags::CLIENT_PROTOCOL_41;
        assert_eq!(Command::decode(b"\x0e", caps), Ok(Command::Ping));
        assert_eq!(
            Command::decode(b"\x03SELECT 1", caps),
            Ok(Command::Query(Query {
                attributes: Vec::new(),
                sql: b"SELECT 1"
            }))
        );
        assert_eq!(
            Command::decode(b"\x19\x01\x00\x00\x00", caps),
            Ok(Command::StmtClose { statement_id: 1 })
        );
        assert_eq!(
            Command::decode(b"\x20xyz", caps),
            Ok(Command::Unknown {
                code: 0x20,
                body: b"xyz"
            })
        );
        assert_eq!(
            Command::decode(b"\x19\x01", caps),
            Err(Error::Truncated { need: 4, have: 1 })
        );
        assert!(Command::decode(b"", caps).is_err());
    }

    #[test]
    fn binlog_dumps_need_their_fixed_part() {
        let caps = CapabilityFlags::CLIENT_PROTOCOL_41;
        assert_eq!(
            Command::decode(
                b"\x12\x04\x00\x00\x00\x00\x00\x07\x00\x00\x00bin.000001",
                caps
            ),
            Ok(Command::BinlogDump {
                position: 4,
                flags: 0,
                server_id: 7,
                file: b"bin.000001"
            })
        );
        // Only the command byte, or a server id cut short: the server would read the rest
        // from its buffer.
        assert_eq!(
            Command::decode(b"\x12", caps),
            Err(Error::Truncated { need: 4, have: 0 })
        );
        assert_eq!(
            Command::decode(b"\x12\x04\x00\x00\x00\x00\x00\x07\x00", caps),
            Err(Error::Truncated { need: 4, have: 2 })
        );
        // COM_BINLOG_DUMP_GTID: flags, server id, a 3-byte name and a position, then data.
        let gtid =
            b"\x1e\x00\x00\x07\x00\x00\x00\x03\x00\x00\x00abc\x04\x00\x00\x00\x00\x00\x00\x00";
        assert!(matches!(
            Command::decode(gtid, caps),
            Ok(Command::BinlogDumpGtid { server_id: 7, .. })
        ));
        assert!(Command::decode(&gtid[..gtid.len() - 1], caps).is_err());
        let huge_name = b"\x1e\x00\x00\x07\x00\x00\x00\xff\xff\xff\xffabc";
        assert!(Command::decode(huge_name, caps).is_err());
    }
}
