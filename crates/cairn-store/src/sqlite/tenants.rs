//! Tenants and collections' parent rows.

use super::{SqliteStore, db, not_found};
use crate::Result;
use crate::repo::TenantRepo;
use cairn_types::{Tenant, TenantId};
use rusqlite::OptionalExtension;

fn tenant(r: &rusqlite::Row<'_>) -> rusqlite::Result<Tenant> {
    Ok(Tenant { id: TenantId::new(r.get::<_, String>(0)?), name: r.get(1)?, created_at: r.get(2)? })
}

impl TenantRepo for SqliteStore {
    fn ensure_tenant(&self, id: &TenantId, name: &str, now: i64) -> Result<Tenant> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO tenants(id, name, created_at) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO NOTHING",
            (id.as_str(), name, now),
        )
        .map_err(db)?;
        conn.query_row("SELECT id, name, created_at FROM tenants WHERE id = ?1", [id.as_str()], tenant)
            .map_err(db)
    }

    fn get_tenant(&self, id: &TenantId) -> Result<Tenant> {
        self.conn()
            .query_row("SELECT id, name, created_at FROM tenants WHERE id = ?1", [id.as_str()], tenant)
            .optional()
            .map_err(db)?
            .ok_or_else(|| not_found(format!("tenant `{id}`")))
    }

    fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT id, name, created_at FROM tenants ORDER BY id").map_err(db)?;
        let rows = st.query_map([], tenant).map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }
}
