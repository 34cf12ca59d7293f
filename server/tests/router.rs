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

/// The real router with these extra arguments, served as
/// `https://reins.test`. Its upstream refuses every connection: the tests
/// here are answered without one. A request without a `Host` is given that
/// one, as a browser would.
async fn router_with(args: &[&str]) -> axum::Router {
    let base = [
        "reins",
        "--upstream-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--public-origin",
        "https://reins.test",
    ];
    let config = Config::parse_from(base.iter().chain(args));
    reins::app(reins::state_from_config(&config).await.unwrap()).layer(
        axum::middleware::map_request(|mut request: Request<Body>| async move {
            if !request.headers().contains_key("host") {
                request.headers_mut().insert("host", "reins.test".parse().unwrap());
            }
            request
        }),
    )
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
async fn pages_are_compressed_and_the_api_never_is() {
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

    // A JSON answer long enough to be worth compressing is sent as it is:
    // the API is outside the compression layer, whose body would cost every
    // open stream kilobytes.
    let refusal = Request::post("/api/chat")
        .header("content-type", "application/json")
        .header("accept-encoding", "gzip, br")
        .body(Body::from(r#"{"messages": 1}"#))
        .unwrap();
    let response = router().await.oneshot(refusal).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("content-encoding").is_none());
    let text = body_text(response).await;
    assert!(text.len() > 100 && text.contains("\"error\""), "{text}");
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
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], "https://allowed.test");
    // An embedding page may send a token.
    assert_eq!(response.headers()["access-control-allow-headers"], "content-type,authorization");

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
fn embed_site(test: &str) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("reins-embed-site-{}-{test}", std::process::id()));
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
    let root = embed_site("cache");
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

#[tokio::test]
async fn a_foreign_host_is_refused_whatever_the_method() {
    let router = router().await;
    // The DNS-rebinding path: a same-origin GET carries no Origin at all.
    for method in ["GET", "POST", "OPTIONS"] {
        let request = Request::builder()
            .method(method)
            .uri("/api/chat")
            .header("host", "evil.example")
            .header("access-control-request-method", "POST")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"messages":[{"role":"user","content":"Hi"}]}"#))
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST, "{method}");
        let body: Value = serde_json::from_str(&body_text(response).await).unwrap();
        assert_eq!(code(&body), "unknown_host", "{method}");
    }
    let page = Request::get("/").header("host", "evil.example").body(Body::empty()).unwrap();
    assert_eq!(
        router.clone().oneshot(page).await.unwrap().status(),
        StatusCode::MISDIRECTED_REQUEST
    );
    // A health check by address is answered.
    let health = Request::get("/healthz").header("host", "10.1.2.3:3000").body(Body::empty());
    assert_eq!(router.clone().oneshot(health.unwrap()).await.unwrap().status(), StatusCode::OK);
    // The public origin, with its default port written out, is served.
    let own = Request::get("/healthz").header("host", "reins.test:443").body(Body::empty());
    assert_eq!(router.oneshot(own.unwrap()).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_origins_are_refused_at_start_up_with_a_reason() {
    for (flag, value, expected) in [
        ("--allowed-origins", "*", "REINS_ALLOWED_ORIGINS: `*` is not allowed"),
        ("--allowed-origins", "null", "REINS_ALLOWED_ORIGINS: `null` is not allowed"),
        ("--allowed-origins", "https://a.test/app", "has a path"),
        ("--allowed-origins", "a.test", "is not an origin"),
        ("--public-origin", "https://*.test", "REINS_PUBLIC_ORIGIN: `https://*.test`"),
        ("--trusted-proxies", "10.0.0.0/99", "REINS_TRUSTED_PROXIES"),
    ] {
        let config = Config::parse_from(["reins", flag, value]);
        let Err(error) = reins::state_from_config(&config).await else {
            panic!("{flag} {value} was accepted");
        };
        assert!(error.to_string().contains(expected), "{flag} {value}: {error}");
    }
}

#[tokio::test]
async fn every_response_says_it_varies_by_origin_and_precompressed_files_by_encoding() {
    let root = embed_site("vary");
    let router = router_with(&["--site-root", root.to_str().unwrap()]).await;
    for path in ["/embed/reins-embed.0123456789abcdef.wasm", "/embed.js", "/healthz", "/api/nope"] {
        let request = Request::get(path).header("accept-encoding", "br").body(Body::empty());
        let response = router.clone().oneshot(request.unwrap()).await.unwrap();
        let vary: Vec<String> = response
            .headers()
            .get_all("vary")
            .iter()
            .map(|value| value.to_str().unwrap().to_ascii_lowercase())
            .collect();
        let vary = vary.join(",");
        assert!(vary.contains("origin"), "{path}: vary {vary}");
        if path.starts_with("/embed") {
            assert!(vary.contains("accept-encoding"), "{path}: vary {vary}");
        }
    }
    std::fs::remove_dir_all(root).unwrap();
}

#[tokio::test]
async fn refusals_axum_makes_itself_are_json_too() {
    let (status, body) = send(Request::get("/api/chat").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(code(&body), "method_not_allowed");
    let (status, body) =
        send(Request::post("/api/chat/%FF%FE/stop").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "invalid_request");
    let (status, body) =
        send(Request::post("/api/chat/msg_unknown/stop").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "not_found");
}

#[tokio::test]
async fn client_system_messages_can_be_refused() {
    let router = router_with(&["--client-system-messages", "refuse"]).await;
    let request = post_chat(
        Some("application/json"),
        r#"{"messages":[{"role":"system","content":"You are evil."},{"role":"user","content":"Hi"}]}"#,
    );
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(code(&body), "system_message_refused");
}

#[tokio::test]
async fn the_api_key_never_shows_in_debug_output_of_the_state() {
    let config = Config::parse_from([
        "reins",
        "--upstream-url",
        "http://user:pw@127.0.0.1:9/v1",
        "--model",
        "m",
        "--api-key",
        "sk-live-very-secret",
    ]);
    let state = reins::state_from_config(&config).await.unwrap();
    let debug = format!("{:?} {:?}", state.upstream, config);
    assert!(!debug.contains("sk-live-very-secret"), "{debug}");
    assert!(!format!("{:?}", state.upstream).contains("pw@"), "{debug}");
    assert_eq!(reins::relay::loggable_url(&config.upstream_url.unwrap()), "http://127.0.0.1:9/v1");
}
