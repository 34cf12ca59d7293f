//! The wire protocol between the chat component and a backend: the Vercel AI SDK
//! "UI message stream", v1.
//!
//! The server writes these parts as SSE `data:` frames and the component reads
//! them back, so both sides share one definition. Following the published
//! protocol exactly is what lets the component talk to any AI SDK backend and
//! the Reins server stand in for one behind `useChat`.

use serde::{Deserialize, Serialize};

/// The response header that marks a UI message stream, and its value.
pub const STREAM_HEADER: (&str, &str) = ("x-vercel-ai-ui-message-stream", "v1");

/// Set on a Reins chat response when the server keeps the reply for
/// resuming: its resume window, in milliseconds.
pub const RESUME_WINDOW_HEADER: &str = "x-reins-resume-window-ms";

/// The `data:` payload that closes a UI message stream.
pub const DONE_MARKER: &str = "[DONE]";

/// One part of a UI message stream.
///
/// Parts this crate has no use for (tools, sources, files, `data-*` parts) are
/// read as [`UiMessageChunk::Other`] and ignored, as the protocol asks readers to.
/// It is read through [`WirePart`]; the serde attributes here shape writing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", try_from = "WirePart")]
pub enum UiMessageChunk {
    /// The reply has begun; `message_id` names it for the rest of its life.
    #[serde(rename_all = "camelCase")]
    Start {
        #[serde(skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
    },
    /// One model call (a "step") has begun.
    StartStep,
    /// A block of text with the given id has begun.
    TextStart { id: String },
    /// More text for the block with the given id.
    TextDelta { id: String, delta: String },
    /// The text block with the given id is complete.
    TextEnd { id: String },
    /// A block of reasoning has begun.
    ReasoningStart { id: String },
    /// More reasoning text.
    ReasoningDelta { id: String, delta: String },
    /// The reasoning block is complete.
    ReasoningEnd { id: String },
    /// The model call is complete.
    FinishStep,
    /// The reply is complete.
    #[serde(rename_all = "camelCase")]
    Finish {
        #[serde(skip_serializing_if = "Option::is_none")]
        finish_reason: Option<FinishReason>,
        #[serde(skip_serializing_if = "Option::is_none")]
        message_metadata: Option<MessageMetadata>,
    },
    /// The reply failed; `error_text` is meant for a person to read.
    #[serde(rename_all = "camelCase")]
    Error { error_text: String },
    /// Metadata about the reply, between its other parts.
    #[serde(rename_all = "camelCase")]
    MessageMetadata { message_metadata: MessageMetadata },
    /// The reply was stopped before it finished.
    Abort {
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Any part type this crate does not act on.
    Other,
}

/// A part as read off the wire: every field any part this crate acts on
/// may have, and its type. Reading through it instead of serde's internally
/// tagged enum spares the browser serde's buffering of every part, which was
/// a good share of the embed's wasm.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePart {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    delta: Option<String>,
    message_id: Option<String>,
    // Read as any JSON, then as what Reins understands of it: a backend's
    // new finish reason or metadata of its own must not fail the reply.
    finish_reason: Option<serde_json::Value>,
    message_metadata: Option<serde_json::Value>,
    error_text: Option<String>,
    reason: Option<String>,
}

impl TryFrom<WirePart> for UiMessageChunk {
    type Error = String;

    fn try_from(part: WirePart) -> Result<Self, String> {
        let missing = |field: &str| format!("a `{}` part without `{field}`", part.kind);
        let id = || part.id.clone().ok_or_else(|| missing("id"));
        let delta = || part.delta.clone().ok_or_else(|| missing("delta"));
        Ok(match part.kind.as_str() {
            "start" => Self::Start { message_id: part.message_id },
            "start-step" => Self::StartStep,
            "text-start" => Self::TextStart { id: id()? },
            "text-delta" => Self::TextDelta { id: id()?, delta: delta()? },
            "text-end" => Self::TextEnd { id: id()? },
            "reasoning-start" => Self::ReasoningStart { id: id()? },
            "reasoning-delta" => Self::ReasoningDelta { id: id()?, delta: delta()? },
            "reasoning-end" => Self::ReasoningEnd { id: id()? },
            "finish-step" => Self::FinishStep,
            "finish" => Self::Finish {
                finish_reason: part.finish_reason.and_then(|v| serde_json::from_value(v).ok()),
                message_metadata: part
                    .message_metadata
                    .and_then(|v| serde_json::from_value(v).ok()),
            },
            "error" => {
                Self::Error { error_text: part.error_text.ok_or_else(|| missing("errorText"))? }
            }
            "abort" => Self::Abort { reason: part.reason },
            _ => Self::Other,
        })
    }
}

/// What became of one reply: `GET /api/chat/{messageId}` answers it, and a
/// stopped reply's `abort` part is preceded by a `message-metadata` part
/// that carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub state: ReplyState,
    /// Text and reasoning deltas relayed to the client.
    pub tokens_relayed: u64,
    /// The output tokens the model API reported, or when it reported none
    /// (a stopped stream rarely gets that far), the deltas relayed.
    pub output_tokens: u64,
    /// Whether `output_tokens` was counted from the deltas.
    pub output_tokens_counted: bool,
    /// When the stop request, or the client's leaving, reached the server
    /// (Unix time in microseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noticed_at_us: Option<u64>,
    /// When the connection to the model API was dropped, on a stop or when
    /// the client left (Unix time in microseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_dropped_at_us: Option<u64>,
    /// The receipt as a sentence for people, once the reply has ended:
    /// "Stopped after 125 tokens; the model API's connection was closed 2 ms
    /// after your stop reached the server." The chat shows it under a
    /// stopped reply, and reads nothing else of the receipt: parsing the
    /// rest in the browser cost the embed 2 KB gzipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

impl Receipt {
    /// How long after the stop reached the server the model API's
    /// connection was closed, in microseconds.
    pub fn dropped_after_us(&self) -> Option<u64> {
        Some(self.upstream_dropped_at_us?.saturating_sub(self.noticed_at_us?))
    }

    /// The receipt with its [`summary`](Self::summary) written, for a reply
    /// that has ended.
    pub fn summarized(mut self) -> Self {
        self.summary = (self.state != ReplyState::Streaming).then(|| self.describe());
        self
    }

    fn describe(&self) -> String {
        let tokens = self.output_tokens;
        let noun = if tokens == 1 { "token" } else { "tokens" };
        let counted = if self.output_tokens_counted { " relayed" } else { "" };
        let ended = match self.state {
            ReplyState::Streaming => "Streaming",
            ReplyState::Completed => "Completed",
            ReplyState::Stopped | ReplyState::ClientGone => "Stopped",
            ReplyState::Failed => "Failed",
        };
        let mut text = format!("{ended} after {tokens} {noun}{counted}");
        if let Some(after) = self.dropped_after_us() {
            let after = match (after + 500) / 1000 {
                0 => "under 1 ms".to_owned(),
                ms => format!("{ms} ms"),
            };
            let cause = match self.state {
                ReplyState::ClientGone => "the server saw the page's connection close",
                ReplyState::Failed => "the server began to shut down",
                _ => "your stop reached the server",
            };
            text += &format!("; the model API's connection was closed {after} after {cause}");
        }
        text.push('.');
        text
    }
}

/// Where a reply is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplyState {
    Streaming,
    Completed,
    /// Ended by a stop request.
    Stopped,
    /// Ended because its client went away.
    ClientGone,
    /// Ended by an error, a timeout or the server shutting down.
    Failed,
}

impl ReplyState {
    /// Whether the reply was cut short on purpose: a stop for it is done.
    pub fn is_stopped(self) -> bool {
        matches!(self, Self::Stopped | Self::ClientGone)
    }
}

/// What Reins tells the client about a reply besides its text, sent as the
/// protocol's message metadata.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageMetadata {
    /// Tokens used, when the model API reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Before an `abort`: what the stop did. Written for other clients; the
    /// chat itself has aborted its request by then, asks `GET
    /// /api/chat/{messageId}` instead, and does not read it (which keeps
    /// the receipt's parser out of the embed).
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

/// Token counts for one reply, in the AI SDK's names. A count a backend
/// leaves out reads as 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    /// Of the output, the tokens spent reasoning, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
}

/// Why the model ended its reply, in the protocol's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FinishReason {
    Stop,
    Length,
    ContentFilter,
    ToolCalls,
    Error,
    Interrupted,
    /// Any reason this crate does not know, read as "other".
    #[serde(other)]
    Other,
}

/// Who wrote a message.
// Read through its name (`try_from`) rather than serde's derived reader of
// unit variants, which took 1 KB of the embed's wasm for each such enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl TryFrom<String> for Role {
    type Error = &'static str;

    fn try_from(name: String) -> Result<Self, &'static str> {
        [Self::System, Self::User, Self::Assistant]
            .into_iter()
            .find(|role| role.as_str() == name)
            .ok_or("not a name this chat knows")
    }
}

impl Role {
    /// The lowercase name used on the wire and in `data-role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// The request body the component sends: the shape of the AI SDK's
/// `DefaultChatTransport`, so any AI SDK backend accepts it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatRequest {
    /// The chat's id.
    pub id: String,
    /// The whole conversation so far, oldest first.
    pub messages: Vec<UiMessage>,
    /// What caused this request; always `submit-message` for now.
    pub trigger: &'static str,
    /// The id of the message being regenerated, if any.
    pub message_id: Option<String>,
}

/// One message of the conversation in the AI SDK's `UIMessage` shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UiMessage {
    pub id: String,
    pub role: Role,
    pub parts: Vec<UiMessagePart>,
}

/// One part of a [`UiMessage`]; the component only writes text.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum UiMessagePart {
    Text { text: String },
}

/// The JSON body of every error response: `{"error": {"code", "message"}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable, machine-readable code such as `invalid_json`.
    pub code: String,
    /// A sentence a person can act on.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(chunk: UiMessageChunk, wire: serde_json::Value) {
        assert_eq!(serde_json::to_value(&chunk).unwrap(), wire);
        assert_eq!(serde_json::from_value::<UiMessageChunk>(wire).unwrap(), chunk);
    }

    #[test]
    fn parts_use_the_protocols_names_and_casing() {
        round_trip(
            UiMessageChunk::Start { message_id: Some("msg_1".into()) },
            json!({"type": "start", "messageId": "msg_1"}),
        );
        round_trip(UiMessageChunk::StartStep, json!({"type": "start-step"}));
        round_trip(
            UiMessageChunk::TextStart { id: "t".into() },
            json!({"type": "text-start", "id": "t"}),
        );
        round_trip(
            UiMessageChunk::TextDelta { id: "t".into(), delta: "Hi".into() },
            json!({"type": "text-delta", "id": "t", "delta": "Hi"}),
        );
        round_trip(
            UiMessageChunk::TextEnd { id: "t".into() },
            json!({"type": "text-end", "id": "t"}),
        );
        round_trip(
            UiMessageChunk::ReasoningDelta { id: "r".into(), delta: "hm".into() },
            json!({"type": "reasoning-delta", "id": "r", "delta": "hm"}),
        );
        round_trip(UiMessageChunk::FinishStep, json!({"type": "finish-step"}));
        round_trip(
            UiMessageChunk::Finish {
                finish_reason: Some(FinishReason::ContentFilter),
                message_metadata: Some(MessageMetadata {
                    usage: Some(Usage {
                        input_tokens: 3,
                        output_tokens: 5,
                        total_tokens: 8,
                        reasoning_tokens: None,
                    }),
                    receipt: None,
                }),
            },
            json!({
                "type": "finish",
                "finishReason": "content-filter",
                "messageMetadata": {"usage": {"inputTokens": 3, "outputTokens": 5, "totalTokens": 8}},
            }),
        );
        round_trip(
            UiMessageChunk::Finish { finish_reason: None, message_metadata: None },
            json!({"type": "finish"}),
        );
        round_trip(
            UiMessageChunk::Error { error_text: "boom".into() },
            json!({"type": "error", "errorText": "boom"}),
        );
        round_trip(
            UiMessageChunk::Abort { reason: Some("user".into()) },
            json!({"type": "abort", "reason": "user"}),
        );
    }

    #[test]
    fn unknown_parts_and_extra_fields_are_tolerated() {
        let tool = json!({"type": "tool-input-start", "toolCallId": "c", "toolName": "w"});
        assert_eq!(serde_json::from_value::<UiMessageChunk>(tool).unwrap(), UiMessageChunk::Other);
        let data = json!({"type": "data-weather", "data": {"t": 1}});
        assert_eq!(serde_json::from_value::<UiMessageChunk>(data).unwrap(), UiMessageChunk::Other);
        let with_metadata =
            json!({"type": "start", "messageId": "m", "messageMetadata": {"model": "x"}});
        assert_eq!(
            serde_json::from_value::<UiMessageChunk>(with_metadata).unwrap(),
            UiMessageChunk::Start { message_id: Some("m".into()) }
        );
    }

    #[test]
    fn a_finish_is_read_as_far_as_it_can_be() {
        let read = |part| serde_json::from_value::<UiMessageChunk>(part).unwrap();
        let usage = |input, output| Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        };
        for (part, reason, metadata) in [
            // A reason from a newer SDK.
            (
                json!({"type": "finish", "finishReason": "tool-approval"}),
                Some(FinishReason::Other),
                None,
            ),
            // Not even a string.
            (json!({"type": "finish", "finishReason": 7}), None, None),
            // Metadata of the backend's own, and a usage missing counts.
            (
                json!({"type": "finish", "messageMetadata": {"model": "m", "usage": {"outputTokens": 5}}}),
                None,
                Some(MessageMetadata { usage: Some(usage(0, 5)), receipt: None }),
            ),
            // Metadata that is not an object, and a usage of the wrong type.
            (json!({"type": "finish", "messageMetadata": "x"}), None, None),
            (
                json!({"type": "finish", "messageMetadata": {"usage": {"outputTokens": "many"}}}),
                None,
                None,
            ),
        ] {
            assert_eq!(
                read(part.clone()),
                UiMessageChunk::Finish { finish_reason: reason, message_metadata: metadata },
                "{part}"
            );
        }
    }

    #[test]
    fn a_part_without_a_field_its_type_needs_is_refused_and_named() {
        for (part, field) in [
            (json!({"type": "text-delta", "id": "t"}), "delta"),
            (json!({"type": "reasoning-delta", "delta": "x"}), "id"),
            (json!({"type": "error"}), "errorText"),
        ] {
            let error = serde_json::from_value::<UiMessageChunk>(part).unwrap_err().to_string();
            assert!(error.contains(&format!("without `{field}`")), "{error}");
        }
    }

    #[test]
    fn request_has_the_default_chat_transport_shape() {
        let request = ChatRequest {
            id: "chat".into(),
            messages: vec![UiMessage {
                id: "u1".into(),
                role: Role::User,
                parts: vec![UiMessagePart::Text { text: "Hello".into() }],
            }],
            trigger: "submit-message",
            message_id: None,
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({
                "id": "chat",
                "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Hello"}]}],
                "trigger": "submit-message",
                "messageId": null,
            })
        );
    }

    fn receipt(state: ReplyState, tokens: u64, counted: bool, after: Option<u64>) -> Receipt {
        Receipt {
            state,
            tokens_relayed: tokens,
            output_tokens: tokens,
            output_tokens_counted: counted,
            noticed_at_us: after.map(|_| 1_000_000),
            upstream_dropped_at_us: after.map(|after| 1_000_000 + after),
            summary: None,
        }
        .summarized()
    }

    #[test]
    fn a_receipt_reads_well() {
        let summary = |receipt: Receipt| receipt.summary.unwrap();
        assert_eq!(
            summary(receipt(ReplyState::Stopped, 125, false, Some(2_200))),
            "Stopped after 125 tokens; the model API's connection was closed 2 ms after your stop reached the server."
        );
        assert_eq!(
            summary(receipt(ReplyState::ClientGone, 1, true, Some(300))),
            "Stopped after 1 token relayed; the model API's connection was closed under 1 ms after the server saw the page's connection close."
        );
        assert_eq!(
            summary(receipt(ReplyState::Completed, 3, false, None)),
            "Completed after 3 tokens."
        );
        assert_eq!(receipt(ReplyState::Streaming, 0, true, None).summary, None);
    }
}
