//! Finding the line of a schema path in a CRD's YAML text, for reports that point into files (SARIF).
//!
//! This walks the text by indentation rather than re-parsing it: the parser we use does not keep
//! positions, and an approximate line (the deepest key that could be found) is still useful.

/// The 1-based line of `path` (e.g. `.spec.endpoints[*].port`) inside `version`'s `openAPIV3Schema`, in the
/// document of `text` that starts at `document_line`. Falls back to the deepest enclosing node found, or
/// to the document's first line.
pub fn line_of_schema_path(text: &str, document_line: usize, version: Option<&str>, path: Option<&str>) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let start = document_line.saturating_sub(1).min(lines.len());
    let Some(version) = version else { return document_line };
    let Some(version_line) = find_version_line(&lines, start, version) else { return document_line };
    let Some(mut node) = find_key_after(&lines, version_line, "openAPIV3Schema") else { return version_line + 1 };
    for segment in path_segments(path.unwrap_or_default()) {
        let keys: &[&str] = match segment {
            Segment::Property(name) => &["properties", name],
            Segment::Items => &["items"],
            Segment::MapValues => &["additionalProperties"],
            Segment::Combinator(keyword) => &[keyword],
        };
        let mut found = Some(node);
        for key in keys {
            found = found.and_then(|at| child_key_line(&lines, at, key));
        }
        match found {
            Some(line) => node = line,
            None => break,
        }
    }
    node + 1
}

enum Segment<'a> {
    Property(&'a str),
    Items,
    MapValues,
    Combinator(&'a str),
}

fn path_segments(path: &str) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("[*]") {
            segments.push(Segment::Items);
            rest = after;
        } else if let Some(after) = rest.strip_prefix("{*}") {
            segments.push(Segment::MapValues);
            rest = after;
        } else if let Some(after) = rest.strip_prefix("[\"") {
            let end = after.find("\"]").unwrap_or(after.len());
            segments.push(Segment::Property(&after[..end]));
            rest = after.get(end + 2..).unwrap_or_default();
        } else if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[', '{']).unwrap_or(after.len());
            let name = &after[..end];
            rest = &after[end..];
            if matches!(name, "allOf" | "anyOf" | "oneOf") {
                // Combinator entries are found by keyword; the index is skipped.
                rest = rest.find(']').map_or("", |i| &rest[i + 1..]);
                segments.push(Segment::Combinator(name));
            } else if name == "not" {
                segments.push(Segment::Combinator(name));
            } else {
                segments.push(Segment::Property(name));
            }
        } else {
            break;
        }
    }
    segments
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '-']).len()
}

fn key_of(line: &str) -> Option<&str> {
    let content = line.trim_start_matches([' ', '-']);
    let (key, _) = content.split_once(':')?;
    Some(key.trim().trim_matches(['"', '\'']))
}

fn is_content(line: &str) -> bool {
    let trimmed = line.trim();
    !trimmed.is_empty() && !trimmed.starts_with('#')
}

fn is_document_marker(line: &str) -> bool {
    line == "---" || line.starts_with("--- ")
}

fn find_version_line(lines: &[&str], start: usize, version: &str) -> Option<usize> {
    lines[start..]
        .iter()
        .take_while(|line| !is_document_marker(line))
        .position(|line| {
            let content = line.trim_start_matches([' ', '-']);
            key_of(line) == Some("name")
                && content.split_once(':').map(|(_, v)| v.trim().trim_matches(['"', '\''])) == Some(version)
        })
        .map(|offset| start + offset)
}

fn find_key_after(lines: &[&str], start: usize, key: &str) -> Option<usize> {
    lines[start..]
        .iter()
        .take_while(|line| !is_document_marker(line))
        .position(|line| key_of(line) == Some(key))
        .map(|offset| start + offset)
}

/// The line of `key` among the direct children of the mapping whose key is on line `parent`.
fn child_key_line(lines: &[&str], parent: usize, key: &str) -> Option<usize> {
    let parent_indent = indent_of(lines[parent]);
    let mut child_indent = None;
    for (index, line) in lines.iter().enumerate().skip(parent + 1) {
        if !is_content(line) {
            continue;
        }
        let indent = indent_of(line);
        if indent <= parent_indent || is_document_marker(line) {
            return None;
        }
        let expected = *child_indent.get_or_insert(indent);
        if indent == expected && key_of(line) == Some(key) {
            return Some(index);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
spec:
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        properties:
          spec:
            properties:
              other:
                properties:
                  port:
                    type: string
              endpoints:
                items:
                  properties:
                    port:
                      type: integer
";

    #[test]
    fn finds_nested_properties_without_matching_cousins() {
        assert_eq!(line_of_schema_path(CRD, 1, Some("v1"), Some(".spec.endpoints[*].port")), 18);
        assert_eq!(line_of_schema_path(CRD, 1, Some("v1"), Some(".spec.other.port")), 13);
    }

    #[test]
    fn falls_back_to_the_deepest_known_node() {
        assert_eq!(line_of_schema_path(CRD, 1, Some("v1"), Some(".spec.missing.x")), 9);
        assert_eq!(line_of_schema_path(CRD, 1, Some("v9"), Some(".spec")), 1);
        assert_eq!(line_of_schema_path(CRD, 1, None, None), 1);
    }
}
