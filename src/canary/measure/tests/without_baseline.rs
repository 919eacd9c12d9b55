//! Every signal kind judged without a baseline (an analysis without a canary, or a canary without a
//! baseline cohort): over its absolute limit it fails, within it it passes. Each measured from a zero
//! point and one interval, as the analysis does.

use super::*;
use crate::canary::judge::{judge_signal, Verdict};

/// The verdict of the one signal of `analysis` on `now`, measured from the zero point `zero` after `at`.
fn verdict(
    analysis: &AnalysisPolicy,
    start: &CohortStart,
    zero: &CohortObservation,
    now: &CohortObservation,
) -> Verdict {
    let mut memory = CohortMemory::default();
    let _ = canary_only(analysis, start, Duration::ZERO, zero, &mut memory);
    let readings = canary_only(analysis, start, secs(10), now, &mut memory);
    assert_eq!(readings.len(), 1, "{readings:?}");
    assert_eq!(readings[0].baseline, None, "judged without a baseline");
    judge_signal(&readings[0])
}

#[test]
fn conditions_fail_on_an_object_newly_not_ready_and_pass_when_all_are_ready() {
    let start = CohortStart::default();
    let zero = seen(vec![ready("a", 1), ready("b", 1)]);
    let broken = seen(vec![ready("a", 1), object("b", 1, Some(1), Some(false))]);
    assert_eq!(verdict(&conditions(), &start, &zero, &broken), Verdict::Fail);
    assert_eq!(verdict(&conditions(), &start, &zero, &zero), Verdict::Pass);
}

#[test]
fn observed_generation_fails_behind_longer_than_its_limit_and_passes_within_it() {
    let analysis = policy(vec![Signal::ObservedGeneration(ObservedGenerationSignal {
        max_catch_up: PlanDuration::from_secs(5),
        ..ObservedGenerationSignal::default()
    })]);
    let start = CohortStart::default();
    // Behind since the zero point, 10 s before the interval.
    let zero = seen(vec![behind("a", 2, 1)]);
    assert_eq!(verdict(&analysis, &start, &zero, &zero), Verdict::Fail);
    let caught_up_within_the_interval = seen(vec![ready("a", 3)]);
    assert_eq!(verdict(&analysis, &start, &seen(vec![ready("a", 2)]), &caught_up_within_the_interval), Verdict::Pass);
}

#[test]
fn pod_restarts_fail_over_their_limit_and_pass_at_it() {
    let analysis = policy(vec![Signal::PodRestarts(PodRestartsSignal { max_restarts: 1, max_over_baseline: 0 })]);
    let start = CohortStart::default();
    let zero = seen(vec![ready("a", 1)]);
    let restarted = |n| CohortObservation { pod_trouble: Ok(n), ..seen(vec![ready("a", 1)]) };
    assert_eq!(verdict(&analysis, &start, &zero, &restarted(2)), Verdict::Fail);
    assert_eq!(verdict(&analysis, &start, &zero, &restarted(1)), Verdict::Pass);
}

#[test]
fn warning_events_fail_over_their_limit_and_pass_at_it() {
    let analysis = policy(vec![Signal::WarningEvents(WarningEventsSignal::default())]);
    let start = CohortStart::default();
    let zero = seen(vec![ready("a", 1)]);
    let warned = |n| CohortObservation { warnings: Ok(n), ..seen(vec![ready("a", 1)]) };
    assert_eq!(verdict(&analysis, &start, &zero, &warned(1)), Verdict::Fail);
    assert_eq!(verdict(&analysis, &start, &zero, &warned(0)), Verdict::Pass);
}

#[test]
fn dependent_changes_fail_when_dependents_changed_since_the_start_without_a_spec_change() {
    // Fingerprinted before the promotion; the zero point's dependents are not a start of their own.
    let start = CohortStart {
        dependents: prints(&[("a", 1), ("b", 2)]),
        owners: owners(&[("a", 1, Some(1)), ("b", 1, Some(1))]),
        ..CohortStart::default()
    };
    let at = |a, b| CohortObservation {
        owners: owners(&[("a", 1, Some(1)), ("b", 1, Some(1))]),
        ..with_dependents(Some(Ok(prints(&[("a", a), ("b", b)]))))
    };
    let zero = CohortObservation { dependents: None, ..at(1, 2) };
    assert_eq!(verdict(&dependent_changes(), &start, &zero, &at(9, 9)), Verdict::Fail);
    assert_eq!(verdict(&dependent_changes(), &start, &zero, &at(1, 2)), Verdict::Pass);
}

#[test]
fn a_metric_fails_over_its_limit_and_passes_within_it() {
    let start = CohortStart::default();
    let zero = scraped(&[("op-1", 10.0, 100.0)]);
    // 5 errors in 20 reconciles: 0.25 > 0.05.
    assert_eq!(verdict(&error_ratio(), &start, &zero, &scraped(&[("op-1", 15.0, 120.0)])), Verdict::Fail);
    // 1 error in 100 reconciles: 0.01.
    assert_eq!(verdict(&error_ratio(), &start, &zero, &scraped(&[("op-1", 11.0, 200.0)])), Verdict::Pass);
}
