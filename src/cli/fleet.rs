//! `fleet -f FLEET.yaml` and `fleet status -f FLEET.yaml`: one plan, wave after wave of clusters.

use super::{runtime, FailOn, LogFormat};
use crate::engine::Acceptance;
use crate::fleet::{self, FleetOptions, FleetRun};
use anyhow::Context;
use clap::ValueEnum;
use std::path::PathBuf;

/// Arguments of `fleet`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct FleetArgs {
    /// `status`: show every cluster's run instead of running the fleet.
    #[command(subcommand)]
    pub action: Option<FleetAction>,
    /// The fleet file (`kind: UpgradeFleet`).
    #[arg(long, short = 'f', value_name = "FILE", required = true)]
    pub file: Option<PathBuf>,
    /// Refuse, on each cluster, findings at or above this severity not accepted with --accept.
    #[arg(long, value_enum, default_value_t = FailOn::Breaking)]
    pub fail_on: FailOn,
    /// Accept a finding on every cluster: `CODE` or `CODE@PATH`, as `apply` takes it.
    #[arg(long, value_name = "CODE[@PATH]")]
    pub accept: Vec<Acceptance>,
    /// The rehearsal evidence every cluster's `apply` checks (when the plan requires a rehearsal).
    #[arg(long, value_name = "FILE")]
    pub rehearsal: Option<PathBuf>,
    /// Run a cluster whose run of this plan rolled back again, instead of stopping the fleet there.
    #[arg(long)]
    pub retry_rolled_back: bool,
}

/// What else `fleet` does.
#[derive(Debug, clap::Subcommand)]
pub enum FleetAction {
    /// Show every cluster's run of the plan, from its journal, and what `fleet` would do next.
    Status(FleetStatusArgs),
}

/// Arguments of `fleet status`.
#[derive(Debug, clap::Args)]
pub struct FleetStatusArgs {
    /// The fleet file.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: PathBuf,
}

/// Runs `fleet` or `fleet status`; each cluster's `apply` logs in `log_format` too.
pub fn run_fleet(args: &FleetArgs, log_format: LogFormat) -> anyhow::Result<u8> {
    if let Some(FleetAction::Status(status)) = &args.action {
        let fleet = FleetRun::load(&status.file)?;
        let text = runtime()?.block_on(fleet::status(&fleet, false));
        super::write_stdout(&text)?;
        return Ok(0);
    }
    let file = args.file.as_ref().context("`fleet` needs -f FLEET.yaml")?;
    let fleet = FleetRun::load(file)?;
    if let Some(evidence) = &args.rehearsal {
        // Read once here, so a broken file is bad input before any cluster is touched.
        crate::engine::rehearsal::Evidence::load(evidence)?;
    }
    let binary = std::env::current_exe().context("cannot find this program to run each cluster's apply")?;
    let options =
        FleetOptions { binary, apply_args: apply_args(args, log_format), retry_rolled_back: args.retry_rolled_back };
    let outcome = runtime()?.block_on(fleet::run(&fleet, &options));
    println!("{}", outcome.message);
    Ok(outcome.exit_code)
}

fn apply_args(args: &FleetArgs, log_format: LogFormat) -> Vec<String> {
    let mut out =
        vec!["--fail-on".to_owned(), clap_name(args.fail_on), "--log-format".to_owned(), clap_name(log_format)];
    for accepted in &args.accept {
        out.extend(["--accept".to_owned(), accepted.to_string()]);
    }
    if let Some(evidence) = &args.rehearsal {
        let evidence = std::path::absolute(evidence).unwrap_or_else(|_| evidence.clone());
        out.extend(["--rehearsal".to_owned(), evidence.display().to_string()]);
    }
    out
}

/// The name clap parses `value` from, so a child reads exactly what this command was given.
fn clap_name(value: impl ValueEnum) -> String {
    value.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn each_cluster_apply_gets_the_fleet_s_own_flags_and_log_format() {
        let line = ["operator-upgrade", "--log-format", "json", "fleet", "-f", "f.yaml", "--fail-on", "never"];
        let cli = Cli::try_parse_from(line).unwrap();
        let Command::Fleet(args) = cli.command else { panic!("not fleet") };
        let expected = ["--fail-on", "never", "--log-format", "json"];
        assert_eq!(apply_args(&args, cli.log_format), expected.map(String::from));
        let child = [&["operator-upgrade", "apply", "-f", "p.yaml"][..], &expected[..]].concat();
        assert!(Cli::try_parse_from(child).is_ok(), "the child's apply parses what the fleet passes");
    }
}
