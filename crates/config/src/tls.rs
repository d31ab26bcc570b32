//! `tls:` — TLS towards clients (optional) and towards backends.
//!
//! Relative file paths are taken from the config file's directory by `Config::load`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Both TLS sides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Certificate and key served to clients. Unset: clients connect without TLS.
    pub client: Option<ClientTls>,
    /// How the proxy uses TLS to the backends.
    pub backend: BackendTls,
}

/// The proxy's own certificate for clients that ask for TLS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the certificate.
    pub key: PathBuf,
}

/// TLS to the backends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendTls {
    /// When to use TLS, as in the MySQL client's `--ssl-mode`.
    pub mode: BackendTlsMode,
    /// PEM CA bundle to verify backend certificates with; needed by `verify_ca` and
    /// `verify_identity`, refused with `disabled`.
    pub ca: Option<PathBuf>,
}

/// TLS mode towards backends (the MySQL client's `--ssl-mode` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendTlsMode {
    /// Never use TLS. `caching_sha2_password` full authentication then needs the server's
    /// RSA key.
    Disabled,
    /// Use TLS when the server offers it, without verifying the certificate.
    #[default]
    Preferred,
    /// Always use TLS; fail if the server does not offer it. No certificate verification.
    Required,
    /// Like `required`, and verify the certificate against `ca`.
    VerifyCa,
    /// Like `verify_ca`, and check that the certificate names the server's host.
    VerifyIdentity,
}

impl BackendTlsMode {
    /// Whether this mode verifies certificates, and so needs `ca`.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            BackendTlsMode::VerifyCa | BackendTlsMode::VerifyIdentity
        )
    }
}
