//! Searches over several collections (an assistant over several, a conversation's
//! attachments beside its collection): each collection's index is searched on its own
//! (its own filters), and each retriever's candidates of every collection go into one
//! list, ranked by score, before the one fusion, rerank and context pass. Cosines are
//! comparable across collections; BM25 scores nearly so (each index has its own term
//! statistics). Merging ranks instead (each collection's best first) would put a
//! one-file collection's only chunk beside the best of the others whatever it says.

use super::SearchRequest;
use crate::{Error, Result};
use cairn_types::{CollectionId, ErrorCode};
use std::collections::HashMap;

/// Most collections one search may cover.
pub const MAX_COLLECTIONS: usize = 8;

/// `req.collection` then `req.collections`, without repeats.
pub(super) fn collections_of(req: &SearchRequest) -> Result<Vec<CollectionId>> {
    let mut all = vec![req.collection.clone()];
    for c in &req.collections {
        if !all.contains(c) {
            all.push(c.clone());
        }
    }
    if all.len() > MAX_COLLECTIONS {
        return Err(Error::new(
            ErrorCode::InvalidInput,
            format!(
                "a search covers at most {MAX_COLLECTIONS} collections, got {}",
                all.len()
            ),
        ));
    }
    Ok(all)
}

/// The keys of several collections' indexes in one key space: a global key is a
/// position in `of`, which holds its (collection position, index key).
#[derive(Default)]
pub(super) struct GlobalKeys {
    pub(super) of: Vec<(usize, u64)>,
    index: HashMap<(usize, u64), u64>,
}

impl GlobalKeys {
    fn key(&mut self, collection: usize, key: u64) -> u64 {
        *self.index.entry((collection, key)).or_insert_with(|| {
            self.of.push((collection, key));
            (self.of.len() - 1) as u64
        })
    }

    /// (collection position, index key) of a global key.
    pub(super) fn get(&self, global: u64) -> Option<(usize, u64)> {
        self.of.get(usize::try_from(global).ok()?).copied()
    }
}

/// One candidate list from per-collection lists (in the search's collection order),
/// best score first, cut to `limit`, under global keys.
pub(super) fn merge_lists(
    keys: &mut GlobalKeys,
    per: Vec<Vec<(u64, f32)>>,
    limit: usize,
) -> Vec<(u64, f32)> {
    let mut all: Vec<(usize, u64, f32)> = per
        .into_iter()
        .enumerate()
        .flat_map(|(c, list)| list.into_iter().map(move |(k, s)| (c, k, s)))
        .collect();
    // Stable: ties keep the collections' order.
    all.sort_by(|a, b| b.2.total_cmp(&a.2));
    all.truncate(limit);
    all.into_iter()
        .map(|(c, k, s)| (keys.key(c, k), s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_of_every_collection_rank_by_score_under_global_keys() {
        let mut keys = GlobalKeys::default();
        let lexical = merge_lists(
            &mut keys,
            vec![vec![(7, 3.0), (8, 1.0)], vec![(7, 2.5), (9, 0.5)]],
            3,
        );
        // Key 7 of the first collection and key 7 of the second are different chunks.
        assert_eq!(lexical, vec![(0, 3.0), (1, 2.5), (2, 1.0)]);
        assert_eq!(keys.of, vec![(0, 7), (1, 7), (0, 8)]);
        // The next list reuses the keys it shares.
        let dense = merge_lists(
            &mut keys,
            vec![vec![(8, 0.9)], vec![(9, 0.8), (7, 0.1)]],
            10,
        );
        assert_eq!(dense, vec![(2, 0.9), (3, 0.8), (1, 0.1)]);
        assert_eq!(keys.get(3), Some((1, 9)));
    }

    #[test]
    fn repeats_are_dropped_and_the_count_is_bounded() {
        let mut req = SearchRequest::new(CollectionId::new("a"), "q");
        req.collections = vec![CollectionId::new("b"), CollectionId::new("a")];
        let all = collections_of(&req).unwrap();
        assert_eq!(all, [CollectionId::new("a"), CollectionId::new("b")]);
        req.collections = (0..MAX_COLLECTIONS)
            .map(|i| CollectionId::new(format!("c{i}")))
            .collect();
        let e = collections_of(&req).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        assert!(e.message.contains("at most 8"), "{}", e.message);
    }
}
