//! The crate's one error type. Every variant maps onto a stable [`ErrorCode`], so the
//! HTTP layer can answer 401/403/400/500 without inspecting messages.

use cairn_types::ErrorCode;

/// Errors from authentication, authorization and the crypto helpers.
///
/// Messages are written for the operator's log and may be shown to the caller: they
/// never contain key material, secrets or token contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Missing, malformed, expired or otherwise invalid credentials (401).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Valid credentials that do not allow the action (403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A setting is missing or unusable (bad key text, unreadable JWKS, ...).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// An argument is malformed (for example a sealed value that is not `v1:<base64>`).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An unexpected failure (hashing failed, a sealed value does not open).
    #[error("internal error: {0}")]
    Internal(String),
    /// The identity provider could not be reached or answered with an error (502).
    #[error("identity provider: {0}")]
    Provider(String),
}

impl AuthError {
    /// The stable error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::InvalidConfig(_) => ErrorCode::InvalidConfig,
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::Internal(_) => ErrorCode::Internal,
            Self::Provider(_) => ErrorCode::UpstreamError,
        }
    }

    /// The message without the variant's prefix.
    pub fn message(&self) -> &str {
        match self {
            Self::Unauthorized(m)
            | Self::Forbidden(m)
            | Self::InvalidConfig(m)
            | Self::InvalidInput(m)
            | Self::Internal(m)
            | Self::Provider(m) => m,
        }
    }

    pub(crate) fn unauthorized(msg: impl Into<String>) -> Self {
        Self::Unauthorized(msg.into())
    }

    pub(crate) fn config(msg: impl Into<String>) -> Self {
        Self::InvalidConfig(msg.into())
    }
}

/// `Result` with [`AuthError`].
pub type Result<T, E = AuthError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_statuses() {
        assert_eq!(AuthError::unauthorized("x").code().http_status(), 401);
        assert_eq!(AuthError::Forbidden("x".into()).code().http_status(), 403);
        assert_eq!(AuthError::config("x").code(), ErrorCode::InvalidConfig);
        assert_eq!(
            AuthError::InvalidInput("x".into()).code(),
            ErrorCode::InvalidInput
        );
        assert_eq!(AuthError::Internal("x".into()).code(), ErrorCode::Internal);
        assert_eq!(
            AuthError::unauthorized("token expired").message(),
            "token expired"
        );
        assert_eq!(
            AuthError::unauthorized("token expired").to_string(),
            "unauthorized: token expired"
        );
    }
}
