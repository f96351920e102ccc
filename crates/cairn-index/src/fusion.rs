//! Fusing ranked lists: reciprocal rank fusion and alpha-weighted normalized scores.

use std::collections::HashMap;

/// A fused hit: the key, its fused score and the per-list (rank, score) it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Fused {
    pub key: u64,
    pub score: f32,
    /// One entry per input list: `Some((rank from 1, raw score))` if the key was in it.
    pub sources: Vec<Option<(usize, f32)>>,
}

fn collect(lists: &[&[(u64, f32)]]) -> Vec<Fused> {
    let mut by_key: HashMap<u64, usize> = HashMap::new();
    let mut out: Vec<Fused> = Vec::new();
    for (li, list) in lists.iter().enumerate() {
        for (rank, &(key, score)) in list.iter().enumerate() {
            let i = *by_key.entry(key).or_insert_with(|| {
                out.push(Fused {
                    key,
                    score: 0.0,
                    sources: vec![None; lists.len()],
                });
                out.len() - 1
            });
            if out[i].sources[li].is_none() {
                out[i].sources[li] = Some((rank + 1, score));
            }
        }
    }
    out
}

fn sorted(mut v: Vec<Fused>) -> Vec<Fused> {
    v.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.key.cmp(&b.key)));
    v
}

/// Reciprocal rank fusion: `Σ 1 / (k + rank)` over the lists a key appears in.
pub fn rrf(lists: &[&[(u64, f32)]], k: f32) -> Vec<Fused> {
    rrf_weighted(lists, &[], k)
}

/// Weighted reciprocal rank fusion: `Σ w_i / (k + rank_i)`; a list without a weight
/// in `weights` counts 1. Equal fused scores (a chunk first in one list and second in
/// the other, against one the other way round) are ordered by how decisively each
/// list ranked it: the sum of its scores relative to each list's best.
pub fn rrf_weighted(lists: &[&[(u64, f32)]], weights: &[f32], k: f32) -> Vec<Fused> {
    let best: Vec<f32> = lists
        .iter()
        .map(|l| l.iter().map(|x| x.1).fold(f32::NEG_INFINITY, f32::max))
        .collect();
    let mut v: Vec<(Fused, f32)> = collect(lists)
        .into_iter()
        .map(|mut f| {
            f.score = f
                .sources
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.map(|(rank, _)| (i, rank)))
                .map(|(i, rank)| weights.get(i).copied().unwrap_or(1.0) / (k + rank as f32))
                .sum();
            let strength = f
                .sources
                .iter()
                .zip(&best)
                .filter_map(|(s, &b)| s.filter(|_| b > 0.0).map(|(_, raw)| raw / b))
                .sum::<f32>();
            (f, strength)
        })
        .collect();
    v.sort_by(|(a, sa), (b, sb)| {
        b.score
            .total_cmp(&a.score)
            .then(sb.total_cmp(sa))
            .then(a.key.cmp(&b.key))
    });
    v.into_iter().map(|(f, _)| f).collect()
}

/// `alpha · dense + (1 − alpha) · lexical` over min-max normalized scores; a key missing
/// from a list scores 0 there. `lists` is `[lexical, dense]`.
pub fn weighted(lexical: &[(u64, f32)], dense: &[(u64, f32)], alpha: f32) -> Vec<Fused> {
    let norm = |list: &[(u64, f32)]| -> (f32, f32) {
        let lo = list.iter().map(|x| x.1).fold(f32::INFINITY, f32::min);
        let hi = list.iter().map(|x| x.1).fold(f32::NEG_INFINITY, f32::max);
        (lo, hi)
    };
    let ranges = [norm(lexical), norm(dense)];
    let weights = [1.0 - alpha, alpha];
    let mut v = collect(&[lexical, dense]);
    for f in &mut v {
        f.score = f
            .sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|(_, raw)| (i, raw)))
            .map(|(i, raw)| {
                let (lo, hi) = ranges[i];
                let n = if hi > lo { (raw - lo) / (hi - lo) } else { 1.0 };
                weights[i] * n
            })
            .sum();
    }
    sorted(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heavier_list_wins_disagreements() {
        let lex = [(1, 9.0), (2, 8.0)];
        let dense = [(2, 0.9), (1, 0.8)];
        assert_eq!(
            rrf(&[&lex, &dense], 60.0)[0].score,
            rrf(&[&lex, &dense], 60.0)[1].score
        );
        let f = rrf_weighted(&[&lex, &dense], &[2.0, 1.0], 60.0);
        assert_eq!(f[0].key, 1);
        assert!((f[0].score - (2.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-6);
        let g = rrf_weighted(&[&lex, &dense], &[1.0, 2.0], 60.0);
        assert_eq!(g[0].key, 2);
    }

    #[test]
    fn equal_ranks_go_to_the_more_decisive_match() {
        // 1 wins lexical by a wide margin and is a close second on dense; 2 the reverse.
        let lex = [(1, 38.0), (2, 30.0)];
        let dense = [(2, 0.63), (1, 0.56)];
        let f = rrf(&[&lex, &dense], 60.0);
        assert_eq!(f[0].score, f[1].score);
        assert_eq!(f[0].key, 1, "{f:?}");
        // Swapping which list is decisive swaps the order.
        let lex = [(1, 31.0), (2, 30.0)];
        let dense = [(2, 0.9), (1, 0.5)];
        assert_eq!(rrf(&[&lex, &dense], 60.0)[0].key, 2);
    }

    #[test]
    fn rrf_rewards_agreement() {
        let lex = [(1, 9.0), (2, 5.0), (3, 1.0)];
        let dense = [(2, 0.9), (3, 0.8), (4, 0.1)];
        let f = rrf(&[&lex, &dense], 60.0);
        assert_eq!(f[0].key, 2, "{f:?}");
        assert_eq!(f[0].sources, vec![Some((2, 5.0)), Some((1, 0.9))]);
        assert!((f[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-6);
        assert_eq!(f.len(), 4);
    }

    #[test]
    fn weighted_mixes_normalized_scores() {
        let lex = [(1, 10.0), (2, 0.0)];
        let dense = [(2, 0.9), (1, 0.5)];
        assert_eq!(weighted(&lex, &dense, 0.0)[0].key, 1);
        assert_eq!(weighted(&lex, &dense, 1.0)[0].key, 2);
        let half = weighted(&lex, &dense, 0.5);
        assert!((half[0].score - 0.5).abs() < 1e-6);
    }
}
