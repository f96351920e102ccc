//! Cairn's search indexes: one [`IndexSpace`] per tenant and collection, holding a
//! tantivy BM25 index ([`lexical`]) and a usearch HNSW graph over normalized embeddings
//! ([`dense`]), plus the [`catalog`] of per-document attributes the dense side filters on.
//!
//! The store is the truth. A space records the last change-log sequence each side has
//! applied (tantivy commit payload; `dense.meta.json`), and catching up re-indexes every
//! document changed since, which is idempotent: a crash at any point loses nothing, and a
//! space that cannot be opened is wiped and rebuilt from the store by the caller.
//!
//! Invariants:
//! - A space belongs to exactly one tenant and collection; every search names the tenant
//!   and is refused by a space of another one.
//! - Filters (ACL principals, source, type, tags, date) are applied inside the search:
//!   as a tantivy clause on the lexical side and as the HNSW traversal predicate (or an
//!   exact scan when the filter is very selective) on the dense side, so a filtered-out
//!   chunk never takes a slot in the top-k.
//! - No SQL and no model code here: callers hand in documents, chunks and vectors.

mod analyze;
pub mod catalog;
pub mod dense;
mod error;
pub mod filter;
pub mod fusion;
mod key;
pub mod lexical;
mod space;

pub use analyze::search_terms;
pub use catalog::DocAttrs;
pub use dense::DenseParams;
pub use error::{Error, Result};
pub use filter::{Access, SearchFilter};
pub use fusion::{Fused, rrf, rrf_weighted, weighted};
pub use key::chunk_key;
pub use space::{
    ChunkInput, DocInput, Incarnation, IndexSpace, SpaceShape, SpaceStatus, recorded_embedder,
};
