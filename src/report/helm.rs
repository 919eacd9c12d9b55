//! The Helm section of text and markdown plans: the release, both charts, the values that changed between
//! the charts' defaults, the user's values the new chart no longer reads, and the CRDs Helm would delete.

use super::PlanReport;
use crate::helm::HelmComparison;
use std::fmt::Write;

/// How many changed defaults the text shows before it says how many more there are (JSON has them all).
const SHOWN_DEFAULTS: usize = 20;

fn chart_line(comparison: &HelmComparison) -> String {
    let side = |view: &crate::helm::compare::SideView| {
        let app = view.chart.app_version.as_deref().map(|a| format!(" (app {a})")).unwrap_or_default();
        let revision = view.revision.map(|r| format!(", revision {r}")).unwrap_or_default();
        let method = match (view.apply_method, view.revision) {
            (Some(crate::helm::ApplyMethod::ServerSide), _) => ", applied server-side",
            (Some(crate::helm::ApplyMethod::ClientSide), _) => ", applied client-side",
            // A release record without a method was written by Helm 3, which applies client-side.
            (None, Some(_)) => ", applied client-side (Helm 3)",
            (None, None) => "",
        };
        format!("{} {}{app}{revision}{method}", view.chart.name, view.chart.version)
    };
    format!(
        "chart {} -> {}, rendered by helm {}",
        side(&comparison.from),
        side(&comparison.to),
        comparison.helm_version
    )
}

fn shown(value: Option<&serde_json::Value>) -> String {
    value.map_or_else(|| "(none)".to_owned(), |v| v.to_string())
}

pub(super) fn text(out: &mut String, report: &PlanReport<'_>) {
    let Some(helm) = report.helm else { return };
    if !out.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "== Helm release {}/{}", helm.namespace, helm.release);
    let _ = writeln!(out, "{}", chart_line(helm));
    for refusal in helm.refusals() {
        let _ = writeln!(out, "refused  {refusal}");
    }
    for value in &helm.unread_values {
        let _ = writeln!(
            out,
            "warning  value {} is set but chart {} {} no longer has `{}`: the setting would be dropped; move it to the new chart's key",
            value.path, helm.to.chart.name, helm.to.chart.version, value.missing
        );
    }
    let _ = writeln!(out, "{} default values changed between the charts", helm.default_changes.len());
    for change in helm.default_changes.iter().take(SHOWN_DEFAULTS) {
        let _ = writeln!(out, "  {}: {} -> {}", change.path, shown(change.old.as_ref()), shown(change.new.as_ref()));
    }
    if helm.default_changes.len() > SHOWN_DEFAULTS {
        let _ = writeln!(
            out,
            "  ... and {} more (--output json, key helm.defaultChanges)",
            helm.default_changes.len() - SHOWN_DEFAULTS
        );
    }
}

pub(super) fn markdown(out: &mut String, report: &PlanReport<'_>) {
    let Some(helm) = report.helm else { return };
    let _ = writeln!(out, "#### Helm release `{}/{}`\n\n{}\n", helm.namespace, helm.release, chart_line(helm));
    for refusal in helm.refusals() {
        let _ = writeln!(out, "- ⛔ {}", super::markdown::cell(&refusal));
    }
    for value in &helm.unread_values {
        let _ = writeln!(out, "- ⚠️ value `{}` is set but the new chart no longer has `{}`", value.path, value.missing);
    }
    let _ = writeln!(out, "\n{} default values changed between the charts.\n", helm.default_changes.len());
}
