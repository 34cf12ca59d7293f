//! Limits on what a request may hold and on how many streams may be open, and
//! what the server reports about itself.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{FakeUpstream, RawClient, Reins, Step, chat_body};

/// An upstream that answers with a head and then thinks for a long time.
fn thinking() -> Vec<Step> {
    vec![Step::Head, Step::Wait(Duration::from_secs(30))]
}

async fn error_code(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["error"]["code"].as_str().unwrap().to_owned()
}

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
