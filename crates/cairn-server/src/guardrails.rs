//! Input guardrails at the API edge, and the audit trail of every guardrail decision.
//! What the tenant's policy blocks never reaches retrieval or a model: it answers
//! `400 guardrail_blocked` with the reason. Flags pass and are logged.

use crate::auth::Identity;
use crate::error::ApiError;
use crate::settings::TenantSettings;
use crate::state::AppState;
use cairn_engine::Engine;
use cairn_engine::security::AuditEvent;
use cairn_guard::{Decision, Verdict};
use cairn_types::ErrorCode;

/// Screens a user's text; `Err` when the policy blocks it.
pub fn screen_input(
    state: &AppState,
    who: &Identity,
    settings: &TenantSettings,
    text: &str,
) -> Result<Vec<Decision>, ApiError> {
    let span = tracing::info_span!(
        "guardrail.input",
        openinference.span.kind = cairn_telemetry::names::kind::GUARDRAIL,
        cairn.decisions = tracing::field::Empty,
        cairn.blocked = tracing::field::Empty,
    );
    let check = span.in_scope(|| settings.guard.check_input(text));
    span.record("cairn.decisions", check.decisions.len() as u64);
    span.record("cairn.blocked", check.blocked);
    audit_decisions(&state.engine, who, &check.decisions);
    if check.blocked {
        let reasons: Vec<String> = check
            .decisions
            .iter()
            .filter(|d| d.verdict == Verdict::Block)
            .map(|d| format!("{}: {}", d.category, d.reason))
            .collect();
        return Err(ApiError::new(
            ErrorCode::GuardrailBlocked,
            format!(
                "the input was blocked by a guardrail ({})",
                reasons.join("; ")
            ),
        ));
    }
    Ok(check.decisions)
}

/// Logs and audits each decision that is not a plain allow.
pub fn audit_decisions(engine: &Engine, who: &Identity, decisions: &[Decision]) {
    for d in decisions.iter().filter(|d| d.verdict != Verdict::Allow) {
        crate::metrics::global().guardrail(&d.category, d.verdict.as_str());
        tracing::info!(
            tenant = %who.tenant, actor = %who.actor, category = %d.category,
            verdict = ?d.verdict, reason = %d.reason, "guardrail decision"
        );
        let action = match d.verdict {
            Verdict::Block => "guardrail.block",
            Verdict::Redact => "guardrail.redact",
            _ => "guardrail.flag",
        };
        engine.audit_or_log(AuditEvent {
            tenant: &who.tenant,
            actor: &who.actor,
            action,
            target: &d.category,
            outcome: if d.verdict == Verdict::Block {
                "blocked"
            } else {
                "ok"
            },
            detail: serde_json::to_value(d).unwrap_or_default(),
        });
    }
}
