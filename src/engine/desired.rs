//! What each step writes, computed from the two releases alone (pure, tested without a cluster): the
//! expanded CRDs that serve both releases, the union of both releases' RBAC, the objects promotion applies
//! and removes, and the CRDs of the storage switch.

use crate::cluster::ObjectKey;
use crate::manifest::{load_objects, LoadError};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One release's objects as it ships them: CRDs by name and every other object in file order.
#[derive(Debug, Clone, Default)]
pub struct Release {
    /// CRDs (normalised to v1) by `metadata.name`.
    pub crds: BTreeMap<String, Value>,
    /// Every other object, namespaced ones with their namespace filled in.
    pub objects: Vec<Value>,
}

/// The kinds the RBAC steps own; promotion leaves them alone so both operators keep their permissions.
pub fn is_rbac(key: &ObjectKey) -> bool {
    key.group() == "rbac.authorization.k8s.io"
}

impl Release {
    /// Reads a release directory or file, filling in `default_namespace` for namespaced objects without one.
    pub fn load(path: &Path, default_namespace: &str) -> Result<Release, LoadError> {
        Ok(Release::of_objects(load_objects(path)?, default_namespace))
    }

    /// Reads a release from text in memory (a chart rendered by helm); `name` stands for the file in messages.
    pub fn from_text(text: &str, name: &Path, default_namespace: &str) -> Result<Release, LoadError> {
        Ok(Release::of_objects(crate::manifest::load_objects_text(text, name)?, default_namespace))
    }

    fn of_objects(objects: Vec<crate::manifest::Object>, default_namespace: &str) -> Release {
        let mut release = Release::default();
        for object in objects {
            let mut value = object.value;
            if value["kind"] == "CustomResourceDefinition" {
                let name = value["metadata"]["name"].as_str().unwrap_or_default().to_owned();
                release.crds.insert(name, value);
                continue;
            }
            if is_namespaced_kind(&value) && value["metadata"]["namespace"].as_str().is_none_or(str::is_empty) {
                value["metadata"]["namespace"] = json!(default_namespace);
            }
            release.objects.push(value);
        }
        release
    }

    /// The object with this key, if the release ships it.
    pub fn object(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.iter().find(|o| &ObjectKey::of(o) == key)
    }

    /// The API groups of the release's CRDs.
    pub fn crd_groups(&self) -> BTreeSet<String> {
        self.crds.values().filter_map(|c| c["spec"]["group"].as_str().map(str::to_owned)).collect()
    }
}

/// The built-in cluster-scoped kinds a release may ship; every other kind is taken as namespaced.
fn is_namespaced_kind(object: &Value) -> bool {
    !matches!(
        object["kind"].as_str().unwrap_or_default(),
        "Namespace"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "CustomResourceDefinition"
            | "ValidatingWebhookConfiguration"
            | "MutatingWebhookConfiguration"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "PriorityClass"
            | "StorageClass"
            | "APIService"
            | "IngressClass"
    )
}

/// The CRD that serves both releases during the upgrade: every version of either, the old storage version
/// kept, and for a version both have, a schema that accepts what either release writes and prunes nothing
/// either writes. A CRD only the new release has is created as shipped.
pub fn expand_crd(old: Option<&Value>, new: &Value) -> Value {
    let Some(old) = old else { return new.clone() };
    let mut expanded = new.clone();
    let old_versions = versions(old);
    let new_versions = versions(new);
    let old_storage =
        old_versions.iter().find(|v| v["storage"] == true).and_then(|v| v["name"].as_str()).map(str::to_owned);
    let mut merged = Vec::new();
    for version in &new_versions {
        let name = version["name"].as_str().unwrap_or_default();
        let mut version = version.clone();
        if let Some(before) = old_versions.iter().find(|v| v["name"] == name) {
            version["served"] = json!(before["served"] == true || version["served"] == true);
            let (a, b) = (&before["schema"]["openAPIV3Schema"], &version["schema"]["openAPIV3Schema"]);
            if a.is_object() && b.is_object() {
                version["schema"]["openAPIV3Schema"] = schema_union(a, b);
            }
            if version.get("subresources").is_none() {
                if let Some(subresources) = before.get("subresources") {
                    version["subresources"] = subresources.clone();
                }
            }
        }
        merged.push(version);
    }
    for before in &old_versions {
        if !new_versions.iter().any(|v| v["name"] == before["name"]) {
            merged.push(before.clone());
        }
    }
    if let Some(storage) = &old_storage {
        for version in &mut merged {
            version["storage"] = json!(version["name"] == storage.as_str());
        }
    }
    expanded["spec"]["versions"] = Value::Array(merged);
    expanded
}

/// The expanded CRD with storage moved to the new release's storage version: the storage switch of
/// `finalize`, with every version still served until the objects are migrated.
pub fn storage_switched_crd(expanded: &Value, new: &Value) -> Value {
    let mut switched = expanded.clone();
    let storage =
        versions(new).into_iter().find(|v| v["storage"] == true).and_then(|v| v["name"].as_str().map(str::to_owned));
    if let (Some(storage), Some(list)) = (storage, switched["spec"]["versions"].as_array_mut()) {
        for version in list {
            version["storage"] = json!(version["name"] == storage.as_str());
        }
    }
    switched
}

/// The storage version of a CRD document.
pub fn storage_version(crd: &Value) -> Option<String> {
    versions(crd).into_iter().find(|v| v["storage"] == true).and_then(|v| v["name"].as_str().map(str::to_owned))
}

/// `(apiVersion, kind)` of a CRD's objects at its storage version.
pub fn kind_at_storage_version(crd: &Value) -> Option<(String, String)> {
    let group = crd["spec"]["group"].as_str()?;
    let kind = crd["spec"]["names"]["kind"].as_str()?;
    let version = storage_version(crd)?;
    Some((format!("{group}/{version}"), kind.to_owned()))
}

fn versions(crd: &Value) -> Vec<Value> {
    crd["spec"]["versions"].as_array().cloned().unwrap_or_default()
}

/// A schema accepting every value either schema accepts, as far as a structural schema can say it:
/// properties of both, enums joined, only what both require, only the CEL rules both have, the looser of
/// each bound, unknown fields kept if either keeps them. Where the two differ in a way no single keyword
/// joins (a changed `pattern`, `format`, `oneOf`), the constraint is dropped.
pub fn schema_union(old: &Value, new: &Value) -> Value {
    let (Some(a), Some(b)) = (old.as_object(), new.as_object()) else { return new.clone() };
    let mut out: Map<String, Value> = b.clone();
    let props = |m: &Map<String, Value>| m.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    if a.contains_key("properties") || b.contains_key("properties") {
        let (pa, pb) = (props(a), props(b));
        let mut joined = pb.clone();
        for (name, schema) in &pa {
            let merged = match pb.get(name) {
                Some(other) => schema_union(schema, other),
                None => schema.clone(),
            };
            joined.insert(name.clone(), merged);
        }
        out.insert("properties".into(), Value::Object(joined));
    }
    for key in ["items", "additionalProperties"] {
        if let (Some(x), Some(y)) = (a.get(key), b.get(key)) {
            if x.is_object() && y.is_object() {
                out.insert(key.into(), schema_union(x, y));
            }
        }
    }
    match (a.get("enum").and_then(Value::as_array), b.get("enum").and_then(Value::as_array)) {
        (Some(x), Some(y)) => {
            let mut joined = x.clone();
            joined.extend(y.iter().filter(|v| !x.contains(v)).cloned());
            out.insert("enum".into(), Value::Array(joined));
        }
        _ => {
            out.remove("enum");
        }
    }
    let required = |m: &Map<String, Value>| -> Vec<Value> {
        m.get("required").and_then(Value::as_array).cloned().unwrap_or_default()
    };
    let both: Vec<Value> = required(b).into_iter().filter(|r| required(a).contains(r)).collect();
    if both.is_empty() {
        out.remove("required");
    } else {
        out.insert("required".into(), Value::Array(both));
    }
    let rules = |m: &Map<String, Value>| -> Vec<Value> {
        m.get("x-kubernetes-validations").and_then(Value::as_array).cloned().unwrap_or_default()
    };
    let shared_rules: Vec<Value> =
        rules(b).into_iter().filter(|r| rules(a).iter().any(|o| o["rule"] == r["rule"])).collect();
    if shared_rules.is_empty() {
        out.remove("x-kubernetes-validations");
    } else {
        out.insert("x-kubernetes-validations".into(), Value::Array(shared_rules));
    }
    for key in ["minimum", "minLength", "minItems", "minProperties"] {
        loosest(&mut out, a, b, key, f64::min);
    }
    for key in ["maximum", "maxLength", "maxItems", "maxProperties"] {
        loosest(&mut out, a, b, key, f64::max);
    }
    for key in
        ["pattern", "format", "exclusiveMinimum", "exclusiveMaximum", "oneOf", "anyOf", "allOf", "not", "multipleOf"]
    {
        if a.get(key) != b.get(key) {
            out.remove(key);
        }
    }
    for key in ["x-kubernetes-preserve-unknown-fields", "nullable", "x-kubernetes-int-or-string"] {
        if a.get(key) == Some(&Value::Bool(true)) {
            out.insert(key.into(), Value::Bool(true));
        }
    }
    // A list type the old release lacks would make the old operator's writes conflict with new rules
    // (uniqueness of map keys); the old semantics stay until the contract.
    if a.get("x-kubernetes-list-type") != b.get("x-kubernetes-list-type") {
        for key in ["x-kubernetes-list-type", "x-kubernetes-list-map-keys"] {
            match a.get(key) {
                Some(value) => out.insert(key.into(), value.clone()),
                None => out.remove(key),
            };
        }
    }
    Value::Object(out)
}

fn loosest(
    out: &mut Map<String, Value>,
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    key: &str,
    pick: fn(f64, f64) -> f64,
) {
    match (a.get(key).and_then(Value::as_f64), b.get(key).and_then(Value::as_f64)) {
        (Some(x), Some(y)) => {
            let chosen = if pick(x, y) == x { a[key].clone() } else { b[key].clone() };
            out.insert(key.into(), chosen);
        }
        _ => {
            out.remove(key);
        }
    }
}

/// The RBAC object both operator versions can run under: a role with the rules of both, a binding with the
/// subjects of both (its `roleRef` cannot change, so the old one's is kept).
pub fn rbac_union(old: Option<&Value>, new: &Value) -> Value {
    let Some(old) = old else { return new.clone() };
    let mut union = new.clone();
    for field in ["rules", "subjects"] {
        let (Some(before), Some(after)) = (old[field].as_array(), new[field].as_array()) else {
            if old.get(field).is_some() && new.get(field).is_none() {
                union[field] = old[field].clone();
            }
            continue;
        };
        let mut joined = before.clone();
        joined.extend(after.iter().filter(|x| !before.contains(x)).cloned());
        union[field] = Value::Array(joined);
    }
    if old.get("roleRef").is_some() {
        union["roleRef"] = old["roleRef"].clone();
    }
    union
}

/// The RBAC objects of the expand step: the union for objects both releases ship, the new release's own
/// for the rest.
pub fn rbac_expanded(old: &Release, new: &Release) -> Vec<Value> {
    new.objects
        .iter()
        .filter(|o| is_rbac(&ObjectKey::of(o)))
        .map(|o| rbac_union(old.object(&ObjectKey::of(o)), o))
        .collect()
}

/// What promotion writes: every non-CRD, non-RBAC object of the new release (namespaces first, so the
/// objects in them can be created).
pub fn promotion_objects(new: &Release) -> Vec<Value> {
    let mut objects: Vec<Value> = new.objects.iter().filter(|o| !is_rbac(&ObjectKey::of(o))).cloned().collect();
    objects.sort_by_key(|o| o["kind"] != "Namespace");
    objects
}

/// What promotion removes: the old release's non-CRD, non-RBAC objects the new one does not ship. Never a
/// namespace (its custom resources would go with it).
pub fn promotion_removals(old: &Release, new: &Release) -> Vec<ObjectKey> {
    old.objects
        .iter()
        .map(ObjectKey::of)
        .filter(|k| !is_rbac(k) && k.kind != "Namespace" && new.object(k).is_none())
        .collect()
}

/// What the RBAC contract removes: RBAC objects only the old release ships.
pub fn rbac_removals(old: &Release, new: &Release) -> Vec<ObjectKey> {
    old.objects.iter().map(ObjectKey::of).filter(|k| is_rbac(k) && new.object(k).is_none()).collect()
}

#[cfg(test)]
mod tests;
