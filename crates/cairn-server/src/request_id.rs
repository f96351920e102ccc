//! Request ids: taken from `x-request-id` when the client sends a sane one, else a fresh
//! UUIDv7; echoed in the response header, in every error envelope and in the logs
//! (one `info` line per request, target `cairn::request`: [`crate::request_trace`]).
//! The request's trace starts here too (its id in `x-trace-id`).

use crate::error::ApiError;
use crate::request_trace::RequestTrace;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cairn_types::ErrorCode;
use tracing::Instrument;

/// The id of the request being served.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub const HEADER: &str = "x-request-id";
/// The response header naming the request's trace (`GET /api/v1/traces/{id}`).
pub const TRACE_HEADER: &str = "x-trace-id";

fn sane(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic())
}

fn is_json(res: &Response) -> bool {
    res.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Assigns the id, logs the request, and rewrites error responses into the envelope
/// (including axum's own rejections such as unknown routes and wrong methods).
pub async fn middleware(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane(v))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    // A client turned away from /mcp is told where the OAuth metadata is (RFC 9728).
    let resource_metadata = (path == "/mcp")
        .then(|| crate::mcp::metadata_url(state.engine.config(), req.headers()))
        .flatten();
    let usage = Some(state.usage.clone());
    let trace = RequestTrace::start(
        state.telemetry.as_ref(),
        usage,
        req.headers(),
        &id,
        &method,
        &path,
    );
    let span = trace.span().clone();
    let mut res = crate::request_trace::scope(trace.clone(), next.run(req).instrument(span)).await;
    if let Some(err) = res.extensions_mut().remove::<ApiError>() {
        res = (err.status(), axum::Json(err.body(&id))).into_response();
        if let Some(secs) = err.retry_after {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if err.code == ErrorCode::Unauthorized {
            let mut challenge = "Bearer realm=\"cairn\"".to_owned();
            if let Some(url) = &resource_metadata {
                challenge.push_str(&format!(", resource_metadata=\"{url}\""));
            }
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                res.headers_mut()
                    .insert(axum::http::header::WWW_AUTHENTICATE, v);
            }
        }
    } else if res.status() == StatusCode::METHOD_NOT_ALLOWED {
        let err = ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("{method} is not allowed on {path}"),
        );
        res = (err.status(), axum::Json(err.body(&id))).into_response();
    } else if res.status().is_client_error() && !is_json(&res) {
        // An extractor's own rejection (a path or query string of the wrong type), or
        // the MCP transport's (a Host header naming another site): its plain-text
        // reason, in the envelope.
        let status = res.status();
        let reason = axum::body::to_bytes(res.into_body(), 4096)
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let code = match status {
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::FORBIDDEN => ErrorCode::Forbidden,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::TooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            _ => ErrorCode::InvalidInput,
        };
        let err = ApiError::new(code, reason);
        res = (err.status(), axum::Json(err.body(&id))).into_response();
    }
    if crate::ui::is_ui_path(&path) {
        // Rewritten errors too: every response under the UI's paths is the UI's.
        res = crate::ui::secure(res);
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HEADER, v);
    }
    if let Some(t) = trace.trace_id().and_then(|t| HeaderValue::from_str(t).ok()) {
        res.headers_mut().insert(TRACE_HEADER, t);
    }
    // The log line follows when the last holder of the trace (a stream) lets go.
    trace.status(res.status().as_u16());
    res
}
