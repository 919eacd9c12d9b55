//! The scenario file: what the simulated cluster holds at start and how simulated images behave.
//!
//! ```yaml
//! seed: 42
//! manifests: [demo-operator/v1.0.0/crds.yaml, demo-operator/v1.0.0/operator.yaml]  # relative to this file
//! populations:
//!   - count: 100
//!     namePrefix: widget-
//!     template: {apiVersion: demo.operator-upgrade.dev/v1alpha1, kind: Widget, metadata: {namespace: default}, spec: {image: nginx}}
//! images:
//!   - image: registry.example/demo-operator:v1.0.0
//!     operator:
//!       reconciles: [{group: demo.operator-upgrade.dev, kind: Widget}]
//!       scope: {labelSelectorEnv: WATCH_LABEL_SELECTOR}
//!       reconcileLatencyMs: 50
//!   - image: registry.example/demo-operator:v1.1.0-bad
//!     operator: {reconciles: [...], failOn: [{labelSelector: "tier=gold"}], errorRate: 0.1}
//!   - image: registry.example/broken:1
//!     crashLoop: true
//!   - image: registry.example/demo-operator:v1.2.0   # leader election, dependents, metrics-only errors
//!     shutdownMs: 500
//!     operator:
//!       reconciles: [...]
//!       leaderElection: {leaseNameArg: --leader-election-id, defaultLeaseName: demo-operator-lock, disableArg: --leader-elect}
//!       dependents: {template: v2}
//!       metricsOnlyErrorRate: 0.3
//! faults: {seed: 1, errors: [{verb: get, resource: pods, code: 500, rate: 0.1}], latencyMs: 0, operatorsFail: false}
//! # Users changing specs: every 2 s, 3 Widgets (a seeded draw) get .spec.replicas set to the next value.
//! churn:
//!   - {group: demo.operator-upgrade.dev, kind: Widget, everyMs: 2000, count: 3, field: .spec.replicas,
//!      values: [1, 2, 3], namespace: default, labelSelector: "tier!=gold"}   # namespace, selector: optional
//! ```
//!
//! Reading is as strict as the plan file's ([`Scenario::load`]): unknown keys, wrong types (a template's
//! metadata that is not a mapping, a label that is not a string) and missing keys are refused with the
//! file, line, column and key path; then values that would hang the simulator or mean nothing (more than
//! [`MAX_POPULATION_OBJECTS`] objects, a rate outside 0 to 1, a code the simulator cannot inject) with the
//! file, line and key path. An object the simulated API server refuses at start is named with the
//! scenario's file, line and population ([`Scenario::origin`]).

mod check;
mod template;

pub(crate) use check::fault_problems;
pub use check::{injectable_code, MAX_LATENCY_MS, MAX_POPULATION_OBJECTS, MAX_TICK_MS};
pub use template::{ObjectTemplate, TemplateMetadata};

use super::faults::FaultSettings;
use crate::manifest::{parse_strict, problems_text, KeyPath, ParseFailure, Problem};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A whole scenario. `Scenario::default()` is the empty scenario file: a scenario built in code gets the
/// same watch history and tick as one read from a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// Seed of everything random the simulated controllers do (names, error rates).
    #[serde(default)]
    pub seed: u64,
    /// Manifest files or directories applied in order at start (relative to the scenario file).
    #[serde(default)]
    pub manifests: Vec<PathBuf>,
    /// Objects created from templates at start.
    #[serde(default)]
    pub populations: Vec<Population>,
    /// How pods of each image behave; images not listed start and become Ready.
    #[serde(default)]
    pub images: Vec<ImageBehaviour>,
    /// Faults from the start (changeable while running).
    #[serde(default)]
    pub faults: FaultSettings,
    /// How many changes are kept for watch resume (older versions get 410 Gone).
    #[serde(default = "default_history")]
    pub watch_history: usize,
    /// How often the simulated controllers run, in milliseconds.
    #[serde(default = "default_tick")]
    pub tick_ms: u64,
    /// Permissions a SelfSubjectAccessReview is denied (everything else is allowed).
    #[serde(default)]
    pub denied_permissions: Vec<DeniedPermission>,
    /// Users changing objects' specs on a schedule (absent: nobody does).
    #[serde(default)]
    pub churn: Vec<Churn>,
    /// Where relative manifest paths are resolved from (the scenario file's directory).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file the scenario was read from, to name it (and the line) in errors about what it asks for;
    /// absent for a scenario built in code.
    #[serde(skip)]
    pub source: Option<ScenarioSource>,
}

/// The file a scenario was read from, and its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScenarioSource {
    /// The scenario file, as given.
    pub file: PathBuf,
    /// Its text, to find the line of a key.
    pub text: String,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            seed: 0,
            manifests: Vec::new(),
            populations: Vec::new(),
            images: Vec::new(),
            faults: FaultSettings::default(),
            watch_history: default_history(),
            tick_ms: default_tick(),
            denied_permissions: Vec::new(),
            churn: Vec::new(),
            base_dir: PathBuf::new(),
            source: None,
        }
    }
}

fn default_history() -> usize {
    100_000
}

fn default_tick() -> u64 {
    50
}

/// A permission the simulator's access reviews deny: a verb on a resource of a group, in one namespace or
/// (without one) everywhere. `*` matches any verb, group or resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeniedPermission {
    /// The verb (`get`, `patch`, ...), or `*`.
    pub verb: String,
    /// The API group (empty for the core group), or `*`.
    #[serde(default)]
    pub group: String,
    /// The resource (`deployments`, `pods/log`), or `*`.
    pub resource: String,
    /// The namespace; absent: every namespace and cluster-wide.
    #[serde(default)]
    pub namespace: Option<String>,
}

impl DeniedPermission {
    /// Whether this denial covers an access review's resource attributes.
    pub fn covers(&self, attributes: &Value) -> bool {
        let text = |key: &str| attributes[key].as_str().unwrap_or_default();
        let resource = match text("subresource") {
            "" => text("resource").to_owned(),
            sub => format!("{}/{sub}", text("resource")),
        };
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        matches(&self.verb, text("verb"))
            && matches(&self.group, text("group"))
            && matches(&self.resource, &resource)
            && self.namespace.as_deref().is_none_or(|n| n == text("namespace"))
    }
}

/// Users changing one field of some objects of a kind on a schedule: every `everyMs` of simulated time,
/// `count` of the matching objects (drawn with the scenario's seed) get `field` set to the value of
/// `values` after their current one, written as a user's update of the object (a spec change is a new
/// generation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Churn {
    /// API group of the kind.
    pub group: String,
    /// The kind.
    pub kind: String,
    /// Milliseconds between two rounds of changes (the first round comes `everyMs` after start).
    pub every_ms: u64,
    /// How many objects each round changes (all of them when fewer match).
    pub count: usize,
    /// A dotted field path such as `.spec.replicas` or `.spec.a.b` (missing objects on the way are
    /// created); not under `metadata` or `status`, nor `apiVersion` or `kind`.
    pub field: String,
    /// The values the field cycles through.
    pub values: Vec<Value>,
    /// Only objects in this namespace; absent: every namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Only objects matching this label selector.
    #[serde(default)]
    pub label_selector: Option<String>,
}

impl Churn {
    /// The keys of `field` (`.spec.a.b` gives `spec`, `a`, `b`), or why it is not a path churn can write.
    pub fn field_path(&self) -> Result<Vec<&str>, String> {
        let Some(rest) = self.field.strip_prefix('.') else {
            return Err(format!("field {:?} must start with '.' (e.g. .spec.replicas)", self.field));
        };
        let keys: Vec<&str> = rest.split('.').collect();
        if keys.iter().any(|k| k.is_empty() || k.contains(['[', ']'])) {
            return Err(format!("field {:?} must be dotted keys (e.g. .spec.a.b)", self.field));
        }
        if matches!(keys[0], "metadata" | "status" | "apiVersion" | "kind") {
            return Err(format!("field {:?}: users' churn only changes the spec, not {}", self.field, keys[0]));
        }
        Ok(keys)
    }

    /// Why the entry cannot do anything sensible, if so: the key at fault and what is wrong.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if self.every_ms == 0 {
            return Some(("everyMs", "must be at least 1".to_owned()));
        }
        if self.values.is_empty() {
            return Some(("values", "must not be empty".to_owned()));
        }
        if let Err(problem) = self.field_path() {
            return Some(("field", problem));
        }
        let selector = self.label_selector.as_deref().map(crate::manifest::LabelSelector::parse);
        if let Some(Err(e)) = selector {
            return Some(("labelSelector", e.to_string()));
        }
        None
    }
}

/// N objects from one template: names are `namePrefix` + index (zero-padded to the count's width).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Population {
    /// How many objects.
    pub count: usize,
    /// Name prefix.
    pub name_prefix: String,
    /// The object (apiVersion, kind, metadata.namespace/labels/annotations, spec...).
    pub template: ObjectTemplate,
    /// Labels set on every `every`-th object, e.g. to make a share of them fail under a bad image.
    #[serde(default)]
    pub label_every: Option<LabelEvery>,
}

/// Labels for every n-th object of a population.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelEvery {
    /// Every n-th object (index % n == 0).
    pub n: usize,
    /// The labels to add.
    pub labels: BTreeMap<String, String>,
}

/// How pods running one image behave.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageBehaviour {
    /// The container image, exactly as in the pod spec.
    pub image: String,
    /// Milliseconds from start to Ready.
    #[serde(default)]
    pub ready_after_ms: u64,
    /// The container crashes over and over (restartCount grows, never Ready).
    #[serde(default)]
    pub crash_loop: bool,
    /// The container crashes once this many milliseconds after it is Ready and comes back at once
    /// (restartCount 1, Ready again): a restart only a pod-restarts signal shows.
    #[serde(default)]
    pub restart_after_ms: Option<u64>,
    /// For Job pods: whether the job fails.
    #[serde(default)]
    pub job_fails: bool,
    /// For Job pods: milliseconds until the job finishes.
    #[serde(default)]
    pub job_duration_ms: u64,
    /// When the image is an operator: what it reconciles and how.
    #[serde(default)]
    pub operator: Option<OperatorBehaviour>,
    /// Milliseconds the process takes to exit after its pod is deleted; the pod is removed then if that is
    /// sooner than its `terminationGracePeriodSeconds` (absent: the process runs until the grace period ends).
    #[serde(default)]
    pub shutdown_ms: Option<u64>,
    /// `false`: the image's pods serve no metrics (the pod proxy answers 503); absent or `true`: they do.
    #[serde(default)]
    pub metrics: Option<bool>,
}

/// A simulated operator: reconciles the objects of some kinds within its scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OperatorBehaviour {
    /// The kinds it reconciles.
    pub reconciles: Vec<KindRef>,
    /// How its scope is read from the pod spec.
    #[serde(default)]
    pub scope: ScopeSource,
    /// Milliseconds one reconcile takes before status is written.
    #[serde(default)]
    pub reconcile_latency_ms: u64,
    /// Share of reconciles that fail at random (seeded).
    #[serde(default)]
    pub error_rate: f64,
    /// Objects it always fails on.
    #[serde(default)]
    pub fail_on: Vec<ObjectMatch>,
    /// The controller name in its metrics (`controller_runtime_reconcile_total{controller=...}`).
    #[serde(default)]
    pub controller: Option<String>,
    /// How the operator elects a leader; absent: no election (every Ready pod reconciles).
    #[serde(default)]
    pub leader_election: Option<LeaderElection>,
    /// The dependent each reconciled object owns; absent: none.
    #[serde(default)]
    pub dependents: Option<Dependents>,
    /// Share of reconciles counted as an error in the metrics and then retried at once with success, so
    /// conditions stay Ready (a regression only the metrics show).
    #[serde(default)]
    pub metrics_only_error_rate: f64,
    /// The condition type each reconcile writes (absent: `Ready`; prometheus-operator writes `Available`).
    #[serde(default)]
    pub condition_type: Option<String>,
    /// The operator's own reconcile counters, served besides controller-runtime's (absent: none).
    #[serde(default)]
    pub counters: Option<Counters>,
    /// Status fields each reconcile writes besides observedGeneration and the condition, as the real
    /// operator fills its status (prometheus-operator's `replicas`, `paused`, ... which its CRDs require).
    #[serde(default)]
    pub status_fields: serde_json::Map<String, Value>,
}

/// An operator's own reconcile counters, as metric lines (a name with optional labels) in which `{kind}`
/// stands for the reconciled kind and `{controller}` for the controller name:
/// `strimzi_reconciliations_total{kind="{kind}"}`. Both are registered at zero when the controllers start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Counters {
    /// Counts every reconcile (a metrics-only error and its retry count twice, as two attempts).
    pub reconciles: String,
    /// Counts every failed reconcile (metrics-only errors included).
    pub failures: String,
}

impl Counters {
    /// The two lines for one kind and controller: (reconciles, failures).
    pub fn lines(&self, kind: &str, controller: &str) -> (String, String) {
        let fill = |line: &str| line.replace("{kind}", kind).replace("{controller}", controller);
        (fill(&self.reconciles), fill(&self.failures))
    }
}

impl OperatorBehaviour {
    /// The condition type the operator writes (`conditionType`, else `Ready`).
    pub fn condition_type(&self) -> &str {
        self.condition_type.as_deref().unwrap_or("Ready")
    }
}

/// Leader election of a simulated operator: a pod reconciles only while it holds the Lease named for it
/// in its own namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaderElection {
    /// A container argument `--flag=name` naming the lease (e.g. `--leader-election-id`); last one wins.
    #[serde(default)]
    pub lease_name_arg: Option<String>,
    /// An env var of the container naming the lease; the argument wins over it.
    #[serde(default)]
    pub lease_name_env: Option<String>,
    /// The lease name when neither names one (absent: `<controller or first kind>-leader-election`).
    #[serde(default)]
    pub default_lease_name: Option<String>,
    /// A boolean flag turning election off when `false` (`--leader-elect=false`); election is on otherwise.
    #[serde(default)]
    pub disable_arg: Option<String>,
}

/// The dependent a reconciled object owns: a ConfigMap `<object-name>-state` holding the template and the
/// object's spec hash, rewritten only when that content changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dependents {
    /// What this release renders; a release with a different template rewrites every dependent.
    pub template: String,
}

/// A custom resource kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KindRef {
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// The version the operator is built against (a real operator does not ask discovery); absent: the
    /// group's preferred version. The test bed's real controllers read and write through it; the
    /// simulator's operators write their status through it, pruned by that version's schema (absent: the
    /// version the object is stored at).
    #[serde(default)]
    pub version: Option<String>,
}

/// Where an operator reads its scope from (all absent: every object in every namespace).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScopeSource {
    /// An env var of the container holding a label selector (e.g. `STRIMZI_CUSTOM_RESOURCE_SELECTOR`).
    #[serde(default)]
    pub label_selector_env: Option<String>,
    /// A container argument `--flag=selector` holding a label selector (e.g. `--watch-label-selector`).
    #[serde(default)]
    pub label_selector_arg: Option<String>,
    /// An env var of the container holding a comma-separated namespace list (e.g. `WATCH_NAMESPACE`).
    #[serde(default)]
    pub namespaces_env: Option<String>,
    /// A container argument `--flag=id` naming the operator's controller id (prometheus-operator's
    /// `--controller-id`): with an id it reconciles only objects whose `controllerIdAnnotation` has that
    /// value; without one (flag absent or empty) only objects without the annotation or with it empty.
    #[serde(default)]
    pub controller_id_arg: Option<String>,
    /// The annotation `controllerIdArg` compares with (absent: `operator.prometheus.io/controller-id`).
    #[serde(default)]
    pub controller_id_annotation: Option<String>,
}

/// The annotation prometheus-operator reads its objects' controller id from.
pub const DEFAULT_CONTROLLER_ID_ANNOTATION: &str = "operator.prometheus.io/controller-id";

/// Matches objects by label selector or by a field's value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMatch {
    /// A label selector.
    #[serde(default)]
    pub label_selector: Option<String>,
    /// A field path such as `.spec.tier`, compared with `equals`.
    #[serde(default)]
    pub field: Option<String>,
    /// The value the field must have.
    #[serde(default)]
    pub equals: Option<Value>,
}

/// Why a scenario could not be read. Every variant names the file, and where it can the line and key.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read: missing, not a regular file, too large or not UTF-8 text.
    #[error(transparent)]
    Io(#[from] crate::manifest::input::InputError),
    /// The YAML is malformed, or a key or value does not fit the format: an unknown key, a wrong type (a
    /// template's metadata that is not a mapping), a missing required key.
    #[error("{0}")]
    Parse(Box<ParseFailure>),
    /// The file parses but asks for something the simulator cannot do or that means nothing.
    #[error("{}", problems_text(.file, "the scenario", .problems))]
    Invalid {
        /// The scenario file.
        file: PathBuf,
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
}

impl Scenario {
    /// Reads a scenario file; relative manifest paths resolve against its directory.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text =
            crate::manifest::input::read_text(path, "scenario file", Some(crate::manifest::input::MAX_DOCUMENT_BYTES))?;
        let mut scenario = Scenario::parse_str(&text, path)?;
        scenario.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        scenario.source = Some(ScenarioSource { file: path.to_owned(), text });
        Ok(scenario)
    }

    /// Parses and checks a scenario's text without resolving paths; `file` is only used in messages.
    pub fn parse_str(text: &str, file: &Path) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = parse_strict(text, file).map_err(ScenarioError::Parse)?;
        let problems = check::check_scenario(&scenario, text);
        if !problems.is_empty() {
            return Err(ScenarioError::Invalid { file: file.to_owned(), problems });
        }
        Ok(scenario)
    }

    /// The behaviour of an image, if the scenario describes it.
    pub fn image(&self, image: &str) -> Option<&ImageBehaviour> {
        self.images.iter().find(|i| i.image == image)
    }

    /// Where a key of the scenario is, for errors about what it asks for: `file:line: path` for a scenario
    /// read from a file, `the scenario: path` for one built in code.
    pub fn origin(&self, path: &KeyPath) -> String {
        match &self.source {
            Some(source) => {
                let mut text = source.file.display().to_string();
                if let Some(line) = path.line_in(&source.text) {
                    text.push_str(&format!(":{line}"));
                }
                format!("{text}: {path}")
            }
            None => format!("the scenario: {path}"),
        }
    }
}

#[cfg(test)]
mod tests;
