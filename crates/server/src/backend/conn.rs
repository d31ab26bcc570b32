//! One connection to a backend server, the proxy acting as a MySQL client: connecting and
//! logging in with the client's credentials, turning on session-state tracking, running the
//! proxy's own statements, and the state it holds (schema, replayed variables).
use std::time::{Duration, Instant};

use splitrail_protocol::auth::{ClientAuth, ClientAuthStep};
use splitrail_protocol::command::Query;
use splitrail_protocol::handshake::{HandshakeResponse, InitialHandshake, SslRequest};
use splitrail_protocol::response::{ErrPacket, OkPacket};
use splitrail_protocol::{CapabilityFlags, Command, Completion, End, ResponseTracker, Step};
use splitrail_router::SessionVariables;
use tokio::net::TcpStream;

use super::flavor::Flavor;
use crate::config::Address;
use crate::error::{ConnectFailure, Error, Result};
use crate::io::{PacketIo, ReadError};
use crate::tls::{BackendStream, BackendTlsSetup};

/// A backend connection's framed stream.
pub type BackendIo = PacketIo<BackendStream>;

/// Capabilities that change what results look like, so a backend connection serves only
/// clients that agree on them (they are part of the pool key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResultFlags {
    /// CLIENT_FOUND_ROWS: affected rows count matched rows, not changed ones.
    pub found_rows: bool,
    /// CLIENT_DEPRECATE_EOF: result sets end with OK instead of EOF.
    pub deprecate_eof: bool,
}

impl ResultFlags {
    /// The result-shaping flags of a client's capabilities.
    pub fn of(caps: CapabilityFlags) -> Self {
        ResultFlags {
            found_rows: caps.contains(CapabilityFlags::CLIENT_FOUND_ROWS),
            deprecate_eof: caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF),
        }
    }
}

/// What the proxy asks of every backend: the features it relays or relies on. Intersected with
/// what the server offers.
fn wanted_capabilities(flags: ResultFlags) -> CapabilityFlags {
    let mut caps = CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_LONG_FLAG
        | CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_MULTI_STATEMENTS
        | CapabilityFlags::CLIENT_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
        | CapabilityFlags::CLIENT_SESSION_TRACK
        | CapabilityFlags::CLIENT_LOCAL_FILES;
    if flags.found_rows {
        caps |= CapabilityFlags::CLIENT_FOUND_ROWS;
    }
    if flags.deprecate_eof {
        caps |= CapabilityFlags::CLIENT_DEPRECATE_EOF;
    }
    caps
}

/// The largest packet the server reads on a connection (its session value).
const MAX_PACKET_SQL: &str = "SELECT @@max_allowed_packet";

/// utf8mb4_general_ci: known to MariaDB and MySQL alike; the session's own charset is replayed.
const BACKEND_COLLATION: u8 = 45;

/// The answer to a statement the proxy ran itself.
#[derive(Debug)]
pub enum Outcome {
    /// It succeeded; the final OK (or EOF) with its status.
    Ok(Completion, Option<OkPacket>),
    /// The server refused it.
    Err(ErrPacket),
}

/// A logged-in backend connection.
#[derive(Debug)]
pub struct BackendConn {
    /// The framed socket (plain or TLS).
    pub io: BackendIo,
    /// Which configured server it is connected to.
    pub server: usize,
    /// That server's address, for errors and logs.
    pub address: String,
    /// The server's thread id for this connection (what `KILL` takes on that server).
    pub thread_id: u32,
    /// The server's version string.
    pub server_version: String,
    /// The server's flavour, read once from its version string: the SQL it takes.
    pub flavor: Flavor,
    /// Negotiated capabilities.
    pub caps: CapabilityFlags,
    /// Result-shaping flags it was opened with.
    pub flags: ResultFlags,
    /// The user it is logged in as.
    pub user: String,
    /// Tracks the response in progress.
    pub tracker: ResponseTracker,
    /// The default schema as far as the proxy knows.
    pub schema: Option<Box<str>>,
    /// Session variables set on it by replay or by the client statements that ran on it.
    pub vars: SessionVariables,
    /// When it was opened (for `max_lifetime`).
    pub created: Instant,
    /// When it was last returned to its pool (for `idle_timeout`).
    pub idle_since: Instant,
    /// What `LAST_INSERT_ID()` returns on this connection, as far as the proxy saw.
    pub last_insert_id: u64,
    /// Statements prepared on this connection, by text.
    pub statements: super::statements::StmtCache,
    /// The connection's `@@max_allowed_packet`, read when it was opened (and after a reset): the
    /// server refuses a command of this many bytes or more on it with error 1153
    /// and closes the connection, so the proxy answers it itself before sending.
    pub max_packet: usize,
    /// The [`super::pool::GlobalsEpoch`] when it was opened: older than the current one, its
    /// session started from server defaults that a `SET GLOBAL` through the proxy changed since.
    pub globals_epoch: u64,
    /// Set when a response was cut off or the state is unknown: it must not be reused.
    pub broken: bool,
}

impl BackendConn {
    /// The payload of `command` as this connection's server reads it (the negotiated
    /// capabilities decide the layout of some commands).
    pub fn payload(&self, command: &Command<'_>) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        command.encode(self.caps, &mut out);
        out.to_vec()
    }

    /// The error for a statement of the proxy's own (`what`) that the server refused.
    pub fn refused(&self, what: &str, err: &ErrPacket) -> Error {
        Error::ProxyStatement {
            server: self.address.clone(),
            what: what.to_string(),
            code: err.code,
            message: String::from_utf8_lossy(&err.message).into_owned(),
        }
    }

    /// The COM_QUERY payload of `sql`.
    pub fn query_payload(&self, sql: &[u8]) -> Vec<u8> {
        self.payload(&Command::Query(Query {
            attributes: Vec::new(),
            sql,
        }))
    }

    /// Connects to `address`, upgrades to TLS as `tls` says, logs in as `user`, and turns on
    /// session tracking.
    pub async fn connect(
        server: usize,
        address: &Address,
        user: &str,
        password: &[u8],
        flags: ResultFlags,
        timeout: Duration,
        tls: &BackendTlsSetup,
    ) -> Result<Self> {
        let name = address.to_string();
        let login = async {
            let (mut io, handshake) = greet(address, &name).await?;
            let mut caps = wanted_capabilities(flags) & handshake.capabilities;
            let encrypt = start_tls(&mut io, &mut caps, &handshake, tls, address, &name).await?;
            let auth = ClientAuth::new(password, encrypt);
            log_in(&mut io, auth, &handshake, caps, user, &name).await?;
            let now = Instant::now();
            let version = String::from_utf8_lossy(&handshake.server_version).into_owned();
            let mut conn = BackendConn {
                io,
                server,
                address: name.clone(),
                thread_id: handshake.connection_id,
                flavor: Flavor::of(&version),
                server_version: version,
                caps,
                flags,
                user: user.to_string(),
                tracker: ResponseTracker::new(caps),
                schema: None,
                vars: SessionVariables::default(),
                statements: Default::default(),
                last_insert_id: 0,
                created: now,
                idle_since: now,
                max_packet: splitrail_protocol::framing::DEFAULT_MAX_PACKET_SIZE,
                globals_epoch: 0,
                broken: false,
            };
            conn.track_session_state().await?;
            Ok(conn)
        };
        match tokio::time::timeout(timeout, login).await {
            Ok(result) => result,
            Err(_) => Err(connect_failed(&name, ConnectFailure::Timeout(timeout))),
        }
    }

    /// Sends one command (sequence id 0) without waiting for the answer.
    pub async fn send_command(&mut self, payload: &[u8]) -> Result<()> {
        self.send_all(&[payload]).await
    }

    /// Sends two commands in one write, each with sequence id 0: the server answers them in
    /// order (a causal wait and the read behind it cost one round trip).
    pub async fn send_pipelined(&mut self, first: &[u8], second: &[u8]) -> Result<()> {
        self.send_all(&[first, second]).await
    }

    /// Sends several commands in one write, each with sequence id 0; the caller reads their
    /// answers in order, calling [`BackendConn::next_answer`] before each.
    pub async fn send_many(&mut self, payloads: &[&[u8]]) -> Result<()> {
        self.send_all(payloads).await
    }

    /// The next answer read is a pipelined command's: its sequence ids start from 1 again.
    pub fn next_answer(&mut self) {
        self.io.codec.set_seq(1);
    }

    async fn send_all(&mut self, payloads: &[&[u8]]) -> Result<()> {
        let address = &self.address;
        for payload in payloads {
            self.io.reset_seq();
            self.io.queue(payload).map_err(|e| protocol(address, e))?;
        }
        let result = self.io.flush().await.map_err(|source| Error::BackendIo {
            server: address.clone(),
            source,
        });
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    /// Runs a command of the proxy's own and reads its whole answer (discarding any rows).
    pub async fn run(&mut self, payload: &[u8]) -> Result<Outcome> {
        let command = payload.first().copied().unwrap_or(0);
        self.send_command(payload).await?;
        self.read_outcome(command, |_, _| Ok(())).await
    }

    /// Reads the answer to a one-column query sent earlier (e.g. by
    /// [`BackendConn::send_pipelined`]): the first row's value, or the server's error. The
    /// connection is then ready to read the next pipelined answer.
    pub async fn read_value(&mut self) -> Result<std::result::Result<Option<String>, ErrPacket>> {
        use splitrail_protocol::response::TextRow;
        // Column count, one definition, the EOF unless DEPRECATE_EOF, then the first row.
        let row_at = if self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) {
            2
        } else {
            3
        };
        let mut value = None;
        let address = self.address.clone();
        let outcome = self
            .read_outcome(splitrail_protocol::command::code::QUERY, |i, packet| {
                if i == row_at {
                    let row = TextRow::new(packet.clone());
                    let values = row.decode_all().map_err(|e| protocol(&address, e))?;
                    value = values
                        .first()
                        .copied()
                        .flatten()
                        .map(|v| String::from_utf8_lossy(v).into_owned());
                }
                Ok(())
            })
            .await?;
        // A pipelined command's answer follows.
        self.next_answer();
        Ok(match outcome {
            Outcome::Ok(..) => Ok(value),
            Outcome::Err(err) => Err(err),
        })
    }

    /// Reads the whole answer to `command` (already sent), showing each packet but the last
    /// to `each` with its index.
    pub async fn read_outcome(
        &mut self,
        command: u8,
        mut each: impl FnMut(usize, &bytes::Bytes) -> Result<()>,
    ) -> Result<Outcome> {
        self.tracker.start(command);
        let mut index = 0;
        loop {
            let packet = self.read_or_break().await?;
            let step = self.tracker.feed(&packet).map_err(|e| {
                self.broken = true;
                protocol(&self.address, e)
            })?;
            match step {
                Step::More | Step::MoreWithSessionState => {
                    if let Err(e) = each(index, &packet) {
                        self.broken = true;
                        return Err(e);
                    }
                    index += 1;
                }
                Step::NeedClient => {
                    // Only LOCAL INFILE asks this, and the proxy's statements never load files.
                    self.broken = true;
                    return Err(protocol(
                        &self.address,
                        splitrail_protocol::Error::UnexpectedPacket {
                            state: "proxy statement",
                            byte: 0xFB,
                        },
                    ));
                }
                Step::Done(done) => {
                    return Ok(match done.end {
                        End::Err { .. } => Outcome::Err(
                            ErrPacket::decode(&packet, self.caps)
                                .map_err(|e| protocol(&self.address, e))?,
                        ),
                        End::Ok { .. } => {
                            Outcome::Ok(done, OkPacket::decode(&packet, self.caps).ok())
                        }
                        _ => Outcome::Ok(done, None),
                    });
                }
            }
        }
    }

    /// Runs a statement of the proxy's own that must succeed.
    pub async fn run_checked(&mut self, sql: &[u8]) -> Result<Option<OkPacket>> {
        let payload = self.query_payload(sql);
        match self.run(&payload).await? {
            Outcome::Ok(_, ok) => Ok(ok),
            Outcome::Err(err) => Err(self.refused(&String::from_utf8_lossy(sql), &err)),
        }
    }

    /// Runs a query of the proxy's own (the monitor's) and returns its rows as text, with the
    /// column names: `Ok(None)` for the server's error. For small results only — every row is
    /// kept. The connection must not use CLIENT_DEPRECATE_EOF (the monitor's do not).
    pub async fn query_rows(
        &mut self,
        sql: &str,
    ) -> Result<std::result::Result<TextRows, ErrPacket>> {
        use splitrail_protocol::response::{ColumnDefinition, TextRow, decode_column_count};
        let payload = self.query_payload(sql.as_bytes());
        self.send_command(&payload).await?;
        let first = self.read_or_break().await?;
        match first.first() {
            Some(0xFF) => {
                return Ok(Err(
                    ErrPacket::decode(&first, self.caps).map_err(|e| protocol(&self.address, e))?
                ));
            }
            Some(0x00) => return Ok(Ok(TextRows::default())),
            _ => {}
        }
        let count = decode_column_count(&first).map_err(|e| protocol(&self.address, e))?;
        let mut rows = TextRows::default();
        for _ in 0..count {
            let packet = self.read_or_break().await?;
            let column = ColumnDefinition::decode(&packet, self.caps)
                .map_err(|e| protocol(&self.address, e))?;
            rows.columns
                .push(String::from_utf8_lossy(&column.name).into_owned());
        }
        // The EOF after the column definitions.
        self.read_or_break().await?;
        loop {
            let packet = self.read_or_break().await?;
            match packet.first() {
                Some(0xFE) if packet.len() < 9 => return Ok(Ok(rows)),
                Some(0xFF) => {
                    return Ok(Err(ErrPacket::decode(&packet, self.caps)
                        .map_err(|e| protocol(&self.address, e))?));
                }
                _ => {
                    let row = TextRow::new(packet);
                    let values = row.decode_all().map_err(|e| protocol(&self.address, e))?;
                    rows.rows.push(
                        values
                            .into_iter()
                            .map(|v| v.map(|b| String::from_utf8_lossy(b).into_owned()))
                            .collect(),
                    );
                }
            }
        }
    }

    async fn read_or_break(&mut self) -> Result<bytes::Bytes> {
        let result = read(&mut self.io, &self.address).await;
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    /// `COM_RESET_CONNECTION`: forgets every session variable, temporary table, lock and user
    /// variable of the previous user of the connection, then turns tracking back on.
    pub async fn reset(&mut self) -> Result<()> {
        if let Outcome::Err(err) = self.run(&self.payload(&Command::ResetConnection)).await? {
            self.broken = true;
            return Err(self.refused("COM_RESET_CONNECTION", &err));
        }
        self.forget_session();
        self.track_session_state().await
    }

    /// What a `COM_RESET_CONNECTION` the server acknowledged left: no variables, no prepared
    /// statements, no insert id.
    pub(crate) fn forget_session(&mut self) {
        self.vars = SessionVariables::default();
        self.statements.clear();
        self.last_insert_id = 0;
    }

    /// The statement that turns session tracking on, when the server offers it.
    pub(crate) fn tracking_sql(&self) -> Option<&'static [u8]> {
        self.caps
            .contains(CapabilityFlags::CLIENT_SESSION_TRACK)
            .then(|| self.flavor.tracking_sql())
    }

    /// Turns on session-state tracking (see [`Flavor::tracking_sql`]), when the server offers
    /// it, and learns the connection's `max_allowed_packet` in the same round trip.
    async fn track_session_state(&mut self) -> Result<()> {
        let ask = self.query_payload(MAX_PACKET_SQL.as_bytes());
        if self.caps.contains(CapabilityFlags::CLIENT_SESSION_TRACK) {
            let sql = self.flavor.tracking_sql();
            let track = self.query_payload(sql);
            self.send_pipelined(&track, &ask).await?;
            if let Outcome::Err(err) = self
                .read_outcome(splitrail_protocol::command::code::QUERY, |_, _| Ok(()))
                .await?
            {
                self.broken = true;
                return Err(self.refused(&String::from_utf8_lossy(sql), &err));
            }
            // The second answer's sequence ids start at 1 again.
            self.io.codec.set_seq(1);
        } else {
            self.send_command(&ask).await?;
        }
        match self.read_value().await? {
            Ok(value) => {
                if let Some(max) = value.and_then(|v| v.trim().parse().ok()) {
                    self.max_packet = max;
                }
                Ok(())
            }
            Err(err) => {
                self.broken = true;
                Err(self.refused(MAX_PACKET_SQL, &err))
            }
        }
    }

    /// Whether the server closed this idle connection (e.g. `wait_timeout`, a restart): checked
    /// without blocking before the connection is lent out again.
    pub fn closed_while_idle(&mut self) -> bool {
        self.io.stream.closed_while_idle()
    }
}

/// A small result set read by [`BackendConn::query_rows`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TextRows {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows; `None` for NULL.
    pub rows: Vec<Vec<Option<String>>>,
}

impl TextRows {
    /// The value of column `name` (case-insensitive) in row `row`; `None` when NULL or absent.
    pub fn get(&self, row: usize, name: &str) -> Option<&str> {
        let i = self
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))?;
        self.rows.get(row)?.get(i)?.as_deref()
    }
}

fn connect_failed(address: &str, cause: ConnectFailure) -> Error {
    Error::BackendConnect {
        server: address.to_string(),
        cause,
    }
}

/// Opens the TCP connection and reads the server's greeting (an error packet there, such as
/// "too many connections", is a refused connection).
async fn greet(to: &Address, address: &str) -> Result<(BackendIo, InitialHandshake)> {
    let failed = |e| connect_failed(address, ConnectFailure::Io(e));
    let stream = TcpStream::connect((to.host(), to.port()))
        .await
        .map_err(failed)?;
    stream.set_nodelay(true).map_err(failed)?;
    let mut io = PacketIo::new(
        BackendStream::Plain(stream),
        1 << 30,
        crate::io::BACKEND_READ_CHUNK,
    );
    let greeting = read(&mut io, address).await?;
    if greeting.first() == Some(&0xFF) {
        let err = ErrPacket::decode(&greeting, CapabilityFlags::CLIENT_PROTOCOL_41)
            .map_err(|e| protocol(address, e))?;
        let cause = ConnectFailure::Refused {
            code: err.code,
            message: String::from_utf8_lossy(&err.message).into_owned(),
        };
        return Err(connect_failed(address, cause));
    }
    let handshake = InitialHandshake::decode(&greeting).map_err(|e| protocol(address, e))?;
    Ok((io, handshake))
}

/// Upgrades to TLS when `tls` and the server's offer say so: an SSLRequest (sequence id 1),
/// the TLS handshake, and the login follows over TLS. Returns whether it did.
async fn start_tls(
    io: &mut BackendIo,
    caps: &mut CapabilityFlags,
    handshake: &InitialHandshake,
    tls: &BackendTlsSetup,
    to: &Address,
    address: &str,
) -> Result<bool> {
    let offered = handshake.capabilities.contains(CapabilityFlags::CLIENT_SSL);
    let encrypt = tls
        .wants_tls(offered)
        .map_err(|why| connect_failed(address, ConnectFailure::TlsPolicy(why)))?;
    if !encrypt {
        return Ok(false);
    }
    *caps |= CapabilityFlags::CLIENT_SSL;
    let request = SslRequest {
        capabilities: *caps,
        max_packet_size: 1 << 30,
        charset: BACKEND_COLLATION,
    };
    let mut payload = bytes::BytesMut::new();
    request.encode(&mut payload);
    send(io, &payload, address).await?;
    if !io.rbuf.is_empty() {
        return Err(connect_failed(address, ConnectFailure::DataBeforeTls));
    }
    io.stream
        .upgrade(tls, to.host())
        .await
        .map_err(|e| connect_failed(address, ConnectFailure::TlsHandshake(e)))?;
    Ok(true)
}

/// Sends the HandshakeResponse41 and runs the authentication exchange to its end.
async fn log_in(
    io: &mut BackendIo,
    mut auth: ClientAuth,
    handshake: &InitialHandshake,
    caps: CapabilityFlags,
    user: &str,
    address: &str,
) -> Result<()> {
    let (plugin, auth_response) = auth.start(handshake).map_err(|e| protocol(address, e))?;
    let response = HandshakeResponse {
        capabilities: caps,
        max_packet_size: 1 << 30,
        charset: BACKEND_COLLATION,
        username: user.as_bytes().to_vec(),
        auth_response,
        database: None,
        auth_plugin_name: Some(plugin.name().to_vec()),
        connect_attrs: None,
    };
    let mut payload = bytes::BytesMut::new();
    response.encode(&mut payload);
    send(io, &payload, address).await?;
    loop {
        let packet = read(io, address).await?;
        match auth
            .handle(&packet, caps)
            .map_err(|e| protocol(address, e))?
        {
            ClientAuthStep::Send(data) => send(io, &data, address).await?,
            ClientAuthStep::Wait => {}
            ClientAuthStep::Done => return Ok(()),
            ClientAuthStep::Failed(err) => {
                return Err(Error::BackendAuth {
                    server: address.to_string(),
                    code: err.code,
                    message: String::from_utf8_lossy(&err.message).into_owned(),
                });
            }
        }
    }
}

/// Reads one whole packet from a backend.
pub(crate) async fn read(io: &mut BackendIo, address: &str) -> Result<bytes::Bytes> {
    match io.read_packet().await {
        Ok(Some(p)) => Ok(p.payload),
        Ok(None) => Err(Error::BackendIo {
            server: address.to_string(),
            source: std::io::ErrorKind::UnexpectedEof.into(),
        }),
        Err(ReadError::Io(source)) => Err(Error::BackendIo {
            server: address.to_string(),
            source,
        }),
        Err(ReadError::Protocol(source)) => Err(protocol(address, source)),
    }
}

async fn send(io: &mut BackendIo, payload: &[u8], address: &str) -> Result<()> {
    io.queue(payload).map_err(|e| protocol(address, e))?;
    io.flush().await.map_err(|source| Error::BackendIo {
        server: address.to_string(),
        source,
    })
}

pub(crate) fn protocol(address: &str, source: splitrail_protocol::Error) -> Error {
    Error::BackendProtocol {
        server: address.to_string(),
        source,
    }
}
