//! Plans of an operator installed with Helm, against a cluster: the installed release is read from its
//! release Secrets (as Helm writes them: base64 of gzip of JSON), the new chart rendered for it, a pending
//! release and drift refused with their next step; on the real control plane, a release `helm install` made.
//! Needs helm (`controlplane/build-helm.sh`) and `../shared/corpus/charts`; skips with a message otherwise.

use crate::common::{self, TestCluster};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, PostParams};
use operator_upgrade::helm::compare::split_rendered;
use operator_upgrade::helm::release::encode_release;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

fn charts(test: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/charts/argo-rollouts");
    if path.is_dir() {
        Some(path)
    } else {
        let _ = writeln!(std::io::stderr(), "skipped {test}: ../shared/corpus/charts not found beside the project");
        None
    }
}

/// Runs helm with its own configuration directories under `home` (nothing of the user's is read or written).
pub(crate) fn helm_command(helm: &Path, home: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(helm)
        .args(args)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("helm runs")
}

/// The release record `helm install` of `chart` would write at `revision`, built from the chart as helm
/// renders it (the manifest without `crds/`), with the user's `config`.
fn release_record(
    helm: &Path,
    home: &Path,
    chart: &Path,
    (name, namespace): (&str, &str),
    revision: u32,
    status: &str,
    config: &Value,
) -> Value {
    let chart_text = chart.display().to_string();
    let values = home.join(format!("values-{revision}.json"));
    std::fs::write(&values, config.to_string()).unwrap();
    let values = values.display().to_string();
    let rendered = helm_command(helm, home, &["template", name, &chart_text, "--namespace", namespace, "-f", &values]);
    assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
    let (_, manifest) = split_rendered(&String::from_utf8(rendered.stdout).unwrap());
    let metadata: Value = serde_norway::from_str(&std::fs::read_to_string(chart.join("Chart.yaml")).unwrap()).unwrap();
    let values: Value = serde_norway::from_str(&std::fs::read_to_string(chart.join("values.yaml")).unwrap()).unwrap();
    json!({
        "name": name, "namespace": namespace, "version": revision,
        "info": {"status": status, "description": "written by the test as helm would"},
        "chart": {"metadata": metadata, "values": values, "templates": [], "files": []},
        "config": config, "manifest": manifest, "apply_method": "ssa"
    })
}

async fn write_record(cluster: &TestCluster, namespace: &str, record: &Value) {
    let (name, revision, status) =
        (record["name"].as_str().unwrap(), &record["version"], record["info"]["status"].as_str().unwrap());
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {
            "name": format!("sh.helm.release.v1.{name}.v{revision}"),
            "labels": {"name": name, "owner": "helm", "status": status, "version": revision.to_string()}
        },
        "type": "helm.sh/release.v1",
        "data": {"release": base64_of(&encode_release(record))}
    }))
    .unwrap();
    let api: Api<Secret> = Api::namespaced(cluster.client(), namespace);
    api.create(&PostParams::default(), &secret).await.expect("the release Secret is written");
}

/// Kubernetes' own base64 of a Secret's data (Helm's record is base64 inside it).
fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn write_plan(dir: &Path, release: &str, namespace: &str, from_version: &str, to_chart: &Path) -> PathBuf {
    let plan = format!(
        "apiVersion: operator-upgrade.dev/v1alpha1\nkind: UpgradePlan\nmetadata: {{name: rollouts-helm}}\nspec:\n  operator: {{namespace: {namespace}, deployment: {release}-argo-rollouts, container: argo-rollouts}}\n  versionPolicy: {{allowLargerStep: true}}\n  from:\n    version: {from_version}\n    helm: {{release: {release}, namespace: {namespace}}}\n  to:\n    version: 2.40.5\n    helm: {{chart: {}}}\n",
        to_chart.display()
    );
    let path = dir.join("plan.yaml");
    std::fs::write(&path, plan).unwrap();
    path
}

async fn plan(cluster: &TestCluster, plan: &Path, helm: &Path, output: &str) -> (i32, String) {
    let (plan, helm) = (plan.display().to_string(), helm.display().to_string());
    common::run_tool(cluster, &["plan", "-o", output, "-f", &plan, "--helm", &helm], &[]).await
}

async fn delete_namespace(cluster: &TestCluster, namespace: &str) {
    let namespaces: Api<Namespace> = Api::all(cluster.client());
    namespaces.delete(namespace, &DeleteParams::default()).await.expect("the test namespace is deleted");
}

async fn a_live_plan_reads_the_installed_release_and_refuses_a_pending_one_or_drift(cluster: TestCluster) {
    let test = "a_live_plan_reads_the_installed_release_and_refuses_a_pending_one_or_drift";
    let (Some(charts), Some(helm)) = (charts(test), common::helm(test)) else { return };
    let home = tempfile::tempdir().unwrap();
    let namespace = cluster.namespace("helm-live").await;
    let release = ("rollouts", namespace.as_str());
    let old_chart = charts.join("2.38.2");
    let config = json!({"controller": {"replicas": 2}, "installCRDs": false});
    let first = release_record(&helm, home.path(), &old_chart, release, 1, "superseded", &json!({}));
    let second = release_record(&helm, home.path(), &old_chart, release, 2, "deployed", &config);
    write_record(&cluster, &namespace, &first).await;
    write_record(&cluster, &namespace, &second).await;

    let plan_file = write_plan(home.path(), "rollouts", &namespace, "2.38.2", &charts.join("2.40.5"));
    let (code, out) = plan(&cluster, &plan_file, &helm, "json").await;
    // Only the release's records exist, not what it installed: the live preflight says apply would refuse.
    let refusal =
        format!("apply would refuse: the operator Deployment {namespace}/rollouts-argo-rollouts does not exist");
    assert!(code == 1 && out.contains(&refusal), "{out}");
    // The plan's JSON document, then the live preflight's text.
    let report: Value = serde_json::Deserializer::from_str(&out)
        .into_iter()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no JSON plan first: {out}"));
    assert_eq!(report["helm"]["from"]["revision"], 2, "the latest deployed revision: {}", report["helm"]);
    assert_eq!(report["helm"]["from"]["applyMethod"], "ssa");
    // The user's values ride along: the new chart renders two replicas and no CRDs, as the release has.
    assert_eq!(report["summary"]["crds_new"], 0, "{}", report["summary"]);
    let deployment_changes: Vec<&Value> = report["operator_findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["object"]["kind"] == "Deployment")
        .collect();
    assert!(deployment_changes.iter().any(|f| f["code"] == "image-changed"), "{deployment_changes:?}");
    assert!(
        !deployment_changes.iter().any(|f| f["code"] == "replicas-changed"),
        "values carried: {deployment_changes:?}"
    );

    // Drift: the plan says another chart version than the release runs.
    let drifted = write_plan(home.path(), "rollouts", &namespace, "2.38.1", &charts.join("2.40.5"));
    let (code, out) = plan(&cluster, &drifted, &helm, "text").await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(&format!("drift: Helm release {namespace}/rollouts (revision 2) runs chart argo-rollouts 2.38.2, but spec.from.version says 2.38.1")), "{out}");

    // A helm upgrade under way (or killed): revision 3 pending.
    let pending = release_record(&helm, home.path(), &charts.join("2.40.5"), release, 3, "pending-upgrade", &config);
    write_record(&cluster, &namespace, &pending).await;
    let (code, out) = plan(&cluster, &plan_file, &helm, "text").await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(&format!("Helm release {namespace}/rollouts is pending-upgrade at revision 3")), "{out}");
    assert!(out.contains(&format!("helm rollback rollouts -n {namespace}")), "{out}");
    delete_namespace(&cluster, &namespace).await;
}
on_both_clusters!(a_live_plan_reads_the_installed_release_and_refuses_a_pending_one_or_drift);

/// On the real control plane, the release is one `helm install` wrote (server-side, Helm 4), not the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_helm_installed_is_read_as_helm_wrote_it() {
    let test = "a_release_helm_installed_is_read_as_helm_wrote_it";
    let Some(cluster) = TestCluster::real(test).await else { return };
    let (Some(charts), Some(helm)) = (charts(test), common::helm(test)) else { return };
    let home = tempfile::tempdir().unwrap();
    let namespace = cluster.namespace("helm-install").await;
    let release = cluster.unique("rollouts");
    let kubeconfig = cluster.kubeconfig_path().display().to_string();
    let old_chart = charts.join("2.38.2").display().to_string();
    // Without the chart's CRDs: the shared control plane keeps no cluster-scoped leftovers of the test.
    let install = helm_command(
        &helm,
        home.path(),
        &["install", &release, &old_chart, "-n", &namespace, "--kubeconfig", &kubeconfig, "--set", "installCRDs=false"],
    );
    assert!(install.status.success(), "{}", String::from_utf8_lossy(&install.stderr));
    let plan_file = write_plan(home.path(), &release, &namespace, "2.38.2", &charts.join("2.40.5"));
    let (code, out) = plan(&cluster, &plan_file, &helm, "text").await;
    // Installed without its CRDs and not waited for, the controller is not Available: the live preflight
    // says apply would refuse, after the plan read from the release.
    let refusal =
        format!("apply would refuse: the operator Deployment {namespace}/{release}-argo-rollouts is not Available");
    assert!(code == 1 && out.contains(&refusal), "{out}");
    assert!(out.contains(&format!("== Helm release {namespace}/{release}")), "{out}");
    assert!(
        out.contains("chart argo-rollouts 2.38.2 (app v1.7.2), revision 1, applied server-side -> argo-rollouts 2.40.5 (app v1.8.3)"),
        "{out}"
    );
    let uninstall =
        helm_command(&helm, home.path(), &["uninstall", &release, "-n", &namespace, "--kubeconfig", &kubeconfig]);
    assert!(uninstall.status.success(), "{}", String::from_utf8_lossy(&uninstall.stderr));
    delete_namespace(&cluster, &namespace).await;
}
