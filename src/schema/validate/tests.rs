//! Unit tests of the validator: one small schema and object per check, asserting the code, the concrete path,
//! the severity (ratcheted or not) and the keyword of each finding.

use super::*;
use crate::manifest::{DocumentRef, LoadedCrd};
use serde_json::json;
use std::path::PathBuf;

/// A one-version CRD `widgets.example.com` whose `spec` (and `status`, when given) follow the given schemas.
fn crd_with(spec: Value, status: Option<Value>, extra_versions: Value) -> BTreeMap<String, LoadedCrd> {
    let mut properties = json!({"apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "metadata": {"type": "object"}, "spec": spec});
    if let Some(status) = status {
        properties["status"] = status;
    }
    let mut versions = vec![json!({"name": "v1", "served": true, "storage": true,
        "subresources": {"status": {}},
        "schema": {"openAPIV3Schema": {"type": "object", "properties": properties}}})];
    if let Some(extra) = extra_versions.as_array() {
        versions.extend(extra.iter().cloned());
    }
    let document = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"}, "versions": versions}});
    let crd = match Crd::from_value(document) {
        Ok(crd) => crd,
        Err(error) => panic!("test CRD does not parse: {error}"),
    };
    let source = DocumentRef { file: PathBuf::from("crd.yaml"), document: 1, line: 1 };
    let loaded = LoadedCrd { crd, source, original_api_version: "apiextensions.k8s.io/v1".to_owned() };
    BTreeMap::from([("widgets.example.com".to_owned(), loaded)])
}

fn widget(spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "ns"}, "spec": spec})
}

/// The findings for one object whose spec follows `spec_schema`.
fn findings(spec_schema: Value, spec: Value) -> Vec<ObjectFinding> {
    Validator::new(&crd_with(spec_schema, None, json!([]))).validate(&widget(spec), None)
}

/// `(code, path, severity)` of each finding, sorted.
fn summary(findings: &[ObjectFinding]) -> Vec<(&str, &str, Severity)> {
    let mut out: Vec<_> = findings.iter().map(|f| (f.key.code.as_str(), f.key.path.as_str(), f.key.severity)).collect();
    out.sort();
    out
}

fn object_schema(properties: Value) -> Value {
    json!({"type": "object", "properties": properties})
}

const INFO: Severity = Severity::Info;
const WARNING: Severity = Severity::Warning;
const BREAKING: Severity = Severity::Breaking;

#[test]
fn integer_and_number_types_follow_kube_openapi() {
    let schema = object_schema(json!({"count": {"type": "integer"}, "ratio": {"type": "number"}}));
    assert!(findings(schema.clone(), json!({"count": 3, "ratio": 1})).is_empty(), "an integer is a number");
    assert!(findings(schema.clone(), json!({"count": 2.0})).is_empty(), "2.0 is an integer in JSON");
    let found = findings(schema.clone(), json!({"count": 1.5, "ratio": "x"}));
    assert_eq!(summary(&found), [("value-invalid", ".spec.count", WARNING), ("value-invalid", ".spec.ratio", WARNING)]);
    assert!(found.iter().all(|f| f.key.keyword == Some(Keyword::Type)));
    assert!(found[0].key.message.contains("must be of type integer"), "{}", found[0].key.message);
    // Beyond int64, Kubernetes decodes a float, which is an integer only up to 2^53.
    let huge = findings(schema, json!({"count": 18_446_744_073_709_551_615u64}));
    assert_eq!(summary(&huge), [("value-invalid", ".spec.count", WARNING)]);
}

#[test]
fn int_or_string_accepts_integers_and_strings_only() {
    let schema = object_schema(json!({"port": {"x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}]}}));
    for good in [json!(80), json!("http")] {
        assert!(findings(schema.clone(), json!({"port": good})).is_empty(), "{good}");
    }
    for bad in [json!(1.5), json!(true)] {
        let found = findings(schema.clone(), json!({"port": bad}));
        // One finding: the value of the wrong type is not judged again by the anyOf.
        assert_eq!(summary(&found), [("value-invalid", ".spec.port", WARNING)], "{bad}");
        assert!(found[0].key.message.contains("integer or a string"));
    }
}

#[test]
fn nullable_null_passes_and_other_nulls_are_dropped_or_invalid() {
    let schema = object_schema(json!({
        "optional": {"type": "string", "nullable": true},
        "plain": {"type": "string"},
        "list": {"type": "array", "items": {"type": "string"}}
    }));
    // A non-nullable null field is dropped by the API server before validation: no finding.
    assert!(findings(schema.clone(), json!({"optional": null, "plain": null})).is_empty());
    // An array item cannot be dropped: a null item is invalid.
    let found = findings(schema, json!({"list": ["a", null]}));
    assert_eq!(summary(&found), [("value-invalid", ".spec.list[1]", WARNING)]);
}

#[test]
fn formats_the_api_server_enforces() {
    let schema = object_schema(json!({
        "at": {"type": "string", "format": "date-time"},
        "data": {"type": "string", "format": "byte"},
        "free": {"type": "string", "format": "no-such-format"},
        "small": {"type": "integer", "format": "int32"}
    }));
    let valid = json!({"at": "2024-01-01T00:00:00Z", "data": "aGk=", "free": "anything", "small": 2147483647});
    assert!(findings(schema.clone(), valid).is_empty());
    let found = findings(schema, json!({"at": "yesterday", "data": "not base64", "small": 2147483648u64}));
    assert_eq!(
        summary(&found),
        [
            ("value-invalid", ".spec.at", WARNING),
            ("value-invalid", ".spec.data", WARNING),
            ("value-invalid", ".spec.small", WARNING)
        ]
    );
    assert!(found.iter().all(|f| f.key.keyword == Some(Keyword::Format)));
    let int32 = found.iter().find(|f| f.key.path == ".spec.small").map(|f| f.key.message.as_str()).unwrap_or_default();
    assert!(int32.contains("the API server accepts it"), "{int32}");
}

#[test]
fn enum_pattern_and_lengths_in_characters() {
    let schema = object_schema(json!({
        "mode": {"type": "string", "enum": ["fast", "safe"]},
        "code": {"type": "string", "pattern": "^\\d{3}$"},
        "name": {"type": "string", "minLength": 2, "maxLength": 3}
    }));
    assert!(findings(schema.clone(), json!({"mode": "safe", "code": "123", "name": "été"})).is_empty(), "3 characters");
    let found = findings(schema, json!({"mode": "slow", "code": "١٢٣", "name": "a"}));
    assert_eq!(
        summary(&found),
        [
            ("value-invalid", ".spec.code", WARNING),
            ("value-invalid", ".spec.mode", WARNING),
            ("value-invalid", ".spec.name", WARNING)
        ]
    );
    let keywords: Vec<Option<Keyword>> = found.iter().map(|f| f.key.keyword).collect();
    assert!(keywords.contains(&Some(Keyword::Enum)) && keywords.contains(&Some(Keyword::Pattern)));
    assert!(keywords.contains(&Some(Keyword::MinLength)));
}

#[test]
fn numeric_bounds_and_multiple_of() {
    let schema = object_schema(json!({
        "replicas": {"type": "integer", "minimum": 1, "maximum": 5},
        "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 1, "exclusiveMaximum": true},
        "step": {"type": "number", "multipleOf": 0.1}
    }));
    assert!(findings(schema.clone(), json!({"replicas": 5, "ratio": 0.5, "step": 0.3})).is_empty());
    let found = findings(schema, json!({"replicas": 0, "ratio": 1, "step": 0.25}));
    let keywords: Vec<Option<Keyword>> = found.iter().map(|f| f.key.keyword).collect();
    assert_eq!(keywords, [Some(Keyword::Maximum), Some(Keyword::Minimum), Some(Keyword::MultipleOf)]);
}

#[test]
fn collection_sizes_and_required() {
    let schema = json!({"type": "object", "required": ["name"], "minProperties": 2,
        "properties": {"name": {"type": "string"}, "tags": {"type": "array", "maxItems": 1, "items": {"type": "string"}}}});
    let found = findings(schema, json!({"tags": ["a", "b"]}));
    assert_eq!(
        summary(&found),
        [
            ("required-missing", ".spec.name", BREAKING),
            ("value-invalid", ".spec", WARNING),
            ("value-invalid", ".spec.tags", WARNING)
        ]
    );
}

#[test]
fn list_type_set_and_map_with_two_keys_are_unique() {
    let schema = object_schema(json!({
        "hosts": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"],
            "items": {"type": "object", "required": ["port"],
                "properties": {"port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"}}}}
    }));
    let ok = json!({"hosts": ["a", "b"], "ports": [{"port": 80}, {"port": 80, "protocol": "UDP"}]});
    // The defaulted protocol (TCP) tells the two entries apart.
    assert_eq!(summary(&findings(schema.clone(), ok)), [("default-applied", ".spec.ports[0].protocol", INFO)]);
    let bad = json!({"hosts": ["a", "a"], "ports": [{"port": 80, "protocol": "TCP"}, {"port": 80}]});
    let found = findings(schema, bad);
    assert_eq!(
        summary(&found),
        [
            ("default-applied", ".spec.ports[1].protocol", INFO),
            ("duplicate-list-key", ".spec.hosts[1]", WARNING),
            ("duplicate-list-key", ".spec.ports[1]", WARNING)
        ]
    );
    let key = found.iter().find(|f| f.key.path == ".spec.ports[1]").map(|f| f.key.message.clone()).unwrap_or_default();
    assert!(key.contains("port=80, protocol=\"TCP\"") && key.contains("[0]"), "{key}");
}

#[test]
fn pruning_reports_the_data_lost_and_respects_preserved_subtrees() {
    let schema = object_schema(json!({
        "kept": {"type": "string"},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"typed": {"type": "object", "properties": {"a": {"type": "string"}}}}}
    }));
    let spec = json!({"kept": "k", "gone": {"x": 1}, "free": {"anything": [1], "typed": {"a": "a", "b": "b"}}});
    let found = findings(schema, spec);
    assert_eq!(
        summary(&found),
        [("data-pruned", ".spec.free.typed.b", BREAKING), ("data-pruned", ".spec.gone", BREAKING)]
    );
    let gone = found.iter().find(|f| f.key.path == ".spec.gone").and_then(|f| f.key.value.clone());
    assert_eq!(gone, Some(json!({"x": 1})));
}

#[test]
fn defaults_report_the_outermost_value_and_without_old_crds_are_info() {
    let schema = object_schema(json!({
        "tls": {"type": "object", "default": {}, "properties": {"enabled": {"type": "boolean", "default": true}}},
        "retries": {"type": "integer", "default": 0},
        "mode": {"type": "string", "default": "auto"}
    }));
    let found = findings(schema, json!({"mode": "manual"}));
    // Without the old CRDs nobody can tell a new default from one the API server has always applied.
    assert_eq!(summary(&found), [("default-applied", ".spec.retries", INFO), ("default-applied", ".spec.tls", INFO)]);
    let tls = found.iter().find(|f| f.key.path == ".spec.tls").and_then(|f| f.key.value.clone());
    assert_eq!(tls, Some(json!({"enabled": true})), "the value readers see, nested defaults included");
    assert!(found[0].key.message.contains("would read as 0"), "{}", found[0].key.message);
}

/// With the old CRDs: a default both apply alike is no finding, a new one a warning (info for a zero value), a
/// changed one a warning with the old value, and a kind the old CRDs do not define has always had its defaults.
#[test]
fn defaults_against_the_old_crds_report_only_what_changes() {
    let new_schema = object_schema(json!({
        "same": {"type": "string", "default": "a"},
        "added": {"type": "string", "default": "b"},
        "added_zero": {"type": "integer", "default": 0},
        "changed": {"type": "integer", "default": 5},
        "nested": {"type": "object", "default": {}, "properties": {"depth": {"type": "integer", "default": 2}}}
    }));
    let old_schema = object_schema(json!({
        "same": {"type": "string", "default": "a"},
        "added": {"type": "string"},
        "changed": {"type": "integer", "default": 3},
        "nested": {"type": "object", "default": {}, "properties": {"depth": {"type": "integer", "default": 1}}}
    }));
    let validator = Validator::new(&crd_with(new_schema.clone(), None, json!([]))).compared_with(&crd_with(
        old_schema,
        None,
        json!([]),
    ));
    assert!(validator.knows_old_crds());
    let found = validator.validate(&widget(json!({})), None);
    assert_eq!(
        summary(&found),
        [
            ("default-applied", ".spec.added", WARNING),
            ("default-applied", ".spec.added_zero", INFO),
            ("default-applied", ".spec.changed", WARNING),
            ("default-applied", ".spec.nested", WARNING)
        ]
    );
    let changed = found.iter().find(|f| f.key.path == ".spec.changed").expect("changed");
    assert_eq!((changed.key.old.clone(), changed.key.value.clone()), (Some(json!(3)), Some(json!(5))));
    let nested = found.iter().find(|f| f.key.path == ".spec.nested").expect("nested");
    assert_eq!(nested.key.old, Some(json!({"depth": 1})));

    // Old CRDs that do not define the kind: the kind is new in this release.
    let unrelated = BTreeMap::new();
    let validator = Validator::new(&crd_with(new_schema, None, json!([]))).compared_with(&unrelated);
    let found = validator.validate(&widget(json!({})), None);
    assert!(
        found.iter().all(|f| f.key.severity == INFO && f.key.message.contains("old CRDs do not define")),
        "{found:?}"
    );
}

#[test]
fn embedded_resources_need_type_meta_and_valid_object_meta() {
    let schema = object_schema(json!({
        "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
    }));
    let good =
        json!({"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}}}});
    assert!(findings(schema.clone(), good).is_empty());
    let bad = json!({"template": {"kind": "not a kind!", "metadata": {"labels": {"bad key!": "x"}}}});
    let found = findings(schema, bad);
    assert_eq!(
        summary(&found),
        [
            ("required-missing", ".spec.template.apiVersion", BREAKING),
            ("value-invalid", ".spec.template.kind", BREAKING),
            ("value-invalid", ".spec.template.metadata.labels", BREAKING)
        ]
    );
    assert!(found.iter().all(|f| f.key.keyword == Some(Keyword::EmbeddedResource)));
}

#[test]
fn combinator_violations_are_never_ratcheted() {
    let schema = object_schema(json!({
        "any": {"type": "string", "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}]},
        "one": {"type": "string", "oneOf": [{"pattern": "x"}, {"pattern": "y"}]},
        "not": {"type": "string", "not": {"enum": ["forbidden"]}},
        "all": {"type": "integer", "allOf": [{"minimum": 10}]}
    }));
    assert!(findings(schema.clone(), json!({"any": "abc", "one": "x", "not": "ok", "all": 10})).is_empty());
    let found = findings(schema, json!({"any": "c", "one": "xy", "not": "forbidden", "all": 3}));
    assert_eq!(
        summary(&found),
        [
            ("value-invalid", ".spec.all", BREAKING),
            ("value-invalid", ".spec.any", BREAKING),
            ("value-invalid", ".spec.not", BREAKING),
            ("value-invalid", ".spec.one", BREAKING)
        ]
    );
}

#[test]
fn status_violations_break_the_operators_status_writes() {
    let status =
        object_schema(json!({"phase": {"type": "string", "enum": ["Ready", "Failed"]}, "legacy": {"type": "string"}}));
    let crds = crd_with(object_schema(json!({})), Some(status), json!([]));
    let mut object = widget(json!({}));
    object["status"] = json!({"phase": "Unknown", "undeclared": 1});
    let found = Validator::new(&crds).validate(&object, None);
    assert_eq!(
        summary(&found),
        [("data-pruned", ".status.undeclared", WARNING), ("value-invalid", ".status.phase", BREAKING)]
    );
    assert!(found.iter().all(|f| f.key.side == Side::Status));
}

#[test]
fn unserved_versions_name_the_migration_target_and_are_checked_there_without_conversion() {
    let old = json!([{"name": "v1alpha1", "served": false, "storage": false,
        "schema": {"openAPIV3Schema": {"type": "object"}}}]);
    let crds = crd_with(object_schema(json!({"size": {"type": "integer"}})), None, old);
    let mut object = widget(json!({"size": "big"}));
    object["apiVersion"] = json!("example.com/v1alpha1");
    let found = Validator::new(&crds).validate(&object, None);
    assert_eq!(
        summary(&found),
        [("object-version-not-served", ".", BREAKING), ("value-invalid", ".spec.size", WARNING)]
    );
    assert_eq!(found[0].key.value, Some(json!("example.com/v1")));
    assert!(found[0].key.message.contains("migrate it to example.com/v1"), "{}", found[0].key.message);
    assert_eq!(found[1].key.version.as_deref(), Some("v1"));
}

#[test]
fn objects_of_other_kinds_are_unknown_or_not_custom() {
    let validator = Validator::new(&crd_with(object_schema(json!({})), None, json!([])));
    // Another project's group: not a risk.
    let other =
        validator.check(json!({"apiVersion": "other.io/v1", "kind": "Gadget", "metadata": {"name": "g"}}), None);
    assert_eq!(other.class, ObjectClass::OtherGroup);
    assert_eq!(summary(&other.findings), [("object-kind-unknown", ".", INFO)]);
    // A kind missing from a group the set defines: its CRD may have been removed.
    let unknown =
        validator.check(json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}), None);
    assert_eq!(unknown.class, ObjectClass::UnknownKind);
    assert_eq!(summary(&unknown.findings), [("object-kind-unknown", ".", WARNING)]);
    assert!(unknown.findings[0].key.message.contains("Gadget.example.com"), "{}", unknown.findings[0].key.message);
    for built_in in
        [json!({"apiVersion": "v1", "kind": "ConfigMap"}), json!({"apiVersion": "apps/v1", "kind": "Deployment"})]
    {
        let outcome = validator.check(built_in, None);
        assert_eq!(outcome.class, ObjectClass::NotCustom);
        assert!(outcome.findings.is_empty());
    }
}

#[test]
fn cel_outcomes_map_to_ratcheted_transition_and_unevaluable_findings() {
    let schema = json!({"type": "object",
    "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
    "x-kubernetes-validations": [
        {"rule": "self.min <= self.max", "message": "min must not exceed max"},
        {"rule": "!has(oldSelf.max) || self.max > oldSelf.max", "message": "max only grows"},
        {"rule": "type(self.min) == int"}
    ]});
    let found = findings(schema, json!({"min": 5, "max": 3}));
    let summary = summary(&found);
    assert_eq!(
        summary,
        [
            ("cel-rule-violated", ".spec", WARNING),
            ("cel-rule-violated", ".spec", BREAKING),
            ("cel-unevaluable", ".spec", WARNING)
        ]
    );
    let transition =
        found.iter().find(|f| f.key.severity == BREAKING).map(|f| f.key.message.as_str()).unwrap_or_default();
    assert!(transition.contains("oldSelf") && transition.starts_with("max only grows"), "{transition}");
    assert!(found.iter().all(|f| f.key.rule.is_some() && f.key.keyword == Some(Keyword::Cel)));
}

#[test]
fn unsupported_patterns_are_unevaluable_not_passes() {
    let schema = object_schema(json!({"name": {"type": "string", "pattern": "\\Ca"}}));
    let found = findings(schema, json!({"name": "anything"}));
    assert_eq!(summary(&found), [("pattern-unevaluable", ".spec.name", WARNING)]);
}

#[test]
fn legacy_crds_without_pruning_report_no_pruned_data() {
    let mut crds = crd_with(object_schema(json!({"a": {"type": "string"}})), None, json!([]));
    if let Some(loaded) = crds.get_mut("widgets.example.com") {
        loaded.crd.preserve_unknown_fields = true;
    }
    let found = Validator::new(&crds).validate(&widget(json!({"a": "x", "b": "kept"})), None);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn validators_are_shared_across_threads() {
    fn assert_sync<T: Send + Sync>() {}
    assert_sync::<Validator>();
    let validator = Validator::new(&crd_with(object_schema(json!({"n": {"type": "integer"}})), None, json!([])));
    let counts: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|i: usize| {
                let validator = &validator;
                scope.spawn(move || {
                    validator
                        .validate(&widget(json!({"n": if i.is_multiple_of(2) { json!(1) } else { json!("x") }})), None)
                        .len()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(usize::MAX)).collect()
    });
    assert_eq!(counts, [0, 1, 0, 1], "the lazily compiled schema is the same for every thread");
}

/// The object before defaulting is rebuilt from the defaulted one (only for objects that got a default): absent
/// fields go again, replaced nulls (a field, a map value, an array item) come back, nested defaults go with
/// their outer one.
#[test]
fn the_object_before_defaults_is_rebuilt_exactly() {
    let spec_schema = object_schema(json!({
        "mode": {"type": "string", "default": "fast"},
        "level": {"type": "integer", "default": 3},
        "nested": {"type": "object", "default": {}, "properties": {"inner": {"type": "string", "default": "x"}}},
        "map": {"type": "object", "additionalProperties": {"type": "string", "default": "v"}},
        "list": {"type": "array", "items": {"type": "integer", "default": 7}},
        "kept": {"type": "string", "default": "d"}
    }));
    let crds = crd_with(spec_schema, None, json!([]));
    let schema = crds["widgets.example.com"].crd.versions[0].schema.clone().expect("a schema");
    let before = widget(json!({"level": null, "map": {"a": null, "b": "set"}, "list": [1, null], "kept": "mine"}));
    let mut object = before.clone();
    let applied: Vec<_> = apply_defaults_collecting(&mut object, &schema).into_iter().filter(|a| !a.nested).collect();
    assert_eq!(applied.len(), 5, "mode, level, nested, map.a and list[1] are defaulted: {applied:?}");
    assert_ne!(object, before);
    assert_eq!(without_defaults(&object, &applied), before);
}
