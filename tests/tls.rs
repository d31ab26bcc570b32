//! TLS end to end against the real MariaDB test bed: clients to the proxy (mysql_async and the
//! `mariadb` CLI verifying the proxy's certificate) and the proxy to TLS-serving MariaDB in each
//! backend mode, checked with the backend's own `Ssl_cipher`.
use std::path::Path;
use std::process::Command;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, SslOpts};
use splitrail_server::ProxyHandle;
use splitrail_server::config::Config;
use splitrail_testbed::certs::TestCa;
use splitrail_testbed::{Cluster, ClusterConfig, ServerTls};

/// What the backend says about the connection the statement ran on: its TLS cipher, or "".
const CIPHER: &str =
    "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME='Ssl_cipher'";

/// Starts a proxy for `servers` (address, role) with this `tls:` section (YAML flow mapping).
fn start_proxy(servers: &[(String, &str)], tls: &str) -> ProxyHandle {
    let servers: Vec<String> = servers
        .iter()
        .map(|(address, role)| format!("{{ address: '{address}', role: {role} }}"))
        .collect();
    let yaml = format!(
        "listen: 127.0.0.1:0\n\
         admin: {{ listen: 127.0.0.1:0 }}\n\
         users: [{{ user: app, password: app }}]\n\
         servers: [{}]\n\
         tls: {tls}\n",
        servers.join(", ")
    );
    let config = Config::from_yaml_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    splitrail_server::start(config).expect("proxy starts")
}

fn cluster_servers(cluster: &Cluster, host: &str) -> Vec<(String, &'static str)> {
    let mut servers = vec![(format!("{host}:{}", cluster.primary().port()), "primary")];
    for i in 0..cluster.config().replicas {
        servers.push((format!("{host}:{}", cluster.replica(i).port()), "replica"));
    }
    servers
}

fn opts(proxy: &ProxyHandle, ssl: Option<SslOpts>) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(proxy.local_addr().port())
        .user(Some("app"))
        .pass(Some("app"))
        .db_name(Some("app"))
        // Otherwise mysql_async reconnects to the backend's unix socket, around the proxy.
        .prefer_socket(false)
        .ssl_opts(ssl)
}

/// TLS options trusting only the CA certificate in `ca`.
fn trusting(ca: &Path) -> SslOpts {
    SslOpts::default()
        .with_root_certs(vec![ca.to_path_buf().into()])
        .with_disable_built_in_roots(true)
}

/// The backend cipher of a read (on a replica when there is one) and of a statement in a
/// transaction (on the primary).
async fn backend_ciphers(proxy: &ProxyHandle) -> Result<(String, String), mysql_async::Error> {
    let mut conn = Conn::new(opts(proxy, None)).await?;
    let read: Option<String> = conn.query_first(CIPHER).await?;
    assert_big_result(&mut conn).await;
    conn.query_drop("START TRANSACTION").await?;
    let in_transaction: Option<String> = conn.query_first(CIPHER).await?;
    conn.query_drop("COMMIT").await?;
    conn.disconnect().await?;
    Ok((read.unwrap_or_default(), in_transaction.unwrap_or_default()))
}

/// A 20 MB result set in 1 kB rows: many TLS records, the socket full most of the time.
async fn assert_big_result(conn: &mut Conn) {
    let rows: Vec<String> = conn
        .query("SELECT REPEAT('y', 1000) FROM seq_1_to_20000")
        .await
        .unwrap();
    assert_eq!(rows.len(), 20_000);
    assert!(rows.iter().all(|r| r.len() == 1000));
}

#[tokio::test]
async fn clients_connect_to_the_proxy_with_tls() {
    let cluster = splitrail_testbed::shared_cluster(0);
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "ca").unwrap();
    let other_ca = TestCa::new(dir.path(), "other-ca").unwrap();
    let cert = ca.issue("proxy", &["localhost", "127.0.0.1"]).unwrap();
    let tls = format!(
        "{{ client: {{ cert: '{}', key: '{}' }} }}",
        cert.cert.display(),
        cert.key.display()
    );
    let proxy = start_proxy(&cluster_servers(cluster, "127.0.0.1"), &tls);

    // mysql_async verifying the proxy's certificate against the test CA.
    let mut conn = Conn::new(opts(&proxy, Some(trusting(&ca.ca))))
        .await
        .expect("TLS connection to the proxy");
    conn.query_drop("CREATE TABLE IF NOT EXISTS app.tls_clients (id INT PRIMARY KEY, v LONGTEXT)")
        .await
        .unwrap();
    conn.query_drop("DELETE FROM app.tls_clients")
        .await
        .unwrap();
    // Larger than one TLS record (16 KiB) both ways.
    let big = "x".repeat(200_000);
    conn.exec_drop("INSERT INTO app.tls_clients VALUES (1, ?)", (big.clone(),))
        .await
        .unwrap();
    let back: Option<String> = conn
        .query_first("SELECT v FROM app.tls_clients WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(back.as_deref(), Some(big.as_str()));
    assert_big_result(&mut conn).await;
    conn.disconnect().await.unwrap();

    // A client that trusts another CA refuses the proxy's certificate: the session really was
    // TLS with the configured certificate.
    let refused = Conn::new(opts(&proxy, Some(trusting(&other_ca.ca)))).await;
    assert!(
        refused.is_err(),
        "a certificate from an untrusted CA was accepted"
    );

    // Clients that do not ask for TLS still connect.
    let mut plain = Conn::new(opts(&proxy, None)).await.expect("plain client");
    let one: Option<u32> = plain.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    plain.disconnect().await.unwrap();

    // The mariadb CLI, verifying the certificate and the host name.
    let client = splitrail_testbed::binaries::Binaries::locate()
        .unwrap()
        .client;
    let cli = |ca: &Path| {
        Command::new(&client)
            .args([
                "--no-defaults",
                "--protocol=tcp",
                "-h127.0.0.1",
                "-uapp",
                "--batch",
            ])
            .arg(format!("-P{}", proxy.local_addr().port()))
            .arg("--ssl")
            .arg(format!("--ssl-ca={}", ca.display()))
            .arg("--ssl-verify-server-cert")
            .args(["-e", "SELECT 'over tls'"])
            .env("MYSQL_PWD", "app")
            .output()
            .unwrap()
    };
    let ok = cli(&ca.ca);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("over tls"));
    let refused = cli(&other_ca.ca);
    assert!(
        !refused.status.success(),
        "the CLI accepted an untrusted certificate"
    );
}

#[tokio::test]
async fn the_proxy_connects_to_tls_backends_in_each_mode() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "ca").unwrap();
    let other_ca = TestCa::new(dir.path(), "other-ca").unwrap();
    // Names 127.0.0.1 only: `localhost` is the right server but the wrong name.
    let server = ca.issue("mariadb", &["127.0.0.1"]).unwrap();
    let cluster = Cluster::start(ClusterConfig {
        tls: Some(ServerTls {
            cert: server.cert.clone(),
            key: server.key.clone(),
            ca: ca.ca.clone(),
        }),
        ..ClusterConfig::with_replicas(1)
    })
    .unwrap();
    let by_ip = cluster_servers(&cluster, "127.0.0.1");
    let by_name = cluster_servers(&cluster, "localhost");
    let ca_path = ca.ca.display().to_string();
    let backend = |mode: &str, ca: Option<&str>| match ca {
        Some(ca) => format!("{{ backend: {{ mode: {mode}, ca: '{ca}' }} }}"),
        None => format!("{{ backend: {{ mode: {mode} }} }}"),
    };

    for (servers, tls) in [
        (&by_ip, backend("preferred", None)),
        (&by_ip, backend("required", None)),
        (&by_name, backend("verify_ca", Some(&ca_path))),
        (&by_ip, backend("verify_identity", Some(&ca_path))),
    ] {
        let proxy = start_proxy(servers, &tls);
        let (read, written) = backend_ciphers(&proxy)
            .await
            .unwrap_or_else(|e| panic!("{tls}: {e}"));
        assert!(!read.is_empty(), "{tls}: the replica connection is not TLS");
        assert!(
            !written.is_empty(),
            "{tls}: the primary connection is not TLS"
        );
    }

    let proxy = start_proxy(&by_ip, &backend("disabled", None));
    let (read, written) = backend_ciphers(&proxy).await.unwrap();
    assert_eq!(
        (read.as_str(), written.as_str()),
        ("", ""),
        "disabled still used TLS"
    );

    // Verification failures: the wrong host name, a CA that did not sign the certificate.
    let other_path = other_ca.ca.display().to_string();
    for (servers, tls, why) in [
        (
            &by_name,
            backend("verify_identity", Some(&ca_path)),
            "not valid for name",
        ),
        (
            &by_ip,
            backend("verify_ca", Some(&other_path)),
            "UnknownIssuer",
        ),
    ] {
        let proxy = start_proxy(servers, &tls);
        let err = backend_ciphers(&proxy)
            .await
            .expect_err(&format!("{tls}: connected to an unverified backend"))
            .to_string();
        assert!(
            err.contains("TLS handshake failed") && err.contains(why),
            "{tls}: {err}"
        );
    }
}

#[tokio::test]
async fn required_tls_to_a_backend_without_it_is_a_clear_error() {
    let cluster = splitrail_testbed::shared_cluster(0);
    let proxy = start_proxy(
        &cluster_servers(cluster, "127.0.0.1"),
        "{ backend: { mode: required } }",
    );
    let err = backend_ciphers(&proxy)
        .await
        .expect_err("connected without TLS")
        .to_string();
    assert!(
        err.contains("does not offer TLS") && err.contains("required"),
        "{err}"
    );
    // preferred falls back to plain TCP.
    let proxy = start_proxy(
        &cluster_servers(cluster, "127.0.0.1"),
        "{ backend: { mode: preferred } }",
    );
    let (read, _) = backend_ciphers(&proxy).await.unwrap();
    assert_eq!(read, "");
}
