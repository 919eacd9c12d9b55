//! The analysis as a table: a row per interval, each signal's canary and baseline value side by side with
//! its verdict, printed as the intervals come and by `status` from the journal.

use crate::canary::judge::{IntervalResult, SignalReading};
use crate::canary::measure::signal_name;
use crate::engine::report::Reporter;
use crate::plan::file::AnalysisPolicy;
use std::sync::Mutex;

/// Width of one signal's column.
const COLUMN: usize = 30;

/// The header line: the interval, then each signal of the plan, then what its values are of
/// (`canary / baseline`, `canary`, `every object`).
pub fn header(analysis: &AnalysisPolicy, sides: &str) -> String {
    let side = format!(" ({sides})");
    let mut line = format!("  {:<9}", "interval");
    for signal in &analysis.signals {
        line.push_str(&format!(" {:<COLUMN$}", signal_name(signal)));
    }
    line.push_str(&side);
    line
}

/// One interval's row.
pub fn row(interval: &IntervalResult) -> String {
    let mut line = format!("  {:<9}", format!("#{} {}s", interval.index, interval.at_seconds));
    for (reading, verdict) in &interval.signals {
        line.push_str(&format!(" {:<COLUMN$}", format!("{} {verdict}", sides(reading))));
    }
    line.push_str(&format!(" (measured in {:.1}s)", interval.took_ms as f64 / 1000.0));
    line
}

fn sides(reading: &SignalReading) -> String {
    reading.sides("-", "err")
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

/// The table as the analysis goes: redrawn in place on a terminal (header and every row so far), printed
/// a line at a time elsewhere (logs, CI, `-o json` messages).
pub struct Live {
    bar: indicatif::ProgressBar,
    lines: Mutex<Vec<String>>,
}

impl Live {
    /// Shows the header.
    pub fn start(reporter: &Reporter, header: String) -> Live {
        let bar = reporter.live_text();
        if bar.is_hidden() {
            reporter.info(&header);
        } else {
            bar.set_message(header.clone());
        }
        Live { bar, lines: Mutex::new(vec![header]) }
    }

    /// Adds an interval's row.
    pub fn add(&self, reporter: &Reporter, row: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines.push(row.clone());
        if self.bar.is_hidden() {
            reporter.info(&row);
        } else {
            self.bar.set_message(lines.join("\n"));
        }
    }

    /// Leaves the final table on the terminal as plain lines.
    pub fn finish(&self, reporter: &Reporter) {
        if self.bar.is_hidden() || self.bar.is_finished() {
            return;
        }
        self.bar.finish_and_clear();
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        reporter.info(&lines.join("\n"));
    }
}
