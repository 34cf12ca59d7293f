//! A one-shot signal with a single waiting task: a reply's stop, a
//! connection's eviction.
//!
//! [`Trigger`] fires it, from any number of clones, any number of times;
//! [`Watch`], which cannot be cloned, is what the one task waits on.
//!
//! Why not `tokio_util`'s `CancellationToken`: the reply's loop polls its
//! stop, and the connection's task its eviction, on every wake-up, that is
//! for every token relayed, and each poll of a token takes its tree node's
//! mutex (`is_cancelled`) and then its `Notify`'s waiter list. In `perf`
//! on the relay benchmark that was the largest single item of the relay's
//! own code (`is_cancelled` 2.7% of all samples, the wait's poll 0.8%).
//! A poll here is an atomic load, and while the signal has not fired an
//! `AtomicWaker` registration, which skips the clone when the task is the
//! same (as `futures`' `Abortable` does). A token's tree (a parent cancelling
//! its children) is not needed: shutdown fires each open stream's trigger.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;

#[derive(Debug, Default)]
struct Shared {
    fired: AtomicBool,
    waker: AtomicWaker,
}

/// A new signal, not fired: its trigger, and the watch its one waiter holds.
pub fn signal() -> (Trigger, Watch) {
    let shared = Arc::new(Shared::default());
    (Trigger(shared.clone()), Watch(shared))
}

/// Fires the signal. Clones fire the same one.
#[derive(Clone, Debug)]
pub struct Trigger(Arc<Shared>);

impl Trigger {
    /// Fires the signal and wakes its waiter; firing again does nothing more.
    pub fn fire(&self) {
        // The flag is set before the wake, so a waiter woken (or one that
        // registers after this) finds it set.
        self.0.fired.store(true, Ordering::Release);
        self.0.waker.wake();
    }

    /// Whether the signal has fired.
    pub fn is_fired(&self) -> bool {
        self.0.fired.load(Ordering::Acquire)
    }
}

/// The waiting side: a future that is ready once the signal has fired, and
/// again every time it is polled after that.
#[derive(Debug)]
pub struct Watch(Arc<Shared>);

impl Watch {
    /// Whether the signal has fired.
    pub fn is_fired(&self) -> bool {
        self.0.fired.load(Ordering::Acquire)
    }
}

impl Future for Watch {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_fired() {
            return Poll::Ready(());
        }
        self.0.waker.register(cx.waker());
        // Fired between the load and the registration: its wake may have
        // found no waker, so look again.
        if self.is_fired() { Poll::Ready(()) } else { Poll::Pending }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_waiting_task_wakes_when_any_clone_fires() {
        let (trigger, mut watch) = signal();
        let clone = trigger.clone();
        assert!(!watch.is_fired() && !trigger.is_fired());
        let waiter = tokio::spawn(async move {
            (&mut watch).await;
            // Ready again, every time it is asked.
            (&mut watch).await;
            watch.is_fired()
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "woke before the signal fired");
        clone.fire();
        let fired = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert!(fired.expect("the waiter was never woken").unwrap());
        assert!(trigger.is_fired());
        trigger.fire();
    }

    #[tokio::test]
    async fn a_signal_fired_before_anyone_waits_is_ready_at_once() {
        let (trigger, watch) = signal();
        trigger.fire();
        tokio::time::timeout(Duration::from_secs(5), watch).await.expect("not ready");
    }

    /// Fired from another thread while the waiter moves between tasks and
    /// polls: no wake may be lost between its load and its registration.
    #[test]
    fn no_wake_is_lost_to_a_race() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            for _ in 0..2_000 {
                let (trigger, watch) = signal();
                let waiter = tokio::spawn(watch);
                let firer = std::thread::spawn(move || trigger.fire());
                tokio::time::timeout(Duration::from_secs(5), waiter)
                    .await
                    .expect("a wake was lost")
                    .unwrap();
                firer.join().unwrap();
            }
        });
    }
}
