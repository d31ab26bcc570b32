//! The server's error type: where an error came from, whether the failed work may be retried
//! elsewhere, and the MySQL error the client gets for it.
use std::io;
use std::time::Duration;

use splitrail_protocol::response::{ErrorCode, code};

/// Which side of the proxy an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The application's connection.
    Client,
    /// A backend server.
    Backend,
    /// The proxy itself (configuration, limits).
    Internal,
}

/// Everything that can fail while serving a client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading from or writing to the client failed; the session ends.
    #[error("client connection: {0}")]
    ClientIo(#[source] io::Error),
    /// The client sent bytes that are not valid MySQL protocol; the session ends after an ERR.
    #[error("client protocol: {0}")]
    ClientProtocol(#[source] splitrail_protocol::Error),
    /// Connecting to a backend failed or timed out: nothing was sent, so retrying is safe.
    #[error("cannot connect to backend {server}: {cause}")]
    BackendConnect {
        /// The backend's address.
        server: String,
        /// What went wrong.
        #[source]
        cause: ConnectFailure,
    },
    /// The backend refused the proxy's login.
    #[error("backend {server} refused login: {code} {message}")]
    BackendAuth {
        /// The backend's address.
        server: String,
        /// The MySQL error number it sent.
        code: u16,
        /// Its message.
        message: String,
    },
    /// The connection to a backend broke while it was in use.
    #[error("lost connection to backend {server}: {source}")]
    BackendIo {
        /// The backend's address.
        server: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A backend sent something that is not valid MySQL protocol.
    #[error("backend {server} protocol error: {source}")]
    BackendProtocol {
        /// The backend's address.
        server: String,
        /// The decoding error.
        #[source]
        source: splitrail_protocol::Error,
    },
    /// The backend refused the session's state (an unknown schema, a bad variable value) when
    /// the proxy brought a connection to it.
    #[error("could not restore session state on {server}: {message} ({code})")]
    StateSync {
        /// The backend's address.
        server: String,
        /// The MySQL error number it sent.
        code: u16,
        /// The backend's error message.
        message: String,
    },
    /// A statement of the proxy's own (session tracking, a reset, a monitor check) failed.
    #[error("backend {server} refused the proxy's {what}: {message} ({code})")]
    ProxyStatement {
        /// The backend's address.
        server: String,
        /// Which statement: `COM_RESET_CONNECTION`, the tracking `SET`, a check.
        what: String,
        /// The MySQL error number it sent.
        code: u16,
        /// The backend's error message.
        message: String,
    },
    /// A statement on a pipelined connection changed its session state: the connection no
    /// longer matches the sessions it serves.
    #[error("a pipelined statement changed the session state on {server}")]
    StateChanged {
        /// The backend's address.
        server: String,
    },
    /// No backend connection became free within the acquire timeout.
    #[error("timed out waiting for a connection to {server}")]
    AcquireTimeout {
        /// The backend's address.
        server: String,
    },
    /// No primary is configured or known: nothing was sent.
    #[error("no backend available: no primary is configured or known")]
    NoPrimary,
    /// A write waited `routing.failover_timeout` for a writable primary and found none: it was
    /// not run.
    #[error(
        "no backend available: no writable primary within routing.failover_timeout \
         ({waited:?}); the write was not run"
    )]
    NoWritablePrimary {
        /// How long it waited.
        waited: Duration,
    },
    /// A server index that the topology does not hold (servers are only appended, so this is
    /// the proxy's own fault).
    #[error("no backend available: server #{index} is unknown")]
    UnknownServer {
        /// The index.
        index: usize,
    },
    /// The configuration does not allow the work (e.g. no user for the monitor to log in as).
    #[error("configuration: {0}")]
    Config(String),
}

/// Why connecting to a backend failed. Nothing of a client's statement was sent.
#[derive(Debug, thiserror::Error)]
pub enum ConnectFailure {
    /// The TCP connection (or setting it up) failed.
    #[error("{0}")]
    Io(#[source] io::Error),
    /// The server answered the connection with an error packet (too many connections, host
    /// blocked).
    #[error("{message}")]
    Refused {
        /// The MySQL error number.
        code: u16,
        /// Its message.
        message: String,
    },
    /// `backend_tls` and what the server offers do not fit (TLS required but not offered).
    #[error("{0}")]
    TlsPolicy(String),
    /// The server sent data before the TLS handshake.
    #[error("the server sent data before the TLS handshake")]
    DataBeforeTls,
    /// The TLS handshake failed (certificate, name, protocol).
    #[error("TLS handshake failed: {0}")]
    TlsHandshake(#[source] io::Error),
    /// Connecting and logging in took longer than `pool.connect_timeout`.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

impl Error {
    /// Where the error came from.
    pub fn side(&self) -> Side {
        match self {
            Error::ClientIo(_) | Error::ClientProtocol(_) => Side::Client,
            Error::BackendConnect { .. }
            | Error::BackendAuth { .. }
            | Error::BackendIo { .. }
            | Error::BackendProtocol { .. }
            | Error::StateSync { .. }
            | Error::ProxyStatement { .. }
            | Error::StateChanged { .. } => Side::Backend,
            Error::AcquireTimeout { .. }
            | Error::NoPrimary
            | Error::NoWritablePrimary { .. }
            | Error::UnknownServer { .. }
            | Error::Config(_) => Side::Internal,
        }
    }

    /// Whether the statement may be sent again elsewhere: true only when it provably never
    /// reached a backend and another attempt could succeed (a configuration fault or the
    /// proxy's own inconsistency would fail the same way again).
    pub fn retry_safe(&self) -> bool {
        matches!(
            self,
            Error::BackendConnect { .. }
                | Error::AcquireTimeout { .. }
                | Error::NoPrimary
                | Error::NoWritablePrimary { .. }
        )
    }

    /// The MySQL error (number and SQLSTATE) the client is sent for this error.
    pub fn mysql_code(&self) -> ErrorCode {
        match self {
            Error::ClientIo(_) | Error::ClientProtocol(_) => code::ER_NET_READ_ERROR,
            Error::BackendConnect { .. }
            | Error::NoPrimary
            | Error::NoWritablePrimary { .. }
            | Error::UnknownServer { .. } => CR_CONN_HOST_ERROR,
            Error::BackendAuth { .. } => code::ER_ACCESS_DENIED_ERROR,
            Error::BackendIo { .. } | Error::BackendProtocol { .. } => CR_SERVER_LOST,
            Error::StateSync { .. }
            | Error::ProxyStatement { .. }
            | Error::StateChanged { .. }
            | Error::Config(_) => code::ER_UNKNOWN_ERROR,
            Error::AcquireTimeout { .. } => code::ER_CON_COUNT_ERROR,
        }
    }
}

/// 2013, "Lost connection to server during query", as a server-sent error.
pub const CR_SERVER_LOST: ErrorCode = ErrorCode {
    code: 2013,
    sql_state: "HY000",
};

/// 2003, "Can't connect to server", as a server-sent error.
pub const CR_CONN_HOST_ERROR: ErrorCode = ErrorCode {
    code: 2003,
    sql_state: "HY000",
};

/// The server's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// 1053, server shutdown in progress.
pub const ER_SERVER_SHUTDOWN: ErrorCode = ErrorCode {
    code: 1053,
    sql_state: "08S01",
};

/// 1094, unknown thread id (for `KILL`).
pub const ER_NO_SUCH_THREAD: ErrorCode = ErrorCode {
    code: 1094,
    sql_state: "HY000",
};

/// 1095, not the owner of the thread (for `KILL`).
pub const ER_KILL_DENIED_ERROR: ErrorCode = ErrorCode {
    code: 1095,
    sql_state: "HY000",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_work_that_never_reached_a_backend_and_could_succeed_is_retried() {
        let connect = Error::BackendConnect {
            server: "db:3306".into(),
            cause: ConnectFailure::Io(io::ErrorKind::ConnectionRefused.into()),
        };
        assert!(connect.retry_safe());
        assert!(Error::NoPrimary.retry_safe());
        assert!(!Error::Config("no user for the monitor".into()).retry_safe());
        assert!(!Error::UnknownServer { index: 3 }.retry_safe());
        let lost = Error::BackendIo {
            server: "db:3306".into(),
            source: io::ErrorKind::UnexpectedEof.into(),
        };
        assert!(!lost.retry_safe(), "the statement may have run");
    }

    #[test]
    fn errors_keep_their_source() {
        use std::error::Error as _;
        let e = Error::BackendConnect {
            server: "db:3306".into(),
            cause: ConnectFailure::TlsHandshake(io::Error::other("bad certificate")),
        };
        assert_eq!(
            e.to_string(),
            "cannot connect to backend db:3306: TLS handshake failed: bad certificate"
        );
        let cause = e.source().expect("the connect failure");
        assert!(cause.source().is_some(), "the io error under it");
        assert_eq!(e.side(), Side::Backend);
        assert_eq!(e.mysql_code().code, 2003);
    }
}
