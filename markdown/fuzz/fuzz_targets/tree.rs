//! Any text: the tree is bounded in size and depth, shows exactly the text
//! pulldown-cmark reports, and streams in bounded pieces to a view that
//! adds what grew and shows what the document holds; nothing panics;
//! building the tree costs at most ten times what pulldown-cmark takes for
//! its events alone, and no input takes longer than libFuzzer's `-timeout`.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/invariants.rs"]
mod invariants;
#[path = "../../tests/support/played_view.rs"]
#[allow(dead_code)] // `viewed` is the growth tests'.
mod played_view;
#[path = "../../tests/support/timing.rs"]
mod timing;

/// Below this, pulldown-cmark's time is too short to compare against: the
/// clock and the cache decide it, not the input.
const MEASURABLE: Duration = Duration::from_micros(200);

/// Inputs shorter than this are not timed: pulldown-cmark takes well under
/// [`MEASURABLE`] on them.
const SHORTEST_TIMED: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    invariants::check(&text);
    check_cost(&text);
});

/// Panics if the tree costs more than ten times pulldown-cmark's own time.
fn check_cost(text: &str) {
    // Most inputs are far too short to time; parsing them again only to
    // find that out halved the fuzzer's speed.
    if text.len() < SHORTEST_TIMED {
        return;
    }
    let theirs = timing::events(text, 3);
    if theirs < MEASURABLE {
        return;
    }
    let ours = timing::tree(text, 3);
    assert!(
        ours < theirs * 10,
        "the tree took {ours:?} for {} bytes, pulldown-cmark's events {theirs:?}",
        text.len()
    );
}
