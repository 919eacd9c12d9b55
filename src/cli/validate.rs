//! `operator-upgrade validate`: which of the existing objects break under the new CRDs, how, and when.

use super::{write_stdout, ColorChoice, FailOn, MinSeverity, EXIT_FINDINGS, EXIT_OK};
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
    /// The existing objects: files or directories of `kubectl get <kinds> -A -o yaml` (or `-o json`) exports,
    /// `List`s, single objects or multi-document files.
    #[arg(long, value_name = "PATH", num_args = 1.., required = true)]
    pub objects: Vec<PathBuf>,
    /// Output format (text, json or markdown).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Exit 1 when any finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = FailOn::Breaking)]
    pub fail_on: FailOn,
    /// Hide findings below this severity (they are still counted, and still count for --fail-on).
    #[arg(long, value_enum, default_value_t = MinSeverity::Info)]
    pub min_severity: MinSeverity,
    /// Colour the text output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// Runs `validate` and returns the exit code (0 ok, 1 findings at or above `--fail-on`); input errors are `Err`.
pub fn run_validate(args: &ValidateArgs) -> anyhow::Result<u8> {
    if args.output == OutputFormat::Sarif {
        bail!("--output sarif is not available for validate: findings point into objects, not release files");
    }
    let new = load_side(&args.crds).context("cannot load the new CRDs (--crds)")?;
    if new.crds.is_empty() {
        bail!("{}: no CustomResourceDefinitions found", args.crds.display());
    }
    let validator = Validator::new(&new.crds);
    let report = validate_paths(&validator, &args.objects).context("cannot read the objects (--objects)")?;
    let view = ValidationView::new(&report, args.min_severity.into());
    write_stdout(&view.render(args.output, args.color.enabled()))?;
    let failed = args.fail_on.threshold().is_some_and(|t| report.findings.iter().any(|f| f.severity >= t));
    Ok(if failed { EXIT_FINDINGS } else { EXIT_OK })
}
