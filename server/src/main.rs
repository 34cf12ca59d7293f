//! The `reins` binary: reads the configuration and runs the server.

use std::process::ExitCode;

use clap::Parser;

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

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let _flushed_at_exit = reins::log::init(config.log_buffer_lines as usize);
    let result = reins::run(config).await;
    let dropped = reins::log::lines_dropped();
    if dropped > 0 {
        tracing::warn!("{dropped} log lines were dropped because the log's reader fell behind");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}
