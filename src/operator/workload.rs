//! Deployments, StatefulSets and DaemonSets: image per container (with the direction of the version
//! change), command and args, env, resources, replicas, probes, securityContext, serviceAccount, volumes
//! and the immutable selector. Whatever else differs is reported once as `object-changed`.

use super::compare::{changed_settings, compact, compare_maps, named_changes, quantity};
use super::image::{direction, Direction};
use super::matching::{value_at, Pair};
use super::pod::{containers, pod_spec, replicas, Container, ContainerList};
use super::text_diff::remainder_finding;
use crate::findings::{FindingCode, OperatorFinding, Severity};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

const PROBES: &[&str] = &["livenessProbe", "readinessProbe", "startupProbe"];

/// Container fields a specific rule reports; the rest goes to the generic diff.
const CONTAINER_FIELDS: &[&str] = &[
    "image",
    "command",
    "args",
    "env",
    "envFrom",
    "resources",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "securityContext",
    "volumeMounts",
];

/// Pod spec fields a specific rule reports.
const POD_FIELDS: &[&str] = &["serviceAccountName", "serviceAccount", "securityContext", "volumes"];

/// The findings for a workload present on both sides.
pub(crate) fn diff(pair: &Pair, old: &Value, new: &Value) -> Vec<OperatorFinding> {
    let mut diff = WorkloadDiff { pair, findings: Vec::new() };
    diff.selector(old, new);
    diff.replicas(old, new);
    diff.service_account(old, new);
    diff.pod_security_context(old, new);
    diff.volumes(old, new);
    diff.containers(old, new);
    let mut findings = diff.findings;
    let matched = matched_containers(old, new);
    findings.extend(remainder_finding(pair, &remainder(old, &matched), &remainder(new, &matched), "other fields"));
    findings
}

struct WorkloadDiff<'p, 'a> {
    pair: &'p Pair<'a>,
    findings: Vec<OperatorFinding>,
}

impl WorkloadDiff<'_, '_> {
    fn push(&mut self, code: FindingCode, field: String, message: String, old: Option<Value>, new: Option<Value>) {
        let finding = OperatorFinding::new(code, self.pair.manifest_ref(), message)
            .at_field(field)
            .values(old, new)
            .located_at(self.pair.location());
        self.findings.push(finding);
    }

    /// Pushes with a severity adjusted from the registry default (the caller documents why).
    fn push_with(
        &mut self,
        severity: Severity,
        code: FindingCode,
        field: String,
        message: String,
        old: Value,
        new: Value,
    ) {
        self.push(code, field, message, Some(old), Some(new));
        let pushed = self.findings.len() - 1;
        self.findings[pushed].severity = severity;
    }

    fn label(&self) -> String {
        self.pair.manifest_ref().to_string()
    }

    fn selector(&mut self, old: &Value, new: &Value) {
        let (before, after) = (value_at(old, &["spec", "selector"]), value_at(new, &["spec", "selector"]));
        if before != after {
            let message =
                format!("{}: spec.selector changed; it is immutable, so the workload must be recreated", self.label());
            self.push(FindingCode::SelectorChanged, "spec.selector".into(), message, before.cloned(), after.cloned());
        }
    }

    fn replicas(&mut self, old: &Value, new: &Value) {
        let (before, after) = (replicas(&self.pair.key, old), replicas(&self.pair.key, new));
        if before != after {
            let message = format!("{}: replicas {} -> {}", self.label(), compact_i64(before), compact_i64(after));
            self.push(
                FindingCode::ReplicasChanged,
                "spec.replicas".into(),
                message,
                before.map(Value::from),
                after.map(Value::from),
            );
        }
    }

    fn service_account(&mut self, old: &Value, new: &Value) {
        let (before, after) = (service_account(old), service_account(new));
        if before != after {
            let message = format!("{}: the pods run as service account {after} instead of {before}", self.label());
            let field = "spec.template.spec.serviceAccountName".to_owned();
            self.push(FindingCode::ServiceAccountChanged, field, message, Some(json!(before)), Some(json!(after)));
        }
    }

    fn pod_security_context(&mut self, old: &Value, new: &Value) {
        let field = |w| pod_spec(w).and_then(|s| s.get("securityContext"));
        let (before, after) = (field(old), field(new));
        let changes = changed_settings(before, after);
        if !changes.is_empty() {
            let message = format!("{}: pod securityContext changed: {}", self.label(), changes.join(", "));
            let path = "spec.template.spec.securityContext".to_owned();
            self.push(FindingCode::SecurityContextChanged, path, message, before.cloned(), after.cloned());
        }
    }

    fn volumes(&mut self, old: &Value, new: &Value) {
        let field = |w| pod_spec(w).and_then(|s| s.get("volumes"));
        let changes = named_changes(field(old), field(new), "name");
        if !changes.is_empty() {
            let message = format!("{}: volumes {}", self.label(), changes.summary());
            let path = "spec.template.spec.volumes".to_owned();
            self.push(FindingCode::VolumesChanged, path, message, field(old).cloned(), field(new).cloned());
        }
    }

    fn containers(&mut self, old: &Value, new: &Value) {
        let by_name = |w| -> BTreeMap<(ContainerList, String), Container> {
            containers(w).into_iter().map(|c| ((c.list, c.name.to_owned()), c)).collect()
        };
        let (before, after) = (by_name(old), by_name(new));
        for (key, container) in &after {
            match before.get(key) {
                Some(old_container) => self.container(old_container, container),
                None => {
                    let message = format!("{}: container {} added", self.label(), container.name);
                    let image = container.value.get("image").cloned();
                    self.push(FindingCode::ContainerAdded, container.path(""), message, None, image);
                }
            }
        }
        for (key, container) in &before {
            if !after.contains_key(key) {
                let message = format!("{}: container {} removed", self.label(), container.name);
                let image = container.value.get("image").cloned();
                self.push(FindingCode::ContainerRemoved, container.path(""), message, image, None);
            }
        }
    }

    fn container(&mut self, old: &Container, new: &Container) {
        self.image(old, new);
        self.command_line(old, new);
        self.env(old, new);
        self.resources(old, new);
        self.probes(old, new);
        self.container_security_context(old, new);
        self.volume_mounts(old, new);
    }

    fn image(&mut self, old: &Container, new: &Container) {
        let image = |c: &Container| c.value.get("image").and_then(Value::as_str).unwrap_or_default().to_owned();
        let (before, after) = (image(old), image(new));
        if before == after {
            return;
        }
        let way = direction(&before, &after);
        let code = if way == Direction::Downgrade { FindingCode::ImageDowngraded } else { FindingCode::ImageChanged };
        let message =
            format!("{}: container {} image {before} -> {after} ({})", self.label(), new.name, way.describe());
        self.push(code, new.path("image"), message, Some(json!(before)), Some(json!(after)));
    }

    fn command_line(&mut self, old: &Container, new: &Container) {
        let (before, after) = (old.command_line(), new.command_line());
        if before == after {
            return;
        }
        let added: Vec<&str> = after.iter().filter(|a| !before.contains(a)).copied().collect();
        let removed: Vec<&str> = before.iter().filter(|a| !after.contains(a)).copied().collect();
        let mut parts = Vec::new();
        if !added.is_empty() {
            parts.push(format!("added {}", added.join(" ")));
        }
        if !removed.is_empty() {
            parts.push(format!("removed {}", removed.join(" ")));
        }
        if parts.is_empty() {
            parts.push("reordered".to_owned());
        }
        let message = format!("{}: container {} command line {}", self.label(), new.name, parts.join("; "));
        self.push(FindingCode::ArgsChanged, new.path("args"), message, Some(json!(before)), Some(json!(after)));
    }

    fn env(&mut self, old: &Container, new: &Container) {
        let as_map = |c: &Container| -> BTreeMap<String, Value> {
            c.env().into_iter().map(|(name, value)| (name.to_owned(), value.clone())).collect()
        };
        let (before, after) = (as_map(old), as_map(new));
        let mut changes = compare_maps(&before, &after);
        let env_from_changed = old.value.get("envFrom") != new.value.get("envFrom");
        if changes.is_empty() && !env_from_changed {
            return;
        }
        if env_from_changed {
            changes.changed.push("envFrom".to_owned());
        }
        let message = format!("{}: container {} env {}", self.label(), new.name, changes.summary());
        let pick = |map: &BTreeMap<String, Value>| -> Value {
            let names = changes.added.iter().chain(&changes.removed).chain(&changes.changed);
            Value::Object(names.filter_map(|n| Some((n.clone(), map.get(n)?.clone()))).collect::<Map<_, _>>())
        };
        let (old_value, new_value) = (pick(&before), pick(&after));
        // A removed variable silently falls back to the operator's default, which may differ from what
        // the release set before: worth a reviewer's look.
        let severity = if changes.removed.is_empty() { Severity::Info } else { Severity::Warning };
        self.push_with(severity, FindingCode::EnvChanged, new.path("env"), message, old_value, new_value);
    }

    fn resources(&mut self, old: &Container, new: &Container) {
        let (before, after) = (old.value.get("resources"), new.value.get("resources"));
        if normalised_resources(before) == normalised_resources(after) {
            return;
        }
        let mut parts = Vec::new();
        let mut riskier = false;
        for section in ["requests", "limits"] {
            let amounts = |r: Option<&Value>| -> BTreeMap<String, String> {
                r.and_then(|r| r.get(section))
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), compact(Some(v))))
                    .collect()
            };
            let (old_amounts, new_amounts) = (amounts(before), amounts(after));
            let mut names: Vec<&String> = old_amounts.keys().chain(new_amounts.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                let (was, now) = (old_amounts.get(name), new_amounts.get(name));
                if was == now {
                    continue;
                }
                riskier |= is_riskier(section, was, now);
                let show = |q: Option<&String>| q.cloned().unwrap_or_else(|| "(unset)".to_owned());
                parts.push(format!("{section}.{name} {} -> {}", show(was), show(now)));
            }
        }
        let message = format!("{}: container {} resources {}", self.label(), new.name, parts.join(", "));
        // Lowered amounts risk OOM kills and throttling, and a removed request changes the QoS class
        // (evicted first): a warning. Raised or added amounts are info.
        let severity = if riskier { Severity::Warning } else { Severity::Info };
        let (old_value, new_value) = (before.cloned().unwrap_or(Value::Null), after.cloned().unwrap_or(Value::Null));
        self.push_with(severity, FindingCode::ResourcesChanged, new.path("resources"), message, old_value, new_value);
    }

    fn probes(&mut self, old: &Container, new: &Container) {
        let changed: Vec<&str> = PROBES.iter().copied().filter(|p| old.value.get(*p) != new.value.get(*p)).collect();
        if changed.is_empty() {
            return;
        }
        let describe = |probe: &str| match (old.value.get(probe), new.value.get(probe)) {
            (None, Some(_)) => format!("{probe} added"),
            (Some(_), None) => format!("{probe} removed"),
            _ => {
                format!("{probe} changed ({})", changed_settings(old.value.get(probe), new.value.get(probe)).join(", "))
            }
        };
        let message = format!(
            "{}: container {} {}",
            self.label(),
            new.name,
            changed.iter().map(|p| describe(p)).collect::<Vec<_>>().join("; ")
        );
        let pick = |c: &Container| -> Value {
            Value::Object(changed.iter().filter_map(|p| Some((p.to_string(), c.value.get(*p)?.clone()))).collect())
        };
        let field = if changed.len() == 1 { new.path(changed[0]) } else { new.path("") };
        self.push(FindingCode::ProbesChanged, field, message, Some(pick(old)), Some(pick(new)));
    }

    fn container_security_context(&mut self, old: &Container, new: &Container) {
        let (before, after) = (old.value.get("securityContext"), new.value.get("securityContext"));
        let changes = changed_settings(before, after);
        if !changes.is_empty() {
            let message = format!("{}: container {} securityContext {}", self.label(), new.name, changes.join(", "));
            let field = new.path("securityContext");
            self.push(FindingCode::SecurityContextChanged, field, message, before.cloned(), after.cloned());
        }
    }

    fn volume_mounts(&mut self, old: &Container, new: &Container) {
        let (before, after) = (old.value.get("volumeMounts"), new.value.get("volumeMounts"));
        let changes = named_changes(before, after, "mountPath");
        if !changes.is_empty() {
            let message = format!("{}: container {} volume mounts {}", self.label(), new.name, changes.summary());
            self.push(FindingCode::VolumesChanged, new.path("volumeMounts"), message, before.cloned(), after.cloned());
        }
    }
}

/// The pods' service account (`serviceAccountName`, the deprecated `serviceAccount`, or `default`).
fn service_account(workload: &Value) -> String {
    let spec = pod_spec(workload);
    let named = |field| spec.and_then(|s| s.get(field)).and_then(Value::as_str).filter(|s| !s.is_empty());
    named("serviceAccountName").or_else(|| named("serviceAccount")).unwrap_or("default").to_owned()
}

/// Resources with empty sections dropped, so `requests: {}` equals no requests.
fn normalised_resources(resources: Option<&Value>) -> Value {
    let mut map = resources.and_then(Value::as_object).cloned().unwrap_or_default();
    map.retain(|_, v| !matches!(v, Value::Null) && v.as_object().is_none_or(|m| !m.is_empty()));
    Value::Object(map)
}

/// Whether an amount change risks the pods: lowered, or a request removed.
fn is_riskier(section: &str, was: Option<&String>, now: Option<&String>) -> bool {
    match (was, now) {
        (Some(_), None) => section == "requests",
        (Some(was), Some(now)) => match (quantity(was), quantity(now)) {
            (Some(was), Some(now)) => now < was,
            // An unreadable quantity cannot be judged; a reviewer should look.
            _ => true,
        },
        _ => false,
    }
}

fn compact_i64(value: Option<i64>) -> String {
    value.map_or_else(|| "(unset)".to_owned(), |v| v.to_string())
}

/// The containers on both sides, by list and name.
fn matched_containers(old: &Value, new: &Value) -> BTreeSet<(ContainerList, String)> {
    let names = |w| -> BTreeSet<(ContainerList, String)> {
        containers(w).iter().map(|c| (c.list, c.name.to_owned())).collect()
    };
    names(old).intersection(&names(new)).cloned().collect()
}

/// The workload without what the specific rules report: only the containers on both sides stay (added
/// and removed ones have their own findings), with only the fields no rule covers, in name order; the pod
/// spec loses service account, security context and volumes.
fn remainder(workload: &Value, matched: &BTreeSet<(ContainerList, String)>) -> Value {
    let mut rest = workload.clone();
    if let Some(Value::Object(spec)) = rest.get_mut("spec") {
        spec.remove("replicas");
        spec.remove("selector");
    }
    let Some(Value::Object(pod)) =
        rest.get_mut("spec").and_then(|s| s.get_mut("template")).and_then(|t| t.get_mut("spec"))
    else {
        return rest;
    };
    for field in POD_FIELDS {
        pod.remove(*field);
    }
    for list in [ContainerList::Init, ContainerList::Main] {
        if let Some(Value::Array(items)) = pod.get_mut(list.field()) {
            items.retain(|c| matched.contains(&(list, compact(c.get("name")))));
            for item in items.iter_mut() {
                if let Value::Object(container) = item {
                    for field in CONTAINER_FIELDS {
                        container.remove(*field);
                    }
                }
            }
            items.sort_by_key(|a| compact(a.get("name")));
        }
    }
    rest
}
