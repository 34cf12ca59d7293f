//! The SSE decoder held to a well-kept crate: `eventsource-stream` (the
//! decoder under `reqwest-eventsource` and async-openai) reads the same bytes,
//! and both must dispatch the same events, whatever the chunks.
//!
//! Shared by the differential test (`tests/sse_reference.rs`) and the fuzz
//! target (`fuzz/fuzz_targets/sse.rs`); each names the decoder it checks as
//! `crate::SseDecoder`.
//!
//! Where the crate is not the standard, the standard wins and the reference
//! is given what makes it agree (each difference is named below):
//! - It refuses bytes that are not UTF-8; the standard (and the decoder)
//!   decode them with replacement characters. The crate is given the text
//!   decoded that way first: a line ends at an ASCII byte, which never
//!   belongs to an invalid sequence, so decoding line by line (as the
//!   decoder does) and decoding the whole stream agree.
//! - It panics on a stream that starts with a byte order mark (it cuts one
//!   byte off the mark's three: jpopesculian/eventsource-stream#10, open).
//!   The reference drops the stream's first mark itself, as the standard
//!   does, and gives the crate a blank line before the rest: at the start of
//!   a stream a blank line dispatches nothing and clears nothing, and the
//!   crate never sees a mark at its start (a second one belongs to the
//!   first line, for both).
//! - It waits for the byte after a CR to tell a CR from a CRLF even at the
//!   end of the stream, where the standard ends the line. A LF after a CR
//!   that ends the stream changes nothing for the standard (CRLF is one line
//!   ending) and lets the crate end the line.

use std::convert::Infallible;

use eventsource_stream::EventStream;
use futures::{StreamExt, executor::block_on, stream};

use crate::SseDecoder;

/// An event as both sides report it: its type and its data.
pub type Dispatched = (String, String);

/// What `eventsource-stream` dispatches for the whole stream.
pub fn reference(input: &[u8]) -> Vec<Dispatched> {
    let text = String::from_utf8_lossy(input);
    let mut text = format!("\n{}", text.strip_prefix('\u{feff}').unwrap_or(&text));
    if text.ends_with('\r') {
        text.push('\n');
    }
    let events = EventStream::new(stream::iter([Ok::<_, Infallible>(text)]));
    block_on(events.map(|event| event.expect("any text is an event stream")).collect::<Vec<_>>())
        .into_iter()
        .map(|event| (event.event, event.data))
        .collect()
}

/// What the decoder dispatches when the stream comes in `chunks`.
pub fn decoded<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Dispatched> {
    let mut decoder = SseDecoder::with_limit(usize::MAX);
    let mut events = Vec::new();
    for chunk in chunks {
        decoder.feed_into(chunk, &mut events).expect("no limit to pass");
    }
    events.into_iter().map(|event| (event.event, event.data)).collect()
}

/// Checks that the decoder, given `input` whole, byte by byte, and cut into
/// chunks of the given lengths (cycled; a 0 is an empty chunk), dispatches
/// what the reference does.
pub fn check(input: &[u8], chunk_lengths: &[usize]) {
    let expected = reference(input);
    let whole = decoded([input]);
    assert_eq!(whole, expected, "whole: {:?}", String::from_utf8_lossy(input));
    let bytes = decoded(input.chunks(1));
    assert_eq!(bytes, expected, "byte by byte: {:?}", String::from_utf8_lossy(input));
    if !chunk_lengths.is_empty() {
        let chunks = cut(input, chunk_lengths);
        assert_eq!(
            decoded(chunks.iter().copied()),
            expected,
            "in chunks {:?}",
            chunks.iter().map(|chunk| String::from_utf8_lossy(chunk)).collect::<Vec<_>>()
        );
    }
}

/// `input` cut into pieces of the given lengths, cycled.
fn cut<'a>(mut input: &'a [u8], lengths: &[usize]) -> Vec<&'a [u8]> {
    if lengths.iter().all(|&length| length == 0) {
        return vec![input];
    }
    let mut chunks = Vec::new();
    for &length in lengths.iter().cycle() {
        if input.is_empty() {
            break;
        }
        let (chunk, rest) = input.split_at(length.min(input.len()));
        chunks.push(chunk);
        input = rest;
    }
    chunks
}
