//! The object a population's members are made from: typed where the simulator reads it (apiVersion, kind
//! and the metadata it fills in), so a wrong shape is refused with its line when the scenario loads, never
//! found later while seeding the cluster.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A population's object: `apiVersion`, `kind`, `metadata` and everything else (`spec`, `data`, ...) as
/// written. The name comes from the population's `namePrefix`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectTemplate {
    /// `group/version` of the kind (`v1` for the core group).
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// The namespace, labels and annotations every member gets.
    #[serde(default)]
    pub metadata: TemplateMetadata,
    /// The rest of the object (`spec`, `data`, ...), copied into every member.
    #[serde(flatten)]
    pub body: Map<String, Value>,
}

/// The metadata of a population's members that the scenario may set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateMetadata {
    /// Read only to refuse it: names come from `namePrefix` and the member's index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The namespace of namespaced kinds (absent: `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels of every member.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations of every member.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ObjectTemplate {
    /// A template from a JSON object, as tests write them (`json!({"apiVersion": ...})`).
    pub fn from_json(object: Value) -> Result<ObjectTemplate, serde_json::Error> {
        serde_json::from_value(object)
    }

    /// The member named `name`, with `extra_labels` added to the template's own.
    pub fn object(&self, name: &str, extra_labels: &BTreeMap<String, String>) -> Value {
        let mut metadata = Map::new();
        metadata.insert("name".to_owned(), json!(name));
        if let Some(namespace) = &self.metadata.namespace {
            metadata.insert("namespace".to_owned(), json!(namespace));
        }
        let mut labels = self.metadata.labels.clone();
        labels.extend(extra_labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        if !labels.is_empty() {
            metadata.insert("labels".to_owned(), json!(labels));
        }
        if !self.metadata.annotations.is_empty() {
            metadata.insert("annotations".to_owned(), json!(self.metadata.annotations));
        }
        let mut object = self.body.clone();
        object.insert("apiVersion".to_owned(), json!(self.api_version));
        object.insert("kind".to_owned(), json!(self.kind));
        object.insert("metadata".to_owned(), Value::Object(metadata));
        Value::Object(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_get_the_name_the_metadata_and_the_body() {
        let template = ObjectTemplate::from_json(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"namespace": "a", "labels": {"x": "1"}, "annotations": {"n": "note"}}, "data": {"k": "v"}}))
        .unwrap();
        let extra = BTreeMap::from([("tier".to_owned(), "gold".to_owned())]);
        assert_eq!(
            template.object("cm-1", &extra),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}, "metadata": {"name": "cm-1",
                "namespace": "a", "labels": {"x": "1", "tier": "gold"}, "annotations": {"n": "note"}}})
        );
        let bare = ObjectTemplate::from_json(json!({"apiVersion": "v1", "kind": "Namespace"})).unwrap();
        assert_eq!(
            bare.object("ns", &BTreeMap::new()),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
        );
    }
}
