//! Drawing the cohorts: which objects (or namespaces) the canary and the baseline own, seeded from the run
//! so a resumed run draws the same, and which objects follow their owner into its cohort.

use crate::cluster::ObjectKey;
use crate::manifest::LabelSelector;
use crate::plan::file::{CohortSelection, CohortSize, FollowerKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;

/// Which Deployment owns an object during the canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cohort {
    /// The new release on a few objects.
    Canary,
    /// A fresh Deployment of the old release on as many objects.
    Baseline,
    /// The long-running Deployment, on every other object.
    Stable,
}

impl Cohort {
    /// The value of the cohort label (and the `{cohort}` placeholder).
    pub fn as_str(self) -> &'static str {
        match self {
            Cohort::Canary => "canary",
            Cohort::Baseline => "baseline",
            Cohort::Stable => "stable",
        }
    }
}

impl fmt::Display for Cohort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The units drawn into the canary and the baseline (object keys or namespaces, as text), disjoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draw {
    /// Units of the canary cohort.
    pub canary: Vec<String>,
    /// Units of the baseline cohort (empty without a baseline).
    pub baseline: Vec<String>,
}

/// How many units the canary gets out of `candidates`: the count (at most what leaves an equal baseline),
/// or the percentage rounded up, at least one.
pub fn cohort_size(size: CohortSize, candidates: usize, baseline: bool) -> usize {
    let wanted = match size {
        CohortSize::Count(count) => count as usize,
        CohortSize::Percentage(percentage) => (candidates * usize::from(percentage)).div_ceil(100).max(1),
    };
    let room = if baseline { candidates / 2 } else { candidates };
    wanted.min(room)
}

/// Draws the canary and an equal-sized, disjoint baseline from `units` with a generator seeded by `seed`:
/// the same units and seed always draw the same cohorts, whatever order the units were listed in.
pub fn draw(units: &[String], size: CohortSize, baseline: bool, seed: u64) -> Draw {
    let mut sorted: Vec<String> = units.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let n = cohort_size(size, sorted.len(), baseline);
    fastrand::Rng::with_seed(seed).shuffle(&mut sorted);
    let mut canary: Vec<String> = sorted[..n].to_vec();
    let mut drawn_baseline: Vec<String> = if baseline { sorted[n..2 * n].to_vec() } else { Vec::new() };
    canary.sort();
    drawn_baseline.sort();
    Draw { canary, baseline: drawn_baseline }
}

/// The seed of a run's draw, from its run id (hex digits of the plan hash).
pub fn seed_of(run_id: &str) -> u64 {
    u64::from_str_radix(&run_id[..run_id.len().min(16)], 16).unwrap_or(0)
}

/// Whether an object can be drawn: in one of the plan's namespaces (if any), matching its selector (if any),
/// not being deleted.
pub fn is_candidate(selection: &CohortSelection, selector: Option<&LabelSelector>, object: &Value) -> bool {
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    let deleting = object["metadata"].get("deletionTimestamp").is_some_and(|t| !t.is_null());
    !deleting
        && (selection.namespaces.is_empty() || selection.namespaces.iter().any(|n| n == namespace))
        && selector.is_none_or(|s| s.matches(object))
}

/// The unit of an object when the cohort is drawn from objects.
pub fn object_unit(key: &ObjectKey) -> String {
    format!("{}/{}/{}", key.namespace, key.kind, key.name)
}

/// The name of the owner a follower points to, through its label or field.
pub fn owner_name<'a>(follower: &FollowerKind, object: &'a Value) -> Option<&'a str> {
    if let Some(label) = &follower.owner.label {
        return object["metadata"]["labels"][label.as_str()].as_str();
    }
    let path = follower.owner.field.as_deref()?;
    let mut node = object;
    for part in path.trim_start_matches('.').split('.') {
        node = node.get(part)?;
    }
    node.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::file::OwnerPointer;
    use serde_json::json;

    fn units(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("default/Widget/w-{i:02}")).collect()
    }

    #[test]
    fn sizes_round_up_and_leave_room_for_an_equal_baseline() {
        assert_eq!(cohort_size(CohortSize::Percentage(10), 40, true), 4);
        assert_eq!(cohort_size(CohortSize::Percentage(10), 41, true), 5);
        assert_eq!(cohort_size(CohortSize::Percentage(1), 3, false), 1);
        assert_eq!(cohort_size(CohortSize::Count(5), 6, true), 3);
        assert_eq!(cohort_size(CohortSize::Count(5), 6, false), 5);
        assert_eq!(cohort_size(CohortSize::Count(1), 1, true), 0);
    }

    #[test]
    fn a_draw_is_disjoint_equal_sized_and_the_same_for_the_same_seed_in_any_order() {
        let all = units(40);
        let first = draw(&all, CohortSize::Percentage(10), true, 7);
        assert_eq!((first.canary.len(), first.baseline.len()), (4, 4));
        assert!(first.canary.iter().all(|u| !first.baseline.contains(u)));
        let mut reversed = all.clone();
        reversed.reverse();
        assert_eq!(draw(&reversed, CohortSize::Percentage(10), true, 7), first);
        assert_ne!(draw(&all, CohortSize::Percentage(10), true, 8), first);
        assert!(draw(&all, CohortSize::Count(3), false, 7).baseline.is_empty());
    }

    #[test]
    fn seeds_differ_between_runs() {
        assert_ne!(seed_of("0a1b2c3d4e"), seed_of("0a1b2c3d4f"));
        assert_eq!(seed_of("zz"), 0);
    }

    #[test]
    fn followers_name_their_owner_by_label_or_field() {
        let by_label = FollowerKind {
            group: "kafka.strimzi.io".into(),
            kind: "KafkaNodePool".into(),
            owner: OwnerPointer { kind: "Kafka".into(), label: Some("strimzi.io/cluster".into()), field: None },
        };
        let pool = json!({"metadata": {"labels": {"strimzi.io/cluster": "my-cluster"}}});
        assert_eq!(owner_name(&by_label, &pool), Some("my-cluster"));
        let by_field = FollowerKind {
            group: "postgresql.cnpg.io".into(),
            kind: "Pooler".into(),
            owner: OwnerPointer { kind: "Cluster".into(), label: None, field: Some(".spec.cluster.name".into()) },
        };
        assert_eq!(owner_name(&by_field, &json!({"spec": {"cluster": {"name": "pg"}}})), Some("pg"));
        assert_eq!(owner_name(&by_field, &json!({"spec": {}})), None);
    }
}
