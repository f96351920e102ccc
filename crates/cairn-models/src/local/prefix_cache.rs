//! Prompt-prefix caching: finished sequences keep their KV state, and a new prompt that
//! shares a prefix with one starts from a copy cut back to the shared part, so a chat's
//! second turn only computes its new tokens. Least recently used entries go first once
//! the byte budget is spent.

use super::backend::Snapshot;
use std::collections::VecDeque;

/// An LRU set of (tokens, KV state) pairs.
pub(crate) struct PrefixCache {
    entries: VecDeque<(Vec<u32>, Snapshot)>,
    max_bytes: usize,
}

impl PrefixCache {
    /// A cache that holds at most `max_bytes` of keys and values (0 disables it).
    pub fn new(max_bytes: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            max_bytes,
        }
    }

    /// The longest usable prefix for `tokens`: how many positions can be reused and the
    /// state that holds them (and possibly more: the caller cuts it back). At least one
    /// token is always left to compute, since the next logits come from feeding it.
    pub fn lookup(&mut self, tokens: &[u32]) -> Option<(usize, Snapshot)> {
        let limit = tokens.len().saturating_sub(1);
        let best = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, (seq, cache))| (i, common_prefix(seq, tokens).min(cache.len()).min(limit)))
            .max_by_key(|(_, n)| *n);
        let (index, shared) = best?;
        if shared == 0 {
            return None;
        }
        let entry = self.entries.remove(index)?;
        let snapshot = entry.1.clone();
        self.entries.push_front(entry);
        Some((shared, snapshot))
    }

    /// Keeps `cache`, which holds the KV state of `tokens`.
    pub fn insert(&mut self, tokens: Vec<u32>, cache: Snapshot) {
        if self.max_bytes == 0 || cache.is_empty() || cache.bytes() > self.max_bytes {
            return;
        }
        // An entry this one extends is redundant.
        self.entries
            .retain(|(seq, _)| !(seq.len() <= tokens.len() && tokens.starts_with(seq)));
        self.entries.push_front((tokens, cache));
        while self.bytes() > self.max_bytes {
            self.entries.pop_back();
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn bytes(&self) -> usize {
        self.entries.iter().map(|(_, c)| c.bytes()).sum()
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
