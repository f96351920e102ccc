//! `cairn bench ann|bm25|scale`: the index benchmarks, one JSON line each (`pgvector`,
//! the same on PostgreSQL, is in `bench_pgvector`).
//!
//! - `ann`: HNSW recall@10 and queries/s against exact search on synthetic clustered
//!   vectors (default 100k × 384), queries spread over all cores.
//! - `bm25`: lexical queries/s on a collection's chunks (the full query path: four fields,
//!   boosts), optionally dumping the chunks as JSONL for the `bm25s` reference.
//! - `scale`: a whole index space (tantivy + HNSW + catalog) over N synthetic chunks:
//!   build time, peak RSS, hybrid-style query p50/p95.

use super::Context;
use cairn_index::dense::{DenseIndex, DenseParams};
use cairn_index::{ChunkInput, DocAttrs, DocInput, IndexSpace, SearchFilter};
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// A small deterministic generator (SplitMix64) for synthetic data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }
    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
}

/// Clustered unit vectors: `clusters` random centres, each point a centre plus noise, so
/// neighbourhoods have structure as real embeddings do (uniform random vectors in 384-d
/// have almost none and are a worst case no embedder produces).
pub(crate) fn clustered(
    n: usize,
    dim: usize,
    clusters: usize,
    noise: f32,
    seed: u64,
) -> Vec<Vec<f32>> {
    let mut rng = Rng(seed);
    let mut centres_rng = Rng(0xC0FFEE);
    let centres: Vec<Vec<f32>> = (0..clusters.max(1))
        .map(|_| {
            let mut c: Vec<f32> = (0..dim).map(|_| centres_rng.normal()).collect();
            normalize(&mut c);
            c
        })
        .collect();
    (0..n)
        .map(|_| {
            let c = &centres[(rng.next_u64() % centres.len() as u64) as usize];
            let mut v: Vec<f32> = c
                .iter()
                .map(|x| x + noise * rng.normal() / (dim as f32).sqrt())
                .collect();
            normalize(&mut v);
            v
        })
        .collect()
}

fn exact_top(data: &[Vec<f32>], q: &[f32], k: usize) -> Vec<u64> {
    exact_top_of(data, q, k, |_| true)
}

/// Exact top-`k` keys (indexes into `data`) by inner product among the rows `keep` admits.
pub(crate) fn exact_top_of(
    data: &[Vec<f32>],
    q: &[f32],
    k: usize,
    keep: impl Fn(usize) -> bool,
) -> Vec<u64> {
    let mut scored: Vec<(u64, f32)> = data
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(i, v)| (i as u64, v.iter().zip(q).map(|(a, b)| a * b).sum()))
        .collect();
    if scored.is_empty() {
        return Vec::new();
    }
    let nth = k.min(scored.len() - 1);
    scored.select_nth_unstable_by(nth, |a, b| b.1.total_cmp(&a.1));
    scored.truncate(k);
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored.into_iter().map(|x| x.0).collect()
}

/// Runs `f` over `items` on `threads` threads; returns the results in order and the wall time.
fn parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> (Vec<R>, f64) {
    let start = Instant::now();
    let per = items.len().div_ceil(threads.max(1)).max(1);
    let out: Vec<R> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|part| s.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    (out, start.elapsed().as_secs_f64())
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

#[allow(clippy::too_many_arguments)]
pub fn ann(
    n: usize,
    dim: usize,
    queries: usize,
    k: usize,
    efs: &[usize],
    m: usize,
    ef_construction: usize,
    noise: f32,
    out: Option<PathBuf>,
) -> anyhow::Result<serde_json::Value> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let data = clustered(n, dim, (n / 100).max(1), noise, 7);
    let qs = clustered(queries, dim, (n / 100).max(1), noise, 99);
    if let Some(dir) = out {
        std::fs::create_dir_all(&dir)?;
        let dump = |name: &str, rows: &[Vec<f32>]| -> anyhow::Result<()> {
            let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join(name))?);
            for r in rows {
                for x in r {
                    f.write_all(&x.to_le_bytes())?;
                }
            }
            Ok(())
        };
        dump("vectors.f32", &data)?;
        dump("queries.f32", &qs)?;
    }
    let params = DenseParams {
        connectivity: m,
        expansion_add: ef_construction,
        expansion_search: efs.first().copied().unwrap_or(64),
    };
    let index = DenseIndex::new(dim, params).map_err(anyhow::Error::msg)?;
    index.reserve(n).map_err(anyhow::Error::msg)?;
    let start = Instant::now();
    let keyed: Vec<(u64, &Vec<f32>)> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u64, v))
        .collect();
    let (adds, _) = parallel(&keyed, threads, |(key, v)| {
        index.upsert(*key, v).map_err(|e| e.to_string())
    });
    adds.into_iter()
        .collect::<Result<Vec<()>, String>>()
        .map_err(anyhow::Error::msg)?;
    let build_s = start.elapsed().as_secs_f64();
    let (truth, exact_s) = parallel(&qs, threads, |q| exact_top(&data, q, k));
    let mut runs = Vec::new();
    for &ef in efs {
        index.set_expansion_search(ef);
        let (found, secs) = parallel(&qs, threads, |q| {
            index
                .search(q, k, None)
                .map(|h| h.into_iter().map(|x| x.0).collect::<Vec<u64>>())
                .unwrap_or_default()
        });
        let hits: usize = found
            .iter()
            .zip(&truth)
            .map(|(f, t)| f.iter().filter(|x| t.contains(x)).count())
            .sum();
        runs.push(serde_json::json!({
            "ef": ef,
            "recall_at_10": hits as f64 / (queries * k) as f64,
            "qps": queries as f64 / secs,
        }));
    }
    Ok(serde_json::json!({
        "bench": "ann", "n": n, "dim": dim, "noise": noise, "queries": queries, "k": k, "m": m,
        "ef_construction": ef_construction, "threads": threads, "build_s": build_s,
        "exact_qps": queries as f64 / exact_s, "memory_mb": index.memory_usage() as f64 / 1e6,
        "runs": runs,
    }))
}

/// Lexical queries per second on a collection (single thread, one query at a time).
pub fn bm25(
    ctx: &Context,
    collection: &str,
    queries: PathBuf,
    repeat: usize,
    k: usize,
    dump: Option<PathBuf>,
) -> anyhow::Result<serde_json::Value> {
    use cairn_engine::search::{SearchMode, SearchRequest};
    let engine = ctx.engine()?;
    let coll = cairn_types::CollectionId::new(collection);
    engine.sync_index(&ctx.tenant, &coll).map_err(super::eng)?;
    if let Some(path) = dump {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut n = 0;
        let mut offset = 0;
        loop {
            let docs = engine
                .store()
                .list_documents(&ctx.tenant, Some(&coll), 500, offset)
                .map_err(super::st)?;
            if docs.is_empty() {
                break;
            }
            offset += docs.len();
            for d in docs {
                for c in engine
                    .store()
                    .list_chunks(&ctx.tenant, &d.id)
                    .map_err(super::st)?
                {
                    if c.role == cairn_types::ChunkRole::Parent
                        || d.status != cairn_types::DocStatus::Indexed
                    {
                        continue;
                    }
                    let text = format!("{} {} {}", d.title, c.heading_path.join(" "), c.text);
                    writeln!(
                        f,
                        "{}",
                        serde_json::json!({"id": c.id.as_str(), "text": text})
                    )?;
                    n += 1;
                }
            }
        }
        eprintln!("# wrote {n} chunks to {}", path.display());
    }
    let text = std::fs::read_to_string(&queries)?;
    let qs: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    // Warm up (index open, caches), then time the lexical path alone.
    let mut lat = Vec::new();
    let start = Instant::now();
    for round in 0..=repeat {
        for q in &qs {
            let mut req = SearchRequest::new(coll.clone(), *q);
            req.mode = Some(SearchMode::Lexical);
            req.top_k = Some(k);
            req.candidates = Some(k);
            let r = engine.search(&ctx.tenant, &req).map_err(super::eng)?;
            if round > 0 {
                lat.push(r.timings.lexical_ms);
            }
        }
    }
    let _ = start;
    let total_ms: f64 = lat.iter().sum();
    lat.sort_by(f64::total_cmp);
    // Like for like with single-field engines: body field only, no boosts or filters.
    let mut body = Vec::new();
    for round in 0..=repeat {
        for q in &qs {
            let t = Instant::now();
            engine
                .bench_body_bm25(&ctx.tenant, &coll, q, k)
                .map_err(super::eng)?;
            if round > 0 {
                body.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let body_ms: f64 = body.iter().sum();
    body.sort_by(f64::total_cmp);
    Ok(serde_json::json!({
        "bench": "bm25", "engine": "cairn (tantivy)", "collection": collection, "queries": qs.len(), "repeat": repeat,
        "qps": lat.len() as f64 * 1e3 / total_ms.max(1e-9),
        "p50_ms": percentile(&lat, 0.5), "p95_ms": percentile(&lat, 0.95),
        "body_only_qps": body.len() as f64 * 1e3 / body_ms.max(1e-9),
        "body_only_p50_ms": percentile(&body, 0.5), "body_only_p95_ms": percentile(&body, 0.95),
    }))
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A whole space over `n` synthetic chunks.
pub fn scale(
    n: usize,
    dim: usize,
    queries: usize,
    dir: Option<PathBuf>,
) -> anyhow::Result<serde_json::Value> {
    let tmp = tempfile_dir(dir)?;
    let space = IndexSpace::open(
        &tmp,
        "bench",
        "scale",
        "synthetic",
        dim,
        DenseParams::default(),
        cairn_index::Incarnation::default(),
    )
    .map_err(anyhow::Error::msg)?;
    let vocab: Vec<String> = (0..50_000).map(|i| format!("w{i}")).collect();
    let mut rng = Rng(42);
    let per_doc = 10;
    let start = Instant::now();
    let mut made = 0;
    let mut doc_no = 0;
    let mut last_report = Instant::now();
    while made < n {
        let mut batch = Vec::new();
        for _ in 0..500 {
            if made >= n {
                break;
            }
            let count = per_doc.min(n - made);
            let vecs = clustered(count, dim, 1, 4.0, rng.next_u64());
            let chunks = vecs
                .into_iter()
                .enumerate()
                .map(|(o, v)| {
                    // Zipf-like word choice: squaring the uniform draw favours low ranks.
                    let text: Vec<&str> = (0..60)
                        .map(|_| {
                            let u = rng.unit();
                            vocab[((u * u) * vocab.len() as f32) as usize % vocab.len()].as_str()
                        })
                        .collect();
                    ChunkInput {
                        ordinal: o as u32,
                        heading: String::new(),
                        text: text.join(" "),
                        vector: Some(v),
                    }
                })
                .collect();
            batch.push(DocInput {
                attrs: DocAttrs {
                    document: format!("d{doc_no}"),
                    source: format!("doc{doc_no}.txt"),
                    kind: "text".into(),
                    ..DocAttrs::default()
                },
                title: format!("document {doc_no}"),
                chunks,
            });
            doc_no += 1;
            made += count;
        }
        space.apply(&[], &batch, -1).map_err(anyhow::Error::msg)?;
        if last_report.elapsed().as_secs() >= 10 {
            eprintln!(
                "# {made}/{n} chunks indexed ({:.0} s)",
                start.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    space.advance(1).map_err(anyhow::Error::msg)?;
    space.persist().map_err(anyhow::Error::msg)?;
    let build_s = start.elapsed().as_secs_f64();
    let qs = clustered(queries, dim, 1, 4.0, 5);
    let filter = SearchFilter::default();
    let mut lex = Vec::new();
    let mut dense = Vec::new();
    for q in &qs {
        let words: Vec<&str> = (0..4)
            .map(|_| vocab[(rng.next_u64() % 2_000) as usize].as_str())
            .collect();
        let t = Instant::now();
        space
            .search_lexical(&words.join(" "), &filter, 50)
            .map_err(anyhow::Error::msg)?;
        lex.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        space
            .search_dense(q, &filter, 50, None)
            .map_err(anyhow::Error::msg)?;
        dense.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let both: Vec<f64> = {
        let mut v: Vec<f64> = lex.iter().zip(&dense).map(|(a, b)| a + b).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    lex.sort_by(f64::total_cmp);
    dense.sort_by(f64::total_cmp);
    let status = space.status().map_err(anyhow::Error::msg)?;
    Ok(serde_json::json!({
        "bench": "scale", "chunks": n, "dim": dim, "build_s": build_s, "peak_rss_mb": rss_mb(),
        "dense_mb": status.dense_bytes as f64 / 1e6,
        "lexical_p50_ms": percentile(&lex, 0.5), "lexical_p95_ms": percentile(&lex, 0.95),
        "dense_p50_ms": percentile(&dense, 0.5), "dense_p95_ms": percentile(&dense, 0.95),
        "both_p50_ms": percentile(&both, 0.5), "both_p95_ms": percentile(&both, 0.95),
        "dir": tmp,
    }))
}

fn tempfile_dir(dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let d = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("cairn-scale-{}", std::process::id()))
    });
    if d.exists() {
        std::fs::remove_dir_all(&d)?;
    }
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
