//! TLS on both sides: the stream types client and backend connections run on, loading the
//! configured certificates, keys and CA at start, and the certificate checks of each backend
//! mode.
//!
//! A connection starts in plain TCP; the MySQL protocol upgrades it after the server's greeting
//! (the client sends an SSLRequest, then the TLS handshake, then its HandshakeResponse41 over
//! TLS). [`ClientStream`] and [`BackendStream`] are an enum over the plain socket and the TLS
//! stream, so `PacketIo` and the relay are the same code for both and the plain path costs one
//! `match` per read or write — no allocation, no extra system call.
//!
//! rustls runs on the `ring` provider, given explicitly to every config (no process-wide
//! default is installed or relied on).
use std::fmt;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::{BackendTlsMode, ConfigError, ConfigErrors, ErrorKind, TlsConfig};

/// Implements `AsyncRead` + `AsyncWrite` for a stream enum by delegating to the variant's
/// stream. Both variants are `Unpin`, so `Pin::new` projects without `unsafe`.
macro_rules! delegate_stream {
    ($name:ident) => {
        impl $name {
            /// Whether the connection is encrypted.
            pub fn is_tls(&self) -> bool {
                matches!(self, $name::Tls(_))
            }

            /// Takes the plain socket out for the TLS handshake, leaving `Upgrading` behind.
            fn take_plain(&mut self) -> io::Result<TcpStream> {
                match std::mem::replace(self, $name::Upgrading) {
                    $name::Plain(tcp) => Ok(tcp),
                    other => {
                        *self = other;
                        Err(io::Error::other(
                            "TLS requested on a connection not in plain TCP",
                        ))
                    }
                }
            }
        }

        impl AsyncRead for $name {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $name::Plain(s) => Pin::new(s).poll_read(cx, buf),
                    $name::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
                    $name::Upgrading => Poll::Ready(Err(upgrading())),
                }
            }
        }

        impl AsyncWrite for $name {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $name::Plain(s) => Pin::new(s).poll_write(cx, buf),
                    $name::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
                    $name::Upgrading => Poll::Ready(Err(upgrading())),
                }
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $name::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
                    $name::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
                    $name::Upgrading => Poll::Ready(Err(upgrading())),
                }
            }

            fn is_write_vectored(&self) -> bool {
                match self {
                    $name::Plain(s) => s.is_write_vectored(),
                    $name::Tls(s) => s.is_write_vectored(),
                    $name::Upgrading => false,
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $name::Plain(s) => Pin::new(s).poll_flush(cx),
                    $name::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
                    $name::Upgrading => Poll::Ready(Ok(())),
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $name::Plain(s) => Pin::new(s).poll_shutdown(cx),
                    $name::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
                    $name::Upgrading => Poll::Ready(Ok(())),
                }
            }
        }
    };
}

fn upgrading() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "connection lost during its TLS handshake",
    )
}

/// A client connection's byte stream. The TLS stream is boxed: it is large, and an idle plain
/// client should stay small.
#[derive(Debug)]
pub enum ClientStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS, after the client's SSLRequest.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// Only while the TLS handshake runs (or after it failed); reads and writes fail.
    Upgrading,
}
delegate_stream!(ClientStream);

impl ClientStream {
    /// Runs the server side of the TLS handshake on this plain connection.
    pub async fn upgrade(&mut self, acceptor: &TlsAcceptor) -> io::Result<()> {
        let tcp = self.take_plain()?;
        let tls = acceptor.accept(tcp).await?;
        *self = ClientStream::Tls(Box::new(tls));
        Ok(())
    }
}

/// A backend connection's byte stream.
#[derive(Debug)]
pub enum BackendStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS, after the proxy's SSLRequest.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// Only while the TLS handshake runs (or after it failed); reads and writes fail.
    Upgrading,
}
delegate_stream!(BackendStream);

impl BackendStream {
    /// Runs the client side of the TLS handshake on this plain connection to `host`.
    pub async fn upgrade(&mut self, setup: &BackendTlsSetup, host: &str) -> io::Result<()> {
        let Some(connector) = &setup.connector else {
            return Err(io::Error::other("TLS to backends is disabled"));
        };
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("host {host:?}: {e}"))
        })?;
        let tcp = self.take_plain()?;
        let tls = connector.connect(name, tcp).await?;
        *self = BackendStream::Tls(Box::new(tls));
        Ok(())
    }

    /// Whether the server closed this idle connection (or sent something nobody asked for),
    /// checked without blocking.
    pub fn closed_while_idle(&mut self) -> bool {
        match self {
            BackendStream::Plain(tcp) => {
                let mut probe = [0u8; 1];
                match tcp.try_read(&mut probe) {
                    Ok(_) => true, // EOF, or bytes nobody asked for: either way unusable
                    Err(e) => e.kind() != io::ErrorKind::WouldBlock,
                }
            }
            BackendStream::Tls(tls) => {
                // Reading the raw socket would eat TLS records; poll the TLS stream once
                // instead. It processes what arrived (a session ticket is fine, a close_notify
                // or EOF reads as 0 bytes) and says Pending when nothing is there. The next
                // real read registers the task's own waker.
                let mut probe = [0u8; 1];
                let mut buf = ReadBuf::new(&mut probe);
                let mut cx = Context::from_waker(Waker::noop());
                Pin::new(tls.as_mut())
                    .poll_read(&mut cx, &mut buf)
                    .is_ready()
            }
            BackendStream::Upgrading => true,
        }
    }
}

/// The TLS setup built from `tls:` at start: the acceptor for clients (when configured) and the
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
    connector: Option<TlsConnector>,
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

/// The verifier of every mode but `verify_identity` (which uses webpki's as it is).
///
/// - `chain: None` — `preferred` and `required` without a CA: like MySQL's `--ssl-mode` of the
///   same names, the connection is encrypted but the server's certificate is not checked
///   (backends usually run on self-signed certificates that MariaDB or MySQL made themselves).
///   The handshake signatures are still verified, so the peer must hold the key of the
///   certificate it showed; what this does not stop is an active man in the middle with a
///   certificate of its own — `verify_ca` or `verify_identity` do.
/// - `chain: Some` — `verify_ca` (or a CA given to `preferred`/`required`): the certificate chain
///   must lead to the CA, but its names need not match the host. webpki checks the chain before
///   the names, so a name error means the chain was fine.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The host part of a backend address (`db.example:3306`, `[::1]:3306`), for the TLS server
/// name.
pub fn host_of(address: &str) -> &str {
    let host = match address.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => address,
    };
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use splitrail_testbed::certs::TestCa;

    use super::*;
    use crate::config::{BackendTls, ClientTls};

    fn client(cert: &Path, key: &Path) -> TlsConfig {
        TlsConfig {
            client: Some(ClientTls {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            }),
            backend: BackendTls::default(),
        }
    }

    fn backend(mode: BackendTlsMode, ca: Option<PathBuf>) -> TlsConfig {
        TlsConfig {
            client: None,
            backend: BackendTls { mode, ca },
        }
    }

    /// The one problem of a failed load: (key, message).
    fn only_problem(config: &TlsConfig) -> (String, String) {
        let errors = Tls::load(config).expect_err("loading should fail").errors;
        assert_eq!(errors.len(), 1, "{errors:?}");
        (errors[0].path.clone(), errors[0].message.clone())
    }

    #[test]
    fn loads_good_files() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path(), "ca").unwrap();
        let proxy = ca.issue("proxy", &["localhost", "127.0.0.1"]).unwrap();
        let tls = Tls::load(&client(&proxy.cert, &proxy.key)).unwrap();
        assert!(tls.acceptor.is_some());
        assert_eq!(tls.backend.mode(), BackendTlsMode::Preferred);
        assert_eq!(tls.backend.wants_tls(true), Ok(true));
        assert_eq!(tls.backend.wants_tls(false), Ok(false));
        for mode in [BackendTlsMode::VerifyCa, BackendTlsMode::VerifyIdentity] {
            let tls = Tls::load(&backend(mode, Some(ca.ca.clone()))).unwrap();
            assert_eq!(tls.backend.wants_tls(true), Ok(true));
            let refused = tls.backend.wants_tls(false).unwrap_err();
            assert!(refused.contains("does not offer TLS"), "{refused}");
        }
        let disabled = Tls::load(&backend(BackendTlsMode::Disabled, None)).unwrap();
        assert!(disabled.acceptor.is_none());
        assert_eq!(disabled.backend.wants_tls(true), Ok(false));
    }

    #[test]
    fn bad_files_are_errors_naming_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path(), "ca").unwrap();
        let proxy = ca.issue("proxy", &["localhost"]).unwrap();
        let other = ca.issue("other", &["localhost"]).unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let missing = dir.path().join("missing.pem");

        let (key, message) = only_problem(&client(&garbage, &proxy.key));
        assert_eq!(key, "tls.client.cert");
        assert!(message.contains("garbage.pem") && message.contains("no PEM certificate"));

        let (key, message) = only_problem(&client(&missing, &proxy.key));
        assert_eq!(key, "tls.client.cert");
        assert!(message.contains("missing.pem: cannot read"), "{message}");

        // A certificate where the key should be.
        let (key, message) = only_problem(&client(&proxy.cert, &proxy.cert));
        assert_eq!(key, "tls.client.key");
        assert!(message.contains("no PEM private key"), "{message}");

        // The key of another certificate.
        let (key, message) = only_problem(&client(&proxy.cert, &other.key));
        assert_eq!(key, "tls.client.key");
        assert!(
            message.contains("cannot be used with tls.client.cert"),
            "{message}"
        );

        let (key, message) = only_problem(&backend(BackendTlsMode::VerifyCa, Some(garbage)));
        assert_eq!(key, "tls.backend.ca");
        assert!(message.contains("no PEM certificate"), "{message}");

        // Every problem at once.
        let mut both = client(&missing, &missing);
        both.backend = BackendTls {
            mode: BackendTlsMode::VerifyIdentity,
            ca: Some(missing.clone()),
        };
        let errors = Tls::load(&both).unwrap_err();
        assert!(errors.has("tls.client.cert"));
        assert!(errors.has("tls.client.key"));
        assert!(errors.has("tls.backend.ca"));
    }

    /// Logs in over TLS as a client would: SSLRequest, TLS handshake, then a
    /// `caching_sha2_password` response that fails fast authentication, so the proxy asks for
    /// full authentication, which over TLS takes the password in clear text.
    async fn sha2_full_auth_over_tls(password: &[u8]) -> Option<String> {
        use splitrail_protocol::CapabilityFlags as Caps;
        use splitrail_protocol::handshake::{HandshakeResponse, InitialHandshake, SslRequest};

        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path(), "ca").unwrap();
        let proxy = ca.issue("proxy", &["127.0.0.1"]).unwrap();
        let server_tls = Tls::load(&client(&proxy.cert, &proxy.key)).unwrap();
        let client_tls = Tls::load(&backend(
            BackendTlsMode::VerifyIdentity,
            Some(ca.ca.clone()),
        ))
        .unwrap()
        .backend;
        let config = crate::config::Config::from_yaml_str(
            "users: [{ user: app, password: app }]\n\
             servers: [{ address: 127.0.0.1:1, role: primary }]\n",
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut io = crate::client::ClientIo::new(ClientStream::Plain(tcp), 1 << 20, 1024);
            let acceptor = server_tls.acceptor.as_ref();
            let accepted =
                crate::client::handshake::accept(&mut io, &config, acceptor, 7, "11.0.0", "peer")
                    .await
                    .unwrap();
            assert!(io.stream.is_tls());
            accepted.map(|a| a.user)
        });

        let tcp = TcpStream::connect(address).await.unwrap();
        let mut io = crate::io::PacketIo::new(BackendStream::Plain(tcp), 1 << 20, 1024);
        let greeting = io.read_packet().await.unwrap().unwrap().payload;
        let greeting = InitialHandshake::decode(&greeting).unwrap();
        assert!(greeting.capabilities.contains(Caps::CLIENT_SSL));
        let caps = Caps::CLIENT_PROTOCOL_41
            | Caps::CLIENT_LONG_PASSWORD
            | Caps::CLIENT_SECURE_CONNECTION
            | Caps::CLIENT_PLUGIN_AUTH
            | Caps::CLIENT_SSL;
        let mut payload = bytes::BytesMut::new();
        SslRequest {
            capabilities: caps,
            max_packet_size: 1 << 20,
            charset: 45,
        }
        .encode(&mut payload);
        io.send(&payload).await.unwrap();
        io.stream.upgrade(&client_tls, "127.0.0.1").await.unwrap();
        let mut payload = bytes::BytesMut::new();
        HandshakeResponse {
            capabilities: caps,
            max_packet_size: 1 << 20,
            charset: 45,
            username: b"app".to_vec(),
            auth_response: vec![0; 32], // not the scramble: fast authentication fails
            database: None,
            auth_plugin_name: Some(b"caching_sha2_password".to_vec()),
            connect_attrs: None,
        }
        .encode(&mut payload);
        io.send(&payload).await.unwrap();
        let more = io.read_packet().await.unwrap().unwrap().payload;
        assert_eq!(&more[..], [0x01, 0x04], "perform full authentication");
        io.send(&[password, b"\0"].concat()).await.unwrap();
        let verdict = io.read_packet().await.unwrap().unwrap().payload;
        let user = server.await.unwrap();
        assert_eq!(verdict[0] == 0x00, user.is_some(), "{verdict:?}");
        user
    }

    #[tokio::test]
    async fn sha2_full_authentication_takes_a_clear_text_password_over_tls() {
        assert_eq!(
            sha2_full_auth_over_tls(b"app").await.as_deref(),
            Some("app")
        );
        assert_eq!(sha2_full_auth_over_tls(b"wrong").await, None);
    }

    /// A TLS connection over loopback: the proxy's end towards a client, and a backend end.
    async fn tls_pair() -> (ClientStream, BackendStream) {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path(), "ca").unwrap();
        let proxy = ca.issue("proxy", &["127.0.0.1"]).unwrap();
        let server_tls = Tls::load(&client(&proxy.cert, &proxy.key)).unwrap();
        let acceptor = server_tls.acceptor.unwrap();
        let client_tls = Tls::load(&backend(
            BackendTlsMode::VerifyIdentity,
            Some(ca.ca.clone()),
        ))
        .unwrap()
        .backend;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (server, client) = tokio::join!(
            async {
                let tcp = listener.accept().await.unwrap().0;
                tcp.set_nodelay(true).unwrap();
                // Small socket buffers: a write often finds the socket full.
                socket2::SockRef::from(&tcp)
                    .set_send_buffer_size(4096)
                    .unwrap();
                let mut stream = ClientStream::Plain(tcp);
                stream.upgrade(&acceptor).await.unwrap();
                stream
            },
            async {
                let tcp = TcpStream::connect(address).await.unwrap();
                tcp.set_nodelay(true).unwrap();
                let mut stream = BackendStream::Plain(tcp);
                stream.upgrade(&client_tls, "127.0.0.1").await.unwrap();
                stream
            }
        );
        (server, client)
    }

    #[tokio::test]
    async fn a_write_out_reaches_the_peer_whole() {
        use tokio::io::AsyncReadExt;
        let (mut server, mut client) = tls_pair().await;
        assert!(server.is_tls() && client.is_tls());
        let big = vec![7u8; 1 << 20];
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let writer = tokio::spawn(async move {
            crate::io::write_out(&mut server, &big).await.unwrap();
            // Nothing more is written: what rustls kept back would never be sent.
            let _ = done_rx.await;
            server
        });
        // A slow reader keeps the socket full, so the writer's last write finds it full too.
        let read_all = async {
            let mut received = 0;
            let mut chunk = vec![0u8; 64 << 10];
            while received < 1 << 20 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                let n = client.read(&mut chunk).await.unwrap();
                assert!(n > 0 && chunk[..n].iter().all(|&b| b == 7));
                received += n;
            }
        };
        let read = tokio::time::timeout(std::time::Duration::from_secs(60), read_all).await;
        assert!(read.is_ok(), "the end of the write never came");
        let _ = done_tx.send(());
        let mut server = writer.await.unwrap();

        // The idle check polls with a no-op waker; reading afterwards still wakes up.
        assert!(!client.closed_while_idle());
        crate::io::write_out(&mut server, b"ping").await.unwrap();
        let mut ping = [0u8; 4];
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            client.read_exact(&mut ping),
        );
        assert!(matches!(read.await, Ok(Ok(4))) && &ping == b"ping");
        // A peer that went away is noticed.
        drop(server);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !client.closed_while_idle() {
            assert!(std::time::Instant::now() < deadline, "close not noticed");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[test]
    fn host_of_an_address() {
        assert_eq!(host_of("127.0.0.1:3306"), "127.0.0.1");
        assert_eq!(host_of("db.example:3306"), "db.example");
        assert_eq!(host_of("[::1]:3306"), "::1");
        assert_eq!(host_of("db.example"), "db.example");
    }
}
