//! Promotion through Helm on the real control plane, at the level of the Helm actions the engine takes: the
//! demo chart installed by `helm install`, upgraded to 1.1.0 by `helm upgrade` with the tool as the
//! post-renderer plugin (the expanded CRD in Helm's record and live), rolled back by `helm rollback` to the
//! original manifest, then upgraded again and finalized (`helm upgrade` without the swap: the CRD as shipped),
//! after which the same upgrade again changes nothing. A killed helm's pending revision is decided from the
//! release's revisions. Needs helm (`controlplane/build-helm.sh`); skips with a message otherwise.

use crate::common::{self, TestCluster};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams};
use operator_upgrade::engine::desired::expand_crd;
use operator_upgrade::helm::actions::{action_state, resume, ActionState, Connection, Resumed, Swap, UpgradeRequest};
use operator_upgrade::helm::side::read_revisions;
use operator_upgrade::helm::{Helm, ReleaseStatus, TemplateRequest};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const GROUP: &str = "helm.operator-upgrade.dev";
const CRD: &str = "widgets.helm.operator-upgrade.dev";
/// An image the node agent runs no operator for: its Pods are Ready and reconcile nothing.
const IMAGE: &str = "registry.example/helm-test-operator";

/// The demo chart at `version`, its CRD renamed into the test's own group (the chart links its CRD file to
/// the release's; the copy holds the text).
fn copy_chart(version: &str, to: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator/helm").join(version);
    let chart = to.join(version);
    for file in ["Chart.yaml", "values.yaml", "templates/crds.yaml", "templates/operator.yaml", "files/crds.yaml"] {
        let text = std::fs::read_to_string(from.join(file)).unwrap().replace("demo.operator-upgrade.dev", GROUP);
        std::fs::create_dir_all(chart.join(file).parent().unwrap()).unwrap();
        std::fs::write(chart.join(file), text).unwrap();
    }
    chart
}

/// The CRD documents of a chart's `files/crds.yaml`, by name.
fn chart_crd(chart: &Path) -> Value {
    manifest_crd(&std::fs::read_to_string(chart.join("files/crds.yaml")).unwrap())
}

fn helm_json(helm: &Path, home: &Path, args: &[&str]) -> Value {
    let output = super::helm_release::helm_command(helm, home, args);
    assert!(output.status.success(), "helm {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn helm_text(helm: &Path, home: &Path, args: &[&str]) -> String {
    let output = super::helm_release::helm_command(helm, home, args);
    assert!(output.status.success(), "helm {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// `(name, served, storage)` of each version of a CRD.
fn versions(crd: &Value) -> Vec<(String, bool, bool)> {
    crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap().to_owned(), v["served"] == true, v["storage"] == true))
        .collect()
}

/// The CRD in a `helm get manifest` text.
fn manifest_crd(manifest: &str) -> Value {
    let crd = serde_norway::Deserializer::from_str(manifest)
        .filter_map(|d| <Option<Value> as serde::Deserialize>::deserialize(d).ok().flatten())
        .find(|d| d["kind"] == "CustomResourceDefinition");
    crd.expect("the manifest holds the CRD")
}

async fn live_crd(cluster: &TestCluster) -> Value {
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    serde_json::to_value(crds.get(CRD).await.unwrap()).unwrap()
}

async fn live_image(cluster: &TestCluster, namespace: &str, name: &str) -> String {
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), namespace);
    let deployment = serde_json::to_value(deployments.get(name).await.unwrap()).unwrap();
    deployment["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap().to_owned()
}

async fn remove_crd(cluster: &TestCluster) {
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    let _ = crds.delete(CRD, &DeleteParams::default()).await;
    common::eventually("the test's CRD is gone", || async {
        crds.get_opt(CRD).await.ok().and_then(|c| c.is_none().then_some(()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_upgrade_with_the_tool_as_post_renderer_keeps_the_expanded_crd_until_the_finalizing_upgrade() {
    let test = "helm_upgrade_with_the_tool_as_post_renderer_keeps_the_expanded_crd_until_the_finalizing_upgrade";
    let Some(cluster) = TestCluster::real(test).await else { return };
    let Some(helm_path) = common::helm(test) else { return };
    let helm = Helm::find(Some(&helm_path)).unwrap();
    remove_crd(&cluster).await;
    let home = tempfile::tempdir().unwrap();
    let (old_chart, new_chart) = (copy_chart("1.0.0", home.path()), copy_chart("1.1.0", home.path()));
    let namespace = cluster.namespace("helm-promotion").await;
    let release = cluster.unique("demo");
    let kubeconfig = cluster.kubeconfig_path().display().to_string();
    let on_cluster = ["-n", namespace.as_str(), "--kubeconfig", kubeconfig.as_str()];
    let run = |args: &[&str]| helm_text(&helm_path, home.path(), &[args, &on_cluster[..]].concat());
    let image_value = format!("image.repository={IMAGE}");
    let old_chart_text = old_chart.display().to_string();
    run(&[
        "install",
        &release,
        &old_chart_text,
        "--set",
        &image_value,
        "--set",
        "watchLabelSelector=tier=gold",
        "--wait",
    ]);
    let installed_manifest = run(&["get", "manifest", &release]);
    let user_values =
        helm_json(&helm_path, home.path(), &[&["get", "values", &release, "-o", "json"], &on_cluster[..]].concat());
    assert_eq!(user_values, json!({"image": {"repository": IMAGE}, "watchLabelSelector": "tier=gold"}));

    // Promotion: the release's own values carried, the expanded CRD swapped in by the tool's post-renderer.
    let connection = Connection { kubeconfig: Some(cluster.kubeconfig_path().to_owned()), context: None };
    let installed = operator_upgrade::helm::side::read_release(&cluster.client(), &release, &namespace).await.unwrap();
    assert_eq!(installed.revision, 1);
    let expanded = expand_crd(Some(&chart_crd(&old_chart)), &chart_crd(&new_chart));
    let request = |chart: &Path, swap: bool| UpgradeRequest {
        chart: TemplateRequest {
            release: release.clone(),
            namespace: namespace.clone(),
            chart: chart.to_owned(),
            carried_values: Some(installed.config.clone()),
            ..TemplateRequest::default()
        },
        swap: swap.then(|| Swap {
            executable: PathBuf::from(env!("CARGO_BIN_EXE_operator-upgrade")),
            crds: vec![expanded.clone()],
        }),
        timeout: Duration::from_secs(120),
        force_conflicts: false,
    };
    helm.upgrade(&connection, &request(&new_chart, true)).unwrap();
    let revisions = read_revisions(&cluster.client(), &release, &namespace).await.unwrap();
    assert_eq!(action_state(&revisions, 1), ActionState::Done(2));
    let history = helm_json(&helm_path, home.path(), &[&["history", &release, "-o", "json"], &on_cluster[..]].concat());
    let latest = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!((latest["revision"].clone(), latest["status"].clone()), (json!(2), json!("deployed")), "{history}");
    assert_eq!(latest["chart"], "demo-operator-1.1.0", "{history}");
    let carried =
        helm_json(&helm_path, home.path(), &[&["get", "values", &release, "-o", "json"], &on_cluster[..]].concat());
    assert_eq!(carried, user_values, "the user's values are the new revision's");
    let promoted_manifest = run(&["get", "manifest", &release]);
    let recorded = manifest_crd(&promoted_manifest);
    let expanded_versions = vec![("v1alpha1".to_owned(), true, true), ("v1".to_owned(), true, false)];
    assert_eq!(versions(&recorded), expanded_versions, "Helm's record holds the expanded CRD");
    assert_eq!(versions(&live_crd(&cluster).await), expanded_versions, "and so does the cluster");
    assert!(!promoted_manifest.contains("postrender-filename"), "{promoted_manifest}");
    assert_eq!(live_image(&cluster, &namespace, &release).await, format!("{IMAGE}:v1.1.0"));

    // Rollback: helm rollback to the revision the run started from puts the original manifest back.
    helm.rollback(&connection, (&release, &namespace), 1, Duration::from_secs(120)).unwrap();
    assert_eq!(run(&["get", "manifest", &release]), installed_manifest, "Helm shows the original manifest");
    assert_eq!(versions(&live_crd(&cluster).await), vec![("v1alpha1".to_owned(), true, true)]);
    assert_eq!(live_image(&cluster, &namespace, &release).await, format!("{IMAGE}:v1.0.0"));

    // Promote again, then finalize: the CRD as the chart ships it, in Helm's record and live.
    helm.upgrade(&connection, &request(&new_chart, true)).unwrap();
    helm.upgrade(&connection, &request(&new_chart, false)).unwrap();
    let finalized = run(&["get", "manifest", &release]);
    let shipped = vec![("v1alpha1".to_owned(), true, false), ("v1".to_owned(), true, true)];
    assert_eq!(versions(&manifest_crd(&finalized)), shipped, "Helm's record has the CRD as shipped");
    assert_eq!(versions(&live_crd(&cluster).await), shipped);
    let generation = live_crd(&cluster).await["metadata"]["generation"].clone();

    // The same upgrade again is a no-op: the same manifest, the CRD untouched.
    helm.upgrade(&connection, &request(&new_chart, false)).unwrap();
    assert_eq!(run(&["get", "manifest", &release]), finalized);
    assert_eq!(live_crd(&cluster).await["metadata"]["generation"], generation);
    let revisions = read_revisions(&cluster.client(), &release, &namespace).await.unwrap();
    let latest = revisions.iter().max_by_key(|r| r.revision).map(|r| (r.revision, r.status));
    assert_eq!(latest, Some((6, ReleaseStatus::Deployed)));

    run(&["uninstall", &release]);
    let namespaces: Api<Namespace> = Api::all(cluster.client());
    let _ = namespaces.delete(&namespace, &DeleteParams::background()).await;
    remove_crd(&cluster).await;
}

/// A pre-upgrade hook Job that runs for minutes (the node agent's slow Job image): helm waits in it with the
/// new revision `pending-upgrade`, long enough to be killed there.
const SLOW_HOOK: &str = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-slow-hook\n  annotations:\n    helm.sh/hook: pre-upgrade\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: hook\n          image: registry.example/engine-job:slow\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helm_killed_mid_upgrade_is_resumed_by_rolling_back_its_pending_revision() {
    let test = "a_helm_killed_mid_upgrade_is_resumed_by_rolling_back_its_pending_revision";
    let Some(cluster) = TestCluster::real(test).await else { return };
    let Some(helm_path) = common::helm(test) else { return };
    let helm = Helm::find(Some(&helm_path)).unwrap();
    let home = tempfile::tempdir().unwrap();
    let old_chart = copy_chart("1.0.0", home.path());
    let new_chart = copy_chart("1.1.0", home.path());
    let hooked = home.path().join("hooked");
    copy_chart("1.1.0", &hooked);
    let hooked = hooked.join("1.1.0");
    std::fs::write(hooked.join("templates/slow-hook.yaml"), SLOW_HOOK).unwrap();
    // The chart's CRD would be shared with the other Helm test: this release renders none.
    std::fs::remove_file(old_chart.join("templates/crds.yaml")).unwrap();
    for chart in [&new_chart, &hooked] {
        std::fs::remove_file(chart.join("templates/crds.yaml")).unwrap();
    }
    let namespace = cluster.namespace("helm-killed").await;
    let release = cluster.unique("demo");
    let kubeconfig = cluster.kubeconfig_path().display().to_string();
    let on_cluster = ["-n", namespace.as_str(), "--kubeconfig", kubeconfig.as_str()];
    let run = |args: &[&str]| helm_text(&helm_path, home.path(), &[args, &on_cluster[..]].concat());
    let image_value = format!("image.repository={IMAGE}");
    run(&["install", &release, &old_chart.display().to_string(), "--set", &image_value, "--wait"]);
    let installed_manifest = run(&["get", "manifest", &release]);

    // helm upgrade, killed while its new revision is pending (in the slow hook).
    let mut upgrading = std::process::Command::new(&helm_path)
        .args(["upgrade", &release, &hooked.display().to_string(), "--reuse-values", "--wait"])
        .args(on_cluster)
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = cluster.client();
    common::eventually("helm's new revision is pending-upgrade", || async {
        let revisions = read_revisions(&client, &release, &namespace).await.ok()?;
        revisions.iter().any(|r| r.revision == 2 && r.status == ReleaseStatus::PendingUpgrade).then_some(())
    })
    .await;
    upgrading.kill().unwrap();
    upgrading.wait().unwrap();
    let revisions = read_revisions(&client, &release, &namespace).await.unwrap();
    assert_eq!(
        action_state(&revisions, 1),
        ActionState::Pending { revision: 2, status: ReleaseStatus::PendingUpgrade, roll_back_to: Some(1) }
    );
    // An upgrade over a pending release is refused by Helm itself: the resume must recover it first.
    let connection = Connection { kubeconfig: Some(cluster.kubeconfig_path().to_owned()), context: None };
    let request = UpgradeRequest {
        chart: TemplateRequest {
            release: release.clone(),
            namespace: namespace.clone(),
            chart: new_chart.clone(),
            carried_values: Some(json!({"image": {"repository": IMAGE}})),
            ..TemplateRequest::default()
        },
        swap: None,
        timeout: Duration::from_secs(120),
        force_conflicts: false,
    };
    let refused = helm.upgrade(&connection, &request).unwrap_err().to_string();
    assert!(refused.contains("another operation"), "{refused}");

    let resumed =
        resume(&helm, &connection, &client, (&release, &namespace), 1, Duration::from_secs(120)).await.unwrap();
    assert_eq!(resumed, Resumed::Recovered { pending: 2, status: ReleaseStatus::PendingUpgrade, to: 1, now: 3 });
    assert_eq!(run(&["get", "manifest", &release]), installed_manifest, "the original manifest is deployed again");
    assert_eq!(live_image(&cluster, &namespace, &release).await, format!("{IMAGE}:v1.0.0"));
    // The action runs again from the recovered revision and completes.
    helm.upgrade(&connection, &request).unwrap();
    let resumed =
        resume(&helm, &connection, &client, (&release, &namespace), 3, Duration::from_secs(120)).await.unwrap();
    assert_eq!(resumed, Resumed::Done(4));
    assert_eq!(live_image(&cluster, &namespace, &release).await, format!("{IMAGE}:v1.1.0"));

    run(&["uninstall", &release]);
    let namespaces: Api<Namespace> = Api::all(cluster.client());
    let _ = namespaces.delete(&namespace, &DeleteParams::background()).await;
}
