//! The kubectl plugin: `kubectl operator-upgrade ...` runs this executable (kubectl maps the dash in a
//! plugin's name to an underscore in its file name) with the arguments as given. It is the same command line
//! as `operator-upgrade`; only the name help and errors use is kubectl's.

use operator_upgrade::cli::{run, Cli, KUBECTL_PLUGIN_NAME};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    run(Cli::parse_as(KUBECTL_PLUGIN_NAME))
}
