//! The collection's shared search space in the store, for deployments that search in
//! PostgreSQL (`retrieval.dense_backend = "pgvector"`, `retrieval.lexical_backend =
//! "postgres"`; see `cairn_store::shared_index`).
//!
//! It is one more replica of the change log, synced by whichever server searches first
//! under the store's cross-node lock for the collection (the others find it applied), and
//! reported under [`SHARED_REPLICA`] so log pruning waits for it too. Each server still
//! keeps its own space for the catalog (keys to chunks, filter attributes) and for
//! whichever side stays local; the side kept in the store is left empty there.

use super::target::SyncTarget;
use super::{Space, SyncReport};
use crate::{Engine, Error, Result};
use cairn_index::{DocInput, SearchFilter, chunk_key, search_terms};
use cairn_store::{SharedChunk, SharedDoc, SharedFilter, SharedSpace, Store};
use cairn_types::{CollectionId, ErrorCode, TenantId};

/// The replica name under which the shared space reports its change-log position.
pub(crate) const SHARED_REPLICA: &str = "shared-search-space";

/// The shared space as a sync target.
struct SharedTarget<'a> {
    store: &'a dyn Store,
    space: SharedSpace<'a>,
}

impl SyncTarget for SharedTarget<'_> {
    fn applied_seq(&self) -> Result<i64> {
        Ok(self.store.shared_position(&self.space)?)
    }

    fn apply(&self, removed: &[String], docs: &[DocInput], seq: i64) -> Result<()> {
        let docs: Vec<SharedDoc> = docs
            .iter()
            .map(|d| shared_doc(d, self.space.lexemes))
            .collect();
        Ok(self.store.shared_apply(&self.space, removed, &docs, seq)?)
    }

    fn advance(&self, seq: i64) -> Result<()> {
        Ok(self.store.shared_apply(&self.space, &[], &[], seq)?)
    }

    fn persist(&self) -> Result<()> {
        // Every apply committed its own transaction.
        Ok(())
    }

    fn wants_vectors(&self) -> bool {
        self.space.vectors.is_some()
    }
}

/// A document's rows: filter attributes, and per chunk its vector and analyzed terms.
fn shared_doc(d: &DocInput, lexemes: bool) -> SharedDoc {
    SharedDoc {
        document: d.attrs.document.clone(),
        principals: d.attrs.principals.clone(),
        sources: d.attrs.source_values(),
        kind: d.attrs.kind.clone(),
        tags: d.attrs.tags.clone(),
        date: d.attrs.date,
        chunks: d
            .chunks
            .iter()
            .map(|c| SharedChunk {
                key: chunk_key(&format!("{}:{}", d.attrs.document, c.ordinal)),
                vector: c.vector.clone(),
                terms: if lexemes {
                    search_terms(&format!("{}\n{}\n{}", d.title, c.heading, c.text))
                } else {
                    Vec::new()
                },
            })
            .collect(),
    }
}

/// A search filter in the store's terms (same semantics as the index's predicate).
fn shared_filter(f: &SearchFilter) -> SharedFilter {
    SharedFilter {
        principals: f.access.terms(),
        sources: f.sources.clone(),
        kinds: f.kinds.clone(),
        tags: f.tags.clone(),
        date_from: f.date_from,
        date_to: f.date_to,
    }
}

impl Engine {
    /// Whether any search side runs in the store.
    pub(crate) fn shares_search(&self) -> bool {
        let r = &self.config.retrieval;
        r.dense_in_store() || r.lexical_in_store()
    }

    /// Runs `f` on the shared space of `space`'s incarnation, as this configuration
    /// shapes it.
    fn with_shared_space<T>(
        &self,
        space: &Space,
        tenant: &TenantId,
        collection: &CollectionId,
        f: impl FnOnce(SharedSpace<'_>) -> Result<T>,
    ) -> Result<T> {
        let r = &self.config.retrieval;
        let embedder = self.embedder()?;
        let incarnation = space.index.incarnation();
        f(SharedSpace {
            tenant,
            collection,
            created_at: incarnation.created_at,
            generation: incarnation.generation,
            vectors: r
                .dense_in_store()
                .then(|| (embedder.model_id(), embedder.dim())),
            lexemes: r.lexical_in_store(),
            hnsw: (r.hnsw_m, r.hnsw_ef_construction),
        })
    }

    /// Brings the collection's shared space up to `head` (the change the server's own
    /// space was just synced to) or past it, holding its cross-node lock when there is
    /// something to apply (a server that waited finds the work done).
    pub(crate) fn sync_shared(
        &self,
        space: &Space,
        tenant: &TenantId,
        collection: &CollectionId,
        head: i64,
    ) -> Result<SyncReport> {
        let report = self.with_shared_space(space, tenant, collection, |shared| {
            self.sync_shared_space(shared, tenant, collection, head)
        })?;
        self.report_position(
            &space.shared_reported_at,
            || Ok(SHARED_REPLICA.to_owned()),
            tenant,
            collection,
            &report,
        );
        Ok(report)
    }

    fn sync_shared_space(
        &self,
        shared: SharedSpace<'_>,
        tenant: &TenantId,
        collection: &CollectionId,
        head: i64,
    ) -> Result<SyncReport> {
        let target = SharedTarget {
            store: self.store.as_ref(),
            space: shared,
        };
        // Up to date (the common case): one indexed read, no lock.
        let report = match self.store.shared_current(&target.space)? {
            Some(applied) if applied >= head => SyncReport {
                applied_seq: applied,
                ..SyncReport::default()
            },
            _ => {
                let mut outcome = None;
                self.store.with_shared_lock(tenant, collection, &mut || {
                    outcome = Some(self.sync_locked(&target, tenant, collection));
                })?;
                outcome.unwrap_or_else(|| {
                    Err(Error::new(
                        ErrorCode::IndexError,
                        "the shared search space's lock was taken but its sync never ran",
                    ))
                })?
            }
        };
        Ok(report)
    }

    /// Dense top-`k` among the chunks `filter` admits, from the space or the store.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn dense_search(
        &self,
        space: &Space,
        tenant: &TenantId,
        collection: &CollectionId,
        vector: &[f32],
        filter: &SearchFilter,
        k: usize,
        ef: Option<usize>,
    ) -> Result<Vec<(u64, f32)>> {
        if !self.config.retrieval.dense_in_store() {
            return Ok(space.index.search_dense(vector, filter, k, ef)?);
        }
        let ef = ef.unwrap_or(self.config.retrieval.hnsw_ef_search);
        let found = self.with_shared_space(space, tenant, collection, |shared| {
            Ok(self
                .store
                .shared_vector_search(&shared, vector, &shared_filter(filter), k, ef)?)
        })?;
        tracing::debug!(plan = ?found.plan, hits = found.hits.len(), "pgvector search");
        Ok(found.hits)
    }

    /// Lexical top-`k` among the chunks `filter` admits, from the space or the store.
    pub(crate) fn lexical_search(
        &self,
        space: &Space,
        tenant: &TenantId,
        collection: &CollectionId,
        query: &str,
        filter: &SearchFilter,
        k: usize,
    ) -> Result<Vec<(u64, f32)>> {
        if !self.config.retrieval.lexical_in_store() {
            return Ok(space.index.search_lexical(query, filter, k)?);
        }
        self.with_shared_space(space, tenant, collection, |shared| {
            Ok(self.store.shared_text_search(
                &shared,
                &search_terms(query),
                &shared_filter(filter),
                k,
            )?)
        })
    }

    /// The index vectors of chunks given as `(collection, chunk id)`, in order (`None`
    /// where one has none): each from its own collection's index.
    pub(crate) fn chunk_vectors(
        &self,
        tenant: &TenantId,
        chunks: &[(&str, &str)],
    ) -> Result<Vec<Option<Vec<f32>>>> {
        let mut out = vec![None; chunks.len()];
        let mut names: Vec<&str> = chunks.iter().map(|c| c.0).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let collection = CollectionId::new(name);
            let at: Vec<usize> = (0..chunks.len()).filter(|&i| chunks[i].0 == name).collect();
            let keys: Vec<u64> = at.iter().map(|&i| chunk_key(chunks[i].1)).collect();
            let space = self.space(tenant, &collection)?;
            let found = self.space_vectors(&space, tenant, &collection, &keys)?;
            for (i, v) in at.into_iter().zip(found) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// The vectors of `keys` (`None` where a key has none), wherever they are kept.
    pub(crate) fn space_vectors(
        &self,
        space: &Space,
        tenant: &TenantId,
        collection: &CollectionId,
        keys: &[u64],
    ) -> Result<Vec<Option<Vec<f32>>>> {
        if self.config.retrieval.dense_in_store() {
            Ok(self.store.shared_vectors(tenant, collection, keys)?)
        } else {
            Ok(space.index.vectors(keys))
        }
    }
}
