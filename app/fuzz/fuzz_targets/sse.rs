//! Any bytes, in any chunks: the SSE decoder dispatches what
//! eventsource-stream dispatches (`tests/support/sse_reference.rs`, with the
//! differences from the standard it corrects for), and nothing panics.

#![no_main]

use libfuzzer_sys::fuzz_target;

// The decoder's one file, not the `app` crate: the decoder needs nothing
// else, and building the chat's crate (Leptos and all) with the fuzzer's
// instrumentation would take minutes for it.
#[path = "../../src/sse.rs"]
mod sse;
#[path = "../../tests/support/sse_reference.rs"]
mod sse_reference;

use sse::SseDecoder;

/// How many of the input's first bytes choose the lengths of the chunks the
/// rest is fed in (each 0 to 15, cycled; 0 is an empty chunk).
const CHUNK_LENGTH_BYTES: usize = 4;

fuzz_target!(|input: &[u8]| {
    let (lengths, stream) = input.split_at(input.len().min(CHUNK_LENGTH_BYTES));
    let lengths: Vec<usize> = lengths.iter().map(|&byte| usize::from(byte % 16)).collect();
    sse_reference::check(stream, &lengths);
});
