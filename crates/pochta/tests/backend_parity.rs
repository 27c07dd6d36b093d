//! The binary's `Store` (crates/pochta/src/backend.rs) forwards every method of the storage
//! traits to its backend, and the PostgreSQL store overrides every method the embedded store
//! overrides. A trait method with a default body compiles without either, and then silently
//! does the default (usually "not supported") on one backend: this test is what catches a
//! method added to `Directory` or `MailStore` without its forwarding line or its PostgreSQL
//! implementation.

use std::path::PathBuf;

fn read(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The method names declared in `pub trait NAME … {` up to its closing `}` at column 0.
fn trait_methods(src: &str, name: &str) -> Vec<String> {
    let start = src
        .find(&format!("pub trait {name}"))
        .unwrap_or_else(|| panic!("trait {name} not found"));
    let body = &src[start..];
    let end = body.find("\n}").expect("end of trait");
    body[..end]
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("fn "))
        .map(|rest| rest.split(['(', '<']).next().unwrap_or("").to_owned())
        .collect()
}

fn defines(src: &str, method: &str) -> bool {
    src.contains(&format!("fn {method}(")) || src.contains(&format!("fn {method}<"))
}

#[test]
fn every_trait_method_is_forwarded_and_implemented_on_both_backends() {
    let traits = read("../store/src/lib.rs");
    let mut methods = trait_methods(&traits, "Directory");
    methods.extend(trait_methods(&traits, "MailStore"));
    assert!(methods.len() > 40, "parsed too few methods: {methods:?}");

    let backend = read("src/backend.rs");
    let missing: Vec<&String> = methods.iter().filter(|m| !defines(&backend, m)).collect();
    assert!(
        missing.is_empty(),
        "crates/pochta/src/backend.rs does not forward {missing:?} to the backend"
    );

    let embedded = [
        read("../store-embedded/src/directory.rs"),
        read("../store-embedded/src/mailstore/mod.rs"),
    ]
    .concat();
    let postgres = [
        read("../store-postgres/src/directory.rs"),
        read("../store-postgres/src/mailstore.rs"),
    ]
    .concat();
    let missing: Vec<&String> = methods
        .iter()
        .filter(|m| defines(&embedded, m) && !defines(&postgres, m))
        .collect();
    assert!(
        missing.is_empty(),
        "the embedded store implements {missing:?}, the PostgreSQL store does not"
    );
}

/// The side stores (`QueueStore`, `CollectorStore`, `ContactStore`) have no defaulted methods,
/// so the compiler proves each backend implements them; what it cannot prove is that the
/// binary opens the PostgreSQL one when `[store] backend = "postgres"`. (Behaviour: the
/// cluster tests, e.g. `contacts_are_shared_through_the_database`.)
#[test]
fn every_side_store_has_a_postgres_arm() {
    let backend = read("src/backend.rs");
    for (embedded, postgres) in [
        ("EmbeddedQueueStore::open", "PgQueueStore::open"),
        ("EmbeddedCollectorStore::open", "PgCollectorStore::open"),
        ("EmbeddedContactStore::open", "PgContactStore::open"),
    ] {
        assert!(
            backend.contains(embedded),
            "backend.rs does not open {embedded}"
        );
        assert!(
            backend.contains(postgres),
            "backend.rs opens {embedded} but never {postgres}"
        );
    }
}
