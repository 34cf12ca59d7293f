//! Which other sites may use this server: the page itself, and the origins
//! listed in `REINS_ALLOWED_ORIGINS`, may load its assets and call its API.
//!
//! tower-http's `CorsLayer` refuses an origin by leaving the CORS headers
//! out, which the browser reports to the page as a bare network error. A chat
//! embedded on the wrong site should instead be able to say why it cannot
//! work, so this layer answers every preflight, and answers the real request
//! from an origin that is not allowed with a 403 whose JSON reason the page
//! may read. Nothing is served to such an origin but that refusal.

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, HOST, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The script that defines `<reins-chat>`.
const EMBED_SCRIPT: &str = "/embed.js";

/// The origins, besides the server's own, that may use it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    /// Origins as `scheme://host[:port]`, compared without a trailing slash
    /// and without regard to case.
    pub fn new(origins: impl IntoIterator<Item = String>) -> Self {
        Self(
            origins
                .into_iter()
                .map(|origin| origin.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|origin| !origin.is_empty())
                .collect(),
        )
    }

    /// Whether a request with these headers may be served: it has no
    /// `Origin` (not from a browser page), comes from the server's own
    /// origin, or from a listed one.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(ORIGIN).and_then(|value| value.to_str().ok()) else {
            return true;
        };
        let origin = origin.to_ascii_lowercase();
        same_host(&origin, headers) || self.0.contains(&origin)
    }
}

/// Whether `origin` names the host the request was sent to. The scheme is
/// not compared: behind a TLS-terminating proxy the server sees plain HTTP.
fn same_host(origin: &str, headers: &HeaderMap) -> bool {
    let host = headers.get(HOST).and_then(|value| value.to_str().ok()).unwrap_or_default();
    origin.split_once("://").is_some_and(|(_, origin_host)| origin_host.eq_ignore_ascii_case(host))
}

/// The middleware: see the module documentation.
pub async fn cors(State(allowed): State<AllowedOrigins>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(ORIGIN).cloned();
    // The embed script goes to every page: on a page whose origin is refused,
    // it is what tells the person why the chat cannot work there.
    let is_allowed = request.uri().path() == EMBED_SCRIPT || allowed.allows(request.headers());
    let is_preflight = request.method() == Method::OPTIONS
        && request.headers().contains_key("access-control-request-method");

    let mut response = if is_preflight {
        StatusCode::NO_CONTENT.into_response()
    } else if is_allowed {
        next.run(request).await
    } else {
        let origin = origin.as_ref().and_then(|o| o.to_str().ok()).unwrap_or_default();
        tracing::warn!(origin, "request from an origin that is not allowed");
        ApiError::OriginNotAllowed(origin.to_owned()).into_response()
    };
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.append(VARY, HeaderValue::from_static("origin"));
        if is_preflight {
            headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
            headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type"));
            headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn the_server_itself_and_listed_origins_are_allowed() {
        let allowed = AllowedOrigins::new(["https://Example.com/".to_owned(), " ".to_owned()]);
        assert!(allowed.allows(&headers(None, "reins.test")), "no Origin: not a page");
        assert!(allowed.allows(&headers(Some("https://reins.test"), "reins.test")));
        assert!(allowed.allows(&headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000")));
        assert!(allowed.allows(&headers(Some("https://example.com"), "reins.test")));
        assert!(!allowed.allows(&headers(Some("https://evil.test"), "reins.test")));
        assert!(!allowed.allows(&headers(Some("https://example.com.evil.test"), "reins.test")));
        assert!(!allowed.allows(&headers(Some("http://127.0.0.1:3001"), "127.0.0.1:3000")));
        assert!(!allowed.allows(&headers(Some("null"), "reins.test")));
    }
}
