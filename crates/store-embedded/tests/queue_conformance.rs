//! The queue spool's conformance suite, on the embedded backend.

use pochta_store::conformance::queue::QueueFixture;
use pochta_store_embedded::EmbeddedQueueStore;

struct Embedded(tempfile::TempDir);

impl QueueFixture for Embedded {
    type Store = EmbeddedQueueStore;

    fn create() -> Self {
        Embedded(tempfile::tempdir().expect("temp dir"))
    }

    fn open(&self) -> EmbeddedQueueStore {
        EmbeddedQueueStore::open(self.0.path()).expect("open queue")
    }
}

pochta_store::queue_conformance_tests!(Embedded);
