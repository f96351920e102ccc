//! Context helpers on the final hits: parent expansion, merging of overlapping windows
//! and near-duplicate removal, MMR diversity, and edge ordering.

use super::{ContextOptions, Order, SearchHit};
use crate::{Engine, Result};
use cairn_types::{ChunkId, TenantId};
use std::collections::{HashMap, HashSet};

/// Share of a hit's word trigrams found in a better hit above which it is dropped.
const DUPLICATE_CONTAINMENT: f32 = 0.6;

impl Engine {
    pub(crate) fn apply_context(
        &self,
        tenant: &TenantId,
        mut hits: Vec<SearchHit>,
        opts: &ContextOptions,
        top_k: usize,
    ) -> Result<Vec<SearchHit>> {
        if opts.expand_parents {
            hits = self.expand_parents(tenant, hits)?;
        }
        if opts.dedup {
            hits = dedup(hits);
        }
        if let Some(lambda) = opts.mmr_lambda {
            let chunks: Vec<(&str, &str)> = hits
                .iter()
                .map(|h| (h.collection.as_str(), h.chunk_id.as_str()))
                .collect();
            let vectors = self.chunk_vectors(tenant, &chunks)?;
            hits = mmr(hits, &vectors, lambda.clamp(0.0, 1.0), top_k);
        }
        hits.truncate(top_k);
        if opts.order == Order::Edges {
            hits = edges(hits);
        }
        Ok(hits)
    }

    /// Child hits become their parent section; several children of one parent keep the
    /// best one's place.
    fn expand_parents(&self, tenant: &TenantId, hits: Vec<SearchHit>) -> Result<Vec<SearchHit>> {
        let ids: Vec<ChunkId> = hits
            .iter()
            .map(|h| ChunkId::new(h.chunk_id.clone()))
            .collect();
        let parents: HashMap<String, ChunkId> = self
            .store
            .get_chunks(tenant, &ids)?
            .into_iter()
            .filter_map(|c| c.parent.map(|p| (c.id.as_str().to_owned(), p)))
            .collect();
        if parents.is_empty() {
            return Ok(hits);
        }
        let mut wanted: Vec<ChunkId> = parents.values().cloned().collect();
        wanted.sort();
        wanted.dedup();
        let parent_rows: HashMap<String, cairn_types::Chunk> = self
            .store
            .get_chunks(tenant, &wanted)?
            .into_iter()
            .map(|c| (c.id.as_str().to_owned(), c))
            .collect();
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(hits.len());
        for mut h in hits {
            if let Some(p) = parents
                .get(&h.chunk_id)
                .and_then(|p| parent_rows.get(p.as_str()))
            {
                if !seen.insert(p.id.as_str().to_owned()) {
                    continue;
                }
                h.expanded_from =
                    Some(std::mem::replace(&mut h.chunk_id, p.id.as_str().to_owned()));
                h.text = p.text.clone();
                h.heading_path = p.heading_path.clone();
            }
            out.push(h);
        }
        Ok(out)
    }
}

fn ordinal(chunk_id: &str) -> Option<usize> {
    chunk_id.rsplit(':').next()?.parse().ok()
}

fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

fn trigrams<'a>(w: &[&'a str]) -> HashSet<[&'a str; 3]> {
    w.windows(3).map(|t| [t[0], t[1], t[2]]).collect()
}

/// Joins two windows of one document, dropping the words the second repeats.
fn join_windows(first: &str, second: &str) -> String {
    let (a, b) = (words(first), words(second));
    let max = a.len().min(b.len()).min(400);
    let overlap = (1..=max)
        .rev()
        .find(|&k| a[a.len() - k..] == b[..k])
        .unwrap_or(0);
    let mut out = first.trim_end().to_owned();
    let rest = b[overlap..].join(" ");
    if !rest.is_empty() {
        out.push(if overlap > 0 { ' ' } else { '\n' });
        out.push_str(&rest);
    }
    out
}

/// Merges hits that are neighbouring windows of one document into the better one, and
/// drops hits whose text is mostly contained in a better hit.
pub(crate) fn dedup(hits: Vec<SearchHit>) -> Vec<SearchHit> {
    let mut kept: Vec<SearchHit> = Vec::with_capacity(hits.len());
    'next: for h in hits {
        if let Some(o) = ordinal(&h.chunk_id) {
            for k in &mut kept {
                if k.document_id != h.document_id || k.expanded_from.is_some() {
                    continue;
                }
                let Some(ko) = ordinal(&k.chunk_id) else {
                    continue;
                };
                if o + 1 == ko {
                    k.text = join_windows(&h.text, &k.text);
                    continue 'next;
                }
                if ko + 1 == o {
                    k.text = join_windows(&k.text, &h.text);
                    continue 'next;
                }
            }
        }
        let w = words(&h.text);
        let grams = trigrams(&w);
        if !grams.is_empty() {
            for k in &kept {
                let kw = words(&k.text);
                let kg = trigrams(&kw);
                let shared = grams.iter().filter(|g| kg.contains(*g)).count();
                if shared as f32 / grams.len() as f32 >= DUPLICATE_CONTAINMENT {
                    continue 'next;
                }
            }
        }
        kept.push(h);
    }
    kept
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Greedy maximal marginal relevance: each pick maximizes
/// `λ · relevance − (1 − λ) · max similarity to the picks so far`, relevance being the
/// hit score min-max normalized. Hits without a vector count as dissimilar.
pub(crate) fn mmr(
    hits: Vec<SearchHit>,
    vectors: &[Option<Vec<f32>>],
    lambda: f32,
    k: usize,
) -> Vec<SearchHit> {
    let lo = hits.iter().map(|h| h.score).fold(f32::INFINITY, f32::min);
    let hi = hits
        .iter()
        .map(|h| h.score)
        .fold(f32::NEG_INFINITY, f32::max);
    let rel = |s: f32| if hi > lo { (s - lo) / (hi - lo) } else { 1.0 };
    let mut left: Vec<usize> = (0..hits.len()).collect();
    let mut picked: Vec<usize> = Vec::new();
    while !left.is_empty() && picked.len() < k {
        let (pos, _) = left
            .iter()
            .enumerate()
            .map(|(pos, &i)| {
                let sim = picked
                    .iter()
                    .filter_map(|&j| match (&vectors[i], &vectors[j]) {
                        (Some(a), Some(b)) => Some(dot(a, b)),
                        _ => None,
                    })
                    .fold(0.0f32, f32::max);
                (pos, lambda * rel(hits[i].score) - (1.0 - lambda) * sim)
            })
            .fold(
                (0, f32::NEG_INFINITY),
                |best, x| if x.1 > best.1 { x } else { best },
            );
        picked.push(left.remove(pos));
    }
    let mut slots: Vec<Option<SearchHit>> = hits.into_iter().map(Some).collect();
    picked.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// Ranks 1, 3, 5, … from the start and 2, 4, 6, … from the end, so the weakest hits sit
/// in the middle of a prompt.
pub(crate) fn edges<T>(hits: Vec<T>) -> Vec<T> {
    let mut front = Vec::new();
    let mut back = Vec::new();
    for (i, h) in hits.into_iter().enumerate() {
        if i % 2 == 0 {
            front.push(h);
        } else {
            back.push(h);
        }
    }
    back.reverse();
    front.extend(back);
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(doc: &str, ordinal: usize, text: &str, score: f32) -> SearchHit {
        SearchHit {
            collection: String::new(),
            chunk_id: format!("{doc}:{ordinal}"),
            document_id: doc.into(),
            title: String::new(),
            source: String::new(),
            heading_path: Vec::new(),
            text: text.into(),
            page: None,
            score,
            scores: super::super::HitScores::default(),
            expanded_from: None,
        }
    }

    #[test]
    fn edges_put_the_best_at_both_ends() {
        assert_eq!(edges(vec![1, 2, 3, 4, 5]), vec![1, 3, 5, 4, 2]);
        assert!(edges(Vec::<u8>::new()).is_empty());
    }

    #[test]
    fn neighbouring_windows_merge_without_repeating_the_overlap() {
        let hits = vec![
            hit("d", 1, "gamma delta epsilon zeta", 2.0),
            hit("d", 0, "alpha beta gamma delta", 1.0),
            hit("e", 0, "other words entirely here now", 0.5),
        ];
        let out = dedup(hits);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].text, "alpha beta gamma delta epsilon zeta");
    }

    #[test]
    fn contained_text_is_dropped() {
        let a = "the quick brown fox jumps over the lazy dog today";
        let hits = vec![
            hit("a", 0, a, 2.0),
            hit("b", 5, "quick brown fox jumps over the lazy", 1.0),
        ];
        assert_eq!(dedup(hits).len(), 1);
    }

    #[test]
    fn mmr_skips_a_near_copy() {
        let hits = vec![
            hit("a", 0, "x", 1.0),
            hit("b", 0, "y", 0.9),
            hit("c", 0, "z", 0.5),
        ];
        let v = vec![
            Some(vec![1.0, 0.0]),
            Some(vec![1.0, 0.0]),
            Some(vec![0.0, 1.0]),
        ];
        let out = mmr(hits, &v, 0.5, 2);
        assert_eq!(
            out.iter()
                .map(|h| h.document_id.as_str())
                .collect::<Vec<_>>(),
            ["a", "c"]
        );
    }
}
