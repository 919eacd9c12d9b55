//! The production-readiness lint: each rule is a code of the `lint` family with the check that finds it.
//! Both releases are linted; a problem the new release has and the old one did not is a regression.

use super::compare::compact;
use super::matching::{location, manifest_ref, value_at, ObjectKey, SideIndex};
use super::pod::{
    containers, is_workload, pod_labels, pod_spec, replicas, selector_matches, service_selects, Container,
    ContainerList,
};
use super::rbac::{cluster_bound_roles, role_permissions, Permission, RBAC_GROUP, ROLE_KINDS};
use crate::findings::{sort_operator_findings, FindingCode, ManifestRef, OperatorFinding, SourceLocation};
use crate::manifest::Object;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// A check finds the problems of one code on one side.
type Check = fn(&SideView) -> Vec<Problem>;

/// Every lint rule: its code (whose registry entry says why it matters) and its check.
const RULES: &[(FindingCode, Check)] = &[
    (FindingCode::LintRbacWildcard, rbac_wildcard),
    (FindingCode::LintRbacClusterSecretRead, rbac_cluster_secret_read),
    (FindingCode::LintRbacEscalation, rbac_escalation),
    (FindingCode::LintMissingResourceRequests, missing_requests),
    (FindingCode::LintMissingResourceLimits, missing_limits),
    (FindingCode::LintSingleReplica, single_replica),
    (FindingCode::LintNoLeaderElection, no_leader_election),
    (FindingCode::LintNoMetricsEndpoint, no_metrics_endpoint),
    (FindingCode::LintMissingLivenessProbe, missing_liveness_probe),
    (FindingCode::LintMissingReadinessProbe, missing_readiness_probe),
    (FindingCode::LintRunAsRoot, run_as_root),
    (FindingCode::LintWritableRootFilesystem, writable_root_filesystem),
    (FindingCode::LintPrivilegeEscalation, privilege_escalation),
    (FindingCode::LintNoPodDisruptionBudget, no_pod_disruption_budget),
];

/// Lints the new release, marking as regressions the problems the old release did not have; problems
/// both have are listed too. Sorted with regressions first.
pub(crate) fn lint(old: &[Object], new: &[Object]) -> Vec<OperatorFinding> {
    let before: BTreeSet<(FindingCode, ObjectKey, Option<String>)> =
        lint_side(old).into_iter().map(|(code, problem)| (code, problem.key, problem.field)).collect();
    let mut findings: Vec<OperatorFinding> = lint_side(new)
        .into_iter()
        .map(|(code, problem)| {
            let regression = !before.contains(&(code, problem.key.clone(), problem.field.clone()));
            problem.into_finding(code).as_regression(regression)
        })
        .collect();
    sort_operator_findings(&mut findings);
    findings
}

fn lint_side(objects: &[Object]) -> Vec<(FindingCode, Problem)> {
    let side = SideView::new(objects);
    RULES.iter().flat_map(|(code, check)| check(&side).into_iter().map(move |problem| (*code, problem))).collect()
}

/// One problem found by a check, before it becomes a finding.
struct Problem {
    key: ObjectKey,
    object: ManifestRef,
    location: SourceLocation,
    field: Option<String>,
    message: String,
    values: Option<Value>,
}

impl Problem {
    fn new(object: &Object, field: Option<String>, message: String) -> Problem {
        let reference = manifest_ref(&object.value);
        Problem {
            key: ObjectKey::of(&object.value),
            message: format!("{reference}: {message}"),
            object: reference,
            location: location(object),
            field,
            values: None,
        }
    }

    fn with_values(mut self, values: Value) -> Problem {
        self.values = Some(values);
        self
    }

    fn into_finding(self, code: FindingCode) -> OperatorFinding {
        let message = format!("{}. {}", self.message, code.info().why);
        let mut finding =
            OperatorFinding::new(code, self.object, message).values(None, self.values).located_at(self.location);
        finding.field = self.field;
        finding
    }
}

/// What the checks read of one side.
struct SideView<'a> {
    index: SideIndex<'a>,
    cluster_bound: BTreeSet<String>,
}

impl<'a> SideView<'a> {
    fn new(objects: &'a [Object]) -> SideView<'a> {
        let index = SideIndex::new(objects);
        let cluster_bound = cluster_bound_roles(&index);
        SideView { index, cluster_bound }
    }

    fn workloads(&self) -> impl Iterator<Item = (&ObjectKey, &'a Object)> + '_ {
        self.index.iter().filter(|(key, _)| is_workload(key))
    }

    /// Deployments and StatefulSets that run at least one pod (DaemonSets run one per node; a workload
    /// scaled to zero is deliberately off).
    fn replicated(&self) -> impl Iterator<Item = (&ObjectKey, &'a Object, i64)> + '_ {
        self.workloads().filter_map(|(key, object)| {
            let count = replicas(key, &object.value)?;
            (count > 0).then_some((key, object, count))
        })
    }

    /// Every container of every workload.
    fn containers(&self) -> impl Iterator<Item = (&'a Object, Container<'a>)> + '_ {
        self.workloads().flat_map(|(_, object)| containers(&object.value).into_iter().map(move |c| (object, c)))
    }

    /// Roles with the permissions they grant (aggregated ClusterRoles left out: not known from manifests).
    fn roles(&self) -> impl Iterator<Item = (&ObjectKey, &'a Object, BTreeSet<Permission>)> + '_ {
        self.index
            .of_kinds(RBAC_GROUP, ROLE_KINDS)
            .filter_map(|(key, role)| Some((key, role, role_permissions(&role.value)?)))
    }

    /// Objects of a kind in the workload's namespace.
    fn in_namespace<'s>(
        &'s self,
        key: &'s ObjectKey,
        group: &'s str,
        kind: &'s [&'s str],
    ) -> impl Iterator<Item = &'a Object> + 's {
        self.index.of_kinds(group, kind).filter(move |(k, _)| k.namespace == key.namespace).map(|(_, o)| o)
    }
}

fn permission_problems(
    side: &SideView,
    roles: impl Fn(&ObjectKey) -> bool,
    matches: fn(&Permission) -> bool,
    what: &str,
) -> Vec<Problem> {
    side.roles()
        .filter(|(key, _, _)| roles(key))
        .filter_map(|(_, role, permissions)| {
            let found: Vec<String> = permissions.iter().filter(|p| matches(p)).map(ToString::to_string).collect();
            (!found.is_empty()).then(|| {
                Problem::new(role, Some("rules".into()), format!("{what}: {}", found.join(", ")))
                    .with_values(json!(found))
            })
        })
        .collect()
}

fn rbac_wildcard(side: &SideView) -> Vec<Problem> {
    permission_problems(side, |_| true, Permission::is_wildcard, "grants `*`")
}

fn rbac_cluster_secret_read(side: &SideView) -> Vec<Problem> {
    let bound = |key: &ObjectKey| key.kind == "ClusterRole" && side.cluster_bound.contains(&key.name);
    permission_problems(
        side,
        bound,
        Permission::reads_all_secrets,
        "reads Secrets in every namespace (bound by a ClusterRoleBinding)",
    )
}

fn rbac_escalation(side: &SideView) -> Vec<Problem> {
    permission_problems(side, |_| true, Permission::is_escalation, "grants escalation verbs")
}

/// The CPU and memory amounts a container lacks in `requests` or `limits`.
fn missing_amounts(container: &Container, section: &str) -> Vec<&'static str> {
    let amounts = value_at(container.value, &["resources", section]);
    ["cpu", "memory"].into_iter().filter(|name| amounts.and_then(|a| a.get(*name)).is_none_or(Value::is_null)).collect()
}

fn missing_resources(side: &SideView, section: &str) -> Vec<Problem> {
    side.containers()
        .filter_map(|(object, container)| {
            let missing = missing_amounts(&container, section);
            (!missing.is_empty()).then(|| {
                let message = format!("container {} has no {} {section}", container.name, missing.join(" or "));
                Problem::new(object, Some(container.path(&format!("resources.{section}"))), message)
            })
        })
        .collect()
}

fn missing_requests(side: &SideView) -> Vec<Problem> {
    missing_resources(side, "requests")
}

fn missing_limits(side: &SideView) -> Vec<Problem> {
    missing_resources(side, "limits")
}

fn single_replica(side: &SideView) -> Vec<Problem> {
    side.replicated()
        .filter(|(_, _, count)| *count == 1)
        .map(|(_, object, _)| Problem::new(object, Some("spec.replicas".into()), "runs a single replica".into()))
        .collect()
}

/// Leader election is recognised from:
/// - a flag `--leader-elect`, `--enable-leader-election`, `--leader-election` or `--leader-elect-enabled`
///   (one or two dashes), bare or `=true`/`=1`; `=false`/`=0` turns it off;
/// - an env var whose name contains `LEADER_ELECT` (`LEADER_ELECTION`, `ENABLE_LEADER_ELECTION`, ...)
///   whose value is not `false` or `0` (a `valueFrom` reference counts as on).
fn leader_election_enabled(container: &Container) -> bool {
    const FLAGS: &[&str] = &["leader-elect", "enable-leader-election", "leader-election", "leader-elect-enabled"];
    let by_flag = container.command_line().iter().any(|arg| {
        let (name, value) = split_flag(arg);
        FLAGS.contains(&name) && value.is_none_or(is_true)
    });
    let by_env = container.env().iter().any(|(name, value)| {
        name.to_ascii_uppercase().contains("LEADER_ELECT")
            && value.as_str().is_none_or(|v| !matches!(v, "false" | "0" | ""))
    });
    by_flag || by_env
}

/// `--name=value` as (`name`, `Some(value)`), `--name` as (`name`, `None`); anything else has an empty name.
fn split_flag(arg: &str) -> (&str, Option<&str>) {
    let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else { return ("", None) };
    match flag.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (flag, None),
    }
}

fn is_true(value: &str) -> bool {
    matches!(value.to_ascii_lowercase().as_str(), "true" | "1" | "t" | "yes")
}

fn no_leader_election(side: &SideView) -> Vec<Problem> {
    side.replicated()
        .filter(|(key, object, count)| {
            let overlapping_rollout = key.kind == "Deployment"
                && value_at(&object.value, &["spec", "strategy", "type"]).and_then(Value::as_str) != Some("Recreate");
            (*count > 1 || overlapping_rollout) && !containers(&object.value).iter().any(leader_election_enabled)
        })
        .map(|(key, object, count)| {
            let why = if count > 1 {
                format!("runs {count} replicas")
            } else {
                format!("is a {} whose rolling update runs two pods at once", key.kind)
            };
            let message = format!("{why} and no container enables leader election");
            Problem::new(object, Some("spec.template.spec.containers".into()), message)
        })
        .collect()
}

/// A metrics endpoint is recognised from:
/// - a container port named `metrics`, `http-metrics`, `https-metrics` or ending in `-metrics`;
/// - a flag `--metrics-bind-address`, `--metrics-addr` or `--metrics-address` with a value other than `0`
///   (`0` turns controller-runtime's metrics server off), as `--flag=value` or `--flag value`;
/// - a Service in the namespace selecting the pods with a port whose name contains `metrics`.
fn has_metrics_endpoint(side: &SideView, key: &ObjectKey, workload: &Value) -> bool {
    let containers = containers(workload);
    let named_port = containers.iter().any(|c| {
        c.value.get("ports").and_then(Value::as_array).into_iter().flatten().any(|p| is_metrics_name(p.get("name")))
    });
    let flag = containers.iter().any(|c| metrics_flag(&c.command_line()));
    let labels = pod_labels(workload);
    let service = side.in_namespace(key, "", &["Service"]).any(|service| {
        let selector = value_at(&service.value, &["spec", "selector"]).and_then(Value::as_object);
        let ports = value_at(&service.value, &["spec", "ports"]).and_then(Value::as_array);
        selector.is_some_and(|s| service_selects(s, &labels))
            && ports.into_iter().flatten().any(|p| compact(p.get("name")).contains("metrics"))
    });
    named_port || flag || service
}

fn is_metrics_name(name: Option<&Value>) -> bool {
    let name = name.and_then(Value::as_str).unwrap_or_default();
    matches!(name, "metrics" | "http-metrics" | "https-metrics") || name.ends_with("-metrics")
}

fn metrics_flag(command_line: &[&str]) -> bool {
    const FLAGS: &[&str] = &["metrics-bind-address", "metrics-addr", "metrics-address"];
    command_line.iter().enumerate().any(|(index, arg)| {
        let (name, value) = split_flag(arg);
        let value = value.or_else(|| command_line.get(index + 1).copied());
        FLAGS.contains(&name) && value.is_some_and(|v| v != "0")
    })
}

fn no_metrics_endpoint(side: &SideView) -> Vec<Problem> {
    side.workloads()
        .filter(|(key, object)| !has_metrics_endpoint(side, key, &object.value))
        .map(|(_, object)| {
            let message = "exposes no metrics endpoint (no metrics port, metrics flag or Service)".to_owned();
            Problem::new(object, None, message)
        })
        .collect()
}

fn missing_probe(side: &SideView, probe: &str) -> Vec<Problem> {
    side.containers()
        .filter(|(_, container)| {
            container.list == ContainerList::Main && container.value.get(probe).is_none_or(Value::is_null)
        })
        .map(|(object, container)| {
            let message = format!("container {} has no {probe}", container.name);
            Problem::new(object, Some(container.path(probe)), message)
        })
        .collect()
}

fn missing_liveness_probe(side: &SideView) -> Vec<Problem> {
    missing_probe(side, "livenessProbe")
}

fn missing_readiness_probe(side: &SideView) -> Vec<Problem> {
    missing_probe(side, "readinessProbe")
}

/// A security setting of the container, falling back to the pod's where the pod level has one.
fn security_setting<'v>(
    workload: &'v Value,
    container: &Container<'v>,
    name: &str,
    pod_level: bool,
) -> Option<&'v Value> {
    let own = value_at(container.value, &["securityContext", name]).filter(|v| !v.is_null());
    let pod = || pod_spec(workload).and_then(|s| value_at(s, &["securityContext", name])).filter(|v| !v.is_null());
    own.or_else(|| if pod_level { pod() } else { None })
}

fn run_as_root(side: &SideView) -> Vec<Problem> {
    side.containers()
        .filter(|(object, container)| {
            let non_root = security_setting(&object.value, container, "runAsNonRoot", true).and_then(Value::as_bool);
            let user = security_setting(&object.value, container, "runAsUser", true).and_then(Value::as_i64);
            non_root != Some(true) && user.is_none_or(|uid| uid <= 0)
        })
        .map(|(object, container)| {
            let message = format!("container {} does not set runAsNonRoot (nor a non-zero runAsUser)", container.name);
            Problem::new(object, Some(container.path("securityContext.runAsNonRoot")), message)
        })
        .collect()
}

fn writable_root_filesystem(side: &SideView) -> Vec<Problem> {
    side.containers()
        .filter(|(object, container)| {
            security_setting(&object.value, container, "readOnlyRootFilesystem", false).and_then(Value::as_bool)
                != Some(true)
        })
        .map(|(object, container)| {
            let message = format!("container {} does not set readOnlyRootFilesystem", container.name);
            Problem::new(object, Some(container.path("securityContext.readOnlyRootFilesystem")), message)
        })
        .collect()
}

fn privilege_escalation(side: &SideView) -> Vec<Problem> {
    side.containers()
        .filter(|(object, container)| {
            let allowed =
                security_setting(&object.value, container, "allowPrivilegeEscalation", false).and_then(Value::as_bool);
            let privileged = security_setting(&object.value, container, "privileged", false).and_then(Value::as_bool);
            allowed != Some(false) || privileged == Some(true)
        })
        .map(|(object, container)| {
            let message =
                format!("container {} does not set allowPrivilegeEscalation: false (or is privileged)", container.name);
            Problem::new(object, Some(container.path("securityContext.allowPrivilegeEscalation")), message)
        })
        .collect()
}

fn no_pod_disruption_budget(side: &SideView) -> Vec<Problem> {
    side.replicated()
        .filter(|(key, object, _)| {
            let labels = pod_labels(&object.value);
            !side.in_namespace(key, "policy", &["PodDisruptionBudget"]).any(|pdb| {
                value_at(&pdb.value, &["spec", "selector"]).is_some_and(|selector| selector_matches(selector, &labels))
            })
        })
        .map(|(_, object, _)| Problem::new(object, None, "has no PodDisruptionBudget selecting its pods".into()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Family, REGISTRY};

    #[test]
    fn every_lint_code_has_exactly_one_rule() {
        let lint_codes: Vec<FindingCode> =
            REGISTRY.iter().filter(|r| r.family == Family::Lint).map(|r| r.code).collect();
        let ruled: Vec<FindingCode> = RULES.iter().map(|(code, _)| *code).collect();
        assert_eq!(lint_codes, ruled);
    }

    #[test]
    fn leader_election_flags_and_env() {
        let container =
            |value: Value| Container { list: ContainerList::Main, name: "m", value: Box::leak(Box::new(value)) };
        assert!(leader_election_enabled(&container(json!({"args": ["--leader-elect"]}))));
        assert!(leader_election_enabled(&container(json!({"args": ["-enable-leader-election=true"]}))));
        assert!(!leader_election_enabled(&container(json!({"args": ["--leader-elect=false"]}))));
        assert!(!leader_election_enabled(&container(json!({"args": ["--leader-election-namespace=x"]}))));
        assert!(leader_election_enabled(&container(
            json!({"env": [{"name": "ENABLE_LEADER_ELECTION", "value": "true"}]})
        )));
        assert!(!leader_election_enabled(&container(json!({"env": [{"name": "LEADER_ELECTION", "value": "false"}]}))));
    }

    #[test]
    fn metrics_flags() {
        assert!(metrics_flag(&["--metrics-bind-address=:8443"]));
        assert!(metrics_flag(&["--metrics-addr", ":8080"]));
        assert!(!metrics_flag(&["--metrics-bind-address=0"]));
        assert!(!metrics_flag(&["--health-probe-bind-address=:8081"]));
    }
}
