//! The built-in demo model, through the real relay: it streams its scripted
//! reply, honours its limits, and records how each generation ended.

mod support;

use std::time::Duration;

use reins::config::DemoConfig;
use reins::demo::{self, Outcome};
use support::{RawClient, Reins, chat_body, data_frames, part_types};

async fn start(demo_config: DemoConfig) -> (Reins, demo::Generations) {
    let tokens_per_second = demo_config.tokens_per_second.to_string();
    let max_tokens = demo_config.max_tokens.to_string();
    let delay = demo_config.first_token_delay_ms.to_string();
    let reins = Reins::with_args(&[
        "--demo-tokens-per-second",
        &tokens_per_second,
        "--demo-max-tokens",
        &max_tokens,
        "--demo-first-token-delay-ms",
        &delay,
    ])
    .await;
    let generations = reins.state.demo.clone().expect("the demo model runs without an upstream");
    (reins, generations)
}

fn fast() -> DemoConfig {
    DemoConfig { tokens_per_second: 5_000.0, max_tokens: 400, first_token_delay_ms: 0 }
}

fn text_of(frames: &[String]) -> String {
    frames
        .iter()
        .filter_map(|frame| serde_json::from_str::<serde_json::Value>(frame).ok())
        .filter(|part| part["type"] == "text-delta")
        .map(|part| part["delta"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_demo_reply_streams_whole_and_is_recorded_completed() {
    let (reins, generations) = start(fast()).await;
    let response = reins.post_chat(chat_body("What is backpressure?")).await;
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = response.text().await.unwrap();
    let frames = data_frames(&body);
    assert_eq!(text_of(&frames), demo::script::reply_text("What is backpressure?", 400));
    let message_id = frames[0].split('"').nth(7).unwrap().to_owned();
    assert!(message_id.starts_with("msg_") && message_id.len() == 36, "{message_id}");
    assert!(request_id.starts_with("req_") && request_id.len() == 36, "{request_id}");
    assert!(part_types(&frames).ends_with(&[
        "finish-step".into(),
        "finish".into(),
        "[DONE]".into()
    ]));
    assert!(body.contains(r#""finishReason":"stop""#));

    // The generation is closed a moment after `[DONE]` goes out.
    let mut record = serde_json::Value::Null;
    for _ in 0..100 {
        record = reqwest::get(reins.url(&format!("/api/demo/generations?request_id={request_id}")))
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        if record["outcome"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(record["outcome"], "completed");
    assert_eq!(record["request_id"], request_id.as_str());
    let tokens = demo::script::reply_tokens("What is backpressure?", 400).len();
    assert_eq!(record["tokens_sent"], tokens);
    assert!(record["ended_at_us"].as_u64() >= record["started_at_us"].as_u64());
    assert_eq!(generations.newest_first()[0].outcome, Outcome::Completed);

    // Nobody else's generation can be listed, nor found without its id.
    let list = reqwest::get(reins.url("/api/demo/generations")).await.unwrap();
    assert_eq!(list.status(), 400);
    let other = reqwest::get(reins.url("/api/demo/generations?request_id=req_0")).await.unwrap();
    assert_eq!(other.status(), 404);
    let by_message_id =
        reqwest::get(reins.url(&format!("/api/demo/generations?request_id={message_id}")))
            .await
            .unwrap();
    assert_eq!(by_message_id.status(), 404, "the model API never saw the stop capability");
}

#[tokio::test]
async fn the_demo_stops_at_its_token_limit() {
    let (reins, _) = start(DemoConfig { max_tokens: 5, ..fast() }).await;
    let body = reins.post_chat(chat_body("Hi")).await.text().await.unwrap();
    let frames = data_frames(&body);
    assert_eq!(text_of(&frames), demo::script::reply_tokens("Hi", 5)[..5].concat());
    assert!(body.contains(r#""finishReason":"length""#));
}

#[tokio::test]
async fn a_client_that_leaves_stops_the_demo_model_and_it_says_so() {
    let (reins, generations) =
        start(DemoConfig { tokens_per_second: 100.0, max_tokens: 400, first_token_delay_ms: 0 })
            .await;
    let mut client = RawClient::post_chat(reins.addr, &chat_body("Hi")).await;
    client.read_until("\"text-delta\"", 5).await;
    let left_at_us =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros()
            as u64;
    client.disconnect();

    let mut record = generations.newest_first()[0].clone();
    for _ in 0..100 {
        if record.outcome != Outcome::Running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        record = generations.newest_first()[0].clone();
    }
    assert_eq!(record.outcome, Outcome::ClientClosed);
    let stopped_after_us = record.ended_at_us.unwrap() - left_at_us;
    assert!(
        stopped_after_us < 100_000,
        "the demo model stopped {stopped_after_us} µs after the client left"
    );
    assert!(record.tokens_sent < 20, "it stopped early: {} tokens", record.tokens_sent);
}
