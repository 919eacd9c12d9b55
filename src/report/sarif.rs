//! SARIF 2.1.0 output for code scanning: one rule per registered code, one result per finding, pointing
//! at the new release's file and line where known.

use super::{location_of, PlanReport};
use crate::findings::{Severity, SourceLocation, REGISTRY};
use serde_json::{json, Value};

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Blocker | Severity::Breaking => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn result(
    code: crate::findings::FindingCode,
    severity: Severity,
    message: String,
    properties: Value,
    location: Option<&SourceLocation>,
) -> Value {
    let mut result = json!({
        "ruleId": code.as_str(),
        "ruleIndex": code as usize,
        "level": level(severity),
        "message": {"text": message},
        "properties": properties,
    });
    if let Some(location) = location {
        result["locations"] = json!([{
            "physicalLocation": {
                "artifactLocation": {"uri": location.file},
                "region": {"startLine": location.line},
            }
        }]);
    }
    result
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
    let crd_results = report.findings.iter().map(|finding| {
        result(
            finding.code,
            finding.severity,
            format!("{} {}: {}", finding.crd, location_of(finding), finding.message),
            json!({"severity": finding.severity.as_str(), "crd": finding.crd}),
            finding.location.as_ref(),
        )
    });
    let operator_results = report.operator_findings.iter().chain(&report.lint).map(|finding| {
        result(
            finding.code,
            finding.severity,
            finding.message.clone(),
            json!({"severity": finding.severity.as_str(), "object": finding.object, "regression": finding.regression}),
            finding.location.as_ref(),
        )
    });
    let results: Vec<Value> = crd_results.chain(operator_results).collect();
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
