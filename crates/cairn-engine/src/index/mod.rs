//! Keeping each collection's index space in step with the store.
//!
//! [`Engine::sync_index`] reads the store's change log from the sequence the space last
//! applied, re-indexes the changed documents (deleted ones are dropped) and saves the
//! space. A space that was never built, or was reset because its files were unreadable or
//! built for another embedder, is rebuilt from every document. Searches sync first, so a
//! chunk is searchable exactly when it is committed in the store and applied to the
//! index; ingest runs sync when they finish. A file lock serializes syncs across
//! processes sharing a data directory.

mod inputs;
mod reindex;
mod shared;
mod target;

pub(crate) use inputs::embedding_text;
pub use inputs::parse_date;
pub use reindex::ReindexReport;

use crate::{Engine, Error, Result};
use cairn_index::{DenseParams, Incarnation, IndexSpace, SpaceShape};
use cairn_store::IndexBatch;
use cairn_types::{Collection, CollectionId, DocumentId, ErrorCode, TenantId};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use target::SyncTarget;

/// Documents per batch while catching up or rebuilding.
pub(crate) const BATCH_DOCS: usize = 64;

/// A replica that applied nothing new still reports its position this often (ms), so an
/// idle but live replica is not taken for a gone one by log pruning.
const REPORT_EVERY_MS: i64 = 10 * 60 * 1000;

/// Open index spaces by (tenant, collection). Their memory is bounded by
/// `retrieval.index_memory_mb`: opening one past the budget closes the least recently
/// used others (a search still holding one keeps it alive until it is done; the next
/// use reopens it from disk, where every sync leaves it persisted).
#[derive(Default)]
pub(crate) struct Spaces {
    open: Mutex<HashMap<(String, String), Arc<Space>>>,
    /// Advances on every use; a space's `last_used` is the clock at its latest use.
    clock: AtomicU64,
}

/// A space and the lock that serializes its syncs within this process.
pub(crate) struct Space {
    pub index: IndexSpace,
    sync: Mutex<()>,
    last_used: AtomicU64,
    /// When this process last reported the space's position to the store (ms).
    reported_at: AtomicI64,
    /// The same for the collection's shared space in the store, when searches use one.
    shared_reported_at: AtomicI64,
}

impl Space {
    /// Whether this handle was opened for the collection's current incarnation.
    fn current(&self, coll: &Collection) -> bool {
        self.index.incarnation() == incarnation(coll)
    }
}

impl Spaces {
    fn touch(&self, space: &Space) {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        space.last_used.store(now, Ordering::Relaxed);
    }

    /// Closes least recently used spaces (never `keep`) until the open ones fit in
    /// `budget` bytes; returns how many were closed.
    fn evict(
        open: &mut HashMap<(String, String), Arc<Space>>,
        keep: &(String, String),
        budget: usize,
    ) -> usize {
        let mut sizes: Vec<((String, String), u64, usize)> = open
            .iter()
            .map(|(k, s)| {
                (
                    k.clone(),
                    s.last_used.load(Ordering::Relaxed),
                    s.index.memory_bytes(),
                )
            })
            .collect();
        let mut total: usize = sizes.iter().map(|(_, _, b)| b).sum();
        sizes.sort_by_key(|(_, used, _)| *used);
        let mut closed = 0;
        for (key, _, bytes) in sizes {
            if total <= budget {
                break;
            }
            if &key == keep {
                continue;
            }
            open.remove(&key);
            total -= bytes;
            closed += 1;
        }
        closed
    }
}

/// The incarnation an index space of `coll` must be built for.
pub(crate) fn incarnation(coll: &Collection) -> Incarnation {
    Incarnation {
        created_at: coll.created_at,
        generation: coll.generation,
    }
}

/// Opens (creating it and its directory) a file used only for its advisory lock.
pub(crate) fn lock_file(path: &Path) -> Result<std::fs::File> {
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
    };
    // Every sync takes this lock: the directory is created only the first time.
    match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| lock_error(path, &e))?;
            }
            open()
        }
        other => other,
    }
    .map_err(|e| lock_error(path, &e))
}

/// The error for a lock file that cannot be opened or locked.
pub(crate) fn lock_error(path: &Path, e: &std::io::Error) -> Error {
    Error::new(
        ErrorCode::IndexError,
        format!("locking {}: {e}", path.display()),
    )
}

/// Removes a directory tree; one that is not there is fine.
pub(crate) fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::new(
            ErrorCode::IndexError,
            format!("removing {}: {e}", dir.display()),
        )),
        _ => Ok(()),
    }
}

/// What a sync did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SyncReport {
    /// Whether the space was rebuilt from every document.
    pub rebuilt: bool,
    pub documents_indexed: usize,
    pub documents_removed: usize,
    pub chunks_embedded: usize,
    pub applied_seq: i64,
}

impl Engine {
    pub(crate) fn space_dir(&self, tenant: &TenantId, collection: &CollectionId) -> PathBuf {
        self.config
            .data_dir
            .join("index")
            .join(tenant.as_str())
            .join(collection.as_str())
    }

    /// What each server's spaces keep: everything, except the sides searched in the store.
    fn space_shape(&self) -> SpaceShape {
        let r = &self.config.retrieval;
        SpaceShape {
            dense: DenseParams {
                connectivity: r.hnsw_m,
                expansion_add: r.hnsw_ef_construction,
                expansion_search: r.hnsw_ef_search,
            },
            local_vectors: !r.dense_in_store(),
            local_lexical: !r.lexical_in_store(),
        }
    }

    /// The open space of a collection (opened on first use; an unreadable one is wiped
    /// and recreated empty, to be rebuilt by the next sync). A handle opened for an older
    /// incarnation (the collection was reindexed since) is replaced. Opening happens under
    /// the space's file lock, with the collection read again under it, so it never races
    /// a reindex swapping the directory.
    pub(crate) fn space(&self, tenant: &TenantId, collection: &CollectionId) -> Result<Arc<Space>> {
        let coll = self.store.get_collection(tenant, collection)?;
        let key = (tenant.as_str().to_owned(), collection.as_str().to_owned());
        if let Some(s) = self.open_space(&key, &coll) {
            self.spaces.touch(&s);
            return Ok(s);
        }
        let _cross = self.lock_space(tenant, collection)?;
        let coll = self.store.get_collection(tenant, collection)?;
        let mut open = self
            .spaces
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = open.get(&key).filter(|s| s.current(&coll)) {
            self.spaces.touch(s);
            return Ok(s.clone());
        }
        let dir = self.space_dir(tenant, collection);
        self.check_embedder(tenant, collection)?;
        let index = self.open_space_at(&dir, tenant, collection, incarnation(&coll))?;
        let space = Arc::new(Space {
            index,
            sync: Mutex::new(()),
            last_used: AtomicU64::new(0),
            reported_at: AtomicI64::new(0),
            shared_reported_at: AtomicI64::new(0),
        });
        self.spaces.touch(&space);
        open.insert(key.clone(), space.clone());
        let budget_mb = self.config.retrieval.index_memory_mb;
        if budget_mb > 0 {
            let budget =
                usize::try_from(budget_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
            let closed = Spaces::evict(&mut open, &key, budget);
            if closed > 0 {
                tracing::info!(
                    closed,
                    open = open.len(),
                    budget_mb,
                    "closed least recently used index spaces (retrieval.index_memory_mb)"
                );
            }
        }
        Ok(space)
    }

    /// Refuses to open a collection whose vectors came from another embedding model or
    /// dimension than the configured one: its stored vectors would be mixed with the new
    /// model's queries. `cairn collections reindex` re-embeds it with the configured one
    /// (into a shadow space, so it never meets this check). Ingest checks it too, before
    /// it embeds anything.
    pub(crate) fn check_embedder(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
    ) -> Result<()> {
        let dir = self.space_dir(tenant, collection);
        let Some((model, dim)) = cairn_index::recorded_embedder(&dir) else {
            return Ok(());
        };
        let embedder = self.embedder()?;
        if model == embedder.model_id() && dim == embedder.dim() {
            return Ok(());
        }
        if self.store.count_chunks(tenant, Some(collection))? == 0 {
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::Conflict,
            format!(
                "collection `{collection}` holds vectors of `{model}` ({dim} dimensions), but \
                 the configured embedder is `{}` ({} dimensions); run `cairn collections \
                 reindex {collection}` to embed it again with the configured model, or set \
                 models.embedder back",
                embedder.model_id(),
                embedder.dim()
            ),
        ))
    }

    /// The handle already open for `coll`'s current incarnation, if any.
    fn open_space(&self, key: &(String, String), coll: &Collection) -> Option<Arc<Space>> {
        self.spaces
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .filter(|s| s.current(coll))
            .cloned()
    }

    /// Opens the space stored in `dir`, wiping it first if it cannot be read.
    pub(crate) fn open_space_at(
        &self,
        dir: &Path,
        tenant: &TenantId,
        collection: &CollectionId,
        incarnation: Incarnation,
    ) -> Result<IndexSpace> {
        let embedder = self.embedder()?;
        let shape = self.space_shape();
        let opener = || {
            IndexSpace::open_shaped(
                dir,
                tenant.as_str(),
                collection.as_str(),
                (embedder.model_id(), embedder.dim()),
                shape,
                incarnation,
            )
        };
        match opener() {
            Ok(s) => Ok(s),
            Err(cairn_index::Error::Corrupt(why)) => {
                tracing::warn!(dir = %dir.display(), %why, "index space unreadable; rebuilding");
                remove_dir(dir)?;
                Ok(opener()?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Plain single-field BM25 on a collection's index (benchmarks: the like-for-like
    /// baseline against single-field engines; no filters, so not exposed to callers).
    pub fn bench_body_bm25(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        query: &str,
        k: usize,
    ) -> Result<Vec<(u64, f32)>> {
        Ok(self
            .space(tenant, collection)?
            .index
            .search_body(query, k)?)
    }

    /// Index spaces open in this process and the bytes they hold in memory.
    pub fn index_memory(&self) -> (usize, usize) {
        let open = self
            .spaces
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let bytes = open.values().map(|s| s.index.memory_bytes()).sum();
        (open.len(), bytes)
    }

    /// How far each index space open in this process trails its collection's change log:
    /// (tenant, collection, changes not applied yet).
    pub fn index_lag(&self) -> Vec<(String, String, i64)> {
        let open: Vec<((String, String), Arc<Space>)> = self
            .spaces
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        open.into_iter()
            .filter_map(|((tenant, collection), space)| {
                let applied = space.index.applied_seq().ok()?;
                let head = self
                    .store
                    .index_head(&TenantId::new(&tenant), &CollectionId::new(&collection))
                    .ok()?;
                Some((tenant, collection, (head - applied.max(0)).max(0)))
            })
            .collect()
    }

    /// Forgets and deletes a collection's index space (after the collection is deleted).
    pub fn drop_index(&self, tenant: &TenantId, collection: &CollectionId) -> Result<()> {
        self.forget_space(tenant, collection);
        remove_dir(&self.space_dir(tenant, collection))
    }

    /// Drops this process's handle of a space (the next use opens it again).
    pub(crate) fn forget_space(&self, tenant: &TenantId, collection: &CollectionId) {
        let key = (tenant.as_str().to_owned(), collection.as_str().to_owned());
        self.spaces
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
    }

    /// Brings the collection's index up to the store's newest change.
    pub fn sync_index(&self, tenant: &TenantId, collection: &CollectionId) -> Result<SyncReport> {
        self.synced_space(tenant, collection)
            .map(|(_, report)| report)
    }

    /// The collection's space, brought up to the store's newest change (what a search
    /// reads from).
    pub(crate) fn synced_space(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
    ) -> Result<(Arc<Space>, SyncReport)> {
        loop {
            let space = self.space(tenant, collection)?;
            let local = space.sync.lock().unwrap_or_else(PoisonError::into_inner);
            let cross = self.lock_space(tenant, collection)?;
            // A reindex may have swapped the space while this waited for the lock.
            if space.current(&self.store.get_collection(tenant, collection)?) {
                let mut report = self.sync_locked(&space.index, tenant, collection)?;
                drop(local);
                drop(cross);
                self.report_position(
                    &space.reported_at,
                    || self.replica_id(),
                    tenant,
                    collection,
                    &report,
                );
                if self.shares_search() {
                    let shared =
                        self.sync_shared(&space, tenant, collection, report.applied_seq)?;
                    report.chunks_embedded += shared.chunks_embedded;
                }
                return Ok((space, report));
            }
        }
    }

    /// [`Self::sync_index`] with the space's locks held.
    fn sync_locked(
        &self,
        space: &dyn SyncTarget,
        tenant: &TenantId,
        collection: &CollectionId,
    ) -> Result<SyncReport> {
        let head = self.store.index_head(tenant, collection)?;
        let applied = space.applied_seq()?;
        let mut report = SyncReport {
            applied_seq: applied,
            ..SyncReport::default()
        };
        // Behind the pruned part of the log (offline while every other replica moved
        // on): the changes it needs are gone, so it rebuilds from the store.
        let behind_floor =
            || -> Result<bool> { Ok(applied < self.store.index_log_floor(tenant, collection)?) };
        if applied < 0 || (applied < head && behind_floor()?) {
            self.rebuild(space, tenant, collection, head, &mut report)?;
        } else if applied < head {
            self.catch_up(space, tenant, collection, applied, &mut report)?;
        } else {
            return Ok(report);
        }
        space.persist()?;
        report.applied_seq = space.applied_seq()?;
        Ok(report)
    }

    /// Tells the store how far this replica has applied the change log (what log pruning
    /// waits for): after a sync that applied something, else at most every
    /// [`REPORT_EVERY_MS`]. A failure only delays pruning.
    fn report_position(
        &self,
        reported_at: &AtomicI64,
        replica_id: impl FnOnce() -> Result<String>,
        tenant: &TenantId,
        collection: &CollectionId,
        report: &SyncReport,
    ) {
        let now = crate::engine::now_ms();
        let last = reported_at.load(Ordering::Relaxed);
        let moved = report.documents_indexed + report.documents_removed > 0 || report.rebuilt;
        if !moved && now - last < REPORT_EVERY_MS {
            return;
        }
        reported_at.store(now, Ordering::Relaxed);
        let replica = match replica_id() {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(error = %e.message, "no index replica id; log pruning waits");
                return;
            }
        };
        if let Err(e) =
            self.store
                .report_replica(tenant, collection, &replica, report.applied_seq, now)
        {
            tracing::warn!(%collection, error = %e, "cannot record the index replica's position");
        }
    }

    /// This data directory's replica id (`index/replica-id`, made on first use): the
    /// name under which its position in each collection's change log is recorded.
    pub(crate) fn replica_id(&self) -> Result<String> {
        let path = self.config.data_dir.join("index").join("replica-id");
        if let Ok(id) = std::fs::read_to_string(&path) {
            let id = id.trim();
            if !id.is_empty() {
                return Ok(id.to_owned());
            }
        }
        let id = format!(
            "{}-{}",
            crate::ingest::host_name(),
            cairn_types::JobId::generate().0
        );
        let io = |e: std::io::Error| {
            Error::new(
                ErrorCode::IndexError,
                format!("writing {}: {e}", path.display()),
            )
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let partial = path.with_extension("partial");
        std::fs::write(&partial, &id).map_err(io)?;
        std::fs::rename(&partial, &path).map_err(io)?;
        Ok(id)
    }

    /// A file lock on the space, held while it syncs, opens or is swapped.
    pub(crate) fn lock_space(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
    ) -> Result<std::fs::File> {
        let path = self.space_dir(tenant, collection).with_extension("lock");
        let file = lock_file(&path)?;
        file.lock().map_err(|e| lock_error(&path, &e))?;
        Ok(file)
    }

    pub(crate) fn rebuild(
        &self,
        space: &dyn SyncTarget,
        tenant: &TenantId,
        collection: &CollectionId,
        head: i64,
        report: &mut SyncReport,
    ) -> Result<()> {
        report.rebuilt = true;
        self.fill(space, tenant, collection, Feed::Live, report)?;
        space.advance(head)?;
        Ok(())
    }

    /// Indexes every document `feed` has for the collection, page by page; the space
    /// stays marked unbuilt (sequence -1), so a crash restarts the fill.
    pub(crate) fn fill(
        &self,
        space: &dyn SyncTarget,
        tenant: &TenantId,
        collection: &CollectionId,
        feed: Feed,
        report: &mut SyncReport,
    ) -> Result<()> {
        let mut after: Option<DocumentId> = None;
        loop {
            let ids = match feed {
                Feed::Live => {
                    self.store
                        .index_documents(tenant, collection, after.as_ref(), BATCH_DOCS)?
                }
                Feed::Staged => {
                    self.store
                        .staged_documents(tenant, collection, after.as_ref(), BATCH_DOCS)?
                }
            };
            let Some(last) = ids.last().cloned() else {
                return Ok(());
            };
            let batch = match feed {
                Feed::Live => self
                    .store
                    .index_batch(tenant, &ids, space.wants_vectors())?,
                Feed::Staged => self.store.staged_batch(tenant, &ids)?,
            };
            self.apply_batch(space, &ids, batch, -1, report)?;
            after = Some(last);
        }
    }

    pub(crate) fn catch_up(
        &self,
        space: &dyn SyncTarget,
        tenant: &TenantId,
        collection: &CollectionId,
        mut applied: i64,
        report: &mut SyncReport,
    ) -> Result<()> {
        loop {
            let changes = self
                .store
                .index_changes(tenant, collection, applied, BATCH_DOCS * 4)?;
            let Some(last) = changes.last().map(|c| c.seq) else {
                return Ok(());
            };
            let mut ids: Vec<DocumentId> = Vec::new();
            for c in changes {
                if !ids.contains(&c.document) {
                    ids.push(c.document);
                }
            }
            for (i, part) in ids.chunks(BATCH_DOCS).enumerate() {
                let last_part = (i + 1) * BATCH_DOCS >= ids.len();
                let seq = if last_part { last } else { applied };
                self.index_documents(space, tenant, part, seq, report)?;
            }
            applied = last;
        }
    }

    /// Re-indexes `ids` (dropping those no longer stored) and records `seq`.
    pub(crate) fn index_documents(
        &self,
        space: &dyn SyncTarget,
        tenant: &TenantId,
        ids: &[DocumentId],
        seq: i64,
        report: &mut SyncReport,
    ) -> Result<()> {
        let batch = self.store.index_batch(tenant, ids, space.wants_vectors())?;
        self.apply_batch(space, ids, batch, seq, report)
    }

    /// Applies `batch` (read for `ids`) to the space: ids it lacks are dropped.
    fn apply_batch(
        &self,
        space: &dyn SyncTarget,
        ids: &[DocumentId],
        batch: IndexBatch,
        seq: i64,
        report: &mut SyncReport,
    ) -> Result<()> {
        let present: std::collections::HashSet<&str> =
            batch.documents.iter().map(|d| d.id.as_str()).collect();
        let mut removed: Vec<String> = ids
            .iter()
            .filter(|id| !present.contains(id.as_str()))
            .map(|id| id.as_str().to_owned())
            .collect();
        let embedder = self.embedder()?;
        let embedder = space.wants_vectors().then_some(embedder.as_ref());
        let (docs, skipped, embedded) = inputs::doc_inputs(batch, embedder)?;
        removed.extend(skipped);
        report.documents_indexed += docs.len();
        report.documents_removed += removed.len();
        report.chunks_embedded += embedded;
        space.apply(&removed, &docs, seq)?;
        Ok(())
    }
}

/// Where a fill reads documents and chunks from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Feed {
    /// The live chunks (a rebuild).
    Live,
    /// A reindex's staged sets (its shadow space).
    Staged,
}
