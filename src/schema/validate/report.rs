//! The result of validating many objects: the findings grouped (and, when asked, every one of them in a
//! [`FindingSpool`]), and counts per CRD, assembled from per-object outcomes in any order (parallel workers
//! each fill a [`ReportBuilder`] and merge them). Memory is bounded by the groups, never by the findings.

use super::groups::{FindingGroup, Grouper};
use super::spool::{FindingSpool, SpoolBatch};
use super::{ObjectClass, ObjectOutcome};
use crate::findings::{FindingCode, ObjectFinding, Severity};
use crate::manifest::SkippedDocument;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The findings about the objects validated, grouped, with the counts a report shows.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ValidationReport {
    /// Identical findings across objects as one group each (every finding is in exactly one), by CRD, the
    /// worst first.
    pub groups: Vec<FindingGroup>,
    /// What was read and checked.
    pub summary: ValidationSummary,
    /// Every finding one by one, when the validation was asked to keep them (`--each`).
    #[serde(skip)]
    pub each: Option<Arc<FindingSpool>>,
}

impl ValidationReport {
    /// The severity of every finding, one per finding (a group of 100 yields its severity 100 times).
    pub fn severities(&self) -> impl Iterator<Item = Severity> + '_ {
        self.groups.iter().flat_map(|g| std::iter::repeat_n(g.key.severity, g.count))
    }

    /// How many findings there are.
    pub fn total(&self) -> usize {
        self.groups.iter().map(|g| g.count).sum()
    }

    /// Every finding, read back into memory and sorted (CRD, namespace, name, path, code): for small inputs and
    /// tests, as it holds them all. Empty when the validation did not keep them ([`validate_paths_keeping`]).
    ///
    /// [`validate_paths_keeping`]: super::validate_paths_keeping
    pub fn every_finding(&self) -> std::io::Result<Vec<ObjectFinding>> {
        let mut findings = match self.each(Severity::Info) {
            Some(each) => each.collect::<std::io::Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        crate::findings::sort_object_findings(&mut findings);
        Ok(findings)
    }

    /// The findings at or above `min_severity`, one by one (`--each`), or `None` when they were not kept.
    pub fn each(&self, min_severity: Severity) -> Option<impl Iterator<Item = std::io::Result<ObjectFinding>> + '_> {
        let spool = self.each.as_deref()?;
        Some(spool.findings().filter(move |f| f.as_ref().map_or(true, |f| f.key.severity >= min_severity)))
    }
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
    grouper: Grouper,
    /// With a spool: the current batch's findings, written by [`ReportBuilder::end_batch`].
    batch: SpoolBatch,
}

impl ReportBuilder {
    /// An empty builder that groups findings.
    pub fn new() -> ReportBuilder {
        ReportBuilder::default()
    }

    /// An empty builder that also keeps every finding in `spool` (shared by the builders of one validation).
    pub fn keeping_each(spool: Option<Arc<FindingSpool>>) -> ReportBuilder {
        ReportBuilder { report: ValidationReport { each: spool, ..ValidationReport::default() }, ..Self::default() }
    }

    /// Writes the findings added since the last batch to the spool, as batch `sequence` of the input.
    pub fn end_batch(&mut self, sequence: u64) -> std::io::Result<()> {
        match &self.report.each {
            Some(spool) if !self.batch.is_empty() => spool.write(sequence, std::mem::take(&mut self.batch)),
            _ => Ok(()),
        }
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
                    .any(|f| f.key.code == FindingCode::DataPruned && f.key.severity >= Severity::Breaking);
                counts.objects_losing_data += usize::from(loses_data);
                outcome.findings.iter().for_each(|f| counts.count(f.key.severity));
            }
            ObjectClass::UnknownKind => summary.unknown_kind += 1,
            ObjectClass::OtherGroup => summary.other_group += 1,
            ObjectClass::NotCustom => summary.not_custom += 1,
        }
        for finding in outcome.findings {
            if self.report.each.is_some() {
                self.batch.push(&finding);
            }
            self.grouper.add(finding);
        }
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
        self.grouper.merge(other.grouper);
        if self.report.each.is_none() {
            self.report.each = other.report.each;
        }
    }

    /// Sorts the findings and records what was read and known.
    pub fn finish(mut self, files: usize, crds_known: usize, old_crds_known: bool) -> ValidationReport {
        self.report.summary.files = files;
        self.report.summary.crds_known = crds_known;
        self.report.summary.old_crds_known = old_crds_known;
        self.report.groups = self.grouper.finish();
        self.report.summary.not_objects.sort();
        self.report
    }
}
