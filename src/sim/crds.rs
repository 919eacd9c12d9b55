//! CRD rules as the API server enforces them, and how custom resources are written: storedVersions,
//! immutable names, exactly one storage version, Established/NamesAccepted conditions, and pruning and
//! defaulting of custom resources from the schema of the version they are written at, then their validation
//! (structural and CEL, ratcheted on update) by the same checks `validate` uses.

use super::errors::ApiError;
use super::resources::{GroupResource, ResourceType};
use super::state::SimState;
use super::store::now_rfc3339;
use crate::manifest::Schema;
use crate::schema::validate::WriteRejection;
use crate::schema::{apply_defaults, prune};
use serde_json::{json, Value};

/// Where CRDs are stored.
pub fn crd_resource() -> GroupResource {
    GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions")
}

fn crd_name(group: &str, resource: &str) -> String {
    format!("{resource}.{group}")
}

/// Whether a resource type comes from a CRD (not a built-in kind).
pub fn is_custom(state: &SimState, resource_type: &ResourceType) -> bool {
    state.store.get(&crd_resource(), "", &crd_name(&resource_type.group, &resource_type.resource)).is_some()
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().map_or_else(Vec::new, |a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
}

fn versions(crd: &Value) -> Vec<String> {
    crd["spec"]["versions"]
        .as_array()
        .map_or_else(Vec::new, |a| a.iter().filter_map(|v| v["name"].as_str().map(str::to_owned)).collect())
}

fn storage_versions(crd: &Value) -> Vec<String> {
    crd["spec"]["versions"].as_array().map_or_else(Vec::new, |a| {
        a.iter()
            .filter(|v| v["storage"].as_bool() == Some(true))
            .filter_map(|v| v["name"].as_str().map(str::to_owned))
            .collect()
    })
}

/// Validates a CRD create or update (spec or `/status`) and sets its status as the API server does.
pub fn admit_crd(current: Option<&Value>, mut crd: Value, status_update: bool) -> Result<Value, ApiError> {
    let name = crd["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    let group = crd["spec"]["group"].as_str().unwrap_or_default().to_owned();
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default().to_owned();
    let invalid = |detail: String| {
        ApiError::invalid(format!("CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: {detail}"))
    };
    if name != crd_name(&group, &plural) {
        return Err(invalid(format!(
            "metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
        )));
    }
    let storage = storage_versions(&crd);
    if storage.len() != 1 {
        return Err(invalid(format!(
            "spec.versions: Invalid value: must have exactly one version marked as storage version (found {})",
            storage.len()
        )));
    }
    if let Some(current) = current {
        check_immutable(current, &crd).map_err(invalid)?;
    }
    let previous_stored = current.map(|c| strings(&c["status"]["storedVersions"])).unwrap_or_default();
    let stored = if status_update {
        // A client may trim storedVersions through /status, never below the current storage version.
        let requested = strings(&crd["status"]["storedVersions"]);
        if !requested.contains(&storage[0]) {
            return Err(invalid(format!(
                "status.storedVersions: Invalid value: must include the storage version {}",
                storage[0]
            )));
        }
        requested
    } else {
        let mut stored = previous_stored;
        if !stored.contains(&storage[0]) {
            stored.push(storage[0].clone());
        }
        stored
    };
    let served = versions(&crd);
    if let Some(missing) = stored.iter().find(|v| !served.contains(v)) {
        return Err(invalid(format!(
            "status.storedVersions[{missing}]: Invalid value: \"{missing}\": must appear in spec.versions"
        )));
    }
    crd["status"] = json!({
        "storedVersions": stored,
        "acceptedNames": crd["spec"]["names"],
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": condition_time(current, "NamesAccepted")},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": condition_time(current, "Established")},
        ],
    });
    Ok(crd)
}

fn condition_time(current: Option<&Value>, condition: &str) -> Value {
    current
        .and_then(|c| c["status"]["conditions"].as_array())
        .and_then(|conditions| conditions.iter().find(|c| c["type"] == condition))
        .map(|c| c["lastTransitionTime"].clone())
        .unwrap_or_else(|| json!(now_rfc3339()))
}

fn check_immutable(current: &Value, crd: &Value) -> Result<(), String> {
    let immutable = [
        ("spec.group", "/spec/group"),
        ("spec.names.plural", "/spec/names/plural"),
        ("spec.scope", "/spec/scope"),
        ("spec.names.kind", "/spec/names/kind"),
    ];
    for (field, pointer) in immutable {
        let (before, after) = (current.pointer(pointer), crd.pointer(pointer));
        if before != after {
            return Err(format!(
                "{field}: Invalid value: {}: field is immutable",
                after.cloned().unwrap_or(Value::Null)
            ));
        }
    }
    Ok(())
}

/// Type-specific admission of a write, shared by the API and scenario seeding: CRD rules for CRDs,
/// pruning and defaulting for custom resources, the internal version's conversion for other built-in
/// kinds (a Secret's `stringData`).
pub fn admit(
    state: &SimState,
    resource_type: &ResourceType,
    current: Option<&Value>,
    object: Value,
    status_update: bool,
) -> Result<Value, ApiError> {
    let object = super::builtins::convert(resource_type, object)?;
    if resource_type.group_resource() == crd_resource() {
        return admit_crd(current, object, status_update);
    }
    let mut object = prepare_custom_resource(state, resource_type, object)?;
    validate_custom_resource(state, resource_type, &object, current)?;
    if let Some(storage) = storage_version_of(state, resource_type) {
        // As etcd holds it: at the storage version of its last write, whatever version it was written through.
        object["apiVersion"] = json!(format!("{}/{storage}", resource_type.group));
    }
    Ok(object)
}

/// The storage version of the CRD behind a custom resource type, now.
fn storage_version_of(state: &SimState, resource_type: &ResourceType) -> Option<String> {
    let crd = state.store.get(&crd_resource(), "", &crd_name(&resource_type.group, &resource_type.resource))?;
    storage_versions(&crd).into_iter().next()
}

/// Rejects a custom resource write (422, one cause per field, as the API server words it) that the CRD's
/// schema and rules reject; `current` is the stored object on update, for ratcheting.
fn validate_custom_resource(
    state: &SimState,
    resource_type: &ResourceType,
    object: &Value,
    current: Option<&Value>,
) -> Result<(), ApiError> {
    let Some(crd) = state.store.get(&crd_resource(), "", &crd_name(&resource_type.group, &resource_type.resource))
    else {
        return Ok(());
    };
    let Some(admission) = state.admission_for(&crd) else { return Ok(()) };
    let rejections = admission.rejections(&resource_type.version, object, current);
    if rejections.is_empty() {
        return Ok(());
    }
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    Err(invalid_object(resource_type, name, &rejections))
}

/// The API server's 422 for an object that fails validation: `Kind.group "name" is invalid: field: why, ...`.
fn invalid_object(resource_type: &ResourceType, name: &str, rejections: &[WriteRejection]) -> ApiError {
    let (kind, group) = (&resource_type.kind, &resource_type.group);
    let causes: Vec<String> = rejections.iter().map(|r| format!("{}: {}", r.field, r.message)).collect();
    let message = format!("{kind}.{group} \"{name}\" is invalid: {}", causes.join(", "));
    let details = rejections
        .iter()
        .map(|r| json!({"reason": "FieldValueInvalid", "message": r.message, "field": r.field}))
        .collect::<Vec<_>>();
    ApiError::invalid(message).with_details(json!({"name": name, "group": group, "kind": kind, "causes": details}))
}

/// Deletes every custom resource of a CRD that is gone.
pub fn delete_objects_of(state: &SimState, crd: &Value) {
    let group = crd["spec"]["group"].as_str().unwrap_or_default();
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
    state.store.delete_all(&GroupResource::new(group, plural));
}

/// The schema of one version of the CRD behind a resource type.
pub fn version_schema(state: &SimState, resource_type: &ResourceType) -> Option<Schema> {
    let crd = state.store.get(&crd_resource(), "", &crd_name(&resource_type.group, &resource_type.resource))?;
    let versions = crd["spec"]["versions"].as_array()?;
    let version = versions.iter().find(|v| v["name"] == resource_type.version.as_str())?;
    serde_json::from_value(version["schema"]["openAPIV3Schema"].clone()).ok()
}

/// Prunes unknown fields and applies defaults to a custom resource being written, as the API server
/// does (built-in kinds pass through unchanged). Metadata is never pruned.
pub fn prepare_custom_resource(
    state: &SimState,
    resource_type: &ResourceType,
    mut object: Value,
) -> Result<Value, ApiError> {
    let Some(schema) = version_schema(state, resource_type) else { return Ok(object) };
    let preserve_all = state
        .store
        .get(&crd_resource(), "", &crd_name(&resource_type.group, &resource_type.resource))
        .is_some_and(|crd| crd["spec"]["preserveUnknownFields"].as_bool() == Some(true));
    if !preserve_all {
        prune(&mut object, &schema);
    }
    apply_defaults(&mut object, &schema);
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(versions: Value, stored: &[&str]) -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"}, "versions": versions},
            "status": {"storedVersions": stored},
        })
    }

    #[test]
    fn the_storage_version_is_recorded_and_conditions_set() {
        let admitted =
            admit_crd(None, crd(json!([{"name": "v1", "served": true, "storage": true}]), &[]), false).unwrap();
        assert_eq!(admitted["status"]["storedVersions"], json!(["v1"]));
        assert_eq!(admitted["status"]["conditions"][1]["type"], "Established");
    }

    #[test]
    fn dropping_a_stored_version_is_rejected() {
        let old = admit_crd(None, crd(json!([{"name": "v1", "served": true, "storage": true}]), &[]), false).unwrap();
        let new = crd(json!([{"name": "v2", "served": true, "storage": true}]), &[]);
        let error = admit_crd(Some(&old), new, false).unwrap_err();
        assert_eq!(error.code, 422);
        assert!(error.message.contains("status.storedVersions[v1]"), "{}", error.message);
    }

    #[test]
    fn exactly_one_storage_version_and_immutable_names() {
        let two = crd(
            json!([{"name": "v1", "served": true, "storage": true}, {"name": "v2", "served": true, "storage": true}]),
            &[],
        );
        assert_eq!(admit_crd(None, two, false).unwrap_err().code, 422);
        let old = admit_crd(None, crd(json!([{"name": "v1", "served": true, "storage": true}]), &[]), false).unwrap();
        let mut rescoped = old.clone();
        rescoped["spec"]["scope"] = json!("Cluster");
        assert!(admit_crd(Some(&old), rescoped, false).unwrap_err().message.contains("spec.scope"));
    }

    #[test]
    fn stored_versions_can_be_trimmed_through_status_but_not_below_storage() {
        let versions =
            json!([{"name": "v1", "served": true, "storage": false}, {"name": "v2", "served": true, "storage": true}]);
        let old = admit_crd(None, crd(versions.clone(), &["v1", "v2"]), false).unwrap();
        let mut trimmed = old.clone();
        trimmed["status"]["storedVersions"] = json!(["v2"]);
        assert_eq!(admit_crd(Some(&old), trimmed, true).unwrap()["status"]["storedVersions"], json!(["v2"]));
        let mut emptied = old.clone();
        emptied["status"]["storedVersions"] = json!(["v1"]);
        assert_eq!(admit_crd(Some(&old), emptied, true).unwrap_err().code, 422);
    }
}
