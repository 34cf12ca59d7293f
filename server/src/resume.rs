//! Replies that outlive their connection for a while, so a reload or a
//! dropped connection can pick them up again (`REINS_RESUME_WINDOW_MS`).
//!
//! With no window (the default) none of this runs: the reply stream is the
//! response body, and a client that leaves drops the upstream at once.
//! With a window, a task of its own reads the reply into a [`Replay`] and
//! the response follows that; when nobody has followed it for the window,
//! the task drops the reply, and with it the upstream request. A Stop ends
//! it at once either way: it cancels the reply itself, not a reader.
//!
//! With Redis, the parts are also written to a Redis stream, so a client
//! that comes back through another replica reads them there, and keeps a
//! lease that tells the replica holding the reply someone is still
//! watching. The cost, as the README says: a tab closed for good lets its
//! reply run for at most the window.

mod replay;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::time::Instant;

use app::protocol::UiMessageChunk;

pub use self::replay::{Frame, Replay};
use crate::metrics::Metrics;
use crate::registry::{Registry, Unavailable, is_plain_id, unix_us};
use crate::relay::reply::{self, ReplyStream};
use crate::trust::Client;

/// The replies this process keeps for resuming, and where to find the
/// others. Cloning shares them.
#[derive(Clone, Debug)]
pub struct Replays {
    window: Duration,
    /// How long a reader on another replica waits for a new part before it
    /// decides the replica holding the reply is gone.
    silence_limit: Duration,
    registry: Registry,
    metrics: Metrics,
    held: Arc<Mutex<Held>>,
}

/// The most ended replies this process keeps for resuming; past it, the
/// oldest is forgotten first. Each holds its parts (a reply of
/// `REINS_MAX_TOKENS` tokens is some tens of KB), and with a long window a
/// client making many short chats would otherwise make memory grow with the
/// window; running replies are bounded by the stream limits already.
const MAX_ENDED_KEPT: usize = 1_000;

/// A chat, as the AI SDK names it, of one client.
type ChatKey = (Client, String);

/// The replies held here, until a window after they end.
#[derive(Debug, Default)]
struct Held {
    by_message: HashMap<String, Replay>,
    /// The latest reply of each client's chat: the AI SDK resumes by chat id.
    by_chat: HashMap<ChatKey, String>,
    /// Ended replies still kept, oldest first (some forgotten already, by
    /// their window).
    ended: VecDeque<(String, Option<ChatKey>)>,
}

impl Held {
    fn forget(&mut self, message_id: &str, chat: Option<&ChatKey>) {
        self.by_message.remove(message_id);
        if let Some(chat) = chat
            && self.by_chat.get(chat).is_some_and(|latest| latest == message_id)
        {
            self.by_chat.remove(chat);
        }
    }

    /// Notes that a reply ended, and forgets the oldest ended ones past `most`.
    fn ended(&mut self, message_id: String, chat: Option<ChatKey>, most: usize) {
        self.ended.push_back((message_id, chat));
        while self.ended.len() > most {
            if let Some((message_id, chat)) = self.ended.pop_front() {
                self.forget(&message_id, chat.as_ref());
            }
        }
    }
}

/// The reply a resume request found.
pub enum Found {
    /// No reply to resume: never one, over, or past its window.
    Nothing,
    /// Its parts from the first, then the rest as they come.
    Parts(BoxStream<'static, Frame>),
}

impl Replays {
    /// `window` zero turns resuming off.
    pub fn new(
        window: Duration,
        silence_limit: Duration,
        registry: Registry,
        metrics: Metrics,
    ) -> Self {
        Self { window, silence_limit, registry, metrics, held: Arc::default() }
    }

    /// The window, when resuming is on.
    pub fn window(&self) -> Option<Duration> {
        (!self.window.is_zero()).then_some(self.window)
    }

    /// Hands `reply` to a task of its own, kept for resuming under
    /// `message_id` (and `chat_id` for `client`), and returns the parts for
    /// the client that asked, as JSON.
    pub fn keep(
        &self,
        message_id: String,
        client: Client,
        chat_id: Option<String>,
        reply: ReplyStream,
    ) -> impl Stream<Item = Frame> + Send + use<> {
        let replay = Replay::default();
        // Following before the task starts: the asking client counts as
        // watching from the first part.
        let parts = replay.follow();
        let chat = chat_id.map(|chat_id| (client, chat_id));
        {
            let mut held = lock(&self.held);
            held.by_message.insert(message_id.clone(), replay.clone());
            if let Some(chat) = &chat {
                held.by_chat.insert(chat.clone(), message_id.clone());
            }
        }
        if let Some((client, chat_id)) = &chat {
            self.registry.remember_chat(client, chat_id, &message_id);
        }
        tokio::spawn(self.clone().produce(message_id, chat, reply, replay));
        parts
    }

    /// Reads the reply into its replay (and Redis) until it ends, or until
    /// nobody has watched for the window; then keeps the replay for one
    /// more window, for a client that comes back after the end.
    async fn produce(
        self,
        message_id: String,
        chat: Option<ChatKey>,
        reply: ReplyStream,
        replay: Replay,
    ) {
        let mirror = self.registry.mirror(&message_id, self.window);
        let unwatched = self.unwatched(&message_id, &replay);
        tokio::pin!(unwatched);
        let mut reply = reply;
        let abandoned = loop {
            let part = tokio::select! {
                biased;
                left = &mut unwatched => {
                    // The receipt says when the client went, not when the
                    // window ran out.
                    reply.client_left(unix_us().saturating_sub(left.elapsed().as_micros() as u64));
                    break true;
                }
                part = reply.next() => part,
            };
            let Some(part) = part else { break false };
            let frame = frame(&part);
            if let Some(mirror) = &mirror {
                mirror.push(frame.clone());
            }
            replay.push(frame);
        };
        // Dropping the reply records how it ended; when it was abandoned,
        // it drops the upstream request and records that its client went.
        drop(reply);
        if abandoned {
            self.metrics.reply_abandoned();
            tracing::info!(message_id, "nobody came back within the resume window");
            lock(&self.held).forget(&message_id, chat.as_ref());
            replay.end();
            if let Some(mirror) = mirror {
                mirror.discard();
            }
            return;
        }
        replay.end();
        if let Some(mirror) = mirror {
            mirror.end();
        }
        lock(&self.held).ended(message_id.clone(), chat.clone(), MAX_ENDED_KEPT);
        tokio::time::sleep(self.window).await;
        lock(&self.held).forget(&message_id, chat.as_ref());
    }

    /// Resolves once nobody has followed the reply for the window, here or,
    /// with Redis, on another replica; to about when the last one went.
    async fn unwatched(&self, message_id: &str, replay: &Replay) -> Instant {
        let mut leased = false;
        loop {
            let left_here = replay.unwatched_for(self.window).await;
            match self.registry.lease_left(message_id).await {
                Ok(Some(lease)) => {
                    leased = true;
                    tokio::time::sleep(lease).await;
                }
                // Without Redis nobody can tell whether a client is reading
                // elsewhere; the promise kept is the bound on cost.
                Ok(None) | Err(Unavailable(_)) => {
                    // A lease that ran out just now was renewed a window
                    // ago, and its reader left within a third of one after.
                    let left_there = leased.then(|| Instant::now() - self.window);
                    return left_there.map_or(left_here, |there| there.max(left_here));
                }
            }
        }
    }

    /// The reply `id` names: a message id (the capability, whoever asks),
    /// else a chat id of `client`'s (the AI SDK's resume route).
    pub async fn find(&self, id: &str, client: &Client) -> Result<Found, Unavailable> {
        if self.window.is_zero() || !is_plain_id(id) {
            return Ok(Found::Nothing);
        }
        if let Some(found) = self.find_message(id).await? {
            return Ok(found);
        }
        let held_here = lock(&self.held).by_chat.get(&(client.clone(), id.to_owned())).cloned();
        let message_id = match held_here {
            Some(message_id) => Some(message_id),
            None => self.registry.chat_reply(client, id).await?,
        };
        Ok(match message_id {
            Some(message_id) => self.find_message(&message_id).await?.unwrap_or(Found::Nothing),
            None => Found::Nothing,
        })
    }

    async fn find_message(&self, message_id: &str) -> Result<Option<Found>, Unavailable> {
        let held_here = lock(&self.held).by_message.get(message_id).cloned();
        if let Some(replay) = held_here {
            self.metrics.reply_resumed();
            return Ok(Some(Found::Parts(replay.follow().boxed())));
        }
        let elsewhere =
            self.registry.follow_parts(message_id, self.window, self.silence_limit).await?;
        Ok(elsewhere.map(|parts| {
            self.metrics.reply_resumed();
            Found::Parts(parts)
        }))
    }
}

/// A part's JSON ([`reply::json`]), to be kept and shared.
pub fn frame(part: &UiMessageChunk) -> Frame {
    Arc::from(reply::json(part))
}

/// The maps change by single inserts and removes: a poisoned lock is still good.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    const A: Client = Client::Address(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));

    fn held_reply(held: &mut Held, id: &str, chat: &str) -> Option<ChatKey> {
        let chat = Some((A, chat.to_owned()));
        held.by_message.insert(id.to_owned(), Replay::default());
        held.by_chat.insert(chat.clone().unwrap(), id.to_owned());
        chat
    }

    #[test]
    fn past_the_most_ended_replies_the_oldest_are_forgotten_first() {
        let mut held = Held::default();
        for n in 0..5 {
            let chat = held_reply(&mut held, &format!("msg_{n}"), &format!("chat-{n}"));
            held.ended(format!("msg_{n}"), chat, 3);
        }
        let mut kept: Vec<_> = held.by_message.keys().cloned().collect();
        kept.sort();
        assert_eq!(kept, ["msg_2", "msg_3", "msg_4"]);
        assert_eq!(held.by_chat.len(), 3);
        assert_eq!(held.ended.len(), 3);
    }

    #[test]
    fn forgetting_a_reply_leaves_a_newer_reply_of_its_chat() {
        let mut held = Held::default();
        let chat = held_reply(&mut held, "msg_old", "chat");
        held_reply(&mut held, "msg_new", "chat");
        held.forget("msg_old", chat.as_ref());
        assert_eq!(held.by_chat.get(&(A, "chat".to_owned())).map(String::as_str), Some("msg_new"));
        assert!(held.by_message.contains_key("msg_new"));
        assert!(!held.by_message.contains_key("msg_old"));
    }
}
