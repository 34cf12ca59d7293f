//! The built-in demo model: an OpenAI-compatible streaming endpoint on its own
//! loopback listener.
//!
//! The server relays to it through the same `reqwest` path as to a real model
//! API, so the demo exercises the real cancellation path: when a browser stops
//! a reply, the demo model sees its connection close, stops writing, and
//! records after how many tokens it stopped.

mod generations;
pub mod script;

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use axum::{Json, Router};
use futures::StreamExt;
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use app::conversation::CONTINUE_PROMPT;

use crate::config::DemoConfig;
pub use generations::{Generation, GenerationGuard, Generations, Outcome};

/// The model name the demo reports.
pub const MODEL_NAME: &str = "reins-demo";

/// How much of a request's `x-request-id` the demo model records.
pub const MAX_REQUEST_ID_CHARS: usize = 100;

/// A running demo model.
#[derive(Clone, Debug)]
pub struct DemoModel {
    /// The base URL to relay to, like `http://127.0.0.1:PORT/v1`.
    pub base_url: Url,
    /// Its record of generations.
    pub generations: Generations,
}

/// Starts the demo model on a free loopback port. It runs until the process ends.
pub async fn spawn(config: DemoConfig) -> std::io::Result<DemoModel> {
    // Every chat on the hosted demo connects here: a burst of them must
    // not overflow the queue either.
    let listener = crate::connections::listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let addr = listener.local_addr()?;
    let generations = Generations::default();
    let router = router(config, generations.clone());
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
    });
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the demo model stopped serving");
        }
    });
    let base_url = format!("http://{addr}/v1").parse().expect("a socket address makes a valid URL");
    tracing::info!(%base_url, "demo model listening");
    Ok(DemoModel { base_url, generations })
}

#[derive(Clone)]
struct DemoState {
    config: DemoConfig,
    generations: Generations,
}

/// The demo model's routes, for [`spawn`] and for tests.
pub fn router(config: DemoConfig, generations: Generations) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(DemoState { config, generations })
}

#[derive(Deserialize)]
struct CompletionRequest {
    messages: Vec<RequestMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
struct RequestMessage {
    role: String,
    #[serde(default)]
    content: Value,
}

async fn completions(
    State(state): State<DemoState>,
    headers: axum::http::HeaderMap,
    request: Result<Json<CompletionRequest>, JsonRejection>,
) -> Response {
    let request_id = headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(|value| value.chars().take(MAX_REQUEST_ID_CHARS).collect());
    let request = match request {
        Ok(Json(request)) => request,
        Err(rejection) => return openai_error(rejection.status(), &rejection.body_text()),
    };
    if !request.stream {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "The demo model only streams: send \"stream\": true.",
        );
    }
    let limit =
        request.max_tokens.map_or(state.config.max_tokens, |n| n.min(state.config.max_tokens));
    let mut tokens = reply_to(&request.messages, limit as usize);
    let finish_reason = if tokens.len() > limit as usize {
        tokens.truncate(limit as usize);
        "length"
    } else {
        "stop"
    };
    let include_usage = request.stream_options.is_some_and(|options| options.include_usage);
    // The demo's "tokens" are words, so it counts the prompt's words too.
    let prompt_tokens: usize = request
        .messages
        .iter()
        .map(|message| script::tokenize(&text_of(&message.content)).len())
        .sum();
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let first_token_at = Instant::now() + state.config.first_token_delay();
    let interval = state.config.token_interval();
    let generations = state.generations;

    let stream = async_stream::stream! {
        let mut generation = generations.begin(id.clone(), request_id);
        yield chunk(&id, json!({"role": "assistant", "content": ""}), None);
        let completion_tokens = tokens.len();
        for (index, token) in tokens.into_iter().enumerate() {
            sleep_until(first_token_at + interval.mul_f64(index as f64)).await;
            yield chunk(&id, json!({"content": token}), None);
            generation.token_sent();
        }
        yield chunk(&id, json!({}), Some(finish_reason));
        if include_usage {
            yield usage_chunk(&id, prompt_tokens, completion_tokens);
        }
        generation.complete();
        yield Event::default().data("[DONE]");
    };
    Sse::new(stream.map(Ok::<_, Infallible>)).into_response()
}

/// The demo's reply to a conversation: its script for the last user message,
/// or, when asked to continue a stopped reply, the rest of that reply.
fn reply_to(messages: &[RequestMessage], max_tokens: usize) -> Vec<String> {
    let texts: Vec<(&str, String)> =
        messages.iter().map(|m| (m.role.as_str(), text_of(&m.content))).collect();
    if let [.., ("user", prompt), ("assistant", partial), ("user", last)] = texts.as_slice()
        && last == CONTINUE_PROMPT
        && let Some(rest) = script::continuation(prompt, partial, max_tokens)
    {
        return rest;
    }
    let prompt =
        texts.iter().rev().find(|(role, _)| *role == "user").map(|(_, text)| text.as_str());
    script::reply_tokens(prompt.unwrap_or_default(), max_tokens)
}

/// One `chat.completion.chunk` frame.
fn chunk(id: &str, delta: Value, finish_reason: Option<&str>) -> Event {
    let created = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    let body = json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL_NAME,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    });
    Event::default().data(body.to_string())
}

/// The closing chunk with the token counts, as OpenAI sends it when asked
/// with `stream_options.include_usage`: no choices, only usage.
fn usage_chunk(id: &str, prompt_tokens: usize, completion_tokens: usize) -> Event {
    let body = json!({
        "id": id,
        "object": "chat.completion.chunk",
        "model": MODEL_NAME,
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    });
    Event::default().data(body.to_string())
}

/// The text of a message's `content`: a string, or OpenAI's array of parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn openai_error(status: StatusCode, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": "invalid_request_error"}});
    (status, Json(body)).into_response()
}
