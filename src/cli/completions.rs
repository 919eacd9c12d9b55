//! The ways people reach the command line besides `--help`: shell completion scripts (`completions`), man
//! pages (`man`), and the name it answers to as a kubectl plugin. Everything is generated from the clap
//! definitions, so none of it can drift from what the parser accepts.

use super::{write_stdout, Cli, EXIT_OK};
use anyhow::Context;
use clap::{Command, CommandFactory, FromArgMatches};
use clap_complete::Shell;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The name the command has in help and errors when kubectl runs it as the `operator-upgrade` plugin.
pub const KUBECTL_PLUGIN_NAME: &str = "kubectl operator-upgrade";

/// The name of the main binary: completions and man pages are for it.
const BIN_NAME: &str = "operator-upgrade";

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for (e.g. `source <(operator-upgrade completions bash)`).
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write one page per command here (operator-upgrade.1, operator-upgrade-plan.1, ...) instead of printing
    /// the top command's page to standard output. Created when missing.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

impl Cli {
    /// Parses the process's arguments as the command called `bin_name` (usage, help and errors say that name).
    pub fn parse_as(bin_name: &'static str) -> Cli {
        let mut command = Cli::command().bin_name(bin_name);
        let mut matches = command.get_matches_mut();
        Cli::from_arg_matches_mut(&mut matches).unwrap_or_else(|error| error.format(&mut command).exit())
    }
}

/// The completion script for `shell`.
pub fn completion_script(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN_NAME, &mut script);
    script
}

/// Runs `completions`: prints the script.
pub fn run_completions(args: &CompletionsArgs) -> anyhow::Result<u8> {
    let script = completion_script(args.shell);
    write_stdout(&String::from_utf8_lossy(&script))?;
    Ok(EXIT_OK)
}

/// A rendered man page and the file name it is installed under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManPage {
    /// `operator-upgrade.1`, `operator-upgrade-plan.1`, ...
    pub file_name: String,
    /// The roff source.
    pub roff: Vec<u8>,
}

/// The top command as the man pages describe it: built (so subcommands know their full names) and without
/// clap's `help` subcommand, which is not a command of ours.
pub(crate) fn documented_command() -> Command {
    let mut command = Cli::command().bin_name(BIN_NAME).disable_help_subcommand(true);
    command.build();
    command
}

fn render_page(command: Command) -> std::io::Result<ManPage> {
    let man = clap_mangen::Man::new(command);
    let mut roff = Vec::new();
    man.render(&mut roff)?;
    Ok(ManPage { file_name: man.get_filename(), roff })
}

/// The top command's page, then one per visible subcommand at any depth (hidden ones, like the test bed's
/// node agent, get none).
pub fn man_pages() -> std::io::Result<Vec<ManPage>> {
    fn collect(command: &Command, pages: &mut Vec<ManPage>) -> std::io::Result<()> {
        pages.push(render_page(command.clone())?);
        for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
            collect(sub, pages)?;
        }
        Ok(())
    }
    let mut pages = Vec::new();
    collect(&documented_command(), &mut pages)?;
    Ok(pages)
}

/// Writes every page into `dir`, each through a temporary file renamed into place, so a reader (or `man`)
/// never sees a half-written page. Returns the files written.
pub fn write_man_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let cannot = || format!("cannot write the man pages to {}", dir.display());
    std::fs::create_dir_all(dir).with_context(cannot)?;
    let pages = man_pages().context("cannot render the man pages")?;
    let mut written = Vec::with_capacity(pages.len());
    for page in pages {
        let path = dir.join(&page.file_name);
        write_atomically(dir, &path, &page.roff).with_context(|| format!("{}: {}", cannot(), page.file_name))?;
        written.push(path);
    }
    Ok(written)
}

pub(crate) fn write_atomically(dir: &Path, path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// Runs `man`: the top page to standard output, or every page into `--out-dir` (listing what it wrote).
pub fn run_man(args: &ManArgs) -> anyhow::Result<u8> {
    match &args.out_dir {
        None => {
            let page = render_page(documented_command()).context("cannot render the man page")?;
            write_stdout(&String::from_utf8_lossy(&page.roff))?;
        }
        Some(dir) => {
            let written = write_man_pages(dir)?;
            let listing: String = written.iter().map(|path| format!("wrote {}\n", path.display())).collect();
            write_stdout(&listing)?;
        }
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in Shell::value_variants() {
            let script = String::from_utf8(completion_script(*shell)).expect("scripts are UTF-8");
            for subcommand in ["plan", "apply", "validate", "completions", "man"] {
                assert!(script.contains(subcommand), "{shell} completions do not mention {subcommand}");
            }
        }
    }

    #[test]
    fn pages_are_one_per_visible_command_and_none_for_hidden_ones() {
        let names: Vec<String> = man_pages().expect("pages render").into_iter().map(|p| p.file_name).collect();
        assert_eq!(names[0], "operator-upgrade.1");
        for expected in ["operator-upgrade-plan.1", "operator-upgrade-apply.1", "operator-upgrade-man.1"] {
            assert!(names.iter().any(|n| n == expected), "no {expected} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("node-agent") || n.contains("help")), "{names:?}");
    }

    #[test]
    fn a_page_is_roff_with_its_command_in_the_title() {
        let pages = man_pages().expect("pages render");
        let plan = pages.iter().find(|p| p.file_name == "operator-upgrade-plan.1").expect("plan page");
        let roff = String::from_utf8_lossy(&plan.roff);
        assert!(roff.starts_with(".ie") || roff.starts_with(".TH"), "{}", &roff[..roff.len().min(200)]);
        assert!(roff.contains(".TH operator-upgrade-plan 1"), "{}", &roff[..roff.len().min(400)]);
        assert!(roff.contains("fail\\-on"), "the plan page documents --fail-on");
    }

    #[test]
    fn an_unwritable_dir_is_named_in_the_error() {
        let parent = tempfile::tempdir().expect("temp dir");
        let blocker = parent.path().join("a-file");
        std::fs::write(&blocker, "not a directory").expect("write");
        let error = write_man_pages(&blocker.join("man1")).expect_err("a file stands where a directory would");
        assert!(format!("{error:#}").contains(&blocker.join("man1").display().to_string()), "{error:#}");
    }
}
