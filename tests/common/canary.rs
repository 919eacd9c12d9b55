//! The demo operator's canary as the canary tests drive it: the demo scenario on the simulator, plans with a
//! compressed analysis, users' spec churn, the binary run against the cluster, and what every run must
//! leave behind (nothing).

use super::{eventually, TestCluster};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use operator_upgrade::sim::Scenario;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const COHORT_LABEL: &str = "operator-upgrade.dev/cohort";

pub fn demo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator").join(relative)
}

/// The demo scenario (40 Widgets, the demo operator v1.0.0) on a fast tick, every Widget Ready.
pub async fn demo_cluster() -> TestCluster {
    demo_cluster_of(|scenario| scenario).await
}

/// The demo scenario as `change` makes it, on a fast tick, every Widget Ready.
pub async fn demo_cluster_of(change: impl FnOnce(Scenario) -> Scenario) -> TestCluster {
    let scenario = change(Scenario::load(&demo("scenario.yaml")).expect("the demo scenario loads"));
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
pub struct CanaryPlan {
    /// The directory holding the plan and the new release.
    pub dir: tempfile::TempDir,
}

impl CanaryPlan {
    pub fn new(image: &str, signals: &str, own_lease: bool) -> CanaryPlan {
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

    /// Rewrites the analysis's timing (`interval`, `count`, `warmUp`).
    pub fn timed(self, interval: &str, count: u32, warm_up: &str) -> CanaryPlan {
        let plan = std::fs::read_to_string(self.path()).unwrap();
        let timed = plan.replace(
            "interval: 1s\n    count: 4\n    warmUp: 1500ms",
            &format!("interval: {interval}\n    count: {count}\n    warmUp: {warm_up}"),
        );
        assert_ne!(plan, timed);
        std::fs::write(self.path(), timed).unwrap();
        self
    }

    /// Takes the canary out of the plan: the analysis then watches every Widget under the new release,
    /// against the signals' absolute limits (`maxOverBaseline` needs a baseline, so it goes too).
    pub fn without_canary(self) -> CanaryPlan {
        let mut plan = std::fs::read_to_string(self.path()).unwrap();
        let canary_at = plan.find("  canary:\n").unwrap();
        let analysis_at = plan.find("  analysis:\n").unwrap();
        plan.replace_range(canary_at..analysis_at, "");
        let plan: String = plan.lines().filter(|l| !l.contains("maxOverBaseline")).map(|l| format!("{l}\n")).collect();
        std::fs::write(self.path(), plan).unwrap();
        self
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("plan.yaml")
    }
}

/// Every signal of the demo plan, judged on a 1s interval.
pub const ALL_SIGNALS: &str = r#"      - conditions: {}
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
pub async fn tool(cluster: &TestCluster, args: &[&str]) -> (i32, String) {
    tool_with_env(cluster, args, &[]).await
}

/// Runs the binary against the cluster with more environment variables.
pub async fn tool_with_env(cluster: &TestCluster, args: &[&str], env: &[(&str, String)]) -> (i32, String) {
    super::run_tool(cluster, args, env).await
}

pub fn widgets(cluster: &TestCluster) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("demo.operator-upgrade.dev", "v1alpha1", "Widget");
    Api::namespaced_with(cluster.client(), "default", &ApiResource::from_gvk_with_plural(&gvk, "widgets"))
}

/// Users' spec changes during the analysis (the tool never writes a spec): every 250ms, once the run has
/// drawn its cohorts, the first half by name of each cohort gets a new replicas value and the other half is
/// left alone, so in every interval observedGeneration catch-up and the reconcile metrics have changed objects
/// to measure and dependentChanges has untouched ones, whichever Widgets were drawn and however slowly a loaded
/// machine runs this loop; before the draw, two Widgets a round. (Round-robin churn of two Widgets a round
/// changed a cohort object only every 5s: on a loaded CI machine a 4-object canary went a whole 5.5s analysis
/// without a change, and faster round-robin left no object of the first, warm-up-long interval alone.)
pub fn churn(cluster: &TestCluster) -> tokio::task::JoinHandle<()> {
    churn_of(widgets(cluster))
}

/// [`churn`] of the Widgets `api` reaches.
pub fn churn_of(api: Api<DynamicObject>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for round in 0u64.. {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let Ok(list) = api.list(&ListParams::default()).await else { continue };
            let replicas = 1 + round % 3;
            for name in churned_widgets(&list.items, round) {
                let patch = json!({"spec": {"replicas": replicas}});
                let _ = api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await;
            }
        }
    })
}

/// The Widgets `churn` changes in `round`: the first half (rounded up) by name of each drawn cohort, or two
/// Widgets round-robin while none carries the cohort label.
fn churned_widgets(widgets: &[DynamicObject], round: u64) -> Vec<String> {
    let mut cohorts: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for widget in widgets {
        let cohort = widget.metadata.labels.as_ref().and_then(|l| l.get(COHORT_LABEL));
        if let (Some(cohort), Some(name)) = (cohort, &widget.metadata.name) {
            cohorts.entry(cohort.clone()).or_default().push(name.clone());
        }
    }
    if cohorts.is_empty() {
        let names: Vec<&String> = widgets.iter().filter_map(|w| w.metadata.name.as_ref()).collect();
        let count = names.len() as u64;
        return (round * 2..round * 2 + 2.min(count)).map(|i| names[(i % count) as usize].clone()).collect();
    }
    cohorts
        .into_values()
        .flat_map(|mut names| {
            names.sort();
            let half = names.len().div_ceil(2);
            names.truncate(half);
            names
        })
        .collect()
}

/// What every canary run must leave: no cohort label, only the stable Deployment and none of the copies'
/// Leases, and no object that two Deployments reconciled at once.
pub async fn assert_clean(cluster: &TestCluster) {
    for widget in widgets(cluster).list(&ListParams::default()).await.unwrap().items {
        assert!(
            !widget.metadata.labels.as_ref().is_some_and(|l| l.contains_key(COHORT_LABEL)),
            "{:?} keeps the cohort label",
            widget.metadata.name
        );
    }
    assert_eq!(deployment_names(cluster, "demo-system").await, vec!["demo-operator".to_owned()]);
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(cluster.client(), "demo-system");
    let names: Vec<String> =
        leases.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|l| l.metadata.name).collect();
    assert!(
        !names.iter().any(|n| n.starts_with("demo-operator-canary") || n.starts_with("demo-operator-baseline")),
        "the copies' leader-election Leases went with them: {names:?}"
    );
    let conflicts = cluster.sim_handle().unwrap().reconciler_conflicts();
    assert!(conflicts.is_empty(), "objects reconciled by two Deployments at once: {conflicts:?}");
}

pub async fn apply(cluster: &TestCluster, plan: &CanaryPlan) -> (i32, String) {
    let churn = churn(cluster);
    let result = tool(cluster, &["apply", "-f", plan.path().to_str().unwrap(), "--yes", "--fail-on", "never"]).await;
    churn.abort();
    result
}

pub async fn operator_image(cluster: &TestCluster) -> String {
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), "demo-system");
    let deployment = deployments.get("demo-operator").await.unwrap();
    deployment.spec.unwrap().template.spec.unwrap().containers[0].image.clone().unwrap()
}

/// The names of the Deployments in `namespace` (after a canary run: only the stable one).
pub async fn deployment_names(cluster: &TestCluster, namespace: &str) -> Vec<String> {
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), namespace);
    let list = deployments.list(&ListParams::default()).await.unwrap();
    list.items.into_iter().filter_map(|d| d.metadata.name).collect()
}

/// The cluster's identity: the UID of its kube-system namespace.
pub async fn kube_system_uid(cluster: &TestCluster) -> String {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cluster.client());
    namespaces.get("kube-system").await.unwrap().metadata.uid.unwrap()
}

/// The demo plan's run as `status -o json` shows it.
pub async fn demo_run_status(cluster: &TestCluster) -> serde_json::Value {
    let (code, output) = tool(cluster, &["status", "--plan", "demo-operator-v1-1", "-o", "json"]).await;
    assert_eq!(code, 0, "{output}");
    serde_json::from_str(output.lines().next().unwrap()).unwrap()
}
