//! The plan: what changes between two releases and how risky each change is. For now the CRD findings
//! with their summary; later issues add the operator diff and the ordered steps.

use crate::findings::{Finding, SourceLocation, Verdict};
use crate::manifest::{line_of_schema_path, DocumentRef, ManifestSet};
use crate::schema::diff_crd_sets;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The result of comparing two releases.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every finding, sorted.
    pub findings: Vec<Finding>,
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
    /// Documents without `apiVersion`/`kind`, skipped on either side.
    pub ignored_documents: usize,
}

impl Plan {
    /// Compares two loaded releases.
    pub fn build(old: &ManifestSet, new: &ManifestSet) -> Plan {
        let findings = diff_crd_sets(&old.crds, &new.crds);
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
        };
        Plan { findings, inputs, sources }
    }

    /// The verdict over every finding (independent of what a report hides).
    pub fn verdict(&self) -> Verdict {
        Verdict::of(&self.findings)
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
