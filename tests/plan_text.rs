//! The text plan a person reads: by default warnings and above in full (the same change in many places as one
//! group), info one line per code per CRD, so a typical upgrade fits on one screen of 60 lines up to the steps;
//! `-v` or `--min-severity info` shows every finding; JSON, markdown and SARIF keep every finding whatever the
//! flags. Snapshots of the demo's plan and, when `../shared/corpus` is present, of CloudNativePG 1.29.0 -> 1.30.0
//! and cert-manager v1.18.5 -> v1.19.0 (skipped with a message otherwise).

use assert_cmd::Command;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The screen a plan must fit on, up to its steps.
const SCREEN_LINES: usize = 60;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_pair(project: &str, old: &str, new: &str) -> Option<(PathBuf, PathBuf)> {
    let crds = Path::new("../shared/corpus/crds").join(project);
    if root().join(&crds).is_dir() {
        Some((crds.join(old), crds.join(new)))
    } else {
        // Written past the test harness's capture so the skip is visible in a plain `cargo test`.
        let _ = writeln!(std::io::stderr(), "skipped: ../shared/corpus not found beside the project");
        None
    }
}

/// Runs `operator-upgrade ARGS` from the project root (paths in the output stay relative) and returns stdout.
fn run(args: &[&str]) -> String {
    let mut cmd = Command::cargo_bin("operator-upgrade").expect("binary built");
    let assert = cmd.current_dir(root()).args(args).args(["--fail-on", "never"]).assert().code(0);
    String::from_utf8(assert.get_output().stdout.clone()).expect("utf-8")
}

fn plan_text(old: &Path, new: &Path, extra: &[&str]) -> String {
    let (old, new) = (old.to_str().expect("utf-8 path"), new.to_str().expect("utf-8 path"));
    let mut args = vec!["plan", "--from", old, "--to", new, "--color", "never"];
    args.extend_from_slice(extra);
    run(&args)
}

fn demo_text(extra: &[&str]) -> String {
    let mut args = vec![
        "plan",
        "-f",
        "examples/demo-operator/plan.yaml",
        "--objects",
        "examples/demo-operator/objects.yaml",
        "--color",
        "never",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// The lines before `== Steps apply would run` (or before the refusals).
fn lines_before_steps(text: &str) -> usize {
    text.lines().take_while(|line| !line.starts_with("== Steps") && !line.starts_with("== REFUSED")).count()
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({snapshot_path => "fixtures/plan_text", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn the_demo_plan_fits_on_one_screen_up_to_the_steps() {
    let text = demo_text(&[]);
    let lines = lines_before_steps(&text);
    println!("demo plan: {lines} lines up to the steps, {} in all", text.lines().count());
    assert!(lines <= SCREEN_LINES, "{lines} lines up to the steps:\n{text}");
    snapshot("demo", &text);
}

#[test]
fn cloudnative_pg_and_cert_manager_plans_fit_on_one_screen_up_to_the_steps() {
    for (name, project, old, new) in [
        ("cloudnative-pg-1.29.0-1.30.0", "cloudnative-pg", "v1.29.0", "v1.30.0"),
        ("cert-manager-v1.18.5-v1.19.0", "cert-manager", "v1.18.5", "v1.19.0"),
    ] {
        let Some((old, new)) = corpus_pair(project, old, new) else { return };
        let text = plan_text(&old, &new, &[]);
        let lines = lines_before_steps(&text);
        println!("{name}: {lines} lines up to the steps, {} in all", text.lines().count());
        assert!(lines <= SCREEN_LINES, "{name}: {lines} lines up to the steps:\n{text}");
        snapshot(name, &text);
    }
}

/// prometheus-operator v0.74.0 -> v0.75.0 has ~2,000 findings, nearly all generated `default: ""` and list-type
/// markers: the default text is short, `-v` shows every finding, JSON and markdown keep every one.
#[test]
fn a_noisy_upgrade_is_summarised_and_every_finding_stays_available() {
    let Some((old, new)) = corpus_pair("prometheus-operator", "v0.74.0", "v0.75.0") else { return };
    let text = plan_text(&old, &new, &[]);
    let verbose = plan_text(&old, &new, &["-v"]);
    let explicit = plan_text(&old, &new, &["--min-severity", "info"]);
    println!(
        "prometheus-operator v0.74.0 -> v0.75.0: {} lines, {} with -v",
        text.lines().count(),
        verbose.lines().count()
    );
    assert!(text.lines().count() < 120, "{text}");
    assert_eq!(verbose, explicit, "-v is --min-severity info");
    assert!(verbose.lines().count() > 3000);
    // The list type tightened on env of containers and initContainers, in four CRDs: one group.
    assert!(
        text.contains("8 places in 4 CRD(s): list type of <path> changed from unset to map keyed by name"),
        "{text}"
    );
    assert!(text.contains(".spec.{containers,initContainers}[*].env in alertmanagers v1, prometheusagents v1alpha1"));
    assert!(text.contains("default-added                      306 findings, e.g. v1alpha1"), "{text}");

    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());
    for flags in [&[][..], &["--min-severity", "breaking"][..], &["-v"][..]] {
        let mut args = vec!["plan", "--from", old, "--to", new, "-o", "json"];
        args.extend_from_slice(flags);
        let json: serde_json::Value = serde_json::from_str(&run(&args)).expect("JSON");
        assert_eq!(json["findings"].as_array().map(Vec::len), Some(1992), "{flags:?}");
        assert_eq!(json["summary"]["hidden"], 0);
    }
    let mut args = vec!["plan", "--from", old, "--to", new, "-o", "markdown", "--min-severity", "blocker"];
    let markdown = run(&args);
    assert!(markdown.contains("#### Repeated changes"), "{markdown}");
    assert!(markdown.contains("default of <path> changed from none to \"\" (690 places)"), "{markdown}");
    args.truncate(5);
    args.extend(["-o", "sarif"]);
    let sarif: serde_json::Value = serde_json::from_str(&run(&args)).expect("SARIF");
    assert_eq!(sarif["runs"][0]["results"].as_array().map(Vec::len), Some(1992));
}

/// `-v` shows each finding as before: message under its code and path, grouped by CRD and version.
#[test]
fn verbose_text_shows_every_finding_one_by_one() {
    let text = demo_text(&["-v"]);
    assert!(text.contains("    info     description-changed                .spec.image\n             documentation of .spec.image changed\n"), "{text}");
    assert!(!text.contains("one line per code"), "{text}");
    let summary = demo_text(&[]);
    assert!(
        summary.contains("  info     description-changed                documentation of .spec.image changed\n"),
        "{summary}"
    );
    assert!(summary.contains("Info findings are shown one line per code (-v shows each)."), "{summary}");
    let breaking = demo_text(&["--min-severity", "breaking"]);
    assert!(!breaking.contains("warning  "), "{breaking}");
    let mut cmd = Command::cargo_bin("operator-upgrade").expect("binary built");
    cmd.current_dir(root()).args(["plan", "-f", "examples/demo-operator/plan.yaml", "-v", "--min-severity", "info"]);
    cmd.assert().code(2);
}
