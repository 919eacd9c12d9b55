//! The plan's Jobs (pre-upgrade, conversion, post-upgrade, and Job gates): created under a name derived from
//! the run, so a resumed run finds its own Job instead of starting a second; waited to `Complete` or
//! `Failed` within their timeout, counted from the Job's own creation so a resumed wait keeps its deadline;
//! the tail of each container's log kept on failure; the Job removed once its outcome is journaled.

use crate::cluster::{ClusterError, ObjectKey, Objects};
use crate::plan::file::{JobDefinition, JobSource, LoadedPlan};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use serde_json::{json, Value};
use std::time::Duration;

/// The label on everything a run creates, valued with the run id.
pub use crate::cluster::journal_store::RUN_LABEL;

/// How a Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// `Complete`.
    Succeeded,
    /// `Failed`, with its condition's message.
    Failed(String),
    /// Neither within the timeout.
    TimedOut(Duration),
}

/// What to do next about a Job, from its observed status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobDecision {
    /// It ended.
    Ended(JobOutcome),
    /// Still running: look again.
    Wait,
}

/// Decides from a Job's status and how long it has existed.
pub fn decide_job(job: &Value, age: Duration, timeout: Duration) -> JobDecision {
    let conditions = job["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let is_true = |kind: &str| conditions.iter().find(|c| c["type"] == kind && c["status"] == "True");
    if is_true("Complete").is_some() {
        return JobDecision::Ended(JobOutcome::Succeeded);
    }
    if let Some(failed) = is_true("Failed") {
        let why = failed["message"].as_str().or(failed["reason"].as_str()).unwrap_or("the Job failed");
        return JobDecision::Ended(JobOutcome::Failed(why.to_owned()));
    }
    if age >= timeout {
        return JobDecision::Ended(JobOutcome::TimedOut(timeout));
    }
    JobDecision::Wait
}

/// The name of a plan Job in a run: `<name>-<run id>`, cut to a DNS label.
pub fn job_name(name: &str, run_id: &str) -> String {
    let suffix = &run_id[..run_id.len().min(8)];
    let mut base = name.to_owned();
    base.truncate(63 - suffix.len() - 1);
    format!("{}-{suffix}", base.trim_end_matches('-'))
}

/// The Job object a plan Job definition creates in this run.
pub fn job_object(plan: &LoadedPlan, definition: &JobDefinition, run_id: &str) -> Result<Value, String> {
    let namespace = definition.namespace.clone().unwrap_or_else(|| plan.operator().namespace.clone());
    let mut job = match definition.source() {
        Some(JobSource::Inline(spec)) => {
            let spec = serde_json::to_value(spec).map_err(|e| format!("Job {}: {e}", definition.name))?;
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {}, "spec": spec})
        }
        Some(JobSource::File(file)) => {
            let path = plan.resolve(file);
            let objects = crate::manifest::load_objects(&path).map_err(|e| format!("Job {}: {e}", definition.name))?;
            let job = objects.into_iter().map(|o| o.value).find(|o| o["kind"] == "Job");
            job.ok_or_else(|| format!("Job {}: {} holds no Job", definition.name, path.display()))?
        }
        None => return Err(format!("Job {} has neither `file` nor `spec`", definition.name)),
    };
    let name = job_name(&definition.name, run_id);
    job["metadata"] = json!({"name": name, "namespace": namespace, "labels": {RUN_LABEL: run_id}});
    Ok(job)
}

/// Runs one Job to its end: creates it (or finds the run's own), waits, and on failure collects the tail
/// of its pods' logs. The Job is deleted afterwards (its outcome is the caller's to journal first).
pub async fn run_to_end(
    objects: &Objects,
    job: &Value,
    timeout: Duration,
) -> Result<(JobOutcome, String), ClusterError> {
    let created = objects.create_or_get(job).await?;
    let key = ObjectKey::of(&created);
    if objects.is_dry_run() {
        return Ok((JobOutcome::Succeeded, "dry run: the Job was accepted".to_owned()));
    }
    loop {
        let Some(live) = objects.get(&key).await? else {
            return Ok((JobOutcome::Failed("the Job was deleted while it ran".to_owned()), String::new()));
        };
        match decide_job(&live, age_of(&live), timeout) {
            JobDecision::Wait => tokio::time::sleep(Duration::from_millis(500)).await,
            JobDecision::Ended(outcome) => {
                let logs = match outcome {
                    JobOutcome::Succeeded => String::new(),
                    _ => log_tails(objects.client(), &key).await,
                };
                return Ok((outcome, logs));
            }
        }
    }
}

fn age_of(object: &Value) -> Duration {
    object["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|created| jiff::Timestamp::now().duration_since(created))
        .and_then(|age| Duration::try_from(age).ok())
        .unwrap_or_default()
}

/// The last 50 lines of every container of the Job's pods, or why they could not be read.
async fn log_tails(client: &kube::Client, job: &ObjectKey) -> String {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &job.namespace);
    let params = ListParams::default().labels(&format!("job-name={}", job.name));
    let list = match pods.list(&params).await {
        Ok(list) => list,
        Err(e) => return format!("(the Job's pods cannot be listed: {e})"),
    };
    let mut out = String::new();
    for pod in list.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let containers = pod.spec.map(|s| s.containers).unwrap_or_default();
        for container in containers {
            let params =
                LogParams { container: Some(container.name.clone()), tail_lines: Some(50), ..LogParams::default() };
            match pods.logs(&name, &params).await {
                Ok(text) => out.push_str(&format!("--- {name}/{}:\n{text}\n", container.name)),
                Err(e) => out.push_str(&format!("--- {name}/{}: (logs unavailable: {e})\n", container.name)),
            }
        }
    }
    out
}

/// Removes every Job the run created (found by the run label, in `namespaces` or everywhere), with their pods.
pub async fn remove_run_jobs(
    objects: &Objects,
    namespaces: Option<&[String]>,
    run_id: &str,
) -> Result<usize, ClusterError> {
    let (resource, _) = objects.resource("batch/v1", "Job").await?;
    let params = ListParams::default().labels(&format!("{RUN_LABEL}={run_id}"));
    let apis: Vec<Api<kube::api::DynamicObject>> = match namespaces {
        Some(namespaces) => {
            namespaces.iter().map(|n| Api::namespaced_with(objects.client().clone(), n, &resource)).collect()
        }
        None => vec![Api::all_with(objects.client().clone(), &resource)],
    };
    let mut removed = 0;
    for api in apis {
        let list = crate::cluster::retry::with_retries(|| api.list(&params))
            .await
            .map_err(|e| ClusterError::api("cannot list the run's Jobs", e))?;
        for job in list.items {
            let key = ObjectKey {
                api_version: "batch/v1".into(),
                kind: "Job".into(),
                namespace: job.metadata.namespace.unwrap_or_default(),
                name: job.metadata.name.unwrap_or_default(),
            };
            objects.delete(&key).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_done_when_complete_or_failed_and_times_out_by_its_age() {
        let timeout = Duration::from_secs(60);
        let running = json!({"status": {"active": 1}});
        assert_eq!(decide_job(&running, Duration::from_secs(5), timeout), JobDecision::Wait);
        assert_eq!(
            decide_job(&running, Duration::from_secs(61), timeout),
            JobDecision::Ended(JobOutcome::TimedOut(timeout))
        );
        let complete = json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(decide_job(&complete, Duration::ZERO, timeout), JobDecision::Ended(JobOutcome::Succeeded));
        let failed = json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}});
        assert_eq!(
            decide_job(&failed, Duration::ZERO, timeout),
            JobDecision::Ended(JobOutcome::Failed("Job has reached the specified backoff limit".into()))
        );
    }

    #[test]
    fn job_names_derive_from_the_run_and_fit_a_dns_label() {
        assert_eq!(job_name("migrate", "0123456789"), "migrate-01234567");
        let long = job_name(&"x".repeat(80), "0123456789");
        assert_eq!(long.len(), 63);
    }
}
