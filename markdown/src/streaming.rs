//! A reply that is still growing, parsed piece by piece.
//!
//! Each update scans only the lines that arrived since the last one. A piece
//! of text that later text can no longer change (it ends at a blank line
//! before a new block) is parsed once and kept; only the tail after it is
//! parsed again. A tail that grows past [`TAIL_LIMIT`] with no blank line (one
//! long list, a long code block) is split at the next line that starts at the
//! margin: the piece after it may render as a new block (a long list goes on
//! as a second list, a long code block as a second block), but no update
//! parses more than about [`TAIL_LIMIT`] bytes. Past [`MARKDOWN_LIMIT`], or
//! when a block grows to twice the tail limit with nowhere to split (a
//! single huge line), the rest of the reply is shown as plain text, in
//! pieces of at most [`PLAIN_PIECE`] bytes.
//!
//! Within one message the text only grows (Regenerate and Edit make a new
//! message; Continue appends), so a text shorter than the last one is the
//! only sign of a replacement that is needed.

use super::{Element, Kind, Node, parse};

/// The longest unfinished tail that is parsed again on every update.
pub const TAIL_LIMIT: usize = 16 * 1024;

/// The most text of one piece past the Markdown limit. Each update lays out
/// the newest pieces and the piece still growing, all on screen: with 16 KB
/// pieces that was up to 32 KB of text a frame, and in a trace of a 1 MB
/// flood the longest frame was 71 ms of layout.
pub const PLAIN_PIECE: usize = 4 * 1024;

/// The most nodes one piece (finished, or the tail) is drawn with; a piece
/// whose tree would be larger is shown as its text. Drawing is what costs
/// in a browser: 30 KB of `*]` is fifteen thousand elements, and an
/// ordinary 16 KB list about two thousand.
pub const MAX_PIECE_NODES: usize = 5_000;

/// The most nodes the unfinished tail is drawn with while the reply grows:
/// the tail is drawn again on every update, so this bounds the work of one
/// frame, where [`MAX_PIECE_NODES`] bounds a piece drawn once. A tail that
/// passes it is cut before its latest line that can begin a piece (as a
/// long list is cut at [`TAIL_LIMIT`]); one with no such line (a single
/// huge line) is shown as its text until the reply ends. A block of the
/// tail that changed is drawn again whole: traced in Chromium on a 2-core
/// machine, a 1,500-node tail took 60-75 ms a frame (script, style, layout
/// and paint), and removing it when it turned to text 45 ms more.
pub const TAIL_NODES: usize = 500;

/// The most nodes the tail's last block is drawn with while it grows. An
/// update that changes that block other than at its end draws it again
/// whole (see [`StreamingDoc::take_growth`]), so this bounds the cost of
/// the frames that do. Past this, the tail is cut before its latest line
/// that can begin a piece, as [`TAIL_NODES`] cuts it; a block with no such
/// line (a table) is kept whole up to [`TAIL_NODES`]. Traced in Chromium on
/// a 2-core machine over a list of 2,000 items: cut at the tail's 500
/// nodes, 16 ms a frame; at 100, 5.8-6.5 ms in one run and 7.1-8.0 in two
/// later ones; at 50, 6.0-6.8 in two runs between them, its intersection
/// checks growing with its twice as many pieces. The difference is within
/// the machine's drift, so the larger pieces.
pub const GROWING_NODES: usize = 100;

/// The most new text one update takes in; the rest waits for the next
/// update ([`StreamingDoc::is_behind`]). A model writes far less between two
/// frames, but a backend that floods megabytes, or a long reply restored
/// after a reload, is drawn over several frames instead of in one long task.
pub const UPDATE_BUDGET: usize = 8 * 1024;

/// About the most nodes one update adds in finished pieces: it stops taking
/// in lines once they pass it, and the rest waits for the next update.
/// Drawing is what costs: in Chromium on a 2-core machine, 8 KB of short
/// paragraphs (about 1,150 nodes) took 35 ms of script and 40 ms of style,
/// layout and paint in one frame.
pub const UPDATE_NODES: usize = 250;

/// A burst of text is taken in slowly at first: its first update takes in a
/// quarter of [`UPDATE_NODES`], the next two quarters, and so on. Traced in
/// Chromium, the first frame of a flood (about 300 new layout objects) took
/// 75-115 ms where the frames after it, as large, took 15-35: the first
/// layout of a kind of content is the costly one.
pub const SLOW_START_STEPS: usize = 4;

/// The least text a finished piece holds (unless the reply is shorter).
pub const MIN_PIECE: usize = 1024;

/// How much of a reply is rendered as Markdown; the rest is plain text.
pub const MARKDOWN_LIMIT: usize = 128 * 1024;

/// The parsed form of a reply that is still growing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamingDoc {
    /// Counts the times the text was replaced rather than extended, so a view
    /// keyed on it knows to drop the pieces it drew before.
    pub epoch: u64,
    /// Each finished piece of the text, parsed; never changed once added.
    pub stable: Vec<Vec<Node>>,
    /// The unfinished end of the text, parsed afresh on every update.
    pub tail: Vec<Node>,
    /// A version for each node of `tail`, kept while the node is unchanged,
    /// so a view draws again only the nodes an update changed.
    tail_versions: Vec<u64>,
    /// The last version given to a node of the tail.
    last_version: u64,
    /// What the tail's last node gained at its end, keeping its key, since
    /// [`take_growth`](Self::take_growth) last took it.
    growth: Option<(PieceKey, Growth)>,
    /// The length of the text the last update saw.
    seen: usize,
    /// The length of the text taken into `stable`.
    stable_len: usize,
    /// Put before the tail when it is parsed: the opening fence of a code
    /// block that a forced split cut in two.
    carry: String,
    /// Whether the rest of the reply is shown as plain text.
    plain: bool,
    /// Whether text that arrived is still waiting to be taken in.
    behind: bool,
    /// How many updates in a row have been behind (see [`SLOW_START_STEPS`]).
    behind_streak: usize,
    /// Whether the reply is over: its tail is drawn like a finished piece.
    settled: bool,
    /// The nodes of every finished piece so far.
    stable_nodes: usize,
    /// The tail outgrew [`TAIL_NODES`] with nowhere to cut it, from this
    /// start: its text only grows (and so, all but always, does its tree),
    /// so it is shown as its text without parsing it again on every update,
    /// until it can be cut or the reply is over.
    oversized_tail_at: Option<usize>,
    scanner: Scanner,
}

/// Names what a view draws in one box: a finished piece, or one node of the
/// tail. A key is drawn once: the same key always names the same nodes, but
/// for the tail's last node, which keeps its key while it only grows at its
/// end (see [`StreamingDoc::take_growth`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PieceKey {
    epoch: u64,
    /// The finished piece at this index, or past them the tail's node.
    index: usize,
    /// 0 for a finished piece; for a node of the tail, its version.
    version: u64,
}

/// What the tail's last node gained at its end: `text` added to its last
/// text (the text on its path of last children), then `nodes` added after
/// the last child of the element `depth` steps down that path (0: the node
/// itself). A view that drew the node does the same to what it drew.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Growth {
    pub text: String,
    pub nodes: Vec<Node>,
    pub depth: usize,
}

/// What the line scan knows at the start of the next line.
#[derive(Clone, Debug, Default, PartialEq)]
struct Scanner {
    next_line: usize,
    previous_blank: bool,
    /// The fence character, its length and the line that opened it.
    fence: Option<(char, usize, String)>,
    /// Where the latest line of the tail that could begin a piece starts.
    split_at: Option<usize>,
}

impl StreamingDoc {
    /// Brings the document up to `text`. Returns whether finished pieces were
    /// added (or the document started over because the text was replaced).
    pub fn update(&mut self, text: &str) -> bool {
        let mut grew = false;
        if text.len() < self.seen || !text.is_char_boundary(self.scanner.next_line) {
            *self = Self { epoch: self.epoch + 1, ..Self::default() };
            grew = true;
        }
        self.seen = text.len();
        let pieces = self.stable.len();
        let budget_end = self.scanner.next_line + UPDATE_BUDGET;
        let step = (self.behind_streak + 1).min(SLOW_START_STEPS);
        let nodes_budget_end = self.stable_nodes + UPDATE_NODES * step / SLOW_START_STEPS;
        self.behind = false;
        while !self.plain
            && let Some(end) = line_end(&text[self.scanner.next_line..])
        {
            if self.scanner.next_line >= budget_end || self.stable_nodes >= nodes_budget_end {
                self.behind = true;
                break;
            }
            let start = self.scanner.next_line;
            self.scan_line(text, start, &text[start..start + end]);
        }
        // While behind, the document shows the lines taken in so far.
        let text = if self.behind { &text[..self.scanner.next_line] } else { text };
        // A line still being written that starts at the margin after a blank
        // line begins a new block, whatever the rest of it turns out to be.
        let unfinished = &text[self.scanner.next_line..];
        if !self.plain
            && self.scanner.previous_blank
            && self.scanner.fence.is_none()
            && self.scanner.next_line >= self.stable_len + MIN_PIECE
            && unfinished.starts_with(|c: char| !c.is_whitespace())
        {
            self.finish_piece(text, self.scanner.next_line);
        }
        if !self.plain && text.len() - self.stable_len > 2 * TAIL_LIMIT {
            self.plain = true;
        }
        let tail = if self.plain { self.plain_pieces(text) } else { self.drawn_tail(text) };
        self.set_tail(tail);
        self.behind_streak = if self.behind { self.behind_streak + 1 } else { 0 };
        grew || self.stable.len() > pieces
    }

    /// The keys of what there is to draw: every finished piece, then each
    /// node of the tail. Between two updates, only the keys of what changed
    /// change (pieces that finished, nodes of the tail that grew).
    pub fn keys(&self) -> Vec<PieceKey> {
        let pieces = (0..self.stable.len()).map(|index| (index, 0));
        let tail = self.tail_versions.iter().enumerate();
        pieces
            .chain(tail.map(|(at, version)| (self.stable.len() + at, *version)))
            .map(|(index, version)| PieceKey { epoch: self.epoch, index, version })
            .collect()
    }

    /// Every node the document holds, finished pieces then tail, in order:
    /// once the reply has ended and the document caught up with it, what
    /// [`parse`](crate::parse) gives for its text (up to
    /// [`MARKDOWN_LIMIT`]; past it, plain text).
    pub fn nodes(&self) -> Vec<Node> {
        self.stable.concat().into_iter().chain(self.tail.iter().cloned()).collect()
    }

    /// The nodes `key` names, if it is still one of [`keys`](Self::keys).
    pub fn piece(&self, key: PieceKey) -> Option<Vec<Node>> {
        if key.epoch != self.epoch {
            return None;
        }
        match key.index.checked_sub(self.stable.len()) {
            None if key.version == 0 => Some(self.stable[key.index].clone()),
            None => None,
            Some(at) if self.tail_versions.get(at) == Some(&key.version) => {
                Some(vec![self.tail[at].clone()])
            }
            Some(_) => None,
        }
    }

    /// What the tail's last node gained at its end since this was last
    /// called, and its key: a view that drew that key adds it where the box
    /// it drew ends, instead of drawing the box again. The browser then lays
    /// out the few lines that changed, not a whole paragraph, code block or
    /// list on every update.
    pub fn take_growth(&mut self) -> Option<(PieceKey, Growth)> {
        self.growth.take()
    }

    /// Gives the tail's last node a new key, so a view draws it again: for a
    /// view that could not add [`take_growth`](Self::take_growth)'s growth.
    pub fn redraw_last(&mut self) {
        if let Some(version) = self.tail_versions.last_mut() {
            self.last_version += 1;
            *version = self.last_version;
        }
    }

    /// Replaces the tail, keeping the version of each node that is the same
    /// as the one it replaces, and of the last node if it only grew at its
    /// end.
    fn set_tail(&mut self, tail: Vec<Node>) {
        let mut versions = Vec::with_capacity(tail.len());
        let mut growth = None;
        for (at, node) in tail.iter().enumerate() {
            let old = self.tail.get(at);
            // Only the last node drawn can grow: a view adds to its last box.
            if at + 1 == tail.len() && tail.len() == self.tail.len() {
                growth = old.and_then(|old| grown(old, node));
            }
            // A node that grew is not the same: no need to compare it whole
            // again (the update that only adds to the tail's end, the most
            // common one, would walk its last node twice).
            let kept = old.filter(|old| growth.is_some() || *old == node);
            versions.push(match kept.and(self.tail_versions.get(at)) {
                Some(version) => *version,
                None => {
                    self.last_version += 1;
                    self.last_version
                }
            });
        }
        self.tail = tail;
        self.tail_versions = versions;
        let Some(growth) = growth else { return };
        let key = PieceKey {
            epoch: self.epoch,
            index: self.stable.len() + self.tail.len() - 1,
            version: self.last_version_of_tail(),
        };
        match &self.growth {
            // Not taken since the last update (a view takes it after every
            // one): whatever the view has, the node is drawn again.
            Some((pending, _)) if *pending == key => {
                self.growth = None;
                self.redraw_last();
            }
            _ => self.growth = Some((key, growth)),
        }
    }

    fn last_version_of_tail(&self) -> u64 {
        self.tail_versions.last().copied().unwrap_or_default()
    }

    /// Marks the reply as over (or, `false`, growing again): an unfinished
    /// tail is no longer drawn on every update, so from the next
    /// [`update`](Self::update) on it is drawn like a finished piece.
    pub fn settle(&mut self, settled: bool) {
        self.settled = settled;
    }

    /// The tail parsed, within what one update may draw (see
    /// [`TAIL_NODES`] and [`GROWING_NODES`]): cut before its latest line
    /// that can begin a piece, or shown as its text.
    fn drawn_tail(&mut self, text: &str) -> Vec<Node> {
        let uncut = self.scanner.split_at.is_none_or(|at| at <= self.stable_len);
        if !self.settled && uncut && self.oversized_tail_at == Some(self.stable_len) {
            return plain_chunks(&text[self.stable_len..]);
        }
        let limit = if self.settled { MAX_PIECE_NODES } else { TAIL_NODES };
        let tail = &text[self.stable_len..];
        let mut nodes =
            parsed(&self.carry, if self.settled { tail } else { without_row_start(tail) });
        if !self.settled {
            drop_unwritten_cells(&mut nodes);
        }
        let oversized = crate::measure(&nodes).0 > limit;
        let growing = nodes.last().map_or(0, |last| crate::measure(std::slice::from_ref(last)).0);
        if !oversized && (self.settled || growing <= GROWING_NODES) {
            return nodes;
        }
        match self.scanner.split_at.filter(|&at| !self.settled && at > self.stable_len) {
            // Once: finishing a piece forgets where the tail could be cut.
            Some(at) => {
                self.finish_piece(text, at);
                if self.plain { self.plain_pieces(text) } else { self.drawn_tail(text) }
            }
            None if oversized => {
                self.oversized_tail_at = (!self.settled).then_some(self.stable_len);
                plain_chunks(&text[self.stable_len..])
            }
            None => nodes,
        }
    }

    /// Whether text given to [`update`](Self::update) is still waiting to be
    /// taken in: update again (on the next frame) even if no more arrives.
    pub fn is_behind(&self) -> bool {
        self.behind
    }

    fn scan_line(&mut self, text: &str, start: usize, line: &str) {
        self.scanner.next_line = start + line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        let trimmed = content.trim_start();
        let at_margin = trimmed.len() == content.len();
        let blank = trimmed.is_empty();
        let marker = (content.len() - trimmed.len() < 4).then(|| fence_marker(trimmed)).flatten();
        let tail = start - self.stable_len;
        if tail > 2 * TAIL_LIMIT {
            // A block that outgrew every place to split it.
            self.plain = true;
            return;
        }
        if tail > 0 && !blank {
            let fenced = self.scanner.fence.is_some();
            // Pieces of at least MIN_PIECE: a view keeps one entry per piece,
            // and a reply of short paragraphs would otherwise make thousands.
            let natural = !fenced && self.scanner.previous_blank && at_margin && tail >= MIN_PIECE;
            // A table's rows belong to its header, and a fence line would
            // open or close a block in the wrong piece.
            let splittable = (fenced || at_margin) && !trimmed.starts_with('|') && marker.is_none();
            if splittable {
                self.scanner.split_at = Some(start);
            }
            let forced = tail > TAIL_LIMIT && splittable;
            if natural || forced {
                self.finish_piece(text, start);
                if self.plain {
                    return;
                }
            }
        }
        if let Some((c, n)) = marker {
            match &self.scanner.fence {
                None => self.scanner.fence = Some((c, n, content.to_owned() + "\n")),
                // A fence closes with at least as many of the same character
                // and nothing after them.
                Some((open, length, _))
                    if c == *open
                        && n >= *length
                        && trimmed.trim_start_matches(c).trim().is_empty() =>
                {
                    self.scanner.fence = None
                }
                Some(_) => {}
            }
        }
        self.scanner.previous_blank = blank;
    }

    /// Parses the text up to `end` as a finished piece.
    fn finish_piece(&mut self, text: &str, end: usize) {
        let (nodes, count) =
            drawable(&std::mem::take(&mut self.carry), &text[self.stable_len..end]);
        self.stable_nodes += count;
        self.stable.push(nodes);
        self.stable_len = end;
        self.scanner.split_at = None;
        if let Some((_, _, opening)) = &self.scanner.fence {
            self.carry = opening.clone();
        }
        self.plain = end >= MARKDOWN_LIMIT;
    }

    /// Moves whole plain pieces into `stable`, a budget's worth at most (the
    /// newest text is on screen, where the browser must lay it out: 64 KB of
    /// it took 40 ms a frame), and returns the rest, or while behind the
    /// next piece to come.
    fn plain_pieces(&mut self, text: &str) -> Vec<Node> {
        let mut taken = 0;
        while text.len() - self.stable_len > PLAIN_PIECE {
            if taken > 0 && taken + PLAIN_PIECE > UPDATE_BUDGET {
                self.behind = true;
                let end = text.floor_char_boundary(self.stable_len + PLAIN_PIECE);
                return plain_text(&text[self.stable_len..end]);
            }
            let window = &text[self.stable_len..];
            let end = plain_piece_end(window);
            self.stable.push(plain_text(&window[..end]));
            self.stable_len += end;
            taken += end;
        }
        plain_text(&text[self.stable_len..])
    }
}

/// What `new` adds at the end of `old`, if that is all that changed: the
/// two are the same but for their last text (the text on the path of last
/// children), which in `new` may be longer, with `old`'s as its start, and
/// the children of one element on that path, to which `new` may add more
/// (a list's new item, a paragraph's new emphasis, a table's new row or a
/// row's new cell). `None` if anything else changed, or nothing did; through
/// elements whose box does not end with their last child's (a table's head,
/// drawn in a row of its own before the body; an image's link); and for new
/// nodes, through elements not drawn as one box holding their children's (a
/// code block), or with a code block among them (its Copy button is a view
/// to keep). A table's rows are its children here, as in the tree, though a
/// view draws them in the table's body.
fn grown(old: &Node, new: &Node) -> Option<Growth> {
    let (Node::Element(old), Node::Element(new)) = (old, new) else {
        let (Node::Text(old), Node::Text(new)) = (old, new) else { return None };
        let text = new.strip_prefix(old.as_str()).filter(|text| !text.is_empty())?;
        return Some(Growth { text: text.to_owned(), ..Growth::default() });
    };
    if old.kind != new.kind || matches!(old.kind, Kind::TableHead | Kind::ImageLink { .. }) {
        return None;
    }
    let (kept, added) = new.children.split_at_checked(old.children.len())?;
    let rest = kept.len().saturating_sub(1);
    if old.children[..rest] != kept[..rest] {
        return None;
    }
    let last = old.children.last().zip(kept.last());
    let mut growth = match last.and_then(|(old, new)| grown(old, new)) {
        Some(growth) => growth,
        None if old.children.last() == kept.last() && !added.is_empty() => Growth::default(),
        None => return None,
    };
    // New nodes at one depth only, and only into an element drawn as one
    // box holding its children's.
    let holds_its_children = !matches!(old.kind, Kind::CodeBlock { .. });
    if !growth.nodes.is_empty() {
        if !added.is_empty() || !holds_its_children {
            return None;
        }
        growth.depth += 1;
    } else if !added.is_empty() {
        if !holds_its_children || added.iter().any(holds_code_block) {
            return None;
        }
        growth.nodes = added.to_vec();
    }
    Some(growth)
}

fn holds_code_block(node: &Node) -> bool {
    match node {
        Node::Text(_) => false,
        Node::Element(element) => {
            matches!(element.kind, Kind::CodeBlock { .. })
                || element.children.iter().any(holds_code_block)
        }
    }
}

/// While the reply grows, the last row of the table the tail ends with
/// shows only the cells written so far. The parser gives a row every cell
/// of the head, those not written yet empty, so the cell being written
/// would be last only in the last column: a view could add to it where it
/// ends (see [`grown`]) only there, and drew the table again for every
/// word of the others.
fn drop_unwritten_cells(nodes: &mut [Node]) {
    let Some(Node::Element(Element { kind: Kind::Table, children: rows })) = nodes.last_mut()
    else {
        return;
    };
    let Some(Node::Element(Element { kind: Kind::TableRow, children: cells })) = rows.last_mut()
    else {
        return;
    };
    while cells.len() > 1
        && matches!(cells.last(), Some(Node::Element(cell)) if cell.children.is_empty())
    {
        cells.pop();
    }
}

/// `tail` without its last line while that is a lone `|`: most likely the
/// start of a table's next row, which the parser gives as a paragraph
/// after the table until the row's first cell is written. Shown, it made
/// the table two boxes and then one again, and a view drew the table again
/// for every row. Hidden, it waits for the byte after it (which shows it,
/// whatever block it turns out to be).
fn without_row_start(tail: &str) -> &str {
    // In bytes: `rfind` and `trim` cost the embed 44 bytes more gzipped.
    let bytes = tail.as_bytes();
    let line_start = bytes.iter().rposition(|&b| b == b'\n' || b == b'\r').map_or(0, |at| at + 1);
    let lone_pipe = bytes[line_start..].iter().filter(|b| !b.is_ascii_whitespace()).eq(b"|");
    if lone_pipe { &tail[..line_start] } else { tail }
}

/// The length of the first whole line of `text`, its line ending included.
/// CommonMark ends a line at LF, CRLF or a lone CR; a CR that ends `text`
/// may be the first half of a CRLF, so that line is not whole yet.
fn line_end(text: &str) -> Option<usize> {
    let at = text.find(['\n', '\r'])?;
    let bytes = text.as_bytes();
    match (bytes[at], bytes.get(at + 1)) {
        (b'\r', None) => None,
        (b'\r', Some(b'\n')) => Some(at + 2),
        _ => Some(at + 1),
    }
}

/// `piece` parsed (after `carry`, the fence it continues), or as its text
/// (in plain pieces) if its tree would pass [`MAX_PIECE_NODES`]; and how
/// many nodes it has.
fn drawable(carry: &str, piece: &str) -> (Vec<Node>, usize) {
    let nodes = parsed(carry, piece);
    match crate::measure(&nodes).0 {
        count if count > MAX_PIECE_NODES => {
            let pieces = plain_chunks(piece);
            let count = 2 * pieces.len();
            (pieces, count)
        }
        count => (nodes, count),
    }
}

/// `piece` parsed after `carry`, the fence it continues.
fn parsed(carry: &str, piece: &str) -> Vec<Node> {
    if carry.is_empty() { parse(piece) } else { parse(&(carry.to_owned() + piece)) }
}

/// Where the first plain piece of `text` (longer than [`PLAIN_PIECE`]) ends:
/// at its last line break, if it has one.
fn plain_piece_end(text: &str) -> usize {
    let end = text.floor_char_boundary(PLAIN_PIECE);
    text[..end].rfind('\n').map_or(end, |at| at + 1)
}

/// `text` as plain pieces of at most [`PLAIN_PIECE`]: as it grows, every
/// piece but the last stays the same, and is not drawn again.
fn plain_chunks(mut text: &str) -> Vec<Node> {
    let mut pieces = Vec::new();
    while text.len() > PLAIN_PIECE {
        let end = plain_piece_end(text);
        pieces.extend(plain_text(&text[..end]));
        text = &text[end..];
    }
    pieces.extend(plain_text(text));
    pieces
}

fn plain_text(text: &str) -> Vec<Node> {
    if text.is_empty() {
        return Vec::new();
    }
    let children = vec![Node::Text(text.to_owned())];
    vec![Node::Element(Element { kind: Kind::PlainText, children })]
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

    /// Feeds `text` in pieces of `step` bytes (at char boundaries).
    fn streamed(text: &str, step: usize) -> StreamingDoc {
        let mut doc = StreamingDoc::default();
        let mut end = 0;
        while end < text.len() {
            end = (end + step).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            doc.update(&text[..end]);
        }
        catch_up(&mut doc, text);
        doc
    }

    fn catch_up(doc: &mut StreamingDoc, text: &str) {
        while doc.is_behind() {
            doc.update(text);
        }
    }

    fn markdown_len(nodes: &[Node]) -> usize {
        crate::measure(nodes).0
    }

    #[test]
    fn streaming_gives_the_same_tree_as_parsing_at_once() {
        let reply = "# Plan\n\nFirst *point*.\n\n- one\n- two\n\n```rust\nfn a() {}\n\nfn b() {}\n```\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\nDone.";
        let reply = (reply.to_owned() + "\n\n").repeat(30);
        for step in [1, 2, 7, reply.len()] {
            let doc = streamed(&reply, step);
            assert_eq!(doc.nodes(), parse(&reply), "in steps of {step}");
            assert!(doc.stable.len() >= 3, "finished blocks were kept: {}", doc.stable.len());
            assert!(doc.stable.len() <= reply.len() / MIN_PIECE, "pieces of at least MIN_PIECE");
            let tail_nodes = markdown_len(&doc.tail);
            assert!(tail_nodes < 60, "only the last kilobyte or so is parsed again: {tail_nodes}");
        }
    }

    #[test]
    fn a_blank_line_inside_code_does_not_finish_a_piece() {
        let doc = streamed("```\na\n\nb\n", 1);
        assert!(doc.stable.is_empty());
        let doc = streamed("one\n\n    indented\n", 1);
        assert!(doc.stable.is_empty(), "indented: maybe a continuation");
    }

    #[test]
    fn a_shorter_text_starts_over() {
        let mut doc = StreamingDoc::default();
        doc.update("a\n\nb\n");
        assert!(doc.update("x\n"));
        assert_eq!(doc.epoch, 1);
        assert!(doc.stable.is_empty());
        assert_eq!(doc.tail, parse("x\n"));
    }

    #[test]
    fn a_long_block_is_split_so_the_tail_stays_small() {
        let list = "- item number one\n".repeat(5_000);
        let doc = streamed(&list, 100);
        assert!(doc.stable.len() >= 4, "{} pieces", doc.stable.len());
        for piece in &doc.stable {
            assert!(matches!(&piece[..], [Node::Element(Element { kind: Kind::List { .. }, .. })]));
        }
        let items = |nodes: &[Node]| {
            nodes
                .iter()
                .map(|node| match node {
                    Node::Element(list) => list.children.len(),
                    Node::Text(_) => 0,
                })
                .sum::<usize>()
        };
        assert_eq!(items(&doc.nodes()), 5_000, "every item is shown, in a few lists");
        assert!(items(&doc.tail) <= TAIL_LIMIT / 18 + 1);
    }

    #[test]
    fn a_long_code_block_goes_on_in_a_second_block_with_its_language() {
        let code = "```rust\n".to_owned() + &"let x = 1;\n".repeat(3_000) + "```\n\nafter";
        let doc = streamed(&code, 1_000);
        // The last bit of code and the paragraph after it are under a piece's
        // least size: they stay in the tail.
        let blocks: Vec<&Node> = doc.stable.iter().flatten().chain(&doc.tail[..1]).collect();
        assert!(blocks.len() >= 2);
        let mut code_text = String::new();
        for block in &blocks {
            let Node::Element(Element { kind: Kind::CodeBlock { language }, children }) = block
            else {
                panic!("a code block: {block:?}");
            };
            assert_eq!(language.as_deref(), Some("rust"));
            let [Node::Text(text)] = &children[..] else { panic!("code text") };
            code_text += text;
        }
        assert!(code_text == "let x = 1;\n".repeat(3_000), "{} bytes of code", code_text.len());
        assert_eq!(doc.tail[1..], parse("after")[..]);
    }

    #[test]
    fn past_the_limit_the_reply_is_plain_text_in_bounded_pieces() {
        let reply = "Some *prose*.\n\n".repeat(MARKDOWN_LIMIT / 10);
        let doc = streamed(&reply, 4_000);
        let plain: Vec<&String> = doc
            .stable
            .iter()
            .chain([&doc.tail])
            .flatten()
            .filter_map(|node| match node {
                Node::Element(Element { kind: Kind::PlainText, children }) => match &children[..] {
                    [Node::Text(text)] => Some(text),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert!(!plain.is_empty());
        assert!(plain.iter().all(|text| text.len() <= PLAIN_PIECE));
        let plain_len: usize = plain.iter().map(|text| text.len()).sum();
        assert!(plain_len >= reply.len() - MARKDOWN_LIMIT - TAIL_LIMIT, "the rest is all there");
        assert!(plain_len < reply.len() - MARKDOWN_LIMIT + 20);
    }

    #[test]
    fn a_flood_is_taken_in_a_budget_at_a_time() {
        let reply = "Some *prose* that goes on.\n\n".repeat(10_000);
        let mut doc = StreamingDoc::default();
        doc.update(&reply);
        assert!(doc.is_behind());
        let taken: usize = doc.scanner.next_line;
        assert!(taken > MIN_PIECE && taken <= UPDATE_BUDGET + 100, "{taken} bytes taken in");
        // A slow start: a piece (about 190 nodes of this prose) goes past a
        // quarter of the nodes, where a full update takes two.
        let first = doc.stable_nodes;
        assert!(first <= UPDATE_NODES / SLOW_START_STEPS + 200, "{first} nodes first");
        let mut updates = 1;
        let mut most_nodes = first;
        while doc.is_behind() {
            let before = doc.stable_nodes;
            doc.update(&reply);
            most_nodes = most_nodes.max(doc.stable_nodes - before);
            updates += 1;
        }
        // Each update stops taking in lines once it passes its nodes, so it
        // goes past them by one piece at most.
        assert!(most_nodes <= UPDATE_NODES + 300, "{most_nodes} nodes in one update");
        assert!(most_nodes > first + 100, "{most_nodes} nodes at most, {first} first");
        // Markdown a budget at a time; plain text at least one piece at a time.
        let plain = reply.len() - MARKDOWN_LIMIT;
        let expected = MARKDOWN_LIMIT / UPDATE_BUDGET + plain / UPDATE_BUDGET.max(TAIL_LIMIT);
        assert!(updates >= expected, "{updates} updates, expected at least {expected}");
        assert_eq!(doc.nodes(), streamed(&reply, 100).nodes(), "the same reply in the end");
    }

    #[test]
    fn a_piece_too_costly_to_draw_is_its_text() {
        let hostile = "*]".repeat(10_000);
        let doc = streamed(&hostile, 500);
        for piece in doc.stable.iter().chain([&doc.tail]) {
            assert!(crate::measure(piece).0 <= MAX_PIECE_NODES);
        }
        assert!(!doc.tail.is_empty());
        assert!(
            doc.tail
                .iter()
                .all(|node| matches!(node, Node::Element(Element { kind: Kind::PlainText, .. })))
        );
        // An ordinary long list is drawn as Markdown.
        let list = "- item with *emphasis* and `code`\n".repeat(1_000);
        let doc = streamed(&list, 500);
        for piece in doc.stable.iter().chain([&doc.tail]) {
            assert!(matches!(&piece[..], [Node::Element(Element { kind: Kind::List { .. }, .. })]));
        }
    }

    #[test]
    fn a_tail_too_large_to_draw_on_every_update_is_cut_or_shown_as_text_until_settled() {
        // A dense list: cut before an item once its tail passes the limit,
        // so every piece, the tail included, is a list of bounded size.
        let list = "- item with *emphasis* and `code`\n".repeat(1_000);
        let mut doc = StreamingDoc::default();
        let mut most = 0;
        for end in (0..=list.len()).step_by(97).chain([list.len()]) {
            doc.update(&list[..end]);
            most = most.max(markdown_len(&doc.tail));
        }
        assert!(most <= TAIL_NODES, "the tail was drawn with {most} nodes");
        assert!(doc.stable.len() >= 3, "{} pieces", doc.stable.len());
        for piece in doc.stable.iter().chain([&doc.tail]) {
            assert!(matches!(&piece[..], [Node::Element(Element { kind: Kind::List { .. }, .. })]));
        }
        let items = |nodes: &[Node]| match nodes {
            [Node::Element(list)] => list.children.len(),
            _ => 0,
        };
        let all: usize = doc.stable.iter().chain([&doc.tail]).map(|piece| items(piece)).sum();
        assert_eq!(all, 1_000, "every item, once");

        // One line of 2,000 emphasized words has nowhere to be cut: its text
        // while it grows, drawn as Markdown once the reply is over.
        let line = "*a* ".repeat(1_000);
        let mut doc = streamed(&line, 100);
        assert!(matches!(&doc.tail[..], [Node::Element(Element { kind: Kind::PlainText, .. })]));
        let mut settled = doc.clone();
        settled.settle(true);
        settled.update(&line);
        assert_eq!(settled.tail, parse(&line));
        assert!(markdown_len(&settled.tail) > TAIL_NODES);
        // Once the line ends and a new block begins, the line is a finished
        // piece (drawn as Markdown) and the new tail is Markdown again.
        let more = line.clone() + "\n\n- a *list*\n";
        doc.update(&more);
        assert_eq!(doc.stable.last(), Some(&parse(&line)));
        assert_eq!(doc.tail, parse("- a *list*\n"));
    }

    #[test]
    fn the_block_drawn_again_on_every_update_stays_small() {
        // A list growing a line at a time: its latest block, drawn again
        // on every update, passes GROWING_NODES by one item at most before
        // it is cut, however long the list grows.
        let item = "- item with *emphasis* and `code`\n";
        let list = item.repeat(2_000);
        let item_nodes = markdown_len(&parse(item));
        let mut doc = StreamingDoc::default();
        let mut most = 0;
        for end in (0..=list.len()).step_by(item.len()) {
            doc.update(&list[..end]);
            let last = doc.tail.last().map_or(0, |block| markdown_len(std::slice::from_ref(block)));
            most = most.max(last);
        }
        assert!(most <= GROWING_NODES + item_nodes, "the growing block had {most} nodes");
        assert!(most > GROWING_NODES / 2, "cut near the limit, not item by item: {most}");
        let items: usize = doc
            .stable
            .iter()
            .chain([&doc.tail])
            .map(|piece| match &piece[..] {
                [Node::Element(list)] => list.children.len(),
                _ => panic!("each piece is one list: {piece:?}"),
            })
            .sum();
        assert_eq!(items, 2_000, "every item, once");

        // A table has nowhere to be cut: drawn whole, as a table, up to
        // TAIL_NODES.
        let table = "| a | b |\n|---|---|\n".to_owned() + &"| *x* | y |\n".repeat(30);
        let doc = streamed(&table, 11);
        assert!(markdown_len(&doc.tail) > GROWING_NODES);
        assert!(markdown_len(&doc.tail) <= TAIL_NODES);
        assert_eq!(doc.tail, parse(&table));
    }

    /// The keys of `doc` that `before` did not have.
    fn new_keys(before: &[PieceKey], doc: &StreamingDoc) -> Vec<PieceKey> {
        doc.keys().into_iter().filter(|key| !before.contains(key)).collect()
    }

    #[test]
    fn an_update_changes_the_keys_of_what_changed_only() {
        // Under MIN_PIECE, three blocks stay in the tail: the two finished
        // ones keep their keys while the last one grows.
        let mut doc = StreamingDoc::default();
        doc.update("# Title\n\nA paragraph.\n\n- one");
        let before = doc.keys();
        assert_eq!(before.len(), 3);
        // The list becomes loose: its items' nodes change.
        doc.update("# Title\n\nA paragraph.\n\n- one\n\n- two");
        assert_eq!(new_keys(&before, &doc), doc.keys()[2..]);
        assert_eq!(doc.keys()[..2], before[..2]);
        // Each key names what is shown, in order; a replaced one, nothing.
        let drawn: Vec<Node> =
            doc.keys().into_iter().flat_map(|key| doc.piece(key).unwrap()).collect();
        assert_eq!(drawn, doc.nodes());
        assert_eq!(doc.piece(before[2]), None);
        // Nothing changed, nothing new to draw.
        let same = doc.keys();
        doc.update("# Title\n\nA paragraph.\n\n- one\n\n- two");
        assert_eq!(doc.keys(), same);
        // Text replaced: every key is new.
        doc.update("x");
        assert!(doc.keys().iter().all(|key| !same.contains(key)));
        assert_eq!(doc.piece(same[0]), None);
    }

    #[test]
    fn only_what_was_added_at_the_end_grows() {
        let tree = |text: &str| parse(text).pop().unwrap();
        let grew = |old: &str, new: &str| grown(&tree(old), &tree(new));
        let text = |old: &str, new: &str| grew(old, new).map(|growth| growth.text);
        assert_eq!(text("Hello", "Hello, world").as_deref(), Some(", world"));
        assert_eq!(text("a *b* c", "a *b* cd").as_deref(), Some("d"));
        assert_eq!(text("```rust\nfn a", "```rust\nfn a() {}\n").as_deref(), Some("() {}\n"));
        assert_eq!(text("- a\n- b", "- a\n- bc").as_deref(), Some("c"));
        let image = "![ab](https://e.com/i.png) c";
        assert_eq!(text(image, &(image.to_owned() + "d")).as_deref(), Some("d"), "after an image");
        // New nodes at the end of an element on the path of last children.
        let item = |text: &str| tree(&format!("- {text}"));
        let Node::Element(list) = item("c") else { unreachable!() };
        let new_item = list.children;
        assert_eq!(
            grew("- a\n- b", "- a\n- bc\n- c"),
            Some(Growth { text: "c".into(), nodes: new_item.clone(), depth: 0 }),
            "a list's new item, after its last item's new text"
        );
        assert_eq!(
            grew("- a\n  - b", "- a\n  - b\n  - c"),
            Some(Growth { text: String::new(), nodes: new_item, depth: 2 }),
            "a nested list's new item"
        );
        assert_eq!(
            grew("- a\n  - b", "- a\n  - bc\n- c").map(|growth| (growth.text, growth.depth)),
            Some(("c".into(), 0)),
            "a nested item's new text, then a new item"
        );
        assert_eq!(
            grew("- a\n- ", "- a\n- b"),
            Some(Growth { text: String::new(), nodes: vec![Node::Text("b".into())], depth: 1 }),
            "an empty item's first text"
        );
        let Node::Element(paragraph) = tree("a *b* c *d*") else { unreachable!() };
        assert_eq!(
            grew("a *b*", "a *b* c *d*"),
            Some(Growth { text: String::new(), nodes: paragraph.children[2..].to_vec(), depth: 0 }),
            "a paragraph's new text and emphasis"
        );
        // Anything else that changed: drawn again.
        assert_eq!(grew("a *b", "a *b*"), None, "emphasis closed");
        assert_eq!(grew("AT&amp", "AT&amp;"), None, "an entity: the text got shorter");
        assert_eq!(grew("a *b* c", "a **b** cd"), None, "a child before the last changed");
        assert_eq!(grew("```rust\nx", "```js\nx"), None, "another language");
        assert_eq!(grew("Title\n", "Title\n="), None, "a paragraph became a heading");
        assert_eq!(grew("a", "a"), None, "nothing changed");
        assert_eq!(grew("---", "---"), None, "nothing changed, and no children");
        assert_eq!(grew("- a\n- b", "- a\n- b\n\n- c"), None, "the list became loose");
        assert_eq!(grew("- a\n  - b", "- a\n  - b\n  - c\n- d"), None, "added at two depths");
        assert_eq!(grew("- a", "- a\n- ```\n  x"), None, "a new item holding a code block");
        let table = |text: &str| tree(&format!("| x | y |\n|---|---|\n{text}"));
        let Node::Element(rows) = table("| 2 |") else { unreachable!() };
        let [_, row] = &rows.children[..] else { unreachable!() };
        // The parser gives a row all the head's cells, the missing ones empty.
        let Node::Element(cells) = row else { unreachable!() };
        assert!(matches!(&cells.children[..], [Node::Element(_), Node::Element(_)]));
        let grew_table = |old: &str, new: &str| grown(&table(old), &table(new));
        assert_eq!(
            grew_table("| 1 | 2", "| 1 | 23").map(|growth| growth.text),
            Some("3".into()),
            "a cell's new text"
        );
        assert_eq!(
            grew_table("| 1 |", "| 1 | 2"),
            Some(Growth { text: String::new(), nodes: vec![Node::Text("2".into())], depth: 2 }),
            "the text of a cell the parser gave the row empty"
        );
        assert_eq!(
            grew_table("", "| 2 |"),
            Some(Growth { text: String::new(), nodes: vec![row.clone()], depth: 0 }),
            "the first row, after the head"
        );
        assert_eq!(
            grew_table("| 1 | 1 |", "| 1 | 1 |\n| 2 |"),
            Some(Growth { text: String::new(), nodes: vec![row.clone()], depth: 0 }),
            "a row"
        );
        assert_eq!(grew_table("| 1 | 2", "| 12 | 2"), None, "a cell before the last");
        assert_eq!(grew("| x |\n|--", "| x |\n|---|\n"), None, "a paragraph became a table");
        // The parser makes a table of its head only once the next line is
        // there, so a head does not grow; were it to, its cells are drawn
        // in a row of their own, not where the table's box ends.
        let element = |kind, children| Node::Element(Element { kind, children });
        let headed = |text: &str| {
            let cell = element(
                Kind::TableCell { header: true, align: crate::Align::None },
                vec![Node::Text(text.into())],
            );
            element(Kind::Table, vec![element(Kind::TableHead, vec![cell])])
        };
        assert_eq!(grown(&headed("x"), &headed("xy")), None, "the head");
        assert_eq!(grew("![a](https://e.com/i.png", "![a](https://e.com/i.png)"), None);
    }

    #[test]
    fn a_key_kept_while_its_node_grows_is_drawn_again_when_asked_or_not_taken() {
        let mut doc = StreamingDoc::default();
        doc.update("Hello");
        let before = doc.keys();
        doc.update("Hello, world");
        assert_eq!(doc.keys(), before, "the paragraph keeps its key");
        let text = |text: &str| Growth { text: text.into(), ..Growth::default() };
        assert_eq!(doc.take_growth(), Some((before[0], text(", world"))));
        assert_eq!(doc.take_growth(), None, "taken once");
        doc.redraw_last();
        let redrawn = doc.keys();
        assert_ne!(redrawn, before);
        assert_eq!(doc.piece(redrawn[0]).unwrap(), parse("Hello, world"));
        doc.update("Hello, world!");
        doc.update("Hello, world!!");
        assert_ne!(doc.keys(), redrawn, "grown twice, not taken in between: drawn again");
        assert_eq!(doc.take_growth(), None);
    }

    #[test]
    fn a_tail_shown_as_its_text_is_drawn_again_only_where_it_grew() {
        // One line of emphasis, past what the tail is drawn with: as its
        // text, in pieces; each update adds to the last piece only (or, past
        // the Markdown limit, takes in a budget of plain pieces).
        let line = "*a* ".repeat(10_000);
        let mut doc = StreamingDoc::default();
        let mut keys = Vec::new();
        for end in (0..line.len()).step_by(200).skip(20) {
            doc.update(&line[..end]);
            let new = new_keys(&keys, &doc);
            // The last piece, and the one after it when it fills.
            let most = if doc.plain { UPDATE_BUDGET / PLAIN_PIECE + 1 } else { 2 };
            assert!(new.len() <= most, "{} pieces drawn again at {end}", new.len());
            for key in &new {
                let piece = doc.piece(*key).unwrap();
                let [Node::Element(Element { kind: Kind::PlainText, children })] = &piece[..]
                else {
                    panic!("plain text: {piece:?}");
                };
                let [Node::Text(text)] = &children[..] else { panic!("one text") };
                assert!(text.len() <= PLAIN_PIECE);
            }
            keys = doc.keys();
        }
    }

    #[test]
    fn a_row_begun_with_its_pipe_waits_for_its_first_cell() {
        let table = "| a | b |\n|---|---|\n| 1 | 2 |\n";
        for row_start in ["|", "  | ", "|\t"] {
            for newline in ["\n", "\r\n", "\r"] {
                let table = table.replace('\n', newline);
                let mut doc = StreamingDoc::default();
                doc.update(&table);
                let before = doc.nodes();
                doc.update(&(table.clone() + row_start));
                assert_eq!(doc.nodes(), before, "{row_start:?} after {newline:?}");
                doc.update(&(table.clone() + row_start + "3"));
                let mut begun = parse(&(table.clone() + row_start + "3"));
                drop_unwritten_cells(&mut begun);
                assert_eq!(doc.nodes(), begun, "{row_start:?} after {newline:?}");
                // Once the reply is over, it is shown whatever it is.
                let ended = table + row_start;
                let mut doc = StreamingDoc::default();
                doc.update(&ended);
                doc.settle(true);
                doc.update(&ended);
                assert_eq!(doc.nodes(), parse(&ended), "{row_start:?} after {newline:?}");
            }
        }
        let mut doc = StreamingDoc::default();
        doc.update("|");
        assert!(doc.nodes().is_empty(), "a reply that begins with one");
        doc.update("| x");
        assert_eq!(doc.nodes(), parse("| x"));
    }

    #[test]
    fn lines_end_at_lf_crlf_and_a_lone_cr() {
        assert_eq!(line_end("a\nb"), Some(2));
        assert_eq!(line_end("a\r\nb"), Some(3));
        assert_eq!(line_end("a\rb"), Some(2));
        assert_eq!(line_end("a\r"), None, "a CR at the end may be half a CRLF");
        assert_eq!(line_end("a"), None);
    }

    #[test]
    fn a_reply_with_lone_cr_line_endings_is_split_like_one_with_lf() {
        let lf = "Some *text* in a paragraph.\n\n".repeat(2000);
        let pieces = streamed(&lf, 61).stable.len();
        assert!(pieces > 10, "{pieces} pieces");
        for text in [lf.replace('\n', "\r"), lf.replace('\n', "\r\n")] {
            let doc = streamed(&text, 61);
            assert!(!doc.plain, "shown as plain text");
            // CRLF makes each paragraph longer, so a little fewer per piece.
            assert!(doc.stable.len().abs_diff(pieces) * 10 <= pieces, "{}", doc.stable.len());
            assert_eq!(doc.nodes(), parse(&text));
        }
    }

    #[test]
    fn one_huge_line_becomes_plain_text() {
        let line = "word ".repeat(30_000);
        let doc = streamed(&line, 3_000);
        assert!(doc.plain);
        assert!(doc.stable.iter().chain([&doc.tail]).all(|piece| matches!(
            &piece[..],
            [Node::Element(Element { kind: Kind::PlainText, .. })]
        )));
    }
}
