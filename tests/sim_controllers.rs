//! The simulated controllers through `kube::Client`, on the demo scenario in `examples/`: the operator
//! reconciles its scope, a bad image fails only the matching objects (with Warning events and error
//! metrics through the pod proxy), overlapping scopes are visible, crash loops and Jobs behave; leader
//! election on a shared lease, terminating pods, the reconciler record, dependents, metrics faults and a
//! failing cluster; users' churn of specs.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use operator_upgrade::sim::{Churn, Dependents, ImageBehaviour, ObjectTemplate, Population, Scenario, Sim, SimHandle};
use serde_json::{json, Value};
use std::future::Future;
use std::path::Path;
use std::time::Duration;

fn demo_scenario() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator/scenario.yaml");
    let mut scenario = Scenario::load(&path).expect("the demo scenario loads");
    scenario.tick_ms = 10;
    scenario
}

async fn demo() -> SimHandle {
    Sim::start(demo_scenario()).await.expect("sim starts")
}

/// The demo scenario plus a variant of the v1.0.0 image named `image`, changed by `change`.
async fn demo_with(image: &str, change: impl FnOnce(&mut ImageBehaviour)) -> SimHandle {
    let mut scenario = demo_scenario();
    let mut variant = scenario.image("registry.example/demo-operator:v1.0.0").unwrap().clone();
    variant.image = image.to_owned();
    change(&mut variant);
    scenario.images.push(variant);
    Sim::start(scenario).await.expect("sim starts")
}

async fn all_widgets_ready(sim: &SimHandle) {
    let api = widgets(sim);
    eventually("all 40 widgets Ready", || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        (list.items.len() == 40 && list.items.iter().all(|w| ready(w) == Some("True"))).then_some(())
    })
    .await;
}

fn widgets(sim: &SimHandle) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("demo.operator-upgrade.dev", "v1alpha1", "Widget");
    Api::namespaced_with(sim.client(), "default", &ApiResource::from_gvk_with_plural(&gvk, "widgets"))
}

/// Polls `check` until it returns Some, for up to 20 seconds of wall time.
async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    for _ in 0..400 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn ready(widget: &DynamicObject) -> Option<&str> {
    let conditions = widget.data["status"]["conditions"].as_array()?;
    conditions.iter().find(|c| c["type"] == "Ready")?["status"].as_str()
}

fn is_gold(widget: &DynamicObject) -> bool {
    widget.metadata.labels.as_ref().and_then(|l| l.get("demo.operator-upgrade.dev/tier")).map(String::as_str)
        == Some("gold")
}

async fn operator_pods(sim: &SimHandle, image_suffix: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(sim.client(), "demo-system");
    let all = pods.list(&ListParams::default()).await.unwrap().items;
    all.into_iter()
        .filter(|p| p.spec.as_ref().unwrap().containers[0].image.as_deref().unwrap().ends_with(image_suffix))
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .collect()
}

async fn metrics(sim: &SimHandle, pod: &str) -> String {
    let request = http::Request::get(format!("/api/v1/namespaces/demo-system/pods/{pod}:8080/proxy/metrics"))
        .body(vec![])
        .unwrap();
    sim.client().request_text(request).await.unwrap()
}

fn counter(text: &str, line: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(line)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
}

fn canary_deployment(image: &str, selector: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "demo-operator-canary", "namespace": "demo-system"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "demo-operator-canary"}}, "template": {
            "metadata": {"labels": {"app": "demo-operator-canary"}},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "manager", "image": image,
                "args": ["--leader-elect", "--leader-election-id=demo-operator-canary-lock"],
                "env": [{"name": "WATCH_LABEL_SELECTOR", "value": selector}]}]}}}
    })
}

/// A second Deployment of an image, named `name`, with the given args (and the demo's empty selector).
fn operator_deployment(name: &str, image: &str, args: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "demo-system"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "manager", "image": image, "args": args}]}}}
    })
}

fn leases(sim: &SimHandle) -> Api<Lease> {
    Api::namespaced(sim.client(), "demo-system")
}

async fn holder(sim: &SimHandle, lease: &str) -> Option<String> {
    leases(sim).get(lease).await.ok()?.spec?.holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stable_operator_reconciles_every_widget_and_counts_it() {
    let sim = demo().await;
    let api = widgets(&sim);
    eventually("all 40 widgets Ready", || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        (list.items.len() == 40
            && list.items.iter().all(|w| ready(w) == Some("True") && w.data["status"]["observedGeneration"] == 1))
        .then_some(())
    })
    .await;
    let pod = operator_pods(&sim, ":v1.0.0").await.remove(0).metadata.name.unwrap();
    let text = metrics(&sim, &pod).await;
    assert!(
        counter(&text, r#"controller_runtime_reconcile_total{controller="widget",result="success"}"#) >= 40.0,
        "{text}"
    );
    assert_eq!(counter(&text, r#"controller_runtime_reconcile_errors_total{controller="widget"}"#), 0.0, "{text}");

    // A spec change bumps generation; the operator catches up.
    let patch = json!({"spec": {"replicas": 2}});
    api.patch("widget-07", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    eventually("observedGeneration catches up", || async {
        let widget = api.get("widget-07").await.ok()?;
        (widget.metadata.generation == Some(2) && widget.data["status"]["observedGeneration"] == 2).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_canary_fails_only_gold_widgets_and_overlapping_scopes_show() {
    let sim = demo().await;
    let api = widgets(&sim);
    let deployments: Api<Deployment> = Api::namespaced(sim.client(), "demo-system");
    let canary = canary_deployment("registry.example/demo-operator:v1.1.0-bad", "demo.operator-upgrade.dev/tier=gold");
    deployments.patch("demo-operator-canary", &PatchParams::apply("test"), &Patch::Apply(&canary)).await.unwrap();

    let failed = eventually("gold widgets fail under the bad canary", || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        let gold: Vec<&DynamicObject> = list.items.iter().filter(|w| is_gold(w)).collect();
        (gold.len() == 10 && gold.iter().all(|w| ready(w) == Some("False"))).then_some(gold.len())
    })
    .await;
    assert_eq!(failed, 10);
    let events: Api<Event> = Api::namespaced(sim.client(), "default");
    let warnings = events.list(&ListParams::default()).await.unwrap().items;
    assert!(warnings.iter().any(|e| e.type_.as_deref() == Some("Warning")
        && e.involved_object.name.as_deref().is_some_and(|n| n.starts_with("widget-"))));
    let canary_pod = operator_pods(&sim, ":v1.1.0-bad").await.remove(0).metadata.name.unwrap();
    let text = metrics(&sim, &canary_pod).await;
    assert!(counter(&text, r#"controller_runtime_reconcile_errors_total{controller="widget"}"#) >= 10.0, "{text}");

    // The stable operator still watches everything, so a change to a gold widget is reconciled by both
    // operators: the bug a canary tool must avoid, made visible.
    let stable_pod = operator_pods(&sim, ":v1.0.0").await.remove(0).metadata.name.unwrap();
    let success = r#"controller_runtime_reconcile_total{controller="widget",result="success"}"#;
    let errors = r#"controller_runtime_reconcile_errors_total{controller="widget"}"#;
    let (stable_before, canary_before) =
        (counter(&metrics(&sim, &stable_pod).await, success), counter(&metrics(&sim, &canary_pod).await, errors));
    let bump = |replicas: i64| json!({"spec": {"replicas": replicas}});
    api.patch("widget-00", &PatchParams::default(), &Patch::Merge(&bump(5))).await.unwrap();
    eventually("both operators reconcile the changed gold widget", || async {
        let stable = counter(&metrics(&sim, &stable_pod).await, success);
        let canary = counter(&metrics(&sim, &canary_pod).await, errors);
        (stable > stable_before && canary > canary_before).then_some(())
    })
    .await;

    // Rescoped away from gold (a rollout of the stable Deployment), the stable operator leaves gold to the canary.
    let rescope = json!({"spec": {"template": {"spec": {"containers": [{"name": "manager", "env": [{"name": "WATCH_LABEL_SELECTOR", "value": "demo.operator-upgrade.dev/tier!=gold"}]}]}}}});
    deployments.patch("demo-operator", &PatchParams::default(), &Patch::Strategic(&rescope)).await.unwrap();
    let rescoped_pod = eventually("the rescoped stable pod is the only stable pod", || async {
        let pods = operator_pods(&sim, ":v1.0.0").await;
        let names: Vec<String> = pods.into_iter().filter_map(|p| p.metadata.name).collect();
        (names.len() == 1 && names[0] != stable_pod).then(|| names[0].clone())
    })
    .await;
    eventually("the rescoped pod reconciled the 30 silver widgets", || async {
        (counter(&metrics(&sim, &rescoped_pod).await, success) >= 30.0).then_some(())
    })
    .await;
    let rescoped_before = counter(&metrics(&sim, &rescoped_pod).await, success);
    api.patch("widget-04", &PatchParams::default(), &Patch::Merge(&bump(6))).await.unwrap();
    eventually("the canary reconciles the changed gold widget", || async {
        let widget = api.get("widget-04").await.ok()?;
        (widget.data["status"]["observedGeneration"] == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        counter(&metrics(&sim, &rescoped_pod).await, success),
        rescoped_before,
        "gold widgets are no longer the stable operator's"
    );
    let list = api.list(&ListParams::default()).await.unwrap();
    assert!(list.items.iter().filter(|w| !is_gold(w)).all(|w| ready(w) == Some("True")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loops_and_jobs() {
    let sim = demo().await;
    let deployments: Api<Deployment> = Api::namespaced(sim.client(), "demo-system");
    let crashing = canary_deployment("registry.example/demo-operator:v1.1.0-crashloop", "");
    deployments.patch("demo-operator-canary", &PatchParams::apply("test"), &Patch::Apply(&crashing)).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(sim.client(), "demo-system");
    eventually("the crash-looping pod restarts", || async {
        let list = pods.list(&ListParams::default().labels("app=demo-operator-canary")).await.ok()?;
        let status = list.items.first()?.status.clone()?;
        let container = status.container_statuses?.into_iter().next()?;
        (container.restart_count >= 1 && !container.ready).then_some(())
    })
    .await;
    let deployment = deployments.get("demo-operator-canary").await.unwrap();
    assert_eq!(deployment.status.unwrap().ready_replicas.unwrap_or(0), 0);

    let jobs: Api<Job> = Api::namespaced(sim.client(), "default");
    let job: Job = serde_json::from_value(json!({"metadata": {"name": "pre-upgrade"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "check", "image": "busybox"}]}}}})).unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    eventually("the job completes", || async {
        let status = jobs.get("pre-upgrade").await.ok()?.status?;
        let complete = status.conditions?.iter().any(|c| c.type_ == "Complete" && c.status == "True");
        (complete && status.succeeded == Some(1)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_deployment_on_the_same_lease_waits_until_the_holder_is_gone() {
    let sim = demo().await;
    // The tool's own lock lives in the same namespace: the simulated operators never touch it.
    let own = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "operator-upgrade-lock-demo", "namespace": "demo-system"}, "spec": {"holderIdentity": "run@host/1"}});
    let own: Lease = serde_json::from_value(own).unwrap();
    let own_version = leases(&sim).create(&PostParams::default(), &own).await.unwrap().metadata.resource_version;
    all_widgets_ready(&sim).await;
    let stable_pod = operator_pods(&sim, ":v1.0.0").await.remove(0).metadata.name.unwrap();
    assert_eq!(holder(&sim, "demo-operator-lock").await.as_deref(), Some(stable_pod.as_str()));
    let lease = leases(&sim).get("demo-operator-lock").await.unwrap().spec.unwrap();
    assert_eq!(lease.lease_duration_seconds, Some(15));
    assert!(lease.acquire_time.is_some() && lease.renew_time.is_some());

    // Same image, same lease name: the second Deployment's pod runs but reconciles nothing.
    let deployments: Api<Deployment> = Api::namespaced(sim.client(), "demo-system");
    let args = json!(["--leader-elect", "--leader-election-id=demo-operator-lock"]);
    let second = operator_deployment("demo-operator-2", "registry.example/demo-operator:v1.0.0", args);
    deployments.patch("demo-operator-2", &PatchParams::apply("test"), &Patch::Apply(&second)).await.unwrap();
    let waiting = eventually("the second pod is Ready", || async {
        let pods = operator_pods(&sim, ":v1.0.0").await;
        pods.into_iter().filter_map(|p| p.metadata.name).find(|n| n.starts_with("demo-operator-2-"))
    })
    .await;
    let api = widgets(&sim);
    api.patch("widget-05", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"replicas": 3}}))).await.unwrap();
    eventually("the holder reconciles the change", || async {
        let widget = api.get("widget-05").await.ok()?;
        (widget.data["status"]["observedGeneration"] == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = metrics(&sim, &waiting).await;
    assert!(text.contains(r#"leader_election_master_status{name="demo-operator-lock"} 0"#), "{text}");
    assert!(!text.contains("controller_runtime_reconcile_total"), "a waiting pod started no controller: {text}");
    assert!(sim.reconcile_log().iter().all(|r| r.pod != waiting));
    assert!(sim.reconciler_conflicts().is_empty(), "one lease, one owner");
    assert_eq!(sim.owners_of("Widget", "default", "widget-05"), ["demo-operator"]);

    // The holder's Deployment goes: its pod terminates (still holding the lease), then the lease is free
    // and the waiting pod takes it and reconciles everything.
    deployments.delete("demo-operator", &DeleteParams::default()).await.unwrap();
    eventually("the waiting pod takes the lease", || async {
        (holder(&sim, "demo-operator-lock").await? == waiting).then_some(())
    })
    .await;
    eventually("the new holder reconciled every widget", || async {
        let text = metrics(&sim, &waiting).await;
        (counter(&text, r#"controller_runtime_reconcile_total{controller="widget",result="success"}"#) >= 40.0)
            .then_some(())
    })
    .await;
    assert_eq!(sim.owners_of("Widget", "default", "widget-05"), ["demo-operator-2"]);
    let untouched = leases(&sim).get("operator-upgrade-lock-demo").await.unwrap();
    assert_eq!(untouched.metadata.resource_version, own_version, "the tool's own lease is left alone");

    // Election turned off: a pod reconciles as soon as it is Ready, next to the holder.
    let args = json!(["--leader-elect=false"]);
    let free = operator_deployment("demo-operator-free", "registry.example/demo-operator:v1.0.0", args);
    deployments.patch("demo-operator-free", &PatchParams::apply("test"), &Patch::Apply(&free)).await.unwrap();
    let conflict = eventually("both own every widget: a conflict is recorded", || async {
        sim.reconciler_conflicts().into_iter().next()
    })
    .await;
    assert_eq!(conflict.deployments, ["demo-operator-2", "demo-operator-free"]);
    assert_eq!(conflict.object.kind, "Widget");
    assert_eq!(sim.owners_of("Widget", "default", "widget-05"), ["demo-operator-2", "demo-operator-free"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_operator_pod_keeps_reconciling_until_its_grace_period_ends() {
    let sim = demo().await;
    all_widgets_ready(&sim).await;
    let pod_name = operator_pods(&sim, ":v1.0.0").await.remove(0).metadata.name.unwrap();
    let pods: Api<Pod> = Api::namespaced(sim.client(), "demo-system");
    pods.delete(&pod_name, &DeleteParams::default()).await.unwrap();
    let deleted = pods.get(&pod_name).await.expect("a deleted pod stays while it terminates");
    assert!(deleted.metadata.deletion_timestamp.is_some());
    assert_eq!(deleted.metadata.deletion_grace_period_seconds, Some(2));

    // The ReplicaSet replaces it at once; the replacement waits for the lease the terminating pod holds,
    // so the terminating pod is the one reconciling a change.
    let api = widgets(&sim);
    api.patch("widget-09", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"replicas": 4}}))).await.unwrap();
    let by = eventually("the change is reconciled", || async {
        let widget = api.get("widget-09").await.ok()?;
        (widget.data["status"]["observedGeneration"] == 2).then(|| widget.data["status"]["reconciledBy"].clone())
    })
    .await;
    assert_eq!(by, json!(pod_name), "the terminating pod still reconciles");
    let replicaset_pods = |list: Vec<Pod>| list.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).count();
    let deployments: Api<Deployment> = Api::namespaced(sim.client(), "demo-system");
    eventually("the Deployment counts only the replacement", || async {
        let status = deployments.get("demo-operator").await.ok()?.status?;
        let live = replicaset_pods(pods.list(&ListParams::default()).await.ok()?.items);
        (status.replicas == Some(1) && live == 1).then_some(())
    })
    .await;
    eventually("the pod is removed after its grace period", || async {
        pods.get(&pod_name).await.is_err().then_some(())
    })
    .await;
    eventually("the replacement takes the lease", || async {
        let holder = holder(&sim, "demo-operator-lock").await?;
        (holder != pod_name).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ms_ends_a_pod_before_its_grace_period() {
    let sim = demo_with("registry.example/demo-operator:quick-exit", |image| image.shutdown_ms = Some(100)).await;
    let deployments: Api<Deployment> = Api::namespaced(sim.client(), "demo-system");
    let mut quick =
        operator_deployment("quick", "registry.example/demo-operator:quick-exit", json!(["--leader-elect=false"]));
    quick["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(600);
    deployments.patch("quick", &PatchParams::apply("test"), &Patch::Apply(&quick)).await.unwrap();
    let name = eventually("the pod runs", || async {
        operator_pods(&sim, ":quick-exit").await.into_iter().next()?.metadata.name
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(sim.client(), "demo-system");
    pods.delete(&name, &DeleteParams::default()).await.unwrap();
    eventually("the pod is gone long before 600 s", || async { pods.get(&name).await.is_err().then_some(()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependents_are_rewritten_only_by_a_new_template_or_a_spec_change() {
    let mut scenario = demo_scenario();
    for image in &mut scenario.images {
        let template = match image.image.as_str() {
            "registry.example/demo-operator:v1.0.0" => "v1",
            "registry.example/demo-operator:v1.1.0" => "v2",
            _ => continue,
        };
        // v1.1.0 shares the anchor of v1.0.0 in the file: each gets its own copy here.
        if let Some(operator) = image.operator.as_mut() {
            operator.dependents = Some(Dependents { template: template.to_owned() });
        }
    }
    let sim = Sim::start(scenario).await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let state = || async {
        let list = maps.list(&ListParams::default()).await.ok()?;
        let states: Vec<ConfigMap> = list
            .items
            .into_iter()
            .filter(|m| m.metadata.name.as_deref().is_some_and(|n| n.ends_with("-state")))
            .collect();
        (states.len() == 40).then_some(states)
    };
    let first = eventually("every widget has its dependent", state).await;
    let widget = widgets(&sim).get("widget-01").await.unwrap();
    let dependent = first.iter().find(|m| m.metadata.name.as_deref() == Some("widget-01-state")).unwrap();
    let owner = &dependent.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.uid.as_str(), owner.controller), (widget.metadata.uid.as_deref().unwrap(), Some(true)));
    assert_eq!(dependent.data.as_ref().unwrap()["template"], "v1");
    let versions = |maps: &[ConfigMap]| -> Vec<Option<String>> {
        let mut v: Vec<_> = maps.iter().map(|m| m.metadata.resource_version.clone()).collect();
        v.sort();
        v
    };

    // A spec change rewrites that object's dependent only.
    let api = widgets(&sim);
    api.patch("widget-01", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"replicas": 7}}))).await.unwrap();
    let second = eventually("widget-01's dependent follows its spec", || async {
        let states = state().await?;
        let changed = states
            .iter()
            .filter(|m| !first.iter().any(|f| f.metadata.resource_version == m.metadata.resource_version))
            .count();
        (changed == 1).then_some(states)
    })
    .await;

    // The same template under a new pod (v1.0.0 restarted) writes nothing.
    let pods: Api<Pod> = Api::namespaced(sim.client(), "demo-system");
    let old = operator_pods(&sim, ":v1.0.0").await.remove(0).metadata.name.unwrap();
    pods.delete(&old, &DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() }).await.unwrap();
    eventually("a new pod leads and reconciles everything", || async {
        let pod =
            operator_pods(&sim, ":v1.0.0").await.into_iter().find(|p| p.metadata.name.as_deref() != Some(&old))?;
        let name = pod.metadata.name?;
        let text = metrics(&sim, &name).await;
        (counter(&text, r#"controller_runtime_reconcile_total{controller="widget",result="success"}"#) >= 40.0)
            .then_some(())
    })
    .await;
    assert_eq!(versions(&state().await.unwrap()), versions(&second), "same template, same specs: no writes");

    // A release with another template rewrites every dependent.
    let deployments: Api<Deployment> = Api::namespaced(sim.client(), "demo-system");
    let upgrade = json!({"spec": {"template": {"spec": {"containers": [{"name": "manager", "image": "registry.example/demo-operator:v1.1.0"}]}}}});
    deployments.patch("demo-operator", &PatchParams::default(), &Patch::Strategic(&upgrade)).await.unwrap();
    eventually("every dependent carries the v2 template", || async {
        let states = state().await?;
        states.iter().all(|m| m.data.as_ref().is_some_and(|d| d["template"] == "v2")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_faults_and_a_failing_cluster() {
    let sim = demo_with("registry.example/demo-operator:flaky", |image| {
        image.operator.as_mut().unwrap().metrics_only_error_rate = 0.3;
    })
    .await;
    let deployments: Api<Deployment> = Api::namespaced(sim.client(), "demo-system");
    let upgrade = json!({"spec": {"template": {"spec": {"containers": [{"name": "manager", "image": "registry.example/demo-operator:flaky"}]}}}});
    deployments.patch("demo-operator", &PatchParams::default(), &Patch::Strategic(&upgrade)).await.unwrap();
    let flaky = eventually("the flaky pod reconciled every widget", || async {
        let name = operator_pods(&sim, ":flaky").await.into_iter().next()?.metadata.name?;
        let text = metrics(&sim, &name).await;
        (counter(&text, r#"controller_runtime_reconcile_total{controller="widget",result="success"}"#) >= 40.0)
            .then_some(text)
    })
    .await;
    let errors = counter(&flaky, r#"controller_runtime_reconcile_total{controller="widget",result="error"}"#);
    assert!((3.0..=25.0).contains(&errors), "about 30% of 40 counted as errors: {flaky}");
    assert_eq!(errors, counter(&flaky, r#"controller_runtime_reconcile_errors_total{controller="widget"}"#));
    all_widgets_ready(&sim).await;

    // The whole cluster fails: every operator's reconciles fail as a cluster problem.
    sim.set_operators_fail(true);
    let api = widgets(&sim);
    api.patch("widget-02", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"replicas": 2}}))).await.unwrap();
    eventually("the change fails as a cluster problem", || async {
        let widget = api.get("widget-02").await.ok()?;
        let conditions = widget.data["status"]["conditions"].as_array()?.clone();
        let ready = conditions.iter().find(|c| c["type"] == "Ready")?;
        (ready["status"] == "False" && ready["reason"] == "ClusterProblem").then_some(())
    })
    .await;
    let events: Api<Event> = Api::namespaced(sim.client(), "default");
    let warnings = events.list(&ListParams::default()).await.unwrap().items;
    assert!(warnings.iter().any(
        |e| e.reason.as_deref() == Some("ClusterProblem") && e.involved_object.name.as_deref() == Some("widget-02")
    ));
    sim.set_operators_fail(false);
    eventually("it recovers when the cluster does", || async {
        (ready(&api.get("widget-02").await.ok()?) == Some("True")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_without_metrics_serves_none() {
    let sim = demo_with("registry.example/demo-operator:silent", |image| image.metrics = Some(false)).await;
    let deployments: Api<Deployment> = Api::namespaced(sim.client(), "demo-system");
    let silent =
        operator_deployment("silent", "registry.example/demo-operator:silent", json!(["--leader-election-id=silent"]));
    deployments.patch("silent", &PatchParams::apply("test"), &Patch::Apply(&silent)).await.unwrap();
    let name = eventually("the silent pod reconciles", || async {
        let pod = operator_pods(&sim, ":silent").await.into_iter().next()?.metadata.name?;
        sim.reconcile_log().iter().any(|r| r.pod == pod && r.deployment == "silent").then_some(pod)
    })
    .await;
    let request = http::Request::get(format!("/api/v1/namespaces/demo-system/pods/{name}:8080/proxy/metrics"))
        .body(vec![])
        .unwrap();
    // 503 without retries (kube's default client would retry it for a minute).
    let mut config = kube::Config::new(sim.url().parse().unwrap());
    config.default_retry = false;
    let client = kube::Client::try_from(config).unwrap();
    assert!(matches!(client.request_text(request).await, Err(kube::Error::Api(s)) if s.code == 503), "no metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_churn_specs_so_generations_grow() {
    let dir = tempfile::tempdir().unwrap();
    let crd = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.churn.example}
spec:
  group: churn.example
  scope: Namespaced
  names: {kind: Gadget, plural: gadgets, singular: gadget}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, properties: {replicas: {type: integer}}}
            status: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;
    std::fs::write(dir.path().join("crd.yaml"), crd).unwrap();
    let population = |namespace: &str| Population {
        count: 20,
        name_prefix: "gadget-".into(),
        template: ObjectTemplate::from_json(json!({"apiVersion": "churn.example/v1", "kind": "Gadget",
            "metadata": {"namespace": namespace}, "spec": {"replicas": 1}}))
        .unwrap(),
        label_every: None,
    };
    let churn = Churn {
        group: "churn.example".into(),
        kind: "Gadget".into(),
        every_ms: 100,
        count: 3,
        field: ".spec.replicas".into(),
        values: vec![json!(1), json!(2), json!(3)],
        namespace: Some("default".into()),
        label_selector: None,
    };
    let scenario = Scenario {
        manifests: vec!["crd.yaml".into()],
        populations: vec![population("default"), population("other")],
        churn: vec![churn],
        tick_ms: 10,
        base_dir: dir.path().to_owned(),
        ..Scenario::default()
    };
    let sim = Sim::start(scenario).await.expect("sim starts");
    let gvk = GroupVersionKind::gvk("churn.example", "v1", "Gadget");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "gadgets");
    let gadgets: Api<DynamicObject> = Api::namespaced_with(sim.client(), "default", &resource);
    let others: Api<DynamicObject> = Api::namespaced_with(sim.client(), "other", &resource);
    let listed = gadgets.list(&ListParams::default()).await.unwrap();
    let version = listed.metadata.resource_version.clone().unwrap();
    let mut watch = gadgets.watch(&WatchParams::default(), &version).await.unwrap().boxed();

    let generation = |g: &DynamicObject| g.metadata.generation.unwrap_or(1);
    let changes = eventually("9 spec changes", || async {
        let items = gadgets.list(&ListParams::default()).await.ok()?.items;
        let changes: i64 = items.iter().map(|g| generation(g) - 1).sum();
        (changes >= 9).then_some(items)
    })
    .await;
    for gadget in changes.iter().filter(|g| generation(g) > 1) {
        assert!([1, 2, 3].iter().any(|v| gadget.data["spec"]["replicas"] == *v), "{:?}", gadget.data);
        assert!(gadget.data.get("status").is_none(), "status is not touched");
    }
    let changed = changes.iter().filter(|g| generation(g) > 1).count();
    assert!(changed >= 3, "at least one round of 3 distinct gadgets: {changed}");
    let modified = tokio::time::timeout(Duration::from_secs(5), watch.try_next()).await.unwrap().unwrap();
    match modified {
        Some(WatchEvent::Modified(gadget)) => assert!(generation(&gadget) > 1),
        other => panic!("a MODIFIED event was expected: {other:?}"),
    }
    let untouched = others.list(&ListParams::default()).await.unwrap().items;
    assert!(untouched.iter().all(|g| generation(g) == 1), "only the entry's namespace churns");
}
