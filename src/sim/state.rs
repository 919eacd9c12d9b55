//! The simulator's shared state: the store, the kinds it serves, faults, per-pod metrics and the
//! reconciler record.

use super::faults::Faults;
use super::reconcilers::Reconcilers;
use super::resources::{builtin_types, crd_types, GroupResource, ResourceType};
use super::scenario::DeniedPermission;
use super::store::Store;
use crate::manifest::Crd;
use crate::schema::validate::CrdAdmission;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

/// Counters a simulated pod exposes on its metrics endpoint: metric line (name with labels) -> value.
pub type PodMetrics = BTreeMap<String, f64>;

/// Everything the HTTP handlers and the simulated controllers share.
pub struct SimState {
    /// The objects.
    pub store: Store,
    /// Built-in kinds plus every served version of every CRD.
    types: RwLock<Vec<ResourceType>>,
    /// Injected faults.
    pub faults: Faults,
    /// Metrics per (namespace, pod name).
    pub metrics: Mutex<HashMap<(String, String), PodMetrics>>,
    /// Compiled validation per CRD name, with the CRD resourceVersion it was compiled from.
    admissions: Mutex<HashMap<String, (String, Arc<CrdAdmission>)>>,
    /// Permissions access reviews deny.
    pub denied: RwLock<Vec<DeniedPermission>>,
    /// Every resource request served, in order.
    pub requests: Mutex<Vec<RequestRecord>>,
    /// Which operator Deployment reconciled and owned which custom resource when.
    pub reconcilers: Reconcilers,
    /// The compaction a list's continue token was issued after: tokens of an earlier one are 410 Gone, as
    /// the API server's are once etcd compacted past the revision they carry.
    pub list_compaction: std::sync::atomic::AtomicU64,
}

/// One resource request the simulator served (or refused), for tests that check what a client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`).
    pub verb: String,
    /// `resource.group` (`widgets.demo.example`, `deployments.apps`, `pods`).
    pub resource: String,
    /// The namespace, if any.
    pub namespace: Option<String>,
    /// The object's name, if the request names one.
    pub name: Option<String>,
    /// Whether the resource is a custom resource (a CRD defines it).
    pub custom: bool,
    /// The client's User-Agent.
    pub user_agent: String,
}

impl SimState {
    /// A state with the built-in kinds and no objects.
    pub fn new(store: Store, faults: Faults) -> SimState {
        SimState {
            store,
            types: RwLock::new(builtin_types()),
            faults,
            metrics: Mutex::new(HashMap::new()),
            admissions: Mutex::new(HashMap::new()),
            denied: RwLock::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            reconcilers: Reconcilers::default(),
            list_compaction: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Every served resource type.
    pub fn types(&self) -> Vec<ResourceType> {
        self.types.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The type served at `group/version` under `resource`.
    pub fn find_type(&self, group: &str, version: &str, resource: &str) -> Option<ResourceType> {
        let types = self.types.read().unwrap_or_else(|p| p.into_inner());
        types.iter().find(|t| t.group == group && t.version == version && t.resource == resource).cloned()
    }

    /// The type of an object's `apiVersion` and `kind`.
    pub fn type_of_kind(&self, api_version: &str, kind: &str) -> Option<ResourceType> {
        let types = self.types.read().unwrap_or_else(|p| p.into_inner());
        types.iter().find(|t| t.api_version() == api_version && t.kind == kind).cloned()
    }

    /// Re-reads the CRDs in the store so their resources are served (or no longer served).
    pub fn refresh_crd_types(&self) {
        let (crds, _) = self.store.list(&GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions"), None);
        let mut types = builtin_types();
        for crd in crds.iter().filter(|c| c["metadata"].get("deletionTimestamp").is_none()) {
            types.extend(crd_types(crd));
        }
        *self.types.write().unwrap_or_else(|p| p.into_inner()) = types;
    }

    /// The validation of the stored CRD `crd`, compiled once per CRD resourceVersion (None when the CRD
    /// cannot be read as one, which the CRD rules would have refused).
    pub fn admission_for(&self, crd: &Value) -> Option<Arc<CrdAdmission>> {
        let name = crd["metadata"]["name"].as_str()?.to_owned();
        let version = crd["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_owned();
        let mut admissions = self.admissions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((compiled_at, admission)) = admissions.get(&name) {
            if *compiled_at == version {
                return Some(admission.clone());
            }
        }
        let admission = Arc::new(CrdAdmission::new(Crd::from_value(crd.clone()).ok()?));
        admissions.insert(name, (version, admission.clone()));
        Some(admission)
    }

    /// Adds to a pod's counter.
    pub fn add_metric(&self, namespace: &str, pod: &str, line: &str, delta: f64) {
        let mut metrics = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        *metrics.entry((namespace.to_owned(), pod.to_owned())).or_default().entry(line.to_owned()).or_default() +=
            delta;
    }

    /// A pod's metrics in the Prometheus text format, or None for a pod that exposes none.
    pub fn metrics_text(&self, namespace: &str, pod: &str) -> Option<String> {
        let metrics = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        let counters = metrics.get(&(namespace.to_owned(), pod.to_owned()))?;
        let mut text = String::new();
        let mut last_name = "";
        for (line, value) in counters {
            let name = line.split('{').next().unwrap_or(line);
            if name != last_name {
                text.push_str(&format!("# TYPE {name} counter\n"));
                last_name = name;
            }
            text.push_str(&format!("{line} {value}\n"));
        }
        Some(text)
    }
}
