//! Matching objects across the two sides by API group, kind, namespace and name.

use crate::findings::{ManifestRef, SourceLocation};
use crate::manifest::Object;
use serde_json::Value;
use std::collections::BTreeMap;

/// What identifies an object across releases: the version part of `apiVersion` may change
/// (`policy/v1beta1` to `policy/v1`) while the object stays the same.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ObjectKey {
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    /// The key of a parsed object; missing fields read as empty.
    pub fn of(value: &Value) -> ObjectKey {
        ObjectKey {
            group: group_of(str_at(value, &["apiVersion"])).to_owned(),
            kind: str_at(value, &["kind"]).to_owned(),
            namespace: namespace_of(value),
            name: str_at(value, &["metadata", "name"]).to_owned(),
        }
    }

    /// True for the given group and one of the given kinds.
    pub fn is(&self, group: &str, kinds: &[&str]) -> bool {
        self.group == group && kinds.contains(&self.kind.as_str())
    }
}

/// The API group of an `apiVersion` (`""` for the core group).
pub(crate) fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

fn namespace_of(value: &Value) -> Option<String> {
    let namespace = str_at(value, &["metadata", "namespace"]);
    (!namespace.is_empty()).then(|| namespace.to_owned())
}

/// The string at a path of object keys, or `""`.
pub(crate) fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    value_at(value, path).and_then(Value::as_str).unwrap_or_default()
}

/// The value at a path of object keys.
pub(crate) fn value_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |current, key| current.get(key))
}

/// How a finding names an object.
pub(crate) fn manifest_ref(value: &Value) -> ManifestRef {
    ManifestRef {
        api_version: str_at(value, &["apiVersion"]).to_owned(),
        kind: str_at(value, &["kind"]).to_owned(),
        namespace: namespace_of(value),
        name: str_at(value, &["metadata", "name"]).to_owned(),
    }
}

/// Where an object stands in the release's files.
pub(crate) fn location(object: &Object) -> SourceLocation {
    SourceLocation { file: object.source.file.display().to_string(), line: object.source.line }
}

/// One side's objects by key. When a key appears twice, the later document wins, as it would when the
/// release is applied in file order.
pub(crate) struct SideIndex<'a> {
    objects: BTreeMap<ObjectKey, &'a Object>,
}

impl<'a> SideIndex<'a> {
    pub fn new(objects: &'a [Object]) -> SideIndex<'a> {
        SideIndex { objects: objects.iter().map(|o| (ObjectKey::of(&o.value), o)).collect() }
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&'a Object> {
        self.objects.get(key).copied()
    }

    /// Every object, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&ObjectKey, &'a Object)> + '_ {
        self.objects.iter().map(|(k, o)| (k, *o))
    }

    /// The objects of the given group and kinds, in key order.
    pub fn of_kinds<'s>(
        &'s self,
        group: &'s str,
        kinds: &'s [&'s str],
    ) -> impl Iterator<Item = (&'s ObjectKey, &'a Object)> + 's {
        self.iter().filter(move |(key, _)| key.is(group, kinds))
    }
}

/// An object matched across the sides: on the old side, the new side, or both.
pub(crate) struct Pair<'a> {
    pub key: ObjectKey,
    pub old: Option<&'a Object>,
    pub new: Option<&'a Object>,
    /// The object findings name: the new one, or the old one for removals.
    pub current: &'a Object,
}

impl<'a> Pair<'a> {
    /// How findings name this object.
    pub fn manifest_ref(&self) -> ManifestRef {
        manifest_ref(&self.current.value)
    }

    /// Where findings point: the new side's document, or the old one's for removals.
    pub fn location(&self) -> SourceLocation {
        location(self.current)
    }
}

/// Every key of either side, paired, in key order.
pub(crate) fn pairs<'a>(old: &SideIndex<'a>, new: &SideIndex<'a>) -> Vec<Pair<'a>> {
    let mut keys: Vec<&ObjectKey> = old.objects.keys().chain(new.objects.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let (old, new) = (old.get(key), new.get(key));
            Some(Pair { key: key.clone(), old, new, current: new.or(old)? })
        })
        .collect()
}
