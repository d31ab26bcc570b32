//! The admin commands of the `splitrail` binary: `status`, `sessions`, `digests`, `drain`,
//! `enable` and `reload` against a running proxy's admin API, like `maxctrl`. They read the
//! answers into the server's own API types (`splitrail_server::admin::api`), so the commands
//! and the server cannot drift apart, and print aligned tables for people or, with `--json`,
//! the documents for scripts. The admin address is `--admin`, else `admin.listen` of the file
//! given with `-c`, else 127.0.0.1:6034; the token comes from `SPLITRAIL_ADMIN_TOKEN`.
//!
//! Any failure (the API cannot be reached, refuses the token, knows no such server, refuses a
//! reload) is one line on stderr (plus a reload's problems) and exit code 1.
mod http;
mod render;
mod table;

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::de::DeserializeOwned;
use splitrail_server::admin::api;
use splitrail_server::config::Config;

/// The environment variable the admin token is read from.
pub const TOKEN_ENV: &str = "SPLITRAIL_ADMIN_TOKEN";

/// Where the admin API is when neither `--admin` nor `-c` says.
const DEFAULT_ADMIN: &str = "127.0.0.1:6034";

/// What every admin command takes.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The admin API's address (`host:port`); default: `admin.listen` of the file given with
    /// -c, else 127.0.0.1:6034. The token is read from SPLITRAIL_ADMIN_TOKEN.
    #[arg(long, value_name = "HOST:PORT")]
    admin: Option<String>,
    /// Print the API's JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

/// The admin commands.
#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Show the proxy and its servers: role, state, lag, pool, statements (GET /status).
    Status(AdminArgs),
    /// List the client sessions and what they run (GET /sessions).
    Sessions(AdminArgs),
    /// List the statement shapes with the largest total time (GET /digests).
    Digests {
        #[command(flatten)]
        args: AdminArgs,
        /// How many shapes to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Stop sending new work to a server; its sessions finish (POST /servers/ADDRESS/drain).
    Drain {
        /// The server's address, as `splitrail status` lists it.
        address: String,
        #[command(flatten)]
        args: AdminArgs,
    },
    /// Let a drained server take work again (POST /servers/ADDRESS/enable).
    Enable {
        /// The server's address, as `splitrail status` lists it.
        address: String,
        #[command(flatten)]
        args: AdminArgs,
    },
    /// Re-read the proxy's configuration file and apply it (POST /reload).
    Reload(AdminArgs),
}

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Nothing answers at the address.
    #[error(
        "cannot reach the admin API at {admin}: {source} (is the proxy running? \
         --admin HOST:PORT or -c FILE gives the address)"
    )]
    Connect {
        admin: String,
        source: std::io::Error,
    },
    /// The connection failed midway.
    #[error("talking to the admin API at {admin}: {source}")]
    Io {
        admin: String,
        source: std::io::Error,
    },
    /// 401 without a token.
    #[error("the admin API at {0} wants a token: set {TOKEN_ENV} to its admin.token")]
    TokenMissing(String),
    /// 401 with one.
    #[error("the admin API at {0} refused the token in {TOKEN_ENV}")]
    TokenRefused(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// Any other refusal, with the API's message (and a reload's problems, one per line).
    #[error("{message}{}", problems.iter().map(|p| format!("\n  {p}")).collect::<String>())]
    Refused {
        message: String,
        problems: Vec<String>,
    },
    /// The answer is not what the API sends.
    #[error("unexpected answer from the admin API at {admin}: {what}")]
    BadAnswer { admin: String, what: String },
    /// The configuration file given with -c does not load.
    #[error("{0}")]
    Config(String),
}

impl AdminCmd {
    fn args(&self) -> &AdminArgs {
        match self {
            AdminCmd::Status(a) | AdminCmd::Sessions(a) | AdminCmd::Reload(a) => a,
            AdminCmd::Digests { args, .. }
            | AdminCmd::Drain { args, .. }
            | AdminCmd::Enable { args, .. } => args,
        }
    }
}

/// Runs `cmd`, printing its output; `config` is the file given with `-c`, if any.
pub fn main(cmd: &AdminCmd, config: Option<&Path>) -> ExitCode {
    match run(cmd, config) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("splitrail: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `cmd` and returns what it prints.
fn run(cmd: &AdminCmd, config: Option<&Path>) -> Result<String, CliError> {
    let args = cmd.args();
    let client = Client {
        admin: admin_address(args.admin.as_deref(), config)?,
        token: std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()),
    };
    let json = args.json;
    match cmd {
        AdminCmd::Status(_) => {
            let status: api::Status = client.call("GET", "/status")?;
            Ok(output(json, &status, render::status))
        }
        AdminCmd::Sessions(_) => {
            let sessions: api::Sessions = client.call("GET", "/sessions")?;
            Ok(output(json, &sessions, render::sessions))
        }
        AdminCmd::Digests { limit, .. } => {
            let digests: api::Digests = client.call("GET", &format!("/digests?limit={limit}"))?;
            Ok(output(json, &digests, render::digests))
        }
        AdminCmd::Drain { address, .. } | AdminCmd::Enable { address, .. } => {
            let action = if matches!(cmd, AdminCmd::Drain { .. }) {
                "drain"
            } else {
                "enable"
            };
            let path = format!("/servers/{}/{action}", http::path_segment(address));
            let admitted: api::Admitted = client.call("POST", &path)?;
            Ok(output(json, &admitted, |a| {
                format!("{}: {}\n", a.address, a.state)
            }))
        }
        AdminCmd::Reload(_) => {
            let reloaded: api::Reloaded = client.call("POST", "/reload")?;
            Ok(output(json, &reloaded, render::reloaded))
        }
    }
}

/// The document as pretty JSON, or as `human` renders it.
fn output<T: serde::Serialize>(json: bool, value: &T, human: impl Fn(&T) -> String) -> String {
    if json {
        let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
        text.push('\n');
        text
    } else {
        human(value)
    }
}

/// The address to ask: `--admin`, else the file's `admin.listen` (its loopback address when
/// it listens on all interfaces), else [`DEFAULT_ADMIN`].
fn admin_address(flag: Option<&str>, config: Option<&Path>) -> Result<String, CliError> {
    if let Some(admin) = flag {
        return Ok(admin.to_string());
    }
    let Some(path) = config else {
        return Ok(DEFAULT_ADMIN.to_string());
    };
    let config = Config::load(path).map_err(|e| CliError::Config(e.to_string()))?;
    Ok(reachable(config.admin.listen).to_string())
}

/// Where to connect to a listener bound to `listen`: `0.0.0.0` / `::` become loopback.
fn reachable(listen: SocketAddr) -> SocketAddr {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// A proxy's admin API.
struct Client {
    admin: String,
    token: Option<String>,
}

impl Client {
    /// `method path`, its answer read as `T`, or the API's refusal as an error.
    fn call<T: DeserializeOwned>(&self, method: &str, path: &str) -> Result<T, CliError> {
        let answer = http::request(&self.admin, method, path, self.token.as_deref())?;
        let bad = |what: String| CliError::BadAnswer {
            admin: self.admin.clone(),
            what,
        };
        if answer.status == 200 {
            return serde_json::from_slice(&answer.body)
                .map_err(|e| bad(format!("{method} {path}: {e}")));
        }
        let refusal: Option<api::ErrorReply> = serde_json::from_slice(&answer.body).ok();
        let message = match &refusal {
            Some(r) => r.error.clone(),
            None => format!("{method} {path}: status {}", answer.status),
        };
        Err(match answer.status {
            401 if self.token.is_none() => CliError::TokenMissing(self.admin.clone()),
            401 => CliError::TokenRefused(self.admin.clone()),
            404 => CliError::NotFound(message),
            _ => CliError::Refused {
                message,
                problems: refusal.map(|r| r.problems).unwrap_or_default(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_the_flag_then_the_file_then_the_default() {
        assert_eq!(
            admin_address(Some("h:1"), None).ok().as_deref(),
            Some("h:1")
        );
        assert_eq!(
            admin_address(None, None).ok().as_deref(),
            Some(DEFAULT_ADMIN)
        );
        let any: SocketAddr = "0.0.0.0:7000".parse().expect("an address");
        assert_eq!(reachable(any).to_string(), "127.0.0.1:7000");
        let any6: SocketAddr = "[::]:7000".parse().expect("an address");
        assert_eq!(reachable(any6).to_string(), "[::1]:7000");
        let some: SocketAddr = "10.1.2.3:7000".parse().expect("an address");
        assert_eq!(reachable(some), some);
        let missing = admin_address(None, Some(Path::new("/nonexistent/proxy.yaml")));
        assert!(matches!(missing, Err(CliError::Config(_))));
    }
}
