//! The text output for people: CRD findings grouped by CRD and version, operator findings grouped by
//! object, the readiness lint, then the refusals or the steps, severities coloured on a terminal.

use super::validation::Pieces;
use super::{group, Detail, PlanReport};
use crate::findings::{Finding, OperatorFinding, Severity};
use anstyle::{AnsiColor, Style};
use std::collections::BTreeSet;
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

/// The plan as text; the objects section is written as it is rendered (a million findings with `--each`).
pub(super) fn render(report: &PlanReport<'_>, color: bool, sink: &mut Pieces<'_>) -> std::io::Result<()> {
    let mut out = String::new();
    plan_file(&mut out, report);
    super::helm::text(&mut out, report);
    crd_findings(&mut out, report, color);
    operator_findings(&mut out, report, color);
    lint_findings(&mut out, report, color);
    let mut started = !out.is_empty();
    sink.push_str(&out);
    if let Some(view) = &report.objects {
        sink.push_str(if started { "\n" } else { "" });
        sink.push_str("== Existing objects under the new CRDs\n");
        view.write(super::OutputFormat::Text, color, sink)?;
        started = true;
    }
    let mut out = String::new();
    refusals_or_steps(&mut out, report);
    summary(&mut out, report);
    sink.push_str(if started { "\n" } else { "" });
    sink.push_str(&out);
    Ok(())
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
    match report.detail {
        Detail::Every => every_crd_finding(out, &report.findings, color),
        Detail::Summary => summarised_crd_findings(out, &report.findings, color),
    }
}

/// Warnings and above in full, those repeated across paths and CRDs as one group each; info one line per code
/// per CRD.
fn summarised_crd_findings(out: &mut String, findings: &[&Finding], color: bool) {
    let (loud, quiet): (Vec<&Finding>, Vec<&Finding>) = findings.iter().partition(|f| f.severity >= Severity::Warning);
    let (repeated, alone) = group::repeated(&loud);
    if !repeated.is_empty() {
        let _ = writeln!(out, "Repeated changes (one line per change, then where):");
        for group in &repeated {
            write_repeated(out, group, color);
        }
    }
    let crds: BTreeSet<&str> = alone.iter().chain(&quiet).map(|f| f.crd.as_str()).collect();
    for (index, crd) in crds.into_iter().enumerate() {
        let separator = if index > 0 || !repeated.is_empty() { "\n" } else { "" };
        let _ = writeln!(out, "{separator}{crd}");
        let mine: Vec<&Finding> = alone.iter().copied().filter(|f| f.crd == crd).collect();
        write_by_version(out, &mine, color);
        let infos: Vec<&Finding> = quiet.iter().copied().filter(|f| f.crd == crd).collect();
        for summary in group::per_code(&infos) {
            let what = match summary.count {
                1 => summary.example.message.clone(),
                count => format!("{count} findings, e.g. {}", super::location_of(summary.example)),
            };
            let _ = writeln!(out, "  {} {:<34} {what}", label(Severity::Info, color), summary.code.as_str());
        }
    }
}

/// One group of repeated changes: the code and the message's shape, then where, one line per set of paths.
pub(super) fn write_repeated(out: &mut String, group: &group::Repeated<'_>, color: bool) {
    let (count, crds) = (group.members.len(), group.crd_count());
    let _ = writeln!(
        out,
        "  {} {:<34} {count} places in {crds} CRD(s): {}",
        label(group.severity, color),
        group.code.as_str(),
        group.shape
    );
    for place in group.places() {
        let _ = writeln!(out, "           {place}");
    }
}

/// Every finding one by one, grouped by CRD and version (`-v`).
fn every_crd_finding(out: &mut String, findings: &[&Finding], color: bool) {
    let mut current_crd: Option<&str> = None;
    let mut current_version: Option<Option<&str>> = None;
    for finding in findings {
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

/// The findings of one CRD in full under their version headings.
fn write_by_version(out: &mut String, findings: &[&Finding], color: bool) {
    let mut current_version: Option<Option<&str>> = None;
    for finding in findings {
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
    for (index, finding) in report.operator_findings.iter().enumerate() {
        if current != Some(&finding.object) {
            let _ = writeln!(out, "{}", finding.object);
            current = Some(&finding.object);
        }
        if report.detail == Detail::Summary && finding.severity == Severity::Info {
            summarise_operator_info(out, &report.operator_findings, index, color);
            continue;
        }
        write_operator_finding(out, finding, color);
        if let Some(diff) = &finding.diff {
            for line in diff.lines() {
                let _ = writeln!(out, "             {line}");
            }
        }
    }
}

/// The summary line of the info findings of one object and code, written at the first of them: the message
/// for a single one, the count and an example field for several (their diffs only with `-v`).
fn summarise_operator_info(out: &mut String, findings: &[&OperatorFinding], index: usize, color: bool) {
    let finding = findings[index];
    let same =
        |f: &&&OperatorFinding| f.object == finding.object && f.code == finding.code && f.severity == Severity::Info;
    if findings[..index].iter().any(|f| same(&f)) {
        return;
    }
    let count = findings[index..].iter().filter(|f| same(f)).count();
    let prefix = format!("{}: ", finding.object);
    let what = match count {
        1 => finding.message.strip_prefix(&prefix).unwrap_or(&finding.message).to_owned(),
        _ => format!("{count} findings, e.g. {}", finding.field.as_deref().unwrap_or("(object)")),
    };
    let diff = if finding.diff.is_some() { " (diff: -v)" } else { "" };
    let _ = writeln!(out, "  {} {:<34} {what}{diff}", label(Severity::Info, color), finding.code.as_str());
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
    if report.detail == Detail::Summary && s.severities.info > 0 {
        let _ = writeln!(out, "Info findings are shown one line per code (-v shows each).");
    }
    if s.hidden > 0 {
        let _ = writeln!(out, "{} findings below {} hidden (--min-severity).", s.hidden, s.min_severity);
    }
    let _ = writeln!(out, "{}", report.verdict_line());
}

fn write_operator_finding(out: &mut String, finding: &OperatorFinding, color: bool) {
    let field = finding.field.as_deref().unwrap_or("");
    let head = format!("  {} {:<34} {field}", label(finding.severity, color), finding.code.as_str());
    let _ = writeln!(out, "{}", head.trim_end());
    // The object is the group's heading already.
    let prefix = format!("{}: ", finding.object);
    let _ = writeln!(out, "           {}", finding.message.strip_prefix(&prefix).unwrap_or(&finding.message));
}

fn write_finding(out: &mut String, finding: &Finding, color: bool) {
    let indent = if finding.version.is_some() { "    " } else { "  " };
    let path = finding.path.as_deref().unwrap_or("");
    let head = format!("{indent}{} {:<34} {path}", label(finding.severity, color), finding.code.as_str());
    let _ = writeln!(out, "{}", head.trim_end());
    let _ = writeln!(out, "{indent}         {}", finding.message);
}
