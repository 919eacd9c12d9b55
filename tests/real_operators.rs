//! Real operators on the real control plane. prometheus-operator v0.75.0 -> v0.76.0 (and, in `argo`, Argo
//! Rollouts v1.7.2 -> v1.8.3), upgraded by `apply`,
//! built from its Go module (`controlplane/build-operators.sh`) and run as real processes in real Pods by the
//! test bed's node agent, with its release's own RBAC, installed as a user installs it (`kubectl apply
//! --server-side` of the release's bundle). Skipped with a message without the control plane or without the
//! built operators.
//!
//! The plan is `plans/prometheus-operator.yaml` as written, with the analysis shortened and one signal left
//! out: the cluster's Prometheus server (the test bed runs no Prometheus process; its Pods are reported
//! Ready without one). Its pod-proxy metric signal reads the operators' own reconcile counters through the
//! API server's pod proxy, to the Pods' real addresses.

use crate::common;

#[path = "real_argo.rs"]
mod argo;
#[path = "real_argo_helm.rs"]
mod argo_helm;
#[path = "real_operator_logs.rs"]
mod logs;

use common::{eventually, eventually_within, TestCluster};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Set by `controlplane/run.sh` when the node agent runs the real operators.
const REAL_OPERATORS_ENV: &str = "OPERATOR_UPGRADE_REAL_OPERATORS";
const COHORT_LABEL: &str = "operator-upgrade.dev/cohort";
const CONTROLLER_ID: &str = "operator.prometheus.io/controller-id";
const PROMETHEUSES: usize = 3;
const ALERTMANAGERS: usize = 2;
/// The schema changes of v0.76.0 a user accepts after reading the plan, as the plan's refusal tells: the
/// ScrapeConfig roles' enum changed case (no ScrapeConfig here uses one), and ServiceMonitors' `endpoints`
/// is required again (the live check of the existing ServiceMonitors is what guards that one).
const ACCEPTED: [&str; 4] = ["--accept", "enum-value-removed", "--accept", "required-added@.spec.endpoints"];
/// The operators' images (not the Prometheus and Alertmanager Pods they make, which go with the namespace).
const OPERATOR_IMAGES: [&str; 2] =
    ["quay.io/prometheus-operator/prometheus-operator:", "quay.io/argoproj/argo-rollouts:"];
/// How long a real operator may take to make its objects healthy (StatefulSets, their Pods, its resyncs).
const OPERATOR_PACE: Duration = Duration::from_secs(180);

/// The tests of one operator share its cluster-wide CRDs and ClusterRoles: one at a time. Different operators
/// share nothing cluster-wide, so their tests run side by side.
static PROMETHEUS_OPERATOR: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Argo Rollouts' turn (see [`PROMETHEUS_OPERATOR`]).
static ARGO_ROLLOUTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The real control plane with the real operators built, or None with a visible skip message.
async fn real_operators(test: &str) -> Option<TestCluster> {
    let cluster = TestCluster::real(test).await?;
    if std::env::var_os(REAL_OPERATORS_ENV).is_none() {
        let _ = writeln!(
            std::io::stderr(),
            "skipped {test} with real operators: run `controlplane/build-operators.sh` (needs Go) before `controlplane/run.sh cargo test`"
        );
        return None;
    }
    Some(cluster)
}

fn corpus() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/releases");
    path.is_dir().then_some(path)
}

fn gvk_api(cluster: &TestCluster, namespace: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("monitoring.coreos.com", "v1", kind);
    Api::namespaced_with(cluster.client(), namespace, &ApiResource::from_gvk_with_plural(&gvk, plural))
}

/// A release's bundle with its namespace (`default`) renamed to the test's, as the plan's comment tells users,
/// then changed by `edit` (a regression the test makes).
fn copy_bundle(corpus: &Path, version: &str, to: &Path, namespace: &str, edit: impl Fn(String) -> String) {
    let text = std::fs::read_to_string(corpus.join("prometheus-operator").join(version).join("bundle.yaml")).unwrap();
    let text = edit(text.replace("namespace: default", &format!("namespace: {namespace}")));
    std::fs::create_dir_all(to.join(version)).unwrap();
    std::fs::write(to.join(version).join("bundle.yaml"), text).unwrap();
}

/// `plans/prometheus-operator.yaml` for the test's namespace and copies of the releases, its analysis
/// shortened and the Prometheus-server signal left out.
fn write_plan(dir: &Path, namespace: &str, name: &str) -> PathBuf {
    let plan =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/prometheus-operator.yaml")).unwrap();
    let plan = plan
        .replace("name: prometheus-operator-v0-76", &format!("name: {name}"))
        .replace("namespace: monitoring", &format!("namespace: {namespace}"))
        .replace("path: ../releases/prometheus-operator/v0.75.0/", &format!("path: {}", dir.join("v0.75.0").display()))
        .replace("path: ../releases/prometheus-operator/v0.76.0/", &format!("path: {}", dir.join("v0.76.0").display()));
    let mut plan = shortened(plan, namespace);
    let server_signal = plan.find("      # The same counters as the cluster's Prometheus").unwrap();
    let on_inconclusive = plan.find("    onInconclusive").unwrap();
    plan.replace_range(server_signal..on_inconclusive, "");
    let path = dir.join("plan.yaml");
    std::fs::write(&path, plan).unwrap();
    path
}

/// A shipped plan as a test runs it: its analysis shortened, and its cohort drawn from the test's namespace
/// (the operator is cluster-wide: an earlier test's objects are not this test's cohort).
fn shortened(plan: String, namespace: &str) -> String {
    let plan = plan
        .replace("interval: 1m", "interval: 2s")
        .replace("duration: 20m", "duration: 20s")
        .replace("warmUp: 2m", "warmUp: 4s")
        .replace("maxCatchUp: 3m", "maxCatchUp: 15s")
        // A rollback waits for every object healthy again, at the pace a real operator keeps (OPERATOR_PACE).
        .replace("timeout: 10m", "timeout: 3m")
        .replace("      count: 1\n", &format!("      namespaces: [{namespace}]\n      count: 1\n"));
    assert!(plan.contains(&format!("namespaces: [{namespace}]")) && plan.contains("interval: 2s"), "{plan}");
    plan
}

/// Runs kubectl (the control plane's, first on PATH) as a user would; panics with its output on failure.
fn kubectl(cluster: &TestCluster, args: &[&str]) -> String {
    let output = std::process::Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", cluster.kubeconfig_path())
        .output()
        .expect("kubectl runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "kubectl {args:?}: {text}");
    text
}

fn condition<'a>(object: &'a DynamicObject, kind: &str) -> Option<&'a str> {
    let conditions = object.data["status"]["conditions"].as_array()?;
    conditions.iter().find(|c| c["type"] == kind)?["status"].as_str()
}

/// Every Prometheus and Alertmanager of the namespace Available, reconciled at its generation.
async fn all_available(cluster: &TestCluster, namespace: &str) -> Option<()> {
    for (kind, plural, count) in
        [("Prometheus", "prometheuses", PROMETHEUSES), ("Alertmanager", "alertmanagers", ALERTMANAGERS)]
    {
        let list = gvk_api(cluster, namespace, kind, plural).list(&ListParams::default()).await.ok()?;
        let available = list.items.iter().filter(|o| condition(o, "Available") == Some("True")).count();
        if available != count {
            return None;
        }
    }
    Some(())
}

/// `kubectl apply` returns once the API server stored the objects, but a CRD serves its kind only once it is
/// Established: objects of a kind whose CRD was just created wait for that.
async fn wait_for_crds(cluster: &TestCluster, manifest: &Path) {
    for object in operator_upgrade::manifest::load_objects(manifest).expect("the release loads") {
        if object.value["kind"] == "CustomResourceDefinition" {
            cluster.wait_established(object.value["metadata"]["name"].as_str().unwrap()).await;
        }
    }
}

async fn create(api: &Api<DynamicObject>, value: serde_json::Value) {
    let object: DynamicObject = serde_json::from_value(value).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
}

/// Several Prometheus, Alertmanager and ServiceMonitor objects, as the project's examples have them.
async fn create_objects(cluster: &TestCluster, namespace: &str) {
    let prometheuses = gvk_api(cluster, namespace, "Prometheus", "prometheuses");
    for index in 0..PROMETHEUSES {
        create(&prometheuses, json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
            "metadata": {"name": format!("prometheus-{index}")},
            "spec": {"replicas": 1, "serviceAccountName": "default", "serviceMonitorSelector": {"matchLabels": {"team": "a"}}}}))
        .await;
    }
    let alertmanagers = gvk_api(cluster, namespace, "Alertmanager", "alertmanagers");
    for index in 0..ALERTMANAGERS {
        create(
            &alertmanagers,
            json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Alertmanager",
            "metadata": {"name": format!("alertmanager-{index}")}, "spec": {"replicas": 1}}),
        )
        .await;
    }
    let monitors = gvk_api(cluster, namespace, "ServiceMonitor", "servicemonitors");
    create(
        &monitors,
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": "app", "labels": {"team": "a"}},
        "spec": {"selector": {"matchLabels": {"app": "a"}}, "endpoints": [{"port": "web"}]}}),
    )
    .await;
}

/// Users' spec changes while the run goes on (the tool never writes a spec): every second each Prometheus
/// gets a new scrape interval and each Alertmanager a new config selector, so the operators have reconciles
/// to count and generations to catch up on (a quiet cohort gives the catch-up and reconcile-ratio signals no
/// data, which fails an analysis). Both change only the generated configuration: a change of the Pods'
/// template (a log level) would re-roll the single-replica StatefulSets every second, and each re-roll makes
/// its object unavailable for a moment, which the conditions signal counts.
fn churn(cluster: &TestCluster, namespace: &str) -> tokio::task::JoinHandle<()> {
    let apis = [
        gvk_api(cluster, namespace, "Prometheus", "prometheuses"),
        gvk_api(cluster, namespace, "Alertmanager", "alertmanagers"),
    ];
    tokio::spawn(async move {
        for round in 0u64.. {
            let patches = [
                json!({"spec": {"scrapeInterval": format!("{}s", 30 + round % 2)}}),
                json!({"spec": {"alertmanagerConfigSelector": {"matchLabels": {"round": (round % 2).to_string()}}}}),
            ];
            for (api, patch) in apis.iter().zip(&patches) {
                let Ok(list) = api.list(&ListParams::default()).await else { continue };
                for object in list.items {
                    let name = object.metadata.name.unwrap_or_default();
                    let patch = patch.clone();
                    let _ =
                        api.patch(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await;
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// The running operator pods of the namespace (not being deleted), with their Deployment's name.
async fn operator_pods(cluster: &TestCluster, namespace: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(cluster.client(), namespace);
    let list = pods.list(&ListParams::default()).await.unwrap();
    list.items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.spec.iter().flat_map(|s| s.containers.iter()).any(|c| {
                c.image.as_deref().is_some_and(|i| i.starts_with("quay.io/prometheus-operator/prometheus-operator:"))
            })
        })
        .collect()
}

/// The operator's own reconcile counter, read through the API server's pod proxy as the tool reads it.
async fn reconciles(cluster: &TestCluster, namespace: &str, pod: &str) -> Option<f64> {
    let path = format!("/api/v1/namespaces/{namespace}/pods/{pod}:8080/proxy/metrics");
    let request = http::Request::get(path).body(Vec::new()).ok()?;
    let text = cluster.client().request_text(request).await.ok()?;
    let total = text
        .lines()
        .filter(|l| l.starts_with("prometheus_operator_reconcile_operations_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    Some(total)
}

/// prometheus-operator v0.75.0 installed and healthy in a namespace of the test's own, with the plan to
/// v0.76.0 (changed by `edit_new`).
struct Installed {
    dir: tempfile::TempDir,
    namespace: String,
    plan: String,
    /// How long the install took until every object was healthy.
    took: Duration,
}

async fn install(cluster: &TestCluster, corpus: &Path, edit_new: impl Fn(String) -> String) -> Installed {
    let started = Instant::now();
    let namespace = cluster.namespace("monitoring").await;
    let dir = tempfile::tempdir().unwrap();
    copy_bundle(corpus, "v0.75.0", dir.path(), &namespace, |t| t);
    copy_bundle(corpus, "v0.76.0", dir.path(), &namespace, edit_new);
    let plan = write_plan(dir.path(), &namespace, &cluster.unique("prometheus-operator")).display().to_string();
    // Installed as a user installs it, and its objects made healthy by the real v0.75.0 operator.
    // The CRDs are cluster-wide: a test before this one may have left them at v0.76.0, owned by the tool.
    let bundle = dir.path().join("v0.75.0/bundle.yaml").display().to_string();
    kubectl(cluster, &["apply", "--server-side", "--force-conflicts", "-f", &bundle]);
    wait_for_crds(cluster, Path::new(&bundle)).await;
    create_objects(cluster, &namespace).await;
    eventually_within("every Prometheus and Alertmanager Available under v0.75.0", OPERATOR_PACE, || {
        all_available(cluster, &namespace)
    })
    .await;
    Installed { dir, namespace, plan, took: started.elapsed() }
}

impl Installed {
    /// `apply` of the plan while users change specs: exit code, output, how long it took.
    async fn apply(&self, cluster: &TestCluster) -> (i32, String, Duration) {
        let started = Instant::now();
        let users = churn(cluster, &self.namespace);
        let mut args = vec!["apply", "-f", &self.plan, "--yes"];
        args.extend(ACCEPTED);
        let (code, output) = common::run_tool(cluster, &args, &[]).await;
        users.abort();
        (code, output, started.elapsed())
    }

    async fn stable_image(&self, cluster: &TestCluster) -> String {
        let deployments: Api<Deployment> = Api::namespaced(cluster.client(), &self.namespace);
        let stable = deployments.get("prometheus-operator").await.unwrap();
        stable.spec.unwrap().template.spec.unwrap().containers[0].image.clone().unwrap()
    }

    /// Nothing of the run is left: no cohort label or controller-id annotation, no copy Deployment, no lease
    /// of the tool's (prometheus-operator elects no leader).
    async fn assert_clean(&self, cluster: &TestCluster) {
        for (kind, plural) in [("Prometheus", "prometheuses"), ("Alertmanager", "alertmanagers")] {
            for object in gvk_api(cluster, &self.namespace, kind, plural).list(&ListParams::default()).await.unwrap() {
                let labels = object.metadata.labels.clone().unwrap_or_default();
                let annotations = object.metadata.annotations.clone().unwrap_or_default();
                let name = &object.metadata.name;
                assert!(!labels.contains_key(COHORT_LABEL), "{kind} {name:?} keeps the cohort label");
                assert!(!annotations.contains_key(CONTROLLER_ID), "{kind} {name:?} keeps the controller id");
            }
        }
        let deployments: Api<Deployment> = Api::namespaced(cluster.client(), &self.namespace);
        let list = deployments.list(&ListParams::default()).await.unwrap();
        let names: Vec<String> = list.items.into_iter().filter_map(|d| d.metadata.name).collect();
        assert_eq!(names, ["prometheus-operator"], "only the stable Deployment is left");
        let leases: Api<Lease> = Api::namespaced(cluster.client(), &self.namespace);
        let list = leases.list(&ListParams::default()).await.unwrap();
        let left: Vec<String> = list.items.into_iter().filter_map(|l| l.metadata.name).collect();
        assert!(left.iter().all(|l| !l.starts_with("operator-upgrade")), "the run's lease is gone: {left:?}");
        assert_no_canary_access(cluster, &self.namespace).await;
    }

    /// Every object healthy, and the one operator pod left reconciling by its own counters.
    async fn assert_healthy_under_one_operator(&self, cluster: &TestCluster, version: &str) {
        eventually_within(
            &format!("every Prometheus and Alertmanager Available under {version}"),
            OPERATOR_PACE,
            || all_available(cluster, &self.namespace),
        )
        .await;
        let pods = eventually("one running operator pod", || async {
            let pods = operator_pods(cluster, &self.namespace).await;
            (pods.len() == 1).then_some(pods)
        })
        .await;
        let image = pods[0].spec.as_ref().unwrap().containers[0].image.clone().unwrap();
        assert!(image.ends_with(version), "{image}");
        let pod = pods[0].metadata.name.clone().unwrap();
        let counted =
            eventually("the operator's reconcile counter", || reconciles(cluster, &self.namespace, &pod)).await;
        assert!(counted > 0.0, "the operator left reconciles nothing");
    }

    async fn remove(self, cluster: &TestCluster) {
        remove_namespace(cluster, &self.namespace).await;
        drop(self.dir);
    }
}

/// The real control plane with the built operators and the corpus, or None with a visible skip message.
async fn real_operator_bed(test: &str) -> Option<(TestCluster, PathBuf)> {
    let cluster = real_operators(test).await?;
    let Some(corpus) = corpus() else {
        let _ = writeln!(
            std::io::stderr(),
            "skipped {test}: the corpus (../shared/corpus/releases) is not beside the clone"
        );
        return None;
    };
    Some((cluster, corpus))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prometheus_operator_is_upgraded_by_apply_with_its_canary_and_finalized_on_the_real_control_plane() {
    let test = "prometheus_operator_is_upgraded_by_apply_with_its_canary_and_finalized";
    let Some((cluster, corpus)) = real_operator_bed(test).await else { return };
    let _turn = PROMETHEUS_OPERATOR.lock().await;
    let installed = install(&cluster, &corpus, |t| t).await;
    // A ServiceMonitor without endpoints: valid under v0.75.0, invalid under v0.76.0 (the field is required
    // again there). The live plan names it and `apply` refuses until it is fixed.
    let monitors = gvk_api(&cluster, &installed.namespace, "ServiceMonitor", "servicemonitors");
    create(
        &monitors,
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": "no-endpoints"}, "spec": {"selector": {"matchLabels": {"app": "b"}}}}),
    )
    .await;
    let (code, output) = common::run_tool(&cluster, &["plan", "-f", &installed.plan], &[]).await;
    assert!(output.contains("no-endpoints") && output.contains("required-missing"), "{output}");
    assert_ne!(code, 0, "{output}");
    let (code, output, _) = installed.apply(&cluster).await;
    assert!(output.contains("no-endpoints") && output.contains("required-missing"), "{output}");
    assert_ne!(code, 0, "{output}");
    assert_eq!(installed.stable_image(&cluster).await, "quay.io/prometheus-operator/prometheus-operator:v0.75.0");
    let fix = json!({"spec": {"endpoints": [{"port": "web"}]}});
    monitors.patch("no-endpoints", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&fix)).await.unwrap();

    let (code, output, took) = installed.apply(&cluster).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("promoted"), "{output}");
    assert_eq!(installed.stable_image(&cluster).await, "quay.io/prometheus-operator/prometheus-operator:v0.76.0");
    let (code, output) = common::run_tool(&cluster, &["finalize", "-f", &installed.plan, "--yes"], &[]).await;
    assert_eq!(code, 0, "{output}");
    installed.assert_clean(&cluster).await;
    installed.assert_healthy_under_one_operator(&cluster, "v0.76.0").await;
    // The operators' own logs: every reconcile of every object, by which Deployment, to the millisecond.
    let logs_dir =
        Path::new(&std::env::var_os("CONTROLPLANE_DIR").expect("run.sh names its directory")).join("logs/pods");
    let syncs = logs::syncs_in(&logs_dir, &installed.namespace, "prometheus-operator");
    let mut by_deployment: std::collections::BTreeMap<&str, usize> = Default::default();
    for sync in &syncs {
        *by_deployment.entry(sync.deployment.as_str()).or_default() += 1;
    }
    assert!(by_deployment.get("prometheus-operator-canary").is_some_and(|n| *n > 0), "{by_deployment:?}");
    let interleaved = logs::interleaved(&syncs, "prometheus-operator");
    assert!(interleaved.is_empty(), "reconciled back and forth between Deployments: {interleaved:#?}");
    eprintln!(
        "{test}: installed and healthy in {:.1?}, apply took {took:.1?}; reconciles logged by Deployment {by_deployment:?}",
        installed.took
    );
    installed.remove(&cluster).await;
}

/// A real crash loop: the new release passes a flag the v0.76.0 binary does not know, so it exits at start
/// (flag parsing) and the test bed's kubelet restarts it with back-off. The canary's analysis catches it
/// (its restarts, or its reconcile counters that cannot be read) and the run rolls itself back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_prometheus_operator_release_that_crash_loops_is_rolled_back_by_itself_on_the_real_control_plane() {
    let test = "a_prometheus_operator_release_that_crash_loops_is_rolled_back_by_itself";
    let Some((cluster, corpus)) = real_operator_bed(test).await else { return };
    let _turn = PROMETHEUS_OPERATOR.lock().await;
    let bad_flag = |text: String| {
        text.replace(
            "- --kubelet-service=kube-system/kubelet",
            "- --kubelet-service=kube-system/kubelet\n        - --no-such-flag=1",
        )
    };
    let installed = install(&cluster, &corpus, bad_flag).await;
    let (code, output, took) = installed.apply(&cluster).await;
    assert_eq!(code, 1, "{output}");
    // Whichever sees it first: the restarts, or the canary's own counters that cannot be read after the
    // warm-up (its process is down between restarts: it reconciles nothing).
    let caught = output.contains("podRestarts failed") || output.contains("the canary's reconciles cannot be read");
    assert!(caught, "{output}");
    assert!(output.contains("rolled back"), "{output}");
    assert_eq!(installed.stable_image(&cluster).await, "quay.io/prometheus-operator/prometheus-operator:v0.75.0");
    installed.assert_clean(&cluster).await;
    installed.assert_healthy_under_one_operator(&cluster, "v0.75.0").await;
    eprintln!("{test}: apply, from the canary's start to restored, took {took:.1?}");
    installed.remove(&cluster).await;
}

/// A release that lost a permission: v0.76.0 whose ClusterRole no longer grants Services (the governing
/// Service of every Prometheus), so the new operator's reconciles get 403 from the real API server. While the
/// canary runs the operator's ServiceAccount holds both releases' rules (the stable and baseline need the
/// old ones), so the canary runs under an account of its own bound to the new release's roles only: the
/// 403s fail the canary's reconciles, its analysis catches them, and the run rolls itself back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_prometheus_operator_release_that_lost_a_permission_is_rolled_back_by_itself_on_the_real_control_plane() {
    let test = "a_prometheus_operator_release_that_lost_a_permission_is_rolled_back_by_itself";
    let Some((cluster, corpus)) = real_operator_bed(test).await else { return };
    let _turn = PROMETHEUS_OPERATOR.lock().await;
    let services_rule = "- apiGroups:\n  - \"\"\n  resources:\n  - services\n  - services/finalizers\n  - endpoints\n  verbs:\n  - get\n  - create\n  - update\n  - delete\n";
    let no_services = |text: String| {
        assert!(text.contains(services_rule), "the v0.76.0 ClusterRole grants Services as this test expects");
        text.replacen(services_rule, "", 1)
    };
    let installed = install(&cluster, &corpus, no_services).await;
    let (code, output, took) = installed.apply(&cluster).await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("reconcile-error-ratio failed"), "{output}");
    assert!(output.contains("rolled back"), "{output}");
    assert_eq!(installed.stable_image(&cluster).await, "quay.io/prometheus-operator/prometheus-operator:v0.75.0");
    installed.assert_clean(&cluster).await;
    installed.assert_healthy_under_one_operator(&cluster, "v0.75.0").await;
    let restored = output.lines().find(|l| l.contains("to the restored state"));
    let restored = restored.unwrap_or_else(|| panic!("the time to restored is printed: {output}"));
    eprintln!("{test}: apply took {took:.1?}; {restored}");
    installed.remove(&cluster).await;
}

/// The canary's own account is gone: its ServiceAccount and every role and binding copied for it.
async fn assert_no_canary_access(cluster: &TestCluster, namespace: &str) {
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    let params = ListParams::default().labels("operator-upgrade.dev/run");
    let names = |items: Vec<Option<String>>| items.into_iter().flatten().collect::<Vec<_>>();
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client(), namespace);
    let roles: Api<Role> = Api::namespaced(cluster.client(), namespace);
    let bindings: Api<RoleBinding> = Api::namespaced(cluster.client(), namespace);
    let cluster_roles: Api<ClusterRole> = Api::all(cluster.client());
    let cluster_bindings: Api<ClusterRoleBinding> = Api::all(cluster.client());
    let mut left = names(accounts.list(&params).await.unwrap().items.into_iter().map(|o| o.metadata.name).collect());
    left.extend(names(roles.list(&params).await.unwrap().items.into_iter().map(|o| o.metadata.name).collect()));
    left.extend(names(bindings.list(&params).await.unwrap().items.into_iter().map(|o| o.metadata.name).collect()));
    let ours = |name: &String| name.starts_with(&format!("{namespace}."));
    let cluster_wide = cluster_roles.list(&params).await.unwrap().items.into_iter().map(|o| o.metadata.name);
    left.extend(names(cluster_wide.collect()).into_iter().filter(ours));
    let cluster_wide = cluster_bindings.list(&params).await.unwrap().items.into_iter().map(|o| o.metadata.name);
    left.extend(names(cluster_wide.collect()).into_iter().filter(ours));
    assert!(left.is_empty(), "the canary's account is left: {left:?}");
}

/// Removes a test's operators and namespace: every Deployment of the namespace is deleted and its Pods'
/// processes stopped before the next test begins (an operator here is cluster-wide, like every install of
/// these operators, and would reconcile the next test's objects), then the namespace goes in the background
/// (its objects may take their time; the next test's cohort is drawn from its own namespace only).
async fn remove_namespace(cluster: &TestCluster, namespace: &str) {
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), namespace);
    let _ = deployments.delete_collection(&DeleteParams::background(), &ListParams::default()).await;
    let pods: Api<Pod> = Api::namespaced(cluster.client(), namespace);
    eventually_within(&format!("no operator Pod left in {namespace}"), OPERATOR_PACE, || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        let images = list.items.iter().flat_map(|p| p.spec.iter().flat_map(|s| s.containers.iter()));
        let operators = images
            .filter_map(|c| c.image.as_deref())
            .filter(|i| OPERATOR_IMAGES.iter().any(|o| i.starts_with(o)))
            .count();
        (operators == 0).then_some(())
    })
    .await;
    let namespaces: Api<Namespace> = Api::all(cluster.client());
    let _ = namespaces.delete(namespace, &DeleteParams::background()).await;
}
