//! Stops across replicas: two Reins replicas sharing a private
//! `redis-server`, a stream on one, its stop sent to the other. Prints the
//! time from sending the stop request to the model API seeing its
//! connection close (median, p99, max), beside the same stop sent to the
//! replica holding the stream, what registering a reply in Redis (and
//! admitting it against the limits every replica shares, in the same round
//! trip) adds to the start of a chat, and the Redis commands per relayed
//! token, without
//! and with the resume window; then what the window costs when nobody
//! comes back: the tokens generated after the client left, against the
//! window times the pace. Asserts nothing.
//!
//! `cargo bench -p reins --bench replicas`
//!
//! Both replicas, the model and the client run in this process, on one
//! runtime, over loopback TCP: the figures include a real HTTP request to
//! the other replica, its Redis lookup and `PUBLISH`, and the holder's
//! cancel, but not a network between machines.

// Printing its figures is what a benchmark is for.
#![allow(clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use support::{FakeUpstream, RawClient, RedisServer, Reins, chat_body, paced_reply};
use tokio::time::Instant;

/// Stops measured in each direction.
const STOPS: usize = 300;

/// Chats whose start is timed with each registry.
const STARTS: usize = 300;

/// Streams relayed to the end to count Redis commands per token.
const COUNTED_STREAMS: usize = 20;
const COUNTED_TOKENS: usize = 50;

#[tokio::main]
async fn main() {
    let redis = RedisServer::start().await;
    let mut upstream = FakeUpstream::start(paced_reply(10_000, Duration::from_millis(5))).await;
    let url = redis.url();
    let args = ["--redis-url", url.as_str(), "--max-requests-per-minute", "100000"];
    let holder = Reins::relaying_to(&upstream.base_url(), &args).await;
    let other = Reins::relaying_to(&upstream.base_url(), &args).await;
    // Both replicas hear stops before the first one is sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let http = reqwest::Client::new();

    // The same pair with the resume window on: the reply runs in a task of
    // its own, which the stop must reach.
    let mut kept_args = args.to_vec();
    kept_args.extend(["--resume-window-ms", "10000"]);
    let kept_holder = Reins::relaying_to(&upstream.base_url(), &kept_args).await;
    let kept_other = Reins::relaying_to(&upstream.base_url(), &kept_args).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    println!("Stop request sent -> the model API's connection closed, {STOPS} stops each:");
    for (name, holder, target) in [
        ("through the other replica", &holder, &other),
        ("to the holder", &holder, &holder),
        ("other replica, window on", &kept_holder, &kept_other),
    ] {
        let mut times = Vec::with_capacity(STOPS);
        for _ in 0..STOPS {
            let mut client = RawClient::post_chat(holder.addr, &chat_body("Hi")).await;
            upstream.request().await;
            client.read_until("\"text-delta\"", 2).await;
            let url = target.url(&format!("/api/chat/{}/stop", client.message_id()));
            let sent = Instant::now();
            let response = http.post(url).send().await.unwrap();
            assert_eq!(response.status(), 204);
            let (closed, _, _) = upstream.closed().await;
            times.push(closed.saturating_duration_since(sent));
            client.read_to_end().await;
        }
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        println!(
            "  {name:>26}: median {:?}, p99 {:?}, max {:?}",
            at(0.5),
            at(0.99),
            times[times.len() - 1]
        );
    }

    // What registering a reply in Redis adds to the start of every chat:
    // the `start` part's arrival, with the registry in memory and in Redis.
    let memory = Reins::relaying_to(&upstream.base_url(), &args[2..]).await;
    println!("Request sent -> `start` part received, {STARTS} chats each:");
    for (name, replica) in [("registry in memory", &memory), ("registry in Redis", &holder)] {
        let mut times = Vec::with_capacity(STARTS);
        for _ in 0..STARTS {
            let sent = Instant::now();
            let mut client = RawClient::post_chat(replica.addr, &chat_body("Hi")).await;
            client.read_until("\"messageId\"", 1).await;
            times.push(sent.elapsed());
            upstream.request().await;
            drop(client);
            upstream.closed().await;
        }
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        println!("  {name:>26}: median {:?}, p99 {:?}", at(0.5), at(0.99));
    }

    println!("Redis commands, {COUNTED_STREAMS} streams of {COUNTED_TOKENS} tokens each:");
    let mut connection = redis.connection().await;
    for (name, window, pace) in [
        ("resume window off", "0", Duration::ZERO),
        ("window on, tokens at once", "10000", Duration::ZERO),
        ("window on, a token per 5 ms", "10000", Duration::from_millis(5)),
    ] {
        let counted = FakeUpstream::start(paced_reply(COUNTED_TOKENS, pace)).await;
        let mut relay_args = args.to_vec();
        relay_args.extend(["--resume-window-ms", window]);
        let relay = Reins::relaying_to(&counted.base_url(), &relay_args).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (commands_before, scripts_before) = commands_processed(&mut connection).await;
        for _ in 0..COUNTED_STREAMS {
            RawClient::post_chat(relay.addr, &chat_body("Hi")).await.read_to_end().await;
        }
        // The end of each stream is written as it is dropped, just after.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (commands_after, scripts_after) = commands_processed(&mut connection).await;
        // Less the `INFO` that read the count before.
        let commands = commands_after - commands_before - 1;
        let scripts = scripts_after - scripts_before;
        let tokens = COUNTED_STREAMS * COUNTED_TOKENS;
        println!(
            "  {name:>30}: {commands}, {:.2} per token, {:.1} per stream; of them {:.1} scripts per stream (the limits: admitted, released) and the calls they make",
            commands as f64 / tokens as f64,
            commands as f64 / COUNTED_STREAMS as f64,
            scripts as f64 / COUNTED_STREAMS as f64
        );
    }

    // What the window costs when nobody comes back: the client reads a few
    // tokens and leaves for good; the model goes on until the window ends.
    const WINDOW_MS: u64 = 1000;
    const PACE: Duration = Duration::from_millis(20);
    let mut model = FakeUpstream::start(paced_reply(10_000, PACE)).await;
    let window = WINDOW_MS.to_string();
    let kept =
        Reins::relaying_to(&model.base_url(), &["--resume-window-ms", window.as_str()]).await;
    let bound = WINDOW_MS as f64 / PACE.as_millis() as f64;
    println!(
        "A client that leaves for good, window {WINDOW_MS} ms, a token per {PACE:?} (bound: {bound:.0} tokens):"
    );
    for _ in 0..5 {
        let mut client = RawClient::post_chat(kept.addr, &chat_body("Hi")).await;
        model.request().await;
        client.read_until("\"text-delta\"", 5).await;
        let read = client.text().matches("\"text-delta\"").count();
        let message_id = client.message_id();
        let left = client.disconnect();
        let (closed, _, _) = model.closed().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let receipt: app::protocol::Receipt =
            reqwest::get(kept.url(&format!("/api/chat/{message_id}")))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        println!(
            "  generated after it left: {} tokens; the model's connection closed {:?} after it left",
            receipt.tokens_relayed.saturating_sub(read as u64),
            closed.saturating_duration_since(left)
        );
    }
}

/// Redis's count of commands processed and of scripts run (`EVALSHA`), from
/// `INFO` (itself one command). Redis counts the calls a script makes as
/// commands too.
async fn commands_processed(connection: &mut redis::aio::MultiplexedConnection) -> (u64, u64) {
    let info: String =
        redis::cmd("INFO").arg("stats").arg("commandstats").query_async(connection).await.unwrap();
    let total = info
        .lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .and_then(|count| count.trim().parse().ok())
        .expect("INFO stats has total_commands_processed");
    let scripts = info
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0);
    (total, scripts)
}
