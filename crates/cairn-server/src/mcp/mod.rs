//! The Model Context Protocol endpoint, `/mcp` (streamable HTTP, served by `rmcp`):
//! tools `search`, `ask`, `list_collections` and `get_document`, and the caller's
//! documents as resources (`cairn://documents/<id>`).
//!
//! `/mcp` sits behind the same gate as every API route: the bearer API key, JWT or
//! session is authenticated and rate limited there (an MCP request without one gets the
//! API's 401), and the caller's identity and tenant settings ride into the handler in the
//! request's extensions, which `rmcp` hands over with each call. A tool call is then
//! dispatched to the API route that does the same thing (`POST /api/v1/search`, ...) on
//! the gate-less inner router, with those extensions: tenancy, ACLs, roles and scopes,
//! guardrails, metering and audit are the API's own, and a tool's error is the API's
//! error (stable code and message) returned as a tool error.
//!
//! The server is stateless (no MCP sessions), so any replica answers any request, and
//! DNS-rebinding protection is on: the `Host` header must name this server (loopback
//! names, the listen address, or one of `server.mcp_allowed_hosts`).

mod tools;

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use cairn_types::ErrorCode;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use std::sync::Arc;

/// The `/mcp` service over `state`; `inner` is the API's router without the gate.
pub fn service(
    state: &AppState,
    inner: Router,
) -> StreamableHttpService<tools::CairnMcp, LocalSessionManager> {
    let config = state.engine.config();
    let agents = config
        .agents
        .iter()
        .map(|a| (a.name.clone(), a.description.clone()))
        .collect();
    let handler = tools::CairnMcp::new(inner, agents);
    let mut http = StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed_hosts(config))
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(config.server.max_body_bytes);
    http.sse_keep_alive = None;
    StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        http,
    )
}

/// OAuth protected-resource metadata (RFC 9728) for `/mcp`, served without credentials,
/// so a hosted MCP client that gets `401` can find the authorization server whose
/// tokens `/mcp` accepts.
pub const METADATA_ROUTES: [&str; 2] = [
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
];

/// The authorization server whose access tokens `/mcp` accepts: the issuer of the
/// bearer JWTs `[auth.jwt]` verifies (none: API keys only).
fn authorization_server(config: &cairn_config::Config) -> Option<&str> {
    let issuer = config.auth.jwt.issuer.trim();
    (!issuer.is_empty()).then_some(issuer)
}

/// Where `/mcp`'s protected-resource metadata is, for a `WWW-Authenticate` header
/// (`None` without an authorization server, or a request without a usable `Host`).
pub fn metadata_url(config: &cairn_config::Config, headers: &HeaderMap) -> Option<String> {
    authorization_server(config)?;
    let origin = crate::native::sso::origin_of(headers)?;
    Some(format!("{origin}{}", METADATA_ROUTES[1]))
}

/// `GET /.well-known/oauth-protected-resource[/mcp]`.
pub async fn protected_resource(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let config = state.engine.config();
    let (Some(issuer), Some(origin)) = (
        authorization_server(config),
        crate::native::sso::origin_of(&headers),
    ) else {
        return ApiError::new(
            ErrorCode::NotFound,
            "no OAuth authorization server is configured for /mcp ([auth.jwt] issuer); \
             connect with an API key as a bearer token",
        )
        .into_response();
    };
    let mut scopes = vec!["openid".to_owned()];
    scopes.extend(
        config
            .auth
            .oidc
            .scopes
            .iter()
            .filter(|s| s.as_str() != "openid")
            .cloned(),
    );
    axum::Json(json!({
        "resource": format!("{origin}/mcp"),
        "authorization_servers": [issuer],
        "bearer_methods_supported": ["header"],
        "scopes_supported": scopes,
        "resource_name": "Cairn",
        "resource_documentation": format!("{origin}/docs"),
    }))
    .into_response()
}

/// Hosts a request's `Host` header may name (DNS-rebinding protection).
fn allowed_hosts(config: &cairn_config::Config) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .iter()
        .map(|h| (*h).to_owned())
        .collect();
    let listen = &config.server.listen;
    if let Some((host, _)) = listen.rsplit_once(':') {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if !host.is_empty() && host != "0.0.0.0" && host != "::" {
            hosts.push(host.to_owned());
        }
    }
    hosts.extend(config.server.mcp_allowed_hosts.iter().cloned());
    hosts.sort();
    hosts.dedup();
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listen_address_and_configured_names_are_allowed() {
        let (mut config, _) = cairn_config::load_from_str("", "t", &[]).unwrap();
        config.server.listen = "10.0.0.5:8080".into();
        config.server.mcp_allowed_hosts = vec!["cairn.example.com".into()];
        let hosts = allowed_hosts(&config);
        for h in [
            "localhost",
            "127.0.0.1",
            "::1",
            "10.0.0.5",
            "cairn.example.com",
        ] {
            assert!(hosts.contains(&h.to_owned()), "{h} in {hosts:?}");
        }
        config.server.listen = "0.0.0.0:8080".into();
        config.server.mcp_allowed_hosts.clear();
        assert_eq!(
            allowed_hosts(&config).len(),
            3,
            "a wildcard address names no host"
        );
    }
}
