use super::*;

const CONDITIONS: &str = "conditions";
const ERROR_RATIO: &str = "metric reconcile-error-ratio";
const RESTARTS: &str = "pod restarts";

fn value(v: f64) -> Reading {
    Reading::Value(v)
}

fn scrape_error() -> Reading {
    Reading::Error("GET /api/v1/namespaces/flux-system/pods/canary-0:8080/proxy/metrics: 503".to_owned())
}

/// The error ratio of reconciles: at most 5 % passes, the canary may be 2 points worse than the baseline.
fn error_ratio(canary: Reading, baseline: Option<Reading>) -> SignalReading {
    SignalReading {
        signal: ERROR_RATIO.to_owned(),
        unit: Unit::Ratio,
        canary,
        baseline,
        max: Some(0.05),
        tolerance: 0.02,
        detail: None,
    }
}

/// Objects not Ready: none may be, and the canary may not have more than the baseline.
fn conditions(canary: Reading, baseline: Option<Reading>) -> SignalReading {
    SignalReading {
        signal: CONDITIONS.to_owned(),
        unit: Unit::Count,
        canary,
        baseline,
        max: Some(0.0),
        tolerance: 0.0,
        detail: None,
    }
}

fn limits(failure: u32, inconclusive: u32, consecutive_errors: u32) -> Limits {
    Limits { failure, inconclusive, consecutive_errors }
}

/// An interval whose readings carry the given verdicts (built through the judge, so they are consistent).
fn interval(index: u32, readings: Vec<SignalReading>) -> IntervalResult {
    IntervalResult::judge(index, u64::from(index) * 60, readings)
}

/// A conditions reading with the wanted verdict.
fn conditions_with(verdict: Verdict) -> SignalReading {
    let reading = match verdict {
        Verdict::Pass => conditions(value(0.0), Some(value(0.0))),
        Verdict::Fail => conditions(value(3.0), Some(value(0.0))),
        Verdict::Inconclusive => conditions(value(3.0), Some(value(2.0))),
        Verdict::NoData => conditions(Reading::NoData, Some(value(0.0))),
        Verdict::Error => conditions(scrape_error(), Some(value(0.0))),
    };
    assert_eq!(judge_signal(&reading), verdict, "fixture for {verdict}");
    reading
}

/// An error-ratio reading with the wanted verdict.
fn error_ratio_with(verdict: Verdict) -> SignalReading {
    let reading = match verdict {
        Verdict::Pass => error_ratio(value(0.01), Some(value(0.01))),
        Verdict::Fail => error_ratio(value(0.30), Some(value(0.01))),
        Verdict::Inconclusive => error_ratio(value(0.30), Some(value(0.25))),
        Verdict::NoData => error_ratio(Reading::NoData, Some(Reading::NoData)),
        Verdict::Error => error_ratio(scrape_error(), Some(value(0.01))),
    };
    assert_eq!(judge_signal(&reading), verdict, "fixture for {verdict}");
    reading
}

// ---- judge_signal -------------------------------------------------------------------------------------

#[test]
fn canary_under_max_passes() {
    assert_eq!(judge_signal(&error_ratio(value(0.01), Some(value(0.0)))), Verdict::Pass);
    assert_eq!(judge_signal(&error_ratio(value(0.01), None)), Verdict::Pass);
}

#[test]
fn canary_exactly_at_max_passes() {
    assert_eq!(judge_signal(&error_ratio(value(0.05), None)), Verdict::Pass);
    assert_eq!(judge_signal(&conditions(value(0.0), Some(value(0.0)))), Verdict::Pass);
}

#[test]
fn canary_over_max_without_baseline_fails() {
    assert_eq!(judge_signal(&error_ratio(value(0.06), None)), Verdict::Fail);
    assert_eq!(judge_signal(&conditions(value(1.0), None)), Verdict::Fail);
}

#[test]
fn canary_over_max_within_tolerance_of_fine_baseline_passes() {
    // 0.06 is over the max of 0.05, but only 0.015 worse than a baseline of 0.045 (tolerance 0.02).
    assert_eq!(judge_signal(&error_ratio(value(0.06), Some(value(0.045)))), Verdict::Pass);
}

#[test]
fn canary_over_max_beyond_tolerance_of_fine_baseline_fails() {
    assert_eq!(judge_signal(&error_ratio(value(0.10), Some(value(0.04)))), Verdict::Fail);
    assert_eq!(judge_signal(&conditions(value(2.0), Some(value(0.0)))), Verdict::Fail);
}

#[test]
fn both_over_max_is_inconclusive_not_fail() {
    // The canary is far worse than the baseline, but both are over the limit: a cluster problem.
    assert_eq!(judge_signal(&error_ratio(value(0.90), Some(value(0.06)))), Verdict::Inconclusive);
    assert_eq!(judge_signal(&conditions(value(5.0), Some(value(1.0)))), Verdict::Inconclusive);
}

#[test]
fn canary_no_data_is_no_data() {
    assert_eq!(judge_signal(&error_ratio(Reading::NoData, Some(value(0.9)))), Verdict::NoData);
    assert_eq!(judge_signal(&error_ratio(Reading::NoData, None)), Verdict::NoData);
    assert_eq!(judge_signal(&error_ratio(Reading::NoData, Some(scrape_error()))), Verdict::NoData);
}

#[test]
fn canary_error_is_error() {
    assert_eq!(judge_signal(&error_ratio(scrape_error(), Some(value(0.0)))), Verdict::Error);
    assert_eq!(judge_signal(&error_ratio(scrape_error(), None)), Verdict::Error);
    assert_eq!(judge_signal(&error_ratio(scrape_error(), Some(Reading::NoData))), Verdict::Error);
}

#[test]
fn baseline_error_with_canary_over_max_is_error() {
    assert_eq!(judge_signal(&error_ratio(value(0.30), Some(scrape_error()))), Verdict::Error);
}

#[test]
fn baseline_error_with_canary_under_max_passes() {
    // The canary alone is within its limit: nothing to compare.
    assert_eq!(judge_signal(&error_ratio(value(0.01), Some(scrape_error()))), Verdict::Pass);
}

#[test]
fn without_max_only_the_difference_judges() {
    let latency = |canary: f64, baseline: f64| SignalReading {
        signal: "metric reconcile-p99-latency".to_owned(),
        unit: Unit::Seconds,
        canary: value(canary),
        baseline: Some(value(baseline)),
        max: None,
        tolerance: 0.5,
        detail: None,
    };
    // Both "bad" in absolute terms does not matter: there is no max, so never inconclusive.
    assert_eq!(judge_signal(&latency(30.0, 29.8)), Verdict::Pass);
    assert_eq!(judge_signal(&latency(30.0, 29.5)), Verdict::Pass);
    assert_eq!(judge_signal(&latency(30.0, 29.0)), Verdict::Fail);
    assert_eq!(judge_signal(&latency(0.2, 5.0)), Verdict::Pass);
}

#[test]
fn without_max_and_baseline_error_is_error() {
    let reading = SignalReading { max: None, ..error_ratio(value(0.01), Some(scrape_error())) };
    assert_eq!(judge_signal(&reading), Verdict::Error);
}

#[test]
fn baseline_no_data_with_canary_over_max_beyond_tolerance_fails() {
    // A baseline with nothing to measure compares as zero.
    assert_eq!(judge_signal(&error_ratio(value(0.30), Some(Reading::NoData))), Verdict::Fail);
    assert_eq!(judge_signal(&conditions(value(1.0), Some(Reading::NoData))), Verdict::Fail);
}

#[test]
fn baseline_no_data_with_canary_over_max_within_tolerance_passes() {
    let reading = SignalReading { tolerance: 0.1, ..error_ratio(value(0.06), Some(Reading::NoData)) };
    assert_eq!(judge_signal(&reading), Verdict::Pass);
}

// ---- Tally::record --------------------------------------------------------------------------------------

#[test]
fn failure_decision_comes_in_the_interval_crossing_the_failure_limit() {
    let mut tally = Tally::default();
    let limits = limits(1, 5, 5);
    let first = tally.record(
        &interval(1, vec![conditions_with(Verdict::Pass), error_ratio_with(Verdict::Fail)]),
        limits,
        false,
    );
    assert_eq!(first, Decision::Continue, "one failure is within failureLimit 1");
    let second = tally.record(
        &interval(2, vec![conditions_with(Verdict::Pass), error_ratio_with(Verdict::Pass)]),
        limits,
        false,
    );
    assert_eq!(second, Decision::Continue);
    let third = tally.record(
        &interval(3, vec![conditions_with(Verdict::Pass), error_ratio_with(Verdict::Fail)]),
        limits,
        false,
    );
    match third {
        Decision::Fail(reason) => {
            assert!(reason.contains(ERROR_RATIO), "{reason}");
            assert!(reason.contains("canary 0.300, baseline 0.010"), "{reason}");
        }
        other => panic!("the second failure crosses failureLimit 1, got {other:?}"),
    }
    let t = tally.signals.iter().find(|t| t.signal == ERROR_RATIO).unwrap();
    assert_eq!((t.measured, t.failures), (3, 2));
}

#[test]
fn failure_limit_zero_fails_on_the_first_failure() {
    let mut tally = Tally::default();
    let decision = tally.record(&interval(1, vec![conditions_with(Verdict::Fail)]), limits(0, 0, 0), false);
    assert!(matches!(decision, Decision::Fail(ref r) if r.contains(CONDITIONS)), "{decision:?}");
}

#[test]
fn failure_crossing_on_the_last_interval_fails() {
    let mut tally = Tally::default();
    let limits = limits(0, 5, 5);
    assert_eq!(tally.record(&interval(1, vec![conditions_with(Verdict::Pass)]), limits, false), Decision::Continue);
    let last = tally.record(&interval(2, vec![conditions_with(Verdict::Fail)]), limits, true);
    assert!(matches!(last, Decision::Fail(_)), "{last:?}");
}

#[test]
fn inconclusive_limit_leads_to_inconclusive() {
    let mut tally = Tally::default();
    let limits = limits(0, 1, 5);
    let first = tally.record(&interval(1, vec![error_ratio_with(Verdict::Inconclusive)]), limits, false);
    assert_eq!(first, Decision::Continue);
    let second = tally.record(&interval(2, vec![error_ratio_with(Verdict::Inconclusive)]), limits, false);
    match second {
        Decision::Inconclusive(reason) => assert!(reason.contains(ERROR_RATIO), "{reason}"),
        other => panic!("the second inconclusive crosses inconclusiveLimit 1, got {other:?}"),
    }
}

#[test]
fn failure_beats_inconclusive_in_the_same_interval() {
    let mut tally = Tally::default();
    let decision = tally.record(
        &interval(1, vec![error_ratio_with(Verdict::Inconclusive), conditions_with(Verdict::Fail)]),
        limits(0, 0, 0),
        false,
    );
    assert!(matches!(decision, Decision::Fail(ref r) if r.contains(CONDITIONS)), "{decision:?}");
}

#[test]
fn consecutive_errors_beyond_the_limit_fail() {
    let mut tally = Tally::default();
    let limits = limits(0, 0, 2);
    for index in 1..=2 {
        let decision = tally.record(&interval(index, vec![error_ratio_with(Verdict::Error)]), limits, false);
        assert_eq!(decision, Decision::Continue, "error {index} is within consecutiveErrorLimit 2");
    }
    let third = tally.record(&interval(3, vec![error_ratio_with(Verdict::Error)]), limits, false);
    match third {
        Decision::Fail(reason) => {
            assert!(reason.contains(ERROR_RATIO), "{reason}");
            assert!(reason.contains("503"), "the reason carries the scrape error: {reason}");
        }
        other => panic!("the third error in a row crosses consecutiveErrorLimit 2, got {other:?}"),
    }
}

#[test]
fn a_real_measurement_resets_the_error_streak() {
    let mut tally = Tally::default();
    let limits = limits(0, 0, 2);
    let verdicts = [Verdict::Error, Verdict::Error, Verdict::Pass, Verdict::Error, Verdict::Error];
    for (i, verdict) in verdicts.into_iter().enumerate() {
        let index = i as u32 + 1;
        let decision = tally.record(&interval(index, vec![error_ratio_with(verdict)]), limits, false);
        assert_eq!(decision, Decision::Continue, "interval {index} ({verdict})");
    }
    assert_eq!(tally.signals[0].consecutive_errors, 2);
    // The streak since the pass now goes beyond the limit.
    let decision = tally.record(&interval(6, vec![error_ratio_with(Verdict::Error)]), limits, false);
    assert!(matches!(decision, Decision::Fail(_)), "{decision:?}");
}

#[test]
fn error_streaks_count_per_signal() {
    let mut tally = Tally::default();
    let limits = limits(0, 0, 1);
    // Each signal errs once in a row only: the errors alternate between them.
    let a = tally.record(
        &interval(1, vec![conditions_with(Verdict::Error), error_ratio_with(Verdict::Pass)]),
        limits,
        false,
    );
    let b = tally.record(
        &interval(2, vec![conditions_with(Verdict::Pass), error_ratio_with(Verdict::Error)]),
        limits,
        false,
    );
    let c = tally.record(
        &interval(3, vec![conditions_with(Verdict::Error), error_ratio_with(Verdict::Pass)]),
        limits,
        false,
    );
    assert_eq!((a, b, c), (Decision::Continue, Decision::Continue, Decision::Continue));
}

#[test]
fn last_interval_without_a_real_measurement_of_a_signal_fails() {
    let mut tally = Tally::default();
    let limits = limits(0, 0, 5);
    let verdicts = [Verdict::NoData, Verdict::Error, Verdict::NoData];
    for (i, verdict) in verdicts.into_iter().enumerate() {
        let index = i as u32 + 1;
        let last = index == 3;
        let decision = tally.record(
            &interval(index, vec![conditions_with(Verdict::Pass), error_ratio_with(verdict)]),
            limits,
            last,
        );
        if !last {
            assert_eq!(decision, Decision::Continue, "interval {index}");
            continue;
        }
        match decision {
            Decision::Fail(reason) => {
                assert!(reason.contains(ERROR_RATIO), "{reason}");
                assert!(!reason.contains(CONDITIONS), "conditions was measured: {reason}");
                assert!(reason.contains("no data is not a pass"), "{reason}");
            }
            other => panic!("no data is not a pass, got {other:?}"),
        }
    }
}

#[test]
fn last_interval_with_only_no_data_fails() {
    let mut tally = Tally::default();
    let decision = tally.record(&interval(1, vec![error_ratio_with(Verdict::NoData)]), limits(0, 0, 0), true);
    assert!(matches!(decision, Decision::Fail(ref r) if r.contains(ERROR_RATIO)), "{decision:?}");
}

#[test]
fn last_interval_with_only_errors_within_the_limit_fails() {
    let mut tally = Tally::default();
    let limits = limits(0, 0, 3);
    assert_eq!(tally.record(&interval(1, vec![error_ratio_with(Verdict::Error)]), limits, false), Decision::Continue);
    let last = tally.record(&interval(2, vec![error_ratio_with(Verdict::Error)]), limits, true);
    assert!(matches!(last, Decision::Fail(ref r) if r.contains("no data is not a pass")), "{last:?}");
}

#[test]
fn last_interval_with_every_signal_measured_passes() {
    let mut tally = Tally::default();
    let limits = limits(0, 0, 1);
    // The error ratio had nothing to measure at first and could not be scraped once: one real measurement is enough.
    let first = tally.record(
        &interval(1, vec![conditions_with(Verdict::Pass), error_ratio_with(Verdict::NoData)]),
        limits,
        false,
    );
    let second = tally.record(
        &interval(2, vec![conditions_with(Verdict::Pass), error_ratio_with(Verdict::Error)]),
        limits,
        false,
    );
    let third =
        tally.record(&interval(3, vec![conditions_with(Verdict::Pass), error_ratio_with(Verdict::Pass)]), limits, true);
    assert_eq!((first, second, third), (Decision::Continue, Decision::Continue, Decision::Pass));
}

#[test]
fn a_failure_within_the_failure_limit_still_passes_at_the_end() {
    let mut tally = Tally::default();
    let limits = limits(1, 0, 0);
    let first = tally.record(
        &interval(1, vec![conditions_with(Verdict::Fail), error_ratio_with(Verdict::Pass)]),
        limits,
        false,
    );
    let last =
        tally.record(&interval(2, vec![conditions_with(Verdict::Pass), error_ratio_with(Verdict::Pass)]), limits, true);
    assert_eq!((first, last), (Decision::Continue, Decision::Pass));
    assert_eq!(tally.signals.iter().find(|t| t.signal == CONDITIONS).unwrap().failures, 1);
}

#[test]
fn not_last_never_passes() {
    let mut tally = Tally::default();
    let decision = tally.record(&interval(1, vec![conditions_with(Verdict::Pass)]), limits(0, 0, 0), false);
    assert_eq!(decision, Decision::Continue);
}

#[test]
fn tally_keeps_one_entry_per_signal_in_first_seen_order() {
    let mut tally = Tally::default();
    let limits = limits(5, 5, 5);
    tally.record(
        &interval(1, vec![conditions_with(Verdict::Pass), error_ratio_with(Verdict::Inconclusive)]),
        limits,
        false,
    );
    tally.record(&interval(2, vec![error_ratio_with(Verdict::NoData), conditions_with(Verdict::Fail)]), limits, false);
    let names: Vec<&str> = tally.signals.iter().map(|t| t.signal.as_str()).collect();
    assert_eq!(names, [CONDITIONS, ERROR_RATIO]);
    assert_eq!(
        tally.signals[0],
        SignalTally { signal: CONDITIONS.to_owned(), measured: 2, failures: 1, inconclusive: 0, consecutive_errors: 0 }
    );
    assert_eq!(
        tally.signals[1],
        SignalTally {
            signal: ERROR_RATIO.to_owned(),
            measured: 1,
            failures: 0,
            inconclusive: 1,
            consecutive_errors: 0
        }
    );
}

// ---- IntervalResult::worst ------------------------------------------------------------------------------

fn worst_of(verdicts: &[Verdict]) -> Verdict {
    let readings = verdicts.iter().map(|v| conditions_with(*v)).collect();
    interval(1, readings).worst()
}

#[test]
fn worst_orders_fail_error_inconclusive_no_data_pass() {
    use Verdict::*;
    assert_eq!(worst_of(&[Pass, NoData, Inconclusive, Error, Fail]), Fail);
    assert_eq!(worst_of(&[Fail, Error, Inconclusive, NoData, Pass]), Fail);
    assert_eq!(worst_of(&[Pass, Error, Inconclusive, NoData]), Error);
    assert_eq!(worst_of(&[Inconclusive, Error, Pass]), Error);
    assert_eq!(worst_of(&[NoData, Inconclusive, Pass]), Inconclusive);
    assert_eq!(worst_of(&[Pass, NoData, Pass]), NoData);
    assert_eq!(worst_of(&[Pass, Pass]), Pass);
}

#[test]
fn worst_of_an_empty_interval_is_no_data() {
    assert_eq!(interval(1, Vec::new()).worst(), Verdict::NoData);
}

#[test]
fn judge_pairs_each_reading_with_its_verdict() {
    let result = IntervalResult::judge(
        2,
        120,
        vec![conditions(value(0.0), Some(value(0.0))), error_ratio(value(0.30), Some(value(0.01)))],
    );
    assert_eq!((result.index, result.at_seconds), (2, 120));
    let verdicts: Vec<(&str, Verdict)> = result.signals.iter().map(|(r, v)| (r.signal.as_str(), *v)).collect();
    assert_eq!(verdicts, [(CONDITIONS, Verdict::Pass), (ERROR_RATIO, Verdict::Fail)]);
}

// ---- describe / format_value ----------------------------------------------------------------------------

#[test]
fn describe_with_baseline_shows_both_sides_and_limits() {
    assert_eq!(describe(&conditions(value(3.0), Some(value(0.0)))), "canary 3, baseline 0 (max 0, tolerance 0)");
    assert_eq!(
        describe(&error_ratio(value(0.125), Some(value(0.01)))),
        "canary 0.125, baseline 0.010 (max 0.050, tolerance 0.020)"
    );
}

#[test]
fn describe_without_baseline_omits_baseline_and_tolerance() {
    let restarts = SignalReading {
        signal: RESTARTS.to_owned(),
        unit: Unit::Count,
        canary: value(2.0),
        baseline: None,
        max: Some(1.0),
        tolerance: 0.0,
        detail: None,
    };
    assert_eq!(describe(&restarts), "measured 2 (max 1)");
    let named = SignalReading { detail: Some("not Ready: Widget default/a (Failed)".into()), ..restarts };
    assert_eq!(describe(&named), "measured 2 (max 1): not Ready: Widget default/a (Failed)");
}

#[test]
fn describe_shows_no_data_and_errors() {
    assert_eq!(
        describe(&SignalReading { max: None, ..error_ratio(Reading::NoData, Some(scrape_error())) }),
        "canary no data, baseline error (GET /api/v1/namespaces/flux-system/pods/canary-0:8080/proxy/metrics: 503) (tolerance 0.020)"
    );
    let bare = SignalReading { baseline: None, max: None, ..error_ratio(Reading::NoData, None) };
    assert_eq!(describe(&bare), "measured no data");
}

#[test]
fn format_value_reads_as_its_unit() {
    assert_eq!(format_value(3.0, Unit::Count), "3");
    assert_eq!(format_value(12.0, Unit::Count), "12");
    assert_eq!(format_value(1.24, Unit::Seconds), "1.2s");
    assert_eq!(format_value(30.0, Unit::Seconds), "30.0s");
    assert_eq!(format_value(0.0512, Unit::Ratio), "0.051");
    assert_eq!(format_value(1.0, Unit::Ratio), "1.000");
}

#[test]
fn verdict_words() {
    let words: Vec<String> = [Verdict::Pass, Verdict::Fail, Verdict::Inconclusive, Verdict::NoData, Verdict::Error]
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert_eq!(words, ["pass", "FAIL", "inconclusive", "no data", "error"]);
}

#[test]
fn only_pass_fail_and_inconclusive_are_measured() {
    assert!(Verdict::Pass.measured());
    assert!(Verdict::Fail.measured());
    assert!(Verdict::Inconclusive.measured());
    assert!(!Verdict::NoData.measured());
    assert!(!Verdict::Error.measured());
}

#[test]
fn has_value_only_for_values() {
    assert!(has_value(&value(0.0)));
    assert!(!has_value(&Reading::NoData));
    assert!(!has_value(&scrape_error()));
}
