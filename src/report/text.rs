//! The text output for people: grouped by CRD and version, severities coloured on a terminal.

use super::PlanReport;
use crate::findings::{Finding, Severity};
use anstyle::{AnsiColor, Style};
use std::fmt::Write;

fn style(severity: Severity) -> Style {
    let color = match severity {
        Severity::Blocker => AnsiColor::BrightRed,
        Severity::Breaking => AnsiColor::Red,
        Severity::Warning => AnsiColor::Yellow,
        Severity::Info => AnsiColor::Cyan,
    };
    Style::new().fg_color(Some(color.into())).bold()
}

fn label(severity: Severity, color: bool) -> String {
    let text = format!("{:<8}", severity.as_str());
    if color {
        let style = style(severity);
        format!("{style}{text}{style:#}")
    } else {
        text
    }
}

pub(super) fn render(report: &PlanReport<'_>, color: bool) -> String {
    let mut out = String::new();
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
        write_finding(&mut out, finding, color);
    }
    if !report.findings.is_empty() {
        out.push('\n');
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "Compared {} CRDs with {} ({} added, {} removed, {} changed).",
        s.inputs.crds_old, s.inputs.crds_new, s.inputs.crds_added, s.inputs.crds_removed, s.inputs.crds_changed
    );
    if s.hidden > 0 {
        let _ = writeln!(out, "{} findings below {} hidden (--min-severity).", s.hidden, s.min_severity);
    }
    let _ = writeln!(out, "{}", report.verdict_line());
    out
}

fn write_finding(out: &mut String, finding: &Finding, color: bool) {
    let indent = if finding.version.is_some() { "    " } else { "  " };
    let path = finding.path.as_deref().unwrap_or("");
    let _ = writeln!(out, "{indent}{} {:<34} {path}", label(finding.severity, color), finding.code.as_str());
    let _ = writeln!(out, "{indent}         {}", finding.message);
}
