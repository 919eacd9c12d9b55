//! The inputs of a run: the plan file, both releases as plan diffs them and as apply writes them, the plan
//! with its steps, and the hash that identifies exactly this plan.

use super::desired::Release;
use super::{EngineError, Refusal};
use crate::findings::{FindingCode, Severity};
use crate::manifest::{load_side, ManifestSet};
use crate::plan::file::{ClusterPin, LoadedPlan, UpgradePlan};
use crate::plan::flow::flow_settings;
use crate::plan::Plan;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// Everything a run of one plan file needs, loaded and checked.
pub struct Upgrade {
    /// The plan file, defaults resolved.
    pub loaded: LoadedPlan,
    /// The plan: findings and steps.
    pub plan: Plan,
    /// The old release as the diff reads it (typed CRDs).
    pub old_set: ManifestSet,
    /// The new release as the diff reads it.
    pub new_set: ManifestSet,
    /// The old release as documents to write.
    pub old: Release,
    /// The new release as documents to write.
    pub new: Release,
    /// SHA-256 of the plan file and every release file (of a Helm plan: both sides as rendered), hex.
    pub hash: String,
    /// How the run goes through Helm, for a plan whose sides are Helm releases.
    pub helm: Option<super::helm_run::HelmUpgrade>,
}

impl Upgrade {
    /// Loads a plan file and both its releases; any problem is bad input naming the file.
    pub fn load(path: &Path) -> Result<Upgrade, EngineError> {
        let loaded = UpgradePlan::load(path)?;
        loaded.check_sources()?;
        if loaded.plan.spec.from.helm.is_some() {
            return Err(EngineError::BadInput(format!(
                "{}: the plan's sides are Helm releases (spec.from.helm), rendered with the cluster: this command reads plans without a cluster; `apply`, `finalize` and `plan --context` render them",
                loaded.file.display()
            )));
        }
        let namespace = loaded.operator().namespace.clone();
        let side = |p: &Path, name: &str| {
            load_side(p).map_err(|e| EngineError::BadInput(format!("cannot load the {name} release: {e}")))
        };
        let old_set = side(&loaded.from_path, "from")?;
        let new_set = side(&loaded.to_path, "to")?;
        let release = |p: &Path, name: &str| {
            Release::load(p, &namespace)
                .map_err(|e| EngineError::BadInput(format!("cannot load the {name} release: {e}")))
        };
        let old = release(&loaded.from_path, "from")?;
        let new = release(&loaded.to_path, "to")?;
        let plan = Plan::build_with(&old_set, &new_set, &flow_settings(&loaded));
        let hash = plan_hash(&loaded, &old_set, &new_set)?;
        Ok(Upgrade { loaded, plan, old_set, new_set, old, new, hash, helm: None })
    }

    /// Loads a plan file whose sides are Helm releases (`spec.from.helm`, `spec.to.helm`): both rendered as
    /// `plan` renders them, the installed side read from the cluster, the hash over the rendered text.
    /// Without Helm sides, the same as [`Upgrade::load`].
    pub async fn load_with_helm(
        path: &Path,
        helm: Option<&Path>,
        client: &kube::Client,
        connection: crate::helm::actions::Connection,
    ) -> Result<Upgrade, EngineError> {
        let loaded = UpgradePlan::load(path)?;
        if loaded.plan.spec.from.helm.is_none() {
            return Upgrade::load(path);
        }
        let (sides, run) = super::helm_run::render(&loaded, helm, client, connection).await?;
        let namespace = loaded.operator().namespace.clone();
        let release = |text: &str, name: &str| {
            Release::from_text(text, Path::new(name), &namespace)
                .map_err(|e| EngineError::BadInput(format!("cannot load the {name} release: {e}")))
        };
        let old = release(&sides.old_text, "from")?;
        let new = release(&sides.new_text, "to")?;
        let plan = Plan::build_with(&sides.old, &sides.new, &flow_settings(&loaded));
        let hash = rendered_hash(&loaded, &sides.old_text, &sides.new_text);
        Ok(Upgrade { loaded, plan, old_set: sides.old, new_set: sides.new, old, new, hash, helm: Some(run) })
    }

    /// The same upgrade without the plan's cluster pin, for `rehearse`: the pin names production and a
    /// rehearsal runs on staging. The hash stays the plan's: it identifies the files, pin included.
    pub fn unpinned(self) -> Upgrade {
        self.with_pin(None)
    }

    /// The same upgrade pinned to the cluster whose kube-system UID is `uid` (a fleet holds each cluster's
    /// pin, so one plan hash covers the fleet).
    pub fn pinned_to(self, uid: &str) -> Upgrade {
        self.with_pin(Some(ClusterPin { kube_system_uid: uid.to_owned(), name: None }))
    }

    fn with_pin(mut self, pin: Option<ClusterPin>) -> Upgrade {
        self.loaded.plan.spec.cluster = pin;
        self.plan = Plan::build_with(&self.old_set, &self.new_set, &flow_settings(&self.loaded));
        self
    }

    /// The plan's name.
    pub fn name(&self) -> &str {
        self.loaded.name()
    }

    /// The run id: the first 10 hex digits of the plan hash (names of the run's Jobs derive from it).
    pub fn run_id(&self) -> String {
        self.hash[..10].to_owned()
    }

    /// The operator's namespace.
    pub fn namespace(&self) -> &str {
        &self.loaded.operator().namespace
    }

    /// The operator Deployment's name.
    pub fn deployment(&self) -> &str {
        &self.loaded.operator().deployment
    }

    /// `(apiVersion, kind)` of every custom resource kind the new release defines, at its storage version.
    pub fn custom_resource_kinds(&self) -> Vec<(String, String)> {
        self.new.crds.values().filter_map(super::desired::kind_at_storage_version).collect()
    }

    /// `(apiVersion, kind)` at a version the old release serves (the kinds both releases share are read
    /// through it, so reading works before and after the expand).
    pub fn old_custom_resource_kinds(&self) -> Vec<(String, String)> {
        self.old
            .crds
            .values()
            .filter(|crd| self.new.crds.contains_key(crd["metadata"]["name"].as_str().unwrap_or_default()))
            .filter_map(super::desired::kind_at_storage_version)
            .collect()
    }
}

/// The hash of a Helm plan: the plan file and both sides as rendered (what the run writes).
fn rendered_hash(loaded: &LoadedPlan, old: &str, new: &str) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(loaded.text.as_bytes());
    for (side, text) in [("from", old), ("to", new)] {
        context.update(format!("\0{side}\0{}\0", text.len()).as_bytes());
        context.update(text.as_bytes());
    }
    context.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn plan_hash(loaded: &LoadedPlan, old: &ManifestSet, new: &ManifestSet) -> Result<String, EngineError> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(loaded.text.as_bytes());
    for (side, set, root) in [("from", old, &loaded.from_path), ("to", new, &loaded.to_path)] {
        for file in &set.files {
            let bytes = std::fs::read(file)
                .map_err(|e| EngineError::BadInput(format!("cannot read {}: {e}", file.display())))?;
            let relative = file.strip_prefix(root).unwrap_or(file);
            context.update(format!("\0{side}\0{}\0{}\0", relative.display(), bytes.len()).as_bytes());
            context.update(&bytes);
        }
    }
    Ok(context.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// A finding accepted with `--accept CODE[@PATH]`: every finding of the code, or only the one at the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance {
    /// The finding code.
    pub code: FindingCode,
    /// The path (`.spec.x`), when only one place is accepted.
    pub path: Option<String>,
}

impl FromStr for Acceptance {
    type Err = String;

    fn from_str(text: &str) -> Result<Acceptance, String> {
        let (code, path) = match text.split_once('@') {
            Some((code, path)) => (code, Some(path.to_owned())),
            None => (text, None),
        };
        let code =
            FindingCode::parse(code).ok_or_else(|| format!("`{code}` is not a finding code (see `plan -o json`)"))?;
        Ok(Acceptance { code, path })
    }
}

impl fmt::Display for Acceptance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}@{path}", self.code.as_str()),
            None => f.write_str(self.code.as_str()),
        }
    }
}

impl Acceptance {
    /// Whether this acceptance covers a finding with `code` at `path`.
    pub fn covers(&self, code: FindingCode, path: Option<&str>) -> bool {
        self.code == code && self.path.as_deref().is_none_or(|p| Some(p) == path)
    }
}

/// The findings at or above `threshold` that no acceptance covers, each a refusal.
pub fn unaccepted(
    findings: impl Iterator<Item = (FindingCode, Severity, Option<String>, String)>,
    threshold: Option<Severity>,
    accepted: &[Acceptance],
) -> Vec<Refusal> {
    let Some(threshold) = threshold else { return Vec::new() };
    findings
        .filter(|(_, severity, _, _)| *severity >= threshold)
        .filter(|(code, _, path, _)| !accepted.iter().any(|a| a.covers(*code, path.as_deref())))
        .map(|(code, severity, path, message)| Refusal::Finding { code, severity, path, message })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptances_parse_and_cover_their_code_and_path() {
        let all: Acceptance = "data-pruned".parse().unwrap();
        let one: Acceptance = "data-pruned@.spec.legacyMode".parse().unwrap();
        assert!(all.covers(FindingCode::DataPruned, Some(".spec.x")));
        assert!(one.covers(FindingCode::DataPruned, Some(".spec.legacyMode")));
        assert!(!one.covers(FindingCode::DataPruned, Some(".spec.x")));
        assert!("no-such-code".parse::<Acceptance>().is_err());
        assert_eq!(one.to_string(), "data-pruned@.spec.legacyMode");
    }

    #[test]
    fn only_unaccepted_findings_at_or_above_the_threshold_count() {
        let findings = || {
            vec![
                (FindingCode::DataPruned, Severity::Breaking, Some(".spec.a".to_owned()), "pruned".to_owned()),
                (FindingCode::DataPruned, Severity::Warning, Some(".spec.b".to_owned()), "pruned".to_owned()),
            ]
            .into_iter()
        };
        assert_eq!(unaccepted(findings(), Some(Severity::Breaking), &[]).len(), 1);
        assert_eq!(unaccepted(findings(), Some(Severity::Warning), &[]).len(), 2);
        assert!(unaccepted(findings(), None, &[]).is_empty());
        let accepted = ["data-pruned@.spec.a".parse().unwrap()];
        assert!(unaccepted(findings(), Some(Severity::Breaking), &accepted).is_empty());
    }
}
