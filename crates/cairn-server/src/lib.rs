//! Cairn's HTTP server: the OpenAI-compatible API under `/v1`, the native API under
//! `/api/v1`, `/openapi.json` with a `/docs` page, and `/healthz` / `/readyz`.
//!
//! HTTP lives only in this crate. Handlers validate, then hand blocking engine work to
//! the blocking pool ([`state::blocking`]) under the request timeout, or stream it as
//! SSE ([`sse`]). Every error is one envelope with a stable code ([`error`]) and the
//! request id ([`request_id`]). Bodies are size-limited (413), JSON endpoints demand
//! JSON (415), and a client that disconnects cancels its generation.
//!
//! Every route but the configured public ones passes the [`gate`]: authentication (API
//! key or JWT → [`auth::Identity`]), rate limits and quotas. Handlers name the
//! permission they need in their signature ([`auth::Can`]).
//!
//! Invariants:
//! - Every engine call names the caller's tenant and principal: retrieval, documents,
//!   jobs, conversations and answers are filtered by tenant, ACL and owner, and what a
//!   caller may not see answers `404 not_found`, exactly like an id that does not exist.
//! - Nothing stored changes when a request is rejected.

pub mod auth;
pub mod error;
mod extract;
pub mod gate;
mod guardrails;
mod health;
pub mod limits;
mod native;
pub mod openai;
pub mod openapi;
mod request_id;
pub mod settings;
mod sse;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use cairn_engine::Engine;
use cairn_types::ErrorCode;
use error::ApiError;
pub use state::AppState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The application's routes over `state`.
pub fn router(state: AppState) -> Router {
    let server = state.engine.config().server.clone();
    let upload = Router::new()
        .route(
            "/api/v1/collections/{collection}/documents",
            post(native::library::upload).get(native::library::list_documents),
        )
        .layer(DefaultBodyLimit::max(server.max_upload_bytes));
    let api = Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/models", get(openai::list_models))
        .route("/v1/models/{*model}", get(openai::get_model))
        .route("/v1/embeddings", post(openai::embeddings))
        .route(
            "/api/v1/collections",
            post(native::library::create_collection).get(native::library::list_collections),
        )
        .route(
            "/api/v1/collections/{collection}",
            get(native::library::get_collection).delete(native::library::delete_collection),
        )
        .route(
            "/api/v1/documents/{document}",
            get(native::library::get_document).delete(native::library::delete_document),
        )
        .route("/api/v1/jobs", get(native::library::list_jobs))
        .route("/api/v1/jobs/{job}", get(native::library::get_job))
        .route("/api/v1/search", post(native::answers::search))
        .route("/api/v1/ask", post(native::answers::ask))
        .route(
            "/api/v1/conversations",
            post(native::answers::create_conversation).get(native::answers::list_conversations),
        )
        .route(
            "/api/v1/conversations/{conversation}",
            get(native::answers::get_conversation).delete(native::answers::delete_conversation),
        )
        .route("/api/v1/answers/{answer}", get(native::answers::get_answer))
        .route(
            "/api/v1/answers/{answer}/feedback",
            post(native::answers::add_feedback),
        )
        .route("/api/v1/me", get(native::identity::me))
        .route(
            "/api/v1/keys",
            post(native::identity::create_key).get(native::identity::list_keys),
        )
        .route("/api/v1/keys/{key}", delete(native::identity::revoke_key))
        .route(
            "/api/v1/keys/{key}/rotate",
            post(native::identity::rotate_key),
        )
        .route(
            "/api/v1/users",
            post(native::identity::put_user).get(native::identity::list_users),
        )
        .route(
            "/api/v1/users/{user}",
            get(native::identity::get_user).delete(native::identity::erase_user),
        )
        .route(
            "/api/v1/users/{user}/export",
            get(native::identity::export_user),
        )
        .route("/api/v1/audit", get(native::tenant::audit))
        .route(
            "/api/v1/tenant/settings",
            get(native::tenant::get_settings).put(native::tenant::put_settings),
        )
        .route("/api/v1/tenant/usage", get(native::tenant::usage))
        .route("/api/v1/secrets", get(native::tenant::list_secrets))
        .route(
            "/api/v1/secrets/{name}",
            put(native::tenant::put_secret).delete(native::tenant::delete_secret),
        )
        .layer(DefaultBodyLimit::max(server.max_body_bytes));
    Router::new()
        .merge(upload)
        .merge(api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/docs", get(openapi::docs))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gate::middleware,
        ))
        .with_state(state)
        .layer(axum::middleware::from_fn(request_id::middleware))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no route for {}; see /docs", uri.path()),
    )
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests and
/// streams finish for up to `server.shutdown_grace_secs`, and returns.
pub async fn serve(
    engine: Arc<Engine>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = AppState::new(engine).map_err(|e| std::io::Error::other(e.to_string()))?;
    let grace = Duration::from_secs(state.engine.config().server.shutdown_grace_secs);
    let draining = state.draining.clone();
    let app = router(state);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        draining.store(true, Ordering::Relaxed);
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop_tx.send(true);
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(signal);
    let mut stop = stop_rx;
    let deadline = async move {
        let _ = stop.wait_for(|s| *s).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        r = server => r,
        () = deadline => {
            tracing::warn!(grace_secs = grace.as_secs(), "grace period over; dropping remaining connections");
            Ok(())
        }
    }
}

/// Binds `addr` (port 0 picks a free one) and returns the listener and its address.
pub async fn bind(addr: &str) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
