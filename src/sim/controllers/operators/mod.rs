//! Scripted operators: every Running and Ready pod whose container image the scenario describes as an
//! operator reconciles the objects of its kinds within its scope (read from the container's env and
//! args), writing `status.observedGeneration`, a `Ready` condition and `status.reconciledBy`, counting
//! `controller_runtime_reconcile_total` / `..._errors_total` in the pod's metrics, and recording Warning
//! events for failures.
//!
//! Leader election is not simulated: each Ready operator pod reconciles on its own, so two pods whose
//! scopes overlap both reconcile the same objects (and `reconciledBy` shows the last one). That is the
//! failure a canary rollout must avoid by rescoping, and the simulator keeps it visible on purpose.
//!
//! A worker reconciles an object when it has not yet reconciled the object's current generation itself
//! (a new pod reconciles everything in scope, as a real controller does after its initial list), or the
//! object's status does not show the generation as reconciled; and only `reconcileLatencyMs` after it
//! last saw the object change. Failed reconciles are retried every `reconcileLatencyMs`. Each worker
//! keeps the last listed objects: an unchanged list (same objects, pointer for pointer) with nothing due
//! costs one comparison per object per tick, so 10,000 objects stay cheap.

use super::fnv::Fnv1a;
use super::pods::is_running_and_ready;
use super::scope::{FailRule, Scope};
use super::{
    events_resource, find_condition, generation_of, is_deleting, merged_condition, name_of, namespace_of, object_at,
    pods_resource, same_object, uid_of, Condition, Env,
};
use crate::sim::errors::ApiError;
use crate::sim::resources::{GroupResource, ResourceType};
use crate::sim::scenario::OperatorBehaviour;
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// (pod namespace, pod name, container index): sorted, so workers run in a reproducible order.
type WorkerKey = (String, String, usize);

/// Every operator container running in the cluster, with what each remembers.
#[derive(Default)]
pub(super) struct Operators {
    workers: BTreeMap<WorkerKey, Worker>,
}

/// One operator container: its configuration and its memory of the objects it watches.
struct Worker {
    /// A pod recreated under the same name is a new process with an empty memory.
    pod_uid: String,
    image: String,
    behaviour: OperatorBehaviour,
    /// None when the scope could not be read: such an operator reconciles nothing (a real one would
    /// exit at start-up).
    scope: Option<Scope>,
    fail_rules: Vec<FailRule>,
    kinds: HashMap<GroupResource, KindTracker>,
}

/// What a worker knows of the objects of one kind.
#[derive(Default)]
struct KindTracker {
    /// The objects as last listed, in the store's (namespace, name) order.
    known: Vec<Known>,
    /// The earliest time an object is due for a reconcile.
    next_due_ms: Option<u64>,
    /// The store's resourceVersion when the objects were last listed.
    listed_at_version: Option<u64>,
    /// Objects examined one by one in the last tick.
    #[cfg(test)]
    examined: usize,
}

struct Known {
    object: Arc<Value>,
    /// None when the object is outside the worker's scope.
    watch: Option<Watched>,
}

/// A worker's memory of one object in its scope.
struct Watched {
    uid: String,
    /// When the worker last saw the object change.
    changed_at_ms: u64,
    /// The generation this worker last reconciled successfully.
    done_generation: Option<i64>,
    /// Reconciles of this object so far: part of the seeded error draw, so a retry can succeed.
    attempts: u32,
    last_attempt_ms: Option<u64>,
    /// The Warning event of this object, whose count grows on repeated failures.
    event_name: Option<String>,
    due_ms: Option<u64>,
}

/// What one reconcile needs to know about the worker and the kind.
struct Reconciler<'a> {
    pod_namespace: &'a str,
    pod_name: &'a str,
    image: &'a str,
    behaviour: &'a OperatorBehaviour,
    scope: &'a Scope,
    fail_rules: &'a [FailRule],
    resource: GroupResource,
    /// The `controller` label of the metrics.
    controller: String,
}

impl Operators {
    /// Starts workers for new Ready operator pods, forgets stopped ones, and lets each reconcile.
    pub(super) fn sync(&mut self, env: &mut Env<'_>) {
        let (pods, _) = env.state.store.list(&pods_resource(), None);
        let mut live = HashSet::new();
        for pod in pods.iter().filter(|p| !is_deleting(p) && is_running_and_ready(p)) {
            let containers = pod["spec"]["containers"].as_array().map_or(&[][..], Vec::as_slice);
            for (index, container) in containers.iter().enumerate() {
                let image = container["image"].as_str().unwrap_or_default();
                let Some(behaviour) = env.scenario.image(image).and_then(|i| i.operator.as_ref()) else { continue };
                let key = (namespace_of(pod).to_owned(), name_of(pod).to_owned(), index);
                if self.workers.get(&key).is_none_or(|w| w.pod_uid != uid_of(pod)) {
                    let worker = Worker::start(env, pod, container, image, behaviour);
                    self.workers.insert(key.clone(), worker);
                }
                live.insert(key);
            }
        }
        // A pod that stopped being Ready lost its process, and with it its memory.
        self.workers.retain(|key, _| live.contains(key));
        if self.workers.is_empty() {
            return;
        }
        let types = env.state.types();
        for ((pod_namespace, pod_name, _), worker) in &mut self.workers {
            worker.sync(env, pod_namespace, pod_name, &types);
        }
    }
}

#[cfg(test)]
impl Operators {
    /// Objects the workers examined one by one in the last tick (the fast path examines none).
    pub(super) fn examined_last_tick(&self) -> usize {
        self.workers.values().flat_map(|w| w.kinds.values()).map(|k| k.examined).sum()
    }
}

impl Worker {
    fn start(env: &Env<'_>, pod: &Value, container: &Value, image: &str, behaviour: &OperatorBehaviour) -> Worker {
        let worker = Worker {
            pod_uid: uid_of(pod).to_owned(),
            image: image.to_owned(),
            behaviour: behaviour.clone(),
            scope: Scope::of_container(pod, container, &behaviour.scope).ok(),
            fail_rules: behaviour.fail_on.iter().map(FailRule::compile).collect(),
            kinds: HashMap::new(),
        };
        // controller-runtime registers its counters at zero on start, so a scrape before the first
        // reconcile already sees them.
        for kind in &behaviour.reconciles {
            let controller = controller_name(behaviour, &kind.kind);
            for line in metric_lines(&controller) {
                env.state.add_metric(namespace_of(pod), name_of(pod), &line, 0.0);
            }
        }
        worker
    }

    fn sync(&mut self, env: &mut Env<'_>, pod_namespace: &str, pod_name: &str, types: &[ResourceType]) {
        let Some(scope) = &self.scope else { return };
        for kind in &self.behaviour.reconciles {
            // The CRD may not be installed (yet): nothing to reconcile.
            let Some(resource) = types.iter().find(|t| t.group == kind.group && t.kind == kind.kind) else { continue };
            let reconciler = Reconciler {
                pod_namespace,
                pod_name,
                image: &self.image,
                behaviour: &self.behaviour,
                scope,
                fail_rules: &self.fail_rules,
                resource: resource.group_resource(),
                controller: controller_name(&self.behaviour, &kind.kind),
            };
            let tracker = self.kinds.entry(reconciler.resource.clone()).or_default();
            tracker.sync(env, &reconciler, scope.single_namespace());
        }
    }
}

/// `behaviour.controller`, or the kind in lower case as controller-runtime names controllers.
fn controller_name(behaviour: &OperatorBehaviour, kind: &str) -> String {
    behaviour.controller.clone().unwrap_or_else(|| kind.to_lowercase())
}

/// The metric lines of one controller: successes, failures, and the errors counter.
fn metric_lines(controller: &str) -> [String; 3] {
    [
        format!("controller_runtime_reconcile_total{{controller=\"{controller}\",result=\"success\"}}"),
        format!("controller_runtime_reconcile_total{{controller=\"{controller}\",result=\"error\"}}"),
        format!("controller_runtime_reconcile_errors_total{{controller=\"{controller}\"}}"),
    ]
}

impl KindTracker {
    fn sync(&mut self, env: &mut Env<'_>, reconciler: &Reconciler<'_>, namespace: Option<&str>) {
        let nothing_due = self.next_due_ms.is_none_or(|due| due > env.now_ms);
        // Nothing at all was written since the last list: not even a list is needed.
        if nothing_due && self.listed_at_version == Some(env.state.store.resource_version()) {
            self.note_examined(0);
            return;
        }
        let (listed, version) = env.state.store.list(&reconciler.resource, namespace);
        self.listed_at_version = Some(version);
        if nothing_due && self.is_unchanged(&listed) {
            self.note_examined(0);
            return;
        }
        self.note_examined(listed.len());
        self.merge(listed, reconciler, env.now_ms);
        self.reconcile_due(env, reconciler);
        self.next_due_ms = self.known.iter().filter_map(|k| k.watch.as_ref()?.due_ms).min();
    }

    /// Counts the objects this tick examined one by one, for the scaling test; a no-op outside tests.
    fn note_examined(&mut self, _count: usize) {
        #[cfg(test)]
        {
            self.examined = _count;
        }
    }

    /// Whether the store still holds exactly the objects last listed (the store replaces an object's
    /// `Arc` on every write, so pointer equality means unchanged).
    fn is_unchanged(&self, listed: &[Arc<Value>]) -> bool {
        self.known.len() == listed.len() && self.known.iter().zip(listed).all(|(k, l)| Arc::ptr_eq(&k.object, l))
    }

    /// Walks the new list and the known one side by side (both sorted by namespace and name): unchanged
    /// objects keep what the worker knew, changed and new ones are looked at again, vanished ones are
    /// forgotten.
    fn merge(&mut self, listed: Vec<Arc<Value>>, reconciler: &Reconciler<'_>, now_ms: u64) {
        let mut previous = std::mem::take(&mut self.known).into_iter().peekable();
        let mut known = Vec::with_capacity(listed.len());
        for object in listed {
            let mut carried = None;
            while let Some(candidate) = previous.peek() {
                if Arc::ptr_eq(&candidate.object, &object) {
                    carried = previous.next().map(|k| (k, true));
                    break;
                }
                match sort_key(&candidate.object).cmp(&sort_key(&object)) {
                    Ordering::Less => drop(previous.next()),
                    Ordering::Equal => {
                        carried = previous.next().map(|k| (k, false));
                        break;
                    }
                    Ordering::Greater => break,
                }
            }
            known.push(match carried {
                Some((unchanged, true)) => unchanged,
                Some((changed, false)) => Known::seen(object, changed.watch, reconciler, now_ms),
                None => Known::seen(object, None, reconciler, now_ms),
            });
        }
        self.known = known;
    }

    fn reconcile_due(&mut self, env: &mut Env<'_>, reconciler: &Reconciler<'_>) {
        for known in &mut self.known {
            let Some(watched) = known.watch.as_mut() else { continue };
            if watched.due_ms.is_some_and(|due| due <= env.now_ms) {
                if let Some(adopted) = watched.reconcile(env, reconciler, &known.object) {
                    known.object = adopted;
                }
            }
        }
    }
}

fn sort_key(object: &Value) -> (&str, &str) {
    (namespace_of(object), name_of(object))
}

impl Known {
    /// A new or changed object: whether it is in scope, and when it is due.
    fn seen(object: Arc<Value>, previous: Option<Watched>, reconciler: &Reconciler<'_>, now_ms: u64) -> Known {
        if !reconciler.scope.contains(&object) {
            return Known { object, watch: None };
        }
        let uid = uid_of(&object);
        let mut watched = previous.filter(|w| w.uid == uid).unwrap_or_else(|| Watched::new(uid));
        watched.changed_at_ms = now_ms;
        watched.due_ms = watched.due(&object, reconciler.behaviour.reconcile_latency_ms);
        Known { object, watch: Some(watched) }
    }
}

impl Watched {
    fn new(uid: &str) -> Watched {
        Watched {
            uid: uid.to_owned(),
            changed_at_ms: 0,
            done_generation: None,
            attempts: 0,
            last_attempt_ms: None,
            event_name: None,
            due_ms: None,
        }
    }

    /// When the object should be reconciled next, None when it needs nothing.
    fn due(&self, object: &Value, latency_ms: u64) -> Option<u64> {
        if self.is_reconciled(object) {
            return None;
        }
        let since = self.changed_at_ms.max(self.last_attempt_ms.unwrap_or(0));
        Some(since.saturating_add(latency_ms))
    }

    /// This worker reconciled the current generation, and the status says so.
    fn is_reconciled(&self, object: &Value) -> bool {
        let generation = generation_of(object);
        let status = &object["status"];
        self.done_generation == Some(generation)
            && status["observedGeneration"].as_i64() == Some(generation)
            && find_condition(&status["conditions"], "Ready").is_some()
    }

    /// Reconciles the object; returns the written object when only this write changed it since it was
    /// listed, so the next list does not mistake the worker's own write for someone else's change.
    fn reconcile(&mut self, env: &mut Env<'_>, reconciler: &Reconciler<'_>, object: &Value) -> Option<Arc<Value>> {
        let generation = generation_of(object);
        self.attempts = self.attempts.saturating_add(1);
        self.last_attempt_ms = Some(env.now_ms);
        let outcome = reconciler.decide(env.scenario.seed, object, self.attempts);
        let written = write_outcome(env, reconciler, object, generation, &outcome);
        let [success, error, errors] = metric_lines(&reconciler.controller);
        match &outcome {
            Ok(()) => {
                env.state.add_metric(reconciler.pod_namespace, reconciler.pod_name, &success, 1.0);
                if written.is_some() {
                    self.done_generation = Some(generation);
                }
            }
            Err(message) => {
                env.state.add_metric(reconciler.pod_namespace, reconciler.pod_name, &error, 1.0);
                env.state.add_metric(reconciler.pod_namespace, reconciler.pod_name, &errors, 1.0);
                if written.is_some() {
                    self.record_warning(env, reconciler, object, message);
                }
            }
        }
        let current = written.as_ref().map_or(object, |w| w.object.as_ref());
        self.due_ms = self.due(current, reconciler.behaviour.reconcile_latency_ms);
        written.filter(|w| w.only_ours).map(|w| w.object)
    }

    /// Records the failure as a Warning event on the object, counting repeats on one event as the
    /// API server's event correlator does.
    fn record_warning(&mut self, env: &mut Env<'_>, reconciler: &Reconciler<'_>, object: &Value, message: &str) {
        let namespace = event_namespace(object);
        if let Some(name) = &self.event_name {
            let bumped = env.state.store.modify(&events_resource(), namespace, name, |event| {
                let count = event["count"].as_u64().unwrap_or(1);
                let map = event.as_object_mut().ok_or_else(|| ApiError::invalid("an event must be an object"))?;
                map.insert("count".to_owned(), json!(count + 1));
                map.insert("lastTimestamp".to_owned(), json!(env.now));
                map.insert("message".to_owned(), json!(message));
                Ok(())
            });
            if bumped.is_ok() {
                return;
            }
        }
        // Unique like a client's generated event names: the object's name and a random suffix.
        let name = format!("{}.{:016x}", name_of(object), env.rng.u64(..));
        let event = warning_event(&name, namespace, object, reconciler, message, &env.now);
        if env.state.store.create(&events_resource(), event).is_ok() {
            self.event_name = Some(name);
        }
    }
}

/// Events of cluster-scoped objects go to `default`, as Kubernetes records them.
fn event_namespace(object: &Value) -> &str {
    Some(namespace_of(object)).filter(|n| !n.is_empty()).unwrap_or("default")
}

fn warning_event(
    name: &str,
    namespace: &str,
    object: &Value,
    reconciler: &Reconciler<'_>,
    message: &str,
    now: &str,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {
            "apiVersion": object["apiVersion"],
            "kind": object["kind"],
            "name": name_of(object),
            "namespace": namespace_of(object),
            "uid": uid_of(object),
            "resourceVersion": object["metadata"]["resourceVersion"],
        },
        "type": "Warning",
        "reason": "ReconcileError",
        "message": message,
        "count": 1,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "source": {"component": reconciler.controller},
        "reportingComponent": reconciler.controller,
        "reportingInstance": reconciler.pod_name,
    })
}

impl Reconciler<'_> {
    fn decide(&self, seed: u64, object: &Value, attempt: u32) -> Result<(), String> {
        scripted_outcome(self.fail_rules, self.behaviour, seed, self.image, object, attempt)
    }
}

/// Whether one reconcile of `object` by a scripted operator fails, and why: always for objects a `failOn`
/// rule matches, otherwise with the image's error rate, drawn from the seed, the image, the object, its
/// generation and the attempt (so which objects fail does not depend on timing, and a retry may succeed).
/// Shared by the simulator's operators and the test bed's real controllers.
pub(crate) fn scripted_outcome(
    fail_rules: &[FailRule],
    behaviour: &OperatorBehaviour,
    seed: u64,
    image: &str,
    object: &Value,
    attempt: u32,
) -> Result<(), String> {
    if let Some(rule) = fail_rules.iter().find(|rule| rule.matches(object)) {
        return Err(format!("reconcile failed: the object matches the failure rule ({})", rule.description()));
    }
    if behaviour.error_rate > 0.0 && error_draw(seed, image, object, attempt) < behaviour.error_rate {
        return Err("reconcile failed: transient error (simulated)".to_owned());
    }
    Ok(())
}

fn error_draw(seed: u64, image: &str, object: &Value, attempt: u32) -> f64 {
    let mut hash = Fnv1a::default();
    hash.bytes(&seed.to_le_bytes());
    hash.text(image);
    hash.text(namespace_of(object));
    hash.text(name_of(object));
    hash.bytes(&generation_of(object).to_le_bytes());
    hash.bytes(&attempt.to_le_bytes());
    hash.unit_draw()
}

/// An object as a reconcile wrote it.
struct Written {
    object: Arc<Value>,
    /// Nobody else changed the object between the list and this write.
    only_ours: bool,
}

/// Writes the reconcile's result into the object's status; None when the object is gone or was
/// recreated (nothing was reconciled then).
fn write_outcome(
    env: &Env<'_>,
    reconciler: &Reconciler<'_>,
    object: &Value,
    generation: i64,
    outcome: &Result<(), String>,
) -> Option<Written> {
    let ready = match outcome {
        Ok(()) => Condition {
            kind: "Ready",
            status: true,
            reason: "Reconciled",
            message: "reconciled successfully".to_owned(),
        },
        Err(message) => Condition { kind: "Ready", status: false, reason: "ReconcileError", message: message.clone() },
    };
    let uid = uid_of(object);
    let listed_version = &object["metadata"]["resourceVersion"];
    let mut only_ours = false;
    let written = env.state.store.modify(&reconciler.resource, namespace_of(object), name_of(object), |current| {
        same_object(current, uid)?;
        only_ours = &current["metadata"]["resourceVersion"] == listed_version;
        let status = object_at(current, &["status"]).ok_or_else(|| ApiError::invalid("status must be an object"))?;
        let conditions = with_condition(status.get("conditions"), &ready, &env.now);
        status.insert("observedGeneration".to_owned(), json!(generation));
        status.insert("conditions".to_owned(), conditions);
        status.insert("reconciledBy".to_owned(), json!(reconciler.pod_name));
        Ok(())
    });
    written.ok().map(|object| Written { object, only_ours })
}

/// The conditions with `wanted` merged in place of its type (other conditions kept as they are).
fn with_condition(conditions: Option<&Value>, wanted: &Condition<'_>, now: &str) -> Value {
    let mut items: Vec<Value> = conditions.and_then(Value::as_array).cloned().unwrap_or_default();
    let position = items.iter().position(|c| c["type"].as_str() == Some(wanted.kind));
    let merged = merged_condition(position.map(|p| &items[p]), wanted, now, false);
    match position {
        Some(p) => items[p] = merged,
        None => items.push(merged),
    }
    Value::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::ObjectMatch;

    fn reconciler<'a>(behaviour: &'a OperatorBehaviour, scope: &'a Scope, rules: &'a [FailRule]) -> Reconciler<'a> {
        Reconciler {
            pod_namespace: "ops",
            pod_name: "op-1",
            image: "op:1",
            behaviour,
            scope,
            fail_rules: rules,
            resource: GroupResource::new("example.com", "widgets"),
            controller: "widget".to_owned(),
        }
    }

    fn widget(name: &str, generation: i64) -> Value {
        let uid = format!("uid-{name}");
        let labels = json!({"tier": "gold"});
        json!({"metadata": {"name": name, "namespace": "a", "uid": uid, "generation": generation, "labels": labels}})
    }

    #[test]
    fn fail_rules_win_over_the_error_rate() {
        let behaviour = OperatorBehaviour::default();
        let rules =
            [FailRule::compile(&ObjectMatch { label_selector: Some("tier=gold".into()), ..ObjectMatch::default() })];
        let scope = Scope::default();
        let reconciler = reconciler(&behaviour, &scope, &rules);
        let error = reconciler.decide(1, &widget("w", 1), 1).unwrap_err();
        assert!(error.contains("tier=gold"), "{error}");
    }

    #[test]
    fn error_rate_draws_are_deterministic_and_proportional() {
        let behaviour = OperatorBehaviour { error_rate: 0.25, ..OperatorBehaviour::default() };
        let scope = Scope::default();
        let reconciler = reconciler(&behaviour, &scope, &[]);
        let failures =
            |seed| (0..1000).filter(|i| reconciler.decide(seed, &widget(&format!("w{i}"), 1), 1).is_err()).count();
        assert_eq!(failures(7), failures(7));
        assert!((180..320).contains(&failures(7)), "{}", failures(7));
        assert_ne!(
            (0..50).map(|i| reconciler.decide(7, &widget(&format!("w{i}"), 1), 1).is_err()).collect::<Vec<_>>(),
            (0..50).map(|i| reconciler.decide(8, &widget(&format!("w{i}"), 1), 1).is_err()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn an_object_is_due_until_this_worker_reconciled_its_generation() {
        let mut watched = Watched::new("uid-w");
        watched.changed_at_ms = 100;
        let ready = json!([{"type": "Ready", "status": "True"}]);
        let reconciled_by_other =
            json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": ready}});
        assert_eq!(watched.due(&reconciled_by_other, 50), Some(150));
        watched.done_generation = Some(2);
        assert_eq!(watched.due(&reconciled_by_other, 50), None);
        let new_generation = json!({"metadata": {"generation": 3}, "status": reconciled_by_other["status"]});
        assert_eq!(watched.due(&new_generation, 50), Some(150));
        watched.last_attempt_ms = Some(400);
        assert_eq!(watched.due(&new_generation, 50), Some(450));
    }

    #[test]
    fn the_ready_condition_is_replaced_and_others_kept() {
        let previous = json!([
            {"type": "Synced", "status": "True"},
            {"type": "Ready", "status": "True", "reason": "Reconciled", "message": "ok", "lastTransitionTime": "t0"},
        ]);
        let failed = Condition { kind: "Ready", status: false, reason: "ReconcileError", message: "boom".to_owned() };
        let conditions = with_condition(Some(&previous), &failed, "t1");
        assert_eq!(conditions[0], previous[0]);
        assert_eq!(conditions[1]["status"], "False");
        assert_eq!(conditions[1]["lastTransitionTime"], "t1");
        let again = with_condition(Some(&conditions), &failed, "t2");
        assert_eq!(again, conditions, "an unchanged condition keeps its timestamps");
    }
}
