//! The fleet file (`operator-upgrade fleet -f FLEET.yaml`): a versioned YAML document
//! (`apiVersion: operator-upgrade.dev/v1alpha1`, `kind: UpgradeFleet`) naming one plan and the waves of
//! clusters it is applied to, each cluster with its pinned identity, so one plan hash covers the fleet.
//!
//! ```yaml
//! apiVersion: operator-upgrade.dev/v1alpha1
//! kind: UpgradeFleet
//! metadata: {name: cert-manager-v1-19}
//! spec:
//!   plan: plans/cert-manager.yaml
//!   soak: 30m
//!   waves:
//!     - name: canary
//!       clusters: [{name: staging-eu, context: staging-eu, kubeSystemUid: 5b0c...}]
//!     - name: production
//!       maxParallel: 2
//!       clusters:
//!         - {name: prod-eu, context: prod-eu, kubeSystemUid: 9f1e...}
//!         - {name: prod-us, kubeconfig: ~/.kube/prod-us.yaml, kubeSystemUid: 77aa...}
//! ```

use crate::plan::file::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A fleet: one plan, applied wave after wave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "UpgradeFleet")]
pub struct Fleet {
    /// The fleet file format's version: `operator-upgrade.dev/v1alpha1`.
    pub api_version: FleetApiVersion,
    /// Always `UpgradeFleet`.
    pub kind: FleetKind,
    /// The fleet's name.
    pub metadata: FleetMetadata,
    /// The plan and the waves.
    pub spec: FleetSpec,
}

/// The versions of the fleet file format this tool reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum FleetApiVersion {
    /// The first version of the format.
    #[serde(rename = "operator-upgrade.dev/v1alpha1")]
    V1Alpha1,
}

/// The kind of the fleet document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum FleetKind {
    /// A fleet of clusters.
    UpgradeFleet,
}

/// Names the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FleetMetadata {
    /// The fleet's name, for messages.
    pub name: String,
}

/// The plan and where it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FleetSpec {
    /// The plan file (relative to the fleet file); it must not pin a cluster: each cluster's pin is here.
    pub plan: PathBuf,
    /// How long every cluster of a wave stays promoted before the next wave starts.
    #[serde(default = "default_soak")]
    pub soak: Duration,
    /// The waves, in order; the first is the canary cluster(s).
    pub waves: Vec<Wave>,
}

fn default_soak() -> Duration {
    Duration::from_mins(30)
}

/// Clusters upgraded together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Wave {
    /// The wave's name, for messages.
    pub name: String,
    /// At most this many clusters of the wave are upgraded at once.
    #[serde(default = "default_max_parallel")]
    pub max_parallel: u32,
    /// The wave's clusters, started in this order.
    pub clusters: Vec<FleetCluster>,
}

fn default_max_parallel() -> u32 {
    1
}

/// One cluster of the fleet: how to reach it and which cluster it must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FleetCluster {
    /// The cluster's name, for messages (unique in the fleet).
    pub name: String,
    /// The kubeconfig context (in `kubeconfig`, or the default kubeconfig).
    #[serde(default)]
    pub context: Option<String>,
    /// A kubeconfig file (relative to the fleet file).
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// The UID of the cluster's `kube-system` namespace: the run refuses any other cluster.
    pub kube_system_uid: String,
}

/// A fleet file read and checked, its paths resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedFleet {
    /// The fleet, defaults filled in.
    pub fleet: Fleet,
    /// The fleet file.
    pub file: PathBuf,
    /// The plan file, resolved against the fleet file's directory.
    pub plan_file: PathBuf,
}

/// A fleet file that cannot be used.
#[derive(Debug, Error)]
pub enum FleetFileError {
    /// The file cannot be read.
    #[error("cannot read the fleet file {}: {cause}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The file is not a fleet, or breaks a rule of one.
    #[error("{}: {}", file.display(), problems.join("; "))]
    Invalid {
        /// The file.
        file: PathBuf,
        /// What is wrong, each with its place.
        problems: Vec<String>,
    },
}

impl Fleet {
    /// Reads and checks a fleet file: unknown keys and wrong types are errors with their line, then every
    /// rule serde cannot check.
    pub fn load(path: &Path) -> Result<LoadedFleet, FleetFileError> {
        let text =
            std::fs::read_to_string(path).map_err(|cause| FleetFileError::Read { file: path.to_owned(), cause })?;
        let invalid = |problems: Vec<String>| FleetFileError::Invalid { file: path.to_owned(), problems };
        let fleet: Fleet = serde_norway::from_str(&text).map_err(|e| invalid(vec![e.to_string()]))?;
        let problems = fleet.problems();
        if !problems.is_empty() {
            return Err(invalid(problems));
        }
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        let mut fleet = fleet;
        for cluster in fleet.spec.waves.iter_mut().flat_map(|w| w.clusters.iter_mut()) {
            cluster.kubeconfig = cluster.kubeconfig.take().map(|k| dir.join(k));
        }
        Ok(LoadedFleet { plan_file: dir.join(&fleet.spec.plan), fleet, file: path.to_owned() })
    }

    /// Every rule the file breaks, each with the key path it is at.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.spec.waves.is_empty() {
            problems.push("spec.waves: a fleet needs at least one wave".to_owned());
        }
        let mut names = BTreeSet::new();
        let mut uids = BTreeSet::new();
        for (w, wave) in self.spec.waves.iter().enumerate() {
            let at = format!("spec.waves[{w}]");
            if wave.clusters.is_empty() {
                problems.push(format!("{at}.clusters: wave {} has no cluster", wave.name));
            }
            if wave.max_parallel == 0 {
                problems.push(format!("{at}.maxParallel: must be at least 1"));
            }
            for (c, cluster) in wave.clusters.iter().enumerate() {
                let at = format!("{at}.clusters[{c}]");
                if cluster.context.is_none() && cluster.kubeconfig.is_none() {
                    problems.push(format!("{at}: name a `context`, a `kubeconfig` or both"));
                }
                if !crate::plan::file::semantics::is_uid(&cluster.kube_system_uid) {
                    problems.push(format!(
                        "{at}.kubeSystemUid: `{}` is not a UID (`kubectl get ns kube-system -o jsonpath='{{.metadata.uid}}'`)",
                        cluster.kube_system_uid
                    ));
                }
                if !names.insert(cluster.name.as_str()) {
                    problems.push(format!("{at}.name: cluster {} is named twice", cluster.name));
                }
                if !uids.insert(cluster.kube_system_uid.as_str()) {
                    problems.push(format!("{at}.kubeSystemUid: {} is listed twice", cluster.kube_system_uid));
                }
            }
        }
        problems
    }
}

/// The JSON Schema of the fleet file (`operator-upgrade schema --fleet`).
pub fn fleet_file_json_schema() -> serde_json::Value {
    schemars::schema_for!(Fleet).to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.yaml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    const FLEET: &str = "apiVersion: operator-upgrade.dev/v1alpha1\nkind: UpgradeFleet\nmetadata: {name: f}\nspec:\n  plan: plan.yaml\n  soak: 5m\n  waves:\n    - name: canary\n      clusters: [{name: a, context: a, kubeSystemUid: 11111111-1111-1111-1111-111111111111}]\n    - name: rest\n      maxParallel: 2\n      clusters:\n        - {name: b, kubeconfig: b.kubeconfig, kubeSystemUid: 22222222-2222-2222-2222-222222222222}\n";

    #[test]
    fn a_fleet_reads_with_its_paths_resolved_against_the_file() {
        let (dir, path) = write(FLEET);
        let loaded = Fleet::load(&path).unwrap();
        assert_eq!(loaded.fleet.spec.waves.len(), 2);
        assert_eq!(loaded.fleet.spec.waves[0].max_parallel, 1, "one at a time unless the wave says more");
        assert_eq!(loaded.fleet.spec.soak, Duration::from_mins(5));
        let dir = std::path::absolute(dir.path()).unwrap();
        assert_eq!(loaded.plan_file, dir.join("plan.yaml"));
        assert_eq!(loaded.fleet.spec.waves[1].clusters[0].kubeconfig, Some(dir.join("b.kubeconfig")));
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let (_dir, path) = write(&FLEET.replace("maxParallel: 2", "maxParalel: 2"));
        let error = Fleet::load(&path).unwrap_err().to_string();
        assert!(error.contains("fleet.yaml") && error.contains("maxParalel") && error.contains("line 11"), "{error}");
    }

    #[test]
    fn every_broken_rule_is_named_at_its_key() {
        let broken = FLEET
            .replace("maxParallel: 2", "maxParallel: 0")
            .replace("{name: b, kubeconfig: b.kubeconfig,", "{name: a,")
            .replace("22222222-2222-2222-2222-222222222222", "prod");
        let (_dir, path) = write(&broken);
        let error = Fleet::load(&path).unwrap_err().to_string();
        for expected in [
            "spec.waves[1].maxParallel: must be at least 1",
            "spec.waves[1].clusters[0]: name a `context`, a `kubeconfig` or both",
            "spec.waves[1].clusters[0].kubeSystemUid: `prod` is not a UID",
            "spec.waves[1].clusters[0].name: cluster a is named twice",
        ] {
            assert!(error.contains(expected), "{expected} in {error}");
        }
    }

    #[test]
    fn the_schema_is_the_fleets() {
        assert_eq!(fleet_file_json_schema()["title"], "UpgradeFleet");
    }
}
