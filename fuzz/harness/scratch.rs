//! The scratch store the session harnesses run against: in `/dev/shm` where there is one (the
//! fuzzer writes to it thousands of times a second), else in the temporary directory.

use pochta_store_embedded::EmbeddedStore;

/// A new, empty store and the directory that holds it (dropped with it).
pub fn store() -> (tempfile::TempDir, EmbeddedStore) {
    let base = std::path::Path::new("/dev/shm");
    let dir = if base.is_dir() {
        tempfile::tempdir_in(base)
    } else {
        tempfile::tempdir()
    }
    .expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("open store");
    (dir, store)
}
