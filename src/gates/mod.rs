//! Backup gates: read-only preconditions checked before `apply` changes anything.
//!
//! Each gate kind has its own file. The I/O part reads what the gate needs (a Velero `Backup` and its
//! `BackupStorageLocation`, CloudNativePG `Cluster`s and `Backup`s, a command's exit status and output);
//! a pure judge turns those observations into a [`GateVerdict`]. A failing verdict names the object and
//! the field that failed. Nothing here writes to the cluster.
//!
//! Not handled here: [`BackupGate::Job`] gates (the engine runs Jobs itself) and a Velero gate's
//! `testRestore` (it creates a `Restore` and a scratch namespace, so it is an act, not an observation).

mod cnpg;
mod command;
mod fields;
mod velero;

pub use cnpg::{judge_cluster, judge_clusters, CloudNativePgPhase, ClusterRef};
pub use command::{judge_command, CommandOutcome, OutputTail, COMMAND_OUTPUT_LIMIT};
pub use velero::{
    evaluate_backup as evaluate_velero_backup, judge_backup, judge_restore, newest_backup, storage_location_name,
    RestoreDecision, StorageLocationPhase, VeleroPhase,
};

use crate::plan::file::{BackupGate, BackupGateKind};
use std::fmt;
use std::path::PathBuf;

/// What a gate's evaluation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateVerdict {
    /// The gate holds.
    Passed {
        /// What was checked and found, for the run's record (`velero.io Backup velero/daily: Completed ...`).
        evidence: String,
    },
    /// The gate does not hold; the upgrade must not start.
    Failed(GateFailure),
}

impl GateVerdict {
    /// Whether the gate holds.
    pub fn passed(&self) -> bool {
        matches!(self, GateVerdict::Passed { .. })
    }

    /// The failure, when the gate does not hold.
    pub fn failure(&self) -> Option<&GateFailure> {
        match self {
            GateVerdict::Passed { .. } => None,
            GateVerdict::Failed(failure) => Some(failure),
        }
    }
}

/// Why a gate does not hold: which object, which of its fields, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateFailure {
    /// What was judged, e.g. `velero.io Backup velero/daily-20260101` or `command ./check-backup.sh`.
    pub subject: String,
    /// The field that failed, e.g. `status.errors` (for a command: `exit status` or `timeout`).
    pub field: String,
    /// What is wrong with it, e.g. `is 3, must be 0`.
    pub reason: String,
}

impl GateFailure {
    pub(crate) fn new(subject: impl Into<String>, field: impl Into<String>, reason: impl Into<String>) -> GateFailure {
        GateFailure { subject: subject.into(), field: field.into(), reason: reason.into() }
    }
}

impl fmt::Display for GateFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}", self.subject, self.field, self.reason)
    }
}

impl From<GateFailure> for GateVerdict {
    fn from(failure: GateFailure) -> GateVerdict {
        GateVerdict::Failed(failure)
    }
}

/// What a gate is judged against besides the cluster: the time and how long the upgrade may take.
#[derive(Debug, Clone, PartialEq)]
pub struct GateContext {
    /// The time the gate is evaluated at (ages are measured from it).
    pub now: jiff::Timestamp,
    /// How long the upgrade may take: a backup must not expire before `now + upgrade_window`.
    pub upgrade_window: std::time::Duration,
    /// The directory a command gate's relative `workingDir` resolves against, and its working directory
    /// when it names none: the plan file's directory (`LoadedPlan::base_dir`).
    pub base_dir: PathBuf,
}

/// Why a gate could not be evaluated at all (as opposed to a gate that was evaluated and failed).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The API server did not answer a read (a missing Velero or CloudNativePG CRD is a failed verdict,
    /// not this error).
    #[error("cannot read {what}: {source}")]
    Api {
        /// What was being read, e.g. `velero.io Backups in namespace velero`.
        what: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A command gate's program could not be started.
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A command gate's process could not be waited for.
    #[error("cannot wait for `{command}`: {source}")]
    Wait {
        /// The command line.
        command: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A command gate with no program (plan validation rejects these).
    #[error("the command gate has no program to run")]
    EmptyCommand,
    /// A gate kind this module does not evaluate: [`BackupGate::Job`] gates are run by the engine, which
    /// creates and watches Jobs itself.
    #[error("{} gates are run by the engine, not evaluated here", .0.key())]
    NotHandledHere(BackupGateKind),
}

/// Evaluates one gate: reads what it needs from the cluster (or runs its command) and judges it.
///
/// Read-only: nothing in the cluster changes. A Velero gate's `testRestore` is not performed here (it
/// writes); the engine does it after this verdict passes. Returns [`GateError::NotHandledHere`] for
/// [`BackupGate::Job`].
pub async fn evaluate(client: &kube::Client, gate: &BackupGate, ctx: &GateContext) -> Result<GateVerdict, GateError> {
    match gate {
        BackupGate::Velero(gate) => velero::evaluate(client, gate, ctx).await,
        BackupGate::CloudNativePg(gate) => cnpg::evaluate(client, gate, ctx).await,
        BackupGate::Command(gate) => command::evaluate(gate, ctx).await,
        BackupGate::Job(_) => Err(GateError::NotHandledHere(BackupGateKind::Job)),
    }
}
