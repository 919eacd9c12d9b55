//! Executing one plan step against the cluster: each observes, decides from what it observed, and acts
//! with idempotent writes, so running a step again after a crash reaches the same end.

use super::desired::{expand_crd, promotion_objects, promotion_removals, rbac_expanded};
use super::gate_step;
use super::jobs::{job_object, run_to_end, JobOutcome};
use super::journal::{tail, MAX_OUTPUT_BYTES};
use super::run::Run;
use super::upgrade::Upgrade;
use crate::cluster::objects::{desired_state, ApplyError};
use crate::cluster::{ClusterError, ObjectKey, Objects};
use crate::plan::file::JobPhase;
use crate::plan::steps::{Step, StepKind, StepSubject};
use serde_json::Value;
use std::time::{Duration, Instant};

/// What came of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepResult {
    /// It reached its goal.
    Done(String),
    /// It did not; the run cannot go on as planned.
    Failed {
        /// Why, in one line.
        message: String,
        /// Output worth keeping (a Job's log tail), bounded.
        output: Option<String>,
    },
    /// It stopped for a person to decide (an inconclusive analysis): `apply --promote` or `rollback`.
    Paused(String),
}

impl StepResult {
    /// A failure without output.
    pub(crate) fn failed(message: impl Into<String>) -> StepResult {
        StepResult::Failed { message: message.into(), output: None }
    }
}

/// Executes one step of the plan.
pub async fn execute(run: &mut Run, upgrade: &Upgrade, step: &Step) -> Result<StepResult, ClusterError> {
    match (&step.kind, &step.subject) {
        (StepKind::Preflight, _) => Ok(StepResult::Done(format!(
            "cluster {}, {} objects recorded before the first change",
            run.journal.cluster_uid,
            run.journal.recorded.len()
        ))),
        (StepKind::BackupGate, StepSubject::BackupGate { index }) => gate_step::run(run, upgrade, *index).await,
        (_, StepSubject::Job { phase, name, .. }) => run_plan_job(run, upgrade, *phase, name).await,
        (StepKind::CrdExpand, StepSubject::Crds { names }) => expand_crds(run, upgrade, names).await,
        (StepKind::RbacExpand, _) => {
            apply_all(run, upgrade, &rbac_expanded(&upgrade.old, &upgrade.new), "RBAC objects").await
        }
        (StepKind::CanaryRollout, _) => super::canary::roll_out(run, upgrade).await,
        (StepKind::Promotion, _) if run.journal.canary.is_some() => super::canary::promote(run, upgrade).await,
        (StepKind::Promotion, _) => {
            super::canary::record_fleet_start(run, upgrade).await?;
            promote_release(run, upgrade).await
        }
        (StepKind::Analysis, _) => Ok(match super::canary::analyse(run, upgrade).await? {
            super::canary::AnalysisEnd::Passed(message) => StepResult::Done(message),
            super::canary::AnalysisEnd::Failed(message) => StepResult::failed(message),
            super::canary::AnalysisEnd::Paused(message) => StepResult::Paused(message),
        }),
        (StepKind::CrdContract, StepSubject::Crds { names }) => {
            super::migrate::contract_crds(run, upgrade, names).await
        }
        (StepKind::RbacContract, _) => super::migrate::contract_rbac(run, upgrade).await,
        (kind, subject) => {
            Ok(StepResult::failed(format!("a {kind} step on {subject:?} is not one the engine executes")))
        }
    }
}

/// Runs a plan Job (by phase and name) to its end, keeping the tail of its logs when it fails.
async fn run_plan_job(
    run: &mut Run,
    upgrade: &Upgrade,
    phase: JobPhase,
    name: &str,
) -> Result<StepResult, ClusterError> {
    let Some(definition) = upgrade.loaded.jobs(phase).iter().find(|j| j.name == name) else {
        return Ok(StepResult::failed(format!("the plan has no {} Job {name}", phase.key())));
    };
    run_job_definition(&run.objects, upgrade, definition, &run.journal.run_id).await
}

/// Runs one Job definition to its end and removes it.
pub async fn run_job_definition(
    objects: &Objects,
    upgrade: &Upgrade,
    definition: &crate::plan::file::JobDefinition,
    run_id: &str,
) -> Result<StepResult, ClusterError> {
    let job = match job_object(&upgrade.loaded, definition, run_id) {
        Ok(job) => job,
        Err(message) => return Ok(StepResult::failed(message)),
    };
    let key = ObjectKey::of(&job);
    let (outcome, logs) = run_to_end(objects, &job, definition.timeout.to_std()).await?;
    objects.delete(&key).await?;
    Ok(match outcome {
        JobOutcome::Succeeded => StepResult::Done(format!("Job {} completed", key.name)),
        JobOutcome::Failed(why) => StepResult::Failed {
            message: format!("Job {} failed: {why}", key.name),
            output: Some(tail(&logs, MAX_OUTPUT_BYTES)),
        },
        JobOutcome::TimedOut(timeout) => StepResult::Failed {
            message: format!("Job {} did not finish within {}s", key.name, timeout.as_secs()),
            output: Some(tail(&logs, MAX_OUTPUT_BYTES)),
        },
    })
}

/// Server-side applies `object`; a conflict with a manager the plan lets the run take fields over from is
/// forced, any other conflict is reported and stops the step.
pub async fn apply_owned(
    objects: &Objects,
    upgrade: &Upgrade,
    object: &Value,
) -> Result<Result<Value, String>, ClusterError> {
    match objects.apply(object, false).await {
        Ok(applied) => Ok(Ok(applied)),
        Err(ApplyError::Conflict { managers, message }) => {
            let allowed = &upgrade.loaded.plan.spec.take_ownership_from;
            // The tool's own replaces (a rollback's, an earlier run's) are recorded as Updates of its manager.
            // Through Helm, the run takes Helm's fields for the run and gives them back by `helm upgrade`.
            let helms = |m: &String| upgrade.helm.is_some() && m.starts_with("helm");
            let foreign: Vec<&String> = managers
                .iter()
                .filter(|m| !allowed.contains(m) && m.as_str() != crate::cluster::FIELD_MANAGER && !helms(m))
                .collect();
            if !foreign.is_empty() || managers.is_empty() {
                return Ok(Err(format!(
                    "{}: {message} (add the manager to spec.takeOwnershipFrom if the run may take these fields over)",
                    ObjectKey::of(object)
                )));
            }
            match objects.apply(object, true).await {
                Ok(applied) => Ok(Ok(applied)),
                Err(ApplyError::Conflict { message, .. }) => Ok(Err(message)),
                Err(ApplyError::Other(e)) => Err(e),
            }
        }
        Err(ApplyError::Other(e)) => Err(e),
    }
}

async fn apply_all(run: &Run, upgrade: &Upgrade, objects: &[Value], what: &str) -> Result<StepResult, ClusterError> {
    for object in objects {
        if let Err(conflict) = apply_owned(&run.objects, upgrade, object).await? {
            return Ok(StepResult::failed(conflict));
        }
    }
    Ok(StepResult::Done(format!("{} {what} applied", objects.len())))
}

/// Applies the expanded CRDs (from the live ones, which are what the cluster really serves) and waits
/// until each is Established with its names accepted.
async fn expand_crds(run: &mut Run, upgrade: &Upgrade, names: &[String]) -> Result<StepResult, ClusterError> {
    for name in names {
        let Some(new) = upgrade.new.crds.get(name) else { continue };
        let live = run.objects.get(&ObjectKey::crd(name)).await?.map(|l| desired_state(&l));
        let expanded = expand_crd(live.as_ref().or(upgrade.old.crds.get(name)), new);
        if let Err(conflict) = apply_owned(&run.objects, upgrade, &expanded).await? {
            return Ok(StepResult::failed(conflict));
        }
    }
    for name in names {
        if let Err(why) = wait_crd_ready(&run.objects, name, Duration::from_secs(60)).await? {
            return Ok(StepResult::failed(why));
        }
    }
    run.objects.forget_kinds();
    Ok(StepResult::Done(format!("{} CRDs serve both releases", names.len())))
}

/// Waits until a CRD is Established and NamesAccepted; Err with the condition's message on timeout.
pub async fn wait_crd_ready(
    objects: &Objects,
    name: &str,
    timeout: Duration,
) -> Result<Result<(), String>, ClusterError> {
    if objects.is_dry_run() {
        return Ok(Ok(()));
    }
    let started = Instant::now();
    loop {
        let crd = objects.get(&ObjectKey::crd(name)).await?.unwrap_or_default();
        let conditions = crd["status"]["conditions"].as_array().cloned().unwrap_or_default();
        let holds = |kind: &str| conditions.iter().any(|c| c["type"] == kind && c["status"] == "True");
        if holds("Established") && holds("NamesAccepted") {
            return Ok(Ok(()));
        }
        if started.elapsed() > timeout {
            let why: Vec<String> = conditions.iter().filter_map(|c| c["message"].as_str().map(str::to_owned)).collect();
            return Ok(Err(format!("CRD {name} not Established within {}s: {}", timeout.as_secs(), why.join("; "))));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Applies the new release's operator objects, removes what only the old release shipped, and waits for
/// every Deployment's rollout.
pub(crate) async fn promote_release(run: &mut Run, upgrade: &Upgrade) -> Result<StepResult, ClusterError> {
    if let Some(helm) = &upgrade.helm {
        return super::helm_run::promote(run, upgrade, helm).await;
    }
    let applied = promotion_objects(&upgrade.new);
    for object in &applied {
        if let Err(conflict) = apply_owned(&run.objects, upgrade, object).await? {
            return Ok(StepResult::failed(conflict));
        }
    }
    let removed = promotion_removals(&upgrade.old, &upgrade.new);
    for key in &removed {
        run.objects.delete(key).await?;
    }
    let timeout = upgrade.loaded.plan.spec.rollback.timeout.to_std();
    for deployment in applied.iter().filter(|o| o["kind"] == "Deployment") {
        if let Err(why) = wait_settled(&run.objects, deployment, timeout).await? {
            return Ok(StepResult::failed(why));
        }
    }
    Ok(StepResult::Done(format!("{} objects applied, {} removed, rollouts complete", applied.len(), removed.len())))
}

/// Whether a Deployment's rollout is complete: the controller saw the spec, every replica is updated and
/// available, and no old replica is left.
pub fn rollout_complete(deployment: &Value) -> bool {
    let spec_replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    let status = &deployment["status"];
    let count = |field: &str| status[field].as_i64().unwrap_or(0);
    status["observedGeneration"].as_i64().unwrap_or(0) >= deployment["metadata"]["generation"].as_i64().unwrap_or(1)
        && count("updatedReplicas") == spec_replicas
        && count("availableReplicas") == spec_replicas
        && count("replicas") == spec_replicas
}

/// Waits for a Deployment's rollout; Err naming what is missing on timeout.
pub async fn wait_rollout(
    objects: &Objects,
    key: &ObjectKey,
    timeout: Duration,
) -> Result<Result<(), String>, ClusterError> {
    if objects.is_dry_run() {
        return Ok(Ok(()));
    }
    let started = Instant::now();
    loop {
        let Some(deployment) = objects.get(key).await? else {
            return Ok(Err(format!("{key} does not exist")));
        };
        if rollout_complete(&deployment) {
            return Ok(Ok(()));
        }
        if started.elapsed() > timeout {
            let status = &deployment["status"];
            return Ok(Err(format!(
                "{key} did not roll out within {}s: {} updated, {} available of {}",
                timeout.as_secs(),
                status["updatedReplicas"].as_i64().unwrap_or(0),
                status["availableReplicas"].as_i64().unwrap_or(0),
                deployment["spec"]["replicas"].as_i64().unwrap_or(1)
            )));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until a Deployment's rollout is complete and none of its old pods is left, terminating ones
/// included: `status.replicas` does not count a terminating pod, but a terminating operator still holds its
/// lease and reconciles until it is gone.
pub async fn wait_settled(
    objects: &Objects,
    deployment: &Value,
    timeout: Duration,
) -> Result<Result<(), String>, ClusterError> {
    let key = ObjectKey::of(deployment);
    if let Err(why) = wait_rollout(objects, &key, timeout).await? {
        return Ok(Err(why));
    }
    let replicas = deployment["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
    super::canary::wait_pod_count(objects, &key.namespace, &match_labels(deployment), replicas, timeout).await
}

/// The `k=v,...` selector of a Deployment's `matchLabels`.
fn match_labels(deployment: &Value) -> String {
    deployment["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|labels| {
            labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(",")
        })
        .unwrap_or_default()
}

/// The selector (`k=v,...`) of the operator Deployment's pods, from the release's Deployment.
pub fn operator_selector(upgrade: &Upgrade) -> String {
    let target = upgrade.loaded.operator();
    upgrade
        .new
        .objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == target.deployment.as_str())
        .map(match_labels)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rollout_is_complete_only_with_every_replica_updated_available_and_no_old_one_left() {
        let done = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 2, "replicas": 2}});
        assert!(rollout_complete(&done));
        let mut stale = done.clone();
        stale["status"]["observedGeneration"] = json!(1);
        assert!(!rollout_complete(&stale));
        let mut surging = done.clone();
        surging["status"]["replicas"] = json!(3);
        assert!(!rollout_complete(&surging));
        let mut unavailable = done;
        unavailable["status"]["availableReplicas"] = json!(1);
        assert!(!rollout_complete(&unavailable));
    }
}
