//! `operator-upgrade validate`: which of the existing objects break under the new CRDs, how, and when.

use super::ReportArgs;
use crate::manifest::load_side;
use crate::report::{OutputFormat, ValidationView};
use crate::schema::validate::{validate_paths, Validator};
use anyhow::{bail, Context};
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
    /// `List`s, single objects or multi-document files.
    #[arg(long, value_name = "PATH", num_args = 1.., required = true)]
    pub objects: Vec<PathBuf>,
    /// Output, filtering and exit code (`--output sarif` is refused: findings point into objects).
    #[command(flatten)]
    pub report: ReportArgs,
}

/// Runs `validate` and returns the exit code (0 ok, 1 findings at or above `--fail-on`); input errors are `Err`.
pub fn run_validate(args: &ValidateArgs) -> anyhow::Result<u8> {
    if args.report.output == OutputFormat::Sarif {
        bail!("--output sarif is not available for validate: findings point into objects, not release files");
    }
    let new = load_side(&args.crds).context("cannot load the new CRDs (--crds)")?;
    if new.crds.is_empty() {
        bail!("{}: no CustomResourceDefinitions found", args.crds.display());
    }
    let mut validator = Validator::new(&new.crds);
    if let Some(path) = &args.old_crds {
        let old = load_side(path).context("cannot load the old CRDs (--old-crds)")?;
        validator = validator.compared_with(&old.crds);
    }
    let report = validate_paths(&validator, &args.objects).context("cannot read the objects (--objects)")?;
    let (min_severity, detail) = args.report.selection();
    let view = ValidationView::new(&report, min_severity).with_detail(detail);
    let rendered = view.render(args.report.output, args.report.color.enabled());
    args.report.finish(&rendered, report.findings.iter().map(|f| f.severity))
}
