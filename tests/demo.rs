//! `operator-upgrade demo` end to end: the binary starts its own simulator, plans, runs the bad release to a
//! canary that is rolled back by itself, shows `status`, then promotes and finalizes the good release. The
//! demo's own files are used with the analysis shortened (1s intervals) and the users' churn quickened, so
//! each signal has something to measure in a 4-second analysis.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const DEMO: &str = "examples/demo-operator";

/// Copies the demo's directory (plans, scenario, releases) into `to`.
fn copy_demo(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        // Followed through symlinks: the demo's Helm charts link to the releases' files.
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_demo(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Rewrites `what` in the file, which must contain it.
fn rewrite(path: &Path, what: &str, with: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(what), "{} does not contain {what:?}", path.display());
    std::fs::write(path, text.replace(what, with)).unwrap();
}

/// The demo's files with the scenario's timings shortened.
fn shortened_demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_demo(&Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO), dir.path());
    for plan in ["plan.yaml", "plan-bad.yaml"] {
        let plan = dir.path().join(plan);
        rewrite(
            &plan,
            "interval: 10s\n    duration: 1m\n    warmUp: 5s",
            "interval: 1s\n    count: 4\n    warmUp: 1500ms",
        );
        rewrite(&plan, "maxCatchUp: 30s", "maxCatchUp: 5s");
    }
    rewrite(&dir.path().join("scenario.yaml"), "everyMs: 2000, count: 3", "everyMs: 250, count: 4");
    dir
}

fn run_demo(dir: &Path, extra: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_operator-upgrade"))
        .args(["demo", "--dir", dir.to_str().unwrap()])
        .args(extra)
        .output()
        .expect("the demo runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

/// The position of `needle` in `text` after `from`, or a failure showing the output.
fn after(text: &str, from: usize, needle: &str) -> usize {
    match text[from..].find(needle) {
        Some(at) => from + at,
        None => panic!("the demo's output lacks {needle:?} after byte {from}:\n{text}"),
    }
}

/// What `--keep` leaves running, checked through its printed kubeconfig: the good release's operator, its CRD
/// stored only at v1, and no cohort label or canary/baseline Deployment left behind.
async fn check_kept_cluster(kubeconfig: &Path) {
    let config = Kubeconfig::read_from(kubeconfig).expect("the printed kubeconfig reads");
    let config = kube::Config::from_custom_kubeconfig(config, &KubeConfigOptions::default()).await.unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "demo-system");
    let names: Vec<String> = deployments
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|d| d.metadata.name)
        .collect();
    assert_eq!(names, ["demo-operator"]);
    let operator = deployments.get("demo-operator").await.unwrap();
    let image = operator.spec.unwrap().template.spec.unwrap().containers[0].image.clone();
    assert_eq!(image.as_deref(), Some("registry.example/demo-operator:v1.1.0"));
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds.get("widgets.demo.operator-upgrade.dev").await.unwrap();
    assert_eq!(crd.status.unwrap().stored_versions, Some(vec!["v1".to_owned()]));
    let gvk = GroupVersionKind::gvk("demo.operator-upgrade.dev", "v1", "Widget");
    let widgets: Api<DynamicObject> =
        Api::namespaced_with(client, "default", &ApiResource::from_gvk_with_plural(&gvk, "widgets"));
    let widgets = widgets.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(widgets.len(), 40);
    for widget in widgets {
        let labels = widget.metadata.labels.unwrap_or_default();
        assert!(
            !labels.contains_key("operator-upgrade.dev/cohort"),
            "{:?} keeps its cohort label",
            widget.metadata.name
        );
    }
}

#[test]
fn the_demo_rolls_the_bad_release_back_and_promotes_the_good_one() {
    let dir = shortened_demo();
    let mut child = Command::new(env!("CARGO_BIN_EXE_operator-upgrade"))
        .args(["demo", "--dir", dir.path().to_str().unwrap(), "--color", "never", "--keep", "--pause"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the demo starts");
    // Up to the end of the kubeconfig `--keep` prints; the demo then serves until SIGINT.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        out.push_str(&line);
        out.push('\n');
        if line.starts_with("current-context:") {
            break;
        }
    }
    let kubeconfig = out.lines().find_map(|l| l.trim().strip_prefix("export KUBECONFIG=")).map(PathBuf::from);
    let Some(kubeconfig) = kubeconfig else {
        let _ = child.kill();
        panic!("the demo printed no kubeconfig to look with:\n{out}");
    };
    let checked = std::panic::catch_unwind(|| {
        tokio::runtime::Runtime::new().unwrap().block_on(check_kept_cluster(&kubeconfig));
    });
    if checked.is_err() {
        // Never leave the kept simulator behind a failed test.
        let _ = child.kill();
        panic!("the cluster --keep left is not the promoted one; the demo printed:\n{out}");
    }
    let interrupted = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the demo did not end as it should:\n{out}");
    assert!(!kubeconfig.exists(), "the kubeconfig outlives the simulator");

    // The story in order: the plan, act 1 rolled back and its status, act 2 done and finalized.
    let plan = after(&out, 0, "Plan demo-operator-v1-1 ");
    let pause = after(&out, plan, "(press Enter to go on)");
    let act_one = after(&out, pause, "== Act 1: a bad release ==");
    let rolled_back = after(&out, act_one, "\nrolled back: ");
    let restored_status =
        after(&out, rolled_back, "of plan demo-operator-v1-1-bad (demo-system/demo-operator): rolled-back");
    let restored = after(&out, restored_status, "rolled back: the ");
    let pause = after(&out, restored, "(press Enter to go on)");
    let act_two = after(&out, pause, "== Act 2: the good release ==");
    let done = after(&out, act_two, "\ndone: plan demo-operator-v1-1 finalized");
    let finalized = after(&out, done, "of plan demo-operator-v1-1 (demo-system/demo-operator): finalized");
    after(&out, finalized, "== Done in ");
    // The bad release's canary failed on its own measurements.
    let analysis = after(&out, act_one, "analysis failed: ");
    assert!(analysis < rolled_back, "{out}");
}

#[test]
fn a_missing_demo_directory_is_bad_input_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run_demo(dir.path(), &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("scenario.yaml"), "{out}");
}

#[test]
fn a_broken_plan_stops_the_demo_before_the_simulator_starts() {
    let dir = shortened_demo();
    rewrite(&dir.path().join("plan-bad.yaml"), "kind: UpgradePlan", "kind: UpgradePlam");
    let (code, out) = run_demo(dir.path(), &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("plan-bad.yaml"), "{out}");
    assert!(!out.contains("Act 1"), "{out}");
}

#[test]
fn a_bad_scenario_stops_the_demo_naming_the_file_and_line() {
    let cases = [
        // Refused when the scenario loads: a wrong shape, a count the simulator cannot hold.
        (
            "metadata: {namespace: default, labels: {app.kubernetes.io/part-of: demo}}",
            "metadata: 'x'",
            "scenario.yaml:12:17: populations[0].template.metadata: invalid type: string \"x\"",
        ),
        ("  - count: 40\n", "  - count: 100000000\n", "scenario.yaml:7: populations[0].count: 100000000 objects"),
        // Refused by the simulated API server when it starts: still named by file, line and population.
        ("replicas: 1}", "replicas: many}", "scenario.yaml:7: populations[0]: Widget widget-00: 422 Invalid"),
    ];
    for (what, with, wanted) in cases {
        let dir = tempfile::tempdir().unwrap();
        copy_demo(&Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO), dir.path());
        let scenario = dir.path().join("scenario.yaml");
        rewrite(&scenario, what, with);
        let (code, out) = run_demo(dir.path(), &[]);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains(&format!("{}/{wanted}", dir.path().display())), "{out}\nwanted: {wanted}");
        assert!(!out.contains("Act 1"), "{out}");
    }
}
