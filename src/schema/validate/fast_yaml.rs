//! A fast parser for the plain block YAML that `kubectl get -o yaml` (go-yaml) writes, producing exactly what
//! serde_norway would, about ten times faster. Parsing is most of the cost of validating exported objects.
//!
//! It accepts a strict subset: block mappings and sequences indented with spaces, plain scalars on one line,
//! single- and double-quoted scalars on one line, literal block scalars (`|`, `|-`, `|+`), one-line flow
//! collections of scalars, and comments. For anything else (anchors, aliases, tags, folded or multi-line
//! scalars, complex keys, tabs, directives, malformed input) it returns `None`, and the caller parses the text
//! with serde_norway, which also produces the error message for bad input. Plain scalars resolve as serde_norway
//! resolves them (null, booleans, integers, floats, strings), so both paths give the same `Value`.

use serde_json::{Map, Number, Value};
use std::borrow::Cow;

/// Parses one YAML document, or returns `None` when the text is outside the subset (the caller falls back).
pub(crate) fn parse(text: &str) -> Option<Value> {
    parse_or_stop(text).ok()
}

/// [`parse`], or the index of the line where the subset ended.
fn parse_or_stop(text: &str) -> Result<Value, usize> {
    // Sized for the typical line of exported objects, so the vector rarely grows.
    let mut lines = Vec::with_capacity(text.len() / 24 + 1);
    lines.extend(text.lines());
    let mut parser = Parser { lines, next: 0, peeked: None, depth: 0 };
    let value = parser.document();
    value.ok_or(parser.next)
}

struct Parser<'a> {
    lines: Vec<&'a str>,
    next: usize,
    /// The last [`Parser::peek_content`] answer: it is asked several times per line.
    peeked: Option<(usize, Content<'a>)>,
    /// How many block collections enclose the one being read.
    depth: usize,
}

/// Nesting beyond this is left to serde_norway, which refuses it with a clear error (and the recursion here
/// stays far from the end of a worker's stack).
const MAX_DEPTH: usize = 100;

/// A line with content: its indentation and the text after it.
#[derive(Clone, Copy)]
struct Content<'a> {
    indent: usize,
    text: &'a str,
}

fn content_of(line: &str) -> Option<Content<'_>> {
    let text = line.trim_start_matches(' ');
    let indent = line.len() - text.len();
    let trimmed = text.trim_end();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    Some(Content { indent, text: trimmed })
}

impl<'a> Parser<'a> {
    fn document(&mut self) -> Option<Value> {
        self.skip_document_marker()?;
        let Some(first) = self.peek_content() else { return Some(Value::Null) };
        let value = self.block_node(first.indent)?;
        // Anything left that is not blank or a comment is outside the subset (or an error serde_norway reports).
        self.peek_content().is_none().then_some(value)
    }

    fn skip_document_marker(&mut self) -> Option<()> {
        while let Some(line) = self.lines.get(self.next) {
            if line.trim_end() == "---" {
                self.next += 1;
                return Some(());
            }
            if content_of(line).is_some() {
                // A directive, or `---` followed by content: outside the subset.
                return (!line.starts_with('%') && !line.starts_with("---")).then_some(());
            }
            self.next += 1;
        }
        Some(())
    }

    /// The next line with content, skipping blank lines and comments; tabs in indentation leave the subset.
    fn peek_content(&mut self) -> Option<Content<'a>> {
        if let Some((index, content)) = self.peeked {
            if index == self.next {
                return Some(content);
            }
        }
        while let Some(&line) = self.lines.get(self.next) {
            if let Some(content) = content_of(line) {
                self.peeked = Some((self.next, content));
                return Some(content);
            }
            self.next += 1;
        }
        None
    }

    /// A block node (a mapping or a sequence) whose first line is the next content line, at `indent`.
    fn block_node(&mut self, indent: usize) -> Option<Value> {
        let text = self.peek_content()?.text;
        if text.starts_with('\t') {
            return None;
        }
        if is_sequence_entry(text) {
            return self.nested(|parser| parser.sequence(indent));
        }
        let entry = split_key(text)?;
        self.nested(|parser| parser.mapping(indent, entry))
    }

    /// Reads one more level of block collections, refusing to go deeper than [`MAX_DEPTH`].
    fn nested(&mut self, read: impl FnOnce(&mut Self) -> Option<Value>) -> Option<Value> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let node = read(self);
        self.depth -= 1;
        node
    }

    /// A mapping at `indent` whose first entry (on the current line, perhaps after a sequence dash) is already
    /// split into its key and the rest of the line: each line is split once.
    fn mapping(&mut self, indent: usize, first: (Cow<'a, str>, &'a str)) -> Option<Value> {
        // Entries are collected and the map built at once: generated YAML lists keys in order, so building
        // from the sorted entries costs one comparison per key where inserting one by one searches the tree
        // (the later of two equal keys wins either way, as in serde_norway).
        let mut entries = Vec::new();
        let mut entry = Some(first);
        loop {
            let (key, rest) = match entry.take() {
                Some(entry) => entry,
                None => match self.peek_content() {
                    Some(line) if line.indent == indent && !is_sequence_entry(line.text) => split_key(line.text)?,
                    Some(line) if line.indent > indent => return None,
                    _ => break,
                },
            };
            self.next += 1;
            let value = self.value_after_indicator(rest, indent, true)?;
            entries.push((key.into_owned(), value));
        }
        Some(Value::Object(Map::from_iter(entries)))
    }

    fn sequence(&mut self, indent: usize) -> Option<Value> {
        let mut items = Vec::new();
        while let Some(line) = self.peek_content() {
            if line.indent != indent || !is_sequence_entry(line.text) {
                if line.indent > indent {
                    return None;
                }
                break;
            }
            let after_dash = &line.text[1..];
            let rest = after_dash.trim_start_matches(' ');
            if rest.starts_with('\t') {
                return None;
            }
            let entry = if rest.is_empty() || rest.starts_with('#') { None } else { split_key(rest) };
            if let Some(entry) = entry {
                // `- key: value`: a mapping whose indentation is the key's column.
                let column = indent + 1 + (after_dash.len() - rest.len());
                items.push(self.nested(|parser| parser.mapping(column, entry))?);
                continue;
            }
            self.next += 1;
            items.push(self.value_after_indicator(rest, indent, false)?);
        }
        Some(Value::Array(items))
    }

    /// The value after `key:` or `-`: inline on the line, or a block below it. `in_mapping` allows a sequence
    /// at the mapping's own indentation (`key:` followed by `- item`, as go-yaml writes it).
    fn value_after_indicator(&mut self, rest: &'a str, indent: usize, in_mapping: bool) -> Option<Value> {
        if rest.is_empty() || rest.starts_with('#') {
            return match self.peek_content() {
                Some(line) if line.indent > indent => self.block_node(line.indent),
                Some(line) if in_mapping && line.indent == indent && is_sequence_entry(line.text) => {
                    self.sequence(indent)
                }
                _ => Some(Value::Null),
            };
        }
        let value = match rest.as_bytes()[0] {
            b'|' => return self.literal_block(rest, indent),
            b'"' | b'\'' => return self.quoted(rest, indent),
            b'[' | b'{' => flow(rest)?,
            b'&' | b'*' | b'!' | b'>' | b'%' | b'@' | b'`' | b'?' | b',' | b']' | b'}' => return None,
            _ => return self.plain(rest, indent),
        };
        (!self.deeper_line_follows(indent)).then_some(value)
    }

    /// Whether the next content line is indented deeper than `indent` (it would continue the node just read).
    fn deeper_line_follows(&mut self, indent: usize) -> bool {
        self.peek_content().is_some_and(|line| line.indent > indent)
    }

    /// A plain scalar starting on the current line, with the continuation lines indented deeper than `indent`
    /// folded into it (a line break becomes a space, each blank line a newline).
    fn plain(&mut self, rest: &'a str, indent: usize) -> Option<Value> {
        let scan = scan_plain(rest);
        let first = rest[..scan.end].trim_end();
        let commented = scan.end < rest.len();
        let bytes = first.as_bytes();
        if matches!(bytes.first(), Some(b'-' | b':' | b'?')) && matches!(bytes.get(1), None | Some(b' ')) {
            return None;
        }
        if scan.colon_space || scan.tab || first.ends_with(':') {
            return None;
        }
        let mut text = Cow::Borrowed(first);
        let (mut line_index, mut breaks) = (self.next, 0);
        while let Some(&line) = self.lines.get(line_index) {
            // Usually the next line is a sibling or a parent's key: no continuation, decided without trimming.
            let spaces = indentation(line);
            if spaces <= indent && line.as_bytes().get(spaces).is_some_and(|&b| b > b' ' && b.is_ascii()) {
                break;
            }
            let trimmed = line.trim();
            if trimmed.is_empty() {
                breaks += 1;
                line_index += 1;
                continue;
            }
            if indentation(line) <= indent {
                break;
            }
            let scan = scan_plain(trimmed);
            let continues_plainly = !commented
                && scan.end == trimmed.len()
                && !scan.colon_space
                && !scan.tab
                && !trimmed.ends_with(':')
                && !trimmed.starts_with('#');
            if !continues_plainly {
                return None;
            }
            let folded = text.to_mut();
            if breaks == 0 {
                folded.push(' ');
            }
            (0..breaks).for_each(|_| folded.push('\n'));
            folded.push_str(trimmed);
            breaks = 0;
            line_index += 1;
            self.next = line_index;
        }
        resolve_plain(&text)
    }

    /// A single- or double-quoted scalar starting on the current line, possibly continued on lines indented
    /// deeper than `indent` (folded as YAML folds flow scalars).
    fn quoted(&mut self, rest: &'a str, indent: usize) -> Option<Value> {
        let double = rest.starts_with('"');
        let prefix = |text: &str| if double { double_quoted_prefix(text) } else { single_quoted_prefix(text) };
        let mut joined = Cow::Borrowed(rest);
        loop {
            if let Some((value, consumed)) = prefix(&joined) {
                let complete = only_comment_after(&joined[consumed..]) && !self.deeper_line_follows(indent);
                return complete.then_some(Value::String(value));
            }
            let line = *self.lines.get(self.next)?;
            if !line.trim().is_empty() && indentation(line) <= indent {
                return None;
            }
            self.next += 1;
            let text = joined.to_mut();
            text.push('\n');
            text.push_str(line);
        }
    }

    /// A literal block scalar (`|`, `|-`, `|+`) whose content is indented deeper than `indent`.
    fn literal_block(&mut self, header: &str, indent: usize) -> Option<Value> {
        let header = header[1..].split(" #").next().unwrap_or_default().trim_end();
        let chomp = match header {
            "" => Chomp::Clip,
            "-" => Chomp::Strip,
            "+" => Chomp::Keep,
            _ => return None,
        };
        let mut text = String::new();
        let mut content_indent = None;
        while let Some(&line) = self.lines.get(self.next) {
            let spaces = line.len() - line.trim_start_matches(' ').len();
            let blank = line.trim().is_empty();
            if blank {
                // Leading blank lines longer than the content's indentation make serde_norway complain.
                if content_indent.is_none() && spaces > indent + 1 {
                    return None;
                }
                text.push('\n');
                self.next += 1;
                continue;
            }
            if spaces <= indent || content_indent.is_some_and(|c| spaces < c) {
                break;
            }
            let content_indent = *content_indent.get_or_insert(spaces);
            text.push_str(&line[content_indent..]);
            text.push('\n');
            self.next += 1;
        }
        if content_indent.is_none() {
            // Only blank lines: the scalar is empty, whatever the chomping.
            return (chomp != Chomp::Keep || text.is_empty()).then(|| Value::String(String::new()));
        }
        match chomp {
            Chomp::Keep => {}
            Chomp::Clip => {
                let kept = text.trim_end_matches('\n').len();
                text.truncate(kept);
                text.push('\n');
            }
            Chomp::Strip => {
                let kept = text.trim_end_matches('\n').len();
                text.truncate(kept);
            }
        }
        Some(Value::String(text))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Chomp {
    Clip,
    Strip,
    Keep,
}

/// What one pass over a plain scalar's text finds: where a comment starts (or the end), and whether `: ` or
/// a tab occurs before it (both end or break a plain scalar).
struct PlainScan {
    end: usize,
    colon_space: bool,
    tab: bool,
}

fn scan_plain(text: &str) -> PlainScan {
    let bytes = text.as_bytes();
    let (mut colon_space, mut tab) = (false, false);
    for (index, &byte) in bytes.iter().enumerate() {
        match byte {
            b'#' if index > 0 && bytes[index - 1] == b' ' => return PlainScan { end: index - 1, colon_space, tab },
            b':' if bytes.get(index + 1) == Some(&b' ') => colon_space = true,
            b'\t' => tab = true,
            _ => {}
        }
    }
    PlainScan { end: bytes.len(), colon_space, tab }
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_sequence_entry(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Splits `key: rest` (or `key:`), for plain and quoted keys in the subset.
fn split_key(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let (key, after) = match text.as_bytes().first()? {
        b'"' => {
            let (key, consumed) = double_quoted_prefix(text)?;
            (Cow::Owned(key), &text[consumed..])
        }
        b'\'' => {
            let (key, consumed) = single_quoted_prefix(text)?;
            (Cow::Owned(key), &text[consumed..])
        }
        first if is_indicator(*first) => return None,
        _ => {
            let colon = find_mapping_colon(text)?;
            let key = text[..colon].trim_end();
            if key.is_empty() {
                return None;
            }
            (Cow::Borrowed(key), &text[colon..])
        }
    };
    let rest = after.strip_prefix(':')?;
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    Some((key, rest.trim_start_matches(' ')))
}

/// The first `:` followed by a space or the end of the line: where a plain key ends. `None` when there is none,
/// or when a comment (` #`) starts first.
fn find_mapping_colon(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    for (index, &byte) in bytes.iter().enumerate() {
        match byte {
            b':' if matches!(bytes.get(index + 1), None | Some(b' ')) => return Some(index),
            b'#' if index > 0 && bytes[index - 1] == b' ' => return None,
            _ => {}
        }
    }
    None
}

fn is_indicator(byte: u8) -> bool {
    matches!(
        byte,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'%'
            | b'@'
            | b'`'
            | b'\t'
    )
}

/// serde_norway's resolution of an untagged plain scalar: null, bool, integer, float, else string.
pub(crate) fn resolve_plain(text: &str) -> Option<Value> {
    if text.is_empty() || matches!(text, "~" | "null" | "Null" | "NULL") {
        return Some(Value::Null);
    }
    match text {
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    if let Some(number) = resolve_integer(text) {
        return number;
    }
    // Only text starting like a number (or `.inf`/`.nan`) can be a float; skip the parse for the rest.
    let numeric_start = text.as_bytes()[0].is_ascii_digit() || matches!(text.as_bytes()[0], b'.' | b'+' | b'-');
    if numeric_start && !has_leading_zero_digits(text) {
        if let Some(float) = resolve_float(text) {
            return Some(Number::from_f64(float).map_or(Value::Null, Value::Number));
        }
    }
    Some(Value::String(text.to_owned()))
}

/// `Some(Some(n))` for an integer serde_json can hold, `Some(None)` for one it cannot (fall back: serde_norway
/// decides), `None` when the text is not an integer.
fn resolve_integer(text: &str) -> Option<Option<Value>> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, body) = if let Some(hex) = digits.strip_prefix("0x") {
        (16, hex)
    } else if let Some(octal) = digits.strip_prefix("0o") {
        (8, octal)
    } else if let Some(binary) = digits.strip_prefix("0b") {
        (2, binary)
    } else {
        (10, digits)
    };
    if body.is_empty() || body.starts_with(['+', '-']) || !body.bytes().all(|b| (b as char).is_digit(radix)) {
        return None;
    }
    if radix == 10 && has_leading_zero_digits(text) {
        return None;
    }
    let magnitude = u128::from_str_radix(body, radix).ok()?;
    let value = if negative {
        i64::try_from(-(magnitude as i128)).ok().map(Value::from)
    } else {
        u64::try_from(magnitude).ok().map(Value::from)
    };
    Some(value)
}

/// YAML 1.2: a leading zero followed by digits is a string, not a number.
fn has_leading_zero_digits(text: &str) -> bool {
    let text = text.strip_prefix(['-', '+']).unwrap_or(text);
    text.len() > 1 && text.starts_with('0') && text[1..].bytes().all(|b| b.is_ascii_digit())
}

fn resolve_float(text: &str) -> Option<f64> {
    let unsigned = match text.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => text,
    };
    match unsigned {
        ".inf" | ".Inf" | ".INF" => return Some(f64::INFINITY),
        _ => {}
    }
    match text {
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    unsigned.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Whether nothing but an optional comment follows (YAML needs a space before the `#`).
fn only_comment_after(rest: &str) -> bool {
    let trimmed = rest.trim_start_matches(' ');
    trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < rest.len())
}

/// A double-quoted scalar at the start of `text`: its value and the bytes it spans. Line breaks inside fold as
/// YAML folds them; an escaped line break joins the lines.
fn double_quoted_prefix(text: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    // The length of `out` without trailing unescaped whitespace, which a line break removes.
    let mut kept = 0;
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((out, index + 1)),
            '\n' => {
                out.truncate(kept);
                fold_line_break(&mut out, &mut chars);
                kept = out.len();
            }
            '\\' => {
                let (_, escape) = chars.next()?;
                if escape == '\n' {
                    skip_blanks(&mut chars);
                    if matches!(chars.peek(), Some((_, '\n'))) {
                        return None;
                    }
                    continue;
                }
                out.push(unescape(escape, &mut chars)?);
                kept = out.len();
            }
            ' ' | '\t' => out.push(c),
            other => {
                out.push(other);
                kept = out.len();
            }
        }
    }
    None
}

type Chars<'t> = std::iter::Peekable<std::iter::Skip<std::str::CharIndices<'t>>>;

fn skip_blanks(chars: &mut Chars<'_>) {
    while matches!(chars.peek(), Some((_, ' ' | '\t'))) {
        chars.next();
    }
}

/// Folds a line break inside a flow scalar: one break becomes a space, each further (empty) line a newline;
/// the next line's leading whitespace is dropped.
fn fold_line_break(out: &mut String, chars: &mut Chars<'_>) {
    let mut empty_lines = 0;
    loop {
        skip_blanks(chars);
        if !matches!(chars.peek(), Some((_, '\n'))) {
            break;
        }
        chars.next();
        empty_lines += 1;
    }
    if empty_lines == 0 {
        out.push(' ');
    }
    (0..empty_lines).for_each(|_| out.push('\n'));
}

fn unescape(escape: char, chars: &mut Chars<'_>) -> Option<char> {
    Some(match escape {
        '0' => '\0',
        'a' => '\u{07}',
        'b' => '\u{08}',
        't' | '\t' => '\t',
        'n' => '\n',
        'v' => '\u{0b}',
        'f' => '\u{0c}',
        'r' => '\r',
        'e' => '\u{1b}',
        ' ' => ' ',
        '"' => '"',
        '/' => '/',
        '\\' => '\\',
        'N' => '\u{85}',
        '_' => '\u{a0}',
        'L' => '\u{2028}',
        'P' => '\u{2029}',
        'x' | 'u' | 'U' => {
            let width = match escape {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let mut code = 0u32;
            for _ in 0..width {
                code = code * 16 + chars.next()?.1.to_digit(16)?;
            }
            char::from_u32(code)?
        }
        _ => return None,
    })
}

/// A single-quoted scalar at the start of `text` (`''` is a quote), with line breaks folded.
fn single_quoted_prefix(text: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut kept = 0;
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((index, c)) = chars.next() {
        match c {
            '\'' if matches!(chars.peek(), Some((_, '\''))) => {
                chars.next();
                out.push('\'');
                kept = out.len();
            }
            '\'' => return Some((out, index + 1)),
            '\n' => {
                out.truncate(kept);
                fold_line_break(&mut out, &mut chars);
                kept = out.len();
            }
            ' ' | '\t' => out.push(c),
            other => {
                out.push(other);
                kept = out.len();
            }
        }
    }
    None
}

/// A one-line flow collection of scalars: `[]`, `{}`, `[a, "b"]`, `{a: 1, b: x}`.
fn flow(text: &str) -> Option<Value> {
    let (open, close) = if text.starts_with('[') { ('[', ']') } else { ('{', '}') };
    let end = text.rfind(close)?;
    if !only_comment_after(&text[end + 1..]) {
        return None;
    }
    let inner = text[1..end].trim();
    if inner.contains(['[', ']', '{', '}', '&', '*', '!', '#']) {
        return None;
    }
    let entries: Vec<&str> = if inner.is_empty() { Vec::new() } else { split_flow_entries(inner)? };
    if open == '[' {
        entries.into_iter().map(flow_scalar).collect::<Option<Vec<_>>>().map(Value::Array)
    } else {
        let mut map = Map::new();
        for entry in entries {
            let (key, value) = split_key(entry)?;
            map.insert(key.into_owned(), if value.is_empty() { Value::Null } else { flow_scalar(value)? });
        }
        Some(Value::Object(map))
    }
}

/// Splits flow entries at commas outside quotes; a trailing comma or an empty entry leaves the subset.
fn split_flow_entries(inner: &str) -> Option<Vec<&str>> {
    let mut entries = Vec::new();
    let mut start = 0;
    let mut quote = None;
    for (index, c) in inner.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => {
                entries.push(inner[start..index].trim());
                start = index + 1;
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return None;
    }
    entries.push(inner[start..].trim());
    entries.iter().all(|e| !e.is_empty()).then_some(entries)
}

fn flow_scalar(text: &str) -> Option<Value> {
    match text.as_bytes().first()? {
        b'"' => {
            let (value, consumed) = double_quoted_prefix(text)?;
            (consumed == text.len()).then_some(Value::String(value))
        }
        b'\'' => {
            let (value, consumed) = single_quoted_prefix(text)?;
            (consumed == text.len()).then_some(Value::String(value))
        }
        first if is_indicator(*first) => None,
        _ if text.contains(": ") || text.ends_with(':') => None,
        _ => resolve_plain(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn slow(text: &str) -> Value {
        match serde_norway::from_str::<Value>(text) {
            Ok(value) => value,
            Err(error) => panic!("serde_norway rejects {text:?}: {error}"),
        }
    }

    /// The fast path either declines or agrees with serde_norway.
    fn agrees(text: &str) -> bool {
        match parse(text) {
            Some(fast) => {
                assert_eq!(fast, slow(text), "for {text:?}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn kubectl_style_documents_are_parsed_exactly() {
        let text = "---\napiVersion: v1\nkind: Thing\nmetadata:\n  name: a # trailing comment\n  labels:\n    \"app.kubernetes.io/name\": x\n  annotations: {}\nspec:\n  list:\n  - a\n  - 'it''s'\n  - \"tab\\there \\u00e9\"\n  - key: 1\n    other: -2.5\n  -\n    nested: true\n  empty:\n  flow: [a, \"b c\", 3]\n  map: {a: 1, b: null}\n  script: |\n    #!/bin/sh\n\n    echo hi\n  stripped: |-\n    x\n  kept: |+\n    y\n\n  numbers: [0x1F, 0o17, 012, +5, 1e3, .inf, ~, 1_000, 18446744073709551615]\n  words: [yes, No, on, TRUE, False]\n";
        assert!(agrees(text), "the fast path should handle {text}");
    }

    #[test]
    fn anything_outside_the_subset_falls_back() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: >\n  folded\n",
            "a: plain # comment\n  continued\n",
            "a: plain\n  continued: no\n",
            "? complex\n: key\n",
            "a:\n\t- tab\n",
            "- - nested\n",
            "a: [nested, [x]]\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: b: c\n",
            "just a scalar\n",
            "a: 1\n b: 2\n",
            "a: 99999999999999999999999\n",
        ] {
            assert!(parse(text).is_none(), "{text:?} should fall back");
        }
    }

    #[test]
    fn multi_line_scalars_fold_like_serde_norway() {
        for text in [
            "a: plain text\n  continued here\n\n  after a blank\nb: 1\n",
            "- item text\n  continued\n- next\n",
            "a: \"double quoted\n  continued \\\n  joined\n\n  para\"\nb: 2\n",
            "a: 'single ''quoted''\n    continued'  # comment\n",
            "a: plain\n  `code`, - dash, [brackets]\n",
        ] {
            assert!(agrees(text), "{text:?} should be handled");
        }
    }

    #[test]
    fn duplicate_and_odd_keys_match_serde_norway() {
        for text in ["a: 1\na: 2\n", "1: one\ntrue: yes\n~: null\n", "\"quoted key\": 1\n'single': 2\n"] {
            match serde_norway::from_str::<Value>(text) {
                Ok(expected) => assert_eq!(parse(text), Some(expected), "{text:?}"),
                Err(_) => assert!(parse(text).is_none(), "{text:?} is an error for serde_norway"),
            }
        }
    }

    #[test]
    fn deep_nesting_is_left_to_serde_norway() {
        let deep: String = (0..150).map(|level| format!("{}k{level}:\n", " ".repeat(level))).collect();
        assert!(parse(&deep).is_none());
        let shallow: String = (0..20).map(|level| format!("{}k{level}:\n", " ".repeat(level))).collect();
        assert!(agrees(&shallow));
    }

    #[test]
    fn empty_documents_are_null() {
        assert_eq!(parse("---\n# only a comment\n"), Some(Value::Null));
        assert_eq!(parse(""), Some(Value::Null));
    }

    #[test]
    fn block_scalars_follow_chomping_and_indentation() {
        for text in [
            "a: |\n  one\n  two\n\n\nb: 1\n",
            "a: |-\n  one\n\nb: 1\n",
            "a: |+\n  one\n\n\nb: 1\n",
            "a: |\n    deeper\n  shallower\n",
            "- |\n  item\n- x\n",
            "a: |\n\n  after blank\n",
            "a: |\nb: 1\n",
        ] {
            match parse(text) {
                Some(fast) => assert_eq!(fast, slow(text), "for {text:?}"),
                None => assert!(serde_norway::from_str::<Value>(text).is_err() || text.contains("deeper"), "{text:?}"),
            }
        }
    }

    #[test]
    fn scalars_resolve_like_serde_norway() {
        for scalar in [
            "0",
            "-0",
            "+1",
            "-9223372036854775808",
            "9223372036854775808",
            "0x10",
            "-0x10",
            "0o7",
            "0b101",
            "00",
            "0.5",
            "-.5",
            "+.5",
            "5.",
            "1e-3",
            "1E3",
            "-.inf",
            ".NaN",
            "nan",
            "inf",
            "1_0",
            "0x",
            "+-1",
            "12abc",
            "~",
            "Null",
            "true",
            "TRUE",
            "tRue",
            "yes",
            "2024-01-01",
            "1.2.3",
            "-",
            ".",
            "0xGG",
        ] {
            let text = format!("v: {scalar}\n");
            match parse(&text) {
                Some(fast) => {
                    let expected = serde_norway::Deserializer::from_str(&text).next().map(Value::deserialize);
                    let expected = match expected {
                        Some(Ok(value)) => value,
                        other => panic!("serde_norway on {scalar}: {other:?}"),
                    };
                    assert_eq!(fast, expected, "scalar {scalar}");
                }
                None => assert!(matches!(scalar, "-"), "{scalar} should be handled"),
            }
        }
    }

    /// Every document of the corpus (CRDs: deep, long, full of block scalars and quoting): where the fast path
    /// parses a document, it agrees with serde_norway.
    #[test]
    fn agrees_with_serde_norway_on_every_corpus_document() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/crds");
        if !corpus.is_dir() {
            println!("skipping: {} not found", corpus.display());
            return;
        }
        let (mut parsed, mut declined) = (0, 0);
        let mut stack = vec![corpus];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "yaml") {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else { continue };
                for document in text.split("\n---") {
                    let Ok(expected) = serde_norway::from_str::<Value>(document) else { continue };
                    match parse(document) {
                        Some(fast) => {
                            assert!(fast == expected, "{}: fast path differs on a document", path.display());
                            parsed += 1;
                        }
                        None => {
                            declined += 1;
                            if declined <= 12 {
                                let stop = parse_or_stop(document).err().unwrap_or_default();
                                let line = document.lines().nth(stop).unwrap_or_default();
                                println!("declined {}: line {stop}: {line:?}", path.display());
                            }
                        }
                    }
                }
            }
        }
        println!("fast path parsed {parsed} corpus documents, declined {declined}");
        assert!(parsed > declined, "the fast path should handle most generated YAML ({parsed} vs {declined})");
    }

    mod roundtrip {
        use super::*;
        use proptest::prelude::*;

        fn scalar() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                (-1e6f64..1e6).prop_map(Value::from),
                "[ -~]{0,12}".prop_map(Value::String),
                "[a-z0-9 :#'\"\\-\\n]{0,12}".prop_map(Value::String),
            ]
        }

        fn value() -> impl Strategy<Value = Value> {
            scalar().prop_recursive(4, 40, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    prop::collection::btree_map("[a-zA-Z0-9_./-]{1,8}", inner, 0..5)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            /// Whatever serde_norway writes, the fast path reads back the same or declines.
            #[test]
            fn reads_what_serde_norway_writes(root in prop::collection::btree_map("[a-z]{1,6}", value(), 1..6)) {
                let root = Value::Object(root.into_iter().collect());
                let text = serde_norway::to_string(&root).unwrap_or_default();
                if let Some(fast) = parse(&text) {
                    prop_assert_eq!(fast, slow(&text), "text: {}", text);
                }
            }
        }
    }
}
