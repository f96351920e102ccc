//! Cairn's HTTP server: the OpenAI-compatible API under `/v1`, the native API under
//! `/api/v1`, `/openapi.json` with a `/docs` page, `/healthz` / `/readyz`, and the web
//! application at `/` ([`ui`]).
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

pub mod admission;
pub mod auth;
mod body_timeout;
pub mod error;
mod extract;
pub mod gate;
mod guardrails;
mod health;
pub mod limits;
pub mod listen;
pub mod mcp;
pub mod metrics;
mod metrics_state;
mod native;
pub mod openai;
pub mod openapi;
mod request_id;
pub mod request_trace;
mod routes;
mod schemas;
pub mod settings;
mod sse;
pub mod state;
pub mod ui;
pub mod usage_ledger;
pub mod usage_report;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use cairn_engine::Engine;
use cairn_types::ErrorCode;
use error::ApiError;
pub use state::AppState;
use std::net::SocketAddr;
use std::sync::Arc;

/// The application's routes over `state`, built from the one route table
/// ([`routes::table`]) that the OpenAPI document is checked against.
pub fn router(state: AppState) -> Router {
    let mut app = api_routes(&state);
    let mcp = mcp::service(&state, api_routes(&state).with_state(state.clone()));
    for path in mcp::METADATA_ROUTES {
        app = app.route(path, axum::routing::get(mcp::protected_resource));
    }
    // The web application, the metrics and MCP: outside the API's route table (and its
    // OpenAPI document), behind the same gate.
    app.route("/", axum::routing::get(ui::index))
        .route("/ui/{*path}", axum::routing::get(ui::asset))
        .route("/metrics", axum::routing::get(metrics::scrape))
        .route_service("/mcp", mcp)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gate::middleware,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body_timeout::middleware,
        ))
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            state,
            request_id::middleware,
        ))
}

/// The API's route table with its body limits (no gate: [`router`] adds it; MCP calls
/// these routes as the caller the gate admitted).
fn api_routes(state: &AppState) -> Router<AppState> {
    let server = &state.engine.config().server;
    let mut app = Router::new();
    for (method, path, handler) in routes::table() {
        let limit = if routes::UPLOADS.contains(&(method, path)) {
            server.max_upload_bytes
        } else {
            server.max_body_bytes
        };
        app = app.route(path, handler.layer(DefaultBodyLimit::max(limit)));
    }
    app
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no route for {}; see /docs", uri.path()),
    )
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests and
/// streams finish for up to `server.shutdown_grace_secs`, ends the streams still open
/// with a final event, and returns. The
/// connection limits are described in [`listen`].
pub async fn serve(
    engine: Arc<Engine>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = AppState::new(engine).map_err(|e| std::io::Error::other(e.to_string()))?;
    let usage = state.usage.clone();
    let telemetry = state.telemetry.clone();
    // Agent runs no request is driving: queued, approved, or left by a server that died.
    let stop_agents = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let slots = state.engine.config().server.agent_workers;
    if slots > 0 {
        let (rt, stop) = (state.agents.clone(), stop_agents.clone());
        std::thread::Builder::new()
            .name("cairn-agent-runs".into())
            .spawn(move || cairn_agent::executor::serve(rt, slots, stop))?;
    }
    let served = listen::run(state, listener, shutdown).await;
    stop_agents.store(true, std::sync::atomic::Ordering::SeqCst);
    // Usage still in memory goes to the store before the process ends, and so do the
    // traces still queued.
    usage.stop();
    if let Some(t) = telemetry {
        t.stop();
    }
    served
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
