//! Talking to a cluster: connecting as kubectl does, the cluster's identity, reading and writing objects of
//! any kind (server-side apply under the field manager `operator-upgrade`, with retries for transient
//! errors), the journal's storage and the operator's Lease.
//!
//! Everything here is I/O in small functions; the decisions that use what they observe live in `engine/`.

pub mod fault_point;
pub mod journal_chunks;
pub mod journal_store;
pub mod objects;
pub mod operator_lock;
pub mod retry;

use std::path::PathBuf;
use thiserror::Error;

pub use objects::{ObjectKey, Objects};

/// The field manager of every write the tool makes.
pub const FIELD_MANAGER: &str = "operator-upgrade";

/// The User-Agent of every request the tool sends.
pub const USER_AGENT: &str = concat!("operator-upgrade/", env!("CARGO_PKG_VERSION"));

/// How to reach the cluster: `--kubeconfig`, `--context` and `KUBECONFIG` exactly as kubectl reads them, and
/// the in-cluster service account when run in a pod without either.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArgs {
    /// The kubeconfig file (default: `KUBECONFIG`, then `~/.kube/config`, then the in-cluster service account).
    #[arg(long, value_name = "PATH", global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, value_name = "NAME", global = true)]
    pub context: Option<String>,
}

/// What can go wrong talking to the cluster.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// The kubeconfig could not be read or used.
    // The cause is in the message and not also a `source`, so `{:#}` chains do not print it twice.
    #[error("cannot use the kubeconfig{}: {cause}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Kubeconfig {
        /// The file, when one was named.
        path: Option<PathBuf>,
        /// Why.
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An API request failed (after its retries).
    #[error("{what}: {cause}")]
    Api {
        /// The request, in words.
        what: String,
        /// The client's error.
        cause: kube::Error,
    },
    /// The cluster answered with something the tool cannot use.
    #[error("{0}")]
    Unexpected(String),
    /// The temporary file keeping every finding of the objects listed (`--each`) cannot be written.
    #[error("cannot keep the findings in a temporary file (--each): {0}")]
    Spool(std::io::Error),
}

impl ClusterError {
    /// An API error, named by what was being done.
    pub fn api(what: impl Into<String>, source: kube::Error) -> ClusterError {
        ClusterError::Api { what: what.into(), cause: source }
    }

    /// What a person does about it next, when the error says enough to tell.
    pub fn next_step(&self) -> Option<&'static str> {
        match self {
            ClusterError::Kubeconfig { .. } => Some(
                "name the cluster with --kubeconfig PATH and --context NAME (`kubectl config get-contexts` lists them), or set KUBECONFIG",
            ),
            ClusterError::Api { cause: kube::Error::Api(status), .. } => match status.code {
                401 => Some("the credentials were refused: log in again (refresh the kubeconfig's token), then retry"),
                403 => Some("the identity lacks this permission: grant it (`kubectl auth can-i` checks one) or use a --context that has it"),
                404 => None,
                _ => Some("the API server answered with an error after the retries: check `kubectl get --raw /readyz`, then run the command again (a run resumes from its journal)"),
            },
            ClusterError::Api { .. } => Some(
                "the API server could not be reached: check that --context names a running cluster (`kubectl cluster-info`), then run the command again (a run resumes from its journal)",
            ),
            ClusterError::Unexpected(_) => None,
            ClusterError::Spool(_) => Some("free space in the temporary directory (TMPDIR), or run without --each"),
        }
    }

    /// The HTTP status of an API error, if it is one.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            ClusterError::Api { cause: kube::Error::Api(status), .. } => Some(status.code),
            _ => None,
        }
    }
}

/// A client for the cluster the arguments name.
pub async fn connect(args: &ClusterArgs) -> Result<kube::Client, ClusterError> {
    let options =
        kube::config::KubeConfigOptions { context: args.context.clone(), ..kube::config::KubeConfigOptions::default() };
    let bad = |path: Option<PathBuf>| {
        move |e: kube::config::KubeconfigError| ClusterError::Kubeconfig { path, cause: Box::new(e) }
    };
    let mut config = match (&args.kubeconfig, &args.context) {
        (Some(path), _) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(bad(Some(path.clone())))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(bad(Some(path.clone())))?
        }
        (None, Some(_)) => kube::Config::from_kubeconfig(&options).await.map_err(bad(None))?,
        (None, None) => {
            kube::Config::infer().await.map_err(|e| ClusterError::Kubeconfig { path: None, cause: Box::new(e) })?
        }
    };
    // kube's own retry layer retries 429/503/504 up to 15 times with delays up to 1000 s: a stalled API
    // would stall the run for an hour. `retry` holds the one budget every call has.
    config.default_retry = false;
    // Audit logs (and the simulator's request log) tell the tool's requests apart by it.
    config.headers.push((http::header::USER_AGENT, http::HeaderValue::from_static(USER_AGENT)));
    kube::Client::try_from(config).map_err(|e| ClusterError::Kubeconfig { path: None, cause: Box::new(e) })
}

/// The cluster's identity: the UID of its `kube-system` namespace, which lives as long as the cluster.
pub async fn cluster_identity(client: &kube::Client) -> Result<String, ClusterError> {
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    let kube_system = retry::with_retries(|| namespaces.get("kube-system"))
        .await
        .map_err(|e| ClusterError::api("cannot read the kube-system namespace (the cluster's identity)", e))?;
    kube_system.metadata.uid.ok_or_else(|| ClusterError::Unexpected("the kube-system namespace has no UID".to_owned()))
}
