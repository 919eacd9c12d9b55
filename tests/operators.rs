//! The demo operator's scripted behaviour on both clusters: in the simulator it is simulated; on the real
//! control plane the node agent runs it as a real controller in the operator's Pod. Installed the way a
//! user installs it (the release's manifests applied server-side), it reconciles every Widget in its scope,
//! writes observedGeneration and a Ready condition, catches up with spec changes, and a bad image fails the
//! objects its scenario says, with Warning events.

use crate::common;

use common::{eventually, TestCluster};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use operator_upgrade::sim::Scenario;
use serde_json::json;
use std::path::{Path, PathBuf};

fn demo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator").join(relative)
}

/// The demo scenario's images (how each operator image behaves), without its objects: the test installs them.
fn demo_images() -> Scenario {
    let scenario = Scenario::load(&demo("scenario.yaml")).expect("the demo scenario loads");
    Scenario { images: scenario.images, seed: scenario.seed, tick_ms: 20, ..Scenario::default() }
}

fn widgets(cluster: &TestCluster, namespace: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("demo.operator-upgrade.dev", "v1alpha1", "Widget");
    Api::namespaced_with(cluster.client(), namespace, &ApiResource::from_gvk_with_plural(&gvk, "widgets"))
}

fn ready(widget: &DynamicObject) -> Option<&str> {
    let conditions = widget.data["status"]["conditions"].as_array()?;
    conditions.iter().find(|c| c["type"] == "Ready")?["status"].as_str()
}

async fn running_operator_pods(cluster: &TestCluster, app: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(cluster.client(), "demo-system");
    let list = pods.list(&ListParams::default().labels(&format!("app={app}"))).await.unwrap();
    list.items
        .into_iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.name)
        .collect()
}

async fn install_demo_with_widgets(cluster: &TestCluster) -> String {
    cluster.apply_file(&demo("v1.0.0")).await;
    let namespace = cluster.namespace("widgets").await;
    let api = widgets(cluster, &namespace);
    for index in 0..8 {
        let tier = if index % 4 == 0 { "gold" } else { "silver" };
        let widget: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "demo.operator-upgrade.dev/v1alpha1", "kind": "Widget",
            "metadata": {"name": format!("widget-{index}"), "labels": {"demo.operator-upgrade.dev/tier": tier}},
            "spec": {"image": "nginx:1.27", "tier": tier, "replicas": 1}}))
        .unwrap();
        api.create(&PostParams::default(), &widget).await.unwrap();
    }
    namespace
}

async fn the_stable_operator_reconciles_every_widget_and_catches_up(cluster: TestCluster) {
    let _turn = crate::canary_real::demo_turn(&cluster).await;
    let namespace = install_demo_with_widgets(&cluster).await;
    let api = widgets(&cluster, &namespace);
    let operator = eventually("the operator pod runs", || async {
        let pods = running_operator_pods(&cluster, "demo-operator").await;
        (pods.len() == 1).then(|| pods[0].clone())
    })
    .await;
    eventually("all 8 widgets Ready at generation 1, by the operator pod", || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .all(|w| {
                ready(w) == Some("True")
                    && w.data["status"]["observedGeneration"] == 1
                    && w.data["status"]["reconciledBy"] == operator.as_str()
            })
            .then_some(())
    })
    .await;

    let patch = json!({"spec": {"replicas": 2}});
    api.patch("widget-3", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    eventually("observedGeneration catches up", || async {
        let widget = api.get("widget-3").await.ok()?;
        (widget.metadata.generation == Some(2) && widget.data["status"]["observedGeneration"] == 2).then_some(())
    })
    .await;
}
on_both_clusters!(the_stable_operator_reconciles_every_widget_and_catches_up, demo_images());

async fn a_bad_image_fails_the_objects_its_scenario_names_with_warning_events(cluster: TestCluster) {
    let _turn = crate::canary_real::demo_turn(&cluster).await;
    let namespace = install_demo_with_widgets(&cluster).await;
    // A bad canary scoped to this test's gold widgets only (the stable operator keeps reconciling all).
    let name = cluster.unique("bad-canary");
    let selector = format!("demo.operator-upgrade.dev/tier=gold,test={name}");
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "demo-system"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"serviceAccountName": "demo-operator", "containers": [{"name": "manager",
                "image": "registry.example/demo-operator:v1.1.0-bad",
                // Its own lease: one naming the stable operator's would wait behind it forever.
                "args": [format!("--leader-election-id={name}-lock")],
                "env": [{"name": "WATCH_LABEL_SELECTOR", "value": selector}]}]}}}
    }))
    .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), "demo-system");
    deployments.create(&PostParams::default(), &deployment).await.unwrap();
    let api = widgets(&cluster, &namespace);
    let label = json!({"metadata": {"labels": {"test": name}}});
    for widget in ["widget-0", "widget-4", "widget-1"] {
        api.patch(widget, &PatchParams::default(), &Patch::Merge(&label)).await.unwrap();
    }
    eventually("the gold widgets fail under the bad image", || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        let failed: Vec<&str> = list
            .items
            .iter()
            .filter(|w| ready(w) == Some("False"))
            .filter_map(|w| w.metadata.name.as_deref())
            .collect();
        (failed.contains(&"widget-0") && failed.contains(&"widget-4")).then_some(())
    })
    .await;
    let events: Api<Event> = Api::namespaced(cluster.client(), &namespace);
    let warnings = eventually("Warning events on the failed widgets", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        let warnings: Vec<Event> = list
            .items
            .into_iter()
            .filter(|e| e.type_.as_deref() == Some("Warning") && e.reason.as_deref() == Some("ReconcileError"))
            .collect();
        (!warnings.is_empty()).then_some(warnings)
    })
    .await;
    assert!(warnings.iter().all(|e| e.involved_object.name.as_deref() != Some("widget-1")), "silver never fails");
}
on_both_clusters!(a_bad_image_fails_the_objects_its_scenario_names_with_warning_events, demo_images());
