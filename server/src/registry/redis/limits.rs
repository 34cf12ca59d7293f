//! The per-client limits in Redis, counted together by every replica:
//! streams open at once, requests per minute and output tokens per hour.
//! Counted in each process, N replicas behind a balancer gave a client N
//! times its share.
//!
//! Three keys per client, each with its kind before the client, so no
//! client's name (a user's `sub` is theirs to choose) can spell another
//! kind's key: `{prefix}:limits:counts:{client}` (a hash: the request rate's
//! theoretical arrival time, and the token hour's start and what it has
//! spent), `{prefix}:limits:open:{client}` (a sorted set of the client's
//! open streams, each scored by the end of its lease) and
//! `{prefix}:limits:held:{client}` (the tokens each open stream holds).
//!
//! Each limit is checked and taken in one Lua script, so two replicas
//! admitting one client at once are counted one after the other. A stream
//! holds its slot by a lease that the replica holding it renews while it
//! runs; the slots and holds of a replica that died (or lost Redis for
//! longer than a lease) go back when their leases run out, and nothing of a
//! client is kept past its hour. A renewal that finds a running stream's
//! slot gone (a Redis restarted without its data, say) takes it again.
//! Two scripts per stream (admitted, with the reply's record written in the
//! same round trip; released), none per token, and one per renewal for all
//! of a replica's streams (in batches).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;
use tokio::sync::RwLock;

use super::RedisRegistry;
use crate::config::Limits;
use crate::streams::{Lease, Refusal, Streams};
use crate::trust::Client;

/// A script of the limits: `common.lua` (the clock, the token hour, how
/// long the counts live, which the scripts share) then the script itself.
macro_rules! limits_script {
    ($file:literal) => {
        LazyLock::new(|| {
            Script::new(concat!(include_str!("limits/common.lua"), include_str!($file)))
        })
    };
}

static ADMIT: LazyLock<Script> = limits_script!("limits/admit.lua");
static RELEASE: LazyLock<Script> = limits_script!("limits/release.lua");
static RENEW: LazyLock<Script> = limits_script!("limits/renew.lua");

/// The window the output-token budget is counted over.
const HOUR: Duration = Duration::from_secs(3600);

/// Most streams renewed by one script: each takes a short while in Redis,
/// which runs nothing else meanwhile.
const RENEW_BATCH: usize = 500;

/// Lua counts in doubles: budgets above 2^53 are as good as unlimited.
const MAX_EXACT: u64 = 1 << 53;

/// The per-client limits, counted in Redis. Cloning shares the connection.
#[derive(Clone, Debug)]
pub struct SharedLimits {
    redis: RedisRegistry,
    limits: Limits,
    lease: Duration,
    /// Renewals and releases take turns (releases among themselves do not):
    /// a renewal gives a stream it counts as open its slot again if Redis
    /// has none, so a stream's release must not pass a renewal begun while
    /// it was open, or that renewal would take back the slot just given up.
    turns: Arc<RwLock<()>>,
}

impl RedisRegistry {
    /// `limits`' per-client limits, counted here for every replica; a
    /// stream's slot lasts `lease` past the last time its replica renewed it.
    pub fn shared_limits(&self, limits: Limits, lease: Duration) -> SharedLimits {
        SharedLimits { redis: self.clone(), limits, lease, turns: Arc::default() }
    }
}

impl SharedLimits {
    /// A client's keys: its counts (the rate and the hour), then those of
    /// its streams' leases (see [`SharedLimits::lease_keys`]).
    fn keys(&self, client: &Client) -> [String; 3] {
        let [open, held] = self.lease_keys(client);
        [format!("{}:limits:counts:{client}", self.redis.prefix), open, held]
    }

    /// The keys a renewal touches: the client's open streams and the
    /// tokens they hold.
    fn lease_keys(&self, client: &Client) -> [String; 2] {
        let prefix = &self.redis.prefix;
        [format!("{prefix}:limits:open:{client}"), format!("{prefix}:limits:held:{client}")]
    }

    /// Admits `message_id` for `client`, holding up to `tokens_wanted` of
    /// its hour, and says how many; or which limit refused it, or that
    /// Redis could not be asked. Every attempt that passes the rate counts
    /// towards it, as in one process. An admitted reply is recorded in the
    /// registry as streaming in the same round trip
    /// ([`Registry::open`](crate::registry::Registry::open) for it is
    /// done).
    pub async fn admit(
        &self,
        client: &Client,
        message_id: &str,
        tokens_wanted: u64,
    ) -> Result<u64, Refusal> {
        let [counts, open, held] = self.keys(client);
        let limits = &self.limits;
        let record =
            serde_json::to_string(&crate::registry::streaming()).expect("a receipt serializes");
        let answer: redis::RedisResult<(String, u64)> = ADMIT
            .key(counts)
            .key(open)
            .key(held)
            .key(self.redis.key(message_id))
            .arg(message_id)
            .arg(tokens_wanted.min(MAX_EXACT))
            .arg(limits.max_streams_per_client)
            .arg(limits.max_requests_per_minute.max(1))
            .arg(limits.max_output_tokens_per_hour.min(MAX_EXACT))
            .arg(millis(HOUR))
            .arg(millis(self.lease))
            .arg(record)
            .arg(self.redis.ttl_secs)
            .invoke_async(&mut self.redis.commands.clone())
            .await;
        let (verdict, amount) = answer.map_err(|error| {
            self.redis.unavailable(&error);
            Refusal::Unavailable
        })?;
        refusal_or_grant(&verdict, amount, limits).inspect_err(|refusal| {
            if *refusal == Refusal::Unavailable {
                tracing::warn!(verdict, "the limits script answered nonsense");
            }
        })
    }

    /// Gives back `message_id`'s slot and hold and counts the `tokens_used`
    /// it was sent, from a task of its own: called where a stream is
    /// dropped, which cannot wait. If Redis cannot be reached, the slot and
    /// hold go back when the lease runs out and the tokens are not counted.
    pub fn release_later(&self, client: &Client, message_id: String, tokens_used: u64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(message_id, "no runtime left to give back the stream's slot");
            return;
        };
        let [counts, open, held] = self.keys(client);
        let limits = self.clone();
        runtime.spawn(async move {
            let _turn = limits.turns.read().await;
            let released: redis::RedisResult<i64> = RELEASE
                .key(counts)
                .key(open)
                .key(held)
                .arg(&message_id)
                .arg(tokens_used)
                .arg(millis(HOUR))
                .invoke_async(&mut limits.redis.commands.clone())
                .await;
            if let Err(error) = released {
                limits.redis.unavailable(&error);
                tracing::warn!(message_id, "the stream's slot is given back when its lease ends");
            }
        });
    }

    /// Renews the leases of every stream open here, a third of a lease
    /// apart, for as long as the process runs. A renewal that fails is
    /// tried again at the next.
    pub async fn keep_leases(self, streams: Streams) {
        let mut every = tokio::time::interval(self.lease / 3);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let _turn = self.turns.write().await;
            let open = streams.leases();
            for batch in open.chunks(RENEW_BATCH) {
                if let Err(error) = self.renew(batch).await {
                    self.redis.unavailable(&error);
                    break;
                }
            }
        }
    }

    async fn renew(&self, streams: &[Lease]) -> redis::RedisResult<()> {
        let mut renew = RENEW.prepare_invoke();
        renew.arg(millis(self.lease));
        for lease in streams {
            let [open, held] = self.lease_keys(&lease.client);
            renew.key(open).key(held).arg(&lease.message_id).arg(lease.tokens_held);
        }
        renew.invoke_async(&mut self.redis.commands.clone()).await
    }
}

/// What the admission script's answer means.
fn refusal_or_grant(verdict: &str, amount: u64, limits: &Limits) -> Result<u64, Refusal> {
    let retry_after = Duration::from_millis(amount);
    match verdict {
        "granted" => Ok(amount),
        "requests" => {
            Err(Refusal::TooManyRequests { limit: limits.max_requests_per_minute, retry_after })
        }
        "streams" => Err(Refusal::ClientFull { limit: limits.max_streams_per_client }),
        "spent" => {
            Err(Refusal::TokensSpent { limit: limits.max_output_tokens_per_hour, retry_after })
        }
        "held" => Err(Refusal::TokensHeld { limit: limits.max_output_tokens_per_hour }),
        _ => Err(Refusal::Unavailable),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_of_the_script_is_read_and_nothing_else() {
        let limits = Limits::default();
        assert_eq!(refusal_or_grant("granted", 7, &limits), Ok(7));
        assert_eq!(
            refusal_or_grant("requests", 1500, &limits),
            Err(Refusal::TooManyRequests {
                limit: limits.max_requests_per_minute,
                retry_after: Duration::from_millis(1500)
            })
        );
        assert_eq!(
            refusal_or_grant("streams", 0, &limits),
            Err(Refusal::ClientFull { limit: limits.max_streams_per_client })
        );
        assert!(matches!(
            refusal_or_grant("spent", 10, &limits),
            Err(Refusal::TokensSpent { retry_after, .. }) if retry_after == Duration::from_millis(10)
        ));
        assert!(matches!(refusal_or_grant("held", 0, &limits), Err(Refusal::TokensHeld { .. })));
        assert_eq!(refusal_or_grant("grant", 7, &limits), Err(Refusal::Unavailable));
    }
}
