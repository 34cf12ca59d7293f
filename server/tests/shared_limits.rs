//! With Redis, two replicas count one client's limits together (streams
//! open at once, requests per minute, output tokens held and spent in the
//! hour): a client reaching both gets one share, not two. A stream keeps
//! its slot while its replica renews its lease, even through a Redis that
//! lost it, and a dead replica's slots come back when their leases run
//! out. Against a real `redis-server` started here.

mod support;

use std::time::Duration;

use redis::AsyncCommands;
use support::{
    FakeUpstream, RawClient, RedisServer, Reins, Step, chat_body, error_code, max_tokens_asked,
    replicas, thinking,
};

/// Posts a chat to `replica` until it is admitted; panics after 3 s.
async fn admitted_within_3s(replica: &Reins) -> reqwest::Response {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let response = replica.post_chat(chat_body("Hi")).await;
        if response.status() == 200 {
            return response;
        }
        assert_eq!(response.status(), 429);
        assert!(tokio::time::Instant::now() < deadline, "the slot never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_gets_one_share_of_open_streams_however_many_replicas_it_reaches() {
    let redis = RedisServer::start().await;
    let upstream = FakeUpstream::start(thinking()).await;
    let [first, second] = replicas(&redis, &upstream, &["--max-streams-per-client", "1"]).await;
    let mut open = RawClient::post_chat(first.addr, &chat_body("Hi")).await;
    open.read_until("\"start-step\"", 1).await;

    let refused = second.post_chat(chat_body("Hi")).await;
    assert_eq!(refused.status(), 429, "a second stream through the other replica");
    assert_eq!(error_code(refused).await, "too_many_streams");

    // The first ends: its slot is given back to every replica.
    open.disconnect();
    drop(admitted_within_3s(&second).await);
}

#[tokio::test]
async fn requests_per_minute_are_counted_across_replicas() {
    let redis = RedisServer::start().await;
    let upstream =
        FakeUpstream::start(vec![Step::Head, Step::Token("Hi"), Step::Finish("stop")]).await;
    let [first, second] = replicas(&redis, &upstream, &["--max-requests-per-minute", "3"]).await;
    for replica in [&first, &second, &first] {
        let response = replica.post_chat(chat_body("Hi")).await;
        assert_eq!(response.status(), 200);
        response.text().await.unwrap();
    }
    for replica in [&second, &first] {
        let refused = replica.post_chat(chat_body("Hi")).await;
        assert_eq!(refused.status(), 429, "a fourth request this minute");
        // One more comes every 20 s.
        let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=20).contains(&retry_after), "retry after {retry_after}");
        assert_eq!(error_code(refused).await, "too_many_requests");
    }
}

#[tokio::test]
async fn output_tokens_held_and_spent_on_one_replica_count_on_the_other() {
    let redis = RedisServer::start().await;
    let mut upstream = FakeUpstream::start(thinking()).await;
    let budget = ["--max-output-tokens-per-hour", "10", "--max-tokens", "6"];
    let [first, second] = replicas(&redis, &upstream, &budget).await;
    let holding = first.post_chat(chat_body("Hi")).await;
    assert_eq!(max_tokens_asked(&mut upstream).await, 6, "a reply's own cap");
    let other = second.post_chat(chat_body("Hi")).await;
    assert_eq!(other.status(), 200);
    assert_eq!(max_tokens_asked(&mut upstream).await, 4, "what the first holds is not left");
    let refused = first.post_chat(chat_body("Hi")).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(error_code(refused).await, "token_budget_held");
    // The first leaves having been sent nothing: what it held comes back
    // to both replicas.
    drop(holding);
    upstream.closed().await;
    drop(admitted_within_3s(&second).await);
    assert_eq!(max_tokens_asked(&mut upstream).await, 6);
}

#[tokio::test]
async fn tokens_sent_through_one_replica_are_spent_on_the_other() {
    let redis = RedisServer::start().await;
    let three_tokens = vec![
        Step::Head,
        Step::Token("a"),
        Step::Token("b"),
        Step::Token("c"),
        Step::Finish("stop"),
    ];
    let mut upstream = FakeUpstream::start(three_tokens).await;
    let budget = ["--max-output-tokens-per-hour", "10", "--max-tokens", "6"];
    let [first, second] = replicas(&redis, &upstream, &budget).await;
    for (replica, asked) in [(&first, 6), (&second, 6), (&first, 4)] {
        let mut reply = RawClient::post_chat(replica.addr, &chat_body("Hi")).await;
        assert_eq!(max_tokens_asked(&mut upstream).await, asked, "10 less 3 a reply");
        reply.read_to_end().await;
        upstream.closed().await;
        // The reply's tokens are counted as its stream is dropped: wait for
        // its slot to be free before the next.
        wait_for_no_open_streams(&redis).await;
    }
    // 9 spent, 1 left; then 10, and the hour is spent for both.
    let mut last = RawClient::post_chat(second.addr, &chat_body("Hi")).await;
    assert_eq!(max_tokens_asked(&mut upstream).await, 1);
    last.read_to_end().await;
    upstream.closed().await;
    wait_for_no_open_streams(&redis).await;
    for replica in [&first, &second] {
        let refused = replica.post_chat(chat_body("Hi")).await;
        assert_eq!(refused.status(), 429);
        let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((3500..=3600).contains(&retry_after), "retry after {retry_after}");
        assert_eq!(error_code(refused).await, "token_budget_spent");
    }
}

/// Waits until no stream of the tests' client (127.0.0.1) holds a slot in
/// Redis.
async fn wait_for_no_open_streams(redis: &RedisServer) {
    let mut connection = redis.connection().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let open: usize = connection.zcard("reins:limits:open:127.0.0.1").await.unwrap();
        if open == 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{open} streams still hold slots");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn open_streams_keep_their_slots_while_their_replica_renews_their_leases() {
    let redis = RedisServer::start().await;
    let upstream = FakeUpstream::start(thinking()).await;
    let args = ["--max-streams-per-client", "2", "--limits-lease-ms", "300"];
    let [first, second] = replicas(&redis, &upstream, &args).await;
    // Two, so that one renewal carries more than one stream.
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = RawClient::post_chat(first.addr, &chat_body("Hi")).await;
        stream.read_until("\"start-step\"", 1).await;
        open.push(stream);
    }
    // Five leases later, both streams still hold their slots.
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let refused = second.post_chat(chat_body("Hi")).await;
        assert_eq!(refused.status(), 429, "an open stream's lease ran out");
    }
    open.pop().unwrap().disconnect();
    drop(admitted_within_3s(&second).await);
}

#[tokio::test]
async fn a_dead_replicas_slots_and_tokens_come_back_when_their_leases_end() {
    let redis = RedisServer::start().await;
    let mut upstream = FakeUpstream::start(thinking()).await;
    let args = ["--max-streams-per-client", "1", "--max-output-tokens-per-hour", "10"];
    let [replica, _] = replicas(&redis, &upstream, &args).await;
    // What a replica that died leaves behind: a stream whose lease it no
    // longer renews (ending in 500 ms), holding 8 of the client's tokens.
    let mut connection = redis.connection().await;
    let now_ms: u64 = {
        let (secs, micros): (u64, u64) =
            redis::cmd("TIME").query_async(&mut connection).await.unwrap();
        secs * 1000 + micros / 1000
    };
    let dead = "msg_0123456789abcdef0123456789abcdef";
    let () = connection.zadd("reins:limits:open:127.0.0.1", dead, now_ms + 500).await.unwrap();
    let () = connection.hset("reins:limits:held:127.0.0.1", dead, 8).await.unwrap();

    let refused = replica.post_chat(chat_body("Hi")).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(error_code(refused).await, "too_many_streams");
    let admitted = admitted_within_3s(&replica).await;
    assert_eq!(max_tokens_asked(&mut upstream).await, 10, "the dead stream's hold came back");
    drop(admitted);
}

#[tokio::test]
async fn a_client_leaves_nothing_in_redis_but_its_hour() {
    let redis = RedisServer::start().await;
    let upstream =
        FakeUpstream::start(vec![Step::Head, Step::Token("Hi"), Step::Finish("stop")]).await;
    let [first, second] = replicas(&redis, &upstream, &[]).await;
    for replica in [&first, &second] {
        let response = replica.post_chat(chat_body("Hi")).await;
        response.text().await.unwrap();
    }
    wait_for_no_open_streams(&redis).await;
    let mut connection = redis.connection().await;
    let mut keys: Vec<String> = connection.keys("reins:limits:*").await.unwrap();
    keys.sort();
    assert_eq!(keys, ["reins:limits:counts:127.0.0.1"], "slots and holds are removed");
    let ttl: i64 = connection.ttl("reins:limits:counts:127.0.0.1").await.unwrap();
    assert!((3590..=3600).contains(&ttl), "kept for the hour: {ttl} s");
}

/// Posts a chat to `replica` until it answers other than `503`: its first
/// command after Redis restarted may find its connection gone, then it
/// reconnects. Returns the answer, its head read.
async fn once_reconnected(replica: &Reins) -> RawClient {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut reply = RawClient::post_chat(replica.addr, &chat_body("Hi")).await;
        reply.read_until("\r\n\r\n", 1).await;
        if !reply.text().starts_with("HTTP/1.1 503") {
            return reply;
        }
        assert!(tokio::time::Instant::now() < deadline, "Redis never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two replicas sharing `redis` (a client may open 2 streams and be sent 10
/// tokens an hour, 8 a reply; and `more`), and a stream running through the
/// first that holds 8 of its client's 10 tokens.
async fn a_stream_holding_8_of_10(
    redis: &RedisServer,
    more: &[&str],
) -> (FakeUpstream, [Reins; 2], RawClient) {
    let mut upstream = FakeUpstream::start(thinking()).await;
    let mut args = vec![
        "--max-streams-per-client",
        "2",
        "--max-output-tokens-per-hour",
        "10",
        "--max-tokens",
        "8",
    ];
    args.extend(more);
    let replicas = replicas(redis, &upstream, &args).await;
    let mut running = RawClient::post_chat(replicas[0].addr, &chat_body("Hi")).await;
    running.read_until("\"start-step\"", 1).await;
    assert_eq!(max_tokens_asked(&mut upstream).await, 8);
    (upstream, replicas, running)
}

/// That Redis counts the running stream's hold and slot: the next stream,
/// through the second replica, is asked for the 2 tokens left, and a third
/// is refused. Returns the next.
async fn the_running_stream_is_counted(
    upstream: &mut FakeUpstream,
    [first, second]: &[Reins; 2],
) -> RawClient {
    let mut next = once_reconnected(second).await;
    assert!(next.text().starts_with("HTTP/1.1 200"), "{}", next.text());
    next.read_until("\"start-step\"", 1).await;
    assert_eq!(max_tokens_asked(upstream).await, 2, "the running stream's hold was counted");
    let mut refused = once_reconnected(first).await;
    assert!(refused.text().starts_with("HTTP/1.1 429"), "{}", refused.text());
    refused.read_until("too_many_streams", 1).await;
    next
}

#[tokio::test]
async fn a_redis_that_keeps_its_data_forgets_no_slot_nor_hold_when_it_restarts() {
    let mut redis = RedisServer::start_persistent().await;
    let (mut upstream, replicas, running) = a_stream_holding_8_of_10(&redis, &[]).await;

    // Killed, as a crash would, and started again on its append-only file.
    redis.stop();
    redis.restart().await;

    // The stream running through the restart still holds its 8 tokens and
    // its slot.
    let next = the_running_stream_is_counted(&mut upstream, &replicas).await;
    running.disconnect();
    next.disconnect();
}

#[tokio::test]
async fn a_redis_that_forgets_its_data_is_told_the_running_streams_again() {
    let mut redis = RedisServer::start().await;
    let (mut upstream, replicas, running) =
        a_stream_holding_8_of_10(&redis, &["--limits-lease-ms", "300"]).await;

    // Killed and started again empty, as a Redis without its append-only
    // file comes back: no slot, no hold.
    redis.stop();
    redis.restart().await;
    let mut connection = redis.connection().await;

    // Within a few renewals (a third of a lease apart), the replica running
    // the stream has told Redis its slot and its 8 tokens again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let holds: Vec<u64> = connection.hvals("reins:limits:held:127.0.0.1").await.unwrap();
        if holds == [8] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the running stream was never told again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let next = the_running_stream_is_counted(&mut upstream, &replicas).await;

    // Once it ends, it is not told again: its slot comes back at once.
    running.disconnect();
    next.disconnect();
    wait_for_no_open_streams(&redis).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let open: u64 = connection.zcard("reins:limits:open:127.0.0.1").await.unwrap();
    assert_eq!(open, 0, "an ended stream's slot was taken again");
}
