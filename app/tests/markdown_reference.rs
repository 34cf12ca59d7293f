//! The compact Markdown parser against pulldown-cmark, the reference
//! CommonMark implementation in Rust: on every sample here both must build
//! the same tree.
//!
//! Reins parses Markdown itself because pulldown-cmark was a third of the
//! embed's compressed wasm (see the README's "Size"); pulldown-cmark stays as
//! this test's oracle. Its events become a tree the way Reins built it from
//! them before.

use app::markdown::{self, Align, Element, Kind, Node};
use pulldown_cmark::{Alignment, CodeBlockKind, Event, LinkType, Options, Parser, Tag, TagEnd};

fn reference(markdown: &str) -> Vec<Node> {
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
    /// The open elements, innermost last; below them the finished top level.
    open: Vec<Element>,
    done: Vec<Node>,
    alignments: Vec<Align>,
    cell: usize,
    in_head: bool,
}

impl Builder {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => {
                let kind = self.kind(tag);
                self.open.push(Element { kind, children: Vec::new() });
            }
            Event::End(end) => self.end(end),
            Event::Text(text) => self.text(&text),
            Event::Code(code) => self.push(Node::Element(Element {
                kind: Kind::InlineCode,
                children: vec![Node::Text(code.into_string())],
            })),
            // Raw HTML is shown, never parsed.
            Event::Html(html) | Event::InlineHtml(html) => self.text(&html),
            Event::SoftBreak => self.text("\n"),
            Event::HardBreak => self.push(empty(Kind::LineBreak)),
            Event::Rule => self.push(empty(Kind::Rule)),
            Event::TaskListMarker(done) => self.text(if done { "☑ " } else { "☐ " }),
            Event::FootnoteReference(label) => self.text(&format!("[^{label}]")),
            Event::InlineMath(math) | Event::DisplayMath(math) => self.text(&math),
        }
    }

    fn kind(&mut self, tag: Tag<'_>) -> Kind {
        match tag {
            Tag::Paragraph => Kind::Paragraph,
            Tag::Heading { level, .. } => Kind::Heading(level as u8),
            Tag::BlockQuote(_) => Kind::BlockQuote,
            Tag::CodeBlock(CodeBlockKind::Fenced(info)) => {
                Kind::CodeBlock { language: markdown::code_language(&info) }
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
            // As pulldown-cmark's own HTML renderer does.
            Tag::Link { link_type: LinkType::Email, dest_url, .. } => {
                Kind::Link { href: format!("mailto:{dest_url}") }
            }
            Tag::Link { dest_url, .. } if markdown::allowed_url(&dest_url) => {
                Kind::Link { href: dest_url.trim().to_owned() }
            }
            Tag::Image { dest_url, .. } if markdown::allowed_url(&dest_url) => {
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
        if let Some(element) = self.open.pop() {
            self.push(Node::Element(element));
        }
    }

    fn text(&mut self, text: &str) {
        let children = match self.open.last_mut() {
            Some(element) => &mut element.children,
            None => &mut self.done,
        };
        match children.last_mut() {
            Some(Node::Text(previous)) => previous.push_str(text),
            _ => children.push(Node::Text(text.to_owned())),
        }
    }

    fn push(&mut self, node: Node) {
        match self.open.last_mut() {
            Some(element) => element.children.push(node),
            None => self.done.push(node),
        }
    }

    fn finish(mut self) -> Vec<Node> {
        while let Some(element) = self.open.pop() {
            self.push(Node::Element(element));
        }
        self.done
    }
}

fn empty(kind: Kind) -> Node {
    Node::Element(Element { kind, children: Vec::new() })
}

fn align(alignment: Alignment) -> Align {
    match alignment {
        Alignment::None => Align::None,
        Alignment::Left => Align::Left,
        Alignment::Center => Align::Center,
        Alignment::Right => Align::Right,
    }
}

/// What models write: every sample parses as pulldown-cmark parses it.
const SAMPLES: &[&str] = &[
    // Prose, emphasis and code.
    "plain text",
    "# Title\n\nSome *em* and **strong** and `code` and ~~gone~~.\n\n> quote\n\n- a\n- b\n\n3. c\n\n---\n",
    "Line one\nline two\n\nNext paragraph.",
    "*a* _b_ **c** __d__ ***e*** ___f___ *a **b** c* **a *b* c**",
    "snake_case_name and 2*3*4 and a * b * c and foo*bar*",
    "**bold**text and *emphasis*, then (*parenthesised*) and \"*quoted*\".",
    "***strong emph*** and ***in* strong** and ***in** emph*",
    "*open without close and close without open* too*",
    "**unbalanced *emphasis**",
    "_under_score_ and __dunder__score",
    "~single~ ~~double~~ ~~~triple~~~ ~~a ~b~ c~~",
    "`code` and ``code with ` inside`` and ` spaced ` and `unclosed",
    "``` inline triple ``` and `a\nb`",
    "Escapes: \\*not em\\* \\_no\\_ \\`no code\\` \\# \\[no link\\] \\\\ \\a",
    "Entities: &amp; &lt; &gt; &quot; &copy; &mdash; &#65; &#x41; &#0; &unknown; & alone &;",
    "Hard break with spaces  \nand with a backslash\\\nand a soft one\nend  ",
    "Ünïcödé *ëmphasis* and 日本語の*強調*テスト and emoji 🎉 **party** 🎉",
    "Punctuation**\"quoted\"**after and *«guillemets»*",
    // Links and images.
    "[ok](https://example.com/a?b=1) [mail](mailto:a@b.c) [js](javascript:alert(1))",
    "[title](https://example.com \"A title\") [single](https://example.com 'single') [paren](https://example.com (paren))",
    "[angle](<https://example.com/a b>) [nested parens](https://en.wikipedia.org/wiki/Rust_(language))",
    "[*emph* in link](https://example.com) and **[link in strong](https://example.com)**",
    "[not a link] and [ref][x] and [empty]() and [](https://example.com)",
    "[outer [inner](https://a.example) text](https://b.example)",
    "![a cat](https://example.com/cat.png) ![x](javascript:alert(1)) ![*alt*](https://e.example/i.png)",
    "<https://example.com/auto> and <mailto:a@b.c> and <javascript:alert(1)> and <not a link>",
    "Bare https://example.com is text, as is www.example.com.",
    "[link](https://example.com/\\(escaped\\)) and [space]( https://example.com )",
    "Footnote-ish [^1] and [1]: not a definition here",
    // Headings.
    "# One\n## Two ##\n### Three #not closing\n#### Four\n##### Five\n###### Six\n####### Seven",
    "#NoSpace and # \n\nSetext one\n===\n\nSetext two\n---\n",
    "Para\n# Heading interrupts\nafter",
    // Rules.
    "---\n***\n___\n- - -\n* * *",
    "Text\n\n---\n\nMore",
    // Code blocks.
    "```rust\nfn main() {\n    println!(\"hi\");\n}\n```",
    "~~~python\nprint('x')\n~~~\n\n````md\n```\nnested fence\n```\n````",
    "```\nunclosed code\n\nwith blank lines",
    "```js title=\"x\"\nconst a = 1;\n```\ntext right after",
    "    indented code\n    more\n\n    after blank\n\nparagraph",
    "Paragraph\n    not code, a continuation",
    "```\n\tTabs\tkept\n```",
    "  ```\n  indented fence\n    more\n  ```",
    // Lists.
    "- one\n- two\n- three",
    "* star\n* list\n\n+ plus\n+ list",
    "1. first\n2. second\n3. third",
    "1) paren\n2) style",
    "5. starts at five\n6. six",
    "- tight\n- list\n\n- now loose",
    "- item\n\n  second paragraph\n- next",
    "- outer\n  - inner\n    - innermost\n  - inner two\n- outer two",
    "1. step\n   ```bash\n   cargo run\n   ```\n2. step two",
    "- a\n\n  - b\n\n  c",
    "- a\n  - b\n\n  c",
    "- [ ] todo\n- [x] done\n- [X] also done\n- [ ]not a task\n- [ ]",
    "1. [ ] ordered task\n\n2. [x] loose task",
    "- lazy\ncontinuation\n- next",
    "Paragraph\n- list interrupts\n- it",
    "Paragraph\n2. does not interrupt",
    "Paragraph\n1. does interrupt",
    "-not a list\n\n-\n  empty first line",
    "- a\n* b\n+ c",
    "1. a\n1) b",
    "- item with `code`\n- item with **bold** and [link](https://e.example)",
    "10. ten\n11. eleven",
    "- a\n---\n- b",
    "1. one\n\n   indented paragraph\n\n       code in item\n2. two",
    // Quotes.
    "> quoted *text*\n> more\n\n> second",
    "> lazy\ncontinuation",
    "> # heading in quote\n> - list in quote\n> - two",
    "> outer\n>> inner\n> > inner too",
    "> ```\n> code in quote\n> ```",
    ">no space\n>\n>after blank",
    "- > quote in list\n  > more",
    // Tables.
    "| a | b |\n|:--|--:|\n| 1 | 2 |\n",
    "| Left | Center | Right | None |\n|:-----|:------:|------:|------|\n| l | c | r | n |",
    "a | b\n--|--\n1 | 2",
    "| one |\n| --- |\n| x |",
    "| a | b |\n|---|---|\n| only one |\n| 1 | 2 | 3 |",
    "| pipe \\| escaped | `code` |\n|---|---|\n| **bold** | [l](https://e.example) |",
    "Intro line\n| a | b |\n|---|---|\n| 1 | 2 |",
    "| a | b |\n|---|---|\n| 1 | 2 |\nnot a row? yes a row\n\nafter",
    "| a | b |\n|---|\n| mismatch |",
    "| a |\n|---|\n| 1 |\n> quote ends it",
    // Raw HTML stays text.
    "<img src=x onerror=alert(1)>\n\nHi <script>alert(2)</script> there\n",
    "<div>\n*not emphasis*\n</div>\n\nafter",
    "<!-- comment -->\n\n<details><summary>x</summary>\n\ntext\n\n</details>",
    "Text with <b>inline</b> html and <br> break",
    "<b>starts with tag</b> then text",
    "<span>\n",
    // A typical reply.
    "Sure! Here's how to do it:\n\n1. **Install** the tool:\n   ```sh\n   cargo install reins\n   ```\n2. Run it with `reins --help`.\n\n> **Note:** this is *important*.\n\n| Option | Meaning |\n|--------|---------|\n| `-v` | verbose |\n\nThat's it — let me know if you have questions!",
    "### Summary\n\n- **Speed**: fast\n- **Size**: small\n  - wasm: ~150 KB\n  - css: 2 KB\n\n---\n\n*Written by a model.*",
    "Windows line\r\nendings\r\n\r\n- a\r\n- b\r\n",
    "Trailing spaces   \n\n   leading spaces paragraph",
    // Harder cases.
    "* **Bold item**: text\n* *Em item*\n\n**Not a list** * star",
    "**a**b**c** and *a*b*c* and **a*b*c** and *a**b**c*",
    "*foo**bar**baz* and **foo*bar*baz** and *(*foo*)* and **foo \"*bar*\" foo**",
    "__foo, __bar__, baz__ and foo-_(bar)_ and _foo_bar_baz_ and **foo bar **",
    "a ** b ** c and * not em * and _ not em _",
    "*a `*` b* and `code *with* stars` and [a `]` b](https://e.example)",
    "**Note:**\n- item\n\n1. first\n    - nested four spaces\n2. second",
    "- item\n\n      indented code in item\n- next",
    "- a\n - b\n  - c\n   - d\n    - e",
    "1. a\n\n   > quote in item\n\n2. b",
    "> - a\n> - b\nlazy\n\n> 1. x\n>    more",
    "> quote\n---\n\n> quote\n===",
    "Text $x^2$ and $$\\int$$ and \\$ escaped",
    "Heading\n=======\nText\n\n   # indented heading\n    # code not heading",
    "###### h6 ######\n#\n# #\n### a ### b ###",
    "```\n```\n\n```   \ncode\n```\n\n~~~ ~\nx\n~~~",
    "````\n```\ninner\n```\n````",
    "``\nnot a fence\n``",
    "- ```\n  code in item\n  ```\n- after",
    "a\n```\ncode after para\n```",
    "| a |\n|:-:|\n| `|` |",
    "|a|b|\n|-|-|\n|1|2|",
    "| a | b |\n| - | - |\n\n| c |",
    "a|b\n-|-\n1|2\n\nno | table\n---",
    "Some text\n\n| Column A | Column B |\n| -------- | -------- |\n| *em* | **strong** |\n| [link](https://e.example) | `code` |\n\nMore text",
    "[link](https://e.example \"title with \\\" quote\")",
    "[link](https://e.example 'title' ) and [bad](https://e.example \"unclosed)",
    "[a](b c) [a](<b c>) [a](https://e.example/a_b_c) and _[em link](https://e.example)_",
    "![img](https://e.example/a.png \"title\")![adjacent](https://e.example/b.png)",
    "[![badge](https://e.example/b.svg)](https://e.example)",
    "[link]\n(https://e.example)",
    "<http://a.example/b?c=d&e=f> <https://a.example/*not em*> <foo@bar.example>",
    "&lt;script&gt;alert(1)&lt;/script&gt; and &amp;lt; and &#60;b&#62;",
    "&#xFFFFFF; &#99999999; &#x; &#; &nbsp;x",
    "Line\\\n\\\nEnd",
    "trailing backslash\\",
    "\\- not a list\n\\# not a heading\n\\> not a quote\n1\\. not a list",
    "    \n\n  \ntext",
    "\n\n\nstart after blank lines",
    "tab\tinside\tline\n\n-\tlist with tab\n\n>\tquote with tab",
    "<div>\nhtml block\n</div>\n<span>inline start</span> text",
    "<?php echo 1; ?>\n\n<!DOCTYPE html>\n\n<![CDATA[x]]>",
    "</div>\n\n<div class=\"x\">",
    "Text <!-- inline comment --> more",
    "1. one\n1. one again\n1. and again",
    "2) two\n3) three\n\n- a\n\n\n- b",
    "-    five spaces after marker\n\n1.     code-ish",
    "- a\n  b\n- c\n\n  d\n- e",
    "* a\n*\n* c",
    "- a\n    - b four spaces\n        - c eight",
    "Final answer: **42**.",
];

/// How each text that parses differently with the two parsers differs.
fn differences<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    texts
        .into_iter()
        .filter_map(|text| {
            let (ours, theirs) = (markdown::parse(text), reference(text));
            (ours != theirs).then(|| format!("{text:?}\n  ours:   {ours:?}\n  theirs: {theirs:?}"))
        })
        .collect()
}

#[test]
fn every_sample_parses_as_the_reference_parses_it() {
    let differences = differences(SAMPLES.iter().copied());
    assert!(
        differences.is_empty(),
        "{} of {} differ:\n{}",
        differences.len(),
        SAMPLES.len(),
        differences.join("\n")
    );
}

/// While a reply streams, the parser sees it cut off anywhere: unclosed
/// emphasis, half a link, a table without its delimiter row yet.
#[test]
fn every_prefix_of_every_sample_parses_as_the_reference_parses_it() {
    let prefixes: Vec<&str> = SAMPLES
        .iter()
        .flat_map(|sample| sample.char_indices().skip(1).map(|(end, _)| &sample[..end]))
        .collect();
    let differences = differences(prefixes.iter().copied());
    assert!(
        differences.is_empty(),
        "{} of {} prefixes differ:\n{}",
        differences.len(),
        prefixes.len(),
        differences.join("\n")
    );
}
