//! The controllers together, driven tick by tick against a store (no HTTP, no real time).

use super::*;
use crate::sim::faults::{FaultConfig, Faults};
use crate::sim::scenario::{Churn, ImageBehaviour, KindRef, ObjectMatch, OperatorBehaviour, ScopeSource};
use crate::sim::store::Store;

const TICK_MS: u64 = 50;

struct Cluster {
    state: Arc<SimState>,
    controllers: Controllers,
    now_ms: u64,
}

impl Cluster {
    fn new(images: Vec<ImageBehaviour>) -> Cluster {
        Cluster::with(Scenario { images, ..Scenario::default() })
    }

    /// A cluster of `scenario` with this file's seed and tick.
    fn with(scenario: Scenario) -> Cluster {
        let state = Arc::new(SimState::new(Store::new(200_000), Faults::new(FaultConfig::default())));
        let scenario = Scenario { seed: 7, tick_ms: TICK_MS, ..scenario };
        let controllers = Controllers::new(state.clone(), Arc::new(scenario));
        Cluster { state, controllers, now_ms: 0 }
    }

    fn tick(&mut self) {
        self.now_ms += TICK_MS;
        self.controllers.tick(self.now_ms);
    }

    fn run_ms(&mut self, ms: u64) {
        for _ in 0..ms / TICK_MS {
            self.tick();
        }
    }

    /// Ticks until `done` holds, at most `ms` simulated milliseconds.
    fn run_until(&mut self, ms: u64, done: impl Fn(&Cluster) -> bool) -> bool {
        for _ in 0..ms / TICK_MS {
            self.tick();
            if done(self) {
                return true;
            }
        }
        false
    }

    fn create(&self, resource: GroupResource, object: Value) -> Arc<Value> {
        self.state.store.create(&resource, object).expect("created")
    }

    fn get(&self, resource: GroupResource, namespace: &str, name: &str) -> Arc<Value> {
        self.state.store.get(&resource, namespace, name).expect("present")
    }

    fn list(&self, resource: GroupResource) -> Vec<Arc<Value>> {
        self.state.store.list(&resource, None).0
    }

    fn metric(&self, namespace: &str, pod: &str, line: &str) -> f64 {
        let metrics = self.state.metrics.lock().unwrap();
        metrics.get(&(namespace.to_owned(), pod.to_owned())).and_then(|m| m.get(line)).copied().unwrap_or(-1.0)
    }

    /// Sets a widget's status as its operator would (through the store, so no generation bump).
    fn modify_status(&self, name: &str, status: Value) {
        let widget = self.get(widgets(), "default", name);
        let mut widget = (*widget).clone();
        widget["status"] = status;
        self.state.store.update(&widgets(), widget, None).unwrap();
    }

    fn install_widget_crd(&self) {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
                "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}}]}
        });
        self.create(GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions"), crd);
        self.state.refresh_crd_types();
    }

    fn create_widget(&self, name: &str, labels: Value) {
        let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": name, "namespace": "default", "labels": labels}, "spec": {"size": 1}});
        self.create(widgets(), widget);
    }
}

fn widgets() -> GroupResource {
    GroupResource::new("example.com", "widgets")
}

fn deployment(name: &str, replicas: i64, image: &str, env: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image, "env": env}]}},
        }
    })
}

fn rollout_complete(deployment: &Value) -> bool {
    let (spec, status) = (&deployment["spec"], &deployment["status"]);
    let count = |key: &str| status[key].as_i64().unwrap_or(0);
    let desired = spec["replicas"].as_i64().unwrap_or(1);
    // The checks of `kubectl rollout status`, in its order.
    status["observedGeneration"].as_i64() >= deployment["metadata"]["generation"].as_i64()
        && count("updatedReplicas") == desired
        && count("replicas") == count("updatedReplicas")
        && count("availableReplicas") == count("updatedReplicas")
}

fn ready_pods(cluster: &Cluster, app: &str) -> Vec<Arc<Value>> {
    cluster
        .list(pods_resource())
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["app"] == app && pod_is_ready(p))
        .collect()
}

fn operator_image(behaviour: OperatorBehaviour) -> ImageBehaviour {
    ImageBehaviour { image: "op:1".into(), operator: Some(behaviour), ..ImageBehaviour::default() }
}

fn widget_operator(scope: ScopeSource, fail_on: Vec<ObjectMatch>) -> OperatorBehaviour {
    OperatorBehaviour {
        reconciles: vec![KindRef { group: "example.com".into(), kind: "Widget".into(), version: None }],
        scope,
        reconcile_latency_ms: 100,
        fail_on,
        ..OperatorBehaviour::default()
    }
}

#[test]
fn a_deployment_rolls_out_and_a_template_change_rolls_within_surge_and_unavailability() {
    let slow = ImageBehaviour { image: "web:2".into(), ready_after_ms: 300, ..ImageBehaviour::default() };
    let mut cluster = Cluster::new(vec![slow]);
    cluster.create(deployments_resource(), deployment("web", 4, "web:1", json!([])));
    assert!(cluster.run_until(2_000, |c| rollout_complete(&c.get(deployments_resource(), "default", "web"))));

    let web = cluster.get(deployments_resource(), "default", "web");
    let replicasets = cluster.list(replicasets_resource());
    assert_eq!(replicasets.len(), 1);
    let first = &replicasets[0];
    assert!(name_of(first).starts_with("web-") && name_of(first).len() == "web-".len() + 10);
    assert_eq!(controller_uid(first), Some(uid_of(&web)));
    assert!(first["metadata"]["labels"]["pod-template-hash"].is_string());
    assert_eq!(first["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    assert_eq!(web["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    let pods = ready_pods(&cluster, "web");
    assert_eq!(pods.len(), 4);
    assert!(pods.iter().all(|p| name_of(p).starts_with(name_of(first)) && p["spec"]["nodeName"] == "sim-node"));
    assert!(pods.iter().all(|p| p["status"]["phase"] == "Running" && p["status"]["podIP"].is_string()));
    let conditions = &web["status"]["conditions"];
    assert_eq!(find_condition(conditions, "Available").unwrap()["reason"], "MinimumReplicasAvailable");
    assert_eq!(find_condition(conditions, "Progressing").unwrap()["reason"], "NewReplicaSetAvailable");

    // An idle cluster is quiet: nothing is written, so watchers see no events.
    let version = cluster.state.store.resource_version();
    cluster.run_ms(1_000);
    assert_eq!(cluster.state.store.resource_version(), version);

    cluster
        .state
        .store
        .modify(&deployments_resource(), "default", "web", |d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2");
            Ok(())
        })
        .unwrap();
    // Defaults for 4 replicas: maxSurge 1, maxUnavailable 1.
    // Terminating pods are neither replicas nor available, as in Kubernetes: the rollout goes on while
    // they linger for their grace period.
    let complete = cluster.run_until(5_000, |c| {
        let pods: Vec<_> = c.list(pods_resource()).into_iter().filter(|p| !is_deleting(p)).collect();
        let ready = pods.iter().filter(|p| pod_is_ready(p)).count();
        assert!(pods.len() <= 5, "more pods than replicas + maxSurge: {}", pods.len());
        assert!(ready >= 3, "fewer ready pods than replicas - maxUnavailable: {ready}");
        rollout_complete(&c.get(deployments_resource(), "default", "web"))
    });
    assert!(complete);
    let replicasets = cluster.list(replicasets_resource());
    assert_eq!(replicasets.len(), 2);
    let new = replicasets.iter().find(|rs| rs["spec"]["replicas"] == 4).unwrap();
    assert_eq!(new["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
    let serving: Vec<_> = ready_pods(&cluster, "web").into_iter().filter(|p| !is_deleting(p)).collect();
    assert!(serving.len() == 4 && serving.iter().all(|p| p["spec"]["containers"][0]["image"] == "web:2"));
    let terminating: Vec<_> = cluster.list(pods_resource()).into_iter().filter(|p| is_deleting(p)).collect();
    assert_eq!(terminating.len(), 4, "the old pods terminate for the default 30 s");
    assert!(terminating.iter().all(|p| p["metadata"]["deletionGracePeriodSeconds"] == 30));
    assert!(cluster.run_until(31_000, |c| c.list(pods_resource()).len() == 4), "then they are removed");
    assert!(cluster.list(pods_resource()).iter().all(|p| !is_deleting(p)));
}

#[test]
fn a_crash_looping_image_never_becomes_ready_and_the_rollout_times_out() {
    let broken = ImageBehaviour { image: "broken:1".into(), crash_loop: true, ..ImageBehaviour::default() };
    let mut cluster = Cluster::new(vec![broken]);
    let mut broken_deployment = deployment("web", 1, "broken:1", json!([]));
    broken_deployment["spec"]["progressDeadlineSeconds"] = json!(2);
    cluster.create(deployments_resource(), broken_deployment);
    cluster.run_ms(3_500);

    let pods = cluster.list(pods_resource());
    assert_eq!(pods.len(), 1);
    let container = &pods[0]["status"]["containerStatuses"][0];
    assert_eq!(container["state"]["waiting"]["reason"], "CrashLoopBackOff");
    assert!(container["restartCount"].as_u64().unwrap() >= 3, "{container}");
    assert!(!pod_is_ready(&pods[0]));
    let web = cluster.get(deployments_resource(), "default", "web");
    let progressing = find_condition(&web["status"]["conditions"], "Progressing").unwrap();
    assert_eq!(progressing["reason"], "ProgressDeadlineExceeded");
    assert_eq!(progressing["status"], "False");
    assert_eq!(find_condition(&web["status"]["conditions"], "Available").unwrap()["status"], "False");
    assert_eq!(web["status"]["unavailableReplicas"], 1);
}

#[test]
fn jobs_complete_or_fail_after_their_pods() {
    let images = vec![
        ImageBehaviour { image: "migrate:ok".into(), job_duration_ms: 200, ..ImageBehaviour::default() },
        ImageBehaviour {
            image: "migrate:bad".into(),
            job_duration_ms: 100,
            job_fails: true,
            ..ImageBehaviour::default()
        },
    ];
    let mut cluster = Cluster::new(images);
    let job = |name: &str, image: &str, backoff: i64| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
            "spec": {"backoffLimit": backoff, "template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "m", "image": image}]}}}})
    };
    cluster.create(jobs_resource(), job("good", "migrate:ok", 6));
    cluster.create(jobs_resource(), job("bad", "migrate:bad", 1));
    cluster.run_ms(2_000);

    let good = cluster.get(jobs_resource(), "default", "good");
    assert!(condition_is_true(&good["status"]["conditions"], "Complete"), "{good}");
    assert_eq!(good["status"]["succeeded"], 1);
    assert!(good["status"]["completionTime"].is_string() && good["status"]["startTime"].is_string());
    let bad = cluster.get(jobs_resource(), "default", "bad");
    assert!(condition_is_true(&bad["status"]["conditions"], "Failed"), "{bad}");
    assert_eq!(bad["status"]["failed"], 2, "backoffLimit 1 allows one retry");
    let pods = cluster.list(pods_resource());
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(|p| p["metadata"]["labels"]["job-name"].is_string()));
}

#[test]
fn an_operator_reconciles_its_scope_and_fails_only_matching_objects() {
    let scope = ScopeSource { label_selector_env: Some("WATCH_LABEL_SELECTOR".into()), ..ScopeSource::default() };
    let gold = ObjectMatch { label_selector: Some("tier=gold".into()), ..ObjectMatch::default() };
    let mut cluster = Cluster::new(vec![operator_image(widget_operator(scope, vec![gold]))]);
    cluster.install_widget_crd();
    cluster.create_widget("plain", json!({}));
    cluster.create_widget("golden", json!({"tier": "gold"}));
    cluster.create_widget("canary", json!({"cohort": "canary"}));
    let selector = json!([{"name": "WATCH_LABEL_SELECTOR", "value": "cohort!=canary"}]);
    cluster.create(deployments_resource(), deployment("op", 1, "op:1", selector));
    cluster.run_ms(1_000);

    let pod = ready_pods(&cluster, "op").pop().expect("the operator pod runs");
    let plain = cluster.get(widgets(), "default", "plain");
    assert_eq!(plain["status"]["observedGeneration"], 1);
    assert_eq!(plain["status"]["reconciledBy"], name_of(&pod));
    assert_eq!(find_condition(&plain["status"]["conditions"], "Ready").unwrap()["status"], "True");
    let golden = cluster.get(widgets(), "default", "golden");
    let ready = find_condition(&golden["status"]["conditions"], "Ready").unwrap();
    assert_eq!((ready["status"].as_str(), ready["reason"].as_str()), (Some("False"), Some("ReconcileError")));
    assert!(cluster.get(widgets(), "default", "canary").get("status").is_none(), "out of scope");

    let events = cluster.list(events_resource());
    assert_eq!(events.len(), 1, "repeated failures count up on one event");
    let event = &events[0];
    assert_eq!(event["involvedObject"]["name"], "golden");
    assert_eq!(event["involvedObject"]["uid"], uid_of(&golden));
    assert_eq!((event["type"].as_str(), event["reason"].as_str()), (Some("Warning"), Some("ReconcileError")));
    let retries = event["count"].as_u64().unwrap();
    assert!(retries >= 3, "failures are retried every reconcileLatencyMs: {retries}");

    let metric = |line: &str| cluster.metric("default", name_of(&pod), line);
    assert_eq!(metric(r#"controller_runtime_reconcile_total{controller="widget",result="success"}"#), 1.0);
    assert_eq!(metric(r#"controller_runtime_reconcile_total{controller="widget",result="error"}"#), retries as f64);
    assert_eq!(metric(r#"controller_runtime_reconcile_errors_total{controller="widget"}"#), retries as f64);

    // A spec change is a new generation: reconciled again.
    cluster
        .state
        .store
        .modify(&widgets(), "default", "plain", |w| {
            w["spec"]["size"] = json!(2);
            Ok(())
        })
        .unwrap();
    cluster.run_ms(300);
    assert_eq!(cluster.get(widgets(), "default", "plain")["status"]["observedGeneration"], 2);
}

#[test]
fn operators_with_overlapping_scopes_both_reconcile() {
    let mut cluster = Cluster::new(vec![operator_image(widget_operator(ScopeSource::default(), vec![]))]);
    cluster.install_widget_crd();
    cluster.create_widget("shared", json!({}));
    cluster.create(deployments_resource(), deployment("stable", 1, "op:1", json!([])));
    cluster.create(deployments_resource(), deployment("canary", 1, "op:1", json!([])));
    cluster.run_ms(1_000);

    let line = r#"controller_runtime_reconcile_total{controller="widget",result="success"}"#;
    for app in ["stable", "canary"] {
        let pod = ready_pods(&cluster, app).pop().expect("operator pod");
        assert_eq!(cluster.metric("default", name_of(&pod), line), 1.0, "{app} reconciled the shared widget");
    }
}

#[test]
fn ten_thousand_objects_cost_nothing_per_tick_once_reconciled() {
    let mut cluster = Cluster::new(vec![operator_image(widget_operator(ScopeSource::default(), vec![]))]);
    cluster.install_widget_crd();
    for index in 0..10_000 {
        cluster.create_widget(&format!("w{index:05}"), json!({"n": index.to_string()}));
    }
    cluster.create(deployments_resource(), deployment("op", 1, "op:1", json!([])));
    let started = std::time::Instant::now();
    assert!(cluster.run_until(5_000, |c| c.list(widgets()).iter().all(|w| w["status"]["observedGeneration"] == 1)));
    eprintln!("start-up and 10,000 reconciles: {:?}", started.elapsed());
    cluster.run_ms(200);

    let version = cluster.state.store.resource_version();
    let started = std::time::Instant::now();
    let ticks = 20;
    for _ in 0..ticks {
        cluster.tick();
    }
    let per_tick = started.elapsed() / ticks;
    assert_eq!(cluster.state.store.resource_version(), version, "an idle cluster writes nothing");
    assert_eq!(cluster.controllers.operators.examined_last_tick(), 0, "unchanged objects are not examined one by one");
    eprintln!("idle tick with 10,000 reconciled objects: {per_tick:?}");

    // Something else in the cluster changes: the list is compared pointer for pointer, nothing examined.
    let started = std::time::Instant::now();
    for index in 0..ticks {
        cluster.create(
            GroupResource::new("", "configmaps"),
            json!({"metadata": {"name": format!("c{index}"), "namespace": "default"}}),
        );
        cluster.tick();
    }
    eprintln!("tick after an unrelated write: {:?}", started.elapsed() / ticks);
    assert_eq!(cluster.controllers.operators.examined_last_tick(), 0);

    // One widget changes: one pass over the list, one reconcile.
    let started = std::time::Instant::now();
    cluster
        .state
        .store
        .modify(&widgets(), "default", "w00042", |w| {
            w["spec"]["size"] = json!(2);
            Ok(())
        })
        .unwrap();
    cluster.run_ms(TICK_MS * 4);
    eprintln!("4 ticks around one changed widget: {:?}", started.elapsed());
    assert_eq!(cluster.get(widgets(), "default", "w00042")["status"]["observedGeneration"], 2);
}

/// Users setting `.spec.size` of 3 example.com Widgets every second over 1, 2, 3.
fn size_churn() -> Churn {
    Churn {
        group: "example.com".into(),
        kind: "Widget".into(),
        every_ms: 1_000,
        count: 3,
        field: ".spec.size".into(),
        values: vec![json!(1), json!(2), json!(3)],
        ..Churn::default()
    }
}

/// A cluster with the widget CRD and `widgets` widgets `w00`, `w01`, ... (even ones gold, odd ones silver).
fn churned_cluster(churn: Vec<Churn>, widgets: usize) -> Cluster {
    churned_cluster_with(Scenario { churn, ..Scenario::default() }, widgets)
}

fn churned_cluster_with(scenario: Scenario, widgets: usize) -> Cluster {
    let cluster = Cluster::with(scenario);
    cluster.install_widget_crd();
    for index in 0..widgets {
        cluster.create_widget(&format!("w{index:02}"), json!({"tier": if index % 2 == 0 { "gold" } else { "silver" }}));
    }
    cluster
}

/// Name and generation of every widget whose generation moved past 1.
fn changed_widgets(cluster: &Cluster) -> Vec<(String, i64)> {
    let changed = cluster.list(widgets()).into_iter().filter(|w| generation_of(w) > 1);
    changed.map(|w| (name_of(&w).to_owned(), generation_of(&w))).collect()
}

#[test]
fn users_change_count_objects_every_period_as_user_updates() {
    let mut cluster = churned_cluster(vec![size_churn()], 10);
    cluster.modify_status("w00", json!({"observedGeneration": 1, "note": "kept"}));
    let mut watch = cluster.state.store.watch(&widgets(), Some(cluster.state.store.resource_version())).unwrap();
    let version = cluster.state.store.resource_version();
    cluster.run_ms(950);
    assert_eq!(cluster.state.store.resource_version(), version, "nothing before the first period");

    cluster.run_ms(TICK_MS);
    let first = changed_widgets(&cluster);
    assert_eq!(first.len(), 3, "{first:?}");
    assert_eq!(cluster.state.store.resource_version(), version + 3, "one write per changed object");
    for (name, generation) in &first {
        assert_eq!(*generation, 2, "a spec change is a new generation");
        let widget = cluster.get(widgets(), "default", name);
        assert_eq!(widget["spec"]["size"], 2, "the value after the current one");
    }
    if let Some(w00) = first.iter().find(|(name, _)| name == "w00") {
        assert_eq!(cluster.get(widgets(), "default", &w00.0)["status"]["note"], "kept", "status untouched");
    }
    let events: Vec<_> = std::iter::from_fn(|| watch.live.try_recv().ok()).collect();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.event == crate::sim::store::EventType::Modified));

    // Another round a period later; the draw is the seed's, so a second cluster draws the same objects.
    cluster.run_ms(1_000);
    let total: i64 = cluster.list(widgets()).iter().map(|w| generation_of(w) - 1).sum();
    assert_eq!(total, 6, "3 more changes");
    let mut twin = churned_cluster(vec![size_churn()], 10);
    twin.run_ms(2_000);
    assert_eq!(changed_widgets(&twin), changed_widgets(&cluster));
    let sizes = |c: &Cluster| c.list(widgets()).iter().map(|w| w["spec"]["size"].clone()).collect::<Vec<_>>();
    assert_eq!(sizes(&twin), sizes(&cluster));
    assert!(sizes(&cluster).iter().all(|s| [1, 2, 3].iter().any(|v| s == v)));
}

#[test]
fn churn_is_limited_to_its_namespace_and_selector_and_skips_objects_being_deleted() {
    let churn = Churn {
        count: 100,
        namespace: Some("default".into()),
        label_selector: Some("tier=gold".into()),
        ..size_churn()
    };
    let mut cluster = churned_cluster(vec![churn], 6);
    let elsewhere = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w00", "namespace": "other", "labels": {"tier": "gold"}}, "spec": {"size": 1}});
    cluster.create(widgets(), elsewhere);
    cluster
        .state
        .store
        .modify(&widgets(), "default", "w02", |w| {
            w["metadata"]["finalizers"] = json!(["example.com/hold"]);
            Ok(())
        })
        .unwrap();
    cluster.state.store.delete(&widgets(), "default", "w02").unwrap();
    let held = generation_of(&cluster.get(widgets(), "default", "w02"));
    cluster.run_ms(1_000);

    let changed: Vec<String> = changed_widgets(&cluster).into_iter().map(|(name, _)| name).collect();
    assert_eq!(changed, ["w00", "w04"], "every gold widget in default (fewer than count), not the deleting one");
    assert_eq!(generation_of(&cluster.get(widgets(), "default", "w02")), held);
    assert_eq!(cluster.get(widgets(), "other", "w00")["spec"]["size"], 1);
}

#[test]
fn a_bad_churn_entry_writes_nothing() {
    let bad = |field: &str, values: Vec<Value>| Churn { field: field.into(), values, ..size_churn() };
    let entries = vec![
        bad(".status.size", vec![json!(2)]),
        bad(".metadata.name", vec![json!("x")]),
        bad("spec.size", vec![json!(2)]),
        bad(".spec..size", vec![json!(2)]),
        // Something that is not an object is in the way.
        bad(".spec.size.deeper", vec![json!(2)]),
        // Every value is the current one.
        bad(".spec.size", vec![json!(1)]),
        bad(".spec.size", vec![]),
        Churn { label_selector: Some("tier in gold".into()), ..size_churn() },
        Churn { kind: "Gadget".into(), ..size_churn() },
    ];
    let mut cluster = churned_cluster(entries, 4);
    let version = cluster.state.store.resource_version();
    cluster.run_ms(3_000);
    assert_eq!(cluster.state.store.resource_version(), version);
}

#[test]
fn a_nested_field_is_created_and_an_operator_catches_up_with_the_new_generations() {
    let churn = Churn { field: ".spec.a.b".into(), values: vec![json!("x"), json!("y")], ..size_churn() };
    let images = vec![operator_image(widget_operator(ScopeSource::default(), vec![]))];
    let mut cluster = churned_cluster_with(Scenario { churn: vec![churn], images, ..Scenario::default() }, 5);
    cluster.create(deployments_resource(), deployment("op", 1, "op:1", json!([])));
    cluster.run_ms(1_000);

    let changed = changed_widgets(&cluster);
    assert_eq!(changed.len(), 3);
    for (name, _) in &changed {
        assert_eq!(cluster.get(widgets(), "default", name)["spec"]["a"], json!({"b": "x"}));
    }
    let caught_up = |c: &Cluster| {
        c.list(widgets()).iter().all(|w| w["status"]["observedGeneration"].as_i64() == Some(generation_of(w)))
    };
    assert!(cluster.run_until(500, caught_up), "the operator reconciles the new generations");
}

#[test]
fn churn_over_ten_thousand_objects_lists_once_per_round() {
    let churn = Churn { every_ms: TICK_MS, count: 3, ..size_churn() };
    let mut cluster = Cluster::with(Scenario { churn: vec![churn], ..Scenario::default() });
    cluster.install_widget_crd();
    for index in 0..10_000 {
        cluster.create_widget(&format!("w{index:05}"), json!({}));
    }
    let version = cluster.state.store.resource_version();
    let ticks = 20;
    let started = std::time::Instant::now();
    cluster.run_ms(TICK_MS * ticks);
    eprintln!("tick with a churn round over 10,000 objects: {:?}", started.elapsed() / ticks as u32);
    assert_eq!(cluster.state.store.resource_version(), version + 3 * ticks, "3 changes a round, one round a tick");
}

/// A Widget CRD whose status schema declares `conditions` (with a condition's `observedGeneration`) and a
/// required `replicas`, but neither `status.observedGeneration` nor `status.reconciledBy`.
fn install_strict_widget_crd(cluster: &Cluster) {
    let condition = json!({"type": "object", "properties": {
        "type": {"type": "string"}, "status": {"type": "string"}, "reason": {"type": "string"},
        "message": {"type": "string"}, "lastTransitionTime": {"type": "string"},
        "observedGeneration": {"type": "integer"}}});
    let schema = json!({"type": "object", "properties": {
        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "status": {"type": "object", "required": ["replicas"], "properties": {
            "replicas": {"type": "integer"}, "conditions": {"type": "array", "items": condition}}}}});
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": schema}}]}
    });
    cluster.create(GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions"), crd);
    cluster.state.refresh_crd_types();
}

#[test]
fn an_operators_status_is_pruned_to_the_schema_and_a_rejected_one_is_not_written() {
    let fields = [("replicas".to_owned(), json!(1)), ("unknown".to_owned(), json!(true))].into_iter().collect();
    let complete = OperatorBehaviour { status_fields: fields, ..widget_operator(ScopeSource::default(), vec![]) };
    let mut cluster = Cluster::new(vec![operator_image(complete)]);
    install_strict_widget_crd(&cluster);
    cluster.create_widget("w", json!({}));
    cluster.create(deployments_resource(), deployment("op", 1, "op:1", json!([])));
    cluster.run_ms(1_000);

    let widget = cluster.get(widgets(), "default", "w");
    let status = &widget["status"];
    assert_eq!(status["replicas"], 1, "{widget}");
    for pruned in ["observedGeneration", "reconciledBy", "unknown"] {
        assert!(status.get(pruned).is_none(), "{pruned} is not in the schema: {widget}");
    }
    let ready = find_condition(&status["conditions"], "Ready").unwrap();
    assert_eq!((ready["status"].as_str(), ready["observedGeneration"].as_i64()), (Some("True"), Some(1)));
    cluster.run_ms(1_000);
    let again = cluster.get(widgets(), "default", "w");
    assert_eq!(again["metadata"]["resourceVersion"], widget["metadata"]["resourceVersion"], "reconciled once");

    // Without the required `replicas` the API rejects every status update: nothing is written.
    let mut cluster = Cluster::new(vec![operator_image(widget_operator(ScopeSource::default(), vec![]))]);
    install_strict_widget_crd(&cluster);
    cluster.create_widget("w", json!({}));
    cluster.create(deployments_resource(), deployment("op", 1, "op:1", json!([])));
    cluster.run_ms(1_000);
    assert!(cluster.get(widgets(), "default", "w").get("status").is_none());
}
