//! Inline Markdown within one block: code, emphasis, strikethrough, links,
//! autolinks, escapes, entities and line breaks.
//!
//! Follows CommonMark's two passes: the text is cut into pieces (plain
//! nodes, runs of `*`, `_` or `~`, and open brackets), brackets become links
//! as their `]` is met, and emphasis is matched last, inside out.

use super::{Kind, Node, allowed_url, element};

enum Piece {
    Node(Node),
    Run(Run),
    /// `[` or `![`, waiting for its `]`.
    Bracket {
        image: bool,
        /// False once a link has formed after it: links do not nest.
        active: bool,
    },
}

/// A run of `*`, `_` or `~` that may open or close emphasis.
struct Run {
    mark: char,
    /// What is left of the run to match.
    count: usize,
    /// The run's length as written.
    length: usize,
    can_open: bool,
    can_close: bool,
}

/// Parses one block's text into inline nodes.
pub(super) fn parse(text: &str) -> Vec<Node> {
    let mut pieces = Vec::new();
    let bytes = text.as_bytes();
    let mut plain_from = 0;
    let mut at = 0;
    while at < bytes.len() {
        if !matches!(
            bytes[at],
            b'\\' | b'`' | b'*' | b'_' | b'~' | b'!' | b'[' | b']' | b'<' | b'&' | b'\n'
        ) {
            at += 1;
            continue;
        }
        push_text(&mut pieces, &text[plain_from..at]);
        at = piece(&mut pieces, text, at);
        plain_from = at;
    }
    push_text(&mut pieces, &text[plain_from..]);
    resolve_emphasis(&mut pieces);
    into_nodes(pieces)
}

/// Adds the piece that starts with the special character at `text[at]`;
/// returns where the text after it starts.
fn piece(pieces: &mut Vec<Piece>, text: &str, at: usize) -> usize {
    let rest = &text[at..];
    let mark = rest.as_bytes()[0];
    match mark {
        b'\\' => match rest[1..].chars().next() {
            Some('\n') => {
                pieces.push(Piece::Node(element(Kind::LineBreak, Vec::new())));
                at + 2
            }
            Some(c) if c.is_ascii_punctuation() => {
                push_text(pieces, &rest[1..2]);
                at + 2
            }
            _ => {
                push_text(pieces, "\\");
                at + 1
            }
        },
        b'`' => {
            let length = run_length(rest, b'`');
            match code_span(&rest[length..], length) {
                Some((code, used)) => {
                    pieces.push(Piece::Node(element(Kind::InlineCode, vec![Node::Text(code)])));
                    at + length + used
                }
                None => {
                    push_text(pieces, &rest[..length]);
                    at + length
                }
            }
        }
        b'*' | b'_' | b'~' => {
            let length = run_length(rest, mark);
            let before = text[..at].chars().next_back();
            let after = rest[length..].chars().next();
            // Flanking, as CommonMark defines it: whether the run leans
            // against the text after it (it can open) or before it (close).
            let left = !is_space(after)
                && (!is_punctuation(after) || is_space(before) || is_punctuation(before));
            let right = !is_space(before)
                && (!is_punctuation(before) || is_space(after) || is_punctuation(after));
            let (can_open, can_close) = match mark {
                // `_` inside a word is a letter, as in snake_case.
                b'_' => (
                    left && (!right || is_punctuation(before)),
                    right && (!left || is_punctuation(after)),
                ),
                b'~' if length > 2 => (false, false),
                _ => (left, right),
            };
            let mark = mark as char;
            pieces.push(Piece::Run(Run { mark, count: length, length, can_open, can_close }));
            at + length
        }
        b'!' if rest[1..].starts_with('[') => {
            pieces.push(Piece::Bracket { image: true, active: true });
            at + 2
        }
        b'[' => {
            pieces.push(Piece::Bracket { image: false, active: true });
            at + 1
        }
        b']' => at + 1 + close_bracket(pieces, &rest[1..]),
        b'<' => match autolink(&rest[1..]) {
            Some((href, shown)) => {
                let kind = if allowed_url(&href) { Kind::Link { href } } else { Kind::Plain };
                pieces.push(Piece::Node(element(kind, vec![Node::Text(shown.to_owned())])));
                at + shown.len() + 2
            }
            None => {
                push_text(pieces, "<");
                at + 1
            }
        },
        b'&' => match entity(&rest[1..]) {
            Some((decoded, used)) => {
                push_text(pieces, decoded.encode_utf8(&mut [0; 4]));
                at + 1 + used
            }
            None => {
                push_text(pieces, "&");
                at + 1
            }
        },
        b'\n' => {
            // Two spaces before the end of a line make a hard break.
            let mut spaces = 0;
            if let Some(Piece::Node(Node::Text(previous))) = pieces.last_mut() {
                spaces = previous.len() - previous.trim_end_matches(' ').len();
                previous.truncate(previous.len() - spaces);
                if previous.is_empty() {
                    pieces.pop();
                }
            }
            if spaces >= 2 {
                pieces.push(Piece::Node(element(Kind::LineBreak, Vec::new())));
            } else {
                push_text(pieces, "\n");
            }
            at + 1
        }
        _ => {
            push_text(pieces, &rest[..1]);
            at + 1
        }
    }
}

fn run_length(text: &str, mark: u8) -> usize {
    text.bytes().take_while(|b| *b == mark).count()
}

/// Start and end of text count as space.
fn is_space(c: Option<char>) -> bool {
    c.is_none_or(char::is_whitespace)
}

/// CommonMark counts Unicode punctuation and symbols. Beyond ASCII these
/// ranges hold the ones replies use (quotes, dashes, arrows, CJK and
/// fullwidth punctuation, emoji); the full Unicode tables would cost the
/// embed 2 KB gzipped.
const PUNCTUATION: &[(char, char)] = &[
    ('\u{a1}', '\u{bf}'),
    ('\u{d7}', '\u{d7}'),
    ('\u{f7}', '\u{f7}'),
    ('\u{2010}', '\u{2027}'),
    ('\u{2030}', '\u{205e}'),
    ('\u{20a0}', '\u{20c0}'),
    ('\u{2100}', '\u{2bff}'),
    ('\u{3001}', '\u{3003}'),
    ('\u{3008}', '\u{301f}'),
    ('\u{fe10}', '\u{fe6f}'),
    ('\u{ff01}', '\u{ff0f}'),
    ('\u{ff1a}', '\u{ff20}'),
    ('\u{ff3b}', '\u{ff40}'),
    ('\u{ff5b}', '\u{ff65}'),
    ('\u{1f000}', '\u{1faff}'),
];

fn is_punctuation(c: Option<char>) -> bool {
    c.is_some_and(|c| {
        c.is_ascii_punctuation() || PUNCTUATION.iter().any(|(from, to)| (*from..=*to).contains(&c))
    })
}

fn push_text(pieces: &mut Vec<Piece>, text: &str) {
    if text.is_empty() {
        return;
    }
    match pieces.last_mut() {
        Some(Piece::Node(Node::Text(previous))) => previous.push_str(text),
        _ => pieces.push(Piece::Node(Node::Text(text.to_owned()))),
    }
}

/// Puts `text` before the first of `nodes`, joining it to a text there.
pub(super) fn prepend_text(nodes: &mut Vec<Node>, text: &str) {
    match nodes.first_mut() {
        Some(Node::Text(first)) => first.insert_str(0, text),
        _ => nodes.insert(0, Node::Text(text.to_owned())),
    }
}

/// A code span's content and the length of text it used, if a run of
/// exactly `length` backticks in `rest` closes it.
fn code_span(rest: &str, length: usize) -> Option<(String, usize)> {
    let mut at = 0;
    while let Some(found) = rest[at..].find('`') {
        let start = at + found;
        let run = run_length(&rest[start..], b'`');
        if run == length {
            let code = rest[..start].replace('\n', " ");
            // One space inside each end goes, so that code can start or end
            // with a backtick.
            let code = match code.strip_prefix(' ').and_then(|code| code.strip_suffix(' ')) {
                Some(inner) if !code.trim().is_empty() => inner.to_owned(),
                _ => code,
            };
            return Some((code, start + run));
        }
        at = start + run;
    }
    None
}

/// Handles a `]` with `rest` after it: a link if a bracket is open and an
/// inline destination follows. Returns how much of `rest` it used.
fn close_bracket(pieces: &mut Vec<Piece>, rest: &str) -> usize {
    let Some(open) = pieces.iter().rposition(|piece| matches!(piece, Piece::Bracket { .. })) else {
        push_text(pieces, "]");
        return 0;
    };
    let Piece::Bracket { image, active } = pieces[open] else { unreachable!() };
    let Some((destination, used)) = active.then(|| link_destination(rest)).flatten() else {
        pieces[open] = Piece::Node(Node::Text(if image { "![" } else { "[" }.to_owned()));
        push_text(pieces, "]");
        return 0;
    };
    let mut inner = pieces.split_off(open + 1);
    pieces.pop();
    resolve_emphasis(&mut inner);
    let href = destination.trim().to_owned();
    let kind = match (allowed_url(&href), image) {
        (false, _) => Kind::Plain,
        (true, false) => Kind::Link { href },
        (true, true) => Kind::ImageLink { href },
    };
    pieces.push(Piece::Node(element(kind, into_nodes(inner))));
    if !image {
        for piece in pieces.iter_mut() {
            if let Piece::Bracket { image: false, active } = piece {
                *active = false;
            }
        }
    }
    used
}

/// `(destination "optional title")` at the start of `rest`: the destination
/// with its escapes resolved, and the length used.
fn link_destination(rest: &str) -> Option<(String, usize)> {
    let mut chars = rest.char_indices().peekable();
    chars.next().filter(|(_, c)| *c == '(')?;
    let skip_space = |chars: &mut std::iter::Peekable<std::str::CharIndices>| {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    skip_space(&mut chars);
    let mut destination = String::new();
    if chars.next_if(|(_, c)| *c == '<').is_some() {
        loop {
            match chars.next()?.1 {
                '>' => break,
                '\n' | '<' => return None,
                '\\' if chars.peek().is_some_and(|(_, c)| c.is_ascii_punctuation()) => {
                    destination.push(chars.next()?.1)
                }
                c => destination.push(c),
            }
        }
    } else {
        let mut depth = 0;
        while let Some(&(_, c)) = chars.peek() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => break,
                ')' => depth -= 1,
                c if c.is_whitespace() || c.is_control() => break,
                '\\' => {
                    chars.next();
                    if let Some((_, next)) = chars.next_if(|(_, c)| c.is_ascii_punctuation()) {
                        destination.push(next);
                    } else {
                        destination.push('\\');
                    }
                    continue;
                }
                _ => {}
            }
            destination.push(c);
            chars.next();
        }
    }
    skip_space(&mut chars);
    if let Some((_, quote)) = chars.next_if(|(_, c)| matches!(c, '"' | '\'' | '(')) {
        let closing = if quote == '(' { ')' } else { quote };
        loop {
            match chars.next()?.1 {
                '\\' => {
                    chars.next()?;
                }
                c if c == closing => break,
                _ => {}
            }
        }
        skip_space(&mut chars);
    }
    let (end, _) = chars.next().filter(|(_, c)| *c == ')')?;
    Some((destination, end + 1))
}

/// `<scheme:...>` or `<address@example.com>`: the link's target and its text.
fn autolink(rest: &str) -> Option<(String, &str)> {
    let inside = &rest[..rest.find('>')?];
    if inside.contains(|c: char| c.is_whitespace() || c.is_control() || c == '<') {
        return None;
    }
    if let Some((scheme, _)) = inside.split_once(':')
        && (2..=32).contains(&scheme.len())
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
    {
        return Some((inside.to_owned(), inside));
    }
    let (local, domain) = inside.split_once('@')?;
    let address = !local.is_empty()
        && local.bytes().all(|b| b.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&b))
        && !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    address.then(|| ("mailto:".to_owned() + inside, inside))
}

/// The named character references a reply is likely to use; others stay as
/// they were typed.
const ENTITIES: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", '\u{a0}'),
    ("copy", '©'),
    ("reg", '®'),
    ("trade", '™'),
    ("hellip", '…'),
    ("mdash", '—'),
    ("ndash", '–'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("laquo", '«'),
    ("raquo", '»'),
    ("middot", '·'),
    ("bull", '•'),
    ("deg", '°'),
    ("plusmn", '±'),
    ("times", '×'),
    ("divide", '÷'),
    ("le", '≤'),
    ("ge", '≥'),
    ("ne", '≠'),
    ("larr", '←'),
    ("rarr", '→'),
    ("harr", '↔'),
    ("uarr", '↑'),
    ("darr", '↓'),
    ("euro", '€'),
    ("pound", '£'),
    ("yen", '¥'),
    ("cent", '¢'),
    ("sect", '§'),
    ("para", '¶'),
];

/// A character reference (`&name;`, `&#123;`, `&#x7b;`) at the start of
/// `rest`, which follows the `&`: the character and the length used.
fn entity(rest: &str) -> Option<(char, usize)> {
    let end = rest.bytes().take(33).position(|b| b == b';')?;
    let name = &rest[..end];
    let decoded = match name.strip_prefix('#') {
        Some(number) => {
            let (digits, radix, most) = match number.strip_prefix(['x', 'X']) {
                Some(hex) => (hex, 16, 6),
                None => (number, 10, 7),
            };
            if digits.is_empty()
                || digits.len() > most
                || !digits.chars().all(|c| c.is_digit(radix))
            {
                return None;
            }
            let value = u32::from_str_radix(digits, radix).ok()?;
            char::from_u32(value).filter(|c| *c != '\0').unwrap_or('\u{fffd}')
        }
        None => ENTITIES.iter().find(|(known, _)| *known == name)?.1,
    };
    Some((decoded, end + 1))
}

/// Matches emphasis and strikethrough runs, closers from the left, each with
/// the nearest opener that fits, as CommonMark's "process emphasis" does.
fn resolve_emphasis(pieces: &mut Vec<Piece>) {
    let mut closer = 0;
    while closer < pieces.len() {
        let Piece::Run(run) = &pieces[closer] else {
            closer += 1;
            continue;
        };
        if !run.can_close {
            closer += 1;
            continue;
        }
        let (mark, count, length, closer_can_open) =
            (run.mark, run.count, run.length, run.can_open);
        let opener = pieces[..closer].iter().rposition(|piece| match piece {
            Piece::Run(opener) if opener.mark == mark && opener.can_open && opener.count > 0 => {
                if mark == '~' {
                    opener.count == count
                } else {
                    // A run that can both open and close matches only if the
                    // two lengths do not add up to a multiple of three
                    // (unless both are multiples of three).
                    !((opener.can_close || closer_can_open)
                        && (opener.length + length) % 3 == 0
                        && !(opener.length % 3 == 0 && length % 3 == 0))
                }
            }
            _ => false,
        });
        let Some(opener) = opener else {
            // With no opener before it, a closer that cannot open is text.
            if !closer_can_open && let Piece::Run(run) = &mut pieces[closer] {
                run.can_close = false;
            }
            closer += 1;
            continue;
        };
        let opener_count = match &pieces[opener] {
            Piece::Run(run) => run.count,
            _ => unreachable!(),
        };
        let used = if mark == '~' {
            count
        } else if count >= 2 && opener_count >= 2 {
            2
        } else {
            1
        };
        let kind = match (mark, used) {
            ('~', _) => Kind::Strikethrough,
            (_, 2) => Kind::Strong,
            _ => Kind::Emphasis,
        };
        let inner: Vec<Piece> = pieces.drain(opener + 1..closer).collect();
        pieces.insert(opener + 1, Piece::Node(element(kind, into_nodes(inner))));
        // Next, the closer again if some of it is left, else what follows it.
        closer = opener + 2;
        if use_up(&mut pieces[closer], used) {
            pieces.remove(closer);
        }
        if use_up(&mut pieces[opener], used) {
            pieces.remove(opener);
            closer -= 1;
        }
    }
}

/// Takes `used` marks off a run; tells whether none are left.
fn use_up(piece: &mut Piece, used: usize) -> bool {
    match piece {
        Piece::Run(run) => {
            run.count -= used;
            run.count == 0
        }
        _ => false,
    }
}

/// Turns what is left of the pieces into nodes: unmatched runs and brackets
/// are text, and neighbouring texts are joined.
fn into_nodes(pieces: Vec<Piece>) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    for piece in pieces {
        let node = match piece {
            Piece::Node(node) => node,
            Piece::Run(run) if run.count > 0 => Node::Text(run.mark.to_string().repeat(run.count)),
            Piece::Run(_) => continue,
            Piece::Bracket { image, .. } => Node::Text(if image { "![" } else { "[" }.to_owned()),
        };
        match (nodes.last_mut(), node) {
            (Some(Node::Text(previous)), Node::Text(text)) => previous.push_str(&text),
            (_, node) => nodes.push(node),
        }
    }
    nodes
}
