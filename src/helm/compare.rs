//! What an upgrade through Helm changes beyond the manifests, decided from both sides as rendered: the
//! charts' default values, the user's values the new chart no longer reads, and the CRDs `helm upgrade`
//! would delete (a CRD templated by the old chart and absent from the new one's templates, not kept by
//! `helm.sh/resource-policy: keep`: deleting it deletes every object of it).

use super::values::{default_changes, unread_values, DefaultChange, UnreadValue};
use super::{ApplyMethod, ChartMetadata};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The annotation that makes Helm leave an object in place when a release stops rendering it.
pub const RESOURCE_POLICY_ANNOTATION: &str = "helm.sh/resource-policy";

/// One side of a Helm upgrade, rendered: the objects Helm manages (`templates/`), the chart's `crds/`
/// (which Helm installs once and never upgrades or deletes), the chart's defaults and the user's values.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedChart {
    /// The chart.
    pub chart: ChartMetadata,
    /// The rendered templates: what the release's manifest holds.
    pub templates: String,
    /// The chart's `crds/` documents.
    pub crds: String,
    /// The chart's default values.
    pub defaults: Value,
    /// The values the user set (for the new side: what it is rendered with on top of its defaults).
    pub user_values: Value,
}

impl RenderedChart {
    /// Every document of the side, `crds/` first: what the plan diffs.
    pub fn all_documents(&self) -> String {
        format!("{}\n---\n{}", self.crds, self.templates)
    }
}

/// Splits `helm template --include-crds` output into the `crds/` documents and the rendered templates, by
/// the `# Source: CHART/PATH` comment helm writes before each document (`crds/` of the chart or of a
/// subchart under `charts/`).
pub fn split_rendered(output: &str) -> (String, String) {
    let (mut crds, mut templates) = (String::new(), String::new());
    for document in documents(output) {
        let source = document.lines().find_map(|line| line.strip_prefix("# Source: ")).unwrap_or_default();
        let target = if is_crds_file(source) { &mut crds } else { &mut templates };
        target.push_str("---\n");
        target.push_str(document.trim_start_matches('\n'));
        if !document.ends_with('\n') {
            target.push('\n');
        }
    }
    (crds, templates)
}

fn is_crds_file(source: &str) -> bool {
    // CHART/crds/FILE, or CHART/charts/SUB/crds/FILE for a subchart (at any depth).
    let mut rest = source.split_once('/').map_or("", |(_, rest)| rest);
    loop {
        if rest.starts_with("crds/") {
            return true;
        }
        match rest.strip_prefix("charts/").and_then(|sub| sub.split_once('/')) {
            Some((_, inner)) => rest = inner,
            None => return false,
        }
    }
}

/// The documents of a multi-document YAML text, split at `---` lines.
fn documents(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            out.push(&text[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    out.push(&text[start..]);
    out.into_iter().filter(|d| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))).collect()
}

/// Which side of the upgrade a chart and release is, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SideView {
    /// The chart.
    pub chart: ChartMetadata,
    /// The release revision, when the side was read from the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    /// How the release was applied, when read from the cluster (None there: Helm 3, client-side).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_method: Option<ApplyMethod>,
}

/// What the plan shows of an upgrade through Helm, beside the manifest diff.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmComparison {
    /// The release's name.
    pub release: String,
    /// Its namespace.
    pub namespace: String,
    /// The version of helm that rendered the charts.
    pub helm_version: String,
    /// The installed side.
    pub from: SideView,
    /// The new side.
    pub to: SideView,
    /// Default values that differ between the charts.
    pub default_changes: Vec<DefaultChange>,
    /// Values the user set that the new chart no longer reads (warnings: the setting is silently dropped).
    pub unread_values: Vec<UnreadValue>,
    /// CRDs `helm upgrade` to the new chart would delete, with every object of them: the plan is refused.
    pub deleted_crds: Vec<String>,
}

impl HelmComparison {
    /// Compares two rendered sides of `release` in `namespace`.
    pub fn new(
        release: &str,
        namespace: &str,
        helm_version: String,
        from: (SideView, &RenderedChart),
        to: (SideView, &RenderedChart),
    ) -> HelmComparison {
        let (old, new) = (from.1, to.1);
        HelmComparison {
            release: release.to_owned(),
            namespace: namespace.to_owned(),
            helm_version,
            default_changes: default_changes(&old.defaults, &new.defaults),
            unread_values: unread_values(&new.user_values, &old.defaults, &new.defaults),
            deleted_crds: crds_helm_would_delete(&old.templates, &new.templates),
            from: from.0,
            to: to.0,
        }
    }

    /// The severities these count for the verdict and `--fail-on`: a CRD Helm would delete is a blocker, a
    /// value the new chart no longer reads a warning; changed defaults are the charts' own business.
    pub fn severities(&self) -> impl Iterator<Item = crate::findings::Severity> + '_ {
        use crate::findings::Severity;
        let blockers = self.deleted_crds.iter().map(|_| Severity::Blocker);
        blockers.chain(self.unread_values.iter().map(|_| Severity::Warning))
    }

    /// Why `apply` must not run this upgrade through Helm, each with what to do instead.
    pub fn refusals(&self) -> Vec<String> {
        self.deleted_crds
            .iter()
            .map(|name| format!(
                "helm upgrade would delete CRD {name}, and with it every object of it: chart {} {} templates it and chart {} {} does not, and it is not annotated {RESOURCE_POLICY_ANNOTATION}: keep. Annotate the live CRD with `kubectl annotate crd {name} {RESOURCE_POLICY_ANNOTATION}=keep` and add the annotation to the old release (helm upgrade to the same chart), or keep the CRD in the new chart",
                self.from.chart.name, self.from.chart.version, self.to.chart.name, self.to.chart.version
            ))
            .collect()
    }
}

#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<HeadMetadata>,
}

#[derive(Deserialize)]
struct HeadMetadata {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    annotations: Option<std::collections::BTreeMap<String, Value>>,
}

/// `(name, kept)` of every CRD among the documents (documents that do not parse are left to the manifest
/// loader, which names them).
fn crds_of(templates: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for document in serde_norway::Deserializer::from_str(templates) {
        let Ok(Some(head)) = <Option<Head>>::deserialize(document) else { continue };
        if head.kind.as_deref() != Some("CustomResourceDefinition") {
            continue;
        }
        let Some(metadata) = head.metadata else { continue };
        let Some(name) = metadata.name else { continue };
        let kept = metadata
            .annotations
            .and_then(|a| a.get(RESOURCE_POLICY_ANNOTATION).and_then(|v| v.as_str().map(str::to_owned)))
            .is_some_and(|policy| policy == "keep");
        out.push((name, kept));
    }
    out
}

/// The CRDs the old release's templates hold, the new one's do not, and nothing keeps: `helm upgrade`
/// deletes them (a CRD the new chart moved into `crds/` counts: Helm deletes it from the release all the same).
pub fn crds_helm_would_delete(old_templates: &str, new_templates: &str) -> Vec<String> {
    let new: Vec<String> = crds_of(new_templates).into_iter().map(|(name, _)| name).collect();
    let mut deleted: Vec<String> = crds_of(old_templates)
        .into_iter()
        .filter(|(name, kept)| !kept && !new.contains(name))
        .map(|(n, _)| n)
        .collect();
    deleted.sort();
    deleted.dedup();
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDERED: &str = "---\n# Source: demo/crds/widgets.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n---\n# Source: demo/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: demo\n---\n# Source: demo/charts/sub/crds/gadgets.yaml\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.example.com\n---\n# Source: demo/templates/crds/things.yaml\nkind: CustomResourceDefinition\nmetadata:\n  name: things.example.com\n";

    #[test]
    fn helm_template_output_splits_into_crds_files_and_templates_by_source() {
        let (crds, templates) = split_rendered(RENDERED);
        assert!(crds.contains("widgets.example.com") && crds.contains("gadgets.example.com"), "{crds}");
        assert!(!crds.contains("things.example.com") && !crds.contains("Deployment"), "{crds}");
        assert!(templates.contains("things.example.com") && templates.contains("kind: Deployment"), "{templates}");
        assert_eq!(templates.matches("---\n").count(), 2, "{templates}");
    }

    fn crd(name: &str, keep: bool) -> String {
        let annotations = if keep { "\n  annotations:\n    helm.sh/resource-policy: keep" } else { "" };
        format!("---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {name}{annotations}\n")
    }

    #[test]
    fn a_templated_crd_the_new_chart_drops_is_deleted_unless_kept() {
        let old = [crd("a.example.com", false), crd("b.example.com", true), crd("c.example.com", false)].concat();
        let new = crd("c.example.com", false);
        assert_eq!(crds_helm_would_delete(&old, &new), vec!["a.example.com".to_owned()]);
        assert!(crds_helm_would_delete(&new, &new).is_empty());
    }
}
