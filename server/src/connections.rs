//! Accepting connections, with the limits `axum::serve` lacks.
//!
//! `axum::serve` runs hyper without a timer, so a connection that sends half
//! a request head, or stops reading its reply, holds its socket for ever;
//! enough of them exhaust the descriptor limit and the server stops
//! answering. Here every connection is held to:
//! - a header-read timeout (hyper's, which needs the timer given here);
//! - a write-stall timeout: a write that cannot proceed for the idle timeout
//!   fails, which closes the connection and so drops its reply's upstream
//!   request ([`StallGuard`]);
//! - a cap on open connections below the descriptor limit. At the cap, a new
//!   connection takes the place of the oldest one that is not in the middle
//!   of a request (still sending its head, or idle between requests), so
//!   clients that trickle headers a byte at a time cannot keep anyone else
//!   out ([`Registry`]); only when every connection is busy is the new one
//!   closed. A connection closed to make room counts until its task has
//!   closed its socket, and the new one waits for that: accepting a burst
//!   while the closes were still queued could pass the descriptor limit;
//! - a smaller cap per address (trusted proxies excepted), past which new
//!   connections from that address are closed at once.
//!
//! The body-read timeout is tower-http's, in the router.
//!
//! HTTP/1.1 only: Reins has no TLS, so browsers never speak HTTP/2 to it
//! directly (the proxy in front does), and an HTTP/2 connection with no open
//! stream is held by no timeout hyper offers.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::config::Config;
use crate::signal::{Trigger, Watch, signal};
use crate::state::AppState;
use crate::trust::Trust;

/// Connections the kernel may hold, handshake done, before they are
/// accepted; Linux caps it at `net.core.somaxconn` (4,096 by default since
/// Linux 5.4). tokio's `TcpListener::bind` asks for 128, as the standard
/// library does: a burst of 500 chats overflowed it, and each connection
/// past it waited for the client's SYN to be sent again, a second later
/// (README, "Benchmark").
pub const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr` with a queue of [`LISTEN_BACKLOG`] connections.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }?;
    // As `TcpListener::bind` does: a restarted server binds at once, not
    // after its last connections' TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Descriptors kept free of connections: the listener, the log, the demo
/// model, files being served, DNS.
const RESERVED_DESCRIPTORS: usize = 64;

/// What each connection is held to.
#[derive(Clone, Debug)]
pub struct ConnectionSettings {
    pub max_connections: usize,
    pub max_per_address: usize,
    pub header_read: Duration,
    /// How long a write may wait on a client that does not read.
    pub write_stall: Duration,
    /// Peers not held to the per-address cap.
    pub trust: Option<Arc<Trust>>,
}

impl ConnectionSettings {
    /// The settings for `config`, with the connection cap defaulting to what
    /// the descriptor limit leaves room for.
    pub fn from_config(config: &Config, state: &AppState) -> Self {
        let room = descriptor_limit().map(room_for_connections);
        let max_connections = match (config.connections.max_connections, room) {
            (Some(configured), Some(room)) if configured > room => {
                tracing::warn!(
                    configured,
                    room,
                    "REINS_MAX_CONNECTIONS is above what the descriptor limit leaves room for; raise `ulimit -n` (LimitNOFILE=)"
                );
                configured
            }
            (Some(configured), _) => configured,
            (None, Some(room)) => room,
            (None, None) => 1024,
        };
        Self {
            max_connections: max_connections.max(1),
            max_per_address: config.connections.max_connections_per_address.max(1),
            header_read: config.connections.header_read.duration(),
            write_stall: config.timeouts.idle.duration(),
            trust: Some(state.trust.clone()),
        }
    }
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_per_address: 64,
            header_read: Duration::from_secs(10),
            write_stall: Duration::from_secs(120),
            trust: None,
        }
    }
}

/// Each connection may hold two descriptors: its own, and its reply's
/// upstream connection.
fn room_for_connections(descriptors: usize) -> usize {
    (descriptors.saturating_sub(RESERVED_DESCRIPTORS) / 2).max(16)
}

/// The soft limit on open files, from `/proc/self/limits` (Linux).
fn descriptor_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Serves `router` on `listener` until `shutdown` completes, then waits at
/// most `deadline` for open connections before returning; see the module
/// documentation for the limits each connection is held to.
///
/// `shutdown` should also end the open streams (see
/// [`Streams::shut_down`](crate::streams::Streams::shut_down)): a stream
/// left open would hold its connection until the deadline.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    deadline: Duration,
    settings: ConnectionSettings,
) -> io::Result<()> {
    let registry = Registry::default();
    let per_address = PerAddress::default();
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(settings.header_read);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, or a connection reset before it
                    // was accepted: wait a little rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let exempt = settings.trust.as_ref().is_some_and(|trust| trust.is_trusted_proxy(peer.ip()));
        let Some(address_slot) = per_address.take(peer.ip(), settings.max_per_address, exempt)
        else {
            tracing::debug!(%peer, "connection refused: this address has as many as it may");
            continue;
        };
        let slot = loop {
            match registry.admit(settings.max_connections) {
                Admission::Admitted(slot, evicted) => break Some((slot, evicted)),
                // Its descriptor is free only once its task has dropped the
                // socket: accepting on meanwhile could run out of them.
                Admission::Closing(state) => state.closed.cancelled().await,
                Admission::Full => break None,
            }
        };
        let Some((slot, evicted)) = slot else {
            tracing::warn!(%peer, "connection refused: every connection is busy with a request");
            continue;
        };
        // A token per packet is the point here: no Nagle.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
        let io = TokioIo::new(StallGuard::new(tcp, settings.write_stall));
        let router = router.clone();
        let state = slot.state.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(ConnectionCloser(state.evict.clone()));
            // Busy from the complete head until the response's body is done.
            let busy = Busy::new(state.clone());
            let response = router.clone().oneshot(request.map(axum::body::Body::new));
            async move {
                let response = response.await?;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| BusyBody { body, _busy: busy }),
                )
            }
        });
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(Served {
            connection,
            evicted,
            peer,
            _address_slot: address_slot,
            _slot: slot,
        });
        // The connections accepted so far run before the next is taken:
        // in a burst of 500, each stream got to its first token sooner
        // (the median 3 ms less, "The accept loop yields" in the README).
        tokio::task::yield_now().await;
    }
    drop(listener);
    tracing::info!("shutting down: no new connections, open streams ending");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(deadline) => {
            tracing::warn!(?deadline, "connections still open after the shutdown deadline; exiting");
        }
    }
    Ok(())
}

pin_project_lite::pin_project! {
    /// One connection's task: serves it until it ends, or until it is
    /// closed to make room for a new one, then gives back its slots.
    ///
    /// Written out rather than as an `async` block around `select!`: the
    /// block held the connection twice for its whole life, as the variable
    /// it captured and inside the `select!` it was moved into (872 bytes
    /// each; the task was 2,048 bytes, 1,152 now).
    struct Served<C> {
        // Fields drop in this order: the connection, and with it its socket,
        // before the slots, since a new connection waiting for a slot
        // counts on the descriptor being free.
        #[pin]
        connection: C,
        evicted: Watch,
        peer: SocketAddr,
        _address_slot: AddressSlot,
        _slot: Slot,
    }
}

impl<C: Future<Output = hyper::Result<()>>> Future for Served<C> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if let Poll::Ready(served) = this.connection.poll(cx) {
            if let Err(error) = served {
                tracing::debug!(%error, peer = %this.peer, "connection ended with an error");
            }
            return Poll::Ready(());
        }
        ready!(Pin::new(this.evicted).poll(cx));
        tracing::debug!(peer = %this.peer, "connection closed to make room for a new one");
        Poll::Ready(())
    }
}

/// In a request's extensions: closes the connection the request came on.
#[derive(Clone, Debug)]
pub struct ConnectionCloser(pub Trigger);

/// Every open connection, oldest first, until its socket is closed.
#[derive(Clone, Debug, Default)]
struct Registry(Arc<Mutex<RegistryInner>>);

#[derive(Debug, Default)]
struct RegistryInner {
    next_id: u64,
    open: BTreeMap<u64, Arc<ConnectionState>>,
}

#[derive(Debug)]
struct ConnectionState {
    /// Requests in progress: from a complete head to the end of the body.
    busy: AtomicUsize,
    /// Fired to close the connection; its task watches it.
    evict: Trigger,
    /// Cancelled once its socket is closed.
    closed: CancellationToken,
}

/// What [`Registry::admit`] found.
enum Admission {
    /// A place for the new connection, and the watch its task waits on to
    /// close it.
    Admitted(Slot, Watch),
    /// None yet: this connection is closing to make room; ask again once it
    /// is closed.
    Closing(Arc<ConnectionState>),
    /// None: every connection is busy with a request.
    Full,
}

impl Registry {
    /// A place for a new connection when fewer than `max` are open; when
    /// `max` are, one already closing, or else the oldest idle one, closed
    /// to make room; [`Admission::Full`] when all are busy.
    fn admit(&self, max: usize) -> Admission {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.open.len() >= max {
            // Linear in the open connections, but only when the server is full.
            let closing = inner.open.values().find(|state| state.evict.is_fired());
            let idle = || inner.open.values().find(|state| state.busy.load(Ordering::Acquire) == 0);
            return match closing.or_else(idle) {
                Some(state) => {
                    state.evict.fire();
                    Admission::Closing(state.clone())
                }
                None => Admission::Full,
            };
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let (evict, evicted) = signal();
        let state = Arc::new(ConnectionState {
            busy: AtomicUsize::new(0),
            evict,
            closed: CancellationToken::new(),
        });
        inner.open.insert(id, state.clone());
        Admission::Admitted(Slot { registry: self.clone(), id, state }, evicted)
    }
}

/// One connection's place in the [`Registry`], held until its socket is
/// closed.
struct Slot {
    registry: Registry,
    id: u64,
    state: Arc<ConnectionState>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.0.lock().unwrap_or_else(PoisonError::into_inner).open.remove(&self.id);
        self.state.closed.cancel();
    }
}

/// Marks a connection busy while it lives.
struct Busy(Arc<ConnectionState>);

impl Busy {
    fn new(state: Arc<ConnectionState>) -> Self {
        state.busy.fetch_add(1, Ordering::AcqRel);
        Self(state)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its connection marked busy until hyper is
/// done with it (it drops the body once sent, or when the client goes).
struct BusyBody {
    body: axum::body::Body,
    _busy: Busy,
}

impl http_body::Body for BusyBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Open connections per address; an address with none has no entry.
#[derive(Clone, Debug, Default)]
struct PerAddress(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl PerAddress {
    fn take(&self, address: IpAddr, limit: usize, exempt: bool) -> Option<AddressSlot> {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.get(&address).copied().unwrap_or(0);
        if count >= limit && !exempt {
            return None;
        }
        counts.insert(address, count + 1);
        Some(AddressSlot { counts: self.clone(), address })
    }
}

/// One connection's place in [`PerAddress`].
struct AddressSlot {
    counts: PerAddress,
    address: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

/// A socket whose writes fail once they have been unable to proceed for
/// `limit`: a client that stops reading without closing then loses its
/// connection, and its reply's upstream request is dropped with it.
pub struct StallGuard<T> {
    io: T,
    limit: Duration,
    /// Armed while a write is waiting; allocated once, on the first wait.
    timer: Option<Pin<Box<Sleep>>>,
    waiting: bool,
}

impl<T> StallGuard<T> {
    pub fn new(io: T, limit: Duration) -> Self {
        Self { io, limit, timer: None, waiting: false }
    }

    /// Called when a write returned `Pending`: starts the clock if it is not
    /// running, and fails once it has run out.
    fn stalled<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let deadline = Instant::now() + self.limit;
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.waiting {
            timer.as_mut().reset(deadline);
            self.waiting = true;
        }
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client stopped reading its reply",
        )))
    }

    fn progress<R>(
        &mut self,
        polled: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Pending => self.stalled(cx),
            ready => {
                self.waiting = false;
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallGuard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallGuard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.progress(polled, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.progress(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.progress(polled, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn the_connection_cap_leaves_room_for_upstream_connections() {
        assert_eq!(room_for_connections(1024), 480);
        assert_eq!(room_for_connections(256), 96);
        assert_eq!(room_for_connections(10), 16);
    }

    impl Admission {
        fn admitted(self) -> Slot {
            match self {
                Admission::Admitted(slot, _) => slot,
                Admission::Closing(_) => panic!("a connection is closing to make room"),
                Admission::Full => panic!("every connection is busy"),
            }
        }

        /// The connection closing to make room, and its slot.
        fn closing(self, slots: &mut Vec<Slot>) -> Slot {
            let Admission::Closing(state) = self else { panic!("no connection is closing") };
            let at = slots.iter().position(|slot| Arc::ptr_eq(&slot.state, &state)).unwrap();
            slots.remove(at)
        }
    }

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room_once_closed_and_busy_ones_are_kept() {
        let registry = Registry::default();
        let mut slots: Vec<Slot> = (0..3).map(|_| registry.admit(3).admitted()).collect();
        let (oldest, busy) = (slots[0].state.clone(), slots[1].state.clone());
        let request = Busy::new(oldest.clone());
        let _other_request = Busy::new(busy.clone());
        // The idle third is told to close, and counted until it has: its
        // socket still holds a descriptor.
        let third = registry.admit(3).closing(&mut slots);
        assert!(third.state.evict.is_fired() && !third.state.closed.is_cancelled());
        assert!(!oldest.evict.is_fired() && !busy.evict.is_fired());
        // Asked again before it has closed: the same one, no other.
        let Admission::Closing(again) = registry.admit(3) else { panic!("none closing") };
        assert!(Arc::ptr_eq(&again, &third.state));
        // Its task drops the socket, then the slot.
        drop(third);
        assert!(again.closed.is_cancelled());
        slots.push(registry.admit(3).admitted());
        drop(request);
        let oldest_slot = registry.admit(3).closing(&mut slots);
        assert!(Arc::ptr_eq(&oldest_slot.state, &oldest), "the oldest is idle again");
        drop(oldest_slot);
        slots.push(registry.admit(3).admitted());
        let _in_use: Vec<Busy> = slots.iter().map(|slot| Busy::new(slot.state.clone())).collect();
        assert!(matches!(registry.admit(3), Admission::Full), "every connection is busy");
    }

    #[test]
    fn an_address_holds_at_most_its_share_and_gives_it_back() {
        let per_address = PerAddress::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let first = per_address.take(a, 2, false).unwrap();
        let _second = per_address.take(a, 2, false).unwrap();
        assert!(per_address.take(a, 2, false).is_none());
        assert!(per_address.take(a, 2, true).is_some(), "a trusted proxy is not limited");
        drop(first);
        assert!(per_address.take(a, 2, false).is_some());
        drop(_second);
        assert!(per_address.0.lock().unwrap().len() <= 1);
    }

    /// More connections at once than tokio's default queue of 128 holds
    /// (and than the burst of 500), none of them accepted yet: each
    /// one's handshake completes and waits in the queue. Past a full queue
    /// the kernel drops the SYN, and with nobody accepting here a dropped
    /// one never gets in, so the timeout only bounds the wait.
    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_queue_to_be_accepted() {
        const BURST: usize = 600;
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let addr = listener.local_addr().unwrap();
        let connecting = (0..BURST).map(|_| {
            tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        });
        let connected = futures::future::join_all(connecting).await;
        let in_queue = connected.iter().filter(|connect| matches!(connect, Ok(Ok(_)))).count();
        let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap_or_default();
        assert_eq!(
            in_queue,
            BURST,
            "the queue held {in_queue} (net.core.somaxconn, which caps it: {})",
            somaxconn.trim()
        );
    }

    #[tokio::test]
    async fn a_write_that_cannot_proceed_fails_after_the_limit() {
        let (client, server) = tokio::io::duplex(1024);
        let mut guarded = StallGuard::new(server, Duration::from_millis(100));
        let started = std::time::Instant::now();
        let chunk = [0u8; 512];
        let error = loop {
            if let Err(error) = guarded.write_all(&chunk).await {
                break error;
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(100));
        drop(client);
    }

    #[tokio::test]
    async fn a_slow_reader_that_keeps_reading_is_not_cut_off() {
        use tokio::io::AsyncReadExt;
        let (mut client, server) = tokio::io::duplex(64);
        let mut guarded = StallGuard::new(server, Duration::from_millis(100));
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let mut total = 0;
            while total < 64 * 20 {
                tokio::time::sleep(Duration::from_millis(30)).await;
                total += client.read(&mut buf).await.unwrap();
            }
        });
        for _ in 0..20 {
            guarded.write_all(&[1u8; 64]).await.expect("each write waits under the limit");
        }
        reader.await.unwrap();
    }
}
