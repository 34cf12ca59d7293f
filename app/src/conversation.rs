//! The conversation and the life of each reply, as a plain state machine.
//!
//! Everything the chat shows derives from this one value: the messages, each
//! reply's status, and whether the composer offers Send or Stop. Keeping it
//! free of the DOM and the network lets the rules that matter most be unit
//! tested, above all this one: once a reply is stopped, nothing that arrives
//! for it afterwards (bytes already in flight, a late `finish`) changes it.

use crate::protocol::{ChatRequest, Role, UiMessage, UiMessageChunk, UiMessagePart};

/// Where one message is in its life; shown in the message's `data-status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageStatus {
    /// Submitted, no text yet.
    Pending,
    /// Text is arriving.
    Streaming,
    /// Complete.
    Done,
    /// Stopped by the user (or the backend) before it was complete.
    Stopped,
    /// Failed; the text received so far is kept.
    Error,
}

impl MessageStatus {
    /// The lowercase name used in `data-status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Streaming => "streaming",
            Self::Done => "done",
            Self::Stopped => "stopped",
            Self::Error => "error",
        }
    }

    /// Whether the message can still change.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Streaming)
    }
}

/// What the composer's toggle button offers, derived from the active reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No reply in flight: the button sends.
    Idle,
    /// A request is out and no text has come back: the button stops.
    Submitted,
    /// Text is arriving: the button stops.
    Streaming,
}

impl Phase {
    /// Whether a reply is in flight, so that the button means Stop.
    pub fn is_busy(self) -> bool {
        self != Self::Idle
    }
}

/// One message of the conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The client-side id; stable for the life of the message.
    pub id: String,
    pub role: Role,
    pub text: String,
    pub status: MessageStatus,
    /// The reason shown for a failed reply.
    pub error: Option<String>,
    /// The id the backend gave the reply in its `start` part.
    pub server_id: Option<String>,
    /// Bumped on every change, so a view can tell cheaply whether to redraw.
    pub revision: u64,
}

/// Why a message could not be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitError {
    /// The message has no visible text.
    Empty,
    /// A reply is still in flight; stop it first.
    Busy,
}

/// A reply that has just been asked for: its id and the request that asks.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingReply {
    /// The id of the new assistant message; later events name it.
    pub reply_id: String,
    pub request: ChatRequest,
}

/// How the response stream ended, as seen by the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// The stream closed with the protocol's `[DONE]`.
    Done,
    /// The connection closed without `[DONE]`.
    Closed,
}

/// The messages of one chat and the reply in flight, if any.
#[derive(Clone, Debug)]
pub struct Conversation {
    chat_id: String,
    messages: Vec<Message>,
    /// Index of the assistant message still open, if any.
    active: Option<usize>,
    next_id: u64,
}

impl Conversation {
    /// An empty conversation; `chat_id` also prefixes the ids of its messages.
    pub fn new(chat_id: impl Into<String>) -> Self {
        Self { chat_id: chat_id.into(), messages: Vec::new(), active: None, next_id: 1 }
    }

    /// The chat's id, sent with every request.
    pub fn chat_id(&self) -> &str {
        &self.chat_id
    }

    /// All messages, oldest first.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The message with the given id.
    pub fn message(&self, id: &str) -> Option<&Message> {
        self.messages.iter().find(|message| message.id == id)
    }

    /// What the composer's button offers now.
    pub fn phase(&self) -> Phase {
        match self.active.map(|index| self.messages[index].status) {
            Some(MessageStatus::Pending) => Phase::Submitted,
            Some(MessageStatus::Streaming) => Phase::Streaming,
            _ => Phase::Idle,
        }
    }

    /// Adds the user's message and an empty reply, and returns the request
    /// that asks for the reply.
    pub fn submit(&mut self, text: &str) -> Result<PendingReply, SubmitError> {
        if text.trim().is_empty() {
            return Err(SubmitError::Empty);
        }
        if self.active.is_some() {
            return Err(SubmitError::Busy);
        }
        self.push(Role::User, text.to_owned(), MessageStatus::Done);
        let request = self.request();
        let reply_id = self.push(Role::Assistant, String::new(), MessageStatus::Pending);
        self.active = Some(self.messages.len() - 1);
        Ok(PendingReply { reply_id, request })
    }

    /// Applies one part of the reply stream to the reply it belongs to.
    ///
    /// Returns whether anything changed. Parts for a reply that is no longer
    /// open are ignored: that is what keeps a stopped reply frozen.
    pub fn apply(&mut self, reply_id: &str, chunk: UiMessageChunk) -> bool {
        let Some(reply) = self.open_reply(reply_id) else {
            return false;
        };
        match chunk {
            UiMessageChunk::Start { message_id: Some(id) } => reply.server_id = Some(id),
            UiMessageChunk::TextDelta { delta, .. } => {
                reply.text.push_str(&delta);
                reply.status = MessageStatus::Streaming;
            }
            UiMessageChunk::Finish { .. } => return self.close(MessageStatus::Done, None),
            UiMessageChunk::Abort { .. } => return self.close(MessageStatus::Stopped, None),
            UiMessageChunk::Error { error_text } => {
                return self.close(MessageStatus::Error, Some(error_text));
            }
            _ => return false,
        }
        reply.revision += 1;
        true
    }

    /// Records that the response stream ended. A reply still open then was cut
    /// short unless the stream closed properly.
    pub fn end_stream(&mut self, reply_id: &str, end: StreamEnd) -> bool {
        if self.open_reply(reply_id).is_none() {
            return false;
        }
        match end {
            StreamEnd::Done => self.close(MessageStatus::Done, None),
            StreamEnd::Closed => self.close(
                MessageStatus::Error,
                Some("The connection closed before the reply was complete.".into()),
            ),
        }
    }

    /// Marks the reply as failed, keeping whatever text it has.
    pub fn fail(&mut self, reply_id: &str, reason: impl Into<String>) -> bool {
        if self.open_reply(reply_id).is_none() {
            return false;
        }
        self.close(MessageStatus::Error, Some(reason.into()))
    }

    /// Stops the reply in flight, keeping its text; returns its id.
    pub fn stop(&mut self) -> Option<String> {
        let index = self.active?;
        self.close(MessageStatus::Stopped, None);
        Some(self.messages[index].id.clone())
    }

    /// The request body for the conversation as it stands.
    fn request(&self) -> ChatRequest {
        let messages = self
            .messages
            .iter()
            .map(|message| UiMessage {
                id: message.server_id.clone().unwrap_or_else(|| message.id.clone()),
                role: message.role,
                parts: vec![UiMessagePart::Text { text: message.text.clone() }],
            })
            .collect();
        ChatRequest {
            id: self.chat_id.clone(),
            messages,
            trigger: "submit-message",
            message_id: None,
        }
    }

    fn push(&mut self, role: Role, text: String, status: MessageStatus) -> String {
        let id = format!("{}-{}", self.chat_id, self.next_id);
        self.next_id += 1;
        self.messages.push(Message {
            id: id.clone(),
            role,
            text,
            status,
            error: None,
            server_id: None,
            revision: 0,
        });
        id
    }

    fn open_reply(&mut self, reply_id: &str) -> Option<&mut Message> {
        let index = self.active?;
        let reply = &mut self.messages[index];
        (reply.id == reply_id).then_some(reply)
    }

    fn close(&mut self, status: MessageStatus, error: Option<String>) -> bool {
        let Some(index) = self.active.take() else {
            return false;
        };
        let reply = &mut self.messages[index];
        reply.status = status;
        reply.error = error;
        reply.revision += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(text: &str) -> UiMessageChunk {
        UiMessageChunk::TextDelta { id: "t".into(), delta: text.into() }
    }

    fn finish() -> UiMessageChunk {
        UiMessageChunk::Finish { finish_reason: None, message_metadata: None }
    }

    fn reply(conversation: &Conversation, id: &str) -> Message {
        conversation.message(id).unwrap().clone()
    }

    #[test]
    fn submit_adds_the_message_and_a_pending_reply() {
        let mut chat = Conversation::new("c");
        let pending = chat.submit("Hello").unwrap();
        assert_eq!(chat.phase(), Phase::Submitted);
        assert_eq!(chat.messages().len(), 2);
        assert_eq!(chat.messages()[0].role, Role::User);
        assert_eq!(reply(&chat, &pending.reply_id).status, MessageStatus::Pending);
        // The request carries the conversation up to the user's message only.
        assert_eq!(pending.request.messages.len(), 1);
        assert_eq!(
            pending.request.messages[0].parts,
            vec![UiMessagePart::Text { text: "Hello".into() }]
        );
    }

    #[test]
    fn blank_and_concurrent_submits_are_refused() {
        let mut chat = Conversation::new("c");
        assert_eq!(chat.submit("  \n ").unwrap_err(), SubmitError::Empty);
        chat.submit("one").unwrap();
        assert_eq!(chat.submit("two").unwrap_err(), SubmitError::Busy);
        assert_eq!(chat.messages().len(), 2, "nothing was added by the refused submits");
    }

    #[test]
    fn a_reply_streams_then_finishes() {
        let mut chat = Conversation::new("c");
        let id = chat.submit("Hi").unwrap().reply_id;
        assert!(chat.apply(&id, UiMessageChunk::Start { message_id: Some("msg_9".into()) }));
        assert_eq!(chat.phase(), Phase::Submitted, "a start part carries no text yet");
        assert!(chat.apply(&id, delta("Hel")));
        assert_eq!(chat.phase(), Phase::Streaming);
        assert!(chat.apply(&id, delta("lo")));
        assert!(chat.apply(&id, finish()));
        let message = reply(&chat, &id);
        assert_eq!((message.text.as_str(), message.status), ("Hello", MessageStatus::Done));
        assert_eq!(message.server_id.as_deref(), Some("msg_9"));
        assert_eq!(chat.phase(), Phase::Idle);
    }

    #[test]
    fn a_stopped_reply_keeps_its_text_and_ignores_everything_after() {
        let mut chat = Conversation::new("c");
        let id = chat.submit("Hi").unwrap().reply_id;
        chat.apply(&id, delta("Partial"));
        assert_eq!(chat.stop().as_deref(), Some(id.as_str()));
        assert_eq!(chat.phase(), Phase::Idle);
        let stopped = reply(&chat, &id);

        // Bytes that were already in flight when Stop was pressed.
        assert!(!chat.apply(&id, delta(" more")));
        assert!(!chat.apply(&id, finish()));
        assert!(!chat.end_stream(&id, StreamEnd::Closed));
        assert!(!chat.fail(&id, "aborted"));
        assert_eq!(reply(&chat, &id), stopped);
        assert_eq!(stopped.text, "Partial");
        assert_eq!(stopped.status, MessageStatus::Stopped);
    }

    #[test]
    fn stop_before_the_first_token_works_and_the_user_can_send_again() {
        let mut chat = Conversation::new("c");
        let first = chat.submit("Hi").unwrap().reply_id;
        assert!(chat.stop().is_some());
        assert_eq!(reply(&chat, &first).status, MessageStatus::Stopped);
        let second = chat.submit("Again").unwrap();
        assert_eq!(chat.phase(), Phase::Submitted);
        // The stopped reply is part of the history sent with the next request.
        assert_eq!(second.request.messages.len(), 3);
        // A late part for the first reply cannot touch the second.
        assert!(!chat.apply(&first, delta("late")));
        assert_eq!(reply(&chat, &second.reply_id).text, "");
    }

    #[test]
    fn stop_with_nothing_in_flight_does_nothing() {
        let mut chat = Conversation::new("c");
        assert_eq!(chat.stop(), None);
        let id = chat.submit("Hi").unwrap().reply_id;
        chat.apply(&id, finish());
        assert_eq!(chat.stop(), None);
        assert_eq!(reply(&chat, &id).status, MessageStatus::Done);
    }

    #[test]
    fn errors_keep_the_partial_text() {
        let mut chat = Conversation::new("c");
        let id = chat.submit("Hi").unwrap().reply_id;
        chat.apply(&id, delta("Half"));
        chat.apply(&id, UiMessageChunk::Error { error_text: "upstream failed".into() });
        let message = reply(&chat, &id);
        assert_eq!(message.status, MessageStatus::Error);
        assert_eq!(message.text, "Half");
        assert_eq!(message.error.as_deref(), Some("upstream failed"));
        assert_eq!(chat.phase(), Phase::Idle);
    }

    #[test]
    fn a_stream_that_closes_early_is_an_error_and_done_without_finish_is_done() {
        let mut chat = Conversation::new("c");
        let cut = chat.submit("Hi").unwrap().reply_id;
        chat.apply(&cut, delta("Half"));
        assert!(chat.end_stream(&cut, StreamEnd::Closed));
        assert_eq!(reply(&chat, &cut).status, MessageStatus::Error);

        let done = chat.submit("Again").unwrap().reply_id;
        chat.apply(&done, delta("Whole"));
        assert!(chat.end_stream(&done, StreamEnd::Done));
        assert_eq!(reply(&chat, &done).status, MessageStatus::Done);
    }

    #[test]
    fn an_abort_part_from_the_backend_marks_the_reply_stopped() {
        let mut chat = Conversation::new("c");
        let id = chat.submit("Hi").unwrap().reply_id;
        chat.apply(&id, delta("Some"));
        chat.apply(&id, UiMessageChunk::Abort { reason: None });
        assert_eq!(reply(&chat, &id).status, MessageStatus::Stopped);
    }

    #[test]
    fn every_visible_change_bumps_the_revision() {
        let mut chat = Conversation::new("c");
        let id = chat.submit("Hi").unwrap().reply_id;
        let before = reply(&chat, &id).revision;
        chat.apply(&id, delta("a"));
        let after_delta = reply(&chat, &id).revision;
        assert!(after_delta > before);
        chat.stop();
        assert!(reply(&chat, &id).revision > after_delta);
        // Parts that change nothing visible leave it alone.
        let mut other = Conversation::new("d");
        let id = other.submit("Hi").unwrap().reply_id;
        assert!(!other.apply(&id, UiMessageChunk::StartStep));
        assert_eq!(reply(&other, &id).revision, 0);
    }
}
