//! `controlplane/run.sh cargo bench --bench canary_real`: the demo operator's canary over 10,000 Widgets
//! (10%: 1,000 canary and 1,000 baseline objects) on a real API server, the operators being the test bed's
//! scripted ones that the node agent runs in their pods (as `tests/canary_real.rs` drives them), through the
//! engine as `apply` runs it:
//!
//! - labelling: how long marking the 2,000 cohort objects takes (from the `canary-rollout` step);
//! - analysis overhead: how long one interval's measurement of both cohorts takes (the signals the test bed
//!   gives data for: conditions, observedGeneration, pod restarts, Warning events);
//! - regression to rollback: with the bad release (it fails every Widget), the time from the canary's first
//!   failed reconcile to the restored state (the rollback's own measurement), and the run's wall time;
//! - then the good release, promoted after its whole analysis.
//!
//! Anchors measured in the same run: creating the Widgets (32 at a time), the stable operator reconciling
//! all of them to Ready, and one plain list of every Widget, which the labelling and an interval are
//! compared with. Users change a few cohort Widgets' specs every second, so observedGeneration has data.
//!
//! `OBJECTS=n` changes the number of Widgets (default 10,000). Everything is left on the control plane,
//! which `controlplane/run.sh` removes. Without `OPERATOR_UPGRADE_REAL_KUBECONFIG` it says so and exits 0.

#[path = "support/create.rs"]
mod create;
use create::create_all;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{GroupVersionKind, TypeMeta};
use kube::Client;
use operator_upgrade::cluster::journal_store::JournalStore;
use operator_upgrade::cluster::{connect, ClusterArgs};
use operator_upgrade::engine::journal::Journal;
use operator_upgrade::engine::{apply, ApplyOptions, OutputMode, RehearsalCheck, Upgrade};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_OBJECTS: usize = 10_000;
const GROUP: &str = "demo.operator-upgrade.dev";
const NAMESPACE: &str = "bench-canary";
const MANAGER: &str = "operator-upgrade-bench";
const COHORT_LABEL: &str = "operator-upgrade.dev/cohort";

fn demo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator").join(relative)
}

fn widgets(client: &Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(GROUP, "v1alpha1", "Widget");
    Api::namespaced_with(client.clone(), NAMESPACE, &ApiResource::from_gvk_with_plural(&gvk, "widgets"))
}

/// Server-side applies every object of the release at `path` (CRDs first, each waited for until it is
/// served), as `kubectl apply --server-side` would under the field manager [`MANAGER`].
async fn apply_release(client: &Client, path: &Path) {
    let objects = operator_upgrade::manifest::load_objects(path).expect("the release loads");
    let (crds, others): (Vec<_>, Vec<_>) =
        objects.into_iter().map(|o| o.value).partition(|o| o["kind"] == "CustomResourceDefinition");
    let params = PatchParams::apply(MANAGER).force();
    for object in crds.iter().chain(&others) {
        let meta: TypeMeta = serde_json::from_value(object.clone()).expect("apiVersion and kind");
        let gvk = GroupVersionKind::try_from(&meta).expect("a group version kind");
        let discovery = kube::Discovery::new(client.clone()).run().await.expect("discovery");
        let (resource, caps) = discovery.resolve_gvk(&gvk).expect("the kind is served");
        let api: Api<DynamicObject> = match (caps.scope, object["metadata"]["namespace"].as_str()) {
            (kube::discovery::Scope::Namespaced, namespace) => {
                Api::namespaced_with(client.clone(), namespace.unwrap_or("default"), &resource)
            }
            (kube::discovery::Scope::Cluster, _) => Api::all_with(client.clone(), &resource),
        };
        let name = object["metadata"]["name"].as_str().expect("a name");
        api.patch(name, &params, &Patch::Apply(object)).await.unwrap_or_else(|e| panic!("applies {name}: {e}"));
    }
    // The Widget kind must be served before the Widgets are created.
    let deadline = Instant::now() + Duration::from_secs(60);
    while widgets(client).list(&ListParams::default().limit(1)).await.is_err() {
        assert!(Instant::now() < deadline, "the Widget kind is not served within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create_namespace(client: &Client) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let body: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}))
            .expect("a namespace");
    api.patch(NAMESPACE, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&body)).await.expect("the namespace");
}

/// Creates `count` Widgets as the demo's (every fourth gold), 32 at a time; returns how long it took.
async fn create_widgets(client: &Client, count: usize) -> Duration {
    let width = count.saturating_sub(1).to_string().len();
    create_all(&widgets(client), count, |index| {
        let mut labels = json!({"app.kubernetes.io/part-of": "demo"});
        if index % 4 == 0 {
            labels["demo.operator-upgrade.dev/tier"] = json!("gold");
        }
        json!({
            "apiVersion": format!("{GROUP}/v1alpha1"), "kind": "Widget",
            "metadata": {"name": format!("widget-{index:0width$}"), "labels": labels},
            "spec": {"image": "nginx:1.27", "tier": "silver", "replicas": 1}})
    })
    .await
}

/// How many Widgets are Ready, from one list of them all; and how long that list took.
async fn ready_widgets(client: &Client) -> (usize, Duration) {
    let start = Instant::now();
    let Ok(list) = widgets(client).list(&ListParams::default()).await else { return (0, start.elapsed()) };
    let took = start.elapsed();
    let ready = |w: &DynamicObject| {
        w.data["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
    };
    (list.items.iter().filter(|w| ready(w)).count(), took)
}

/// Waits until all `count` Widgets are Ready (30 minutes at most); how long it took.
async fn wait_ready(client: &Client, count: usize, what: &str) -> Duration {
    let start = Instant::now();
    loop {
        let (ready, _) = ready_widgets(client).await;
        if ready == count {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(1800),
            "{what}: {ready} of {count} Widgets Ready after 30 minutes"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The demo plan for the bench's namespace with `image` as the new release, named `name`, a 5 s interval
/// (4 measurements) after a 5 s warm-up, and the signals the test bed gives data for.
fn plan(dir: &Path, name: &str, image: &str) -> PathBuf {
    let release = dir.join(name);
    std::fs::create_dir_all(&release).expect("release dir");
    for file in ["crds.yaml", "operator.yaml"] {
        let text = std::fs::read_to_string(demo("v1.1.0").join(file)).expect("reads the demo release");
        let text = text.replace("registry.example/demo-operator:v1.1.0", image);
        std::fs::write(release.join(file), text).expect("writes the release");
    }
    let mut text = std::fs::read_to_string(demo("plan.yaml")).expect("reads the demo plan");
    text = text
        .replace("name: demo-operator-v1-1", &format!("name: {name}"))
        .replace("path: v1.0.0", &format!("path: {}", demo("v1.0.0").display()))
        .replace("path: v1.1.0", &format!("path: {}", release.display()))
        .replace("namespaces: [default]", &format!("namespaces: [{NAMESPACE}]"))
        .replace("spec:\n  operator:", &format!("spec:\n  takeOwnershipFrom: [{MANAGER}]\n  operator:"));
    let analysis_at = text.find("  analysis:").expect("the plan has an analysis");
    let rollback_at = text.find("  rollback:").expect("the plan has a rollback");
    let analysis = "  analysis:\n    interval: 5s\n    count: 4\n    warmUp: 5s\n    signals:\n      - conditions: {}\n      - observedGeneration: {maxCatchUp: 60s}\n      - podRestarts: {}\n      - warningEvents: {}\n";
    text.replace_range(analysis_at..rollback_at, analysis);
    // The rollback waits for every Widget to be Ready again: 10,000 of them take longer than the demo's 2m.
    text = text.replace("timeout: 2m", "timeout: 15m");
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).expect("writes the plan");
    path
}

/// Users' spec changes: every second, three Widgets of each cohort (round-robin) get a new replicas value.
fn churn(client: &Client) -> tokio::task::JoinHandle<()> {
    let api = widgets(client);
    tokio::spawn(async move {
        for round in 0usize.. {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Ok(list) = api.list(&ListParams::default().labels(COHORT_LABEL)).await else { continue };
            let mut cohorts: std::collections::BTreeMap<String, Vec<String>> = Default::default();
            for widget in list.items {
                let cohort = widget.metadata.labels.as_ref().and_then(|l| l.get(COHORT_LABEL)).cloned();
                if let (Some(cohort), Some(name)) = (cohort, widget.metadata.name) {
                    cohorts.entry(cohort).or_default().push(name);
                }
            }
            for names in cohorts.values() {
                for offset in 0..3 {
                    let name = &names[(round * 3 + offset) % names.len()];
                    let patch = json!({"spec": {"replicas": 1 + round % 3}});
                    let _ = api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await;
                }
            }
        }
    })
}

async fn journal(client: &Client, upgrade: &Upgrade) -> Journal {
    let store = JournalStore::new(client.clone(), upgrade.namespace(), upgrade.name());
    let stored = store.load().await.expect("the journal loads").expect("a journal");
    serde_json::from_slice(&stored.json).expect("the journal parses")
}

/// One `apply` of the plan for `image`, under users' churn; prints what the journal measured.
async fn run(client: &Client, dir: &Path, name: &str, image: &str, list_anchor: Duration) {
    let upgrade = Upgrade::load(&plan(dir, name, image)).expect("the plan loads");
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
    let users = churn(client);
    let start = Instant::now();
    let outcome = apply(client.clone(), &upgrade, &options).await;
    let wall = start.elapsed().as_secs_f64();
    users.abort();
    let outcome = outcome.expect("apply runs");
    let journal = journal(client, &upgrade).await;
    let rollout = journal.steps.iter().find(|s| s.title.contains("canary cohort")).and_then(|s| s.message.clone());
    let intervals = journal.canary.as_ref().map(|c| c.intervals.clone()).unwrap_or_default();
    let took: Vec<f64> = intervals.iter().map(|i| i.took_ms as f64 / 1000.0).collect();
    let shown: Vec<String> = took.iter().map(|t| format!("{t:.2}")).collect();
    let worst = took.iter().copied().fold(0.0, f64::max);
    println!("{image}: {outcome}");
    println!("  canary-rollout: {}", rollout.unwrap_or_default());
    println!(
        "  analysis overhead per interval (both cohorts, every signal): [{}] s; the longest {worst:.2} s = {:.1}x one list of every Widget",
        shown.join(", "),
        worst / list_anchor.as_secs_f64()
    );
    for note in journal.notes.iter().filter(|n| n.contains("restored")) {
        println!("  {note}");
    }
    println!("  apply wall time {wall:.1} s");
}

#[tokio::main]
async fn main() {
    let Some(kubeconfig) = std::env::var_os("OPERATOR_UPGRADE_REAL_KUBECONFIG").map(PathBuf::from) else {
        println!(
            "bench canary_real: no real control plane (OPERATOR_UPGRADE_REAL_KUBECONFIG is unset); run `controlplane/run.sh cargo bench --bench canary_real`; nothing measured"
        );
        return;
    };
    let count = std::env::var("OBJECTS").ok().and_then(|n| n.parse().ok()).unwrap_or(DEFAULT_OBJECTS);
    let client = connect(&ClusterArgs { kubeconfig: Some(kubeconfig), context: None })
        .await
        .expect("a client for the control plane");
    apply_release(&client, &demo("v1.0.0")).await;
    create_namespace(&client).await;
    let created = create_widgets(&client, count).await;
    let ready = wait_ready(&client, count, "the stable operator").await;
    let (_, list) = ready_widgets(&client).await;
    println!(
        "real API server: {count} Widgets created in {:.1} s (32 at a time), all Ready under the demo operator v1.0.0 {:.1} s later; one list of them all {:.2} s (anchor)",
        created.as_secs_f64(),
        ready.as_secs_f64(),
        list.as_secs_f64()
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    run(&client, dir.path(), "demo-bad", "registry.example/demo-operator:v1.1.0-bad", list).await;
    wait_ready(&client, count, "after the rollback").await;
    run(&client, dir.path(), "demo-good", "registry.example/demo-operator:v1.1.0", list).await;
}
