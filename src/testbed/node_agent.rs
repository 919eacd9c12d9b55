//! A stand-in kubelet for a control plane without nodes (the real one `controlplane/run.sh` starts): it
//! registers one Node, keeps its Lease renewed, binds every unscheduled Pod to it (there is no scheduler
//! either), reports bound Pods Running and Ready with a loopback address of their own as the Pod IP, lets
//! Job Pods succeed, and confirms deletions as a kubelet does once containers have stopped. A Running Pod
//! whose image the scenario describes as an operator gets that operator, as a real controller
//! ([`super::scripted_operator`]), for as long as the Pod lives. A deleted operator Pod terminates as the
//! simulator's do ([`stop_after`]): its operator keeps running (and reconciling) for the Pod's
//! `deletionGracePeriodSeconds`, or its image's `shutdownMs` when shorter, then stops (releasing its
//! leader-election Lease) before the deletion is confirmed. Pods without an operator stop at once.
//!
//! What happens to a Pod is decided by [`next_action`], a pure function of the Pod; the agent's loop only
//! observes (a watch) and acts.

use super::real_container::RealContainers;
use crate::sim::{now_rfc3339, ImageBehaviour, OperatorBehaviour};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::Client;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The field manager of the agent's writes.
const MANAGER: &str = "operator-upgrade-node-agent";
/// How long a Job's Pod runs before it succeeds.
const JOB_POD_RUNTIME: Duration = Duration::from_secs(1);

/// What the agent does next with one Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodAction {
    /// Nothing: the Pod is another node's, or already reported as it should be.
    Nothing,
    /// Bind the unscheduled Pod to this node.
    Bind,
    /// Report the Pod Running and Ready.
    Start,
    /// Report the Job's Pod finished: Succeeded (its containers exited 0), or Failed when its image's
    /// scenario behaviour says `jobFails`.
    Succeed,
    /// Confirm the deletion (grace period 0): its containers are gone.
    ConfirmDeletion,
}

/// Decides what the node `node` does with `pod`.
pub fn next_action(pod: &Pod, node: &str) -> PodAction {
    let spec = pod.spec.as_ref();
    let node_name = spec.and_then(|s| s.node_name.as_deref());
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    match node_name {
        None if pod.metadata.deletion_timestamp.is_some() => PodAction::ConfirmDeletion,
        None => PodAction::Bind,
        Some(other) if other != node => PodAction::Nothing,
        Some(_) if pod.metadata.deletion_timestamp.is_some() => PodAction::ConfirmDeletion,
        Some(_) => match phase {
            "Pending" => PodAction::Start,
            "Running" if owned_by_job(pod) => PodAction::Succeed,
            _ => PodAction::Nothing,
        },
    }
}

/// How a Job's Pod ends, by its image's scenario behaviour: whether it fails, and after how long.
pub fn job_ending(pod: &Pod, images: &[ImageBehaviour]) -> (bool, Duration) {
    let behaviour = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .find_map(|c| images.iter().find(|i| Some(i.image.as_str()) == c.image.as_deref()));
    match behaviour {
        Some(b) => (
            b.job_fails,
            if b.job_duration_ms > 0 { Duration::from_millis(b.job_duration_ms) } else { JOB_POD_RUNTIME },
        ),
        None => (false, JOB_POD_RUNTIME),
    }
}

/// How long a deleted Pod's containers keep running before the deletion is confirmed: for a Running Pod
/// with an operator image, its `deletionGracePeriodSeconds` (30 when unset), or sooner when the image's
/// behaviour says `shutdownMs` (the longest over its operator containers); zero for any other Pod (nothing
/// runs in its containers here).
pub fn stop_after(pod: &Pod, images: &[ImageBehaviour]) -> Duration {
    let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    if !running {
        return Duration::ZERO;
    }
    let grace_ms = u64::try_from(pod.metadata.deletion_grace_period_seconds.unwrap_or(30)).unwrap_or(0) * 1000;
    let containers = pod.spec.iter().flat_map(|s| s.containers.iter());
    let stops = containers.filter_map(|c| {
        let behaviour = images.iter().find(|i| Some(i.image.as_str()) == c.image.as_deref())?;
        behaviour.operator.as_ref()?;
        Some(behaviour.shutdown_ms.unwrap_or(grace_ms).min(grace_ms))
    });
    Duration::from_millis(stops.max().unwrap_or(0))
}

fn owned_by_job(pod: &Pod) -> bool {
    pod.metadata.owner_references.iter().flatten().any(|o| o.kind == "Job" && o.controller == Some(true))
}

/// What the agent runs: its node's name, the scenario's images with its seed (for operator images), and
/// the real operator binaries with the Pod network they run in, when the test bed has them.
#[derive(Debug, Clone, Default)]
pub struct AgentConfig {
    /// The Node it registers and runs Pods on.
    pub node: String,
    /// How images behave; an image with an operator behaviour runs that operator.
    pub images: Vec<ImageBehaviour>,
    /// The seed of the operators' scripted failures.
    pub seed: u64,
    /// Real operator binaries by image, and the Pod network they run in.
    pub real: Option<RealContainers>,
}

/// The container of `pod` that runs a real binary on this node, if the agent has real containers.
fn real_pod<'a>(pod: &Pod, config: &'a AgentConfig) -> Option<&'a RealContainers> {
    config.real.as_ref().filter(|real| real.container_of(pod).is_some())
}

/// The operator a Pod of this node runs, if it is Running, not being deleted, and one of its containers
/// has an operator image: (the container, as JSON, and what the operator does).
pub fn operator_of(pod: &Pod, config: &AgentConfig) -> Option<(Value, OperatorBehaviour)> {
    let spec = pod.spec.as_ref()?;
    let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    if !running || spec.node_name.as_deref() != Some(config.node.as_str()) || pod.metadata.deletion_timestamp.is_some()
    {
        return None;
    }
    spec.containers.iter().find_map(|container| {
        let image = container.image.as_deref()?;
        let behaviour = config.images.iter().find(|i| i.image == image)?.operator.clone()?;
        Some((serde_json::to_value(container).ok()?, behaviour))
    })
}

/// A running scripted operator: the signal that stops it and its task.
struct RunningOperator {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The operators running in this node's Pods, by Pod UID.
type Operators = Arc<Mutex<HashMap<String, RunningOperator>>>;

/// How long a stopping operator may take to release its Lease before its task is aborted.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the agent until the watch ends or an API call for the node itself fails.
pub async fn run(client: Client, config: AgentConfig) -> Result<(), kube::Error> {
    let node = config.node.as_str();
    // With a Pod network the node's address is its gateway: Endpoints refuse loopback addresses (the
    // prometheus-operator's kubelet Endpoints failed to sync on 127.0.0.1).
    let node_ip = config.real.as_ref().map_or(Ipv4Addr::LOCALHOST, |r| r.network.gateway);
    register_node(&client, node, node_ip).await?;
    let leases = tokio::spawn(renew_lease_forever(client.clone(), node.to_owned()));
    let addresses = Arc::new(Mutex::new(PodAddresses::default()));
    let operators: Operators = Arc::default();
    // Real containers: their supervisors by Pod UID, and the Pod network's addresses.
    let real_pods: Operators = Arc::default();
    let network_addresses = Arc::new(Mutex::new(PodAddresses::starting_at(
        config.real.as_ref().map_or(Ipv4Addr::UNSPECIFIED, |r| r.network.gateway),
    )));
    // Pods whose termination (grace period, operator stop, confirmation) is under way.
    let terminating: Arc<Mutex<HashSet<String>>> = Arc::default();
    let pods: Api<Pod> = Api::all(client.clone());
    let mut events = watcher(pods, watcher::Config::default()).boxed();
    while let Some(event) = events.next().await {
        let pod = match event {
            Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => pod,
            Ok(watcher::Event::Delete(pod)) => {
                tokio::spawn(stop_operator(operators.clone(), uid(&pod)));
                tokio::spawn(stop_real(real_pods.clone(), network_addresses.clone(), pod));
                continue;
            }
            Ok(_) => continue,
            Err(error) => {
                tracing::warn!(%error, "pod watch interrupted; the watcher resumes");
                continue;
            }
        };
        match operator_of(&pod, &config) {
            Some((container, behaviour)) => {
                start_operator(&operators, &client, &pod, container, behaviour, config.seed)
            }
            // A terminating Pod's operator runs until its termination stops it.
            None if pod.metadata.deletion_timestamp.is_some() => {}
            None => {
                tokio::spawn(stop_operator(operators.clone(), uid(&pod)));
            }
        }
        let action = next_action(&pod, node);
        if action == PodAction::Nothing {
            continue;
        }
        let real = real_pod(&pod, &config);
        if let (Some(real), PodAction::Start) = (real, &action) {
            start_real(&real_pods, &network_addresses, &client, &pod, real);
            continue;
        }
        if action == PodAction::ConfirmDeletion {
            if !lock(&terminating).insert(uid(&pod)) {
                continue;
            }
            let (client, addresses, operators, terminating) =
                (client.clone(), addresses.clone(), operators.clone(), terminating.clone());
            let (real_pods, network_addresses, is_real) =
                (real_pods.clone(), network_addresses.clone(), real.is_some());
            let linger = stop_after(&pod, &config.images);
            tokio::spawn(async move {
                if is_real {
                    // Its supervisor stops the process as a kubelet does (SIGTERM, grace, SIGKILL).
                    stop_real(real_pods, network_addresses, pod.clone()).await;
                } else {
                    tokio::time::sleep(linger).await;
                    stop_operator(operators, uid(&pod)).await;
                }
                if let Err(error) =
                    act(&client, "", &addresses, &pod, &PodAction::ConfirmDeletion, (false, linger)).await
                {
                    tracing::debug!(%error, pod = ?pod.metadata.name, "cannot confirm the deletion");
                }
                lock(&terminating).remove(&uid(&pod));
            });
            continue;
        }
        let (client, node, addresses) = (client.clone(), node.to_owned(), addresses.clone());
        let ending = job_ending(&pod, &config.images);
        tokio::spawn(async move {
            if let Err(error) = act(&client, &node, &addresses, &pod, &action, ending).await {
                // The next watch event of the Pod brings the next try.
                tracing::debug!(%error, pod = ?pod.metadata.name, ?action, "node agent action failed");
            }
        });
    }
    leases.abort();
    let all: Vec<String> = lock(&operators).keys().cloned().collect();
    for uid in all {
        stop_operator(operators.clone(), uid).await;
    }
    stop_all_real(&real_pods).await;
    Ok(())
}

/// Starts the supervisor of a real Pod's container (once per Pod), with an address of the Pod network.
fn start_real(
    real_pods: &Operators,
    addresses: &Arc<Mutex<PodAddresses>>,
    client: &Client,
    pod: &Pod,
    real: &RealContainers,
) {
    let mut running = lock(real_pods);
    if running.contains_key(&uid(pod)) {
        return;
    }
    let ip = lock(addresses).address_of(pod);
    let index = u32::from(ip) - u32::from(real.network.gateway);
    if real.network.address(index).is_none() {
        tracing::warn!(pod = ?pod.metadata.name, "the Pod network has no address left");
        return;
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task =
        tokio::spawn(super::real_container::run_pod(client.clone(), pod.clone(), real.clone(), index, ip, stopped));
    running.insert(uid(pod), RunningOperator { stop, task });
}

/// Stops a real Pod's container and waits until its supervisor removed the sandbox; frees its address.
async fn stop_real(real_pods: Operators, addresses: Arc<Mutex<PodAddresses>>, pod: Pod) {
    let Some(supervisor) = lock(&real_pods).remove(&uid(&pod)) else { return };
    let _ = supervisor.stop.send(true);
    let _ = supervisor.task.await;
    lock(&addresses).release(&pod);
}

/// Stops every real container (the agent is ending): SIGTERM, grace, SIGKILL, sandboxes removed.
async fn stop_all_real(real_pods: &Operators) {
    let all: Vec<RunningOperator> = lock(real_pods).drain().map(|(_, r)| r).collect();
    for supervisor in &all {
        let _ = supervisor.stop.send(true);
    }
    for supervisor in all {
        let _ = supervisor.task.await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

fn start_operator(
    operators: &Operators,
    client: &Client,
    pod: &Pod,
    container: Value,
    behaviour: OperatorBehaviour,
    seed: u64,
) {
    let mut running = lock(operators);
    if running.contains_key(&uid(pod)) {
        return;
    }
    let (client, pod_json) = (client.clone(), serde_json::to_value(pod).unwrap_or_default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let name = pod_json["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        if let Err(error) = super::scripted_operator::run(client, pod_json, container, behaviour, seed, stopped).await {
            tracing::warn!(%error, pod = name, "the scripted operator stopped");
        }
    });
    running.insert(uid(pod), RunningOperator { stop, task });
}

/// Stops the operator of the Pod `uid` (if one runs) and waits until it released its Lease.
async fn stop_operator(operators: Operators, uid: String) {
    let Some(operator) = lock(&operators).remove(&uid) else { return };
    let _ = operator.stop.send(true);
    let abort = operator.task.abort_handle();
    if tokio::time::timeout(STOP_TIMEOUT, operator.task).await.is_err() {
        abort.abort();
    }
}

async fn act(
    client: &Client,
    node: &str,
    addresses: &Mutex<PodAddresses>,
    pod: &Pod,
    action: &PodAction,
    (fails, runtime): (bool, Duration),
) -> Result<(), kube::Error> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    match action {
        PodAction::Nothing => Ok(()),
        PodAction::Bind => {
            let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
            pods.create_subresource::<_, Value>("binding", name, &PostParams::default(), &binding).await.map(|_| ())
        }
        PodAction::Start => {
            let ip = addresses.lock().unwrap_or_else(|p| p.into_inner()).address_of(pod);
            let status = running_status(pod, ip);
            pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.map(|_| ())
        }
        PodAction::Succeed => {
            tokio::time::sleep(runtime).await;
            let status = finished_status(pod, fails);
            pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.map(|_| ())
        }
        PodAction::ConfirmDeletion => {
            addresses.lock().unwrap_or_else(|p| p.into_inner()).release(pod);
            pods.delete(name, &DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() })
                .await
                .map(|_| ())
        }
    }
}

/// Creates (or takes over) the Node, Ready, with `address` as its own.
async fn register_node(client: &Client, node: &str, address: Ipv4Addr) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let object = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node, "labels": {
        "kubernetes.io/hostname": node, "kubernetes.io/os": "linux", "node-role.kubernetes.io/worker": ""}}});
    nodes.patch(node, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&object)).await?;
    let capacity = json!({"cpu": "64", "memory": "256Gi", "pods": "1000"});
    let status = json!({"status": {
        "capacity": capacity, "allocatable": capacity,
        "addresses": [{"type": "InternalIP", "address": address.to_string()}, {"type": "Hostname", "address": node}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "the operator-upgrade node agent is running",
            "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339()}],
        "nodeInfo": {"kubeletVersion": "v1.34.0-operator-upgrade", "operatingSystem": "linux", "architecture": "amd64",
            "containerRuntimeVersion": "none", "kernelVersion": "", "osImage": "", "kubeProxyVersion": "",
            "machineID": "", "systemUUID": "", "bootID": ""}}});
    nodes.patch_status(node, &PatchParams::default(), &Patch::Merge(&status)).await?;
    Ok(())
}

/// Renews the node's Lease every 10 s, so the node lifecycle controller keeps the node Ready.
async fn renew_lease_forever(client: Client, node: String) {
    let leases: Api<Lease> = Api::namespaced(client, "kube-node-lease");
    loop {
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": node},
            "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now_micro()}});
        if let Err(error) = leases.patch(&node, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&lease)).await {
            tracing::warn!(%error, "cannot renew the node lease");
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

fn running_status(pod: &Pod, ip: Ipv4Addr) -> Value {
    let containers = container_names(pod);
    let statuses: Vec<Value> = containers
        .iter()
        .map(|(name, image)| {
            json!({"name": name, "image": image, "imageID": format!("{image}@none"), "ready": true, "started": true,
            "restartCount": 0, "state": {"running": {"startedAt": now_rfc3339()}}})
        })
        .collect();
    let condition = |kind: &str| json!({"type": kind, "status": "True", "lastTransitionTime": now_rfc3339()});
    let conditions = ["PodScheduled", "Initialized", "ContainersReady", "Ready"].map(condition);
    json!({"status": {
        "phase": "Running", "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": ip.to_string(), "podIPs": [{"ip": ip.to_string()}], "startTime": now_rfc3339(),
        "conditions": conditions,
        "containerStatuses": statuses}})
}

fn finished_status(pod: &Pod, fails: bool) -> Value {
    let (exit_code, reason, phase) = if fails { (1, "Error", "Failed") } else { (0, "Completed", "Succeeded") };
    let statuses: Vec<Value> = container_names(pod)
        .iter()
        .map(|(name, image)| json!({"name": name, "image": image, "imageID": format!("{image}@none"), "ready": false, "started": false,
            "restartCount": 0, "state": {"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": now_rfc3339(), "finishedAt": now_rfc3339()}}}))
        .collect();
    let condition =
        |kind: &str, status: &str| json!({"type": kind, "status": status, "lastTransitionTime": now_rfc3339()});
    json!({"status": {"phase": phase, "conditions": [
            condition("PodScheduled", "True"), condition("Initialized", "True"),
            condition("ContainersReady", "False"), condition("Ready", "False")],
        "containerStatuses": statuses}})
}

fn container_names(pod: &Pod) -> Vec<(String, String)> {
    let containers = pod.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default();
    containers.iter().map(|c| (c.name.clone(), c.image.clone().unwrap_or_default())).collect()
}

/// Addresses handed to Pods, one per Pod UID, reused after deletion: loopback ones (127.1.0.1 upwards) for
/// Pods without a process, the Pod network's (after its gateway) for real containers.
#[derive(Debug)]
struct PodAddresses {
    base: Ipv4Addr,
    by_uid: HashMap<String, Ipv4Addr>,
    free: Vec<Ipv4Addr>,
    next: u32,
}

impl Default for PodAddresses {
    fn default() -> Self {
        PodAddresses::starting_at(Ipv4Addr::new(127, 1, 0, 0))
    }
}

impl PodAddresses {
    fn starting_at(base: Ipv4Addr) -> Self {
        PodAddresses { base, by_uid: HashMap::new(), free: Vec::new(), next: 0 }
    }

    fn address_of(&mut self, pod: &Pod) -> Ipv4Addr {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if let Some(address) = self.by_uid.get(&uid) {
            return *address;
        }
        let address = self.free.pop().unwrap_or_else(|| {
            self.next += 1;
            Ipv4Addr::from(u32::from(self.base) + self.next)
        });
        self.by_uid.insert(uid, address);
        address
    }

    fn release(&mut self, pod: &Pod) {
        if let Some(address) = pod.metadata.uid.as_ref().and_then(|uid| self.by_uid.remove(uid)) {
            self.free.push(address);
        }
    }
}

fn now_micro() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(value: Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn unscheduled_pods_are_bound_and_bound_pods_started() {
        let unscheduled = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}));
        assert_eq!(next_action(&unscheduled, "n"), PodAction::Bind);
        let bound = pod(json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n", "containers": [{"name": "c"}]}}));
        assert_eq!(next_action(&bound, "n"), PodAction::Start);
        let elsewhere =
            pod(json!({"metadata": {"name": "p"}, "spec": {"nodeName": "m", "containers": [{"name": "c"}]}}));
        assert_eq!(next_action(&elsewhere, "n"), PodAction::Nothing);
        let running = pod(
            json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n", "containers": [{"name": "c"}]}, "status": {"phase": "Running"}}),
        );
        assert_eq!(next_action(&running, "n"), PodAction::Nothing);
    }

    #[test]
    fn job_pods_succeed_and_deletions_are_confirmed() {
        let job_pod = pod(
            json!({"metadata": {"name": "p", "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "u", "controller": true}]},
            "spec": {"nodeName": "n", "containers": [{"name": "c"}]}, "status": {"phase": "Running"}}),
        );
        assert_eq!(next_action(&job_pod, "n"), PodAction::Succeed);
        let deleting = pod(json!({"metadata": {"name": "p", "deletionTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"nodeName": "n", "containers": [{"name": "c"}]}, "status": {"phase": "Running"}}));
        assert_eq!(next_action(&deleting, "n"), PodAction::ConfirmDeletion);
    }

    #[test]
    fn a_deleted_operator_pod_lingers_for_its_grace_period_or_its_shutdown_time() {
        let operator = Some(OperatorBehaviour::default());
        let images = [
            ImageBehaviour { image: "op".into(), operator: operator.clone(), ..Default::default() },
            ImageBehaviour { image: "quick".into(), operator, shutdown_ms: Some(500), ..Default::default() },
            ImageBehaviour { image: "plain".into(), ..Default::default() },
        ];
        let deleted = |image: &str, grace: Value, phase: &str| {
            pod(
                json!({"metadata": {"name": "p", "deletionTimestamp": "2026-01-01T00:00:00Z", "deletionGracePeriodSeconds": grace},
                "spec": {"nodeName": "n", "containers": [{"name": "c", "image": image}]}, "status": {"phase": phase}}),
            )
        };
        assert_eq!(stop_after(&deleted("op", json!(2), "Running"), &images), Duration::from_secs(2));
        assert_eq!(stop_after(&deleted("op", Value::Null, "Running"), &images), Duration::from_secs(30));
        assert_eq!(stop_after(&deleted("quick", json!(2), "Running"), &images), Duration::from_millis(500));
        assert_eq!(stop_after(&deleted("quick", json!(0), "Running"), &images), Duration::ZERO);
        assert_eq!(stop_after(&deleted("plain", json!(30), "Running"), &images), Duration::ZERO, "no process runs");
        assert_eq!(stop_after(&deleted("op", json!(2), "Pending"), &images), Duration::ZERO, "never started");
    }

    #[test]
    fn pod_addresses_are_distinct_loopback_addresses_and_reused() {
        let mut addresses = PodAddresses::default();
        let with_uid = |uid: &str| pod(json!({"metadata": {"name": uid, "uid": uid}, "spec": {"containers": []}}));
        let (a, b) = (with_uid("a"), with_uid("b"));
        let first = addresses.address_of(&a);
        assert_eq!(first, Ipv4Addr::new(127, 1, 0, 1));
        assert_eq!(addresses.address_of(&a), first);
        assert_eq!(addresses.address_of(&b), Ipv4Addr::new(127, 1, 0, 2));
        addresses.release(&a);
        assert_eq!(addresses.address_of(&with_uid("c")), first);
    }
}
