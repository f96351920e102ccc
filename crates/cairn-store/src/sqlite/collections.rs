//! Collections: named document sets inside a tenant, with their chunking settings.
//! Deleting one cascades (foreign keys) to its documents, their chunks and idempotency
//! keys, and its jobs.

use super::rows::{COLLECTION_COLS, collection, to_json};
use super::{SqliteStore, db, insert_err, not_found};
use crate::Result;
use crate::repo::CollectionRepo;
use cairn_types::{ChunkingSpec, Collection, CollectionId, TenantId};
use rusqlite::OptionalExtension;

impl CollectionRepo for SqliteStore {
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
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                    (
                        tenant.as_str(),
                        id.as_str(),
                        description,
                        &chunking_json,
                        now,
                    ),
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
            |conn| {
                conn.query_row(
                    &format!(
                        "SELECT {COLLECTION_COLS} FROM collections WHERE tenant_id = ?1 AND id = ?2"
                    ),
                    (tenant.as_str(), id.as_str()),
                    collection,
                )
                .optional()
                .map_err(db)?
                .ok_or_else(|| not_found(format!("collection `{id}` in tenant `{tenant}`")))
            },
        )
    }

    fn list_collections(&self, tenant: &TenantId) -> Result<Vec<Collection>> {
        self.read(
            &format!("listing collections of tenant `{tenant}`"),
            |conn| {
                let mut st = conn
                    .prepare_cached(&format!(
                        "SELECT {COLLECTION_COLS} FROM collections WHERE tenant_id = ?1 ORDER BY id"
                    ))
                    .map_err(db)?;
                let rows = st.query_map([tenant.as_str()], collection).map_err(db)?;
                rows.collect::<rusqlite::Result<_>>().map_err(db)
            },
        )
    }

    fn delete_collection(&self, tenant: &TenantId, id: &CollectionId) -> Result<()> {
        self.write(
            &format!("deleting collection `{id}` in tenant `{tenant}`"),
            |tx| {
                let n = tx
                    .execute(
                        "DELETE FROM collections WHERE tenant_id = ?1 AND id = ?2",
                        (tenant.as_str(), id.as_str()),
                    )
                    .map_err(db)?;
                if n == 0 {
                    return Err(not_found(format!("collection `{id}` in tenant `{tenant}`")));
                }
                // The collection's index space is dropped with it.
                tx.execute(
                    "DELETE FROM index_changes WHERE tenant_id = ?1 AND collection_id = ?2",
                    (tenant.as_str(), id.as_str()),
                )
                .map_err(db)?;
                Ok(())
            },
        )
    }
}
