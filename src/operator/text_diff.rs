//! Normalised YAML and unified diffs for changes no specific rule describes.
//!
//! Normalising drops what the cluster writes (status, managedFields, resourceVersion, uid,
//! creationTimestamp, generation, the last-applied annotation) and sorts keys, so only what the
//! release itself says is compared. Secret values are replaced before any text is made: they never
//! reach a finding.

use super::matching::{ObjectKey, Pair};
use crate::findings::{FindingCode, OperatorFinding};
use serde_json::{Map, Value};

/// Context lines around each change in a unified diff.
const CONTEXT_LINES: usize = 3;

/// Metadata fields the API server or kubectl writes; they say nothing about the release.
const SERVER_METADATA: &[&str] =
    &["managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink"];

/// Annotations written by tools at apply time.
const TOOL_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

/// Labels that change with every release by construction (Helm's chart label, the recommended version
/// label): the image finding already says the version changed, so these would only repeat it on every
/// object of a Helm-rendered release.
const RELEASE_LABELS: &[&str] = &["helm.sh/chart", "app.kubernetes.io/version"];

/// The object as compared: server-written fields dropped, release labels dropped, keys sorted.
pub(crate) fn normalise(value: &Value) -> Value {
    let mut value = value.clone();
    if let Value::Object(map) = &mut value {
        map.remove("status");
        if let Some(Value::Object(metadata)) = map.get_mut("metadata") {
            normalise_metadata(metadata);
        }
        if let Some(Value::Object(template_metadata)) =
            map.get_mut("spec").and_then(|s| s.get_mut("template")).and_then(|t| t.get_mut("metadata"))
        {
            normalise_metadata(template_metadata);
        }
    }
    sorted(value)
}

fn normalise_metadata(metadata: &mut Map<String, Value>) {
    for field in SERVER_METADATA {
        metadata.remove(*field);
    }
    remove_keys(metadata, "annotations", TOOL_ANNOTATIONS);
    remove_keys(metadata, "labels", RELEASE_LABELS);
}

/// Removes `keys` from the map at `field`, and the map itself once it is empty.
fn remove_keys(metadata: &mut Map<String, Value>, field: &str, keys: &[&str]) {
    if let Some(Value::Object(entries)) = metadata.get_mut(field) {
        for key in keys {
            entries.remove(*key);
        }
        if entries.is_empty() {
            metadata.remove(field);
        }
    }
}

/// The same value with every map's keys inserted in sorted order, whatever map type serde_json uses.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Replaces the values of a Secret pair's `data` and `stringData` with placeholders saying only their
/// size and, on the new side, whether the value changed. Other kinds are left alone.
pub(crate) fn redact_secrets(key: &ObjectKey, old: &mut Value, new: &mut Value) {
    if !key.is("", &["Secret"]) {
        return;
    }
    for field in ["data", "stringData"] {
        let old_values = old.get(field).and_then(Value::as_object).cloned().unwrap_or_default();
        if let Some(Value::Object(new_values)) = new.get_mut(field) {
            for (name, value) in new_values.iter_mut() {
                let changed = old_values.get(name).is_some_and(|before| before != value);
                *value = Value::String(placeholder(field, value, changed));
            }
        }
        if let Some(Value::Object(old_values)) = old.get_mut(field) {
            for value in old_values.values_mut() {
                *value = Value::String(placeholder(field, value, false));
            }
        }
    }
}

/// `<redacted: N bytes>`, counting decoded bytes for base64 `data`.
fn placeholder(field: &str, value: &Value, changed: bool) -> String {
    let text = value.as_str().unwrap_or_default();
    let bytes = if field == "data" { base64_decoded_len(text) } else { text.len() };
    let changed = if changed { ", changed" } else { "" };
    format!("<redacted: {bytes} bytes{changed}>")
}

fn base64_decoded_len(text: &str) -> usize {
    let text = text.trim();
    let padding = text.bytes().rev().take_while(|&b| b == b'=').count();
    (text.len() / 4 * 3).saturating_sub(padding)
}

/// A unified diff (3 lines of context) of two values as normalised YAML.
pub(crate) fn unified_diff(old: &Value, new: &Value, old_label: &str, new_label: &str) -> String {
    let (old_text, new_text) = (to_yaml(old), to_yaml(new));
    similar::TextDiff::from_lines(&old_text, &new_text)
        .unified_diff()
        .context_radius(CONTEXT_LINES)
        .header(old_label, new_label)
        .to_string()
}

fn to_yaml(value: &Value) -> String {
    if value.is_null() {
        return String::new();
    }
    // Serialising a serde_json::Value cannot fail (its keys are strings); an empty text is the safe fallback.
    serde_norway::to_string(value).unwrap_or_default()
}

/// `object-changed` with a diff of what is left once the specific rules took their fields out, if the
/// rest differs; nothing otherwise. `what` names the rest in the message ("the object", "other fields").
pub(crate) fn remainder_finding(
    pair: &Pair,
    old_rest: &Value,
    new_rest: &Value,
    what: &str,
) -> Option<OperatorFinding> {
    let (mut old_rest, mut new_rest) = (normalise(old_rest), normalise(new_rest));
    if old_rest == new_rest {
        return None;
    }
    redact_secrets(&pair.key, &mut old_rest, &mut new_rest);
    let object = pair.manifest_ref();
    let label = object.to_string();
    let diff = unified_diff(&old_rest, &new_rest, &format!("old: {label}"), &format!("new: {label}"));
    let message = format!("{label}: {what} changed (see the diff)");
    Some(OperatorFinding::new(FindingCode::ObjectChanged, object, message).with_diff(diff).located_at(pair.location()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalising_drops_server_fields_and_sorts_keys() {
        let value = json!({"kind": "ConfigMap", "apiVersion": "v1", "status": {"x": 1},
            "metadata": {"name": "a", "uid": "u", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}});
        let normalised = normalise(&value);
        assert_eq!(normalised, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}));
        assert!(to_yaml(&normalised).starts_with("apiVersion"));
    }

    #[test]
    fn secret_values_become_placeholders() {
        let key = ObjectKey { group: String::new(), kind: "Secret".into(), namespace: None, name: "s".into() };
        let mut old = json!({"data": {"a": "c2VjcmV0", "b": "eA=="}, "stringData": {"c": "hunter2"}});
        let mut new = json!({"data": {"a": "c2VjcmVz", "b": "eA=="}, "stringData": {"c": "hunter2"}});
        redact_secrets(&key, &mut old, &mut new);
        assert_eq!(new["data"]["a"], "<redacted: 6 bytes, changed>");
        assert_eq!(new["data"]["b"], "<redacted: 1 bytes>");
        assert_eq!(old["stringData"]["c"], "<redacted: 7 bytes>");
    }
}
