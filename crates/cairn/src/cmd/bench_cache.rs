//! `cairn bench semantic-cache`: how often the semantic answer cache serves a paraphrase
//! (it should) and a near-miss (it must not), on question pairs such as
//! `eval/cache/pairs-*.jsonl`, and what a hit costs (query embedding plus lookup).
//!
//! Every pair's first question is stored in one cache scope, as a cache filled by
//! earlier askers would be; every second question is then looked up against all of
//! them. A paraphrase is a right hit only when it is served its own first question's
//! answer; any other served answer is a wrong hit. Rates are reported per file and per
//! near-miss kind, with a Wilson 95% interval for the wrong-hit rate.

use cairn_engine::answer::same_question::Terms;
use cairn_engine::answer::semantic::SemanticCache;
use cairn_models::Embedder;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Pair {
    file: String,
    paraphrase: bool,
    miss: String,
    a: String,
    b: String,
}

fn read_pairs(files: &[PathBuf]) -> anyhow::Result<Vec<Pair>> {
    let mut out = Vec::new();
    for path in files {
        let file = path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: Value = serde_json::from_str(line)
                .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), i + 1))?;
            let field = |k: &str| {
                v[k].as_str().map(str::to_owned).ok_or_else(|| {
                    anyhow::anyhow!("{}:{}: `{k}` is missing", path.display(), i + 1)
                })
            };
            let kind = field("kind")?;
            out.push(Pair {
                file: file.clone(),
                paraphrase: kind == "paraphrase",
                miss: v["miss"].as_str().unwrap_or(&kind).to_owned(),
                a: field("a")?,
                b: field("b")?,
            });
        }
    }
    anyhow::ensure!(!out.is_empty(), "no pairs in {files:?}");
    Ok(out)
}

/// Wilson score interval (95%) of `k` out of `n`.
fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (k as f64, n as f64, 1.96_f64);
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// What the cache served for one pair's second question: the index of the pair whose
/// first question it matched, and the cosine, or `None`.
type Served = Option<(usize, f32)>;

#[derive(Default)]
struct Tally {
    paraphrases: usize,
    right_hits: usize,
    wrong_paraphrase_hits: usize,
    near_misses: usize,
    wrong_hits: usize,
    by_miss: BTreeMap<String, (usize, usize)>,
}

impl Tally {
    fn add(&mut self, i: usize, pair: &Pair, served: Served, threshold: f32) {
        let hit = served.filter(|(_, s)| *s >= threshold).map(|(j, _)| j);
        if pair.paraphrase {
            self.paraphrases += 1;
            match hit {
                Some(j) if j == i => self.right_hits += 1,
                Some(_) => self.wrong_paraphrase_hits += 1,
                None => {}
            }
        } else {
            self.near_misses += 1;
            let e = self.by_miss.entry(pair.miss.clone()).or_default();
            e.0 += 1;
            if hit.is_some() {
                self.wrong_hits += 1;
                e.1 += 1;
            }
        }
    }

    fn report(&self) -> Value {
        let rate = |k: usize, n: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
        let (_, upper) = wilson(self.wrong_hits, self.near_misses);
        let wrong_all = self.wrong_hits + self.wrong_paraphrase_hits;
        let lookups = self.near_misses + self.paraphrases;
        let (_, upper_all) = wilson(wrong_all, lookups);
        json!({
            "paraphrases": self.paraphrases,
            "paraphrase_hit_rate": rate(self.right_hits, self.paraphrases),
            "paraphrases_served_another_answer": self.wrong_paraphrase_hits,
            "near_misses": self.near_misses,
            "near_miss_wrong_hits": self.wrong_hits,
            "near_miss_wrong_hit_rate": rate(self.wrong_hits, self.near_misses),
            "near_miss_wrong_hit_upper95": upper,
            "wrong_hit_rate_all_lookups": rate(wrong_all, lookups),
            "wrong_hit_upper95_all_lookups": upper_all,
            "wrong_hits_by_miss": self.by_miss.iter().map(|(k, (n, w))| {
                (k.clone(), json!({"pairs": n, "wrong_hits": w}))
            }).collect::<serde_json::Map<_, _>>(),
        })
    }
}

pub fn semantic_cache(
    ctx: &super::Context,
    files: &[PathBuf],
    threshold: Option<f32>,
    sweep: bool,
    show: bool,
) -> anyhow::Result<Value> {
    let config = &ctx.loaded.config;
    let threshold = threshold.unwrap_or(config.cache.semantic_threshold);
    let pairs = read_pairs(files)?;
    let embedder = cairn_models::BertEmbedder::load(
        &config.embedder_dir(),
        &cairn_models::EmbedderOptions::default(),
    )
    .map_err(|e| super::fail(e.code(), e))?;
    let embed = |text: &str| -> anyhow::Result<Arc<Vec<f32>>> {
        let out = embedder
            .embed(&[text])
            .map_err(|e| super::fail(e.code(), e))?;
        out.vectors
            .into_iter()
            .next()
            .map(Arc::new)
            .ok_or_else(|| anyhow::anyhow!("the embedder returned nothing"))
    };
    // Every candidate above 0 is returned, so one pass serves every threshold.
    let cache: SemanticCache<usize> =
        SemanticCache::new(pairs.len() + 1, Duration::MAX, f32::MIN_POSITIVE);
    // What production looks up: only entries at the threshold are verified.
    let timed: SemanticCache<usize> = SemanticCache::new(pairs.len() + 1, Duration::MAX, threshold);
    let bar = crate::progress::bar(pairs.len() as u64, "storing first questions");
    // A first question shared by several pairs is stored once, under its first pair:
    // `owner[i]` is that pair, the value a hit on it returns.
    let mut first: HashMap<&str, usize> = HashMap::new();
    let mut owner = Vec::with_capacity(pairs.len());
    for (i, p) in pairs.iter().enumerate() {
        owner.push(*first.entry(p.a.as_str()).or_insert(i));
        if owner[i] == i {
            let vector = embed(&p.a)?;
            timed.put("bench".into(), &p.a, vector.clone(), i, HashSet::new(), 0);
            cache.put("bench".into(), &p.a, vector, i, HashSet::new(), 0);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    let bar = crate::progress::bar(pairs.len() as u64, "looking up second questions");
    let mut served: Vec<Served> = Vec::with_capacity(pairs.len());
    let mut hit_ms = Vec::new();
    let (mut embed_ms, mut lookup_ms) = (Vec::new(), Vec::new());
    for p in &pairs {
        let start = Instant::now();
        let vector = embed(&p.b)?;
        let embedded = start.elapsed().as_secs_f64() * 1e3;
        let hit = timed.candidates("bench", &p.b, &vector).into_iter().next();
        let elapsed = start.elapsed().as_secs_f64() * 1e3;
        embed_ms.push(embedded);
        lookup_ms.push(elapsed - embedded);
        if hit.is_some() {
            hit_ms.push(elapsed);
        }
        let best = cache
            .candidates("bench", &p.b, &vector)
            .into_iter()
            .next()
            .map(|c| (c.value, c.similarity));
        served.push(best);
        bar.inc(1);
    }
    bar.finish_and_clear();

    let tally = |t: f32, file: Option<&str>| {
        let mut tally = Tally::default();
        for (i, p) in pairs.iter().enumerate() {
            if file.is_none_or(|f| f == p.file) {
                tally.add(owner[i], p, served[i], t);
            }
        }
        tally
    };
    let files_seen: Vec<String> = {
        let mut f: Vec<String> = pairs.iter().map(|p| p.file.clone()).collect();
        f.dedup();
        f
    };
    let mut by_file = serde_json::Map::new();
    for f in &files_seen {
        by_file.insert(f.clone(), tally(threshold, Some(f)).report());
    }
    hit_ms.sort_by(f64::total_cmp);
    embed_ms.sort_by(f64::total_cmp);
    lookup_ms.sort_by(f64::total_cmp);
    let mut out = json!({
        "bench": "semantic-cache",
        "model": embedder.model_id(),
        "threshold": threshold,
        "entries": cache.len(),
        "all": tally(threshold, None).report(),
        "files": by_file,
        "hit_latency_ms": {
            "what": "embedding the question plus the lookup over every stored entry",
            "hits": hit_ms.len(),
            "p50": percentile(&hit_ms, 0.5),
            "p99": percentile(&hit_ms, 0.99),
            "max": hit_ms.last().copied().unwrap_or(0.0),
        },
        "every_lookup_ms": {
            "embedding_p50": percentile(&embed_ms, 0.5),
            "embedding_p99": percentile(&embed_ms, 0.99),
            "lookup_p50": percentile(&lookup_ms, 0.5),
            "lookup_p99": percentile(&lookup_ms, 0.99),
        },
    });
    if sweep {
        let rows: Vec<Value> = (70..=99)
            .map(|t| {
                let t = t as f32 / 100.0;
                let mut row = serde_json::Map::new();
                row.insert("threshold".into(), json!(t));
                for f in &files_seen {
                    let r = tally(t, Some(f)).report();
                    row.insert(
                        f.clone(),
                        json!([r["paraphrase_hit_rate"], r["near_miss_wrong_hit_rate"]]),
                    );
                }
                Value::Object(row)
            })
            .collect();
        out["sweep"] =
            json!({"columns": "[paraphrase hit rate, near-miss wrong-hit rate]", "rows": rows});
    }
    if show {
        let cases: Vec<Value> = pairs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let hit = served[i].filter(|(_, s)| *s >= threshold);
                let wrong = match hit {
                    Some((j, _)) => !p.paraphrase || j != owner[i],
                    None => false,
                };
                let missed = p.paraphrase && hit.is_none();
                (wrong || missed).then(|| {
                    json!({
                        "outcome": if wrong { "wrong_hit" } else { "missed" },
                        "miss": p.miss, "b": p.b,
                        "served": hit.map(|(j, s)| json!({"a": pairs[j].a, "cosine": s})),
                        "best_cosine": served[i].map(|(_, s)| s),
                        "differs_from_a": Terms::of(&p.a).mismatch(&Terms::of(&p.b)).map(|m| format!("{m:?}")),
                    })
                })
            })
            .collect();
        out["cases"] = json!(cases);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_bounds() {
        let (lo, hi) = wilson(0, 500);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.0076).abs() < 0.0005, "{hi}");
        let (lo, hi) = wilson(10, 100);
        assert!(lo < 0.1 && hi > 0.1);
    }
}
