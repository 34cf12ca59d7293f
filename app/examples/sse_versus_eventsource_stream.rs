//! Prints what the chat's SSE decoder and `eventsource-stream` (the reference
//! it is tested against) take to read a burst of small events, at two sizes:
//! why the decoder is hand-written, in figures.
//!
//! `cargo run --release -p app --example sse_versus_eventsource_stream`

// Printing the figures is this example's whole job.
#![allow(clippy::print_stdout)]

use std::convert::Infallible;
use std::time::{Duration, Instant};

use app::sse::SseDecoder;
use eventsource_stream::EventStream;
use futures::{StreamExt, executor::block_on, stream};

/// A model API's smallest event, and a comment line as keep-alives are sent.
const EVENT: &str = "data: x\n\n: c\n";

fn main() {
    for bytes in [64 * 1024, 512 * 1024] {
        let burst = EVENT.repeat(bytes / EVENT.len());
        let events = burst.len() / EVENT.len();
        let decoder = fastest(|| {
            let read = SseDecoder::with_limit(usize::MAX).feed(burst.as_bytes()).unwrap();
            assert_eq!(read.len(), events);
        });
        let reference = fastest(|| {
            let chunks = stream::iter([Ok::<_, Infallible>(burst.as_bytes())]);
            let read = block_on(EventStream::new(chunks).collect::<Vec<_>>());
            assert_eq!(read.len(), events);
        });
        println!(
            "{:>4} KiB in one chunk, {events:>6} events: decoder {:>9.3} ms, eventsource-stream {:>9.3} ms",
            bytes / 1024,
            decoder.as_secs_f64() * 1e3,
            reference.as_secs_f64() * 1e3,
        );
    }
}

/// The fastest of three runs: the cost of the work, not of the machine's
/// other tasks.
fn fastest(mut run: impl FnMut()) -> Duration {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .min()
        .unwrap()
}
