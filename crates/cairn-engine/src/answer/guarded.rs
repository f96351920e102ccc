//! Guardrails inside the answer pipeline: retrieved chunks are screened for indirect
//! prompt injection before they reach the prompt (dropped, or kept and marked
//! quarantined, as the tenant's policy says), a per-request canary goes into the system
//! prompt, and the answer is checked for canary and PII leaks before anyone sees it.

use super::types::Source;
use cairn_guard::{Decision, Guard};
use cairn_models::ChatMessage;

/// The sources that may enter the prompt, renumbered from 1, and why others did not.
pub(crate) fn screen_sources(guard: &Guard, sources: Vec<Source>) -> (Vec<Source>, Vec<Decision>) {
    let mut kept = Vec::with_capacity(sources.len());
    let mut decisions = Vec::new();
    for mut s in sources {
        let check = guard.check_chunk(&s.text);
        for mut d in check.decisions {
            d.reason = format!("chunk `{}`: {}", s.chunk_id, d.reason);
            decisions.push(d);
        }
        if check.drop {
            continue;
        }
        s.n = kept.len() + 1;
        kept.push(s);
    }
    (kept, decisions)
}

/// Adds the canary instruction to the system message; returns the canary.
pub(crate) fn plant_canary(guard: &Guard, messages: &mut [ChatMessage]) -> Option<String> {
    if !guard.policy().canary {
        return None;
    }
    let canary = cairn_guard::new_canary();
    if let Some(system) = messages.first_mut() {
        system.content.push_str("\n\n");
        system
            .content
            .push_str(&cairn_guard::canary_instruction(&canary));
    }
    Some(canary)
}
