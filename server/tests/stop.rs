//! `POST /api/chat/{messageId}/stop`: the upstream request is dropped, the
//! stream ends with `abort` and `[DONE]`, and the answer is 204. An unknown or
//! finished id gets 404.

mod support;

use std::time::Duration;

use support::{FakeUpstream, RawClient, Reins, Step, chat_body, paced_reply};

fn slow_reply() -> Vec<Step> {
    paced_reply(100, Duration::from_millis(20))
}

#[tokio::test]
async fn a_stop_request_ends_the_stream_with_abort_and_closes_the_upstream() {
    let mut upstream = FakeUpstream::start(slow_reply()).await;
    let reins = Reins::start(upstream.base_url(), None).await;
    let mut client = RawClient::post_chat(reins.addr, &chat_body("Hi")).await;
    upstream.request().await;
    client.read_until("\"text-delta\"", 2).await;
    let message_id = client.message_id();

    let asked = tokio::time::Instant::now();
    let response = reins.post_stop(&message_id).await;
    assert_eq!(response.status(), 204);
    assert_eq!(response.text().await.unwrap(), "");

    let (closed, writes, finished) = upstream.closed().await;
    assert!(!finished);
    assert!(closed.saturating_duration_since(asked) < Duration::from_millis(100));
    assert!(writes < 20, "the upstream kept writing: {writes}");

    // The client, still connected, is told the reply was stopped.
    let body = client.read_to_end().await;
    let abort =
        body.find(r#"{"type":"abort","reason":"Stopped by request."}"#).expect("an abort part");
    let done = body.find("data: [DONE]").expect("[DONE]");
    assert!(abort < done, "{body}");
    assert!(body.contains(r#""type":"text-end""#), "the partial text is closed properly: {body}");
    assert!(!body.contains(r#""type":"finish""#), "{body}");

    // Stopping it again is still a stop: browsers send the stop request and
    // drop the connection at once, and either may arrive first.
    assert_eq!(reins.post_stop(&message_id).await.status(), 204);
}

#[tokio::test]
async fn a_stop_while_the_model_thinks_ends_the_stream_too() {
    let mut upstream =
        FakeUpstream::start(vec![Step::Wait(Duration::from_secs(30)), Step::Head]).await;
    let reins = Reins::start(upstream.base_url(), None).await;
    let mut client = RawClient::post_chat(reins.addr, &chat_body("Hi")).await;
    client.read_until("\"start\"", 1).await;
    upstream.request().await;
    assert_eq!(reins.post_stop(&client.message_id()).await.status(), 204);
    let (_, writes, _) = upstream.closed().await;
    assert_eq!(writes, 0);
    let body = client.read_to_end().await;
    assert!(body.contains(r#""type":"abort""#) && body.contains("[DONE]"), "{body}");
}

#[tokio::test]
async fn unknown_ids_get_a_404_with_a_reason() {
    let upstream = FakeUpstream::start(vec![]).await;
    let reins = Reins::start(upstream.base_url(), None).await;
    let response = reins.post_stop("msg_0123456789abcdef0123456789abcdef").await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].as_str().unwrap().contains("No reply with this id"));
}

#[tokio::test]
async fn a_stop_after_the_client_left_is_still_a_stop_but_not_after_completion() {
    let mut upstream = FakeUpstream::start(slow_reply()).await;
    let reins = Reins::start(upstream.base_url(), None).await;
    let mut client = RawClient::post_chat(reins.addr, &chat_body("Hi")).await;
    upstream.request().await;
    client.read_until("\"text-delta\"", 1).await;
    let message_id = client.message_id();
    client.disconnect();
    upstream.closed().await;
    // The disconnect won the race against the stop request: the stream is
    // gone before the stop arrives.
    for _ in 0..100 {
        if reins.state.streams.open() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(reins.state.streams.open(), 0);
    assert_eq!(reins.post_stop(&message_id).await.status(), 204);

    // A reply that ran to the end cannot be stopped.
    let mut done =
        FakeUpstream::start(vec![Step::Head, Step::Token("a"), Step::Finish("stop")]).await;
    let reins = Reins::start(done.base_url(), None).await;
    let mut client = RawClient::post_chat(reins.addr, &chat_body("Hi")).await;
    done.request().await;
    client.read_to_end().await;
    let response = reins.post_stop(&client.message_id()).await;
    assert_eq!(response.status(), 404);
}
