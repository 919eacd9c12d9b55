//! `canary-rollout`: draws the cohorts (recorded before the first write, so a resumed run keeps them),
//! marks their objects, rescopes the stable Deployment and waits until its old pods are gone, then starts
//! the baseline and canary Deployments, each on its own cohort and lease.

use super::{cohort_kinds, policy, release_deployment};
use crate::canary::access::{canary_access, run_as_own_account, service_account_of};
use crate::canary::cohort::{assign_cohorts, object_unit, seed_of, Cohort};
use crate::canary::measure::{dependent_fingerprints, owner_generations};
use crate::canary::scoping::{cohort_copy, copy_lease_name, copy_name, marker_of, scoped, RenderContext};
use crate::cluster::{ClusterError, ObjectKey};
use crate::engine::journal::CanaryRecord;
use crate::engine::now;
use crate::engine::run::Run;
use crate::engine::steps::{apply_owned, wait_rollout, wait_settled, StepResult};
use crate::engine::upgrade::Upgrade;
use crate::manifest::LabelSelector;
use crate::plan::file::{CanaryPolicy, ScopingMechanism, Signal};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// Executes the `canary-rollout` step.
pub async fn roll_out(run: &mut Run, upgrade: &Upgrade) -> Result<StepResult, ClusterError> {
    let canary = match policy(upgrade) {
        Ok(canary) => canary,
        Err(why) => return Ok(StepResult::failed(why)),
    };
    if run.journal.canary.is_none() {
        match draw_cohorts(run, upgrade, canary).await? {
            Ok(record) => run.journal.canary = Some(record),
            Err(why) => return Ok(StepResult::failed(why)),
        }
        run.save().await?;
    }
    let record = run.journal.canary.clone().expect("drawn above");
    let marking = Instant::now();
    mark_members(run, &record).await?;
    let marked_in = marking.elapsed().as_secs_f64();
    let timeout = upgrade.loaded.plan.spec.rollback.timeout.to_std();
    let stable = match rescoped_stable(upgrade, canary, &record, run.objects.namespaces().await?) {
        Ok(stable) => stable,
        Err(why) => return Ok(StepResult::failed(why)),
    };
    if let Err(conflict) = apply_owned(&run.objects, upgrade, &stable).await? {
        return Ok(StepResult::failed(conflict));
    }
    if let Err(why) = wait_settled(&run.objects, &stable, timeout).await? {
        return Ok(StepResult::failed(format!("the stable Deployment was not rescoped: {why}")));
    }
    let unowned_from = Instant::now();
    let copies = match copies(upgrade, canary, &record, &run.journal.run_id) {
        Ok(copies) => copies,
        Err(why) => return Ok(StepResult::failed(why)),
    };
    // Warning events and failures count from here: the copies' first reconciles are the canary's.
    if run.journal.canary.as_ref().is_some_and(|r| r.started.is_none()) {
        run.journal.canary.as_mut().expect("drawn above").started = Some(now());
        run.save().await?;
    }
    let access: Vec<Value> = match access_objects(upgrade, &record.copies, &run.journal.run_id) {
        Ok(access) => access.into_iter().filter(|o| record.access.contains(&ObjectKey::of(o))).collect(),
        Err(why) => return Ok(StepResult::failed(why)),
    };
    for object in access.iter().chain(&copies) {
        if let Err(conflict) = apply_owned(&run.objects, upgrade, object).await? {
            return Ok(StepResult::failed(conflict));
        }
    }
    // A canary that never becomes ready is the analysis's to judge (restarts, no reconciles), not a
    // reason to wait here for longer than the analysis would wait to start.
    let analysis = upgrade.loaded.analysis();
    let patience = analysis.warm_up.to_std().saturating_add(analysis.interval.to_std());
    let mut ready = Vec::new();
    for copy in &copies {
        ready.push(wait_rollout(&run.objects, &ObjectKey::of(copy), patience).await?.is_ok());
    }
    let gap = unowned_from.elapsed().as_secs_f64();
    let record = run.journal.canary.as_mut().expect("drawn above");
    record.unowned.push(("canary-rollout".to_owned(), gap));
    let counts = |c: Cohort| record.members.iter().filter(|m| m.cohort == c).count();
    let marked = if record.marker.is_some() { record.members.len() } else { 0 };
    let message = format!(
        "{} canary and {} baseline objects ({marked} marked in {marked_in:.1}s); stable Deployment rescoped; {} of {} cohort Deployments ready; cohort objects had no operator for {gap:.1}s",
        counts(Cohort::Canary),
        counts(Cohort::Baseline),
        ready.iter().filter(|r| **r).count(),
        copies.len()
    );
    let by_namespace = !record.namespaces.is_empty();
    run.save().await?;
    if by_namespace {
        run.reporter.info(
            "  warning: the stable Deployment watches the namespaces that existed at the rollout; a namespace created during the canary is watched by no Deployment until promotion or rollback",
        );
    }
    Ok(StepResult::Done(message))
}

/// Draws the cohorts from the live objects (see [`assign_cohorts`]) and fingerprints the cohort objects'
/// dependents. Reads only; Err when there is nothing to draw from.
async fn draw_cohorts(
    run: &Run,
    upgrade: &Upgrade,
    canary: &CanaryPolicy,
) -> Result<Result<CanaryRecord, String>, ClusterError> {
    let kinds = cohort_kinds(upgrade, canary);
    let drawn_kinds = canary.cohort.resources.len().min(kinds.len());
    let selector = match canary.cohort.selector.as_ref().map(|s| LabelSelector::parse(s.as_str())).transpose() {
        Ok(selector) => selector,
        Err(e) => return Ok(Err(format!("the cohort selector does not parse: {e}"))),
    };
    let mut drawn_objects = Vec::new();
    let mut followers = Vec::new();
    for (index, (api_version, kind)) in kinds.iter().enumerate() {
        let listed = run.objects.list_all(api_version, kind, None).await?;
        if index < drawn_kinds {
            drawn_objects.extend(listed);
        } else {
            followers.extend(listed);
        }
    }
    let marker = (!matches!(canary.scoping.mechanism, ScopingMechanism::Namespaces)).then(|| marker_of(canary));
    let drawn =
        match assign_cohorts(canary, selector.as_ref(), &drawn_objects, &followers, seed_of(&run.journal.run_id)) {
            Ok(drawn) => drawn,
            Err(why) => return Ok(Err(why)),
        };
    let by_namespace = marker.is_none();
    let members = drawn.members;
    let (dependents, owner_generations) = match dependent_kinds(upgrade) {
        Some(kinds) => {
            let measured: Vec<(String, String, String)> = members
                .iter()
                .filter(|m| m.cohort != Cohort::Stable)
                .map(|m| (object_unit(&m.key), m.uid.clone(), m.key.namespace.clone()))
                .collect();
            let units: BTreeSet<&String> = measured.iter().map(|(unit, _, _)| unit).collect();
            let listed = drawn_objects.iter().chain(&followers);
            let cohort_objects = listed.filter(|o| units.contains(&object_unit(&ObjectKey::of(o))));
            let owners = owner_generations(cohort_objects);
            (dependent_fingerprints(&run.objects, &kinds, &measured).await?, owners)
        }
        None => (BTreeMap::new(), BTreeMap::new()),
    };
    let namespaces = if by_namespace {
        vec![(Cohort::Canary, drawn.units.canary.clone()), (Cohort::Baseline, drawn.units.baseline.clone())]
    } else {
        Vec::new()
    };
    let stable = release_deployment(upgrade, &upgrade.old.objects).map(ObjectKey::of);
    let stable = match stable {
        Ok(stable) => stable,
        Err(why) => return Ok(Err(why)),
    };
    let copies: Vec<(Cohort, ObjectKey)> = [Cohort::Baseline, Cohort::Canary]
        .into_iter()
        .filter(|c| *c == Cohort::Canary || canary.baseline)
        .map(|c| {
            let name = copy_name(upgrade.deployment(), c);
            (c, ObjectKey { name, ..stable.clone() })
        })
        .collect();
    let copy_leases = copies
        .iter()
        .filter_map(|(cohort, copy)| {
            let name = copy_lease_name(canary, *cohort, &copy.name, &stable.name)?;
            Some((*cohort, ObjectKey::lease(&copy.namespace, &name)))
        })
        .collect();
    let access = match access_objects(upgrade, &copies, &run.journal.run_id) {
        Ok(access) => access.iter().map(ObjectKey::of).collect(),
        Err(why) => return Ok(Err(why)),
    };
    Ok(Ok(CanaryRecord {
        marker,
        members,
        namespaces,
        stable,
        copies,
        copy_leases,
        access,
        started: None,
        dependents,
        owner_generations,
        unowned: Vec::new(),
        intervals: Vec::new(),
        decision: None,
    }))
}

/// The canary's own ServiceAccount and RBAC: the new release's roles bound to an account of the canary's
/// Deployment alone (see [`canary_access`]). None without a canary copy.
fn access_objects(upgrade: &Upgrade, copies: &[(Cohort, ObjectKey)], run_id: &str) -> Result<Vec<Value>, String> {
    let Some((_, copy)) = copies.iter().find(|(cohort, _)| *cohort == Cohort::Canary) else { return Ok(Vec::new()) };
    let deployment = release_deployment(upgrade, &upgrade.new.objects)?;
    let account = service_account_of(deployment);
    Ok(canary_access(&upgrade.new.objects, upgrade.namespace(), account, &copy.name, run_id))
}

/// The dependent kinds of the plan's dependent-changes signal, if it has one.
pub(super) fn dependent_kinds(upgrade: &Upgrade) -> Option<Vec<crate::plan::file::DependentKind>> {
    upgrade.loaded.analysis().signals.iter().find_map(|s| match s {
        Signal::DependentChanges(d) => Some(d.kinds.clone()),
        _ => None,
    })
}

/// Marks every member with its cohort (a merge patch of one label or annotation; idempotent).
async fn mark_members(run: &Run, record: &CanaryRecord) -> Result<(), ClusterError> {
    let Some((marker, key)) = &record.marker else { return Ok(()) };
    let markers = record.members.iter().map(|m| (&m.key, Some(m.cohort.as_str())));
    super::set_markers(&run.objects, marker.section(), key, markers).await
}

/// The namespaces each Deployment watches (namespace scoping): the cohorts' own, and every other one for
/// the stable Deployment.
fn namespaces_of(record: &CanaryRecord, cohort: Cohort, all: &[String]) -> Vec<String> {
    match cohort {
        Cohort::Stable => {
            let taken: BTreeSet<&String> = record.namespaces.iter().flat_map(|(_, n)| n).collect();
            all.iter().filter(|n| !taken.contains(n)).cloned().collect()
        }
        cohort => record.namespaces.iter().filter(|(c, _)| *c == cohort).flat_map(|(_, n)| n.clone()).collect(),
    }
}

/// The stable Deployment as the old release ships it, rescoped to every object outside both cohorts.
fn rescoped_stable(
    upgrade: &Upgrade,
    canary: &CanaryPolicy,
    record: &CanaryRecord,
    all_namespaces: Vec<String>,
) -> Result<Value, String> {
    let base = release_deployment(upgrade, &upgrade.old.objects)?;
    let namespaces = namespaces_of(record, Cohort::Stable, &all_namespaces);
    let context = RenderContext {
        cohort: Cohort::Stable,
        deployment: upgrade.deployment(),
        operator_namespace: upgrade.namespace(),
        namespaces: &namespaces,
    };
    scoped(base, &upgrade.loaded.operator().container, canary, &context)
}

/// The baseline's (old release) and canary's (new release) Deployments.
fn copies(upgrade: &Upgrade, canary: &CanaryPolicy, record: &CanaryRecord, run_id: &str) -> Result<Vec<Value>, String> {
    let mut copies = Vec::new();
    for (cohort, key) in &record.copies {
        let release = if *cohort == Cohort::Canary { &upgrade.new.objects } else { &upgrade.old.objects };
        let base = release_deployment(upgrade, release)?;
        let namespaces = namespaces_of(record, *cohort, &[]);
        let context = RenderContext {
            cohort: *cohort,
            deployment: &key.name,
            operator_namespace: upgrade.namespace(),
            namespaces: &namespaces,
        };
        let scoped = scoped(base, &upgrade.loaded.operator().container, canary, &context)?;
        let mut copy = cohort_copy(&scoped, &key.name, *cohort, run_id);
        // A run journaled before the canary had an account of its own keeps the operator's.
        if *cohort == Cohort::Canary && !record.access.is_empty() {
            run_as_own_account(&mut copy, &key.name);
        }
        copies.push(copy);
    }
    Ok(copies)
}
