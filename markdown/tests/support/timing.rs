//! Timing that holds up on a busy machine: shared by the pathological suite
//! (`tests/pathological.rs`) and the fuzzer (`fuzz/fuzz_targets/tree.rs`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use pulldown_cmark::{Options, Parser};

/// The fastest of `runs` runs of `run`: the least disturbed by the machine.
pub fn fastest(runs: usize, mut run: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .min()
        .expect("at least one run")
}

/// How long `text` takes to become a tree, and how long pulldown-cmark
/// takes to yield the events the tree is built from: the fastest of `runs`
/// runs each.
pub fn tree_and_events(text: &str, runs: usize) -> (Duration, Duration) {
    (tree(text, runs), events(text, runs))
}

/// How long `text` takes to become a tree: the fastest of `runs` runs.
pub fn tree(text: &str, runs: usize) -> Duration {
    fastest(runs, || drop(black_box(markdown::parse(text))))
}

/// How long pulldown-cmark takes to yield its events for `text` (as the
/// tree gets it, tables bounded): the fastest of `runs` runs.
pub fn events(text: &str, runs: usize) -> Duration {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let bounded = markdown::bound_table_padding(text);
    fastest(runs, || {
        black_box(Parser::new_ext(&bounded, options).count());
    })
}
