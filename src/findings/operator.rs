//! The finding type of the operator manifest diff and the production-readiness lint: a change (or a
//! problem) in one non-CRD object of a release, such as a Deployment, a ClusterRole or a webhook
//! configuration.

use super::{FindingCode, Severity, SourceLocation};
use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// Which object of a release a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestRef {
    /// The object's `apiVersion` (the new side's for objects on both sides).
    pub api_version: String,
    /// The object's `kind`.
    pub kind: String,
    /// `metadata.namespace`, absent for cluster-scoped objects and objects that leave it to the installer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ManifestRef {
    /// The API group of the object (`""` for the core group), the part of `apiVersion` before the slash.
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map_or("", |(group, _)| group)
    }

    /// The key objects are sorted by: kind, namespace, name, then group.
    fn sort_key(&self) -> (&str, Option<&str>, &str, &str) {
        (&self.kind, self.namespace.as_deref(), &self.name, self.group())
    }
}

impl fmt::Display for ManifestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {}/{}", self.kind, namespace, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One difference between the old and new operator manifests, or one production-readiness problem of the
/// new release.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorFinding {
    /// What kind of change or problem this is (family `operator-diff` or `lint`).
    pub code: FindingCode,
    /// How risky it is; the registry default unless a documented adjustment applies.
    pub severity: Severity,
    /// The object the finding is about.
    pub object: ManifestRef,
    /// The field inside the object, e.g. `spec.template.spec.containers[manager].image`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// One or two sentences for people; lint findings end with why the problem matters in production.
    pub message: String,
    /// The value before, where one applies (never a Secret's data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The value after, where one applies (never a Secret's data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    /// A unified diff of the normalised YAML, for changes no specific rule describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Lint only: the problem is new in this release (the old release did not have it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub regression: bool,
    /// Where the object stands in the new release's files (the old one's for removals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
}

impl OperatorFinding {
    /// A finding with the code's default severity and no field, values or diff yet.
    pub fn new(code: FindingCode, object: ManifestRef, message: impl Into<String>) -> OperatorFinding {
        OperatorFinding {
            code,
            severity: code.info().severity,
            object,
            field: None,
            message: message.into(),
            old: None,
            new: None,
            diff: None,
            regression: false,
            location: None,
        }
    }

    /// Sets the field inside the object the finding is about.
    pub fn at_field(mut self, field: impl Into<String>) -> OperatorFinding {
        self.field = Some(field.into());
        self
    }

    /// Records the values before and after (either may be absent).
    pub fn values(mut self, old: Option<Value>, new: Option<Value>) -> OperatorFinding {
        self.old = old;
        self.new = new;
        self
    }

    /// Attaches a unified diff.
    pub fn with_diff(mut self, diff: String) -> OperatorFinding {
        self.diff = Some(diff);
        self
    }

    /// Overrides the default severity; callers say why in a comment.
    pub fn with_severity(mut self, severity: Severity) -> OperatorFinding {
        self.severity = severity;
        self
    }

    /// Marks a lint finding as new in this release.
    pub fn as_regression(mut self, regression: bool) -> OperatorFinding {
        self.regression = regression;
        self
    }

    /// Records where the object stands in the release's files.
    pub fn located_at(mut self, location: SourceLocation) -> OperatorFinding {
        self.location = Some(location);
        self
    }

    /// The key findings are sorted by: regressions first, then object, field, code and message.
    #[allow(clippy::type_complexity)]
    pub fn sort_key(&self) -> (bool, (&str, Option<&str>, &str, &str), Option<&str>, FindingCode, &str) {
        (!self.regression, self.object.sort_key(), self.field.as_deref(), self.code, &self.message)
    }
}

/// Sorts operator findings into their canonical order: lint regressions first, then by object (kind,
/// namespace, name), field, code and message, so every output is deterministic.
pub fn sort_operator_findings(findings: &mut [OperatorFinding]) {
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
}
