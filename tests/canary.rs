//! The canary end to end through the real binary and `kube::Client` against the simulator: the demo
//! operator's 40 Widgets, a 10% canary and an equal baseline, each on its own scoped Deployment and lease.
//! A good release is promoted; a bad one, a crash-looping one, a metrics-only regression, a canary that shares
//! the stable's lease, a canary without metrics and one that re-rolls every dependent are rolled back; a
//! cluster-wide failure is inconclusive. After every run no cohort label or extra Deployment is left, and
//! the simulator saw no object reconciled by two Deployments at once.

#[macro_use]
mod common;

use common::{eventually, TestCluster};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use operator_upgrade::sim::Scenario;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

const COHORT_LABEL: &str = "operator-upgrade.dev/cohort";

fn demo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator").join(relative)
}

/// The demo scenario (40 Widgets, the demo operator v1.0.0) on a fast tick, every Widget Ready.
async fn demo_cluster() -> TestCluster {
    let scenario = Scenario::load(&demo("scenario.yaml")).expect("the demo scenario loads");
    let cluster = TestCluster::sim(Scenario { tick_ms: 20, ..scenario }).await;
    let api = widgets(&cluster);
    eventually("all 40 Widgets Ready under the v1.0.0 operator", || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        let ready = list.items.iter().filter(|w| w.data["status"]["conditions"][0]["status"] == "True").count();
        (ready == 40).then_some(())
    })
    .await;
    cluster
}

/// A plan for the demo with the new release's image replaced by `image`, a short analysis and `signals`
/// (YAML list items) replacing the demo's; `lease` false gives the canary no lease of its own.
struct CanaryPlan {
    dir: tempfile::TempDir,
}

impl CanaryPlan {
    fn new(image: &str, signals: &str, own_lease: bool) -> CanaryPlan {
        let dir = tempfile::tempdir().unwrap();
        let release = dir.path().join("v1.1.0");
        std::fs::create_dir_all(&release).unwrap();
        for file in ["crds.yaml", "operator.yaml"] {
            let text = std::fs::read_to_string(demo("v1.1.0").join(file)).unwrap();
            std::fs::write(release.join(file), text.replace("registry.example/demo-operator:v1.1.0", image)).unwrap();
        }
        let mut plan = std::fs::read_to_string(demo("plan.yaml")).unwrap();
        plan = plan.replace("path: v1.0.0", &format!("path: {}", demo("v1.0.0").display()));
        let analysis_at = plan.find("  analysis:").unwrap();
        let rollback_at = plan.find("  rollback:").unwrap();
        let analysis =
            format!("  analysis:\n    interval: 1s\n    count: 4\n    warmUp: 1500ms\n    signals:\n{signals}");
        plan.replace_range(analysis_at..rollback_at, &analysis);
        if !own_lease {
            plan = plan.replace("args: [\"--leader-election-id={leaseName}\"]", "args: []");
        }
        std::fs::write(dir.path().join("plan.yaml"), plan).unwrap();
        CanaryPlan { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("plan.yaml")
    }
}

/// Every signal of the demo plan, judged on a 1s interval.
const ALL_SIGNALS: &str = r#"      - conditions: {}
      - observedGeneration: {maxCatchUp: 5s}
      - podRestarts: {}
      - warningEvents: {}
      - dependentChanges: {kinds: [{apiVersion: v1, kind: ConfigMap}]}
      - metric:
          name: reconcile-error-ratio
          source: {podProxy: {port: metrics, series: 'controller_runtime_reconcile_total{result="error"}', per: controller_runtime_reconcile_total}}
          max: 0.05
          maxOverBaseline: 0.01
"#;

/// Runs the binary against the cluster; returns the exit code and everything it printed.
async fn tool(cluster: &TestCluster, args: &[&str]) -> (i32, String) {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(["--kubeconfig".to_owned(), cluster.kubeconfig_path().display().to_string()]);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_operator-upgrade")).args(&all).output().expect("the tool runs")
    })
    .await
    .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

fn widgets(cluster: &TestCluster) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("demo.operator-upgrade.dev", "v1alpha1", "Widget");
    Api::namespaced_with(cluster.client(), "default", &ApiResource::from_gvk_with_plural(&gvk, "widgets"))
}

/// Users' spec changes during the analysis: every 250ms two Widgets' replicas change, so each Widget's spec
/// changes about every 5s (the tool never writes a spec) and observedGeneration catch-up, the reconcile
/// metrics and dependents have something to measure in most intervals.
fn churn(cluster: &TestCluster) -> tokio::task::JoinHandle<()> {
    let api = widgets(cluster);
    tokio::spawn(async move {
        for round in 0u64.. {
            tokio::time::sleep(Duration::from_millis(250)).await;
            for index in [(round * 2) % 40, (round * 2 + 1) % 40] {
                let name = format!("widget-{index:02}");
                let patch = json!({"spec": {"replicas": 1 + (round / 20) % 3}});
                let _ = api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await;
            }
        }
    })
}

/// What every canary run must leave: no cohort label, only the stable Deployment, and no object that two
/// Deployments reconciled at once.
async fn assert_clean(cluster: &TestCluster) {
    for widget in widgets(cluster).list(&ListParams::default()).await.unwrap().items {
        assert!(
            !widget.metadata.labels.as_ref().is_some_and(|l| l.contains_key(COHORT_LABEL)),
            "{:?} keeps the cohort label",
            widget.metadata.name
        );
    }
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), "demo-system");
    let names: Vec<String> = deployments
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|d| d.metadata.name)
        .collect();
    assert_eq!(names, vec!["demo-operator".to_owned()]);
    let conflicts = cluster.sim_handle().unwrap().reconciler_conflicts();
    assert!(conflicts.is_empty(), "objects reconciled by two Deployments at once: {conflicts:?}");
}

async fn apply(cluster: &TestCluster, plan: &CanaryPlan) -> (i32, String) {
    let churn = churn(cluster);
    let result = tool(cluster, &["apply", "-f", plan.path().to_str().unwrap(), "--yes", "--fail-on", "never"]).await;
    churn.abort();
    result
}

async fn operator_image(cluster: &TestCluster) -> String {
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), "demo-system");
    let deployment = deployments.get("demo-operator").await.unwrap();
    deployment.spec.unwrap().template.spec.unwrap().containers[0].image.clone().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_release_is_promoted_after_the_canary_passes_against_the_baseline() {
    let cluster = demo_cluster().await;
    let plan = CanaryPlan::new("registry.example/demo-operator:v1.1.0", ALL_SIGNALS, true);
    let (code, output) = apply(&cluster, &plan).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("canary-rollout done: 4 canary and 4 baseline objects"), "{output}");
    assert!(output.contains("promoted"), "{output}");
    assert_eq!(operator_image(&cluster).await, "registry.example/demo-operator:v1.1.0");
    assert_clean(&cluster).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_release_fails_the_analysis_and_is_rolled_back_with_every_widget_ready_under_the_old_operator() {
    let cluster = demo_cluster().await;
    let plan = CanaryPlan::new("registry.example/demo-operator:v1.1.0-bad", ALL_SIGNALS, true);
    let (code, output) = apply(&cluster, &plan).await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("conditions failed"), "{output}");
    assert!(output.contains("from the canary's first failed reconcile to the restored state"), "{output}");
    assert_eq!(operator_image(&cluster).await, "registry.example/demo-operator:v1.0.0");
    for widget in widgets(&cluster).list(&ListParams::default()).await.unwrap().items {
        let ready = widget.data["status"]["conditions"][0]["status"].as_str();
        assert_eq!(ready, Some("True"), "{:?} is not Ready after the rollback", widget.metadata.name);
    }
    assert_clean(&cluster).await;
}

/// A release whose canary is rolled back: exit 1, the old image back, the reason in the output.
async fn rolled_back(image: &str, own_lease: bool, reason: &str) {
    let cluster = demo_cluster().await;
    let plan = CanaryPlan::new(image, ALL_SIGNALS, own_lease);
    let (code, output) = apply(&cluster, &plan).await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains(reason), "expected `{reason}` in:\n{output}");
    assert_eq!(operator_image(&cluster).await, "registry.example/demo-operator:v1.0.0");
    assert_clean(&cluster).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_looping_canary_is_rolled_back() {
    rolled_back("registry.example/demo-operator:v1.1.0-crashloop", true, "the canary's reconciles cannot be read")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_regression_only_in_the_metrics_is_caught_against_the_baseline() {
    rolled_back("registry.example/demo-operator:v1.1.0-metrics-errors", true, "metric reconcile-error-ratio failed")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_without_a_metrics_endpoint_fails_rather_than_passes() {
    rolled_back("registry.example/demo-operator:v1.1.0-no-metrics", true, "the canary's reconciles cannot be read")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_sharing_the_stable_lease_reconciles_nothing_and_fails() {
    rolled_back("registry.example/demo-operator:v1.1.0", false, "the canary reconciled nothing within the warm-up")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_that_rewrites_every_dependent_is_caught_while_its_conditions_stay_green() {
    rolled_back("registry.example/demo-operator:v1.1.0-rerolls", true, "dependentChanges failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_wide_failure_is_inconclusive_and_paused_not_blamed_on_the_release() {
    let cluster = demo_cluster().await;
    let plan = CanaryPlan::new("registry.example/demo-operator:v1.1.0", ALL_SIGNALS, true);
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), "demo-system");
    let sim = cluster.sim_handle().unwrap().state().clone();
    // The cluster breaks once the stable Deployment is rescoped, before the canary and baseline start:
    // every reconcile fails, the fresh baseline's as much as the canary's.
    let breaker = tokio::spawn(async move {
        eventually("the stable Deployment is rescoped", || async {
            let stable = deployments.get_opt("demo-operator").await.ok().flatten()?;
            serde_json::to_string(&stable.spec?).ok()?.contains("notin").then_some(())
        })
        .await;
        sim.faults.set_operators_fail(true);
    });
    let (code, output) = apply(&cluster, &plan).await;
    breaker.abort();
    assert_eq!(code, 4, "{output}");
    assert!(output.contains("inconclusive"), "{output}");
    let (status_code, status) = tool(&cluster, &["status"]).await;
    assert_eq!(status_code, 0, "{status}");
    assert!(status.contains("analysis inconclusive"), "{status}");
    cluster.sim_handle().unwrap().set_operators_fail(false);
    let (code, output) = tool(&cluster, &["rollback", "--yes"]).await;
    assert_eq!(code, 0, "{output}");
    assert_eq!(operator_image(&cluster).await, "registry.example/demo-operator:v1.0.0");
    assert_clean(&cluster).await;
}
