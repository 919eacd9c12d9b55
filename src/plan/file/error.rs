//! Why a plan file was refused: every error names the file, and where it can, the line, column and key.

use crate::manifest::input::InputError;
use std::path::PathBuf;
use thiserror::Error;

/// Where and why the plan file does not parse (shared with the tool's other strict files).
pub use crate::manifest::ParseFailure;

/// One thing wrong with a plan that parsed (shared with the tool's other strict files).
pub use crate::manifest::Problem as PlanProblem;

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

fn problems_text(file: &std::path::Path, problems: &[PlanProblem]) -> String {
    crate::manifest::problems_text(file, "the plan", problems)
}
