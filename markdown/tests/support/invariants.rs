//! What must hold for any text whatever: checked on every sample and
//! pathological case by `tests/samples.rs`, and on every input the fuzzer
//! makes up by `fuzz/fuzz_targets/tree.rs`.

use markdown::{Element, Kind, MAX_DEPTH, MAX_PIECE_NODES, Node, StreamingDoc, TAIL_LIMIT};
use pulldown_cmark::{Event, Options, Parser};

use crate::played_view;

/// Panics, naming the property, if parsing or streaming `text` breaks one.
pub fn check(text: &str) {
    let nodes = markdown::parse(text);
    check_bounds(&nodes, text.len());
    // Nothing is lost or made up: the tree shows the text pulldown-cmark
    // reports, whitespace aside (the tree adds a space between cells that
    // it flattens past the depth limit, and drops hard breaks).
    assert_eq!(
        shown(&nodes),
        reported(&markdown::bound_table_padding(text)),
        "the tree shows other text than pulldown-cmark reports"
    );

    // Streamed into a view that adds what grew to what it drew (a byte at a
    // time when short, else in some 8 steps), every piece is bounded, open
    // and ended, and the view shows what the document holds.
    let step = if text.len() <= 64 { 1 } else { text.len() / 8 + 1 };
    let (mut doc, mut view) = played_view::streamed(text, step);
    check_pieces(&doc, text.len());
    view.end(&mut doc, text);
    check_pieces(&doc, text.len());
    assert!(
        view.shown() == doc.nodes(),
        "a view that added what grew shows other nodes than the document holds"
    );
}

fn check_pieces(doc: &StreamingDoc, bytes: usize) {
    for piece in doc.stable.iter().chain([&doc.tail]) {
        check_bounds(piece, bytes);
        let (nodes, _) = markdown::measure(piece);
        assert!(nodes <= MAX_PIECE_NODES + 2, "a piece of {nodes} nodes");
        if let [Node::Element(Element { kind: Kind::PlainText, children })] = &piece[..] {
            assert!(shown(children).len() <= TAIL_LIMIT, "a plain piece over the tail limit");
        }
    }
}

fn check_bounds(nodes: &[Node], bytes: usize) {
    let (count, depth) = markdown::measure(nodes);
    assert!(count <= 4 * bytes + 16, "{count} nodes for {bytes} bytes");
    assert!(depth <= MAX_DEPTH + 1, "{depth} deep");
}

/// The text the tree shows, without whitespace.
fn shown(nodes: &[Node]) -> String {
    let mut text = String::new();
    let mut pending: Vec<&Node> = nodes.iter().rev().collect();
    while let Some(node) = pending.pop() {
        match node {
            Node::Text(part) => text.extend(part.chars().filter(|c| !c.is_whitespace())),
            Node::Element(element) => pending.extend(element.children.iter().rev()),
        }
    }
    text
}

/// The text pulldown-cmark reports for `markdown`, without whitespace.
fn reported(markdown: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut text = String::new();
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Text(part)
            | Event::Code(part)
            | Event::Html(part)
            | Event::InlineHtml(part)
            | Event::InlineMath(part)
            | Event::DisplayMath(part) => text.push_str(&part),
            Event::TaskListMarker(done) => text.push(if done { '☑' } else { '☐' }),
            Event::FootnoteReference(label) => text.push_str(&format!("[^{label}]")),
            _ => {}
        }
    }
    text.retain(|c| !c.is_whitespace());
    text
}
