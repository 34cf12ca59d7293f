//! How long Markdown parsing takes: a long ordinary reply, every
//! pathological case at sizes from 1 MB down to 1 KB (time per byte should
//! not grow with size; target: under 100 ms at 1 MB), and what a streaming
//! update costs. Each figure is beside pulldown-cmark's own time for its
//! events, which Reins builds its tree from. Prints figures; asserts
//! nothing (`tests/pathological.rs` asserts linearity as a ratio).
//!
//! `cargo bench -p markdown` (see [`keep_freed_memory`] for the allocator
//! settings it runs with)

// A benchmark's output is its figures.
#![allow(clippy::print_stdout)]

#[path = "../tests/support/pathological.rs"]
#[allow(dead_code)] // The expected shapes are the test's.
mod pathological;

use std::hint::black_box;
use std::time::{Duration, Instant};

use markdown::StreamingDoc;
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

/// The median of `runs` timings of `work`.
fn median(runs: usize, mut work: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn events(text: &str) -> usize {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    Parser::new_ext(text, options).count()
}

/// Streams `text` into a document in pieces of `step` bytes; returns the
/// slowest update.
fn stream(text: &str, step: usize) -> Duration {
    let mut doc = StreamingDoc::default();
    let mut slowest = Duration::ZERO;
    let mut end = 0;
    while end < text.len() {
        end = (end + step).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        let start = Instant::now();
        doc.update(black_box(&text[..end]));
        slowest = slowest.max(start.elapsed());
    }
    slowest
}

/// glibc's settings that keep freed memory in the process.
const KEEP_FREED_MEMORY: &str =
    "glibc.malloc.trim_threshold=4294967295:glibc.malloc.mmap_threshold=4294967295";

/// Runs this benchmark again with [`KEEP_FREED_MEMORY`], unless it is set.
///
/// By default glibc gives a large freed block back to the kernel, so each
/// parse of a megabyte faults its memory in again and the kernel zeroes
/// every page: on `*] repeated` at 1 MB that was 127 ms of which 45 ms
/// page faults (`perf record`), against 66 ms with freed memory kept. The
/// browser's wasm memory never shrinks, so the figure that stands for the
/// page is the one without the faults. `REINS_BENCH_GLIBC_DEFAULTS=1` shows
/// the other.
fn keep_freed_memory() -> bool {
    if std::env::var_os("GLIBC_TUNABLES").is_some()
        || std::env::var_os("REINS_BENCH_GLIBC_DEFAULTS").is_some()
    {
        return false;
    }
    let Ok(me) = std::env::current_exe() else { return false };
    let status = std::process::Command::new(me)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", KEEP_FREED_MEMORY)
        .status();
    match status {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(_) => false,
    }
}

fn main() {
    if keep_freed_memory() {
        return;
    }
    match std::env::var("GLIBC_TUNABLES") {
        Ok(tunables) => println!("GLIBC_TUNABLES={tunables}"),
        Err(_) => println!("glibc's default allocator settings"),
    }
    let reply = reply();
    println!("A {}-byte ordinary reply, median of 201:", reply.len());
    let ours = median(201, || drop(black_box(markdown::parse(black_box(&reply)))));
    let theirs = median(201, || {
        black_box(events(black_box(&reply)));
    });
    println!("  markdown::parse (tree): {ours:?}; pulldown-cmark's events alone: {theirs:?}");
    println!("  streamed in 16-byte pieces, slowest update: {:?}", stream(&reply, 16));

    println!("\nPathological cases: parse time, ns per byte (pulldown-cmark's events alone)");
    println!("{:>36} {:>26} {:>26} {:>26} {:>26}", "case", "1 MB", "128 KB", "16 KB", "1 KB");
    for case in pathological::CASES {
        let mut line = format!("{:>36}", case.name);
        for bytes in [1 << 20, 128 << 10, 16 << 10, 1 << 10] {
            let text = (case.build)(bytes);
            let runs = if bytes >= 1 << 20 { 5 } else { 21 };
            let ours = median(runs, || drop(black_box(markdown::parse(black_box(&text)))));
            let theirs = median(runs, || {
                black_box(events(black_box(&text)));
            });
            let per_byte = |time: Duration| time.as_nanos() as f64 / text.len() as f64;
            line += &format!(
                " {:>9.2} ms {:>5.1} ({:>5.1})",
                ours.as_secs_f64() * 1e3,
                per_byte(ours),
                per_byte(theirs)
            );
        }
        println!("{line}");
    }

    println!("\nStreaming each case to 1 MB in 64-byte pieces: the slowest update");
    for case in pathological::CASES {
        let text = (case.build)(1 << 20);
        println!("{:>36}: {:?}", case.name, stream(&text, 64));
    }
}
