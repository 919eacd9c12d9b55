//! The canary killed between any two of its API writes (`OPERATOR_UPGRADE_CRASH_AFTER_WRITE`), as if with
//! SIGKILL: through `canary-rollout`, `analysis` and `promotion` of a good release, and through the
//! automatic rollback of a bad one. After each kill, `apply` resumes to exactly the state of an uninterrupted
//! run, and `rollback` restores exactly the state before `apply`: both compared with snapshots the test took
//! itself (the operator's Deployments, the CRD, every Widget's labels and annotations), with no object ever
//! reconciled by two Deployments at once.

use crate::common;

use common::canary::{demo_cluster, tool, tool_with_env, widgets, CanaryPlan};
use common::{comparable, TestCluster};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};
use serde_json::{json, Value};

/// Signals that have data in every interval without users' churn, so each run ends the same way.
const STEADY_SIGNALS: &str = r#"      - conditions: {}
      - podRestarts: {}
      - warningEvents: {}
      - dependentChanges: {kinds: [{apiVersion: v1, kind: ConfigMap}]}
"#;

/// How many kills run side by side (each on its own simulator).
const PARALLEL: u64 = 3;

fn plan(image: &str) -> CanaryPlan {
    CanaryPlan::new(image, STEADY_SIGNALS, true).timed("400ms", 2, "400ms")
}

/// The test's own record of everything a canary run may change.
async fn snapshot(cluster: &TestCluster) -> String {
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), "demo-system");
    let deployments: Vec<Value> = deployments
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|d| comparable(serde_json::to_value(d).unwrap()))
        .collect();
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    let crd = comparable(serde_json::to_value(crds.get("widgets.demo.operator-upgrade.dev").await.unwrap()).unwrap());
    let marks: Vec<Value> = widgets(cluster)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|w| json!({"name": w.metadata.name, "labels": w.metadata.labels, "annotations": w.metadata.annotations}))
        .collect();
    serde_json::to_string_pretty(&json!({"deployments": deployments, "crd": crd, "widgets": marks})).unwrap()
}

fn assert_no_double_reconciles(cluster: &TestCluster, when: &str) {
    let conflicts = cluster.sim_handle().unwrap().reconciler_conflicts();
    assert!(conflicts.is_empty(), "{when}: objects reconciled by two Deployments at once: {conflicts:?}");
}

async fn apply(cluster: &TestCluster, plan: &CanaryPlan, crash_after: Option<u64>) -> (i32, String) {
    let path = plan.path().display().to_string();
    let env: Vec<(&str, String)> =
        crash_after.map(|n| ("OPERATOR_UPGRADE_CRASH_AFTER_WRITE", n.to_string())).into_iter().collect();
    tool_with_env(cluster, &["apply", "-f", &path, "--yes", "--fail-on", "never"], &env).await
}

/// The end of an uninterrupted run, and how many writes it made (from a run killed after every write in
/// turn, the first that was not killed ends the count).
async fn uninterrupted(image: &str, code: i32) -> String {
    let cluster = demo_cluster().await;
    let plan = plan(image);
    let (exit, out) = apply(&cluster, &plan, None).await;
    assert_eq!(exit, code, "the uninterrupted run: {out}");
    snapshot(&cluster).await
}

/// Kills `apply` after its `write`-th write, then resumes it (expecting `resumed_code` and the state
/// `expected`) on one simulator and rolls it back on another (expecting the state before apply). Returns
/// false when the run made fewer writes.
async fn kill_at(image: &str, write: u64, resumed_code: i32, expected: &str) -> bool {
    let resume = async {
        let cluster = demo_cluster().await;
        let plan = plan(image);
        let (code, out) = apply(&cluster, &plan, Some(write)).await;
        if !out.contains(&format!("fault point: aborting after API write {write}")) {
            return false;
        }
        assert_ne!(code, 0, "write {write}: {out}");
        let (code, out) = apply(&cluster, &plan, None).await;
        assert_eq!(code, resumed_code, "resuming after a kill at write {write}: {out}");
        assert_eq!(snapshot(&cluster).await, expected, "the end state after a kill at write {write} and a resume");
        assert_no_double_reconciles(&cluster, &format!("write {write}, resumed"));
        true
    };
    let roll_back = async {
        let cluster = demo_cluster().await;
        let before = snapshot(&cluster).await;
        let plan = plan(image);
        let (_, out) = apply(&cluster, &plan, Some(write)).await;
        if !out.contains("fault point: aborting") {
            return;
        }
        // Named, so a run the kill left already rolled back (its last write) says so instead of refusing.
        let (code, out) = tool(&cluster, &["rollback", "--plan", "demo-operator-v1-1", "--yes"]).await;
        assert_eq!(code, 0, "rollback after a kill at write {write}: {out}");
        assert_eq!(snapshot(&cluster).await, before, "the state after a kill at write {write} and a rollback");
        assert_no_double_reconciles(&cluster, &format!("write {write}, rolled back"));
    };
    tokio::join!(resume, roll_back).0
}

/// Kills the run after each of its writes in turn, `PARALLEL` at a time; returns how many writes it made.
async fn kill_after_every_write(image: &str, resumed_code: i32) -> u64 {
    let expected = uninterrupted(image, resumed_code).await;
    let mut first = 1;
    loop {
        let batch = (first..first + PARALLEL).map(|write| kill_at(image, write, resumed_code, &expected));
        let killed = futures::future::join_all(batch).await;
        if let Some(missed) = killed.iter().position(|k| !k) {
            return first + missed as u64 - 1;
        }
        first += PARALLEL;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_promoted_canary_killed_between_any_two_writes_resumes_to_the_same_end_and_rolls_back_exactly() {
    let writes = kill_after_every_write("registry.example/demo-operator:v1.1.0", 0).await;
    eprintln!("the canary run was killed after each of its {writes} API writes in turn, then resumed or rolled back");
    assert!(writes > 15, "only {writes} writes");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_canary_killed_anywhere_including_its_automatic_rollback_ends_rolled_back_exactly() {
    let writes = kill_after_every_write("registry.example/demo-operator:v1.1.0-bad", 1).await;
    eprintln!(
        "the failing canary run was killed after each of its {writes} API writes in turn, then resumed or rolled back"
    );
    assert!(writes > 15, "only {writes} writes");
}
