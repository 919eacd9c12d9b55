//! Comparing chart values: which defaults changed between two charts, and which values the user set that
//! the new chart no longer reads (a renamed value silently drops the setting: the most common Helm upgrade
//! surprise). Values are compared by key path; lists and scalars are leaves.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A default value that differs between the two charts' `values.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DefaultChange {
    /// The key path (`controller.image.tag`).
    pub path: String,
    /// The old chart's default; None when the key is new.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The new chart's default; None when the key is gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// A value the user set whose key the new chart no longer has: it is carried into the upgrade and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadValue {
    /// The key path the user set (`controller.metrics.serviceMonitor.enabled`); the value itself is never
    /// shown (values can hold credentials).
    pub path: String,
    /// The key of the old chart's defaults it falls under, which the new chart's defaults lack.
    pub missing: String,
}

/// Every leaf whose default differs between `old` and `new`, sorted by key path.
pub fn default_changes(old: &Value, new: &Value) -> Vec<DefaultChange> {
    let (old_leaves, new_leaves) = (leaves(old), leaves(new));
    let mut changes = Vec::new();
    for (path, value) in &old_leaves {
        match new_leaves.get(path) {
            Some(new_value) if new_value == value => {}
            found => changes.push(DefaultChange {
                path: path.clone(),
                old: Some((*value).clone()),
                new: found.map(|v| (*v).clone()),
            }),
        }
    }
    for (path, value) in &new_leaves {
        if !old_leaves.contains_key(path) {
            changes.push(DefaultChange { path: path.clone(), old: None, new: Some((*value).clone()) });
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    changes
}

/// The values in `user` that the new chart no longer reads: for each key path the user set, the longest
/// prefix of it that the old chart's defaults have is looked up in the new chart's defaults, and a prefix
/// the new defaults lack means the setting falls on a key the new chart dropped or renamed. Keys neither
/// chart declares (entries of a free-form map such as `podAnnotations`) are not judged.
pub fn unread_values(user: &Value, old_defaults: &Value, new_defaults: &Value) -> Vec<UnreadValue> {
    let mut unread = Vec::new();
    for (keys, _) in leaf_keys(user) {
        let known = (1..=keys.len()).rev().find(|&n| lookup(old_defaults, &keys[..n]).is_some());
        let Some(known) = known else { continue };
        if lookup(new_defaults, &keys[..known]).is_none() {
            unread.push(UnreadValue { path: join(&keys), missing: join(&keys[..known]) });
        }
    }
    unread.sort_by(|a, b| a.path.cmp(&b.path));
    unread
}

fn lookup<'a>(value: &'a Value, keys: &[String]) -> Option<&'a Value> {
    keys.iter().try_fold(value, |at, key| at.as_object()?.get(key))
}

fn leaves(value: &Value) -> BTreeMap<String, &Value> {
    leaf_keys(value).into_iter().map(|(keys, value)| (join(&keys), value)).collect()
}

/// Every leaf (a scalar, a list or an empty map) with its keys from the root.
fn leaf_keys(value: &Value) -> Vec<(Vec<String>, &Value)> {
    fn walk<'a>(map: &'a Map<String, Value>, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, &'a Value)>) {
        for (key, value) in map {
            prefix.push(key.clone());
            match value.as_object() {
                Some(inner) if !inner.is_empty() => walk(inner, prefix, out),
                _ => out.push((prefix.clone(), value)),
            }
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    if let Some(map) = value.as_object() {
        walk(map, &mut Vec::new(), &mut out);
    }
    out
}

/// `a.b.c`, with keys that hold a dot or are empty quoted (`podAnnotations["prometheus.io/scrape"]`).
fn join(keys: &[String]) -> String {
    let mut out = String::new();
    for key in keys {
        if key.is_empty() || key.contains(['.', '[', ']', '"']) {
            out.push_str(&format!("[{}]", serde_json::Value::String(key.clone())));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_added_and_removed_defaults_are_listed_by_path() {
        let old = json!({"image": {"tag": "v1", "pullPolicy": "IfNotPresent"}, "legacy": true, "args": ["-a"]});
        let new =
            json!({"image": {"tag": "v2", "pullPolicy": "IfNotPresent"}, "metrics": {"port": 8090}, "args": ["-a"]});
        let changes = default_changes(&old, &new);
        let summary: Vec<(&str, Option<&Value>, Option<&Value>)> =
            changes.iter().map(|c| (c.path.as_str(), c.old.as_ref(), c.new.as_ref())).collect();
        assert_eq!(
            summary,
            vec![
                ("image.tag", Some(&json!("v1")), Some(&json!("v2"))),
                ("legacy", Some(&json!(true)), None),
                ("metrics.port", None, Some(&json!(8090))),
            ]
        );
    }

    #[test]
    fn a_value_under_a_renamed_key_is_unread_and_named_without_its_value() {
        let old = json!({"controller": {"metrics": {"enabled": false, "port": 8090}}, "podAnnotations": {}});
        let new =
            json!({"controller": {"metrics": {"enabled": false}}, "metrics": {"port": 8090}, "podAnnotations": {}});
        let user = json!({
            "controller": {"metrics": {"port": 9000, "enabled": true}},
            "podAnnotations": {"prometheus.io/scrape": "true"},
            "notAChartKey": 1
        });
        assert_eq!(
            unread_values(&user, &old, &new),
            vec![UnreadValue { path: "controller.metrics.port".into(), missing: "controller.metrics.port".into() }]
        );
    }

    #[test]
    fn a_dropped_free_form_map_makes_its_entries_unread() {
        let old = json!({"podAnnotations": {}, "replicas": 1});
        let new = json!({"replicas": 1});
        let user = json!({"podAnnotations": {"prometheus.io/scrape": "true"}});
        let unread = unread_values(&user, &old, &new);
        assert_eq!(unread.len(), 1);
        assert_eq!(unread[0].path, "podAnnotations[\"prometheus.io/scrape\"]");
        assert_eq!(unread[0].missing, "podAnnotations");
    }
}
