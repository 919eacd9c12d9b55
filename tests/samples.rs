//! Upstream projects' own sample objects (`../shared/corpus/objects/`: CloudNativePG's and Strimzi's example
//! manifests at two releases each), validated against the CRDs of the same release as a new user would: every
//! real defect listed in `known-defects.tsv` is reported at warning or above, and nothing else reaches warning (a
//! kind from another project's API group, a default the release has always applied). Skipped with a message when
//! the corpus is absent.

use operator_upgrade::findings::{FindingCode, Severity};
use operator_upgrade::manifest::load_side;
use operator_upgrade::schema::validate::{validate_paths_keeping, Validator};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if path.join("objects/known-defects.tsv").is_file() {
        Some(path)
    } else {
        // Written past the test harness's capture so the skip is visible in a plain `cargo test`.
        let _ = writeln!(std::io::stderr(), "skipped: ../shared/corpus/objects not found beside the project");
        None
    }
}

/// `(code, object name, path)`: what a defect is identified by.
type Defect = (String, String, String);

/// The known defects per sample set (`cloudnative-pg/v1.29.0`): those checked by hand against the CRDs, and
/// those found by comparing with kube-apiserver (`known-defects-apiserver.tsv`: data pruned under a value of
/// the wrong type).
fn known_defects(corpus: &Path) -> BTreeMap<String, BTreeSet<Defect>> {
    let mut sets: BTreeMap<String, BTreeSet<Defect>> = BTreeMap::new();
    for file in ["known-defects.tsv", "known-defects-apiserver.tsv"] {
        let text = std::fs::read_to_string(corpus.join("objects").join(file)).expect(file);
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split('\t').collect();
            assert!(fields.len() >= 4, "{file}: {line}");
            assert!(FindingCode::parse(fields[1]).is_some(), "{file} names an unknown code: {line}");
            let defect = (fields[1].to_owned(), fields[2].to_owned(), fields[3].to_owned());
            sets.entry(fields[0].to_owned()).or_default().insert(defect);
        }
    }
    sets
}

/// Every sample set under `objects/`, as `project/tag`.
fn sample_sets(corpus: &Path) -> Vec<String> {
    let mut sets = Vec::new();
    for project in std::fs::read_dir(corpus.join("objects")).expect("objects/") {
        let project = project.expect("entry").path();
        if !project.is_dir() {
            continue;
        }
        for tag in std::fs::read_dir(&project).expect("project dir") {
            let tag = tag.expect("entry").path();
            let name = |p: &Path| p.file_name().expect("name").to_string_lossy().into_owned();
            sets.push(format!("{}/{}", name(&project), name(&tag)));
        }
    }
    sets.sort();
    sets
}

#[test]
fn samples_report_every_known_defect_and_nothing_else_at_warning() {
    let Some(corpus) = corpus() else { return };
    let known = known_defects(&corpus);
    let sets = sample_sets(&corpus);
    assert!(sets.len() >= 4, "{sets:?}");
    let mut failures = Vec::new();
    for set in &sets {
        let crds = load_side(&corpus.join("crds").join(set)).unwrap_or_else(|e| panic!("{e}"));
        let validator = Validator::new(&crds.crds);
        let report = validate_paths_keeping(&validator, &[corpus.join("objects").join(set)], true)
            .unwrap_or_else(|e| panic!("{e}"));
        let findings = report.every_finding().unwrap_or_else(|e| panic!("{e}"));
        let loud: BTreeSet<Defect> = findings
            .iter()
            .filter(|f| f.key.severity >= Severity::Warning)
            .map(|f| (f.key.code.as_str().to_owned(), f.object.name.clone(), f.key.path.clone()))
            .collect();
        let expected = known.get(set).cloned().unwrap_or_default();
        for missing in expected.difference(&loud) {
            failures.push(format!("{set}: known defect not reported at warning or above: {missing:?}"));
        }
        for extra in loud.difference(&expected) {
            failures.push(format!("{set}: reported at warning or above but not a known defect: {extra:?}"));
        }
        let s = &report.summary;
        println!(
            "{set}: {} objects, {} checked, {} findings ({} warning or above), {} info; other groups {}, unknown kinds {}",
            s.objects,
            s.checked,
            findings.len(),
            findings.iter().filter(|f| f.key.severity >= Severity::Warning).count(),
            findings.iter().filter(|f| f.key.severity == Severity::Info).count(),
            s.other_group,
            s.unknown_kind
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same samples judged against the previous release's CRDs (`validate --old-crds`): every finding still names
/// a real change, so a default reported is one the older release did not have or had with another value.
#[test]
fn samples_against_the_previous_release_report_only_changed_defaults() {
    let Some(corpus) = corpus() else { return };
    let pairs = [("cloudnative-pg", "v1.29.0", "v1.30.0"), ("strimzi", "0.49.0", "1.0.0")];
    for (project, old, new) in pairs {
        let crds =
            |tag: &str| load_side(&corpus.join("crds").join(project).join(tag)).unwrap_or_else(|e| panic!("{e}"));
        let validator = Validator::new(&crds(new).crds).compared_with(&crds(old).crds);
        let objects = corpus.join("objects").join(project).join(new);
        let report = validate_paths_keeping(&validator, &[objects], true).unwrap_or_else(|e| panic!("{e}"));
        let findings = report.every_finding().unwrap_or_else(|e| panic!("{e}"));
        let defaults: Vec<_> = findings.iter().filter(|f| f.key.code == FindingCode::DefaultApplied).collect();
        for finding in &defaults {
            let old_value = finding.key.old.as_ref();
            assert!(old_value != finding.key.value.as_ref(), "{project}: an unchanged default reported: {finding:?}");
        }
        println!("{project} {new} samples against {old}: {} default-applied findings", defaults.len());
    }
}
