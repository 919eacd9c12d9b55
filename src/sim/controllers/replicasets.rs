//! The ReplicaSet controller: keeps `spec.replicas` pods from the template (created all at once, surplus
//! deleted not-ready first) and reports how many are ready and available (available = Ready, since
//! `minReadySeconds` is not simulated). Pods are found through their controller owner reference.

use super::pods::{create_pod, restart_count};
use super::{
    controller_uid, generation_of, is_deleting, owner_reference, pod_is_ready, pod_is_terminal, pods_resource,
    replicasets_resource, uid_of, write_status, Env,
};
use serde_json::{json, Map, Value};
use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;

/// Syncs every ReplicaSet's pods and status.
pub(super) fn sync(env: &mut Env<'_>) {
    let (replicasets, _) = env.state.store.list(&replicasets_resource(), None);
    let (pods, _) = env.state.store.list(&pods_resource(), None);
    let mut owned: HashMap<&str, Vec<Arc<Value>>> = HashMap::new();
    // Finished or terminating pods no longer count as replicas, as in Kubernetes.
    for pod in pods.iter().filter(|p| !is_deleting(p) && !pod_is_terminal(p)) {
        if let Some(owner) = controller_uid(pod) {
            owned.entry(owner).or_default().push(pod.clone());
        }
    }
    for replicaset in replicasets.iter().filter(|rs| !is_deleting(rs)) {
        let pods = owned.remove(uid_of(replicaset)).unwrap_or_default();
        sync_replicaset(env, replicaset, pods);
    }
}

fn sync_replicaset(env: &mut Env<'_>, replicaset: &Value, mut pods: Vec<Arc<Value>>) {
    let desired = usize::try_from(replicaset["spec"]["replicas"].as_i64().unwrap_or(1)).unwrap_or(0);
    if pods.len() < desired {
        let owner = owner_reference(replicaset, "apps/v1", "ReplicaSet");
        for _ in pods.len()..desired {
            match create_pod(env, &replicaset["spec"]["template"], replicaset, &[], &owner) {
                Some(pod) => pods.push(pod),
                // The namespace is gone or similar: the next tick tries again.
                None => break,
            }
        }
    } else if pods.len() > desired {
        pods.sort_by_cached_key(|pod| deletion_rank(pod));
        let keep = pods.split_off(pods.len() - desired);
        for pod in &pods {
            // Already gone is what we wanted.
            let _ = env.state.store.delete(&pods_resource(), super::namespace_of(pod), super::name_of(pod));
        }
        pods = keep;
    }
    write_status(env, &replicasets_resource(), replicaset, replicaset_status(replicaset, &pods));
}

/// Which surplus pods go first: not ready before ready, then the most restarted (as Kubernetes ranks
/// them); the name only makes the order deterministic.
fn deletion_rank(pod: &Value) -> (bool, Reverse<u64>, String) {
    (pod_is_ready(pod), Reverse(restart_count(pod)), super::name_of(pod).to_owned())
}

/// The status, with the API server's omitempty on everything but `replicas`.
fn replicaset_status(replicaset: &Value, pods: &[Arc<Value>]) -> Value {
    let template_labels = replicaset["spec"]["template"]["metadata"]["labels"].as_object();
    let fully_labeled = pods
        .iter()
        .filter(|pod| {
            template_labels.is_none_or(|labels| labels.iter().all(|(k, v)| pod["metadata"]["labels"].get(k) == Some(v)))
        })
        .count();
    let ready = pods.iter().filter(|pod| pod_is_ready(pod)).count();
    let mut status = Map::new();
    status.insert("replicas".to_owned(), json!(pods.len()));
    let counts = [("fullyLabeledReplicas", fully_labeled), ("readyReplicas", ready), ("availableReplicas", ready)];
    for (key, value) in counts.into_iter().filter(|(_, value)| *value != 0) {
        status.insert(key.to_owned(), json!(value));
    }
    status.insert("observedGeneration".to_owned(), json!(generation_of(replicaset)));
    Value::Object(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surplus_pods_that_are_not_ready_go_first() {
        let pod = |name: &str, ready: bool, restarts: u64| {
            let status = if ready { "True" } else { "False" };
            json!({"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": status}],
                "containerStatuses": [{"restartCount": restarts}]}})
        };
        let mut pods = [pod("a", true, 0), pod("b", false, 0), pod("c", false, 5)];
        pods.sort_by_cached_key(deletion_rank);
        let order: Vec<&str> = pods.iter().map(super::super::name_of).collect();
        assert_eq!(order, ["c", "b", "a"]);
    }

    #[test]
    fn status_omits_zero_counts_but_not_replicas() {
        let replicaset =
            json!({"metadata": {"generation": 3}, "spec": {"template": {"metadata": {"labels": {"app": "x"}}}}});
        let status = replicaset_status(&replicaset, &[]);
        assert_eq!(status, json!({"replicas": 0, "observedGeneration": 3}));
    }
}
