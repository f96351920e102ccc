//! Retention: each tenant's periods (the configured `[retention]` overlaid with the
//! tenant's `retention` settings) and the sweep that deletes what expired.
//!
//! The store deletes a tenant's expired rows in one transaction (documents through the
//! index change log, like `delete_document`); the sweep then syncs the collections that
//! lost documents so their lexical and dense indexes drop the chunks at once. Should
//! that sync fail (e.g. no embedding model on this machine), nothing expired is served
//! anyway: every search syncs first and hydration drops keys the store no longer has.

use super::AuditEvent;
use crate::{Engine, Error, Result};
use cairn_config::{Config, RetentionPeriods};
use cairn_store::{RetentionCutoffs, SweepCounts};
use cairn_types::{ErrorCode, TenantId};
use serde::Serialize;
use serde_json::Value;

const DAY_MS: i64 = 86_400_000;

/// A tenant's effective retention periods: `config`'s `[retention]` overlaid with the
/// `retention` object of its stored settings (`{"retention": {"answers_days": 30}}`).
/// Errors name the key at fault.
pub fn retention_for(config: &Config, stored: Option<&Value>) -> Result<RetentionPeriods> {
    let bad = |m: String| Error::new(ErrorCode::InvalidInput, m);
    let mut periods = serde_json::to_value(config.retention.periods())
        .map_err(|e| bad(format!("retention: {e}")))?;
    if let Some(over) = stored.and_then(|s| s.get("retention")) {
        let (Value::Object(base), Value::Object(over)) = (&mut periods, over) else {
            return Err(bad(
                "retention must be an object of periods in days, e.g. {\"answers_days\": 30}"
                    .into(),
            ));
        };
        for (k, v) in over {
            base.insert(k.clone(), v.clone());
        }
    }
    let periods: RetentionPeriods =
        serde_json::from_value(periods).map_err(|e| bad(format!("retention: {e}")))?;
    periods
        .check()
        .map_err(|(key, message)| bad(format!("{key}: {message}")))?;
    Ok(periods)
}

/// The cutoff times of `periods` at `now` (a period of 0 keeps that kind forever).
pub fn cutoffs(periods: &RetentionPeriods, now: i64) -> RetentionCutoffs {
    let at = |days: u32| (days > 0).then(|| now.saturating_sub(i64::from(days) * DAY_MS));
    RetentionCutoffs {
        conversations: at(periods.conversations_days),
        answers: at(periods.answers_days),
        feedback: at(periods.feedback_days),
        logs: at(periods.logs_days),
        documents: at(periods.documents_days),
    }
}

/// What a sweep did in one tenant.
#[derive(Clone, Debug, Serialize)]
pub struct TenantSweep {
    pub tenant: TenantId,
    pub periods: Option<RetentionPeriods>,
    /// What was deleted.
    pub deleted: SweepCounts,
    /// Why nothing was deleted (`tenant X is under legal hold`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// A failure in this tenant (the sweep goes on with the others).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Indexes that could not be synced now (the next search syncs them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub index_errors: Vec<String>,
}

/// What a whole sweep did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SweepReport {
    pub at: i64,
    pub tenants: Vec<TenantSweep>,
}

impl SweepReport {
    /// Rows deleted in every tenant.
    pub fn deleted(&self) -> usize {
        self.tenants.iter().map(|t| t.deleted.total()).sum()
    }
}

impl Engine {
    /// The tenant's effective retention periods.
    pub fn tenant_retention(&self, tenant: &TenantId) -> Result<RetentionPeriods> {
        let stored = self.store.tenant_settings(tenant)?;
        retention_for(&self.config, stored.as_ref())
    }

    /// Deletes, in every tenant, what is older than its retention periods at `now`
    /// (Unix ms): conversations, answers, feedback, audit-exempt logs, documents (their
    /// indexes follow). Tenants under legal hold are skipped, rows of held users kept.
    /// Each tenant that lost rows gets a `retention.sweep` audit event.
    pub fn sweep_retention(&self, now: i64) -> Result<SweepReport> {
        let mut report = SweepReport {
            at: now,
            tenants: Vec::new(),
        };
        for t in self.store.list_tenants()? {
            report.tenants.push(self.sweep_tenant(&t.id, now));
        }
        Ok(report)
    }

    fn sweep_tenant(&self, tenant: &TenantId, now: i64) -> TenantSweep {
        let mut out = TenantSweep {
            tenant: tenant.clone(),
            periods: None,
            deleted: SweepCounts::default(),
            skipped: None,
            error: None,
            index_errors: Vec::new(),
        };
        let periods = match self.tenant_retention(tenant) {
            Ok(p) => p,
            Err(e) => {
                out.error = Some(format!("unusable retention settings: {}", e.message));
                return out;
            }
        };
        out.periods = Some(periods);
        let cut = cutoffs(&periods, now);
        if cut.is_empty() {
            return out;
        }
        match self.store.sweep_expired(tenant, &cut) {
            Ok(d) => out.deleted = d,
            Err(cairn_store::Error::Conflict(why)) => {
                out.skipped = Some(why);
                return out;
            }
            Err(e) => {
                tracing::error!(%tenant, error = %e, "retention sweep failed");
                out.error = Some(e.to_string());
                return out;
            }
        }
        // Files attached to conversations that expired go with them.
        if out.deleted.conversations > 0
            && let Err(e) = self.prune_attachments(tenant)
        {
            tracing::warn!(%tenant, error = %e.message,
                "attachments of expired conversations not deleted; the next sweep retries");
            out.index_errors.push(format!("attachments: {}", e.message));
        }
        for c in &out.deleted.collections {
            if let Err(e) = self.sync_index(tenant, c) {
                tracing::warn!(%tenant, collection = %c, error = %e.message,
                    "index not synced after the retention sweep; the next search syncs it");
                out.index_errors.push(format!("{c}: {}", e.message));
            }
        }
        if out.deleted.total() > 0 {
            self.audit_or_log(AuditEvent {
                tenant,
                actor: "system",
                action: "retention.sweep",
                target: tenant.as_str(),
                outcome: "ok",
                detail: serde_json::json!({"deleted": out.deleted, "periods": periods}),
            });
        }
        out
    }
}
