//! The canary end to end through the real binary and `kube::Client` against the simulator: the demo
//! operator's 40 Widgets, a 10% canary and an equal baseline, each on its own scoped Deployment and lease.
//! A good release is promoted; a bad one, a crash-looping one, a metrics-only regression, a canary that shares
//! the stable's lease, a canary without metrics and one that re-rolls every dependent are rolled back; a
//! cluster-wide failure is inconclusive. After every run no cohort label or extra Deployment is left, and
//! the simulator saw no object reconciled by two Deployments at once.

use crate::common;

use common::canary::{apply, assert_clean, demo_cluster, operator_image, tool, widgets, CanaryPlan, ALL_SIGNALS};
use common::{eventually, TestCluster};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};

#[tokio::test(flavor = "multi_thread")]
async fn a_good_release_is_promoted_after_the_canary_passes_against_the_baseline() {
    let cluster = demo_cluster().await;
    let plan = CanaryPlan::new("registry.example/demo-operator:v1.1.0", ALL_SIGNALS, true);
    let (code, output) = apply(&cluster, &plan).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("canary-rollout done: 4 canary and 4 baseline objects ("), "{output}");
    assert!(output.contains("promoted"), "{output}");
    assert_eq!(operator_image(&cluster).await, "registry.example/demo-operator:v1.1.0");
    assert_clean(&cluster).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_release_fails_the_analysis_and_is_rolled_back_with_every_widget_ready_under_the_old_operator() {
    let cluster = demo_cluster().await;
    let plan = CanaryPlan::new("registry.example/demo-operator:v1.1.0-bad", ALL_SIGNALS, true);
    let (code, output) = apply(&cluster, &plan).await;
    assert_eq!(code, 1, "{output}");
    // The bad image fails on every Widget, so whichever four the canary drew all fail, and none of the baseline.
    assert!(
        output.contains("conditions failed 1 times in 1 intervals (at most 0 allowed): canary 4, baseline 0"),
        "{output}"
    );
    assert!(output.contains("from the canary's first failed reconcile to the restored state"), "{output}");
    assert_eq!(operator_image(&cluster).await, "registry.example/demo-operator:v1.0.0");
    for widget in widgets(&cluster).list(&ListParams::default()).await.unwrap().items {
        let ready = widget.data["status"]["conditions"][0]["status"].as_str();
        assert_eq!(ready, Some("True"), "{:?} is not Ready after the rollback", widget.metadata.name);
    }
    assert_clean(&cluster).await;
}

/// A release whose canary is rolled back: exit 1, the old image back, the reason in the output.
async fn rolled_back(image: &str, own_lease: bool, reason: &str) {
    let cluster = demo_cluster().await;
    let plan = CanaryPlan::new(image, ALL_SIGNALS, own_lease);
    let (code, output) = apply(&cluster, &plan).await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains(reason), "expected `{reason}` in:\n{output}");
    assert_eq!(operator_image(&cluster).await, "registry.example/demo-operator:v1.0.0");
    assert_clean(&cluster).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_looping_canary_is_rolled_back() {
    rolled_back("registry.example/demo-operator:v1.1.0-crashloop", true, "the canary's reconciles cannot be read")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_regression_only_in_the_metrics_is_caught_against_the_baseline() {
    rolled_back("registry.example/demo-operator:v1.1.0-metrics-errors", true, "metric reconcile-error-ratio failed")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_without_a_metrics_endpoint_fails_rather_than_passes() {
    rolled_back("registry.example/demo-operator:v1.1.0-no-metrics", true, "the canary's reconciles cannot be read")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_sharing_the_stable_lease_reconciles_nothing_and_fails() {
    rolled_back("registry.example/demo-operator:v1.1.0", false, "the canary reconciled nothing within the warm-up")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_that_rewrites_every_dependent_is_caught_while_its_conditions_stay_green() {
    rolled_back("registry.example/demo-operator:v1.1.0-rerolls", true, "dependentChanges failed").await;
}

/// Applies the good release with the cluster breaking once the stable Deployment is rescoped, before the
/// canary and baseline start: every reconcile fails, the fresh baseline's as much as the canary's.
async fn apply_as_the_cluster_breaks(cluster: &TestCluster) -> CanaryPlan {
    let plan = CanaryPlan::new("registry.example/demo-operator:v1.1.0", ALL_SIGNALS, true);
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), "demo-system");
    let sim = cluster.sim_handle().unwrap().state().clone();
    let breaker = tokio::spawn(async move {
        eventually("the stable Deployment is rescoped", || async {
            let stable = deployments.get_opt("demo-operator").await.ok().flatten()?;
            serde_json::to_string(&stable.spec?).ok()?.contains("notin").then_some(())
        })
        .await;
        sim.faults.set_operators_fail(true);
    });
    let result = apply(cluster, &plan).await;
    breaker.abort();
    cluster.sim_handle().unwrap().set_operators_fail(false);
    let (code, output) = &result;
    assert_eq!(*code, 4, "{output}");
    assert!(output.contains("inconclusive"), "{output}");
    let (status_code, status) = tool(cluster, &["status"]).await;
    assert_eq!(status_code, 0, "{status}");
    assert!(status.contains("analysis inconclusive"), "{status}");
    plan
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_wide_failure_is_inconclusive_and_paused_not_blamed_on_the_release_and_rollback_aborts_it() {
    let cluster = demo_cluster().await;
    apply_as_the_cluster_breaks(&cluster).await;
    let (code, output) = tool(&cluster, &["rollback", "--yes"]).await;
    assert_eq!(code, 0, "{output}");
    assert_eq!(operator_image(&cluster).await, "registry.example/demo-operator:v1.0.0");
    assert_clean(&cluster).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn after_an_inconclusive_pause_apply_waits_for_a_person_and_promote_is_their_decision() {
    let cluster = demo_cluster().await;
    let plan = apply_as_the_cluster_breaks(&cluster).await;
    let plan = plan.path().display().to_string();
    let (code, output) = tool(&cluster, &["apply", "-f", &plan, "--yes", "--fail-on", "never"]).await;
    assert_eq!(code, 4, "without --promote the run stays paused: {output}");
    let (code, output) = tool(&cluster, &["apply", "-f", &plan, "--yes", "--fail-on", "never", "--promote"]).await;
    assert_eq!(code, 0, "{output}");
    assert_eq!(operator_image(&cluster).await, "registry.example/demo-operator:v1.1.0");
    let (_, status) = tool(&cluster, &["status"]).await;
    assert!(status.contains("promoted by a person after an inconclusive analysis"), "{status}");
    assert_clean(&cluster).await;
}
