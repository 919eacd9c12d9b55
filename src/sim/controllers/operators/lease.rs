//! Leader election of the simulated operators. An image whose behaviour has `leaderElection` reconciles
//! only while its pod holds the lease named for it, in the pod's namespace: named by the container's
//! `leaseNameArg` flag or `leaseNameEnv` variable (the flag wins; last occurrence wins), else
//! `defaultLeaseName`; `--<disableArg>=false` turns election off for the pod. The simulator keeps the
//! holders: a lease is free when no live pod (Ready, terminating included) holds it, and the
//! earliest-started waiting pod takes it. Each change of holder is written to a real
//! `coordination.k8s.io/v1` Lease (renewed every [`RENEW_EVERY_MS`], released with `holderIdentity`
//! cleared when the holder is gone). Only leases an operator behaviour names are ever touched.

use super::super::scope::{env_value, flag_bool, flag_value};
use super::super::Env;
use super::WorkerKey;
use crate::sim::errors::ApiError;
use crate::sim::resources::GroupResource;
use crate::sim::scenario::OperatorBehaviour;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};

/// How often a holder renews its Lease (client-go's retry period).
pub(super) const RENEW_EVERY_MS: u64 = 2_000;
/// `leaseDurationSeconds` as controller-runtime writes it.
const LEASE_SECONDS: u64 = 15;

fn leases_resource() -> GroupResource {
    GroupResource::new("coordination.k8s.io", "leases")
}

/// The lease a container elects its leader on; None when its image elects none or the pod turns
/// election off.
pub(crate) fn lease_name(pod: &Value, container: &Value, behaviour: &OperatorBehaviour) -> Option<String> {
    let election = behaviour.leader_election.as_ref()?;
    if election.disable_arg.as_deref().and_then(|flag| flag_bool(container, flag)) == Some(false) {
        return None;
    }
    let from_arg = election.lease_name_arg.as_deref().and_then(|flag| flag_value(container, flag));
    let from_env = election.lease_name_env.as_deref().and_then(|variable| env_value(pod, container, variable));
    let named = from_arg.or(from_env).filter(|n| !n.is_empty()).map(str::to_owned);
    Some(named.or_else(|| election.default_lease_name.clone()).unwrap_or_else(|| {
        let base = behaviour
            .controller
            .clone()
            .or_else(|| behaviour.reconciles.first().map(|k| k.kind.to_lowercase()))
            .unwrap_or_else(|| "operator".to_owned());
        format!("{base}-leader-election")
    }))
}

/// A live worker that elects a leader.
pub(super) struct Candidate<'a> {
    pub(super) key: &'a WorkerKey,
    pub(super) pod_uid: &'a str,
    pub(super) lease: &'a str,
    /// When the worker started, in simulated milliseconds: the earliest waiting one takes a free lease.
    pub(super) started_ms: u64,
}

/// The holder of one lease.
struct Holder {
    key: WorkerKey,
    pod_uid: String,
    renewed_ms: u64,
}

/// The leases the simulated operators hold, by (namespace, lease name).
#[derive(Default)]
pub(super) struct Leases {
    held: BTreeMap<(String, String), Holder>,
}

impl Leases {
    /// Releases the leases of gone holders, hands free leases to the earliest waiting candidate, renews
    /// the others when due, and returns the workers holding their lease.
    pub(super) fn elect(&mut self, env: &Env<'_>, candidates: &[Candidate<'_>]) -> HashSet<WorkerKey> {
        let mut released = Vec::new();
        self.held.retain(|(namespace, lease), holder| {
            let alive = candidates.iter().any(|c| {
                c.key == &holder.key && c.pod_uid == holder.pod_uid && c.lease == lease && &c.key.0 == namespace
            });
            if !alive {
                released.push((namespace.clone(), lease.clone()));
            }
            alive
        });
        let mut waiting: Vec<&Candidate<'_>> = candidates.iter().collect();
        waiting.sort_by(|a, b| (a.started_ms, a.key).cmp(&(b.started_ms, b.key)));
        for candidate in waiting {
            let lease = (candidate.key.0.clone(), candidate.lease.to_owned());
            if self.held.contains_key(&lease) {
                continue;
            }
            write_lease(env, &lease.0, &lease.1, Some(&candidate.key.1));
            let holder =
                Holder { key: candidate.key.clone(), pod_uid: candidate.pod_uid.to_owned(), renewed_ms: env.now_ms };
            self.held.insert(lease, holder);
        }
        for lease in released.iter().filter(|lease| !self.held.contains_key(*lease)) {
            write_lease(env, &lease.0, &lease.1, None);
        }
        for ((namespace, lease), holder) in &mut self.held {
            if env.now_ms.saturating_sub(holder.renewed_ms) >= RENEW_EVERY_MS {
                write_lease(env, namespace, lease, Some(&holder.key.1));
                holder.renewed_ms = env.now_ms;
            }
        }
        self.held.values().map(|h| h.key.clone()).collect()
    }
}

/// Writes the Lease for a holder (acquired or renewed), or releases it (`holder` None: holderIdentity
/// cleared; a missing Lease stays missing).
fn write_lease(env: &Env<'_>, namespace: &str, name: &str, holder: Option<&str>) {
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let resource = leases_resource();
    let written = env.state.store.modify(&resource, namespace, name, |lease| {
        let map = lease.as_object_mut().ok_or_else(|| ApiError::invalid("a Lease is an object"))?;
        let spec = map.entry("spec".to_owned()).or_insert_with(|| json!({}));
        if !spec.is_object() {
            *spec = json!({});
        }
        let previous = spec["holderIdentity"].as_str().map(str::to_owned);
        let spec = spec.as_object_mut().ok_or_else(|| ApiError::invalid("spec must be an object"))?;
        match holder {
            Some(holder) => {
                if previous.as_deref() != Some(holder) {
                    let transitions = spec.get("leaseTransitions").and_then(Value::as_u64).unwrap_or(0);
                    if previous.is_some() {
                        spec.insert("leaseTransitions".to_owned(), json!(transitions + 1));
                    }
                    spec.insert("acquireTime".to_owned(), json!(now));
                }
                spec.insert("holderIdentity".to_owned(), json!(holder));
                spec.insert("leaseDurationSeconds".to_owned(), json!(LEASE_SECONDS));
                spec.insert("renewTime".to_owned(), json!(now));
            }
            None => {
                spec.remove("holderIdentity");
            }
        }
        Ok(())
    });
    if let (Err(error), Some(holder)) = (written, holder) {
        if error.code == 404 {
            let spec = json!({
                "holderIdentity": holder,
                "leaseDurationSeconds": LEASE_SECONDS,
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            });
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name, "namespace": namespace},
                "spec": spec,
            });
            // The namespace is going away or similar: the next renewal tries again.
            let _ = env.state.store.create(&resource, lease);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::{KindRef, LeaderElection};

    fn behaviour(election: Option<LeaderElection>) -> OperatorBehaviour {
        let reconciles = vec![KindRef { group: "example.com".into(), kind: "Widget".into(), version: None }];
        OperatorBehaviour { reconciles, leader_election: election, ..OperatorBehaviour::default() }
    }

    fn election() -> LeaderElection {
        LeaderElection {
            lease_name_arg: Some("--leader-election-id".into()),
            lease_name_env: Some("LEASE_NAME".into()),
            default_lease_name: Some("demo-operator-lock".into()),
            disable_arg: Some("--leader-elect".into()),
        }
    }

    #[test]
    fn the_lease_is_named_by_flag_env_or_default_and_election_can_be_turned_off() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ops"}});
        let with = |container: Value| lease_name(&pod, &container, &behaviour(Some(election())));
        assert_eq!(lease_name(&pod, &json!({}), &behaviour(None)), None, "no election configured");
        assert_eq!(with(json!({"args": ["--leader-elect"]})).as_deref(), Some("demo-operator-lock"));
        let both = json!({"args": ["--leader-election-id=a", "--leader-election-id=b"],
            "env": [{"name": "LEASE_NAME", "value": "c"}]});
        assert_eq!(with(both).as_deref(), Some("b"), "the last flag wins over the env var");
        assert_eq!(with(json!({"env": [{"name": "LEASE_NAME", "value": "c"}]})).as_deref(), Some("c"));
        assert_eq!(with(json!({"args": ["--leader-elect=false"]})), None);
        assert_eq!(with(json!({"args": ["--leader-elect", "false"]})), None);
        assert_eq!(with(json!({"args": ["--leader-elect=true"]})).as_deref(), Some("demo-operator-lock"));
        let unnamed = LeaderElection::default();
        assert_eq!(lease_name(&pod, &json!({}), &behaviour(Some(unnamed))).as_deref(), Some("widget-leader-election"));
    }
}
