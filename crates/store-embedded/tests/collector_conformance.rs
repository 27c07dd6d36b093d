//! The collector state's conformance suite, on the embedded backend.

use pochta_store::conformance::collector::CollectorFixture;
use pochta_store_embedded::EmbeddedCollectorStore;

struct Embedded(tempfile::TempDir);

impl CollectorFixture for Embedded {
    type Store = EmbeddedCollectorStore;

    fn create() -> Self {
        Embedded(tempfile::tempdir().expect("temp dir"))
    }

    fn open(&self) -> EmbeddedCollectorStore {
        EmbeddedCollectorStore::open(self.0.path()).expect("open collector state")
    }
}

pochta_store::collector_conformance_tests!(Embedded);
