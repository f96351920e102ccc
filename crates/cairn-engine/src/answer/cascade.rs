//! `cascade` routes for grounded answers: the first (small, cheap) target answers; when
//! the answer is not good enough (its confidence below the route's `escalate_below`, or
//! withheld after generation: the model declined, the draft was ungrounded or stated
//! what no source does) the next target answers again, and so on; the last target's
//! answer is kept whatever it is. Earlier attempts are neither streamed nor recorded:
//! their events are held back, and the kept answer's are replayed. The answer lists the
//! attempts it replaced in `escalations`. Abstentions before generation (no or weak
//! evidence, missing terms) and guardrail blocks do not escalate: another model would
//! see the same sources and the same policy.

use super::{AbstainReason, Answer, AnswerEvent, AskRequest, Escalation};
use crate::{Engine, ModelRole, Result};
use cairn_config::{ModelRef, RouteStrategy};
use cairn_types::TenantId;
use std::time::Instant;

/// Which model one pass of the pipeline uses, and whether its answer is recorded.
pub(super) struct Attempt {
    pub model: String,
    pub record: bool,
}

/// Whether an error is the model's (the next target may do better), not the request's.
fn model_failure(code: cairn_types::ErrorCode) -> bool {
    use cairn_types::ErrorCode as C;
    matches!(
        code,
        C::UpstreamError
            | C::Unavailable
            | C::Timeout
            | C::RateLimited
            | C::ModelError
            | C::NotFound
    )
}

/// Why `a` should go to the next model, if it should.
fn escalation_reason(a: &Answer, below: f32) -> Option<String> {
    shortfall(&a.model, a.abstain_reason, a.confidence, below)
}

/// [`escalation_reason`] on the answer's parts: the model that generated it (empty:
/// abstained before generation), why it was withheld, its confidence.
fn shortfall(
    model: &str,
    withheld: Option<AbstainReason>,
    confidence: f32,
    below: f32,
) -> Option<String> {
    if model.is_empty() {
        // Abstained before generation: the next model would see the same sources.
        return None;
    }
    match withheld {
        Some(AbstainReason::Guardrail) => None,
        Some(
            r @ (AbstainReason::ModelDeclined
            | AbstainReason::Ungrounded
            | AbstainReason::Unverified),
        ) => Some(format!("{r:?}").to_lowercase()),
        _ if confidence < below => Some(format!("confidence {confidence:.2} < {below}")),
        _ => None,
    }
}

impl Engine {
    /// Answers with the generator role, through its cascade when it names one.
    pub(super) fn ask_routed(
        &self,
        tenant: &TenantId,
        req: &AskRequest,
        on_event: &mut dyn FnMut(AnswerEvent) -> bool,
        start: Instant,
    ) -> Result<Answer> {
        let registry = self.registry(tenant)?;
        let name = match req
            .model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            Some(model) => crate::gateway::answer_model_in(&registry, model)?,
            None => crate::gateway::role_in(&registry, ModelRole::Generator).to_owned(),
        };
        let route = match registry.model_ref(&name) {
            ModelRef::Route(r) if r.strategy == RouteStrategy::Cascade => r.clone(),
            _ => {
                let attempt = Attempt {
                    model: name,
                    record: true,
                };
                return self.ask_uncached(tenant, req, on_event, start, &attempt);
            }
        };
        let mut escalations = Vec::new();
        let last = route.targets.len().saturating_sub(1);
        for (i, target) in route.targets.iter().enumerate() {
            if i == last {
                let attempt = Attempt {
                    model: target.clone(),
                    record: true,
                };
                return self.finish_cascade(tenant, req, on_event, start, &attempt, escalations);
            }
            let mut held = Vec::new();
            let attempt = Attempt {
                model: target.clone(),
                record: false,
            };
            let answer = match self.ask_uncached(
                tenant,
                req,
                &mut |ev| {
                    held.push(ev);
                    true
                },
                start,
                &attempt,
            ) {
                Ok(a) => a,
                // A target that cannot answer at all hands over like a poor answer.
                Err(e) if model_failure(e.code) => {
                    tracing::warn!(route = %route.name, model = %target, error = %e, "cascade target failed");
                    escalations.push(Escalation {
                        model: target.clone(),
                        confidence: 0.0,
                        reason: format!("failed: {}", e.message),
                    });
                    continue;
                }
                Err(e) => return Err(e),
            };
            match escalation_reason(&answer, route.escalate_below) {
                Some(reason) => {
                    tracing::info!(route = %route.name, model = %target, %reason, "cascade escalates");
                    escalations.push(Escalation {
                        model: answer.model.clone(),
                        confidence: answer.confidence,
                        reason,
                    });
                }
                None => {
                    for ev in held {
                        if !on_event(ev) {
                            return Err(super::cancelled());
                        }
                    }
                    let mut answer = answer;
                    answer.escalations = escalations;
                    return self.finish(tenant, req, answer, start, true);
                }
            }
        }
        Err(crate::Error::new(
            cairn_types::ErrorCode::InvalidConfig,
            format!("cascade route `{}` has no target", route.name),
        ))
    }

    /// The last target's attempt, streamed and recorded, carrying the escalations.
    fn finish_cascade(
        &self,
        tenant: &TenantId,
        req: &AskRequest,
        on_event: &mut dyn FnMut(AnswerEvent) -> bool,
        start: Instant,
        attempt: &Attempt,
        escalations: Vec<Escalation>,
    ) -> Result<Answer> {
        if escalations.is_empty() {
            return self.ask_uncached(tenant, req, on_event, start, attempt);
        }
        // Recorded after the escalations are attached, so the stored answer has them.
        let unrecorded = Attempt {
            model: attempt.model.clone(),
            record: false,
        };
        let mut answer = self.ask_uncached(tenant, req, on_event, start, &unrecorded)?;
        answer.escalations = escalations;
        self.finish(tenant, req, answer, start, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_generated_answers_that_fall_short_escalate() {
        assert_eq!(shortfall("small", None, 0.9, 0.5), None);
        assert_eq!(
            shortfall("small", None, 0.3, 0.5).as_deref(),
            Some("confidence 0.30 < 0.5")
        );
        let unverified = Some(AbstainReason::Unverified);
        assert_eq!(
            shortfall("small", unverified, 0.0, 0.5).as_deref(),
            Some("unverified")
        );
        assert_eq!(
            shortfall("small", Some(AbstainReason::Guardrail), 0.0, 0.5),
            None
        );
        let before = Some(AbstainReason::NoEvidence);
        assert_eq!(
            shortfall("", before, 0.0, 0.5),
            None,
            "nothing was generated"
        );
    }
}
