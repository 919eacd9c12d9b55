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

use crate::manifest::input::{read_text, InputError, MAX_DOCUMENT_BYTES};
use crate::plan::file::{holds_no_document, parse_strict, Duration, KeyPath, ParseFailure};
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

/// A fleet file that cannot be used; every variant names the file and, but for one that cannot be read,
/// the line.
#[derive(Debug, Error)]
pub enum FleetFileError {
    /// The file cannot be read: missing, not a regular file, too large or not UTF-8 text.
    #[error(transparent)]
    Read(#[from] InputError),
    /// The file holds nothing but comments and blank lines.
    #[error("{}:1: the fleet file is empty (it needs apiVersion, kind, metadata and spec)", file.display())]
    Empty {
        /// The file.
        file: PathBuf,
    },
    /// The YAML is malformed, or a key or value does not fit the format: an unknown, missing or repeated key,
    /// a wrong type, a bad duration.
    #[error("{0}")]
    Parse(Box<ParseFailure>),
    /// The file parses but breaks rules of a fleet.
    #[error("{}", problems_text(file, problems))]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Every rule broken, in the order of the file.
        problems: Vec<FleetProblem>,
    },
}

/// One rule of a fleet that the file breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetProblem {
    /// The key path (`spec.waves[1].maxParallel`).
    pub path: String,
    /// The 1-based line of the key, or of the closest enclosing key written in block style.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn problems_text(file: &Path, problems: &[FleetProblem]) -> String {
    let problems: Vec<crate::manifest::Problem> = problems
        .iter()
        .map(|p| crate::manifest::Problem { path: p.path.clone(), line: Some(p.line), message: p.message.clone() })
        .collect();
    crate::manifest::problems_text(file, "the fleet", &problems)
}

impl Fleet {
    /// Reads and checks a fleet file: unknown, missing or repeated keys and wrong types are errors with their
    /// line, then every rule serde cannot check, each at its key's line.
    pub fn load(path: &Path) -> Result<LoadedFleet, FleetFileError> {
        let text = read_text(path, "fleet file", Some(MAX_DOCUMENT_BYTES))?;
        if holds_no_document(&text) {
            return Err(FleetFileError::Empty { file: path.to_owned() });
        }
        let mut fleet: Fleet = parse_strict(&text, path).map_err(|mut failure| {
            // A problem of the whole document (a key missing at the top) is at its start.
            failure.line.get_or_insert(1);
            FleetFileError::Parse(failure)
        })?;
        let problems = fleet.problems(&text);
        if !problems.is_empty() {
            return Err(FleetFileError::Invalid { file: path.to_owned(), problems });
        }
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        for cluster in fleet.spec.waves.iter_mut().flat_map(|w| w.clusters.iter_mut()) {
            cluster.kubeconfig = cluster.kubeconfig.take().map(|k| dir.join(k));
        }
        Ok(LoadedFleet { plan_file: dir.join(&fleet.spec.plan), fleet, file: path.to_owned() })
    }

    /// Every rule the fleet breaks, each at its key path and that key's line in `text` (the file it was read
    /// from), in the order of the file.
    pub fn problems(&self, text: &str) -> Vec<FleetProblem> {
        let mut problems = Vec::new();
        let mut report = |path: KeyPath, message: String| {
            // A key the locator cannot follow (a document in flow style) is at the document's start.
            let line = path.line_in(text).unwrap_or(1);
            problems.push(FleetProblem { path: path.to_string(), line, message });
        };
        let waves = KeyPath::root().key("spec").key("waves");
        if self.spec.waves.is_empty() {
            report(waves.clone(), "a fleet needs at least one wave".to_owned());
        }
        let mut names = BTreeSet::new();
        let mut uids = BTreeSet::new();
        for (w, wave) in self.spec.waves.iter().enumerate() {
            let at = waves.index(w);
            if wave.clusters.is_empty() {
                report(at.key("clusters"), format!("wave {} has no cluster", wave.name));
            }
            if wave.max_parallel == 0 {
                report(at.key("maxParallel"), "must be at least 1".to_owned());
            }
            for (c, cluster) in wave.clusters.iter().enumerate() {
                let at = at.key("clusters").index(c);
                if cluster.context.is_none() && cluster.kubeconfig.is_none() {
                    report(at.clone(), "name a `context`, a `kubeconfig` or both".to_owned());
                }
                if !crate::plan::file::semantics::is_uid(&cluster.kube_system_uid) {
                    report(
                        at.key("kubeSystemUid"),
                        format!(
                            "`{}` is not a UID (`kubectl get ns kube-system -o jsonpath='{{.metadata.uid}}'`)",
                            cluster.kube_system_uid
                        ),
                    );
                }
                if !names.insert(cluster.name.as_str()) {
                    report(at.key("name"), format!("cluster {} is named twice", cluster.name));
                }
                if !uids.insert(cluster.kube_system_uid.as_str()) {
                    report(at.key("kubeSystemUid"), format!("{} is listed twice", cluster.kube_system_uid));
                }
            }
        }
        problems.sort_by_key(|problem| problem.line);
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
        assert!(error.contains("fleet.yaml:11:7: spec.waves[1].maxParalel: unknown key `maxParalel`"), "{error}");
        assert!(error.ends_with("did you mean `maxParallel`?"), "{error}");
    }

    #[test]
    fn a_missing_or_repeated_top_level_key_is_named_with_its_line() {
        let (_dir, path) = write(&FLEET.replace("kind: UpgradeFleet\n", ""));
        let error = Fleet::load(&path).unwrap_err().to_string();
        assert!(error.contains("fleet.yaml:1:1: missing field `kind`"), "{error}");
        let (_dir, path) = write(&format!("{FLEET}kind: UpgradeFleet\n"));
        let error = Fleet::load(&path).unwrap_err().to_string();
        assert!(error.contains("fleet.yaml:14: duplicate field `kind`"), "{error}");
        let (_dir, path) = write(&FLEET.replace("  soak: 5m\n", "  soak: 5m\n  soak: 6m\n"));
        let error = Fleet::load(&path).unwrap_err().to_string();
        assert!(error.contains("fleet.yaml:7: spec: duplicate field `soak`"), "{error}");
        let (_dir, path) = write("# nothing yet\n");
        let error = Fleet::load(&path).unwrap_err().to_string();
        assert!(error.contains("fleet.yaml:1: the fleet file is empty"), "{error}");
    }

    #[test]
    fn every_broken_rule_is_named_at_its_key() {
        let broken = FLEET
            .replace("maxParallel: 2", "maxParallel: 0")
            .replace("{name: b, kubeconfig: b.kubeconfig,", "{name: a,")
            .replace("22222222-2222-2222-2222-222222222222", "prod");
        let (_dir, path) = write(&broken);
        let error = Fleet::load(&path).unwrap_err().to_string();
        assert!(error.starts_with(&format!("{}: 4 problems in the fleet:\n", path.display())), "{error}");
        // Keys inside a flow mapping are placed at its list item's line.
        for expected in [
            "fleet.yaml:11: spec.waves[1].maxParallel: must be at least 1",
            "fleet.yaml:13: spec.waves[1].clusters[0]: name a `context`, a `kubeconfig` or both",
            "fleet.yaml:13: spec.waves[1].clusters[0].kubeSystemUid: `prod` is not a UID",
            "fleet.yaml:13: spec.waves[1].clusters[0].name: cluster a is named twice",
        ] {
            assert!(error.contains(expected), "{expected} in {error}");
        }
        let (_dir, path) = write(&FLEET.replace("  waves:\n", "  waves: []\n  wavez:\n"));
        let error = Fleet::load(&path).unwrap_err().to_string();
        assert!(error.contains("fleet.yaml:8:3: spec.wavez: unknown key `wavez`"), "{error}");
        let no_waves = FLEET.split("  waves:").next().unwrap().to_owned() + "  waves: []\n";
        let (_dir, path) = write(&no_waves);
        let error = Fleet::load(&path).unwrap_err().to_string();
        assert!(error.ends_with("fleet.yaml:7: spec.waves: a fleet needs at least one wave"), "{error}");
    }

    #[test]
    fn the_schema_is_the_fleets() {
        assert_eq!(fleet_file_json_schema()["title"], "UpgradeFleet");
    }
}
