//! The resume window (`--resume-window-ms`): a reply outlives its client's
//! connection for the window, a client that comes back (through this
//! replica or, with Redis, another) reads it from the start and follows
//! the rest, and nobody coming back drops the model's request at the end
//! of the window. A Stop drops it at once, window or not.

mod support;

use std::time::Duration;

use app::protocol::ReplyState;
use support::{FakeUpstream, RawClient, RedisServer, Reins, Step, data_frames, paced_reply};
use tokio::time::Instant;

/// A reply of `tokens` words, 20 ms apart.
fn reply(tokens: usize) -> Vec<Step> {
    paced_reply(tokens, Duration::from_millis(20))
}

/// A chat request for the chat `chat_id`.
fn chat_in(chat_id: &str) -> String {
    serde_json::json!({"id": chat_id, "messages": [{"role": "user", "content": "Hi"}]}).to_string()
}

fn window(millis: &str) -> [&str; 2] {
    ["--resume-window-ms", millis]
}

/// `GET /api/chat/{id}/stream`, as if from `forwarded_for` (through a
/// trusted proxy) when given.
async fn resume(replica: &Reins, id: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(replica.url(&format!("/api/chat/{id}/stream")));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

/// Reads `response` until `needle` has come `times` times, or to its end
/// when `times` is 0; returns what came.
async fn read(response: &mut reqwest::Response, needle: &str, times: usize) -> String {
    let mut body = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while times == 0 || body.matches(needle).count() < times {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("nothing more within 10 s: {body}"))
            .unwrap();
        match chunk {
            Some(chunk) => body.push_str(&String::from_utf8_lossy(&chunk)),
            None => break,
        }
    }
    body
}

/// The reply's text in `body`, and its part types, `[DONE]` included.
fn text_and_types(body: &str) -> (String, Vec<String>) {
    let frames = data_frames(body);
    let mut text = String::new();
    let mut types = Vec::new();
    for frame in frames {
        match serde_json::from_str::<serde_json::Value>(&frame) {
            Ok(part) => {
                if part["type"] == "text-delta" {
                    text.push_str(part["delta"].as_str().unwrap());
                }
                types.push(part["type"].as_str().unwrap().to_owned());
            }
            Err(_) => types.push(frame),
        }
    }
    (text, types)
}

/// Posts a chat, reads three deltas and leaves; returns the message id.
async fn start_and_leave(replica: &Reins, body: &str, upstream: &mut FakeUpstream) -> String {
    let mut client = RawClient::post_chat(replica.addr, body).await;
    upstream.request().await;
    client.read_until("\"text-delta\"", 3).await;
    let message_id = client.message_id();
    client.disconnect();
    message_id
}

#[tokio::test]
async fn a_client_that_comes_back_within_the_window_reads_the_whole_reply() {
    let mut upstream = FakeUpstream::start(reply(40)).await;
    let reins = Reins::relaying_to(&upstream.base_url(), &window("5000")).await;
    let message_id = start_and_leave(&reins, &chat_in("chat-1"), &mut upstream).await;
    assert!(
        upstream.closed_within(Duration::from_millis(300)).await.is_none(),
        "the model was dropped although the window is on"
    );

    let mut response = resume(&reins, &message_id, None).await;
    assert_eq!(response.status(), 200);
    let body = read(&mut response, "", 0).await;
    let (text, types) = text_and_types(&body);
    assert_eq!(text, "word ".repeat(40), "every word, from the first");
    assert_eq!(types.first().map(String::as_str), Some("start"));
    assert_eq!(&types[types.len() - 2..], ["finish", "[DONE]"]);
    assert!(body.contains(&message_id), "the start part names the reply");
    let (_, writes, _) = upstream.closed().await;
    assert_eq!(writes, 42, "the model ran to the end: its head, 40 words and the finish");
    assert_eq!(reins.metric("reins_replies_resumed_total"), Some(1));

    // After it ended, it can still be read for the window: by its id, and,
    // as the AI SDK asks, by its chat's id, from the same client.
    let again = read(&mut resume(&reins, "chat-1", None).await, "", 0).await;
    assert_eq!(text_and_types(&again).0, "word ".repeat(40));
    assert_eq!(reins.final_receipt(&message_id).await.state, ReplyState::Completed);
}

#[tokio::test]
async fn nobody_coming_back_drops_the_model_at_the_end_of_the_window() {
    let mut upstream = FakeUpstream::start(reply(500)).await;
    let reins = Reins::relaying_to(&upstream.base_url(), &window("400")).await;
    let message_id = start_and_leave(&reins, &chat_in("chat-1"), &mut upstream).await;
    let left = Instant::now();
    let (closed, _, finished) = upstream.closed().await;
    assert!(!finished);
    let after = closed.saturating_duration_since(left);
    assert!(
        after >= Duration::from_millis(400) && after < Duration::from_millis(1500),
        "the model was dropped {after:?} after the client left, with a 400 ms window"
    );
    let receipt = reins.final_receipt(&message_id).await;
    assert_eq!(receipt.state, ReplyState::ClientGone);
    // The receipt says when the client went, not when the window ran out.
    let dropped_after = receipt.dropped_after_us().expect("leave and drop times");
    assert!((390_000..1_500_000).contains(&dropped_after), "{receipt:?}");
    assert_eq!(reins.metric("reins_replies_abandoned_total"), Some(1));
    // Gone for good: nothing to resume.
    assert_eq!(resume(&reins, &message_id, None).await.status(), 204);
    assert_eq!(resume(&reins, "chat-1", None).await.status(), 204);
}

#[tokio::test]
async fn a_stop_drops_the_model_at_once_whatever_the_window() {
    let mut upstream = FakeUpstream::start(reply(500)).await;
    let reins = Reins::relaying_to(&upstream.base_url(), &window("60000")).await;
    let message_id = start_and_leave(&reins, &chat_in("chat-1"), &mut upstream).await;
    let asked = Instant::now();
    assert_eq!(reins.post_stop(&message_id).await.status(), 204);
    let (closed, _, finished) = upstream.closed().await;
    assert!(!finished);
    let took = closed.saturating_duration_since(asked);
    assert!(took < Duration::from_millis(500), "the model was dropped {took:?} after the stop");
    // Whoever comes back reads the reply up to the stop, and the stop.
    let body = read(&mut resume(&reins, &message_id, None).await, "", 0).await;
    let (_, types) = text_and_types(&body);
    assert_eq!(&types[types.len() - 3..], ["message-metadata", "abort", "[DONE]"], "{body}");
    assert_eq!(reins.final_receipt(&message_id).await.state, ReplyState::Stopped);
}

#[tokio::test]
async fn a_chat_id_finds_only_the_asking_clients_reply_and_bad_ids_find_nothing() {
    let mut upstream = FakeUpstream::start(reply(500)).await;
    let mut args = window("5000").to_vec();
    args.extend(["--trusted-proxies", "127.0.0.1"]);
    let reins = Reins::relaying_to(&upstream.base_url(), &args).await;
    let response = reqwest::Client::new()
        .post(reins.url("/api/chat"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", "198.51.100.1")
        .body(chat_in("shared-name"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-reins-resume-window-ms"], "5000");
    upstream.request().await;
    let mut response = response;
    let first = read(&mut response, "\"text-delta\"", 2).await;
    drop(response);

    let stranger = resume(&reins, "shared-name", Some("198.51.100.2")).await;
    assert_eq!(stranger.status(), 204, "another client's chat with the same id");
    let mut owner = resume(&reins, "shared-name", Some("198.51.100.1")).await;
    assert_eq!(owner.status(), 200);
    let replayed = read(&mut owner, "\"text-delta\"", 2).await;
    assert_eq!(data_frames(&first)[..3], data_frames(&replayed)[..3], "the same parts, again");
    drop(owner);

    for id in ["nope", "msg_00000000000000000000000000000000", "a%20b", &"a".repeat(65)] {
        assert_eq!(resume(&reins, id, None).await.status(), 204, "{id}");
    }
}

#[tokio::test]
async fn without_a_window_nothing_is_kept_and_no_header_says_otherwise() {
    let mut upstream = FakeUpstream::start(reply(500)).await;
    let reins = Reins::relaying_to(&upstream.base_url(), &[]).await;
    let response = reins.post_chat(chat_in("chat-1")).await;
    assert!(response.headers().get("x-reins-resume-window-ms").is_none());
    upstream.request().await;
    let mut response = response;
    let body = read(&mut response, "\"text-delta\"", 1).await;
    let message_id = body.split("\"messageId\":\"").nth(1).unwrap().split('"').next().unwrap();
    let message_id = message_id.to_owned();
    assert_eq!(resume(&reins, &message_id, None).await.status(), 204);
    let left = Instant::now();
    drop(response);
    let (closed, _, _) = upstream.closed().await;
    assert!(closed.saturating_duration_since(left) < Duration::from_millis(500));
}

/// Two replicas sharing `redis`, with a resume window.
async fn replicas(redis: &RedisServer, upstream: &FakeUpstream, millis: &str) -> [Reins; 2] {
    let url = redis.url();
    let args = ["--redis-url", url.as_str(), "--resume-window-ms", millis];
    let first = Reins::relaying_to(&upstream.base_url(), &args).await;
    let second = Reins::relaying_to(&upstream.base_url(), &args).await;
    [first, second]
}

#[tokio::test]
async fn a_reply_resumes_on_the_other_replica_and_is_kept_while_read_there() {
    let redis = RedisServer::start().await;
    // 1.6 s of reply against a 500 ms window: it is read through the other
    // replica for longer than the window, and the holder must keep it.
    let mut upstream = FakeUpstream::start(paced_reply(80, Duration::from_millis(20))).await;
    let [holder, other] = replicas(&redis, &upstream, "500").await;
    let message_id = start_and_leave(&holder, &chat_in("chat-1"), &mut upstream).await;

    let mut response = resume(&other, &message_id, None).await;
    assert_eq!(response.status(), 200);
    let body = read(&mut response, "", 0).await;
    let (text, types) = text_and_types(&body);
    assert_eq!(text, "word ".repeat(80), "every word, from the first");
    assert_eq!(&types[types.len() - 2..], ["finish", "[DONE]"]);
    let (_, writes, _) = upstream.closed().await;
    assert_eq!(writes, 82, "the holder dropped the model while the other replica was reading");
    assert_eq!(other.metric("reins_replies_resumed_total"), Some(1));
    // By chat id too, through the other replica.
    let again = read(&mut resume(&other, "chat-1", None).await, "", 0).await;
    assert_eq!(text_and_types(&again).0, "word ".repeat(80));
}

#[tokio::test]
async fn a_reader_on_the_other_replica_that_leaves_lets_the_window_end_the_reply() {
    let redis = RedisServer::start().await;
    let mut upstream = FakeUpstream::start(reply(500)).await;
    let [holder, other] = replicas(&redis, &upstream, "400").await;
    let message_id = start_and_leave(&holder, &chat_in("chat-1"), &mut upstream).await;
    let mut response = resume(&other, &message_id, None).await;
    assert_eq!(response.status(), 200);
    // Read there for longer than the window, then leave.
    tokio::time::sleep(Duration::from_millis(800)).await;
    read(&mut response, "\"text-delta\"", 3).await;
    assert!(upstream.closed_within(Duration::from_millis(10)).await.is_none());
    drop(response);
    let left = Instant::now();
    let (closed, _, finished) = upstream.closed().await;
    assert!(!finished);
    let after = closed.saturating_duration_since(left);
    assert!(
        after < Duration::from_millis(1500),
        "the model was dropped {after:?} after the last reader left, with a 400 ms window"
    );
    assert_eq!(other.final_receipt(&message_id).await.state, ReplyState::ClientGone);
}

#[tokio::test]
async fn a_stop_sent_to_the_reading_replica_reaches_the_holder() {
    let redis = RedisServer::start().await;
    let mut upstream = FakeUpstream::start(reply(500)).await;
    let [holder, other] = replicas(&redis, &upstream, "5000").await;
    let message_id = start_and_leave(&holder, &chat_in("chat-1"), &mut upstream).await;
    let mut response = resume(&other, &message_id, None).await;
    read(&mut response, "\"text-delta\"", 5).await;
    // The stop listener may still be connecting on a fresh replica.
    let stopped = async {
        for _ in 0..100 {
            if other.post_stop(&message_id).await.status() == 204 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the stop was never taken");
    };
    stopped.await;
    let (_, _, finished) = upstream.closed().await;
    assert!(!finished);
    let body = read(&mut response, "", 0).await;
    let (_, types) = text_and_types(&body);
    assert_eq!(&types[types.len() - 3..], ["message-metadata", "abort", "[DONE]"], "{body}");
}
