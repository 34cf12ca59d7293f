//! The demo model's record of every generation: when it started, when it
//! ended, how many tokens it sent, and whether it finished or its client went
//! away. This is how tests (and curious people) see that Stop really stopped
//! the model, and after how many tokens. With several replicas, each ended
//! generation is also handed to whoever asked ([`Generations::on_end`]), so
//! that any replica can answer for it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// How many generations are remembered; older ones are forgotten.
const CAPACITY: usize = 1000;

/// How a generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still sending tokens.
    Running,
    /// Sent its whole reply.
    Completed,
    /// Its client closed the connection before the reply was complete.
    ClientClosed,
}

/// One generation, as `GET /api/demo/generations` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    pub id: String,
    /// The `x-request-id` of the request: Reins sends its own request id,
    /// which the chat response also carries, so a client can find the
    /// generation behind its reply (and nobody else's).
    pub request_id: Option<String>,
    /// Unix-epoch microseconds.
    pub started_at_us: u64,
    /// Unix-epoch microseconds; `null` while running.
    pub ended_at_us: Option<u64>,
    pub tokens_sent: u64,
    pub outcome: Outcome,
}

/// What is done with each generation as it ends.
type OnEnd = Box<dyn Fn(Generation) + Send + Sync>;

/// The shared record of generations, newest last.
#[derive(Clone, Default)]
pub struct Generations {
    records: Arc<Mutex<VecDeque<Generation>>>,
    on_end: Arc<OnceLock<OnEnd>>,
}

impl std::fmt::Debug for Generations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generations").field("records", &self.lock().len()).finish_non_exhaustive()
    }
}

impl Generations {
    /// Hands every generation that ends from now on to `hook`, once its
    /// record here is closed. Set once; a second hook is refused (false).
    pub fn on_end(&self, hook: impl Fn(Generation) + Send + Sync + 'static) -> bool {
        self.on_end.set(Box::new(hook)).is_ok()
    }

    /// All remembered generations, newest first.
    pub fn newest_first(&self) -> Vec<Generation> {
        self.lock().iter().rev().cloned().collect()
    }

    /// The newest generation asked for with this request id.
    pub fn find(&self, request_id: &str) -> Option<Generation> {
        self.lock().iter().rev().find(|g| g.request_id.as_deref() == Some(request_id)).cloned()
    }

    /// Records a new running generation. The returned guard ends it: as
    /// completed if told so, and otherwise, when dropped, as client-closed.
    pub fn begin(&self, id: String, request_id: Option<String>) -> GenerationGuard {
        let mut generations = self.lock();
        if generations.len() == CAPACITY {
            generations.pop_front();
        }
        generations.push_back(Generation {
            id: id.clone(),
            request_id,
            started_at_us: now_us(),
            ended_at_us: None,
            tokens_sent: 0,
            outcome: Outcome::Running,
        });
        GenerationGuard { generations: self.clone(), id, tokens_sent: 0, completed: false }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Generation>> {
        // A panic elsewhere cannot leave a record half-written, so the data
        // behind a poisoned lock is still good.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the record of generation `id`, and returns it changed.
    fn update(&self, id: &str, change: impl FnOnce(&mut Generation)) -> Option<Generation> {
        let mut records = self.lock();
        let generation = records.iter_mut().rev().find(|g| g.id == id)?;
        change(generation);
        Some(generation.clone())
    }
}

/// Ends a generation's record when the generation ends, however it ends.
///
/// It lives inside the response stream: when the client disconnects, the
/// stream is dropped mid-way and so is this guard, which is the only code that
/// runs at that moment. Code after the stream's last `yield` never would.
#[derive(Debug)]
pub struct GenerationGuard {
    generations: Generations,
    id: String,
    tokens_sent: u64,
    completed: bool,
}

impl GenerationGuard {
    /// Counts one more token sent.
    pub fn token_sent(&mut self) {
        self.tokens_sent += 1;
        let tokens = self.tokens_sent;
        self.generations.update(&self.id, |generation| generation.tokens_sent = tokens);
    }

    /// Marks the generation complete; the record is closed when the guard drops.
    pub fn complete(&mut self) {
        self.completed = true;
    }
}

impl Drop for GenerationGuard {
    fn drop(&mut self) {
        let outcome = if self.completed { Outcome::Completed } else { Outcome::ClientClosed };
        let ended = now_us();
        let record = self.generations.update(&self.id, |generation| {
            generation.ended_at_us = Some(ended);
            generation.outcome = outcome;
        });
        if let (Some(record), Some(hook)) = (record, self.generations.on_end.get()) {
            hook(record);
        }
        tracing::info!(
            id = self.id,
            tokens_sent = self.tokens_sent,
            ?outcome,
            "demo generation ended"
        );
    }
}

fn now_us() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_generation_is_client_closed_with_its_token_count() {
        let generations = Generations::default();
        let mut guard = generations.begin("a".into(), None);
        guard.token_sent();
        guard.token_sent();
        assert_eq!(generations.newest_first()[0].outcome, Outcome::Running);
        assert_eq!(generations.newest_first()[0].tokens_sent, 2);
        drop(guard);
        let record = &generations.newest_first()[0];
        assert_eq!(record.outcome, Outcome::ClientClosed);
        assert_eq!(record.tokens_sent, 2);
        assert!(record.ended_at_us.unwrap() >= record.started_at_us);
    }

    #[test]
    fn a_completed_generation_says_so_and_the_newest_comes_first() {
        let generations = Generations::default();
        let mut first = generations.begin("first".into(), None);
        first.complete();
        drop(first);
        drop(generations.begin("second".into(), None));
        let records = generations.newest_first();
        assert_eq!(records[0].id, "second");
        assert_eq!(records[1].outcome, Outcome::Completed);
    }

    #[test]
    fn a_generation_is_found_by_its_request_id_only() {
        let generations = Generations::default();
        drop(generations.begin("a".into(), Some("req_a".into())));
        drop(generations.begin("b".into(), None));
        assert_eq!(generations.find("req_a").unwrap().id, "a");
        assert!(generations.find("req_b").is_none());
        assert!(generations.find("").is_none(), "a generation without an id is never found");
    }

    #[test]
    fn each_generation_is_handed_on_once_as_it_ends() {
        let generations = Generations::default();
        let ended = Arc::new(Mutex::new(Vec::new()));
        let seen = ended.clone();
        assert!(generations.on_end(move |generation| seen.lock().unwrap().push(generation)));
        assert!(!generations.on_end(|_| {}), "one hook only");
        let mut first = generations.begin("first".into(), Some("req_1".into()));
        first.token_sent();
        assert!(ended.lock().unwrap().is_empty(), "not while it runs");
        drop(first);
        let mut second = generations.begin("second".into(), None);
        second.complete();
        drop(second);
        let ended = ended.lock().unwrap();
        assert_eq!(ended.len(), 2);
        assert_eq!(ended[0], generations.find("req_1").unwrap());
        assert_eq!((ended[0].outcome, ended[0].tokens_sent), (Outcome::ClientClosed, 1));
        assert_eq!(ended[1].outcome, Outcome::Completed);
    }

    #[test]
    fn old_generations_are_forgotten() {
        let generations = Generations::default();
        for index in 0..CAPACITY + 5 {
            drop(generations.begin(index.to_string(), None));
        }
        let records = generations.newest_first();
        assert_eq!(records.len(), CAPACITY);
        assert_eq!(records.last().unwrap().id, "5");
    }

    #[test]
    fn serializes_as_documented() {
        let generation = Generation {
            id: "g".into(),
            request_id: Some("msg_1".into()),
            started_at_us: 1,
            ended_at_us: Some(2),
            tokens_sent: 3,
            outcome: Outcome::ClientClosed,
        };
        assert_eq!(
            serde_json::to_value(generation).unwrap(),
            serde_json::json!({"id": "g", "request_id": "msg_1", "started_at_us": 1, "ended_at_us": 2, "tokens_sent": 3, "outcome": "client_closed"})
        );
    }
}
