//! Tools of external MCP servers (`[[mcp_servers]]`, or a tenant's tool source saved
//! through the API), called with the `rmcp` client.
//!
//! A server is reached over streamable HTTP (with the tenant's sealed secret as its
//! bearer token) or started as a stdio process with an empty environment (only `PATH`
//! and the configured `env`: none of Cairn's secrets) and killed at the time limit.
//! A tenant's own server is reached without redirects and, unless the operator allows
//! it, never at a loopback, private or link-local address (checked on every
//! resolution, and on an address written in the URL).
//! Each run lists a server's tools once, when it starts, and each call opens its own
//! session, on a thread of its own (the MCP client is asynchronous; the agent loop is
//! not). A tool's JSON Schema comes from the server and is checked like a built-in
//! tool's; its output is screened like any other. Calls are treated as having side
//! effects (never repeated on resume) unless the server marks the tool read-only.

use super::{Tool, ToolCtx, ToolSpec};
use crate::{Error, Result};
use cairn_config::McpServerSpec;
use cairn_types::ErrorCode;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, Tool as McpToolInfo};
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use serde_json::Value;
use std::time::Duration;

/// What a call needs to reach its server.
#[derive(Clone)]
struct Endpoint {
    server: McpServerSpec,
    /// The bearer token for `url` servers (the tenant's secret), if any.
    token: Option<String>,
    /// Refuse private, loopback and link-local addresses (a tenant's own server).
    guard_private: bool,
}

/// reqwest's resolver, refusing hosts that resolve to a private address.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| super::http::is_private(a.ip())) {
                return Err(format!(
                    "`{host}` resolves to {}, a private, loopback or link-local address",
                    bad.ip()
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Refuses a URL whose host is a private, loopback or link-local address written out,
/// or `localhost`.
pub(crate) fn check_public_url(url: &str) -> Result<()> {
    let uri: ureq::http::Uri = url.parse().map_err(|e| {
        Error::new(
            ErrorCode::InvalidInput,
            format!("`{url}` is not a URL: {e}"),
        )
    })?;
    let host = uri
        .host()
        .unwrap_or("")
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    let private = host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(super::http::is_private);
    if private {
        return Err(Error::new(
            ErrorCode::Forbidden,
            format!(
                "`{host}` is a private, loopback or link-local address; the operator allows \
                 those with `server.tool_sources_allow_private`"
            ),
        ));
    }
    Ok(())
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
        if ep.guard_private {
            check_public_url(&s.url)?;
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(PublicOnly)
                .build()
                .map_err(|e| upstream(&s.name, e))?;
            let transport = StreamableHttpClientTransport::with_client(client, config);
            return ().serve(transport).await.map_err(|e| upstream(&s.name, e));
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

/// The tools named in `only` (all when `None`) of `server`, listed once, for a tenant
/// whose secret, if the
/// server takes one, is `token`; `guard_private` for a tenant's own server.
pub fn server_tools(
    server: &McpServerSpec,
    token: Option<String>,
    only: Option<&[&str]>,
    guard_private: bool,
) -> Result<Vec<McpTool>> {
    let endpoint = Endpoint {
        server: server.clone(),
        token,
        guard_private,
    };
    let limit = Duration::from_millis(server.timeout_ms);
    let listed = with_session(&endpoint, limit, |c| {
        Box::pin(async move { c.list_all_tools().await.map_err(|e| upstream("?", e)) })
    })?;
    Ok(listed
        .into_iter()
        .filter(|t| only.is_none_or(|o| o.contains(&t.name.as_ref())))
        .map(|info| McpTool {
            exposed: super::exposed_name(&server.name, &info.name),
            endpoint: endpoint.clone(),
            info,
        })
        .collect())
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
