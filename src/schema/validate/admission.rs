//! The API server's verdict on one write of a custom resource: the structural and CEL checks the validator
//! already knows, enforced the way a create or an update is, with validation ratcheting on update (a value
//! left as it was passes its ratcheted checks; list-type uniqueness is skipped altogether while the stored
//! object breaks it; `required`, combinators and transition rules are never ratcheted). The simulator admits writes with it, so it rejects what a real API server rejects.
//!
//! Known simplification: transition rules (`oldSelf`) are evaluated with `oldSelf` bound to the new value, so
//! they only reject where the rule fails for an unchanged value; the real server binds the old value.

use super::cel::CelOutcome;
use super::structural::{self, Enforcement};
use super::CrdEntry;
use crate::manifest::Crd;
use crate::schema::value_at;
use serde_json::Value;

/// One reason a write is rejected, as the API server words a field error (`spec.tier: Unsupported value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRejection {
    /// The field's path without the leading dot (`spec.tier`), `<root>` for the object itself.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// A CRD compiled once for admitting writes of its objects.
#[derive(Debug)]
pub struct CrdAdmission {
    entry: CrdEntry,
}

impl CrdAdmission {
    /// Compiles nothing yet: each version is compiled the first time an object of it is written.
    pub fn new(crd: Crd) -> CrdAdmission {
        CrdAdmission { entry: CrdEntry::new(crd) }
    }

    /// Why the API server rejects writing `object` (already pruned and defaulted) at `version`: on create
    /// `old` is None; on update it is the stored object, and unchanged values pass their ratcheted checks.
    /// Empty when the write is admitted (or the version has no schema).
    pub fn rejections(&self, version: &str, object: &Value, old: Option<&Value>) -> Vec<WriteRejection> {
        let Some(index) = self.entry.crd.versions.iter().position(|v| v.name == version) else {
            return Vec::new();
        };
        let Some(compiled) = self.entry.compiled(index) else { return Vec::new() };
        let unchanged = |path: &str| old.is_some_and(|old| value_at(old, path) == value_at(object, path));
        let violations = structural::validate(&compiled.root, object);
        // Only worth validating the stored object when the new one breaks a list-type rule.
        let stored_breaks_list_types = violations.iter().any(|v| v.enforcement == Enforcement::ListTypeRatcheted)
            && old.is_some_and(|old| {
                structural::validate(&compiled.root, old)
                    .iter()
                    .any(|v| v.enforcement == Enforcement::ListTypeRatcheted)
            });
        let mut out = Vec::new();
        for violation in violations {
            let ratcheted = match violation.enforcement {
                Enforcement::Ratcheted => unchanged(&violation.path),
                Enforcement::ListTypeRatcheted => stored_breaks_list_types,
                Enforcement::Always | Enforcement::ClientOnly => false,
            };
            // ClientOnly violations are accepted by the server; only typed clients fail to decode them.
            if violation.enforcement != Enforcement::ClientOnly && !ratcheted {
                out.push(WriteRejection { field: field_name(&violation.path), message: violation.message });
            }
        }
        if compiled.cel.is_empty() {
            return out;
        }
        for outcome in compiled.cel.evaluate(object) {
            // Unevaluable rules are the validator's gap, not the object's fault: they never reject.
            let CelOutcome::Violated { path, message, transition, .. } = outcome else { continue };
            let skipped = match (transition, old) {
                (true, None) => true, // transition rules do not run on create
                (true, Some(_)) => false,
                (false, _) => unchanged(&path),
            };
            if !skipped {
                out.push(WriteRejection { field: field_name(&path), message });
            }
        }
        out
    }
}

/// `.spec.tier` -> `spec.tier`, as the API server names fields in its causes.
fn field_name(path: &str) -> String {
    match path.strip_prefix('.').unwrap_or(path) {
        "" => "<root>".to_owned(),
        name => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn admission(spec_schema: Value) -> CrdAdmission {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": spec_schema}}}}]}
        });
        CrdAdmission::new(Crd::from_value(crd).unwrap())
    }

    fn widget(spec: Value) -> Value {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec})
    }

    fn fields(rejections: Vec<WriteRejection>) -> Vec<String> {
        rejections.into_iter().map(|r| r.field).collect()
    }

    #[test]
    fn create_rejects_every_violation_and_update_ratchets_unchanged_values() {
        let admission = admission(json!({"type": "object", "properties": {
            "tier": {"type": "string", "enum": ["gold"]}, "replicas": {"type": "integer", "maximum": 3}}}));
        let old = widget(json!({"tier": "bronze", "replicas": 1}));
        assert_eq!(fields(admission.rejections("v1", &old, None)), ["spec.tier"]);
        let other_field_changed = widget(json!({"tier": "bronze", "replicas": 2}));
        assert!(admission.rejections("v1", &other_field_changed, Some(&old)).is_empty());
        let still_invalid = widget(json!({"tier": "silver", "replicas": 9}));
        assert_eq!(fields(admission.rejections("v1", &still_invalid, Some(&old))), ["spec.replicas", "spec.tier"]);
        assert!(admission.rejections("v2", &still_invalid, None).is_empty(), "an unknown version has no schema here");
    }

    #[test]
    fn list_uniqueness_is_skipped_while_the_stored_object_breaks_it() {
        let admission = admission(json!({"type": "object", "properties": {"ports": {"type": "array",
            "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}}));
        let duplicated = widget(json!({"ports": [{"name": "a"}, {"name": "a"}]}));
        let unique = widget(json!({"ports": [{"name": "a"}]}));
        let more = widget(json!({"ports": [{"name": "a"}, {"name": "b"}, {"name": "b"}]}));
        assert_eq!(fields(admission.rejections("v1", &duplicated, None)), ["spec.ports[1]"]);
        assert!(
            admission.rejections("v1", &more, Some(&duplicated)).is_empty(),
            "changed, but the stored one breaks it"
        );
        assert_eq!(fields(admission.rejections("v1", &more, Some(&unique))), ["spec.ports[2]"]);
    }

    #[test]
    fn required_is_never_ratcheted_and_cel_rules_ratchet_unless_transition() {
        let admission = admission(json!({"type": "object", "required": ["owner"], "properties": {
            "owner": {"type": "string"},
            "size": {"type": "integer", "x-kubernetes-validations": [{"rule": "self < 10", "message": "too big"}]},
            "name": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "immutable"}]}}}));
        let old = widget(json!({"size": 20, "name": "a"}));
        assert_eq!(fields(admission.rejections("v1", &old, None)), ["spec.owner", "spec.size"]);
        let update = widget(json!({"size": 20, "name": "a"}));
        assert_eq!(
            fields(admission.rejections("v1", &update, Some(&old))),
            ["spec.owner"],
            "required is not ratcheted"
        );
        let fixed = widget(json!({"size": 20, "name": "a", "owner": "me"}));
        assert!(admission.rejections("v1", &fixed, Some(&old)).is_empty(), "the unchanged CEL violation ratchets");
    }
}
