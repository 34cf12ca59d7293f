//! A client's limits counted in this process: streams open at once,
//! requests per minute (governor's keyed limiter) and output tokens per
//! hour, held by open streams and spent by ended ones. The Redis
//! counterpart, for several replicas, is
//! [`SharedLimits`](crate::registry::SharedLimits).
//!
//! Every map here is keyed by client and must not grow without bound: a
//! refusal adds no entry, a client's open streams go with its last one, and
//! the requests and tokens of clients they no longer limit are swept each
//! time their map has doubled (amortised O(1) per admission).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use tokio::sync::OwnedSemaphorePermit;

use super::{Refusal, lock};
use crate::config::Limits;
use crate::trust::Client;

/// The window the output-token budget is counted over.
const TOKEN_WINDOW: Duration = Duration::from_secs(3600);

/// Below this many entries, the per-client maps are not swept.
const SWEEP_FLOOR: usize = 1024;

/// The per-client limits of one process.
#[derive(Debug)]
pub(super) struct LocalLimits {
    streams_per_client: usize,
    /// Clients with open streams, and how many.
    open: Mutex<HashMap<Client, usize>>,
    requests: DefaultKeyedRateLimiter<Client>,
    requests_per_minute: u32,
    tokens: Mutex<TokenBudgets>,
}

impl LocalLimits {
    pub(super) fn new(limits: &Limits) -> Self {
        Self {
            streams_per_client: limits.max_streams_per_client,
            open: Mutex::default(),
            requests: RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(limits.max_requests_per_minute).unwrap_or(NonZeroU32::MIN),
            )),
            requests_per_minute: limits.max_requests_per_minute,
            tokens: Mutex::new(TokenBudgets::new(limits.max_output_tokens_per_hour)),
        }
    }

    /// Admits a stream for `client` that wants up to `tokens_wanted` output
    /// tokens, with the server's slot `take_slot` gives, or says why not;
    /// returns the tokens held for it and the slot. Every attempt counts
    /// towards the client's requests per minute. Give it back with
    /// [`LocalLimits::release`].
    pub(super) fn admit(
        &self,
        client: &Client,
        tokens_wanted: u64,
        take_slot: impl FnOnce() -> Result<OwnedSemaphorePermit, Refusal>,
    ) -> Result<(u64, OwnedSemaphorePermit), Refusal> {
        self.check_requests(client)?;
        let mut open = lock(&self.open);
        let count = open.get(client).copied().unwrap_or(0);
        if count >= self.streams_per_client {
            return Err(Refusal::ClientFull { limit: self.streams_per_client });
        }
        // Taken before the client's entry is made, so that a refusal leaves
        // no entry behind: the map holds only clients with open streams.
        let permit = take_slot()?;
        // Last, so that no refusal after it has to give the tokens back.
        let tokens_held = lock(&self.tokens).hold(client, tokens_wanted)?;
        open.insert(client.clone(), count + 1);
        Ok((tokens_held, permit))
    }

    /// Counts the `used` output tokens a stream was sent and gives back the
    /// `held` ones (see [`TokenBudgets::settle`]).
    pub(super) fn settle(&self, client: &Client, held: u64, used: u64) {
        lock(&self.tokens).settle(client, held, used);
    }

    /// Gives back a stream's place among its client's open streams, and the
    /// `held` tokens it did not settle.
    pub(super) fn release(&self, client: &Client, held: u64) {
        if held > 0 {
            self.settle(client, held, 0);
        }
        let mut open = lock(&self.open);
        if let Some(count) = open.get_mut(client) {
            *count -= 1;
            if *count == 0 {
                open.remove(client);
            }
        }
    }

    fn check_requests(&self, client: &Client) -> Result<(), Refusal> {
        let checked = self.requests.check_key(client);
        // Clients that have not asked for a minute are full again and can be
        // forgotten; sweeping when the map doubles keeps this amortised O(1).
        if self.requests.len() >= SWEEP_FLOOR && self.requests.len().is_power_of_two() {
            self.requests.retain_recent();
        }
        checked.map_err(|not_until| Refusal::TooManyRequests {
            limit: self.requests_per_minute,
            retry_after: not_until.wait_time_from(governor::clock::DefaultClock::default().now()),
        })
    }

    /// How many clients each map holds (open streams, requests, tokens).
    #[cfg(test)]
    pub(super) fn clients_tracked(&self) -> (usize, usize, usize) {
        (lock(&self.open).len(), self.requests.len(), lock(&self.tokens).spent.len())
    }
}

/// Output tokens sent to each client in its current hour, and those held by
/// its open streams.
#[derive(Debug)]
struct TokenBudgets {
    limit: u64,
    spent: HashMap<Client, TokenHour>,
    /// The map's size after the last sweep; the next sweep waits until it doubles.
    swept_at: usize,
}

/// One client's hour.
#[derive(Clone, Copy, Debug)]
struct TokenHour {
    /// When it began.
    since: Instant,
    /// The tokens sent since then by streams that have ended.
    spent: u64,
    /// The tokens its open streams hold, whenever they opened: a stream
    /// gives its tokens back in the hour it ends in.
    held: u64,
}

impl TokenHour {
    /// The hour that holds `now`: this one, or a new one if it is over.
    fn at(&mut self, now: Instant) -> &mut Self {
        if now.duration_since(self.since) >= TOKEN_WINDOW {
            self.since = now;
            self.spent = 0;
        }
        self
    }
}

impl TokenBudgets {
    fn new(limit: u64) -> Self {
        Self { limit, spent: HashMap::new(), swept_at: SWEEP_FLOOR }
    }

    /// Holds up to `wanted` of what is left of `client`'s hour for a
    /// stream, and says how many; refuses if nothing is left. A refused
    /// client is not added to the map: refusals cannot grow it.
    fn hold(&mut self, client: &Client, wanted: u64) -> Result<u64, Refusal> {
        let (now, limit) = (Instant::now(), self.limit);
        let hour = match self.spent.get_mut(client) {
            Some(hour) => *hour.at(now),
            None => TokenHour { since: now, spent: 0, held: 0 },
        };
        if hour.spent >= limit {
            return Err(Refusal::TokensSpent {
                limit,
                retry_after: TOKEN_WINDOW.saturating_sub(now.duration_since(hour.since)),
            });
        }
        let left = limit.saturating_sub(hour.spent.saturating_add(hour.held));
        if left == 0 {
            return Err(Refusal::TokensHeld { limit });
        }
        let granted = wanted.min(left);
        self.hour(client, now).held += granted;
        Ok(granted)
    }

    /// Gives back the `held` tokens of a stream that ended, and counts the
    /// `used` ones it was sent (more than it held, if the model API wrote
    /// past its `max_tokens`).
    fn settle(&mut self, client: &Client, held: u64, used: u64) {
        let hour = self.hour(client, Instant::now());
        hour.held = hour.held.saturating_sub(held);
        hour.spent = hour.spent.saturating_add(used);
    }

    /// `client`'s hour at `now`, made if it has none. Clients whose hour is
    /// over and who hold nothing are forgotten, in a sweep each time the
    /// map has doubled: amortised O(1).
    fn hour(&mut self, client: &Client, now: Instant) -> &mut TokenHour {
        if self.spent.len() >= 2 * self.swept_at {
            self.spent
                .retain(|_, hour| hour.held > 0 || now.duration_since(hour.since) < TOKEN_WINDOW);
            self.swept_at = self.spent.len().max(SWEEP_FLOOR);
        }
        self.spent
            .entry(client.clone())
            .or_insert(TokenHour { since: now, spent: 0, held: 0 })
            .at(now)
    }
}
