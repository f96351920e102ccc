//! The one table of stable error codes. Every user-facing error carries one of these;
//! the HTTP layer maps them to statuses, the CLI prints them.

use serde::{Deserialize, Serialize};

/// Stable, snake_case error codes. Never rename a variant's string: clients match on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A configuration key is missing or invalid.
    InvalidConfig,
    /// A request or argument is malformed.
    InvalidInput,
    /// The named thing does not exist (in this tenant).
    NotFound,
    /// The thing already exists, or an idempotency key was reused with other content.
    Conflict,
    /// The file's format is not one Cairn ingests.
    UnsupportedFormat,
    /// The file claims a supported format but cannot be parsed.
    CorruptFile,
    /// The input exceeds a configured size limit.
    TooLarge,
    /// The file parsed but holds no text.
    EmptyDocument,
    /// A storage backend failed.
    StoreError,
    /// A search index failed (I/O, lock); the store is unaffected.
    IndexError,
    /// A model could not be loaded or run.
    ModelError,
    /// The prompt plus the requested tokens do not fit the model's context window.
    ContextLengthExceeded,
    /// A remote model provider answered with an error or could not be reached.
    UpstreamError,
    /// A failure that may succeed on retry (busy database, transient IO).
    Transient,
    /// An unexpected internal failure.
    Internal,
    /// The request body's content type is not one the endpoint accepts.
    UnsupportedMediaType,
    /// The requested model is neither a configured model nor a `cairn-rag:` assistant.
    ModelNotFound,
    /// The request took longer than the configured limit.
    Timeout,
    /// The server is starting or shutting down.
    Unavailable,
    /// The HTTP method is not allowed on this path.
    MethodNotAllowed,
    /// The client went away (or asked to stop) before the work finished.
    Cancelled,
    /// No credentials, or credentials that are not valid (unknown, expired, revoked).
    Unauthorized,
    /// Valid credentials whose role or scopes do not allow the action.
    Forbidden,
    /// A request or token rate limit was hit; retry after the `Retry-After` seconds.
    RateLimited,
    /// The tenant's daily or monthly token or cost quota is used up.
    QuotaExceeded,
    /// A guardrail blocked the input or the output; the reason says which.
    GuardrailBlocked,
    /// Too many requests are waiting for a model (or a connection slot); retry after the
    /// `Retry-After` seconds.
    Overloaded,
}

impl ErrorCode {
    /// The stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidConfig => "invalid_config",
            Self::InvalidInput => "invalid_input",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::UnsupportedFormat => "unsupported_format",
            Self::CorruptFile => "corrupt_file",
            Self::TooLarge => "too_large",
            Self::EmptyDocument => "empty_document",
            Self::StoreError => "store_error",
            Self::IndexError => "index_error",
            Self::ModelError => "model_error",
            Self::ContextLengthExceeded => "context_length_exceeded",
            Self::UpstreamError => "upstream_error",
            Self::Transient => "transient",
            Self::Internal => "internal",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::ModelNotFound => "model_not_found",
            Self::Timeout => "timeout",
            Self::Unavailable => "unavailable",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Cancelled => "cancelled",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::QuotaExceeded => "quota_exceeded",
            Self::GuardrailBlocked => "guardrail_blocked",
            Self::Overloaded => "overloaded",
        }
    }

    /// The HTTP status a server should answer with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidConfig | Self::InvalidInput | Self::ContextLengthExceeded => 400,
            Self::UpstreamError => 502,
            Self::NotFound | Self::ModelNotFound => 404,
            Self::MethodNotAllowed => 405,
            // nginx's "client closed request": never seen by a client that left.
            Self::Cancelled => 499,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::RateLimited | Self::QuotaExceeded => 429,
            Self::GuardrailBlocked => 400,
            Self::UnsupportedMediaType => 415,
            Self::Timeout => 504,
            Self::Unavailable | Self::Overloaded => 503,
            Self::Conflict => 409,
            Self::TooLarge => 413,
            Self::UnsupportedFormat => 415,
            Self::CorruptFile | Self::EmptyDocument => 422,
            Self::Transient => 503,
            Self::StoreError | Self::IndexError | Self::ModelError | Self::Internal => 500,
        }
    }

    /// Whether a job failing with this code should be retried with backoff.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Transient | Self::StoreError)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
