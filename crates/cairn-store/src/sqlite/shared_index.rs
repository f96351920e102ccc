//! The embedded store keeps no shared search state: its one server searches its own
//! tantivy and usearch indexes. Configuration refuses the shared backends with SQLite
//! before anything reaches here; these answers are the last line.

use super::SqliteStore;
use crate::shared_index::{
    SharedCounts, SharedDoc, SharedFilter, SharedIndexRepo, SharedSpace, VectorHits,
};
use crate::{Error, Result};
use cairn_types::{CollectionId, TenantId};

fn unsupported<T>() -> Result<T> {
    Err(Error::Database(
        "shared search state (retrieval.dense_backend = \"pgvector\", \
         retrieval.lexical_backend = \"postgres\") needs store.backend = \"postgres\""
            .into(),
    ))
}

impl SharedIndexRepo for SqliteStore {
    fn with_shared_lock(&self, _: &TenantId, _: &CollectionId, _: &mut dyn FnMut()) -> Result<()> {
        unsupported()
    }

    fn shared_position(&self, _: &SharedSpace<'_>) -> Result<i64> {
        unsupported()
    }

    fn shared_current(&self, _: &SharedSpace<'_>) -> Result<Option<i64>> {
        unsupported()
    }

    fn shared_apply(
        &self,
        _: &SharedSpace<'_>,
        _: &[String],
        _: &[SharedDoc],
        _: i64,
    ) -> Result<()> {
        unsupported()
    }

    fn shared_vector_search(
        &self,
        _: &SharedSpace<'_>,
        _: &[f32],
        _: &SharedFilter,
        _: usize,
        _: usize,
    ) -> Result<VectorHits> {
        unsupported()
    }

    fn shared_text_search(
        &self,
        _: &SharedSpace<'_>,
        _: &[String],
        _: &SharedFilter,
        _: usize,
    ) -> Result<Vec<(u64, f32)>> {
        unsupported()
    }

    fn shared_vectors(
        &self,
        _: &TenantId,
        _: &CollectionId,
        _: &[u64],
    ) -> Result<Vec<Option<Vec<f32>>>> {
        unsupported()
    }

    fn shared_counts(&self, _: &TenantId, _: &CollectionId) -> Result<SharedCounts> {
        unsupported()
    }
}
