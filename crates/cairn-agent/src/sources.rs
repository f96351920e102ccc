//! Tool sources: where an agent's tools beyond the built-ins come from. MCP servers
//! (`[[mcp_servers]]`) and OpenAPI documents (`[[openapi_tools]]`) in the configuration
//! serve the tenants they list; each tenant adds its own through the API
//! (`/api/v1/tool-sources`).
//!
//! A saved source names the tenant secret it authenticates with (sealed like every
//! secret, never stored in the source), cannot take a configured name, cannot start a
//! command (stdio servers run a program on the server: only the configuration file, its
//! administrators, names one), and reaches no loopback, private or link-local address
//! unless the operator sets `server.tool_sources_allow_private`.

use crate::tools::{self, Tool, ToolSpec};
use crate::{Error, Result};
use cairn_config::{McpServerSpec, OpenApiToolsSpec, mcp_tool_ref, openapi_tool_ref};
use cairn_engine::Engine;
use cairn_store::ToolSource;
use cairn_types::{ErrorCode, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A source, ready to list or call its tools.
#[derive(Clone, Debug)]
pub enum Source {
    Mcp {
        spec: McpServerSpec,
        /// A tenant's own server: no private addresses unless the operator allows them.
        guard_private: bool,
    },
    OpenApi {
        spec: OpenApiToolsSpec,
        document: Value,
    },
}

impl Source {
    /// `mcp` or `openapi`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Mcp { .. } => "mcp",
            Self::OpenApi { .. } => "openapi",
        }
    }
}

/// A source as the API lists it.
#[derive(Clone, Debug, Serialize)]
pub struct Listed {
    pub name: String,
    /// `mcp` or `openapi`.
    pub kind: &'static str,
    /// `config` or `api`.
    pub origin: &'static str,
    pub description: String,
    /// The source's settings (an OpenAPI document itself is left out).
    pub settings: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// `PUT /api/v1/tool-sources/{name}`: an MCP server reached over streamable HTTP, or
/// an OpenAPI 3 document (JSON object, or JSON / YAML text).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceBody {
    /// `mcp` or `openapi`.
    pub kind: String,
    /// When given, it must be the path's name.
    pub name: String,
    pub description: String,
    /// `mcp`: the server's `http(s)://…/mcp` URL.
    pub url: String,
    /// `mcp`: the tenant secret sent as `Authorization: Bearer`.
    pub bearer_secret: String,
    /// `mcp`: refused (stdio servers are configured in the file only).
    pub command: String,
    /// `openapi`: the document.
    pub document: Value,
    /// `openapi`: where the API is served (empty: the document's first `servers` URL).
    pub base_url: String,
    /// `openapi`: `none`, `bearer`, `header`, `query` or `basic`.
    pub auth: String,
    pub auth_name: String,
    pub auth_secret: String,
    /// `openapi`: the `operationId`s offered (empty: all).
    pub operations: Vec<String>,
    /// Limit on one call, in milliseconds (default 30000).
    pub timeout_ms: Option<u64>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidInput, message)
}

fn private_allowed(engine: &Engine) -> bool {
    engine.config().server.tool_sources_allow_private
}

fn configured_kind(engine: &Engine, name: &str) -> Option<&'static str> {
    let c = engine.config();
    if c.mcp_servers.iter().any(|s| s.name == name) {
        Some("mcp")
    } else if c.openapi_tools.iter().any(|s| s.name == name) {
        Some("openapi")
    } else {
        None
    }
}

/// A saved source read back.
fn from_store(engine: &Engine, saved: &ToolSource) -> Result<Source> {
    let corrupt = |e: serde_json::Error| {
        Error::new(
            ErrorCode::Internal,
            format!("saved tool source `{}` cannot be read: {e}", saved.name),
        )
    };
    let settings = saved.spec.get("settings").cloned().unwrap_or(Value::Null);
    match saved.spec.get("kind").and_then(Value::as_str) {
        Some("mcp") => Ok(Source::Mcp {
            spec: serde_json::from_value(settings).map_err(corrupt)?,
            guard_private: !private_allowed(engine),
        }),
        Some("openapi") => {
            let mut spec: OpenApiToolsSpec = serde_json::from_value(settings).map_err(corrupt)?;
            spec.allow_private = private_allowed(engine);
            Ok(Source::OpenApi {
                spec,
                document: saved.spec.get("document").cloned().unwrap_or(Value::Null),
            })
        }
        other => Err(Error::new(
            ErrorCode::Internal,
            format!("saved tool source `{}` has kind {other:?}", saved.name),
        )),
    }
}

fn read_document(spec: &OpenApiToolsSpec) -> Result<Value> {
    let text = std::fs::read_to_string(&spec.document).map_err(|e| {
        Error::new(
            ErrorCode::Internal,
            format!(
                "OpenAPI source `{}`: `{}` cannot be read: {e}",
                spec.name, spec.document
            ),
        )
    })?;
    tools::parse_openapi(&text)
}

/// `tenant`'s source `name`: a configured one that serves it, else its own.
pub fn find(engine: &Engine, tenant: &TenantId, name: &str) -> Result<Source> {
    let c = engine.config();
    if let Some(s) = c
        .mcp_servers
        .iter()
        .find(|s| s.name == name && s.serves(tenant.as_str()))
    {
        return Ok(Source::Mcp {
            spec: s.clone(),
            guard_private: false,
        });
    }
    if let Some(s) = c
        .openapi_tools
        .iter()
        .find(|s| s.name == name && s.serves(tenant.as_str()))
    {
        return Ok(Source::OpenApi {
            spec: s.clone(),
            document: read_document(s)?,
        });
    }
    match engine.store().get_tool_source(tenant, name) {
        Ok(saved) => from_store(engine, &saved),
        Err(cairn_store::Error::NotFound { .. }) => Err(Error::new(
            ErrorCode::NotFound,
            format!("tool source `{name}` not found"),
        )),
        Err(e) => Err(e.into()),
    }
}

fn mcp_settings(s: &McpServerSpec) -> Value {
    json!({"url": s.url, "command": s.command, "bearer_secret": s.bearer_secret,
        "timeout_ms": s.timeout_ms})
}

fn openapi_settings(s: &OpenApiToolsSpec) -> Value {
    json!({"base_url": s.base_url, "auth": s.auth, "auth_name": s.auth_name,
        "auth_secret": s.auth_secret, "operations": s.operations, "timeout_ms": s.timeout_ms})
}

fn listed(engine: &Engine, saved: &ToolSource) -> Result<Listed> {
    let (kind, settings) = match from_store(engine, saved)? {
        Source::Mcp { spec, .. } => ("mcp", mcp_settings(&spec)),
        Source::OpenApi { spec, .. } => ("openapi", openapi_settings(&spec)),
    };
    Ok(Listed {
        name: saved.name.clone(),
        kind,
        origin: "api",
        description: saved.spec["description"].as_str().unwrap_or("").to_owned(),
        settings,
        updated_by: Some(saved.updated_by.clone()),
        updated_at: Some(saved.updated_at),
    })
}

/// Every source `tenant`'s agents may use: configured ones (by name), then its own.
pub fn list(engine: &Engine, tenant: &TenantId) -> Result<Vec<Listed>> {
    let c = engine.config();
    let mut out: Vec<Listed> = c
        .mcp_servers
        .iter()
        .filter(|s| s.serves(tenant.as_str()))
        .map(|s| Listed {
            name: s.name.clone(),
            kind: "mcp",
            origin: "config",
            description: String::new(),
            settings: mcp_settings(s),
            updated_by: None,
            updated_at: None,
        })
        .chain(
            c.openapi_tools
                .iter()
                .filter(|s| s.serves(tenant.as_str()))
                .map(|s| Listed {
                    name: s.name.clone(),
                    kind: "openapi",
                    origin: "config",
                    description: String::new(),
                    settings: openapi_settings(s),
                    updated_by: None,
                    updated_at: None,
                }),
        )
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    for saved in engine.store().list_tool_sources(tenant)? {
        out.push(listed(engine, &saved)?);
    }
    Ok(out)
}

/// The tools a source offers `tenant`, as the model sees them (an MCP server is asked).
pub fn offered(engine: &Engine, tenant: &TenantId, name: &str) -> Result<Vec<ToolSpec>> {
    let source = find(engine, tenant, name)?;
    Ok(open(engine, tenant, &source, None)?
        .iter()
        .map(|t| t.spec())
        .collect())
}

fn secret(engine: &Engine, tenant: &TenantId, name: &str) -> Result<Option<String>> {
    if name.is_empty() {
        return Ok(None);
    }
    engine.secret(tenant, name).map(Some)
}

/// The tools of `source` (only those `only` names, when given), with `tenant`'s
/// credential: an MCP server is asked once, a document read once.
fn open(
    engine: &Engine,
    tenant: &TenantId,
    source: &Source,
    only: Option<&[&str]>,
) -> Result<Vec<Arc<dyn Tool>>> {
    match source {
        Source::Mcp {
            spec,
            guard_private,
        } => {
            let token = secret(engine, tenant, &spec.bearer_secret)?;
            Ok(tools::server_tools(spec, token, only, *guard_private)?
                .into_iter()
                .map(|t| Arc::new(t) as Arc<dyn Tool>)
                .collect())
        }
        Source::OpenApi { spec, document } => {
            let credential = secret(engine, tenant, &spec.auth_secret)?;
            Ok(
                tools::openapi_source_tools(spec, document, credential, only)?
                    .into_iter()
                    .map(|t| Arc::new(t) as Arc<dyn Tool>)
                    .collect(),
            )
        }
    }
}

/// Every MCP and OpenAPI tool `names` lists, for `tenant`. A source it may not use, or
/// that cannot be reached, is left out with a warning (the run goes on without it).
pub fn source_tools(engine: &Engine, tenant: &TenantId, names: &[String]) -> Vec<Arc<dyn Tool>> {
    // Each source once: all its tools, or the ones named.
    let mut wanted: BTreeMap<&str, Option<Vec<&str>>> = BTreeMap::new();
    let mut kinds: BTreeMap<&str, &'static str> = BTreeMap::new();
    for t in names {
        let Some((kind, source, tool)) = reference(t) else {
            continue;
        };
        kinds.insert(source, kind);
        let entry = wanted.entry(source).or_insert_with(|| Some(Vec::new()));
        match (entry.as_mut(), tool) {
            (Some(list), Some(tool)) => list.push(tool),
            (_, None) => *entry = None,
            (None, Some(_)) => {}
        }
    }
    let mut out = Vec::new();
    for (name, only) in wanted {
        let named = kinds.get(name).copied().unwrap_or("");
        let opened = find(engine, tenant, name).and_then(|source| {
            // `mcp:x` never reaches an OpenAPI source `x`, nor the other way round.
            let kind = source.kind();
            if kind != named {
                return Err(Error::new(
                    ErrorCode::InvalidInput,
                    format!("`{name}` is an {kind} source, not {named}"),
                ));
            }
            Ok(source)
        });
        let opened = opened.and_then(|source| open(engine, tenant, &source, only.as_deref()));
        match opened {
            Ok(found) => out.extend(found),
            Err(e) => {
                tracing::warn!(source = name, tenant = %tenant, error = %e, "tool source left out of the run")
            }
        }
    }
    out
}

/// Checks a body and saves it as `tenant`'s source `name`.
pub fn save(
    engine: &Engine,
    tenant: &TenantId,
    name: &str,
    body: &SourceBody,
    by: &str,
    now: i64,
) -> Result<Listed> {
    if !body.name.is_empty() && body.name != name {
        return Err(invalid(format!(
            "the body names `{}`, the path `{name}`",
            body.name
        )));
    }
    if !cairn_config::is_slug(name) || name.contains("__") {
        return Err(invalid(format!(
            "`{name}`: a tool source's name is 1-64 letters, digits, - and _, without `__`"
        )));
    }
    if let Some(kind) = configured_kind(engine, name) {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!("`{name}` is an {kind} source of the configuration file; pick another name"),
        ));
    }
    let timeout_ms = body.timeout_ms.unwrap_or(30_000);
    let need_secret = |secret: &str| -> Result<()> {
        if secret.is_empty() {
            return Ok(());
        }
        engine.secret(tenant, secret).map(|_| ()).map_err(|_| {
            invalid(format!(
                "tenant `{tenant}` has no secret `{secret}`: store it first with PUT \
                 /api/v1/secrets/{secret}"
            ))
        })
    };
    let spec = match body.kind.as_str() {
        "mcp" => {
            let openapi_only = !body.document.is_null()
                || !body.base_url.is_empty()
                || !body.auth.is_empty()
                || !body.auth_secret.is_empty()
                || !body.operations.is_empty();
            if openapi_only {
                return Err(invalid(
                    "`document`, `base_url`, `auth*` and `operations` are for `openapi` sources",
                ));
            }
            if !body.command.is_empty() {
                return Err(Error::new(
                    ErrorCode::Forbidden,
                    "stdio MCP servers run a program on the server: only the configuration \
                     file ([[mcp_servers]]) can define one",
                ));
            }
            let server = McpServerSpec {
                name: name.to_owned(),
                url: body.url.clone(),
                bearer_secret: body.bearer_secret.clone(),
                timeout_ms,
                ..McpServerSpec::default()
            };
            server.check("body").map_err(|e| invalid(e.to_string()))?;
            if !private_allowed(engine) {
                tools::check_public_url(&server.url)?;
            }
            need_secret(&server.bearer_secret)?;
            json!({"kind": "mcp", "description": body.description,
                "settings": serde_json::to_value(&server).map_err(|e| invalid(e.to_string()))?})
        }
        "openapi" => {
            if !body.url.is_empty() || !body.bearer_secret.is_empty() || !body.command.is_empty() {
                return Err(invalid(
                    "`url`, `bearer_secret` and `command` are for `mcp` sources",
                ));
            }
            let document = match &body.document {
                Value::String(text) => tools::parse_openapi(text)?,
                Value::Object(_) => body.document.clone(),
                Value::Null => return Err(invalid("`document`: the OpenAPI document is missing")),
                _ => return Err(invalid("`document`: an object, or JSON or YAML text")),
            };
            let settings = OpenApiToolsSpec {
                name: name.to_owned(),
                base_url: body.base_url.clone(),
                auth: if body.auth.is_empty() {
                    "none".into()
                } else {
                    body.auth.clone()
                },
                auth_name: body.auth_name.clone(),
                auth_secret: body.auth_secret.clone(),
                operations: body.operations.clone(),
                timeout_ms,
                ..OpenApiToolsSpec::default()
            };
            settings.check("body").map_err(|e| invalid(e.to_string()))?;
            let offered = tools::openapi_source_tools(&settings, &document, None, None)?;
            if offered.is_empty() {
                return Err(invalid("the document has no operation an agent can call"));
            }
            if !private_allowed(engine) {
                let base = tools::read_openapi(&document)?.server.unwrap_or_default();
                let base = if settings.base_url.is_empty() {
                    base
                } else {
                    settings.base_url.clone()
                };
                tools::check_public_url(&base)?;
            }
            need_secret(&settings.auth_secret)?;
            json!({"kind": "openapi", "description": body.description,
                "settings": serde_json::to_value(&settings).map_err(|e| invalid(e.to_string()))?,
                "document": document})
        }
        other => {
            return Err(invalid(format!(
                "`kind`: `{other}`; expected `mcp` or `openapi`"
            )));
        }
    };
    let saved = engine.store().put_tool_source(&ToolSource {
        tenant: tenant.clone(),
        name: name.to_owned(),
        spec,
        updated_by: by.to_owned(),
        created_at: now,
        updated_at: now,
    })?;
    listed(engine, &saved)
}

/// `tenant`'s own source `name`, whole (an OpenAPI source with its document).
pub fn get_saved(engine: &Engine, tenant: &TenantId, name: &str) -> Result<Value> {
    let saved = engine.store().get_tool_source(tenant, name)?;
    let mut out = serde_json::to_value(listed(engine, &saved)?)
        .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
    if let Some(doc) = saved.spec.get("document") {
        out["document"] = doc.clone();
    }
    Ok(out)
}

/// Deletes `tenant`'s own source `name` (configured ones cannot be deleted here).
pub fn delete(engine: &Engine, tenant: &TenantId, name: &str) -> Result<()> {
    if let Some(kind) = configured_kind(engine, name) {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!("`{name}` is an {kind} source of the configuration file"),
        ));
    }
    Ok(engine.store().delete_tool_source(tenant, name)?)
}

/// The kind (`mcp` or `openapi`) of `tenant`'s source `name` (configured for it, or its
/// own); `None` when it has none of that name.
pub fn kind_of(engine: &Engine, tenant: &TenantId, name: &str) -> Result<Option<&'static str>> {
    let c = engine.config();
    if c.mcp_servers
        .iter()
        .any(|s| s.name == name && s.serves(tenant.as_str()))
    {
        return Ok(Some("mcp"));
    }
    if c.openapi_tools
        .iter()
        .any(|s| s.name == name && s.serves(tenant.as_str()))
    {
        return Ok(Some("openapi"));
    }
    match engine.store().get_tool_source(tenant, name) {
        Ok(saved) => Ok(match saved.spec.get("kind").and_then(Value::as_str) {
            Some("mcp") => Some("mcp"),
            Some("openapi") => Some("openapi"),
            _ => None,
        }),
        Err(cairn_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The kind a tool reference names (`mcp:…` or `openapi:…`) and its source and tool.
fn reference(tool: &str) -> Option<(&'static str, &str, Option<&str>)> {
    mcp_tool_ref(tool)
        .map(|(s, t)| ("mcp", s, t))
        .or_else(|| openapi_tool_ref(tool).map(|(s, t)| ("openapi", s, t)))
}
