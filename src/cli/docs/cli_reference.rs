//! The command-line reference: every visible command with its usage and options, from the same clap
//! definitions the parser, `--help`, the completions and the man pages come from.

use super::finding_codes::anchor;
use super::{cell, prose, sentence};
use clap::{Arg, Command};
use std::fmt::Write;

/// The page's body (after the generated header).
pub fn render() -> String {
    let top = super::super::completions::documented_command();
    let mut out = String::new();
    out.push_str(
        "`operator-upgrade` and, as a kubectl plugin, `kubectl operator-upgrade` take the same arguments. Every \
         command has `--help` (`-h` for a summary). What the exit codes mean: [exit codes](exit-codes.md).\n\n",
    );
    let commands = visible_commands(&top);
    out.push_str("| command | what it does |\n|---|---|\n");
    for (path, command) in commands.iter().skip(1) {
        let _ = writeln!(out, "| [`{path}`](#{}) | {} |", anchor(path), cell(&sentence(&about(command))));
    }
    for (index, (path, command)) in commands.iter().enumerate() {
        let parent = if index == 0 { None } else { parent_of(&commands, path) };
        render_command(&mut out, path, command, parent);
    }
    out
}

/// The top command and every visible subcommand at any depth, each with its full name, depth first.
fn visible_commands(top: &Command) -> Vec<(String, Command)> {
    fn collect(path: String, command: &Command, into: &mut Vec<(String, Command)>) {
        into.push((path.clone(), command.clone()));
        for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
            collect(format!("{path} {}", sub.get_name()), sub, into);
        }
    }
    let mut commands = Vec::new();
    collect(top.get_name().to_owned(), top, &mut commands);
    commands
}

fn parent_of<'a>(commands: &'a [(String, Command)], path: &str) -> Option<&'a Command> {
    let parent = path.rsplit_once(' ')?.0;
    commands.iter().find(|(p, _)| p == parent).map(|(_, c)| c)
}

fn about(command: &Command) -> String {
    command.get_about().map(|a| a.to_string()).unwrap_or_default()
}

/// clap's own `--help` and `--version`, which every command has and the page mentions once.
fn is_builtin(arg: &Arg) -> bool {
    matches!(arg.get_id().as_str(), "help" | "version")
}

/// Whether `arg` is a global option `parent` already documents (clap copies globals into subcommands).
fn inherited(arg: &Arg, parent: Option<&Command>) -> bool {
    arg.is_global_set()
        && parent.is_some_and(|p| p.get_arguments().any(|a| a.get_id() == arg.get_id() && !is_builtin(a)))
}

fn render_command(out: &mut String, path: &str, command: &Command, parent: Option<&Command>) {
    let _ = write!(out, "\n## `{path}`\n\n");
    let description = command.get_long_about().or(command.get_about()).map(|a| a.to_string()).unwrap_or_default();
    if !description.is_empty() {
        let _ = write!(out, "{}\n\n", prose(&sentence(&description)));
    }
    let usage = command.clone().render_usage().to_string();
    let _ = write!(out, "```text\n{}\n```\n", usage.trim());
    let args: Vec<&Arg> =
        command.get_arguments().filter(|a| !a.is_hide_set() && !is_builtin(a) && !inherited(a, parent)).collect();
    if !args.is_empty() {
        out.push_str("\n| argument | what it is |\n|---|---|\n");
        for arg in args {
            let _ = writeln!(out, "| {} | {} |", cell(&spelling(arg)), cell(&describe(arg)));
        }
    }
    let subcommands: Vec<&Command> = command.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    if parent.is_some() && !subcommands.is_empty() {
        let names: Vec<String> = subcommands
            .iter()
            .map(|s| format!("[`{path} {}`](#{})", s.get_name(), anchor(&format!("{path} {}", s.get_name()))))
            .collect();
        let _ = writeln!(out, "\nSubcommands: {}.", names.join(", "));
    }
}

/// `-f, --file <FILE>`, `--yes`, `<SHELL>`: the argument as it is typed.
fn spelling(arg: &Arg) -> String {
    let value = arg
        .get_value_names()
        .map(|names| names.iter().map(|n| format!("<{n}>")).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| format!("<{}>", arg.get_id().as_str().to_uppercase()));
    let takes_value = arg.get_action().takes_values();
    if arg.is_positional() {
        return format!("`{value}`");
    }
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("-{short}"));
    }
    if let Some(long) = arg.get_long() {
        names.push(format!("--{long}"));
    }
    let flag = names.join(", ");
    if takes_value {
        format!("`{flag} {value}`")
    } else {
        format!("`{flag}`")
    }
}

/// The help text, then what is required, repeatable, the default and the accepted values.
fn describe(arg: &Arg) -> String {
    let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
    let mut parts = vec![sentence(&help)];
    if arg.is_required_set() {
        parts.push("Required.".to_owned());
    }
    if matches!(arg.get_action(), clap::ArgAction::Append) {
        parts.push("Repeatable.".to_owned());
    }
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| match v.get_help() {
            Some(help) => format!("`{}` ({})", v.get_name(), help.to_string().trim_end_matches('.')),
            None => format!("`{}`", v.get_name()),
        })
        .collect();
    // A boolean flag's possible values are clap's own `true`/`false`, not something a user types.
    if !values.is_empty() && arg.get_action().takes_values() {
        parts.push(format!("Values: {}.", values.join(", ")));
    }
    let defaults: Vec<String> = arg.get_default_values().iter().map(|d| format!("`{}`", d.to_string_lossy())).collect();
    if !defaults.is_empty() && arg.get_action().takes_values() {
        parts.push(format!("Default: {}.", defaults.join(", ")));
    }
    parts.retain(|p| !p.is_empty());
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visible_command_has_a_section_and_hidden_ones_none() {
        let page = render();
        for command in ["plan", "apply", "finalize", "rollback", "status", "rehearse", "fleet", "fleet status", "man"] {
            assert!(page.contains(&format!("\n## `operator-upgrade {command}`\n")), "no section for {command}");
        }
        assert!(!page.contains("node-agent") && !page.contains("## `operator-upgrade docs`"), "hidden commands");
        assert!(!page.contains("operator-upgrade help"), "clap's help subcommand is not a command of ours");
    }

    #[test]
    fn options_show_their_spelling_values_and_defaults() {
        let page = render();
        assert!(page.contains("| `-f, --file <FILE>` |"), "{page}");
        assert!(page.contains("`breaking` (Breaking changes and blockers fail)"), "{page}");
        assert!(page.contains("Default: `breaking`."), "{page}");
        assert!(page.contains("| `--accept <CODE[@PATH]>` |") && page.contains("Repeatable."), "{page}");
    }

    #[test]
    fn global_options_are_documented_once_where_they_are_declared() {
        let page = render();
        assert_eq!(page.matches("| `--log-format <LOG_FORMAT>` |").count(), 1, "{page}");
        let fleet_status = page.split("## `operator-upgrade fleet status`").nth(1).unwrap();
        assert!(!fleet_status.contains("--log-format"), "{fleet_status}");
    }
}
