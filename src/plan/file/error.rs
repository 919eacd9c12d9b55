//! Why a plan file was refused: every error names the file, and where it can, the line, column and key.

use crate::manifest::input::InputError;
use std::fmt;
use std::path::PathBuf;
use thiserror::Error;

/// A plan file that could not be read, parsed or accepted.
#[derive(Debug, Error)]
pub enum PlanFileError {
    /// The file could not be read: missing, not a regular file, too large or not UTF-8 text.
    #[error(transparent)]
    Io(#[from] InputError),
    /// The file holds nothing but comments and blank lines.
    #[error("{file}: the plan file is empty (it needs apiVersion, kind, metadata and spec)", file = .file.display())]
    Empty {
        /// The plan file.
        file: PathBuf,
    },
    /// The YAML is malformed, or a key or value does not fit the format: an unknown key, a wrong type, a
    /// missing required key, a bad duration or version.
    #[error("{0}")]
    Parse(Box<ParseFailure>),
    /// The file parses but says something that cannot work (two choices at once, a percentage over 100, a
    /// template that cannot scope, a move the version policy forbids, a source that does not exist).
    #[error("{}", problems_text(.file, .problems))]
    Invalid {
        /// The plan file.
        file: PathBuf,
        /// Every problem found, in file order.
        problems: Vec<PlanProblem>,
    },
}

/// Where and why the plan file does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFailure {
    /// The plan file.
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

/// One thing wrong with a plan that parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanProblem {
    /// The key path (`spec.canary.cohort.percentage`).
    pub path: String,
    /// The 1-based line of the key, when it could be found in the text.
    pub line: Option<usize>,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl PlanFileError {
    /// The 1-based line the error points at, if it has one (the first problem's for [`PlanFileError::Invalid`]).
    pub fn line(&self) -> Option<usize> {
        match self {
            PlanFileError::Parse(failure) => failure.line,
            PlanFileError::Invalid { problems, .. } => problems.iter().find_map(|p| p.line),
            PlanFileError::Io(_) | PlanFileError::Empty { .. } => None,
        }
    }
}

fn located(
    file: &std::path::Path,
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

fn problems_text(file: &std::path::Path, problems: &[PlanProblem]) -> String {
    let one = |p: &PlanProblem| located(file, p.line, None, &p.path, &p.message, None);
    match problems {
        [only] => one(only),
        _ => {
            let mut text = format!("{}: {} problems in the plan:", file.display(), problems.len());
            for problem in problems {
                text.push_str("\n  ");
                text.push_str(&one(problem));
            }
            text
        }
    }
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}
