use super::*;
use crate::plan::file::{
    ConditionsSignal, DependentChangesSignal, Duration as PlanDuration, MetricSource, MetricsScheme,
    ObservedGenerationSignal, PodProxyMetric, PodRestartsSignal, PortRef, WarningEventsSignal,
};

const ERRORS: &str = "reconcile-errors";

// ---------------------------------------------------------------------------------------------------------
// Builders

fn object(name: &str, generation: i64, observed: Option<i64>, ready: Option<bool>) -> ObjectHealth {
    ObjectHealth {
        object: name.to_owned(),
        generation,
        observed_generation: observed,
        ready,
        reason: (ready != Some(true)).then(|| "Reconciling".to_owned()),
    }
}

/// A Ready object at `generation`, caught up.
fn ready(name: &str, generation: i64) -> ObjectHealth {
    object(name, generation, Some(generation), Some(true))
}

/// A Ready object whose `observedGeneration` is behind `generation`.
fn behind(name: &str, generation: i64, observed: i64) -> ObjectHealth {
    object(name, generation, Some(observed), Some(true))
}

/// An observation of these objects with nothing else wrong (and nothing else measured).
fn seen(objects: Vec<ObjectHealth>) -> CohortObservation {
    CohortObservation {
        objects,
        pod_trouble: Ok(0),
        warnings: Ok(0),
        dependents: None,
        owners: BTreeMap::new(),
        metrics: BTreeMap::new(),
    }
}

/// An observation whose pods' counters of the metric `ERRORS` are these: pod, (series, per).
fn scraped(pods: &[(&str, f64, f64)]) -> CohortObservation {
    let counters = pods.iter().map(|(pod, s, p)| ((*pod).to_owned(), (*s, *p))).collect();
    CohortObservation { metrics: BTreeMap::from([(ERRORS.to_owned(), Ok(counters))]), ..seen(vec![ready("a", 1)]) }
}

fn scrape_failed(why: &str) -> CohortObservation {
    CohortObservation { metrics: BTreeMap::from([(ERRORS.to_owned(), Err(why.to_owned()))]), ..seen(vec![]) }
}

fn with_dependents(dependents: Option<Result<BTreeMap<String, u64>, String>>) -> CohortObservation {
    CohortObservation { dependents, ..seen(vec![ready("a", 1)]) }
}

/// Units' generations: unit, generation, observedGeneration.
fn owners(entries: &[(&str, i64, Option<i64>)]) -> BTreeMap<String, OwnerGeneration> {
    entries
        .iter()
        .map(|(unit, generation, observed)| {
            ((*unit).to_owned(), OwnerGeneration { generation: *generation, observed: *observed })
        })
        .collect()
}

fn prints(entries: &[(&str, u64)]) -> BTreeMap<String, u64> {
    entries.iter().map(|(unit, print)| ((*unit).to_owned(), *print)).collect()
}

fn policy(signals: Vec<Signal>) -> AnalysisPolicy {
    AnalysisPolicy { signals, ..AnalysisPolicy::default() }
}

fn conditions() -> AnalysisPolicy {
    policy(vec![Signal::Conditions(ConditionsSignal::default())])
}

fn observed_generation() -> AnalysisPolicy {
    policy(vec![Signal::ObservedGeneration(ObservedGenerationSignal::default())])
}

fn dependent_changes() -> AnalysisPolicy {
    policy(vec![Signal::DependentChanges(DependentChangesSignal::default())])
}

fn pod_metric(per: Option<&str>) -> MetricSignal {
    MetricSignal {
        name: ERRORS.to_owned(),
        source: MetricSource::PodProxy(PodProxyMetric {
            port: PortRef::Name("metrics".to_owned()),
            path: "/metrics".to_owned(),
            scheme: MetricsScheme::Http,
            series: "controller_runtime_reconcile_errors_total".to_owned(),
            per: per.map(str::to_owned),
        }),
        max: Some(0.05),
        max_over_baseline: Some(0.02),
    }
}

/// The error ratio: errors per reconcile.
fn error_ratio() -> AnalysisPolicy {
    policy(vec![Signal::Metric(pod_metric(Some("controller_runtime_reconcile_total")))])
}

/// The plain increase of the error counter.
fn error_count() -> AnalysisPolicy {
    policy(vec![Signal::Metric(pod_metric(None))])
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The canary's readings, without a baseline.
fn canary_only(
    analysis: &AnalysisPolicy,
    start: &CohortStart,
    at: Duration,
    seen: &CohortObservation,
    memory: &mut CohortMemory,
) -> Vec<SignalReading> {
    readings(analysis, start, at, (seen, memory), None)
}

/// The canary's reading of a one-signal plan.
fn read(
    analysis: &AnalysisPolicy,
    start: &CohortStart,
    at: Duration,
    seen: &CohortObservation,
    memory: &mut CohortMemory,
) -> Reading {
    assert_eq!(analysis.signals.len(), 1, "a one-signal plan");
    let mut out = canary_only(analysis, start, at, seen, memory);
    assert_eq!(out.len(), 1, "one reading per signal: {out:?}");
    let reading = out.remove(0);
    assert_eq!(reading.baseline, None, "no baseline was given");
    reading.canary
}

fn assert_value(reading: &Reading, expected: f64) {
    match reading {
        Reading::Value(v) => assert!((v - expected).abs() < 1e-9, "read {v}, expected {expected}"),
        other => panic!("expected the value {expected}, read {other:?}"),
    }
}

fn assert_error(reading: &Reading, containing: &str) {
    match reading {
        Reading::Error(why) => assert!(why.contains(containing), "error `{why}` does not mention `{containing}`"),
        other => panic!("expected an error mentioning `{containing}`, read {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Conditions

#[test]
fn conditions_counts_objects_not_ready() {
    let cohort =
        seen(vec![ready("a", 1), object("b", 1, Some(1), Some(false)), object("c", 1, Some(1), None), ready("d", 3)]);
    let reading = read(&conditions(), &CohortStart::default(), secs(60), &cohort, &mut CohortMemory::default());
    assert_value(&reading, 2.0);
}

#[test]
fn conditions_all_ready_reads_zero_not_no_data() {
    let cohort = seen(vec![ready("a", 1), ready("b", 2)]);
    let reading = read(&conditions(), &CohortStart::default(), secs(60), &cohort, &mut CohortMemory::default());
    assert_value(&reading, 0.0);
}

#[test]
fn conditions_ignore_objects_not_ready_before_the_run() {
    let cohort = seen(vec![
        ready("a", 1),
        object("b", 1, Some(1), Some(false)),
        object("c", 1, Some(1), Some(false)),
        object("d", 1, Some(1), None),
    ]);
    let start =
        CohortStart { not_ready_before: BTreeSet::from(["b".to_owned(), "d".to_owned()]), ..Default::default() };
    let reading = read(&conditions(), &start, secs(60), &cohort, &mut CohortMemory::default());
    assert_value(&reading, 1.0);
}

#[test]
fn conditions_of_an_object_not_ready_before_that_is_ready_now_count_nothing() {
    let cohort = seen(vec![ready("a", 1), ready("b", 1)]);
    let start = CohortStart { not_ready_before: BTreeSet::from(["b".to_owned()]), ..Default::default() };
    let reading = read(&conditions(), &start, secs(60), &cohort, &mut CohortMemory::default());
    assert_value(&reading, 0.0);
}

#[test]
fn conditions_of_an_empty_cohort_are_no_data() {
    let reading = read(&conditions(), &CohortStart::default(), secs(60), &seen(vec![]), &mut CohortMemory::default());
    assert_eq!(reading, Reading::NoData);
}

// ---------------------------------------------------------------------------------------------------------
// Thresholds, units and names

#[test]
fn thresholds_units_and_names_come_from_the_plan_in_its_order() {
    let analysis = policy(vec![
        Signal::Conditions(ConditionsSignal { max_not_ready: 1, max_over_baseline: 2, ..Default::default() }),
        Signal::ObservedGeneration(ObservedGenerationSignal {
            max_catch_up: PlanDuration::from_secs(90),
            max_over_baseline: Some(PlanDuration::from_secs(30)),
        }),
        Signal::PodRestarts(PodRestartsSignal { max_restarts: 3, max_over_baseline: 1 }),
        Signal::WarningEvents(WarningEventsSignal { max_events: 4, reasons: vec![], max_over_baseline: 5 }),
        Signal::DependentChanges(DependentChangesSignal { max: 0.3, max_over_baseline: 0.1, ..Default::default() }),
        Signal::Metric(pod_metric(Some("controller_runtime_reconcile_total"))),
    ]);
    let out = canary_only(&analysis, &CohortStart::default(), secs(60), &seen(vec![]), &mut CohortMemory::default());
    let got: Vec<(&str, Unit, Option<f64>, f64)> =
        out.iter().map(|r| (r.signal.as_str(), r.unit, r.max, r.tolerance)).collect();
    assert_eq!(
        got,
        vec![
            ("conditions", Unit::Count, Some(1.0), 2.0),
            ("observedGeneration", Unit::Seconds, Some(90.0), 30.0),
            ("podRestarts", Unit::Count, Some(3.0), 1.0),
            ("warningEvents", Unit::Count, Some(4.0), 5.0),
            ("dependentChanges", Unit::Ratio, Some(0.3), 0.1),
            ("metric reconcile-errors", Unit::Ratio, Some(0.05), 0.02),
        ]
    );
}

#[test]
fn thresholds_left_out_of_the_plan_read_as_no_limit_and_zero_tolerance() {
    let metric = MetricSignal { max: None, max_over_baseline: None, ..pod_metric(None) };
    let analysis = policy(vec![
        Signal::ObservedGeneration(ObservedGenerationSignal {
            max_catch_up: PlanDuration::parse("1m30s").unwrap(),
            max_over_baseline: None,
        }),
        Signal::Metric(metric),
    ]);
    let out = canary_only(&analysis, &CohortStart::default(), secs(60), &seen(vec![]), &mut CohortMemory::default());
    assert_eq!((out[0].max, out[0].tolerance), (Some(90.0), 0.0));
    assert_eq!((out[1].max, out[1].tolerance), (None, 0.0));
}

#[test]
fn sub_second_catch_up_limits_keep_their_fraction() {
    let analysis = policy(vec![Signal::ObservedGeneration(ObservedGenerationSignal {
        max_catch_up: PlanDuration::parse("1s500ms").unwrap(),
        max_over_baseline: Some(PlanDuration::parse("250ms").unwrap()),
    })]);
    let out = canary_only(&analysis, &CohortStart::default(), secs(60), &seen(vec![]), &mut CohortMemory::default());
    assert_eq!((out[0].max, out[0].tolerance), (Some(1.5), 0.25));
}

// ---------------------------------------------------------------------------------------------------------
// observedGeneration catch-up

#[test]
fn catch_up_without_a_spec_change_is_no_data() {
    let analysis = observed_generation();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    let cohort = seen(vec![ready("a", 1), ready("b", 4)]);
    assert_eq!(read(&analysis, &start, secs(0), &cohort, &mut memory), Reading::NoData);
    // Still no change in the next interval.
    assert_eq!(read(&analysis, &start, secs(60), &cohort, &mut memory), Reading::NoData);
}

#[test]
fn catch_up_of_a_changed_object_caught_up_within_the_interval_reads_zero() {
    let analysis = observed_generation();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    assert_eq!(
        read(&analysis, &start, secs(0), &seen(vec![ready("a", 1), ready("b", 1)]), &mut memory),
        Reading::NoData
    );
    let touched = seen(vec![ready("a", 2), ready("b", 1)]);
    assert_value(&read(&analysis, &start, secs(60), &touched, &mut memory), 0.0);
    // The change is measured once: the next interval without a change has no data again.
    assert_eq!(read(&analysis, &start, secs(120), &touched, &mut memory), Reading::NoData);
}

#[test]
fn catch_up_of_an_object_first_seen_is_not_a_change() {
    let analysis = observed_generation();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    assert_eq!(read(&analysis, &start, secs(0), &seen(vec![ready("a", 1)]), &mut memory), Reading::NoData);
    // `b` joins at generation 7, caught up: nothing was seen to change.
    let joined = seen(vec![ready("a", 1), ready("b", 7)]);
    assert_eq!(read(&analysis, &start, secs(60), &joined, &mut memory), Reading::NoData);
}

#[test]
fn catch_up_of_an_object_behind_reads_how_long_it_has_been_behind() {
    let analysis = observed_generation();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    assert_eq!(read(&analysis, &start, secs(0), &seen(vec![ready("a", 1)]), &mut memory), Reading::NoData);
    let stuck = seen(vec![behind("a", 2, 1)]);
    // First seen behind at 60s: behind for no time yet.
    assert_value(&read(&analysis, &start, secs(60), &stuck, &mut memory), 0.0);
    // Behind since 60s.
    assert_value(&read(&analysis, &start, secs(120), &stuck, &mut memory), 60.0);
    assert_value(&read(&analysis, &start, secs(200), &stuck, &mut memory), 140.0);
}

#[test]
fn catch_up_of_an_object_behind_at_the_zero_point_counts_from_the_zero_point() {
    let analysis = observed_generation();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    let stuck = seen(vec![behind("a", 3, 2)]);
    assert_value(&read(&analysis, &start, Duration::ZERO, &stuck, &mut memory), 0.0);
    assert_value(&read(&analysis, &start, secs(60), &stuck, &mut memory), 60.0);
}

#[test]
fn catch_up_later_reads_the_time_seen_behind_and_is_then_forgotten() {
    let analysis = observed_generation();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    assert_eq!(read(&analysis, &start, secs(0), &seen(vec![ready("a", 1)]), &mut memory), Reading::NoData);
    assert_value(&read(&analysis, &start, secs(60), &seen(vec![behind("a", 2, 1)]), &mut memory), 0.0);
    assert_value(&read(&analysis, &start, secs(120), &seen(vec![behind("a", 2, 1)]), &mut memory), 60.0);
    // Caught up by 180s: seen behind from 60s to 180s.
    assert_value(&read(&analysis, &start, secs(180), &seen(vec![ready("a", 2)]), &mut memory), 120.0);
    // Nothing behind and nothing changed any more.
    assert_eq!(read(&analysis, &start, secs(240), &seen(vec![ready("a", 2)]), &mut memory), Reading::NoData);
}

#[test]
fn catch_up_in_the_interval_after_first_seen_behind_reads_one_interval() {
    let analysis = observed_generation();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    assert_eq!(read(&analysis, &start, secs(0), &seen(vec![ready("a", 1)]), &mut memory), Reading::NoData);
    assert_value(&read(&analysis, &start, secs(60), &seen(vec![behind("a", 2, 1)]), &mut memory), 0.0);
    assert_value(&read(&analysis, &start, secs(120), &seen(vec![ready("a", 2)]), &mut memory), 60.0);
}

#[test]
fn catch_up_reads_the_longest_of_the_cohort() {
    let analysis = observed_generation();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    let first = seen(vec![ready("a", 1), ready("b", 1), ready("c", 1)]);
    assert_eq!(read(&analysis, &start, secs(0), &first, &mut memory), Reading::NoData);
    let second = seen(vec![behind("a", 2, 1), ready("b", 1), ready("c", 1)]);
    assert_value(&read(&analysis, &start, secs(60), &second, &mut memory), 0.0);
    let third = seen(vec![behind("a", 2, 1), behind("b", 2, 1), ready("c", 2)]);
    assert_value(&read(&analysis, &start, secs(150), &third, &mut memory), 90.0);
    let fourth = seen(vec![ready("a", 2), behind("b", 2, 1), ready("c", 2)]);
    assert_value(&read(&analysis, &start, secs(200), &fourth, &mut memory), 140.0);
    let fifth = seen(vec![ready("a", 2), behind("b", 2, 1), ready("c", 2)]);
    assert_value(&read(&analysis, &start, secs(260), &fifth, &mut memory), 110.0);
}

#[test]
fn catch_up_of_a_deleted_object_is_forgotten() {
    let analysis = observed_generation();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    assert_value(&read(&analysis, &start, secs(0), &seen(vec![behind("a", 2, 1)]), &mut memory), 0.0);
    assert_eq!(read(&analysis, &start, secs(60), &seen(vec![ready("b", 1)]), &mut memory), Reading::NoData);
    // `a` comes back (recreated), caught up: not the old `a`'s catch-up.
    assert_eq!(
        read(&analysis, &start, secs(120), &seen(vec![ready("a", 1), ready("b", 1)]), &mut memory),
        Reading::NoData
    );
}

// ---------------------------------------------------------------------------------------------------------
// Pod restarts and Warning events

#[test]
fn pod_restarts_and_warning_events_pass_their_counts_through() {
    let analysis = policy(vec![
        Signal::PodRestarts(PodRestartsSignal::default()),
        Signal::WarningEvents(WarningEventsSignal::default()),
    ]);
    let cohort = CohortObservation { pod_trouble: Ok(3), warnings: Ok(7), ..seen(vec![ready("a", 1)]) };
    let out = canary_only(&analysis, &CohortStart::default(), secs(60), &cohort, &mut CohortMemory::default());
    assert_eq!(out.len(), 2);
    assert_value(&out[0].canary, 3.0);
    assert_value(&out[1].canary, 7.0);
    let quiet = seen(vec![]);
    let out = canary_only(&analysis, &CohortStart::default(), secs(120), &quiet, &mut CohortMemory::default());
    assert_value(&out[0].canary, 0.0);
    assert_value(&out[1].canary, 0.0);
}

#[test]
fn pod_restarts_and_warning_events_that_could_not_be_counted_are_errors() {
    let analysis = policy(vec![
        Signal::PodRestarts(PodRestartsSignal::default()),
        Signal::WarningEvents(WarningEventsSignal::default()),
    ]);
    let cohort = CohortObservation {
        pod_trouble: Err("listing pods: 503 Service Unavailable".to_owned()),
        warnings: Err("listing events: 429 Too Many Requests".to_owned()),
        ..seen(vec![ready("a", 1)])
    };
    let out = canary_only(&analysis, &CohortStart::default(), secs(60), &cohort, &mut CohortMemory::default());
    assert_eq!(out[0].canary, Reading::Error("listing pods: 503 Service Unavailable".to_owned()));
    assert_eq!(out[1].canary, Reading::Error("listing events: 429 Too Many Requests".to_owned()));
}

// ---------------------------------------------------------------------------------------------------------
// Dependent changes

#[test]
fn dependent_changes_read_the_share_of_objects_whose_dependents_changed() {
    let start = CohortStart { dependents: prints(&[("a", 1), ("b", 2), ("c", 3), ("d", 4)]), ..Default::default() };
    let now = with_dependents(Some(Ok(prints(&[("a", 1), ("b", 20), ("c", 3), ("d", 4)]))));
    let reading = read(&dependent_changes(), &start, secs(60), &now, &mut CohortMemory::default());
    assert_value(&reading, 0.25);
}

#[test]
fn dependent_changes_unchanged_read_zero() {
    let start = CohortStart { dependents: prints(&[("a", 1), ("b", 2)]), ..Default::default() };
    let now = with_dependents(Some(Ok(prints(&[("a", 1), ("b", 2)]))));
    let reading = read(&dependent_changes(), &start, secs(60), &now, &mut CohortMemory::default());
    assert_value(&reading, 0.0);
}

#[test]
fn dependent_changes_count_objects_absent_from_the_start_as_changed() {
    let start = CohortStart { dependents: prints(&[("a", 1), ("b", 2)]), ..Default::default() };
    let now = with_dependents(Some(Ok(prints(&[("a", 1), ("b", 2), ("c", 3), ("d", 4)]))));
    let reading = read(&dependent_changes(), &start, secs(60), &now, &mut CohortMemory::default());
    assert_value(&reading, 0.5);
}

#[test]
fn dependent_changes_are_a_rate_per_interval_the_first_counted_from_the_cohort_start() {
    let analysis = dependent_changes();
    let start = CohortStart { dependents: prints(&[("a", 1), ("b", 2)]), ..Default::default() };
    let mut memory = CohortMemory::default();
    let changed = with_dependents(Some(Ok(prints(&[("a", 10), ("b", 2)]))));
    assert_value(&read(&analysis, &start, secs(60), &changed, &mut memory), 0.5);
    assert_value(&read(&analysis, &start, secs(120), &changed, &mut memory), 0.0);
    let both = with_dependents(Some(Ok(prints(&[("a", 11), ("b", 3)]))));
    assert_value(&read(&analysis, &start, secs(180), &both, &mut memory), 1.0);
}

#[test]
fn dependent_changes_of_objects_whose_spec_changed_are_the_users_not_the_releases() {
    let analysis = dependent_changes();
    let start = CohortStart {
        dependents: prints(&[("a", 1), ("b", 2), ("c", 3), ("d", 4)]),
        owners: owners(&[("a", 1, Some(1)), ("b", 1, Some(1)), ("c", 1, Some(1)), ("d", 1, None)]),
        ..Default::default()
    };
    let mut memory = CohortMemory::default();
    // a: a user changed its spec and it was reconciled; b: changed, its operator still catching up; c: its
    // dependents rewritten with no spec change (the release's doing); d: no observedGeneration, spec changed.
    let now = CohortObservation {
        owners: owners(&[("a", 2, Some(2)), ("b", 2, Some(1)), ("c", 1, Some(1)), ("d", 2, None)]),
        ..with_dependents(Some(Ok(prints(&[("a", 10), ("b", 20), ("c", 30), ("d", 40)]))))
    };
    // Only c is in the sample: a, b and d changed their spec.
    assert_value(&read(&analysis, &start, secs(60), &now, &mut memory), 1.0);
    // Next interval: b's rewrite lands as its operator catches up (observedGeneration moves): still the user's.
    let later = CohortObservation {
        owners: owners(&[("a", 2, Some(2)), ("b", 2, Some(2)), ("c", 1, Some(1)), ("d", 2, None)]),
        ..with_dependents(Some(Ok(prints(&[("a", 10), ("b", 21), ("c", 30), ("d", 40)]))))
    };
    assert_value(&read(&analysis, &start, secs(120), &later, &mut memory), 0.0);
    // Then every spec changes at once: nothing left to judge the release by.
    let all_moved = CohortObservation {
        owners: owners(&[("a", 3, Some(3)), ("b", 3, Some(3)), ("c", 2, Some(2)), ("d", 3, None)]),
        ..with_dependents(Some(Ok(prints(&[("a", 12), ("b", 22), ("c", 31), ("d", 41)]))))
    };
    assert_eq!(read(&analysis, &start, secs(150), &all_moved, &mut memory), Reading::NoData);
    // Then a's dependents change with its spec unchanged and caught up: the release's.
    let rewritten = CohortObservation {
        owners: all_moved.owners.clone(),
        ..with_dependents(Some(Ok(prints(&[("a", 13), ("b", 22), ("c", 31), ("d", 41)]))))
    };
    assert_value(&read(&analysis, &start, secs(180), &rewritten, &mut memory), 0.25);
}

#[test]
fn an_objects_generations_are_read_from_its_status_or_its_conditions() {
    let of = |status: serde_json::Value| {
        OwnerGeneration::of(&serde_json::json!({"metadata": {"generation": 4}, "status": status}))
    };
    assert_eq!(of(serde_json::json!({"observedGeneration": 3})), OwnerGeneration { generation: 4, observed: Some(3) });
    let conditions = serde_json::json!({"conditions": [{"observedGeneration": 2}, {"observedGeneration": 4}]});
    assert_eq!(of(conditions), OwnerGeneration { generation: 4, observed: Some(4) });
    assert_eq!(of(serde_json::json!({})), OwnerGeneration { generation: 4, observed: None });
}

#[test]
fn an_operator_that_starts_writing_observed_generation_explains_no_dependent_change() {
    let start =
        CohortStart { dependents: prints(&[("a", 1)]), owners: owners(&[("a", 3, None)]), ..Default::default() };
    let now =
        CohortObservation { owners: owners(&[("a", 3, Some(3))]), ..with_dependents(Some(Ok(prints(&[("a", 2)])))) };
    assert_value(&read(&dependent_changes(), &start, secs(60), &now, &mut CohortMemory::default()), 1.0);
}

#[test]
fn dependent_changes_not_observed_are_an_error() {
    let start = CohortStart { dependents: prints(&[("a", 1)]), ..Default::default() };
    let reading = read(&dependent_changes(), &start, secs(60), &with_dependents(None), &mut CohortMemory::default());
    assert!(matches!(reading, Reading::Error(_)), "read {reading:?}");
    let failed = with_dependents(Some(Err("listing apps/v1 StatefulSet: 500".to_owned())));
    let reading = read(&dependent_changes(), &start, secs(60), &failed, &mut CohortMemory::default());
    assert_eq!(reading, Reading::Error("listing apps/v1 StatefulSet: 500".to_owned()));
}

#[test]
fn dependent_changes_of_an_empty_cohort_are_no_data() {
    let start = CohortStart { dependents: prints(&[("a", 1)]), ..Default::default() };
    let empty = with_dependents(Some(Ok(BTreeMap::new())));
    let reading = read(&dependent_changes(), &start, secs(60), &empty, &mut CohortMemory::default());
    assert_eq!(reading, Reading::NoData);
}

// ---------------------------------------------------------------------------------------------------------
// Metrics

#[test]
fn metric_first_scrape_only_sets_the_zero_point() {
    let mut memory = CohortMemory::default();
    let first = scraped(&[("p1", 10.0, 100.0), ("p2", 4.0, 40.0)]);
    assert_eq!(read(&error_ratio(), &CohortStart::default(), secs(0), &first, &mut memory), Reading::NoData);
    let mut memory = CohortMemory::default();
    assert_eq!(read(&error_count(), &CohortStart::default(), secs(0), &first, &mut memory), Reading::NoData);
}

#[test]
fn metric_reads_the_increase_summed_over_pods_divided_by_per() {
    let analysis = error_ratio();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    let first = scraped(&[("p1", 10.0, 100.0), ("p2", 0.0, 50.0)]);
    assert_eq!(read(&analysis, &start, secs(0), &first, &mut memory), Reading::NoData);
    // Errors +3 and +2, reconciles +30 and +20: 5 / 50.
    let second = scraped(&[("p1", 13.0, 130.0), ("p2", 2.0, 70.0)]);
    assert_value(&read(&analysis, &start, secs(60), &second, &mut memory), 0.1);
    // Measured from the previous scrape, not the first: errors +1, reconciles +10 +10.
    let third = scraped(&[("p1", 14.0, 140.0), ("p2", 2.0, 80.0)]);
    assert_value(&read(&analysis, &start, secs(120), &third, &mut memory), 0.05);
}

#[test]
fn metric_counter_that_went_down_counts_from_zero() {
    let analysis = error_ratio();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    let first = scraped(&[("p1", 10.0, 100.0), ("p2", 5.0, 50.0)]);
    assert_eq!(read(&analysis, &start, secs(0), &first, &mut memory), Reading::NoData);
    // p1 restarted: its counters are 3 and 20 since the restart; p2 +1 error, +20 reconciles.
    let second = scraped(&[("p1", 3.0, 20.0), ("p2", 6.0, 70.0)]);
    assert_value(&read(&analysis, &start, secs(60), &second, &mut memory), 0.1);
}

#[test]
fn metric_of_a_new_pod_counts_from_zero() {
    let analysis = error_ratio();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    let first = scraped(&[("p1", 1.0, 10.0)]);
    assert_eq!(read(&analysis, &start, secs(0), &first, &mut memory), Reading::NoData);
    // p1 unchanged; p2 is new with 2 errors in 30 reconciles.
    let second = scraped(&[("p1", 1.0, 10.0), ("p2", 2.0, 30.0)]);
    assert_value(&read(&analysis, &start, secs(60), &second, &mut memory), 2.0 / 30.0);
}

#[test]
fn metric_of_a_pod_gone_counts_nothing() {
    let analysis = error_count();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    let first = scraped(&[("p1", 100.0, 0.0), ("p2", 7.0, 0.0)]);
    assert_eq!(read(&analysis, &start, secs(0), &first, &mut memory), Reading::NoData);
    let second = scraped(&[("p2", 9.0, 0.0)]);
    assert_value(&read(&analysis, &start, secs(60), &second, &mut memory), 2.0);
}

#[test]
fn metric_ratio_of_nothing_over_nothing_is_no_data() {
    let analysis = error_ratio();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    let counters = scraped(&[("p1", 3.0, 100.0), ("p2", 1.0, 20.0)]);
    assert_eq!(read(&analysis, &start, secs(0), &counters, &mut memory), Reading::NoData);
    assert_eq!(read(&analysis, &start, secs(60), &counters, &mut memory), Reading::NoData);
}

#[test]
fn metric_ratio_with_reconciles_and_no_errors_reads_zero() {
    let analysis = error_ratio();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    assert_eq!(read(&analysis, &start, secs(0), &scraped(&[("p1", 3.0, 100.0)]), &mut memory), Reading::NoData);
    assert_value(&read(&analysis, &start, secs(60), &scraped(&[("p1", 3.0, 140.0)]), &mut memory), 0.0);
}

#[test]
fn metric_without_per_reads_the_plain_increase() {
    let analysis = error_count();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    let first = scraped(&[("p1", 5.0, 0.0), ("p2", 1.0, 0.0)]);
    assert_eq!(read(&analysis, &start, secs(0), &first, &mut memory), Reading::NoData);
    let second = scraped(&[("p1", 12.0, 0.0), ("p2", 4.0, 0.0)]);
    assert_value(&read(&analysis, &start, secs(60), &second, &mut memory), 10.0);
    // No increase is a real zero, not missing data.
    assert_value(&read(&analysis, &start, secs(120), &second, &mut memory), 0.0);
}

#[test]
fn metric_scrape_error_is_an_error_and_keeps_the_last_good_scrape() {
    let analysis = error_ratio();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    let first = scraped(&[("p1", 10.0, 100.0)]);
    assert_eq!(read(&analysis, &start, secs(0), &first, &mut memory), Reading::NoData);
    let failed = scrape_failed("pod p1: 503 Service Unavailable");
    assert_eq!(
        read(&analysis, &start, secs(60), &failed, &mut memory),
        Reading::Error("pod p1: 503 Service Unavailable".to_owned())
    );
    // Measured from the last good scrape: +4 errors in +40 reconciles.
    let third = scraped(&[("p1", 14.0, 140.0)]);
    assert_value(&read(&analysis, &start, secs(120), &third, &mut memory), 0.1);
}

#[test]
fn metric_scrape_error_first_leaves_no_zero_point() {
    let analysis = error_count();
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    assert_error(&read(&analysis, &start, secs(0), &scrape_failed("no pod matches app=x"), &mut memory), "no pod");
    // The first good scrape is the zero point.
    assert_eq!(read(&analysis, &start, secs(60), &scraped(&[("p1", 10.0, 0.0)]), &mut memory), Reading::NoData);
    assert_value(&read(&analysis, &start, secs(120), &scraped(&[("p1", 11.0, 0.0)]), &mut memory), 1.0);
}

#[test]
fn metric_not_scraped_is_an_error() {
    let reading = read(&error_count(), &CohortStart::default(), secs(60), &seen(vec![]), &mut CohortMemory::default());
    assert!(matches!(reading, Reading::Error(_)), "read {reading:?}");
}

#[test]
fn metrics_keep_separate_zero_points() {
    let other = MetricSignal { name: "reconciles".to_owned(), ..pod_metric(None) };
    let analysis = policy(vec![Signal::Metric(pod_metric(None)), Signal::Metric(other)]);
    let start = CohortStart::default();
    let mut memory = CohortMemory::default();
    let observe = |errors: f64, reconciles: f64| CohortObservation {
        metrics: BTreeMap::from([
            (ERRORS.to_owned(), Ok(BTreeMap::from([("p1".to_owned(), (errors, 0.0))]))),
            ("reconciles".to_owned(), Ok(BTreeMap::from([("p1".to_owned(), (reconciles, 0.0))]))),
        ]),
        ..seen(vec![])
    };
    let out = canary_only(&analysis, &start, secs(0), &observe(1.0, 100.0), &mut memory);
    assert_eq!((&out[0].canary, &out[1].canary), (&Reading::NoData, &Reading::NoData));
    let out = canary_only(&analysis, &start, secs(60), &observe(3.0, 150.0), &mut memory);
    assert_eq!(out[1].signal, "metric reconciles");
    assert_value(&out[0].canary, 2.0);
    assert_value(&out[1].canary, 50.0);
}

// ---------------------------------------------------------------------------------------------------------
// Canary and baseline

#[test]
fn baseline_has_its_own_memory_and_reading() {
    let analysis = policy(vec![
        Signal::Conditions(ConditionsSignal::default()),
        Signal::ObservedGeneration(ObservedGenerationSignal::default()),
        Signal::Metric(pod_metric(Some("controller_runtime_reconcile_total"))),
    ]);
    let start = CohortStart::default();
    let (mut canary_memory, mut baseline_memory) = (CohortMemory::default(), CohortMemory::default());
    let cohort = |objects: Vec<ObjectHealth>, errors: f64, reconciles: f64| CohortObservation {
        metrics: BTreeMap::from([(ERRORS.to_owned(), Ok(BTreeMap::from([("p".to_owned(), (errors, reconciles))])))]),
        ..seen(objects)
    };

    // The zero point: the baseline's counters are far from the canary's.
    let canary = cohort(vec![ready("c1", 1), ready("c2", 1)], 0.0, 0.0);
    let baseline = cohort(vec![ready("b1", 1), ready("b2", 1)], 500.0, 1000.0);
    let out =
        readings(&analysis, &start, secs(0), (&canary, &mut canary_memory), Some((&baseline, &mut baseline_memory)));
    assert!(out.iter().all(|r| r.baseline.is_some()), "{out:?}");
    assert_ne!(canary_memory, baseline_memory);

    // The canary: one object not ready, one stuck behind its spec, 10 errors in 20 reconciles. The
    // baseline: everything ready, a change caught up, 1 error in 100 reconciles.
    let canary = cohort(vec![object("c1", 1, Some(1), Some(false)), behind("c2", 2, 1)], 10.0, 20.0);
    let baseline = cohort(vec![ready("b1", 2), ready("b2", 1)], 501.0, 1100.0);
    let out =
        readings(&analysis, &start, secs(60), (&canary, &mut canary_memory), Some((&baseline, &mut baseline_memory)));
    assert_value(&out[0].canary, 1.0);
    assert_value(out[0].baseline.as_ref().unwrap(), 0.0);
    assert_value(&out[1].canary, 0.0);
    assert_value(out[1].baseline.as_ref().unwrap(), 0.0);
    assert_value(&out[2].canary, 0.5);
    assert_value(out[2].baseline.as_ref().unwrap(), 0.01);

    // The canary's object is still behind; the baseline has no change any more.
    let out =
        readings(&analysis, &start, secs(120), (&canary, &mut canary_memory), Some((&baseline, &mut baseline_memory)));
    assert_value(&out[1].canary, 60.0);
    assert_eq!(out[1].baseline, Some(Reading::NoData));
    // Neither's counters moved, so both ratios are 0/0.
    assert_eq!((&out[2].canary, &out[2].baseline), (&Reading::NoData, &Some(Reading::NoData)));
}

#[test]
fn baseline_errors_stay_on_the_baseline_side() {
    let analysis = policy(vec![Signal::PodRestarts(PodRestartsSignal::default())]);
    let canary = CohortObservation { pod_trouble: Ok(2), ..seen(vec![]) };
    let baseline = CohortObservation { pod_trouble: Err("listing pods: 500".to_owned()), ..seen(vec![]) };
    let (mut canary_memory, mut baseline_memory) = (CohortMemory::default(), CohortMemory::default());
    let out = readings(
        &analysis,
        &CohortStart::default(),
        secs(60),
        (&canary, &mut canary_memory),
        Some((&baseline, &mut baseline_memory)),
    );
    assert_value(&out[0].canary, 2.0);
    assert_eq!(out[0].baseline, Some(Reading::Error("listing pods: 500".to_owned())));
}

#[test]
fn without_a_baseline_every_baseline_reading_is_none() {
    let analysis = AnalysisPolicy {
        signals: vec![
            Signal::Conditions(ConditionsSignal::default()),
            Signal::ObservedGeneration(ObservedGenerationSignal::default()),
            Signal::PodRestarts(PodRestartsSignal::default()),
            Signal::WarningEvents(WarningEventsSignal::default()),
            Signal::DependentChanges(DependentChangesSignal::default()),
            Signal::Metric(pod_metric(None)),
        ],
        ..AnalysisPolicy::default()
    };
    let cohort = CohortObservation { dependents: Some(Ok(prints(&[("a", 1)]))), ..scraped(&[("p1", 1.0, 0.0)]) };
    let out = canary_only(&analysis, &CohortStart::default(), secs(60), &cohort, &mut CohortMemory::default());
    assert_eq!(out.len(), 6);
    assert!(out.iter().all(|r| r.baseline.is_none()), "{out:?}");
}

#[test]
fn an_empty_plan_reads_nothing() {
    let out =
        canary_only(&policy(vec![]), &CohortStart::default(), secs(60), &seen(vec![]), &mut CohortMemory::default());
    assert!(out.is_empty());
}

mod without_baseline;
