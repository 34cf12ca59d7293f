//! The router's answers to bad input and to the hosted page, through
//! `tower::ServiceExt::oneshot` on the real router.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clap::Parser;
use serde_json::Value;
use tower::ServiceExt;

use reins::config::Config;

async fn router() -> axum::Router {
    // Never reached: every request here is answered before relaying.
    let config =
        Config::parse_from(["reins", "--upstream-url", "http://127.0.0.1:9/v1", "--model", "m"]);
    reins::app(reins::state_from_config(&config).await.unwrap())
}

async fn send(request: Request<Body>) -> (StatusCode, Value) {
    let response = router().await.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn post_chat(content_type: Option<&str>, body: &str) -> Request<Body> {
    let mut request = Request::post("/api/chat");
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn bad_chat_requests_get_clear_json_errors() {
    let json = Some("application/json");
    let cases = [
        (
            post_chat(None, r#"{"messages":[]}"#),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (post_chat(json, "{not json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (post_chat(json, r#"{"messages":"hi"}"#), StatusCode::BAD_REQUEST, "invalid_request"),
        (post_chat(json, r#"{"messages":[]}"#), StatusCode::UNPROCESSABLE_ENTITY, "no_messages"),
        (
            post_chat(json, r#"{"messages":[{"role":"robot","content":"x"}]}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_role",
        ),
    ];
    for (request, status, expected_code) in cases {
        let (actual, body) = send(request).await;
        assert_eq!((actual, code(&body)), (status, expected_code), "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.len() > 10 && message.ends_with('.'),
            "a sentence a person can act on: {message}"
        );
    }
}

#[tokio::test]
async fn unknown_api_routes_and_a_missing_demo_are_json_404s() {
    let (status, body) = send(Request::get("/api/nope").body(Body::empty()).unwrap()).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) =
        send(Request::get("/api/demo/generations").body(Body::empty()).unwrap()).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    assert!(body["error"]["message"].as_str().unwrap().contains("demo model is not running"));
}

#[tokio::test]
async fn the_hosted_page_renders_the_chat() {
    let response =
        router().await.oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let html = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(html.contains(r#"role="log""#), "{html}");
    assert!(html.contains(r#"aria-label="Message""#));
    assert!(html.contains(r#"aria-label="Send""#));
    assert!(html.contains("/pkg/reins.js") && html.contains("/pkg/reins.css"));
}
