//! `analysis`: after the warm-up, every interval, each signal of the plan is measured and judged, by one
//! judge whether or not the plan has a canary. With a canary, on the canary and the baseline cohort side
//! by side; without one, on every object of the release's kinds under the new release's operator, against
//! the signals' absolute limits (there is no baseline to compare with). The verdict comes in the interval
//! whose measurement crosses the plan's limits. Each interval is journaled with what the judge carries to
//! the next (counters' zero points, catch-up starts, counts), so `status` shows it and a resumed run goes
//! on from it as if it had never stopped.

use super::observation::observe;
use super::record::{intervals, record_interval, JudgeMemory};
use super::{cohort_kinds, policy, table};
use crate::canary::cohort::Cohort;
use crate::canary::judge::{Decision, IntervalResult, Limits, Tally};
use crate::canary::measure::{readings, reconciles_of, CohortKinds, CohortMemory, CohortObservation, CohortStart};
use crate::canary::scoping::copy_pod_selector;
use crate::cluster::ClusterError;
use crate::engine::journal::{CanaryRecord, Journal};
use crate::engine::now;
use crate::engine::run::Run;
use crate::engine::upgrade::Upgrade;
use crate::plan::file::{AnalysisLength, AnalysisPolicy, InconclusiveAction, MetricSource, Signal};
use crate::plan::steps::StepKind;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// What the analysis ended with, for the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnalysisEnd {
    /// Promote.
    Passed(String),
    /// Roll back (or pause, if the plan does not roll back by itself).
    Failed(String),
    /// Stop for a person: `apply --promote` or `rollback`.
    Paused(String),
}

/// What an analysis measures.
pub(super) enum Subject {
    /// The canary cohort, and the baseline cohort when the plan has one, each on its own Deployment.
    Cohorts {
        /// The canary as its rollout recorded it.
        record: Box<CanaryRecord>,
        /// The cohorts' kinds.
        kinds: CohortKinds,
    },
    /// Without a canary: every object of the release's kinds, under the new release's operator.
    Fleet {
        /// The release's kinds.
        kinds: CohortKinds,
        /// When the promotion began: Warning events count from here.
        since: String,
        /// When the promotion ended (the new release settled): the warm-up counts from here.
        settled: Option<String>,
        /// The objects (by unit) whose dependents were fingerprinted before the promotion; empty: every one,
        /// from the analysis's zero point.
        sample: BTreeSet<String>,
    },
}

impl Subject {
    /// The subject of the run's analysis; Err when a canary's rollout left nothing to measure.
    fn of(journal: &Journal, upgrade: &Upgrade) -> Result<Subject, String> {
        if upgrade.loaded.canary_enabled() {
            let canary = policy(upgrade)?;
            let record = Box::new(journal.canary.clone().ok_or("the canary rollout recorded no cohorts")?);
            return Ok(Subject::Cohorts { record, kinds: cohort_kinds(upgrade, canary) });
        }
        let promotion = journal.steps.iter().find(|s| s.kind == StepKind::Promotion);
        Ok(Subject::Fleet {
            kinds: upgrade.old_custom_resource_kinds(),
            since: promotion.and_then(|s| s.started.clone()).unwrap_or_else(|| journal.started.clone()),
            settled: promotion.and_then(|s| s.ended.clone()),
            sample: journal.analysis.iter().flat_map(|a| a.dependents.keys().cloned()).collect(),
        })
    }

    /// Whether a baseline is measured beside the canary.
    fn has_baseline(&self) -> bool {
        matches!(self, Subject::Cohorts { record, .. } if record.copies.iter().any(|(c, _)| *c == Cohort::Baseline))
    }

    /// What the measured values are of, for the table's header.
    fn sides(&self) -> &'static str {
        match self {
            Subject::Cohorts { .. } if self.has_baseline() => "canary / baseline",
            Subject::Cohorts { .. } => "canary",
            Subject::Fleet { .. } => "every object",
        }
    }

    /// When the warm-up began: the canary's start, or the end of the promotion.
    fn warm_up_from(&self) -> Option<&str> {
        match self {
            Subject::Cohorts { record, .. } => record.started.as_deref(),
            Subject::Fleet { settled, .. } => settled.as_deref(),
        }
    }

    /// What the measured objects started from.
    fn start(&self, journal: &Journal) -> CohortStart {
        let not_ready_before = journal.baseline_not_ready.iter().cloned().collect();
        match self {
            Subject::Cohorts { record, .. } => CohortStart {
                not_ready_before,
                dependents: record.dependents.clone(),
                owners: record.owner_generations.clone(),
            },
            Subject::Fleet { .. } => {
                let analysis = journal.analysis.clone().unwrap_or_default();
                CohortStart { not_ready_before, dependents: analysis.dependents, owners: analysis.owner_generations }
            }
        }
    }
}

/// Executes the `analysis` step, with or without a canary.
pub async fn analyse(run: &mut Run, upgrade: &Upgrade) -> Result<AnalysisEnd, ClusterError> {
    if run.objects.is_dry_run() {
        return Ok(AnalysisEnd::Passed("dry run: nothing to measure".to_owned()));
    }
    let subject = match Subject::of(&run.journal, upgrade) {
        Ok(subject) => subject,
        Err(why) => return Ok(AnalysisEnd::Failed(why)),
    };
    let analysis = upgrade.loaded.analysis();
    let limits = Limits {
        failure: analysis.failure_limit,
        inconclusive: analysis.inconclusive_limit,
        consecutive_errors: analysis.consecutive_error_limit,
    };
    let total = measurement_count(analysis);
    let journaled = run.journal.analysis.as_ref().and_then(|a| a.memory.clone());
    let mut tally = match &journaled {
        Some(memory) => memory.tally.clone(),
        None => tally_of(intervals(&run.journal), limits, total),
    };
    let done = intervals(&run.journal).last().map_or(0, |i| i.index);
    if done == 0 {
        wait_warm_up(subject.warm_up_from(), analysis.warm_up.to_std()).await;
        if matches!(subject, Subject::Cohorts { .. }) {
            if let Err(why) = check_canary_reconciles(run, upgrade, analysis).await {
                return Ok(AnalysisEnd::Failed(why));
            }
        }
    }
    let start = subject.start(&run.journal);
    let has_baseline = subject.has_baseline();
    let began = journaled.as_ref().map_or_else(now, |m| m.began.clone());
    let (mut canary_memory, mut baseline_memory) =
        zero_point(run, upgrade, &subject, &start, &began, journaled.as_ref()).await?;
    if journaled.is_none() {
        let memory = judge_memory(&began, &tally, &canary_memory, has_baseline.then_some(&baseline_memory));
        run.journal.analysis.get_or_insert_with(Default::default).memory = Some(memory);
        run.save().await?;
    }
    let table = table::Live::start(&run.reporter, table::header(analysis, subject.sides()));
    for index in done + 1..=total {
        tokio::time::sleep(analysis.interval.to_std()).await;
        let measuring = Instant::now();
        let (canary_seen, baseline_seen) = observe(run, upgrade, &subject).await?;
        let at = since(&began);
        let baseline = baseline_seen.as_ref().map(|seen| (seen, &mut baseline_memory));
        let measured = readings(analysis, &start, at, (&canary_seen, &mut canary_memory), baseline);
        let mut interval = IntervalResult::judge(index, at.as_secs(), measured);
        interval.took_ms = u64::try_from(measuring.elapsed().as_millis()).unwrap_or(u64::MAX);
        let decision = tally.record(&interval, limits, index == total);
        table.add(&run.reporter, table::row(&interval));
        let memory = judge_memory(&began, &tally, &canary_memory, has_baseline.then_some(&baseline_memory));
        record_interval(&mut run.journal, interval, &decision, memory);
        run.save().await?;
        if decision != Decision::Continue {
            table.finish(&run.reporter);
        }
        match decision {
            Decision::Continue => {}
            Decision::Pass => {
                return Ok(AnalysisEnd::Passed(format!("{index} intervals, every signal within its limits")))
            }
            Decision::Fail(why) => return Ok(AnalysisEnd::Failed(why)),
            Decision::Inconclusive(why) => return Ok(inconclusive(analysis.on_inconclusive, why)),
        }
    }
    table.finish(&run.reporter);
    Ok(AnalysisEnd::Passed(format!("{total} intervals, every signal within its limits")))
}

/// The tally of the journaled intervals (a journal of an older tool kept no tally of its own).
fn tally_of(journaled: &[IntervalResult], limits: Limits, total: u32) -> Tally {
    let mut tally = Tally::default();
    for (i, interval) in journaled.iter().enumerate() {
        tally.record(interval, limits, i as u32 + 1 == total);
    }
    tally
}

/// The zero point the first interval measures from: an observation now, or, resuming, what the journal
/// kept of the memory before the tool stopped (see [`CohortMemory::resumed`]).
async fn zero_point(
    run: &mut Run,
    upgrade: &Upgrade,
    subject: &Subject,
    start: &CohortStart,
    began: &str,
    journaled: Option<&JudgeMemory>,
) -> Result<(CohortMemory, CohortMemory), ClusterError> {
    let analysis = upgrade.loaded.analysis();
    let (mut canary_memory, mut baseline_memory) = (CohortMemory::default(), CohortMemory::default());
    let (mut canary_zero, mut baseline_zero) = observe(run, upgrade, subject).await?;
    if matches!(subject, Subject::Cohorts { .. }) || !start.dependents.is_empty() {
        // Dependents count from the start, not from here: a release rewrites them as it takes over.
        canary_zero.dependents = None;
        if let Some(zero) = baseline_zero.as_mut() {
            zero.dependents = None;
        }
    }
    let baseline = baseline_zero.as_ref().map(|zero: &CohortObservation| (zero, &mut baseline_memory));
    let _ = readings(analysis, start, since(began), (&canary_zero, &mut canary_memory), baseline);
    if let Some(kept) = journaled {
        canary_memory = CohortMemory::resumed(&kept.canary, canary_memory);
        if let Some(baseline) = &kept.baseline {
            baseline_memory = CohortMemory::resumed(baseline, baseline_memory);
        }
    }
    Ok((canary_memory, baseline_memory))
}

/// What the journal keeps of the judge after an interval.
fn judge_memory(began: &str, tally: &Tally, canary: &CohortMemory, baseline: Option<&CohortMemory>) -> JudgeMemory {
    JudgeMemory {
        began: began.to_owned(),
        tally: tally.clone(),
        canary: canary.kept(),
        baseline: baseline.map(CohortMemory::kept),
    }
}

/// How long ago `began` (RFC 3339) was; zero when it does not parse or lies ahead.
fn since(began: &str) -> Duration {
    began
        .parse::<jiff::Timestamp>()
        .ok()
        .and_then(|b| jiff::Timestamp::now().duration_since(b).try_into().ok())
        .unwrap_or(Duration::ZERO)
}

fn inconclusive(action: InconclusiveAction, why: String) -> AnalysisEnd {
    match action {
        InconclusiveAction::Pause => AnalysisEnd::Paused(format!(
            "the analysis is inconclusive: {why}. `apply --promote` promotes, `rollback` aborts"
        )),
        InconclusiveAction::Rollback => {
            AnalysisEnd::Failed(format!("inconclusive, rolled back as the plan says: {why}"))
        }
        InconclusiveAction::Promote => AnalysisEnd::Passed(format!("inconclusive, promoted as the plan says: {why}")),
    }
}

/// How many intervals the analysis measures.
pub fn measurement_count(analysis: &AnalysisPolicy) -> u32 {
    match analysis.length() {
        AnalysisLength::Duration(d) => {
            u32::try_from((d.as_millis() / analysis.interval.as_millis().max(1)).max(1)).unwrap_or(u32::MAX)
        }
        AnalysisLength::Count(count) => count,
    }
}

/// Sleeps until the warm-up after `from` (RFC 3339; unknown: now) has passed.
async fn wait_warm_up(from: Option<&str>, warm_up: Duration) {
    tokio::time::sleep(warm_up.saturating_sub(from.map_or(Duration::ZERO, since))).await;
}

/// A canary that reconciled nothing within the warm-up (it waits for a lease another Deployment holds, its
/// scope matches nothing) fails: its objects would look healthy only because nobody touched them. The
/// reconciles are the operator's own counter: the `per` series of the plan's first pod metric that has one
/// (`controller_runtime_reconcile_total`, `strimzi_reconciliations_total`), else that metric's series.
async fn check_canary_reconciles(run: &Run, upgrade: &Upgrade, analysis: &AnalysisPolicy) -> Result<(), String> {
    let proxies: Vec<&crate::plan::file::PodProxyMetric> = analysis
        .signals
        .iter()
        .filter_map(|s| match s {
            Signal::Metric(m) => match &m.source {
                MetricSource::PodProxy(p) => Some(p),
                MetricSource::Prometheus(_) => None,
            },
            _ => None,
        })
        .collect();
    let Some(metric) = proxies.iter().find(|p| p.per.is_some()).or(proxies.first()) else {
        run.reporter
            .info("  (the plan scrapes no pod metrics, so whether the canary reconciled at all is not checked)");
        return Ok(());
    };
    let counter = metric.per.clone().unwrap_or_else(|| metric.series.clone());
    let selector = copy_pod_selector(Cohort::Canary, &run.journal.run_id);
    match reconciles_of(run.objects.client(), upgrade.namespace(), &selector, metric, &counter).await {
        Ok(n) if n > 0.0 => Ok(()),
        Ok(_) => Err(format!(
            "the canary reconciled nothing within the warm-up of {} ({counter} did not grow): does it share the stable Deployment's leader-election lease, or match no object?",
            analysis.warm_up
        )),
        Err(why) => Err(format!("the canary's reconciles cannot be read after the warm-up: {why}")),
    }
}
