//! The JSON output: `{"verdict", "findings", "summary"}`, a stable interface for CI.

use super::PlanReport;

pub(super) fn render(report: &PlanReport<'_>) -> String {
    let mut out = serde_json::to_string_pretty(report).expect("a report always serialises");
    out.push('\n');
    out
}
