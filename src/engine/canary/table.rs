//! The analysis as a table: a row per interval, each signal's canary and baseline value side by side with
//! its verdict, printed as the intervals come and by `status` from the journal.

use crate::canary::judge::{format_value, IntervalResult, Reading, SignalReading};
use crate::canary::measure::signal_name;
use crate::plan::file::AnalysisPolicy;

/// Width of one signal's column.
const COLUMN: usize = 30;

/// The header line: the interval, then each signal of the plan.
pub fn header(analysis: &AnalysisPolicy, baseline: bool) -> String {
    let side = if baseline { " (canary / baseline)" } else { " (canary)" };
    let mut line = format!("  {:<9}", "interval");
    for signal in &analysis.signals {
        line.push_str(&format!(" {:<COLUMN$}", signal_name(signal)));
    }
    line.push_str(side);
    line
}

/// One interval's row.
pub fn row(interval: &IntervalResult) -> String {
    let mut line = format!("  {:<9}", format!("#{} {}s", interval.index, interval.at_seconds));
    for (reading, verdict) in &interval.signals {
        line.push_str(&format!(" {:<COLUMN$}", format!("{} {verdict}", sides(reading))));
    }
    line
}

fn sides(reading: &SignalReading) -> String {
    let value = |r: &Reading| match r {
        Reading::Value(v) => format_value(*v, reading.unit),
        Reading::NoData => "-".to_owned(),
        Reading::Error(_) => "err".to_owned(),
    };
    match &reading.baseline {
        Some(baseline) => format!("{} / {}", value(&reading.canary), value(baseline)),
        None => value(&reading.canary),
    }
}

/// Every recorded interval as a table (for `status`), without the header's signal names when the plan is
/// not at hand: the readings name their signals.
pub fn render_intervals(intervals: &[IntervalResult]) -> String {
    let Some(first) = intervals.first() else { return String::new() };
    let mut text = format!("  {:<9}", "interval");
    for (reading, _) in &first.signals {
        text.push_str(&format!(" {:<COLUMN$}", reading.signal));
    }
    text.push('\n');
    for interval in intervals {
        text.push_str(&row(interval));
        text.push('\n');
    }
    text
}
