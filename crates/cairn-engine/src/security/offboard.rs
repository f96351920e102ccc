//! Legal holds (set, cleared, listed; each change audited) and tenant offboarding:
//! every stored row of a tenant but the audit chain, and its index directories, with
//! a `tenants.delete` audit event recording what went.

use super::AuditEvent;
use crate::engine::now_ms;
use crate::{Engine, Error, Result};
use cairn_store::{LegalHold, TenantPurge};
use cairn_types::{ErrorCode, TenantId, validate_slug};
use serde::Serialize;
use std::path::PathBuf;

/// What offboarding a tenant removed.
#[derive(Clone, Debug, Serialize)]
pub struct OffboardReport {
    pub tenant: TenantId,
    /// Store rows per kind.
    pub rows: TenantPurge,
    /// Index directories (one per collection) removed from disk.
    pub index_dirs: usize,
}

fn slug(tenant: &TenantId) -> Result<()> {
    validate_slug(tenant.as_str()).map_err(|m| Error::new(ErrorCode::InvalidInput, m))
}

fn held_target(tenant: &TenantId, user: Option<&str>) -> String {
    user.map_or_else(|| tenant.to_string(), |u| format!("{tenant}/{u}"))
}

impl Engine {
    /// Puts the tenant (`user = None`) or one of its users under legal hold: retention
    /// sweeps skip their data, erasure and offboarding refuse.
    pub fn set_legal_hold(
        &self,
        tenant: &TenantId,
        user: Option<&str>,
        reason: &str,
        actor: &str,
    ) -> Result<LegalHold> {
        if user.is_some_and(|u| u.trim().is_empty()) {
            return Err(Error::new(ErrorCode::InvalidInput, "an empty user id"));
        }
        self.ensure_tenant(tenant)?;
        let hold = LegalHold {
            tenant: tenant.clone(),
            user: user.map(str::to_owned),
            reason: reason.to_owned(),
            set_by: actor.to_owned(),
            set_at: now_ms(),
        };
        self.store.put_legal_hold(&hold)?;
        self.audit_or_log(AuditEvent {
            tenant,
            actor,
            action: "legal_hold.set",
            target: &held_target(tenant, user),
            outcome: "ok",
            detail: serde_json::json!({"reason": reason}),
        });
        Ok(hold)
    }

    /// Lifts a legal hold; `NotFound` if there was none.
    pub fn clear_legal_hold(
        &self,
        tenant: &TenantId,
        user: Option<&str>,
        actor: &str,
    ) -> Result<()> {
        self.store.clear_legal_hold(tenant, user)?;
        self.audit_or_log(AuditEvent {
            tenant,
            actor,
            action: "legal_hold.clear",
            target: &held_target(tenant, user),
            outcome: "ok",
            detail: serde_json::json!({}),
        });
        Ok(())
    }

    /// The tenant's legal holds.
    pub fn legal_holds(&self, tenant: &TenantId) -> Result<Vec<LegalHold>> {
        Ok(self.store.legal_holds(tenant)?)
    }

    fn tenant_index_dir(&self, tenant: &TenantId) -> PathBuf {
        self.config.data_dir.join("index").join(tenant.as_str())
    }

    /// Offboards a tenant: deletes every stored row of it (collections, documents,
    /// chunks, jobs, conversations, answers, feedback, users, API keys, usage, settings,
    /// sealed secrets) in one transaction, then its index directories. The audit chain
    /// keeps its rows and gains a `tenants.delete` event with the counts. `Conflict` if
    /// the tenant or one of its users is under legal hold. Re-running after a crash
    /// between the two steps removes the index directories left behind.
    pub fn offboard_tenant(&self, tenant: &TenantId, actor: &str) -> Result<OffboardReport> {
        slug(tenant)?;
        let dir = self.tenant_index_dir(tenant);
        let rows = match self.store.purge_tenant(tenant) {
            Ok(rows) => rows,
            Err(cairn_store::Error::NotFound { .. }) if dir.exists() => TenantPurge::default(),
            Err(e) => {
                let e = Error::from(e);
                if e.code == ErrorCode::Conflict {
                    self.audit_or_log(AuditEvent {
                        tenant,
                        actor,
                        action: "tenants.delete",
                        target: tenant.as_str(),
                        outcome: "denied",
                        detail: serde_json::json!({"reason": e.message}),
                    });
                }
                return Err(e);
            }
        };
        for c in &rows.collection_ids {
            self.drop_index(tenant, c)?;
        }
        let index_dirs = rows.collection_ids.len() + self.remove_tenant_index(&dir)?;
        let report = OffboardReport {
            tenant: tenant.clone(),
            rows,
            index_dirs,
        };
        self.audit_or_log(AuditEvent {
            tenant,
            actor,
            action: "tenants.delete",
            target: tenant.as_str(),
            outcome: "ok",
            detail: serde_json::to_value(&report).unwrap_or_default(),
        });
        Ok(report)
    }

    /// Removes what is left of the tenant's index directory (lock files, spaces of
    /// collections deleted earlier); returns how many space directories it held.
    fn remove_tenant_index(&self, dir: &std::path::Path) -> Result<usize> {
        let io = |e: std::io::Error| {
            Error::new(
                ErrorCode::IndexError,
                format!("removing {}: {e}", dir.display()),
            )
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io(e)),
        };
        let spaces = entries
            .filter_map(std::result::Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .count();
        std::fs::remove_dir_all(dir).map_err(io)?;
        Ok(spaces)
    }
}
