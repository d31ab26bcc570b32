//! The list of key paths the format has, for the test that keeps `docs/configuration.md` in
//! sync with the structs.
//!
//! The paths come from serializing a config in which every key has a value. The literal below
//! names every field with no `..Default::default()`, so adding a field to a struct does not
//! compile until the field is given a value here, and then it appears in [`key_paths`].

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_yaml::Value;

use super::position::join;
use super::*;

/// See [`Config::key_paths`].
pub(super) fn key_paths() -> Vec<String> {
    let value = serde_yaml::to_value(fully_populated()).unwrap_or(Value::Null);
    let mut paths = BTreeSet::new();
    collect(&value, "", &mut paths);
    paths.into_iter().collect()
}

fn collect(value: &Value, path: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Mapping(map) => {
            for (key, child) in map {
                let child_path = join(path, key.as_str().unwrap_or("?"));
                out.insert(child_path.clone());
                collect(child, &child_path, out);
            }
        }
        Value::Sequence(items) => {
            for item in items {
                collect(item, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

fn fully_populated() -> Config {
    let addr = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let secs = Duration::from_secs;
    Config {
        listen: addr(6033),
        admin: AdminConfig {
            listen: addr(6034),
            token: Some(Secret::new("t")),
            token_env: Some("TOKEN".into()),
            max_digests: 1,
        },
        max_client_connections: 1,
        shutdown_timeout: secs(1),
        workers: 1,
        busy_poll: Duration::from_micros(50),
        users: vec![User {
            user: "app".into(),
            password: Secret::new("p"),
            password_env: None,
        }],
        servers: vec![Server {
            address: "db:3306".parse().unwrap_or_else(|_| unreachable!()),
            role: Role::Primary,
            weight: 1,
            read_weight: 1,
            name: Some("db".into()),
            max_connections: Some(1),
        }],
        pool: PoolConfig {
            mode: PoolMode::Transaction,
            min_idle: 1,
            max_size: 1,
            acquire_timeout: secs(1),
            idle_timeout: secs(1),
            max_lifetime: secs(1),
            connect_timeout: secs(1),
            max_prepared_statements: 1,
            pipeline: false,
        },
        routing: RoutingConfig {
            balance: Balance::Hash,
            hash_key: HashKey::User,
            consistency: Consistency::Session,
            max_replication_lag: secs(1),
            causal_read_timeout: secs(1),
            read_after_write_window: secs(1),
            failover_timeout: secs(1),
            rules: vec![Rule {
                matches: RuleMatch {
                    user: Some("app".into()),
                    schema: Some("s".into()),
                    digest: Some("d".into()),
                    regex: Pattern::try_from("x".to_string()).ok(),
                },
                target: Some(RuleTarget::Primary),
                reject: Some("no".into()),
            }],
            replication_clients: ReplicationClients::Refuse,
        },
        monitor: MonitorConfig {
            interval: secs(1),
            connect_timeout: secs(1),
            failure_threshold: 1,
            success_threshold: 1,
            discovery: true,
            user: Some("app".into()),
        },
        tls: TlsConfig {
            client: Some(ClientTls {
                cert: PathBuf::from("c"),
                key: PathBuf::from("k"),
            }),
            backend: BackendTls {
                mode: BackendTlsMode::VerifyCa,
                ca: Some(PathBuf::from("ca")),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_sections_leaves_and_list_items() {
        let paths = key_paths();
        for path in [
            "listen",
            "admin",
            "admin.token_env",
            "users[].password",
            "users[].password_env",
            "servers[].read_weight",
            "routing.rules[].match.regex",
            "tls.client.cert",
        ] {
            assert!(
                paths.iter().any(|p| p == path),
                "{path} missing from {paths:?}"
            );
        }
    }
}
