//! Searches over several collections (an assistant over several, a conversation's
//! attachments beside its collection): each collection's index is searched on its own
//! (its own filters), and each retriever's candidates of every collection go into one
//! list before the one fusion, rerank and context pass.
//!
//! Cosines are comparable across collections and merge by score. BM25 scores are not:
//! each index has its own term statistics, so a one-file collection's best match scores
//! a fraction of a large collection's. Each collection's BM25 list is scaled so that
//! its best equals the best of all (max normalization, as in federated search), and
//! equal scores go to the collection whose best cosine is higher (the collection more
//! about the query). With one collection nothing changes.

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

/// The keys of a search's indexes in one key space. With one collection a global key
/// is its index key (nothing to map, and fusion breaks ties on the chunk key as it
/// always has); with several it is a position in `of`, which holds its (collection
/// position, index key).
pub(super) struct GlobalKeys {
    several: bool,
    pub(super) of: Vec<(usize, u64)>,
    index: HashMap<(usize, u64), u64>,
}

impl GlobalKeys {
    pub(super) fn new(collections: usize) -> Self {
        Self {
            several: collections > 1,
            of: Vec::new(),
            index: HashMap::new(),
        }
    }

    fn key(&mut self, collection: usize, key: u64) -> u64 {
        if !self.several {
            return key;
        }
        *self.index.entry((collection, key)).or_insert_with(|| {
            self.of.push((collection, key));
            (self.of.len() - 1) as u64
        })
    }

    /// (collection position, index key) of a global key.
    pub(super) fn get(&self, global: u64) -> Option<(usize, u64)> {
        if !self.several {
            return Some((0, global));
        }
        self.of.get(usize::try_from(global).ok()?).copied()
    }
}

/// Per-collection candidate lists (in the search's collection order), as one stage's
/// result.
pub(super) struct PerCollection(pub(super) Vec<Vec<(u64, f32)>>);

impl super::StageCount for PerCollection {
    fn count(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }
}

/// Each collection's best cosine (0 without a dense side, or for a collection the dense
/// side found nothing in).
pub(super) fn priority(dense: Option<&[Vec<(u64, f32)>]>, collections: usize) -> Vec<f32> {
    (0..collections)
        .map(|c| {
            dense
                .and_then(|d| d.get(c))
                .and_then(|l| l.iter().map(|x| x.1).reduce(f32::max))
                .unwrap_or(0.0)
        })
        .collect()
}

/// One dense list: by cosine, best first, cut to `limit`, under global keys.
pub(super) fn merge_dense(
    keys: &mut GlobalKeys,
    per: Vec<Vec<(u64, f32)>>,
    limit: usize,
) -> Vec<(u64, f32)> {
    merge(keys, per, &[], limit, false)
}

/// One lexical list: each collection's BM25 scaled to the best of all, best first (equal
/// scores by `priority`), cut to `limit`, under global keys.
pub(super) fn merge_lexical(
    keys: &mut GlobalKeys,
    per: Vec<Vec<(u64, f32)>>,
    priority: &[f32],
    limit: usize,
) -> Vec<(u64, f32)> {
    merge(keys, per, priority, limit, true)
}

fn merge(
    keys: &mut GlobalKeys,
    per: Vec<Vec<(u64, f32)>>,
    priority: &[f32],
    limit: usize,
    scale: bool,
) -> Vec<(u64, f32)> {
    // One collection: its list is already best first, under its own keys.
    if per.len() == 1 {
        let mut only: Vec<(u64, f32)> = per.into_iter().flatten().collect();
        only.truncate(limit);
        return only;
    }
    let best = |l: &[(u64, f32)]| l.iter().map(|x| x.1).fold(f32::NEG_INFINITY, f32::max);
    let top = per
        .iter()
        .map(|l| best(l))
        .fold(f32::NEG_INFINITY, f32::max);
    let several = per.len() > 1;
    let mut all: Vec<(usize, u64, f32)> = per
        .into_iter()
        .enumerate()
        .flat_map(|(c, list)| {
            let own = best(&list);
            let factor = if scale && several && own > 0.0 && top > 0.0 {
                top / own
            } else {
                1.0
            };
            list.into_iter().map(move |(k, s)| (c, k, s * factor))
        })
        .collect();
    let pri = |c: usize| priority.get(c).copied().unwrap_or(0.0);
    // Stable: what is still equal keeps the collections' order.
    all.sort_by(|a, b| b.2.total_cmp(&a.2).then(pri(b.0).total_cmp(&pri(a.0))));
    all.truncate(limit);
    all.into_iter()
        .map(|(c, k, s)| (keys.key(c, k), s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosines_merge_by_score_under_global_keys() {
        let mut keys = GlobalKeys::new(2);
        let dense = merge_dense(
            &mut keys,
            vec![vec![(7, 0.9), (8, 0.2)], vec![(7, 0.5), (9, 0.4)]],
            3,
        );
        // Key 7 of the first collection and key 7 of the second are different chunks.
        assert_eq!(dense, vec![(0, 0.9), (1, 0.5), (2, 0.4)]);
        assert_eq!(keys.of, vec![(0, 7), (1, 7), (1, 9)]);
        // A later list reuses the keys it shares.
        let again = merge_dense(&mut keys, vec![vec![(8, 0.3)], vec![(9, 0.8)]], 10);
        assert_eq!(again, vec![(2, 0.8), (3, 0.3)]);
        assert_eq!(keys.get(3), Some((0, 8)));
    }

    #[test]
    fn bm25_of_each_collection_is_scaled_to_the_best_and_ties_go_by_cosine() {
        // A one-file collection's BM25 runs far below a large one's.
        let per = vec![vec![(1, 12.0), (2, 6.0)], vec![(5, 1.5), (6, 0.75)]];
        let mut keys = GlobalKeys::new(2);
        let by_docs = merge_lexical(&mut keys, per.clone(), &[0.6, 0.3], 4);
        assert_eq!(by_docs, vec![(0, 12.0), (1, 12.0), (2, 6.0), (3, 6.0)]);
        assert_eq!(keys.get(0), Some((0, 1)));
        // The second collection is more about the query: its best goes first.
        let mut keys = GlobalKeys::new(2);
        merge_lexical(&mut keys, per, &[0.3, 0.6], 4);
        assert_eq!(keys.get(0), Some((1, 5)));
        // One collection: the list, its scores and its keys are left alone.
        let mut keys = GlobalKeys::new(1);
        let one = merge_lexical(&mut keys, vec![vec![(9, 3.0), (4, 1.0)]], &[0.0], 5);
        assert_eq!(one, vec![(9, 3.0), (4, 1.0)]);
        assert_eq!(keys.get(4), Some((0, 4)));
        assert!(keys.of.is_empty(), "nothing mapped");
        assert_eq!(priority(None, 2), vec![0.0, 0.0]);
        assert_eq!(priority(Some(&[vec![(1, 0.4)], vec![]]), 2), vec![0.4, 0.0]);
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
