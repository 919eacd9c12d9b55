//! The registry of finding codes and the [`Finding`] type every diff produces.
//!
//! Each code is registered once with its default severity, the side of the API it concerns, what breaks
//! and why. Rules never invent codes: they pick a [`FindingCode`] and may only adjust the severity for
//! reasons the registry documents (a zero-value default, a change on the status side).

mod object;
mod operator;
mod registry;

pub use object::{object_verdict, sort_object_findings, FindingKey, Keyword, ObjectFinding, ObjectRef};
pub use operator::{sort_operator_findings, ManifestRef, OperatorFinding};
pub use registry::{Family, FindingCode, RuleInfo, REGISTRY};

use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// How bad a finding is. Ordered: `Info < Warning < Breaking < Blocker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Additive or widening: nothing existing breaks.
    Info,
    /// May break some objects or changes behaviour; live validation decides.
    Warning,
    /// Existing objects or clients break.
    Breaking,
    /// The API server rejects the change, or stored data becomes unreachable.
    Blocker,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [Severity::Info, Severity::Warning, Severity::Breaking, Severity::Blocker];

    /// The lowercase name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Breaking => "breaking",
            Severity::Blocker => "blocker",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is hurt by a schema change: users write `spec` and the operator reads it; the operator writes
/// `status` and users read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// Written by users (or their tooling), read by the operator: everything outside `.status`.
    Spec,
    /// Written by the operator, read by users.
    Status,
}

impl Side {
    /// The side a schema path belongs to (`.status...` is the operator's, anything else the user's).
    pub fn of_path(path: &str) -> Side {
        if path == ".status" || path.starts_with(".status.") || path.starts_with(".status[") {
            Side::Status
        } else {
            Side::Spec
        }
    }
}

/// The overall judgement of a plan: the highest severity found, with `info` counting as safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Nothing above `info`.
    Safe,
    /// At least one warning, nothing worse.
    Warning,
    /// At least one breaking finding, no blocker.
    Breaking,
    /// At least one blocker: the upgrade cannot proceed as is.
    Blocker,
}

impl Verdict {
    /// The verdict for a set of findings.
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Verdict {
        Verdict::of_severities(findings.into_iter().map(|f| f.severity))
    }

    /// The verdict for the severities of any kind of finding.
    pub fn of_severities(severities: impl IntoIterator<Item = Severity>) -> Verdict {
        match severities.into_iter().max() {
            None | Some(Severity::Info) => Verdict::Safe,
            Some(Severity::Warning) => Verdict::Warning,
            Some(Severity::Breaking) => Verdict::Breaking,
            Some(Severity::Blocker) => Verdict::Blocker,
        }
    }

    /// The lowercase name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Warning => "warning",
            Verdict::Breaking => "breaking",
            Verdict::Blocker => "blocker",
        }
    }
}

/// Where in a source file a finding points (for SARIF and editors).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct SourceLocation {
    /// The file as given on the command line (or found under a given directory).
    pub file: String,
    /// 1-based line.
    pub line: usize,
}

/// One change between two releases, classified by risk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// What kind of change this is.
    pub code: FindingCode,
    /// How risky it is; the registry default unless a documented adjustment applies.
    pub severity: Severity,
    /// The CRD (`metadata.name`) the change is in.
    pub crd: String,
    /// The CRD version, for version and schema findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The schema path from the version's `openAPIV3Schema` root, e.g. `.spec.endpoints[*].port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Who is hurt: users writing `spec` or the operator writing `status`; schema findings only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    /// One sentence for people.
    pub message: String,
    /// The value before, where one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The value after, where one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    /// Where the change stands in the new release's files (the old one's for removals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
}

impl Finding {
    /// A finding with the code's default severity and no version, path or values yet.
    pub fn new(code: FindingCode, crd: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            code,
            severity: code.info().severity,
            crd: crd.into(),
            version: None,
            path: None,
            side: None,
            message: message.into(),
            old: None,
            new: None,
            location: None,
        }
    }

    /// Sets the CRD version the finding is about.
    pub fn in_version(mut self, version: &str) -> Finding {
        self.version = Some(version.to_owned());
        self
    }

    /// Sets the schema path and, from it, the side.
    pub fn at_path(mut self, path: &str) -> Finding {
        self.side = Some(Side::of_path(path));
        self.path = Some(path.to_owned());
        self
    }

    /// Records the values before and after (either may be absent).
    pub fn values(mut self, old: Option<Value>, new: Option<Value>) -> Finding {
        self.old = old;
        self.new = new;
        self
    }

    /// Overrides the default severity; callers say why in a comment.
    pub fn with_severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }

    /// The key findings are sorted by, so every output is deterministic.
    pub fn sort_key(&self) -> (&str, Option<&str>, Option<&str>, FindingCode, &str) {
        (&self.crd, self.version.as_deref(), self.path.as_deref(), self.code, &self.message)
    }
}

/// Sorts findings into their canonical order (CRD, version, path, code, message).
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
}
