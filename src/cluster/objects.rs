//! Objects of any kind, named by [`ObjectKey`]: read, server-side applied, replaced, created, and deleted,
//! with a guard at this lowest level that refuses to delete a CRD, a custom resource or a namespace.

use super::fault_point::wrote;
use super::retry::{delete_if_present, with_race_retries, with_retries};
use super::{ClusterError, FIELD_MANAGER};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

/// Which object: its API version, kind, namespace (empty for cluster-scoped kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectKey {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace`, empty for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectKey {
    /// The key of an object's document.
    pub fn of(object: &Value) -> ObjectKey {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        ObjectKey {
            api_version: text(&object["apiVersion"]),
            kind: text(&object["kind"]),
            namespace: text(&object["metadata"]["namespace"]),
            name: text(&object["metadata"]["name"]),
        }
    }

    /// The key of a CRD by name.
    pub fn crd(name: &str) -> ObjectKey {
        ObjectKey {
            api_version: "apiextensions.k8s.io/v1".into(),
            kind: "CustomResourceDefinition".into(),
            namespace: String::new(),
            name: name.into(),
        }
    }

    /// The key of a namespace by name.
    pub fn of_namespace(name: &str) -> ObjectKey {
        ObjectKey { api_version: "v1".into(), kind: "Namespace".into(), namespace: String::new(), name: name.into() }
    }

    /// The key of the Lease `name` in `namespace`.
    pub fn lease(namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            api_version: "coordination.k8s.io/v1".into(),
            kind: "Lease".into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The API group (empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map_or("", |(group, _)| group)
    }

    /// Whether this is a CustomResourceDefinition.
    pub fn is_crd(&self) -> bool {
        self.kind == "CustomResourceDefinition" && self.group() == "apiextensions.k8s.io"
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Why a server-side apply did not go through.
#[derive(Debug)]
pub enum ApplyError {
    /// Other field managers own fields the apply changes; the managers named in the message.
    Conflict {
        /// The managers that own conflicting fields.
        managers: Vec<String>,
        /// The API server's message (the fields and their owners).
        message: String,
    },
    /// Any other failure.
    Other(ClusterError),
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Conflict { message, .. } => f.write_str(message),
            ApplyError::Other(error) => write!(f, "{error}"),
        }
    }
}

/// The token a 410 Expired answer to a continued list carries to go on at the current state (the API server
/// sends it with `metadata.continue` of the error), if the error is that.
fn expired_continue(status: &kube::core::Status) -> Option<&str> {
    (status.code == 410).then(|| status.metadata.as_ref()?.continue_.as_deref()).flatten().filter(|t| !t.is_empty())
}

/// The managers a server-side apply conflict names: `conflict with "kubectl" using apps/v1: .spec...` for one
/// conflict, `conflicts with "kubectl":` followed by the fields for several.
pub fn conflicting_managers(message: &str) -> Vec<String> {
    let mut managers: Vec<String> = message
        .split(" with \"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(manager, _)| manager.to_owned()))
        .collect();
    managers.sort();
    managers.dedup();
    managers
}

/// Reads and writes objects of any kind through one client, resolving kinds by discovery once each.
pub struct Objects {
    client: kube::Client,
    kinds: Mutex<HashMap<(String, String), (ApiResource, bool)>>,
    dry_run: bool,
    protected_groups: Vec<String>,
}

impl Objects {
    /// Objects of the cluster behind `client`; with `dry_run` every write is sent with `dryRun=All`.
    pub fn new(client: kube::Client, dry_run: bool) -> Objects {
        Objects { client, kinds: Mutex::new(HashMap::new()), dry_run, protected_groups: Vec::new() }
    }

    /// Also refuse to delete any object of these API groups (the groups of the release's CRDs).
    pub fn protecting_groups(mut self, groups: impl IntoIterator<Item = String>) -> Objects {
        self.protected_groups.extend(groups);
        self
    }

    /// The client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Whether writes are only dry runs.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// The API resource of a kind and whether it is namespaced, from discovery (cached).
    pub async fn resource(&self, api_version: &str, kind: &str) -> Result<(ApiResource, bool), ClusterError> {
        let cache_key = (api_version.to_owned(), kind.to_owned());
        if let Some(found) = self.kinds.lock().expect("kind cache").get(&cache_key) {
            return Ok(found.clone());
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) = with_retries(|| kube::discovery::pinned_kind(&self.client, &gvk))
            .await
            .map_err(|e| ClusterError::api(format!("cannot find the kind {kind} in {api_version}"), e))?;
        let found = (resource, caps.scope == Scope::Namespaced);
        self.kinds.lock().expect("kind cache").insert(cache_key, found.clone());
        Ok(found)
    }

    /// Forgets discovered kinds (after CRDs change).
    pub fn forget_kinds(&self) {
        self.kinds.lock().expect("kind cache").clear();
    }

    /// The dynamic API for one object's kind and namespace.
    pub async fn api_for(&self, key: &ObjectKey) -> Result<Api<DynamicObject>, ClusterError> {
        let (resource, namespaced) = self.resource(&key.api_version, &key.kind).await?;
        Ok(if namespaced {
            Api::namespaced_with(self.client.clone(), &key.namespace, &resource)
        } else {
            Api::all_with(self.client.clone(), &resource)
        })
    }

    /// The live object, or None when it does not exist.
    pub async fn get(&self, key: &ObjectKey) -> Result<Option<Value>, ClusterError> {
        let api = self.api_for(key).await?;
        let found = with_retries(|| api.get_opt(&key.name))
            .await
            .map_err(|e| ClusterError::api(format!("cannot read {key}"), e))?;
        found.map(to_value).transpose()
    }

    /// Lists objects of a kind (in one namespace, or everywhere), one page of at most `limit` at a time.
    ///
    /// A continue token older than etcd's last compaction (every 5 minutes by default: a long pass over a
    /// large kind outlives it) is answered 410 Expired with a token that continues at the current state;
    /// the list goes on with it, once. The rest of the list is then of now, not of the first page's moment:
    /// what the tool's passes want (a storage migration must rewrite what is stored now; validation checks
    /// what is there now), where starting over would never finish a list longer than the compaction interval.
    pub async fn list_page(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        limit: u32,
        continue_token: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>), ClusterError> {
        let (resource, namespaced) = self.resource(api_version, kind).await?;
        let api: Api<DynamicObject> = match namespace.filter(|_| namespaced) {
            Some(namespace) => Api::namespaced_with(self.client.clone(), namespace, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        };
        let mut params = ListParams::default().limit(limit);
        if let Some(token) = continue_token {
            params = params.continue_token(token);
        }
        let list = match with_retries(|| api.list(&params)).await {
            Err(kube::Error::Api(status)) if continue_token.is_some() && expired_continue(&status).is_some() => {
                let token = expired_continue(&status).unwrap_or_default().to_owned();
                tracing::warn!(
                    kind,
                    "the list's continue token expired (etcd compacted): continuing at the current state"
                );
                let params = ListParams::default().limit(limit).continue_token(&token);
                with_retries(|| api.list(&params)).await
            }
            listed => listed,
        }
        .map_err(|e| ClusterError::api(format!("cannot list {kind}"), e))?;
        let next = list.metadata.continue_.filter(|t| !t.is_empty());
        let items = list.items.into_iter().map(to_value).collect::<Result<Vec<_>, _>>()?;
        Ok((items, next))
    }

    /// The names of every namespace.
    pub async fn namespaces(&self) -> Result<Vec<String>, ClusterError> {
        let listed = self.list_all("v1", "Namespace", None).await?;
        Ok(listed.iter().filter_map(|n| n["metadata"]["name"].as_str().map(str::to_owned)).collect())
    }

    /// Every object of a kind, page by page.
    pub async fn list_all(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Vec<Value>, ClusterError> {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let (items, next) = self.list_page(api_version, kind, namespace, 500, token.as_deref()).await?;
            all.extend(items);
            match next {
                Some(next) => token = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Server-side applies `object` under the tool's field manager; `force` takes fields over from other
    /// managers (the caller decides whether it may).
    pub async fn apply(&self, object: &Value, force: bool) -> Result<Value, ApplyError> {
        let key = ObjectKey::of(object);
        let api = self.api_for(&key).await.map_err(ApplyError::Other)?;
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = force;
        params.dry_run = self.dry_run;
        let patch = Patch::Apply(object);
        match with_race_retries(|| api.patch(&key.name, &params, &patch)).await {
            Ok(applied) => {
                wrote();
                to_value(applied).map_err(ApplyError::Other)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                Err(ApplyError::Conflict { managers: conflicting_managers(&status.message), message: status.message })
            }
            Err(e) => Err(ApplyError::Other(ClusterError::api(format!("cannot apply {key}"), e))),
        }
    }

    /// Creates `object`; an object that already exists is left alone and returned as it is.
    pub async fn create_or_get(&self, object: &Value) -> Result<Value, ClusterError> {
        let key = ObjectKey::of(object);
        let api = self.api_for(&key).await?;
        let typed: DynamicObject = serde_json::from_value(object.clone())
            .map_err(|e| ClusterError::Unexpected(format!("{key} is not an object: {e}")))?;
        let params = PostParams { dry_run: self.dry_run, field_manager: Some(FIELD_MANAGER.to_owned()) };
        match with_race_retries(|| api.create(&params, &typed)).await {
            Ok(created) => {
                wrote();
                to_value(created)
            }
            Err(kube::Error::Api(status)) if status.code == 409 && status.reason == "AlreadyExists" => {
                self.get(&key).await?.ok_or_else(|| ClusterError::Unexpected(format!("{key} exists and does not")))
            }
            Err(e) => Err(ClusterError::api(format!("cannot create {key}"), e)),
        }
    }

    /// Replaces the live object with `object` (PUT), re-reading the resourceVersion on each conflict: the
    /// object written is exactly `object` whatever happened meanwhile.
    pub async fn replace(&self, object: &Value) -> Result<Value, ClusterError> {
        let key = ObjectKey::of(object);
        let api = self.api_for(&key).await?;
        let params = PostParams { dry_run: self.dry_run, field_manager: Some(FIELD_MANAGER.to_owned()) };
        for _ in 0..10 {
            let Some(live) = self.get(&key).await? else {
                return Err(ClusterError::Unexpected(format!("{key} does not exist")));
            };
            let mut desired = object.clone();
            desired["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
            let typed: DynamicObject = serde_json::from_value(desired)
                .map_err(|e| ClusterError::Unexpected(format!("{key} is not an object: {e}")))?;
            match with_retries(|| api.replace(&key.name, &params, &typed)).await {
                Ok(replaced) => {
                    wrote();
                    return to_value(replaced);
                }
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(e) => return Err(ClusterError::api(format!("cannot replace {key}"), e)),
            }
        }
        Err(ClusterError::Unexpected(format!("{key} kept changing: 10 replaces in a row conflicted")))
    }

    /// Replaces the status of the live object through the status subresource, with a JSON merge patch.
    pub async fn merge_status(&self, key: &ObjectKey, status: &Value) -> Result<Value, ClusterError> {
        let api = self.api_for(key).await?;
        let params = PatchParams {
            dry_run: self.dry_run,
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        let body = serde_json::json!({"status": status});
        let patch = Patch::Merge(&body);
        let patched = with_race_retries(|| api.patch_status(&key.name, &params, &patch))
            .await
            .map_err(|e| ClusterError::api(format!("cannot update the status of {key}"), e))?;
        wrote();
        to_value(patched)
    }

    /// Whether the guard refuses to delete objects of this key's kind: CRDs, namespaces (they take their
    /// custom resources with them) and every kind of a protected group.
    pub fn deletion_forbidden(&self, key: &ObjectKey) -> bool {
        key.is_crd()
            || (key.kind == "Namespace" && key.group().is_empty())
            || self.protected_groups.iter().any(|g| g == key.group())
    }

    /// Deletes an object (absent is fine), with background propagation; refuses the kinds the guard protects.
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), ClusterError> {
        if self.deletion_forbidden(key) {
            return Err(ClusterError::Unexpected(format!(
                "refusing to delete {key}: the tool never deletes CRDs, namespaces or custom resources"
            )));
        }
        self.delete_unguarded(key).await
    }

    /// Deletes a namespace the tool created itself (a test restore's scratch namespace), recognised by
    /// `label` having `value`; the guard refuses every other namespace, since a namespace takes its custom
    /// resources with it. Absent is fine.
    pub async fn delete_labelled_namespace(&self, name: &str, label: &str, value: &str) -> Result<(), ClusterError> {
        let key = ObjectKey::of_namespace(name);
        let Some(live) = self.get(&key).await? else { return Ok(()) };
        if live["metadata"]["labels"][label].as_str() != Some(value) {
            return Err(ClusterError::Unexpected(format!(
                "refusing to delete namespace {name}: it does not carry {label}={value}, so the tool did not create it"
            )));
        }
        self.delete_unguarded(&key).await
    }

    /// Deletes an object with background propagation (absent is fine); callers have passed a guard.
    async fn delete_unguarded(&self, key: &ObjectKey) -> Result<(), ClusterError> {
        let api = self.api_for(key).await?;
        let params = DeleteParams { dry_run: self.dry_run, ..DeleteParams::background() };
        let deleted = delete_if_present(&api, &key.name, &params)
            .await
            .map_err(|e| ClusterError::api(format!("cannot delete {key}"), e))?;
        if deleted {
            wrote();
        }
        Ok(())
    }

    /// Removes one label from the live object (a JSON merge patch); an absent object or label is fine.
    pub async fn remove_label(&self, key: &ObjectKey, label: &str) -> Result<(), ClusterError> {
        self.set_metadata(key, "labels", label, None).await
    }

    /// Sets (or with None removes) one entry of the live object's `metadata.<section>` (`labels` or
    /// `annotations`) with a JSON merge patch, which touches nothing else; an absent object is fine.
    pub async fn set_metadata(
        &self,
        key: &ObjectKey,
        section: &str,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), ClusterError> {
        let api = self.api_for(key).await?;
        let params = PatchParams {
            dry_run: self.dry_run,
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        let body = serde_json::json!({"metadata": {section: {name: value}}});
        let patch = Patch::Merge(&body);
        match with_race_retries(|| api.patch(&key.name, &params, &patch)).await {
            Ok(_) => {
                wrote();
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(ClusterError::api(format!("cannot set {section} {name} of {key}"), e)),
        }
    }
}

fn to_value(object: DynamicObject) -> Result<Value, ClusterError> {
    serde_json::to_value(object).map_err(|e| ClusterError::Unexpected(format!("cannot encode an object: {e}")))
}

/// The object without what the API server maintains by itself (uid, resourceVersion, managedFields,
/// generation, creation time, status), for recording and comparing what a user or the tool wrote.
pub fn desired_state(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["uid", "resourceVersion", "managedFields", "generation", "creationTimestamp", "selfLink"] {
            meta.remove(field);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            // The Deployment controller counts revisions itself: a restored Deployment gets a new number.
            annotations.remove("deployment.kubernetes.io/revision");
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_expired_continue_token_is_followed_with_the_one_the_server_sends() {
        // The API server's answer to a continue token older than the last compaction (kube-apiserver 1.34).
        let expired: kube::core::Status = serde_json::from_value(json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410, "reason": "Expired",
            "message": "The provided continue parameter is too old to display a consistent list result.",
            "metadata": {"continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6LTF9"}
        }))
        .unwrap();
        assert_eq!(expired_continue(&expired), Some("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6LTF9"));
        let gone_without_token: kube::core::Status =
            serde_json::from_value(json!({"status": "Failure", "code": 410, "reason": "Gone", "message": "gone"}))
                .unwrap();
        assert_eq!(expired_continue(&gone_without_token), None);
        let other: kube::core::Status = serde_json::from_value(json!({
            "status": "Failure", "code": 500, "message": "x", "reason": "", "metadata": {"continue": "t"}
        }))
        .unwrap();
        assert_eq!(expired_continue(&other), None);
    }

    #[test]
    fn conflict_messages_name_their_managers_once_each() {
        let real = r#"Apply failed with 2 conflicts: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas
conflict with "helm" using apps/v1: .spec.template.spec.containers[name="manager"].image"#;
        assert_eq!(conflicting_managers(real), vec!["helm", "kubectl-client-side-apply"]);
        let several = "Apply failed with 2 conflicts: conflicts with \"operator-upgrade-tests\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"manager\"].image";
        assert_eq!(conflicting_managers(several), vec!["operator-upgrade-tests"]);
        assert_eq!(
            conflicting_managers("Apply failed with 1 conflicts: conflict with \"a\": .spec.replicas"),
            vec!["a"]
        );
        assert!(conflicting_managers("the object has been modified").is_empty());
    }

    #[tokio::test]
    async fn the_guard_protects_crds_namespaces_and_custom_resources() {
        let client = kube::Client::try_from(kube::Config::new("http://127.0.0.1:1".parse().unwrap())).unwrap();
        let objects = Objects::new(client, false).protecting_groups(["demo.example".to_owned()]);
        let key = |api_version: &str, kind: &str| ObjectKey {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: String::new(),
            name: "x".into(),
        };
        assert!(objects.deletion_forbidden(&key("apiextensions.k8s.io/v1", "CustomResourceDefinition")));
        assert!(objects.deletion_forbidden(&key("v1", "Namespace")));
        assert!(objects.deletion_forbidden(&key("demo.example/v1", "Widget")));
        assert!(!objects.deletion_forbidden(&key("apps/v1", "Deployment")));
        assert!(!objects.deletion_forbidden(&key("batch/v1", "Job")));
    }

    #[test]
    fn the_desired_state_drops_what_the_server_maintains() {
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "uid": "u", "resourceVersion": "7", "generation": 3, "managedFields": [],
                "annotations": {"deployment.kubernetes.io/revision": "2"}, "labels": {"a": "b"}},
            "spec": {"replicas": 1}, "status": {"replicas": 1}});
        assert_eq!(
            desired_state(&live),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"a": "b"}}, "spec": {"replicas": 1}})
        );
    }
}
