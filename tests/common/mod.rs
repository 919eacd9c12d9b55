//! One test body, two clusters: the built-in simulator and the real control plane that
//! `controlplane/run.sh` starts (etcd, kube-apiserver, kube-controller-manager on loopback). A test written
//! with [`on_both_clusters!`] runs once against each; without the real control plane its `real` half skips
//! with a message naming the script that enables it.
//!
//! The real cluster is shared by every test of a run and outlives it, so a test names what it creates with
//! [`TestCluster::unique`] and works in its own namespace.
#![allow(dead_code)] // Each test crate uses its own part of this module.

pub mod big_journal;
pub mod canary;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{GroupVersionKind, TypeMeta};
use kube::Client;
use operator_upgrade::sim::{Scenario, Sim, SimHandle};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variable `controlplane/run.sh` sets to the real control plane's kubeconfig.
pub const REAL_KUBECONFIG_ENV: &str = "OPERATOR_UPGRADE_REAL_KUBECONFIG";

/// Which kind of cluster a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The built-in simulator, started for this test.
    Sim,
    /// The real control plane, shared by the run.
    Real,
}

/// A cluster a test runs against, with a client, its kubeconfig and a suffix that keeps names unique.
pub struct TestCluster {
    /// Which kind of cluster this is.
    pub backend: Backend,
    client: Client,
    kubeconfig: PathBuf,
    sim: Option<SimHandle>,
    suffix: String,
}

impl TestCluster {
    /// A fresh simulator with `scenario`.
    pub async fn sim(scenario: Scenario) -> TestCluster {
        let sim = Sim::start(scenario).await.expect("the simulator starts");
        TestCluster {
            backend: Backend::Sim,
            client: sim.client(),
            kubeconfig: sim.kubeconfig_path().to_owned(),
            sim: Some(sim),
            suffix: random_suffix(),
        }
    }

    /// The real control plane, or None (with a visible skip message) when `controlplane/run.sh` did not
    /// start one for this run.
    pub async fn real(test: &str) -> Option<TestCluster> {
        let Some(path) = std::env::var_os(REAL_KUBECONFIG_ENV) else {
            // Written past the test harness's capture so the skip is visible in a plain `cargo test`.
            let _ = writeln!(
                std::io::stderr(),
                "skipped {test} on the real control plane: run `controlplane/run.sh cargo test` to enable it"
            );
            return None;
        };
        let kubeconfig = PathBuf::from(path);
        let config = Kubeconfig::read_from(&kubeconfig).expect("the control plane's kubeconfig reads");
        let config = kube::Config::from_custom_kubeconfig(config, &KubeConfigOptions::default())
            .await
            .expect("the control plane's kubeconfig is valid");
        let client = Client::try_from(config).expect("a client for the control plane");
        Some(TestCluster { backend: Backend::Real, client, kubeconfig, sim: None, suffix: random_suffix() })
    }

    /// A client for the cluster.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The kubeconfig file that reaches the cluster (for kubectl and the tool as a process).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The simulator, for tests that set faults or read its state; None on the real cluster.
    pub fn sim_handle(&self) -> Option<&SimHandle> {
        self.sim.as_ref()
    }

    /// True on the real control plane.
    pub fn is_real(&self) -> bool {
        self.backend == Backend::Real
    }

    /// `base` made unique to this test, for names of cluster-scoped objects and namespaces.
    pub fn unique(&self, base: &str) -> String {
        format!("{base}-{}", self.suffix)
    }

    /// Creates a namespace of this test's own and waits until Pods can be created in it (the real server's
    /// ServiceAccount admission needs the `default` account, which kube-controller-manager creates).
    pub async fn namespace(&self, base: &str) -> String {
        let name = self.unique(base);
        let namespaces: Api<Namespace> = Api::all(self.client());
        let namespace: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
        namespaces.create(&PostParams::default(), &namespace).await.expect("the test namespace is created");
        if self.is_real() {
            let accounts: Api<ServiceAccount> = Api::namespaced(self.client(), &name);
            eventually("the namespace's default service account", || async {
                accounts.get_opt("default").await.ok().flatten()
            })
            .await;
        }
        name
    }

    /// Creates a CRD and waits until it is Established and its names accepted, as a client must on a real
    /// server before it uses the new resource.
    pub async fn create_crd(&self, crd: &CustomResourceDefinition) -> CustomResourceDefinition {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client());
        crds.create(&PostParams::default(), crd).await.expect("the CRD is created");
        let name = crd.metadata.name.clone().unwrap();
        self.wait_established(&name).await
    }

    /// Waits until the CRD `name` is Established with its names accepted, and returns it.
    pub async fn wait_established(&self, name: &str) -> CustomResourceDefinition {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client());
        eventually(&format!("CRD {name} Established"), || async {
            let crd = crds.get(name).await.ok()?;
            let conditions = crd.status.as_ref()?.conditions.as_ref()?;
            let is_true = |kind: &str| conditions.iter().any(|c| c.type_ == kind && c.status == "True");
            (is_true("Established") && is_true("NamesAccepted")).then_some(crd)
        })
        .await
    }
}

impl TestCluster {
    /// Applies every object of a manifest file or directory server-side (as `kubectl apply --server-side`
    /// would), CRDs first and waited for, namespaced objects into the namespace they name (`default` when
    /// they name none).
    pub async fn apply_file(&self, path: &Path) {
        let objects = operator_upgrade::manifest::load_objects(path).expect("the manifests load");
        let (crds, others): (Vec<_>, Vec<_>) =
            objects.into_iter().map(|o| o.value).partition(|o| o["kind"] == "CustomResourceDefinition");
        let params = PatchParams::apply("operator-upgrade-tests").force();
        let crd_api: Api<CustomResourceDefinition> = Api::all(self.client());
        for crd in &crds {
            let name = crd["metadata"]["name"].as_str().unwrap();
            crd_api.patch(name, &params, &Patch::Apply(crd)).await.expect("the CRD applies");
            self.wait_established(name).await;
        }
        let discovery = discover(self.client(), others.iter().map(|o| o["apiVersion"].as_str().unwrap_or(""))).await;
        for object in &others {
            let gvk = GroupVersionKind::try_from(&serde_json::from_value::<TypeMeta>(object.clone()).unwrap()).unwrap();
            let (resource, caps) = discovery.resolve_gvk(&gvk).expect("the kind is served");
            let name = object["metadata"]["name"].as_str().unwrap();
            let api: Api<DynamicObject> = match caps.scope {
                kube::discovery::Scope::Namespaced => {
                    let namespace = object["metadata"]["namespace"].as_str().unwrap_or("default");
                    Api::namespaced_with(self.client(), namespace, &resource)
                }
                kube::discovery::Scope::Cluster => Api::all_with(self.client(), &resource),
            };
            api.patch(name, &params, &Patch::Apply(object)).await.expect("the object applies");
        }
    }
}

fn random_suffix() -> String {
    // Unique across tests of one run and across runs against the same long-lived control plane.
    format!("{:08x}", fastrand::u32(..))
}

/// Polls `check` until it returns Some, for up to 60 seconds (the real server's controllers are slower
/// than the simulator's).
pub async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, check: impl FnMut() -> F) -> T {
    eventually_within(what, Duration::from_secs(60), check).await
}

/// [`eventually`] with a limit of its own: for what a real operator does at its own pace.
pub async fn eventually_within<T, F: Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Defines `mod NAME { sim, real }` (declare this module with `#[macro_use] mod common;`): the async test body `NAME(cluster)` run once against a fresh simulator
/// started with `scenario` (the default scenario when omitted) and once against the real control plane.
#[allow(unused_macros)] // Not every test crate has tests on both clusters.
macro_rules! on_both_clusters {
    ($name:ident) => {
        on_both_clusters!($name, operator_upgrade::sim::Scenario::default());
    };
    ($name:ident, $scenario:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sim() {
                super::$name(crate::common::TestCluster::sim($scenario).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn real() {
                if let Some(cluster) = crate::common::TestCluster::real(stringify!($name)).await {
                    super::$name(cluster).await;
                }
            }
        }
    };
}

/// Discovery of only the API groups of `api_versions`: a full discovery fails whenever another test on the
/// same control plane is deleting a CRD of some other group at that moment.
pub async fn discover<'a>(client: kube::Client, api_versions: impl Iterator<Item = &'a str>) -> kube::Discovery {
    let mut groups: Vec<&str> = api_versions.map(|v| v.rsplit_once('/').map_or("", |(group, _)| group)).collect();
    groups.sort_unstable();
    groups.dedup();
    kube::Discovery::new(client).filter(&groups).run().await.expect("discovery")
}

/// Over every test's simulator request log: the tool (known by its User-Agent) never deleted a CRD or a
/// custom resource. Tests themselves may; only the tool's requests are judged.
impl Drop for TestCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let Some(sim) = &self.sim else { return };
        let forbidden: Vec<_> = sim
            .requests()
            .into_iter()
            .filter(|r| r.user_agent == operator_upgrade::cluster::USER_AGENT)
            .filter(|r| matches!(r.verb.as_str(), "delete" | "deletecollection"))
            .filter(|r| r.custom || r.resource == "customresourcedefinitions.apiextensions.k8s.io")
            .collect();
        assert!(forbidden.is_empty(), "the tool deleted a CRD or a custom resource: {forbidden:?}");
    }
}

/// Runs the `operator-upgrade` binary with `args`, the cluster's kubeconfig and `env` (and never an inherited
/// crash point); returns its exit code and everything it printed.
pub async fn run_tool(cluster: &TestCluster, args: &[&str], env: &[(&str, String)]) -> (i32, String) {
    run_tool_as(cluster.kubeconfig_path(), args, env).await
}

/// [`run_tool`] with another kubeconfig than the cluster's own (another identity).
pub async fn run_tool_as(kubeconfig: &Path, args: &[&str], env: &[(&str, String)]) -> (i32, String) {
    let mut all: Vec<&str> = args.to_vec();
    let kubeconfig = kubeconfig.display().to_string();
    all.extend(["--kubeconfig", &kubeconfig]);
    run_binary(&all, env).await
}

/// Runs the `operator-upgrade` binary with exactly `args` and `env` (never an inherited crash point).
pub async fn run_binary(args: &[&str], env: &[(&str, String)]) -> (i32, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_operator-upgrade"))
            .args(&args)
            .env_remove("OPERATOR_UPGRADE_CRASH_AFTER_WRITE")
            .envs(env)
            .output()
            .expect("the tool runs")
    })
    .await
    .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

/// A test's own record of an object: everything but what the API server maintains (and the Deployment
/// controller's revision annotation).
pub fn comparable(mut object: serde_json::Value) -> serde_json::Value {
    if let Some(meta) = object["metadata"].as_object_mut() {
        for field in ["uid", "resourceVersion", "managedFields", "generation", "creationTimestamp"] {
            meta.remove(field);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(serde_json::Value::as_object_mut) {
            annotations.remove("deployment.kubernetes.io/revision");
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    object
}

/// A share `rate` of the requests with `verb` on `resource` (any when None) failing with `code`.
pub fn failing(verb: Option<&str>, resource: Option<&str>, code: u16, rate: f64) -> operator_upgrade::sim::ErrorRule {
    operator_upgrade::sim::ErrorRule {
        verb: verb.map(str::to_owned),
        resource: resource.map(str::to_owned),
        code,
        rate,
        retry_after_seconds: 0,
    }
}

/// The environment variable `controlplane/run.sh` and `.ci/run` set to the helm that
/// `controlplane/build-helm.sh` built.
pub const HELM_ENV: &str = "OPERATOR_UPGRADE_HELM";

/// The helm binary for the Helm tests, or None (with a visible skip message naming the script that builds
/// it) when none was given.
pub fn helm(test: &str) -> Option<PathBuf> {
    match std::env::var_os(HELM_ENV).map(PathBuf::from) {
        Some(path) if path.is_file() => Some(path),
        _ => {
            // Written past the test harness's capture so the skip is visible in a plain `cargo test`.
            let _ = writeln!(
                std::io::stderr(),
                "skipped {test}: no helm; run `controlplane/run.sh cargo test` (or set {HELM_ENV} to what `controlplane/build-helm.sh` prints)"
            );
            None
        }
    }
}
