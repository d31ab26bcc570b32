//! `servers:` — the MySQL/MariaDB backends, their roles and read weights.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One backend server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Where to connect: `host:port`, `ip:port` or `[ipv6]:port`. A host name is resolved
    /// when connecting (so docker-compose service names work).
    pub address: Address,
    /// What the server is for. `auto` lets the monitor decide from `read_only`.
    pub role: Role,
    /// Share of reads while the server acts as a replica, relative to the other replicas'
    /// weights (1..=10000).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Share of reads while the server acts as the primary, on the same scale as replicas'
    /// `weight`. 0 (the default) keeps reads off the primary unless no replica qualifies.
    #[serde(default)]
    pub read_weight: u32,
    /// Name in logs, metrics and the admin API. Unset: the address is used (see [`Server::name`]).
    #[serde(default)]
    pub name: Option<String>,
    /// Overrides `pool.max_size` for this server's pools.
    #[serde(default)]
    pub max_connections: Option<u32>,
}

fn default_weight() -> u32 {
    1
}

impl Server {
    /// The name to show: `name` if set, else the address.
    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.address.to_string())
    }
}

/// A server's role. A closed set: writes go to the one primary, reads are balanced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Takes every write, and reads per its `read_weight`. Exactly one unless `auto` is used.
    Primary,
    /// Takes reads per its `weight`, never writes.
    Replica,
    /// Classified by the monitor: `read_only=OFF` is the primary, `read_only=ON` a replica.
    Auto,
}

impl Role {
    /// The name the configuration and the admin API use: `primary`, `replica`, `auto`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
            Role::Auto => "auto",
        }
    }
}

/// A backend address: host (name or IP) and port. Compared case-insensitively on the host.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Address {
    host: String,
    port: u16,
}

impl Address {
    /// The host name or IP (without brackets for IPv6).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl PartialEq for Address {
    fn eq(&self, other: &Self) -> bool {
        self.port == other.port && self.host.eq_ignore_ascii_case(&other.host)
    }
}

impl Eq for Address {}

impl FromStr for Address {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            Err(format!(
                "invalid address {text:?}: {why}; expected host:port"
            ))
        };
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            match rest.split_once("]:") {
                Some((host, port)) => (host, port),
                None => return bad("an IPv6 address needs brackets and a port, e.g. [::1]:3306"),
            }
        } else {
            match text.rsplit_once(':') {
                Some((host, _)) if host.contains(':') => {
                    return bad("put an IPv6 address in brackets, e.g. [::1]:3306");
                }
                Some((host, port)) => (host, port),
                None => return bad("missing port"),
            }
        };
        if host.is_empty() {
            return bad("missing host");
        }
        let bracketed = text.starts_with('[');
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        if !bracketed && !host.chars().all(valid) {
            return bad("the host may only contain letters, digits, '.', '-' and '_'");
        }
        if bracketed
            && !host
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return bad("not an IPv6 address");
        }
        match port.parse::<u16>() {
            Ok(0) | Err(_) => bad("the port must be a number from 1 to 65535"),
            Ok(port) => Ok(Address {
                host: host.to_string(),
                port,
            }),
        }
    }
}

impl TryFrom<String> for Address {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<Address> for String {
    fn from(address: Address) -> String {
        address.to_string()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_ipv4_and_bracketed_ipv6() {
        let a: Address = "db-1.internal:3306".parse().unwrap();
        assert_eq!((a.host(), a.port()), ("db-1.internal", 3306));
        let b: Address = "[::1]:13306".parse().unwrap();
        assert_eq!((b.host(), b.port()), ("::1", 13306));
        assert_eq!(b.to_string(), "[::1]:13306");
        assert_eq!(
            "DB:1".parse::<Address>().unwrap(),
            "db:1".parse::<Address>().unwrap()
        );
    }

    #[test]
    fn refuses_malformed_addresses() {
        for (text, why) in [
            ("db", "missing port"),
            (":3306", "missing host"),
            ("db:0", "port"),
            ("db:99999", "port"),
            ("::1:3306", "brackets"),
            ("[::1]", "brackets"),
            ("db one:3306", "only contain"),
        ] {
            let err = text.parse::<Address>().expect_err(text);
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }
}
