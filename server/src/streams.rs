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
//! model and the auth layer have already worked out: in this process
//! ([`LocalLimits`]), or with several replicas in Redis ([`SharedLimits`]),
//! so that a client gets one share however many replicas it reaches; the
//! cap on all streams stays per process, since it protects the process. The
//! returned [`Admission`] lives inside the response stream, so the slot is
//! held for the whole stream, not just until the headers go out, and is
//! given back however the stream ends.
//! Each admission comes with a stop signal: `POST /api/chat/{id}/stop` fires
//! one, and shutdown fires them all.

mod local_limits;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;
use crate::registry::SharedLimits;
use crate::signal::{Trigger, Watch, signal};
use crate::trust::Client;
use local_limits::LocalLimits;

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

/// Where a client's limits are counted.
#[derive(Debug)]
enum PerClient {
    /// In this process.
    Here(LocalLimits),
    /// In Redis, for every replica at once.
    Shared(SharedLimits),
}

/// Every open stream. Cloning shares them.
#[derive(Clone, Debug)]
pub struct Streams {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The process's own cap on open streams.
    slots: Arc<Semaphore>,
    per_client: PerClient,
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
                per_client: match shared {
                    Some(shared) => PerClient::Shared(shared),
                    None => PerClient::Here(LocalLimits::new(limits)),
                },
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
        if self.is_shutting_down() {
            return Err(Refusal::ServerFull);
        }
        let (tokens_held, permit) = match &self.inner.per_client {
            PerClient::Here(here) => here.admit(&client, tokens_wanted, || self.take_slot())?,
            PerClient::Shared(shared) => {
                // The process's own cap first: a stream it cannot hold takes
                // nothing from the client's shared limits.
                let permit = self.take_slot()?;
                // If the request is dropped while Redis answers, what the
                // script may have granted is given back.
                let mut pending =
                    PendingGrant { shared, client: &client, message_id: &message_id, armed: true };
                let granted = shared.admit(&client, &message_id, tokens_wanted).await;
                pending.armed = false;
                (granted?, permit)
            }
        };
        Ok(self.opened(client, message_id, tokens_held, permit))
    }

    /// One of the process's slots for open streams, if one is free.
    fn take_slot(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        self.inner.slots.clone().try_acquire_owned().map_err(|_| Refusal::ServerFull)
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
            tokens_held,
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

    /// How many clients the per-client maps of this process hold: they
    /// must not grow without bound.
    #[cfg(test)]
    fn clients_tracked(&self) -> (usize, usize, usize) {
        match &self.inner.per_client {
            PerClient::Here(here) => here.clients_tracked(),
            PerClient::Shared(_) => (0, 0, 0),
        }
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

    /// The streams open here, as the renewal of their leases needs them.
    pub fn leases(&self) -> Vec<Lease> {
        lock(&self.inner.open)
            .iter()
            .map(|(id, open)| Lease {
                client: open.client.clone(),
                message_id: id.clone(),
                tokens_held: open.tokens_held,
            })
            .collect()
    }

    /// How many streams are open.
    pub fn open(&self) -> usize {
        lock(&self.inner.open).len()
    }
}

/// How long a stopped stream has to end by itself before its connection is
/// closed under it.
const STOP_GRACE: Duration = Duration::from_millis(100);

/// An open stream's lease in the shared limits: whose it is and what it
/// holds, so a Redis that lost it can be told again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub client: Client,
    pub message_id: String,
    pub tokens_held: u64,
}

/// What is kept of an open stream.
#[derive(Debug)]
struct OpenStream {
    /// Who it is for and the output tokens it holds, for the renewal of its
    /// lease in the shared limits.
    client: Client,
    tokens_held: u64,
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
        matches!(self.streams.inner.per_client, PerClient::Shared(_))
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
        match &self.streams.inner.per_client {
            PerClient::Here(here) => here.settle(&self.client, held, tokens),
            PerClient::Shared(_) => self.tokens_used = tokens,
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
        match &self.streams.inner.per_client {
            // A stream that ended before it counted what it sent (refused by
            // the registry, say) gives back what it held.
            PerClient::Here(here) => here.release(&self.client, self.tokens_held),
            // What it held goes back whether it counted what it sent or not.
            PerClient::Shared(shared) => {
                shared.release_later(&self.client, self.message_id.clone(), self.tokens_used)
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
    id_from(prefix, bits)
}

/// `prefix`, an underscore and `bits` in lowercase hex.
fn id_from(prefix: &str, bits: [u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(prefix.len() + 33);
    id.push_str(prefix);
    id.push('_');
    // Two ids a request: written in place, not a `format!` (and its
    // allocation) for each of the 16 bytes.
    for byte in bits {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0xf)]));
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
    fn an_id_is_its_prefix_and_its_bits_in_hex() {
        let bits = [
            0x00, 0x01, 0x0f, 0x10, 0x2a, 0x7f, 0x80, 0x9c, 0xa5, 0xb6, 0xc3, 0xd4, 0xe0, 0xef,
            0xfe, 0xff,
        ];
        let expected: String = bits.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(id_from("msg", bits), format!("msg_{expected}"));
        let fresh = random_id("req");
        assert!(fresh.starts_with("req_") && fresh.len() == 36, "{fresh}");
        assert_ne!(random_id("req"), fresh, "each id is drawn afresh");
    }

    #[tokio::test]
    async fn one_client_cannot_hold_more_than_its_share() {
        let streams = streams(10, 2);
        let first = streams.admit(A, "1".into(), 1).await.unwrap();
        let _second = streams.admit(A, "2".into(), 1).await.unwrap();
        assert_eq!(
            streams.admit(A, "3".into(), 1).await.unwrap_err(),
            Refusal::ClientFull { limit: 2 }
        );
        assert!(streams.admit(B, "4".into(), 1).await.is_ok(), "other clients are not affected");
        drop(first);
        assert!(
            streams.admit(A, "5".into(), 1).await.is_ok(),
            "a finished stream gives its slot back"
        );
    }

    #[tokio::test]
    async fn the_server_cannot_hold_more_than_its_limit() {
        let streams = streams(2, 10);
        let _a = streams.admit(A, "1".into(), 1).await.unwrap();
        let b = streams.admit(B, "2".into(), 1).await.unwrap();
        assert_eq!(streams.admit(A, "3".into(), 1).await.unwrap_err(), Refusal::ServerFull);
        drop(b);
        assert!(streams.admit(A, "3".into(), 1).await.is_ok());
    }

    #[tokio::test]
    async fn a_refusal_does_not_take_a_client_slot() {
        let streams = streams(1, 1);
        let _held = streams.admit(A, "1".into(), 1).await.unwrap();
        assert_eq!(streams.admit(B, "2".into(), 1).await.unwrap_err(), Refusal::ServerFull);
        drop(_held);
        assert!(
            streams.admit(B, "3".into(), 1).await.is_ok(),
            "B was not left counted as holding a stream"
        );
    }

    #[tokio::test]
    async fn refused_clients_leave_nothing_behind_in_the_open_stream_map() {
        let streams = streams(1, 10);
        let _held = streams.admit(A, "held".into(), 1).await.unwrap();
        for n in 0..10_000u32 {
            let client = Client::Address(std::net::IpAddr::V4(n.into()));
            assert_eq!(
                streams.admit(client, n.to_string(), 1).await.unwrap_err(),
                Refusal::ServerFull
            );
        }
        assert_eq!(streams.clients_tracked().0, 1, "only the client with an open stream");
    }

    #[tokio::test]
    async fn requests_per_minute_are_counted_per_client() {
        let streams = Streams::new(&Limits { max_requests_per_minute: 2, ..Limits::default() });
        drop(streams.admit(A, "1".into(), 1).await.unwrap());
        drop(streams.admit(A, "2".into(), 1).await.unwrap());
        let Err(Refusal::TooManyRequests { limit: 2, retry_after }) =
            streams.admit(A, "3".into(), 1).await
        else {
            panic!("a third request in a minute was admitted")
        };
        assert!(retry_after > Duration::from_secs(25) && retry_after <= Duration::from_secs(30));
        assert!(streams.admit(B, "4".into(), 1).await.is_ok());
    }

    #[tokio::test]
    async fn the_token_budget_refuses_once_spent_and_names_when_it_comes_back() {
        let streams = Streams::new(&Limits { max_output_tokens_per_hour: 10, ..Limits::default() });
        let (mut admission, _) = streams.admit(A, "1".into(), 4).await.unwrap();
        admission.spend_tokens(6);
        drop(admission);
        let (mut admission, _) = streams.admit(A, "2".into(), 4).await.unwrap();
        admission.spend_tokens(6);
        drop(admission);
        let Err(Refusal::TokensSpent { limit: 10, retry_after }) =
            streams.admit(A, "3".into(), 4).await
        else {
            panic!("a client past its budget was admitted")
        };
        assert!(retry_after > Duration::from_secs(3590));
        assert!(streams.admit(B, "4".into(), 4).await.is_ok(), "the budget is per client");
    }

    #[tokio::test]
    async fn a_stream_holds_at_most_what_is_left_of_the_budget_until_it_ends() {
        let streams = Streams::new(&Limits { max_output_tokens_per_hour: 10, ..Limits::default() });
        let (mut first, _) = streams.admit(A, "1".into(), 4).await.unwrap();
        assert_eq!(first.tokens_held(), 4, "as many as the reply may use");
        let (second, _) = streams.admit(A, "2".into(), 100).await.unwrap();
        assert_eq!(second.tokens_held(), 6, "no more than is left");
        // Nothing spent yet, but nothing left to hold either: back soon,
        // not in an hour.
        assert_eq!(
            streams.admit(A, "3".into(), 1).await.unwrap_err(),
            Refusal::TokensHeld { limit: 10 }
        );
        assert_eq!(streams.admit(B, "4".into(), 100).await.unwrap().0.tokens_held(), 10);
        // The first used 1 of its 4: 3 come back.
        first.spend_tokens(1);
        drop(first);
        let (third, _) = streams.admit(A, "5".into(), 100).await.unwrap();
        assert_eq!(third.tokens_held(), 3);
        // A stream that ends without counting gives back all it held.
        drop(third);
        drop(second);
        assert_eq!(streams.admit(A, "6".into(), 100).await.unwrap().0.tokens_held(), 9);
    }

    #[tokio::test]
    async fn clients_refused_for_tokens_leave_nothing_behind() {
        let streams = Streams::new(&Limits { max_output_tokens_per_hour: 0, ..Limits::default() });
        for n in 0..10_000u32 {
            let client = Client::Address(std::net::IpAddr::V4(n.into()));
            let refusal = streams.admit(client, n.to_string(), 1).await.unwrap_err();
            assert!(matches!(refusal, Refusal::TokensSpent { limit: 0, .. }), "{refusal:?}");
        }
        assert_eq!(streams.clients_tracked().2, 0);
    }

    #[tokio::test]
    async fn a_stream_sent_more_than_it_held_is_counted_for_all_of_it() {
        let streams = Streams::new(&Limits { max_output_tokens_per_hour: 20, ..Limits::default() });
        let (mut admission, _) = streams.admit(A, "1".into(), 2).await.unwrap();
        let (_other, _) = streams.admit(A, "2".into(), 10).await.unwrap();
        // The model API wrote past its `max_tokens`.
        admission.spend_tokens(9);
        // Counted once: dropping it gives nothing back twice (which would
        // take from what the other stream holds).
        drop(admission);
        assert_eq!(streams.admit(A, "3".into(), 100).await.unwrap().0.tokens_held(), 1);
    }

    #[tokio::test]
    async fn stop_fires_that_stream_only_and_records_when() {
        let streams = streams(10, 10);
        let (one, one_stop) = streams.admit(A, "one".into(), 1).await.unwrap();
        let (two, two_stop) = streams.admit(A, "two".into(), 1).await.unwrap();
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

    #[tokio::test]
    async fn shutdown_stops_everything_and_admits_nothing() {
        let streams = streams(10, 10);
        let (open, stop) = streams.admit(A, "1".into(), 1).await.unwrap();
        let (other, other_stop) = streams.admit(B, "2".into(), 1).await.unwrap();
        streams.shut_down();
        assert!(stop.is_fired() && other_stop.is_fired());
        assert!(open.is_shutdown() && other.is_stopped());
        assert_eq!(streams.admit(B, "2".into(), 1).await.unwrap_err(), Refusal::ServerFull);
    }
}
