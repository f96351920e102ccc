//! A JSON body extractor whose failures use the error envelope: a wrong content type is
//! 415, a body over the limit 413, malformed JSON 400 with the line and column, and a
//! well-formed body of the wrong shape 400 naming the field.

use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use cairn_types::ErrorCode;
use serde::de::DeserializeOwned;

/// `axum::Json` with enveloped rejections.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(rejected(rejection)),
        }
    }
}

fn rejected(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "expected `Content-Type: application/json`",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::invalid(format!(
            "malformed JSON: {}",
            std::error::Error::source(&e).map_or_else(|| e.body_text(), |s| s.to_string())
        )),
        JsonRejection::JsonDataError(e) => ApiError::invalid(format!(
            "invalid request body: {}",
            std::error::Error::source(&e).map_or_else(|| e.body_text(), |s| s.to_string())
        )),
        JsonRejection::BytesRejection(e) => {
            let text = e.body_text();
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE
                || text.contains("length limit")
            {
                ApiError::new(
                    ErrorCode::TooLarge,
                    "the request body exceeds the size limit",
                )
            } else {
                ApiError::invalid(format!("cannot read the request body: {text}"))
            }
        }
        other => ApiError::invalid(other.body_text()),
    }
}
