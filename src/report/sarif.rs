//! SARIF 2.1.0 output for code scanning: one rule per registered code, one result per finding, pointing
//! at the new release's file and line where known.

use super::{location_of, PlanReport};
use crate::findings::{Severity, REGISTRY};
use serde_json::{json, Value};

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Blocker | Severity::Breaking => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

pub(super) fn render(report: &PlanReport<'_>) -> String {
    let rules: Vec<Value> = REGISTRY
        .iter()
        .map(|rule| {
            json!({
                "id": rule.code.as_str(),
                "shortDescription": {"text": rule.why},
                "fullDescription": {"text": format!("{} Breaks: {}.", rule.why, rule.breaks)},
                "defaultConfiguration": {"level": level(rule.severity)},
                "properties": {"severity": rule.severity.as_str()},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            let mut result = json!({
                "ruleId": finding.code.as_str(),
                "ruleIndex": finding.code as usize,
                "level": level(finding.severity),
                "message": {"text": format!("{} {}: {}", finding.crd, location_of(finding), finding.message)},
                "properties": {"severity": finding.severity.as_str(), "crd": finding.crd},
            });
            if let Some(location) = &finding.location {
                result["locations"] = json!([{
                    "physicalLocation": {
                        "artifactLocation": {"uri": location.file},
                        "region": {"startLine": location.line},
                    }
                }]);
            }
            result
        })
        .collect();
    let sarif = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "operator-upgrade",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }]
    });
    let mut out = serde_json::to_string_pretty(&sarif).expect("SARIF always serialises");
    out.push('\n');
    out
}
