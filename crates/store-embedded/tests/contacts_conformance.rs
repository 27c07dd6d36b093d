//! The contacts conformance suite, on the embedded backend.

use pochta_store::conformance::contacts::ContactsFixture;
use pochta_store_embedded::EmbeddedContactStore;

struct Embedded(tempfile::TempDir);

impl ContactsFixture for Embedded {
    type Store = EmbeddedContactStore;

    fn create() -> Self {
        Embedded(tempfile::tempdir().expect("temp dir"))
    }

    fn open(&self) -> EmbeddedContactStore {
        EmbeddedContactStore::open(self.0.path()).expect("open contacts")
    }
}

pochta_store::contacts_conformance_tests!(Embedded);
