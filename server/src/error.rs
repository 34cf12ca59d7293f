//! The one error type of the HTTP API, and how each error is shown to clients.
//!
//! Clients get a status code and a JSON body with a stable code and a message
//! a person can act on; internal details go to the log instead.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use app::protocol::{ErrorBody, ErrorDetail};

use std::time::Duration;

use crate::auth::AuthError;

/// How long a client refused for a busy server or too many open streams is
/// asked to wait before trying again.
const RETRY_AFTER_BUSY: Duration = Duration::from_secs(2);

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
    /// This client made too many requests this minute.
    #[error("You have sent {limit} messages in the last minute, the most this server allows; try again in {} s.", retry_after.as_secs().max(1))]
    TooManyRequests { limit: u32, retry_after: Duration },
    /// This client was sent too many output tokens this hour.
    #[error("You have used this hour's {limit} output tokens; try again in {} min.", retry_after.as_secs().div_ceil(60).max(1))]
    TokensSpent { limit: u64, retry_after: Duration },
    /// What is left of this client's output tokens this hour is held by its
    /// replies streaming now.
    #[error(
        "Your replies streaming now hold the rest of this hour's {limit} output tokens; wait for one to finish or stop it."
    )]
    TokensHeld { limit: u64 },
    /// No valid token.
    #[error("{0}")]
    Unauthorized(AuthError),
    /// The request names a host this server is not configured to serve.
    #[error(
        "This server does not serve this host name; its operator can add it to REINS_PUBLIC_ORIGIN."
    )]
    UnknownHost,
    /// The route exists, but not with this method.
    #[error("This route does not accept this method.")]
    MethodNotAllowed,
    /// The client sent its body too slowly.
    #[error("The request body did not arrive in time.")]
    RequestTimeout,
    /// The server has as many streams open as it allows.
    #[error("The server is busy; try again in a few seconds.")]
    Busy,
    /// Redis, which replicas share, cannot be reached: a new stream could not
    /// be stopped from another replica, and a stop or receipt for a reply
    /// held elsewhere cannot be passed on.
    #[error(
        "The stream registry shared by this server's replicas cannot be reached; try again in a moment."
    )]
    RegistryUnavailable,
    /// The record says the reply is streaming, but no replica listens for
    /// stops: its replica is gone or reconnecting.
    #[error("The replica streaming this reply cannot be reached right now; try again in a moment.")]
    ReplicaUnreachable,
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
            Self::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Self::TokensSpent { .. } => (StatusCode::TOO_MANY_REQUESTS, "token_budget_spent"),
            Self::TokensHeld { .. } => (StatusCode::TOO_MANY_REQUESTS, "token_budget_held"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::UnknownHost => (StatusCode::MISDIRECTED_REQUEST, "unknown_host"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            Self::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::RegistryUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "registry_unavailable"),
            Self::ReplicaUnreachable => (StatusCode::SERVICE_UNAVAILABLE, "replica_unreachable"),
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
                brief(&root_cause(&error))
            )),
            JsonRejection::JsonDataError(error) => Self::BadRequest(format!(
                "The request body does not have the expected shape ({}).",
                brief(&root_cause(&error))
            )),
            JsonRejection::BytesRejection(error)
                if error.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Self::PayloadTooLarge
            }
            // The only other way reading the body fails here is the body-read
            // timeout (or the client leaving, when nobody reads the answer).
            JsonRejection::BytesRejection(_) => Self::RequestTimeout,
            other => Self::BadRequest(brief(&other.body_text())),
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

/// Cuts `text` to at most `max` characters, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Text from outside (a role, an origin, a host) as messages and logs quote
/// it: at most 100 characters.
pub fn brief(text: &str) -> String {
    truncate(text, 100)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        tracing::debug!(%status, code, error = %self, "request refused");
        let body =
            ErrorBody { error: ErrorDetail { code: code.into(), message: self.to_string() } };
        let mut response = (status, Json(body)).into_response();
        let retry_after = match self {
            Self::Busy
            | Self::TooManyStreams { .. }
            | Self::TokensHeld { .. }
            | Self::RegistryUnavailable
            | Self::ReplicaUnreachable => Some(RETRY_AFTER_BUSY),
            Self::TooManyRequests { retry_after, .. } | Self::TokensSpent { retry_after, .. } => {
                Some(retry_after)
            }
            _ => None,
        };
        if let Some(retry_after) = retry_after {
            // Whole seconds, rounded up: waiting as told must be enough.
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if matches!(self, Self::Unauthorized(_)) {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"reins\""));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_is_quoted_briefly() {
        assert_eq!(brief("short"), "short");
        let long = "é".repeat(100_000);
        assert_eq!(brief(&long).chars().count(), 101);
        assert!(brief(&long).ends_with('…'));
    }
}
