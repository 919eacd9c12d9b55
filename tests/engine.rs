//! The engine end to end through the real binary and `kube::Client`, on the simulator and the real control
//! plane: the demo operator v1.0.0 -> v1.1.0 without a canary applied, inspected, rolled back (every object
//! the run touched compared field by field with the test's own snapshot), applied again and finalized
//! (every object stored at v1, storedVersions [v1]); a bad release rolled back by itself; refusals.
//!
//! The releases are a copy of `examples/demo-operator` renamed to the API group `engine.operator-upgrade.dev`
//! and a namespace of the test's own, so the demo's CRD on a shared control plane is never touched; the
//! test bed runs the renamed images as the same scripted operator. On the real control plane the CRD is
//! cluster-wide, so the tests there take turns.

use crate::common;

use common::{comparable, eventually, failing, TestCluster};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use operator_upgrade::sim::Scenario;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub(crate) const GROUP: &str = "engine.operator-upgrade.dev";
const CRD: &str = "widgets.engine.operator-upgrade.dev";

/// Real-cluster tests share one cluster-scoped CRD: one at a time.
static REAL_CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn demo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator").join(relative)
}

/// The demo scenario's image behaviours (the engine images among them), without objects.
pub(crate) fn images() -> Scenario {
    let scenario = Scenario::load(&demo("scenario.yaml")).expect("the demo scenario loads");
    Scenario { images: scenario.images, seed: scenario.seed, tick_ms: 20, ..Scenario::default() }
}

/// A copy of the demo releases and a plan for them, in a directory of the test's own.
pub(crate) struct Demo {
    dir: tempfile::TempDir,
    pub(crate) namespace: String,
    pub(crate) widgets: String,
    pub(crate) plan_name: String,
}

impl Demo {
    pub(crate) fn plan(&self) -> PathBuf {
        self.dir.path().join("plan.yaml")
    }

    fn kubeconfig_args(cluster: &TestCluster) -> Vec<String> {
        vec!["--kubeconfig".into(), cluster.kubeconfig_path().display().to_string()]
    }
}

fn copy_release(from: &str, to: &Path, namespace: &str, image_tag: &str) {
    std::fs::create_dir_all(to).unwrap();
    for file in ["crds.yaml", "operator.yaml"] {
        let text = std::fs::read_to_string(demo(from).join(file)).unwrap();
        let text = text
            .replace("demo.operator-upgrade.dev", GROUP)
            .replace("registry.example/demo-operator:v1.1.0", &format!("registry.example/engine-operator:{image_tag}"))
            .replace("registry.example/demo-operator:", "registry.example/engine-operator:")
            .replace("demo-system", namespace);
        std::fs::write(to.join(file), text).unwrap();
    }
}

/// The plan file: no canary, a short analysis, automatic rollback; `extra` is more YAML under `spec`.
fn write_plan(demo: &Demo, extra: &str) {
    let plan = format!(
        r#"apiVersion: operator-upgrade.dev/v1alpha1
kind: UpgradePlan
metadata:
  name: {name}
spec:
  operator: {{namespace: {namespace}, deployment: demo-operator, container: manager}}
  from: {{path: v1.0.0, version: v1.0.0}}
  to: {{path: v1.1.0, version: v1.1.0}}
  takeOwnershipFrom: [operator-upgrade-tests]
  analysis:
    interval: 500ms
    duration: 2s
    warmUp: 500ms
    signals:
      - conditions: {{}}
      # No user changes a Widget here, so observedGeneration would have no data, and no data is not a pass.
      - podRestarts: {{}}
  rollback: {{automatic: true, timeout: 1m}}
{extra}"#,
        name = demo.plan_name,
        namespace = demo.namespace
    );
    std::fs::write(demo.plan(), plan).unwrap();
}

pub(crate) fn widgets_api(cluster: &TestCluster, namespace: &str, version: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(GROUP, version, "Widget");
    Api::namespaced_with(cluster.client(), namespace, &ApiResource::from_gvk_with_plural(&gvk, "widgets"))
}

/// Removes what earlier engine tests on a shared cluster left: their operators and the CRD with its objects.
async fn clear_real_cluster(cluster: &TestCluster) {
    let deployments: Api<Deployment> = Api::all(cluster.client());
    for deployment in deployments.list(&ListParams::default()).await.unwrap().items {
        let namespace = deployment.metadata.namespace.clone().unwrap_or_default();
        if namespace.starts_with("engine-") {
            let api: Api<Deployment> = Api::namespaced(cluster.client(), &namespace);
            let _ = api.delete(deployment.metadata.name.as_deref().unwrap(), &DeleteParams::background()).await;
        }
    }
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    let _ = crds.delete(CRD, &DeleteParams::default()).await;
    eventually("the engine CRD is gone", || async {
        crds.get_opt(CRD).await.ok().and_then(|c| c.is_none().then_some(()))
    })
    .await;
}

/// Installs the demo v1.0.0 (renamed) with 8 Widgets, every fourth gold, all Ready.
async fn install(cluster: &TestCluster, bad_release: bool) -> Demo {
    let namespace = cluster.unique("engine");
    let dir = tempfile::tempdir().unwrap();
    copy_release("v1.0.0", &dir.path().join("v1.0.0"), &namespace, "v1.0.0");
    copy_release("v1.1.0", &dir.path().join("v1.1.0"), &namespace, if bad_release { "v1.1.0-bad" } else { "v1.1.0" });
    let demo = Demo { dir, namespace, widgets: String::new(), plan_name: cluster.unique("engine-demo") };
    cluster.apply_file(&demo.dir.path().join("v1.0.0")).await;
    let widgets = cluster.namespace("widgets").await;
    let api = widgets_api(cluster, &widgets, "v1alpha1");
    for index in 0..8 {
        let tier = if index % 4 == 0 { "gold" } else { "silver" };
        let widget: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{GROUP}/v1alpha1"), "kind": "Widget",
            "metadata": {"name": format!("widget-{index}"), "labels": {"demo.operator-upgrade.dev/tier": tier}},
            "spec": {"image": "nginx:1.27", "tier": tier, "replicas": 1}}))
        .unwrap();
        api.create(&PostParams::default(), &widget).await.unwrap();
    }
    eventually("all 8 widgets Ready under the v1.0.0 operator", || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        list.items.iter().all(|w| ready(w) == Some("True")).then_some(())
    })
    .await;
    Demo { widgets, ..demo }
}

fn ready(widget: &DynamicObject) -> Option<&str> {
    let conditions = widget.data["status"]["conditions"].as_array()?;
    conditions.iter().find(|c| c["type"] == "Ready")?["status"].as_str()
}

/// Runs the binary with `args` and the cluster's kubeconfig; returns the exit code and the output.
pub(crate) async fn tool(cluster: &TestCluster, args: &[&str], env: &[(&str, String)]) -> (i32, String) {
    common::run_tool(cluster, args, env).await
}

/// Every object of both releases as it is live now (absent ones as null), by kind and name.
async fn snapshot(cluster: &TestCluster, demo: &Demo) -> Vec<(String, Value)> {
    let mut keys = Vec::new();
    for release in ["v1.0.0", "v1.1.0"] {
        for object in operator_upgrade::manifest::load_objects(&demo.dir.path().join(release)).unwrap() {
            let value = object.value;
            let key = (
                value["apiVersion"].as_str().unwrap().to_owned(),
                value["kind"].as_str().unwrap().to_owned(),
                value["metadata"]["name"].as_str().unwrap().to_owned(),
            );
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let discovery =
        common::discover(cluster.client(), keys.iter().map(|(api_version, _, _)| api_version.as_str())).await;
    let mut out = Vec::new();
    for (api_version, kind, name) in keys {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
        let (resource, caps) = discovery.resolve_gvk(&GroupVersionKind::gvk(group, version, &kind)).unwrap();
        let api: Api<DynamicObject> = match caps.scope {
            kube::discovery::Scope::Namespaced => Api::namespaced_with(cluster.client(), &demo.namespace, &resource),
            kube::discovery::Scope::Cluster => Api::all_with(cluster.client(), &resource),
        };
        let live = api.get_opt(&name).await.unwrap().map(|o| comparable(serde_json::to_value(o).unwrap()));
        out.push((format!("{kind} {name}"), live.unwrap_or(Value::Null)));
    }
    out
}

async fn crd(cluster: &TestCluster) -> CustomResourceDefinition {
    Api::<CustomResourceDefinition>::all(cluster.client()).get(CRD).await.unwrap()
}

async fn operator_image(cluster: &TestCluster, demo: &Demo) -> String {
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), &demo.namespace);
    let deployment = deployments.get("demo-operator").await.unwrap();
    deployment.spec.unwrap().template.spec.unwrap().containers[0].image.clone().unwrap()
}

async fn cleanup(cluster: &TestCluster, demo: &Demo) {
    if cluster.is_real() {
        let deployments: Api<Deployment> = Api::namespaced(cluster.client(), &demo.namespace);
        let _ = deployments.delete("demo-operator", &DeleteParams::background()).await;
    }
}

async fn apply_status_rollback_apply_finalize(cluster: TestCluster) {
    let _turn = if cluster.is_real() { Some(REAL_CLUSTER.lock().await) } else { None };
    if cluster.is_real() {
        clear_real_cluster(&cluster).await;
    }
    let demo = install(&cluster, false).await;
    write_plan(&demo, "");
    let plan = demo.plan().display().to_string();
    let before = snapshot(&cluster, &demo).await;

    let (code, out) = tool(
        &cluster,
        &["apply", "-f", &plan, "--yes", "--accept", "field-removed", "--accept", "enum-value-removed"],
        &[],
    )
    .await;
    assert_eq!(code, 0, "apply: {out}");
    assert!(out.contains("promoted"), "{out}");
    assert_eq!(operator_image(&cluster, &demo).await, "registry.example/engine-operator:v1.1.0");
    let expanded = crd(&cluster).await;
    let versions: Vec<(String, bool, bool)> =
        expanded.spec.versions.iter().map(|v| (v.name.clone(), v.served, v.storage)).collect();
    assert_eq!(
        versions,
        vec![("v1alpha1".into(), true, true), ("v1".into(), true, false)],
        "the expand serves both, stores v1alpha1"
    );

    // The old operator's field the new release drops survives writes while both are served.
    let old_api = widgets_api(&cluster, &demo.widgets, "v1alpha1");
    let legacy: DynamicObject =
        serde_json::from_value(json!({"apiVersion": format!("{GROUP}/v1alpha1"), "kind": "Widget",
        "metadata": {"name": "legacy"}, "spec": {"image": "nginx", "tier": "bronze", "legacyMode": true}}))
        .unwrap();
    old_api
        .create(&PostParams::default(), &legacy)
        .await
        .expect("bronze and legacyMode are accepted during the expand");
    assert_eq!(old_api.get("legacy").await.unwrap().data["spec"]["legacyMode"], true);
    old_api.delete("legacy", &DeleteParams::default()).await.unwrap();

    // Every step transition is an Event on the operator Deployment.
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(cluster.client(), &demo.namespace);
    let reasons: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some("demo-operator"))
        .filter_map(|e| e.reason)
        .collect();
    for reason in ["PreflightStarted", "CrdExpandDone", "PromotionDone", "AnalysisDone"] {
        assert!(reasons.iter().any(|r| r == reason), "an Event {reason} on the Deployment: {reasons:?}");
    }
    let (code, out) = tool(&cluster, &["status", "--plan", &demo.plan_name], &[]).await;
    assert_eq!(code, 0, "status: {out}");
    assert!(out.contains("promoted") && out.contains("crd-expand") && out.contains("rollback would restore"), "{out}");

    let (code, out) = tool(&cluster, &["rollback", "--plan", &demo.plan_name, "--yes"], &[]).await;
    assert_eq!(code, 0, "rollback: {out}");
    let after = snapshot(&cluster, &demo).await;
    for ((name, was), (_, is)) in before.iter().zip(&after) {
        assert_eq!(was, is, "{name} after rollback differs from the snapshot taken before apply");
    }
    assert_eq!(operator_image(&cluster, &demo).await, "registry.example/engine-operator:v1.0.0");
    let (code, out) = tool(&cluster, &["rollback", "--plan", &demo.plan_name, "--yes"], &[]).await;
    assert_eq!(code, 0, "rollback again is done, so a script can retry it: {out}");
    assert!(out.contains("is already rolled back (at "), "{out}");

    let (code, out) = tool(
        &cluster,
        &["apply", "-f", &plan, "--yes", "--accept", "field-removed", "--accept", "enum-value-removed"],
        &[],
    )
    .await;
    assert_eq!(code, 0, "apply again: {out}");
    let (code, out) = tool(&cluster, &["finalize", "-f", &plan, "--yes"], &[]).await;
    assert_eq!(code, 0, "finalize: {out}");
    let finalized = crd(&cluster).await;
    assert_eq!(finalized.status.unwrap().stored_versions, Some(vec!["v1".to_owned()]));
    let storage: Vec<&str> = finalized.spec.versions.iter().filter(|v| v.storage).map(|v| v.name.as_str()).collect();
    assert_eq!(storage, ["v1"]);
    if let Some(sim) = cluster.sim_handle() {
        for index in 0..8 {
            let stored = sim.stored_api_version(GROUP, "widgets", &demo.widgets, &format!("widget-{index}"));
            assert_eq!(stored.as_deref(), Some("engine.operator-upgrade.dev/v1"), "widget-{index} is stored at v1");
        }
    }
    let (code, out) = tool(&cluster, &["finalize", "-f", &plan, "--yes"], &[]).await;
    assert_eq!(code, 0, "finalize again is done, so a script can retry it: {out}");
    assert!(out.contains("is already finalized (at "), "{out}");
    let (code, out) = tool(&cluster, &["rollback", "--plan", &demo.plan_name, "--yes"], &[]).await;
    assert_eq!(code, 3, "rollback after finalize is refused: {out}");
    assert!(out.contains("finalized") && out.contains("next: upgrade forward"), "{out}");
    cleanup(&cluster, &demo).await;
}

on_both_clusters!(apply_status_rollback_apply_finalize, images());

async fn a_bad_release_is_rolled_back_by_itself(cluster: TestCluster) {
    let _turn = if cluster.is_real() { Some(REAL_CLUSTER.lock().await) } else { None };
    if cluster.is_real() {
        clear_real_cluster(&cluster).await;
    }
    let demo = install(&cluster, true).await;
    write_plan(&demo, "");
    let before = snapshot(&cluster, &demo).await;
    let (code, out) = tool(
        &cluster,
        &[
            "apply",
            "-f",
            &demo.plan().display().to_string(),
            "--yes",
            "--accept",
            "field-removed",
            "--accept",
            "enum-value-removed",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 1, "a regression rolls back with exit 1: {out}");
    assert!(out.contains("not Ready"), "the reason names the unhealthy widgets: {out}");
    let after = snapshot(&cluster, &demo).await;
    for ((name, was), (_, is)) in before.iter().zip(&after) {
        assert_eq!(was, is, "{name} after the automatic rollback differs from before apply");
    }
    let api = widgets_api(&cluster, &demo.widgets, "v1alpha1");
    eventually("every widget Ready again under v1.0.0", || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        list.items.iter().all(|w| ready(w) == Some("True")).then_some(())
    })
    .await;
    let (_, out) = tool(&cluster, &["status", "--plan", &demo.plan_name], &[]).await;
    assert!(out.contains("rolled-back"), "{out}");
    cleanup(&cluster, &demo).await;
}

on_both_clusters!(a_bad_release_is_rolled_back_by_itself, images());

/// The accepts every apply of the demo needs: its CRD removes a field and an enum value (both breaking).
const ACCEPT: [&str; 4] = ["--accept", "field-removed", "--accept", "enum-value-removed"];

pub(crate) async fn apply(cluster: &TestCluster, demo: &Demo, more: &[&str]) -> (i32, String) {
    let plan = demo.plan().display().to_string();
    let mut args = vec!["apply", "-f", &plan, "--yes"];
    args.extend(ACCEPT);
    args.extend(more);
    tool(cluster, &args, &[]).await
}

/// A test of refusals: the demo installed (taking turns on the real cluster) with a plan with `extra`.
async fn refusal_setup(cluster: &TestCluster, extra: &str) -> Demo {
    if cluster.is_real() {
        clear_real_cluster(cluster).await;
    }
    let demo = install(cluster, false).await;
    write_plan(&demo, extra);
    demo
}

async fn a_wrong_cluster_is_refused_naming_both_identities(cluster: TestCluster) {
    let _turn = if cluster.is_real() { Some(REAL_CLUSTER.lock().await) } else { None };
    let demo = refusal_setup(&cluster, "  cluster: {kubeSystemUid: 00000000-0000-4000-8000-00000000dead}\n").await;
    let before = snapshot(&cluster, &demo).await;
    let (code, out) = apply(&cluster, &demo, &[]).await;
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("wrong cluster") && out.contains("00000000-0000-4000-8000-00000000dead"), "{out}");
    assert!(out.contains("next: point --context") && out.contains("spec.cluster.kubeSystemUid"), "{out}");
    assert_eq!(before, snapshot(&cluster, &demo).await, "nothing changed");
    cleanup(&cluster, &demo).await;
}

on_both_clusters!(a_wrong_cluster_is_refused_naming_both_identities, images());

async fn a_second_apply_is_refused_while_a_live_run_holds_the_lease(cluster: TestCluster) {
    use k8s_openapi::api::coordination::v1::Lease;
    let _turn = if cluster.is_real() { Some(REAL_CLUSTER.lock().await) } else { None };
    let demo = refusal_setup(&cluster, "").await;
    let lock =
        operator_upgrade::cluster::operator_lock::OperatorLock::new(cluster.client(), &demo.namespace, "demo-operator");
    lock.hold("another-run@ci-runner/42", "another-plan", None).await.unwrap();
    let (code, out) = apply(&cluster, &demo, &[]).await;
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("another-run@ci-runner/42 (plan another-plan)"), "the refusal names the holder: {out}");
    assert!(out.contains("next: wait for that run to end (`operator-upgrade status`"), "{out}");
    // A Lease nobody renews any more (its holder was killed) is taken over.
    let leases: Api<Lease> = Api::namespaced(cluster.client(), &demo.namespace);
    let mut lease = leases.get(&lock.name()).await.unwrap();
    let stale = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(120);
    lease.spec.as_mut().unwrap().renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(stale));
    leases.replace(&lock.name(), &PostParams::default(), &lease).await.unwrap();
    let (code, out) = apply(&cluster, &demo, &[]).await;
    assert_eq!(code, 0, "a stale Lease is taken over: {out}");
    assert!(leases.get_opt(&lock.name()).await.unwrap().is_none(), "the run releases its Lease");
    cleanup(&cluster, &demo).await;
}

on_both_clusters!(a_second_apply_is_refused_while_a_live_run_holds_the_lease, images());

async fn drift_is_reported_and_a_server_dry_run_changes_nothing(cluster: TestCluster) {
    let _turn = if cluster.is_real() { Some(REAL_CLUSTER.lock().await) } else { None };
    let demo = refusal_setup(&cluster, "").await;
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    let patch = json!([{"op": "add", "path": "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/extra",
        "value": {"type": "string"}}]);
    // By the installer's own manager: drift the run may take over, as the plan says.
    let params = kube::api::PatchParams { field_manager: Some("operator-upgrade-tests".into()), ..Default::default() };
    crds.patch(CRD, &params, &kube::api::Patch::Json::<()>(serde_json::from_value(patch).unwrap())).await.unwrap();
    let before = snapshot(&cluster, &demo).await;
    let (code, out) = apply(&cluster, &demo, &["--dry-run=server"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("drift from the `from` release") && out.contains(".spec.extra"),
        "the added field is drift: {out}"
    );
    assert!(out.contains("dry run"), "{out}");
    assert_eq!(before, snapshot(&cluster, &demo).await, "a dry run changes nothing");
    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(cluster.client(), &demo.namespace);
    let journals = configmaps.list(&ListParams::default().labels("operator-upgrade.dev/journal=true")).await.unwrap();
    assert!(journals.items.is_empty(), "a dry run journals nothing");
    cleanup(&cluster, &demo).await;
}

on_both_clusters!(drift_is_reported_and_a_server_dry_run_changes_nothing, images());

async fn a_failing_backup_gate_refuses_before_any_change(cluster: TestCluster) {
    let _turn = if cluster.is_real() { Some(REAL_CLUSTER.lock().await) } else { None };
    let velero = cluster.unique("velero");
    let demo =
        refusal_setup(&cluster, &format!("  backups: [{{velero: {{namespace: {velero}, name: nightly}}}}]\n")).await;
    let before = snapshot(&cluster, &demo).await;
    let (code, out) = apply(&cluster, &demo, &[]).await;
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("backup-gate failed") && out.contains("nothing was changed"), "{out}");
    assert!(out.contains("next: take the backup the gate asks for"), "{out}");
    assert_eq!(before, snapshot(&cluster, &demo).await, "nothing changed");
    let (_, out) = tool(&cluster, &["status", "--plan", &demo.plan_name], &[]).await;
    assert!(out.contains("refused before any change"), "{out}");
    cleanup(&cluster, &demo).await;
}

on_both_clusters!(a_failing_backup_gate_refuses_before_any_change, images());

/// A pre-upgrade Job of `image` with `timeout`.
fn job_plan(image: &str, timeout: &str) -> String {
    format!(
        "  jobs:\n    preUpgrade:\n      - name: check\n        timeout: {timeout}\n        spec:\n          backoffLimit: 0\n          template:\n            spec:\n              restartPolicy: Never\n              containers: [{{name: check, image: {image}}}]\n"
    )
}

async fn run_jobs(cluster: &TestCluster, demo: &Demo) -> Vec<String> {
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(cluster.client(), &demo.namespace);
    jobs.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|j| j.metadata.name).collect()
}

async fn a_failing_or_late_job_rolls_back_and_leaves_no_job(new_cluster: impl AsyncFn() -> TestCluster) {
    for (image, timeout, expected) in [
        ("registry.example/engine-job:fails", "30s", "failed"),
        ("registry.example/engine-job:slow", "1s", "did not finish within 1s"),
    ] {
        let cluster = new_cluster().await;
        let demo = refusal_setup(&cluster, &job_plan(image, timeout)).await;
        let before = snapshot(&cluster, &demo).await;
        let (code, out) = apply(&cluster, &demo, &[]).await;
        assert_eq!(code, 1, "{image}: {out}");
        assert!(out.contains("pre-upgrade-job failed") && out.contains(expected), "{image}: {out}");
        assert_eq!(before, snapshot(&cluster, &demo).await, "{image}: everything restored");
        assert!(run_jobs(&cluster, &demo).await.is_empty(), "{image}: the run's Job is removed");
        cleanup(&cluster, &demo).await;
        // The request log sees the tool's deletes (of its Job), so the check that it never deletes a CRD
        // or a custom resource (on every simulator a test drops) can fail.
        let Some(sim) = cluster.sim_handle() else { continue };
        let requests = sim.requests();
        let tool_deletes = requests
            .iter()
            .filter(|r| r.user_agent == operator_upgrade::cluster::USER_AGENT && r.verb == "delete")
            .filter(|r| r.resource == "jobs.batch")
            .count();
        assert!(tool_deletes > 0, "{image}: the tool's DELETE of its Job is in the request log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_late_job_rolls_back_and_leaves_no_job_on_the_simulator() {
    a_failing_or_late_job_rolls_back_and_leaves_no_job(async || TestCluster::sim(images()).await).await;
}

// The node agent runs the Job images of the demo scenario as the simulator does (one fails, one is slow).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_late_job_rolls_back_and_leaves_no_job_on_the_real_control_plane() {
    let test = "a_failing_or_late_job_rolls_back_and_leaves_no_job";
    if TestCluster::real(test).await.is_none() {
        return;
    }
    let _turn = REAL_CLUSTER.lock().await;
    a_failing_or_late_job_rolls_back_and_leaves_no_job(async || TestCluster::real(test).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_is_refused_with_every_missing_one_listed() {
    let cluster = TestCluster::sim(images()).await;
    let demo = refusal_setup(&cluster, "").await;
    cluster.sim_handle().unwrap().set_denied_permissions(vec![
        operator_upgrade::sim::DeniedPermission {
            verb: "patch".into(),
            group: "apps".into(),
            resource: "deployments".into(),
            namespace: None,
        },
        operator_upgrade::sim::DeniedPermission {
            verb: "update".into(),
            group: String::new(),
            resource: "configmaps".into(),
            namespace: None,
        },
    ]);
    let (code, out) = apply(&cluster, &demo, &[]).await;
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("missing permissions")
            && out.contains("patch deployments (apps)")
            && out.contains("update configmaps (core)")
            && out.contains("next: grant them"),
        "{out}"
    );
}

/// The snapshot with the test's own names (namespace, plan) made neutral, to compare runs on different simulators.
async fn neutral_snapshot(cluster: &TestCluster, demo: &Demo) -> String {
    let text = serde_json::to_string_pretty(&snapshot(cluster, demo).await).unwrap();
    text.replace(&demo.namespace, "NAMESPACE")
}

/// The demo installed on a fresh simulator with a plan whose analysis takes a fraction of a second.
pub(crate) async fn fast_demo() -> (TestCluster, Demo) {
    let cluster = TestCluster::sim(images()).await;
    let demo = install(&cluster, false).await;
    write_plan(&demo, "");
    let plan = std::fs::read_to_string(demo.plan()).unwrap();
    let fast = plan.replace(
        "interval: 500ms\n    duration: 2s\n    warmUp: 500ms",
        "interval: 100ms\n    duration: 200ms\n    warmUp: 0s",
    );
    assert_ne!(plan, fast);
    std::fs::write(demo.plan(), fast).unwrap();
    (cluster, demo)
}

async fn apply_killed_after_write(cluster: &TestCluster, demo: &Demo, write: u64) -> (i32, String) {
    let plan = demo.plan().display().to_string();
    let mut args = vec!["apply", "-f", &plan, "--yes"];
    args.extend(ACCEPT);
    tool(cluster, &args, &[("OPERATOR_UPGRADE_CRASH_AFTER_WRITE", write.to_string())]).await
}

/// Kills the tool after its `write`-th API write, then resumes with `apply`: the end state must be the
/// uninterrupted run's. Returns false when the run made fewer writes (it was not killed).
async fn killed_then_resumed(write: u64, uninterrupted: &str) -> bool {
    let (cluster, demo) = fast_demo().await;
    let (code, out) = apply_killed_after_write(&cluster, &demo, write).await;
    if code == 0 {
        return false;
    }
    assert!(out.contains(&format!("fault point: aborting after API write {write}")), "write {write}: {out}");
    let (code, out) = apply(&cluster, &demo, &[]).await;
    assert_eq!(code, 0, "resuming after write {write}: {out}");
    assert_eq!(neutral_snapshot(&cluster, &demo).await, uninterrupted, "the end state after a kill at write {write}");
    let (_, status) = tool(&cluster, &["status", "--plan", &demo.plan_name], &[]).await;
    assert!(status.contains("promoted"), "write {write}: {status}");
    true
}

/// Kills the tool after its `write`-th API write, then runs `rollback`: the state before apply, exactly.
async fn killed_then_rolled_back(write: u64) {
    let (cluster, demo) = fast_demo().await;
    let before = neutral_snapshot(&cluster, &demo).await;
    let (code, _) = apply_killed_after_write(&cluster, &demo, write).await;
    if code == 0 {
        return;
    }
    let (code, out) = tool(&cluster, &["rollback", "--plan", &demo.plan_name, "--yes"], &[]).await;
    assert_eq!(code, 0, "rollback after a kill at write {write}: {out}");
    assert_eq!(
        neutral_snapshot(&cluster, &demo).await,
        before,
        "the state after a kill at write {write} and a rollback"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_any_two_writes_apply_resumes_and_rollback_restores() {
    let (cluster, demo) = fast_demo().await;
    let (code, out) = apply(&cluster, &demo, &[]).await;
    assert_eq!(code, 0, "the uninterrupted run: {out}");
    let uninterrupted = neutral_snapshot(&cluster, &demo).await;
    let mut write = 1;
    loop {
        let (resumed, ()) = tokio::join!(killed_then_resumed(write, &uninterrupted), killed_then_rolled_back(write));
        if !resumed {
            break;
        }
        write += 1;
    }
    eprintln!("the run was killed after each of its {} API writes in turn, then resumed or rolled back", write - 1);
    assert!(write > 10, "the run was killed after each of its {} writes", write - 1);
}

/// Applies the demo, then kills `rollback` (as a script would run it: no plan named) after its `write`-th
/// API write and runs it again: 0, and the state before apply. Returns the second rollback's output, or None
/// when the first made fewer writes (it completed).
async fn rollback_killed_then_run_again(write: u64) -> Option<String> {
    let (cluster, demo) = fast_demo().await;
    let before = neutral_snapshot(&cluster, &demo).await;
    let (code, out) = apply(&cluster, &demo, &[]).await;
    assert_eq!(code, 0, "{out}");
    let kill = [("OPERATOR_UPGRADE_CRASH_AFTER_WRITE", write.to_string())];
    let (code, out) = tool(&cluster, &["rollback", "--yes"], &kill).await;
    if code == 0 {
        return None;
    }
    assert!(out.contains(&format!("fault point: aborting after API write {write}")), "write {write}: {out}");
    let (code, again) = tool(&cluster, &["rollback", "--yes"], &[]).await;
    assert_eq!(code, 0, "rollback again after a kill at its write {write}: {again}");
    assert_eq!(neutral_snapshot(&cluster, &demo).await, before, "the state after a kill at rollback write {write}");
    let (code, third) = tool(&cluster, &["rollback", "--yes"], &[]).await;
    assert_eq!(code, 0, "a rolled-back run's rollback is done, not refused: {third}");
    assert!(third.contains("is already rolled back (at "), "{third}");
    Some(again)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_killed_after_any_write_including_its_last_is_completed_by_running_it_again() {
    let mut outputs = Vec::new();
    while let Some(out) = rollback_killed_then_run_again(outputs.len() as u64 + 1).await {
        outputs.push(out);
    }
    eprintln!("rollback was killed after each of its {} API writes in turn, then run again", outputs.len());
    assert!(outputs.len() > 3, "rollback made {} writes", outputs.len());
    // Killed right after its last write (the journal closed, the Lease still held), the rollback is done.
    let last = outputs.last().unwrap();
    assert!(last.contains("is already rolled back (at "), "after the last write: {last}");
}

fn transient_faults(seed: u64) -> operator_upgrade::sim::FaultConfig {
    operator_upgrade::sim::FaultConfig {
        seed,
        errors: vec![
            failing(None, None, 429, 0.02),
            failing(None, None, 500, 0.015),
            failing(None, None, 503, 0.015),
            failing(Some("patch"), None, 409, 0.05),
            failing(Some("update"), None, 409, 0.05),
            failing(Some("create"), None, 409, 0.05),
        ],
        latency_ms: 0,
        watch_cut_after_seconds: Some(1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_and_twenty_seeded_runs_end_promoted() {
    let mut promoted = 0;
    for seed in 1..=20 {
        let (cluster, demo) = fast_demo().await;
        let sim = cluster.sim_handle().unwrap();
        sim.set_faults(transient_faults(seed));
        let (code, out) = apply(&cluster, &demo, &[]).await;
        sim.set_faults(operator_upgrade::sim::FaultConfig::default());
        assert_eq!(code, 0, "seed {seed}: {out}");
        assert!(out.contains("promoted"), "seed {seed}: {out}");
        assert_eq!(operator_image(&cluster, &demo).await, "registry.example/engine-operator:v1.1.0", "seed {seed}");
        promoted += 1;
    }
    assert_eq!(promoted, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_outage_longer_than_the_retry_budget_pauses_the_run_and_apply_resumes_it() {
    let cluster = TestCluster::sim(images()).await;
    let demo = install(&cluster, false).await;
    write_plan(&demo, "");
    let plan = demo.plan().display().to_string();
    let mut args: Vec<String> = ["apply", "-f", &plan, "--yes"].iter().map(|s| s.to_string()).collect();
    args.extend(ACCEPT.iter().map(|s| s.to_string()));
    args.extend(Demo::kubeconfig_args(&cluster));
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_operator-upgrade")).args(&args).output().expect("the tool runs")
    });
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    eventually("the CRD is expanded", || async {
        let crd = crds.get(CRD).await.ok()?;
        (crd.spec.versions.len() == 2).then_some(())
    })
    .await;
    let outage =
        operator_upgrade::sim::FaultConfig { errors: vec![failing(None, None, 503, 1.0)], ..Default::default() };
    cluster.sim_handle().unwrap().set_faults(outage);
    let output = run.await.unwrap();
    cluster.sim_handle().unwrap().set_faults(operator_upgrade::sim::FaultConfig::default());
    let out = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(4), "an outage pauses the run: {out}");
    assert!(out.contains("paused") && out.contains("resumes"), "{out}");
    let (_, status) = tool(&cluster, &["status", "--plan", &demo.plan_name], &[]).await;
    assert!(status.contains("apply -f"), "status names the apply that resumes the run: {status}");
    let (code, out) = apply(&cluster, &demo, &[]).await;
    assert_eq!(code, 0, "apply resumes the paused run: {out}");
    assert!(!out.contains("drift from the `from` release"), "a resumed run's own expand is not drift: {out}");
    assert_eq!(operator_image(&cluster, &demo).await, "registry.example/engine-operator:v1.1.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_that_cannot_write_needs_attention_and_a_second_rollback_completes_it() {
    let cluster = TestCluster::sim(images()).await;
    let demo = install(&cluster, false).await;
    write_plan(&demo, "");
    let before = snapshot(&cluster, &demo).await;
    let (code, out) = apply(&cluster, &demo, &[]).await;
    assert_eq!(code, 0, "{out}");
    // Every Deployment update fails (an admission webhook down, say): the Deployment cannot be restored.
    let broken = operator_upgrade::sim::FaultConfig {
        errors: vec![failing(Some("update"), Some("deployments"), 500, 1.0)],
        ..Default::default()
    };
    cluster.sim_handle().unwrap().set_faults(broken);
    let rollback = ["rollback", "--plan", demo.plan_name.as_str(), "--yes"];
    let (code, out) = tool(&cluster, &rollback, &[]).await;
    cluster.sim_handle().unwrap().set_faults(operator_upgrade::sim::FaultConfig::default());
    assert_eq!(code, 5, "a rollback that fails needs attention: {out}");
    assert!(out.contains("run `rollback` again"), "{out}");
    let (_, status) = tool(&cluster, &["status", "--plan", &demo.plan_name], &[]).await;
    assert!(status.contains("failed"), "status shows the run needs attention: {status}");
    let (code, out) = tool(&cluster, &rollback, &[]).await;
    assert_eq!(code, 0, "the second rollback completes: {out}");
    assert_eq!(before, snapshot(&cluster, &demo).await, "everything is as before apply");
}

async fn the_live_plan_reads_the_cluster_and_changes_nothing(cluster: TestCluster) {
    let _turn = if cluster.is_real() { Some(REAL_CLUSTER.lock().await) } else { None };
    let demo = refusal_setup(&cluster, "").await;
    let before = snapshot(&cluster, &demo).await;
    let plan = demo.plan().display().to_string();
    let (code, out) = tool(&cluster, &["plan", "-f", &plan, "--fail-on", "never"], &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("live cluster: kube-system UID") && out.contains("existing objects: 8 checked"), "{out}");
    let (code, out) = tool(&cluster, &["plan", "-f", &plan], &[]).await;
    assert_eq!(code, 1, "the breaking CRD changes count, and apply would refuse them: {out}");
    assert!(out.contains("apply would refuse: breaking field-removed"), "{out}");
    // Without a plan file: what needs no operator, and one line saying what was not checked.
    let (new, old) = (demo.dir.path().join("v1.1.0"), demo.dir.path().join("v1.0.0"));
    let (new, old) = (new.display().to_string(), old.display().to_string());
    let (code, out) = tool(&cluster, &["plan", "--from", &old, "--to", &new, "--fail-on", "never"], &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("live cluster: kube-system UID") && out.contains("existing objects: 8 checked"), "{out}");
    assert!(out.contains("not checked without a plan file (-f): the operator Deployment"), "{out}");
    assert!(!out.contains("drift from the `from` release") && !out.contains("blockers:"), "{out}");
    // A release that drops v1alpha1, which storedVersions lists: a blocker the live cluster confirms.
    let dropped = demo.dir.path().join("v1.1.0-without-v1alpha1");
    std::fs::create_dir_all(&dropped).unwrap();
    let crds = std::fs::read_to_string(demo.dir.path().join("v1.1.0/crds.yaml")).unwrap();
    let (start, end) = (crds.find("    - name: v1alpha1\n").unwrap(), crds.find("    - name: v1\n").unwrap());
    std::fs::write(dropped.join("crds.yaml"), format!("{}{}", &crds[..start], &crds[end..])).unwrap();
    let dropped = dropped.display().to_string();
    let (code, out) = tool(&cluster, &["plan", "--from", &old, "--to", &dropped, "--fail-on", "never"], &[]).await;
    assert_eq!(code, 1, "the live blocker counts whatever --fail-on says: {out}");
    assert!(out.contains(&format!("blockers:\n  - {CRD}: status.storedVersions lists v1alpha1")), "{out}");
    // `validate` reads the same objects from the cluster instead of files.
    let args = ["validate", "--crds", &new, "--old-crds", &old, "--fail-on", "never", "-o", "json"];
    let (code, out) = tool(&cluster, &args, &[]).await;
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["summary"]["objects"], 8, "every Widget of the cluster is checked: {out}");
    // Identical findings across the Widgets are grouped; --each lists the same findings one by one.
    let total = report["summary"]["total"].as_u64().expect("total");
    let groups = report["groups"].as_array().expect("groups");
    assert_eq!(groups.iter().map(|g| g["count"].as_u64().unwrap()).sum::<u64>(), total, "{out}");
    let each_args: Vec<&str> = args.iter().copied().chain(["--each"]).collect();
    let (code, out) = tool(&cluster, &each_args, &[]).await;
    assert_eq!(code, 0, "{out}");
    let each: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(each["findings"].as_array().expect("--each lists every finding").len() as u64, total, "{out}");
    let (code, out) = tool(&cluster, &["validate", "--crds", &new, "--objects", &old], &[]).await;
    assert_eq!(code, 2, "files and a cluster together are a usage error: {out}");
    assert_eq!(before, snapshot(&cluster, &demo).await, "the live plan writes nothing");
    cleanup(&cluster, &demo).await;
}

on_both_clusters!(the_live_plan_reads_the_cluster_and_changes_nothing, images());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_says_what_resolves_it_in_text_and_json() {
    let cluster = TestCluster::sim(images()).await;
    let demo = refusal_setup(&cluster, "").await;
    let plan = demo.plan().display().to_string();
    let before = snapshot(&cluster, &demo).await;

    let (code, out) = tool(&cluster, &["apply", "-f", &plan, "--yes"], &[]).await;
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("breaking field-removed at "), "{out}");
    assert!(
        out.contains(
            "next: change the release so the finding goes away, or accept the risk with `--accept field-removed@"
        ),
        "{out}"
    );

    let (code, out) = tool(&cluster, &["apply", "-f", &plan, "--yes", "-o", "json"], &[]).await;
    assert_eq!(code, 3, "{out}");
    let outcome: serde_json::Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "outcome")
        .unwrap_or_else(|| panic!("no outcome event: {out}"));
    let refusals = outcome["refusals"].as_array().unwrap_or_else(|| panic!("{outcome}"));
    let kinds: std::collections::BTreeSet<&str> = refusals.iter().filter_map(|r| r["kind"].as_str()).collect();
    assert_eq!(kinds, ["finding"].into(), "{outcome}");
    assert!(refusals.iter().all(|r| r["next"].as_str().is_some_and(|n| n.contains("--accept "))), "{outcome}");

    let (code, out) = tool(&cluster, &["finalize", "-f", &plan, "--yes"], &[]).await;
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("has no run in") && out.contains(&format!("next: `operator-upgrade apply -f {plan}` first")),
        "{out}"
    );
    let (code, out) = tool(&cluster, &["rollback", "--plan", &demo.plan_name, "--yes"], &[]).await;
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("no run to roll back") && out.contains("next: check that --context names the cluster"),
        "{out}"
    );
    assert_eq!(before, snapshot(&cluster, &demo).await, "a refusal changes nothing");
}

/// The values of the Secret each release ships; none may appear anywhere the tool writes or prints.
const OLD_SECRET_VALUES: [&str; 2] = ["old-password-7f3a1c", "old-token-7f3a1c"];
const NEW_SECRET_VALUES: [&str; 2] = ["new-password-9c1e2d", "new-token-9c1e2d"];

/// A Secret of the operator's (a credential), with one value in `data` and one in `stringData`.
fn credentials(namespace: &str, [password, token]: [&str; 2]) -> String {
    let encoded = serde_json::to_value(k8s_openapi::ByteString(password.as_bytes().to_vec())).unwrap();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: demo-operator-credentials\n  namespace: {namespace}\ntype: Opaque\ndata:\n  password: {}\nstringData:\n  token: {token}\n",
        encoded.as_str().unwrap()
    )
}

/// Every form a Secret value could leak in: as given, and base64-encoded as `data` holds it.
fn leak_forms() -> Vec<String> {
    let values = OLD_SECRET_VALUES.iter().chain(&NEW_SECRET_VALUES);
    values
        .flat_map(|v| {
            let encoded = serde_json::to_value(k8s_openapi::ByteString(v.as_bytes().to_vec())).unwrap();
            [(*v).to_owned(), encoded.as_str().unwrap().to_owned()]
        })
        .collect()
}

fn assert_no_secret_values(place: &str, text: &str) {
    for form in leak_forms() {
        assert!(!text.contains(&form), "a Secret value ({form}) appears in {place}:\n{text}");
    }
}

/// The journal ConfigMap's JSON, decompressed.
async fn journal_text(cluster: &TestCluster, demo: &Demo) -> String {
    use std::io::Read;
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(cluster.client(), &demo.namespace);
    let map = maps.get(&format!("operator-upgrade-journal-{}", demo.plan_name)).await.unwrap();
    let compressed = &map.binary_data.unwrap()["journal.json.gz"].0;
    let mut text = String::new();
    flate2::read::GzDecoder::new(compressed.as_slice()).read_to_string(&mut text).unwrap();
    text
}

async fn events_text(cluster: &TestCluster, demo: &Demo) -> String {
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(cluster.client(), &demo.namespace);
    serde_json::to_string(&events.list(&ListParams::default()).await.unwrap().items).unwrap()
}

async fn credentials_secret(cluster: &TestCluster, demo: &Demo) -> Value {
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(cluster.client(), &demo.namespace);
    comparable(serde_json::to_value(secrets.get("demo-operator-credentials").await.unwrap()).unwrap())
}

async fn run_secret(cluster: &TestCluster, demo: &Demo) -> Option<k8s_openapi::api::core::v1::Secret> {
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(cluster.client(), &demo.namespace);
    secrets.get_opt(&format!("operator-upgrade-secrets-{}", demo.plan_name)).await.unwrap()
}

async fn secret_values_stay_out_of_the_journal_events_outputs_and_evidence_and_rollback_restores_them(
    cluster: TestCluster,
) {
    let _turn = if cluster.is_real() { Some(REAL_CLUSTER.lock().await) } else { None };
    if cluster.is_real() {
        clear_real_cluster(&cluster).await;
    }
    let demo = install(&cluster, false).await;
    write_plan(&demo, "");
    let old = demo.dir.path().join("v1.0.0/credentials.yaml");
    std::fs::write(&old, credentials(&demo.namespace, OLD_SECRET_VALUES)).unwrap();
    std::fs::write(demo.dir.path().join("v1.1.0/credentials.yaml"), credentials(&demo.namespace, NEW_SECRET_VALUES))
        .unwrap();
    cluster.apply_file(&old).await;
    let before = credentials_secret(&cluster, &demo).await;
    let plan = demo.plan().display().to_string();
    let evidence = demo.dir.path().join("evidence.json");
    let logs = [("RUST_LOG", "debug".to_owned())];

    let mut outputs = Vec::new();
    for format in ["text", "json", "markdown", "sarif", "github"] {
        outputs.push(tool(&cluster, &["plan", "-f", &plan, "--output", format, "--fail-on", "never"], &[]).await);
    }
    let evidence_arg = evidence.display().to_string();
    let mut rehearse = vec!["rehearse", "-f", &plan, "--yes", "--evidence-out", &evidence_arg];
    rehearse.extend(ACCEPT);
    let (code, out) = tool(&cluster, &rehearse, &logs).await;
    assert_eq!(code, 0, "the rehearsal (apply, rollback drill, apply again) passes: {out}");
    outputs.push((code, out));
    let promoted = credentials_secret(&cluster, &demo).await;
    assert_ne!(promoted["data"], before["data"], "the new release's Secret is applied");
    let kept = run_secret(&cluster, &demo).await.expect("a promoted run keeps the recorded values in a Secret");
    assert_eq!(kept.type_.as_deref(), Some("Opaque"));
    assert!(kept.metadata.labels.unwrap().contains_key("operator-upgrade.dev/run"), "labelled as the run's");
    let journal = journal_text(&cluster, &demo).await;
    assert!(journal.contains("demo-operator-credentials"), "the Secret is recorded: {journal}");
    assert_no_secret_values("the journal of the promoted run", &journal);
    for format in ["text", "json", "markdown"] {
        outputs.push(tool(&cluster, &["status", "--plan", &demo.plan_name, "--output", format], &[]).await);
    }

    let (code, out) = tool(&cluster, &["rollback", "--plan", &demo.plan_name, "--yes"], &logs).await;
    assert_eq!(code, 0, "{out}");
    outputs.push((code, out));
    assert_eq!(credentials_secret(&cluster, &demo).await, before, "the old Secret is restored exactly");
    assert!(run_secret(&cluster, &demo).await.is_none(), "the run's Secret goes when the run is closed");
    assert_no_secret_values("the journal of the rolled-back run", &journal_text(&cluster, &demo).await);
    assert_no_secret_values("the Events", &events_text(&cluster, &demo).await);
    assert_no_secret_values("the evidence", &std::fs::read_to_string(&evidence).unwrap());
    for (_, out) in &outputs {
        assert_no_secret_values("the output and logs", out);
    }
    cleanup(&cluster, &demo).await;
}

on_both_clusters!(
    secret_values_stay_out_of_the_journal_events_outputs_and_evidence_and_rollback_restores_them,
    images()
);

/// Two plans for the same operator started at the same instant, again and again: the operator's Lease lets
/// exactly one run; the other is refused naming the run or the Lease that holds the operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_plans_for_one_operator_started_together_never_both_run() {
    const ROUNDS: usize = 6;
    for round in 0..ROUNDS {
        let cluster = TestCluster::sim(images()).await;
        let demo = install(&cluster, false).await;
        write_plan(&demo, "");
        let other = demo.dir.path().join("plan-other.yaml");
        let text = std::fs::read_to_string(demo.plan()).unwrap();
        let other_name = format!("{}-other", demo.plan_name);
        std::fs::write(&other, text.replace(&format!("name: {}\n", demo.plan_name), &format!("name: {other_name}\n")))
            .unwrap();
        let (first, second) = (demo.plan().display().to_string(), other.display().to_string());
        let args = |plan: &str| {
            let mut args = vec!["apply".to_owned(), "-f".to_owned(), plan.to_owned(), "--yes".to_owned()];
            args.extend(ACCEPT.iter().map(|s| (*s).to_owned()));
            args
        };
        let (a, b) = (args(&first), args(&second));
        let (a, b) =
            (a.iter().map(String::as_str).collect::<Vec<_>>(), b.iter().map(String::as_str).collect::<Vec<_>>());
        let ((code_a, out_a), (code_b, out_b)) = tokio::join!(tool(&cluster, &a, &[]), tool(&cluster, &b, &[]));
        let mut codes = [code_a, code_b];
        codes.sort();
        assert_eq!(codes, [0, 3], "round {round}: one run promotes, the other is refused:\n{out_a}\n---\n{out_b}");
        let refused = if code_a == 3 { &out_a } else { &out_b };
        assert!(
            refused.contains("one run per operator at a time") || refused.contains("another run holds the Lease"),
            "round {round}: the refusal names what holds the operator: {refused}"
        );
        let (_, status) = tool(&cluster, &["status", "--output", "json"], &[]).await;
        let runs: Vec<Value> = status.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
        let states: Vec<&str> = runs.iter().filter_map(|r| r["state"].as_str()).collect();
        assert_eq!(states, ["promoted"], "round {round}: only the winner's run exists: {status}");
    }
}
