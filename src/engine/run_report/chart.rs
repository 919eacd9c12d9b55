//! One signal of the canary analysis as an SVG chart: the canary's and the baseline's values over the
//! analysis, the signal's `max` as a horizontal line, intervals without a value left as gaps in the lines.
//!
//! Drawn with plotters' SVG backend alone: text is written as SVG `<text>` for the viewer to lay out, so no
//! font is read here (plotters' built-in estimate sizes the label areas).

use crate::canary::judge::{format_value, IntervalResult, Reading, SignalReading, Unit};
use plotters::coord::Shift;
use plotters::prelude::*;
use thiserror::Error;

/// The chart's size in pixels.
const SIZE: (u32, u32) = (720, 360);
const CANARY_COLOUR: RGBColor = RGBColor(230, 120, 0);
const BASELINE_COLOUR: RGBColor = RGBColor(31, 100, 180);
const MAX_COLOUR: RGBColor = RGBColor(200, 30, 30);

/// A chart that could not be drawn.
#[derive(Debug, Error)]
#[error("cannot draw the chart of {signal}: {message}")]
pub struct ChartError {
    /// The signal.
    pub signal: String,
    /// What plotters reported.
    pub message: String,
}

/// A series' points: x in seconds since the analysis began, y None where the interval has no value.
type Points = Vec<(f64, Option<f64>)>;

/// What the chart of one signal shows, taken from the intervals.
#[derive(Debug, Clone, PartialEq)]
struct SignalSeries {
    unit: Unit,
    canary: Points,
    /// None when no interval measured a baseline (the plan has none).
    baseline: Option<Points>,
    max: Option<f64>,
}

impl SignalSeries {
    fn of(intervals: &[IntervalResult], signal: &str) -> SignalSeries {
        let readings: Vec<&SignalReading> = intervals
            .iter()
            .filter_map(|i| i.signals.iter().find(|(r, _)| r.signal == signal))
            .map(|(r, _)| r)
            .collect();
        let canary = intervals_points(intervals, signal, |r| Some(&r.canary));
        let with_baseline = readings.iter().any(|r| r.baseline.is_some());
        let baseline = with_baseline.then(|| intervals_points(intervals, signal, |r| r.baseline.as_ref()));
        let unit = readings.first().map(|r| r.unit).unwrap_or(Unit::Count);
        // The latest limit: the plan's, the same in every interval of a run.
        let max = readings.iter().rev().find_map(|r| r.max).filter(|m| m.is_finite());
        SignalSeries { unit, canary, baseline, max }
    }

    /// Every finite value shown, the limit included (what the y axis must span).
    fn values(&self) -> impl Iterator<Item = f64> + '_ {
        let canary = self.canary.iter().filter_map(|(_, y)| *y);
        let baseline = self.baseline.iter().flatten().filter_map(|(_, y)| *y);
        canary.chain(baseline).chain(self.max)
    }
}

/// One point per interval: its value on one side, None where that side has none (no data, an error, the
/// signal absent from the interval, a value that is not a number).
fn intervals_points(
    intervals: &[IntervalResult],
    signal: &str,
    side: impl Fn(&SignalReading) -> Option<&Reading>,
) -> Points {
    intervals
        .iter()
        .map(|interval| {
            let reading = interval.signals.iter().find(|(r, _)| r.signal == signal).and_then(|(r, _)| side(r));
            let value = match reading {
                Some(Reading::Value(v)) if v.is_finite() => Some(*v),
                _ => None,
            };
            (interval.at_seconds as f64, value)
        })
        .collect()
}

/// The runs of consecutive values, split where an interval has none (drawn as separate lines: the gap).
fn segments(points: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut segments = vec![Vec::new()];
    for (x, y) in points {
        match (y, segments.last_mut()) {
            (Some(y), Some(current)) => current.push((*x, *y)),
            (None, Some(current)) if !current.is_empty() => segments.push(Vec::new()),
            _ => {}
        }
    }
    segments.retain(|s| !s.is_empty());
    segments
}

/// The x axis: the intervals' times, widened where they are a single point.
fn x_range(series: &SignalSeries) -> std::ops::Range<f64> {
    let xs = series.canary.iter().map(|(x, _)| *x);
    let (low, high) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| (l.min(x), h.max(x)));
    if !low.is_finite() {
        return 0.0..1.0;
    }
    if high > low {
        low..high
    } else {
        (low - 1.0).max(0.0)..high + 1.0
    }
}

/// The y axis: from zero (or below, for negative values) to a tenth above the highest value or limit.
fn y_range(series: &SignalSeries) -> std::ops::Range<f64> {
    let (low, high) = series.values().fold((0.0_f64, 0.0_f64), |(l, h), v| (l.min(v), h.max(v)));
    let span = high - low;
    if span > 0.0 {
        low..high + span * 0.1
    } else {
        low..low + 1.0
    }
}

/// An axis tick: up to three decimals, as many as it needs (the unit's own format would write 0.5 s of a
/// count as `0` and `1`, the same label twice).
fn tick(value: f64, unit: Unit) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match unit {
        Unit::Seconds => format!("{text}s"),
        Unit::Count | Unit::Ratio => text.to_owned(),
    }
}

fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "count",
        Unit::Seconds => "seconds",
        Unit::Ratio => "ratio",
    }
}

/// The chart of `signal` over the analysis's `intervals`, as an SVG document.
pub fn chart_svg(intervals: &[IntervalResult], signal: &str) -> Result<String, ChartError> {
    let series = SignalSeries::of(intervals, signal);
    let failed = |e: &dyn std::fmt::Display| ChartError { signal: signal.to_owned(), message: e.to_string() };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root, &series, signal).map_err(|e| failed(&e))?;
        root.present().map_err(|e| failed(&e))?;
    }
    Ok(svg)
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, series: &SignalSeries, signal: &str) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let unit = series.unit;
    let mut chart = ChartBuilder::on(root)
        .caption(signal, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range(series), y_range(series))?;
    chart
        .configure_mesh()
        .x_desc("seconds since the analysis began")
        .y_desc(unit_name(unit))
        .x_labels(8)
        .y_labels(6)
        .max_light_lines(0)
        .x_label_formatter(&|x| tick(*x, Unit::Count))
        .y_label_formatter(&|y| tick(*y, unit))
        .draw()?;
    // The baseline first, so the canary (what the report is about) is on top where the two agree.
    if let Some(baseline) = &series.baseline {
        draw_line(&mut chart, baseline, "baseline", BASELINE_COLOUR)?;
    }
    draw_line(&mut chart, &series.canary, "canary", CANARY_COLOUR)?;
    if let Some(max) = series.max {
        let range = x_range(series);
        let line = [(range.start, max), (range.end, max)];
        chart
            .draw_series(DashedLineSeries::new(line, 8, 5, MAX_COLOUR.stroke_width(1)))?
            .label(format!("max {}", format_value(max, unit)))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], MAX_COLOUR));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

type Chart<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>;

/// One side's line, a separate piece between gaps, each value marked (a value between two gaps is a dot);
/// labelled once for the legend, even when it has no value at all.
fn draw_line<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    points: &[(f64, Option<f64>)],
    name: &str,
    colour: RGBColor,
) -> DrawResult<DB> {
    let mut pieces = segments(points);
    if pieces.is_empty() {
        pieces.push(Vec::new());
    }
    for (index, piece) in pieces.into_iter().enumerate() {
        let drawn = chart.draw_series(LineSeries::new(piece, colour.stroke_width(2)).point_size(3))?;
        if index == 0 {
            drawn.label(name).legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::run_report::fixture;

    #[test]
    fn gaps_split_a_line_into_pieces() {
        let points = [(0.0, Some(1.0)), (1.0, None), (2.0, Some(2.0)), (3.0, Some(3.0)), (4.0, None)];
        assert_eq!(segments(&points), vec![vec![(0.0, 1.0)], vec![(2.0, 2.0), (3.0, 3.0)]]);
        assert!(segments(&[(0.0, None)]).is_empty());
    }

    #[test]
    fn the_series_take_each_side_and_the_limit_from_the_intervals() {
        let intervals = fixture::intervals();
        let conditions = SignalSeries::of(&intervals, "conditions");
        assert_eq!(conditions.canary.iter().map(|(_, y)| *y).collect::<Vec<_>>(), [Some(0.0), None, Some(4.0)]);
        let baseline = conditions.baseline.expect("conditions has a baseline");
        assert_eq!(baseline.iter().map(|(_, y)| *y).collect::<Vec<_>>(), [Some(0.0), Some(1.0), Some(0.0)]);
        assert_eq!(conditions.max, None);
        let ratio = SignalSeries::of(&intervals, "metric reconcile-error-ratio");
        assert_eq!(ratio.baseline, None);
        assert_eq!(ratio.max, Some(0.05));
        assert_eq!(ratio.unit, Unit::Ratio);
    }

    #[test]
    fn the_y_axis_spans_every_value_and_the_limit() {
        let intervals = fixture::intervals();
        let ratio = SignalSeries::of(&intervals, "metric reconcile-error-ratio");
        let range = y_range(&ratio);
        assert_eq!(range.start, 0.0);
        assert!(range.end > 0.2, "{range:?}");
        let empty = SignalSeries::of(&[], "conditions");
        assert_eq!(tick(2.5, Unit::Count), "2.5");
        assert_eq!(tick(2.0, Unit::Seconds), "2s");
        assert_eq!(tick(0.05, Unit::Ratio), "0.05");
        assert_eq!(y_range(&empty), 0.0..1.0);
        assert_eq!(x_range(&empty), 0.0..1.0);
    }
}
