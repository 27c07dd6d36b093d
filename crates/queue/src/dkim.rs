//! DKIM signing of outgoing mail (RFC 6376, Ed25519 per RFC 8463) and the DNS records a
//! domain publishes (DKIM, SPF RFC 7208, DMARC RFC 7489).
//!
//! Implementation notes:
//! - Keys live in `data_dir/dkim/<domain>/<selector>.<rsa|ed25519>.pem` as PKCS#8 PEM, mode
//!   0600. Generating never overwrites an existing key.
//! - A message is signed, at enqueue time, with every key of the domain of its `From:`
//!   address (RFC 7489 §3.1 alignment needs `d=` to be that domain); two keys (RSA and
//!   Ed25519) give the dual signature RFC 8463 §4 recommends. Keys are read from disk for
//!   each message, so a key generated while the server runs is used at once.
//! - Canonicalization `relaxed/relaxed` (RFC 6376 §3.4.2, §3.4.4), which survives the header
//!   re-folding that relays do; signed headers are the RFC 6376 §5.4.1 recommendations that
//!   the message has.
//! - The RSA `p=` is the SubjectPublicKeyInfo DER (what `openssl rsa -pubout` prints and every
//!   verifier accepts); the Ed25519 `p=` is the raw 32-byte key (RFC 8463 §4.2).

use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256, SigningKey};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

/// Headers signed when present (RFC 6376 §5.4.1).
const SIGNED_HEADERS: [&str; 14] = [
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Id",
    "List-Unsubscribe",
];

/// Key algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSA-2048 with SHA-256: verified everywhere.
    Rsa,
    /// Ed25519-SHA256 (RFC 8463): small, not yet verified by every receiver.
    Ed25519,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.to_ascii_lowercase().as_str() {
            "rsa" | "rsa-sha256" | "rsa2048" => Some(Algorithm::Rsa),
            "ed25519" | "ed25519-sha256" => Some(Algorithm::Ed25519),
            _ => None,
        }
    }
}

/// Errors of key handling and signing.
#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Key(String),
    #[error("a DKIM key for selector {selector} of {domain} already exists: {}", path.display())]
    Exists {
        domain: String,
        selector: String,
        path: PathBuf,
    },
    #[error("{0:?} is not a usable selector (letters, digits, '-')")]
    BadSelector(String),
}

/// A domain's key on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub domain: String,
    pub selector: String,
    pub algorithm: Algorithm,
    pub path: PathBuf,
    /// The `p=` value (base64).
    pub public_key: String,
}

impl KeyInfo {
    /// The TXT record's name: `selector._domainkey.domain`.
    pub fn record_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }

    /// The TXT record's value (RFC 6376 §3.6.1).
    pub fn record_value(&self) -> String {
        format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm.name(),
            self.public_key
        )
    }
}

/// `data_dir/dkim/<domain>`.
pub fn domain_dir(data_dir: &Path, domain: &str) -> PathBuf {
    data_dir.join("dkim").join(domain.to_ascii_lowercase())
}

fn valid_selector(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
}

/// Creates a key for `domain` under `selector`; refuses to replace an existing one.
pub fn generate(
    data_dir: &Path,
    domain: &str,
    selector: &str,
    algorithm: Algorithm,
) -> Result<KeyInfo, DkimError> {
    if !valid_selector(selector) {
        return Err(DkimError::BadSelector(selector.to_owned()));
    }
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let dir = domain_dir(data_dir, &domain);
    for alg in [Algorithm::Rsa, Algorithm::Ed25519] {
        let p = dir.join(format!("{selector}.{}.pem", alg.name()));
        if p.exists() {
            return Err(DkimError::Exists {
                domain,
                selector: selector.to_owned(),
                path: p,
            });
        }
    }
    let pkcs8 = match algorithm {
        Algorithm::Rsa => aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .and_then(|k| k.as_der())
            .map(|d| d.as_ref().to_vec()),
        Algorithm::Ed25519 => aws_lc_rs::signature::Ed25519KeyPair::generate()
            .and_then(|k| AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&k))
            .map(|d| d.as_ref().to_vec()),
    }
    .map_err(|_| DkimError::Key("key generation failed".into()))?;
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
    }
    let path = dir.join(format!("{selector}.{}.pem", algorithm.name()));
    write_private(&path, pem(&pkcs8).as_bytes())?;
    Ok(KeyInfo {
        public_key: public_key(algorithm, &pkcs8)?,
        domain,
        selector: selector.to_owned(),
        algorithm,
        path,
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn pem(der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut s = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str("-----END PRIVATE KEY-----\n");
    s
}

fn public_key(algorithm: Algorithm, pkcs8: &[u8]) -> Result<String, DkimError> {
    let bad = |_| DkimError::Key("unreadable key".into());
    Ok(match algorithm {
        Algorithm::Rsa => {
            let k = aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8).map_err(bad)?;
            let spki = k
                .public_key()
                .as_der()
                .map_err(|_| DkimError::Key("cannot encode the public key".into()))?;
            B64.encode(spki.as_ref())
        }
        Algorithm::Ed25519 => {
            let k = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8).map_err(bad)?;
            B64.encode(k.public_key().as_ref())
        }
    })
}

/// A key loaded from disk.
struct Loaded {
    info: KeyInfo,
    pkcs8: Vec<u8>,
}

fn load_dir(dir: &Path, domain: &str) -> Result<Vec<Loaded>, DkimError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".pem") else {
            continue;
        };
        let Some((selector, alg)) = stem.rsplit_once('.') else {
            continue;
        };
        let Some(algorithm) = Algorithm::parse(alg) else {
            continue;
        };
        let der = PrivateKeyDer::from_pem_file(&path)
            .map_err(|e| DkimError::Key(format!("{}: {e}", path.display())))?;
        let pkcs8 = der.secret_der().to_vec();
        out.push(Loaded {
            info: KeyInfo {
                public_key: public_key(algorithm, &pkcs8)?,
                domain: domain.to_owned(),
                selector: selector.to_owned(),
                algorithm,
                path,
            },
            pkcs8,
        });
    }
    out.sort_by(|a, b| a.info.path.cmp(&b.info.path));
    Ok(out)
}

/// Every key of `domain`.
pub fn keys(data_dir: &Path, domain: &str) -> Result<Vec<KeyInfo>, DkimError> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    Ok(load_dir(&domain_dir(data_dir, &domain), &domain)?
        .into_iter()
        .map(|l| l.info)
        .collect())
}

/// Signs outgoing messages with the keys under `data_dir/dkim`.
#[derive(Debug, Clone)]
pub struct Signer {
    data_dir: PathBuf,
}

impl Signer {
    pub fn new(data_dir: &Path) -> Signer {
        Signer {
            data_dir: data_dir.to_owned(),
        }
    }

    /// The `DKIM-Signature:` fields (CRLF-terminated) to prepend to `message`: one per key of
    /// the `From:` domain, none when it has no key.
    pub fn sign(&self, message: &[u8]) -> Result<String, DkimError> {
        let Some(domain) = from_domain(message) else {
            return Ok(String::new());
        };
        let keys = load_dir(&domain_dir(&self.data_dir, &domain), &domain)?;
        let mut out = String::new();
        for k in keys {
            let header = match k.info.algorithm {
                Algorithm::Rsa => {
                    let key = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(
                        k.pkcs8.as_slice().into(),
                    ))
                    .map_err(|e| DkimError::Key(e.to_string()))?;
                    sign_with(key, &k.info, message)?
                }
                Algorithm::Ed25519 => {
                    let key = Ed25519Key::from_pkcs8_der(&k.pkcs8)
                        .map_err(|e| DkimError::Key(e.to_string()))?;
                    sign_with(key, &k.info, message)?
                }
            };
            out.push_str(&header);
        }
        Ok(out)
    }
}

fn sign_with<K: SigningKey<Hasher = Sha256>>(
    key: K,
    info: &KeyInfo,
    message: &[u8],
) -> Result<String, DkimError> {
    let sig = DkimSigner::from_key(key)
        .domain(info.domain.clone())
        .selector(info.selector.clone())
        .headers(SIGNED_HEADERS)
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
        .sign(message)
        .map_err(|e| DkimError::Key(format!("signing failed: {e}")))?;
    Ok(sig.to_header())
}

/// The (lower-cased) domain of the first `From:` address.
fn from_domain(message: &[u8]) -> Option<String> {
    let m = mail_auth::AuthenticatedMessage::parse(message)?;
    let from = m.from.first()?;
    let (_, d) = from.rsplit_once('@')?;
    Some(d.trim_end_matches('.').to_ascii_lowercase())
}

/// A TXT value as quoted strings of at most 255 octets each (RFC 1035 §3.3.14), for zone files.
pub fn zone_quoted(value: &str) -> String {
    value
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The records `domain` should publish for mail from `hostname`, as zone-file lines.
pub fn dns_records(hostname: &str, domain: &str, keys: &[KeyInfo]) -> Vec<String> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let host = hostname.trim_end_matches('.');
    let mut out = vec![
        format!("{domain}. IN MX 10 {host}."),
        // RFC 7208: only our MX hosts send for the domain; everything else fails.
        format!("{domain}. IN TXT {}", zone_quoted("v=spf1 mx -all")),
        // RFC 7489 §6.3: start at quarantine with aggregate reports to postmaster.
        format!(
            "_dmarc.{domain}. IN TXT {}",
            zone_quoted(&format!(
                "v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:postmaster@{domain}"
            ))
        ),
    ];
    for k in keys {
        out.push(format!(
            "{}. IN TXT {}",
            k.record_name(),
            zone_quoted(&k.record_value())
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_refuses_overwrite_and_bad_selectors() {
        let dir = tempfile::tempdir().unwrap();
        let k = generate(dir.path(), "Example.ORG", "s1", Algorithm::Ed25519).unwrap();
        assert_eq!(k.domain, "example.org");
        assert_eq!(k.record_name(), "s1._domainkey.example.org");
        assert!(k.record_value().starts_with("v=DKIM1; k=ed25519; p="));
        assert_eq!(B64.decode(&k.public_key).unwrap().len(), 32);
        assert!(matches!(
            generate(dir.path(), "example.org", "s1", Algorithm::Rsa),
            Err(DkimError::Exists { .. })
        ));
        assert!(matches!(
            generate(dir.path(), "example.org", "../x", Algorithm::Rsa),
            Err(DkimError::BadSelector(_))
        ));
        let listed = keys(dir.path(), "example.org").unwrap();
        assert_eq!(listed, vec![k]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&listed[0].path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn records_are_split_into_255_octet_strings() {
        let long = "a".repeat(600);
        let q = zone_quoted(&long);
        assert_eq!(q.matches('"').count(), 6);
        let lines = dns_records("mail.example.org", "example.org", &[]);
        assert_eq!(lines[0], "example.org. IN MX 10 mail.example.org.");
        assert!(lines[1].contains("v=spf1 mx -all"));
        assert!(lines[2].starts_with("_dmarc.example.org. IN TXT \"v=DMARC1; p=quarantine"));
    }

    #[test]
    fn unsigned_without_key_or_from() {
        let dir = tempfile::tempdir().unwrap();
        let s = Signer::new(dir.path());
        assert_eq!(s.sign(b"From: a@nokey.test\r\n\r\nx\r\n").unwrap(), "");
        assert_eq!(s.sign(b"Subject: none\r\n\r\nx\r\n").unwrap(), "");
    }
}
