//! The Job controller: one pod at a time from `spec.template` (labelled `job-name`), the counts and start
//! and completion times in status, and a `Complete` or `Failed` condition when it is over.
//!
//! Simplifications: `completions` and `parallelism` are taken as 1; a failed pod is replaced at once
//! (no exponential back-off) until more than `spec.backoffLimit` (default 6) pods have failed, so a Job
//! whose image has `jobFails` fails after backoffLimit + 1 pods (set `backoffLimit: 0` to fail at the
//! first); `restartPolicy: OnFailure` is treated like `Never`.

use super::pods::create_pod;
use super::{
    condition_is_true, controller_uid, is_deleting, jobs_resource, merged_conditions, owner_reference, pod_is_ready,
    pod_is_terminal, pods_resource, uid_of, write_status, Condition, Env,
};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Kubernetes' default `spec.backoffLimit`.
const DEFAULT_BACKOFF_LIMIT: u64 = 6;

/// The pods of one Job by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PodCounts {
    active: u64,
    ready: u64,
    succeeded: u64,
    failed: u64,
}

/// How a Job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Complete,
    Failed,
}

/// Syncs every unfinished Job with its pods.
pub(super) fn sync(env: &mut Env<'_>) {
    let (jobs, _) = env.state.store.list(&jobs_resource(), None);
    let (pods, _) = env.state.store.list(&pods_resource(), None);
    let mut owned: HashMap<&str, Vec<&Arc<Value>>> = HashMap::new();
    for pod in pods.iter().filter(|p| !is_deleting(p)) {
        if let Some(owner) = controller_uid(pod) {
            owned.entry(owner).or_default().push(pod);
        }
    }
    for job in jobs.iter().filter(|j| !is_deleting(j) && !is_finished(j)) {
        let pods = owned.remove(uid_of(job)).unwrap_or_default();
        sync_job(env, job, &pods);
    }
}

fn is_finished(job: &Value) -> bool {
    let conditions = &job["status"]["conditions"];
    condition_is_true(conditions, "Complete") || condition_is_true(conditions, "Failed")
}

fn sync_job(env: &mut Env<'_>, job: &Value, pods: &[&Arc<Value>]) {
    let mut counts = PodCounts::of(pods);
    let backoff_limit = job["spec"]["backoffLimit"].as_u64().unwrap_or(DEFAULT_BACKOFF_LIMIT);
    let outcome = counts.outcome(backoff_limit);
    if outcome.is_none() && counts.active == 0 && start_pod(env, job) {
        counts.active += 1;
    }
    write_status(env, &jobs_resource(), job, job_status(job, counts, outcome, &env.now));
}

/// Creates the Job's next pod; false when it could not be created (tried again next tick).
fn start_pod(env: &mut Env<'_>, job: &Value) -> bool {
    let name = super::name_of(job).to_owned();
    let uid = uid_of(job).to_owned();
    let labels = [
        ("job-name", name.as_str()),
        ("batch.kubernetes.io/job-name", name.as_str()),
        ("controller-uid", uid.as_str()),
        ("batch.kubernetes.io/controller-uid", uid.as_str()),
    ];
    let owner = owner_reference(job, "batch/v1", "Job");
    create_pod(env, &job["spec"]["template"], job, &labels, &owner).is_some()
}

impl PodCounts {
    fn of(pods: &[&Arc<Value>]) -> PodCounts {
        let mut counts = PodCounts::default();
        for pod in pods {
            match pod["status"]["phase"].as_str() {
                Some("Succeeded") => counts.succeeded += 1,
                Some("Failed") => counts.failed += 1,
                _ if !pod_is_terminal(pod) => {
                    counts.active += 1;
                    counts.ready += u64::from(pod_is_ready(pod));
                }
                _ => {}
            }
        }
        counts
    }

    /// One success completes the Job; more failures than the back-off limit fail it.
    fn outcome(self, backoff_limit: u64) -> Option<Outcome> {
        if self.succeeded > 0 {
            Some(Outcome::Complete)
        } else if self.failed > backoff_limit {
            Some(Outcome::Failed)
        } else {
            None
        }
    }
}

/// The status, with the API server's omitempty on the counts (`ready` is always written, as the Job
/// controller does).
fn job_status(job: &Value, counts: PodCounts, outcome: Option<Outcome>, now: &str) -> Value {
    let previous = &job["status"];
    let mut status = Map::new();
    status.insert("startTime".to_owned(), previous.get("startTime").cloned().unwrap_or_else(|| json!(now)));
    let active = if outcome.is_some() { 0 } else { counts.active };
    for (key, value) in [("active", active), ("succeeded", counts.succeeded), ("failed", counts.failed)] {
        if value != 0 {
            status.insert(key.to_owned(), json!(value));
        }
    }
    status.insert("ready".to_owned(), json!(if outcome.is_some() { 0 } else { counts.ready }));
    let finished = match outcome {
        Some(Outcome::Complete) => {
            status.insert("completionTime".to_owned(), json!(now));
            Some(Condition {
                kind: "Complete",
                status: true,
                reason: "CompletionsReached",
                message: "Reached expected number of succeeded pods".to_owned(),
            })
        }
        Some(Outcome::Failed) => Some(Condition {
            kind: "Failed",
            status: true,
            reason: "BackoffLimitExceeded",
            message: "Job has reached the specified backoff limit".to_owned(),
        }),
        None => None,
    };
    if let Some(condition) = finished {
        status.insert("conditions".to_owned(), merged_conditions(&previous["conditions"], &[condition], now, true));
    }
    Value::Object(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_success_completes_and_failures_beyond_the_limit_fail() {
        let counts = |succeeded, failed| PodCounts { active: 0, ready: 0, succeeded, failed };
        assert_eq!(counts(1, 3).outcome(6), Some(Outcome::Complete));
        assert_eq!(counts(0, 6).outcome(6), None);
        assert_eq!(counts(0, 7).outcome(6), Some(Outcome::Failed));
        assert_eq!(counts(0, 1).outcome(0), Some(Outcome::Failed));
    }

    #[test]
    fn a_finished_job_has_its_condition_and_no_active_pods() {
        let job = json!({"status": {"startTime": "2025-01-01T00:00:00Z"}});
        let counts = PodCounts { active: 0, ready: 0, succeeded: 1, failed: 0 };
        let status = job_status(&job, counts, Some(Outcome::Complete), "2025-01-01T00:01:00Z");
        assert_eq!(status["startTime"], "2025-01-01T00:00:00Z");
        assert_eq!(status["completionTime"], "2025-01-01T00:01:00Z");
        assert_eq!(status["succeeded"], 1);
        assert!(status.get("active").is_none());
        assert!(is_finished(&json!({"status": status})));
    }
}
