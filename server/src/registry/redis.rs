//! Receipts in Redis, shared by every replica, and stops passed between
//! them on one pub/sub channel.
//!
//! Keys: `{prefix}:reply:{message id}` holds a receipt as JSON, with a time
//! to live; `{prefix}:stop` is the channel. Commands go through the `redis`
//! crate's connection manager, which reconnects by itself; stops are heard
//! on a connection of their own, which [`RedisRegistry::listen`] opens
//! again whenever it drops.

use std::time::Duration;

use app::protocol::Receipt;
use futures::StreamExt;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

mod demo;
mod limits;
mod parts;

pub use self::limits::SharedLimits;
pub use self::parts::PartsMirror;
use super::{StopElsewhere, Unavailable, is_plain_id};
use crate::metrics::Metrics;
use crate::streams::Streams;

/// How long one Redis command or connection attempt may take before the
/// request that needed it gets its error: a stop or a new stream should
/// fail clearly, not hang, while Redis is away.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest wait between two attempts to hear stops again.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// Where the registry lives.
#[derive(Clone, Debug)]
pub struct RedisSettings {
    pub url: String,
    /// Put before every key and the channel, so deployments can share a
    /// Redis.
    pub prefix: String,
    /// How long a receipt is kept.
    pub ttl: Duration,
}

#[derive(Clone)]
pub struct RedisRegistry {
    client: redis::Client,
    commands: ConnectionManager,
    prefix: String,
    ttl_secs: u64,
    metrics: Metrics,
}

impl std::fmt::Debug for RedisRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRegistry").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisRegistry {
    /// Checks the URL; connects on first use, so a replica starts (and
    /// serves its page) while Redis is still on its way.
    pub fn new(settings: &RedisSettings, metrics: Metrics) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(settings.url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(MAX_RECONNECT_DELAY);
        let commands = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Self {
            client,
            commands,
            prefix: settings.prefix.clone(),
            ttl_secs: settings.ttl.as_secs().max(1),
            metrics,
        })
    }

    fn key(&self, message_id: &str) -> String {
        format!("{}:reply:{message_id}", self.prefix)
    }

    fn channel(&self) -> String {
        format!("{}:stop", self.prefix)
    }

    fn unavailable(&self, error: &redis::RedisError) -> Unavailable {
        self.metrics.registry_error();
        tracing::warn!(%error, "Redis is unavailable");
        Unavailable(error.to_string())
    }

    pub async fn put(&self, message_id: &str, receipt: &Receipt) -> Result<(), Unavailable> {
        // A receipt is a plain struct of numbers and an enum: it serializes.
        let json = serde_json::to_string(receipt).expect("a receipt serializes");
        let mut commands = self.commands.clone();
        let written: Result<(), _> =
            commands.set_ex(self.key(message_id), json, self.ttl_secs).await;
        written.map_err(|error| self.unavailable(&error))
    }

    pub fn put_later(&self, message_id: String, receipt: Receipt) {
        // A stream dropped while the runtime shuts down has no runtime to
        // write from; its receipt is lost with the process, as the reply is.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(message_id, "no runtime left to record the reply's receipt");
            return;
        };
        let registry = self.clone();
        runtime.spawn(async move {
            if registry.put(&message_id, &receipt).await.is_err() {
                tracing::warn!(message_id, "the reply's receipt was not recorded");
            }
        });
    }

    pub async fn get(&self, message_id: &str) -> Result<Option<Receipt>, Unavailable> {
        let mut commands = self.commands.clone();
        let json: Option<String> =
            commands.get(self.key(message_id)).await.map_err(|error| self.unavailable(&error))?;
        // Redis is ours, but what it holds is read as carefully as anything
        // else: a value that is not a receipt is no receipt.
        Ok(json.and_then(|json| serde_json::from_str(&json).ok()))
    }

    pub async fn publish_stop(
        &self,
        message_id: &str,
        noticed_at_us: u64,
    ) -> Result<StopElsewhere, Unavailable> {
        let mut commands = self.commands.clone();
        let listeners: usize = commands
            .publish(self.channel(), format!("{message_id} {noticed_at_us}"))
            .await
            .map_err(|error| self.unavailable(&error))?;
        Ok(if listeners == 0 { StopElsewhere::NobodyListening } else { StopElsewhere::Sent })
    }

    /// Hears stops published by any replica and cancels the streams this one
    /// holds, reconnecting with a growing delay whenever the connection
    /// drops. Runs for the life of the process.
    pub async fn listen(self, streams: Streams, metrics: Metrics) {
        let mut delay = Duration::from_millis(50);
        loop {
            match self.subscribe().await {
                Ok(mut pubsub) => {
                    // A Redis that restarted has lost the records of the
                    // streams running here: without them, a stop sent to
                    // another replica would find nothing. Until they are
                    // back, this replica does not count as listening.
                    if let Err(error) = self.register_again(&streams).await {
                        self.unavailable(&error);
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(MAX_RECONNECT_DELAY);
                        continue;
                    }
                    tracing::info!(channel = self.channel(), "listening for stops");
                    metrics.set_registry_listening(true);
                    delay = Duration::from_millis(50);
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let payload = message.get_payload_bytes();
                        match parse_stop(payload) {
                            Some((message_id, noticed_at_us)) => {
                                if streams.stop(message_id, noticed_at_us) {
                                    tracing::info!(message_id, "stop passed on by another replica");
                                }
                            }
                            None => {
                                tracing::warn!(bytes = payload.len(), "unreadable stop message")
                            }
                        }
                    }
                    metrics.set_registry_listening(false);
                    metrics.registry_error();
                    tracing::warn!("lost the connection that hears stops; reconnecting");
                }
                Err(error) => {
                    metrics.registry_error();
                    tracing::warn!(%error, "cannot listen for stops; retrying");
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_RECONNECT_DELAY);
        }
    }

    /// Writes a streaming record for every stream held here whose record
    /// is missing; a record already there (perhaps final) is left alone.
    async fn register_again(&self, streams: &Streams) -> redis::RedisResult<()> {
        let receipt = serde_json::to_string(&super::streaming()).expect("a receipt serializes");
        let open = streams.open_ids();
        if open.is_empty() {
            return Ok(());
        }
        // One round trip for them all, however many streams are open.
        let mut pipeline = redis::pipe();
        for message_id in open {
            pipeline
                .cmd("SET")
                .arg(self.key(&message_id))
                .arg(&receipt)
                .arg("NX")
                .arg("EX")
                .arg(self.ttl_secs)
                .ignore();
        }
        pipeline.query_async(&mut self.commands.clone()).await
    }

    async fn subscribe(&self) -> redis::RedisResult<redis::aio::PubSub> {
        let connect = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(self.channel()).await?;
            Ok(pubsub)
        };
        tokio::time::timeout(REDIS_TIMEOUT, connect).await.unwrap_or_else(|_| {
            Err(redis::RedisError::from((redis::ErrorKind::Io, "timed out connecting")))
        })
    }
}

/// A stop message: the message id and when the stop arrived (Unix µs).
fn parse_stop(payload: &[u8]) -> Option<(&str, u64)> {
    let (message_id, noticed_at_us) = std::str::from_utf8(payload).ok()?.split_once(' ')?;
    let noticed_at_us: u64 = noticed_at_us.parse().ok()?;
    is_plain_id(message_id).then_some((message_id, noticed_at_us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_messages_are_read_strictly() {
        assert_eq!(parse_stop(b"msg_ab 1764540000123456"), Some(("msg_ab", 1764540000123456)));
        assert_eq!(parse_stop(b"msg_ab"), None);
        assert_eq!(parse_stop(b"msg_ab NaN"), None);
        assert_eq!(parse_stop(b"msg_ab 1.5"), None);
        assert_eq!(parse_stop(b"msg:* 1"), None);
        assert_eq!(parse_stop(b"\xff 1"), None);
    }
}
