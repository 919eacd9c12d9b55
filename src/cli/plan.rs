//! `operator-upgrade plan`: diff two releases (given directly or by a plan file) and print the plan.

use super::{load, ReportArgs};
use crate::plan::file::{LoadedPlan, UpgradePlan};
use crate::plan::flow::flow_settings;
use crate::plan::steps::FlowSettings;
use crate::plan::Plan;
use crate::report::{OutputFormat, PlanReport};
use crate::schema::validate::{validate_paths_keeping, Validator};
use anyhow::Context;
use std::path::PathBuf;

/// Arguments of `plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The plan file (`kind: UpgradePlan`): the releases, gates, Jobs, canary and analysis.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The release being upgraded from: a manifest file or a directory (read recursively). Overrides the
    /// plan file's `spec.from.path`.
    #[arg(long, value_name = "PATH", required_unless_present = "file")]
    pub from: Option<PathBuf>,
    /// The release being upgraded to: a manifest file or a directory (read recursively). Overrides the plan
    /// file's `spec.to.path`.
    #[arg(long, value_name = "PATH", required_unless_present = "file")]
    pub to: Option<PathBuf>,
    /// Existing objects to check against the new CRDs: files or directories of `kubectl get -o yaml|json`
    /// exports (the findings join the plan and count for --fail-on).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub objects: Vec<PathBuf>,
    /// The helm binary that renders Helm charts (`spec.from.helm`/`spec.to.helm`); `helm` on PATH by default.
    #[arg(long, value_name = "PATH")]
    pub helm: Option<PathBuf>,
    /// Output, filtering and exit code.
    #[command(flatten)]
    pub report: ReportArgs,
    /// With `--kubeconfig` or `--context`: also the live plan, read from that cluster (never written): drift
    /// of the live CRDs from the `from` release, storedVersions, every existing object validated; with a plan
    /// file also the operator, other managers and permissions.
    #[command(flatten)]
    pub cluster: crate::cluster::ClusterArgs,
}

/// Runs `plan` and returns the exit code.
pub fn run_plan(args: &PlanArgs) -> anyhow::Result<u8> {
    let plan_file = args.file.as_deref().map(UpgradePlan::load).transpose()?;
    if let Some(loaded) = &plan_file {
        // With a release overridden the plan file's own paths need not exist (CI keeps them elsewhere).
        if args.from.is_none() && args.to.is_none() {
            loaded.check_sources()?;
        }
    }
    // A Helm plan's sides are rendered by helm, unless --from/--to give manifests instead.
    let helm_plan =
        plan_file.as_ref().filter(|p| p.plan.spec.from.helm.is_some() && args.from.is_none() && args.to.is_none());
    let (old, new, helm) = match helm_plan {
        Some(loaded) => {
            let sides = helm_sides(args, loaded)?;
            (sides.old, sides.new, Some(sides.comparison))
        }
        None => {
            let from = release_path(args.from.as_ref(), plan_file.as_ref(), |p| &p.from_path)?;
            let to = release_path(args.to.as_ref(), plan_file.as_ref(), |p| &p.to_path)?;
            let (old, new) = rayon::join(|| load(&from, "--from"), || load(&to, "--to"));
            (old?, new?, None)
        }
    };
    let flow = plan_file.as_ref().map(flow_settings).unwrap_or_else(FlowSettings::default);
    let mut plan = Plan::build_with(&old, &new, &flow);
    if !args.objects.is_empty() {
        // The objects live under the old release's CRDs now: defaults are judged against those.
        let validator = Validator::new(&new.crds).compared_with(&old.crds);
        let report = validate_paths_keeping(&validator, &args.objects, args.report.each())
            .context("cannot read the objects (--objects)")?;
        plan.attach_objects(report);
    }
    if matches!(args.report.output, OutputFormat::Sarif | OutputFormat::Github) {
        plan.attach_locations();
    }
    let (min_severity, detail) = args.report.selection();
    let mut report = PlanReport::new(&plan, min_severity).with_detail(detail).objects_one_by_one_if(args.report.each());
    if let Some(loaded) = &plan_file {
        report = report.with_plan_file(loaded);
    }
    if let Some(comparison) = &helm {
        report = report.with_helm(comparison);
    }
    let (format, color) = (args.report.output, args.report.color.enabled());
    let helm_severities = helm.iter().flat_map(|comparison| comparison.severities());
    let code = args
        .report
        .finish(|out| report.render_to(format, color, out), plan.counted_severities().chain(helm_severities))?;
    if args.cluster.kubeconfig.is_none() && args.cluster.context.is_none() {
        return Ok(code);
    }
    let live_refusals = match &args.file {
        Some(file) => live_plan(file, helm_plan.is_some(), args)?,
        None => live_plan_of_releases(&old, &new, &plan, &args.cluster, args.report.fail_on)?,
    };
    Ok(if live_refusals { super::EXIT_FINDINGS } else { code })
}

/// Without a plan file: the live plan of what needs no operator (the CRDs, storedVersions, the live
/// objects); says whether it found a blocker or findings at or above `fail_on`.
fn live_plan_of_releases(
    old: &crate::manifest::ManifestSet,
    new: &crate::manifest::ManifestSet,
    plan: &Plan,
    cluster: &crate::cluster::ClusterArgs,
    fail_on: super::FailOn,
) -> anyhow::Result<bool> {
    super::runtime()?.block_on(async {
        let client = crate::cluster::connect(cluster).await?;
        let objects = crate::cluster::Objects::new(client, false);
        let live = crate::engine::preflight::observe_releases(&objects, old, new, plan).await?;
        print_live(&live, &live.refusals_of(plan, fail_on.threshold(), &[]))
    })
}

/// Prints the live plan and says whether `apply` would refuse on it. A Helm plan is loaded as `apply` loads
/// it (both sides rendered again with the cluster, the installed release read from it), so the live
/// preflight is the one `apply` would run; any other plan is loaded before connecting.
fn live_plan(file: &std::path::Path, helm_plan: bool, args: &PlanArgs) -> anyhow::Result<bool> {
    let (cluster, fail_on) = (&args.cluster, args.report.fail_on);
    let offline = (!helm_plan).then(|| crate::engine::Upgrade::load(file)).transpose()?;
    super::runtime()?.block_on(async {
        let client = crate::cluster::connect(cluster).await?;
        let upgrade = match offline {
            Some(upgrade) => upgrade,
            None => {
                let connection = crate::helm::actions::Connection {
                    kubeconfig: cluster.kubeconfig.clone(),
                    context: cluster.context.clone(),
                };
                crate::engine::Upgrade::load_with_helm(file, args.helm.as_deref(), &client, connection).await?
            }
        };
        let objects = crate::cluster::Objects::new(client, false);
        let live = crate::engine::preflight::observe(&objects, &upgrade).await?;
        print_live(&live, &live.refusals(&upgrade, fail_on.threshold(), &[]))
    })
}

/// Renders both sides of a Helm plan: the installed release read from the cluster (or its chart offline)
/// and the new chart, with the cluster's version and API versions when there is a cluster.
fn helm_sides(args: &PlanArgs, loaded: &LoadedPlan) -> anyhow::Result<crate::helm::side::HelmSides> {
    use crate::helm::side;
    let helm = crate::helm::Helm::find(args.helm.as_deref())?;
    let has_cluster = args.cluster.kubeconfig.is_some() || args.cluster.context.is_some();
    let (installed, facts) = if has_cluster {
        let (name, namespace) = side::release_of(loaded).unwrap_or_default();
        let reads_release = side::reads_release_from_cluster(loaded);
        super::runtime()?.block_on(async {
            let client = crate::cluster::connect(&args.cluster).await?;
            let installed = match reads_release {
                true => Some(side::read_release(&client, name, namespace).await?),
                false => None,
            };
            anyhow::Ok((installed, Some(side::cluster_facts(&client).await?)))
        })?
    } else {
        (None, None)
    };
    Ok(side::render_sides(loaded, &helm, installed.as_ref(), facts.as_ref())?)
}

/// Prints the live plan and what `apply` would refuse on; says whether it would.
fn print_live(live: &crate::engine::preflight::LivePlan, refusals: &[crate::engine::Refusal]) -> anyhow::Result<bool> {
    let mut text = format!("\n{}", live.render());
    for refusal in refusals {
        text.push_str(&format!("apply would refuse: {refusal}\n"));
    }
    super::write_stdout(&text)?;
    Ok(!refusals.is_empty())
}

/// The flag wins over the plan file.
fn release_path(
    flag: Option<&PathBuf>,
    plan: Option<&LoadedPlan>,
    of_plan: fn(&LoadedPlan) -> &PathBuf,
) -> anyhow::Result<PathBuf> {
    match (flag, plan) {
        (Some(path), _) => Ok(path.clone()),
        (None, Some(plan)) => Ok(of_plan(plan).clone()),
        (None, None) => anyhow::bail!("give --from and --to, or a plan file with -f"),
    }
}
