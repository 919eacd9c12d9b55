//! Renderers for people and machines: text, JSON, markdown and SARIF, all from one [`PlanReport`].

mod json;
mod markdown;
mod sarif;
mod text;

use crate::findings::{Finding, Severity, Verdict};
use crate::plan::{InputSummary, Plan};
use serde::Serialize;

/// The output formats `plan` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Grouped by CRD and version, for people.
    Text,
    /// The stable machine interface documented in the README.
    Json,
    /// A pull-request comment.
    Markdown,
    /// SARIF 2.1.0 for code scanning.
    Sarif,
}

/// What a report shows: the findings at or above a threshold, with counts of everything.
#[derive(Debug, Serialize)]
pub struct PlanReport<'a> {
    /// The verdict over all findings, hidden ones included.
    pub verdict: Verdict,
    /// The findings at or above `min_severity`.
    pub findings: Vec<&'a Finding>,
    /// Counts.
    pub summary: ReportSummary<'a>,
}

/// The `summary` object of the JSON output.
#[derive(Debug, Serialize)]
pub struct ReportSummary<'a> {
    /// Findings per severity, hidden ones included.
    pub blocker: usize,
    /// See `blocker`.
    pub breaking: usize,
    /// See `blocker`.
    pub warning: usize,
    /// See `blocker`.
    pub info: usize,
    /// All findings.
    pub total: usize,
    /// Findings below `min_severity`, left out of `findings`.
    pub hidden: usize,
    /// The threshold applied.
    pub min_severity: Severity,
    /// What was compared.
    #[serde(flatten)]
    pub inputs: &'a InputSummary,
}

impl<'a> PlanReport<'a> {
    /// Selects what to show from a plan.
    pub fn new(plan: &'a Plan, min_severity: Severity) -> PlanReport<'a> {
        let count = |s: Severity| plan.findings.iter().filter(|f| f.severity == s).count();
        let findings: Vec<&Finding> = plan.findings.iter().filter(|f| f.severity >= min_severity).collect();
        PlanReport {
            verdict: plan.verdict(),
            summary: ReportSummary {
                blocker: count(Severity::Blocker),
                breaking: count(Severity::Breaking),
                warning: count(Severity::Warning),
                info: count(Severity::Info),
                total: plan.findings.len(),
                hidden: plan.findings.len() - findings.len(),
                min_severity,
                inputs: &plan.inputs,
            },
            findings,
        }
    }

    /// Renders in the given format; `color` only affects text.
    pub fn render(&self, format: OutputFormat, color: bool) -> String {
        match format {
            OutputFormat::Text => text::render(self, color),
            OutputFormat::Json => json::render(self),
            OutputFormat::Markdown => markdown::render(self),
            OutputFormat::Sarif => sarif::render(self),
        }
    }

    /// The one-line verdict shown at the end of text and markdown output.
    pub fn verdict_line(&self) -> String {
        let s = &self.summary;
        let counts = format!("{} blocker, {} breaking, {} warning, {} info", s.blocker, s.breaking, s.warning, s.info);
        let what = match self.verdict {
            Verdict::Blocker => {
                "BLOCKED: the API server would reject this upgrade or stored data would become unreachable"
            }
            Verdict::Breaking => "BREAKING: existing objects or clients break",
            Verdict::Warning => "REVIEW: some objects may break or behave differently",
            Verdict::Safe => "SAFE: additive changes only",
        };
        format!("{what} ({counts})")
    }
}

/// A path for display: `.` for a CRD-level finding.
fn location_of(finding: &Finding) -> String {
    match (&finding.version, &finding.path) {
        (Some(v), Some(p)) => format!("{v} {p}"),
        (Some(v), None) => v.clone(),
        (None, Some(p)) => p.clone(),
        (None, None) => "(crd)".to_owned(),
    }
}
