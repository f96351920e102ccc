//! `cairn bench pgvector`: the shared search space on PostgreSQL at scale. N clustered
//! synthetic vectors (as `cairn bench ann` makes them) go into a scratch tenant's
//! collection through the same store calls a sync makes; then queries measure p50/p95
//! latency and recall@10 against exact search, without a filter and under an ACL that
//! admits 1% of the chunks. The scratch tenant is removed afterwards.

use super::bench_index::{clustered, exact_top_of, percentile};
use cairn_store::{
    CollectionRepo, DocumentRepo, LifecycleRepo, PostgresStore, SharedChunk, SharedDoc,
    SharedFilter, SharedIndexRepo, SharedSpace, TenantRepo, VectorPlan,
};
use cairn_types::{ChunkingSpec, CollectionId, TenantId};
use std::time::Instant;

/// Chunks per synthetic document (documents carry the ACL; rows cascade with them).
const PER_DOC: usize = 100;
/// Documents per apply (one transaction each).
const DOCS_PER_APPLY: usize = 10;

/// What the benchmark runs.
pub struct PgvectorBench {
    pub url: String,
    pub n: usize,
    pub dim: usize,
    pub queries: usize,
    pub k: usize,
    pub ef: usize,
    pub m: usize,
    pub ef_construction: usize,
    pub noise: f32,
}

pub fn pgvector(b: &PgvectorBench) -> anyhow::Result<serde_json::Value> {
    let store = PostgresStore::open(&b.url)?;
    let tenant = TenantId::new(format!("bench-pgvector-{}", std::process::id()));
    let coll = CollectionId::new("vectors");
    store.ensure_tenant(&tenant, "pgvector benchmark", 0)?;
    store.create_collection(&tenant, &coll, "", &ChunkingSpec::default(), 0)?;
    let result = run(&store, &tenant, &coll, b);
    let purged = store.purge_tenant(&tenant);
    let out = result?;
    purged?;
    Ok(out)
}

fn run(
    store: &PostgresStore,
    tenant: &TenantId,
    coll: &CollectionId,
    b: &PgvectorBench,
) -> anyhow::Result<serde_json::Value> {
    let space = SharedSpace {
        tenant,
        collection: coll,
        created_at: 0,
        generation: 0,
        vectors: Some(("synthetic", b.dim)),
        lexemes: false,
        hnsw: (b.m, b.ef_construction),
    };
    store.shared_position(&space)?;
    let data = clustered(b.n, b.dim, (b.n / 100).max(1), b.noise, 7);
    let qs = clustered(b.queries, b.dim, (b.n / 100).max(1), b.noise, 99);
    let docs = b.n.div_ceil(PER_DOC);
    // Every hundredth document (1% of the chunks) is readable by `u:few`.
    let admitted = |doc: usize| doc.is_multiple_of(100);
    let start = Instant::now();
    let mut last_report = Instant::now();
    for first in (0..docs).step_by(DOCS_PER_APPLY) {
        let mut batch = Vec::new();
        for d in first..(first + DOCS_PER_APPLY).min(docs) {
            let id = store
                .commit_document(
                    tenant,
                    cairn_store::testing::synthetic_document(tenant, coll, d),
                    0,
                )?
                .id;
            let chunks = (d * PER_DOC..((d + 1) * PER_DOC).min(b.n))
                .map(|i| SharedChunk {
                    key: i as u64,
                    vector: Some(data[i].clone()),
                    terms: vec![],
                })
                .collect();
            batch.push(SharedDoc {
                document: id.as_str().to_owned(),
                principals: vec![if admitted(d) { "u:few" } else { "u:many" }.into()],
                sources: vec![format!("synthetic/{d}")],
                kind: "text".into(),
                chunks,
                ..SharedDoc::default()
            });
        }
        store.shared_apply(&space, &[], &batch, -1)?;
        if last_report.elapsed().as_secs() >= 30 {
            tracing::info!(
                inserted = (first + DOCS_PER_APPLY) * PER_DOC,
                of = b.n,
                seconds = start.elapsed().as_secs(),
                "pgvector benchmark: inserting"
            );
            last_report = Instant::now();
        }
    }
    let insert_s = start.elapsed().as_secs_f64();
    let few = SharedFilter {
        principals: Some(vec!["*".into(), "u:few".into()]),
        ..SharedFilter::default()
    };
    let mut runs = Vec::new();
    for (label, filter) in [("open", SharedFilter::default()), ("acl_1pct", few)] {
        let keep = |i: usize| label == "open" || admitted(i / PER_DOC);
        let (mut latencies, mut hits, mut exact) = (Vec::new(), 0usize, 0usize);
        for q in &qs {
            let truth = exact_top_of(&data, q, b.k, keep);
            let t = Instant::now();
            let found = store.shared_vector_search(&space, q, &filter, b.k, b.ef)?;
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
            exact += usize::from(found.plan == VectorPlan::Exact);
            hits += found
                .hits
                .iter()
                .filter(|(key, _)| truth.contains(key))
                .count();
        }
        latencies.sort_by(f64::total_cmp);
        runs.push(serde_json::json!({
            "filter": label,
            "recall_at_10": hits as f64 / (b.queries * b.k) as f64,
            "p50_ms": percentile(&latencies, 0.5),
            "p95_ms": percentile(&latencies, 0.95),
            "exact_fallbacks": exact,
        }));
    }
    Ok(serde_json::json!({
        "bench": "pgvector", "n": b.n, "dim": b.dim, "noise": b.noise, "queries": b.queries,
        "k": b.k, "ef_search": b.ef, "m": b.m, "ef_construction": b.ef_construction,
        "insert_s": insert_s, "inserts_per_s": b.n as f64 / insert_s, "runs": runs,
    }))
}
