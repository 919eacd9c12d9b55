//! Renderers for people and machines: text, JSON, markdown, SARIF and GitHub Actions annotations, all from one
//! [`PlanReport`].

mod github;
mod group;
mod helm;
mod markdown;
mod sarif;
mod text;
mod validation;

use validation::Pieces;
pub use validation::{ValidationView, ValidationViewSummary};

use crate::findings::{Finding, OperatorFinding, Severity, Verdict};
use crate::plan::file::LoadedPlan;
use crate::plan::steps::{Refusal, Step};
use crate::plan::{InputSummary, Plan};
use serde::Serialize;

/// The output formats `plan` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// For people: warnings and above in full, repeated changes grouped, info one line per code (`-v`: each).
    Text,
    /// The stable machine interface (docs/reference/json-output.md).
    Json,
    /// A pull-request comment.
    Markdown,
    /// SARIF 2.1.0 for code scanning.
    Sarif,
    /// GitHub Actions workflow commands: each finding an error, warning or notice on the pull request's diff.
    Github,
}

/// How much of the findings the text output shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Detail {
    /// Every finding at or above the threshold, one by one (`-v`, `--min-severity`, and every other format).
    #[default]
    Every,
    /// The text default: warnings and above in full with repeated changes grouped, info one line per code per
    /// CRD (count and an example), so a typical plan fits on one screen.
    Summary,
}

/// What a report shows: the findings at or above a threshold, with counts of everything.
#[derive(Debug, Serialize)]
pub struct PlanReport<'a> {
    /// The verdict over all findings, hidden ones included.
    pub verdict: Verdict,
    /// The CRD findings at or above `min_severity`.
    pub findings: Vec<&'a Finding>,
    /// The operator manifest findings at or above `min_severity`.
    pub operator_findings: Vec<&'a OperatorFinding>,
    /// The readiness lint findings at or above `min_severity`, regressions first.
    pub lint: Vec<&'a OperatorFinding>,
    /// Why the plan cannot run as it is; empty when it can.
    pub refusals: &'a [Refusal],
    /// What `apply` would run, in order.
    pub steps: &'a [Step],
    /// The existing objects checked against the new CRDs (`plan --objects`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objects: Option<ValidationView<'a>>,
    /// The plan file, every default filled in, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_file: Option<PlanFileView>,
    /// An upgrade through Helm: the release, both charts, values and CRDs Helm would delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helm: Option<&'a crate::helm::HelmComparison>,
    /// Counts.
    pub summary: ReportSummary<'a>,
    /// How much the text output shows.
    #[serde(skip)]
    pub detail: Detail,
}

/// The plan file as reports show it.
#[derive(Debug, Serialize)]
pub struct PlanFileView {
    /// The file, as given.
    pub file: String,
    /// `metadata.name`.
    pub name: String,
    /// The operator, in one line (`Deployment ns/name, container c`).
    pub operator: String,
    /// Every setting, defaults included, exactly as `apply` will use them.
    pub resolved: serde_json::Value,
}

/// How many findings there are of each severity (the `blocker`, `breaking`, `warning` and `info` keys of
/// every JSON summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    /// Blockers.
    pub blocker: usize,
    /// Breaking findings.
    pub breaking: usize,
    /// Warnings.
    pub warning: usize,
    /// Info findings.
    pub info: usize,
}

impl SeverityCounts {
    /// Counts the given severities.
    pub fn of(severities: impl IntoIterator<Item = Severity>) -> SeverityCounts {
        let mut counts = SeverityCounts::default();
        for severity in severities {
            *match severity {
                Severity::Blocker => &mut counts.blocker,
                Severity::Breaking => &mut counts.breaking,
                Severity::Warning => &mut counts.warning,
                Severity::Info => &mut counts.info,
            } += 1;
        }
        counts
    }
}

impl std::fmt::Display for SeverityCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} blocker, {} breaking, {} warning, {} info", self.blocker, self.breaking, self.warning, self.info)
    }
}

/// The `summary` object of the JSON output.
#[derive(Debug, Serialize)]
pub struct ReportSummary<'a> {
    /// Counted findings per severity (CRD, operator, lint regressions and objects), hidden ones included.
    #[serde(flatten)]
    pub severities: SeverityCounts,
    /// All findings of every section, lint problems the old release already had included.
    pub total: usize,
    /// Findings below `min_severity`, left out of the lists.
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
        let findings: Vec<&Finding> = plan.findings.iter().filter(|f| f.severity >= min_severity).collect();
        let shown = |list: &'a [OperatorFinding]| -> Vec<&'a OperatorFinding> {
            list.iter().filter(|f| f.severity >= min_severity).collect()
        };
        let (operator_findings, lint) = (shown(&plan.operator_findings), shown(&plan.lint));
        let objects = plan.objects.as_ref().map(|report| ValidationView::new(report, min_severity));
        let (object_total, object_shown) =
            objects.as_ref().map_or((0, 0), |view| (view.summary.total, view.summary.total - view.summary.hidden));
        let total = plan.findings.len() + plan.operator_findings.len() + plan.lint.len() + object_total;
        PlanReport {
            verdict: plan.verdict(),
            summary: ReportSummary {
                severities: SeverityCounts::of(plan.counted_severities()),
                total,
                hidden: total - findings.len() - operator_findings.len() - lint.len() - object_shown,
                min_severity,
                inputs: &plan.inputs,
            },
            findings,
            operator_findings,
            lint,
            refusals: &plan.refusals,
            steps: &plan.steps,
            objects,
            plan_file: None,
            helm: None,
            detail: Detail::Every,
        }
    }

    /// Sets how much the text output shows (for the objects section too).
    pub fn with_detail(mut self, detail: Detail) -> PlanReport<'a> {
        self.detail = detail;
        self.objects = self.objects.map(|view| view.with_detail(detail));
        self
    }

    /// Lists the objects' findings one by one instead of grouped, when they were kept (`--each`).
    pub fn objects_one_by_one_if(mut self, each: bool) -> PlanReport<'a> {
        self.objects = self.objects.map(|view| view.one_by_one_if(each));
        self
    }

    /// Adds the plan file to the report, so its resolved settings are part of the output.
    pub fn with_plan_file(mut self, loaded: &LoadedPlan) -> PlanReport<'a> {
        let operator = loaded.operator();
        self.plan_file = Some(PlanFileView {
            file: loaded.file.display().to_string(),
            name: loaded.name().to_owned(),
            operator: format!(
                "Deployment {}/{}, container {}",
                operator.namespace, operator.deployment, operator.container
            ),
            resolved: loaded.resolved_json(),
        });
        self
    }

    /// Adds what an upgrade through Helm changes beyond the manifests.
    pub fn with_helm(mut self, comparison: &'a crate::helm::HelmComparison) -> PlanReport<'a> {
        self.helm = Some(comparison);
        self
    }

    /// Renders in the given format into a string; `color` only affects text. See [`PlanReport::render_to`].
    pub fn render(&self, format: OutputFormat, color: bool) -> String {
        validation::into_string(|out| self.render_to(format, color, out))
    }

    /// Writes the report in the given format as it is rendered: the objects' findings one by one (`--each`)
    /// stream from their spool, never held whole.
    pub fn render_to(&self, format: OutputFormat, color: bool, sink: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut out = Pieces::new(sink);
        match format {
            OutputFormat::Text => text::render(self, color, &mut out)?,
            OutputFormat::Json => out.json(self)?,
            OutputFormat::Markdown => markdown::render(self, &mut out)?,
            OutputFormat::Sarif => sarif::write(self, &mut out)?,
            OutputFormat::Github => github::render(self, &mut out)?,
        }
        out.finish()
    }

    /// The one-line verdict shown at the end of text and markdown output.
    pub fn verdict_line(&self) -> String {
        let counts = self.summary.severities;
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
