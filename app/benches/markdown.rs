//! How long parsing takes, the compact parser against pulldown-cmark (with
//! the options Reins used). Prints figures; asserts nothing.
//!
//! `cargo bench -p app --bench markdown`

// A benchmark's output is its figures.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use pulldown_cmark::{Options, Parser};

/// A long reply of the kind models write: about 10,000 characters.
fn reply() -> String {
    let section = "## Step\n\nSome *emphasis*, **strong** text, `code` and a [link](https://example.com).\n\n\
        - first item with `code`\n- second item\n  - nested item\n\n\
        ```rust\nfn main() {\n    println!(\"hello\");\n}\n```\n\n\
        | Option | Meaning |\n|:-------|--------:|\n| `-v` | verbose |\n| `-q` | quiet |\n\n\
        > A quote with _emphasis_ and a line\n> that goes on.\n\n";
    section.repeat(30)
}

/// The median of `runs` timings of `parse`.
fn median(runs: usize, mut parse: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            parse();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let reply = reply();
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let ours = median(201, || {
        black_box(app::markdown::parse(black_box(&reply)));
    });
    let reference = median(201, || {
        black_box(Parser::new_ext(black_box(&reply), options).count());
    });
    // What a streaming reply costs per frame: the unfinished tail only.
    let tail = &reply[reply.len() - 400..];
    let ours_tail = median(2001, || {
        black_box(app::markdown::parse(black_box(tail)));
    });
    println!("parse a {}-character reply, median of 201:", reply.len());
    println!("  app::markdown::parse (tree):       {ours:?}");
    println!("  pulldown-cmark (events only):      {reference:?}");
    println!("parse its last 400 characters (a streaming tail), median of 2001:");
    println!("  app::markdown::parse (tree):       {ours_tail:?}");
}
