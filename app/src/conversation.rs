//! The conversation and the life of each reply, as a plain state machine.
//!
//! Everything the chat shows derives from this one value: the messages, each
//! reply's status, and whether the composer offers Send or Stop. Keeping it
//! free of the DOM and the network lets the rules that matter most be unit
//! tested, above all this one: once a reply is stopped, nothing that arrives
//! for it afterwards (bytes already in flight, a late `finish`) changes it.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::protocol::{ChatRequest, Role, UiMessage, UiMessageChunk, UiMessagePart, Usage};

/// What the chat asks the model when the user continues a stopped reply.
///
/// Chat Completions has no standard way to extend the last assistant message,
/// so the partial reply is sent as it is, followed by this request.
pub const CONTINUE_PROMPT: &str =
    "Continue your previous reply exactly where it stopped, without repeating anything.";

/// The most text one reply may hold. A backend that sends more (a model
/// stuck in a loop, or a hostile one) has its reply cut here and its stream
/// closed, so the model stops too.
pub const MAX_REPLY_BYTES: usize = 2 * 1024 * 1024;

/// Why a reply that reached [`MAX_REPLY_BYTES`] ended.
pub const REPLY_TOO_LONG: &str =
    "The reply passed 2 MiB, the most this chat holds, and was cut off here.";

/// The most characters of an earlier reply sent back as history: its start
/// and its end, with a note of what was left out between. A reply of
/// megabytes would otherwise make every later request too large for the
/// server (`REINS_MAX_MESSAGE_CHARS`, 100,000 by default), and a
/// conversation could never go on. The user's own messages go as written.
pub const HISTORY_REPLY_CHARS: usize = 24_000;

/// A message's text as sent back to the model.
fn history_text(message: &Message) -> String {
    let half = HISTORY_REPLY_CHARS / 2;
    let text = &message.text;
    let end_of_start = text.char_indices().nth(half).map(|(at, _)| at);
    let start_of_end = text.char_indices().nth_back(half - 1).map(|(at, _)| at);
    match (message.role, end_of_start, start_of_end) {
        (Role::Assistant, Some(head), Some(tail)) if tail > head => {
            let left_out = text[head..tail].chars().count();
            format!(
                "{}\n\n[… {left_out} characters left out …]\n\n{}",
                &text[..head],
                &text[tail..]
            )
        }
        _ => text.clone(),
    }
}

/// Where one message is in its life; shown in the message's `data-status`.
// Read through its name, as `Role` is (1 KB of wasm less than serde's
// derived reader).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
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

impl TryFrom<String> for MessageStatus {
    type Error = &'static str;

    fn try_from(name: String) -> Result<Self, &'static str> {
        [Self::Pending, Self::Streaming, Self::Done, Self::Stopped, Self::Error]
            .into_iter()
            .find(|status| status.as_str() == name)
            .ok_or("not a name this chat knows")
    }
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

/// How a reply went, for the quiet line under it. Times are in milliseconds
/// on the clock the caller passes in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplyStats {
    pub asked_at: f64,
    pub first_token_at: Option<f64>,
    pub ended_at: Option<f64>,
    /// Text deltas received.
    pub deltas: u64,
    /// Token counts, when the backend reports them.
    #[serde(default, deserialize_with = "usage_as_value")]
    pub usage: Option<Usage>,
}

/// Reads saved token counts as the stream's are read, through a JSON value:
/// one reader of `Usage` in the embed instead of two (0.4 KB gzipped).
fn usage_as_value<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Usage>, D::Error> {
    // `Option<Value>` and `Option<Usage>`, as the stream's parts are read.
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.and_then(|value| serde_json::from_value::<Option<Usage>>(value).ok().flatten()))
}

impl ReplyStats {
    /// Milliseconds from asking to the first token.
    pub fn time_to_first_token(&self) -> Option<f64> {
        Some(self.first_token_at? - self.asked_at)
    }

    /// Output tokens per second while the text streamed: the reported count
    /// when there is one, else the number of deltas.
    pub fn tokens_per_second(&self) -> Option<f64> {
        let seconds = (self.ended_at? - self.first_token_at?) / 1000.0;
        let tokens = self.usage.map_or(self.deltas, |usage| usage.output_tokens);
        (seconds > 0.0 && tokens > 1).then(|| tokens as f64 / seconds)
    }
}

/// One message of the conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// How the reply went (assistant messages only).
    pub stats: Option<ReplyStats>,
    /// When the user stopped this reply, in the caller's milliseconds.
    pub stopped_at: Option<f64>,
    /// What the server's receipt says about the stop, once it has come.
    #[serde(default)]
    pub receipt: Option<String>,
    /// Set when the server keeps this reply generating for a while if the
    /// page goes away (its resume window is on), so a reload can resume it:
    /// where this reply's stream began in the text (a continued reply keeps
    /// what it had). A stream sent again from its start, as a resumed one
    /// is, replaces what came after. (One field rather than a flag and an
    /// offset: serde's reading of a `bool` would add its own code to the
    /// embed.)
    #[serde(default)]
    pub kept_from: Option<u64>,
    /// Bumped on every change, so a view can tell cheaply whether to redraw.
    #[serde(skip)]
    pub revision: u64,
}

/// Why an action could not be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionError {
    /// The message has no visible text.
    Empty,
    /// A reply is still in flight; stop it first.
    Busy,
    /// The action does not apply to that message (or there is none).
    NotApplicable,
}

/// A reply that has just been asked for: its id and the request that asks.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingReply {
    /// The id of the assistant message that receives the reply.
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
    /// The server has no such stream (any more): a resumed reply that was
    /// not kept, or whose window passed.
    Gone,
}

/// The messages of one chat and the reply in flight, if any.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Conversation {
    chat_id: String,
    messages: Vec<Message>,
    /// Index of the assistant message still open, if any.
    #[serde(skip)]
    active: Option<usize>,
    /// The number in the next message's id. A saved one is outside input:
    /// [`Conversation::restored`] numbers the messages afresh.
    next_id: u64,
    /// Which messages there are, in which order: a value no other list of
    /// messages has had, taken afresh whenever one is added or removed (and
    /// for every conversation made or read), so a view can tell in O(1)
    /// that the list is the same and only messages in it changed.
    #[serde(skip, default = "fresh_shape")]
    shape: u64,
}

/// The id of a chat's `number`th message.
fn message_id(chat_id: &str, number: u64) -> String {
    format!("{chat_id}-{number}")
}

/// A value for [`Conversation::shape`] that no list has had before.
fn fresh_shape() -> u64 {
    static SHAPES: AtomicU64 = AtomicU64::new(0);
    SHAPES.fetch_add(1, Ordering::Relaxed)
}

impl Conversation {
    /// An empty conversation; `chat_id` also prefixes the ids of its messages.
    pub fn new(chat_id: impl Into<String>) -> Self {
        Self {
            chat_id: chat_id.into(),
            messages: Vec::new(),
            active: None,
            next_id: 1,
            shape: fresh_shape(),
        }
    }

    /// Which messages there are: changes when one is added or removed, and
    /// only then (see the field).
    pub fn shape(&self) -> u64 {
        self.shape
    }

    /// A conversation saved earlier. A reply that was still streaming when
    /// it was saved comes back stopped, unless it is the last message and
    /// the server keeps it for resuming: that one stays open, for
    /// [`Conversation::resuming`] to pick up. Its messages get new ids.
    pub fn restored(mut self) -> Self {
        self.active = None;
        // Saved ids are outside input: two messages under one id would be
        // drawn and changed as one, and a counter saved near `u64::MAX`
        // would wrap into ids already held. Numbered afresh in order, ids
        // are unique and the counter is the count.
        self.next_id = 1;
        for message in &mut self.messages {
            message.id = message_id(&self.chat_id, self.next_id);
            self.next_id += 1;
        }
        let last = self.messages.len().checked_sub(1);
        for (index, message) in self.messages.iter_mut().enumerate() {
            if !message.status.is_open() {
                continue;
            }
            if Some(index) == last && message.kept_from.is_some() && message.server_id.is_some() {
                self.active = Some(index);
            } else {
                message.status = MessageStatus::Stopped;
            }
        }
        self
    }

    /// The reply to resume, and the server's id for it, after
    /// [`Conversation::restored`] kept one open.
    pub fn resuming(&self) -> Option<(String, String)> {
        let reply = self.messages.get(self.active?)?;
        Some((reply.id.clone(), reply.server_id.clone()?))
    }

    /// Notes that the server keeps the reply `reply_id` for resuming.
    pub fn mark_resumable(&mut self, reply_id: &str) {
        if let Some(reply) = self.open_reply(reply_id) {
            // No part of this reply's stream has come yet: the text so far
            // is what it had before.
            reply.kept_from = Some(reply.text.len() as u64);
        }
    }

    /// The chat's id, sent with every request.
    pub fn chat_id(&self) -> &str {
        &self.chat_id
    }

    /// All messages, oldest first.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The bytes of text of all its messages.
    pub fn text_bytes(&self) -> usize {
        self.messages.iter().map(|message| message.text.len()).sum()
    }

    /// The message with the given id.
    pub fn message(&self, id: &str) -> Option<&Message> {
        // From the newest: the one asked for is nearly always the reply being
        // written, the last.
        self.messages.iter().rev().find(|message| message.id == id)
    }

    /// Whether `id` is the last message.
    pub fn is_last(&self, id: &str) -> bool {
        self.messages.last().is_some_and(|message| message.id == id)
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
    pub fn submit(&mut self, text: &str, now: f64) -> Result<PendingReply, ActionError> {
        if text.trim().is_empty() {
            return Err(ActionError::Empty);
        }
        self.ensure_idle()?;
        self.push(Role::User, text.to_owned(), MessageStatus::Done);
        Ok(self.ask(now, None))
    }

    /// Replaces the last reply with a new one to the same conversation.
    pub fn regenerate(&mut self, now: f64) -> Result<PendingReply, ActionError> {
        self.ensure_idle()?;
        let last = self.messages.last().ok_or(ActionError::NotApplicable)?;
        if last.role != Role::Assistant {
            return Err(ActionError::NotApplicable);
        }
        let replaced = self.messages.pop().and_then(|message| message.server_id);
        self.shape = fresh_shape();
        let mut pending = self.ask(now, None);
        pending.request.trigger = "regenerate-message";
        pending.request.message_id = replaced;
        Ok(pending)
    }

    /// Asks the model to carry on from the last reply, which was stopped; the
    /// new text is added to it.
    pub fn continue_reply(&mut self, now: f64) -> Result<PendingReply, ActionError> {
        self.ensure_idle()?;
        let index = self.messages.len().checked_sub(1).ok_or(ActionError::NotApplicable)?;
        let last = &self.messages[index];
        if last.role != Role::Assistant || last.status != MessageStatus::Stopped {
            return Err(ActionError::NotApplicable);
        }
        let mut request = self.request();
        request.messages.push(UiMessage {
            id: format!("{}-continue", last.id),
            role: Role::User,
            parts: vec![UiMessagePart::Text { text: CONTINUE_PROMPT.into() }],
        });
        let reply = &mut self.messages[index];
        reply.status = MessageStatus::Pending;
        reply.kept_from = None;
        reply.stopped_at = None;
        reply.error = None;
        reply.stats = Some(ReplyStats { asked_at: now, ..ReplyStats::default() });
        reply.revision += 1;
        self.active = Some(index);
        Ok(PendingReply { reply_id: reply.id.clone(), request })
    }

    /// Replaces the text of an earlier user message, drops everything after
    /// it, and asks for a new reply.
    pub fn edit_and_resend(
        &mut self,
        id: &str,
        text: &str,
        now: f64,
    ) -> Result<PendingReply, ActionError> {
        if text.trim().is_empty() {
            return Err(ActionError::Empty);
        }
        self.ensure_idle()?;
        let index = self.messages.iter().position(|m| m.id == id && m.role == Role::User);
        let index = index.ok_or(ActionError::NotApplicable)?;
        self.messages.truncate(index + 1);
        self.shape = fresh_shape();
        let message = &mut self.messages[index];
        message.text = text.to_owned();
        message.revision += 1;
        Ok(self.ask(now, None))
    }

    /// Empties the conversation for a new chat under `chat_id`.
    pub fn clear(&mut self, chat_id: impl Into<String>) {
        *self = Self::new(chat_id);
    }

    /// Applies one part of the reply stream to the reply it belongs to.
    ///
    /// Returns whether anything changed. Parts for a reply that is no longer
    /// open are ignored: that is what keeps a stopped reply frozen.
    pub fn apply(&mut self, reply_id: &str, chunk: UiMessageChunk, now: f64) -> bool {
        let Some(reply) = self.open_reply(reply_id) else {
            return false;
        };
        match chunk {
            UiMessageChunk::Start { message_id: Some(id) } => {
                // The same stream from its start again: what it wrote before
                // is about to come again.
                if let Some(from) = reply.kept_from
                    && reply.server_id.as_deref() == Some(&*id)
                {
                    // The offset comes from storage: one past the text, or
                    // inside a character, would make `truncate` panic.
                    let from = usize::try_from(from).unwrap_or(usize::MAX);
                    reply.text.truncate(reply.text.floor_char_boundary(from));
                }
                reply.server_id = Some(id);
            }
            UiMessageChunk::TextDelta { delta, .. } => {
                if reply.text.len() + delta.len() > MAX_REPLY_BYTES {
                    let room = delta.floor_char_boundary(MAX_REPLY_BYTES - reply.text.len());
                    reply.text.push_str(&delta[..room]);
                    return self.close(MessageStatus::Error, Some(REPLY_TOO_LONG.into()), now);
                }
                reply.text.push_str(&delta);
                reply.status = MessageStatus::Streaming;
                if let Some(stats) = &mut reply.stats {
                    stats.first_token_at.get_or_insert(now);
                    stats.deltas += 1;
                }
            }
            UiMessageChunk::Finish { message_metadata, .. } => {
                if let (Some(stats), Some(usage)) =
                    (&mut reply.stats, message_metadata.and_then(|m| m.usage))
                {
                    stats.usage = Some(usage);
                }
                return self.close(MessageStatus::Done, None, now);
            }
            UiMessageChunk::Abort { .. } => return self.close(MessageStatus::Stopped, None, now),
            UiMessageChunk::Error { error_text } => {
                return self.close(MessageStatus::Error, Some(error_text), now);
            }
            _ => return false,
        }
        reply.revision += 1;
        true
    }

    /// Applies the parts read together (one network chunk's) to the reply
    /// they belong to, as [`apply`](Self::apply) does each.
    ///
    /// Returns whether the reply changed in more than its text: it began
    /// streaming, learned its server id, or closed. That is worth showing
    /// (and saving) at once; more text alone can wait for the next frame.
    pub fn apply_all(&mut self, reply_id: &str, parts: Vec<UiMessageChunk>, now: f64) -> bool {
        let before = self.shown_state(reply_id);
        for part in parts {
            self.apply(reply_id, part, now);
        }
        self.shown_state(reply_id) != before
    }

    /// What of reply `reply_id`, while open, is more than its text: its
    /// status and whether it has its server id.
    fn shown_state(&self, reply_id: &str) -> Option<(MessageStatus, bool)> {
        let reply = &self.messages[self.active?];
        (reply.id == reply_id).then_some((reply.status, reply.server_id.is_some()))
    }

    /// Records that the response stream ended. A reply still open then was cut
    /// short unless the stream closed properly.
    pub fn end_stream(&mut self, reply_id: &str, end: StreamEnd, now: f64) -> bool {
        if self.open_reply(reply_id).is_none() {
            return false;
        }
        match end {
            StreamEnd::Done => self.close(MessageStatus::Done, None, now),
            StreamEnd::Closed => self.close(
                MessageStatus::Error,
                Some("The connection closed before the reply was complete.".into()),
                now,
            ),
            StreamEnd::Gone => self.close(MessageStatus::Stopped, None, now),
        }
    }

    /// Marks the reply as failed, keeping whatever text it has.
    pub fn fail(&mut self, reply_id: &str, reason: impl Into<String>, now: f64) -> bool {
        if self.open_reply(reply_id).is_none() {
            return false;
        }
        self.close(MessageStatus::Error, Some(reason.into()), now)
    }

    /// Stops the reply in flight, keeping its text; returns its id.
    pub fn stop(&mut self, now: f64) -> Option<String> {
        let index = self.active?;
        self.messages[index].stopped_at = Some(now);
        self.close(MessageStatus::Stopped, None, now);
        Some(self.messages[index].id.clone())
    }

    /// The server's id for the reply in flight, if it must be stopped when
    /// the page goes away: one the server keeps for resuming is left to
    /// run, for the reload to pick up.
    pub fn to_stop_on_leaving(&self) -> Option<&str> {
        let reply = self.messages.get(self.active?)?;
        if reply.kept_from.is_some() { None } else { reply.server_id.as_deref() }
    }

    /// Shows the stop's receipt under the stopped reply `id`.
    pub fn note_receipt(&mut self, id: &str, note: String) {
        if let Some(message) = self.messages.iter_mut().find(|message| message.id == id)
            && message.status == MessageStatus::Stopped
        {
            message.receipt = Some(note);
            message.revision += 1;
        }
    }

    fn ensure_idle(&self) -> Result<(), ActionError> {
        if self.active.is_some() { Err(ActionError::Busy) } else { Ok(()) }
    }

    /// Adds an empty reply and returns the request for it.
    fn ask(&mut self, now: f64, message_id: Option<String>) -> PendingReply {
        let mut request = self.request();
        request.message_id = message_id;
        let reply_id = self.push(Role::Assistant, String::new(), MessageStatus::Pending);
        let index = self.messages.len() - 1;
        self.messages[index].stats = Some(ReplyStats { asked_at: now, ..ReplyStats::default() });
        self.active = Some(index);
        PendingReply { reply_id, request }
    }

    /// The request body for the conversation as it stands.
    fn request(&self) -> ChatRequest {
        let messages = self
            .messages
            .iter()
            .map(|message| UiMessage {
                id: message.server_id.clone().unwrap_or_else(|| message.id.clone()),
                role: message.role,
                parts: vec![UiMessagePart::Text { text: history_text(message) }],
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
        let id = message_id(&self.chat_id, self.next_id);
        self.next_id += 1;
        self.shape = fresh_shape();
        self.messages.push(Message {
            id: id.clone(),
            role,
            text,
            status,
            error: None,
            server_id: None,
            stats: None,
            stopped_at: None,
            receipt: None,
            kept_from: None,
            revision: 0,
        });
        id
    }

    /// Whether the reply `reply_id` is still open, so its stream is worth
    /// reading on.
    pub fn is_open(&self, reply_id: &str) -> bool {
        self.active.is_some_and(|index| self.messages[index].id == reply_id)
    }

    fn open_reply(&mut self, reply_id: &str) -> Option<&mut Message> {
        let index = self.active?;
        let reply = &mut self.messages[index];
        (reply.id == reply_id).then_some(reply)
    }

    fn close(&mut self, status: MessageStatus, error: Option<String>, now: f64) -> bool {
        let Some(index) = self.active.take() else {
            return false;
        };
        let reply = &mut self.messages[index];
        reply.status = status;
        reply.error = error;
        if let Some(stats) = &mut reply.stats {
            stats.ended_at = Some(now);
        }
        reply.revision += 1;
        true
    }
}

/// What a view last saw of each message's revision, to tell which messages
/// changed since, in one pass of integer compares over the conversation.
#[derive(Debug, Default)]
pub struct Seen {
    shape: Option<u64>,
    revisions: Vec<u64>,
}

impl Seen {
    /// Calls `changed` with the id of each message whose revision moved
    /// since the last look. Returns true, calling nothing, when messages
    /// were added or removed meanwhile: then any of them may have changed.
    pub fn look(&mut self, chat: &Conversation, mut changed: impl FnMut(&str)) -> bool {
        let messages = chat.messages();
        let reshaped = self.shape != Some(chat.shape());
        if reshaped {
            self.shape = Some(chat.shape());
            self.revisions.clear();
            self.revisions.extend(messages.iter().map(|message| message.revision));
            return true;
        }
        // Same shape: the same messages at the same places.
        for (seen, message) in self.revisions.iter_mut().zip(messages) {
            if *seen != message.revision {
                *seen = message.revision;
                changed(&message.id);
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {

    /// Looks with `seen`: `None` when reshaped, else the ids it named.
    fn look(seen: &mut Seen, chat: &Conversation) -> Option<Vec<String>> {
        let mut changed = Vec::new();
        let reshaped = seen.look(chat, |id| changed.push(id.to_owned()));
        (!reshaped).then_some(changed)
    }

    #[test]
    fn saved_ids_and_counter_are_not_trusted() {
        // Two messages under one id, one id at `u64::MAX`, and a counter
        // that the next message would take past `u64::MAX`.
        let saved = format!(
            r#"{{"chat_id":"c","next_id":{max},"messages":[
            {{"id":"c-1","role":"user","text":"Q","status":"done","error":null,"server_id":null,"stats":null,"stopped_at":null}},
            {{"id":"c-1","role":"assistant","text":"A","status":"done","error":null,"server_id":null,"stats":null,"stopped_at":null}},
            {{"id":"c-{max}","role":"user","text":"Q","status":"done","error":null,"server_id":null,"stats":null,"stopped_at":null}}]}}"#,
            max = u64::MAX
        );
        let mut chat = serde_json::from_str::<Conversation>(&saved).unwrap().restored();
        chat.submit("again", 0.0).unwrap();
        chat.stop(0.0);
        chat.regenerate(0.0).unwrap();
        let ids: Vec<&str> = chat.messages().iter().map(|message| message.id.as_str()).collect();
        assert_eq!(ids, ["c-1", "c-2", "c-3", "c-4", "c-6"]);
    }

    #[test]
    fn a_look_names_only_the_messages_that_changed_and_any_added_or_removed_reshapes() {
        let mut chat = Conversation::new("c");
        let mut seen = Seen::default();
        assert_eq!(look(&mut seen, &chat), None, "the first look sees everything");
        let first = chat.submit("one", 0.0).unwrap().reply_id;
        assert_eq!(look(&mut seen, &chat), None, "two messages added");
        assert_eq!(look(&mut seen, &chat), Some(vec![]), "nothing since");
        chat.apply(&first, UiMessageChunk::TextStart { id: "t".into() }, 1.0);
        chat.apply(&first, UiMessageChunk::TextDelta { id: "t".into(), delta: "Hi".into() }, 1.0);
        assert_eq!(look(&mut seen, &chat), Some(vec![first.clone()]), "only the reply grew");
        chat.end_stream(&first, StreamEnd::Done, 2.0);
        assert_eq!(look(&mut seen, &chat), Some(vec![first.clone()]));
        chat.regenerate(3.0).unwrap();
        assert_eq!(look(&mut seen, &chat), None, "a reply replaced");
        // A restored conversation is another list, even with the same messages.
        let restored: Conversation =
            serde_json::from_str(&serde_json::to_string(&chat).unwrap()).unwrap();
        assert_ne!(restored.shape(), chat.shape());
        let mut other = chat.clone();
        other.clear("d");
        assert_ne!(other.shape(), chat.shape());
    }
    use super::*;

    /// A time, in milliseconds, for tests that do not look at time.
    const T: f64 = 1_000.0;

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
        let pending = chat.submit("Hello", T).unwrap();
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
        assert_eq!(chat.submit("  \n ", T).unwrap_err(), ActionError::Empty);
        chat.submit("one", T).unwrap();
        assert_eq!(chat.submit("two", T).unwrap_err(), ActionError::Busy);
        assert_eq!(chat.messages().len(), 2, "nothing was added by the refused submits");
    }

    #[test]
    fn a_reply_streams_then_finishes() {
        let mut chat = Conversation::new("c");
        let id = chat.submit("Hi", T).unwrap().reply_id;
        assert!(chat.apply(&id, UiMessageChunk::Start { message_id: Some("msg_9".into()) }, T));
        assert_eq!(chat.phase(), Phase::Submitted, "a start part carries no text yet");
        assert!(chat.apply(&id, delta("Hel"), T));
        assert_eq!(chat.phase(), Phase::Streaming);
        assert!(chat.apply(&id, delta("lo"), T));
        assert!(chat.apply(&id, finish(), T));
        let message = reply(&chat, &id);
        assert_eq!((message.text.as_str(), message.status), ("Hello", MessageStatus::Done));
        assert_eq!(message.server_id.as_deref(), Some("msg_9"));
        assert_eq!(chat.phase(), Phase::Idle);
    }

    #[test]
    fn parts_read_together_say_whether_more_than_the_text_changed() {
        let mut chat = Conversation::new("c");
        let id = chat.submit("Hi", T).unwrap().reply_id;
        let start = || UiMessageChunk::Start { message_id: Some("msg_9".into()) };
        assert!(chat.apply_all(&id, vec![start()], T), "the reply's server id");
        assert!(!chat.apply_all(&id, vec![UiMessageChunk::StartStep], T), "nothing shown");
        assert!(chat.apply_all(&id, vec![delta("He")], 2.0), "the first text: now streaming");
        assert!(!chat.apply_all(&id, vec![delta("l"), delta("lo")], 3.0), "more text only");
        assert!(!chat.apply_all(&id, vec![start()], T), "the same id again");
        assert!(chat.apply_all(&id, vec![delta(" there"), finish()], 4.0), "closed");
        assert!(!chat.apply_all(&id, vec![delta("late")], T), "a closed reply takes nothing");
        let message = reply(&chat, &id);
        assert_eq!((message.text.as_str(), message.status), ("Hello there", MessageStatus::Done));
        let stats = message.stats.unwrap();
        assert_eq!((stats.first_token_at, stats.ended_at), (Some(2.0), Some(4.0)));

        // A reply that is not the open one is told apart by its id.
        let other = chat.submit("Again", T).unwrap().reply_id;
        assert!(!chat.apply_all(&id, vec![delta("x")], T));
        assert!(chat.apply_all(&other, vec![UiMessageChunk::Error { error_text: "no".into() }], T));
    }

    #[test]
    fn a_stopped_reply_keeps_its_text_and_ignores_everything_after() {
        let mut chat = Conversation::new("c");
        let id = chat.submit("Hi", T).unwrap().reply_id;
        chat.apply(&id, delta("Partial"), T);
        assert_eq!(chat.stop(T).as_deref(), Some(id.as_str()));
        assert_eq!(chat.phase(), Phase::Idle);
        let stopped = reply(&chat, &id);

        // Bytes that were already in flight when Stop was pressed.
        assert!(!chat.apply(&id, delta(" more"), T));
        assert!(!chat.apply(&id, finish(), T));
        assert!(!chat.end_stream(&id, StreamEnd::Closed, T));
        assert!(!chat.fail(&id, "aborted", T));
        assert_eq!(reply(&chat, &id), stopped);
        assert_eq!(stopped.text, "Partial");
        assert_eq!(stopped.status, MessageStatus::Stopped);
    }

    #[test]
    fn stop_before_the_first_token_works_and_the_user_can_send_again() {
        let mut chat = Conversation::new("c");
        let first = chat.submit("Hi", T).unwrap().reply_id;
        assert!(chat.stop(T).is_some());
        assert_eq!(reply(&chat, &first).status, MessageStatus::Stopped);
        let second = chat.submit("Again", T).unwrap();
        assert_eq!(chat.phase(), Phase::Submitted);
        // The stopped reply is part of the history sent with the next request.
        assert_eq!(second.request.messages.len(), 3);
        // A late part for the first reply cannot touch the second.
        assert!(!chat.apply(&first, delta("late"), T));
        assert_eq!(reply(&chat, &second.reply_id).text, "");
    }

    #[test]
    fn stop_with_nothing_in_flight_does_nothing() {
        let mut chat = Conversation::new("c");
        assert_eq!(chat.stop(T), None);
        let id = chat.submit("Hi", T).unwrap().reply_id;
        chat.apply(&id, finish(), T);
        assert_eq!(chat.stop(T), None);
        assert_eq!(reply(&chat, &id).status, MessageStatus::Done);
    }

    #[test]
    fn errors_keep_the_partial_text() {
        let mut chat = Conversation::new("c");
        let id = chat.submit("Hi", T).unwrap().reply_id;
        chat.apply(&id, delta("Half"), T);
        chat.apply(&id, UiMessageChunk::Error { error_text: "upstream failed".into() }, T);
        let message = reply(&chat, &id);
        assert_eq!(message.status, MessageStatus::Error);
        assert_eq!(message.text, "Half");
        assert_eq!(message.error.as_deref(), Some("upstream failed"));
        assert_eq!(chat.phase(), Phase::Idle);
    }

    #[test]
    fn a_stream_that_closes_early_is_an_error_and_done_without_finish_is_done() {
        let mut chat = Conversation::new("c");
        let cut = chat.submit("Hi", T).unwrap().reply_id;
        chat.apply(&cut, delta("Half"), T);
        assert!(chat.end_stream(&cut, StreamEnd::Closed, T));
        assert_eq!(reply(&chat, &cut).status, MessageStatus::Error);

        let done = chat.submit("Again", T).unwrap().reply_id;
        chat.apply(&done, delta("Whole"), T);
        assert!(chat.end_stream(&done, StreamEnd::Done, T));
        assert_eq!(reply(&chat, &done).status, MessageStatus::Done);
    }

    #[test]
    fn an_abort_part_from_the_backend_marks_the_reply_stopped() {
        let mut chat = Conversation::new("c");
        let id = chat.submit("Hi", T).unwrap().reply_id;
        chat.apply(&id, delta("Some"), T);
        chat.apply(&id, UiMessageChunk::Abort { reason: None }, T);
        assert_eq!(reply(&chat, &id).status, MessageStatus::Stopped);
    }

    #[test]
    fn every_visible_change_bumps_the_revision() {
        let mut chat = Conversation::new("c");
        let id = chat.submit("Hi", T).unwrap().reply_id;
        let before = reply(&chat, &id).revision;
        chat.apply(&id, delta("a"), T);
        let after_delta = reply(&chat, &id).revision;
        assert!(after_delta > before);
        chat.stop(T);
        assert!(reply(&chat, &id).revision > after_delta);
        // Parts that change nothing visible leave it alone.
        let mut other = Conversation::new("d");
        let id = other.submit("Hi", T).unwrap().reply_id;
        assert!(!other.apply(&id, UiMessageChunk::StartStep, T));
        assert_eq!(reply(&other, &id).revision, 0);
    }

    fn finished_exchange(chat: &mut Conversation, question: &str, answer: &str) -> String {
        let id = chat.submit(question, T).unwrap().reply_id;
        chat.apply(&id, UiMessageChunk::Start { message_id: Some(format!("srv-{id}")) }, T);
        chat.apply(&id, delta(answer), T);
        chat.apply(&id, finish(), T);
        id
    }

    fn texts(chat: &Conversation) -> Vec<(Role, String)> {
        chat.messages().iter().map(|m| (m.role, m.text.clone())).collect()
    }

    #[test]
    fn regenerate_replaces_the_last_reply() {
        let mut chat = Conversation::new("c");
        let old = finished_exchange(&mut chat, "Q", "A");
        let pending = chat.regenerate(T).unwrap();
        assert_ne!(pending.reply_id, old);
        assert_eq!(texts(&chat), vec![(Role::User, "Q".into()), (Role::Assistant, "".into())]);
        assert_eq!(pending.request.trigger, "regenerate-message");
        assert_eq!(pending.request.message_id.as_deref(), Some(format!("srv-{old}").as_str()));
        assert_eq!(pending.request.messages.len(), 1, "the replaced reply is not sent");
        assert_eq!(chat.regenerate(T).unwrap_err(), ActionError::Busy);
    }

    #[test]
    fn regenerate_needs_a_reply_to_replace() {
        let mut chat = Conversation::new("c");
        assert_eq!(chat.regenerate(T).unwrap_err(), ActionError::NotApplicable);
    }

    #[test]
    fn continue_extends_a_stopped_reply_with_its_partial_text_in_the_request() {
        let mut chat = Conversation::new("c");
        let id = chat.submit("Q", T).unwrap().reply_id;
        chat.apply(&id, delta("Half"), T);
        chat.stop(T);
        let pending = chat.continue_reply(T).unwrap();
        assert_eq!(pending.reply_id, id, "the same message grows");
        let sent: Vec<_> =
            pending.request.messages.iter().map(|m| (m.role, m.parts.clone())).collect();
        assert_eq!(
            sent,
            vec![
                (Role::User, vec![UiMessagePart::Text { text: "Q".into() }]),
                (Role::Assistant, vec![UiMessagePart::Text { text: "Half".into() }]),
                (Role::User, vec![UiMessagePart::Text { text: CONTINUE_PROMPT.into() }]),
            ]
        );
        assert_eq!(chat.phase(), Phase::Submitted);
        chat.apply(&id, delta(" and the rest"), T);
        chat.apply(&id, finish(), T);
        assert_eq!(reply(&chat, &id).text, "Half and the rest");
        assert_eq!(reply(&chat, &id).status, MessageStatus::Done);
        assert_eq!(chat.messages().len(), 2, "the continue request is not shown");
    }

    #[test]
    fn only_a_stopped_last_reply_can_be_continued() {
        let mut chat = Conversation::new("c");
        finished_exchange(&mut chat, "Q", "A");
        assert_eq!(chat.continue_reply(T).unwrap_err(), ActionError::NotApplicable);
    }

    #[test]
    fn edit_and_resend_replaces_everything_after_the_edited_message() {
        let mut chat = Conversation::new("c");
        finished_exchange(&mut chat, "Q1", "A1");
        finished_exchange(&mut chat, "Q2", "A2");
        let first_question = chat.messages()[0].id.clone();
        let pending = chat.edit_and_resend(&first_question, "Q1 edited", T).unwrap();
        assert_eq!(
            texts(&chat),
            vec![(Role::User, "Q1 edited".into()), (Role::Assistant, "".into())]
        );
        assert_eq!(pending.request.messages.len(), 1);
        let assistant = chat.messages()[1].id.clone();
        chat.stop(T);
        assert_eq!(
            chat.edit_and_resend(&assistant, "x", T).unwrap_err(),
            ActionError::NotApplicable,
            "only user messages are edited"
        );
        assert_eq!(chat.edit_and_resend(&first_question, " ", T).unwrap_err(), ActionError::Empty);
    }

    #[test]
    fn long_replies_go_back_as_their_start_and_end() {
        let mut chat = Conversation::new("c");
        let long_question = "q".repeat(HISTORY_REPLY_CHARS * 2);
        let first = chat.submit(&long_question, 0.0).unwrap().reply_id;
        let reply = "é".repeat(HISTORY_REPLY_CHARS / 2)
            + &"x".repeat(100_000)
            + &"ü".repeat(HISTORY_REPLY_CHARS / 2);
        chat.apply(&first, UiMessageChunk::TextDelta { id: "t".into(), delta: reply.clone() }, 1.0);
        chat.end_stream(&first, StreamEnd::Done, 2.0);
        let request = chat.submit("next", 3.0).unwrap().request;
        let text = |index: usize| match &request.messages[index].parts[..] {
            [UiMessagePart::Text { text }] => text.clone(),
            parts => panic!("one text part, not {parts:?}"),
        };
        assert_eq!(text(0), long_question, "the user's own words go as written");
        let sent = text(1);
        assert_eq!(
            sent,
            "é".repeat(HISTORY_REPLY_CHARS / 2)
                + "\n\n[… 100000 characters left out …]\n\n"
                + &"ü".repeat(HISTORY_REPLY_CHARS / 2)
        );
        assert_eq!(chat.message(&first).unwrap().text, reply, "the reply on screen is whole");
        // A reply just at the limit goes whole.
        let mut chat = Conversation::new("d");
        let id = chat.submit("hi", 0.0).unwrap().reply_id;
        let exact = "a".repeat(HISTORY_REPLY_CHARS);
        chat.apply(&id, UiMessageChunk::TextDelta { id: "t".into(), delta: exact.clone() }, 1.0);
        chat.end_stream(&id, StreamEnd::Done, 2.0);
        let request = chat.submit("next", 3.0).unwrap().request;
        assert!(
            matches!(&request.messages[1].parts[..], [UiMessagePart::Text { text }] if *text == exact)
        );
    }

    #[test]
    fn a_reply_is_cut_at_its_size_limit_and_closed() {
        let mut chat = Conversation::new("c");
        let pending = chat.submit("hi", 0.0).unwrap();
        let id = pending.reply_id;
        let delta = |text: &str| UiMessageChunk::TextDelta { id: "t".into(), delta: text.into() };
        let big = "a".to_owned() + &"é".repeat(MAX_REPLY_BYTES / 2 - 2);
        assert!(chat.apply(&id, delta(&big), 1.0));
        assert!(chat.is_open(&id));
        // Three bytes of room: one "é" fits, the second would split a char.
        assert!(chat.apply(&id, delta("ééé"), 2.0));
        assert!(!chat.is_open(&id));
        let reply = chat.message(&id).unwrap();
        assert_eq!(reply.text.len(), MAX_REPLY_BYTES - 1);
        assert_eq!(reply.status, MessageStatus::Error);
        assert_eq!(reply.error.as_deref(), Some(REPLY_TOO_LONG));
        assert!(!chat.apply(&id, delta("more"), 3.0), "nothing is added after the cut");
    }

    #[test]
    fn stats_time_the_reply_and_keep_the_usage() {
        let mut chat = Conversation::new("c");
        let id = chat.submit("Q", 1_000.0).unwrap().reply_id;
        chat.apply(&id, delta("a"), 1_300.0);
        chat.apply(&id, delta("b"), 1_800.0);
        let usage =
            Usage { input_tokens: 4, output_tokens: 20, total_tokens: 24, reasoning_tokens: None };
        let metadata = crate::protocol::MessageMetadata { usage: Some(usage), receipt: None };
        chat.apply(
            &id,
            UiMessageChunk::Finish { finish_reason: None, message_metadata: Some(metadata) },
            2_300.0,
        );
        let stats = reply(&chat, &id).stats.unwrap();
        assert_eq!(stats.time_to_first_token(), Some(300.0));
        assert_eq!(stats.deltas, 2);
        assert_eq!(stats.usage, Some(usage));
        // 20 reported tokens over the 1 s from the first token to the end.
        assert_eq!(stats.tokens_per_second(), Some(20.0));
        // Saved and read back, the counts are the same; a save without them
        // (or with something else there) reads as none.
        let saved = serde_json::to_string(&chat).unwrap();
        let restored = serde_json::from_str::<Conversation>(&saved).unwrap();
        assert_eq!(reply(&restored, &id).stats.unwrap().usage, Some(usage));
        for usage in [r#""#, r#","usage":null"#, r#","usage":"lots""#] {
            let stats = format!(
                r#"{{"asked_at":1,"first_token_at":null,"ended_at":null,"deltas":0{usage}}}"#
            );
            let stats: ReplyStats = serde_json::from_str(&stats).unwrap();
            assert_eq!(stats.usage, None, "{usage}");
        }
    }

    #[test]
    fn a_saved_conversation_comes_back_with_its_streaming_reply_stopped() {
        let mut chat = Conversation::new("c");
        finished_exchange(&mut chat, "Q1", "A1");
        let streaming = chat.submit("Q2", T).unwrap().reply_id;
        chat.apply(&streaming, delta("Part"), T);
        let saved = serde_json::to_string(&chat).unwrap();

        let mut restored = serde_json::from_str::<Conversation>(&saved).unwrap().restored();
        assert_eq!(restored.phase(), Phase::Idle);
        assert_eq!(reply(&restored, &streaming).status, MessageStatus::Stopped);
        assert_eq!(reply(&restored, &streaming).text, "Part");
        assert_eq!(texts(&restored), texts(&chat));
        // New messages do not reuse old ids.
        let next = restored.submit("Q3", T).unwrap().reply_id;
        assert!(chat.messages().iter().all(|m| m.id != next));
    }

    fn start(id: &str) -> UiMessageChunk {
        UiMessageChunk::Start { message_id: Some(id.into()) }
    }

    #[test]
    fn a_reply_the_server_keeps_comes_back_open_and_its_replay_replaces_its_text() {
        let mut chat = Conversation::new("c");
        finished_exchange(&mut chat, "Q1", "A1");
        let kept = chat.submit("Q2", T).unwrap().reply_id;
        // The response head says the server keeps it, before any part.
        chat.mark_resumable(&kept);
        chat.apply(&kept, start("msg_1"), T);
        chat.apply(&kept, delta("Hel"), T);
        assert_eq!(chat.to_stop_on_leaving(), None, "kept: a reload resumes it");
        let saved = serde_json::to_string(&chat).unwrap();

        let mut restored = serde_json::from_str::<Conversation>(&saved).unwrap().restored();
        assert_eq!(restored.resuming(), Some((kept.clone(), "msg_1".to_owned())));
        assert!(restored.phase().is_busy(), "Stop is offered while it resumes");
        // The stream comes again from its start.
        restored.apply(&kept, start("msg_1"), T);
        for part in ["Hel", "lo"] {
            restored.apply(&kept, delta(part), T);
        }
        restored.apply(&kept, finish(), T);
        assert_eq!(reply(&restored, &kept).text, "Hello");
        assert_eq!(reply(&restored, &kept).status, MessageStatus::Done);
        assert_eq!(reply(&restored, "c-2").text, "A1", "earlier replies untouched");
    }

    #[test]
    fn a_reply_the_server_does_not_keep_is_stopped_when_the_page_goes_and_comes_back_stopped() {
        let mut chat = Conversation::new("c");
        let reply_id = chat.submit("Q", T).unwrap().reply_id;
        assert_eq!(chat.to_stop_on_leaving(), None, "no id to stop before the start part");
        chat.apply(&reply_id, start("msg_1"), T);
        chat.apply(&reply_id, delta("Part"), T);
        assert_eq!(chat.to_stop_on_leaving(), Some("msg_1"));
        let saved = serde_json::to_string(&chat).unwrap();
        let restored = serde_json::from_str::<Conversation>(&saved).unwrap().restored();
        assert_eq!(restored.resuming(), None);
        assert_eq!(reply(&restored, &reply_id).status, MessageStatus::Stopped);
    }

    #[test]
    fn a_kept_reply_the_server_no_longer_has_ends_stopped_with_its_text() {
        let mut chat = Conversation::new("c");
        let kept = chat.submit("Q", T).unwrap().reply_id;
        chat.mark_resumable(&kept);
        chat.apply(&kept, start("msg_1"), T);
        chat.apply(&kept, delta("Part"), T);
        let saved = serde_json::to_string(&chat).unwrap();
        let mut restored = serde_json::from_str::<Conversation>(&saved).unwrap().restored();
        assert!(restored.end_stream(&kept, StreamEnd::Gone, T));
        assert_eq!(reply(&restored, &kept).status, MessageStatus::Stopped);
        assert_eq!(reply(&restored, &kept).text, "Part");
        assert_eq!(restored.resuming(), None);
    }

    #[test]
    fn a_resumed_continuation_keeps_what_came_before_it() {
        let mut chat = Conversation::new("c");
        let first = chat.submit("Q", T).unwrap().reply_id;
        chat.apply(&first, start("msg_1"), T);
        chat.apply(&first, delta("Once upon"), T);
        chat.stop(T);
        chat.continue_reply(T).unwrap();
        chat.mark_resumable(&first);
        chat.apply(&first, start("msg_2"), T);
        chat.apply(&first, delta(" a time"), T);
        let saved = serde_json::to_string(&chat).unwrap();
        let mut restored = serde_json::from_str::<Conversation>(&saved).unwrap().restored();
        assert_eq!(restored.resuming(), Some((first.clone(), "msg_2".to_owned())));
        restored.apply(&first, start("msg_2"), T);
        restored.apply(&first, delta(" a time, the end"), T);
        assert_eq!(reply(&restored, &first).text, "Once upon a time, the end");
    }

    #[test]
    fn a_stored_offset_past_the_text_or_inside_a_character_is_clamped() {
        for (from, kept) in [(u64::MAX, "héllo"), (2, "h"), (99, "héllo"), (0, "")] {
            let mut chat = Conversation::new("c");
            let id = chat.submit("Q", T).unwrap().reply_id;
            chat.mark_resumable(&id);
            chat.apply(&id, start("msg_1"), T);
            chat.apply(&id, delta("héllo"), T);
            let mut saved: serde_json::Value = serde_json::to_value(&chat).unwrap();
            saved["messages"][1]["kept_from"] = from.into();
            let mut restored = serde_json::from_value::<Conversation>(saved).unwrap().restored();
            restored.apply(&id, start("msg_1"), T);
            assert_eq!(reply(&restored, &id).text, kept, "kept_from {from}");
        }
    }

    #[test]
    fn only_the_last_reply_is_resumed() {
        let mut chat = Conversation::new("c");
        let kept = chat.submit("Q", T).unwrap().reply_id;
        chat.apply(&kept, start("msg_1"), T);
        chat.mark_resumable(&kept);
        let mut saved: serde_json::Value = serde_json::to_value(&chat).unwrap();
        // A hand-edited save with a user message after the open reply.
        let mut user = saved["messages"][0].clone();
        user["id"] = "c-9".into();
        saved["messages"].as_array_mut().unwrap().push(user);
        let restored = serde_json::from_value::<Conversation>(saved).unwrap().restored();
        assert_eq!(restored.resuming(), None);
        assert_eq!(reply(&restored, &kept).status, MessageStatus::Stopped);
    }

    #[test]
    fn statuses_and_roles_are_read_by_their_names_only() {
        use MessageStatus::*;
        for status in [Pending, Streaming, Done, Stopped, Error] {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(serde_json::from_str::<MessageStatus>(&json).unwrap(), status);
        }
        for role in [Role::System, Role::User, Role::Assistant] {
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
        for bad in [r#""Done""#, r#""paused""#, "0", "null", r#"["done"]"#] {
            assert!(serde_json::from_str::<MessageStatus>(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<Role>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn clear_starts_a_new_chat() {
        let mut chat = Conversation::new("c");
        finished_exchange(&mut chat, "Q", "A");
        chat.clear("d");
        assert!(chat.messages().is_empty());
        assert_eq!(chat.chat_id(), "d");
    }

    #[test]
    fn a_receipt_is_noted_under_a_stopped_reply_only() {
        let mut chat = Conversation::new("c");
        let first = chat.submit("Hi", 0.0).unwrap().reply_id;
        assert_eq!(chat.to_stop_on_leaving(), None, "before the start part");
        chat.apply(&first, UiMessageChunk::Start { message_id: Some("msg_1".into()) }, 1.0);
        assert_eq!(chat.to_stop_on_leaving(), Some("msg_1"));
        let stopped = chat.stop(2.0).unwrap();
        assert_eq!(chat.to_stop_on_leaving(), None, "nothing in flight");
        let before = reply(&chat, &stopped).revision;
        chat.note_receipt(&stopped, "Stopped after 1 token.".into());
        assert_eq!(reply(&chat, &stopped).receipt.as_deref(), Some("Stopped after 1 token."));
        assert!(reply(&chat, &stopped).revision > before, "redrawn");

        let finished = chat.submit("Again", 3.0).unwrap().reply_id;
        chat.note_receipt(&finished, "Stopped after 1 token.".into());
        assert_eq!(reply(&chat, &finished).receipt, None, "not stopped");
    }
}
