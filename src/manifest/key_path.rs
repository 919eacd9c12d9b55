//! Key paths into the tool's own YAML files (a plan's `spec.backups[0].velero.name`, a scenario's
//! `populations[0].count`) and finding their line in the text, for problems found after parsing. The parser keeps no positions for values that parsed, so this walks the
//! block-style YAML by indentation; a key it cannot find (flow style, anchors) falls back to the deepest
//! enclosing key that it did find.

use std::fmt;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// A path of keys and list indices from the document's root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(Vec<Segment>);

impl KeyPath {
    /// The root.
    pub fn root() -> KeyPath {
        KeyPath::default()
    }

    /// This path followed by a key.
    pub fn key(&self, key: &str) -> KeyPath {
        let mut path = self.clone();
        path.0.push(Segment::Key(key.to_owned()));
        path
    }

    /// This path followed by a list index.
    pub fn index(&self, index: usize) -> KeyPath {
        let mut path = self.clone();
        path.0.push(Segment::Index(index));
        path
    }

    /// This path followed by a dotted relative path (`env.NAME`, `args[2]`).
    pub fn join(&self, relative: &str) -> KeyPath {
        let mut path = self.clone();
        for part in relative.split('.') {
            let (name, indices) = part.split_once('[').map_or((part, ""), |(n, rest)| (n, rest));
            if !name.is_empty() {
                path.0.push(Segment::Key(name.to_owned()));
            }
            for index in indices.split('[').filter_map(|i| i.trim_end_matches(']').parse().ok()) {
                path.0.push(Segment::Index(index));
            }
        }
        path
    }

    /// The 1-based line of the path's last segment that can be found in `text`.
    pub fn line_in(&self, text: &str) -> Option<usize> {
        let lines: Vec<Line<'_>> = text.lines().map(Line::read).collect();
        walk(&lines, &self.0).found.map(|index| index + 1)
    }

    /// The 1-based line where `key` appears the second time in the mapping at this path (a key given twice),
    /// when the whole path can be found in `text`.
    pub fn line_of_repeated(&self, key: &str, text: &str) -> Option<usize> {
        let lines: Vec<Line<'_>> = text.lines().map(Line::read).collect();
        let walked = walk(&lines, &self.0);
        if !walked.complete {
            return None;
        }
        find_repeated_key(&lines, walked.node, key).map(|index| index + 1)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// What one line of block YAML holds, as far as locating keys needs.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    /// Blank or comment only.
    empty: bool,
    /// Leading spaces.
    indent: usize,
    /// Column of the first list dash, if the line starts a list item.
    dash: Option<usize>,
    /// Column where the content after any dashes starts.
    content_col: usize,
    /// The key, if the content is `key:` or `key: value`.
    key: Option<&'a str>,
}

impl<'a> Line<'a> {
    fn read(text: &'a str) -> Line<'a> {
        let indent = text.len() - text.trim_start_matches(' ').len();
        let mut rest = &text[indent..];
        let mut col = indent;
        let mut dash = None;
        while rest == "-" || rest.starts_with("- ") {
            dash.get_or_insert(col);
            let after = rest[1..].trim_start_matches(' ');
            col += rest.len() - after.len();
            rest = after;
        }
        let empty = rest.is_empty() && dash.is_none() || rest.starts_with('#');
        Line { empty, indent, dash, content_col: col, key: key_of(rest) }
    }
}

fn key_of(content: &str) -> Option<&str> {
    let (key, after) = content.split_once(':')?;
    if !(after.is_empty() || after.starts_with(' ')) || key.is_empty() {
        return None;
    }
    Some(key.trim().trim_matches(|c| c == '"' || c == '\''))
}

/// Where the node a path has reached starts: the line its first key is on and that key's column.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// The first line of the node's block (inclusive).
    start: usize,
    /// The column of the node's keys or list dashes, when already known (a list item's inline mapping).
    col: Option<usize>,
    /// The column of the parent's key: the node's lines are indented more (or, for a list, equally).
    parent_col: Option<usize>,
}

/// How far a path was followed in the text.
struct Walked {
    /// The line (0-based) of the last segment found.
    found: Option<usize>,
    /// The node the last segment found opens.
    node: Node,
    /// Whether every segment was found.
    complete: bool,
}

fn walk(lines: &[Line<'_>], segments: &[Segment]) -> Walked {
    let mut walked = Walked { found: None, node: Node { start: 0, col: None, parent_col: None }, complete: true };
    for segment in segments {
        let next = match segment {
            Segment::Key(key) => find_key(lines, walked.node, key),
            Segment::Index(index) => find_item(lines, walked.node, *index),
        };
        match next {
            Some((line, child)) => {
                walked.found = Some(line);
                walked.node = child;
            }
            None => {
                walked.complete = false;
                break;
            }
        }
    }
    walked
}

/// The first non-empty line of the node, and the column its keys or dashes are at.
fn node_column(lines: &[Line<'_>], node: Node) -> Option<(usize, usize)> {
    let (index, line) = lines.iter().enumerate().skip(node.start).find(|(_, l)| !l.empty)?;
    let col = node.col.unwrap_or(line.dash.unwrap_or(line.content_col));
    let inside = node.parent_col.is_none_or(|parent| col > parent || line.dash.is_some() && col >= parent);
    inside.then_some((index, col))
}

fn find_key(lines: &[Line<'_>], node: Node, key: &str) -> Option<(usize, Node)> {
    let (first, col) = node_column(lines, node)?;
    for (index, line) in lines.iter().enumerate().skip(first) {
        if line.empty {
            continue;
        }
        if index > first && line.indent < col {
            return None;
        }
        if line.content_col == col && line.key == Some(key) {
            return Some((index, Node { start: index + 1, col: None, parent_col: Some(col) }));
        }
    }
    None
}

/// The line of the second `key` among the node's keys.
fn find_repeated_key(lines: &[Line<'_>], node: Node, key: &str) -> Option<usize> {
    let (first, col) = node_column(lines, node)?;
    let inside = |(index, line): &(usize, &Line<'_>)| line.empty || *index == first || line.indent >= col;
    let is_key = |(_, line): &(usize, &Line<'_>)| !line.empty && line.content_col == col && line.key == Some(key);
    lines.iter().enumerate().skip(first).take_while(inside).filter(is_key).nth(1).map(|(index, _)| index)
}

fn find_item(lines: &[Line<'_>], node: Node, wanted: usize) -> Option<(usize, Node)> {
    let (first, col) = node_column(lines, node)?;
    let mut seen = 0;
    for (index, line) in lines.iter().enumerate().skip(first) {
        if line.empty {
            continue;
        }
        if line.indent < col || line.indent == col && line.dash.is_none() {
            return None;
        }
        if line.dash == Some(col) {
            if seen == wanted {
                // The item's own mapping starts on this line, after the dash.
                let child = Node { start: index, col: Some(line.content_col), parent_col: Some(col) };
                return Some((index, child));
            }
            seen += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
apiVersion: x
spec:
  operator:
    namespace: a   # comment
  backups:
    - velero:
        name: daily
    # between items
    - cloudNativePg:
        clusters: [a]
        maxAge: 1h
  jobs:
    preUpgrade:
    - name: first
      timeout: 5m
    - name: second
      spec:
        template: {}
  canary:
    scoping:
      canary:
        args:
          - --a
          - --b
        env:
          WATCH: '{cohortSelector}'
";

    fn line(path: KeyPath) -> Option<usize> {
        path.line_in(TEXT)
    }

    #[test]
    fn finds_keys_items_and_compact_lists() {
        let spec = KeyPath::root().key("spec");
        assert_eq!(line(spec.key("operator").key("namespace")), Some(4));
        assert_eq!(line(spec.key("backups").index(0).key("velero").key("name")), Some(7));
        assert_eq!(line(spec.key("backups").index(1).key("cloudNativePg").key("maxAge")), Some(11));
        assert_eq!(line(spec.key("jobs").key("preUpgrade").index(1).key("name")), Some(16));
        assert_eq!(line(spec.key("jobs").key("preUpgrade").index(1).key("spec")), Some(17));
        assert_eq!(line(spec.key("canary").join("scoping.canary.args[1]")), Some(24));
        assert_eq!(line(spec.key("canary").join("scoping.canary.env.WATCH")), Some(26));
    }

    #[test]
    fn falls_back_to_the_deepest_key_found() {
        let spec = KeyPath::root().key("spec");
        assert_eq!(line(spec.key("backups").index(1).key("cloudNativePg").key("clusters").index(0)), Some(10));
        assert_eq!(line(spec.key("operator").key("missing")), Some(3));
        // `timeout` of the second job does not exist: the item itself is the answer, not the first job's.
        assert_eq!(line(spec.key("jobs").key("preUpgrade").index(1).key("timeout")), Some(16));
        assert_eq!(line(KeyPath::root().key("nothing")), None);
    }

    #[test]
    fn finds_a_key_given_twice_in_its_own_mapping_only() {
        let text = "kind: a\nspec:\n  kind: b\n  waves:\n    - name: x\n      name: y\nkind: c\n";
        assert_eq!(KeyPath::root().line_of_repeated("kind", text), Some(7));
        assert_eq!(KeyPath::root().join("spec.waves[0]").line_of_repeated("name", text), Some(6));
        assert_eq!(KeyPath::root().key("spec").line_of_repeated("kind", text), None, "given once in spec");
        assert_eq!(KeyPath::root().key("nothing").line_of_repeated("kind", text), None);
    }

    #[test]
    fn displays_dotted_paths() {
        let path = KeyPath::root().key("spec").key("backups").index(0).key("velero").join("testRestore.timeout");
        assert_eq!(path.to_string(), "spec.backups[0].velero.testRestore.timeout");
    }
}
