use super::*;
use std::path::PathBuf;

fn demo(version: &str) -> Release {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator").join(version);
    Release::load(&path, "demo-system").expect("the demo release loads")
}

const WIDGETS: &str = "widgets.demo.operator-upgrade.dev";

fn version<'a>(crd: &'a Value, name: &str) -> &'a Value {
    crd["spec"]["versions"].as_array().unwrap().iter().find(|v| v["name"] == name).unwrap()
}

#[test]
fn the_expanded_demo_crd_serves_both_releases_with_the_old_storage_version() {
    let (old, new) = (demo("v1.0.0"), demo("v1.1.0"));
    let expanded = expand_crd(old.crds.get(WIDGETS), &new.crds[WIDGETS]);
    assert_eq!(storage_version(&expanded).as_deref(), Some("v1alpha1"));
    assert_eq!(version(&expanded, "v1")["served"], true);
    assert_eq!(version(&expanded, "v1")["storage"], false);
    let spec = &version(&expanded, "v1alpha1")["schema"]["openAPIV3Schema"]["properties"]["spec"];
    // The old release's field the new one drops is kept, so the old operator's writes are not pruned.
    assert_eq!(spec["properties"]["legacyMode"]["type"], "boolean");
    // Either release's enum values are accepted.
    assert_eq!(spec["properties"]["tier"]["enum"], json!(["bronze", "silver", "gold", "platinum"]));
    // New CEL rules the old operator never had to satisfy are not in force yet.
    assert!(spec.get("x-kubernetes-validations").is_none());
    // Switching storage later moves it to the new release's storage version.
    let switched = storage_switched_crd(&expanded, &new.crds[WIDGETS]);
    assert_eq!(storage_version(&switched).as_deref(), Some("v1"));
    assert_eq!(version(&switched, "v1alpha1")["served"], true);
}

#[test]
fn expanding_a_crd_with_itself_changes_nothing() {
    let new = demo("v1.1.0");
    assert_eq!(expand_crd(Some(&new.crds[WIDGETS]), &new.crds[WIDGETS]), new.crds[WIDGETS]);
    let old = demo("v1.0.0");
    assert_eq!(expand_crd(Some(&old.crds[WIDGETS]), &old.crds[WIDGETS]), old.crds[WIDGETS]);
}

#[test]
fn a_new_crd_is_created_as_shipped() {
    let new = demo("v1.1.0");
    assert_eq!(expand_crd(None, &new.crds[WIDGETS]), new.crds[WIDGETS]);
}

#[test]
fn the_union_schema_takes_the_looser_of_every_bound_and_only_shared_requirements() {
    let old = json!({"type": "object", "required": ["a", "b"], "properties": {
        "a": {"type": "integer", "minimum": 1, "maximum": 5},
        "b": {"type": "string", "pattern": "^x", "maxLength": 3},
        "l": {"type": "array", "items": {"type": "string"}}}});
    let new = json!({"type": "object", "required": ["a", "c"], "properties": {
        "a": {"type": "integer", "minimum": 0, "maximum": 3},
        "b": {"type": "string", "pattern": "^y", "maxLength": 10},
        "c": {"type": "string"},
        "l": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}});
    let union = schema_union(&old, &new);
    assert_eq!(union["required"], json!(["a"]));
    assert_eq!(union["properties"]["a"], json!({"type": "integer", "minimum": 0, "maximum": 5}));
    assert_eq!(union["properties"]["b"], json!({"type": "string", "maxLength": 10}));
    assert_eq!(union["properties"]["c"], json!({"type": "string"}));
    assert!(union["properties"]["l"].get("x-kubernetes-list-type").is_none());
    assert_eq!(schema_union(&new, &new), new);
}

#[test]
fn rbac_union_keeps_both_releases_rules_and_subjects_and_the_old_role_ref() {
    let old = json!({"kind": "ClusterRole", "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
    let new = json!({"kind": "ClusterRole", "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}]});
    let union = rbac_union(Some(&old), &new);
    assert_eq!(union["rules"].as_array().unwrap().len(), 2);
    let old_binding = json!({"kind": "ClusterRoleBinding", "roleRef": {"name": "a"}, "subjects": [{"name": "x"}]});
    let new_binding = json!({"kind": "ClusterRoleBinding", "roleRef": {"name": "b"}, "subjects": [{"name": "y"}]});
    let union = rbac_union(Some(&old_binding), &new_binding);
    assert_eq!(union["roleRef"], json!({"name": "a"}));
    assert_eq!(union["subjects"], json!([{"name": "x"}, {"name": "y"}]));
    assert_eq!(rbac_union(Some(&new), &new), new);
}

#[test]
fn promotion_applies_the_new_release_and_removes_what_only_the_old_ships_never_a_namespace() {
    let (old, new) = (demo("v1.0.0"), demo("v1.1.0"));
    let applied = promotion_objects(&new);
    assert_eq!(applied[0]["kind"], "Namespace");
    assert!(applied.iter().any(|o| o["kind"] == "Deployment"));
    assert!(promotion_removals(&old, &new).is_empty());
    let mut older = old.clone();
    older.objects.push(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gone", "namespace": "demo-system"}}),
    );
    older.objects.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old-ns"}}));
    let removed = promotion_removals(&older, &new);
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].name, "gone");
}
