//! `apply` through Helm on the real control plane: the demo chart installed by `helm install` with the user's
//! values, 40 Widgets reconciled by its operator, and the demo plan with `spec.from.helm`/`spec.to.helm`.
//! The good release's canary passes and promotion is a `helm upgrade`: Helm shows a new deployed revision at
//! chart 1.1.0 with the user's values, its manifest is what is live (the expanded CRD included), and
//! `finalize` leaves the CRD as the chart ships it in Helm's record. The bad release (the plan's values set
//! the image tag `v1.1.0-bad`) rolls back by itself and Helm shows the original manifest deployed.
//! A run SIGKILLed while its `helm upgrade` runs takes helm with it and resumes: the pending revision
//! rolled back as Helm documents, the upgrade run again, the journal saying so.
//! Needs helm (`controlplane/build-helm.sh`); skips with a message otherwise. Takes turns with the demo's
//! other real-control-plane tests (the demo CRD is cluster-wide).

use super::canary_real::{all_ready, clear_real_cluster, create_widgets, GROUP, REAL_CLUSTER};
use crate::common::canary::{churn_of, tool_with_env};
use crate::common::{self, eventually, eventually_within, TestCluster};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const CRD: &str = "widgets.demo.operator-upgrade.dev";
const RELEASE: &str = "demo-operator";

/// A Helm install of the demo chart, its Widgets and the plan through Helm.
struct Installed {
    dir: tempfile::TempDir,
    helm: PathBuf,
    kubeconfig: String,
    operators: String,
    widgets: String,
}

impl Installed {
    /// helm on the test's cluster and namespace, with configuration directories of its own.
    fn helm(&self, args: &[&str]) -> std::process::Output {
        let mut command = std::process::Command::new(&self.helm);
        command.args(args).args(["-n", &self.operators, "--kubeconfig", &self.kubeconfig]);
        command.envs(self.env()).output().expect("helm runs")
    }

    fn helm_text(&self, args: &[&str]) -> String {
        let output = self.helm(args);
        assert!(output.status.success(), "helm {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    fn helm_json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.helm_text(&[args, &["-o", "json"][..]].concat())).unwrap()
    }

    fn widgets(&self, cluster: &TestCluster) -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk(GROUP, "v1alpha1", "Widget");
        Api::namespaced_with(cluster.client(), &self.widgets, &ApiResource::from_gvk_with_plural(&gvk, "widgets"))
    }

    fn plan(&self) -> PathBuf {
        self.dir.path().join("plan.yaml")
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let home = self.dir.path();
        vec![
            ("HELM_CACHE_HOME", home.join("cache").display().to_string()),
            ("HELM_CONFIG_HOME", home.join("config").display().to_string()),
            ("HELM_DATA_HOME", home.join("data").display().to_string()),
        ]
    }

    async fn tool(&self, cluster: &TestCluster, args: &[&str]) -> (i32, String) {
        let helm = self.helm.display().to_string();
        let all = [args, &["--helm", helm.as_str()][..]].concat();
        tool_with_env(cluster, &all, &self.env()).await
    }
}

fn chart(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator/helm").join(version)
}

/// The demo plan with its sides as Helm releases, the test's namespaces and a short analysis of the signals
/// the test bed gives data for; `image_tag` set by the plan's values when given.
fn write_plan(installed: &Installed, name: &str, image_tag: Option<&str>) {
    let plan = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator/plan.yaml"))
        .unwrap();
    let values = match image_tag {
        Some(tag) => {
            let file = installed.dir.path().join("override.yaml");
            std::fs::write(&file, format!("image:\n  tag: {tag}\n")).unwrap();
            format!(", values: [{}]", file.display())
        }
        None => String::new(),
    };
    let mut plan = plan
        .replace("name: demo-operator-v1-1", &format!("name: {name}"))
        .replace("namespace: demo-system", &format!("namespace: {}", installed.operators))
        .replace("    path: v1.0.0\n", &format!("    helm: {{release: {RELEASE}}}\n"))
        .replace("    path: v1.1.0\n", &format!("    helm: {{chart: {}{values}}}\n", chart("1.1.0").display()))
        .replace("namespaces: [default]", &format!("namespaces: [{}]", installed.widgets));
    let analysis_at = plan.find("  analysis:").unwrap();
    let rollback_at = plan.find("  rollback:").unwrap();
    let analysis = "  analysis:\n    interval: 1s\n    count: 4\n    warmUp: 1500ms\n    signals:\n      - conditions: {}\n      - observedGeneration: {maxCatchUp: 5s}\n      - podRestarts: {}\n      - warningEvents: {}\n";
    plan.replace_range(analysis_at..rollback_at, analysis);
    assert!(plan.contains(&format!("helm: {{release: {RELEASE}}}")), "{plan}");
    std::fs::write(installed.plan(), plan).unwrap();
}

/// `helm install` of chart 1.0.0 with the user's values, and 40 Widgets Ready under its operator.
async fn install(cluster: &TestCluster, helm: PathBuf, image_tag: Option<&str>) -> Installed {
    clear_real_cluster(cluster).await;
    let operators = cluster.namespace("helm-apply").await;
    let widgets = cluster.namespace("helm-widgets").await;
    let kubeconfig = cluster.kubeconfig_path().display().to_string();
    let installed = Installed { dir: tempfile::tempdir().unwrap(), helm, kubeconfig, operators, widgets };
    let chart = chart("1.0.0").display().to_string();
    installed.helm_text(&["install", RELEASE, &chart, "--set", "replicas=1", "--wait"]);
    write_plan(&installed, &cluster.unique("helm-apply"), image_tag);
    let api = installed.widgets(cluster);
    create_widgets(&api).await;
    eventually("all 40 Widgets Ready under the Helm-installed v1.0.0 operator", || all_ready(&api)).await;
    installed
}

fn documents(manifest: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(manifest)
        .filter_map(|d| <Option<Value> as serde::Deserialize>::deserialize(d).ok().flatten())
        .collect()
}

fn of_kind(manifest: &str, kind: &str) -> Value {
    documents(manifest).into_iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("no {kind} in {manifest}"))
}

async fn live(cluster: &TestCluster, installed: &Installed) -> (Value, Value) {
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), &installed.operators);
    (
        serde_json::to_value(crds.get(CRD).await.unwrap()).unwrap(),
        serde_json::to_value(deployments.get(RELEASE).await.unwrap()).unwrap(),
    )
}

/// What of the CRD and the Deployment Helm's record and the cluster must agree on, read through the typed
/// objects (numbers as the API's types read them) and an empty env value as the API server keeps it (absent).
fn essentials(crd: &Value, deployment: &Value) -> Value {
    let typed: CustomResourceDefinition = serde_json::from_value(crd.clone()).unwrap();
    let crd = serde_json::to_value(typed).unwrap();
    let mut env = deployment["spec"]["template"]["spec"]["containers"][0]["env"].clone();
    for var in env.as_array_mut().into_iter().flatten() {
        if var["value"] == "" {
            var.as_object_mut().unwrap().remove("value");
        }
    }
    let versions: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| json!([v["name"], v["served"], v["storage"], v["schema"]]))
        .collect();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    json!({"versions": versions, "image": container["image"], "env": env,
           "replicas": deployment["spec"]["replicas"]})
}

async fn assert_manifest_is_live(cluster: &TestCluster, installed: &Installed) {
    let manifest = installed.helm_text(&["get", "manifest", RELEASE]);
    let (crd, deployment) = live(cluster, installed).await;
    assert_eq!(
        essentials(&of_kind(&manifest, "CustomResourceDefinition"), &of_kind(&manifest, "Deployment")),
        essentials(&crd, &deployment),
        "helm get manifest is what is live"
    );
}

/// Removes the release's workloads (never its CRD by Helm: `keepCRDs`), the namespaces and the demo CRD.
async fn cleanup(cluster: &TestCluster, installed: &Installed) {
    let _ = installed.helm(&["uninstall", RELEASE]);
    clear_real_cluster(cluster).await;
    let namespaces: Api<Namespace> = Api::all(cluster.client());
    for namespace in [&installed.operators, &installed.widgets] {
        let _ = namespaces.delete(namespace, &DeleteParams::background()).await;
    }
}

fn latest(history: &Value) -> Value {
    history.as_array().unwrap().last().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_through_helm_promotes_by_helm_upgrade_and_finalize_leaves_the_crds_as_shipped_on_the_real_control_plane()
{
    let test = "apply_through_helm_promotes_by_helm_upgrade";
    let Some(cluster) = TestCluster::real(test).await else { return };
    let Some(helm) = common::helm(test) else { return };
    let _turn = REAL_CLUSTER.lock().await;
    let installed = install(&cluster, helm, None).await;
    let user_values = installed.helm_json(&["get", "values", RELEASE]);
    assert_eq!(user_values, json!({"replicas": 1}));
    // `plan` against the cluster runs the live preflight `apply` runs: the installed release accepted (the
    // plan names it), every Widget checked against the new CRD, refusals judged as `apply --fail-on never`
    // below judges them.
    let plan = installed.plan().display().to_string();
    let (code, output) = installed.tool(&cluster, &["plan", "-f", &plan, "--fail-on", "never"]).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("existing objects: 40 checked against the new CRDs"), "{output}");
    assert!(!output.contains("apply would refuse"), "{output}");

    let churn = churn_of(installed.widgets(&cluster));
    let (code, output) = installed.tool(&cluster, &["apply", "-f", &plan, "--yes", "--fail-on", "never"]).await;
    churn.abort();
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("helm upgrade of release demo-operator"), "{output}");
    let history = installed.helm_json(&["history", RELEASE]);
    let promoted = latest(&history);
    assert_eq!((promoted["revision"].clone(), promoted["status"].clone()), (json!(2), json!("deployed")), "{history}");
    assert_eq!(promoted["chart"], "demo-operator-1.1.0", "{history}");
    assert_eq!(installed.helm_json(&["get", "values", RELEASE]), user_values);
    assert_manifest_is_live(&cluster, &installed).await;
    let (crd, deployment) = live(&cluster, &installed).await;
    let served: Vec<&str> =
        crd["spec"]["versions"].as_array().unwrap().iter().filter_map(|v| v["name"].as_str()).collect();
    assert!(served.contains(&"v1alpha1") && served.contains(&"v1"), "the expanded CRD until finalize: {served:?}");
    let image = &deployment["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(image, "registry.example/demo-operator:v1.1.0");
    let widgets = installed.widgets(&cluster);
    eventually("every Widget Ready under the promoted operator", || all_ready(&widgets)).await;

    let (code, output) = installed.tool(&cluster, &["finalize", "-f", &plan, "--yes"]).await;
    assert_eq!(code, 0, "{output}");
    let history = installed.helm_json(&["history", RELEASE]);
    let finalized = latest(&history);
    assert_eq!(
        (finalized["revision"].clone(), finalized["status"].clone()),
        (json!(3), json!("deployed")),
        "{history}"
    );
    let manifest = installed.helm_text(&["get", "manifest", RELEASE]);
    let shipped =
        of_kind(&std::fs::read_to_string(chart("1.1.0").join("files/crds.yaml")).unwrap(), "CustomResourceDefinition");
    assert_eq!(of_kind(&manifest, "CustomResourceDefinition")["spec"]["versions"], shipped["spec"]["versions"]);
    assert_manifest_is_live(&cluster, &installed).await;
    cleanup(&cluster, &installed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_through_helm_rolls_a_bad_release_back_and_helm_shows_the_original_manifest_on_the_real_control_plane() {
    let test = "apply_through_helm_rolls_a_bad_release_back";
    let Some(cluster) = TestCluster::real(test).await else { return };
    let Some(helm) = common::helm(test) else { return };
    let _turn = REAL_CLUSTER.lock().await;
    let installed = install(&cluster, helm, Some("v1.1.0-bad")).await;
    let original = installed.helm_text(&["get", "manifest", RELEASE]);

    let churn = churn_of(installed.widgets(&cluster));
    let plan = installed.plan().display().to_string();
    let (code, output) = installed.tool(&cluster, &["apply", "-f", &plan, "--yes", "--fail-on", "never"]).await;
    churn.abort();
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("conditions failed"), "{output}");
    let history = installed.helm_json(&["history", RELEASE]);
    let deployed = latest(&history);
    assert_eq!(deployed["status"], "deployed", "{history}");
    assert_eq!(deployed["chart"], "demo-operator-1.0.0", "{history}");
    assert_eq!(installed.helm_text(&["get", "manifest", RELEASE]), original);
    assert_manifest_is_live(&cluster, &installed).await;
    let widgets = installed.widgets(&cluster);
    eventually("every Widget Ready again under the old operator", || all_ready(&widgets)).await;
    cleanup(&cluster, &installed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollback_after_a_promotion_through_helm_rolls_the_release_back_to_the_revision_the_run_started_from_on_the_real_control_plane(
) {
    let test = "rollback_after_a_promotion_through_helm";
    let Some(cluster) = TestCluster::real(test).await else { return };
    let Some(helm) = common::helm(test) else { return };
    let _turn = REAL_CLUSTER.lock().await;
    let installed = install(&cluster, helm, None).await;
    let original = installed.helm_text(&["get", "manifest", RELEASE]);
    let plan = installed.plan().display().to_string();
    let churn = churn_of(installed.widgets(&cluster));
    let (code, output) = installed.tool(&cluster, &["apply", "-f", &plan, "--yes", "--fail-on", "never"]).await;
    churn.abort();
    assert_eq!(code, 0, "{output}");
    assert_eq!(latest(&installed.helm_json(&["history", RELEASE]))["chart"], "demo-operator-1.1.0");

    // Other tests' runs may be open on the same control plane: the run is named, as a script would.
    let name = cluster.unique("helm-apply");
    let (code, output) = installed.tool(&cluster, &["rollback", "--plan", &name, "--yes"]).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("helm rollback of release demo-operator to revision 1 (revision 3)"), "{output}");
    let history = installed.helm_json(&["history", RELEASE]);
    let rolled_back = latest(&history);
    assert_eq!((rolled_back["revision"].clone(), rolled_back["status"].clone()), (json!(3), json!("deployed")));
    assert_eq!(rolled_back["chart"], "demo-operator-1.0.0", "{history}");
    assert_eq!(installed.helm_text(&["get", "manifest", RELEASE]), original);
    assert_manifest_is_live(&cluster, &installed).await;
    let widgets = installed.widgets(&cluster);
    eventually("every Widget Ready again under the old operator", || all_ready(&widgets)).await;
    cleanup(&cluster, &installed).await;
}

/// Whether a helm process of this test is running: one whose arguments name the test's operator namespace.
fn helm_running(installed: &Installed) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else { return false };
    entries.flatten().any(|entry| {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { return false };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        args.first().is_some_and(|a| a.ends_with(b"helm")) && args.contains(&installed.operators.as_bytes())
    })
}

/// The release's revision Secrets by revision, with their status label.
async fn revision_statuses(cluster: &TestCluster, installed: &Installed) -> Vec<(u32, String)> {
    let secrets: Api<Secret> = Api::namespaced(cluster.client(), &installed.operators);
    let params = ListParams::default().labels(&format!("owner=helm,name={RELEASE}"));
    let mut found: Vec<(u32, String)> = secrets
        .list_metadata(&params)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|s| {
            let labels = s.metadata.labels?;
            Some((labels.get("version")?.parse().ok()?, labels.get("status")?.clone()))
        })
        .collect();
    found.sort();
    found
}

/// Nothing of the run is left: no cohort label on a Widget, no Deployment but the stable one, no Lease but
/// the stable operator's.
async fn assert_nothing_left(cluster: &TestCluster, installed: &Installed) {
    let widgets = installed.widgets(cluster).list(&ListParams::default()).await.unwrap();
    for widget in widgets.items {
        let labels = widget.metadata.labels.unwrap_or_default();
        assert!(!labels.contains_key("operator-upgrade.dev/cohort"), "{:?}: {labels:?}", widget.metadata.name);
    }
    let names = common::canary::deployment_names(cluster, &installed.operators).await;
    assert_eq!(names, [RELEASE], "only the stable Deployment is left");
    let leases: Api<Lease> = Api::namespaced(cluster.client(), &installed.operators);
    eventually("no Lease but the stable operator's", || async {
        let list = leases.list(&ListParams::default()).await.ok()?;
        let names: Vec<String> = list.items.into_iter().filter_map(|l| l.metadata.name).collect();
        names.iter().all(|n| n == "demo-operator-lock").then_some(())
    })
    .await;
}

/// `apply` SIGKILLed while its `helm upgrade` runs (the release's new revision is `pending-upgrade`): helm dies
/// with it, the release is left pending, and `apply` run again recovers it as Helm documents (rollback to
/// the revision the run started from), upgrades it again, and says so in the journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_through_helm_killed_during_the_helm_upgrade_resumes_to_the_new_chart_on_the_real_control_plane() {
    let test = "apply_through_helm_killed_during_the_helm_upgrade";
    let Some(cluster) = TestCluster::real(test).await else { return };
    let Some(helm) = common::helm(test) else { return };
    let _turn = REAL_CLUSTER.lock().await;
    let installed = install(&cluster, helm, None).await;
    let user_values = installed.helm_json(&["get", "values", RELEASE]);
    let plan = installed.plan().display().to_string();
    let (helm_path, kubeconfig) = (installed.helm.display().to_string(), installed.kubeconfig.clone());
    let log_path = installed.dir.path().join("killed-apply.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let churn = churn_of(installed.widgets(&cluster));
    let started = std::time::Instant::now();
    let mut apply = std::process::Command::new(env!("CARGO_BIN_EXE_operator-upgrade"))
        .args(["apply", "-f", &plan, "--yes", "--fail-on", "never", "--helm", &helm_path, "--kubeconfig", &kubeconfig])
        .envs(installed.env())
        .env_remove("OPERATOR_UPGRADE_CRASH_AFTER_WRITE")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let pending = vec![(1, "deployed".to_owned()), (2, "pending-upgrade".to_owned())];
    // Polled as fast as the API answers: helm's wait for the new Deployment is the window.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    while revision_statuses(&cluster, &installed).await != pending {
        if let Some(status) = apply.try_wait().unwrap() {
            panic!("apply ended ({status}) before helm upgraded: {}", std::fs::read_to_string(&log_path).unwrap());
        }
        assert!(std::time::Instant::now() < deadline, "helm's revision 2 never pending-upgrade");
    }
    apply.kill().unwrap();
    apply.wait().unwrap();
    let killed_after = started.elapsed();
    eventually_within("helm gone with the killed tool", Duration::from_secs(5), || async {
        (!helm_running(&installed)).then_some(())
    })
    .await;
    assert_eq!(revision_statuses(&cluster, &installed).await, pending, "helm wrote nothing after the tool died");

    let (code, output) = installed.tool(&cluster, &["apply", "-f", &plan, "--yes", "--fail-on", "never"]).await;
    churn.abort();
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("helm upgrade of release demo-operator"), "{output}");
    let history = installed.helm_json(&["history", RELEASE]);
    let promoted = latest(&history);
    assert_eq!((&promoted["revision"], &promoted["status"]), (&json!(4), &json!("deployed")), "{history}");
    assert_eq!(promoted["chart"], "demo-operator-1.1.0", "{history}");
    let rolled_back = &history.as_array().unwrap()[2];
    assert_eq!(rolled_back["chart"], "demo-operator-1.0.0", "the pending revision rolled back: {history}");
    assert_eq!(installed.helm_json(&["get", "values", RELEASE]), user_values);
    assert_manifest_is_live(&cluster, &installed).await;

    let name = cluster.unique("helm-apply");
    let (_, status) = common::run_tool(&cluster, &["status", "--plan", &name, "--output", "json"], &[]).await;
    let status: Value = serde_json::from_str(&status).unwrap_or_else(|e| panic!("{e}: {status}"));
    assert_eq!((&status["helm"]["before"], &status["helm"]["promoted"]), (&json!(1), &json!(4)), "{status}");
    let notes: Vec<&str> = status["notes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let resumed = "resumed: helm was killed in revision 2 of release demo-operator (pending-upgrade): rolled back to revision 1 as Helm documents (revision 3)";
    assert!(notes.contains(&resumed), "{notes:#?}");
    assert_nothing_left(&cluster, &installed).await;
    let widgets = installed.widgets(&cluster);
    eventually("every Widget Ready under the promoted operator", || all_ready(&widgets)).await;
    eprintln!("{test}: killed {killed_after:.1?} after apply started; the resumed apply promoted");
    cleanup(&cluster, &installed).await;
}
