//! The exact answer cache (`[cache] exact`). A question is served again only when the
//! answer would be the same: the request is deterministic (temperature 0 or a fixed
//! seed) and stateless (no conversation or history), and the key covers everything that
//! decides the answer: the tenant, the caller's ACL view (user, groups, all-documents),
//! the collection's change-log head (any write to the collection changes the key), the
//! whole request, the models of every role, the prompt version, the answer and
//! retrieval settings, and the guard policy. A hit is recorded as a new answer owned by
//! its caller, pointing at the answer it copies.

use super::{AnswerEvent, AskRequest, CacheHit, CacheStatus};
use crate::{Answer, Engine, Error, ModelRole, Result};
use cairn_types::{AnswerId, ErrorCode, TenantId};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::Instant;

impl Engine {
    /// The exact cache key of `req`, or `None` when it must not be cached.
    pub(super) fn answer_cache_key(
        &self,
        tenant: &TenantId,
        req: &AskRequest,
    ) -> Result<Option<String>> {
        let c = &self.config;
        let temperature = req.temperature.unwrap_or(c.answer.temperature);
        let deterministic = temperature == 0.0 || req.seed.is_some();
        if !c.cache.exact || !deterministic || !cacheable(req) {
            return Ok(None);
        }
        let mut head = self.store.index_head(tenant, &req.collection)?;
        // Over several collections, a write to any of them changes the key.
        for c in &req.collections {
            head = head
                .wrapping_mul(1_000_003)
                .wrapping_add(self.store.index_head(tenant, c)?);
        }
        self.cache_key(tenant, req, Some(head)).map(Some)
    }

    /// A digest of everything that decides `req`'s answer: with the collection's
    /// change-log `head`, the exact cache's key; without it (and without the
    /// question), the semantic cache's scope.
    pub(super) fn cache_key(
        &self,
        tenant: &TenantId,
        req: &AskRequest,
        head: Option<i64>,
    ) -> Result<String> {
        let c = &self.config;
        let mut request = serde_json::to_value(req).map_err(|e| {
            Error::new(
                ErrorCode::Internal,
                format!("cannot key the answer cache: {e}"),
            )
        })?;
        if head.is_none()
            && let Some(fields) = request.as_object_mut()
        {
            fields.remove("question");
        }
        let view = req.principal.as_ref().map(|p| {
            let mut groups = p.groups.clone();
            groups.sort();
            json!({"user": p.user, "groups": groups, "all": p.all_documents})
        });
        // The tenant's roles, each with what its name stands for now (a tenant may
        // redefine its own model under the same name).
        let registry = self.registry(tenant)?;
        let roles: Vec<String> = [ModelRole::Generator, ModelRole::Judge, ModelRole::Rewriter]
            .into_iter()
            .map(|role| {
                let name = crate::gateway::role_in(&registry, role);
                format!("{name}={:?}", registry.model_ref(name))
            })
            .collect();
        let material = json!({
            "tenant": tenant.as_str(),
            "view": view,
            "head": head,
            "request": request,
            "models": [roles, c.reranker_model(), &c.embedder],
            "prompt": super::PROMPT_VERSION,
            "answer": c.answer,
            "retrieval": c.retrieval,
            "guard": req.guard.as_ref().map(|g| g.policy()),
        });
        let bytes = serde_json::to_vec(&material).map_err(|e| {
            Error::new(
                ErrorCode::Internal,
                format!("cannot key the answer cache: {e}"),
            )
        })?;
        Ok(hex(&Sha256::digest(&bytes)))
    }

    /// Serves `cached` for `req` as a `hit`: recorded as a new answer owned by the
    /// caller (to the caller's question), pointing at the answer it copies.
    pub(super) fn serve_cached(
        &self,
        tenant: &TenantId,
        req: &AskRequest,
        cached: Answer,
        hit: CacheHit,
        start: Instant,
        on_event: &mut dyn FnMut(AnswerEvent) -> bool,
    ) -> Result<Answer> {
        let mut answer = cached;
        let original = answer
            .cache
            .answer_id
            .clone()
            .unwrap_or_else(|| answer.id.clone());
        answer.question = req.question.trim().to_owned();
        answer.id = AnswerId::generate();
        answer.trace_id = cairn_telemetry::current_trace_id();
        answer.cache = CacheStatus {
            hit: Some(hit),
            answer_id: Some(original),
        };
        self.replay(tenant, req, answer, start, on_event)
    }

    /// Sends a cached answer's sources and text to `on_event` and records it.
    pub(super) fn replay(
        &self,
        tenant: &TenantId,
        req: &AskRequest,
        mut answer: Answer,
        start: Instant,
        on_event: &mut dyn FnMut(AnswerEvent) -> bool,
    ) -> Result<Answer> {
        if !on_event(AnswerEvent::Sources(answer.sources.clone()))
            || !on_event(AnswerEvent::Delta(answer.answer.clone()))
        {
            return Err(super::cancelled());
        }
        answer.timings = super::AnswerTimings::default();
        self.finish(tenant, req, answer, start, true)
    }
}

/// Whether `req` may be answered from a cache at all: stateless (no conversation, no
/// client-sent history) and meant to be generated.
pub(super) fn cacheable(req: &AskRequest) -> bool {
    req.conversation.is_none() && req.history.is_empty() && !req.stop_before_generation
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
