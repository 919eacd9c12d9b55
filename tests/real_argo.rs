//! Argo Rollouts on the real control plane, built from its Go module and run as real Pods: v1.7.2 installed
//! as a user installs it (`kubectl apply --server-side -n <namespace>` of the release's `install.yaml`, its
//! `:latest` image pinned to the release as Argo's docs tell users to), its Rollouts made Healthy by the real
//! controller, then upgraded to v1.8.3 by `plans/argo-rollouts.yaml` as written (analysis timings shortened).
//!
//! What the controller's own metrics say decides whether two controllers ever reconciled one Rollout:
//! `rollout_reconcile_count{namespace,name}` of every controller Pod, read through the API server's pod proxy
//! beside the Rollouts' instance-id labels while `apply` runs.

use super::logs::deployment_of;
use super::{
    create, kubectl, real_operator_bed, remove_namespace, shortened, wait_for_crds, ARGO_ROLLOUTS, OPERATOR_PACE,
};
use crate::common::{self, eventually, eventually_within, TestCluster};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const INSTANCE_ID: &str = "argo-rollouts.argoproj.io/controller-instance-id";
const COHORT_LABEL: &str = "operator-upgrade.dev/cohort";
const CONTROLLER: &str = "argo-rollouts";
const ROLLOUTS: usize = 4;

pub(super) fn argo_api(client: &kube::Client, namespace: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", kind);
    Api::namespaced_with(client.clone(), namespace, &ApiResource::from_gvk_with_plural(&gvk, plural))
}

/// A release's `install.yaml` with its image pinned and its ClusterRoleBinding's subject in `namespace`.
fn copy_install(corpus: &Path, version: &str, to: &Path, namespace: &str) -> String {
    let text = std::fs::read_to_string(corpus.join("argo-rollouts").join(version).join("install.yaml")).unwrap();
    let text = text
        .replace("quay.io/argoproj/argo-rollouts:latest", &format!("quay.io/argoproj/argo-rollouts:{version}"))
        .replace("namespace: argo-rollouts", &format!("namespace: {namespace}"));
    std::fs::create_dir_all(to.join(version)).unwrap();
    let path = to.join(version).join("install.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// `plans/argo-rollouts.yaml` for the test's namespace and copies of the releases, its analysis shortened and
/// its cohort drawn from this test's Rollouts.
fn write_plan(dir: &Path, namespace: &str, name: &str) -> String {
    let plan = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/argo-rollouts.yaml")).unwrap();
    let release = |v: &str| format!("path: {}", dir.join(v).display());
    let plan = plan
        .replace("name: argo-rollouts-v1-8", &format!("name: {name}"))
        .replace("namespace: argo-rollouts", &format!("namespace: {namespace}"))
        .replace("path: ../releases/argo-rollouts/v1.7.2/", &release("v1.7.2"))
        .replace("path: ../releases/argo-rollouts/v1.8.3/", &release("v1.8.3"));
    let plan = shortened(plan, namespace);
    let path = dir.join("plan.yaml");
    std::fs::write(&path, plan).unwrap();
    path.display().to_string()
}

pub(super) fn ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The running controller Pods of the namespace (the copies' too), not being deleted.
pub(super) async fn controller_pods(client: &kube::Client, namespace: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let Ok(list) = pods.list(&ListParams::default()).await else { return Vec::new() };
    let controller = |p: &Pod| {
        let images = p.spec.iter().flat_map(|s| s.containers.iter()).filter_map(|c| c.image.as_deref());
        images.into_iter().any(|i| i.starts_with("quay.io/argoproj/argo-rollouts:"))
    };
    list.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none() && controller(p)).collect()
}

/// A controller Pod's reconciles of each Rollout, from its own `rollout_reconcile` histogram's count.
async fn reconciles_by_rollout(client: &kube::Client, namespace: &str, pod: &str) -> Option<BTreeMap<String, f64>> {
    let path = format!("/api/v1/namespaces/{namespace}/pods/{pod}:8090/proxy/metrics");
    let request = http::Request::get(path).body(Vec::new()).ok()?;
    let text = client.request_text(request).await.ok()?;
    let mut counts = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("rollout_reconcile_count{")) {
        let name = line.split("name=\"").nth(1)?.split('"').next()?;
        let value: f64 = line.rsplit(' ').next()?.parse().ok()?;
        counts.insert(name.to_owned(), value);
    }
    Some(counts)
}

/// One look at the namespace: which controller each Rollout's instance-id label gives it to, and each
/// controller Deployment's reconcile counts per Rollout (per Pod, summed by Deployment would hide a new Pod's
/// restart from zero, so by Pod).
#[derive(Debug, Clone, Default)]
struct Sample {
    owner: BTreeMap<String, String>,
    counts: BTreeMap<String, BTreeMap<String, f64>>,
}

/// The Deployment the instance-id label gives a Rollout to.
fn owner_of(instance_id: Option<&str>) -> String {
    match instance_id {
        None => CONTROLLER.to_owned(),
        Some(id) => format!("{CONTROLLER}-{id}"),
    }
}

async fn sample(client: &kube::Client, namespace: &str) -> Option<Sample> {
    let rollouts = argo_api(client, namespace, "Rollout", "rollouts").list(&ListParams::default()).await.ok()?;
    let owner = rollouts
        .items
        .iter()
        .map(|r| {
            let labels = r.metadata.labels.clone().unwrap_or_default();
            (r.metadata.name.clone().unwrap_or_default(), owner_of(labels.get(INSTANCE_ID).map(String::as_str)))
        })
        .collect();
    let mut counts = BTreeMap::new();
    for pod in controller_pods(client, namespace).await {
        let name = pod.metadata.name.clone().unwrap_or_default();
        if let Some(by_rollout) = reconciles_by_rollout(client, namespace, &name).await {
            counts.insert(name, by_rollout);
        }
    }
    Some(Sample { owner, counts })
}

/// What the controllers' own counters show across the samples: for every window between two samples in which
/// a Rollout's label had not moved since the sample before (an informer may lag its API server by less than
/// a sampling interval), the Pods whose count of it grew. A Pod of a Deployment other than the one the label
/// gives the Rollout to is a double reconcile. Returns (double reconciles, reconciles per Deployment).
fn double_reconciles(samples: &[Sample]) -> (Vec<String>, BTreeMap<String, f64>) {
    let mut doubles = Vec::new();
    let mut by_deployment: BTreeMap<String, f64> = BTreeMap::new();
    for window in samples.windows(3) {
        let [before, start, end] = window else { continue };
        for (pod, counts) in &end.counts {
            let deployment = deployment_of(pod);
            for (rollout, count) in counts {
                let Some(earlier) = start.counts.get(pod).and_then(|c| c.get(rollout)) else { continue };
                if count <= earlier {
                    continue;
                }
                *by_deployment.entry(deployment.clone()).or_default() += count - earlier;
                let owners = [&before.owner, &start.owner, &end.owner].map(|o| o.get(rollout));
                let settled = owners.iter().all(|o| *o == owners[0] && o.is_some());
                if settled && owners[0] != Some(&deployment) {
                    doubles.push(format!(
                        "{rollout}: reconciled by {pod} ({deployment}) while its label gave it to {}",
                        owners[0].unwrap()
                    ));
                }
            }
        }
    }
    (doubles, by_deployment)
}

/// Samples the namespace every half second until stopped.
fn record(cluster: &TestCluster, namespace: &str) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Vec<Sample>>>) {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let (client, namespace, into) = (cluster.client(), namespace.to_owned(), samples.clone());
    let task = tokio::spawn(async move {
        loop {
            if let Some(sample) = sample(&client, &namespace).await {
                into.lock().unwrap().push(sample);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    (task, samples)
}

/// Users' changes while the run goes on: every second each Rollout's `revisionHistoryLimit` moves, a new
/// generation for its controller to observe that changes no Pod template (a template change would start a
/// real rollout of every workload).
pub(super) fn churn(cluster: &TestCluster, namespace: &str) -> tokio::task::JoinHandle<()> {
    let api = argo_api(&cluster.client(), namespace, "Rollout", "rollouts");
    tokio::spawn(async move {
        for round in 0u64.. {
            if let Ok(list) = api.list(&ListParams::default()).await {
                for rollout in list.items {
                    let patch = json!({"spec": {"revisionHistoryLimit": 9 + round % 2}});
                    let name = rollout.metadata.name.unwrap_or_default();
                    let _ = api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await;
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// Rollouts, each with its own workload and an AnalysisTemplate its canary steps name.
pub(super) async fn create_rollouts(cluster: &TestCluster, namespace: &str) {
    let templates = argo_api(&cluster.client(), namespace, "AnalysisTemplate", "analysistemplates");
    let rollouts = argo_api(&cluster.client(), namespace, "Rollout", "rollouts");
    for index in 0..ROLLOUTS {
        let name = format!("web-{index}");
        create(&templates, json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": format!("{name}-check")},
            "spec": {"metrics": [{"name": "up", "successCondition": "result == true",
                "provider": {"web": {"url": format!("http://{name}.{namespace}.svc/healthz"), "jsonPath": "{$.ok}"}}}]}}))
        .await;
        create(&rollouts, json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": name},
            "spec": {"replicas": 1, "revisionHistoryLimit": 10, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
                "strategy": {"canary": {"steps": [{"setWeight": 50},
                    {"analysis": {"templates": [{"templateName": format!("{name}-check")}]}}, {"pause": {"duration": "1s"}}]}}}}))
        .await;
    }
}

pub(super) async fn all_healthy(cluster: &TestCluster, namespace: &str) -> Option<()> {
    let list = argo_api(&cluster.client(), namespace, "Rollout", "rollouts").list(&ListParams::default()).await.ok()?;
    let healthy = list.items.iter().filter(|r| r.data["status"]["phase"] == "Healthy").count();
    (healthy == ROLLOUTS).then_some(())
}

/// Every ReplicaSet of the namespace by name, with its uid and pod-template hash: a re-rolled workload gets
/// a new one.
pub(super) async fn replica_sets(cluster: &TestCluster, namespace: &str) -> BTreeSet<(String, String)> {
    let api: Api<ReplicaSet> = Api::namespaced(cluster.client(), namespace);
    let list = api.list(&ListParams::default()).await.unwrap();
    let owned_by_rollout = |rs: &ReplicaSet| rs.metadata.owner_references.iter().flatten().any(|o| o.kind == "Rollout");
    list.items
        .iter()
        .filter(|rs| owned_by_rollout(rs))
        .map(|rs| (rs.metadata.name.clone().unwrap_or_default(), rs.metadata.uid.clone().unwrap_or_default()))
        .collect()
}

/// Argo Rollouts v1.7.2 installed, Ready by its probe, its Rollouts Healthy, in a namespace of the test's own.
struct Installed {
    dir: tempfile::TempDir,
    namespace: String,
    plan: String,
    took: Duration,
}

async fn install(cluster: &TestCluster, corpus: &Path) -> Installed {
    let started = Instant::now();
    let namespace = cluster.namespace("argo-rollouts").await;
    let dir = tempfile::tempdir().unwrap();
    let old = copy_install(corpus, "v1.7.2", dir.path(), &namespace);
    copy_install(corpus, "v1.8.3", dir.path(), &namespace);
    let plan = write_plan(dir.path(), &namespace, &cluster.unique("argo-rollouts"));
    kubectl(cluster, &["apply", "--server-side", "--force-conflicts", "-n", &namespace, "-f", &old]);
    wait_for_crds(cluster, Path::new(&old)).await;
    let controller = eventually_within("the Argo Rollouts controller Ready by its probe", OPERATOR_PACE, || async {
        controller_pods(&cluster.client(), &namespace).await.into_iter().find(ready)
    })
    .await;
    // Its readiness probe (GET /metrics) waits 10 s before its first check: Ready before that would be a
    // Pod reported Ready without its probe.
    let became_ready = started.elapsed();
    assert!(became_ready >= Duration::from_secs(10), "ready after {became_ready:?}, before its probe could pass");
    let ip = controller.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap();
    assert!(!ip.starts_with("127."), "the Pod has an address of the Pod network: {ip}");
    create_rollouts(cluster, &namespace).await;
    eventually_within("every Rollout Healthy under v1.7.2", OPERATOR_PACE, || all_healthy(cluster, &namespace)).await;
    Installed { dir, namespace, plan, took: started.elapsed() }
}

impl Installed {
    async fn assert_clean(&self, cluster: &TestCluster) {
        assert_clean(cluster, &self.namespace, CONTROLLER).await;
    }
}

/// Nothing of a run is left in `namespace`: no instance-id or cohort label on a Rollout or a template, no
/// Deployment but the stable `controller`, no lease of the tool's, no account of the canary's.
pub(super) async fn assert_clean(cluster: &TestCluster, namespace: &str, controller: &str) {
    for (kind, plural) in [("Rollout", "rollouts"), ("AnalysisTemplate", "analysistemplates")] {
        let list = argo_api(&cluster.client(), namespace, kind, plural).list(&ListParams::default()).await.unwrap();
        for object in list {
            let labels = object.metadata.labels.clone().unwrap_or_default();
            let name = &object.metadata.name;
            assert!(
                !labels.contains_key(INSTANCE_ID) && !labels.contains_key(COHORT_LABEL),
                "{kind} {name:?}: {labels:?}"
            );
        }
    }
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), namespace);
    let list = deployments.list(&ListParams::default()).await.unwrap();
    let names: Vec<String> = list.items.into_iter().filter_map(|d| d.metadata.name).collect();
    assert_eq!(names, [controller], "only the stable Deployment is left");
    let leases: Api<Lease> = Api::namespaced(cluster.client(), namespace);
    let list = leases.list(&ListParams::default()).await.unwrap();
    let left: Vec<String> = list.items.into_iter().filter_map(|l| l.metadata.name).collect();
    assert!(left.iter().all(|l| !l.starts_with("operator-upgrade")), "the run's lease is gone: {left:?}");
    super::assert_no_canary_access(cluster, namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn argo_rollouts_is_upgraded_by_apply_with_its_canary_and_finalized_on_the_real_control_plane() {
    let test = "argo_rollouts_is_upgraded_by_apply_with_its_canary_and_finalized";
    let Some((cluster, corpus)) = real_operator_bed(test).await else { return };
    let _turn = ARGO_ROLLOUTS.lock().await;
    let installed = install(&cluster, &corpus).await;
    let workloads = replica_sets(&cluster, &installed.namespace).await;
    assert_eq!(workloads.len(), ROLLOUTS, "one ReplicaSet per Rollout: {workloads:?}");

    let started = Instant::now();
    let (recorder, samples) = record(&cluster, &installed.namespace);
    let users = churn(&cluster, &installed.namespace);
    let (code, output) = common::run_tool(&cluster, &["apply", "-f", &installed.plan, "--yes"], &[]).await;
    let took = started.elapsed();
    users.abort();
    recorder.abort();
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("promoted"), "{output}");
    // The dependentChanges signal read the Rollouts' ReplicaSets and Pods at every interval, and found none.
    assert!(output.contains("dependentChanges") && output.contains("every signal within its limits"), "{output}");

    // The controllers' own counters: no Rollout reconciled by a controller its label did not give it to,
    // and the canary's copy did reconcile its cohort (the check is not vacuous).
    let samples = samples.lock().unwrap().clone();
    let (doubles, by_deployment) = double_reconciles(&samples);
    assert!(doubles.is_empty(), "double reconciles: {doubles:#?}");
    let canary = by_deployment.get(&format!("{CONTROLLER}-canary")).copied().unwrap_or_default();
    assert!(canary > 0.0, "the canary reconciled nothing by its own counters: {by_deployment:?}");

    let (code, output) = common::run_tool(&cluster, &["finalize", "-f", &installed.plan, "--yes"], &[]).await;
    assert_eq!(code, 0, "{output}");
    installed.assert_clean(&cluster).await;
    eventually_within("every Rollout Healthy under v1.8.3", OPERATOR_PACE, || {
        all_healthy(&cluster, &installed.namespace)
    })
    .await;
    let pods = eventually("one controller Pod, at v1.8.3", || async {
        let pods = controller_pods(&cluster.client(), &installed.namespace).await;
        (pods.len() == 1).then_some(pods)
    })
    .await;
    let image = pods[0].spec.as_ref().unwrap().containers[0].image.clone().unwrap();
    assert_eq!(image, "quay.io/argoproj/argo-rollouts:v1.8.3");
    // No workload was re-rolled: the same ReplicaSets, and the dependentChanges signal read them.
    assert_eq!(replica_sets(&cluster, &installed.namespace).await, workloads, "a Rollout's workload was re-rolled");
    eprintln!(
        "{test}: installed and Healthy in {:.1?}, apply took {took:.1?}; {} samples of the controllers' counters, reconciles by Deployment {by_deployment:?}",
        installed.took,
        samples.len()
    );
    remove_namespace(&cluster, &installed.namespace).await;
    drop(installed.dir);
}

#[test]
fn a_reconcile_by_a_controller_the_label_does_not_name_is_a_double_reconcile() {
    let at = |owner: &str, counts: &[(&str, f64)]| Sample {
        owner: BTreeMap::from([("web-0".to_owned(), owner.to_owned())]),
        counts: counts.iter().map(|(pod, n)| (pod.to_string(), BTreeMap::from([("web-0".to_owned(), *n)]))).collect(),
    };
    let (stable, canary) = ("argo-rollouts-5d9f8-abcde", "argo-rollouts-canary-7c6b5-fghij");
    assert_eq!(deployment_of(stable), "argo-rollouts");
    assert_eq!(deployment_of(canary), "argo-rollouts-canary");
    // The label moves to the canary; the stable's last reconcile lands in the window right after (informer lag).
    let handover = [
        at("argo-rollouts", &[(stable, 5.0)]),
        at("argo-rollouts-canary", &[(stable, 6.0), (canary, 1.0)]),
        at("argo-rollouts-canary", &[(stable, 6.0), (canary, 3.0)]),
        at("argo-rollouts-canary", &[(stable, 6.0), (canary, 4.0)]),
    ];
    let (doubles, by_deployment) = double_reconciles(&handover);
    assert!(doubles.is_empty(), "{doubles:?}");
    assert_eq!(by_deployment["argo-rollouts-canary"], 3.0);
    // The stable keeps reconciling a Rollout the label gave to the canary long before.
    let mut double = handover.to_vec();
    double.push(at("argo-rollouts-canary", &[(stable, 7.0), (canary, 5.0)]));
    let (doubles, _) = double_reconciles(&double);
    assert_eq!(doubles.len(), 1, "{doubles:?}");
    assert!(doubles[0].contains("argo-rollouts-5d9f8-abcde"), "{doubles:?}");
}
