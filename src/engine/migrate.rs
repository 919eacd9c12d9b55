//! The contract (`finalize`): storage switched to the new release's storage version, every object rewritten
//! so it is stored there (paged list, no-op update, bounded concurrency), `storedVersions` trimmed only if
//! the CRD did not change meanwhile, managedFields entries of removed versions dropped in the same write
//! (kubernetes/kubernetes#111937), then the release's CRDs and RBAC exactly as shipped.

use super::desired::{rbac_removals, storage_switched_crd, storage_version};
use super::run::Run;
use super::steps::{wait_crd_ready, StepResult};
use super::upgrade::Upgrade;
use crate::cluster::objects::desired_state;
use crate::cluster::{ClusterError, ObjectKey, Objects};
use futures::stream::{self, StreamExt};
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

/// Counts of a migration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MigrationCounts {
    /// Objects written back.
    pub rewritten: u64,
    /// Objects gone or written by others meanwhile.
    pub skipped: u64,
}

/// Rewrites every object of a kind, page by page, `MIGRATION_CONCURRENCY` at a time; `progress` is called
/// with the running total.
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
        let results: Vec<Result<Rewrite, ClusterError>> = stream::iter(items)
            .map(|object| rewrite(objects, object, removed))
            .buffer_unordered(MIGRATION_CONCURRENCY)
            .collect()
            .await;
        for result in results {
            match result? {
                Rewrite::Rewritten => counts.rewritten += 1,
                Rewrite::Gone | Rewrite::WrittenMeanwhile => counts.skipped += 1,
            }
        }
        progress(counts.rewritten + counts.skipped);
        match next {
            Some(next) => token = Some(next),
            None => return Ok(counts),
        }
    }
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
        // objects were rewritten; otherwise migrate again.
        for _ in 0..3 {
            let generation = objects.get(&ObjectKey::crd(name)).await?.map(|c| c["metadata"]["generation"].clone());
            let bar = run.reporter.progress(&format!("migrating {kind}"), None);
            let counts = migrate_kind(objects, &api_version, kind, &removed, |done| bar.set_position(done)).await?;
            bar.finish_and_clear();
            rewritten = counts.rewritten;
            let after = objects.get(&ObjectKey::crd(name)).await?;
            if after.as_ref().map(|c| c["metadata"]["generation"].clone()) == generation {
                objects.merge_status(&ObjectKey::crd(name), &serde_json::json!({"storedVersions": [storage]})).await?;
                trimmed = true;
                break;
            }
        }
        if !trimmed {
            return Ok(Err(format!("{name} kept changing during the storage migration: storedVersions not trimmed")));
        }
    }
    let mut shipped = new.clone();
    shipped["metadata"]["resourceVersion"] = Value::Null;
    objects.replace(&shipped).await?;
    if let Err(why) = wait_crd_ready(objects, name, Duration::from_secs(60)).await? {
        return Ok(Err(why));
    }
    objects.forget_kinds();
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
}
