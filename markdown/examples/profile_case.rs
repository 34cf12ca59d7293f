//! Parses one pathological case at 1 MB over and over, for a profiler, and
//! prints the time per parse: ours (the tree), or with `events`,
//! pulldown-cmark's events alone.
//!
//! `cargo run --release -p markdown --example profile_case -- "*a* pairs" [events]`

#![allow(clippy::print_stdout)]

#[path = "../tests/support/pathological.rs"]
#[allow(dead_code)]
mod pathological;

use std::hint::black_box;

use pulldown_cmark::{Options, Parser};

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "*a* pairs".into());
    let events_only = std::env::args().nth(2).as_deref() == Some("events");
    let case = pathological::CASES.iter().find(|case| case.name == name).expect("a case name");
    let text = (case.build)(1 << 20);
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let runs = 10;
    let start = std::time::Instant::now();
    for _ in 0..runs {
        if events_only {
            black_box(Parser::new_ext(black_box(&text), options).count());
        } else {
            black_box(markdown::parse(black_box(&text)));
        }
    }
    let what = if events_only { "pulldown-cmark's events" } else { "markdown::parse" };
    println!("{name}: {what}, {:?} per parse", start.elapsed() / runs);
}
