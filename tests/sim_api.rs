//! The simulated API server through the real `kube::Client`: every verb, resourceVersion conflicts,
//! watch resume and 410, selectors, CRD rules, status/scale subresources, patch types and SSA conflicts.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::Client;
use operator_upgrade::sim::{ErrorRule, FaultConfig, Scenario, Sim, SimHandle};
use serde_json::json;

async fn sim() -> SimHandle {
    Sim::start(Scenario { watch_history: 1000, ..Scenario::default() }).await.expect("sim starts")
}

fn config_map(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})).unwrap()
}

fn widget_crd(versions: serde_json::Value) -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"}, "versions": versions}
    }))
    .unwrap()
}

fn widget_version(name: &str, storage: bool) -> serde_json::Value {
    json!({"name": name, "served": true, "storage": storage, "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"size": {"type": "integer", "default": 3}, "replicas": {"type": "integer"}, "tier": {"type": "string"}}},
            "status": {"type": "object", "properties": {"replicas": {"type": "integer"}, "phase": {"type": "string"}}}}}}})
}

fn widgets(client: &Client, version: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("example.com", version, "Widget");
    Api::namespaced_with(client.clone(), "default", &ApiResource::from_gvk_with_plural(&gvk, "widgets"))
}

#[tokio::test]
async fn crud_and_conflicts_on_core_kinds() {
    let sim = sim().await;
    let maps: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let created = maps.create(&PostParams::default(), &config_map("a", json!({"app": "web"}))).await.unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some() && meta.resource_version.is_some());
    let again = maps.create(&PostParams::default(), &config_map("a", json!({}))).await.unwrap_err();
    assert!(matches!(again, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"), "{again:?}");

    let mut stale = created.clone();
    let mut fresh = maps.get("a").await.unwrap();
    fresh.data = Some([("k".to_owned(), "changed".to_owned())].into());
    let updated = maps.replace("a", &PostParams::default(), &fresh).await.unwrap();
    assert_ne!(updated.metadata.resource_version, created.metadata.resource_version);
    stale.data = Some([("k".to_owned(), "lost update".to_owned())].into());
    let conflict = maps.replace("a", &PostParams::default(), &stale).await.unwrap_err();
    assert!(matches!(conflict, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"), "{conflict:?}");

    let missing = maps.get("nope").await.unwrap_err();
    assert!(matches!(missing, kube::Error::Api(ref s) if s.code == 404 && s.reason == "NotFound"));
    let wrong_ns: Api<ConfigMap> = Api::namespaced(sim.client(), "no-such-namespace");
    assert!(
        matches!(wrong_ns.create(&PostParams::default(), &config_map("x", json!({}))).await, Err(kube::Error::Api(s)) if s.code == 404)
    );

    maps.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(maps.get_opt("a").await.unwrap().is_none());
}

#[tokio::test]
async fn list_selectors_and_paging() {
    let sim = sim().await;
    let maps: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    for (name, tier) in [("a", "gold"), ("b", "silver"), ("c", "gold"), ("d", "bronze")] {
        maps.create(&PostParams::default(), &config_map(name, json!({"tier": tier, "app": "x"}))).await.unwrap();
    }
    maps.create(&PostParams::default(), &config_map("e", json!({}))).await.unwrap();
    let names = |list: kube::core::ObjectList<ConfigMap>| {
        list.items.into_iter().map(|c| c.metadata.name.unwrap()).collect::<Vec<_>>()
    };
    let select = |s: &str| ListParams::default().labels(s);
    assert_eq!(names(maps.list(&select("tier=gold")).await.unwrap()), ["a", "c"]);
    assert_eq!(names(maps.list(&select("tier==gold")).await.unwrap()), ["a", "c"]);
    assert_eq!(names(maps.list(&select("tier!=gold")).await.unwrap()), ["b", "d", "e"]);
    assert_eq!(names(maps.list(&select("tier in (gold,bronze)")).await.unwrap()), ["a", "c", "d"]);
    assert_eq!(names(maps.list(&select("tier notin (gold,bronze)")).await.unwrap()), ["b", "e"]);
    assert_eq!(names(maps.list(&select("tier")).await.unwrap()), ["a", "b", "c", "d"]);
    assert_eq!(names(maps.list(&select("!tier")).await.unwrap()), ["e"]);
    assert_eq!(names(maps.list(&ListParams::default().fields("metadata.name=b")).await.unwrap()), ["b"]);
    assert_eq!(
        names(maps.list(&ListParams::default().fields("metadata.name!=b,metadata.namespace=default")).await.unwrap()),
        ["a", "c", "d", "e"]
    );

    let first = maps.list(&ListParams::default().limit(2)).await.unwrap();
    let token = first.metadata.continue_.clone().expect("more pages");
    assert_eq!(names(first), ["a", "b"]);
    let second = maps.list(&ListParams::default().limit(2).continue_token(&token)).await.unwrap();
    let token = second.metadata.continue_.clone().expect("a last page");
    assert_eq!(names(second), ["c", "d"]);
    let last = maps.list(&ListParams::default().limit(2).continue_token(&token)).await.unwrap();
    assert!(last.metadata.continue_.as_deref().unwrap_or_default().is_empty());
    assert_eq!(names(last), ["e"]);

    let all: Api<ConfigMap> = Api::all(sim.client());
    assert_eq!(all.list(&ListParams::default()).await.unwrap().items.len(), 5);
}

#[tokio::test]
async fn watch_from_a_version_resumes_and_old_versions_are_gone() {
    let sim = Sim::start(Scenario { watch_history: 20, ..Scenario::default() }).await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let start = maps.create(&PostParams::default(), &config_map("w0", json!({"watched": "yes"}))).await.unwrap();
    let version = start.metadata.resource_version.clone().unwrap();
    maps.create(&PostParams::default(), &config_map("w1", json!({"watched": "yes"}))).await.unwrap();
    maps.create(&PostParams::default(), &config_map("other", json!({}))).await.unwrap();
    maps.delete("w0", &DeleteParams::default()).await.unwrap();

    let stream = maps.watch(&WatchParams::default().labels("watched=yes").timeout(2), &version).await.unwrap();
    let events: Vec<WatchEvent<ConfigMap>> = stream.take(2).try_collect().await.unwrap();
    assert!(matches!(&events[0], WatchEvent::Added(c) if c.metadata.name.as_deref() == Some("w1")), "{events:?}");
    assert!(matches!(&events[1], WatchEvent::Deleted(c) if c.metadata.name.as_deref() == Some("w0")), "{events:?}");

    for index in 0..30 {
        maps.create(&PostParams::default(), &config_map(&format!("churn{index}"), json!({}))).await.unwrap();
    }
    let mut stream = maps.watch(&WatchParams::default().timeout(2), &version).await.unwrap().boxed();
    match stream.next().await {
        Some(Ok(WatchEvent::Error(status))) => assert_eq!((status.code, status.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410 Gone, got {other:?}"),
    }

    let live = maps.watch(&WatchParams::default().fields("metadata.name=late").timeout(5), "0").await.unwrap();
    let creator = {
        let maps = maps.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            maps.create(&PostParams::default(), &config_map("late", json!({}))).await.unwrap();
        })
    };
    let first: Vec<WatchEvent<ConfigMap>> = live.take(1).try_collect().await.unwrap();
    assert!(matches!(&first[0], WatchEvent::Added(c) if c.metadata.name.as_deref() == Some("late")));
    creator.await.unwrap();
}

#[tokio::test]
async fn crd_rules_and_custom_resources() {
    let sim = sim().await;
    let crds: Api<CustomResourceDefinition> = Api::all(sim.client());
    crds.create(&PostParams::default(), &widget_crd(json!([widget_version("v1", true)]))).await.unwrap();
    let crd = crds.get("widgets.example.com").await.unwrap();
    let status = crd.status.unwrap();
    assert_eq!(status.stored_versions, Some(vec!["v1".to_owned()]));
    assert!(status.conditions.unwrap().iter().any(|c| c.type_ == "Established" && c.status == "True"));

    let v1 = widgets(&sim.client(), "v1");
    let widget: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"tier": "gold", "unknown": 1}, "status": {"phase": "ignored"}})).unwrap();
    let created = v1.create(&PostParams::default(), &widget).await.unwrap();
    assert_eq!(created.data["spec"], json!({"tier": "gold", "size": 3}), "pruned and defaulted");
    assert!(created.data.get("status").is_none(), "status is ignored on create with a status subresource");
    assert_eq!(created.metadata.generation, Some(1));

    // Serving a second version (conversion None) rewrites apiVersion only; the storage version moves to v2.
    let mut crd = crds.get("widgets.example.com").await.unwrap();
    crd.spec.versions =
        serde_json::from_value(json!([widget_version("v1", false), widget_version("v2", true)])).unwrap();
    crds.replace("widgets.example.com", &PostParams::default(), &crd).await.unwrap();
    let as_v2 = widgets(&sim.client(), "v2").get("w").await.unwrap();
    assert_eq!(as_v2.types.unwrap().api_version, "example.com/v2");
    let stored = crds.get("widgets.example.com").await.unwrap().status.unwrap().stored_versions.unwrap();
    assert_eq!(stored, ["v1", "v2"]);

    // Dropping v1 while it is still in storedVersions is rejected; after trimming through /status it is allowed.
    let mut dropped = crds.get("widgets.example.com").await.unwrap();
    dropped.spec.versions = serde_json::from_value(json!([widget_version("v2", true)])).unwrap();
    let rejected = crds.replace("widgets.example.com", &PostParams::default(), &dropped).await.unwrap_err();
    assert!(
        matches!(rejected, kube::Error::Api(ref s) if s.code == 422 && s.message.contains("storedVersions")),
        "{rejected:?}"
    );
    let trim = json!({"status": {"storedVersions": ["v2"]}});
    crds.patch_status("widgets.example.com", &PatchParams::default(), &Patch::Merge(&trim)).await.unwrap();
    let mut dropped = crds.get("widgets.example.com").await.unwrap();
    dropped.spec.versions = serde_json::from_value(json!([widget_version("v2", true)])).unwrap();
    crds.replace("widgets.example.com", &PostParams::default(), &dropped).await.unwrap();

    // Two storage versions, or a changed scope or plural, are rejected.
    let mut two = crds.get("widgets.example.com").await.unwrap();
    two.spec.versions =
        serde_json::from_value(json!([widget_version("v2", true), widget_version("v3", true)])).unwrap();
    assert!(
        matches!(crds.replace("widgets.example.com", &PostParams::default(), &two).await, Err(kube::Error::Api(s)) if s.code == 422)
    );
    let mut rescoped = crds.get("widgets.example.com").await.unwrap();
    rescoped.spec.scope = "Cluster".to_owned();
    assert!(
        matches!(crds.replace("widgets.example.com", &PostParams::default(), &rescoped).await, Err(kube::Error::Api(s)) if s.code == 422 && s.message.contains("immutable"))
    );
}

#[tokio::test]
async fn status_and_scale_subresources_and_generation() {
    let sim = sim().await;
    let crds: Api<CustomResourceDefinition> = Api::all(sim.client());
    crds.create(&PostParams::default(), &widget_crd(json!([widget_version("v1", true)]))).await.unwrap();
    let v1 = widgets(&sim.client(), "v1");
    let widget: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"replicas": 1}}),
    )
    .unwrap();
    v1.create(&PostParams::default(), &widget).await.unwrap();

    let status = json!({"status": {"phase": "Ready", "replicas": 1}});
    let after_status = v1.patch_status("w", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    assert_eq!(after_status.data["status"]["phase"], "Ready");
    assert_eq!(after_status.metadata.generation, Some(1), "status writes do not bump generation");
    let through_main = json!({"status": {"phase": "Hacked"}, "metadata": {"labels": {"x": "y"}}});
    let after_main = v1.patch("w", &PatchParams::default(), &Patch::Merge(&through_main)).await.unwrap();
    assert_eq!(after_main.data["status"]["phase"], "Ready", "status via the main endpoint is ignored");
    assert_eq!(after_main.metadata.generation, Some(1), "metadata changes do not bump generation");
    let spec = json!({"spec": {"replicas": 2}});
    assert_eq!(
        v1.patch("w", &PatchParams::default(), &Patch::Merge(&spec)).await.unwrap().metadata.generation,
        Some(2)
    );

    let scale = v1.get_scale("w").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    let rescale = json!({"spec": {"replicas": 5}});
    v1.patch_scale("w", &PatchParams::default(), &Patch::Merge(&rescale)).await.unwrap();
    assert_eq!(v1.get("w").await.unwrap().data["spec"]["replicas"], 5);
}

#[tokio::test]
async fn patch_types_and_server_side_apply_conflicts() {
    let sim = sim().await;
    let deployments: Api<Deployment> = Api::namespaced(sim.client(), "default");
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "op"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "op"}}, "template": {"metadata": {"labels": {"app": "op"}},
            "spec": {"containers": [{"name": "manager", "image": "op:1"}, {"name": "sidecar", "image": "proxy:1"}]}}}
    });
    deployments.patch("op", &PatchParams::apply("team-a"), &Patch::Apply(&deployment)).await.unwrap();

    let strategic = json!({"spec": {"template": {"spec": {"containers": [{"name": "manager", "image": "op:2"}]}}}});
    let patched = deployments.patch("op", &PatchParams::default(), &Patch::Strategic(&strategic)).await.unwrap();
    let containers = patched.spec.unwrap().template.spec.unwrap().containers;
    assert_eq!(
        containers.iter().map(|c| (c.name.as_str(), c.image.as_deref().unwrap())).collect::<Vec<_>>(),
        [("manager", "op:2"), ("sidecar", "proxy:1")]
    );

    let json_patch: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/replicas", "value": 2}])).unwrap();
    let patched = deployments.patch("op", &PatchParams::default(), &Patch::<()>::Json(json_patch)).await.unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(2));

    let mut other = deployment.clone();
    other["spec"]["replicas"] = json!(7);
    let conflict = deployments.patch("op", &PatchParams::apply("team-b"), &Patch::Apply(&other)).await.unwrap_err();
    assert!(
        matches!(conflict, kube::Error::Api(ref s) if s.code == 409 && s.message.contains("replicas")),
        "{conflict:?}"
    );
    let forced = deployments.patch("op", &PatchParams::apply("team-b").force(), &Patch::Apply(&other)).await.unwrap();
    assert_eq!(forced.spec.unwrap().replicas, Some(7));
    let managers: Vec<String> = forced.metadata.managed_fields.unwrap().into_iter().filter_map(|m| m.manager).collect();
    assert!(managers.contains(&"team-b".to_owned()), "{managers:?}");
}

#[tokio::test]
async fn finalizers_delay_deletion_and_owners_collect_dependents() {
    let sim = sim().await;
    let maps: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let mut guarded = config_map("guarded", json!({}));
    guarded.metadata.finalizers = Some(vec!["example.com/keep".to_owned()]);
    maps.create(&PostParams::default(), &guarded).await.unwrap();
    maps.delete("guarded", &DeleteParams::default()).await.unwrap();
    let pending = maps.get("guarded").await.unwrap();
    assert!(pending.metadata.deletion_timestamp.is_some());
    let release = json!({"metadata": {"finalizers": null}});
    maps.patch("guarded", &PatchParams::default(), &Patch::Merge(&release)).await.unwrap();
    assert!(maps.get_opt("guarded").await.unwrap().is_none());

    let owner = maps.create(&PostParams::default(), &config_map("owner", json!({}))).await.unwrap();
    let mut dependent = config_map("dependent", json!({}));
    dependent.metadata.owner_references = Some(vec![serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}),
    )
    .unwrap()]);
    maps.create(&PostParams::default(), &dependent).await.unwrap();
    maps.delete("owner", &DeleteParams::default()).await.unwrap();
    assert!(maps.get_opt("dependent").await.unwrap().is_none());
}

#[tokio::test]
async fn injected_faults_are_api_errors_and_can_change_while_running() {
    let sim = sim().await;
    let namespaces: Api<Namespace> = Api::all(sim.client());
    namespaces.get("default").await.unwrap();
    sim.set_faults(FaultConfig {
        seed: 1,
        errors: vec![ErrorRule {
            verb: Some("get".into()),
            resource: Some("namespaces".into()),
            code: 500,
            rate: 1.0,
            retry_after_seconds: 1,
        }],
        ..FaultConfig::default()
    });
    assert!(matches!(namespaces.get("default").await, Err(kube::Error::Api(s)) if s.code == 500));
    assert!(namespaces.list(&ListParams::default()).await.is_ok(), "only the named verb fails");
    sim.set_faults(FaultConfig {
        errors: vec![ErrorRule { verb: None, resource: None, code: 429, rate: 1.0, retry_after_seconds: 3 }],
        ..FaultConfig::default()
    });
    let mut config = kube::Config::new(sim.url().parse().unwrap());
    config.default_retry = false;
    let no_retry: Api<Namespace> = Api::all(Client::try_from(config).unwrap());
    assert!(matches!(no_retry.list(&ListParams::default()).await, Err(kube::Error::Api(s)) if s.code == 429));
    // kube's default client retries 429 (honouring Retry-After): with half the requests throttled it gets through.
    sim.set_faults(FaultConfig {
        seed: 3,
        errors: vec![ErrorRule { verb: None, resource: None, code: 429, rate: 0.5, retry_after_seconds: 0 }],
        ..FaultConfig::default()
    });
    for _ in 0..5 {
        namespaces.list(&ListParams::default()).await.unwrap();
    }
    sim.set_faults(FaultConfig::default());
    assert!(namespaces.get("default").await.is_ok());

    // The same switch over HTTP, for a simulator running as a separate process.
    let body = json!({"errors": [{"verb": "get", "resource": "namespaces", "code": 500, "rate": 1.0}]});
    let request = http::Request::put("/sim/faults").body(serde_json::to_vec(&body).unwrap()).unwrap();
    let echoed = sim.client().request_text(request).await.unwrap();
    assert!(echoed.contains("\"code\":500"), "{echoed}");
    assert!(matches!(namespaces.get("default").await, Err(kube::Error::Api(s)) if s.code == 500));
}

#[tokio::test]
async fn discovery_serves_builtins_and_established_crds() {
    let sim = sim().await;
    let crds: Api<CustomResourceDefinition> = Api::all(sim.client());
    crds.create(&PostParams::default(), &widget_crd(json!([widget_version("v1", true)]))).await.unwrap();
    let discovery = kube::Discovery::new(sim.client()).run().await.unwrap();
    let groups: Vec<String> = discovery.groups().map(|g| g.name().to_owned()).collect();
    for group in ["", "apps", "apiextensions.k8s.io", "example.com"] {
        assert!(groups.contains(&group.to_owned()), "{group} missing from {groups:?}");
    }
    let (resource, caps) = discovery.resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget")).unwrap();
    assert_eq!(resource.plural, "widgets");
    assert!(caps.subresources.iter().any(|(s, _)| s.plural == "widgets/status" || s.plural == "status"));
    let version = sim.client().apiserver_version().await.unwrap();
    assert_eq!(version.minor, "33");
}

#[tokio::test]
async fn deleting_a_crd_deletes_its_objects_and_stops_serving_them() {
    let sim = sim().await;
    let crds: Api<CustomResourceDefinition> = Api::all(sim.client());
    crds.create(&PostParams::default(), &widget_crd(json!([widget_version("v1", true)]))).await.unwrap();
    let v1 = widgets(&sim.client(), "v1");
    let widget: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}),
    )
    .unwrap();
    v1.create(&PostParams::default(), &widget).await.unwrap();
    crds.delete("widgets.example.com", &DeleteParams::default()).await.unwrap();
    assert!(matches!(v1.list(&ListParams::default()).await, Err(kube::Error::Api(s)) if s.code == 404));
    crds.create(&PostParams::default(), &widget_crd(json!([widget_version("v1", true)]))).await.unwrap();
    assert!(v1.list(&ListParams::default()).await.unwrap().items.is_empty(), "the objects went with the CRD");
}

#[tokio::test]
async fn delete_collection_and_access_reviews() {
    let sim = sim().await;
    let maps: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    for (name, tier) in [("a", "gold"), ("b", "silver"), ("c", "gold")] {
        maps.create(&PostParams::default(), &config_map(name, json!({"tier": tier}))).await.unwrap();
    }
    maps.delete_collection(&DeleteParams::default(), &ListParams::default().labels("tier=gold")).await.unwrap();
    let left: Vec<String> =
        maps.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|c| c.metadata.name).collect();
    assert_eq!(left, ["b"]);

    use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
    let reviews: Api<SelfSubjectAccessReview> = Api::all(sim.client());
    let review: SelfSubjectAccessReview = serde_json::from_value(
        json!({"spec": {"resourceAttributes": {"verb": "patch", "group": "apps", "resource": "deployments"}}}),
    )
    .unwrap();
    let answered = reviews.create(&PostParams::default(), &review).await.unwrap();
    assert!(answered.status.unwrap().allowed);
}

#[tokio::test]
async fn injected_watch_cuts_end_streams_and_clients_resume() {
    let sim = sim().await;
    sim.set_faults(FaultConfig { watch_cut_after_seconds: Some(1), ..FaultConfig::default() });
    let maps: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let started = std::time::Instant::now();
    let stream = maps.watch(&WatchParams::default().timeout(30), "0").await.unwrap();
    let events: Vec<_> = stream.collect().await;
    assert!(events.is_empty());
    let elapsed = started.elapsed();
    assert!(
        elapsed >= std::time::Duration::from_millis(900) && elapsed < std::time::Duration::from_secs(5),
        "{elapsed:?}"
    );

    // kube's watcher relists and resumes across the cuts, seeing every change.
    let watcher = kube::runtime::watcher(maps.clone(), kube::runtime::watcher::Config::default());
    let seen = tokio::spawn(async move {
        use kube::runtime::WatchStreamExt;
        watcher
            .applied_objects()
            .map_ok(|c: ConfigMap| c.metadata.name.unwrap())
            .filter_map(|r| async { r.ok() })
            .take(3)
            .collect::<Vec<_>>()
            .await
    });
    for name in ["x", "y", "z"] {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        maps.create(&PostParams::default(), &config_map(name, json!({}))).await.unwrap();
    }
    let seen =
        tokio::time::timeout(std::time::Duration::from_secs(20), seen).await.expect("the watcher keeps up").unwrap();
    assert_eq!(seen, ["x", "y", "z"]);
}
