//! Measuring the cohorts: what one interval observed of each cohort's objects, its Deployment's pods, its
//! Warning events, its objects' dependents and its pods' metrics, turned into the judge's readings. The
//! observing functions are small and do I/O; turning observations into readings is pure.

use super::judge::{Reading, SignalReading, Unit};
use crate::health::ObjectHealth;
use crate::plan::file::{AnalysisPolicy, MetricSignal, Signal};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

mod kept;
mod observe;
mod scrape;

pub use kept::KeptMemory;

pub use observe::{
    dependent_fingerprints, observe_cohort, observe_copy_pods, owner_generations, reconciles_of, scrape_counters,
    warning_events, CohortKinds,
};
pub use scrape::{counter_sum, SeriesMatcher};

/// Each pod's counters (the series, the `per` series), by pod name.
pub type PodCounters = BTreeMap<String, (f64, f64)>;

/// What one measurement saw of one cohort (its Deployment, its objects).
#[derive(Debug, Clone, PartialEq)]
pub struct CohortObservation {
    /// The health of every object of the cohort that still exists.
    pub objects: Vec<ObjectHealth>,
    /// Restarts plus not-ready pods of the cohort's Deployment.
    pub pod_trouble: Result<u32, String>,
    /// Warning events on the cohort's objects since the cohort started.
    pub warnings: Result<u32, String>,
    /// Each cohort object's dependents' fingerprint (None: the signal is not measured).
    pub dependents: Option<Result<BTreeMap<String, u64>, String>>,
    /// Each cohort object's generations, by unit, as the dependents were fingerprinted.
    pub owners: BTreeMap<String, OwnerGeneration>,
    /// Per metric signal (by name): each pod's counters (series, per), summed; Err when a scrape failed.
    pub metrics: BTreeMap<String, Result<PodCounters, String>>,
}

/// What the analysis remembers of one cohort from one interval to the next.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CohortMemory {
    /// Since when (time since the analysis began) each object has been behind its spec.
    behind_since: BTreeMap<String, Duration>,
    /// Each object's generation at the last measurement.
    generations: BTreeMap<String, i64>,
    /// Each pod's counters at the last scrape, per metric.
    counters: BTreeMap<String, PodCounters>,
    /// Each object's dependents' fingerprint and generations at the last measurement (None before the first).
    dependents: Option<(BTreeMap<String, u64>, BTreeMap<String, OwnerGeneration>)>,
}

/// What the cohorts started from (taken before the canary started).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CohortStart {
    /// Objects not ready before the run (not the release's fault).
    pub not_ready_before: BTreeSet<String>,
    /// Dependents' fingerprints per cohort object before the canary started.
    pub dependents: BTreeMap<String, u64>,
    /// The cohort objects' generations before the canary started (empty in a journal of an older tool).
    pub owners: BTreeMap<String, OwnerGeneration>,
}

/// A cohort object's generations when its dependents were fingerprinted: the dependents of an object whose
/// spec changed are rewritten by any release, so only changes without one are the release's doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerGeneration {
    /// `metadata.generation`.
    pub generation: i64,
    /// `status.observedGeneration` (or its conditions' highest), when the operator writes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<i64>,
}

impl OwnerGeneration {
    /// Of an object as listed.
    pub fn of(object: &serde_json::Value) -> OwnerGeneration {
        let status = &object["status"];
        let on_conditions = status["conditions"]
            .as_array()
            .and_then(|conditions| conditions.iter().filter_map(|c| c["observedGeneration"].as_i64()).max());
        OwnerGeneration {
            generation: object["metadata"]["generation"].as_i64().unwrap_or(0),
            observed: crate::health::generation_number(&status["observedGeneration"]).or(on_conditions),
        }
    }

    /// Whether the object's spec changed since `before`, or its operator is still catching up with it: a
    /// change of its dependents is then the user's doing. An object not seen before explains nothing.
    fn spec_moved_since(&self, before: Option<&OwnerGeneration>) -> bool {
        let behind = self.observed.is_some_and(|observed| observed < self.generation);
        // An operator that starts writing observedGeneration has not reconciled a new spec by that alone.
        let reconciled_another = |b: &OwnerGeneration| b.observed.is_some() && b.observed != self.observed;
        behind || before.is_some_and(|b| b.generation != self.generation || reconciled_another(b))
    }
}

/// The name of a signal in reports and tallies.
pub fn signal_name(signal: &Signal) -> String {
    match signal {
        Signal::Metric(metric) => format!("metric {}", metric.name),
        other => other.kind().key().to_owned(),
    }
}

/// Turns one interval's observations of both cohorts into the judge's readings, one per signal of the
/// plan, updating what each cohort's memory carries to the next interval.
pub fn readings(
    analysis: &AnalysisPolicy,
    start: &CohortStart,
    at: Duration,
    canary: (&CohortObservation, &mut CohortMemory),
    baseline: Option<(&CohortObservation, &mut CohortMemory)>,
) -> Vec<SignalReading> {
    let (canary_seen, canary_memory) = canary;
    let mut baseline = baseline;
    let mut out = Vec::new();
    for signal in &analysis.signals {
        let read = |seen: &CohortObservation, memory: &mut CohortMemory| read_signal(signal, start, at, seen, memory);
        let canary_reading = read(canary_seen, canary_memory);
        let baseline_reading = baseline.as_mut().map(|(seen, memory)| read(seen, memory));
        let (unit, max, tolerance) = thresholds(signal);
        out.push(SignalReading {
            signal: signal_name(signal),
            unit,
            canary: canary_reading,
            baseline: baseline_reading,
            max,
            tolerance,
            detail: detail(signal, start, canary_seen),
        });
    }
    out
}

/// How many objects a detail names before it says "and N more".
const NAMED: usize = 3;

/// The objects behind a signal's value, the first few named: for the conditions signal, the objects not
/// healthy (and healthy before the run), with why. None for other signals, or when there are none.
fn detail(signal: &Signal, start: &CohortStart, seen: &CohortObservation) -> Option<String> {
    let Signal::Conditions(conditions) = signal else { return None };
    let names: Vec<String> = seen
        .objects
        .iter()
        .filter(|o| o.ready != Some(true) && !start.not_ready_before.contains(&o.object))
        .map(|o| match &o.reason {
            Some(reason) => format!("{} ({reason})", o.object),
            None => o.object.clone(),
        })
        .collect();
    if names.is_empty() {
        return None;
    }
    let mut text = format!("not {}: {}", conditions.condition_type, names[..names.len().min(NAMED)].join(", "));
    if names.len() > NAMED {
        text.push_str(&format!(" and {} more", names.len() - NAMED));
    }
    Some(text)
}

/// A signal's unit, absolute limit and tolerance over the baseline.
fn thresholds(signal: &Signal) -> (Unit, Option<f64>, f64) {
    match signal {
        Signal::Conditions(c) => (Unit::Count, Some(f64::from(c.max_not_ready)), f64::from(c.max_over_baseline)),
        Signal::ObservedGeneration(o) => (
            Unit::Seconds,
            Some(o.max_catch_up.to_std().as_secs_f64()),
            o.max_over_baseline.map_or(0.0, |d| d.to_std().as_secs_f64()),
        ),
        Signal::PodRestarts(p) => (Unit::Count, Some(f64::from(p.max_restarts)), f64::from(p.max_over_baseline)),
        Signal::WarningEvents(w) => (Unit::Count, Some(f64::from(w.max_events)), f64::from(w.max_over_baseline)),
        Signal::DependentChanges(d) => (Unit::Ratio, Some(d.max), d.max_over_baseline),
        Signal::Metric(m) => (Unit::Ratio, m.max, m.max_over_baseline.unwrap_or(0.0)),
    }
}

fn read_signal(
    signal: &Signal,
    start: &CohortStart,
    at: Duration,
    seen: &CohortObservation,
    memory: &mut CohortMemory,
) -> Reading {
    let count = |result: &Result<u32, String>| match result {
        Ok(n) => Reading::Value(f64::from(*n)),
        Err(why) => Reading::Error(why.clone()),
    };
    match signal {
        Signal::Conditions(_) => not_ready(seen, start),
        Signal::ObservedGeneration(_) => catch_up(seen, memory, at),
        Signal::PodRestarts(_) => count(&seen.pod_trouble),
        Signal::WarningEvents(_) => count(&seen.warnings),
        Signal::DependentChanges(_) => dependent_changes(seen, start, memory),
        Signal::Metric(metric) => metric_delta(metric, seen, memory),
    }
}

/// Objects not Ready (and Ready before the run); no objects left is no data.
fn not_ready(seen: &CohortObservation, start: &CohortStart) -> Reading {
    if seen.objects.is_empty() {
        return Reading::NoData;
    }
    let count =
        seen.objects.iter().filter(|o| o.ready != Some(true) && !start.not_ready_before.contains(&o.object)).count();
    Reading::Value(count as f64)
}

/// The longest catch-up of the interval: objects still behind their spec count with how long they have been
/// behind, objects whose spec changed and that caught up since the last measurement with how long they were
/// seen behind (0 when caught up before any measurement saw them behind: within one interval). No spec
/// change in the interval is no data.
fn catch_up(seen: &CohortObservation, memory: &mut CohortMemory, at: Duration) -> Reading {
    let mut longest: Option<Duration> = None;
    let mut note = |d: Duration| longest = Some(longest.map_or(d, |l| l.max(d)));
    let mut generations = BTreeMap::new();
    let mut behind_since = BTreeMap::new();
    // An object without observedGeneration says nothing about catch-up: an operator that never writes one
    // gives this signal no data, which fails the analysis rather than passing it silently.
    for object in seen.objects.iter().filter(|o| o.observed_generation.is_some()) {
        let changed = memory.generations.get(&object.object).is_some_and(|g| *g != object.generation);
        generations.insert(object.object.clone(), object.generation);
        let was_behind = memory.behind_since.get(&object.object).copied();
        if object.caught_up() {
            if let Some(since) = was_behind {
                note(at.saturating_sub(since));
            } else if changed {
                note(Duration::ZERO);
            }
        } else {
            let since = was_behind.unwrap_or(at);
            behind_since.insert(object.object.clone(), since);
            note(at.saturating_sub(since));
        }
    }
    memory.generations = generations;
    memory.behind_since = behind_since;
    longest.map_or(Reading::NoData, |d| Reading::Value(d.as_secs_f64()))
}

/// Among the cohort objects whose spec did not change in the interval, the share whose dependents changed:
/// since the last measurement, or for the first one since the cohort started (so what a new release rewrites
/// as it takes its objects over, during the warm-up, is counted). Dependents rewritten for a spec the users
/// changed are what every release does, so those objects are left out; none left is no data.
fn dependent_changes(seen: &CohortObservation, start: &CohortStart, memory: &mut CohortMemory) -> Reading {
    match &seen.dependents {
        None => Reading::Error("dependents were not observed".to_owned()),
        Some(Err(why)) => Reading::Error(why.clone()),
        Some(Ok(now)) if now.is_empty() => Reading::NoData,
        Some(Ok(now)) => {
            let (before, owners_before) = memory
                .dependents
                .replace((now.clone(), seen.owners.clone()))
                .unwrap_or_else(|| (start.dependents.clone(), start.owners.clone()));
            let explained =
                |unit: &String| seen.owners.get(unit).is_some_and(|o| o.spec_moved_since(owners_before.get(unit)));
            // Objects whose spec moved leave the sample rather than count as unchanged: under heavy churn a
            // release that rewrites every dependent still reads 1.0 on the objects users left alone.
            let sample: Vec<(&String, &u64)> = now.iter().filter(|(unit, _)| !explained(unit)).collect();
            if sample.is_empty() {
                return Reading::NoData;
            }
            let changed = sample.iter().filter(|(unit, print)| before.get(*unit) != Some(*print)).count();
            Reading::Value(changed as f64 / sample.len() as f64)
        }
    }
}

/// The increase of the metric's counters over the interval, summed over the pods, as a ratio to `per`'s
/// increase when it has one; a counter that went down was reset (a restarted pod) and counts from zero.
/// The first scrape only sets the zero point; 0/0 is no data.
fn metric_delta(metric: &MetricSignal, seen: &CohortObservation, memory: &mut CohortMemory) -> Reading {
    let now = match seen.metrics.get(&metric.name) {
        None => return Reading::Error("not scraped".to_owned()),
        Some(Err(why)) => return Reading::Error(why.clone()),
        Some(Ok(now)) => now,
    };
    let Some(before) = memory.counters.insert(metric.name.clone(), now.clone()) else { return Reading::NoData };
    let increase = |now: f64, before: Option<f64>| match before {
        Some(b) if now >= b => now - b,
        _ => now,
    };
    let (mut series, mut per) = (0.0, 0.0);
    for (pod, (s, p)) in now {
        let previous = before.get(pod);
        series += increase(*s, previous.map(|v| v.0));
        per += increase(*p, previous.map(|v| v.1));
    }
    let divides = matches!(&metric.source, crate::plan::file::MetricSource::PodProxy(p) if p.per.is_some());
    match (divides, per) {
        (false, _) => Reading::Value(series),
        (true, p) if p > 0.0 => Reading::Value(series / p),
        (true, _) => Reading::NoData,
    }
}

#[cfg(test)]
mod tests;
