//! Scripted operators: every Running and Ready pod (terminating ones included: their process runs until
//! the kubelet removes them) whose container image the scenario describes as an operator reconciles the
//! objects of its kinds within its scope (read from the container's env and args), writing
//! `status.observedGeneration`, a `Ready` condition (with its own `observedGeneration`) and
//! `status.reconciledBy` through the API's admission of a `/status` update (so the CRD's schema prunes
//! what it does not declare, and a status it rejects is not written), counting
//! `controller_runtime_reconcile_total` / `..._errors_total` in the pod's metrics (unless the image has
//! `metrics: false`), keeping each object's dependent (`dependents`), and recording Warning events for
//! failures (also for every reconcile while the `operatorsFail` fault is on).
//!
//! Leader election is simulated for images whose behaviour has `leaderElection` ([`lease`]): such a pod
//! reconciles only while it holds its lease, so a second Deployment naming the same lease waits, as in a
//! real cluster. Without election each Ready pod reconciles on its own, so two pods whose scopes overlap
//! both reconcile the same objects (and `reconciledBy` shows the last one). That double ownership is the
//! failure a canary rollout must avoid by rescoping; the simulator keeps it visible on purpose and
//! records it ([`ownership`], read through `SimHandle::reconciler_conflicts`).
//!
//! A worker is one operator container; see [`tracker`] for when it reconciles an object.

mod dependents;
mod lease;

pub(crate) use lease::lease_name;
mod outcome;
mod ownership;
mod tracker;

pub(crate) use outcome::scripted_outcome;

use super::pods::is_running_and_ready;
use super::scope::{FailRule, Scope};
use super::{controller_ref, name_of, namespace_of, replicasets_resource, uid_of, Env};
use crate::sim::resources::{GroupResource, ResourceType};
use crate::sim::scenario::{ImageBehaviour, OperatorBehaviour};
use outcome::{metric_lines, Reconciler};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use tracker::KindTracker;

/// (pod namespace, pod name, container index): sorted, so workers run in a reproducible order.
type WorkerKey = (String, String, usize);

/// Every operator container running in the cluster, with what each remembers, the leases they hold and
/// what they own.
#[derive(Default)]
pub(super) struct Operators {
    workers: BTreeMap<WorkerKey, Worker>,
    leases: lease::Leases,
    ownership: ownership::Ownership,
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
    /// The Deployment owning the pod's ReplicaSet, else the pod's name.
    deployment: String,
    /// The lease it elects its leader on; None: no election.
    lease: Option<String>,
    /// When the worker started, in simulated milliseconds.
    started_ms: u64,
    /// Whether the pod serves metrics.
    metrics: bool,
    /// Whether its controllers started (it leads, or elects no leader).
    running: bool,
}

impl Operators {
    /// Starts workers for new Ready operator pods, forgets stopped ones, elects leaders, lets each leader
    /// reconcile, and records who owns what.
    pub(super) fn sync(&mut self, env: &mut Env<'_>) {
        let (pods, _) = env.state.store.list(&super::pods_resource(), None);
        let mut live = HashSet::new();
        // A terminating pod's process keeps running (and reconciling) until the kubelet removes the pod.
        for pod in pods.iter().filter(|p| is_running_and_ready(p)) {
            let containers = pod["spec"]["containers"].as_array().map_or(&[][..], Vec::as_slice);
            for (index, container) in containers.iter().enumerate() {
                let image = container["image"].as_str().unwrap_or_default();
                let Some(image_behaviour) = env.scenario.image(image).filter(|i| i.operator.is_some()) else {
                    continue;
                };
                let key = (namespace_of(pod).to_owned(), name_of(pod).to_owned(), index);
                if self.workers.get(&key).is_none_or(|w| w.pod_uid != uid_of(pod)) {
                    let worker = Worker::start(env, pod, container, image_behaviour);
                    self.workers.insert(key.clone(), worker);
                }
                live.insert(key);
            }
        }
        // A pod that stopped being Ready (or is gone) lost its process, and with it its memory.
        self.workers.retain(|key, _| live.contains(key));
        let candidates: Vec<lease::Candidate<'_>> = self
            .workers
            .iter()
            .filter_map(|(key, w)| {
                let lease = w.lease.as_deref()?;
                Some(lease::Candidate { key, pod_uid: &w.pod_uid, lease, started_ms: w.started_ms })
            })
            .collect();
        let leaders = self.leases.elect(env, &candidates);
        let cluster_fails = env.state.faults.operators_fail();
        let types = if self.workers.is_empty() { Vec::new() } else { env.state.types() };
        for (key, worker) in &mut self.workers {
            if worker.lease.is_none() || leaders.contains(key) {
                worker.sync(env, key, &types, cluster_fails);
            }
        }
        let owners: Vec<ownership::Owner<'_>> = self
            .workers
            .iter()
            .filter(|(_, w)| w.running && w.scope.is_some())
            .map(|(key, w)| ownership::Owner { key, pod_uid: &w.pod_uid, deployment: &w.deployment, kinds: &w.kinds })
            .collect();
        self.ownership.sync(&env.state.reconcilers, &owners, env.now_ms);
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
    fn start(env: &Env<'_>, pod: &Value, container: &Value, image: &ImageBehaviour) -> Worker {
        let behaviour = image.operator.clone().unwrap_or_default();
        let lease = lease::lease_name(pod, container, &behaviour);
        let metrics = image.metrics != Some(false);
        if let (Some(lease), true) = (&lease, metrics) {
            // client-go's leader gauge, so a waiting pod serves metrics showing it does not lead.
            let line = format!("leader_election_master_status{{name=\"{lease}\"}}");
            env.state.add_metric(namespace_of(pod), name_of(pod), &line, 0.0);
        }
        Worker {
            pod_uid: uid_of(pod).to_owned(),
            image: image.image.clone(),
            scope: Scope::of_container(pod, container, &behaviour.scope).ok(),
            fail_rules: behaviour.fail_on.iter().map(FailRule::compile).collect(),
            kinds: HashMap::new(),
            deployment: deployment_of(env, pod),
            lease,
            started_ms: env.now_ms,
            metrics,
            running: false,
            behaviour,
        }
    }

    /// Starts the controllers on the first call (the worker leads, or elects no leader), then reconciles.
    fn sync(&mut self, env: &mut Env<'_>, key: &WorkerKey, types: &[ResourceType], cluster_fails: bool) {
        let (pod_namespace, pod_name, _) = key;
        if !self.running {
            self.running = true;
            if self.metrics {
                if let Some(lease) = &self.lease {
                    let line = format!("leader_election_master_status{{name=\"{lease}\"}}");
                    env.state.add_metric(pod_namespace, pod_name, &line, 1.0);
                }
                // controller-runtime registers its counters at zero when its controllers start, so a
                // scrape before the first reconcile already sees them.
                for kind in &self.behaviour.reconciles {
                    let controller = controller_name(&self.behaviour, &kind.kind);
                    for line in metric_lines(&controller) {
                        env.state.add_metric(pod_namespace, pod_name, &line, 0.0);
                    }
                    if let Some(counters) = &self.behaviour.counters {
                        let (reconciles, failures) = counters.lines(&kind.kind, &controller);
                        env.state.add_metric(pod_namespace, pod_name, &reconciles, 0.0);
                        env.state.add_metric(pod_namespace, pod_name, &failures, 0.0);
                    }
                }
            }
        }
        let Some(scope) = &self.scope else { return };
        for kind in &self.behaviour.reconciles {
            // The CRD may not be installed (yet): nothing to reconcile.
            let Some(resource) = types.iter().find(|t| t.group == kind.group && t.kind == kind.kind) else { continue };
            let reconciler = Reconciler {
                pod_namespace,
                pod_name,
                deployment: &self.deployment,
                image: &self.image,
                behaviour: &self.behaviour,
                scope,
                fail_rules: &self.fail_rules,
                resource: resource.group_resource(),
                version: kind.version.as_deref(),
                kind: &kind.kind,
                controller: controller_name(&self.behaviour, &kind.kind),
                metrics: self.metrics,
                cluster_fails,
            };
            let tracker = self.kinds.entry(reconciler.resource.clone()).or_default();
            tracker.sync(env, &reconciler, scope.single_namespace());
        }
    }
}

/// The name of the Deployment owning the pod's ReplicaSet; the pod's own name when there is none.
fn deployment_of(env: &Env<'_>, pod: &Value) -> String {
    let owner = controller_ref(pod)
        .filter(|o| o["kind"].as_str() == Some("ReplicaSet"))
        .and_then(|o| o["name"].as_str())
        .and_then(|rs| env.state.store.get(&replicasets_resource(), namespace_of(pod), rs))
        .and_then(|rs| {
            let owner = controller_ref(&rs).filter(|o| o["kind"].as_str() == Some("Deployment"))?;
            owner["name"].as_str().map(str::to_owned)
        });
    owner.unwrap_or_else(|| name_of(pod).to_owned())
}

/// `behaviour.controller`, or the kind in lower case as controller-runtime names controllers.
fn controller_name(behaviour: &OperatorBehaviour, kind: &str) -> String {
    behaviour.controller.clone().unwrap_or_else(|| kind.to_lowercase())
}
