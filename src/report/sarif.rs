//! SARIF 2.1.0 output for code scanning: one rule per registered code, one result per finding, pointing
//! at the new release's file and line where known. Findings in objects (`validate`, `plan --objects`) are
//! one result per group of identical findings, located at the files and lines of its first objects (with
//! `--each`, one result per finding, streamed from the spool like the JSON).

use super::validation::{Pieces, ValidationView};
use super::{location_of, PlanReport};
use crate::findings::{ObjectFinding, Severity, SourceLocation, REGISTRY};
use crate::schema::validate::FindingGroup;
use serde::Serialize;
use serde_json::{json, Value};

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Blocker | Severity::Breaking => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn result<'l>(
    code: crate::findings::FindingCode,
    severity: Severity,
    message: String,
    properties: Value,
    locations: impl IntoIterator<Item = &'l SourceLocation>,
) -> Value {
    let mut result = json!({
        "ruleId": code.as_str(),
        "ruleIndex": code as usize,
        "level": level(severity),
        "message": {"text": message},
        "properties": properties,
    });
    let locations: Vec<Value> = locations
        .into_iter()
        .map(|location| {
            json!({"physicalLocation": {
                "artifactLocation": {"uri": location.file},
                "region": {"startLine": location.line},
            }})
        })
        .collect();
    if !locations.is_empty() {
        result["locations"] = Value::Array(locations);
    }
    result
}

/// One group of identical findings across objects: its count and first objects in the message.
fn group_result(group: &FindingGroup) -> Value {
    let named: Vec<String> = group.objects.iter().map(|o| o.object.to_string()).collect();
    let more = match group.unnamed() {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let crd = group.key.crd.as_deref().unwrap_or("no CRD");
    result(
        group.key.code,
        group.key.severity,
        format!(
            "{crd} {}: {} ({} objects: {}{more})",
            group.key.path,
            group.key.message,
            group.count,
            named.join(", ")
        ),
        json!({"severity": group.key.severity.as_str(), "crd": group.key.crd, "path": group.key.path, "count": group.count}),
        group.objects.iter().filter_map(|o| o.source.as_ref()),
    )
}

/// One finding in one object (`--each`).
fn finding_result(finding: &ObjectFinding) -> Value {
    let crd = finding.key.crd.as_deref().unwrap_or("no CRD");
    result(
        finding.key.code,
        finding.key.severity,
        format!("{} {crd} {}: {}", finding.object, finding.key.path, finding.key.message),
        json!({"severity": finding.key.severity.as_str(), "crd": finding.key.crd, "path": finding.key.path, "object": finding.object.to_string()}),
        finding.source.as_ref(),
    )
}

/// The rules: one per registered code.
fn rules() -> Vec<Value> {
    REGISTRY
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
        .collect()
}

/// The SARIF log: one run of this tool, its rules and `results`.
#[derive(Serialize)]
struct Log<'v> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'v>; 1],
}

#[derive(Serialize)]
struct Run<'v> {
    tool: Value,
    results: Results<'v>,
}

fn log(results: Results<'_>) -> Log<'_> {
    let tool = json!({"driver": {"name": "operator-upgrade", "version": env!("CARGO_PKG_VERSION"), "rules": rules()}});
    Log { schema: "https://json.schemastore.org/sarif-2.1.0.json", version: "2.1.0", runs: [Run { tool, results }] }
}

/// The results: the release's and operator's findings, then the objects': groups, or with `--each` every
/// finding, read back from the spool as the log is written (never all held).
struct Results<'v> {
    head: Vec<Value>,
    objects: Option<&'v ValidationView<'v>>,
}

impl Serialize for Results<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = serializer.serialize_seq(None)?;
        for result in &self.head {
            seq.serialize_element(result)?;
        }
        if let Some(view) = self.objects {
            match view.findings_one_by_one() {
                Some(each) => {
                    for finding in each {
                        seq.serialize_element(&finding_result(&finding.map_err(S::Error::custom)?))?;
                    }
                }
                None => {
                    for group in &view.groups {
                        seq.serialize_element(&group_result(group))?;
                    }
                }
            }
        }
        seq.end()
    }
}

/// `validate -o sarif`.
pub(super) fn write_validation(out: &mut Pieces<'_>, view: &ValidationView<'_>) -> std::io::Result<()> {
    out.json(&log(Results { head: Vec::new(), objects: Some(view) }))
}

pub(super) fn write(report: &PlanReport<'_>, out: &mut Pieces<'_>) -> std::io::Result<()> {
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
    let head: Vec<Value> = crd_results.chain(operator_results).collect();
    out.json(&log(Results { head, objects: report.objects.as_ref() }))
}
