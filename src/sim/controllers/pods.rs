//! The kubelet (and scheduler): every pod is put on `sim-node` and moved through its phases as its
//! images' scenario behaviour says: Pending first, Running and Ready after `readyAfterMs`; a crash-looping
//! image stays not Ready in `CrashLoopBackOff` with one more restart per simulated second; a Job's pod
//! runs for `jobDurationMs` and then Succeeded (or Failed with `jobFails`).
//!
//! A deleted pod terminates: its containers keep running (an operator keeps reconciling) until its
//! `deletionGracePeriodSeconds` have passed, or sooner when every container's image exits `shutdownMs`
//! after the deletion; then the kubelet removes it from the store.

use super::{
    condition_is_true, controller_ref, is_deleting, merged_conditions, namespace_of, object_at, pods_resource,
    random_suffix, same_object, uid_of, Condition, Env,
};
use crate::sim::scenario::Scenario;
use crate::sim::store::DeleteOptions;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The node every simulated pod runs on.
const NODE_NAME: &str = "sim-node";
const HOST_IP: &str = "10.0.0.10";
/// How often a crash-looping container restarts, in simulated milliseconds.
const RESTART_EVERY_MS: u64 = 1000;
/// Generated names rarely collide; a few draws make a collision practically impossible to hit twice.
const NAME_ATTEMPTS: usize = 5;

/// The kubelet with what it remembers between ticks.
#[derive(Default)]
pub(super) struct Kubelet {
    /// When each pod (by uid) was first seen, in simulated milliseconds: its clock starts then.
    first_seen_ms: HashMap<String, u64>,
    /// Pod IPs handed out so far.
    ips_handed_out: u32,
    /// When each terminating pod (by uid) was first seen deleted, in simulated milliseconds.
    terminating_since_ms: HashMap<String, u64>,
}

/// Where a pod is in its life, as far as the simulation distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Pending,
    /// Running; `restarts` counts a crash-looping container's restarts (0 otherwise).
    Running {
        restarts: u64,
    },
    Succeeded,
    Failed,
}

/// How a pod runs, from its containers' images in the scenario.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PodPlan {
    ready_after_ms: u64,
    crash_loop: bool,
    /// Crashes once, this long after it is Ready.
    restart_after_ms: Option<u64>,
    /// Set for pods a Job owns: they run to completion.
    job: Option<JobRun>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct JobRun {
    duration_ms: u64,
    fails: bool,
}

impl Kubelet {
    /// Advances every pod whose stage is due to change.
    pub(super) fn sync(&mut self, env: &mut Env<'_>) {
        let (pods, _) = env.state.store.list(&pods_resource(), None);
        let mut live = HashSet::new();
        let mut terminating = HashSet::new();
        for pod in pods.iter().filter(|p| is_deleting(p)) {
            terminating.insert(uid_of(pod));
            self.terminate(env, pod);
        }
        self.terminating_since_ms.retain(|uid, _| terminating.contains(uid.as_str()));
        for pod in pods.iter().filter(|p| !is_deleting(p)) {
            let uid = uid_of(pod);
            live.insert(uid);
            let first_seen_ms = match self.first_seen_ms.get(uid) {
                Some(ms) => *ms,
                None => *self.first_seen_ms.entry(uid.to_owned()).or_insert(env.now_ms),
            };
            let plan = PodPlan::of(pod, env.scenario);
            let current = current_stage(pod);
            let wanted = wanted_stage(current, plan, env.now_ms.saturating_sub(first_seen_ms));
            if current != Some(wanted) {
                self.write_stage(env, pod, wanted);
            }
        }
        self.first_seen_ms.retain(|uid, _| live.contains(uid.as_str()) || terminating.contains(uid.as_str()));
    }

    /// Removes a terminating pod once its containers have stopped.
    fn terminate(&mut self, env: &Env<'_>, pod: &Value) {
        let uid = uid_of(pod);
        let since = match self.terminating_since_ms.get(uid) {
            Some(ms) => *ms,
            None => *self.terminating_since_ms.entry(uid.to_owned()).or_insert(env.now_ms),
        };
        if env.now_ms.saturating_sub(since) < stop_after_ms(pod, env.scenario) {
            return;
        }
        let options = DeleteOptions { grace_period_seconds: Some(0), uid: Some(uid) };
        // Gone already, recreated, or held by finalizers: nothing more to do here.
        let _ = env.state.store.delete_with(&pods_resource(), namespace_of(pod), super::name_of(pod), options);
    }

    fn write_stage(&mut self, env: &Env<'_>, pod: &Value, stage: Stage) {
        let ip = match pod["status"]["podIP"].as_str() {
            Some(ip) => ip.to_owned(),
            None if matches!(stage, Stage::Pending) => String::new(),
            None => self.next_ip(),
        };
        let status = pod_status(env, pod, stage, &ip);
        let uid = uid_of(pod).to_owned();
        // Gone or recreated since the list: nothing to advance.
        let _ = env.state.store.modify(&pods_resource(), namespace_of(pod), super::name_of(pod), |current| {
            same_object(current, &uid)?;
            if let Some(spec) = object_at(current, &["spec"]) {
                spec.entry("nodeName".to_owned()).or_insert_with(|| json!(NODE_NAME));
            }
            if let Some(map) = current.as_object_mut() {
                map.insert("status".to_owned(), status);
            }
            Ok(())
        });
    }

    /// Addresses in 10.244.0.0/16, handed out in order so runs are reproducible.
    fn next_ip(&mut self) -> String {
        let n = self.ips_handed_out;
        self.ips_handed_out = self.ips_handed_out.wrapping_add(1);
        format!("10.244.{}.{}", (n / 254) % 256, n % 254 + 1)
    }
}

impl PodPlan {
    fn of(pod: &Value, scenario: &Scenario) -> PodPlan {
        let behaviours: Vec<_> = containers(pod).iter().filter_map(|c| scenario.image(c["image"].as_str()?)).collect();
        let is_job_pod = controller_ref(pod).is_some_and(|owner| owner["kind"].as_str() == Some("Job"));
        PodPlan {
            ready_after_ms: behaviours.iter().map(|b| b.ready_after_ms).max().unwrap_or(0),
            crash_loop: behaviours.iter().any(|b| b.crash_loop),
            restart_after_ms: behaviours.iter().filter_map(|b| b.restart_after_ms).min(),
            job: is_job_pod.then(|| JobRun {
                duration_ms: behaviours.iter().map(|b| b.job_duration_ms).max().unwrap_or(0),
                fails: behaviours.iter().any(|b| b.job_fails),
            }),
        }
    }
}

/// How long after its deletion a pod's containers have all stopped: the grace period, or sooner when
/// every container's image exits `shutdownMs` after the signal.
fn stop_after_ms(pod: &Value, scenario: &Scenario) -> u64 {
    let grace_ms = pod["metadata"]["deletionGracePeriodSeconds"].as_u64().unwrap_or(30).saturating_mul(1000);
    let exits = containers(pod).iter().map(|c| {
        let image = c["image"].as_str().unwrap_or_default();
        scenario.image(image).and_then(|b| b.shutdown_ms).unwrap_or(grace_ms).min(grace_ms)
    });
    exits.max().unwrap_or(0)
}

fn containers(pod: &Value) -> &[Value] {
    pod["spec"]["containers"].as_array().map_or(&[], Vec::as_slice)
}

/// The stage the pod's status shows; None when it has none the kubelet wrote (a new pod).
fn current_stage(pod: &Value) -> Option<Stage> {
    match pod["status"]["phase"].as_str()? {
        "Pending" => Some(Stage::Pending),
        "Running" => Some(Stage::Running { restarts: restart_count(pod) }),
        "Succeeded" => Some(Stage::Succeeded),
        "Failed" => Some(Stage::Failed),
        _ => None,
    }
}

/// Where a pod should be after `elapsed_ms` since the kubelet first saw it. A new pod is always shown
/// Pending first, as the API server creates it; pods never go back (a pod written as Running by someone
/// else stays Running, finished pods stay finished).
fn wanted_stage(current: Option<Stage>, plan: PodPlan, elapsed_ms: u64) -> Stage {
    let running = match current {
        None => return Stage::Pending,
        Some(finished @ (Stage::Succeeded | Stage::Failed)) => return finished,
        Some(running @ Stage::Running { .. }) => Some(running),
        Some(Stage::Pending) => None,
    };
    let Some(running_ms) = elapsed_ms.checked_sub(plan.ready_after_ms) else {
        return running.unwrap_or(Stage::Pending);
    };
    match plan.job {
        Some(job) if running_ms >= job.duration_ms && job.fails => Stage::Failed,
        Some(job) if running_ms >= job.duration_ms => Stage::Succeeded,
        Some(_) => Stage::Running { restarts: 0 },
        // It has crashed once by the time it is in CrashLoopBackOff.
        None if plan.crash_loop => Stage::Running { restarts: 1 + running_ms / RESTART_EVERY_MS },
        None if plan.restart_after_ms.is_some_and(|after| running_ms >= after) => Stage::Running { restarts: 1 },
        None => Stage::Running { restarts: 0 },
    }
}

/// The highest restart count of the pod's containers.
pub(super) fn restart_count(pod: &Value) -> u64 {
    let statuses = pod["status"]["containerStatuses"].as_array();
    statuses.map_or(0, |s| s.iter().filter_map(|c| c["restartCount"].as_u64()).max().unwrap_or(0))
}

/// The whole pod status for a stage; start times already written are kept.
fn pod_status(env: &Env<'_>, pod: &Value, stage: Stage, ip: &str) -> Value {
    let previous = &pod["status"];
    let start_time = previous["startTime"].as_str().unwrap_or(&env.now).to_owned();
    let container_statuses: Vec<Value> =
        containers(pod).iter().map(|c| container_status(env, pod, c, stage, &start_time)).collect();
    let ready = matches!(stage, Stage::Running { .. }) && container_statuses.iter().all(|c| c["ready"] == json!(true));
    let unready: Vec<&str> =
        container_statuses.iter().filter(|c| c["ready"] != json!(true)).filter_map(|c| c["name"].as_str()).collect();
    let phase = match stage {
        Stage::Pending => "Pending",
        Stage::Running { .. } => "Running",
        Stage::Succeeded => "Succeeded",
        Stage::Failed => "Failed",
    };
    let mut status = Map::new();
    status.insert("phase".to_owned(), json!(phase));
    status.insert("conditions".to_owned(), pod_conditions(&previous["conditions"], stage, ready, &unready, &env.now));
    status.insert("hostIP".to_owned(), json!(HOST_IP));
    status.insert("hostIPs".to_owned(), json!([{"ip": HOST_IP}]));
    if !ip.is_empty() {
        status.insert("podIP".to_owned(), json!(ip));
        status.insert("podIPs".to_owned(), json!([{"ip": ip}]));
    }
    status.insert("startTime".to_owned(), json!(start_time));
    status.insert("qosClass".to_owned(), json!("BestEffort"));
    status.insert("containerStatuses".to_owned(), json!(container_statuses));
    Value::Object(status)
}

fn pod_conditions(previous: &Value, stage: Stage, ready: bool, unready: &[&str], now: &str) -> Value {
    let finished = matches!(stage, Stage::Succeeded | Stage::Failed);
    let (reason, message) = match (ready, finished) {
        (true, _) => ("", String::new()),
        (false, true) => ("PodCompleted", String::new()),
        (false, false) => ("ContainersNotReady", format!("containers with unready status: [{}]", unready.join(" "))),
    };
    let wanted = [
        Condition { kind: "Initialized", status: true, reason: "", message: String::new() },
        Condition { kind: "Ready", status: ready, reason, message: message.clone() },
        Condition { kind: "ContainersReady", status: ready, reason, message },
        Condition { kind: "PodScheduled", status: true, reason: "", message: String::new() },
    ];
    merged_conditions(previous, &wanted, now, false)
}

fn container_status(env: &Env<'_>, pod: &Value, container: &Value, stage: Stage, pod_start: &str) -> Value {
    let name = container["name"].as_str().unwrap_or_default();
    let image = container["image"].as_str().unwrap_or_default();
    let crash_loop = env.scenario.image(image).is_some_and(|b| b.crash_loop);
    let previous = pod["status"]["containerStatuses"]
        .as_array()
        .and_then(|s| s.iter().find(|c| c["name"].as_str() == Some(name)))
        .unwrap_or(&Value::Null);
    let started_at = previous["state"]["running"]["startedAt"].as_str().unwrap_or(pod_start).to_owned();
    let (state, ready, restarts, last_state) = match stage {
        Stage::Pending => (json!({"waiting": {"reason": "ContainerCreating"}}), false, 0, json!({})),
        Stage::Running { restarts } if crash_loop => {
            let message = format!("back-off 10s restarting failed container={name} pod={}", super::name_of(pod));
            let terminated = json!({"exitCode": 1, "reason": "Error", "startedAt": started_at, "finishedAt": env.now});
            let last = json!({ "terminated": terminated });
            (json!({"waiting": {"reason": "CrashLoopBackOff", "message": message}}), false, restarts, last)
        }
        // A container that crashed and came back (`restartAfterMs`) shows its restarts, ready again.
        Stage::Running { restarts } => {
            let last = match restarts {
                0 => json!({}),
                _ => {
                    json!({"terminated": {"exitCode": 2, "reason": "Error", "startedAt": pod_start, "finishedAt": started_at}})
                }
            };
            (json!({"running": {"startedAt": started_at}}), true, restarts, last)
        }
        Stage::Succeeded | Stage::Failed => {
            let (code, reason) = if stage == Stage::Failed { (1, "Error") } else { (0, "Completed") };
            let terminated =
                json!({"exitCode": code, "reason": reason, "startedAt": started_at, "finishedAt": env.now});
            (json!({"terminated": terminated}), false, 0, json!({}))
        }
    };
    json!({
        "name": name,
        "image": image,
        "imageID": format!("{image}@sha256:{}", "0".repeat(64)),
        "containerID": format!("containerd://{}-{name}", uid_of(pod)),
        "ready": ready,
        "started": ready,
        "restartCount": restarts,
        "state": state,
        "lastState": last_state,
    })
}

/// Creates a pod from a template for `owner` (named `{owner}-{5 random characters}`), with the template's
/// labels plus `extra_labels`, already scheduled on the simulated node.
pub(super) fn create_pod(
    env: &mut Env<'_>,
    template: &Value,
    owner: &Value,
    extra_labels: &[(&str, &str)],
    owner_reference: &Value,
) -> Option<Arc<Value>> {
    let mut labels = template["metadata"]["labels"].as_object().cloned().unwrap_or_default();
    for (key, value) in extra_labels {
        labels.insert((*key).to_owned(), json!(value));
    }
    let mut spec = template["spec"].as_object().cloned().unwrap_or_default();
    spec.entry("nodeName".to_owned()).or_insert_with(|| json!(NODE_NAME));
    let mut metadata =
        json!({"namespace": namespace_of(owner), "labels": labels, "ownerReferences": [owner_reference]});
    if let Some(annotations) = template["metadata"]["annotations"].as_object() {
        metadata["annotations"] = json!(annotations);
    }
    for _ in 0..NAME_ATTEMPTS {
        metadata["name"] = json!(format!("{}-{}", super::name_of(owner), random_suffix(env.rng, 5)));
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec});
        match env.state.store.create(&pods_resource(), pod) {
            Ok(pod) => return Some(pod),
            Err(error) if error.code == 409 => continue,
            Err(_) => return None,
        }
    }
    None
}

/// Whether a pod runs and is Ready: only such operator pods reconcile.
pub(super) fn is_running_and_ready(pod: &Value) -> bool {
    pod["status"]["phase"].as_str() == Some("Running") && condition_is_true(&pod["status"]["conditions"], "Ready")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: PodPlan = PodPlan { ready_after_ms: 300, crash_loop: false, restart_after_ms: None, job: None };

    #[test]
    fn a_new_pod_is_pending_until_its_image_is_ready() {
        assert_eq!(wanted_stage(None, PodPlan::default(), 10_000), Stage::Pending);
        assert_eq!(wanted_stage(Some(Stage::Pending), PLAIN, 299), Stage::Pending);
        assert_eq!(wanted_stage(Some(Stage::Pending), PLAIN, 300), Stage::Running { restarts: 0 });
        assert_eq!(wanted_stage(Some(Stage::Running { restarts: 0 }), PLAIN, 0), Stage::Running { restarts: 0 });
    }

    #[test]
    fn crash_loops_restart_once_a_second() {
        let plan = PodPlan { crash_loop: true, ..PLAIN };
        assert_eq!(wanted_stage(Some(Stage::Pending), plan, 300), Stage::Running { restarts: 1 });
        assert_eq!(wanted_stage(Some(Stage::Running { restarts: 1 }), plan, 2_400), Stage::Running { restarts: 3 });
    }

    #[test]
    fn a_pod_restarting_once_comes_back_ready_with_one_restart() {
        let plan = PodPlan { restart_after_ms: Some(1_000), ..PLAIN };
        assert_eq!(wanted_stage(Some(Stage::Pending), plan, 1_299), Stage::Running { restarts: 0 });
        assert_eq!(wanted_stage(Some(Stage::Running { restarts: 0 }), plan, 1_300), Stage::Running { restarts: 1 });
        assert_eq!(wanted_stage(Some(Stage::Running { restarts: 1 }), plan, 60_000), Stage::Running { restarts: 1 });
    }

    #[test]
    fn a_deleted_pod_stops_after_its_grace_period_or_its_shutdown_time() {
        let scenario = Scenario {
            images: vec![
                crate::sim::ImageBehaviour { image: "quick".into(), shutdown_ms: Some(500), ..Default::default() },
                crate::sim::ImageBehaviour { image: "slow".into(), shutdown_ms: Some(60_000), ..Default::default() },
            ],
            ..Scenario::default()
        };
        let pod = |grace: Value, images: &[&str]| {
            let containers: Vec<Value> = images.iter().map(|i| json!({"image": i})).collect();
            json!({"metadata": {"deletionGracePeriodSeconds": grace}, "spec": {"containers": containers}})
        };
        assert_eq!(stop_after_ms(&pod(json!(2), &["plain"]), &scenario), 2_000);
        assert_eq!(stop_after_ms(&pod(json!(2), &["quick"]), &scenario), 500);
        assert_eq!(stop_after_ms(&pod(json!(2), &["slow"]), &scenario), 2_000, "never later than the grace period");
        assert_eq!(stop_after_ms(&pod(json!(2), &["quick", "plain"]), &scenario), 2_000, "the last container counts");
        assert_eq!(stop_after_ms(&pod(Value::Null, &["plain"]), &scenario), 30_000);
        assert_eq!(stop_after_ms(&pod(json!(0), &["quick"]), &scenario), 0);
    }

    #[test]
    fn job_pods_finish_after_their_duration_and_stay_finished() {
        let succeeds = PodPlan { job: Some(JobRun { duration_ms: 1000, fails: false }), ..PLAIN };
        let fails = PodPlan { job: Some(JobRun { duration_ms: 1000, fails: true }), ..PLAIN };
        assert_eq!(wanted_stage(Some(Stage::Running { restarts: 0 }), succeeds, 1_299), Stage::Running { restarts: 0 });
        assert_eq!(wanted_stage(Some(Stage::Running { restarts: 0 }), succeeds, 1_300), Stage::Succeeded);
        assert_eq!(wanted_stage(Some(Stage::Running { restarts: 0 }), fails, 1_300), Stage::Failed);
        assert_eq!(wanted_stage(Some(Stage::Failed), succeeds, 0), Stage::Failed);
    }
}
