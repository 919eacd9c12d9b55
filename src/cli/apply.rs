//! `apply`, `finalize`, `rollback` and `status`: the engine's commands. Each connects to the cluster as
//! kubectl does and returns the engine's exit code (docs/reference/exit-codes.md).

use super::runtime;
use super::FailOn;
use crate::cluster::{connect, ClusterArgs};
use crate::engine::refusal::RefusalView;
use crate::engine::rehearsal::Evidence;
use crate::engine::{self, Acceptance, ApplyOptions, Outcome, OutputMode, RehearsalCheck, StatusFormat, Upgrade};
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Arguments of `apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The plan file (`kind: UpgradePlan`).
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: PathBuf,
    /// The cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Refuse when findings at or above this severity are not accepted with --accept.
    #[arg(long, value_enum, default_value_t = FailOn::Breaking)]
    pub fail_on: FailOn,
    /// Accept a finding: `CODE` (every finding of the code) or `CODE@PATH` (one place). Recorded in the journal.
    #[arg(long, value_name = "CODE[@PATH]")]
    pub accept: Vec<Acceptance>,
    /// `server`: send every write with dryRun=All (admission webhooks and policies see it; nothing changes).
    #[arg(long, value_name = "server", value_parser = ["server"])]
    pub dry_run: Option<String>,
    /// Go on to `finalize` once promoted (the point of no return).
    #[arg(long)]
    pub finalize: bool,
    /// Promote a run whose canary analysis paused as inconclusive (your decision, journaled as such).
    #[arg(long)]
    pub promote: bool,
    /// Do not ask before the first write.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Progress as lines for people or as one JSON object per event.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputMode::Text)]
    pub output: OutputMode,
    /// The evidence of a passing `rehearse` of this exact plan on another cluster (required when the plan
    /// says `rehearsal.required: true`; checked whenever given).
    #[arg(long, value_name = "FILE")]
    pub rehearsal: Option<PathBuf>,
    /// Refuse unless the cluster's kube-system UID is UID, as `spec.cluster.kubeSystemUid` does (for a plan
    /// that pins no cluster; `fleet` passes each cluster's pin this way).
    #[arg(long, value_name = "UID")]
    pub cluster_uid: Option<String>,
    /// The helm binary a plan with Helm sides (`spec.from.helm`) renders and upgrades with; `helm` on PATH by
    /// default.
    #[arg(long, value_name = "PATH")]
    pub helm: Option<PathBuf>,
}

/// Arguments of `finalize`.
#[derive(Debug, clap::Args)]
pub struct FinalizeArgs {
    /// The plan file the run was applied from.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: PathBuf,
    /// The cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Do not ask before the first write.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Progress as lines for people or as one JSON object per event.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputMode::Text)]
    pub output: OutputMode,
    /// The helm binary of a run through Helm; `helm` on PATH by default.
    #[arg(long, value_name = "PATH")]
    pub helm: Option<PathBuf>,
}

/// Arguments of `rollback`.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The plan whose run to undo (required when more than one run is open).
    #[arg(long, value_name = "NAME")]
    pub plan: Option<String>,
    /// The cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// `data-pruned`: restore the recorded CRDs even where that prunes data written since the expand.
    #[arg(long, value_name = "CODE", value_parser = ["data-pruned"])]
    pub accept: Vec<String>,
    /// Do not ask before the first write.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Progress as lines for people or as one JSON object per event.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputMode::Text)]
    pub output: OutputMode,
    /// The helm binary that rolls back a run through Helm after its promotion; `helm` on PATH by default.
    #[arg(long, value_name = "PATH")]
    pub helm: Option<PathBuf>,
}

/// Arguments of `status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Only this plan's run.
    #[arg(long, value_name = "NAME")]
    pub plan: Option<String>,
    /// The cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Text, one JSON object per run, or a markdown report per run (for a pull request or change ticket).
    #[arg(long, short = 'o', value_enum, default_value_t = StatusFormat::Text)]
    pub output: StatusFormat,
    /// With `-o markdown`: write each run's report to DIR/<plan>.md and an SVG chart of each signal of its
    /// canary analysis beside it, instead of printing the report.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
}

/// Prints the outcome and returns its exit code.
pub(super) fn finish(outcome: Outcome, output: OutputMode) -> u8 {
    match output {
        OutputMode::Text => println!("{outcome}"),
        OutputMode::Json => {
            let mut event = serde_json::json!({"event": "outcome", "outcome": outcome.to_string(), "exitCode": outcome.exit_code()});
            if let Outcome::Refused(refusals) = &outcome {
                let views: Vec<RefusalView> = refusals.iter().map(RefusalView::from).collect();
                event["refusals"] = serde_json::json!(views);
            }
            println!("{event}")
        }
    }
    outcome.exit_code()
}

/// How helm reaches the cluster the command was given.
fn helm_access(binary: Option<&Path>, cluster: &ClusterArgs) -> crate::engine::helm_run::HelmAccess {
    let connection =
        crate::helm::actions::Connection { kubeconfig: cluster.kubeconfig.clone(), context: cluster.context.clone() };
    crate::engine::helm_run::HelmAccess { binary: binary.map(Path::to_owned), connection }
}

/// Loads the plan; one with Helm sides is rendered with the cluster (its installed release read from it).
async fn load_upgrade(
    file: &Path,
    helm: Option<&Path>,
    cluster: &ClusterArgs,
    client: &kube::Client,
) -> anyhow::Result<Upgrade> {
    let access = helm_access(helm, cluster);
    Ok(Upgrade::load_with_helm(file, access.binary.as_deref(), client, access.connection).await?)
}

/// A plan file that cannot be used is reported before the cluster is asked anything: a plan of manifests is
/// loaded whole (None for a Helm plan, whose sides are rendered with the cluster).
fn load_without_cluster(file: &Path) -> anyhow::Result<Option<Upgrade>> {
    let loaded = crate::plan::file::UpgradePlan::load(file)?;
    Ok(match loaded.plan.spec.from.helm {
        Some(_) => None,
        None => Some(Upgrade::load(file)?),
    })
}

/// Runs `apply`.
pub fn run_apply(args: &ApplyArgs) -> anyhow::Result<u8> {
    let early = load_without_cluster(&args.file)?;
    // Every file given is read before the cluster is asked anything.
    let evidence = args.rehearsal.as_deref().map(Evidence::load).transpose()?.map(Box::new);
    runtime()?.block_on(async {
        let client = connect(&args.cluster).await?;
        let upgrade = match early {
            Some(upgrade) => upgrade,
            None => load_upgrade(&args.file, args.helm.as_deref(), &args.cluster, &client).await?,
        };
        apply_loaded(args, upgrade, evidence, client).await
    })
}

async fn apply_loaded(
    args: &ApplyArgs,
    mut upgrade: Upgrade,
    evidence: Option<Box<Evidence>>,
    client: kube::Client,
) -> anyhow::Result<u8> {
    if let Some(uid) = &args.cluster_uid {
        match upgrade.loaded.pinned_cluster_uid() {
            Some(pinned) if pinned != uid => anyhow::bail!(
                "{}: the plan pins kube-system UID {pinned}, --cluster-uid says {uid}",
                args.file.display()
            ),
            _ => upgrade = upgrade.pinned_to(uid),
        }
    }
    let options = ApplyOptions {
        yes: args.yes,
        dry_run: args.dry_run.is_some(),
        fail_on: args.fail_on.threshold(),
        accept: args.accept.clone(),
        finalize: args.finalize,
        promote: args.promote,
        output: args.output,
        rehearsal: RehearsalCheck::Enforce(evidence),
    };
    let outcome = engine::apply(client, &upgrade, &options).await?;
    Ok(finish(outcome, args.output))
}

/// Runs `finalize`.
pub fn run_finalize(args: &FinalizeArgs) -> anyhow::Result<u8> {
    let options = ApplyOptions {
        yes: args.yes,
        dry_run: false,
        fail_on: None,
        accept: Vec::new(),
        finalize: true,
        promote: false,
        output: args.output,
        rehearsal: RehearsalCheck::Enforce(None),
    };
    let early = load_without_cluster(&args.file)?;
    runtime()?.block_on(async {
        let client = connect(&args.cluster).await?;
        let upgrade = match early {
            Some(upgrade) => upgrade,
            None => load_upgrade(&args.file, args.helm.as_deref(), &args.cluster, &client).await?,
        };
        let outcome = engine::finalize(client, &upgrade, &options).await?;
        Ok(finish(outcome, args.output))
    })
}

/// Runs `rollback`.
pub fn run_rollback(args: &RollbackArgs) -> anyhow::Result<u8> {
    runtime()?.block_on(async {
        let client = connect(&args.cluster).await?;
        let accept_pruning = args.accept.iter().any(|a| a == "data-pruned");
        let helm = helm_access(args.helm.as_deref(), &args.cluster);
        let outcome =
            engine::rollback(client, args.plan.as_deref(), args.yes, accept_pruning, args.output, &helm).await?;
        Ok(finish(outcome, args.output))
    })
}

/// Runs `status`; exit 0 with runs shown, 3 when there is none.
pub fn run_status(args: &StatusArgs) -> anyhow::Result<u8> {
    if args.report_dir.is_some() && args.output != StatusFormat::Markdown {
        // Failing here, before connecting, keeps a mistyped command from looking like a cluster problem.
        anyhow::bail!("--report-dir writes the markdown report: use it with `-o markdown`");
    }
    runtime()?.block_on(async {
        let client = connect(&args.cluster).await?;
        let shown = match &args.report_dir {
            Some(dir) => write_status_reports(&client, args.plan.as_deref(), dir).await?,
            None => engine::status(client, args.plan.as_deref(), args.output).await?,
        };
        Ok(if shown == 0 { engine::EXIT_REFUSED } else { engine::EXIT_DONE })
    })
}

/// Writes every run's report and charts into `dir`, prints each path written, and returns how many runs.
async fn write_status_reports(client: &kube::Client, plan: Option<&str>, dir: &Path) -> anyhow::Result<usize> {
    let runs = engine::runs(client, plan).await?;
    if runs.is_empty() {
        println!("no runs{}: nothing written", plan.map(|p| format!(" of plan {p}")).unwrap_or_default());
        return Ok(0);
    }
    let written = engine::write_reports(dir, &runs)
        .with_context(|| format!("cannot write the status report into {}", dir.display()))?;
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(runs.len())
}
