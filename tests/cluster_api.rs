//! The API semantics the engine relies on, through the real `kube::Client`, each test body run against the
//! simulator and the real control plane (see `tests/common`): every verb, resourceVersion conflicts, watch
//! resume and 410, selectors, CRD rules (storedVersions, Established, immutable names), status and scale
//! subresources, pruning and defaulting on write, validation ratcheting on update, patch types, SSA conflicts
//! and field managers, finalizers and garbage collection, discovery and access reviews.
//! Where the two answer differently, the simulator is wrong.

use crate::common;

use common::{eventually, TestCluster};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind, ObjectList};
use operator_upgrade::sim::Scenario;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

fn config_map(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})).unwrap()
}

fn names<K: kube::Resource + Clone>(list: ObjectList<K>) -> Vec<String> {
    list.items.into_iter().filter_map(|o| o.meta().name.clone()).collect()
}

/// A Widget CRD in an API group of this test's own, so tests sharing the real server never collide.
struct Widgets {
    group: String,
    namespace: String,
}

impl Widgets {
    async fn new(cluster: &TestCluster) -> Widgets {
        Widgets { group: format!("{}.example.com", cluster.unique("g")), namespace: cluster.namespace("w").await }
    }

    fn name(&self) -> String {
        format!("widgets.{}", self.group)
    }

    fn crd(&self, versions: Value) -> CustomResourceDefinition {
        serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": self.name()},
            "spec": {"group": self.group, "scope": "Namespaced", "names": {"kind": "Widget", "listKind": "WidgetList", "plural": "widgets", "singular": "widget"}, "versions": versions}
        }))
        .unwrap()
    }

    fn api(&self, cluster: &TestCluster, version: &str) -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk(&self.group, version, "Widget");
        Api::namespaced_with(cluster.client(), &self.namespace, &ApiResource::from_gvk_with_plural(&gvk, "widgets"))
    }

    fn object(&self, version: &str, name: &str, spec: Value) -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": format!("{}/{version}", self.group), "kind": "Widget", "metadata": {"name": name}, "spec": spec})).unwrap()
    }
}

impl Widgets {
    /// Replaces the CRD's only version with `v1` of this schema extension, as a release upgrade would.
    async fn upgrade_v1(&self, cluster: &TestCluster, extra: Value) {
        let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
        let mut crd = crds.get(&self.name()).await.unwrap();
        crd.spec.versions = serde_json::from_value(json!([widget_version_with("v1", true, extra)])).unwrap();
        crds.replace(&self.name(), &PostParams::default(), &crd).await.unwrap();
    }
}

/// Retries a dry-run `write` until the API server rejects it (a CRD update takes effect asynchronously on
/// a real server) and returns the rejection.
async fn rejection_once_in_force<T, F>(what: &str, write: impl Fn() -> F) -> kube::core::Status
where
    F: std::future::Future<Output = Result<T, kube::Error>>,
{
    eventually(what, || async {
        match write().await {
            Err(kube::Error::Api(status)) => Some(*status),
            _ => None,
        }
    })
    .await
}

const DRY_RUN: PostParams = PostParams { dry_run: true, field_manager: None };

fn widget_version(name: &str, storage: bool) -> Value {
    widget_version_with(name, storage, json!({}))
}

/// A Widget version whose `spec` properties are the common ones plus `extra` (merged over them).
fn widget_version_with(name: &str, storage: bool, extra: Value) -> Value {
    let mut spec = json!({"type": "object", "properties": {"size": {"type": "integer", "default": 3}, "replicas": {"type": "integer"}, "tier": {"type": "string"}}});
    if let Value::Object(extra) = extra {
        for (key, value) in extra {
            if key == "properties" {
                for (property, schema) in value.as_object().unwrap() {
                    spec["properties"][property] = schema.clone();
                }
            } else {
                spec[key] = value;
            }
        }
    }
    json!({"name": name, "served": true, "storage": storage, "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {
            "spec": spec,
            "status": {"type": "object", "properties": {"replicas": {"type": "integer"}, "phase": {"type": "string"}}}}}}})
}

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn crud_and_conflicts_on_core_kinds(cluster: TestCluster) {
    let namespace = cluster.namespace("crud").await;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client(), &namespace);
    let created = maps.create(&PostParams::default(), &config_map("a", json!({"app": "web"}))).await.unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some() && meta.resource_version.is_some());
    let again = api_error(maps.create(&PostParams::default(), &config_map("a", json!({}))).await);
    assert_eq!((again.code, again.reason.as_str()), (409, "AlreadyExists"), "{again:?}");

    let mut stale = created.clone();
    let mut fresh = maps.get("a").await.unwrap();
    fresh.data = Some([("k".to_owned(), "changed".to_owned())].into());
    let updated = maps.replace("a", &PostParams::default(), &fresh).await.unwrap();
    assert_ne!(updated.metadata.resource_version, created.metadata.resource_version);
    stale.data = Some([("k".to_owned(), "lost update".to_owned())].into());
    let conflict = api_error(maps.replace("a", &PostParams::default(), &stale).await);
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"), "{conflict:?}");

    let missing = api_error(maps.get("nope").await);
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    let wrong_ns: Api<ConfigMap> = Api::namespaced(cluster.client(), &cluster.unique("no-such-namespace"));
    assert_eq!(api_error(wrong_ns.create(&PostParams::default(), &config_map("x", json!({}))).await).code, 404);

    maps.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(maps.get_opt("a").await.unwrap().is_none());
}
on_both_clusters!(crud_and_conflicts_on_core_kinds);

/// The Secret's `data` decoded, checking that `stringData` was not kept.
fn secret_values(secret: &Secret) -> BTreeMap<String, String> {
    assert!(secret.string_data.is_none(), "stringData is stored or returned: {:?}", secret.metadata.name);
    let data = secret.data.clone().unwrap_or_default();
    data.into_iter().map(|(key, bytes)| (key, String::from_utf8(bytes.0).unwrap())).collect()
}

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

async fn secret_string_data_is_merged_into_data_on_every_write(cluster: TestCluster) {
    let namespace = cluster.namespace("secrets").await;
    let secrets: Api<Secret> = Api::namespaced(cluster.client(), &namespace);
    let secret: Secret = serde_json::from_value(json!({"metadata": {"name": "s"},
        "data": {"a": "b2xk", "b": "a2VlcA=="}, "stringData": {"a": "new", "c": "sea"}}))
    .unwrap();
    let created = secrets.create(&PostParams::default(), &secret).await.unwrap();
    let expected = values(&[("a", "new"), ("b", "keep"), ("c", "sea")]);
    assert_eq!(secret_values(&created), expected);
    assert_eq!(secret_values(&secrets.get("s").await.unwrap()), expected);

    let mut replaced = secrets.get("s").await.unwrap();
    replaced.string_data = Some([("d".to_owned(), "dee".to_owned())].into());
    let replaced = secrets.replace("s", &PostParams::default(), &replaced).await.unwrap();
    assert_eq!(secret_values(&replaced), values(&[("a", "new"), ("b", "keep"), ("c", "sea"), ("d", "dee")]));

    let merge = json!({"stringData": {"e": "ee"}});
    let merged = secrets.patch("s", &PatchParams::default(), &Patch::Merge(&merge)).await.unwrap();
    assert_eq!(secret_values(&merged)["e"], "ee");
    let strategic = json!({"stringData": {"a": "newer"}});
    let patched = secrets.patch("s", &PatchParams::default(), &Patch::Strategic(&strategic)).await.unwrap();
    assert_eq!(secret_values(&patched)["a"], "newer");
    let applied = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"f": "ef"}});
    let applied = secrets.patch("s", &PatchParams::apply("secret-test"), &Patch::Apply(&applied)).await.unwrap();
    assert_eq!(secret_values(&applied)["f"], "ef");
    let stored = secret_values(&secrets.get("s").await.unwrap());
    assert_eq!(stored.keys().map(String::as_str).collect::<Vec<_>>(), ["a", "b", "c", "d", "e", "f"]);
}
on_both_clusters!(secret_string_data_is_merged_into_data_on_every_write);

async fn list_selectors_and_paging(cluster: TestCluster) {
    let namespace = cluster.namespace("list").await;
    // Every namespace of a real cluster also holds kube-root-ca.crt: select this test's maps by a label.
    let suite = cluster.unique("list");
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client(), &namespace);
    for (name, tier) in
        [("a", Some("gold")), ("b", Some("silver")), ("c", Some("gold")), ("d", Some("bronze")), ("e", None)]
    {
        let labels = match tier {
            Some(tier) => json!({"tier": tier, "suite": suite}),
            None => json!({"suite": suite}),
        };
        maps.create(&PostParams::default(), &config_map(name, labels)).await.unwrap();
    }
    let select = |s: &str| ListParams::default().labels(&format!("suite={suite},{s}"));
    assert_eq!(names(maps.list(&select("tier=gold")).await.unwrap()), ["a", "c"]);
    assert_eq!(names(maps.list(&select("tier==gold")).await.unwrap()), ["a", "c"]);
    assert_eq!(names(maps.list(&select("tier!=gold")).await.unwrap()), ["b", "d", "e"]);
    assert_eq!(names(maps.list(&select("tier in (gold,bronze)")).await.unwrap()), ["a", "c", "d"]);
    assert_eq!(names(maps.list(&select("tier notin (gold,bronze)")).await.unwrap()), ["b", "e"]);
    assert_eq!(names(maps.list(&select("tier")).await.unwrap()), ["a", "b", "c", "d"]);
    assert_eq!(names(maps.list(&select("!tier")).await.unwrap()), ["e"]);
    assert_eq!(names(maps.list(&ListParams::default().fields("metadata.name=b")).await.unwrap()), ["b"]);
    let not_b = ListParams::default()
        .labels(&format!("suite={suite}"))
        .fields(&format!("metadata.name!=b,metadata.namespace={namespace}"));
    assert_eq!(names(maps.list(&not_b).await.unwrap()), ["a", "c", "d", "e"]);

    let page = |token: Option<String>| {
        let params = ListParams::default().labels(&format!("suite={suite}")).limit(2);
        match token {
            Some(token) => params.continue_token(&token),
            None => params,
        }
    };
    let first = maps.list(&page(None)).await.unwrap();
    let token = first.metadata.continue_.clone().expect("more pages");
    assert_eq!(names(first), ["a", "b"]);
    let second = maps.list(&page(Some(token))).await.unwrap();
    let token = second.metadata.continue_.clone().expect("a last page");
    assert_eq!(names(second), ["c", "d"]);
    let last = maps.list(&page(Some(token))).await.unwrap();
    assert!(last.metadata.continue_.as_deref().unwrap_or_default().is_empty());
    assert_eq!(names(last), ["e"]);

    let all: Api<ConfigMap> = Api::all(cluster.client());
    assert_eq!(all.list(&ListParams::default().labels(&format!("suite={suite}"))).await.unwrap().items.len(), 5);
}
on_both_clusters!(list_selectors_and_paging);

async fn watch_from_a_version_resumes_and_old_versions_expire(cluster: TestCluster) {
    let namespace = cluster.namespace("watch").await;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client(), &namespace);
    let start = maps.create(&PostParams::default(), &config_map("w0", json!({"watched": "yes"}))).await.unwrap();
    let version = start.metadata.resource_version.clone().unwrap();
    maps.create(&PostParams::default(), &config_map("w1", json!({"watched": "yes"}))).await.unwrap();
    maps.create(&PostParams::default(), &config_map("other", json!({}))).await.unwrap();
    maps.delete("w0", &DeleteParams::default()).await.unwrap();

    // A real server also sends bookmarks (progress notifications a client skips over).
    let not_bookmark = |event: &WatchEvent<ConfigMap>| std::future::ready(!matches!(event, WatchEvent::Bookmark(_)));
    let stream = maps.watch(&WatchParams::default().labels("watched=yes").timeout(5), &version).await.unwrap();
    let events: Vec<WatchEvent<ConfigMap>> = stream.try_filter(not_bookmark).take(2).try_collect().await.unwrap();
    assert!(matches!(&events[0], WatchEvent::Added(c) if c.metadata.name.as_deref() == Some("w1")), "{events:?}");
    assert!(matches!(&events[1], WatchEvent::Deleted(c) if c.metadata.name.as_deref() == Some("w0")), "{events:?}");

    // The simulator keeps a bounded window of events (20 here); the real server forgets history when etcd is
    // compacted (every 5 s under controlplane/run.sh). Either way a watch from a forgotten version gets 410.
    for index in 0..30 {
        maps.create(&PostParams::default(), &config_map(&format!("churn{index}"), json!({}))).await.unwrap();
    }
    let expired = eventually("a watch from the first version expires", || async {
        let mut stream = maps.watch(&WatchParams::default().timeout(2), &version).await.ok()?.boxed();
        match stream.next().await {
            Some(Ok(WatchEvent::Error(status))) => Some(status),
            _ => None,
        }
    })
    .await;
    assert_eq!((expired.code, expired.reason.as_str()), (410, "Expired"), "{expired:?}");

    let live = maps.watch(&WatchParams::default().fields("metadata.name=late").timeout(10), "0").await.unwrap();
    let creator = {
        let maps = maps.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            maps.create(&PostParams::default(), &config_map("late", json!({}))).await.unwrap();
        })
    };
    let first: Vec<WatchEvent<ConfigMap>> = live.try_filter(not_bookmark).take(1).try_collect().await.unwrap();
    assert!(matches!(&first[0], WatchEvent::Added(c) if c.metadata.name.as_deref() == Some("late")), "{first:?}");
    creator.await.unwrap();
}
on_both_clusters!(
    watch_from_a_version_resumes_and_old_versions_expire,
    Scenario { watch_history: 20, ..Scenario::default() }
);

async fn crd_rules_and_custom_resources(cluster: TestCluster) {
    let widgets = Widgets::new(&cluster).await;
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    let crd = cluster.create_crd(&widgets.crd(json!([widget_version("v1", true)]))).await;
    assert_eq!(crd.status.unwrap().stored_versions, Some(vec!["v1".to_owned()]));

    let v1 = widgets.api(&cluster, "v1");
    let mut widget = widgets.object("v1", "w", json!({"tier": "gold", "unknown": 1}));
    widget.data["status"] = json!({"phase": "ignored"});
    let created = v1.create(&PostParams::default(), &widget).await.unwrap();
    assert_eq!(created.data["spec"], json!({"tier": "gold", "size": 3}), "pruned and defaulted");
    assert!(created.data.get("status").is_none(), "status is ignored on create with a status subresource");
    assert_eq!(created.metadata.generation, Some(1));

    // Serving a second version (conversion None) rewrites apiVersion only; the storage version moves to v2.
    let mut crd = crds.get(&widgets.name()).await.unwrap();
    crd.spec.versions =
        serde_json::from_value(json!([widget_version("v1", false), widget_version("v2", true)])).unwrap();
    crds.replace(&widgets.name(), &PostParams::default(), &crd).await.unwrap();
    let v2 = widgets.api(&cluster, "v2");
    let as_v2 = eventually("v2 is served", || async { v2.get("w").await.ok() }).await;
    assert_eq!(as_v2.types.unwrap().api_version, format!("{}/v2", widgets.group));
    let stored = crds.get(&widgets.name()).await.unwrap().status.unwrap().stored_versions.unwrap();
    assert_eq!(stored, ["v1", "v2"]);

    // Dropping v1 while it is still in storedVersions is rejected; after trimming through /status it is allowed.
    let mut dropped = crds.get(&widgets.name()).await.unwrap();
    dropped.spec.versions = serde_json::from_value(json!([widget_version("v2", true)])).unwrap();
    let rejected = api_error(crds.replace(&widgets.name(), &PostParams::default(), &dropped).await);
    assert!(rejected.code == 422 && rejected.message.contains("storedVersions"), "{rejected:?}");
    let trim = json!({"status": {"storedVersions": ["v2"]}});
    crds.patch_status(&widgets.name(), &PatchParams::default(), &Patch::Merge(&trim)).await.unwrap();
    let mut dropped = crds.get(&widgets.name()).await.unwrap();
    dropped.spec.versions = serde_json::from_value(json!([widget_version("v2", true)])).unwrap();
    crds.replace(&widgets.name(), &PostParams::default(), &dropped).await.unwrap();

    // Two storage versions, or a changed scope or plural, are rejected.
    let mut two = crds.get(&widgets.name()).await.unwrap();
    two.spec.versions =
        serde_json::from_value(json!([widget_version("v2", true), widget_version("v3", true)])).unwrap();
    assert_eq!(api_error(crds.replace(&widgets.name(), &PostParams::default(), &two).await).code, 422);
    let mut rescoped = crds.get(&widgets.name()).await.unwrap();
    rescoped.spec.scope = "Cluster".to_owned();
    let immutable = api_error(crds.replace(&widgets.name(), &PostParams::default(), &rescoped).await);
    assert!(immutable.code == 422 && immutable.message.contains("immutable"), "{immutable:?}");
}
on_both_clusters!(crd_rules_and_custom_resources);

async fn status_and_scale_subresources_and_generation(cluster: TestCluster) {
    let widgets = Widgets::new(&cluster).await;
    cluster.create_crd(&widgets.crd(json!([widget_version("v1", true)]))).await;
    let v1 = widgets.api(&cluster, "v1");
    v1.create(&PostParams::default(), &widgets.object("v1", "w", json!({"replicas": 1}))).await.unwrap();

    let status = json!({"status": {"phase": "Ready", "replicas": 1}});
    let after_status = v1.patch_status("w", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    assert_eq!(after_status.data["status"]["phase"], "Ready");
    assert_eq!(after_status.metadata.generation, Some(1), "status writes do not bump generation");
    let through_main = json!({"status": {"phase": "Hacked"}, "metadata": {"labels": {"x": "y"}}});
    let after_main = v1.patch("w", &PatchParams::default(), &Patch::Merge(&through_main)).await.unwrap();
    assert_eq!(after_main.data["status"]["phase"], "Ready", "status via the main endpoint is ignored");
    assert_eq!(after_main.metadata.generation, Some(1), "metadata changes do not bump generation");
    let spec_through_status = json!({"spec": {"replicas": 9}, "status": {"phase": "Done"}});
    let after = v1.patch_status("w", &PatchParams::default(), &Patch::Merge(&spec_through_status)).await.unwrap();
    assert_eq!(
        (after.data["spec"]["replicas"].clone(), after.data["status"]["phase"].clone()),
        (json!(1), json!("Done")),
        "spec via /status is ignored"
    );
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
on_both_clusters!(status_and_scale_subresources_and_generation);

async fn validation_on_write_and_ratcheting_on_update(cluster: TestCluster) {
    let widgets = Widgets::new(&cluster).await;
    cluster.create_crd(&widgets.crd(json!([widget_version("v1", true)]))).await;
    let v1 = widgets.api(&cluster, "v1");
    v1.create(&PostParams::default(), &widgets.object("v1", "w", json!({"tier": "platinum-plus", "replicas": 1})))
        .await
        .unwrap();

    // Tighten `tier` (enum, maxLength: ratcheted) and check writes against the new schema.
    let tightened = json!({"properties": {"tier": {"type": "string", "enum": ["gold", "silver"], "maxLength": 6}}});
    widgets.upgrade_v1(&cluster, tightened).await;
    let invalid_new = widgets.object("v1", "new", json!({"tier": "bronze"}));
    let rejected =
        rejection_once_in_force("the tightened schema is in force", || v1.create(&DRY_RUN, &invalid_new)).await;
    assert!(rejected.code == 422 && rejected.message.contains("spec.tier"), "{rejected:?}");
    let wrong_type =
        api_error(v1.create(&PostParams::default(), &widgets.object("v1", "typed", json!({"replicas": "two"}))).await);
    assert!(wrong_type.code == 422 && wrong_type.message.contains("spec.replicas"), "{wrong_type:?}");

    // The existing invalid value is let through while unchanged; changing it to another invalid value is not.
    let other_field = json!({"spec": {"replicas": 2}});
    let updated = v1.patch("w", &PatchParams::default(), &Patch::Merge(&other_field)).await.unwrap();
    assert_eq!(updated.data["spec"]["tier"], "platinum-plus", "ratcheting keeps the unchanged value");
    let still_invalid = json!({"spec": {"tier": "platinum"}});
    let status = api_error(v1.patch("w", &PatchParams::default(), &Patch::Merge(&still_invalid)).await);
    assert!(status.code == 422 && status.message.contains("spec.tier"), "{status:?}");

    // `required` is not ratcheted: once `owner` is required, every write of the object without it fails.
    let required = json!({"required": ["owner"], "properties": {"owner": {"type": "string"}}});
    widgets.upgrade_v1(&cluster, required).await;
    let bump = Patch::Merge(json!({"spec": {"replicas": 3}}));
    let dry_patch = PatchParams { dry_run: true, ..PatchParams::default() };
    let status = rejection_once_in_force("the required field is in force", || v1.patch("w", &dry_patch, &bump)).await;
    assert!(status.code == 422 && status.message.contains("spec.owner"), "{status:?}");
    let fixed = json!({"spec": {"owner": "team-a"}});
    v1.patch("w", &PatchParams::default(), &Patch::Merge(&fixed)).await.unwrap();
}
on_both_clusters!(validation_on_write_and_ratcheting_on_update);

async fn patch_types_and_server_side_apply_conflicts(cluster: TestCluster) {
    let namespace = cluster.namespace("ssa").await;
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), &namespace);
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
    let conflict = api_error(deployments.patch("op", &PatchParams::apply("team-b"), &Patch::Apply(&other)).await);
    assert!(conflict.code == 409 && conflict.message.contains("replicas"), "{conflict:?}");
    let forced = deployments.patch("op", &PatchParams::apply("team-b").force(), &Patch::Apply(&other)).await.unwrap();
    assert_eq!(forced.spec.unwrap().replicas, Some(7));
    let managers: Vec<String> = forced.metadata.managed_fields.unwrap().into_iter().filter_map(|m| m.manager).collect();
    assert!(managers.contains(&"team-b".to_owned()) && managers.contains(&"team-a".to_owned()), "{managers:?}");
}
on_both_clusters!(patch_types_and_server_side_apply_conflicts);

async fn finalizers_delay_deletion_and_owners_collect_dependents(cluster: TestCluster) {
    let namespace = cluster.namespace("gc").await;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client(), &namespace);
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
    // The real server's garbage collector (in kube-controller-manager) removes dependents asynchronously.
    eventually("the dependent is collected", || async {
        maps.get_opt("dependent").await.ok()?.is_none().then_some(())
    })
    .await;
}
on_both_clusters!(finalizers_delay_deletion_and_owners_collect_dependents);

async fn discovery_serves_builtins_and_established_crds(cluster: TestCluster) {
    let widgets = Widgets::new(&cluster).await;
    cluster.create_crd(&widgets.crd(json!([widget_version("v1", true)]))).await;
    // Only the groups this test reads: other tests on the shared real server delete their CRDs meanwhile,
    // and a group version gone between listing and reading it is a 404.
    let wanted = ["", "apps", "apiextensions.k8s.io", widgets.group.as_str()];
    let discovery = kube::Discovery::new(cluster.client()).filter(&wanted).run().await.unwrap();
    let groups: Vec<String> = discovery.groups().map(|g| g.name().to_owned()).collect();
    for group in wanted {
        assert!(groups.contains(&group.to_owned()), "{group} missing from {groups:?}");
    }
    let (resource, caps) = discovery.resolve_gvk(&GroupVersionKind::gvk(&widgets.group, "v1", "Widget")).unwrap();
    assert_eq!(resource.plural, "widgets");
    assert!(caps.subresources.iter().any(|(s, _)| s.plural == "widgets/status" || s.plural == "status"));
    let version = cluster.client().apiserver_version().await.unwrap();
    let minor: u32 = version.minor.trim_end_matches('+').parse().unwrap();
    assert!(version.major == "1" && minor >= 33, "{version:?}");
}
on_both_clusters!(discovery_serves_builtins_and_established_crds);

async fn deleting_a_crd_deletes_its_objects_and_stops_serving_them(cluster: TestCluster) {
    let widgets = Widgets::new(&cluster).await;
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    cluster.create_crd(&widgets.crd(json!([widget_version("v1", true)]))).await;
    let v1 = widgets.api(&cluster, "v1");
    v1.create(&PostParams::default(), &widgets.object("v1", "w", json!({}))).await.unwrap();
    crds.delete(&widgets.name(), &DeleteParams::default()).await.unwrap();
    // The real server removes the objects first (the CRD's cleanup finalizer), then the CRD.
    eventually("the CRD is gone", || async { crds.get_opt(&widgets.name()).await.ok()?.is_none().then_some(()) }).await;
    assert_eq!(api_error(v1.list(&ListParams::default()).await).code, 404);
    cluster.create_crd(&widgets.crd(json!([widget_version("v1", true)]))).await;
    let listed =
        eventually("the recreated CRD is served", || async { v1.list(&ListParams::default()).await.ok() }).await;
    assert!(listed.items.is_empty(), "the objects went with the CRD");
}
on_both_clusters!(deleting_a_crd_deletes_its_objects_and_stops_serving_them);

async fn delete_collection_and_access_reviews(cluster: TestCluster) {
    let namespace = cluster.namespace("collection").await;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client(), &namespace);
    for (name, tier) in [("a", "gold"), ("b", "silver"), ("c", "gold")] {
        maps.create(&PostParams::default(), &config_map(name, json!({"tier": tier}))).await.unwrap();
    }
    maps.delete_collection(&DeleteParams::default(), &ListParams::default().labels("tier=gold")).await.unwrap();
    assert_eq!(names(maps.list(&ListParams::default().labels("tier")).await.unwrap()), ["b"]);

    let reviews: Api<SelfSubjectAccessReview> = Api::all(cluster.client());
    let review: SelfSubjectAccessReview = serde_json::from_value(
        json!({"spec": {"resourceAttributes": {"verb": "patch", "group": "apps", "resource": "deployments"}}}),
    )
    .unwrap();
    let answered = reviews.create(&PostParams::default(), &review).await.unwrap();
    assert!(answered.status.unwrap().allowed);
}
on_both_clusters!(delete_collection_and_access_reviews);

async fn list_type_uniqueness_is_ratcheted_while_the_stored_object_violates_it(cluster: TestCluster) {
    let widgets = Widgets::new(&cluster).await;
    let ports = |list_type: Value| {
        let mut ports = json!({"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}});
        if let Value::Object(extra) = list_type {
            ports.as_object_mut().unwrap().extend(extra);
        }
        json!({"properties": {"ports": ports}})
    };
    cluster.create_crd(&widgets.crd(json!([widget_version_with("v1", true, ports(json!({})))]))).await;
    let v1 = widgets.api(&cluster, "v1");
    let duplicated = json!([{"name": "http", "port": 80}, {"name": "http", "port": 8080}]);
    v1.create(&PostParams::default(), &widgets.object("v1", "dup", json!({"ports": duplicated, "replicas": 1})))
        .await
        .unwrap();

    let map = ports(json!({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}));
    widgets.upgrade_v1(&cluster, map).await;
    let fresh = widgets.object("v1", "fresh", json!({"ports": duplicated}));
    let rejected = rejection_once_in_force("the list-map is in force", || v1.create(&DRY_RUN, &fresh)).await;
    assert!(rejected.code == 422 && rejected.message.contains("spec.ports[1]"), "{rejected:?}");

    // The API server checks list uniqueness on update only when the stored object has no duplicates: while
    // it has, every write passes, even one that changes the list and keeps (or adds) duplicates.
    let other_field = json!({"spec": {"replicas": 2}});
    v1.patch("dup", &PatchParams::default(), &Patch::Merge(&other_field)).await.unwrap();
    let more_duplicates = json!({"spec": {"ports": [{"name": "a"}, {"name": "a"}, {"name": "b"}, {"name": "b"}]}});
    v1.patch("dup", &PatchParams::default(), &Patch::Merge(&more_duplicates)).await.unwrap();
    // Once a write removed the duplicates, uniqueness is enforced again.
    let unique = json!({"spec": {"ports": [{"name": "a"}]}});
    v1.patch("dup", &PatchParams::default(), &Patch::Merge(&unique)).await.unwrap();
    let status = api_error(v1.patch("dup", &PatchParams::default(), &Patch::Merge(&more_duplicates)).await);
    assert!(status.code == 422 && status.message.contains("spec.ports[1]"), "{status:?}");
}
on_both_clusters!(list_type_uniqueness_is_ratcheted_while_the_stored_object_violates_it);

async fn namespaces_get_a_default_service_account_and_pods_need_theirs(cluster: TestCluster) {
    use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
    let namespace = cluster.namespace("accounts").await;
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client(), &namespace);
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client(), &namespace);
    eventually("the default service account", || async { accounts.get_opt("default").await.ok().flatten() }).await;
    let root_ca =
        eventually("the root CA config map", || async { maps.get_opt("kube-root-ca.crt").await.ok().flatten() }).await;
    assert!(root_ca.data.unwrap_or_default().contains_key("ca.crt"));

    let pods: Api<Pod> = Api::namespaced(cluster.client(), &namespace);
    let pod = |name: &str, account: Option<&str>| -> Pod {
        let mut spec = json!({"containers": [{"name": "c", "image": "busybox"}]});
        if let Some(account) = account {
            spec["serviceAccountName"] = json!(account);
        }
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
    };
    let refused = api_error(pods.create(&PostParams::default(), &pod("orphan", Some("missing"))).await);
    assert!(refused.code == 403 && refused.message.contains("serviceaccount \"missing\" not found"), "{refused:?}");
    let created = pods.create(&PostParams::default(), &pod("plain", None)).await.unwrap();
    assert_eq!(created.spec.unwrap().service_account_name.as_deref(), Some("default"));
}
on_both_clusters!(namespaces_get_a_default_service_account_and_pods_need_theirs);
