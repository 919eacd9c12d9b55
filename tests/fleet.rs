//! `fleet` end to end through the binary, with several simulators started in one test as the fleet's
//! clusters, each reached through its own kubeconfig file and pinned by its kube-system UID in the fleet
//! file. One cluster runs the bad release (its simulator makes the new image fail every Widget): the fleet
//! stops at that wave, the later clusters stay untouched, the earlier stay promoted, and re-running the
//! fleet stops there again without starting anything. A good fleet soaks between waves.

use crate::common;

use common::canary::{churn, demo_cluster, demo_run_status, kube_system_uid, operator_image, CanaryPlan, ALL_SIGNALS};
use common::TestCluster;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use operator_upgrade::sim::Scenario;
use serde_json::Value;
use std::path::Path;

const GOOD: &str = "registry.example/demo-operator:v1.1.0";
const OLD: &str = "registry.example/demo-operator:v1.0.0";
const JOURNAL: &str = "operator-upgrade-journal-demo-operator-v1-1";

/// A demo cluster whose v1.1.0 image behaves as the bad release: it fails on every Widget.
async fn bad_cluster() -> TestCluster {
    let mut scenario = Scenario::load(&common::canary::demo("scenario.yaml")).unwrap();
    let bad = scenario.images.iter().find(|i| i.image.ends_with(":v1.1.0-bad")).unwrap().clone();
    let good = scenario.images.iter_mut().find(|i| i.image == GOOD).unwrap();
    *good = operator_upgrade::sim::ImageBehaviour { image: GOOD.to_owned(), ..bad };
    let cluster = TestCluster::sim(Scenario { tick_ms: 20, ..scenario }).await;
    common::eventually("the bad cluster's Widgets Ready under v1.0.0", || async {
        let list = common::canary::widgets(&cluster).list(&Default::default()).await.ok()?;
        (list.items.iter().filter(|w| w.data["status"]["conditions"][0]["status"] == "True").count() == 40)
            .then_some(())
    })
    .await;
    cluster
}

/// A wave of the test's fleet: its name, how many at once, its clusters by name.
type TestWave<'a> = (&'a str, u32, Vec<(&'a str, &'a TestCluster)>);

/// A fleet file beside the plan.
async fn write_fleet(dir: &Path, soak: &str, waves: &[TestWave<'_>]) -> std::path::PathBuf {
    let mut text = format!(
        "apiVersion: operator-upgrade.dev/v1alpha1\nkind: UpgradeFleet\nmetadata: {{name: demo}}\nspec:\n  plan: plan.yaml\n  soak: {soak}\n  waves:\n"
    );
    for (name, parallel, clusters) in waves {
        text.push_str(&format!("    - name: {name}\n      maxParallel: {parallel}\n      clusters:\n"));
        for (cluster_name, cluster) in clusters {
            text.push_str(&format!(
                "        - {{name: {cluster_name}, kubeconfig: {}, kubeSystemUid: {}}}\n",
                cluster.kubeconfig_path().display(),
                kube_system_uid(cluster).await
            ));
        }
    }
    let path = dir.join("fleet.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the binary without a cluster of its own (the fleet file names them), users changing every
/// cluster's Widgets meanwhile so each canary's signals have something to measure.
async fn fleet(clusters: &[&TestCluster], args: &[&str]) -> (i32, String) {
    let churns: Vec<_> = clusters.iter().map(|c| churn(c)).collect();
    let result = common::run_binary(args, &[]).await;
    churns.iter().for_each(|c| c.abort());
    result
}

async fn journal(cluster: &TestCluster) -> Option<Value> {
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client(), "demo-system");
    config_maps.get_opt(JOURNAL).await.unwrap()?;
    Some(demo_run_status(cluster).await)
}

fn seconds(text: &Value) -> i64 {
    text.as_str().unwrap().parse::<jiff::Timestamp>().unwrap().as_second()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_cluster_stops_the_fleet_at_its_wave_with_the_later_waves_untouched_and_the_earlier_promoted() {
    let (first, bad, later, last) =
        (demo_cluster().await, bad_cluster().await, demo_cluster().await, demo_cluster().await);
    let plan = CanaryPlan::new(GOOD, ALL_SIGNALS, true);
    let waves = [
        ("canary", 1, vec![("first", &first)]),
        ("main", 1, vec![("bad", &bad), ("later", &later)]),
        ("rest", 2, vec![("last", &last)]),
    ];
    let file = write_fleet(plan.dir.path(), "1s", &waves).await;
    let file = file.to_str().unwrap();
    let all = [&first, &bad, &later, &last];
    let (code, output) = fleet(&all, &["fleet", "-f", file, "--fail-on", "never"]).await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("[first] done: plan demo-operator-v1-1 promoted"), "{output}");
    assert!(output.contains("[bad] rolled back:"), "{output}");
    assert!(
        !output.contains("[later]") && !output.contains("[last]"),
        "nothing starts after the bad cluster: {output}"
    );
    assert!(output.contains("fleet stopped at wave main: cluster bad rolled back"), "{output}");
    assert_eq!(operator_image(&first).await, GOOD, "the earlier wave stays promoted");
    assert_eq!(journal(&first).await.unwrap()["state"], "promoted");
    assert_eq!(operator_image(&bad).await, OLD);
    assert_eq!(journal(&bad).await.unwrap()["state"], "rolled-back");
    for untouched in [&later, &last] {
        assert_eq!(operator_image(untouched).await, OLD);
        assert!(journal(untouched).await.is_none(), "an untouched cluster has no journal");
    }

    let (code, status) = fleet(&[], &["fleet", "status", "-f", file]).await;
    assert_eq!(code, 0, "{status}");
    for (name, state) in
        [("first", "promoted"), ("bad", "rolled back"), ("later", "not started"), ("last", "not started")]
    {
        let line = status.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_else(|| panic!("{status}"));
        assert!(line.ends_with(state), "{name} is {state}: {status}");
    }
    assert!(status.contains("next: stopped: cluster bad of wave main rolled back"), "{status}");

    let (code, output) = fleet(&all, &["fleet", "-f", file, "--fail-on", "never"]).await;
    assert_eq!(code, 1, "re-running resumes from the journals and stops at the same cluster: {output}");
    assert!(!output.contains("[first]") && !output.contains("[later]"), "{output}");
    assert!(journal(&later).await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_fleet_is_promoted_wave_after_wave_with_the_soak_between() {
    let (first, second, third) = (demo_cluster().await, demo_cluster().await, demo_cluster().await);
    let plan = CanaryPlan::new(GOOD, ALL_SIGNALS, true);
    let waves = [("canary", 1, vec![("first", &first)]), ("main", 2, vec![("second", &second), ("third", &third)])];
    let file = write_fleet(plan.dir.path(), "3s", &waves).await;
    let file = file.to_str().unwrap();
    let (code, output) = fleet(&[&first, &second, &third], &["fleet", "-f", file, "--fail-on", "never"]).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("fleet: wave canary soaks for"), "{output}");
    assert!(output.contains("every cluster of every wave is promoted"), "{output}");
    let first_journal = journal(&first).await.unwrap();
    let promoted_at =
        first_journal["steps"].as_array().unwrap().iter().filter_map(|s| s.get("ended")).map(seconds).max();
    for cluster in [&second, &third] {
        assert_eq!(operator_image(cluster).await, GOOD);
        let started = seconds(&journal(cluster).await.unwrap()["started"]);
        assert!(
            started >= promoted_at.unwrap() + 3,
            "the second wave started after the soak: {started} vs {promoted_at:?}"
        );
    }
    let (code, output) = fleet(&[], &["fleet", "-f", file, "--fail-on", "never"]).await;
    assert_eq!(code, 0, "a promoted fleet is done at once: {output}");
    assert!(!output.contains("[first]") && !output.contains("soaks"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_that_is_not_the_pinned_one_stops_the_fleet_before_any_change() {
    let (first, other) = (demo_cluster().await, demo_cluster().await);
    let plan = CanaryPlan::new(GOOD, ALL_SIGNALS, true);
    let file = write_fleet(plan.dir.path(), "1s", &[("canary", 1, vec![("first", &first)])]).await;
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace(&kube_system_uid(&first).await, &kube_system_uid(&other).await)).unwrap();
    let (code, output) = fleet(&[], &["fleet", "-f", file.to_str().unwrap()]).await;
    assert_eq!(code, 5, "{output}");
    assert!(output.contains("the fleet file pins"), "{output}");
    assert_eq!(operator_image(&first).await, OLD);
}

#[test]
fn a_broken_fleet_file_is_bad_input_naming_the_file_and_a_pinned_plan_is_refused() {
    let plan = CanaryPlan::new(GOOD, ALL_SIGNALS, true);
    let file = plan.dir.path().join("fleet.yaml");
    std::fs::write(
        &file,
        "apiVersion: operator-upgrade.dev/v1alpha1\nkind: UpgradeFleet\nmetadata: {name: f}\nspec:\n  plan: plan.yaml\n  wave: []\n",
    )
    .unwrap();
    let binary = env!("CARGO_BIN_EXE_operator-upgrade");
    let run = |args: &[&str]| std::process::Command::new(binary).args(args).output().unwrap();
    let output = run(&["fleet", "-f", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("fleet.yaml") && stderr.contains("wave"), "{stderr}");

    let fleet = "apiVersion: operator-upgrade.dev/v1alpha1\nkind: UpgradeFleet\nmetadata: {name: f}\nspec:\n  plan: plan.yaml\n  waves: [{name: w, clusters: [{name: a, context: a, kubeSystemUid: 11111111-1111-1111-1111-111111111111}]}]\n";
    std::fs::write(&file, fleet).unwrap();
    let text = std::fs::read_to_string(plan.path()).unwrap();
    let pinned =
        text.replacen("spec:\n", "spec:\n  cluster: {kubeSystemUid: 22222222-2222-2222-2222-222222222222}\n", 1);
    std::fs::write(plan.path(), pinned).unwrap();
    let output = run(&["fleet", "-f", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("a fleet's plan pins nothing"), "{stderr}");

    let schema = run(&["schema", "--fleet"]);
    let schema: Value = serde_json::from_slice(&schema.stdout).unwrap();
    assert_eq!(schema["title"], "UpgradeFleet");
}
