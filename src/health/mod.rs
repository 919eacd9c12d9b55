//! Health of the objects an operator reconciles, and of the operator's pods: observed from the cluster in
//! small read-only functions, judged by pure functions of those observations.
//!
//! Judged against a baseline taken before the change: an object that was not ready before the upgrade is
//! not the new release's fault, and restarts are counted from the baseline's total.

mod observe;

pub use observe::{generation_number, object_health, observe_fleet, observe_pods, wait_until_ready, ReadyWait};

use crate::plan::file::{AnalysisPolicy, Signal};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// One custom resource's health as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectHealth {
    /// `Kind namespace/name`.
    pub object: String,
    /// `metadata.generation`.
    pub generation: i64,
    /// `status.observedGeneration`, when the operator writes one.
    pub observed_generation: Option<i64>,
    /// The status of the policy's condition (`Ready`): Some(true) when `True`.
    pub ready: Option<bool>,
    /// The condition's reason or message when it is not `True`.
    pub reason: Option<String>,
}

impl ObjectHealth {
    /// Whether the operator has seen the object's latest spec.
    pub fn caught_up(&self) -> bool {
        self.observed_generation.is_none_or(|observed| observed >= self.generation)
    }
}

/// The operator's pods as observed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PodsHealth {
    /// Pods of the operator Deployment.
    pub pods: u32,
    /// Of those, the Ready ones.
    pub ready: u32,
    /// Container restarts summed over the pods.
    pub restarts: u32,
}

/// One measurement of everything the judge looks at.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FleetObservation {
    /// Every custom resource of the release's kinds.
    pub objects: Vec<ObjectHealth>,
    /// The operator's pods.
    pub pods: PodsHealth,
}

/// What was true before the change, to judge against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    /// Objects that were not ready before the change (not counted against the new release).
    pub not_ready: BTreeSet<String>,
}

impl Baseline {
    /// The baseline of a measurement taken before the change.
    pub fn of(observation: &FleetObservation) -> Baseline {
        Baseline {
            not_ready: observation.objects.iter().filter(|o| o.ready != Some(true)).map(|o| o.object.clone()).collect(),
        }
    }
}

/// The thresholds of the plan's signals that judge a whole fleet (conditions, observedGeneration catch-up,
/// pod restarts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthPolicy {
    /// The condition that means healthy.
    pub condition_type: String,
    /// Objects (beyond those not ready at the baseline) that may be not ready.
    pub max_not_ready: u32,
    /// How long an object may take to catch up with its spec; None: not judged.
    pub max_catch_up: Option<Duration>,
    /// Pod restarts tolerated since the measurements began; None: not judged.
    pub max_restarts: Option<u32>,
}

impl HealthPolicy {
    /// The fleet thresholds of an analysis policy (signals it does not have are not judged; the
    /// conditions signal is always judged, by default on `Ready` with none tolerated).
    pub fn from_analysis(analysis: &AnalysisPolicy) -> HealthPolicy {
        let mut policy = HealthPolicy {
            condition_type: "Ready".to_owned(),
            max_not_ready: 0,
            max_catch_up: None,
            max_restarts: None,
        };
        for signal in &analysis.signals {
            match signal {
                Signal::Conditions(c) => {
                    policy.condition_type = c.condition_type.clone();
                    policy.max_not_ready = c.max_not_ready;
                }
                Signal::ObservedGeneration(o) => policy.max_catch_up = Some(o.max_catch_up.to_std()),
                Signal::PodRestarts(p) => policy.max_restarts = Some(p.max_restarts),
                Signal::Metric(_) | Signal::WarningEvents(_) | Signal::DependentChanges(_) => {}
            }
        }
        policy
    }
}

/// Since when each object has been behind its spec, carried from one measurement to the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatchUp {
    behind_since: BTreeMap<String, Duration>,
}

impl CatchUp {
    /// Updates the tracker with a measurement taken `at` (time since the analysis began) and returns, for
    /// each object behind its spec, how long it has been behind.
    pub fn update(&mut self, observation: &FleetObservation, at: Duration) -> BTreeMap<String, Duration> {
        let behind: BTreeSet<&str> =
            observation.objects.iter().filter(|o| !o.caught_up()).map(|o| o.object.as_str()).collect();
        self.behind_since.retain(|object, _| behind.contains(object.as_str()));
        for object in behind {
            self.behind_since.entry(object.to_owned()).or_insert(at);
        }
        self.behind_since.iter().map(|(object, since)| (object.clone(), at.saturating_sub(*since))).collect()
    }
}

/// What one measurement says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "reasons", rename_all = "kebab-case")]
pub enum HealthVerdict {
    /// Every threshold holds.
    Healthy,
    /// A threshold is crossed; the reasons say which and by which objects.
    Unhealthy(Vec<String>),
}

impl fmt::Display for HealthVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthVerdict::Healthy => f.write_str("healthy"),
            HealthVerdict::Unhealthy(reasons) => write!(f, "unhealthy: {}", reasons.join("; ")),
        }
    }
}

/// How many objects a reason names before it says "and N more".
const NAMED: usize = 3;

fn named(objects: &[String]) -> String {
    let mut text = objects.iter().take(NAMED).cloned().collect::<Vec<_>>().join(", ");
    if objects.len() > NAMED {
        text.push_str(&format!(" and {} more", objects.len() - NAMED));
    }
    text
}

/// Judges one measurement against the baseline: newly not-ready objects, objects behind their spec for
/// longer than allowed, pod restarts since the first measurement, and no operator pod ready at all.
pub fn judge(
    policy: &HealthPolicy,
    baseline: &Baseline,
    observation: &FleetObservation,
    behind_for: &BTreeMap<String, Duration>,
    restarts_at_start: u32,
) -> HealthVerdict {
    let mut reasons = Vec::new();
    let not_ready: Vec<String> = observation
        .objects
        .iter()
        .filter(|o| o.ready != Some(true) && !baseline.not_ready.contains(&o.object))
        .map(|o| match &o.reason {
            Some(reason) => format!("{} ({reason})", o.object),
            None => o.object.clone(),
        })
        .collect();
    if not_ready.len() > policy.max_not_ready as usize {
        reasons.push(format!(
            "{} objects not {} (at most {} allowed): {}",
            not_ready.len(),
            policy.condition_type,
            policy.max_not_ready,
            named(&not_ready)
        ));
    }
    if let Some(limit) = policy.max_catch_up {
        let late: Vec<String> = behind_for.iter().filter(|(_, d)| **d > limit).map(|(o, _)| o.clone()).collect();
        if !late.is_empty() {
            reasons.push(format!(
                "{} objects behind their spec for more than {}s: {}",
                late.len(),
                limit.as_secs(),
                named(&late)
            ));
        }
    }
    if let Some(limit) = policy.max_restarts {
        let restarts = observation.pods.restarts.saturating_sub(restarts_at_start);
        if restarts > limit {
            reasons.push(format!("the operator's pods restarted {restarts} times (at most {limit} allowed)"));
        }
    }
    if observation.pods.ready == 0 {
        reasons.push("no operator pod is ready".to_owned());
    }
    if reasons.is_empty() {
        HealthVerdict::Healthy
    } else {
        HealthVerdict::Unhealthy(reasons)
    }
}

#[cfg(test)]
mod tests;
