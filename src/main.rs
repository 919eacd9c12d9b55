//! The `operator-upgrade` binary: parses arguments and hands them to the library.

use clap::Parser;
use operator_upgrade::cli::{run, Cli};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    run(Cli::parse())
}
