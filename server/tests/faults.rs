//! Every upstream fault ends the reply in the documented way, nothing hangs
//! past its limit, and the upstream connection is always closed.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{
    FakeUpstream, RawClient, Reins, Step, chat_body, data_frames, paced_reply, part_types,
};
use tokio::time::Instant;

/// Relays one reply from an upstream following `script`, with `args` added to
/// the configuration; returns the frames, how long the reply took, and the
/// upstream's record of the close.
async fn relay(script: Vec<Step>, args: &[&str]) -> (Vec<String>, Duration, bool) {
    let mut upstream = FakeUpstream::start(script).await;
    let url = upstream.base_url().to_string();
    let mut all = vec!["--upstream-url", url.as_str(), "--model", "m"];
    all.extend_from_slice(args);
    let reins = Reins::with_args(&all).await;
    let started = Instant::now();
    let mut client = RawClient::post_chat(reins.addr, &chat_body("Hi")).await;
    let body = client.read_to_end().await;
    let took = started.elapsed();
    upstream.request().await;
    let (_, _, script_finished) = upstream.closed().await;
    (data_frames(&dechunk(&body)), took, script_finished)
}

/// The body of a chunked HTTP/1.1 response, without its head and framing.
fn dechunk(response: &str) -> String {
    let mut body = String::new();
    let mut rest = &response[response.find("\r\n\r\n").unwrap() + 4..];
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    body
}

fn error_text(frames: &[String]) -> String {
    frames
        .iter()
        .filter_map(|frame| serde_json::from_str::<Value>(frame).ok())
        .find(|part| part["type"] == "error")
        .map(|part| part["errorText"].as_str().unwrap().to_owned())
        .expect("an error part")
}

#[tokio::test]
async fn an_upstream_that_never_answers_times_out_on_the_first_byte() {
    let (frames, took, finished) = relay(
        vec![Step::Wait(Duration::from_secs(30)), Step::Head],
        &["--first-byte-timeout-ms", "200"],
    )
    .await;
    assert_eq!(part_types(&frames), ["start", "error", "[DONE]"]);
    assert_eq!(error_text(&frames), "The model API did not answer within 200ms.");
    assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(2), "{took:?}");
    assert!(!finished, "the upstream connection was closed");
}

#[tokio::test]
async fn an_upstream_that_stalls_mid_stream_times_out_and_keeps_the_partial_text() {
    let (frames, took, finished) = relay(
        vec![
            Step::Head,
            Step::Token("Half"),
            Step::Wait(Duration::from_secs(30)),
            Step::Token("never"),
        ],
        &["--idle-timeout-ms", "200"],
    )
    .await;
    assert_eq!(
        part_types(&frames),
        ["start", "start-step", "text-start", "text-delta", "text-end", "error", "[DONE]"]
    );
    assert!(frames[3].contains("Half"));
    assert_eq!(
        error_text(&frames),
        "The model API went silent for 200ms in the middle of the reply."
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(!finished);
}

#[tokio::test]
async fn a_reply_longer_than_the_total_limit_is_cut() {
    let (frames, took, finished) = relay(
        paced_reply(100, Duration::from_millis(20)),
        &["--total-timeout-ms", "300", "--idle-timeout-ms", "1000"],
    )
    .await;
    assert_eq!(error_text(&frames), "The reply took longer than the 300ms allowed for one reply.");
    assert!(part_types(&frames).contains(&"text-delta".to_owned()));
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(!finished);
}

#[tokio::test]
async fn a_reply_longer_than_its_bytes_is_cut_and_the_model_dropped() {
    // 6, 7 and 8 bytes of text, each in a part of 46 bytes more: the third
    // passes 154, and only its first `é` fits.
    let script = vec![
        Step::Head,
        Step::Token("Hello "),
        Step::Token("wörld "),
        Step::Token("éééé"),
        Step::Wait(Duration::from_secs(30)),
        Step::Token("never"),
        Step::Finish("stop"),
    ];
    let (frames, took, finished) = relay(script, &["--max-reply-bytes", "154"]).await;
    let text: String = frames
        .iter()
        .filter_map(|frame| serde_json::from_str::<Value>(frame).ok())
        .filter(|part| part["type"] == "text-delta")
        .map(|part| part["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "Hello wörld é");
    assert_eq!(
        &part_types(&frames)[frames.len() - 3..],
        ["text-end", "error", "[DONE]"],
        "the text is closed, then the reply ends"
    );
    assert_eq!(
        error_text(&frames),
        "The reply passed 154 bytes, the most this server relays, and was cut off there."
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(!finished, "the upstream connection was closed");
}

/// The upstream's own words go to the log only: an error body can carry
/// account details, internal names, or text a hostile upstream wants shown.
#[tokio::test]
async fn rate_limits_and_auth_errors_are_explained_without_the_upstreams_words() {
    let (frames, _, _) = relay(
        vec![Step::Fail(
            429,
            r#"{"error":{"message":"Rate limit reached for requests","type":"requests"}}"#,
        )],
        &[],
    )
    .await;
    assert_eq!(
        error_text(&frames),
        "The model API is refusing requests for now (HTTP 429, rate limited); try again shortly."
    );
    let (frames, _, _) = relay(
        vec![Step::Fail(401, r#"{"error":{"message":"Invalid API key sk-abc for org-secret"}}"#)],
        &[],
    )
    .await;
    assert_eq!(error_text(&frames), "The model API refused the request (HTTP 401).");
}

#[tokio::test]
async fn an_event_that_never_ends_is_refused_instead_of_buffered() {
    let huge = Box::leak(format!("data: {}", "x".repeat(2 * 1024 * 1024)).into_boxed_str());
    let (frames, _, finished) =
        relay(vec![Step::Head, Step::Token("Some"), Step::Raw(huge)], &[]).await;
    assert_eq!(
        error_text(&frames),
        "The model API sent one event larger than 1024 KiB; Reins stopped reading."
    );
    assert!(!finished);
}

#[tokio::test]
async fn a_slow_client_still_gets_every_token() {
    // 2000 tokens of 100 bytes as fast as the upstream can write them, to a
    // client that reads nothing for a second: backpressure, not loss.
    let token: &'static str = Box::leak("y".repeat(100).into_boxed_str());
    let mut script = vec![Step::Head];
    script.extend(std::iter::repeat_n(Step::Token(token), 2000));
    script.push(Step::Finish("stop"));
    let mut upstream = FakeUpstream::start(script).await;
    let reins = Reins::start(upstream.base_url(), None).await;
    let mut client = RawClient::post_chat(reins.addr, &chat_body("Hi")).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let body = dechunk(&client.read_to_end().await);
    let frames = data_frames(&body);
    let deltas = part_types(&frames).iter().filter(|t| *t == "text-delta").count();
    assert_eq!(deltas, 2000);
    assert!(part_types(&frames).ends_with(&["finish".into(), "[DONE]".into()]));
    upstream.request().await;
    upstream.closed().await;
}

#[tokio::test]
async fn an_upstream_that_never_accepts_times_out_on_connect() {
    // A listener that never accepts, with its queue filled: the kernel stops
    // answering the handshake, so the next connection attempt hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(Duration::from_millis(100), tokio::net::TcpStream::connect(addr))
            .await
        {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    let url = format!("http://{addr}/v1");
    let reins =
        Reins::with_args(&["--upstream-url", &url, "--model", "m", "--connect-timeout-ms", "300"])
            .await;
    let started = Instant::now();
    let mut client = RawClient::post_chat(reins.addr, &chat_body("Hi")).await;
    let frames = data_frames(&dechunk(&client.read_to_end().await));
    assert_eq!(part_types(&frames), ["start", "error", "[DONE]"]);
    assert_eq!(error_text(&frames), "The model API did not connect within 300ms.");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    drop(listener);
}

#[tokio::test]
async fn keep_alive_comments_count_as_the_model_api_speaking() {
    // A model that thinks for longer than the idle timeout, but says so with
    // a comment every 100 ms, is not silent.
    let mut script = vec![Step::Head, Step::Token("Thinking")];
    for _ in 0..6 {
        script.push(Step::Wait(Duration::from_millis(100)));
        script.push(Step::Raw(": keep-alive\n\n"));
    }
    script.extend([Step::Token(" done"), Step::Finish("stop")]);
    let (frames, took, _) = relay(script, &["--idle-timeout-ms", "250"]).await;
    assert!(!part_types(&frames).contains(&"error".to_owned()), "{frames:?}");
    assert!(part_types(&frames).ends_with(&["finish".to_owned(), "[DONE]".to_owned()]));
    let text: String = frames
        .iter()
        .filter_map(|frame| serde_json::from_str::<Value>(frame).ok())
        .filter_map(|part| part["delta"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "Thinking done");
    assert!(took >= Duration::from_millis(600), "the whole reply was waited for: {took:?}");
}

#[tokio::test]
async fn a_json_answer_instead_of_a_stream_is_reported_as_such() {
    let (frames, _, _) = relay(
        vec![Step::Raw(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 44\r\n\
             connection: close\r\n\r\n{\"error\": {\"message\": \"streaming disabled\"}}",
        )],
        &[],
    )
    .await;
    assert_eq!(part_types(&frames), ["start", "start-step", "error", "[DONE]"]);
    assert_eq!(error_text(&frames), "The model API answered with JSON, not an event stream.");
}
