//! Collections.

use super::rows::to_json;
use super::{SqliteStore, db, not_found};
use crate::repo::CollectionRepo;
use crate::{Error, Result};
use cairn_types::{ChunkingSpec, Collection, CollectionId, TenantId};
use rusqlite::OptionalExtension;

const COLS: &str = "tenant_id, id, description, chunking, created_at";

fn collection(r: &rusqlite::Row<'_>) -> rusqlite::Result<Collection> {
    let chunking: String = r.get(3)?;
    Ok(Collection {
        tenant: TenantId::new(r.get::<_, String>(0)?),
        id: CollectionId::new(r.get::<_, String>(1)?),
        description: r.get(2)?,
        chunking: serde_json::from_str(&chunking).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, e.into())
        })?,
        created_at: r.get(4)?,
    })
}

impl CollectionRepo for SqliteStore {
    fn create_collection(
        &self,
        tenant: &TenantId,
        id: &CollectionId,
        description: &str,
        chunking: &ChunkingSpec,
        now: i64,
    ) -> Result<Collection> {
        let conn = self.conn();
        let n = conn
            .execute(
                "INSERT INTO collections(tenant_id, id, description, chunking, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(tenant_id, id) DO NOTHING",
                (tenant.as_str(), id.as_str(), description, to_json(chunking)?, now),
            )
            .map_err(|e| match db(e) {
                Error::Conflict(m) => Error::NotFound { what: format!("tenant `{tenant}` ({m})") },
                other => other,
            })?;
        if n == 0 {
            return Err(Error::Conflict(format!("collection `{id}` already exists in tenant `{tenant}`")));
        }
        Ok(Collection {
            tenant: tenant.clone(),
            id: id.clone(),
            description: description.to_owned(),
            chunking: chunking.clone(),
            created_at: now,
        })
    }

    fn get_collection(&self, tenant: &TenantId, id: &CollectionId) -> Result<Collection> {
        self.conn()
            .query_row(
                &format!("SELECT {COLS} FROM collections WHERE tenant_id = ?1 AND id = ?2"),
                (tenant.as_str(), id.as_str()),
                collection,
            )
            .optional()
            .map_err(db)?
            .ok_or_else(|| not_found(format!("collection `{id}` in tenant `{tenant}`")))
    }

    fn list_collections(&self, tenant: &TenantId) -> Result<Vec<Collection>> {
        let conn = self.conn();
        let mut st = conn
            .prepare(&format!("SELECT {COLS} FROM collections WHERE tenant_id = ?1 ORDER BY id"))
            .map_err(db)?;
        let rows = st.query_map([tenant.as_str()], collection).map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    fn delete_collection(&self, tenant: &TenantId, id: &CollectionId) -> Result<()> {
        // Foreign keys cascade to documents, chunks and jobs.
        let n = self
            .conn()
            .execute("DELETE FROM collections WHERE tenant_id = ?1 AND id = ?2", (tenant.as_str(), id.as_str()))
            .map_err(db)?;
        if n == 0 {
            return Err(not_found(format!("collection `{id}` in tenant `{tenant}`")));
        }
        Ok(())
    }
}
