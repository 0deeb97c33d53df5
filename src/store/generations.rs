//! Change generations: what the read caches check their entries against.
//!
//! Every committed write bumps the generation of what it changed (a server,
//! an organization's packs, an API key) *after* its commit. A cache entry is
//! stamped with the generations read *before* the database was, and is
//! served only while they are all unchanged. So an entry can never outlive a
//! write that committed after it was read: a write acknowledged by this
//! process is seen by every read that starts after it (read-your-writes).
//!
//! Generations live in a fixed table of stripes indexed by a hash of the
//! topic; two topics sharing a stripe only cause extra misses. `epoch`
//! invalidates everything at once (raw SQL, a lost PostgreSQL listener).
//! Writes by other processes reach this one through PostgreSQL
//! `NOTIFY` (see `store::listen_for_changes`); while that channel is down the
//! caches are switched off ([`Generations::set_enabled`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Number of stripes (a power of two).
const STRIPES: usize = 4096;

/// What a write changed, and what a cached answer depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic<'a> {
    /// One server's row or its capabilities.
    Server(&'a str),
    /// The packs (members, revisions) of one organization.
    Packs(&'a str),
    /// One API key.
    Key(&'a str),
    /// Which servers a scope (an organization id or `catalog`) holds, and
    /// their names and categories: what listings and their counts depend on
    /// besides each listed server.
    Scope(&'a str),
}

impl<'a> Topic<'a> {
    /// The `NOTIFY` payload the PostgreSQL triggers send for this topic.
    pub fn payload(&self) -> String {
        match self {
            Topic::Server(id) => format!("s:{id}"),
            Topic::Packs(org) => format!("p:{org}"),
            Topic::Key(id) => format!("k:{id}"),
            Topic::Scope(scope) => format!("c:{scope}"),
        }
    }

    /// Reads a `NOTIFY` payload; `None` for anything else.
    pub fn from_payload(payload: &'a str) -> Option<Self> {
        let (kind, id) = payload.split_once(':')?;
        match kind {
            "s" => Some(Topic::Server(id)),
            "p" => Some(Topic::Packs(id)),
            "k" => Some(Topic::Key(id)),
            "c" => Some(Topic::Scope(id)),
            _ => None,
        }
    }
}

/// The generations of what one cached answer depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    epoch: u64,
    stripes: Stripes,
}

/// A stamp's (stripe, generation) pairs, sorted: up to two inline (a server
/// answer depends on its server and its organization's packs), so the
/// commonest entries need no allocation of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stripes {
    Inline(u8, [(u16, u64); 2]),
    Heap(Box<[(u16, u64)]>),
}

impl Stripes {
    fn new(pairs: Vec<(u16, u64)>) -> Self {
        match pairs.as_slice() {
            [] => Self::Inline(0, [(0, 0); 2]),
            [one] => Self::Inline(1, [*one, (0, 0)]),
            [one, two] => Self::Inline(2, [*one, *two]),
            _ => Self::Heap(pairs.into_boxed_slice()),
        }
    }

    fn as_slice(&self) -> &[(u16, u64)] {
        match self {
            Self::Inline(len, pairs) => pairs.get(..usize::from(*len)).unwrap_or_default(),
            Self::Heap(pairs) => pairs,
        }
    }
}

/// All generations at one moment, for answers whose dependencies are only
/// known after reading (a pack's members).
pub struct Snapshot {
    epoch: u64,
    stripes: Box<[u64]>,
}

impl Snapshot {
    /// Stamps an answer that depends on `topics`, with the generations of
    /// this snapshot.
    pub fn stamp<'a>(&self, topics: impl IntoIterator<Item = Topic<'a>>) -> Stamp {
        stamp_of(self.epoch, topics, |i| self.stripes[i])
    }
}

/// A stamp of `topics` at `epoch`, with the generation of stripe `i` from `generation(i)`.
fn stamp_of<'a>(
    epoch: u64,
    topics: impl IntoIterator<Item = Topic<'a>>,
    generation: impl Fn(usize) -> u64,
) -> Stamp {
    let mut stripes: Vec<(u16, u64)> = topics
        .into_iter()
        .map(|topic| {
            let i = stripe(topic);
            (i as u16, generation(i))
        })
        .collect();
    stripes.sort_unstable();
    stripes.dedup();
    Stamp {
        epoch,
        stripes: Stripes::new(stripes),
    }
}

/// The generation table. One per [`super::Store`], shared by its clones.
pub struct Generations {
    epoch: AtomicU64,
    enabled: AtomicBool,
    stripes: Box<[AtomicU64]>,
    /// Counts every change, for whoever waits for changes rather than
    /// checking stamps when asked ([`Generations::subscribe`]).
    changes: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Generations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generations")
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .field("enabled", &self.enabled.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Stripe of `topic`. Uses a fixed hash so that every process (and the
/// payloads of other processes) map a topic to the same stripe; only this
/// process's table is indexed with it.
fn stripe(topic: Topic<'_>) -> usize {
    // FNV-1a: stable, cheap for short ids, no allocation.
    let (tag, id) = match topic {
        Topic::Server(id) => (b's', id),
        Topic::Packs(id) => (b'p', id),
        Topic::Key(id) => (b'k', id),
        Topic::Scope(scope) => (b'c', scope),
    };
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in std::iter::once(tag).chain(id.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash as usize) & (STRIPES - 1)
}

impl Generations {
    /// A table whose caches start `enabled` or not.
    pub fn new(enabled: bool) -> Self {
        Self {
            epoch: AtomicU64::new(0),
            enabled: AtomicBool::new(enabled),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Records that a committed write changed `topic`.
    pub fn changed(&self, topic: Topic<'_>) {
        self.stripes[stripe(topic)].fetch_add(1, Ordering::SeqCst);
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Records that anything may have changed.
    pub fn changed_everything(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Wakes on every change from now on (coalesced: a waiter that was busy
    /// sees one wake-up for all the changes since it last looked); a waiter
    /// then checks its stamps to learn whether the change concerns it.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Switches the caches on or off; either way every entry made so far is
    /// dropped.
    pub fn set_enabled(&self, enabled: bool) {
        self.changed_everything();
        self.enabled.store(enabled, Ordering::SeqCst);
        self.changed_everything();
    }

    /// Whether caches may serve and keep entries now.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// Stamps an answer that depends on `topics`, read after this call.
    /// `None` while caching is off.
    pub fn stamp<'a>(&self, topics: impl IntoIterator<Item = Topic<'a>>) -> Option<Stamp> {
        if !self.enabled() {
            return None;
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        Some(stamp_of(epoch, topics, |i| {
            self.stripes[i].load(Ordering::SeqCst)
        }))
    }

    /// All generations now, for an answer read after this call. `None`
    /// while caching is off.
    pub fn snapshot(&self) -> Option<Snapshot> {
        if !self.enabled() {
            return None;
        }
        Some(Snapshot {
            epoch: self.epoch.load(Ordering::SeqCst),
            stripes: self
                .stripes
                .iter()
                .map(|g| g.load(Ordering::SeqCst))
                .collect(),
        })
    }

    /// Whether an answer stamped with `stamp` is still what the database holds.
    pub fn is_current(&self, stamp: &Stamp) -> bool {
        self.enabled()
            && self.epoch.load(Ordering::SeqCst) == stamp.epoch
            && stamp
                .stripes
                .as_slice()
                .iter()
                .all(|&(i, g)| self.stripes[usize::from(i)].load(Ordering::SeqCst) == g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_outdates_only_stamps_that_depend_on_it() {
        let g = Generations::new(true);
        let server = g.stamp([Topic::Server("mcp_a")]).expect("enabled");
        let pack = g
            .stamp([Topic::Packs("org_a"), Topic::Server("mcp_b")])
            .expect("enabled");
        assert!(g.is_current(&server) && g.is_current(&pack));
        g.changed(Topic::Server("mcp_b"));
        assert!(g.is_current(&server));
        assert!(!g.is_current(&pack));
        g.changed(Topic::Server("mcp_a"));
        assert!(!g.is_current(&server));
    }

    #[test]
    fn stamps_of_many_topics_are_outdated_by_each_of_them() {
        let g = Generations::new(true);
        let ids = ["mcp_1", "mcp_2", "mcp_3", "mcp_4"];
        for changed in ids {
            let stamp = g
                .stamp(ids.iter().map(|id| Topic::Server(id)))
                .expect("enabled");
            assert!(g.is_current(&stamp));
            g.changed(Topic::Server(changed));
            assert!(!g.is_current(&stamp), "{changed}");
        }
        let none = g.stamp([]).expect("enabled");
        assert!(g.is_current(&none));
    }

    #[test]
    fn a_snapshot_taken_before_a_change_stamps_outdated_answers() {
        let g = Generations::new(true);
        let before = g.snapshot().expect("enabled");
        g.changed(Topic::Packs("org_a"));
        // Read before the change, stamped after it: never current.
        assert!(!g.is_current(&before.stamp([Topic::Packs("org_a")])));
        assert!(g.is_current(&before.stamp([Topic::Packs("org_b"), Topic::Key("key_x")])));
    }

    #[test]
    fn everything_and_switching_off_outdate_all_stamps() {
        let g = Generations::new(true);
        let s = g.stamp([Topic::Key("key_a")]).expect("enabled");
        g.changed_everything();
        assert!(!g.is_current(&s));
        let s = g.stamp([Topic::Key("key_a")]).expect("enabled");
        g.set_enabled(false);
        assert!(g.stamp([Topic::Key("key_a")]).is_none());
        assert!(g.snapshot().is_none());
        assert!(!g.is_current(&s));
        g.set_enabled(true);
        assert!(!g.is_current(&s), "entries from before stay outdated");
    }

    #[test]
    fn payloads_round_trip() {
        for topic in [
            Topic::Server("mcp_1"),
            Topic::Packs("org_1"),
            Topic::Key("key_1"),
        ] {
            assert_eq!(Topic::from_payload(&topic.payload()), Some(topic));
        }
        assert_eq!(Topic::from_payload("x:1"), None);
        assert_eq!(Topic::from_payload("nothing"), None);
    }
}
