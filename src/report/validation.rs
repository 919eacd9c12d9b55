//! Rendering a validation report (`validate`, and the objects part of `plan --objects`): text for people
//! (coloured on a terminal), JSON for CI, markdown for a pull-request comment, GitHub Actions annotations.
//!
//! Data loss is the headline: when any object would lose fields on its next write, that comes first.

use super::markdown::{cell, icon};
use super::text::paint;
use super::{Detail, OutputFormat, SeverityCounts};
use crate::findings::{object_verdict, FindingCode, ObjectFinding, Severity, Verdict};
use crate::manifest::SkippedDocument;
use crate::schema::validate::{ValidationReport, ValidationSummary};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write;

/// What a validation report shows: the findings at or above a threshold, with counts of everything.
#[derive(Debug, Serialize)]
pub struct ValidationView<'a> {
    /// The verdict over all findings, hidden ones included.
    pub verdict: Verdict,
    /// The findings at or above `min_severity`.
    pub findings: Vec<&'a ObjectFinding>,
    /// Counts.
    pub summary: ValidationViewSummary<'a>,
    /// How much the text output shows.
    #[serde(skip)]
    pub detail: Detail,
}

/// The `summary` object of the JSON output.
#[derive(Debug, Serialize)]
pub struct ValidationViewSummary<'a> {
    /// Findings per severity, hidden ones included.
    #[serde(flatten)]
    pub severities: SeverityCounts,
    /// All findings.
    pub total: usize,
    /// Findings below `min_severity`, left out of `findings`.
    pub hidden: usize,
    /// The threshold applied.
    pub min_severity: Severity,
    /// Objects that lose data users wrote on their next write (a breaking `data-pruned` finding).
    pub objects_losing_data: usize,
    /// What was read and checked, with counts per CRD.
    #[serde(flatten)]
    pub counts: &'a ValidationSummary,
}

impl<'a> ValidationView<'a> {
    /// Selects what to show from a report.
    pub fn new(report: &'a ValidationReport, min_severity: Severity) -> ValidationView<'a> {
        let findings: Vec<&ObjectFinding> = report.findings.iter().filter(|f| f.severity >= min_severity).collect();
        ValidationView {
            verdict: object_verdict(&report.findings),
            summary: ValidationViewSummary {
                severities: SeverityCounts::of(report.findings.iter().map(|f| f.severity)),
                total: report.findings.len(),
                hidden: report.findings.len() - findings.len(),
                min_severity,
                objects_losing_data: report.summary.crds.values().map(|c| c.objects_losing_data).sum(),
                counts: &report.summary,
            },
            findings,
            detail: Detail::Every,
        }
    }

    /// Sets how much the text output shows.
    pub fn with_detail(mut self, detail: Detail) -> ValidationView<'a> {
        self.detail = detail;
        self
    }

    /// Renders in the given format; `color` only affects text. SARIF is not offered for objects (callers refuse it).
    pub fn render(&self, format: OutputFormat, color: bool) -> String {
        match format {
            OutputFormat::Text => self.text(color),
            OutputFormat::Markdown => self.markdown(),
            OutputFormat::Github => super::github::render_validation(self),
            OutputFormat::Json | OutputFormat::Sarif => self.json(),
        }
    }

    /// The one-line verdict shown at the end of text and markdown output.
    pub fn verdict_line(&self) -> String {
        let counts = self.summary.severities;
        let what = match self.verdict {
            Verdict::Blocker => "BLOCKED: objects cannot be kept under the new CRDs",
            Verdict::Breaking => "BREAKING: objects lose data or fail their next write under the new CRDs",
            Verdict::Warning => "REVIEW: objects read differently or need care when next changed",
            Verdict::Safe => "SAFE: every object is valid under the new CRDs",
        };
        format!("{what} ({counts})")
    }

    /// The data-loss headline, when any object loses data.
    fn data_loss_line(&self) -> Option<String> {
        let pruned: Vec<&&ObjectFinding> = self
            .findings
            .iter()
            .filter(|f| f.code == FindingCode::DataPruned && f.severity >= Severity::Breaking)
            .collect();
        let objects = self.summary.objects_losing_data;
        (objects > 0).then(|| {
            let fields = pruned.len();
            format!(
                "DATA LOSS: {objects} object(s) lose {fields} field(s) on their next write: the new schemas do not \
                 declare them (data-pruned below)"
            )
        })
    }

    fn json(&self) -> String {
        let mut out = serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        out.push('\n');
        out
    }

    fn text(&self, color: bool) -> String {
        let mut out = String::new();
        if let Some(line) = self.data_loss_line() {
            let _ = writeln!(out, "{}\n", paint(&line, Severity::Breaking, color));
        }
        let mut current_crd: Option<Option<&str>> = None;
        let mut current_object: Option<(&str, Option<&str>, &str)> = None;
        let summarised = |f: &ObjectFinding| self.detail == Detail::Summary && f.severity == Severity::Info;
        for finding in &self.findings {
            let crd = finding.crd.as_deref();
            if current_crd != Some(crd) {
                if let Some(previous) = current_crd {
                    self.info_lines(&mut out, previous, color);
                }
                let _ = writeln!(out, "{}{}", if current_crd.is_some() { "\n" } else { "" }, crd_heading(crd, self));
                current_crd = Some(crd);
                current_object = None;
            }
            if summarised(finding) {
                continue;
            }
            let object = (
                finding.object.api_version.as_str(),
                finding.object.namespace.as_deref(),
                finding.object.name.as_str(),
            );
            if current_object != Some(object) {
                let _ = writeln!(out, "  {}", object_heading(finding));
                current_object = Some(object);
            }
            let label = paint(&format!("{:<8}", finding.severity.as_str()), finding.severity, color);
            let _ = writeln!(out, "    {label} {:<26} {}", finding.code.as_str(), finding.path);
            let _ = writeln!(out, "             {}", finding.message);
            if let Some(rule) = &finding.rule {
                let _ = writeln!(out, "             rule: {rule}");
            }
        }
        if let Some(last) = current_crd {
            self.info_lines(&mut out, last, color);
        }
        if !self.findings.is_empty() {
            out.push('\n');
        }
        self.text_counts(&mut out);
        let _ = writeln!(out, "{}", self.verdict_line());
        out
    }

    /// In the summary, the info findings of one CRD: one line per code, with how many objects and an example.
    fn info_lines(&self, out: &mut String, crd: Option<&str>, color: bool) {
        if self.detail != Detail::Summary {
            return;
        }
        let infos: Vec<&ObjectFinding> =
            self.findings.iter().copied().filter(|f| f.crd.as_deref() == crd && f.severity == Severity::Info).collect();
        let codes: BTreeSet<FindingCode> = infos.iter().map(|f| f.code).collect();
        for code in codes {
            let of_code: Vec<&&ObjectFinding> = infos.iter().filter(|f| f.code == code).collect();
            let example = of_code[0];
            let objects: BTreeSet<(&str, Option<&str>, &str)> = of_code
                .iter()
                .map(|f| (f.object.api_version.as_str(), f.object.namespace.as_deref(), f.object.name.as_str()))
                .collect();
            let place = format!("{} {} {}", example.object.kind, example.object.display_name(), example.path);
            let what = match of_code.len() {
                1 => format!("{place}: {}", example.message),
                count => format!("{count} findings on {} object(s), e.g. {place}", objects.len()),
            };
            let label = paint(&format!("{:<8}", Severity::Info.as_str()), Severity::Info, color);
            let _ = writeln!(out, "  {label} {:<26} {what}", code.as_str());
        }
    }

    fn text_counts(&self, out: &mut String) {
        let s = self.summary.counts;
        let _ = writeln!(
            out,
            "Checked {} of {} objects against {} CRDs ({}): {} with findings; {} of a kind missing from a known \
             group, {} of other projects' groups and {} built-in or CRD objects not checked, {} documents that are \
             not objects ignored ({} file(s) read).",
            s.checked,
            s.objects,
            s.crds_known,
            if s.old_crds_known { "defaults compared with the old CRDs" } else { "old CRDs not given" },
            s.objects_with_findings,
            s.unknown_kind,
            s.other_group,
            s.not_custom,
            s.ignored_documents,
            s.files
        );
        write_not_objects(out, &s.not_objects);
        for (crd, counts) in &s.crds {
            let _ = writeln!(
                out,
                "  {crd} ({}): {} objects, {} with findings, {} losing data; {} breaking, {} warning, {} info",
                counts.kind,
                counts.objects,
                counts.objects_with_findings,
                counts.objects_losing_data,
                counts.breaking + counts.blocker,
                counts.warning,
                counts.info
            );
        }
        if self.detail == Detail::Summary && self.summary.severities.info > 0 {
            let _ = writeln!(out, "Info findings are shown one line per code (-v shows each).");
        }
        if self.summary.hidden > 0 {
            let _ = writeln!(
                out,
                "{} findings below {} hidden (--min-severity).",
                self.summary.hidden, self.summary.min_severity
            );
        }
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### operator-upgrade validate\n\n**{}**\n", self.verdict_line());
        if let Some(line) = self.data_loss_line() {
            let _ = writeln!(out, "> ⚠️ **{line}**\n");
        }
        let s = self.summary.counts;
        let _ = writeln!(
            out,
            "Checked {} of {} objects against {} CRDs; {} with findings, {} of a kind missing from a known group, \
             {} of other projects' groups.\n",
            s.checked, s.objects, s.crds_known, s.objects_with_findings, s.unknown_kind, s.other_group
        );
        if !s.crds.is_empty() {
            let _ = writeln!(out, "| CRD | kind | objects | with findings | losing data | breaking | warning | info |");
            let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
            for (crd, c) in &s.crds {
                let _ = writeln!(
                    out,
                    "| `{crd}` | {} | {} | {} | {} | {} | {} | {} |",
                    c.kind,
                    c.objects,
                    c.objects_with_findings,
                    c.objects_losing_data,
                    c.breaking + c.blocker,
                    c.warning,
                    c.info
                );
            }
        }
        let crds: BTreeSet<Option<&str>> = self.findings.iter().map(|f| f.crd.as_deref()).collect();
        for crd in crds {
            let _ = writeln!(
                out,
                "\n#### {}\n",
                crd.map_or_else(|| "Objects no CRD defines".to_owned(), |c| format!("`{c}`"))
            );
            let _ = writeln!(out, "| severity | code | object | path | what |\n|---|---|---|---|---|");
            for finding in self.findings.iter().filter(|f| f.crd.as_deref() == crd) {
                let _ = writeln!(
                    out,
                    "| {} {} | `{}` | {} `{}` | `{}` | {} |",
                    icon(finding.severity),
                    finding.severity,
                    finding.code,
                    cell(&finding.object.kind),
                    cell(&finding.object.display_name()),
                    cell(&finding.path),
                    cell(&finding.message)
                );
            }
        }
        if self.summary.hidden > 0 {
            let _ = writeln!(out, "\n_{} findings below {} hidden._", self.summary.hidden, self.summary.min_severity);
        }
        out
    }
}

/// Names the documents skipped because they are not mappings (they are in the ignored count already).
pub(super) fn write_not_objects(out: &mut String, skipped: &[SkippedDocument]) {
    if skipped.is_empty() {
        return;
    }
    let _ = writeln!(out, "Skipped {} document(s) that are not Kubernetes objects (not mappings):", skipped.len());
    for document in skipped {
        let _ = writeln!(out, "  {document}");
    }
}

fn crd_heading(crd: Option<&str>, view: &ValidationView<'_>) -> String {
    match crd.and_then(|name| view.summary.counts.crds.get(name).map(|counts| (name, counts))) {
        Some((name, counts)) => format!(
            "{name} ({}): {} objects, {} with findings",
            counts.kind, counts.objects, counts.objects_with_findings
        ),
        None => "Objects no CRD of the new set defines".to_owned(),
    }
}

fn object_heading(finding: &ObjectFinding) -> String {
    let object = &finding.object;
    let source = finding.source.as_ref().map(|s| format!(", {}:{}", s.file, s.line)).unwrap_or_default();
    let checked = finding.version.as_ref().map(|v| format!(", checked at {v}")).unwrap_or_default();
    format!("{} {} ({}{checked}{source})", object.kind, object.display_name(), object.api_version)
}
