//! What the client receives for each kind of upstream reply: the UI message
//! stream's headers and parts for a good reply, and a clear `error` part for
//! each kind of failure, with the partial text kept.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{FakeUpstream, Reins, Step, chat_body, data_frames, part_types};

/// Relays one reply from an upstream following `script` and returns the
/// client's frames.
async fn relay(script: Vec<Step>) -> Vec<String> {
    let upstream = FakeUpstream::start(script).await;
    let reins = Reins::start(upstream.base_url(), None).await;
    let response = reins.post_chat(chat_body("Hi")).await;
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
    let response = reins.post_chat(chat_body("Hi there")).await;

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
    let response = reins.post_chat(body.to_string()).await;
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
    let response = reins.post_chat(chat_body("Hi")).await;
    let frames = data_frames(&response.text().await.unwrap());
    assert_eq!(part_types(&frames), ["start", "error", "[DONE]"]);
    // Its address goes to the log, not to the client.
    assert_eq!(error_text(&frames), "Could not connect to the model API.");
}

#[tokio::test]
async fn an_upstream_error_status_is_explained_by_its_kind_only() {
    let frames = relay(vec![Step::Fail(
        401,
        r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error"}}"#,
    )])
    .await;
    assert_eq!(part_types(&frames), ["start", "error", "[DONE]"]);
    assert_eq!(error_text(&frames), "The model API refused the request (HTTP 401).");

    let frames = relay(vec![Step::Fail(500, "oops")]).await;
    assert_eq!(error_text(&frames), "The model API failed (HTTP 500).");
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
    assert_eq!(error_text(&frames), "The model API reported an error in the middle of the reply.");
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

#[tokio::test]
async fn reasoning_and_usage_are_relayed() {
    let frames = relay(vec![
        Step::Head,
        Step::Raw("data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"Think\"}}]}\n\n"),
        Step::Raw("data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"ing\"}}]}\n\n"),
        Step::Token("Answer"),
        Step::Raw("data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"),
        Step::Raw("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\n"),
        Step::Raw("data: [DONE]\n\n"),
    ])
    .await;
    assert_eq!(
        part_types(&frames),
        [
            "start",
            "start-step",
            "reasoning-start",
            "reasoning-delta",
            "reasoning-delta",
            "reasoning-end",
            "text-start",
            "text-delta",
            "text-end",
            "finish-step",
            "finish",
            "[DONE]",
        ]
    );
    let finish: Value = serde_json::from_str(&frames[10]).unwrap();
    assert_eq!(
        finish,
        json!({
            "type": "finish",
            "finishReason": "stop",
            "messageMetadata": {"usage": {"inputTokens": 7, "outputTokens": 3, "totalTokens": 10}},
        })
    );
}

#[tokio::test]
async fn the_system_prompt_and_token_cap_go_upstream() {
    let mut upstream = FakeUpstream::start(vec![Step::Head, Step::Finish("stop")]).await;
    let reins = Reins::relaying_to(
        &upstream.base_url(),
        &["--system-prompt", "Be brief.", "--max-tokens", "64"],
    )
    .await;
    let body = json!({"messages": [{"role": "user", "content": "Hi"}], "maxOutputTokens": 1000});
    reins.post_chat(body.to_string()).await.text().await.unwrap();
    let (_, sent) = upstream.request().await;
    let sent: Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(sent["max_tokens"], 64, "the server's cap wins over the client's wish");
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    );
}

#[tokio::test]
async fn an_anthropic_upstream_is_relayed() {
    let event = |name: &str, data: &str| -> &'static str {
        Box::leak(format!("event: {name}\ndata: {data}\n\n").into_boxed_str())
    };
    let mut upstream = FakeUpstream::start(vec![
        Step::Head,
        Step::Raw(event("message_start", r#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":12,"output_tokens":1}}}"#)),
        Step::Raw(event("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#)),
        Step::Raw(event("ping", r#"{"type":"ping"}"#)),
        Step::Raw(event("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Bonjour"}}"#)),
        Step::Raw(event("content_block_stop", r#"{"type":"content_block_stop","index":0}"#)),
        Step::Raw(event("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":4}}"#)),
        Step::Raw(event("message_stop", r#"{"type":"message_stop"}"#)),
    ])
    .await;
    let reins = Reins::relaying_to(
        &upstream.base_url(),
        &["--upstream-kind", "anthropic", "--api-key", "ak-secret", "--system-prompt", "Be kind."],
    )
    .await;
    let body = reins.post_chat(chat_body("Salut")).await.text().await.unwrap();
    let frames = data_frames(&body);
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
    assert!(frames[3].contains("Bonjour"));
    let finish: Value = serde_json::from_str(&frames[6]).unwrap();
    assert_eq!(finish["finishReason"], "stop");
    assert_eq!(
        finish["messageMetadata"]["usage"],
        json!({"inputTokens": 12, "outputTokens": 4, "totalTokens": 16})
    );

    let (head, sent) = upstream.request().await;
    let head = head.to_lowercase();
    assert!(head.starts_with("post /v1/messages http/1.1"), "{head}");
    assert!(
        head.contains("x-api-key: ak-secret") && head.contains("anthropic-version: 2023-06-01"),
        "{head}"
    );
    assert!(!head.contains("authorization"), "{head}");
    let sent: Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(sent["system"], "Be kind.");
    assert_eq!(sent["messages"], json!([{"role": "user", "content": "Salut"}]));
}

#[tokio::test]
async fn an_anthropic_error_event_is_relayed() {
    let mut upstream = FakeUpstream::start(vec![
        Step::Head,
        Step::Raw("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"),
    ])
    .await;
    let reins = Reins::relaying_to(&upstream.base_url(), &["--upstream-kind", "anthropic"]).await;
    let body = reins.post_chat(chat_body("Hi")).await.text().await.unwrap();
    assert_eq!(
        error_text(&data_frames(&body)),
        "The model API reported an error in the middle of the reply."
    );
    upstream.request().await;
}
