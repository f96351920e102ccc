//! Query and retrieval drift of a collection, week by week, from the questions asked of
//! it (recorded answers): the population stability index (PSI) of each week against the
//! first week of the window, over
//! - query-embedding clusters (k-means on the first week's questions), and
//! - the best source's score (its cosine to the question when the dense side found it).
//!
//! PSI = Σ (p − q) · ln(p / q) over the bins; above 0.2 is the usual sign of a shift worth
//! a look, and is logged as a warning.

use super::runs::SplitMix;
use crate::{Engine, Error, Result};
use cairn_types::{CollectionId, ErrorCode, TenantId};
use serde::Serialize;
use std::collections::BTreeMap;

const WEEK_MS: i64 = 7 * 86_400_000;
/// The PSI above which a week is flagged.
pub const PSI_ALERT: f64 = 0.2;
/// Share given to an empty bin, so the index stays finite.
const EMPTY_BIN: f64 = 1e-4;
/// Most questions read.
const MAX_QUESTIONS: usize = 100_000;
/// Bins of the best-score distribution over [0, 1].
const SCORE_BINS: usize = 10;

/// One week against the reference week.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WeekDrift {
    /// The week's first day, as Unix ms.
    pub week_start: i64,
    pub questions: usize,
    /// PSI of the query clusters' shares.
    pub query_psi: f64,
    /// PSI of the best source's scores.
    pub score_psi: f64,
    /// Mean best score.
    pub mean_score: f64,
    /// Either PSI is above [`PSI_ALERT`].
    pub drifted: bool,
}

/// Drift of one collection over a window of weeks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftReport {
    pub collection: String,
    /// Query clusters (fitted on the reference week).
    pub clusters: usize,
    /// The first week with questions, and the weeks after it.
    pub weeks: Vec<WeekDrift>,
}

/// PSI of `current` against `reference` (both counts over the same bins).
pub fn psi(reference: &[usize], current: &[usize]) -> f64 {
    let (r, c) = (
        reference.iter().sum::<usize>().max(1) as f64,
        current.iter().sum::<usize>().max(1) as f64,
    );
    reference
        .iter()
        .zip(current)
        .map(|(&a, &b)| {
            let p = (b as f64 / c).max(EMPTY_BIN);
            let q = (a as f64 / r).max(EMPTY_BIN);
            (p - q) * (p / q).ln()
        })
        .sum()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The nearest centroid (by cosine: the vectors are normalized).
fn nearest(v: &[f32], centroids: &[Vec<f32>]) -> usize {
    centroids
        .iter()
        .enumerate()
        .map(|(i, c)| (i, dot(v, c)))
        .fold(
            (0, f32::NEG_INFINITY),
            |best, x| if x.1 > best.1 { x } else { best },
        )
        .0
}

/// Spherical k-means with k-means++ seeding (fixed seed), 20 rounds.
pub fn kmeans(vectors: &[Vec<f32>], k: usize, seed: u64) -> Vec<Vec<f32>> {
    if vectors.is_empty() || k == 0 {
        return Vec::new();
    }
    let mut rng = SplitMix::new(seed);
    let mut centroids = vec![vectors[rng.below(vectors.len())].clone()];
    while centroids.len() < k.min(vectors.len()) {
        // The next seed far from those chosen: the one least similar to its nearest.
        let far = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (i, dot(v, &centroids[nearest(v, &centroids)])))
            .fold(
                (0, f32::INFINITY),
                |worst, x| if x.1 < worst.1 { x } else { worst },
            )
            .0;
        centroids.push(vectors[far].clone());
    }
    let dim = vectors[0].len();
    for _ in 0..20 {
        let mut sums = vec![vec![0.0f32; dim]; centroids.len()];
        for v in vectors {
            let c = nearest(v, &centroids);
            for (s, x) in sums[c].iter_mut().zip(v) {
                *s += x;
            }
        }
        for (c, s) in centroids.iter_mut().zip(sums) {
            let norm = s.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                *c = s.into_iter().map(|x| x / norm).collect();
            }
        }
    }
    centroids
}

fn score_bin(s: f32) -> usize {
    ((s.clamp(0.0, 1.0) * SCORE_BINS as f32) as usize).min(SCORE_BINS - 1)
}

impl Engine {
    /// Drift of `collection` over the `weeks` weeks before `now` (Unix ms).
    pub fn drift(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        weeks: usize,
        now: i64,
    ) -> Result<DriftReport> {
        if !(2..=104).contains(&weeks) {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!("between 2 and 104 weeks, got {weeks}"),
            ));
        }
        self.store.get_collection(tenant, collection)?;
        let since = now - weeks as i64 * WEEK_MS;
        let answers: Vec<_> = self
            .store
            .answers_since(tenant, since, MAX_QUESTIONS)?
            .into_iter()
            .filter(|a| a.collection.as_ref() == Some(collection))
            .collect();
        // (week, question, best score)
        let mut rows: Vec<(i64, String, Option<f32>)> = Vec::with_capacity(answers.len());
        for a in &answers {
            let best = a.record["sources"].as_array().and_then(|s| {
                s.iter()
                    .filter_map(|x| x["similarity"].as_f64().or(x["score"].as_f64()))
                    .map(|x| x as f32)
                    .reduce(f32::max)
            });
            rows.push((a.created_at.div_euclid(WEEK_MS), a.question.clone(), best));
        }
        let mut by_week: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, r) in rows.iter().enumerate() {
            by_week.entry(r.0).or_default().push(i);
        }
        let Some((&first, reference)) = by_week.iter().next() else {
            return Ok(DriftReport {
                collection: collection.as_str().to_owned(),
                clusters: 0,
                weeks: Vec::new(),
            });
        };
        let questions: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        let embedder = self.embedder()?;
        let mut vectors = Vec::with_capacity(questions.len());
        for batch in questions.chunks(64) {
            vectors.extend(embedder.embed(batch)?.vectors);
        }
        let k = (reference.len() / 10).clamp(2, 8);
        let reference_vectors: Vec<Vec<f32>> =
            reference.iter().map(|&i| vectors[i].clone()).collect();
        let centroids = kmeans(&reference_vectors, k, 42);
        let counts = |idx: &[usize]| {
            let mut clusters = vec![0usize; centroids.len()];
            let mut scores = vec![0usize; SCORE_BINS];
            let (mut sum, mut n) = (0.0, 0usize);
            for &i in idx {
                clusters[nearest(&vectors[i], &centroids)] += 1;
                if let Some(s) = rows[i].2 {
                    scores[score_bin(s)] += 1;
                    sum += f64::from(s);
                    n += 1;
                }
            }
            (clusters, scores, if n == 0 { 0.0 } else { sum / n as f64 })
        };
        let (ref_clusters, ref_scores, _) = counts(reference);
        let mut out = Vec::new();
        for (&week, idx) in &by_week {
            let (clusters, scores, mean_score) = counts(idx);
            let query_psi = psi(&ref_clusters, &clusters);
            let score_psi = psi(&ref_scores, &scores);
            let drifted = week != first && (query_psi > PSI_ALERT || score_psi > PSI_ALERT);
            if drifted {
                tracing::warn!(
                    tenant = %tenant, collection = %collection, week_start = week * WEEK_MS,
                    query_psi, score_psi,
                    "query or retrieval drift: PSI above {PSI_ALERT} against the first week"
                );
            }
            out.push(WeekDrift {
                week_start: week * WEEK_MS,
                questions: idx.len(),
                query_psi,
                score_psi,
                mean_score,
                drifted,
            });
        }
        Ok(DriftReport {
            collection: collection.as_str().to_owned(),
            clusters: centroids.len(),
            weeks: out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_is_zero_for_the_same_shares_and_grows_with_a_shift() {
        assert!(psi(&[10, 20, 30], &[20, 40, 60]).abs() < 1e-9);
        let small = psi(&[50, 50], &[55, 45]);
        let large = psi(&[50, 50], &[90, 10]);
        assert!(small < PSI_ALERT && large > PSI_ALERT, "{small} {large}");
        // An empty bin on one side stays finite.
        assert!(psi(&[10, 0], &[5, 5]).is_finite());
    }

    #[test]
    fn kmeans_separates_two_directions() {
        let n = |v: [f32; 2]| {
            let l = (v[0] * v[0] + v[1] * v[1]).sqrt();
            vec![v[0] / l, v[1] / l]
        };
        let vs = vec![n([1.0, 0.1]), n([1.0, 0.0]), n([0.1, 1.0]), n([0.0, 1.0])];
        let c = kmeans(&vs, 2, 7);
        assert_eq!(c.len(), 2);
        assert_eq!(nearest(&vs[0], &c), nearest(&vs[1], &c));
        assert_ne!(nearest(&vs[0], &c), nearest(&vs[2], &c));
        assert_eq!(score_bin(0.95), 9);
        assert_eq!(score_bin(-1.0), 0);
    }
}
