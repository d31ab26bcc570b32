//! Loading configs: good files, defaults, secrets from the environment, and errors from the
//! YAML and serde layers (unknown keys, bad values) with their paths and positions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use splitrail_config::{
    BackendTlsMode, Balance, Config, ConfigErrors, Consistency, ErrorKind, HashKey, Loader,
    PoolMode, Role, RuleAction, RuleTarget,
};

const MINIMAL: &str = "\
users: [{ user: app, password: app }]
servers: [{ address: 127.0.0.1:13306, role: primary }]
";

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

fn load(text: &str) -> Result<Config, ConfigErrors> {
    Loader::new()
        .origin("proxy.yaml")
        .with_env(env(&[("APP_PASSWORD", "s3cret"), ("ADMIN_TOKEN", "tok")]))
        .from_yaml_str(text)
}

fn errors(text: &str) -> ConfigErrors {
    match load(text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(errors) => errors,
    }
}

/// The one error at `path`, with its line and column.
fn error_at(errors: &ConfigErrors, path: &str) -> (ErrorKind, usize, usize, String) {
    let found: Vec<_> = errors.at_path(path).collect();
    assert_eq!(found.len(), 1, "one error at {path} in:\n{errors}");
    let e = found[0];
    (
        e.kind,
        e.line.expect("line"),
        e.column.expect("column"),
        e.message.clone(),
    )
}

#[test]
fn the_repository_proxy_yaml_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proxy.yaml");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.listen,
        "127.0.0.1:6033".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.admin.listen.port(), 6034);
    assert_eq!(config.users[0].user, "app");
    assert_eq!(config.users[0].password.expose(), "app");
    assert_eq!(config.servers.len(), 2);
    assert_eq!(config.servers[0].role, Role::Primary);
    assert_eq!(config.servers[1].role, Role::Replica);
    assert_eq!(config.servers[1].address.port(), 13307);
    config.validate().unwrap();
}

#[test]
fn a_minimal_config_gets_every_default() {
    let config = load(MINIMAL).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:6033");
    assert_eq!(config.admin.listen.to_string(), "127.0.0.1:6034");
    assert_eq!(config.admin.token, None);
    assert_eq!(config.max_client_connections, 10_000);
    assert_eq!(config.shutdown_timeout, Duration::from_secs(25));
    let server = &config.servers[0];
    assert_eq!((server.weight, server.read_weight), (1, 0));
    assert_eq!(server.name(), "127.0.0.1:13306");
    assert_eq!(config.pool.mode, PoolMode::Transaction);
    assert_eq!(config.pool.max_size, 10);
    assert_eq!(config.pool.max_size_for(server), 10);
    assert_eq!(config.pool.acquire_timeout, Duration::from_secs(5));
    assert_eq!(config.routing.balance, Balance::RoundRobin);
    assert_eq!(config.routing.hash_key, HashKey::ClientAddr);
    assert_eq!(config.routing.consistency, Consistency::Global);
    assert_eq!(config.monitor.interval, Duration::from_secs(1));
    assert!(!config.monitor.discovery);
    assert_eq!(config.tls.client, None);
    assert_eq!(config.tls.backend.mode, BackendTlsMode::Preferred);
    assert_eq!(config.monitor_user().map(|u| u.user.as_str()), Some("app"));
}

#[test]
fn a_full_config_loads_with_every_section() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["proxy.crt", "proxy.key", "ca.pem"] {
        std::fs::write(dir.path().join(file), "pem").unwrap();
    }
    let text = "\
listen: 0.0.0.0:3306
admin: { listen: 0.0.0.0:6034, token_env: ADMIN_TOKEN }
max_client_connections: 500
shutdown_timeout: 0s
users:
  - { user: app, password_env: APP_PASSWORD }
  - { user: monitor, password: m }
servers:
  - { address: db1:3306, role: primary, read_weight: 1, name: db1 }
  - { address: 'db2:3306', role: replica, weight: 3, max_connections: 20 }
  - { address: '[::1]:3307', role: auto }
pool: { mode: session, min_idle: 2, max_size: 50, acquire_timeout: 500ms, idle_timeout: 5m,
        max_lifetime: 1h, connect_timeout: 2s, max_prepared_statements: 100 }
routing:
  balance: hash
  hash_key: user
  consistency: session
  max_replication_lag: 2s
  causal_read_timeout: 0s
  read_after_write_window: 1m30s
  failover_timeout: 30s
  rules:
    - { match: { regex: '(?i)^select .* from reports' }, target: replica }
    - { match: { user: app, schema: billing }, reject: billing is read-only here }
monitor: { interval: 500ms, connect_timeout: 300ms, failure_threshold: 5,
           success_threshold: 1, discovery: true, user: monitor }
tls:
  client: { cert: proxy.crt, key: proxy.key }
  backend: { mode: verify_identity, ca: ca.pem }
";
    let path = dir.path().join("proxy.yaml");
    std::fs::write(&path, text).unwrap();
    let config = Loader::new()
        .with_env(env(&[("APP_PASSWORD", "s3cret"), ("ADMIN_TOKEN", "tok")]))
        .load(&path)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.admin.token.as_ref().map(|t| t.expose()), Some("tok"));
    assert_eq!(config.users[0].password.expose(), "s3cret");
    assert_eq!(
        config.users[0].password_env.as_deref(),
        Some("APP_PASSWORD")
    );
    assert_eq!(config.servers[0].name(), "db1");
    assert_eq!(config.servers[1].weight, 3);
    assert_eq!(config.pool.max_size_for(&config.servers[1]), 20);
    assert_eq!(config.servers[2].address.host(), "::1");
    assert_eq!(config.servers[2].role, Role::Auto);
    assert_eq!(config.pool.acquire_timeout, Duration::from_millis(500));
    assert_eq!(
        config.routing.read_after_write_window,
        Duration::from_secs(90)
    );
    assert_eq!(config.shutdown_timeout, Duration::ZERO);
    let rules = &config.routing.rules;
    assert_eq!(rules[0].action(), RuleAction::Route(RuleTarget::Replica));
    assert!(
        rules[0]
            .matches
            .regex
            .as_ref()
            .unwrap()
            .regex()
            .is_match("SELECT a FROM reports")
    );
    assert_eq!(
        rules[1].action(),
        RuleAction::Reject("billing is read-only here")
    );
    assert_eq!(
        config.monitor_user().map(|u| u.user.as_str()),
        Some("monitor")
    );
    // Relative TLS paths are taken from the config file's directory.
    assert_eq!(
        config.tls.client.as_ref().unwrap().cert,
        dir.path().join("proxy.crt")
    );
    assert_eq!(
        config.tls.backend.ca.as_deref(),
        Some(dir.path().join("ca.pem").as_path())
    );
}

#[test]
fn secrets_never_show_in_debug_output() {
    let config = load(MINIMAL).unwrap();
    let dump = format!("{config:?}");
    assert!(!dump.contains("password: Secret(\"app\")") && dump.contains("<redacted>"));
}

#[test]
fn password_env_is_read_from_the_injected_environment() {
    let text = "users: [{ user: app, password_env: APP_PASSWORD }]\n\
                servers: [{ address: db:3306, role: primary }]\n";
    let config = load(text).unwrap();
    assert_eq!(config.users[0].password.expose(), "s3cret");

    let missing = text.replace("APP_PASSWORD", "NOT_SET");
    let errors = errors(&missing);
    let (kind, line, column, message) = error_at(&errors, "users[0].password_env");
    assert_eq!((kind, line, column), (ErrorKind::Environment, 1, 22));
    assert_eq!(message, "environment variable NOT_SET is not set");
}

#[test]
fn unknown_keys_are_named_at_every_level() {
    let text = "\
listn: 127.0.0.1:6033
users: [{ user: app, password: app }]
servers:
  - { address: db:3306, role: primary, wieght: 2 }
routing:
  rules:
    - match: { regexp: '^select' }
      target: replica
tls:
  backend: { mode: disabled, cafile: x }
";
    let errors = errors(text);
    for (path, line, column) in [
        ("listn", 1, 1),
        ("servers[0].wieght", 4, 40),
        ("routing.rules[0].match.regexp", 7, 16),
        ("tls.backend.cafile", 10, 30),
    ] {
        let (kind, l, c, message) = error_at(&errors, path);
        assert_eq!(
            (kind, l, c),
            (ErrorKind::UnknownKey, line, column),
            "{path}: {message}"
        );
        assert!(message.starts_with("unknown field"), "{message}");
    }
    assert_eq!(errors.errors.len(), 4, "{errors}");
}

#[test]
fn bad_values_are_all_reported_with_later_items_numbered_as_in_the_file() {
    let text = "\
listen: localhost
users:
  - { user: app }
  - { user: ops, password: x, password_env: OPS }
  - { user: web, password: w }
servers:
  - { address: db, role: primary }
  - { address: db:3306, role: master }
  - { address: db2:3306, role: replica, weight: -1 }
  - { address: db3:3306, role: replica, weight: 0 }
pool: { idle_timeout: 5, connect_timeout: 5 parsecs, max_lifetime: -1s }
";
    let errors = errors(text);
    let expect = [
        ("listen", ErrorKind::InvalidValue, 1, 1),
        ("users[0]", ErrorKind::Conflict, 3, 5),
        ("users[1]", ErrorKind::Conflict, 4, 5),
        ("servers[0].address", ErrorKind::InvalidValue, 7, 7),
        ("servers[1].role", ErrorKind::InvalidValue, 8, 25),
        ("servers[2].weight", ErrorKind::InvalidValue, 9, 41),
        ("servers[3].weight", ErrorKind::InvalidValue, 10, 41),
        ("pool.idle_timeout", ErrorKind::InvalidValue, 11, 9),
        ("pool.connect_timeout", ErrorKind::InvalidValue, 11, 26),
        ("pool.max_lifetime", ErrorKind::InvalidValue, 11, 54),
    ];
    for (path, kind, line, column) in expect {
        let (k, l, c, message) = error_at(&errors, path);
        assert_eq!((k, l, c), (kind, line, column), "{path}: {message}");
    }
    assert_eq!(errors.errors.len(), expect.len(), "{errors}");
    let text = errors.to_string();
    assert!(text.contains("proxy.yaml:3:5: users[0]: set exactly one of password or password_env"));
    assert!(text.contains("proxy.yaml:10:41: servers[3].weight: must be > 0"));
    assert!(text.contains("pool.idle_timeout: 5 has no unit"), "{text}");
    assert!(text.contains("unknown unit \"parsecs\""), "{text}");
    assert!(
        text.contains("negative durations are not allowed"),
        "{text}"
    );
    assert!(text.contains("unknown variant `master`"), "{text}");
    assert_eq!(text.lines().count(), expect.len());
}

#[test]
fn a_bad_regex_names_its_rule() {
    let text = format!(
        "{MINIMAL}routing: {{ rules: [{{ match: {{ regex: 'a(b' }}, target: primary }}] }}\n"
    );
    let errors = errors(&text);
    let (kind, line, column, message) = error_at(&errors, "routing.rules[0].match.regex");
    assert_eq!((kind, line, column), (ErrorKind::InvalidValue, 3, 31));
    assert!(
        message.starts_with("invalid regex \"a(b\": unclosed group"),
        "{message}"
    );
}

#[test]
fn yaml_syntax_errors_carry_the_parser_position() {
    let errors = errors("listen: [127.0.0.1:6033\nusers: x\n");
    assert_eq!(errors.errors.len(), 1);
    let e = &errors.errors[0];
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!((e.line, e.column), (Some(2), Some(6)), "{errors}");
    // The problem's position moved to the fields; the context's stays in the message.
    assert_eq!(
        errors.to_string(),
        "proxy.yaml:2:6: did not find expected ',' or ']', \
         while parsing a flow sequence at line 1 column 9"
    );
}

#[test]
fn a_document_of_the_wrong_shape_is_one_error() {
    let errors = errors("- just\n- a list\n");
    assert_eq!(errors.errors.len(), 1, "{errors}");
    assert_eq!(errors.errors[0].path, "");
}

#[test]
fn an_unreadable_file_is_an_error_naming_it() {
    let errors = Config::load("/nonexistent/proxy.yaml").unwrap_err();
    assert_eq!(errors.origin, "/nonexistent/proxy.yaml");
    assert!(
        errors
            .to_string()
            .starts_with("/nonexistent/proxy.yaml: cannot read the file")
    );
}

#[test]
fn type_errors_speak_yaml_not_rust_and_are_not_repeated_by_their_parent() {
    let text = "\
users: [{ user: app, password: 1234 }]
servers: [{ address: db:3306, role: primary, weight: abc }]
pool: 5
listen: 6033
";
    let errors = errors(text);
    assert_eq!(
        errors.to_string(),
        "proxy.yaml:1:22: users[0].password: invalid type: integer `1234`, expected a string \
         (put quotes around a secret that looks like a number)\n\
         proxy.yaml:2:46: servers[0].weight: invalid type: string \"abc\", expected a whole number >= 0\n\
         proxy.yaml:3:1: pool: invalid type: integer `5`, expected a mapping\n\
         proxy.yaml:4:1: listen: invalid type: integer `6033`, expected ip:port"
    );
}

#[test]
fn empty_sections_take_their_defaults() {
    let config = load(&format!("{MINIMAL}pool:\nrouting:\n")).unwrap();
    assert_eq!(config.pool.max_size, 10);
    let errors = errors("");
    assert_eq!(
        errors.to_string(),
        "proxy.yaml: users: at least one user is required\n\
         proxy.yaml: servers: at least one server is required"
    );
}

#[test]
fn keys_that_are_not_strings_are_reported_not_looped_on() {
    for text in ["1: x\n", "true: x\n", "pool: { 5: x }\n"] {
        let errors = errors(&format!("{MINIMAL}{text}"));
        assert_eq!(errors.errors.len(), 1, "{errors}");
        assert_eq!(errors.errors[0].kind, ErrorKind::UnknownKey, "{errors}");
    }
    let errors = errors(&format!("{MINIMAL}pool: {{ 5: x }}\n"));
    assert_eq!(
        errors.to_string(),
        "proxy.yaml:3:1: pool: unknown field: integer `5` is not a key name"
    );
}

#[test]
fn a_key_written_twice_is_named_where_it_repeats() {
    let nested = errors(&format!(
        "{MINIMAL}pool:\n  max_size: 1\n  min_idle: 0\n  max_size: 2\n"
    ));
    assert_eq!(
        nested.to_string(),
        "proxy.yaml:6:3: pool.max_size: written twice in one mapping (first at line 4)"
    );
    assert_eq!(nested.errors[0].kind, ErrorKind::Duplicate);
    let top = errors(&format!("{MINIMAL}users: []\n"));
    assert_eq!(
        top.to_string(),
        "proxy.yaml:3:1: users: written twice in one mapping (first at line 1)"
    );
}
