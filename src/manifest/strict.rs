//! Strict reading of the tool's own YAML files (the plan file, the simulator's scenario): serde with
//! `deny_unknown_fields`, errors carrying the file, line, column and key path, "did you mean" for a
//! misspelt key or value, and one way of writing a problem found after parsing.

use super::suggest::{NameKind, UnknownName};
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where and why a file does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFailure {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when the parser knows it.
    pub line: Option<usize>,
    /// 1-based column, when the parser knows it.
    pub column: Option<usize>,
    /// The key path of the offending value (`spec.canary.cohort`), empty at the top level.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// The expected name closest to a misspelt one.
    pub suggestion: Option<String>,
}

impl fmt::Display for ParseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = located(&self.file, self.line, self.column, &self.path, &self.message, self.suggestion.as_deref());
        f.write_str(&text)
    }
}

/// One thing wrong with a file that parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key path (`spec.canary.cohort.percentage`).
    pub path: String,
    /// The 1-based line of the key, when it could be found in the text.
    pub line: Option<usize>,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Parses a YAML document of one of the tool's formats; `file` is only used in messages.
///
/// Choices (a plan's gate kinds, signals, scoping mechanisms) are written as one-key mappings
/// (`velero: {...}`), not YAML tags, hence the singleton-map adapter (a format without enums is not
/// affected by it); path tracking sits under it so paths name the keys.
pub fn parse_strict<T: DeserializeOwned>(text: &str, file: &Path) -> Result<T, Box<ParseFailure>> {
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_norway::Deserializer::from_str(text);
    let tracked = serde_path_to_error::Deserializer::new(deserializer, &mut track);
    serde_norway::with::singleton_map_recursive::deserialize(tracked)
        .map_err(|error| parse_failure(file, text, serde_path_to_error::Error::new(track.path(), error)))
}

fn parse_failure(file: &Path, text: &str, error: serde_path_to_error::Error<serde_norway::Error>) -> Box<ParseFailure> {
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
    super::KeyPath::root().join(path).line_of_repeated(key, text)
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

/// Rewords serde's unknown-name messages in the file's terms, with the closest expected name.
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
        (NameKind::Variant, _) => format!("`{}` is not one of {expected}", unknown.found),
    };
    (text, suggestion)
}

/// `file:line:column: path: message; did you mean `suggestion`?`, leaving out what is unknown.
pub fn located(
    file: &Path,
    line: Option<usize>,
    column: Option<usize>,
    path: &str,
    message: &str,
    suggestion: Option<&str>,
) -> String {
    let mut text = file.display().to_string();
    if let Some(line) = line {
        text.push_str(&format!(":{line}"));
        if let Some(column) = column {
            text.push_str(&format!(":{column}"));
        }
    }
    text.push_str(": ");
    if !path.is_empty() {
        text.push_str(&format!("{path}: "));
    }
    text.push_str(message);
    if let Some(suggestion) = suggestion {
        text.push_str(&format!("; did you mean `{suggestion}`?"));
    }
    text
}

/// Every problem of a file, one per line after a count when there are several (`what` names the
/// document: `the plan`, `the scenario`).
pub fn problems_text(file: &Path, what: &str, problems: &[Problem]) -> String {
    let one = |p: &Problem| located(file, p.line, None, &p.path, &p.message, None);
    match problems {
        [only] => one(only),
        _ => {
            let mut text = format!("{}: {} problems in {what}:", file.display(), problems.len());
            for problem in problems {
                text.push_str("\n  ");
                text.push_str(&one(problem));
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // Only read by serde.
    struct Doc {
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)] // Only read by serde.
    struct Inner {
        max_age: u32,
    }

    #[test]
    fn failures_carry_line_column_path_and_suggestion() {
        let failure = parse_strict::<Doc>("inner:\n  maxage: 1\n", Path::new("f.yaml")).unwrap_err();
        assert_eq!((failure.line, failure.column), (Some(2), Some(3)));
        assert_eq!(failure.path, "inner.maxage");
        assert_eq!(failure.suggestion.as_deref(), Some("maxAge"));
        assert_eq!(failure.to_string(), "f.yaml:2:3: inner.maxage: unknown key `maxage`; did you mean `maxAge`?");
        let failure = parse_strict::<Doc>("inner: {maxAge: x}\n", Path::new("f.yaml")).unwrap_err();
        assert_eq!(failure.path, "inner.maxAge");
        assert!(failure.message.starts_with("invalid type: string \"x\""), "{}", failure.message);
    }

    #[test]
    fn several_problems_are_counted_and_listed() {
        let problem = |line, message: &str| Problem { path: "a.b".into(), line, message: message.into() };
        let file = Path::new("s.yaml");
        assert_eq!(problems_text(file, "the scenario", &[problem(Some(3), "bad")]), "s.yaml:3: a.b: bad");
        assert_eq!(
            problems_text(file, "the scenario", &[problem(Some(3), "bad"), problem(None, "worse")]),
            "s.yaml: 2 problems in the scenario:\n  s.yaml:3: a.b: bad\n  s.yaml: a.b: worse"
        );
    }
}
