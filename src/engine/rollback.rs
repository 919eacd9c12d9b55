//! `rollback`: undoes every started step in reverse from the journal alone (no plan file needed), restores
//! each recorded object exactly, verifies every restored object against the record, and waits until the
//! objects are healthy under the old operator. Refused after `finalize`.

use super::jobs::remove_run_jobs;
use super::journal::{Journal, RecordedObject, RunState, StepState};
use super::migrate::put_exact;
use super::report::{OutputMode, Reporter};
use super::run::{acquire_lease, holder_identity, load_journal, Run};
use super::steps::wait_rollout;
use super::{EngineError, Outcome, Refusal};
use crate::cluster::journal_store::JournalStore;
use crate::cluster::objects::desired_state;
use crate::cluster::operator_lock::OperatorLock;
use crate::cluster::{ClusterError, ObjectKey, Objects};
use crate::findings::FindingCode;
use crate::health::wait_until_ready;
use crate::manifest::{Crd, DocumentRef, LoadedCrd};
use crate::plan::steps::StepKind;
use crate::schema::validate::Validator;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// What a rollback did and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollbackReport {
    /// Objects put back as recorded.
    pub restored: usize,
    /// Objects the run created, removed.
    pub removed: usize,
    /// Objects deliberately left as they are, with why.
    pub kept: Vec<String>,
    /// Recorded objects compared with their record after the restore.
    pub checked: usize,
    /// Restored objects that differ from the record afterwards.
    pub differences: Vec<String>,
    /// Objects not healthy again within the timeout.
    pub unhealthy: Vec<String>,
    /// What else the rollback did or measured (the canary's markers, how long restoring took).
    pub notes: Vec<String>,
}

impl RollbackReport {
    /// Whether everything was restored, verified and is healthy.
    pub fn clean(&self) -> bool {
        self.differences.is_empty() && self.unhealthy.is_empty()
    }

    /// One line.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{} objects restored, {} removed", self.restored, self.removed)];
        if !self.kept.is_empty() {
            parts.push(format!("kept: {}", self.kept.join("; ")));
        }
        if !self.differences.is_empty() {
            parts.push(format!("differences from the record: {}", self.differences.join("; ")));
        }
        if !self.unhealthy.is_empty() {
            parts.push(format!("not healthy again: {}", self.unhealthy.join("; ")));
        }
        parts.extend(self.notes.iter().cloned());
        parts.join("; ")
    }
}

/// How long the objects may take to be healthy again after a rollback, for a journal that does not say
/// (the plan's default `spec.rollback.timeout`).
const HEALTHY_AGAIN_TIMEOUT: Duration = Duration::from_secs(600);

/// The `rollback` command: finds the run's journal (by plan name, or the only open one) in any namespace,
/// and undoes it.
pub async fn rollback(
    client: kube::Client,
    plan: Option<&str>,
    yes: bool,
    accept_pruning: bool,
    output: OutputMode,
    helm: &super::helm_run::HelmAccess,
) -> Result<Outcome, EngineError> {
    let found = JournalStore::find(&client, None).await?;
    let mut runs = Vec::new();
    for candidate in found.iter().filter(|f| plan.is_none_or(|p| f.plan == p)) {
        let store = JournalStore::new(client.clone(), &candidate.namespace, &candidate.plan);
        if let Some((journal, version)) = load_journal(&store).await? {
            runs.push((store, journal, version));
        }
    }
    let journals: Vec<&Journal> = runs.iter().map(|(_, journal, _)| journal).collect();
    let (store, journal, version) = match choose_run(&journals) {
        RunToRollBack::None => return Ok(Outcome::refused(Refusal::NoRunToRollBack { plan: plan.map(str::to_owned) })),
        RunToRollBack::SeveralOpen(several) => {
            let names = several.iter().map(|&i| format!("{} ({})", journals[i].plan, journals[i].state)).collect();
            return Ok(Outcome::refused(Refusal::SeveralRunsOpen(names)));
        }
        RunToRollBack::Run(index) => runs.swap_remove(index),
    };
    Ok(roll_back_run(client, store, journal, version, (yes, accept_pruning), output, helm).await?.0)
}

/// Which of the runs found `rollback` acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunToRollBack {
    /// No run was ever applied here (of the plan asked for).
    None,
    /// More than one run is open: the user must name the plan.
    SeveralOpen(Vec<usize>),
    /// This one: the only open run, or else the newest closed one (which says it is already rolled back, or
    /// refuses when it is finalized), so a script that runs `rollback` again after a lost connection or a
    /// killed shell learns that the rollback it asked for is done.
    Run(usize),
}

/// Chooses the run to roll back among the journals found (already narrowed to `--plan` when given): the
/// only open one; with none open, the newest by its last journal write.
pub fn choose_run(journals: &[&Journal]) -> RunToRollBack {
    let open: Vec<usize> = (0..journals.len()).filter(|&i| !journals[i].state.is_closed()).collect();
    match open.len() {
        0 => journals
            .iter()
            .enumerate()
            .max_by(|(_, a), (_, b)| a.updated.cmp(&b.updated))
            .map_or(RunToRollBack::None, |(i, _)| RunToRollBack::Run(i)),
        1 => RunToRollBack::Run(open[0]),
        _ => RunToRollBack::SeveralOpen(open),
    }
}

/// What `rollback` of a closed run comes to, without touching anything: done when it is rolled back
/// already (exit 0, so it can be retried), refused when it is finalized; None for a run still to undo.
pub fn closed_run_outcome(journal: &Journal) -> Option<Outcome> {
    match journal.state {
        RunState::Finalized => {
            Some(Outcome::refused(Refusal::Finalized { run_id: journal.run_id.clone(), plan: journal.plan.clone() }))
        }
        _ => journal.already_closed().map(Outcome::Done),
    }
}

/// The rollback of `upgrade`'s run, with what it did when it ran (None when it refused or found nothing to
/// do), read from where that plan keeps its journal rather than found by a search of every namespace: the
/// rehearsal's reset and drill need no permission `apply` does not, and the drill keeps the report as evidence.
pub async fn rollback_of_plan(
    client: kube::Client,
    upgrade: &super::Upgrade,
    output: OutputMode,
) -> Result<(Outcome, Option<RollbackReport>), EngineError> {
    let store = JournalStore::new(client.clone(), upgrade.namespace(), upgrade.name());
    let Some((journal, version)) = load_journal(&store).await? else {
        return Ok((Outcome::refused(Refusal::NoRunToRollBack { plan: Some(upgrade.name().to_owned()) }), None));
    };
    roll_back_run(client, store, journal, version, (true, false), output, &Default::default()).await
}

/// Rolls back the run journaled in `store` (refused when finalized, nothing to do when rolled back).
async fn roll_back_run(
    client: kube::Client,
    store: JournalStore,
    mut journal: Journal,
    version: String,
    (yes, accept_pruning): (bool, bool),
    output: OutputMode,
    helm: &super::helm_run::HelmAccess,
) -> Result<(Outcome, Option<RollbackReport>), EngineError> {
    if let Some(closed) = closed_run_outcome(&journal) {
        return Ok((closed, None));
    }
    if accept_pruning && !journal.accepted.iter().any(|a| a == FindingCode::DataPruned.as_str()) {
        journal.accepted.push(FindingCode::DataPruned.as_str().to_owned());
    }
    if !ask(yes, &journal)? {
        return Ok((Outcome::refused(Refusal::NotConfirmed), None));
    }
    let holder = holder_identity(&journal.run_id);
    let Some(lock) = OperatorLock::of_operator(client.clone(), &journal.operator) else {
        return Err(EngineError::Journal {
            name: format!("{}/{}", store.namespace(), store.config_map_name()),
            message: format!("its operator `{}` is not namespace/deployment", journal.operator),
        });
    };
    let held = match acquire_lease(&lock, &holder, &journal.plan).await? {
        Ok(held) => held,
        Err(refused) => return Ok((refused, None)),
    };
    let groups = recorded_crd_groups(&journal.recorded);
    let objects = Objects::new(client.clone(), false).protecting_groups(groups);
    let reporter = Reporter::new(output).with_events(client, lock.namespace(), lock.deployment());
    let mut run = Run::new(objects, store, journal, Some(version), reporter, held);
    run.helm = helm.clone();
    let outcome = match undo(&mut run).await {
        Ok(report) if report.clean() => {
            (Outcome::Done(format!("run {} rolled back: {}", run.journal.run_id, report.summary())), Some(report))
        }
        Ok(report) => {
            let message = format!("run {} rolled back with problems: {}", run.journal.run_id, report.summary());
            (Outcome::NeedsAttention(message), Some(report))
        }
        Err(error) => {
            run.journal.state = RunState::Failed;
            let _ = run.save().await;
            let message = format!("the rollback of run {} failed: {error}; run `rollback` again", run.journal.run_id);
            (Outcome::NeedsAttention(message), None)
        }
    };
    run.release().await;
    Ok(outcome)
}

fn ask(yes: bool, journal: &Journal) -> Result<bool, EngineError> {
    let summary = format!(
        "About to roll back run {} of plan {} ({}), restoring {} recorded objects.\n",
        journal.run_id,
        journal.plan,
        journal.state,
        journal.recorded.len()
    );
    super::report::ask_to_proceed(yes, &summary)
}

fn recorded_crd_groups(recorded: &[RecordedObject]) -> BTreeSet<String> {
    recorded
        .iter()
        .filter(|r| r.key.is_crd())
        .filter_map(|r| r.key.name.split_once('.').map(|(_, group)| group.to_owned()))
        .collect()
}

/// The stable Deployment back to its recorded spec and scope, then the cohort markers back as they were.
async fn undo_canary_rollout(run: &mut Run, report: &mut RollbackReport) -> Result<(), ClusterError> {
    let stable = run.journal.canary.as_ref().and_then(|c| run.journal.recorded(&c.stable)).cloned();
    if let Some(record) = stable {
        restore(&run.objects, &record, report).await?;
    }
    if let Some(note) = super::canary::undo_canary(run).await? {
        report.notes.push(note);
    }
    Ok(())
}

/// Undoes every started step of the run in reverse, verifies, waits until healthy, and journals the run
/// as rolled back.
pub async fn undo(run: &mut Run) -> Result<RollbackReport, ClusterError> {
    let began = Instant::now();
    let mut report = RollbackReport::default();
    let accept_pruning = run.journal.accepted.iter().any(|a| a == FindingCode::DataPruned.as_str());
    let mut kept_crds = BTreeSet::new();
    // The canary's and baseline's pods must be gone before the stable Deployment takes their objects back.
    if let Err(why) = super::canary::remove_copies(&run.objects, &run.journal).await? {
        report.differences.push(why);
    }
    // Helm goes back first: its rollback rewrites the release's objects, which the restore then verifies.
    let helm_failed = match super::helm_run::roll_back(run).await? {
        Ok(Some(done)) => {
            report.notes.push(done);
            None
        }
        Ok(None) => None,
        Err(why) => Some(format!("the Helm release could not be rolled back: {why}")),
    };
    for index in run.journal.steps_to_undo() {
        let kind = run.journal.steps[index].kind;
        if kind == StepKind::CanaryRollout {
            undo_canary_rollout(run, &mut report).await?;
        }
        let records: Vec<RecordedObject> =
            run.journal.recorded.iter().filter(|r| r.step == kind).rev().cloned().collect();
        for record in &records {
            if record.key.is_crd() {
                if let Some(why) = pruning_blocks_restore(&run.objects, record, accept_pruning).await? {
                    report.kept.push(why);
                    kept_crds.insert(record.key.clone());
                    continue;
                }
            }
            restore(&run.objects, record, &mut report).await?;
        }
        run.objects.forget_kinds();
        run.journal.steps[index].state = StepState::Undone;
        run.save().await?;
        let total = run.journal.steps.len();
        run.reporter.step((index, total), kind, "undone", &format!("{} objects restored", records.len()), false).await;
    }
    remove_run_jobs(&run.objects, None, &run.journal.run_id).await?;
    super::restore::remove_run_namespaces(&run.objects, &run.journal.run_id).await?;
    report.differences = verify(&run.objects, &run.journal.recorded, &kept_crds).await?;
    report.differences.extend(helm_failed);
    report.checked = run.journal.recorded.len() - kept_crds.len();
    report.unhealthy = wait_healthy(run).await?;
    if let Some(timing) = super::canary::failure_to_restored(&run.objects, &run.journal).await? {
        report.notes.push(format!("{timing} ({:.1}s of them rolling back)", began.elapsed().as_secs_f64()));
    }
    run.journal.notes.push(format!("rollback: {}", report.summary()));
    run.journal.state = if report.clean() { RunState::RolledBack } else { RunState::Failed };
    run.save().await?;
    Ok(report)
}

async fn restore(objects: &Objects, record: &RecordedObject, report: &mut RollbackReport) -> Result<(), ClusterError> {
    if record.secret_data_missing {
        report.differences.push(missing_secret_values(record));
        return Ok(());
    }
    match &record.before {
        Some(before) => {
            put_exact(objects, before).await?;
            report.restored += 1;
        }
        None if objects.deletion_forbidden(&record.key) => {
            if objects.get(&record.key).await?.is_some() {
                report.kept.push(format!(
                    "{} (created by the run; the tool never deletes CRDs, namespaces or custom resources)",
                    record.key
                ));
            }
        }
        None => {
            objects.delete(&record.key).await?;
            report.removed += 1;
        }
    }
    Ok(())
}

/// Why a recorded Secret is not put back: its values, kept in the run's Secret, are gone, and restoring it
/// without them would erase the values it holds now.
fn missing_secret_values(record: &RecordedObject) -> String {
    format!(
        "{} was not restored: its recorded values (kept in Secret {}) are missing; restore it from a backup",
        record.key,
        record.secret_data.as_deref().unwrap_or("?")
    )
}

/// Why the recorded CRD cannot be put back without losing data written since the expand: the live objects
/// checked against it, the fields it would prune. None when restoring loses nothing (or pruning is accepted).
async fn pruning_blocks_restore(
    objects: &Objects,
    record: &RecordedObject,
    accept: bool,
) -> Result<Option<String>, ClusterError> {
    let Some(before) = &record.before else { return Ok(None) };
    if accept {
        return Ok(None);
    }
    let Ok(crd) = Crd::from_value(before.clone()) else { return Ok(None) };
    let Some(version) = crd.versions.iter().find(|v| v.served).map(|v| v.name.clone()) else { return Ok(None) };
    let api_version = format!("{}/{version}", crd.group);
    let kind = crd.names.kind.clone();
    let name = crd.name.clone();
    let source = DocumentRef { file: "journal".into(), document: 1, line: 1 };
    let crds = BTreeMap::from([(
        name.clone(),
        LoadedCrd { crd, source, original_api_version: "apiextensions.k8s.io/v1".into() },
    )]);
    let validator = Validator::new(&crds);
    let mut pruned = Vec::new();
    for object in objects.list_all(&api_version, &kind, None).await? {
        for finding in validator.validate(&object, None).into_iter().filter(|f| f.key.code == FindingCode::DataPruned) {
            pruned.push(format!("{} {}", finding.object, finding.key.path));
        }
    }
    if pruned.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "the expanded CRD {name}: restoring the recorded one would prune data written since the expand ({}); `rollback --accept data-pruned` restores it anyway",
        pruned.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
    )))
}

/// The first place two values differ, as a path.
pub fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (va, vb) = (x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null));
                first_difference(va, vb, &format!("{path}.{k}"))
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (va, vb))| first_difference(va, vb, &format!("{path}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(if path.is_empty() { ".".to_owned() } else { path.to_owned() }),
    }
}

/// Every restored object compared with its record; a removed one must be gone.
async fn verify(
    objects: &Objects,
    recorded: &[RecordedObject],
    kept: &BTreeSet<ObjectKey>,
) -> Result<Vec<String>, ClusterError> {
    let mut differences = Vec::new();
    for record in recorded.iter().filter(|r| !kept.contains(&r.key) && !r.secret_data_missing) {
        let live = objects.get(&record.key).await?;
        match (&record.before, live) {
            (Some(before), Some(live)) => {
                if let Some(at) = first_difference(before, &desired_state(&live), "") {
                    differences.push(format!("{} differs at {at}", record.key));
                }
            }
            (Some(_), None) => differences.push(format!("{} is missing", record.key)),
            (None, Some(_)) if !objects.deletion_forbidden(&record.key) => {
                differences.push(format!("{} is still there", record.key))
            }
            _ => {}
        }
    }
    Ok(differences)
}

/// Waits until every restored Deployment has rolled out and every custom resource of the recorded CRDs is
/// ready again (those not ready before the run excepted); returns what is still not.
async fn wait_healthy(run: &Run) -> Result<Vec<String>, ClusterError> {
    let timeout = run.journal.rollback_timeout.map_or(HEALTHY_AGAIN_TIMEOUT, |t| t.to_std());
    for record in run.journal.recorded.iter().filter(|r| r.key.kind == "Deployment" && r.before.is_some()) {
        if let Err(why) = wait_rollout(&run.objects, &record.key, timeout).await? {
            return Ok(vec![why]);
        }
    }
    let kinds: Vec<(String, String)> = run
        .journal
        .recorded
        .iter()
        .filter(|r| r.key.is_crd())
        .filter_map(|r| r.before.as_ref())
        .filter_map(|crd| {
            let group = crd["spec"]["group"].as_str()?;
            let kind = crd["spec"]["names"]["kind"].as_str()?;
            let version = super::desired::storage_version(crd)?;
            Some((format!("{group}/{version}"), kind.to_owned()))
        })
        .collect();
    let baseline: BTreeSet<&String> = run.journal.baseline_not_ready.iter().collect();
    let condition = run.journal.condition_type.as_deref().unwrap_or("Ready");
    Ok(wait_until_ready(&run.objects, &kinds, condition, &baseline, 0, timeout).await?.not_ready)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_difference_is_named_by_its_path() {
        let a = json!({"spec": {"template": {"image": "a", "args": ["x"]}}});
        let b = json!({"spec": {"template": {"image": "b", "args": ["x"]}}});
        assert_eq!(first_difference(&a, &b, "").as_deref(), Some(".spec.template.image"));
        assert_eq!(first_difference(&a, &a, ""), None);
        let c = json!({"spec": {"template": {"image": "a", "args": ["x", "y"]}}});
        assert_eq!(first_difference(&a, &c, "").as_deref(), Some(".spec.template.args"));
    }

    fn run(plan: &str, state: RunState, updated: &str) -> Journal {
        let mut journal = crate::engine::journal::tests::journal(state, "h");
        journal.plan = plan.into();
        journal.updated = updated.into();
        journal
    }

    #[test]
    fn the_only_open_run_is_rolled_back_whatever_closed_ones_are_newer() {
        let (a, b) = (run("a", RunState::Promoted, "1"), run("b", RunState::RolledBack, "2"));
        assert_eq!(choose_run(&[&b, &a]), RunToRollBack::Run(1));
        let c = run("c", RunState::Failed, "0");
        assert_eq!(choose_run(&[&a, &b, &c]), RunToRollBack::SeveralOpen(vec![0, 2]));
        assert_eq!(choose_run(&[]), RunToRollBack::None);
    }

    #[test]
    fn with_none_open_the_newest_run_answers_a_retried_rollback() {
        let (old, new) = (
            run("a", RunState::Finalized, "2026-01-01T00:00:00Z"),
            run("b", RunState::RolledBack, "2026-12-07T19:00:00Z"),
        );
        assert_eq!(choose_run(&[&old, &new]), RunToRollBack::Run(1));
        assert!(
            matches!(closed_run_outcome(&new), Some(Outcome::Done(m)) if m.contains("already rolled back (at 2026-12-07T19:00:00Z)"))
        );
        // Rolling back a finalized run stays a refusal (exit 3), and an open run is rolled back for real.
        assert!(
            matches!(closed_run_outcome(&old), Some(Outcome::Refused(r)) if matches!(r[..], [Refusal::Finalized { .. }]))
        );
        assert_eq!(closed_run_outcome(&run("a", RunState::Promoted, "1")), None);
    }

    #[test]
    fn a_clean_report_has_no_differences_and_nothing_unhealthy() {
        let mut report = RollbackReport { restored: 3, ..RollbackReport::default() };
        assert!(report.clean());
        report.differences.push("Deployment x differs at .spec".into());
        assert!(!report.clean());
        assert!(report.summary().contains("differences"));
    }
}
