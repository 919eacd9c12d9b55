//! The journal of a run: what the run is (plan, hash, cluster, tool version), the state it is in, each
//! step's state and times, what was accepted, and the pre-upgrade state of everything the run changes, as
//! it was live before the first write. Stored in the cluster by `cluster::journal_store`; every change to it
//! here is a pure function, so resume and rollback decide from it without a cluster.
//!
//! A recorded Secret's values never go into the journal ConfigMap (ConfigMaps are readable by far more
//! principals than Secrets): they go into a Secret of the run's own, which the journal names and which goes
//! when the run is closed. A digest alone was the other choice; it was not taken because `rollback` must put
//! back the old release's Secret exactly (a webhook certificate, credentials the old operator reads), and a
//! digest can only say it cannot. Should the run's Secret be lost, `rollback` leaves that Secret as it is and
//! says so rather than restoring it empty.

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
    /// The object as it was live (without what the server maintains), or None when it did not exist. A
    /// Secret's `data` and `stringData` are here only in memory: the stored journal keeps them apart.
    pub before: Option<Value>,
    /// For a recorded Secret: the name of the run's own Secret that keeps its data, since the journal
    /// ConfigMap is readable by far more principals than Secrets are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_data: Option<String>,
    /// The kept data was not found when the journal was read: `before` lacks it, and a rollback must not
    /// put this Secret back (it would erase its data).
    #[serde(skip)]
    pub secret_data_missing: bool,
}

/// The fields of a Secret that hold its values.
const SECRET_VALUE_FIELDS: [&str; 2] = ["data", "stringData"];

impl RecordedObject {
    /// Whether this is a Secret that existed before the run.
    fn is_existing_secret(&self) -> bool {
        self.key.api_version == "v1" && self.key.kind == "Secret" && self.before.is_some()
    }

    /// The key of its data in the run's Secret: `namespace.name` (a namespace has no dots, so it is unique).
    fn secret_data_key(&self) -> String {
        format!("{}.{}", self.key.namespace, self.key.name)
    }
}

/// The values of recorded Secrets, kept apart from the journal, by [`RecordedObject`]'s data key; each value
/// is the Secret's `data` and `stringData` as a JSON object.
pub type SecretValues = BTreeMap<String, Value>;

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
    /// The analysis's intervals without a canary, and what its judge carries between intervals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<super::canary::AnalysisJournal>,
    /// The evidence of the rehearsal this run was part of (kept in the staging cluster's journal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<Box<super::rehearsal::Evidence>>,
    /// The storage migration under way (`finalize`), saved after each page so a resumed one carries on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<super::migrate::MigrationProgress>,
    /// The Helm release the run upgrades through Helm, and the revisions of each Helm action it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmRecord>,
}

/// A run through Helm: the release, the revision the run started from, and the revision each Helm action
/// wrote, so a resumed run or `rollback` knows where Helm stands without guessing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmRecord {
    /// The release's name.
    pub release: String,
    /// Its namespace.
    pub namespace: String,
    /// The helm version the run used.
    pub helm_version: String,
    /// The deployed revision the run started from (a rollback after promotion goes back to it).
    pub before: u32,
    /// The revision promotion's `helm upgrade` wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted: Option<u32>,
    /// The revision a rollback's `helm rollback` wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<u32>,
    /// The revision finalize's `helm upgrade` (the CRDs as shipped) wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalized: Option<u32>,
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
    /// The leader-election Leases the copies take (the run's: removed with the copies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copy_leases: Vec<(Cohort, ObjectKey)>,
    /// The canary's own ServiceAccount and RBAC (see [`crate::canary::access`]): created before the copies,
    /// removed with them. Empty in journals of runs from before the canary had an account of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access: Vec<ObjectKey>,
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
            self.recorded.push(RecordedObject { key, step, before, secret_data: None, secret_data_missing: false });
        }
    }

    /// The journal as it is stored, with every recorded Secret's values taken out (and `secret` named as
    /// where they are kept), and those values.
    pub fn without_secret_values(&self, secret: &str) -> (Journal, SecretValues) {
        let mut stored = self.clone();
        let mut values = SecretValues::new();
        for record in stored.recorded.iter_mut().filter(|r| r.is_existing_secret() && !r.secret_data_missing) {
            let key = record.secret_data_key();
            let Some(Value::Object(before)) = record.before.as_mut() else { continue };
            let taken: serde_json::Map<String, Value> =
                SECRET_VALUE_FIELDS.iter().filter_map(|f| before.remove(*f).map(|v| ((*f).to_owned(), v))).collect();
            values.insert(key, Value::Object(taken));
            record.secret_data = Some(secret.to_owned());
        }
        (stored, values)
    }

    /// Puts the kept values back into the recorded Secrets of a journal as stored; a Secret whose values
    /// are not among `values` (the run's Secret is gone, or lacks them) is marked as missing them.
    pub fn with_secret_values(mut self, values: Option<&SecretValues>) -> Journal {
        for record in self.recorded.iter_mut().filter(|r| r.secret_data.is_some()) {
            let kept = values.and_then(|v| v.get(&record.secret_data_key()));
            match (kept, record.before.as_mut()) {
                (Some(Value::Object(kept)), Some(Value::Object(before))) => {
                    before.extend(kept.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                _ => record.secret_data_missing = true,
            }
        }
        self
    }

    /// The line saying a closed run is already where a retried `rollback` or `finalize` would take it, and
    /// since when (its last journal write); None for an open run.
    pub fn already_closed(&self) -> Option<String> {
        let done = match self.state {
            RunState::RolledBack => "rolled back",
            RunState::Finalized => "finalized",
            _ => return None,
        };
        Some(format!("run {} of plan {} is already {done} (at {})", self.run_id, self.plan, self.updated))
    }

    /// Whether this journal, as stored, names a run's Secret that keeps recorded Secrets' values (reading it
    /// then needs that Secret too).
    pub fn names_secret_values(&self) -> bool {
        self.recorded.iter().any(|r| r.secret_data.is_some())
    }

    /// Whether `finalize` takes this run on: promoted, or stopped while finalizing (killed, paused or failed
    /// once one of `contract_steps`, the steps that belong to `finalize`, had started), which it carries on.
    pub fn finalize_takes_on(&self, contract_steps: &[usize]) -> bool {
        match self.state {
            RunState::Promoted => true,
            RunState::Running | RunState::Paused | RunState::Failed => {
                contract_steps.iter().any(|&i| self.steps.get(i).is_some_and(|s| s.state != StepState::Pending))
            }
            RunState::Finalized | RunState::RolledBack => false,
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

/// Decides from the journal found for the plan, and the journals of other plans on the same operator,
/// whether `apply` of a plan with `plan_hash` starts, resumes or refuses: one open run per operator.
pub fn decide_start(found: Option<&Journal>, plan_hash: &str, same_operator: &[Journal]) -> StartDecision {
    if let Some(other) = same_operator.iter().find(|j| !j.state.is_closed()) {
        return StartDecision::Refuse(super::Refusal::OperatorBusy {
            operator: other.operator.clone(),
            run_id: other.run_id.clone(),
            plan: other.plan.clone(),
            state: other.state.to_string(),
        });
    }
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
pub(crate) mod tests {
    use super::*;

    /// A journal of plan `p`, run `r`, last written at `t`, in `state`.
    pub(crate) fn journal(state: RunState, hash: &str) -> Journal {
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
            analysis: None,
            rehearsal: None,
            migration: None,
            helm: None,
        }
    }

    #[test]
    fn the_same_plan_resumes_another_is_refused_while_open() {
        assert_eq!(decide_start(None, "a", &[]), StartDecision::Start);
        for state in [RunState::Running, RunState::Paused, RunState::Failed] {
            assert_eq!(decide_start(Some(&journal(state, "a")), "a", &[]), StartDecision::Resume);
            assert!(matches!(decide_start(Some(&journal(state, "a")), "b", &[]), StartDecision::Refuse(_)));
        }
        assert_eq!(decide_start(Some(&journal(RunState::Promoted, "a")), "a", &[]), StartDecision::AlreadyPromoted);
        assert!(matches!(decide_start(Some(&journal(RunState::Promoted, "a")), "b", &[]), StartDecision::Refuse(_)));
        for state in [RunState::Finalized, RunState::RolledBack] {
            assert_eq!(decide_start(Some(&journal(state, "a")), "b", &[]), StartDecision::Start);
        }
    }

    #[test]
    fn an_open_run_of_another_plan_on_the_operator_refuses_whatever_this_plan_found() {
        for state in [RunState::Running, RunState::Paused, RunState::Failed, RunState::Promoted] {
            let other = Journal { plan: "other".into(), ..journal(state, "x") };
            for found in [None, Some(journal(RunState::Paused, "a")), Some(journal(RunState::RolledBack, "a"))] {
                let decision = decide_start(found.as_ref(), "a", std::slice::from_ref(&other));
                let StartDecision::Refuse(super::super::Refusal::OperatorBusy { plan, .. }) = decision else {
                    panic!("{state}: {decision:?}");
                };
                assert_eq!(plan, "other");
            }
        }
        for state in [RunState::Finalized, RunState::RolledBack] {
            let closed = Journal { plan: "other".into(), ..journal(state, "x") };
            assert_eq!(decide_start(None, "a", &[closed]), StartDecision::Start);
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

    fn secret_key() -> ObjectKey {
        ObjectKey {
            api_version: "v1".into(),
            kind: "Secret".into(),
            namespace: "n".into(),
            name: "webhook-cert".into(),
        }
    }

    #[test]
    fn a_recorded_secret_is_stored_without_its_values_and_read_back_with_them() {
        let mut j = journal(RunState::Running, "a");
        let secret = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "webhook-cert"},
            "type": "Opaque", "data": {"tls.key": "TUFSS0VS"}, "stringData": {"password": "MARKER"}});
        j.record(secret_key(), StepKind::Promotion, Some(secret.clone()));
        j.record(ObjectKey::crd("x.example.com"), StepKind::CrdExpand, Some(serde_json::json!({"spec": {}})));
        let (stored, values) = j.without_secret_values("operator-upgrade-secrets-p");
        let text = serde_json::to_string(&stored).unwrap();
        assert!(!text.contains("MARKER") && !text.contains("TUFSS0VS"), "{text}");
        assert!(text.contains(r#""secretData":"operator-upgrade-secrets-p""#), "{text}");
        assert!(stored.names_secret_values());
        assert_eq!(values.len(), 1);
        let read: Journal = serde_json::from_str(&text).unwrap();
        let read = read.with_secret_values(Some(&values));
        assert_eq!(read.recorded(&secret_key()).unwrap().before, Some(secret));
        assert!(!read.recorded(&secret_key()).unwrap().secret_data_missing);
        // Stored again, the same values come out and the journal is the same.
        assert_eq!(read.without_secret_values("operator-upgrade-secrets-p"), (stored, values));
    }

    #[test]
    fn a_secret_whose_kept_values_are_gone_is_marked_missing_not_restored_empty() {
        let mut j = journal(RunState::Running, "a");
        j.record(secret_key(), StepKind::Promotion, Some(serde_json::json!({"data": {"k": "dg=="}})));
        let (stored, _) = j.without_secret_values("s");
        let read = stored.with_secret_values(None);
        let record = read.recorded(&secret_key()).unwrap();
        assert!(record.secret_data_missing);
        assert_eq!(record.before, Some(serde_json::json!({})));
        // Stored again, a missing Secret stays missing rather than being kept apart as empty.
        let (again, values) = read.without_secret_values("s");
        assert!(values.is_empty());
        assert_eq!(again.recorded(&secret_key()).unwrap().secret_data.as_deref(), Some("s"));
    }

    #[test]
    fn a_secret_the_run_creates_has_nothing_to_keep() {
        let mut j = journal(RunState::Running, "a");
        j.record(secret_key(), StepKind::Promotion, None);
        let (stored, values) = j.without_secret_values("s");
        assert!(values.is_empty());
        assert!(!stored.names_secret_values(), "nothing to read beside the journal");
    }

    #[test]
    fn only_a_closed_run_is_already_somewhere_and_says_since_when() {
        let mut rolled_back = journal(RunState::RolledBack, "h");
        rolled_back.updated = "2026-12-07T19:00:00Z".into();
        assert_eq!(
            rolled_back.already_closed().as_deref(),
            Some("run r of plan p is already rolled back (at 2026-12-07T19:00:00Z)")
        );
        assert!(journal(RunState::Finalized, "h").already_closed().unwrap().contains("already finalized (at t)"));
        for open in [RunState::Running, RunState::Paused, RunState::Promoted, RunState::Failed] {
            assert_eq!(journal(open, "h").already_closed(), None, "{open}");
        }
    }

    #[test]
    fn finalize_takes_on_a_promoted_run_or_one_stopped_while_finalizing() {
        let step = |kind, state| StepRecord {
            kind,
            title: String::new(),
            state,
            started: None,
            ended: None,
            message: None,
            output: None,
        };
        let mut j = journal(RunState::Promoted, "a");
        j.steps = vec![step(StepKind::Promotion, StepState::Done), step(StepKind::CrdContract, StepState::Pending)];
        assert!(j.finalize_takes_on(&[1]));
        for state in [RunState::Running, RunState::Paused, RunState::Failed] {
            j.state = state;
            assert!(!j.finalize_takes_on(&[1]), "{state}: still applying, not finalizing");
            j.steps[1].state = StepState::Running;
            assert!(j.finalize_takes_on(&[1]), "{state}: killed during the storage migration");
            j.steps[1].state = StepState::Pending;
        }
        for state in [RunState::Finalized, RunState::RolledBack] {
            j.state = state;
            assert!(!j.finalize_takes_on(&[1]), "{state}");
        }
    }

    #[test]
    fn output_is_kept_to_its_tail() {
        assert_eq!(tail("short", 10), "short");
        let cut = tail(&"é".repeat(100), 11);
        assert!(cut.ends_with(&"é".repeat(5)), "{cut}");
        assert!(cut.starts_with("[... "));
    }
}
