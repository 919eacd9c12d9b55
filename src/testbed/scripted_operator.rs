//! A scenario's scripted operator as a real controller (kube-runtime), for any API server: the node agent
//! runs one for each Running pod whose image the scenario describes as an operator, with that pod's env and
//! args, and stops it with the pod. It reconciles the objects of its kinds within its scope (read from the
//! container as the simulator reads it), failing where the scenario says (the same decision as the
//! simulator's, [`scripted_outcome`]), and writes `status.observedGeneration`, a `Ready` condition and
//! `status.reconciledBy`, with a Warning event for each failure.
//!
//! An image whose behaviour has `leaderElection` starts its controllers only once its pod holds the Lease
//! the container names ([`super::leader_election`]), and stops them when it loses it; a stopped operator
//! (its pod terminated) releases the Lease, so the next pod takes over at once.
//!
//! Not here (yet): the metrics the simulator serves through the pod proxy (the API server proxies only to
//! global unicast pod IPs, and the node agent gives pods loopback addresses), dependents and crash loops.

use super::leader_election::{lease_name, Candidate};
use crate::sim::controllers::operators::scripted_outcome;
use crate::sim::controllers::scope::{FailRule, Scope};
use crate::sim::{now_rfc3339, KindRef, OperatorBehaviour};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject};
use kube::discovery::Discovery;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Why a scripted operator cannot start (a real one would exit at start-up).
#[derive(Debug, thiserror::Error)]
pub enum ScriptedOperatorError {
    /// Its scope does not parse.
    #[error("the operator's scope cannot be read: {0}")]
    Scope(String),
    /// The API server does not serve a kind it reconciles.
    #[error("the API server serves no {kind} in group {group}")]
    KindNotServed {
        /// The group.
        group: String,
        /// The kind.
        kind: String,
    },
    /// An API call failed.
    #[error(transparent)]
    Api(#[from] kube::Error),
}

/// One operator container: who it is and what it does.
struct Operator {
    client: Client,
    pod_name: String,
    image: String,
    behaviour: OperatorBehaviour,
    scope: Scope,
    fail_rules: Vec<FailRule>,
    seed: u64,
    /// The served resource of each kind it reconciles.
    resources: HashMap<String, ApiResource>,
    /// The (uid, generation) of every object this process reconciled successfully.
    reconciled: Mutex<HashSet<(String, i64)>>,
    /// Failed attempts per object (uid, generation), so a retry draws anew.
    attempts: Mutex<HashMap<(String, i64), u32>>,
}

/// Runs the operator of `container` (a container of `pod`, both as JSON) until `stop` turns true (its pod
/// was told to stop: it releases its Lease and returns) or it loses its Lease.
pub async fn run(
    client: Client,
    pod: Value,
    container: Value,
    behaviour: OperatorBehaviour,
    seed: u64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ScriptedOperatorError> {
    let scope = Scope::of_container(&pod, &container, &behaviour.scope).map_err(ScriptedOperatorError::Scope)?;
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    let pod_namespace = pod["metadata"]["namespace"].as_str().unwrap_or("default").to_owned();
    let candidate = lease_name(&pod, &container, &behaviour)
        .map(|lease| Candidate::new(client.clone(), &pod_namespace, &lease, &pod_name));
    let stopped = async move {
        // A dropped sender (the agent is gone) stops the operator as well.
        let _ = stop.wait_for(|stop| *stop).await;
    };
    tokio::pin!(stopped);
    if let Some(candidate) = &candidate {
        tokio::select! {
            () = candidate.acquire() => tracing::info!(pod = pod_name, lease = candidate.lease(), "leading"),
            () = &mut stopped => return Ok(()),
        }
    }
    let leading = async {
        match &candidate {
            Some(candidate) => candidate.keep_renewing().await,
            None => futures::future::pending().await,
        }
    };
    let result = tokio::select! {
        result = reconcile_all(client, pod, container, behaviour, scope, seed) => result,
        () = leading => {
            tracing::warn!(pod = pod_name, "lost the lease: the controllers stop");
            Ok(())
        }
        () = &mut stopped => Ok(()),
    };
    if let Some(candidate) = &candidate {
        candidate.release().await;
    }
    result
}

/// Starts a controller for every kind the operator reconciles and runs them.
async fn reconcile_all(
    client: Client,
    pod: Value,
    container: Value,
    behaviour: OperatorBehaviour,
    scope: Scope,
    seed: u64,
) -> Result<(), ScriptedOperatorError> {
    let mut resources = HashMap::new();
    for kind in &behaviour.reconciles {
        resources.insert(kind.kind.clone(), served_resource(&client, kind).await?);
    }
    let operator = Arc::new(Operator {
        client: client.clone(),
        pod_name: pod["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
        image: container["image"].as_str().unwrap_or_default().to_owned(),
        fail_rules: behaviour.fail_on.iter().map(FailRule::compile).collect(),
        behaviour,
        scope,
        seed,
        resources,
        reconciled: Mutex::new(HashSet::new()),
        attempts: Mutex::new(HashMap::new()),
    });
    let controllers = operator.resources.values().map(|resource| reconcile_kind(operator.clone(), resource.clone()));
    futures::future::join_all(controllers).await;
    Ok(())
}

async fn served_resource(client: &Client, wanted: &KindRef) -> Result<ApiResource, ScriptedOperatorError> {
    let (group, kind) = (wanted.group.as_str(), wanted.kind.as_str());
    let discovery = Discovery::new(client.clone()).filter(&[group]).run().await?;
    let found = discovery
        .groups()
        .flat_map(|g| match &wanted.version {
            Some(version) => g.versioned_resources(version),
            None => g.recommended_resources(),
        })
        .find(|(r, _)| r.kind == kind);
    found
        .map(|(resource, _)| resource)
        .ok_or_else(|| ScriptedOperatorError::KindNotServed { group: group.to_owned(), kind: kind.to_owned() })
}

async fn reconcile_kind(operator: Arc<Operator>, resource: ApiResource) {
    let api: Api<DynamicObject> = Api::all_with(operator.client.clone(), &resource);
    Controller::new_with(api, watcher::Config::default(), resource)
        .run(reconcile, error_policy, operator)
        .for_each(|_| async {})
        .await;
}

/// What a failed API call does to the controller: try the object again shortly.
fn error_policy(_object: Arc<DynamicObject>, _error: &kube::Error, _operator: Arc<Operator>) -> Action {
    Action::requeue(Duration::from_secs(1))
}

async fn reconcile(object: Arc<DynamicObject>, operator: Arc<Operator>) -> Result<Action, kube::Error> {
    let value = serde_json::to_value(object.as_ref()).map_err(kube::Error::SerdeError)?;
    if !operator.scope.contains(&value) || operator.already_reconciled(&value) {
        return Ok(Action::await_change());
    }
    let latency = Duration::from_millis(operator.behaviour.reconcile_latency_ms);
    tokio::time::sleep(latency).await;
    let key = (object.uid().unwrap_or_default(), generation(&value));
    let attempt = *operator.attempts.lock().unwrap_or_else(|p| p.into_inner()).get(&key).unwrap_or(&0);
    let outcome =
        scripted_outcome(&operator.fail_rules, &operator.behaviour, operator.seed, &operator.image, &value, attempt);
    operator.write_status(&object, &outcome).await?;
    match outcome {
        Ok(()) => {
            operator.reconciled.lock().unwrap_or_else(|p| p.into_inner()).insert(key);
            Ok(Action::await_change())
        }
        Err(message) => {
            *operator.attempts.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_default() += 1;
            operator.record_failure(&object, &message).await?;
            Ok(Action::requeue(latency.max(Duration::from_millis(500))))
        }
    }
}

impl Operator {
    /// Nothing to do, by the simulator's rule: this process already reconciled the object's generation
    /// successfully and its status still shows that generation as reconciled (whoever wrote it last).
    fn already_reconciled(&self, object: &Value) -> bool {
        let key = (object["metadata"]["uid"].as_str().unwrap_or_default().to_owned(), generation(object));
        self.reconciled.lock().unwrap_or_else(|p| p.into_inner()).contains(&key)
            && object["status"]["observedGeneration"].as_i64() == Some(key.1)
    }

    async fn write_status(&self, object: &DynamicObject, outcome: &Result<(), String>) -> Result<(), kube::Error> {
        let (status, reason, message) = match outcome {
            Ok(()) => ("True", "Reconciled", "reconciled successfully"),
            Err(message) => ("False", "ReconcileError", message.as_str()),
        };
        let now = now_rfc3339();
        let patch = json!({"status": {
            "observedGeneration": object.metadata.generation,
            "reconciledBy": self.pod_name,
            "conditions": [{"type": "Ready", "status": status, "reason": reason, "message": message, "lastTransitionTime": now}]}});
        let Some(api) = self.api_for(object) else { return Ok(()) };
        api.patch_status(&object.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ())
    }

    async fn record_failure(&self, object: &DynamicObject, message: &str) -> Result<(), kube::Error> {
        let namespace = object.namespace().unwrap_or_else(|| "default".to_owned());
        let controller = self.behaviour.controller.clone().unwrap_or_else(|| "scripted-operator".to_owned());
        let now = now_rfc3339();
        let types = object.types.clone().unwrap_or_default();
        let event: Event = serde_json::from_value(json!({
            "metadata": {"generateName": format!("{}.", object.name_any()), "namespace": namespace},
            "involvedObject": {"apiVersion": types.api_version, "kind": types.kind, "name": object.name_any(),
                "namespace": object.namespace(), "uid": object.uid()},
            "type": "Warning", "reason": "ReconcileError", "message": message, "count": 1,
            "firstTimestamp": now, "lastTimestamp": now, "source": {"component": controller},
            "reportingComponent": controller, "reportingInstance": self.pod_name}))
        .map_err(kube::Error::SerdeError)?;
        let events: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        events.create(&PostParams::default(), &event).await.map(|_| ())
    }

    fn api_for(&self, object: &DynamicObject) -> Option<Api<DynamicObject>> {
        let kind = object.types.as_ref().map(|t| t.kind.as_str()).unwrap_or_default();
        let resource = self.resources.get(kind)?;
        Some(match object.namespace() {
            Some(namespace) => Api::namespaced_with(self.client.clone(), &namespace, resource),
            None => Api::all_with(self.client.clone(), resource),
        })
    }
}

fn generation(object: &Value) -> i64 {
    object["metadata"]["generation"].as_i64().unwrap_or(1)
}
