//! The command line's contract: every output format, the exit codes, and clear errors on bad input.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

fn demo(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator").join(version)
}

fn plan() -> Command {
    let mut cmd = Command::cargo_bin("operator-upgrade").expect("binary built");
    cmd.arg("plan");
    cmd
}

fn demo_plan() -> Command {
    let mut cmd = plan();
    cmd.arg("--from").arg(demo("v1.0.0")).arg("--to").arg(demo("v1.1.0"));
    cmd
}

fn json_of(output: &[u8]) -> serde_json::Value {
    serde_json::from_slice(output).expect("valid JSON")
}

#[test]
fn text_groups_by_crd_and_version_and_ends_with_the_verdict() {
    let assert = demo_plan().arg("--color").arg("never").assert().code(1);
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(out.starts_with("== CRDs\nwidgets.demo.operator-upgrade.dev\n  v1\n"), "{out}");
    assert!(out.contains("== Operator manifests\nDeployment demo-system/demo-operator\n"), "{out}");
    assert!(out.contains("== Steps apply would run\n  1. preflight"), "{out}");
    assert!(out.contains("breaking field-removed"), "{out}");
    assert!(!out.contains('\u{1b}'), "no colour codes with --color never");
    assert!(out.trim_end().lines().last().unwrap().starts_with("BREAKING:"), "{out}");
}

#[test]
fn colour_is_applied_when_asked() {
    demo_plan().args(["--color", "always"]).assert().code(1).stdout(predicate::str::contains("\u{1b}["));
}

#[test]
fn min_severity_hides_lower_findings_and_counts_them() {
    let assert = demo_plan().args(["--min-severity", "breaking", "--color", "never"]).assert().code(1);
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(!out.contains("info     "), "{out}");
    assert!(out.contains("19 findings below breaking hidden"), "{out}");
}

#[test]
fn json_has_the_documented_shape() {
    let assert = demo_plan().args(["--output", "json"]).assert().code(1);
    let json = json_of(&assert.get_output().stdout);
    assert_eq!(json["verdict"], "breaking");
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 11);
    let removed = findings.iter().find(|f| f["code"] == "field-removed").unwrap();
    assert_eq!(removed["severity"], "breaking");
    assert_eq!(removed["crd"], "widgets.demo.operator-upgrade.dev");
    assert_eq!(removed["version"], "v1alpha1");
    assert_eq!(removed["path"], ".spec.legacyMode");
    assert!(removed.get("old").is_none(), "fields that do not apply are omitted");
    let default = findings.iter().find(|f| f["code"] == "default-added").unwrap();
    assert_eq!(default["new"], 1);
    let summary = &json["summary"];
    let sections = ["findings", "operator_findings", "lint"].map(|key| json[key].as_array().unwrap().len());
    assert_eq!(sections[0], 11);
    assert!(sections[1] >= 1 && sections[2] >= 1, "{sections:?}");
    assert_eq!(summary["breaking"].as_u64(), Some(2));
    assert_eq!(summary["total"].as_u64(), Some(sections.iter().sum::<usize>() as u64));
    let steps: Vec<&str> = json["steps"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(steps, ["preflight", "crd-expand", "promotion", "crd-contract"]);
    assert_eq!(summary["crds_old"], 1);
}

#[test]
fn markdown_is_a_table_per_crd() {
    demo_plan()
        .args(["--output", "markdown"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("#### `widgets.demo.operator-upgrade.dev`"))
        .stdout(predicate::str::contains("| severity | code | where | what |"))
        .stdout(predicate::str::contains("`field-removed`"));
}

#[test]
fn sarif_points_at_the_new_file_and_line() {
    let assert = demo_plan().args(["--output", "sarif"]).assert().code(1);
    let sarif = json_of(&assert.get_output().stdout);
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert!(run["tool"]["driver"]["rules"].as_array().unwrap().iter().any(|r| r["id"] == "field-removed"));
    let result = run["results"].as_array().unwrap().iter().find(|r| r["ruleId"] == "enum-value-removed").unwrap();
    assert_eq!(result["level"], "error");
    let location = &result["locations"][0]["physicalLocation"];
    assert!(location["artifactLocation"]["uri"].as_str().unwrap().ends_with("v1.1.0/crds.yaml"));
    let line = location["region"]["startLine"].as_u64().unwrap() as usize;
    let text = std::fs::read_to_string(demo("v1.1.0").join("crds.yaml")).unwrap();
    assert_eq!(text.lines().nth(line - 1).unwrap().trim(), "tier:", "line {line}");
}

#[test]
fn fail_on_sets_the_exit_code() {
    demo_plan().args(["--fail-on", "never"]).assert().code(0);
    demo_plan().args(["--fail-on", "blocker"]).assert().code(0);
    demo_plan().args(["--fail-on", "breaking"]).assert().code(1);
    demo_plan().args(["--fail-on", "warning"]).assert().code(1);
}

#[test]
fn a_release_against_itself_is_safe_and_exits_zero() {
    plan()
        .arg("--from")
        .arg(demo("v1.0.0"))
        .arg("--to")
        .arg(demo("v1.0.0"))
        .args(["--fail-on", "warning", "--color", "never"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("SAFE"));
}

#[test]
fn usage_errors_exit_two() {
    plan().arg("--from").arg(demo("v1.0.0")).assert().code(2);
    demo_plan().args(["--output", "yaml"]).assert().code(2);
}

#[test]
fn a_missing_path_exits_two_naming_it() {
    plan()
        .args(["--from", "/nonexistent/release", "--to"])
        .arg(demo("v1.1.0"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent/release"))
        .stderr(predicate::str::contains("--from"));
}

#[test]
fn a_syntax_error_names_file_document_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "kind: ConfigMap\napiVersion: v1\n---\nkind: ConfigMap\nmetadata: [unclosed\n  name: x\n")
        .unwrap();
    plan()
        .arg("--from")
        .arg(&bad)
        .arg("--to")
        .arg(demo("v1.1.0"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.yaml: document 2, line"))
        .stderr(predicate::str::contains("panicked").not());
}

/// prometheus-operator's `example/` holds a scrape config (a top-level sequence) beside the manifests: `plan`
/// skips it, counts it and names it instead of stopping.
#[test]
fn a_document_that_is_not_a_mapping_is_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(demo("v1.1.0").join("crds.yaml"), dir.path().join("crds.yaml")).unwrap();
    let scrape = "- job_name: prometheus\n  static_configs:\n  - targets: [\"localhost:9090\"]\n";
    std::fs::write(dir.path().join("prometheus-additional.yaml"), scrape).unwrap();
    let assert = plan()
        .arg("--from")
        .arg(demo("v1.0.0"))
        .arg("--to")
        .arg(dir.path())
        .args(["--color", "never", "--fail-on", "never"])
        .assert()
        .code(0);
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(out.contains("Skipped 1 document(s) that are not Kubernetes objects (not mappings):"), "{out}");
    assert!(out.contains("prometheus-additional.yaml: document 1 (line 1), a sequence"), "{out}");
    let assert = plan().arg("--from").arg(demo("v1.0.0")).arg("--to").arg(dir.path()).args(["-o", "json"]).assert();
    let json = json_of(&assert.get_output().stdout);
    assert_eq!(json["summary"]["ignored_documents"], 1);
    assert_eq!(json["summary"]["not_objects"][0]["found"], "a sequence");
}

#[test]
fn a_duplicate_crd_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let crd = std::fs::read_to_string(demo("v1.0.0").join("crds.yaml")).unwrap();
    std::fs::write(dir.path().join("a.yaml"), &crd).unwrap();
    std::fs::write(dir.path().join("b.yml"), &crd).unwrap();
    plan()
        .arg("--from")
        .arg(dir.path())
        .arg("--to")
        .arg(demo("v1.1.0"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("widgets.demo.operator-upgrade.dev is defined twice"))
        .stderr(predicate::str::contains("a.yaml"))
        .stderr(predicate::str::contains("b.yml"));
}

#[test]
fn an_empty_directory_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    plan()
        .arg("--from")
        .arg(dir.path())
        .arg("--to")
        .arg(demo("v1.1.0"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no .yaml, .yml or .json files"));
}

#[test]
fn sim_runs_as_a_process_and_writes_a_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("sim.kubeconfig");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator/scenario.yaml");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("operator-upgrade"))
        .args(["sim", "--scenario"])
        .arg(&scenario)
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut first_line).unwrap();
    let url = first_line.trim().strip_prefix("simulator listening on ").expect("the ready line").to_owned();
    let config = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(config.contains(&format!("server: {url}")), "{config}");
    let version = http_get(url.trim_start_matches("http://"), "/version");
    let _ = child.kill();
    let _ = child.wait();
    assert!(version.contains(" 200 OK") && version.contains("\"minor\":\"33\""), "{version}");
}

/// Runs `sim --scenario` on `text` (written to `bad.yaml`): it must exit, never serve (a minute at most).
fn sim_on(text: &[u8]) -> (assert_cmd::assert::Assert, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("bad.yaml");
    std::fs::write(&scenario, text).unwrap();
    let assert = Command::cargo_bin("operator-upgrade")
        .unwrap()
        .args(["sim", "--scenario"])
        .arg(&scenario)
        .timeout(std::time::Duration::from_secs(60))
        .assert();
    (assert, scenario, dir)
}

#[test]
fn a_bad_scenario_exits_two_with_the_line() {
    let (assert, scenario, _dir) = sim_on(b"seed: 1\nimagez: []\n");
    assert.code(2).stderr(predicate::str::contains(format!(
        "{}:2:1: imagez: unknown key `imagez`; did you mean `images`?",
        scenario.display()
    )));
}

#[test]
fn scenarios_of_the_wrong_shape_or_meaning_exit_two_naming_the_file_and_line() {
    let population = |count: &str, template: &str| {
        format!("populations:\n  - count: {count}\n    namePrefix: w-\n    template:\n      apiVersion: v1\n      kind: ConfigMap\n{template}")
    };
    let cases = [
        // A template's metadata that is not a mapping once made the simulator panic while seeding.
        (
            population("2", "      metadata: 'x'\n"),
            ":7:17: populations[0].template.metadata: invalid type: string \"x\"",
        ),
        (population("2", "      metadata: 7\n"), ":7:17: populations[0].template.metadata: invalid type: integer `7`"),
        (population("2", "      metadata: []\n"), ":7:17: populations[0].template.metadata: invalid type: sequence"),
        (
            population("2", "      metadata: {labels: 5}\n"),
            ":7:26: populations[0].template.metadata.labels: invalid type: integer `5`",
        ),
        // Values that would hang the simulator or mean nothing.
        (population("100000000", ""), ":2: populations[0].count: 100000000 objects are more than the simulator holds"),
        ("faults: {errors: [{code: 500, rate: 2.0}]}\n".to_owned(), ":1: faults.errors[0].rate: 2 is not a rate"),
        ("faults:\n  errors:\n    - {code: 0, rate: 0.5}\n".to_owned(), ":3: faults.errors[0].code: 0 is not an error"),
        (
            "churn:\n  - {group: g, kind: K, everyMs: 0, count: 1, field: .spec.a, values: [1]}\n".to_owned(),
            ":2: churn[0].everyMs: must be at least 1",
        ),
    ];
    for (text, wanted) in cases {
        let (assert, scenario, _dir) = sim_on(text.as_bytes());
        let output = assert.get_output().clone();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}\n{text}");
        assert!(stderr.contains(&format!("{}{wanted}", scenario.display())), "{stderr}\nwanted: {wanted}\n{text}");
    }
}

#[test]
fn a_scenario_that_is_not_utf8_exits_two_naming_the_file() {
    let (assert, scenario, _dir) = sim_on(b"seed: 1\nimages: []\n# \xff\n");
    assert.code(2).stderr(predicate::str::contains(scenario.display().to_string()));
}

#[test]
fn an_object_the_simulator_rejects_names_the_scenario_file_line_and_population() {
    let manifests = demo("v1.0.0");
    let text = format!(
        "manifests: [{}]\npopulations:\n  - count: 1\n    namePrefix: cm-\n    template: {{apiVersion: v1, kind: ConfigMap}}\n  - count: 2\n    namePrefix: widget-\n    template:\n      apiVersion: demo.operator-upgrade.dev/v1alpha1\n      kind: Widget\n      spec: {{image: nginx, replicas: many}}\n",
        manifests.display()
    );
    let (assert, scenario, _dir) = sim_on(text.as_bytes());
    let wanted =
        format!("cannot start the simulator: {}:6: populations[1]: Widget widget-0: 422 Invalid", scenario.display());
    assert.code(2).stderr(predicate::str::contains(wanted)).stderr(predicate::str::contains("spec.replicas"));
}

#[test]
fn a_manifest_object_whose_metadata_is_not_a_mapping_is_refused_naming_its_document() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("objects.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: 5\n").unwrap();
    let scenario = dir.path().join("scenario.yaml");
    std::fs::write(&scenario, "manifests: [objects.yaml]\n").unwrap();
    let assert = Command::cargo_bin("operator-upgrade").unwrap().args(["sim", "--scenario"]).arg(&scenario).assert();
    let wanted = format!(
        "{}:1: manifests[0]: {}: document 1 (line 1): ConfigMap ?: 400 BadRequest: metadata must be a mapping",
        scenario.display(),
        dir.path().join("objects.yaml").display()
    );
    assert.code(2).stderr(predicate::str::contains(wanted));
}

#[test]
fn a_manifest_the_simulator_cannot_read_names_the_scenario_file_and_line() {
    let (assert, scenario, _dir) = sim_on(b"seed: 1\nmanifests:\n  - missing/crds.yaml\n");
    let wanted = format!("cannot start the simulator: {}:3: manifests[0]: ", scenario.display());
    let output = assert.code(2).get_output().clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&wanted) && stderr.contains("missing/crds.yaml"), "{stderr}");
    assert_eq!(stderr.matches("No such file or directory").count(), 1, "{stderr}");
}

/// A minimal HTTP/1.0 GET, so the test needs no client of its own.
fn http_get(host: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn apply_demo_plan_with_kubeconfig(kubeconfig: &Path) -> (i32, String) {
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator/plan.yaml");
    let output = Command::cargo_bin("operator-upgrade")
        .expect("binary built")
        .args(["apply", "--yes", "-f"])
        .arg(plan)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env_remove("KUBECONFIG")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn cluster_errors_say_what_to_do_next() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = apply_demo_plan_with_kubeconfig(&dir.path().join("missing.kubeconfig"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("missing.kubeconfig") && err.contains("next: name the cluster with --kubeconfig PATH"),
        "{err}"
    );

    // A cluster nobody listens on: port 9 of loopback (discard) refuses the connection at once.
    let unreachable = dir.path().join("unreachable.kubeconfig");
    std::fs::write(
        &unreachable,
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n\
         contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n",
    )
    .unwrap();
    let (code, err) = apply_demo_plan_with_kubeconfig(&unreachable);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("next: the API server could not be reached: check that --context"), "{err}");
}

#[test]
fn a_bad_plan_file_points_at_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        "apiVersion: operator-upgrade.dev/v1alpha1\nkind: UpgradePlan\nmetadata: {name: x}\nspek: {}\n",
    )
    .unwrap();
    let output = Command::cargo_bin("operator-upgrade").unwrap().args(["apply", "-f"]).arg(&plan).output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("plan.yaml")
            && err.contains("next: correct the plan file at the place named; `operator-upgrade schema`"),
        "{err}"
    );
}
