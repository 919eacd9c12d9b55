//! The permissions a run of a plan needs, derived from its steps and settings: one list that preflight asks
//! the API server about (a SelfSubjectAccessReview each) and that `rbac -f PLAN` prints as least-privilege
//! ClusterRole, Roles and bindings. A pure function of the plan and of how each kind is named in RBAC.

use super::upgrade::Upgrade;
use crate::plan::file::{BackupGate, MetricSource, Signal};
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope, Resource};
use serde_json::{json, Value};
use std::any::TypeId;
use std::collections::{BTreeMap, BTreeSet};

/// One permission: a verb on a resource (with its subresource, `pods/log`), cluster-wide or in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    /// The API group (empty for core).
    pub group: String,
    /// The resource as RBAC names it (`deployments`, `pods/log`).
    pub resource: String,
    /// The verb.
    pub verb: &'static str,
    /// The namespace; empty for cluster-wide.
    pub namespace: String,
}

impl Permission {
    /// The permission in words, as refusals list it: `patch deployments (apps) in demo-system`.
    pub fn describe(&self) -> String {
        let group = if self.group.is_empty() { "core" } else { &self.group };
        let scope =
            if self.namespace.is_empty() { "cluster-wide".to_owned() } else { format!("in {}", self.namespace) };
        format!("{} {} ({group}) {scope}", self.verb, self.resource)
    }
}

/// How a kind is named in RBAC and whether its objects live in namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceName {
    /// The plural resource name.
    pub plural: String,
    /// Whether the kind is namespaced.
    pub namespaced: bool,
}

/// `(group, kind)` to its RBAC name.
pub type ResourceNames = BTreeMap<(String, String), ResourceName>;

/// A kind the permissions need named and `names` did not, with an apiVersion discovery can resolve it at
/// when the plan or the release says one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KindUse {
    /// The API group.
    pub group: String,
    /// The kind.
    pub kind: String,
    /// An apiVersion it is served at, when the plan or the release says.
    pub api_version: Option<String>,
}

/// The names of every kind the releases define (their CRDs), of Kubernetes' own kinds and of the backup
/// tools' kinds the gates read: everything `rbac` can name without a cluster.
pub fn known_resource_names(upgrade: &Upgrade) -> ResourceNames {
    let mut names = builtin_resource_names();
    for crd in upgrade.old_set.crds.values().chain(upgrade.new_set.crds.values()) {
        let crd = &crd.crd;
        let name = ResourceName {
            plural: crd.names.plural.clone(),
            namespaced: crd.scope == crate::manifest::Scope::Namespaced,
        };
        names.insert((crd.group.clone(), crd.names.kind.clone()), name);
    }
    for (group, kind, plural) in [
        ("velero.io", "Backup", "backups"),
        ("velero.io", "Restore", "restores"),
        ("postgresql.cnpg.io", "Backup", "backups"),
        ("postgresql.cnpg.io", "Cluster", "clusters"),
    ] {
        names.entry((group.into(), kind.into())).or_insert(ResourceName { plural: plural.into(), namespaced: true });
    }
    names
}

fn entry<T: Resource + 'static>() -> ((String, String), ResourceName) {
    let namespaced = TypeId::of::<T::Scope>() == TypeId::of::<NamespaceResourceScope>();
    debug_assert!(namespaced || TypeId::of::<T::Scope>() == TypeId::of::<ClusterResourceScope>());
    ((T::GROUP.to_owned(), T::KIND.to_owned()), ResourceName { plural: T::URL_PATH_SEGMENT.to_owned(), namespaced })
}

/// Kubernetes' own kinds an operator release ships or a run touches, named from k8s-openapi's types.
fn builtin_resource_names() -> ResourceNames {
    use k8s_openapi::api::{admissionregistration::v1 as admission, apps::v1 as apps, batch::v1 as batch};
    use k8s_openapi::api::{coordination::v1 as coordination, core::v1 as core, networking::v1 as networking};
    use k8s_openapi::api::{policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    [
        entry::<core::Namespace>(),
        entry::<core::ConfigMap>(),
        entry::<core::Secret>(),
        entry::<core::Service>(),
        entry::<core::ServiceAccount>(),
        entry::<core::Pod>(),
        entry::<core::Event>(),
        entry::<core::PersistentVolumeClaim>(),
        entry::<core::Endpoints>(),
        entry::<apps::Deployment>(),
        entry::<apps::StatefulSet>(),
        entry::<apps::DaemonSet>(),
        entry::<apps::ReplicaSet>(),
        entry::<batch::Job>(),
        entry::<batch::CronJob>(),
        entry::<rbac::ClusterRole>(),
        entry::<rbac::ClusterRoleBinding>(),
        entry::<rbac::Role>(),
        entry::<rbac::RoleBinding>(),
        entry::<admission::ValidatingWebhookConfiguration>(),
        entry::<admission::MutatingWebhookConfiguration>(),
        entry::<apiextensions::CustomResourceDefinition>(),
        entry::<coordination::Lease>(),
        entry::<policy::PodDisruptionBudget>(),
        entry::<networking::NetworkPolicy>(),
        entry::<networking::Ingress>(),
        entry::<scheduling::PriorityClass>(),
    ]
    .into_iter()
    .collect()
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// Everything a run of the plan does to the cluster, as permissions: `apply` (preflight, gates, Jobs,
/// expand, canary, analysis, promotion, an automatic rollback) and `finalize`. Kinds `names` cannot name are
/// returned apart.
pub fn needed_permissions(upgrade: &Upgrade, names: &ResourceNames) -> (BTreeSet<Permission>, Vec<KindUse>) {
    let operator_namespace = upgrade.namespace().to_owned();
    let mut needed = Needed::default();
    let ns = operator_namespace.as_str();
    // The cluster's identity, and the scratch namespaces a killed run may have left (listed at every end).
    needed.add(&["get", "list"], "", "namespaces", "");
    // The journal (and the other plans' journals in the namespace: one open run per operator), the operator's
    // Lease, the run's Secret that keeps recorded Secrets' values, and the Events that report each step.
    needed.add(&["get", "list", "create", "update"], "", "configmaps", ns);
    needed.add(&["get", "create", "update", "delete"], "", "secrets", ns);
    needed.add(&["get", "create", "update", "delete"], "coordination.k8s.io", "leases", ns);
    needed.add(&["create", "list"], "", "events", ns);
    needed.add(&["get", "create", "patch", "update"], "apiextensions.k8s.io", "customresourcedefinitions", "");
    // `finalize` trims storedVersions through the status subresource.
    needed.add(&["patch"], "apiextensions.k8s.io", "customresourcedefinitions/status", "");
    // Rollouts, the canary's copies and pod restarts are judged from the operator's pods.
    needed.add(&["list"], "", "pods", ns);
    // The run's Jobs are looked for everywhere when a rollback, which has no plan, removes them.
    needed.add(&["list"], "batch", "jobs", "");
    for namespace in job_namespaces(upgrade) {
        needed.add(&["get", "create", "delete"], "batch", "jobs", &namespace);
        needed.add(&["list"], "", "pods", &namespace);
        needed.add(&["get"], "", "pods/log", &namespace);
    }
    gate_permissions(upgrade, &mut needed);
    analysis_permissions(upgrade, &mut needed);
    let mut unnamed = Vec::new();
    let mut name = |group: &str, kind: &str, api_version: Option<&str>| {
        let found = names.get(&(group.to_owned(), kind.to_owned())).cloned();
        if found.is_none() {
            let api_version = api_version.map(str::to_owned);
            unnamed.push(KindUse { group: group.to_owned(), kind: kind.to_owned(), api_version });
        }
        found
    };
    // Custom resources are listed (validation, health, cohorts), marked with the cohort label, and
    // rewritten by the storage migration.
    let custom = upgrade.old_custom_resource_kinds().into_iter().chain(upgrade.custom_resource_kinds());
    let cohort_kinds: Vec<(String, String)> = upgrade
        .loaded
        .canary()
        .map(|c| c.cohort.resources.iter().map(|r| (r.group.clone(), r.kind.clone())).collect())
        .unwrap_or_default();
    let custom: BTreeSet<(String, String)> =
        custom.map(|(v, k)| (group_of(&v).to_owned(), k)).chain(cohort_kinds).collect();
    for (group, kind) in &custom {
        if let Some(resource) = name(group, kind, None) {
            needed.add(&["get", "list", "patch", "update"], group, &resource.plural, "");
        }
    }
    if let Some(canary) = upgrade.loaded.canary() {
        for follower in &canary.cohort.followers {
            if let Some(resource) = name(&follower.group, &follower.kind, None) {
                needed.add(&["get", "list", "patch"], &follower.group, &resource.plural, "");
            }
        }
    }
    for signal in &upgrade.loaded.analysis().signals {
        if let Signal::DependentChanges(dependents) = signal {
            for dependent in &dependents.kinds {
                let group = group_of(&dependent.api_version);
                if let Some(resource) = name(group, &dependent.kind, Some(&dependent.api_version)) {
                    needed.add(&["list"], group, &resource.plural, "");
                }
            }
        }
    }
    // The releases' objects are applied (server-side), put back exactly by a rollback, and removed when only
    // the old release ships them; the canary's copies are Deployments beside the operator's.
    for object in upgrade.new.objects.iter().chain(&upgrade.old.objects) {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let group = group_of(api_version);
        let kind = object["kind"].as_str().unwrap_or_default();
        let Some(resource) = name(group, kind, Some(api_version)) else { continue };
        let namespace = if resource.namespaced {
            object["metadata"]["namespace"].as_str().unwrap_or(ns).to_owned()
        } else {
            String::new()
        };
        // A server-side apply that creates the object is authorized as a create too.
        needed.add(&["get", "create", "patch", "update"], group, &resource.plural, &namespace);
        // The tool never deletes a namespace or a CRD, even one only the old release shipped.
        if !matches!((group, kind), ("", "Namespace") | ("apiextensions.k8s.io", "CustomResourceDefinition")) {
            needed.add(&["delete"], group, &resource.plural, &namespace);
        }
        // Writing RBAC that grants more than the writer holds, or binding a role, needs these two.
        match (group, kind) {
            ("rbac.authorization.k8s.io", "ClusterRole" | "Role") => {
                needed.add(&["escalate"], group, &resource.plural, &namespace)
            }
            ("rbac.authorization.k8s.io", "ClusterRoleBinding") => needed.add(&["bind"], group, "clusterroles", ""),
            ("rbac.authorization.k8s.io", "RoleBinding") => {
                needed.add(&["bind"], group, "roles", &namespace);
                needed.add(&["bind"], group, "clusterroles", "");
            }
            _ => {}
        }
    }
    unnamed.sort();
    unnamed.dedup();
    (needed.finish(), unnamed)
}

/// The namespaces of the plan's Jobs (gate Jobs included).
fn job_namespaces(upgrade: &Upgrade) -> BTreeSet<String> {
    let spec = &upgrade.loaded.plan.spec;
    let gate_jobs = spec.backups.iter().filter_map(|g| match g {
        BackupGate::Job(job) => Some(job),
        _ => None,
    });
    spec.jobs
        .all()
        .map(|(_, job)| job)
        .chain(gate_jobs)
        .map(|job| job.namespace.clone().unwrap_or_else(|| upgrade.namespace().to_owned()))
        .collect()
}

fn gate_permissions(upgrade: &Upgrade, needed: &mut Needed) {
    for gate in upgrade.loaded.backup_gates() {
        match gate {
            BackupGate::Velero(velero) => {
                needed.add(&["get", "list"], "velero.io", "backups", &velero.namespace);
                if velero.test_restore.is_some() {
                    needed.add(&["get", "create"], "velero.io", "restores", &velero.namespace);
                    needed.add(&["create", "patch", "delete"], "", "namespaces", "");
                }
            }
            BackupGate::CloudNativePg(cnpg) => {
                let namespaces: Vec<&str> = if cnpg.namespaces.is_empty() {
                    vec![""]
                } else {
                    cnpg.namespaces.iter().map(String::as_str).collect()
                };
                for namespace in namespaces {
                    needed.add(&["list"], "postgresql.cnpg.io", "backups", namespace);
                    needed.add(&["get", "list"], "postgresql.cnpg.io", "clusters", namespace);
                }
            }
            BackupGate::Command(_) | BackupGate::Job(_) => {}
        }
    }
}

fn analysis_permissions(upgrade: &Upgrade, needed: &mut Needed) {
    for signal in &upgrade.loaded.analysis().signals {
        match signal {
            // Warning events are read in every namespace a cohort object is in.
            Signal::WarningEvents(_) => needed.add(&["list"], "", "events", ""),
            Signal::Metric(metric) if matches!(metric.source, MetricSource::PodProxy(_)) => {
                needed.add(&["get"], "", "pods/proxy", upgrade.namespace())
            }
            _ => {}
        }
    }
}

/// Permissions being collected; a namespaced one that a cluster-wide one covers is left out at the end.
#[derive(Default)]
struct Needed(BTreeSet<Permission>);

impl Needed {
    fn add(&mut self, verbs: &[&'static str], group: &str, resource: &str, namespace: &str) {
        for verb in verbs {
            self.0.insert(Permission {
                group: group.to_owned(),
                resource: resource.to_owned(),
                verb,
                namespace: namespace.to_owned(),
            });
        }
    }

    fn finish(self) -> BTreeSet<Permission> {
        let cluster_wide: BTreeSet<(String, String, &str)> = self
            .0
            .iter()
            .filter(|p| p.namespace.is_empty())
            .map(|p| (p.group.clone(), p.resource.clone(), p.verb))
            .collect();
        self.0
            .into_iter()
            .filter(|p| {
                p.namespace.is_empty() || !cluster_wide.contains(&(p.group.clone(), p.resource.clone(), p.verb))
            })
            .collect()
    }
}

/// Who the RBAC is for: a ServiceAccount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// The permissions as Kubernetes objects: the ServiceAccount, a ClusterRole and its binding for the
/// cluster-wide ones, a Role and its binding in each namespace for the rest, all named `name`.
pub fn rbac_objects(permissions: &BTreeSet<Permission>, subject: &Subject, name: &str) -> Vec<Value> {
    let labels = json!({"app.kubernetes.io/managed-by": "operator-upgrade"});
    let account = json!({"kind": "ServiceAccount", "name": subject.name, "namespace": subject.namespace});
    let mut by_namespace: BTreeMap<&str, Vec<&Permission>> = BTreeMap::new();
    for permission in permissions {
        by_namespace.entry(permission.namespace.as_str()).or_default().push(permission);
    }
    let mut objects = vec![json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": subject.name, "namespace": subject.namespace, "labels": labels}})];
    for (namespace, permissions) in by_namespace {
        let rules = rules_of(&permissions);
        if namespace.is_empty() {
            objects.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": name, "labels": labels}, "rules": rules}));
            objects.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": name, "labels": labels},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": [account]}));
        } else {
            objects.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": name, "namespace": namespace, "labels": labels}, "rules": rules}));
            objects.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [account]}));
        }
    }
    objects
}

/// One rule per (group, resource), its verbs in the order [`Permission`]s sort.
fn rules_of(permissions: &[&Permission]) -> Vec<Value> {
    let mut verbs: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for permission in permissions {
        verbs.entry((&permission.group, &permission.resource)).or_default().push(permission.verb);
    }
    verbs
        .into_iter()
        .map(|((group, resource), verbs)| json!({"apiGroups": [group], "resources": [resource], "verbs": verbs}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permission(verb: &'static str, group: &str, resource: &str, namespace: &str) -> Permission {
        Permission { group: group.into(), resource: resource.into(), verb, namespace: namespace.into() }
    }

    #[test]
    fn builtin_kinds_are_named_as_the_api_names_them() {
        let names = builtin_resource_names();
        let named = |group: &str, kind: &str| names[&(group.to_owned(), kind.to_owned())].clone();
        assert_eq!(named("apps", "Deployment"), ResourceName { plural: "deployments".into(), namespaced: true });
        assert_eq!(named("networking.k8s.io", "NetworkPolicy").plural, "networkpolicies");
        assert!(!named("rbac.authorization.k8s.io", "ClusterRole").namespaced);
        assert!(!named("", "Namespace").namespaced);
    }

    #[test]
    fn a_namespaced_permission_a_cluster_wide_one_covers_is_left_out() {
        let mut needed = Needed::default();
        needed.add(&["list"], "", "events", "ops");
        needed.add(&["list"], "", "events", "");
        needed.add(&["create"], "", "events", "ops");
        let finished: Vec<Permission> = needed.finish().into_iter().collect();
        assert_eq!(finished, vec![permission("create", "", "events", "ops"), permission("list", "", "events", "")]);
    }

    #[test]
    fn cluster_wide_permissions_go_in_the_cluster_role_and_the_rest_in_a_role_per_namespace() {
        let permissions: BTreeSet<Permission> = [
            permission("get", "", "namespaces", ""),
            permission("get", "", "configmaps", "ops"),
            permission("update", "", "configmaps", "ops"),
            permission("get", "", "pods/log", "jobs"),
        ]
        .into_iter()
        .collect();
        let subject = Subject { namespace: "ops".into(), name: "upgrader".into() };
        let objects = rbac_objects(&permissions, &subject, "operator-upgrade-p");
        let kinds: Vec<(&str, &str)> = objects
            .iter()
            .map(|o| (o["kind"].as_str().unwrap(), o["metadata"]["namespace"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(
            kinds,
            [
                ("ServiceAccount", "ops"),
                ("ClusterRole", ""),
                ("ClusterRoleBinding", ""),
                ("Role", "jobs"),
                ("RoleBinding", "jobs"),
                ("Role", "ops"),
                ("RoleBinding", "ops")
            ]
        );
        assert_eq!(
            objects[5]["rules"],
            json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "update"]}])
        );
        assert_eq!(
            objects[2]["subjects"][0],
            json!({"kind": "ServiceAccount", "name": "upgrader", "namespace": "ops"})
        );
    }

    #[test]
    fn permissions_describe_themselves_as_refusals_list_them() {
        assert_eq!(permission("patch", "apps", "deployments", "ops").describe(), "patch deployments (apps) in ops");
        assert_eq!(permission("get", "", "namespaces", "").describe(), "get namespaces (core) cluster-wide");
    }
}
