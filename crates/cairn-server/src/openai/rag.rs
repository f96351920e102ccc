//! `cairn-rag:<collection>` models: the chat's last user message is answered from the
//! collection by the grounded answer pipeline; earlier turns are its history. The
//! answer is the message content; citations, grounding flags, confidence and the
//! answer id come back in extra fields (`citations`, `cairn`) that OpenAI clients
//! ignore (the Python SDK exposes them as `model_extra`).

use super::types::{ChatRequest, Usage};
use super::{completion_id, unix_now};
use crate::error::{ApiError, ApiResult};
use crate::sse::Emitter;
use crate::state::Cancel;
use cairn_engine::Engine;
use cairn_engine::answer::{Answer, AnswerEvent, AskRequest, Turn};
use cairn_types::{CollectionId, MessageRole, TenantId};
use serde_json::{Value, json};

/// The ask request for a chat.
pub fn plan(req: &ChatRequest, collection: &str) -> ApiResult<AskRequest> {
    if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::invalid("cairn-rag models do not take tools").with_param("tools"));
    }
    if req
        .response_format
        .as_ref()
        .is_some_and(|f| f.kind != "text")
    {
        return Err(
            ApiError::invalid("cairn-rag models answer in text with citations")
                .with_param("response_format"),
        );
    }
    // The answer prompt is versioned and fixed; caller system prompts are not mixed in.
    let mut turns: Vec<Turn> = req
        .turns("cairn-rag")?
        .into_iter()
        .map(|(role, content)| Turn {
            role: if role == "user" {
                MessageRole::User
            } else {
                MessageRole::Assistant
            },
            content,
        })
        .collect();
    let question = match turns.pop() {
        Some(t) if t.role == MessageRole::User => t.content,
        _ => {
            return Err(
                ApiError::invalid("the last message must be the user's question")
                    .with_param("messages"),
            );
        }
    };
    let mut ask = AskRequest::new(CollectionId::new(collection), question);
    ask.history = turns;
    ask.max_tokens = req.max_completion_tokens.or(req.max_tokens);
    ask.temperature = req.temperature;
    ask.seed = req.seed;
    Ok(ask)
}

fn extras(a: &Answer) -> Value {
    json!({
        "answer_id": a.id,
        "trace_id": a.trace_id,
        "model": a.model,
        "cache": a.cache,
        "confidence": a.confidence,
        "abstained": a.abstained,
        "abstain_reason": a.abstain_reason,
        "unsupported": a.unsupported,
        "missing_terms": a.missing_terms,
        "prompt_version": a.prompt_version,
        "standalone_query": a.standalone_query,
        "sources": a.sources.iter().map(|s| json!({
            "n": s.n, "title": s.title, "source": s.source, "heading_path": s.heading_path,
            "document_id": s.document_id, "chunk_id": s.chunk_id, "score": s.score
        })).collect::<Vec<_>>(),
    })
}

fn reason(a: &Answer) -> &str {
    a.finish_reason.as_deref().unwrap_or("stop")
}

/// The non-streaming response.
pub fn complete(
    engine: &Engine,
    tenant: &TenantId,
    model: &str,
    ask: &AskRequest,
    cancel: &Cancel,
) -> ApiResult<Value> {
    let a = engine.ask_streaming(tenant, ask, &mut |_| !cancel.is_cancelled())?;
    Ok(json!({
        "id": completion_id(),
        "object": "chat.completion",
        "created": unix_now(),
        "model": model,
        "system_fingerprint": null,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": a.answer, "refusal": null},
                     "logprobs": null, "finish_reason": reason(&a)}],
        "usage": Usage::new(a.usage.prompt_tokens, a.usage.completion_tokens),
        "citations": a.citations,
        "cairn": extras(&a),
    }))
}

/// The streaming response: content chunks, then a final chunk carrying the citations.
pub fn stream(
    engine: &Engine,
    tenant: &TenantId,
    model: &str,
    ask: &AskRequest,
    include_usage: bool,
    em: &mut Emitter,
) -> ApiResult<(Usage, String)> {
    let id = completion_id();
    let created = unix_now();
    let chunk = |delta: Value, finish: Option<&str>| {
        json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
        })
    };
    let a = engine.ask_streaming(tenant, ask, &mut |ev| match ev {
        AnswerEvent::Sources(_) => em.send(
            None,
            &chunk(json!({"role": "assistant", "content": ""}), None),
        ),
        AnswerEvent::Delta(text) => em.send(None, &chunk(json!({"content": text}), None)),
    })?;
    let mut last = chunk(json!({}), Some(reason(&a)));
    last["citations"] = serde_json::to_value(&a.citations).unwrap_or(Value::Null);
    last["cairn"] = extras(&a);
    em.send(None, &last);
    if include_usage {
        em.send(
            None,
            &json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": null, "choices": [],
                "usage": Usage::new(a.usage.prompt_tokens, a.usage.completion_tokens)
            }),
        );
    }
    Ok((
        Usage::new(a.usage.prompt_tokens, a.usage.completion_tokens),
        a.model,
    ))
}
