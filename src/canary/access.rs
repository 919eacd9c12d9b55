//! The canary's own access to the API server. While the canary runs, the operator's ServiceAccount holds
//! both releases' rules (the expand step writes their union, so the stable and baseline Deployments of the
//! old release keep working), so a canary under that account would never meet a permission its release
//! dropped, and the missing permission would first fail after promotion, on every object. The canary runs
//! under a ServiceAccount of its own instead, bound to copies of exactly the roles the new release binds
//! to the operator's account: a release that lost a permission gets 403s on the canary's cohort only.
//! Pure functions of the new release's objects.

use super::scoping::RUN_LABEL;
use serde_json::{json, Value};

/// The ServiceAccount a Deployment's pods run as (`default` when the template names none).
pub fn service_account_of(deployment: &Value) -> &str {
    let spec = &deployment["spec"]["template"]["spec"];
    spec["serviceAccountName"].as_str().or_else(|| spec["serviceAccount"].as_str()).unwrap_or("default")
}

/// The canary's ServiceAccount (named as its Deployment `copy`, in `namespace`) and, for every
/// (Cluster)RoleBinding of `release` whose subjects include the operator's `account` in `namespace`, a copy
/// bound to that ServiceAccount alone, with a copy of the role it binds as the release ships it (a role the
/// release does not ship, `view` or `cluster-admin`, is bound as it is). Copies carry the run's label and
/// none of the originals' labels: an aggregation label would add the canary's rules to `admin` or `view`.
pub fn canary_access(release: &[Value], namespace: &str, account: &str, copy: &str, run_id: &str) -> Vec<Value> {
    let labels = json!({RUN_LABEL: run_id});
    let mut access = vec![json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": copy, "namespace": namespace, "labels": labels}})];
    let subject = json!({"kind": "ServiceAccount", "name": copy, "namespace": namespace});
    for binding in release.iter().filter(|o| binds(o, namespace, account)) {
        let binding_namespace = binding["metadata"]["namespace"].as_str().unwrap_or(namespace);
        let cluster_wide = binding["kind"] == "ClusterRoleBinding";
        let role_ref = &binding["roleRef"];
        let role_kind = role_ref["kind"].as_str().unwrap_or_default();
        let role_name = role_ref["name"].as_str().unwrap_or_default();
        let shipped = release.iter().find(|o| {
            o["kind"] == role_kind
                && o["metadata"]["name"] == role_name
                && (role_kind == "ClusterRole"
                    || o["metadata"]["namespace"].as_str().unwrap_or(namespace) == binding_namespace)
        });
        let bound_role = match shipped {
            Some(role) => {
                let name = copy_name(namespace, copy, role_name);
                access.push(role_copy(role, &name, binding_namespace, &labels));
                name
            }
            None => role_name.to_owned(),
        };
        let name = copy_name(namespace, copy, binding["metadata"]["name"].as_str().unwrap_or_default());
        let mut metadata = json!({"name": name, "labels": labels});
        if !cluster_wide {
            metadata["namespace"] = json!(binding_namespace);
        }
        access.push(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": binding["kind"], "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": bound_role},
            "subjects": [subject]}),
        );
    }
    access
}

/// Whether `object` is a binding with the operator's ServiceAccount among its subjects (a RoleBinding's
/// subject without a namespace is in the binding's).
fn binds(object: &Value, namespace: &str, account: &str) -> bool {
    let kind = object["kind"].as_str().unwrap_or_default();
    if !matches!(kind, "ClusterRoleBinding" | "RoleBinding") {
        return false;
    }
    let binding_namespace = object["metadata"]["namespace"].as_str().unwrap_or(namespace);
    object["subjects"].as_array().into_iter().flatten().any(|s| {
        s["kind"] == "ServiceAccount"
            && s["name"] == account
            && s["namespace"].as_str().unwrap_or(binding_namespace) == namespace
    })
}

/// A cluster-wide name no other operator's canary takes: one run per operator holds its Lease, and the
/// operator is its namespace and Deployment.
fn copy_name(namespace: &str, copy: &str, original: &str) -> String {
    format!("{namespace}.{copy}.{original}")
}

fn role_copy(role: &Value, name: &str, namespace: &str, labels: &Value) -> Value {
    let mut metadata = json!({"name": name, "labels": labels});
    if role["kind"] == "Role" {
        metadata["namespace"] = json!(namespace);
    }
    let mut copy = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": role["kind"], "metadata": metadata});
    for field in ["rules", "aggregationRule"] {
        if let Some(value) = role.get(field) {
            copy[field] = value.clone();
        }
    }
    copy
}

/// The canary's Deployment running as its own ServiceAccount (named as the Deployment).
pub fn run_as_own_account(copy: &mut Value, name: &str) {
    let spec = &mut copy["spec"]["template"]["spec"];
    if let Some(spec) = spec.as_object_mut() {
        spec.remove("serviceAccount");
        spec.insert("serviceAccountName".into(), json!(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release() -> Vec<Value> {
        vec![
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "op", "namespace": "ops"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "op", "labels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
                "rules": [{"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "update"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "op"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "op"},
                "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "ops"}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "leader", "namespace": "ops"},
                "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "leader", "namespace": "ops"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "leader"},
                "subjects": [{"kind": "ServiceAccount", "name": "op"}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "view"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "ops"}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "someone-else"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "op"},
                "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "elsewhere"}]}),
        ]
    }

    #[test]
    fn the_canary_gets_its_own_account_bound_to_copies_of_exactly_the_new_releases_roles() {
        let access = canary_access(&release(), "ops", "op", "op-canary", "run1");
        let names: Vec<String> = access
            .iter()
            .map(|o| format!("{} {}", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                "ServiceAccount op-canary",
                "ClusterRole ops.op-canary.op",
                "ClusterRoleBinding ops.op-canary.op",
                "Role ops.op-canary.leader",
                "RoleBinding ops.op-canary.leader",
                "ClusterRoleBinding ops.op-canary.view",
            ]
        );
        let role = &access[1];
        assert_eq!(role["rules"], release()[1]["rules"], "the new release's rules, exactly");
        assert_eq!(role["metadata"]["labels"], json!({RUN_LABEL: "run1"}), "no aggregation label is copied");
        let binding = &access[2];
        assert_eq!(binding["roleRef"]["name"], "ops.op-canary.op");
        assert_eq!(binding["subjects"], json!([{"kind": "ServiceAccount", "name": "op-canary", "namespace": "ops"}]));
        assert_eq!(access[4]["metadata"]["namespace"], "ops");
        assert_eq!(
            access[4]["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ops.op-canary.leader"})
        );
        assert_eq!(access[5]["roleRef"]["name"], "view", "a role the release does not ship is bound as it is");
        assert!(access.iter().all(|o| o["metadata"]["labels"][RUN_LABEL] == "run1"));
    }

    #[test]
    fn the_canarys_pods_run_as_its_account() {
        let mut deployment =
            json!({"spec": {"template": {"spec": {"serviceAccount": "op", "serviceAccountName": "op"}}}});
        assert_eq!(service_account_of(&deployment), "op");
        run_as_own_account(&mut deployment, "op-canary");
        assert_eq!(deployment["spec"]["template"]["spec"], json!({"serviceAccountName": "op-canary"}));
        assert_eq!(service_account_of(&json!({"spec": {"template": {"spec": {}}}})), "default");
    }
}
