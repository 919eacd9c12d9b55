//! The surfaces people use the tool through: `--output github` for `plan` and `validate` (snapshots on the
//! demo release), `completions` and `man`, and the kubectl plugin binary, run directly and, when kubectl is
//! on PATH, as `kubectl operator-upgrade` (skipped with a message otherwise).

use operator_upgrade::sim::{Scenario, Sim};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MAIN: &str = env!("CARGO_BIN_EXE_operator-upgrade");
const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-operator_upgrade");

/// The README's main command: the demo release's plan with its objects.
const DEMO_PLAN: [&str; 5] =
    ["plan", "-f", "examples/demo-operator/plan.yaml", "--objects", "examples/demo-operator/objects.yaml"];

const DEMO_VALIDATE: [&str; 7] = [
    "validate",
    "--crds",
    "examples/demo-operator/v1.1.0",
    "--old-crds",
    "examples/demo-operator/v1.0.0",
    "--objects",
    "examples/demo-operator/objects.yaml",
];

/// Runs a binary from the package root (so the paths in its output are the relative ones a CI job sees),
/// without the caller's KUBECONFIG.
fn run(binary: &str, args: &[&str]) -> Output {
    Command::new(binary)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("KUBECONFIG")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn with(base: &[&str], extra: &[&'static str]) -> Vec<String> {
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn run_owned(binary: &str, args: &[String]) -> Output {
    run(binary, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn skip(why: &str) {
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

// --- --output github -------------------------------------------------------------------------------------------

#[test]
fn plan_github_output_of_the_demo_release() {
    let output = run_owned(MAIN, &with(&DEMO_PLAN, &["--output", "github", "--fail-on", "never"]));
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let text = stdout(&output);
    assert_every_line_is_a_command_but_the_verdict(&text);
    insta::assert_snapshot!("plan_github_demo", text);
}

#[test]
fn validate_github_output_of_the_demo_objects() {
    let output = run_owned(MAIN, &with(&DEMO_VALIDATE, &["--output", "github", "--fail-on", "never"]));
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let text = stdout(&output);
    assert_every_line_is_a_command_but_the_verdict(&text);
    assert!(
        text.lines()
            .filter(|l| l.starts_with("::"))
            .all(|l| l.contains("file=examples/demo-operator/objects.yaml,line=")),
        "every object finding points at the objects file: {text}"
    );
    insta::assert_snapshot!("validate_github_demo", text);
}

fn assert_every_line_is_a_command_but_the_verdict(text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    let (verdict, commands) = lines.split_last().expect("output");
    assert!(!commands.is_empty(), "no annotations: {text}");
    for line in commands {
        let level_ok = ["::error ", "::warning ", "::notice "].iter().any(|p| line.starts_with(p));
        assert!(level_ok && line.contains("title="), "not a workflow command: {line}");
    }
    assert!(!verdict.starts_with("::"), "the last line is the verdict: {verdict}");
}

#[test]
fn plan_github_findings_point_at_the_lines_sarif_points_at() {
    let github = stdout(&run_owned(MAIN, &with(&DEMO_PLAN, &["--output", "github", "--fail-on", "never"])));
    let sarif = stdout(&run_owned(MAIN, &with(&DEMO_PLAN, &["--output", "sarif", "--fail-on", "never"])));
    let sarif: serde_json::Value = serde_json::from_str(&sarif).expect("SARIF is JSON");
    let from_sarif: Vec<String> = sarif["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let place = &r["locations"][0]["physicalLocation"];
            let uri = place["artifactLocation"]["uri"].as_str().unwrap_or("?");
            // SARIF keeps the plan file's absolute paths; the annotations name them from the job's directory.
            let file = Path::new(uri).strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(Path::new(uri));
            format!("file={},line={}", file.display(), place["region"]["startLine"])
        })
        .collect();
    assert!(!from_sarif.is_empty());
    let annotations: Vec<&str> = github.lines().filter(|l| l.starts_with("::")).collect();
    for (place, annotation) in from_sarif.iter().zip(&annotations) {
        assert!(annotation.contains(place), "{annotation} is not at {place}");
    }
}

#[test]
fn github_output_keeps_the_exit_codes_of_the_other_formats() {
    for fail_on in ["blocker", "breaking", "warning", "never"] {
        for base in [&DEMO_PLAN[..], &DEMO_VALIDATE[..]] {
            let code = |format: &'static str| {
                run_owned(MAIN, &with(base, &["--output", format, "--fail-on", fail_on])).status.code()
            };
            assert_eq!(code("github"), code("json"), "{} --fail-on {fail_on}", base[0]);
        }
    }
}

// --- completions and man ---------------------------------------------------------------------------------------

#[test]
fn completions_for_each_shell_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let output = run(MAIN, &["completions", shell]);
        assert!(output.status.success(), "{shell}: {}", String::from_utf8_lossy(&output.stderr));
        let script = stdout(&output);
        assert!(script.contains("plan") && script.contains("apply"), "{shell} script: {script}");
    }
}

#[test]
fn completions_refuse_an_unknown_shell() {
    let output = run(MAIN, &["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty());
}

#[test]
fn man_prints_the_top_page_in_roff() {
    let output = run(MAIN, &["man"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let page = stdout(&output);
    assert!(page.lines().any(|l| l.starts_with(".TH operator-upgrade 1")), "no .TH title: {page}");
    for subcommand in ["plan", "apply", "validate", "completions"] {
        assert!(page.contains(subcommand), "the page does not name {subcommand}");
    }
    assert!(!page.contains("node-agent"), "the hidden node agent is documented");
}

#[test]
fn man_out_dir_writes_one_page_per_visible_subcommand() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("man1");
    let output = run(MAIN, &["man", "--out-dir", out.to_str().expect("UTF-8 temp path")]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .expect("the dir exists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let visible = visible_subcommands();
    let mut expected: Vec<String> = visible.iter().map(|s| format!("operator-upgrade-{s}.1")).collect();
    expected.push("operator-upgrade.1".to_owned());
    // A command's own subcommands get pages too, named as git names its pages.
    expected.push("operator-upgrade-fleet-status.1".to_owned());
    expected.sort();
    assert_eq!(files, expected);
    let plan = std::fs::read_to_string(out.join("operator-upgrade-plan.1")).expect("plan page");
    assert!(plan.contains(".TH operator-upgrade-plan 1"), "{plan}");
}

/// The subcommands `--help` lists (clap's `help` aside), so a new subcommand is expected to get its page.
fn visible_subcommands() -> Vec<String> {
    let help = stdout(&run(MAIN, &["--help"]));
    let commands = help.split("Commands:").nth(1).expect("a Commands section");
    let section = commands.split("\n\n").next().unwrap_or_default();
    section
        .lines()
        // A subcommand's line is indented by two; its wrapped description by more.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn man_out_dir_names_the_dir_it_cannot_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("occupied");
    std::fs::write(&file, "a file, not a directory").expect("write");
    let target = file.join("man1");
    let output = run(MAIN, &["man", "--out-dir", target.to_str().expect("UTF-8 temp path")]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&target.display().to_string()), "{stderr}");
}

// --- the kubectl plugin ----------------------------------------------------------------------------------------

#[test]
fn the_plugin_plans_exactly_as_the_main_binary() {
    for format in ["text", "json", "github"] {
        let args = with(&DEMO_PLAN, &["--output", format]);
        let (main, plugin) = (run_owned(MAIN, &args), run_owned(PLUGIN, &args));
        assert!(!stdout(&main).is_empty());
        assert_eq!(stdout(&plugin), stdout(&main), "--output {format}");
        assert_eq!(plugin.status.code(), main.status.code(), "--output {format}");
    }
}

#[test]
fn the_plugin_calls_itself_kubectl_operator_upgrade() {
    let help = stdout(&run(PLUGIN, &["--help"]));
    assert!(help.contains("Usage: kubectl operator-upgrade "), "{help}");
    let plan_help = stdout(&run(PLUGIN, &["plan", "--help"]));
    assert!(plan_help.contains("Usage: kubectl operator-upgrade plan "), "{plan_help}");
    let error = run(PLUGIN, &["plan", "--no-such-flag"]);
    assert_eq!(error.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&error.stderr).contains("kubectl operator-upgrade plan"));
    let main_help = stdout(&run(MAIN, &["--help"]));
    assert!(main_help.contains("Usage: operator-upgrade "), "{main_help}");
}

/// PATH with the plugin's directory first, as `cargo install` would put it on PATH.
fn path_with_plugin() -> OsString {
    let dir = Path::new(PLUGIN).parent().expect("the plugin is in a directory").to_path_buf();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&rest))).expect("PATH joins")
}

fn kubectl(args: &[String], kubeconfig: Option<&Path>) -> Option<Output> {
    let mut command = Command::new("kubectl");
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR")).env("PATH", path_with_plugin());
    match kubeconfig {
        Some(path) => command.env("KUBECONFIG", path),
        None => command.env_remove("KUBECONFIG"),
    };
    command.output().ok()
}

fn kubectl_available() -> bool {
    let found = Command::new("kubectl").args(["version", "--client"]).output().is_ok_and(|o| o.status.success());
    if !found {
        skip("kubectl is not on PATH");
    }
    found
}

#[test]
fn kubectl_finds_the_plugin_and_runs_plan_through_it() {
    if !kubectl_available() {
        return;
    }
    let list = kubectl(&["plugin".to_owned(), "list".to_owned()], None).expect("kubectl runs");
    let listed = stdout(&list);
    assert!(listed.contains(PLUGIN), "kubectl plugin list does not find {PLUGIN}: {listed}");
    let mut args = vec!["operator-upgrade".to_owned()];
    args.extend(with(&DEMO_PLAN, &["--output", "json"]));
    let through_kubectl = kubectl(&args, None).expect("kubectl runs");
    let direct = run_owned(MAIN, &with(&DEMO_PLAN, &["--output", "json"]));
    assert_eq!(stdout(&through_kubectl), stdout(&direct), "{}", String::from_utf8_lossy(&through_kubectl.stderr));
    assert_eq!(through_kubectl.status.code(), direct.status.code());
}

// --- KUBECONFIG ------------------------------------------------------------------------------------------------

/// Runs the plugin with KUBECONFIG set (or not) and no other way to the cluster unless `args` give one.
fn plugin_with_kubeconfig_env(args: &[String], kubeconfig: Option<PathBuf>) -> Output {
    let mut command = Command::new(PLUGIN);
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    match kubeconfig {
        Some(path) => command.env("KUBECONFIG", path),
        None => command.env_remove("KUBECONFIG"),
    };
    command.output().expect("the plugin runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_from_the_environment_reaches_the_same_cluster_as_the_flag() {
    let sim = Sim::start(Scenario::default()).await.expect("the simulator starts");
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let status = vec!["status".to_owned()];
    let flag_args = vec!["status".to_owned(), "--kubeconfig".to_owned(), kubeconfig.display().to_string()];
    let (env, flag) = tokio::task::spawn_blocking({
        let kubeconfig = kubeconfig.clone();
        move || (plugin_with_kubeconfig_env(&status, Some(kubeconfig)), plugin_with_kubeconfig_env(&flag_args, None))
    })
    .await
    .expect("the runs finish");
    let said = |o: &Output| format!("{}{}", stdout(o), String::from_utf8_lossy(&o.stderr));
    assert!(!said(&flag).contains("kubeconfig"), "the flag's run did not reach the simulator: {}", said(&flag));
    assert_eq!(said(&env), said(&flag));
    assert_eq!(env.status.code(), flag.status.code());
    if kubectl_available() {
        let args = vec!["operator-upgrade".to_owned(), "status".to_owned()];
        let through_kubectl =
            tokio::task::spawn_blocking(move || kubectl(&args, Some(&kubeconfig))).await.expect("finished");
        let through_kubectl = through_kubectl.expect("kubectl runs");
        assert_eq!(said(&through_kubectl), said(&flag), "kubectl passes KUBECONFIG on to the plugin");
    }
}

#[test]
fn a_missing_kubeconfig_from_the_environment_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-kubeconfig");
    let output = plugin_with_kubeconfig_env(&["status".to_owned()], Some(missing.clone()));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
}
