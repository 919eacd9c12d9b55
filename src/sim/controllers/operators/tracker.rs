//! What a worker knows of the objects of one kind, and the reconcile of one object.
//!
//! A worker reconciles an object when it has not yet reconciled the object's current generation itself
//! (a new leader reconciles everything in scope, as a real controller does after its initial list), or
//! the object's status does not show the generation as reconciled; and only `reconcileLatencyMs` after
//! it last saw the object change. Failed reconciles are retried every `reconcileLatencyMs`. Each tracker
//! keeps the last listed objects: an unchanged list (same objects, pointer for pointer) with nothing due
//! costs one comparison per object per tick, so 10,000 objects stay cheap.

use super::super::{events_resource, find_condition, generation_of, name_of, namespace_of, uid_of, Env};
use super::dependents::sync_dependent;
use super::outcome::{metric_lines, warning_event, write_outcome, Failure, Reconciler};
use crate::sim::errors::ApiError;
use crate::sim::reconcilers::{ObjectRef, ReconcileRecord};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::sync::Arc;

/// What a worker knows of the objects of one kind.
#[derive(Default)]
pub(super) struct KindTracker {
    /// The objects as last listed, in the store's (namespace, name) order.
    pub(super) known: Vec<Known>,
    /// Bumped whenever `known` is replaced, so ownership is recomputed only after a change.
    pub(super) epoch: u64,
    /// The earliest time an object is due for a reconcile.
    next_due_ms: Option<u64>,
    /// The store's resourceVersion when the objects were last listed.
    listed_at_version: Option<u64>,
    /// Objects examined one by one in the last tick.
    #[cfg(test)]
    pub(super) examined: usize,
}

/// One listed object.
pub(super) struct Known {
    pub(super) object: Arc<Value>,
    /// None when the object is outside the worker's scope.
    pub(super) watch: Option<Watched>,
}

/// A worker's memory of one object in its scope.
pub(super) struct Watched {
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

impl KindTracker {
    /// Lists the kind when something may have changed, and reconciles what is due.
    pub(super) fn sync(&mut self, env: &mut Env<'_>, reconciler: &Reconciler<'_>, namespace: Option<&str>) {
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
        self.epoch = self.epoch.wrapping_add(1);
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
        watched.due_ms =
            watched.due(&object, reconciler.behaviour.reconcile_latency_ms, reconciler.behaviour.condition_type());
        Known { object, watch: Some(watched) }
    }
}

impl Watched {
    pub(super) fn new(uid: &str) -> Watched {
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

    /// When the object should be reconciled next, None when it needs nothing; `condition` is the
    /// condition type the operator writes.
    pub(super) fn due(&self, object: &Value, latency_ms: u64, condition: &str) -> Option<u64> {
        if self.is_reconciled(object, condition) {
            return None;
        }
        let since = self.changed_at_ms.max(self.last_attempt_ms.unwrap_or(0));
        Some(since.saturating_add(latency_ms))
    }

    /// This worker reconciled the current generation, and the status says so: its condition is there, with
    /// the generation in `status.observedGeneration`, else in the condition's own (what the schema kept of
    /// the two the worker writes; with neither kept, the condition alone).
    fn is_reconciled(&self, object: &Value, condition: &str) -> bool {
        let generation = generation_of(object);
        let status = &object["status"];
        let Some(written) = find_condition(&status["conditions"], condition) else { return false };
        let observed = status["observedGeneration"].as_i64().or_else(|| written["observedGeneration"].as_i64());
        self.done_generation == Some(generation) && observed.is_none_or(|observed| observed == generation)
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
        let own = reconciler.own_counters();
        match &outcome {
            Ok(()) => {
                // A regression only the metrics show: a first attempt counted as an error, then an
                // immediate successful retry.
                if reconciler.metrics_only_error(env.scenario.seed, object, self.attempts) {
                    reconciler.count(env, &error, 1.0);
                    reconciler.count(env, &errors, 1.0);
                    if let Some((reconciles, failures)) = &own {
                        reconciler.count(env, reconciles, 1.0);
                        reconciler.count(env, failures, 1.0);
                    }
                }
                reconciler.count(env, &success, 1.0);
                if let Some((reconciles, _)) = &own {
                    reconciler.count(env, reconciles, 1.0);
                }
                if let Some(written) = &written {
                    self.done_generation = Some(generation);
                    if let Some(dependents) = reconciler.dependents() {
                        sync_dependent(env, &written.object, &dependents.template);
                    }
                }
            }
            Err(failure) => {
                reconciler.count(env, &error, 1.0);
                reconciler.count(env, &errors, 1.0);
                if let Some((reconciles, failures)) = &own {
                    reconciler.count(env, reconciles, 1.0);
                    reconciler.count(env, failures, 1.0);
                }
                if written.is_some() {
                    self.record_warning(env, reconciler, object, failure);
                }
            }
        }
        if written.is_some() {
            env.state.reconcilers.push_reconcile(ReconcileRecord {
                object: object_ref(object, reconciler.kind),
                deployment: reconciler.deployment.to_owned(),
                pod: reconciler.pod_name.to_owned(),
                at_ms: env.now_ms,
                succeeded: outcome.is_ok(),
            });
        }
        let current = written.as_ref().map_or(object, |w| w.object.as_ref());
        self.due_ms =
            self.due(current, reconciler.behaviour.reconcile_latency_ms, reconciler.behaviour.condition_type());
        written.filter(|w| w.only_ours).map(|w| w.object)
    }

    /// Records the failure as a Warning event on the object, counting repeats on one event as the
    /// API server's event correlator does.
    fn record_warning(&mut self, env: &mut Env<'_>, reconciler: &Reconciler<'_>, object: &Value, failure: &Failure) {
        let namespace = super::outcome::event_namespace(object);
        if let Some(name) = &self.event_name {
            let bumped = env.state.store.modify(&events_resource(), namespace, name, |event| {
                let count = event["count"].as_u64().unwrap_or(1);
                let map = event.as_object_mut().ok_or_else(|| ApiError::invalid("an event must be an object"))?;
                map.insert("count".to_owned(), json!(count + 1));
                map.insert("lastTimestamp".to_owned(), json!(env.now));
                map.insert("message".to_owned(), json!(failure.message));
                map.insert("reason".to_owned(), json!(failure.reason));
                Ok(())
            });
            if bumped.is_ok() {
                return;
            }
        }
        // Unique like a client's generated event names: the object's name and a random suffix.
        let name = format!("{}.{:016x}", name_of(object), env.rng.u64(..));
        let event = warning_event(&name, object, reconciler, failure, &env.now);
        if env.state.store.create(&events_resource(), event).is_ok() {
            self.event_name = Some(name);
        }
    }
}

/// How the reconciler record names an object.
pub(super) fn object_ref(object: &Value, kind: &str) -> ObjectRef {
    ObjectRef {
        uid: uid_of(object).to_owned(),
        kind: kind.to_owned(),
        namespace: namespace_of(object).to_owned(),
        name: name_of(object).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_is_due_until_this_worker_reconciled_its_generation() {
        let mut watched = Watched::new("uid-w");
        watched.changed_at_ms = 100;
        let ready = json!([{"type": "Ready", "status": "True"}]);
        let reconciled_by_other =
            json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": ready}});
        assert_eq!(watched.due(&reconciled_by_other, 50, "Ready"), Some(150));
        watched.done_generation = Some(2);
        assert_eq!(watched.due(&reconciled_by_other, 50, "Ready"), None);
        let new_generation = json!({"metadata": {"generation": 3}, "status": reconciled_by_other["status"]});
        assert_eq!(watched.due(&new_generation, 50, "Ready"), Some(150));
        watched.last_attempt_ms = Some(400);
        assert_eq!(watched.due(&new_generation, 50, "Ready"), Some(450));
    }

    #[test]
    fn without_status_observed_generation_the_conditions_one_counts() {
        let mut watched = Watched::new("uid-w");
        watched.changed_at_ms = 100;
        watched.done_generation = Some(2);
        let at = |generation: Value| {
            let condition = json!([{"type": "Available", "status": "True", "observedGeneration": generation}]);
            json!({"metadata": {"generation": 2}, "status": {"conditions": condition}})
        };
        assert_eq!(watched.due(&at(json!(2)), 50, "Available"), None);
        assert_eq!(watched.due(&at(json!(1)), 50, "Available"), Some(150));
        assert_eq!(watched.due(&at(Value::Null), 50, "Available"), None, "the schema kept neither");
        let none = json!({"metadata": {"generation": 2}, "status": {}});
        assert_eq!(watched.due(&none, 50, "Available"), Some(150));
    }
}
