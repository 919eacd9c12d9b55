//! The markdown output, for a pull-request comment: the verdict first, then one table per CRD.

use super::{location_of, PlanReport};
use crate::findings::Severity;
use std::fmt::Write;

fn icon(severity: Severity) -> &'static str {
    match severity {
        Severity::Blocker => "⛔",
        Severity::Breaking => "🔴",
        Severity::Warning => "🟡",
        Severity::Info => "🔵",
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub(super) fn render(report: &PlanReport<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### operator-upgrade plan\n\n**{}**\n", report.verdict_line());
    let mut current_crd: Option<&str> = None;
    for finding in &report.findings {
        if current_crd != Some(finding.crd.as_str()) {
            let _ = writeln!(out, "\n#### `{}`\n\n| severity | code | where | what |\n|---|---|---|---|", finding.crd);
            current_crd = Some(&finding.crd);
        }
        let _ = writeln!(
            out,
            "| {} {} | `{}` | `{}` | {} |",
            icon(finding.severity),
            finding.severity,
            finding.code,
            cell(&location_of(finding)),
            cell(&finding.message)
        );
    }
    let s = &report.summary;
    if s.hidden > 0 {
        let _ = writeln!(out, "\n_{} findings below {} hidden._", s.hidden, s.min_severity);
    }
    out
}
