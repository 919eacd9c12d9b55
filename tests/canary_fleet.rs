//! The analysis without a canary, end to end through the real binary and `kube::Client` against the
//! simulator: the demo's plan with its canary taken out, so the new release replaces the old one at once
//! and every Widget under it is judged by the canary's judge against each signal's absolute limits. A
//! release that breaks only one signal kind is rolled back by that signal alone; a good one is promoted,
//! and `status` shows the same table as a canary's.

use crate::common;

use common::canary::{apply, demo_cluster, operator_image, tool, CanaryPlan, ALL_SIGNALS};

/// Applies `image` with only `signal` judged and no canary: rolled back for `reason`, the old image back,
/// the failing interval in `status`'s table.
async fn rolled_back_by(image: &str, signal: &str, reason: &str) {
    let cluster = demo_cluster().await;
    let plan = CanaryPlan::new(image, signal, true).without_canary();
    let (code, output) = apply(&cluster, &plan).await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains(reason), "expected `{reason}` in:\n{output}");
    assert!(output.contains("rolled back"), "{output}");
    assert_eq!(operator_image(&cluster).await, "registry.example/demo-operator:v1.0.0");
    let (status_code, status) = tool(&cluster, &["status", "--plan", "demo-operator-v1-1"]).await;
    assert_eq!(status_code, 0, "{status}");
    assert!(status.contains("analysis of every object under the new release (no canary, no baseline)"), "{status}");
    assert!(status.contains("FAIL"), "the failing interval is in the table: {status}");
    assert!(status.contains(&format!("analysis failed: {reason}")), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_canary_conditions_fail_a_release_and_roll_it_back() {
    rolled_back_by("registry.example/demo-operator:v1.1.0-bad", "      - conditions: {}\n", "conditions failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_canary_a_slow_catch_up_fails_a_release_and_rolls_it_back() {
    let signal = "      - observedGeneration: {maxCatchUp: 1s}\n";
    rolled_back_by("registry.example/demo-operator:v1.1.0-slow", signal, "observedGeneration failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_canary_a_pod_restart_fails_a_release_and_rolls_it_back() {
    rolled_back_by("registry.example/demo-operator:v1.1.0-restarts", "      - podRestarts: {}\n", "podRestarts failed")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_canary_warning_events_fail_a_release_and_roll_it_back() {
    let signal = "      - warningEvents: {}\n";
    rolled_back_by("registry.example/demo-operator:v1.1.0-bad", signal, "warningEvents failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_canary_rewritten_dependents_fail_a_release_and_roll_it_back() {
    let signal = "      - dependentChanges: {kinds: [{apiVersion: v1, kind: ConfigMap}]}\n";
    rolled_back_by("registry.example/demo-operator:v1.1.0-rerolls", signal, "dependentChanges failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_canary_a_metric_over_its_limit_fails_a_release_and_rolls_it_back() {
    let signal = r#"      - metric:
          name: reconcile-error-ratio
          source: {podProxy: {port: metrics, series: 'controller_runtime_reconcile_total{result="error"}', per: controller_runtime_reconcile_total}}
          max: 0.05
"#;
    let image = "registry.example/demo-operator:v1.1.0-metrics-errors";
    rolled_back_by(image, signal, "metric reconcile-error-ratio failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_canary_a_good_release_passes_every_signal_and_is_promoted() {
    let cluster = demo_cluster().await;
    let plan = CanaryPlan::new("registry.example/demo-operator:v1.1.0", ALL_SIGNALS, true).without_canary();
    let (code, output) = apply(&cluster, &plan).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("every signal within its limits"), "{output}");
    assert!(!output.contains("not judged"), "{output}");
    assert_eq!(operator_image(&cluster).await, "registry.example/demo-operator:v1.1.0");
    let (_, status) = tool(&cluster, &["status", "--plan", "demo-operator-v1-1"]).await;
    for signal in ["conditions", "observedGeneration", "podRestarts", "warningEvents", "dependentChanges"] {
        assert!(status.contains(signal), "{signal} is in the table: {status}");
    }
    assert!(status.contains("metric reconcile-error-ratio"), "{status}");
    assert!(status.contains("analysis passed"), "{status}");
}
