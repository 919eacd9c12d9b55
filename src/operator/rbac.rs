//! Roles and bindings. Rules are expanded into single permissions (API group, resource or
//! resource/subresource, verb, and resource name or non-resource URL) so that reordering or regrouping
//! rules is not a change; `*` stays `*`. Aggregated ClusterRoles are compared by their aggregationRule,
//! since the controller fills their rules in.

use super::matching::{str_at, ObjectKey, Pair, SideIndex};
use super::text_diff::{normalise, remainder_finding};
use crate::findings::{FindingCode, OperatorFinding, Severity};
use crate::manifest::Object;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fmt;

pub(crate) const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
pub(crate) const ROLE_KINDS: &[&str] = &["Role", "ClusterRole"];
pub(crate) const BINDING_KINDS: &[&str] = &["RoleBinding", "ClusterRoleBinding"];

/// Verbs that let an account grant or assume permissions it does not hold.
pub(crate) const ESCALATION_VERBS: &[&str] = &["escalate", "bind", "impersonate"];

/// How many permissions a message names before saying "and N more" (the values list them all).
const NAMED_IN_MESSAGE: usize = 8;

/// One permission a role grants.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Permission {
    pub api_group: String,
    /// The resource, `resource/subresource`, or empty for a non-resource URL.
    pub resource: String,
    pub verb: String,
    pub resource_name: Option<String>,
    pub non_resource_url: Option<String>,
}

impl Permission {
    pub fn is_escalation(&self) -> bool {
        ESCALATION_VERBS.contains(&self.verb.as_str())
    }

    pub fn is_wildcard(&self) -> bool {
        self.verb == "*" || self.resource == "*"
    }

    /// Reading Secret values of any name: get, list or watch (or `*`) on core `secrets` (or `*`).
    pub fn reads_all_secrets(&self) -> bool {
        matches!(self.api_group.as_str(), "" | "*")
            && matches!(self.resource.as_str(), "secrets" | "*")
            && matches!(self.verb.as_str(), "get" | "list" | "watch" | "*")
            && self.resource_name.is_none()
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(url) = &self.non_resource_url {
            return write!(f, "{} {url}", self.verb);
        }
        write!(f, "{} ", self.verb)?;
        if !self.api_group.is_empty() {
            write!(f, "{}/", self.api_group)?;
        }
        write!(f, "{}", self.resource)?;
        match &self.resource_name {
            Some(name) => write!(f, "[{name}]"),
            None => Ok(()),
        }
    }
}

/// Every permission a list of rules grants.
pub(crate) fn expand_rules(rules: Option<&Value>) -> BTreeSet<Permission> {
    rules.and_then(Value::as_array).into_iter().flatten().flat_map(expand_rule).collect()
}

fn strings<'a>(rule: &'a Value, field: &str) -> Vec<&'a str> {
    rule.get(field).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect()
}

fn expand_rule(rule: &Value) -> Vec<Permission> {
    let verbs = strings(rule, "verbs");
    let mut permissions = Vec::new();
    for url in strings(rule, "nonResourceURLs") {
        permissions.extend(verbs.iter().map(|verb| Permission {
            api_group: String::new(),
            resource: String::new(),
            verb: verb.to_string(),
            resource_name: None,
            non_resource_url: Some(url.to_owned()),
        }));
    }
    let mut groups = strings(rule, "apiGroups");
    if groups.is_empty() {
        // A resource rule without apiGroups is invalid; reading it as the core group keeps it visible.
        groups.push("");
    }
    let names: Vec<Option<&str>> = match strings(rule, "resourceNames") {
        names if names.is_empty() => vec![None],
        names => names.into_iter().map(Some).collect(),
    };
    for group in &groups {
        for resource in strings(rule, "resources") {
            for verb in &verbs {
                permissions.extend(names.iter().map(|name| Permission {
                    api_group: group.to_string(),
                    resource: resource.to_owned(),
                    verb: verb.to_string(),
                    resource_name: name.map(str::to_owned),
                    non_resource_url: None,
                }));
            }
        }
    }
    permissions
}

/// True for a ClusterRole whose rules the aggregation controller fills in.
pub(crate) fn is_aggregated(role: &Value) -> bool {
    role.get("aggregationRule").is_some_and(|rule| !rule.is_null())
}

/// The permissions a role grants, or `None` for an aggregated ClusterRole (not known from manifests).
pub(crate) fn role_permissions(role: &Value) -> Option<BTreeSet<Permission>> {
    (!is_aggregated(role)).then(|| expand_rules(role.get("rules")))
}

/// Names of the ClusterRoles a side binds cluster-wide (through a ClusterRoleBinding).
pub(crate) fn cluster_bound_roles(side: &SideIndex) -> BTreeSet<String> {
    side.of_kinds(RBAC_GROUP, &["ClusterRoleBinding"])
        .filter(|(_, binding)| str_at(&binding.value, &["roleRef", "kind"]) == "ClusterRole")
        .map(|(_, binding)| str_at(&binding.value, &["roleRef", "name"]).to_owned())
        .collect()
}

/// The ClusterRole of a side by name.
fn cluster_role<'a>(side: &SideIndex<'a>, name: &str) -> Option<&'a Object> {
    let key = ObjectKey {
        group: RBAC_GROUP.to_owned(),
        kind: "ClusterRole".to_owned(),
        namespace: None,
        name: name.to_owned(),
    };
    side.get(&key)
}

/// Every permission a side grants in all namespaces.
fn cluster_wide_permissions(side: &SideIndex) -> BTreeSet<Permission> {
    cluster_bound_roles(side)
        .iter()
        .filter_map(|name| cluster_role(side, name))
        .filter_map(|role| role_permissions(&role.value))
        .flatten()
        .collect()
}

/// The RBAC part of the diff: knows which permissions become cluster-wide, and which of those a role
/// finding already reported so that a binding does not report them again.
pub(crate) struct RbacDiff<'s, 'a> {
    new: &'s SideIndex<'a>,
    newly_cluster_wide: BTreeSet<Permission>,
    new_cluster_bound: BTreeSet<String>,
    reported_cluster_wide: BTreeSet<Permission>,
}

impl<'s, 'a> RbacDiff<'s, 'a> {
    pub fn new(old: &SideIndex<'a>, new: &'s SideIndex<'a>) -> RbacDiff<'s, 'a> {
        let old_cluster_wide = cluster_wide_permissions(old);
        let newly_cluster_wide = cluster_wide_permissions(new).difference(&old_cluster_wide).cloned().collect();
        RbacDiff {
            new,
            newly_cluster_wide,
            new_cluster_bound: cluster_bound_roles(new),
            reported_cluster_wide: BTreeSet::new(),
        }
    }

    /// The findings of a Role or ClusterRole on either or both sides. Call for every role before any
    /// binding.
    pub fn role(&mut self, pair: &Pair) -> Vec<OperatorFinding> {
        let old = pair.old.map(|o| &o.value);
        let new = pair.new.map(|o| &o.value);
        let aggregated = old.is_some_and(is_aggregated) || new.is_some_and(is_aggregated);
        let mut findings = match (old, new) {
            (None, Some(role)) if aggregated || expand_rules(role.get("rules")).is_empty() => {
                vec![object_finding(pair, FindingCode::ObjectAdded, "added")]
            }
            (Some(role), None) if aggregated || expand_rules(role.get("rules")).is_empty() => {
                vec![object_finding(pair, FindingCode::ObjectRemoved, "removed")]
            }
            _ if aggregated => self.aggregation(pair, old, new),
            _ => self.permissions(pair, old, new),
        };
        if let (Some(old), Some(new)) = (old, new) {
            let strip = |role: &Value| without(role, &["rules", "aggregationRule"]);
            findings.extend(remainder_finding(pair, &strip(old), &strip(new), "other fields"));
        }
        findings
    }

    fn aggregation(&self, pair: &Pair, old: Option<&Value>, new: Option<&Value>) -> Vec<OperatorFinding> {
        let rule = |role: Option<&Value>| role.and_then(|r| r.get("aggregationRule")).map(normalise);
        let (before, after) = (rule(old), rule(new));
        if before == after {
            return Vec::new();
        }
        let message = match (&before, &after) {
            (None, Some(_)) => format!("{}: now aggregates the roles its aggregationRule selects", pair.manifest_ref()),
            (Some(_), None) => format!("{}: no longer aggregated; it grants its own rules", pair.manifest_ref()),
            _ => format!("{}: aggregationRule changed", pair.manifest_ref()),
        };
        let finding = OperatorFinding::new(FindingCode::RbacAggregationChanged, pair.manifest_ref(), message)
            .at_field("aggregationRule")
            .values(before, after)
            .located_at(pair.location());
        vec![finding]
    }

    fn permissions(&mut self, pair: &Pair, old: Option<&Value>, new: Option<&Value>) -> Vec<OperatorFinding> {
        let grants = |role: Option<&Value>| role.map(|r| expand_rules(r.get("rules"))).unwrap_or_default();
        let (before, after) = (grants(old), grants(new));
        let added: BTreeSet<Permission> = after.difference(&before).cloned().collect();
        let removed: BTreeSet<Permission> = before.difference(&after).cloned().collect();
        let (escalation, rest): (BTreeSet<Permission>, BTreeSet<Permission>) =
            added.into_iter().partition(Permission::is_escalation);
        let bound_cluster_wide = pair.key.kind == "ClusterRole" && self.new_cluster_bound.contains(&pair.key.name);
        let (cluster_wide, plain): (BTreeSet<Permission>, BTreeSet<Permission>) =
            rest.into_iter().partition(|p| bound_cluster_wide && self.newly_cluster_wide.contains(p));
        self.reported_cluster_wide.extend(cluster_wide.iter().cloned());
        let groups = [
            (FindingCode::RbacEscalationAdded, escalation, "grants {n} new escalation permission(s)"),
            (
                FindingCode::RbacClusterWideAccessAdded,
                cluster_wide,
                "grants {n} new permission(s) cluster-wide (it is bound by a ClusterRoleBinding)",
            ),
            (FindingCode::RbacPermissionAdded, plain, "grants {n} new permission(s)"),
            (FindingCode::RbacPermissionRemoved, removed, "no longer grants {n} permission(s)"),
        ];
        groups
            .into_iter()
            .filter(|(_, permissions, _)| !permissions.is_empty())
            .map(|(code, permissions, what)| permission_finding(pair, code, what, &permissions))
            .collect()
    }

    /// The findings of a RoleBinding or ClusterRoleBinding on either or both sides.
    pub fn binding(&mut self, pair: &Pair) -> Vec<OperatorFinding> {
        match (pair.old.map(|o| &o.value), pair.new.map(|o| &o.value)) {
            (None, Some(binding)) => vec![self.added_binding(pair, binding)],
            (Some(_), None) => {
                vec![object_finding(pair, FindingCode::RbacBindingRemoved, "removed: its subjects lose the role")]
            }
            (Some(old), Some(new)) => {
                let mut findings = Vec::new();
                findings.extend(role_ref_finding(pair, old, new));
                findings.extend(subjects_finding(pair, old, new));
                let strip = |binding: &Value| without(binding, &["subjects", "roleRef"]);
                findings.extend(remainder_finding(pair, &strip(old), &strip(new), "other fields"));
                findings
            }
            (None, None) => Vec::new(),
        }
    }

    /// A new binding: new cluster-wide access when it binds a ClusterRole cluster-wide whose permissions
    /// were not granted cluster-wide before (and no role finding said so already).
    fn added_binding(&mut self, pair: &Pair, binding: &Value) -> OperatorFinding {
        let role_name = str_at(binding, &["roleRef", "name"]);
        let newly: BTreeSet<Permission> = if pair.key.kind == "ClusterRoleBinding" {
            cluster_role(self.new, role_name)
                .and_then(|role| role_permissions(&role.value))
                .unwrap_or_default()
                .into_iter()
                .filter(|p| self.newly_cluster_wide.contains(p) && !self.reported_cluster_wide.contains(p))
                .collect()
        } else {
            BTreeSet::new()
        };
        if newly.is_empty() {
            let message =
                format!("{} added: binds {} {role_name}", pair.manifest_ref(), str_at(binding, &["roleRef", "kind"]));
            return OperatorFinding::new(FindingCode::RbacBindingAdded, pair.manifest_ref(), message)
                .values(None, Some(json!(subjects(binding))))
                .located_at(pair.location());
        }
        self.reported_cluster_wide.extend(newly.iter().cloned());
        let what = format!(
            "binds ClusterRole {role_name} cluster-wide, granting {{n}} permission(s) not granted cluster-wide before"
        );
        permission_finding(pair, FindingCode::RbacClusterWideAccessAdded, &what, &newly)
    }
}

/// `rbac-binding-role-changed`: roleRef is immutable.
fn role_ref_finding(pair: &Pair, old: &Value, new: &Value) -> Option<OperatorFinding> {
    let role_ref = |b: &Value| format!("{} {}", str_at(b, &["roleRef", "kind"]), str_at(b, &["roleRef", "name"]));
    let (before, after) = (role_ref(old), role_ref(new));
    (before != after).then(|| {
        let message = format!(
            "{}: roleRef {before} -> {after}; roleRef is immutable, so the binding must be deleted and recreated",
            pair.manifest_ref()
        );
        OperatorFinding::new(FindingCode::RbacBindingRoleChanged, pair.manifest_ref(), message)
            .at_field("roleRef")
            .values(Some(json!(before)), Some(json!(after)))
            .located_at(pair.location())
    })
}

/// `rbac-binding-subjects-changed`: a warning when a subject loses access, info when subjects are only
/// added (access widens, nothing that worked stops working).
fn subjects_finding(pair: &Pair, old: &Value, new: &Value) -> Option<OperatorFinding> {
    let (before, after) = (subjects(old), subjects(new));
    let added: Vec<&String> = after.difference(&before).collect();
    let removed: Vec<&String> = before.difference(&after).collect();
    if added.is_empty() && removed.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!("added {}", join(&added)));
    }
    if !removed.is_empty() {
        parts.push(format!("removed {}", join(&removed)));
    }
    let severity = if removed.is_empty() { Severity::Info } else { Severity::Warning };
    let message = format!("{}: subjects {}", pair.manifest_ref(), parts.join("; "));
    Some(
        OperatorFinding::new(FindingCode::RbacBindingSubjectsChanged, pair.manifest_ref(), message)
            .with_severity(severity)
            .at_field("subjects")
            .values(Some(json!(before)), Some(json!(after)))
            .located_at(pair.location()),
    )
}

fn join(items: &[&String]) -> String {
    items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// A binding's subjects as `Kind namespace/name`, order and duplicates ignored.
fn subjects(binding: &Value) -> BTreeSet<String> {
    binding
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| {
            let (kind, name, namespace) = (str_at(s, &["kind"]), str_at(s, &["name"]), str_at(s, &["namespace"]));
            if namespace.is_empty() {
                format!("{kind} {name}")
            } else {
                format!("{kind} {namespace}/{name}")
            }
        })
        .collect()
}

fn permission_finding(
    pair: &Pair,
    code: FindingCode,
    what: &str,
    permissions: &BTreeSet<Permission>,
) -> OperatorFinding {
    let listed: Vec<String> = permissions.iter().map(ToString::to_string).collect();
    let mut named = listed.iter().take(NAMED_IN_MESSAGE).cloned().collect::<Vec<_>>().join(", ");
    if listed.len() > NAMED_IN_MESSAGE {
        named.push_str(&format!(" and {} more", listed.len() - NAMED_IN_MESSAGE));
    }
    let state = match (pair.old, pair.new) {
        (None, _) => " (new)",
        (_, None) => " (removed)",
        _ => "",
    };
    let what = what.replace("{n}", &listed.len().to_string());
    let message = format!("{}{state} {what}: {named}", pair.manifest_ref());
    let values = if code == FindingCode::RbacPermissionRemoved {
        (Some(json!(listed)), None)
    } else {
        (None, Some(json!(listed)))
    };
    OperatorFinding::new(code, pair.manifest_ref(), message)
        .at_field("rules")
        .values(values.0, values.1)
        .located_at(pair.location())
}

fn object_finding(pair: &Pair, code: FindingCode, what: &str) -> OperatorFinding {
    OperatorFinding::new(code, pair.manifest_ref(), format!("{} {what}", pair.manifest_ref()))
        .located_at(pair.location())
}

/// The value without the given top-level fields.
fn without(value: &Value, fields: &[&str]) -> Value {
    let mut value = value.clone();
    if let Value::Object(map) = &mut value {
        for field in fields {
            map.remove(*field);
        }
    }
    value
}

/// The Roles, ClusterRoles and bindings to apply while both operator versions run (the "RBAC expand"
/// step of a canary): every role and binding of the new release, where a role of the same name on the
/// old side granted more, with the old rules that grant it appended, and where a binding of the same
/// name and roleRef bound more subjects, with those subjects kept. Aggregated ClusterRoles are returned
/// as the new release has them (the controller fills their rules). A binding whose roleRef changed is
/// left out: roleRef is immutable, so it is reported as `rbac-binding-role-changed` and needs its own step.
pub fn permission_union(old: &[Object], new: &[Object]) -> Vec<Value> {
    let (old_side, new_side) = (SideIndex::new(old), SideIndex::new(new));
    let mut manifests = Vec::new();
    for (key, role) in new_side.of_kinds(RBAC_GROUP, ROLE_KINDS) {
        let old_role = old_side.get(key).map(|o| &o.value);
        manifests.push(match (old_role, role_permissions(&role.value)) {
            (Some(old_role), Some(granted)) if !is_aggregated(old_role) => role_union(old_role, &role.value, &granted),
            _ => role.value.clone(),
        });
    }
    for (key, binding) in new_side.of_kinds(RBAC_GROUP, BINDING_KINDS) {
        match old_side.get(key).map(|o| &o.value) {
            Some(old_binding) if old_binding.get("roleRef") != binding.value.get("roleRef") => {}
            Some(old_binding) => manifests.push(binding_union(old_binding, &binding.value)),
            None => manifests.push(binding.value.clone()),
        }
    }
    manifests
}

fn role_union(old: &Value, new: &Value, granted: &BTreeSet<Permission>) -> Value {
    let missing: Vec<Value> = old
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|rule| expand_rule(rule).iter().any(|p| !granted.contains(p)))
        .cloned()
        .collect();
    let mut union = new.clone();
    if !missing.is_empty() {
        if let Value::Object(map) = &mut union {
            let rules = map.entry("rules").or_insert_with(|| Value::Array(Vec::new()));
            if !rules.is_array() {
                *rules = Value::Array(Vec::new());
            }
            if let Value::Array(rules) = rules {
                rules.extend(missing);
            }
        }
    }
    union
}

fn binding_union(old: &Value, new: &Value) -> Value {
    let mut union = new.clone();
    let new_subjects: Vec<Value> = new.get("subjects").and_then(Value::as_array).cloned().unwrap_or_default();
    let extra: Vec<Value> = old
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| !new_subjects.contains(s))
        .cloned()
        .collect();
    if !extra.is_empty() {
        if let Value::Object(map) = &mut union {
            map.insert("subjects".to_owned(), Value::Array(new_subjects.into_iter().chain(extra).collect()));
        }
    }
    union
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_expand_to_single_permissions() {
        let rules = json!([
            {"apiGroups": ["", "apps"], "resources": ["pods", "deployments/scale"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["get"]},
            {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}
        ]);
        let permissions: Vec<String> = expand_rules(Some(&rules)).iter().map(ToString::to_string).collect();
        assert_eq!(permissions.len(), 10);
        assert!(permissions.contains(&"list apps/deployments/scale".to_owned()));
        assert!(permissions.contains(&"get configmaps[a]".to_owned()));
        assert!(permissions.contains(&"get /metrics".to_owned()));
    }

    #[test]
    fn regrouped_rules_grant_the_same() {
        let one = json!([{"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["get", "list"]}]);
        let split = json!([
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "get"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "get"]}
        ]);
        assert_eq!(expand_rules(Some(&one)), expand_rules(Some(&split)));
    }
}
