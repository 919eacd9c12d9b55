//! The kubelet's container lifecycle for a Pod whose image is a real operator binary (the test bed's image
//! table, `controlplane/build-operators.sh`): the sandbox is made, the objects the container refers to are
//! read (a token from the TokenRequest API, bound to the Pod), the binary runs as a process, its probes are
//! run against the Pod's IP, its exits restart it with the kubelet's back-off and count in `restartCount`,
//! and its deletion is SIGTERM, the grace period, then SIGKILL. The Pod's status says all of it.

use super::container_spec::{self, ConfigError, Launch, Reference, Referenced};
use super::pod_sandbox::{signal_group, PodNetwork, Sandbox};
use super::probes::{self, ProbeSpec, ProbeState};
use crate::sim::now_rfc3339;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, ServiceAccount};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The kubelet's first restart delay; it doubles per crash up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(10);
/// The longest restart delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A container that ran this long without exiting starts its back-off afresh.
const BACKOFF_RESET: Duration = Duration::from_secs(600);
/// How long to wait before retrying a launch whose references could not be read.
const CONFIG_RETRY: Duration = Duration::from_secs(5);

/// What the test bed needs to run real containers: the image table and the Pod network.
#[derive(Debug, Clone)]
pub struct RealContainers {
    /// Image -> the built binary.
    pub images: HashMap<String, PathBuf>,
    /// The Pod network.
    pub network: PodNetwork,
    /// The API server as Pods reach it.
    pub api_host: String,
    /// The API server's port.
    pub api_port: u16,
}

impl RealContainers {
    /// Reads the image table written by `controlplane/build-operators.sh` (`image<TAB>binary` lines).
    pub fn read_images(path: &Path) -> Result<HashMap<String, PathBuf>, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        parse_images(&text).map_err(|(line, message)| format!("{}:{line}: {message}", path.display()))
    }

    /// The container of `pod` that runs a real binary, with that binary.
    pub fn container_of<'a>(&self, pod: &'a Pod) -> Option<(&'a Container, &PathBuf)> {
        let containers = pod.spec.iter().flat_map(|s| s.containers.iter());
        containers.into_iter().find_map(|c| Some((c, self.images.get(c.image.as_deref()?)?)))
    }
}

/// Parses an image table: one `image<TAB>binary` per line; blank lines and `#` comments are skipped.
pub fn parse_images(text: &str) -> Result<HashMap<String, PathBuf>, (usize, String)> {
    let mut images = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (image, binary) =
            line.split_once('\t').ok_or_else(|| (number + 1, "expected IMAGE<TAB>BINARY".to_owned()))?;
        images.insert(image.trim().to_owned(), PathBuf::from(binary.trim()));
    }
    Ok(images)
}

/// The restart delay after the `restarts`th exit in a row (1 for the first).
pub fn backoff(restarts: u32) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1u32 << restarts.saturating_sub(1).min(16));
    doubled.min(MAX_BACKOFF)
}

/// The Pod's address and its node's.
#[derive(Debug, Clone, Copy)]
struct PodIps {
    pod: Ipv4Addr,
    host: Ipv4Addr,
}

/// The state of the one real container of a Pod, as its status reports it.
#[derive(Debug, Clone, PartialEq)]
struct ContainerState {
    restarts: u32,
    ready: bool,
    /// The `state` object (running, waiting or terminated).
    state: Value,
    /// The `lastState` object.
    last: Value,
}

/// Runs the Pod's real container until `stop` says so, then stops it as a kubelet does and removes the
/// sandbox. `index` names the sandbox and `ip` is the Pod's address.
pub async fn run_pod(
    client: Client,
    pod: Pod,
    real: RealContainers,
    index: u32,
    ip: Ipv4Addr,
    mut stop: watch::Receiver<bool>,
) {
    let Some((container, binary)) = real.container_of(&pod) else { return };
    let ips = PodIps { pod: ip, host: real.network.gateway };
    let (container, binary) = (container.clone(), binary.clone());
    let name = pod.metadata.name.clone().unwrap_or_default();
    let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let key = format!("{namespace}_{name}_{}", pod.metadata.uid.as_deref().unwrap_or_default());
    let sandbox = match Sandbox::create(&real.network, &key, index, ip).await {
        Ok(sandbox) => sandbox,
        Err(error) => {
            tracing::warn!(%error, pod = name, "cannot create the Pod's sandbox");
            let waiting = json!({"waiting": {"reason": "CreateContainerError", "message": error.to_string()}});
            report(
                &client,
                &pod,
                &container,
                ips,
                &ContainerState { restarts: 0, ready: false, state: waiting, last: json!({}) },
            )
            .await;
            return;
        }
    };
    let readiness = probes::probe_spec(container.readiness_probe.as_ref(), &container);
    let liveness = probes::probe_spec(container.liveness_probe.as_ref(), &container);
    let grace = Duration::from_secs(
        pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30).max(0) as u64,
    );
    let mut status = ContainerState {
        restarts: 0,
        ready: false,
        state: json!({"waiting": {"reason": "ContainerCreating"}}),
        last: json!({}),
    };
    let mut crashes_in_a_row = 0u32;
    loop {
        report(&client, &pod, &container, ips, &status).await;
        let launch = match prepare(&client, &pod, &container, &real, ip, &sandbox).await {
            Ok(launch) => launch,
            Err(message) => {
                status.state = json!({"waiting": {"reason": "CreateContainerConfigError", "message": message}});
                report(&client, &pod, &container, ips, &status).await;
                if wait_or_stop(&mut stop, CONFIG_RETRY).await {
                    break;
                }
                continue;
            }
        };
        let mut child = match sandbox.spawn(&binary, &name, &launch) {
            Ok(child) => child,
            Err(error) => {
                status.state = json!({"waiting": {"reason": "RunContainerError", "message": error.to_string()}});
                report(&client, &pod, &container, ips, &status).await;
                if wait_or_stop(&mut stop, CONFIG_RETRY).await {
                    break;
                }
                continue;
            }
        };
        let started = Instant::now();
        let started_at = now_rfc3339();
        status.state = json!({"running": {"startedAt": started_at}});
        status.ready = readiness.is_none();
        report(&client, &pod, &container, ips, &status).await;
        let ending = supervise(
            &mut child,
            &client,
            &pod,
            &container,
            ips,
            &mut status,
            (&readiness, &liveness),
            &mut stop,
            grace,
        )
        .await;
        let Ending::Exited(code, reason) = ending else {
            break;
        };
        crashes_in_a_row = if started.elapsed() >= BACKOFF_RESET { 1 } else { crashes_in_a_row + 1 };
        status.restarts += 1;
        status.ready = false;
        status.last = json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started_at, "finishedAt": now_rfc3339()}});
        let delay = backoff(crashes_in_a_row);
        status.state = json!({"waiting": {"reason": "CrashLoopBackOff",
            "message": format!("back-off {}s restarting failed container={} pod={name}", delay.as_secs(), container.name)}});
        report(&client, &pod, &container, ips, &status).await;
        if wait_or_stop(&mut stop, delay).await {
            break;
        }
    }
    sandbox.remove().await;
}

/// How a supervised process ended.
enum Ending {
    /// It exited (or was killed for failing its liveness probe): exit code and reason.
    Exited(i32, &'static str),
    /// The Pod is being deleted: the process was stopped.
    Stopped,
}

#[allow(clippy::too_many_arguments)]
async fn supervise(
    child: &mut tokio::process::Child,
    client: &Client,
    pod: &Pod,
    container: &Container,
    ips: PodIps,
    status: &mut ContainerState,
    (readiness, liveness): (&Option<ProbeSpec>, &Option<ProbeSpec>),
    stop: &mut watch::Receiver<bool>,
    grace: Duration,
) -> Ending {
    let started = tokio::time::Instant::now();
    let next_at = |spec: &Option<ProbeSpec>| spec.as_ref().map(|s| started + s.initial_delay);
    let (mut next_readiness, mut next_liveness) = (next_at(readiness), next_at(liveness));
    let (mut ready_state, mut live_state) = (ProbeState::new(false), ProbeState::new(true));
    let far = started + Duration::from_secs(86_400);
    let address = ips.pod.to_string();
    loop {
        tokio::select! {
            exit = child.wait() => {
                let code = exit.ok().and_then(|s| s.code()).unwrap_or(137);
                return Ending::Exited(code, if code == 0 { "Completed" } else { "Error" });
            }
            _ = stop.changed() => {
                terminate(child, grace).await;
                return Ending::Stopped;
            }
            _ = tokio::time::sleep_until(next_readiness.unwrap_or(far)), if next_readiness.is_some() => {
                let Some(spec) = readiness else { continue };
                let passed = probes::check(&address, spec).await;
                if ready_state.observe(passed, spec) {
                    status.ready = ready_state.passing;
                    report(client, pod, container, ips, status).await;
                }
                next_readiness = Some(tokio::time::Instant::now() + spec.period);
            }
            _ = tokio::time::sleep_until(next_liveness.unwrap_or(far)), if next_liveness.is_some() => {
                let Some(spec) = liveness else { continue };
                let passed = probes::check(&address, spec).await;
                if live_state.observe(passed, spec) && !live_state.passing {
                    tracing::info!(pod = ?pod.metadata.name, "liveness probe failed: restarting the container");
                    terminate(child, grace).await;
                    return Ending::Exited(137, "Error");
                }
                next_liveness = Some(tokio::time::Instant::now() + spec.period);
            }
        }
    }
}

/// SIGTERM to the process group, the grace period, then SIGKILL.
async fn terminate(child: &mut tokio::process::Child, grace: Duration) {
    if let Some(pid) = child.id() {
        signal_group(pid, libc::SIGTERM);
        if tokio::time::timeout(grace, child.wait()).await.is_err() {
            signal_group(pid, libc::SIGKILL);
        }
    }
    let _ = child.wait().await;
}

/// Waits `delay` unless the Pod is stopped first; true when stopped.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(delay) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// Reads what the container refers to and writes its root: the launch, or the kubelet's config error.
async fn prepare(
    client: &Client,
    pod: &Pod,
    container: &Container,
    real: &RealContainers,
    ip: Ipv4Addr,
    sandbox: &Sandbox,
) -> Result<Launch, String> {
    let referenced = read_references(client, pod, container).await?;
    let facts = container_spec::Sandbox {
        pod_ip: ip.to_string(),
        host_ip: real.network.gateway.to_string(),
        api_host: real.api_host.clone(),
        api_port: real.api_port,
    };
    let launch = container_spec::launch_of(pod, container, &referenced, &facts).map_err(|ConfigError(m)| m)?;
    sandbox.prepare_root(&launch).map_err(|e| format!("cannot write the Pod's volumes: {e}"))?;
    Ok(launch)
}

async fn read_references(client: &Client, pod: &Pod, container: &Container) -> Result<Referenced, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut referenced = Referenced::default();
    for reference in container_spec::references(pod, container) {
        match reference {
            Reference::ConfigMap(name) => {
                let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
                if let Some(map) = api.get_opt(&name).await.map_err(|e| format!("configmap {name}: {e}"))? {
                    let mut data: BTreeMap<String, Vec<u8>> =
                        map.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
                    data.extend(map.binary_data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)));
                    referenced.config_maps.insert(name, data);
                }
            }
            Reference::Secret(name) => {
                let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
                if let Some(secret) = api.get_opt(&name).await.map_err(|e| format!("secret {name}: {e}"))? {
                    let data = secret.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
                    referenced.secrets.insert(name, data);
                }
            }
            Reference::Token { audience, seconds } => {
                let token = request_token(client, pod, &audience, seconds).await?;
                referenced.tokens.insert((audience, seconds), token);
            }
        }
    }
    Ok(referenced)
}

/// A token of the Pod's ServiceAccount from the TokenRequest API, bound to the Pod as a kubelet's is.
async fn request_token(client: &Client, pod: &Pod, audience: &str, seconds: i64) -> Result<String, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let account = pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into());
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let audiences: Vec<String> = if audience.is_empty() { Vec::new() } else { vec![audience.to_owned()] };
    let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
        "audiences": audiences, "expirationSeconds": seconds,
        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name, "uid": pod.metadata.uid}}});
    let answer: TokenRequest = api
        .create_subresource::<_, TokenRequest>("token", &account, &PostParams::default(), &request)
        .await
        .map_err(|e| format!("cannot request a token for service account {namespace}/{account}: {e}"))?;
    answer.status.map(|s| s.token).ok_or_else(|| "the token request returned no token".to_owned())
}

/// Writes the Pod's status: phase, IP, conditions, and each container's status (the real one's from
/// `real`; any other container has no process here and is reported running and ready).
async fn report(client: &Client, pod: &Pod, real_container: &Container, ips: PodIps, real: &ContainerState) {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let status = pod_status(pod, real_container, ips, real);
    if let Err(error) = api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await {
        tracing::debug!(%error, pod = name, "cannot report the Pod's status");
    }
}

fn pod_status(pod: &Pod, real_container: &Container, ips: PodIps, real: &ContainerState) -> Value {
    let (ip, host) = (ips.pod, ips.host);
    let containers = pod.spec.iter().flat_map(|s| s.containers.iter());
    let now = now_rfc3339();
    let statuses: Vec<Value> = containers
        .map(|c| {
            let image = c.image.clone().unwrap_or_default();
            let (ready, restarts, state, last) = if c.name == real_container.name {
                (real.ready, real.restarts, real.state.clone(), real.last.clone())
            } else {
                (true, 0, json!({"running": {"startedAt": now}}), json!({}))
            };
            json!({"name": c.name, "image": image, "imageID": format!("{image}@none"), "ready": ready,
                "started": state.get("running").is_some(), "restartCount": restarts, "state": state, "lastState": last})
        })
        .collect();
    let ready = real.ready;
    let started = real.state.get("running").is_some() || real.restarts > 0;
    let condition = |kind: &str, status: bool| json!({"type": kind, "status": if status { "True" } else { "False" }, "lastTransitionTime": now});
    json!({"status": {
        "phase": if started { "Running" } else { "Pending" }, "hostIP": host.to_string(), "podIP": ip.to_string(),
        "podIPs": [{"ip": ip.to_string()}], "startTime": now,
        "conditions": [condition("PodScheduled", true), condition("Initialized", true),
            condition("ContainersReady", ready), condition("Ready", ready)],
        "containerStatuses": statuses}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_from_ten_seconds_up_to_five_minutes() {
        let delays: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(backoff(0).as_secs(), 10);
        assert_eq!(backoff(u32::MAX).as_secs(), 300);
    }

    #[test]
    fn the_image_table_maps_images_to_binaries_and_names_a_bad_line() {
        let table = "# comment\n\nquay.io/a:v1\t/cache/a-v1\nquay.io/b:v2\t/cache/b-v2\n";
        let images = parse_images(table).unwrap();
        assert_eq!(images["quay.io/a:v1"], PathBuf::from("/cache/a-v1"));
        assert_eq!(images.len(), 2);
        assert_eq!(parse_images("ok\t/x\nbroken line\n").unwrap_err().0, 2);
    }

    #[test]
    fn a_pod_is_ready_only_when_its_real_container_is() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "op", "image": "real"}, {"name": "sidecar", "image": "other"}]}}))
        .unwrap();
        let container = pod.spec.as_ref().unwrap().containers[0].clone();
        let waiting = ContainerState {
            restarts: 2,
            ready: false,
            state: json!({"waiting": {"reason": "CrashLoopBackOff"}}),
            last: json!({}),
        };
        let ips = PodIps { pod: Ipv4Addr::new(10, 213, 0, 2), host: Ipv4Addr::new(10, 213, 0, 1) };
        let status = pod_status(&pod, &container, ips, &waiting);
        assert_eq!(status["status"]["phase"], "Running", "a container that ran before keeps the Pod Running");
        assert_eq!(
            status["status"]["conditions"][3],
            json!({"type": "Ready", "status": "False", "lastTransitionTime": status["status"]["conditions"][3]["lastTransitionTime"]})
        );
        assert_eq!(status["status"]["containerStatuses"][0]["restartCount"], 2);
        assert_eq!(status["status"]["containerStatuses"][1]["ready"], true);
        assert_eq!(status["status"]["podIP"], "10.213.0.2");
    }
}
