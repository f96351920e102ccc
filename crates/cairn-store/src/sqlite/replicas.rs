//! Index replica positions and change log pruning on SQLite (see `crate::replica`).

use super::{SqliteStore, db, insert_err};
use crate::Result;
use crate::replica::{PruneReport, ReplicaRepo};
use cairn_types::{CollectionId, TenantId};

impl ReplicaRepo for SqliteStore {
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
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(tenant_id, collection_id, replica)
                 DO UPDATE SET applied_seq = excluded.applied_seq, seen_at = excluded.seen_at",
                (tenant.as_str(), collection.as_str(), replica, applied, now),
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
        self.read("reading the index log floor", |conn| {
            conn.query_row(
                "SELECT COALESCE(MAX(pruned_through), 0) FROM index_log_floor
                 WHERE tenant_id = ?1 AND collection_id = ?2",
                (tenant.as_str(), collection.as_str()),
                |r| r.get(0),
            )
            .map_err(db)
        })
    }

    fn prune_index_changes(&self, live_since: i64) -> Result<PruneReport> {
        self.write("pruning the index change log", |tx| {
            let replicas_forgotten = tx
                .execute(
                    "DELETE FROM index_replicas WHERE seen_at < ?1",
                    [live_since],
                )
                .map_err(db)?;
            tx.execute(
                "INSERT INTO index_log_floor(tenant_id, collection_id, pruned_through)
                 SELECT tenant_id, collection_id, MIN(applied_seq) FROM index_replicas
                 WHERE true GROUP BY tenant_id, collection_id
                 ON CONFLICT(tenant_id, collection_id)
                 DO UPDATE SET pruned_through = MAX(pruned_through, excluded.pruned_through)",
                [],
            )
            .map_err(db)?;
            let changes = tx
                .execute(
                    "DELETE FROM index_changes WHERE seq <= (
                        SELECT f.pruned_through FROM index_log_floor f
                        WHERE f.tenant_id = index_changes.tenant_id
                          AND f.collection_id = index_changes.collection_id)",
                    [],
                )
                .map_err(db)?;
            Ok(PruneReport {
                changes,
                replicas_forgotten,
            })
        })
    }
}
