//! Markdown from the model, made safe by construction.
//!
//! Model output is untrusted. Instead of rendering Markdown to an HTML string
//! and sanitising it (an HTML sanitiser would triple the size of the wasm),
//! the parser's events are turned into a small tree of [`Node`]s that can only
//! express what is allowed: raw HTML becomes text, links exist only for
//! `http`, `https` and `mailto`, and images become links, so nothing in a
//! reply can run script or make the browser fetch anything by itself.
//!
//! [`StreamingDoc`] keeps a reply's finished blocks parsed and re-parses only
//! the unfinished tail as more text arrives, so the cost of an update does not
//! grow with the length of the reply.

mod block;
mod inline;

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

/// Parses `markdown` into nodes.
pub fn parse(markdown: &str) -> Vec<Node> {
    block::document(markdown)
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

fn element(kind: Kind, children: Vec<Node>) -> Node {
    Node::Element(Element { kind, children })
}

/// The parsed form of a reply that is still growing: blocks that cannot
/// change any more are parsed once; only the tail after them is re-parsed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamingDoc {
    /// Counts the times the text was replaced rather than extended, so a view
    /// keyed on it knows to drop the blocks it drew before.
    pub epoch: u64,
    /// The text the stable blocks were parsed from.
    stable_text: String,
    /// Each stable stretch of the text, parsed; never changed once added.
    pub stable: Vec<Vec<Node>>,
    /// The unfinished end of the text, parsed afresh on every update.
    pub tail: Vec<Node>,
}

impl StreamingDoc {
    /// Brings the document up to `text`. Returns whether stable blocks were
    /// added (or the document started over because the text was replaced).
    pub fn update(&mut self, text: &str) -> bool {
        let mut grew = false;
        if !text.starts_with(&self.stable_text) {
            *self = Self { epoch: self.epoch + 1, ..Self::default() };
            grew = true;
        }
        let split = stable_prefix_len(text);
        if split > self.stable_text.len() {
            self.stable.push(parse(&text[self.stable_text.len()..split]));
            self.stable_text = text[..split].to_owned();
            grew = true;
        }
        self.tail = parse(&text[self.stable_text.len()..]);
        grew
    }
}

/// The length of the longest prefix of `text` that ends with a blank line
/// outside any code fence and is followed by a line that starts a new block,
/// so that no later text can change how the prefix parses.
pub fn stable_prefix_len(text: &str) -> usize {
    let mut stable = 0;
    let mut fence: Option<(char, usize)> = None;
    let mut offset = 0;
    let mut previous_blank = false;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let trimmed = content.trim_start();
        let indent = content.len() - trimmed.len();
        let blank = trimmed.is_empty();
        if fence.is_none() && previous_blank && !blank && indent == 0 && offset > 0 {
            // A line that starts at the margin after a blank line begins a
            // new block, whatever the rest of it turns out to be: what came
            // before is finished. (Between two items of a loose list this
            // splits one list in two, which renders the same.)
            stable = offset;
        }
        if indent < 4
            && let Some(marker) = fence_marker(trimmed)
        {
            match fence {
                None => fence = Some(marker),
                // A fence closes with at least as many of the same character
                // and nothing after them.
                Some((c, n))
                    if marker.0 == c
                        && marker.1 >= n
                        && trimmed.trim_start_matches(c).trim().is_empty() =>
                {
                    fence = None
                }
                Some(_) => {}
            }
        }
        previous_blank = blank;
        offset += line.len();
    }
    stable
}

/// The fence character and length if `line` opens or closes a code fence.
fn fence_marker(line: &str) -> Option<(char, usize)> {
    let c = line.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let count = line.chars().take_while(|x| *x == c).count();
    (count >= 3).then_some((c, count))
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
    fn reference_links_and_rare_entities_stay_as_written() {
        assert_eq!(
            parse("[text][label] &hellip; &frac12; &#x41;\n\n[label]: https://example.com"),
            vec![
                el(Kind::Paragraph, vec![text("[text][label] … &frac12; A")]),
                el(Kind::Paragraph, vec![text("[label]: https://example.com")]),
            ]
        );
    }

    #[test]
    fn deep_nesting_stops_at_a_limit_instead_of_exhausting_the_stack() {
        let quotes = parse(&">".repeat(100_000));
        let lists = parse(&("1. ".repeat(50_000) + "x"));
        let depth = |nodes: &[Node]| {
            let mut depth = 0;
            let mut level = nodes.to_vec();
            while let Some(Node::Element(element)) = level.first().cloned() {
                depth += 1;
                level = element.children;
            }
            depth
        };
        assert_eq!(depth(&quotes), 33, "32 quotes, then a paragraph");
        assert_eq!(depth(&lists), 2 * 32, "32 lists, each with its item, then text");
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

    #[test]
    fn the_stable_prefix_ends_at_a_blank_line_before_a_new_block() {
        assert_eq!(stable_prefix_len("one"), 0);
        assert_eq!(stable_prefix_len("one\n\n"), 0, "the next block has not begun");
        assert_eq!(stable_prefix_len("one\n\nt"), 5);
        assert_eq!(stable_prefix_len("one\n\n    indented\n"), 0, "indented: maybe a continuation");
        let fenced = "```\na\n\nb\n";
        assert_eq!(stable_prefix_len(fenced), 0, "never inside a code fence");
        let closed = "```\na\n\nb\n```\n\nafter\n";
        assert_eq!(stable_prefix_len(closed), closed.find("after").unwrap());
    }

    #[test]
    fn streaming_gives_the_same_tree_as_parsing_at_once() {
        let reply = "# Plan\n\nFirst *point*.\n\n- one\n- two\n\n```rust\nfn a() {}\n\nfn b() {}\n```\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\nDone.";
        let mut doc = StreamingDoc::default();
        for end in reply.char_indices().map(|(i, _)| i).chain([reply.len()]) {
            doc.update(&reply[..end]);
        }
        let streamed: Vec<Node> = doc.stable.concat().into_iter().chain(doc.tail.clone()).collect();
        assert_eq!(streamed, parse(reply));
        assert!(doc.stable.len() >= 4, "finished blocks were kept: {}", doc.stable.len());
        // Only the last block is re-parsed at the end.
        assert_eq!(doc.tail, parse("Done."));
    }

    #[test]
    fn a_replaced_text_starts_over() {
        let mut doc = StreamingDoc::default();
        doc.update("a\n\nb\n");
        assert!(doc.update("x\n\ny\n"));
        assert_eq!(doc.stable, vec![parse("x\n\n")]);
        assert_eq!(doc.epoch, 1);
    }
}
