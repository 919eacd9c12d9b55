//! `plan -f`: plan files planned end to end, through the binary, with their steps and resolved settings.

use assert_cmd::Command;
use std::io::Write;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn plan_json(args: &[&str]) -> serde_json::Value {
    let output = Command::cargo_bin("operator-upgrade").unwrap().arg("plan").args(args).args(["-o", "json"]).output();
    let output = output.unwrap();
    assert!(matches!(output.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("valid JSON")
}

fn step_kinds(json: &serde_json::Value) -> Vec<&str> {
    json["steps"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect()
}

fn codes<'a>(json: &'a serde_json::Value, key: &str) -> Vec<&'a str> {
    json[key].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect()
}

#[test]
fn the_demo_plan_file_plans_end_to_end_with_canary_steps_and_explicit_defaults() {
    let file = root().join("examples/demo-operator/plan.yaml");
    let json = plan_json(&["-f", file.to_str().unwrap()]);
    assert_eq!(
        step_kinds(&json),
        ["preflight", "crd-expand", "canary-rollout", "analysis", "promotion", "crd-contract"],
        "{json:#}"
    );
    assert!(codes(&json, "findings").contains(&"storage-version-changed"));
    assert!(codes(&json, "operator_findings").contains(&"image-changed"));
    let resolved = &json["plan_file"]["resolved"];
    assert_eq!(json["plan_file"]["name"], "demo-operator-v1-1");
    // Defaults the file does not write are spelled out in the output.
    assert!(resolved["spec"]["analysis"]["failureLimit"].is_number(), "{resolved:#}");
    assert!(resolved["spec"]["canary"]["cohortLabel"].is_string(), "{resolved:#}");
    assert_eq!(resolved["spec"]["rollback"]["automatic"], true);
}

#[test]
fn a_missing_plan_file_is_bad_input_naming_the_file() {
    Command::cargo_bin("operator-upgrade")
        .unwrap()
        .args(["plan", "-f", "no/such/plan.yaml"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no/such/plan.yaml"));
}

#[test]
fn plan_needs_either_a_plan_file_or_both_releases() {
    Command::cargo_bin("operator-upgrade").unwrap().args(["plan", "--from", "x"]).assert().code(2);
}

fn corpus() -> Option<PathBuf> {
    let path = root().join("../shared/corpus/crds");
    if path.is_dir() {
        return Some(path);
    }
    let _ = writeln!(std::io::stderr(), "skipped: ../shared/corpus not found beside the project");
    None
}

#[test]
fn the_cloudnative_pg_plan_runs_against_its_release_manifests() {
    let Some(corpus) = corpus() else { return };
    let (old, new) = (corpus.join("cloudnative-pg/v1.29.0"), corpus.join("cloudnative-pg/v1.30.0"));
    let file = root().join("plans/cloudnative-pg.yaml");
    let json =
        plan_json(&["-f", file.to_str().unwrap(), "--from", old.to_str().unwrap(), "--to", new.to_str().unwrap()]);
    assert!(codes(&json, "findings").contains(&"cel-transition-rule-added"), "{json:#}");
    let operator = codes(&json, "operator_findings");
    assert!(
        operator.contains(&"image-changed") && operator.contains(&"rbac-cluster-wide-access-added"),
        "{operator:?}"
    );
    let kinds = step_kinds(&json);
    for kind in ["preflight", "backup-gate", "crd-expand", "rbac-expand", "canary-rollout", "analysis", "promotion"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert!(json["refusals"].as_array().unwrap().is_empty());
}

#[test]
fn the_cert_manager_plan_without_canary_replaces_then_watches_every_object() {
    let Some(corpus) = corpus() else { return };
    let (old, new) = (corpus.join("cert-manager/v1.18.5"), corpus.join("cert-manager/v1.19.0"));
    let file = root().join("plans/cert-manager.yaml");
    let json =
        plan_json(&["-f", file.to_str().unwrap(), "--from", old.to_str().unwrap(), "--to", new.to_str().unwrap()]);
    assert!(codes(&json, "findings").contains(&"default-added"), "{json:#}");
    let kinds = step_kinds(&json);
    let (promotion, analysis) =
        (kinds.iter().position(|k| *k == "promotion"), kinds.iter().position(|k| *k == "analysis"));
    assert!(promotion.is_some() && promotion < analysis, "{kinds:?}");
    assert!(!kinds.contains(&"canary-rollout"), "{kinds:?}");
}

#[test]
fn a_removed_stored_version_makes_the_plan_refuse_with_what_to_do_first() {
    let crd = |version: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: widgets.example.com}}\n\
             spec:\n  group: example.com\n  scope: Namespaced\n  names: {{kind: Widget, plural: widgets}}\n  versions:\n\
             \x20 - name: {version}\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {{type: object}}\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old.yaml"), dir.path().join("new.yaml"));
    std::fs::write(&old, crd("v1alpha1")).unwrap();
    std::fs::write(&new, crd("v1")).unwrap();
    let output = Command::cargo_bin("operator-upgrade")
        .unwrap()
        .args(["plan", "--color", "never", "--from", old.to_str().unwrap(), "--to", new.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("REFUSED"), "{text}");
    assert!(text.contains("migrate every stored widgets.example.com object off v1alpha1"), "{text}");
    assert!(!text.contains("== Steps"), "a refused plan lists no steps: {text}");
}

#[test]
fn plan_with_objects_reports_which_existing_objects_break_and_counts_them() {
    let file = root().join("examples/demo-operator/plan.yaml");
    let objects = root().join("examples/demo-operator/objects.yaml");
    let json = plan_json(&["-f", file.to_str().unwrap(), "--objects", objects.to_str().unwrap()]);
    let groups = json["objects"]["groups"].as_array().unwrap();
    let of = |name: &str| -> Vec<&str> {
        groups
            .iter()
            .filter(|g| g["objects"].as_array().unwrap().iter().any(|o| o["name"] == name))
            .map(|g| g["code"].as_str().unwrap())
            .collect()
    };
    assert!(of("legacy").contains(&"data-pruned"), "{groups:#?}");
    assert!(of("cheap").contains(&"value-invalid"), "{groups:#?}");
    assert!(of("cheap").contains(&"duplicate-list-key"), "{groups:#?}");
    assert!(!of("fine").iter().any(|c| *c != "default-applied"), "{:?}", of("fine"));
    let pruned = groups.iter().find(|g| g["code"] == "data-pruned").unwrap();
    assert_eq!(pruned["path"], ".spec.legacyMode");
    // The same default on two objects is one group.
    let replicas = groups.iter().find(|g| g["path"] == ".spec.replicas").unwrap();
    assert_eq!(replicas["count"], 2, "{replicas}");
    // Object findings count in the plan's totals.
    let object_total = json["objects"]["summary"]["total"].as_u64().unwrap();
    let sections: u64 =
        ["findings", "operator_findings", "lint"].iter().map(|k| json[k].as_array().unwrap().len() as u64).sum();
    assert_eq!(json["summary"]["total"].as_u64().unwrap(), sections + object_total);
}
