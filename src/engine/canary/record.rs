//! What the journal keeps of an analysis beside a canary's record: the intervals and decision of an
//! analysis without a canary (a canary keeps its own in its record), and, for both, what the judge carries
//! from one interval to the next, so a run killed during the analysis resumes it where it stopped.

use crate::canary::judge::{Decision, IntervalResult, Tally};
use crate::canary::measure::{KeptMemory, OwnerGeneration};
use crate::engine::journal::{Journal, MAX_INTERVALS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The analysis as the journal keeps it (`analysis` in the journal).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisJournal {
    /// Without a canary: the intervals so far (the newest [`MAX_INTERVALS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<IntervalResult>,
    /// Without a canary: how the analysis ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Without a canary: the sampled objects' dependents' fingerprints before the promotion (by unit), so a
    /// release that rewrites them as it takes over is seen.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependents: BTreeMap<String, u64>,
    /// Those objects' generations as their dependents were fingerprinted (what explains a change).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub owner_generations: BTreeMap<String, OwnerGeneration>,
    /// What the judge carries between intervals, once the analysis took its zero point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<JudgeMemory>,
}

/// What the judge carries from one interval to the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JudgeMemory {
    /// When the analysis took its zero point (RFC 3339): every interval's time counts from it.
    pub began: String,
    /// Each signal's counts (failures, inconclusive, errors in a row): the journal's newest intervals
    /// alone may no longer give them.
    pub tally: Tally,
    /// The canary's (without a canary: the fleet's) counters and catch-up starts.
    pub canary: KeptMemory,
    /// The baseline's, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<KeptMemory>,
}

/// The analysis's intervals so far: the canary's, or the fleet's without one.
pub fn intervals(journal: &Journal) -> &[IntervalResult] {
    match &journal.canary {
        Some(canary) => &canary.intervals,
        None => journal.analysis.as_ref().map(|a| a.intervals.as_slice()).unwrap_or_default(),
    }
}

/// How the analysis ended, once it has: the canary's, or the fleet's without one.
pub fn decision(journal: &Journal) -> Option<&Decision> {
    match &journal.canary {
        Some(canary) => canary.decision.as_ref(),
        None => journal.analysis.as_ref().and_then(|a| a.decision.as_ref()),
    }
}

/// Journals one interval, the decision it led to (unless the analysis goes on) and the judge's memory.
pub fn record_interval(journal: &mut Journal, interval: IntervalResult, decision: &Decision, memory: JudgeMemory) {
    let analysis = journal.analysis.get_or_insert_with(AnalysisJournal::default);
    analysis.memory = Some(memory);
    let decided = (*decision != Decision::Continue).then(|| decision.clone());
    let (intervals, ended) = match journal.canary.as_mut() {
        Some(canary) => (&mut canary.intervals, &mut canary.decision),
        None => (&mut analysis.intervals, &mut analysis.decision),
    };
    intervals.push(interval);
    if intervals.len() > MAX_INTERVALS {
        intervals.remove(0);
    }
    if decided.is_some() {
        *ended = decided;
    }
}
