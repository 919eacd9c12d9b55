//! What one reconcile decides and writes: the scripted outcome (failure rules, error rates, the
//! cluster-wide `operatorsFail` fault), the object's status, the Warning event of a failure, and the
//! counters in the pod's metrics.

use super::super::fnv::Fnv1a;
use super::super::scope::{FailRule, Scope};
use super::super::{
    generation_of, merged_condition, name_of, namespace_of, object_at, same_object, uid_of, Condition, Env,
};
use crate::sim::crds;
use crate::sim::resources::{GroupResource, ResourceType};
use crate::sim::scenario::{Dependents, OperatorBehaviour};
use serde_json::{json, Value};
use std::sync::Arc;

/// What one reconcile needs to know about the worker and the kind.
pub(super) struct Reconciler<'a> {
    pub(super) pod_namespace: &'a str,
    pub(super) pod_name: &'a str,
    /// The operator Deployment of the pod (its own name when it has none).
    pub(super) deployment: &'a str,
    pub(super) image: &'a str,
    pub(super) behaviour: &'a OperatorBehaviour,
    pub(super) scope: &'a Scope,
    pub(super) fail_rules: &'a [FailRule],
    pub(super) resource: GroupResource,
    /// The version the operator is built against (`reconciles[].version`), which its status writes go
    /// through; None: the version the object is stored at.
    pub(super) version: Option<&'a str>,
    /// The kind, as the reconciler record names objects.
    pub(super) kind: &'a str,
    /// The `controller` label of the metrics.
    pub(super) controller: String,
    /// Whether the pod serves metrics.
    pub(super) metrics: bool,
    /// The cluster-wide `operatorsFail` fault is on.
    pub(super) cluster_fails: bool,
}

/// Why a reconcile failed: the Ready condition's (and the Warning event's) reason, and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Failure {
    pub(super) reason: &'static str,
    pub(super) message: String,
}

impl Reconciler<'_> {
    /// The outcome of one reconcile: the cluster-wide fault first, then the image's scripted outcome.
    pub(super) fn decide(&self, seed: u64, object: &Value, attempt: u32) -> Result<(), Failure> {
        if self.cluster_fails {
            let message = "reconcile failed: the cluster is failing (simulated cluster problem)".to_owned();
            return Err(Failure { reason: "ClusterProblem", message });
        }
        scripted_outcome(self.fail_rules, self.behaviour, seed, self.image, object, attempt)
            .map_err(|message| Failure { reason: "ReconcileError", message })
    }

    /// Whether a successful reconcile is first counted as an error (`metricsOnlyErrorRate`).
    pub(super) fn metrics_only_error(&self, seed: u64, object: &Value, attempt: u32) -> bool {
        let rate = self.behaviour.metrics_only_error_rate;
        rate > 0.0 && draw(seed, self.image, "metrics-only", object, attempt) < rate
    }

    /// The dependents the image keeps, if any.
    pub(super) fn dependents(&self) -> Option<&Dependents> {
        self.behaviour.dependents.as_ref()
    }

    /// The lines of the operator's own counters for this kind (reconciles, failures), if it has any.
    pub(super) fn own_counters(&self) -> Option<(String, String)> {
        self.behaviour.counters.as_ref().map(|c| c.lines(self.kind, &self.controller))
    }

    /// Adds to one of the pod's counters, unless the pod serves no metrics.
    pub(super) fn count(&self, env: &Env<'_>, line: &str, delta: f64) {
        if self.metrics {
            env.state.add_metric(self.pod_namespace, self.pod_name, line, delta);
        }
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
    if behaviour.error_rate > 0.0 && draw(seed, image, "", object, attempt) < behaviour.error_rate {
        return Err("reconcile failed: transient error (simulated)".to_owned());
    }
    Ok(())
}

/// A seeded draw in [0, 1) for one attempt at one generation of one object; `salt` separates draws for
/// different purposes (empty for the error rate, so its draws stay what they were).
fn draw(seed: u64, image: &str, salt: &str, object: &Value, attempt: u32) -> f64 {
    let mut hash = Fnv1a::default();
    hash.bytes(&seed.to_le_bytes());
    hash.text(image);
    if !salt.is_empty() {
        hash.text(salt);
    }
    hash.text(namespace_of(object));
    hash.text(name_of(object));
    hash.bytes(&generation_of(object).to_le_bytes());
    hash.bytes(&attempt.to_le_bytes());
    hash.unit_draw()
}

/// The metric lines of one controller: successes, failures, and the errors counter.
pub(super) fn metric_lines(controller: &str) -> [String; 3] {
    [
        format!("controller_runtime_reconcile_total{{controller=\"{controller}\",result=\"success\"}}"),
        format!("controller_runtime_reconcile_total{{controller=\"{controller}\",result=\"error\"}}"),
        format!("controller_runtime_reconcile_errors_total{{controller=\"{controller}\"}}"),
    ]
}

/// An object as a reconcile wrote it.
pub(super) struct Written {
    pub(super) object: Arc<Value>,
    /// Nobody else changed the object between the list and this write.
    pub(super) only_ours: bool,
}

/// How often a status write is re-read and retried when another write got in between (a conflict).
const WRITE_ATTEMPTS: usize = 3;

/// Writes the reconcile's result into the object's status as an update of its `/status` subresource:
/// admitted as the API server admits one (pruned to what the schema of the version the object is stored
/// at declares, defaulted, validated), at the resourceVersion just read. None when the object is gone or
/// was recreated (nothing was reconciled then), when the API rejects the status (the operator's update
/// fails; it retries after `reconcileLatencyMs`), or when other writes kept winning the race.
pub(super) fn write_outcome(
    env: &Env<'_>,
    reconciler: &Reconciler<'_>,
    object: &Value,
    generation: i64,
    outcome: &Result<(), Failure>,
) -> Option<Written> {
    let ready = match outcome {
        Ok(()) => Condition {
            kind: reconciler.behaviour.condition_type(),
            status: true,
            reason: "Reconciled",
            message: "reconciled successfully".to_owned(),
        },
        Err(failure) => {
            let kind = reconciler.behaviour.condition_type();
            Condition { kind, status: false, reason: failure.reason, message: failure.message.clone() }
        }
    };
    let uid = uid_of(object);
    let listed_version = &object["metadata"]["resourceVersion"];
    for _ in 0..WRITE_ATTEMPTS {
        let current = env.state.store.get(&reconciler.resource, namespace_of(object), name_of(object))?;
        same_object(&current, uid).ok()?;
        let only_ours = &current["metadata"]["resourceVersion"] == listed_version;
        let mut updated = (*current).clone();
        let status = object_at(&mut updated, &["status"])?;
        let conditions = with_condition(status.get("conditions"), &ready, &env.now);
        status.insert("observedGeneration".to_owned(), json!(generation));
        status.insert("conditions".to_owned(), with_observed_generation(conditions, ready.kind, generation));
        status.insert("reconciledBy".to_owned(), json!(reconciler.pod_name));
        for (key, value) in &reconciler.behaviour.status_fields {
            status.insert(key.clone(), value.clone());
        }
        let resource_type = type_of(env, reconciler, &current)?;
        let admitted = crds::admit(env.state, &resource_type, Some(&current), updated, true).ok()?;
        // Through `/status` only the status changes: whatever admission did to the rest is not written.
        let admitted = with_status_of(&current, admitted);
        if admitted == *current {
            return Some(Written { object: current, only_ours });
        }
        let version = current["metadata"]["resourceVersion"].as_str().unwrap_or_default();
        match env.state.store.update(&reconciler.resource, admitted, Some(version)) {
            Ok(written) => return Some(Written { object: written, only_ours }),
            Err(error) if error.code == 409 => continue,
            Err(_) => return None,
        }
    }
    None
}

/// `current` with the status of `admitted` (none when admission left none).
fn with_status_of(current: &Value, admitted: Value) -> Value {
    let mut object = current.clone();
    match admitted.get("status") {
        Some(status) => object["status"] = status.clone(),
        None => {
            if let Some(map) = object.as_object_mut() {
                map.remove("status");
            }
        }
    }
    object
}

/// The type the status is written through: the operator's version when it names one that is served, else
/// the version the object is stored at, else (not served at that version) any served version.
fn type_of(env: &Env<'_>, reconciler: &Reconciler<'_>, current: &Value) -> Option<ResourceType> {
    let resource = &reconciler.resource;
    let served = |version: &str| env.state.find_type(&resource.group, version, &resource.resource);
    let stored = current["apiVersion"].as_str().and_then(|v| v.rsplit('/').next()).unwrap_or_default();
    reconciler.version.and_then(served).or_else(|| served(stored)).or_else(|| {
        env.state.types().into_iter().find(|t| t.group == resource.group && t.resource == resource.resource)
    })
}

/// The conditions with `observedGeneration` set on the condition of type `kind`, as operators using
/// `metav1.Condition` record it (prometheus-operator's status schemas declare it only there).
fn with_observed_generation(mut conditions: Value, kind: &str, generation: i64) -> Value {
    let items = conditions.as_array_mut().into_iter().flatten();
    for condition in items.filter(|c| c["type"].as_str() == Some(kind)) {
        if let Some(map) = condition.as_object_mut() {
            map.insert("observedGeneration".to_owned(), json!(generation));
        }
    }
    conditions
}

/// The conditions with `wanted` merged in place of its type (other conditions kept as they are).
pub(super) fn with_condition(conditions: Option<&Value>, wanted: &Condition<'_>, now: &str) -> Value {
    let mut items: Vec<Value> = conditions.and_then(Value::as_array).cloned().unwrap_or_default();
    let position = items.iter().position(|c| c["type"].as_str() == Some(wanted.kind));
    let merged = merged_condition(position.map(|p| &items[p]), wanted, now, false);
    match position {
        Some(p) => items[p] = merged,
        None => items.push(merged),
    }
    Value::Array(items)
}

/// Events of cluster-scoped objects go to `default`, as Kubernetes records them.
pub(super) fn event_namespace(object: &Value) -> &str {
    Some(namespace_of(object)).filter(|n| !n.is_empty()).unwrap_or("default")
}

/// A new Warning event about a failed reconcile of `object`.
pub(super) fn warning_event(
    name: &str,
    object: &Value,
    reconciler: &Reconciler<'_>,
    failure: &Failure,
    now: &str,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": event_namespace(object)},
        "involvedObject": {
            "apiVersion": object["apiVersion"],
            "kind": object["kind"],
            "name": name_of(object),
            "namespace": namespace_of(object),
            "uid": uid_of(object),
            "resourceVersion": object["metadata"]["resourceVersion"],
        },
        "type": "Warning",
        "reason": failure.reason,
        "message": failure.message,
        "count": 1,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "source": {"component": reconciler.controller},
        "reportingComponent": reconciler.controller,
        "reportingInstance": reconciler.pod_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::ObjectMatch;

    pub(crate) fn reconciler<'a>(
        behaviour: &'a OperatorBehaviour,
        scope: &'a Scope,
        rules: &'a [FailRule],
    ) -> Reconciler<'a> {
        Reconciler {
            pod_namespace: "ops",
            pod_name: "op-1",
            deployment: "op",
            image: "op:1",
            behaviour,
            scope,
            fail_rules: rules,
            resource: GroupResource::new("example.com", "widgets"),
            version: None,
            kind: "Widget",
            controller: "widget".to_owned(),
            metrics: true,
            cluster_fails: false,
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
        assert!(error.message.contains("tier=gold"), "{error:?}");
        assert_eq!(error.reason, "ReconcileError");
    }

    #[test]
    fn a_failing_cluster_fails_every_reconcile_as_a_cluster_problem() {
        let behaviour = OperatorBehaviour::default();
        let scope = Scope::default();
        let mut reconciler = reconciler(&behaviour, &scope, &[]);
        assert!(reconciler.decide(1, &widget("w", 1), 1).is_ok());
        reconciler.cluster_fails = true;
        assert_eq!(reconciler.decide(1, &widget("w", 1), 1).unwrap_err().reason, "ClusterProblem");
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
    fn metrics_only_errors_are_drawn_apart_from_real_ones() {
        let behaviour = OperatorBehaviour { metrics_only_error_rate: 0.3, ..OperatorBehaviour::default() };
        let scope = Scope::default();
        let reconciler = reconciler(&behaviour, &scope, &[]);
        let counted = (0..1000).filter(|i| reconciler.metrics_only_error(7, &widget(&format!("w{i}"), 1), 1)).count();
        assert!((230..370).contains(&counted), "{counted}");
        assert!((0..1000).all(|i| reconciler.decide(7, &widget(&format!("w{i}"), 1), 1).is_ok()));
        let none = OperatorBehaviour::default();
        let reconciler = super::tests::reconciler(&none, &scope, &[]);
        assert!(!(0..100).any(|i| reconciler.metrics_only_error(7, &widget(&format!("w{i}"), 1), 1)));
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
