//! The engine: executes the plan's steps against a cluster (`apply`, `finalize`), undoes them (`rollback`)
//! and reports on them (`status`), journaled in the cluster so any machine can resume, inspect or undo a run.
//!
//! Each step observes, decides (a pure function of what it observed) and acts with idempotent writes; the
//! journal records the pre-upgrade state of everything the run changes before the first write, marks each
//! step running before it acts and done after, so a run killed anywhere resumes to the same end state.

mod canary;
pub mod desired;
mod executor;
mod gate_step;
pub mod helm_run;
mod jobs;
pub mod journal;
pub mod managers;
pub mod migrate;
pub mod permissions;
pub mod preflight;
pub mod refusal;
pub mod rehearsal;
mod report;
pub mod restore;
mod rollback;
mod run;
pub mod run_report;
mod status;
mod steps;
mod upgrade;

pub use executor::{apply, finalize, ApplyOptions, RehearsalCheck};
pub use refusal::Refusal;
pub use report::{OutputMode, Reporter};
pub use rollback::{rollback, rollback_of_plan, RollbackReport};
pub use run_report::{write_reports, ReportError};
pub use status::{journal_of, runs, status, Heartbeat, RunView, StatusFormat};
pub use upgrade::{Acceptance, Upgrade};

use crate::cluster::ClusterError;
use std::fmt;
use thiserror::Error;

/// How a command of the engine ended; each has one exit code across `apply`, `rollback` and `finalize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for was done (exit 0).
    Done(String),
    /// A regression was found and the run rolled back cleanly (exit 1).
    RolledBack(String),
    /// Refused before any change: preflight, a gate, findings, a run in the way (exit 3), each reason with
    /// what resolves it.
    Refused(Vec<Refusal>),
    /// Stopped for a person to decide; `apply` resumes, `rollback` ends it (exit 4).
    Paused(String),
    /// A step failed and the cluster needs attention: rollback failed or is impossible (exit 5).
    NeedsAttention(String),
}

/// Exit code: done.
pub const EXIT_DONE: u8 = 0;
/// Exit code: a regression was found and rolled back.
pub const EXIT_ROLLED_BACK: u8 = 1;
/// Exit code: bad input or usage.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code: refused before any change.
pub const EXIT_REFUSED: u8 = 3;
/// Exit code: paused for a human.
pub const EXIT_PAUSED: u8 = 4;
/// Exit code: the cluster needs attention.
pub const EXIT_NEEDS_ATTENTION: u8 = 5;

impl Outcome {
    /// The process exit code of this outcome.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Done(_) => EXIT_DONE,
            Outcome::RolledBack(_) => EXIT_ROLLED_BACK,
            Outcome::Refused(_) => EXIT_REFUSED,
            Outcome::Paused(_) => EXIT_PAUSED,
            Outcome::NeedsAttention(_) => EXIT_NEEDS_ATTENTION,
        }
    }

    /// A refusal for one reason.
    pub fn refused(refusal: Refusal) -> Outcome {
        Outcome::Refused(vec![refusal])
    }

    /// What happened; a refusal lists each reason on its own lines, with its next step.
    pub fn message(&self) -> String {
        match self {
            Outcome::Done(m) | Outcome::RolledBack(m) | Outcome::Paused(m) | Outcome::NeedsAttention(m) => m.clone(),
            Outcome::Refused(refusals) => refusals.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self {
            Outcome::Done(_) => "done",
            Outcome::RolledBack(_) => "rolled back",
            Outcome::Refused(_) => "refused",
            Outcome::Paused(_) => "paused",
            Outcome::NeedsAttention(_) => "needs attention",
        };
        write!(f, "{label}: {}", self.message())
    }
}

/// What stops the engine other than an [`Outcome`]: input that cannot be used (exit 2) and cluster errors.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The plan file cannot be used.
    #[error(transparent)]
    PlanFile(#[from] crate::plan::file::PlanFileError),
    /// The plan's releases or the arguments cannot be used.
    #[error("{0}")]
    BadInput(String),
    /// A cluster request failed after its retries.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The journal in the cluster cannot be read.
    #[error("the journal {name} cannot be read: {message}")]
    Journal {
        /// The journal ConfigMap.
        name: String,
        /// Why.
        message: String,
    },
}

/// What resolves a plan file that cannot be used.
pub const PLAN_FILE_NEXT_STEP: &str =
    "correct the plan file at the place named; `operator-upgrade schema` prints its JSON Schema for an editor to check it as you type";

impl EngineError {
    /// What a person does about it next, when there is something to say.
    pub fn next_step(&self) -> Option<&'static str> {
        match self {
            EngineError::Cluster(error) => error.next_step(),
            EngineError::Journal { .. } => Some(
                "`kubectl get configmap` the journal named above to see what is wrong with it; never edit it while a run is alive (`operator-upgrade status`)",
            ),
            EngineError::PlanFile(_) => Some(PLAN_FILE_NEXT_STEP),
            EngineError::BadInput(_) => None,
        }
    }
}

/// The current time as the journal writes it (RFC 3339, UTC, seconds).
pub(crate) fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
