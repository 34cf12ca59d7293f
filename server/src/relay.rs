//! Relays a reply from the upstream model API to the client as UI message
//! stream parts.
//!
//! Cancellation is by ownership: the upstream request, and later its response
//! body, live inside the stream that the chat handler returns. When the client
//! disconnects, axum drops that stream, which drops the `reqwest` future or
//! response, which closes the upstream connection: the model sees its client
//! go and stops generating. Nothing is spawned, so nothing can outlive the
//! client and keep reading from the upstream.

pub mod openai;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use reqwest::{StatusCode, Url};

use app::protocol::{DONE_MARKER, FinishReason, UiMessageChunk};
use openai::{ChatMessage, CompletionChunk, CompletionRequest};

/// The id of the one text block of a relayed reply.
const TEXT_ID: &str = "text-1";

/// The most of an upstream error body that is read to explain the error.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// How long to wait for an upstream error body before giving up on it.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// An OpenAI-compatible Chat Completions API.
#[derive(Debug)]
pub struct Upstream {
    client: reqwest::Client,
    completions_url: Url,
    api_key: Option<String>,
    model: String,
}

/// Why a relayed reply failed. The text is what the client is shown.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("Could not connect to the model API at {0}.")]
    Unreachable(String),
    #[error("The model API answered {status}: {message}")]
    Status { status: StatusCode, message: String },
    #[error("The model API reported an error: {0}")]
    Reported(String),
    #[error("The model API closed the connection before the reply was complete.")]
    Interrupted,
    #[error("The model API sent a reply Reins could not read.")]
    Malformed,
}

impl Upstream {
    /// An upstream at `base_url`, which `chat/completions` is appended to.
    pub fn new(base_url: &Url, api_key: Option<String>, model: String) -> Self {
        let mut base = base_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let completions_url = base
            .join("chat/completions")
            .expect("a relative path always joins");
        let client = reqwest::Client::builder()
            .user_agent(concat!("reins/", env!("CARGO_PKG_VERSION")))
            // Only connecting gets a deadline here: a whole-request timeout
            // would also cut off a long, healthy stream.
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("the TLS backend and settings are valid");
        Self {
            client,
            completions_url,
            api_key,
            model,
        }
    }

    /// Where replies are requested.
    pub fn completions_url(&self) -> &Url {
        &self.completions_url
    }

    /// Sends the streaming request and waits for a successful response head.
    async fn send(&self, messages: &[ChatMessage]) -> Result<reqwest::Response, RelayError> {
        let body = CompletionRequest {
            model: &self.model,
            messages,
            stream: true,
        };
        let mut request = self.client.post(self.completions_url.clone()).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|error| {
            tracing::warn!(error = %error_chain(&error), "upstream request failed");
            RelayError::Unreachable(self.completions_url.origin().ascii_serialization())
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = read_error_body(response).await;
        tracing::warn!(%status, body, "upstream refused the request");
        let message =
            openai::error_message(&body).unwrap_or_else(|| "no explanation was given.".to_owned());
        Err(RelayError::Status { status, message })
    }
}

/// The reply to `messages` as UI message parts, from `start` to `finish` (or
/// `error`). The `start` part comes at once, before the upstream is asked, so
/// the client has the message id while the model is still thinking.
pub fn relay(
    upstream: Arc<Upstream>,
    messages: Vec<ChatMessage>,
    message_id: String,
) -> impl Stream<Item = UiMessageChunk> + Send {
    async_stream::stream! {
        let started = Instant::now();
        yield UiMessageChunk::Start { message_id: Some(message_id) };

        let response = match upstream.send(&messages).await {
            Ok(response) => response,
            Err(error) => {
                yield UiMessageChunk::Error { error_text: error.to_string() };
                return;
            }
        };
        tracing::debug!(first_byte_ms = started.elapsed().as_millis(), "upstream answered");
        yield UiMessageChunk::StartStep;

        let mut events = response.bytes_stream().eventsource();
        let mut text_open = false;
        let mut finish_reason = None;
        let failure = loop {
            let event = match events.next().await {
                Some(Ok(event)) => event,
                Some(Err(error)) => {
                    tracing::warn!(%error, "upstream stream failed");
                    break Some(RelayError::Interrupted);
                }
                // Some servers end without `[DONE]`; a finish reason is enough.
                None if finish_reason.is_some() => break None,
                None => break Some(RelayError::Interrupted),
            };
            if event.data == DONE_MARKER {
                break None;
            }
            let chunk: CompletionChunk = match serde_json::from_str(&event.data) {
                Ok(chunk) => chunk,
                Err(error) => {
                    tracing::warn!(%error, data = event.data, "unreadable upstream chunk");
                    break Some(RelayError::Malformed);
                }
            };
            if let Some(error) = chunk.error {
                let message = error.message.unwrap_or_else(|| "no explanation was given.".into());
                break Some(RelayError::Reported(message));
            }
            let Some(choice) = chunk.choices.into_iter().next() else { continue };
            if let Some(delta) = choice.delta.content.filter(|delta| !delta.is_empty()) {
                if !text_open {
                    text_open = true;
                    yield UiMessageChunk::TextStart { id: TEXT_ID.into() };
                }
                yield UiMessageChunk::TextDelta { id: TEXT_ID.into(), delta };
            }
            if let Some(reason) = choice.finish_reason {
                finish_reason = Some(FinishReason::from_openai(&reason));
            }
        };
        // The connection is no longer needed: release it before the last parts.
        drop(events);

        // Close the text block either way, so a partial reply stays a
        // well-formed part of the message.
        if text_open {
            yield UiMessageChunk::TextEnd { id: TEXT_ID.into() };
        }
        match failure {
            Some(error) => yield UiMessageChunk::Error { error_text: error.to_string() },
            None => {
                yield UiMessageChunk::FinishStep;
                yield UiMessageChunk::Finish { finish_reason };
            }
        }
    }
}

/// Reads at most [`MAX_ERROR_BODY_BYTES`] of an error response, giving up
/// after [`ERROR_BODY_TIMEOUT`].
async fn read_error_body(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() >= MAX_ERROR_BODY_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(ERROR_BODY_TIMEOUT, read).await;
    body.truncate(MAX_ERROR_BODY_BYTES);
    String::from_utf8_lossy(&body).into_owned()
}

/// An error and all its causes on one line, for the log.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_url_keeps_the_base_path() {
        let url = |base: &str| {
            Upstream::new(&base.parse().unwrap(), None, "m".into())
                .completions_url()
                .to_string()
        };
        assert_eq!(
            url("http://127.0.0.1:11434/v1"),
            "http://127.0.0.1:11434/v1/chat/completions"
        );
        assert_eq!(
            url("https://api.openai.com/v1/"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            url("http://localhost:8000"),
            "http://localhost:8000/chat/completions"
        );
    }
}
