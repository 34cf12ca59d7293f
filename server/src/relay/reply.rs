//! One relayed reply, from `start` to `finish`, `abort` or `error`.
//!
//! Cancellation is by ownership: the upstream request, and later its response
//! body, live inside the stream built here, which the chat handler returns to
//! axum. When the client disconnects, axum drops the stream, and with it the
//! `reqwest` future or response, which closes the upstream connection. Nothing
//! is spawned, so nothing can outlive the client and keep reading from the
//! upstream. A stop request or shutdown fires the stream's stop signal, which
//! the loop watches beside the upstream, with the same effect.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use futures::{Stream, StreamExt};
use tokio::time::{sleep, timeout};

use app::protocol::{FinishReason, MessageMetadata, Receipt, ReplyState, UiMessageChunk, Usage};

use super::{ModelEvent, ModelRequest, RelayError, Upstream, UsageReport};
use crate::metrics::{Metrics, Outcome};
use crate::registry::{Registry, unix_us};
use crate::signal::Watch;
use crate::streams::Admission;
use wait::{Limits, Waited};

mod wait;

/// What the client is told when a stop request ends its reply.
pub const STOPPED_REASON: &str = "Stopped by request.";

/// What the client is told when shutdown ends its reply.
pub const SHUTDOWN_MESSAGE: &str = "The server is shutting down; the reply was cut short.";

/// Everything one relayed reply needs.
pub struct Reply {
    pub upstream: Arc<Upstream>,
    pub request: ModelRequest,
    /// The id the model API is given (`x-request-id`): not the message id,
    /// which is the capability to stop the reply.
    pub request_id: String,
    pub admission: Admission,
    /// Fires when the reply must stop: a stop request, or shutdown.
    pub stop: Watch,
    pub metrics: Metrics,
    /// Where the reply's receipt is recorded when it ends.
    pub registry: Registry,
}

/// The reply as UI message parts. The `start` part comes at once, before the
/// upstream is asked, so the client has the message id while the model is
/// still thinking.
pub fn stream(reply: Reply) -> ReplyStream {
    let Reply { upstream, request, request_id, admission, stop, metrics, registry } = reply;
    let outcome = Arc::new(OnceLock::new());
    let receipt = Arc::new(OnceLock::new());
    let deltas = Arc::new(AtomicU64::new(0));
    let span = tracing::info_span!("chat", message_id = admission.message_id());
    metrics.stream_opened();
    let parts = parts(
        upstream,
        request,
        Ids { message_id: admission.message_id().to_owned(), request_id },
        Cancel {
            stop,
            is_shutdown: admission.shutdown_check(),
            stop_noticed_at: admission.stop_noticed_at(),
        },
        metrics.clone(),
        Ends { outcome: outcome.clone(), receipt: receipt.clone(), deltas: deltas.clone() },
    );
    ReplyStream {
        parts: Some(Box::pin(parts)),
        outcome,
        receipt,
        registry,
        metrics,
        span,
        started: Instant::now(),
        deltas,
        admission,
        client_left_at_us: None,
    }
}

/// How the loop over the upstream's events ended.
enum End {
    /// The model finished, with this reason and, once the stream is over,
    /// the usage it reported.
    Completed(Option<FinishReason>, Option<Usage>),
    Stopped,
    Shutdown,
    Failed(RelayError),
}

/// A reply's two ids: the client's (the capability to stop it) and the
/// model API's.
struct Ids {
    message_id: String,
    request_id: String,
}

/// What ends a reply early, and when a stop request for it arrived.
struct Cancel<F> {
    stop: Watch,
    is_shutdown: F,
    stop_noticed_at: Arc<OnceLock<u64>>,
}

/// Where the parts record how the reply ended, for [`ReplyStream`]'s `Drop`,
/// and the count of deltas [`ReplyStream`] relayed, for the receipt.
struct Ends {
    outcome: Arc<OnceLock<Outcome>>,
    receipt: Arc<OnceLock<Receipt>>,
    deltas: Arc<AtomicU64>,
}

fn parts(
    upstream: Arc<Upstream>,
    request: ModelRequest,
    Ids { message_id, request_id }: Ids,
    Cancel { stop, is_shutdown, stop_noticed_at }: Cancel<impl Fn() -> bool + Send + 'static>,
    metrics: Metrics,
    Ends { outcome, receipt, deltas }: Ends,
) -> impl Stream<Item = UiMessageChunk> + Send {
    let stopped = move || if is_shutdown() { End::Shutdown } else { End::Stopped };
    async_stream::stream! {
        yield UiMessageChunk::Start { message_id: Some(message_id.clone()) };

        let timeouts = upstream.timeouts();
        // The stop, the total limit and the idle limit are each one future
        // for the whole reply (see `wait`). Made afresh in each turn of the
        // loop, as they once were, each was registered with the token's
        // waiters or the timer wheel and removed again, under their locks,
        // for every token relayed.
        let mut stopped_by_request = stop;
        let total_limit = sleep(timeouts.total.duration());
        tokio::pin!(total_limit);
        let asked = Instant::now();
        // Boxed, and so freed once the response head is in: held in place,
        // the request's future (832 bytes) would size the reply's state for
        // as long as the model writes.
        let sent = Box::pin(timeout(
            timeouts.first_byte.duration(),
            upstream.send(request, &request_id),
        ));
        let response = tokio::select! {
            biased;
            () = &mut stopped_by_request => Err(stopped()),
            () = &mut total_limit => Err(End::Failed(RelayError::TotalTimeout(timeouts.total.duration()))),
            response = sent => match response {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(error)) => Err(End::Failed(error)),
                Err(_) => Err(End::Failed(RelayError::FirstByteTimeout(timeouts.first_byte.duration()))),
            },
        };
        // The output tokens the model API reported, for the receipt.
        let mut reported: Option<u64> = None;
        let (end, noticed, dropped_at) = match response {
            Err(end) => (end, Instant::now(), unix_us()),
            Ok(response) => {
                metrics.upstream_first_byte(asked.elapsed());
                yield UiMessageChunk::StartStep;
                let mut events = upstream.events(response);
                let mut blocks = Blocks::default();
                let mut usage = UsageReport::default();
                let mut finish = None;
                let mut bytes_left = upstream.max_reply_bytes();
                let idle_limit = sleep(timeouts.idle.duration());
                tokio::pin!(idle_limit);
                let mut limits = Limits::new(
                    &mut stopped_by_request,
                    total_limit.as_mut(),
                    idle_limit.as_mut(),
                    timeouts.idle.duration(),
                );
                let end = 'relay: loop {
                    // The model is silent from the start of each wait: the
                    // time the last parts waited for a slow client is not
                    // its silence.
                    let next = match limits.wait(&mut events).await {
                        Waited::Next(next) => next,
                        Waited::Stopped => break stopped(),
                        Waited::TotalTimeout => break End::Failed(RelayError::TotalTimeout(timeouts.total.duration())),
                        Waited::IdleTimeout => break End::Failed(RelayError::IdleTimeout(timeouts.idle.duration())),
                    };
                    let batch = match next {
                        Some(Ok(batch)) => batch,
                        Some(Err(error)) => break End::Failed(error),
                        // Some servers end without `[DONE]`; a finish reason is enough.
                        None if finish.is_some() => break End::Completed(finish, None),
                        None => break End::Failed(RelayError::Interrupted),
                    };
                    for event in batch {
                        let (event, spent) = within_budget(event, &mut bytes_left);
                        match event {
                            Some(ModelEvent::Text(delta)) => {
                                for part in blocks.text(delta) {
                                    yield part;
                                }
                            }
                            Some(ModelEvent::Reasoning(delta)) => {
                                for part in blocks.reasoning(delta) {
                                    yield part;
                                }
                            }
                            Some(ModelEvent::Usage(report)) => usage.merge(report),
                            Some(ModelEvent::Finish(reason)) => finish = Some(reason),
                            Some(ModelEvent::Done) => break 'relay End::Completed(finish, None),
                            None => {}
                        }
                        if spent {
                            let limit = upstream.max_reply_bytes();
                            break 'relay End::Failed(RelayError::ReplyTooLong(limit));
                        }
                    }
                };
                let noticed = Instant::now();
                // Release the upstream before the last parts go out: after a
                // stop or a failure it must not wait on a slow client.
                drop(events);
                let dropped_at = unix_us();
                for part in blocks.close() {
                    yield part;
                }
                reported = usage.usage().map(|usage| usage.output_tokens);
                let end = match end {
                    End::Completed(reason, _) => End::Completed(reason, usage.usage()),
                    other => other,
                };
                (end, noticed, dropped_at)
            }
        };
        // Every delta yielded has passed through `ReplyStream::poll_next`,
        // which counts them, before this runs.
        let relayed = deltas.load(Ordering::Relaxed);
        let receipt_for = |state, dropped_at: Option<u64>| Receipt {
            state,
            tokens_relayed: relayed,
            output_tokens: reported.unwrap_or(relayed),
            output_tokens_counted: reported.is_none(),
            noticed_at_us: dropped_at.map(|dropped_at| *stop_noticed_at.get().unwrap_or(&dropped_at)),
            upstream_dropped_at_us: dropped_at,
            summary: None,
        }
        .summarized();
        match end {
            End::Stopped => {
                metrics.upstream_dropped(noticed.elapsed());
                let _ = outcome.set(Outcome::Stopped);
                let stopped = receipt_for(ReplyState::Stopped, Some(dropped_at));
                let _ = receipt.set(stopped.clone());
                // A client still listening has the receipt at once.
                let message_metadata = MessageMetadata { usage: None, receipt: Some(stopped) };
                yield UiMessageChunk::MessageMetadata { message_metadata };
                yield UiMessageChunk::Abort { reason: Some(STOPPED_REASON.into()) };
            }
            End::Shutdown => {
                metrics.upstream_dropped(noticed.elapsed());
                let _ = outcome.set(Outcome::Shutdown);
                let _ = receipt.set(receipt_for(ReplyState::Failed, Some(dropped_at)));
                yield UiMessageChunk::Error { error_text: SHUTDOWN_MESSAGE.into() };
            }
            End::Failed(error) => {
                // The details (the model API's own words, its address) go to
                // the log; the client is told what kind of failure it was.
                tracing::warn!(%error, "reply failed");
                let _ = outcome.set(if error.is_timeout() { Outcome::Timeout } else { Outcome::UpstreamError });
                let _ = receipt.set(receipt_for(ReplyState::Failed, None));
                yield UiMessageChunk::Error { error_text: error.client_text() };
            }
            End::Completed(reason, usage) => {
                let _ = outcome.set(Outcome::Completed);
                let _ = receipt.set(receipt_for(ReplyState::Completed, None));
                yield UiMessageChunk::FinishStep;
                let message_metadata =
                    usage.map(|usage| MessageMetadata { usage: Some(usage), receipt: None });
                yield UiMessageChunk::Finish { finish_reason: reason, message_metadata };
            }
        }
    }
}

/// What a delta costs of a reply's bytes beyond its text: the least JSON of
/// the part that carries it (`{"type":"text-delta","id":"text-1","delta":""}`).
/// Counting only the text, a model API sending a byte an event would have a
/// reply send, and keep for resuming, some fifty times its budget.
const DELTA_PART_BYTES: u64 = 46;

/// Takes `event`'s text, if it has any, and the part around it out of what
/// the reply may still send (`left` bytes): all of it when it fits; else as
/// much text as fits, cut at a character's boundary (no event, when that is
/// none), and `true`: the reply has had all it may, and ends.
fn within_budget(event: ModelEvent, left: &mut u64) -> (Option<ModelEvent>, bool) {
    let (mut delta, rebuild): (String, fn(String) -> ModelEvent) = match event {
        ModelEvent::Text(delta) => (delta, ModelEvent::Text),
        ModelEvent::Reasoning(delta) => (delta, ModelEvent::Reasoning),
        other => return (Some(other), false),
    };
    let cost = u64::try_from(delta.len()).unwrap_or(u64::MAX).saturating_add(DELTA_PART_BYTES);
    if cost <= *left {
        *left -= cost;
        return (Some(rebuild(delta)), false);
    }
    let fits = left.saturating_sub(DELTA_PART_BYTES);
    delta.truncate(delta.floor_char_boundary(usize::try_from(fits).unwrap_or(usize::MAX)));
    *left = 0;
    ((!delta.is_empty()).then(|| rebuild(delta)), true)
}

/// One part as the JSON of its SSE `data:` line.
pub fn json(part: &UiMessageChunk) -> String {
    // Every part is a plain struct of strings and enums: it always serializes.
    serde_json::to_string(part).expect("UI message parts always serialize")
}

/// The parts of a reply, wrapped so that whatever ends it (completion, stop,
/// failure, or the client going away) is counted, logged and timed.
///
/// When the client disconnects, dropping this is the only code that runs, so
/// the bookkeeping lives in its `Drop`: code after the stream's last `yield`
/// would never run.
pub struct ReplyStream {
    parts: Option<Pin<Box<dyn Stream<Item = UiMessageChunk> + Send>>>,
    outcome: Arc<OnceLock<Outcome>>,
    /// How the reply ended, when its parts got to say so.
    receipt: Arc<OnceLock<Receipt>>,
    registry: Registry,
    metrics: Metrics,
    span: tracing::Span,
    started: Instant,
    /// Text and reasoning deltas relayed: the output tokens counted when the
    /// model API reports none. Shared with the parts, which build the
    /// receipt when they get to end the reply.
    deltas: Arc<AtomicU64>,
    /// The stream's slot; given back after the upstream is dropped.
    admission: Admission,
    /// When its client went (Unix µs), if the reply ran on after that.
    client_left_at_us: Option<u64>,
}

impl ReplyStream {
    /// Notes that the client went at `at_us` (Unix µs), for a reply that
    /// ran on without it (the resume window) and is dropped now.
    pub fn client_left(&mut self, at_us: u64) {
        self.client_left_at_us = Some(at_us);
    }
}

impl Stream for ReplyStream {
    type Item = UiMessageChunk;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<UiMessageChunk>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        let Some(parts) = this.parts.as_mut() else { return Poll::Ready(None) };
        let polled = parts.poll_next_unpin(cx);
        if let Poll::Ready(Some(
            UiMessageChunk::TextDelta { delta, .. } | UiMessageChunk::ReasoningDelta { delta, .. },
        )) = &polled
        {
            this.metrics.delta_relayed(delta.len());
            this.deltas.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl Drop for ReplyStream {
    fn drop(&mut self) {
        let _entered = self.span.enter();
        let (outcome, receipt) = match (self.outcome.get(), self.receipt.get()) {
            (Some(outcome), Some(receipt)) => (*outcome, receipt.clone()),
            _ => {
                // The client went away mid-reply: dropping the parts drops
                // the upstream request, right here.
                let noticed = Instant::now();
                let noticed_at_us = unix_us();
                drop(self.parts.take());
                let dropped_at = unix_us();
                self.metrics.upstream_dropped(noticed.elapsed());
                // A stop request that came first, and left before the parts
                // got to end the reply, is what stopped it.
                let stop_noticed_at = self.admission.stop_noticed_at().get().copied();
                // No usage comes before the end the parts did not reach.
                let relayed = self.deltas.load(Ordering::Relaxed);
                let receipt = Receipt {
                    state: match stop_noticed_at {
                        Some(_) => ReplyState::Stopped,
                        None => ReplyState::ClientGone,
                    },
                    tokens_relayed: relayed,
                    output_tokens: relayed,
                    output_tokens_counted: true,
                    noticed_at_us: Some(
                        stop_noticed_at.or(self.client_left_at_us).unwrap_or(noticed_at_us),
                    ),
                    upstream_dropped_at_us: Some(dropped_at),
                    summary: None,
                };
                (Outcome::ClientClosed, receipt)
            }
        };
        // Reported when the model API reported them, else counted.
        self.admission.spend_tokens(receipt.output_tokens);
        self.registry.finish(self.admission.message_id(), receipt);
        self.metrics.stream_closed(outcome);
        tracing::info!(
            outcome = outcome.as_str(),
            duration_ms = self.started.elapsed().as_millis() as u64,
            "chat stream ended"
        );
    }
}

/// Opens and closes the text and reasoning blocks of a reply, giving each
/// block a fresh id, so the parts always nest the way the protocol wants.
#[derive(Debug, Default)]
struct Blocks {
    open: Option<Block>,
    count: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlockKind {
    Text,
    Reasoning,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Block {
    kind: BlockKind,
    id: String,
}

impl Blocks {
    fn text(&mut self, delta: String) -> Vec<UiMessageChunk> {
        let mut parts = self.switch_to(BlockKind::Text);
        let id = self.open_id();
        parts.push(UiMessageChunk::TextDelta { id, delta });
        parts
    }

    fn reasoning(&mut self, delta: String) -> Vec<UiMessageChunk> {
        let mut parts = self.switch_to(BlockKind::Reasoning);
        let id = self.open_id();
        parts.push(UiMessageChunk::ReasoningDelta { id, delta });
        parts
    }

    /// Ends the open block, if any.
    fn close(&mut self) -> Vec<UiMessageChunk> {
        match self.open.take() {
            Some(Block { kind: BlockKind::Text, id }) => vec![UiMessageChunk::TextEnd { id }],
            Some(Block { kind: BlockKind::Reasoning, id }) => {
                vec![UiMessageChunk::ReasoningEnd { id }]
            }
            None => vec![],
        }
    }

    fn switch_to(&mut self, kind: BlockKind) -> Vec<UiMessageChunk> {
        if self.open.as_ref().is_some_and(|block| block.kind == kind) {
            return vec![];
        }
        let mut parts = self.close();
        self.count += 1;
        let id = match kind {
            BlockKind::Text => format!("text-{}", self.count),
            BlockKind::Reasoning => format!("reasoning-{}", self.count),
        };
        parts.push(match kind {
            BlockKind::Text => UiMessageChunk::TextStart { id: id.clone() },
            BlockKind::Reasoning => UiMessageChunk::ReasoningStart { id: id.clone() },
        });
        self.open = Some(Block { kind, id });
        parts
    }

    fn open_id(&self) -> String {
        self.open.as_ref().map(|block| block.id.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_open_once_and_close_when_the_kind_changes() {
        let mut blocks = Blocks::default();
        let mut parts = blocks.reasoning("think".into());
        parts.extend(blocks.reasoning("ing".into()));
        parts.extend(blocks.text("Hel".into()));
        parts.extend(blocks.text("lo".into()));
        parts.extend(blocks.close());
        parts.extend(blocks.close());
        assert_eq!(
            parts,
            vec![
                UiMessageChunk::ReasoningStart { id: "reasoning-1".into() },
                UiMessageChunk::ReasoningDelta { id: "reasoning-1".into(), delta: "think".into() },
                UiMessageChunk::ReasoningDelta { id: "reasoning-1".into(), delta: "ing".into() },
                UiMessageChunk::ReasoningEnd { id: "reasoning-1".into() },
                UiMessageChunk::TextStart { id: "text-2".into() },
                UiMessageChunk::TextDelta { id: "text-2".into(), delta: "Hel".into() },
                UiMessageChunk::TextDelta { id: "text-2".into(), delta: "lo".into() },
                UiMessageChunk::TextEnd { id: "text-2".into() },
            ]
        );
    }

    #[test]
    fn a_delta_costs_at_least_the_json_of_its_part() {
        let part = UiMessageChunk::TextDelta { id: "text-1".into(), delta: String::new() };
        assert_eq!(json(&part).len() as u64, DELTA_PART_BYTES);
        let part = UiMessageChunk::ReasoningDelta { id: "reasoning-1".into(), delta: "".into() };
        assert!(json(&part).len() as u64 > DELTA_PART_BYTES);
    }

    #[test]
    fn a_reply_relays_its_budget_of_bytes_and_no_more() {
        let part = DELTA_PART_BYTES;
        let mut left = 2 * part + 9;
        let text = |text: &str| ModelEvent::Text(text.into());
        assert_eq!(within_budget(text("Hello "), &mut left), (Some(text("Hello ")), false));
        assert_eq!(left, part + 3);
        // Not text: nothing is counted.
        assert_eq!(within_budget(ModelEvent::Done, &mut left), (Some(ModelEvent::Done), false));
        // "éé" is 4 bytes: one `é` fits in the 3 left beside its part, half
        // of the next does not, and the budget is spent.
        let reasoning = ModelEvent::Reasoning("éé".into());
        assert_eq!(
            within_budget(reasoning, &mut left),
            (Some(ModelEvent::Reasoning("é".into())), true)
        );
        assert_eq!(left, 0);
        // Spent: any more text ends the reply with nothing of it sent.
        assert_eq!(within_budget(text("x"), &mut left), (None, true));
        // Room for the part but not a whole character: nothing is sent.
        let mut left = part + 1;
        assert_eq!(within_budget(text("é"), &mut left), (None, true));
        // A delta, even empty, costs its part; one that fills what is left
        // exactly is all sent.
        let mut left = part + 3;
        assert_eq!(within_budget(text("éx"), &mut left), (Some(text("éx")), false));
        assert_eq!(within_budget(text(""), &mut left), (None, true));
    }
}
