//! Object validation (`validate`, `plan --objects`) on fixtures under `tests/fixtures/validate/`: each fixture is a
//! small CRD and objects for one kind of check; its expectations hold (codes, concrete paths, severities, clean
//! objects), its findings match a reviewed snapshot, and every registered object-validation code is shown firing.
//! Then the input formats (kubectl `List`s in YAML and JSON, multi-document files), the command line, and real
//! CRDs from `../shared/corpus` (skipped with a message when it is absent).

use assert_cmd::Command;
use operator_upgrade::findings::{Family, FindingCode, ObjectFinding, Severity, REGISTRY};
use operator_upgrade::manifest::load_side;
use operator_upgrade::schema::validate::{
    validate_paths, validate_paths_keeping, ValidationReport, ValidationSummary, Validator,
};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    fires: Vec<String>,
    #[serde(default)]
    absent: Vec<String>,
    /// Objects (`namespace/name`) that must have no finding at all.
    #[serde(default)]
    clean: Vec<String>,
    /// Findings that must be present, exactly so.
    #[serde(default)]
    findings: Vec<ExpectedFinding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFinding {
    object: String,
    code: String,
    path: String,
    severity: Severity,
    #[serde(default)]
    keyword: Option<String>,
}

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/validate")
}

fn fixtures() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixture_root())
        .expect("fixtures directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("crd.yaml").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 14, "expected the validation fixtures under {}", fixture_root().display());
    dirs
}

fn validator(crds: &Path) -> Validator {
    let set = load_side(crds).unwrap_or_else(|e| panic!("{e}"));
    Validator::new(&set.crds)
}

/// A validation with every finding read back (the inputs here are small), sorted.
struct Checked {
    findings: Vec<ObjectFinding>,
    summary: ValidationSummary,
}

fn checked(report: ValidationReport) -> Checked {
    let findings = report.every_finding().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(findings.len(), report.total(), "every finding is in exactly one group");
    Checked { findings, summary: report.summary }
}

fn validate(crds: &Path, objects: &[PathBuf]) -> Checked {
    checked(validate_paths_keeping(&validator(crds), objects, true).unwrap_or_else(|e| panic!("{e}")))
}

/// Validates against `crds`, compared with the old release's CRDs at `old` (`validate --old-crds`).
fn validate_against_old(crds: &Path, old: &Path, objects: &[PathBuf]) -> Checked {
    let old = load_side(old).unwrap_or_else(|e| panic!("{e}"));
    let validator = validator(crds).compared_with(&old.crds);
    checked(validate_paths_keeping(&validator, objects, true).unwrap_or_else(|e| panic!("{e}")))
}

/// A fixture's report: against `crd.yaml`, compared with `old-crd.yaml` when the fixture has one.
fn validate_fixture(dir: &Path) -> Checked {
    let (crd, old, objects) = (dir.join("crd.yaml"), dir.join("old-crd.yaml"), [dir.join("objects.yaml")]);
    if old.is_file() {
        validate_against_old(&crd, &old, &objects)
    } else {
        validate(&crd, &objects)
    }
}

/// Findings with their source file made relative to the fixtures, so snapshots do not depend on the checkout.
fn portable(mut findings: Vec<ObjectFinding>) -> Vec<ObjectFinding> {
    let root = fixture_root();
    for finding in &mut findings {
        if let Some(source) = &mut finding.source {
            let relative = Path::new(&source.file).strip_prefix(&root).map(|p| p.display().to_string());
            source.file = relative.unwrap_or_else(|_| source.file.clone());
        }
    }
    findings
}

fn code(spelling: &str, fixture: &Path) -> FindingCode {
    FindingCode::parse(spelling).unwrap_or_else(|| panic!("{}: unknown code {spelling}", fixture.display()))
}

fn read_expect(dir: &Path) -> Expect {
    let text = std::fs::read_to_string(dir.join("expect.yaml")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}/expect.yaml: {e}", dir.display()))
}

fn keyword_of(finding: &ObjectFinding) -> Option<String> {
    finding
        .key
        .keyword
        .map(|k| serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())
}

#[test]
fn every_fixture_meets_its_expectations_and_snapshot() {
    let mut failures = Vec::new();
    for dir in fixtures() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expect = read_expect(&dir);
        let report = validate_fixture(&dir);
        let codes: BTreeSet<FindingCode> = report.findings.iter().map(|f| f.key.code).collect();
        for wanted in &expect.fires {
            if !codes.contains(&code(wanted, &dir)) {
                failures.push(format!("{name}: {wanted} did not fire"));
            }
        }
        for unwanted in &expect.absent {
            if codes.contains(&code(unwanted, &dir)) {
                failures.push(format!("{name}: {unwanted} fired"));
            }
        }
        for object in &expect.clean {
            let found: Vec<&str> = report
                .findings
                .iter()
                .filter(|f| &f.object.display_name() == object)
                .map(|f| f.key.code.as_str())
                .collect();
            if !found.is_empty() {
                failures.push(format!("{name}: {object} should be clean but has {found:?}"));
            }
        }
        for wanted in &expect.findings {
            let matches = |f: &&ObjectFinding| {
                f.object.display_name() == wanted.object
                    && f.key.code.as_str() == wanted.code
                    && f.key.path == wanted.path
                    && f.key.severity == wanted.severity
                    && wanted.keyword.as_ref().is_none_or(|k| keyword_of(f).as_ref() == Some(k))
            };
            if !report.findings.iter().any(|f| matches(&f)) {
                failures.push(format!(
                    "{name}: no {} {} at {} on {} ({:?})",
                    wanted.severity, wanted.code, wanted.path, wanted.object, wanted.keyword
                ));
            }
        }
        let findings = portable(report.findings);
        insta::with_settings!({snapshot_path => "fixtures/validate/snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_yaml_snapshot!(name.as_str(), findings);
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_object_validation_code_is_shown_firing_by_a_fixture() {
    let mut fired = BTreeSet::new();
    for dir in fixtures() {
        fired.extend(read_expect(&dir).fires.iter().map(|c| code(c, &dir)));
    }
    let missing: Vec<&str> = REGISTRY
        .iter()
        .filter(|r| r.family == Family::ObjectValidation && !fired.contains(&r.code))
        .map(|r| r.code.as_str())
        .collect();
    assert!(missing.is_empty(), "object-validation codes no fixture fires: {missing:?}");
}

#[test]
fn per_crd_counts_add_up() {
    let dir = fixture_root().join("unknown-kinds");
    let report = validate(&dir.join("crd.yaml"), &[dir.join("objects.yaml")]);
    let s = &report.summary;
    assert_eq!(
        (s.objects, s.checked, s.unknown_kind, s.other_group, s.not_custom, s.ignored_documents),
        (5, 1, 1, 1, 2, 1)
    );
    assert!(!s.old_crds_known);
    assert_eq!(s.crds["widgets.example.com"].objects, 1);
    assert_eq!(s.objects_with_findings, 2);

    let dir = fixture_root().join("pruning");
    let report = validate(&dir.join("crd.yaml"), &[dir.join("objects.yaml")]);
    let counts = &report.summary.crds["widgets.example.com"];
    assert_eq!((counts.objects, counts.objects_with_findings, counts.objects_losing_data), (2, 1, 1));
    assert_eq!((counts.breaking, counts.warning), (3, 1));
}

// ---- input formats ----

/// The `types` fixture's objects written as kubectl writes them: one YAML `List`, one JSON `List`, and a file
/// of single objects; all three give the same findings.
#[test]
fn lists_json_and_multi_document_files_read_the_same_objects() {
    let dir = fixture_root().join("types");
    let crd = dir.join("crd.yaml");
    let multi_doc = validate(&crd, &[dir.join("objects.yaml")]);
    let objects: Vec<serde_json::Value> =
        serde_norway::Deserializer::from_str(&std::fs::read_to_string(dir.join("objects.yaml")).expect("objects"))
            .map(|d| serde_json::Value::deserialize(d).expect("valid"))
            .collect();
    let list =
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects, "metadata": {"resourceVersion": ""}});
    let tmp = tempfile::tempdir().expect("temp dir");
    let json = tmp.path().join("list.json");
    std::fs::write(&json, serde_json::to_string_pretty(&list).expect("json")).expect("write");
    let yaml = tmp.path().join("list.yaml");
    std::fs::write(&yaml, serde_norway::to_string(&list).expect("yaml")).expect("write");

    let key = |report: &Checked| -> Vec<(String, String, String)> {
        report
            .findings
            .iter()
            .map(|f| (f.object.display_name(), f.key.code.as_str().to_owned(), f.key.path.clone()))
            .collect()
    };
    let from_json = validate(&crd, std::slice::from_ref(&json));
    let from_yaml = validate(&crd, std::slice::from_ref(&yaml));
    assert!(!multi_doc.findings.is_empty());
    assert_eq!(key(&from_json), key(&multi_doc));
    assert_eq!(key(&from_yaml), key(&multi_doc));
    assert_eq!(from_json.summary.objects, multi_doc.summary.objects);
    // Items of a List point at their own line in the file.
    let lines: BTreeSet<usize> = from_json.findings.iter().filter_map(|f| f.source.as_ref().map(|s| s.line)).collect();
    assert!(lines.iter().all(|&line| line > 1), "{lines:?}");
}

#[test]
fn directories_are_read_recursively_and_bad_input_names_file_document_and_line() {
    let dir = fixture_root().join("required");
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(tmp.path().join("nested")).expect("mkdir");
    std::fs::copy(dir.join("objects.yaml"), tmp.path().join("nested/a.yml")).expect("copy");
    std::fs::write(tmp.path().join("notes.txt"), "not a manifest").expect("write");
    let report = validate(&dir.join("crd.yaml"), &[tmp.path().to_owned()]);
    assert_eq!(report.summary.files, 1);
    assert_eq!(report.summary.checked, 3);

    let broken = tmp.path().join("broken.yaml");
    std::fs::write(&broken, "apiVersion: example.com/v1\nkind: Widget\n---\nspec: [unclosed\n").expect("write");
    let error = validate_paths(&validator(&dir.join("crd.yaml")), &[broken]).expect_err("a syntax error");
    let message = error.to_string();
    // The parser reports the unclosed sequence where the input ends, the line after the last one.
    assert!(message.contains("broken.yaml: document 2, line 5"), "{message}");

    let scalar = tmp.path().join("scalar.json");
    std::fs::write(&scalar, "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [42]}").expect("write");
    let error = validate_paths(&validator(&dir.join("crd.yaml")), &[scalar]).expect_err("not an object");
    assert!(error.to_string().contains("expected a Kubernetes object"), "{error}");
}

/// A directory of manifests often holds YAML that is not an object (a Prometheus scrape config is a top-level
/// sequence): such documents are skipped, counted with the documents without apiVersion/kind and named in the
/// text output, in YAML and JSON alike; a document that does not parse stays an error.
#[test]
fn documents_that_are_not_mappings_are_skipped_and_named() {
    let dir = fixture_root().join("required");
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::copy(dir.join("objects.yaml"), tmp.path().join("objects.yaml")).expect("copy");
    let scrape = "- job_name: prometheus\n  static_configs:\n  - targets: [\"localhost:9090\"]\n";
    std::fs::write(tmp.path().join("prometheus-additional.yaml"), scrape).expect("write");
    std::fs::write(tmp.path().join("values.json"), "[1, 2, 3]\n").expect("write");
    let report = validate(&dir.join("crd.yaml"), &[tmp.path().to_owned()]);
    assert_eq!(report.summary.checked, 3);
    assert_eq!(report.summary.ignored_documents, 2);
    let skipped: Vec<(&str, &str)> = report
        .summary
        .not_objects
        .iter()
        .map(|s| (Path::new(&s.file).file_name().unwrap().to_str().unwrap(), s.found))
        .collect();
    assert_eq!(skipped, [("prometheus-additional.yaml", "a sequence"), ("values.json", "a sequence")]);

    let mut cmd = Command::cargo_bin("operator-upgrade").expect("binary built");
    cmd.args(["validate", "--color", "never", "--fail-on", "never", "--crds"]).arg(dir.join("crd.yaml"));
    let assert = cmd.arg("--objects").arg(tmp.path()).assert().code(0);
    let out = String::from_utf8(assert.get_output().stdout.clone()).expect("utf-8");
    assert!(out.contains("Skipped 2 document(s) that are not Kubernetes objects"), "{out}");
    assert!(out.contains("prometheus-additional.yaml: document 1 (line 1), a sequence"), "{out}");

    std::fs::write(tmp.path().join("broken.yaml"), "- [unclosed\n").expect("write");
    let error = validate_paths(&validator(&dir.join("crd.yaml")), &[tmp.path().to_owned()]).expect_err("syntax");
    assert!(error.to_string().contains("broken.yaml: document 1, line"), "{error}");
}

// ---- the command line ----

fn validate_command(fixture: &str) -> Command {
    let dir = fixture_root().join(fixture);
    let mut cmd = Command::cargo_bin("operator-upgrade").expect("binary built");
    cmd.arg("validate").arg("--crds").arg(dir.join("crd.yaml")).arg("--objects").arg(dir.join("objects.yaml"));
    if dir.join("old-crd.yaml").is_file() {
        cmd.arg("--old-crds").arg(dir.join("old-crd.yaml"));
    }
    cmd
}

#[test]
fn exit_codes_follow_fail_on() {
    // Only warnings (defaults new or changed since the old CRDs): 0 by default, 1 with --fail-on warning.
    validate_command("defaults-against-old-crds").assert().code(0);
    validate_command("defaults-against-old-crds").args(["--fail-on", "warning"]).assert().code(1);
    // Without the old CRDs the same defaults are info.
    validate_command("defaults").args(["--fail-on", "warning"]).assert().code(0);
    let mut missing = Command::cargo_bin("operator-upgrade").expect("binary built");
    let dir = fixture_root().join("defaults");
    missing.arg("validate").arg("--crds").arg(dir.join("crd.yaml")).arg("--objects").arg(dir.join("objects.yaml"));
    missing.args(["--old-crds", "/no/such/old"]).assert().code(2).stderr(predicates::str::contains("--old-crds"));
    // Data loss is breaking: 1 by default, 0 with --fail-on never.
    validate_command("pruning").assert().code(1);
    validate_command("pruning").args(["--fail-on", "never"]).assert().code(0);
    let mut missing = Command::cargo_bin("operator-upgrade").expect("binary built");
    missing.args(["validate", "--crds", "/no/such/dir", "--objects", "x.yaml"]).assert().code(2);
}

#[test]
fn json_output_has_the_documented_shape() {
    let assert = validate_command("pruning").args(["--output", "json"]).assert().code(1);
    let json: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).expect("valid JSON");
    assert_eq!(json["verdict"], "breaking");
    assert!(json.get("findings").is_none(), "one by one only with --each: {json}");
    let group = &json["groups"][0];
    for key in ["code", "severity", "crd", "version", "path", "side", "message", "count", "objects"] {
        assert!(group.get(key).is_some(), "group lacks {key}: {group}");
    }
    assert_eq!(group["objects"][0]["kind"], "Widget");
    assert_eq!(group["objects"][0]["namespace"], "demo");
    assert!(group["objects"][0]["source"]["line"].as_u64().is_some_and(|l| l > 0), "{group}");
    assert_eq!(json["summary"]["objects_losing_data"], 1);
    assert_eq!(json["summary"]["crds"]["widgets.example.com"]["objects"], 2);
    let counted: u64 = json["groups"].as_array().expect("groups").iter().map(|g| g["count"].as_u64().unwrap()).sum();
    assert_eq!(json["summary"]["total"], counted, "every finding in exactly one group");

    let assert = validate_command("pruning").args(["--output", "json", "--each"]).assert().code(1);
    let each: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).expect("valid JSON");
    let findings = each["findings"].as_array().expect("--each lists findings");
    assert_eq!(findings.len() as u64, counted);
    for key in ["code", "severity", "object", "path", "message", "source"] {
        assert!(findings[0].get(key).is_some(), "finding lacks {key}: {}", findings[0]);
    }
    assert_eq!(each["groups"], json["groups"]);

    let assert = validate_command("cel-rules").args(["--output", "json", "--fail-on", "never"]).assert().code(0);
    let json: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).expect("valid JSON");
    let rules: Vec<&serde_json::Value> =
        json["groups"].as_array().expect("groups").iter().map(|g| &g["rule"]).collect();
    assert!(rules.iter().all(|r| r.is_string()), "CEL findings carry their rule: {rules:?}");
}

/// The same finding on many objects: one group in every format, the counts exact, `--each` one by one.
#[test]
fn identical_findings_across_objects_are_one_group_in_every_format() {
    let dir = fixture_root().join("defaults");
    let tmp = tempfile::tempdir().expect("temp dir");
    let template = std::fs::read_to_string(dir.join("objects.yaml")).expect("the fixture's objects");
    // The fixture's objects 40 times over, renamed: every finding repeats 40 times.
    let objects: String =
        (0..40).map(|i| template.replace("name: ", &format!("name: copy{i:02}-"))).collect::<Vec<_>>().join("\n---\n");
    let file = tmp.path().join("many.yaml");
    std::fs::write(&file, objects).expect("writes the objects");
    let run = |args: &[&str]| -> String {
        let mut cmd = Command::cargo_bin("operator-upgrade").expect("binary built");
        cmd.arg("validate").arg("--crds").arg(dir.join("crd.yaml")).arg("--objects").arg(&file);
        let assert = cmd.args(["--fail-on", "never", "--color", "never"]).args(args).assert().code(0);
        String::from_utf8(assert.get_output().stdout.clone()).expect("utf-8")
    };
    let json: serde_json::Value = serde_json::from_str(&run(&["-o", "json"])).expect("valid JSON");
    let groups = json["groups"].as_array().expect("groups");
    let total = json["summary"]["total"].as_u64().expect("total");
    assert!(total >= 40 && total.is_multiple_of(40), "{total}");
    assert_eq!(groups.len() as u64, total / 40, "one group per finding of the fixture");
    for group in groups {
        assert_eq!(group["count"], 40);
        assert_eq!(group["objects"].as_array().expect("objects").len(), 5, "the first five objects are named");
        assert!(group["objects"][0]["name"].as_str().unwrap().starts_with("copy00-"), "{group}");
    }
    let text = run(&[]);
    assert!(text.contains("40 object(s), e.g. "), "{text}");
    assert!(text.contains(&format!("{total} findings in {} group(s)", groups.len())), "{text}");
    let markdown = run(&["-o", "markdown"]);
    assert!(markdown.contains("| 40 "), "{markdown}");
    let github = run(&["-o", "github"]);
    assert_eq!(github.lines().filter(|l| l.starts_with("::")).count(), groups.len(), "{github}");
    let github_each = run(&["-o", "github", "--each"]);
    assert_eq!(github_each.lines().filter(|l| l.starts_with("::")).count() as u64, total);
    // SARIF: one result per group, located at its first objects' lines; one per finding with --each.
    let results = |args: &[&str]| {
        let sarif: serde_json::Value = serde_json::from_str(&run(args)).expect("valid SARIF");
        sarif["runs"][0]["results"].as_array().cloned().expect("results")
    };
    let grouped = results(&["-o", "sarif"]);
    assert_eq!(grouped.len(), groups.len());
    let counted: u64 = grouped.iter().map(|r| r["properties"]["count"].as_u64().expect("a count")).sum();
    assert_eq!(counted, total);
    assert!(
        grouped.iter().all(|r| r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64().is_some()),
        "{grouped:?}"
    );
    assert_eq!(results(&["-o", "sarif", "--each"]).len() as u64, total);
    let verbose = run(&["-v"]);
    assert!(verbose.contains("Widget demo/copy39-relies-on-defaults"), "{verbose}");
    assert!(!verbose.contains("object(s), e.g."), "one by one: {verbose}");
}

#[test]
fn text_leads_with_data_loss_and_ends_with_the_verdict() {
    let assert = validate_command("pruning").args(["--color", "never"]).assert().code(1);
    let out = String::from_utf8(assert.get_output().stdout.clone()).expect("utf-8");
    assert!(out.starts_with("DATA LOSS: 1 object(s) lose 3 field(s)"), "{out}");
    assert!(out.contains("Widget demo/loses-data"), "{out}");
    assert!(out.trim_end().lines().last().is_some_and(|l| l.starts_with("BREAKING:")), "{out}");
    assert!(!out.contains('\u{1b}'));

    let assert = validate_command("pruning").args(["--min-severity", "breaking", "--color", "always"]).assert().code(1);
    let out = String::from_utf8(assert.get_output().stdout.clone()).expect("utf-8");
    assert!(out.contains("\u{1b}["), "colour on request");
    assert!(out.contains("1 findings below breaking hidden"), "{out}");
}

#[test]
fn markdown_has_counts_and_one_table_per_crd() {
    let assert = validate_command("status").args(["--output", "markdown", "--fail-on", "never"]).assert().code(0);
    let out = String::from_utf8(assert.get_output().stdout.clone()).expect("utf-8");
    assert!(out.starts_with("### operator-upgrade validate"), "{out}");
    assert!(out.contains("| `widgets.example.com` | Widget | 2 | 1 | 0 |"), "{out}");
    assert!(out.contains("#### `widgets.example.com`"), "{out}");
    assert!(out.contains("| 🔴 breaking | `value-invalid` | `.status.phase` | 1 Widget: demo/bad-status |"), "{out}");
}

// ---- real CRDs ----

fn corpus() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/crds");
    if path.is_dir() {
        Some(path)
    } else {
        println!("skipping: ../shared/corpus not found");
        None
    }
}

/// Certificates and Issuers exported from a cert-manager v1.18.5 cluster, checked against every later release
/// with the v1.18.5 CRDs as the old ones: valid where they were written, then the defaults v1.19.0 adds to
/// `issuerRef` (which re-issued certificates in real clusters), nothing for v1.19.1 and v1.20.0, and v1.21.0's
/// exactly-one-of rule on `spec.venafi`. Without the old CRDs the same defaults are only `info`.
#[test]
fn cert_manager_objects_across_releases() {
    let Some(corpus) = corpus() else { return };
    let objects = [fixture_root().join("corpus/cert-manager-v1.18.5-objects.yaml")];
    let old = corpus.join("cert-manager/v1.18.5");
    let check = |release: &str| validate_against_old(&corpus.join("cert-manager").join(release), &old, &objects);
    let without_old = validate(&corpus.join("cert-manager/v1.19.0"), &objects);
    let severities: BTreeSet<(&str, Severity)> =
        without_old.findings.iter().map(|f| (f.key.code.as_str(), f.key.severity)).collect();
    assert_eq!(severities, BTreeSet::from([("default-applied", Severity::Info)]));
    let summary = |report: &Checked| -> Vec<(String, String, String, Severity)> {
        report
            .findings
            .iter()
            .map(|f| (f.object.display_name(), f.key.code.as_str().to_owned(), f.key.path.clone(), f.key.severity))
            .collect()
    };

    let same_release = check("v1.18.5");
    assert_eq!(same_release.summary.checked, 4);
    assert!(same_release.findings.is_empty(), "objects valid under v1.18.5: {:?}", summary(&same_release));

    let defaults = check("v1.19.0");
    let warning = Severity::Warning;
    assert_eq!(
        summary(&defaults),
        [
            ("prod/web".to_owned(), "default-applied".to_owned(), ".spec.issuerRef.group".to_owned(), warning),
            ("prod/web".to_owned(), "default-applied".to_owned(), ".spec.issuerRef.kind".to_owned(), warning),
        ]
    );
    let values: Vec<_> = defaults.findings.iter().filter_map(|f| f.key.value.clone()).collect();
    assert_eq!(values, [serde_json::json!("cert-manager.io"), serde_json::json!("Issuer")]);

    for quiet in ["v1.19.1", "v1.20.0"] {
        assert!(check(quiet).findings.is_empty(), "{quiet}: {:?}", summary(&check(quiet)));
    }

    let cel = check("v1.21.0");
    assert_eq!(
        summary(&cel),
        [("prod/venafi".to_owned(), "cel-rule-violated".to_owned(), ".spec.venafi".to_owned(), warning)]
    );
    assert!(cel.findings[0].key.message.starts_with("exactly one of tpp, cloud, or ngts must be configured"));
    println!("v1.18.5 objects under v1.19.0: {:?}", summary(&defaults));
    println!("v1.18.5 objects under v1.21.0: {:?}", summary(&cel));
}

/// CloudNativePG Clusters against v1.30.0, whose Cluster schema has CEL rules (one a transition rule) and
/// int-or-string quantities: a well-formed object is clean, a broken one shows each kind of problem.
#[test]
fn cloudnative_pg_clusters_against_a_crd_with_cel_rules() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().expect("temp dir");
    let objects = tmp.path().join("clusters.yaml");
    std::fs::write(
        &objects,
        "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {name: good, namespace: db}\nspec:\n  instances: 3\n  \
         imageName: ghcr.io/cloudnative-pg/postgresql:16.4\n  storage: {size: 10Gi}\n  resources: {requests: {cpu: 500m, memory: 1Gi}}\n\
         ---\napiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {name: bad, namespace: db}\nspec:\n  instances: 0\n  \
         imageName: ghcr.io/cloudnative-pg/postgresql:16.4\n  imageCatalogRef: {apiGroup: postgresql.cnpg.io, kind: ImageCatalog, name: c, major: 16}\n  \
         resources: {requests: {cpu: 1.5.5}}\n  legacyMode: true\n",
    )
    .expect("write");
    let report = validate(&corpus.join("cloudnative-pg/v1.30.0"), &[objects]);
    let bad: BTreeSet<(&str, &str)> = report
        .findings
        .iter()
        .filter(|f| f.object.name == "bad" && f.key.code != FindingCode::DefaultApplied)
        .map(|f| (f.key.code.as_str(), f.key.path.as_str()))
        .collect();
    assert!(bad.contains(&("value-invalid", ".spec.instances")), "{bad:?}");
    assert!(bad.contains(&("cel-rule-violated", ".spec")), "{bad:?}");
    assert!(bad.contains(&("data-pruned", ".spec.legacyMode")), "{bad:?}");
    assert!(
        bad.iter().any(|(code, path)| *code == "value-invalid" && path.starts_with(".spec.resources.requests")),
        "{bad:?}"
    );
    let good: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.object.name == "good" && f.key.code != FindingCode::DefaultApplied)
        .map(|f| f.key.code.as_str())
        .collect();
    assert!(good.is_empty(), "{good:?}");
}
