//! The kinds the simulator serves: a fixed table of built-in kinds plus one entry per served version of
//! every established CRD, and the discovery documents kube-rs and kubectl read from them.

use serde_json::{json, Value};

/// A (group, resource) pair: how objects are stored, independent of the version they are served at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    /// API group, empty for the core group.
    pub group: String,
    /// Plural resource name, e.g. `deployments`.
    pub resource: String,
}

impl GroupResource {
    /// A (group, resource) pair.
    pub fn new(group: &str, resource: &str) -> GroupResource {
        GroupResource { group: group.to_owned(), resource: resource.to_owned() }
    }
}

/// One resource served at one version.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// Group, empty for core.
    pub group: String,
    /// Version served.
    pub version: String,
    /// Plural name.
    pub resource: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Whether `/status` is a subresource (status writes through the main endpoint are then ignored).
    pub status: bool,
    /// The scale subresource's replica paths (spec, status), when enabled.
    pub scale: Option<(String, String)>,
    /// Short names for kubectl.
    pub short_names: Vec<String>,
    /// Whether only `create` is served (reviews such as SelfSubjectAccessReview).
    pub create_only: bool,
    /// The CRD's printer columns (name, type, jsonPath) for kubectl tables.
    pub printer_columns: Vec<(String, String, String)>,
}

impl ResourceType {
    /// The storage key of this resource.
    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.resource)
    }

    /// `group/version`, or just the version for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn discovery_entry(&self) -> Vec<Value> {
        let verbs: Vec<&str> = if self.create_only {
            vec!["create"]
        } else {
            vec!["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        };
        let mut entries = vec![json!({
            "name": self.resource,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": verbs,
            "shortNames": self.short_names,
        })];
        if self.status {
            entries.push(json!({"name": format!("{}/status", self.resource), "singularName": "", "namespaced": self.namespaced, "kind": self.kind, "verbs": ["get", "patch", "update"]}));
        }
        if self.scale.is_some() {
            entries.push(json!({"name": format!("{}/scale", self.resource), "singularName": "", "namespaced": self.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
        entries
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    resource: &'static str,
    kind: &'static str,
    namespaced: bool,
    status: bool,
    scale: bool,
    short_names: &'static [&'static str],
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        group: "",
        version: "v1",
        resource: "namespaces",
        kind: "Namespace",
        namespaced: false,
        status: true,
        scale: false,
        short_names: &["ns"],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "configmaps",
        kind: "ConfigMap",
        namespaced: true,
        status: false,
        scale: false,
        short_names: &["cm"],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "secrets",
        kind: "Secret",
        namespaced: true,
        status: false,
        scale: false,
        short_names: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "serviceaccounts",
        kind: "ServiceAccount",
        namespaced: true,
        status: false,
        scale: false,
        short_names: &["sa"],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "services",
        kind: "Service",
        namespaced: true,
        status: true,
        scale: false,
        short_names: &["svc"],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "pods",
        kind: "Pod",
        namespaced: true,
        status: true,
        scale: false,
        short_names: &["po"],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "events",
        kind: "Event",
        namespaced: true,
        status: false,
        scale: false,
        short_names: &["ev"],
    },
    Builtin {
        group: "apps",
        version: "v1",
        resource: "deployments",
        kind: "Deployment",
        namespaced: true,
        status: true,
        scale: true,
        short_names: &["deploy"],
    },
    Builtin {
        group: "apps",
        version: "v1",
        resource: "replicasets",
        kind: "ReplicaSet",
        namespaced: true,
        status: true,
        scale: true,
        short_names: &["rs"],
    },
    Builtin {
        group: "batch",
        version: "v1",
        resource: "jobs",
        kind: "Job",
        namespaced: true,
        status: true,
        scale: false,
        short_names: &[],
    },
    Builtin {
        group: "coordination.k8s.io",
        version: "v1",
        resource: "leases",
        kind: "Lease",
        namespaced: true,
        status: false,
        scale: false,
        short_names: &[],
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        resource: "clusterroles",
        kind: "ClusterRole",
        namespaced: false,
        status: false,
        scale: false,
        short_names: &[],
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        resource: "clusterrolebindings",
        kind: "ClusterRoleBinding",
        namespaced: false,
        status: false,
        scale: false,
        short_names: &[],
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        resource: "roles",
        kind: "Role",
        namespaced: true,
        status: false,
        scale: false,
        short_names: &[],
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        resource: "rolebindings",
        kind: "RoleBinding",
        namespaced: true,
        status: false,
        scale: false,
        short_names: &[],
    },
    Builtin {
        group: "admissionregistration.k8s.io",
        version: "v1",
        resource: "validatingwebhookconfigurations",
        kind: "ValidatingWebhookConfiguration",
        namespaced: false,
        status: false,
        scale: false,
        short_names: &[],
    },
    Builtin {
        group: "admissionregistration.k8s.io",
        version: "v1",
        resource: "mutatingwebhookconfigurations",
        kind: "MutatingWebhookConfiguration",
        namespaced: false,
        status: false,
        scale: false,
        short_names: &[],
    },
    Builtin {
        group: "apiextensions.k8s.io",
        version: "v1",
        resource: "customresourcedefinitions",
        kind: "CustomResourceDefinition",
        namespaced: false,
        status: true,
        scale: false,
        short_names: &["crd", "crds"],
    },
    Builtin {
        group: "authorization.k8s.io",
        version: "v1",
        resource: "selfsubjectaccessreviews",
        kind: "SelfSubjectAccessReview",
        namespaced: false,
        status: false,
        scale: false,
        short_names: &[],
    },
];

/// The columns kubectl shows for the built-in kinds the demo is about.
fn builtin_columns(resource: &str) -> Vec<(String, String, String)> {
    let columns: &[(&str, &str, &str)] = match resource {
        "pods" => &[
            ("Ready", "string", r#".status.conditions[?(@.type=="Ready")].status"#),
            ("Status", "string", ".status.phase"),
            ("Restarts", "integer", ".status.containerStatuses[0].restartCount"),
        ],
        "deployments" => &[
            ("Ready", "integer", ".status.readyReplicas"),
            ("Up-to-date", "integer", ".status.updatedReplicas"),
            ("Available", "integer", ".status.availableReplicas"),
        ],
        "replicasets" => &[
            ("Desired", "integer", ".spec.replicas"),
            ("Current", "integer", ".status.replicas"),
            ("Ready", "integer", ".status.readyReplicas"),
        ],
        "jobs" => &[("Succeeded", "integer", ".status.succeeded"), ("Failed", "integer", ".status.failed")],
        "events" => &[
            ("Type", "string", ".type"),
            ("Reason", "string", ".reason"),
            ("Object", "string", ".involvedObject.name"),
            ("Message", "string", ".message"),
        ],
        _ => &[],
    };
    columns.iter().map(|(name, kind, path)| (name.to_string(), kind.to_string(), path.to_string())).collect()
}

/// The built-in kinds, one entry each.
pub fn builtin_types() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(|b| ResourceType {
            group: b.group.to_owned(),
            version: b.version.to_owned(),
            resource: b.resource.to_owned(),
            singular: b.kind.to_lowercase(),
            kind: b.kind.to_owned(),
            namespaced: b.namespaced,
            status: b.status,
            scale: b.scale.then(|| (".spec.replicas".to_owned(), ".status.replicas".to_owned())),
            short_names: b.short_names.iter().map(|s| s.to_string()).collect(),
            create_only: b.resource == "selfsubjectaccessreviews",
            printer_columns: builtin_columns(b.resource),
        })
        .collect()
}

/// The resource types a CRD object serves: one per served version.
pub fn crd_types(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let kind = text(&names["kind"]);
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(false))
        .map(|version| ResourceType {
            group: text(&spec["group"]),
            version: text(&version["name"]),
            resource: text(&names["plural"]),
            singular: names["singular"].as_str().map_or_else(|| kind.to_lowercase(), str::to_owned),
            kind: kind.clone(),
            namespaced: spec["scope"].as_str() != Some("Cluster"),
            status: version["subresources"].get("status").is_some(),
            scale: version["subresources"]
                .get("scale")
                .map(|s| (text(&s["specReplicasPath"]), text(&s["statusReplicasPath"]))),
            short_names: names["shortNames"].as_array().map_or_else(Vec::new, |a| a.iter().map(text).collect()),
            create_only: false,
            printer_columns: version["additionalPrinterColumns"].as_array().map_or_else(Vec::new, |cols| {
                cols.iter().map(|c| (text(&c["name"]), text(&c["type"]), text(&c["jsonPath"]))).collect()
            }),
        })
        .collect()
}

/// `/api`: the core group's versions.
pub fn core_versions() -> Value {
    json!({"kind": "APIVersions", "apiVersion": "v1", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
}

/// `/apis`: every non-core group with its versions (preferred = the first listed).
pub fn group_list(types: &[ResourceType]) -> Value {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for t in types.iter().filter(|t| !t.group.is_empty()) {
        match groups.iter_mut().find(|(g, _)| *g == t.group) {
            Some((_, versions)) if !versions.contains(&t.version) => versions.push(t.version.clone()),
            Some(_) => {}
            None => groups.push((t.group.clone(), vec![t.version.clone()])),
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(group, versions)| {
            let entries: Vec<Value> =
                versions.iter().map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v})).collect();
            json!({"name": group, "versions": entries, "preferredVersion": entries[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}/{version}` or `/api/v1`: the resources of one group version, or None if it is not served.
pub fn resource_list(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let resources: Vec<Value> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .flat_map(ResourceType::discovery_entry)
        .collect();
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}))
}
