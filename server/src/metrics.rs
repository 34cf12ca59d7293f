//! What the server is doing, in numbers, for `GET /metrics` (Prometheus /
//! OpenMetrics text).

use std::sync::Arc;
use std::time::Duration;

use std::fmt::Write;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How a chat stream ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// The model finished its reply.
    Completed,
    /// The client disconnected before the reply was complete.
    ClientClosed,
    /// Stopped through `POST /api/chat/{id}/stop`.
    Stopped,
    /// The model API failed.
    UpstreamError,
    /// A connect, first-byte, idle or total limit ran out.
    Timeout,
    /// Refused before streaming: too many streams.
    Rejected,
    /// Cut short because the server is shutting down.
    Shutdown,
}

impl Outcome {
    /// The name used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::ClientClosed => "client_closed",
            Self::Stopped => "stopped",
            Self::UpstreamError => "upstream_error",
            Self::Timeout => "timeout",
            Self::Rejected => "rejected",
            Self::Shutdown => "shutdown",
        }
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: Outcome,
}

/// The server's metrics. Cloning shares them.
///
/// One pointer to them all: every open stream holds two clones, and the
/// twelve handles inline were 104 bytes in each.
#[derive(Clone)]
pub struct Metrics(Arc<Instruments>);

/// The registry and the handles to what it reports.
struct Instruments {
    registry: Registry,
    active_streams: Gauge,
    streams: Family<OutcomeLabels, Counter>,
    upstream_first_byte: Histogram,
    cancel_to_upstream_drop: Histogram,
    relayed_bytes: Counter,
    relayed_deltas: Counter,
    registry_errors: Counter,
    registry_listening: Gauge,
    stops_passed_on: Counter,
    replies_resumed: Counter,
    replies_abandoned: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("reins");
        let active_streams = Gauge::default();
        registry.register("active_streams", "Chat streams open now", active_streams.clone());
        let streams = Family::<OutcomeLabels, Counter>::default();
        registry.register("streams", "Chat streams, by how they ended", streams.clone());
        // 1 ms to about 65 s.
        let upstream_first_byte = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        registry.register(
            "upstream_first_byte_seconds",
            "Time from sending a request upstream to its response head",
            upstream_first_byte.clone(),
        );
        // 1 µs to about 1 s.
        let cancel_to_upstream_drop = Histogram::new(exponential_buckets(0.000_001, 2.0, 21));
        registry.register(
            "cancel_to_upstream_drop_seconds",
            "Time from noticing a client disconnect or a stop to dropping the upstream request",
            cancel_to_upstream_drop.clone(),
        );
        let relayed_bytes = Counter::default();
        registry.register(
            "relayed_bytes",
            "Bytes of text and reasoning relayed",
            relayed_bytes.clone(),
        );
        let relayed_deltas = Counter::default();
        registry.register(
            "relayed_deltas",
            "Text and reasoning deltas relayed",
            relayed_deltas.clone(),
        );
        let registry_errors = Counter::default();
        registry.register(
            "registry_errors",
            "Times Redis, the stream registry shared by replicas, could not be reached",
            registry_errors.clone(),
        );
        let registry_listening = Gauge::default();
        registry.register(
            "registry_listening",
            "Whether this replica hears stops sent to other replicas: 1 yes, 0 no (Redis only)",
            registry_listening.clone(),
        );
        let stops_passed_on = Counter::default();
        registry.register(
            "stops_passed_on",
            "Stop requests for a stream held by another replica, passed on to it",
            stops_passed_on.clone(),
        );
        let replies_resumed = Counter::default();
        registry.register(
            "replies_resumed",
            "Kept replies a client came back to and followed again (resume window on)",
            replies_resumed.clone(),
        );
        let replies_abandoned = Counter::default();
        registry.register(
            "replies_abandoned",
            "Kept replies dropped because nobody came back within the resume window",
            replies_abandoned.clone(),
        );
        registry.register_collector(Box::new(LogLinesDropped));
        Self(Arc::new(Instruments {
            replies_resumed,
            replies_abandoned,
            stops_passed_on,
            registry,
            registry_errors,
            registry_listening,
            active_streams,
            streams,
            upstream_first_byte,
            cancel_to_upstream_drop,
            relayed_bytes,
            relayed_deltas,
        }))
    }
}

impl Metrics {
    /// A stream opened.
    pub fn stream_opened(&self) {
        self.0.active_streams.inc();
    }

    /// A stream that was open ended this way.
    pub fn stream_closed(&self, outcome: Outcome) {
        self.0.active_streams.dec();
        self.0.streams.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// A stream was refused before it opened.
    pub fn stream_rejected(&self) {
        self.0.streams.get_or_create(&OutcomeLabels { outcome: Outcome::Rejected }).inc();
    }

    /// The upstream's response head arrived this long after the request.
    pub fn upstream_first_byte(&self, elapsed: Duration) {
        self.0.upstream_first_byte.observe(elapsed.as_secs_f64());
    }

    /// The upstream request was dropped this long after a disconnect or stop was noticed.
    pub fn upstream_dropped(&self, after: Duration) {
        self.0.cancel_to_upstream_drop.observe(after.as_secs_f64());
    }

    /// One delta of this many bytes was relayed.
    pub fn delta_relayed(&self, bytes: usize) {
        self.0.relayed_deltas.inc();
        self.0.relayed_bytes.inc_by(bytes as u64);
    }

    /// Redis could not be reached, or a connection to it dropped.
    pub fn registry_error(&self) {
        self.0.registry_errors.inc();
    }

    /// A stop request was passed on to the replica holding its stream.
    pub fn stop_passed_on(&self) {
        self.0.stops_passed_on.inc();
    }

    /// A client came back to a kept reply.
    pub fn reply_resumed(&self) {
        self.0.replies_resumed.inc();
    }

    /// A kept reply was dropped: nobody came back within the window.
    pub fn reply_abandoned(&self) {
        self.0.replies_abandoned.inc();
    }

    /// Whether this replica hears stops sent to the others.
    pub fn set_registry_listening(&self, listening: bool) {
        self.0.registry_listening.set(i64::from(listening));
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.0.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// The log lines dropped because the log's reader fell behind, read from
/// the log at each scrape (the log counts them itself).
#[derive(Debug)]
struct LogLinesDropped;

impl Collector for LogLinesDropped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let dropped = ConstCounter::new(crate::log::lines_dropped());
        let metric = encoder.encode_descriptor(
            "log_lines_dropped",
            "Log lines dropped because the log's reader fell behind (REINS_LOG_BUFFER_LINES)",
            None,
            dropped.metric_type(),
        )?;
        dropped.encode(metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_up_in_the_text() {
        let metrics = Metrics::default();
        metrics.stream_opened();
        metrics.stream_opened();
        metrics.stream_closed(Outcome::ClientClosed);
        metrics.stream_rejected();
        metrics.delta_relayed(5);
        metrics.upstream_dropped(Duration::from_micros(3));
        let text = metrics.encode();
        assert!(text.contains("reins_active_streams 1"), "{text}");
        assert!(text.contains(r#"reins_streams_total{outcome="client_closed"} 1"#), "{text}");
        assert!(text.contains(r#"reins_streams_total{outcome="rejected"} 1"#), "{text}");
        assert!(text.contains("reins_relayed_bytes_total 5"), "{text}");
        assert!(text.contains("reins_cancel_to_upstream_drop_seconds_count 1"), "{text}");
        // No log was set up here: none dropped.
        assert!(text.contains("reins_log_lines_dropped_total 0"), "{text}");
    }
}
