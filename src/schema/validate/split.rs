//! Splitting YAML text, line by line, into documents and the items of `List` documents, without parsing it.
//!
//! A line starting with `---` (or `...`) always delimits documents in YAML, so documents are cut there. A
//! document whose top level says it is a `List` (`apiVersion: v1`, as kubectl writes it, or a `kind` ending in
//! `List` before `items:`) has its top-level `items:` sequence cut into one piece per item, dedented, so that
//! one huge `List` is never held whole. Anything the splitter does not recognise stays in its document.

use super::stream::{Batcher, Origin, ReadResult, Unit};
use crate::manifest::input::open_regular;
use crate::manifest::LoadError;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// How much of a file is read at once.
const BLOCK: usize = 1 << 20;

/// Reads a YAML file in large blocks and splits it into units for the workers. Only whole lines are handed to
/// the splitter, so UTF-8 is checked once per block and no character is cut.
pub(super) fn read_yaml(file_index: usize, file: &Path, batcher: &mut Batcher<'_>) -> ReadResult {
    let failure = |document: usize, error: LoadError| Box::new(((file_index, document, 0), error));
    let io_failure = |document: usize, cause| failure(document, LoadError::Io { path: file.to_owned(), cause });
    let (mut reader, _) = open_regular(file, "objects file").map_err(|e| failure(0, LoadError::from(e)))?;
    let mut splitter = YamlSplitter::new(file_index, Arc::from(file));
    let mut block = vec![0u8; BLOCK];
    // The start of a line whose end is in a later block.
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let read = match reader.read(&mut block) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(io_failure(splitter.document, source)),
        };
        let chunk = &block[..read];
        let Some(last_newline) = chunk.iter().rposition(|&b| b == b'\n') else {
            partial.extend_from_slice(chunk);
            continue;
        };
        let whole_lines = if partial.is_empty() {
            splitter.lines(&chunk[..=last_newline], batcher)
        } else {
            partial.extend_from_slice(&chunk[..=last_newline]);
            let result = splitter.lines(&partial, batcher);
            partial.clear();
            result
        };
        whole_lines.map_err(|error| failure(splitter.document, error))?;
        partial.extend_from_slice(&chunk[last_newline + 1..]);
        if batcher.aborted() {
            return Ok(());
        }
    }
    if !partial.is_empty() {
        splitter.lines(&partial, batcher).map_err(|error| failure(splitter.document, error))?;
    }
    splitter.finish(&mut |unit| batcher.push(unit));
    Ok(())
}

/// Splits YAML text, line by line, into documents and `List` items.
pub(super) struct YamlSplitter {
    file_index: usize,
    file: Arc<Path>,
    /// The number of the last line seen.
    line_no: usize,
    /// The number of the current (or last) document.
    document: usize,
    /// Whether a document is open (text seen since its start).
    open: bool,
    /// The open document's text; for a streamed `List`, its fields other than `items`.
    text: String,
    text_line: usize,
    has_content: bool,
    /// `apiVersion: v1` or `kind: ...List` seen at the top level of the open document: a `List`.
    list_like: bool,
    items: Option<ItemStream>,
}

/// The state of streaming the top-level `items:` sequence of a `List` document.
struct ItemStream {
    /// The `items:` line, kept until the first item confirms a sequence follows.
    pending_key: Option<String>,
    /// The column of the items' `-`.
    indent: Option<usize>,
    /// The column item content starts at, once known.
    content_column: Option<usize>,
    text: String,
    start_line: usize,
    /// Index of the item being collected (`None` before the first).
    index: Option<usize>,
}

/// The end of the run of lines starting at `text` that begin with a space or are empty (`text` begins with one).
fn indented_run_end(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut end = 0;
    while let Some(newline) = text[end..].find('\n') {
        end += newline + 1;
        if !matches!(bytes.get(end), Some(b' ' | b'\n' | b'\r')) {
            return end;
        }
    }
    text.len()
}

fn is_document_marker(line: &str) -> bool {
    line == "---" || line.starts_with("--- ") || line.starts_with("---\t")
}

fn is_document_end(line: &str) -> bool {
    line == "..." || line.starts_with("... ")
}

fn is_blank_or_comment(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.is_empty() || trimmed.starts_with('#')
}

/// The capacity for the next piece's text, given the last one's length: the next is likely about as long, and
/// sized so it is built without growing (and copying) again; never more than a block, whatever the last was.
fn next_capacity(last: usize) -> usize {
    (last + last / 8).min(BLOCK)
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The value of a top-level `key: value` line, unquoted and without a trailing comment.
fn top_level_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(key)?.strip_prefix(':')?;
    let value = rest.split(" #").next().unwrap_or_default().trim();
    Some(value.trim_matches(|c| c == '"' || c == '\''))
}

impl YamlSplitter {
    pub(super) fn new(file_index: usize, file: Arc<Path>) -> YamlSplitter {
        YamlSplitter {
            file_index,
            file,
            line_no: 0,
            document: 0,
            open: false,
            text: String::new(),
            text_line: 1,
            has_content: false,
            list_like: false,
            items: None,
        }
    }

    /// Feeds whole lines of the file (UTF-8 checked here) to [`YamlSplitter::line`].
    fn lines(&mut self, bytes: &[u8], batcher: &mut Batcher<'_>) -> Result<(), LoadError> {
        let text = std::str::from_utf8(bytes).map_err(|error| {
            let valid = &bytes[..error.valid_up_to()];
            LoadError::Syntax {
                file: self.file.to_path_buf(),
                document: self.document.max(1),
                line: self.line_no + 1 + valid.iter().filter(|&&b| b == b'\n').count(),
                column: 1,
                message: "the file is not valid UTF-8".to_owned(),
            }
        })?;
        self.feed(text, &mut |unit| batcher.push(unit));
        Ok(())
    }

    /// Splits whole lines of text. Runs of indented lines inside a document need no decision and are copied
    /// at once: only unindented lines (markers, top-level keys) and `List` items are looked at one by one.
    pub(super) fn feed(&mut self, text: &str, emit: &mut dyn FnMut(Unit)) {
        let mut rest = text;
        while !rest.is_empty() {
            if self.open && self.items.is_none() && rest.starts_with(' ') {
                let end = indented_run_end(rest);
                let run = &rest[..end];
                self.text.push_str(run);
                if !run.ends_with('\n') {
                    self.text.push('\n');
                }
                self.line_no += run.bytes().filter(|&b| b == b'\n').count() + usize::from(!run.ends_with('\n'));
                // A run of comments would not need emitting, but an emitted comment-only document parses as
                // nothing, so checking each line is not worth it.
                self.has_content = true;
                rest = &rest[end..];
                continue;
            }
            let end = rest.find('\n').map_or(rest.len(), |newline| newline + 1);
            self.line(&rest[..end], emit);
            rest = &rest[end..];
        }
    }

    fn origin(&self, line: usize, item: Option<usize>, column_shift: usize) -> Origin {
        Origin {
            file_index: self.file_index,
            file: self.file.clone(),
            document: self.document,
            line,
            item,
            column_shift,
        }
    }

    pub(super) fn line(&mut self, line: &str, emit: &mut dyn FnMut(Unit)) {
        self.line_no += 1;
        let bare = line.trim_end_matches(['\n', '\r']);
        if is_document_marker(bare) {
            self.end_document(emit);
            self.open_document();
            self.has_content = bare.len() > 3 && !is_blank_or_comment(&bare[3..]);
            self.text.push_str(bare);
            self.text.push('\n');
            return;
        }
        if is_document_end(bare) {
            self.end_document(emit);
            return;
        }
        if self.items.is_some() {
            self.item_line(bare, emit);
        } else if self.open && bare.starts_with(' ') {
            // Indented lines of an open document need no decision: most lines take this path.
            self.has_content |= !is_blank_or_comment(bare);
            self.text.push_str(bare);
            self.text.push('\n');
        } else {
            self.document_line(bare);
        }
    }

    fn open_document(&mut self) {
        self.document += 1;
        self.open = true;
        self.text_line = self.line_no;
        self.has_content = false;
        self.list_like = false;
    }

    fn document_line(&mut self, bare: &str) {
        let content = !is_blank_or_comment(bare);
        if !self.open {
            if !content {
                return;
            }
            self.open_document();
        }
        // Only unindented lines can be top-level keys (most lines of a document are indented).
        if content && !bare.starts_with(' ') {
            self.has_content = true;
            if top_level_value(bare, "apiVersion") == Some("v1")
                || top_level_value(bare, "kind").is_some_and(|kind| kind.ends_with("List"))
            {
                self.list_like = true;
            }
            if self.list_like && top_level_value(bare, "items") == Some("") {
                let pending_key = Some(format!("{bare}\n"));
                self.items = Some(ItemStream {
                    pending_key,
                    indent: None,
                    content_column: None,
                    text: String::new(),
                    start_line: 0,
                    index: None,
                });
                return;
            }
        } else if content {
            self.has_content = true;
        }
        self.text.push_str(bare);
        self.text.push('\n');
    }

    fn item_line(&mut self, bare: &str, emit: &mut dyn FnMut(Unit)) {
        let Some(stream) = self.items.as_mut() else { return };
        let indent = indentation(bare);
        let starts_item = |column: usize| {
            indent == column
                && bare[column..].starts_with('-')
                && matches!(bare.as_bytes().get(column + 1), None | Some(b' '))
        };
        match stream.indent {
            None if is_blank_or_comment(bare) => {
                self.text.push('\n');
            }
            None if starts_item(indent) => {
                stream.indent = Some(indent);
                self.text.push_str("items: []\n");
                stream.pending_key = None;
                self.start_item(bare, indent, emit);
            }
            None => {
                // `items:` is not followed by a sequence: read the document whole after all.
                let pending = stream.pending_key.take().unwrap_or_default();
                self.text.push_str(&pending);
                self.items = None;
                self.document_line(bare);
            }
            Some(column) if starts_item(column) => self.start_item(bare, column, emit),
            Some(column) if indent > column || bare.trim().is_empty() => {
                let content_column = *stream.content_column.get_or_insert(indent);
                let strip = indent.min(content_column);
                stream.text.push_str(&bare[strip..]);
                stream.text.push('\n');
            }
            Some(_) if is_blank_or_comment(bare) => stream.text.push('\n'),
            Some(_) => {
                self.end_items(emit);
                self.document_line(bare);
            }
        }
    }

    fn start_item(&mut self, bare: &str, column: usize, emit: &mut dyn FnMut(Unit)) {
        self.emit_item(emit);
        let line_no = self.line_no;
        let Some(stream) = self.items.as_mut() else { return };
        stream.index = Some(stream.index.map_or(0, |index| index + 1));
        stream.start_line = line_no;
        stream.text.clear();
        let after_dash = &bare[column + 1..];
        if after_dash.trim().is_empty() {
            stream.content_column = None;
        } else {
            let content_column = column + 1 + indentation(after_dash);
            stream.content_column = Some(content_column);
            stream.text.push_str(&bare[content_column..]);
        }
        stream.text.push('\n');
    }

    fn emit_item(&mut self, emit: &mut dyn FnMut(Unit)) {
        let Some(stream) = self.items.as_mut() else { return };
        let Some(index) = stream.index else { return };
        let next = String::with_capacity(next_capacity(stream.text.len()));
        let text = std::mem::replace(&mut stream.text, next);
        let (start_line, shift) = (stream.start_line, stream.content_column.unwrap_or(0));
        emit(Unit::Yaml { text, origin: self.origin(start_line, Some(index), shift) });
    }

    fn end_items(&mut self, emit: &mut dyn FnMut(Unit)) {
        self.emit_item(emit);
        if let Some(stream) = self.items.take() {
            if let Some(pending) = stream.pending_key {
                self.text.push_str(&pending);
            }
        }
    }

    fn end_document(&mut self, emit: &mut dyn FnMut(Unit)) {
        self.end_items(emit);
        let next = String::with_capacity(next_capacity(self.text.len()));
        let text = std::mem::replace(&mut self.text, next);
        if self.open && self.has_content {
            emit(Unit::Yaml { text, origin: self.origin(self.text_line, None, 0) });
        }
        self.open = false;
        self.has_content = false;
        self.list_like = false;
    }

    pub(super) fn finish(&mut self, emit: &mut dyn FnMut(Unit)) {
        self.end_document(emit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<(String, usize, usize, Option<usize>)> {
        let mut splitter = YamlSplitter::new(0, Arc::from(Path::new("t.yaml")));
        let mut units = Vec::new();
        let mut emit = |unit: Unit| {
            if let Unit::Yaml { text, origin } = unit {
                units.push((text, origin.document, origin.line, origin.item));
            }
        };
        splitter.feed(text, &mut emit);
        splitter.finish(&mut emit);
        units
    }

    #[test]
    fn documents_are_split_at_markers_and_numbered_like_the_loader() {
        let units = split("# c\n---\na: 1\n---\n---\nb: 2\n...\nc: 3\n");
        let summary: Vec<(usize, usize)> = units.iter().map(|u| (u.1, u.2)).collect();
        assert_eq!(summary, [(1, 2), (3, 5), (4, 8)]);
        assert_eq!(units[0].0, "---\na: 1\n");
    }

    #[test]
    fn list_items_are_streamed_one_by_one_with_their_lines() {
        let text = "apiVersion: v1\nitems:\n- apiVersion: a/v1\n  kind: K\n  spec:\n    x: |\n      # not a comment\n      line\n-   apiVersion: a/v1\n    kind: K\nkind: List\nmetadata: {}\n";
        let units = split(text);
        let items: Vec<_> = units.iter().filter(|u| u.3.is_some()).collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].0, "apiVersion: a/v1\nkind: K\nspec:\n  x: |\n    # not a comment\n    line\n");
        assert_eq!((items[0].2, items[1].2), (3, 9));
        assert_eq!(items[1].0, "apiVersion: a/v1\nkind: K\n");
        let header = units.iter().find(|u| u.3.is_none()).map(|u| u.0.as_str());
        assert_eq!(header, Some("apiVersion: v1\nitems: []\nkind: List\nmetadata: {}\n"));
    }

    #[test]
    fn indented_items_and_custom_objects_with_items_fields() {
        let indented = split("apiVersion: v1\nkind: List\nitems:\n  - a: 1\n  -\n    b: 2\n");
        let items: Vec<&str> = indented.iter().filter(|u| u.3.is_some()).map(|u| u.0.as_str()).collect();
        assert_eq!(items, ["a: 1\n", "\nb: 2\n"]);

        // A custom resource with a top-level `items` field is not a List: it is read whole.
        let custom = split("apiVersion: a.io/v1\nkind: Thing\nitems:\n- 1\n");
        assert_eq!(custom.len(), 1);
        assert_eq!(custom[0].0, "apiVersion: a.io/v1\nkind: Thing\nitems:\n- 1\n");

        // `items:` followed by something other than a sequence is read whole too.
        let odd = split("apiVersion: v1\nitems:\nkind: List\n");
        assert_eq!(odd.len(), 1);
        assert_eq!(odd[0].0, "apiVersion: v1\nitems:\nkind: List\n");
    }

    #[test]
    fn copying_indented_runs_at_once_splits_like_line_by_line() {
        let texts = [
            "a:\n  b: 1\n  c:\n\n    - x\n---\nd: 2\n  # indented comment\n",
            "apiVersion: v1\nitems:\n- a: 1\n  b:\n    c: 2\nkind: List\n",
            "x:\r\n  y: 1\r\n---\r\nz: 2\r\n",
            "k:\n  last line without newline",
        ];
        for text in texts {
            let by_line = {
                let mut splitter = YamlSplitter::new(0, Arc::from(Path::new("t.yaml")));
                let mut units = Vec::new();
                let mut emit = |unit: Unit| {
                    if let Unit::Yaml { text, origin } = unit {
                        units.push((text, origin.document, origin.line, origin.item));
                    }
                };
                for line in text.split_inclusive('\n') {
                    splitter.line(line, &mut emit);
                }
                splitter.finish(&mut emit);
                units
            };
            let normalise =
                |units: Vec<(String, usize, usize, Option<usize>)>| -> Vec<(String, usize, usize, Option<usize>)> {
                    units.into_iter().map(|(t, d, l, i)| (t.replace('\r', ""), d, l, i)).collect()
                };
            assert_eq!(normalise(split(text)), normalise(by_line), "{text:?}");
        }
    }
}
