//! Dependents: with `dependents: {template: ...}` every object an operator reconciles owns one ConfigMap
//! `<object-name>-state` in its namespace (controller owner reference to the object) holding the template
//! and a hash of the object's spec. A reconcile writes it only when that content changes, so a release
//! with another template rewrites every dependent it reconciles (an operator release that re-rolls every
//! database pod), while one with the same template writes a dependent only when the object's spec changes.

use super::super::fnv::Fnv1a;
use super::super::{name_of, namespace_of, object_at, uid_of, Env};
use crate::sim::errors::ApiError;
use crate::sim::resources::GroupResource;
use serde_json::{json, Value};

fn configmaps_resource() -> GroupResource {
    GroupResource::new("", "configmaps")
}

/// The dependent's name for an object.
pub(super) fn dependent_name(object: &Value) -> String {
    format!("{}-state", name_of(object))
}

/// The dependent's data for an object under a template.
fn wanted_data(object: &Value, template: &str) -> Value {
    json!({"template": template, "specHash": spec_hash(&object["spec"])})
}

/// A stable hash of a spec (serde_json's maps are sorted, so equal specs hash alike).
fn spec_hash(spec: &Value) -> String {
    let mut hash = Fnv1a::default();
    hash.value(spec);
    format!("{:016x}", hash.finish())
}

fn owner_of(object: &Value) -> Value {
    json!({
        "apiVersion": object["apiVersion"],
        "kind": object["kind"],
        "name": name_of(object),
        "uid": uid_of(object),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Creates or updates the object's dependent when its content is not what `template` renders; returns
/// whether it wrote. Cluster-scoped objects have no dependent (a ConfigMap needs a namespace).
pub(super) fn sync_dependent(env: &Env<'_>, object: &Value, template: &str) -> bool {
    let namespace = namespace_of(object);
    if namespace.is_empty() || name_of(object).is_empty() {
        return false;
    }
    let name = dependent_name(object);
    let data = wanted_data(object, template);
    let owners = json!([owner_of(object)]);
    let resource = configmaps_resource();
    match env.state.store.get(&resource, namespace, &name) {
        Some(current) if current["data"] == data && current["metadata"]["ownerReferences"] == owners => false,
        Some(_) => env
            .state
            .store
            .modify(&resource, namespace, &name, |current| {
                let metadata =
                    object_at(current, &["metadata"]).ok_or_else(|| ApiError::invalid("metadata must be an object"))?;
                metadata.insert("ownerReferences".to_owned(), owners);
                let map = current.as_object_mut().ok_or_else(|| ApiError::invalid("a ConfigMap is an object"))?;
                map.insert("data".to_owned(), data);
                Ok(())
            })
            .is_ok(),
        None => {
            let metadata = json!({"name": name, "namespace": namespace, "ownerReferences": owners});
            let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data});
            env.state.store.create(&resource, configmap).is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_follows_the_template_and_the_spec() {
        let object = json!({"metadata": {"name": "w"}, "spec": {"size": 1, "image": "x"}});
        let same = json!({"metadata": {"name": "w"}, "spec": {"image": "x", "size": 1}});
        let changed = json!({"metadata": {"name": "w"}, "spec": {"size": 2, "image": "x"}});
        assert_eq!(wanted_data(&object, "v1"), wanted_data(&same, "v1"));
        assert_ne!(wanted_data(&object, "v1"), wanted_data(&changed, "v1"));
        assert_ne!(wanted_data(&object, "v1"), wanted_data(&object, "v2"));
        assert_eq!(dependent_name(&object), "w-state");
    }
}
