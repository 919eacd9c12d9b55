//! `cargo bench --bench sim`: the simulator with 10,000 custom resources, measured through the real
//! `kube::Client`: a full list (target: under 300 ms round trip), a list of a labelled subset, and a watch
//! of that subset (its initial state and the latency of a live change).

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use operator_upgrade::sim::{ObjectTemplate, Population, Scenario, Sim};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const OBJECTS: usize = 10_000;
const RUNS: usize = 7;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn scenario() -> Scenario {
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator/v1.0.0/crds.yaml");
    let template = ObjectTemplate::from_json(json!({
        "apiVersion": "demo.operator-upgrade.dev/v1alpha1", "kind": "Widget",
        "metadata": {"namespace": "default", "labels": {"app.kubernetes.io/part-of": "bench"}},
        "spec": {"image": "nginx:1.27", "tier": "silver", "replicas": 1, "ports": [{"name": "http", "port": 80}]},
        "status": {"phase": "Ready", "observedGeneration": 1}
    }))
    .expect("the template is an object template");
    Scenario {
        manifests: vec![crds],
        populations: vec![Population {
            count: OBJECTS,
            name_prefix: "widget-".into(),
            template,
            label_every: Some(operator_upgrade::sim::LabelEvery {
                n: 10,
                labels: [("cohort".to_owned(), "canary".to_owned())].into_iter().collect(),
            }),
        }],
        ..Scenario::default()
    }
}

#[tokio::main]
async fn main() {
    let started = Instant::now();
    let sim = Sim::start(scenario()).await.expect("sim starts");
    let startup = started.elapsed();
    let gvk = GroupVersionKind::gvk("demo.operator-upgrade.dev", "v1alpha1", "Widget");
    let widgets: Api<DynamicObject> = Api::all_with(sim.client(), &ApiResource::from_gvk_with_plural(&gvk, "widgets"));

    let mut count = 0;
    let mut samples = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        count = widgets.list(&ListParams::default()).await.expect("lists").items.len();
        samples.push(start.elapsed());
    }
    let full = median(samples);
    assert_eq!(count, OBJECTS);

    let canary = ListParams::default().labels("cohort=canary");
    let mut samples = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        count = widgets.list(&canary).await.expect("lists").items.len();
        samples.push(start.elapsed());
    }
    let subset = median(samples);
    let subset_count = count;

    let start = Instant::now();
    let mut stream =
        widgets.watch(&WatchParams::default().labels("cohort=canary").timeout(60), "0").await.expect("watches").boxed();
    let initial: Vec<WatchEvent<DynamicObject>> =
        stream.by_ref().take(subset_count).try_collect().await.expect("events");
    let initial_watch = start.elapsed();
    assert_eq!(initial.len(), subset_count);

    let namespaced: Api<DynamicObject> =
        Api::namespaced_with(sim.client(), "default", &ApiResource::from_gvk_with_plural(&gvk, "widgets"));
    let mut latencies = Vec::new();
    for round in 0..RUNS {
        let start = Instant::now();
        let patch = json!({"metadata": {"annotations": {"bench/round": round.to_string()}}});
        namespaced.patch("widget-0000", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patches");
        match stream.next().await {
            Some(Ok(WatchEvent::Modified(_))) => latencies.push(start.elapsed()),
            other => panic!("expected a MODIFIED event, got {other:?}"),
        }
    }
    let live = median(latencies);

    println!("simulator with {OBJECTS} Widgets (started and populated in {:.0} ms)", ms(startup));
    println!("  full list through kube::Client:            {:8.1} ms (target < 300 ms)", ms(full));
    println!("  list of the labelled subset ({subset_count}):       {:8.1} ms", ms(subset));
    println!("  watch of the subset, initial {subset_count} ADDED:   {:8.1} ms", ms(initial_watch));
    println!("  watch of the subset, patch -> MODIFIED:      {:8.1} ms", ms(live));
}
