//! The MCP handler: its tools and resources, each served by the API route that does the
//! same thing (see the module docs in `mcp`).

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tower::ServiceExt as _;

/// Documents listed as resources at most (per collection, and in all).
const MAX_RESOURCES: usize = 500;
/// The scheme and prefix of a document's resource URI.
const DOCUMENT_URI: &str = "cairn://documents/";

/// The largest API reply a tool call or resource read passes on (a document's text).
const MAX_REPLY_BYTES: usize = 64 << 20;

/// The prefix of the tools that run a configured agent.
const AGENT_TOOL: &str = "agent_";

/// One MCP server per request (stateless) over the inner API router.
#[derive(Clone)]
pub struct CairnMcp {
    inner: Router,
    /// The configured agents (name, description), each a tool `agent_<name>`.
    agents: Vec<(String, String)>,
}

/// An API route's answer: its status and JSON body.
struct Reply {
    status: StatusCode,
    body: Value,
}

impl Reply {
    /// The API's error message (`error.message`), else the body as text.
    fn message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .map_or_else(|| self.body.to_string(), str::to_owned)
    }

    /// The API's stable error code (`error.code`).
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("error")
    }
}

fn schema(properties: Value, required: &[&str]) -> Arc<Map<String, Value>> {
    let mut s = Map::new();
    s.insert("type".into(), json!("object"));
    s.insert("properties".into(), properties);
    s.insert("required".into(), json!(required));
    s.insert("additionalProperties".into(), json!(false));
    Arc::new(s)
}

/// The tools, with their JSON schemas: the built-in ones, then one per agent.
fn tools(agents: &[(String, String)]) -> Vec<Tool> {
    let mut all = builtin_tools();
    for (name, description) in agents {
        all.push(Tool::new(
            format!("{AGENT_TOOL}{name}"),
            format!(
                "Runs the `{name}` agent on a task (it searches, computes and calls its tools                  as the caller) and returns the run: its answer, state and steps. {description}"
            ),
            schema(json!({"task": {"type": "string"}}), &["task"]),
        ));
    }
    all
}

fn builtin_tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "search",
            "Hybrid search (BM25 and vectors) over one collection the caller may read; returns \
             the best chunks with their document, heading path, page and score.",
            schema(
                json!({
                    "collection": {"type": "string", "description": "Collection id"},
                    "query": {"type": "string"},
                    "top_k": {"type": "integer", "minimum": 1, "maximum": 50},
                    "mode": {"type": "string", "enum": ["lexical", "dense", "hybrid"]}
                }),
                &["collection", "query"],
            ),
        ),
        Tool::new(
            "ask",
            "A grounded answer to a question from one collection, with numbered citations \
             of the sources it used (or an abstention when they do not answer it).",
            schema(
                json!({
                    "collection": {"type": "string"},
                    "question": {"type": "string"},
                    "max_tokens": {"type": "integer", "minimum": 16, "maximum": 4096}
                }),
                &["collection", "question"],
            ),
        ),
        Tool::new(
            "list_collections",
            "The collections of the caller's tenant.",
            schema(json!({}), &[]),
        ),
        Tool::new(
            "get_document",
            "One document the caller may read: its metadata and text.",
            schema(
                json!({"document": {"type": "string", "description": "Document id"}}),
                &["document"],
            ),
        ),
    ]
}

/// `name`'s string argument (`invalid_params` when missing).
fn text_arg(args: &Map<String, Value>, name: &str) -> Result<String, ErrorData> {
    match args.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(ErrorData::invalid_params(
            format!("argument `{name}` (a string) is required"),
            None,
        )),
    }
}

/// The path segment of an id, refusing what would leave it.
fn segment(id: &str) -> Result<&str, ErrorData> {
    if id.is_empty() || id.contains(['/', '?', '#', '%']) {
        return Err(ErrorData::invalid_params(
            format!("`{id}` is not an id"),
            None,
        ));
    }
    Ok(id)
}

impl CairnMcp {
    pub fn new(inner: Router, agents: Vec<(String, String)>) -> Self {
        Self { inner, agents }
    }

    /// Calls the API route `method path` with `body`, as the caller of `ctx` (the
    /// gate's identity, settings and request id ride along in the extensions).
    async fn api(
        &self,
        ctx: &RequestContext<RoleServer>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Reply, ErrorData> {
        let parts = ctx
            .extensions
            .get::<axum::http::request::Parts>()
            .ok_or_else(|| ErrorData::internal_error("the HTTP request is missing", None))?;
        let mut req = Request::builder().method(method).uri(path);
        if let Some(headers) = req.headers_mut() {
            for name in [header::AUTHORIZATION, header::COOKIE, header::HOST] {
                if let Some(v) = parts.headers.get(&name) {
                    headers.insert(name, v.clone());
                }
            }
            headers.insert(
                header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            );
        }
        let bytes = body.map_or_else(Vec::new, |b| b.to_string().into_bytes());
        let mut req = req
            .body(Body::from(bytes))
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        *req.extensions_mut() = parts.extensions.clone();
        let res = self
            .inner
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), MAX_REPLY_BYTES)
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply { status, body })
    }

    /// A tool's result: the API's JSON on success, its error as a tool error.
    fn result(reply: &Reply) -> CallToolResult {
        if reply.status.is_success() {
            let text = serde_json::to_string_pretty(&reply.body).unwrap_or_default();
            CallToolResult::success(vec![ContentBlock::text(text)])
        } else {
            CallToolResult::error(vec![ContentBlock::text(format!(
                "{} ({}): {}",
                reply.code(),
                reply.status.as_u16(),
                reply.message()
            ))])
        }
    }

    async fn call(
        &self,
        name: &str,
        args: &Map<String, Value>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let reply = match name {
            "search" => {
                let mut body = json!({
                    "collection": text_arg(args, "collection")?,
                    "query": text_arg(args, "query")?,
                });
                for key in ["top_k", "mode"] {
                    if let Some(v) = args.get(key) {
                        body[key] = v.clone();
                    }
                }
                self.api(ctx, Method::POST, "/api/v1/search", Some(body))
                    .await?
            }
            "ask" => {
                let mut body = json!({
                    "collection": text_arg(args, "collection")?,
                    "question": text_arg(args, "question")?,
                });
                if let Some(v) = args.get("max_tokens") {
                    body["max_tokens"] = v.clone();
                }
                self.api(ctx, Method::POST, "/api/v1/ask", Some(body))
                    .await?
            }
            "list_collections" => {
                self.api(ctx, Method::GET, "/api/v1/collections", None)
                    .await?
            }
            "get_document" => {
                let id = text_arg(args, "document")?;
                let path = format!("/api/v1/documents/{}?text=true", segment(&id)?);
                self.api(ctx, Method::GET, &path, None).await?
            }
            other => match other.strip_prefix(AGENT_TOOL) {
                Some(agent) if self.agents.iter().any(|(n, _)| n == agent) => {
                    let body = json!({"task": text_arg(args, "task")?});
                    let path = format!("/api/v1/agents/{}/runs", segment(agent)?);
                    self.api(ctx, Method::POST, &path, Some(body)).await?
                }
                _ => {
                    return Err(ErrorData::invalid_params(
                        format!(
                            "no tool `{other}`: the tools are search, ask, list_collections, \
                             get_document and agent_<name> for each configured agent"
                        ),
                        None,
                    ));
                }
            },
        };
        Ok(Self::result(&reply))
    }
}

impl ServerHandler for CairnMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("cairn", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Cairn answers from an organization's documents: `search` finds passages, `ask` \
             gives a grounded answer with citations, `list_collections` names what can be \
             searched, `get_document` reads one document. Documents are also resources.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools(&self.agents)))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        Ok(self.call(&request.name, &args, &context).await?.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let collections = self
            .api(&context, Method::GET, "/api/v1/collections", None)
            .await?;
        if !collections.status.is_success() {
            return Err(ErrorData::invalid_request(collections.message(), None));
        }
        let mut resources = Vec::new();
        for c in collections.body["data"].as_array().into_iter().flatten() {
            let Some(id) = c["id"].as_str() else { continue };
            let path = format!(
                "/api/v1/collections/{}/documents?limit={MAX_RESOURCES}",
                segment(id)?
            );
            let docs = self.api(&context, Method::GET, &path, None).await?;
            for d in docs.body["data"].as_array().into_iter().flatten() {
                let (Some(doc), Some(title)) = (d["id"].as_str(), d["title"].as_str()) else {
                    continue;
                };
                let mut r = Resource::new(format!("{DOCUMENT_URI}{doc}"), title);
                r.description = Some(format!("{} in collection {id}", d["source"]));
                r.mime_type = Some("text/plain".into());
                resources.push(r);
                if resources.len() >= MAX_RESOURCES {
                    return Ok(ListResourcesResult::with_all_items(resources));
                }
            }
        }
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let Some(id) = request.uri.strip_prefix(DOCUMENT_URI) else {
            return Err(ErrorData::resource_not_found(
                format!("`{}` is not a Cairn document URI", request.uri),
                None,
            ));
        };
        let path = format!("/api/v1/documents/{}?text=true", segment(id)?);
        let reply = self.api(&context, Method::GET, &path, None).await?;
        if !reply.status.is_success() {
            return Err(ErrorData::resource_not_found(reply.message(), None));
        }
        let text = reply.body["text"].as_str().unwrap_or_default().to_owned();
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, request.uri)]).into())
    }
}
