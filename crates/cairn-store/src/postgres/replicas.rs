//! Index replica positions and change log pruning on PostgreSQL (see `crate::replica`).
//! Pruning runs as a singleton duty, but is safe anyway: the floor only rises
//! (`GREATEST`), and a change appended while it runs has a higher sequence than any
//! replica has applied, so it is never deleted.

use super::rows::get;
use super::{PostgresStore, db, insert_err};
use crate::Result;
use crate::replica::{PruneReport, ReplicaRepo};
use cairn_types::{CollectionId, TenantId};

impl ReplicaRepo for PostgresStore {
    fn report_replica(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        replica: &str,
        applied: i64,
        now: i64,
    ) -> Result<()> {
        self.write("recording an index replica's position", |tx| {
            tx.execute(
                "INSERT INTO index_replicas(tenant_id, collection_id, replica, applied_seq, seen_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT(tenant_id, collection_id, replica)
                 DO UPDATE SET applied_seq = excluded.applied_seq, seen_at = excluded.seen_at",
                &[&tenant.as_str(), &collection.as_str(), &replica, &applied, &now],
            )
            .map_err(|e| {
                insert_err(
                    e,
                    || format!("replica `{replica}`"),
                    || format!("collection `{collection}` in tenant `{tenant}`"),
                )
            })?;
            Ok(())
        })
    }

    fn index_log_floor(&self, tenant: &TenantId, collection: &CollectionId) -> Result<i64> {
        self.read("reading the index log floor", |client| {
            let row = client
                .query_one(
                    "SELECT COALESCE(MAX(pruned_through), 0) FROM index_log_floor
                     WHERE tenant_id = $1 AND collection_id = $2",
                    &[&tenant.as_str(), &collection.as_str()],
                )
                .map_err(db)?;
            get(&row, 0, "pruned_through")
        })
    }

    fn prune_index_changes(&self, live_since: i64) -> Result<PruneReport> {
        self.write("pruning the index change log", |tx| {
            let forgotten = tx
                .execute(
                    "DELETE FROM index_replicas WHERE seen_at < $1",
                    &[&live_since],
                )
                .map_err(db)?;
            tx.execute(
                "INSERT INTO index_log_floor(tenant_id, collection_id, pruned_through)
                 SELECT tenant_id, collection_id, MIN(applied_seq) FROM index_replicas
                 GROUP BY tenant_id, collection_id
                 ON CONFLICT(tenant_id, collection_id)
                 DO UPDATE SET pruned_through =
                    GREATEST(index_log_floor.pruned_through, excluded.pruned_through)",
                &[],
            )
            .map_err(db)?;
            let changes = tx
                .execute(
                    "DELETE FROM index_changes c USING index_log_floor f
                     WHERE f.tenant_id = c.tenant_id AND f.collection_id = c.collection_id
                       AND c.seq <= f.pruned_through",
                    &[],
                )
                .map_err(db)?;
            Ok(PruneReport {
                changes: usize::try_from(changes).unwrap_or(usize::MAX),
                replicas_forgotten: usize::try_from(forgotten).unwrap_or(usize::MAX),
            })
        })
    }
}
