//! The plan file (`operator-upgrade plan -f plans/NAME.yaml`, later `apply -f`): a versioned YAML document
//! (`apiVersion: operator-upgrade.dev/v1alpha1`, `kind: UpgradePlan`) saying which operator moves from which
//! release to which, the backup gates, the Jobs, the canary and its scoping, the analysis, the rollback
//! policy and whether a rehearsal is required.
//!
//! Reading is strict: [`UpgradePlan::load`] rejects unknown keys, wrong types and missing required keys with
//! the file, line, column and key path (and "did you mean" for a misspelt key), then checks what serde
//! cannot ([`semantics`]). [`LoadedPlan::check_sources`] separately checks that the paths the plan points at
//! exist. The loaded plan has every default filled in, so serialising it shows every value `apply` will use.

mod error;
mod model;
mod parse;
pub mod semantics;
mod values;

/// Key paths and their lines live beside the other strict files' shared code.
mod locate {
    pub use crate::manifest::KeyPath;
}

/// "Did you mean" lives beside the other strict files' shared code.
mod suggest {
    pub(crate) use crate::manifest::closest;
}

pub(crate) use crate::manifest::parse_strict;
pub use error::{ParseFailure, PlanFileError, PlanProblem};
pub use locate::KeyPath;
pub use model::*;
pub(crate) use parse::holds_no_document;
pub use values::{
    selector_operators, Duration, LabelSelectorText, Placeholder, PortRef, ReleaseVersion, SelectorOperator, Template,
    TemplatePart,
};

use crate::manifest::input::{read_text, MAX_DOCUMENT_BYTES};
use std::path::{Path, PathBuf};

/// A plan read from a file, checked and with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedPlan {
    /// The plan, defaults resolved.
    pub plan: UpgradePlan,
    /// The plan file, as given.
    pub file: PathBuf,
    /// The directory relative paths in the plan are resolved against (the plan file's, made absolute).
    pub base_dir: PathBuf,
    /// `spec.from.path`, resolved.
    pub from_path: PathBuf,
    /// `spec.to.path`, resolved.
    pub to_path: PathBuf,
    /// The file's text, for locating keys in later messages and for identifying the exact plan
    /// (rehearsals are matched by content).
    pub text: String,
}

impl UpgradePlan {
    /// Reads, parses and checks a plan file. Does not look at the sources it points at: see
    /// [`LoadedPlan::check_sources`].
    pub fn load(path: &Path) -> Result<LoadedPlan, PlanFileError> {
        let text = read_text(path, "plan file", Some(MAX_DOCUMENT_BYTES))?;
        let base_dir = absolute_dir_of(path);
        LoadedPlan::from_text(text, path, &base_dir)
    }

    /// Parses and checks a plan's text without resolving paths; `file` is only used in messages.
    pub fn parse_str(text: &str, file: &Path) -> Result<UpgradePlan, PlanFileError> {
        let mut plan = parse::parse_plan(text, file)?;
        let problems = semantics::check_plan(&plan, text);
        if !problems.is_empty() {
            return Err(PlanFileError::Invalid { file: file.to_owned(), problems });
        }
        plan.resolve_defaults();
        Ok(plan)
    }
}

fn absolute_dir_of(path: &Path) -> PathBuf {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
}

impl LoadedPlan {
    /// Parses and checks a plan's text, resolving relative paths against `base_dir`.
    pub fn from_text(text: String, file: &Path, base_dir: &Path) -> Result<LoadedPlan, PlanFileError> {
        let plan = UpgradePlan::parse_str(&text, file)?;
        Ok(LoadedPlan {
            from_path: base_dir.join(&plan.spec.from.path),
            to_path: base_dir.join(&plan.spec.to.path),
            plan,
            file: file.to_owned(),
            base_dir: base_dir.to_owned(),
            text,
        })
    }

    /// Checks that the release paths, Job files and command directories the plan points at exist (and that
    /// Job files hold valid Jobs).
    pub fn check_sources(&self) -> Result<(), PlanFileError> {
        let problems = semantics::check_sources(&self.plan, &self.base_dir, &self.text);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PlanFileError::Invalid { file: self.file.clone(), problems })
        }
    }

    /// A path from the plan, resolved against the plan file's directory.
    pub fn resolve(&self, relative: &Path) -> PathBuf {
        self.base_dir.join(relative)
    }

    /// The fully resolved plan as JSON, every default explicit (for `plan`'s JSON output).
    pub fn resolved_json(&self) -> serde_json::Value {
        // Every type of the model serialises to JSON (string keys, no non-finite floats after validation).
        serde_json::to_value(&self.plan).unwrap_or(serde_json::Value::Null)
    }

    /// The fully resolved plan as YAML in the plan file's own syntax (one-key mappings for choices), which
    /// reads back as the same plan.
    pub fn resolved_yaml(&self) -> String {
        let mut out = Vec::new();
        let mut serializer = serde_norway::Serializer::new(&mut out);
        let written = serde_norway::with::singleton_map_recursive::serialize(&self.plan, &mut serializer);
        // The model only holds strings, numbers, booleans, lists and string-keyed maps: writing cannot fail.
        written.ok().and_then(|()| String::from_utf8(out).ok()).unwrap_or_default()
    }

    /// The plan's name.
    pub fn name(&self) -> &str {
        &self.plan.metadata.name
    }

    /// The operator being upgraded.
    pub fn operator(&self) -> &OperatorTarget {
        &self.plan.spec.operator
    }

    /// The UID of `kube-system` the plan is pinned to, if any.
    pub fn pinned_cluster_uid(&self) -> Option<&str> {
        self.plan.spec.cluster.as_ref().map(|pin| pin.kube_system_uid.as_str())
    }

    /// Whether any backup gate must pass before anything changes.
    pub fn has_backup_gates(&self) -> bool {
        !self.plan.spec.backups.is_empty()
    }

    /// The backup gates, in order.
    pub fn backup_gates(&self) -> &[BackupGate] {
        &self.plan.spec.backups
    }

    /// The Jobs of one phase.
    pub fn jobs(&self, phase: JobPhase) -> &[JobDefinition] {
        self.plan.spec.jobs.of(phase)
    }

    /// The canary settings when the canary runs (`None` when the plan has none or disables it).
    pub fn canary(&self) -> Option<&CanaryPolicy> {
        self.plan.spec.canary.as_ref().filter(|canary| canary.enabled)
    }

    /// Whether the upgrade goes through a canary.
    pub fn canary_enabled(&self) -> bool {
        self.canary().is_some()
    }

    /// Whether a baseline cohort runs beside the canary.
    pub fn baseline_enabled(&self) -> bool {
        self.canary().is_some_and(|canary| canary.baseline)
    }

    /// What the analysis watches: the canary cohort, or every object after the one-step replacement.
    pub fn analysis_target(&self) -> AnalysisTarget {
        if self.canary_enabled() {
            AnalysisTarget::CanaryCohort
        } else {
            AnalysisTarget::AllObjectsAfterReplacement
        }
    }

    /// The analysis settings.
    pub fn analysis(&self) -> &AnalysisPolicy {
        &self.plan.spec.analysis
    }

    /// Whether `apply` needs a passing rehearsal of this exact plan.
    pub fn rehearsal_required(&self) -> bool {
        self.plan.spec.rehearsal.required
    }

    /// Whether a failed analysis rolls back without a human.
    pub fn rollback_automatic(&self) -> bool {
        self.plan.spec.rollback.automatic
    }

    /// The version move, when both sides name their version.
    pub fn version_move(&self) -> Option<VersionMove> {
        let (from, to) = (self.plan.spec.from.version.as_ref()?, self.plan.spec.to.version.as_ref()?);
        Some(version_move(from, to))
    }
}

/// What the analysis watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AnalysisTarget {
    /// The canary cohort, compared with the baseline cohort when there is one.
    CanaryCohort,
    /// Every object, after the new version has replaced the old one (no canary): absolute thresholds only.
    AllObjectsAfterReplacement,
}

/// How two release versions relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum VersionMove {
    /// The same version.
    Same,
    /// The same major and minor version (patch, pre-release or build differs).
    Patch,
    /// A newer minor version of the same major, `step` minors ahead.
    Minor {
        /// How many minor versions ahead.
        step: u64,
    },
    /// A newer major version.
    Major {
        /// The old major version.
        from: u64,
        /// The new major version.
        to: u64,
    },
    /// An older version.
    Downgrade,
}

/// How `to` relates to `from`.
pub fn version_move(from: &ReleaseVersion, to: &ReleaseVersion) -> VersionMove {
    let (old, new) = (&from.version, &to.version);
    if new == old {
        VersionMove::Same
    } else if new < old {
        VersionMove::Downgrade
    } else if new.major != old.major {
        VersionMove::Major { from: old.major, to: new.major }
    } else if new.minor != old.minor {
        VersionMove::Minor { step: new.minor - old.minor }
    } else {
        VersionMove::Patch
    }
}

/// The JSON Schema of the plan file, for editors (`operator-upgrade schema`).
pub fn plan_file_json_schema() -> serde_json::Value {
    schemars::schema_for!(UpgradePlan).to_value()
}
