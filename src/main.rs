//! The `operator-upgrade` binary: parses arguments and hands them to the library.

use clap::Parser;
use operator_upgrade::cli::{run, Cli};

fn main() -> std::process::ExitCode {
    run(Cli::parse())
}
