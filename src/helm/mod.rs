//! Operators installed with Helm: the installed release read from its release record, both charts rendered
//! by the `helm` binary, and what an upgrade through Helm would change beyond the manifests (default values,
//! values the new chart no longer reads, CRDs Helm would delete).
//!
//! [`release`] decodes release records without helm; [`binary`] runs helm; [`values`] and [`compare`] are pure
//! decisions over what those read; [`side`] ties a plan file's `helm` sides to them.

pub mod actions;
pub mod binary;
pub mod compare;
pub mod post_render;
pub mod release;
pub mod side;
pub mod values;

pub use binary::{Helm, TemplateRequest, MIN_HELM};
pub use compare::{HelmComparison, RenderedChart};
pub use release::{decode_release, ApplyMethod, ChartMetadata, Release, ReleaseStatus};

use std::path::PathBuf;
use thiserror::Error;

/// Why a Helm side could not be read or rendered. Each message says what to do next.
#[derive(Debug, Error)]
pub enum HelmError {
    /// No helm binary on PATH, or the one given does not run.
    #[error("{}: {}", match tried { Some(path) => format!("cannot run helm at {}", path.display()), None => "no helm on PATH".to_owned() }, binary::INSTALL_HINT)]
    Missing {
        /// The path given with `--helm`, if any.
        tried: Option<PathBuf>,
    },
    /// The helm binary is older than [`MIN_HELM`] (or does not say its version).
    #[error("{} is helm {found:?}; the tool needs at least {MIN_HELM}: {}", path.display(), binary::INSTALL_HINT)]
    TooOld {
        /// The binary.
        path: PathBuf,
        /// What `helm version` printed.
        found: String,
    },
    /// A helm command failed.
    #[error("`{command}` failed: {stderr}")]
    Failed {
        /// The command, as run.
        command: String,
        /// What helm printed on standard error.
        stderr: String,
    },
    /// A local file or directory could not be written or read.
    #[error("{what}: {cause}")]
    Io {
        /// What was being written or run.
        what: String,
        /// The OS error.
        cause: std::io::Error,
    },
    /// A release Secret does not hold a Helm release.
    #[error("Secret {secret} does not hold a readable Helm release: {why}")]
    BadRelease {
        /// The Secret's name.
        secret: String,
        /// What is wrong.
        why: String,
    },
    /// A chart's files do not read.
    #[error("chart {}: {why}", chart.display())]
    BadChart {
        /// The chart.
        chart: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The release has no revision at all.
    #[error("no Helm release {release} in namespace {namespace} (no Secret of type helm.sh/release.v1 labelled name={release}): check spec.from.helm.release and namespace against `helm list -n {namespace}`")]
    NoRelease {
        /// The release's name.
        release: String,
        /// Its namespace.
        namespace: String,
    },
    /// The latest revision is pending: Helm is mid-operation, or was killed in one.
    #[error("Helm release {namespace}/{release} is {} at revision {revision}: a helm install, upgrade or rollback is under way or was killed. Wait for it to finish; if no helm is running any more, recover the release as Helm documents (`helm rollback {release} -n {namespace}` to its last deployed revision), then plan again", status.as_str())]
    Pending {
        /// The release's name.
        release: String,
        /// Its namespace.
        namespace: String,
        /// The pending revision.
        revision: u32,
        /// Its status.
        status: ReleaseStatus,
    },
    /// No revision of the release is deployed.
    #[error("Helm release {namespace}/{release} has no deployed revision (the latest is {}): repair it with helm (`helm history {release} -n {namespace}`, then `helm rollback` or `helm upgrade`) before upgrading it", status.as_str())]
    NotDeployed {
        /// The release's name.
        release: String,
        /// Its namespace.
        namespace: String,
        /// The latest revision's status.
        status: ReleaseStatus,
    },
    /// The release runs another chart version than the plan's `from.version`.
    #[error("drift: Helm release {namespace}/{release} (revision {revision}) runs chart {chart} {found}, but spec.from.version says {planned}: correct spec.from.version (and the plan's releases) to what is installed, or bring the release to {planned} with helm first")]
    Drift {
        /// The release's name.
        release: String,
        /// Its namespace.
        namespace: String,
        /// The deployed revision.
        revision: u32,
        /// The chart's name.
        chart: String,
        /// The chart version the release runs.
        found: String,
        /// The version the plan names.
        planned: String,
    },
    /// The plan reads the installed release from the cluster, and no cluster was given.
    #[error("spec.from.helm names release {namespace}/{release} without a chart, so the installed release is read from the cluster: give --context or --kubeconfig, or from.helm.chart and values for a plan without a cluster")]
    NeedsCluster {
        /// The release's name.
        release: String,
        /// Its namespace.
        namespace: String,
    },
    /// The release or cluster could not be read.
    #[error("cannot read {what} from the cluster: {cause}")]
    Cluster {
        /// What was being read.
        what: String,
        /// The API error.
        cause: String,
    },
}
