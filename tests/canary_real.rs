//! The demo operator's canary on the real control plane (`controlplane/run.sh`; skipped with a message
//! without it): the demo release installed in a namespace of the test's own with 40 Widgets in another,
//! the node agent running each operator Deployment's pod as a real controller that elects its leader on a
//! real Lease and keeps reconciling through its pod's grace period. A 10% canary and an equal baseline,
//! each on its own scoped Deployment and lease, judged on a short analysis while users change Widgets'
//! specs: the good release is promoted, the bad one (it fails every Widget) rolled back by itself. After
//! either no Widget keeps a cohort label and only the stable Deployment is left.
//!
//! The plan's signals are the ones the test bed gives data for: conditions, observedGeneration catch-up
//! (with users' churn), pod restarts and Warning events. The pod-proxy metric is left out: the API server
//! proxies only to global unicast pod IPs and the node agent gives pods loopback addresses, so no operator
//! metrics can be scraped (and with no pod metric the tool does not check that the canary reconciled at
//! all). Dependent changes are left out too: the test bed's operators keep no dependents.
//!
//! The demo's CRD is cluster-wide and its operators reconcile Widgets in every namespace, so these tests
//! take turns, remove every demo operator and the CRD before they start, and remove what they made after.

use crate::common;

use common::canary::{churn_of as churn, tool, COHORT_LABEL};
use common::{eventually, TestCluster};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub(crate) const GROUP: &str = "demo.operator-upgrade.dev";
pub(crate) const CRD: &str = "widgets.demo.operator-upgrade.dev";
const DEMO_IMAGES: &str = "registry.example/demo-operator:";
const WIDGETS: usize = 40;

/// The demo CRD and its operators are cluster-wide: every test that installs them on the real control plane
/// (the canaries here, Helm's, kubectl's, the operators' and the oracle's demo pair) takes its turn.
pub(crate) static REAL_CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The turn on the demo CRD of a test body that runs on both clusters (only the real one is shared), starting
/// from a control plane without the demo: no CRD, operator or Helm ownership that an earlier test left.
pub(crate) async fn demo_turn(cluster: &TestCluster) -> Option<tokio::sync::MutexGuard<'static, ()>> {
    if !cluster.is_real() {
        return None;
    }
    let turn = REAL_CLUSTER.lock().await;
    clear_real_cluster(cluster).await;
    Some(turn)
}

fn demo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator").join(relative)
}

/// The demo release and its operator, installed in namespaces of the test's own.
struct Installed {
    dir: tempfile::TempDir,
    /// The operator's namespace (the release's `demo-system`).
    operators: String,
    /// The Widgets' namespace.
    widgets: String,
}

impl Installed {
    fn plan(&self) -> PathBuf {
        self.dir.path().join("plan.yaml")
    }

    fn widgets(&self, cluster: &TestCluster) -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk(GROUP, "v1alpha1", "Widget");
        Api::namespaced_with(cluster.client(), &self.widgets, &ApiResource::from_gvk_with_plural(&gvk, "widgets"))
    }

    fn deployments(&self, cluster: &TestCluster) -> Api<Deployment> {
        Api::namespaced(cluster.client(), &self.operators)
    }
}

/// Copies a release of the demo with its namespace renamed and its v1.1.0 image replaced by `image`.
fn copy_release(release: &str, to: &Path, namespace: &str, image: &str) {
    std::fs::create_dir_all(to).unwrap();
    for file in ["crds.yaml", "operator.yaml"] {
        let text = std::fs::read_to_string(demo(release).join(file)).unwrap();
        let text = text.replace("registry.example/demo-operator:v1.1.0", image).replace("demo-system", namespace);
        std::fs::write(to.join(file), text).unwrap();
    }
}

/// The demo plan for the test's namespaces, with a short analysis of the signals the test bed gives data for.
fn write_plan(installed: &Installed, name: &str) {
    let mut plan = std::fs::read_to_string(demo("plan.yaml")).unwrap();
    let release = |r: &str| installed.dir.path().join(r).display().to_string();
    plan = plan
        .replace("name: demo-operator-v1-1", &format!("name: {name}"))
        .replace("namespace: demo-system", &format!("namespace: {}", installed.operators))
        .replace("path: v1.0.0", &format!("path: {}", release("v1.0.0")))
        .replace("path: v1.1.0", &format!("path: {}", release("v1.1.0")))
        .replace("namespaces: [default]", &format!("namespaces: [{}]", installed.widgets))
        // The test installs v1.0.0 server-side under its own field manager, as `kubectl apply` would.
        .replace("spec:\n  operator:", "spec:\n  takeOwnershipFrom: [operator-upgrade-tests]\n  operator:");
    let analysis_at = plan.find("  analysis:").unwrap();
    let rollback_at = plan.find("  rollback:").unwrap();
    let analysis = "  analysis:\n    interval: 1s\n    count: 4\n    warmUp: 1500ms\n    signals:\n      - conditions: {}\n      - observedGeneration: {maxCatchUp: 5s}\n      - podRestarts: {}\n      - warningEvents: {}\n";
    plan.replace_range(analysis_at..rollback_at, analysis);
    assert!(plan.contains("--leader-election-id={leaseName}") && plan.contains("percentage: 10"), "{plan}");
    assert!(plan.contains("takeOwnershipFrom"), "{plan}");
    std::fs::write(installed.plan(), plan).unwrap();
}

fn runs_a_demo_operator(images: impl IntoIterator<Item = Option<String>>) -> bool {
    images.into_iter().flatten().any(|image| image.starts_with(DEMO_IMAGES))
}

/// Removes every demo operator (other tests' included: they would reconcile this test's Widgets) and the
/// demo CRD with its Widgets, and waits until no demo operator pod runs.
pub(crate) async fn clear_real_cluster(cluster: &TestCluster) {
    let deployments: Api<Deployment> = Api::all(cluster.client());
    for deployment in deployments.list(&ListParams::default()).await.unwrap().items {
        let containers = deployment.spec.as_ref().and_then(|s| s.template.spec.as_ref()).map(|s| s.containers.clone());
        if runs_a_demo_operator(containers.unwrap_or_default().into_iter().map(|c| c.image)) {
            let namespace = deployment.metadata.namespace.clone().unwrap_or_default();
            let api: Api<Deployment> = Api::namespaced(cluster.client(), &namespace);
            let _ = api.delete(deployment.metadata.name.as_deref().unwrap(), &DeleteParams::background()).await;
        }
    }
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    let _ = crds.delete(CRD, &DeleteParams::default()).await;
    eventually("the demo CRD is gone", || async {
        crds.get_opt(CRD).await.ok().and_then(|c| c.is_none().then_some(()))
    })
    .await;
    let pods: Api<Pod> = Api::all(cluster.client());
    eventually("no demo operator pod is left", || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        let left = list
            .items
            .iter()
            .any(|p| runs_a_demo_operator(p.spec.iter().flat_map(|s| s.containers.iter()).map(|c| c.image.clone())));
        (!left).then_some(())
    })
    .await;
}

fn ready(widget: &DynamicObject) -> Option<&str> {
    let conditions = widget.data["status"]["conditions"].as_array()?;
    conditions.iter().find(|c| c["type"] == "Ready")?["status"].as_str()
}

/// The demo's 40 Widgets, every fourth one gold.
pub(crate) async fn create_widgets(api: &Api<DynamicObject>) {
    for index in 0..WIDGETS {
        let mut labels = json!({"app.kubernetes.io/part-of": "demo"});
        if index % 4 == 0 {
            labels["demo.operator-upgrade.dev/tier"] = json!("gold");
        }
        let widget: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{GROUP}/v1alpha1"), "kind": "Widget",
            "metadata": {"name": format!("widget-{index:02}"), "labels": labels},
            "spec": {"image": "nginx:1.27", "tier": "silver", "replicas": 1}}))
        .unwrap();
        api.create(&PostParams::default(), &widget).await.unwrap();
    }
}

pub(crate) async fn all_ready(api: &Api<DynamicObject>) -> Option<()> {
    let list = api.list(&ListParams::default()).await.ok()?;
    (list.items.len() == WIDGETS && list.items.iter().all(|w| ready(w) == Some("True"))).then_some(())
}

/// The demo v1.0.0 in a namespace of the test's own, the new release's image `image`, and 40 Widgets (every
/// fourth gold, as the demo scenario's), all Ready under the stable operator.
async fn install(cluster: &TestCluster, image: &str) -> Installed {
    clear_real_cluster(cluster).await;
    let dir = tempfile::tempdir().unwrap();
    let operators = cluster.unique("canary-real");
    copy_release("v1.0.0", &dir.path().join("v1.0.0"), &operators, image);
    copy_release("v1.1.0", &dir.path().join("v1.1.0"), &operators, image);
    cluster.apply_file(&dir.path().join("v1.0.0")).await;
    let widgets = cluster.namespace("canary-widgets").await;
    let installed = Installed { dir, operators, widgets };
    write_plan(&installed, &cluster.unique("canary-real"));
    let api = installed.widgets(cluster);
    create_widgets(&api).await;
    eventually("all 40 Widgets Ready under the v1.0.0 operator", || all_ready(&api)).await;
    installed
}

/// `apply` of the plan under users' churn: the exit code, the output and how long the run took.
async fn apply(cluster: &TestCluster, installed: &Installed) -> (i32, String, Duration) {
    let churn = churn(installed.widgets(cluster));
    let started = Instant::now();
    let plan = installed.plan().display().to_string();
    let (code, output) = tool(cluster, &["apply", "-f", &plan, "--yes", "--fail-on", "never"]).await;
    let took = started.elapsed();
    churn.abort();
    (code, output, took)
}

async fn operator_image(cluster: &TestCluster, installed: &Installed) -> String {
    let deployment = installed.deployments(cluster).get("demo-operator").await.unwrap();
    deployment.spec.unwrap().template.spec.unwrap().containers[0].image.clone().unwrap()
}

/// What every canary run must leave: no cohort label on any Widget, only the stable Deployment.
async fn assert_clean(cluster: &TestCluster, installed: &Installed) {
    for widget in installed.widgets(cluster).list(&ListParams::default()).await.unwrap().items {
        assert!(
            !widget.metadata.labels.as_ref().is_some_and(|l| l.contains_key(COHORT_LABEL)),
            "{:?} keeps the cohort label",
            widget.metadata.name
        );
    }
    let names = common::canary::deployment_names(cluster, &installed.operators).await;
    assert_eq!(names, vec!["demo-operator".to_owned()], "only the stable Deployment is left");
    // The copies elected their leaders on Leases of their own, which went with them; the stable's is held by
    // its running pod.
    let stable = running_pods(cluster, installed, "demo-operator").await;
    let leases: Api<Lease> = Api::namespaced(cluster.client(), &installed.operators);
    eventually("only the stable pod's lease is left, held by it", || async {
        let list = leases.list(&ListParams::default()).await.ok()?;
        let holders: Vec<(String, Option<String>)> = list
            .items
            .into_iter()
            .map(|l| (l.metadata.name.unwrap_or_default(), l.spec.and_then(|s| s.holder_identity)))
            .collect();
        matches!(holders.as_slice(), [(name, Some(holder))] if name == "demo-operator-lock" && stable.contains(holder))
            .then_some(())
    })
    .await;
}

/// The names of the running pods (not being deleted) of the Deployment `app`.
async fn running_pods(cluster: &TestCluster, installed: &Installed, app: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(cluster.client(), &installed.operators);
    let list = pods.list(&ListParams::default().labels(&format!("app={app}"))).await.unwrap();
    list.items
        .into_iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.name)
        .collect()
}

/// Removes the test's operator, namespaces and the demo CRD (a promoted run leaves it storing v1, which a
/// later install of v1.0.0 could not apply over).
async fn cleanup(cluster: &TestCluster, installed: &Installed) {
    clear_real_cluster(cluster).await;
    let namespaces: Api<Namespace> = Api::all(cluster.client());
    for namespace in [&installed.operators, &installed.widgets] {
        let _ = namespaces.delete(namespace, &DeleteParams::background()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_good_release_is_promoted_after_its_canary_passes_on_the_real_control_plane() {
    let test = "a_good_release_is_promoted_after_its_canary_passes";
    let Some(cluster) = TestCluster::real(test).await else { return };
    let _turn = REAL_CLUSTER.lock().await;
    let started = Instant::now();
    let installed = install(&cluster, "registry.example/demo-operator:v1.1.0").await;
    let (code, output, took) = apply(&cluster, &installed).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("canary-rollout done: 4 canary and 4 baseline objects ("), "{output}");
    assert!(output.contains("promoted"), "{output}");
    assert_eq!(operator_image(&cluster, &installed).await, "registry.example/demo-operator:v1.1.0");
    assert_clean(&cluster, &installed).await;
    let widgets = installed.widgets(&cluster);
    eventually("every Widget Ready under the promoted operator", || all_ready(&widgets)).await;
    eprintln!("{test}: apply took {took:.1?}, the whole test {:.1?}", started.elapsed());
    cleanup(&cluster, &installed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_release_is_rolled_back_by_itself_on_the_real_control_plane() {
    let test = "a_bad_release_is_rolled_back_by_itself";
    let Some(cluster) = TestCluster::real(test).await else { return };
    let _turn = REAL_CLUSTER.lock().await;
    let started = Instant::now();
    let installed = install(&cluster, "registry.example/demo-operator:v1.1.0-bad").await;
    let (code, output, took) = apply(&cluster, &installed).await;
    assert_eq!(code, 1, "{output}");
    // The bad image fails on every Widget: all four the canary drew, none of the baseline's.
    assert!(output.contains("conditions failed") && output.contains("canary 4, baseline 0"), "{output}");
    assert!(output.contains("rolled back") || output.contains("rolled-back"), "{output}");
    assert_eq!(operator_image(&cluster, &installed).await, "registry.example/demo-operator:v1.0.0");
    assert_clean(&cluster, &installed).await;
    let widgets = installed.widgets(&cluster);
    eventually("every Widget Ready again under the old operator", || all_ready(&widgets)).await;
    eprintln!("{test}: apply took {took:.1?}, the whole test {:.1?}", started.elapsed());
    cleanup(&cluster, &installed).await;
}

/// The test bed's leader election, which the canary's own leases rely on: a second Deployment naming the
/// stable's lease runs but reconciles nothing while the stable's pod holds it, and takes over once that pod
/// has terminated (its grace period over, the lease released).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_deployment_naming_the_same_lease_waits_until_the_holder_is_gone_on_the_real_control_plane() {
    let test = "a_second_deployment_naming_the_same_lease_waits_until_the_holder_is_gone";
    let Some(cluster) = TestCluster::real(test).await else { return };
    let _turn = REAL_CLUSTER.lock().await;
    let started = Instant::now();
    let installed = install(&cluster, "registry.example/demo-operator:v1.1.0").await;
    let stable = eventually("the stable pod runs", || async {
        let pods = running_pods(&cluster, &installed, "demo-operator").await;
        (pods.len() == 1).then(|| pods[0].clone())
    })
    .await;
    let leases: Api<Lease> = Api::namespaced(cluster.client(), &installed.operators);
    let holder = || async {
        let lease = leases.get_opt("demo-operator-lock").await.ok()??;
        lease.spec?.holder_identity
    };
    assert_eq!(holder().await.as_deref(), Some(stable.as_str()), "the stable pod holds the demo's lease");

    let second: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "second", "namespace": installed.operators},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "second"}}, "template": {
            "metadata": {"labels": {"app": "second"}},
            "spec": {"serviceAccountName": "demo-operator", "terminationGracePeriodSeconds": 2, "containers": [{
                "name": "manager", "image": "registry.example/demo-operator:v1.0.0",
                "args": ["--leader-elect", "--leader-election-id=demo-operator-lock"],
                "env": [{"name": "WATCH_LABEL_SELECTOR", "value": ""}]}]}}}
    }))
    .unwrap();
    installed.deployments(&cluster).create(&PostParams::default(), &second).await.unwrap();
    let waiting = eventually("the second pod runs", || async {
        let pods = running_pods(&cluster, &installed, "second").await;
        (pods.len() == 1).then(|| pods[0].clone())
    })
    .await;
    let api = installed.widgets(&cluster);
    let changed_and_reconciled_by = |name: &'static str, replicas: u32| {
        let api = api.clone();
        async move {
            let patch = json!({"spec": {"replicas": replicas}});
            let widget = api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
            let generation = widget.metadata.generation;
            eventually(&format!("{name} reconciled at generation {generation:?}"), || async {
                let widget = api.get(name).await.ok()?;
                let status = &widget.data["status"];
                (status["observedGeneration"].as_i64() == generation)
                    .then(|| status["reconciledBy"].as_str().unwrap_or_default().to_owned())
            })
            .await
        }
    };
    // Longer than the waiting pod's retry period: had it not waited, it would have reconciled by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(changed_and_reconciled_by("widget-01", 2).await, stable, "the lease holder reconciles");
    let list = api.list(&ListParams::default()).await.unwrap();
    assert!(
        list.items.iter().all(|w| w.data["status"]["reconciledBy"] != waiting.as_str()),
        "the waiting pod reconciled nothing"
    );

    installed.deployments(&cluster).delete("demo-operator", &DeleteParams::background()).await.unwrap();
    eventually("the second pod takes the lease", || async {
        (holder().await.as_deref() == Some(waiting.as_str())).then_some(())
    })
    .await;
    assert_eq!(changed_and_reconciled_by("widget-02", 3).await, waiting, "the new holder reconciles");
    eprintln!("{test}: {:.1?}", started.elapsed());
    cleanup(&cluster, &installed).await;
}

/// A kubeconfig for the ServiceAccount `namespace/name`: the admin one's server and CA with a token of it.
async fn service_account_kubeconfig(cluster: &TestCluster, namespace: &str, name: &str, to: &Path) {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client(), namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec { expiration_seconds: Some(3600), ..TokenRequestSpec::default() },
        ..TokenRequest::default()
    };
    let token = accounts.create_token_request(name, &PostParams::default(), &request).await.unwrap();
    let token = token.status.unwrap().token;
    let admin = std::fs::read_to_string(cluster.kubeconfig_path()).unwrap();
    let line = admin.lines().find(|l| l.trim_start().starts_with("token: ")).expect("the admin kubeconfig has a token");
    std::fs::write(to, admin.replace(line, &format!("    token: {token}"))).unwrap();
}

/// `rbac -f PLAN` as YAML documents, the tool run without a cluster.
fn rbac_documents(plan: &Path, subject: &str) -> Vec<serde_json::Value> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_operator-upgrade"))
        .args(["rbac", "-f", &plan.display().to_string(), "--service-account", subject])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    text.split("\n---\n").skip(1).map(|d| serde_norway::from_str(d).unwrap()).collect()
}

fn write_documents(path: &Path, documents: &[serde_json::Value]) {
    let text: Vec<String> = documents.iter().map(|d| serde_json::to_string(d).unwrap()).collect();
    std::fs::write(path, text.join("\n---\n")).unwrap();
}

/// Least privilege, enforced by the real server's RBAC: `apply` as a ServiceAccount holding exactly what
/// `rbac -f PLAN` prints promotes the canary and `finalize` migrates the storage; with one rule of it
/// removed, preflight refuses naming the permissions that rule granted, before any change.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rehearsal_and_finalize_under_exactly_the_printed_rbac_succeed_and_one_rule_less_fails_in_preflight_on_the_real_control_plane(
) {
    let test = "a_rehearsal_and_finalize_under_exactly_the_printed_rbac_succeed_and_one_rule_less_fails_in_preflight";
    let Some(cluster) = TestCluster::real(test).await else { return };
    let _turn = REAL_CLUSTER.lock().await;
    let started = Instant::now();
    let installed = install(&cluster, "registry.example/demo-operator:v1.1.0").await;
    let subject = format!("{}/operator-upgrade", installed.operators);
    let documents = rbac_documents(&installed.plan(), &subject);
    let kinds: Vec<&str> = documents.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]);

    let mut less = documents.clone();
    let rules = less[3]["rules"].as_array_mut().unwrap();
    let at = rules.iter().position(|r| r["resources"][0] == "deployments").expect("a rule for the Deployments");
    rules.remove(at);
    let rbac_file = installed.dir.path().join("rbac.yaml");
    write_documents(&rbac_file, &less);
    cluster.apply_file(&rbac_file).await;
    let kubeconfig = installed.dir.path().join("service-account.kubeconfig");
    service_account_kubeconfig(&cluster, &installed.operators, "operator-upgrade", &kubeconfig).await;
    let plan = installed.plan().display().to_string();
    let apply = ["apply", "-f", plan.as_str(), "--yes", "--fail-on", "never"];
    let (code, output) = common::run_tool_as(&kubeconfig, &apply, &[]).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains(&format!("patch deployments (apps) in {}", installed.operators)), "{output}");
    assert_eq!(operator_image(&cluster, &installed).await, "registry.example/demo-operator:v1.0.0");

    write_documents(&rbac_file, &documents);
    cluster.apply_file(&rbac_file).await;
    // A rehearsal is the whole apply, the rollback drill and apply again: all of it under the same RBAC.
    let rehearse = ["rehearse", "-f", plan.as_str(), "--yes", "--fail-on", "never"];
    let churn = churn(installed.widgets(&cluster));
    let (code, output) = common::run_tool_as(&kubeconfig, &rehearse, &[]).await;
    churn.abort();
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("every phase passed"), "{output}");
    assert_eq!(operator_image(&cluster, &installed).await, "registry.example/demo-operator:v1.1.0");
    assert_clean(&cluster, &installed).await;
    let (code, output) = common::run_tool_as(&kubeconfig, &["finalize", "-f", plan.as_str(), "--yes"], &[]).await;
    assert_eq!(code, 0, "finalize (storage migration, storedVersions trimmed) under the same RBAC: {output}");
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    let stored = crds.get(CRD).await.unwrap().status.unwrap().stored_versions.unwrap();
    assert_eq!(stored, ["v1"]);
    eprintln!("{test}: {:.1?}", started.elapsed());
    let name = documents[1]["metadata"]["name"].as_str().unwrap().to_owned();
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(cluster.client());
    let _ = roles.delete(&name, &DeleteParams::default()).await;
    let bindings: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(cluster.client());
    let _ = bindings.delete(&name, &DeleteParams::default()).await;
    cleanup(&cluster, &installed).await;
}
