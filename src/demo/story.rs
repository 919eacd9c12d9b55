//! What the demo says between the acts, in plain words, and whether the acts ended as they should: pure
//! functions of the plans and the outcomes.

use crate::engine::{Outcome, Upgrade};
use crate::plan::file::{AnalysisLength, ReleaseVersion};
use std::path::Path;
use std::time::Duration;

/// Whether the demo showed what it exists to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoVerdict {
    /// The bad release was rolled back by the tool and the good one promoted and finalized.
    AsExpected,
    /// An act ended otherwise, with what happened.
    Unexpected(String),
}

/// Judges the two acts' outcomes: the first must have rolled itself back, the second must be done (promoted
/// and finalized).
pub fn judge_acts(first: &Outcome, second: &Outcome) -> DemoVerdict {
    let mut wrong = Vec::new();
    if !matches!(first, Outcome::RolledBack(_)) {
        wrong.push(format!("act 1 (the bad release) should have rolled back by itself, but ended {first}"));
    }
    if !matches!(second, Outcome::Done(_)) {
        wrong.push(format!("act 2 (the good release) should have been promoted and finalized, but ended {second}"));
    }
    if wrong.is_empty() {
        DemoVerdict::AsExpected
    } else {
        DemoVerdict::Unexpected(wrong.join("; "))
    }
}

/// A plan's analysis in words: `6 intervals of 10s after a 5s warm-up`.
fn analysis_words(upgrade: &Upgrade) -> String {
    let analysis = upgrade.loaded.analysis();
    let length = match analysis.length() {
        AnalysisLength::Duration(duration) => format!("every {} for {duration}", analysis.interval),
        AnalysisLength::Count(count) => format!("{count} intervals of {}", analysis.interval),
    };
    format!("{length}, after a {} warm-up", analysis.warm_up)
}

/// The canary's size in words, from the plan.
fn cohort_words(upgrade: &Upgrade) -> String {
    let Some(cohort) = upgrade.loaded.canary().map(|c| &c.cohort) else { return "some of the objects".to_owned() };
    match (cohort.count, cohort.percentage) {
        (Some(count), _) => format!("{count} of the objects"),
        (None, Some(percentage)) => format!("{percentage}% of the objects"),
        (None, None) => "some of the objects".to_owned(),
    }
}

/// A release's version as the plan names it (`the new release` when it does not).
fn version(version: &Option<ReleaseVersion>) -> String {
    version.as_ref().map(ToString::to_string).unwrap_or_else(|| "the release".to_owned())
}

/// Before anything: what the cluster is.
pub fn prologue(url: &str, good: &Upgrade) -> String {
    format!(
        "== operator-upgrade demo ==\n\
         A simulated Kubernetes API server is running at {url}, with the demo operator {from} installed and\n\
         the objects it manages. The tool talks to it exactly as to a real cluster, through a kubeconfig.",
        from = version(&good.loaded.plan.spec.from.version),
    )
}

/// Once the old operator has made every object Ready: what the plan is about to show.
pub fn before_the_plan(ready: usize, good: &Upgrade) -> String {
    format!(
        "The {from} operator has made all {ready} objects Ready. First, the plan for {from} -> {to}: what\n\
         changes in the CRDs and the operator, how risky each change is, and the steps `apply` runs.",
        from = version(&good.loaded.plan.spec.from.version),
        to = version(&good.loaded.plan.spec.to.version),
    )
}

/// The first act's opening: a broken release.
pub fn act_one(bad: &Upgrade) -> String {
    format!(
        "== Act 1: a bad release ==\n\
         Suppose the release you were handed is broken: {to} has the same CRD changes, but its operator fails\n\
         to reconcile. `apply` moves {cohort} to a canary of the new operator, and an equal number to a\n\
         baseline running the old one, then compares the two ({analysis}).\n\
         As soon as the canary is worse than the baseline, the run rolls itself back: no person has to notice.",
        to = version(&bad.loaded.plan.spec.to.version),
        cohort = cohort_words(bad),
        analysis = analysis_words(bad),
    )
}

/// After the first act: what happened, then what `status` is about to show.
pub fn after_act_one(first: &Outcome) -> String {
    let what = match first {
        Outcome::RolledBack(_) => "The canary failed its analysis and the tool rolled everything back by itself.",
        _ => "That is not what should have happened: the bad release should have been rolled back.",
    };
    format!(
        "{what}\n`operator-upgrade status` reads the run from the cluster's journal: every step, the analysis, and\n\
         what was restored (the CRDs, the operator's Deployment, the objects' labels)."
    )
}

/// The second act's opening: the good release.
pub fn act_two(good: &Upgrade) -> String {
    format!(
        "== Act 2: the good release ==\n\
         Now {to}, the release as it should be, with the same canary, baseline and analysis\n\
         ({analysis}). This time the canary is as healthy as the baseline, so the tool promotes the new\n\
         operator to every object, then finalizes: the objects are migrated to the new storage version and the\n\
         old version is no longer stored.",
        to = version(&good.loaded.plan.spec.to.version),
        analysis = analysis_words(good),
    )
}

/// The end: the verdict and how long it took.
pub fn epilogue(verdict: &DemoVerdict, took: Duration) -> String {
    let seconds = took.as_secs();
    match verdict {
        DemoVerdict::AsExpected => format!(
            "== Done in {}m {:02}s ==\n\
             The bad release was caught on a canary and rolled back without anyone watching; the good one was\n\
             promoted and finalized. Try it on your own operator: `operator-upgrade plan --from OLD --to NEW`.",
            seconds / 60,
            seconds % 60
        ),
        DemoVerdict::Unexpected(why) => format!("== The demo did not go as it should ({}s) ==\n{why}", seconds),
    }
}

/// `--keep`: where the simulator is and how to look at it.
pub fn keeping(url: &str, kubeconfig: &Path, terminal: bool) -> String {
    let stop = if terminal { "Press Ctrl-C to stop it." } else { "Stop it with Ctrl-C (SIGINT)." };
    format!(
        "The simulator keeps running at {url}. Look with kubectl:\n  \
         export KUBECONFIG={path}\n  \
         kubectl get widgets -A --show-labels\n  \
         operator-upgrade status\n\
         {stop} The kubeconfig ({path}):",
        path = kubeconfig.display(),
    )
}
