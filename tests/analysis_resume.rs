//! An analysis resumed after the tool was killed in the middle of it goes on as if it had never stopped:
//! the counters count from the zero points journaled before the kill, not from the resume. The release
//! (the demo's `v1.1.0-metrics-errors`, without a canary) fails only on a counter: every reconcile it makes
//! counts an error, its conditions stay green. Users change three Widgets while the tool is down; the
//! errors of those reconciles fall in the interval the kill interrupted, so an uninterrupted run with the
//! same changes rolls back, and so must the resumed one. Counting from the resume would miss them and
//! promote the release.

use crate::common;

use common::canary::{demo_cluster_of, operator_image, widgets, CanaryPlan};
use common::{eventually, run_tool, TestCluster};
use kube::api::{Api, ListParams, Patch, PatchParams};
use operator_upgrade::sim::Scenario;
use serde_json::{json, Value};
use std::io::Read;
use std::process::{Child, Command};

/// The error counter alone: any reconcile error in an interval fails it.
const ERRORS_ONLY: &str = r#"      - metric:
          name: reconcile-errors
          source: {podProxy: {port: metrics, series: 'controller_runtime_reconcile_total{result="error"}'}}
          max: 0
"#;

const PLAN: &str = "demo-operator-v1-1";

/// The demo's 40 Widgets without the scenario's users: a Widget is reconciled only when the test changes it.
async fn quiet_demo_cluster() -> TestCluster {
    demo_cluster_of(|scenario| Scenario { churn: Vec::new(), ..scenario }).await
}

fn plan() -> CanaryPlan {
    // A long analysis: the kill and the users' changes happen well within it.
    CanaryPlan::new("registry.example/demo-operator:v1.1.0-metrics-errors", ERRORS_ONLY, true)
        .timed("1s", 8, "3s")
        .without_canary()
}

fn spawn_apply(cluster: &TestCluster, plan: &CanaryPlan) -> Child {
    Command::new(env!("CARGO_BIN_EXE_operator-upgrade"))
        .args(["apply", "-f", plan.path().to_str().unwrap(), "--yes", "--fail-on", "never", "--kubeconfig"])
        .arg(cluster.kubeconfig_path())
        .env_remove("OPERATOR_UPGRADE_CRASH_AFTER_WRITE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the tool starts")
}

/// The run's journal as stored, decompressed.
async fn journal(cluster: &TestCluster) -> Option<Value> {
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(cluster.client(), "demo-system");
    let map = maps.get_opt(&format!("operator-upgrade-journal-{PLAN}")).await.ok()??;
    let compressed = &map.binary_data?.get("journal.json.gz")?.0.clone();
    let mut text = String::new();
    flate2::read::GzDecoder::new(compressed.as_slice()).read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// The analysis's intervals as journaled: (index, seconds since it began, the counter's reading, verdict).
fn intervals(journal: &Value) -> Vec<(u64, u64, Value, String)> {
    let list = journal["analysis"]["intervals"].as_array().cloned().unwrap_or_default();
    list.iter()
        .map(|i| {
            let (reading, verdict) = (&i["signals"][0][0], &i["signals"][0][1]);
            let index = i["index"].as_u64().unwrap();
            (index, i["atSeconds"].as_u64().unwrap(), reading["canary"].clone(), verdict.as_str().unwrap().to_owned())
        })
        .collect()
}

/// Waits until the analysis has journaled a first interval, which must have passed (no user changed
/// anything yet); returns how many intervals are journaled.
async fn first_interval_passed(cluster: &TestCluster) -> usize {
    let journaled = eventually("the analysis journals its first interval", || async {
        let journal = journal(cluster).await?;
        let list = intervals(&journal);
        (!list.is_empty()).then_some(list)
    })
    .await;
    assert!(journaled.iter().all(|(_, _, _, verdict)| verdict == "pass"), "{journaled:?}");
    journaled.len()
}

/// A user changes three Widgets; returns once the new release has reconciled each (and counted its error).
async fn users_change_three_widgets(cluster: &TestCluster) {
    let api = widgets(cluster);
    let mut names: Vec<String> =
        api.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|w| w.metadata.name).collect();
    names.sort();
    names.truncate(3);
    for name in &names {
        let patch = json!({"spec": {"replicas": 3}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    }
    eventually("the three changes are reconciled", || async {
        for name in &names {
            let widget = api.get(name).await.ok()?;
            let caught_up = widget.data["status"]["observedGeneration"].as_i64() == widget.metadata.generation;
            if !caught_up {
                return None;
            }
        }
        Some(())
    })
    .await;
}

/// The run with the users' changes during the analysis and no kill: rolled back by the error counter.
async fn uninterrupted() {
    let cluster = quiet_demo_cluster().await;
    let plan = plan();
    let path = plan.path().display().to_string();
    let apply = tokio::spawn({
        let kubeconfig = cluster.kubeconfig_path().to_owned();
        async move {
            let kubeconfig = kubeconfig.display().to_string();
            common::run_binary(&["apply", "-f", &path, "--yes", "--fail-on", "never", "--kubeconfig", &kubeconfig], &[])
                .await
        }
    });
    first_interval_passed(&cluster).await;
    users_change_three_widgets(&cluster).await;
    let (code, output) = apply.await.unwrap();
    assert_eq!(code, 1, "uninterrupted: {output}");
    assert!(output.contains("metric reconcile-errors failed"), "uninterrupted: {output}");
}

/// The run killed (SIGKILL) after its first interval, the users' changes made while it is down, then
/// resumed: rolled back by the error counter too, counting the changes' errors in its next interval.
async fn killed_and_resumed() {
    let cluster = quiet_demo_cluster().await;
    let plan = plan();
    let mut child = spawn_apply(&cluster, &plan);
    let before_kill = first_interval_passed(&cluster).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = journal(&cluster).await.unwrap();
    let journaled = intervals(&kept);
    assert!(journaled.len() >= before_kill, "{journaled:?}");
    assert!(kept["analysis"]["memory"]["canary"]["counters"]["reconcile-errors"].is_object(), "{kept}");
    users_change_three_widgets(&cluster).await;
    let path = plan.path().display().to_string();
    let (code, output) = run_tool(&cluster, &["apply", "-f", &path, "--yes", "--fail-on", "never"], &[]).await;
    assert_eq!(code, 1, "resumed: {output}");
    assert!(output.contains("metric reconcile-errors failed"), "resumed: {output}");
    assert_eq!(operator_image(&cluster).await, "registry.example/demo-operator:v1.0.0");
    let after = intervals(&journal(&cluster).await.unwrap());
    let (last_index, last_at, _, _) = journaled.last().unwrap().clone();
    let (index, at, reading, verdict) = after[journaled.len()].clone();
    assert_eq!(index, last_index + 1, "the resumed analysis goes on from the journaled intervals: {after:?}");
    assert!(at > last_at, "its time goes on from when the analysis began: {after:?}");
    assert_eq!(verdict, "fail", "{after:?}");
    let errors = reading["value"].as_f64().unwrap();
    assert!(errors >= 3.0, "the errors counted while the tool was down are in the first interval after it: {after:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_analysis_killed_midway_resumes_with_its_counters_zero_points_and_rolls_back_as_an_uninterrupted_one() {
    tokio::join!(uninterrupted(), killed_and_resumed());
}
