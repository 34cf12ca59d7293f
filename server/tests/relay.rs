//! What the client receives for each kind of upstream reply: the UI message
//! stream's headers and parts for a good reply, and a clear `error` part for
//! each kind of failure, with the partial text kept.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{FakeUpstream, Reins, Step, chat_body, data_frames, part_types};

async fn post(reins: &Reins, body: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(reins.url("/api/chat"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Relays one reply from an upstream following `script` and returns the
/// client's frames.
async fn relay(script: Vec<Step>) -> Vec<String> {
    let upstream = FakeUpstream::start(script).await;
    let reins = Reins::start(upstream.base_url(), None).await;
    let response = post(&reins, chat_body("Hi")).await;
    assert_eq!(response.status(), 200);
    let body =
        tokio::time::timeout(Duration::from_secs(5), response.text()).await.unwrap().unwrap();
    data_frames(&body)
}

fn error_text(frames: &[String]) -> String {
    let error = frames
        .iter()
        .map(|frame| serde_json::from_str::<Value>(frame).unwrap_or_default())
        .find(|part| part["type"] == "error")
        .expect("an error part");
    error["errorText"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_reply_is_relayed_as_a_ui_message_stream() {
    let mut upstream = FakeUpstream::start(vec![
        Step::Head,
        Step::Token("Hel"),
        Step::Token("lo"),
        Step::Finish("length"),
    ])
    .await;
    let reins = Reins::start(upstream.base_url(), Some("sk-secret")).await;
    let response = post(&reins, chat_body("Hi there")).await;

    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["x-vercel-ai-ui-message-stream"], "v1");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");

    let frames = data_frames(&response.text().await.unwrap());
    assert_eq!(
        part_types(&frames),
        [
            "start",
            "start-step",
            "text-start",
            "text-delta",
            "text-delta",
            "text-end",
            "finish-step",
            "finish",
            "[DONE]"
        ]
    );
    let parts: Vec<Value> =
        frames[..frames.len() - 1].iter().map(|f| serde_json::from_str(f).unwrap()).collect();
    let message_id = parts[0]["messageId"].as_str().unwrap();
    assert!(
        message_id.starts_with("msg_") && message_id.len() >= 36,
        "long and random: {message_id}"
    );
    assert_eq!(parts[3], json!({"type": "text-delta", "id": "text-1", "delta": "Hel"}));
    assert_eq!(parts[4]["delta"], "lo");
    assert_eq!(parts[7], json!({"type": "finish", "finishReason": "length"}));

    // What went upstream: a streaming Chat Completions request with the key.
    let (head, body) = upstream.request().await;
    assert!(head.starts_with("POST /v1/chat/completions HTTP/1.1"), "{head}");
    assert!(head.to_lowercase().contains("authorization: bearer sk-secret"), "{head}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "test-model",
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": "Hi there"}],
        })
    );
}

#[tokio::test]
async fn the_ai_sdk_request_shape_is_accepted() {
    let mut upstream = FakeUpstream::start(vec![Step::Head, Step::Finish("stop")]).await;
    let reins = Reins::start(upstream.base_url(), None).await;
    let body = json!({
        "id": "chat-1",
        "messages": [
            {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "One"}]},
            {"id": "a1", "role": "assistant", "parts": [{"type": "step-start"}, {"type": "text", "text": "Two"}]},
            {"id": "u2", "role": "user", "parts": [{"type": "text", "text": "Three"}]},
        ],
        "trigger": "submit-message",
        "messageId": null,
    });
    let response = post(&reins, body.to_string()).await;
    assert_eq!(response.status(), 200);
    let (_, sent) = upstream.request().await;
    let sent: Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "user", "content": "One"},
            {"role": "assistant", "content": "Two"},
            {"role": "user", "content": "Three"},
        ])
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_clear_error() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let reins = Reins::start(format!("http://127.0.0.1:{port}/v1").parse().unwrap(), None).await;
    let response = post(&reins, chat_body("Hi")).await;
    let frames = data_frames(&response.text().await.unwrap());
    assert_eq!(part_types(&frames), ["start", "error", "[DONE]"]);
    assert_eq!(
        error_text(&frames),
        format!("Could not connect to the model API at http://127.0.0.1:{port}.")
    );
}

#[tokio::test]
async fn an_upstream_error_status_is_explained_with_its_message() {
    let frames = relay(vec![Step::Fail(
        401,
        r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error"}}"#,
    )])
    .await;
    assert_eq!(part_types(&frames), ["start", "error", "[DONE]"]);
    assert_eq!(
        error_text(&frames),
        "The model API answered 401 Unauthorized: Incorrect API key provided."
    );

    let frames = relay(vec![Step::Fail(500, "oops")]).await;
    assert_eq!(
        error_text(&frames),
        "The model API answered 500 Internal Server Error: no explanation was given."
    );
}

#[tokio::test]
async fn a_stream_cut_short_keeps_the_partial_text_and_says_so() {
    let frames =
        relay(vec![Step::Head, Step::Token("Half "), Step::Token("a reply"), Step::Close]).await;
    assert_eq!(
        part_types(&frames),
        [
            "start",
            "start-step",
            "text-start",
            "text-delta",
            "text-delta",
            "text-end",
            "error",
            "[DONE]"
        ]
    );
    assert_eq!(
        error_text(&frames),
        "The model API closed the connection before the reply was complete."
    );
}

#[tokio::test]
async fn a_malformed_chunk_ends_the_reply_with_an_error() {
    let frames =
        relay(vec![Step::Head, Step::Token("Fine "), Step::Raw("data: {not json\n\n")]).await;
    assert_eq!(
        part_types(&frames),
        ["start", "start-step", "text-start", "text-delta", "text-end", "error", "[DONE]"]
    );
    assert_eq!(error_text(&frames), "The model API sent a reply Reins could not read.");
}

#[tokio::test]
async fn an_error_reported_mid_stream_is_relayed() {
    let frames = relay(vec![
        Step::Head,
        Step::Token("Some"),
        Step::Raw("data: {\"error\":{\"message\":\"model overloaded\"}}\n\n"),
    ])
    .await;
    assert_eq!(error_text(&frames), "The model API reported an error: model overloaded");
}

#[tokio::test]
async fn keep_alive_comments_and_missing_done_are_tolerated() {
    // Comments between chunks, CRLF line endings, and no `[DONE]` after the
    // finish reason, as some servers do.
    let frames = relay(vec![
        Step::Head,
        Step::Raw(": ping\r\n\r\n"),
        Step::Raw("data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\r\n\r\n"),
        Step::Raw("data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"),
        Step::Close,
    ])
    .await;
    assert_eq!(
        part_types(&frames),
        [
            "start",
            "start-step",
            "text-start",
            "text-delta",
            "text-end",
            "finish-step",
            "finish",
            "[DONE]"
        ]
    );
}
