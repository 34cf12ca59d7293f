//! pulldown-cmark's events, built into the allowlisted tree of [`Node`]s.
//!
//! Each event is handled once and in constant time (plus the text it
//! carries), so building is linear in the events; elements deeper than
//! [`MAX_DEPTH`] are not built, only their text is kept.

use pulldown_cmark::{Alignment, CodeBlockKind, Event, LinkType, Options, Parser, Tag, TagEnd};

use super::{Align, Element, Kind, MAX_DEPTH, Node, allowed_url, code_language};

/// Parses `markdown` (already bounded by [`super::tables`]) into nodes.
pub(super) fn build(markdown: &str) -> Vec<Node> {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut builder = Builder::default();
    for event in Parser::new_ext(markdown, options) {
        builder.event(event);
    }
    builder.finish()
}

#[derive(Default)]
struct Builder {
    /// The open elements, innermost last, each with where its children
    /// start in `nodes`.
    open: Vec<(Kind, usize)>,
    /// The finished top level, then the children of each open element in
    /// turn. An element's children are moved into a vector of their exact
    /// size when it ends: one allocation per element, and none of the
    /// doubling growth (and the memory it leaves unused) that pushing into
    /// each element's own vector costs. Measured on `*a* ` repeated to 1 MB,
    /// where most elements have one child: 164 ms before, see the README.
    nodes: Vec<Node>,
    /// How many elements are open below the depth limit: their text goes to
    /// the deepest element built.
    flattened: usize,
    alignments: Vec<Align>,
    cell: usize,
    in_head: bool,
}

impl Builder {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) if self.open.len() >= MAX_DEPTH => {
                self.flattened += 1;
                // A flattened table's cells would otherwise run together.
                if matches!(tag, Tag::TableCell | Tag::Item) {
                    self.text(" ");
                }
            }
            Event::Start(tag) => {
                let kind = self.kind(tag);
                self.open.push((kind, self.nodes.len()));
            }
            Event::End(_) if self.flattened > 0 => self.flattened -= 1,
            Event::End(end) => self.end(end),
            Event::Text(text) => self.text(&text),
            Event::Code(code) => self.leaf(Kind::InlineCode, &code),
            // Raw HTML is shown, never parsed.
            Event::Html(html) | Event::InlineHtml(html) => self.text(&html),
            Event::SoftBreak => self.text("\n"),
            Event::HardBreak => self.leaf(Kind::LineBreak, "\n"),
            Event::Rule => self.leaf(Kind::Rule, ""),
            Event::TaskListMarker(done) => self.text(if done { "☑ " } else { "☐ " }),
            Event::FootnoteReference(label) => {
                self.text("[^");
                self.text(&label);
                self.text("]");
            }
            Event::InlineMath(math) | Event::DisplayMath(math) => self.text(&math),
        }
    }

    fn kind(&mut self, tag: Tag<'_>) -> Kind {
        match tag {
            Tag::Paragraph => Kind::Paragraph,
            Tag::Heading { level, .. } => Kind::Heading(level as u8),
            Tag::BlockQuote(_) => Kind::BlockQuote,
            Tag::CodeBlock(CodeBlockKind::Fenced(info)) => {
                Kind::CodeBlock { language: code_language(&info) }
            }
            Tag::CodeBlock(CodeBlockKind::Indented) => Kind::CodeBlock { language: None },
            Tag::HtmlBlock => Kind::RawBlock,
            Tag::List(start) => Kind::List { start },
            Tag::Item => Kind::Item,
            Tag::Table(alignments) => {
                self.alignments = alignments.into_iter().map(align).collect();
                Kind::Table
            }
            Tag::TableHead => {
                self.in_head = true;
                self.cell = 0;
                Kind::TableHead
            }
            Tag::TableRow => {
                self.cell = 0;
                Kind::TableRow
            }
            Tag::TableCell => {
                let align = self.alignments.get(self.cell).copied().unwrap_or(Align::None);
                self.cell += 1;
                Kind::TableCell { header: self.in_head, align }
            }
            Tag::Emphasis => Kind::Emphasis,
            Tag::Strong => Kind::Strong,
            Tag::Strikethrough => Kind::Strikethrough,
            // `<ada@example.com>`: as pulldown-cmark's own HTML renderer does.
            Tag::Link { link_type: LinkType::Email, dest_url, .. } => {
                Kind::Link { href: format!("mailto:{dest_url}") }
            }
            Tag::Link { dest_url, .. } if allowed_url(&dest_url) => {
                Kind::Link { href: dest_url.trim().to_owned() }
            }
            Tag::Image { dest_url, .. } if allowed_url(&dest_url) => {
                Kind::ImageLink { href: dest_url.trim().to_owned() }
            }
            // Footnote definitions, metadata blocks, definition lists and
            // anything newer keep their text and lose their structure.
            _ => Kind::Plain,
        }
    }

    fn end(&mut self, end: TagEnd) {
        if end == TagEnd::TableHead {
            self.in_head = false;
        }
        self.close();
    }

    /// Ends the innermost open element, if any, with the children pushed
    /// since it started.
    fn close(&mut self) {
        if let Some((kind, start)) = self.open.pop() {
            let children = self.nodes.split_off(start);
            self.nodes.push(Node::Element(Element { kind, children }));
        }
    }

    /// An element with no markup inside (inline code, a break, a rule), or
    /// only its text at the depth limit.
    fn leaf(&mut self, kind: Kind, text: &str) {
        if self.open.len() >= MAX_DEPTH {
            self.text(text);
            return;
        }
        let children =
            if kind == Kind::InlineCode { vec![Node::Text(text.to_owned())] } else { Vec::new() };
        self.push(Node::Element(Element { kind, children }));
    }

    fn text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        // Only a sibling: a node before the open element's start is not.
        let start = self.open.last().map_or(0, |(_, start)| *start);
        let has_sibling = self.nodes.len() > start;
        match self.nodes.last_mut() {
            Some(Node::Text(previous)) if has_sibling => previous.push_str(text),
            _ => self.nodes.push(Node::Text(text.to_owned())),
        }
    }

    fn push(&mut self, node: Node) {
        self.nodes.push(node);
    }

    fn finish(mut self) -> Vec<Node> {
        while !self.open.is_empty() {
            self.close();
        }
        self.nodes
    }
}

fn align(alignment: Alignment) -> Align {
    match alignment {
        Alignment::None => Align::None,
        Alignment::Left => Align::Left,
        Alignment::Center => Align::Center,
        Alignment::Right => Align::Right,
    }
}
