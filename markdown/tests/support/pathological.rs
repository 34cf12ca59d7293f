//! Replies built to make Markdown parsers slow: every case of cmark's
//! `test/pathological_tests.py` that applies to CommonMark with GFM tables
//! and strikethrough, and the cases that once froze Reins (issue 10), each
//! grown to any size. Shared by `tests/pathological.rs` (linear time,
//! bounded output, expected shape) and `benches/parse.rs` (time per byte).

use markdown::Kind;

/// One case: how to grow it to about `bytes`, and the kind of its first
/// top-level block.
pub struct Case {
    pub name: &'static str,
    pub build: fn(usize) -> String,
    pub first_block: Kind,
}

/// `unit` repeated until the text has at least `bytes`.
fn repeat(unit: &str, bytes: usize) -> String {
    unit.repeat(bytes.div_ceil(unit.len()).max(1))
}

/// `open` repeated, then `middle`, then `close` as often as `open`.
fn nest(open: &str, middle: &str, close: &str, bytes: usize) -> String {
    let times = (bytes / (open.len() + close.len())).max(1);
    open.repeat(times) + middle + &close.repeat(times)
}

/// `first`, then lines of `b` until about `bytes`: lazy continuation lines.
fn lazy(first: &str, bytes: usize) -> String {
    first.to_owned() + &repeat("b\n", bytes.saturating_sub(first.len()))
}

/// A table of `columns` over one-character rows: GFM pads every row.
fn wide_table(columns: usize, bytes: usize) -> String {
    let head = "|a".repeat(columns) + "|\n" + &"|-".repeat(columns) + "|\n";
    let rows = repeat("|x\n", bytes.saturating_sub(head.len()));
    head + &rows
}

const PARAGRAPH: Kind = Kind::Paragraph;

/// Every case.
pub const CASES: &[Case] = &[
    // cmark's test/pathological_tests.py.
    Case {
        name: "nested strong emph",
        build: |n| nest("*a **a ", "b", " a** a*", n),
        first_block: PARAGRAPH,
    },
    Case { name: "emph closers, no openers", build: |n| repeat("a_ ", n), first_block: PARAGRAPH },
    Case { name: "emph openers, no closers", build: |n| repeat("_a ", n), first_block: PARAGRAPH },
    Case { name: "link closers, no openers", build: |n| repeat("a]", n), first_block: PARAGRAPH },
    Case { name: "link openers, no closers", build: |n| repeat("[a", n), first_block: PARAGRAPH },
    Case { name: "mismatched openers", build: |n| repeat("*a_ ", n), first_block: PARAGRAPH },
    Case {
        name: "openers and closers, multiple of 3",
        build: |n| "a**b".to_owned() + &repeat("c* ", n),
        first_block: PARAGRAPH,
    },
    Case {
        name: "link openers, emph closers",
        build: |n| repeat("[ a_", n),
        first_block: PARAGRAPH,
    },
    Case { name: "pattern [ (](", build: |n| repeat("[ (](", n), first_block: PARAGRAPH },
    Case { name: "pattern ![[]()", build: |n| repeat("![[]()", n), first_block: PARAGRAPH },
    Case { name: "nested brackets", build: |n| nest("[", "a", "]", n), first_block: PARAGRAPH },
    Case {
        name: "nested block quotes",
        build: |n| repeat("> ", n) + "a",
        first_block: Kind::BlockQuote,
    },
    Case {
        name: "deeply nested lists",
        build: |n| {
            let mut text = String::new();
            let mut depth = 0;
            while text.len() < n {
                text += &"  ".repeat(depth);
                text += "* a\n";
                depth += 1;
            }
            text
        },
        first_block: Kind::List { start: None },
    },
    Case { name: "U+0000", build: |n| repeat("abc\u{0}de\u{0}", n), first_block: PARAGRAPH },
    Case {
        name: "backticks",
        build: |n| {
            let mut text = String::new();
            let mut run = 1;
            while text.len() < n {
                text += "e";
                text += &"`".repeat(run);
                run += 1;
            }
            text
        },
        first_block: PARAGRAPH,
    },
    Case { name: "unclosed links A", build: |n| repeat("[a](<b", n), first_block: PARAGRAPH },
    Case { name: "unclosed links B", build: |n| repeat("[a](b", n), first_block: PARAGRAPH },
    Case {
        name: "unclosed <!--",
        build: |n| "</".to_owned() + &repeat("<!--", n),
        first_block: PARAGRAPH,
    },
    Case {
        name: "nested strikethrough",
        build: |n| nest("~~a ", "b", " a~~", n),
        first_block: PARAGRAPH,
    },
    Case {
        name: "fence with a long info string",
        build: |n| repeat("~", n) + "\ncode",
        first_block: Kind::CodeBlock { language: None },
    },
    Case { name: "nested emphasis", build: |n| nest("*", "a", "*", n), first_block: PARAGRAPH },
    Case {
        name: "many references",
        build: |n| repeat("[a]: u\n", n) + "[a]",
        first_block: PARAGRAPH,
    },
    // Labels matched case-insensitively outside ASCII, for the packed
    // case-folding tables (vendor/README.md): distinct labels, each defined,
    // then referred to in another case (ß folds to ss, Σ to σ).
    Case {
        name: "references, labels in other scripts",
        build: |n| {
            let labels = (n / 60).max(1);
            let defined: String =
                (0..labels).map(|k| format!("[Straße ΣΊΣΥΦΟΣ {k}]: u\n")).collect();
            let used: String = (0..labels).map(|k| format!("[STRASSE σίσυφοσ {k}] ")).collect();
            defined + "\n" + &used
        },
        first_block: PARAGRAPH,
    },
    Case { name: "autolink openers", build: |n| repeat("<a", n), first_block: PARAGRAPH },
    Case { name: "entities", build: |n| repeat("&#x41;&amp;&", n), first_block: PARAGRAPH },
    // Entity-heavy text, for the packed entity table (vendor/README.md): a
    // name that is in it, and one that is not.
    Case { name: "named entities", build: |n| repeat("&nwnear; ", n), first_block: PARAGRAPH },
    Case {
        name: "unknown entity names",
        build: |n| repeat("&nzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz; ", n),
        first_block: PARAGRAPH,
    },
    Case { name: "hard breaks", build: |n| repeat("a  \n", n), first_block: PARAGRAPH },
    // The replies that froze Reins (issue 10).
    Case {
        name: "nested quote, lazy lines",
        build: |n| lazy(">>>>>> a\n", n),
        first_block: Kind::BlockQuote,
    },
    Case {
        name: "quote 10 deep, lazy lines",
        build: |n| lazy(&(">".repeat(10) + " a\n"), n),
        first_block: Kind::BlockQuote,
    },
    Case { name: "quote, lazy lines", build: |n| lazy("> a\n", n), first_block: Kind::BlockQuote },
    Case {
        name: "list, lazy lines",
        build: |n| lazy("- a\n", n),
        first_block: Kind::List { start: None },
    },
    Case { name: "a* repeated", build: |n| repeat("a* ", n), first_block: PARAGRAPH },
    Case { name: "*a* pairs", build: |n| repeat("*a* ", n), first_block: PARAGRAPH },
    Case { name: "*] repeated", build: |n| repeat("*]", n), first_block: PARAGRAPH },
    Case { name: "[](x ( repeated", build: |n| repeat("[](x (", n), first_block: PARAGRAPH },
    // Past 64 columns a table is its text (markdown::MAX_COLUMNS).
    Case { name: "table, 2,000 columns", build: |n| wide_table(2_000, n), first_block: PARAGRAPH },
    Case {
        name: "table, columns = sqrt(size), at most 64",
        build: |n| wide_table(((n as f64).sqrt() as usize / 2 + 1).min(64), n),
        first_block: Kind::Table,
    },
    Case {
        name: "table, lone CR line endings",
        build: |n| wide_table(64, n).replace('\n', "\r"),
        first_block: Kind::Table,
    },
    Case {
        name: "many one-row tables",
        build: |n| repeat("|a|b|\n|-|-|\n|1|2|\n\n", n),
        first_block: Kind::Table,
    },
];
