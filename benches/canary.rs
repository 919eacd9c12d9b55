//! `cargo bench --bench canary`: the demo operator's canary over 10,000 Widgets (10%: 1,000 canary and 1,000
//! baseline objects) on the simulator, through the real `kube::Client` and the engine as `apply` runs it:
//!
//! - labelling: how long marking the 2,000 cohort objects takes (from the `canary-rollout` step);
//! - analysis overhead: how long one interval's measurement of both cohorts takes (every signal of the demo
//!   plan: conditions, observedGeneration, pod restarts, Warning events, dependents, pod metrics);
//! - regression to rollback: with the bad release, the time from the canary's first failed reconcile to
//!   the restored state (the rollback's own measurement), and the whole run's wall time.
//!
//! The simulator runs in this process. `OBJECTS=n` changes the number of Widgets (default 10,000).

use operator_upgrade::cluster::journal_store::JournalStore;
use operator_upgrade::engine::journal::Journal;
use operator_upgrade::engine::{apply, ApplyOptions, OutputMode, RehearsalCheck, Upgrade};
use operator_upgrade::sim::{Scenario, Sim};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_OBJECTS: usize = 10_000;

fn demo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator").join(relative)
}

/// The demo plan with `image` as the new release, a 5s interval (4 measurements) after a 5s warm-up.
fn plan(dir: &Path, image: &str) -> PathBuf {
    let release = dir.join("v1.1.0");
    std::fs::create_dir_all(&release).expect("release dir");
    for file in ["crds.yaml", "operator.yaml"] {
        let text = std::fs::read_to_string(demo("v1.1.0").join(file)).expect("reads the demo release");
        let text = text.replace("registry.example/demo-operator:v1.1.0", image);
        std::fs::write(release.join(file), text).expect("writes the release");
    }
    let text = std::fs::read_to_string(demo("plan.yaml")).expect("reads the demo plan");
    let text = text
        .replace("path: v1.0.0", &format!("path: {}", demo("v1.0.0").display()))
        .replace("interval: 10s\n    duration: 1m\n    warmUp: 5s", "interval: 5s\n    count: 4\n    warmUp: 5s")
        .replace("maxCatchUp: 30s", "maxCatchUp: 60s");
    let path = dir.join("plan.yaml");
    std::fs::write(&path, text).expect("writes the plan");
    path
}

async fn journal(sim: &operator_upgrade::sim::SimHandle, upgrade: &Upgrade) -> Journal {
    let store = JournalStore::new(sim.client(), upgrade.namespace(), upgrade.name());
    let stored = store.load().await.expect("the journal loads").expect("a journal");
    serde_json::from_slice(&stored.json).expect("the journal parses")
}

async fn run(count: usize, image: &str) {
    let mut scenario = Scenario::load(&demo("scenario.yaml")).expect("the demo scenario loads");
    scenario.populations[0].count = count;
    let started = Instant::now();
    let sim = Sim::start(scenario).await.expect("sim starts");
    wait_ready(&sim, count).await;
    println!("{count} Widgets Ready under v1.0.0 in {:.1} s", started.elapsed().as_secs_f64());
    let dir = tempfile::tempdir().expect("temp dir");
    let upgrade = Upgrade::load(&plan(dir.path(), image)).expect("the plan loads");
    let options = ApplyOptions {
        yes: true,
        dry_run: false,
        fail_on: None,
        accept: Vec::new(),
        finalize: false,
        promote: false,
        output: OutputMode::Text,
        rehearsal: RehearsalCheck::Enforce(None),
    };
    let start = Instant::now();
    let outcome = apply(sim.client(), &upgrade, &options).await.expect("apply runs");
    let wall = start.elapsed().as_secs_f64();
    let journal = journal(&sim, &upgrade).await;
    let rollout = journal.steps.iter().find(|s| s.title.contains("canary cohort")).and_then(|s| s.message.clone());
    let intervals = journal.canary.as_ref().map(|c| c.intervals.clone()).unwrap_or_default();
    let took: Vec<String> = intervals.iter().map(|i| format!("{:.2}", i.took_ms as f64 / 1000.0)).collect();
    println!("{image}: {outcome}");
    println!("  canary-rollout: {}", rollout.unwrap_or_default());
    println!("  analysis overhead per interval (both cohorts, every signal): [{}] s", took.join(", "));
    for note in journal.notes.iter().filter(|n| n.contains("restored")) {
        println!("  {note}");
    }
    println!("  apply wall time {wall:.1} s; reconciler conflicts {}", sim.reconciler_conflicts().len());
}

async fn wait_ready(sim: &operator_upgrade::sim::SimHandle, count: usize) {
    let objects = operator_upgrade::cluster::Objects::new(sim.client(), false);
    loop {
        let widgets = objects.list_all("demo.operator-upgrade.dev/v1alpha1", "Widget", None).await.expect("lists");
        let ready = widgets.iter().filter(|w| w["status"]["conditions"][0]["status"] == "True").count();
        if ready == count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[tokio::main]
async fn main() {
    let count = std::env::var("OBJECTS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_OBJECTS);
    run(count, "registry.example/demo-operator:v1.1.0").await;
    run(count, "registry.example/demo-operator:v1.1.0-bad").await;
}
