//! What the journal keeps of a cohort's memory between intervals, and what a resumed analysis goes on with:
//! the counters' zero points per pod and since when each object has been behind its spec. Without them a
//! run killed during the analysis would count the counters from the resume and restart every catch-up
//! timer, and could pass a release an uninterrupted run fails.

use super::{CohortMemory, PodCounters};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The part of one cohort's memory the journal keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptMemory {
    /// Per metric signal (by name), each pod's counters at the last scrape: the zero points the next
    /// increase counts from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<String, PodCounters>,
    /// Since when (milliseconds after the analysis began) each object has been behind its spec.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub behind_since_ms: BTreeMap<String, u64>,
}

impl CohortMemory {
    /// What the journal keeps: the counters and the catch-up start times. Not each object's generation
    /// nor its dependents' fingerprint: one per object, as large as the fleet, and a resumed analysis
    /// takes them afresh (they only spot a spec change caught up within one interval, and the dependents
    /// count from the cohort's journaled start).
    pub fn kept(&self) -> KeptMemory {
        KeptMemory {
            counters: self.counters.clone(),
            behind_since_ms: self
                .behind_since
                .iter()
                .map(|(object, since)| (object.clone(), u64::try_from(since.as_millis()).unwrap_or(u64::MAX)))
                .collect(),
        }
    }

    /// The memory a resumed analysis goes on with, from what the journal kept and `fresh`, the memory an
    /// observation taken on resuming filled. Counters keep their journaled zero points, so what the pods
    /// counted while the tool was down counts (a metric never scraped before keeps the fresh one; a pod
    /// started meanwhile counts from zero, as it would have). An object still behind keeps its journaled
    /// start; one that caught up while nobody watched has no catch-up time to tell and is dropped, one
    /// that fell behind meanwhile starts from the resume. Generations and dependents are the fresh ones.
    pub fn resumed(kept: &KeptMemory, fresh: CohortMemory) -> CohortMemory {
        let mut counters = fresh.counters;
        counters.extend(kept.counters.iter().map(|(metric, pods)| (metric.clone(), pods.clone())));
        let behind_since = fresh
            .behind_since
            .into_iter()
            .map(|(object, since)| {
                let kept_since = kept.behind_since_ms.get(&object).map(|ms| Duration::from_millis(*ms));
                (object, kept_since.map_or(since, |k| k.min(since)))
            })
            .collect();
        CohortMemory { behind_since, generations: fresh.generations, counters, dependents: fresh.dependents }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods(entries: &[(&str, f64, f64)]) -> PodCounters {
        entries.iter().map(|(pod, s, p)| ((*pod).to_owned(), (*s, *p))).collect()
    }

    fn memory(counters: &[(&str, PodCounters)], behind: &[(&str, u64)]) -> CohortMemory {
        CohortMemory {
            behind_since: behind.iter().map(|(o, ms)| ((*o).to_owned(), Duration::from_millis(*ms))).collect(),
            generations: [("Widget default/a".to_owned(), 3)].into(),
            counters: counters.iter().map(|(m, c)| ((*m).to_owned(), c.clone())).collect(),
            dependents: None,
        }
    }

    #[test]
    fn the_journal_keeps_counters_and_catch_up_starts_but_not_generations() {
        let before = memory(&[("errors", pods(&[("op-1", 4.0, 40.0)]))], &[("Widget default/a", 2_500)]);
        let kept = before.kept();
        assert_eq!(kept.counters["errors"], pods(&[("op-1", 4.0, 40.0)]));
        assert_eq!(kept.behind_since_ms, [("Widget default/a".to_owned(), 2_500)].into());
        let text = serde_json::to_string(&kept).unwrap();
        assert!(!text.contains("generation"), "{text}");
        assert_eq!(serde_json::from_str::<KeptMemory>(&text).unwrap(), kept);
    }

    #[test]
    fn resumed_counters_count_from_the_journaled_zero_points_not_from_the_resume() {
        let kept = memory(&[("errors", pods(&[("op-1", 4.0, 40.0)]))], &[]).kept();
        // On resuming, the fresh observation saw the counters grown while the tool was down.
        let fresh = memory(
            &[("errors", pods(&[("op-1", 9.0, 50.0), ("op-2", 1.0, 2.0)])), ("latency", pods(&[("op-1", 7.0, 0.0)]))],
            &[],
        );
        let resumed = CohortMemory::resumed(&kept, fresh.clone());
        assert_eq!(resumed.counters["errors"], pods(&[("op-1", 4.0, 40.0)]), "op-2, started meanwhile, counts from 0");
        assert_eq!(resumed.counters["latency"], pods(&[("op-1", 7.0, 0.0)]), "never scraped before: the fresh zero");
        assert_eq!(resumed.generations, fresh.generations);
    }

    #[test]
    fn an_object_still_behind_keeps_its_start_one_caught_up_meanwhile_is_dropped() {
        let kept = memory(&[], &[("Widget default/a", 1_000), ("Widget default/b", 2_000)]).kept();
        // At the resume (30s in), a is still behind, b caught up while nobody watched, c fell behind meanwhile.
        let fresh = memory(&[], &[("Widget default/a", 30_000), ("Widget default/c", 30_000)]);
        let resumed = CohortMemory::resumed(&kept, fresh);
        let expected: BTreeMap<String, Duration> = [
            ("Widget default/a".to_owned(), Duration::from_millis(1_000)),
            ("Widget default/c".to_owned(), Duration::from_millis(30_000)),
        ]
        .into();
        assert_eq!(resumed.behind_since, expected);
    }

    #[test]
    fn nothing_kept_resumes_with_the_fresh_memory() {
        let fresh = memory(&[("errors", pods(&[("op-1", 9.0, 50.0)]))], &[("Widget default/a", 30_000)]);
        assert_eq!(CohortMemory::resumed(&KeptMemory::default(), fresh.clone()), fresh);
    }
}
