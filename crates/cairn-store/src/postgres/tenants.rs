//! Tenants: the unit of isolation. Every other table's rows hang off one.

use super::rows::tenant;
use super::{PostgresStore, db, not_found};
use crate::Result;
use crate::columns::TENANT_COLS;
use crate::repo::TenantRepo;
use cairn_types::{Tenant, TenantId};

impl TenantRepo for PostgresStore {
    fn ensure_tenant(&self, id: &TenantId, name: &str, now: i64) -> Result<Tenant> {
        self.write(&format!("ensuring tenant `{id}`"), |tx| {
            tx.execute(
                "INSERT INTO tenants(tenant_id, name, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT(tenant_id) DO NOTHING",
                &[&id.as_str(), &name, &now],
            )
            .map_err(db)?;
            let row = tx
                .query_one(
                    &format!("SELECT {TENANT_COLS} FROM tenants WHERE tenant_id = $1"),
                    &[&id.as_str()],
                )
                .map_err(db)?;
            tenant(&row)
        })
    }

    fn get_tenant(&self, id: &TenantId) -> Result<Tenant> {
        self.read(&format!("reading tenant `{id}`"), |client| {
            let row = client
                .query_opt(
                    &format!("SELECT {TENANT_COLS} FROM tenants WHERE tenant_id = $1"),
                    &[&id.as_str()],
                )
                .map_err(db)?
                .ok_or_else(|| not_found(format!("tenant `{id}`")))?;
            tenant(&row)
        })
    }

    fn list_tenants(&self) -> Result<Vec<Tenant>> {
        self.read("listing tenants", |client| {
            client
                .query(
                    &format!("SELECT {TENANT_COLS} FROM tenants ORDER BY tenant_id"),
                    &[],
                )
                .map_err(db)?
                .iter()
                .map(tenant)
                .collect()
        })
    }
}
