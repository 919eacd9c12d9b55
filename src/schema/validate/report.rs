//! The result of validating many objects: every finding, and counts per CRD, assembled from per-object outcomes
//! in any order (parallel workers each fill a [`ReportBuilder`] and merge them).

use super::{ObjectClass, ObjectOutcome};
use crate::findings::{sort_object_findings, FindingCode, ObjectFinding, Severity};
use crate::manifest::SkippedDocument;
use serde::Serialize;
use std::collections::BTreeMap;

/// Every finding about the objects validated, sorted, with the counts a report shows.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ValidationReport {
    /// All findings, in canonical order (CRD, namespace, name, path, code).
    pub findings: Vec<ObjectFinding>,
    /// What was read and checked.
    pub summary: ValidationSummary,
}

/// Counts of what was read and checked.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationSummary {
    /// Files read.
    pub files: usize,
    /// Objects read (`List` items counted one by one).
    pub objects: usize,
    /// Objects of a kind a CRD of the set defines: the ones checked.
    pub checked: usize,
    /// Objects with at least one finding.
    pub objects_with_findings: usize,
    /// Objects of a kind no CRD of the new set defines, in a group the CRDs define (or of a kind the old CRDs
    /// defined): their CRD may have been removed (`object-kind-unknown`, warning).
    pub unknown_kind: usize,
    /// Objects of a custom-looking group no CRD of the set belongs to: another project's API, not checked
    /// (`object-kind-unknown`, info).
    pub other_group: usize,
    /// Whether the old release's CRDs were known, so defaults were compared with the old ones.
    pub old_crds_known: bool,
    /// Objects of built-in kinds (and CRDs themselves): not custom resources of the set, not checked.
    pub not_custom: usize,
    /// Documents that are not objects: mappings without `apiVersion` and `kind`, and documents that are not
    /// mappings at all.
    pub ignored_documents: usize,
    /// Of those, the documents that are not mappings (a scrape config, a list of values), by file and line.
    pub not_objects: Vec<SkippedDocument>,
    /// The CRDs the objects were checked against.
    pub crds_known: usize,
    /// Counts per CRD (`metadata.name`), for CRDs with at least one object.
    pub crds: BTreeMap<String, CrdCounts>,
}

/// Counts for the objects of one CRD.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CrdCounts {
    /// The CRD's kind.
    pub kind: String,
    /// Objects checked against it.
    pub objects: usize,
    /// Of those, objects with at least one finding.
    pub objects_with_findings: usize,
    /// Objects losing data users wrote on their next write (a breaking `data-pruned` finding; status the
    /// operator rewrites does not count).
    pub objects_losing_data: usize,
    /// Findings per severity.
    pub blocker: usize,
    /// See `blocker`.
    pub breaking: usize,
    /// See `blocker`.
    pub warning: usize,
    /// See `blocker`.
    pub info: usize,
}

impl CrdCounts {
    fn count(&mut self, severity: Severity) {
        match severity {
            Severity::Blocker => self.blocker += 1,
            Severity::Breaking => self.breaking += 1,
            Severity::Warning => self.warning += 1,
            Severity::Info => self.info += 1,
        }
    }

    fn merge(&mut self, other: CrdCounts) {
        if self.kind.is_empty() {
            self.kind = other.kind;
        }
        self.objects += other.objects;
        self.objects_with_findings += other.objects_with_findings;
        self.objects_losing_data += other.objects_losing_data;
        self.blocker += other.blocker;
        self.breaking += other.breaking;
        self.warning += other.warning;
        self.info += other.info;
    }
}

/// Collects per-object outcomes into a [`ValidationReport`]; builders from parallel workers merge.
#[derive(Debug, Default)]
pub struct ReportBuilder {
    report: ValidationReport,
}

impl ReportBuilder {
    /// An empty builder.
    pub fn new() -> ReportBuilder {
        ReportBuilder::default()
    }

    /// Adds one object's outcome.
    pub fn add(&mut self, outcome: ObjectOutcome) {
        let summary = &mut self.report.summary;
        summary.objects += 1;
        if !outcome.findings.is_empty() {
            summary.objects_with_findings += 1;
        }
        match &outcome.class {
            ObjectClass::Checked(crd) => {
                summary.checked += 1;
                let counts = summary.crds.entry(crd.clone()).or_default();
                if counts.kind.is_empty() {
                    counts.kind.clone_from(&outcome.object.kind);
                }
                counts.objects += 1;
                counts.objects_with_findings += usize::from(!outcome.findings.is_empty());
                let loses_data = outcome
                    .findings
                    .iter()
                    .any(|f| f.code == FindingCode::DataPruned && f.severity >= Severity::Breaking);
                counts.objects_losing_data += usize::from(loses_data);
                outcome.findings.iter().for_each(|f| counts.count(f.severity));
            }
            ObjectClass::UnknownKind => summary.unknown_kind += 1,
            ObjectClass::OtherGroup => summary.other_group += 1,
            ObjectClass::NotCustom => summary.not_custom += 1,
        }
        self.report.findings.extend(outcome.findings);
    }

    /// Counts a document that is not an object (no `apiVersion`/`kind`).
    pub fn add_ignored_document(&mut self) {
        self.report.summary.ignored_documents += 1;
    }

    /// Counts a document that is not a mapping, and remembers where it is.
    pub fn add_not_object(&mut self, skipped: SkippedDocument) {
        self.report.summary.ignored_documents += 1;
        self.report.summary.not_objects.push(skipped);
    }

    /// Adds everything another builder collected.
    pub fn merge(&mut self, other: ReportBuilder) {
        let (mine, theirs) = (&mut self.report.summary, other.report.summary);
        mine.files += theirs.files;
        mine.objects += theirs.objects;
        mine.checked += theirs.checked;
        mine.objects_with_findings += theirs.objects_with_findings;
        mine.unknown_kind += theirs.unknown_kind;
        mine.other_group += theirs.other_group;
        mine.not_custom += theirs.not_custom;
        mine.ignored_documents += theirs.ignored_documents;
        mine.not_objects.extend(theirs.not_objects);
        for (crd, counts) in theirs.crds {
            mine.crds.entry(crd).or_default().merge(counts);
        }
        self.report.findings.extend(other.report.findings);
    }

    /// Sorts the findings and records what was read and known.
    pub fn finish(mut self, files: usize, crds_known: usize, old_crds_known: bool) -> ValidationReport {
        self.report.summary.files = files;
        self.report.summary.crds_known = crds_known;
        self.report.summary.old_crds_known = old_crds_known;
        sort_object_findings(&mut self.report.findings);
        self.report.summary.not_objects.sort();
        self.report
    }
}
