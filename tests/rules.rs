//! Every rule runs on every fixture under `tests/fixtures/rules/`: each fixture's expectations hold, its
//! findings match a reviewed snapshot, every side diffed with itself yields nothing, and every registered
//! code is shown firing by at least one fixture.

use operator_upgrade::findings::{Family, Finding, FindingCode, Severity, REGISTRY};
use operator_upgrade::manifest::load_side;
use operator_upgrade::plan::Plan;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    fires: Vec<String>,
    #[serde(default)]
    absent: Vec<String>,
    max_severity: Severity,
}

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixtures directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() > 50, "expected the rule fixtures under {}", root.display());
    dirs
}

fn plan(old: &Path, new: &Path) -> Vec<Finding> {
    let old = load_side(old).unwrap_or_else(|e| panic!("{e}"));
    let new = load_side(new).unwrap_or_else(|e| panic!("{e}"));
    Plan::build(&old, &new).findings
}

fn code(spelling: &str, fixture: &Path) -> FindingCode {
    FindingCode::parse(spelling).unwrap_or_else(|| panic!("{}: unknown code {spelling}", fixture.display()))
}

#[test]
fn every_fixture_meets_its_expectations_and_snapshot() {
    let mut failures = Vec::new();
    for dir in fixtures() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expect: Expect = serde_norway::from_str(&std::fs::read_to_string(dir.join("expect.yaml")).unwrap())
            .unwrap_or_else(|e| panic!("{name}/expect.yaml: {e}"));
        let findings = plan(&dir.join("old.yaml"), &dir.join("new.yaml"));
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
        for finding in findings.iter().filter(|f| f.severity > expect.max_severity) {
            failures.push(format!("{name}: {} at {} above {}", finding.code, finding.severity, expect.max_severity));
        }
        insta::with_settings!({snapshot_path => "fixtures/snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_yaml_snapshot!(name.as_str(), findings);
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_side_diffed_with_itself_yields_nothing() {
    for dir in fixtures() {
        for side in ["old.yaml", "new.yaml"] {
            let path = dir.join(side);
            let findings = plan(&path, &path);
            assert!(findings.is_empty(), "{}: {:?}", path.display(), findings);
        }
    }
}

#[test]
fn every_registered_code_is_shown_firing_by_a_fixture() {
    let mut fired = BTreeSet::new();
    for dir in fixtures() {
        let expect: Expect =
            serde_norway::from_str(&std::fs::read_to_string(dir.join("expect.yaml")).unwrap()).unwrap();
        fired.extend(expect.fires.iter().map(|c| code(c, &dir)));
    }
    let missing: Vec<&str> = REGISTRY
        .iter()
        .filter(|r| r.family == Family::CrdDiff && !fired.contains(&r.code))
        .map(|r| r.code.as_str())
        .collect();
    assert!(missing.is_empty(), "codes no fixture fires: {missing:?}");
}

#[test]
fn every_registered_code_is_documented_in_the_reference() {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reference/finding-codes.md");
    let reference = std::fs::read_to_string(&page).unwrap();
    for rule in REGISTRY {
        let row = format!("| `{}` | {} |", rule.code.as_str(), rule.severity);
        assert!(reference.contains(&row), "{} lacks the row for {}", page.display(), rule.code);
    }
}
