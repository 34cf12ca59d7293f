//! The OpenAI Chat Completions dialect, as spoken by OpenAI, Ollama, vLLM,
//! llama.cpp, DeepSeek and others.

use serde::{Deserialize, Serialize};

use app::protocol::{FinishReason, Role};

use super::{ModelEvent, ModelRequest, RelayError, UsageReport, WireMessage};

/// The body of `POST /chat/completions`.
#[derive(Debug, Serialize)]
pub struct RequestBody<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    max_tokens: u32,
    stream: bool,
    stream_options: StreamOptions,
}

#[derive(Debug, Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// The body of `POST /chat/completions` for `request`, the system prompt first.
pub fn request_body<'a>(
    model: &'a str,
    system_prompt: Option<&'a str>,
    request: &'a ModelRequest,
) -> RequestBody<'a> {
    let system = system_prompt.map(|prompt| WireMessage::borrowed(Role::System, prompt));
    let conversation = request
        .messages
        .iter()
        .map(|message| WireMessage::borrowed(message.role, &message.content));
    RequestBody {
        model,
        messages: system.into_iter().chain(conversation).collect(),
        max_tokens: request.max_tokens,
        stream: true,
        stream_options: StreamOptions { include_usage: true },
    }
}

/// The model events in one `data:` payload of the stream.
pub fn parse(data: &str) -> Result<Vec<ModelEvent>, RelayError> {
    if data == "[DONE]" {
        return Ok(vec![ModelEvent::Done]);
    }
    let chunk: Chunk = serde_json::from_str(data).map_err(|error| {
        tracing::warn!(
            category = ?error.classify(),
            bytes = data.len(),
            "unreadable upstream chunk"
        );
        RelayError::Malformed
    })?;
    if let Some(error) = chunk.error {
        let message = error.message.unwrap_or_else(|| "no explanation was given.".into());
        return Err(RelayError::Reported(message));
    }
    let mut events = Vec::new();
    if let Some(choice) = chunk.choices.into_iter().next() {
        // vLLM and DeepSeek name it `reasoning_content`, Ollama and
        // OpenRouter `reasoning`.
        let reasoning = choice.delta.reasoning_content.or(choice.delta.reasoning);
        if let Some(reasoning) = reasoning.filter(|text| !text.is_empty()) {
            events.push(ModelEvent::Reasoning(reasoning));
        }
        if let Some(text) = choice.delta.content.filter(|text| !text.is_empty()) {
            events.push(ModelEvent::Text(text));
        }
        if let Some(reason) = choice.finish_reason {
            events.push(ModelEvent::Finish(finish_reason(&reason)));
        }
    }
    if let Some(usage) = chunk.usage {
        events.push(ModelEvent::Usage(UsageReport {
            input_tokens: usage.prompt_tokens,
            output_tokens: usage.completion_tokens,
            reasoning_tokens: usage.completion_tokens_details.and_then(|d| d.reasoning_tokens),
        }));
    }
    Ok(events)
}

/// Maps a Chat Completions `finish_reason` onto the protocol's.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        _ => FinishReason::Other,
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
    /// Some servers report a failure mid-stream as a chunk with an error.
    #[serde(default)]
    error: Option<ChunkError>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ChunkError {
    #[serde(default)]
    message: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::relay::ChatMessage;

    #[test]
    fn the_request_streams_asks_for_usage_and_puts_the_system_prompt_first() {
        let request = ModelRequest {
            messages: vec![ChatMessage { role: Role::User, content: "Hi".into() }],
            max_tokens: 64,
        };
        assert_eq!(
            serde_json::to_value(request_body("gpt", Some("Be brief."), &request)).unwrap(),
            json!({
                "model": "gpt",
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                "max_tokens": 64,
                "stream": true,
                "stream_options": {"include_usage": true},
            })
        );
    }

    #[test]
    fn text_reasoning_finish_and_usage_are_read() {
        assert_eq!(
            parse(
                r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#
            ),
            Ok(vec![])
        );
        assert_eq!(
            parse(r#"{"choices":[{"delta":{"content":"Hi"}}]}"#),
            Ok(vec![ModelEvent::Text("Hi".into())])
        );
        assert_eq!(
            parse(r#"{"choices":[{"delta":{"reasoning_content":"hm","content":null}}]}"#),
            Ok(vec![ModelEvent::Reasoning("hm".into())])
        );
        assert_eq!(
            parse(r#"{"choices":[{"delta":{"reasoning":"ok"}}]}"#),
            Ok(vec![ModelEvent::Reasoning("ok".into())])
        );
        assert_eq!(
            parse(r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#),
            Ok(vec![ModelEvent::Finish(FinishReason::Length)])
        );
        assert_eq!(
            parse(
                r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8,"completion_tokens_details":{"reasoning_tokens":2}}}"#
            ),
            Ok(vec![ModelEvent::Usage(UsageReport {
                input_tokens: Some(3),
                output_tokens: Some(5),
                reasoning_tokens: Some(2),
            })])
        );
        assert_eq!(parse("[DONE]"), Ok(vec![ModelEvent::Done]));
    }

    #[test]
    fn errors_and_garbage_are_reported() {
        assert_eq!(
            parse(r#"{"error":{"message":"overloaded"}}"#),
            Err(RelayError::Reported("overloaded".into()))
        );
        assert_eq!(parse("{not json"), Err(RelayError::Malformed));
    }

    #[test]
    fn finish_reasons_map_onto_the_protocol() {
        assert_eq!(finish_reason("stop"), FinishReason::Stop);
        assert_eq!(finish_reason("length"), FinishReason::Length);
        assert_eq!(finish_reason("content_filter"), FinishReason::ContentFilter);
        assert_eq!(finish_reason("tool_calls"), FinishReason::ToolCalls);
        assert_eq!(finish_reason("something_new"), FinishReason::Other);
    }
}
