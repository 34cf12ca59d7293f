//! The open chat streams: how many there may be, and how to stop one.
//!
//! Admission happens before a stream opens: 503 when the server is full, and
//! 429 when one client (a user, or without auth an address) has too many
//! streams open, has made too many requests this minute, or has been sent
//! too many output tokens this hour. A stream takes its share of the hour's
//! output tokens as it opens (at most a reply's `max_tokens`, which the model
//! API is then asked for), and gives back what it did not use when it ends,
//! so a client cannot pass its budget by more than what the model API writes
//! beyond `max_tokens`. Limits are counted per [`Client`], which the trust
//! model and the auth layer have already worked out: in this process, or
//! with several replicas in Redis ([`SharedLimits`]), so that a client gets
//! one share however many replicas it reaches; the cap on all streams stays
//! per process, since it protects the process. The returned [`Admission`]
//! lives inside the response stream, so the slot is held for the whole
//! stream, not just until the headers go out, and is given back however the
//! stream ends.
//! Each admission comes with a stop signal: `POST /api/chat/{id}/stop` fires
//! one, and shutdown fires them all.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;
use crate::registry::SharedLimits;
use crate::signal::{Trigger, Watch, signal};
use crate::trust::Client;

/// Why a stream was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The server has as many streams open as it allows.
    ServerFull,
    /// This client has as many streams open as one client may.
    ClientFull { limit: usize },
    /// This client made as many requests this minute as it may.
    TooManyRequests { limit: u32, retry_after: Duration },
    /// This client was sent as many output tokens this hour as it may.
    TokensSpent { limit: u64, retry_after: Duration },
    /// What is left of this client's output tokens this hour is held by its
    /// replies streaming now; what they do not use comes back as they end.
    TokensHeld { limit: u64 },
    /// The limits shared by every replica could not be checked: Redis is
    /// away.
    Unavailable,
}

/// The window the output-token budget is counted over.
const TOKEN_WINDOW: Duration = Duration::from_secs(3600);

/// Below this many entries, the per-client maps are not swept.
const SWEEP_FLOOR: usize = 1024;

/// Every open stream. Cloning shares them.
#[derive(Clone, Debug)]
pub struct Streams {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    slots: Arc<Semaphore>,
    per_client_limit: usize,
    per_client: Mutex<HashMap<Client, usize>>,
    requests: DefaultKeyedRateLimiter<Client>,
    requests_per_minute: u32,
    tokens: Mutex<TokenBudgets>,
    /// With several replicas, the per-client limits counted for all of them
    /// (the per-client fields above are then unused).
    shared: Option<SharedLimits>,
    /// Each open stream, by message id.
    open: Mutex<HashMap<String, OpenStream>>,
    /// Set, under `open`'s lock, when shutdown stops every open stream: a
    /// stream admitted after that is stopped as it is admitted.
    shutting_down: AtomicBool,
}

impl Streams {
    /// No streams yet, and room for as many as `limits` allows, its
    /// per-client limits counted in this process.
    pub fn new(limits: &Limits) -> Self {
        Self::with_shared_limits(limits, None)
    }

    /// As [`Streams::new`], with the per-client limits counted by `shared`
    /// when there is one.
    pub fn with_shared_limits(limits: &Limits, shared: Option<SharedLimits>) -> Self {
        Self {
            inner: Arc::new(Inner {
                slots: Arc::new(Semaphore::new(limits.max_streams)),
                per_client_limit: limits.max_streams_per_client,
                per_client: Mutex::default(),
                requests: RateLimiter::keyed(Quota::per_minute(
                    NonZeroU32::new(limits.max_requests_per_minute).unwrap_or(NonZeroU32::MIN),
                )),
                requests_per_minute: limits.max_requests_per_minute,
                tokens: Mutex::new(TokenBudgets::new(limits.max_output_tokens_per_hour)),
                shared,
                open: Mutex::default(),
                shutting_down: AtomicBool::new(false),
            }),
        }
    }

    /// Admits a stream for `client` under `message_id` that may be sent up
    /// to `tokens_wanted` output tokens, with the watch of its stop signal
    /// for the one task that waits on it, or says why not. The admission
    /// holds what is granted of those tokens ([`Admission::tokens_held`]):
    /// the most the reply may ask the model API for. Every attempt counts
    /// towards the client's requests per minute.
    pub async fn admit(
        &self,
        client: Client,
        message_id: String,
        tokens_wanted: u64,
    ) -> Result<(Admission, Watch), Refusal> {
        let Some(shared) = &self.inner.shared else {
            return self.admit_here(client, message_id, tokens_wanted);
        };
        if self.is_shutting_down() {
            return Err(Refusal::ServerFull);
        }
        // The process's own cap first: a stream it cannot hold takes nothing
        // from the client's shared limits.
        let permit =
            self.inner.slots.clone().try_acquire_owned().map_err(|_| Refusal::ServerFull)?;
        // If the request is dropped while Redis answers, what the script
        // may have granted is given back.
        let tokens_held = {
            let mut pending =
                PendingGrant { shared, client: &client, message_id: &message_id, armed: true };
            let granted = shared.admit(&client, &message_id, tokens_wanted).await;
            pending.armed = false;
            granted?
        };
        Ok(self.opened(client, message_id, tokens_held, permit))
    }

    /// [`Streams::admit`] with the per-client limits counted in this process.
    fn admit_here(
        &self,
        client: Client,
        message_id: String,
        tokens_wanted: u64,
    ) -> Result<(Admission, Watch), Refusal> {
        if self.is_shutting_down() {
            return Err(Refusal::ServerFull);
        }
        self.check_requests(&client)?;
        let mut per_client = lock(&self.inner.per_client);
        let count = per_client.get(&client).copied().unwrap_or(0);
        if count >= self.inner.per_client_limit {
            return Err(Refusal::ClientFull { limit: self.inner.per_client_limit });
        }
        // Taken before the client's entry is made, so that a refusal leaves
        // no entry behind: the map holds only clients with open streams.
        let permit =
            self.inner.slots.clone().try_acquire_owned().map_err(|_| Refusal::ServerFull)?;
        // Last, so that no refusal after it has to give the tokens back.
        let tokens_held = lock(&self.inner.tokens).hold(&client, tokens_wanted)?;
        per_client.insert(client.clone(), count + 1);
        drop(per_client);
        Ok(self.opened(client, message_id, tokens_held, permit))
    }

    /// The stream just admitted, with its stop signal.
    fn opened(
        &self,
        client: Client,
        message_id: String,
        tokens_held: u64,
        permit: OwnedSemaphorePermit,
    ) -> (Admission, Watch) {
        let (stop, watch) = signal();
        let stop_noticed_at = Arc::new(OnceLock::new());
        let open = OpenStream {
            client: client.clone(),
            stop: stop.clone(),
            stop_noticed_at: stop_noticed_at.clone(),
            connection: None,
        };
        let mut streams = lock(&self.inner.open);
        // Shutdown came after the check above: this one was not among the
        // streams it stopped.
        if self.is_shutting_down() {
            stop.fire();
        }
        streams.insert(message_id.clone(), open);
        drop(streams);
        let admission = Admission {
            streams: self.clone(),
            client,
            message_id,
            stop,
            stop_noticed_at,
            tokens_held,
            tokens_used: 0,
            _permit: permit,
        };
        (admission, watch)
    }

    fn check_requests(&self, client: &Client) -> Result<(), Refusal> {
        let requests = &self.inner.requests;
        let checked = requests.check_key(client);
        // Clients that have not asked for a minute are full again and can be
        // forgotten; sweeping when the map doubles keeps this amortised O(1).
        if requests.len() >= SWEEP_FLOOR && requests.len().is_power_of_two() {
            requests.retain_recent();
        }
        checked.map_err(|not_until| Refusal::TooManyRequests {
            limit: self.inner.requests_per_minute,
            retry_after: not_until.wait_time_from(governor::clock::DefaultClock::default().now()),
        })
    }

    /// How many clients the per-client maps hold: they must not grow
    /// without bound.
    #[cfg(test)]
    fn clients_tracked(&self) -> (usize, usize, usize) {
        (
            lock(&self.inner.per_client).len(),
            self.inner.requests.len(),
            lock(&self.inner.tokens).spent.len(),
        )
    }

    /// Stops the stream with this message id if this process holds it;
    /// `noticed_at_us` (Unix µs) is when the stop reached a replica, for the
    /// receipt. False when it is not open here: the registry knows whether
    /// it ended, or which replica holds it.
    pub fn stop(&self, message_id: &str, noticed_at_us: u64) -> bool {
        let Some(open) = lock(&self.inner.open).get(message_id).map(OpenStream::handles) else {
            return false;
        };
        let (stop, stop_noticed_at, connection) = open;
        let _ = stop_noticed_at.set(noticed_at_us);
        stop.fire();
        if let Some(connection) = connection {
            self.close_if_still_open(message_id.to_owned(), connection);
        }
        true
    }

    /// A stream that is stopped ends at once when its body is read. A client
    /// that has stopped reading without closing leaves it unread, with its
    /// upstream request open; so once [`STOP_GRACE`] has passed, its
    /// connection is closed, which drops the stream and the upstream.
    fn close_if_still_open(&self, message_id: String, connection: Trigger) {
        let streams = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(STOP_GRACE).await;
            if lock(&streams.inner.open).contains_key(&message_id) {
                tracing::info!(message_id, "stopped stream not read; closing its connection");
                connection.fire();
            }
        });
    }

    /// Stops every open stream and admits no more.
    pub fn shut_down(&self) {
        let open = lock(&self.inner.open);
        self.inner.shutting_down.store(true, Ordering::Release);
        for stream in open.values() {
            stream.stop.fire();
        }
    }

    /// Whether [`Streams::shut_down`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    /// The message ids of the streams open here.
    pub fn open_ids(&self) -> Vec<String> {
        lock(&self.inner.open).keys().cloned().collect()
    }

    /// The streams open here, each with its client.
    pub fn open_clients(&self) -> Vec<(Client, String)> {
        lock(&self.inner.open).iter().map(|(id, open)| (open.client.clone(), id.clone())).collect()
    }

    /// How many streams are open.
    pub fn open(&self) -> usize {
        lock(&self.inner.open).len()
    }
}

/// How long a stopped stream has to end by itself before its connection is
/// closed under it.
const STOP_GRACE: Duration = Duration::from_millis(100);

/// What is kept of an open stream.
#[derive(Debug)]
struct OpenStream {
    /// Who it is for, for the renewal of its lease in the shared limits.
    client: Client,
    stop: Trigger,
    /// When a stop request for it arrived (Unix µs).
    stop_noticed_at: Arc<OnceLock<u64>>,
    /// Firing it closes the connection the stream is sent on.
    connection: Option<Trigger>,
}

impl OpenStream {
    /// Its handles, cloned so the map's lock is not held while they are used.
    fn handles(&self) -> (Trigger, Arc<OnceLock<u64>>, Option<Trigger>) {
        (self.stop.clone(), self.stop_noticed_at.clone(), self.connection.clone())
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

/// A stream's slot and its stop signal's trigger; dropping it gives the
/// slot back.
#[derive(Debug)]
pub struct Admission {
    streams: Streams,
    client: Client,
    message_id: String,
    stop: Trigger,
    stop_noticed_at: Arc<OnceLock<u64>>,
    /// The client's output tokens this stream holds until it is settled.
    tokens_held: u64,
    /// With shared limits, the output tokens it was sent, counted in Redis
    /// when it is dropped, with its slot: one command at its end.
    tokens_used: u64,
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    /// Whether this stream has been told to stop.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_fired()
    }

    /// Whether the stop came from a shutdown rather than a stop request.
    pub fn is_shutdown(&self) -> bool {
        self.streams.is_shutting_down()
    }

    /// [`Admission::is_shutdown`] as a function the stream can keep.
    pub fn shutdown_check(&self) -> impl Fn() -> bool + Send + 'static {
        let streams = self.streams.clone();
        move || streams.is_shutting_down()
    }

    /// The stream's message id.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// Ties the stream to the connection it is sent on, which a stop closes
    /// if the stream is not read (see [`Streams::stop`]).
    pub fn on_connection(self, connection: Trigger) -> Self {
        if let Some(open) = lock(&self.streams.inner.open).get_mut(&self.message_id) {
            open.connection = Some(connection);
        }
        self
    }

    /// Whether admitting the stream also recorded it in the registry: with
    /// shared limits, in the same round trip to Redis.
    pub fn is_recorded(&self) -> bool {
        self.streams.inner.shared.is_some()
    }

    /// Who the stream is for.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The most output tokens this stream may ask the model API for: what it
    /// holds of its client's hour.
    pub fn tokens_held(&self) -> u64 {
        self.tokens_held
    }

    /// Counts the output tokens this stream sent against its client's hour,
    /// and gives back the rest of what it held: at once in this process,
    /// or with shared limits when the admission is dropped (with its slot,
    /// in one command).
    pub fn spend_tokens(&mut self, tokens: u64) {
        let held = std::mem::take(&mut self.tokens_held);
        match &self.streams.inner.shared {
            Some(_) => self.tokens_used = tokens,
            None => lock(&self.streams.inner.tokens).settle(&self.client, held, tokens),
        }
    }

    /// When a stop request for this stream arrived (Unix µs), once one has.
    pub fn stop_noticed_at(&self) -> Arc<OnceLock<u64>> {
        self.stop_noticed_at.clone()
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        lock(&self.streams.inner.open).remove(&self.message_id);
        if let Some(shared) = &self.streams.inner.shared {
            // What it held goes back whether it counted what it sent or not.
            shared.release_later(&self.client, self.message_id.clone(), self.tokens_used);
            return;
        }
        // A stream that ended before it counted what it sent (refused by the
        // registry, say) gives back what it held.
        let held = self.tokens_held;
        if held > 0 {
            lock(&self.streams.inner.tokens).settle(&self.client, held, 0);
        }
        let mut per_client = lock(&self.streams.inner.per_client);
        if let Some(count) = per_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                per_client.remove(&self.client);
            }
        }
    }
}

/// A shared admission on its way: if the request is dropped while Redis
/// answers, whatever the script granted is given back.
struct PendingGrant<'a> {
    shared: &'a SharedLimits,
    client: &'a Client,
    message_id: &'a str,
    armed: bool,
}

impl Drop for PendingGrant<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.release_later(self.client, self.message_id.to_owned(), 0);
        }
    }
}

/// A fresh id: `prefix`, an underscore and 128 random bits in hex.
pub fn random_id(prefix: &str) -> String {
    let mut bits = [0u8; 16];
    // The operating system's generator does not fail on the systems Reins
    // runs on; if it ever did, serving guessable ids would be worse than this.
    getrandom::fill(&mut bits).expect("the operating system's random generator works");
    let mut id = String::with_capacity(prefix.len() + 33);
    id.push_str(prefix);
    id.push('_');
    for byte in bits {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// Locks a map whose every update is a single insert or remove, so a panic
/// elsewhere cannot leave it half-changed: a poisoned lock is still good.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streams(max_streams: usize, max_streams_per_client: usize) -> Streams {
        Streams::new(&Limits { max_streams, max_streams_per_client, ..Limits::default() })
    }

    const A: Client = Client::Address(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const B: Client = Client::Address(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    #[test]
    fn one_client_cannot_hold_more_than_its_share() {
        let streams = streams(10, 2);
        let first = streams.admit_here(A, "1".into(), 1).unwrap();
        let _second = streams.admit_here(A, "2".into(), 1).unwrap();
        assert_eq!(
            streams.admit_here(A, "3".into(), 1).unwrap_err(),
            Refusal::ClientFull { limit: 2 }
        );
        assert!(streams.admit_here(B, "4".into(), 1).is_ok(), "other clients are not affected");
        drop(first);
        assert!(
            streams.admit_here(A, "5".into(), 1).is_ok(),
            "a finished stream gives its slot back"
        );
    }

    #[test]
    fn the_server_cannot_hold_more_than_its_limit() {
        let streams = streams(2, 10);
        let _a = streams.admit_here(A, "1".into(), 1).unwrap();
        let b = streams.admit_here(B, "2".into(), 1).unwrap();
        assert_eq!(streams.admit_here(A, "3".into(), 1).unwrap_err(), Refusal::ServerFull);
        drop(b);
        assert!(streams.admit_here(A, "3".into(), 1).is_ok());
    }

    #[test]
    fn a_refusal_does_not_take_a_client_slot() {
        let streams = streams(1, 1);
        let _held = streams.admit_here(A, "1".into(), 1).unwrap();
        assert_eq!(streams.admit_here(B, "2".into(), 1).unwrap_err(), Refusal::ServerFull);
        drop(_held);
        assert!(
            streams.admit_here(B, "3".into(), 1).is_ok(),
            "B was not left counted as holding a stream"
        );
    }

    #[test]
    fn refused_clients_leave_nothing_behind_in_the_open_stream_map() {
        let streams = streams(1, 10);
        let _held = streams.admit_here(A, "held".into(), 1).unwrap();
        for n in 0..10_000u32 {
            let client = Client::Address(std::net::IpAddr::V4(n.into()));
            assert_eq!(
                streams.admit_here(client, n.to_string(), 1).unwrap_err(),
                Refusal::ServerFull
            );
        }
        assert_eq!(streams.clients_tracked().0, 1, "only the client with an open stream");
    }

    #[test]
    fn requests_per_minute_are_counted_per_client() {
        let streams = Streams::new(&Limits { max_requests_per_minute: 2, ..Limits::default() });
        drop(streams.admit_here(A, "1".into(), 1).unwrap());
        drop(streams.admit_here(A, "2".into(), 1).unwrap());
        let Err(Refusal::TooManyRequests { limit: 2, retry_after }) =
            streams.admit_here(A, "3".into(), 1)
        else {
            panic!("a third request in a minute was admitted")
        };
        assert!(retry_after > Duration::from_secs(25) && retry_after <= Duration::from_secs(30));
        assert!(streams.admit_here(B, "4".into(), 1).is_ok());
    }

    #[test]
    fn the_token_budget_refuses_once_spent_and_names_when_it_comes_back() {
        let streams = Streams::new(&Limits { max_output_tokens_per_hour: 10, ..Limits::default() });
        let (mut admission, _) = streams.admit_here(A, "1".into(), 4).unwrap();
        admission.spend_tokens(6);
        drop(admission);
        let (mut admission, _) = streams.admit_here(A, "2".into(), 4).unwrap();
        admission.spend_tokens(6);
        drop(admission);
        let Err(Refusal::TokensSpent { limit: 10, retry_after }) =
            streams.admit_here(A, "3".into(), 4)
        else {
            panic!("a client past its budget was admitted")
        };
        assert!(retry_after > Duration::from_secs(3590));
        assert!(streams.admit_here(B, "4".into(), 4).is_ok(), "the budget is per client");
    }

    #[test]
    fn a_stream_holds_at_most_what_is_left_of_the_budget_until_it_ends() {
        let streams = Streams::new(&Limits { max_output_tokens_per_hour: 10, ..Limits::default() });
        let (mut first, _) = streams.admit_here(A, "1".into(), 4).unwrap();
        assert_eq!(first.tokens_held(), 4, "as many as the reply may use");
        let (second, _) = streams.admit_here(A, "2".into(), 100).unwrap();
        assert_eq!(second.tokens_held(), 6, "no more than is left");
        // Nothing spent yet, but nothing left to hold either: back soon,
        // not in an hour.
        assert_eq!(
            streams.admit_here(A, "3".into(), 1).unwrap_err(),
            Refusal::TokensHeld { limit: 10 }
        );
        assert_eq!(streams.admit_here(B, "4".into(), 100).unwrap().0.tokens_held(), 10);
        // The first used 1 of its 4: 3 come back.
        first.spend_tokens(1);
        drop(first);
        let (third, _) = streams.admit_here(A, "5".into(), 100).unwrap();
        assert_eq!(third.tokens_held(), 3);
        // A stream that ends without counting gives back all it held.
        drop(third);
        drop(second);
        assert_eq!(streams.admit_here(A, "6".into(), 100).unwrap().0.tokens_held(), 9);
    }

    #[test]
    fn clients_refused_for_tokens_leave_nothing_behind() {
        let streams = Streams::new(&Limits { max_output_tokens_per_hour: 0, ..Limits::default() });
        for n in 0..10_000u32 {
            let client = Client::Address(std::net::IpAddr::V4(n.into()));
            let refusal = streams.admit_here(client, n.to_string(), 1).unwrap_err();
            assert!(matches!(refusal, Refusal::TokensSpent { limit: 0, .. }), "{refusal:?}");
        }
        assert_eq!(streams.clients_tracked().2, 0);
    }

    #[test]
    fn a_stream_sent_more_than_it_held_is_counted_for_all_of_it() {
        let streams = Streams::new(&Limits { max_output_tokens_per_hour: 20, ..Limits::default() });
        let (mut admission, _) = streams.admit_here(A, "1".into(), 2).unwrap();
        let (_other, _) = streams.admit_here(A, "2".into(), 10).unwrap();
        // The model API wrote past its `max_tokens`.
        admission.spend_tokens(9);
        // Counted once: dropping it gives nothing back twice (which would
        // take from what the other stream holds).
        drop(admission);
        assert_eq!(streams.admit_here(A, "3".into(), 100).unwrap().0.tokens_held(), 1);
    }

    #[test]
    fn stop_fires_that_stream_only_and_records_when() {
        let streams = streams(10, 10);
        let (one, one_stop) = streams.admit_here(A, "one".into(), 1).unwrap();
        let (two, two_stop) = streams.admit_here(A, "two".into(), 1).unwrap();
        assert!(streams.stop("one", 1234));
        assert!(one_stop.is_fired() && one.is_stopped());
        assert_eq!(one.stop_noticed_at().get(), Some(&1234));
        assert!(!two_stop.is_fired() && !two.is_stopped());
        assert!(!one.is_shutdown());
        drop(one);
        assert!(!streams.stop("one", 0), "an ended stream is the registry's business");
        drop(two);
        assert!(!streams.stop("never", 0));
        assert_eq!(streams.open(), 0);
    }

    #[test]
    fn shutdown_stops_everything_and_admits_nothing() {
        let streams = streams(10, 10);
        let (open, stop) = streams.admit_here(A, "1".into(), 1).unwrap();
        let (other, other_stop) = streams.admit_here(B, "2".into(), 1).unwrap();
        streams.shut_down();
        assert!(stop.is_fired() && other_stop.is_fired());
        assert!(open.is_shutdown() && other.is_stopped());
        assert_eq!(streams.admit_here(B, "2".into(), 1).unwrap_err(), Refusal::ServerFull);
    }
}
