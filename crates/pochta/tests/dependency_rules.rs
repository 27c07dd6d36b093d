//! The dependency rules of ARCHITECTURE.md ("What may depend on what"), checked on the
//! workspace's real dependency graph from `cargo metadata`.
//!
//! - Only normal dependencies count: dev-dependencies may use a backend for tests, and
//!   build-dependencies are not linked into the crate.
//! - Every rule is checked on direct and transitive dependencies, following normal edges
//!   only: a grammar crate that reaches tokio through another crate breaks the rule as surely
//!   as one that names it. A violation is reported with its whole path, so the offending edge
//!   is the first one on it.
//! - A rule about a crate that does not exist yet (`pochta-pop3-proto`, `pochta-delivery`,
//!   `pochta-imap-client`, `pochta-smtp-client`, `pochta-store-postgres`) applies as soon as
//!   the crate joins the workspace.
//! - The graph is the workspace's feature-unified resolve (what `cargo build --workspace`
//!   builds), so an optional dependency enabled by any member counts for everyone.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// Crates that hold a protocol's or a format's grammar: sans-IO, no runtime, no storage.
const GRAMMAR: &[&str] = &[
    "pochta-imap-proto",
    "pochta-smtp-proto",
    "pochta-pop3-proto",
    "pochta-message",
    "pochta-extract",
    "pochta-types",
];

/// The storage traits and their backends.
const STORE: &[&str] = &[
    "pochta-store",
    "pochta-store-embedded",
    "pochta-store-postgres",
];

/// Protocol and session crates (a store may depend on none of them). A trailing `*` is a
/// prefix: `pochta-imap*` is pochta-imap, pochta-imap-proto and pochta-imap-client.
const PROTOCOL: &[&str] = &[
    "pochta-imap*",
    "pochta-smtp*",
    "pochta-pop3*",
    "pochta-queue",
    "pochta-collector",
    "pochta-delivery",
    "pochta-net",
    "pochta-auth",
    "pochta-http",
    "pochta-urlauth",
];

/// Crates that run sessions, the queue, the collector or clients: they reach storage only
/// through the traits of pochta-store.
const SESSION: &[&str] = &[
    "pochta-imap",
    "pochta-pop3",
    "pochta-smtp",
    "pochta-queue",
    "pochta-collector",
    "pochta-delivery",
    "pochta-imap-client",
    "pochta-smtp-client",
    "pochta-loadgen",
    "pochta-http",
    "pochta-urlauth",
];

/// Storage engines and their drivers.
const BACKEND: &[&str] = &[
    "pochta-store-embedded",
    "pochta-store-postgres",
    "rusqlite",
    "tokio-postgres",
];

/// The metrics registry: a leaf every layer may call, so it may depend on no workspace crate.
const METRICS: &[&str] = &["pochta-metrics"];

/// Every workspace member but the binary (`*` = all workspace members; `!name` excludes).
const ALL_BUT_BINARY: &[&str] = &["*", "!pochta"];

/// One rule: no crate matching `from` may depend, directly or transitively, on a crate
/// matching `forbidden`.
struct Rule {
    name: &'static str,
    from: &'static [&'static str],
    forbidden: &'static [&'static str],
}

/// The rules, as in ARCHITECTURE.md.
const RULES: &[Rule] = &[
    Rule {
        name: "grammar crates know no runtime and no storage",
        from: GRAMMAR,
        forbidden: &[
            "tokio",
            "pochta-net",
            "pochta-store",
            "pochta-store-embedded",
            "pochta-store-postgres",
            "rusqlite",
        ],
    },
    Rule {
        name: "store crates know no protocol or session",
        from: STORE,
        forbidden: PROTOCOL,
    },
    Rule {
        name: "session, queue, collector and client crates know no storage backend",
        from: SESSION,
        forbidden: BACKEND,
    },
    Rule {
        name: "only the binary wires a storage backend",
        from: ALL_BUT_BINARY,
        forbidden: &["pochta-store-embedded", "pochta-store-postgres"],
    },
    Rule {
        name: "the metrics registry is a leaf",
        from: METRICS,
        forbidden: &["*"],
    },
    Rule {
        name: "the queue does not depend on the SMTP session crate",
        from: &["pochta-queue"],
        forbidden: &["pochta-smtp"],
    },
];

/// Known violations that other branches are removing: (rule name, from, forbidden crate).
/// The test prints them instead of failing on them, and fails once one of them no longer
/// occurs, so that the entry is deleted. Empty this list when those branches are merged
/// (none pending: every branch that removes a violation has landed).
const PENDING: &[(&str, &str, &str)] = &[];

/// The workspace's dependency graph: package id -> name, normal edges, the members.
struct Graph {
    name: BTreeMap<String, String>,
    normal: BTreeMap<String, Vec<String>>,
    members: Vec<String>,
}

fn metadata() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(&manifest)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let mut name = BTreeMap::new();
    for p in v["packages"].as_array().expect("packages") {
        name.insert(
            p["id"].as_str().expect("id").to_owned(),
            p["name"].as_str().expect("name").to_owned(),
        );
    }
    let mut normal = BTreeMap::new();
    for node in v["resolve"]["nodes"].as_array().expect("resolve.nodes") {
        let id = node["id"].as_str().expect("node id").to_owned();
        let deps = node["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .expect("dep_kinds")
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| d["pkg"].as_str().expect("pkg").to_owned())
            .collect();
        normal.insert(id, deps);
    }
    let members = v["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .map(|m| m.as_str().expect("member id").to_owned())
        .collect();
    Graph {
        name,
        normal,
        members,
    }
}

/// Whether `name` matches one of `patterns` (exact, `prefix*`, `*` = any workspace member,
/// `!name` = excluded).
fn matches(patterns: &[&str], name: &str, is_member: bool) -> bool {
    if patterns.iter().any(|p| p.strip_prefix('!') == Some(name)) {
        return false;
    }
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some("") => is_member,
        Some(prefix) => name.starts_with(prefix),
        None => *p == name,
    })
}

/// One broken rule: the rule, the crate, the forbidden crate and the path between them.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    rule: &'static str,
    from: String,
    to: String,
    path: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rule \"{}\": {} depends on {} (edge {} -> {}; path {})",
            self.rule,
            self.from,
            self.to,
            self.path[0],
            self.path[1],
            self.path.join(" -> ")
        )
    }
}

/// Every (rule, member, forbidden crate) reachable over normal edges, with a shortest path.
fn violations(g: &Graph) -> Vec<Violation> {
    let member_names: BTreeSet<&str> = g.members.iter().map(|id| g.name[id].as_str()).collect();
    let mut found = Vec::new();
    for rule in RULES {
        for start in &g.members {
            let from = &g.name[start];
            if !matches(rule.from, from, true) {
                continue;
            }
            // Breadth first, so the path reported is a shortest one.
            let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
            let mut queue = VecDeque::from([start.as_str()]);
            let mut seen = BTreeSet::from([start.as_str()]);
            while let Some(id) = queue.pop_front() {
                for dep in g.normal.get(id).into_iter().flatten() {
                    if !seen.insert(dep) {
                        continue;
                    }
                    parent.insert(dep, id);
                    queue.push_back(dep);
                    let to = &g.name[dep];
                    if matches(rule.forbidden, to, member_names.contains(to.as_str())) {
                        let mut path = vec![to.clone()];
                        let mut at = dep.as_str();
                        while let Some(p) = parent.get(at) {
                            path.push(g.name[*p].clone());
                            at = p;
                        }
                        path.reverse();
                        found.push(Violation {
                            rule: rule.name,
                            from: from.clone(),
                            to: to.clone(),
                            path,
                        });
                    }
                }
            }
        }
    }
    found.sort();
    found
}

#[test]
fn dependency_rules_hold() {
    let g = metadata();
    assert!(
        g.members.iter().any(|m| g.name[m] == "pochta"),
        "the workspace has the binary crate"
    );
    let found = violations(&g);
    println!("dependency rules ({}):", RULES.len());
    for rule in RULES {
        println!(
            "  {}: {:?} must not depend on {:?}",
            rule.name, rule.from, rule.forbidden
        );
    }
    let is_pending = |v: &Violation| PENDING.contains(&(v.rule, v.from.as_str(), v.to.as_str()));
    for v in found.iter().filter(|v| is_pending(v)) {
        println!("PENDING (known, being removed on another branch): {v}");
    }
    let stale: Vec<_> = PENDING
        .iter()
        .filter(|(rule, from, to)| {
            !found
                .iter()
                .any(|v| (v.rule, v.from.as_str(), v.to.as_str()) == (*rule, *from, *to))
        })
        .collect();
    let broken: Vec<String> = found
        .iter()
        .filter(|v| !is_pending(v))
        .map(|v| v.to_string())
        .collect();
    assert!(
        broken.is_empty(),
        "{} dependency rule violation(s):\n{}",
        broken.len(),
        broken.join("\n")
    );
    assert!(
        stale.is_empty(),
        "these PENDING violations no longer occur; delete them from PENDING: {stale:?}"
    );
}

/// The checker itself: the patterns and the graph walk find a transitive edge and name it.
#[test]
fn checker_finds_a_transitive_edge() {
    let id = |s: &str| format!("{s} 0.1.0");
    let mut g = Graph {
        name: BTreeMap::new(),
        normal: BTreeMap::new(),
        members: vec![id("pochta-imap-proto"), id("pochta-types"), id("pochta")],
    };
    for n in [
        "pochta-imap-proto",
        "pochta-types",
        "pochta",
        "mio",
        "tokio",
    ] {
        g.name.insert(id(n), n.to_owned());
    }
    g.normal
        .insert(id("pochta-imap-proto"), vec![id("pochta-types")]);
    g.normal.insert(id("pochta-types"), vec![id("mio")]);
    g.normal.insert(id("mio"), vec![id("tokio")]);
    g.normal.insert(id("pochta"), vec![id("tokio")]);
    let found: Vec<String> = violations(&g).iter().map(|v| v.to_string()).collect();
    assert_eq!(
        found,
        [
            "rule \"grammar crates know no runtime and no storage\": pochta-imap-proto depends on tokio (edge pochta-imap-proto -> pochta-types; path pochta-imap-proto -> pochta-types -> mio -> tokio)",
            "rule \"grammar crates know no runtime and no storage\": pochta-types depends on tokio (edge pochta-types -> mio; path pochta-types -> mio -> tokio)",
        ]
    );
    assert!(matches(PROTOCOL, "pochta-imap-client", false));
    assert!(!matches(PROTOCOL, "pochta-store", true));
    assert!(matches(ALL_BUT_BINARY, "pochta-imap", true));
    assert!(!matches(ALL_BUT_BINARY, "pochta", true));
    assert!(!matches(ALL_BUT_BINARY, "tokio", false));
}
