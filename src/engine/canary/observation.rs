//! Observing what an analysis measures, every interval: with a canary the canary's and the baseline's
//! cohorts, each on its own Deployment; without one every object of the release's kinds under the new
//! release's operator. Either side is read by the same functions; a side that is not there (no baseline)
//! is not observed at all.

use super::analysis::Subject;
use super::rollout::dependent_kinds;
use crate::canary::cohort::{object_unit, Cohort};
use crate::canary::measure::{
    dependent_fingerprints, observe_cohort, observe_copy_pods, owner_generations, scrape_counters, warning_events,
    CohortKinds, CohortObservation,
};
use crate::canary::scoping::copy_pod_selector;
use crate::cluster::{ClusterError, ObjectKey};
use crate::engine::journal::{CanaryRecord, CohortMember};
use crate::engine::run::Run;
use crate::engine::steps::operator_selector;
use crate::engine::upgrade::Upgrade;
use crate::health::object_health;
use crate::plan::file::{ConditionsSignal, MetricSource, Signal};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One observation of the subject: the canary's side (the fleet's without a canary) and the baseline's,
/// when the analysis has one.
pub(super) async fn observe(
    run: &mut Run,
    upgrade: &Upgrade,
    subject: &Subject,
) -> Result<(CohortObservation, Option<CohortObservation>), ClusterError> {
    match subject {
        Subject::Cohorts { record, kinds } => observe_cohorts(run, upgrade, record, kinds).await,
        Subject::Fleet { kinds, since, sample, .. } => {
            Ok((observe_fleet(run, upgrade, kinds, since, sample).await?, None))
        }
    }
}

/// Where one side's pods, events and start are.
struct Side {
    /// The selector of the side's operator pods.
    selector: String,
    /// The namespaces of the side's objects (where their events are).
    namespaces: BTreeSet<String>,
    /// Since when Warning events count (RFC 3339).
    since: String,
    /// The objects (by unit) whose dependents are fingerprinted; None: every one.
    sample: Option<BTreeSet<String>>,
}

/// How many objects' dependents an analysis without a canary follows: their fingerprints before the
/// promotion are journaled, one per object, so the journal stays small however large the fleet.
const FLEET_DEPENDENTS_SAMPLE: usize = 1_000;

/// Without a canary, before the promotion: fingerprints the dependents of a sample of the fleet's objects
/// (at most [`FLEET_DEPENDENTS_SAMPLE`], spread by a hash of their names) and journals them, so the
/// analysis sees what the new release rewrites as it takes over. Only when the plan judges dependent
/// changes and nothing was journaled yet (a resumed promotion keeps the first).
pub async fn record_fleet_start(run: &mut Run, upgrade: &Upgrade) -> Result<(), ClusterError> {
    let Some(dependent_kinds) = dependent_kinds(upgrade) else { return Ok(()) };
    if upgrade.loaded.canary_enabled() || run.journal.analysis.as_ref().is_some_and(|a| !a.dependents.is_empty()) {
        return Ok(());
    }
    let mut objects = Vec::new();
    for (api_version, kind) in upgrade.old_custom_resource_kinds() {
        objects.extend(run.objects.list_all(&api_version, &kind, None).await?);
    }
    let sample = sample_units(objects.iter().map(|o| object_unit(&ObjectKey::of(o))), FLEET_DEPENDENTS_SAMPLE);
    let sampled: Vec<&Value> = objects.iter().filter(|o| sample.contains(&object_unit(&ObjectKey::of(o)))).collect();
    let measured = fingerprinted(sampled.iter().copied());
    let dependents = dependent_fingerprints(&run.objects, &dependent_kinds, &measured).await?;
    let analysis = run.journal.analysis.get_or_insert_with(Default::default);
    analysis.owner_generations = owner_generations(sampled);
    analysis.dependents = dependents;
    run.save().await
}

/// At most `max` of `units`, the same ones for the same names: those whose names hash lowest.
pub fn sample_units(units: impl IntoIterator<Item = String>, max: usize) -> BTreeSet<String> {
    let hash = |unit: &str| {
        let digest = ring::digest::digest(&ring::digest::SHA256, unit.as_bytes());
        u64::from_be_bytes(digest.as_ref()[..8].try_into().expect("a SHA-256 digest has 32 bytes"))
    };
    let mut hashed: Vec<(u64, String)> = units.into_iter().map(|u| (hash(&u), u)).collect();
    hashed.sort();
    hashed.dedup();
    hashed.into_iter().take(max).map(|(_, unit)| unit).collect()
}

/// Each object's unit, uid and namespace, as dependents are fingerprinted by.
fn fingerprinted<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Vec<(String, String, String)> {
    objects
        .into_iter()
        .map(|o| {
            let key = ObjectKey::of(o);
            let uid = o["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
            (object_unit(&key), uid, key.namespace)
        })
        .collect()
}

/// Every object of the release's kinds and the operator's own pods, without a canary.
async fn observe_fleet(
    run: &Run,
    upgrade: &Upgrade,
    kinds: &CohortKinds,
    since: &str,
    sample: &BTreeSet<String>,
) -> Result<CohortObservation, ClusterError> {
    let mut objects = Vec::new();
    for (api_version, kind) in kinds {
        objects.extend(run.objects.list_all(api_version, kind, None).await?);
    }
    // The events of a cluster-scoped object are in `default`.
    let namespaces = objects
        .iter()
        .map(|o| o["metadata"]["namespace"].as_str().filter(|n| !n.is_empty()).unwrap_or("default").to_owned())
        .collect();
    let sample = (!sample.is_empty()).then(|| sample.clone());
    let side = Side { selector: operator_selector(upgrade), namespaces, since: since.to_owned(), sample };
    observe_side(run, upgrade, &side, &objects).await
}

/// The canary's and (when there is one) the baseline's cohorts.
async fn observe_cohorts(
    run: &mut Run,
    upgrade: &Upgrade,
    record: &CanaryRecord,
    kinds: &CohortKinds,
) -> Result<(CohortObservation, Option<CohortObservation>), ClusterError> {
    let mut cohorts = vec![Cohort::Canary];
    if record.copies.iter().any(|(c, _)| *c == Cohort::Baseline) {
        cohorts.push(Cohort::Baseline);
    }
    let units: Vec<BTreeSet<String>> = cohorts
        .iter()
        .map(|cohort| record.members.iter().filter(|m| m.cohort == *cohort).map(|m| object_unit(&m.key)).collect())
        .collect();
    // The journal's members, not the analysis's starting copy: objects marked stable meanwhile are known.
    let current = run.journal.canary.as_ref().unwrap_or(record);
    let mut everyone = BTreeSet::new();
    if current.marker.is_some() && current.members.iter().any(|m| m.cohort == Cohort::Stable) {
        everyone = current.members.iter().map(|m| object_unit(&m.key)).collect();
    }
    let found = observe_cohort(&run.objects, kinds, &units.iter().collect::<Vec<_>>()).await?;
    if !everyone.is_empty() {
        mark_new_objects_stable(run, kinds, &everyone).await?;
    }
    let mut sides = Vec::new();
    for (cohort, objects) in cohorts.into_iter().zip(found) {
        let side = Side {
            selector: copy_pod_selector(cohort, &run.journal.run_id),
            namespaces: record.members.iter().filter(|m| m.cohort == cohort).map(|m| m.key.namespace.clone()).collect(),
            since: record.started.clone().unwrap_or_default(),
            sample: None,
        };
        sides.push(observe_side(run, upgrade, &side, &objects).await?);
    }
    let mut sides = sides.into_iter();
    let canary = sides.next().expect("the canary is always observed");
    Ok((canary, sides.next()))
}

/// With an equality-only selector the stable Deployment only sees objects marked `stable`: objects created
/// during the canary are marked (and recorded) so they belong to it.
async fn mark_new_objects_stable(
    run: &mut Run,
    kinds: &CohortKinds,
    known: &BTreeSet<String>,
) -> Result<(), ClusterError> {
    let Some((marker, key)) = run.journal.canary.as_ref().and_then(|r| r.marker.clone()) else { return Ok(()) };
    let mut added = Vec::new();
    for (api_version, kind) in kinds {
        for object in run.objects.list_all(api_version, kind, None).await? {
            let object_key = ObjectKey::of(&object);
            if known.contains(&object_unit(&object_key)) {
                continue;
            }
            let prior = object["metadata"][marker.section()][key.as_str()].as_str().map(str::to_owned);
            let uid = object["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
            added.push(CohortMember { key: object_key, uid, cohort: Cohort::Stable, prior });
        }
    }
    if added.is_empty() {
        return Ok(());
    }
    run.journal.canary.as_mut().expect("checked above").members.extend(added.clone());
    run.save().await?;
    let markers = added.iter().map(|m| (&m.key, Some(Cohort::Stable.as_str())));
    super::set_markers(&run.objects, marker.section(), &key, markers).await
}

/// The condition that means healthy: the plan's `conditions` signal's, by default `Ready`.
pub fn condition_type(analysis: &crate::plan::file::AnalysisPolicy) -> String {
    analysis
        .signals
        .iter()
        .find_map(|s| match s {
            Signal::Conditions(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap_or_else(ConditionsSignal::default)
        .condition_type
}

/// Everything one side's signals read from.
async fn observe_side(
    run: &Run,
    upgrade: &Upgrade,
    side: &Side,
    objects: &[Value],
) -> Result<CohortObservation, ClusterError> {
    let analysis = upgrade.loaded.analysis();
    let condition = condition_type(analysis);
    let client = run.objects.client();
    let namespace = upgrade.namespace();
    let pod_trouble = observe_copy_pods(client, namespace, &side.selector).await.map_err(|e| e.to_string());
    let uids: BTreeSet<String> =
        objects.iter().filter_map(|o| o["metadata"]["uid"].as_str().map(str::to_owned)).collect();
    let reasons = analysis
        .signals
        .iter()
        .find_map(|s| match s {
            Signal::WarningEvents(w) => Some(w.reasons.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let warnings =
        warning_events(&run.objects, &side.namespaces, &uids, &side.since, &reasons).await.map_err(|e| e.to_string());
    let owners = owner_generations(objects);
    let dependents = match dependent_kinds(upgrade) {
        Some(kinds) => {
            let sampled = objects
                .iter()
                .filter(|o| side.sample.as_ref().is_none_or(|sample| sample.contains(&object_unit(&ObjectKey::of(o)))));
            let measured = fingerprinted(sampled);
            Some(dependent_fingerprints(&run.objects, &kinds, &measured).await.map_err(|e| e.to_string()))
        }
        None => None,
    };
    let mut metrics = BTreeMap::new();
    for signal in &analysis.signals {
        let Signal::Metric(metric) = signal else { continue };
        let value = match &metric.source {
            MetricSource::PodProxy(proxy) => scrape_counters(client, namespace, &side.selector, proxy).await,
            MetricSource::Prometheus(_) => {
                Err("Prometheus queries are not measured by this version: use podProxy".to_owned())
            }
        };
        metrics.insert(metric.name.clone(), value);
    }
    Ok(CohortObservation {
        objects: objects.iter().map(|o| object_health(o, &condition)).collect(),
        pod_trouble,
        warnings,
        dependents,
        owners,
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_bounded_and_the_same_for_the_same_names_whatever_their_order() {
        let units: Vec<String> = (0..50).map(|i| format!("Widget default/w-{i}")).collect();
        let sample = sample_units(units.clone(), 10);
        assert_eq!(sample.len(), 10);
        assert_eq!(sample_units(units.iter().rev().cloned(), 10), sample);
        assert!(sample.iter().all(|u| units.contains(u)));
        // Not simply the first names: spread by the hash.
        assert_ne!(sample, units.iter().take(10).cloned().collect());
        assert_eq!(sample_units(units.clone(), 100).len(), 50);
    }
}
