//! A reply's wait for the model's next events, and what may end it first:
//! a stop, the limit on the whole reply, the limit on the model's silence.
//!
//! Why not `tokio::select!` over the four, as the loop once was: the events
//! are what comes nearly every time, and `select!` polled the stop and both
//! timers before them on every wake-up (registering the task with each),
//! and the silence timer was moved later for every batch. In `perf` on the
//! relay benchmark (delivery, 2026-12-06) that machinery was about 4% of
//! the relay's samples. Here, while the events keep coming, a wait costs
//! one atomic load and one comparison with the clock; the stop and the
//! timers are polled, so that they wake the task, only when the events are
//! not ready. The silence timer is moved only when it fires early. The
//! relay's user time a token at 2,000 streams went from 8.4-9.2 µs to
//! 8.0-8.7 (three pairs of runs in turn; README, "The reply's wait").

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};

use crate::signal::Watch;

/// What ended one wait.
#[derive(Debug, PartialEq, Eq)]
pub enum Waited<T> {
    /// The model's events: the stream's next item, `None` at its end.
    Next(Option<T>),
    Stopped,
    TotalTimeout,
    IdleTimeout,
}

/// What may end a reply while it waits for the model.
pub struct Limits<'a> {
    stop: &'a mut Watch,
    /// Fires when the whole reply has taken its time.
    total: Pin<&'a mut Sleep>,
    /// Fires at or before the end of the allowed silence; see [`Self::wait`].
    idle: Pin<&'a mut Sleep>,
    idle_limit: Duration,
}

impl<'a> Limits<'a> {
    /// `idle` may be set to any time up to now plus `idle_limit`.
    pub fn new(
        stop: &'a mut Watch,
        total: Pin<&'a mut Sleep>,
        idle: Pin<&'a mut Sleep>,
        idle_limit: Duration,
    ) -> Self {
        Self { stop, total, idle, idle_limit }
    }

    /// The next item of `events`, unless the reply is stopped, has taken its
    /// whole time, or the model stays silent for the idle limit from now.
    /// A stop or the total limit that came first wins over events that are
    /// ready; events that are ready win over silence that has just ended.
    pub async fn wait<S: Stream + Unpin>(&mut self, events: &mut S) -> Waited<S::Item> {
        let since = Instant::now();
        if self.stop.is_fired() {
            return Waited::Stopped;
        }
        if since >= self.total.deadline() {
            return Waited::TotalTimeout;
        }
        poll_fn(|cx| self.poll_wait(events, since, cx)).await
    }

    fn poll_wait<S: Stream + Unpin>(
        &mut self,
        events: &mut S,
        since: Instant,
        cx: &mut Context<'_>,
    ) -> Poll<Waited<S::Item>> {
        if self.stop.is_fired() {
            return Poll::Ready(Waited::Stopped);
        }
        if let Poll::Ready(next) = events.poll_next_unpin(cx) {
            return Poll::Ready(Waited::Next(next));
        }
        if Pin::new(&mut *self.stop).poll(cx).is_ready() {
            return Poll::Ready(Waited::Stopped);
        }
        if self.total.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Waited::TotalTimeout);
        }
        // The silence timer is left where it was set for an earlier wait,
        // which is no later than this one's end: when it fires early it is
        // moved to this wait's end (polled again, to wake the task then).
        let silence_ends = since + self.idle_limit;
        while self.idle.as_mut().poll(cx).is_ready() {
            if Instant::now() >= silence_ends {
                return Poll::Ready(Waited::IdleTimeout);
            }
            self.idle.as_mut().reset(silence_ends);
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::channel::mpsc;
    use futures::stream;
    use tokio::time::{advance, sleep};

    use super::*;
    use crate::signal::{Trigger, signal};

    const IDLE: Duration = Duration::from_millis(100);
    const TOTAL: Duration = Duration::from_millis(1_000);

    /// What a reply holds for its waits, as the reply's loop sets it up:
    /// the timers started now.
    struct Held {
        trigger: Trigger,
        stop: Watch,
        total: Pin<Box<Sleep>>,
        idle: Pin<Box<Sleep>>,
        idle_limit: Duration,
    }

    impl Held {
        fn new(idle_limit: Duration) -> Self {
            let (trigger, stop) = signal();
            let (total, idle) = (Box::pin(sleep(TOTAL)), Box::pin(sleep(idle_limit)));
            Self { trigger, stop, total, idle, idle_limit }
        }

        fn limits(&mut self) -> Limits<'_> {
            Limits::new(&mut self.stop, self.total.as_mut(), self.idle.as_mut(), self.idle_limit)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn events_that_keep_coming_are_not_silence() {
        let mut held = Held::new(IDLE);
        let mut limits = held.limits();
        let (send, mut events) = mpsc::unbounded();
        // Nine events 60 ms apart: 540 ms in all, each within the limit.
        let sender = tokio::spawn(async move {
            for event in 0..9 {
                sleep(Duration::from_millis(60)).await;
                send.unbounded_send(event).unwrap();
            }
            sleep(Duration::from_millis(90)).await;
            drop(send);
        });
        for event in 0..9 {
            assert_eq!(limits.wait(&mut events).await, Waited::Next(Some(event)));
        }
        assert_eq!(limits.wait(&mut events).await, Waited::Next(None));
        sender.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn silence_ends_the_wait_at_the_limit_from_its_start() {
        let mut held = Held::new(IDLE);
        let mut limits = held.limits();
        let (send, mut events) = mpsc::unbounded::<u32>();
        // 70 ms in, the timer set for 100 ms is early for a wait that
        // starts now: it ends at 170 ms.
        advance(Duration::from_millis(70)).await;
        let started = Instant::now();
        assert_eq!(limits.wait(&mut events).await, Waited::IdleTimeout);
        assert_eq!(started.elapsed(), IDLE);
        drop(send);
    }

    #[tokio::test(start_paused = true)]
    async fn the_total_limit_ends_a_reply_whose_events_are_always_ready() {
        let mut held = Held::new(IDLE);
        let mut limits = held.limits();
        let mut events = stream::repeat(1);
        for _ in 0..10 {
            assert_eq!(limits.wait(&mut events).await, Waited::Next(Some(1)));
        }
        advance(TOTAL).await;
        assert_eq!(limits.wait(&mut events).await, Waited::TotalTimeout);
    }

    #[tokio::test(start_paused = true)]
    async fn the_total_limit_ends_a_silent_wait() {
        let mut held = Held::new(TOTAL * 2);
        let mut events = stream::pending::<u32>();
        assert_eq!(held.limits().wait(&mut events).await, Waited::TotalTimeout);
        assert_eq!(Instant::now() - held.total.deadline(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_wins_over_ready_events() {
        let mut held = Held::new(IDLE);
        let trigger = held.trigger.clone();
        let mut limits = held.limits();
        let mut ready = stream::repeat(1);
        assert_eq!(limits.wait(&mut ready).await, Waited::Next(Some(1)));
        trigger.fire();
        assert_eq!(limits.wait(&mut ready).await, Waited::Stopped);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_wakes_a_waiting_reply() {
        let mut held = Held::new(IDLE);
        let trigger = held.trigger.clone();
        let mut limits = held.limits();
        let mut silent = stream::pending::<u32>();
        // Fired from another task: only the stop's own wake-up can end the
        // wait before the silence timer does, 100 ms in.
        let firing = tokio::spawn(async move {
            sleep(Duration::from_millis(10)).await;
            trigger.fire();
        });
        let started = Instant::now();
        assert_eq!(limits.wait(&mut silent).await, Waited::Stopped);
        assert_eq!(started.elapsed(), Duration::from_millis(10));
        firing.await.unwrap();
    }
}
