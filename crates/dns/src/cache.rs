//! The typed answer cache in front of hickory, shared by every user of [`crate::Dns`].
//!
//! Implementation notes:
//! - One [`Cache`] per record kind (parsed TXT, MX, A, AAAA, PTR), keyed by the fully
//!   qualified name; it is mail-auth's [`ResolverCache`], so SPF, DKIM and DMARC verification
//!   and the outbound queue's MX/A/AAAA lookups read and fill the same entries.
//! - An entry lives until the `valid_until` its lookup reported (the smallest TTL of the
//!   answer, as hickory computed it) and is then gone: TTLs are respected, never extended.
//! - Bounded by entries and by bytes (an estimate of each entry's size) at once: an insert
//!   that goes over either bound evicts the oldest entries first. Expired entries are dropped
//!   when looked up or when their turn for eviction comes.
//! - Fixture mode (tests): the entries are a fixed table and every other name gets the
//!   configured "authoritative miss" answer (NXDOMAIN / no records); nothing is inserted.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
#[cfg(test)]
use std::time::Duration;
use std::time::Instant;

use mail_auth::{MX, RecordSet, ResolverCache, Txt};

/// Approximate heap size of a cached value, for the byte bound.
pub trait Weight {
    fn weight(&self) -> usize;
}

impl Weight for Txt {
    fn weight(&self) -> usize {
        match self {
            Txt::Spf(s) => format!("{s:?}").len(),
            Txt::Dmarc(d) => format!("{d:?}").len(),
            Txt::Error(e) => format!("{e:?}").len(),
            // A DKIM key (RSA-2048 is 270 bytes of DER plus parsed parameters) and the rarer
            // kinds: a flat estimate.
            _ => 768,
        }
    }
}

impl Weight for RecordSet<MX> {
    fn weight(&self) -> usize {
        self.rrset
            .iter()
            .map(|mx| 32 + mx.exchanges.iter().map(|x| 16 + x.len()).sum::<usize>())
            .sum()
    }
}

impl Weight for RecordSet<Ipv4Addr> {
    fn weight(&self) -> usize {
        4 * self.rrset.len()
    }
}

impl Weight for RecordSet<Ipv6Addr> {
    fn weight(&self) -> usize {
        16 * self.rrset.len()
    }
}

impl Weight for RecordSet<Box<str>> {
    fn weight(&self) -> usize {
        self.rrset.iter().map(|n| 16 + n.len()).sum()
    }
}

/// Size of a key, for the byte bound.
pub trait KeyWeight {
    fn key_weight(&self) -> usize;
}

impl KeyWeight for Box<str> {
    fn key_weight(&self) -> usize {
        self.len()
    }
}

impl KeyWeight for IpAddr {
    fn key_weight(&self) -> usize {
        16
    }
}

/// What an entry costs beyond its key and value (map slot, order slot, expiry).
const ENTRY_OVERHEAD: usize = 64;

/// How a cache is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub entries: u64,
    pub bytes: u64,
}

/// A production cache's state: entries, their insertion order (for eviction), the bytes held.
struct Live<K, V> {
    map: HashMap<K, Entry<V>>,
    /// Keys in insertion order with the generation they were inserted at; a key replaced
    /// since then has a newer generation and its old slot is skipped.
    order: VecDeque<(K, u64)>,
    bytes: u64,
    generation: u64,
    bounds: Bounds,
}

struct Entry<V> {
    value: V,
    until: Instant,
    weight: u64,
    generation: u64,
}

impl<K: Hash + Eq + Clone, V> Live<K, V> {
    fn insert(&mut self, key: K, value: V, until: Instant, weight: u64) {
        if weight > self.bounds.bytes {
            return;
        }
        if let Some(old) = self.map.remove(&key) {
            self.bytes -= old.weight;
        }
        self.generation += 1;
        let generation = self.generation;
        self.map.insert(
            key.clone(),
            Entry {
                value,
                until,
                weight,
                generation,
            },
        );
        self.order.push_back((key, generation));
        self.bytes += weight;
        // Oldest first: the first inserted is also the nearest to expiry for equal TTLs.
        while self.map.len() as u64 > self.bounds.entries || self.bytes > self.bounds.bytes {
            let Some((k, g)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&k).is_some_and(|e| e.generation == g)
                && let Some(e) = self.map.remove(&k)
            {
                self.bytes -= e.weight;
            }
        }
        if self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order
                .retain(|(k, g)| map.get(k).is_some_and(|e| e.generation == *g));
        }
    }

    fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let e = self.map.remove(key)?;
        self.bytes -= e.weight;
        Some(e.value)
    }
}

enum Store<K, V> {
    Live(Mutex<Live<K, V>>),
    Fixture {
        entries: Mutex<HashMap<K, V>>,
        miss: V,
    },
}

/// A bounded TTL cache of one record kind (see the module notes).
pub struct Cache<K, V> {
    store: Store<K, V>,
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + KeyWeight + 'static,
    V: Clone + Send + Sync + Weight + 'static,
{
    /// A production cache within `bounds`.
    pub fn new(bounds: Bounds) -> Self {
        Cache {
            store: Store::Live(Mutex::new(Live {
                map: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
                generation: 0,
                bounds: Bounds {
                    entries: bounds.entries.max(1),
                    bytes: bounds.bytes.max(1),
                },
            })),
        }
    }

    /// A fixture: answers from [`Cache::put`] entries, `miss` for every other name.
    pub fn fixture(miss: V) -> Self {
        Cache {
            store: Store::Fixture {
                entries: Mutex::new(HashMap::new()),
                miss,
            },
        }
    }

    /// Adds a fixture entry (ignored by a production cache).
    pub fn put(&self, key: K, value: V) {
        if let Store::Fixture { entries, .. } = &self.store
            && let Ok(mut e) = entries.lock()
        {
            e.insert(key, value);
        }
    }

    /// Whether this is a fixture.
    pub fn is_fixture(&self) -> bool {
        matches!(self.store, Store::Fixture { .. })
    }

    /// A fixture's entry for `key` only (no authoritative miss), for lookups that
    /// classify a miss themselves.
    pub fn fixture_entry<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match &self.store {
            Store::Fixture { entries, .. } => entries.lock().ok()?.get(key).cloned(),
            Store::Live(_) => None,
        }
    }

    /// Entries currently held (expired ones included until they are looked up or evicted).
    pub fn len(&self) -> u64 {
        match &self.store {
            Store::Live(c) => c.lock().map_or(0, |c| c.map.len() as u64),
            Store::Fixture { entries, .. } => entries.lock().map_or(0, |e| e.len() as u64),
        }
    }

    /// Bytes currently held, by the weigher's estimate (production caches).
    pub fn weighted_size(&self) -> u64 {
        match &self.store {
            Store::Live(c) => c.lock().map_or(0, |c| c.bytes),
            Store::Fixture { .. } => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K, V> ResolverCache<K, V> for Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + KeyWeight + 'static,
    V: Clone + Send + Sync + Weight + 'static,
{
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match &self.store {
            Store::Live(c) => {
                let mut c = c.lock().ok()?;
                match c.map.get(name) {
                    Some(e) if e.until > Instant::now() => Some(e.value.clone()),
                    Some(_) => {
                        c.remove(name);
                        None
                    }
                    None => None,
                }
            }
            Store::Fixture { entries, miss } => entries
                .lock()
                .ok()
                .and_then(|e| e.get(name).cloned())
                .or_else(|| Some(miss.clone())),
        }
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match &self.store {
            Store::Live(c) => c.lock().ok()?.remove(name),
            Store::Fixture { entries, .. } => entries.lock().ok()?.remove(name),
        }
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        if let Store::Live(c) = &self.store
            && valid_until > Instant::now()
            && let Ok(mut c) = c.lock()
        {
            let weight = (ENTRY_OVERHEAD + key.key_weight() + value.weight()) as u64;
            c.insert(key, value, valid_until, weight);
        }
    }
}

/// An empty record set (the fixture's "no such records").
pub fn empty_set<T>() -> RecordSet<T> {
    RecordSet {
        rrset: Arc::from(Vec::new().into_boxed_slice()),
        dnssec_status: mail_auth::DnssecStatus::Indeterminate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(n: usize) -> RecordSet<Ipv4Addr> {
        RecordSet {
            rrset: Arc::from(vec![Ipv4Addr::LOCALHOST; n].into_boxed_slice()),
            dnssec_status: mail_auth::DnssecStatus::Indeterminate,
        }
    }

    #[test]
    fn entries_expire_at_their_ttl() {
        let c: Cache<Box<str>, RecordSet<Ipv4Addr>> = Cache::new(Bounds {
            entries: 10,
            bytes: 10_000,
        });
        let now = Instant::now();
        c.insert("a.test.".into(), ips(1), now + Duration::from_secs(60));
        c.insert("b.test.".into(), ips(1), now + Duration::from_millis(50));
        c.insert("gone.test.".into(), ips(1), now);
        assert!(c.get("a.test.").is_some());
        assert!(c.get("b.test.").is_some());
        assert!(c.get("gone.test.").is_none());
        std::thread::sleep(Duration::from_millis(80));
        assert!(c.get("b.test.").is_none());
        assert!(c.get("a.test.").is_some());
    }

    #[test]
    fn bounded_by_entries_and_by_bytes() {
        let by_entries: Cache<Box<str>, RecordSet<Ipv4Addr>> = Cache::new(Bounds {
            entries: 50,
            bytes: 1 << 20,
        });
        let by_bytes: Cache<Box<str>, RecordSet<Ipv4Addr>> = Cache::new(Bounds {
            entries: 100_000,
            bytes: 20_000,
        });
        let until = Instant::now() + Duration::from_secs(600);
        for i in 0..2000 {
            let name: Box<str> = format!("host{i}.test.").into();
            by_entries.insert(name.clone(), ips(1), until);
            // ~4 KB each: at most 5 fit in 20 000 bytes.
            by_bytes.insert(name, ips(1000), until);
        }
        assert!(by_entries.len() <= 50, "{}", by_entries.len());
        assert!(!by_entries.is_empty());
        assert!(
            by_bytes.weighted_size() <= 20_000,
            "{}",
            by_bytes.weighted_size()
        );
        assert!(by_bytes.len() <= 5, "{}", by_bytes.len());
    }

    #[test]
    fn fixture_answers_its_table_and_the_miss() {
        let c: Cache<Box<str>, RecordSet<Ipv4Addr>> = Cache::fixture(empty_set());
        c.put("a.test.".into(), ips(2));
        c.insert(
            "b.test.".into(),
            ips(1),
            Instant::now() + Duration::from_secs(9),
        );
        assert_eq!(c.get("a.test.").unwrap().rrset.len(), 2);
        assert_eq!(c.get("b.test.").unwrap().rrset.len(), 0);
        assert!(c.fixture_entry("b.test.").is_none());
    }
}
