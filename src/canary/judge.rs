//! The judge of a canary analysis: pure functions of the measurements. Each signal, each interval, passes,
//! fails, is inconclusive, has no data or could not be measured; the failure, inconclusive and
//! consecutive-error limits of the plan turn those into the analysis's verdict.
//!
//! Canary against baseline: a signal fails only when the canary is over its limit and worse than the
//! baseline by more than the tolerance; both over the limit at once is a cluster problem, so inconclusive.
//! No data is never a pass: the analysis passes only with at least one real measurement of every signal.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What one side of one signal read in one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "reading", content = "value")]
pub enum Reading {
    /// A value (a count, seconds or a ratio, as the signal says).
    Value(f64),
    /// Nothing to measure this interval (no spec change to catch up with, a ratio of 0/0).
    NoData,
    /// The measurement could not be taken (an API or scrape error), with why.
    Error(String),
}

impl Reading {
    fn value(&self) -> Option<f64> {
        match self {
            Reading::Value(v) => Some(*v),
            _ => None,
        }
    }
}

/// How a signal's values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Objects, restarts, events.
    Count,
    /// Seconds.
    Seconds,
    /// A ratio or share.
    Ratio,
}

/// One signal measured in one interval, on both cohorts, with the plan's thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignalReading {
    /// The signal's name in reports (`conditions`, `metric reconcile-error-ratio`).
    pub signal: String,
    /// How the values read.
    pub unit: Unit,
    /// The canary's reading.
    pub canary: Reading,
    /// The baseline's reading (None without a baseline cohort).
    pub baseline: Option<Reading>,
    /// The highest value that passes (None: only the comparison with the baseline judges).
    pub max: Option<f64>,
    /// How much worse than the baseline the canary may be when over `max`.
    pub tolerance: f64,
    /// The objects behind the canary's value, the first few named (`not Ready: Widget default/a (Failed)`),
    /// for a signal that counts objects and found some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl SignalReading {
    /// `canary / baseline` (or the canary alone), each a value in its unit or the given words for no data
    /// and a failed reading: a terminal's narrow table wants `-` where a report says `no data`.
    pub fn sides(&self, no_data: &str, error: &str) -> String {
        let value = |r: &Reading| match r {
            Reading::Value(v) => format_value(*v, self.unit),
            Reading::NoData => no_data.to_owned(),
            Reading::Error(_) => error.to_owned(),
        };
        match &self.baseline {
            Some(baseline) => format!("{} / {}", value(&self.canary), value(baseline)),
            None => value(&self.canary),
        }
    }
}

/// What one signal's reading in one interval says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Within the limits.
    Pass,
    /// The canary is worse beyond the limits.
    Fail,
    /// Both cohorts are bad: not the release's fault, not a pass either.
    Inconclusive,
    /// Nothing to measure this interval.
    NoData,
    /// The measurement could not be taken.
    Error,
}

impl Verdict {
    /// Whether a real measurement was taken (what a pass needs at least once per signal).
    pub fn measured(self) -> bool {
        matches!(self, Verdict::Pass | Verdict::Fail | Verdict::Inconclusive)
    }

    /// How bad, for the worst of an interval: fail, error, inconclusive, no data, pass.
    fn severity(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::NoData => 1,
            Verdict::Inconclusive => 2,
            Verdict::Error => 3,
            Verdict::Fail => 4,
        }
    }

    /// The word tables and logs show.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NoData => "no data",
            Verdict::Error => "error",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Judges one signal's reading in one interval.
pub fn judge_signal(reading: &SignalReading) -> Verdict {
    let canary = match &reading.canary {
        Reading::Value(v) => *v,
        Reading::NoData => return Verdict::NoData,
        Reading::Error(_) => return Verdict::Error,
    };
    let over = |value: f64| reading.max.is_none_or(|max| value > max);
    let Some(baseline) = &reading.baseline else {
        // Without a baseline only the absolute limit judges.
        return if reading.max.is_some() && over(canary) { Verdict::Fail } else { Verdict::Pass };
    };
    if !over(canary) {
        return Verdict::Pass;
    }
    match baseline {
        Reading::Error(_) => Verdict::Error,
        // A baseline with nothing to measure compares as zero: the canary alone is over its limit.
        Reading::NoData if canary > reading.tolerance => Verdict::Fail,
        Reading::NoData => Verdict::Pass,
        Reading::Value(b) if reading.max.is_some() && over(*b) => Verdict::Inconclusive,
        Reading::Value(b) if canary - b > reading.tolerance => Verdict::Fail,
        Reading::Value(_) => Verdict::Pass,
    }
}

/// One interval's readings, each with its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntervalResult {
    /// 1 for the first measurement after the warm-up.
    pub index: u32,
    /// Seconds since the analysis began (after the warm-up).
    pub at_seconds: u64,
    /// Each signal's reading and verdict.
    pub signals: Vec<(SignalReading, Verdict)>,
    /// How long taking the measurement took, in milliseconds (the analysis's overhead per interval).
    #[serde(default)]
    pub took_ms: u64,
}

impl IntervalResult {
    /// Judges every reading of an interval.
    pub fn judge(index: u32, at_seconds: u64, readings: Vec<SignalReading>) -> IntervalResult {
        let signals = readings.into_iter().map(|r| (judge_signal(&r), r)).map(|(v, r)| (r, v)).collect();
        IntervalResult { index, at_seconds, signals, took_ms: 0 }
    }

    /// The worst verdict of the interval.
    pub fn worst(&self) -> Verdict {
        self.signals.iter().map(|(_, v)| *v).max_by_key(|v| v.severity()).unwrap_or(Verdict::NoData)
    }
}

/// The plan's limits: one more than allowed ends the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failed measurements tolerated per signal.
    pub failure: u32,
    /// Inconclusive measurements tolerated per signal.
    pub inconclusive: u32,
    /// Measurements in a row that could not be taken, per signal.
    pub consecutive_errors: u32,
}

/// How one signal has fared so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalTally {
    /// The signal's name.
    pub signal: String,
    /// Real measurements taken.
    pub measured: u32,
    /// Failed measurements.
    pub failures: u32,
    /// Inconclusive measurements.
    pub inconclusive: u32,
    /// Errors in a row up to now.
    pub consecutive_errors: u32,
}

/// Where the analysis stands after an interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "decision", content = "reason")]
pub enum Decision {
    /// Keep measuring.
    Continue,
    /// The release is worse than the baseline: roll back.
    Fail(String),
    /// A cluster problem, or too little to tell: as the plan's `onInconclusive` says.
    Inconclusive(String),
    /// Every signal measured and within its limits for the whole analysis: promote.
    Pass,
}

/// Every signal's tally, updated interval by interval.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    /// One per signal, in the plan's order.
    pub signals: Vec<SignalTally>,
}

impl Tally {
    /// Counts an interval and decides: the verdict comes in the very interval whose measurement crosses a
    /// limit; after the last interval, a pass needs a real measurement of every signal.
    pub fn record(&mut self, interval: &IntervalResult, limits: Limits, last: bool) -> Decision {
        for (reading, verdict) in &interval.signals {
            let position = self.signals.iter().position(|t| t.signal == reading.signal);
            let tally = match position {
                Some(i) => &mut self.signals[i],
                None => {
                    self.signals.push(SignalTally { signal: reading.signal.clone(), ..SignalTally::default() });
                    self.signals.last_mut().expect("just pushed")
                }
            };
            // Saturating: the plan file's limits keep the counts to 100,000, and a count must never panic.
            tally.measured = tally.measured.saturating_add(u32::from(verdict.measured()));
            tally.failures = tally.failures.saturating_add(u32::from(*verdict == Verdict::Fail));
            tally.inconclusive = tally.inconclusive.saturating_add(u32::from(*verdict == Verdict::Inconclusive));
            // Only a real measurement ends a streak of errors: no data in between proves nothing.
            tally.consecutive_errors = match verdict {
                Verdict::Error => tally.consecutive_errors.saturating_add(1),
                Verdict::NoData => tally.consecutive_errors,
                _ => 0,
            };
        }
        self.decide(interval, limits, last)
    }

    fn decide(&self, interval: &IntervalResult, limits: Limits, last: bool) -> Decision {
        let why = |signal: &str| {
            interval.signals.iter().find(|(r, _)| r.signal == signal).map(|(r, _)| describe(r)).unwrap_or_default()
        };
        if let Some(t) = self.signals.iter().find(|t| t.failures > limits.failure) {
            return Decision::Fail(format!(
                "{} failed {} times in {} intervals (at most {} allowed): {}",
                t.signal,
                t.failures,
                interval.index,
                limits.failure,
                why(&t.signal)
            ));
        }
        if let Some(t) = self.signals.iter().find(|t| t.consecutive_errors > limits.consecutive_errors) {
            return Decision::Fail(format!(
                "{} could not be measured {} times in a row (at most {} allowed): {}",
                t.signal,
                t.consecutive_errors,
                limits.consecutive_errors,
                why(&t.signal)
            ));
        }
        if let Some(t) = self.signals.iter().find(|t| t.inconclusive > limits.inconclusive) {
            return Decision::Inconclusive(format!(
                "{} was bad on the canary and the baseline alike {} times (at most {} allowed), a problem of the cluster rather than the release: {}",
                t.signal,
                t.inconclusive,
                limits.inconclusive,
                why(&t.signal)
            ));
        }
        if !last {
            return Decision::Continue;
        }
        let unmeasured: Vec<&str> =
            self.signals.iter().filter(|t| t.measured == 0).map(|t| t.signal.as_str()).collect();
        if unmeasured.is_empty() {
            Decision::Pass
        } else {
            Decision::Fail(format!(
                "no measurement of {} in {} intervals: no data is not a pass",
                unmeasured.join(", "),
                interval.index
            ))
        }
    }
}

/// A reading in one line: `canary 3, baseline 0 (max 0, tolerance 0)`, or without a baseline
/// `measured 3 (max 0)`, then the objects behind it when the reading names them.
pub fn describe(reading: &SignalReading) -> String {
    let side = |r: &Reading| match r {
        Reading::Value(v) => format_value(*v, reading.unit),
        Reading::NoData => "no data".to_owned(),
        Reading::Error(why) => format!("error ({why})"),
    };
    let mut text = match &reading.baseline {
        Some(baseline) => format!("canary {}, baseline {}", side(&reading.canary), side(baseline)),
        // Without a baseline the value may be a canary's or the whole fleet's.
        None => format!("measured {}", side(&reading.canary)),
    };
    let max = reading.max.map(|m| format!("max {}", format_value(m, reading.unit)));
    let tolerance =
        reading.baseline.as_ref().map(|_| format!("tolerance {}", format_value(reading.tolerance, reading.unit)));
    let limits: Vec<String> = [max, tolerance].into_iter().flatten().collect();
    if !limits.is_empty() {
        text.push_str(&format!(" ({})", limits.join(", ")));
    }
    if let Some(detail) = &reading.detail {
        text.push_str(&format!(": {detail}"));
    }
    text
}

/// A value as its unit reads.
pub fn format_value(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Count => format!("{value:.0}"),
        Unit::Seconds => format!("{value:.1}s"),
        Unit::Ratio => format!("{value:.3}"),
    }
}

/// Whether a reading's value is present (for tables).
pub fn has_value(reading: &Reading) -> bool {
    reading.value().is_some()
}

#[cfg(test)]
mod tests;
