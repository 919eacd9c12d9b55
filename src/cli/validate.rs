//! `operator-upgrade validate`: which of the existing objects break under the new CRDs, how, and when.

use super::ReportArgs;
use crate::engine::preflight::{live_kinds, validate_listed};
use crate::manifest::load_side;
use crate::report::ValidationView;
use crate::schema::validate::{validate_paths_keeping, ValidationReport, Validator};
use anyhow::{bail, Context};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The new release's CRDs: a manifest file or a directory (read recursively).
    #[arg(long, value_name = "PATH")]
    pub crds: PathBuf,
    /// The old release's CRDs (the ones the objects live under now). With them a default is reported only where
    /// it is new or changed (a warning), and a kind whose CRD the new release dropped is named; without them a
    /// default is `info`.
    #[arg(long, value_name = "PATH")]
    pub old_crds: Option<PathBuf>,
    /// The existing objects: files or directories of `kubectl get <kinds> -A -o yaml` (or `-o json`) exports,
    /// `List`s, single objects or multi-document files. Not with `--kubeconfig`/`--context`, which read them
    /// from the cluster instead.
    #[arg(long, value_name = "PATH", num_args = 1.., required_unless_present_any = ["kubeconfig", "context"], conflicts_with_all = ["kubeconfig", "context"])]
    pub objects: Vec<PathBuf>,
    /// Output, filtering and exit code (SARIF results point at the objects' files and lines).
    #[command(flatten)]
    pub report: ReportArgs,
    /// With `--kubeconfig` or `--context`: the objects are every custom resource of the CRDs' kinds in that
    /// cluster, listed in pages at the live CRD's storage version (read, never written).
    #[command(flatten)]
    pub cluster: crate::cluster::ClusterArgs,
}

/// Runs `validate` and returns the exit code (0 ok, 1 findings at or above `--fail-on`); input errors are `Err`.
pub fn run_validate(args: &ValidateArgs) -> anyhow::Result<u8> {
    // Both sets at once: loading a release's CRDs is a serial part of the whole run (7% of its CPU for
    // 100,000 objects, profiled), so on two cores the second set is free.
    let (new, old) = rayon::join(|| load_side(&args.crds), || args.old_crds.as_deref().map(load_side));
    let new = new.context("cannot load the new CRDs (--crds)")?;
    if new.crds.is_empty() {
        bail!("{}: no CustomResourceDefinitions found", args.crds.display());
    }
    let mut validator = Validator::new(&new.crds);
    let mut crd_names: BTreeSet<String> = new.crds.keys().cloned().collect();
    if let Some(old) = old {
        let old = old.context("cannot load the old CRDs (--old-crds)")?;
        validator = validator.compared_with(&old.crds);
        crd_names.extend(old.crds.keys().cloned());
    }
    let each = args.report.each();
    let report = if args.objects.is_empty() {
        validate_live(&validator, &crd_names, &args.cluster, each)?
    } else {
        validate_paths_keeping(&validator, &args.objects, each).context("cannot read the objects (--objects)")?
    };
    let (min_severity, detail) = args.report.selection();
    let view = ValidationView::new(&report, min_severity).with_detail(detail).one_by_one_if(each);
    let (format, color) = (args.report.output, args.report.color.enabled());
    args.report.finish(|out| view.render_to(format, color, out), report.severities())
}

/// Validates every custom resource of the CRDs' kinds that the cluster holds.
fn validate_live(
    validator: &Validator,
    crd_names: &BTreeSet<String>,
    cluster: &crate::cluster::ClusterArgs,
    each: bool,
) -> anyhow::Result<ValidationReport> {
    super::runtime()?.block_on(async {
        let client = crate::cluster::connect(cluster).await?;
        let objects = crate::cluster::Objects::new(client, false);
        let kinds = live_kinds(&objects, crd_names.iter().map(String::as_str)).await?;
        Ok(validate_listed(&objects, validator, &kinds, each).await?)
    })
}
