//! `status`: every run the cluster's journals hold (or one plan's), read only: the run, each step with its
//! times and outcome, whether its heartbeat is alive, what `rollback` would restore, the latest health; as
//! text, JSON or a markdown report (`run_report`).

use super::journal::CanaryRecord;
use super::journal::{Journal, RunState, StepState};
use super::report::OutputMode;
use super::run::load_journal;
use super::run_report::{render_markdown, ChartLinks};
use super::EngineError;
use crate::canary::cohort::Cohort;
use crate::canary::judge::Decision;
use crate::cluster::journal_store::JournalStore;
use crate::cluster::operator_lock::{LeaseObservation, OperatorLock};
use serde_json::json;

/// Whether anyone is executing the run now, from its Lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// A tool renews the Lease.
    Alive,
    /// The Lease is there but nobody renews it: the tool died.
    Stopped,
    /// No Lease: nobody executes the run.
    None,
}

/// Judges the heartbeat from the Lease observed now.
pub fn heartbeat(lease: Option<&LeaseObservation>, now: jiff::Timestamp) -> Heartbeat {
    match lease {
        None => Heartbeat::None,
        Some(lease) if lease.is_stale(now) => Heartbeat::Stopped,
        Some(_) => Heartbeat::Alive,
    }
}

/// What a person should do about a run in this state with this heartbeat, if anything.
pub fn advice(journal: &Journal, heartbeat: Heartbeat) -> Option<String> {
    let plan = &journal.plan;
    match (journal.state, heartbeat) {
        (RunState::Running, Heartbeat::Alive) => None,
        (RunState::Running | RunState::Paused | RunState::Failed, _) => Some(format!(
            "nobody is executing this run: `operator-upgrade apply -f <plan {plan}>` resumes it, `operator-upgrade rollback --plan {plan}` ends it"
        )),
        (RunState::Promoted, _) => Some(format!(
            "promoted: `operator-upgrade finalize -f <plan {plan}>` completes it, `operator-upgrade rollback --plan {plan}` undoes it"
        )),
        (RunState::Finalized | RunState::RolledBack, _) => None,
    }
}

/// How `status` prints the runs: its own formats, as `apply` and `rollback` have no markdown report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    /// Lines for people.
    Text,
    /// One JSON object per run.
    Json,
    /// A report per run for a pull request or a change ticket.
    Markdown,
}

/// The run's own output mode, for callers that show a run's status in the middle of theirs (the demo).
impl From<OutputMode> for StatusFormat {
    fn from(mode: OutputMode) -> StatusFormat {
        match mode {
            OutputMode::Text => StatusFormat::Text,
            OutputMode::Json => StatusFormat::Json,
        }
    }
}

/// One run as `status` found it: the journal and who (if anyone) executes it now.
#[derive(Debug, Clone)]
pub struct RunView {
    /// The run's journal.
    pub journal: Journal,
    /// The run's Lease, when there is one.
    pub lease: Option<LeaseObservation>,
    /// Whether anyone renews that Lease, judged when it was read.
    pub heartbeat: Heartbeat,
}

/// Reads every run the cluster's journals hold, or only `plan`'s.
pub async fn runs(client: &kube::Client, plan: Option<&str>) -> Result<Vec<RunView>, EngineError> {
    let found = JournalStore::find(client, None).await?;
    let mut runs = Vec::new();
    for entry in found.iter().filter(|f| plan.is_none_or(|p| f.plan == p)) {
        let store = JournalStore::new(client.clone(), &entry.namespace, &entry.plan);
        let Some((journal, _)) = load_journal(&store).await? else { continue };
        let lease = run_lease(client, &journal).await?;
        let heartbeat = heartbeat(lease.as_ref(), jiff::Timestamp::now());
        runs.push(RunView { journal, lease, heartbeat });
    }
    Ok(runs)
}

/// The operator's Lease when this run holds it (another run may hold it briefly, to be refused).
async fn run_lease(client: &kube::Client, journal: &Journal) -> Result<Option<LeaseObservation>, EngineError> {
    let Some(lock) = OperatorLock::of_operator(client.clone(), &journal.operator) else { return Ok(None) };
    Ok(lock.observe().await?.filter(|lease| lease.held_by_run(&journal.run_id)))
}

/// The journal of `upgrade`'s plan in the operator's namespace, if there is one.
pub async fn journal_of(client: &kube::Client, upgrade: &super::Upgrade) -> Result<Option<Journal>, EngineError> {
    let store = JournalStore::new(client.clone(), upgrade.namespace(), upgrade.name());
    Ok(load_journal(&store).await?.map(|(journal, _)| journal))
}

/// Prints the runs and returns how many were found.
pub async fn status(
    client: kube::Client,
    plan: Option<&str>,
    format: impl Into<StatusFormat>,
) -> Result<usize, EngineError> {
    let format = format.into();
    let runs = runs(&client, plan).await?;
    print!("{}", render_runs(&runs, format, plan));
    Ok(runs.len())
}

/// The runs in `format`, as `status` prints them (markdown without charts: they need `--report-dir`).
pub fn render_runs(runs: &[RunView], format: StatusFormat, plan: Option<&str>) -> String {
    if runs.is_empty() && format != StatusFormat::Json {
        return format!(
            "no runs{}\n  next: `operator-upgrade apply -f FILE` starts one; check that --context names the cluster the runs are in\n",
            plan.map(|p| format!(" of plan {p}")).unwrap_or_default()
        );
    }
    let rendered = runs.iter().map(|run| match format {
        StatusFormat::Text => render(&run.journal, run.heartbeat, run.lease.as_ref()),
        StatusFormat::Json => format!("{}\n", render_json(&run.journal, run.heartbeat)),
        StatusFormat::Markdown => render_markdown(&run.journal, run.heartbeat, run.lease.as_ref(), ChartLinks::Omitted),
    });
    // Markdown reports are separated by a rule so several runs read as several reports.
    let separator = if format == StatusFormat::Markdown { "\n---\n\n" } else { "" };
    rendered.collect::<Vec<_>>().join(separator)
}

/// Who executes the run, in a few words (`alive (held by ...)`, `STOPPED: ...`, `none ...`).
pub(crate) fn heartbeat_text(beat: Heartbeat, lease: Option<&LeaseObservation>) -> String {
    match (beat, lease) {
        (Heartbeat::Alive, Some(lease)) => format!("alive (held by {})", lease.holder),
        (Heartbeat::Stopped, Some(lease)) => format!(
            "STOPPED: {} last renewed the Lease at {}",
            lease.holder,
            lease.renewed.map(|t| t.to_string()).unwrap_or_else(|| "never".into())
        ),
        _ => "none (no tool is executing the run)".to_owned(),
    }
}

/// The run as text.
pub fn render(journal: &Journal, beat: Heartbeat, lease: Option<&LeaseObservation>) -> String {
    let mut out = format!(
        "run {} of plan {} ({}): {}\n  plan hash {}\n  cluster kube-system UID {}\n  tool {} | started {} | updated {}\n  heartbeat: {}\n",
        journal.run_id,
        journal.plan,
        journal.operator,
        journal.state,
        journal.plan_hash,
        journal.cluster_uid,
        journal.tool_version,
        journal.started,
        journal.updated,
        heartbeat_text(beat, lease)
    );
    if !journal.accepted.is_empty() {
        out.push_str(&format!("  accepted: {}\n", journal.accepted.join(", ")));
    }
    out.push_str("  steps:\n");
    for (index, step) in journal.steps.iter().enumerate() {
        let times = match (&step.started, &step.ended) {
            (Some(s), Some(e)) => format!(" {s} -> {e}"),
            (Some(s), None) => format!(" since {s}"),
            _ => String::new(),
        };
        let message = step.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
        out.push_str(&format!(
            "    {:>2}. {:<16} {:<8}{times}{message}\n",
            index + 1,
            step.kind.as_str(),
            step.state.as_str()
        ));
    }
    out.push_str(&format!("  {}\n", rollback_summary(journal)));
    if let Some(health) = &journal.health {
        out.push_str(&format!("  health at {}: {}\n", health.at, health.summary));
    }
    if let Some(canary) = &journal.canary {
        out.push_str(&render_canary(canary));
    } else if let Some(analysis) = &journal.analysis {
        out.push_str(&render_fleet_analysis(analysis));
    }
    if let Some(evidence) = &journal.rehearsal {
        out.push_str(&format!("  {}\n", rehearsal_line(evidence)));
    }
    for note in &journal.notes {
        out.push_str(&format!("  note: {note}\n"));
    }
    if let Some(advice) = advice(journal, beat) {
        out.push_str(&format!("  next: {advice}\n"));
    }
    out
}

/// The rehearsal this run was part of, in one line: its verdict, phases and, for the drill, how long it took.
fn rehearsal_line(evidence: &crate::engine::rehearsal::Evidence) -> String {
    let verdict = if evidence.passed() { "passed" } else { "did not pass" };
    let phases: Vec<String> = evidence.phases.iter().map(|p| format!("{} {:.1}s", p.phase, p.seconds)).collect();
    let drill =
        evidence.drill.as_ref().map(|d| format!("; the drill restored {} objects", d.restored)).unwrap_or_default();
    format!("rehearsal {verdict} ({}) {} -> {}{drill}", phases.join(", "), evidence.started, evidence.ended)
}

/// What a rollback did or would do, in one sentence that fits the run's state: a rolled-back run says what
/// was restored, a finalized one that it can no longer be rolled back.
pub(crate) fn rollback_summary(journal: &Journal) -> String {
    let (restorable, created) = rollback_counts(journal);
    let nothing_changed = !journal.steps.iter().any(|s| s.state == StepState::Undone);
    match journal.state {
        RunState::RolledBack if nothing_changed => "rolled back before any change: there was nothing to restore".to_owned(),
        // What the rollback wrote is in its outcome; here, the end state it checked.
        RunState::RolledBack => format!(
            "rolled back: the {restorable} recorded objects are as recorded before the run, the {created} it created are gone (never a CRD, namespace or custom resource)"
        ),
        RunState::Finalized => {
            "rollback is no longer possible: the run is finalized (storage migrated, the old versions gone)".to_owned()
        }
        _ => format!(
            "rollback would restore {restorable} recorded objects and remove {created} the run creates (never a CRD, namespace or custom resource)"
        ),
    }
}

/// How many recorded objects a rollback restores and how many it removes (the run created them).
pub(crate) fn rollback_counts(journal: &Journal) -> (usize, usize) {
    let restorable = journal.recorded.iter().filter(|r| r.before.is_some()).count();
    (restorable, journal.recorded.len() - restorable)
}

/// How many of the canary's members are in `cohort`.
pub(crate) fn cohort_size(canary: &CanaryRecord, cohort: Cohort) -> usize {
    canary.members.iter().filter(|m| m.cohort == cohort).count()
}

/// How the analysis ended (or that it still measures), in a few words.
pub(crate) fn decision_text(decision: &Decision) -> String {
    match decision {
        Decision::Continue => "measuring".to_owned(),
        Decision::Pass => "passed".to_owned(),
        Decision::Fail(why) => format!("failed: {why}"),
        Decision::Inconclusive(why) => format!("inconclusive: {why}"),
    }
}

/// The run as one JSON object (the recorded objects by key only).
pub fn render_json(journal: &Journal, beat: Heartbeat) -> serde_json::Value {
    let recorded: Vec<serde_json::Value> = journal
        .recorded
        .iter()
        .map(|r| json!({"object": r.key, "step": r.step, "existed": r.before.is_some()}))
        .collect();
    json!({
        "runId": journal.run_id, "plan": journal.plan, "planHash": journal.plan_hash, "cluster": journal.cluster_uid,
        "toolVersion": journal.tool_version, "operator": journal.operator, "state": journal.state,
        "heartbeat": format!("{beat:?}").to_lowercase(), "started": journal.started, "updated": journal.updated,
        "accepted": journal.accepted, "steps": journal.steps, "recorded": recorded, "health": journal.health,
        "notes": journal.notes, "helm": journal.helm, "next": advice(journal, beat), "canary": journal.canary.as_ref().map(canary_json),
        "analysis": journal.analysis.as_ref().filter(|_| journal.canary.is_none()).map(|a| json!({"intervals": a.intervals, "decision": a.decision})),
        "rehearsal": journal.rehearsal,
    })
}

/// The canary in a few lines: cohort sizes, the handovers' unowned time, the analysis table and its end.
fn render_canary(canary: &CanaryRecord) -> String {
    let count = |c: Cohort| cohort_size(canary, c);
    let mut out = format!(
        "  canary: {} canary, {} baseline objects{}\n",
        count(Cohort::Canary),
        count(Cohort::Baseline),
        match count(Cohort::Stable) {
            0 => String::new(),
            n => format!(", {n} marked stable"),
        }
    );
    for (handover, seconds) in &canary.unowned {
        out.push_str(&format!("  cohort objects had no operator for {seconds:.1}s at {handover}\n"));
    }
    out.push_str(&super::canary::render_intervals(&canary.intervals));
    if let Some(decision) = &canary.decision {
        out.push_str(&format!("  analysis {}\n", decision_text(decision)));
    }
    out
}

/// The analysis without a canary: the same table as a canary's (the fleet's side alone) and its end.
fn render_fleet_analysis(analysis: &crate::engine::canary::AnalysisJournal) -> String {
    let mut out = String::new();
    if !analysis.intervals.is_empty() {
        out.push_str(
            "  analysis of every object under the new release (no canary, no baseline):
",
        );
        out.push_str(&super::canary::render_intervals(&analysis.intervals));
    }
    if let Some(decision) = &analysis.decision {
        out.push_str(&format!(
            "  analysis {}
",
            decision_text(decision)
        ));
    }
    out
}

/// The canary as JSON: cohorts by size (not every member), handovers, intervals and the decision.
fn canary_json(canary: &CanaryRecord) -> serde_json::Value {
    let count = |c: Cohort| cohort_size(canary, c);
    json!({
        "canary": count(Cohort::Canary), "baseline": count(Cohort::Baseline), "stable": count(Cohort::Stable),
        "unowned": canary.unowned, "intervals": canary.intervals, "decision": canary.decision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_lease_is_a_stopped_heartbeat() {
        let now = jiff::Timestamp::now();
        let lease = |ago: i64| LeaseObservation {
            holder: "h".into(),
            plan: None,
            renewed: Some(now - jiff::SignedDuration::from_secs(ago)),
            duration_seconds: 15,
            resource_version: "1".into(),
        };
        assert_eq!(heartbeat(Some(&lease(1)), now), Heartbeat::Alive);
        assert_eq!(heartbeat(Some(&lease(60)), now), Heartbeat::Stopped);
        assert_eq!(heartbeat(None, now), Heartbeat::None);
    }

    #[test]
    fn the_rollback_line_says_what_was_restored_would_be_or_no_longer_can_be() {
        let mut journal = crate::engine::run_report::fixture::journal();
        assert!(rollback_summary(&journal).starts_with("rolled back: the 2 recorded objects are as recorded"));
        for step in &mut journal.steps {
            if step.state == StepState::Undone {
                step.state = StepState::Done;
            }
        }
        journal.state = RunState::RolledBack;
        assert!(rollback_summary(&journal).contains("before any change"));
        journal.state = RunState::Promoted;
        assert!(rollback_summary(&journal).starts_with("rollback would restore 2 recorded objects"));
        journal.state = RunState::Finalized;
        assert!(rollback_summary(&journal).contains("no longer possible"));
    }
}
