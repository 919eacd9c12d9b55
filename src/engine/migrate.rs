//! The contract (`finalize`): storage switched to the new release's storage version, every object rewritten
//! so it is stored there (paged list, no-op update, bounded concurrency), `storedVersions` trimmed only if
//! the CRD did not change meanwhile, managedFields entries of removed versions dropped in the same write
//! (kubernetes/kubernetes#111937), then the release's CRDs and RBAC exactly as shipped. The migration's
//! progress (continue token, objects done) is journaled after each page, so a resumed `finalize` carries on.

use super::desired::{rbac_removals, storage_switched_crd, storage_version};
use super::run::Run;
use super::steps::{wait_crd_ready, StepResult};
use super::upgrade::Upgrade;
use crate::cluster::objects::desired_state;
use crate::cluster::{ClusterError, ObjectKey, Objects};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// Objects rewritten at once during the migration.
const MIGRATION_CONCURRENCY: usize = 8;
/// Objects listed per page.
const PAGE_SIZE: u32 = 500;

/// What happened to one object of the migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    /// Written back: now stored at the storage version.
    Rewritten,
    /// Gone since it was listed (404): nothing to migrate.
    Gone,
    /// Changed since it was listed (409): that write stored it at the storage version already.
    WrittenMeanwhile,
}

/// The object as it is written back: unchanged but for managedFields entries of versions no longer served.
pub fn rewrite_body(object: &Value, removed_api_versions: &[String]) -> Value {
    let mut body = object.clone();
    if let Some(entries) = body["metadata"]["managedFields"].as_array_mut() {
        let before = entries.len();
        entries.retain(|e| !removed_api_versions.iter().any(|v| e["apiVersion"] == v.as_str()));
        // An empty list means "leave managedFields alone" to the API server; `[{}]` means "none".
        if entries.is_empty() && before > 0 {
            entries.push(Value::Object(serde_json::Map::new()));
        }
    }
    body
}

/// Rewrites one object (a no-op update through the storage version), as clusterctl's migrator treats it.
async fn rewrite(objects: &Objects, object: Value, removed: &[String]) -> Result<Rewrite, ClusterError> {
    let key = ObjectKey::of(&object);
    let api = objects.api_for(&key).await?;
    let typed: kube::api::DynamicObject = serde_json::from_value(rewrite_body(&object, removed))
        .map_err(|e| ClusterError::Unexpected(format!("{key}: {e}")))?;
    let params = kube::api::PostParams { dry_run: objects.is_dry_run(), field_manager: None };
    match crate::cluster::retry::with_retries(|| api.replace(&key.name, &params, &typed)).await {
        Ok(_) => {
            crate::cluster::fault_point::wrote();
            Ok(Rewrite::Rewritten)
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Rewrite::Gone),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(Rewrite::WrittenMeanwhile),
        Err(e) => Err(ClusterError::api(format!("cannot rewrite {key}"), e)),
    }
}

/// Counts of one page of a migration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MigrationCounts {
    /// Objects written back.
    pub rewritten: u64,
    /// Objects gone or written by others meanwhile.
    pub skipped: u64,
}

/// Where the storage migration of one CRD is, journaled after each page so that a resumed `finalize`
/// carries on from the page it was at rather than from the beginning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationProgress {
    /// The CRD whose objects are rewritten.
    pub crd: String,
    /// The storage version they are rewritten to.
    pub storage: String,
    /// The CRD's generation when this pass began: `storedVersions` is trimmed only if it is the same at its
    /// end (the CRD, and so possibly its storage version, did not change meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Where the next page starts; None at the beginning of a pass, or once it is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continue_token: Option<String>,
    /// Objects of this pass listed and handled so far.
    pub done: u64,
    /// Objects written back, over every pass of this CRD's migration.
    pub rewritten: u64,
    /// Every page of this pass is done.
    #[serde(default)]
    pub complete: bool,
}

impl MigrationProgress {
    /// A pass over every object from the beginning (the count of objects written back so far kept).
    fn restarted(&self) -> MigrationProgress {
        MigrationProgress { continue_token: None, done: 0, complete: false, ..self.clone() }
    }
}

/// Where a pass of the migration of `crd` to `storage` starts, the CRD being at `generation` now: where the
/// journaled pass stopped when it is this same migration and the CRD has not changed since it began,
/// otherwise a new pass from the beginning.
pub fn resume_point(
    journaled: Option<&MigrationProgress>,
    crd: &str,
    storage: &str,
    generation: Option<i64>,
) -> MigrationProgress {
    let same = journaled.filter(|j| j.crd == crd && j.storage == storage);
    match same {
        Some(j) if j.generation == generation => j.clone(),
        _ => MigrationProgress {
            crd: crd.to_owned(),
            storage: storage.to_owned(),
            generation,
            continue_token: None,
            done: 0,
            rewritten: same.map_or(0, |j| j.rewritten),
            complete: false,
        },
    }
}

/// Whether a failed list restarts the pass from the beginning: the continue token expired (410 Gone, etcd
/// compacted past it, and the server offered no token to carry on from). Every object is then still
/// rewritten (the ones already done a second time); any other failure is the step's.
pub fn restarts_after(status: Option<u16>, continue_token: Option<&str>) -> bool {
    status == Some(410) && continue_token.is_some()
}

/// The progress after a page of `counts` whose list said `next` comes after it.
pub fn after_page(progress: &MigrationProgress, counts: MigrationCounts, next: Option<String>) -> MigrationProgress {
    MigrationProgress {
        done: progress.done + counts.rewritten + counts.skipped,
        rewritten: progress.rewritten + counts.rewritten,
        complete: next.is_none(),
        continue_token: next,
        ..progress.clone()
    }
}

/// Rewrites one page of objects, `MIGRATION_CONCURRENCY` at a time.
async fn rewrite_page(
    objects: &Objects,
    items: Vec<Value>,
    removed: &[String],
) -> Result<MigrationCounts, ClusterError> {
    let results: Vec<Result<Rewrite, ClusterError>> = stream::iter(items)
        .map(|object| rewrite(objects, object, removed))
        .buffer_unordered(MIGRATION_CONCURRENCY)
        .collect()
        .await;
    let mut counts = MigrationCounts::default();
    for result in results {
        match result? {
            Rewrite::Rewritten => counts.rewritten += 1,
            Rewrite::Gone | Rewrite::WrittenMeanwhile => counts.skipped += 1,
        }
    }
    Ok(counts)
}

/// Rewrites every object of a kind from where `progress` is, page by page, journaling the progress after
/// each page (one journal write per page, not per object); returns it complete.
async fn migration_pass(
    run: &mut Run,
    api_version: &str,
    kind: &str,
    removed: &[String],
    mut progress: MigrationProgress,
    bar: &indicatif::ProgressBar,
) -> Result<MigrationProgress, ClusterError> {
    bar.set_position(progress.done);
    while !progress.complete {
        let token = progress.continue_token.clone();
        let listed = run.objects.list_page(api_version, kind, None, PAGE_SIZE, token.as_deref()).await;
        let (items, next) = match listed {
            Ok(page) => page,
            Err(error) if restarts_after(error.status_code(), token.as_deref()) => {
                tracing::warn!(kind, %error, "the journaled continue token expired: the migration starts its list again");
                progress = progress.restarted();
                continue;
            }
            Err(error) => return Err(error),
        };
        let counts = rewrite_page(&run.objects, items, removed).await?;
        progress = after_page(&progress, counts, next);
        bar.set_position(progress.done);
        run.journal.migration = Some(progress.clone());
        run.save().await?;
    }
    Ok(progress)
}

/// Rewrites every object of a kind in one pass from the beginning, page by page, with nothing journaled
/// (what `benches/real.rs` measures: the same lists and writes as a pass of `finalize`); `progress` is
/// called with the running total.
pub async fn migrate_kind(
    objects: &Objects,
    api_version: &str,
    kind: &str,
    removed: &[String],
    mut progress: impl FnMut(u64),
) -> Result<MigrationCounts, ClusterError> {
    let mut counts = MigrationCounts::default();
    let mut token: Option<String> = None;
    loop {
        let (items, next) = objects.list_page(api_version, kind, None, PAGE_SIZE, token.as_deref()).await?;
        let page = rewrite_page(objects, items, removed).await?;
        counts.rewritten += page.rewritten;
        counts.skipped += page.skipped;
        progress(counts.rewritten + counts.skipped);
        match next {
            Some(next) => token = Some(next),
            None => return Ok(counts),
        }
    }
}

/// The CRD's generation now.
async fn crd_generation(objects: &Objects, name: &str) -> Result<Option<i64>, ClusterError> {
    Ok(objects.get(&ObjectKey::crd(name)).await?.and_then(|c| c["metadata"]["generation"].as_i64()))
}

/// Replaces an object with exactly `desired` (creating it if it is gone), keeping nothing of what was live
/// but what the server maintains.
pub async fn put_exact(objects: &Objects, desired: &Value) -> Result<(), ClusterError> {
    let key = ObjectKey::of(desired);
    match objects.get(&key).await? {
        Some(_) => objects.replace(desired).await.map(|_| ()),
        None => objects.create_or_get(desired).await.map(|_| ()),
    }
}

/// The apiVersions of the old release's versions the new release no longer serves.
fn removed_api_versions(upgrade: &Upgrade, name: &str) -> Vec<String> {
    let served = |crd: &Value| -> Vec<String> {
        crd["spec"]["versions"]
            .as_array()
            .map(|v| {
                v.iter().filter(|v| v["served"] == true).filter_map(|v| v["name"].as_str().map(str::to_owned)).collect()
            })
            .unwrap_or_default()
    };
    let Some(new) = upgrade.new.crds.get(name) else { return Vec::new() };
    let group = new["spec"]["group"].as_str().unwrap_or_default();
    let kept = served(new);
    upgrade
        .old
        .crds
        .get(name)
        .map(served)
        .unwrap_or_default()
        .into_iter()
        .filter(|v| !kept.contains(v))
        .map(|v| format!("{group}/{v}"))
        .collect()
}

/// The CRD contract for each named CRD: storage switch, migration, storedVersions trim, then as shipped.
pub async fn contract_crds(run: &mut Run, upgrade: &Upgrade, names: &[String]) -> Result<StepResult, ClusterError> {
    let mut report = Vec::new();
    for name in names {
        let Some(new) = upgrade.new.crds.get(name) else { continue };
        match contract_crd(run, upgrade, name, new).await? {
            Ok(line) => report.push(line),
            Err(why) => return Ok(StepResult::Failed { message: why, output: None }),
        }
    }
    Ok(StepResult::Done(report.join("; ")))
}

async fn contract_crd(
    run: &mut Run,
    upgrade: &Upgrade,
    name: &str,
    new: &Value,
) -> Result<Result<String, String>, ClusterError> {
    let objects = &run.objects;
    let Some(live) = objects.get(&ObjectKey::crd(name)).await? else {
        return Ok(Err(format!("CRD {name} does not exist")));
    };
    let Some(storage) = storage_version(new) else { return Ok(Err(format!("the new {name} has no storage version"))) };
    let stored: Vec<String> = live["status"]["storedVersions"]
        .as_array()
        .map(|v| v.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let mut rewritten = 0;
    if stored != [storage.clone()] {
        let switched = storage_switched_crd(&desired_state(&live), new);
        objects.replace(&switched).await?;
        if let Err(why) = wait_crd_ready(objects, name, Duration::from_secs(60)).await? {
            return Ok(Err(why));
        }
        objects.forget_kinds();
        let removed = removed_api_versions(upgrade, name);
        let group = new["spec"]["group"].as_str().unwrap_or_default();
        let kind = new["spec"]["names"]["kind"].as_str().unwrap_or_default();
        let api_version = format!("{group}/{storage}");
        let mut trimmed = false;
        // The trim is safe only if nothing changed the CRD (and so possibly the storage version) while the
        // objects were rewritten; otherwise migrate again. A resumed run carries on with the journaled pass.
        for _ in 0..3 {
            let generation = crd_generation(&run.objects, name).await?;
            let start = resume_point(run.journal.migration.as_ref(), name, &storage, generation);
            let bar = run.reporter.progress(&format!("migrating {kind}"), None);
            let progress = migration_pass(run, &api_version, kind, &removed, start, &bar).await?;
            bar.finish_and_clear();
            rewritten = progress.rewritten;
            if crd_generation(&run.objects, name).await? == progress.generation {
                let status = serde_json::json!({"storedVersions": [storage]});
                run.objects.merge_status(&ObjectKey::crd(name), &status).await?;
                trimmed = true;
                break;
            }
        }
        run.journal.migration = None;
        if !trimmed {
            return Ok(Err(format!("{name} kept changing during the storage migration: storedVersions not trimmed")));
        }
    }
    let mut shipped = new.clone();
    shipped["metadata"]["resourceVersion"] = Value::Null;
    run.objects.replace(&shipped).await?;
    if let Err(why) = wait_crd_ready(&run.objects, name, Duration::from_secs(60)).await? {
        return Ok(Err(why));
    }
    run.objects.forget_kinds();
    Ok(Ok(format!("{name}: stored at {storage} ({rewritten} objects rewritten), as shipped")))
}

/// The RBAC contract: the new release's RBAC exactly as shipped, and the RBAC only the old one had removed.
pub async fn contract_rbac(run: &mut Run, upgrade: &Upgrade) -> Result<StepResult, ClusterError> {
    let shipped: Vec<&Value> =
        upgrade.new.objects.iter().filter(|o| super::desired::is_rbac(&ObjectKey::of(o))).collect();
    for object in &shipped {
        put_exact(&run.objects, object).await?;
    }
    let removed = rbac_removals(&upgrade.old, &upgrade.new);
    for key in &removed {
        run.objects.delete(key).await?;
    }
    Ok(StepResult::Done(format!("{} RBAC objects as shipped, {} removed", shipped.len(), removed.len())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_rewrite_drops_managed_fields_of_removed_versions_only() {
        let object = json!({"metadata": {"name": "w", "managedFields": [
            {"manager": "old-operator", "apiVersion": "demo.example/v1alpha1"},
            {"manager": "kubectl", "apiVersion": "demo.example/v1"}]}});
        let body = rewrite_body(&object, &["demo.example/v1alpha1".to_owned()]);
        assert_eq!(body["metadata"]["managedFields"], json!([{"manager": "kubectl", "apiVersion": "demo.example/v1"}]));
        assert_eq!(rewrite_body(&object, &[]), object);
    }

    fn progress(token: Option<&str>, done: u64, generation: i64) -> MigrationProgress {
        MigrationProgress {
            crd: "widgets.demo.example".into(),
            storage: "v1".into(),
            generation: Some(generation),
            continue_token: token.map(str::to_owned),
            done,
            rewritten: done,
            complete: false,
        }
    }

    #[test]
    fn a_resumed_migration_carries_on_from_the_journaled_page() {
        let journaled = progress(Some("page-3"), 1_500, 4);
        assert_eq!(resume_point(Some(&journaled), "widgets.demo.example", "v1", Some(4)), journaled);
    }

    #[test]
    fn a_changed_crd_or_another_migration_starts_restarted() {
        let journaled = progress(Some("page-3"), 1_500, 4);
        let fresh = resume_point(Some(&journaled), "widgets.demo.example", "v1", Some(5));
        assert_eq!((fresh.continue_token, fresh.done, fresh.generation), (None, 0, Some(5)));
        assert_eq!(fresh.rewritten, 1_500, "the objects written back so far still count");
        let other = resume_point(Some(&journaled), "gadgets.demo.example", "v1", Some(4));
        assert_eq!((other.continue_token, other.done, other.rewritten), (None, 0, 0));
        assert_eq!(resume_point(None, "widgets.demo.example", "v1", Some(4)).done, 0);
    }

    #[test]
    fn only_an_expired_continue_token_restarts_the_list() {
        assert!(restarts_after(Some(410), Some("page-3")));
        assert!(!restarts_after(Some(410), None), "a first page that is gone is an error, not a loop");
        for code in [Some(403), Some(500), None] {
            assert!(!restarts_after(code, Some("page-3")));
        }
        let restarted = progress(Some("page-3"), 1_500, 4).restarted();
        assert_eq!((restarted.continue_token, restarted.done, restarted.rewritten), (None, 0, 1_500));
    }

    #[test]
    fn each_page_moves_the_token_and_counts_and_the_last_completes_the_pass() {
        let start = progress(None, 0, 4);
        let page = MigrationCounts { rewritten: 498, skipped: 2 };
        let next = after_page(&start, page, Some("page-1".into()));
        assert_eq!(
            (next.continue_token.as_deref(), next.done, next.rewritten, next.complete),
            (Some("page-1"), 500, 498, false)
        );
        let last = after_page(&next, MigrationCounts { rewritten: 10, skipped: 0 }, None);
        assert_eq!((last.continue_token, last.done, last.rewritten, last.complete), (None, 510, 508, true));
    }
}
