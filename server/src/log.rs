//! The server's log: lines written to stdout by a thread of its own, and a
//! count of the lines it had to drop, for `/metrics`.
//!
//! Written from the runtime's threads, every line was a `write` to a pipe
//! that woke its reader (6% of the relay's CPU while streams come and go:
//! `perf`, the relay benchmark's churn), and a log reader that fell behind
//! (a log shipper, a full disk) stalled the relay. Here the log thread
//! writes a batch of lines at a time, and the lines a stalled reader leaves
//! beyond the buffer are dropped rather than waited for, and counted.

use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// The process's one log is global (as tracing's subscriber is), and so is
/// the count of what it dropped.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Sends the process's log to stdout through a thread of its own, holding
/// up to `buffered_lines` lines for a reader that falls behind. `RUST_LOG`
/// filters it (default `info`).
///
/// Lines still held are written when the returned guard drops: keep it
/// until the process ends.
pub fn init(buffered_lines: usize) -> WorkerGuard {
    // The buffer's slots are allocated up front: the crate's default of
    // 128,000 lines was 5 MB.
    let (log, flushed_on_drop) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(buffered_lines)
        .thread_name("reins-log")
        .finish(std::io::BufWriter::new(std::io::stdout()));
    // Set once: tracing allows one global subscriber, so a second call
    // panics at `init()` below.
    let _ = DROPPED.set(log.error_counter());
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(log)
        .init();
    flushed_on_drop
}

/// Log lines dropped so far because the log's reader fell behind (0 when
/// the log was not set up by [`init`], as in tests that build the router).
pub fn lines_dropped() -> u64 {
    DROPPED.get().map_or(0, |counter| counter.dropped_lines() as u64)
}
