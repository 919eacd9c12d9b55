//! The simulated controllers through `kube::Client`, on the demo scenario in `examples/`: the operator
//! reconciles its scope, a bad image fails only the matching objects (with Warning events and error
//! metrics through the pod proxy), overlapping scopes are visible, crash loops and Jobs behave.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use operator_upgrade::sim::{Scenario, Sim, SimHandle};
use serde_json::{json, Value};
use std::future::Future;
use std::path::Path;
use std::time::Duration;

async fn demo() -> SimHandle {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator/scenario.yaml");
    let mut scenario = Scenario::load(&path).expect("the demo scenario loads");
    scenario.tick_ms = 10;
    Sim::start(scenario).await.expect("sim starts")
}

fn widgets(sim: &SimHandle) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("demo.operator-upgrade.dev", "v1alpha1", "Widget");
    Api::namespaced_with(sim.client(), "default", &ApiResource::from_gvk_with_plural(&gvk, "widgets"))
}

/// Polls `check` until it returns Some, for up to 20 seconds of wall time.
async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    for _ in 0..400 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn ready(widget: &DynamicObject) -> Option<&str> {
    let conditions = widget.data["status"]["conditions"].as_array()?;
    conditions.iter().find(|c| c["type"] == "Ready")?["status"].as_str()
}

fn is_gold(widget: &DynamicObject) -> bool {
    widget.metadata.labels.as_ref().and_then(|l| l.get("demo.operator-upgrade.dev/tier")).map(String::as_str)
        == Some("gold")
}

async fn operator_pods(sim: &SimHandle, image_suffix: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(sim.client(), "demo-system");
    let all = pods.list(&ListParams::default()).await.unwrap().items;
    all.into_iter()
        .filter(|p| p.spec.as_ref().unwrap().containers[0].image.as_deref().unwrap().ends_with(image_suffix))
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .collect()
}

async fn metrics(sim: &SimHandle, pod: &str) -> String {
    let request = http::Request::get(format!("/api/v1/namespaces/demo-system/pods/{pod}:8080/proxy/metrics"))
        .body(vec![])
        .unwrap();
    sim.client().request_text(request).await.unwrap()
}

fn counter(text: &str, line: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(line)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
}

fn canary_deployment(image: &str, selector: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "demo-operator-canary", "namespace": "demo-system"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "demo-operator-canary"}}, "template": {
            "metadata": {"labels": {"app": "demo-operator-canary"}},
            "spec": {"containers": [{"name": "manager", "image": image, "env": [{"name": "WATCH_LABEL_SELECTOR", "value": selector}]}]}}}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stable_operator_reconciles_every_widget_and_counts_it() {
    let sim = demo().await;
    let api = widgets(&sim);
    eventually("all 40 widgets Ready", || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        (list.items.len() == 40
            && list.items.iter().all(|w| ready(w) == Some("True") && w.data["status"]["observedGeneration"] == 1))
        .then_some(())
    })
    .await;
    let pod = operator_pods(&sim, ":v1.0.0").await.remove(0).metadata.name.unwrap();
    let text = metrics(&sim, &pod).await;
    assert!(
        counter(&text, r#"controller_runtime_reconcile_total{controller="widget",result="success"}"#) >= 40.0,
        "{text}"
    );
    assert_eq!(counter(&text, r#"controller_runtime_reconcile_errors_total{controller="widget"}"#), 0.0, "{text}");

    // A spec change bumps generation; the operator catches up.
    let patch = json!({"spec": {"replicas": 2}});
    api.patch("widget-07", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    eventually("observedGeneration catches up", || async {
        let widget = api.get("widget-07").await.ok()?;
        (widget.metadata.generation == Some(2) && widget.data["status"]["observedGeneration"] == 2).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_canary_fails_only_gold_widgets_and_overlapping_scopes_show() {
    let sim = demo().await;
    let api = widgets(&sim);
    let deployments: Api<Deployment> = Api::namespaced(sim.client(), "demo-system");
    let canary = canary_deployment("registry.example/demo-operator:v1.1.0-bad", "demo.operator-upgrade.dev/tier=gold");
    deployments.patch("demo-operator-canary", &PatchParams::apply("test"), &Patch::Apply(&canary)).await.unwrap();

    let failed = eventually("gold widgets fail under the bad canary", || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        let gold: Vec<&DynamicObject> = list.items.iter().filter(|w| is_gold(w)).collect();
        (gold.len() == 10 && gold.iter().all(|w| ready(w) == Some("False"))).then_some(gold.len())
    })
    .await;
    assert_eq!(failed, 10);
    let events: Api<Event> = Api::namespaced(sim.client(), "default");
    let warnings = events.list(&ListParams::default()).await.unwrap().items;
    assert!(warnings.iter().any(|e| e.type_.as_deref() == Some("Warning")
        && e.involved_object.name.as_deref().is_some_and(|n| n.starts_with("widget-"))));
    let canary_pod = operator_pods(&sim, ":v1.1.0-bad").await.remove(0).metadata.name.unwrap();
    let text = metrics(&sim, &canary_pod).await;
    assert!(counter(&text, r#"controller_runtime_reconcile_errors_total{controller="widget"}"#) >= 10.0, "{text}");

    // The stable operator still watches everything, so a change to a gold widget is reconciled by both
    // operators: the bug a canary tool must avoid, made visible.
    let stable_pod = operator_pods(&sim, ":v1.0.0").await.remove(0).metadata.name.unwrap();
    let success = r#"controller_runtime_reconcile_total{controller="widget",result="success"}"#;
    let errors = r#"controller_runtime_reconcile_errors_total{controller="widget"}"#;
    let (stable_before, canary_before) =
        (counter(&metrics(&sim, &stable_pod).await, success), counter(&metrics(&sim, &canary_pod).await, errors));
    let bump = |replicas: i64| json!({"spec": {"replicas": replicas}});
    api.patch("widget-00", &PatchParams::default(), &Patch::Merge(&bump(5))).await.unwrap();
    eventually("both operators reconcile the changed gold widget", || async {
        let stable = counter(&metrics(&sim, &stable_pod).await, success);
        let canary = counter(&metrics(&sim, &canary_pod).await, errors);
        (stable > stable_before && canary > canary_before).then_some(())
    })
    .await;

    // Rescoped away from gold (a rollout of the stable Deployment), the stable operator leaves gold to the canary.
    let rescope = json!({"spec": {"template": {"spec": {"containers": [{"name": "manager", "env": [{"name": "WATCH_LABEL_SELECTOR", "value": "demo.operator-upgrade.dev/tier!=gold"}]}]}}}});
    deployments.patch("demo-operator", &PatchParams::default(), &Patch::Strategic(&rescope)).await.unwrap();
    let rescoped_pod = eventually("the rescoped stable pod is the only stable pod", || async {
        let pods = operator_pods(&sim, ":v1.0.0").await;
        let names: Vec<String> = pods.into_iter().filter_map(|p| p.metadata.name).collect();
        (names.len() == 1 && names[0] != stable_pod).then(|| names[0].clone())
    })
    .await;
    eventually("the rescoped pod reconciled the 30 silver widgets", || async {
        (counter(&metrics(&sim, &rescoped_pod).await, success) >= 30.0).then_some(())
    })
    .await;
    let rescoped_before = counter(&metrics(&sim, &rescoped_pod).await, success);
    api.patch("widget-04", &PatchParams::default(), &Patch::Merge(&bump(6))).await.unwrap();
    eventually("the canary reconciles the changed gold widget", || async {
        let widget = api.get("widget-04").await.ok()?;
        (widget.data["status"]["observedGeneration"] == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        counter(&metrics(&sim, &rescoped_pod).await, success),
        rescoped_before,
        "gold widgets are no longer the stable operator's"
    );
    let list = api.list(&ListParams::default()).await.unwrap();
    assert!(list.items.iter().filter(|w| !is_gold(w)).all(|w| ready(w) == Some("True")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loops_and_jobs() {
    let sim = demo().await;
    let deployments: Api<Deployment> = Api::namespaced(sim.client(), "demo-system");
    let crashing = canary_deployment("registry.example/demo-operator:v1.1.0-crashloop", "");
    deployments.patch("demo-operator-canary", &PatchParams::apply("test"), &Patch::Apply(&crashing)).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(sim.client(), "demo-system");
    eventually("the crash-looping pod restarts", || async {
        let list = pods.list(&ListParams::default().labels("app=demo-operator-canary")).await.ok()?;
        let status = list.items.first()?.status.clone()?;
        let container = status.container_statuses?.into_iter().next()?;
        (container.restart_count >= 1 && !container.ready).then_some(())
    })
    .await;
    let deployment = deployments.get("demo-operator-canary").await.unwrap();
    assert_eq!(deployment.status.unwrap().ready_replicas.unwrap_or(0), 0);

    let jobs: Api<Job> = Api::namespaced(sim.client(), "default");
    let job: Job = serde_json::from_value(json!({"metadata": {"name": "pre-upgrade"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "check", "image": "busybox"}]}}}})).unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    eventually("the job completes", || async {
        let status = jobs.get("pre-upgrade").await.ok()?.status?;
        let complete = status.conditions?.iter().any(|c| c.type_ == "Complete" && c.status == "True");
        (complete && status.succeeded == Some(1)).then_some(())
    })
    .await;
}
