//! Findings about existing objects checked against the new CRDs (`validate`, `plan --objects`): which object,
//! where in it, and what happens to it once the new CRDs are applied.

use super::{FindingCode, Severity, Side, SourceLocation, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Which object a finding is about, as `kubectl` names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// The object's `apiVersion` as read (`cert-manager.io/v1`).
    pub api_version: String,
    /// The object's `kind`.
    pub kind: String,
    /// `metadata.namespace`; absent for cluster-scoped objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.name` (or `generateName` followed by `*` when only that is set).
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

impl ObjectRef {
    /// Reads the identifying fields of an object; missing fields read as empty.
    pub fn of(object: &Value) -> ObjectRef {
        let text = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or_default().to_owned();
        let metadata = object.get("metadata");
        let name = match metadata.and_then(|m| m.get("name")).and_then(Value::as_str) {
            Some(name) => name.to_owned(),
            None => match metadata.and_then(|m| m.get("generateName")).and_then(Value::as_str) {
                Some(prefix) => format!("{prefix}*"),
                None => String::new(),
            },
        };
        let namespace = metadata.and_then(|m| m.get("namespace")).and_then(Value::as_str).map(str::to_owned);
        ObjectRef {
            api_version: text(object.get("apiVersion")),
            kind: text(object.get("kind")),
            namespace: namespace.filter(|ns| !ns.is_empty()),
            name,
        }
    }

    /// `namespace/name`, or `name` for a cluster-scoped object.
    pub fn display_name(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{namespace}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The API group of `apiVersion` (empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map_or("", |(group, _)| group)
    }

    /// The version part of `apiVersion`.
    pub fn version(&self) -> &str {
        self.api_version.rsplit_once('/').map_or(self.api_version.as_str(), |(_, version)| version)
    }
}

/// The schema keyword a structural violation is about, so machines can tell a pattern from a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Keyword {
    /// `type`, `nullable` or `x-kubernetes-int-or-string`.
    Type,
    /// `format`.
    Format,
    /// `enum`.
    Enum,
    /// `pattern`.
    Pattern,
    /// `minimum` / `exclusiveMinimum`.
    Minimum,
    /// `maximum` / `exclusiveMaximum`.
    Maximum,
    /// `multipleOf`.
    MultipleOf,
    /// `minLength`.
    MinLength,
    /// `maxLength`.
    MaxLength,
    /// `minItems`.
    MinItems,
    /// `maxItems`.
    MaxItems,
    /// `uniqueItems`.
    UniqueItems,
    /// `minProperties`.
    MinProperties,
    /// `maxProperties`.
    MaxProperties,
    /// `required`.
    Required,
    /// `additionalProperties: false`.
    AdditionalProperties,
    /// `x-kubernetes-list-type` / `x-kubernetes-list-map-keys`.
    ListType,
    /// `x-kubernetes-embedded-resource`: the embedded object's `apiVersion`, `kind` and `metadata`.
    EmbeddedResource,
    /// `allOf`.
    AllOf,
    /// `anyOf`.
    AnyOf,
    /// `oneOf`.
    OneOf,
    /// `not`.
    Not,
    /// `x-kubernetes-validations` (CEL).
    Cel,
}

/// What a finding says, whichever object it is about: findings with equal keys on several objects are one
/// group ([`FindingGroup`](crate::schema::validate::FindingGroup)), so the key is the one place these fields are
/// declared, and both shapes serialize them alike (flattened).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingKey {
    /// What happens (a registered code of the object-validation family).
    pub code: FindingCode,
    /// How bad it is: the code's default unless a documented adjustment applies (docs/reference/findings.md).
    pub severity: Severity,
    /// The CRD (`metadata.name`) the object was checked against, when one defines its kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crd: Option<String>,
    /// The CRD version whose schema the object was checked against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// A concrete path in the object (`.spec.rules[0].match`); `.` for the object as a whole.
    pub path: String,
    /// Who is hurt: users writing `spec` or the operator writing `status`.
    pub side: Side,
    /// The schema keyword violated, for structural violations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<Keyword>,
    /// One sentence for people.
    pub message: String,
    /// The CEL rule, for CEL findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The value concerned: the default readers will now see, or the data that would be pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The value readers saw before, for a default the old CRDs applied with another value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
}

/// One thing that happens to an existing object once the new CRDs are applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectFinding {
    /// What happens, where in the object and how bad it is.
    #[serde(flatten)]
    pub key: FindingKey,
    /// The object.
    pub object: ObjectRef,
    /// Where the object was read from, when it came from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceLocation>,
}

impl ObjectFinding {
    /// A finding with the code's default severity; the side follows from the path.
    pub fn new(code: FindingCode, object: ObjectRef, path: impl Into<String>, message: impl Into<String>) -> Self {
        let path = path.into();
        let key = FindingKey {
            code,
            severity: code.info().severity,
            crd: None,
            version: None,
            side: Side::of_path(&path),
            path,
            keyword: None,
            message: message.into(),
            rule: None,
            value: None,
            old: None,
        };
        ObjectFinding { key, object, source: None }
    }

    /// Overrides the default severity; callers say why in a comment.
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.key.severity = severity;
        self
    }

    /// Names the CRD and version the object was checked against.
    pub fn against(mut self, crd: &str, version: Option<&str>) -> Self {
        self.key.crd = Some(crd.to_owned());
        self.key.version = version.map(str::to_owned);
        self
    }

    /// Records the schema keyword violated.
    pub fn with_keyword(mut self, keyword: Keyword) -> Self {
        self.key.keyword = Some(keyword);
        self
    }

    /// Records the CEL rule.
    pub fn with_rule(mut self, rule: impl Into<String>) -> Self {
        self.key.rule = Some(rule.into());
        self
    }

    /// Records the value concerned.
    pub fn with_value(mut self, value: Value) -> Self {
        self.key.value = Some(value);
        self
    }

    /// Records where the object was read from.
    pub fn at_source(mut self, source: Option<SourceLocation>) -> Self {
        self.source = source;
        self
    }
}

/// Sorts object findings into their canonical order, so every output is deterministic.
pub fn sort_object_findings(findings: &mut [ObjectFinding]) {
    fn object(f: &ObjectFinding) -> (&str, &str, &str) {
        (f.key.crd.as_deref().unwrap_or_default(), f.object.namespace.as_deref().unwrap_or_default(), &f.object.name)
    }
    findings.sort_by(|a, b| {
        object(a)
            .cmp(&object(b))
            .then_with(|| a.object.api_version.cmp(&b.object.api_version))
            .then_with(|| a.object.kind.cmp(&b.object.kind))
            .then_with(|| a.key.path.cmp(&b.key.path))
            .then_with(|| a.key.code.cmp(&b.key.code))
            .then_with(|| a.key.message.cmp(&b.key.message))
    });
}

/// The verdict over object findings: the highest severity, with `info` counting as safe.
pub fn object_verdict<'a>(findings: impl IntoIterator<Item = &'a ObjectFinding>) -> Verdict {
    match findings.into_iter().map(|f| f.key.severity).max() {
        None | Some(Severity::Info) => Verdict::Safe,
        Some(Severity::Warning) => Verdict::Warning,
        Some(Severity::Breaking) => Verdict::Breaking,
        Some(Severity::Blocker) => Verdict::Blocker,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_refs_read_identity_and_split_api_version() {
        let object = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "web", "namespace": "prod"}});
        let reference = ObjectRef::of(&object);
        assert_eq!(reference.display_name(), "prod/web");
        assert_eq!((reference.group(), reference.version()), ("cert-manager.io", "v1"));

        let core = ObjectRef::of(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "x-"}}));
        assert_eq!((core.group(), core.version(), core.name.as_str()), ("", "v1", "x-*"));
        assert_eq!(core.display_name(), "x-*");
    }

    #[test]
    fn findings_sort_by_object_then_path_then_code() {
        let reference =
            |name: &str| ObjectRef::of(&json!({"apiVersion": "a/v1", "kind": "K", "metadata": {"name": name}}));
        let mut findings = vec![
            ObjectFinding::new(FindingCode::ValueInvalid, reference("b"), ".spec.a", "m"),
            ObjectFinding::new(FindingCode::DataPruned, reference("a"), ".spec.z", "m"),
            ObjectFinding::new(FindingCode::DataPruned, reference("a"), ".spec.b", "m"),
        ];
        sort_object_findings(&mut findings);
        let order: Vec<(&str, &str)> = findings.iter().map(|f| (f.object.name.as_str(), f.key.path.as_str())).collect();
        assert_eq!(order, [("a", ".spec.b"), ("a", ".spec.z"), ("b", ".spec.a")]);
        assert_eq!(object_verdict(&findings), Verdict::Breaking);
        assert_eq!(findings[0].key.side, Side::Spec);
    }
}
