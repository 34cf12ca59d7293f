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
//! - a cap on open connections below the descriptor limit, and a smaller
//!   one per address (trusted proxies excepted), past which new connections
//!   are closed at once instead of waiting in the kernel's queue.
//!
//! The body-read timeout is tower-http's, in the router.
//!
//! HTTP/1.1 only: Reins has no TLS, so browsers never speak HTTP/2 to it
//! directly (the proxy in front does), and an HTTP/2 connection with no open
//! stream is held by no timeout hyper offers.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::config::Config;
use crate::state::AppState;
use crate::trust::Trust;

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

/// Serves `router` on `listener`; see the module documentation.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    deadline: Duration,
    settings: ConnectionSettings,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(settings.max_connections));
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
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection refused: the server has as many as it allows");
            continue;
        };
        let exempt =
            settings.trust.as_ref().is_some_and(|trust| trust.is_trusted_proxy(peer.ip()));
        let Some(address_slot) = per_address.take(peer.ip(), settings.max_per_address, exempt)
        else {
            tracing::debug!(%peer, "connection refused: this address has as many as it may");
            continue;
        };
        // A token per packet is the point here: no Nagle.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
        let io = TokioIo::new(StallGuard::new(tcp, settings.write_stall));
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request.map(axum::body::Body::new))
        });
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
            drop(address_slot);
            drop(permit);
        });
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

    fn progress<R>(&mut self, polled: Poll<io::Result<R>>, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
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
