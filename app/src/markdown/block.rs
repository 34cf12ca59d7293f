//! Block structure: paragraphs, headings, code, quotes, lists, tables.
//!
//! Containers (quotes and list items) are parsed by gathering their lines,
//! stripped of the container's marker or indentation, and parsing those lines
//! again as a document of their own.

use super::{Align, Kind, Node, code_language, element, inline};

/// Parses a whole text.
pub(super) fn document(markdown: &str) -> Vec<Node> {
    let mut lines: Vec<String> = markdown.lines().map(str::to_owned).collect();
    let mut open_end = !markdown.ends_with('\n');
    // A few spaces typed after the last line break are not a line yet (four
    // or more may be the start of indented code).
    if open_end && lines.last().is_some_and(|line| is_blank(line) && indentation(line).0 < 4) {
        lines.pop();
        open_end = false;
    }
    blocks(&lines, open_end, 0).nodes
}

/// How deep quotes and lists may nest. Deeper markers are text: containers
/// are parsed recursively, and a reply of ten thousand `>` must not exhaust
/// the stack.
const MAX_DEPTH: usize = 32;

/// Blocks parsed from lines.
struct Blocks {
    nodes: Vec<Node>,
    /// Whether a blank line stands between two of the blocks, which makes
    /// the list item holding them loose.
    blank_between: bool,
    /// Whether the last line is paragraph text, which a lazy line (one
    /// without its container's `>` or indentation) may continue.
    open_paragraph: bool,
}

/// Parses lines into blocks, `depth` containers deep. `open_end` tells that
/// the last line had no line break after it, which code keeps as written.
fn blocks(lines: &[String], open_end: bool, depth: usize) -> Blocks {
    let mut nodes = Vec::new();
    let mut blank_between = false;
    let mut after_blank = false;
    let mut at = 0;
    while at < lines.len() {
        if is_blank(&lines[at]) {
            after_blank = true;
            at += 1;
            continue;
        }
        blank_between |= after_blank && !nodes.is_empty();
        after_blank = false;
        let (node, next) = block(lines, at, open_end, depth);
        nodes.push(node);
        at = next;
    }
    let open_paragraph = !after_blank && ends_in_paragraph(nodes.last());
    Blocks { nodes, blank_between, open_paragraph }
}

fn ends_in_paragraph(node: Option<&Node>) -> bool {
    match node {
        // Text at the end of a tight list's item is its paragraph's.
        Some(Node::Text(_)) => true,
        Some(Node::Element(element)) => match element.kind {
            Kind::BlockQuote | Kind::List { .. } | Kind::Item => {
                ends_in_paragraph(element.children.last())
            }
            Kind::Heading(_)
            | Kind::CodeBlock { .. }
            | Kind::RawBlock
            | Kind::Table
            | Kind::Rule => false,
            // A paragraph, or inline markup at the end of a tight item.
            _ => true,
        },
        None => false,
    }
}

/// Parses the block that starts at `lines[at]`; returns it and the index of
/// the line after it.
fn block(lines: &[String], at: usize, open_end: bool, depth: usize) -> (Node, usize) {
    let line = &lines[at];
    let (indent, rest) = indentation(line);
    if indent >= 4 {
        return indented_code(lines, at, open_end);
    }
    if let Some(fence) = fence_open(rest) {
        return fenced_code(lines, at, open_end, indent, fence);
    }
    if let Some((level, text)) = atx_heading(rest) {
        return (element(Kind::Heading(level), inline::parse(text)), at + 1);
    }
    if is_rule(rest) {
        return (element(Kind::Rule, Vec::new()), at + 1);
    }
    if depth < MAX_DEPTH {
        if rest.starts_with('>') {
            return quote(lines, at, open_end, depth + 1);
        }
        if let Some(item) = list_item(line) {
            return list(lines, at, open_end, depth + 1, item);
        }
    }
    if html_start(rest, false) {
        return raw_html(lines, at, open_end);
    }
    if let Some(alignments) = table_start(lines, at) {
        return table(lines, at, alignments);
    }
    paragraph(lines, at)
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// The columns of leading whitespace (a tab reaching the next multiple of
/// four) and the rest of the line.
fn indentation(line: &str) -> (usize, &str) {
    let mut columns = 0;
    for (at, c) in line.char_indices() {
        match c {
            ' ' => columns += 1,
            '\t' => columns += 4 - columns % 4,
            _ => return (columns, &line[at..]),
        }
    }
    (columns, "")
}

/// `line` without its first `columns` columns of whitespace; a tab that
/// reaches past them leaves the rest of its width as spaces.
fn strip_columns(line: &str, columns: usize) -> String {
    let mut column = 0;
    for (at, c) in line.char_indices() {
        if column >= columns {
            return line[at..].to_owned();
        }
        match c {
            ' ' => column += 1,
            '\t' => {
                let next = column + 4 - column % 4;
                if next > columns {
                    return " ".repeat(next - columns) + &line[at + 1..];
                }
                column = next;
            }
            _ => return line[at..].to_owned(),
        }
    }
    String::new()
}

/// Whether `line` would end a paragraph rather than continue it.
fn interrupts_paragraph(line: &str) -> bool {
    let (indent, rest) = indentation(line);
    indent < 4
        && (atx_heading(rest).is_some()
            || fence_open(rest).is_some()
            || is_rule(rest)
            || rest.starts_with('>')
            || html_start(rest, true)
            // A list interrupts a paragraph only if it cannot be a number
            // that happens to start a line of prose.
            || list_item(line)
                .is_some_and(|item| !item.first.is_empty() && item.start.is_none_or(|n| n == 1)))
}

/// `line` as a lazy continuation of the paragraph that ends the container
/// lines `before` it (prose that skips the container's `>` or indentation),
/// if it is one.
fn lazy_continuation(before: &[String], line: &str, depth: usize) -> Option<String> {
    if is_blank(line)
        || interrupts_paragraph(line)
        || list_item(line).is_some()
        || !blocks(before, false, depth).open_paragraph
    {
        return None;
    }
    // Indented four columns, the line can only continue the paragraph: never
    // start a list or a table, or underline a heading.
    Some(format!("    {}", line.trim_start()))
}

fn paragraph(lines: &[String], start: usize) -> (Node, usize) {
    let mut text = lines[start].trim_start().to_owned();
    let mut at = start + 1;
    while let Some(line) = lines.get(at) {
        let (indent, rest) = indentation(line);
        if is_blank(line) {
            break;
        }
        if indent < 4 {
            if let Some(level) = setext_underline(rest) {
                return (element(Kind::Heading(level), inline::parse(text.trim_end())), at + 1);
            }
            if interrupts_paragraph(line) || table_start(lines, at).is_some() {
                break;
            }
        }
        text.push('\n');
        text.push_str(rest);
        at += 1;
    }
    (element(Kind::Paragraph, inline::parse(text.trim_end())), at)
}

/// `=` under a paragraph makes it a first-level heading, `-` a second.
fn setext_underline(rest: &str) -> Option<u8> {
    let rest = rest.trim_end();
    let level = match rest.chars().next()? {
        '=' => 1,
        '-' => 2,
        _ => return None,
    };
    rest.chars().all(|c| c == rest.as_bytes()[0] as char).then_some(level)
}

fn atx_heading(rest: &str) -> Option<(u8, &str)> {
    let level = rest.bytes().take_while(|b| *b == b'#').count();
    let text = &rest[level..];
    if !(1..=6).contains(&level) || !(text.is_empty() || text.starts_with([' ', '\t'])) {
        return None;
    }
    let text = text.trim();
    // A closing run of `#` goes if a space stands before it.
    let without_closing = text.trim_end_matches('#');
    let text = if without_closing.is_empty() || without_closing.ends_with([' ', '\t']) {
        without_closing.trim_end()
    } else {
        text
    };
    Some((level as u8, text))
}

/// Three or more `-`, `*` or `_`, alone on the line but for spaces.
fn is_rule(rest: &str) -> bool {
    let mut marks = rest.chars().filter(|c| !matches!(c, ' ' | '\t'));
    let Some(first @ ('-' | '*' | '_')) = marks.next() else { return false };
    let mut count = 1;
    for c in marks {
        if c != first {
            return false;
        }
        count += 1;
    }
    count >= 3
}

/// A fence that opens a code block: its character, its length and the info
/// string after it.
fn fence_open(rest: &str) -> Option<(char, usize, &str)> {
    let c = rest.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let count = rest.chars().take_while(|x| *x == c).count();
    let info = rest[count..].trim();
    // A backtick in a backtick fence's info string means it is inline code.
    (count >= 3 && !(c == '`' && info.contains('`'))).then_some((c, count, info))
}

fn fenced_code(
    lines: &[String],
    start: usize,
    open_end: bool,
    indent: usize,
    (fence, length, info): (char, usize, &str),
) -> (Node, usize) {
    let mut code = String::new();
    let mut at = start + 1;
    while let Some(line) = lines.get(at) {
        at += 1;
        let (line_indent, rest) = indentation(line);
        let closing = rest.trim_end();
        if line_indent < 4 && closing.len() >= length && closing.chars().all(|c| c == fence) {
            break;
        }
        code += &strip_columns(line, indent);
        code += line_break(lines, at - 1, open_end);
    }
    let kind = Kind::CodeBlock { language: code_language(info) };
    (element(kind, text_child(code)), at)
}

fn indented_code(lines: &[String], start: usize, open_end: bool) -> (Node, usize) {
    let mut end = start;
    for (at, line) in lines.iter().enumerate().skip(start) {
        // Blank lines belong to the code only if more code follows.
        if is_blank(line) {
            continue;
        }
        if indentation(line).0 < 4 {
            break;
        }
        end = at + 1;
    }
    let code: String = (start..end)
        .map(|at| strip_columns(&lines[at], 4) + line_break(lines, at, open_end))
        .collect();
    (element(Kind::CodeBlock { language: None }, text_child(code)), end)
}

/// The line break after `lines[at]` as written.
fn line_break(lines: &[String], at: usize, open_end: bool) -> &'static str {
    if open_end && at + 1 == lines.len() { "" } else { "\n" }
}

fn text_child(text: String) -> Vec<Node> {
    if text.is_empty() { Vec::new() } else { vec![Node::Text(text)] }
}

fn quote(lines: &[String], start: usize, open_end: bool, depth: usize) -> (Node, usize) {
    let mut inner: Vec<String> = Vec::new();
    let mut at = start;
    while let Some(line) = lines.get(at) {
        let (indent, rest) = indentation(line);
        match rest.strip_prefix('>') {
            Some(content) if indent < 4 => inner.push(strip_columns(content, 1)),
            _ => match lazy_continuation(&inner, line, depth) {
                Some(text) => inner.push(text),
                None => break,
            },
        }
        at += 1;
    }
    let open_end = open_end && at == lines.len();
    (element(Kind::BlockQuote, blocks(&inner, open_end, depth).nodes), at)
}

/// The first line of a list item.
struct ListItem {
    /// The number of an ordered item; `None` for a bullet.
    start: Option<u64>,
    /// The bullet character, or the `.` or `)` after the number.
    marker: char,
    /// How far the item's content is indented: later lines indented this
    /// far belong to the item.
    content_indent: usize,
    /// The text after the marker.
    first: String,
}

fn list_item(line: &str) -> Option<ListItem> {
    let (indent, rest) = indentation(line);
    if indent >= 4 || is_rule(rest) {
        return None;
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (start, marker) = match rest[digits..].chars().next()? {
        '-' | '*' | '+' if digits == 0 => (None, rest.as_bytes()[0] as char),
        marker @ ('.' | ')') if (1..=9).contains(&digits) => (rest[..digits].parse().ok(), marker),
        _ => return None,
    };
    let after = &rest[digits + 1..];
    let (spaces, first) = indentation(after);
    if spaces == 0 && !first.is_empty() {
        return None;
    }
    let marker_end = indent + digits + 1;
    Some(if first.is_empty() || spaces > 4 {
        // Past four spaces, the content is indented code one space in.
        ListItem { start, marker, content_indent: marker_end + 1, first: strip_columns(after, 1) }
    } else {
        ListItem { start, marker, content_indent: marker_end + spaces, first: first.to_owned() }
    })
}

fn list(
    lines: &[String],
    start: usize,
    open_end: bool,
    depth: usize,
    mut item: ListItem,
) -> (Node, usize) {
    let list_start = item.start;
    let mut items: Vec<(Vec<Node>, Option<bool>)> = Vec::new();
    let mut loose = false;
    let mut at = start;
    loop {
        let mut item_lines = vec![item.first];
        // One past the item's last line that is not blank.
        let mut end = at + 1;
        for line in &lines[at + 1..] {
            if is_blank(line) {
                item_lines.push(String::new());
            } else if indentation(line).0 >= item.content_indent {
                item_lines.push(strip_columns(line, item.content_indent));
            } else if let Some(text) = lazy_continuation(&item_lines, line, depth) {
                item_lines.push(text);
            } else {
                break;
            }
            if !is_blank(line) {
                end = at + item_lines.len();
            }
        }
        item_lines.truncate(end - at);
        let task = task_marker(&mut item_lines[0]);
        let item_blocks = blocks(&item_lines, open_end && end == lines.len(), depth);
        loose |= item_blocks.blank_between;
        items.push((item_blocks.nodes, task));

        let next = (end..lines.len()).find(|at| !is_blank(&lines[*at]));
        match next.and_then(|next| Some((next, list_item(&lines[next])?))) {
            Some((next, next_item))
                if next_item.marker == item.marker
                    && next_item.start.is_some() == item.start.is_some() =>
            {
                loose |= next > end;
                item = next_item;
                at = next;
            }
            _ => {
                at = end;
                break;
            }
        }
    }
    let items = items
        .into_iter()
        .map(|(mut children, task)| {
            if !loose {
                // A tight list's items hold their text without paragraphs.
                children = children
                    .into_iter()
                    .flat_map(|node| match node {
                        Node::Element(element) if element.kind == Kind::Paragraph => {
                            element.children
                        }
                        node => vec![node],
                    })
                    .collect();
            }
            if let Some(done) = task {
                let box_text = if done { "☑ " } else { "☐ " };
                match children.first_mut() {
                    Some(Node::Element(paragraph)) if paragraph.kind == Kind::Paragraph => {
                        inline::prepend_text(&mut paragraph.children, box_text)
                    }
                    _ => inline::prepend_text(&mut children, box_text),
                }
            }
            element(Kind::Item, children)
        })
        .collect();
    (element(Kind::List { start: list_start }, items), at)
}

/// Takes a task list's `[ ]` or `[x]` off the start of an item's first line,
/// telling whether it was ticked.
fn task_marker(first: &mut String) -> Option<bool> {
    let done = match first.get(..3)? {
        "[ ]" => false,
        "[x]" | "[X]" => true,
        _ => return None,
    };
    *first = first[3..].strip_prefix([' ', '\t'])?.trim_start().to_owned();
    Some(done)
}

/// Tags that start a block of raw HTML even in the middle of a paragraph.
const BLOCK_TAGS: &str = "address article aside base basefont blockquote body caption center col \
    colgroup dd details dialog dir div dl dt fieldset figcaption figure footer form frame frameset \
    h1 h2 h3 h4 h5 h6 head header hr html iframe legend li link main menu menuitem nav noframes ol \
    optgroup option p param pre script search section style summary table tbody td textarea tfoot \
    th thead title tr track ul";

/// Whether a line starts a block of raw HTML: a comment, a declaration, a
/// block-level tag, or (where it does not interrupt a paragraph) any tag
/// alone on its line.
fn html_start(rest: &str, interrupting: bool) -> bool {
    let Some(after) = rest.strip_prefix('<') else { return false };
    // Comments, processing instructions, declarations, CDATA.
    if after.starts_with(['?', '!']) {
        return after.starts_with("!--")
            || after.starts_with("![CDATA[")
            || !after.starts_with('!')
            || after[1..].starts_with(|c: char| c.is_ascii_alphabetic());
    }
    let tag = after.strip_prefix('/').unwrap_or(after);
    let name_length = tag.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'-').count();
    if !tag.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return false;
    }
    let after_name = &tag[name_length..];
    if !(after_name.is_empty() || after_name.starts_with([' ', '\t', '>', '/'])) {
        return false;
    }
    let name = tag[..name_length].to_ascii_lowercase();
    BLOCK_TAGS.split_ascii_whitespace().any(|block_tag| block_tag == name)
        || (!interrupting && rest.trim_end().ends_with('>') && !after.contains('<'))
}

fn raw_html(lines: &[String], start: usize, open_end: bool) -> (Node, usize) {
    let end = (start..lines.len()).find(|at| is_blank(&lines[*at])).unwrap_or(lines.len());
    let html: String =
        (start..end).map(|at| lines[at].clone() + line_break(lines, at, open_end)).collect();
    (element(Kind::RawBlock, text_child(html)), end)
}

/// The column alignments if a table starts at `lines[at]`: a row of cells
/// over a delimiter row with as many cells.
fn table_start(lines: &[String], at: usize) -> Option<Vec<Align>> {
    let head = &lines[at];
    let delimiter = lines.get(at + 1)?;
    if !head.contains('|') || !delimiter.contains('|') || indentation(delimiter).0 >= 4 {
        return None;
    }
    let alignments = cells(delimiter)
        .iter()
        .map(|cell| {
            let dashes = cell.trim_start_matches(':').trim_end_matches(':');
            if dashes.is_empty() || !dashes.bytes().all(|b| b == b'-') {
                return None;
            }
            Some(match (cell.starts_with(':'), cell.ends_with(':')) {
                (true, true) => Align::Center,
                (true, false) => Align::Left,
                (false, true) => Align::Right,
                (false, false) => Align::None,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    (cells(head).len() == alignments.len()).then_some(alignments)
}

fn table(lines: &[String], start: usize, alignments: Vec<Align>) -> (Node, usize) {
    let row = |line: &str, header: bool| {
        let mut cells = cells(line).into_iter();
        alignments
            .iter()
            .map(|align| {
                let text = cells.next().unwrap_or_default();
                element(Kind::TableCell { header, align: *align }, inline::parse(&text))
            })
            .collect()
    };
    let mut children = vec![element(Kind::TableHead, row(&lines[start], true))];
    let mut at = start + 2;
    // A lone `|` is not a row yet: while a reply streams it is the start of
    // one, shown as text until more of it comes.
    while let Some(line) = lines
        .get(at)
        .filter(|line| !is_blank(line) && !interrupts_paragraph(line) && line.trim() != "|")
    {
        children.push(element(Kind::TableRow, row(line, false)));
        at += 1;
    }
    (element(Kind::Table, children), at)
}

/// A table row's cells, split at each `|` that is not escaped, with outer
/// pipes dropped and `\|` turned into `|`.
fn cells(line: &str) -> Vec<String> {
    let line = line.trim();
    let line = line.strip_prefix('|').unwrap_or(line);
    let mut cells = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('|') => cells.last_mut().unwrap().push('|'),
                Some(next) => cells.last_mut().unwrap().extend(['\\', next]),
                None => cells.last_mut().unwrap().push('\\'),
            },
            '|' => cells.push(String::new()),
            c => cells.last_mut().unwrap().push(c),
        }
    }
    // A closing pipe leaves an empty last cell behind it.
    if line.ends_with('|') && !line.ends_with("\\|") && cells.len() > 1 {
        cells.pop();
    }
    cells.iter().map(|cell| cell.trim().to_owned()).collect()
}
