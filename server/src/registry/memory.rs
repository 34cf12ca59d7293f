//! Receipts in this process's memory: one replica, or tests.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use app::protocol::Receipt;

/// Receipts by message id, each kept for a time to live, and at most a
/// fixed number of them (the oldest go first), so memory stays bounded
/// whatever the traffic.
#[derive(Clone, Debug)]
pub struct MemoryRegistry {
    inner: Arc<Mutex<Receipts>>,
}

#[derive(Debug)]
struct Receipts {
    /// Each receipt, with when it was last written.
    by_id: HashMap<String, (Receipt, Instant)>,
    /// When each id was written, oldest first; an id written again (when
    /// its reply ends) appears twice, and only its newest entry removes it.
    written: VecDeque<(String, Instant)>,
    ttl: Duration,
    capacity: usize,
}

impl MemoryRegistry {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Receipts {
                by_id: HashMap::new(),
                written: VecDeque::new(),
                ttl,
                capacity: capacity.max(1),
            })),
        }
    }

    pub fn put(&self, message_id: &str, receipt: Receipt) {
        let mut receipts = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        receipts.expire();
        let now = Instant::now();
        receipts.by_id.insert(message_id.to_owned(), (receipt, now));
        receipts.written.push_back((message_id.to_owned(), now));
        while receipts.by_id.len() > receipts.capacity
            || receipts.written.len() > 2 * receipts.capacity
        {
            receipts.forget_oldest();
        }
    }

    pub fn get(&self, message_id: &str) -> Option<Receipt> {
        let mut receipts = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        receipts.expire();
        receipts.by_id.get(message_id).map(|(receipt, _)| receipt.clone())
    }
}

impl Receipts {
    fn expire(&mut self) {
        while self.written.front().is_some_and(|(_, at)| at.elapsed() > self.ttl) {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        let Some((id, at)) = self.written.pop_front() else { return };
        // Written again since: its newer entry is further back.
        if self.by_id.get(&id).is_some_and(|(_, last)| *last == at) {
            self.by_id.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use app::protocol::ReplyState;

    use super::*;

    fn receipt(state: ReplyState) -> Receipt {
        Receipt {
            state,
            tokens_relayed: 1,
            output_tokens: 1,
            output_tokens_counted: true,
            noticed_at_us: None,
            upstream_dropped_at_us: None,
            summary: None,
        }
    }

    #[test]
    fn a_receipt_is_written_over_when_its_reply_ends() {
        let registry = MemoryRegistry::new(Duration::from_secs(60), 10);
        registry.put("msg_a", receipt(ReplyState::Streaming));
        registry.put("msg_a", receipt(ReplyState::Stopped));
        assert_eq!(registry.get("msg_a").unwrap().state, ReplyState::Stopped);
        assert_eq!(registry.get("msg_b"), None);
    }

    #[test]
    fn receipts_expire_and_the_oldest_go_past_the_capacity() {
        let registry = MemoryRegistry::new(Duration::from_millis(30), 2);
        registry.put("msg_a", receipt(ReplyState::Completed));
        registry.put("msg_b", receipt(ReplyState::Completed));
        registry.put("msg_c", receipt(ReplyState::Completed));
        assert_eq!(registry.get("msg_a"), None, "over the capacity");
        assert!(registry.get("msg_c").is_some());
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(registry.get("msg_c"), None, "past the time to live");
        assert_eq!(registry.inner.lock().unwrap().by_id.len(), 0);
    }
}
