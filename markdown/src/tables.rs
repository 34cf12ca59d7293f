//! Keeps a GFM table from growing faster than its text.
//!
//! GFM pads every row of a table to the header's width, so 2,000 header
//! columns over 2,000 one-character rows (12 KB of text) would make four
//! million cells. Before parsing, this scan counts the cells each table's
//! rows would be padded with; once the padding outgrows the table's own
//! bytes, it inserts a blank line, which ends the table there. The rest of
//! its rows are then shown as the text they are. A table therefore holds at
//! most about twice as many cells as it has bytes; ordinary tables, whose
//! rows are about as wide as their header, are never touched.
//!
//! The scan reads each line once: linear in the text.

use std::borrow::Cow;

/// The most columns a table may have. A reply needs far fewer; a header of
/// thousands of cells is only there to make the page slow.
pub const MAX_COLUMNS: usize = 64;

/// `markdown`, with a blank line before the row at which any table's
/// padding would pass its size, and between the header and the delimiter
/// row of a table wider than [`MAX_COLUMNS`].
pub(super) fn bound_padding(markdown: &str) -> Cow<'_, str> {
    let mut bounded = String::new();
    let mut copied = 0;
    let mut table: Option<OpenTable> = None;
    let mut previous: Option<&str> = None;
    let mut offset = 0;
    for line in lines(markdown) {
        let start = offset;
        offset += line.len();
        let body = container_body(line);
        if body.is_empty() {
            table = None;
            previous = None;
            continue;
        }
        if let Some(open) = &mut table {
            open.bytes += line.len();
            open.padding += open.columns.saturating_sub(unescaped_pipes(body) + 1);
            if open.padding <= open.bytes {
                continue;
            }
            copied = blank_line_before(&mut bounded, markdown, copied, start);
            table = None;
        } else if let (Some(header), Some(columns)) = (previous, delimiter_columns(body)) {
            if columns > MAX_COLUMNS {
                // No table at all: a blank line keeps header and delimiter
                // row apart, and both are shown as the text they are.
                copied = blank_line_before(&mut bounded, markdown, copied, start);
                previous = Some(line);
                continue;
            }
            table = Some(OpenTable { columns, bytes: header.len() + line.len(), padding: 0 });
        }
        previous = Some(line);
    }
    if copied == 0 {
        return Cow::Borrowed(markdown);
    }
    bounded.push_str(&markdown[copied..]);
    Cow::Owned(bounded)
}

/// Copies `markdown[copied..at]` to `bounded` and adds a blank line;
/// returns `at`, where copying goes on.
fn blank_line_before(bounded: &mut String, markdown: &str, copied: usize, at: usize) -> usize {
    bounded.push_str(&markdown[copied..at]);
    // After a lone CR, an LF would only complete a CRLF.
    bounded.push(if markdown[..at].ends_with('\r') { '\r' } else { '\n' });
    at
}

/// The lines of `text` with their endings, which are LF, CRLF or a lone CR
/// as in CommonMark. (Splitting at LF alone once let a table whose delimiter
/// row ended in a lone CR go uncounted; the fuzzer found it.)
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start == bytes.len() {
            return None;
        }
        let mut end = start;
        while end < bytes.len() && !matches!(bytes[end], b'\n' | b'\r') {
            end += 1;
        }
        if end < bytes.len() {
            end += if bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n') { 2 } else { 1 };
        }
        let line = &text[start..end];
        start = end;
        Some(line)
    })
}

struct OpenTable {
    /// The header's width, which every row is padded to.
    columns: usize,
    /// The table's text so far.
    bytes: usize,
    /// The empty cells its rows so far would be padded with, at least.
    padding: usize,
}

/// A line without the quote markers and indentation of its containers.
fn container_body(line: &str) -> &str {
    line.trim_start_matches([' ', '\t', '>']).trim_end()
}

fn unescaped_pipes(body: &str) -> usize {
    let mut escaped = false;
    let mut pipes = 0;
    for byte in body.bytes() {
        pipes += usize::from(byte == b'|' && !escaped);
        escaped = byte == b'\\' && !escaped;
    }
    pipes
}

/// The number of columns if `body` is a table's delimiter row (`|--|:-:|`).
fn delimiter_columns(body: &str) -> Option<usize> {
    if !body.contains('|') || !body.bytes().all(|b| matches!(b, b'|' | b'-' | b':' | b' ' | b'\t'))
    {
        return None;
    }
    let inner = body.strip_prefix('|').unwrap_or(body);
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut columns = 0;
    for cell in inner.split('|') {
        let dashes = cell.trim().trim_start_matches(':').trim_end_matches(':');
        if dashes.is_empty() || !dashes.bytes().all(|b| b == b'-') {
            return None;
        }
        columns += 1;
    }
    Some(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_tables_are_left_alone() {
        let table = "| a | b |\n|:--|--:|\n| 1 | 2 |\n| 3 |\n\n> | q | r |\n> |---|---|\n> | 1 |\n";
        assert!(matches!(bound_padding(table), Cow::Borrowed(_)));
    }

    #[test]
    fn a_table_ends_where_its_padding_passes_its_text() {
        let columns = 60;
        let header = "|a".repeat(columns) + "|\n" + &"|-".repeat(columns) + "|\n";
        let table = header.clone() + &"|x\n".repeat(1000);
        let bounded = bound_padding(&table);
        let cut = bounded.find("\n\n").expect("a blank line ends the table") + 1;
        // Each row adds 3 bytes and 58 padded cells: the budget of the
        // header's 244 bytes lasts a few rows.
        let rows = bounded[header.len()..cut].lines().count();
        assert!((3..=6).contains(&rows), "{rows} rows kept");
        assert_eq!(bounded.replacen("\n\n", "\n", 1), table, "only a blank line was added");
    }

    #[test]
    fn lines_end_at_lf_crlf_and_a_lone_cr() {
        assert_eq!(lines("a\nb\r\nc\rd").collect::<Vec<_>>(), ["a\n", "b\r\n", "c\r", "d"]);
        assert_eq!(lines("").count(), 0);
    }

    #[test]
    fn a_table_whose_rows_end_in_lone_crs_is_bounded_too() {
        let table = "|a".repeat(110) + "|\r" + &"|-".repeat(110) + "|\r" + &"|x\r".repeat(300);
        let (count, _) = crate::measure(&crate::parse(&table));
        assert!(count <= 4 * table.len(), "{count} nodes for {} bytes", table.len());
    }

    #[test]
    fn a_header_wider_than_its_delimiter_row_is_bounded_too() {
        let table = "|a".repeat(1_000) + "|\n" + &"|-".repeat(200) + "|\n" + &"|x\n".repeat(300);
        let nodes = crate::parse(&table);
        let (count, _) = crate::measure(&nodes);
        assert!(count <= 4 * table.len(), "{count} nodes for {} bytes", table.len());
    }

    #[test]
    fn a_table_wider_than_the_limit_is_text() {
        let wide =
            |columns: usize| "|a".repeat(columns) + "|\n" + &"|-".repeat(columns) + "|\n|x|\n";
        let kinds = |text: &str| match &crate::parse(text)[..] {
            [crate::Node::Element(first), ..] => first.kind.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(kinds(&wide(MAX_COLUMNS)), crate::Kind::Table);
        assert_eq!(kinds(&wide(MAX_COLUMNS + 1)), crate::Kind::Paragraph);
    }

    #[test]
    fn delimiter_rows() {
        assert_eq!(delimiter_columns("|---|:-:|--:|"), Some(3));
        assert_eq!(delimiter_columns("--|--"), Some(2));
        assert_eq!(delimiter_columns("|-|"), Some(1));
        assert_eq!(delimiter_columns("---"), None, "a rule, not a table");
        assert_eq!(delimiter_columns("|-x-|"), None);
        assert_eq!(delimiter_columns("| |"), None);
    }
}
