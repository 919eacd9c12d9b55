//! `rehearse`: the whole upgrade on a staging cluster, written out as evidence for `apply --rehearsal`.

use super::apply::finish;
use super::{runtime, FailOn};
use crate::cluster::{connect, ClusterArgs};
use crate::engine::rehearsal::{rehearse, RehearseOptions};
use crate::engine::{Acceptance, ApplyOptions, OutputMode, RehearsalCheck, Upgrade};
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Arguments of `rehearse`.
#[derive(Debug, clap::Args)]
pub struct RehearseArgs {
    /// The plan file (`kind: UpgradePlan`).
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: PathBuf,
    /// The staging cluster (never the one the plan pins).
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Write the evidence (JSON, `operator-upgrade schema --evidence`) here; it is kept in the staging
    /// cluster's journal either way.
    #[arg(long, value_name = "FILE")]
    pub evidence_out: Option<PathBuf>,
    /// Stop after the rollback drill: staging stays on the old release.
    #[arg(long, conflicts_with = "finalize")]
    pub leave_rolled_back: bool,
    /// After the drill and the second apply, `finalize` staging too (the point of no return).
    #[arg(long)]
    pub finalize: bool,
    /// Refuse when findings at or above this severity are not accepted with --accept.
    #[arg(long, value_enum, default_value_t = FailOn::Breaking)]
    pub fail_on: FailOn,
    /// Accept a finding: `CODE` or `CODE@PATH`, as `apply` takes it.
    #[arg(long, value_name = "CODE[@PATH]")]
    pub accept: Vec<Acceptance>,
    /// Do not ask before the first write.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Progress as lines for people or as one JSON object per event.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputMode::Text)]
    pub output: OutputMode,
}

/// Runs `rehearse`: exit 0 when every phase passed, else the failed phase's exit code (3 when refused).
pub fn run_rehearse(args: &RehearseArgs) -> anyhow::Result<u8> {
    if let Some(path) = &args.evidence_out {
        check_writable_dir(path)?;
    }
    let upgrade = Upgrade::load(&args.file)?;
    let options = RehearseOptions {
        apply: ApplyOptions {
            yes: args.yes,
            dry_run: false,
            fail_on: args.fail_on.threshold(),
            accept: args.accept.clone(),
            finalize: args.finalize,
            promote: false,
            output: args.output,
            rehearsal: RehearsalCheck::Rehearsing,
        },
        context: args.cluster.context.clone(),
        leave_rolled_back: args.leave_rolled_back,
    };
    runtime()?.block_on(async {
        let client = connect(&args.cluster).await?;
        let rehearsal = rehearse(client, upgrade, &options).await?;
        if let (Some(evidence), Some(path)) = (&rehearsal.evidence, &args.evidence_out) {
            evidence.write(path)?;
            println!("evidence written to {}", path.display());
        }
        let code = rehearsal.exit_code();
        finish(rehearsal.outcome, args.output);
        Ok(code)
    })
}

/// Fails before the rehearsal starts when the evidence could not be written at its end.
fn check_writable_dir(path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let probe = tempfile::NamedTempFile::new_in(dir);
    probe.map(drop).with_context(|| format!("--evidence-out {}: cannot write in {}", path.display(), dir.display()))
}
