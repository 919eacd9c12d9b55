//! Real releases from `../shared/corpus` (when present; each test skips with a message otherwise):
//! every listed upgrade reports its expected finding categories, the "nothing breaking" pairs have no
//! blocker or breaking finding, prometheus-operator v0.74.0 -> v0.75.0 stays quiet, and every release
//! diffed with itself yields nothing.

use operator_upgrade::findings::{Finding, FindingCode, Severity};
use operator_upgrade::manifest::load_side;
use operator_upgrade::plan::Plan;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if path.join("pairs.tsv").is_file() {
        Some(path)
    } else {
        // Written past the test harness's capture so the skip is visible in a plain `cargo test`.
        let _ = writeln!(std::io::stderr(), "skipped: ../shared/corpus not found beside the project");
        None
    }
}

fn plan(old: &Path, new: &Path) -> Vec<Finding> {
    let old = load_side(old).unwrap_or_else(|e| panic!("{e}"));
    let new = load_side(new).unwrap_or_else(|e| panic!("{e}"));
    Plan::build(&old, &new).findings
}

/// The finding codes that count for each category of `pairs.tsv` (as the project's scorer reads them).
fn category_codes(category: &str) -> &'static [&'static str] {
    match category {
        "version-unserved" => &["version-unserved"],
        "version-removed" => &["version-removed"],
        "version-added" => &["version-added"],
        "storage-changed" => &["storage-version-changed"],
        "conversion-changed" => &["conversion-changed"],
        "field-removed" => &["field-removed"],
        "type-changed" => &["type-changed"],
        "enum-value-removed" => &["enum-value-removed"],
        "required-added" => &["required-added"],
        "default-changed" => &["default-added", "default-changed", "default-removed"],
        "tightened" => &[
            "pattern-added",
            "pattern-changed",
            "enum-added",
            "max-tightened",
            "min-tightened",
            "list-type-tightened",
            "cel-rule-added",
            "cel-rule-changed",
            "required-added",
            "nullable-removed",
            "format-added",
            "format-changed",
            "additional-properties-restricted",
            "preserve-unknown-fields-removed",
            "unique-items-added",
        ],
        "cel-transition" => &["cel-transition-rule-added"],
        "schema-diverged" => &["schema-diverged-without-conversion"],
        other => panic!("pairs.tsv names an unknown category {other}"),
    }
}

#[test]
fn every_listed_upgrade_reports_its_categories() {
    let Some(corpus) = corpus() else { return };
    let pairs = std::fs::read_to_string(corpus.join("pairs.tsv")).unwrap();
    let mut failures = Vec::new();
    for line in pairs.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (project, old, new, expected) = (fields[0], fields[1], fields[2], fields[3]);
        let base = corpus.join("crds").join(project);
        let findings = plan(&base.join(old), &base.join(new));
        let codes: BTreeSet<&str> = findings.iter().map(|f| f.code.as_str()).collect();
        if expected == "SAFE" {
            let loud: BTreeSet<&str> =
                findings.iter().filter(|f| f.severity >= Severity::Breaking).map(|f| f.code.as_str()).collect();
            if !loud.is_empty() {
                failures.push(format!("{project} {old}->{new}: SAFE but breaking+ {loud:?}"));
            }
            continue;
        }
        for category in expected.split(',') {
            if !category_codes(category).iter().any(|c| codes.contains(c)) {
                failures.push(format!("{project} {old}->{new}: missing {category}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn prometheus_operator_v0_75_noise_stays_quiet() {
    let Some(corpus) = corpus() else { return };
    let base = corpus.join("crds/prometheus-operator");
    let findings = plan(&base.join("v0.74.0"), &base.join("v0.75.0"));
    assert!(findings.len() > 1000, "the pair makes about 1,100 generated changes, got {}", findings.len());
    assert!(findings.iter().all(|f| f.severity < Severity::Breaking), "no blocker or breaking finding");
    let zero_defaults: Vec<&Finding> =
        findings.iter().filter(|f| f.code == FindingCode::DefaultAdded && f.new == Some("".into())).collect();
    assert!(zero_defaults.len() >= 650, "the ~690 generated `default: \"\"` are reported: {}", zero_defaults.len());
    assert!(zero_defaults.iter().all(|f| f.severity == Severity::Info), "zero-value defaults are info");
    let atomic = findings.iter().filter(|f| f.new == Some("atomic".into()));
    assert!(atomic.clone().count() > 300 && atomic.clone().all(|f| f.code == FindingCode::ListTypeChanged));
    assert!(atomic.clone().all(|f| f.severity == Severity::Info), "list-type atomic markers are info");
    // The only warnings are the real tightenings: list-type map/set on embedded container lists, and the
    // `^http(s)?://.+$` pattern newly put on remote read/write proxyUrl.
    for warning in findings.iter().filter(|f| f.severity == Severity::Warning) {
        let real_list_type = warning.code == FindingCode::ListTypeTightened
            && ["map", "set"]
                .iter()
                .any(|t| warning.new.as_ref().and_then(|v| v.as_str()).is_some_and(|n| n.starts_with(t)));
        let proxy_pattern = warning.code == FindingCode::PatternAdded
            && warning.path.as_deref().is_some_and(|p| p.ends_with(".proxyUrl"));
        assert!(real_list_type || proxy_pattern, "unexpected warning {warning:?}");
    }
    assert!(findings.iter().filter(|f| f.code == FindingCode::ListTypeTightened).count() >= 20);
}

#[test]
fn every_release_diffed_with_itself_yields_nothing() {
    let Some(corpus) = corpus() else { return };
    for project in std::fs::read_dir(corpus.join("crds")).unwrap() {
        let project = project.unwrap().path();
        for release in std::fs::read_dir(&project).unwrap() {
            let release = release.unwrap().path();
            if release.is_dir() {
                let set = load_side(&release).unwrap_or_else(|e| panic!("{e}"));
                let findings = Plan::build(&set, &set).findings;
                assert!(findings.is_empty(), "{}: {:?}", release.display(), &findings[..findings.len().min(3)]);
            }
        }
    }
}

#[test]
fn cloudnative_pg_release_manifest_keeps_its_other_objects() {
    let Some(corpus) = corpus() else { return };
    let set = load_side(&corpus.join("crds/cloudnative-pg/v1.30.0")).unwrap();
    assert!(!set.crds.is_empty());
    let kinds: BTreeSet<&str> = set.objects.iter().filter_map(|o| o.value["kind"].as_str()).collect();
    for kind in ["Deployment", "ClusterRole", "MutatingWebhookConfiguration", "Service"] {
        assert!(kinds.contains(kind), "{kind} missing from {kinds:?}");
    }
}

#[test]
fn legacy_v1beta1_crds_load_normalised() {
    let Some(corpus) = corpus() else { return };
    let set = load_side(&corpus.join("crds/strimzi/0.22.1")).unwrap();
    let topic = &set.crds["kafkatopics.kafka.strimzi.io"];
    assert_eq!(topic.original_api_version, "apiextensions.k8s.io/v1beta1");
    assert!(topic.crd.versions.iter().all(|v| v.schema.is_some() && v.subresources.status.is_some()));
    let column = &topic.crd.versions[0].additional_printer_columns[0];
    assert!(column.get("jsonPath").is_some() && column.get("JSONPath").is_none());
}
