//! Content-addressed blob files: `blobs/ab/cdef…`, named by the SHA-256 of the bytes.
//!
//! A file is written whole or not at all: temp file in the target directory, fsync, rename,
//! fsync the directory (without the last step a crash could forget the rename). Its name is its
//! content, so an existing file never needs rewriting.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// Prefix of temp files; never a valid hex name, so a temp file is never mistaken for a blob.
const TMP_PREFIX: &str = ".tmp-";

pub(crate) struct BlobFiles {
    root: PathBuf,
    counter: AtomicU64,
}

/// A file the sweep may remove.
pub(crate) struct Candidate {
    pub path: PathBuf,
    /// The blob id for a blob file; `None` for a stale temp file.
    pub blob: Option<String>,
}

/// Lower-case hex SHA-256 of `bytes`.
pub(crate) fn blob_id(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

/// Only ids we could have made are turned into paths: this is what keeps a forged id from
/// naming any other file.
pub(crate) fn valid_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl BlobFiles {
    pub fn open(root: &Path) -> io::Result<BlobFiles> {
        fs::create_dir_all(root)?;
        Ok(BlobFiles {
            root: root.to_path_buf(),
            counter: AtomicU64::new(0),
        })
    }

    fn dir_of(&self, id: &str) -> PathBuf {
        self.root.join(&id[..2])
    }

    /// Path of a valid id; callers check [`valid_id`] first.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir_of(id).join(&id[2..])
    }

    pub fn exists(&self, id: &str) -> bool {
        self.path(id).is_file()
    }

    /// Write `bytes` as blob `id` durably unless the file exists already.
    pub fn ensure(&self, id: &str, bytes: &[u8]) -> io::Result<()> {
        self.ensure_with(id, |f| f.write_all(bytes))
    }

    /// Write blob `id` durably from `src` (an open handle on the same bytes, e.g. on a blob
    /// file unlinked meanwhile), copied a piece at a time, unless the file exists already.
    pub fn ensure_from(&self, id: &str, src: &File) -> io::Result<()> {
        self.ensure_with(id, |f| {
            let mut src = src;
            src.seek(SeekFrom::Start(0))?;
            io::copy(&mut src, f).map(drop)
        })
    }

    /// An open handle on blob `id`'s file: its bytes stay readable through it even if the
    /// file is unlinked.
    pub fn open_blob(&self, id: &str) -> io::Result<File> {
        File::open(self.path(id))
    }

    fn ensure_with(
        &self,
        id: &str,
        write: impl FnOnce(&mut File) -> io::Result<()>,
    ) -> io::Result<()> {
        let path = self.path(id);
        if path.is_file() {
            return Ok(());
        }
        let dir = self.dir_of(id);
        fs::create_dir_all(&dir)?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{TMP_PREFIX}{}-{n}", std::process::id()));
        let result = (|| {
            let mut f = File::create(&tmp)?;
            write(&mut f)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &path)?;
            File::open(&dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    pub fn read(&self, id: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path(id))
    }

    /// Unlink blob `id`; a missing file is fine (a crash may have removed it already).
    pub fn remove(&self, id: &str) -> io::Result<bool> {
        if !valid_id(id) {
            return Ok(false);
        }
        self.remove_file(&self.path(id))
    }

    pub fn remove_file(&self, path: &Path) -> io::Result<bool> {
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Blob and temp files last modified more than `min_age` ago.
    pub fn old_files(&self, min_age: Duration) -> io::Result<Vec<Candidate>> {
        let now = SystemTime::now();
        let mut out = Vec::new();
        for dir in fs::read_dir(&self.root)? {
            let dir = dir?;
            let prefix = dir.file_name().to_string_lossy().into_owned();
            if prefix.len() != 2 || !dir.file_type()?.is_dir() {
                continue;
            }
            for file in fs::read_dir(dir.path())? {
                let file = file?;
                let name = file.file_name().to_string_lossy().into_owned();
                let old = file
                    .metadata()?
                    .modified()
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .is_some_and(|age| age >= min_age);
                if !old {
                    continue;
                }
                let id = format!("{prefix}{name}");
                if valid_id(&id) {
                    out.push(Candidate {
                        path: file.path(),
                        blob: Some(id),
                    });
                } else if name.starts_with(TMP_PREFIX) {
                    out.push(Candidate {
                        path: file.path(),
                        blob: None,
                    });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blob file unlinked while a writer holds a handle on it is written again, whole,
    /// from that handle (the path the store takes instead of keeping a second copy of a
    /// large message in memory).
    #[test]
    fn an_unlinked_blob_is_rewritten_from_its_open_handle() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobFiles::open(dir.path()).unwrap();
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let id = blob_id(&bytes);
        blobs.ensure(&id, &bytes).unwrap();
        let handle = blobs.open_blob(&id).unwrap();
        assert!(blobs.remove(&id).unwrap());
        assert!(!blobs.exists(&id));
        blobs.ensure_from(&id, &handle).unwrap();
        assert_eq!(blobs.read(&id).unwrap(), bytes);
    }
}
