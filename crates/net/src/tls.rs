//! TLS server configuration: PEM loading and the self-signed development certificate.
//!
//! Implementation notes:
//! - rustls with the aws-lc-rs provider chosen explicitly (not the process default), so the
//!   binary works whatever other crates enable; TLS 1.2 and 1.3 only.
//! - PEM is parsed with `rustls-pki-types` (rustls-pemfile is archived, RUSTSEC-2025-0134).
//! - The generated certificate names the hostname, `localhost`, 127.0.0.1 and ::1, so local
//!   clients and tests can verify it by trusting the file. The key is created with mode 0600
//!   before any byte is written, so it is never readable by others even for an instant.
//! - The server certificate comes from a [`ReloadableCert`] resolver: the current
//!   `CertifiedKey` sits behind a lock, so acceptors built once at startup present a new
//!   certificate on the next handshake after [`ReloadableCert::reload`] (SIGHUP in `serve`).
//!   A reload that fails (unreadable file, key not matching the certificate) changes nothing.
//! - Generation happens only when neither file exists; if exactly one exists, something is
//!   wrong and we refuse rather than overwrite a key someone may depend on.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// File names of the generated certificate inside the data directory.
pub const SELF_SIGNED_CERT: &str = "cert.pem";
pub const SELF_SIGNED_KEY: &str = "key.pem";

/// Errors loading or generating TLS material; each names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read certificate: {source}")]
    Cert {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("{path}: no certificate found in the file")]
    NoCert { path: PathBuf },
    #[error("{path}: cannot read private key: {source}")]
    Key {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("certificate and key do not form a usable TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{present} exists but {missing} does not; remove it or supply both")]
    HalfPair { present: PathBuf, missing: PathBuf },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1) into a
/// `CertifiedKey`, checking that the key belongs to the first certificate.
fn load_certified_key(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Cert {
            path: cert.to_owned(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCert {
            path: cert.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.to_owned(),
        source,
    })?;
    Ok(CertifiedKey::from_der(chain, key, provider)?)
}

/// The server certificate, re-readable from its files while acceptors keep running.
#[derive(Debug)]
pub struct ReloadableCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCert {
    /// Loads the pair at `cert`/`key`; they are read again by [`reload`](Self::reload).
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<ReloadableCert>, TlsError> {
        let provider = provider();
        let ck = load_certified_key(cert, key, &provider)?;
        Ok(Arc::new(ReloadableCert {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
            current: RwLock::new(Arc::new(ck)),
        }))
    }

    /// Re-reads the files; on success new handshakes use the new pair, on error the old
    /// pair stays in use and the error is returned for logging.
    pub fn reload(&self) -> Result<(), TlsError> {
        let ck = load_certified_key(&self.cert, &self.key, &self.provider)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ck);
        Ok(())
    }

    /// The pair in use now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The certificate file this resolver reads.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// A server configuration (TLS 1.2 and 1.3, no client auth) resolving through `self`.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, TlsError> {
        let config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        Ok(Arc::new(config))
    }

    /// [`server_config`](Self::server_config) wrapped in an acceptor.
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, TlsError> {
        self.server_config().map(TlsAcceptor::from)
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Builds a server configuration from a PEM certificate chain and a PEM private key
/// (PKCS#8, PKCS#1 or SEC1). The files are read once; see [`ReloadableCert`] to re-read them.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    ReloadableCert::load(cert, key)?.server_config()
}

/// [`server_config`] wrapped in an acceptor.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    server_config(cert, key).map(TlsAcceptor::from)
}

/// A freshly generated self-signed certificate and its key, both PEM.
pub fn generate_self_signed(hostname: &str) -> Result<(String, String), TlsError> {
    let mut names = vec![hostname.to_owned()];
    for extra in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|n| n == extra) {
            names.push(extra.to_owned());
        }
    }
    let mut params = rcgen::CertificateParams::new(names)?;
    // Name the certificate after the host, so a mail program's "accept this certificate?"
    // dialog shows something recognisable.
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Makes sure `dir/cert.pem` and `dir/key.pem` exist, generating them for `hostname` if
/// neither does. Returns their paths and whether they were generated just now.
pub fn ensure_self_signed(
    dir: &Path,
    hostname: &str,
) -> Result<(PathBuf, PathBuf, bool), TlsError> {
    let cert = dir.join(SELF_SIGNED_CERT);
    let key = dir.join(SELF_SIGNED_KEY);
    match (cert.exists(), key.exists()) {
        (true, true) => return Ok((cert, key, false)),
        (true, false) => {
            return Err(TlsError::HalfPair {
                present: cert,
                missing: key,
            });
        }
        (false, true) => {
            return Err(TlsError::HalfPair {
                present: key,
                missing: cert,
            });
        }
        (false, false) => {}
    }
    fs::create_dir_all(dir).map_err(|source| TlsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let (cert_pem, key_pem) = generate_self_signed(hostname)?;
    // Key first: a crash between the two writes leaves a key without a cert, which the next
    // start reports instead of silently serving a cert whose key is lost.
    write_new(&key, key_pem.as_bytes(), 0o600)?;
    write_new(&cert, cert_pem.as_bytes(), 0o644)?;
    Ok((cert, key, true))
}

fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    f.write_all(data).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn generates_once_with_private_key_mode() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, fresh) = ensure_self_signed(dir.path(), "mail.example.org").unwrap();
        assert!(fresh);
        let mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        server_config(&cert, &key).unwrap();
        let before = fs::read(&cert).unwrap();
        let (_, _, fresh) = ensure_self_signed(dir.path(), "mail.example.org").unwrap();
        assert!(!fresh);
        assert_eq!(fs::read(&cert).unwrap(), before);
    }

    #[test]
    fn half_pair_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("key.pem"), "x").unwrap();
        let err = ensure_self_signed(dir.path(), "h").unwrap_err();
        assert!(matches!(err, TlsError::HalfPair { .. }), "{err}");
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let err = server_config(&missing, &missing).unwrap_err();
        assert!(err.to_string().contains("nope.pem"), "{err}");
        let empty = dir.path().join("empty.pem");
        fs::write(&empty, "not pem").unwrap();
        let err = server_config(&empty, &empty).unwrap_err();
        assert!(err.to_string().contains("empty.pem"), "{err}");
        // A valid cert with a key file holding no key.
        let (c, _, _) = ensure_self_signed(dir.path(), "h").unwrap();
        let err = server_config(&c, &empty).unwrap_err();
        assert!(err.to_string().contains("empty.pem"), "{err}");
    }

    #[test]
    fn reload_swaps_the_pair_and_keeps_it_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let (c1, k1) = generate_self_signed("one").unwrap();
        fs::write(&cert, &c1).unwrap();
        fs::write(&key, &k1).unwrap();
        let r = ReloadableCert::load(&cert, &key).unwrap();
        let first = r.current().cert[0].clone();
        let (c2, k2) = generate_self_signed("two").unwrap();
        fs::write(&cert, &c2).unwrap();
        fs::write(&key, &k2).unwrap();
        r.reload().unwrap();
        let second = r.current().cert[0].clone();
        assert_ne!(first, second);
        // A certificate with someone else's key is refused; the second pair stays.
        fs::write(&key, &k1).unwrap();
        let err = r.reload().unwrap_err();
        assert!(matches!(err, TlsError::Rustls(_)), "{err}");
        assert_eq!(r.current().cert[0], second);
        fs::write(&cert, "garbage").unwrap();
        assert!(r.reload().is_err());
        assert_eq!(r.current().cert[0], second);
    }
}
