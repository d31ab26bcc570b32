//! The test bed's error type: what failed, on which server, with the evidence needed to fix it.
use std::path::PathBuf;

/// Everything that can go wrong while starting or driving test-bed servers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A MariaDB program is not installed; the message says how to install it.
    #[error(
        "`{program}` not found on PATH (nor in /usr/sbin, /usr/bin): install MariaDB with \
         `sudo apt-get install -y mariadb-server mariadb-client` (or set {env_var} to its path)"
    )]
    MissingBinary {
        /// The program looked for, e.g. `mariadbd`.
        program: &'static str,
        /// The environment variable that overrides the search.
        env_var: &'static str,
    },
    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What the test bed was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `mariadb-install-db` failed to create a data directory.
    #[error("mariadb-install-db failed for {datadir}: {output}")]
    InstallDb {
        /// The data directory being initialised.
        datadir: PathBuf,
        /// What the program printed.
        output: String,
    },
    /// A server did not come up; carries the tail of its error log.
    #[error(
        "server `{server}` did not start: {reason}\n--- last lines of its error log ---\n{log_tail}"
    )]
    Startup {
        /// The server's name (`primary`, `replica1`, ...).
        server: String,
        /// Why it was judged not started.
        reason: String,
        /// The end of the server's error log.
        log_tail: String,
    },
    /// A statement run through the `mariadb` client failed.
    #[error("SQL on `{server}` failed: {sql}\n{stderr}")]
    Sql {
        /// The server's name.
        server: String,
        /// The statement text.
        sql: String,
        /// What the client printed on stderr (contains the MySQL error code and message).
        stderr: String,
    },
    /// Waiting for a condition took longer than allowed.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long the wait was.
        seconds: u64,
    },
    /// The operation does not apply to the server in its current state or role.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The MySQL error code in a failed statement's message (`ERROR 1290 (HY000) ...`), if any.
    pub fn mysql_code(&self) -> Option<u16> {
        let Error::Sql { stderr, .. } = self else {
            return None;
        };
        let rest = stderr.split("ERROR ").nth(1)?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    }
}

/// The test bed's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
