//! Loading `tls:` at start: the acceptor for clients and the connector for backends, with every
//! problem reported under the key that names the file.
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::ServerCertVerifier;
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::verify::Verifier;
use crate::config::{BackendTlsMode, ConfigError, ConfigErrors, ErrorKind, TlsConfig};

/// connector for backends.
#[derive(Clone, Default)]
pub struct Tls {
    /// Accepts clients' TLS handshakes; `None`: CLIENT_SSL is not offered.
    pub acceptor: Option<TlsAcceptor>,
    /// How backend connections use TLS.
    pub backend: BackendTlsSetup,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("clients", &self.acceptor.is_some())
            .field("backend", &self.backend)
            .finish()
    }
}

/// TLS towards backends: the mode and, unless it is `disabled`, the connector.
#[derive(Clone, Default)]
pub struct BackendTlsSetup {
    mode: BackendTlsMode,
    pub(super) connector: Option<TlsConnector>,
}

impl fmt::Debug for BackendTlsSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendTlsSetup")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl BackendTlsSetup {
    /// The configured mode.
    pub fn mode(&self) -> BackendTlsMode {
        self.mode
    }

    /// Whether to upgrade a connection whose server does (`offered`) or does not offer TLS;
    /// `Err` says why a mode that needs TLS cannot connect.
    pub fn wants_tls(&self, offered: bool) -> Result<bool, String> {
        match (self.mode, offered) {
            (BackendTlsMode::Disabled, _) => Ok(false),
            (_, true) => Ok(self.connector.is_some()),
            (BackendTlsMode::Preferred, false) => Ok(false),
            (mode, false) => Err(format!(
                "the server does not offer TLS, and tls.backend.mode is {}",
                mode_name(mode)
            )),
        }
    }
}

fn mode_name(mode: BackendTlsMode) -> &'static str {
    match mode {
        BackendTlsMode::Disabled => "disabled",
        BackendTlsMode::Preferred => "preferred",
        BackendTlsMode::Required => "required",
        BackendTlsMode::VerifyCa => "verify_ca",
        BackendTlsMode::VerifyIdentity => "verify_identity",
    }
}

impl Tls {
    /// Loads the certificates, key and CA that `config` names. Every problem is reported with
    /// the key that names the file (`tls.client.cert: …`).
    pub fn load(config: &TlsConfig) -> Result<Tls, ConfigErrors> {
        let provider = Arc::new(crypto::ring::default_provider());
        let mut errors = Vec::new();
        let acceptor = match &config.client {
            Some(client) => acceptor(&provider, &client.cert, &client.key, &mut errors),
            None => None,
        };
        let backend = match config.backend.mode {
            BackendTlsMode::Disabled => Some(BackendTlsSetup {
                mode: BackendTlsMode::Disabled,
                connector: None,
            }),
            mode => connector(&provider, mode, config.backend.ca.as_deref(), &mut errors).map(
                |connector| BackendTlsSetup {
                    mode,
                    connector: Some(connector),
                },
            ),
        };
        if !errors.is_empty() {
            return Err(ConfigErrors {
                origin: "<config>".into(),
                errors,
            });
        }
        Ok(Tls {
            acceptor,
            backend: backend.unwrap_or_default(),
        })
    }
}

fn problem(errors: &mut Vec<ConfigError>, kind: ErrorKind, key: &str, file: &Path, why: String) {
    errors.push(ConfigError::new(
        kind,
        key,
        format!("{}: {why}", file.display()),
    ));
}

/// The certificates of a PEM file (`key` names it in errors).
fn certificates(
    key: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<CertificateDer<'static>>> {
    let read = CertificateDer::pem_file_iter(file).and_then(|certs| certs.collect());
    match read {
        Ok(certs) if Vec::is_empty(&certs) => {
            let why = "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_string();
            problem(errors, ErrorKind::InvalidValue, key, file, why);
            None
        }
        Ok(certs) => Some(certs),
        Err(e) => {
            problem(errors, pem_kind(&e), key, file, pem_error(&e));
            None
        }
    }
}

fn pem_kind(e: &rustls::pki_types::pem::Error) -> ErrorKind {
    match e {
        rustls::pki_types::pem::Error::Io(_) => ErrorKind::File,
        _ => ErrorKind::InvalidValue,
    }
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(e) => format!("cannot read: {e}"),
        Error::NoItemsFound => "holds no PEM item of the expected kind".to_string(),
        other => format!("is not valid PEM: {other:?}"),
    }
}

fn acceptor(
    provider: &Arc<CryptoProvider>,
    cert: &Path,
    key: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<TlsAcceptor> {
    let chain = certificates("tls.client.cert", cert, errors);
    let private = match PrivateKeyDer::from_pem_file(key) {
        Ok(k) => Some(k),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            let why = "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".to_string();
            problem(errors, ErrorKind::InvalidValue, "tls.client.key", key, why);
            None
        }
        Err(e) => {
            problem(errors, pem_kind(&e), "tls.client.key", key, pem_error(&e));
            None
        }
    };
    let (chain, private) = (chain?, private?);
    let built = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private));
    match built {
        Ok(config) => Some(TlsAcceptor::from(Arc::new(config))),
        Err(e) => {
            let why = format!("cannot be used with tls.client.cert: {e}");
            problem(errors, ErrorKind::InvalidValue, "tls.client.key", key, why);
            None
        }
    }
}

fn connector(
    provider: &Arc<CryptoProvider>,
    mode: BackendTlsMode,
    ca: Option<&Path>,
    errors: &mut Vec<ConfigError>,
) -> Option<TlsConnector> {
    let builder = match ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b,
        Err(e) => {
            errors.push(ConfigError::new(
                ErrorKind::InvalidValue,
                "tls.backend.mode",
                format!("no TLS protocol version available: {e}"),
            ));
            return None;
        }
    };
    let config = match ca {
        // As MySQL's ssl-mode: preferred and required encrypt but check no certificate unless
        // a CA is given.
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier {
                chain: None,
                provider: provider.clone(),
            })),
        Some(file) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates("tls.backend.ca", file, errors)? {
                if let Err(e) = roots.add(cert) {
                    let why = format!("holds a certificate that is not a valid CA: {e}");
                    problem(errors, ErrorKind::InvalidValue, "tls.backend.ca", file, why);
                    return None;
                }
            }
            let verifier = match WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            {
                Ok(v) => v,
                Err(e) => {
                    let why = format!("cannot verify with it: {e}");
                    problem(errors, ErrorKind::InvalidValue, "tls.backend.ca", file, why);
                    return None;
                }
            };
            let verifier: Arc<dyn ServerCertVerifier> = if mode == BackendTlsMode::VerifyIdentity {
                verifier
            } else {
                Arc::new(Verifier {
                    chain: Some(verifier),
                    provider: provider.clone(),
                })
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
        }
    };
    Some(TlsConnector::from(Arc::new(config.with_no_client_auth())))
}
