//! The plan: what changes between two releases, how risky each change is, and the ordered steps `apply`
//! would run. Built from the CRD diff, the operator manifest diff, the readiness lint and the plan file's
//! settings; the existing objects' validation is attached when objects are given.

pub mod file;
pub mod flow;
pub mod steps;

use crate::findings::{Finding, FindingCode, OperatorFinding, Severity, SourceLocation, Verdict};
use crate::manifest::{line_of_schema_path, DocumentRef, ManifestSet, SkippedDocument};
use crate::schema::diff_crd_sets;
use crate::schema::validate::ValidationReport;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use steps::{derive_steps, refusals, FlowSettings, RbacChanges, Refusal, Step, StepInputs};

/// The result of comparing two releases.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every CRD finding, sorted.
    pub findings: Vec<Finding>,
    /// Every difference between the releases' non-CRD objects, sorted.
    pub operator_findings: Vec<OperatorFinding>,
    /// The new release's production-readiness problems, regressions first.
    pub lint: Vec<OperatorFinding>,
    /// What `apply` would run, in order.
    pub steps: Vec<Step>,
    /// Why the plan cannot run as it is (one per blocker finding), with what to do first.
    pub refusals: Vec<Refusal>,
    /// The existing objects checked against the new CRDs, when objects were given.
    pub objects: Option<ValidationReport>,
    /// Counts of what was compared.
    pub inputs: InputSummary,
    /// Where each CRD was found on each side, for pointing findings into files.
    sources: BTreeMap<String, CrdSources>,
}

#[derive(Debug, Clone, Default)]
struct CrdSources {
    old: Option<DocumentRef>,
    new: Option<DocumentRef>,
}

/// What was read and compared.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct InputSummary {
    /// CRDs on the old side.
    pub crds_old: usize,
    /// CRDs on the new side.
    pub crds_new: usize,
    /// CRDs only on the new side.
    pub crds_added: usize,
    /// CRDs only on the old side.
    pub crds_removed: usize,
    /// CRDs on both sides with at least one finding.
    pub crds_changed: usize,
    /// Non-CRD objects on the old side (diffed by a later step of the plan).
    pub objects_old: usize,
    /// Non-CRD objects on the new side.
    pub objects_new: usize,
    /// Documents that are not objects (without `apiVersion`/`kind`, or not mappings), skipped on either side.
    pub ignored_documents: usize,
    /// Of those, the documents that are not mappings at all, by file, document and line.
    pub not_objects: Vec<SkippedDocument>,
}

impl Plan {
    /// Compares two loaded releases without a plan file: no gates, jobs or canary.
    pub fn build(old: &ManifestSet, new: &ManifestSet) -> Plan {
        Plan::build_with(old, new, &FlowSettings::default())
    }

    /// Compares two loaded releases and derives the steps with the plan file's settings.
    pub fn build_with(old: &ManifestSet, new: &ManifestSet, flow: &FlowSettings) -> Plan {
        let findings = diff_crd_sets(&old.crds, &new.crds);
        let operator_findings = crate::operator::diff_manifests(&old.objects, &new.objects);
        let lint = crate::operator::lint(&old.objects, &new.objects);
        let step_inputs = StepInputs {
            old_crds: &old.crds,
            new_crds: &new.crds,
            findings: &findings,
            rbac: rbac_changes(&operator_findings),
            operator_changes: operator_findings.iter().any(|f| WORKLOAD_KINDS.contains(&f.object.kind.as_str())),
            flow,
        };
        let steps = derive_steps(&step_inputs);
        let refusals = refusals(&findings);
        let mut sources: BTreeMap<String, CrdSources> = BTreeMap::new();
        for (name, loaded) in &old.crds {
            sources.entry(name.clone()).or_default().old = Some(loaded.source.clone());
        }
        for (name, loaded) in &new.crds {
            sources.entry(name.clone()).or_default().new = Some(loaded.source.clone());
        }
        let on_both = |name: &String| old.crds.contains_key(name) && new.crds.contains_key(name);
        let mut changed: Vec<&String> = findings.iter().map(|f| &f.crd).filter(|n| on_both(n)).collect();
        changed.dedup();
        let inputs = InputSummary {
            crds_old: old.crds.len(),
            crds_new: new.crds.len(),
            crds_added: new.crds.keys().filter(|n| !old.crds.contains_key(*n)).count(),
            crds_removed: old.crds.keys().filter(|n| !new.crds.contains_key(*n)).count(),
            crds_changed: changed.len(),
            objects_old: old.objects.len(),
            objects_new: new.objects.len(),
            ignored_documents: old.ignored.len() + new.ignored.len(),
            not_objects: old.not_objects.iter().chain(&new.not_objects).cloned().collect(),
        };
        Plan { findings, operator_findings, lint, steps, refusals, objects: None, inputs, sources }
    }

    /// Adds the validation of existing objects against the new CRDs; its findings count like any other.
    pub fn attach_objects(&mut self, report: ValidationReport) {
        self.objects = Some(report);
    }

    /// The severities that count for the verdict and `--fail-on`: every CRD and operator finding, and the
    /// lint problems this release introduces (problems the old release already had are not the upgrade's).
    pub fn counted_severities(&self) -> impl Iterator<Item = Severity> + '_ {
        let crd = self.findings.iter().map(|f| f.severity);
        let operator = self.operator_findings.iter().map(|f| f.severity);
        let lint = self.lint.iter().filter(|f| f.regression).map(|f| f.severity);
        let objects = self.objects.iter().flat_map(ValidationReport::severities);
        crd.chain(operator).chain(lint).chain(objects)
    }

    /// The verdict over every counted finding (independent of what a report hides).
    pub fn verdict(&self) -> Verdict {
        Verdict::of_severities(self.counted_severities())
    }

    /// Points each finding at its file and line: the new release's file, or the old one's for a CRD that
    /// was removed. Reads the files again, so it is only done for formats that show locations.
    pub fn attach_locations(&mut self) {
        let mut texts: BTreeMap<PathBuf, Option<String>> = BTreeMap::new();
        for finding in &mut self.findings {
            let Some(sources) = self.sources.get(&finding.crd) else { continue };
            let Some(source) = sources.new.as_ref().or(sources.old.as_ref()) else { continue };
            let text = texts.entry(source.file.clone()).or_insert_with(|| std::fs::read_to_string(&source.file).ok());
            let line = match text {
                Some(text) if sources.new.is_some() => {
                    line_of_schema_path(text, source.line, finding.version.as_deref(), finding.path.as_deref())
                }
                _ => source.line,
            };
            finding.location = Some(SourceLocation { file: source.file.display().to_string(), line });
        }
    }
}

/// The kinds whose change means the operator itself changes (and so needs a rollout).
const WORKLOAD_KINDS: [&str; 3] = ["Deployment", "StatefulSet", "DaemonSet"];

fn rbac_changes(operator_findings: &[OperatorFinding]) -> RbacChanges {
    use FindingCode::*;
    let count = |codes: &[FindingCode]| operator_findings.iter().filter(|f| codes.contains(&f.code)).count();
    RbacChanges {
        added: count(&[
            RbacPermissionAdded,
            RbacClusterWideAccessAdded,
            RbacEscalationAdded,
            RbacAggregationChanged,
            RbacBindingAdded,
            RbacBindingSubjectsChanged,
        ]),
        removed: count(&[RbacPermissionRemoved, RbacBindingRemoved]),
    }
}
