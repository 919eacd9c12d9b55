//! The run as markdown: what ran, who ran it and when, each step, the canary and its analysis table, what a
//! rollback would restore. Every value taken from the journal is escaped for its table cell.

use super::{chart_files, signals, ChartLinks};
use crate::canary::cohort::Cohort;
use crate::canary::judge::{format_value, IntervalResult, Reading, SignalReading, Verdict};
use crate::cluster::operator_lock::LeaseObservation;
use crate::engine::journal::{CanaryRecord, Journal, RecordedObject, StepRecord};
use crate::engine::status::{advice, cohort_size, decision_text, heartbeat_text, rollback_summary, Heartbeat};
use std::fmt::Write;

/// The run as a markdown report; `charts` says whether each signal's chart is linked (the files
/// [`super::write_reports`] writes beside the report).
pub fn render_markdown(
    journal: &Journal,
    beat: Heartbeat,
    lease: Option<&LeaseObservation>,
    charts: ChartLinks,
) -> String {
    let mut out = String::new();
    out.push_str(&summary(journal, beat, lease));
    out.push_str(&steps(&journal.steps));
    if let Some(canary) = &journal.canary {
        out.push_str(&canary_section(canary));
    }
    if journal.canary.is_some() || journal.analysis.is_some() {
        out.push_str(&analysis(journal, charts));
    }
    out.push_str(&rollback(journal));
    out.push_str(&health_and_notes(journal));
    out
}

fn summary(journal: &Journal, beat: Heartbeat, lease: Option<&LeaseObservation>) -> String {
    let mut out = format!(
        "# Upgrade run {} of plan {}: {}\n\n| | |\n| --- | --- |\n",
        code(&journal.run_id),
        code(&journal.plan),
        journal.state
    );
    let hash = &journal.plan_hash[..journal.plan_hash.len().min(12)];
    let mut row = |name: &str, value: String| {
        let _ = writeln!(out, "| {name} | {value} |");
    };
    row("Plan", format!("{} (hash {})", code(&journal.plan), code(hash)));
    row("Operator", code(&journal.operator));
    row("Release before the run", release_before(journal));
    row("State", format!("**{}**", journal.state));
    row("Started", format!("{} by operator-upgrade {}", cell(&journal.started), cell(&journal.tool_version)));
    row("Last update", cell(&journal.updated));
    row("Executed by", cell(&heartbeat_text(beat, lease)));
    row("Cluster", format!("kube-system UID {}", code(&journal.cluster_uid)));
    if !journal.accepted.is_empty() {
        row("Accepted findings", journal.accepted.iter().map(|a| code(a)).collect::<Vec<_>>().join(", "));
    }
    if let Some(next) = advice(journal, beat) {
        let _ = writeln!(out, "\n**Next:** {}", cell(&next));
    }
    out
}

/// The operator's images as the journal recorded its Deployment before the run (what `rollback` restores);
/// the journal does not name the releases' versions.
fn release_before(journal: &Journal) -> String {
    let (namespace, name) = journal.operator.split_once('/').unwrap_or(("", &journal.operator));
    let images: Vec<String> = journal
        .recorded
        .iter()
        .filter(|r| r.key.kind == "Deployment" && r.key.namespace == namespace && r.key.name == name)
        .filter_map(|r| r.before.as_ref())
        .flat_map(|before| before["spec"]["template"]["spec"]["containers"].as_array().cloned().unwrap_or_default())
        .filter_map(|container| container["image"].as_str().map(code))
        .collect();
    if images.is_empty() {
        "not recorded".to_owned()
    } else {
        format!("operator image {}", images.join(", "))
    }
}

fn steps(steps: &[StepRecord]) -> String {
    let mut out = String::from(
        "\n## Steps\n\n| # | Step | Title | State | Started | Ended | Took | Outcome |\n| ---: | --- | --- | --- | --- | --- | ---: | --- |\n",
    );
    for (index, step) in steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            index + 1,
            step.kind.as_str(),
            cell(&step.title),
            step.state.as_str(),
            cell(step.started.as_deref().unwrap_or("")),
            cell(step.ended.as_deref().unwrap_or("")),
            took(step.started.as_deref(), step.ended.as_deref()),
            cell(step.message.as_deref().unwrap_or(""))
        );
    }
    out
}

/// How long a step took (`1m 05s`), when both its times are there and read as timestamps.
fn took(started: Option<&str>, ended: Option<&str>) -> String {
    let parse = |t: Option<&str>| t?.parse::<jiff::Timestamp>().ok();
    let (Some(started), Some(ended)) = (parse(started), parse(ended)) else { return String::new() };
    let seconds = ended.duration_since(started).as_secs();
    match seconds {
        s if s < 0 => String::new(),
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn canary_section(canary: &CanaryRecord) -> String {
    let mut out = format!(
        "\n## Canary\n\n- Cohorts: {} canary, {} baseline objects{}\n",
        cohort_size(canary, Cohort::Canary),
        cohort_size(canary, Cohort::Baseline),
        match cohort_size(canary, Cohort::Stable) {
            0 => String::new(),
            n => format!(", {n} marked stable"),
        }
    );
    let _ = writeln!(out, "- Stable Deployment: {}", code(&canary.stable.to_string()));
    for (cohort, key) in &canary.copies {
        let _ = writeln!(out, "- {} copy: {}", cohort_name(*cohort), code(&key.to_string()));
    }
    if let Some(started) = &canary.started {
        let _ = writeln!(out, "- Copies started: {}", cell(started));
    }
    out.push_str(&unowned(&canary.unowned));
    if let Some(decision) = &canary.decision {
        let _ = writeln!(out, "- Decision: **{}**", cell(&decision_text(decision)));
    }
    out
}

fn cohort_name(cohort: Cohort) -> &'static str {
    match cohort {
        Cohort::Canary => "Canary",
        Cohort::Baseline => "Baseline",
        Cohort::Stable => "Stable",
    }
}

/// The handovers' gaps, when cohort objects had no operator.
fn unowned(gaps: &[(String, f64)]) -> String {
    if gaps.is_empty() {
        return "- Unowned gaps: none recorded\n".to_owned();
    }
    let mut out = String::from(
        "- Unowned gaps (cohort objects without an operator):\n\n  | Handover | Seconds |\n  | --- | ---: |\n",
    );
    for (handover, seconds) in gaps {
        let _ = writeln!(out, "  | {} | {seconds:.1} |", cell(handover));
    }
    out.push('\n');
    out
}

fn analysis(journal: &Journal, charts: ChartLinks) -> String {
    let intervals = crate::engine::canary::analysis_intervals(journal);
    if intervals.is_empty() {
        return "\n### Analysis\n\nNo interval measured yet.\n".to_owned();
    }
    let names = signals(intervals);
    let mut out = String::from("\n### Analysis\n\n");
    out.push_str(&signal_table(intervals, &names));
    out.push_str(&interval_table(intervals, &names));
    out.push_str(&unmeasured(intervals));
    if charts == ChartLinks::Relative {
        out.push('\n');
        for (signal, file) in chart_files(journal) {
            let _ = writeln!(out, "![{} over the analysis]({file})", cell(&signal));
        }
    }
    out
}

/// A row per signal: its unit, limits and how its intervals were judged.
fn signal_table(intervals: &[IntervalResult], names: &[String]) -> String {
    let mut out = String::from(
        "| Signal | Max | Tolerance | Measured | Failed | Inconclusive | Not measured |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for name in names {
        let readings: Vec<&(SignalReading, Verdict)> =
            intervals.iter().filter_map(|i| i.signals.iter().find(|(r, _)| &r.signal == name)).collect();
        let Some((first, _)) = readings.first() else { continue };
        let count = |wanted: fn(Verdict) -> bool| readings.iter().filter(|(_, v)| wanted(*v)).count();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            code(name),
            first.max.map(|m| format_value(m, first.unit)).unwrap_or_else(|| "-".into()),
            first.baseline.as_ref().map(|_| format_value(first.tolerance, first.unit)).unwrap_or_else(|| "-".into()),
            count(Verdict::measured),
            count(|v| v == Verdict::Fail),
            count(|v| v == Verdict::Inconclusive),
            count(|v| matches!(v, Verdict::Error | Verdict::NoData)),
        );
    }
    out.push('\n');
    out
}

/// A row per interval, a column per signal: `canary / baseline verdict`.
fn interval_table(intervals: &[IntervalResult], names: &[String]) -> String {
    let mut out = String::from("| Interval | At | Measured in |");
    let mut rule = String::from("| ---: | ---: | ---: |");
    for name in names {
        let with_baseline =
            intervals.iter().flat_map(|i| &i.signals).any(|(r, _)| &r.signal == name && r.baseline.is_some());
        let sides = if with_baseline { "canary / baseline" } else { "canary" };
        let _ = write!(out, " {} ({sides}) |", code(name));
        rule.push_str(" --- |");
    }
    let _ = write!(out, "\n{rule}\n");
    for interval in intervals {
        let _ = write!(
            out,
            "| #{} | {}s | {:.1}s |",
            interval.index,
            interval.at_seconds,
            interval.took_ms as f64 / 1000.0
        );
        for name in names {
            let found = interval.signals.iter().find(|(r, _)| &r.signal == name);
            let text = found.map(|(r, v)| reading_cell(r, *v)).unwrap_or_else(|| "-".into());
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    out
}

/// `canary / baseline verdict`; with no data the sides say so already.
fn reading_cell(reading: &SignalReading, judged: Verdict) -> String {
    match judged {
        Verdict::NoData => sides(reading),
        _ => format!("{} {}", sides(reading), verdict(judged)),
    }
}

fn sides(reading: &SignalReading) -> String {
    reading.sides("no data", "error")
}

/// A verdict, the failing ones stressed so they stand out in a long table.
fn verdict(verdict: Verdict) -> String {
    match verdict {
        Verdict::Fail => "**FAIL**".to_owned(),
        Verdict::Inconclusive | Verdict::Error => format!("*{verdict}*"),
        Verdict::Pass | Verdict::NoData => verdict.to_string(),
    }
}

/// Why the readings that could not be taken were not, one line each.
fn unmeasured(intervals: &[IntervalResult]) -> String {
    let mut lines = String::new();
    for interval in intervals {
        for (reading, _) in &interval.signals {
            let sides = [("canary", Some(&reading.canary)), ("baseline", reading.baseline.as_ref())];
            for (side, read) in sides {
                if let Some(Reading::Error(why)) = read {
                    let _ = writeln!(lines, "- #{} {} {side}: {}", interval.index, code(&reading.signal), cell(why));
                }
            }
        }
    }
    if lines.is_empty() {
        lines
    } else {
        format!("\nReadings that could not be taken:\n\n{lines}")
    }
}

fn rollback(journal: &Journal) -> String {
    let summary = rollback_summary(journal);
    let mut out = format!("\n## Rollback\n\n{}{}.\n", summary[..1].to_uppercase(), &summary[1..]);
    if journal.recorded.is_empty() {
        return out;
    }
    out.push_str(
        "\n<details><summary>Recorded objects</summary>\n\n| Object | Step | Rollback |\n| --- | --- | --- |\n",
    );
    for recorded in &journal.recorded {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            code(&recorded.key.to_string()),
            recorded.step.as_str(),
            restore_action(recorded)
        );
    }
    out.push_str("\n</details>\n");
    out
}

fn restore_action(recorded: &RecordedObject) -> &'static str {
    if recorded.before.is_some() {
        "restores it as recorded"
    } else {
        "removes it"
    }
}

fn health_and_notes(journal: &Journal) -> String {
    let mut out = String::new();
    if let Some(health) = &journal.health {
        let _ = write!(out, "\n## Health\n\nAt {}: {}\n", cell(&health.at), cell(&health.summary));
    }
    if !journal.notes.is_empty() {
        out.push_str("\n## Notes\n\n");
        for note in &journal.notes {
            let _ = writeln!(out, "- {}", cell(note));
        }
    }
    out
}

/// Text from the journal made safe for a table cell or a list item: a `|` would end the cell and a line
/// break the row; `<` could open HTML that hides the rest of the report.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\").replace('|', "\\|").replace('<', "&lt;").replace(['\r', '\n'], " ")
}

/// Text as inline code; a backtick inside would end the span early, so it is replaced.
fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'").replace('|', "\\|").replace(['\r', '\n'], " "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::run_report::fixture;

    #[test]
    fn a_step_takes_from_its_start_to_its_end() {
        assert_eq!(took(Some("2026-01-05T10:00:00Z"), Some("2026-01-05T10:00:02Z")), "2s");
        assert_eq!(took(Some("2026-01-05T10:00:00Z"), Some("2026-01-05T10:01:05Z")), "1m 05s");
        assert_eq!(took(Some("2026-01-05T10:00:00Z"), Some("2026-01-05T12:03:00Z")), "2h 03m");
        assert_eq!(took(Some("2026-01-05T10:00:00Z"), None), "");
        assert_eq!(took(Some("yesterday"), Some("2026-01-05T10:00:00Z")), "");
    }

    #[test]
    fn journal_text_cannot_break_a_table_row() {
        assert_eq!(cell("a | b\nc"), "a \\| b c");
        assert_eq!(code("x`y|z"), "`x'y\\|z`");
    }

    #[test]
    fn every_interval_shows_each_signal_on_both_sides_with_its_verdict() {
        let intervals = fixture::intervals();
        let table = interval_table(&intervals, &signals(&intervals));
        let rows: Vec<&str> = table.lines().skip(2).collect();
        assert_eq!(rows.len(), 3, "{table}");
        assert!(rows[0].contains("| 0 / 0 pass | 0.000 pass |"), "{table}");
        assert!(rows[1].contains("| error / 1 *error* |"), "{table}");
        assert!(rows[2].contains("| 4 / 0 **FAIL** | 0.250 **FAIL** |"), "{table}");
        let mut nothing = intervals[0].signals[0].0.clone();
        nothing.canary = Reading::NoData;
        nothing.baseline = Some(Reading::NoData);
        assert_eq!(reading_cell(&nothing, Verdict::NoData), "no data / no data");
    }

    #[test]
    fn a_reading_that_could_not_be_taken_says_why() {
        let text = unmeasured(&fixture::intervals());
        assert!(text.contains("- #2 `conditions` canary: the API answered 503"), "{text}");
        assert!(!text.contains("#1"), "{text}");
    }

    #[test]
    fn the_release_before_the_run_is_the_recorded_operator_image() {
        let mut journal = fixture::journal();
        assert_eq!(release_before(&journal), "operator image `registry.example/demo-operator:v1.0.0`");
        journal.recorded.clear();
        assert_eq!(release_before(&journal), "not recorded");
    }

    #[test]
    fn charts_are_linked_only_when_they_are_written() {
        let journal = fixture::journal();
        let linked = render_markdown(&journal, Heartbeat::None, None, ChartLinks::Relative);
        assert!(linked.contains("![conditions over the analysis](demo-operator-v1-1-conditions.svg)"), "{linked}");
        let omitted = render_markdown(&journal, Heartbeat::None, None, ChartLinks::Omitted);
        assert!(!omitted.contains(".svg"), "{omitted}");
    }

    #[test]
    fn the_report_reads_as_the_snapshot() {
        let journal = fixture::journal();
        insta::assert_snapshot!(render_markdown(&journal, Heartbeat::None, None, ChartLinks::Relative));
    }
}
