//! Small comparisons shared by the rules: lists of named entries and maps of settings.

use serde_json::Value;
use std::collections::BTreeMap;

/// What changed in a list of entries identified by a key field (`name`, `mountPath`).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct NamedChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl NamedChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// `added a, b; removed c; changed d`, leaving out empty parts.
    pub fn summary(&self) -> String {
        [("added", &self.added), ("removed", &self.removed), ("changed", &self.changed)]
            .iter()
            .filter(|(_, names)| !names.is_empty())
            .map(|(what, names)| format!("{what} {}", names.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The entries of a list by their key field; entries without one are keyed by position so they still
/// count.
pub(crate) fn entries_by<'a>(list: Option<&'a Value>, key_field: &str) -> BTreeMap<String, &'a Value> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, entry)| {
            let key = entry.get(key_field).and_then(Value::as_str).map_or_else(|| format!("#{index}"), str::to_owned);
            (key, entry)
        })
        .collect()
}

/// Added, removed and changed entries of two lists keyed by `key_field`; order does not count.
pub(crate) fn named_changes(old: Option<&Value>, new: Option<&Value>, key_field: &str) -> NamedChanges {
    compare_maps(&entries_by(old, key_field), &entries_by(new, key_field))
}

/// Added, removed and changed keys of two maps.
pub(crate) fn compare_maps<V: PartialEq>(old: &BTreeMap<String, V>, new: &BTreeMap<String, V>) -> NamedChanges {
    let mut changes = NamedChanges::default();
    for (key, value) in new {
        match old.get(key) {
            None => changes.added.push(key.clone()),
            Some(before) if before != value => changes.changed.push(key.clone()),
            Some(_) => {}
        }
    }
    changes.removed = old.keys().filter(|key| !new.contains_key(*key)).cloned().collect();
    changes
}

/// `key: old -> new` for each top-level key of two objects that differs (absent reads `(unset)`).
pub(crate) fn changed_settings(old: Option<&Value>, new: Option<&Value>) -> Vec<String> {
    let as_map = |value: Option<&Value>| -> BTreeMap<String, Value> {
        value
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    let (old, new) = (as_map(old), as_map(new));
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|key| old.get(*key) != new.get(*key))
        .map(|key| format!("{key}: {} -> {}", compact(old.get(key)), compact(new.get(key))))
        .collect()
}

/// A value as one short line of JSON, `(unset)` when absent.
pub(crate) fn compact(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "(unset)".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// A Kubernetes quantity (`100m`, `200Mi`, `1.5Gi`, `1e3`) as a number, for comparing sizes.
pub(crate) fn quantity(text: &str) -> Option<f64> {
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let text = text.trim();
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    text.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_compare_across_suffixes() {
        assert_eq!(quantity("100m"), Some(0.1));
        assert_eq!(quantity("1Gi"), quantity("1024Mi"));
        assert!(quantity("200Mi").unwrap() > quantity("200M").unwrap());
        assert_eq!(quantity("2"), Some(2.0));
        assert_eq!(quantity("1e3"), Some(1000.0));
        assert_eq!(quantity("lots"), None);
    }

    #[test]
    fn named_changes_ignore_order() {
        let old = json!([{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]);
        let new = json!([{"name": "c", "value": "3"}, {"name": "a", "value": "9"}]);
        let changes = named_changes(Some(&old), Some(&new), "name");
        assert_eq!(changes.summary(), "added c; removed b; changed a");
        let reordered = json!([{"name": "b", "value": "2"}, {"name": "a", "value": "1"}]);
        assert!(named_changes(Some(&old), Some(&reordered), "name").is_empty());
    }
}
