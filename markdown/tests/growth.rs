//! What a view that adds what grew shows is what the document holds, and
//! what the document holds is what parsing the text at once gives; most
//! updates add to what is drawn instead of drawing it again.

#[path = "support/played_view.rs"]
mod played_view;

use played_view::viewed;

#[test]
fn a_view_that_adds_what_grew_shows_what_was_parsed() {
    let reply = "# A *plan* for `today`\n\nSome prose that goes on, with a [link](https://example.com) and **bold** text,\nover a soft break and a hard one  \nto the end &amp; beyond.\n\n> quoted\n> text\n\n1. one\n2. two with `code`\n   and more\n   - nested *a*\n   - nested b\n\n- tight\n- list\n\n  now loose\n- item\n\n```rust\nfn a() {}\n\nfn b() {}\n```\n\n- a list\n- with code\n  ```\n  x\n  ```\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n![alt text](https://example.com/a.png) and an image\n\nDone &copy; here\n";
    let reply = reply.repeat(12);
    for step in [1, 3, 7, 50] {
        let (doc, view) = viewed(&reply, step);
        assert_eq!(view.shown(), doc.nodes(), "in steps of {step}");
        assert_eq!(doc.nodes(), markdown::parse(&reply), "in steps of {step}");
        if step == 1 {
            assert!(
                view.grown > 4 * view.redrawn,
                "most updates add to what is drawn: {} grown, {} drawn again",
                view.grown,
                view.redrawn
            );
        }
    }
}

/// Texts of up to a dozen pieces of Markdown's syntax, streamed a byte at
/// a time: what a view that adds what grew shows must be what the
/// document holds. It once was not when the tail lost its last node and
/// the one before it grew (`&amp;\n#> `: a paragraph and a heading, then
/// one paragraph): the view added only to its last box, and kept the
/// other as it was.
#[test]
fn a_view_that_adds_what_grew_shows_what_was_parsed_whatever_the_text() {
    let atoms = [
        "|---|", "| a ", "|\n", ":-", "a", " ", "\n", "- ", "* ", "1. ", "> ", "|", "`", "**", "_",
        "#", "=", "-", "[", "]", "(u)", "  ", "```", "<b>", "&amp;", "!",
    ];
    let mut seed = 12345u64;
    let mut next = move |below: usize| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize % below
    };
    for case in ["&amp;\n#> ```", "| x | y |\n|---|---|\n|\n| 1 | 2 |\n"]
        .map(String::from)
        .into_iter()
        .chain((0..20_000).map(|_| (0..2 + next(12)).map(|_| atoms[next(atoms.len())]).collect()))
    {
        let (doc, view) = viewed(&case, 1);
        assert_eq!(view.shown(), doc.nodes(), "{case:?}");
    }
}

/// Drawn twice in all, however it is streamed: once when its head becomes
/// a table, once when its first row does. Drawn whole on every update, a
/// table of two columns was drawn again 344 times in steps of a byte; one
/// of four, while the document showed every column's cell of the row being
/// written (the parser gives a row them all, so the cell being written was
/// the last only in the last column), 793 times; and while a row's first
/// line, `|`, was shown as a paragraph after the table (two boxes, then one
/// again), 82 times for either in steps of a byte, 62 and 56 in steps of 3,
/// 29 in steps of 9.
#[test]
fn a_table_written_cell_by_cell_is_not_drawn_again() {
    let narrow: String = (1..=40).map(|n| format!("| {n} | step {n} |\n")).collect();
    let wide: String =
        (1..=40).map(|n| format!("| {n} | write it | try it small | keep {n} |\n")).collect();
    for reply in [
        format!("| n | what |\n|---|---|\n{narrow}"),
        format!("| n | first | then | last |\n|---|---|---|---|\n{wide}"),
    ] {
        for step in [1, 3, 9] {
            let (doc, view) = viewed(&reply, step);
            assert_eq!(view.shown(), doc.nodes(), "in steps of {step}");
            assert_eq!(doc.nodes(), markdown::parse(&reply), "in steps of {step}");
            assert!(
                view.redrawn <= 2,
                "in steps of {step}: {} grown, {} drawn again",
                view.grown,
                view.redrawn
            );
        }
    }
}

#[test]
fn a_list_written_item_by_item_is_not_drawn_again() {
    let reply: String = (1..=40).map(|n| format!("- item {n}\n")).collect();
    for step in [1, 3, 9] {
        let (doc, view) = viewed(&reply, step);
        assert_eq!(view.shown(), doc.nodes(), "in steps of {step}");
        assert_eq!(doc.nodes(), markdown::parse(&reply), "in steps of {step}");
        // The first draw, and the few updates that add nodes at two
        // depths: an empty item's text and the next item (3 of 40 items
        // in steps of 9).
        assert!(
            view.redrawn <= 5,
            "in steps of {step}: {} grown, {} drawn again",
            view.grown,
            view.redrawn
        );
    }
}
