//! Two replicas sharing a real `redis-server` (started here, on a free
//! loopback port): a stop sent to either reaches the one holding the stream,
//! receipts read the same from either, stopping is idempotent, receipts
//! expire, and a Redis restart mid-stream costs no running stream.

mod support;

use std::time::Duration;

use app::protocol::ReplyState;
use redis::AsyncCommands;
use support::{FakeUpstream, RawClient, RedisServer, Reins, Step, chat_body, paced_reply};

/// Two replicas relaying to `upstream`, sharing `redis`, each listening
/// for stops.
async fn replicas(redis: &RedisServer, upstream: &FakeUpstream, extra: &[&str]) -> [Reins; 2] {
    let [first, second] = support::replicas(redis, upstream, extra).await;
    for replica in [&first, &second] {
        wait_until_listening(replica, true).await;
    }
    [first, second]
}

/// Waits until the replica hears stops, or has noticed it no longer does
/// (its metric says so).
async fn wait_until_listening(replica: &Reins, listening: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while replica.metric("reins_registry_listening") != Some(u64::from(listening)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replica's listening for stops never became {listening}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn slow_reply() -> Vec<Step> {
    paced_reply(200, Duration::from_millis(20))
}

#[tokio::test]
async fn a_stop_sent_to_the_other_replica_drops_the_upstream_and_leaves_a_receipt() {
    let redis = RedisServer::start().await;
    let mut upstream = FakeUpstream::start(slow_reply()).await;
    let [holder, other] = replicas(&redis, &upstream, &[]).await;
    let mut client = RawClient::post_chat(holder.addr, &chat_body("Hi")).await;
    upstream.request().await;
    client.read_until("\"text-delta\"", 3).await;
    let message_id = client.message_id();

    let asked = tokio::time::Instant::now();
    assert_eq!(other.post_stop(&message_id).await.status(), 204);
    let (closed, _, finished) = upstream.closed().await;
    assert!(!finished, "the model was not stopped");
    let took = closed.saturating_duration_since(asked);
    assert!(took < Duration::from_millis(500), "the upstream closed {took:?} after the stop");

    // The client, still listening, gets the receipt before the abort.
    let body = client.read_to_end().await;
    let metadata = body.find(r#""type":"message-metadata""#).expect("a message-metadata part");
    let abort = body.find(r#""type":"abort""#).expect("an abort part");
    assert!(metadata < abort, "{body}");
    assert!(body.contains(r#""state":"stopped""#), "{body}");

    assert_eq!(other.metric("reins_stops_passed_on_total"), Some(1));
    // Either replica gives the same receipt.
    let from_holder = holder.final_receipt(&message_id).await;
    let from_other = other.final_receipt(&message_id).await;
    assert_eq!(from_holder, from_other);
    assert_eq!(from_holder.state, ReplyState::Stopped);
    assert!(from_holder.tokens_relayed >= 3, "{from_holder:?}");
    assert!(from_holder.output_tokens_counted, "the fake model reports no usage");
    let summary = from_holder.summary.as_deref().unwrap_or_default();
    assert!(summary.starts_with("Stopped after "), "{summary}");
    let after = from_holder.dropped_after_us().expect("stop and drop times");
    assert!(after < 500_000, "{from_holder:?}");

    // Stopping again, through either replica, is still a stop.
    assert_eq!(other.post_stop(&message_id).await.status(), 204);
    assert_eq!(holder.post_stop(&message_id).await.status(), 204);
}

#[tokio::test]
async fn unknown_and_finished_replies_answer_the_same_from_either_replica() {
    let redis = RedisServer::start().await;
    let upstream =
        FakeUpstream::start(vec![Step::Head, Step::Token("Hi"), Step::Finish("stop")]).await;
    let [first, second] = replicas(&redis, &upstream, &[]).await;
    let unknown = "msg_00000000000000000000000000000000";
    for replica in [&first, &second] {
        assert_eq!(replica.post_stop(unknown).await.status(), 404);
        assert_eq!(replica.receipt(unknown).await.status(), 404);
        // A hostile id is never looked up.
        assert_eq!(replica.post_stop("reins:reply:*").await.status(), 404);
    }

    let mut client = RawClient::post_chat(first.addr, &chat_body("Hi")).await;
    client.read_to_end().await;
    let message_id = client.message_id();
    let completed = second.final_receipt(&message_id).await;
    assert_eq!(completed.state, ReplyState::Completed);
    assert_eq!(completed.tokens_relayed, 1);
    for replica in [&first, &second] {
        assert_eq!(replica.post_stop(&message_id).await.status(), 404, "it completed");
    }
}

#[tokio::test]
async fn receipts_expire_so_redis_does_not_grow() {
    let redis = RedisServer::start().await;
    let upstream =
        FakeUpstream::start(vec![Step::Head, Step::Token("Hi"), Step::Finish("stop")]).await;
    let [first, _second] = replicas(&redis, &upstream, &["--receipt-ttl-secs", "1"]).await;
    let mut client = RawClient::post_chat(first.addr, &chat_body("Hi")).await;
    client.read_to_end().await;
    let message_id = client.message_id();
    first.final_receipt(&message_id).await;

    let mut redis_connection = redis.connection().await;
    let ttl: i64 = redis_connection.ttl(format!("reins:reply:{message_id}")).await.unwrap();
    assert!((0..=1).contains(&ttl), "time to live {ttl}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(first.receipt(&message_id).await.status(), 404);
    let keys: Vec<String> = redis_connection.keys("reins:*").await.unwrap();
    // Only the client's counts for the hour are left, for the hour (see
    // `shared_limits.rs`).
    assert_eq!(keys, ["reins:limits:counts:127.0.0.1"]);
}

#[tokio::test]
async fn a_redis_restart_mid_stream_costs_no_running_stream() {
    let mut redis = RedisServer::start().await;
    let mut upstream = FakeUpstream::start(slow_reply()).await;
    let [holder, other] = replicas(&redis, &upstream, &[]).await;
    let mut running = RawClient::post_chat(holder.addr, &chat_body("Hi")).await;
    upstream.request().await;
    running.read_until("\"text-delta\"", 2).await;
    let message_id = running.message_id();

    redis.stop();
    wait_until_listening(&holder, false).await;
    // The stream goes on.
    running.read_until("\"text-delta\"", 10).await;
    // New streams, and stops for a stream held elsewhere, say why they fail.
    let refused = holder.post_chat(chat_body("Hi")).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.text().await.unwrap().contains("registry_unavailable"));
    let stop = other.post_stop(&message_id).await;
    assert_eq!(stop.status(), 503);
    assert!(stop.headers().contains_key("retry-after"));
    assert!(holder.metric("reins_registry_errors_total") > Some(0));

    redis.restart().await;
    wait_until_listening(&holder, true).await;
    // The holder registered its running stream again when it reconnected:
    // stops travel again, to the stream that kept running through it all.
    running.read_until("\"text-delta\"", 12).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = other.post_stop(&message_id).await.status();
        if status == 204 {
            break;
        }
        // The other replica's command connection may need one failed
        // command to notice the restart.
        assert_eq!(status, 503);
        assert!(tokio::time::Instant::now() < deadline, "stops never travelled again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, _, finished) = upstream.closed().await;
    assert!(!finished, "the stop did not reach the model");
    assert_eq!(other.final_receipt(&message_id).await.state, ReplyState::Stopped);

    // New streams open again; with Redis gone once more, disconnect-based
    // cancel and a stop sent to the replica holding the stream still work.
    let mut fresh = RawClient::post_chat(holder.addr, &chat_body("Hi")).await;
    upstream.request().await;
    fresh.read_until("\"text-delta\"", 2).await;
    let mut disconnecting = RawClient::post_chat(holder.addr, &chat_body("Hi")).await;
    upstream.request().await;
    disconnecting.read_until("\"text-delta\"", 2).await;
    redis.stop();
    let dropped = disconnecting.disconnect();
    let (closed, _, _) = upstream.closed().await;
    assert!(closed.saturating_duration_since(dropped) < Duration::from_millis(500));
    assert_eq!(holder.post_stop(&fresh.message_id()).await.status(), 204);
    let (_, _, finished) = upstream.closed().await;
    assert!(!finished);
}

#[tokio::test]
async fn the_demo_models_record_of_a_generation_is_read_from_either_replica() {
    let redis = RedisServer::start().await;
    let url = redis.url();
    let args = ["--redis-url", &url, "--demo-tokens-per-second", "100"];
    let ran = Reins::with_args(&args).await;
    let other = Reins::with_args(&args).await;
    let generation = |replica: &Reins, request_id: &str| {
        reqwest::get(replica.url(&format!("/api/demo/generations?request_id={request_id}")))
    };

    // The client leaves mid-reply: the demo model there stops.
    let mut client = RawClient::post_chat(ran.addr, &chat_body("Hi")).await;
    client.read_until("\"text-delta\"", 3).await;
    let head = client.text();
    let request_id = head
        .lines()
        .find_map(|line| line.strip_prefix("x-request-id: "))
        .expect("an x-request-id header")
        .trim()
        .to_owned();
    client.disconnect();

    // The other replica's demo model never ran it; once it has ended, the
    // other replica answers for it all the same.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let elsewhere = loop {
        let response = generation(&other, &request_id).await.unwrap();
        if response.status() == 200 {
            break response.json::<serde_json::Value>().await.unwrap();
        }
        assert_eq!(response.status(), 404);
        assert!(tokio::time::Instant::now() < deadline, "the other replica never found it");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let here =
        generation(&ran, &request_id).await.unwrap().json::<serde_json::Value>().await.unwrap();
    assert_eq!(elsewhere, here, "the same record from either replica");
    assert_eq!(elsewhere["outcome"], "client_closed");
    assert!(elsewhere["tokens_sent"].as_u64().unwrap() >= 3);

    // Nobody else's, and nothing for an id longer than the demo records.
    assert_eq!(generation(&other, "req_0").await.unwrap().status(), 404);
    let long = format!("{request_id}{}", "0".repeat(100));
    assert_eq!(generation(&other, &long).await.unwrap().status(), 404);
}

#[tokio::test]
async fn the_resume_route_answers_204_when_there_is_nothing_to_resume() {
    let upstream = FakeUpstream::start(slow_reply()).await;
    let reins = Reins::relaying_to(&upstream.base_url(), &[]).await;
    let response = reqwest::get(reins.url("/api/chat/some-chat/stream")).await.unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn a_bad_redis_url_is_refused_at_start_up_without_repeating_it() {
    use clap::Parser;
    for (url, expected) in [
        ("rediss://user:hunter2@127.0.0.1:6380/", "TLS (rediss://)"),
        ("http://user:hunter2@127.0.0.1/", "is not a Redis URL"),
    ] {
        let config = reins::config::Config::parse_from(["reins", "--redis-url", url]);
        let Err(error) = reins::state_from_config(&config).await else {
            panic!("{url} was accepted");
        };
        let error = error.to_string();
        assert!(error.contains(expected), "{url}: {error}");
        assert!(!error.contains("hunter2"), "the password was repeated: {error}");
    }
}
