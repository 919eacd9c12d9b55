//! Strict loading of the plan file: serde with `deny_unknown_fields` everywhere, errors carrying the file,
//! line, column and key path, and "did you mean" for a misspelt key or value.

use super::error::{ParseFailure, PlanFileError};
use super::locate::KeyPath;
use super::model::UpgradePlan;
use super::suggest::{NameKind, UnknownName};
use serde::de::DeserializeOwned;
use std::path::Path;

/// Parses a plan file's text; `file` is only used in messages.
pub fn parse_plan(text: &str, file: &Path) -> Result<UpgradePlan, PlanFileError> {
    if holds_no_document(text) {
        return Err(PlanFileError::Empty { file: file.to_owned() });
    }
    parse_strict(text, file).map_err(PlanFileError::Parse)
}

/// Parses a strict YAML document (a plan or a fleet file) into `T`: a malformed document, an unknown,
/// missing or repeated key or a wrong type is a failure naming the file, line, column and key path (and the
/// expected name closest to a misspelt one). `file` is only used in messages.
pub(crate) fn parse_strict<T: DeserializeOwned>(text: &str, file: &Path) -> Result<T, Box<ParseFailure>> {
    // Choices (gate kinds, signals, scoping mechanisms) are written as one-key mappings (`velero: {...}`),
    // not YAML tags, hence the singleton-map adapter; path tracking sits under it so paths name the keys.
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_norway::Deserializer::from_str(text);
    let tracked = serde_path_to_error::Deserializer::new(deserializer, &mut track);
    serde_norway::with::singleton_map_recursive::deserialize(tracked)
        .map_err(|error| parse_error(file, text, serde_path_to_error::Error::new(track.path(), error)))
}

/// Whether the text is only blank lines, comments and document markers.
pub(crate) fn holds_no_document(text: &str) -> bool {
    text.lines().map(str::trim).all(|line| line.is_empty() || line.starts_with('#') || line == "---" || line == "...")
}

fn parse_error(file: &Path, text: &str, error: serde_path_to_error::Error<serde_norway::Error>) -> Box<ParseFailure> {
    let path = match error.path().to_string() {
        root if root == "." => String::new(),
        path => path,
    };
    let inner = error.into_inner();
    let location = inner.location();
    let (mut line, mut column) = (location.as_ref().map(|l| l.line()), location.as_ref().map(|l| l.column()));
    let bare = bare_message(&inner);
    // serde places a repeated key at the start of its mapping; the repetition itself is what to point at.
    if let Some(repeated) = repeated_line(&bare, &path, text) {
        (line, column) = (Some(repeated), None);
    }
    let (message, suggestion) = explain(bare);
    Box::new(ParseFailure { file: file.to_owned(), line, column, path, message, suggestion })
}

/// For serde's `duplicate field `KEY`` at the mapping `path`, the line of the key's second appearance.
fn repeated_line(message: &str, path: &str, text: &str) -> Option<usize> {
    let key = message.strip_prefix("duplicate field `")?.strip_suffix('`')?;
    KeyPath::root().join(path).line_of_repeated(key, text)
}

/// serde_norway's message without the key path and position it appends (both are reported separately).
fn bare_message(error: &serde_norway::Error) -> String {
    let mut message = error.to_string();
    if let Some(location) = error.location() {
        let suffix = format!(" at line {} column {}", location.line(), location.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_owned();
        }
    }
    // serde_norway prefixes its own key path as `a.b[0].c: `; a path never contains a space.
    if let Some((prefix, rest)) = message.split_once(": ") {
        let looks_like_path = !prefix.is_empty() && !prefix.contains(char::is_whitespace);
        if looks_like_path && !rest.is_empty() {
            message = rest.to_owned();
        }
    }
    message
}

/// Rewords serde's unknown-name messages in the plan file's terms, with the closest expected name.
fn explain(message: String) -> (String, Option<String>) {
    let Some(unknown) = UnknownName::from_message(&message) else { return (message, None) };
    let expected = unknown.expected.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ");
    let suggestion = unknown.suggestion().map(str::to_owned);
    let text = match (unknown.kind, &suggestion) {
        (NameKind::Field, Some(_)) => format!("unknown key `{}`", unknown.found),
        (NameKind::Field, None) if expected.is_empty() => {
            format!("unknown key `{}` (no keys are allowed here)", unknown.found)
        }
        (NameKind::Field, None) => format!("unknown key `{}` (expected one of {expected})", unknown.found),
        (NameKind::Variant, Some(_)) => format!("`{}` is not one of {expected}", unknown.found),
        (NameKind::Variant, None) => format!("`{}` is not one of {expected}", unknown.found),
    };
    (text, suggestion)
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
