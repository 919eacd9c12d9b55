//! The `meta.k8s.io/v1` Table kubectl asks for: name, the CRD's printer columns, age.

use super::resources::ResourceType;
use serde_json::{json, Value};

/// Evaluates the simple JSONPath subset printer columns use: `.a.b`, `.a[0].b`, and
/// `.status.conditions[?(@.type=="Ready")].status`.
pub fn json_path(object: &Value, path: &str) -> Value {
    let mut node = object.clone();
    let mut rest = path.trim_start_matches('.');
    while !rest.is_empty() && !node.is_null() {
        if let Some(after) = rest.strip_prefix("[?(@.") {
            let Some((condition, tail)) = after.split_once(")]") else { return Value::Null };
            let Some((field, wanted)) = condition.split_once("==") else { return Value::Null };
            let wanted = wanted.trim_matches(['"', '\'']);
            node = node
                .as_array()
                .and_then(|items| items.iter().find(|i| i[field].as_str() == Some(wanted)).cloned())
                .unwrap_or(Value::Null);
            rest = tail.trim_start_matches('.');
        } else if let Some(after) = rest.strip_prefix('[') {
            let Some((index, tail)) = after.split_once(']') else { return Value::Null };
            node = index.parse::<usize>().ok().and_then(|i| node.get(i).cloned()).unwrap_or(Value::Null);
            rest = tail.trim_start_matches('.');
        } else {
            let end = end_of_key(rest);
            let key = rest[..end].replace("\\.", ".");
            node = node.get(&key).cloned().unwrap_or(Value::Null);
            rest = rest[end..].trim_start_matches('.');
        }
    }
    node
}

/// How long ago an RFC 3339 timestamp was, the way kubectl prints ages (`45s`, `3m12s`, `5h`, `2d`).
pub fn age(timestamp: &str) -> String {
    let Ok(then) = timestamp.parse::<jiff::Timestamp>() else { return "<unknown>".to_owned() };
    let seconds = (jiff::Timestamp::now().as_second() - then.as_second()).max(0);
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86_400);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{minutes}m{}s", s % 60),
        s if s < 3 * 3600 => format!("{minutes}m"),
        s if s < 8 * 3600 => format!("{hours}h{}m", minutes % 60),
        s if s < 48 * 3600 => format!("{hours}h"),
        s if s < 8 * 86_400 => format!("{days}d{}h", hours % 24),
        _ => format!("{days}d"),
    }
}

/// Where the first key of a path ends: at an unescaped `.` or a `[` (`\.` is a dot inside a key).
fn end_of_key(path: &str) -> usize {
    let mut escaped = false;
    for (index, c) in path.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '.' | '[' if !escaped => return index,
            _ => escaped = false,
        }
    }
    path.len()
}

fn cell(value: Value) -> Value {
    match value {
        Value::Null => json!("<none>"),
        Value::String(_) | Value::Number(_) | Value::Bool(_) => value,
        other => json!(other.to_string()),
    }
}

/// Renders objects (already served at the requested version) as a Table.
pub fn render(resource_type: &ResourceType, objects: &[Value], resource_version: Option<u64>) -> Value {
    let mut columns = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name of the object", "priority": 0}),
    ];
    columns.extend(
        resource_type
            .printer_columns
            .iter()
            .map(|(name, kind, _)| json!({"name": name, "type": kind, "format": "", "description": "", "priority": 0})),
    );
    if !resource_type.printer_columns.iter().any(|(name, _, _)| name == "Age") {
        columns.push(
            json!({"name": "Age", "type": "date", "format": "", "description": "Time since creation", "priority": 0}),
        );
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut cells = vec![object["metadata"]["name"].clone()];
            cells.extend(resource_type.printer_columns.iter().map(|(_, kind, path)| match (kind.as_str(), json_path(object, path)) {
                ("date", Value::String(timestamp)) => json!(age(&timestamp)),
                (_, value) => cell(value),
            }));
            if !resource_type.printer_columns.iter().any(|(name, _, _)| name == "Age") {
                cells.push(json!(age(object["metadata"]["creationTimestamp"].as_str().unwrap_or_default())));
            }
            let partial = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"]});
            json!({"cells": cells, "object": partial})
        })
        .collect();
    let mut metadata = json!({});
    if let Some(version) = resource_version {
        metadata["resourceVersion"] = json!(version.to_string());
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": columns, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_column_paths() {
        let object = json!({"metadata": {"labels": {"a.b/c": "x"}}, "status": {"conditions": [{"type": "Other", "status": "False"}, {"type": "Ready", "status": "True"}]}, "spec": {"items": [{"n": 1}]}});
        assert_eq!(json_path(&object, r#".status.conditions[?(@.type=="Ready")].status"#), json!("True"));
        assert_eq!(json_path(&object, ".spec.items[0].n"), json!(1));
        assert_eq!(json_path(&object, r".metadata.labels.a\.b/c"), json!("x"));
        assert_eq!(json_path(&object, ".spec.missing"), Value::Null);
    }

    #[test]
    fn ages_read_like_kubectl() {
        let ago = |seconds: i64| {
            age(&jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - seconds).unwrap().to_string())
        };
        assert_eq!(ago(5), "5s");
        assert_eq!(ago(192), "3m12s");
        assert_eq!(ago(5 * 3600), "5h0m");
        assert_eq!(ago(3 * 86_400), "3d0h");
        assert_eq!(age("garbage"), "<unknown>");
    }
}
