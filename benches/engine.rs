//! `cargo bench --bench engine`: the engine's two bulk passes over 100,000 custom resources on the simulator,
//! through the real `kube::Client`:
//!
//! - the storage migration (`engine::migrate::migrate_kind`: pages of 500, a no-op PUT per object, 8 at a
//!   time) of Widgets under the demo operator's v1.1.0 CRD (storage `v1`, `v1alpha1` served): objects per
//!   second and the process's peak RSS (`VmHWM`) before the simulator, after populating it and after the
//!   migration;
//! - the live plan's list-and-validate (`engine::preflight::validate_objects`) of Widgets under the v1.0.0 CRD
//!   against a plan v1.0.0 -> v1.1.0 without a canary: objects per second and findings.
//!
//! The simulator runs in this process, so the peak RSS includes its store. `OBJECTS=n` changes the number of
//! objects (default 100,000).

use operator_upgrade::cluster::Objects;
use operator_upgrade::engine::migrate::migrate_kind;
use operator_upgrade::engine::preflight::validate_objects;
use operator_upgrade::engine::Upgrade;
use operator_upgrade::sim::{ObjectTemplate, Population, Scenario, Sim};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

// The same allocator as the `operator-upgrade` binary, so the numbers are the command's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/rss.rs"]
mod rss;
use rss::peak_rss_kib;

const DEFAULT_OBJECTS: usize = 100_000;
const GROUP: &str = "demo.operator-upgrade.dev";

fn demo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator").join(relative)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `count` Widgets written as `v1alpha1`, in `default`, under the CRDs of `crds`.
fn scenario(crds: PathBuf, count: usize) -> Scenario {
    let template = ObjectTemplate::from_json(json!({
        "apiVersion": "demo.operator-upgrade.dev/v1alpha1", "kind": "Widget",
        "metadata": {"namespace": "default", "labels": {"app.kubernetes.io/part-of": "bench"}},
        "spec": {"image": "nginx:1.27", "tier": "silver", "replicas": 1, "ports": [{"name": "http", "port": 80}]},
        "status": {"phase": "Ready", "observedGeneration": 1}
    }))
    .expect("the template is an object template");
    Scenario {
        manifests: vec![crds],
        populations: vec![Population { count, name_prefix: "widget-".into(), template, label_every: None }],
        ..Scenario::default()
    }
}

/// The names the population generates: the index zero-padded to the width of `count - 1`.
fn widget_name(index: usize, count: usize) -> String {
    let width = count.saturating_sub(1).to_string().len();
    format!("widget-{index:0width$}")
}

async fn migration(count: usize) {
    let before_sim = peak_rss_kib();
    let started = Instant::now();
    let sim = Sim::start(scenario(demo("v1.1.0/crds.yaml"), count)).await.expect("sim starts");
    let populate = started.elapsed();
    let after_population = peak_rss_kib();

    let first = widget_name(0, count);
    let last = widget_name(count - 1, count);
    let stored = |name: &str| sim.stored_api_version(GROUP, "widgets", "default", name);
    let stored_before = (stored(&first), stored(&last));

    let objects = Objects::new(sim.client(), false);
    let start = Instant::now();
    let counts = migrate_kind(&objects, "demo.operator-upgrade.dev/v1", "Widget", &[], |_| {})
        .await
        .expect("migration succeeds");
    let elapsed = start.elapsed();
    let after_migration = peak_rss_kib();
    let stored_after = (stored(&first), stored(&last));

    let expected = Some(format!("{GROUP}/v1"));
    assert_eq!(stored_after, (expected.clone(), expected.clone()), "stored at v1 after the migration");
    assert_eq!(counts.rewritten + counts.skipped, count as u64, "every object migrated or skipped");

    let seconds = elapsed.as_secs_f64();
    println!("storage migration (v1.1.0 CRD: storage v1, v1alpha1 served; {count} Widgets written as v1alpha1)");
    println!("  simulator started and populated in {:.1} s", populate.as_secs_f64());
    let note = if stored_before.0 == expected {
        " (the simulator stores every write at the storage version: the population is at v1 already)"
    } else {
        ""
    };
    println!(
        "  stored before: {first} {}, {last} {}{note}",
        stored_before.0.as_deref().unwrap_or("missing"),
        stored_before.1.as_deref().unwrap_or("missing"),
    );
    println!(
        "  stored after:  {first} {}, {last} {}",
        stored_after.0.as_deref().unwrap_or("missing"),
        stored_after.1.as_deref().unwrap_or("missing"),
    );
    println!("  counts: rewritten {}, skipped {}", counts.rewritten, counts.skipped);
    println!(
        "migration: {count} objects in {seconds:.1} s = {:.0} objects/s; peak RSS {:.0} MiB (migration added {:.0} MiB)",
        count as f64 / seconds,
        mib(after_migration),
        mib(after_migration.saturating_sub(after_population)),
    );
    println!(
        "  peak RSS (VmHWM, simulator in this process, its store included): before the simulator {:.0} MiB, after populating {:.0} MiB, after the migration {:.0} MiB",
        mib(before_sim),
        mib(after_population),
        mib(after_migration),
    );
}

async fn live_validation(count: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("plan.yaml");
    let text = format!(
        "apiVersion: operator-upgrade.dev/v1alpha1
kind: UpgradePlan
metadata:
  name: bench-demo-operator
spec:
  operator:
    namespace: demo-system
    deployment: demo-operator
    container: manager
  from:
    path: {from}
    version: v1.0.0
  to:
    path: {to}
    version: v1.1.0
",
        from = demo("v1.0.0").display(),
        to = demo("v1.1.0").display(),
    );
    std::fs::write(&plan, text).expect("writes the plan");
    let upgrade = Upgrade::load(&plan).expect("plan loads");

    let started = Instant::now();
    let sim = Sim::start(scenario(demo("v1.0.0/crds.yaml"), count)).await.expect("sim starts");
    let populate = started.elapsed();
    let objects = Objects::new(sim.client(), false);

    let start = Instant::now();
    let report = validate_objects(&objects, &upgrade).await.expect("validation succeeds");
    let elapsed = start.elapsed();
    let seconds = elapsed.as_secs_f64();
    assert_eq!(report.summary.objects, count, "every object read");

    println!("live plan list-and-validate (v1.0.0 CRD installed, {count} Widgets; plan v1.0.0 -> v1.1.0, no canary)");
    println!("  simulator started and populated in {:.1} s", populate.as_secs_f64());
    println!(
        "  read {}, checked {}, with findings {}",
        report.summary.objects, report.summary.checked, report.summary.objects_with_findings
    );
    println!(
        "live validate: {} objects in {seconds:.1} s = {:.0} objects/s; {} findings in {} groups; peak RSS so far {:.0} MiB",
        report.summary.objects,
        report.summary.objects as f64 / seconds,
        report.total(),
        report.groups.len(),
        mib(peak_rss_kib()),
    );
}

#[tokio::main]
async fn main() {
    let count = std::env::var("OBJECTS").ok().and_then(|n| n.parse().ok()).unwrap_or(DEFAULT_OBJECTS);
    // The migration first, so its peak RSS is not the other simulator's.
    migration(count).await;
    live_validation(count).await;
}
