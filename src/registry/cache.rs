//! Read caches of hot answers (authenticated keys, servers by id, pack
//! resolutions), bounded by memory and kept correct by the store's change
//! generations (see `store::Generations`): an entry is served only while
//! nothing it was read from has changed since — on this replica at once, on
//! others as soon as PostgreSQL delivers the change notification.

use std::hash::Hash;
use std::ops::Deref;
use std::sync::Arc;

use quick_cache::Weighter;

use crate::store::{Generations, Stamp};

/// Memory given to the caches by default (`--read-cache-mib`).
pub const DEFAULT_MIB: u64 = 128;

/// How `--read-cache-mib` is shared out. Entries are weighed by what they
/// hold (encoded answers) plus their bookkeeping, so these are memory budgets.
#[derive(Debug, Clone, Copy)]
pub struct CacheSizes {
    pub keys: u64,
    pub servers: u64,
    pub server_lists: u64,
    pub resolutions: u64,
}

impl CacheSizes {
    /// Splits `mib` MiB: 1/16 for keys (at most 16 MiB); of the rest 2/3
    /// for servers by id (the default holds about 100,000 servers of ~400
    /// encoded bytes), 1/12 for server listings and 1/4 for pack
    /// resolutions (which the database keeps too). 0 turns every cache off.
    pub fn from_mib(mib: u64) -> Self {
        let total = mib.saturating_mul(1 << 20);
        let keys = (total / 16).min(16 << 20);
        let rest = total - keys;
        let servers = rest / 3 * 2;
        let server_lists = rest / 12;
        Self {
            keys,
            servers,
            server_lists,
            resolutions: rest - servers - server_lists,
        }
    }
}

impl Default for CacheSizes {
    fn default() -> Self {
        Self::from_mib(DEFAULT_MIB)
    }
}

/// How a service renders an answer of `S` for the wire once, to keep it
/// (e.g. its encoded protobuf message), and how many bytes that answer
/// holds.
pub struct Renderer<S, V> {
    pub render: fn(S) -> V,
    pub weigh: fn(&V) -> u64,
}

struct Entry<V> {
    stamp: Option<Stamp>,
    weight: u64,
    value: V,
}

#[derive(Clone, Copy)]
struct ByWeight;

impl<K, V> Weighter<K, Arc<Entry<V>>> for ByWeight {
    fn weight(&self, _key: &K, entry: &Arc<Entry<V>>) -> u64 {
        entry.weight
    }
}

/// A cached value, shared with the cache.
pub struct Hit<V>(Arc<Entry<V>>);

impl<V> Deref for Hit<V> {
    type Target = V;
    fn deref(&self) -> &V {
        &self.0.value
    }
}

type Entries<K, V> = quick_cache::sync::Cache<K, Arc<Entry<V>>, ByWeight>;

/// One read cache. Cheap to clone.
pub struct ReadCache<K, V> {
    name: &'static str,
    entries: Option<Arc<Entries<K, V>>>,
    generations: Arc<Generations>,
}

impl<K, V> Clone for ReadCache<K, V> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            entries: self.entries.clone(),
            generations: self.generations.clone(),
        }
    }
}

impl<K, V> std::fmt::Debug for ReadCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache")
            .field("name", &self.name)
            .field("on", &self.entries.is_some())
            .finish_non_exhaustive()
    }
}

/// What every entry weighs besides its key and value: the shared entry
/// (reference counts, stamp, weight), the map's slot and table, allocator
/// rounding. Measured: 100,000 server answers of 420 encoded bytes take about
/// 800 bytes each (RSS), of which this and the key are about 190.
const ENTRY_OVERHEAD: u64 = 160;

impl<K: Eq + Hash + Clone, V> ReadCache<K, V> {
    /// A cache holding at most `bytes` (estimated); 0 keeps nothing.
    pub fn new(name: &'static str, generations: Arc<Generations>, bytes: u64) -> Self {
        let entries = (bytes > 0).then(|| {
            let estimated_items = usize::try_from(bytes / 1024).unwrap_or(usize::MAX).max(16);
            Arc::new(quick_cache::sync::Cache::with_weighter(
                estimated_items,
                bytes,
                ByWeight,
            ))
        });
        Self {
            name,
            entries,
            generations,
        }
    }

    /// The generations shared with the store.
    pub fn generations(&self) -> &Arc<Generations> {
        &self.generations
    }

    /// Whether this cache keeps anything at all.
    pub fn is_on(&self) -> bool {
        self.entries.is_some() && self.generations.enabled()
    }

    /// The entry for `key` if it is still current.
    pub fn get<Q>(&self, key: &Q) -> Option<Hit<V>>
    where
        Q: Hash + Eq + ?Sized,
        K: std::borrow::Borrow<Q>,
    {
        let entries = self.entries.as_ref()?;
        let result = match entries.get(key) {
            Some(entry)
                if entry
                    .stamp
                    .as_ref()
                    .is_some_and(|s| self.generations.is_current(s)) =>
            {
                metrics::counter!("mcp_registry_read_cache_total", "cache" => self.name, "result" => "hit").increment(1);
                return Some(Hit(entry));
            }
            Some(_) => {
                entries.remove(key);
                "stale"
            }
            None => "miss",
        };
        if self.generations.enabled() {
            metrics::counter!("mcp_registry_read_cache_total", "cache" => self.name, "result" => result).increment(1);
        }
        None
    }

    /// Keeps `value`, read after `stamp` was taken, holding about `weight`
    /// bytes (the key's inline size and the entry's bookkeeping are added);
    /// returns it as a [`Hit`] either way.
    pub fn insert(&self, key: K, stamp: Option<Stamp>, value: V, weight: u64) -> Hit<V> {
        // Only if nothing changed while it was read: otherwise it would be
        // dropped at the next look-up anyway.
        let keep = stamp
            .as_ref()
            .is_some_and(|s| self.generations.is_current(s));
        let entry = Arc::new(Entry {
            stamp,
            weight: weight
                .saturating_add(ENTRY_OVERHEAD)
                .saturating_add(std::mem::size_of::<K>() as u64),
            value,
        });
        if let (Some(entries), true) = (self.entries.as_ref(), keep) {
            entries.insert(key, entry.clone());
        }
        Hit(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Topic;

    #[test]
    fn serves_an_entry_only_while_what_it_depends_on_is_unchanged() {
        let g = Arc::new(Generations::new(true));
        let cache: ReadCache<String, u32> = ReadCache::new("test", g.clone(), 1 << 20);
        let stamp = g.stamp([Topic::Server("mcp_a")]);
        cache.insert("a".into(), stamp, 1, 8);
        assert_eq!(cache.get("a").map(|h| *h), Some(1));
        g.changed(Topic::Server("mcp_b"));
        assert_eq!(cache.get("a").map(|h| *h), Some(1));
        g.changed(Topic::Server("mcp_a"));
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn an_answer_read_across_a_change_is_not_kept() {
        let g = Arc::new(Generations::new(true));
        let cache: ReadCache<String, u32> = ReadCache::new("test", g.clone(), 1 << 20);
        let stamp = g.stamp([Topic::Packs("org_a")]);
        g.changed(Topic::Packs("org_a"));
        cache.insert("a".into(), stamp, 1, 8);
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn nothing_is_kept_when_off_or_without_memory() {
        let g = Arc::new(Generations::new(false));
        let cache: ReadCache<String, u32> = ReadCache::new("test", g.clone(), 1 << 20);
        cache.insert("a".into(), g.stamp([Topic::Key("key_a")]), 1, 8);
        assert!(cache.get("a").is_none());
        let g = Arc::new(Generations::new(true));
        let none: ReadCache<String, u32> = ReadCache::new("test", g.clone(), 0);
        none.insert("a".into(), g.stamp([Topic::Key("key_a")]), 1, 8);
        assert!(none.get("a").is_none());
    }

    #[test]
    fn memory_is_bounded() {
        let g = Arc::new(Generations::new(true));
        let cache: ReadCache<u32, Vec<u8>> = ReadCache::new("test", g.clone(), 64 << 10);
        for i in 0..1000 {
            cache.insert(i, g.stamp([Topic::Key("k")]), vec![0; 1024], 1024);
        }
        let kept = (0..1000).filter(|i| cache.get(i).is_some()).count();
        assert!(
            kept > 0 && kept <= 64,
            "kept {kept} entries of 1 KiB in 64 KiB"
        );
    }

    #[test]
    fn sizes_share_out_the_memory() {
        let s = CacheSizes::from_mib(256);
        assert_eq!(s.keys, 16 << 20);
        assert_eq!(
            s.keys + s.servers + s.server_lists + s.resolutions,
            256 << 20
        );
        let default = CacheSizes::default();
        assert!(
            default.servers >= 100_000 * 800,
            "100,000 servers fit: {default:?}"
        );
        let off = CacheSizes::from_mib(0);
        assert_eq!(
            (off.keys, off.servers, off.server_lists, off.resolutions),
            (0, 0, 0, 0)
        );
    }
}
