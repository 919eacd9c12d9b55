//! A simulated Kubernetes API server: the test bed for every cluster feature and the demo's engine.
//!
//! It speaks enough of the REST protocol for `kube::Client` and a real `kubectl` (discovery, CRUD,
//! list/watch with resourceVersion, selectors, patch types, status and scale subresources, CRD rules),
//! simulates the controllers an operator upgrade touches (Deployments, ReplicaSets, Pods, Jobs and
//! scripted operators), and injects faults. It is a test and demo aid, never a replacement for a cluster.

mod api;
mod builtins;
pub(crate) mod controllers;
mod crds;
mod errors;
mod faults;
mod patch;
mod reconcilers;
mod resources;
mod scenario;
mod selectors;
mod state;
mod store;
mod table;
mod verbs;
mod watch;

pub use errors::ApiError;
pub use faults::{ErrorRule, FaultConfig, FaultSettings};
pub use reconcilers::{ObjectRef, ReconcileRecord, ReconcilerConflict, Reconcilers, CONFLICT_CAP, RECONCILE_LOG_CAP};
pub use scenario::{
    injectable_code, Churn, DeniedPermission, Dependents, ImageBehaviour, KindRef, LabelEvery, LeaderElection,
    ObjectMatch, ObjectTemplate, OperatorBehaviour, Population, Scenario, ScenarioError, ScenarioSource, ScopeSource,
    TemplateMetadata, MAX_LATENCY_MS, MAX_POPULATION_OBJECTS, MAX_TICK_MS,
};
pub use state::{RequestRecord, SimState};
pub(crate) use store::now_rfc3339;

use crate::manifest::{load_objects, KeyPath, LoadError};
use axum::extract::State;
use resources::GroupResource;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The error.
        source: std::io::Error,
    },
    /// A scenario manifest could not be read.
    #[error("{origin}: {error}")]
    Manifest {
        /// Where the scenario names the manifest (`scenario.yaml:4: manifests[0]`).
        origin: String,
        /// Why (in the message, not a source of the chain, so no cause is printed twice).
        error: Box<LoadError>,
    },
    /// A scenario object was rejected by the simulated API server.
    #[error("{origin}: {what}: {error}")]
    Rejected {
        /// Where the object comes from: the scenario's key (`scenario.yaml:7: populations[0]`), and for a
        /// manifest's object its document.
        origin: String,
        /// The object (`Widget widget-00`).
        what: String,
        /// Why.
        error: Box<ApiError>,
    },
    /// The kubeconfig could not be written or the client built.
    #[error("{0}")]
    Client(String),
}

/// The simulator's entry point.
pub struct Sim;

/// A running simulator. Dropping it stops the server and its controllers.
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<SimState>,
    tasks: Vec<JoinHandle<()>>,
    kubeconfig: tempfile::TempPath,
}

impl Sim {
    /// Starts a simulator on 127.0.0.1 with a free port (or `port`), loaded from the scenario.
    pub async fn start(scenario: Scenario) -> Result<SimHandle, SimError> {
        Sim::start_on(scenario, 0).await
    }

    /// Starts a simulator on 127.0.0.1:`port` (0 picks a free one).
    pub async fn start_on(scenario: Scenario, port: u16) -> Result<SimHandle, SimError> {
        let store = store::Store::new(scenario.watch_history.max(1));
        let state = Arc::new(SimState::new(store, faults::Faults::from_settings(scenario.faults.clone())));
        *state.denied.write().unwrap_or_else(|p| p.into_inner()) = scenario.denied_permissions.clone();
        seed_cluster(&state, &scenario)?;
        let addr = format!("127.0.0.1:{port}");
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|source| SimError::Bind { addr: addr.clone(), source })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind { addr, source })?;
        let router = axum::Router::new().fallback(serve).with_state(state.clone());
        let server = tokio::spawn(async move {
            // The server only ends when the handle aborts it.
            let _ = axum::serve(listener, router).await;
        });
        let controllers = tokio::spawn(controllers::run(state.clone(), Arc::new(scenario)));
        let kubeconfig = write_kubeconfig(addr)?;
        Ok(SimHandle { addr, state, tasks: vec![server, controllers], kubeconfig })
    }
}

async fn serve(
    State(state): State<Arc<SimState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    api::handle(state, method, uri, headers, body).await
}

impl SimHandle {
    /// The `apiVersion` an object is stored at (for custom resources: the storage version of the CRD when
    /// it was last written), as etcd would show it.
    pub fn stored_api_version(&self, group: &str, resource: &str, namespace: &str, name: &str) -> Option<String> {
        let object = self.state.store.get(&resources::GroupResource::new(group, resource), namespace, name)?;
        object["apiVersion"].as_str().map(str::to_owned)
    }

    /// Compacts the list history, as etcd does every few minutes: every continue token issued so far is
    /// 410 Gone from now on.
    pub fn compact_list_history(&self) {
        self.state.list_compaction.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Every resource request served so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the permissions access reviews deny.
    pub fn set_denied_permissions(&self, denied: Vec<DeniedPermission>) {
        *self.state.denied.write().unwrap_or_else(|p| p.into_inner()) = denied;
    }

    /// The address the API server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A `kube::Client` for the simulator (default namespace `default`).
    pub fn client(&self) -> kube::Client {
        client_for(&self.url()).expect("the simulator's own URL is valid")
    }

    /// A kubeconfig file pointing at the simulator (for kubectl); removed when the handle is dropped.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// Replaces the injected request faults (the `operatorsFail` switch is left as it is).
    pub fn set_faults(&self, config: FaultConfig) {
        self.state.faults.set(config);
    }

    /// Replaces every fault, `operatorsFail` included (as `PUT /sim/faults` does).
    pub fn set_fault_settings(&self, settings: FaultSettings) {
        self.state.faults.set_settings(settings);
    }

    /// Turns the cluster-wide failure of every operator's reconciles on or off (`operatorsFail`).
    pub fn set_operators_fail(&self, fail: bool) {
        self.state.faults.set_operators_fail(fail);
    }

    /// Every tick so far in which two operator Deployments owned the same custom resource (the first
    /// [`CONFLICT_CAP`]; see [`SimHandle::dropped_conflicts`] for the rest).
    pub fn reconciler_conflicts(&self) -> Vec<ReconcilerConflict> {
        self.state.reconcilers.conflicts()
    }

    /// How many conflicts were counted beyond [`CONFLICT_CAP`] and not kept.
    pub fn dropped_conflicts(&self) -> u64 {
        self.state.reconcilers.dropped_conflicts()
    }

    /// The reconciles the simulated operators did, oldest first (the newest [`RECONCILE_LOG_CAP`]).
    pub fn reconcile_log(&self) -> Vec<ReconcileRecord> {
        self.state.reconcilers.reconcile_log()
    }

    /// The operator Deployments owning the custom resource of `kind` at `namespace`/`name` now (sorted;
    /// empty when none does).
    pub fn owners_of(&self, kind: &str, namespace: &str, name: &str) -> Vec<String> {
        self.state.reconcilers.owners_of(kind, namespace, name)
    }

    /// The shared state, for tests that look behind the API.
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// Runs until Ctrl-C (for `operator-upgrade sim`).
    pub async fn wait_for_ctrl_c(&self) {
        // An error means no signal handler could be installed; then run until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A `kube::Client` for a plain-HTTP API server URL.
pub fn client_for(url: &str) -> Result<kube::Client, SimError> {
    let uri = url.parse().map_err(|e| SimError::Client(format!("{url}: {e}")))?;
    let mut config = kube::Config::new(uri);
    config.default_namespace = "default".to_owned();
    kube::Client::try_from(config).map_err(|e| SimError::Client(e.to_string()))
}

/// The kubeconfig text for a simulator at `addr`.
pub fn kubeconfig_text(addr: SocketAddr) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: operator-upgrade-sim\n  cluster:\n    server: http://{addr}\nusers:\n- name: operator-upgrade-sim\n  user:\n    token: sim\ncontexts:\n- name: operator-upgrade-sim\n  context:\n    cluster: operator-upgrade-sim\n    user: operator-upgrade-sim\n    namespace: default\ncurrent-context: operator-upgrade-sim\n"
    )
}

fn write_kubeconfig(addr: SocketAddr) -> Result<tempfile::TempPath, SimError> {
    let file = tempfile::Builder::new()
        .prefix("operator-upgrade-sim-")
        .suffix(".kubeconfig")
        .tempfile()
        .map_err(|e| SimError::Client(e.to_string()))?;
    std::fs::write(file.path(), kubeconfig_text(addr)).map_err(|e| SimError::Client(e.to_string()))?;
    Ok(file.into_temp_path())
}

/// Creates the namespaces every cluster has, the scenario's manifests and its populations. A rejected
/// object is named with where the scenario asks for it (file, line and key).
fn seed_cluster(state: &SimState, scenario: &Scenario) -> Result<(), SimError> {
    for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
        create(state, object, || "the cluster's own namespaces".to_owned())?;
    }
    let root = KeyPath::root();
    for (index, path) in scenario.manifests.iter().enumerate() {
        let origin = scenario.origin(&root.key("manifests").index(index));
        let path: PathBuf = if path.is_absolute() { path.clone() } else { scenario.base_dir.join(path) };
        let objects = load_objects(&path)
            .map_err(|error| SimError::Manifest { origin: origin.clone(), error: Box::new(error) })?;
        for object in objects {
            create(state, object.value, || format!("{origin}: {}", object.source))?;
        }
    }
    for (index, population) in scenario.populations.iter().enumerate() {
        let origin = || scenario.origin(&root.key("populations").index(index));
        let width = population.count.saturating_sub(1).to_string().len();
        let none = BTreeMap::new();
        for member in 0..population.count {
            let labels = match &population.label_every {
                Some(every) if every.n > 0 && member % every.n == 0 => &every.labels,
                _ => &none,
            };
            let name = format!("{}{member:0width$}", population.name_prefix);
            create(state, population.template.object(&name, labels), origin)?;
        }
    }
    Ok(())
}

/// Creates one object as the API would (namespace created on demand, CRDs admitted, custom resources
/// pruned and defaulted); `origin` says where it comes from when it is rejected.
fn create(state: &SimState, object: Value, origin: impl FnOnce() -> String) -> Result<(), SimError> {
    let what = format!(
        "{} {}",
        object["kind"].as_str().unwrap_or("object"),
        object["metadata"]["name"].as_str().unwrap_or("?")
    );
    admit_and_store(state, object).map_err(|error| SimError::Rejected {
        origin: origin(),
        what,
        error: Box::new(error),
    })
}

fn admit_and_store(state: &SimState, mut object: Value) -> Result<(), ApiError> {
    if !object["metadata"].is_object() {
        // A manifest's object with `metadata: 5`: refused as the API server refuses it, never indexed into.
        return Err(ApiError::bad_request("metadata must be a mapping"));
    }
    let api_version = object["apiVersion"].as_str().unwrap_or_default().to_owned();
    let kind = object["kind"].as_str().unwrap_or_default().to_owned();
    let resource_type = state
        .type_of_kind(&api_version, &kind)
        .ok_or_else(|| ApiError::not_found(format!("the kind {kind} in {api_version}")))?;
    if resource_type.namespaced {
        let namespace =
            object["metadata"]["namespace"].as_str().filter(|n| !n.is_empty()).unwrap_or("default").to_owned();
        object["metadata"]["namespace"] = json!(namespace);
        let namespaces = GroupResource::new("", "namespaces");
        if state.store.get(&namespaces, "", &namespace).is_none() {
            let namespace_object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
            state.store.create(&namespaces, namespace_object)?;
        }
    }
    let object = crds::admit(state, &resource_type, None, object, false)?;
    state.store.create(&resource_type.group_resource(), object)?;
    if resource_type.group_resource() == crds::crd_resource() {
        state.refresh_crd_types();
    }
    Ok(())
}
