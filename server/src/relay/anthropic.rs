//! The Anthropic Messages dialect (`REINS_UPSTREAM_KIND=anthropic`).

use serde::{Deserialize, Serialize};

use app::protocol::{FinishReason, Role};

use super::{ModelEvent, ModelRequest, RelayError, UsageReport, WireMessage};

/// The body of `POST /messages`.
#[derive(Debug, Serialize)]
pub struct RequestBody<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<WireMessage<'a>>,
    stream: bool,
}

/// The body of `POST /messages` for `request`.
///
/// System messages (and the server's system prompt) go in the top-level
/// `system` field, and consecutive messages of one role are joined, since the
/// API wants the roles to alternate.
pub fn request_body<'a>(
    model: &'a str,
    system_prompt: Option<&'a str>,
    request: &'a ModelRequest,
) -> RequestBody<'a> {
    let mut system: Vec<&str> = system_prompt.into_iter().collect();
    let mut messages: Vec<WireMessage<'a>> = Vec::new();
    for message in &request.messages {
        match (message.role, messages.last_mut()) {
            (Role::System, _) => system.push(&message.content),
            // Copied once, at the first join; each join after appends.
            (role, Some(last)) if last.role == role => {
                let text = last.content.to_mut();
                text.push_str("\n\n");
                text.push_str(&message.content);
            }
            (role, _) => messages.push(WireMessage::borrowed(role, &message.content)),
        }
    }
    RequestBody {
        model,
        max_tokens: request.max_tokens,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        messages,
        stream: true,
    }
}

/// The model events in one SSE event of the stream.
pub fn parse(event_name: &str, data: &str) -> Result<Vec<ModelEvent>, RelayError> {
    let event: Event = serde_json::from_str(data).map_err(|error| {
        tracing::warn!(
            category = ?error.classify(),
            event_name = crate::error::brief(event_name),
            bytes = data.len(),
            "unreadable upstream event"
        );
        RelayError::Malformed
    })?;
    Ok(match event {
        Event::MessageStart { message } => vec![ModelEvent::Usage(UsageReport {
            input_tokens: message.usage.input_tokens,
            output_tokens: message.usage.output_tokens,
            reasoning_tokens: None,
        })],
        Event::ContentBlockDelta { delta } => match delta {
            Delta::Text { text } if !text.is_empty() => vec![ModelEvent::Text(text)],
            Delta::Thinking { thinking } if !thinking.is_empty() => {
                vec![ModelEvent::Reasoning(thinking)]
            }
            _ => vec![],
        },
        Event::MessageDelta { delta, usage } => {
            let mut events = Vec::new();
            if let Some(reason) = delta.stop_reason {
                events.push(ModelEvent::Finish(finish_reason(&reason)));
            }
            if let Some(usage) = usage {
                events.push(ModelEvent::Usage(UsageReport {
                    input_tokens: usage.input_tokens,
                    output_tokens: usage.output_tokens,
                    reasoning_tokens: None,
                }));
            }
            events
        }
        Event::MessageStop => vec![ModelEvent::Done],
        Event::Error { error } => {
            let message = error.message.unwrap_or_else(|| "no explanation was given.".into());
            return Err(RelayError::Reported(message));
        }
        Event::Other => vec![],
    })
}

/// Maps a Messages `stop_reason` onto the protocol's finish reason.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockDelta {
        delta: Delta,
    },
    MessageDelta {
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<EventUsage>,
    },
    MessageStop,
    Error {
        error: EventError,
    },
    /// `ping`, `content_block_start`, `content_block_stop` and anything newer.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    usage: EventUsage,
}

#[derive(Default, Deserialize)]
struct EventUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Delta {
    #[serde(rename = "text_delta")]
    Text { text: String },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: String },
    /// `signature_delta`, `input_json_delta`, `citations_delta`, ...
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDeltaBody {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct EventError {
    #[serde(default)]
    message: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::relay::ChatMessage;

    fn message(role: Role, content: &str) -> ChatMessage {
        ChatMessage { role, content: content.into() }
    }

    #[test]
    fn system_messages_move_to_the_system_field_and_roles_alternate() {
        let request = ModelRequest {
            messages: vec![
                message(Role::System, "Client rule."),
                message(Role::User, "One"),
                message(Role::User, "Two"),
                message(Role::Assistant, "Three"),
            ],
            max_tokens: 100,
        };
        assert_eq!(
            serde_json::to_value(request_body("claude", Some("Server rule."), &request)).unwrap(),
            json!({
                "model": "claude",
                "max_tokens": 100,
                "system": "Server rule.\n\nClient rule.",
                "messages": [
                    {"role": "user", "content": "One\n\nTwo"},
                    {"role": "assistant", "content": "Three"},
                ],
                "stream": true,
            })
        );
        let plain = ModelRequest { messages: vec![message(Role::User, "Hi")], max_tokens: 1 };
        let plain = serde_json::to_value(request_body("claude", None, &plain)).unwrap();
        assert!(plain.get("system").is_none());
    }

    #[test]
    fn a_whole_stream_is_read() {
        // The events of a real Messages stream, in order.
        let stream = [
            (
                "message_start",
                r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","stop_reason":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me see."}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}"#,
            ),
            ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            ("ping", r#"{"type": "ping"}"#),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello"}}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":15}}"#,
            ),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ];
        let events: Vec<ModelEvent> =
            stream.iter().flat_map(|(name, data)| parse(name, data).unwrap()).collect();
        assert_eq!(
            events,
            vec![
                ModelEvent::Usage(UsageReport {
                    input_tokens: Some(25),
                    output_tokens: Some(1),
                    reasoning_tokens: None
                }),
                ModelEvent::Reasoning("Let me see.".into()),
                ModelEvent::Text("Hello".into()),
                ModelEvent::Finish(FinishReason::Length),
                ModelEvent::Usage(UsageReport {
                    input_tokens: None,
                    output_tokens: Some(15),
                    reasoning_tokens: None
                }),
                ModelEvent::Done,
            ]
        );
    }

    #[test]
    fn error_events_and_garbage_are_reported() {
        let error =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(parse("error", error), Err(RelayError::Reported("Overloaded".into())));
        assert_eq!(parse("message_start", "{"), Err(RelayError::Malformed));
    }

    #[test]
    fn stop_reasons_map_onto_the_protocol() {
        assert_eq!(finish_reason("end_turn"), FinishReason::Stop);
        assert_eq!(finish_reason("max_tokens"), FinishReason::Length);
        assert_eq!(finish_reason("tool_use"), FinishReason::ToolCalls);
        assert_eq!(finish_reason("refusal"), FinishReason::ContentFilter);
        assert_eq!(finish_reason("pause_turn"), FinishReason::Other);
    }
}
