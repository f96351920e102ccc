//! GDPR: export everything of one user, or erase it.

use super::AuditEvent;
use crate::{Engine, Result};
use cairn_store::{ErasureReport, UserExport};
use cairn_types::TenantId;

impl Engine {
    /// Everything stored of `user` in `tenant`: user row, keys (without hashes),
    /// conversations with messages, answers, feedback, and uploads with their text.
    pub fn export_user(&self, tenant: &TenantId, user: &str, actor: &str) -> Result<UserExport> {
        let export = self.store.export_owner(tenant, user)?;
        self.audit_or_log(AuditEvent {
            tenant,
            actor,
            action: "users.export",
            target: user,
            outcome: "ok",
            detail: serde_json::json!({
                "conversations": export.conversations.len(),
                "answers": export.answers.len(),
                "documents": export.documents.len(),
            }),
        });
        Ok(export)
    }

    /// Erases everything of `user` in `tenant` in one transaction, then brings the
    /// search indexes of the affected collections up to date so none of their chunks
    /// can be found any more. The audit log keeps the fact of the erasure (counts only).
    /// `Conflict` (audited as denied) while the tenant or the user is under legal hold.
    pub fn erase_user(&self, tenant: &TenantId, user: &str, actor: &str) -> Result<ErasureReport> {
        let report = match self.store.erase_owner(tenant, user) {
            Ok(r) => r,
            Err(cairn_store::Error::Conflict(why)) => {
                self.audit_or_log(AuditEvent {
                    tenant,
                    actor,
                    action: "users.erase",
                    target: user,
                    outcome: "denied",
                    detail: serde_json::json!({"reason": why}),
                });
                return Err(cairn_store::Error::Conflict(why).into());
            }
            Err(e) => return Err(e.into()),
        };
        for c in &report.collections {
            // A deleted conversation's attachment collection goes whole.
            if crate::answer::attachments::is_attachments_collection(c.as_str()) {
                self.delete_collection(tenant, c)?;
            } else {
                self.sync_index(tenant, c)?;
            }
        }
        self.audit_or_log(AuditEvent {
            tenant,
            actor,
            action: "users.erase",
            target: user,
            outcome: "ok",
            detail: serde_json::to_value(&report).unwrap_or_default(),
        });
        Ok(report)
    }
}
