//! The Deployment controller: one ReplicaSet per pod template (named after the template's hash), rolled
//! out step by step within maxSurge / maxUnavailable as the new pods become available, and the status and
//! conditions `kubectl rollout status` reads.
//!
//! Simplifications: `paused`, `minReadySeconds` (available = Ready) and orphan adoption are not simulated;
//! ReplicaSets are found through their controller owner reference, never through the selector.

use super::fnv::Fnv1a;
use super::{
    deployments_resource, find_condition, generation_of, is_deleting, merged_conditions, name_of, namespace_of,
    object_at, owner_reference, replicasets_resource, same_object, set_annotation, uid_of, Condition, Env,
};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};

/// The annotation holding a rollout's revision, on the Deployment and each of its ReplicaSets.
const REVISION: &str = "deployment.kubernetes.io/revision";
/// The label that keeps the pods of different templates apart.
const HASH_LABEL: &str = "pod-template-hash";
/// Kubernetes' default when `spec.progressDeadlineSeconds` is absent.
const DEFAULT_PROGRESS_DEADLINE_SECONDS: u64 = 600;
/// Kubernetes' default `spec.revisionHistoryLimit`: old ReplicaSets scaled to zero that are kept.
const DEFAULT_REVISION_HISTORY: usize = 10;

/// The Deployment controller with what it remembers between ticks.
#[derive(Default)]
pub(super) struct DeploymentController {
    /// When each Deployment (by uid) last made progress, in simulated time, for its progress deadline.
    progress: HashMap<String, Progress>,
}

/// The last progress of one Deployment.
struct Progress {
    generation: i64,
    new_replicaset: String,
    since_ms: u64,
}

/// Rolling-update limits resolved against the desired replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Budget {
    max_surge: i64,
    max_unavailable: i64,
}

/// How a Deployment replaces its pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    Rolling(Budget),
    /// All old pods go before any new one starts.
    Recreate,
}

/// The replica counts of one ReplicaSet: wanted (`spec`) and observed (status).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ReplicaCounts {
    spec: i64,
    replicas: i64,
    ready: i64,
    available: i64,
}

/// The replicas each ReplicaSet should have next.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Targets {
    new: i64,
    /// In the order the old ReplicaSets were given (oldest first).
    olds: Vec<i64>,
}

impl DeploymentController {
    /// Syncs every Deployment with its ReplicaSets and writes its status.
    pub(super) fn sync(&mut self, env: &mut Env<'_>) {
        let (deployments, _) = env.state.store.list(&deployments_resource(), None);
        let (replicasets, _) = env.state.store.list(&replicasets_resource(), None);
        let mut owned: HashMap<&str, Vec<&Value>> = HashMap::new();
        for replicaset in &replicasets {
            if let Some(owner) = super::controller_uid(replicaset) {
                owned.entry(owner).or_default().push(replicaset);
            }
        }
        let mut live = HashSet::new();
        for deployment in deployments.iter().filter(|d| !is_deleting(d)) {
            live.insert(uid_of(deployment).to_owned());
            let replicasets = owned.remove(uid_of(deployment)).unwrap_or_default();
            self.sync_deployment(env, deployment, replicasets);
        }
        self.progress.retain(|uid, _| live.contains(uid));
    }

    fn sync_deployment(&mut self, env: &mut Env<'_>, deployment: &Value, replicasets: Vec<&Value>) {
        let spec = &deployment["spec"];
        let desired = desired_replicas(spec);
        let strategy = Strategy::of(spec, desired);
        let hash = template_hash(&spec["template"]);
        let new_name = format!("{}-{hash}", name_of(deployment));
        let (new_replicaset, mut old_replicasets): (Vec<&Value>, Vec<&Value>) =
            replicasets.into_iter().partition(|rs| name_of(rs) == new_name);
        let new_replicaset = new_replicaset.into_iter().next();
        old_replicasets.sort_by_key(|rs| (revision_of(rs), name_of(rs).to_owned()));
        let new_counts = new_replicaset.map(ReplicaCounts::of).unwrap_or_default();
        let old_counts: Vec<ReplicaCounts> = old_replicasets.iter().map(|rs| ReplicaCounts::of(rs)).collect();

        let targets = strategy.targets(desired, new_counts, &old_counts);
        let revision = new_revision(new_replicaset, &old_replicasets);
        match new_replicaset {
            Some(replicaset) => scale_replicaset(env, replicaset, targets.new, Some(revision)),
            None => create_replicaset(env, deployment, &new_name, &hash, targets.new, revision),
        }
        for (replicaset, target) in old_replicasets.iter().zip(&targets.olds) {
            scale_replicaset(env, replicaset, *target, None);
        }
        prune_history(env, spec, &old_replicasets);

        let counts = StatusCounts::of(new_counts, &old_counts);
        let complete = counts.is_complete(desired);
        let progressing = self.progressing(env, deployment, &new_name, &counts, complete);
        let conditions = rollout_conditions(desired, strategy, &counts, &new_name, progressing);
        let conditions = merged_conditions(&deployment["status"]["conditions"], &conditions, &env.now, true);
        let status = counts.to_status(generation_of(deployment), conditions);
        write_deployment(env, deployment, revision, status);
    }

    /// The Progressing condition's state, as the Kubernetes controller decides it: complete, progressing
    /// (a new template, or more updated/ready/available replicas, or fewer old ones), or stuck past the
    /// progress deadline (measured in simulated time since the last progress).
    fn progressing(
        &mut self,
        env: &Env<'_>,
        deployment: &Value,
        new_name: &str,
        counts: &StatusCounts,
        complete: bool,
    ) -> Progressing {
        let generation = generation_of(deployment);
        let uid = uid_of(deployment).to_owned();
        let remembered = self.progress.get(&uid);
        let moved_on = remembered.is_none_or(|p| p.generation != generation || p.new_replicaset != new_name);
        if complete || moved_on || counts.progressed_since(&deployment["status"]) {
            self.progress
                .insert(uid, Progress { generation, new_replicaset: new_name.to_owned(), since_ms: env.now_ms });
            return if complete { Progressing::Complete } else { Progressing::Updated };
        }
        let since_ms = remembered.map_or(env.now_ms, |p| p.since_ms);
        let previous = find_condition(&deployment["status"]["conditions"], "Progressing");
        let previous_reason = previous.and_then(|p| p["reason"].as_str()).unwrap_or_default();
        let deadline_ms = progress_deadline_seconds(&deployment["spec"]).saturating_mul(1000);
        match previous_reason {
            // A finished rollout does not time out when a pod fails later, as in Kubernetes.
            "NewReplicaSetAvailable" => Progressing::Complete,
            _ if env.now_ms.saturating_sub(since_ms) > deadline_ms => Progressing::TimedOut,
            "ProgressDeadlineExceeded" => Progressing::TimedOut,
            _ => Progressing::Updated,
        }
    }
}

/// The state the Progressing condition reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progressing {
    Complete,
    Updated,
    TimedOut,
}

/// The Deployment status counts, summed over its ReplicaSets as Kubernetes does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct StatusCounts {
    replicas: i64,
    updated: i64,
    ready: i64,
    available: i64,
    unavailable: i64,
}

impl StatusCounts {
    fn of(new: ReplicaCounts, olds: &[ReplicaCounts]) -> StatusCounts {
        let all = || std::iter::once(&new).chain(olds);
        let wanted: i64 = all().map(|c| c.spec).sum();
        let available: i64 = all().map(|c| c.available).sum();
        StatusCounts {
            replicas: all().map(|c| c.replicas).sum(),
            updated: new.replicas,
            ready: all().map(|c| c.ready).sum(),
            available,
            // More available than wanted happens while scaling down; that is not "negative unavailable".
            unavailable: (wanted - available).max(0),
        }
    }

    /// Every desired replica runs the new template and is available, and no old pod is left.
    fn is_complete(&self, desired: i64) -> bool {
        self.updated == desired && self.replicas == desired && self.available == desired
    }

    /// Whether the rollout moved forward compared with the written status.
    fn progressed_since(&self, status: &Value) -> bool {
        let previous = |key: &str| status[key].as_i64().unwrap_or(0);
        let old_pods = self.replicas - self.updated;
        let previous_old_pods = previous("replicas") - previous("updatedReplicas");
        self.updated > previous("updatedReplicas")
            || old_pods < previous_old_pods
            || self.ready > previous("readyReplicas")
            || self.available > previous("availableReplicas")
    }

    /// The status object; zero counts are left out, as the API server's omitempty does.
    fn to_status(self, generation: i64, conditions: Value) -> Value {
        let mut status = Map::new();
        status.insert("observedGeneration".to_owned(), json!(generation));
        let counts = [
            ("replicas", self.replicas),
            ("updatedReplicas", self.updated),
            ("readyReplicas", self.ready),
            ("availableReplicas", self.available),
            ("unavailableReplicas", self.unavailable),
        ];
        for (key, value) in counts.into_iter().filter(|(_, value)| *value != 0) {
            status.insert(key.to_owned(), json!(value));
        }
        status.insert("conditions".to_owned(), conditions);
        Value::Object(status)
    }
}

/// The Available and Progressing conditions, with Kubernetes' reasons and messages.
fn rollout_conditions(
    desired: i64,
    strategy: Strategy,
    counts: &StatusCounts,
    new_name: &str,
    progressing: Progressing,
) -> Vec<Condition<'static>> {
    let minimum = desired - strategy.max_unavailable(desired);
    let available = if counts.available >= minimum {
        Condition {
            kind: "Available",
            status: true,
            reason: "MinimumReplicasAvailable",
            message: "Deployment has minimum availability.".to_owned(),
        }
    } else {
        Condition {
            kind: "Available",
            status: false,
            reason: "MinimumReplicasUnavailable",
            message: "Deployment does not have minimum availability.".to_owned(),
        }
    };
    let (status, reason, message) = match progressing {
        Progressing::Complete => {
            (true, "NewReplicaSetAvailable", format!("ReplicaSet \"{new_name}\" has successfully progressed."))
        }
        Progressing::Updated => (true, "ReplicaSetUpdated", format!("ReplicaSet \"{new_name}\" is progressing.")),
        Progressing::TimedOut => {
            (false, "ProgressDeadlineExceeded", format!("ReplicaSet \"{new_name}\" has timed out progressing."))
        }
    };
    vec![available, Condition { kind: "Progressing", status, reason, message }]
}

impl Strategy {
    fn of(spec: &Value, desired: i64) -> Strategy {
        match spec["strategy"]["type"].as_str() {
            Some("Recreate") => Strategy::Recreate,
            _ => Strategy::Rolling(rolling_budget(&spec["strategy"]["rollingUpdate"], desired)),
        }
    }

    /// How many replicas may be unavailable, as the Available condition counts it.
    fn max_unavailable(self, desired: i64) -> i64 {
        match self {
            Strategy::Rolling(budget) => budget.max_unavailable.min(desired),
            Strategy::Recreate => 0,
        }
    }

    fn targets(self, desired: i64, new: ReplicaCounts, olds: &[ReplicaCounts]) -> Targets {
        match self {
            Strategy::Rolling(budget) => rolling_targets(desired, budget, new, olds),
            Strategy::Recreate => recreate_targets(desired, new, olds),
        }
    }
}

/// `spec.replicas`, 1 when absent as the API server defaults it.
fn desired_replicas(spec: &Value) -> i64 {
    spec["replicas"].as_i64().unwrap_or(1).max(0)
}

fn progress_deadline_seconds(spec: &Value) -> u64 {
    spec["progressDeadlineSeconds"].as_u64().unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS)
}

/// maxSurge (rounded up) and maxUnavailable (rounded down), 25% each by default; when both come out as
/// zero, one pod may be unavailable, or the rollout could never move.
fn rolling_budget(rolling_update: &Value, desired: i64) -> Budget {
    let max_surge = scaled_value(&rolling_update["maxSurge"], desired, true);
    let max_unavailable = scaled_value(&rolling_update["maxUnavailable"], desired, false);
    if max_surge == 0 && max_unavailable == 0 {
        return Budget { max_surge, max_unavailable: 1 };
    }
    Budget { max_surge, max_unavailable }
}

/// An int-or-percent value against `total`. Unreadable values fall back to the 25% default rather than
/// stalling the rollout (the real API server would have rejected them).
fn scaled_value(value: &Value, total: i64, round_up: bool) -> i64 {
    let percent = |p: i64| {
        let scaled = p.max(0).saturating_mul(total);
        if round_up {
            (scaled + 99) / 100
        } else {
            scaled / 100
        }
    };
    match value {
        Value::Number(number) => number.as_i64().unwrap_or(0).max(0),
        Value::String(text) => match text.trim().strip_suffix('%') {
            Some(p) => p.trim().parse().map_or_else(|_| percent(25), percent),
            None => text.trim().parse::<i64>().map_or_else(|_| percent(25), |n| n.max(0)),
        },
        _ => percent(25),
    }
}

/// One step of a rolling update, the arithmetic of Kubernetes' `reconcileNewReplicaSet` and
/// `reconcileOldReplicaSets`: scale the new ReplicaSet up within the surge, then scale old ones down
/// (unavailable pods first) as far as the minimum availability allows.
fn rolling_targets(desired: i64, budget: Budget, new: ReplicaCounts, olds: &[ReplicaCounts]) -> Targets {
    let old_wanted: i64 = olds.iter().map(|o| o.spec).sum();
    let new_target = scaled_up_new(desired, budget.max_surge, new.spec, old_wanted);
    let olds = scaled_down_olds(desired, budget.max_unavailable, new_target, new.available, olds);
    Targets { new: new_target, olds }
}

fn scaled_up_new(desired: i64, max_surge: i64, new_wanted: i64, old_wanted: i64) -> i64 {
    if new_wanted >= desired {
        return desired;
    }
    let max_total = desired + max_surge;
    let current = new_wanted + old_wanted;
    if current >= max_total {
        return new_wanted;
    }
    new_wanted + (max_total - current).min(desired - new_wanted)
}

fn scaled_down_olds(
    desired: i64,
    max_unavailable: i64,
    new_wanted: i64,
    new_available: i64,
    olds: &[ReplicaCounts],
) -> Vec<i64> {
    let mut targets: Vec<i64> = olds.iter().map(|o| o.spec).collect();
    let old_wanted: i64 = targets.iter().sum();
    let min_available = (desired - max_unavailable).max(0);
    let new_unavailable = (new_wanted - new_available).max(0);
    let max_scaled_down = new_wanted + old_wanted - min_available - new_unavailable;
    if old_wanted == 0 || max_scaled_down <= 0 {
        return targets;
    }
    // Removing pods that are not available costs no availability, so they go first.
    let mut cleaned = 0;
    for (target, old) in targets.iter_mut().zip(olds) {
        let cut = (*target - old.available).max(0).min(max_scaled_down - cleaned);
        *target -= cut;
        cleaned += cut;
    }
    let available = new_available + olds.iter().map(|o| o.available).sum::<i64>();
    let mut excess = available - min_available;
    for target in targets.iter_mut() {
        let cut = (*target).min(excess.max(0));
        *target -= cut;
        excess -= cut;
    }
    targets
}

/// Recreate: every old ReplicaSet goes to zero, and the new one starts once no old pod is left.
fn recreate_targets(desired: i64, new: ReplicaCounts, olds: &[ReplicaCounts]) -> Targets {
    let old_pods_left = olds.iter().any(|o| o.spec > 0 || o.replicas > 0);
    let new_target = if old_pods_left { new.spec.min(desired) } else { desired };
    Targets { new: new_target, olds: vec![0; olds.len()] }
}

impl ReplicaCounts {
    fn of(replicaset: &Value) -> ReplicaCounts {
        let status = |key: &str| replicaset["status"][key].as_i64().unwrap_or(0);
        ReplicaCounts {
            spec: replicaset["spec"]["replicas"].as_i64().unwrap_or(1),
            replicas: status("replicas"),
            ready: status("readyReplicas"),
            available: status("availableReplicas"),
        }
    }
}

fn revision_of(object: &Value) -> i64 {
    object["metadata"]["annotations"][REVISION].as_str().and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// The new ReplicaSet keeps its revision while it is the newest; one brought back (a rollback to an
/// older template) gets the next revision, as `kubectl rollout undo` expects.
fn new_revision(new_replicaset: Option<&Value>, olds: &[&Value]) -> i64 {
    let newest_old = olds.iter().map(|rs| revision_of(rs)).max().unwrap_or(0);
    match new_replicaset.map(revision_of) {
        Some(revision) if revision > newest_old => revision,
        _ => newest_old + 1,
    }
}

/// A stable hash of a pod template, rendered as 10 characters of the alphabet Kubernetes uses for
/// generated names; equal templates hash equally however their keys were ordered when written, and with
/// or without empty fields (a typed client drops `env: []`, and `kubectl rollout undo` must still find the
/// old ReplicaSet).
fn template_hash(template: &Value) -> String {
    let mut hash = Fnv1a::default();
    hash.value(&without_empty_fields(template));
    let mut remaining = hash.finish();
    let alphabet = super::NAME_ALPHABET;
    let base = alphabet.len() as u64;
    (0..10)
        .map(|_| {
            // The index is below the alphabet's length, so the cast cannot truncate.
            let digit = (remaining % base) as usize;
            remaining /= base;
            char::from(alphabet[digit])
        })
        .collect()
}

/// The value without object fields that are null, `[]` or `{}` (at any depth), as Go's omitempty
/// serialisation would drop them.
fn without_empty_fields(value: &Value) -> Value {
    let is_empty = |v: &Value| match v {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    };
    match value {
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| (k.clone(), without_empty_fields(v))).filter(|(_, v)| !is_empty(v)).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_empty_fields).collect()),
        other => other.clone(),
    }
}

/// The pod template with the hash label added.
fn template_with_hash(template: &Value, hash: &str) -> Value {
    let mut template = if template.is_object() { template.clone() } else { json!({}) };
    if let Some(labels) = object_at(&mut template, &["metadata", "labels"]) {
        labels.insert(HASH_LABEL.to_owned(), json!(hash));
    }
    template
}

/// The Deployment's selector narrowed to one template's pods.
fn selector_with_hash(selector: &Value, hash: &str) -> Value {
    let mut selector = if selector.is_object() { selector.clone() } else { json!({}) };
    if let Some(labels) = object_at(&mut selector, &["matchLabels"]) {
        labels.insert(HASH_LABEL.to_owned(), json!(hash));
    }
    selector
}

fn create_replicaset(env: &Env<'_>, deployment: &Value, name: &str, hash: &str, replicas: i64, revision: i64) {
    let spec = &deployment["spec"];
    let template = template_with_hash(&spec["template"], hash);
    let replicaset = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": namespace_of(deployment),
            "labels": template["metadata"]["labels"].clone(),
            "annotations": {REVISION: revision.to_string()},
            "ownerReferences": [owner_reference(deployment, "apps/v1", "Deployment")],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": spec["minReadySeconds"].as_i64().unwrap_or(0),
            "selector": selector_with_hash(&spec["selector"], hash),
            "template": template,
        },
    });
    // A name taken by a ReplicaSet this Deployment does not own: nothing sensible to do but wait.
    let _ = env.state.store.create(&replicasets_resource(), replicaset);
}

/// Sets a ReplicaSet's replicas (and revision), writing only when they differ.
fn scale_replicaset(env: &Env<'_>, replicaset: &Value, replicas: i64, revision: Option<i64>) {
    let same_revision = revision.is_none_or(|r| revision_of(replicaset) == r);
    if ReplicaCounts::of(replicaset).spec == replicas && same_revision {
        return;
    }
    let uid = uid_of(replicaset).to_owned();
    // Gone or recreated since the list: the next tick works from the new state.
    let _ = env.state.store.modify(&replicasets_resource(), namespace_of(replicaset), name_of(replicaset), |rs| {
        same_object(rs, &uid)?;
        if let Some(spec) = object_at(rs, &["spec"]) {
            spec.insert("replicas".to_owned(), json!(replicas));
        }
        if let Some(revision) = revision {
            set_annotation(rs, REVISION, &revision.to_string());
        }
        Ok(())
    });
}

/// Deletes the oldest ReplicaSets scaled to zero beyond `spec.revisionHistoryLimit`.
fn prune_history(env: &Env<'_>, spec: &Value, olds_oldest_first: &[&Value]) {
    let limit = spec["revisionHistoryLimit"].as_u64().map_or(DEFAULT_REVISION_HISTORY, |l| l as usize);
    let retired: Vec<&&Value> = olds_oldest_first
        .iter()
        .filter(|rs| ReplicaCounts::of(rs).spec == 0 && ReplicaCounts::of(rs).replicas == 0)
        .collect();
    for replicaset in retired.iter().take(retired.len().saturating_sub(limit)) {
        // Already gone is fine.
        let _ = env.state.store.delete(&replicasets_resource(), namespace_of(replicaset), name_of(replicaset));
    }
}

/// Writes the Deployment's revision annotation and status together (one watch event), when either changed.
fn write_deployment(env: &Env<'_>, deployment: &Value, revision: i64, status: Value) {
    let revision = revision.to_string();
    let annotated = deployment["metadata"]["annotations"][REVISION].as_str() == Some(revision.as_str());
    if annotated && deployment.get("status") == Some(&status) {
        return;
    }
    let uid = uid_of(deployment).to_owned();
    // Gone or recreated since the list: the next tick works from the new state.
    let _ = env.state.store.modify(&deployments_resource(), namespace_of(deployment), name_of(deployment), |current| {
        same_object(current, &uid)?;
        set_annotation(current, REVISION, &revision);
        if let Some(map) = current.as_object_mut() {
            map.insert("status".to_owned(), status);
        }
        Ok(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(spec: i64, available: i64) -> ReplicaCounts {
        ReplicaCounts { spec, replicas: spec, ready: available, available }
    }

    #[test]
    fn template_hash_is_stable_and_ignores_key_order() {
        let a = json!({
            "metadata": {"labels": {"app": "web", "tier": "x"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
        });
        let b: Value = serde_json::from_str(
            r#"{"spec": {"containers": [{"image": "nginx:1", "name": "c"}]},
                "metadata": {"labels": {"tier": "x", "app": "web"}}}"#,
        )
        .unwrap();
        let hash = template_hash(&a);
        assert_eq!(hash, template_hash(&b));
        assert_eq!(hash.len(), 10);
        assert!(hash.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        let mut with_empty = a.clone();
        with_empty["spec"]["containers"][0]["env"] = json!([]);
        with_empty["spec"]["securityContext"] = json!({"seLinuxOptions": {}});
        with_empty["metadata"]["annotations"] = Value::Null;
        assert_eq!(hash, template_hash(&with_empty));
        // Pinned: a hash that changed between builds would roll every Deployment when the simulator is
        // upgraded, and test expectations with it.
        assert_eq!(template_hash(&json!({"spec": {"containers": [{"name": "c", "image": "nginx:1"}]}})), "n7jq4jd5qw");
        let mut changed = a.clone();
        changed["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert_ne!(hash, template_hash(&changed));
    }

    #[test]
    fn surge_rounds_up_and_unavailable_rounds_down() {
        let budget = |surge: Value, unavailable: Value, desired| {
            rolling_budget(&json!({"maxSurge": surge, "maxUnavailable": unavailable}), desired)
        };
        assert_eq!(rolling_budget(&Value::Null, 10), Budget { max_surge: 3, max_unavailable: 2 });
        assert_eq!(rolling_budget(&Value::Null, 1), Budget { max_surge: 1, max_unavailable: 0 });
        assert_eq!(rolling_budget(&Value::Null, 4), Budget { max_surge: 1, max_unavailable: 1 });
        assert_eq!(budget(json!(2), json!(0), 3), Budget { max_surge: 2, max_unavailable: 0 });
        assert_eq!(budget(json!("50%"), json!("50%"), 3), Budget { max_surge: 2, max_unavailable: 1 });
        // Both zero would never move: one pod may be unavailable instead.
        assert_eq!(budget(json!(0), json!("10%"), 3), Budget { max_surge: 0, max_unavailable: 1 });
        assert_eq!(budget(json!("0%"), json!(0), 0), Budget { max_surge: 0, max_unavailable: 1 });
        assert_eq!(budget(json!("nonsense"), json!(1), 8), Budget { max_surge: 2, max_unavailable: 1 });
    }

    #[test]
    fn rolling_update_surges_then_scales_old_down_as_new_pods_become_available() {
        let budget = Budget { max_surge: 1, max_unavailable: 0 };
        // Start: 3 old available, no new ReplicaSet yet: one new pod may surge, nothing may go.
        assert_eq!(rolling_targets(3, budget, counts(0, 0), &[counts(3, 3)]), Targets { new: 1, olds: vec![3] });
        // The new pod is not available yet: wait.
        assert_eq!(rolling_targets(3, budget, counts(1, 0), &[counts(3, 3)]), Targets { new: 1, olds: vec![3] });
        // It is: one old pod may go.
        assert_eq!(rolling_targets(3, budget, counts(1, 1), &[counts(3, 3)]), Targets { new: 1, olds: vec![2] });
        assert_eq!(rolling_targets(3, budget, counts(1, 1), &[counts(2, 2)]), Targets { new: 2, olds: vec![2] });
        assert_eq!(rolling_targets(3, budget, counts(3, 3), &[counts(1, 1)]), Targets { new: 3, olds: vec![0] });
    }

    #[test]
    fn unavailable_old_pods_go_first_and_availability_is_kept() {
        let budget = Budget { max_surge: 0, max_unavailable: 1 };
        // One old pod is broken: it can go at once, plus one available pod within maxUnavailable.
        let targets = rolling_targets(4, budget, counts(0, 0), &[counts(4, 3)]);
        assert_eq!(targets, Targets { new: 0, olds: vec![3] });
        // Older ReplicaSets are scaled down before newer ones.
        let targets = rolling_targets(
            4,
            Budget { max_surge: 1, max_unavailable: 1 },
            counts(2, 2),
            &[counts(1, 1), counts(2, 2)],
        );
        assert_eq!(targets, Targets { new: 2, olds: vec![0, 1] });
    }

    #[test]
    fn scaling_without_a_template_change_only_touches_the_new_replicaset() {
        let budget = rolling_budget(&Value::Null, 5);
        assert_eq!(rolling_targets(5, budget, counts(2, 2), &[]), Targets { new: 5, olds: vec![] });
        assert_eq!(rolling_targets(1, budget, counts(3, 3), &[]), Targets { new: 1, olds: vec![] });
    }

    #[test]
    fn recreate_waits_for_old_pods_to_be_gone() {
        let old_running = ReplicaCounts { spec: 0, replicas: 2, ready: 2, available: 2 };
        assert_eq!(recreate_targets(2, counts(0, 0), &[counts(2, 2)]), Targets { new: 0, olds: vec![0] });
        assert_eq!(recreate_targets(2, counts(0, 0), &[old_running]), Targets { new: 0, olds: vec![0] });
        assert_eq!(recreate_targets(2, counts(0, 0), &[counts(0, 0)]), Targets { new: 2, olds: vec![0] });
    }

    #[test]
    fn status_counts_and_completion() {
        let counts = StatusCounts::of(counts(3, 2), &[ReplicaCounts { spec: 0, replicas: 1, ready: 1, available: 1 }]);
        assert_eq!(counts, StatusCounts { replicas: 4, updated: 3, ready: 3, available: 3, unavailable: 0 });
        assert!(!counts.is_complete(3));
        let status = counts.to_status(2, json!([]));
        assert_eq!(status["observedGeneration"], 2);
        assert!(status.get("unavailableReplicas").is_none());
        assert!(StatusCounts { replicas: 3, updated: 3, ready: 3, available: 3, unavailable: 0 }.is_complete(3));
    }

    #[test]
    fn a_rolled_back_template_gets_the_next_revision() {
        let rs = |revision: &str| json!({"metadata": {"annotations": {REVISION: revision}}});
        let (one, two) = (rs("1"), rs("2"));
        assert_eq!(new_revision(None, &[]), 1);
        assert_eq!(new_revision(Some(&two), &[&one]), 2);
        assert_eq!(new_revision(Some(&one), &[&two]), 3);
    }
}
