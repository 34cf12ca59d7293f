//! One reply's parts as they were sent, kept in memory so a client that
//! comes back can read them again from the start and follow the rest.
//!
//! The log is a `tokio::sync::watch` channel: the producer appends, every
//! reader waits for the log to grow past what it has sent. The channel's
//! receivers are the watchers, so "nobody is watching" is
//! [`watch::Sender::closed`], with no count kept by hand.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::Stream;
use tokio::sync::watch;
use tokio::time::Instant;

/// One part, as the JSON of its SSE `data:` line.
pub type Frame = Arc<str>;

/// A reply's parts so far. Cloning shares them.
#[derive(Clone, Debug)]
pub struct Replay {
    log: Arc<watch::Sender<Log>>,
    /// When the last reader went away.
    last_left: Arc<Mutex<Instant>>,
}

#[derive(Debug, Default)]
struct Log {
    frames: Vec<Frame>,
    /// No part will be added.
    ended: bool,
}

impl Default for Replay {
    fn default() -> Self {
        Self {
            log: Arc::new(watch::Sender::new(Log::default())),
            last_left: Arc::new(Mutex::new(Instant::now())),
        }
    }
}

impl Replay {
    /// Adds a part; every reader gets it.
    pub fn push(&self, frame: Frame) {
        self.log.send_modify(|log| log.frames.push(frame));
    }

    /// Marks the log complete: readers end once they have sent everything.
    pub fn end(&self) {
        self.log.send_modify(|log| log.ended = true);
    }

    /// Every part from the first, then each new one as it comes, until the
    /// log ends. The reader counts as watching until it is dropped.
    pub fn follow(&self) -> impl Stream<Item = Frame> + Send + use<> {
        let watcher = Watcher { log: self.log.subscribe(), last_left: self.last_left.clone() };
        futures::stream::unfold(
            (watcher, 0usize, Vec::new()),
            |(mut watcher, mut sent, mut ready)| async move {
                loop {
                    if let Some(frame) = ready.pop() {
                        return Some((frame, (watcher, sent, ready)));
                    }
                    let ended = {
                        let log = watcher
                            .log
                            .wait_for(|log| log.frames.len() > sent || log.ended)
                            .await
                            .ok()?;
                        // Reversed, so `pop` hands them out in order.
                        ready.extend(log.frames[sent..].iter().rev().cloned());
                        sent = log.frames.len();
                        log.ended
                    };
                    if ready.is_empty() && ended {
                        return None;
                    }
                }
            },
        )
    }

    /// Resolves once nobody has watched for `window`: no reader now, and
    /// none went away less than `window` ago; to when the last one went.
    /// Readers may come and go in the meantime; each one that leaves starts
    /// the window again.
    pub async fn unwatched_for(&self, window: Duration) -> Instant {
        loop {
            self.log.closed().await;
            let left = *lock(&self.last_left);
            tokio::time::sleep_until(left + window).await;
            if self.log.receiver_count() == 0 && *lock(&self.last_left) == left {
                return left;
            }
        }
    }
}

/// One reader's hold on the log. Its `Drop` runs before its receiver is
/// dropped, so whoever wakes because the last receiver went finds
/// `last_left` already set.
struct Watcher {
    log: watch::Receiver<Log>,
    last_left: Arc<Mutex<Instant>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        *lock(&self.last_left) = Instant::now();
    }
}

/// The time is a plain value: a panic elsewhere cannot leave it half-set.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn frame(text: &str) -> Frame {
        Arc::from(text)
    }

    #[tokio::test]
    async fn a_late_reader_gets_everything_from_the_start_and_then_what_follows() {
        let replay = Replay::default();
        replay.push(frame("a"));
        replay.push(frame("b"));
        let mut early = Box::pin(replay.follow());
        assert_eq!(early.next().await.as_deref(), Some("a"));
        let late = replay.follow();
        replay.push(frame("c"));
        replay.end();
        let late: Vec<Frame> = late.collect().await;
        assert_eq!(late.iter().map(|f| &**f).collect::<Vec<_>>(), ["a", "b", "c"]);
        let rest: Vec<Frame> = early.collect().await;
        assert_eq!(rest.iter().map(|f| &**f).collect::<Vec<_>>(), ["b", "c"]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_runs_from_when_the_last_reader_left() {
        let replay = Replay::default();
        let window = Duration::from_secs(5);
        let reader = replay.follow();
        let started = Instant::now();
        let unwatched = tokio::spawn({
            let replay = replay.clone();
            async move { replay.unwatched_for(window).await }
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(reader);
        // A reader that comes back and leaves again starts the window anew.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let again = replay.follow();
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(again);
        unwatched.await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(3 + 4 + 2 + 5));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unread_log_is_unwatched_after_the_window() {
        let replay = Replay::default();
        drop(replay.follow());
        let started = Instant::now();
        replay.unwatched_for(Duration::from_millis(300)).await;
        assert_eq!(started.elapsed(), Duration::from_millis(300));
    }
}
