//! The upgrade plans in `plans/` run end to end through the real binary against the simulator, each with a
//! scenario that models how the real operator is scoped (tests/fixtures/canary-plans/<project>/):
//! Strimzi's equality-only `STRIMZI_CUSTOM_RESOURCE_SELECTOR` and lease env, CloudNativePG's
//! `WATCH_NAMESPACE` and fixed lease (the copies run with `--leader-elect=false`), prometheus-operator's
//! `--controller-id`, and cert-manager without a canary (a one-step replacement watched afterwards). Each
//! plan is run to promotion with its new release and to an automatic rollback with a bad build of it.
//!
//! The releases are assembled per test in a tempdir as the plans expect them (`releases/<project>/<version>/`
//! beside `plans/<project>.yaml`): the CRDs of that version from `../shared/corpus` (every test skips with a
//! message when the corpus is absent) and the fixture's `operator.yaml` (the operator's Deployment with the
//! real flags and env, RBAC, namespace). The plan is the repo's, with only its analysis timing compressed
//! (and, for prometheus-operator, the one signal the tool cannot measure removed; see `plan_text`), and
//! its rehearsal requirement off (tests/rehearse.rs judges that).
//! Backup gates are satisfied the way tests/gates.rs plays them: Velero `Backup`s (and Velero finishing a
//! test restore) and CloudNativePG `Backup`s, written with their status by the test.

use crate::common;

use common::{eventually, TestCluster};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use operator_upgrade::sim::Scenario;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const COHORT_LABEL: &str = "operator-upgrade.dev/cohort";
const CONTROLLER_ID: &str = "operator.prometheus.io/controller-id";

fn corpus() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if path.join("pairs.tsv").is_file() {
        Some(path)
    } else {
        // Written past the test harness's capture so the skip is visible in a plain `cargo test`.
        let _ = writeln!(std::io::stderr(), "skipped: ../shared/corpus not found beside the project");
        None
    }
}

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A kind the plan's cohort (or, for cert-manager, the watched fleet) holds.
struct Kind {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    /// A user's spec change for round `n` (merge patch), so observedGeneration and the reconcile
    /// counters have something to measure in each interval.
    churn: fn(u64) -> Value,
}

impl Kind {
    fn resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(self.group, self.version, self.kind), self.plural)
    }
}

/// One plan of `plans/` and what its scenario holds.
struct Project {
    name: &'static str,
    old: &'static str,
    new: &'static str,
    namespace: &'static str,
    deployment: &'static str,
    container: &'static str,
    /// The condition the operator writes and the plan judges.
    condition: &'static str,
    kinds: &'static [Kind],
    /// How many objects of `kinds` the scenario holds.
    objects: usize,
}

impl Project {
    fn fixture(&self, relative: &str) -> PathBuf {
        repo("tests/fixtures/canary-plans").join(self.name).join(relative)
    }

    /// The simulator's operator image of a release, as the fixture's operator.yaml names it.
    fn image(&self, version: &str) -> String {
        let operator = std::fs::read_to_string(self.fixture(&format!("{version}/operator.yaml"))).unwrap();
        let images = operator.lines().filter_map(|l| l.trim_start().strip_prefix("image: "));
        let mut images = images.map(|i| i.trim().trim_matches('"').to_owned());
        images.find(|i| i.starts_with("registry.example/")).expect("the operator's image")
    }
}

fn replicas(n: u64) -> Value {
    json!({"spec": {"replicas": 1 + n % 3}})
}

const STRIMZI: Project = Project {
    name: "strimzi",
    old: "0.48.0",
    new: "0.49.0",
    namespace: "kafka-operator",
    deployment: "strimzi-cluster-operator",
    container: "strimzi-cluster-operator",
    condition: "Ready",
    kinds: &[
        Kind {
            group: "kafka.strimzi.io",
            version: "v1beta2",
            kind: "Kafka",
            plural: "kafkas",
            churn: |n| json!({"spec": {"kafka": {"config": {"num.partitions": 1 + n % 3}}}}),
        },
        Kind {
            group: "kafka.strimzi.io",
            version: "v1beta2",
            kind: "KafkaConnect",
            plural: "kafkaconnects",
            churn: replicas,
        },
        Kind {
            group: "kafka.strimzi.io",
            version: "v1beta2",
            kind: "KafkaBridge",
            plural: "kafkabridges",
            churn: replicas,
        },
        Kind {
            group: "kafka.strimzi.io",
            version: "v1beta2",
            kind: "KafkaMirrorMaker2",
            plural: "kafkamirrormaker2s",
            churn: replicas,
        },
    ],
    objects: 12,
};

const CLOUDNATIVE_PG: Project = Project {
    name: "cloudnative-pg",
    old: "v1.29.0",
    new: "v1.30.0",
    namespace: "cnpg-system",
    deployment: "cnpg-controller-manager",
    container: "manager",
    condition: "Ready",
    kinds: &[Kind {
        group: "postgresql.cnpg.io",
        version: "v1",
        kind: "Cluster",
        plural: "clusters",
        churn: |n| json!({"spec": {"instances": 1 + n % 3}}),
    }],
    objects: 8,
};

const PROMETHEUS_OPERATOR: Project = Project {
    name: "prometheus-operator",
    old: "v0.75.0",
    new: "v0.76.0",
    namespace: "monitoring",
    deployment: "prometheus-operator",
    container: "prometheus-operator",
    condition: "Available",
    kinds: &[
        Kind {
            group: "monitoring.coreos.com",
            version: "v1",
            kind: "Prometheus",
            plural: "prometheuses",
            churn: replicas,
        },
        Kind {
            group: "monitoring.coreos.com",
            version: "v1alpha1",
            kind: "PrometheusAgent",
            plural: "prometheusagents",
            churn: replicas,
        },
        Kind {
            group: "monitoring.coreos.com",
            version: "v1",
            kind: "Alertmanager",
            plural: "alertmanagers",
            churn: replicas,
        },
        Kind {
            group: "monitoring.coreos.com",
            version: "v1",
            kind: "ThanosRuler",
            plural: "thanosrulers",
            churn: replicas,
        },
    ],
    objects: 10,
};

/// No canary: the fleet watched after the one-step replacement is every Certificate and Issuer.
const CERT_MANAGER: Project = Project {
    name: "cert-manager",
    old: "v1.18.5",
    new: "v1.19.0",
    namespace: "cert-manager",
    deployment: "cert-manager",
    container: "cert-manager-controller",
    condition: "Ready",
    kinds: &[
        Kind {
            group: "cert-manager.io",
            version: "v1",
            kind: "Certificate",
            plural: "certificates",
            churn: |n| json!({"spec": {"revisionHistoryLimit": 1 + n % 3}}),
        },
        Kind {
            group: "cert-manager.io",
            version: "v1",
            kind: "Issuer",
            plural: "issuers",
            churn: |n| json!({"metadata": {"labels": {"round": (n % 3).to_string()}}}),
        },
    ],
    objects: 7,
};

/// A tempdir laid out as the plan expects: `releases/<project>/<version>/` and `plans/<project>.yaml`.
struct Layout {
    dir: tempfile::TempDir,
}

impl Layout {
    /// The releases from the corpus's CRDs and the fixture's operator.yaml (the new one running `new_image`),
    /// and the repo's plan with its analysis compressed.
    fn new(project: &Project, corpus: &Path, new_image: &str) -> Layout {
        let dir = tempfile::tempdir().unwrap();
        for version in [project.old, project.new] {
            let release = dir.path().join("releases").join(project.name).join(version);
            std::fs::create_dir_all(&release).unwrap();
            std::fs::write(
                release.join("crds.yaml"),
                corpus_crds(&corpus.join("crds").join(project.name).join(version)),
            )
            .unwrap();
            let mut operator = std::fs::read_to_string(project.fixture(&format!("{version}/operator.yaml"))).unwrap();
            if version == project.new {
                operator = operator.replace(&project.image(project.new), new_image);
            }
            std::fs::write(release.join("operator.yaml"), operator).unwrap();
        }
        let plans = dir.path().join("plans");
        std::fs::create_dir_all(&plans).unwrap();
        let plan = std::fs::read_to_string(repo(&format!("plans/{}.yaml", project.name))).unwrap();
        std::fs::write(plans.join(format!("{}.yaml", project.name)), plan_text(project, &plan)).unwrap();
        Layout { dir }
    }

    fn release(&self, project: &Project, version: &str) -> PathBuf {
        self.dir.path().join("releases").join(project.name).join(version)
    }

    fn plan(&self, project: &Project) -> PathBuf {
        self.dir.path().join("plans").join(format!("{}.yaml", project.name))
    }
}

/// Every CRD document of the corpus's files of one release, in file order (CloudNativePG's file is the whole
/// install manifest: only its CRDs are taken, the operator comes from the fixture).
fn corpus_crds(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut out = String::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut document = String::new();
        let mut flush = |document: &mut String| {
            if document.lines().any(|l| l == "kind: CustomResourceDefinition") {
                out.push_str("---\n");
                out.push_str(document);
            }
            document.clear();
        };
        for line in text.lines() {
            if line == "---" {
                flush(&mut document);
            } else {
                document.push_str(line);
                document.push('\n');
            }
        }
        flush(&mut document);
    }
    out
}

/// The repo's plan with only its analysis timing compressed: a 1s interval, 5 measurements and a 1.5s
/// warm-up; every signal and limit stays as written, but one: prometheus-operator's
/// `reconcile-errors-per-second` queries the cluster's Prometheus (`prometheus-k8s.monitoring.svc`), which
/// neither the simulator nor this machine has, and the tool does not measure Prometheus sources yet (the
/// analysis answers "Prometheus queries are not measured by this version: use podProxy"), so it is
/// removed; the same counters stay judged through the pod proxy (`reconcile-error-ratio`).
fn plan_text(project: &Project, plan: &str) -> String {
    let mut out = Vec::new();
    let mut in_analysis = false;
    let mut skipping = false;
    for line in plan.lines() {
        if line.starts_with("  ") && !line.starts_with("   ") {
            in_analysis = line == "  analysis:";
        }
        let trimmed = line.trim_start();
        if project.name == "prometheus-operator" && in_analysis {
            if trimmed.starts_with("# The same counters as the cluster's Prometheus") {
                skipping = true;
            } else if skipping && line.starts_with("    ") && !line.starts_with("     ") {
                skipping = false;
            }
            if skipping {
                continue;
            }
        }
        if in_analysis && line.starts_with("    ") && !line.starts_with("     ") {
            if trimmed.starts_with("interval:") {
                out.push("    interval: 1s".to_owned());
                continue;
            }
            if trimmed.starts_with("duration:") {
                out.push("    count: 5".to_owned());
                continue;
            }
            if trimmed.starts_with("warmUp:") {
                out.push("    warmUp: 1500ms".to_owned());
                continue;
            }
        }
        out.push(line.to_owned());
    }
    // A single simulator is the production cluster here; the rehearsal these plans require is judged by
    // tests/rehearse.rs, so this test runs each plan's canary without one.
    (out.join("\n") + "\n").replace("  rehearsal:\n    required: true", "  rehearsal:\n    required: false")
}

/// The simulator with the project's scenario and the old release installed, every object healthy.
async fn cluster(project: &Project, layout: &Layout) -> TestCluster {
    let mut scenario = Scenario::load(&project.fixture("scenario.yaml")).expect("the scenario loads");
    scenario.manifests.push(layout.release(project, project.old));
    let cluster = TestCluster::sim(Scenario { tick_ms: 20, ..scenario }).await;
    let condition = project.condition;
    eventually(
        &format!("all {} objects {condition} under {} {}", project.objects, project.name, project.old),
        || async {
            let mut healthy = 0;
            for kind in project.kinds {
                let api: Api<DynamicObject> = Api::all_with(cluster.client(), &kind.resource());
                for object in api.list(&ListParams::default()).await.ok()?.items {
                    let conditions = object.data["status"]["conditions"].as_array().cloned().unwrap_or_default();
                    healthy += usize::from(conditions.iter().any(|c| c["type"] == condition && c["status"] == "True"));
                }
            }
            (healthy == project.objects).then_some(())
        },
    )
    .await;
    cluster
}

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

/// Users' spec changes while the plan runs: every 300ms every object of the project's kinds gets its next
/// spec value.
fn churn(cluster: &TestCluster, project: &'static Project) -> tokio::task::JoinHandle<()> {
    let client = cluster.client();
    tokio::spawn(async move {
        for round in 0u64.. {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for kind in project.kinds {
                let all: Api<DynamicObject> = Api::all_with(client.clone(), &kind.resource());
                let Ok(list) = all.list(&ListParams::default()).await else { continue };
                for object in list.items {
                    let namespace = object.metadata.namespace.clone().unwrap_or_default();
                    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &kind.resource());
                    let name = object.metadata.name.clone().unwrap_or_default();
                    let patch = (kind.churn)(round);
                    let _ = api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await;
                }
            }
        }
    })
}

/// A CRD that keeps every field, with a status subresource, as tests/gates.rs gives Velero's kinds.
fn open_crd(group: &str, kind: &str, plural: &str) -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": kind.to_lowercase()},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap()
}

fn hours_ago(hours: i64) -> String {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours);
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Creates an object, then writes its status through the status subresource.
async fn create_with_status(cluster: &TestCluster, resource: &ApiResource, namespace: &str, object: Value) {
    let api: Api<DynamicObject> = Api::namespaced_with(cluster.client(), namespace, resource);
    let name = object["metadata"]["name"].as_str().unwrap().to_owned();
    let mut object = object;
    object["apiVersion"] = json!(resource.api_version);
    object["kind"] = json!(resource.kind);
    let status = object["status"].clone();
    api.create(&PostParams::default(), &serde_json::from_value(object).unwrap()).await.expect("the object is created");
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({"status": status})))
        .await
        .expect("the status is written");
}

/// Velero installed in `velero` with an Available `default` location and a completed, recent Backup of
/// `namespaces` labelled `schedule`, as a nightly schedule leaves them.
async fn velero_backup(cluster: &TestCluster, schedule: &str, namespaces: &[&str]) {
    for (kind, plural) in
        [("Backup", "backups"), ("BackupStorageLocation", "backupstoragelocations"), ("Restore", "restores")]
    {
        cluster.create_crd(&open_crd("velero.io", kind, plural)).await;
    }
    let namespaces_api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cluster.client());
    let velero = serde_json::from_value(json!({"metadata": {"name": "velero"}})).unwrap();
    namespaces_api.create(&PostParams::default(), &velero).await.unwrap();
    let gvk = |kind: &str, plural: &str| {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("velero.io", "v1", kind), plural)
    };
    let location =
        json!({"metadata": {"name": "default"}, "spec": {"provider": "aws"}, "status": {"phase": "Available"}});
    create_with_status(cluster, &gvk("BackupStorageLocation", "backupstoragelocations"), "velero", location).await;
    let backup = json!({
        "metadata": {"name": format!("{schedule}-20250101020000"), "labels": {"velero.io/schedule-name": schedule}},
        "spec": {"includedNamespaces": namespaces, "storageLocation": "default", "ttl": "720h0m0s"},
        "status": {"phase": "Completed", "errors": 0, "startTimestamp": hours_ago(3),
            "completionTimestamp": hours_ago(2), "expiration": hours_ago(-24 * 30)}
    });
    create_with_status(cluster, &gvk("Backup", "backups"), "velero", backup).await;
}

/// Plays Velero for test restores, as tests/gates.rs does: each new `Restore` in `velero` restores a
/// ConfigMap into the namespace it maps the source to, then completes with no errors.
fn play_velero(cluster: &TestCluster) -> tokio::task::JoinHandle<()> {
    let client = cluster.client();
    tokio::spawn(async move {
        let restores =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("velero.io", "v1", "Restore"), "restores");
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "velero", &restores);
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let Ok(list) = api.list(&ListParams::default()).await else { continue };
            for restore in list.items.into_iter().filter(|r| r.data["status"]["phase"].is_null()) {
                let mapping = restore.data["spec"]["namespaceMapping"].as_object().cloned().unwrap_or_default();
                for scratch in mapping.values().filter_map(Value::as_str) {
                    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> =
                        Api::namespaced(client.clone(), scratch);
                    let restored =
                        serde_json::from_value(json!({"metadata": {"name": "restored"}, "data": {"k": "v"}})).unwrap();
                    let _ = configmaps.create(&PostParams::default(), &restored).await;
                }
                let name = restore.metadata.name.clone().unwrap_or_default();
                let status = json!({"status": {"phase": "Completed", "errors": 0, "warnings": 0}});
                let _ = api.patch_status(&name, &PatchParams::default(), &Patch::Merge(status)).await;
            }
        }
    })
}

/// What every run must leave: no cohort label or annotation (nor a controller id) on any object, only the
/// stable Deployment, and no object two Deployments reconciled at once.
async fn assert_clean(cluster: &TestCluster, project: &Project) {
    for kind in project.kinds {
        let api: Api<DynamicObject> = Api::all_with(cluster.client(), &kind.resource());
        for object in api.list(&ListParams::default()).await.unwrap().items {
            let name = format!("{} {:?}/{:?}", kind.kind, object.metadata.namespace, object.metadata.name);
            let labels = object.metadata.labels.clone().unwrap_or_default();
            assert!(!labels.keys().any(|k| k.starts_with("operator-upgrade.dev/")), "{name} keeps a label: {labels:?}");
            assert!(!labels.contains_key(COHORT_LABEL), "{name} keeps the cohort label");
            let annotations = object.metadata.annotations.clone().unwrap_or_default();
            assert!(
                !annotations.keys().any(|k| k.starts_with("operator-upgrade.dev/") || k == CONTROLLER_ID),
                "{name} keeps an annotation of the run: {annotations:?}"
            );
        }
    }
    let names = common::canary::deployment_names(cluster, project.namespace).await;
    assert_eq!(names, vec![project.deployment.to_owned()]);
    let conflicts = cluster.sim_handle().unwrap().reconciler_conflicts();
    assert!(conflicts.is_empty(), "objects reconciled by two Deployments at once: {conflicts:?}");
}

/// The image of the operator's container in its Deployment.
async fn operator_image(cluster: &TestCluster, project: &Project) -> String {
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), project.namespace);
    let deployment = deployments.get(project.deployment).await.unwrap();
    let containers = deployment.spec.unwrap().template.spec.unwrap().containers;
    containers.into_iter().find(|c| c.name == project.container).expect("the plan's container").image.unwrap()
}

/// Every object of the project's kinds has its condition True.
async fn assert_all_healthy(cluster: &TestCluster, project: &Project) {
    for kind in project.kinds {
        let api: Api<DynamicObject> = Api::all_with(cluster.client(), &kind.resource());
        for object in api.list(&ListParams::default()).await.unwrap().items {
            let conditions = object.data["status"]["conditions"].as_array().cloned().unwrap_or_default();
            let healthy = conditions.iter().any(|c| c["type"] == project.condition && c["status"] == "True");
            assert!(healthy, "{} {:?} is not {}: {conditions:?}", kind.kind, object.metadata.name, project.condition);
        }
    }
}

/// Runs `apply` of the project's plan with the new release running `new_image`, with users' churn and
/// whatever the plan's gates need; returns the cluster, exit code and output.
async fn run(project: &'static Project, new_image: &str, gates: Gates) -> Option<(TestCluster, i32, String)> {
    let corpus = corpus()?;
    let layout = Layout::new(project, &corpus, new_image);
    let cluster = cluster(project, &layout).await;
    let velero = match gates {
        Gates::None => None,
        Gates::Velero { schedule, namespaces } => {
            velero_backup(&cluster, schedule, namespaces).await;
            Some(play_velero(&cluster))
        }
        Gates::CloudNativePg => {
            cnpg_backups(&cluster).await;
            None
        }
    };
    let churn = churn(&cluster, project);
    let plan = layout.plan(project);
    let (code, output) = tool(&cluster, &["apply", "-f", plan.to_str().unwrap(), "--yes", "--fail-on", "never"]).await;
    churn.abort();
    if let Some(velero) = velero {
        velero.abort();
    }
    Some((cluster, code, output))
}

/// What the plan's backup gates need in the cluster.
enum Gates {
    None,
    Velero {
        schedule: &'static str,
        namespaces: &'static [&'static str],
    },
    /// A completed CloudNativePG `Backup` of every database `Cluster`, stopped an hour ago.
    CloudNativePg,
}

/// Each database Cluster's nightly base backup, completed an hour ago, as CloudNativePG records it.
async fn cnpg_backups(cluster: &TestCluster) {
    let gvk = |kind: &str, plural: &str| {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("postgresql.cnpg.io", "v1", kind), plural)
    };
    let clusters: Api<DynamicObject> = Api::all_with(cluster.client(), &gvk("Cluster", "clusters"));
    for database in clusters.list(&ListParams::default()).await.unwrap().items {
        let (namespace, name) = (database.metadata.namespace.unwrap(), database.metadata.name.unwrap());
        let backup = json!({
            "metadata": {"name": format!("{name}-nightly")},
            "spec": {"cluster": {"name": name}, "method": "barmanObjectStore"},
            "status": {"phase": "completed", "startedAt": hours_ago(2), "stoppedAt": hours_ago(1)}
        });
        create_with_status(cluster, &gvk("Backup", "backups"), &namespace, backup).await;
    }
}

async fn promoted(project: &'static Project, gates: Gates, expect: &str) {
    let image = project.image(project.new);
    let Some((cluster, code, output)) = run(project, &image, gates).await else { return };
    assert_eq!(code, 0, "{output}");
    assert!(output.contains(expect), "expected `{expect}` in:\n{output}");
    assert_eq!(operator_image(&cluster, project).await, image);
    assert_all_healthy(&cluster, project).await;
    assert_clean(&cluster, project).await;
}

async fn rolled_back(project: &'static Project, gates: Gates, expect: &str) {
    let bad = format!("{}-bad", project.image(project.new));
    let Some((cluster, code, output)) = run(project, &bad, gates).await else { return };
    assert_eq!(code, 1, "{output}");
    assert!(output.contains(expect), "expected `{expect}` in:\n{output}");
    assert_eq!(operator_image(&cluster, project).await, project.image(project.old));
    assert_all_healthy(&cluster, project).await;
    assert_clean(&cluster, project).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn strimzi_plan_promotes_0_49_0_after_the_canary_cluster_passes() {
    promoted(&STRIMZI, Gates::Velero { schedule: "kafka-nightly", namespaces: &["kafka"] }, "promoted").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn strimzi_plan_rolls_back_a_bad_0_49_0_automatically() {
    rolled_back(&STRIMZI, Gates::Velero { schedule: "kafka-nightly", namespaces: &["kafka"] }, "conditions failed")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudnative_pg_plan_promotes_1_30_0_after_the_canary_namespace_passes() {
    promoted(&CLOUDNATIVE_PG, Gates::CloudNativePg, "promoted").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudnative_pg_plan_rolls_back_a_bad_1_30_0_automatically() {
    rolled_back(&CLOUDNATIVE_PG, Gates::CloudNativePg, "conditions failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_operator_plan_promotes_v0_76_0_after_the_controller_id_canary_passes() {
    promoted(&PROMETHEUS_OPERATOR, Gates::None, "promoted").await;
}

/// prometheus-operator writes `Available`, not `Ready`: the rollback waits for the plan's condition type,
/// which the journal carries.
#[tokio::test(flavor = "multi_thread")]
async fn prometheus_operator_plan_rolls_back_a_bad_v0_76_0_automatically() {
    rolled_back(&PROMETHEUS_OPERATOR, Gates::None, "conditions failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_manager_plan_promotes_v1_19_0_by_a_one_step_replacement_watched_afterwards() {
    promoted(&CERT_MANAGER, Gates::Velero { schedule: "nightly", namespaces: &["cert-manager"] }, "promotion done")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_manager_plan_rolls_back_a_bad_v1_19_0_automatically() {
    rolled_back(
        &CERT_MANAGER,
        Gates::Velero { schedule: "nightly", namespaces: &["cert-manager"] },
        "conditions failed",
    )
    .await;
}
