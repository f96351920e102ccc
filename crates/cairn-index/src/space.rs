//! [`IndexSpace`]: the lexical and dense indexes and the catalog of one tenant's
//! collection, kept in step by [`IndexSpace::apply`].
//!
//! On disk (`<dir>/`): `lexical/` (tantivy; commit payload = applied sequence),
//! `dense.usearch`, `catalog.json` and `meta.json` (applied sequence, embedding model,
//! dimension, HNSW parameters, collection epoch), written in that order so a crash
//! between the files is repaired by replaying from the sequence in `meta.json`.

use crate::catalog::{Catalog, ChunkRef};
use crate::dense::{DenseIndex, DenseParams};
use crate::filter::SearchFilter;
use crate::lexical::{ChunkText, LexicalIndex};
use crate::{DocAttrs, Error, Result, chunk_key};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock};

/// A filter admitting at most this many chunks is served by an exact scan on the dense
/// side (an HNSW walk through a mostly-rejected graph loses recall).
const EXACT_SCAN_LIMIT: usize = 4_096;

/// A document to (re)index with all its indexable chunks.
pub struct DocInput {
    pub attrs: DocAttrs,
    pub title: String,
    pub chunks: Vec<ChunkInput>,
}

/// One chunk to index.
pub struct ChunkInput {
    pub ordinal: u32,
    /// Heading path joined with ` > `.
    pub heading: String,
    pub text: String,
    /// The normalized embedding (`None`: lexical only).
    pub vector: Option<Vec<f32>>,
}

/// Which incarnation of a collection a space was built for: its creation time (a
/// collection deleted and created again is another one) and its reindex generation (each
/// `cairn collections reindex` swaps in new chunk sets and counts one up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incarnation {
    pub created_at: i64,
    pub generation: i64,
}

/// What a space keeps itself. A deployment that searches in the store
/// (`retrieval.dense_backend = "pgvector"`, `retrieval.lexical_backend = "postgres"`)
/// keeps only the catalog and the other side here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaceShape {
    pub dense: DenseParams,
    /// Whether the HNSW graph holds the vectors (false: it stays empty).
    pub local_vectors: bool,
    /// Whether the tantivy index holds the text (false: it stays empty).
    pub local_lexical: bool,
}

impl SpaceShape {
    /// Everything kept here (the embedded default).
    pub fn local(dense: DenseParams) -> Self {
        Self {
            dense,
            local_vectors: true,
            local_lexical: true,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Meta {
    seq: i64,
    model: String,
    dim: usize,
    params: DenseParams,
    epoch: i64,
    /// Absent in spaces written before reindexing existed: generation 0.
    #[serde(default)]
    generation: i64,
    /// Absent in spaces written before the shared backends existed: both kept.
    #[serde(default = "yes")]
    local_vectors: bool,
    #[serde(default = "yes")]
    local_lexical: bool,
}

/// Counts and positions, for `cairn collections` and tests.
#[derive(Clone, Debug, Serialize)]
pub struct SpaceStatus {
    pub lexical_seq: i64,
    pub dense_seq: i64,
    pub documents: usize,
    pub chunks: usize,
    pub vectors: usize,
    pub model: String,
    pub dim: usize,
    pub dense_bytes: usize,
}

struct DenseState {
    index: DenseIndex,
    catalog: Catalog,
    seq: i64,
    dirty: bool,
}

/// The indexes of one tenant's collection.
pub struct IndexSpace {
    tenant: String,
    collection: String,
    dir: PathBuf,
    lexical: LexicalIndex,
    dense: RwLock<DenseState>,
    meta: Meta,
    write: Mutex<()>,
}

fn read_meta(path: &Path) -> Option<Meta> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The embedding model and dimension a space in `dir` was built for, if one was.
pub fn recorded_embedder(dir: &Path) -> Option<(String, usize)> {
    read_meta(&dir.join("meta.json")).map(|m| (m.model, m.dim))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

impl IndexSpace {
    /// Opens (or creates) the space in `dir`. If what is on disk was built for another
    /// model, dimension, HNSW shape or incarnation of the collection, or cannot
    /// be read, the space starts empty at sequence -1 ("never built") and the caller
    /// rebuilds it.
    /// `Corrupt` only when the lexical index itself cannot be opened (wipe `dir`).
    pub fn open(
        dir: &Path,
        tenant: &str,
        collection: &str,
        model: &str,
        dim: usize,
        params: DenseParams,
        incarnation: Incarnation,
    ) -> Result<Self> {
        let shape = SpaceShape::local(params);
        Self::open_shaped(dir, tenant, collection, (model, dim), shape, incarnation)
    }

    /// [`Self::open`] for a space that may leave one side to the store: `embedder` is
    /// the (model, dimension) its vectors come from wherever they are kept.
    pub fn open_shaped(
        dir: &Path,
        tenant: &str,
        collection: &str,
        embedder: (&str, usize),
        shape: SpaceShape,
        incarnation: Incarnation,
    ) -> Result<Self> {
        let (model, dim) = embedder;
        let params = shape.dense;
        std::fs::create_dir_all(dir)?;
        let lexical = LexicalIndex::open(&dir.join("lexical"))?;
        let wanted = Meta {
            seq: 0,
            model: model.to_owned(),
            dim,
            params,
            epoch: incarnation.created_at,
            generation: incarnation.generation,
            local_vectors: shape.local_vectors,
            local_lexical: shape.local_lexical,
        };
        let stored = read_meta(&dir.join("meta.json"));
        let loaded = match &stored {
            Some(m)
                if Meta {
                    seq: 0,
                    ..m.clone()
                } == wanted =>
            {
                let index = DenseIndex::load(&dir.join("dense.usearch"), dim, params);
                let catalog = std::fs::read(dir.join("catalog.json"))
                    .ok()
                    .and_then(|b| Catalog::from_json(&b).ok());
                match (index, catalog) {
                    (Ok(index), Some(catalog)) => Some(DenseState {
                        index,
                        catalog,
                        seq: m.seq,
                        dirty: false,
                    }),
                    (Err(e), _) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "dense index unreadable; rebuilding");
                        None
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let dense = match loaded {
            Some(d) => d,
            None => {
                if stored.is_some() || !lexical.is_empty() {
                    tracing::info!(dir = %dir.display(), "index space reset; it will be rebuilt from the store");
                }
                lexical.clear()?;
                DenseState {
                    index: DenseIndex::new(dim, params)?,
                    catalog: Catalog::default(),
                    seq: -1,
                    dirty: true,
                }
            }
        };
        Ok(Self {
            tenant: tenant.to_owned(),
            collection: collection.to_owned(),
            dir: dir.to_path_buf(),
            lexical,
            dense: RwLock::new(dense),
            meta: wanted,
            write: Mutex::new(()),
        })
    }

    /// The incarnation of the collection this space was opened for.
    pub fn incarnation(&self) -> Incarnation {
        Incarnation {
            created_at: self.meta.epoch,
            generation: self.meta.generation,
        }
    }

    /// Whether this space keeps vectors itself.
    pub fn keeps_vectors(&self) -> bool {
        self.meta.local_vectors
    }

    /// Refuses a search or write naming another tenant or collection.
    pub fn check(&self, tenant: &str, collection: &str) -> Result<()> {
        if tenant == self.tenant && collection == self.collection {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "index space of `{}/{}` asked for `{tenant}/{collection}`",
                self.tenant, self.collection
            )))
        }
    }

    fn dense_read(&self) -> std::sync::RwLockReadGuard<'_, DenseState> {
        self.dense.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sequence both sides have applied (the lower of the two).
    pub fn applied_seq(&self) -> Result<i64> {
        self.lexical.reload()?;
        Ok(self.lexical.applied_seq()?.min(self.dense_read().seq))
    }

    /// Re-indexes `docs` and drops `removed`, then records `seq` as applied. Idempotent:
    /// applying the same documents twice leaves the same state.
    pub fn apply(&self, removed: &[String], docs: &[DocInput], seq: i64) -> Result<()> {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let removed_refs: Vec<&str> = removed.iter().map(String::as_str).collect();
        let lex_docs: Vec<(&DocAttrs, Vec<ChunkText<'_>>)> = docs
            .iter()
            .map(|d| {
                let chunks = d
                    .chunks
                    .iter()
                    .map(|c| ChunkText {
                        key: chunk_key(&format!("{}:{}", d.attrs.document, c.ordinal)),
                        title: &d.title,
                        heading: &c.heading,
                        body: &c.text,
                    })
                    .collect();
                (&d.attrs, chunks)
            })
            .collect();
        if self.meta.local_lexical {
            self.lexical.apply(&removed_refs, &lex_docs, seq)?;
        } else {
            self.lexical.apply(&[], &[], seq)?;
        }
        let mut dense = self.dense.write().unwrap_or_else(PoisonError::into_inner);
        let state = &mut *dense;
        for doc in removed {
            for key in state.catalog.remove(doc) {
                state.index.remove(key)?;
            }
        }
        let adding: usize = docs.iter().map(|d| d.chunks.len()).sum();
        state.index.reserve(adding)?;
        for d in docs {
            for key in state.catalog.remove(&d.attrs.document) {
                state.index.remove(key)?;
            }
            let ordinals = d.chunks.iter().map(|c| c.ordinal).collect();
            state.catalog.put(d.attrs.clone(), ordinals);
            for c in d.chunks.iter().filter(|_| self.meta.local_vectors) {
                if let Some(v) = &c.vector {
                    let key = chunk_key(&format!("{}:{}", d.attrs.document, c.ordinal));
                    state.index.upsert(key, v)?;
                }
            }
        }
        state.seq = seq;
        state.dirty = true;
        Ok(())
    }

    /// Records `seq` as applied without changes (nothing to do up to it).
    pub fn advance(&self, seq: i64) -> Result<()> {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        self.lexical.apply(&[], &[], seq)?;
        let mut dense = self.dense.write().unwrap_or_else(PoisonError::into_inner);
        dense.seq = seq;
        dense.dirty = true;
        Ok(())
    }

    /// Writes the dense index, catalog and meta if they changed since the last save.
    pub fn persist(&self) -> Result<()> {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut dense = self.dense.write().unwrap_or_else(PoisonError::into_inner);
        if !dense.dirty {
            return Ok(());
        }
        dense.index.save(&self.dir.join("dense.usearch"))?;
        let catalog = dense
            .catalog
            .to_json()
            .map_err(|e| Error::Io(format!("serializing the catalog: {e}")))?;
        write_atomic(&self.dir.join("catalog.json"), &catalog)?;
        let meta = Meta {
            seq: dense.seq,
            ..self.meta.clone()
        };
        let bytes =
            serde_json::to_vec(&meta).map_err(|e| Error::Io(format!("serializing meta: {e}")))?;
        write_atomic(&self.dir.join("meta.json"), &bytes)?;
        dense.dirty = false;
        Ok(())
    }

    /// Where a key points, if it is indexed.
    pub fn resolve(&self, key: u64) -> Option<ChunkRef> {
        self.dense_read().catalog.get(key).cloned()
    }

    /// The stored vectors of `keys` (`None` where a key has none).
    pub fn vectors(&self, keys: &[u64]) -> Vec<Option<Vec<f32>>> {
        let dense = self.dense_read();
        keys.iter().map(|&k| dense.index.vector(k)).collect()
    }

    /// BM25 top-`k` among the chunks `filter` admits.
    pub fn search_lexical(
        &self,
        query: &str,
        filter: &SearchFilter,
        k: usize,
    ) -> Result<Vec<(u64, f32)>> {
        let hits = self.lexical.search(query, filter, k)?;
        let dense = self.dense_read();
        Ok(hits
            .into_iter()
            .filter(|(key, _)| dense.catalog.get(*key).is_some())
            .collect())
    }

    /// Plain single-field BM25 (benchmarks only; no filters).
    pub fn search_body(&self, query: &str, k: usize) -> Result<Vec<(u64, f32)>> {
        self.lexical.search_body(query, k)
    }

    /// Nearest chunks to `vector` among those `filter` admits, as (key, cosine).
    pub fn search_dense(
        &self,
        vector: &[f32],
        filter: &SearchFilter,
        k: usize,
        ef: Option<usize>,
    ) -> Result<Vec<(u64, f32)>> {
        let dense = self.dense_read();
        if vector.len() != dense.index.dim() {
            return Err(Error::Invalid(format!(
                "query vector has {} dimensions, the index {}",
                vector.len(),
                dense.index.dim()
            )));
        }
        if let Some(ef) = ef {
            dense.index.set_expansion_search(ef);
        }
        let catalog = &dense.catalog;
        if !filter.is_open() {
            let allowed: Vec<u64> = catalog
                .iter()
                .filter(|(_, r)| filter.matches(&r.doc))
                .map(|(k, _)| *k)
                .take(EXACT_SCAN_LIMIT + 1)
                .collect();
            if allowed.len() <= EXACT_SCAN_LIMIT {
                return dense.index.exact(vector, allowed.into_iter(), k);
            }
        }
        let admit = |key: u64| catalog.get(key).is_some_and(|r| filter.matches(&r.doc));
        dense.index.search(vector, k, Some(&admit))
    }

    /// The dense index's exact top-`k` over every indexed chunk (bench ground truth).
    pub fn exact_dense(&self, vector: &[f32], k: usize) -> Result<Vec<(u64, f32)>> {
        let dense = self.dense_read();
        let keys: Vec<u64> = dense.catalog.iter().map(|(k, _)| *k).collect();
        dense.index.exact(vector, keys.into_iter(), k)
    }

    /// Bytes this space holds in memory: the HNSW graph and vectors, and the catalog
    /// (the lexical index is memory-mapped: the page cache holds it, not the heap).
    pub fn memory_bytes(&self) -> usize {
        /// Per chunk in the catalog: its key entry and its document's ordinal.
        const CATALOG_BYTES_PER_CHUNK: usize = 96;
        let dense = self.dense_read();
        dense.index.memory_usage() + dense.catalog.len() * CATALOG_BYTES_PER_CHUNK
    }

    pub fn status(&self) -> Result<SpaceStatus> {
        let dense = self.dense_read();
        Ok(SpaceStatus {
            lexical_seq: self.lexical.applied_seq()?,
            dense_seq: dense.seq,
            documents: dense.catalog.documents(),
            chunks: dense.catalog.len(),
            vectors: dense.index.len(),
            model: self.meta.model.clone(),
            dim: self.meta.dim,
            dense_bytes: dense.index.memory_usage(),
        })
    }
}
