//! `rehearse`: the whole upgrade on a staging cluster, as evidence that `apply` can require. It runs
//! `apply`, then a rollback drill (`rollback`, every recorded object checked against its record, timed), then
//! `apply` again so staging ends on the new release (and `finalize` after the drill when asked), each phase
//! through the same engine as the commands themselves. The evidence it writes is also kept in the staging
//! cluster's journal.
//!
//! The plan's pin works the other way round here: `rehearse` refuses the pinned (production) cluster and
//! runs anywhere else unpinned. A staging cluster an earlier rehearsal left promoted is first reset (its run
//! rolled back, a phase of its own), so the apply phase is a whole apply from the old release every time.

mod evidence;

pub use evidence::{
    check, evidence_json_schema, AnalysisRecord, DrillRecord, Evidence, EvidenceApiVersion, EvidenceError,
    EvidenceKind, Expectation, Phase, PhaseRecord, PhaseVerdict, RehearsalCluster,
};

use super::executor::{apply, finalize, ApplyOptions, RehearsalCheck};
use super::journal::RunState;
use super::rollback::{rollback_of_plan, RollbackReport};
use super::run::{acquire_lease, holder_identity, load_journal, Run};
use super::{now, EngineError, Outcome, OutputMode, Refusal, Reporter, Upgrade, EXIT_NEEDS_ATTENTION};
use crate::cluster::journal_store::JournalStore;
use crate::cluster::operator_lock::OperatorLock;
use crate::cluster::{cluster_identity, Objects};
use std::future::Future;
use std::time::Instant;

/// How `rehearse` runs.
#[derive(Debug, Clone)]
pub struct RehearseOptions {
    /// The options of each `apply` phase (the rehearsal check is its own).
    pub apply: ApplyOptions,
    /// The kubeconfig context named, recorded in the evidence for people.
    pub context: Option<String>,
    /// Stop after the rollback drill: staging stays on the old release.
    pub leave_rolled_back: bool,
}

/// How a rehearsal ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Rehearsal {
    /// Its evidence; None when it refused before it ran anything.
    pub evidence: Option<Evidence>,
    /// The outcome of the rehearsal as a whole.
    pub outcome: Outcome,
}

impl Rehearsal {
    /// The exit code: 0 when every phase passed, else the failed phase's (5 when that one exited 0).
    pub fn exit_code(&self) -> u8 {
        let failed = self.evidence.as_ref().and_then(|e| e.phases.iter().find(|p| p.verdict == PhaseVerdict::Failed));
        match failed {
            Some(phase) if phase.exit_code != 0 => phase.exit_code,
            Some(_) => EXIT_NEEDS_ATTENTION,
            None => self.outcome.exit_code(),
        }
    }
}

/// What `apply` of `upgrade` on the cluster `target_uid` refuses for the rehearsal: nothing when the plan
/// requires none and no evidence was given; otherwise every condition the evidence fails.
pub fn refusals_for_apply(upgrade: &Upgrade, evidence: Option<&Evidence>, target_uid: &str) -> Vec<Refusal> {
    if evidence.is_none() && !upgrade.loaded.rehearsal_required() {
        return Vec::new();
    }
    let expected = Expectation {
        plan_file: &upgrade.loaded.file,
        plan_hash: &upgrade.hash,
        target_uid,
        max_age: upgrade.loaded.plan.spec.rehearsal.max_age,
    };
    check(evidence, &expected, jiff::Timestamp::now())
}

/// Rehearses `upgrade` on the cluster `client` reaches: refuses when it is the plan's pinned cluster, else
/// runs every phase, stopping at the first that fails, and keeps the evidence in the cluster's journal.
pub async fn rehearse(
    client: kube::Client,
    upgrade: Upgrade,
    options: &RehearseOptions,
) -> Result<Rehearsal, EngineError> {
    let identity = cluster_identity(&client).await?;
    if upgrade.loaded.pinned_cluster_uid() == Some(identity.as_str()) {
        let outcome = Outcome::refused(Refusal::RehearseOnPinnedCluster { uid: identity });
        return Ok(Rehearsal { evidence: None, outcome });
    }
    let earlier = super::journal_of(&client, &upgrade).await?;
    let reset = match start_from(earlier.as_ref().map(|j| (j.state, j.run_id.as_str()))) {
        Ok(reset) => reset,
        Err(refusal) => return Ok(Rehearsal { evidence: None, outcome: Outcome::refused(refusal) }),
    };
    let phases = planned_phases(options, reset);
    let names: Vec<&str> = phases.iter().map(|p| p.as_str()).collect();
    let summary = format!("About to rehearse plan {} on cluster {identity}: {}.\n", upgrade.name(), names.join(", "));
    if !super::report::ask_to_proceed(options.apply.yes, &summary)? {
        return Ok(Rehearsal { evidence: None, outcome: Outcome::refused(Refusal::NotConfirmed) });
    }
    let upgrade = upgrade.unpinned();
    let mut evidence = Evidence {
        api_version: EvidenceApiVersion::V1Alpha1,
        kind: EvidenceKind::RehearsalEvidence,
        plan: upgrade.name().to_owned(),
        plan_hash: upgrade.hash.clone(),
        cluster: RehearsalCluster { kube_system_uid: identity, context: options.context.clone() },
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        started: now(),
        ended: String::new(),
        phases: Vec::new(),
        drill: None,
    };
    let reporter = Reporter::new(options.apply.output);
    // `finalize` is a phase of its own after the drill: an apply phase that finalized would leave nothing to drill.
    let apply_options =
        ApplyOptions { yes: true, finalize: false, rehearsal: RehearsalCheck::Rehearsing, ..options.apply.clone() };
    for (index, phase) in phases.iter().copied().enumerate() {
        reporter.info(&format!("== rehearsal phase {}/{}: {phase}", index + 1, phases.len()));
        let record = match phase {
            Phase::Apply | Phase::Reapply => {
                let (mut record, _) =
                    timed(phase, apply(client.clone(), &upgrade, &apply_options), |o| matches!(o, Outcome::Done(_)))
                        .await;
                record.analysis = analysis_of(&client, &upgrade).await;
                record
            }
            Phase::Reset => {
                let reset = rollback_of_plan(client.clone(), &upgrade, apply_options.output);
                timed(phase, reset, |(o, _)| matches!(o, Outcome::Done(_))).await.0
            }
            Phase::RollbackDrill => {
                let drill = rollback_of_plan(client.clone(), &upgrade, apply_options.output);
                let (record, result) =
                    timed(phase, drill, |(o, report)| matches!(o, Outcome::Done(_)) && report.is_some()).await;
                evidence.drill = result.and_then(|(_, report)| report).map(|r| drill_record(&r, record.seconds));
                record
            }
            Phase::Finalize => {
                timed(phase, finalize(client.clone(), &upgrade, &apply_options), |o| matches!(o, Outcome::Done(_)))
                    .await
                    .0
            }
        };
        reporter.info(&format!("rehearsal phase {phase}: {}", record.outcome));
        let passed = record.verdict == PhaseVerdict::Passed;
        evidence.phases.push(record);
        if !passed {
            break;
        }
    }
    evidence.ended = now();
    // The evidence file is the record that matters: a journal that cannot take it is a warning, not a loss.
    if let Err(error) = keep_in_journal(&client, &upgrade, &evidence, options.apply.output).await {
        tracing::warn!(%error, "the rehearsal evidence could not be kept in the journal");
        reporter.info(&format!("warning: the rehearsal evidence could not be kept in the journal: {error}"));
    }
    let outcome = match evidence.failed_phase() {
        None => Outcome::Done(format!(
            "plan {} rehearsed on cluster {}: every phase passed",
            upgrade.name(),
            evidence.cluster.kube_system_uid
        )),
        Some((phase, why)) => Outcome::NeedsAttention(format!("the rehearsal's {phase} phase did not pass: {why}")),
    };
    Ok(Rehearsal { evidence: Some(evidence), outcome })
}

/// Whether a rehearsal on a cluster where this plan's run is `earlier` (its state and id) starts with a reset:
/// yes when that run is promoted (the apply phase would find nothing to do), refused when it is finalized
/// (it cannot be rolled back); any other run is resumed or replaced by the apply phase itself.
pub fn start_from(earlier: Option<(RunState, &str)>) -> Result<bool, Refusal> {
    match earlier {
        Some((RunState::Finalized, run_id)) => Err(Refusal::RehearseOnFinalizedRun { run_id: run_id.to_owned() }),
        Some((RunState::Promoted, _)) => Ok(true),
        _ => Ok(false),
    }
}

/// The phases a rehearsal with these options runs, in order, after a reset when `reset`.
pub fn planned_phases(options: &RehearseOptions, reset: bool) -> Vec<Phase> {
    let mut phases = if reset { vec![Phase::Reset] } else { Vec::new() };
    phases.extend([Phase::Apply, Phase::RollbackDrill]);
    if !options.leave_rolled_back {
        phases.push(Phase::Reapply);
        if options.apply.finalize {
            phases.push(Phase::Finalize);
        }
    }
    phases
}

/// Something a phase returns: the command's outcome, with or without more.
trait PhaseResult {
    fn outcome(&self) -> &Outcome;
}

impl PhaseResult for Outcome {
    fn outcome(&self) -> &Outcome {
        self
    }
}

impl PhaseResult for (Outcome, Option<RollbackReport>) {
    fn outcome(&self) -> &Outcome {
        &self.0
    }
}

/// Runs one phase's command, timed, and records it with the verdict `passed` gives. A command that stops
/// with an error (the cluster unreachable past the retries) is a failed phase, so the evidence of the
/// phases before is still written.
async fn timed<T: PhaseResult>(
    phase: Phase,
    command: impl Future<Output = Result<T, EngineError>>,
    passed: impl Fn(&T) -> bool,
) -> (PhaseRecord, Option<T>) {
    let started = now();
    let clock = Instant::now();
    let result = command.await;
    let (verdict, outcome, exit_code) = match &result {
        Ok(result) => {
            let verdict = if passed(result) { PhaseVerdict::Passed } else { PhaseVerdict::Failed };
            (verdict, result.outcome().to_string(), result.outcome().exit_code())
        }
        Err(error) => (PhaseVerdict::Failed, format!("error: {error}"), EXIT_NEEDS_ATTENTION),
    };
    let record = PhaseRecord {
        phase,
        started,
        ended: now(),
        seconds: round_ms(clock.elapsed().as_secs_f64()),
        verdict,
        outcome,
        exit_code,
        analysis: None,
    };
    (record, result.ok())
}

fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

fn drill_record(report: &RollbackReport, seconds: f64) -> DrillRecord {
    DrillRecord {
        restored: report.restored,
        removed: report.removed,
        checked: report.checked,
        kept: report.kept.clone(),
        differences: report.differences.clone(),
        unhealthy: report.unhealthy.clone(),
        seconds,
    }
}

/// The analysis of the plan's run, as its journal keeps it (None when it has none or cannot be read).
async fn analysis_of(client: &kube::Client, upgrade: &Upgrade) -> Option<AnalysisRecord> {
    let journal = match super::journal_of(client, upgrade).await {
        Ok(journal) => journal?,
        Err(error) => {
            tracing::warn!(%error, "the analysis of the phase could not be read from the journal");
            return None;
        }
    };
    let intervals = crate::engine::canary::analysis_intervals(&journal).to_vec();
    let decision = crate::engine::canary::analysis_decision(&journal).cloned();
    (!intervals.is_empty() || decision.is_some()).then_some(AnalysisRecord { intervals, decision })
}

/// Writes the evidence into the plan's journal in the staging cluster, under the run's Lease.
async fn keep_in_journal(
    client: &kube::Client,
    upgrade: &Upgrade,
    evidence: &Evidence,
    output: OutputMode,
) -> Result<(), EngineError> {
    let store = JournalStore::new(client.clone(), upgrade.namespace(), upgrade.name());
    let Some((mut journal, version)) = load_journal(&store).await? else { return Ok(()) };
    let holder = holder_identity(&journal.run_id);
    let lock = OperatorLock::new(client.clone(), upgrade.namespace(), upgrade.deployment());
    let held = match acquire_lease(&lock, &holder, upgrade.name()).await? {
        Ok(held) => held,
        Err(outcome) => return Err(EngineError::BadInput(outcome.to_string())),
    };
    journal.rehearsal = Some(Box::new(evidence.clone()));
    let objects = Objects::new(client.clone(), false);
    let mut run = Run::new(objects, store, journal, Some(version), Reporter::new(output), held);
    let saved = run.save().await;
    run.release().await;
    Ok(saved?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_phase_stopped_by_an_error_is_a_failed_phase_needing_attention() {
        let error = EngineError::Journal { name: "run-demo".into(), message: "connection refused".into() };
        let (record, result) = timed(Phase::RollbackDrill, async { Err::<Outcome, _>(error) }, |_| true).await;
        assert!(result.is_none());
        assert_eq!(record.verdict, PhaseVerdict::Failed);
        assert_eq!(record.exit_code, EXIT_NEEDS_ATTENTION);
        assert_eq!(record.outcome, "error: the journal run-demo cannot be read: connection refused");
        assert!(!record.ended.is_empty() && record.seconds >= 0.0);
    }

    #[tokio::test]
    async fn a_phase_passes_only_when_its_outcome_does() {
        let done = || async { Ok(Outcome::Done("promoted".into())) };
        let (passed, _) = timed(Phase::Apply, done(), |o| matches!(o, Outcome::Done(_))).await;
        assert_eq!(
            (passed.verdict, passed.exit_code, passed.outcome.as_str()),
            (PhaseVerdict::Passed, 0, "done: promoted")
        );
        let (failed, _) = timed(Phase::Apply, done(), |_| false).await;
        assert_eq!(failed.verdict, PhaseVerdict::Failed);
    }

    #[test]
    fn a_promoted_staging_is_reset_first_and_a_finalized_one_refused() {
        assert_eq!(start_from(None), Ok(false));
        assert_eq!(start_from(Some((RunState::Promoted, "r1"))), Ok(true));
        let refused = start_from(Some((RunState::Finalized, "r1"))).unwrap_err();
        assert_eq!(refused, Refusal::RehearseOnFinalizedRun { run_id: "r1".into() });
        for state in [RunState::Running, RunState::Paused, RunState::RolledBack, RunState::Failed] {
            assert_eq!(start_from(Some((state, "r1"))), Ok(false), "{state:?}: the apply phase resumes or replaces it");
        }
    }
}
