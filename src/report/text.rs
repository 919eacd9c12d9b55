//! The text output for people: CRD findings grouped by CRD and version, operator findings grouped by
//! object, the readiness lint, then the refusals or the steps, severities coloured on a terminal.

use super::PlanReport;
use crate::findings::{Finding, OperatorFinding, Severity};
use anstyle::{AnsiColor, Style};
use std::fmt::Write;

/// `text` in the severity's colour (bold), or as is without colour.
pub(super) fn paint(text: &str, severity: Severity, color: bool) -> String {
    if !color {
        return text.to_owned();
    }
    let color = match severity {
        Severity::Blocker => AnsiColor::BrightRed,
        Severity::Breaking => AnsiColor::Red,
        Severity::Warning => AnsiColor::Yellow,
        Severity::Info => AnsiColor::Cyan,
    };
    let style = Style::new().fg_color(Some(color.into())).bold();
    format!("{style}{text}{style:#}")
}

fn label(severity: Severity, color: bool) -> String {
    paint(&format!("{:<8}", severity.as_str()), severity, color)
}

pub(super) fn render(report: &PlanReport<'_>, color: bool) -> String {
    let mut out = String::new();
    plan_file(&mut out, report);
    crd_findings(&mut out, report, color);
    operator_findings(&mut out, report, color);
    lint_findings(&mut out, report, color);
    objects(&mut out, report, color);
    refusals_or_steps(&mut out, report);
    summary(&mut out, report);
    out
}

fn plan_file(out: &mut String, report: &PlanReport<'_>) {
    let Some(view) = &report.plan_file else { return };
    heading(out, &format!("Plan {} ({})", view.name, view.file));
    let _ = writeln!(out, "{}; every setting with its default: --output json, key plan_file.resolved", view.operator);
}

fn heading(out: &mut String, title: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "== {title}");
}

fn crd_findings(out: &mut String, report: &PlanReport<'_>, color: bool) {
    if report.findings.is_empty() {
        return;
    }
    heading(out, "CRDs");
    let mut current_crd: Option<&str> = None;
    let mut current_version: Option<Option<&str>> = None;
    for finding in &report.findings {
        if current_crd != Some(finding.crd.as_str()) {
            let _ = writeln!(out, "{}{}", if current_crd.is_some() { "\n" } else { "" }, finding.crd);
            current_crd = Some(&finding.crd);
            current_version = None;
        }
        if current_version != Some(finding.version.as_deref()) {
            if let Some(version) = &finding.version {
                let _ = writeln!(out, "  {version}");
            }
            current_version = Some(finding.version.as_deref());
        }
        write_finding(out, finding, color);
    }
}

fn operator_findings(out: &mut String, report: &PlanReport<'_>, color: bool) {
    if report.operator_findings.is_empty() {
        return;
    }
    heading(out, "Operator manifests");
    let mut current = None;
    for finding in &report.operator_findings {
        if current != Some(&finding.object) {
            let _ = writeln!(out, "{}", finding.object);
            current = Some(&finding.object);
        }
        write_operator_finding(out, finding, color);
        if let Some(diff) = &finding.diff {
            for line in diff.lines() {
                let _ = writeln!(out, "             {line}");
            }
        }
    }
}

fn lint_findings(out: &mut String, report: &PlanReport<'_>, color: bool) {
    if report.lint.is_empty() {
        return;
    }
    heading(out, "Readiness of the new release");
    let (new, known): (Vec<&OperatorFinding>, Vec<&OperatorFinding>) = report.lint.iter().partition(|f| f.regression);
    let mut current = None;
    for finding in new {
        if current != Some(&finding.object) {
            let _ = writeln!(out, "{} (new in this release)", finding.object);
            current = Some(&finding.object);
        }
        write_operator_finding(out, finding, color);
    }
    // Problems the old release already had are not the upgrade's doing: one line per object keeps the
    // plan on one screen while still naming every code.
    let mut by_object: Vec<(&crate::findings::ManifestRef, Vec<&str>)> = Vec::new();
    for finding in known {
        match by_object.iter_mut().find(|(object, _)| *object == &finding.object) {
            Some((_, codes)) => codes.push(finding.code.as_str()),
            None => by_object.push((&finding.object, vec![finding.code.as_str()])),
        }
    }
    for (object, codes) in by_object {
        let _ = writeln!(out, "{object} (as in the old release): {}", codes.join(", "));
    }
}

fn objects(out: &mut String, report: &PlanReport<'_>, color: bool) {
    let Some(view) = &report.objects else { return };
    heading(out, "Existing objects under the new CRDs");
    out.push_str(&view.render(super::OutputFormat::Text, color));
}

fn refusals_or_steps(out: &mut String, report: &PlanReport<'_>) {
    if !report.refusals.is_empty() {
        heading(out, "REFUSED: this upgrade cannot run until these are done first");
        for refusal in report.refusals {
            let version = refusal.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
            let _ = writeln!(out, "  - {}{version} ({}): {}", refusal.crd, refusal.code, refusal.first);
        }
        return;
    }
    heading(out, "Steps apply would run");
    for (index, step) in report.steps.iter().enumerate() {
        let _ = writeln!(out, "{:>3}. {:<17} {}", index + 1, step.kind.as_str(), step.title);
        let _ = writeln!(out, "{:>22} {}", "why:", step.why);
        for action in &step.actions {
            let _ = writeln!(out, "{:>22} {action}", "-");
        }
    }
}

fn summary(out: &mut String, report: &PlanReport<'_>) {
    out.push('\n');
    let s = &report.summary;
    let _ = writeln!(
        out,
        "Compared {} CRDs with {} ({} added, {} removed, {} changed).",
        s.inputs.crds_old, s.inputs.crds_new, s.inputs.crds_added, s.inputs.crds_removed, s.inputs.crds_changed
    );
    super::validation::write_not_objects(out, &s.inputs.not_objects);
    if s.hidden > 0 {
        let _ = writeln!(out, "{} findings below {} hidden (--min-severity).", s.hidden, s.min_severity);
    }
    let _ = writeln!(out, "{}", report.verdict_line());
}

fn write_operator_finding(out: &mut String, finding: &OperatorFinding, color: bool) {
    let field = finding.field.as_deref().unwrap_or("");
    let _ = writeln!(out, "  {} {:<34} {field}", label(finding.severity, color), finding.code.as_str());
    // The object is the group's heading already.
    let prefix = format!("{}: ", finding.object);
    let _ = writeln!(out, "           {}", finding.message.strip_prefix(&prefix).unwrap_or(&finding.message));
}

fn write_finding(out: &mut String, finding: &Finding, color: bool) {
    let indent = if finding.version.is_some() { "    " } else { "  " };
    let path = finding.path.as_deref().unwrap_or("");
    let _ = writeln!(out, "{indent}{} {:<34} {path}", label(finding.severity, color), finding.code.as_str());
    let _ = writeln!(out, "{indent}         {}", finding.message);
}
