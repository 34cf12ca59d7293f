//! The hand-written SSE decoder (`app::sse`) dispatches what
//! `eventsource-stream` dispatches, on every stream of up to five pieces of
//! the format's tricky bytes and on thousands of longer random ones, whole,
//! byte by byte and in random chunks. `bash scripts/fuzz` runs the same check
//! on what libFuzzer makes up (`app/fuzz`).

#[path = "support/sse_reference.rs"]
mod sse_reference;

use app::sse::SseDecoder;

/// What lines of the format are made of, and what goes wrong in them: field
/// names (the known ones, a prefix of one, an unknown one), the colon and the
/// space after it, every line ending, a byte order mark (only the stream's
/// first is dropped), a NUL, a character of two and one of four bytes, bytes
/// that are not UTF-8 and a character cut short.
const PIECES: &[&[u8]] = &[
    b"data",
    b"event",
    b":",
    b" ",
    b"\r",
    b"\n",
    b"\xEF\xBB\xBF",
    b"x",
    b"\xE2\x82",
    b"id",
    b"retry",
    b"dat",
    b"\r\n",
    b"\0",
    "é".as_bytes(),
    "😀".as_bytes(),
    b"\xFF",
    b"ping",
];

/// The first pieces, every sequence of which up to [`LONGEST_EXHAUSTIVE`] is
/// checked: enough to write a field, a comment, a blank line and a BOM in
/// every order.
const EXHAUSTIVE_PIECES: usize = 10;
const LONGEST_EXHAUSTIVE: usize = 5;

#[test]
fn every_short_stream_decodes_as_the_reference_does() {
    let mut dispatched = 0;
    let mut stream = Vec::new();
    for length in 0..=LONGEST_EXHAUSTIVE {
        for mut index in 0..EXHAUSTIVE_PIECES.pow(length as u32) {
            stream.clear();
            for _ in 0..length {
                stream.extend_from_slice(PIECES[index % EXHAUSTIVE_PIECES]);
                index /= EXHAUSTIVE_PIECES;
            }
            sse_reference::check(&stream, &[2, 0, 3]);
            dispatched += sse_reference::reference(&stream).len();
        }
    }
    // A comparison of two empty lists proves nothing: the streams must
    // dispatch events (630 of them today).
    assert!(dispatched > 500, "only {dispatched} events dispatched");
}

#[test]
fn long_random_streams_decode_as_the_reference_does() {
    let mut random = XorShift(0x5EED_5EED_0BAD_F00D);
    let mut dispatched = 0;
    for _ in 0..20_000 {
        let stream = random_stream(&mut random);
        let chunk_lengths: Vec<usize> = (0..3).map(|_| random.below(10)).collect();
        sse_reference::check(&stream, &chunk_lengths);
        dispatched += sse_reference::reference(&stream).len();
    }
    // 29,474 today.
    assert!(dispatched > 20_000, "only {dispatched} events dispatched");
}

/// A stream of up to 30 lines, most of them fields or blank (so that events
/// are dispatched), with values made of [`PIECES`], now and then a piece
/// where a line should start, and perhaps a last line left unended.
fn random_stream(random: &mut XorShift) -> Vec<u8> {
    const NAMES: &[&[u8]] = &[b"data", b"data", b"data", b"event", b"id", b"retry", b"", b"dat"];
    const ENDINGS: &[&[u8]] = &[b"\n", b"\r", b"\r\n"];
    let mut stream = Vec::new();
    for _ in 0..random.below(3) {
        stream.extend_from_slice(b"\xEF\xBB\xBF");
    }
    for _ in 0..random.below(31) {
        match random.below(10) {
            0..=2 => {}
            3 => stream.extend_from_slice(PIECES[random.below(PIECES.len())]),
            _ => {
                stream.extend_from_slice(NAMES[random.below(NAMES.len())]);
                if random.below(4) != 0 {
                    stream.push(b':');
                }
                for _ in 0..random.below(5) {
                    let piece = PIECES[random.below(PIECES.len())];
                    if !piece.contains(&b'\r') && !piece.contains(&b'\n') {
                        stream.extend_from_slice(piece);
                    }
                }
            }
        }
        stream.extend_from_slice(ENDINGS[random.below(ENDINGS.len())]);
    }
    if random.below(2) == 0 {
        stream.extend_from_slice(b"data: unended");
    }
    stream
}

/// The streams the relay reads: the model API's events, one field a line,
/// with data that holds colons, spaces and line endings of each kind.
#[test]
fn well_formed_streams_decode_as_the_reference_does() {
    let stream = "\u{feff}: comment\r\n\
        event: message_start\r\ndata: {\"a\": \"b: c\"}\r\n\r\n\
        data:  two spaces\rdata:\rdata: last\r\r\
        id: 7\nretry: 10\ndata: ✓ 😀\n\n\
        event:\ndata\n\n\
        data: [DONE]\n\n";
    let expected = sse_reference::reference(stream.as_bytes());
    assert_eq!(expected.len(), 5, "the reference reads five events: {expected:?}");
    for first in 0..=stream.len() {
        for second in first..=stream.len() {
            sse_reference::check(&stream.as_bytes()[first..second], &[first % 7 + 1]);
        }
    }
}

/// A small deterministic generator (xorshift64), so that a failure repeats.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}
