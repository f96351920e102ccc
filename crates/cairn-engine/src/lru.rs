//! A small least-recently-used map with an optional time to live, behind one mutex:
//! what the query-embedding cache and the answer cache keep. Eviction scans for the
//! oldest entry, which is cheap at the sizes used (up to a few thousand entries).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

struct Entry<V> {
    value: V,
    used: u64,
    stored: Instant,
}

struct Inner<K, V> {
    entries: HashMap<K, Entry<V>>,
    tick: u64,
}

/// At most `capacity` entries; each lives `ttl` at most (`None`: until evicted).
pub struct Lru<K, V> {
    capacity: usize,
    ttl: Option<Duration>,
    inner: Mutex<Inner<K, V>>,
}

impl<K: Hash + Eq + Clone, V: Clone> Lru<K, V> {
    /// A map of at most `capacity` entries (0: nothing is kept).
    pub fn new(capacity: usize, ttl: Option<Duration>) -> Self {
        Self {
            capacity,
            ttl,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                tick: 0,
            }),
        }
    }

    /// How many entries it keeps at most (0: it is off).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The value under `key`, if present and not expired (which marks it used).
    pub fn get(&self, key: &K) -> Option<V> {
        if self.capacity == 0 {
            return None;
        }
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.tick += 1;
        let tick = g.tick;
        let expired = g
            .entries
            .get(key)
            .is_some_and(|e| self.ttl.is_some_and(|ttl| e.stored.elapsed() > ttl));
        if expired {
            g.entries.remove(key);
            return None;
        }
        let e = g.entries.get_mut(key)?;
        e.used = tick;
        Some(e.value.clone())
    }

    /// Keeps `value` under `key`, dropping the least recently used entry when full.
    pub fn put(&self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.tick += 1;
        let tick = g.tick;
        if !g.entries.contains_key(&key) && g.entries.len() >= self.capacity {
            let oldest = g
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                g.entries.remove(&k);
            }
        }
        g.entries.insert(
            key,
            Entry {
                value,
                used: tick,
                stored: Instant::now(),
            },
        );
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .clear();
    }

    /// Entries held (expired ones included until touched).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_goes_first() {
        let c = Lru::new(2, None);
        c.put("q1", 1);
        c.put("q2", 2);
        assert_eq!(c.get(&"q1"), Some(1));
        c.put("q3", 3);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&"q2"), None, "q2 was least recently used");
        assert_eq!(c.get(&"q1"), Some(1));
    }

    #[test]
    fn entries_expire_and_zero_capacity_keeps_nothing() {
        let c = Lru::new(4, Some(Duration::from_millis(20)));
        c.put("q", 1);
        assert_eq!(c.get(&"q"), Some(1));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(c.get(&"q"), None);
        let z = Lru::new(0, None);
        z.put("q", 1);
        assert_eq!(z.get(&"q"), None);
    }
}
