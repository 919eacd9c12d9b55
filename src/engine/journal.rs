//! The journal of a run: what the run is (plan, hash, cluster, tool version), the state it is in, each
//! step's state and times, what was accepted, and the pre-upgrade state of everything the run changes, as
//! it was live before the first write. Stored in the cluster by `cluster::journal_store`; every change to it
//! here is a pure function, so resume and rollback decide from it without a cluster.

use crate::canary::cohort::Cohort;
pub use crate::canary::cohort::CohortMember;
use crate::canary::judge::{Decision, IntervalResult};
use crate::canary::measure::OwnerGeneration;
use crate::canary::scoping::Marker;
use crate::cluster::ObjectKey;
use crate::plan::steps::StepKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    /// Steps are being executed (or the tool died while executing them: see the Lease).
    Running,
    /// Stopped for a person to decide; `apply` resumes, `rollback` ends it.
    Paused,
    /// The new operator runs everywhere; `finalize` or `rollback` next.
    Promoted,
    /// The point of no return was passed: storage migrated, old versions gone.
    Finalized,
    /// Everything the run changed was restored.
    RolledBack,
    /// A step or a rollback failed: the cluster needs attention.
    Failed,
}

impl RunState {
    /// Whether the run is over and a new plan may start.
    pub fn is_closed(self) -> bool {
        matches!(self, RunState::Finalized | RunState::RolledBack)
    }

    /// The kebab-case name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Promoted => "promoted",
            RunState::Finalized => "finalized",
            RunState::RolledBack => "rolled-back",
            RunState::Failed => "failed",
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    /// Not started.
    Pending,
    /// Started, not finished: resuming runs it again (every act is idempotent).
    Running,
    /// Finished.
    Done,
    /// Finished without reaching its goal.
    Failed,
    /// Undone by a rollback.
    Undone,
}

impl StepState {
    /// The kebab-case name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::Undone => "undone",
        }
    }
}

/// One step of the run, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    /// What kind of step.
    pub kind: StepKind,
    /// The plan's title of the step.
    pub title: String,
    /// Where it is.
    pub state: StepState,
    /// When it started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// What came of it, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Output kept for later (the tail of a failed Job's logs, a command's output), bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// The state of one object before the run changed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedObject {
    /// Which object.
    pub key: ObjectKey,
    /// The step that changes it (undone in reverse step order).
    pub step: StepKind,
    /// The object as it was live (without what the server maintains), or None when it did not exist.
    pub before: Option<Value>,
}

/// The latest health measurement, for `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthRecord {
    /// When it was taken.
    pub at: String,
    /// The verdict and its reasons, in one line.
    pub summary: String,
}

/// Everything the cluster keeps about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Journal {
    /// The run's identity: the plan hash's first 10 hex digits (Job names derive from it).
    pub run_id: String,
    /// The plan's name.
    pub plan: String,
    /// SHA-256 of the plan file and every release file it names.
    pub plan_hash: String,
    /// The UID of `kube-system`.
    pub cluster_uid: String,
    /// The version of the tool that started the run.
    pub tool_version: String,
    /// The operator's namespace and Deployment.
    pub operator: String,
    /// When the run started.
    pub started: String,
    /// When the journal was last written.
    pub updated: String,
    /// Where the run is.
    pub state: RunState,
    /// The findings accepted with `--accept`, as given.
    #[serde(default)]
    pub accepted: Vec<String>,
    /// Every step of the plan, in order.
    pub steps: Vec<StepRecord>,
    /// The pre-upgrade state of everything the run changes.
    #[serde(default)]
    pub recorded: Vec<RecordedObject>,
    /// The objects that were not healthy before the run changed anything (not counted against it).
    #[serde(default)]
    pub baseline_not_ready: Vec<String>,
    /// The latest health measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthRecord>,
    /// What the last rollback reported (objects kept, differences found).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The plan's `spec.rollback.timeout`: how long a rollback waits for the objects to be healthy again
    /// (`rollback` runs without the plan file, so the journal carries it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_timeout: Option<crate::plan::file::Duration>,
    /// The condition that means healthy (the plan's `conditions` signal), for `rollback`, which runs
    /// without the plan; absent: `Ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_type: Option<String>,
    /// The canary's cohorts, Deployments and measurements, once the canary rollout has drawn them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryRecord>,
    /// The evidence of the rehearsal this run was part of (kept in the staging cluster's journal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<Box<super::rehearsal::Evidence>>,
}

/// Everything a canary changed or measured, recorded before its first write so a resumed run keeps its
/// cohorts and `rollback` can undo it from the journal alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryRecord {
    /// How cohort objects are marked (label or annotation) and the key; None when scoping is by namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<(Marker, String)>,
    /// Every object the canary marks or measures, with its cohort and the marker's prior value.
    pub members: Vec<CohortMember>,
    /// The namespaces each copy watches (namespace scoping): canary, baseline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<(Cohort, Vec<String>)>,
    /// The stable Deployment, rescoped while the canary runs.
    pub stable: ObjectKey,
    /// The canary's and baseline's Deployments (created by the run, removed at its end).
    pub copies: Vec<(Cohort, ObjectKey)>,
    /// When the canary and baseline Deployments were started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// Each cohort object's dependents' fingerprint before the canary started.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependents: BTreeMap<String, u64>,
    /// The cohort objects' generations as their dependents were fingerprinted (what explains a change).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub owner_generations: BTreeMap<String, OwnerGeneration>,
    /// How long cohort objects had no operator at the handovers, in seconds, with which handover.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unowned: Vec<(String, f64)>,
    /// The analysis's intervals so far (the newest [`MAX_INTERVALS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<IntervalResult>,
    /// How the analysis ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

/// How many intervals the journal keeps (the newest).
pub const MAX_INTERVALS: usize = 60;

/// Output kept in the journal is cut to its last this many bytes.
pub const MAX_OUTPUT_BYTES: usize = 8 * 1024;

/// The last `max` bytes of `text`, cut at a character boundary, marked when cut.
pub fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("[... {start} bytes cut ...]\n{}", &text[start..])
}

impl Journal {
    /// The step at `index`.
    pub fn step(&self, index: usize) -> &StepRecord {
        &self.steps[index]
    }

    /// Marks a step started now.
    pub fn start_step(&mut self, index: usize, now: &str) {
        let step = &mut self.steps[index];
        step.state = StepState::Running;
        step.started.get_or_insert_with(|| now.to_owned());
        step.ended = None;
    }

    /// Marks a step finished now, with what came of it.
    pub fn end_step(&mut self, index: usize, state: StepState, message: impl Into<String>, now: &str) {
        let step = &mut self.steps[index];
        step.state = state;
        step.ended = Some(now.to_owned());
        step.message = Some(message.into());
    }

    /// The first step not yet done, where a resumed run carries on.
    pub fn next_step(&self, from: usize, to: usize) -> Option<usize> {
        (from..to).find(|&i| self.steps[i].state != StepState::Done)
    }

    /// The recorded state of one object.
    pub fn recorded(&self, key: &ObjectKey) -> Option<&RecordedObject> {
        self.recorded.iter().find(|r| &r.key == key)
    }

    /// Records an object's state before the run changes it, unless it is recorded already (the first
    /// record is the pre-upgrade state).
    pub fn record(&mut self, key: ObjectKey, step: StepKind, before: Option<Value>) {
        if self.recorded(&key).is_none() {
            self.recorded.push(RecordedObject { key, step, before });
        }
    }

    /// The steps a rollback undoes, last first: every started one.
    pub fn steps_to_undo(&self) -> Vec<usize> {
        (0..self.steps.len())
            .rev()
            .filter(|&i| matches!(self.steps[i].state, StepState::Done | StepState::Running | StepState::Failed))
            .collect()
    }
}

/// What a new `apply` does about the journal it finds for its plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartDecision {
    /// No run of this plan is open: start a new one.
    Start,
    /// A run of this same plan (same hash) is running, paused or failed: carry on where it stopped.
    Resume,
    /// This plan was promoted: nothing to do but `finalize` or `rollback`.
    AlreadyPromoted,
    /// A run of a different version of the plan is open: refuse.
    Refuse(super::Refusal),
}

/// Decides from the journal found whether `apply` of a plan with `plan_hash` starts, resumes or refuses.
pub fn decide_start(found: Option<&Journal>, plan_hash: &str) -> StartDecision {
    let Some(journal) = found else { return StartDecision::Start };
    if journal.state.is_closed() {
        return StartDecision::Start;
    }
    let same = journal.plan_hash == plan_hash;
    match (journal.state, same) {
        (RunState::Promoted, true) => StartDecision::AlreadyPromoted,
        (RunState::Running | RunState::Paused | RunState::Failed, true) => StartDecision::Resume,
        (state, _) => StartDecision::Refuse(super::Refusal::OtherRunOpen {
            run_id: journal.run_id.clone(),
            plan: journal.plan.clone(),
            state: state.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(state: RunState, hash: &str) -> Journal {
        Journal {
            run_id: "r".into(),
            plan: "p".into(),
            plan_hash: hash.into(),
            cluster_uid: "u".into(),
            tool_version: "0".into(),
            operator: "ns/op".into(),
            started: "t".into(),
            updated: "t".into(),
            state,
            accepted: vec![],
            steps: vec![],
            recorded: vec![],
            baseline_not_ready: vec![],
            health: None,
            notes: vec![],
            rollback_timeout: None,
            condition_type: None,
            canary: None,
            rehearsal: None,
        }
    }

    #[test]
    fn the_same_plan_resumes_another_is_refused_while_open() {
        assert_eq!(decide_start(None, "a"), StartDecision::Start);
        for state in [RunState::Running, RunState::Paused, RunState::Failed] {
            assert_eq!(decide_start(Some(&journal(state, "a")), "a"), StartDecision::Resume);
            assert!(matches!(decide_start(Some(&journal(state, "a")), "b"), StartDecision::Refuse(_)));
        }
        assert_eq!(decide_start(Some(&journal(RunState::Promoted, "a")), "a"), StartDecision::AlreadyPromoted);
        assert!(matches!(decide_start(Some(&journal(RunState::Promoted, "a")), "b"), StartDecision::Refuse(_)));
        for state in [RunState::Finalized, RunState::RolledBack] {
            assert_eq!(decide_start(Some(&journal(state, "a")), "b"), StartDecision::Start);
        }
    }

    #[test]
    fn the_first_record_of_an_object_is_its_pre_upgrade_state() {
        let mut j = journal(RunState::Running, "a");
        let key =
            ObjectKey { api_version: "v1".into(), kind: "ConfigMap".into(), namespace: "n".into(), name: "c".into() };
        j.record(key.clone(), StepKind::Promotion, Some(serde_json::json!({"data": {"a": "1"}})));
        j.record(key.clone(), StepKind::Promotion, Some(serde_json::json!({"data": {"a": "2"}})));
        assert_eq!(j.recorded(&key).unwrap().before, Some(serde_json::json!({"data": {"a": "1"}})));
    }

    #[test]
    fn output_is_kept_to_its_tail() {
        assert_eq!(tail("short", 10), "short");
        let cut = tail(&"é".repeat(100), 11);
        assert!(cut.ends_with(&"é".repeat(5)), "{cut}");
        assert!(cut.starts_with("[... "));
    }
}
