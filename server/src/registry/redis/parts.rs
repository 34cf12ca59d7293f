//! A kept reply's parts in Redis, for a client that comes back through
//! another replica (only when resuming is on).
//!
//! Keys: `{prefix}:parts:{message id}` is a Redis stream of the parts: an
//! entry per batch of parts written together (`p`: their JSON, a line
//! each; JSON has no raw line breaks), then an `end` entry; it lives a
//! receipt's time to live while the reply runs (set with its first batch,
//! and again every minute), and the resume window once it has ended. `{prefix}:watching:{message id}` is the lease a reader
//! elsewhere keeps while it follows, renewed every third of the window, so
//! the replica holding the reply knows to keep it. `{prefix}:chat:{client}:
//! {chat id}` names the latest reply of a client's chat.
//!
//! The holder's writes are batched (everything ready goes in one entry,
//! so a burst of parts costs one command, not one per part); a
//! reader elsewhere blocks on `XREAD` on a connection of its own, since a
//! blocking command would hold up every other command on the shared one.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamReadOptions, StreamReadReply};
use tokio::sync::mpsc;

use app::protocol::UiMessageChunk;

use super::{REDIS_TIMEOUT, RedisRegistry};
use crate::registry::Unavailable;
use crate::resume::{Frame, frame};
use crate::trust::Client;

/// How often a running reply's parts have their time to live set again
/// (or at half a receipt's time to live, if that is shorter).
const EXPIRY_RENEWAL: Duration = Duration::from_secs(60);

/// How long one `XREAD` waits for a new part before the reader looks
/// around (renews its lease, checks the reply is still there).
const BLOCK: Duration = Duration::from_secs(1);

/// What the reply's parts in Redis are told.
enum Mirrored {
    Part(Frame),
    /// The reply ended: keep its parts for the window.
    End,
    /// The reply was dropped unread: nobody will resume it.
    Discard,
}

/// Writes a reply's parts to Redis as they come, from a task of its own,
/// so the reply never waits on Redis.
pub struct PartsMirror {
    parts: mpsc::UnboundedSender<Mirrored>,
}

impl PartsMirror {
    pub fn push(&self, part: Frame) {
        let _ = self.parts.send(Mirrored::Part(part));
    }

    pub fn end(self) {
        let _ = self.parts.send(Mirrored::End);
    }

    pub fn discard(self) {
        let _ = self.parts.send(Mirrored::Discard);
    }
}

/// Why a reader elsewhere had to give up.
const LOST: &str = "This reply can no longer be followed: the server writing it cannot be reached.";

impl RedisRegistry {
    fn parts_key(&self, message_id: &str) -> String {
        format!("{}:parts:{message_id}", self.prefix)
    }

    fn lease_key(&self, message_id: &str) -> String {
        format!("{}:watching:{message_id}", self.prefix)
    }

    fn chat_key(&self, client: &Client, chat_id: &str) -> String {
        format!("{}:chat:{client}:{chat_id}", self.prefix)
    }

    /// Starts writing the parts of `message_id` to Redis.
    pub fn mirror(&self, message_id: &str, window: Duration) -> PartsMirror {
        let (parts, queued) = mpsc::unbounded_channel();
        tokio::spawn(self.clone().write_parts(self.parts_key(message_id), queued, window));
        PartsMirror { parts }
    }

    async fn write_parts(
        self,
        key: String,
        mut queued: mpsc::UnboundedReceiver<Mirrored>,
        window: Duration,
    ) {
        let mut batch = Vec::new();
        let mut expiry_set: Option<Instant> = None;
        let renewal = EXPIRY_RENEWAL.min(Duration::from_secs(self.ttl_secs) / 2);
        while queued.recv_many(&mut batch, 256).await > 0 {
            let mut pipeline = redis::pipe();
            let mut parts = String::new();
            let mut last = None;
            for item in batch.drain(..) {
                match item {
                    Mirrored::Part(part) => {
                        if !parts.is_empty() {
                            parts.push('\n');
                        }
                        parts.push_str(&part);
                    }
                    Mirrored::End => last = Some(Mirrored::End),
                    Mirrored::Discard => last = Some(Mirrored::Discard),
                }
            }
            if !parts.is_empty() {
                pipeline.xadd(&key, "*", &[("p", &parts)]).ignore();
            }
            match last {
                Some(Mirrored::End) => {
                    pipeline.xadd(&key, "*", &[("end", "1")]).ignore();
                    pipeline.pexpire(&key, millis(window)).ignore();
                }
                Some(Mirrored::Discard) => {
                    pipeline.del(&key).ignore();
                }
                _ if expiry_set.is_none_or(|at| at.elapsed() >= renewal) => {
                    pipeline.expire(&key, self.ttl_secs as i64).ignore();
                    expiry_set = Some(Instant::now());
                }
                _ => {}
            }
            let written: redis::RedisResult<()> =
                pipeline.query_async(&mut self.commands.clone()).await;
            if let Err(error) = written {
                // A gap in the parts would show a reader elsewhere a reply
                // with words missing. Without them, it is told the reply
                // cannot be followed; a client back on this replica still
                // reads it whole, from memory.
                self.unavailable(&error);
                tracing::warn!(key, "could not write a reply's parts; it resumes here only");
                let _: redis::RedisResult<()> = self.commands.clone().del(&key).await;
                return;
            }
            if last.is_some() {
                return;
            }
        }
    }

    /// Remembers that `message_id` is the latest reply of `client`'s chat.
    pub fn remember_chat(&self, client: &Client, chat_id: &str, message_id: &str) {
        let registry = self.clone();
        let key = self.chat_key(client, chat_id);
        let message_id = message_id.to_owned();
        tokio::spawn(async move {
            let written: redis::RedisResult<()> =
                registry.commands.clone().set_ex(&key, message_id, registry.ttl_secs).await;
            if let Err(error) = written {
                registry.unavailable(&error);
            }
        });
    }

    /// The latest reply of `client`'s chat `chat_id`, if one is known.
    pub async fn chat_reply(
        &self,
        client: &Client,
        chat_id: &str,
    ) -> Result<Option<String>, Unavailable> {
        let found: Option<String> = self
            .commands
            .clone()
            .get(self.chat_key(client, chat_id))
            .await
            .map_err(|error| self.unavailable(&error))?;
        Ok(found.filter(|id| crate::registry::is_plain_id(id)))
    }

    /// How much longer a reader elsewhere has said it is watching
    /// `message_id`; `None` when nobody is.
    pub async fn lease_left(&self, message_id: &str) -> Result<Option<Duration>, Unavailable> {
        let left: i64 = redis::cmd("PTTL")
            .arg(self.lease_key(message_id))
            .query_async(&mut self.commands.clone())
            .await
            .map_err(|error| self.unavailable(&error))?;
        Ok((left > 0).then(|| Duration::from_millis(left as u64)))
    }

    /// The parts of `message_id` from the first, then the rest as they are
    /// written, until its end; `None` when Redis holds none. While it is
    /// read, a lease of `window` says someone is watching.
    pub async fn follow_parts(
        &self,
        message_id: &str,
        window: Duration,
        silence_limit: Duration,
    ) -> Result<Option<BoxStream<'static, Frame>>, Unavailable> {
        let key = self.parts_key(message_id);
        let mut commands = self.commands.clone();
        let exists: bool = commands.exists(&key).await.map_err(|error| self.unavailable(&error))?;
        if !exists {
            return Ok(None);
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(BLOCK + REDIS_TIMEOUT));
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|error| self.unavailable(&error))?;
        let reader = Reader {
            registry: self.clone(),
            lease_key: self.lease_key(message_id),
            key,
            connection,
            window,
            silence_limit,
            after: "0".into(),
            ready: VecDeque::new(),
            leased_at: None,
            heard_at: Instant::now(),
            ended: false,
        };
        Ok(Some(stream::unfold(reader, Reader::next).boxed()))
    }
}

/// One client following a reply held by another replica.
struct Reader {
    registry: RedisRegistry,
    key: String,
    lease_key: String,
    connection: MultiplexedConnection,
    window: Duration,
    silence_limit: Duration,
    /// The id of the last entry read.
    after: String,
    ready: VecDeque<Frame>,
    leased_at: Option<Instant>,
    /// When the last entry came.
    heard_at: Instant,
    ended: bool,
}

impl Reader {
    async fn next(mut self) -> Option<(Frame, Self)> {
        loop {
            if let Some(part) = self.ready.pop_front() {
                return Some((part, self));
            }
            if self.ended {
                return None;
            }
            if let Err(error) = self.read().await {
                self.registry.unavailable(&error);
                self.ended = true;
                self.ready.push_back(frame(&UiMessageChunk::Error { error_text: LOST.into() }));
            }
        }
    }

    /// Renews the lease when a third of it has gone, then waits up to
    /// [`BLOCK`] for new entries.
    async fn read(&mut self) -> redis::RedisResult<()> {
        if self.leased_at.is_none_or(|at| at.elapsed() >= self.window / 3) {
            let mut commands = self.registry.commands.clone();
            let () =
                commands.pset_ex(&self.lease_key, 1, millis(self.window).max(1) as u64).await?;
            self.leased_at = Some(Instant::now());
        }
        let options = StreamReadOptions::default().count(256).block(BLOCK.as_millis() as usize);
        let read: Option<StreamReadReply> =
            self.connection.xread_options(&[&self.key], &[&self.after], &options).await?;
        let entries = read.into_iter().flat_map(|read| read.keys).flat_map(|key| key.ids);
        let mut heard = false;
        for entry in entries {
            heard = true;
            self.after = entry.id.clone();
            if entry.map.contains_key("end") {
                self.ended = true;
                return Ok(());
            }
            // Redis is ours, but what it holds is read as carefully as
            // anything else: a line that is not a part is skipped.
            let parts = entry.get::<String>("p").unwrap_or_default();
            for part in parts.split('\n') {
                if serde_json::from_str::<UiMessageChunk>(part).is_ok() {
                    self.ready.push_back(Frame::from(part));
                }
            }
        }
        if heard {
            self.heard_at = Instant::now();
            return Ok(());
        }
        // Nothing new: the parts may be gone (their writer failed), or the
        // replica writing them may have died without an end.
        let exists: bool = self.registry.commands.clone().exists(&self.key).await?;
        if !exists || self.heard_at.elapsed() > self.silence_limit {
            self.ended = true;
            self.ready.push_back(frame(&UiMessageChunk::Error { error_text: LOST.into() }));
        }
        Ok(())
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
