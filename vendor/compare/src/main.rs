//! Parses entity-heavy text with the vendored pulldown-cmark (its entity
//! table packed, see vendor/README.md) and with the published crate, checks
//! they give the same text, character for character, and prints how long
//! each took to parse (the faster of three runs). Then does the same for
//! the case folding of link labels, by the vendored unicase (its tables
//! packed) and the published one.

use std::time::{Duration, Instant};

/// The faster of three runs of `parse_once`.
fn fastest(parse_once: impl Fn() -> usize) -> Duration {
    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        std::hint::black_box(parse_once());
        fastest = fastest.min(start.elapsed());
    }
    fastest
}

/// The text of every text event of `markdown`, by the vendored crate.
fn vendored_text(markdown: &str) -> String {
    vendored::Parser::new(markdown)
        .filter_map(|event| match event {
            vendored::Event::Text(text) => Some(text.into_string()),
            _ => None,
        })
        .collect()
}

/// The text of every text event of `markdown`, by the published crate.
fn published_text(markdown: &str) -> String {
    published::Parser::new(markdown)
        .filter_map(|event| match event {
            published::Event::Text(text) => Some(text.into_string()),
            _ => None,
        })
        .collect()
}

fn main() {
    let texts = [
        ("a name in the table, &nwnear;", "&nwnear; ".repeat(100_000)),
        ("a name not in it", "&nzzzzzzzzz; ".repeat(100_000)),
        ("common names", "&copy; &amp; &nbsp; &zwnj; &AElig; &lt; ".repeat(20_000)),
    ];
    for (what, text) in &texts {
        // Compared whole, untimed; then timed as parsing alone, each event
        // counted and dropped.
        assert!(vendored_text(text) == published_text(text), "{what}: the two read it differently");
        let vendored_time = fastest(|| vendored::Parser::new(text).count());
        let published_time = fastest(|| published::Parser::new(text).count());
        println!(
            "{what} ({} KB): vendored {vendored_time:.1?}, published {published_time:.1?} ({:.2} times)",
            text.len() / 1000,
            vendored_time.as_secs_f64() / published_time.as_secs_f64(),
        );
    }

    // Labels in the scripts with case (Latin, Greek, Cyrillic, Armenian,
    // Cherokee, Deseret, Adlam), with characters that fold to several
    // (ß, ŉ, ﬃ) and ones that fold to themselves (CJK, digits).
    let labels = "Straße ŉ ﬃ ΣΊΣΥΦΟΣ Ωμέγα ПРИВЕТ Բարեւ ᏣᎳᎩ 𐐔𐐯𐑅 𞤀𞤁 漢字 123 ";
    let text = labels.repeat(20_000);
    let vendored_fold = || vendored_unicase::UniCase::unicode(text.as_str()).to_folded_case();
    let published_fold = || published_unicase::UniCase::unicode(text.as_str()).to_folded_case();
    assert!(vendored_fold() == published_fold(), "the two fold the labels differently");
    let vendored_time = fastest(|| vendored_fold().len());
    let published_time = fastest(|| published_fold().len());
    println!(
        "case folding ({} KB of labels): vendored {vendored_time:.1?}, published {published_time:.1?} ({:.2} times)",
        text.len() / 1000,
        vendored_time.as_secs_f64() / published_time.as_secs_f64(),
    );
}
