//! Any text: the tree is bounded in size and depth, shows exactly the text
//! pulldown-cmark reports, and streams in bounded pieces; nothing panics;
//! building the tree costs at most ten times what pulldown-cmark takes for
//! its events alone, and no input takes longer than libFuzzer's `-timeout`.

#![no_main]

use std::hint::black_box;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use pulldown_cmark::{Options, Parser};

#[path = "../../tests/support/invariants.rs"]
mod invariants;

/// Below this, pulldown-cmark's time is too short to compare against: the
/// clock and the cache decide it, not the input.
const MEASURABLE: Duration = Duration::from_micros(200);

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    invariants::check(&text);
    check_cost(&text);
});

/// Panics if the tree costs more than ten times pulldown-cmark's own time.
fn check_cost(text: &str) {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let bounded = markdown::bound_table_padding(text);
    let theirs = fastest(|| drop(black_box(Parser::new_ext(&bounded, options).count())));
    if theirs < MEASURABLE {
        return;
    }
    let ours = fastest(|| drop(black_box(markdown::parse(text))));
    assert!(
        ours < theirs * 10,
        "the tree took {ours:?} for {} bytes, pulldown-cmark's events {theirs:?}",
        text.len()
    );
}

/// The fastest of three runs: the least disturbed by the machine.
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
