//! What kube-controller-manager puts in every namespace: the `default` ServiceAccount (the service-account
//! controller) and the `kube-root-ca.crt` ConfigMap (the root-CA publisher). Tests and the engine see the
//! same namespace contents on the simulator as on a real cluster.

use super::{is_deleting, name_of, Env};
use crate::sim::resources::GroupResource;
use serde_json::json;

/// The ConfigMap every namespace gets, holding the cluster's CA bundle.
pub(crate) const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";

pub(super) fn sync(env: &mut Env<'_>) {
    let (namespaces, _) = env.state.store.list(&GroupResource::new("", "namespaces"), None);
    for namespace in namespaces.iter().filter(|n| !is_deleting(n)) {
        let name = name_of(namespace);
        ensure(
            env,
            "serviceaccounts",
            name,
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": name}}),
        );
        ensure(
            env,
            "configmaps",
            name,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": ROOT_CA_CONFIG_MAP, "namespace": name},
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nsimulated\n-----END CERTIFICATE-----\n"}}),
        );
    }
}

fn ensure(env: &mut Env<'_>, resource: &str, namespace: &str, object: serde_json::Value) {
    let resource = GroupResource::new("", resource);
    let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    if env.state.store.get(&resource, namespace, &name).is_none() {
        // Losing a race with a client creating it first is fine: it exists either way.
        let _ = env.state.store.create(&resource, object);
    }
}
