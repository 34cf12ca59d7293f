//! The server's log: lines written to stdout by a thread of its own, and a
//! count of the lines it had to drop, for `/metrics`.
//!
//! Written from the runtime's threads, every line was a `write` to a pipe
//! that woke its reader (6% of the relay's CPU while streams come and go:
//! `perf`, the relay benchmark's churn), and a log reader that fell behind
//! (a log shipper, a full disk) stalled the relay. Here the log thread
//! writes a batch of lines at a time, and the lines a stalled reader leaves
//! beyond the buffer are dropped rather than waited for, and counted.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt};

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
    let (targets, env_filter) = filter(std::env::var("RUST_LOG").ok().as_deref());
    tracing_subscriber::registry()
        .with(targets)
        .with(env_filter)
        // Colours only for a person at a terminal, not into a log file or
        // a shipper's pipe.
        .with(fmt::layer().with_ansi(std::io::stdout().is_terminal()).with_writer(log))
        .init();
    flushed_on_drop
}

/// The filter `RUST_LOG` names (`info` when it is unset or unreadable): one
/// of the two, the other `None`.
///
/// `EnvFilter` reads the whole syntax, and to apply span directives
/// (`target[span{field=value}]=level`) it takes a read lock and a
/// thread-local on every entry into a span and every exit; a reply's span
/// is entered on every poll of its stream, once per token relayed or more
/// (`EnvFilter::on_enter` was 1.0-1.6% of the relay's CPU samples in
/// `perf`). Directives of targets and levels only, the usual kind, are
/// read as [`Targets`] instead: the same syntax for them, and no work when
/// a span is entered.
fn filter(directives: Option<&str>) -> (Option<Targets>, Option<EnvFilter>) {
    let directives = directives.unwrap_or("info");
    if !directives.contains('[')
        && !directives.trim().is_empty()
        && let Ok(targets) = directives.parse::<Targets>()
    {
        return (Some(targets), None);
    }
    (None, Some(EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"))))
}

/// Log lines dropped so far because the log's reader fell behind (0 when
/// the log was not set up by [`init`], as in tests that build the router).
pub fn lines_dropped() -> u64 {
    DROPPED.get().map_or(0, |counter| counter.dropped_lines() as u64)
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    /// What `targets` enables, for each of `cases`: (target, level, enabled).
    fn enables(directives: &str, cases: &[(&str, Level, bool)]) {
        let (Some(targets), None) = filter(Some(directives)) else {
            panic!("{directives:?} was not read as targets and levels")
        };
        for &(target, level, enabled) in cases {
            assert_eq!(
                targets.would_enable(target, &level),
                enabled,
                "{directives:?}: {target} at {level}"
            );
        }
    }

    #[test]
    fn targets_and_levels_are_read_without_a_filter_kept_per_span() {
        const DEBUG: Level = Level::DEBUG;
        const INFO: Level = Level::INFO;
        const TRACE: Level = Level::TRACE;
        const WARN: Level = Level::WARN;
        enables("info", &[("reins", INFO, true), ("reins", DEBUG, false), ("hyper", WARN, true)]);
        enables(
            "warn,reins=debug",
            &[("reins::relay", DEBUG, true), ("reins", TRACE, false), ("hyper", INFO, false)],
        );
        enables(
            "reins::relay=trace,hyper=off",
            &[
                ("reins::relay::reply", TRACE, true),
                ("hyper::proto", WARN, false),
                ("reins", INFO, false),
            ],
        );
        enables("off", &[("reins", WARN, false)]);
        assert!(filter(None).0.is_some_and(|targets| targets.would_enable("reins", &INFO)));
    }

    #[test]
    fn span_directives_and_unreadable_ones_go_to_env_filter() {
        for directives in
            ["reins[chat]=debug", "info,reins[chat{message_id=msg_1}]=trace", "", "=="]
        {
            let (targets, env_filter) = filter(Some(directives));
            assert!(targets.is_none() && env_filter.is_some(), "{directives:?}");
        }
    }
}
