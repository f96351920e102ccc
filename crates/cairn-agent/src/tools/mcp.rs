//! Tools of external MCP servers (`[[mcp_servers]]`), called with the `rmcp` client.
//!
//! A server is reached over streamable HTTP (with the tenant's sealed secret as its
//! bearer token) or started as a stdio process with an empty environment (only `PATH`
//! and the configured `env`: none of Cairn's secrets) and killed at the time limit.
//! Each run lists a server's tools once, when it starts, and each call opens its own
//! session, on a thread of its own (the MCP client is asynchronous; the agent loop is
//! not). A tool's JSON Schema comes from the server and is checked like a built-in
//! tool's; its output is screened like any other. Calls are treated as having side
//! effects (never repeated on resume) unless the server marks the tool read-only.

use super::{Tool, ToolCtx, ToolSpec};
use crate::{Error, Result};
use cairn_config::McpServerSpec;
use cairn_types::{ErrorCode, TenantId};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, Tool as McpToolInfo};
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// What a call needs to reach its server.
#[derive(Clone)]
struct Endpoint {
    server: McpServerSpec,
    /// The bearer token for `url` servers (the tenant's secret), if any.
    token: Option<String>,
}

fn upstream(server: &str, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorCode::UpstreamError,
        format!("MCP server `{server}`: {what}"),
    )
}

/// Runs `f` against a fresh session with the server, on its own thread and runtime,
/// within the server's time limit.
fn with_session<T: Send + 'static>(
    ep: &Endpoint,
    limit: Duration,
    f: impl for<'a> FnOnce(
        &'a rmcp::service::RunningService<rmcp::RoleClient, ()>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<T>> + Send + 'a>,
    > + Send
    + 'static,
) -> Result<T> {
    let ep = ep.clone();
    let name = ep.server.name.clone();
    let handle = std::thread::Builder::new()
        .name(format!("mcp-{name}"))
        .spawn(move || -> Result<T> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| upstream(&ep.server.name, e))?;
            rt.block_on(async move {
                let work = async {
                    let client = connect(&ep).await?;
                    let out = f(&client).await;
                    let _ = client.cancel().await;
                    out
                };
                match tokio::time::timeout(limit, work).await {
                    Ok(out) => out,
                    Err(_) => Err(Error::new(
                        ErrorCode::Timeout,
                        format!(
                            "MCP server `{}` did not answer within {} ms",
                            ep.server.name,
                            limit.as_millis()
                        ),
                    )),
                }
            })
        })
        .map_err(|e| upstream(&name, e))?;
    handle
        .join()
        .map_err(|_| upstream(&name, "its client thread panicked"))?
}

async fn connect(ep: &Endpoint) -> Result<rmcp::service::RunningService<rmcp::RoleClient, ()>> {
    let s = &ep.server;
    if !s.url.is_empty() {
        let mut config =
            rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
                s.url.clone(),
            );
        if let Some(t) = &ep.token {
            config = config.auth_header(t.clone());
        }
        let transport = StreamableHttpClientTransport::from_config(config);
        return ().serve(transport).await.map_err(|e| upstream(&s.name, e));
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    let command = tokio::process::Command::new(&s.command).configure(|cmd| {
        cmd.args(&s.args)
            .env_clear()
            .env("PATH", &path)
            .envs(&s.env)
            .kill_on_drop(true);
    });
    let transport = TokioChildProcess::new(command)
        .map_err(|e| upstream(&s.name, format!("cannot start `{}`: {e}", s.command)))?;
    ().serve(transport).await.map_err(|e| upstream(&s.name, e))
}

/// One tool of an MCP server, as the model sees it: `<server>__<tool>`.
pub struct McpTool {
    endpoint: Endpoint,
    info: McpToolInfo,
    exposed: String,
}

/// The tools `only` (all when `None`) of `server`, for `tenant` (whose secret, if the
/// server takes one, is `token`).
pub fn server_tools(
    server: &McpServerSpec,
    token: Option<String>,
    only: Option<&str>,
) -> Result<Vec<McpTool>> {
    let endpoint = Endpoint {
        server: server.clone(),
        token,
    };
    let limit = Duration::from_millis(server.timeout_ms);
    let listed = with_session(&endpoint, limit, |c| {
        Box::pin(async move { c.list_all_tools().await.map_err(|e| upstream("?", e)) })
    })?;
    Ok(listed
        .into_iter()
        .filter(|t| only.is_none_or(|o| t.name == o))
        .map(|info| {
            let raw = format!("{}__{}", server.name, info.name);
            let exposed: String = raw
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .take(64)
                .collect();
            McpTool {
                endpoint: endpoint.clone(),
                info,
                exposed,
            }
        })
        .collect())
}

/// Every MCP tool `tools` names, for `tenant` (servers it may not use are left out;
/// a server that cannot be reached is left out with a warning).
pub fn mcp_tools(
    engine: &cairn_engine::Engine,
    tenant: &TenantId,
    tools: &[String],
) -> Vec<Arc<dyn Tool>> {
    let mut out: Vec<Arc<dyn Tool>> = Vec::new();
    for t in tools {
        let Some((name, only)) = cairn_config::mcp_tool_ref(t) else {
            continue;
        };
        let Some(server) = engine
            .config()
            .mcp_servers
            .iter()
            .find(|s| s.name == name && s.serves(tenant.as_str()))
        else {
            tracing::warn!(server = name, tenant = %tenant, "MCP server not configured for this tenant");
            continue;
        };
        let token = if server.bearer_secret.is_empty() {
            None
        } else {
            match engine.secret(tenant, &server.bearer_secret) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!(server = name, error = %e, "MCP server's secret cannot be opened");
                    continue;
                }
            }
        };
        match server_tools(server, token, only) {
            Ok(found) => out.extend(found.into_iter().map(|t| Arc::new(t) as Arc<dyn Tool>)),
            Err(e) => {
                tracing::warn!(server = name, error = %e, "MCP server's tools cannot be listed")
            }
        }
    }
    out
}

impl Tool for McpTool {
    fn spec(&self) -> ToolSpec {
        let read_only = self
            .info
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint)
            == Some(true);
        ToolSpec {
            name: self.exposed.clone(),
            description: format!(
                "{} (tool `{}` of the MCP server `{}`)",
                self.info.description.as_deref().unwrap_or(""),
                self.info.name,
                self.endpoint.server.name
            ),
            parameters: Value::Object((*self.info.input_schema).clone()),
            side_effects: !read_only,
        }
    }

    fn configured_names(&self) -> Vec<String> {
        vec![
            format!("mcp:{}.{}", self.endpoint.server.name, self.info.name),
            format!("mcp:{}", self.endpoint.server.name),
        ]
    }

    fn call(&self, ctx: &ToolCtx<'_>, args: &Value) -> Result<String> {
        let server = self.endpoint.server.name.clone();
        let name = self.info.name.to_string();
        let arguments = args.as_object().cloned().unwrap_or_default();
        let left = ctx
            .deadline
            .saturating_duration_since(std::time::Instant::now());
        let limit = Duration::from_millis(self.endpoint.server.timeout_ms)
            .min(left.max(Duration::from_millis(100)));
        let result = with_session(&self.endpoint, limit, move |c| {
            Box::pin(async move {
                c.call_tool(CallToolRequestParams::new(name).with_arguments(arguments))
                    .await
                    .map_err(|e| upstream(&server, e))
            })
        })?;
        let mut text: Vec<String> = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect();
        if text.is_empty()
            && let Some(s) = &result.structured_content
        {
            text.push(s.to_string());
        }
        let text = text.join("\n");
        if result.is_error == Some(true) {
            return Err(upstream(
                &self.endpoint.server.name,
                format!("the tool failed: {text}"),
            ));
        }
        Ok(text)
    }
}
