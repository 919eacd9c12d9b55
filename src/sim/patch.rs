//! The PATCH verb of the simulated API server, and the field ownership behind server-side apply.
//!
//! Everything here is pure: functions take the stored object and the request body as JSON and return the
//! new object, so the HTTP layer only parses, maps errors to status codes and stores. The strategic-merge
//! and apply models follow the API server's behaviour for the built-in kinds closely enough that an
//! operator's patches land on the simulator as they would on a real cluster, including the 409 conflicts
//! that server-side apply raises between field managers.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The patch types the API server accepts, from the request's Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 7386 JSON merge patch (`application/merge-patch+json`).
    Merge,
    /// RFC 6902 JSON patch (`application/json-patch+json`).
    Json,
    /// Kubernetes strategic merge patch (`application/strategic-merge-patch+json`).
    Strategic,
    /// Server-side apply (`application/apply-patch+yaml`).
    Apply,
}

impl PatchType {
    /// From a Content-Type header value (parameters like `; charset=utf-8` ignored):
    /// application/merge-patch+json, application/json-patch+json, application/strategic-merge-patch+json,
    /// application/apply-patch+yaml (also accept application/apply-patch+json). None for anything else.
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media_type = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        match media_type.as_str() {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// Why a patch could not be applied; the server maps these to HTTP status codes.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// Malformed patch body or a JSON-patch op that fails (e.g. `test` fails, path missing): HTTP 422 (or 400 for unparsable).
    #[error("{0}")]
    Invalid(String),
    /// Server-side apply conflicts: HTTP 409. Each entry: (field path like `.spec.replicas`, the manager that owns it).
    #[error("Apply failed with {} conflicts: {}", .0.len(), .0.iter().map(|(p, m)| format!("conflict with \"{m}\": {p}")).collect::<Vec<_>>().join(", "))]
    Conflicts(Vec<(String, String)>),
}

fn invalid(message: impl Into<String>) -> PatchError {
    PatchError::Invalid(message.into())
}

/// RFC 7386 JSON merge patch (null deletes).
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let mut merged = target.clone();
    json_patch::merge(&mut merged, patch);
    merged
}

/// RFC 6902 JSON patch.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| invalid(format!("invalid JSON patch: {e}")))?;
    let mut patched = target.clone();
    // On a copy, a failed patch cannot leave the stored object half-patched, so the crate's undo step
    // (`json_patch::patch`) is not needed; skipping it also avoids its internal `unreachable!`.
    json_patch::patch_unsafe(&mut patched, &operations).map_err(|e| invalid(e.to_string()))?;
    Ok(patched)
}

// ---------------------------------------------------------------------------------------------------------
// Merge keys, shared by strategic merge patch and server-side apply.
// ---------------------------------------------------------------------------------------------------------

/// The patch merge key of a list field of the built-in kinds, found by field name alone because the
/// simulator has no OpenAPI schema. `ports` is keyed by `containerPort` in a container and by `port` in a
/// Service, so it is told apart by its items. Lists the API server treats as atomic (tolerations, args,
/// envFrom...) are deliberately absent.
fn merge_key(field: &str, current: &[Value], patch: &[Value]) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "hostAliases" => Some("ip"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "topologySpreadConstraints" => Some("topologyKey"),
        "ports" => {
            let mut items = current.iter().chain(patch);
            if items.clone().any(|item| item.get("containerPort").is_some()) {
                Some("containerPort")
            } else if items.any(|item| item.get("port").is_some()) {
                Some("port")
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Lists of scalars that strategic merge patch unions instead of replacing (`patchStrategy: merge`).
const MERGED_PRIMITIVE_LISTS: &[&str] = &["finalizers"];

/// The merge key of a list only when every item can actually be addressed by it; otherwise the list is
/// handled atomically, which is what a list of the wrong shape would get from a real schema anyway.
fn addressable_key(field: &str, items: &[Value]) -> Option<&'static str> {
    let key = merge_key(field, items, &[])?;
    let addressable = !items.is_empty() && items.iter().all(|item| item.get(key).is_some());
    addressable.then_some(key)
}

// ---------------------------------------------------------------------------------------------------------
// Strategic merge patch.
// ---------------------------------------------------------------------------------------------------------

const PATCH_DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Strategic merge patch as the API server does it for built-in kinds (Deployments, Pods, ReplicaSets,
/// Jobs, Services...): merge patch semantics, except lists that have a patch merge key are merged by
/// that key instead of replaced: containers/initContainers/ephemeralContainers by `name`, env by `name`,
/// volumes by `name`, volumeMounts by `mountPath`, ports by `containerPort` (Service ports by `port`),
/// imagePullSecrets by `name`, conditions by `type`, ownerReferences by `uid`... (lists are identified by
/// their field name at any depth), plus the directives `$patch: delete` in a list item (removes the item
/// with that key), `$patch: replace` on a map or list, `$patch: delete` on a map, `$retainKeys`,
/// `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`. `finalizers` is unioned like the
/// API server does; other lists are replaced atomically.
pub fn strategic_merge_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(invalid("a strategic merge patch must be a JSON object"));
    };
    let empty = Map::new();
    let target = target.as_object().unwrap_or(&empty);
    match merge_map(target, patch)? {
        Some(merged) => Ok(Value::Object(merged)),
        None => Err(invalid("$patch: delete cannot remove the whole object")),
    }
}

/// What a map's `$patch` directive asks for.
enum MapDirective {
    Merge,
    Replace,
    Delete,
}

fn map_directive(patch: &Map<String, Value>) -> Result<MapDirective, PatchError> {
    match patch.get(PATCH_DIRECTIVE) {
        None => Ok(MapDirective::Merge),
        Some(Value::String(directive)) => match directive.as_str() {
            "merge" => Ok(MapDirective::Merge),
            "replace" => Ok(MapDirective::Replace),
            "delete" => Ok(MapDirective::Delete),
            other => Err(invalid(format!("Unknown patch type: {other}"))),
        },
        Some(other) => Err(invalid(format!("$patch must be a string, got {other}"))),
    }
}

fn is_directive_key(key: &str) -> bool {
    key == PATCH_DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// Merges a patch map into a target map; `None` when the patch deletes the map.
fn merge_map(
    target: &Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<Option<Map<String, Value>>, PatchError> {
    // Replacing starts from nothing rather than copying the patch so that nulls and nested directives in
    // the replacement are still interpreted, not stored.
    let mut merged = match map_directive(patch)? {
        MapDirective::Delete => return Ok(None),
        MapDirective::Replace => Map::new(),
        MapDirective::Merge => target.clone(),
    };
    for (key, value) in patch.iter().filter(|(key, _)| !is_directive_key(key)) {
        merge_field(&mut merged, key, value)?;
    }
    apply_list_directives(&mut merged, patch)?;
    retain_keys(&mut merged, patch)?;
    Ok(Some(merged))
}

fn merge_field(merged: &mut Map<String, Value>, key: &str, patch_value: &Value) -> Result<(), PatchError> {
    match patch_value {
        Value::Null => {
            merged.remove(key);
        }
        Value::Object(patch_map) => {
            let empty = Map::new();
            let current = merged.get(key).and_then(Value::as_object).unwrap_or(&empty);
            match merge_map(current, patch_map)? {
                Some(map) => merged.insert(key.to_string(), Value::Object(map)),
                None => merged.remove(key),
            };
        }
        Value::Array(patch_items) => {
            let current = merged.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            let list = merge_list(key, current, patch_items)?;
            merged.insert(key.to_string(), Value::Array(list));
        }
        scalar => {
            merged.insert(key.to_string(), scalar.clone());
        }
    }
    Ok(())
}

/// A list item that is only `{"$patch": "replace"}`: the rest of the patch list replaces the list.
fn is_list_replace_directive(item: &Value) -> bool {
    item.as_object().is_some_and(|map| map.len() == 1 && map.get(PATCH_DIRECTIVE) == Some(&"replace".into()))
}

fn merge_list(field: &str, current: &[Value], patch: &[Value]) -> Result<Vec<Value>, PatchError> {
    if patch.iter().any(is_list_replace_directive) {
        return Ok(patch.iter().filter(|item| !is_list_replace_directive(item)).cloned().collect());
    }
    if MERGED_PRIMITIVE_LISTS.contains(&field) && !patch.iter().any(Value::is_object) {
        return Ok(union_primitives(current, patch));
    }
    match merge_key(field, current, patch) {
        Some(key) if patch.iter().all(Value::is_object) => merge_keyed_list(key, current, patch),
        _ => Ok(patch.to_vec()),
    }
}

fn union_primitives(current: &[Value], patch: &[Value]) -> Vec<Value> {
    let mut merged = current.to_vec();
    for item in patch {
        if !merged.contains(item) {
            merged.push(item.clone());
        }
    }
    merged
}

fn merge_keyed_list(key: &str, current: &[Value], patch: &[Value]) -> Result<Vec<Value>, PatchError> {
    let mut merged = current.to_vec();
    for item in patch.iter().filter_map(Value::as_object) {
        let Some(id) = item.get(key) else {
            return Err(invalid(format!(
                "map: {} does not contain declared merge key: {key}",
                Value::from(item.clone())
            )));
        };
        let position = merged.iter().position(|existing| existing.get(key) == Some(id));
        let existing = position.and_then(|index| merged.get(index)).and_then(Value::as_object).cloned();
        match (merge_map(&existing.unwrap_or_default(), item)?, position) {
            (Some(map), Some(index)) => merged[index] = Value::Object(map),
            (Some(map), None) => merged.push(Value::Object(map)),
            (None, Some(index)) => {
                merged.remove(index);
            }
            (None, None) => {}
        }
    }
    Ok(merged)
}

/// `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`, applied after the fields are merged
/// because both describe the merged list.
fn apply_list_directives(merged: &mut Map<String, Value>, patch: &Map<String, Value>) -> Result<(), PatchError> {
    for (key, value) in patch {
        let (field, is_delete) = if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            (field, true)
        } else if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
            (field, false)
        } else {
            continue;
        };
        let Value::Array(directive_items) = value else {
            return Err(invalid(format!("{key} must be a list")));
        };
        let Some(Value::Array(list)) = merged.get_mut(field) else { continue };
        if is_delete {
            list.retain(|item| !directive_items.contains(item));
        } else {
            apply_element_order(field, list, directive_items);
        }
    }
    Ok(())
}

/// Puts the items named in `order` into that order. Items the order does not name (added by others)
/// keep their slots, which is how the API server keeps server-only items near where they were.
fn apply_element_order(field: &str, list: &mut [Value], order: &[Value]) {
    let key = merge_key(field, list, order);
    let identity = |item: &Value| match key {
        Some(key) => item.get(key).cloned(),
        None => Some(item.clone()),
    };
    let rank = |item: &Value| {
        let id = identity(item)?;
        order.iter().position(|wanted| identity(wanted).as_ref() == Some(&id))
    };
    let slots: Vec<usize> =
        list.iter().enumerate().filter(|(_, item)| rank(item).is_some()).map(|(index, _)| index).collect();
    let mut ordered: Vec<Value> = slots.iter().filter_map(|&index| list.get(index).cloned()).collect();
    ordered.sort_by_key(|item| rank(item));
    for (slot, item) in slots.into_iter().zip(ordered) {
        list[slot] = item;
    }
}

fn retain_keys(merged: &mut Map<String, Value>, patch: &Map<String, Value>) -> Result<(), PatchError> {
    let Some(retained) = patch.get(RETAIN_KEYS) else { return Ok(()) };
    let Value::Array(retained) = retained else {
        return Err(invalid(format!("{RETAIN_KEYS} must be a list of field names")));
    };
    merged.retain(|key, _| retained.iter().any(|name| name.as_str() == Some(key)));
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Field sets: which fields of an object a manager owns, in the fieldsV1 vocabulary.
// ---------------------------------------------------------------------------------------------------------

/// A field's address, one fieldsV1 element per level: `f:<field>` or `k:<merge key as JSON>`.
type FieldPath = Vec<String>;
/// The fields a manager owns. Sorted, so that a path's descendants directly follow it.
type FieldSet = BTreeSet<FieldPath>;

const APPLY: &str = "Apply";
const UPDATE: &str = "Update";

/// Which part of an object a write can touch, hence which fields are tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// An apply to the main resource: status belongs to the status subresource.
    MainResource,
    /// An apply to `/status`: only status.
    StatusSubresource,
    /// A recorded update, which has already been limited to what it may touch by the caller.
    WholeObject,
}

/// Metadata that identifies the object: required in an applied config but never owned.
const IDENTITY_METADATA: &[&str] = &["name", "namespace"];
/// Metadata the server maintains: never owned, and ignored in an applied config.
const SERVER_METADATA: &[&str] = &[
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

fn is_tracked_root(key: &str, scope: Scope) -> bool {
    match scope {
        Scope::StatusSubresource => key == "status",
        Scope::MainResource => !matches!(key, "apiVersion" | "kind" | "status"),
        Scope::WholeObject => !matches!(key, "apiVersion" | "kind"),
    }
}

fn is_tracked_metadata(key: &str) -> bool {
    !IDENTITY_METADATA.contains(&key) && !SERVER_METADATA.contains(&key)
}

fn field_element(name: &str) -> String {
    format!("f:{name}")
}

fn key_element(key: &str, item: &Value) -> String {
    let mut id = Map::new();
    id.insert(key.to_string(), item.get(key).cloned().unwrap_or(Value::Null));
    format!("k:{}", Value::Object(id))
}

/// Every owned-able field of `object`: leaves, plus each item of a keyed list (the fieldsV1 `"."`).
fn field_set(object: &Value, scope: Scope) -> FieldSet {
    let mut set = FieldSet::new();
    let Value::Object(root) = object else { return set };
    for (key, value) in root.iter().filter(|(key, _)| is_tracked_root(key, scope)) {
        let mut path = vec![field_element(key)];
        if key == "metadata" {
            let Value::Object(metadata) = value else { continue };
            for (name, value) in metadata.iter().filter(|(name, _)| is_tracked_metadata(name)) {
                path.push(field_element(name));
                collect_fields(name, value, &mut path, &mut set);
                path.pop();
            }
        } else {
            collect_fields(key, value, &mut path, &mut set);
        }
    }
    set
}

fn collect_fields(field: &str, value: &Value, path: &mut FieldPath, set: &mut FieldSet) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (name, child) in map {
                path.push(field_element(name));
                collect_fields(name, child, path, set);
                path.pop();
            }
        }
        Value::Array(items) => match addressable_key(field, items) {
            Some(key) => {
                for item in items {
                    path.push(key_element(key, item));
                    set.insert(path.clone());
                    collect_fields("", item, path, set);
                    path.pop();
                }
            }
            None => {
                set.insert(path.clone());
            }
        },
        _ => {
            set.insert(path.clone());
        }
    }
}

fn parse_key_element(json: &str) -> Option<Map<String, Value>> {
    serde_json::from_str(json).ok()
}

fn matches_key(item: &Value, id: &Map<String, Value>) -> bool {
    id.iter().all(|(name, value)| item.get(name) == Some(value))
}

fn child<'a>(node: &'a Value, element: &str) -> Option<&'a Value> {
    if let Some(name) = element.strip_prefix("f:") {
        node.as_object()?.get(name)
    } else {
        let id = parse_key_element(element.strip_prefix("k:")?)?;
        node.as_array()?.iter().find(|item| matches_key(item, &id))
    }
}

fn child_mut<'a>(node: &'a mut Value, element: &str) -> Option<&'a mut Value> {
    if let Some(name) = element.strip_prefix("f:") {
        node.as_object_mut()?.get_mut(name)
    } else {
        let id = parse_key_element(element.strip_prefix("k:")?)?;
        node.as_array_mut()?.iter_mut().find(|item| matches_key(item, &id))
    }
}

fn value_at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(object, |node, element| child(node, element))
}

fn remove_at(object: &mut Value, path: &[String]) -> Option<()> {
    let (last, parents) = path.split_last()?;
    let mut node = object;
    for element in parents {
        node = child_mut(node, element)?;
    }
    if let Some(name) = last.strip_prefix("f:") {
        node.as_object_mut()?.remove(name);
    } else {
        let id = parse_key_element(last.strip_prefix("k:")?)?;
        let items = node.as_array_mut()?;
        let index = items.iter().position(|item| matches_key(item, &id))?;
        items.remove(index);
    }
    Some(())
}

fn is_list_item(path: &[String]) -> bool {
    path.last().is_some_and(|element| element.starts_with("k:"))
}

/// The merge-key field of a list item (`...k:{"name":"x"}/f:name`): removing it alone would leave an
/// item nobody can address, so it goes only with its item.
fn is_item_key_field(path: &[String]) -> bool {
    let [.., item, field] = path else { return false };
    let (Some(id), Some(name)) = (item.strip_prefix("k:").and_then(parse_key_element), field.strip_prefix("f:")) else {
        return false;
    };
    id.contains_key(name)
}

/// Whether `set` holds `path` itself or anything below it.
fn covers(set: &FieldSet, path: &FieldPath) -> bool {
    set.range(path.clone()..).next().is_some_and(|first| first.starts_with(path))
}

/// Fields added or given a new value between two versions of an object. A list item that exists in both
/// is not "changed" by edits inside it: those show up as its own changed leaves.
fn changed_fields(before: &Value, after: &Value, scope: Scope) -> FieldSet {
    let before_set = field_set(before, scope);
    field_set(after, scope)
        .into_iter()
        .filter(|path| {
            !before_set.contains(path) || (!is_list_item(path) && value_at(before, path) != value_at(after, path))
        })
        .collect()
}

fn removed_fields(before: &Value, after: &Value, scope: Scope) -> FieldSet {
    let after_set = field_set(after, scope);
    field_set(before, scope).into_iter().filter(|path| !after_set.contains(path)).collect()
}

/// Renders a field path the way the API server names it in conflict messages:
/// `.spec.template.spec.containers[name="app"].image`.
fn display_path(path: &[String]) -> String {
    path.iter()
        .map(|element| match (element.strip_prefix("f:"), element.strip_prefix("k:")) {
            (Some(name), _) => format!(".{name}"),
            (None, Some(key)) => match parse_key_element(key) {
                Some(id) => {
                    let parts: Vec<String> = id.iter().map(|(name, value)| format!("{name}={value}")).collect();
                    format!("[{}]", parts.join(","))
                }
                None => format!("[{key}]"),
            },
            (None, None) => format!(".{element}"),
        })
        .collect()
}

/// A fieldsV1 tree node: `member` is the `"."` marker (or a leaf's `{}`).
#[derive(Default)]
struct FieldNode {
    member: bool,
    children: BTreeMap<String, FieldNode>,
}

impl FieldNode {
    fn to_json(&self) -> Value {
        let mut map: Map<String, Value> =
            self.children.iter().map(|(element, node)| (element.clone(), node.to_json())).collect();
        if self.member && !map.is_empty() {
            map.insert(".".to_string(), Value::Object(Map::new()));
        }
        Value::Object(map)
    }
}

fn encode_fields(set: &FieldSet) -> Value {
    let mut root = FieldNode::default();
    for path in set {
        path.iter().fold(&mut root, |node, element| node.children.entry(element.clone()).or_default()).member = true;
    }
    root.to_json()
}

fn decode_fields(value: &Value, path: &mut FieldPath, set: &mut FieldSet) {
    let Value::Object(map) = value else { return };
    if map.is_empty() && !path.is_empty() {
        set.insert(path.clone());
    }
    for (element, child) in map {
        if element == "." {
            if !path.is_empty() {
                set.insert(path.clone());
            }
            continue;
        }
        path.push(element.clone());
        decode_fields(child, path, set);
        path.pop();
    }
}

// ---------------------------------------------------------------------------------------------------------
// metadata.managedFields
// ---------------------------------------------------------------------------------------------------------

/// Who a managedFields entry belongs to. As in the API server, an applier is one manager whatever
/// apiVersion it applies with, while an updater is one per apiVersion; `Apply` and `Update` under the
/// same name are different managers and can conflict with each other.
struct ManagerId<'a> {
    manager: &'a str,
    operation: &'a str,
    api_version: &'a str,
    subresource: Option<&'a str>,
}

/// One `metadata.managedFields` entry.
struct ManagedEntry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: Option<String>,
    fields: FieldSet,
}

impl ManagedEntry {
    fn new(id: &ManagerId) -> ManagedEntry {
        ManagedEntry {
            manager: id.manager.to_string(),
            operation: id.operation.to_string(),
            api_version: id.api_version.to_string(),
            time: String::new(),
            subresource: id.subresource.map(str::to_string),
            fields: FieldSet::new(),
        }
    }

    /// `None` for an entry too malformed to attribute, which is then dropped rather than failing the write.
    fn from_json(entry: &Value) -> Option<ManagedEntry> {
        let text = |name: &str| entry.get(name).and_then(Value::as_str).map(str::to_string);
        let mut fields = FieldSet::new();
        if let Some(fields_v1) = entry.get("fieldsV1") {
            decode_fields(fields_v1, &mut Vec::new(), &mut fields);
        }
        Some(ManagedEntry {
            manager: text("manager")?,
            operation: text("operation")?,
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time").unwrap_or_default(),
            subresource: text("subresource"),
            fields,
        })
    }

    fn to_json(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("manager".into(), self.manager.clone().into());
        entry.insert("operation".into(), self.operation.clone().into());
        entry.insert("apiVersion".into(), self.api_version.clone().into());
        entry.insert("time".into(), self.time.clone().into());
        entry.insert("fieldsType".into(), "FieldsV1".into());
        entry.insert("fieldsV1".into(), encode_fields(&self.fields));
        if let Some(subresource) = &self.subresource {
            entry.insert("subresource".into(), subresource.clone().into());
        }
        Value::Object(entry)
    }

    fn is(&self, id: &ManagerId) -> bool {
        self.manager == id.manager
            && self.operation == id.operation
            && self.subresource.as_deref() == id.subresource
            && (id.operation == APPLY || self.api_version == id.api_version)
    }
}

fn read_entries(object: &Value) -> Vec<ManagedEntry> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| entries.iter().filter_map(ManagedEntry::from_json).collect())
        .unwrap_or_default()
}

/// Stores the entries in the object's metadata, dropping managers left with no fields as the API server does.
fn write_entries(object: &mut Value, entries: &[ManagedEntry]) {
    let entries: Vec<Value> =
        entries.iter().filter(|entry| !entry.fields.is_empty()).map(ManagedEntry::to_json).collect();
    let Value::Object(root) = object else { return };
    let metadata = root.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    let Value::Object(metadata) = metadata else { return };
    if entries.is_empty() {
        metadata.remove("managedFields");
    } else {
        metadata.insert("managedFields".into(), Value::Array(entries));
    }
}

/// The entry of `id`, created at the end of the list if the manager is new.
fn entry_of<'a>(entries: &'a mut Vec<ManagedEntry>, id: &ManagerId) -> &'a mut ManagedEntry {
    let index = match entries.iter().position(|entry| entry.is(id)) {
        Some(index) => index,
        None => {
            entries.push(ManagedEntry::new(id));
            entries.len() - 1
        }
    };
    &mut entries[index]
}

fn subtract(set: &mut FieldSet, removed: &FieldSet) {
    set.retain(|path| !removed.contains(path));
}

// ---------------------------------------------------------------------------------------------------------
// Server-side apply.
// ---------------------------------------------------------------------------------------------------------

/// Server-side apply of `applied` (the full intended config of `manager`) onto `live` (None when the
/// object does not exist yet), with field ownership kept in `metadata.managedFields` in the real
/// Kubernetes format: entries `{"manager", "operation": "Apply"|"Update", "apiVersion", "time",
/// "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {...}}}`
/// (plus `"subresource": "status"` for applies to /status).
///
/// A simplified model of structured-merge-diff: maps are recursed into; lists are atomic leaves except
/// lists of maps with a known merge key (the strategic-merge table), whose items are `k:{"name":"x"}`.
/// A field the config changes and another manager owns is a conflict (moved to `manager` with `force`,
/// otherwise [`PatchError::Conflicts`]); fields `manager` applied before and no longer applies are removed
/// unless someone else owns them. Identity (`apiVersion`, `kind`, `metadata.name`/`namespace`) and
/// server-maintained metadata are never owned; `status` is ignored unless `subresource` is `Some("status")`,
/// in which case only `status` is. Explicit nulls in the config are treated as absent fields.
/// Returns the new object; the caller sets resourceVersion, generation, etc.
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
    now: &str,
) -> Result<Value, PatchError> {
    if manager.is_empty() {
        return Err(invalid("fieldManager is required for apply requests"));
    }
    if !applied.is_object() || applied.get("metadata").is_some_and(|metadata| !metadata.is_object()) {
        return Err(invalid("the applied configuration must be an object with object metadata"));
    }
    let scope = if subresource == Some("status") { Scope::StatusSubresource } else { Scope::MainResource };
    let config = applied_config(applied, scope);
    let applied_fields = field_set(&config, scope);
    let before = live.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    let api_version =
        text_field(applied, "apiVersion").or_else(|| text_field(&before, "apiVersion")).unwrap_or_default();
    let id = ManagerId { manager, operation: APPLY, api_version, subresource };

    let mut merged = before.clone();
    merge_applied(&mut merged, &config, "");
    let mut entries = read_entries(&before);
    let changed = changed_fields(&before, &merged, scope);
    let conflicts = conflicts_with_others(&entries, &id, &changed);
    if !conflicts.is_empty() && !force {
        return Err(PatchError::Conflicts(conflicts));
    }
    for entry in entries.iter_mut().filter(|entry| !entry.is(&id)) {
        subtract(&mut entry.fields, &changed);
    }

    let previous = entries.iter().find(|entry| entry.is(&id)).map(|entry| entry.fields.clone()).unwrap_or_default();
    prune_abandoned(&mut merged, &previous, &applied_fields, &entries, &id);
    let removed = removed_fields(&before, &merged, scope);
    for entry in &mut entries {
        subtract(&mut entry.fields, &removed);
    }

    let entry = entry_of(&mut entries, &id);
    entry.fields = applied_fields;
    entry.api_version = api_version.to_string();
    entry.time = now.to_string();
    write_entries(&mut merged, &entries);
    Ok(merged)
}

fn text_field<'a>(object: &'a Value, name: &str) -> Option<&'a str> {
    object.get(name).and_then(Value::as_str)
}

/// The part of an applied config that the apply may write: identity (to create the object), and the
/// fields of its scope, without server-maintained metadata.
fn applied_config(applied: &Value, scope: Scope) -> Value {
    let mut config = without_nulls(applied);
    let Value::Object(root) = &mut config else { return config };
    root.retain(|key, _| matches!(key.as_str(), "apiVersion" | "kind" | "metadata") || is_tracked_root(key, scope));
    if let Some(Value::Object(metadata)) = root.get_mut("metadata") {
        let keeps_owned_metadata = scope != Scope::StatusSubresource;
        metadata.retain(|key, _| {
            IDENTITY_METADATA.contains(&key.as_str()) || (keeps_owned_metadata && is_tracked_metadata(key))
        });
    }
    config
}

fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Writes an applied config over the live object: maps merge, keyed lists merge item by item, anything
/// else is replaced. Conflicts have already been ruled out (or forced), so overwriting is safe.
fn merge_applied(target: &mut Value, applied: &Value, field: &str) {
    match applied {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let Value::Object(target_fields) = target else { return };
            for (name, value) in fields {
                merge_applied(target_fields.entry(name.clone()).or_insert(Value::Null), value, name);
            }
        }
        Value::Array(items) => {
            let key = addressable_key(field, items);
            match (key, target.as_array_mut()) {
                (Some(key), Some(existing)) => merge_applied_items(existing, items, key),
                _ => *target = applied.clone(),
            }
        }
        _ => *target = applied.clone(),
    }
}

fn merge_applied_items(existing: &mut Vec<Value>, items: &[Value], key: &str) {
    for item in items {
        match existing.iter_mut().find(|current| current.get(key) == item.get(key)) {
            Some(current) => merge_applied(current, item, ""),
            None => existing.push(item.clone()),
        }
    }
}

/// Every (field, owner) pair where a manager other than `id` owns a field the apply changes.
fn conflicts_with_others(entries: &[ManagedEntry], id: &ManagerId, changed: &FieldSet) -> Vec<(String, String)> {
    let mut conflicts: Vec<(String, String)> = entries
        .iter()
        .filter(|entry| !entry.is(id))
        .flat_map(|entry| entry.fields.intersection(changed).map(|path| (display_path(path), entry.manager.clone())))
        .collect();
    conflicts.sort();
    conflicts.dedup();
    conflicts
}

/// Removes the fields `id` applied last time and no longer applies, unless some manager (including `id`,
/// through a field nested below) still owns them.
fn prune_abandoned(
    object: &mut Value,
    previous: &FieldSet,
    applied: &FieldSet,
    entries: &[ManagedEntry],
    id: &ManagerId,
) {
    let mut still_owned = applied.clone();
    for entry in entries.iter().filter(|entry| !entry.is(id)) {
        still_owned.extend(entry.fields.iter().cloned());
    }
    for path in previous.difference(applied) {
        if !covers(&still_owned, path) && !is_item_key_field(path) {
            // A path already gone with its parent is fine to miss.
            let _ = remove_at(object, path);
        }
    }
}

/// Records a non-apply write (create, update, merge/json/strategic patch) by `manager` (operation "Update"):
/// the fields that changed between `before` (None on create) and `after` become owned by `manager` and are
/// removed from other managers' sets, so a later apply by another manager conflicts on them. Fields that
/// the write removed leave every set. Returns `after` with updated `metadata.managedFields` (taken from
/// `after` when the write carried them, else from `before`, as the API server keeps them when a write
/// omits them). Leaves managedFields untouched if `manager` is empty.
pub fn record_update(before: Option<&Value>, after: &Value, manager: &str, api_version: &str, now: &str) -> Value {
    let mut result = after.clone();
    if manager.is_empty() {
        return result;
    }
    let empty = Value::Object(Map::new());
    let before = before.unwrap_or(&empty);
    let mut entries = read_entries(after);
    if entries.is_empty() {
        entries = read_entries(before);
    }
    let changed = changed_fields(before, after, Scope::WholeObject);
    let removed = removed_fields(before, after, Scope::WholeObject);
    let id = ManagerId { manager, operation: UPDATE, api_version, subresource: None };
    for entry in &mut entries {
        subtract(&mut entry.fields, &removed);
        if !entry.is(&id) {
            subtract(&mut entry.fields, &changed);
        }
    }
    if !changed.is_empty() {
        let entry = entry_of(&mut entries, &id);
        entry.fields.extend(changed);
        entry.time = now.to_string();
    }
    write_entries(&mut result, &entries);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: &str = "2024-01-01T00:00:00Z";
    const LATER: &str = "2024-01-01T00:05:00Z";

    // ----- content types -----

    #[test]
    fn content_types_map_to_patch_types() {
        assert_eq!(PatchType::from_content_type("application/merge-patch+json"), Some(PatchType::Merge));
        assert_eq!(PatchType::from_content_type("application/json-patch+json"), Some(PatchType::Json));
        assert_eq!(
            PatchType::from_content_type("application/strategic-merge-patch+json; charset=utf-8"),
            Some(PatchType::Strategic)
        );
        assert_eq!(PatchType::from_content_type("application/apply-patch+yaml"), Some(PatchType::Apply));
        assert_eq!(PatchType::from_content_type("Application/Apply-Patch+JSON"), Some(PatchType::Apply));
        assert_eq!(PatchType::from_content_type("application/json"), None);
        assert_eq!(PatchType::from_content_type(""), None);
    }

    // ----- merge patch -----

    #[test]
    fn merge_patch_null_deletes_a_field() {
        let target = json!({"a": 1, "b": 2});
        assert_eq!(merge_patch(&target, &json!({"a": null})), json!({"b": 2}));
    }

    #[test]
    fn merge_patch_merges_nested_maps_and_replaces_lists() {
        let target = json!({"spec": {"replicas": 1, "selector": {"app": "web"}, "args": ["a", "b"]}});
        let patch = json!({"spec": {"replicas": 3, "selector": {"tier": "front"}, "args": ["c"]}});
        assert_eq!(
            merge_patch(&target, &patch),
            json!({"spec": {"replicas": 3, "selector": {"app": "web", "tier": "front"}, "args": ["c"]}})
        );
    }

    // ----- JSON patch -----

    #[test]
    fn json_patch_add_remove_replace() {
        let target = json!({"spec": {"replicas": 1, "paused": true}, "list": [1, 2]});
        let patch = json!([
            {"op": "add", "path": "/spec/minReadySeconds", "value": 5},
            {"op": "remove", "path": "/spec/paused"},
            {"op": "replace", "path": "/spec/replicas", "value": 4},
            {"op": "add", "path": "/list/-", "value": 3},
        ]);
        let patched = json_patch(&target, &patch).expect("patch applies");
        assert_eq!(patched, json!({"spec": {"replicas": 4, "minReadySeconds": 5}, "list": [1, 2, 3]}));
    }

    #[test]
    fn json_patch_failing_test_is_invalid_and_leaves_target_alone() {
        let target = json!({"spec": {"replicas": 1}});
        let patch = json!([
            {"op": "replace", "path": "/spec/replicas", "value": 2},
            {"op": "test", "path": "/spec/replicas", "value": 7},
        ]);
        assert!(matches!(json_patch(&target, &patch), Err(PatchError::Invalid(_))));
        assert_eq!(target, json!({"spec": {"replicas": 1}}));
    }

    #[test]
    fn json_patch_missing_path_and_malformed_bodies_are_invalid() {
        let target = json!({"a": 1});
        let missing = json!([{"op": "remove", "path": "/nope"}]);
        assert!(matches!(json_patch(&target, &missing), Err(PatchError::Invalid(_))));
        for malformed in [json!({"op": "add"}), json!([{"op": "frobnicate", "path": "/a"}]), json!([{"op": "add"}])] {
            assert!(matches!(json_patch(&target, &malformed), Err(PatchError::Invalid(_))), "{malformed}");
        }
        let bad_pointer = json!([{"op": "add", "path": "a", "value": 1}]);
        assert!(matches!(json_patch(&target, &bad_pointer), Err(PatchError::Invalid(_))));
        let remove_from_empty = json!([{"op": "remove", "path": "/list/-"}]);
        assert!(json_patch(&json!({"list": []}), &remove_from_empty).is_err());
    }

    // ----- strategic merge patch -----

    fn deployment_with_containers() -> Value {
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "sidecar", "image": "proxy:1"},
        ]}}}})
    }

    fn containers(object: &Value) -> &Value {
        &object["spec"]["template"]["spec"]["containers"]
    }

    #[test]
    fn strategic_merge_changes_one_container_by_name_and_keeps_the_other() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
        let patched = strategic_merge_patch(&deployment_with_containers(), &patch).expect("patch applies");
        assert_eq!(containers(&patched)[0]["image"], "app:2");
        assert_eq!(containers(&patched)[0]["env"][1]["value"], "2");
        assert_eq!(containers(&patched)[1], json!({"name": "sidecar", "image": "proxy:1"}));
    }

    #[test]
    fn strategic_merge_adds_a_new_container_at_the_end() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "debug", "image": "busybox"}]}}}});
        let patched = strategic_merge_patch(&deployment_with_containers(), &patch).expect("patch applies");
        let names: Vec<&Value> = containers(&patched).as_array().into_iter().flatten().map(|c| &c["name"]).collect();
        assert_eq!(names, [&json!("app"), &json!("sidecar"), &json!("debug")]);
    }

    #[test]
    fn strategic_merge_merges_env_by_name() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]},
        ]}}}});
        let patched = strategic_merge_patch(&deployment_with_containers(), &patch).expect("patch applies");
        assert_eq!(
            containers(&patched)[0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"}])
        );
    }

    #[test]
    fn strategic_merge_patch_delete_removes_the_keyed_item() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}});
        let patched = strategic_merge_patch(&deployment_with_containers(), &patch).expect("patch applies");
        assert_eq!(containers(&patched).as_array().map(Vec::len), Some(1));
        assert_eq!(containers(&patched)[0]["name"], "app");
    }

    #[test]
    fn strategic_merge_patch_replace_on_a_list_replaces_it() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"$patch": "replace"}, {"name": "only", "image": "only:1"},
        ]}}}});
        let patched = strategic_merge_patch(&deployment_with_containers(), &patch).expect("patch applies");
        assert_eq!(containers(&patched), &json!([{"name": "only", "image": "only:1"}]));
    }

    #[test]
    fn strategic_merge_patch_replace_on_a_map_replaces_it() {
        let target = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let patch = json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}});
        let patched = strategic_merge_patch(&target, &patch).expect("patch applies");
        assert_eq!(patched, json!({"metadata": {"labels": {"c": "3"}}}));
    }

    #[test]
    fn strategic_merge_patch_delete_on_a_map_removes_it() {
        let target = json!({"spec": {"strategy": {"type": "RollingUpdate"}, "replicas": 1}});
        let patch = json!({"spec": {"strategy": {"$patch": "delete"}}});
        assert_eq!(strategic_merge_patch(&target, &patch).expect("applies"), json!({"spec": {"replicas": 1}}));
        assert!(strategic_merge_patch(&target, &json!({"$patch": "delete"})).is_err());
    }

    #[test]
    fn strategic_merge_replaces_unknown_lists() {
        let target = json!({"spec": {"template": {"spec": {"tolerations": [{"key": "a"}], "args": ["x", "y"]}}}});
        let patch = json!({"spec": {"template": {"spec": {"tolerations": [{"key": "b"}], "args": ["z"]}}}});
        let patched = strategic_merge_patch(&target, &patch).expect("patch applies");
        assert_eq!(patched["spec"]["template"]["spec"]["tolerations"], json!([{"key": "b"}]));
        assert_eq!(patched["spec"]["template"]["spec"]["args"], json!(["z"]));
    }

    #[test]
    fn strategic_merge_null_deletes_and_nested_maps_merge() {
        let target = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}});
        let patch = json!({"metadata": {"labels": {"a": null, "c": "3"}, "annotations": null}});
        let patched = strategic_merge_patch(&target, &patch).expect("patch applies");
        assert_eq!(patched, json!({"metadata": {"labels": {"b": "2", "c": "3"}}}));
    }

    #[test]
    fn strategic_merge_keys_container_ports_and_service_ports() {
        let pod = json!({"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "http"}]}]});
        let patch = json!({"containers": [{"name": "a", "ports": [{"containerPort": 443, "name": "https"}]}]});
        let patched = strategic_merge_patch(&pod, &patch).expect("patch applies");
        assert_eq!(patched["containers"][0]["ports"].as_array().map(Vec::len), Some(2));

        let service = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}]}});
        let patch = json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}});
        let patched = strategic_merge_patch(&service, &patch).expect("patch applies");
        assert_eq!(patched["spec"]["ports"], json!([{"port": 80, "targetPort": 9090}, {"port": 443}]));
    }

    #[test]
    fn strategic_merge_volume_mounts_by_mount_path() {
        let target = json!({"containers": [{"name": "a", "volumeMounts": [{"mountPath": "/a", "name": "v1"}]}]});
        let patch = json!({"containers": [{"name": "a", "volumeMounts": [{"mountPath": "/a", "readOnly": true}]}]});
        let patched = strategic_merge_patch(&target, &patch).expect("patch applies");
        assert_eq!(
            patched["containers"][0]["volumeMounts"],
            json!([{"mountPath": "/a", "name": "v1", "readOnly": true}])
        );
    }

    #[test]
    fn strategic_merge_unions_finalizers_and_deletes_from_primitive_lists() {
        let target = json!({"metadata": {"finalizers": ["a", "b"]}});
        let added = strategic_merge_patch(&target, &json!({"metadata": {"finalizers": ["b", "c"]}})).expect("applies");
        assert_eq!(added["metadata"]["finalizers"], json!(["a", "b", "c"]));
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}});
        let removed = strategic_merge_patch(&target, &patch).expect("applies");
        assert_eq!(removed["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn strategic_merge_honours_set_element_order() {
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
            "containers": [{"name": "app", "image": "app:2"}],
        }}}});
        let patched = strategic_merge_patch(&deployment_with_containers(), &patch).expect("patch applies");
        assert_eq!(containers(&patched)[0]["name"], "sidecar");
        assert_eq!(containers(&patched)[1]["image"], "app:2");
    }

    #[test]
    fn strategic_merge_retain_keys_drops_other_fields() {
        let target = json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}});
        let patch = json!({"strategy": {"$retainKeys": ["type"], "type": "Recreate"}});
        let patched = strategic_merge_patch(&target, &patch).expect("patch applies");
        assert_eq!(patched, json!({"strategy": {"type": "Recreate"}}));
    }

    #[test]
    fn strategic_merge_rejects_malformed_patches() {
        let target = deployment_with_containers();
        let missing_key = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
        let unknown_directive = json!({"spec": {"$patch": "explode"}});
        let bad_order = json!({"spec": {"$setElementOrder/containers": "nope"}});
        let bad_retain = json!({"spec": {"$retainKeys": 3}});
        for patch in [missing_key, unknown_directive, bad_order, bad_retain, json!([1]), json!("x"), json!(null)] {
            assert!(matches!(strategic_merge_patch(&target, &patch), Err(PatchError::Invalid(_))), "{patch}");
        }
    }

    #[test]
    fn strategic_merge_onto_a_non_object_target_builds_the_object() {
        let patched = strategic_merge_patch(&json!(null), &json!({"a": {"b": 1}})).expect("applies");
        assert_eq!(patched, json!({"a": {"b": 1}}));
    }

    // ----- server-side apply -----

    fn config(spec: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": spec,
        })
    }

    fn entry<'a>(object: &'a Value, manager: &str) -> Option<&'a Value> {
        object["metadata"]["managedFields"].as_array()?.iter().find(|entry| entry["manager"] == manager)
    }

    fn apply(live: Option<&Value>, applied: &Value, manager: &str) -> Value {
        server_side_apply(live, applied, manager, false, None, NOW).expect("apply succeeds")
    }

    #[test]
    fn apply_create_records_apply_managed_fields() {
        let mut applied = config(json!({"replicas": 2, "template": {"spec": {"containers": [
            {"name": "app", "image": "nginx:1"},
        ]}}}));
        applied["metadata"]["labels"] = json!({"app": "web"});
        let created = apply(None, &applied, "op");
        assert_eq!(created["spec"]["replicas"], 2);
        assert_eq!(created["metadata"]["name"], "web");
        assert_eq!(created["kind"], "Deployment");
        let managed = created["metadata"]["managedFields"].clone();
        assert_eq!(
            managed,
            json!([{
                "manager": "op",
                "operation": "Apply",
                "apiVersion": "apps/v1",
                "time": NOW,
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {
                        "f:replicas": {},
                        "f:template": {"f:spec": {"f:containers": {
                            "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}},
                        }}},
                    },
                },
            }])
        );
    }

    #[test]
    fn apply_two_managers_share_the_object() {
        let created = apply(None, &config(json!({"replicas": 2})), "a");
        let shared = apply(Some(&created), &config(json!({"paused": true})), "b");
        assert_eq!(shared["spec"], json!({"replicas": 2, "paused": true}));
        assert_eq!(entry(&shared, "a").map(|e| &e["fieldsV1"]), Some(&json!({"f:spec": {"f:replicas": {}}})));
        assert_eq!(entry(&shared, "b").map(|e| &e["fieldsV1"]), Some(&json!({"f:spec": {"f:paused": {}}})));
    }

    #[test]
    fn apply_of_a_different_value_for_another_managers_field_conflicts() {
        let created = apply(None, &config(json!({"replicas": 2})), "a");
        let result = server_side_apply(Some(&created), &config(json!({"replicas": 5})), "b", false, None, LATER);
        match result {
            Err(PatchError::Conflicts(conflicts)) => {
                assert_eq!(conflicts, vec![(".spec.replicas".to_string(), "a".to_string())]);
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn conflict_error_message_names_field_and_manager() {
        let error = PatchError::Conflicts(vec![(".spec.replicas".into(), "a".into())]);
        assert_eq!(error.to_string(), "Apply failed with 1 conflicts: conflict with \"a\": .spec.replicas");
    }

    #[test]
    fn apply_of_the_same_value_shares_ownership() {
        let created = apply(None, &config(json!({"replicas": 2})), "a");
        let shared = apply(Some(&created), &config(json!({"replicas": 2})), "b");
        let owned = json!({"f:spec": {"f:replicas": {}}});
        assert_eq!(entry(&shared, "a").map(|e| &e["fieldsV1"]), Some(&owned));
        assert_eq!(entry(&shared, "b").map(|e| &e["fieldsV1"]), Some(&owned));
        // Now both own it, a change by either conflicts with the other.
        let result = server_side_apply(Some(&shared), &config(json!({"replicas": 3})), "a", false, None, LATER);
        assert!(
            matches!(result, Err(PatchError::Conflicts(c)) if c == [(".spec.replicas".to_string(), "b".to_string())])
        );
    }

    #[test]
    fn forced_apply_moves_ownership() {
        let created = apply(None, &config(json!({"replicas": 2, "paused": false})), "a");
        let forced = server_side_apply(Some(&created), &config(json!({"replicas": 5})), "b", true, None, LATER)
            .expect("force wins");
        assert_eq!(forced["spec"]["replicas"], 5);
        assert_eq!(entry(&forced, "a").map(|e| &e["fieldsV1"]), Some(&json!({"f:spec": {"f:paused": {}}})));
        assert_eq!(entry(&forced, "b").map(|e| &e["fieldsV1"]), Some(&json!({"f:spec": {"f:replicas": {}}})));
        assert_eq!(entry(&forced, "b").map(|e| &e["time"]), Some(&json!(LATER)));
    }

    #[test]
    fn forced_apply_drops_a_manager_left_with_nothing() {
        let created = apply(None, &config(json!({"replicas": 2})), "a");
        let forced = server_side_apply(Some(&created), &config(json!({"replicas": 5})), "b", true, None, LATER)
            .expect("force wins");
        assert!(entry(&forced, "a").is_none());
    }

    #[test]
    fn field_dropped_from_the_next_apply_is_removed() {
        let created = apply(None, &config(json!({"replicas": 2, "paused": true})), "a");
        let reapplied = apply(Some(&created), &config(json!({"replicas": 2})), "a");
        assert_eq!(reapplied["spec"], json!({"replicas": 2}));
        assert_eq!(entry(&reapplied, "a").map(|e| &e["fieldsV1"]), Some(&json!({"f:spec": {"f:replicas": {}}})));
    }

    #[test]
    fn field_dropped_but_co_owned_is_kept() {
        let created = apply(None, &config(json!({"replicas": 2, "paused": true})), "a");
        let shared = apply(Some(&created), &config(json!({"paused": true})), "b");
        let reapplied = apply(Some(&shared), &config(json!({"replicas": 2})), "a");
        assert_eq!(reapplied["spec"], json!({"replicas": 2, "paused": true}));
    }

    #[test]
    fn unowned_fields_survive_an_apply() {
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "minReadySeconds": 3}});
        let applied = apply(Some(&live), &config(json!({"replicas": 4})), "a");
        assert_eq!(applied["spec"], json!({"replicas": 4, "minReadySeconds": 3}));
    }

    #[test]
    fn field_owned_by_an_updater_conflicts_with_a_later_apply() {
        let created = apply(None, &config(json!({"replicas": 2})), "a");
        let mut scaled = created.clone();
        scaled["spec"]["replicas"] = json!(7);
        let recorded = record_update(Some(&created), &scaled, "hpa", "apps/v1", LATER);
        let hpa = entry(&recorded, "hpa").expect("updater recorded");
        assert_eq!(hpa["operation"], "Update");
        assert_eq!(hpa["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
        assert!(entry(&recorded, "a").is_none(), "the updater took the applier's only field");

        let result = server_side_apply(Some(&recorded), &config(json!({"replicas": 2})), "a", false, None, LATER);
        assert!(
            matches!(result, Err(PatchError::Conflicts(c)) if c == [(".spec.replicas".to_string(), "hpa".to_string())])
        );
    }

    #[test]
    fn record_update_on_create_owns_everything_but_identity() {
        let object = config(json!({"replicas": 1}));
        let recorded = record_update(None, &object, "kubectl-create", "apps/v1", NOW);
        assert_eq!(
            recorded["metadata"]["managedFields"],
            json!([{"manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1", "time": NOW,
                "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}])
        );
    }

    #[test]
    fn record_update_without_manager_leaves_managed_fields_alone() {
        let created = apply(None, &config(json!({"replicas": 2})), "a");
        let mut scaled = created.clone();
        scaled["spec"]["replicas"] = json!(7);
        assert_eq!(record_update(Some(&created), &scaled, "", "apps/v1", LATER), scaled);
    }

    #[test]
    fn record_update_keeps_managed_fields_when_the_write_omits_them() {
        let created = apply(None, &config(json!({"replicas": 2})), "a");
        let update = config(json!({"replicas": 2, "paused": true}));
        let recorded = record_update(Some(&created), &update, "editor", "apps/v1", LATER);
        assert!(entry(&recorded, "a").is_some());
        assert_eq!(entry(&recorded, "editor").map(|e| &e["fieldsV1"]), Some(&json!({"f:spec": {"f:paused": {}}})));
    }

    #[test]
    fn status_is_ignored_on_the_main_resource() {
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1}, "status": {"readyReplicas": 1}});
        let mut applied = config(json!({"replicas": 1}));
        applied["status"] = json!({"readyReplicas": 9});
        let result = apply(Some(&live), &applied, "a");
        assert_eq!(result["status"], json!({"readyReplicas": 1}));
        assert_eq!(entry(&result, "a").map(|e| &e["fieldsV1"]), Some(&json!({"f:spec": {"f:replicas": {}}})));

        let created = apply(None, &applied, "a");
        assert!(created.get("status").is_none());
    }

    #[test]
    fn status_subresource_apply_touches_only_status() {
        let live = apply(None, &config(json!({"replicas": 1})), "a");
        let mut applied = config(json!({"replicas": 5}));
        applied["status"] = json!({"conditions": [{"type": "Available", "status": "True"}]});
        let result = server_side_apply(Some(&live), &applied, "ctrl", false, Some("status"), NOW).expect("applies");
        assert_eq!(result["spec"]["replicas"], 1);
        assert_eq!(result["status"]["conditions"][0]["status"], "True");
        let ctrl = entry(&result, "ctrl").expect("status manager recorded");
        assert_eq!(ctrl["subresource"], "status");
        assert_eq!(
            ctrl["fieldsV1"],
            json!({"f:status": {"f:conditions": {"k:{\"type\":\"Available\"}": {".": {}, "f:status": {}, "f:type": {}}}}})
        );
    }

    #[test]
    fn server_managed_metadata_is_never_owned() {
        let mut applied = config(json!({"replicas": 1}));
        applied["metadata"]["resourceVersion"] = json!("12");
        applied["metadata"]["uid"] = json!("u");
        applied["metadata"]["managedFields"] = json!("garbage");
        let created = apply(None, &applied, "a");
        assert!(created["metadata"].get("uid").is_none());
        assert_eq!(entry(&created, "a").map(|e| &e["fieldsV1"]), Some(&json!({"f:spec": {"f:replicas": {}}})));
    }

    fn pod_spec(containers: Value) -> Value {
        config(json!({"template": {"spec": {"containers": containers}}}))
    }

    #[test]
    fn apply_merges_containers_by_name() {
        let created = apply(None, &pod_spec(json!([{"name": "app", "image": "app:1"}])), "a");
        let both = apply(Some(&created), &pod_spec(json!([{"name": "sidecar", "image": "proxy:1"}])), "b");
        assert_eq!(
            containers(&both),
            &json!([{"name": "app", "image": "app:1"}, {"name": "sidecar", "image": "proxy:1"}])
        );

        let result = server_side_apply(
            Some(&both),
            &pod_spec(json!([{"name": "app", "image": "app:2"}])),
            "b",
            false,
            None,
            LATER,
        );
        let expected = (".spec.template.spec.containers[name=\"app\"].image".to_string(), "a".to_string());
        assert!(matches!(result, Err(PatchError::Conflicts(c)) if c == [expected]));

        // The applier drops its container: only its own item goes.
        let dropped = apply(Some(&both), &pod_spec(json!([{"name": "app", "image": "app:1"}])), "b");
        assert_eq!(containers(&dropped), &json!([{"name": "app", "image": "app:1"}]));
        assert!(entry(&dropped, "b").is_some_and(|e| e["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
            .get("k:{\"name\":\"app\"}")
            .is_some()));
    }

    #[test]
    fn apply_keeps_a_dropped_container_another_manager_has_fields_in() {
        let created = apply(None, &pod_spec(json!([{"name": "app", "image": "app:1"}])), "a");
        let mut edited = created.clone();
        edited["spec"]["template"]["spec"]["containers"][0]["resources"] = json!({"limits": {"cpu": "1"}});
        let recorded = record_update(Some(&created), &edited, "tuner", "apps/v1", LATER);
        let dropped = apply(Some(&recorded), &pod_spec(json!([{"name": "other", "image": "o:1"}])), "a");
        assert_eq!(
            containers(&dropped),
            &json!([{"name": "app", "resources": {"limits": {"cpu": "1"}}}, {"name": "other", "image": "o:1"}])
        );
    }

    #[test]
    fn apply_rejects_bad_requests_without_panicking() {
        assert!(matches!(server_side_apply(None, &json!([1]), "a", false, None, NOW), Err(PatchError::Invalid(_))));
        assert!(matches!(
            server_side_apply(None, &json!({"metadata": "x"}), "a", false, None, NOW),
            Err(PatchError::Invalid(_))
        ));
        assert!(matches!(
            server_side_apply(None, &config(json!({})), "", false, None, NOW),
            Err(PatchError::Invalid(_))
        ));
    }

    #[test]
    fn apply_tolerates_malformed_managed_fields_and_live_objects() {
        let mut live = config(json!({"replicas": 1}));
        live["metadata"]["managedFields"] = json!([
            "nonsense",
            {"manager": "x"},
            {"manager": "y", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}, "k:not json": {}, "f:x": 3}}},
        ]);
        let result = server_side_apply(Some(&live), &config(json!({"replicas": 2})), "a", false, None, NOW);
        assert!(matches!(result, Err(PatchError::Conflicts(_))), "y still owns replicas");
        for odd_live in [json!(null), json!([1, 2]), json!({"metadata": 5, "spec": "x"})] {
            let result = server_side_apply(Some(&odd_live), &config(json!({"replicas": 2})), "a", true, None, NOW);
            assert!(result.is_ok(), "{odd_live}");
        }
        let recorded = record_update(Some(&json!("x")), &json!(7), "m", "v1", NOW);
        assert_eq!(recorded, json!(7));
    }

    #[test]
    fn null_in_an_applied_config_means_absent() {
        let created = apply(None, &config(json!({"replicas": 2, "paused": true})), "a");
        let reapplied = apply(Some(&created), &config(json!({"replicas": 2, "paused": null})), "a");
        assert!(reapplied["spec"].get("paused").is_none());
    }
}
