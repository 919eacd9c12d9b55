//! `apply` and `finalize`: the live preflight, the journal found or started, the Lease taken, then the
//! plan's steps in order, each journaled before and after, with automatic rollback on failure when the plan
//! asks for it.

use super::desired::{promotion_objects, promotion_removals, rbac_expanded, rbac_removals};
use super::journal::{decide_start, Journal, RunState, StartDecision, StepRecord, StepState};
use super::preflight::{self, LivePlan};
use super::report::{OutputMode, Reporter};
use super::run::{acquire_lease, holder_identity, load_journal, Run};
use super::steps::{execute, StepResult};
use super::upgrade::{Acceptance, Upgrade};
use super::{now, rollback, EngineError, Outcome, Refusal};
use crate::cluster::journal_store::JournalStore;
use crate::cluster::objects::desired_state;
use crate::cluster::operator_lock::OperatorLock;
use crate::cluster::{ClusterError, ObjectKey, Objects};
use crate::findings::Severity;
use crate::health::observe_fleet;
use crate::plan::steps::{Step, StepKind};

/// How `apply` and `finalize` run.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Skip the confirmation on a terminal.
    pub yes: bool,
    /// Send every write with `dryRun=All` and journal nothing.
    pub dry_run: bool,
    /// Refuse findings at or above this severity (None: never).
    pub fail_on: Option<Severity>,
    /// Findings accepted anyway.
    pub accept: Vec<Acceptance>,
    /// Go on to `finalize` once promoted.
    pub finalize: bool,
    /// Promote a run whose canary analysis paused inconclusive (a person's decision).
    pub promote: bool,
    /// How progress is printed.
    pub output: OutputMode,
    /// What a new run asks of a rehearsal.
    pub rehearsal: RehearsalCheck,
}

/// What a new run of `apply` asks of a rehearsal before it starts.
#[derive(Debug, Clone, PartialEq)]
pub enum RehearsalCheck {
    /// The evidence given with `--rehearsal` (None: none given) is checked when the plan requires a rehearsal
    /// or evidence is given anyway.
    Enforce(Option<Box<super::rehearsal::Evidence>>),
    /// The run is part of `rehearse`: it is the rehearsal.
    Rehearsing,
}

fn protected(upgrade: &Upgrade, client: kube::Client, dry_run: bool) -> Objects {
    let groups = upgrade.old.crd_groups().into_iter().chain(upgrade.new.crd_groups());
    Objects::new(client, dry_run).protecting_groups(groups)
}

/// Runs the plan: preflight, then every step up to promotion (and `finalize` with `options.finalize`).
/// The operator's Lease is taken before the journals are read, so the decision to start is made by the one
/// run that holds the operator.
pub async fn apply(client: kube::Client, upgrade: &Upgrade, options: &ApplyOptions) -> Result<Outcome, EngineError> {
    let objects = protected(upgrade, client.clone(), options.dry_run);
    let reporter = Reporter::new(options.output);
    let live = preflight::observe(&objects, upgrade).await?;
    if options.output == OutputMode::Text {
        print!("{}", live.render());
    }
    let store = JournalStore::new(client.clone(), upgrade.namespace(), upgrade.name());
    if options.dry_run {
        return match admit(&objects, upgrade, options, &live, &store).await? {
            Err(refused) => Ok(refused),
            Ok(_) => dry_run(objects, upgrade, reporter).await,
        };
    }
    let lock = OperatorLock::new(client.clone(), upgrade.namespace(), upgrade.deployment());
    let holder = holder_identity(&upgrade.run_id());
    let held = match acquire_lease(&lock, &holder, upgrade.name()).await? {
        Ok(held) => held,
        Err(refused) => return Ok(refused),
    };
    let (journal, version) = match prepare(&objects, upgrade, options, &live, &store).await {
        Ok(Ok(prepared)) => prepared,
        Ok(Err(refused)) => {
            held.release().await;
            return Ok(refused);
        }
        Err(error) => {
            held.release().await;
            return Err(error);
        }
    };
    let reporter = reporter.with_events(client, upgrade.namespace(), upgrade.deployment());
    let mut run = Run::new(objects, store, journal, version, reporter, held);
    if let Some(helm) = &upgrade.helm {
        run.helm = helm.access.clone();
    }
    let outcome = match settle_inconclusive(&mut run, options.promote).await {
        Ok(Some(paused)) => Ok(paused),
        Ok(None) => Ok(run_apply(&mut run, upgrade, options.finalize).await),
        Err(error) => Err(error.into()),
    };
    run.release().await;
    outcome
}

/// The steps up to promotion, then the contract with `finalize`; an API failure pauses the run.
async fn run_apply(run: &mut Run, upgrade: &Upgrade, finalize: bool) -> Outcome {
    match drive(run, upgrade, false).await {
        Ok(outcome) if finalize && outcome.exit_code() == 0 => match drive(run, upgrade, true).await {
            Ok(outcome) => outcome,
            Err(error) => pause(run, &error).await,
        },
        Ok(outcome) => outcome,
        Err(error) => pause(run, &error).await,
    }
}

/// Whether `apply` may start or resume here, from this plan's journal and the open runs of other plans on
/// the same operator: the journal found (with its resourceVersion) when it may, the outcome when not.
async fn admit(
    objects: &Objects,
    upgrade: &Upgrade,
    options: &ApplyOptions,
    live: &LivePlan,
    store: &JournalStore,
) -> Result<Result<(StartDecision, Option<(Journal, String)>), Outcome>, EngineError> {
    let found = load_journal(store).await?;
    let same_operator = open_runs_of_other_plans(objects.client(), upgrade).await?;
    let decision = decide_start(found.as_ref().map(|(j, _)| j), &upgrade.hash, &same_operator);
    match &decision {
        StartDecision::Refuse(why) => return Ok(Err(Outcome::refused(why.clone()))),
        StartDecision::AlreadyPromoted if !options.finalize => {
            return Ok(Err(Outcome::Done(format!(
                "plan {} is already promoted: `finalize` completes it, `rollback` undoes it",
                upgrade.name()
            ))))
        }
        StartDecision::Start => {
            let mut refusals = live.refusals(upgrade, options.fail_on, &options.accept);
            if let RehearsalCheck::Enforce(evidence) = &options.rehearsal {
                refusals.extend(super::rehearsal::refusals_for_apply(upgrade, evidence.as_deref(), &live.identity));
            }
            if !refusals.is_empty() {
                return Ok(Err(Outcome::Refused(refusals)));
            }
        }
        // A resumed run passed its preflight before it changed anything; what it changed since is its own.
        StartDecision::Resume | StartDecision::AlreadyPromoted => {
            if let Some(pinned) = &live.identity_mismatch {
                return Ok(Err(Outcome::refused(Refusal::WrongCluster {
                    pinned: pinned.clone(),
                    actual: live.identity.clone(),
                })));
            }
        }
    }
    Ok(Ok((decision, found)))
}

/// Admitted, the run's journal: a new one (replacing a closed run's) or the one to resume, confirmed by a
/// person on a terminal.
async fn prepare(
    objects: &Objects,
    upgrade: &Upgrade,
    options: &ApplyOptions,
    live: &LivePlan,
    store: &JournalStore,
) -> Result<Result<(Journal, Option<String>), Outcome>, EngineError> {
    let (decision, found) = match admit(objects, upgrade, options, live, store).await? {
        Ok(admitted) => admitted,
        Err(refused) => return Ok(Err(refused)),
    };
    let (journal, version) = match (decision, found) {
        // A closed run's journal is replaced by the new run's.
        (StartDecision::Start, found) => (new_journal(objects, upgrade, live, options).await?, found.map(|(_, v)| v)),
        (_, Some((journal, version))) => (journal, Some(version)),
        (_, None) => unreachable!("resuming needs a journal"),
    };
    if !confirm(options.yes, &format!("apply plan {} to cluster {}", upgrade.name(), live.identity), upgrade, &journal)?
    {
        return Ok(Err(Outcome::refused(Refusal::NotConfirmed)));
    }
    Ok(Ok((journal, version)))
}

/// The journals of other plans on the same operator (namespace and Deployment) whose runs are still open.
async fn open_runs_of_other_plans(client: &kube::Client, upgrade: &Upgrade) -> Result<Vec<Journal>, EngineError> {
    let operator = format!("{}/{}", upgrade.namespace(), upgrade.deployment());
    let mut open = Vec::new();
    for found in JournalStore::find(client, Some(upgrade.namespace())).await? {
        if found.plan == upgrade.name() {
            continue;
        }
        let store = JournalStore::new(client.clone(), &found.namespace, &found.plan);
        if let Some((journal, _)) = load_journal(&store).await? {
            if journal.operator == operator && !journal.state.is_closed() {
                open.push(journal);
            }
        }
    }
    Ok(open)
}

/// A canary analysis that paused inconclusive waits for a person: with `--promote` the analysis counts as
/// passed (journaled as their decision) and the run goes on; without it the run stays paused.
async fn settle_inconclusive(run: &mut Run, promote: bool) -> Result<Option<Outcome>, ClusterError> {
    let Some(why) = run.journal.canary.as_ref().and_then(|c| match &c.decision {
        Some(crate::canary::judge::Decision::Inconclusive(why)) => Some(why.clone()),
        _ => None,
    }) else {
        return Ok(None);
    };
    let Some(index) = run.journal.steps.iter().position(|s| s.kind == StepKind::Analysis && s.state != StepState::Done)
    else {
        return Ok(None);
    };
    if !promote {
        return Ok(Some(Outcome::Paused(format!(
            "the analysis was inconclusive: {why}. `apply --promote` promotes, `rollback` aborts"
        ))));
    }
    run.journal.notes.push(format!("promoted by a person after an inconclusive analysis: {why}"));
    run.end_step(index, StepState::Done, "inconclusive; promoted by a person (`apply --promote`)").await?;
    Ok(None)
}

/// Completes a promoted run: the contract steps, then the run is finalized.
pub async fn finalize(client: kube::Client, upgrade: &Upgrade, options: &ApplyOptions) -> Result<Outcome, EngineError> {
    let objects = protected(upgrade, client.clone(), false);
    let store = JournalStore::new(client.clone(), upgrade.namespace(), upgrade.name());
    let Some((journal, version)) = load_journal(&store).await? else {
        return Ok(Outcome::refused(Refusal::NoRunToFinalize {
            plan: upgrade.name().to_owned(),
            namespace: upgrade.namespace().to_owned(),
            file: upgrade.loaded.file.clone(),
        }));
    };
    if journal.plan_hash != upgrade.hash {
        return Ok(Outcome::refused(Refusal::PlanChanged { run_id: journal.run_id.clone() }));
    }
    let contract_steps: Vec<usize> =
        upgrade.plan.steps.iter().enumerate().filter(|(_, s)| s.is_contract()).map(|(i, _)| i).collect();
    match journal.state {
        RunState::Finalized => return Ok(Outcome::Done(journal.already_closed().unwrap_or_default())),
        _ if journal.finalize_takes_on(&contract_steps) => {}
        state => {
            return Ok(Outcome::refused(Refusal::NotPromoted {
                run_id: journal.run_id.clone(),
                state: state.to_string(),
                file: upgrade.loaded.file.clone(),
            }))
        }
    }
    if !confirm(options.yes, &format!("finalize plan {} (the point of no return)", upgrade.name()), upgrade, &journal)?
    {
        return Ok(Outcome::refused(Refusal::NotConfirmed));
    }
    let holder = holder_identity(&journal.run_id);
    let lock = OperatorLock::new(client.clone(), upgrade.namespace(), upgrade.deployment());
    let held = match acquire_lease(&lock, &holder, upgrade.name()).await? {
        Ok(held) => held,
        Err(refused) => return Ok(refused),
    };
    let reporter = Reporter::new(options.output).with_events(client, upgrade.namespace(), upgrade.deployment());
    let mut run = Run::new(objects, store, journal, Some(version), reporter, held);
    if let Some(helm) = &upgrade.helm {
        run.helm = helm.access.clone();
    }
    let outcome = match drive(&mut run, upgrade, true).await {
        Ok(outcome) => outcome,
        Err(error) => pause(&mut run, &error).await,
    };
    run.release().await;
    Ok(outcome)
}

/// The first journal of a run: every step pending, and the live state of everything the run will change,
/// read before its first write.
async fn new_journal(
    objects: &Objects,
    upgrade: &Upgrade,
    live: &LivePlan,
    options: &ApplyOptions,
) -> Result<Journal, EngineError> {
    let started = now();
    let mut journal = Journal {
        run_id: upgrade.run_id(),
        plan: upgrade.name().to_owned(),
        plan_hash: upgrade.hash.clone(),
        cluster_uid: live.identity.clone(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        operator: format!("{}/{}", upgrade.namespace(), upgrade.deployment()),
        started: started.clone(),
        updated: started,
        state: RunState::Running,
        accepted: options.accept.iter().map(ToString::to_string).collect(),
        steps: upgrade
            .plan
            .steps
            .iter()
            .map(|s| StepRecord {
                kind: s.kind,
                title: s.title.clone(),
                state: StepState::Pending,
                started: None,
                ended: None,
                message: None,
                output: None,
            })
            .collect(),
        recorded: Vec::new(),
        baseline_not_ready: Vec::new(),
        health: None,
        notes: Vec::new(),
        rollback_timeout: Some(upgrade.loaded.plan.spec.rollback.timeout),
        condition_type: Some(super::canary::condition_type(upgrade.loaded.analysis())),
        canary: None,
        analysis: None,
        rehearsal: None,
        migration: None,
        helm: upgrade.helm.as_ref().map(super::helm_run::HelmUpgrade::record),
    };
    for (key, step) in touched_objects(upgrade) {
        let before = objects.get(&key).await?.map(|o| desired_state(&o));
        journal.record(key, step, before);
    }
    // Objects not ready before the run changed anything are not the new release's doing.
    let condition = super::canary::condition_type(upgrade.loaded.analysis());
    let fleet = observe_fleet(objects, &upgrade.old_custom_resource_kinds(), &condition).await?;
    journal.baseline_not_ready = fleet.into_iter().filter(|o| o.ready != Some(true)).map(|o| o.object).collect();
    Ok(journal)
}

/// Everything the run's steps may change, with the step that changes it.
fn touched_objects(upgrade: &Upgrade) -> Vec<(ObjectKey, StepKind)> {
    let mut touched: Vec<(ObjectKey, StepKind)> =
        upgrade.new.crds.keys().map(|n| (ObjectKey::crd(n), StepKind::CrdExpand)).collect();
    let rbac = rbac_expanded(&upgrade.old, &upgrade.new);
    let rbac = rbac.iter().map(ObjectKey::of).chain(rbac_removals(&upgrade.old, &upgrade.new));
    touched.extend(rbac.map(|k| (k, StepKind::RbacExpand)));
    let promoted = promotion_objects(&upgrade.new);
    let promoted = promoted.iter().map(ObjectKey::of).chain(promotion_removals(&upgrade.old, &upgrade.new));
    touched.extend(promoted.map(|k| (k, StepKind::Promotion)));
    touched
}

/// Executes the apply steps (`contract` false: everything before the contract) or the finalize steps, from
/// the first one not done, and sets the run's state at the end.
async fn drive(run: &mut Run, upgrade: &Upgrade, contract: bool) -> Result<Outcome, ClusterError> {
    run.journal.state = RunState::Running;
    run.save().await?;
    let steps = &upgrade.plan.steps;
    for (index, step) in steps.iter().enumerate() {
        if step.is_contract() != contract || run.journal.step(index).state == StepState::Done {
            continue;
        }
        run.start_step(index).await?;
        match execute(run, upgrade, step).await? {
            StepResult::Done(message) => run.end_step(index, StepState::Done, &message).await?,
            StepResult::Paused(message) => {
                run.journal.steps[index].message = Some(message.clone());
                run.journal.state = RunState::Paused;
                run.save().await?;
                return Ok(Outcome::Paused(message));
            }
            StepResult::Failed { message, output } => {
                run.journal.steps[index].output = output;
                run.end_step(index, StepState::Failed, &message).await?;
                return after_failure(run, upgrade, index, &message).await;
            }
        }
    }
    if let (true, Some(helm)) = (contract, &upgrade.helm) {
        match super::helm_run::finalize(run, upgrade, helm).await? {
            Ok(done) => run.reporter.info(&done),
            Err(why) => {
                run.journal.state = RunState::Paused;
                run.save().await?;
                return Ok(Outcome::Paused(format!(
                    "storage migrated, but the release's finalizing helm upgrade failed: {why}. `finalize` retries it"
                )));
            }
        }
    }
    super::jobs::remove_run_jobs(&run.objects, Some(&job_namespaces(upgrade)), &run.journal.run_id).await?;
    super::restore::remove_run_namespaces(&run.objects, &run.journal.run_id).await?;
    run.journal.state = if contract { RunState::Finalized } else { RunState::Promoted };
    run.save().await?;
    Ok(Outcome::Done(if contract {
        format!("plan {} finalized: storage migrated, the release's CRDs and RBAC as shipped", upgrade.name())
    } else {
        format!(
            "plan {} promoted; every step is still reversible. `finalize -f {}` completes it (the point of no return), `rollback` undoes it",
            upgrade.name(),
            upgrade.loaded.file.display()
        )
    }))
}

/// What follows a failed step: a gate that fails before anything changed ends the run refused; otherwise
/// the run rolls back by itself when the plan says so, or pauses for a person.
async fn after_failure(run: &mut Run, upgrade: &Upgrade, index: usize, message: &str) -> Result<Outcome, ClusterError> {
    let nothing_changed =
        run.journal.steps[..index].iter().all(|s| matches!(s.kind, StepKind::Preflight | StepKind::BackupGate));
    if nothing_changed && run.journal.steps[index].kind == StepKind::BackupGate {
        run.journal.state = RunState::RolledBack;
        run.journal.notes.push(format!("refused before any change: {message}"));
        run.save().await?;
        return Ok(Outcome::refused(Refusal::BackupGate(message.to_owned())));
    }
    if !upgrade.loaded.rollback_automatic() {
        run.journal.state = RunState::Paused;
        run.save().await?;
        return Ok(Outcome::Paused(format!(
            "{message}. The plan does not roll back by itself: `rollback` undoes the run, `apply` retries the step"
        )));
    }
    run.reporter.info(&format!("rolling back: {message}"));
    match rollback::undo(run).await {
        Ok(report) if report.clean() => {
            Ok(Outcome::RolledBack(format!("{message}; rolled back: {}", report.summary())))
        }
        Ok(report) => {
            Ok(Outcome::NeedsAttention(format!("{message}; the rollback left differences: {}", report.summary())))
        }
        Err(error) => {
            run.journal.state = RunState::Failed;
            let _ = run.save().await;
            Ok(Outcome::NeedsAttention(format!("{message}; the rollback failed: {error}")))
        }
    }
}

/// An API failure beyond the retry budget: the run stops where it is, journaled as paused when the journal
/// can still be written (otherwise its Lease expires and `status` reports the stopped heartbeat).
async fn pause(run: &mut Run, error: &ClusterError) -> Outcome {
    run.journal.state = RunState::Paused;
    let saved = run.save().await.is_ok();
    let journal = if saved { "journaled as paused" } else { "the journal could not be written either" };
    Outcome::Paused(format!(
        "the cluster API failed ({error}); {journal}. `apply` with the same plan resumes, `rollback` undoes what was done"
    ))
}

fn job_namespaces(upgrade: &Upgrade) -> Vec<String> {
    let mut namespaces: Vec<String> = upgrade
        .loaded
        .plan
        .spec
        .jobs
        .all()
        .map(|(_, j)| j.namespace.clone().unwrap_or_else(|| upgrade.namespace().to_owned()))
        .collect();
    namespaces.push(upgrade.namespace().to_owned());
    namespaces.sort();
    namespaces.dedup();
    namespaces
}

/// Every step with `dryRun=All`: admission (webhooks, policies) sees each write, nothing changes, nothing
/// is journaled.
async fn dry_run(objects: Objects, upgrade: &Upgrade, reporter: Reporter) -> Result<Outcome, EngineError> {
    let client = objects.client().clone();
    let store = JournalStore::new(client, upgrade.namespace(), upgrade.name());
    let journal = Journal {
        run_id: upgrade.run_id(),
        plan: upgrade.name().to_owned(),
        plan_hash: upgrade.hash.clone(),
        cluster_uid: String::new(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        operator: String::new(),
        started: now(),
        updated: now(),
        state: RunState::Running,
        accepted: Vec::new(),
        steps: Vec::new(),
        recorded: Vec::new(),
        baseline_not_ready: Vec::new(),
        health: None,
        notes: Vec::new(),
        rollback_timeout: Some(upgrade.loaded.plan.spec.rollback.timeout),
        condition_type: None,
        canary: None,
        analysis: None,
        rehearsal: None,
        migration: None,
        helm: None,
    };
    let mut run = Run::dry(objects, store, journal, reporter);
    // The canary's Deployments and cohort markers depend on a draw that is journaled; a dry run journals
    // nothing, so it checks the writes of the other steps.
    let checked = |s: &&Step| !s.is_contract() && !matches!(s.kind, StepKind::Analysis | StepKind::CanaryRollout);
    for step in upgrade.plan.steps.iter().filter(checked) {
        match execute(&mut run, upgrade, step).await? {
            StepResult::Done(message) => run.reporter.info(&format!("dry run {}: {message}", step.kind)),
            StepResult::Paused(message) | StepResult::Failed { message, .. } => {
                return Ok(Outcome::refused(Refusal::DryRun { step: step.kind.to_string(), message }));
            }
        }
    }
    Ok(Outcome::Done("dry run: the API server accepted every write; nothing was changed".into()))
}

/// On a terminal without `--yes`, shows the steps still to run and asks; elsewhere, proceeds.
fn confirm(yes: bool, what: &str, upgrade: &Upgrade, journal: &Journal) -> Result<bool, EngineError> {
    let mut summary = format!("About to {what}:\n");
    for (step, record) in upgrade.plan.steps.iter().zip(&journal.steps) {
        if record.state != StepState::Done {
            summary.push_str(&format!("  - {} {}\n", step.kind, step.title));
        }
    }
    super::report::ask_to_proceed(yes, &summary)
}
