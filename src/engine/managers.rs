//! Other tools that manage the operator Deployment and would fight the run (Helm, OLM, Argo CD, Flux), told
//! from its labels, annotations, owners and field managers: a pure judgement of the live object and the plan.
//!
//! A Helm release is accepted when the plan names it (`spec.from.helm.release`): the upgrade then goes through
//! Helm and Helm's record stays coherent. Argo CD and Flux revert the run unless paused, so they are refused
//! naming exactly the Application, Kustomization or HelmRelease to pause, and the command that pauses it.

use super::preflight::OtherManager;
use serde_json::Value;
use std::collections::BTreeSet;

/// Helm's annotation naming the release that owns an object (Helm 3.2+ adoption metadata).
pub const HELM_RELEASE_NAME: &str = "meta.helm.sh/release-name";
/// Helm's annotation naming the release's namespace.
pub const HELM_RELEASE_NAMESPACE: &str = "meta.helm.sh/release-namespace";
/// The label Helm charts put on what Helm manages.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// A tool that manages the object, with what names it where the object says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Manager {
    /// A Helm release (its name and namespace when the object's annotations say).
    Helm { release: Option<String>, namespace: Option<String> },
    /// OLM (a Subscription and its ClusterServiceVersion).
    Olm,
    /// An Argo CD Application (its name, and its namespace when apps live outside Argo CD's own).
    ArgoCd { application: Option<String>, namespace: Option<String> },
    /// A Flux Kustomization or HelmRelease.
    Flux { object: Option<FluxObject> },
}

/// The Flux object that applies the operator, as its labels name it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FluxObject {
    /// `kustomization` or `helmrelease` (as `flux suspend` names them).
    kind: &'static str,
    name: String,
    namespace: Option<String>,
}

impl Manager {
    fn field_managers(&self) -> &'static [&'static str] {
        match self {
            Manager::Helm { .. } => &["helm"],
            Manager::Olm => &["catalog-operator", "olm"],
            Manager::ArgoCd { .. } => &["argocd-controller", "argocd-application-controller"],
            Manager::Flux { .. } => &["kustomize-controller", "helm-controller"],
        }
    }

    fn same_tool(&self, other: &Manager) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    fn refusal(&self) -> OtherManager {
        let (who, resolution) = match self {
            Manager::Helm { release, namespace } => helm_refusal(release.as_deref(), namespace.as_deref()),
            Manager::Olm => (
                "OLM manages the operator Deployment (a Subscription/ClusterServiceVersion) and reverts any change".to_owned(),
                "set `spec.installPlanApproval: Manual` on its Subscription and upgrade through OLM, or remove the Subscription first".to_owned(),
            ),
            Manager::ArgoCd { application, namespace } => argo_refusal(application.as_deref(), namespace.as_deref()),
            Manager::Flux { object } => flux_refusal(object.as_ref()),
        };
        OtherManager { who, resolution }
    }
}

fn helm_refusal(release: Option<&str>, namespace: Option<&str>) -> (String, String) {
    let who = match (release, namespace) {
        (Some(release), Some(namespace)) => {
            format!("Helm release {namespace}/{release} manages the operator Deployment")
        }
        (Some(release), None) => format!("Helm release {release} manages the operator Deployment"),
        _ => "a Helm release manages the operator Deployment".to_owned(),
    };
    let name = release.unwrap_or("RELEASE");
    let resolution = format!(
        "upgrade through Helm: name the release in the plan file (`spec.from.helm: {{release: {name}}}` and `spec.to.helm: {{chart: ...}}`); or, to leave Helm's record behind, name the field manager `helm` in spec.takeOwnershipFrom"
    );
    (who, resolution)
}

fn argo_refusal(application: Option<&str>, namespace: Option<&str>) -> (String, String) {
    let Some(app) = application else {
        return (
            "an Argo CD Application manages the operator Deployment".to_owned(),
            "pause the Application that syncs it (annotate it `argocd.argoproj.io/skip-reconcile=true`, or turn its automated sync off), then name its field manager (argocd-controller) in spec.takeOwnershipFrom of the plan file".to_owned(),
        );
    };
    let namespace = namespace.unwrap_or("argocd");
    (
        format!("Argo CD Application {namespace}/{app} manages the operator Deployment and syncs it back"),
        format!(
            "pause Application {app} for the run: `kubectl annotate application {app} -n {namespace} argocd.argoproj.io/skip-reconcile=true` (or turn its automated sync and self-heal off: `argocd app set {app} --sync-policy none`), then name its field manager (argocd-controller) in spec.takeOwnershipFrom of the plan file"
        ),
    )
}

fn flux_refusal(object: Option<&FluxObject>) -> (String, String) {
    let Some(object) = object else {
        return (
            "a Flux Kustomization or HelmRelease manages the operator Deployment".to_owned(),
            "suspend it (`flux suspend`), then name its field manager in spec.takeOwnershipFrom of the plan file"
                .to_owned(),
        );
    };
    let (kind, controller) = match object.kind {
        "helmrelease" => ("HelmRelease", "helm-controller"),
        _ => ("Kustomization", "kustomize-controller"),
    };
    let namespace = object.namespace.as_deref().unwrap_or("flux-system");
    (
        format!("Flux {kind} {namespace}/{} manages the operator Deployment and applies it back", object.name),
        format!(
            "suspend it for the run: `flux suspend {} {} -n {namespace}` (`flux resume` after), then name its field manager ({controller}) in spec.takeOwnershipFrom of the plan file",
            object.kind, object.name
        ),
    )
}

/// What the object's metadata says manages it (each tool once).
fn detect(object: &Value) -> Vec<Manager> {
    let meta = &object["metadata"];
    let label = |k: &str| meta["labels"][k].as_str().map(str::to_owned);
    let annotation = |k: &str| meta["annotations"][k].as_str().map(str::to_owned);
    let mut found = Vec::new();
    if label(MANAGED_BY).as_deref() == Some("Helm") || annotation(HELM_RELEASE_NAME).is_some() {
        found.push(Manager::Helm {
            release: annotation(HELM_RELEASE_NAME),
            namespace: annotation(HELM_RELEASE_NAMESPACE),
        });
    }
    let owned_by_csv =
        meta["ownerReferences"].as_array().is_some_and(|o| o.iter().any(|r| r["kind"] == "ClusterServiceVersion"));
    if owned_by_csv
        || label("olm.owner").is_some()
        || meta["labels"].as_object().is_some_and(|l| l.keys().any(|k| k.starts_with("operators.coreos.com/")))
    {
        found.push(Manager::Olm);
    }
    let tracking = annotation("argocd.argoproj.io/tracking-id");
    if let Some(app) = label("argocd.argoproj.io/instance").or_else(|| tracking.as_deref().map(application_of)) {
        // Applications outside Argo CD's namespace are tracked as `<namespace>_<name>`.
        let (namespace, application) = match app.split_once('_') {
            Some((namespace, name)) => (Some(namespace.to_owned()), name.to_owned()),
            None => (None, app),
        };
        found.push(Manager::ArgoCd { application: Some(application), namespace });
    }
    for (kind, prefix) in [("kustomization", "kustomize"), ("helmrelease", "helm")] {
        if let Some(name) = label(&format!("{prefix}.toolkit.fluxcd.io/name")) {
            let namespace = label(&format!("{prefix}.toolkit.fluxcd.io/namespace"));
            found.push(Manager::Flux { object: Some(FluxObject { kind, name, namespace }) });
            break;
        }
    }
    let field_managers: BTreeSet<&str> = meta["managedFields"]
        .as_array()
        .map(|m| m.iter().filter_map(|e| e["manager"].as_str()).collect())
        .unwrap_or_default();
    let unnamed = [
        Manager::Helm { release: None, namespace: None },
        Manager::Olm,
        Manager::ArgoCd { application: None, namespace: None },
        Manager::Flux { object: None },
    ];
    for manager in unnamed {
        let seen = manager.field_managers().iter().any(|m| field_managers.contains(m));
        if seen && !found.iter().any(|f| f.same_tool(&manager)) {
            found.push(manager);
        }
    }
    found
}

/// The Application of an Argo CD tracking id (`<app>:<group>/<kind>:<namespace>/<name>`).
fn application_of(tracking_id: &str) -> String {
    tracking_id.split_once(':').map_or(tracking_id, |(app, _)| app).to_owned()
}

/// Whether the plan's Helm release (`(name, namespace)`) is the one managing the object: then the run goes
/// through Helm and Helm is no foreign manager. An object whose annotations name another release is not.
fn is_the_plans_release(manager: &Manager, plan_release: Option<(&str, &str)>) -> bool {
    let (Manager::Helm { release, namespace }, Some((name, plan_namespace))) = (manager, plan_release) else {
        return false;
    };
    release.as_deref().is_none_or(|r| r == name) && namespace.as_deref().is_none_or(|n| n == plan_namespace)
}

/// The tools managing `object` that the plan does not let the run work with: not the Helm release the plan
/// names, nor a manager whose field manager the plan lets the run take fields over from (except OLM, which
/// reverts whatever the run does).
pub fn foreign_managers(object: &Value, allowed: &[String], plan_release: Option<(&str, &str)>) -> Vec<OtherManager> {
    detect(object)
        .into_iter()
        .filter(|m| !is_the_plans_release(m, plan_release))
        .filter(|m| *m == Manager::Olm || !m.field_managers().iter().any(|f| allowed.iter().any(|a| a == f)))
        .map(|m| wrong_release_or_refusal(&m, plan_release))
        .collect()
}

/// A Helm release other than the plan's says so, naming both; any other manager its own refusal.
fn wrong_release_or_refusal(manager: &Manager, plan_release: Option<(&str, &str)>) -> OtherManager {
    match (manager, plan_release) {
        (Manager::Helm { release, namespace }, Some((name, plan_namespace))) => {
            let live = format!(
                "{}/{}",
                namespace.as_deref().unwrap_or(plan_namespace),
                release.as_deref().unwrap_or("(unnamed)")
            );
            OtherManager {
                who: format!("Helm release {live} manages the operator Deployment, not the release the plan names ({plan_namespace}/{name})"),
                resolution: format!("correct spec.from.helm.release and namespace to {live} (`helm list -A` lists the releases)"),
            }
        }
        _ => manager.refusal(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn helm_deployment(release: &str, namespace: &str) -> Value {
        json!({"metadata": {
            "labels": {MANAGED_BY: "Helm"},
            "annotations": {HELM_RELEASE_NAME: release, HELM_RELEASE_NAMESPACE: namespace},
            "managedFields": [{"manager": "helm"}]}})
    }

    #[test]
    fn every_manager_is_told_what_to_do_with_a_command_or_a_field_of_the_plan_file() {
        for object in [
            helm_deployment("demo", "ops"),
            json!({"metadata": {"ownerReferences": [{"kind": "ClusterServiceVersion"}]}}),
            json!({"metadata": {"managedFields": [{"manager": "argocd-controller"}]}}),
            json!({"metadata": {"managedFields": [{"manager": "kustomize-controller"}]}}),
        ] {
            let found = foreign_managers(&object, &[], None);
            assert_eq!(found.len(), 1, "{object}");
            let resolution = &found[0].resolution;
            assert!(resolution.contains("spec.") || resolution.contains('`'), "{resolution}");
        }
    }

    #[test]
    fn the_helm_release_the_plan_names_is_accepted_and_another_is_refused_naming_both() {
        let deployment = helm_deployment("demo", "ops");
        assert!(foreign_managers(&deployment, &[], Some(("demo", "ops"))).is_empty());
        let other = foreign_managers(&deployment, &[], Some(("other", "ops")));
        assert_eq!(other.len(), 1);
        assert!(other[0].who.contains("ops/demo") && other[0].who.contains("ops/other"), "{:?}", other[0]);
        assert!(other[0].resolution.contains("spec.from.helm.release"), "{:?}", other[0]);
        // A chart's label alone (no adoption annotations) is the plan's release too.
        let labelled = json!({"metadata": {"labels": {MANAGED_BY: "Helm"}}});
        assert!(foreign_managers(&labelled, &[], Some(("demo", "ops"))).is_empty());
    }

    #[test]
    fn without_a_release_in_the_plan_helm_is_refused_saying_how_to_name_it() {
        let found = foreign_managers(&helm_deployment("demo", "ops"), &[], None);
        assert_eq!(found[0].who, "Helm release ops/demo manages the operator Deployment");
        assert!(found[0].resolution.contains("spec.from.helm: {release: demo}"), "{}", found[0].resolution);
        assert!(foreign_managers(&helm_deployment("demo", "ops"), &["helm".into()], None).is_empty());
    }

    #[test]
    fn argo_cd_is_refused_naming_the_application_to_pause() {
        let tracked = json!({"metadata": {"annotations": {
            "argocd.argoproj.io/tracking-id": "team_ops-operator:apps/Deployment:ops/demo"}}});
        let found = foreign_managers(&tracked, &[], Some(("demo", "ops")));
        assert_eq!(found.len(), 1);
        assert!(found[0].who.contains("Application team/ops-operator"), "{}", found[0].who);
        assert!(
            found[0]
                .resolution
                .contains("kubectl annotate application ops-operator -n team argocd.argoproj.io/skip-reconcile=true"),
            "{}",
            found[0].resolution
        );
        let labelled = json!({"metadata": {"labels": {"argocd.argoproj.io/instance": "ops-operator"}}});
        assert!(foreign_managers(&labelled, &[], None)[0].who.contains("argocd/ops-operator"));
        assert!(foreign_managers(&labelled, &["argocd-controller".into()], None).is_empty());
    }

    #[test]
    fn a_flux_helm_release_is_refused_even_when_the_plan_names_the_helm_release() {
        let mut deployment = helm_deployment("demo", "ops");
        deployment["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] = json!("demo");
        deployment["metadata"]["labels"]["helm.toolkit.fluxcd.io/namespace"] = json!("flux-apps");
        let found = foreign_managers(&deployment, &[], Some(("demo", "ops")));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].who, "Flux HelmRelease flux-apps/demo manages the operator Deployment and applies it back");
        assert!(
            found[0].resolution.contains("`flux suspend helmrelease demo -n flux-apps`"),
            "{}",
            found[0].resolution
        );
        let kustomized = json!({"metadata": {"labels": {"kustomize.toolkit.fluxcd.io/name": "apps"}}});
        assert!(foreign_managers(&kustomized, &[], None)[0]
            .resolution
            .contains("`flux suspend kustomization apps -n flux-system`"));
    }

    #[test]
    fn olm_is_refused_even_when_its_manager_is_named_and_a_plain_object_is_not() {
        let olm = json!({"metadata": {"ownerReferences": [{"kind": "ClusterServiceVersion"}]}});
        assert!(foreign_managers(&olm, &["olm".into()], None)[0].who.contains("OLM"));
        let plain = json!({"metadata": {"managedFields": [{"manager": "kubectl-client-side-apply"}]}});
        assert!(foreign_managers(&plain, &[], None).is_empty());
    }
}
