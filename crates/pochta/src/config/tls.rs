//! `[tls]`: certificate and key files (absent: a self-signed certificate in `data_dir`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, err};

/// Certificate and key files (absolute after loading).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    cert: String,
    key: String,
}

impl Section {
    /// The files, relative paths resolved against the config file's folder `base`.
    pub(super) fn check(self, base: &Path) -> Result<TlsFiles, ConfigError> {
        if self.cert.is_empty() || self.key.is_empty() {
            return err("tls: cert and key must not be empty");
        }
        Ok(TlsFiles {
            cert: base.join(self.cert),
            key: base.join(self.key),
        })
    }
}
