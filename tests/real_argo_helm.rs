//! Argo Rollouts installed from its real Helm chart (`../shared/corpus/charts/argo-rollouts/2.38.2`, that is
//! v1.7.2) with `helm install` and the user's values, its Rollouts made Healthy by the real v1.7.2
//! controller, then upgraded to chart 2.40.5 (v1.8.3) by `apply` through Helm with the canary and analysis of
//! `plans/argo-rollouts.yaml`, and finalized. The charts are read from the corpus, never copied.
//!
//! The chart's ClusterRoles and ClusterRoleBinding are named after the release and cluster-wide: the release
//! gets a name of the test's own (the chart's full name is the release's name when it contains the chart's).
//! The CRDs are cluster-wide too, and an earlier test may have left them (applied by kubectl, or by the tool
//! at v1.8.3): the install takes them over (`--take-ownership --force-conflicts`), as a user moving an
//! install to Helm does.

use super::argo::{all_healthy, assert_clean, churn, controller_pods, create_rollouts, ready, replica_sets};
use super::{real_operator_bed, remove_namespace, shortened, ARGO_ROLLOUTS, OPERATOR_PACE};
use crate::common::{self, eventually, eventually_within, TestCluster};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::{pinned_kind, Scope};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

const OLD_CHART: &str = "argo-rollouts/2.38.2";
const NEW_CHART: &str = "argo-rollouts/2.40.5";
/// The user's values at install: one replica (no leader election), and a label of theirs on the Pods, which
/// the upgraded release must keep.
const USER_VALUES: [&str; 4] = ["--set", "controller.replicas=1", "--set", "podLabels.team=platform"];

fn charts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/charts")
}

/// helm against the test's cluster and namespace, with configuration directories of its own.
struct HelmCli {
    helm: PathBuf,
    kubeconfig: String,
    namespace: String,
    home: tempfile::TempDir,
}

impl HelmCli {
    fn env(&self) -> Vec<(&'static str, String)> {
        let home = self.home.path();
        vec![
            ("HELM_CACHE_HOME", home.join("cache").display().to_string()),
            ("HELM_CONFIG_HOME", home.join("config").display().to_string()),
            ("HELM_DATA_HOME", home.join("data").display().to_string()),
        ]
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut command = std::process::Command::new(&self.helm);
        command.args(args).args(["-n", &self.namespace, "--kubeconfig", &self.kubeconfig]);
        command.envs(self.env()).output().expect("helm runs")
    }

    fn text(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(output.status.success(), "helm {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.text(&[args, &["-o", "json"][..]].concat())).unwrap()
    }
}

/// `plans/argo-rollouts.yaml`'s canary, scoping and analysis (shortened as every real test shortens them),
/// with its sides as the installed Helm release and the new chart. Chart versions are what a Helm plan's
/// versions name (checked against the release); the chart's minor numbers move faster than Argo's own.
fn write_plan(dir: &Path, namespace: &str, release: &str, name: &str) -> String {
    let plan = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/argo-rollouts.yaml")).unwrap();
    let sides = "  from:\n    path: ../releases/argo-rollouts/v1.7.2/\n    version: v1.7.2\n  to:\n    path: ../releases/argo-rollouts/v1.8.3/\n    version: v1.8.3\n";
    assert!(plan.contains(sides), "plans/argo-rollouts.yaml names its sides as this test expects");
    let helm_sides = format!(
        "  versionPolicy: {{allowLargerStep: true}}\n  from:\n    version: 2.38.2\n    helm: {{release: {release}}}\n  to:\n    version: 2.40.5\n    helm: {{chart: {}}}\n",
        charts().join(NEW_CHART).display()
    );
    // Installed by Helm: Helm's field manager, not kubectl's, owns what the run changes.
    let ownership = plan.find("  # install.yaml's CRDs are too large").unwrap();
    let operator = plan.find("  operator:\n").unwrap();
    let mut plan = plan.clone();
    plan.replace_range(ownership..operator, "");
    let plan = plan
        .replace(sides, &helm_sides)
        .replace("name: argo-rollouts-v1-8", &format!("name: {name}"))
        .replace("    namespace: argo-rollouts\n", &format!("    namespace: {namespace}\n"))
        .replace("    deployment: argo-rollouts\n", &format!("    deployment: {release}\n"));
    // The chart's readiness probe waits 15 s before its first check (install.yaml's has none): the copies
    // are not ready before that, and the warm-up must cover it, as the plan's own 2 minutes do.
    let plan = shortened(plan, namespace).replace("warmUp: 4s", "warmUp: 20s");
    assert!(!plan.contains("takeOwnershipFrom") && plan.contains(&format!("deployment: {release}")), "{plan}");
    let path = dir.join("plan.yaml");
    std::fs::write(&path, plan).unwrap();
    path.display().to_string()
}

/// Where `manifest` (what Helm's record says) and `live` differ, by path: every field the manifest sets must
/// be live with that value; a zero value in the manifest (an empty map or list, `false`) may be absent live
/// (the API server omits them: a CRD's `preserveUnknownFields: false`), and a list must have exactly the manifest's items. Secrets are compared by their metadata only
/// (their data is never read into a test's output).
fn differences(manifest: &Value, live: &Value, path: &str, found: &mut Vec<String>) {
    let empty = |v: &Value| {
        v.is_null()
            || *v == Value::Bool(false)
            || v.as_object().is_some_and(|m| m.is_empty())
            || v.as_array().is_some_and(|a| a.is_empty())
    };
    match (manifest, live) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, value) in want {
                match have.get(key) {
                    Some(live) => differences(value, live, &format!("{path}.{key}"), found),
                    None if empty(value) => {}
                    None => found.push(format!("{path}.{key}: {value} in the manifest, absent live")),
                }
            }
        }
        (Value::Array(want), Value::Array(have)) if want.len() == have.len() => {
            for (index, (value, live)) in want.iter().zip(have).enumerate() {
                differences(value, live, &format!("{path}[{index}]"), found);
            }
        }
        (want, have) if want == have || (empty(want) && empty(have)) => {}
        (want, have) => found.push(format!("{path}: {want} in the manifest, {have} live")),
    }
}

/// Every object of the release's manifest, compared with what is live.
async fn manifest_differences(cluster: &TestCluster, manifest: &str, namespace: &str) -> Vec<String> {
    let documents = serde_norway::Deserializer::from_str(manifest)
        .filter_map(|d| <Option<Value> as serde::Deserialize>::deserialize(d).ok().flatten());
    let mut found = Vec::new();
    for document in documents {
        let (group, version) = match document["apiVersion"].as_str().unwrap().split_once('/') {
            Some((group, version)) => (group.to_owned(), version.to_owned()),
            None => (String::new(), document["apiVersion"].as_str().unwrap().to_owned()),
        };
        let gvk = GroupVersionKind::gvk(&group, &version, document["kind"].as_str().unwrap());
        let (resource, capabilities) = pinned_kind(&cluster.client(), &gvk).await.unwrap();
        let api: Api<DynamicObject> = match capabilities.scope {
            Scope::Cluster => Api::all_with(cluster.client(), &resource),
            Scope::Namespaced => Api::namespaced_with(cluster.client(), namespace, &resource),
        };
        let name = document["metadata"]["name"].as_str().unwrap();
        let what = format!("{} {name}", gvk.kind);
        let Some(live) = api.get_opt(name).await.unwrap() else {
            found.push(format!("{what}: in the manifest, not live"));
            continue;
        };
        let live = serde_json::to_value(live).unwrap();
        let mut want = document.clone();
        if gvk.kind == "Secret" {
            for key in ["data", "stringData"] {
                want.as_object_mut().unwrap().remove(key);
            }
        }
        differences(&want, &live, &what, &mut found);
    }
    found
}

/// Every Argo CRD by name, with its uid: a CRD deleted and created again would get a new one.
async fn crd_uids(cluster: &TestCluster) -> BTreeMap<String, String> {
    let api: Api<CustomResourceDefinition> = Api::all(cluster.client());
    let list = api.list(&ListParams::default()).await.unwrap();
    list.items
        .into_iter()
        .filter(|c| c.spec.group == "argoproj.io")
        .map(|c| (c.metadata.name.unwrap_or_default(), c.metadata.uid.unwrap_or_default()))
        .collect()
}

/// The controller Deployment's Pod template labels.
async fn pod_labels(cluster: &TestCluster, namespace: &str, release: &str) -> BTreeMap<String, String> {
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(cluster.client(), namespace);
    let deployment = api.get(release).await.unwrap();
    deployment.spec.unwrap().template.metadata.unwrap().labels.unwrap_or_default()
}

fn last(history: &Value) -> Value {
    history.as_array().unwrap().last().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn argo_rollouts_installed_from_its_helm_chart_is_upgraded_through_helm_by_apply_and_finalized_on_the_real_control_plane(
) {
    let test = "argo_rollouts_installed_from_its_helm_chart_is_upgraded_through_helm";
    let Some((cluster, _)) = real_operator_bed(test).await else { return };
    let Some(helm) = common::helm(test) else { return };
    let _turn = ARGO_ROLLOUTS.lock().await;
    let started = Instant::now();
    let namespace = cluster.namespace("argo-rollouts").await;
    let release = cluster.unique("argo-rollouts");
    let kubeconfig = cluster.kubeconfig_path().display().to_string();
    let cli = HelmCli { helm, kubeconfig, namespace: namespace.clone(), home: tempfile::tempdir().unwrap() };
    let old_chart = charts().join(OLD_CHART).display().to_string();
    let mut install = vec!["install", release.as_str(), old_chart.as_str(), "--wait", "--timeout", "180s"];
    install.extend(USER_VALUES);
    install.extend(["--take-ownership", "--force-conflicts"]);
    cli.text(&install);
    let controller = controller_pods(&cluster.client(), &namespace).await;
    assert!(controller.iter().all(ready) && controller.len() == 1, "helm --wait waited for the controller");
    create_rollouts(&cluster, &namespace).await;
    eventually_within("every Rollout Healthy under v1.7.2", OPERATOR_PACE, || all_healthy(&cluster, &namespace)).await;
    let installed_in = started.elapsed();
    let user_values = cli.json(&["get", "values", &release]);
    assert_eq!(user_values, json!({"controller": {"replicas": 1}, "podLabels": {"team": "platform"}}));
    let crds = crd_uids(&cluster).await;
    assert_eq!(crds.len(), 5, "the chart's five CRDs: {crds:?}");
    let workloads = replica_sets(&cluster, &namespace).await;

    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), &namespace, &release, &cluster.unique("argo-rollouts-helm"));
    let helm_path = cli.helm.display().to_string();
    let env = cli.env();
    let tool = |args: &'static [&'static str]| {
        let all = [args, &["-f", plan.as_str(), "--helm", helm_path.as_str(), "--yes"][..]].concat();
        let (cluster, env) = (&cluster, &env);
        async move { common::run_tool(cluster, &all, env).await }
    };
    let applied = Instant::now();
    let users = churn(&cluster, &namespace);
    let (code, output) = tool(&["apply"]).await;
    users.abort();
    let apply_took = applied.elapsed();
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("promoted") && output.contains(&format!("helm upgrade of release {release}")), "{output}");
    assert!(output.contains("every signal within its limits"), "{output}");
    let history = cli.json(&["history", &release]);
    let promoted = last(&history);
    assert_eq!((&promoted["revision"], &promoted["status"]), (&json!(2), &json!("deployed")), "{history}");
    assert_eq!(promoted["chart"], "argo-rollouts-2.40.5", "{history}");

    let finalized_at = Instant::now();
    let (code, output) = tool(&["finalize"]).await;
    let finalize_took = finalized_at.elapsed();
    assert_eq!(code, 0, "{output}");
    let history = cli.json(&["history", &release]);
    let finalized = last(&history);
    assert_eq!((&finalized["revision"], &finalized["status"]), (&json!(3), &json!("deployed")), "{history}");
    assert_eq!((&finalized["chart"], &finalized["app_version"]), (&json!("argo-rollouts-2.40.5"), &json!("v1.8.3")));
    assert_eq!(cli.json(&["get", "values", &release]), user_values, "the user's values are the release's");
    assert_eq!(pod_labels(&cluster, &namespace, &release).await.get("team").map(String::as_str), Some("platform"));
    let manifest = cli.text(&["get", "manifest", &release]);
    let differences = manifest_differences(&cluster, &manifest, &namespace).await;
    assert!(differences.is_empty(), "helm get manifest is not what is live: {differences:#?}");
    assert_eq!(crd_uids(&cluster).await, crds, "a CRD was deleted");

    assert_clean(&cluster, &namespace, &release).await;
    eventually_within("every Rollout Healthy under v1.8.3", OPERATOR_PACE, || all_healthy(&cluster, &namespace)).await;
    let pods = eventually("one controller Pod, at v1.8.3", || async {
        let pods = controller_pods(&cluster.client(), &namespace).await;
        (pods.len() == 1).then_some(pods)
    })
    .await;
    let image = pods[0].spec.as_ref().unwrap().containers[0].image.clone().unwrap();
    assert_eq!(image, "quay.io/argoproj/argo-rollouts:v1.8.3");
    assert_eq!(replica_sets(&cluster, &namespace).await, workloads, "a Rollout's workload was re-rolled");
    eprintln!(
        "{test}: helm install and every Rollout Healthy in {installed_in:.1?}, apply took {apply_took:.1?}, finalize {finalize_took:.1?}, all {:.1?}",
        started.elapsed()
    );
    // Helm removes what it installed but the CRDs (the chart keeps them), then the namespace goes.
    cli.text(&["uninstall", &release, "--wait"]);
    remove_namespace(&cluster, &namespace).await;
}
