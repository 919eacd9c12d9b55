//! Observing the cohorts in the cluster: their objects, their Deployment's pods, Warning events on their
//! objects, their objects' dependents and their pods' metrics. Each function only reads.

use super::scrape::{counter_sum, SeriesMatcher};
use crate::canary::cohort::object_unit;
use crate::cluster::{ClusterError, ObjectKey, Objects};
use crate::plan::file::{DependentKind, MetricsScheme, PodProxyMetric, PortRef};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The `(apiVersion, kind)` of every kind cohort objects have (drawn kinds and followers), at the version
/// the cluster stores them in.
pub type CohortKinds = Vec<(String, String)>;

/// Every object of the cohort kinds that is a member of `members` (by unit), in one pass over each kind.
pub async fn observe_cohort(
    objects: &Objects,
    kinds: &CohortKinds,
    members: &[&BTreeSet<String>],
) -> Result<Vec<Vec<Value>>, ClusterError> {
    let mut found = vec![Vec::new(); members.len()];
    for (api_version, kind) in kinds {
        for object in objects.list_all(api_version, kind, None).await? {
            let unit = object_unit(&ObjectKey::of(&object));
            if let Some(index) = members.iter().position(|m| m.contains(&unit)) {
                found[index].push(object);
            }
        }
    }
    Ok(found)
}

/// The pods of a Deployment by its selector (`k=v,...`), not being deleted.
async fn pods_of(client: &kube::Client, namespace: &str, selector: &str) -> Result<Vec<Pod>, ClusterError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(selector);
    let list = crate::cluster::retry::with_retries(|| pods.list(&params))
        .await
        .map_err(|e| ClusterError::api(format!("cannot list the pods {selector} in {namespace}"), e))?;
    Ok(list.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect())
}

/// Restarts plus not-ready pods of a cohort's Deployment; a Deployment without a pod counts as one.
pub async fn observe_copy_pods(client: &kube::Client, namespace: &str, selector: &str) -> Result<u32, ClusterError> {
    let health = crate::health::observe_pods(client, namespace, selector).await?;
    Ok(health.restarts + (health.pods - health.ready) + u32::from(health.pods == 0))
}

/// Warning events on objects with one of `uids` last seen at or after `since` (RFC 3339), with one of
/// `reasons` when given, in the cohort's namespaces.
pub async fn warning_events(
    objects: &Objects,
    namespaces: &BTreeSet<String>,
    uids: &BTreeSet<String>,
    since: &str,
    reasons: &[String],
) -> Result<u32, ClusterError> {
    let mut count = 0;
    for namespace in namespaces {
        for event in objects.list_all("v1", "Event", Some(namespace)).await? {
            let last = ["lastTimestamp", "eventTime"]
                .iter()
                .find_map(|k| event[*k].as_str())
                .or(event["metadata"]["creationTimestamp"].as_str())
                .unwrap_or_default();
            let reason = event["reason"].as_str().unwrap_or_default();
            let counts = event["type"] == "Warning"
                && uids.contains(event["involvedObject"]["uid"].as_str().unwrap_or_default())
                && last >= since
                && (reasons.is_empty() || reasons.iter().any(|r| r == reason));
            count += u32::from(counts);
        }
    }
    Ok(count)
}

/// For each cohort object (unit and uid), a fingerprint of its dependents: the uid and resourceVersion of
/// every object of `kinds` owned by it, or by one of its dependents of an earlier kind, in its namespace.
/// Any dependent created, recreated, updated or removed changes the fingerprint.
pub async fn dependent_fingerprints(
    objects: &Objects,
    kinds: &[DependentKind],
    members: &[(String, String, String)],
) -> Result<BTreeMap<String, u64>, ClusterError> {
    let mut owner_of: HashMap<String, String> =
        members.iter().map(|(unit, uid, _)| (uid.clone(), unit.clone())).collect();
    let namespaces: BTreeSet<&str> = members.iter().map(|(_, _, ns)| ns.as_str()).collect();
    let mut entries: BTreeMap<String, Vec<String>> = members.iter().map(|(u, _, _)| (u.clone(), Vec::new())).collect();
    for kind in kinds {
        for namespace in &namespaces {
            for dependent in objects.list_all(&kind.api_version, &kind.kind, Some(namespace)).await? {
                let owners = dependent["metadata"]["ownerReferences"].as_array().cloned().unwrap_or_default();
                let Some(unit) = owners.iter().find_map(|o| o["uid"].as_str().and_then(|u| owner_of.get(u))).cloned()
                else {
                    continue;
                };
                let meta = &dependent["metadata"];
                let uid = meta["uid"].as_str().unwrap_or_default().to_owned();
                let version = meta["resourceVersion"].as_str().unwrap_or_default();
                entries.entry(unit.clone()).or_default().push(format!("{}/{uid}@{version}", kind.kind));
                owner_of.insert(uid, unit);
            }
        }
    }
    Ok(entries.into_iter().map(|(unit, mut list)| (unit, fingerprint(&mut list))).collect())
}

/// Each object's generations, by unit, taken with its dependents' fingerprint.
pub fn owner_generations<'a>(objects: impl IntoIterator<Item = &'a Value>) -> BTreeMap<String, super::OwnerGeneration> {
    objects.into_iter().map(|o| (object_unit(&ObjectKey::of(o)), super::OwnerGeneration::of(o))).collect()
}

fn fingerprint(entries: &mut [String]) -> u64 {
    entries.sort();
    let digest = ring::digest::digest(&ring::digest::SHA256, entries.join("\n").as_bytes());
    u64::from_be_bytes(digest.as_ref()[..8].try_into().expect("a SHA-256 digest has 32 bytes"))
}

/// Each pod's value of `series` and `per` (0 without `per`), scraped from its metrics endpoint through the
/// API server's pod proxy. Any pod that cannot be scraped makes the whole reading an error: a partial sum
/// would read as an improvement.
pub async fn scrape_counters(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
    metric: &PodProxyMetric,
) -> Result<super::PodCounters, String> {
    let series = SeriesMatcher::parse(&metric.series)?;
    let per = metric.per.as_deref().map(SeriesMatcher::parse).transpose()?;
    let pods = pods_of(client, namespace, selector).await.map_err(|e| e.to_string())?;
    if pods.is_empty() {
        return Err(format!("no pod matches {selector}"));
    }
    let mut values = BTreeMap::new();
    for pod in &pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let text = scrape(client, namespace, pod, metric).await.map_err(|e| format!("pod {name}: {e}"))?;
        let s = counter_sum(&text, &series).map_err(|e| format!("pod {name}: {e}"))?;
        let p = per.as_ref().map(|m| counter_sum(&text, m)).transpose().map_err(|e| format!("pod {name}: {e}"))?;
        values.insert(name, (s, p.unwrap_or(0.0)));
    }
    Ok(values)
}

/// The reconciles the pods of a Deployment counted so far: the `counter` series summed, read from the
/// endpoint of the plan's pod metric.
pub async fn reconciles_of(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
    metric: &PodProxyMetric,
    counter: &str,
) -> Result<f64, String> {
    let total = PodProxyMetric { series: counter.to_owned(), per: None, ..metric.clone() };
    Ok(scrape_counters(client, namespace, selector, &total).await?.values().map(|(s, _)| s).sum())
}

async fn scrape(client: &kube::Client, namespace: &str, pod: &Pod, metric: &PodProxyMetric) -> Result<String, String> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let port = match &metric.port {
        PortRef::Number(n) => n.to_string(),
        PortRef::Name(port_name) => {
            named_port(pod, port_name).ok_or_else(|| format!("no container port named {port_name}"))?
        }
    };
    let scheme = match metric.scheme {
        MetricsScheme::Http => "",
        MetricsScheme::Https => "https:",
    };
    let uri = format!("/api/v1/namespaces/{namespace}/pods/{scheme}{name}:{port}/proxy{}", metric.path);
    let request = http::Request::get(uri).body(Vec::new()).map_err(|e| e.to_string())?;
    crate::cluster::retry::with_retries(|| client.request_text(request.clone()))
        .await
        .map_err(|e| format!("cannot scrape {}: {e}", metric.path))
}

fn named_port(pod: &Pod, name: &str) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name))
        .map(|p| p.container_port.to_string())
}
