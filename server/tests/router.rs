//! The router's answers to bad input, to other origins, and for the hosted
//! page, through `tower::ServiceExt::oneshot` on the real router.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clap::Parser;
use serde_json::Value;
use tower::ServiceExt;

use reins::config::Config;

async fn router() -> axum::Router {
    router_with(&[]).await
}

/// The real router with these extra arguments. Its upstream refuses every
/// connection: the tests here are answered without one.
async fn router_with(args: &[&str]) -> axum::Router {
    let base = ["reins", "--upstream-url", "http://127.0.0.1:9/v1", "--model", "m"];
    let config = Config::parse_from(base.iter().chain(args));
    reins::app(reins::state_from_config(&config).await.unwrap())
}

async fn body_text(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
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

#[tokio::test]
async fn the_page_has_a_strict_content_security_policy_with_its_nonce() {
    let response =
        router().await.oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
    let headers = response.headers().clone();
    let html = body_text(response).await;
    let csp = headers["content-security-policy"].to_str().unwrap().to_owned();
    let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap();
    assert!(nonce.len() >= 16, "{csp}");
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration script carries the nonce: {html}"
    );
    assert!(csp.contains("'wasm-unsafe-eval'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
}

#[tokio::test]
async fn pages_are_compressed_and_event_streams_never_are() {
    let page = Request::get("/").header("accept-encoding", "br").body(Body::empty()).unwrap();
    let response = router().await.oneshot(page).await.unwrap();
    assert_eq!(response.headers()["content-encoding"], "br");

    let chat = Request::post("/api/chat")
        .header("content-type", "application/json")
        .header("accept-encoding", "gzip, br")
        .body(Body::from(r#"{"messages":[{"role":"user","content":"Hi"}]}"#))
        .unwrap();
    let response = router().await.oneshot(chat).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.headers().get("content-encoding").is_none());
    assert!(body_text(response).await.contains("data: [DONE]"), "readable as it is");
}

fn from_origin(method: &str, origin: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri("/api/chat")
        .header("host", "reins.test")
        .header("origin", origin)
}

#[tokio::test]
async fn listed_origins_may_call_the_api_others_are_told_why_not() {
    let router =
        router_with(&["--allowed-origins", "https://allowed.test,https://other.test"]).await;

    // The preflight is answered for everyone...
    let preflight = from_origin("OPTIONS", "https://allowed.test")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(preflight).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()["access-control-allow-origin"], "https://allowed.test");
    assert_eq!(response.headers()["access-control-allow-headers"], "content-type");

    // ...a listed origin gets the stream...
    let allowed = from_origin("POST", "https://allowed.test")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"messages":[{"role":"user","content":"Hi"}]}"#))
        .unwrap();
    let response = router.clone().oneshot(allowed).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], "https://allowed.test");

    // ...and any other origin a refusal its page can read.
    let refused = from_origin("POST", "https://evil.test")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"messages":[{"role":"user","content":"Hi"}]}"#))
        .unwrap();
    let response = router.clone().oneshot(refused).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["access-control-allow-origin"], "https://evil.test");
    let body: Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(code(&body), "origin_not_allowed");
    assert!(body["error"]["message"].as_str().unwrap().contains("https://evil.test"));

    // The server's own pages need no listing.
    let own = Request::get("/healthz")
        .header("host", "reins.test")
        .header("origin", "https://reins.test");
    let response = router.oneshot(own.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// A site root laid out as `scripts/build-embed` writes it, with a marker in
/// each form of each file so a test can tell which form it was sent.
fn embed_site() -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("reins-embed-site-{}", std::process::id()));
    std::fs::create_dir_all(root.join("embed")).unwrap();
    for file in ["embed.js", "embed/reins-embed.0123456789abcdef.wasm"] {
        std::fs::write(root.join(file), "identity").unwrap();
        std::fs::write(root.join(format!("{file}.gz")), "gzip").unwrap();
        std::fs::write(root.join(format!("{file}.br")), "brotli").unwrap();
    }
    root
}

#[tokio::test]
async fn hashed_embed_files_are_cached_for_good_and_embed_js_is_revalidated() {
    let root = embed_site();
    let router = router_with(&["--site-root", root.to_str().unwrap()]).await;
    let get = |path: &str, encodings: &str| {
        Request::get(path).header("accept-encoding", encodings).body(Body::empty()).unwrap()
    };

    let response =
        router.clone().oneshot(get("/embed/reins-embed.0123456789abcdef.wasm", "gzip, br")).await;
    let response = response.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(response.headers()["content-type"], "application/wasm");
    assert_eq!(response.headers()["content-encoding"], "br");
    assert_eq!(body_text(response).await, "brotli");

    let response = router.clone().oneshot(get("/embed.js", "gzip")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert!(response.headers()["content-type"].to_str().unwrap().contains("javascript"));
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(body_text(response).await, "gzip");

    // A name that is not there is not remembered as missing for a year.
    let response = router.oneshot(get("/embed/reins-embed.ffff.wasm", "gzip")).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().get("cache-control").is_none());
    std::fs::remove_dir_all(root).unwrap();
}

#[tokio::test]
async fn the_pages_files_are_cached_for_good_only_when_the_build_named_them_by_content() {
    let root = std::env::temp_dir().join(format!("reins-page-site-{}", std::process::id()));
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("pkg/reins.0123abcd.wasm"), "wasm").unwrap();
    let options = |hashed| {
        leptos::config::LeptosOptions::builder()
            .output_name("reins")
            .site_root(root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .hash_files(hashed)
            .build()
    };
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();

    let hashed: axum::Router = reins::assets::page_routes(&options(true));
    let response = hashed.clone().oneshot(get("/pkg/reins.0123abcd.wasm")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(response.headers()["content-type"], "application/wasm");
    let response = hashed.oneshot(get("/pkg/reins.ffff.wasm")).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().get("cache-control").is_none());

    // Plain names change content between builds: no route here, and the
    // app's fallback serves them with validators only.
    let plain: axum::Router = reins::assets::page_routes(&options(false));
    let response = plain.oneshot(get("/pkg/reins.0123abcd.wasm")).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    std::fs::remove_dir_all(root).unwrap();
}
