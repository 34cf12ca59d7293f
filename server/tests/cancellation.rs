//! When the client disconnects, the upstream request is dropped at once: the
//! upstream sees its TCP connection close and stops writing. Checked at the
//! three points a disconnect can fall.

mod support;

use std::time::Duration;

use support::{FakeUpstream, RawClient, Reins, Step, chat_body, paced_reply};
use tokio::time::Instant;

/// How soon after the client's close the upstream must see its own close.
const BUDGET: Duration = Duration::from_millis(100);

/// A long reply at 100 tokens per second.
fn long_reply() -> Vec<Step> {
    paced_reply(200, Duration::from_millis(10))
}

/// Waits for the upstream to see its connection close, checks that it did so
/// within [`BUDGET`] of the client's disconnect and before its script ran to
/// the end, and returns how many writes it made.
async fn assert_closed_soon_after(upstream: &mut FakeUpstream, disconnected: Instant) -> usize {
    let (closed, writes, finished) = upstream.closed().await;
    assert!(!finished, "the upstream ran its whole script: nothing was dropped");
    assert!(
        closed - disconnected < BUDGET,
        "upstream closed {:?} after the client",
        closed - disconnected
    );
    writes
}

#[tokio::test]
async fn dropping_the_client_mid_stream_closes_the_upstream() {
    let mut upstream = FakeUpstream::start(long_reply()).await;
    let reins = Reins::start(upstream.base_url(), None).await;

    let mut client = RawClient::post_chat(reins.addr, &chat_body("Hi")).await;
    upstream.request().await;
    client.read_until("\"text-delta\"", 3).await;
    let disconnected = client.disconnect();

    let writes = assert_closed_soon_after(&mut upstream, disconnected).await;
    // Head + a handful of tokens; the other ~190 were never written.
    assert!(writes < 20, "the upstream kept writing: {writes} writes");
}

#[tokio::test]
async fn dropping_the_client_while_the_model_thinks_closes_the_upstream() {
    // Headers sent, then a long silence before the first token.
    let mut upstream = FakeUpstream::start(vec![
        Step::Head,
        Step::Wait(Duration::from_secs(30)),
        Step::Token("late"),
    ])
    .await;
    let reins = Reins::start(upstream.base_url(), None).await;

    let mut client = RawClient::post_chat(reins.addr, &chat_body("Hi")).await;
    upstream.request().await;
    client.read_until("\"start-step\"", 1).await; // the relay has the upstream's head
    let disconnected = client.disconnect();

    let writes = assert_closed_soon_after(&mut upstream, disconnected).await;
    assert_eq!(writes, 1, "only the head was written");
}

#[tokio::test]
async fn dropping_the_client_before_the_upstream_answers_closes_the_upstream() {
    // The upstream reads the request and sends nothing, not even a head.
    let mut upstream =
        FakeUpstream::start(vec![Step::Wait(Duration::from_secs(30)), Step::Head]).await;
    let reins = Reins::start(upstream.base_url(), None).await;

    let mut client = RawClient::post_chat(reins.addr, &chat_body("Hi")).await;
    // The `start` part arrives before the upstream has answered at all.
    client.read_until("\"start\"", 1).await;
    upstream.request().await;
    let disconnected = client.disconnect();

    let writes = assert_closed_soon_after(&mut upstream, disconnected).await;
    assert_eq!(writes, 0);
}

#[tokio::test]
async fn a_client_that_stays_gets_the_whole_reply_and_the_upstream_is_released() {
    let mut upstream =
        FakeUpstream::start(vec![Step::Head, Step::Token("a"), Step::Finish("stop")]).await;
    let reins = Reins::start(upstream.base_url(), None).await;
    let mut client = RawClient::post_chat(reins.addr, &chat_body("Hi")).await;
    upstream.request().await;
    client.read_until("[DONE]", 1).await;
    // Reins hangs up on the upstream once it has the whole reply, while the
    // client is still connected: the connection is not held open for nothing.
    let (_, writes, finished) = upstream.closed().await;
    assert!(!finished, "the upstream had to see Reins close the connection");
    assert_eq!(writes, 3);
}
