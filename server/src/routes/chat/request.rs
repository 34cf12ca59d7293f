//! The chat request as clients send it, checked and turned into upstream
//! messages.
//!
//! Two shapes are accepted: the AI SDK's `DefaultChatTransport` body (messages
//! with `parts`), and the simpler `{"messages": [{"role", "content"}]}`.
//! Fields Reins does not use (`id`, `trigger`, `messageId`, metadata, non-text
//! parts) are ignored, as an AI SDK backend would.

use serde::Deserialize;

use crate::error::ApiError;
use crate::relay::openai::ChatMessage;
use app::protocol::Role;

/// The body of `POST /api/chat`.
#[derive(Debug, Deserialize)]
pub struct IncomingChatRequest {
    messages: Vec<IncomingMessage>,
}

#[derive(Debug, Deserialize)]
struct IncomingMessage {
    role: String,
    #[serde(default)]
    parts: Vec<IncomingPart>,
    #[serde(default)]
    content: Option<IncomingContent>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum IncomingContent {
    Text(String),
    Parts(Vec<IncomingPart>),
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum IncomingPart {
    Text {
        text: String,
    },
    #[serde(other)]
    Other,
}

impl IncomingChatRequest {
    /// The conversation as upstream messages, or why it cannot be sent.
    pub fn into_messages(self) -> Result<Vec<ChatMessage>, ApiError> {
        if self.messages.is_empty() {
            return Err(unprocessable(
                "no_messages",
                "Send at least one message.".into(),
            ));
        }
        let mut messages = Vec::with_capacity(self.messages.len());
        for (index, message) in self.messages.into_iter().enumerate() {
            let role = match message.role.as_str() {
                "user" => Role::User,
                "assistant" => Role::Assistant,
                "system" => Role::System,
                other => {
                    return Err(unprocessable(
                        "unknown_role",
                        format!(
                            "Message {} has the role \"{other}\"; use \"user\", \"assistant\" or \"system\".",
                            index + 1
                        ),
                    ));
                }
            };
            let content = message_text(message.parts, message.content);
            // An empty message (a reply stopped before its first token) says
            // nothing, and some model APIs refuse empty content.
            if !content.trim().is_empty() {
                messages.push(ChatMessage { role, content });
            }
        }
        if messages.is_empty() {
            return Err(unprocessable(
                "empty_messages",
                "Every message is empty.".into(),
            ));
        }
        Ok(messages)
    }
}

fn message_text(parts: Vec<IncomingPart>, content: Option<IncomingContent>) -> String {
    let parts = match content {
        Some(IncomingContent::Text(text)) if parts.is_empty() => return text,
        Some(IncomingContent::Parts(content_parts)) if parts.is_empty() => content_parts,
        _ => parts,
    };
    let texts: Vec<String> = parts
        .into_iter()
        .filter_map(|part| match part {
            IncomingPart::Text { text } => Some(text),
            IncomingPart::Other => None,
        })
        .collect();
    texts.join("\n\n")
}

fn unprocessable(code: &'static str, message: String) -> ApiError {
    ApiError::Unprocessable { code, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(body: serde_json::Value) -> Result<Vec<ChatMessage>, ApiError> {
        serde_json::from_value::<IncomingChatRequest>(body)
            .unwrap()
            .into_messages()
    }

    fn user(text: &str) -> ChatMessage {
        ChatMessage {
            role: Role::User,
            content: text.into(),
        }
    }

    #[test]
    fn reads_the_ai_sdk_shape() {
        let body = json!({
            "id": "chat-1",
            "trigger": "submit-message",
            "messageId": null,
            "messages": [
                {"id": "1", "role": "user", "parts": [{"type": "text", "text": "Hello"}]},
                {"id": "2", "role": "assistant", "parts": [
                    {"type": "step-start"},
                    {"type": "reasoning", "text": "hidden"},
                    {"type": "text", "text": "Hi"},
                ], "metadata": {"x": 1}},
                {"id": "3", "role": "user", "parts": [{"type": "text", "text": "Again"}]},
            ],
        });
        assert_eq!(
            messages(body).unwrap(),
            vec![
                user("Hello"),
                ChatMessage {
                    role: Role::Assistant,
                    content: "Hi".into()
                },
                user("Again"),
            ]
        );
    }

    #[test]
    fn reads_the_simple_shape_and_openai_content_parts() {
        let body = json!({"messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        ]});
        assert_eq!(
            messages(body).unwrap(),
            vec![
                ChatMessage {
                    role: Role::System,
                    content: "Be brief.".into()
                },
                user("a\n\nb")
            ]
        );
    }

    #[test]
    fn empty_messages_are_dropped() {
        let body = json!({"messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "parts": []},
            {"role": "user", "content": "Again"},
        ]});
        assert_eq!(messages(body).unwrap(), vec![user("Hi"), user("Again")]);
    }

    #[test]
    fn refusals_name_the_problem() {
        let refusal = |body| match messages(body) {
            Err(ApiError::Unprocessable { code, message }) => (code, message),
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(refusal(json!({"messages": []})).0, "no_messages");
        let (code, message) = refusal(
            json!({"messages": [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]}),
        );
        assert_eq!(code, "unknown_role");
        assert!(
            message.contains("Message 2") && message.contains("\"tool\""),
            "{message}"
        );
        assert_eq!(
            refusal(json!({"messages": [{"role": "user", "content": " "}]})).0,
            "empty_messages"
        );
    }
}
