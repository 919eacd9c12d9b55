//! The ordered steps `apply` runs, derived from the findings and the plan file, and the refusals that stop a
//! plan before any step runs.
//!
//! The order follows the expand/contract shape of the design brief: everything both operator versions need
//! is added before the canary (expand), everything only the new version tolerates comes after promotion
//! (contract).

use crate::findings::{Finding, FindingCode, Severity};
use crate::manifest::{Crd, LoadedCrd};
use crate::plan::file::JobPhase;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// What a step does; `apply` executes them in the order of this enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// Checks that change nothing: cluster identity, permissions, existing objects, stored versions.
    Preflight,
    /// A backup that must be verified before anything changes.
    BackupGate,
    /// A Job that runs before anything changes.
    PreUpgradeJob,
    /// The additive part of the CRDs: new versions, fields and CRDs, with the old versions still served and
    /// the old storage version kept.
    CrdExpand,
    /// The union of the old and the new operator's permissions, so both versions work side by side.
    RbacExpand,
    /// A Job that converts objects or data between the two releases' formats.
    ConversionJob,
    /// The canary (new version, canary cohort) and baseline (old version, baseline cohort) Deployments, with
    /// the stable Deployment rescoped to exclude both cohorts.
    CanaryRollout,
    /// Watching the canary against the baseline until the judge passes, fails or is inconclusive.
    Analysis,
    /// The stable Deployment moves to the new release and owns every object again; cohorts are removed.
    Promotion,
    /// Storage switch, storage migration of every object, storedVersions trim and version removals.
    CrdContract,
    /// The RBAC of the new release alone, dropping permissions only the old one needed.
    RbacContract,
    /// A Job that runs after promotion.
    PostUpgradeJob,
}

impl StepKind {
    /// The kebab-case name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Preflight => "preflight",
            StepKind::BackupGate => "backup-gate",
            StepKind::PreUpgradeJob => "pre-upgrade-job",
            StepKind::CrdExpand => "crd-expand",
            StepKind::RbacExpand => "rbac-expand",
            StepKind::ConversionJob => "conversion-job",
            StepKind::CanaryRollout => "canary-rollout",
            StepKind::Analysis => "analysis",
            StepKind::Promotion => "promotion",
            StepKind::CrdContract => "crd-contract",
            StepKind::RbacContract => "rbac-contract",
            StepKind::PostUpgradeJob => "post-upgrade-job",
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a step acts on, so `apply` executes exactly the step `plan` shows: the typed half of a [`Step`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "on")]
pub enum StepSubject {
    /// The whole cluster (read only).
    Cluster,
    /// The plan file's backup gate at this position of `spec.backups`.
    BackupGate {
        /// Its index in `spec.backups`.
        index: usize,
    },
    /// The plan file's Job of this name.
    Job {
        /// Which list it is in.
        phase: JobPhase,
        /// Its name.
        name: String,
        /// Whether it runs at the end of `finalize` (it needs the contract).
        after_contract: bool,
    },
    /// These CRDs (by name).
    Crds {
        /// The CRDs' names.
        names: Vec<String>,
    },
    /// The RBAC objects of both releases.
    Rbac,
    /// The operator's Deployments and the other objects of the release.
    Operator,
}

/// One step of the plan: what it does and why it is there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// What kind of step this is.
    pub kind: StepKind,
    /// What it acts on.
    #[serde(skip)]
    pub subject: StepSubject,
    /// One line naming the step's subject ("expand 3 CRDs", "Velero backup daily-*").
    pub title: String,
    /// Why the step is there, in one sentence.
    pub why: String,
    /// The concrete actions, one per line (empty when the title says it all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

impl Step {
    fn new(kind: StepKind, title: impl Into<String>, why: impl Into<String>) -> Step {
        let subject = match kind {
            StepKind::RbacExpand | StepKind::RbacContract => StepSubject::Rbac,
            StepKind::CanaryRollout | StepKind::Analysis | StepKind::Promotion => StepSubject::Operator,
            _ => StepSubject::Cluster,
        };
        Step { kind, subject, title: title.into(), why: why.into(), actions: Vec::new() }
    }

    fn on(mut self, subject: StepSubject) -> Step {
        self.subject = subject;
        self
    }

    /// Whether the step belongs to `finalize` (the contract: past the point of no return) rather than `apply`.
    pub fn is_contract(&self) -> bool {
        match &self.subject {
            StepSubject::Job { after_contract, .. } => *after_contract,
            _ => matches!(self.kind, StepKind::CrdContract | StepKind::RbacContract),
        }
    }

    fn with_actions(mut self, actions: Vec<String>) -> Step {
        self.actions = actions;
        self
    }
}

/// Why a plan cannot run as it is, and what must be done first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    /// The blocking finding's code.
    pub code: FindingCode,
    /// The CRD it is in.
    pub crd: String,
    /// The CRD version, where one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What must be done before this upgrade can run.
    pub first: String,
}

/// What the plan file says about the parts of the flow the findings cannot tell: gates, jobs, canary and
/// analysis. Without a plan file every list is empty and the canary is off.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowSettings {
    /// The pinned cluster identity (UID of `kube-system`), if any.
    pub cluster_identity: Option<String>,
    /// One line per backup gate.
    pub backup_gates: Vec<String>,
    /// Every Job of the plan file, in running order.
    pub jobs: Vec<JobLine>,
    /// The canary, when the plan has one.
    pub canary: Option<CanarySettings>,
    /// How long analysis runs and what it watches, in one line; the canary against the baseline with a
    /// canary, every object after the replacement without one. `None` without a plan file.
    pub analysis: Option<String>,
    /// Whether a failed analysis rolls back without asking.
    pub automatic_rollback: bool,
}

/// One Job of the plan file as the steps see it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobLine {
    /// When it runs.
    pub phase: JobPhase,
    /// Its name in the plan file.
    pub name: String,
    /// One line describing it.
    pub line: String,
    /// Whether it runs at the end of `finalize` (a post-upgrade Job that needs the contract).
    pub after_contract: bool,
}

/// The canary part of [`FlowSettings`].
#[derive(Debug, Clone, PartialEq)]
pub struct CanarySettings {
    /// How the canary cohort is chosen, in one line ("5 objects matching tier=gold").
    pub cohort: String,
    /// Whether a baseline cohort runs the old version beside the canary.
    pub baseline: bool,
    /// How the Deployments are scoped, in one line ("env WATCH_LABEL_SELECTOR").
    pub scoping: String,
    /// Whether the canary's Deployment takes a leader-election Lease of its own (`{leaseName}`); without
    /// one it runs without election or on the operator's default.
    pub own_lease: bool,
}

/// What the operator manifest diff says about RBAC, for the expand and contract steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RbacChanges {
    /// Findings about access only the new release grants (permissions, bindings, subjects).
    pub added: usize,
    /// Findings about access only the old release grants.
    pub removed: usize,
}

/// Everything steps are derived from.
#[derive(Debug, Clone, Copy)]
pub struct StepInputs<'a> {
    /// The old release's CRDs.
    pub old_crds: &'a BTreeMap<String, LoadedCrd>,
    /// The new release's CRDs.
    pub new_crds: &'a BTreeMap<String, LoadedCrd>,
    /// The CRD findings.
    pub findings: &'a [Finding],
    /// RBAC differences between the releases.
    pub rbac: RbacChanges,
    /// Whether the operator's Deployment (image, args, ...) changes at all.
    pub operator_changes: bool,
    /// The plan file's settings.
    pub flow: &'a FlowSettings,
}

/// The blockers that stop the plan, each with what must be done first.
pub fn refusals(findings: &[Finding]) -> Vec<Refusal> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Blocker)
        .map(|f| Refusal { code: f.code, crd: f.crd.clone(), version: f.version.clone(), first: remedy(f) })
        .collect()
}

fn remedy(finding: &Finding) -> String {
    let crd = &finding.crd;
    match finding.code {
        FindingCode::VersionRemoved => {
            let version = finding.version.as_deref().unwrap_or("the removed version");
            format!(
                "with the old release still installed, migrate every stored {crd} object off {version} (switch storage to the \
                 version the new release keeps, rewrite every object, trim status.storedVersions), or upgrade through \
                 an intermediate release that still lists {version}"
            )
        }
        FindingCode::ScopeChanged | FindingCode::NamesChanged => format!(
            "{crd} cannot change scope or names in place: the objects must be exported, a CRD under a new name \
             created, and the objects recreated in it by a migration this tool does not perform"
        ),
        _ => format!("resolve the {} finding on {crd} before upgrading", finding.code),
    }
}

/// The ordered steps `apply` would run. Empty phases are left out, except preflight, which always runs.
pub fn derive_steps(inputs: &StepInputs<'_>) -> Vec<Step> {
    let flow = inputs.flow;
    let mut steps = vec![preflight(inputs)];
    steps.extend(flow.backup_gates.iter().enumerate().map(|(index, gate)| {
        Step::new(StepKind::BackupGate, gate, "Nothing changes until a recent, complete backup exists to return to.")
            .on(StepSubject::BackupGate { index })
    }));
    steps.extend(job_steps(
        flow,
        JobPhase::PreUpgrade,
        false,
        "The release asks for this Job before the operator changes.",
    ));
    steps.extend(crd_expand(inputs));
    if inputs.rbac.added > 0 {
        steps.push(Step::new(
            StepKind::RbacExpand,
            format!("grant the union of old and new permissions ({} RBAC additions)", inputs.rbac.added),
            "Old and new operator run side by side during the canary; each needs its own permissions.",
        ));
    }
    steps.extend(job_steps(
        flow,
        JobPhase::Conversion,
        false,
        "Objects or data must be converted before the new version reads them.",
    ));
    steps.extend(rollout(inputs));
    steps.extend(job_steps(
        flow,
        JobPhase::PostUpgrade,
        false,
        "The release asks for this Job once the new version runs everywhere.",
    ));
    steps.extend(crd_contract(inputs));
    if inputs.rbac.removed > 0 {
        steps.push(Step::new(
            StepKind::RbacContract,
            format!("apply the new release's RBAC alone ({} RBAC removals)", inputs.rbac.removed),
            "Once the old version is gone, permissions only it needed are removed (least privilege).",
        ));
    }
    steps.extend(job_steps(
        flow,
        JobPhase::PostUpgrade,
        true,
        "The Job needs the contract: only the new versions served and every object stored at the new storage version.",
    ));
    steps
}

/// One step per Job of `phase` that runs before (or, with `after_contract`, after) the contract.
fn job_steps(flow: &FlowSettings, phase: JobPhase, after_contract: bool, why: &str) -> Vec<Step> {
    let kind = match phase {
        JobPhase::PreUpgrade => StepKind::PreUpgradeJob,
        JobPhase::Conversion => StepKind::ConversionJob,
        JobPhase::PostUpgrade => StepKind::PostUpgradeJob,
    };
    flow.jobs
        .iter()
        .filter(|job| job.phase == phase && job.after_contract == after_contract)
        .map(|job| {
            let title = if after_contract { format!("{} (after the contract)", job.line) } else { job.line.clone() };
            Step::new(kind, title, why).on(StepSubject::Job { phase, name: job.name.clone(), after_contract })
        })
        .collect()
}

fn preflight(inputs: &StepInputs<'_>) -> Step {
    let mut actions = Vec::new();
    match &inputs.flow.cluster_identity {
        Some(uid) => actions.push(format!("check the cluster is the pinned one (kube-system UID {uid})")),
        None => actions.push("record the cluster identity (kube-system UID); no identity is pinned".to_owned()),
    }
    actions.push("check the tool may read and write every object the steps touch (SelfSubjectAccessReview)".to_owned());
    let shared: Vec<&str> =
        inputs.old_crds.keys().filter(|n| inputs.new_crds.contains_key(*n)).map(String::as_str).collect();
    if !shared.is_empty() {
        actions.push(format!(
            "read status.storedVersions of {} CRDs and count existing objects per version",
            shared.len()
        ));
        actions.push("validate existing objects against the new CRDs (pruned data, required fields, CEL)".to_owned());
    }
    Step::new(
        StepKind::Preflight,
        "check cluster, permissions and existing objects",
        "Nothing changes until the cluster is known to be the intended one and every later step is allowed.",
    )
    .with_actions(actions)
}

fn crd_expand(inputs: &StepInputs<'_>) -> Option<Step> {
    let mut actions = Vec::new();
    let mut names = Vec::new();
    for (name, new) in inputs.new_crds {
        names.push(name.clone());
        match inputs.old_crds.get(name) {
            None => actions.push(format!("create {name}")),
            Some(old) => {
                if !crd_changed(inputs.findings, name) {
                    names.pop();
                    continue;
                }
                let kept = versions_leaving(&old.crd, &new.crd);
                let storage = old.crd.storage_version().map(|v| v.name.as_str()).unwrap_or("?");
                let mut line = format!("update {name} (storage stays {storage}");
                if !kept.is_empty() {
                    line.push_str(&format!("; {} kept served", kept.join(", ")));
                }
                line.push(')');
                actions.push(line);
            }
        }
    }
    if actions.is_empty() {
        return None;
    }
    let title = format!("apply the additive part of {} CRDs", actions.len());
    Some(
        Step::new(
            StepKind::CrdExpand,
            title,
            "Both operator versions run during the canary, so the CRDs must serve what each of them reads and writes.",
        )
        .with_actions(actions)
        .on(StepSubject::Crds { names }),
    )
}

/// The old release's versions the new one removes or stops serving: kept served during expand, dropped in
/// contract.
fn versions_leaving<'a>(old: &'a Crd, new: &Crd) -> Vec<&'a str> {
    old.versions
        .iter()
        .filter(|v| new.version(&v.name).is_none_or(|n| v.served && !n.served))
        .map(|v| v.name.as_str())
        .collect()
}

fn crd_changed(findings: &[Finding], crd: &str) -> bool {
    findings.iter().any(|f| f.crd == crd)
}

fn rollout(inputs: &StepInputs<'_>) -> Vec<Step> {
    let flow = inputs.flow;
    // A plan file (it always brings an analysis) means the operator moves even when the manifests at hand
    // hold no Deployment, as with CRD-only release directories.
    if !inputs.operator_changes && flow.canary.is_none() && flow.analysis.is_none() {
        return Vec::new();
    }
    let rollback = if flow.automatic_rollback {
        "a failure rolls back automatically"
    } else {
        "a failure pauses for a person to decide"
    };
    let Some(canary) = &flow.canary else {
        let mut steps = vec![Step::new(
            StepKind::Promotion,
            "roll the operator Deployment to the new release (no canary configured)",
            "Without a canary in the plan file the new version takes over every object at once.",
        )];
        if let Some(analysis) = &flow.analysis {
            steps.push(Step::new(
                StepKind::Analysis,
                format!("{analysis} (every object, after the replacement)"),
                format!(
                    "Without a canary there is no baseline: absolute thresholds judge the whole fleet; {rollback}."
                ),
            ));
        }
        return steps;
    };
    let mut rollout_actions = vec![
        format!("label the canary cohort: {}", canary.cohort),
        format!("rescope the stable Deployment to exclude the cohorts ({})", canary.scoping),
        format!(
            "start the canary Deployment (new version) owning the canary cohort{}",
            if canary.own_lease { ", with its own lease" } else { "" }
        ),
    ];
    if canary.baseline {
        rollout_actions.insert(1, "label an equal-sized random baseline cohort".to_owned());
        rollout_actions.push("start a fresh baseline Deployment (old version) owning the baseline cohort".to_owned());
    }
    let (compared, why) = if canary.baseline {
        ("canary against baseline", "The canary is judged against a fresh baseline, not the warm long-running fleet")
    } else {
        ("canary, absolute thresholds", "Without a baseline the canary is judged by absolute thresholds only")
    };
    let analysis = flow.analysis.clone().unwrap_or_else(|| "watch the canary".to_owned());
    vec![
        Step::new(
            StepKind::CanaryRollout,
            "run the new version on the canary cohort only",
            "An operator reconciles objects, not traffic: a small cohort limits what a bad release can break.",
        )
        .with_actions(rollout_actions),
        Step::new(StepKind::Analysis, format!("{analysis} ({compared})"), format!("{why}; {rollback}.")),
        Step::new(
            StepKind::Promotion,
            "move the stable Deployment to the new release and remove the cohorts",
            "The release proved itself on the canary, so it takes over every object; no label or rescoped Deployment is left behind.",
        ),
    ]
}

fn crd_contract(inputs: &StepInputs<'_>) -> Option<Step> {
    let mut actions = Vec::new();
    let mut names = Vec::new();
    for (name, new) in inputs.new_crds {
        let Some(old) = inputs.old_crds.get(name) else { continue };
        let before = actions.len();
        let old_storage = old.crd.storage_version().map(|v| v.name.as_str());
        let new_storage = new.crd.storage_version().map(|v| v.name.as_str());
        if let (Some(from), Some(to)) = (old_storage, new_storage) {
            if from != to {
                actions.push(format!("{name}: switch storage from {from} to {to}"));
                actions.push(format!("{name}: rewrite every object so it is stored at {to} (list + no-op update)"));
                actions.push(format!("{name}: trim status.storedVersions to [{to}]"));
            }
        }
        let removed = versions_leaving(&old.crd, &new.crd);
        if !removed.is_empty() {
            actions.push(format!("{name}: apply the release's CRD as shipped (stops serving {})", removed.join(", ")));
        } else if crd_changed(inputs.findings, name) {
            // The expand kept what only the old release accepted; the new release's own rules come in here.
            actions.push(format!("{name}: apply the release's CRD as shipped (its new validation in force)"));
        }
        if actions.len() > before {
            names.push(name.clone());
        }
    }
    if actions.is_empty() {
        return None;
    }
    Some(
        Step::new(
            StepKind::CrdContract,
            "switch storage, migrate stored objects and remove old versions",
            "Only the new version remains, so storage can move and old versions can go; objects are never converted at rest, hence the rewrite.",
        )
        .with_actions(actions)
        .on(StepSubject::Crds { names }),
    )
}
