//! Tenants: the unit of isolation. Every other table's rows hang off one.

use super::rows::{TENANT_COLS, tenant};
use super::{SqliteStore, db, not_found};
use crate::Result;
use crate::repo::TenantRepo;
use cairn_types::{Tenant, TenantId};
use rusqlite::OptionalExtension;

impl TenantRepo for SqliteStore {
    fn ensure_tenant(&self, id: &TenantId, name: &str, now: i64) -> Result<Tenant> {
        self.write(&format!("ensuring tenant `{id}`"), |tx| {
            tx.execute(
                "INSERT INTO tenants(tenant_id, name, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(tenant_id) DO NOTHING",
                (id.as_str(), name, now),
            )
            .map_err(db)?;
            tx.query_row(
                &format!("SELECT {TENANT_COLS} FROM tenants WHERE tenant_id = ?1"),
                [id.as_str()],
                tenant,
            )
            .map_err(db)
        })
    }

    fn get_tenant(&self, id: &TenantId) -> Result<Tenant> {
        self.read(&format!("reading tenant `{id}`"), |conn| {
            conn.query_row(
                &format!("SELECT {TENANT_COLS} FROM tenants WHERE tenant_id = ?1"),
                [id.as_str()],
                tenant,
            )
            .optional()
            .map_err(db)?
            .ok_or_else(|| not_found(format!("tenant `{id}`")))
        })
    }

    fn list_tenants(&self) -> Result<Vec<Tenant>> {
        self.read("listing tenants", |conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {TENANT_COLS} FROM tenants ORDER BY tenant_id"
                ))
                .map_err(db)?;
            let rows = st.query_map([], tenant).map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }
}
