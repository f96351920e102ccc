//! The one error envelope every endpoint answers with:
//!
//! ```json
//! {"error": {"code": "invalid_input", "message": "...", "type": "invalid_request_error",
//!            "param": null, "request_id": "..."}}
//! ```
//!
//! `code` is Cairn's stable [`ErrorCode`]; `type` is the OpenAI error type for the same
//! status, so OpenAI clients raise their usual exception classes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_types::ErrorCode;
use serde::Serialize;

/// An API failure: a stable code and a message for people.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// The request field at fault, when known.
    pub param: Option<String>,
    /// Seconds after which a retry may succeed (429, 503): sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The envelope's body (the request id is filled in by the middleware).
    pub fn body(&self, request_id: &str) -> serde_json::Value {
        serde_json::json!({ "error": Envelope {
            code: self.code.as_str(),
            message: &self.message,
            kind: openai_type(self.code),
            param: self.param.as_deref(),
            request_id,
        }})
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    request_id: &'a str,
}

/// OpenAI's error `type` for a code.
fn openai_type(code: ErrorCode) -> &'static str {
    match code.http_status() {
        400 | 404 | 405 | 409 | 413 | 415 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        _ => "server_error",
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<cairn_engine::Error> for ApiError {
    fn from(e: cairn_engine::Error) -> Self {
        Self::new(e.code, e.message)
    }
}

impl From<cairn_store::Error> for ApiError {
    fn from(e: cairn_store::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<cairn_models::Error> for ApiError {
    fn from(e: cairn_models::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

/// The error travels to the request-id middleware in the response's extensions, which
/// writes the envelope with the request id.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut res = (status, axum::Json(self.body(""))).into_response();
        res.extensions_mut().insert(self);
        res
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
