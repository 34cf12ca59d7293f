//! The one error type of the HTTP API, and how each error is shown to clients.
//!
//! Clients get a status code and a JSON body with a stable code and a message
//! a person can act on; internal details go to the log instead.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use app::protocol::{ErrorBody, ErrorDetail};

/// How long a refused client is asked to wait before trying again.
const RETRY_AFTER_SECS: &str = "2";

/// An error answered with a JSON body instead of a stream.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or not of the expected shape.
    #[error("{0}")]
    BadRequest(String),
    /// The body is not declared as JSON.
    #[error("Send the request with `content-type: application/json`.")]
    UnsupportedMediaType,
    /// The body is larger than the server accepts.
    #[error("The request body is too large.")]
    PayloadTooLarge,
    /// The body is valid JSON of the right shape, but its content is refused.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// No such route or resource.
    #[error("{0}")]
    NotFound(String),
    /// This client has too many streams open.
    #[error("You have {limit} replies streaming already; wait for one to finish or stop it.")]
    TooManyStreams { limit: usize },
    /// The server has as many streams open as it allows.
    #[error("The server is busy; try again in a few seconds.")]
    Busy,
    /// A page on another site, not on the allowlist, tried to use the server.
    #[error(
        "This Reins server does not accept requests from {0}; its operator can add that origin to REINS_ALLOWED_ORIGINS."
    )]
    OriginNotAllowed(String),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Unprocessable { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::TooManyStreams { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_streams"),
            Self::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::OriginNotAllowed(_) => (StatusCode::FORBIDDEN, "origin_not_allowed"),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            JsonRejection::JsonSyntaxError(error) => Self::BadRequest(format!(
                "The request body is not valid JSON ({}).",
                root_cause(&error)
            )),
            JsonRejection::JsonDataError(error) => Self::BadRequest(format!(
                "The request body does not have the expected shape ({}).",
                root_cause(&error)
            )),
            JsonRejection::BytesRejection(error)
                if error.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Self::PayloadTooLarge
            }
            other => Self::BadRequest(other.body_text()),
        }
    }
}

/// The innermost cause of an error: for a JSON rejection, serde's own words
/// with the line and column, without axum's wrapping.
fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        tracing::debug!(%status, code, error = %self, "request refused");
        let body =
            ErrorBody { error: ErrorDetail { code: code.into(), message: self.to_string() } };
        let mut response = (status, Json(body)).into_response();
        if matches!(self, Self::Busy | Self::TooManyStreams { .. }) {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
        }
        response
    }
}
