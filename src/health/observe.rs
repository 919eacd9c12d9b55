//! Reading health from the cluster: every custom resource of the release's kinds (paged), and the
//! operator Deployment's pods.

use super::{ObjectHealth, PodsHealth};
use crate::cluster::{ClusterError, ObjectKey, Objects};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The health of every object of the given kinds (`(apiVersion, kind)`), judged on `condition_type`.
pub async fn observe_fleet(
    objects: &Objects,
    kinds: &[(String, String)],
    condition_type: &str,
) -> Result<Vec<ObjectHealth>, ClusterError> {
    let mut health = Vec::new();
    for (api_version, kind) in kinds {
        for object in objects.list_all(api_version, kind, None).await? {
            health.push(object_health(&object, condition_type));
        }
    }
    health.sort_by(|a, b| a.object.cmp(&b.object));
    Ok(health)
}

/// A generation as operators write it in `status.observedGeneration`: a number, or the number in a string
/// (Argo Rollouts writes `"3"`). Anything else is no generation.
pub fn generation_number(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// One object's health from its status: the condition, its reason, and observedGeneration.
pub fn object_health(object: &Value, condition_type: &str) -> ObjectHealth {
    let key = ObjectKey::of(object);
    let condition = object["status"]["conditions"]
        .as_array()
        .and_then(|conditions| conditions.iter().find(|c| c["type"] == condition_type));
    // kstatus: a Stalled object is not healthy whatever its Ready condition says.
    let stalled = object["status"]["conditions"]
        .as_array()
        .and_then(|conditions| conditions.iter().find(|c| c["type"] == "Stalled" && c["status"] == "True"));
    let ready = condition.map(|c| c["status"] == "True" && stalled.is_none());
    let reason = stalled
        .or(condition.filter(|c| c["status"] != "True"))
        .and_then(|c| c["reason"].as_str().or(c["message"].as_str()))
        .map(str::to_owned);
    ObjectHealth {
        object: format!(
            "{} {}",
            key.kind,
            if key.namespace.is_empty() { key.name.clone() } else { format!("{}/{}", key.namespace, key.name) }
        ),
        generation: object["metadata"]["generation"].as_i64().unwrap_or(0),
        // Operators that write metav1.Condition (prometheus-operator) carry it on the condition instead.
        observed_generation: generation_number(&object["status"]["observedGeneration"])
            .or_else(|| condition.and_then(|c| c["observedGeneration"].as_i64())),
        ready,
        reason: reason.or_else(|| condition.is_none().then(|| format!("no {condition_type} condition"))),
    }
}

/// The operator Deployment's pods (by the Deployment's selector labels): how many, how many Ready, and
/// their restarts.
pub async fn observe_pods(client: &kube::Client, namespace: &str, selector: &str) -> Result<PodsHealth, ClusterError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(selector);
    let list = crate::cluster::retry::with_retries(|| pods.list(&params))
        .await
        .map_err(|e| ClusterError::api(format!("cannot list the operator's pods in {namespace}"), e))?;
    let mut health = PodsHealth::default();
    for pod in list.items.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        health.pods += 1;
        let status = pod.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if ready {
            health.ready += 1;
        }
        let restarts: i32 = status
            .and_then(|s| s.container_statuses.as_ref())
            .map(|c| c.iter().map(|c| c.restart_count).sum())
            .unwrap_or(0);
        health.restarts += u32::try_from(restarts).unwrap_or(0);
    }
    Ok(health)
}

/// What a wait for Readiness saw last: how many objects there were and which of them were not Ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyWait {
    /// The objects observed.
    pub observed: usize,
    /// The ones not Ready (names as [`ObjectHealth::object`]), empty when the wait succeeded.
    pub not_ready: Vec<String>,
}

impl ReadyWait {
    /// Whether at least `min_objects` were observed and every one was Ready.
    pub fn settled(&self, min_objects: usize) -> bool {
        self.observed >= min_objects && self.not_ready.is_empty()
    }
}

/// Polls the objects of `kinds` until at least `min_objects` exist and each is Ready on `condition_type`
/// (those in `excused` aside: they were not Ready before the run either), or until `timeout` has passed.
pub async fn wait_until_ready(
    objects: &Objects,
    kinds: &[(String, String)],
    condition_type: &str,
    excused: &BTreeSet<&String>,
    min_objects: usize,
    timeout: Duration,
) -> Result<ReadyWait, ClusterError> {
    let started = Instant::now();
    loop {
        let fleet = observe_fleet(objects, kinds, condition_type).await?;
        let wait = ReadyWait {
            observed: fleet.len(),
            not_ready: fleet
                .into_iter()
                .filter(|o| o.ready != Some(true) && !excused.contains(&o.object))
                .map(|o| o.object)
                .collect(),
        };
        if wait.settled(min_objects) || started.elapsed() > timeout {
            return Ok(wait);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
