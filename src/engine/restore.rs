//! A Velero gate's test restore: the backup that passed the gate is restored (one namespace of it) into a
//! scratch namespace the run creates and labels as its own, the `Restore` is waited to `Completed` with zero
//! errors, and the scratch namespace is removed afterwards (unless the plan keeps it, unlabelled, for
//! inspection).
//!
//! The `Restore` never includes cluster-scoped resources: a backup holds the old release's CRDs, and
//! restoring those mid-upgrade would undo the upgrade. Its name derives from the run, so a resumed run waits
//! for its own restore instead of starting a second (the evidence names the backup that `Restore` restored,
//! which after a crash may be older than the newest one the gate judged again); its deadline counts from the
//! `Restore`'s creation. The `Restore` itself stays: it is Velero's record of the test (removed with its
//! backup), and the tool never deletes a custom resource.

use super::jobs::{job_name, RUN_LABEL};
use crate::cluster::{ClusterError, ObjectKey, Objects};
use crate::gates::{judge_restore, GateFailure, GateVerdict, RestoreDecision};
use crate::plan::file::{TestRestore, VeleroBackupGate};
use serde_json::{json, Value};
use std::time::Duration;

/// How often a running restore is looked at.
const POLL: Duration = Duration::from_millis(500);

/// The name of the run's test `Restore` in the Velero namespace.
pub fn restore_name(run_id: &str) -> String {
    job_name("operator-upgrade-test-restore", run_id)
}

/// The `Restore` object of `backup`'s `source_namespace` into the scratch namespace.
pub fn restore_object(gate: &VeleroBackupGate, restore: &TestRestore, backup: &str, run_id: &str) -> Value {
    json!({
        "apiVersion": "velero.io/v1", "kind": "Restore",
        "metadata": {"name": restore_name(run_id), "namespace": gate.namespace},
        "spec": {
            "backupName": backup,
            "includedNamespaces": [restore.source_namespace],
            "namespaceMapping": {(restore.source_namespace.clone()): restore.scratch_namespace},
            "includeClusterResources": false,
        }
    })
}

/// Runs the test restore of `backup` and judges it. A failure names the `Restore` (or the scratch
/// namespace) and the field that failed. In a dry run nothing is restored, and the verdict says so.
pub async fn test_restore(
    objects: &Objects,
    gate: &VeleroBackupGate,
    restore: &TestRestore,
    backup: &str,
    run_id: &str,
) -> Result<GateVerdict, ClusterError> {
    if objects.is_dry_run() {
        return Ok(GateVerdict::Passed {
            evidence: format!("test restore of {backup} into {} skipped: a dry run", restore.scratch_namespace),
        });
    }
    if let Some(failure) = claim_scratch_namespace(objects, &restore.scratch_namespace, run_id).await? {
        return Ok(failure.into());
    }
    let verdict = wait_restore(objects, &restore_object(gate, restore, backup, run_id), restore.timeout).await;
    let cleaned = release_scratch_namespace(objects, restore, run_id).await;
    let verdict = verdict?;
    cleaned?;
    Ok(match verdict {
        GateVerdict::Passed { evidence } => {
            let after = if restore.keep { "kept for inspection (delete it yourself)" } else { "removed" };
            GateVerdict::Passed {
                evidence: format!(
                    "{evidence}; namespace {} restored into {} ({after})",
                    restore.source_namespace, restore.scratch_namespace
                ),
            }
        }
        failed => failed,
    })
}

/// Creates the scratch namespace labelled with the run, or finds the run's own from before a crash. A
/// namespace of that name that is not the run's is a failure: a test restore must not write into it.
async fn claim_scratch_namespace(
    objects: &Objects,
    name: &str,
    run_id: &str,
) -> Result<Option<GateFailure>, ClusterError> {
    let wanted =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {RUN_LABEL: run_id}}});
    let live = objects.create_or_get(&wanted).await?;
    // The run's own, even while it is being deleted: a run killed after its cleanup finds its ended Restore.
    let reason = if live["metadata"]["labels"][RUN_LABEL].as_str() == Some(run_id) {
        return Ok(None);
    } else if live["metadata"]["deletionTimestamp"].is_string() {
        "is being deleted: run again once it is gone"
    } else {
        "exists already and is not this run's: a test restore needs a namespace of its own"
    };
    Ok(Some(GateFailure::new(format!("namespace {name}"), "testRestore.scratchNamespace", reason)))
}

/// Creates the `Restore` (or finds the run's own) and waits until Velero ends it or its timeout passes.
async fn wait_restore(
    objects: &Objects,
    wanted: &Value,
    timeout: crate::plan::file::Duration,
) -> Result<GateVerdict, ClusterError> {
    let key = ObjectKey::of(wanted);
    let mut live = objects.create_or_get(wanted).await?;
    loop {
        if let RestoreDecision::Ended(verdict) = judge_restore(&live) {
            return Ok(verdict);
        }
        if age(&live) >= timeout.to_std() {
            let phase = live["status"]["phase"].as_str().unwrap_or("New");
            let reason = format!("is {phase} after {timeout}: the restore did not finish within its timeout");
            return Ok(GateFailure::new(
                format!("velero.io Restore {}/{}", key.namespace, key.name),
                "status.phase",
                reason,
            )
            .into());
        }
        tokio::time::sleep(POLL).await;
        live = objects.get(&key).await?.ok_or_else(|| {
            ClusterError::Unexpected(format!(
                "velero.io Restore {}/{} disappeared while it ran",
                key.namespace, key.name
            ))
        })?;
    }
}

/// How long ago the object was created (zero when its timestamp is unreadable).
fn age(object: &Value) -> Duration {
    object["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .and_then(|created| Duration::try_from(jiff::Timestamp::now().duration_since(created)).ok())
        .unwrap_or_default()
}

/// Removes the scratch namespace, or with `keep` takes the run's label off it so nothing of the run stays.
async fn release_scratch_namespace(objects: &Objects, restore: &TestRestore, run_id: &str) -> Result<(), ClusterError> {
    if restore.keep {
        objects.remove_label(&ObjectKey::of_namespace(&restore.scratch_namespace), RUN_LABEL).await
    } else {
        objects.delete_labelled_namespace(&restore.scratch_namespace, RUN_LABEL, run_id).await
    }
}

/// Removes every namespace labelled with the run (a test restore's scratch namespace left by a run killed
/// mid-restore); returns how many.
pub async fn remove_run_namespaces(objects: &Objects, run_id: &str) -> Result<usize, ClusterError> {
    let namespaces = objects.list_all("v1", "Namespace", None).await?;
    let mut removed = 0;
    for namespace in namespaces.iter().filter(|n| n["metadata"]["labels"][RUN_LABEL].as_str() == Some(run_id)) {
        let name = namespace["metadata"]["name"].as_str().unwrap_or_default();
        objects.delete_labelled_namespace(name, RUN_LABEL, run_id).await?;
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_restore_maps_one_namespace_and_no_cluster_resources() {
        let gate: VeleroBackupGate = serde_json::from_value(json!({"name": "nightly"})).unwrap();
        let restore: TestRestore =
            serde_json::from_value(json!({"sourceNamespace": "shop", "scratchNamespace": "shop-restore-test"}))
                .unwrap();
        let object = restore_object(&gate, &restore, "nightly-1", "0123456789abcdef");
        assert_eq!(object["metadata"]["namespace"], "velero");
        assert_eq!(object["metadata"]["name"], "operator-upgrade-test-restore-01234567");
        assert_eq!(object["spec"]["backupName"], "nightly-1");
        assert_eq!(object["spec"]["includedNamespaces"], json!(["shop"]));
        assert_eq!(object["spec"]["namespaceMapping"], json!({"shop": "shop-restore-test"}));
        assert_eq!(object["spec"]["includeClusterResources"], false);
    }

    #[test]
    fn age_counts_from_creation() {
        let created = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(90)).to_string();
        let object = json!({"metadata": {"creationTimestamp": created}});
        assert!((89..=91).contains(&age(&object).as_secs()));
        assert_eq!(age(&json!({})), Duration::ZERO);
    }
}
