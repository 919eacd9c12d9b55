//! The backup-gate step: a Job gate runs its Job; every other gate is evaluated read-only by `gates`, and a
//! Velero gate's test restore then runs (see `restore`).

use super::restore::test_restore;
use super::run::Run;
use super::steps::{run_job_definition, StepResult};
use super::upgrade::Upgrade;
use crate::cluster::ClusterError;
use crate::gates::{evaluate, evaluate_velero_backup, GateContext, GateError, GateVerdict};
use crate::plan::file::{AnalysisLength, BackupGate, TestRestore, VeleroBackupGate};
use std::time::Duration;

/// How long the upgrade may take from now, which a backup must outlive: warm-up, analysis and rollback.
fn upgrade_window(upgrade: &Upgrade) -> Duration {
    let analysis = upgrade.loaded.analysis();
    let length = match analysis.length() {
        AnalysisLength::Duration(d) => d.to_std(),
        AnalysisLength::Count(count) => analysis.interval.to_std() * count,
    };
    analysis.warm_up.to_std() + length + upgrade.loaded.plan.spec.rollback.timeout.to_std()
}

/// Evaluates the plan's backup gate at `index` of `spec.backups`.
pub async fn run(run: &mut Run, upgrade: &Upgrade, index: usize) -> Result<StepResult, ClusterError> {
    let Some(gate) = upgrade.loaded.backup_gates().get(index) else {
        return Ok(StepResult::Failed { message: format!("the plan has no backup gate {index}"), output: None });
    };
    if let BackupGate::Job(definition) = gate {
        return run_job_definition(&run.objects, upgrade, definition, &run.journal.run_id).await;
    }
    let context = GateContext {
        now: jiff::Timestamp::now(),
        upgrade_window: upgrade_window(upgrade),
        base_dir: upgrade.loaded.base_dir.clone(),
    };
    let verdict = match gate {
        BackupGate::Velero(velero @ VeleroBackupGate { test_restore: Some(restore), .. }) => {
            verify_then_restore(run, velero, restore, &context).await?
        }
        _ => evaluate(run.objects.client(), gate, &context).await.map_err(unevaluated)?,
    };
    Ok(match verdict {
        GateVerdict::Passed { evidence } => StepResult::Done(evidence),
        GateVerdict::Failed(failure) => StepResult::Failed { message: failure.to_string(), output: None },
    })
}

/// Judges the Velero backup, and restores exactly the backup that passed.
async fn verify_then_restore(
    run: &Run,
    gate: &VeleroBackupGate,
    restore: &TestRestore,
    context: &GateContext,
) -> Result<GateVerdict, ClusterError> {
    let (verdict, backup) = evaluate_velero_backup(run.objects.client(), gate, context).await.map_err(unevaluated)?;
    let (GateVerdict::Passed { evidence }, Some(backup)) = (&verdict, backup) else { return Ok(verdict) };
    Ok(match test_restore(&run.objects, gate, restore, &backup, &run.journal.run_id).await? {
        GateVerdict::Passed { evidence: restored } => {
            GateVerdict::Passed { evidence: format!("{evidence}; {restored}") }
        }
        failed => failed,
    })
}

fn unevaluated(error: GateError) -> ClusterError {
    ClusterError::Unexpected(format!("the backup gate could not be evaluated: {error}"))
}
