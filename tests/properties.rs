//! Property: any CRD set diffed with itself yields no findings, and a schema diff never panics whatever
//! two schemas it is given.

use operator_upgrade::manifest::{Crd, Schema};
use operator_upgrade::schema::{diff_crds, diff_schemas};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn scalar_schema() -> impl Strategy<Value = Value> {
    let types = prop_oneof![Just("string"), Just("integer"), Just("number"), Just("boolean")];
    (
        types,
        proptest::option::of("[a-z]{0,6}"),
        proptest::option::of(0u32..100),
        proptest::option::of(proptest::collection::btree_set("[a-c]{1,2}", 1..4)),
        any::<bool>(),
        proptest::option::of(prop_oneof![Just("self.size() > 0"), Just("self == oldSelf")]),
    )
        .prop_map(|(ty, description, maximum, enumeration, nullable, rule)| {
            let mut schema = Map::new();
            schema.insert("type".into(), json!(ty));
            if let Some(d) = description {
                schema.insert("description".into(), json!(d));
            }
            if let Some(m) = maximum {
                schema.insert(if ty == "string" { "maxLength" } else { "maximum" }.into(), json!(m));
            }
            if let (Some(values), "string") = (enumeration, ty) {
                schema.insert("enum".into(), json!(values));
            }
            if nullable {
                schema.insert("nullable".into(), json!(true));
            }
            if let Some(rule) = rule {
                schema.insert("x-kubernetes-validations".into(), json!([{"rule": rule, "message": "m"}]));
            }
            Value::Object(schema)
        })
}

fn schema() -> impl Strategy<Value = Value> {
    scalar_schema().prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            (proptest::collection::btree_map("[a-z]{1,5}", inner.clone(), 0..5), any::<bool>()).prop_map(
                |(properties, preserve)| {
                    let required: Vec<&String> = properties.keys().take(1).collect();
                    json!({
                        "type": "object",
                        "properties": properties,
                        "required": required,
                        "x-kubernetes-preserve-unknown-fields": preserve,
                    })
                }
            ),
            (inner.clone(), prop_oneof![Just("atomic"), Just("set")]).prop_map(
                |(items, list_type)| json!({"type": "array", "items": items, "x-kubernetes-list-type": list_type})
            ),
            inner.clone().prop_map(|values| json!({"type": "object", "additionalProperties": values})),
            inner.prop_map(|branch| json!({"type": "object", "anyOf": [branch.clone(), branch]})),
        ]
    })
}

fn crd(schemas: Vec<Value>) -> Value {
    let versions: Vec<Value> = schemas
        .into_iter()
        .enumerate()
        .map(|(i, s)| json!({"name": format!("v{}", i + 1), "served": true, "storage": i == 0, "schema": {"openAPIV3Schema": s}}))
        .collect();
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Thing", "plural": "things"}, "versions": versions}
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_crd_diffed_with_itself_yields_nothing(schemas in proptest::collection::vec(schema(), 1..3)) {
        let crd = Crd::from_value(crd(schemas)).expect("generated CRDs are valid");
        let findings = diff_crds(Some(&crd), Some(&crd));
        prop_assert!(findings.is_empty(), "{:?}", findings);
    }

    #[test]
    fn any_two_schemas_diff_without_panicking(old in schema(), new in schema()) {
        let old: Schema = serde_json::from_value(old).expect("valid schema");
        let new: Schema = serde_json::from_value(new).expect("valid schema");
        let findings = diff_schemas("things.example.com", "v1", &old, &new, true);
        prop_assert!(old != new || findings.is_empty());
        prop_assert!(old == new || !findings.is_empty(), "a difference must be reported");
    }
}
