//! The operator manifest diff and the production-readiness lint on every fixture under
//! `tests/fixtures/operator/`: each fixture's expectations hold, its findings match a reviewed snapshot,
//! every side diffed with itself yields nothing, every operator-diff and lint code is shown firing, Secret
//! values never reach an output, and the CNPG release manifests v1.29.0 -> v1.30.0 (from `../shared/corpus`,
//! when present) report what changed between them.

use operator_upgrade::findings::{Family, FindingCode, OperatorFinding, Severity, REGISTRY};
use operator_upgrade::manifest::{load_side, Object};
use operator_upgrade::operator::{diff_manifests, lint, permission_union};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Which part of the module a fixture exercises.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    Diff,
    Lint,
}

impl Mode {
    fn family(self) -> Family {
        match self {
            Mode::Diff => Family::OperatorDiff,
            Mode::Lint => Family::Lint,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    kind: Mode,
    fires: Vec<String>,
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    max_severity: Option<Severity>,
    /// Lint codes that must fire as regressions.
    #[serde(default)]
    regressions: Vec<String>,
    /// Lint codes that must fire as problems the old release already had.
    #[serde(default)]
    existing: Vec<String>,
}

/// The fixture directories, relative to the package root (the test's working directory) so that the
/// locations in snapshots do not depend on where the repository is checked out.
fn fixtures() -> Vec<PathBuf> {
    let root = Path::new("tests/fixtures/operator");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("fixtures directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "snapshots"))
        .collect();
    dirs.sort();
    assert!(dirs.len() > 40, "expected the operator fixtures under {}", root.display());
    dirs
}

fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

fn expect(dir: &Path) -> Expect {
    let text = std::fs::read_to_string(dir.join("expect.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}/expect.yaml: {e}", name(dir)))
}

fn objects(path: &Path) -> Vec<Object> {
    load_side(path).unwrap_or_else(|e| panic!("{e}")).objects
}

fn code(spelling: &str, fixture: &Path) -> FindingCode {
    FindingCode::parse(spelling).unwrap_or_else(|| panic!("{}: unknown code {spelling}", fixture.display()))
}

fn run(mode: Mode, old: &[Object], new: &[Object]) -> Vec<OperatorFinding> {
    match mode {
        Mode::Diff => diff_manifests(old, new),
        Mode::Lint => lint(old, new),
    }
}

#[test]
fn every_fixture_meets_its_expectations_and_snapshot() {
    let mut failures = Vec::new();
    for dir in fixtures() {
        let (name, expect) = (name(&dir), expect(&dir));
        let findings = run(expect.kind, &objects(&dir.join("old.yaml")), &objects(&dir.join("new.yaml")));
        let codes: BTreeSet<FindingCode> = findings.iter().map(|f| f.code).collect();
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
        for (wanted, regression) in
            expect.regressions.iter().map(|c| (c, true)).chain(expect.existing.iter().map(|c| (c, false)))
        {
            let wanted = code(wanted, &dir);
            if !findings.iter().any(|f| f.code == wanted && f.regression == regression) {
                failures.push(format!("{name}: {wanted} did not fire with regression = {regression}"));
            }
        }
        if expect.kind == Mode::Lint {
            for finding in findings.iter().filter(|f| f.regression) {
                if !expect.regressions.contains(&finding.code.as_str().to_owned()) {
                    failures.push(format!("{name}: unexpected regression {}", finding.code));
                }
            }
        }
        if let Some(max) = expect.max_severity {
            for finding in findings.iter().filter(|f| f.severity > max) {
                failures.push(format!("{name}: {} at {} above {max}", finding.code, finding.severity));
            }
        }
        for finding in &findings {
            if finding.code.info().family != expect.kind.family() {
                failures.push(format!("{name}: {} is not of the {:?} family", finding.code, expect.kind.family()));
            }
        }
        insta::with_settings!({snapshot_path => "fixtures/operator/snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_yaml_snapshot!(name.as_str(), findings);
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_side_diffed_with_itself_yields_nothing() {
    for dir in fixtures() {
        for side in ["old.yaml", "new.yaml"] {
            let objects = objects(&dir.join(side));
            let findings = diff_manifests(&objects, &objects);
            assert!(findings.is_empty(), "{}/{side}: {findings:#?}", name(&dir));
            let regressions: Vec<_> = lint(&objects, &objects).into_iter().filter(|f| f.regression).collect();
            assert!(regressions.is_empty(), "{}/{side}: {regressions:#?}", name(&dir));
        }
    }
}

#[test]
fn every_operator_diff_and_lint_code_is_shown_firing_by_a_fixture() {
    let mut fired = BTreeSet::new();
    for dir in fixtures() {
        let expect = expect(&dir);
        for spelling in expect.fires.iter().chain(&expect.regressions).chain(&expect.existing) {
            let code = code(spelling, &dir);
            assert_eq!(
                code.info().family,
                expect.kind.family(),
                "{}: {code} in a {:?} fixture",
                name(&dir),
                expect.kind
            );
            fired.insert(code);
        }
    }
    let missing: Vec<&str> = REGISTRY
        .iter()
        .filter(|r| matches!(r.family, Family::OperatorDiff | Family::Lint) && !fired.contains(&r.code))
        .map(|r| r.code.as_str())
        .collect();
    assert!(missing.is_empty(), "codes no fixture fires: {missing:?}");
}

#[test]
fn secret_values_never_appear_in_any_output() {
    let dir = Path::new("tests/fixtures/operator/secret-changed");
    let (old, new) = (objects(&dir.join("old.yaml")), objects(&dir.join("new.yaml")));
    let findings: Vec<OperatorFinding> =
        [diff_manifests(&old, &new), diff_manifests(&new, &old), lint(&old, &new)].concat();
    let secret = findings.iter().find(|f| f.object.kind == "Secret").expect("the Secret change is reported");
    let output = serde_json::to_string(&findings).unwrap() + &format!("{findings:?}");
    for value in
        ["c3VwZXJzZWNyZXQ=", "supersecret", "bmV3c2VjcmV0", "newsecret", "hunter2", "correct-horse", "dW5jaGFuZ2Vk"]
    {
        assert!(!output.contains(value), "a Secret value reached the output: {value}");
    }
    let diff = secret.diff.as_deref().expect("a diff");
    assert!(diff.contains("<redacted: 9 bytes, changed>"), "{diff}");
    assert!(diff.contains("<redacted: 13 bytes, changed>"), "{diff}");
    let changed_lines =
        diff.lines().filter(|l| l.starts_with(['+', '-']) && !l.starts_with("+++") && !l.starts_with("---"));
    assert!(!changed_lines.clone().any(|l| l.contains("same:")), "an unchanged key is shown as changed:\n{diff}");
}

#[test]
fn lint_regressions_are_sorted_first() {
    let dir = Path::new("tests/fixtures/operator/lint-existing-problem");
    let old = objects(&dir.join("old.yaml"));
    let mut new = objects(&dir.join("new.yaml"));
    for object in &mut new {
        if object.value["kind"] == "Deployment" {
            object.value["spec"]["replicas"] = 1.into();
        }
    }
    let findings = lint(&old, &new);
    let flags: Vec<bool> = findings.iter().map(|f| f.regression).collect();
    assert_eq!(flags, [true, false], "{findings:#?}");
    assert_eq!(findings[0].code, FindingCode::LintSingleReplica);
    assert!(findings[0].message.ends_with(FindingCode::LintSingleReplica.info().why), "{}", findings[0].message);
}

#[test]
fn permission_union_grants_what_either_side_grants() {
    let dir = Path::new("tests/fixtures/operator/rbac-permissions-changed");
    let (old, new) = (objects(&dir.join("old.yaml")), objects(&dir.join("new.yaml")));
    let union = permission_union(&old, &new);
    let union: Vec<Object> = union.into_iter().map(|value| Object { value, source: new[0].source.clone() }).collect();
    // Applying the union on top of the old release removes nothing the old release granted...
    let removed: Vec<_> =
        diff_manifests(&old, &union).into_iter().filter(|f| f.code == FindingCode::RbacPermissionRemoved).collect();
    assert!(removed.is_empty(), "{removed:#?}");
    // ...and moving on to the new release from it adds nothing the new release does not grant.
    let added: Vec<_> =
        diff_manifests(&union, &new).into_iter().filter(|f| f.code == FindingCode::RbacPermissionAdded).collect();
    assert!(added.is_empty(), "{added:#?}");
    // The union is wider than the new release where the new release took permissions away.
    assert!(diff_manifests(&union, &new).iter().any(|f| f.code == FindingCode::RbacPermissionRemoved));
}

#[test]
fn demo_operator_upgrade_is_an_image_upgrade() {
    let root = Path::new("examples/demo-operator");
    let (old, new) = (objects(&root.join("v1.0.0/operator.yaml")), objects(&root.join("v1.1.0/operator.yaml")));
    let findings = diff_manifests(&old, &new);
    let image = findings.iter().find(|f| f.code == FindingCode::ImageChanged).expect("image-changed");
    assert!(image.message.contains("(upgrade)"), "{}", image.message);
    assert_eq!(image.field.as_deref(), Some("spec.template.spec.containers[manager].image"));
}

fn corpus_release(version: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/crds/cloudnative-pg").join(version);
    if path.is_dir() {
        Some(path)
    } else {
        // Written past the test harness's capture so the skip is visible in a plain `cargo test`.
        let _ = writeln!(std::io::stderr(), "skipped: {} not found", path.display());
        None
    }
}

#[test]
fn cnpg_release_manifests_1_29_to_1_30() {
    let (Some(old_dir), Some(new_dir)) = (corpus_release("v1.29.0"), corpus_release("v1.30.0")) else { return };
    let (old, new) = (objects(&old_dir), objects(&new_dir));
    assert!(old.len() > 10 && new.len() > 10, "expected CNPG's full release manifests");
    let findings = diff_manifests(&old, &new);
    let codes: BTreeSet<FindingCode> = findings.iter().map(|f| f.code).collect();
    let image = findings.iter().find(|f| f.code == FindingCode::ImageChanged).expect("image-changed");
    assert!(
        image.message.contains("1.29.0 -> ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0 (upgrade)"),
        "{}",
        image.message
    );
    // The operator's ClusterRole gains endpointslices and databaseroles access, bound cluster-wide.
    let access = findings
        .iter()
        .find(|f| f.code == FindingCode::RbacClusterWideAccessAdded && f.object.name == "cnpg-manager")
        .expect("new cluster-wide access of cnpg-manager");
    let granted = access.new.as_ref().and_then(|v| v.as_array()).expect("the permissions");
    for permission in ["list discovery.k8s.io/endpointslices", "create postgresql.cnpg.io/databaseroles"] {
        assert!(granted.iter().any(|p| p == permission), "{permission} not in {granted:?}");
    }
    assert!(codes.contains(&FindingCode::EnvChanged), "OPERATOR_IMAGE_NAME follows the image: {codes:?}");
    assert!(codes.contains(&FindingCode::ObjectChanged), "the monitoring queries ConfigMap changed: {codes:?}");
    for absent in
        [FindingCode::ImageDowngraded, FindingCode::ObjectAdded, FindingCode::ObjectRemoved, FindingCode::WebhookAdded]
    {
        assert!(!codes.contains(&absent), "{absent} fired: {findings:#?}");
    }
    assert!(findings.iter().all(|f| f.severity <= Severity::Warning), "{findings:#?}");
    assert!(diff_manifests(&new, &new).is_empty());

    let problems = lint(&old, &new);
    // 1.29.0 already had every problem 1.30.0 has.
    assert!(problems.iter().all(|f| !f.regression), "{problems:#?}");
    let lint_codes: BTreeSet<FindingCode> = problems.iter().map(|f| f.code).collect();
    for expected in
        [FindingCode::LintSingleReplica, FindingCode::LintNoPodDisruptionBudget, FindingCode::LintRbacClusterSecretRead]
    {
        assert!(lint_codes.contains(&expected), "{expected} did not fire: {lint_codes:?}");
    }
    // CNPG sets requests, limits, probes, a metrics port, leader election and a strict security context.
    for absent in [
        FindingCode::LintMissingResourceRequests,
        FindingCode::LintMissingResourceLimits,
        FindingCode::LintMissingLivenessProbe,
        FindingCode::LintMissingReadinessProbe,
        FindingCode::LintNoMetricsEndpoint,
        FindingCode::LintNoLeaderElection,
        FindingCode::LintRunAsRoot,
        FindingCode::LintWritableRootFilesystem,
        FindingCode::LintPrivilegeEscalation,
    ] {
        assert!(!lint_codes.contains(&absent), "{absent} fired: {problems:#?}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "CNPG 1.29.0 -> 1.30.0: {} diff findings, {} lint findings",
        findings.len(),
        problems.len()
    );
}
