//! The Helm actions a run takes on a release: `helm upgrade` (promotion, with the expanded CRDs swapped in by
//! the post-renderer; again at `finalize` without it) and `helm rollback` (to the revision the run started
//! from), and the pure decision of where an action stands from the release's revisions, which is how a run
//! killed during one resumes.

use super::binary::TemplateRequest;
use super::post_render::{install_plugin, PLUGIN_NAME};
use super::release::{Release, ReleaseStatus};
use super::{Helm, HelmError};
use serde_json::Value;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// How helm reaches the cluster the run works on: the same kubeconfig and context as the run's client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    /// `--kubeconfig`, when the run was given one (else helm reads `KUBECONFIG` or `~/.kube/config`, as the
    /// run's client does).
    pub kubeconfig: Option<PathBuf>,
    /// `--kube-context`, when the run was given one.
    pub context: Option<String>,
}

impl Connection {
    fn args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        if let Some(kubeconfig) = &self.kubeconfig {
            args.extend(["--kubeconfig".into(), kubeconfig.clone().into()]);
        }
        if let Some(context) = &self.context {
            args.extend(["--kube-context".into(), context.into()]);
        }
        args
    }
}

/// The expanded CRDs a promotion keeps in the release until `finalize`, and the executable that swaps them in
/// (this tool: its hidden `helm-post-render` subcommand).
#[derive(Debug, Clone)]
pub struct Swap {
    /// The tool's own executable.
    pub executable: PathBuf,
    /// The expanded CRDs, as live.
    pub crds: Vec<Value>,
}

/// One `helm upgrade` of a release to a chart with the plan's values.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    /// The release, chart and values, exactly as `plan` rendered them.
    pub chart: TemplateRequest,
    /// The expanded CRDs to keep, at promotion; None at `finalize` (the CRDs as the chart ships them).
    pub swap: Option<Swap>,
    /// How long helm waits for the release's resources to be ready.
    pub timeout: Duration,
    /// `--force-conflicts`: take over fields other managers applied (the run checks whose they are first).
    pub force_conflicts: bool,
}

impl Helm {
    /// `helm upgrade RELEASE CHART` with the values `plan` rendered with (`--reset-values`: exactly those,
    /// not merged again with the release's), the release's own apply method (`--server-side=auto`), and
    /// `--wait`; with the post-renderer plugin when CRDs are swapped. Helm writes the new revision itself.
    pub fn upgrade(&self, connection: &Connection, request: &UpgradeRequest) -> Result<(), HelmError> {
        let scratch =
            tempfile::tempdir().map_err(|e| HelmError::Io { what: "a scratch directory".into(), cause: e })?;
        let chart = &request.chart;
        let mut args: Vec<OsString> = vec!["upgrade".into(), chart.release.clone().into(), chart.chart.clone().into()];
        args.extend(["--namespace".into(), chart.namespace.clone().into()]);
        if let Some(values) = &chart.carried_values {
            let file = scratch.path().join("carried-values.json");
            std::fs::write(&file, values.to_string())
                .map_err(|e| HelmError::Io { what: file.display().to_string(), cause: e })?;
            args.extend(["--values".into(), file.into()]);
        }
        for file in &chart.values_files {
            args.extend(["--values".into(), file.clone().into()]);
        }
        args.extend(["--reset-values".into(), "--server-side=auto".into(), "--wait".into()]);
        if request.force_conflicts {
            args.push("--force-conflicts".into());
        }
        args.extend(["--timeout".into(), format!("{}s", request.timeout.as_secs().max(1)).into()]);
        args.extend(connection.args());
        let plugins = scratch.path().join("plugins");
        let mut env = Vec::new();
        if let Some(swap) = &request.swap {
            install_plugin(&plugins, &swap.executable, &swap.crds)?;
            args.extend(["--post-renderer".into(), PLUGIN_NAME.into()]);
            env.push(("HELM_PLUGINS", plugins.as_path()));
        }
        self.run_with(&args, &env).map(drop)
    }

    /// `helm rollback RELEASE REVISION --wait`: Helm writes a new revision with the old one's manifest. It
    /// forces conflicts: a rollback puts back what was recorded whoever applied since (the run's own expand
    /// and scope, mostly), as the tool's own restore does.
    pub fn rollback(
        &self,
        connection: &Connection,
        (release, namespace): (&str, &str),
        revision: u32,
        timeout: Duration,
    ) -> Result<(), HelmError> {
        let mut args: Vec<OsString> = vec!["rollback".into(), release.into(), revision.to_string().into()];
        args.extend(["--namespace".into(), namespace.into(), "--server-side=auto".into(), "--wait".into()]);
        args.push("--force-conflicts".into());
        args.extend(["--timeout".into(), format!("{}s", timeout.as_secs().max(1)).into()]);
        args.extend(connection.args());
        self.run_with(&args, &[]).map(drop)
    }
}

/// Where a Helm action that started at revision `before` stands, read from the release's revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionState {
    /// No revision after `before`: the action has not run (or helm was killed before writing one).
    NotStarted,
    /// A later revision is deployed: the action is done, at that revision.
    Done(u32),
    /// A later revision is pending: helm was killed in it (a live helm is excluded by the run's lease). As
    /// Helm documents, the release is recovered by rolling back to its last deployed revision.
    Pending {
        /// The pending revision.
        revision: u32,
        /// Its status.
        status: ReleaseStatus,
        /// The last deployed revision, to roll back to.
        roll_back_to: Option<u32>,
    },
    /// A later revision failed: helm ran and its action failed.
    Failed(u32),
}

/// Decides [`ActionState`] from every revision of the release.
pub fn action_state(revisions: &[Release], before: u32) -> ActionState {
    let Some(latest) = revisions.iter().filter(|r| r.revision > before).max_by_key(|r| r.revision) else {
        return ActionState::NotStarted;
    };
    match latest.status {
        ReleaseStatus::Deployed => ActionState::Done(latest.revision),
        status if status.is_pending() => ActionState::Pending {
            revision: latest.revision,
            status,
            roll_back_to: revisions
                .iter()
                .filter(|r| r.status == ReleaseStatus::Deployed || r.status == ReleaseStatus::Superseded)
                .filter(|r| r.revision < latest.revision)
                .map(|r| r.revision)
                .max(),
        },
        _ => ActionState::Failed(latest.revision),
    }
}

/// What resuming a Helm action found in the release, and did about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resumed {
    /// The action had not run: it is to run.
    NotStarted,
    /// It had completed, at this revision.
    Done(u32),
    /// A killed helm had left revision `pending` in `status`; as Helm documents, the release was rolled back to
    /// revision `to` (Helm wrote revision `now`), and the action is to run again.
    Recovered {
        /// The revision the killed helm left pending.
        pending: u32,
        /// Its status.
        status: ReleaseStatus,
        /// The deployed revision rolled back to.
        to: u32,
        /// The revision the rollback wrote.
        now: u32,
    },
    /// It ran and failed, at this revision.
    Failed(u32),
}

impl Resumed {
    /// What the journal says about it, in one line.
    pub fn describe(&self, release: &str) -> String {
        match self {
            Resumed::NotStarted => format!("helm had not changed release {release}"),
            Resumed::Done(revision) => format!("helm had completed: release {release} is at revision {revision}"),
            Resumed::Recovered { pending, status, to, now } => format!(
                "helm was killed in revision {pending} of release {release} ({}): rolled back to revision {to} as Helm documents (revision {now})",
                status.as_str()
            ),
            Resumed::Failed(revision) => format!("helm failed in revision {revision} of release {release}"),
        }
    }
}

/// Resumes a Helm action that started at revision `before` (a run killed during it): reads the release's
/// revisions and, when a killed helm left one pending, rolls the release back to its last deployed revision
/// as Helm documents, so the action can run again. A run's Lease excludes a live helm of the run; a helm
/// someone else is running shows as pending too, which is why the lease, not this, keeps runs apart.
pub async fn resume(
    helm: &Helm,
    connection: &Connection,
    client: &kube::Client,
    (release, namespace): (&str, &str),
    before: u32,
    timeout: Duration,
) -> Result<Resumed, HelmError> {
    let revisions = super::side::read_revisions(client, release, namespace).await?;
    Ok(match action_state(&revisions, before) {
        ActionState::NotStarted => Resumed::NotStarted,
        ActionState::Done(revision) => Resumed::Done(revision),
        ActionState::Failed(revision) => Resumed::Failed(revision),
        // A pending install has nothing to roll back to: left to the person, with Helm's own next step.
        ActionState::Pending { revision, status, roll_back_to: None } => {
            return Err(HelmError::Pending {
                release: release.to_owned(),
                namespace: namespace.to_owned(),
                revision,
                status,
            });
        }
        ActionState::Pending { revision, status, roll_back_to: Some(to) } => {
            helm.rollback(connection, (release, namespace), to, timeout)?;
            let revisions = super::side::read_revisions(client, release, namespace).await?;
            let now = revisions.iter().map(|r| r.revision).max().unwrap_or(to);
            Resumed::Recovered { pending: revision, status, to, now }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::ChartMetadata;
    use serde_json::json;

    fn revision(revision: u32, status: ReleaseStatus) -> Release {
        Release {
            name: "demo".into(),
            namespace: "ops".into(),
            revision,
            status,
            chart: ChartMetadata { name: "demo-operator".into(), version: "1.0.0".into(), app_version: None },
            chart_values: json!({}),
            config: json!({}),
            manifest: String::new(),
            crd_files: vec![],
            apply_method: None,
        }
    }

    #[test]
    fn an_action_is_done_when_a_later_revision_is_deployed_and_not_started_without_one() {
        use ReleaseStatus::*;
        assert_eq!(action_state(&[revision(1, Superseded), revision(2, Deployed)], 2), ActionState::NotStarted);
        assert_eq!(action_state(&[revision(2, Superseded), revision(3, Deployed)], 2), ActionState::Done(3));
        assert_eq!(action_state(&[revision(2, Deployed), revision(3, Failed)], 2), ActionState::Failed(3));
    }

    #[test]
    fn a_helm_killed_mid_upgrade_leaves_a_pending_revision_rolled_back_to_the_last_deployed() {
        use ReleaseStatus::*;
        let revisions = [revision(1, Superseded), revision(2, Deployed), revision(3, PendingUpgrade)];
        assert_eq!(
            action_state(&revisions, 2),
            ActionState::Pending { revision: 3, status: PendingUpgrade, roll_back_to: Some(2) }
        );
    }

    #[test]
    fn what_resuming_did_is_said_in_one_line_for_the_journal() {
        let recovered = Resumed::Recovered { pending: 3, status: ReleaseStatus::PendingUpgrade, to: 2, now: 4 };
        assert_eq!(
            recovered.describe("demo"),
            "helm was killed in revision 3 of release demo (pending-upgrade): rolled back to revision 2 as Helm documents (revision 4)"
        );
        assert_eq!(Resumed::Done(3).describe("demo"), "helm had completed: release demo is at revision 3");
    }

    #[test]
    fn helm_is_told_the_runs_cluster_and_context() {
        let connection = Connection { kubeconfig: Some("/k".into()), context: Some("prod".into()) };
        assert_eq!(connection.args(), ["--kubeconfig", "/k", "--kube-context", "prod"].map(OsString::from));
        assert!(Connection::default().args().is_empty());
    }
}
