//! The object store: every object by (group, resource, namespace, name), one global resourceVersion
//! counter, a bounded history of changes for watch resume (older versions get 410 Gone), and a broadcast
//! of live changes. Everything that changes the cluster, HTTP handlers and simulated controllers alike,
//! goes through here so resourceVersion, generation, finalizers and garbage collection behave as one.

use super::errors::ApiError;
use super::resources::GroupResource;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// The object was created.
    Added,
    /// The object changed.
    Modified,
    /// The object is gone.
    Deleted,
}

impl EventType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as kept in history and sent to watchers.
#[derive(Debug, Clone)]
pub struct Change {
    /// The resourceVersion of the change.
    pub resource_version: u64,
    /// What was changed.
    pub group_resource: GroupResource,
    /// Added, modified or deleted.
    pub event: EventType,
    /// The object after the change (before, for a deletion, with the deletion's resourceVersion).
    pub object: Arc<Value>,
}

/// (namespace, name); the namespace is empty for cluster-scoped objects.
pub type ObjectKey = (String, String);

struct Inner {
    resource_version: u64,
    objects: HashMap<GroupResource, BTreeMap<ObjectKey, Arc<Value>>>,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    uid_counter: u64,
    /// The first group of every UID this store gives, drawn per simulator: two simulators are two clusters,
    /// with different identities (the kube-system UID), as real clusters have.
    uid_tag: u32,
}

impl Inner {
    /// The stored object at `key`, or the API server's NotFound error for it.
    fn existing(&self, gr: &GroupResource, key: &ObjectKey) -> Result<Arc<Value>, ApiError> {
        let found = self.objects.get(gr).and_then(|objects| objects.get(key)).cloned();
        found.ok_or_else(|| ApiError::not_found(format!("{}.{} \"{}\"", gr.resource, gr.group, key.1)))
    }
}

/// The shared store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Mutex<Inner>>,
    live: broadcast::Sender<Arc<Change>>,
}

/// The result of starting a watch: the retained changes after the requested version, then live ones.
pub struct WatchStart {
    /// Changes already made after the requested resourceVersion (or the current state as ADDED).
    pub backlog: Vec<Arc<Change>>,
    /// Changes from now on.
    pub live: broadcast::Receiver<Arc<Change>>,
}

/// One page of a list, as [`Store::page`] returns it.
pub struct Page {
    /// The objects of the page, in (namespace, name) order.
    pub items: Vec<Arc<Value>>,
    /// Whether objects the filter accepts follow the page.
    pub more: bool,
    /// The resourceVersion the page was read at.
    pub resource_version: u64,
}

/// The current RFC 3339 time at second precision, as Kubernetes writes timestamps.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// How a delete is carried out (the parts of Kubernetes' DeleteOptions the simulator honours).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeleteOptions<'a> {
    /// `gracePeriodSeconds` (pods only): None takes the pod's own.
    pub grace_period_seconds: Option<u64>,
    /// `preconditions.uid`: the delete is refused (409) when the object has another uid.
    pub uid: Option<&'a str>,
}

fn is_pods(gr: &GroupResource) -> bool {
    gr.group.is_empty() && gr.resource == "pods"
}

/// The grace period a pod's deletion gets: the requested one, else its spec's (default 30 s); 0 for a pod
/// that finished or was never scheduled.
fn pod_grace_seconds(pod: &Value, requested: Option<u64>) -> u64 {
    let finished = matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"));
    let unscheduled = pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty);
    if finished || unscheduled {
        return 0;
    }
    requested.unwrap_or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap_or(30))
}

/// Sets deletionTimestamp (now plus the grace period, as the API server writes it for pods) and
/// deletionGracePeriodSeconds.
fn mark_deleted(object: &mut Value, grace_seconds: u64) {
    let seconds = i64::try_from(grace_seconds).unwrap_or(i64::MAX).min(1_000_000_000);
    let at = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(seconds))
        .unwrap_or_else(|_| jiff::Timestamp::now());
    if let Some(metadata) = object["metadata"].as_object_mut() {
        metadata.insert("deletionTimestamp".into(), json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
        metadata.insert("deletionGracePeriodSeconds".into(), json!(grace_seconds));
    }
}

fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object["metadata"][field].as_str().unwrap_or_default()
}

/// `(namespace, name)` of an object.
pub fn key_of(object: &Value) -> ObjectKey {
    (meta_str(object, "namespace").to_owned(), meta_str(object, "name").to_owned())
}

/// Everything but metadata and status: a change to it bumps `metadata.generation`.
fn spec_part(object: &Value) -> Value {
    match object {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl Store {
    /// An empty store keeping `history_limit` changes for watch resume.
    pub fn new(history_limit: usize) -> Store {
        let (live, _) = broadcast::channel(65_536);
        let inner = Inner {
            resource_version: 1,
            objects: HashMap::new(),
            history: VecDeque::new(),
            history_limit,
            uid_counter: 0,
            uid_tag: fastrand::u32(..),
        };
        Store { inner: Arc::new(Mutex::new(inner)), live }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would be a simulator bug; keep serving what is there.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().resource_version
    }

    /// One object.
    pub fn get(&self, gr: &GroupResource, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.lock().objects.get(gr)?.get(&(namespace.to_owned(), name.to_owned())).cloned()
    }

    /// Every object of a resource (in one namespace when given), sorted by namespace and name, with the
    /// resourceVersion the list is consistent at.
    pub fn list(&self, gr: &GroupResource, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let items = inner
            .objects
            .get(gr)
            .map(|objects| {
                objects
                    .iter()
                    .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default();
        (items, inner.resource_version)
    }

    /// One page of a list: the first `limit` objects of `gr` (in one namespace when given) after the key
    /// `after`, in (namespace, name) order, that `keep` accepts; whether more follow; and the resourceVersion.
    /// It walks the sorted map from `after` and stops at the first match past the page, so a page costs
    /// O(page) however many objects the resource has (plus the objects `keep` rejects on the way, as a
    /// selector's scan does on a real API server).
    pub fn page(
        &self,
        gr: &GroupResource,
        namespace: Option<&str>,
        after: Option<&ObjectKey>,
        limit: usize,
        keep: impl Fn(&Value) -> bool,
    ) -> Page {
        use std::ops::Bound;
        let inner = self.lock();
        let mut page = Page { items: Vec::new(), more: false, resource_version: inner.resource_version };
        let Some(objects) = inner.objects.get(gr) else { return page };
        let start = match (after, namespace) {
            (Some(after), Some(ns)) if after.0.as_str() < ns => Bound::Included((ns.to_owned(), String::new())),
            (Some(after), _) => Bound::Excluded(after.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_owned(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let mut matching = objects
            .range((start, Bound::Unbounded))
            .take_while(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
            .map(|(_, object)| object)
            .filter(|object| keep(object));
        page.items = matching.by_ref().take(limit).cloned().collect();
        page.more = matching.next().is_some();
        page
    }

    /// How many objects of `gr` there are (in one namespace when given): O(1) for all namespaces, a walk of
    /// the namespace's objects otherwise.
    pub fn count(&self, gr: &GroupResource, namespace: Option<&str>) -> usize {
        let inner = self.lock();
        let Some(objects) = inner.objects.get(gr) else { return 0 };
        match namespace {
            None => objects.len(),
            Some(ns) => objects
                .range((ns.to_owned(), String::new())..)
                .take_while(|((namespace, _), _)| namespace == ns)
                .count(),
        }
    }

    /// Creates an object, filling in uid, creationTimestamp, resourceVersion and generation.
    pub fn create(&self, gr: &GroupResource, mut object: Value) -> Result<Arc<Value>, ApiError> {
        let mut inner = self.lock();
        let key = key_of(&object);
        if key.1.is_empty() {
            return Err(ApiError::invalid("metadata.name: Required value: name or generateName is required"));
        }
        if inner.objects.get(gr).is_some_and(|objects| objects.contains_key(&key)) {
            return Err(ApiError::already_exists(format!("{}.{} \"{}\"", gr.resource, gr.group, key.1)));
        }
        inner.uid_counter += 1;
        let uid = format!("{:08x}-5111-4000-8000-{:012x}", inner.uid_tag, inner.uid_counter);
        let metadata =
            object["metadata"].as_object_mut().ok_or_else(|| ApiError::invalid("metadata must be an object"))?;
        metadata.insert("uid".into(), json!(uid));
        metadata.insert("creationTimestamp".into(), json!(now_rfc3339()));
        metadata.insert("generation".into(), json!(1));
        metadata.remove("deletionTimestamp");
        Ok(Self::commit(&mut inner, &self.live, gr, key, object, EventType::Added))
    }

    /// Replaces an object. With `expected_version`, a different current resourceVersion is a 409 conflict.
    /// Bumps generation on spec changes; an object being deleted whose last finalizer is removed goes away.
    pub fn update(
        &self,
        gr: &GroupResource,
        object: Value,
        expected_version: Option<&str>,
    ) -> Result<Arc<Value>, ApiError> {
        let mut inner = self.lock();
        let key = key_of(&object);
        let current = inner.existing(gr, &key)?;
        if let Some(expected) = expected_version.filter(|v| !v.is_empty()) {
            if meta_str(&current, "resourceVersion") != expected {
                return Err(ApiError::stale_write(format!(
                    "Operation cannot be fulfilled on {}.{} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                    gr.resource, gr.group, key.1
                )));
            }
        }
        let object = Self::carry_server_fields(&current, object);
        let finalized = object["metadata"].get("deletionTimestamp").is_some()
            && object["metadata"]["finalizers"].as_array().is_none_or(|f| f.is_empty());
        if finalized {
            return Ok(Self::remove(&mut inner, &self.live, gr, key, object));
        }
        Ok(Self::commit(&mut inner, &self.live, gr, key, object, EventType::Modified))
    }

    /// Reads an object, lets `change` edit it, and writes it back atomically (no conflict possible).
    pub fn modify(
        &self,
        gr: &GroupResource,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        let mut inner = self.lock();
        let key = (namespace.to_owned(), name.to_owned());
        let current = inner.existing(gr, &key)?;
        let mut object = (*current).clone();
        change(&mut object)?;
        if object == *current {
            return Ok(current);
        }
        let object = Self::carry_server_fields(&current, object);
        Ok(Self::commit(&mut inner, &self.live, gr, key, object, EventType::Modified))
    }

    /// Deletes an object: with finalizers it only gets a deletionTimestamp; otherwise it is removed and
    /// objects owned by it (ownerReferences) are deleted in turn, as background garbage collection does.
    /// A pod is deleted gracefully (see [`Store::delete_with`]).
    pub fn delete(&self, gr: &GroupResource, namespace: &str, name: &str) -> Result<Arc<Value>, ApiError> {
        self.delete_with(gr, namespace, name, DeleteOptions::default())
    }

    /// Deletes an object as [`Store::delete`] does, with options. A running pod is not removed at once: it
    /// gets a deletionTimestamp (now plus its grace period) and `deletionGracePeriodSeconds` (the
    /// options' grace period, else `spec.terminationGracePeriodSeconds`, default 30; 0 for pods that
    /// finished or were never scheduled, as the API server does), and the kubelet removes it when its
    /// containers have stopped. Deleting a terminating pod again with a shorter grace period shortens it
    /// (0: removed now, unless finalizers hold it).
    pub fn delete_with(
        &self,
        gr: &GroupResource,
        namespace: &str,
        name: &str,
        options: DeleteOptions<'_>,
    ) -> Result<Arc<Value>, ApiError> {
        let mut inner = self.lock();
        let key = (namespace.to_owned(), name.to_owned());
        let current = inner.existing(gr, &key)?;
        if options.uid.is_some_and(|uid| meta_str(&current, "uid") != uid) {
            return Err(ApiError::conflict(format!("Precondition failed: UID in precondition does not match {name}")));
        }
        let has_finalizers = current["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());
        let is_pod = is_pods(gr);
        let grace = if is_pod { pod_grace_seconds(&current, options.grace_period_seconds) } else { 0 };
        let deleting = current["metadata"].get("deletionTimestamp").is_some_and(|t| !t.is_null());
        if deleting {
            let current_grace = current["metadata"]["deletionGracePeriodSeconds"].as_u64().unwrap_or(0);
            if !is_pod || grace >= current_grace {
                return Ok(current);
            }
            if grace == 0 && !has_finalizers {
                return Ok(Self::remove_collecting(&mut inner, &self.live, gr, key, (*current).clone()));
            }
            let mut object = (*current).clone();
            mark_deleted(&mut object, grace);
            return Ok(Self::commit(&mut inner, &self.live, gr, key, object, EventType::Modified));
        }
        if has_finalizers || grace > 0 {
            let mut object = (*current).clone();
            mark_deleted(&mut object, grace);
            return Ok(Self::commit(&mut inner, &self.live, gr, key, object, EventType::Modified));
        }
        Ok(Self::remove_collecting(&mut inner, &self.live, gr, key, (*current).clone()))
    }

    /// Removes an object, then what a namespace held, then every orphan.
    fn remove_collecting(
        inner: &mut Inner,
        live: &broadcast::Sender<Arc<Change>>,
        gr: &GroupResource,
        key: ObjectKey,
        object: Value,
    ) -> Arc<Value> {
        let namespace = key.1.clone();
        let removed = Self::remove(inner, live, gr, key, object);
        if gr.group.is_empty() && gr.resource == "namespaces" {
            Self::empty_namespace(inner, live, &namespace);
        }
        Self::collect_garbage(inner, live);
        removed
    }

    /// Removes everything in a deleted namespace, as the namespace controller does (at once here, where a
    /// real cluster keeps the namespace `Terminating` until it is empty), finalizers ignored.
    fn empty_namespace(inner: &mut Inner, live: &broadcast::Sender<Arc<Change>>, namespace: &str) {
        let contents: Vec<(GroupResource, ObjectKey, Value)> = inner
            .objects
            .iter()
            .flat_map(|(gr, objects)| objects.iter().map(move |(key, object)| (gr, key, object)))
            .filter(|(_, key, _)| key.0 == namespace)
            .map(|(gr, key, object)| (gr.clone(), key.clone(), (**object).clone()))
            .collect();
        for (gr, key, object) in contents {
            Self::remove(inner, live, &gr, key, object);
        }
    }

    /// Deletes every object of a resource (used when its CRD is deleted), finalizers ignored.
    pub fn delete_all(&self, gr: &GroupResource) {
        let mut inner = self.lock();
        let keys: Vec<ObjectKey> = inner.objects.get(gr).map(|o| o.keys().cloned().collect()).unwrap_or_default();
        for key in keys {
            if let Some(object) = inner.objects.get(gr).and_then(|o| o.get(&key)).cloned() {
                Self::remove(&mut inner, &self.live, gr, key, (*object).clone());
            }
        }
    }

    /// Starts a watch of `gr` from `resource_version`: `None` or `"0"` starts with the current objects as
    /// ADDED; a version older than the retained history is 410 Gone.
    pub fn watch(&self, gr: &GroupResource, resource_version: Option<u64>) -> Result<WatchStart, ApiError> {
        let inner = self.lock();
        let live = self.live.subscribe();
        let backlog = match resource_version {
            None | Some(0) => inner
                .objects
                .get(gr)
                .map(|objects| {
                    objects
                        .values()
                        .map(|object| {
                            let version = meta_str(object, "resourceVersion").parse().unwrap_or(0);
                            Arc::new(Change {
                                resource_version: version,
                                group_resource: gr.clone(),
                                event: EventType::Added,
                                object: object.clone(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Some(version) => {
                let oldest = inner.history.front().map_or(inner.resource_version, |c| c.resource_version);
                if version + 1 < oldest && version < inner.resource_version {
                    return Err(ApiError::gone(format!("too old resource version: {version} ({})", oldest - 1)));
                }
                inner
                    .history
                    .iter()
                    .filter(|c| c.resource_version > version && &c.group_resource == gr)
                    .cloned()
                    .collect()
            }
        };
        Ok(WatchStart { backlog, live })
    }

    fn carry_server_fields(current: &Value, mut object: Value) -> Value {
        let current_meta = &current["metadata"];
        for field in ["uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds"] {
            match current_meta.get(field) {
                Some(value) => object["metadata"][field] = value.clone(),
                None => {
                    if let Some(meta) = object["metadata"].as_object_mut() {
                        meta.remove(field);
                    }
                }
            }
        }
        if spec_part(current) != spec_part(&object) {
            let generation = current_meta["generation"].as_i64().unwrap_or(1);
            object["metadata"]["generation"] = json!(generation + 1);
        }
        object
    }

    fn next_version(inner: &mut Inner) -> u64 {
        inner.resource_version += 1;
        inner.resource_version
    }

    fn record(inner: &mut Inner, live: &broadcast::Sender<Arc<Change>>, change: Change) {
        let change = Arc::new(change);
        inner.history.push_back(change.clone());
        while inner.history.len() > inner.history_limit {
            inner.history.pop_front();
        }
        // No receivers is fine: nobody is watching.
        let _ = live.send(change);
    }

    fn commit(
        inner: &mut Inner,
        live: &broadcast::Sender<Arc<Change>>,
        gr: &GroupResource,
        key: ObjectKey,
        mut object: Value,
        event: EventType,
    ) -> Arc<Value> {
        let version = Self::next_version(inner);
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let object = Arc::new(object);
        inner.objects.entry(gr.clone()).or_default().insert(key, object.clone());
        Self::record(
            inner,
            live,
            Change { resource_version: version, group_resource: gr.clone(), event, object: object.clone() },
        );
        object
    }

    fn remove(
        inner: &mut Inner,
        live: &broadcast::Sender<Arc<Change>>,
        gr: &GroupResource,
        key: ObjectKey,
        mut object: Value,
    ) -> Arc<Value> {
        if let Some(objects) = inner.objects.get_mut(gr) {
            objects.remove(&key);
        }
        let version = Self::next_version(inner);
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let object = Arc::new(object);
        Self::record(
            inner,
            live,
            Change {
                resource_version: version,
                group_resource: gr.clone(),
                event: EventType::Deleted,
                object: object.clone(),
            },
        );
        object
    }

    /// Deletes objects whose every owner is gone, until none is left (owners of owners included).
    fn collect_garbage(inner: &mut Inner, live: &broadcast::Sender<Arc<Change>>) {
        loop {
            let uids: std::collections::HashSet<String> =
                inner.objects.values().flat_map(|o| o.values()).map(|o| meta_str(o, "uid").to_owned()).collect();
            let orphans: Vec<(GroupResource, ObjectKey, Value)> = inner
                .objects
                .iter()
                .flat_map(|(gr, objects)| objects.iter().map(move |(key, object)| (gr, key, object)))
                // Pods already terminating are on their way out.
                .filter(|(gr, _, object)| !(is_pods(gr) && object["metadata"].get("deletionTimestamp").is_some()))
                .filter(|(_, _, object)| {
                    object["metadata"]["ownerReferences"].as_array().is_some_and(|owners| {
                        !owners.is_empty()
                            && owners.iter().all(|o| !uids.contains(o["uid"].as_str().unwrap_or_default()))
                    })
                })
                .map(|(gr, key, object)| (gr.clone(), key.clone(), (**object).clone()))
                .collect();
            if orphans.is_empty() {
                return;
            }
            for (gr, key, mut object) in orphans {
                // An orphaned running pod terminates gracefully, as the garbage collector's delete makes it.
                let grace = if is_pods(&gr) { pod_grace_seconds(&object, None) } else { 0 };
                if grace > 0 {
                    mark_deleted(&mut object, grace);
                    Self::commit(inner, live, &gr, key, object, EventType::Modified);
                } else {
                    Self::remove(inner, live, &gr, key, object);
                }
            }
        }
    }
}
