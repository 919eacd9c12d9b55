//! `analysis` with a canary: after the warm-up, every interval, each signal is measured on the canary and
//! the baseline cohort and judged; the verdict comes in the interval whose measurement crosses the plan's
//! limits. Each interval is journaled, so `status` shows it and a resumed run goes on from it.

use super::rollout::dependent_kinds;
use super::{cohort_kinds, policy, table};
use crate::canary::cohort::{object_unit, Cohort};
use crate::canary::judge::{Decision, IntervalResult, Limits, Tally};
use crate::canary::measure::{
    observe_cohort, observe_copy_pods, owner_generations, readings, reconciles_of, scrape_counters, warning_events,
    CohortMemory, CohortObservation, CohortStart,
};
use crate::canary::scoping::copy_pod_selector;
use crate::cluster::{ClusterError, ObjectKey};
use crate::engine::journal::{CanaryRecord, CohortMember, MAX_INTERVALS};
use crate::engine::run::Run;
use crate::engine::upgrade::Upgrade;
use crate::health::object_health;
use crate::plan::file::{AnalysisLength, AnalysisPolicy, ConditionsSignal, InconclusiveAction, MetricSource, Signal};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// What the analysis ended with, for the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnalysisEnd {
    /// Promote.
    Passed(String),
    /// Roll back (or pause, if the plan does not roll back by itself).
    Failed(String),
    /// Stop for a person: `apply --promote` or `rollback`.
    Paused(String),
}

/// Executes the `analysis` step of a canary.
pub async fn analyse(run: &mut Run, upgrade: &Upgrade) -> Result<AnalysisEnd, ClusterError> {
    if run.objects.is_dry_run() {
        return Ok(AnalysisEnd::Passed("dry run: nothing to measure".to_owned()));
    }
    let canary = match policy(upgrade) {
        Ok(canary) => canary,
        Err(why) => return Ok(AnalysisEnd::Failed(why)),
    };
    let Some(record) = run.journal.canary.clone() else {
        return Ok(AnalysisEnd::Failed("the canary rollout recorded no cohorts".to_owned()));
    };
    let analysis = upgrade.loaded.analysis();
    let kinds = cohort_kinds(upgrade, canary);
    let limits = Limits {
        failure: analysis.failure_limit,
        inconclusive: analysis.inconclusive_limit,
        consecutive_errors: analysis.consecutive_error_limit,
    };
    let total = measurement_count(analysis);
    let mut tally = Tally::default();
    for (i, interval) in record.intervals.iter().enumerate() {
        tally.record(interval, limits, i as u32 + 1 == total);
    }
    let done = record.intervals.last().map_or(0, |i| i.index);
    if done == 0 {
        wait_warm_up(&record, analysis.warm_up.to_std()).await;
        if let Err(why) = check_canary_reconciles(run, upgrade, analysis).await {
            return Ok(AnalysisEnd::Failed(why));
        }
    }
    let start = CohortStart {
        not_ready_before: run.journal.baseline_not_ready.iter().cloned().collect(),
        dependents: record.dependents.clone(),
        owners: record.owner_generations.clone(),
    };
    let has_baseline = record.copies.iter().any(|(c, _)| *c == Cohort::Baseline);
    let (mut canary_memory, mut baseline_memory) = (CohortMemory::default(), CohortMemory::default());
    let began = Instant::now();
    // The zero point of counters and generations: the first interval measures from here.
    let mut zero = observe(run, upgrade, &record, &kinds).await?;
    // Dependents count from the cohort's start, not from here: a release rewrites them as it takes over.
    (zero.0.dependents, zero.1.dependents) = (None, None);
    let _ = readings(
        analysis,
        &start,
        Duration::ZERO,
        (&zero.0, &mut canary_memory),
        Some((&zero.1, &mut baseline_memory)),
    );
    let table = table::Live::start(&run.reporter, table::header(analysis, has_baseline));
    for index in done + 1..=total {
        tokio::time::sleep(analysis.interval.to_std()).await;
        let measuring = Instant::now();
        let (canary_seen, baseline_seen) = observe(run, upgrade, &record, &kinds).await?;
        let at = began.elapsed();
        let baseline = has_baseline.then_some((&baseline_seen, &mut baseline_memory));
        let measured = readings(analysis, &start, at, (&canary_seen, &mut canary_memory), baseline);
        let mut interval = IntervalResult::judge(index, at.as_secs(), measured);
        interval.took_ms = u64::try_from(measuring.elapsed().as_millis()).unwrap_or(u64::MAX);
        let decision = tally.record(&interval, limits, index == total);
        table.add(&run.reporter, table::row(&interval));
        let record = run.journal.canary.as_mut().expect("checked above");
        record.intervals.push(interval);
        if record.intervals.len() > MAX_INTERVALS {
            record.intervals.remove(0);
        }
        if decision != Decision::Continue {
            record.decision = Some(decision.clone());
        }
        run.save().await?;
        if decision != Decision::Continue {
            table.finish(&run.reporter);
        }
        match decision {
            Decision::Continue => {}
            Decision::Pass => {
                return Ok(AnalysisEnd::Passed(format!("{index} intervals, every signal within its limits")))
            }
            Decision::Fail(why) => return Ok(AnalysisEnd::Failed(why)),
            Decision::Inconclusive(why) => return Ok(inconclusive(analysis.on_inconclusive, why)),
        }
    }
    table.finish(&run.reporter);
    Ok(AnalysisEnd::Passed(format!("{total} intervals, every signal within its limits")))
}

fn inconclusive(action: InconclusiveAction, why: String) -> AnalysisEnd {
    match action {
        InconclusiveAction::Pause => AnalysisEnd::Paused(format!(
            "the analysis is inconclusive: {why}. `apply --promote` promotes, `rollback` aborts"
        )),
        InconclusiveAction::Rollback => {
            AnalysisEnd::Failed(format!("inconclusive, rolled back as the plan says: {why}"))
        }
        InconclusiveAction::Promote => AnalysisEnd::Passed(format!("inconclusive, promoted as the plan says: {why}")),
    }
}

/// How many intervals the analysis measures.
pub fn measurement_count(analysis: &AnalysisPolicy) -> u32 {
    match analysis.length() {
        AnalysisLength::Duration(d) => {
            u32::try_from((d.as_millis() / analysis.interval.as_millis().max(1)).max(1)).unwrap_or(u32::MAX)
        }
        AnalysisLength::Count(count) => count,
    }
}

/// Sleeps until the warm-up after the cohort Deployments started has passed.
async fn wait_warm_up(record: &CanaryRecord, warm_up: Duration) {
    let started = record.started.as_deref().and_then(|s| s.parse::<jiff::Timestamp>().ok());
    let elapsed =
        started.and_then(|s| jiff::Timestamp::now().duration_since(s).try_into().ok()).unwrap_or(Duration::ZERO);
    tokio::time::sleep(warm_up.saturating_sub(elapsed)).await;
}

/// A canary that reconciled nothing within the warm-up (it waits for a lease another Deployment holds, its
/// scope matches nothing) fails: its objects would look healthy only because nobody touched them. The
/// reconciles are the operator's own counter: the `per` series of the plan's first pod metric that has one
/// (`controller_runtime_reconcile_total`, `strimzi_reconciliations_total`), else that metric's series.
async fn check_canary_reconciles(run: &Run, upgrade: &Upgrade, analysis: &AnalysisPolicy) -> Result<(), String> {
    let proxies: Vec<&crate::plan::file::PodProxyMetric> = analysis
        .signals
        .iter()
        .filter_map(|s| match s {
            Signal::Metric(m) => match &m.source {
                MetricSource::PodProxy(p) => Some(p),
                MetricSource::Prometheus(_) => None,
            },
            _ => None,
        })
        .collect();
    let Some(metric) = proxies.iter().find(|p| p.per.is_some()).or(proxies.first()) else {
        run.reporter
            .info("  (the plan scrapes no pod metrics, so whether the canary reconciled at all is not checked)");
        return Ok(());
    };
    let counter = metric.per.clone().unwrap_or_else(|| metric.series.clone());
    let selector = copy_pod_selector(Cohort::Canary, &run.journal.run_id);
    match reconciles_of(run.objects.client(), upgrade.namespace(), &selector, metric, &counter).await {
        Ok(n) if n > 0.0 => Ok(()),
        Ok(_) => Err(format!(
            "the canary reconciled nothing within the warm-up of {} ({counter} did not grow): does it share the stable Deployment's leader-election lease, or match no object?",
            analysis.warm_up
        )),
        Err(why) => Err(format!("the canary's reconciles cannot be read after the warm-up: {why}")),
    }
}

/// One observation of both cohorts (the baseline's is empty without a baseline).
async fn observe(
    run: &mut Run,
    upgrade: &Upgrade,
    record: &CanaryRecord,
    kinds: &crate::canary::measure::CohortKinds,
) -> Result<(CohortObservation, CohortObservation), ClusterError> {
    let units = |cohort: Cohort| -> BTreeSet<String> {
        record.members.iter().filter(|m| m.cohort == cohort).map(|m| object_unit(&m.key)).collect()
    };
    let (canary_units, baseline_units) = (units(Cohort::Canary), units(Cohort::Baseline));
    // The journal's members, not the analysis's starting copy: objects marked stable meanwhile are known.
    let current = run.journal.canary.as_ref().unwrap_or(record);
    let mut everyone = BTreeSet::new();
    if current.marker.is_some() && current.members.iter().any(|m| m.cohort == Cohort::Stable) {
        everyone = current.members.iter().map(|m| object_unit(&m.key)).collect();
    }
    let found = observe_cohort(&run.objects, kinds, &[&canary_units, &baseline_units]).await?;
    if !everyone.is_empty() {
        mark_new_objects_stable(run, kinds, &everyone).await?;
    }
    let mut sides = Vec::new();
    for (cohort, objects) in [Cohort::Canary, Cohort::Baseline].into_iter().zip(found) {
        sides.push(observe_side(run, upgrade, record, cohort, &objects).await?);
    }
    let baseline = sides.pop().expect("two sides");
    let canary = sides.pop().expect("two sides");
    Ok((canary, baseline))
}

/// With an equality-only selector the stable Deployment only sees objects marked `stable`: objects created
/// during the canary are marked (and recorded) so they belong to it.
async fn mark_new_objects_stable(
    run: &mut Run,
    kinds: &crate::canary::measure::CohortKinds,
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
    for member in &added {
        run.objects.set_metadata(&member.key, marker.section(), &key, Some(Cohort::Stable.as_str())).await?;
    }
    Ok(())
}

/// Everything one cohort's signals read from.
async fn observe_side(
    run: &Run,
    upgrade: &Upgrade,
    record: &CanaryRecord,
    cohort: Cohort,
    objects: &[Value],
) -> Result<CohortObservation, ClusterError> {
    let analysis = upgrade.loaded.analysis();
    let condition = analysis
        .signals
        .iter()
        .find_map(|s| match s {
            Signal::Conditions(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap_or_else(ConditionsSignal::default)
        .condition_type;
    let client = run.objects.client();
    let namespace = upgrade.namespace();
    let selector = copy_pod_selector(cohort, &run.journal.run_id);
    let pod_trouble = observe_copy_pods(client, namespace, &selector).await.map_err(|e| e.to_string());
    let uids: BTreeSet<String> =
        objects.iter().filter_map(|o| o["metadata"]["uid"].as_str().map(str::to_owned)).collect();
    let namespaces: BTreeSet<String> =
        record.members.iter().filter(|m| m.cohort == cohort).map(|m| m.key.namespace.clone()).collect();
    let since = record.started.clone().unwrap_or_default();
    let reasons = analysis
        .signals
        .iter()
        .find_map(|s| match s {
            Signal::WarningEvents(w) => Some(w.reasons.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let warnings = warning_events(&run.objects, &namespaces, &uids, &since, &reasons).await.map_err(|e| e.to_string());
    let owners = owner_generations(objects);
    let dependents = match dependent_kinds(upgrade) {
        Some(kinds) => {
            let measured: Vec<(String, String, String)> = objects
                .iter()
                .map(|o| {
                    let key = ObjectKey::of(o);
                    let uid = o["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
                    (object_unit(&key), uid, key.namespace)
                })
                .collect();
            Some(
                crate::canary::measure::dependent_fingerprints(&run.objects, &kinds, &measured)
                    .await
                    .map_err(|e| e.to_string()),
            )
        }
        None => None,
    };
    let mut metrics = BTreeMap::new();
    for signal in &analysis.signals {
        let Signal::Metric(metric) = signal else { continue };
        let value = match &metric.source {
            MetricSource::PodProxy(proxy) => scrape_counters(client, namespace, &selector, proxy).await,
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
