//! Small caches of decoded metadata and blob bytes, keyed by blob id.
//!
//! A blob id names immutable content, so a cached entry can only become stale by the blob
//! being deleted; [`Caches::forget`] is called then. Eviction is "clear when full": cheap and
//! good enough for the working set of a few sessions (what a FETCH burst re-reads).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use pochta_message::MessageMeta;

const MAX_METAS: usize = 4096;
const MAX_BLOB_BYTES: usize = 32 << 20;
/// Bigger blobs are not cached: one would push out everything else.
const MAX_CACHED_BLOB: usize = 1 << 20;

#[derive(Default)]
pub(crate) struct Caches {
    metas: Mutex<HashMap<String, Arc<MessageMeta>>>,
    blobs: Mutex<BlobCache>,
    /// SELECT state per mailbox (`mailstore::select`).
    pub selects: crate::mailstore::select::SelectCache,
}

#[derive(Default)]
struct BlobCache {
    map: HashMap<String, Arc<Vec<u8>>>,
    bytes: usize,
}

impl Caches {
    pub fn meta(&self, id: &str) -> Option<Arc<MessageMeta>> {
        self.metas.lock().get(id).cloned()
    }

    pub fn put_meta(&self, id: &str, meta: Arc<MessageMeta>) {
        let mut m = self.metas.lock();
        if m.len() >= MAX_METAS {
            m.clear();
        }
        m.insert(id.to_string(), meta);
    }

    pub fn blob(&self, id: &str) -> Option<Arc<Vec<u8>>> {
        self.blobs.lock().map.get(id).cloned()
    }

    pub fn put_blob(&self, id: &str, bytes: Arc<Vec<u8>>) {
        if bytes.len() > MAX_CACHED_BLOB {
            return;
        }
        let mut c = self.blobs.lock();
        if c.bytes + bytes.len() > MAX_BLOB_BYTES {
            c.map.clear();
            c.bytes = 0;
        }
        c.bytes += bytes.len();
        if let Some(old) = c.map.insert(id.to_string(), bytes) {
            c.bytes -= old.len();
        }
    }

    pub fn forget(&self, id: &str) {
        self.metas.lock().remove(id);
        let mut c = self.blobs.lock();
        if let Some(old) = c.map.remove(id) {
            c.bytes -= old.len();
        }
    }
}
