//! Limits on what a request may hold and on how many streams may be open, and
//! what the server reports about itself.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{
    FakeUpstream, RawClient, Reins, Step, chat_body, error_code, max_tokens_asked, thinking,
};

#[tokio::test]
async fn an_oversized_body_gets_413() {
    let upstream = FakeUpstream::start(thinking()).await;
    let reins = Reins::relaying_to(&upstream.base_url(), &["--max-body-bytes", "200"]).await;
    let response = reins.post_chat(chat_body(&"x".repeat(300))).await;
    assert_eq!(response.status(), 413);
    assert_eq!(error_code(response).await, "payload_too_large");
    // Just under the limit is fine.
    assert_eq!(reins.post_chat(chat_body(&"x".repeat(100))).await.status(), 200);
}

#[tokio::test]
async fn too_many_or_too_long_messages_get_422() {
    let upstream = FakeUpstream::start(thinking()).await;
    let reins = Reins::relaying_to(
        &upstream.base_url(),
        &["--max-messages", "2", "--max-message-chars", "10"],
    )
    .await;
    let three = json!({"messages": [
        {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"},
    ]});
    let response = reins.post_chat(three.to_string()).await;
    assert_eq!(response.status(), 422);
    assert_eq!(error_code(response).await, "too_many_messages");
    let response = reins.post_chat(chat_body("this is far too long")).await;
    assert_eq!(response.status(), 422);
    assert_eq!(error_code(response).await, "message_too_long");
}

#[tokio::test]
async fn the_global_cap_holds_for_the_whole_stream_and_answers_503() {
    let upstream = FakeUpstream::start(thinking()).await;
    let reins = Reins::relaying_to(&upstream.base_url(), &["--max-streams", "1"]).await;
    let mut first = RawClient::post_chat(reins.addr, &chat_body("Hi")).await;
    // Headers and `start` are out; the stream is still open, so is its slot.
    first.read_until("\"start-step\"", 1).await;

    let refused = reins.post_chat(chat_body("Hi")).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "2");
    assert_eq!(error_code(refused).await, "busy");

    first.disconnect();
    let mut admitted = false;
    for _ in 0..50 {
        if reins.post_chat(chat_body("Hi")).await.status() == 200 {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(admitted, "the slot came back when the first stream ended");
    let metrics = reqwest::get(reins.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"reins_streams_total{outcome="rejected"} 1"#), "{metrics}");
}

#[tokio::test]
async fn one_client_gets_429_past_its_share() {
    let upstream = FakeUpstream::start(thinking()).await;
    let reins = Reins::relaying_to(&upstream.base_url(), &["--max-streams-per-client", "2"]).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut client = RawClient::post_chat(reins.addr, &chat_body("Hi")).await;
        client.read_until("\"start\"", 1).await;
        open.push(client);
    }
    let refused = reins.post_chat(chat_body("Hi")).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "2");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams");
    assert!(body["error"]["message"].as_str().unwrap().contains("2 replies streaming"));
}

#[tokio::test]
async fn health_and_metrics_report_the_streams() {
    let upstream =
        FakeUpstream::start(vec![Step::Head, Step::Token("Hello"), Step::Finish("stop")]).await;
    let reins = Reins::start(upstream.base_url(), None).await;

    let health: Value = reqwest::get(reins.url("/healthz")).await.unwrap().json().await.unwrap();
    assert_eq!(health, json!({"status": "ok", "open_streams": 0}));

    let body = reins.post_chat(chat_body("Hi")).await.text().await.unwrap();
    assert!(body.contains("[DONE]"));
    let response = reqwest::get(reins.url("/metrics")).await.unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let metrics = response.text().await.unwrap();
    for line in [
        r#"reins_streams_total{outcome="completed"} 1"#,
        "reins_active_streams 0",
        "reins_relayed_deltas_total 1",
        "reins_relayed_bytes_total 5",
        "reins_upstream_first_byte_seconds_count 1",
    ] {
        assert!(metrics.contains(line), "missing {line}: {metrics}");
    }
}

#[tokio::test]
async fn a_client_that_leaves_is_counted_and_its_upstream_drop_timed() {
    let upstream = FakeUpstream::start(thinking()).await;
    let reins = Reins::start(upstream.base_url(), None).await;
    let mut client = RawClient::post_chat(reins.addr, &chat_body("Hi")).await;
    client.read_until("\"start-step\"", 1).await;
    client.disconnect();
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = reqwest::get(reins.url("/metrics")).await.unwrap().text().await.unwrap();
        if metrics.contains(r#"outcome="client_closed""#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(metrics.contains(r#"reins_streams_total{outcome="client_closed"} 1"#), "{metrics}");
    assert!(metrics.contains("reins_cancel_to_upstream_drop_seconds_count 1"), "{metrics}");
}

/// A chat request carrying `headers`, as a client behind a proxy would send it.
async fn post_with(reins: &Reins, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(reins.url("/api/chat"))
        .header("content-type", "application/json")
        .body(chat_body("Hi"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn requests_per_minute_are_limited_with_retry_after_and_the_limit_named() {
    let upstream =
        FakeUpstream::start(vec![Step::Head, Step::Token("Hi"), Step::Finish("stop")]).await;
    let reins = Reins::relaying_to(&upstream.base_url(), &["--max-requests-per-minute", "3"]).await;
    for _ in 0..3 {
        assert_eq!(reins.post_chat(chat_body("Hi")).await.status(), 200);
    }
    let refused = reins.post_chat(chat_body("Hi")).await;
    assert_eq!(refused.status(), 429);
    // One request comes back every 20 s.
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "retry-after {retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests");
    assert!(body["error"]["message"].as_str().unwrap().contains("3 messages in the last minute"));
}

#[tokio::test]
async fn output_tokens_per_hour_are_limited() {
    let upstream = FakeUpstream::start(vec![
        Step::Head,
        Step::Token("one "),
        Step::Token("two "),
        Step::Token("three"),
        Step::Finish("stop"),
    ])
    .await;
    let reins =
        Reins::relaying_to(&upstream.base_url(), &["--max-output-tokens-per-hour", "5"]).await;
    // Three deltas (no usage reported), then three more: past five.
    for _ in 0..2 {
        let body = reins.post_chat(chat_body("Hi")).await.text().await.unwrap();
        assert!(body.contains("\"finish\""), "{body}");
    }
    let refused = reins.post_chat(chat_body("Hi")).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after > 3500 && retry_after <= 3600, "retry-after {retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "token_budget_spent");
    assert!(body["error"]["message"].as_str().unwrap().contains("5 output tokens"));
}

async fn open_streams(reins: &Reins) -> u64 {
    let health: Value = reqwest::get(reins.url("/healthz")).await.unwrap().json().await.unwrap();
    health["open_streams"].as_u64().unwrap()
}

#[tokio::test]
async fn a_reply_asks_the_model_for_no_more_than_is_left_of_the_hour() {
    let mut upstream = FakeUpstream::start(thinking()).await;
    let reins = Reins::relaying_to(
        &upstream.base_url(),
        &["--max-output-tokens-per-hour", "10", "--max-tokens", "6"],
    )
    .await;
    let first = reins.post_chat(chat_body("Hi")).await;
    assert_eq!(first.status(), 200);
    assert_eq!(max_tokens_asked(&mut upstream).await, 6, "a reply's own cap");
    let second = reins.post_chat(chat_body("Hi")).await;
    assert_eq!(second.status(), 200);
    assert_eq!(max_tokens_asked(&mut upstream).await, 4, "what the first left");
    // Nothing spent, everything held: wait for a reply, not for the hour.
    let refused = reins.post_chat(chat_body("Hi")).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "2");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "token_budget_held");
    assert!(body["error"]["message"].as_str().unwrap().contains("10 output tokens"));
    // The first leaves having been sent nothing: all it held comes back
    // (counted before its stream is closed, which `/healthz` then shows).
    drop(first);
    upstream.closed().await;
    while open_streams(&reins).await != 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(reins.post_chat(chat_body("Hi")).await.status(), 200);
    assert_eq!(max_tokens_asked(&mut upstream).await, 6);
    drop(second);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_share() {
    let upstream = FakeUpstream::start(thinking()).await;
    let reins = Reins::relaying_to(
        &upstream.base_url(),
        &["--max-streams-per-client", "1", "--trusted-proxies", "127.0.0.1"],
    )
    .await;
    let first = post_with(&reins, &[("x-forwarded-for", "198.51.100.1")]).await;
    assert_eq!(first.status(), 200);
    let same = post_with(&reins, &[("x-forwarded-for", "198.51.100.1")]).await;
    assert_eq!(same.status(), 429, "the same forwarded client");
    let other = post_with(&reins, &[("x-forwarded-for", "198.51.100.2")]).await;
    assert_eq!(other.status(), 200, "another client behind the same proxy");
    // IPv6 clients are one client per /64.
    let v6 = post_with(&reins, &[("forwarded", r#"for="[2001:db8:1:2::1]""#)]).await;
    assert_eq!(v6.status(), 200);
    let same_64 = post_with(&reins, &[("forwarded", r#"for="[2001:db8:1:2:ffff::9]""#)]).await;
    assert_eq!(same_64.status(), 429);
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    let upstream = FakeUpstream::start(thinking()).await;
    let reins = Reins::relaying_to(&upstream.base_url(), &["--max-streams-per-client", "1"]).await;
    let first = post_with(&reins, &[("x-forwarded-for", "198.51.100.1")]).await;
    assert_eq!(first.status(), 200);
    // A client cannot buy itself another share by claiming another address.
    let spoofed = post_with(&reins, &[("x-forwarded-for", "198.51.100.2")]).await;
    assert_eq!(spoofed.status(), 429);
}
