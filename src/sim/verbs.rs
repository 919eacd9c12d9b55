//! The verbs on one resource: get, list, create, update, patch, delete, deletecollection, including the
//! status and scale subresources, kubectl's table format and the pod metrics proxy.

use super::api::{json_response, Query, Target};
use super::crds;
use super::errors::ApiError;
use super::patch::{self, PatchError, PatchType};
use super::resources::{GroupResource, ResourceType};
use super::selectors::{parse_label_selector, FieldSelector};
use super::state::SimState;
use super::store::{key_of, now_rfc3339, DeleteOptions, ObjectKey};
use super::table;
use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::sync::Arc;

/// One resource request, parsed.
pub struct Request<'a> {
    /// The shared state.
    pub state: &'a Arc<SimState>,
    /// What the path names.
    pub target: &'a Target,
    /// Query parameters.
    pub query: &'a Query,
    /// The Accept header (kubectl asks for tables).
    pub accept: &'a str,
    /// The Content-Type header (patch types).
    pub content_type: &'a str,
    /// The User-Agent header (default field manager).
    pub user_agent: &'a str,
    /// The request body.
    pub body: &'a Bytes,
}

impl Request<'_> {
    fn resource_type(&self) -> &ResourceType {
        &self.target.resource_type
    }

    fn group_resource(&self) -> GroupResource {
        self.resource_type().group_resource()
    }

    fn namespace(&self) -> &str {
        self.target.namespace.as_deref().unwrap_or_default()
    }

    fn name(&self) -> Result<&str, ApiError> {
        self.target.name.as_deref().ok_or_else(|| ApiError::method_not_allowed("a name is required"))
    }

    fn subresource(&self) -> Option<&str> {
        self.target.subresource.as_deref()
    }

    fn dry_run(&self) -> bool {
        self.query.get("dryRun").is_some_and(|v| v == "All")
    }

    /// The field manager: the `fieldManager` parameter, else the client's name from its User-Agent.
    fn manager(&self) -> String {
        match self.query.get("fieldManager") {
            Some(manager) if !manager.is_empty() => manager.clone(),
            _ => self.user_agent.split('/').next().filter(|s| !s.is_empty()).unwrap_or("unknown").to_owned(),
        }
    }

    fn body_object(&self) -> Result<Value, ApiError> {
        if self.content_type.starts_with("application/vnd.kubernetes.protobuf") {
            return Err(ApiError::unsupported_media_type("the simulator does not decode protobuf; send JSON or YAML"));
        }
        let value: Value = if self.body.first() == Some(&b'{') {
            serde_json::from_slice(self.body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
        } else {
            serde_norway::from_slice(self.body).map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?
        };
        if !value.is_object() {
            return Err(ApiError::bad_request("the body must be an object"));
        }
        Ok(value)
    }

    fn current(&self) -> Result<Arc<Value>, ApiError> {
        let name = self.name()?;
        self.state.store.get(&self.group_resource(), self.namespace(), name).ok_or_else(|| self.not_found(name))
    }

    fn not_found(&self, name: &str) -> ApiError {
        let rt = self.resource_type();
        let what = if rt.group.is_empty() { rt.resource.clone() } else { format!("{}.{}", rt.resource, rt.group) };
        ApiError::not_found(format!("{what} \"{name}\""))
    }

    fn respond(&self, code: u16, object: &Value) -> Response {
        let resource_type = self.resource_type();
        json_response(code, &Served { object, api_version: &resource_type.api_version(), kind: &resource_type.kind })
    }
}

/// The object as served at the requested version: conversion None only rewrites `apiVersion`.
fn served(object: &Value, resource_type: &ResourceType) -> Value {
    let mut object = object.clone();
    object["apiVersion"] = json!(resource_type.api_version());
    object["kind"] = json!(resource_type.kind);
    object
}

fn wants_table(accept: &str) -> bool {
    accept.split(',').next().is_some_and(|first| first.contains("as=Table"))
}

/// GET of one object, its status or scale, or a pod's metrics through the proxy.
pub fn get(request: &Request<'_>) -> Result<Response, ApiError> {
    match request.subresource() {
        Some(sub) if sub == "proxy" || sub.starts_with("proxy/") => return pod_proxy(request, sub),
        Some("scale") => return Ok(json_response(200, &scale_of(request, &request.current()?)?)),
        Some("status") | None => {}
        Some(other) => return Err(ApiError::not_found(format!("subresource {other}"))),
    }
    let object = request.current()?;
    if wants_table(request.accept) {
        return Ok(json_response(
            200,
            &table::render(request.resource_type(), &[served(&object, request.resource_type())], None),
        ));
    }
    Ok(request.respond(200, &object))
}

/// LIST with label and field selectors and `limit`/`continue` paging. A page costs O(page): it is read from
/// the sorted store after the continue token's key, and the token carries the count of objects still to
/// come, which the real API server reports as `remainingItemCount` when the list has no selector.
pub fn list(request: &Request<'_>) -> Result<Response, ApiError> {
    let label_text = request.query.get("labelSelector").map_or("", String::as_str);
    let field_text = request.query.get("fieldSelector").map_or("", String::as_str);
    let labels = parse_label_selector(label_text)?;
    let fields = FieldSelector::parse(field_text)?;
    let compaction = request.state.list_compaction.load(std::sync::atomic::Ordering::SeqCst);
    let token = request.query.get("continue").filter(|c| !c.is_empty()).map(|c| ContinueToken::parse(c)).transpose()?;
    if token.as_ref().is_some_and(|t| t.compaction < compaction) {
        return Err(ApiError::gone(
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
        ));
    }
    let limit: usize = request.query.get("limit").and_then(|l| l.parse().ok()).filter(|l| *l > 0).unwrap_or(usize::MAX);
    let (gr, namespace) = (request.group_resource(), request.target.namespace.as_deref());
    let store = &request.state.store;
    let found =
        store.page(&gr, namespace, token.as_ref().map(|t| &t.after), limit, |o| labels.matches(o) && fields.matches(o));
    let (page, resource_version) = (&found.items, found.resource_version);
    // Without a selector the server knows how many objects follow; with one it would have to scan them all.
    let counted = label_text.trim().is_empty() && field_text.trim().is_empty();
    let remaining = (found.more && counted).then(|| {
        let before = token.as_ref().and_then(|t| t.remaining).unwrap_or_else(|| store.count(&gr, namespace));
        before.saturating_sub(page.len()).max(1)
    });
    let next = found
        .more
        .then(|| page.last().map(|last| ContinueToken { after: key_of(last), remaining, compaction }.render()))
        .flatten();
    if wants_table(request.accept) {
        let items: Vec<Value> = page.iter().map(|o| served(o, request.resource_type())).collect();
        return Ok(json_response(200, &table::render(request.resource_type(), &items, Some(resource_version))));
    }
    let api_version = request.resource_type().api_version();
    let items: Vec<Served<'_>> = page
        .iter()
        .map(|o| Served { object: o, api_version: &api_version, kind: &request.resource_type().kind })
        .collect();
    let mut metadata = json!({"resourceVersion": resource_version.to_string()});
    if let Some(next) = next {
        metadata["continue"] = json!(next);
    }
    if let Some(remaining) = remaining {
        metadata["remainingItemCount"] = json!(remaining);
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct List<'a> {
        api_version: &'a str,
        kind: String,
        metadata: Value,
        items: Vec<Served<'a>>,
    }
    let kind = format!("{}List", request.resource_type().kind);
    Ok(json_response(200, &List { api_version: &api_version, kind, metadata, items }))
}

/// An object serialised as served at a version without cloning it: large lists are the hot path.
pub(super) struct Served<'a> {
    /// The stored object.
    pub object: &'a Value,
    /// The `apiVersion` to show.
    pub api_version: &'a str,
    /// The `kind` to show.
    pub kind: &'a str,
}

impl serde::Serialize for Served<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Value::Object(fields) = self.object else { return self.object.serialize(serializer) };
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("apiVersion", self.api_version)?;
        map.serialize_entry("kind", self.kind)?;
        for (key, value) in fields.iter().filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind")) {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Where the next page of a list starts: after the key of the last object served, with the number of
/// objects still to come when the list counts them, and the compaction it was issued after. Spelt
/// `<compaction>/<remaining>/<namespace>/<name>` (remaining empty when not counted): a name and a namespace
/// never contain `/`.
struct ContinueToken {
    after: ObjectKey,
    remaining: Option<usize>,
    compaction: u64,
}

impl ContinueToken {
    fn render(&self) -> String {
        let remaining = self.remaining.map(|r| r.to_string()).unwrap_or_default();
        format!("{}/{remaining}/{}/{}", self.compaction, self.after.0, self.after.1)
    }

    fn parse(token: &str) -> Result<ContinueToken, ApiError> {
        let invalid = || ApiError::bad_request("invalid continue token");
        let (compaction, rest) = token.split_once('/').ok_or_else(invalid)?;
        let compaction = compaction.parse().map_err(|_| invalid())?;
        let (remaining, key) = rest.split_once('/').ok_or_else(invalid)?;
        let (namespace, name) = key.split_once('/').ok_or_else(invalid)?;
        let remaining = if remaining.is_empty() { None } else { Some(remaining.parse().map_err(|_| invalid())?) };
        Ok(ContinueToken { after: (namespace.to_owned(), name.to_owned()), remaining, compaction })
    }
}

/// POST: create (and the create-only reviews).
pub fn create(request: &Request<'_>) -> Result<Response, ApiError> {
    let mut object = request.body_object()?;
    if request.resource_type().create_only {
        let attributes = &object["spec"]["resourceAttributes"];
        let denied =
            request.state.denied.read().unwrap_or_else(|p| p.into_inner()).iter().any(|d| d.covers(attributes));
        object["status"] = if denied {
            json!({"allowed": false, "denied": true, "reason": "the scenario denies this permission"})
        } else {
            json!({"allowed": true, "reason": "the simulator allows everything the scenario does not deny"})
        };
        return Ok(request.respond(201, &object));
    }
    check_type_and_namespace(request, &mut object)?;
    if let Some(prefix) = object["metadata"]["generateName"]
        .as_str()
        .filter(|_| object["metadata"]["name"].as_str().is_none_or(str::is_empty))
    {
        let suffix: String = (0..5).map(|_| fastrand::alphanumeric().to_ascii_lowercase()).collect();
        object["metadata"]["name"] = json!(format!("{prefix}{suffix}"));
    }
    if request.resource_type().status {
        if let Some(map) = object.as_object_mut() {
            map.remove("status");
        }
    }
    ensure_namespace_exists(request)?;
    let object = admit(request, None, object)?;
    let object =
        patch::record_update(None, &object, &request.manager(), &request.resource_type().api_version(), &now_rfc3339());
    if request.dry_run() {
        return Ok(request.respond(201, &object));
    }
    let created = request.state.store.create(&request.group_resource(), object)?;
    after_write(request);
    Ok(request.respond(201, &created))
}

/// PUT of an object, its status, or its scale. A stale `metadata.resourceVersion` is a 409 conflict.
pub fn update(request: &Request<'_>) -> Result<Response, ApiError> {
    let current = request.current()?;
    let body = request.body_object()?;
    let expected = body["metadata"]["resourceVersion"].as_str().map(str::to_owned);
    let object = match request.subresource() {
        Some("scale") => with_scale(request, &current, &body)?,
        Some("status") => with_status_from(&current, &body),
        None => {
            let mut object = body;
            check_type_and_namespace(request, &mut object)?;
            if object["metadata"]["name"] != current["metadata"]["name"] {
                return Err(ApiError::bad_request("the name in the body does not match the name in the path"));
            }
            keep_status_of(request, &current, object)
        }
        Some(other) => return Err(ApiError::not_found(format!("subresource {other}"))),
    };
    write(request, &current, object, expected.as_deref(), 200)
}

/// How often a patch is re-applied to the latest object when other writes keep coming in between.
const PATCH_ATTEMPTS: usize = 5;

/// PATCH: merge, JSON, strategic merge (built-in kinds) or server-side apply. Like the API server's
/// GuaranteedUpdate loop, a patch that lost a race with another write is re-applied to the latest object;
/// only a resourceVersion the patch itself names makes a concurrent write a 409.
pub fn patch(request: &Request<'_>) -> Result<Response, ApiError> {
    let mut attempt = 1;
    loop {
        match patch_once(request) {
            Err(error) if error.is_stale_write() && attempt < PATCH_ATTEMPTS => attempt += 1,
            outcome => return outcome,
        }
    }
}

fn patch_once(request: &Request<'_>) -> Result<Response, ApiError> {
    let patch_type = PatchType::from_content_type(request.content_type).ok_or_else(|| {
        ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format: {}",
            request.content_type
        ))
    })?;
    let is_custom = crds::is_custom(request.state, request.resource_type());
    if patch_type == PatchType::Strategic && is_custom {
        return Err(ApiError::unsupported_media_type(
            "strategic merge patch is not supported for custom resources; use merge or apply",
        ));
    }
    let body: Value = if patch_type == PatchType::Apply {
        request.body_object()?
    } else {
        serde_json::from_slice(request.body).map_err(|e| ApiError::bad_request(format!("invalid patch: {e}")))?
    };
    let force = request.query.get("force").is_some_and(|f| f == "true");
    let current = match request.current() {
        Ok(current) => current,
        Err(error) if error.code == 404 && patch_type == PatchType::Apply && request.subresource().is_none() => {
            return apply_create(request, &body);
        }
        Err(error) => return Err(error),
    };
    // A patch to /scale is a patch of the Scale object, not of the resource behind it.
    let base = match request.subresource() {
        Some("scale") => scale_of(request, &current)?,
        _ => (*current).clone(),
    };
    let patched = match patch_type {
        PatchType::Merge => Ok(patch::merge_patch(&base, &body)),
        PatchType::Json => patch::json_patch(&base, &body),
        PatchType::Strategic => patch::strategic_merge_patch(&base, &body),
        PatchType::Apply => patch::server_side_apply(
            Some(&base),
            &body,
            &request.manager(),
            force,
            request.subresource(),
            &now_rfc3339(),
        ),
    }
    .map_err(patch_error)?;
    let object = match request.subresource() {
        Some("scale") => with_scale(request, &current, &patched)?,
        Some("status") => with_status_from(&current, &patched),
        None => keep_status_of(request, &current, patched),
        Some(other) => return Err(ApiError::not_found(format!("subresource {other}"))),
    };
    let object = if patch_type == PatchType::Apply {
        object
    } else {
        patch::record_update(
            Some(&current),
            &object,
            &request.manager(),
            &request.resource_type().api_version(),
            &now_rfc3339(),
        )
    };
    if let Some(named) = body["metadata"]["resourceVersion"].as_str().filter(|v| !v.is_empty()) {
        if current["metadata"]["resourceVersion"].as_str() != Some(named) {
            return Err(ApiError::conflict(format!(
                "Operation cannot be fulfilled: the patch names resourceVersion {named}, the object is at another"
            )));
        }
    }
    let expected = current["metadata"]["resourceVersion"].as_str().map(str::to_owned);
    write(request, &current, object, expected.as_deref(), 200)
}

fn apply_create(request: &Request<'_>, body: &Value) -> Result<Response, ApiError> {
    let mut object =
        patch::server_side_apply(None, body, &request.manager(), true, None, &now_rfc3339()).map_err(patch_error)?;
    check_type_and_namespace(request, &mut object)?;
    if object["metadata"]["name"].as_str() != request.target.name.as_deref() {
        return Err(ApiError::bad_request("the name in the body does not match the name in the path"));
    }
    ensure_namespace_exists(request)?;
    let object = admit(request, None, object)?;
    if request.dry_run() {
        return Ok(request.respond(201, &object));
    }
    let created = request.state.store.create(&request.group_resource(), object)?;
    after_write(request);
    Ok(request.respond(201, &created))
}

fn patch_error(error: PatchError) -> ApiError {
    match error {
        PatchError::Invalid(message) => ApiError::invalid(message),
        conflicts @ PatchError::Conflicts(_) => ApiError::conflict(conflicts.to_string()),
    }
}

/// DELETE of one object. Finalizers delay it; owned objects follow; a CRD takes its objects with it.
pub fn delete(request: &Request<'_>) -> Result<Response, ApiError> {
    let current = request.current()?;
    let options = serde_json::from_slice::<Value>(request.body).unwrap_or(Value::Null);
    let expected = options["preconditions"]["resourceVersion"].as_str();
    if expected.is_some_and(|v| current["metadata"]["resourceVersion"].as_str() != Some(v)) {
        return Err(ApiError::conflict("Precondition failed: resourceVersion does not match"));
    }
    if request.dry_run() {
        return Ok(request.respond(200, &current));
    }
    let grace_period_seconds = options["gracePeriodSeconds"]
        .as_u64()
        .or_else(|| request.query.get("gracePeriodSeconds").and_then(|g| g.parse().ok()));
    let delete_options = DeleteOptions { grace_period_seconds, uid: options["preconditions"]["uid"].as_str() };
    let deleted = request.state.store.delete_with(
        &request.group_resource(),
        request.namespace(),
        request.name()?,
        delete_options,
    )?;
    if request.group_resource() == crds::crd_resource() && deleted["metadata"].get("deletionTimestamp").is_none() {
        crds::delete_objects_of(request.state, &deleted);
    }
    after_write(request);
    Ok(request.respond(200, &deleted))
}

/// DELETE of a collection, filtered by selectors.
pub fn delete_collection(request: &Request<'_>) -> Result<Response, ApiError> {
    let labels = parse_label_selector(request.query.get("labelSelector").map_or("", String::as_str))?;
    let fields = FieldSelector::parse(request.query.get("fieldSelector").map_or("", String::as_str))?;
    let (objects, _) = request.state.store.list(&request.group_resource(), request.target.namespace.as_deref());
    let mut deleted = Vec::new();
    for object in objects.iter().filter(|o| labels.matches(o) && fields.matches(o)) {
        let (namespace, name) = key_of(object);
        if let Ok(gone) = request.state.store.delete(&request.group_resource(), &namespace, &name) {
            deleted.push(served(&gone, request.resource_type()));
        }
    }
    after_write(request);
    let rt = request.resource_type();
    Ok(json_response(
        200,
        &json!({"apiVersion": rt.api_version(), "kind": format!("{}List", rt.kind), "metadata": {}, "items": deleted}),
    ))
}

fn check_type_and_namespace(request: &Request<'_>, object: &mut Value) -> Result<(), ApiError> {
    let rt = request.resource_type();
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    if (!api_version.is_empty() && api_version != rt.api_version()) || (!kind.is_empty() && kind != rt.kind) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) or kind ({kind}) does not match the expected {} {}",
            rt.api_version(),
            rt.kind
        )));
    }
    object["apiVersion"] = json!(rt.api_version());
    object["kind"] = json!(rt.kind);
    if object.get("metadata").is_none_or(|m| !m.is_object()) {
        object["metadata"] = json!({});
    }
    match (&request.target.namespace, rt.namespaced) {
        (Some(namespace), true) => {
            let given = object["metadata"]["namespace"].as_str();
            if given.is_some_and(|g| !g.is_empty() && g != namespace) {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            object["metadata"]["namespace"] = json!(namespace);
        }
        (None, true) => {
            return Err(ApiError::bad_request(format!(
                "{} is namespaced: use /namespaces/{{ns}}/{}",
                rt.resource, rt.resource
            )))
        }
        (_, false) => {
            if let Some(metadata) = object["metadata"].as_object_mut() {
                metadata.remove("namespace");
            }
        }
    }
    Ok(())
}

fn ensure_namespace_exists(request: &Request<'_>) -> Result<(), ApiError> {
    let namespace = request.namespace();
    if request.resource_type().namespaced
        && request.state.store.get(&GroupResource::new("", "namespaces"), "", namespace).is_none()
    {
        return Err(ApiError::not_found(format!("namespaces \"{namespace}\"")));
    }
    Ok(())
}

/// Type-specific admission: CRD rules, pruning, defaulting and validation of custom resources, and the
/// ServiceAccount admission of new Pods.
fn admit(request: &Request<'_>, current: Option<&Value>, object: Value) -> Result<Value, ApiError> {
    let object = match current.is_none() && request.group_resource() == GroupResource::new("", "pods") {
        true => with_service_account(request, object)?,
        false => object,
    };
    check_data_size(request, &object)?;
    crds::admit(request.state, request.resource_type(), current, object, request.subresource() == Some("status"))
}

/// The most bytes of values a ConfigMap or a Secret may hold (the API server's `MaxSecretSize`, 1 MiB).
pub const MAX_DATA_BYTES: usize = 1024 * 1024;

/// The API server's validation of a ConfigMap's or a Secret's size: its values (binary ones decoded) may
/// hold at most [`MAX_DATA_BYTES`].
fn check_data_size(request: &Request<'_>, object: &Value) -> Result<(), ApiError> {
    let gr = request.group_resource();
    let (text, binary) = if gr == GroupResource::new("", "configmaps") {
        ("data", "binaryData")
    } else if gr == GroupResource::new("", "secrets") {
        ("stringData", "data")
    } else {
        return Ok(());
    };
    let values = |field: &str| object[field].as_object().into_iter().flat_map(|m| m.values());
    let text_bytes: usize = values(text).filter_map(Value::as_str).map(str::len).sum();
    let binary_bytes: usize =
        values(binary).filter_map(Value::as_str).map(|b| b.trim_end_matches('=').len() * 3 / 4).sum();
    if text_bytes + binary_bytes <= MAX_DATA_BYTES {
        return Ok(());
    }
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    Err(ApiError::invalid(format!(
        "{} \"{name}\" is invalid: []: Too long: may not be more than {MAX_DATA_BYTES} bytes",
        request.resource_type().kind
    )))
}

/// A Pod runs as a ServiceAccount of its namespace (`default` unless it names one, written into the Pod),
/// which must exist: the API server's ServiceAccount admission refuses it otherwise.
fn with_service_account(request: &Request<'_>, mut pod: Value) -> Result<Value, ApiError> {
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or(request.namespace()).to_owned();
    let account = pod["spec"]["serviceAccountName"].as_str().filter(|a| !a.is_empty()).unwrap_or("default").to_owned();
    let accounts = GroupResource::new("", "serviceaccounts");
    if request.state.store.get(&accounts, &namespace, &account).is_some() {
        pod["spec"]["serviceAccountName"] = json!(account);
        return Ok(pod);
    }
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    Err(ApiError::forbidden(format!(
        "pods \"{name}\" is forbidden: error looking up service account {namespace}/{account}: serviceaccount \"{account}\" not found"
    )))
}

fn write(
    request: &Request<'_>,
    current: &Value,
    object: Value,
    expected: Option<&str>,
    code: u16,
) -> Result<Response, ApiError> {
    let object = admit(request, Some(current), object)?;
    if request.dry_run() {
        return Ok(request.respond(code, &object));
    }
    let written = request.state.store.update(&request.group_resource(), object, expected)?;
    after_write(request);
    if request.subresource() == Some("scale") {
        return Ok(json_response(code, &scale_of(request, &written)?));
    }
    Ok(request.respond(code, &written))
}

fn after_write(request: &Request<'_>) {
    if request.group_resource() == crds::crd_resource() {
        request.state.refresh_crd_types();
    }
}

/// On the main endpoint of a kind with a status subresource, status changes are ignored.
fn keep_status_of(request: &Request<'_>, current: &Value, mut object: Value) -> Value {
    if request.resource_type().status {
        match current.get("status") {
            Some(status) => object["status"] = status.clone(),
            None => {
                if let Some(map) = object.as_object_mut() {
                    map.remove("status");
                }
            }
        }
    }
    object
}

/// Through `/status`, only status changes.
fn with_status_from(current: &Value, body: &Value) -> Value {
    let mut object = current.clone();
    match body.get("status") {
        Some(status) => object["status"] = status.clone(),
        None => {
            if let Some(map) = object.as_object_mut() {
                map.remove("status");
            }
        }
    }
    object
}

fn pointer(path: &str) -> String {
    path.replace('.', "/")
}

fn scale_of(request: &Request<'_>, object: &Arc<Value>) -> Result<Value, ApiError> {
    let (spec_path, status_path) =
        request.resource_type().scale.clone().ok_or_else(|| ApiError::not_found("the scale subresource"))?;
    let selector = object["status"]["selector"].as_str().map(str::to_owned).unwrap_or_else(|| {
        let labels = object["spec"]["selector"]["matchLabels"].as_object().cloned().unwrap_or_default();
        labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(",")
    });
    Ok(json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {"name": object["metadata"]["name"], "namespace": object["metadata"]["namespace"], "resourceVersion": object["metadata"]["resourceVersion"], "uid": object["metadata"]["uid"]},
        "spec": {"replicas": object.pointer(&pointer(&spec_path)).cloned().unwrap_or(json!(0))},
        "status": {"replicas": object.pointer(&pointer(&status_path)).cloned().unwrap_or(json!(0)), "selector": selector},
    }))
}

/// The object with its replicas set from a Scale (whole, or as patched from the current Scale).
fn with_scale(request: &Request<'_>, current: &Value, scale: &Value) -> Result<Value, ApiError> {
    let (spec_path, _) =
        request.resource_type().scale.clone().ok_or_else(|| ApiError::not_found("the scale subresource"))?;
    let replicas =
        scale["spec"]["replicas"].as_i64().ok_or_else(|| ApiError::invalid("spec.replicas: Required value"))?;
    let mut object = current.clone();
    let mut node = &mut object;
    for part in spec_path.trim_start_matches('.').split('.') {
        if !node.is_object() {
            *node = json!({});
        }
        node = &mut node[part];
    }
    *node = json!(replicas);
    Ok(object)
}

fn pod_proxy(request: &Request<'_>, subresource: &str) -> Result<Response, ApiError> {
    if request.resource_type().resource != "pods" {
        return Err(ApiError::not_found("proxy is only served for pods"));
    }
    let name = request.name()?;
    let pod_name = name.split(':').next().unwrap_or(name);
    let path = subresource.strip_prefix("proxy").unwrap_or_default();
    if request.state.store.get(&request.group_resource(), request.namespace(), pod_name).is_none() {
        return Err(request.not_found(pod_name));
    }
    if path != "/metrics" {
        return Err(ApiError::not_found(format!("pod {pod_name} serves no {path}")));
    }
    let text = request
        .state
        .metrics_text(request.namespace(), pod_name)
        .ok_or_else(|| ApiError { code: 503, ..ApiError::internal(format!("pod {pod_name} exposes no metrics")) })?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
