//! Scoping the three Deployments of a canary: the stable one rescoped to exclude both cohorts, and copies of
//! the old (baseline) and new (canary) release's Deployment limited to their cohort, each with its own lease,
//! with pod labels no Service of the release selects. Pure functions of the release's Deployment and the plan.

use super::cohort::Cohort;
use crate::plan::file::{
    CanaryPolicy, ControllerIdPlace, DeploymentTemplate, Placeholder, ScopingMechanism, SelectorSyntax, Template,
};
use serde_json::{json, Value};

/// The label that marks what a run created (its Deployments, their pods), with the run id as its value.
pub const RUN_LABEL: &str = "operator-upgrade.dev/run";
/// The pod label that tells the canary's and baseline's pods apart (no Service of a release selects it).
pub const ROLE_LABEL: &str = "operator-upgrade.dev/canary-role";

/// How cohort objects are marked: a label (label-selector and namespace scoping) or an annotation
/// (controller-id scoping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Marker {
    /// `metadata.labels[key]`.
    Label,
    /// `metadata.annotations[key]`.
    Annotation,
}

impl Marker {
    /// The metadata map the marker lives in.
    pub fn section(self) -> &'static str {
        match self {
            Marker::Label => "labels",
            Marker::Annotation => "annotations",
        }
    }
}

/// The marker and its key for a plan: the controller-id annotation or label, or the cohort label.
pub fn marker_of(canary: &CanaryPolicy) -> (Marker, String) {
    match &canary.scoping.mechanism {
        ScopingMechanism::ControllerId(id) => match id.place() {
            ControllerIdPlace::Annotation(key) => (Marker::Annotation, key.to_owned()),
            ControllerIdPlace::Label(key) => (Marker::Label, key.to_owned()),
        },
        _ => (Marker::Label, canary.cohort_label.clone()),
    }
}

/// Whether objects outside both cohorts are marked `stable` too: an equality-only selector cannot say
/// "not canary", so the stable Deployment selects `<label>=stable`.
pub fn marks_stable(canary: &CanaryPolicy) -> bool {
    matches!(&canary.scoping.mechanism, ScopingMechanism::LabelSelector(s) if s.syntax == SelectorSyntax::EqualityOnly)
}

/// Everything a Deployment's templates are rendered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderContext<'a> {
    /// Whose Deployment this is.
    pub cohort: Cohort,
    /// The Deployment's name.
    pub deployment: &'a str,
    /// The operator's namespace.
    pub operator_namespace: &'a str,
    /// The namespaces the Deployment owns (namespace scoping).
    pub namespaces: &'a [String],
}

/// The name of the baseline's or canary's Deployment.
pub fn copy_name(deployment: &str, cohort: Cohort) -> String {
    format!("{deployment}-{cohort}")
}

/// The label selector a Deployment of `cohort` owns.
pub fn cohort_selector(canary: &CanaryPolicy, cohort: Cohort) -> String {
    let label = &canary.cohort_label;
    match cohort {
        Cohort::Stable if !marks_stable(canary) => format!("{label} notin (canary,baseline)"),
        cohort => format!("{label}={cohort}"),
    }
}

/// Renders one template for a Deployment; a placeholder without a value is an error naming it.
pub fn render(canary: &CanaryPolicy, context: &RenderContext<'_>, template: &Template) -> Result<String, String> {
    let lease = |ctx: &RenderContext<'_>| {
        canary.scoping.lease_name.render(|p| (p == Placeholder::Deployment).then(|| ctx.deployment.to_owned()))
    };
    template
        .render(|placeholder| match placeholder {
            Placeholder::CohortSelector => Some(cohort_selector(canary, context.cohort)),
            Placeholder::CohortLabel => Some(canary.cohort_label.clone()),
            Placeholder::Cohort => Some(context.cohort.as_str().to_owned()),
            Placeholder::LeaseName => lease(context).ok(),
            Placeholder::Namespaces => Some(context.namespaces.join(",")),
            Placeholder::Deployment => Some(context.deployment.to_owned()),
            Placeholder::OperatorNamespace => Some(context.operator_namespace.to_owned()),
            Placeholder::Pods => Some(format!("{}-.*", context.deployment)),
        })
        .map_err(|p| format!("{p} has no value for the {} Deployment", context.cohort))
}

/// The leader-election Lease the baseline's or canary's Deployment `copy` takes through `{leaseName}`: None
/// when its template does not set the lease (the copy then runs without election or on the operator's own
/// default, which is not the run's to remove), or when the name is the stable Deployment's `stable` would
/// get (never a Lease the stable operator holds).
pub fn copy_lease_name(canary: &CanaryPolicy, cohort: Cohort, copy: &str, stable: &str) -> Option<String> {
    let names_lease =
        template_of(canary, cohort).templates().iter().any(|(_, t)| t.placeholders().contains(&Placeholder::LeaseName));
    if !names_lease {
        return None;
    }
    let render = |deployment: &str| {
        canary.scoping.lease_name.render(|p| (p == Placeholder::Deployment).then(|| deployment.to_owned())).ok()
    };
    let lease = render(copy)?;
    (Some(&lease) != render(stable).as_ref()).then_some(lease)
}

/// The template of a cohort's Deployment.
pub fn template_of(canary: &CanaryPolicy, cohort: Cohort) -> &DeploymentTemplate {
    match cohort {
        Cohort::Stable => &canary.scoping.stable,
        Cohort::Baseline => &canary.scoping.baseline,
        Cohort::Canary => &canary.scoping.canary,
    }
}

/// The release's Deployment with the cohort's template applied to `container`: args appended (the last
/// occurrence of a flag wins), env vars set in place or added.
pub fn scoped(
    deployment: &Value,
    container: &str,
    canary: &CanaryPolicy,
    context: &RenderContext<'_>,
) -> Result<Value, String> {
    let template = template_of(canary, context.cohort);
    let mut scoped = deployment.clone();
    let containers = scoped["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .ok_or_else(|| format!("Deployment {} has no containers", context.deployment))?;
    let target = containers
        .iter_mut()
        .find(|c| c["name"] == container)
        .ok_or_else(|| format!("Deployment {} has no container {container}", context.deployment))?;
    for arg in &template.args {
        let rendered = render(canary, context, arg)?;
        push(target, "args", json!(rendered));
    }
    for (name, value) in &template.env {
        let rendered = render(canary, context, value)?;
        set_env(target, name, &rendered);
    }
    Ok(scoped)
}

fn push(container: &mut Value, key: &str, value: Value) {
    match container.get_mut(key).and_then(Value::as_array_mut) {
        Some(list) => list.push(value),
        None => container[key] = json!([value]),
    }
}

fn set_env(container: &mut Value, name: &str, value: &str) {
    let variable = json!({"name": name, "value": value});
    let Some(env) = container.get_mut("env").and_then(Value::as_array_mut) else {
        container["env"] = json!([variable]);
        return;
    };
    match env.iter_mut().find(|v| v["name"] == name) {
        Some(existing) => *existing = variable,
        None => env.push(variable),
    }
}

/// The baseline's or canary's Deployment: the scoped release Deployment under its own name, one replica,
/// selecting only its own pods, which carry the run's and the role's labels and none of the release's, so
/// no Service sends them webhook or metrics traffic and the stable ReplicaSets never adopt them. It carries
/// no Helm ownership metadata (`app.kubernetes.io/managed-by`, `meta.helm.sh/*`), on itself or its pods, so
/// Helm never adopts or deletes it.
pub fn cohort_copy(scoped: &Value, name: &str, cohort: Cohort, run_id: &str) -> Value {
    let mut copy = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": scoped["metadata"]["namespace"],
            "labels": {RUN_LABEL: run_id, ROLE_LABEL: cohort.as_str()},
        },
        "spec": scoped["spec"].clone(),
    });
    let pod_labels = json!({RUN_LABEL: run_id, ROLE_LABEL: cohort.as_str()});
    copy["spec"]["replicas"] = json!(1);
    copy["spec"]["selector"] = json!({"matchLabels": pod_labels.clone()});
    copy["spec"]["template"]["metadata"]["labels"] = pod_labels;
    if let Some(annotations) = copy["spec"]["template"]["metadata"]["annotations"].as_object_mut() {
        annotations.retain(|key, _| !is_helm_ownership(key));
    }
    copy
}

/// Whether a label or annotation key marks an object as Helm's: Helm adopts (and on upgrade deletes) what
/// carries its release annotations, and charts label what Helm manages.
pub fn is_helm_ownership(key: &str) -> bool {
    key == "app.kubernetes.io/managed-by" || key.starts_with("meta.helm.sh/")
}

/// The pod selector (`k=v,...`) of a cohort copy's pods.
pub fn copy_pod_selector(cohort: Cohort, run_id: &str) -> String {
    format!("{RUN_LABEL}={run_id},{ROLE_LABEL}={cohort}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::file::{CohortSelection, LabelSelectorScoping, ResourceKind, Scoping};
    use std::collections::BTreeMap;

    fn policy(mechanism: ScopingMechanism) -> CanaryPolicy {
        let template = |value: &str| DeploymentTemplate {
            args: vec![Template::parse("--leader-election-id={leaseName}").unwrap()],
            env: BTreeMap::from([("WATCH_LABEL_SELECTOR".to_owned(), Template::parse(value).unwrap())]),
        };
        CanaryPolicy {
            enabled: true,
            cohort_label: "operator-upgrade.dev/cohort".into(),
            baseline: true,
            cohort: CohortSelection {
                resources: vec![ResourceKind { group: "g".into(), kind: "Widget".into() }],
                selector: None,
                namespaces: vec![],
                count: Some(1),
                percentage: None,
                followers: vec![],
            },
            scoping: Scoping {
                mechanism,
                lease_name: Template::parse("{deployment}-lock").unwrap(),
                stable: DeploymentTemplate {
                    args: vec![],
                    env: BTreeMap::from([(
                        "WATCH_LABEL_SELECTOR".to_owned(),
                        Template::parse("{cohortSelector}").unwrap(),
                    )]),
                },
                baseline: template("{cohortSelector}"),
                canary: template("{cohortSelector}"),
            },
        }
    }

    fn release_deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "op", "namespace": "ops", "labels": {"app": "op"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "op"}},
                "template": {"metadata": {"labels": {"app": "op"}}, "spec": {"containers": [
                    {"name": "sidecar", "image": "s:1"},
                    {"name": "manager", "image": "op:1", "args": ["--leader-elect"],
                     "env": [{"name": "WATCH_LABEL_SELECTOR", "value": ""}, {"name": "X", "value": "1"}]}]}}}})
    }

    fn context<'a>(cohort: Cohort, deployment: &'a str) -> RenderContext<'a> {
        RenderContext { cohort, deployment, operator_namespace: "ops", namespaces: &[] }
    }

    #[test]
    fn a_copy_lease_is_the_runs_only_when_the_copy_names_it_and_the_stable_could_not_hold_it() {
        let mut canary = policy(ScopingMechanism::LabelSelector(LabelSelectorScoping::default()));
        assert_eq!(copy_lease_name(&canary, Cohort::Canary, "op-canary", "op").as_deref(), Some("op-canary-lock"));
        canary.scoping.lease_name = Template::parse("fixed-lock").unwrap();
        assert_eq!(copy_lease_name(&canary, Cohort::Canary, "op-canary", "op"), None, "the stable's name too");
        canary.scoping.lease_name = Template::parse("{deployment}-lock").unwrap();
        canary.scoping.canary = DeploymentTemplate::default();
        assert_eq!(copy_lease_name(&canary, Cohort::Canary, "op-canary", "op"), None, "the copy names no lease");
        assert_eq!(
            copy_lease_name(&canary, Cohort::Baseline, "op-baseline", "op").as_deref(),
            Some("op-baseline-lock")
        );
    }

    #[test]
    fn the_stable_deployment_excludes_both_cohorts_and_keeps_its_lease() {
        let canary = policy(ScopingMechanism::LabelSelector(LabelSelectorScoping::default()));
        let stable = scoped(&release_deployment(), "manager", &canary, &context(Cohort::Stable, "op")).unwrap();
        let manager = &stable["spec"]["template"]["spec"]["containers"][1];
        assert_eq!(
            manager["env"][0],
            json!({"name": "WATCH_LABEL_SELECTOR", "value": "operator-upgrade.dev/cohort notin (canary,baseline)"})
        );
        assert_eq!(manager["args"], json!(["--leader-elect"]));
        assert_eq!(stable["spec"]["template"]["spec"]["containers"][0], json!({"name": "sidecar", "image": "s:1"}));
    }

    #[test]
    fn an_equality_only_stable_selects_objects_marked_stable() {
        let equality = ScopingMechanism::LabelSelector(LabelSelectorScoping { syntax: SelectorSyntax::EqualityOnly });
        let canary = policy(equality);
        assert!(marks_stable(&canary));
        assert_eq!(cohort_selector(&canary, Cohort::Stable), "operator-upgrade.dev/cohort=stable");
    }

    #[test]
    fn a_cohort_copy_has_its_own_name_lease_one_replica_and_pods_no_release_service_selects() {
        let canary = policy(ScopingMechanism::LabelSelector(LabelSelectorScoping::default()));
        let name = copy_name("op", Cohort::Canary);
        let scoped = scoped(&release_deployment(), "manager", &canary, &context(Cohort::Canary, &name)).unwrap();
        let copy = cohort_copy(&scoped, &name, Cohort::Canary, "run1");
        assert_eq!(copy["metadata"]["name"], "op-canary");
        assert_eq!(copy["spec"]["replicas"], 1);
        let labels = &copy["spec"]["template"]["metadata"]["labels"];
        assert!(labels.get("app").is_none());
        assert_eq!(copy["spec"]["selector"]["matchLabels"], *labels);
        let manager = &copy["spec"]["template"]["spec"]["containers"][1];
        assert_eq!(manager["args"], json!(["--leader-elect", "--leader-election-id=op-canary-lock"]));
        assert_eq!(manager["env"][0]["value"], "operator-upgrade.dev/cohort=canary");
        assert_eq!(
            copy_pod_selector(Cohort::Canary, "run1"),
            "operator-upgrade.dev/run=run1,operator-upgrade.dev/canary-role=canary"
        );
    }

    #[test]
    fn a_cohort_copy_of_a_helm_managed_deployment_carries_no_helm_ownership() {
        let canary = policy(ScopingMechanism::LabelSelector(LabelSelectorScoping::default()));
        let mut helm = release_deployment();
        let helm_meta = json!({
            "labels": {"app": "op", "app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"meta.helm.sh/release-name": "op", "meta.helm.sh/release-namespace": "ops", "keep": "1"}});
        helm["metadata"] = json!({"name": "op", "namespace": "ops"});
        helm["metadata"].as_object_mut().unwrap().extend(helm_meta.as_object().unwrap().clone());
        helm["spec"]["template"]["metadata"] = helm_meta;
        let name = copy_name("op", Cohort::Baseline);
        let scoped = scoped(&helm, "manager", &canary, &context(Cohort::Baseline, &name)).unwrap();
        let copy = cohort_copy(&scoped, &name, Cohort::Baseline, "run1");
        let text = copy.to_string();
        assert!(!text.contains("meta.helm.sh") && !text.contains("managed-by"), "{text}");
        assert_eq!(copy["spec"]["template"]["metadata"]["annotations"], json!({"keep": "1"}));
    }

    #[test]
    fn a_missing_container_is_an_error_naming_it() {
        let canary = policy(ScopingMechanism::Namespaces);
        let error = scoped(&release_deployment(), "nope", &canary, &context(Cohort::Canary, "op-canary")).unwrap_err();
        assert!(error.contains("no container nope"), "{error}");
    }
}
