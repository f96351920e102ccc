//! Index replicas and the pruning of the change log they follow. Every server keeps its
//! own index replica of each collection it searches and reports how far it has applied
//! the collection's change log; a periodic duty deletes the changes every live replica
//! has applied, so the log does not grow forever. The highest pruned sequence is kept
//! (the log's floor): a replica behind it (offline while the log moved on) rebuilds from
//! the store instead of catching up, and [`crate::IndexFeedRepo::index_head`] never goes
//! back below it, so a head seen once is never seen again for other contents.

use crate::Result;
use cairn_types::{CollectionId, TenantId};

/// What pruning did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Change log rows deleted.
    pub changes: usize,
    /// Replicas forgotten because they had not reported since the cutoff.
    pub replicas_forgotten: usize,
}

/// Replica positions and change log pruning.
pub trait ReplicaRepo {
    /// Records that `replica` (one server's index directory) has applied the
    /// collection's changes through `applied`, at `now`. `NotFound` for a collection
    /// the tenant does not have.
    fn report_replica(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        replica: &str,
        applied: i64,
        now: i64,
    ) -> Result<()>;
    /// The highest change sequence pruned from the collection's log (0: none).
    fn index_log_floor(&self, tenant: &TenantId, collection: &CollectionId) -> Result<i64>;
    /// Forgets replicas that have not reported since `live_since`, then deletes, for each
    /// collection with a live replica, the changes all its live replicas have applied,
    /// raising its floor. Collections no replica reports on keep their whole log.
    fn prune_index_changes(&self, live_since: i64) -> Result<PruneReport>;
}
