//! Markdown from the model, made safe by construction and bounded in cost.
//!
//! Model output is untrusted. Instead of rendering Markdown to an HTML string
//! and sanitising it (an HTML sanitiser would triple the size of the wasm),
//! pulldown-cmark's events are turned into a small tree of [`Node`]s that can
//! only express what is allowed: raw HTML becomes text, links exist only for
//! `http`, `https` and `mailto`, and images become links, so nothing in a
//! reply can run script or make the browser fetch anything by itself.
//!
//! A hostile reply must not freeze the page either, so every step is linear
//! in the text and its output is bounded by it: pulldown-cmark is linear on
//! every case of cmark's pathological suite (see `tests/pathological.rs`);
//! [`tables`] stops a table before its padding outgrows its text; the tree
//! is at most [`MAX_DEPTH`] elements deep, deeper markup keeping only its text.
//! [`StreamingDoc`] parses each piece of a growing reply once, re-parses only
//! a tail of bounded size, and shows a reply past [`MARKDOWN_LIMIT`] as text.

mod streaming;
mod tables;
mod tree;

pub use streaming::{
    GROWING_NODES, Growth, MARKDOWN_LIMIT, MAX_PIECE_NODES, MIN_PIECE, PLAIN_PIECE, PieceKey,
    SLOW_START_STEPS, StreamingDoc, TAIL_LIMIT, TAIL_NODES, UPDATE_BUDGET, UPDATE_NODES,
};
pub use tables::MAX_COLUMNS;

/// One node of rendered Markdown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Text(String),
    Element(Element),
}

/// An element and its children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub kind: Kind,
    pub children: Vec<Node>,
}

/// Every kind of element a reply can contain; nothing else can be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Paragraph,
    /// `h1`..`h6`.
    Heading(u8),
    BlockQuote,
    /// A fenced or indented code block; its one child is the code as text.
    CodeBlock {
        /// The fence's language, reduced to `[A-Za-z0-9_+-]`.
        language: Option<String>,
    },
    /// Raw HTML from the model, shown as the text it is.
    RawBlock,
    List {
        /// The first number of an ordered list; `None` for bullets.
        start: Option<u64>,
    },
    Item,
    Table,
    TableHead,
    TableRow,
    TableCell {
        header: bool,
        align: Align,
    },
    Emphasis,
    Strong,
    Strikethrough,
    InlineCode,
    /// A link to an allowed URL.
    Link {
        href: String,
    },
    /// An image, shown as a link to it: images are never loaded by themselves.
    ImageLink {
        href: String,
    },
    /// A link or image whose URL is not allowed: its text only.
    Plain,
    LineBreak,
    Rule,
    /// Text past [`MARKDOWN_LIMIT`], shown exactly as written.
    PlainText,
}

/// A table column's alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    None,
    Left,
    Center,
    Right,
}

impl Align {
    /// The CSS class for the alignment, if any.
    pub fn class(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Left => "reins-align-left",
            Self::Center => "reins-align-center",
            Self::Right => "reins-align-right",
        }
    }
}

/// How deep elements may nest. Markup deeper than this keeps its text but
/// not its structure: the view draws the tree recursively, and a reply of
/// ten thousand `>` or `*` must not exhaust the stack or the layout engine.
pub const MAX_DEPTH: usize = 32;

/// Parses `markdown` into nodes, in time and space linear in its length.
pub fn parse(markdown: &str) -> Vec<Node> {
    tree::build(&bound_table_padding(markdown))
}

/// The text pulldown-cmark is given for `markdown`: a blank line ends each
/// table where the cells its rows would be padded with pass its bytes.
pub fn bound_table_padding(markdown: &str) -> std::borrow::Cow<'_, str> {
    tables::bound_padding(markdown)
}

/// Whether `url` may become a link: `http`, `https` and `mailto` only.
/// Relative and protocol-relative URLs are refused too: a reply has no base
/// to be relative to.
pub fn allowed_url(url: &str) -> bool {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once(':') else { return false };
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" => rest.starts_with("//") && rest.len() > 2,
        "mailto" => !rest.is_empty(),
        _ => false,
    }
}

/// A code fence's language, from the first word of its info string reduced
/// to `[A-Za-z0-9_+-]` (it becomes a class name), if anything is left.
pub fn code_language(info: &str) -> Option<String> {
    let language: String = info
        .split_whitespace()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-'))
        .take(32)
        .collect();
    (!language.is_empty()).then_some(language)
}

/// How many nodes `nodes` hold, and how deep the deepest is, without
/// recursion.
pub fn measure(nodes: &[Node]) -> (usize, usize) {
    let mut count = 0;
    let mut deepest = 0;
    let mut pending: Vec<(&Node, usize)> = nodes.iter().map(|node| (node, 1)).collect();
    while let Some((node, depth)) = pending.pop() {
        count += 1;
        deepest = deepest.max(depth);
        if let Node::Element(element) = node {
            pending.extend(element.children.iter().map(|child| (child, depth + 1)));
        }
    }
    (count, deepest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Node {
        Node::Text(s.into())
    }

    fn el(kind: Kind, children: Vec<Node>) -> Node {
        Node::Element(Element { kind, children })
    }

    /// Every node in the tree, depth first.
    fn all(nodes: &[Node]) -> Vec<&Node> {
        let mut found = Vec::new();
        for node in nodes {
            found.push(node);
            if let Node::Element(element) = node {
                found.extend(all(&element.children));
            }
        }
        found
    }

    fn kinds(nodes: &[Node]) -> Vec<Kind> {
        all(nodes)
            .into_iter()
            .filter_map(|node| match node {
                Node::Element(element) => Some(element.kind.clone()),
                Node::Text(_) => None,
            })
            .collect()
    }

    #[test]
    fn the_common_constructs_parse() {
        let nodes = parse(
            "# Title\n\nSome *em* and **strong** and `code` and ~~gone~~.\n\n> quote\n\n- a\n- b\n\n3. c\n\n---\n",
        );
        let kinds = kinds(&nodes);
        for kind in [
            Kind::Heading(1),
            Kind::Paragraph,
            Kind::Emphasis,
            Kind::Strong,
            Kind::InlineCode,
            Kind::Strikethrough,
            Kind::BlockQuote,
            Kind::List { start: None },
            Kind::Item,
            Kind::List { start: Some(3) },
            Kind::Rule,
        ] {
            assert!(kinds.contains(&kind), "missing {kind:?} in {kinds:?}");
        }
    }

    #[test]
    fn tight_list_items_hold_their_text_without_paragraphs() {
        assert_eq!(
            parse("- a\n- [x] b\n"),
            vec![el(
                Kind::List { start: None },
                vec![el(Kind::Item, vec![text("a")]), el(Kind::Item, vec![text("☑ b")])]
            )]
        );
    }

    #[test]
    fn code_blocks_keep_their_text_and_a_clean_language() {
        let nodes = parse("```rust title=\"x\"\nfn main() {}\n```\n\n```\"><script>\nx\n```\n");
        assert_eq!(
            nodes[0],
            el(Kind::CodeBlock { language: Some("rust".into()) }, vec![text("fn main() {}\n")])
        );
        assert_eq!(
            nodes[1],
            el(Kind::CodeBlock { language: Some("script".into()) }, vec![text("x\n")])
        );
    }

    #[test]
    fn code_languages_are_reduced_to_a_class_name() {
        assert_eq!(code_language("c++ {.x}"), Some("c++".into()));
        assert_eq!(code_language("\"><img onerror=x>"), Some("img".into()));
        assert_eq!(code_language("\"<>"), None);
        assert_eq!(code_language(&"a".repeat(100)).map(|l| l.len()), Some(32));
    }

    #[test]
    fn tables_keep_headers_and_alignment() {
        let nodes = parse("| a | b |\n|:--|--:|\n| 1 | 2 |\n");
        let cells: Vec<Kind> =
            kinds(&nodes).into_iter().filter(|k| matches!(k, Kind::TableCell { .. })).collect();
        assert_eq!(
            cells,
            vec![
                Kind::TableCell { header: true, align: Align::Left },
                Kind::TableCell { header: true, align: Align::Right },
                Kind::TableCell { header: false, align: Align::Left },
                Kind::TableCell { header: false, align: Align::Right },
            ]
        );
    }

    #[test]
    fn raw_html_is_text_never_markup() {
        let nodes = parse("<img src=x onerror=alert(1)>\n\nHi <script>alert(2)</script> there\n");
        assert_eq!(nodes[0], el(Kind::RawBlock, vec![text("<img src=x onerror=alert(1)>\n")]));
        assert_eq!(nodes[1], el(Kind::Paragraph, vec![text("Hi <script>alert(2)</script> there")]));
    }

    #[test]
    fn only_http_https_and_mailto_become_links() {
        let nodes = parse(
            "[ok](https://example.com/a?b=1) [mail](mailto:a@b.c) [js](javascript:alert(1)) \
             [JS](JaVaScRiPt:alert(1)) [data](data:text/html,x) [rel](/etc) [proto](//evil.com)",
        );
        let links: Vec<Kind> =
            kinds(&nodes).into_iter().filter(|k| !matches!(k, Kind::Paragraph)).collect();
        assert_eq!(
            links,
            vec![
                Kind::Link { href: "https://example.com/a?b=1".into() },
                Kind::Link { href: "mailto:a@b.c".into() },
                Kind::Plain,
                Kind::Plain,
                Kind::Plain,
                Kind::Plain,
                Kind::Plain,
            ]
        );
    }

    #[test]
    fn images_become_links_and_bad_image_urls_just_text() {
        let nodes = parse("![a cat](https://example.com/cat.png) ![x](javascript:alert(1))");
        assert_eq!(
            nodes[0],
            el(
                Kind::Paragraph,
                vec![
                    el(
                        Kind::ImageLink { href: "https://example.com/cat.png".into() },
                        vec![text("a cat")]
                    ),
                    text(" "),
                    el(Kind::Plain, vec![text("x")]),
                ]
            )
        );
    }

    #[test]
    fn an_email_autolink_becomes_a_mailto_link() {
        let link = Kind::Link { href: "mailto:ada@example.com".into() };
        assert_eq!(
            parse("Write to <ada@example.com>."),
            vec![el(
                Kind::Paragraph,
                vec![text("Write to "), el(link, vec![text("ada@example.com")]), text(".")]
            )]
        );
    }

    #[test]
    fn deep_nesting_keeps_its_text_below_the_depth_limit() {
        for (name, markdown) in [
            ("quotes", ">".repeat(100_000) + " deep"),
            ("lists", "1. ".repeat(50_000) + "deep"),
            ("emphasis", "*".repeat(50_000) + "deep" + &"*".repeat(50_000)),
            ("links", "[".repeat(20_000) + "deep" + &"](https://a.b)".repeat(20_000)),
        ] {
            let nodes = parse(&markdown);
            let (_, depth) = measure(&nodes);
            assert!(depth <= MAX_DEPTH + 1, "{name}: {depth} deep");
            // Links do not nest, so only the others reach the cap.
            assert!(name == "links" || depth > MAX_DEPTH, "{name}: {depth} deep, under the cap");
            let shown: String = all(&nodes)
                .into_iter()
                .filter_map(|node| match node {
                    Node::Text(text) => Some(text.as_str()),
                    Node::Element(_) => None,
                })
                .collect();
            assert!(shown.contains("deep"), "{name}: the text below the cap is kept");
        }
    }

    #[test]
    fn allowed_urls() {
        assert!(allowed_url("https://a.b"));
        assert!(allowed_url(" HTTP://a.b "));
        assert!(allowed_url("mailto:x@y.z"));
        assert!(!allowed_url("https:"));
        assert!(!allowed_url("https:evil"));
        assert!(!allowed_url("javascript:alert(1)"));
        assert!(!allowed_url("vbscript:x"));
        assert!(!allowed_url("#top"));
        assert!(!allowed_url(""));
    }
}
