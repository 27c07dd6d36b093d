//! The shared conformance suite, on the embedded backend.

use pochta_store::conformance::mail::Fixture;
use pochta_store_embedded::EmbeddedStore;

struct Embedded(tempfile::TempDir);

impl Fixture for Embedded {
    type Store = EmbeddedStore;

    fn create() -> Self {
        Embedded(tempfile::tempdir().expect("temp dir"))
    }

    fn open(&self) -> EmbeddedStore {
        EmbeddedStore::open(self.0.path()).expect("open store")
    }
}

pochta_store::conformance_tests!(Embedded);
