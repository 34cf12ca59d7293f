//! The `reins` binary: reads the configuration and runs the server.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use reins::config::Config;

/// jemalloc rather than glibc's allocator, whose `malloc` and `free` were
/// 15% of the relay's CPU while streams come and go: with jemalloc the
/// relay benchmark's churn closes a p99 of 47 ms against 92-143 and runs
/// 3,200-3,350 closes a second against 1,900-2,700, and an active stream
/// holds 33 KiB against 36 (two runs of each in one sitting, 2026-12-02;
/// see the README's Benchmark). mimalloc, tried before, took more memory.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The most log lines held for a log reader that has fallen behind: two per
/// chat, so a burst of 5,000 chats fits.
const LOG_LINES_BUFFERED: usize = 16_384;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    // The log is written by a thread of its own, a batch of lines at a
    // time. Written from the runtime's threads, every line was a `write` to
    // a pipe that woke its reader (6% of the relay's CPU while streams come
    // and go: `perf`, the relay benchmark's churn), and a log reader that
    // fell behind stalled the relay. Lines a stalled reader leaves beyond
    // the buffer are dropped rather than waited for. The buffer's slots are
    // allocated up front: the crate's default of 128,000 lines was 5 MB.
    let (log, _flushed_at_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_LINES_BUFFERED)
        .thread_name("reins-log")
        .finish(std::io::BufWriter::new(std::io::stdout()));
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(log)
        .init();
    match reins::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}
