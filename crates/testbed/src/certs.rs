//! Throw-away certificates for TLS tests: a CA and certificates it signed for servers (the
//! MariaDB test bed, the proxy) and a client, written as PEM files into a directory.
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::error::{Error, Result};

/// A certificate and its private key, as PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key: PathBuf,
}

/// A CA that signs certificates into one directory.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
    /// The CA certificate (PEM): what clients trust.
    pub ca: PathBuf,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").field("ca", &self.ca).finish()
    }
}

impl TestCa {
    /// A new CA named `name`; its certificate is written to `dir/<name>.pem`.
    pub fn new(dir: &Path, name: &str) -> Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_err)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("Splitrail test CA {name}"));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(rcgen_err)?;
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(rcgen_err)?;
        let ca = dir.join(format!("{name}.pem"));
        write(&ca, &issuer.pem())?;
        Ok(TestCa {
            issuer,
            dir: dir.to_path_buf(),
            ca,
        })
    }

    /// A certificate for `names` (host names or IP addresses, as subject alternative names),
    /// written to `dir/<file>.crt` and `dir/<file>.key`.
    pub fn issue(&self, file: &str, names: &[&str]) -> Result<CertFiles> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).map_err(rcgen_err)?;
        let common = names.first().cloned().unwrap_or_else(|| file.to_string());
        params.distinguished_name.push(DnType::CommonName, common);
        let key = KeyPair::generate().map_err(rcgen_err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(rcgen_err)?;
        let files = CertFiles {
            cert: self.dir.join(format!("{file}.crt")),
            key: self.dir.join(format!("{file}.key")),
        };
        write(&files.cert, &cert.pem())?;
        write(&files.key, &key.serialize_pem())?;
        Ok(files)
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

fn rcgen_err(e: rcgen::Error) -> Error {
    Error::Invalid(format!("generating a test certificate: {e}"))
}
