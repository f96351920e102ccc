//! `memory_search` and `memory_write`: a long-term memory per agent, kept as documents
//! of the collection `memory-<agent>` whose ACL names only the user who wrote them, and
//! searched with a view limited to that user (even an administrator, who sees every
//! other document, sees only their own memories here).

use super::{Tool, ToolCtx, ToolSpec, cap, str_arg};
use crate::Result;
use cairn_engine::SearchRequest;
use cairn_engine::ingest::UploadRequest;
use cairn_types::{Acl, CollectionId, ErrorCode};
use serde_json::{Value, json};

/// The collection holding `agent`'s memories.
pub fn memory_collection(agent: &str) -> CollectionId {
    CollectionId::new(format!("memory-{agent}"))
}

/// The `memory_search` tool.
pub struct MemorySearch;

impl Tool for MemorySearch {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "memory_search".into(),
            description: "Searches what you saved earlier for this user (memory_write).".into(),
            parameters: json!({
                "type": "object",
                "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 500}},
                "required": ["query"],
                "additionalProperties": false
            }),
            side_effects: false,
        }
    }

    fn call(&self, ctx: &ToolCtx<'_>, args: &Value) -> Result<String> {
        let coll = memory_collection(&ctx.agent.name);
        match ctx.engine.store().get_collection(&ctx.caller.tenant, &coll) {
            Ok(_) => {}
            Err(cairn_store::Error::NotFound { .. }) => return Ok("No memories yet.".into()),
            Err(e) => return Err(e.into()),
        }
        let mut req = SearchRequest::new(coll, str_arg(args, "query")?);
        req.top_k = Some(5);
        req.principal = Some(ctx.caller.private_view());
        let res = ctx.engine.search(&ctx.caller.tenant, &req)?;
        if res.hits.is_empty() {
            return Ok("No saved memory matches.".into());
        }
        Ok(res
            .hits
            .iter()
            .map(|h| format!("- {}", cap(h.text.trim(), 600)))
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

/// The `memory_write` tool.
pub struct MemoryWrite;

impl Tool for MemoryWrite {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "memory_write".into(),
            description: "Saves a fact or preference about this user for later runs.".into(),
            parameters: json!({
                "type": "object",
                "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 2000}},
                "required": ["text"],
                "additionalProperties": false
            }),
            side_effects: true,
        }
    }

    fn call(&self, ctx: &ToolCtx<'_>, args: &Value) -> Result<String> {
        let text = str_arg(args, "text")?;
        let owner = ctx.caller.owner();
        let coll = memory_collection(&ctx.agent.name);
        let name = format!("memory-{}.md", ctx.call_key.replace(':', "-"));
        let mut metadata = serde_json::Map::new();
        metadata.insert("agent_run".into(), json!(ctx.run_id));
        let req = UploadRequest {
            name: &name,
            bytes: text.as_bytes(),
            content_hash: None,
            commit_gate: None,
            // The same call never writes twice, even if it is retried.
            idempotency_key: Some(ctx.call_key),
            acl: Acl {
                users: vec![owner.clone()],
                groups: Vec::new(),
            },
            metadata,
            owner: Some(owner),
            guard: ctx.engine.tenant_guard(&ctx.caller.tenant).ok(),
        };
        let doc = ctx
            .engine
            .ingest_bytes(&ctx.caller.tenant, &coll, &req)
            .map_err(|e| {
                if e.code == ErrorCode::EmptyDocument {
                    crate::Error::new(e.code, "nothing to save: the text is empty")
                } else {
                    e
                }
            })?;
        Ok(format!("Saved (memory {}).", doc.id))
    }
}
