//! The route table: every (method, path, handler) the server answers. [`crate::router`]
//! is built from it, and a test checks that the OpenAPI document describes exactly
//! these operations, so a route cannot be added without its documentation (and the
//! security suite, which enumerates `/openapi.json`, then demands attack cases for it).

use crate::state::AppState;
use crate::{health, native, openai, openapi};
use axum::routing::MethodRouter;

/// The upload routes: they take `server.max_upload_bytes` instead of `max_body_bytes`.
pub(crate) const UPLOADS: &[(&str, &str)] = &[
    ("post", "/api/v1/collections/{collection}/documents"),
    ("post", "/api/v1/conversations/{conversation}/attachments"),
];

macro_rules! table {
    ($($method:ident $path:literal => $handler:path,)*) => {
        /// Every route as (lowercase method, path in axum's syntax, handler).
        pub(crate) fn table() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
            vec![$((stringify!($method), $path, axum::routing::$method($handler)),)*]
        }
    };
}

table! {
    post "/v1/chat/completions" => openai::chat_completions,
    get "/v1/models" => openai::list_models,
    get "/v1/models/{*model}" => openai::get_model,
    post "/v1/embeddings" => openai::embeddings,
    post "/v1/rerank" => openai::rerank::rerank,
    post "/v1/responses" => openai::responses::create_response,
    post "/api/v1/collections" => native::library::create_collection,
    get "/api/v1/collections" => native::library::list_collections,
    get "/api/v1/collections/{collection}" => native::library::get_collection,
    delete "/api/v1/collections/{collection}" => native::library::delete_collection,
    post "/api/v1/collections/{collection}/documents" => native::library::upload,
    get "/api/v1/collections/{collection}/documents" => native::library::list_documents,
    get "/api/v1/documents/{document}" => native::library::get_document,
    delete "/api/v1/documents/{document}" => native::library::delete_document,
    get "/api/v1/jobs" => native::library::list_jobs,
    get "/api/v1/jobs/{job}" => native::library::get_job,
    post "/api/v1/search" => native::answers::search,
    post "/api/v1/ask" => native::answers::ask,
    post "/api/v1/conversations" => native::answers::create_conversation,
    get "/api/v1/conversations" => native::answers::list_conversations,
    get "/api/v1/conversations/{conversation}" => native::answers::get_conversation,
    delete "/api/v1/conversations/{conversation}" => native::answers::delete_conversation,
    patch "/api/v1/conversations/{conversation}" => native::answers::rename_conversation,
    post "/api/v1/conversations/{conversation}/attachments" => native::attachments::attach,
    get "/api/v1/conversations/{conversation}/attachments" => native::attachments::list_attachments,
    delete "/api/v1/conversations/{conversation}/attachments/{document}" => native::attachments::detach,
    get "/api/v1/answers/{answer}" => native::answers::get_answer,
    get "/api/v1/assistants" => native::assistants::list_assistants,
    get "/api/v1/assistants/{assistant}" => native::assistants::get_assistant,
    put "/api/v1/assistants/{assistant}" => native::assistants::put_assistant,
    delete "/api/v1/assistants/{assistant}" => native::assistants::delete_assistant,
    post "/api/v1/answers/{answer}/feedback" => native::answers::add_feedback,
    get "/api/v1/agents" => native::agents::list_agents,
    put "/api/v1/agents/{name}" => native::agents::put_agent,
    delete "/api/v1/agents/{name}" => native::agents::delete_agent,
    post "/api/v1/agents/{name}/runs" => native::agents::start_run,
    get "/api/v1/agent-runs" => native::agents::list_runs,
    get "/api/v1/agent-runs/{id}" => native::agents::get_run,
    delete "/api/v1/agent-runs/{id}" => native::agents::cancel_run,
    post "/api/v1/agent-runs/{id}/approve" => native::agents::approve_run,
    post "/api/v1/agent-runs/{id}/deny" => native::agents::deny_run,
    get "/api/v1/tool-sources" => native::tool_sources::list_sources,
    get "/api/v1/tool-sources/{name}" => native::tool_sources::get_source,
    put "/api/v1/tool-sources/{name}" => native::tool_sources::put_source,
    delete "/api/v1/tool-sources/{name}" => native::tool_sources::delete_source,
    get "/api/v1/tool-sources/{name}/tools" => native::tool_sources::source_tools,
    get "/api/v1/me" => native::identity::me,
    get "/api/v1/auth/config" => native::sso::auth_config,
    get "/api/v1/auth/oidc/login" => native::sso::oidc_login,
    get "/api/v1/auth/oidc/callback" => native::sso::oidc_callback,
    get "/api/v1/auth/session" => native::sso::get_session,
    delete "/api/v1/auth/session" => native::sso::delete_session,
    get "/api/v1/auth/sessions" => native::sso::list_sessions,
    delete "/api/v1/auth/sessions/{session}" => native::sso::revoke_session,
    post "/api/v1/keys" => native::identity::create_key,
    get "/api/v1/keys" => native::identity::list_keys,
    delete "/api/v1/keys/{key}" => native::identity::revoke_key,
    post "/api/v1/keys/{key}/rotate" => native::identity::rotate_key,
    post "/api/v1/users" => native::identity::put_user,
    get "/api/v1/users" => native::identity::list_users,
    get "/api/v1/users/{user}" => native::identity::get_user,
    delete "/api/v1/users/{user}" => native::identity::erase_user,
    get "/api/v1/users/{user}/export" => native::identity::export_user,
    get "/api/v1/audit" => native::tenant::audit,
    post "/api/v1/audit/verify" => native::tenant::verify_audit,
    get "/api/v1/tenant/settings" => native::tenant::get_settings,
    put "/api/v1/tenant/settings" => native::tenant::put_settings,
    get "/api/v1/tenant/usage" => native::tenant::usage,
    get "/api/v1/eval-runs" => native::eval_runs::list,
    get "/api/v1/eval-runs/{run}" => native::eval_runs::get,
    get "/api/v1/eval-runs/{run}/compare/{other}" => native::eval_runs::compare_runs,
    get "/api/v1/traces" => native::traces::list,
    get "/api/v1/traces/{trace}" => native::traces::get,
    get "/api/v1/models" => native::models::list,
    put "/api/v1/models/{name}" => native::models::put,
    delete "/api/v1/models/{name}" => native::models::delete,
    get "/api/v1/secrets" => native::tenant::list_secrets,
    put "/api/v1/secrets/{name}" => native::tenant::put_secret,
    delete "/api/v1/secrets/{name}" => native::tenant::delete_secret,
    get "/healthz" => health::healthz,
    get "/readyz" => health::readyz,
    get "/openapi.json" => openapi::openapi_json,
    get "/docs" => openapi::docs,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Every route of the router is an operation of the OpenAPI document, and every
    /// operation is a route: a route added without its `#[utoipa::path]` (or a stale
    /// path in the document) fails here.
    #[test]
    fn the_openapi_document_lists_exactly_the_routers_routes() {
        let routes: BTreeSet<(String, String)> = super::table()
            .into_iter()
            .map(|(m, p, _)| (m.to_owned(), p.replace("{*", "{")))
            .collect();
        assert_eq!(
            routes.len(),
            super::table().len(),
            "a route is listed twice"
        );
        let spec = crate::openapi::spec();
        let mut documented = BTreeSet::new();
        for (path, ops) in spec["paths"].as_object().into_iter().flatten() {
            for method in ops.as_object().into_iter().flatten().map(|(m, _)| m) {
                if ["get", "put", "post", "delete", "patch", "head", "options"]
                    .contains(&method.as_str())
                {
                    documented.insert((method.clone(), path.clone()));
                }
            }
        }
        let undocumented: Vec<_> = routes.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routes).collect();
        assert!(
            undocumented.is_empty() && unrouted.is_empty(),
            "routes missing from /openapi.json: {undocumented:?}; \
             documented operations with no route: {unrouted:?}"
        );
        for (m, p) in super::UPLOADS {
            assert!(
                routes.contains(&((*m).to_owned(), (*p).to_owned())),
                "UPLOADS names a route: {m} {p}"
            );
        }
    }
}
