//! Why a command of the engine refused before it changed anything, each reason with what resolves it: the
//! flag, file or command a person runs next. `apply`, `finalize` and `rollback` end with a list of them.

use super::rehearsal::Phase;
use crate::findings::{FindingCode, Severity};
use crate::plan::file::Duration;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// One reason a command refused, with the facts its next step needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The plan is pinned to another cluster than the one connected to.
    WrongCluster {
        /// The kube-system UID the plan pins.
        pinned: String,
        /// This cluster's kube-system UID.
        actual: String,
    },
    /// The live cluster holds something the new release cannot be installed over.
    Blocker(String),
    /// The operator Deployment is missing, runs another image than the `from` release's, or is not Available.
    Operator(String),
    /// Another tool manages the operator and would revert the run.
    OtherManager {
        /// Which tool, in words.
        who: String,
        /// What to do about it.
        resolution: String,
    },
    /// The run's identity lacks permissions the steps need.
    MissingPermissions(Vec<String>),
    /// A finding at or above `--fail-on` that no `--accept` covers.
    Finding {
        /// Its code.
        code: FindingCode,
        /// Its severity.
        severity: Severity,
        /// Where, when it is one place.
        path: Option<String>,
        /// What it says.
        message: String,
    },
    /// A run of a different version of the plan is open in the cluster.
    OtherRunOpen {
        /// That run.
        run_id: String,
        /// Its plan.
        plan: String,
        /// Its state, in words.
        state: String,
    },
    /// An open run of another plan is on the same operator: one run per operator at a time.
    OperatorBusy {
        /// The operator, `namespace/deployment`.
        operator: String,
        /// That run.
        run_id: String,
        /// Its plan.
        plan: String,
        /// Its state, in words.
        state: String,
    },
    /// A live process holds the operator's Lease.
    LeaseHeld {
        /// The Lease, `namespace/name`.
        lease: String,
        /// Its holder, `run@host/pid`.
        holder: String,
    },
    /// A person at the terminal did not confirm.
    NotConfirmed,
    /// `finalize` found no run of the plan.
    NoRunToFinalize {
        /// The plan's name.
        plan: String,
        /// The namespace its journal would be in.
        namespace: String,
        /// The plan file.
        file: PathBuf,
    },
    /// `finalize` was given another version of the plan than the run was applied from.
    PlanChanged {
        /// The run.
        run_id: String,
    },
    /// `finalize` of a run that is not promoted.
    NotPromoted {
        /// The run.
        run_id: String,
        /// Its state, in words.
        state: String,
        /// The plan file.
        file: PathBuf,
    },
    /// A backup gate failed before anything changed.
    BackupGate(String),
    /// A write of a dry run was rejected by the API server.
    DryRun {
        /// The step, in words.
        step: String,
        /// The server's answer.
        message: String,
    },
    /// `rollback` found no open run.
    NoRunToRollBack {
        /// The plan named with `--plan`, if one was.
        plan: Option<String>,
    },
    /// `rollback` found several open runs and was not told which.
    SeveralRunsOpen(Vec<String>),
    /// `rollback` of a finalized run: the recorded CRDs can no longer be restored.
    Finalized {
        /// The run.
        run_id: String,
        /// Its plan.
        plan: String,
    },
    /// `apply` of a plan that requires a rehearsal, without `--rehearsal FILE`.
    RehearsalMissing {
        /// The plan file.
        file: PathBuf,
    },
    /// The rehearsal evidence is of another plan hash (the plan file or a release file was edited since).
    RehearsalOfAnotherPlan {
        /// The rehearsed plan hash, shortened.
        rehearsed: String,
        /// The applied plan's hash, shortened.
        applied: String,
    },
    /// A phase of the rehearsal failed (or one it needs did not run).
    RehearsalFailed {
        /// The phase.
        phase: Phase,
        /// Its outcome.
        outcome: String,
    },
    /// The rehearsal ran on the cluster being applied to: it is no evidence for it.
    RehearsedOnTarget {
        /// The cluster's kube-system UID.
        uid: String,
    },
    /// The rehearsal is older than the plan's `spec.rehearsal.maxAge`.
    RehearsalTooOld {
        /// When it ended.
        ended: String,
        /// How old it is.
        age: Duration,
        /// The plan's limit.
        max_age: Duration,
    },
    /// `rehearse` connected to the cluster the plan pins (production): a rehearsal runs on staging.
    RehearseOnPinnedCluster {
        /// The cluster's kube-system UID.
        uid: String,
    },
    /// `rehearse` on a cluster where this plan's run is finalized: it cannot be rolled back, so neither the
    /// apply from the old release nor the drill can run there.
    RehearseOnFinalizedRun {
        /// The finalized run.
        run_id: String,
    },
}

impl Refusal {
    /// A stable name of the reason, for JSON output and scripts.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::WrongCluster { .. } => "wrong-cluster",
            Refusal::Blocker(_) => "blocker",
            Refusal::Operator(_) => "operator",
            Refusal::OtherManager { .. } => "other-manager",
            Refusal::MissingPermissions(_) => "missing-permissions",
            Refusal::Finding { .. } => "finding",
            Refusal::OtherRunOpen { .. } => "other-run-open",
            Refusal::OperatorBusy { .. } => "operator-busy",
            Refusal::LeaseHeld { .. } => "lease-held",
            Refusal::NotConfirmed => "not-confirmed",
            Refusal::NoRunToFinalize { .. } => "no-run-to-finalize",
            Refusal::PlanChanged { .. } => "plan-changed",
            Refusal::NotPromoted { .. } => "not-promoted",
            Refusal::BackupGate(_) => "backup-gate",
            Refusal::DryRun { .. } => "dry-run",
            Refusal::NoRunToRollBack { .. } => "no-run-to-roll-back",
            Refusal::SeveralRunsOpen(_) => "several-runs-open",
            Refusal::Finalized { .. } => "finalized",
            Refusal::RehearsalMissing { .. } => "rehearsal-missing",
            Refusal::RehearsalOfAnotherPlan { .. } => "rehearsal-of-another-plan",
            Refusal::RehearsalFailed { .. } => "rehearsal-failed",
            Refusal::RehearsedOnTarget { .. } => "rehearsed-on-target",
            Refusal::RehearsalTooOld { .. } => "rehearsal-too-old",
            Refusal::RehearseOnPinnedCluster { .. } => "rehearse-on-pinned-cluster",
            Refusal::RehearseOnFinalizedRun { .. } => "rehearse-on-finalized-run",
        }
    }

    /// What is wrong, in one line.
    pub fn reason(&self) -> String {
        match self {
            Refusal::WrongCluster { pinned, actual } => {
                format!("wrong cluster: the plan is pinned to kube-system UID {pinned}, this cluster's is {actual}")
            }
            Refusal::Blocker(what) => format!("blocker: {what}"),
            Refusal::Operator(what) => what.clone(),
            Refusal::OtherManager { who, .. } => who.clone(),
            Refusal::MissingPermissions(missing) => format!("missing permissions: {}", missing.join(", ")),
            Refusal::Finding { code, severity, path, message } => {
                let at = path.as_ref().map(|p| format!(" at {p}")).unwrap_or_default();
                format!("{severity} {}{at}: {message}", code.as_str())
            }
            Refusal::OtherRunOpen { run_id, plan, state } => {
                format!("run {run_id} of plan {plan} is {state}, and it was applied from a different version of the plan or its releases")
            }
            Refusal::OperatorBusy { operator, run_id, plan, state } => {
                format!("the operator {operator} has an open run {run_id} of plan {plan} ({state}); one run per operator at a time")
            }
            Refusal::LeaseHeld { lease, holder } => format!("another run holds the Lease {lease}: {holder}"),
            Refusal::NotConfirmed => "not confirmed".to_owned(),
            Refusal::NoRunToFinalize { plan, namespace, .. } => format!("plan {plan} has no run in {namespace}"),
            Refusal::PlanChanged { run_id } => {
                format!("run {run_id} was applied from a different version of the plan or its releases")
            }
            Refusal::NotPromoted { run_id, state, .. } => {
                format!("run {run_id} is {state}: finalize is refused until promotion is done")
            }
            Refusal::BackupGate(what) => format!("{what}; nothing was changed"),
            Refusal::DryRun { step, message } => format!("dry run {step}: {message}"),
            Refusal::NoRunToRollBack { plan } => {
                format!("no run to roll back{}", plan.as_ref().map(|p| format!(" for plan {p}")).unwrap_or_default())
            }
            Refusal::SeveralRunsOpen(runs) => format!("more than one run is open: {}", runs.join(", ")),
            Refusal::Finalized { run_id, plan } => format!(
                "run {run_id} of plan {plan} is finalized: storage moved to the new version and the old versions are gone, so the recorded CRDs can no longer be restored"
            ),
            Refusal::RehearsalMissing { .. } => {
                "the plan requires a passing rehearsal (spec.rehearsal.required) and no --rehearsal evidence was given".to_owned()
            }
            Refusal::RehearsalOfAnotherPlan { rehearsed, applied } => format!(
                "the rehearsal is of plan hash {rehearsed}..., this plan's is {applied}...: the plan file or a release file changed since it was rehearsed"
            ),
            Refusal::RehearsalFailed { phase, outcome } => {
                format!("the rehearsal's {phase} phase did not pass: {outcome}")
            }
            Refusal::RehearsedOnTarget { uid } => format!(
                "the rehearsal ran on this very cluster (kube-system UID {uid}): evidence must come from another (staging) cluster"
            ),
            Refusal::RehearsalTooOld { ended, age, max_age } => {
                format!("the rehearsal ended at {ended}, {age} ago: older than {max_age} (spec.rehearsal.maxAge)")
            }
            Refusal::RehearseOnPinnedCluster { uid } => format!(
                "this cluster (kube-system UID {uid}) is the one the plan pins (spec.cluster): a rehearsal runs on staging, never on the pinned production cluster"
            ),
            Refusal::RehearseOnFinalizedRun { run_id } => format!(
                "this plan's run {run_id} on this cluster is finalized: it cannot be rolled back, so a rehearsal cannot start from the old release here"
            ),
        }
    }

    /// What resolves it: the flag, file or command to use next.
    pub fn next_step(&self) -> String {
        match self {
            Refusal::WrongCluster { .. } => "point --context (or --kubeconfig) at the pinned cluster; if this cluster is the one meant, set spec.cluster.kubeSystemUid in the plan file to its UID".to_owned(),
            Refusal::Blocker(_) => "resolve it in the cluster first (`operator-upgrade plan -f FILE --context ...` shows every blocker the live cluster has), then apply again".to_owned(),
            Refusal::Operator(_) => "make the operator Deployment run the plan's `from` release and become Available (`kubectl rollout status`), or correct spec.from and spec.operator in the plan file".to_owned(),
            Refusal::OtherManager { resolution, .. } => resolution.clone(),
            Refusal::MissingPermissions(_) => "grant them to the identity the kubeconfig uses (`kubectl auth can-i VERB RESOURCE` checks one), or run with a --context that has them".to_owned(),
            Refusal::Finding { code, path, .. } => {
                let at = path.as_ref().map(|p| format!("@{p}")).unwrap_or_default();
                format!("change the release so the finding goes away, or accept the risk with `--accept {}{at}` (recorded in the journal), or raise --fail-on", code.as_str())
            }
            Refusal::OtherRunOpen { .. } => "finish that run with the plan file it was applied from (`apply`, then `finalize`), or undo it with `operator-upgrade rollback`; `operator-upgrade status` shows it".to_owned(),
            Refusal::OperatorBusy { plan, .. } => format!("finish that run with plan {plan} (`apply`, then `finalize`), or undo it with `operator-upgrade rollback --plan {plan}`; `operator-upgrade status` shows it"),
            Refusal::LeaseHeld { .. } => "wait for that run to end (`operator-upgrade status` shows it), or stop its process; a holder that stops renewing is taken over after the Lease expires".to_owned(),
            Refusal::NotConfirmed => "answer `y` at the prompt, or pass --yes".to_owned(),
            Refusal::NoRunToFinalize { file, .. } => format!("`operator-upgrade apply -f {}` first; check that --context names the cluster the run is in", file.display()),
            Refusal::PlanChanged { .. } => "finalize with the plan file and releases the run was applied from (`operator-upgrade status` shows its plan hash)".to_owned(),
            Refusal::NotPromoted { file, .. } => format!("`operator-upgrade apply -f {}` carries the run on to promotion, or `operator-upgrade rollback` undoes it", file.display()),
            Refusal::BackupGate(_) => "take the backup the gate asks for, or correct spec.backups in the plan file; then apply again".to_owned(),
            Refusal::DryRun { .. } => "fix what the API server rejected (an admission policy, a webhook, a quota), then run --dry-run=server again".to_owned(),
            Refusal::NoRunToRollBack { .. } => "check that --context names the cluster the run is in; `operator-upgrade status` lists its runs".to_owned(),
            Refusal::SeveralRunsOpen(_) => "name the run's plan with `--plan NAME`".to_owned(),
            Refusal::Finalized { .. } => "upgrade forward: write a plan file from this release to a fixed one and `operator-upgrade apply` it".to_owned(),
            Refusal::RehearsalMissing { file } => format!("`operator-upgrade rehearse -f {} --context STAGING --evidence-out evidence.json` on a staging cluster, then `apply --rehearsal evidence.json`", file.display()),
            Refusal::RehearsalOfAnotherPlan { .. } => "`operator-upgrade rehearse` this exact plan file and releases again (any edit invalidates a rehearsal), or apply the files that were rehearsed".to_owned(),
            Refusal::RehearsalFailed { .. } => "fix what the failed phase reports (the evidence file lists every phase), then `operator-upgrade rehearse` again".to_owned(),
            Refusal::RehearsedOnTarget { .. } => "`operator-upgrade rehearse --context STAGING` on a staging cluster, then apply here with that evidence".to_owned(),
            Refusal::RehearsalTooOld { .. } => "`operator-upgrade rehearse` again, or raise spec.rehearsal.maxAge in the plan file".to_owned(),
            Refusal::RehearseOnPinnedCluster { .. } => "point --context (or --kubeconfig) at a staging cluster; production is upgraded with `operator-upgrade apply --rehearsal FILE`".to_owned(),
            Refusal::RehearseOnFinalizedRun { .. } => "point --context at a staging cluster still on the plan's `from` release (one rebuilt from production's state), and rehearse there".to_owned(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n    next: {}", self.reason(), self.next_step())
    }
}

/// A refusal as the JSON output carries it.
#[derive(Debug, Serialize)]
pub struct RefusalView {
    /// [`Refusal::kind`].
    pub kind: &'static str,
    /// [`Refusal::reason`].
    pub reason: String,
    /// [`Refusal::next_step`].
    pub next: String,
}

impl From<&Refusal> for RefusalView {
    fn from(refusal: &Refusal) -> Self {
        RefusalView { kind: refusal.kind(), reason: refusal.reason(), next: refusal.next_step() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of every kind of refusal.
    fn every_refusal() -> Vec<Refusal> {
        let file = PathBuf::from("plan.yaml");
        vec![
            Refusal::WrongCluster { pinned: "a".into(), actual: "b".into() },
            Refusal::Blocker("x".into()),
            Refusal::Operator("x".into()),
            Refusal::OtherManager { who: "Helm".into(), resolution: "upgrade through Helm (`helm upgrade`)".into() },
            Refusal::MissingPermissions(vec!["patch deployments".into()]),
            Refusal::Finding {
                code: FindingCode::DataPruned,
                severity: Severity::Breaking,
                path: Some(".spec.x".into()),
                message: "m".into(),
            },
            Refusal::OtherRunOpen { run_id: "r".into(), plan: "p".into(), state: "paused".into() },
            Refusal::OperatorBusy {
                operator: "ns/op".into(),
                run_id: "r".into(),
                plan: "p".into(),
                state: "paused".into(),
            },
            Refusal::LeaseHeld { lease: "ns/l".into(), holder: "h".into() },
            Refusal::NotConfirmed,
            Refusal::NoRunToFinalize { plan: "p".into(), namespace: "ns".into(), file: file.clone() },
            Refusal::PlanChanged { run_id: "r".into() },
            Refusal::NotPromoted { run_id: "r".into(), state: "paused".into(), file },
            Refusal::BackupGate("no backup".into()),
            Refusal::DryRun { step: "crds".into(), message: "denied".into() },
            Refusal::NoRunToRollBack { plan: None },
            Refusal::SeveralRunsOpen(vec!["a".into(), "b".into()]),
            Refusal::Finalized { run_id: "r".into(), plan: "p".into() },
            Refusal::RehearsalMissing { file: PathBuf::from("plan.yaml") },
            Refusal::RehearsalOfAnotherPlan { rehearsed: "a".into(), applied: "b".into() },
            Refusal::RehearsalFailed { phase: Phase::RollbackDrill, outcome: "x".into() },
            Refusal::RehearsedOnTarget { uid: "u".into() },
            Refusal::RehearsalTooOld {
                ended: "t".into(),
                age: Duration::from_hours(9),
                max_age: Duration::from_hours(8),
            },
            Refusal::RehearseOnPinnedCluster { uid: "u".into() },
            Refusal::RehearseOnFinalizedRun { run_id: "r".into() },
        ]
    }

    /// The variant's place in the declaration: a new variant does not compile here until it has a place, and
    /// the test below then wants an example of it.
    fn index(refusal: &Refusal) -> usize {
        match refusal {
            Refusal::WrongCluster { .. } => 0,
            Refusal::Blocker(_) => 1,
            Refusal::Operator(_) => 2,
            Refusal::OtherManager { .. } => 3,
            Refusal::MissingPermissions(_) => 4,
            Refusal::Finding { .. } => 5,
            Refusal::OtherRunOpen { .. } => 6,
            Refusal::OperatorBusy { .. } => 7,
            Refusal::LeaseHeld { .. } => 8,
            Refusal::NotConfirmed => 9,
            Refusal::NoRunToFinalize { .. } => 10,
            Refusal::PlanChanged { .. } => 11,
            Refusal::NotPromoted { .. } => 12,
            Refusal::BackupGate(_) => 13,
            Refusal::DryRun { .. } => 14,
            Refusal::NoRunToRollBack { .. } => 15,
            Refusal::SeveralRunsOpen(_) => 16,
            Refusal::Finalized { .. } => 17,
            Refusal::RehearsalMissing { .. } => 18,
            Refusal::RehearsalOfAnotherPlan { .. } => 19,
            Refusal::RehearsalFailed { .. } => 20,
            Refusal::RehearsedOnTarget { .. } => 21,
            Refusal::RehearsalTooOld { .. } => 22,
            Refusal::RehearseOnPinnedCluster { .. } => 23,
            Refusal::RehearseOnFinalizedRun { .. } => 24,
        }
    }
    const LAST_INDEX: usize = 24;

    #[test]
    fn every_refusal_names_a_flag_file_or_command_that_resolves_it() {
        let all = every_refusal();
        let kinds: std::collections::BTreeSet<_> = all.iter().map(Refusal::kind).collect();
        assert_eq!(kinds.len(), all.len(), "one example per kind, each kind distinct");
        let indexes: Vec<usize> = all.iter().map(index).collect();
        assert_eq!(indexes, (0..=LAST_INDEX).collect::<Vec<_>>(), "every variant has one example, in order");
        for refusal in &all {
            let next = refusal.next_step();
            let names_something = next.contains("--") || next.contains('`') || next.contains("plan file");
            assert!(names_something, "{}: {next}", refusal.kind());
            assert!(refusal.to_string().contains("\n    next: "), "{refusal}");
        }
    }

    #[test]
    fn a_finding_refusal_spells_the_exact_accept_flag() {
        let refusal = Refusal::Finding {
            code: FindingCode::DataPruned,
            severity: Severity::Breaking,
            path: Some(".spec.legacyMode".into()),
            message: "m".into(),
        };
        assert!(refusal.next_step().contains("`--accept data-pruned@.spec.legacyMode`"), "{}", refusal.next_step());
        let accepted: crate::engine::Acceptance = "data-pruned@.spec.legacyMode".parse().unwrap();
        assert!(accepted.covers(FindingCode::DataPruned, Some(".spec.legacyMode")));
    }
}
