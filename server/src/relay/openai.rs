//! The OpenAI Chat Completions wire format: the request Reins sends and the
//! streamed chunks and error bodies it reads back.

use serde::{Deserialize, Serialize};

use app::protocol::Role;

/// One message as the upstream expects it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

/// The body of `POST /chat/completions`.
#[derive(Debug, Serialize)]
pub struct CompletionRequest<'a> {
    pub model: &'a str,
    pub messages: &'a [ChatMessage],
    pub stream: bool,
}

/// One `data:` chunk of a streamed completion.
#[derive(Debug, Default, Deserialize)]
pub struct CompletionChunk {
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// Some servers report a failure mid-stream as a chunk with an error.
    #[serde(default)]
    pub error: Option<UpstreamError>,
}

/// One choice of a chunk; Reins asks for one and reads the first.
#[derive(Debug, Default, Deserialize)]
pub struct Choice {
    #[serde(default)]
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The new text of a chunk.
#[derive(Debug, Default, Deserialize)]
pub struct Delta {
    #[serde(default)]
    pub content: Option<String>,
}

/// An error as OpenAI-compatible servers describe it.
#[derive(Debug, Default, Deserialize)]
pub struct UpstreamError {
    #[serde(default)]
    pub message: Option<String>,
}

/// The message inside an upstream error body, for the formats in use:
/// `{"error": {"message": ...}}` (OpenAI, vLLM), `{"error": "..."}` (Ollama)
/// and `{"message": ...}`.
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

/// Cuts `text` to at most `max` characters, marking the cut.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_error_formats_in_use() {
        let openai =
            r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error"}}"#;
        assert_eq!(
            error_message(openai).as_deref(),
            Some("Incorrect API key provided.")
        );
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

    #[test]
    fn chunks_parse_with_missing_fields() {
        let chunk: CompletionChunk = serde_json::from_str(
            r#"{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}"#,
        )
        .unwrap();
        assert_eq!(chunk.choices[0].delta.content, None);
        let usage_only: CompletionChunk =
            serde_json::from_str(r#"{"choices":[],"usage":{"total_tokens":3}}"#).unwrap();
        assert!(usage_only.choices.is_empty());
    }
}
