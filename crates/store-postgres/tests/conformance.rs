//! The shared conformance suites (mail store, queue spool, collector state, contacts, search
//! index) on PostgreSQL:
//! one throwaway PostgreSQL 15 cluster per test process (`pochta_store_postgres::testing`),
//! one fresh database per test.

mod mail {
    use pochta_store::conformance::mail::Fixture;
    use pochta_store_postgres::{PgStore, testing};

    struct Pg(String);

    impl Fixture for Pg {
        type Store = PgStore;

        fn create() -> Self {
            Pg(testing::shared().database())
        }

        fn open(&self) -> PgStore {
            PgStore::open(&self.0, 8).expect("open store")
        }
    }

    pochta_store::conformance_tests!(Pg);
}

mod queue {
    use pochta_store::conformance::queue::QueueFixture;
    use pochta_store_postgres::{PgQueueStore, testing};

    struct Pg(String);

    impl QueueFixture for Pg {
        type Store = PgQueueStore;

        fn create() -> Self {
            Pg(testing::shared().database())
        }

        fn open(&self) -> PgQueueStore {
            PgQueueStore::open(&self.0, 8).expect("open queue")
        }
    }

    pochta_store::queue_conformance_tests!(Pg);
}

mod collector {
    use pochta_store::conformance::collector::CollectorFixture;
    use pochta_store_postgres::{PgCollectorStore, testing};

    struct Pg(String);

    impl CollectorFixture for Pg {
        type Store = PgCollectorStore;

        fn create() -> Self {
            Pg(testing::shared().database())
        }

        fn open(&self) -> PgCollectorStore {
            PgCollectorStore::open(&self.0, 4).expect("open collector state")
        }
    }

    pochta_store::collector_conformance_tests!(Pg);
}

mod contacts {
    use pochta_store::conformance::contacts::ContactsFixture;
    use pochta_store_postgres::{PgContactStore, testing};

    struct Pg(String);

    impl ContactsFixture for Pg {
        type Store = PgContactStore;

        fn create() -> Self {
            Pg(testing::shared().database())
        }

        fn open(&self) -> PgContactStore {
            PgContactStore::open(&self.0, 4).expect("open contacts")
        }
    }

    pochta_store::contacts_conformance_tests!(Pg);
}

mod search {
    use pochta_store::conformance::search::SearchFixture;
    use pochta_store_postgres::{PgSearchIndex, testing};

    struct Pg(String);

    impl SearchFixture for Pg {
        type Index = PgSearchIndex;

        fn create() -> Self {
            Pg(testing::shared().database())
        }

        fn open(&self) -> PgSearchIndex {
            PgSearchIndex::open(&self.0, 4).expect("open search index")
        }
    }

    pochta_store::search_conformance_tests!(Pg);
}
