//! What a sync brings up to date: a server's own [`IndexSpace`], or the collection's
//! shared space in the store (`index::shared`). Both follow the same change log with the
//! same catch-up and rebuild steps.

use crate::Result;
use cairn_index::{DocInput, IndexSpace};

pub(crate) trait SyncTarget {
    /// The change-log sequence applied (-1: never built).
    fn applied_seq(&self) -> Result<i64>;
    /// Re-indexes `docs`, drops `removed`, records `seq` (a negative one: still building).
    fn apply(&self, removed: &[String], docs: &[DocInput], seq: i64) -> Result<()>;
    /// Records `seq` as applied with nothing to change.
    fn advance(&self, seq: i64) -> Result<()>;
    /// Makes what was applied durable.
    fn persist(&self) -> Result<()>;
    /// Whether it keeps vectors (chunks stored without one are embedded for it).
    fn wants_vectors(&self) -> bool;
}

impl SyncTarget for IndexSpace {
    fn applied_seq(&self) -> Result<i64> {
        Ok(IndexSpace::applied_seq(self)?)
    }

    fn apply(&self, removed: &[String], docs: &[DocInput], seq: i64) -> Result<()> {
        Ok(IndexSpace::apply(self, removed, docs, seq)?)
    }

    fn advance(&self, seq: i64) -> Result<()> {
        Ok(IndexSpace::advance(self, seq)?)
    }

    fn persist(&self) -> Result<()> {
        Ok(IndexSpace::persist(self)?)
    }

    fn wants_vectors(&self) -> bool {
        self.keeps_vectors()
    }
}
