//! The finding-code reference: every registered code with its default severity, what breaks and why, by the
//! part of the tool that reports it, and the test fixtures that show it firing.

use super::cell;
use crate::findings::{Family, FindingCode, REGISTRY};
use anyhow::Context;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// The fixture directories under `tests/fixtures`, each with one `expect.yaml` per fixture.
const FIXTURE_FAMILIES: &[&str] = &["rules", "operator", "validate"];

/// How many fixtures a row links before it only counts the rest.
const FIXTURES_SHOWN: usize = 3;

/// For each code, the fixtures (`rules/crd-added`, ...) whose expectations say it fires.
pub type FixtureIndex = BTreeMap<FindingCode, Vec<String>>;

/// The part of a fixture's `expect.yaml` that says which codes it shows firing; the test that owns the
/// fixture checks the rest of the file.
#[derive(Deserialize)]
struct Expectations {
    #[serde(default)]
    fires: Vec<String>,
    /// Lint codes firing as problems new in the release.
    #[serde(default)]
    regressions: Vec<String>,
    /// Lint codes firing as problems the old release already had.
    #[serde(default)]
    existing: Vec<String>,
}

/// Reads every fixture's expectations under `fixtures` (the repository's `tests/fixtures`). The fixture
/// named after a code comes first in its list, then the others by name.
pub fn fixtures_by_code(fixtures: &Path) -> anyhow::Result<FixtureIndex> {
    let mut index = FixtureIndex::new();
    for family in FIXTURE_FAMILIES {
        let root = fixtures.join(family);
        let entries = std::fs::read_dir(&root).with_context(|| {
            format!("cannot list the fixtures in {} (run from the repository's root)", root.display())
        })?;
        let mut dirs = Vec::new();
        for entry in entries {
            dirs.push(entry.with_context(|| format!("cannot list {}", root.display()))?.path());
        }
        dirs.sort();
        for dir in dirs {
            let expect = dir.join("expect.yaml");
            if !expect.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&expect).with_context(|| format!("cannot read {}", expect.display()))?;
            let expectations: Expectations =
                serde_norway::from_str(&text).with_context(|| format!("{} is not valid", expect.display()))?;
            let name = format!("{family}/{}", dir.file_name().and_then(|n| n.to_str()).unwrap_or_default());
            let codes = expectations.fires.iter().chain(&expectations.regressions).chain(&expectations.existing);
            for spelling in codes {
                let code = FindingCode::parse(spelling)
                    .with_context(|| format!("{}: `{spelling}` is not a registered code", expect.display()))?;
                let list = index.entry(code).or_default();
                if !list.contains(&name) {
                    list.push(name.clone());
                }
            }
        }
    }
    for (code, list) in index.iter_mut() {
        // A stable sort keeps the rest in name order.
        list.sort_by_key(|name| !name.ends_with(&format!("/{}", code.as_str())));
    }
    Ok(index)
}

/// The heading and the sentence introducing each family's table.
fn family_section(family: Family) -> (&'static str, &'static str) {
    match family {
        Family::CrdDiff => (
            "CRD changes (`plan`)",
            "A difference between the old and the new release's CustomResourceDefinitions.",
        ),
        Family::ObjectValidation => (
            "Existing objects (`validate`, `plan --objects`, `apply`'s preflight)",
            "An existing custom resource checked against the new CRDs, as the API server will treat it on its next write.",
        ),
        Family::OperatorDiff => (
            "Operator manifest changes (`plan`)",
            "A difference between the old and the new release's other objects: Deployments, RBAC, webhooks, ...",
        ),
        Family::Lint => (
            "Production-readiness lint (`plan`)",
            "A problem of the new release's operator manifests; `regression: true` marks the ones the old release did not have.",
        ),
    }
}

fn fixture_cell(fixtures: Option<&Vec<String>>) -> String {
    let Some(fixtures) = fixtures.filter(|f| !f.is_empty()) else {
        return "none".to_owned();
    };
    let mut links: Vec<String> =
        fixtures.iter().take(FIXTURES_SHOWN).map(|name| format!("[`{name}`](../../tests/fixtures/{name}/)")).collect();
    if fixtures.len() > FIXTURES_SHOWN {
        links.push(format!("and {} more", fixtures.len() - FIXTURES_SHOWN));
    }
    links.join(", ")
}

/// The page's body (after the generated header).
pub fn render(index: &FixtureIndex) -> String {
    let mut out = String::new();
    out.push_str(
        "Every finding carries one of these codes. A code has a default severity; a finding differs from it \
         only for the documented reasons in [severities](findings.md), most of them about the side of the object \
         (`spec`, written by users, or `status`, written by the operator). The fixtures are the test cases under \
         `tests/fixtures/` whose expectations show the code firing (the reviewed findings are in their snapshots).\n\n",
    );
    let families = [Family::CrdDiff, Family::ObjectValidation, Family::OperatorDiff, Family::Lint];
    out.push_str("| reported by | codes |\n|---|---|\n");
    for family in families {
        let (heading, _) = family_section(family);
        let count = REGISTRY.iter().filter(|r| r.family == family).count();
        let _ = writeln!(out, "| [{heading}](#{}) | {count} |", anchor(heading));
    }
    for family in families {
        let (heading, intro) = family_section(family);
        let _ = write!(out, "\n## {heading}\n\n{intro}\n\n");
        out.push_str("| code | default severity | what breaks | why | fixtures |\n|---|---|---|---|---|\n");
        for rule in REGISTRY.iter().filter(|r| r.family == family) {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                rule.code.as_str(),
                rule.severity,
                cell(rule.breaks),
                cell(rule.why),
                fixture_cell(index.get(&rule.code))
            );
        }
    }
    out
}

/// GitHub's anchor for a heading: lowercase, punctuation other than `-` and `_` dropped, spaces as `-`.
pub fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(root: &Path, family: &str, name: &str, expect: &str) {
        let dir = root.join(family).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("expect.yaml"), expect).unwrap();
    }

    fn fixture_tree() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for family in FIXTURE_FAMILIES {
            std::fs::create_dir_all(root.path().join(family)).unwrap();
        }
        root
    }

    #[test]
    fn the_fixture_named_after_a_code_comes_first_and_lint_expectations_count() {
        let root = fixture_tree();
        fixture(root.path(), "rules", "a-field-and-more", "fires: [field-removed]\nmax_severity: breaking\n");
        fixture(root.path(), "rules", "field-removed", "fires: [field-removed]\n");
        fixture(root.path(), "operator", "lint-old", "kind: lint\nfires: []\nexisting: [lint-run-as-root]\n");
        std::fs::create_dir_all(root.path().join("operator/snapshots")).unwrap();
        let index = fixtures_by_code(root.path()).unwrap();
        assert_eq!(index[&FindingCode::FieldRemoved], ["rules/field-removed", "rules/a-field-and-more"]);
        assert_eq!(index[&FindingCode::LintRunAsRoot], ["operator/lint-old"]);
    }

    #[test]
    fn an_unknown_code_in_a_fixture_is_an_error_naming_the_file() {
        let root = fixture_tree();
        fixture(root.path(), "validate", "typo", "fires: [data-prunned]\n");
        let error = format!("{:#}", fixtures_by_code(root.path()).unwrap_err());
        assert!(error.contains("typo/expect.yaml") && error.contains("data-prunned"), "{error}");
    }

    #[test]
    fn every_code_has_a_row_with_its_severity_and_fixture_links() {
        let mut index = FixtureIndex::new();
        index.insert(FindingCode::CrdAdded, vec!["rules/crd-added".into()]);
        index.insert(FindingCode::FieldRemoved, (0..5).map(|i| format!("rules/f{i}")).collect());
        let page = render(&index);
        for rule in REGISTRY {
            assert!(page.contains(&format!("| `{}` | {} |", rule.code.as_str(), rule.severity)), "{}", rule.code);
        }
        assert!(page.contains("[`rules/crd-added`](../../tests/fixtures/rules/crd-added/)"), "{page}");
        assert!(page.contains("[`rules/f2`](../../tests/fixtures/rules/f2/), and 2 more"), "{page}");
        assert!(page.contains("(#crd-changes-plan)"), "{page}");
    }

    #[test]
    fn anchors_follow_github() {
        assert_eq!(
            anchor("Existing objects (`validate`, `plan --objects`)"),
            "existing-objects-validate-plan---objects"
        );
    }
}
