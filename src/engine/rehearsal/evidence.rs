//! The evidence of a rehearsal: a JSON document (`operator-upgrade schema --evidence` prints its schema)
//! saying which exact plan was rehearsed (the plan hash: the plan file and both releases' files), on which
//! cluster, by which tool version, each phase's times and verdict, the analysis measurements and what the
//! rollback drill restored and how long it took.
//!
//! [`check`] is what `apply` of a plan with `rehearsal.required: true` asks of it: a pure function of the
//! evidence, the plan, the target cluster and the time, one refusal per condition that fails.

use crate::canary::judge::{Decision, IntervalResult};
use crate::engine::Refusal;
use crate::manifest::input::{read_text, InputError};
use crate::plan::file::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The evidence of one `rehearse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "RehearsalEvidence")]
pub struct Evidence {
    /// The evidence format's version: `operator-upgrade.dev/v1alpha1`.
    pub api_version: EvidenceApiVersion,
    /// Always `RehearsalEvidence`.
    pub kind: EvidenceKind,
    /// The plan's name.
    pub plan: String,
    /// SHA-256 of the plan file and every file of both releases, hex: any edit to any of them gives another
    /// hash, and `apply` refuses evidence of another hash.
    pub plan_hash: String,
    /// The staging cluster the rehearsal ran on.
    pub cluster: RehearsalCluster,
    /// The version of operator-upgrade that rehearsed.
    pub tool_version: String,
    /// When the rehearsal started (RFC 3339, UTC).
    pub started: String,
    /// When it ended; `maxAge` counts from here.
    #[serde(deserialize_with = "rfc3339")]
    pub ended: String,
    /// Each phase, in the order it ran.
    pub phases: Vec<PhaseRecord>,
    /// What the rollback drill did, once it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillRecord>,
}

/// The versions of the evidence format this tool reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum EvidenceApiVersion {
    /// The first version of the format.
    #[serde(rename = "operator-upgrade.dev/v1alpha1")]
    V1Alpha1,
}

/// The kind of the evidence document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum EvidenceKind {
    /// Evidence of a rehearsal.
    RehearsalEvidence,
}

/// The cluster a rehearsal ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RehearsalCluster {
    /// The UID of its `kube-system` namespace.
    pub kube_system_uid: String,
    /// The kubeconfig context named with `--context`, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// The phases of a rehearsal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// `rollback` of this plan's run that an earlier rehearsal (or apply) left promoted, so the apply phase
    /// starts from the old release; only when staging was found promoted.
    Reset,
    /// The whole `apply`, up to promotion.
    Apply,
    /// `rollback` of the promoted run, then every recorded object checked against its record.
    RollbackDrill,
    /// `apply` again, so staging ends on the new release.
    Reapply,
    /// `finalize`, with `--finalize`, after the drill.
    Finalize,
}

impl Phase {
    /// The kebab-case name every output uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Reset => "reset",
            Phase::Apply => "apply",
            Phase::RollbackDrill => "rollback-drill",
            Phase::Reapply => "reapply",
            Phase::Finalize => "finalize",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseVerdict {
    /// It did everything it is for.
    Passed,
    /// It did not.
    Failed,
}

/// One phase of a rehearsal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PhaseRecord {
    /// Which phase.
    pub phase: Phase,
    /// When it started (RFC 3339, UTC).
    pub started: String,
    /// When it ended.
    pub ended: String,
    /// How long it took, in seconds.
    pub seconds: f64,
    /// Whether it passed.
    pub verdict: PhaseVerdict,
    /// The command's outcome, as it printed it (`done: ...`, `rolled back: ...`).
    pub outcome: String,
    /// The command's exit code.
    pub exit_code: u8,
    /// The canary analysis the phase ran, as the journal kept it (apply phases with a canary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisRecord>,
}

/// A canary analysis's measurements and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AnalysisRecord {
    /// Every interval: each signal's canary and baseline readings with its verdict.
    pub intervals: Vec<IntervalResult>,
    /// The analysis's decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

/// What the rollback drill restored and found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DrillRecord {
    /// Writes that put a recorded object back (the stable Deployment of a canary is put back twice: when the
    /// canary is undone, and with the other objects of its step).
    pub restored: usize,
    /// Objects the run had created, removed.
    pub removed: usize,
    /// Recorded objects checked against their record after the restore.
    pub checked: usize,
    /// Objects deliberately left as they were, with why.
    pub kept: Vec<String>,
    /// Recorded objects that differ from their record after the restore (none when the drill passed).
    pub differences: Vec<String>,
    /// Objects not healthy again within the plan's rollback timeout.
    pub unhealthy: Vec<String>,
    /// How long the rollback took, from its start until every object was restored, checked and healthy.
    pub seconds: f64,
}

impl Evidence {
    /// The first phase that failed, or the first one a passing rehearsal needs that did not run.
    pub fn failed_phase(&self) -> Option<(Phase, String)> {
        if let Some(failed) = self.phases.iter().find(|p| p.verdict == PhaseVerdict::Failed) {
            return Some((failed.phase, failed.outcome.clone()));
        }
        [Phase::Apply, Phase::RollbackDrill]
            .into_iter()
            .find(|needed| !self.phases.iter().any(|p| p.phase == *needed))
            .map(|missing| (missing, "did not run".to_owned()))
    }

    /// Whether every phase passed, the apply and the rollback drill among them.
    pub fn passed(&self) -> bool {
        self.failed_phase().is_none()
    }

    /// Reads evidence from a file: any error names the file and, unless it cannot be read, the line and
    /// column.
    pub fn load(path: &Path) -> Result<Evidence, EvidenceError> {
        let text = read_text(path, "rehearsal evidence", Some(MAX_EVIDENCE_BYTES))?;
        serde_json::from_str(&text).map_err(|error| EvidenceError::Invalid {
            file: path.to_owned(),
            line: error.line(),
            column: error.column(),
            message: bare_message(&error),
        })
    }

    /// Writes the evidence as pretty JSON, whole or not at all (a temporary file beside it, renamed).
    pub fn write(&self, path: &Path) -> Result<(), EvidenceError> {
        let failed = |cause: std::io::Error| EvidenceError::Write { file: path.to_owned(), cause };
        let mut text = serde_json::to_string_pretty(self).map_err(|e| failed(std::io::Error::other(e)))?;
        text.push('\n');
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(failed)?;
        file.persist(path).map_err(|e| failed(e.error))?;
        Ok(())
    }
}

fn timestamp(text: &str, field: &str) -> Result<jiff::Timestamp, String> {
    text.parse().map_err(|e| format!("`{field}` is not an RFC 3339 time ({text}): {e}"))
}

/// The most an evidence file may hold. More than the other inputs' cap: a long canary analysis is kept in full
/// (every interval, every signal), and JSON read straight into these records costs little beyond its size.
pub const MAX_EVIDENCE_BYTES: u64 = 16 << 20;

/// serde_json's message without the position it appends (the error names it before the message).
fn bare_message(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    message.strip_suffix(&suffix).map(str::to_owned).unwrap_or(message)
}

/// Refuses an `ended` that is not an RFC 3339 time while parsing, so the error has the value's line.
fn rfc3339<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    timestamp(&text, "ended").map_err(serde::de::Error::custom)?;
    Ok(text)
}

/// What `apply` checks the evidence against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation<'a> {
    /// The plan file, for messages.
    pub plan_file: &'a Path,
    /// The hash of the plan being applied.
    pub plan_hash: &'a str,
    /// The kube-system UID of the cluster being applied to.
    pub target_uid: &'a str,
    /// The plan's `spec.rehearsal.maxAge`.
    pub max_age: Duration,
}

/// Every condition the evidence fails for `apply` to run, one refusal each (none: it may run): it exists,
/// is of this exact plan, passed every phase, comes from another cluster than the target and is younger
/// than `maxAge` at `now`.
pub fn check(evidence: Option<&Evidence>, expected: &Expectation, now: jiff::Timestamp) -> Vec<Refusal> {
    let Some(evidence) = evidence else {
        return vec![Refusal::RehearsalMissing { file: expected.plan_file.to_owned() }];
    };
    let mut refusals = Vec::new();
    if evidence.plan_hash != expected.plan_hash {
        refusals.push(Refusal::RehearsalOfAnotherPlan {
            rehearsed: short(&evidence.plan_hash),
            applied: short(expected.plan_hash),
        });
    }
    if let Some((phase, outcome)) = evidence.failed_phase() {
        refusals.push(Refusal::RehearsalFailed { phase, outcome });
    }
    if evidence.cluster.kube_system_uid == expected.target_uid {
        refusals.push(Refusal::RehearsedOnTarget { uid: expected.target_uid.to_owned() });
    }
    match timestamp(&evidence.ended, "ended") {
        Ok(ended) => {
            let age_seconds = u64::try_from(now.as_second() - ended.as_second()).unwrap_or(0);
            if age_seconds > expected.max_age.to_std().as_secs() {
                refusals.push(Refusal::RehearsalTooOld {
                    ended: evidence.ended.clone(),
                    age: Duration::from_secs(age_seconds),
                    max_age: expected.max_age,
                });
            }
        }
        Err(why) => refusals.push(Refusal::RehearsalFailed { phase: Phase::Apply, outcome: why }),
    }
    refusals
}

fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

/// Evidence that cannot be read.
#[derive(Debug, Error)]
pub enum EvidenceError {
    /// The file cannot be read: missing, not a regular file, too large or not UTF-8 text.
    #[error(transparent)]
    Read(#[from] InputError),
    /// The file is not evidence of this format.
    #[error("{}{}: not rehearsal evidence: {message}", file.display(), if *line > 0 { format!(":{line}:{column}") } else { String::new() })]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The 1-based line (0 if unknown, which a JSON error never is).
        line: usize,
        /// The column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The evidence cannot be written.
    #[error("cannot write the rehearsal evidence to {}: {cause}", file.display())]
    Write {
        /// The file.
        file: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
}

/// The JSON Schema of the evidence document (`operator-upgrade schema --evidence`).
pub fn evidence_json_schema() -> serde_json::Value {
    schemars::schema_for!(Evidence).to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const STAGING: &str = "11111111-1111-1111-1111-111111111111";
    const PRODUCTION: &str = "22222222-2222-2222-2222-222222222222";

    fn phase(phase: Phase, verdict: PhaseVerdict) -> PhaseRecord {
        PhaseRecord {
            phase,
            started: "2026-12-01T10:00:00Z".into(),
            ended: "2026-12-01T10:01:00Z".into(),
            seconds: 60.0,
            verdict,
            outcome: format!("{phase} {verdict:?}"),
            exit_code: if verdict == PhaseVerdict::Passed { 0 } else { 1 },
            analysis: None,
        }
    }

    fn passing() -> Evidence {
        Evidence {
            api_version: EvidenceApiVersion::V1Alpha1,
            kind: EvidenceKind::RehearsalEvidence,
            plan: "p".into(),
            plan_hash: HASH.into(),
            cluster: RehearsalCluster { kube_system_uid: STAGING.into(), context: Some("staging".into()) },
            tool_version: "0.1.0".into(),
            started: "2026-12-01T10:00:00Z".into(),
            ended: "2026-12-01T10:03:00Z".into(),
            phases: vec![
                phase(Phase::Apply, PhaseVerdict::Passed),
                phase(Phase::RollbackDrill, PhaseVerdict::Passed),
                phase(Phase::Reapply, PhaseVerdict::Passed),
            ],
            drill: None,
        }
    }

    fn expected(plan_hash: &str, target_uid: &'static str) -> Expectation<'static> {
        let plan_hash: &'static str = Box::leak(plan_hash.to_owned().into_boxed_str());
        Expectation { plan_file: Path::new("plan.yaml"), plan_hash, target_uid, max_age: Duration::from_hours(24) }
    }

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    fn kinds(refusals: &[Refusal]) -> Vec<&'static str> {
        refusals.iter().map(Refusal::kind).collect()
    }

    #[test]
    fn passing_evidence_of_this_plan_from_another_cluster_in_time_lets_apply_run() {
        let refusals = check(Some(&passing()), &expected(HASH, PRODUCTION), at("2026-12-01T20:00:00Z"));
        assert!(refusals.is_empty(), "{refusals:?}");
        assert!(passing().passed());
    }

    #[test]
    fn no_evidence_is_refused_with_the_rehearse_command() {
        let refusals = check(None, &expected(HASH, PRODUCTION), at("2026-12-01T20:00:00Z"));
        assert_eq!(kinds(&refusals), ["rehearsal-missing"]);
        assert!(refusals[0].next_step().contains("operator-upgrade rehearse -f plan.yaml"), "{}", refusals[0]);
    }

    #[test]
    fn evidence_of_an_edited_plan_is_refused() {
        let mut edited = HASH.to_owned();
        edited.replace_range(0..1, "f");
        let refusals = check(Some(&passing()), &expected(&edited, PRODUCTION), at("2026-12-01T20:00:00Z"));
        assert_eq!(kinds(&refusals), ["rehearsal-of-another-plan"]);
        assert!(refusals[0].reason().contains("0123456789ab"), "{}", refusals[0]);
    }

    #[test]
    fn evidence_with_a_failed_phase_is_refused_naming_the_phase() {
        let mut failed = passing();
        failed.phases[1] = phase(Phase::RollbackDrill, PhaseVerdict::Failed);
        let refusals = check(Some(&failed), &expected(HASH, PRODUCTION), at("2026-12-01T20:00:00Z"));
        assert_eq!(kinds(&refusals), ["rehearsal-failed"]);
        assert!(refusals[0].reason().contains("rollback-drill"), "{}", refusals[0]);
    }

    #[test]
    fn evidence_without_a_rollback_drill_is_not_a_pass() {
        let mut partial = passing();
        partial.phases.truncate(1);
        assert_eq!(partial.failed_phase(), Some((Phase::RollbackDrill, "did not run".to_owned())));
        let refusals = check(Some(&partial), &expected(HASH, PRODUCTION), at("2026-12-01T20:00:00Z"));
        assert_eq!(kinds(&refusals), ["rehearsal-failed"]);
    }

    #[test]
    fn evidence_from_the_target_cluster_itself_is_refused() {
        let refusals = check(Some(&passing()), &expected(HASH, STAGING), at("2026-12-01T20:00:00Z"));
        assert_eq!(kinds(&refusals), ["rehearsed-on-target"]);
    }

    #[test]
    fn evidence_older_than_max_age_is_refused_and_younger_is_not() {
        let just_in_time = check(Some(&passing()), &expected(HASH, PRODUCTION), at("2026-12-02T10:03:00Z"));
        assert!(just_in_time.is_empty(), "{just_in_time:?}");
        let refusals = check(Some(&passing()), &expected(HASH, PRODUCTION), at("2026-12-02T10:03:01Z"));
        assert_eq!(kinds(&refusals), ["rehearsal-too-old"]);
        assert!(refusals[0].reason().contains("older than 1d"), "{}", refusals[0]);
    }

    #[test]
    fn every_failing_condition_is_its_own_refusal() {
        let mut bad = passing();
        bad.phases[0] = phase(Phase::Apply, PhaseVerdict::Failed);
        let refusals = check(Some(&bad), &expected("ff", STAGING), at("2027-01-01T00:00:00Z"));
        assert_eq!(
            kinds(&refusals),
            ["rehearsal-of-another-plan", "rehearsal-failed", "rehearsed-on-target", "rehearsal-too-old"]
        );
    }

    #[test]
    fn evidence_reads_back_as_written_and_a_broken_file_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evidence.json");
        passing().write(&path).unwrap();
        assert_eq!(Evidence::load(&path).unwrap(), passing());
        std::fs::write(&path, "{\n  \"apiVersion\": \"operator-upgrade.dev/v1alpha1\",\n  \"kind\": \"Nope\"\n}\n")
            .unwrap();
        let error = Evidence::load(&path).unwrap_err().to_string();
        assert!(error.contains("evidence.json:3:"), "{error}");
        let mut late = passing();
        late.ended = "yesterday".into();
        late.write(&path).unwrap();
        let error = Evidence::load(&path).unwrap_err().to_string();
        assert!(error.contains("evidence.json:12:"), "the line of `ended`: {error}");
        assert!(error.contains("`ended` is not an RFC 3339 time"), "{error}");
        assert_eq!(error.matches(" at line ").count(), 0, "the place is said once: {error}");
    }

    #[test]
    fn the_schema_names_every_phase() {
        let schema = evidence_json_schema().to_string();
        for phase in [Phase::Reset, Phase::Apply, Phase::RollbackDrill, Phase::Reapply, Phase::Finalize] {
            assert!(schema.contains(&format!("\"{phase}\"")), "{phase}");
        }
    }
}
