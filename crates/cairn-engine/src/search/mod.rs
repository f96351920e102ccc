//! Hybrid search: optional query transforms → BM25 and HNSW candidates (filters inside
//! both) → fusion → hydration from the store → optional reranking → context helpers.

mod context;
mod federated;
mod query_cache;
mod rerank;
pub use federated::MAX_COLLECTIONS;
pub use rerank::{LLM, MAXSIM};
pub mod specific;
mod transform;
mod types;

pub(crate) use query_cache::QueryCache;

pub use crate::index::parse_date;
pub use types::{
    ContextOptions, Fusion, HitScores, Order, RankScore, RerankKind, SearchHit, SearchMode,
    SearchRequest, SearchResponse, Timings, Transform, TransformTrace,
};

use crate::{Engine, Error, Result};
use cairn_index::{Access, Fused, SearchFilter, rrf_weighted, weighted};
use cairn_types::{ChunkId, DocumentId, ErrorCode, Principal, TenantId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tracing::field::Empty;

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// The options of a request resolved against the configuration.
pub(crate) struct Resolved {
    pub mode: SearchMode,
    pub fusion: Fusion,
    pub top_k: usize,
    pub candidates: usize,
    pub rerank: RerankKind,
}

/// The queries to run: (text for BM25, text for the embedder).
struct Probe {
    lexical: String,
    dense: String,
}

impl Engine {
    fn resolve(&self, req: &SearchRequest) -> Result<Resolved> {
        let r = &self.config.retrieval;
        let bad = |m: String| Error::new(ErrorCode::InvalidInput, m);
        let mode = match req.mode {
            Some(m) => m,
            None => SearchMode::parse(&r.mode)
                .ok_or_else(|| bad(format!("retrieval.mode `{}`", r.mode)))?,
        };
        let fusion = req.fusion.unwrap_or(if r.fusion == "weighted" {
            Fusion::Weighted { alpha: r.alpha }
        } else {
            Fusion::Rrf { k: r.rrf_k }
        });
        match fusion {
            Fusion::Rrf { k } if k.is_nan() || k <= 0.0 => {
                return Err(bad(format!("rrf k must be positive, got {k}")));
            }
            Fusion::Weighted { alpha } if !(0.0..=1.0).contains(&alpha) => {
                return Err(bad(format!("alpha must be between 0 and 1, got {alpha}")));
            }
            _ => {}
        }
        let top_k = req.top_k.unwrap_or(r.top_k);
        let candidates = req.candidates.unwrap_or(r.candidates).max(top_k);
        if top_k == 0 || candidates > 1_000 {
            return Err(bad(format!(
                "need 1 <= top_k <= candidates <= 1000 (top_k {top_k}, candidates {candidates})"
            )));
        }
        let rerank = match req.rerank {
            Some(k) => k,
            None => RerankKind::parse(&r.rerank)
                .ok_or_else(|| bad(format!("retrieval.rerank `{}`", r.rerank)))?,
        };
        if req.query.trim().is_empty() {
            return Err(bad("the query is empty".into()));
        }
        if req.query.len() > 8_192 {
            return Err(bad(format!(
                "the query is {} bytes; the limit is 8192",
                req.query.len()
            )));
        }
        Ok(Resolved {
            mode,
            fusion,
            top_k,
            candidates,
            rerank,
        })
    }

    /// Runs one search in `tenant`, as a `retrieval` span (OpenInference `RETRIEVER`)
    /// with a child span per stage.
    pub fn search(&self, tenant: &TenantId, req: &SearchRequest) -> Result<SearchResponse> {
        let span = tracing::info_span!(
            "retrieval",
            openinference.span.kind = cairn_telemetry::names::kind::RETRIEVER,
            cairn.collection = req.collection.as_str(),
            cairn.search.mode = Empty,
            cairn.search.rerank = Empty,
            cairn.hits = Empty,
            otel.status_code = Empty,
            otel.status_message = Empty,
        );
        let _entered = span.enter();
        let found = self.search_stages(tenant, req);
        match &found {
            Ok(r) => {
                span.record("cairn.search.mode", tracing::field::debug(r.mode));
                span.record("cairn.search.rerank", tracing::field::debug(r.rerank));
                span.record("cairn.hits", r.hits.len() as u64);
                if cairn_telemetry::is_traced(&span) {
                    use cairn_telemetry::AttrValue::{Float, Str};
                    let mut docs = Vec::with_capacity(r.hits.len() * 2);
                    for (i, h) in r.hits.iter().enumerate() {
                        let key = |f: &str| format!("retrieval.documents.{i}.document.{f}");
                        docs.push((key("id"), Str(h.chunk_id.clone())));
                        docs.push((key("score"), Float(f64::from(h.score))));
                    }
                    cairn_telemetry::record_attrs(&span, docs);
                }
            }
            Err(e) => {
                span.record("otel.status_code", "ERROR");
                span.record("otel.status_message", e.message.as_str());
            }
        }
        found
    }

    fn search_stages(&self, tenant: &TenantId, req: &SearchRequest) -> Result<SearchResponse> {
        let start = Instant::now();
        let scoped;
        let req = match &req.principal {
            Some(p) => {
                scoped = SearchRequest {
                    filter: SearchFilter {
                        access: access_of(p),
                        ..req.filter.clone()
                    },
                    ..req.clone()
                };
                &scoped
            }
            None => req,
        };
        let opts = self.resolve(req)?;
        let collections = federated::collections_of(req)?;
        let mut timings = Timings::default();
        let t = Instant::now();
        let spaces = tracing::info_span!("retrieval.index_sync").in_scope(|| {
            collections
                .iter()
                .map(|c| {
                    let (space, _) = self.synced_space(tenant, c)?;
                    space.index.check(tenant.as_str(), c.as_str())?;
                    Ok::<_, Error>((c, space))
                })
                .collect::<Result<Vec<_>>>()
        })?;
        timings.sync_ms = ms(t);

        let t = Instant::now();
        let (probes, traces) = if req.transforms.is_empty() {
            self.transform_query(tenant, &req.query, &req.transforms)?
        } else {
            tracing::info_span!(
                "retrieval.transforms",
                cairn.transforms = req.transforms.len()
            )
            .in_scope(|| self.transform_query(tenant, &req.query, &req.transforms))?
        };
        timings.transform_ms = ms(t);

        // Candidates of every collection go into one list per probe and retriever
        // (under global keys), so one fusion, one rerank and one context pass rank them
        // all together.
        let mut keys = federated::GlobalKeys::new(spaces.len());
        let mut lists: Vec<Vec<(u64, f32)>> = Vec::new();
        let mut weights: Vec<f32> = Vec::new();
        let (mut lex0, mut dense0) = (None, None);
        for (i, p) in probes.iter().enumerate() {
            // Dense first: each collection's best cosine tells which collection is
            // more about the query, which orders equal lexical scores across them.
            let mut dense = None;
            if opts.mode != SearchMode::Lexical {
                let t = Instant::now();
                let v = self.embed_query(tenant, &p.dense)?;
                timings.embed_ms += ms(t);
                let t = Instant::now();
                let per = stage("retrieval.dense", || {
                    let mut per = Vec::with_capacity(spaces.len());
                    for (c, space) in &spaces {
                        per.push(self.dense_search(
                            space,
                            tenant,
                            c,
                            &v,
                            &req.filter,
                            opts.candidates,
                            req.ef_search,
                        )?);
                    }
                    Ok(federated::PerCollection(per))
                })?;
                timings.dense_ms += ms(t);
                dense = Some(per.0);
            }
            let priority = federated::priority(dense.as_deref(), spaces.len());
            if opts.mode != SearchMode::Dense {
                let t = Instant::now();
                let per = stage("retrieval.lexical", || {
                    let mut per = Vec::with_capacity(spaces.len());
                    for (c, space) in &spaces {
                        per.push(self.lexical_search(
                            space,
                            tenant,
                            c,
                            &p.lexical,
                            &req.filter,
                            opts.candidates,
                        )?);
                    }
                    Ok(federated::PerCollection(per))
                })?;
                timings.lexical_ms += ms(t);
                if i == 0 {
                    lex0 = Some(lists.len());
                }
                // A query naming an identifier wants the page that defines it: BM25's
                // exact match counts more than near-miss vectors.
                weights.push(if !specific::identifiers(&p.lexical).is_empty() {
                    self.config.retrieval.identifier_weight
                } else {
                    1.0
                });
                lists.push(federated::merge_lexical(
                    &mut keys,
                    per.0,
                    &priority,
                    opts.candidates,
                ));
            }
            if let Some(per) = dense {
                if i == 0 {
                    dense0 = Some(lists.len());
                }
                weights.push(self.config.retrieval.dense_weight);
                lists.push(federated::merge_dense(&mut keys, per, opts.candidates));
            }
        }

        let t = Instant::now();
        let fused = stage("retrieval.fusion", || {
            Ok(fuse(&lists, &weights, opts.fusion, opts.mode))
        })?;
        timings.fuse_ms = ms(t);

        let t = Instant::now();
        let resolve = |global: u64| {
            let (c, key) = keys.get(global)?;
            let (collection, space) = spaces.get(c)?;
            let chunk = space.index.resolve(key)?;
            Some((collection.as_str(), chunk.chunk_id()))
        };
        let mut hits = stage("retrieval.hydrate", || {
            self.hydrate(
                tenant,
                &resolve,
                fused.into_iter().take(opts.candidates),
                lex0,
                dense0,
            )
        })?;
        timings.hydrate_ms = ms(t);

        let t = Instant::now();
        if opts.rerank != RerankKind::None && !hits.is_empty() {
            let span = tracing::info_span!(
                "rerank",
                openinference.span.kind = cairn_telemetry::names::kind::RERANKER,
                reranker.model_name = format!("{:?}", opts.rerank).to_lowercase(),
                reranker.top_k = hits.len(),
            );
            span.in_scope(|| self.rerank(tenant, &req.query, opts.rerank, &mut hits))?;
            if cairn_telemetry::is_traced(&span) {
                use cairn_telemetry::AttrValue::{Float, Str};
                let mut docs = Vec::with_capacity(hits.len() * 2);
                for (i, h) in hits.iter().enumerate() {
                    let key = |f: &str| format!("reranker.output_documents.{i}.document.{f}");
                    docs.push((key("id"), Str(h.chunk_id.clone())));
                    docs.push((key("score"), Float(f64::from(h.score))));
                }
                cairn_telemetry::record_attrs(&span, docs);
            }
        }
        timings.rerank_ms = ms(t);

        if opts.mode == SearchMode::Hybrid {
            promote_exact(&mut hits, &specific::identifiers(&req.query));
        }

        let t = Instant::now();
        let hits = stage("retrieval.context", || {
            self.apply_context(tenant, hits, &req.context, opts.top_k)
        })?;
        timings.context_ms = ms(t);
        timings.total_ms = ms(start);
        Ok(SearchResponse {
            query: req.query.clone(),
            mode: opts.mode,
            rerank: opts.rerank,
            hits,
            transforms: traces,
            timings,
        })
    }

    /// Forgets every cached query embedding (benchmarks of first-time queries).
    pub fn clear_query_cache(&self) {
        self.query_cache.clear();
    }

    /// The normalized embedding of a query, from the tenant's query cache when it was
    /// embedded recently.
    pub(crate) fn embed_query(&self, tenant: &TenantId, text: &str) -> Result<Arc<Vec<f32>>> {
        if let Some(v) = self.query_cache.get(tenant.as_str(), text) {
            return Ok(v);
        }
        let embedder = self.embedder()?;
        let _span = tracing::info_span!(
            "embedding",
            openinference.span.kind = cairn_telemetry::names::kind::EMBEDDING,
            gen_ai.operation.name = "embeddings",
            gen_ai.request.model = embedder.model_id(),
            embedding.model_name = embedder.model_id(),
        )
        .entered();
        let v = Arc::new(
            embedder
                .embed(&[text])?
                .vectors
                .into_iter()
                .next()
                .ok_or_else(|| {
                    Error::new(ErrorCode::ModelError, "the embedder returned nothing")
                })?,
        );
        self.query_cache.put(tenant.as_str(), text, v.clone());
        Ok(v)
    }

    /// Chunks and documents for fused keys, in order; keys the store no longer has are
    /// dropped (a hit is only returned when the store and the index both have it).
    fn hydrate<'c>(
        &self,
        tenant: &TenantId,
        resolve: &dyn Fn(u64) -> Option<(&'c str, String)>,
        fused: impl Iterator<Item = Fused>,
        lex0: Option<usize>,
        dense0: Option<usize>,
    ) -> Result<Vec<SearchHit>> {
        let fused: Vec<(Fused, &str, String)> = fused
            .filter_map(|f| resolve(f.key).map(|(c, id)| (f, c, id)))
            .collect();
        let ids: Vec<ChunkId> = fused
            .iter()
            .map(|(_, _, id)| ChunkId::new(id.clone()))
            .collect();
        let chunks: HashMap<String, cairn_types::Chunk> = self
            .store
            .get_chunks(tenant, &ids)?
            .into_iter()
            .map(|c| (c.id.as_str().to_owned(), c))
            .collect();
        let mut doc_ids: Vec<DocumentId> = chunks.values().map(|c| c.document.clone()).collect();
        doc_ids.sort();
        doc_ids.dedup();
        let docs: HashMap<String, cairn_types::Document> = self
            .store
            .get_documents(tenant, &doc_ids)?
            .into_iter()
            .map(|d| (d.id.as_str().to_owned(), d))
            .collect();
        let pick = |f: &Fused, i: Option<usize>| {
            i.and_then(|i| f.sources.get(i).copied().flatten())
                .map(|(rank, score)| RankScore { rank, score })
        };
        Ok(fused
            .into_iter()
            .filter_map(|(f, collection, id)| {
                let c = chunks.get(&id)?;
                let d = docs.get(c.document.as_str())?;
                Some(SearchHit {
                    collection: collection.to_owned(),
                    chunk_id: id,
                    document_id: d.id.as_str().to_owned(),
                    title: d.title.clone(),
                    source: d.source.clone(),
                    heading_path: c.heading_path.clone(),
                    text: c.text.clone(),
                    page: c.page,
                    score: f.score,
                    scores: HitScores {
                        lexical: pick(&f, lex0),
                        dense: pick(&f, dense0),
                        fused: f.score,
                        rerank: None,
                    },
                    expanded_from: None,
                })
            })
            .collect())
    }
}

/// Merges the candidate lists. A single list keeps its raw scores; several are fused,
/// RRF weighing each list by `weights`. Weighted fusion applies to one lexical and one
/// dense list; with more lists (query transforms) RRF is used.
/// Runs one retrieval stage as a span recording how many results it returned.
fn stage<T: StageCount>(name: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let span = tracing::info_span!("stage", otel.name = name, cairn.results = Empty);
    let out = span.in_scope(f)?;
    span.record("cairn.results", out.count() as u64);
    Ok(out)
}

/// How many results a stage returned.
trait StageCount {
    fn count(&self) -> usize;
}

impl<T> StageCount for Vec<T> {
    fn count(&self) -> usize {
        self.len()
    }
}

fn fuse(
    lists: &[Vec<(u64, f32)>],
    weights: &[f32],
    fusion: Fusion,
    mode: SearchMode,
) -> Vec<Fused> {
    let refs: Vec<&[(u64, f32)]> = lists.iter().map(Vec::as_slice).collect();
    match (refs.len(), fusion) {
        (1, _) => rrf_weighted(&refs, &[], 1.0)
            .into_iter()
            .map(|mut f| {
                f.score = f.sources[0].map_or(0.0, |s| s.1);
                f
            })
            .collect(),
        (2, Fusion::Weighted { alpha }) if mode == SearchMode::Hybrid => {
            weighted(refs[0], refs[1], alpha)
        }
        (_, Fusion::Rrf { k }) => rrf_weighted(&refs, weights, k),
        (_, Fusion::Weighted { .. }) => rrf_weighted(&refs, weights, 60.0),
    }
}

/// Moves the hits that contain one of the query's identifiers ahead of those that
/// contain none, keeping the order within each group: a query naming `40P01` wants the
/// page that lists `40P01`, not the pages that are merely about error codes, however
/// well both retrievers agree on those.
pub(super) fn promote_exact(hits: &mut [SearchHit], identifiers: &[String]) {
    if identifiers.is_empty() {
        return;
    }
    let has = |h: &SearchHit| {
        let hay = format!("{}\n{}\n{}", h.title, h.heading_path.join("\n"), h.text).to_lowercase();
        identifiers.iter().any(|i| specific::name_occurs(i, &hay))
    };
    // A stable sort: `false < true`, so containing hits (key false) come first.
    hits.sort_by_cached_key(|h| !has(h));
}

/// The index-side view of a principal: every document, or those whose ACL names them.
pub fn access_of(p: &Principal) -> Access {
    if p.all_documents {
        Access::All
    } else {
        Access::Principal {
            user: p.user.clone(),
            groups: p.groups.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str, text: &str) -> SearchHit {
        SearchHit {
            collection: String::new(),
            chunk_id: id.into(),
            document_id: id.into(),
            title: "Errors".into(),
            source: format!("{id}.html"),
            heading_path: vec![],
            text: text.into(),
            page: None,
            score: 0.0,
            scores: HitScores {
                lexical: None,
                dense: None,
                fused: 0.0,
                rerank: None,
            },
            expanded_from: None,
        }
    }

    #[test]
    fn hits_containing_a_named_identifier_come_first_in_their_order() {
        let mut hits = vec![
            hit("ecpg1", "SQLSTATE codes returned by ECPG"),
            hit("ecpg2", "more SQLSTATE values"),
            hit("codes", "40P01 deadlock_detected"),
            hit("other", "Class 40 also lists 40P01"),
        ];
        promote_exact(
            &mut hits,
            &specific::identifiers("What does SQLSTATE 40P01 mean?"),
        );
        let order: Vec<&str> = hits.iter().map(|h| h.chunk_id.as_str()).collect();
        assert_eq!(order, ["codes", "other", "ecpg1", "ecpg2"]);
        // No identifier in the query: the order is left alone.
        promote_exact(&mut hits, &specific::identifiers("how do errors work"));
        assert_eq!(hits[0].chunk_id, "codes");
    }
}
