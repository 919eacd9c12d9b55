//! `operator-upgrade demo`: the whole upgrade on the built-in simulator, told in two acts. A bad release
//! goes to a canary, fails its analysis against the baseline and is rolled back by the tool itself; then
//! the good release goes to a canary, passes, is promoted and finalized. Everything goes through the same
//! commands a person runs (`apply`, `status`) over a real `kube::Client` and a kubeconfig, so the demo shows
//! the tool, not a replay of it.

mod story;

pub use story::{judge_acts, DemoVerdict};

use crate::cluster::{connect, ClusterArgs, ClusterError, Objects};
use crate::engine::{self, Acceptance, ApplyOptions, EngineError, OutputMode, RehearsalCheck, Upgrade};
use crate::findings::Severity;
use crate::health::wait_until_ready;
use crate::report::{Detail, OutputFormat, PlanReport};
use crate::sim::{kubeconfig_text, Scenario, ScenarioError, Sim, SimError, SimHandle};
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

/// The files of a demo: the simulated cluster and the two plans, one per act.
#[derive(Debug, Clone)]
pub struct DemoFiles {
    /// The simulator's scenario (the old release installed, its objects, each image's behaviour).
    pub scenario: PathBuf,
    /// The first act's plan: a release whose operator is broken.
    pub bad_plan: PathBuf,
    /// The second act's plan: the good release.
    pub good_plan: PathBuf,
}

impl DemoFiles {
    /// The demo's files in `dir`: `scenario.yaml`, `plan-bad.yaml` and `plan.yaml`.
    pub fn in_dir(dir: &Path) -> DemoFiles {
        DemoFiles {
            scenario: dir.join("scenario.yaml"),
            bad_plan: dir.join("plan-bad.yaml"),
            good_plan: dir.join("plan.yaml"),
        }
    }
}

/// How the demo is shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoOptions {
    /// Leave the simulator running at the end (until Ctrl-C) and print its kubeconfig.
    pub keep: bool,
    /// Wait for Enter between the acts.
    pub pause: bool,
    /// Colour the plan (on a terminal).
    pub color: bool,
}

/// What stops the demo before its acts could end.
#[derive(Debug, Error)]
pub enum DemoError {
    /// The scenario file cannot be used (the error names the file).
    // The cause is in the message rather than a `source`, so a printed chain says it once.
    #[error("cannot use the demo's scenario: {cause}")]
    Scenario {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: ScenarioError,
    },
    /// The simulator did not start.
    #[error("cannot start the simulator: {0}")]
    Sim(#[from] SimError),
    /// A plan, or a command of the engine, failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Talking to the simulator failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The simulated operator did not reconcile its objects in time.
    #[error("the old release's operator did not make every object Ready within {0:?}: {1}")]
    NotSettled(Duration, String),
}

/// How long the old operator gets to make every object Ready before the first act.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the demo: both plans loaded (bad input stops it before anything starts), the simulator started,
/// the plan printed, the two acts, the verdict. Returns the verdict; its exit code is the demo's.
pub async fn run(files: &DemoFiles, options: DemoOptions) -> Result<DemoVerdict, DemoError> {
    let started = Instant::now();
    let scenario =
        Scenario::load(&files.scenario).map_err(|cause| DemoError::Scenario { path: files.scenario.clone(), cause })?;
    let bad = Upgrade::load(&files.bad_plan)?;
    let good = Upgrade::load(&files.good_plan)?;
    let sim = Sim::start(scenario).await?;
    let client = connect(&ClusterArgs { kubeconfig: Some(sim.kubeconfig_path().to_owned()), context: None }).await?;
    say(&story::prologue(&sim.url(), &good));
    let ready = old_release_settled(&client, &good).await?;
    say(&story::before_the_plan(ready, &good));
    print!("{}", plan_text(&good, options.color));
    pause(options.pause).await;

    say(&story::act_one(&bad));
    let first = engine::apply(client.clone(), &bad, &apply_options(&bad, false)).await?;
    println!("{first}");
    say(&story::after_act_one(&first));
    engine::status(client.clone(), Some(bad.name()), OutputMode::Text).await?;
    pause(options.pause).await;

    say(&story::act_two(&good));
    let second = engine::apply(client.clone(), &good, &apply_options(&good, true)).await?;
    println!("{second}");
    engine::status(client.clone(), Some(good.name()), OutputMode::Text).await?;

    let verdict = judge_acts(&first, &second);
    say(&story::epilogue(&verdict, started.elapsed()));
    if options.keep {
        keep_running(&sim).await;
    }
    Ok(verdict)
}

/// The options of an act's `apply`: no prompt, and the plan's breaking findings accepted by code, as a
/// person does with `--accept CODE` once they have read them (the demo release breaks things on purpose).
fn apply_options(upgrade: &Upgrade, finalize: bool) -> ApplyOptions {
    ApplyOptions {
        yes: true,
        dry_run: false,
        fail_on: Some(Severity::Breaking),
        accept: accepted_codes(upgrade),
        finalize,
        promote: false,
        output: OutputMode::Text,
        rehearsal: RehearsalCheck::Enforce(None),
    }
}

/// One acceptance per code of the plan's findings at or above breaking.
fn accepted_codes(upgrade: &Upgrade) -> Vec<Acceptance> {
    let plan = &upgrade.plan;
    let crd = plan.findings.iter().map(|f| (f.severity, f.code));
    let operator = plan.operator_findings.iter().map(|f| (f.severity, f.code));
    let codes: BTreeSet<_> = crd.chain(operator).filter(|(s, _)| *s >= Severity::Breaking).map(|(_, c)| c).collect();
    codes.into_iter().map(|code| Acceptance { code, path: None }).collect()
}

/// The plan as `plan` prints it: every warning and above, info summarised.
fn plan_text(upgrade: &Upgrade, color: bool) -> String {
    PlanReport::new(&upgrade.plan, Severity::Info)
        .with_detail(Detail::Summary)
        .with_plan_file(&upgrade.loaded)
        .render(OutputFormat::Text, color)
}

/// Waits until the old operator has made every object of the release's kinds Ready, so the first act starts
/// from a healthy cluster (as a real upgrade should) rather than from objects nobody reconciled yet.
/// Returns how many objects there are.
async fn old_release_settled(client: &kube::Client, upgrade: &Upgrade) -> Result<usize, DemoError> {
    let objects = Objects::new(client.clone(), false);
    let kinds = upgrade.old_custom_resource_kinds();
    let wait = wait_until_ready(&objects, &kinds, "Ready", &BTreeSet::new(), 1, SETTLE_TIMEOUT).await?;
    match wait.observed {
        _ if wait.settled(1) => Ok(wait.observed),
        0 => Err(DemoError::NotSettled(SETTLE_TIMEOUT, "no objects".to_owned())),
        _ => Err(DemoError::NotSettled(SETTLE_TIMEOUT, format!("waiting for {}", wait.not_ready.join(", ")))),
    }
}

/// Prints narration as its own paragraph.
fn say(text: &str) {
    println!("\n{text}\n");
}

/// With `--pause`, waits for Enter (an end of input goes on too, so a pipe never hangs).
async fn pause(enabled: bool) {
    if !enabled {
        return;
    }
    println!("(press Enter to go on)");
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    })
    .await;
}

/// `--keep`: says how to look at the simulator, prints its kubeconfig, and serves until Ctrl-C (the
/// kubeconfig file lives as long as the simulator).
async fn keep_running(sim: &SimHandle) {
    say(&story::keeping(&sim.url(), sim.kubeconfig_path(), std::io::stdout().is_terminal()));
    println!("{}", kubeconfig_text(sim.addr()));
    sim.wait_for_ctrl_c().await;
}

/// The exit code of a demo that ran: 0 when both acts ended as they should, 1 otherwise.
pub fn exit_code(verdict: &DemoVerdict) -> u8 {
    match verdict {
        DemoVerdict::AsExpected => 0,
        DemoVerdict::Unexpected(_) => 1,
    }
}

#[cfg(test)]
mod tests;
