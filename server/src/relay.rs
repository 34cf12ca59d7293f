//! The upstream model API: how Reins asks it for a reply and reads the reply
//! back, whatever dialect it speaks.
//!
//! Each dialect (`openai`, `anthropic`) only builds its request body and turns
//! its SSE events into [`ModelEvent`]s; [`reply`] turns those into UI message
//! parts, and owns stopping and timeouts.

pub mod anthropic;
pub mod openai;
pub mod reply;

use std::time::Duration;

use app::sse::SseDecoder;
use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};

use app::protocol::{FinishReason, Role, Usage};

use crate::config::{Timeouts, UpstreamKind};
use crate::error::truncate;

/// The most of an upstream error body that is read to explain the error.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// How long to wait for an upstream error body before giving up on it.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// The most bytes the upstream may send without ending an event: the SSE
/// parser buffers an unfinished event whole, so a stream that never ends one
/// would otherwise grow without bound.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// The most bytes a reply sends of its text and reasoning, the parts that
/// carry them counted (`REINS_MAX_REPLY_BYTES`), unless configured
/// otherwise: about 167,000 deltas of four bytes each (a long reasoning
/// reply is tens of thousands), and at least four times the 2 MiB of text
/// the browser chat holds.
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 8 * 1024 * 1024;

/// One message of the conversation, as every dialect needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

/// One message as a request body carries it: borrowed from the
/// conversation, so that the body is written straight from it. Built as a
/// `serde_json::Value`, the body held a second copy of the whole
/// conversation, up to the request body limit, while it was written.
#[derive(Debug, serde::Serialize)]
struct WireMessage<'a> {
    role: Role,
    /// Owned only where a dialect joins messages.
    content: std::borrow::Cow<'a, str>,
}

impl<'a> WireMessage<'a> {
    fn borrowed(role: Role, content: &'a str) -> Self {
        Self { role, content: content.into() }
    }
}

/// What to ask the model for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRequest {
    pub messages: Vec<ChatMessage>,
    pub max_tokens: u32,
}

/// One thing the model said, in no dialect in particular.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelEvent {
    /// More of the answer.
    Text(String),
    /// More of the model's reasoning, shown apart from the answer.
    Reasoning(String),
    /// Token counts; a count given replaces the one before it.
    Usage(UsageReport),
    /// Why the model stopped.
    Finish(FinishReason),
    /// The reply is complete.
    Done,
}

/// Token counts as an upstream reports them: some send all at the end, some
/// the input first and the output later.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageReport {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
}

impl UsageReport {
    /// Adds what `later` reports, keeping what it leaves out.
    pub fn merge(&mut self, later: UsageReport) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
        self.reasoning_tokens = later.reasoning_tokens.or(self.reasoning_tokens);
    }

    /// The usage to show, if anything was reported.
    pub fn usage(self) -> Option<Usage> {
        if self.input_tokens.is_none() && self.output_tokens.is_none() {
            return None;
        }
        let input_tokens = self.input_tokens.unwrap_or(0);
        let output_tokens = self.output_tokens.unwrap_or(0);
        Some(Usage {
            input_tokens,
            output_tokens,
            total_tokens: input_tokens + output_tokens,
            reasoning_tokens: self.reasoning_tokens,
        })
    }
}

/// Why a relayed reply failed. The text is what the client is shown.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// The API's origin: a URL's credentials never reach the log.
    #[error("Could not connect to the model API at {0}.")]
    Unreachable(String),
    #[error("The model API did not connect within {0:?}.")]
    ConnectTimeout(Duration),
    #[error("The model API did not answer within {0:?}.")]
    FirstByteTimeout(Duration),
    #[error("The model API went silent for {0:?} in the middle of the reply.")]
    IdleTimeout(Duration),
    #[error("The reply took longer than the {0:?} allowed for one reply.")]
    TotalTimeout(Duration),
    #[error("The model API answered {status}: {message}")]
    Status { status: StatusCode, message: String },
    #[error("The model API reported an error: {0}")]
    Reported(String),
    #[error("The model API closed the connection before the reply was complete.")]
    Interrupted,
    #[error("The model API sent a reply Reins could not read.")]
    Malformed,
    #[error("The model API sent one event larger than {} KiB; Reins stopped reading.", MAX_EVENT_BYTES / 1024)]
    EventTooLarge,
    #[error("The reply passed {}, the most this server relays, and was cut off there.", size_text(*.0))]
    ReplyTooLong(u64),
    #[error("The model API answered with {kind}, not an event stream: {message}")]
    NotEventStream { kind: String, message: String },
}

/// A size as people read it: in MiB or KiB when it is a whole number of
/// them.
fn size_text(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    match bytes {
        0 => "0 bytes".into(),
        _ if bytes.is_multiple_of(MIB) => format!("{} MiB", bytes / MIB),
        _ if bytes.is_multiple_of(KIB) => format!("{} KiB", bytes / KIB),
        1 => "1 byte".into(),
        _ => format!("{bytes} bytes"),
    }
}

impl RelayError {
    /// What the client is told: what kind of failure it was, without the
    /// model API's own words or its address, which go to the log only (they
    /// can carry account details, internal host names, or text a hostile
    /// upstream wants shown).
    pub fn client_text(&self) -> String {
        match self {
            Self::Unreachable(_) => "Could not connect to the model API.".into(),
            Self::Status { status, .. } if status.as_u16() == 429 => {
                "The model API is refusing requests for now (HTTP 429, rate limited); try again shortly.".into()
            }
            Self::Status { status, .. } if status.is_server_error() => {
                format!("The model API failed (HTTP {}).", status.as_u16())
            }
            Self::Status { status, .. } => {
                format!("The model API refused the request (HTTP {}).", status.as_u16())
            }
            Self::Reported(_) => "The model API reported an error in the middle of the reply.".into(),
            Self::NotEventStream { kind, .. } if kind == "JSON" => {
                "The model API answered with JSON, not an event stream.".into()
            }
            Self::NotEventStream { .. } => {
                "The model API answered with something other than an event stream.".into()
            }
            other => other.to_string(),
        }
    }

    /// Whether this error is a timeout (for metrics).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::ConnectTimeout(_)
                | Self::FirstByteTimeout(_)
                | Self::IdleTimeout(_)
                | Self::TotalTimeout(_)
        )
    }
}

/// A model API to relay replies from.
pub struct Upstream {
    client: reqwest::Client,
    kind: UpstreamKind,
    url: Url,
    /// The header carrying the API key, built once and marked sensitive:
    /// HTTP/2's header compression never indexes it, and `Debug` prints
    /// `Sensitive`.
    key_header: Option<(HeaderName, HeaderValue)>,
    model: String,
    system_prompt: Option<String>,
    anthropic_version: String,
    timeouts: Timeouts,
    max_reply_bytes: u64,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("kind", &self.kind)
            .field("url", &loggable_url(&self.url))
            .field("key_header", &self.key_header)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// How to reach an upstream; see [`Upstream::new`].
#[derive(Clone, Debug)]
pub struct UpstreamSettings {
    pub kind: UpstreamKind,
    /// The API's base URL, such as `https://api.openai.com/v1`.
    pub base_url: Url,
    pub api_key: Option<SecretString>,
    pub model: String,
    pub system_prompt: Option<String>,
    pub anthropic_version: String,
    pub timeouts: Timeouts,
    /// The most bytes one reply sends of its text and reasoning.
    pub max_reply_bytes: u64,
}

impl UpstreamSettings {
    /// Settings for an OpenAI-compatible API at `base_url` with defaults for the rest.
    pub fn openai(base_url: Url, model: impl Into<String>) -> Self {
        Self {
            kind: UpstreamKind::Openai,
            base_url,
            api_key: None,
            model: model.into(),
            system_prompt: None,
            anthropic_version: "2023-06-01".into(),
            timeouts: Timeouts::default(),
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
        }
    }
}

impl Upstream {
    /// An upstream with these settings.
    pub fn new(settings: UpstreamSettings) -> Self {
        let mut base = settings.base_url;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let endpoint = match settings.kind {
            UpstreamKind::Openai => "chat/completions",
            UpstreamKind::Anthropic => "messages",
        };
        let url = base.join(endpoint).expect("a relative path always joins");
        let client = reqwest::Client::builder()
            .user_agent(concat!("reins/", env!("CARGO_PKG_VERSION")))
            // No whole-request timeout: it would also cut off a long, healthy
            // stream. The first-byte, idle and total limits are applied by
            // the relay instead, each with its own message.
            .connect_timeout(settings.timeouts.connect.duration())
            .build()
            .expect("the TLS backend and settings are valid");
        Self {
            client,
            kind: settings.kind,
            url,
            key_header: settings.api_key.as_ref().and_then(|key| key_header(settings.kind, key)),
            model: settings.model,
            system_prompt: settings.system_prompt,
            anthropic_version: settings.anthropic_version,
            timeouts: settings.timeouts,
            max_reply_bytes: settings.max_reply_bytes,
        }
    }

    /// Where replies are requested.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The limits applied to this upstream.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The most bytes one reply sends of its text and reasoning.
    pub fn max_reply_bytes(&self) -> u64 {
        self.max_reply_bytes
    }

    /// Sends the streaming request and waits for a successful response head.
    ///
    /// `request_id` (the reply's message id) goes along as `x-request-id`, so
    /// the upstream's logs (and the demo model's record) can be matched with
    /// Reins' own.
    ///
    /// The conversation is taken, not borrowed: once it is written into the
    /// request body it is dropped, so an open stream does not hold it (up to
    /// the request body limit) for as long as the model writes.
    pub async fn send(
        &self,
        request: ModelRequest,
        request_id: &str,
    ) -> Result<reqwest::Response, RelayError> {
        let system = self.system_prompt.as_deref();
        let mut builder = self.client.post(self.url.clone()).header("x-request-id", request_id);
        builder = match self.kind {
            UpstreamKind::Openai => {
                builder.json(&openai::request_body(&self.model, system, &request))
            }
            UpstreamKind::Anthropic => builder
                .json(&anthropic::request_body(&self.model, system, &request))
                .header("anthropic-version", &self.anthropic_version),
        };
        drop(request);
        if let Some((name, value)) = &self.key_header {
            builder = builder.header(name, value.clone());
        }
        let response = builder.send().await.map_err(|error| {
            tracing::warn!(error = %error_chain(&error), "upstream request failed");
            if error.is_timeout() {
                RelayError::ConnectTimeout(self.timeouts.connect.duration())
            } else {
                RelayError::Unreachable(self.url.origin().ascii_serialization())
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = read_error_body(response).await;
        tracing::warn!(%status, body = truncate(&body, 1000), "upstream refused the request");
        let message =
            error_message(&body).unwrap_or_else(|| "no explanation was given.".to_owned());
        Err(RelayError::Status { status, message })
    }

    /// The reply in `response` as model events: one batch for each piece of
    /// the body that arrives, empty when the piece held no event (a
    /// keep-alive comment, half an event), so that the caller's idle timeout
    /// counts every byte from the model API. Ends at the first error.
    ///
    /// The body is read with the browser's SSE decoder ([`app::sse`]), one
    /// parser for the format on both sides, whose cap on one event's size
    /// stops a model API that never ends an event.
    pub fn events(
        &self,
        response: reqwest::Response,
    ) -> BoxStream<'static, Result<Vec<ModelEvent>, RelayError>> {
        if let Some(kind) = not_an_event_stream(response.headers()) {
            return futures::stream::once(async move {
                let body = read_error_body(response).await;
                tracing::warn!(
                    content_type = kind,
                    body = truncate(&body, 1000),
                    "upstream answered without an event stream"
                );
                let message = error_message(&body).unwrap_or_else(|| truncate(body.trim(), 300));
                Err(RelayError::NotEventStream { kind, message })
            })
            .boxed();
        }
        let kind = self.kind;
        let mut decoder = SseDecoder::with_limit(MAX_EVENT_BYTES);
        response
            .bytes_stream()
            .flat_map(move |chunk| {
                // The events read before a failure in the same piece of the
                // body are relayed before the failure is: nothing is lost.
                let (events, failure) = match chunk {
                    Ok(chunk) => read_events(&mut decoder, kind, &chunk),
                    Err(error) => {
                        tracing::warn!(error = %error_chain(&error), "upstream stream failed");
                        (Vec::new(), Some(RelayError::Interrupted))
                    }
                };
                futures::stream::iter(std::iter::once(Ok(events)).chain(failure.map(Err)))
            })
            .boxed()
    }
}

/// The model events in one piece of the body, and the failure that ended
/// them, if one did.
fn read_events(
    decoder: &mut SseDecoder,
    kind: UpstreamKind,
    chunk: &[u8],
) -> (Vec<ModelEvent>, Option<RelayError>) {
    let mut sse = Vec::new();
    let mut failure = decoder.feed_into(chunk, &mut sse).err().map(|_| RelayError::EventTooLarge);
    let mut events = Vec::new();
    for event in sse {
        let parsed = match kind {
            UpstreamKind::Openai => openai::parse(&event.data),
            UpstreamKind::Anthropic => anthropic::parse(&event.event, &event.data),
        };
        match parsed {
            Ok(parsed) => events.extend(parsed),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    (events, failure)
}

/// The header that carries `key` for this kind of API (`Authorization:
/// Bearer` or Anthropic's `x-api-key`), marked sensitive; `None` for a key
/// that cannot be a header, which start-up refuses before this is called.
fn key_header(kind: UpstreamKind, key: &SecretString) -> Option<(HeaderName, HeaderValue)> {
    let (name, text) = match kind {
        UpstreamKind::Openai => (AUTHORIZATION, format!("Bearer {}", key.expose_secret())),
        UpstreamKind::Anthropic => {
            (HeaderName::from_static("x-api-key"), key.expose_secret().to_owned())
        }
    };
    let mut value = HeaderValue::from_str(&text).ok()?;
    value.set_sensitive(true);
    Some((name, value))
}

/// A URL as it may be logged: without user name or password.
pub fn loggable_url(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// What a successful answer is instead of an event stream ("JSON", or its
/// content type), if its content type says so. An answer that names no
/// content type is read as a stream.
fn not_an_event_stream(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let content_type = headers.get(reqwest::header::CONTENT_TYPE)?;
    let essence = content_type.to_str().ok()?.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "text/event-stream" => None,
        "application/json" => Some("JSON".to_owned()),
        _ => Some(truncate(&essence, 100)),
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

/// The message inside an upstream error body, for the formats in use:
/// `{"error": {"message": ...}}` (OpenAI, Anthropic, vLLM), `{"error": "..."}`
/// (Ollama) and `{"message": ...}`.
pub fn error_message(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let message = value
        .pointer("/error/message")
        .or_else(|| value.get("error").filter(|error| error.is_string()))
        .or_else(|| value.get("message"))?
        .as_str()?
        .trim();
    (!message.is_empty()).then(|| truncate(message, 300))
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
    fn a_reply_cut_for_its_size_says_the_size_as_people_read_it() {
        let said = |bytes| RelayError::ReplyTooLong(bytes).client_text();
        assert_eq!(
            said(DEFAULT_MAX_REPLY_BYTES),
            "The reply passed 8 MiB, the most this server relays, and was cut off there."
        );
        assert!(said(64 * 1024).contains(" 64 KiB,"));
        assert!(said(1500).contains(" 1500 bytes,"));
        assert!(said(1).contains(" 1 byte,"));
    }

    fn url_for(kind: UpstreamKind, base: &str) -> String {
        let settings =
            UpstreamSettings { kind, ..UpstreamSettings::openai(base.parse().unwrap(), "m") };
        Upstream::new(settings).url().to_string()
    }

    #[test]
    fn the_endpoint_keeps_the_base_path() {
        let openai = UpstreamKind::Openai;
        assert_eq!(
            url_for(openai, "http://127.0.0.1:11434/v1"),
            "http://127.0.0.1:11434/v1/chat/completions"
        );
        assert_eq!(
            url_for(openai, "https://api.openai.com/v1/"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            url_for(openai, "http://localhost:8000"),
            "http://localhost:8000/chat/completions"
        );
        assert_eq!(
            url_for(UpstreamKind::Anthropic, "https://api.anthropic.com/v1"),
            "https://api.anthropic.com/v1/messages"
        );
    }

    #[test]
    fn reads_the_error_formats_in_use() {
        let openai =
            r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error"}}"#;
        assert_eq!(error_message(openai).as_deref(), Some("Incorrect API key provided."));
        let anthropic =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(error_message(anthropic).as_deref(), Some("Overloaded"));
        assert_eq!(
            error_message(r#"{"error":"model 'x' not found"}"#).as_deref(),
            Some("model 'x' not found")
        );
        assert_eq!(
            error_message(r#"{"message":"Too many requests"}"#).as_deref(),
            Some("Too many requests")
        );
        assert_eq!(error_message("<html>Bad gateway</html>"), None);
        assert_eq!(error_message(r#"{"error":{"message":"  "}}"#), None);
    }

    #[test]
    fn long_error_messages_are_cut() {
        let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "é".repeat(1000));
        let message = error_message(&long).unwrap();
        assert_eq!(message.chars().count(), 301);
        assert!(message.ends_with('…'));
    }
}
