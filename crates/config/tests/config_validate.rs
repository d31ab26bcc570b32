//! Semantic checks: each kind of problem, with its key path, line and column, and all of them
//! reported together.

use splitrail_config::{Config, ConfigErrors, ErrorKind, Loader};

/// Two lines every case may start from: one user, one primary.
const BASE: &str = "\
users: [{ user: app, password: app }]
servers: [{ address: db1:3306, role: primary }]
";

fn errors(text: &str) -> ConfigErrors {
    let loader = Loader::new()
        .origin("proxy.yaml")
        .with_env(|name| (name == "TOKEN").then(|| "t".to_string()));
    match loader.from_yaml_str(text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(errors) => errors,
    }
}

/// Asserts `text` has exactly one problem, at `path` (`line`:`column`), of `kind`, whose
/// message contains `says`.
fn check(text: &str, path: &str, kind: ErrorKind, at: (usize, usize), says: &str) {
    let errors = errors(text);
    assert_eq!(
        errors.errors.len(),
        1,
        "one problem expected in:\n{text}\ngot:\n{errors}"
    );
    let e = &errors.errors[0];
    assert_eq!(e.path, path, "{errors}");
    assert_eq!(e.kind, kind, "{errors}");
    assert_eq!((e.line, e.column), (Some(at.0), Some(at.1)), "{errors}");
    assert!(e.message.contains(says), "{:?} lacks {says:?}", e.message);
}

#[test]
fn servers_are_required_and_need_one_primary() {
    let users = "users: [{ user: app, password: app }]\n";
    let none = format!("{users}servers: []\n");
    check(
        &none,
        "servers",
        ErrorKind::Missing,
        (2, 1),
        "at least one server",
    );

    let replicas = format!(
        "{users}servers:\n  - {{ address: db1:3306, role: replica }}\n  - {{ address: db2:3306, role: replica }}\n"
    );
    check(
        &replicas,
        "servers",
        ErrorKind::Missing,
        (2, 1),
        "no server has role: primary",
    );

    let two = format!(
        "{users}servers:\n  - {{ address: db1:3306, role: primary }}\n  - {{ address: db2:3306, role: primary }}\n"
    );
    check(
        &two,
        "servers[1].role",
        ErrorKind::Conflict,
        (4, 26),
        "servers[0] is",
    );

    let auto = format!(
        "{users}servers:\n  - {{ address: db1:3306, role: auto }}\n  - {{ address: db2:3306, role: auto }}\n"
    );
    Config::from_yaml_str(&auto).unwrap();
}

#[test]
fn a_missing_servers_key_is_reported_without_a_position() {
    let errors = errors("users: [{ user: app, password: app }]\n");
    assert_eq!(errors.errors.len(), 1, "{errors}");
    assert_eq!(
        errors.to_string(),
        "proxy.yaml: servers: at least one server is required"
    );
}

#[test]
fn duplicate_servers_and_bad_names() {
    let text = "\
users: [{ user: app, password: app }]
servers:
  - { address: db1:3306, role: primary, name: a }
  - { address: DB1:3306, role: replica }
  - { address: db2:3306, role: replica, name: a }
  - { address: db3:3306, role: replica, name: 'b c' }
  - { address: db1:3306, role: replica }
";
    let errors = errors(text);
    let got: Vec<_> = errors
        .errors
        .iter()
        .map(|e| (e.path.as_str(), e.kind, e.line, e.column))
        .collect();
    assert_eq!(
        got,
        [
            ("servers[1].address", ErrorKind::Duplicate, Some(4), Some(7)),
            ("servers[2].name", ErrorKind::Duplicate, Some(5), Some(41)),
            (
                "servers[3].name",
                ErrorKind::InvalidValue,
                Some(6),
                Some(41)
            ),
            ("servers[4].address", ErrorKind::Duplicate, Some(7), Some(7)),
        ],
        "{errors}"
    );
    // A third use names the first, not the second.
    assert_eq!(
        errors.errors[3].message,
        "db1:3306 is already used by servers[0]"
    );
    assert!(
        errors
            .to_string()
            .contains("DB1:3306 is already used by servers[0]")
    );
}

#[test]
fn weights_must_be_sane() {
    let server = |extra: &str| {
        format!(
            "users: [{{ user: app, password: app }}]\nservers: [{{ address: db:3306, role: {extra} }}]\n"
        )
    };
    let zero = server("primary, weight: 0");
    check(
        &zero,
        "servers[0].weight",
        ErrorKind::InvalidValue,
        (2, 46),
        "must be > 0",
    );
    let huge = server("primary, read_weight: 10001");
    check(
        &huge,
        "servers[0].read_weight",
        ErrorKind::InvalidValue,
        (2, 46),
        "at most 10000",
    );
    let replica_reads = server("auto, read_weight: 2");
    Config::from_yaml_str(&replica_reads).unwrap();
    // A replica's share of reads is its weight; read_weight there is a mistake.
    let replica = server("replica, read_weight: 1 }, { address: db2:3306, role: primary");
    check(
        &replica,
        "servers[0].read_weight",
        ErrorKind::Conflict,
        (2, 46),
        "primary (or auto)",
    );
}

#[test]
fn per_server_pool_size_must_fit_the_pool() {
    let text = BASE.replace("primary }", "primary, max_connections: 0 }");
    check(
        &text,
        "servers[0].max_connections",
        ErrorKind::InvalidValue,
        (2, 47),
        "> 0",
    );
    let text = format!(
        "{}pool: {{ min_idle: 3 }}\n",
        BASE.replace("primary }", "primary, max_connections: 2 }")
    );
    check(
        &text,
        "servers[0].max_connections",
        ErrorKind::Conflict,
        (2, 47),
        "below pool.min_idle",
    );
}

#[test]
fn users_are_required_and_unique() {
    let servers = "servers: [{ address: db:3306, role: primary }]\n";
    check(
        &format!("users: []\n{servers}"),
        "users",
        ErrorKind::Missing,
        (1, 1),
        "at least one user",
    );
    let dup = format!(
        "users:\n  - {{ user: app, password: a }}\n  - {{ user: app, password: b }}\n{servers}"
    );
    check(
        &dup,
        "users[1].user",
        ErrorKind::Duplicate,
        (3, 7),
        "already defined at users[0]",
    );
    let empty = format!("users: [{{ user: '', password: a }}]\n{servers}");
    check(
        &empty,
        "users[0].user",
        ErrorKind::InvalidValue,
        (1, 11),
        "must not be empty",
    );
}

#[test]
fn admin_listener_and_token() {
    let same = format!("{BASE}listen: 127.0.0.1:7000\nadmin: {{ listen: 127.0.0.1:7000 }}\n");
    check(
        &same,
        "admin.listen",
        ErrorKind::Conflict,
        (4, 10),
        "also `listen`",
    );
    let wildcard = format!("{BASE}listen: 0.0.0.0:7000\nadmin: {{ listen: 127.0.0.1:7000 }}\n");
    check(
        &wildcard,
        "admin.listen",
        ErrorKind::Conflict,
        (4, 10),
        "also `listen`",
    );
    // Port 0 asks the OS for a free port: tests run both listeners that way.
    let ephemeral = format!("{BASE}listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\n");
    Config::from_yaml_str(&ephemeral).unwrap();

    let open = format!("{BASE}admin: {{ listen: 0.0.0.0:6034 }}\n");
    check(
        &open,
        "admin.listen",
        ErrorKind::Missing,
        (3, 10),
        "needs admin.token",
    );
    let both = format!("{BASE}admin: {{ token: a, token_env: TOKEN }}\n");
    check(
        &both,
        "admin",
        ErrorKind::Conflict,
        (3, 1),
        "at most one of token or token_env",
    );
    let unset = format!("{BASE}admin: {{ token_env: NOPE }}\n");
    check(
        &unset,
        "admin.token_env",
        ErrorKind::Environment,
        (3, 10),
        "NOPE is not set",
    );
    let zero = format!("{BASE}max_client_connections: 0\n");
    check(
        &zero,
        "max_client_connections",
        ErrorKind::InvalidValue,
        (3, 1),
        "> 0",
    );
}

#[test]
fn pool_sizes_and_timeouts() {
    let cases = [
        (
            "max_size: 0",
            "pool.max_size",
            ErrorKind::InvalidValue,
            "> 0",
        ),
        (
            "min_idle: 11",
            "pool.min_idle",
            ErrorKind::Conflict,
            "above pool.max_size (10)",
        ),
        (
            "acquire_timeout: 0s",
            "pool.acquire_timeout",
            ErrorKind::InvalidValue,
            "> 0",
        ),
        (
            "idle_timeout: 0ms",
            "pool.idle_timeout",
            ErrorKind::InvalidValue,
            "> 0",
        ),
        (
            "max_lifetime: 0m",
            "pool.max_lifetime",
            ErrorKind::InvalidValue,
            "> 0",
        ),
        (
            "connect_timeout: 0h",
            "pool.connect_timeout",
            ErrorKind::InvalidValue,
            "> 0",
        ),
        (
            "max_prepared_statements: 0",
            "pool.max_prepared_statements",
            ErrorKind::InvalidValue,
            "> 0",
        ),
    ];
    for (setting, path, kind, says) in cases {
        check(
            &format!("{BASE}pool:\n  {setting}\n"),
            path,
            kind,
            (4, 3),
            says,
        );
    }
    check(
        &format!("{BASE}pool:\n  mode: session\n  max_size: 1\n"),
        "pool.max_size",
        ErrorKind::InvalidValue,
        (5, 3),
        "session pooling needs at least 2",
    );
}

#[test]
fn routing_settings_and_rules() {
    let lag = format!("{BASE}routing: {{ max_replication_lag: 0s }}\n");
    check(
        &lag,
        "routing.max_replication_lag",
        ErrorKind::InvalidValue,
        (3, 12),
        "> 0",
    );
    // 0 means "do not wait" for these two.
    let zero_waits =
        format!("{BASE}routing: {{ causal_read_timeout: 0s, failover_timeout: 0s }}\n");
    Config::from_yaml_str(&zero_waits).unwrap();

    let rule = |body: &str| format!("{BASE}routing:\n  rules:\n    - {body}\n");
    let cases = [
        (
            "{ match: {}, target: primary }",
            "routing.rules[0].match",
            ErrorKind::Missing,
            (5, 9),
            "at least one of",
        ),
        (
            "{ match: { user: app }, target: primary, reject: no }",
            "routing.rules[0]",
            ErrorKind::Conflict,
            (5, 7),
            "exactly one of target or reject",
        ),
        (
            "{ match: { user: app } }",
            "routing.rules[0]",
            ErrorKind::Conflict,
            (5, 7),
            "exactly one of target or reject",
        ),
        (
            "{ match: { user: app }, reject: '' }",
            "routing.rules[0].reject",
            ErrorKind::InvalidValue,
            (5, 31),
            "must not be empty",
        ),
        (
            "{ match: { user: bob }, target: replica }",
            "routing.rules[0].match.user",
            ErrorKind::InvalidValue,
            (5, 18),
            "no user \"bob\"",
        ),
        (
            "{ match: { schema: '' }, target: replica }",
            "routing.rules[0].match.schema",
            ErrorKind::InvalidValue,
            (5, 18),
            "must not be empty",
        ),
        (
            "{ match: { digest: abc }, target: nowhere }",
            "routing.rules[0].target",
            ErrorKind::InvalidValue,
            (5, 33),
            "unknown variant `nowhere`",
        ),
    ];
    for (body, path, kind, at, says) in cases {
        check(&rule(body), path, kind, at, says);
    }
}

#[test]
fn monitor_settings() {
    let cases = [
        (
            "interval: 0s",
            "monitor.interval",
            ErrorKind::InvalidValue,
            "> 0",
        ),
        (
            "connect_timeout: 0s",
            "monitor.connect_timeout",
            ErrorKind::InvalidValue,
            "> 0",
        ),
        (
            "failure_threshold: 0",
            "monitor.failure_threshold",
            ErrorKind::InvalidValue,
            "> 0",
        ),
        (
            "success_threshold: 0",
            "monitor.success_threshold",
            ErrorKind::InvalidValue,
            "> 0",
        ),
        (
            "user: nobody",
            "monitor.user",
            ErrorKind::InvalidValue,
            "no user \"nobody\"",
        ),
    ];
    for (setting, path, kind, says) in cases {
        check(
            &format!("{BASE}monitor:\n  {setting}\n"),
            path,
            kind,
            (4, 3),
            says,
        );
    }
}

#[test]
fn tls_files_must_exist_and_fit_the_mode() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("ok.pem");
    std::fs::write(&pem, "pem").unwrap();
    let (pem, missing, folder) = (
        pem.display().to_string(),
        dir.path().join("missing.pem").display().to_string(),
        dir.path().display().to_string(),
    );
    let tls = |body: &str| format!("{BASE}tls:\n  {body}\n");

    let ok = tls(&format!("client: {{ cert: '{pem}', key: '{pem}' }}"));
    Config::from_yaml_str(&ok).unwrap();
    let cert = tls(&format!("client: {{ cert: '{missing}', key: '{pem}' }}"));
    check(
        &cert,
        "tls.client.cert",
        ErrorKind::File,
        (4, 13),
        "does not exist",
    );
    let key = tls(&format!("client: {{ cert: '{pem}', key: '{folder}' }}"));
    check(
        &key,
        "tls.client.key",
        ErrorKind::File,
        (4, 23 + pem.len()),
        "is not a file",
    );

    let unused = tls(&format!("backend: {{ mode: disabled, ca: '{pem}' }}"));
    check(
        &unused,
        "tls.backend.ca",
        ErrorKind::Conflict,
        (4, 30),
        "unused with mode: disabled",
    );
    let needed = tls("backend: { mode: verify_ca }");
    check(
        &needed,
        "tls.backend.ca",
        ErrorKind::Missing,
        (4, 3),
        "required by mode: verify_ca",
    );
    let absent = tls(&format!(
        "backend: {{ mode: verify_identity, ca: '{missing}' }}"
    ));
    check(
        &absent,
        "tls.backend.ca",
        ErrorKind::File,
        (4, 37),
        "does not exist",
    );
}

#[test]
fn every_problem_is_reported_in_one_run_in_file_order() {
    let text = "\
listen: 127.0.0.1:6033
admin: { listen: 127.0.0.1:6033 }
users:
  - { user: app, password: a }
  - { user: app, password_env: UNSET }
servers:
  - { address: db1:3306, role: primary, weight: 0 }
  - { address: db1:3306, role: primary }
pool: { max_size: 0 }
monitor: { interval: 0s }
";
    let errors = errors(text);
    let lines: Vec<String> = errors.to_string().lines().map(String::from).collect();
    assert_eq!(
        lines,
        [
            "proxy.yaml:2:10: admin.listen: 127.0.0.1:6033 is also `listen`; use another port",
            "proxy.yaml:5:7: users[1].user: user \"app\" is already defined at users[0]",
            "proxy.yaml:5:18: users[1].password_env: environment variable UNSET is not set",
            "proxy.yaml:7:41: servers[0].weight: must be > 0",
            "proxy.yaml:8:7: servers[1].address: db1:3306 is already used by servers[0]",
            "proxy.yaml:8:26: servers[1].role: only one server may be primary, and servers[0] is; \
             use role: auto to let the monitor decide",
            "proxy.yaml:9:9: pool.max_size: must be > 0",
            "proxy.yaml:10:12: monitor.interval: must be > 0 (e.g. \"5s\")",
        ]
    );
}

#[test]
fn configs_built_in_code_are_checked_too() {
    let mut config = Config::from_yaml_str(BASE).unwrap();
    assert!(config.validate().is_ok());
    config.servers[0].weight = 0;
    config.pool.max_size = 0;
    let errors = config.validate().unwrap_err();
    assert_eq!(
        errors.to_string(),
        "<config>: servers[0].weight: must be > 0\n<config>: pool.max_size: must be > 0"
    );
}
