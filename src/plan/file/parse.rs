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
fn holds_no_document(text: &str) -> bool {
    text.lines().map(str::trim).all(|line| line.is_empty() || line.starts_with('#') || line == "---" || line == "...")
}
