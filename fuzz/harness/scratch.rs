//! What the session harnesses share. The scratch store they run against: in `/dev/shm` where there is one (the
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

/// Feed `input` whole (`chunk` 0) or in pieces of `chunk` bytes, as a network might split it.
pub fn feed_in_chunks(input: &[u8], chunk: usize, mut feed: impl FnMut(&[u8])) {
    if chunk == 0 {
        feed(input);
    } else {
        input.chunks(chunk).for_each(feed);
    }
}
