//! Strict loading of the plan file: serde with `deny_unknown_fields` everywhere, errors carrying the file,
//! line, column and key path, and "did you mean" for a misspelt key or value (see [`crate::manifest::parse_strict`]).

use super::error::PlanFileError;
use super::model::UpgradePlan;
use std::path::Path;

/// Parses a plan file's text; `file` is only used in messages.
pub fn parse_plan(text: &str, file: &Path) -> Result<UpgradePlan, PlanFileError> {
    if holds_no_document(text) {
        return Err(PlanFileError::Empty { file: file.to_owned() });
    }
    crate::manifest::parse_strict(text, file).map_err(PlanFileError::Parse)
}

/// Whether the text is only blank lines, comments and document markers.
pub(crate) fn holds_no_document(text: &str) -> bool {
    text.lines().map(str::trim).all(|line| line.is_empty() || line.starts_with('#') || line == "---" || line == "...")
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_placed_at_its_repetition_not_at_its_mapping() {
        let head = "apiVersion: operator-upgrade.dev/v1alpha1\nkind: UpgradePlan\nmetadata:\n  name: x\n";
        let error = parse_plan(&format!("{head}kind: UpgradePlan\n"), Path::new("plan.yaml")).unwrap_err();
        assert_eq!(error.to_string(), "plan.yaml:5: duplicate field `kind`");
        let error = parse_plan(&format!("{head}  name: y\n"), Path::new("plan.yaml")).unwrap_err();
        assert_eq!(error.to_string(), "plan.yaml:5: metadata: duplicate field `name`");
    }
}
