//! The canary steps of a run: `canary-rollout` draws and marks the cohorts and starts the scoped
//! Deployments, `analysis` measures them against each other every interval (and, without a canary, the
//! whole fleet under the new release against the signals' limits), and `promotion` (or the
//! rollback) hands every object back to one Deployment. No object is reconciled by two Deployments at
//! once: a Deployment gives objects up (its pods gone) before another takes them.

mod analysis;
mod handover;
mod observation;
mod record;
mod rollout;
mod table;

pub use analysis::{analyse, AnalysisEnd};
pub use handover::{failure_to_restored, promote, remove_copies, undo_canary};
pub use observation::{condition_type, record_fleet_start};
pub use record::{decision as analysis_decision, intervals as analysis_intervals, AnalysisJournal};
pub use rollout::roll_out;
pub use table::render_intervals;

use super::desired::kind_at_storage_version;
use super::upgrade::Upgrade;
use crate::canary::measure::CohortKinds;
use crate::cluster::{ClusterError, ObjectKey, Objects};
use crate::plan::file::CanaryPolicy;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Cohort markers written at once, as many as the storage migration's writes: one at a time, marking the
/// 2,000 cohort objects of a 10% canary over 10,000 took 34 s on a loaded real API server (a round trip
/// each).
const MARKING_CONCURRENCY: usize = 8;

/// Sets the marker `key` in `metadata.<section>` of each object to its value (None removes it),
/// [`MARKING_CONCURRENCY`] at a time; the first failure is the result (each write is idempotent, so a run
/// that resumes writes them all again).
async fn set_markers<'a>(
    objects: &Objects,
    section: &str,
    key: &str,
    markers: impl IntoIterator<Item = (&'a ObjectKey, Option<&'a str>)>,
) -> Result<(), ClusterError> {
    stream::iter(markers)
        .map(|(object, value)| objects.set_metadata(object, section, key, value))
        .buffer_unordered(MARKING_CONCURRENCY)
        .try_for_each(|()| futures::future::ok(()))
        .await
}

/// The plan's canary policy (the canary steps only exist when it has one).
fn policy(upgrade: &Upgrade) -> Result<&CanaryPolicy, String> {
    upgrade.loaded.canary().ok_or_else(|| "the plan has no canary".to_owned())
}

/// The `(apiVersion, kind)` of the cohort's kinds (drawn ones first, then followers) at the version the
/// cluster stores them in during the canary (the old release's, kept by the expand).
fn cohort_kinds(upgrade: &Upgrade, canary: &CanaryPolicy) -> CohortKinds {
    let drawn = canary.cohort.resources.iter().map(|r| (r.group.as_str(), r.kind.as_str()));
    let followers = canary.cohort.followers.iter().map(|f| (f.group.as_str(), f.kind.as_str()));
    drawn
        .chain(followers)
        .filter_map(|(group, kind)| {
            let crds = upgrade.old.crds.values().chain(upgrade.new.crds.values());
            crds.filter(|crd| crd["spec"]["group"] == group && crd["spec"]["names"]["kind"] == kind)
                .find_map(kind_at_storage_version)
        })
        .collect()
}

/// The release's Deployment of the operator (old or new side).
fn release_deployment<'a>(upgrade: &Upgrade, objects: &'a [Value]) -> Result<&'a Value, String> {
    objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == upgrade.deployment())
        .ok_or_else(|| format!("the release has no Deployment {}", upgrade.deployment()))
}

/// Waits until no pod matching `selector` exists in `namespace`, terminating ones included (a terminating
/// operator pod still reconciles); Err on timeout with how many are left.
async fn wait_pods_gone(
    objects: &Objects,
    namespace: &str,
    selector: &str,
    timeout: Duration,
) -> Result<Result<(), String>, ClusterError> {
    wait_pod_count(objects, namespace, selector, 0, timeout).await
}

/// Waits until exactly `count` pods (terminating ones included) match `selector`.
pub(super) async fn wait_pod_count(
    objects: &Objects,
    namespace: &str,
    selector: &str,
    count: usize,
    timeout: Duration,
) -> Result<Result<(), String>, ClusterError> {
    if objects.is_dry_run() {
        return Ok(Ok(()));
    }
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(objects.client().clone(), namespace);
    let params = kube::api::ListParams::default().labels(selector);
    let started = Instant::now();
    loop {
        let list = crate::cluster::retry::with_retries(|| pods.list(&params))
            .await
            .map_err(|e| ClusterError::api(format!("cannot list the pods {selector} in {namespace}"), e))?;
        if list.items.len() == count {
            return Ok(Ok(()));
        }
        if started.elapsed() > timeout {
            return Ok(Err(format!(
                "{} pods {selector} in {namespace} after {}s, {count} expected",
                list.items.len(),
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
