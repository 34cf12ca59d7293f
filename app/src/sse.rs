//! An incremental Server-Sent Events decoder, the one parser of the format
//! on both sides: the browser reads the reply with it, and the server reads
//! the model API's stream with it.
//!
//! `EventSource` cannot POST and reconnects on its own, so the component reads
//! the response body itself and feeds the bytes here as they arrive. The decoder
//! follows the HTML standard's parsing rules: lines end in CRLF, LF or CR (also
//! when the CR and LF arrive in different chunks), `data:` lines join with `\n`,
//! comment lines are skipped, a leading BOM is dropped, and UTF-8 is decoded only
//! once a line is whole, so a chunk may split the stream anywhere, even inside a
//! character.
//!
//! It is hand-written rather than a crate because it ships in the wasm bundle,
//! where every dependency is paid for by every visitor, and because it must cap
//! the size of one event: a backend that never ends an event would otherwise
//! grow the buffer without bound. The well-kept crate for the format,
//! `eventsource-stream` 0.2.3, has no such cap, refuses bytes that are not
//! UTF-8, panics on a stream that starts with a byte order mark, and takes
//! time quadratic in the size of a chunk: 712 ms for a 512 KiB burst of
//! 40,329 events where this decoder takes 6.6 ms
//! (`cargo run --release -p app --example sse_versus_eventsource_stream`).
//! It is the reference this decoder is held to: `tests/sse_reference.rs` and
//! the fuzz target `fuzz/fuzz_targets/sse.rs` check both dispatch the same
//! events for any bytes in any chunks.

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or `message` when the event named none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Why decoding stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SseError {
    /// One event grew past the decoder's limit without ending.
    EventTooLarge { limit: usize },
}

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::EventTooLarge { limit } => {
                write!(f, "the server sent an event larger than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for SseError {}

/// Turns a byte stream, fed in chunks of any size, into [`SseEvent`]s.
#[derive(Debug)]
pub struct SseDecoder {
    /// Bytes of the line being read, not yet ended.
    line: Vec<u8>,
    /// The previous chunk ended in CR, so a leading LF of the next one is part
    /// of the same line ending.
    after_cr: bool,
    /// Whether the start of the stream (and a possible BOM) is still ahead.
    at_start: bool,
    data: String,
    has_data: bool,
    event: String,
    max_event_bytes: usize,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::with_limit(Self::DEFAULT_MAX_EVENT_BYTES)
    }
}

impl SseDecoder {
    /// The default cap on one event's size: far above any UI message part.
    pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

    /// A decoder that refuses events larger than `max_event_bytes`.
    pub fn with_limit(max_event_bytes: usize) -> Self {
        Self {
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            data: String::new(),
            has_data: false,
            event: String::new(),
            max_event_bytes,
        }
    }

    /// Feeds the next chunk of the stream and returns the events it completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut events = Vec::new();
        self.feed_into(bytes, &mut events)?;
        Ok(events)
    }

    /// Feeds the next chunk of the stream and adds the events it completed
    /// to `events`, those before an error included.
    pub fn feed_into(
        &mut self,
        mut bytes: &[u8],
        events: &mut Vec<SseEvent>,
    ) -> Result<(), SseError> {
        // An empty chunk changes nothing, not even whether the last one
        // ended in a CR.
        if bytes.is_empty() {
            return Ok(());
        }
        if self.after_cr && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        while let Some(end) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&bytes[..end]);
            self.check_size()?;
            if let Some(event) = self.end_line() {
                events.push(event);
            }
            let crlf = bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n');
            if bytes[end] == b'\r' && end + 1 == bytes.len() {
                self.after_cr = true;
            }
            bytes = &bytes[end + if crlf { 2 } else { 1 }..];
        }
        self.line.extend_from_slice(bytes);
        self.check_size()
    }

    fn check_size(&self) -> Result<(), SseError> {
        if self.line.len() + self.data.len() > self.max_event_bytes {
            return Err(SseError::EventTooLarge { limit: self.max_event_bytes });
        }
        Ok(())
    }

    /// Interprets the buffered line; returns an event when the line was blank.
    fn end_line(&mut self) -> Option<SseEvent> {
        let mut line = std::mem::take(&mut self.line);
        if self.at_start {
            self.at_start = false;
            if line.starts_with("\u{feff}".as_bytes()) {
                line.drain(..3);
            }
        }
        if line.is_empty() {
            return self.dispatch();
        }
        let line = String::from_utf8_lossy(&line);
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "event" => self.event = value.to_owned(),
            // `id` and `retry` only matter for reconnecting, which this client
            // never does: a reply cannot be resumed by replaying a request.
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the newline after the last data line
        Some(SseEvent { event: if event.is_empty() { "message".into() } else { event }, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that uses every line ending, a BOM, comments, multi-line data,
    /// named events, an empty data line and a multi-byte character.
    const SAMPLE: &[u8] = "\u{feff}: hello\r\n\
        data: {\"type\":\"start\"}\r\n\r\n\
        data: first\ndata: second\n\n\
        event: ping\rdata:no-space\r\r\
        :keep-alive\n\n\
        data\n\n\
        id: 7\ndata: ünïcødé ✓\r\n\r\n\
        data: [DONE]\n\n"
        .as_bytes();

    fn expected() -> Vec<SseEvent> {
        let message = |data: &str| SseEvent { event: "message".into(), data: data.into() };
        vec![
            message("{\"type\":\"start\"}"),
            message("first\nsecond"),
            SseEvent { event: "ping".into(), data: "no-space".into() },
            message(""),
            message("ünïcødé ✓"),
            message("[DONE]"),
        ]
    }

    fn decode_in_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::default();
        chunks.iter().flat_map(|chunk| decoder.feed(chunk).unwrap()).collect()
    }

    #[test]
    fn decodes_the_sample_in_one_chunk() {
        assert_eq!(decode_in_chunks(&[SAMPLE]), expected());
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        for split in 0..=SAMPLE.len() {
            let (head, tail) = SAMPLE.split_at(split);
            assert_eq!(decode_in_chunks(&[head, tail]), expected(), "split at byte {split}");
        }
    }

    #[test]
    fn every_pair_of_split_points_gives_the_same_events() {
        for first in 0..=SAMPLE.len() {
            for second in first..=SAMPLE.len() {
                let chunks = [&SAMPLE[..first], &SAMPLE[first..second], &SAMPLE[second..]];
                assert_eq!(decode_in_chunks(&chunks), expected(), "splits at {first}, {second}");
            }
        }
    }

    #[test]
    fn byte_by_byte_gives_the_same_events() {
        let bytes: Vec<&[u8]> = SAMPLE.chunks(1).collect();
        assert_eq!(decode_in_chunks(&bytes), expected());
    }

    #[test]
    fn an_unfinished_event_is_not_dispatched() {
        let mut decoder = SseDecoder::default();
        assert_eq!(decoder.feed(b"data: partial\n").unwrap(), vec![]);
    }

    #[test]
    fn a_cr_then_lf_in_the_next_chunk_is_one_line_ending() {
        // Were the LF read as a second line ending, it would dispatch `a` early
        // and the `b` line would land in an event of its own.
        let events = decode_in_chunks(&[b"data: a\r", b"\ndata: b\n\n"]);
        assert_eq!(events, vec![SseEvent { event: "message".into(), data: "a\nb".into() }]);
    }

    #[test]
    fn a_cr_then_an_empty_chunk_then_lf_is_one_line_ending() {
        let events = decode_in_chunks(&[b"data: a\r", b"", b"\ndata: b\n\n"]);
        assert_eq!(events, vec![SseEvent { event: "message".into(), data: "a\nb".into() }]);
    }

    #[test]
    fn a_burst_of_tiny_events_costs_time_linear_in_its_size() {
        // A copy of the buffer per line (as eventsource-stream makes) would
        // be quadratic in a chunk holding many lines.
        const EVENT: &[u8] = b"data: x\n\n: c\n";
        let burst = |bytes: usize| EVENT.repeat(bytes / EVENT.len());
        let time = |chunk: &[u8]| {
            (0..3)
                .map(|_| {
                    let start = std::time::Instant::now();
                    let events = SseDecoder::default().feed(chunk).unwrap();
                    assert_eq!(events.len(), chunk.len() / EVENT.len());
                    start.elapsed()
                })
                .min()
                .unwrap()
        };
        let (small, large) = (burst(512 * 1024), burst(4 * 1024 * 1024));
        let ratio = time(&large).as_secs_f64() / time(&small).as_secs_f64();
        assert!(ratio < 16.0, "8 times the bytes took {ratio:.1} times as long");
    }

    #[test]
    fn events_before_an_oversized_one_are_kept() {
        let mut decoder = SseDecoder::with_limit(16);
        let mut events = Vec::new();
        let fed = decoder.feed_into(b"data: ok\n\ndata: 0123456789012345\n", &mut events);
        assert_eq!(fed, Err(SseError::EventTooLarge { limit: 16 }));
        assert_eq!(events, vec![SseEvent { event: "message".into(), data: "ok".into() }]);
    }

    #[test]
    fn an_oversized_event_is_refused() {
        let mut decoder = SseDecoder::with_limit(16);
        assert_eq!(decoder.feed(b"data: 0123456789\n").unwrap(), vec![]);
        assert_eq!(decoder.feed(b"data: 0123456789\n"), Err(SseError::EventTooLarge { limit: 16 }));
        let mut decoder = SseDecoder::with_limit(16);
        assert!(decoder.feed(&[b'x'; 17]).is_err(), "a line that never ends is refused too");
    }
}
