//! The simulated controllers, run on a fixed tick: every namespace gets its `default` ServiceAccount and
//! root CA ConfigMap, Deployments roll out ReplicaSets, ReplicaSets keep their pods, a kubelet moves pods
//! through their phases, Jobs run one pod to completion, and operator pods reconcile the custom resources
//! in their scope. Users change specs as the scenario's `churn` says.
//!
//! Every read and write goes through the store, exactly like the HTTP handlers, so resourceVersion,
//! generation, garbage collection and watch events stay consistent. Controllers only write when
//! something changes, so an idle cluster produces no watch events. Time is the tick's elapsed time in
//! milliseconds; everything random comes from the scenario's seed.

mod churn;
mod deployments;
mod fnv;
mod jobs;
mod namespaces;
pub(crate) mod operators;
mod pods;
mod replicasets;
pub(crate) mod scope;

use super::errors::ApiError;
use super::resources::GroupResource;
use super::scenario::Scenario;
use super::state::SimState;
use super::store::now_rfc3339;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Runs every simulated controller until the task is aborted.
pub async fn run(state: Arc<SimState>, scenario: Arc<Scenario>) {
    let mut tick = tokio::time::interval(Duration::from_millis(scenario.tick_ms.max(1)));
    // A slow tick (a burst of 10,000 reconciles) must not be followed by a burst of catch-up ticks.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = tokio::time::Instant::now();
    let mut controllers = Controllers::new(state, scenario);
    loop {
        tick.tick().await;
        let now_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        controllers.tick(now_ms);
    }
}

/// What every controller needs during one tick.
struct Env<'a> {
    state: &'a SimState,
    scenario: &'a Scenario,
    rng: &'a mut fastrand::Rng,
    /// Simulated milliseconds since the controllers started.
    now_ms: u64,
    /// The wall-clock time written into timestamps.
    now: String,
}

/// All controllers with their in-memory state (what a real controller would keep in its process).
struct Controllers {
    state: Arc<SimState>,
    scenario: Arc<Scenario>,
    rng: fastrand::Rng,
    deployments: deployments::DeploymentController,
    kubelet: pods::Kubelet,
    operators: operators::Operators,
    churn: churn::UserChurn,
}

impl Controllers {
    fn new(state: Arc<SimState>, scenario: Arc<Scenario>) -> Controllers {
        let rng = fastrand::Rng::with_seed(scenario.seed);
        let churn = churn::UserChurn::new(&scenario);
        Controllers {
            state,
            scenario,
            rng,
            deployments: deployments::DeploymentController::default(),
            kubelet: pods::Kubelet::default(),
            operators: operators::Operators::default(),
            churn,
        }
    }

    /// One pass of every controller, in the order changes flow (users first, owners before what they
    /// own), so a change usually propagates in a single tick.
    fn tick(&mut self, now_ms: u64) {
        let mut env =
            Env { state: &self.state, scenario: &self.scenario, rng: &mut self.rng, now_ms, now: now_rfc3339() };
        self.churn.sync(&env);
        namespaces::sync(&mut env);
        self.deployments.sync(&mut env);
        replicasets::sync(&mut env);
        jobs::sync(&mut env);
        self.kubelet.sync(&mut env);
        self.operators.sync(&mut env);
    }
}

/// Storage keys of the built-in kinds the controllers manage.
fn deployments_resource() -> GroupResource {
    GroupResource::new("apps", "deployments")
}

fn replicasets_resource() -> GroupResource {
    GroupResource::new("apps", "replicasets")
}

fn pods_resource() -> GroupResource {
    GroupResource::new("", "pods")
}

fn jobs_resource() -> GroupResource {
    GroupResource::new("batch", "jobs")
}

fn events_resource() -> GroupResource {
    GroupResource::new("", "events")
}

fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object["metadata"][field].as_str().unwrap_or_default()
}

fn name_of(object: &Value) -> &str {
    meta_str(object, "name")
}

fn namespace_of(object: &Value) -> &str {
    meta_str(object, "namespace")
}

fn uid_of(object: &Value) -> &str {
    meta_str(object, "uid")
}

fn generation_of(object: &Value) -> i64 {
    object["metadata"]["generation"].as_i64().unwrap_or(1)
}

/// Objects with finalizers pending are being deleted: controllers leave them alone and do not count them.
fn is_deleting(object: &Value) -> bool {
    object["metadata"].get("deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// The owner reference with `controller: true`, if any.
fn controller_ref(object: &Value) -> Option<&Value> {
    object["metadata"]["ownerReferences"].as_array()?.iter().find(|o| o["controller"].as_bool() == Some(true))
}

/// The uid of the object's controlling owner.
fn controller_uid(object: &Value) -> Option<&str> {
    controller_ref(object).and_then(|o| o["uid"].as_str())
}

/// An owner reference making `owner` the controller of the object it is put on (so deleting the owner
/// garbage-collects it).
fn owner_reference(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The object at `path` (created where absent or null); None when something else is in the way (a write
/// there through serde_json's `IndexMut` would panic instead).
fn object_at<'a>(value: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut node = value;
    for key in path {
        let child = node.as_object_mut()?.entry((*key).to_owned()).or_insert(Value::Null);
        if child.is_null() {
            *child = json!({});
        }
        node = child;
    }
    node.as_object_mut()
}

/// Refuses a write to an object that was deleted and recreated under the same name since it was read.
fn same_object(current: &Value, uid: &str) -> Result<(), ApiError> {
    if uid_of(current) == uid {
        Ok(())
    } else {
        Err(ApiError::conflict(format!("{} was recreated", name_of(current))))
    }
}

/// Replaces the status of `object` unless it already is `status`, so an unchanged object is not written
/// (no resourceVersion bump, no watch event). Failures are left for the next tick to retry.
fn write_status(env: &Env<'_>, resource: &GroupResource, object: &Value, status: Value) {
    if object.get("status") == Some(&status) {
        return;
    }
    let uid = uid_of(object).to_owned();
    // Not found or recreated: the next tick sees the new state and computes again.
    let _ = env.state.store.modify(resource, namespace_of(object), name_of(object), |current| {
        same_object(current, &uid)?;
        if let Some(map) = current.as_object_mut() {
            map.insert("status".to_owned(), status);
        }
        Ok(())
    });
}

/// A condition of `kind` in a status's `conditions`.
fn find_condition<'a>(conditions: &'a Value, kind: &str) -> Option<&'a Value> {
    conditions.as_array()?.iter().find(|c| c["type"].as_str() == Some(kind))
}

/// Whether a condition is present with status "True".
fn condition_is_true(conditions: &Value, kind: &str) -> bool {
    find_condition(conditions, kind).is_some_and(|c| c["status"].as_str() == Some("True"))
}

/// What a controller wants a condition to say.
struct Condition<'a> {
    kind: &'a str,
    status: bool,
    reason: &'a str,
    message: String,
}

/// The condition to write: the previous one untouched when it already says the same (timestamps are
/// what would otherwise make every tick a write), else a new one whose `lastTransitionTime` only moves
/// when the status flips. `with_update_time` adds `lastUpdateTime`, as Deployment conditions have.
fn merged_condition(previous: Option<&Value>, wanted: &Condition<'_>, now: &str, with_update_time: bool) -> Value {
    let status = if wanted.status { "True" } else { "False" };
    let text = |condition: &Value, key: &str| condition[key].as_str().unwrap_or_default().to_owned();
    if let Some(previous) = previous {
        let same = previous["status"].as_str() == Some(status)
            && text(previous, "reason") == wanted.reason
            && text(previous, "message") == wanted.message;
        if same {
            return previous.clone();
        }
    }
    let transition = previous
        .filter(|p| p["status"].as_str() == Some(status))
        .and_then(|p| p.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now));
    let mut condition = Map::new();
    condition.insert("type".to_owned(), json!(wanted.kind));
    condition.insert("status".to_owned(), json!(status));
    // The API server leaves empty reasons and messages out (omitempty); so does this.
    if !wanted.reason.is_empty() {
        condition.insert("reason".to_owned(), json!(wanted.reason));
    }
    if !wanted.message.is_empty() {
        condition.insert("message".to_owned(), json!(wanted.message));
    }
    condition.insert("lastTransitionTime".to_owned(), transition);
    if with_update_time {
        condition.insert("lastUpdateTime".to_owned(), json!(now));
    }
    Value::Object(condition)
}

/// The conditions to write, one per wanted kind in that order, each merged with the previous one.
fn merged_conditions(previous: &Value, wanted: &[Condition<'_>], now: &str, with_update_time: bool) -> Value {
    Value::Array(
        wanted.iter().map(|w| merged_condition(find_condition(previous, w.kind), w, now, with_update_time)).collect(),
    )
}

/// The characters Kubernetes uses for generated name suffixes: no vowels, so no words by accident.
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A random suffix for generated names, drawn from the seeded generator.
fn random_suffix(rng: &mut fastrand::Rng, length: usize) -> String {
    (0..length).map(|_| char::from(NAME_ALPHABET[rng.usize(..NAME_ALPHABET.len())])).collect()
}

/// Puts `value` into the object's `metadata.annotations[key]`.
fn set_annotation(object: &mut Value, key: &str, value: &str) {
    if let Some(annotations) = object_at(object, &["metadata", "annotations"]) {
        annotations.insert(key.to_owned(), json!(value));
    }
}

/// Whether a pod is Ready (its Ready condition is True).
fn pod_is_ready(pod: &Value) -> bool {
    condition_is_true(&pod["status"]["conditions"], "Ready")
}

/// Whether a pod has finished (Succeeded or Failed): it no longer counts as a replica.
fn pod_is_terminal(pod: &Value) -> bool {
    matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
}

#[cfg(test)]
mod tests;
