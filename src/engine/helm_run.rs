//! A run through Helm: both sides of a Helm plan rendered as `plan` renders them, promotion by `helm upgrade`
//! of the release (the expanded CRDs swapped in by the tool's post-renderer), `finalize`'s `helm upgrade`
//! without the swap, and a rollback's `helm rollback` to the revision the run started from. Each Helm action
//! is journaled with the revision before and after it; a run killed during one resumes from the release's
//! revisions ([`crate::helm::actions::resume`]) and says in the journal what it found and did.
//!
//! Field ownership: what the run applied itself (the CRD expand, the union RBAC, the stable Deployment's
//! scope) is owned by the field manager `operator-upgrade`, and a server-side `helm upgrade` conflicts on any
//! of those fields whose value the chart sets differently. Restoring them first would hand the stable
//! operator the canary's objects with the old release for a moment, and restoring the CRDs would unserve
//! the new version the canary wrote; so the run forces (`--force-conflicts`), but only after checking that no
//! one else applies fields of the objects Helm writes: a manager that applies server-side (a GitOps
//! controller, a person's `kubectl apply --server-side`) is not the run's to take over, and stops the step
//! naming it, unless the plan lists it in `spec.takeOwnershipFrom`. Fields written by update (controllers,
//! `kubectl edit`) are what Helm's own client-side three-way merge overwrites too.

use super::journal::HelmRecord;
use super::run::{load_journal, Run};
use super::steps::{wait_settled, StepResult};
use super::upgrade::Upgrade;
use super::EngineError;
use crate::cluster::journal_store::JournalStore;
use crate::cluster::objects::desired_state;
use crate::cluster::{ClusterError, ObjectKey, FIELD_MANAGER};
use crate::helm::actions::{action_state, resume, ActionState, Connection, Resumed, Swap, UpgradeRequest};
use crate::helm::release::current_revision;
use crate::helm::side::{cluster_facts, read_revisions, release_of, render_sides, HelmSides};
use crate::helm::{Helm, HelmError, TemplateRequest};
use crate::plan::file::LoadedPlan;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a run reaches helm: the binary (`--helm`, else `helm` on PATH) and the run's cluster.
#[derive(Debug, Clone, Default)]
pub struct HelmAccess {
    /// The binary given with `--helm`.
    pub binary: Option<PathBuf>,
    /// The run's kubeconfig and context.
    pub connection: Connection,
}

impl HelmAccess {
    /// The helm binary, checked.
    pub fn helm(&self) -> Result<Helm, HelmError> {
        Helm::find(self.binary.as_deref())
    }
}

/// A Helm plan's release and the new chart as promotion upgrades it.
#[derive(Debug, Clone)]
pub struct HelmUpgrade {
    /// The helm binary.
    pub helm: Helm,
    /// How helm reaches the cluster.
    pub access: HelmAccess,
    /// The release's name.
    pub release: String,
    /// Its namespace.
    pub namespace: String,
    /// The new chart with the values `plan` rendered it with.
    pub chart: TemplateRequest,
    /// The deployed revision the run starts (or started) from.
    pub from_revision: u32,
}

impl HelmUpgrade {
    /// What a new run's journal records before its first write.
    pub fn record(&self) -> HelmRecord {
        HelmRecord {
            release: self.release.clone(),
            namespace: self.namespace.clone(),
            helm_version: self.helm.version().to_string(),
            before: self.from_revision,
            promoted: None,
            rolled_back: None,
            finalized: None,
        }
    }
}

fn bad_input(error: HelmError) -> EngineError {
    EngineError::BadInput(error.to_string())
}

/// Renders both sides of a Helm plan for a run: the installed side is the revision an open run of this plan
/// started from (so `finalize` and a resumed run see the plan they started with), else the release's
/// deployed revision.
pub(super) async fn render(
    loaded: &LoadedPlan,
    binary: Option<&Path>,
    client: &kube::Client,
    connection: Connection,
) -> Result<(HelmSides, HelmUpgrade), EngineError> {
    let access = HelmAccess { binary: binary.map(Path::to_owned), connection };
    let helm = access.helm().map_err(bad_input)?;
    let Some((release, namespace)) = release_of(loaded) else {
        return Err(EngineError::BadInput(format!(
            "{}: spec.from.helm names no release: `apply` upgrades an installed release, name it (spec.from.helm.release)",
            loaded.file.display()
        )));
    };
    let revisions = read_revisions(client, release, namespace).await.map_err(bad_input)?;
    let store = JournalStore::new(client.clone(), &loaded.operator().namespace, loaded.name());
    let started_from = load_journal(&store)
        .await?
        .filter(|(journal, _)| !journal.state.is_closed())
        .and_then(|(journal, _)| journal.helm.map(|h| h.before));
    let installed = match started_from.and_then(|before| revisions.iter().find(|r| r.revision == before)) {
        Some(revision) => revision.clone(),
        None => current_revision(release, namespace, revisions).map_err(bad_input)?,
    };
    let facts = cluster_facts(client).await.map_err(bad_input)?;
    let sides = render_sides(loaded, &helm, Some(&installed), Some(&facts)).map_err(bad_input)?;
    let upgrade = HelmUpgrade {
        helm,
        access,
        release: release.to_owned(),
        namespace: namespace.to_owned(),
        chart: sides.new_request.clone(),
        from_revision: installed.revision,
    };
    Ok((sides, upgrade))
}

/// Managers that apply fields of `live` objects server-side and are neither Helm, the run, nor one the plan
/// lets the run take fields over from: `manager on Kind/name` for each.
pub fn foreign_appliers(live: &[Value], allowed: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for object in live {
        let entries = object["metadata"]["managedFields"].as_array().cloned().unwrap_or_default();
        for entry in entries {
            let manager = entry["manager"].as_str().unwrap_or_default();
            let applies = entry["operation"] == "Apply" && entry["subresource"].as_str().is_none_or(str::is_empty);
            let ours = manager.starts_with("helm") || manager == FIELD_MANAGER || allowed.iter().any(|a| a == manager);
            if applies && !ours {
                found.push(format!("{manager} on {}", ObjectKey::of(object)));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The live CRDs of the new release, as the post-renderer swaps them into the release.
async fn live_crds(run: &Run, upgrade: &Upgrade) -> Result<Vec<Value>, ClusterError> {
    let mut crds = Vec::new();
    for name in upgrade.new.crds.keys() {
        if let Some(live) = run.objects.get(&ObjectKey::crd(name)).await? {
            crds.push(desired_state(&live));
        }
    }
    Ok(crds)
}

/// Where a Helm action stands on resume, journaled when it found something; Err when it cannot go on.
async fn resume_action(run: &mut Run, helm: &HelmUpgrade, before: u32, timeout: Duration) -> Result<Resumed, String> {
    let client = run.objects.client().clone();
    let found = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(resume(
            &helm.helm,
            &helm.access.connection,
            &client,
            (&helm.release, &helm.namespace),
            before,
            timeout,
        ))
    })
    .map_err(|e| e.to_string())?;
    if found != Resumed::NotStarted {
        run.journal.notes.push(format!("resumed: {}", found.describe(&helm.release)));
    }
    Ok(found)
}

/// Runs `helm upgrade` (with the swap at promotion) and returns the revision it deployed.
async fn upgrade_release(
    run: &Run,
    helm: &HelmUpgrade,
    swap: Option<Swap>,
    before: u32,
    timeout: Duration,
) -> Result<u32, String> {
    let request = UpgradeRequest { chart: helm.chart.clone(), swap, timeout, force_conflicts: true };
    tokio::task::block_in_place(|| helm.helm.upgrade(&helm.access.connection, &request)).map_err(|e| e.to_string())?;
    let revisions =
        read_revisions(run.objects.client(), &helm.release, &helm.namespace).await.map_err(|e| e.to_string())?;
    match action_state(&revisions, before) {
        ActionState::Done(revision) => Ok(revision),
        other => Err(format!("helm upgrade ended, but release {} shows {other:?}", helm.release)),
    }
}

/// Whether anyone but Helm and the run applies fields of the objects the new chart renders.
async fn check_appliers(run: &Run, upgrade: &Upgrade) -> Result<Result<(), String>, ClusterError> {
    let mut live = Vec::new();
    for object in &upgrade.new.objects {
        if let Some(found) = run.objects.get(&ObjectKey::of(object)).await? {
            live.push(found);
        }
    }
    let foreign = foreign_appliers(&live, &upgrade.loaded.plan.spec.take_ownership_from);
    if foreign.is_empty() {
        return Ok(Ok(()));
    }
    Ok(Err(format!(
        "other managers apply fields Helm would take over: {} (pause them, or name them in spec.takeOwnershipFrom if the run may take their fields over)",
        foreign.join(", ")
    )))
}

/// Promotion through Helm: `helm upgrade` of the release to the new chart with the plan's values, the live
/// (expanded) CRDs swapped in, then every Deployment of the new release settled.
pub(super) async fn promote(run: &mut Run, upgrade: &Upgrade, helm: &HelmUpgrade) -> Result<StepResult, ClusterError> {
    let Some(record) = run.journal.helm.clone() else {
        return Ok(StepResult::failed("the journal records no Helm release for this run"));
    };
    let timeout = upgrade.loaded.plan.spec.rollback.timeout.to_std();
    let revision = match record.promoted {
        Some(revision) => revision,
        None => match promote_release(run, upgrade, helm, record.before, timeout).await? {
            Ok(revision) => revision,
            Err(why) => return Ok(StepResult::failed(why)),
        },
    };
    for deployment in upgrade.new.objects.iter().filter(|o| o["kind"] == "Deployment") {
        if let Err(why) = wait_settled(&run.objects, deployment, timeout).await? {
            return Ok(StepResult::failed(why));
        }
    }
    Ok(StepResult::Done(format!(
        "helm upgrade of release {} to chart {}: revision {} -> {revision}, the expanded CRDs kept until finalize; rollouts complete",
        helm.release,
        helm.chart.chart.display(),
        record.before,
    )))
}

async fn promote_release(
    run: &mut Run,
    upgrade: &Upgrade,
    helm: &HelmUpgrade,
    before: u32,
    timeout: Duration,
) -> Result<Result<u32, String>, ClusterError> {
    let revision = match resume_action(run, helm, before, timeout).await {
        Err(why) => return Ok(Err(why)),
        Ok(Resumed::Done(revision)) => revision,
        Ok(_) => {
            if let Err(why) = check_appliers(run, upgrade).await? {
                return Ok(Err(why));
            }
            let executable = match std::env::current_exe() {
                Ok(executable) => executable,
                Err(e) => {
                    return Ok(Err(format!("cannot find the tool's own executable for helm's post-renderer: {e}")))
                }
            };
            let swap = Swap { executable, crds: live_crds(run, upgrade).await? };
            match upgrade_release(run, helm, Some(swap), before, timeout).await {
                Ok(revision) => revision,
                Err(why) => return Ok(Err(why)),
            }
        }
    };
    if let Some(record) = run.journal.helm.as_mut() {
        record.promoted = Some(revision);
    }
    run.save().await?;
    Ok(Ok(revision))
}

/// The Helm part of a rollback, before the tool's own restore: when Helm moved since the run started (its
/// promotion, or a `helm upgrade` killed or failed during it), `helm rollback` to the revision the run
/// started from, journaled. Before promotion Helm never moved and nothing is done. Ok(None) when nothing was
/// to do, Ok(Some(what was done)), or Err(why) when helm failed.
pub(super) async fn roll_back(run: &mut Run) -> Result<Result<Option<String>, String>, ClusterError> {
    let Some(record) = run.journal.helm.clone() else { return Ok(Ok(None)) };
    if record.rolled_back.is_some() {
        return Ok(Ok(None));
    }
    let read = |run: &Run| {
        let client = run.objects.client().clone();
        let (release, namespace) = (record.release.clone(), record.namespace.clone());
        async move { read_revisions(&client, &release, &namespace).await }
    };
    let revisions = match read(run).await {
        Ok(revisions) => revisions,
        Err(why) => return Ok(Err(why.to_string())),
    };
    if action_state(&revisions, record.before) == ActionState::NotStarted {
        return Ok(Ok(None));
    }
    let helm = match run.helm.helm() {
        Ok(helm) => helm,
        Err(why) => {
            return Ok(Err(format!(
                "Helm moved release {} since the run started and must be rolled back: {why}",
                record.release
            )))
        }
    };
    let timeout = run.journal.rollback_timeout.map_or(Duration::from_secs(300), |t| t.to_std());
    let release = (record.release.as_str(), record.namespace.as_str());
    let connection = run.helm.connection.clone();
    if let Err(why) = tokio::task::block_in_place(|| helm.rollback(&connection, release, record.before, timeout)) {
        return Ok(Err(why.to_string()));
    }
    let now = match read(run).await {
        Ok(revisions) => revisions.iter().map(|r| r.revision).max().unwrap_or(record.before),
        Err(why) => return Ok(Err(why.to_string())),
    };
    let done = format!("helm rollback of release {} to revision {} (revision {now})", record.release, record.before);
    if let Some(helm) = run.journal.helm.as_mut() {
        helm.rolled_back = Some(now);
    }
    run.journal.notes.push(done.clone());
    run.save().await?;
    Ok(Ok(Some(done)))
}

/// `finalize`'s last action through Helm, after the storage migration and the contract: `helm upgrade` once
/// more without the swap, so the release records its CRDs as the chart ships them (and as now live).
pub(super) async fn finalize(
    run: &mut Run,
    upgrade: &Upgrade,
    helm: &HelmUpgrade,
) -> Result<Result<String, String>, ClusterError> {
    let Some(record) = run.journal.helm.clone() else {
        return Ok(Err("the journal records no Helm release for this run".to_owned()));
    };
    let before = record.promoted.unwrap_or(record.before);
    let timeout = upgrade.loaded.plan.spec.rollback.timeout.to_std();
    let revision = match record.finalized {
        Some(revision) => revision,
        None => match resume_action(run, helm, before, timeout).await {
            Err(why) => return Ok(Err(why)),
            Ok(Resumed::Done(revision)) => revision,
            Ok(_) => match check_appliers(run, upgrade).await? {
                Err(why) => return Ok(Err(why)),
                Ok(()) => match upgrade_release(run, helm, None, before, timeout).await {
                    Ok(revision) => revision,
                    Err(why) => return Ok(Err(why)),
                },
            },
        },
    };
    if let Some(record) = run.journal.helm.as_mut() {
        record.finalized = Some(revision);
    }
    let done = format!(
        "helm upgrade of release {}: revision {before} -> {revision}, its CRDs as the chart ships them",
        helm.release
    );
    run.journal.notes.push(done.clone());
    run.save().await?;
    Ok(Ok(done))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn managed(entries: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "op", "namespace": "ops", "managedFields": entries}})
    }

    #[test]
    fn only_server_side_appliers_other_than_helm_the_run_and_the_plans_allowed_stop_a_forced_upgrade() {
        let live = managed(json!([
            {"manager": "helm", "operation": "Apply"},
            {"manager": FIELD_MANAGER, "operation": "Apply"},
            {"manager": "kube-controller-manager", "operation": "Update"},
            {"manager": "kube-controller-manager", "operation": "Apply", "subresource": "status"},
            {"manager": "argocd-controller", "operation": "Apply"},
            {"manager": "kubectl", "operation": "Apply"}
        ]));
        assert_eq!(
            foreign_appliers(std::slice::from_ref(&live), &[]),
            ["argocd-controller on apps/v1 Deployment ops/op", "kubectl on apps/v1 Deployment ops/op"]
                .map(|s| s.replace("apps/v1 Deployment ops/op", &ObjectKey::of(&live).to_string()))
        );
        let allowed = ["argocd-controller".to_owned(), "kubectl".to_owned()];
        assert!(foreign_appliers(&[live], &allowed).is_empty());
    }
}
