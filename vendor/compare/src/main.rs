//! Parses entity-heavy text with the vendored pulldown-cmark (its entity
//! table packed, see vendor/README.md) and with the published crate, checks
//! they give the same text, and prints how long each took (the faster of
//! three runs).

use std::time::{Duration, Instant};

/// The length of all the text events of `text`, and the faster of three
/// parses.
fn parse(parse_once: impl Fn() -> usize) -> (usize, Duration) {
    let mut fastest = Duration::MAX;
    let mut length = 0;
    for _ in 0..3 {
        let start = Instant::now();
        length = parse_once();
        fastest = fastest.min(start.elapsed());
    }
    (length, fastest)
}

fn main() {
    let texts = [
        ("a name in the table, &nwnear;", "&nwnear; ".repeat(100_000)),
        ("a name not in it", "&nzzzzzzzzz; ".repeat(100_000)),
        ("common names", "&copy; &amp; &nbsp; &zwnj; &AElig; &lt; ".repeat(20_000)),
    ];
    for (what, text) in &texts {
        let (vendored_text, vendored_time) = parse(|| {
            vendored::Parser::new(text)
                .map(|event| match event {
                    vendored::Event::Text(text) => text.len(),
                    _ => 0,
                })
                .sum()
        });
        let (published_text, published_time) = parse(|| {
            published::Parser::new(text)
                .map(|event| match event {
                    published::Event::Text(text) => text.len(),
                    _ => 0,
                })
                .sum()
        });
        assert_eq!(vendored_text, published_text, "{what}: the two parsers read it differently");
        println!(
            "{what} ({} KB): vendored {vendored_time:.1?}, published {published_time:.1?} ({:.2} times)",
            text.len() / 1000,
            vendored_time.as_secs_f64() / published_time.as_secs_f64(),
        );
    }
}
