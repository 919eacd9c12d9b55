//! The plan file's types: what an upgrade plan may say, with every default. Parsing is strict (unknown keys
//! are errors), so every type here denies unknown fields, and every choice is an enum.
//!
//! A plan file looks like this (see `plans/` for complete ones):
//!
//! ```yaml
//! apiVersion: operator-upgrade.dev/v1alpha1
//! kind: UpgradePlan
//! metadata: {name: cert-manager-v1-19}
//! spec:
//!   operator: {namespace: cert-manager, deployment: cert-manager, container: cert-manager-controller}
//!   from: {path: ../releases/cert-manager/v1.18.5/, version: v1.18.5}
//!   to: {path: ../releases/cert-manager/v1.19.0/, version: v1.19.0}
//!   backups: [{velero: {selector: velero.io/schedule-name=daily, maxAge: 26h}}]
//! ```

use super::values::{Duration, LabelSelectorText, PortRef, ReleaseVersion, Template};
use k8s_openapi::api::batch::v1::JobSpec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `apiVersion` every plan file carries.
pub const PLAN_API_VERSION: &str = "operator-upgrade.dev/v1alpha1";
/// The label key that marks cohort objects unless the plan names another.
pub const DEFAULT_COHORT_LABEL: &str = "operator-upgrade.dev/cohort";
/// The annotation prometheus-operator's `--controller-id` flag filters on.
pub const PROMETHEUS_OPERATOR_CONTROLLER_ID_ANNOTATION: &str = "operator.prometheus.io/controller-id";

/// The longest wait a plan may set: the analysis's `interval`, `warmUp` and length (`duration`, or `count`
/// times `interval`), every `timeout`, and the observedGeneration signal's limits.
///
/// A month is far beyond any real step of an upgrade, and it keeps every sum the run makes of its waits safe:
/// the longest of them, the window a backup must outlive (warm-up, analysis and rollback timeout), is at most
/// 90 days, far inside what `std::time::Duration`, `Instant` and jiff's timestamps (years 1 to 9999) hold.
pub const MAX_WAIT: Duration = Duration::from_days(30);

/// The greatest age a plan may accept of a backup or a rehearsal (`maxAge`): a year and a day, more than any
/// backup schedule keeps a backup current. Ages are only compared, never added to a time; the bound keeps
/// them within jiff's signed durations all the same.
pub const MAX_AGE: Duration = Duration::from_days(366);

/// The most measurements an analysis may take (its `count`, or its `duration` over its `interval`), and the
/// most it may tolerate of any kind (`failureLimit`, `inconclusiveLimit`, `consecutiveErrorLimit`): 100,000 is
/// more than a month of measurements every 30 seconds, and it keeps the judge's counters (`u32`) and the
/// analysis's progress far from overflow.
pub const MAX_MEASUREMENTS: u32 = 100_000;

/// An upgrade plan: which operator to move from which release to which, the gates that must hold first,
/// the Jobs to run, how to canary, how to judge the canary and what to do when it fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "UpgradePlan")]
pub struct UpgradePlan {
    /// The plan file format's version: `operator-upgrade.dev/v1alpha1`.
    pub api_version: ApiVersion,
    /// Always `UpgradePlan`.
    pub kind: PlanKind,
    /// The plan's name and description.
    pub metadata: PlanMetadata,
    /// What the plan does.
    pub spec: PlanSpec,
}

/// The versions of the plan file format this tool reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    /// The first version of the format.
    #[serde(rename = "operator-upgrade.dev/v1alpha1")]
    V1Alpha1,
}

/// The kinds of document this tool reads as plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PlanKind {
    /// An upgrade plan.
    UpgradePlan,
}

/// Names the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlanMetadata {
    /// A DNS label naming the plan (journals and rehearsal records are keyed by it).
    pub name: String,
    /// What the upgrade is for, for reviewers.
    #[serde(default)]
    pub description: Option<String>,
}

/// Everything the plan says about the upgrade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlanSpec {
    /// The operator being upgraded.
    pub operator: OperatorTarget,
    /// The cluster the plan is pinned to; a plan with a pin refuses to run anywhere else.
    #[serde(default)]
    pub cluster: Option<ClusterPin>,
    /// The release being upgraded from.
    pub from: ReleaseSource,
    /// The release being upgraded to.
    pub to: ReleaseSource,
    /// Which version moves are allowed without an explicit flag.
    #[serde(default)]
    pub version_policy: VersionPolicy,
    /// Backups that must be verified before anything changes, checked in order.
    #[serde(default)]
    pub backups: Vec<BackupGate>,
    /// Jobs run before the upgrade, between expand and canary (conversion), and after promotion.
    #[serde(default)]
    pub jobs: PlanJobs,
    /// The canary rollout; without it the new version replaces the old one in one step and the analysis
    /// watches every object afterwards.
    #[serde(default)]
    pub canary: Option<CanaryPolicy>,
    /// How the new version is judged.
    #[serde(default)]
    pub analysis: AnalysisPolicy,
    /// What happens when the analysis fails.
    #[serde(default)]
    pub rollback: RollbackPolicy,
    /// Whether a passing rehearsal of this exact plan must exist before `apply`.
    #[serde(default)]
    pub rehearsal: RehearsalPolicy,
    /// Field managers the run may take fields over from when its server-side apply conflicts with them
    /// (the manager that installed the operator, such as `kubectl-client-side-apply` or `helm`). A conflict
    /// with any other manager stops the run before it changes anything else.
    #[serde(default)]
    pub take_ownership_from: Vec<String>,
}

/// The operator's Deployment and the container that runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OperatorTarget {
    /// The namespace the operator runs in.
    pub namespace: String,
    /// The operator's Deployment.
    pub deployment: String,
    /// The container in that Deployment that runs the operator (its image is the one upgraded).
    pub container: String,
}

/// Which cluster the plan may run against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterPin {
    /// The UID of the cluster's `kube-system` namespace (`kubectl get ns kube-system -o
    /// jsonpath='{.metadata.uid}'`): stable for the cluster's life and different on every cluster.
    pub kube_system_uid: String,
    /// A human name for the cluster, used in messages only.
    #[serde(default)]
    pub name: Option<String>,
}

/// One side of the upgrade: where its manifests are and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReleaseSource {
    /// A manifest file or a directory of them (read recursively), relative to the plan file. Leave it out
    /// when the side is a Helm chart (`helm`).
    #[serde(default, skip_serializing_if = "is_empty_path")]
    pub path: PathBuf,
    /// The side as a Helm release or chart instead of manifests (both sides are Helm or neither).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmSource>,
    /// The release's semantic version, for the downgrade and minor-skip checks (a Helm side's chart version).
    #[serde(default)]
    pub version: Option<ReleaseVersion>,
    /// The operator image of this release, when the manifests do not hold the Deployment (CRD-only
    /// bundles) or a mirror is used.
    #[serde(default)]
    pub image: Option<String>,
}

fn is_empty_path(path: &Path) -> bool {
    path.as_os_str().is_empty()
}

/// One side of an upgrade of an operator installed with Helm.
///
/// `from`: the installed release, `{release, namespace}`, read from the cluster's release record; or, for a
/// plan without a cluster (CI), the chart it was installed from, `{release, chart, values}`, rendered by
/// helm. `to`: the new chart, `{chart, values, reuseValues}`, rendered by helm with `from`'s release name and
/// namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HelmSource {
    /// `from` only: the release's name (`helm list`'s NAME).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// `from` only: the release's namespace; the operator's namespace when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A chart directory or packaged chart (`.tgz`), relative to the plan file. Required in `to`; in `from`
    /// it makes the plan read the old side from the chart instead of the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<PathBuf>,
    /// Values files, in order (`helm -f`), relative to the plan file: in `from`, the values the release was
    /// installed with (offline); in `to`, overrides on top of the carried values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<PathBuf>,
    /// `to` only: carry the user's values of the installed release into the new chart (default true), as
    /// `helm upgrade --reuse-values` does; `false` renders the new chart with only `to.helm.values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_values: Option<bool>,
}

/// Which version moves are allowed. Moves outside the policy are refused unless the matching flag is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VersionPolicy {
    /// Allow `to` to be older than `from`.
    #[serde(default)]
    pub allow_downgrade: bool,
    /// Allow a change of major version (v1 to v2). For 0.x releases, whose minor versions are their
    /// breaking releases, `maxMinorStep` is the limit that matters.
    #[serde(default)]
    pub allow_major_change: bool,
    /// The largest minor-version step allowed without `allowLargerStep` (1: v1.18 to v1.19 is allowed,
    /// v1.18 to v1.20 skips a minor and is not).
    #[serde(default = "default_max_minor_step")]
    pub max_minor_step: u64,
    /// Allow a minor step larger than `maxMinorStep`.
    #[serde(default)]
    pub allow_larger_step: bool,
}

fn default_max_minor_step() -> u64 {
    1
}

impl Default for VersionPolicy {
    fn default() -> VersionPolicy {
        VersionPolicy {
            allow_downgrade: false,
            allow_major_change: false,
            max_minor_step: default_max_minor_step(),
            allow_larger_step: false,
        }
    }
}

/// A precondition that must hold before anything changes: a recent, complete backup, or a command or Job
/// whose success is the gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum BackupGate {
    /// A Velero `Backup` (velero.io/v1).
    Velero(VeleroBackupGate),
    /// CloudNativePG `Backup`s (postgresql.cnpg.io/v1), one per selected database cluster.
    CloudNativePg(CloudNativePgBackupGate),
    /// A local command whose exit status 0 is the gate.
    Command(CommandGate),
    /// A Kubernetes Job whose success is the gate.
    Job(JobDefinition),
}

/// What kind of gate a [`BackupGate`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BackupGateKind {
    /// A Velero backup.
    Velero,
    /// CloudNativePG backups.
    CloudNativePg,
    /// A local command.
    Command,
    /// A Kubernetes Job.
    Job,
}

impl BackupGateKind {
    /// The key that introduces the gate in the plan file.
    pub fn key(self) -> &'static str {
        match self {
            BackupGateKind::Velero => "velero",
            BackupGateKind::CloudNativePg => "cloudNativePg",
            BackupGateKind::Command => "command",
            BackupGateKind::Job => "job",
        }
    }
}

impl BackupGate {
    /// The kind of gate.
    pub fn kind(&self) -> BackupGateKind {
        match self {
            BackupGate::Velero(_) => BackupGateKind::Velero,
            BackupGate::CloudNativePg(_) => BackupGateKind::CloudNativePg,
            BackupGate::Command(_) => BackupGateKind::Command,
            BackupGate::Job(_) => BackupGateKind::Job,
        }
    }
}

/// The phase a Velero backup must have reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum VeleroBackupPhase {
    /// Finished with every item backed up (`PartiallyFailed` never counts as a backup to rely on).
    Completed,
}

/// A Velero backup gate: the newest matching `Backup` must be `Completed` with zero errors and younger
/// than `maxAge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VeleroBackupGate {
    /// The namespace Velero runs in (where its `Backup` objects live).
    #[serde(default = "default_velero_namespace")]
    pub namespace: String,
    /// One backup by name. Exactly one of `name` and `selector`.
    #[serde(default)]
    pub name: Option<String>,
    /// The newest backup matching this label selector (e.g. `velero.io/schedule-name=daily`). Exactly one
    /// of `name` and `selector`.
    #[serde(default)]
    pub selector: Option<LabelSelectorText>,
    /// How old the backup may be (from its `status.completionTimestamp`). At most 366d.
    #[serde(default = "default_backup_max_age")]
    pub max_age: Duration,
    /// The phase the backup must be in; its `status.errors` must also be 0.
    #[serde(default = "default_velero_phase")]
    pub required_phase: VeleroBackupPhase,
    /// Namespaces the backup must include (its `spec.includedNamespaces` lists them or `*`).
    #[serde(default)]
    pub included_namespaces: Vec<String>,
    /// Restore the backup into a scratch namespace first, to prove it restores.
    #[serde(default)]
    pub test_restore: Option<TestRestore>,
}

fn default_velero_namespace() -> String {
    "velero".to_owned()
}

fn default_backup_max_age() -> Duration {
    Duration::from_hours(24)
}

fn default_velero_phase() -> VeleroBackupPhase {
    VeleroBackupPhase::Completed
}

/// A test `Restore` of one namespace of the backup into a scratch namespace (Velero's
/// `namespaceMapping`). It must reach `Completed` with zero errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TestRestore {
    /// The namespace in the backup to restore.
    pub source_namespace: String,
    /// Where to restore it; must not exist yet, and is deleted afterwards unless `keep`.
    pub scratch_namespace: String,
    /// How long the restore may take. At most 30d.
    #[serde(default = "default_restore_timeout")]
    pub timeout: Duration,
    /// Keep the scratch namespace after the check (for inspection).
    #[serde(default)]
    pub keep: bool,
}

fn default_restore_timeout() -> Duration {
    Duration::from_mins(30)
}

/// The phase a CloudNativePG backup must have reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CloudNativePgBackupPhase {
    /// The backup finished (`status.phase: completed`).
    Completed,
}

/// A CloudNativePG backup gate: every selected database `Cluster` must have a `Backup` in phase
/// `completed` that stopped less than `maxAge` ago.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CloudNativePgBackupGate {
    /// A name for reports.
    #[serde(default)]
    pub name: Option<String>,
    /// The namespaces to look in (left out: every namespace; an empty list is refused as ambiguous).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1))]
    pub namespaces: Vec<String>,
    /// The database `Cluster`s that need a backup (left out: every `Cluster` in those namespaces; an empty
    /// list is refused as ambiguous).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1))]
    pub clusters: Vec<String>,
    /// How old each cluster's newest completed backup may be (from its `status.stoppedAt`). At most 366d.
    #[serde(default = "default_backup_max_age")]
    pub max_age: Duration,
    /// The phase each backup must be in.
    #[serde(default = "default_cnpg_phase")]
    pub required_phase: CloudNativePgBackupPhase,
}

fn default_cnpg_phase() -> CloudNativePgBackupPhase {
    CloudNativePgBackupPhase::Completed
}

/// A local command that must exit 0 (e.g. a script that checks an external backup system).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommandGate {
    /// A name for reports.
    #[serde(default)]
    pub name: Option<String>,
    /// The program and its arguments (not run through a shell).
    pub command: Vec<String>,
    /// The working directory, relative to the plan file (default: the plan file's directory).
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// How long the command may run. At most 30d.
    #[serde(default = "default_command_timeout")]
    pub timeout: Duration,
}

fn default_command_timeout() -> Duration {
    Duration::from_mins(10)
}

/// The Jobs of the plan, by when they run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlanJobs {
    /// Run after the backup gates, before anything changes.
    #[serde(default)]
    pub pre_upgrade: Vec<JobDefinition>,
    /// Run after the CRDs and RBAC are expanded and before the canary: convert objects or data.
    #[serde(default)]
    pub conversion: Vec<JobDefinition>,
    /// Run after promotion and the contract steps.
    #[serde(default)]
    pub post_upgrade: Vec<JobDefinition>,
}

/// When a Job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum JobPhase {
    /// Before anything changes.
    PreUpgrade,
    /// Between expand and canary.
    Conversion,
    /// After promotion.
    PostUpgrade,
}

impl JobPhase {
    /// Every phase, in the order the Jobs run.
    pub const ALL: [JobPhase; 3] = [JobPhase::PreUpgrade, JobPhase::Conversion, JobPhase::PostUpgrade];

    /// The key of the phase under `spec.jobs`.
    pub fn key(self) -> &'static str {
        match self {
            JobPhase::PreUpgrade => "preUpgrade",
            JobPhase::Conversion => "conversion",
            JobPhase::PostUpgrade => "postUpgrade",
        }
    }
}

impl PlanJobs {
    /// The Jobs of one phase.
    pub fn of(&self, phase: JobPhase) -> &[JobDefinition] {
        match phase {
            JobPhase::PreUpgrade => &self.pre_upgrade,
            JobPhase::Conversion => &self.conversion,
            JobPhase::PostUpgrade => &self.post_upgrade,
        }
    }

    /// Every Job with its phase, in running order.
    pub fn all(&self) -> impl Iterator<Item = (JobPhase, &JobDefinition)> {
        JobPhase::ALL.into_iter().flat_map(move |phase| self.of(phase).iter().map(move |job| (phase, job)))
    }

    /// Whether there is no Job at all.
    pub fn is_empty(&self) -> bool {
        self.all().next().is_none()
    }

    fn all_mut(&mut self) -> impl Iterator<Item = &mut JobDefinition> {
        self.pre_upgrade.iter_mut().chain(self.conversion.iter_mut()).chain(self.post_upgrade.iter_mut())
    }
}

/// A Kubernetes Job the plan runs: an inline `batch/v1` JobSpec or a file holding one `batch/v1` Job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JobDefinition {
    /// The Job's name (a DNS label; unique in the plan).
    pub name: String,
    /// The namespace to run it in (default: the operator's namespace).
    #[serde(default)]
    pub namespace: Option<String>,
    /// How long the Job may take to succeed. At most 30d.
    #[serde(default = "default_job_timeout")]
    pub timeout: Duration,
    /// A YAML file holding one `batch/v1` Job, relative to the plan file. Exactly one of `file` and `spec`.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// An inline `batch/v1` JobSpec (`template`, `backoffLimit`, ...). Exactly one of `file` and `spec`.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub spec: Option<Box<JobSpec>>,
    /// A post-upgrade Job that needs the contract (only the new versions served, storage migrated): it runs
    /// at the end of `finalize` instead of after promotion.
    #[serde(default)]
    pub needs_contract: bool,
}

fn default_job_timeout() -> Duration {
    Duration::from_mins(30)
}

/// Where a Job's definition comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JobSource<'a> {
    /// A file, relative to the plan file.
    File(&'a Path),
    /// An inline JobSpec.
    Inline(&'a JobSpec),
}

impl JobDefinition {
    /// Where the Job's definition comes from (`None` only for a plan that failed validation).
    pub fn source(&self) -> Option<JobSource<'_>> {
        match (&self.file, &self.spec) {
            (Some(file), None) => Some(JobSource::File(file)),
            (None, Some(spec)) => Some(JobSource::Inline(spec)),
            _ => None,
        }
    }
}

/// The canary rollout: which objects form the canary (and baseline) cohort and how each Deployment is
/// scoped to its share of the objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CanaryPolicy {
    /// Run the canary (false keeps the settings but replaces the operator in one step).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The label key that marks cohort objects (`canary`, `baseline`, or `stable` for equality-only
    /// scoping).
    #[serde(default = "default_cohort_label")]
    pub cohort_label: String,
    /// Also run a fresh baseline Deployment of the old version on an equal-sized cohort, and compare the
    /// canary with it rather than with the long-running stable Deployment.
    #[serde(default = "default_true")]
    pub baseline: bool,
    /// Which objects can be chosen, and how many.
    pub cohort: CohortSelection,
    /// How each Deployment is limited to its share of the objects.
    pub scoping: Scoping,
}

fn default_true() -> bool {
    true
}

fn default_cohort_label() -> String {
    DEFAULT_COHORT_LABEL.to_owned()
}

/// How the canary cohort is chosen. With namespace scoping the cohort is a set of namespaces (those
/// holding at least one object of `resources`); otherwise it is a set of objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CohortSelection {
    /// The kinds of object the cohort is drawn from (the operator's custom resources that its scoping
    /// applies to).
    pub resources: Vec<ResourceKind>,
    /// Only objects matching this label selector are candidates.
    #[serde(default)]
    pub selector: Option<LabelSelectorText>,
    /// Only objects in these namespaces are candidates (left out: every namespace; an empty list is refused
    /// as ambiguous).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1))]
    pub namespaces: Vec<String>,
    /// How many candidates form the canary cohort. Exactly one of `count` and `percentage`.
    #[serde(default)]
    pub count: Option<u32>,
    /// Which share of the candidates (1-100, rounded up to at least one) forms the canary cohort. Exactly
    /// one of `count` and `percentage`.
    #[serde(default)]
    pub percentage: Option<u8>,
    /// Kinds whose objects belong to a cohort object (a Strimzi KafkaNodePool to its Kafka, a CloudNativePG
    /// Pooler to its Cluster): they are never drawn themselves but follow their owner into its cohort.
    #[serde(default)]
    pub followers: Vec<FollowerKind>,
}

/// A kind whose objects follow their owner into its cohort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FollowerKind {
    /// The API group (`kafka.strimzi.io`).
    pub group: String,
    /// The kind (`KafkaNodePool`).
    pub kind: String,
    /// How an object of this kind names its owner, an object of a cohort kind in the same namespace.
    pub owner: OwnerPointer,
}

/// How a follower and its owner are linked: the follower names its owner by a label or a field holding the
/// owner's name, or the owner names the follower in a field (`referencedAt`). Exactly one of `label`,
/// `field` and `referencedAt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OwnerPointer {
    /// The owner's kind (one of `cohort.resources`).
    pub kind: String,
    /// A label whose value is the owner's name (`strimzi.io/cluster`).
    #[serde(default)]
    pub label: Option<String>,
    /// A field path whose value is the owner's name (`.spec.cluster.name`).
    #[serde(default)]
    pub field: Option<String>,
    /// A field path of the owner whose values name its followers, `[*]` for every item of a list (Argo
    /// Rollouts' AnalysisTemplates: `.spec.strategy.canary.steps[*].analysis.templates[*].templateName`).
    /// A follower named by several owners is shared: none of those owners is drawn, so the follower stays
    /// with the stable operator and every owner keeps seeing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referenced_at: Option<String>,
}

/// The size of the canary cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CohortSize {
    /// This many candidates.
    Count(u32),
    /// This share of the candidates, in percent.
    Percentage(u8),
}

impl CohortSelection {
    /// The cohort's size (`None` only for a plan that failed validation).
    pub fn size(&self) -> Option<CohortSize> {
        match (self.count, self.percentage) {
            (Some(count), None) => Some(CohortSize::Count(count)),
            (None, Some(percentage)) => Some(CohortSize::Percentage(percentage)),
            _ => None,
        }
    }
}

/// A kind of custom resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceKind {
    /// The API group (`cert-manager.io`).
    pub group: String,
    /// The kind (`Certificate`).
    pub kind: String,
}

/// How the stable, baseline and canary Deployments are each limited to their objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scoping {
    /// What the operator understands: a label selector, a controller-id annotation, or namespaces.
    pub mechanism: ScopingMechanism,
    /// The leader-election lease name a Deployment gets through `{leaseName}` (rendered per Deployment, so
    /// the default `{deployment}` gives the baseline and canary each a lease of their own). Use
    /// `{leaseName}` in the baseline's and canary's args or env that set the operator's lease; the stable
    /// Deployment keeps its lease by not using it.
    #[serde(default = "default_lease_name")]
    pub lease_name: Template,
    /// What the stable Deployment gets while the canary runs (it must exclude both cohorts).
    #[serde(default)]
    pub stable: DeploymentTemplate,
    /// What the baseline Deployment (old version) gets.
    #[serde(default)]
    pub baseline: DeploymentTemplate,
    /// What the canary Deployment (new version) gets.
    #[serde(default)]
    pub canary: DeploymentTemplate,
}

fn default_lease_name() -> Template {
    Template::parse("{deployment}").expect("the default lease name is a valid template")
}

/// What an operator can be scoped by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ScopingMechanism {
    /// A label selector flag or env var (Flux `--watch-label-selector`, Strimzi
    /// `STRIMZI_CUSTOM_RESOURCE_SELECTOR`, prometheus-operator `--prometheus-instance-selector`): cohort
    /// objects get the cohort label, and `{cohortSelector}` selects them.
    LabelSelector(LabelSelectorScoping),
    /// A controller-id annotation (prometheus-operator `--controller-id` and
    /// `operator.prometheus.io/controller-id`): cohort objects get the annotation with their cohort as the
    /// value, and an operator without an id ignores annotated objects.
    ControllerId(ControllerIdScoping),
    /// Watched namespaces (CloudNativePG `WATCH_NAMESPACE`): the cohort is a set of namespaces, and
    /// `{namespaces}` lists each Deployment's share.
    Namespaces,
}

/// Which kind of scoping a [`ScopingMechanism`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ScopingKind {
    /// Label selector.
    LabelSelector,
    /// Controller-id annotation.
    ControllerId,
    /// Namespaces.
    Namespaces,
}

impl ScopingMechanism {
    /// The kind of scoping.
    pub fn kind(&self) -> ScopingKind {
        match self {
            ScopingMechanism::LabelSelector(_) => ScopingKind::LabelSelector,
            ScopingMechanism::ControllerId(_) => ScopingKind::ControllerId,
            ScopingMechanism::Namespaces => ScopingKind::Namespaces,
        }
    }
}

/// Label-selector scoping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelectorScoping {
    /// Which selector syntax the operator accepts.
    #[serde(default)]
    pub syntax: SelectorSyntax,
}

/// The label selector syntax an operator accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SelectorSyntax {
    /// The API server's full syntax, with `!=`, `in`, `notin` and `!key`.
    #[default]
    SetBased,
    /// Only `key=value` pairs (Strimzi's `STRIMZI_CUSTOM_RESOURCE_SELECTOR`). The stable Deployment then
    /// selects `<label>=stable`, and every object outside the cohorts is labelled `stable` while the canary
    /// runs.
    EqualityOnly,
}

/// Controller-id scoping: an operator started with an id reconciles only the objects whose annotation or
/// label holds that id, and one without an id only those without it. At most one of `annotation` and
/// `label`; neither means prometheus-operator's annotation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControllerIdScoping {
    /// The annotation the operator filters on (prometheus-operator `operator.prometheus.io/controller-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation: Option<String>,
    /// The label the operator selects on instead (Argo Rollouts
    /// `argo-rollouts.argoproj.io/controller-instance-id`, with `--instance-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Where a controller id is kept on an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControllerIdPlace<'a> {
    /// In this annotation.
    Annotation(&'a str),
    /// In this label.
    Label(&'a str),
}

impl ControllerIdScoping {
    /// Where the id is kept: the label when one is named, else the annotation (prometheus-operator's when
    /// none is named).
    pub fn place(&self) -> ControllerIdPlace<'_> {
        match (&self.label, &self.annotation) {
            (Some(label), _) => ControllerIdPlace::Label(label),
            (None, Some(annotation)) => ControllerIdPlace::Annotation(annotation),
            (None, None) => ControllerIdPlace::Annotation(PROMETHEUS_OPERATOR_CONTROLLER_ID_ANNOTATION),
        }
    }
}

/// What one Deployment's operator container gets: arguments appended to its args (Go's flag package and
/// pflag take the last occurrence of a flag) and env vars set (replacing a variable of the same name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeploymentTemplate {
    /// Arguments appended to the container's args.
    #[serde(default)]
    pub args: Vec<Template>,
    /// Env vars set on the container.
    #[serde(default)]
    pub env: BTreeMap<String, Template>,
}

impl DeploymentTemplate {
    /// Every template, with the key path below the Deployment's entry (`args[0]`, `env.NAME`).
    pub fn templates(&self) -> Vec<(String, &Template)> {
        let args = self.args.iter().enumerate().map(|(i, t)| (format!("args[{i}]"), t));
        args.chain(self.env.iter().map(|(name, t)| (format!("env.{name}"), t))).collect()
    }

    /// Whether it sets nothing.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty() && self.env.is_empty()
    }
}

/// How the new version is judged: measurements every `interval` for `duration` (or `count` times) after
/// `warmUp`, each signal passing, failing or inconclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AnalysisPolicy {
    /// Time between measurements. At most 30d.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    /// How long the analysis runs (default 10m unless `count` is given): at most 30d, and at most 100000
    /// intervals. At most one of `duration` and `count`.
    #[serde(default)]
    pub duration: Option<Duration>,
    /// How many measurements the analysis takes: at most 100000, and at most 30d of intervals. At most one of
    /// `duration` and `count`.
    #[serde(default)]
    #[schemars(range(min = 1, max = 100_000))]
    pub count: Option<u32>,
    /// Time after the Deployments are ready before the first measurement (start-up effects are not judged).
    /// At most 30d.
    #[serde(default = "default_warm_up")]
    pub warm_up: Duration,
    /// What is measured. No data for a signal is a failure, never a pass.
    #[serde(default = "default_signals")]
    pub signals: Vec<Signal>,
    /// Failed measurements tolerated; one more fails the analysis. At most 100000.
    #[serde(default)]
    #[schemars(range(max = 100_000))]
    pub failure_limit: u32,
    /// Inconclusive measurements tolerated; one more makes the analysis inconclusive. At most 100000.
    #[serde(default)]
    #[schemars(range(max = 100_000))]
    pub inconclusive_limit: u32,
    /// Consecutive measurements that could not be taken (API or scrape errors) before the analysis fails. At
    /// most 100000.
    #[serde(default = "default_consecutive_error_limit")]
    #[schemars(range(max = 100_000))]
    pub consecutive_error_limit: u32,
    /// The action taken when the analysis ends inconclusive.
    #[serde(default)]
    pub on_inconclusive: InconclusiveAction,
}

fn default_interval() -> Duration {
    Duration::from_mins(1)
}

/// The analysis length when neither `duration` nor `count` is given.
pub const DEFAULT_ANALYSIS_DURATION: Duration = Duration::from_mins(10);

fn default_warm_up() -> Duration {
    Duration::from_mins(2)
}

fn default_consecutive_error_limit() -> u32 {
    4
}

fn default_signals() -> Vec<Signal> {
    vec![
        Signal::Conditions(ConditionsSignal::default()),
        Signal::ObservedGeneration(ObservedGenerationSignal::default()),
        Signal::PodRestarts(PodRestartsSignal::default()),
        Signal::WarningEvents(WarningEventsSignal::default()),
    ]
}

impl Default for AnalysisPolicy {
    fn default() -> AnalysisPolicy {
        AnalysisPolicy {
            interval: default_interval(),
            duration: None,
            count: None,
            warm_up: default_warm_up(),
            signals: default_signals(),
            failure_limit: 0,
            inconclusive_limit: 0,
            consecutive_error_limit: default_consecutive_error_limit(),
            on_inconclusive: InconclusiveAction::default(),
        }
    }
}

/// How long the analysis runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AnalysisLength {
    /// For this long.
    Duration(Duration),
    /// For this many measurements.
    Count(u32),
}

impl AnalysisPolicy {
    /// How long the analysis runs (the default when the plan gives neither).
    pub fn length(&self) -> AnalysisLength {
        match (self.duration, self.count) {
            (Some(duration), _) => AnalysisLength::Duration(duration),
            (None, Some(count)) => AnalysisLength::Count(count),
            (None, None) => AnalysisLength::Duration(DEFAULT_ANALYSIS_DURATION),
        }
    }
}

/// What an inconclusive analysis does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum InconclusiveAction {
    /// Stop and wait for a human to promote or roll back.
    #[default]
    Pause,
    /// Roll back as if the analysis had failed.
    Rollback,
    /// Promote as if the analysis had passed.
    Promote,
}

/// One thing the analysis measures, per cohort.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Signal {
    /// Ready/Stalled conditions of the cohort's objects (kstatus rules).
    Conditions(ConditionsSignal),
    /// How long `status.observedGeneration` takes to catch up with `metadata.generation` after a no-op
    /// touch of each object.
    ObservedGeneration(ObservedGenerationSignal),
    /// Restarts and readiness of the Deployment's pods.
    PodRestarts(PodRestartsSignal),
    /// A metric, scraped from the pods or queried from Prometheus.
    Metric(MetricSignal),
    /// Warning events on the cohort's objects.
    WarningEvents(WarningEventsSignal),
    /// Writes the operator makes to the cohort objects' dependents (found by owner references): pods
    /// recreated, StatefulSets or Deployments re-rolled, owned objects updated.
    DependentChanges(DependentChangesSignal),
}

/// What kind of signal a [`Signal`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SignalKind {
    /// Conditions.
    Conditions,
    /// observedGeneration catch-up.
    ObservedGeneration,
    /// Pod restarts.
    PodRestarts,
    /// A metric.
    Metric,
    /// Warning events.
    WarningEvents,
    /// Changes to dependents.
    DependentChanges,
}

impl SignalKind {
    /// The key that introduces the signal in the plan file.
    pub fn key(self) -> &'static str {
        match self {
            SignalKind::Conditions => "conditions",
            SignalKind::ObservedGeneration => "observedGeneration",
            SignalKind::PodRestarts => "podRestarts",
            SignalKind::Metric => "metric",
            SignalKind::WarningEvents => "warningEvents",
            SignalKind::DependentChanges => "dependentChanges",
        }
    }
}

impl Signal {
    /// The kind of signal.
    pub fn kind(&self) -> SignalKind {
        match self {
            Signal::Conditions(_) => SignalKind::Conditions,
            Signal::ObservedGeneration(_) => SignalKind::ObservedGeneration,
            Signal::PodRestarts(_) => SignalKind::PodRestarts,
            Signal::Metric(_) => SignalKind::Metric,
            Signal::WarningEvents(_) => SignalKind::WarningEvents,
            Signal::DependentChanges(_) => SignalKind::DependentChanges,
        }
    }
}

/// Conditions of the cohort's objects: a measurement fails when more objects than allowed are not Ready
/// (or are Stalled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConditionsSignal {
    /// The condition that means healthy.
    #[serde(default = "default_condition_type")]
    pub condition_type: String,
    /// Objects that may be not Ready (or Stalled) at a measurement.
    #[serde(default)]
    pub max_not_ready: u32,
    /// How many more not-ready objects than the baseline cohort's the canary cohort may have when over
    /// `maxNotReady` (the canary fails only when over both).
    #[serde(default)]
    pub max_over_baseline: u32,
}

fn default_condition_type() -> String {
    "Ready".to_owned()
}

impl Default for ConditionsSignal {
    fn default() -> ConditionsSignal {
        ConditionsSignal { condition_type: default_condition_type(), max_not_ready: 0, max_over_baseline: 0 }
    }
}

/// observedGeneration catch-up: the operator must process a no-op touch of each object within the limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObservedGenerationSignal {
    /// The longest catch-up allowed. At most 30d.
    #[serde(default = "default_max_catch_up")]
    pub max_catch_up: Duration,
    /// How much longer than the baseline's the canary's longest catch-up may be when over `maxCatchUp`. At
    /// most 30d.
    #[serde(default)]
    pub max_over_baseline: Option<Duration>,
}

fn default_max_catch_up() -> Duration {
    Duration::from_mins(2)
}

impl Default for ObservedGenerationSignal {
    fn default() -> ObservedGenerationSignal {
        ObservedGenerationSignal { max_catch_up: default_max_catch_up(), max_over_baseline: None }
    }
}

/// Pod restarts: container restarts of the Deployment's pods since the analysis started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodRestartsSignal {
    /// Restarts (plus pods not Ready) tolerated.
    #[serde(default)]
    pub max_restarts: u32,
    /// How many more than the baseline Deployment's the canary's may be when over `maxRestarts`.
    #[serde(default)]
    pub max_over_baseline: u32,
}

/// Warning events on the cohort's objects since the analysis started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WarningEventsSignal {
    /// Warning events tolerated.
    #[serde(default)]
    pub max_events: u32,
    /// Only events with these reasons count (left out: every Warning event; an empty list is refused as
    /// ambiguous).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1))]
    pub reasons: Vec<String>,
    /// How many more than the baseline cohort's the canary cohort's may be when over `maxEvents`.
    #[serde(default)]
    pub max_over_baseline: u32,
}

/// Changes the operator makes to what it manages: per interval, among the cohort's objects whose own spec did
/// not change (generation and observed generation unchanged and caught up), the share whose dependents
/// (objects of `kinds` with an owner reference to a cohort object, or to such a dependent) were created,
/// recreated, updated or removed; the first interval counts from the cohort's start, warm-up included. A
/// release that re-rolls every database's pods shows here while its conditions stay green; dependents
/// rewritten for a spec the users changed are what any release does. No object left alone is no data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DependentChangesSignal {
    /// The kinds of dependents, in owner order (a StatefulSet before its Pods).
    #[serde(default = "default_dependent_kinds")]
    pub kinds: Vec<DependentKind>,
    /// The highest share (0-1) of cohort objects with changed dependents that passes.
    #[serde(default = "default_dependent_max")]
    #[schemars(range(min = 0, max = 1))]
    pub max: f64,
    /// How much higher than the baseline's the canary's share may be when over `max` (0-1).
    #[serde(default = "default_dependent_over_baseline")]
    #[schemars(range(min = 0, max = 1))]
    pub max_over_baseline: f64,
}

/// A kind of dependent object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DependentKind {
    /// `v1`, `apps/v1`.
    pub api_version: String,
    /// `Pod`, `StatefulSet`.
    pub kind: String,
}

fn default_dependent_kinds() -> Vec<DependentKind> {
    let kind = |api_version: &str, kind: &str| DependentKind { api_version: api_version.into(), kind: kind.into() };
    vec![kind("apps/v1", "StatefulSet"), kind("apps/v1", "Deployment"), kind("v1", "Pod")]
}

fn default_dependent_max() -> f64 {
    0.5
}

fn default_dependent_over_baseline() -> f64 {
    0.25
}

impl Default for DependentChangesSignal {
    fn default() -> DependentChangesSignal {
        DependentChangesSignal {
            kinds: default_dependent_kinds(),
            max: default_dependent_max(),
            max_over_baseline: default_dependent_over_baseline(),
        }
    }
}

/// A metric with thresholds: absolute (`max`) and/or relative to the baseline cohort (`maxOverBaseline`:
/// canary value minus baseline value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricSignal {
    /// A name for reports (unique among the plan's metrics).
    pub name: String,
    /// Where the value comes from.
    pub source: MetricSource,
    /// The highest value that passes (at least 0: the analysis measures counts and ratios).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub max: Option<f64>,
    /// The most the canary's value may exceed the baseline's (needs a baseline cohort; at least 0).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub max_over_baseline: Option<f64>,
}

/// Where a metric's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum MetricSource {
    /// Each pod's metrics endpoint, scraped through the API server's pod proxy; the value is the increase
    /// of `series` over the interval, summed over the Deployment's pods, divided by that of `per` if given.
    PodProxy(PodProxyMetric),
    /// A PromQL query returning one number per Deployment (`{pods}` selects the Deployment's pods).
    Prometheus(PrometheusMetric),
}

/// A metric scraped from the pods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodProxyMetric {
    /// The container port serving metrics.
    pub port: PortRef,
    /// The metrics path.
    #[serde(default = "default_metrics_path")]
    pub path: String,
    /// The scheme the port speaks.
    #[serde(default)]
    pub scheme: MetricsScheme,
    /// The counter whose increase is measured, with optional label matchers
    /// (`controller_runtime_reconcile_total{result="error"}`).
    pub series: String,
    /// A counter to divide by (its increase over the same interval), for a ratio.
    #[serde(default)]
    pub per: Option<String>,
}

fn default_metrics_path() -> String {
    "/metrics".to_owned()
}

/// The scheme of a metrics port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum MetricsScheme {
    /// Plain HTTP.
    #[default]
    Http,
    /// HTTPS.
    Https,
}

/// A metric queried from Prometheus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PrometheusMetric {
    /// The Prometheus base URL (`http://prometheus.monitoring:9090`).
    pub url: String,
    /// The PromQL query; `{pods}`, `{deployment}`, `{cohort}` and `{operatorNamespace}` are substituted per
    /// Deployment.
    pub query: Template,
}

/// What happens when the analysis fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RollbackPolicy {
    /// Roll back by itself when the analysis fails (false: stop and wait for a human).
    #[serde(default = "default_true")]
    pub automatic: bool,
    /// How long the canary cohort may take to be healthy again under the stable operator. At most 30d.
    #[serde(default = "default_rollback_timeout")]
    pub timeout: Duration,
}

fn default_rollback_timeout() -> Duration {
    Duration::from_mins(10)
}

impl Default for RollbackPolicy {
    fn default() -> RollbackPolicy {
        RollbackPolicy { automatic: true, timeout: default_rollback_timeout() }
    }
}

/// Whether `apply` needs a rehearsal first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RehearsalPolicy {
    /// `apply` refuses to run without a passing `rehearse` of this exact plan (same file contents).
    #[serde(default)]
    pub required: bool,
    /// How old that rehearsal may be. At most 366d.
    #[serde(default = "default_rehearsal_max_age")]
    pub max_age: Duration,
}

fn default_rehearsal_max_age() -> Duration {
    Duration::from_hours(7 * 24)
}

impl Default for RehearsalPolicy {
    fn default() -> RehearsalPolicy {
        RehearsalPolicy { required: false, max_age: default_rehearsal_max_age() }
    }
}

impl UpgradePlan {
    /// Fills in the defaults that depend on other fields, so the plan shows every value it will use: each
    /// Job's namespace and the analysis duration.
    pub(super) fn resolve_defaults(&mut self) {
        let operator_namespace = self.spec.operator.namespace.clone();
        let gate_jobs = self.spec.backups.iter_mut().filter_map(|gate| match gate {
            BackupGate::Job(job) => Some(job),
            _ => None,
        });
        for job in gate_jobs.chain(self.spec.jobs.all_mut()) {
            job.namespace.get_or_insert_with(|| operator_namespace.clone());
        }
        let analysis = &mut self.spec.analysis;
        if analysis.duration.is_none() && analysis.count.is_none() {
            analysis.duration = Some(DEFAULT_ANALYSIS_DURATION);
        }
    }
}
