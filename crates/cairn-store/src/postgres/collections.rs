//! Collections: named document sets inside a tenant, with their chunking settings.
//! Deleting one cascades (foreign keys) to its documents, their chunks and idempotency
//! keys, and its jobs.
//!
//! Two nodes creating the same collection at once: the primary key decides, the second
//! insert fails with `Conflict` as it would after the first committed.

use super::rows::collection;
use super::{PostgresStore, db, insert_err, not_found};
use crate::Result;
use crate::columns::{COLLECTION_COLS, to_json};
use crate::repo::CollectionRepo;
use cairn_types::{ChunkingSpec, Collection, CollectionId, TenantId};

impl CollectionRepo for PostgresStore {
    fn create_collection(
        &self,
        tenant: &TenantId,
        id: &CollectionId,
        description: &str,
        chunking: &ChunkingSpec,
        now: i64,
    ) -> Result<Collection> {
        let chunking_json = to_json(chunking)?;
        self.write(
            &format!("creating collection `{id}` in tenant `{tenant}`"),
            |tx| {
                tx.execute(
                    "INSERT INTO collections(tenant_id, id, description, chunking, created_at)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[
                        &tenant.as_str(),
                        &id.as_str(),
                        &description,
                        &chunking_json,
                        &now,
                    ],
                )
                .map_err(|e| {
                    insert_err(
                        e,
                        || format!("collection `{id}` already exists in tenant `{tenant}`"),
                        || format!("tenant `{tenant}`"),
                    )
                })?;
                Ok(())
            },
        )?;
        Ok(Collection {
            tenant: tenant.clone(),
            id: id.clone(),
            description: description.to_owned(),
            chunking: chunking.clone(),
            created_at: now,
            generation: 0,
        })
    }

    fn get_collection(&self, tenant: &TenantId, id: &CollectionId) -> Result<Collection> {
        self.read(
            &format!("reading collection `{id}` in tenant `{tenant}`"),
            |client| {
                let row = client
                    .query_opt(
                        &format!(
                            "SELECT {COLLECTION_COLS} FROM collections
                             WHERE tenant_id = $1 AND id = $2"
                        ),
                        &[&tenant.as_str(), &id.as_str()],
                    )
                    .map_err(db)?
                    .ok_or_else(|| not_found(format!("collection `{id}` in tenant `{tenant}`")))?;
                collection(&row)
            },
        )
    }

    fn list_collections(&self, tenant: &TenantId) -> Result<Vec<Collection>> {
        self.read(
            &format!("listing collections of tenant `{tenant}`"),
            |client| {
                client
                    .query(
                        &format!(
                            "SELECT {COLLECTION_COLS} FROM collections
                             WHERE tenant_id = $1 ORDER BY id"
                        ),
                        &[&tenant.as_str()],
                    )
                    .map_err(db)?
                    .iter()
                    .map(collection)
                    .collect()
            },
        )
    }

    fn delete_collection(&self, tenant: &TenantId, id: &CollectionId) -> Result<()> {
        self.write(
            &format!("deleting collection `{id}` in tenant `{tenant}`"),
            |tx| {
                let n = tx
                    .execute(
                        "DELETE FROM collections WHERE tenant_id = $1 AND id = $2",
                        &[&tenant.as_str(), &id.as_str()],
                    )
                    .map_err(db)?;
                if n == 0 {
                    return Err(not_found(format!("collection `{id}` in tenant `{tenant}`")));
                }
                // The collection's index space is dropped with it. A commit racing this
                // delete cannot leave a change behind: one that wrote first holds its
                // document row, so the cascade above waited for it to commit and this
                // statement (a fresh snapshot) sees its change; one that comes later
                // waits on the rows deleted here (the collection row for a new document,
                // the cascaded document row for a replacement) and then fails its
                // foreign key check.
                tx.execute(
                    "DELETE FROM index_changes WHERE tenant_id = $1 AND collection_id = $2",
                    &[&tenant.as_str(), &id.as_str()],
                )
                .map_err(db)?;
                Ok(())
            },
        )
    }
}
