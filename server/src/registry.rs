//! What the server knows about each reply: its [`Receipt`] (where it is in
//! its life, what was relayed, when a stop reached it and when the model
//! API's connection was dropped), and, with several replicas, how a stop
//! sent to any of them reaches the one that holds the stream.
//!
//! Two backends. In memory, the default, for one process. In Redis
//! (`REINS_REDIS_URL`), shared by every replica: each reply's receipt is one
//! key with a time to live, written when the reply opens and when it ends
//! (never per token), and a stop that arrives at a replica that does not
//! hold the stream is published on one channel per deployment, which every
//! replica listens to; the one holding the stream cancels it.
//!
//! Why pub/sub and not a key per stream that its owner watches: a watch
//! means a blocking read or keyspace notifications per open stream, so a
//! Redis connection or a server setting per stream, while one channel costs
//! one connection per replica and one `PUBLISH` per stop, delivered in one
//! round trip (see the README for the measured figure).
//!
//! The live part of a stream (its cancellation token) stays in
//! [`Streams`](crate::streams::Streams): only the process that holds the
//! upstream connection can drop it.

mod memory;
mod redis;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::stream::BoxStream;

use app::protocol::{Receipt, ReplyState};

pub use self::memory::MemoryRegistry;
pub use self::redis::{PartsMirror, RedisRegistry, RedisSettings, SharedLimits};
use crate::config::Limits;
use crate::demo::{Generation, Generations};
use crate::metrics::Metrics;
use crate::resume::Frame;
use crate::streams::Streams;
use crate::trust::Client;

/// The record of every reply, in memory or in Redis. Cloning shares it.
#[derive(Clone, Debug)]
pub enum Registry {
    Memory(MemoryRegistry),
    // Boxed: the connection manager is large, and the registry is cloned
    // into every request's state.
    Redis(Box<RedisRegistry>),
}

/// Redis could not be reached or answered nonsense; the detail is logged.
#[derive(Debug, thiserror::Error)]
#[error("the stream registry is unavailable: {0}")]
pub struct Unavailable(pub String);

/// What a stop request did, beyond the streams this replica holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopElsewhere {
    /// The replica holding the stream was told.
    Sent,
    /// The reply already ended stopped (by request, or its client left).
    AlreadyStopped,
    /// The reply already ended otherwise: completed or failed.
    Ended,
    /// No reply has this id (or its receipt expired).
    Unknown,
    /// The record says streaming, but no replica listens for stops: its
    /// holder is gone or reconnecting to Redis.
    NobodyListening,
}

impl Registry {
    /// Records that the reply `message_id` has begun streaming here. With
    /// Redis, a new stream is refused when this fails: a stop sent to
    /// another replica could not find it.
    pub async fn open(&self, message_id: &str) -> Result<(), Unavailable> {
        let receipt = streaming();
        match self {
            Self::Memory(memory) => {
                memory.put(message_id, receipt);
                Ok(())
            }
            Self::Redis(redis) => redis.put(message_id, &receipt).await,
        }
    }

    /// Records how the reply ended. Called where the stream is dropped,
    /// which cannot wait: the Redis write runs by itself, and a failure is
    /// logged and counted (the reply is over either way).
    pub fn finish(&self, message_id: &str, receipt: Receipt) {
        match self {
            Self::Memory(memory) => memory.put(message_id, receipt.summarized()),
            Self::Redis(redis) => redis.put_later(message_id.to_owned(), receipt.summarized()),
        }
    }

    /// The receipt of the reply `message_id`, if there is one.
    pub async fn receipt(&self, message_id: &str) -> Result<Option<Receipt>, Unavailable> {
        if !is_plain_id(message_id) {
            return Ok(None);
        }
        match self {
            Self::Memory(memory) => Ok(memory.get(message_id)),
            Self::Redis(redis) => redis.get(message_id).await,
        }
    }

    /// Passes a stop for a reply this replica does not hold to the one that
    /// does, or says why there is nothing to stop. `noticed_at_us` is when the
    /// request arrived (Unix µs), for the receipt.
    pub async fn stop_elsewhere(
        &self,
        message_id: &str,
        noticed_at_us: u64,
    ) -> Result<StopElsewhere, Unavailable> {
        let Some(receipt) = self.receipt(message_id).await? else {
            return Ok(StopElsewhere::Unknown);
        };
        Ok(match receipt.state {
            state if state.is_stopped() => StopElsewhere::AlreadyStopped,
            ReplyState::Streaming => match self {
                Self::Redis(redis) => redis.publish_stop(message_id, noticed_at_us).await?,
                // In one process, a streaming reply is in `Streams` until
                // its receipt is final: this one ended a moment ago.
                Self::Memory(_) => StopElsewhere::Ended,
            },
            _ => StopElsewhere::Ended,
        })
    }

    /// Starts writing a kept reply's parts where other replicas can read
    /// them (Redis only: in one process, the replay in memory is all).
    pub fn mirror(&self, message_id: &str, window: Duration) -> Option<PartsMirror> {
        match self {
            Self::Memory(_) => None,
            Self::Redis(redis) => Some(redis.mirror(message_id, window)),
        }
    }

    /// Remembers `message_id` as the latest reply of `client`'s chat, for
    /// a resume through another replica (Redis only).
    pub fn remember_chat(&self, client: &Client, chat_id: &str, message_id: &str) {
        if let Self::Redis(redis) = self {
            redis.remember_chat(client, chat_id, message_id);
        }
    }

    /// The latest reply of `client`'s chat that another replica remembered.
    pub async fn chat_reply(
        &self,
        client: &Client,
        chat_id: &str,
    ) -> Result<Option<String>, Unavailable> {
        match self {
            Self::Memory(_) => Ok(None),
            Self::Redis(redis) => redis.chat_reply(client, chat_id).await,
        }
    }

    /// How much longer a reader on another replica has said it follows
    /// `message_id`; `None` when nobody does.
    pub async fn lease_left(&self, message_id: &str) -> Result<Option<Duration>, Unavailable> {
        match self {
            Self::Memory(_) => Ok(None),
            Self::Redis(redis) => redis.lease_left(message_id).await,
        }
    }

    /// The parts of a reply kept by another replica, from the first, then
    /// the rest as they come; `None` when no replica keeps it.
    pub async fn follow_parts(
        &self,
        message_id: &str,
        window: Duration,
        silence_limit: Duration,
    ) -> Result<Option<BoxStream<'static, Frame>>, Unavailable> {
        match self {
            Self::Memory(_) => Ok(None),
            Self::Redis(redis) => redis.follow_parts(message_id, window, silence_limit).await,
        }
    }

    /// The per-client limits counted in Redis for every replica; `None` in
    /// one process, which counts them in memory.
    pub fn shared_limits(&self, limits: Limits, lease: Duration) -> Option<SharedLimits> {
        match self {
            Self::Memory(_) => None,
            Self::Redis(redis) => Some(redis.shared_limits(limits, lease)),
        }
    }

    /// Shares the demo model's ended generations with every replica (Redis
    /// only): see [`Registry::demo_generation`].
    pub fn share_demo_generations(&self, generations: &Generations) {
        if let Self::Redis(redis) = self {
            redis.share_demo_generations(generations);
        }
    }

    /// The demo model's ended generation with this request id, as another
    /// replica shared it; `None` in one process, whose demo model is the
    /// only one.
    pub async fn demo_generation(
        &self,
        request_id: &str,
    ) -> Result<Option<Generation>, Unavailable> {
        match self {
            Self::Memory(_) => Ok(None),
            Self::Redis(redis) => redis.demo_generation(request_id).await,
        }
    }

    /// Starts listening for stops published by other replicas (Redis only),
    /// for as long as the process runs, reconnecting by itself.
    pub fn listen_for_stops(&self, streams: Streams, metrics: Metrics) {
        if let Self::Redis(redis) = self {
            tokio::spawn((**redis).clone().listen(streams, metrics));
        }
    }
}

/// The receipt of a reply that has just begun.
pub(crate) fn streaming() -> Receipt {
    Receipt {
        state: ReplyState::Streaming,
        tokens_relayed: 0,
        output_tokens: 0,
        output_tokens_counted: true,
        noticed_at_us: None,
        upstream_dropped_at_us: None,
        summary: None,
    }
}

/// Whether `id` is plain enough to look up: 1 to 64 ASCII letters, digits,
/// `_` or `-`. Every id Reins makes passes (`msg_` and 32 hex digits), and so
/// do the AI SDK's chat ids, which the client chooses; anything else is
/// unknown without asking Redis, so a hostile path never becomes part of a
/// key, nor a long one a long key.
pub fn is_plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Now, in Unix microseconds, as receipts count time (integers: the
/// browser reads them without a float parser, which the embed cannot
/// afford).
pub fn unix_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_short_plain_ids_are_looked_up() {
        assert!(is_plain_id(&crate::streams::random_id("msg")));
        assert!(is_plain_id("msg_0123456789abcdef0123456789abcdef"));
        // The AI SDK's chat ids (its `generateId`: 16 letters and digits).
        assert!(is_plain_id("Xk2o9dJc1QbF7mZt"));
        assert!(is_plain_id(&"a".repeat(64)));
        assert!(!is_plain_id("msg_1 2"));
        assert!(!is_plain_id("reins:reply:*"));
        // A colon would let an id name another kind's key.
        assert!(!is_plain_id("msg_1:limits"));
        assert!(!is_plain_id(&"a".repeat(65)));
        assert!(!is_plain_id(""));
    }

    #[tokio::test]
    async fn memory_stop_elsewhere_tells_stopped_from_ended_and_unknown() {
        let registry = Registry::Memory(MemoryRegistry::new(Duration::from_secs(60), 10));
        let ended = |state| Receipt {
            state,
            tokens_relayed: 3,
            output_tokens: 3,
            output_tokens_counted: true,
            noticed_at_us: None,
            upstream_dropped_at_us: None,
            summary: None,
        };
        registry.finish("msg_a", ended(ReplyState::Stopped));
        registry.finish("msg_b", ended(ReplyState::ClientGone));
        registry.finish("msg_c", ended(ReplyState::Completed));
        let stop = async |id| registry.stop_elsewhere(id, 0).await.unwrap();
        assert_eq!(stop("msg_a").await, StopElsewhere::AlreadyStopped);
        assert_eq!(stop("msg_b").await, StopElsewhere::AlreadyStopped);
        assert_eq!(stop("msg_c").await, StopElsewhere::Ended);
        assert_eq!(stop("msg_d").await, StopElsewhere::Unknown);
    }
}
