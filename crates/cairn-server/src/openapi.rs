//! The OpenAPI 3 document, generated from the handlers' annotations, served at
//! `/openapi.json`, and a self-contained docs page at `/docs` rendered from it (no
//! scripts from a CDN: Cairn runs offline).

use crate::{health, native, openai, schemas};
use axum::Json;
use axum::response::Html;
use serde_json::json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cairn API",
        description = "Grounded, cited answers over your documents. \
        OpenAI-compatible endpoints under /v1, the native API under /api/v1. Errors use one \
        envelope: {\"error\": {\"code\", \"message\", \"type\", \"param\", \"request_id\"}}. \
        Every route but /healthz, /readyz, /openapi.json and /docs needs \
        `Authorization: Bearer <API key or JWT>`: 401 unauthorized without valid credentials, \
        403 forbidden when the role or the key's scopes do not allow the action, 429 with \
        Retry-After on rate limits and quotas."
    ),
    paths(
        openai::chat_completions,
        openai::list_models,
        openai::get_model,
        openai::embeddings,
        openai::rerank::rerank,
        openai::responses::create_response,
        native::library::create_collection,
        native::library::list_collections,
        native::library::get_collection,
        native::library::delete_collection,
        native::library::upload,
        native::library::list_documents,
        native::library::get_document,
        native::library::delete_document,
        native::library::list_jobs,
        native::library::get_job,
        native::answers::search,
        native::answers::ask,
        native::answers::create_conversation,
        native::answers::list_conversations,
        native::answers::get_conversation,
        native::answers::delete_conversation,
        native::answers::rename_conversation,
        native::answers::get_answer,
        native::assistants::list_assistants,
        native::assistants::get_assistant,
        native::assistants::put_assistant,
        native::assistants::delete_assistant,
        native::attachments::attach,
        native::attachments::list_attachments,
        native::attachments::detach,
        native::agents::list_agents,
        native::agents::put_agent,
        native::agents::delete_agent,
        native::agents::start_run,
        native::agents::list_runs,
        native::agents::get_run,
        native::agents::cancel_run,
        native::agents::approve_run,
        native::agents::deny_run,
        native::tool_sources::list_sources,
        native::tool_sources::get_source,
        native::tool_sources::put_source,
        native::tool_sources::delete_source,
        native::tool_sources::source_tools,
        native::answers::add_feedback,
        native::identity::me,
        native::identity::create_key,
        native::identity::list_keys,
        native::identity::revoke_key,
        native::identity::rotate_key,
        native::identity::put_user,
        native::identity::list_users,
        native::identity::get_user,
        native::identity::export_user,
        native::identity::erase_user,
        native::sso::auth_config,
        native::sso::oidc_login,
        native::sso::oidc_callback,
        native::sso::get_session,
        native::sso::delete_session,
        native::sso::list_sessions,
        native::sso::revoke_session,
        native::tenant::audit,
        native::tenant::verify_audit,
        native::tenant::get_settings,
        native::tenant::put_settings,
        native::models::list,
        native::models::put,
        native::models::delete,
        native::tenant::usage,
        native::eval_runs::list,
        native::eval_runs::get,
        native::eval_runs::compare_runs,
        native::traces::list,
        native::traces::get,
        native::tenant::list_secrets,
        native::tenant::put_secret,
        native::tenant::delete_secret,
        health::healthz,
        health::readyz,
        openapi_json,
        docs,
    ),
    components(schemas(
        openai::types::ChatRequest,
        openai::types::EmbeddingsRequest,
        openai::rerank::RerankRequest,
        openai::rerank::RerankDocument,
        native::library::NewCollection,
        native::answers::NewConversation,
        native::answers::ConversationPatch,
        native::assistants::AssistantBody,
        native::agents::RunBody,
        native::answers::NewFeedback,
        native::identity::NewKey,
        native::identity::PutUser,
        native::tenant::SecretValue,
        schemas::ErrorEnvelope,
        schemas::SearchBody,
        schemas::AskBody,
        schemas::ResponsesBody,
        schemas::TenantSettingsBody,
        schemas::ModelEntryBody,
        schemas::AgentBody,
        schemas::ToolSourceBody,
        schemas::UploadForm,
        schemas::AttachmentForm,
    ))
)]
pub struct ApiDoc;

/// Routes that need no credentials (the gate's default public paths, and signing in).
const PUBLIC: [&str; 7] = [
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/docs",
    "/api/v1/auth/config",
    "/api/v1/auth/oidc/login",
    "/api/v1/auth/oidc/callback",
];

/// Statuses every authenticated operation may answer besides its own: no or bad
/// credentials, role or scope, rate limit or quota, an unexpected failure, overload.
const COMMON_ERRORS: [(&str, &str); 5] = [
    ("401", "Missing or invalid credentials"),
    ("403", "The role or the key's scopes do not allow this"),
    ("429", "Rate limit or quota; see Retry-After"),
    ("500", "Internal error"),
    ("503", "Overloaded or unavailable; see Retry-After"),
];

/// The spec as JSON: the handlers' annotations, plus the bearer security scheme on
/// every non-public operation and the error envelope on every error response.
pub fn spec() -> serde_json::Value {
    let mut spec = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    spec["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "An API key (`cairn_…`) or a JWT from the configured issuer"}
    });
    spec["security"] = json!([{"bearer": []}]);
    let envelope =
        json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}});
    if let Some(paths) = spec["paths"].as_object_mut() {
        for (path, ops) in paths.iter_mut() {
            let public = PUBLIC.contains(&path.as_str());
            for (_, op) in ops.as_object_mut().into_iter().flatten() {
                let Some(op) = op.as_object_mut() else {
                    continue;
                };
                if public {
                    op.insert("security".into(), json!([]));
                }
                let responses = op.entry("responses").or_insert_with(|| json!({}));
                let Some(responses) = responses.as_object_mut() else {
                    continue;
                };
                if !public {
                    for (status, description) in COMMON_ERRORS {
                        responses
                            .entry(status)
                            .or_insert_with(|| json!({"description": description}));
                    }
                }
                for (status, r) in responses.iter_mut() {
                    if status.starts_with('4') || status.starts_with('5') {
                        if r.get("description").is_none_or(|d| d == "") {
                            r["description"] = json!("Error");
                        }
                        // /readyz's 503 is its own report, not an error envelope.
                        if path != "/readyz" {
                            r["content"] = envelope.clone();
                        }
                    }
                }
            }
        }
    }
    spec
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document", body = Object)))]
pub async fn openapi_json() -> Json<serde_json::Value> {
    Json(spec())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The docs page: every operation with its summary, parameters and responses.
#[utoipa::path(get, path = "/docs", tag = "meta",
    responses((status = 200, description = "HTML page", content_type = "text/html", body = String)))]
pub async fn docs() -> Html<String> {
    let spec = spec();
    let mut body = String::new();
    let title = spec["info"]["title"].as_str().unwrap_or("API");
    body.push_str(&format!(
        "<h1>{}</h1><p>{}</p><p><a href=\"/openapi.json\">openapi.json</a></p>",
        escape(title),
        escape(spec["info"]["description"].as_str().unwrap_or(""))
    ));
    if let Some(paths) = spec["paths"].as_object() {
        for (path, ops) in paths {
            let Some(ops) = ops.as_object() else { continue };
            for (method, op) in ops {
                body.push_str(&format!(
                    "<section><h2><span class=\"m\">{}</span> <code>{}</code></h2>",
                    escape(&method.to_uppercase()),
                    escape(path)
                ));
                for key in ["summary", "description"] {
                    if let Some(t) = op[key].as_str() {
                        body.push_str(&format!("<p>{}</p>", escape(t)));
                    }
                }
                if let Some(params) = op["parameters"].as_array() {
                    body.push_str("<h3>Parameters</h3><ul>");
                    for p in params {
                        body.push_str(&format!(
                            "<li><code>{}</code> ({}){}</li>",
                            escape(p["name"].as_str().unwrap_or("")),
                            escape(p["in"].as_str().unwrap_or("")),
                            p["description"]
                                .as_str()
                                .map(|d| format!(": {}", escape(d)))
                                .unwrap_or_default()
                        ));
                    }
                    body.push_str("</ul>");
                }
                if let Some(responses) = op["responses"].as_object() {
                    body.push_str("<h3>Responses</h3><ul>");
                    for (code, r) in responses {
                        body.push_str(&format!(
                            "<li><b>{}</b> {}</li>",
                            escape(code),
                            escape(r["description"].as_str().unwrap_or(""))
                        ));
                    }
                    body.push_str("</ul>");
                }
                body.push_str("</section>");
            }
        }
    }
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{} docs</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}\
         section{{border-top:1px solid #ddd;padding:.5rem 0}} .m{{background:#234;color:#fff;\
         padding:0 .4rem;border-radius:3px;font-size:.8em}} code{{font-size:1em}}</style></head>\
         <body>{body}</body></html>",
        escape(title)
    ))
}
