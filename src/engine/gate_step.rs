//! The backup-gate step: a Job gate runs its Job; every other gate is evaluated read-only by `gates`, and a
//! Velero gate's test restore then runs (see `restore`).

use super::restore::test_restore;
use super::run::Run;
use super::steps::{run_job_definition, StepResult};
use super::upgrade::Upgrade;
use crate::cluster::ClusterError;
use crate::gates::{evaluate, evaluate_velero_backup, GateContext, GateError, GateVerdict};
use crate::plan::file::{AnalysisLength, AnalysisPolicy, BackupGate, TestRestore, VeleroBackupGate};
use std::time::Duration;

/// How long the upgrade may take from now, which a backup must outlive: warm-up, analysis and rollback.
///
/// The plan file's limits keep this within about 90 days; it saturates all the same, since a panic here
/// would stop a run after its preflight with the journal still `running`.
fn upgrade_window(analysis: &AnalysisPolicy, rollback_timeout: crate::plan::file::Duration) -> Duration {
    let length = match analysis.length() {
        AnalysisLength::Duration(d) => d.to_std(),
        AnalysisLength::Count(count) => analysis.interval.to_std().saturating_mul(count),
    };
    analysis.warm_up.to_std().saturating_add(length).saturating_add(rollback_timeout.to_std())
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
        upgrade_window: upgrade_window(upgrade.loaded.analysis(), upgrade.loaded.plan.spec.rollback.timeout),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::file::Duration as PlanDuration;

    fn plan_duration(text: &str) -> PlanDuration {
        PlanDuration::parse(text).expect("a valid duration")
    }

    #[test]
    fn the_window_adds_warm_up_analysis_and_rollback() {
        let by_count = AnalysisPolicy {
            interval: plan_duration("30s"),
            count: Some(20),
            warm_up: plan_duration("2m"),
            ..AnalysisPolicy::default()
        };
        assert_eq!(upgrade_window(&by_count, plan_duration("10m")), Duration::from_secs(120 + 600 + 600));
        let by_duration = AnalysisPolicy { duration: Some(plan_duration("1h")), ..by_count };
        assert_eq!(upgrade_window(&by_duration, plan_duration("10m")), Duration::from_secs(120 + 3600 + 600));
    }

    #[test]
    fn a_window_too_long_to_hold_saturates_instead_of_panicking() {
        let extreme = PlanDuration::parse("100000000000d").expect("parses, though a plan refuses it");
        let analysis =
            AnalysisPolicy { interval: extreme, count: Some(100_000), warm_up: extreme, ..AnalysisPolicy::default() };
        assert_eq!(upgrade_window(&analysis, extreme), Duration::MAX);
    }
}
