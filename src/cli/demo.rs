//! `operator-upgrade demo`: the whole upgrade on the built-in simulator (see [`crate::demo`]).

use super::{runtime, ColorChoice};
use crate::demo::{self, DemoFiles, DemoOptions};
use std::path::{Path, PathBuf};

/// Arguments of `demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The demo's directory: `scenario.yaml`, `plan-bad.yaml` (act 1) and `plan.yaml` (act 2) with their
    /// releases (default: `examples/demo-operator` here, else in the source tree the binary was built from).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Leave the simulator running at the end and print its kubeconfig, to look with kubectl (Ctrl-C ends it).
    #[arg(long)]
    pub keep: bool,
    /// Wait for Enter between the acts.
    #[arg(long)]
    pub pause: bool,
    /// Colour the plan.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// Where the demo's files are: `--dir`, or the examples beside the working directory, or those of the
/// source tree this binary was built from (so `cargo install` still finds them on the same machine).
fn demo_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir.to_owned());
    }
    let candidates =
        [PathBuf::from("examples/demo-operator"), Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator")];
    candidates.into_iter().find(|dir| dir.join("scenario.yaml").is_file()).ok_or_else(|| {
        anyhow::anyhow!(
            "cannot find the demo's files (examples/demo-operator/scenario.yaml): run the demo from the repository's \
             root, or pass --dir with the path of examples/demo-operator"
        )
    })
}

/// Runs `demo`; exit 0 when both acts ended as they should, 1 when one did not, 2 for bad input.
pub fn run_demo(args: &DemoArgs) -> anyhow::Result<u8> {
    let files = DemoFiles::in_dir(&demo_dir(args.dir.as_deref())?);
    let options = DemoOptions { keep: args.keep, pause: args.pause, color: args.color.enabled() };
    let verdict = runtime()?.block_on(demo::run(&files, options))?;
    Ok(demo::exit_code(&verdict))
}
