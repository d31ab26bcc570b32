//! The response framing state machine: fed the server's packets one by one,
//! [`ResponseTracker`] says when the response to a command is complete.
//!
//! It looks at first bytes and, for terminators only, at the few header
//! fields that carry status; it never decodes rows or column definitions and
//! never allocates, so a proxy can run it on every packet it relays.
//!
//! Covered: OK/ERR answers, text and binary result sets, multi-results
//! (SERVER_MORE_RESULTS_EXISTS), COM_STMT_PREPARE responses, cursors
//! (COM_STMT_EXECUTE with SERVER_STATUS_CURSOR_EXISTS, then COM_STMT_FETCH),
//! LOCAL INFILE exchanges, COM_FIELD_LIST, COM_STATISTICS, COM_CHANGE_USER,
//! with or without CLIENT_DEPRECATE_EOF, and ERR at any point.

use crate::command::code;
use crate::error::{Error, Result};
use crate::flags::{CapabilityFlags, StatusFlags};
use crate::framing::MAX_FRAME_PAYLOAD;
use crate::response::{EOF_HEADER, ERR_HEADER, LOCAL_INFILE_HEADER, OK_HEADER, is_eof_like};
use crate::wire::Reader;

/// What shape of response a command gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No response at all (COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA).
    Nothing,
    /// One OK, ERR or EOF (COM_PING, COM_INIT_DB, COM_SET_OPTION, …).
    Simple,
    /// OK, ERR, LOCAL INFILE or result sets, possibly several (COM_QUERY,
    /// COM_STMT_EXECUTE).
    ResultSets,
    /// The COM_STMT_PREPARE response.
    Prepare,
    /// Rows then a terminator (COM_STMT_FETCH).
    Fetch,
    /// Column definitions then a terminator (COM_FIELD_LIST).
    FieldList,
    /// A single packet of text (COM_STATISTICS).
    Single,
    /// An authentication exchange ending in OK or ERR (COM_CHANGE_USER).
    Auth,
    /// An open-ended stream ending only in EOF or ERR (COM_BINLOG_DUMP).
    Stream,
}

impl Expect {
    /// The response shape for a command byte.
    pub fn for_command(command: u8) -> Self {
        match command {
            code::QUIT | code::STMT_CLOSE | code::STMT_SEND_LONG_DATA => Self::Nothing,
            // 0xFA is MariaDB's COM_STMT_BULK_EXECUTE: an OK, or result sets
            // with MARIADB_CLIENT_BULK_UNIT_RESULTS.
            code::QUERY | code::STMT_EXECUTE | 0xFA => Self::ResultSets,
            code::STMT_PREPARE => Self::Prepare,
            code::STMT_FETCH => Self::Fetch,
            code::FIELD_LIST => Self::FieldList,
            code::STATISTICS => Self::Single,
            code::CHANGE_USER => Self::Auth,
            code::BINLOG_DUMP | code::BINLOG_DUMP_GTID => Self::Stream,
            _ => Self::Simple,
        }
    }
}

/// How a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// An OK packet (header 0x00, or 0xFE under CLIENT_DEPRECATE_EOF). When
    /// [`Completion::status`] has SERVER_SESSION_STATE_CHANGED, decode the
    /// packet with [`crate::response::OkPacket::decode`] for the changes.
    Ok {
        /// Affected rows.
        affected_rows: u64,
        /// Last insert id.
        last_insert_id: u64,
    },
    /// An EOF packet.
    Eof,
    /// An ERR packet.
    Err {
        /// The error number.
        code: u16,
    },
    /// A successful COM_STMT_PREPARE: what the proxy must remember to decode
    /// COM_STMT_EXECUTE later.
    Prepared {
        /// Statement id.
        statement_id: u32,
        /// Number of parameters.
        num_params: u16,
        /// Number of result columns.
        num_columns: u16,
    },
    /// The COM_STATISTICS string.
    Text,
}

/// The result of a finished response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// Status after the response (unchanged from before on ERR, which carries none).
    pub status: StatusFlags,
    /// Warnings reported by the final OK/EOF.
    pub warnings: u16,
    /// The final packet.
    pub end: End,
}

/// What the tracker says after a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The response continues; relay and read on.
    More,
    /// The server waits for the client: relay client packets (LOCAL INFILE
    /// data with [`ResponseTracker::feed_client`], or an auth reply) then read on.
    NeedClient,
    /// The response continues, and this packet is an OK that carries
    /// session-state changes (SERVER_SESSION_STATE_CHANGED) before the last
    /// result: e.g. the `USE db` of `USE db; SELECT 1`. Decode it with
    /// [`crate::response::OkPacket::decode`] so no change is missed, then read on.
    MoreWithSessionState,
    /// This packet was the last one of the response.
    Done(Completion),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Simple,
    ResultStart,
    Columns { left: u64 },
    ColumnsEof,
    Rows,
    PrepareFirst,
    PrepareParams { left: u16, columns: u16 },
    PrepareParamsEof { columns: u16 },
    PrepareColumns { left: u16 },
    PrepareColumnsEof,
    FieldList,
    Single,
    Auth,
    Stream,
    InfileClient,
    InfileResult,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Idle => "no response is expected",
            State::Simple => "waiting for OK/ERR",
            State::ResultStart => "waiting for a result",
            State::Columns { .. } => "reading column definitions",
            State::ColumnsEof => "waiting for EOF after column definitions",
            State::Rows => "reading rows",
            State::PrepareFirst => "waiting for COM_STMT_PREPARE OK",
            State::PrepareParams { .. } => "reading parameter definitions",
            State::PrepareParamsEof { .. } => "waiting for EOF after parameters",
            State::PrepareColumns { .. } => "reading prepared column definitions",
            State::PrepareColumnsEof => "waiting for EOF after prepared columns",
            State::FieldList => "reading COM_FIELD_LIST columns",
            State::Single => "waiting for a text packet",
            State::Auth => "authenticating",
            State::Stream => "streaming",
            State::InfileClient => "waiting for the client's LOCAL INFILE data",
            State::InfileResult => "waiting for the LOCAL INFILE result",
        }
    }
}

/// Tracks one response at a time on one backend connection.
#[derive(Debug, Clone)]
pub struct ResponseTracker {
    deprecate_eof: bool,
    protocol_41: bool,
    progress: bool,
    /// The column-count packet carries a "metadata follows" byte: MySQL's
    /// CLIENT_OPTIONAL_RESULTSET_METADATA or MariaDB's
    /// MARIADB_CLIENT_CACHE_METADATA (which the `mariadb` CLI negotiates).
    metadata_flag: bool,
    state: State,
    status: StatusFlags,
    /// The last server frame was 0xFFFFFF long: the next one continues it.
    server_continues: bool,
    /// Same for the client's LOCAL INFILE frames.
    client_continues: bool,
    prepared: (u32, u16, u16),
    warnings: u16,
    /// Rows seen in the current response (every result set of it).
    rows: u64,
}

impl ResponseTracker {
    /// A tracker for a session with the negotiated `caps`.
    pub fn new(caps: CapabilityFlags) -> Self {
        Self {
            deprecate_eof: caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF),
            protocol_41: caps.contains(CapabilityFlags::CLIENT_PROTOCOL_41),
            progress: caps.contains(CapabilityFlags::MARIADB_CLIENT_PROGRESS),
            metadata_flag: caps.intersects(
                CapabilityFlags::CLIENT_OPTIONAL_RESULTSET_METADATA
                    | CapabilityFlags::MARIADB_CLIENT_CACHE_METADATA,
            ),
            state: State::Idle,
            status: StatusFlags::empty(),
            server_continues: false,
            client_continues: false,
            prepared: (0, 0, 0),
            warnings: 0,
            rows: 0,
        }
    }

    /// Starts tracking the response to the command whose first byte is `command`.
    pub fn start(&mut self, command: u8) {
        self.start_expect(Expect::for_command(command));
    }

    /// Starts tracking a response of the given shape.
    pub fn start_expect(&mut self, expect: Expect) {
        self.server_continues = false;
        self.client_continues = false;
        self.warnings = 0;
        self.rows = 0;
        self.state = match expect {
            Expect::Nothing => State::Idle,
            Expect::Simple => State::Simple,
            Expect::ResultSets => State::ResultStart,
            Expect::Prepare => State::PrepareFirst,
            Expect::Fetch => State::Rows,
            Expect::FieldList => State::FieldList,
            Expect::Single => State::Single,
            Expect::Auth => State::Auth,
            Expect::Stream => State::Stream,
        };
    }

    /// True when no response is in progress.
    pub fn is_done(&self) -> bool {
        self.state == State::Idle
    }

    /// True while the server waits for the client's LOCAL INFILE data.
    pub fn awaiting_client(&self) -> bool {
        self.state == State::InfileClient
    }

    /// Rows the current (or just finished) response carried, over all its result sets.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The latest server status seen (from OK and EOF packets).
    pub fn status(&self) -> StatusFlags {
        self.status
    }

    /// Feeds one server frame as it came off the wire (payload of at most
    /// 0xFFFFFF bytes); continuation frames of a large packet are passed over.
    #[inline]
    pub fn feed_frame(&mut self, payload: &[u8]) -> Result<Step> {
        let continuation = self.server_continues;
        self.server_continues = payload.len() == MAX_FRAME_PAYLOAD;
        if continuation {
            return Ok(Step::More);
        }
        self.feed(payload)
    }

    /// Feeds one whole (reassembled) server packet.
    #[inline]
    pub fn feed(&mut self, payload: &[u8]) -> Result<Step> {
        let Some(&first) = payload.first() else {
            return self.unexpected(0);
        };
        if first == ERR_HEADER && self.state != State::Idle && self.state != State::InfileClient {
            if self.progress && payload.get(1..3) == Some(&[0xFF, 0xFF]) {
                return Ok(Step::More);
            }
            let code = Reader::new(payload.get(1..).unwrap_or_default())
                .u16()
                .unwrap_or(0);
            return Ok(self.done(End::Err { code }));
        }
        match self.state {
            State::Rows => {
                if is_eof_like(first, payload.len()) {
                    self.terminator(payload)
                } else {
                    self.rows += 1;
                    Ok(Step::More)
                }
            }
            State::Columns { left } => {
                self.state = match left {
                    0 | 1 if self.deprecate_eof => State::Rows,
                    0 | 1 => State::ColumnsEof,
                    n => State::Columns { left: n - 1 },
                };
                Ok(Step::More)
            }
            State::ResultStart => match first {
                OK_HEADER => self.terminator(payload),
                LOCAL_INFILE_HEADER => {
                    self.state = State::InfileClient;
                    Ok(Step::NeedClient)
                }
                EOF_HEADER if is_eof_like(first, payload.len()) => self.terminator(payload),
                _ => {
                    let mut r = Reader::new(payload);
                    let count = r.lenenc_int()?;
                    // With the flag at 0 the definitions are skipped; the EOF
                    // that closes the metadata section is still sent without
                    // CLIENT_DEPRECATE_EOF.
                    let metadata = !self.metadata_flag || r.u8()? != 0;
                    self.state = match (count, metadata) {
                        (0, _) => return self.unexpected(first),
                        (_, false) if self.deprecate_eof => State::Rows,
                        (_, false) => State::ColumnsEof,
                        (n, true) => State::Columns { left: n },
                    };
                    Ok(Step::More)
                }
            },
            State::ColumnsEof => {
                if first != EOF_HEADER {
                    return self.unexpected(first);
                }
                self.read_status(payload)?;
                if self
                    .status
                    .contains(StatusFlags::SERVER_STATUS_CURSOR_EXISTS)
                {
                    return Ok(self.done(End::Eof));
                }
                self.state = State::Rows;
                Ok(Step::More)
            }
            State::Simple | State::InfileResult => match first {
                OK_HEADER | EOF_HEADER => self.terminator(payload),
                _ => self.unexpected(first),
            },
            State::PrepareFirst => self.prepare_ok(payload),
            State::PrepareParams { left, columns } => {
                self.state = match left {
                    0 | 1 if self.deprecate_eof => return self.prepare_columns(columns),
                    0 | 1 => State::PrepareParamsEof { columns },
                    n => State::PrepareParams {
                        left: n - 1,
                        columns,
                    },
                };
                Ok(Step::More)
            }
            State::PrepareParamsEof { columns } => {
                if first != EOF_HEADER {
                    return self.unexpected(first);
                }
                self.read_status(payload)?;
                self.prepare_columns(columns)
            }
            State::PrepareColumns { left } => {
                if left <= 1 {
                    if self.deprecate_eof {
                        return Ok(self.done_prepared());
                    }
                    self.state = State::PrepareColumnsEof;
                } else {
                    self.state = State::PrepareColumns { left: left - 1 };
                }
                Ok(Step::More)
            }
            State::PrepareColumnsEof => {
                if first != EOF_HEADER {
                    return self.unexpected(first);
                }
                self.read_status(payload)?;
                Ok(self.done_prepared())
            }
            State::FieldList | State::Stream => {
                if is_eof_like(first, payload.len()) {
                    self.terminator(payload)
                } else {
                    Ok(Step::More)
                }
            }
            State::Single => Ok(self.done(End::Text)),
            State::Auth => match first {
                OK_HEADER => self.terminator(payload),
                // AuthMoreData "fast auth succeeded": an OK follows.
                0x01 if payload.get(1) == Some(&0x03) => Ok(Step::More),
                _ => Ok(Step::NeedClient),
            },
            State::Idle | State::InfileClient => self.unexpected(first),
        }
    }

    /// Feeds one client frame while [`ResponseTracker::awaiting_client`] (LOCAL
    /// INFILE data); the empty frame that ends the file moves the tracker on.
    pub fn feed_client(&mut self, payload: &[u8]) -> Result<Step> {
        if self.state != State::InfileClient {
            return Err(Error::UnexpectedPacket {
                state: self.state.name(),
                byte: payload.first().copied().unwrap_or(0),
            });
        }
        let continuation = self.client_continues;
        self.client_continues = payload.len() == MAX_FRAME_PAYLOAD;
        if payload.is_empty() && !continuation {
            self.state = State::InfileResult;
            return Ok(Step::More);
        }
        Ok(Step::NeedClient)
    }

    fn unexpected(&mut self, byte: u8) -> Result<Step> {
        let state = self.state.name();
        self.state = State::Idle;
        Err(Error::UnexpectedPacket { state, byte })
    }

    fn done(&mut self, end: End) -> Step {
        self.state = State::Idle;
        Step::Done(Completion {
            status: self.status,
            warnings: self.warnings,
            end,
        })
    }

    /// Reads warnings and status from an EOF packet.
    fn read_status(&mut self, payload: &[u8]) -> Result<()> {
        if self.protocol_41 {
            let mut r = Reader::new(payload.get(1..).unwrap_or_default());
            self.warnings = r.u16()?;
            self.status = StatusFlags::from_bits_retain(r.u16()?);
        }
        Ok(())
    }

    /// An OK or EOF that ends a result (or the whole response).
    fn terminator(&mut self, payload: &[u8]) -> Result<Step> {
        let end = if payload.first() == Some(&OK_HEADER) || self.deprecate_eof {
            let mut r = Reader::new(payload.get(1..).unwrap_or_default());
            let affected_rows = r.lenenc_int()?;
            let last_insert_id = r.lenenc_int()?;
            if self.protocol_41 {
                self.status = StatusFlags::from_bits_retain(r.u16()?);
                self.warnings = r.u16()?;
            }
            End::Ok {
                affected_rows,
                last_insert_id,
            }
        } else {
            self.read_status(payload)?;
            End::Eof
        };
        if self
            .status
            .contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS)
            && matches!(
                self.state,
                State::Rows | State::ResultStart | State::InfileResult
            )
        {
            self.state = State::ResultStart;
            let tracked = matches!(end, End::Ok { .. })
                && self
                    .status
                    .contains(StatusFlags::SERVER_SESSION_STATE_CHANGED);
            return Ok(if tracked {
                Step::MoreWithSessionState
            } else {
                Step::More
            });
        }
        Ok(self.done(end))
    }

    fn prepare_ok(&mut self, payload: &[u8]) -> Result<Step> {
        let mut r = Reader::new(payload);
        let first = r.u8()?;
        if first != OK_HEADER {
            return self.unexpected(first);
        }
        let statement_id = r.u32()?;
        let mut columns = r.u16()?;
        let mut params = r.u16()?;
        if r.remaining() >= 3 {
            r.u8()?;
            self.warnings = r.u16()?;
        }
        if self.metadata_flag && r.peek() == Some(0) {
            columns = 0;
            params = 0;
        }
        self.prepared = (statement_id, params, columns);
        if params > 0 {
            self.state = State::PrepareParams {
                left: params,
                columns,
            };
            return Ok(Step::More);
        }
        self.prepare_columns(columns)
    }

    fn prepare_columns(&mut self, columns: u16) -> Result<Step> {
        if columns == 0 {
            return Ok(self.done_prepared());
        }
        self.state = State::PrepareColumns { left: columns };
        Ok(Step::More)
    }

    fn done_prepared(&mut self) -> Step {
        let (statement_id, num_params, num_columns) = self.prepared;
        self.done(End::Prepared {
            statement_id,
            num_params,
            num_columns,
        })
    }
}
