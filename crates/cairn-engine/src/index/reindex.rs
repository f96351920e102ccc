//! `cairn collections reindex NAME`: cut every document of a collection again (new
//! chunk settings, a new chunker or embedder version) while searches keep using the live
//! chunks and index, then swap both in at once.
//!
//! 1. **Stage**: each indexed document's kept parsed text (or, for documents committed
//!    before texts were kept, its source file when it still has the same SHA-256) is
//!    chunked with the new settings and embedded; the sets go to the store's staging
//!    area, which searches never read.
//! 2. **Shadow index**: a new index space is built from the staged sets in
//!    `<space>.shadow`, for the collection's next generation.
//! 3. **Swap**, under the space's file lock (syncs and opens wait; searches already
//!    holding the old handle finish on it): the store swaps every staged set in, records
//!    the settings and counts the generation up in one transaction, refusing while a
//!    document changed since it was staged (it is staged again, then the swap retries).
//!    The shadow catches up with documents committed or deleted while the reindex ran,
//!    and replaces the live directory by rename.
//!
//! Crash safety: before the store swap nothing live changed (a later reindex clears the
//! staging area and the shadow). After it, a live directory still built for the old
//! generation no longer matches the collection and is rebuilt from the store on its
//! next open, so the index never serves the old chunking against the new store.

use super::{BATCH_DOCS, Feed, SyncReport, incarnation, lock_error, lock_file, remove_dir};
use crate::ingest::process::chunks_from_drafts;
use crate::ingest::{DocOutcome, ProgressEvent, ProgressSink};
use crate::{Engine, Error, Result};
use cairn_index::Incarnation;
use cairn_ingest::{Format, chunk::Chunker, chunk::chunker_for};
use cairn_store::{StagedSet, SwapOutcome};
use cairn_types::{
    ChunkingSpec, Collection, CollectionId, Document, DocumentId, ErrorCode, ParsedDoc, TenantId,
};
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many times the swap may find documents that changed meanwhile before giving up.
const SWAP_ATTEMPTS: usize = 8;

/// What a reindex did.
#[derive(Clone, Debug, Serialize)]
pub struct ReindexReport {
    pub collection: CollectionId,
    /// The settings the collection is chunked with now.
    pub chunking: ChunkingSpec,
    /// The collection's generation after the swap.
    pub generation: i64,
    /// Documents whose chunks were replaced.
    pub documents: usize,
    pub chunks_before: usize,
    pub chunks_after: usize,
    /// Documents read again from their source file (no kept parsed text).
    pub reparsed: usize,
    /// Documents staged again because they changed while the reindex ran.
    pub restaged: usize,
    /// Documents the shadow index took from the live store after the swap (committed or
    /// deleted while the reindex ran).
    pub caught_up: usize,
}

impl Engine {
    /// Re-chunks and re-embeds every document of `collection` with `chunking` (the
    /// collection's own settings when `None`) behind the live index, then swaps the new
    /// chunks and index in atomically. One reindex per collection runs at a time
    /// (`conflict` otherwise).
    pub fn reindex_collection(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        chunking: Option<ChunkingSpec>,
        progress: &dyn ProgressSink,
    ) -> Result<ReindexReport> {
        let coll = self.store.get_collection(tenant, collection)?;
        let spec = chunking.unwrap_or_else(|| coll.chunking.clone());
        spec.validate().map_err(|(field, why)| {
            Error::new(ErrorCode::InvalidInput, format!("chunking.{field} {why}"))
        })?;
        let _running = self.lock_reindex(tenant, collection)?;
        self.store.clear_staged(tenant, collection)?;
        let start_seq = self.store.index_head(tenant, collection)?;
        let mut report = ReindexReport {
            collection: collection.clone(),
            chunking: spec.clone(),
            generation: coll.generation,
            documents: 0,
            chunks_before: self.store.count_chunks(tenant, Some(collection))?,
            chunks_after: 0,
            reparsed: 0,
            restaged: 0,
            caught_up: 0,
        };
        let chunker = chunker_for(&spec, self.token_counter()?);
        let staging = Staging {
            tenant,
            coll: &coll,
            chunker: chunker.as_ref(),
        };
        let result = self.stage_and_swap(&staging, start_seq, progress, &mut report);
        if result.is_err() {
            // Leave nothing half-staged behind; the live collection never changed.
            if let Err(e) = self.store.clear_staged(tenant, collection) {
                tracing::warn!(%collection, error = %e, "clearing the reindex staging area");
            }
        }
        result.map(|()| report)
    }

    fn stage_and_swap(
        &self,
        staging: &Staging<'_>,
        start_seq: i64,
        progress: &dyn ProgressSink,
        report: &mut ReindexReport,
    ) -> Result<()> {
        let (tenant, coll) = (staging.tenant, staging.coll);
        let total = self.store.count_unstaged(tenant, &coll.id)?;
        progress.event(&ProgressEvent::Planned {
            files: total,
            queued: total,
            unchanged: 0,
            resumed: 0,
            reclaimed: 0,
        });
        self.stage_pending(staging, progress, report)?;

        let live = self.space_dir(tenant, &coll.id);
        let shadow_dir = live.with_extension("shadow");
        remove_dir(&shadow_dir)?;
        let next = Incarnation {
            generation: coll.generation + 1,
            ..incarnation(coll)
        };
        let shadow = self.open_space_at(&shadow_dir, tenant, &coll.id, next)?;
        self.fill(
            &shadow,
            tenant,
            &coll.id,
            Feed::Staged,
            &mut SyncReport::default(),
        )?;
        shadow.advance(start_seq)?;
        shadow.persist()?;

        let _cross = self.lock_space(tenant, &coll.id)?;
        let mut attempts = 0;
        let generation = loop {
            match self.store.swap_staged(tenant, &coll.id, &report.chunking)? {
                SwapOutcome::Swapped {
                    documents,
                    chunks,
                    generation,
                } => {
                    report.documents = documents;
                    report.chunks_after = chunks;
                    break generation;
                }
                SwapOutcome::Stale(ids) => {
                    attempts += 1;
                    if attempts > SWAP_ATTEMPTS {
                        return Err(Error::new(
                            ErrorCode::Conflict,
                            format!(
                                "collection `{}` kept changing while it was reindexed \
                                 ({} documents still unstaged); retry when ingestion is quiet",
                                coll.id,
                                ids.len()
                            ),
                        ));
                    }
                    report.restaged += self.stage_pending(staging, progress, report)?;
                }
            }
        };
        report.generation = generation;
        // Documents committed or deleted since staging began: from the swapped store.
        let mut caught = SyncReport::default();
        self.catch_up(&shadow, tenant, &coll.id, start_seq, &mut caught)?;
        report.caught_up = caught.documents_indexed + caught.documents_removed;
        shadow.persist()?;
        drop(shadow);
        let old = live.with_extension("old");
        remove_dir(&old)?;
        let io = |what: &str, e: std::io::Error| {
            Error::new(ErrorCode::IndexError, format!("{what}: {e}"))
        };
        if live.exists() {
            std::fs::rename(&live, &old).map_err(|e| io("moving the old index aside", e))?;
        }
        std::fs::rename(&shadow_dir, &live).map_err(|e| io("swapping in the new index", e))?;
        self.forget_space(tenant, &coll.id);
        if let Err(e) = remove_dir(&old) {
            tracing::warn!(dir = %old.display(), error = %e, "removing the replaced index");
        }
        Ok(())
    }

    /// Stages every indexed document without a set for its current version,
    /// `ingest.workers` documents at a time, and returns how many it staged. Fails,
    /// naming them, when documents have neither a kept parsed text nor their unchanged
    /// source file.
    fn stage_pending(
        &self,
        staging: &Staging<'_>,
        progress: &dyn ProgressSink,
        report: &mut ReindexReport,
    ) -> Result<usize> {
        let (tenant, coll) = (staging.tenant, staging.coll);
        let mut unreadable: Vec<String> = Vec::new();
        let mut staged = 0;
        let mut after: Option<DocumentId> = None;
        loop {
            let docs =
                self.store
                    .unstaged_documents(tenant, &coll.id, after.as_ref(), BATCH_DOCS)?;
            let Some(last) = docs.last().map(|d| d.id.clone()) else {
                break;
            };
            for (doc, outcome) in docs.iter().zip(self.stage_many(staging, &docs, progress)) {
                match outcome? {
                    Staged::Done { reparsed, .. } => {
                        staged += 1;
                        report.reparsed += usize::from(reparsed);
                    }
                    Staged::Unreadable => unreadable.push(doc.source.clone()),
                }
            }
            after = Some(last);
        }
        if unreadable.is_empty() {
            return Ok(staged);
        }
        let shown: Vec<&str> = unreadable.iter().take(5).map(String::as_str).collect();
        Err(Error::new(
            ErrorCode::Conflict,
            format!(
                "{} documents of `{}` were ingested before Cairn kept parsed texts and their \
                 source files are gone or changed ({}{}); ingest them again (or delete them), \
                 then reindex",
                unreadable.len(),
                coll.id,
                shown.join(", "),
                if unreadable.len() > shown.len() {
                    ", …"
                } else {
                    ""
                }
            ),
        ))
    }

    /// Stages `docs` on `ingest.workers` threads (parsing, chunking and embedding of one
    /// document overlap those of another); one outcome per document, in order.
    fn stage_many(
        &self,
        staging: &Staging<'_>,
        docs: &[Document],
        progress: &dyn ProgressSink,
    ) -> Vec<Result<Staged>> {
        let next = AtomicUsize::new(0);
        let workers = self.config.ingest.workers.clamp(1, docs.len().max(1));
        let mut outcomes: Vec<(usize, Result<Staged>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(doc) = docs.get(i) else { break };
                            let outcome = self.stage_document(staging, doc);
                            if let Ok(Staged::Done { chunks, .. }) = &outcome {
                                progress.event(&ProgressEvent::Done {
                                    source: doc.source.clone(),
                                    outcome: DocOutcome::Updated,
                                    chunks: *chunks,
                                    bytes: doc.size_bytes,
                                });
                            }
                            mine.push((i, outcome));
                        }
                        mine
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        outcomes.sort_by_key(|(i, _)| *i);
        outcomes.into_iter().map(|(_, o)| o).collect()
    }

    /// Cuts, embeds and stages one document.
    fn stage_document(&self, staging: &Staging<'_>, doc: &Document) -> Result<Staged> {
        let (parsed, reparsed) = match self.store.document_text(staging.tenant, &doc.id)? {
            Some(p) => (p, false),
            None => match self.parse_source_again(doc)? {
                Some(p) => (p, true),
                None => return Ok(Staged::Unreadable),
            },
        };
        let drafts = staging.chunker.chunk(&parsed);
        let chunks = chunks_from_drafts(staging.tenant, &staging.coll.id, &doc.id, drafts);
        let embeddings = self.embed_chunks(&chunks)?;
        self.store.stage_chunks(
            staging.tenant,
            &staging.coll.id,
            StagedSet {
                document: &doc.id,
                content_hash: &doc.content_hash,
                chunks: &chunks,
                embeddings: &embeddings,
                parsed: reparsed.then_some(&parsed),
            },
        )?;
        Ok(Staged::Done {
            reparsed,
            chunks: chunks.len(),
        })
    }

    /// The document's source file parsed again, when the source is an absolute path to a
    /// file whose bytes still hash to the stored content hash.
    fn parse_source_again(&self, doc: &Document) -> Result<Option<ParsedDoc>> {
        let path = Path::new(&doc.source);
        if !path.is_absolute() {
            return Ok(None);
        }
        let Ok(bytes) = std::fs::read(path) else {
            return Ok(None);
        };
        if cairn_ingest::content_hash(&bytes) != doc.content_hash {
            return Ok(None);
        }
        let name = path
            .file_name()
            .map_or_else(|| doc.source.clone(), |n| n.to_string_lossy().into_owned());
        let format = Format::sniff(&name, &bytes)?;
        Ok(Some(crate::ingest::isolate::parse(
            &self.config.ingest,
            format,
            &bytes,
            &name,
        )?))
    }

    /// A file lock held for the whole reindex of a collection; `conflict` when another
    /// process or thread holds it.
    fn lock_reindex(&self, tenant: &TenantId, collection: &CollectionId) -> Result<std::fs::File> {
        let path = self
            .space_dir(tenant, collection)
            .with_extension("reindex.lock");
        let file = lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::new(
                ErrorCode::Conflict,
                format!("a reindex of collection `{collection}` is already running"),
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(lock_error(&path, &e)),
        }
    }
}

/// What became of one document.
enum Staged {
    Done {
        reparsed: bool,
        chunks: usize,
    },
    /// Neither a kept parsed text nor its unchanged source file.
    Unreadable,
}

/// What every staged document is cut with.
struct Staging<'a> {
    tenant: &'a TenantId,
    coll: &'a Collection,
    chunker: &'a dyn Chunker,
}
