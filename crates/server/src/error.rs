//! The server's error type: where an error came from, whether the failed work may be retried
//! elsewhere, and the MySQL error the client gets for it.
use std::io;

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
    #[error("cannot connect to backend {server}: {reason}")]
    BackendConnect {
        /// The backend's address.
        server: String,
        /// What went wrong.
        reason: String,
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
    /// A statement the proxy ran to bring a backend connection to the session's state failed.
    #[error("could not restore session state on {server}: {message}")]
    StateSync {
        /// The backend's address.
        server: String,
        /// The backend's error message.
        message: String,
    },
    /// No backend connection became free within the acquire timeout.
    #[error("timed out waiting for a connection to {server}")]
    AcquireTimeout {
        /// The backend's address.
        server: String,
    },
    /// No server can take the statement (no primary known, all down).
    #[error("no backend available: {0}")]
    NoBackend(String),
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
            | Error::StateSync { .. } => Side::Backend,
            Error::AcquireTimeout { .. } | Error::NoBackend(_) => Side::Internal,
        }
    }

    /// Whether the statement may be sent again elsewhere: true only when it provably never
    /// reached a backend.
    pub fn retry_safe(&self) -> bool {
        matches!(
            self,
            Error::BackendConnect { .. } | Error::AcquireTimeout { .. } | Error::NoBackend(_)
        )
    }

    /// The MySQL error (number and SQLSTATE) the client is sent for this error.
    pub fn mysql_code(&self) -> ErrorCode {
        match self {
            Error::ClientIo(_) | Error::ClientProtocol(_) => code::ER_NET_READ_ERROR,
            Error::BackendConnect { .. } | Error::NoBackend(_) => CR_CONN_HOST_ERROR,
            Error::BackendAuth { .. } => code::ER_ACCESS_DENIED_ERROR,
            Error::BackendIo { .. } | Error::BackendProtocol { .. } => CR_SERVER_LOST,
            Error::StateSync { .. } => code::ER_UNKNOWN_ERROR,
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
