//! Reading the pod template of a workload: containers, labels, and label selectors matching them.

use super::matching::{value_at, ObjectKey};
use serde_json::{Map, Value};

/// The workload kinds whose pod template the diff and the lint read.
pub(crate) const WORKLOAD_KINDS: &[&str] = &["Deployment", "StatefulSet", "DaemonSet"];

/// True for a Deployment, StatefulSet or DaemonSet.
pub(crate) fn is_workload(key: &ObjectKey) -> bool {
    key.is("apps", WORKLOAD_KINDS)
}

/// Which list of the pod spec a container is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ContainerList {
    Init,
    Main,
}

impl ContainerList {
    pub fn field(self) -> &'static str {
        match self {
            ContainerList::Init => "initContainers",
            ContainerList::Main => "containers",
        }
    }
}

/// One container of a pod template, named.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Container<'a> {
    pub list: ContainerList,
    pub name: &'a str,
    pub value: &'a Value,
}

impl Container<'_> {
    /// The path of a field of this container, e.g. `spec.template.spec.containers[manager].image`.
    pub fn path(&self, field: &str) -> String {
        let base = format!("spec.template.spec.{}[{}]", self.list.field(), self.name);
        if field.is_empty() {
            base
        } else {
            format!("{base}.{field}")
        }
    }

    /// The container's `args` after its `command`: everything the process is started with.
    pub fn command_line(&self) -> Vec<&str> {
        ["command", "args"]
            .iter()
            .filter_map(|field| self.value.get(*field).and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }

    /// The container's plain `env` entries by name (the value, or the `valueFrom` reference).
    pub fn env(&self) -> Vec<(&str, &Value)> {
        self.value
            .get("env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let name = entry.get("name")?.as_str()?;
                Some((name, entry.get("value").or_else(|| entry.get("valueFrom")).unwrap_or(&Value::Null)))
            })
            .collect()
    }
}

/// `spec.template.spec` of a workload.
pub(crate) fn pod_spec(workload: &Value) -> Option<&Value> {
    value_at(workload, &["spec", "template", "spec"])
}

/// Every container of the workload's pod template: init containers first, then the main ones.
pub(crate) fn containers(workload: &Value) -> Vec<Container<'_>> {
    let Some(spec) = pod_spec(workload) else { return Vec::new() };
    [ContainerList::Init, ContainerList::Main]
        .into_iter()
        .flat_map(|list| {
            spec.get(list.field()).and_then(Value::as_array).into_iter().flatten().map(move |value| Container {
                list,
                name: value.get("name").and_then(Value::as_str).unwrap_or_default(),
                value,
            })
        })
        .collect()
}

/// The labels of the workload's pods.
pub(crate) fn pod_labels(workload: &Value) -> Map<String, Value> {
    value_at(workload, &["spec", "template", "metadata", "labels"])
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The replicas a Deployment or StatefulSet runs (1 when unset); `None` for a DaemonSet.
pub(crate) fn replicas(key: &ObjectKey, workload: &Value) -> Option<i64> {
    (key.kind != "DaemonSet").then(|| value_at(workload, &["spec", "replicas"]).and_then(Value::as_i64).unwrap_or(1))
}

/// Whether a label selector (`matchLabels` and `matchExpressions`) matches the labels. An empty selector
/// matches everything, as in a PodDisruptionBudget of `policy/v1`.
pub(crate) fn selector_matches(selector: &Value, labels: &Map<String, Value>) -> bool {
    let match_labels = selector.get("matchLabels").and_then(Value::as_object);
    let labels_match = match_labels.into_iter().flatten().all(|(key, value)| labels.get(key) == Some(value));
    let expressions = selector.get("matchExpressions").and_then(Value::as_array);
    labels_match && expressions.into_iter().flatten().all(|expression| expression_matches(expression, labels))
}

fn expression_matches(expression: &Value, labels: &Map<String, Value>) -> bool {
    let key = expression.get("key").and_then(Value::as_str).unwrap_or_default();
    let values: Vec<&Value> = expression.get("values").and_then(Value::as_array).into_iter().flatten().collect();
    let label = labels.get(key);
    match expression.get("operator").and_then(Value::as_str).unwrap_or_default() {
        "In" => label.is_some_and(|l| values.contains(&l)),
        "NotIn" => label.is_none_or(|l| !values.contains(&l)),
        "Exists" => label.is_some(),
        "DoesNotExist" => label.is_none(),
        // An operator the API server would reject selects nothing.
        _ => false,
    }
}

/// Whether a Service's plain `spec.selector` map selects the labels (an empty one selects nothing: such a
/// Service has manually managed endpoints).
pub(crate) fn service_selects(selector: &Map<String, Value>, labels: &Map<String, Value>) -> bool {
    !selector.is_empty() && selector.iter().all(|(key, value)| labels.get(key) == Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_match_labels_and_expressions() {
        let labels = json!({"app": "op", "tier": "control"}).as_object().cloned().unwrap();
        assert!(selector_matches(&json!({"matchLabels": {"app": "op"}}), &labels));
        assert!(!selector_matches(&json!({"matchLabels": {"app": "other"}}), &labels));
        let expressions = json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["control"]},
            {"key": "zone", "operator": "DoesNotExist"}]});
        assert!(selector_matches(&expressions, &labels));
        assert!(!selector_matches(
            &json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["op"]}]}),
            &labels
        ));
    }
}
