//! A plan file's `helm` sides made into what the plan diffs: the installed release read from the cluster
//! (or its chart rendered offline), the new chart rendered with the carried values, both loaded as manifest
//! sets, and the [`HelmComparison`] of the two.

use super::compare::{split_rendered, SideView};
use super::release::{current_revision, decode_release, Release, RELEASE_SECRET_TYPE};
use super::{Helm, HelmComparison, HelmError, RenderedChart, TemplateRequest};
use crate::manifest::{load_side_text, ManifestSet};
use crate::plan::file::{HelmSource, LoadedPlan, ReleaseVersion};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What `helm template` is told of the cluster it renders for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterFacts {
    /// The API server's version (`v1.34.4`).
    pub kube_version: String,
    /// Every group/version it serves.
    pub api_versions: Vec<String>,
}

/// Both sides of a Helm plan, loaded, and what Helm would change beyond them.
#[derive(Debug)]
pub struct HelmSides {
    /// The installed side.
    pub old: ManifestSet,
    /// The new side.
    pub new: ManifestSet,
    /// Values and CRD deletions.
    pub comparison: HelmComparison,
    /// Every document of the installed side, as rendered (what apply writes and the plan hash covers).
    pub old_text: String,
    /// Every document of the new side, as rendered.
    pub new_text: String,
    /// The release, chart and values the new side was rendered with: what promotion's `helm upgrade` is
    /// given.
    pub new_request: TemplateRequest,
    /// The installed revision, when the old side was read from the cluster.
    pub installed_revision: Option<u32>,
}

/// The release's name and namespace as the plan names them (the namespace defaults to the operator's).
pub fn release_of(loaded: &LoadedPlan) -> Option<(&str, &str)> {
    let helm = loaded.plan.spec.from.helm.as_ref()?;
    let namespace = helm.namespace.as_deref().unwrap_or(&loaded.operator().namespace);
    Some((helm.release.as_deref()?, namespace))
}

/// Whether the plan reads its old side from the cluster (`from.helm` without `chart`).
pub fn reads_release_from_cluster(loaded: &LoadedPlan) -> bool {
    loaded.plan.spec.from.helm.as_ref().is_some_and(|helm| helm.chart.is_none())
}

/// Reads every revision of a release and picks the one a run starts from (see [`current_revision`]).
pub async fn read_release(client: &kube::Client, name: &str, namespace: &str) -> Result<Release, HelmError> {
    current_revision(name, namespace, read_revisions(client, name, namespace).await?)
}

/// Reads every revision of a release from its release Secrets (in no particular order; none when there is
/// no release of that name).
pub async fn read_revisions(client: &kube::Client, name: &str, namespace: &str) -> Result<Vec<Release>, HelmError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(&format!("owner=helm,name={name}"));
    let secrets = api.list(&params).await.map_err(|e| HelmError::Cluster {
        what: format!("the release Secrets of {namespace}/{name}"),
        cause: e.to_string(),
    })?;
    let mut revisions = Vec::new();
    for secret in secrets.items {
        if secret.type_.as_deref() != Some(RELEASE_SECRET_TYPE) {
            continue;
        }
        let secret_name = secret.metadata.name.clone().unwrap_or_default();
        let Some(data) = secret.data.as_ref().and_then(|data| data.get("release")) else {
            return Err(HelmError::BadRelease { secret: secret_name, why: "it has no data.release".into() });
        };
        revisions.push(decode_release(&secret_name, &data.0)?);
    }
    Ok(revisions)
}

/// The cluster's version and API group/versions, for `helm template --kube-version --api-versions`.
pub async fn cluster_facts(client: &kube::Client) -> Result<ClusterFacts, HelmError> {
    let failed = |what: &str| {
        let what = what.to_owned();
        move |e: kube::Error| HelmError::Cluster { what, cause: e.to_string() }
    };
    let version = client.apiserver_version().await.map_err(failed("the API server's version"))?;
    let mut api_versions: Vec<String> =
        client.list_core_api_versions().await.map_err(failed("the core API versions"))?.versions;
    let groups = client.list_api_groups().await.map_err(failed("the API groups"))?;
    api_versions.extend(groups.groups.iter().flat_map(|g| g.versions.iter().map(|v| v.group_version.clone())));
    api_versions.sort();
    api_versions.dedup();
    Ok(ClusterFacts { kube_version: version.git_version, api_versions })
}

/// The installed release's chart version must be the plan's `from.version` when the plan names one.
pub fn check_drift(release: &Release, planned: Option<&ReleaseVersion>) -> Result<(), HelmError> {
    let Some(planned) = planned else { return Ok(()) };
    let found = ReleaseVersion::parse(&release.chart.version).ok().map(|v| v.version);
    if found.as_ref() == Some(&planned.version) {
        return Ok(());
    }
    Err(HelmError::Drift {
        release: release.name.clone(),
        namespace: release.namespace.clone(),
        revision: release.revision,
        chart: release.chart.name.clone(),
        found: release.chart.version.clone(),
        planned: planned.to_string(),
    })
}

/// Renders and loads both sides of a Helm plan. `installed` is the release read from the cluster when the
/// plan's `from.helm` has no chart; `facts` describe the cluster when there is one.
pub fn render_sides(
    loaded: &LoadedPlan,
    helm: &Helm,
    installed: Option<&Release>,
    facts: Option<&ClusterFacts>,
) -> Result<HelmSides, HelmError> {
    let spec = &loaded.plan.spec;
    let (Some(from), Some(to), Some((release, namespace))) = (&spec.from.helm, &spec.to.helm, release_of(loaded))
    else {
        return Err(HelmError::BadChart {
            chart: loaded.file.clone(),
            why: "the plan's sides are not both Helm".into(),
        });
    };
    let facts = facts.cloned().unwrap_or_default();
    let request = |chart: PathBuf, carried_values: Option<Value>, values: &HelmSource| TemplateRequest {
        release: release.to_owned(),
        namespace: namespace.to_owned(),
        chart,
        carried_values,
        values_files: values.values.iter().map(|f| loaded.resolve(f)).collect(),
        kube_version: Some(facts.kube_version.clone()).filter(|v| !v.is_empty()),
        api_versions: facts.api_versions.clone(),
    };
    let (old, old_view) = match (&from.chart, installed) {
        (Some(chart), _) => {
            let chart = loaded.resolve(chart);
            let rendered = render(helm, &request(chart.clone(), None, from), merged_values(&from.values, loaded)?)?;
            let view = SideView { chart: rendered.chart.clone(), revision: None, apply_method: None };
            (rendered, view)
        }
        (None, Some(release)) => {
            check_drift(release, spec.from.version.as_ref())?;
            let crds: Vec<&str> = release.crd_files.iter().map(|f| f.text.as_str()).collect();
            let rendered = RenderedChart {
                chart: release.chart.clone(),
                templates: release.manifest.clone(),
                crds: crds.join("\n---\n"),
                defaults: release.chart_values.clone(),
                user_values: release.config.clone(),
            };
            let view = SideView {
                chart: release.chart.clone(),
                revision: Some(release.revision),
                apply_method: release.apply_method,
            };
            (rendered, view)
        }
        (None, None) => {
            return Err(HelmError::NeedsCluster { release: release.to_owned(), namespace: namespace.to_owned() })
        }
    };
    // `reuseValues` (the default) carries the installed values, as `helm upgrade --reuse-values` does.
    let carried = (to.reuse_values != Some(false)).then(|| old.user_values.clone());
    let to_chart = loaded.resolve(to.chart.as_deref().unwrap_or(Path::new("")));
    let overrides = merged_values(&to.values, loaded)?;
    let user_values = merge(carried.clone().unwrap_or_else(empty), &overrides);
    let new_request = request(to_chart, carried, to);
    let new = render(helm, &new_request, user_values)?;
    let new_view = SideView { chart: new.chart.clone(), revision: None, apply_method: None };
    let comparison =
        HelmComparison::new(release, namespace, helm.version().to_string(), (old_view, &old), (new_view, &new));
    let load = |rendered: &RenderedChart, side: &str| {
        let name = format!(
            "{side}: chart {} {} (rendered for {namespace}/{release})",
            rendered.chart.name, rendered.chart.version
        );
        load_side_text(&rendered.all_documents(), Path::new(&name))
            .map_err(|e| HelmError::BadChart { chart: PathBuf::from(&name), why: e.to_string() })
    };
    Ok(HelmSides {
        old: load(&old, "from")?,
        new: load(&new, "to")?,
        comparison,
        old_text: old.all_documents(),
        new_text: new.all_documents(),
        new_request,
        installed_revision: installed.filter(|_| from.chart.is_none()).map(|r| r.revision),
    })
}

fn render(helm: &Helm, request: &TemplateRequest, user_values: Value) -> Result<RenderedChart, HelmError> {
    let output = helm.template(request)?;
    let (crds, templates) = split_rendered(&output);
    Ok(RenderedChart {
        chart: helm.chart_metadata(&request.chart)?,
        templates,
        crds,
        defaults: helm.default_values(&request.chart)?,
        user_values,
    })
}

fn empty() -> Value {
    Value::Object(Default::default())
}

/// The plan's values files merged in order, as helm merges `-f` files.
fn merged_values(files: &[PathBuf], loaded: &LoadedPlan) -> Result<Value, HelmError> {
    let mut merged = empty();
    for file in files {
        let path = loaded.resolve(file);
        let text =
            crate::manifest::input::read_text(&path, "values file", Some(crate::manifest::input::MAX_DOCUMENT_BYTES))
                .map_err(|e| HelmError::BadChart { chart: path.clone(), why: e.to_string() })?;
        let values: Option<Value> = serde_norway::from_str(&text).map_err(|e| HelmError::BadChart {
            chart: path.clone(),
            why: format!("the values file does not parse: {e}"),
        })?;
        merged = merge(merged, &values.unwrap_or_else(empty));
    }
    Ok(merged)
}

/// `over` merged into `base` the way helm merges values: maps key by key, anything else replaced (a `null`
/// deletes the key).
pub fn merge(mut base: Value, over: &Value) -> Value {
    let (Some(base_map), Some(over_map)) = (base.as_object_mut(), over.as_object()) else { return over.clone() };
    for (key, value) in over_map {
        if value.is_null() {
            base_map.remove(key);
            continue;
        }
        let merged = match base_map.remove(key) {
            Some(existing) if existing.is_object() && value.is_object() => merge(existing, value),
            _ => value.clone(),
        };
        base_map.insert(key.clone(), merged);
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_merge_map_by_map_and_null_deletes() {
        let merged =
            merge(json!({"a": {"b": 1, "c": 2}, "d": [1], "e": 1}), &json!({"a": {"b": 3}, "d": [2], "e": null}));
        assert_eq!(merged, json!({"a": {"b": 3, "c": 2}, "d": [2]}));
    }

    #[test]
    fn a_release_at_another_chart_version_than_the_plan_is_drift_with_the_next_step() {
        let release = Release {
            name: "rollouts".into(),
            namespace: "argo".into(),
            revision: 4,
            status: super::super::ReleaseStatus::Deployed,
            chart: super::super::ChartMetadata {
                name: "argo-rollouts".into(),
                version: "2.38.1".into(),
                app_version: None,
            },
            chart_values: json!({}),
            config: json!({}),
            manifest: String::new(),
            crd_files: vec![],
            apply_method: None,
        };
        assert!(check_drift(&release, Some(&ReleaseVersion::parse("2.38.1").unwrap())).is_ok());
        assert!(check_drift(&release, None).is_ok());
        let error = check_drift(&release, Some(&ReleaseVersion::parse("2.38.2").unwrap())).unwrap_err().to_string();
        assert!(
            error.starts_with("drift: Helm release argo/rollouts (revision 4) runs chart argo-rollouts 2.38.1"),
            "{error}"
        );
        assert!(error.contains("correct spec.from.version"), "{error}");
    }
}
