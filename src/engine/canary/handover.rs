//! Handing every object back to one Deployment: on promotion the new release takes the stable
//! Deployment's full scope, on rollback the old one does. Either way the canary and baseline Deployments go
//! first and their pods must be gone before the stable Deployment widens its scope, and every cohort
//! marker gets its prior value back.

use super::wait_pods_gone;
use crate::canary::cohort::Cohort;
use crate::canary::scoping::copy_pod_selector;
use crate::cluster::{ClusterError, Objects};
use crate::engine::journal::{CanaryRecord, Journal};
use crate::engine::run::Run;
use crate::engine::steps::StepResult;
use crate::engine::upgrade::Upgrade;
use std::time::{Duration, Instant};

/// How long the canary's and baseline's pods may take to go (their termination grace period is the bound).
const COPIES_GONE_TIMEOUT: Duration = Duration::from_secs(300);

/// Removes the canary and baseline Deployments, waits until their pods are gone, then removes the
/// leader-election Leases they took and the canary's own ServiceAccount and RBAC.
pub async fn remove_copies(objects: &Objects, journal: &Journal) -> Result<Result<(), String>, ClusterError> {
    let Some(record) = &journal.canary else { return Ok(Ok(())) };
    for (_, key) in &record.copies {
        objects.delete(key).await?;
    }
    for (cohort, key) in &record.copies {
        let selector = copy_pod_selector(*cohort, &journal.run_id);
        if let Err(why) = wait_pods_gone(objects, &key.namespace, &selector, COPIES_GONE_TIMEOUT).await? {
            return Ok(Err(why));
        }
    }
    for (cohort, lease) in &record.copy_leases {
        let copy = record.copies.iter().find(|(c, _)| c == cohort).map(|(_, key)| key.name.as_str());
        let Some(live) = objects.get(lease).await? else { continue };
        let holder = live["spec"]["holderIdentity"].as_str().unwrap_or_default();
        if copy.is_some_and(|copy| held_by_copy_or_nobody(holder, copy)) {
            objects.delete(lease).await?;
        } else {
            tracing::warn!(%lease, holder, "the Lease is held by someone other than the run's copy; it is left alone");
        }
    }
    // The canary's own account goes once no pod of it runs: bindings before the roles they bind.
    for key in record.access.iter().rev() {
        objects.delete(key).await?;
    }
    Ok(Ok(()))
}

/// Whether a leader-election Lease's holder is nobody or a pod of the Deployment `copy` (pods are named
/// `copy-<replicaset hash>-<suffix>`; client-go's identities start with the pod's name).
fn held_by_copy_or_nobody(holder: &str, copy: &str) -> bool {
    holder.is_empty() || holder.strip_prefix(copy).is_some_and(|rest| rest.starts_with('-'))
}

/// Puts every marker back as it was before the run (removed where there was none).
pub async fn restore_markers(objects: &Objects, record: &CanaryRecord) -> Result<(), ClusterError> {
    let Some((marker, key)) = &record.marker else { return Ok(()) };
    let markers = record.members.iter().map(|m| (&m.key, m.prior.as_deref()));
    super::set_markers(objects, marker.section(), key, markers).await
}

/// Promotion after a passing canary: the canary and baseline go, the stable Deployment becomes the new
/// release with its full scope (the release's own objects, applied by the plain promotion), and the markers
/// are removed.
pub async fn promote(run: &mut Run, upgrade: &Upgrade) -> Result<StepResult, ClusterError> {
    if let Err(why) = remove_copies(&run.objects, &run.journal).await? {
        return Ok(StepResult::failed(format!("the canary and baseline Deployments did not go: {why}")));
    }
    let unowned_from = Instant::now();
    let promoted = crate::engine::steps::promote_release(run, upgrade).await?;
    let StepResult::Done(message) = promoted else { return Ok(promoted) };
    let gap = unowned_from.elapsed().as_secs_f64();
    if let Some(record) = run.journal.canary.clone() {
        restore_markers(&run.objects, &record).await?;
        let marked = record.members.len();
        if let Some(record) = run.journal.canary.as_mut() {
            record.unowned.push(("promotion".to_owned(), gap));
        }
        run.save().await?;
        return Ok(StepResult::Done(format!(
            "{message}; canary and baseline removed, {marked} cohort markers removed; cohort objects had no operator for {gap:.1}s"
        )));
    }
    Ok(StepResult::Done(message))
}

/// The canary part of a rollback, after the copies are gone and the stable Deployment is restored: the
/// markers get their prior values. Returns what to report.
pub async fn undo_canary(run: &mut Run) -> Result<Option<String>, ClusterError> {
    let Some(record) = run.journal.canary.clone() else { return Ok(None) };
    restore_markers(&run.objects, &record).await?;
    let canary = record.members.iter().filter(|m| m.cohort == Cohort::Canary).count();
    Ok(Some(format!(
        "{} cohort markers restored ({canary} canary objects back with the stable operator)",
        record.members.len()
    )))
}

/// How long it took from the canary's first failed reconcile (its cohort objects' earliest Warning event
/// since the canary started, or else the canary's start) to now, when the rollback has restored
/// everything; None without a canary.
pub async fn failure_to_restored(objects: &Objects, journal: &Journal) -> Result<Option<String>, ClusterError> {
    let Some(record) = &journal.canary else { return Ok(None) };
    let Some(started) = record.started.as_deref() else { return Ok(None) };
    let canary: Vec<_> = record.members.iter().filter(|m| m.cohort == Cohort::Canary).collect();
    let uids: std::collections::BTreeSet<&str> = canary.iter().map(|m| m.uid.as_str()).collect();
    let namespaces: std::collections::BTreeSet<&str> = canary.iter().map(|m| m.key.namespace.as_str()).collect();
    let mut first: Option<String> = None;
    for namespace in namespaces {
        for event in objects.list_all("v1", "Event", Some(namespace)).await? {
            let at = event["firstTimestamp"].as_str().or(event["eventTime"].as_str()).unwrap_or_default();
            let ours = event["type"] == "Warning"
                && uids.contains(event["involvedObject"]["uid"].as_str().unwrap_or_default());
            if ours && at >= started && first.as_deref().is_none_or(|f| at < f) {
                first = Some(at.to_owned());
            }
        }
    }
    // An operator that reports failures only in its metrics or logs (prometheus-operator) leaves no event:
    // the canary's start, its first reconcile, bounds the first failure from before.
    let (from, what) = match first {
        Some(first) => (first, "the canary's first failed reconcile"),
        None => (started.to_owned(), "the canary's start (no Warning event marks its first failure)"),
    };
    let Ok(from) = from.parse::<jiff::Timestamp>() else { return Ok(None) };
    let seconds = jiff::Timestamp::now().duration_since(from).as_secs_f64();
    Ok(Some(format!("{seconds:.1}s from {what} to the restored state")))
}

#[cfg(test)]
mod tests {
    use super::held_by_copy_or_nobody;

    #[test]
    fn only_a_lease_of_the_copys_pods_or_nobodys_is_removed() {
        assert!(held_by_copy_or_nobody("", "op-canary"));
        assert!(held_by_copy_or_nobody("op-canary-7d9f-x2k_1b2c", "op-canary"));
        assert!(!held_by_copy_or_nobody("op-7d9f-x2k", "op-canary"));
        assert!(!held_by_copy_or_nobody("op-canary2-7d9f-x2k", "op-canary"));
    }
}
