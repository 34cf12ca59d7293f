//! A view of a [`StreamingDoc`] played in plain nodes, as the browser's
//! view (`app/src/chat/markdown_view.rs`) draws it: each key's nodes as
//! they were when the key was new, and what [`StreamingDoc::take_growth`]
//! hands added as that view adds it, only to the last box it drew and only
//! if that box is still the last. What it shows must be what the document
//! holds: `tests/growth.rs` and, through `invariants.rs`, the fuzzer hold
//! the document to that.

use markdown::{Node, PieceKey, StreamingDoc};

#[derive(Default)]
pub struct PlayedView {
    drawn: Vec<(PieceKey, Vec<Node>)>,
    /// Boxes drawn anew.
    pub redrawn: usize,
    /// Updates that added to the last box instead.
    pub grown: usize,
}

impl PlayedView {
    /// Draws what changed since the last call, as the browser's view does
    /// after every update.
    pub fn draw(&mut self, doc: &mut StreamingDoc) {
        let keys = doc.keys();
        if let Some((key, growth)) = doc.take_growth()
            && let Some((_, nodes)) = self.drawn.last_mut().filter(|(drawn, _)| *drawn == key)
        {
            let node = nodes.last_mut().expect("a box holds a node");
            if !growth.text.is_empty() {
                let mut last = &mut *node;
                while let Node::Element(element) = last {
                    last = element.children.last_mut().expect("text to add to");
                }
                let Node::Text(last) = last else { unreachable!() };
                last.push_str(&growth.text);
            }
            if !growth.nodes.is_empty() {
                let mut parent = node;
                for _ in 0..growth.depth {
                    let Node::Element(element) = parent else { panic!("a text has no children") };
                    parent = element.children.last_mut().expect("a child to go into");
                }
                let Node::Element(parent) = parent else { panic!("a text has no children") };
                parent.children.extend(growth.nodes);
            }
            self.grown += 1;
        }
        let old = std::mem::take(&mut self.drawn);
        for key in keys {
            let nodes = match old.iter().find(|(drawn, _)| *drawn == key) {
                Some((_, nodes)) => nodes.clone(),
                None => {
                    self.redrawn += 1;
                    doc.piece(key).expect("every key names its nodes")
                }
            };
            self.drawn.push((key, nodes));
        }
    }

    /// Ends the reply, whose whole text is `text`, and draws what that
    /// changed.
    pub fn end(&mut self, doc: &mut StreamingDoc, text: &str) {
        doc.settle(true);
        doc.update(text);
        self.draw(doc);
    }

    /// Every node drawn, in order.
    pub fn shown(&self) -> Vec<Node> {
        self.drawn.iter().flat_map(|(_, nodes)| nodes.clone()).collect()
    }
}

/// Streams `text` in steps of `step` bytes into a view, drawing after
/// every update, then ends the reply.
pub fn viewed(text: &str, step: usize) -> (StreamingDoc, PlayedView) {
    let (mut doc, mut view) = streamed(text, step);
    view.end(&mut doc, text);
    (doc, view)
}

/// Streams `text` in steps of `step` bytes into a view, drawing after
/// every update, until the document has taken all of it in; the reply
/// stays open.
pub fn streamed(text: &str, step: usize) -> (StreamingDoc, PlayedView) {
    let mut doc = StreamingDoc::default();
    let mut view = PlayedView::default();
    let mut end = 0;
    while end < text.len() || doc.is_behind() {
        end = text.ceil_char_boundary((end + step).min(text.len()));
        doc.update(&text[..end]);
        view.draw(&mut doc);
    }
    (doc, view)
}
