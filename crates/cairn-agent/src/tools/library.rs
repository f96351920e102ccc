//! `search`, `ask` and `get_document`: the collections, seen exactly as the caller sees
//! them (their principal replaces any access filter, so an agent never reads more than
//! the person who started it).

use super::{
    Tool, ToolCtx, ToolSpec, cap, collection_arg, collection_schema, required_with_collection,
    str_arg,
};
use crate::{Error, Result};
use cairn_config::AgentSpec;
use cairn_engine::{AskRequest, SearchRequest};
use cairn_types::{DocumentId, ErrorCode};
use serde_json::{Value, json};

/// Characters of each hit's text shown.
const HIT_CHARS: usize = 700;
/// Characters of a document shown by `get_document`.
const DOCUMENT_CHARS: usize = 5_500;

/// The `search` tool.
pub struct Search {
    spec: AgentSpec,
}

impl Search {
    pub fn new(spec: &AgentSpec) -> Self {
        Self { spec: spec.clone() }
    }
}

impl Tool for Search {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "search".into(),
            description: "Searches a document collection (keywords and meaning) and returns \
                the best passages with their document ids."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "minLength": 1, "maxLength": 500},
                    "collection": collection_schema(&self.spec),
                    "top_k": {"type": "integer", "minimum": 1, "maximum": 10}
                },
                "required": required_with_collection(&self.spec, &["query"]),
                "additionalProperties": false
            }),
            side_effects: false,
        }
    }

    fn call(&self, ctx: &ToolCtx<'_>, args: &Value) -> Result<String> {
        let collection = collection_arg(&self.spec, args)?;
        let mut req = SearchRequest::new(collection.clone(), str_arg(args, "query")?);
        req.top_k = Some(
            args.get("top_k")
                .and_then(Value::as_u64)
                .map_or(5, |k| k.clamp(1, 10) as usize),
        );
        req.principal = Some(ctx.caller.principal.clone());
        let res = ctx.engine.search(&ctx.caller.tenant, &req)?;
        if res.hits.is_empty() {
            return Ok(format!("No passages in `{collection}` match."));
        }
        let lines: Vec<String> = res
            .hits
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let section = if h.heading_path.is_empty() {
                    String::new()
                } else {
                    format!(" > {}", h.heading_path.join(" > "))
                };
                format!(
                    "[{}] {}{section} (document {})\n{}",
                    i + 1,
                    h.title,
                    h.document_id,
                    cap(h.text.trim(), HIT_CHARS)
                )
            })
            .collect();
        Ok(lines.join("\n\n"))
    }
}

/// The `ask` tool.
pub struct Ask {
    spec: AgentSpec,
}

impl Ask {
    pub fn new(spec: &AgentSpec) -> Self {
        Self { spec: spec.clone() }
    }
}

impl Tool for Ask {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "ask".into(),
            description: "Asks a question of a document collection and returns a grounded \
                answer with numbered citations, or says the documents do not answer it."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "question": {"type": "string", "minLength": 1, "maxLength": 1000},
                    "collection": collection_schema(&self.spec)
                },
                "required": required_with_collection(&self.spec, &["question"]),
                "additionalProperties": false
            }),
            side_effects: false,
        }
    }

    fn call(&self, ctx: &ToolCtx<'_>, args: &Value) -> Result<String> {
        let collection = collection_arg(&self.spec, args)?;
        let mut req = AskRequest::new(collection, str_arg(args, "question")?);
        req.principal = Some(ctx.caller.principal.clone());
        req.guard = ctx.engine.tenant_guard(&ctx.caller.tenant).ok();
        // An agent's inner questions are not the caller's answers to give feedback on.
        req.record = false;
        let answer = ctx.engine.ask(&ctx.caller.tenant, &req)?;
        let cites: Vec<String> = answer
            .citations
            .iter()
            .map(|c| format!("[{}] {} (document {})", c.n, c.title, c.document_id))
            .collect();
        if answer.abstained {
            let reason = answer
                .abstain_reason
                .map(|r| {
                    serde_json::to_value(r)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                })
                .unwrap_or_default();
            let closest: Vec<String> = answer
                .sources
                .iter()
                .take(3)
                .map(|s| format!("{} (document {})", s.title, s.document_id))
                .collect();
            return Ok(format!(
                "The documents do not answer this ({reason}). Closest sources: {}",
                if closest.is_empty() {
                    "none".into()
                } else {
                    closest.join("; ")
                }
            ));
        }
        Ok(format!(
            "{}\nSources:\n{}",
            answer.answer.trim(),
            cites.join("\n")
        ))
    }
}

/// The `get_document` tool.
pub struct GetDocument;

impl Tool for GetDocument {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "get_document".into(),
            description: "Reads a document by its id (as search results give it).".into(),
            parameters: json!({
                "type": "object",
                "properties": {"document_id": {"type": "string", "minLength": 1, "maxLength": 200}},
                "required": ["document_id"],
                "additionalProperties": false
            }),
            side_effects: false,
        }
    }

    fn call(&self, ctx: &ToolCtx<'_>, args: &Value) -> Result<String> {
        let id = str_arg(args, "document_id")?;
        let not_found = || Error::new(ErrorCode::NotFound, format!("document `{id}` not found"));
        let doc = match ctx
            .engine
            .store()
            .get_document(&ctx.caller.tenant, &DocumentId::new(id))
        {
            Ok(d) => d,
            Err(cairn_store::Error::NotFound { .. }) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        let in_scope = ctx.agent.collections.is_empty()
            || ctx
                .agent
                .collections
                .iter()
                .any(|c| c == doc.collection.as_str());
        // Exactly as for an id that does not exist.
        if !ctx.caller.principal.can_read(&doc.acl) || !in_scope {
            return Err(not_found());
        }
        let text = ctx.engine.document_text(&doc)?;
        Ok(format!(
            "{} (document {}, collection {})\n{}",
            doc.title,
            doc.id,
            doc.collection,
            cap(&text, DOCUMENT_CHARS)
        ))
    }
}
