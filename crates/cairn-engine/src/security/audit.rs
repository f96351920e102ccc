//! Appending to and verifying the audit log.

use crate::engine::now_ms;
use crate::{Engine, Result};
use cairn_auth::audit::{ChainReport, GENESIS_HASH, entry_hash, verify_chain};
use cairn_store::{AuditDraft, AuditRecord, AuditRepo};
use cairn_types::TenantId;

/// One event to record.
#[derive(Clone, Debug)]
pub struct AuditEvent<'a> {
    pub tenant: &'a TenantId,
    pub actor: &'a str,
    /// Dotted verb: `auth.failure`, `keys.create`, `documents.read`, `guardrail.block`…
    pub action: &'a str,
    pub target: &'a str,
    /// `ok`, `denied`, `blocked`, `error`.
    pub outcome: &'a str,
    pub detail: serde_json::Value,
}

/// Rows read per page while verifying.
const PAGE: usize = 5_000;

impl Engine {
    /// Appends an event to the audit log.
    pub fn audit(&self, ev: AuditEvent<'_>) -> Result<AuditRecord> {
        let draft = AuditDraft {
            at: now_ms(),
            tenant: ev.tenant.to_string(),
            actor: ev.actor.to_owned(),
            action: ev.action.to_owned(),
            target: ev.target.to_owned(),
            outcome: ev.outcome.to_owned(),
            detail: ev.detail,
        };
        let seal = |seq: i64, prev: &str, d: &AuditDraft| {
            entry_hash(
                prev, seq, d.at, &d.tenant, &d.actor, &d.action, &d.target, &d.outcome, &d.detail,
            )
        };
        Ok(self.store.append_audit(&draft, GENESIS_HASH, &seal)?)
    }

    /// [`Self::audit`] for paths that must not fail because auditing did: a failure is
    /// logged loudly instead.
    pub fn audit_or_log(&self, ev: AuditEvent<'_>) {
        let action = ev.action.to_owned();
        if let Err(e) = self.audit(ev) {
            tracing::error!(%action, error = %e, "could not append to the audit log");
        }
    }

    /// Recomputes the whole chain: every row's hash, the links, gaps in the sequence
    /// (deleted rows) and the stored head (a truncated tail).
    pub fn verify_audit(&self) -> Result<ChainReport> {
        verify_audit_chain(self.store.as_ref())
    }

    /// A tenant's audit rows, newest first.
    pub fn tenant_audit(&self, tenant: &TenantId, limit: usize) -> Result<Vec<AuditRecord>> {
        Ok(self.store.tenant_audit(tenant, limit.clamp(1, 10_000))?)
    }
}

/// [`Engine::verify_audit`] over any store's chain (`cairn migrate --from-sqlite`
/// checks the copy and its source without an engine).
pub fn verify_audit_chain<S: AuditRepo + ?Sized>(store: &S) -> Result<ChainReport> {
    let head = store.audit_head()?;
    let mut rows = Vec::new();
    let mut after = 0;
    loop {
        let page = store.audit_rows(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let n = page.len();
        rows.extend(page);
        if n < PAGE {
            break;
        }
    }
    let anchor = head.as_ref().map(|(s, h)| (*s, h.as_str()));
    Ok(verify_chain(rows, anchor))
}
