//! The markdown output, for a pull-request comment: the verdict first, then one table per CRD.

use super::validation::Pieces;
use super::{group, location_of, PlanReport};
use crate::findings::{OperatorFinding, Severity};
use std::fmt::Write;

/// The severity as an emoji, so tables scan at a glance.
pub(super) fn icon(severity: Severity) -> &'static str {
    match severity {
        Severity::Blocker => "⛔",
        Severity::Breaking => "🔴",
        Severity::Warning => "🟡",
        Severity::Info => "🔵",
    }
}

/// Text safe inside a markdown table cell.
pub(super) fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The plan as markdown; the objects section is written as it is rendered (a million findings with `--each`).
pub(super) fn render(report: &PlanReport<'_>, sink: &mut Pieces<'_>) -> std::io::Result<()> {
    let mut out = String::new();
    let _ = writeln!(out, "### operator-upgrade plan\n\n**{}**\n", report.verdict_line());
    // The same change in many places is one row; every finding is in exactly one row.
    let (repeated, alone) = group::repeated(&report.findings);
    super::helm::markdown(&mut out, report);
    repeated_table(&mut out, &repeated);
    let mut current_crd: Option<&str> = None;
    for finding in alone {
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
    operator_table(&mut out, "Operator manifests", &report.operator_findings);
    operator_table(&mut out, "Readiness of the new release", &report.lint);
    if let Some(view) = &report.objects {
        let _ = writeln!(out, "\n#### Existing objects under the new CRDs\n");
        sink.push_str(&std::mem::take(&mut out));
        view.write(super::OutputFormat::Markdown, false, sink)?;
    }
    refusals_or_steps(&mut out, report);
    let s = &report.summary;
    if s.hidden > 0 {
        let _ = writeln!(out, "\n_{} findings below {} hidden._", s.hidden, s.min_severity);
    }
    sink.push_str(&out);
    Ok(())
}

fn repeated_table(out: &mut String, repeated: &[group::Repeated<'_>]) {
    if repeated.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n#### Repeated changes\n\n| severity | code | change | where |\n|---|---|---|---|");
    for group in repeated {
        let places: Vec<String> = group.places().iter().map(|place| cell(place)).collect();
        let _ = writeln!(
            out,
            "| {} {} | `{}` | {} ({} places) | {} |",
            icon(group.severity),
            group.severity,
            group.code,
            cell(&group.shape),
            group.members.len(),
            places.join("<br>")
        );
    }
}

fn operator_table(out: &mut String, title: &str, findings: &[&OperatorFinding]) {
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n#### {title}\n\n| severity | code | object | where | what |\n|---|---|---|---|---|");
    for finding in findings {
        let new = if finding.regression { " (new)" } else { "" };
        let _ = writeln!(
            out,
            "| {} {}{new} | `{}` | {} | `{}` | {} |",
            icon(finding.severity),
            finding.severity,
            finding.code,
            cell(&finding.object.to_string()),
            cell(finding.field.as_deref().unwrap_or("")),
            cell(&finding.message)
        );
    }
}

fn refusals_or_steps(out: &mut String, report: &PlanReport<'_>) {
    if !report.refusals.is_empty() {
        let _ = writeln!(out, "\n#### Refused: do these first\n");
        for refusal in report.refusals {
            let _ = writeln!(out, "- `{}` (`{}`): {}", refusal.crd, refusal.code, refusal.first);
        }
        return;
    }
    let _ = writeln!(out, "\n#### Steps\n");
    for (index, step) in report.steps.iter().enumerate() {
        let _ = writeln!(out, "{}. **{}**: {} _({})_", index + 1, step.kind, step.title, step.why);
        for action in &step.actions {
            let _ = writeln!(out, "   - {}", cell(action));
        }
    }
}
